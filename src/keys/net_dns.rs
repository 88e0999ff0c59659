//! DNS keys: `net.dns[<ip>,zone,<type>,<timeout>,<count>,<protocol>]` (0/1) and
//! `net.dns.record[...]` (the answer records as text), and their old names
//! `net.tcp.dns` and `net.tcp.dns.query`, which agentd 6.0 answers the same way.
//!
//! Owns the parameters and error texts of zabbix_agentd 6.0, the query and answer in
//! DNS wire format (done here: one question out, a flat answer section in, smaller than
//! pulling in a resolver crate whose caching and search rules agentd does not have),
//! and the record text exactly as agentd formats it. It must not use the system
//! resolver library: the name server is the one given, else the `nameserver` lines of
//! `/etc/resolv.conf` (at most three; 127.0.0.1 when there are none), always port 53.
//!
//! Semantics (checked with `zabbix_agentd -t` against a test server):
//! - zone defaults to `zabbix.com`, type to `SOA`; types are matched case-insensitively
//!   among ANY A AAAA NS MD MF CNAME SOA MB MG MR NULL WKS PTR HINFO MINFO MX TXT SRV.
//!   A PTR zone is queried as given (no address reversal in 6.0).
//! - `timeout` (seconds, default 1) is the wait per try on the first server (doubled
//!   for the second, divided by the number of servers, as glibc does), `count`
//!   (default 2) the number of rounds over the servers; both at least 1. A UDP answer
//!   with the TC bit is asked again over TCP. The whole check is also bounded by the
//!   request's timeout.
//! - `net.dns` is 1 when an answer came with RCODE NOERROR and at least one answer
//!   record; `net.dns.record` then lists the records one per line,
//!   `%-20s %-8s` owner and type then the data, sorted bytewise, and otherwise fails with
//!   `Cannot perform DNS query.`.
//!
//! Known difference: agentd reads UDP answers into a 512-byte buffer and misreads
//! records past it; we read answers up to [`limits::MAX_ANSWER`] bytes whole.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::{
    AgentCtx, BoxFuture, Handler, KeyDef, KeyResult, NotSupported, ParamDef, Params, Request, Value,
};

const PARAMS: &[ParamDef] = &[
    ParamDef::opt("<ip>"),
    ParamDef::opt("zone"),
    ParamDef::opt("<type>"),
    ParamDef::opt("<timeout>"),
    ParamDef::opt("<count>"),
    ParamDef::opt("<protocol>"),
];

/// The family.
pub const KEYS: &[KeyDef] = &[
    KeyDef {
        name: "net.dns",
        description:
            "Checks if the DNS service is up: an answer with records for the zone and type (0/1).",
        params: Params::List(PARAMS),
        test_key: "net.dns[,zabbix.com]",
        handler: Handler::Async(net_dns),
    },
    KeyDef {
        name: "net.dns.record",
        description: "The DNS answer records for the zone and type, one per line.",
        params: Params::List(PARAMS),
        test_key: "net.dns.record[,zabbix.com]",
        handler: Handler::Async(net_dns_record),
    },
    KeyDef {
        name: "net.tcp.dns",
        description: "Old name of net.dns (zabbix_agentd 6.0 still answers it).",
        params: Params::List(PARAMS),
        test_key: "net.tcp.dns[,zabbix.com]",
        handler: Handler::Async(net_dns),
    },
    KeyDef {
        name: "net.tcp.dns.query",
        description: "Old name of net.dns.record (zabbix_agentd 6.0 still answers it).",
        params: Params::List(PARAMS),
        test_key: "net.tcp.dns.query[,zabbix.com]",
        handler: Handler::Async(net_dns_record),
    },
];

/// Limits of this family.
pub mod limits {
    /// Largest DNS answer read (UDP datagram or TCP message).
    pub const MAX_ANSWER: usize = 65_535;
    /// Most name servers taken from resolv.conf (glibc's MAXNS).
    pub const MAX_SERVERS: usize = 3;
    /// Longest `net.dns.record` text, as agentd's buffer cuts it (bytes).
    pub const MAX_TEXT: usize = 2047;
    /// Time kept back from the request's timeout.
    pub const MARGIN: std::time::Duration = std::time::Duration::from_millis(100);
}

const RESOLV_CONF: &str = "/etc/resolv.conf";
const DNS_PORT: u16 = 53;

/// Query types agentd accepts, by name.
pub const TYPES: &[(&str, u16)] = &[
    ("ANY", 255),
    ("A", 1),
    ("AAAA", 28),
    ("NS", 2),
    ("MD", 3),
    ("MF", 4),
    ("CNAME", 5),
    ("SOA", 6),
    ("MB", 7),
    ("MG", 8),
    ("MR", 9),
    ("NULL", 10),
    ("WKS", 11),
    ("PTR", 12),
    ("HINFO", 13),
    ("MINFO", 14),
    ("MX", 15),
    ("TXT", 16),
    ("SRV", 33),
];

/// A type's name in the record text (`T_<n>` for unknown ones).
pub fn type_name(t: u16) -> String {
    TYPES
        .iter()
        .find(|(_, v)| *v == t && *v != 255)
        .map(|(n, _)| (*n).to_string())
        .unwrap_or_else(|| format!("T_{t}"))
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The name server, or `None` for resolv.conf's.
    pub server: Option<IpAddr>,
    /// The name asked for.
    pub zone: String,
    /// The query type.
    pub qtype: u16,
    /// Seconds per try.
    pub retrans: u32,
    /// Rounds over the servers.
    pub retry: u32,
    /// TCP instead of UDP.
    pub tcp: bool,
}

/// `inet_aton`: 1 to 4 parts, each decimal, octal (leading 0) or hex (0x), the last
/// filling the remaining bytes.
pub fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut vals = Vec::with_capacity(4);
    for p in &parts {
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X"))
        {
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            (&p[1..], 8)
        } else {
            (*p, 10)
        };
        if p.is_empty() {
            return None;
        }
        let v = if digits.is_empty() {
            if radix == 16 {
                return None;
            }
            0
        } else {
            u64::from_str_radix(digits, radix).ok()?
        };
        vals.push(v);
    }
    let n = vals.len();
    for v in &vals[..n - 1] {
        if *v > 255 {
            return None;
        }
    }
    let last_max: u64 = match n {
        1 => 0xffff_ffff,
        2 => 0x00ff_ffff,
        3 => 0xffff,
        _ => 0xff,
    };
    if vals[n - 1] > last_max {
        return None;
    }
    let mut addr: u64 = 0;
    for (i, v) in vals[..n - 1].iter().enumerate() {
        addr |= v << (24 - 8 * i);
    }
    addr |= vals[n - 1];
    Some(Ipv4Addr::from(addr as u32))
}

fn uint31_nonzero(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: u64 = s.parse().ok()?;
    (1..=0x7fff_ffff).contains(&v).then_some(v as u32)
}

/// The parameters, with agentd's errors in agentd's order.
pub fn parse_query(p: [&str; 6]) -> Result<Query, NotSupported> {
    let [ip, zone, qtype, timeout, count, proto] = p;
    let zone = if zone.is_empty() { "zabbix.com" } else { zone }.to_string();
    let qtype = if qtype.is_empty() {
        6
    } else {
        TYPES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(qtype))
            .map(|(_, v)| *v)
            .ok_or_else(|| NotSupported::invalid_param(2))?
    };
    let retrans = match timeout {
        "" => 1,
        s => uint31_nonzero(s).ok_or_else(|| NotSupported::invalid_param(3))?,
    };
    let retry = match count {
        "" => 2,
        s => uint31_nonzero(s).ok_or_else(|| NotSupported::invalid_param(4))?,
    };
    let tcp = match proto {
        "" | "udp" => false,
        "tcp" => true,
        _ => return Err(NotSupported::invalid_param(5)),
    };
    let server = if ip.is_empty() {
        None
    } else if let Ok(v6) = ip.parse::<std::net::Ipv6Addr>() {
        Some(IpAddr::V6(v6))
    } else if ip.contains(':') && !ip.contains('.') {
        // getaddrinfo accepts a scoped address (fe80::1%lo); inet_pton then does not.
        return Err(NotSupported::new("Invalid IPv6 address."));
    } else {
        Some(IpAddr::V4(
            inet_aton(ip).ok_or_else(|| NotSupported::new("Invalid IP address."))?,
        ))
    };
    Ok(Query {
        server,
        zone,
        qtype,
        retrans,
        retry,
        tcp,
    })
}

/// The name servers of a resolv.conf text (at most three; 127.0.0.1 when none).
pub fn resolv_conf_servers(text: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut it = line.split_ascii_whitespace();
        if it.next() != Some("nameserver") {
            continue;
        }
        let Some(addr) = it.next() else { continue };
        let addr = addr.split('%').next().unwrap_or(addr);
        if let Ok(ip) = addr.parse::<IpAddr>() {
            if out.len() < limits::MAX_SERVERS {
                out.push(ip);
            }
        }
    }
    if out.is_empty() {
        out.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    out
}

/// The query message (recursion desired, one question of class IN), or the
/// `res_mkquery` failure text.
pub fn build_query(id: u16, zone: &str, qtype: u16) -> Result<Vec<u8>, NotSupported> {
    let too_long = || NotSupported::new("Cannot create DNS query: [90] Message too long");
    let mut q = Vec::with_capacity(32 + zone.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    let name = zone.strip_suffix('.').unwrap_or(zone);
    let mut wire_len = 1;
    if !name.is_empty() {
        for label in name.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(too_long());
            }
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
            wire_len += 1 + label.len();
        }
    }
    if wire_len > 255 {
        return Err(too_long());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    Ok(q)
}

// ---------------------------------------------------------------------------------------
// Answer decoding (pure)
// ---------------------------------------------------------------------------------------

/// Why an answer could not be turned into text; `Display` is agentd's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No usable answer.
    #[error("Cannot perform DNS query.")]
    NoAnswer,
    /// A name could not be expanded.
    #[error("Cannot decode DNS response: cannot expand {0}.")]
    Name(&'static str),
    /// A record's data runs past the message.
    #[error("Cannot decode DNS response: record overflow.")]
    Overflow,
    /// A WKS record is too short.
    #[error("Cannot decode DNS response: malformed WKS resource record.")]
    Wks,
}

fn push_escaped_label(out: &mut String, label: &[u8]) {
    for &b in label {
        match b {
            b'.' | b';' | b'\\' | b'(' | b')' | b'@' | b'$' | b'"' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x21..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
}

/// `dn_expand`: the (possibly compressed) name at `pos`, as text without the final dot
/// (`.` for the root), and the bytes it takes at `pos`.
pub fn expand_name(msg: &[u8], pos: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut p = pos;
    let mut consumed = None;
    let mut jumps = 0;
    let mut wire = 0usize;
    loop {
        let len = *msg.get(p)?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    if consumed.is_none() {
                        consumed = Some(p + 1 - pos);
                    }
                    break;
                }
                let label = msg.get(p + 1..p + 1 + usize::from(len))?;
                wire += 1 + label.len();
                if wire > 255 {
                    return None;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                push_escaped_label(&mut out, label);
                p += 1 + usize::from(len);
            }
            0xc0 => {
                let lo = *msg.get(p + 1)?;
                if consumed.is_none() {
                    consumed = Some(p + 2 - pos);
                }
                let target = (usize::from(len & 0x3f) << 8) | usize::from(lo);
                jumps += 1;
                if jumps > 64 || target >= msg.len() {
                    return None;
                }
                p = target;
            }
            _ => return None,
        }
    }
    if out.is_empty() {
        out.push('.');
    }
    Some((out, consumed?))
}

fn be16(msg: &[u8], p: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(p)?, *msg.get(p + 1)?]))
}

fn be32(msg: &[u8], p: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *msg.get(p)?,
        *msg.get(p + 1)?,
        *msg.get(p + 2)?,
        *msg.get(p + 3)?,
    ]))
}

/// Lookups in /etc/services and /etc/protocols, for WKS records.
#[derive(Debug, Default, Clone)]
pub struct NameDb {
    /// `/etc/services` text.
    pub services: String,
    /// `/etc/protocols` text.
    pub protocols: String,
}

impl NameDb {
    fn protocol(&self, n: u8) -> Option<String> {
        self.protocols.lines().find_map(|l| {
            let l = l.split('#').next().unwrap_or("");
            let mut it = l.split_ascii_whitespace();
            let name = it.next()?;
            (it.next()?.parse::<u8>().ok()? == n).then(|| name.to_string())
        })
    }

    fn service(&self, port: u16, proto: Option<&str>) -> Option<String> {
        self.services.lines().find_map(|l| {
            let l = l.split('#').next().unwrap_or("");
            let mut it = l.split_ascii_whitespace();
            let name = it.next()?;
            let (p, pr) = it.next()?.split_once('/')?;
            (p.parse::<u16>().ok()? == port && proto.map_or(true, |x| x == pr))
                .then(|| name.to_string())
        })
    }
}

/// Whether the answer counts as "up" for agentd: NOERROR and at least one answer.
pub fn answer_usable(msg: &[u8]) -> bool {
    msg.len() >= 12 && msg[3] & 0x0f == 0 && be16(msg, 6).unwrap_or(0) > 0
}

/// The `net.dns.record` text of an answer message.
pub fn format_answer(msg: &[u8], db: &NameDb) -> Result<String, DecodeError> {
    if !answer_usable(msg) {
        return Err(DecodeError::NoAnswer);
    }
    let end = msg.len();
    let mut ancount = be16(msg, 6).unwrap_or(0);
    let mut qdcount = be16(msg, 4).unwrap_or(0);
    let mut p = 12;
    while qdcount > 0 && p < end {
        let (_, n) = expand_name(msg, p).ok_or(DecodeError::Name("domain name"))?;
        p += n + 4;
        qdcount -= 1;
    }
    let mut lines: Vec<String> = Vec::new();
    while ancount > 0 && p < end {
        ancount -= 1;
        let (owner, n) = expand_name(msg, p).ok_or(DecodeError::Name("domain name"))?;
        p += n;
        let rtype = be16(msg, p).ok_or(DecodeError::Overflow)?;
        let class = be16(msg, p + 2).ok_or(DecodeError::Overflow)?;
        let rdlen = usize::from(be16(msg, p + 8).ok_or(DecodeError::Overflow)?);
        p += 10;
        let mut line = format!("{owner:<20} {:<8}", type_name(rtype));
        if p + rdlen > end {
            return Err(DecodeError::Overflow);
        }
        let name_at = |p: &mut usize, what: &'static str| -> Result<String, DecodeError> {
            let (s, n) = expand_name(msg, *p).ok_or(DecodeError::Name(what))?;
            *p += n;
            Ok(s)
        };
        match rtype {
            1 => {
                if (class == 1 || class == 4) && rdlen >= 4 {
                    let a = Ipv4Addr::new(msg[p], msg[p + 1], msg[p + 2], msg[p + 3]);
                    line.push_str(&format!(" {a}"));
                }
                p += rdlen;
            }
            28 => {
                if (class == 1 || class == 4) && rdlen >= 16 {
                    let mut b = [0u8; 16];
                    b.copy_from_slice(&msg[p..p + 16]);
                    line.push_str(&format!(" {}", std::net::Ipv6Addr::from(b)));
                }
                p += rdlen;
            }
            2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 => {
                let what = match rtype {
                    2 => "name server name",
                    5 => "canonical name",
                    7 => "mailbox name",
                    3 => "mail destination name",
                    4 => "mail forwarder name",
                    8 => "mail group name",
                    9 => "renamed mailbox name",
                    _ => "PTR name",
                };
                let n = name_at(&mut p, what)?;
                line.push_str(&format!(" {n}"));
            }
            15 => {
                let pref = be16(msg, p).ok_or(DecodeError::Overflow)?;
                p += 2;
                let n = name_at(&mut p, "mail exchange name")?;
                line.push_str(&format!(" {pref} {n}"));
            }
            6 => {
                let m = name_at(&mut p, "source nameserver name")?;
                let r = name_at(&mut p, "administrator mailbox name")?;
                let serial = be32(msg, p).ok_or(DecodeError::Overflow)?;
                let mut nums = Vec::new();
                for i in 1..5 {
                    nums.push(be32(msg, p + 4 * i).ok_or(DecodeError::Overflow)? as i32);
                }
                p += 20;
                line.push_str(&format!(
                    " {m} {r} {serial} {} {} {} {}",
                    nums[0], nums[1], nums[2], nums[3]
                ));
            }
            10 => {
                line.push_str(&format!(" len:{rdlen}"));
                p += rdlen;
            }
            11 => {
                if rdlen < 5 {
                    return Err(DecodeError::Wks);
                }
                let stop = p + rdlen;
                let a = Ipv4Addr::new(msg[p], msg[p + 1], msg[p + 2], msg[p + 3]);
                let proto_num = msg[p + 4];
                let proto = db.protocol(proto_num);
                match &proto {
                    Some(name) => line.push_str(&format!(" {a} {name}")),
                    None => line.push_str(&format!(" {a} {proto_num}")),
                }
                p += 5;
                let mut port: u32 = 0;
                while p < stop {
                    let mut c = msg[p];
                    p += 1;
                    for _ in 0..8 {
                        if c & 0x80 != 0 {
                            let svc = u16::try_from(port)
                                .ok()
                                .and_then(|pt| db.service(pt, proto.as_deref()));
                            match svc {
                                Some(s) => line.push_str(&format!(" {s}")),
                                None => line.push_str(&format!(" #{port}")),
                            }
                        }
                        c <<= 1;
                        port += 1;
                    }
                }
            }
            13 => {
                let stop = p + rdlen;
                for first in [true, false] {
                    if !first && p >= stop {
                        break;
                    }
                    let Some(&c) = msg.get(p) else { break };
                    p += 1;
                    if c != 0 {
                        let s = msg
                            .get(p..p + usize::from(c))
                            .ok_or(DecodeError::Overflow)?;
                        line.push_str(&format!(" \"{}\"", crate::text::zbx_utf8(s)));
                        p += usize::from(c);
                    }
                }
            }
            14 => {
                let a = name_at(&mut p, "mailbox responsible for mailing lists")?;
                let b = name_at(&mut p, "mailbox for error messages")?;
                line.push_str(&format!(" {a} {b}"));
            }
            16 => {
                let stop = p + rdlen;
                let mut text = Vec::new();
                while p < stop {
                    let mut c = msg[p];
                    p += 1;
                    while c > 0 && p < stop {
                        text.push(msg[p]);
                        p += 1;
                        c -= 1;
                    }
                }
                line.push_str(&format!(" \"{}\"", crate::text::zbx_utf8(&text)));
            }
            33 => {
                let prio = be16(msg, p).ok_or(DecodeError::Overflow)?;
                let weight = be16(msg, p + 2).ok_or(DecodeError::Overflow)?;
                let port = be16(msg, p + 4).ok_or(DecodeError::Overflow)?;
                p += 6;
                let t = name_at(&mut p, "service target hostname")?;
                line.push_str(&format!(" {prio} {weight} {port} {t}"));
            }
            _ => p += rdlen,
        }
        line.push('\n');
        lines.push(line);
    }
    lines.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut text = lines.concat();
    if text.len() > limits::MAX_TEXT {
        let mut cut = limits::MAX_TEXT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text.pop();
    Ok(text)
}

/// Whether `resp` answers `query` (same id and question).
pub fn answers_query(query: &[u8], resp: &[u8]) -> bool {
    if resp.len() < 12 || resp[..2] != query[..2] || resp[2] & 0x80 == 0 {
        return false;
    }
    let qlen = query.len() - 12;
    if be16(resp, 4) != Some(1) {
        return true;
    }
    resp.get(12..12 + qlen)
        .is_some_and(|q| q.eq_ignore_ascii_case(&query[12..]))
}

// ---------------------------------------------------------------------------------------
// Exchange (I/O)
// ---------------------------------------------------------------------------------------

async fn ask_udp(server: SocketAddr, query: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    };
    let sock = UdpSocket::bind(local).await.ok()?;
    sock.connect(server).await.ok()?;
    sock.send(query).await.ok()?;
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = vec![0u8; limits::MAX_ANSWER];
    loop {
        let n = tokio::time::timeout_at(deadline, sock.recv(&mut buf))
            .await
            .ok()?
            .ok()?;
        if answers_query(query, &buf[..n]) {
            buf.truncate(n);
            return Some(buf);
        }
        tracing::debug!(%server, "DNS: ignoring an answer to another query");
    }
}

async fn ask_tcp(server: SocketAddr, query: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let exchange = async {
        let mut s = TcpStream::connect(server).await.ok()?;
        let len = u16::try_from(query.len()).ok()?;
        let mut msg = len.to_be_bytes().to_vec();
        msg.extend_from_slice(query);
        s.write_all(&msg).await.ok()?;
        let mut lenb = [0u8; 2];
        s.read_exact(&mut lenb).await.ok()?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(lenb))];
        s.read_exact(&mut buf).await.ok()?;
        answers_query(query, &buf).then_some(buf)
    };
    tokio::time::timeout(wait, exchange).await.ok()?
}

/// Asks the servers as glibc's `res_send` does; `None` when nobody answered usably
/// (SERVFAIL, NOTIMP and REFUSED move on to the next server).
async fn ask(servers: &[IpAddr], q: &Query, query: &[u8]) -> Option<Vec<u8>> {
    let nscount = servers.len().max(1) as u64;
    for _ in 0..q.retry {
        for (i, ip) in servers.iter().enumerate() {
            let addr = SocketAddr::new(*ip, DNS_PORT);
            let mut secs = u64::from(q.retrans) << i.min(16);
            if i > 0 {
                secs /= nscount;
            }
            let wait = Duration::from_secs(secs.max(1));
            let mut answer = if q.tcp {
                ask_tcp(addr, query, wait).await
            } else {
                ask_udp(addr, query, wait).await
            };
            if !q.tcp && answer.as_ref().is_some_and(|a| a[2] & 0x02 != 0) {
                answer = ask_tcp(addr, query, wait).await;
            }
            match answer {
                Some(a) if matches!(a[3] & 0x0f, 2 | 4 | 5) => {
                    tracing::debug!(server = %addr, rcode = a[3] & 0x0f, "DNS server refused");
                }
                Some(a) => return Some(a),
                None => tracing::debug!(server = %addr, "DNS: no answer"),
            }
        }
    }
    None
}

async fn resolve(req: &Request) -> Result<Option<Vec<u8>>, NotSupported> {
    let p = [
        req.param(0),
        req.param(1),
        req.param(2),
        req.param(3),
        req.param(4),
        req.param(5),
    ];
    let q = parse_query(p)?;
    let mut id = [0u8; 2];
    let _ = getrandom::fill(&mut id);
    let query = build_query(u16::from_be_bytes(id), &q.zone, q.qtype)?;
    let servers = match q.server {
        Some(ip) => vec![ip],
        None => {
            let text = tokio::fs::read_to_string(RESOLV_CONF)
                .await
                .unwrap_or_default();
            resolv_conf_servers(&text)
        }
    };
    let budget = req.timeout.saturating_sub(limits::MARGIN);
    let answer = tokio::time::timeout(budget, ask(&servers, &q, &query))
        .await
        .unwrap_or(None);
    tracing::debug!(
        zone = q.zone,
        qtype = q.qtype,
        answered = answer.is_some(),
        "DNS query"
    );
    Ok(answer)
}

async fn dns_check(req: Request) -> KeyResult {
    let answer = resolve(&req).await?;
    Ok(Value::Uint(u64::from(
        answer.as_deref().is_some_and(answer_usable),
    )))
}

async fn dns_record(req: Request) -> KeyResult {
    let Some(answer) = resolve(&req).await? else {
        return Err(NotSupported::new(DecodeError::NoAnswer.to_string()));
    };
    let db = NameDb {
        services: tokio::fs::read_to_string("/etc/services")
            .await
            .unwrap_or_default(),
        protocols: tokio::fs::read_to_string("/etc/protocols")
            .await
            .unwrap_or_default(),
    };
    format_answer(&answer, &db)
        .map(Value::Text)
        .map_err(|e| NotSupported::new(e.to_string()))
}

fn net_dns(_ctx: Arc<AgentCtx>, req: Request) -> BoxFuture {
    Box::pin(dns_check(req))
}

fn net_dns_record(_ctx: Arc<AgentCtx>, req: Request) -> BoxFuture {
    Box::pin(dns_record(req))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn name(n: &str) -> Vec<u8> {
        let mut v = Vec::new();
        for l in n.split('.').filter(|l| !l.is_empty()) {
            v.push(l.len() as u8);
            v.extend_from_slice(l.as_bytes());
        }
        v.push(0);
        v
    }

    fn rr(owner: &[u8], t: u16, data: &[u8]) -> Vec<u8> {
        let mut v = owner.to_vec();
        v.extend_from_slice(&t.to_be_bytes());
        v.extend_from_slice(&1u16.to_be_bytes());
        v.extend_from_slice(&300u32.to_be_bytes());
        v.extend_from_slice(&(data.len() as u16).to_be_bytes());
        v.extend_from_slice(data);
        v
    }

    fn message(records: &[Vec<u8>], rcode: u8) -> Vec<u8> {
        let q = build_query(7, "example.test", 255).unwrap();
        let mut m = q.clone();
        m[2] = 0x81;
        m[3] = 0x80 | rcode;
        m[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
        for r in records {
            m.extend_from_slice(r);
        }
        m
    }

    #[test]
    fn parameters_and_errors() {
        let q = parse_query(["", "", "", "", "", ""]).unwrap();
        assert_eq!(
            q,
            Query {
                server: None,
                zone: "zabbix.com".into(),
                qtype: 6,
                retrans: 1,
                retry: 2,
                tcp: false
            }
        );
        let q = parse_query(["127.1", "x", "mx", "3", "1", "tcp"]).unwrap();
        assert_eq!(q.server, Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))));
        assert_eq!((q.qtype, q.retrans, q.retry, q.tcp), (15, 3, 1, true));
        let e = |p: [&str; 6]| parse_query(p).unwrap_err().0;
        assert_eq!(e(["", "x", "XX", "", "", ""]), "Invalid third parameter.");
        assert_eq!(e(["", "x", "", "0", "", ""]), "Invalid fourth parameter.");
        assert_eq!(e(["", "x", "", "", "-1", ""]), "Invalid fifth parameter.");
        assert_eq!(e(["", "x", "", "", "", "sctp"]), "Invalid sixth parameter.");
        assert_eq!(e(["bad", "x", "", "", "", ""]), "Invalid IP address.");
        assert_eq!(
            e(["fe80::1%lo", "x", "", "", "", ""]),
            "Invalid IPv6 address."
        );
        assert_eq!(inet_aton("0x7f.1"), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(inet_aton("010.0.0.1"), Some(Ipv4Addr::new(8, 0, 0, 1)));
        assert_eq!(inet_aton("256.0.0.1"), None);
        assert_eq!(inet_aton("1.2.3.4.5"), None);
    }

    #[test]
    fn query_bytes() {
        let q = build_query(0x1234, "Example.test.", 1).unwrap();
        assert_eq!(
            q,
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07Example\x04test\x00\x00\x01\x00\x01"
        );
        let long = "a".repeat(64);
        assert_eq!(
            build_query(1, &long, 1).unwrap_err().0,
            "Cannot create DNS query: [90] Message too long"
        );
        assert!(build_query(1, "a..b", 1).is_err());
    }

    #[test]
    fn resolv_conf() {
        let t = "# x\nsearch lan\nnameserver 10.0.0.1\nnameserver fe80::1%eth0\nnameserver bad\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n";
        assert_eq!(
            resolv_conf_servers(t),
            vec![
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "fe80::1".parse().unwrap(),
                "1.1.1.1".parse().unwrap()
            ]
        );
        assert_eq!(
            resolv_conf_servers(""),
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
        );
    }

    #[test]
    fn record_text_as_agentd_prints_it() {
        // Owner compressed against the question name (offset 12).
        let o = [0xc0, 12];
        let mut soa = name("ns1.example.test");
        soa.extend(name("admin.example.test"));
        for v in [2_024_010_101u32, 7200, 3600, 1_209_600, 300] {
            soa.extend_from_slice(&v.to_be_bytes());
        }
        let mut srv = vec![0, 1, 0, 2, 1, 0x85];
        srv.extend(name("ldap.example.test"));
        let mut mx = vec![0, 10];
        mx.extend(name("mx.example.test"));
        let mut minfo = name("rmail.example.test");
        minfo.extend(name("email.example.test"));
        let recs = vec![
            rr(&o, 1, &[192, 0, 2, 2]),
            rr(&o, 1, &[192, 0, 2, 1]),
            rr(&o, 28, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            rr(&o, 6, &soa),
            rr(&o, 33, &srv),
            rr(&o, 15, &mx),
            rr(&o, 16, b"\x05hello\x05world"),
            rr(&o, 13, b"\x03CPU\x02OS"),
            rr(&o, 10, b"abc"),
            rr(&o, 11, &[192, 0, 2, 9, 6, 0x60]),
            rr(&o, 14, &minfo),
            rr(&o, 99, b"zz"),
        ];
        let db = NameDb {
            services: "tcpmux\t1/tcp\n".into(),
            protocols: "tcp\t6\tTCP\n".into(),
        };
        let text = format_answer(&message(&recs, 0), &db).unwrap();
        let want = [
            "example.test         A        192.0.2.1",
            "example.test         A        192.0.2.2",
            "example.test         AAAA     ::1",
            "example.test         HINFO    \"CPU\" \"OS\"",
            "example.test         MINFO    rmail.example.test email.example.test",
            "example.test         MX       10 mx.example.test",
            "example.test         NULL     len:3",
            "example.test         SOA      ns1.example.test admin.example.test 2024010101 7200 3600 1209600 300",
            "example.test         SRV      1 2 389 ldap.example.test",
            "example.test         TXT      \"helloworld\"",
            "example.test         T_99    ",
            "example.test         WKS      192.0.2.9 tcp tcpmux #2",
        ]
        .join("\n");
        assert_eq!(text, want);
    }

    #[test]
    fn unusable_answers() {
        let db = NameDb::default();
        let nx = message(&[], 3);
        assert!(!answer_usable(&nx));
        assert_eq!(format_answer(&nx, &db).unwrap_err(), DecodeError::NoAnswer);
        let empty = message(&[], 0);
        assert!(!answer_usable(&empty));
        let mut over = message(&[rr(&[0xc0, 12], 1, &[1, 2, 3, 4])], 0);
        let n = over.len();
        over[n - 5] = 9; // rdlength past the end
        assert_eq!(
            format_answer(&over, &db).unwrap_err(),
            DecodeError::Overflow
        );
        let looped = message(&[rr(&[0xc0, 0x40], 1, &[1, 2, 3, 4])], 0);
        assert_eq!(
            format_answer(&looped, &db).unwrap_err().to_string(),
            "Cannot decode DNS response: cannot expand domain name."
        );
    }

    #[test]
    fn names_escape_and_root() {
        let mut m = vec![0u8; 12];
        m.extend(b"\x03a.b\x02c\"\x00");
        m.push(0);
        assert_eq!(expand_name(&m, 12).unwrap(), ("a\\.b.c\\\"".to_string(), 8));
        assert_eq!(expand_name(&m, 20).unwrap(), (".".to_string(), 1));
    }

    #[test]
    fn answer_matching() {
        let q = build_query(9, "example.test", 1).unwrap();
        let mut r = q.clone();
        r[2] |= 0x80;
        assert!(answers_query(&q, &r));
        r[13] = b'E';
        assert!(answers_query(&q, &r));
        r[1] = 0;
        assert!(!answers_query(&q, &r));
    }
}
