//! TCP/UDP connection-state keys: `tcp.status`, `net.tcp.socket.count`,
//! `net.udp.socket.count`, `net.tcp.states`, `net.tcp.listen`, `net.udp.listen`,
//! `net.tcp.port`, the listening-socket discoveries and the protocol counters.
//!
//! Owns the keys' parameter semantics and error texts (those of zabbix_agentd 6.0,
//! checked with `zabbix_agentd -t`). The socket tables come from
//! [`crate::sys::sockets::Engine`]; nothing here talks to netlink or parses /proc.
//!
//! Decisions (the user-facing reference is docs/CONNECTION_KEYS.md):
//! - `tcp.status[<state>]` takes the seed script's names (`established`, `synrecv`,
//!   `timewait`, …) and the official ones (`syn_recv`, `time_wait`, …) and answers the
//!   count of IPv4+IPv6 TCP sockets in that state, 0 when none, exactly what the seed's
//!   `netstat -an | awk` answers. The seed's `closed` counts state CLOSE (netstat prints
//!   `CLOSE`, which the seed's `/CLOSED/` never matches, so the script always says 0;
//!   the kernel's tables practically never list CLOSE sockets either). An unknown or
//!   missing name, where the script prints its usage line as the "value", is
//!   `ZBX_NOTSUPPORTED` `Invalid first parameter.`.
//! - `net.tcp.states[...]` answers one JSON object with every state's count, keys in the
//!   official spelling, in kernel order:
//!   `{"established":N,"syn_sent":N,"syn_recv":N,"fin_wait1":N,"fin_wait2":N,"time_wait":N,"close":N,"close_wait":N,"last_ack":N,"listen":N,"closing":N}`.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{
    AgentCtx, BoxFuture, Handler, KeyDef, KeyResult, NotSupported, ParamDef, Params, Request, Value,
};
use crate::sys::net_snmp;
use crate::sys::sockets::{
    state, AddrFilter, EngineError, Proto, SockFilter, SockRecord, StateMask,
};
use crate::transport;

const SOCKET_PARAMS: &[ParamDef] = &[
    ParamDef::opt("<laddr>"),
    ParamDef::opt("<lport>"),
    ParamDef::opt("<raddr>"),
    ParamDef::opt("<rport>"),
    ParamDef::opt("<state>"),
];

/// The family.
pub const KEYS: &[KeyDef] = &[
    KeyDef {
        name: "tcp.status",
        description: "Number of TCP sockets (IPv4+IPv6) in a state; seed-script names (timewait, synrecv, ...) or official ones.",
        params: Params::List(&[ParamDef::req("state")]),
        test_key: "tcp.status[established]",
        handler: Handler::Blocking(tcp_status),
    },
    KeyDef {
        name: "net.tcp.socket.count",
        description: "Number of TCP sockets matching local/remote address and port and state.",
        params: Params::List(SOCKET_PARAMS),
        test_key: "net.tcp.socket.count[,,,,established]",
        handler: Handler::Blocking(tcp_socket_count),
    },
    KeyDef {
        name: "net.udp.socket.count",
        description: "Number of UDP sockets matching local/remote address and port and state.",
        params: Params::List(SOCKET_PARAMS),
        test_key: "net.udp.socket.count[,,,,unconn]",
        handler: Handler::Blocking(udp_socket_count),
    },
    KeyDef {
        name: "net.tcp.states",
        description: "JSON object with the count of TCP sockets in every state, from one dump.",
        params: Params::List(&[
            ParamDef::opt("<laddr>"),
            ParamDef::opt("<lport>"),
            ParamDef::opt("<raddr>"),
            ParamDef::opt("<rport>"),
        ]),
        test_key: "net.tcp.states",
        handler: Handler::Blocking(tcp_states),
    },
    KeyDef {
        name: "net.tcp.listen",
        description: "Checks if this TCP port is in LISTEN state (0/1).",
        params: Params::List(&[ParamDef::req("port")]),
        test_key: "net.tcp.listen[80]",
        handler: Handler::Blocking(tcp_listen),
    },
    KeyDef {
        name: "net.udp.listen",
        description: "Checks if this UDP port is in LISTEN state (0/1).",
        params: Params::List(&[ParamDef::req("port")]),
        test_key: "net.udp.listen[68]",
        handler: Handler::Blocking(udp_listen),
    },
    KeyDef {
        name: "net.tcp.port",
        description: "Checks if it is possible to make a TCP connection to the port (0/1).",
        params: Params::List(&[ParamDef::opt("<ip>"), ParamDef::req("port")]),
        test_key: "net.tcp.port[,80]",
        handler: Handler::Async(tcp_port),
    },
    KeyDef {
        name: "net.tcp.listen.discovery",
        description: "LLD of listening TCP sockets: {#ADDR}, {#PORT}, {#PROCESS}.",
        params: Params::None,
        test_key: "net.tcp.listen.discovery",
        handler: Handler::Blocking(tcp_listen_discovery),
    },
    KeyDef {
        name: "net.udp.listen.discovery",
        description: "LLD of bound, unconnected UDP sockets: {#ADDR}, {#PORT}, {#PROCESS}.",
        params: Params::None,
        test_key: "net.udp.listen.discovery",
        handler: Handler::Blocking(udp_listen_discovery),
    },
    KeyDef {
        name: "net.tcp.stats",
        description: "A TCP counter from /proc/net/snmp (Tcp:) or /proc/net/netstat (TcpExt:), e.g. RetransSegs, ListenOverflows.",
        params: Params::List(&[ParamDef::req("counter")]),
        test_key: "net.tcp.stats[ActiveOpens]",
        handler: Handler::Inline(tcp_stats),
    },
    KeyDef {
        name: "net.udp.stats",
        description: "A UDP counter from /proc/net/snmp (Udp:), e.g. InDatagrams, RcvbufErrors.",
        params: Params::List(&[ParamDef::req("counter")]),
        test_key: "net.udp.stats[InDatagrams]",
        handler: Handler::Inline(udp_stats),
    },
    KeyDef {
        name: "net.sockstat",
        description: "A field of /proc/net/sockstat{,6}, e.g. net.sockstat[TCP,tw], net.sockstat[TCP,orphan].",
        params: Params::List(&[ParamDef::req("proto"), ParamDef::req("field")]),
        test_key: "net.sockstat[TCP,inuse]",
        handler: Handler::Inline(sockstat),
    },
];

/// Limits of this family.
pub mod limits {
    /// Most entries a discovery answers (the rest are dropped with a log line).
    pub const MAX_DISCOVERY_ENTRIES: usize = 10_000;
}

const PROC: &str = "/proc";
/// Root whose `net/` holds this thread's network namespace's tables (`/proc/net` follows
/// the process's main thread; they differ only when a thread entered another namespace).
const PROC_NET_ROOT: &str = crate::sys::sockets::PROC_NET_ROOT;
const SERVICES: &str = "/etc/services";

// ---------------------------------------------------------------------------------------
// Parameter parsing (pure)
// ---------------------------------------------------------------------------------------

/// `zbx_is_ushort`: digits only, at most 65535.
pub fn parse_ushort(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: u64 = s.bytes().try_fold(0u64, |acc, b| {
        let n = acc * 10 + u64::from(b - b'0');
        (n <= 0xffff).then_some(n)
    })?;
    u16::try_from(v).ok()
}

/// How a string reads as an IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4Text {
    /// Not a dotted quad for Zabbix (`zbx_is_ip4` fails): try IPv6.
    NotIpv4,
    /// A dotted quad for Zabbix that `getaddrinfo` then refuses (`09.1.1.1`: bad octal).
    Unresolvable,
    /// The address.
    Addr(Ipv4Addr),
}

/// Zabbix's dotted-quad check (four groups of 1-3 digits, each at most 255), then the
/// value as `getaddrinfo(AI_NUMERICHOST)` reads it (a leading 0 means octal).
pub fn parse_ipv4(s: &str) -> Ipv4Text {
    let mut octets = [0u8; 4];
    let mut n = 0;
    let mut unresolvable = false;
    for p in s.split('.') {
        if n == 4 || p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Ipv4Text::NotIpv4;
        }
        let Ok(dec) = p.parse::<u32>() else {
            return Ipv4Text::NotIpv4;
        };
        if dec > 255 {
            return Ipv4Text::NotIpv4;
        }
        // Valid for Zabbix; now as inet_aton reads it.
        let v = if p.len() > 1 && p.starts_with('0') {
            u32::from_str_radix(p, 8).unwrap_or_else(|_| {
                unresolvable = true;
                0
            })
        } else {
            dec
        };
        octets[n] = u8::try_from(v).unwrap_or(0);
        n += 1;
    }
    match (n, unresolvable) {
        (4, false) => Ipv4Text::Addr(Ipv4Addr::from(octets)),
        (4, true) => Ipv4Text::Unresolvable,
        _ => Ipv4Text::NotIpv4,
    }
}

fn digits_in_range(s: &str, max: u32) -> Option<u8> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: u64 = s.parse().ok()?;
    (v <= u64::from(max)).then_some(v as u8)
}

/// An address parameter: empty = any; `IP` or `IP/prefix`. Errors with the C agent's
/// texts.
pub fn parse_addr_param(s: &str) -> Result<Option<AddrFilter>, NotSupported> {
    if s.is_empty() {
        return Ok(None);
    }
    let unsupported = || NotSupported::new(format!("IP is not supported: \"{s}\""));
    let (ip_str, prefix) = match s.split_once('/') {
        Some((ip, cidr)) => {
            let bad = || NotSupported::new(format!("Cannot validate CIDR \"{ip}/{cidr}\""));
            let max = if parse_ipv4(ip) != Ipv4Text::NotIpv4 {
                32
            } else if ip.parse::<std::net::Ipv6Addr>().is_ok() {
                128
            } else {
                return Err(bad());
            };
            (ip, Some(digits_in_range(cidr, max).ok_or_else(bad)?))
        }
        None => (s, None),
    };
    let ip = match parse_ipv4(ip_str) {
        Ipv4Text::Addr(v4) => IpAddr::V4(v4),
        Ipv4Text::Unresolvable => return Err(unsupported()),
        Ipv4Text::NotIpv4 => IpAddr::V6(ip_str.parse().map_err(|_| unsupported())?),
    };
    AddrFilter::new(ip, prefix)
        .map(Some)
        .ok_or_else(unsupported)
}

/// Looks a service name up in `/etc/services` text for `proto` ("tcp"/"udp"), names and
/// aliases, case-sensitively as getservbyname does.
pub fn lookup_service(services: &str, name: &str, proto: &str) -> Option<u16> {
    for line in services.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut it = line.split_ascii_whitespace();
        let (Some(svc), Some(pp)) = (it.next(), it.next()) else {
            continue;
        };
        let Some((port, p)) = pp.split_once('/') else {
            continue;
        };
        if p != proto {
            continue;
        }
        if svc == name || it.any(|a| a == name) {
            return port.parse().ok();
        }
    }
    None
}

/// A port parameter: empty or 0 = any; a number; or a service name for `proto`.
/// `services` is read only when a name has to be looked up.
pub fn parse_port_param(
    s: &str,
    proto: Proto,
    services: &dyn Fn() -> String,
) -> Result<Option<u16>, NotSupported> {
    if s.is_empty() {
        return Ok(None);
    }
    if let Some(p) = parse_ushort(s) {
        return Ok((p != 0).then_some(p));
    }
    // As agentd: a number that `atoi` reads as non-zero is a bad port; one it reads as 0
    // in full (`+0`, `-0`, `4294967296`) is port 0, any port; anything else is a name.
    match super::num::c_atoi(s) {
        (0, true) => return Ok(None),
        (0, false) => {}
        _ => return Err(NotSupported::new(format!("Invalid port number: {s}"))),
    }
    match lookup_service(&services(), s, proto.name()) {
        Some(p) => Ok((p != 0).then_some(p)),
        None => Err(NotSupported::new(format!(
            "The service \"{s}\" is not available for the requested socket type."
        ))),
    }
}

/// Official TCP state names (`net.tcp.socket.count`).
pub fn tcp_state_official(s: &str) -> Option<u8> {
    (1..=state::MAX).find(|&i| state::NAMES[usize::from(i)] == s)
}

/// `tcp.status` names: the seed script's, then the official ones.
pub fn tcp_state_seed(s: &str) -> Option<u8> {
    let seed = match s {
        "closed" => state::CLOSE,
        "listen" => state::LISTEN,
        "synrecv" => state::SYN_RECV,
        "synsent" => state::SYN_SENT,
        "established" => state::ESTABLISHED,
        "timewait" => state::TIME_WAIT,
        "closing" => state::CLOSING,
        "closewait" => state::CLOSE_WAIT,
        "lastack" => state::LAST_ACK,
        "finwait1" => state::FIN_WAIT1,
        "finwait2" => state::FIN_WAIT2,
        _ => return tcp_state_official(s),
    };
    Some(seed)
}

/// UDP states: `established` (connected) and `unconn`.
pub fn udp_state(s: &str) -> Option<u8> {
    match s {
        "established" => Some(state::ESTABLISHED),
        "unconn" => Some(state::CLOSE),
        _ => None,
    }
}

/// The four filter parameters, in the C agent's order of checks (local address, local
/// port, remote address, remote port).
pub fn parse_filter(
    req_params: [&str; 4],
    proto: Proto,
    services: &dyn Fn() -> String,
) -> Result<SockFilter, NotSupported> {
    let [la, lp, ra, rp] = req_params;
    let laddr = parse_addr_param(la)?;
    let lport = parse_port_param(lp, proto, services)?;
    let raddr = parse_addr_param(ra)?;
    let rport = parse_port_param(rp, proto, services)?;
    Ok(SockFilter {
        laddr,
        lport,
        raddr,
        rport,
    })
}

fn read_services() -> String {
    std::fs::read_to_string(SERVICES).unwrap_or_default()
}

fn engine_err(e: EngineError) -> NotSupported {
    NotSupported::new(e.to_string())
}

fn four(req: &Request) -> [&str; 4] {
    [req.param(0), req.param(1), req.param(2), req.param(3)]
}

// ---------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------

fn count_one(
    ctx: &AgentCtx,
    req: &Request,
    proto: Proto,
    filter: &SockFilter,
    states: StateMask,
) -> KeyResult {
    let counts = ctx
        .net
        .count(proto, states, filter, req.timeout)
        .map_err(engine_err)?;
    Ok(Value::Uint(counts.sum(states)))
}

fn tcp_status(ctx: &AgentCtx, req: &Request) -> KeyResult {
    let st = tcp_state_seed(req.param(0)).ok_or_else(|| NotSupported::invalid_param(0))?;
    count_one(
        ctx,
        req,
        Proto::Tcp,
        &SockFilter::default(),
        StateMask::one(st),
    )
}

fn socket_count(ctx: &AgentCtx, req: &Request, proto: Proto) -> KeyResult {
    let filter = parse_filter(four(req), proto, &read_services)?;
    let states = match req.opt(4) {
        None => StateMask::ALL,
        Some(s) => {
            let st = match proto {
                Proto::Tcp => tcp_state_official(s),
                Proto::Udp => udp_state(s),
            };
            StateMask::one(st.ok_or_else(|| NotSupported::invalid_param(4))?)
        }
    };
    count_one(ctx, req, proto, &filter, states)
}

fn tcp_socket_count(ctx: &AgentCtx, req: &Request) -> KeyResult {
    socket_count(ctx, req, Proto::Tcp)
}

fn udp_socket_count(ctx: &AgentCtx, req: &Request) -> KeyResult {
    socket_count(ctx, req, Proto::Udp)
}

/// The `net.tcp.states` JSON object (see the module doc for its shape).
pub fn states_json(counts: &crate::sys::sockets::StateCounts) -> String {
    let mut out = String::from("{");
    for s in 1..=state::MAX {
        if s > 1 {
            out.push(',');
        }
        out.push('"');
        out.push_str(state::NAMES[usize::from(s)]);
        out.push_str("\":");
        out.push_str(&counts.get(s).to_string());
    }
    out.push('}');
    out
}

fn tcp_states(ctx: &AgentCtx, req: &Request) -> KeyResult {
    let filter = parse_filter(four(req), Proto::Tcp, &read_services)?;
    let counts = ctx
        .net
        .count(Proto::Tcp, StateMask::ALL, &filter, req.timeout)
        .map_err(engine_err)?;
    Ok(Value::Text(states_json(&counts)))
}

fn listen_port(req: &Request) -> Result<u16, NotSupported> {
    parse_ushort(req.param(0)).ok_or_else(|| NotSupported::invalid_param(0))
}

fn tcp_listen(ctx: &AgentCtx, req: &Request) -> KeyResult {
    let port = listen_port(req)?;
    let mut found = false;
    ctx.net
        .visit(
            Proto::Tcp,
            StateMask::one(state::LISTEN),
            req.timeout,
            &mut |r| found |= r.sport == port,
        )
        .map_err(engine_err)?;
    Ok(Value::Uint(u64::from(found)))
}

/// A UDP socket "listens" as the C agent defines it: local port `port`, remote address
/// all zeros, remote port 0, unconnected.
fn udp_listening(r: &SockRecord) -> bool {
    r.state == state::CLOSE && r.dport == 0 && r.dst == [0u8; 16]
}

fn udp_listen(ctx: &AgentCtx, req: &Request) -> KeyResult {
    let port = listen_port(req)?;
    let mut found = false;
    ctx.net
        .visit(
            Proto::Udp,
            StateMask::one(state::CLOSE),
            req.timeout,
            &mut |r| found |= r.sport == port && udp_listening(r),
        )
        .map_err(engine_err)?;
    Ok(Value::Uint(u64::from(found)))
}

fn tcp_port(ctx: Arc<AgentCtx>, req: Request) -> BoxFuture {
    Box::pin(async move {
        let Some(port) = parse_ushort(req.param(1)) else {
            return Err(NotSupported::invalid_param(1));
        };
        let host = req.opt(0).unwrap_or("127.0.0.1").to_string();
        // Answer 0 ourselves before the dispatcher's own timeout fires. From SourceIP when
        // set, as zabbix_agentd's net.tcp.port connects.
        let budget = req.timeout.saturating_sub(Duration::from_millis(100));
        let attempt = transport::connect_tcp(&host, port, ctx.config.source_ip, budget);
        let ok = matches!(tokio::time::timeout(budget, attempt).await, Ok(Ok(_)));
        Ok(Value::Uint(u64::from(ok)))
    })
}

// ---------------------------------------------------------------------------------------
// Discovery
// ---------------------------------------------------------------------------------------

/// One discovered listening socket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listener {
    /// Port.
    pub port: u16,
    /// Local address, as text (`0.0.0.0`, `::`, `127.0.0.1`).
    pub addr: String,
    /// Owning process name, when readable.
    pub process: Option<String>,
    /// TCP only: the listener id of `net.tcp.listen.stats` (`0.0.0.0:80`, `[::]:22`)
    /// and the backlog limit summed over its SO_REUSEPORT sockets.
    pub tcp: Option<(String, u64)>,
}

/// LLD JSON: `[{"{#ADDR}":"0.0.0.0","{#PORT}":"22","{#PROCESS}":"sshd"},…]`, sorted by
/// port then address; `{#PROCESS}` only when known; TCP rows add `{#LISTENER}` (the
/// `net.tcp.listen.stats` id) and `{#BACKLOG}`.
pub fn discovery_json(list: &[Listener]) -> String {
    let rows: Vec<serde_json::Value> = list
        .iter()
        .map(|l| {
            let mut m = serde_json::Map::new();
            m.insert("{#ADDR}".into(), l.addr.clone().into());
            m.insert("{#PORT}".into(), l.port.to_string().into());
            if let Some(p) = &l.process {
                m.insert("{#PROCESS}".into(), p.clone().into());
            }
            if let Some((id, backlog)) = &l.tcp {
                m.insert("{#LISTENER}".into(), id.clone().into());
                m.insert("{#BACKLOG}".into(), backlog.to_string().into());
            }
            serde_json::Value::Object(m)
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

fn discovery(ctx: &AgentCtx, req: &Request, proto: Proto) -> KeyResult {
    let (states, keep): (StateMask, fn(&SockRecord) -> bool) = match proto {
        Proto::Tcp => (StateMask::one(state::LISTEN), |_| true),
        Proto::Udp => (StateMask::one(state::CLOSE), udp_listening),
    };
    // (port, address) -> (first inode, summed backlog)
    let mut seen: HashMap<(u16, IpAddr), (u32, u64)> = HashMap::new();
    let mut dropped = 0usize;
    ctx.net
        .visit(proto, states, req.timeout, &mut |r| {
            if !keep(r) {
                return;
            }
            let key = (r.sport, r.local_ip());
            if seen.len() >= limits::MAX_DISCOVERY_ENTRIES && !seen.contains_key(&key) {
                dropped += 1;
                return;
            }
            let e = seen.entry(key).or_insert((0, 0));
            if e.0 == 0 {
                e.0 = r.inode;
            }
            e.1 += u64::from(r.wqueue);
        })
        .map_err(engine_err)?;
    if dropped > 0 {
        tracing::warn!(
            dropped,
            limit = limits::MAX_DISCOVERY_ENTRIES,
            proto = proto.name(),
            "Listener discovery truncated"
        );
    }
    let wanted: HashSet<u32> = seen.values().map(|v| v.0).filter(|i| *i != 0).collect();
    let owners = crate::sys::sockets::owners::socket_owners(Path::new(PROC), &wanted);
    let mut list: Vec<Listener> = seen
        .into_iter()
        .map(|((port, ip), (inode, backlog))| Listener {
            port,
            addr: ip.to_string(),
            process: owners.get(&inode).cloned(),
            tcp: (proto == Proto::Tcp).then(|| {
                let id = match ip {
                    IpAddr::V4(_) => format!("{ip}:{port}"),
                    IpAddr::V6(_) => format!("[{ip}]:{port}"),
                };
                (id, backlog)
            }),
        })
        .collect();
    list.sort();
    Ok(Value::Text(discovery_json(&list)))
}

fn tcp_listen_discovery(ctx: &AgentCtx, req: &Request) -> KeyResult {
    discovery(ctx, req, Proto::Tcp)
}

fn udp_listen_discovery(ctx: &AgentCtx, req: &Request) -> KeyResult {
    discovery(ctx, req, Proto::Udp)
}

// ---------------------------------------------------------------------------------------
// Protocol counters
// ---------------------------------------------------------------------------------------

fn counter_value(v: i64) -> Value {
    match u64::try_from(v) {
        Ok(u) => Value::Uint(u),
        // Only Tcp: MaxConn (-1, "no limit") is negative.
        Err(_) => Value::Str(v.to_string()),
    }
}

fn tcp_stats(_: &AgentCtx, req: &Request) -> KeyResult {
    let name = req.param(0);
    match net_snmp::tcp_counter(Path::new(PROC_NET_ROOT), name) {
        Ok(Some(v)) => Ok(counter_value(v)),
        Ok(None) => Err(NotSupported::new(format!(
            "Cannot find counter \"{name}\" in /proc/net/snmp (Tcp:) or /proc/net/netstat (TcpExt:)."
        ))),
        Err(e) => Err(NotSupported::new(e.to_string())),
    }
}

fn udp_stats(_: &AgentCtx, req: &Request) -> KeyResult {
    let name = req.param(0);
    match net_snmp::udp_counter(Path::new(PROC_NET_ROOT), name) {
        Ok(Some(v)) => Ok(counter_value(v)),
        Ok(None) => Err(NotSupported::new(format!(
            "Cannot find counter \"{name}\" in /proc/net/snmp (Udp:)."
        ))),
        Err(e) => Err(NotSupported::new(e.to_string())),
    }
}

fn sockstat(_: &AgentCtx, req: &Request) -> KeyResult {
    let (proto, field) = (req.param(0), req.param(1));
    match net_snmp::sockstat(Path::new(PROC_NET_ROOT), proto, field) {
        Ok(Some(v)) => Ok(Value::Uint(v)),
        Ok(None) => Err(NotSupported::new(format!(
            "Cannot find \"{proto}: {field}\" in /proc/net/sockstat or /proc/net/sockstat6."
        ))),
        Err(e) => Err(NotSupported::new(e.to_string())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn services() -> String {
        "# comment\nssh\t\t22/tcp\nhttp\t\t80/tcp\t\twww\t# WorldWideWeb HTTP\ndomain\t\t53/tcp\ndomain\t\t53/udp\nsyslog\t\t514/udp\n".to_string()
    }

    fn err<T: std::fmt::Debug>(r: Result<T, NotSupported>) -> String {
        r.unwrap_err().0
    }

    #[test]
    fn ports_numbers_services_and_errors() {
        let s: &dyn Fn() -> String = &services;
        assert_eq!(parse_port_param("", Proto::Tcp, s).unwrap(), None);
        assert_eq!(parse_port_param("0", Proto::Tcp, s).unwrap(), None);
        assert_eq!(parse_port_param("00022", Proto::Tcp, s).unwrap(), Some(22));
        assert_eq!(parse_port_param("ssh", Proto::Tcp, s).unwrap(), Some(22));
        assert_eq!(parse_port_param("www", Proto::Tcp, s).unwrap(), Some(80));
        assert_eq!(parse_port_param("domain", Proto::Udp, s).unwrap(), Some(53));
        assert_eq!(
            err(parse_port_param("ssh", Proto::Udp, s)),
            "The service \"ssh\" is not available for the requested socket type."
        );
        assert_eq!(
            err(parse_port_param("HTTP", Proto::Tcp, s)),
            "The service \"HTTP\" is not available for the requested socket type."
        );
        assert_eq!(
            err(parse_port_param("0x16", Proto::Tcp, s)),
            "The service \"0x16\" is not available for the requested socket type."
        );
        assert_eq!(
            err(parse_port_param("70000", Proto::Tcp, s)),
            "Invalid port number: 70000"
        );
        assert_eq!(
            err(parse_port_param("-1", Proto::Tcp, s)),
            "Invalid port number: -1"
        );
        assert_eq!(
            err(parse_port_param("+22", Proto::Tcp, s)),
            "Invalid port number: +22"
        );
        assert_eq!(
            err(parse_port_param("22a", Proto::Tcp, s)),
            "Invalid port number: 22a"
        );
    }

    #[test]
    fn addresses_cidrs_and_errors() {
        assert_eq!(parse_addr_param("").unwrap(), None);
        let f = parse_addr_param("10.0.0.1/8").unwrap().unwrap();
        assert_eq!((f.prefix, f.addr[0]), (8, 10));
        assert_eq!(parse_addr_param("127.0.0.1/08").unwrap().unwrap().prefix, 8);
        assert_eq!(parse_addr_param("010.0.0.1").unwrap().unwrap().addr[0], 8);
        assert!(parse_addr_param("::ffff:127.0.0.1").unwrap().unwrap().v6v4);
        assert!(
            !parse_addr_param("::ffff:127.0.0.1/0")
                .unwrap()
                .unwrap()
                .v6v4
        );
        assert_eq!(err(parse_addr_param("bad")), "IP is not supported: \"bad\"");
        assert_eq!(
            err(parse_addr_param("1.2.3")),
            "IP is not supported: \"1.2.3\""
        );
        assert_eq!(
            err(parse_addr_param("localhost")),
            "IP is not supported: \"localhost\""
        );
        assert_eq!(
            err(parse_addr_param("fe80::1%lo")),
            "IP is not supported: \"fe80::1%lo\""
        );
        assert_eq!(
            err(parse_addr_param("127.0.0.0/33")),
            "Cannot validate CIDR \"127.0.0.0/33\""
        );
        assert_eq!(
            err(parse_addr_param("::1/129")),
            "Cannot validate CIDR \"::1/129\""
        );
        assert_eq!(
            err(parse_addr_param("127.0.0.1/")),
            "Cannot validate CIDR \"127.0.0.1/\""
        );
        assert_eq!(
            err(parse_addr_param("bad/8")),
            "Cannot validate CIDR \"bad/8\""
        );
    }

    #[test]
    fn filter_errors_come_in_the_c_agents_order() {
        let s: &dyn Fn() -> String = &services;
        assert_eq!(
            err(parse_filter(["bad", "x", "", ""], Proto::Tcp, s)),
            "IP is not supported: \"bad\""
        );
        assert_eq!(
            err(parse_filter(["", "x", "bad", ""], Proto::Tcp, s)),
            "The service \"x\" is not available for the requested socket type."
        );
        assert_eq!(
            err(parse_filter(["", "ssh", "bad", ""], Proto::Tcp, s)),
            "IP is not supported: \"bad\""
        );
    }

    #[test]
    fn state_names() {
        assert_eq!(tcp_state_seed("timewait"), Some(state::TIME_WAIT));
        assert_eq!(tcp_state_seed("time_wait"), Some(state::TIME_WAIT));
        assert_eq!(tcp_state_seed("synrecv"), Some(state::SYN_RECV));
        assert_eq!(tcp_state_seed("closed"), Some(state::CLOSE));
        assert_eq!(tcp_state_seed("finwait2"), Some(state::FIN_WAIT2));
        assert_eq!(tcp_state_seed("TIMEWAIT"), None);
        assert_eq!(tcp_state_official("timewait"), None);
        assert_eq!(tcp_state_official("close"), Some(state::CLOSE));
        assert_eq!(tcp_state_official("LISTEN"), None);
        assert_eq!(udp_state("unconn"), Some(state::CLOSE));
        assert_eq!(udp_state("listen"), None);
    }

    #[test]
    fn states_json_shape() {
        let mut c = crate::sys::sockets::StateCounts::default();
        c.add(state::ESTABLISHED);
        c.add(state::ESTABLISHED);
        c.add(state::LISTEN);
        assert_eq!(
            states_json(&c),
            r#"{"established":2,"syn_sent":0,"syn_recv":0,"fin_wait1":0,"fin_wait2":0,"time_wait":0,"close":0,"close_wait":0,"last_ack":0,"listen":1,"closing":0}"#
        );
    }

    #[test]
    fn discovery_json_shape() {
        let l = vec![
            Listener {
                port: 22,
                addr: "0.0.0.0".into(),
                process: Some("sshd".into()),
                tcp: Some(("0.0.0.0:22".into(), 128)),
            },
            Listener {
                port: 53,
                addr: "::".into(),
                process: None,
                tcp: None,
            },
        ];
        assert_eq!(
            discovery_json(&l),
            r#"[{"{#ADDR}":"0.0.0.0","{#BACKLOG}":"128","{#LISTENER}":"0.0.0.0:22","{#PORT}":"22","{#PROCESS}":"sshd"},{"{#ADDR}":"::","{#PORT}":"53"}]"#
        );
    }

    #[test]
    fn owners_of_our_own_socket() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        use std::os::fd::AsRawFd;
        let link = std::fs::read_link(format!("/proc/self/fd/{}", l.as_raw_fd())).unwrap();
        let inode: u32 = link
            .to_str()
            .unwrap()
            .trim_start_matches("socket:[")
            .trim_end_matches(']')
            .parse()
            .unwrap();
        let owners =
            crate::sys::sockets::owners::socket_owners(Path::new("/proc"), &HashSet::from([inode]));
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert_eq!(
            owners.get(&inode).map(String::as_str),
            Some(comm.trim_end())
        );
    }
}
