//! `modbus.get[endpoint,slave id,function,address,count,type,endianness,offset]`: Modbus
//! TCP reads with zabbix_agentd 6.0's parameter rules, defaults, value formats and the
//! libmodbus error texts it reports.
//!
//! Owns the parameter parsing (pure), the Modbus TCP request/response (encode and decode
//! are pure; one exchange over [`crate::transport::connect_tcp`]) and the formatting of
//! the registers. Modbus RTU (serial lines) is parsed and its device probed, but not read:
//! a serial port answers a reason saying so (docs/COMPATIBILITY.md).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::num::{c_atoi, uint};
use super::{AgentCtx, BoxFuture, Handler, KeyDef, NotSupported, ParamDef, Params, Request, Value};
use crate::sys::oserror::strerror;

/// The `modbus.get` key.
pub const KEYS: &[KeyDef] = &[KeyDef {
    name: "modbus.get",
    description: "Values read from a Modbus TCP device (coils, discrete inputs, registers).",
    // All optional here: no brackets at all is "Invalid number of parameters.", an empty
    // endpoint "Invalid first parameter." (the handler's order, after the count).
    params: Params::List(&[
        ParamDef::opt("endpoint"),
        ParamDef::opt("slave id"),
        ParamDef::opt("function"),
        ParamDef::opt("address"),
        ParamDef::opt("count"),
        ParamDef::opt("type"),
        ParamDef::opt("endianness"),
        ParamDef::opt("offset"),
    ]),
    test_key: "modbus.get[tcp://127.0.0.1]",
    handler: Handler::Async(modbus_get),
}];

const TCP_PORT: u16 = 502;
const RTU_BAUD: i32 = 115_200;
/// Most registers / bits one libmodbus read asks for.
const MAX_READ_REGISTERS: u32 = 125;
const MAX_READ_BITS: u32 = 2000;

/// Where to read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `tcp://host[:port]`.
    Tcp { host: String, port: u16 },
    /// `rtu://port[:baud[:8N1]]` (port under /dev unless absolute).
    Rtu { device: String, baud: i32 },
}

/// Modbus function: 1 coils, 2 discrete inputs, 3 holding registers, 4 input registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Coil = 1,
    DiscreteInput = 2,
    Holding = 3,
    Input = 4,
}

impl Function {
    fn is_bits(self) -> bool {
        matches!(self, Function::Coil | Function::DiscreteInput)
    }
}

/// Value type (sixth parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    Bit,
    Int8,
    Uint8,
    Int16,
    Uint16,
    Int32,
    Uint32,
    Float,
    Uint64,
    Double,
}

const TYPES: &[(&str, DataType)] = &[
    ("bit", DataType::Bit),
    ("int8", DataType::Int8),
    ("uint8", DataType::Uint8),
    ("int16", DataType::Int16),
    ("uint16", DataType::Uint16),
    ("int32", DataType::Int32),
    ("uint32", DataType::Uint32),
    ("float", DataType::Float),
    ("uint64", DataType::Uint64),
    ("double", DataType::Double),
];

impl DataType {
    /// Registers (or bits) `count` values take.
    fn units(self, count: u32) -> u32 {
        match self {
            DataType::Bit | DataType::Int16 | DataType::Uint16 => count,
            DataType::Int8 | DataType::Uint8 => (count - 1) / 2 + 1,
            DataType::Int32 | DataType::Uint32 | DataType::Float => count * 2,
            DataType::Uint64 | DataType::Double => count * 4,
        }
    }

    fn is_8_or_16(self) -> bool {
        matches!(
            self,
            DataType::Int8 | DataType::Uint8 | DataType::Int16 | DataType::Uint16
        )
    }
}

/// Byte and register order of multi-byte values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    /// Registers in order, bytes as sent.
    Be,
    /// Registers reversed, bytes swapped.
    Le,
    /// Registers in order, bytes swapped.
    Mbe,
    /// Registers reversed, bytes as sent.
    Mle,
}

/// A parsed `modbus.get` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub endpoint: Endpoint,
    pub slave: u8,
    pub function: Function,
    pub address: u16,
    pub count: u16,
    pub dtype: DataType,
    pub endian: Endian,
    pub offset: u16,
    /// Registers or bits to read: the values' plus the offset.
    pub total: u16,
}

fn ushort(s: &str) -> Option<u16> {
    uint(s, u64::from(u16::MAX)).and_then(|v| u16::try_from(v).ok())
}

/// `rtu://` serial parameters (`8N1`): data bits 5–8, parity N/E/O, stop bits 1–2.
fn serial_params_ok(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() == 3
        && (b'5'..=b'8').contains(&b[0])
        && matches!(b[1].to_ascii_uppercase(), b'N' | b'E' | b'O')
        && (b'1'..=b'2').contains(&b[2])
}

/// The first parameter, as zabbix_agentd's endpoint parser reads it (`tcp://` and `rtu://`
/// in any case).
pub fn parse_endpoint(s: &str) -> Option<Endpoint> {
    let prefix = |p: &str| s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    if prefix("tcp://") {
        if s.len() == 6 {
            // Accepted by the parser; libmodbus then refuses the empty host.
            return Some(Endpoint::Tcp {
                host: String::new(),
                port: TCP_PORT,
            });
        }
        let a = crate::config::net::parse_active_addr(&s[6..], TCP_PORT)?;
        return Some(Endpoint::Tcp {
            host: a.host,
            port: a.port,
        });
    }
    if !prefix("rtu://") {
        return None;
    }
    let rest = &s[6..];
    let (port, baud) = match rest.split_once(':') {
        Some((port, after)) => {
            let (baud, params) = match after.split_once(':') {
                Some((b, p)) => (b, Some(p)),
                None => (after, None),
            };
            // zabbix_agentd crashes on bad serial parameters (it reads the port it has
            // just freed); zagent calls them what the parser meant: an invalid endpoint.
            if params.is_some_and(|p| !serial_params_ok(p)) {
                return None;
            }
            (port, c_atoi(baud).0)
        }
        None => (rest, RTU_BAUD),
    };
    let device = if port.starts_with('/') {
        port.to_string()
    } else {
        format!("/dev/{port}")
    };
    Some(Endpoint::Rtu { device, baud })
}

/// All eight parameters in zabbix_agentd's order of checks, with its texts.
pub fn parse_query(req: &Request) -> Result<Query, NotSupported> {
    if req.nparams() == 0 {
        return Err(NotSupported::new("Invalid number of parameters."));
    }
    let endpoint = parse_endpoint(req.param(0)).ok_or_else(|| NotSupported::invalid_param(0))?;
    let tcp = matches!(endpoint, Endpoint::Tcp { .. });
    let slave = match req.param(1) {
        "" if tcp => 255,
        "" => 1,
        s => {
            let (min, max) = if tcp { (0, 255) } else { (1, 247) };
            uint(s, max)
                .filter(|v| *v >= min)
                .and_then(|v| u8::try_from(v).ok())
                .ok_or_else(|| NotSupported::invalid_param(1))?
        }
    };
    let mut function = match req.param(2) {
        "" => None,
        s => Some(match uint(s, 4) {
            Some(1) => Function::Coil,
            Some(2) => Function::DiscreteInput,
            Some(3) => Function::Holding,
            Some(4) => Function::Input,
            _ => return Err(NotSupported::invalid_param(2)),
        }),
    };
    let address = match req.param(3) {
        "" => {
            function.get_or_insert(Function::Coil);
            0
        }
        s => {
            let a = ushort(s).ok_or_else(|| NotSupported::invalid_param(3))?;
            if function.is_some() {
                a
            } else {
                // The classic numbering: 1–9999 coils, 10001– discrete inputs, 30001–
                // input registers, 40001– holding registers.
                let (f, base) = match a {
                    1..=9999 => (Function::Coil, 1),
                    10001..=19999 => (Function::DiscreteInput, 10001),
                    30001..=39999 => (Function::Input, 30001),
                    40001..=49999 => (Function::Holding, 40001),
                    _ => {
                        return Err(NotSupported::new(
                            "Unsupported address for the specified function.",
                        ))
                    }
                };
                function = Some(f);
                a - base
            }
        }
    };
    let function = function.unwrap_or(Function::Coil);
    let count = match req.param(4) {
        "" => 1,
        s => ushort(s)
            .filter(|c| *c != 0)
            .ok_or_else(|| NotSupported::invalid_param(4))?,
    };
    let dtype = match req.param(5) {
        "" if function.is_bits() => DataType::Bit,
        "" => DataType::Uint16,
        s => {
            let t = TYPES
                .iter()
                .find(|(n, _)| *n == s)
                .map(|(_, t)| *t)
                .ok_or_else(|| NotSupported::invalid_param(5))?;
            if (t == DataType::Bit) != function.is_bits() {
                return Err(NotSupported::new(
                    "Unsupported data type for the specified function.",
                ));
            }
            t
        }
    };
    let endian = match req.param(6).to_ascii_lowercase().as_str() {
        "" | "be" => Endian::Be,
        "le" => Endian::Le,
        "mbe" => Endian::Mbe,
        "mle" => Endian::Mle,
        _ => return Err(NotSupported::invalid_param(6)),
    };
    let mixed = matches!(endian, Endian::Mbe | Endian::Mle);
    if (endian == Endian::Le && dtype == DataType::Bit)
        || (mixed && (dtype.is_8_or_16() || dtype == DataType::Bit))
    {
        return Err(NotSupported::new(
            "Unsupported endianness for the specified data type.",
        ));
    }
    let offset = match req.param(7) {
        "" => 0,
        s => ushort(s).ok_or_else(|| NotSupported::invalid_param(7))?,
    };
    let total = dtype.units(u32::from(count)) + u32::from(offset);
    if total + u32::from(address) > u32::from(u16::MAX) {
        return Err(NotSupported::new("Invalid total count."));
    }
    Ok(Query {
        endpoint,
        slave,
        function,
        address,
        count,
        dtype,
        endian,
        offset,
        total: u16::try_from(total).unwrap_or(u16::MAX),
    })
}

/// What libmodbus reports, worded by its `modbus_strerror`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModbusError {
    /// The device could not be reached (`modbus_connect() failed: …`).
    Connect(String),
    /// The read failed (`modbus_read failed: …`).
    Read(String),
    /// Not done by zagent.
    Unsupported(String),
}

impl ModbusError {
    fn reason(&self) -> NotSupported {
        NotSupported::new(match self {
            ModbusError::Connect(e) => {
                format!("Cannot read modbus data: modbus_connect() failed: {e}.")
            }
            ModbusError::Read(e) => format!("Cannot read modbus data: modbus_read failed: {e}."),
            ModbusError::Unsupported(e) => format!("Cannot read modbus data: {e}."),
        })
    }
}

const INVALID_DATA: &str = "Invalid data";
const TIMED_OUT: &str = "Connection timed out";

/// libmodbus's text for an exception code in a reply.
pub fn exception_text(code: u8) -> String {
    const ENOBASE: i32 = 112_345_678;
    match code {
        1 => "Illegal function".into(),
        2 => "Illegal data address".into(),
        3 => "Illegal data value".into(),
        4 => "Slave device or server failure".into(),
        5 => "Acknowledge".into(),
        6 => "Slave device or server is busy".into(),
        7 => "Negative acknowledge".into(),
        8 => "Memory parity error".into(),
        10 => "Gateway path unavailable".into(),
        11 => "Target device failed to respond".into(),
        // Codes 0 and 9 have no text in libmodbus: the C library's for their errno.
        0 | 9 => strerror(ENOBASE + i32::from(code)),
        _ => "Invalid exception code".into(),
    }
}

/// The Modbus TCP request (MBAP header and PDU) reading `q.total` units from `q.address`.
pub fn encode_request(q: &Query, transaction: u16) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[0..2].copy_from_slice(&transaction.to_be_bytes());
    b[4..6].copy_from_slice(&6u16.to_be_bytes());
    b[6] = q.slave;
    b[7] = q.function as u8;
    b[8..10].copy_from_slice(&q.address.to_be_bytes());
    b[10..12].copy_from_slice(&q.total.to_be_bytes());
    b
}

/// What a reply carries: bits (one byte each) or registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Units {
    Bits(Vec<u8>),
    Registers(Vec<u16>),
}

/// Checks a reply's PDU (after the 7-byte MBAP header) against the request.
pub fn decode_reply(q: &Query, pdu: &[u8]) -> Result<Units, ModbusError> {
    let fc = q.function as u8;
    match pdu.first() {
        Some(f) if *f == fc | 0x80 => {
            return Err(ModbusError::Read(exception_text(
                pdu.get(1).copied().unwrap_or(0),
            )))
        }
        Some(f) if *f == fc => {}
        _ => return Err(ModbusError::Read(INVALID_DATA.into())),
    }
    let n = usize::from(q.total);
    let want = if q.function.is_bits() {
        n.div_ceil(8)
    } else {
        n * 2
    };
    let data = pdu.get(2..).unwrap_or(&[]);
    if pdu.get(1).map(|b| usize::from(*b)) != Some(want) || data.len() != want {
        return Err(ModbusError::Read(INVALID_DATA.into()));
    }
    Ok(if q.function.is_bits() {
        Units::Bits((0..n).map(|i| (data[i / 8] >> (i % 8)) & 1).collect())
    } else {
        Units::Registers(
            data.chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect(),
        )
    })
}

/// C's `%f`: 6 decimals; `nan`, `-nan`, `inf`, `-inf` as glibc prints them.
fn c_fixed6(v: f64) -> String {
    let sign = if v.is_sign_negative() { "-" } else { "" };
    if v.is_nan() {
        format!("{sign}nan")
    } else if v.is_infinite() {
        format!("{sign}inf")
    } else {
        format!("{v:.6}")
    }
}

fn swap(r: u16) -> u16 {
    r.swap_bytes()
}

/// `regs` (2 or 4) combined in the given order into one number.
fn combine(regs: &[u16], endian: Endian) -> u64 {
    let ordered: Vec<u16> = match endian {
        Endian::Be => regs.to_vec(),
        Endian::Mbe => regs.iter().map(|r| swap(*r)).collect(),
        Endian::Le => regs.iter().rev().map(|r| swap(*r)).collect(),
        Endian::Mle => regs.iter().rev().copied().collect(),
    };
    ordered
        .iter()
        .fold(0u64, |acc, r| (acc << 16) | u64::from(*r))
}

fn reg16(r: u16, endian: Endian) -> u16 {
    if endian == Endian::Le {
        swap(r)
    } else {
        r
    }
}

/// The byte read first from a register holding two 8-bit values, then the other.
fn bytes8(r: u16, endian: Endian) -> [u8; 2] {
    let [hi, lo] = r.to_be_bytes();
    if endian == Endian::Be {
        [hi, lo]
    } else {
        [lo, hi]
    }
}

/// One value or, for several, zabbix_agentd's `[a,b,…]` text (floats with 6 decimals).
pub fn format_values(q: &Query, units: &Units) -> Value {
    let off = usize::from(q.offset);
    let count = usize::from(q.count);
    let e = q.endian;
    let regs = match units {
        Units::Bits(bits) => {
            let bits = bits.get(off..).unwrap_or(&[]);
            if count == 1 {
                return Value::Uint(u64::from(bits.first().copied().unwrap_or(0)));
            }
            let list: Vec<String> = bits.iter().take(count).map(u8::to_string).collect();
            return Value::Str(format!("[{}]", list.join(",")));
        }
        Units::Registers(r) => r.get(off..).unwrap_or(&[]),
    };
    let reg = |i: usize| regs.get(i).copied().unwrap_or(0);
    let wide = |i: usize, n: usize| combine(regs.get(i * n..i * n + n).unwrap_or(&[]), e);
    // One value as a number (its type as zabbix_agentd sets it), or its list text.
    let one = |i: usize| -> (Value, String) {
        match q.dtype {
            DataType::Uint16 => {
                let v = reg16(reg(i), e);
                (Value::Uint(u64::from(v)), v.to_string())
            }
            DataType::Int16 => {
                let v = reg16(reg(i), e) as i16;
                (Value::Float(f64::from(v)), v.to_string())
            }
            DataType::Uint32 => {
                let v = wide(i, 2);
                (Value::Uint(v), v.to_string())
            }
            DataType::Int32 => {
                let v = wide(i, 2) as u32 as i32;
                (Value::Float(f64::from(v)), v.to_string())
            }
            DataType::Float => {
                let v = f64::from(f32::from_bits(wide(i, 2) as u32));
                (Value::Float(v), c_fixed6(v))
            }
            DataType::Uint64 => {
                let v = wide(i, 4);
                (Value::Uint(v), v.to_string())
            }
            DataType::Double => {
                let v = f64::from_bits(wide(i, 4));
                (Value::Float(v), c_fixed6(v))
            }
            // 8-bit values are handled per byte below; bits never reach here.
            DataType::Uint8 | DataType::Int8 | DataType::Bit => (Value::Uint(0), String::new()),
        }
    };
    let byte = |i: usize| bytes8(reg(i / 2), e)[i % 2];
    if count == 1 {
        return match q.dtype {
            DataType::Uint8 => Value::Uint(u64::from(byte(0))),
            DataType::Int8 => Value::Float(f64::from(byte(0) as i8)),
            _ => one(0).0,
        };
    }
    let list: Vec<String> = (0..count)
        .map(|i| match q.dtype {
            DataType::Uint8 => byte(i).to_string(),
            DataType::Int8 => (byte(i) as i8).to_string(),
            _ => one(i).1,
        })
        .collect();
    Value::Str(format!("[{}]", list.join(",")))
}

fn io_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => strerror(code),
        None if e.kind() == std::io::ErrorKind::TimedOut => TIMED_OUT.into(),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            strerror(104) // ECONNRESET: libmodbus's word for a peer that closed
        }
        None => e.to_string(),
    }
}

/// One Modbus TCP exchange, bounded by `timeout` for the connect and for the reply.
async fn read_tcp(
    q: &Query,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Units, ModbusError> {
    use crate::transport::TransportError;
    let mut s = crate::transport::connect_tcp(host, port, None, timeout)
        .await
        .map_err(|e| {
            ModbusError::Connect(match e {
                TransportError::Connect { source, .. } => io_text(&source),
                TransportError::Timeout(_) => TIMED_OUT.into(),
                // libmodbus sets ECONNREFUSED when the name does not resolve.
                _ => strerror(111),
            })
        })?;
    let max = if q.function.is_bits() {
        MAX_READ_BITS
    } else {
        MAX_READ_REGISTERS
    };
    if u32::from(q.total) > max {
        return Err(ModbusError::Read("Too many data".into()));
    }
    // Read as libmodbus does: header and function, then the exception code or the byte
    // count and that many bytes (the header's length is not used), so a reply that
    // promises more than it sends ends in a reset, not in a wait.
    let exchange = async {
        s.write_all(&encode_request(q, 1)).await?;
        let mut head = [0u8; 9];
        s.read_exact(&mut head).await?;
        let mut pdu = head[7..9].to_vec();
        if head[7] & 0x80 == 0 {
            let mut data = vec![0u8; usize::from(head[8])];
            s.read_exact(&mut data).await?;
            pdu.extend(data);
        }
        Ok::<_, std::io::Error>((head, pdu))
    };
    let (head, pdu) = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ModbusError::Read(TIMED_OUT.into()))?
        .map_err(|e| ModbusError::Read(io_text(&e)))?;
    if head[0..2] != [0, 1] || head[2..4] != [0, 0] {
        return Err(ModbusError::Read(INVALID_DATA.into()));
    }
    decode_reply(q, &pdu)
}

async fn read(q: &Query, timeout: Duration) -> Result<Units, ModbusError> {
    match &q.endpoint {
        Endpoint::Tcp { host, .. } if host.is_empty() => Err(ModbusError::Unsupported(
            "modbus_new_tcp() failed: Invalid argument".into(),
        )),
        Endpoint::Tcp { host, port } => read_tcp(q, host, *port, timeout).await,
        Endpoint::Rtu { device, baud } => {
            if *baud <= 0 {
                return Err(ModbusError::Unsupported(
                    "modbus_new_rtu() failed: Invalid argument".into(),
                ));
            }
            crate::sys::serial::probe(device).map_err(|e| ModbusError::Connect(io_text(&e)))?;
            Err(ModbusError::Unsupported(
                "Modbus RTU over a serial line is not supported by zagent".into(),
            ))
        }
    }
}

fn modbus_get(_ctx: Arc<AgentCtx>, req: Request) -> BoxFuture {
    Box::pin(async move {
        let q = parse_query(&req)?;
        let units = read(&q, req.timeout).await.map_err(|e| e.reason())?;
        Ok(format_values(&q, &units))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("TCP://h:1502"),
            Some(Endpoint::Tcp {
                host: "h".into(),
                port: 1502
            })
        );
        assert_eq!(
            parse_endpoint("rtu://ttyS0:9600:8n1"),
            Some(Endpoint::Rtu {
                device: "/dev/ttyS0".into(),
                baud: 9600
            })
        );
        for bad in [
            "x",
            "tcp://:",
            "rtu://a:1:8X1",
            "rtu://a:1:9N1",
            "rtu://a:1:8N",
        ] {
            assert_eq!(parse_endpoint(bad), None, "{bad}");
        }
    }

    #[test]
    fn combining_registers() {
        let r = [0x0102, 0x0304];
        assert_eq!(combine(&r, Endian::Be), 0x0102_0304);
        assert_eq!(combine(&r, Endian::Le), 0x0403_0201);
        assert_eq!(combine(&r, Endian::Mbe), 0x0201_0403);
        assert_eq!(combine(&r, Endian::Mle), 0x0304_0102);
    }
}
