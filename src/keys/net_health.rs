//! TCP-health keys (issue 9): `net.tcp.health`, `net.tcp.listen.stats`,
//! `net.tcp.ephemeral`, `net.tcp.group`, `net.tcp.quality`, `net.tcp.limits`.
//!
//! Owns these keys' parameters, error texts and JSON shapes (the reference is
//! docs/CONNECTION_KEYS.md; the template's contract is the same). Every dump-based key
//! walks the socket table ONCE per call through [`crate::sys::sockets::Engine`] and
//! feeds the pure aggregators of [`agg`]; `net.tcp.quality` is the only one that asks
//! the kernel for `tcp_info` (a separate, bigger request). Nothing here talks to
//! netlink, parses /proc or calls libc.

pub mod agg;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::net_tcp::{parse_addr_param, parse_port_param, tcp_state_official};
use super::{AgentCtx, Handler, KeyDef, KeyResult, NotSupported, ParamDef, Params, Request, Value};
use crate::sys::sockets::{state, EngineError, Proto, StateMask};
use crate::sys::tcp_limits;

use agg::{By, Ephemeral, Grouped, Health, Listeners, Names};

/// The family.
pub const KEYS: &[KeyDef] = &[
    KeyDef {
        name: "net.tcp.health",
        description: "JSON: states, every listener's queue/backlog/states, ephemeral-port pressure and CLOSE_WAIT owners, from one dump.",
        params: Params::List(&[ParamDef::opt("<top>")]),
        test_key: "net.tcp.health",
        handler: Handler::Blocking(tcp_health),
    },
    KeyDef {
        name: "net.tcp.listen.stats",
        description: "JSON keyed by listener (laddr:port): accept queue, backlog, SYN_RECV and per-state connection counts.",
        params: Params::List(&[ParamDef::opt("<laddr>"), ParamDef::opt("<port>")]),
        test_key: "net.tcp.listen.stats",
        handler: Handler::Blocking(listen_stats),
    },
    KeyDef {
        name: "net.tcp.ephemeral",
        description: "JSON: ephemeral port range and its use per destination (laddr, raddr, rport), busiest first.",
        params: Params::List(&[ParamDef::opt("<top>")]),
        test_key: "net.tcp.ephemeral",
        handler: Handler::Blocking(ephemeral),
    },
    KeyDef {
        name: "net.tcp.group",
        description: "JSON: TCP socket counts grouped by lport, rport, raddr, remote, uid or process; top-N and other.",
        params: Params::List(&[
            ParamDef::req("by"),
            ParamDef::opt("<state>"),
            ParamDef::opt("<top>"),
        ]),
        test_key: "net.tcp.group[remote]",
        handler: Handler::Blocking(group),
    },
    KeyDef {
        name: "net.tcp.quality",
        description: "JSON: per group RTT avg/p95/max, retransmissions, lost, send-queue use (tcp_info; separate request).",
        params: Params::List(&[ParamDef::req("by"), ParamDef::opt("<top>")]),
        test_key: "net.tcp.quality[remote]",
        handler: Handler::Blocking(quality),
    },
    KeyDef {
        name: "net.tcp.limits",
        description: "JSON: ephemeral range, TCP sysctls (somaxconn, tcp_max_syn_backlog, ...) and conntrack fill.",
        params: Params::None,
        test_key: "net.tcp.limits",
        handler: Handler::Blocking(limits_key),
    },
];

/// Default and bounds of `<top>`.
pub mod limits {
    /// Rows when `<top>` is empty.
    pub const DEFAULT_TOP: usize = 10;
    /// Largest `<top>`.
    pub const MAX_TOP: usize = 1000;
}

const PROC: &str = "/proc";

/// `<top>`: empty = 10, else 1..=1000 in digits.
pub fn parse_top(s: &str, index: usize) -> Result<usize, NotSupported> {
    if s.is_empty() {
        return Ok(limits::DEFAULT_TOP);
    }
    match s.parse::<usize>() {
        Ok(n) if s.bytes().all(|b| b.is_ascii_digit()) && (1..=limits::MAX_TOP).contains(&n) => {
            Ok(n)
        }
        _ => Err(NotSupported::invalid_param(index)),
    }
}

/// `<state>` of `net.tcp.group`: empty = every state but LISTEN.
pub fn parse_group_state(s: &str) -> Result<(StateMask, &'static str), NotSupported> {
    if s.is_empty() {
        let all_but_listen = StateMask(StateMask::ALL.0 & !(1 << state::LISTEN));
        return Ok((all_but_listen, ""));
    }
    let st = tcp_state_official(s).ok_or_else(|| NotSupported::invalid_param(1))?;
    Ok((StateMask::one(st), state::NAMES[usize::from(st)]))
}

fn engine_err(e: EngineError) -> NotSupported {
    NotSupported::new(e.to_string())
}

fn range() -> Result<tcp_limits::EphemeralRange, NotSupported> {
    tcp_limits::read_ephemeral(Path::new(PROC)).map_err(|e| NotSupported::new(e.to_string()))
}

fn json(v: serde_json::Value) -> KeyResult {
    Ok(Value::Text(v.to_string()))
}

/// Names from the system: users via the passwd database, processes via `/proc/PID/fd`
/// (bounded scan; what is not visible stays unnamed).
struct SysNames {
    users: HashMap<u32, Option<String>>,
}

impl Names for SysNames {
    fn user(&mut self, uid: u32) -> Option<String> {
        self.users
            .entry(uid)
            .or_insert_with(|| super::vfs::owner_name(uid, false))
            .clone()
    }
    fn processes(&mut self, inodes: &HashSet<u32>) -> HashMap<u32, String> {
        crate::sys::sockets::owners::socket_owners(Path::new(PROC), inodes)
    }
}

fn names() -> SysNames {
    SysNames {
        users: HashMap::new(),
    }
}

/// One dump of every TCP socket into `agg`; when `agg` reports that the dump did not come
/// listeners first (never seen on Linux: see [`Listeners`]), a second one into `again`.
fn dump_listeners_first<T>(
    ctx: &AgentCtx,
    req: &Request,
    mut agg: T,
    again: impl FnOnce() -> T,
    add: fn(&mut T, &crate::sys::sockets::SockRecord),
    complete: fn(&T) -> bool,
) -> Result<T, NotSupported> {
    ctx.net
        .visit(Proto::Tcp, StateMask::ALL, req.timeout, &mut |r| {
            add(&mut agg, r)
        })
        .map_err(engine_err)?;
    if complete(&agg) {
        return Ok(agg);
    }
    tracing::warn!(
        key = %req.key,
        "the socket dump listed connections before their listener; dumping again and keeping every connection"
    );
    let mut agg = again();
    ctx.net
        .visit(Proto::Tcp, StateMask::ALL, req.timeout, &mut |r| {
            add(&mut agg, r)
        })
        .map_err(engine_err)?;
    Ok(agg)
}

fn tcp_health(ctx: &AgentCtx, req: &Request) -> KeyResult {
    let top = parse_top(req.param(0), 0)?;
    let range = range()?;
    let h = dump_listeners_first(
        ctx,
        req,
        Health::new(range.clone()),
        || Health::exhaustive(range),
        Health::add,
        Health::complete,
    )?;
    Ok(Value::Text(h.report_text(top, &mut names())))
}

fn listen_stats(ctx: &AgentCtx, req: &Request) -> KeyResult {
    let laddr = parse_addr_param(req.param(0))?;
    let port = parse_port_param(req.param(1), Proto::Tcp, &|| {
        std::fs::read_to_string("/etc/services").unwrap_or_default()
    })?;
    let l = dump_listeners_first(
        ctx,
        req,
        Listeners::default(),
        Listeners::exhaustive,
        Listeners::add,
        Listeners::complete,
    )?;
    Ok(Value::Text(l.report_text(laddr.as_ref(), port)))
}

fn ephemeral(ctx: &AgentCtx, req: &Request) -> KeyResult {
    let top = parse_top(req.param(0), 0)?;
    let mut e = Ephemeral::new(range()?);
    let states = StateMask(StateMask::ALL.0 & !(1 << state::LISTEN));
    ctx.net
        .visit(Proto::Tcp, states, req.timeout, &mut |r| e.add(r))
        .map_err(engine_err)?;
    json(e.report(top))
}

fn group(ctx: &AgentCtx, req: &Request) -> KeyResult {
    let by = By::parse(req.param(0)).ok_or_else(|| NotSupported::invalid_param(0))?;
    let (states, state_name) = parse_group_state(req.param(1))?;
    let top = parse_top(req.param(2), 2)?;
    let mut g = Grouped::new(by, false);
    ctx.net
        .visit(Proto::Tcp, states, req.timeout, &mut |r| {
            if states.contains(r.state) {
                g.add(r, None)
            }
        })
        .map_err(engine_err)?;
    json(g.report(state_name, top, &mut names()))
}

fn quality(ctx: &AgentCtx, req: &Request) -> KeyResult {
    let by = By::parse(req.param(0)).ok_or_else(|| NotSupported::invalid_param(0))?;
    let top = parse_top(req.param(1), 1)?;
    // Connections only: listeners and TIME_WAIT carry no useful tcp_info.
    let states = StateMask(StateMask::ALL.0 & !(1 << state::LISTEN) & !(1 << state::TIME_WAIT));
    let mut g = Grouped::new(by, true);
    ctx.net
        .visit_info(states, req.timeout, &mut |r, i| {
            if states.contains(r.state) {
                g.add(r, i)
            }
        })
        .map_err(engine_err)?;
    json(g.report("", top, &mut names()))
}

fn limits_key(_: &AgentCtx, _req: &Request) -> KeyResult {
    let root = Path::new(PROC);
    let r = range()?;
    let int =
        |rel: &str| tcp_limits::read_int(root, rel).map_or(serde_json::Value::Null, |v| v.into());
    let conntrack = match tcp_limits::read_conntrack(root) {
        tcp_limits::Conntrack::Available { count, max } => serde_json::json!({
            "available": true, "count": count, "max": max, "pct": agg::pct(count, max),
        }),
        tcp_limits::Conntrack::Absent => serde_json::json!({
            "available": false, "count": 0, "max": 0, "pct": 0,
            "reason": "nf_conntrack not loaded",
        }),
    };
    json(serde_json::json!({
        "ip_local_port_range": { "low": r.low, "high": r.high },
        "ephemeral_ports": r.size(),
        "tcp_max_tw_buckets": int("sys/net/ipv4/tcp_max_tw_buckets"),
        "somaxconn": int("sys/net/core/somaxconn"),
        "tcp_max_syn_backlog": int("sys/net/ipv4/tcp_max_syn_backlog"),
        "tcp_syncookies": int("sys/net/ipv4/tcp_syncookies"),
        "tcp_fin_timeout": int("sys/net/ipv4/tcp_fin_timeout"),
        "tcp_tw_reuse": int("sys/net/ipv4/tcp_tw_reuse"),
        "conntrack": conntrack,
    }))
}

/// Listener rows for `net.tcp.listen.discovery`: (id, addr, port, backlog), one per
/// laddr:port (reuseport groups collapsed).
pub fn listener_rows(l: &Listeners) -> Vec<(String, String, u16, u64)> {
    l.ids()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn bad_parameters_are_zabbix_texts() {
        assert_eq!(parse_top("", 0).unwrap(), 10);
        assert_eq!(parse_top("1000", 0).unwrap(), 1000);
        for bad in ["x", "0", "1001", "-1", "+5", "5 ", "1e3"] {
            assert_eq!(
                parse_top(bad, 2).unwrap_err().0,
                "Invalid third parameter.",
                "{bad}"
            );
        }
        assert_eq!(
            parse_group_state("timewait").unwrap_err().0,
            "Invalid second parameter."
        );
        assert_eq!(parse_group_state("close_wait").unwrap().1, "close_wait");
        assert!(!parse_group_state("").unwrap().0.contains(state::LISTEN));
        assert!(By::parse("port").is_none());
    }
}
