//! TCP-health keys: `net.tcp.health`, `net.tcp.listen.stats`, `net.tcp.ephemeral`,
//! `net.tcp.group`, `net.tcp.quality`, `net.tcp.limits`.
//!
//! Owns the keys' parameters, error texts and JSON shapes (docs/CONNECTION_KEYS.md).
//! Every dump key costs ONE walk of the socket table ([`crate::sys::sockets::Engine`])
//! aggregated in one pass by [`crate::sys::sockets::health`]; `net.tcp.quality` is a
//! separate request (tcp_info) so that it never slows the others; `net.tcp.limits`
//! reads `/proc/sys` only. Nothing here talks to netlink or parses /proc itself.

use std::path::Path;

use serde_json::{json, Map, Value as Json};

use super::net_tcp::{parse_addr_param, parse_port_param, states_json_value, tcp_state_official};
use super::{AgentCtx, Handler, KeyDef, KeyResult, NotSupported, ParamDef, Params, Request, Value};
use crate::sys::sockets::health::{
    Aggregator, Endpoint, GroupBy, Grouped, Grouping, Health, ListenerStats, PortRange,
};
use crate::sys::sockets::owners::{all_socket_owners, socket_owners, Owners};
use crate::sys::sockets::quality::Quality;
use crate::sys::sockets::{state, AddrFilter, Proto, SockRecord, StateMask};
use crate::sys::sysctl;

/// The family.
pub const KEYS: &[KeyDef] = &[
    KeyDef {
        name: "net.tcp.health",
        description: "JSON: every TCP state, every listener (queue, backlog, states), ephemeral-port use per destination and CLOSE_WAIT by port and upstream, from ONE socket dump (the template's master item).",
        params: Params::List(&[ParamDef::opt("<top>")]),
        test_key: "net.tcp.health",
        handler: Handler::Blocking(health),
    },
    KeyDef {
        name: "net.tcp.listen.stats",
        description: "JSON object keyed by listener (addr:port): accept queue, backlog, fill %, SYN_RECV and the states of its connections.",
        params: Params::List(&[ParamDef::opt("<laddr>"), ParamDef::opt("<port>")]),
        test_key: "net.tcp.listen.stats",
        handler: Handler::Blocking(listen_stats),
    },
    KeyDef {
        name: "net.tcp.ephemeral",
        description: "JSON: ephemeral port range and its use per destination (laddr->raddr:rport), busiest first, with % of the range.",
        params: Params::List(&[ParamDef::opt("<top>")]),
        test_key: "net.tcp.ephemeral",
        handler: Handler::Blocking(ephemeral),
    },
    KeyDef {
        name: "net.tcp.group",
        description: "JSON: TCP sockets in a state grouped by lport, rport, raddr, remote, uid or process; top N and the rest.",
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
        description: "JSON: connection quality from tcp_info (RTT avg/p95/max, retransmissions, lost, send queues) grouped by lport, rport, raddr, remote, uid or process.",
        params: Params::List(&[ParamDef::req("by"), ParamDef::opt("<top>")]),
        test_key: "net.tcp.quality[remote]",
        handler: Handler::Blocking(quality_key),
    },
    KeyDef {
        name: "net.tcp.limits",
        description: "JSON: kernel TCP limits (ephemeral range, tcp_max_tw_buckets, somaxconn, tcp_max_syn_backlog, syncookies, fin timeout, tw_reuse) and conntrack use.",
        params: Params::None,
        test_key: "net.tcp.limits",
        handler: Handler::Blocking(limits_key),
    },
];

/// Defaults and bounds of this family.
pub mod limits {
    /// Rows in a top-N list when `<top>` is empty.
    pub const DEFAULT_TOP: usize = 10;
    /// Largest `<top>`.
    pub const MAX_TOP: usize = 1000;
}

const PROC: &str = "/proc";
const PROC_SYS: &str = "/proc/sys";

/// `<top>` at parameter `i`: empty = [`limits::DEFAULT_TOP`]; 1..=[`limits::MAX_TOP`]
/// in decimal digits, else `Invalid <ordinal> parameter.`
pub fn parse_top(req: &Request, i: usize) -> Result<usize, NotSupported> {
    let s = req.param(i);
    if s.is_empty() {
        return Ok(limits::DEFAULT_TOP);
    }
    s.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| s.parse::<usize>().ok())
        .flatten()
        .filter(|n| (1..=limits::MAX_TOP).contains(n))
        .ok_or_else(|| NotSupported::invalid_param(i))
}

fn group_by(req: &Request, i: usize) -> Result<GroupBy, NotSupported> {
    GroupBy::parse(req.param(i)).ok_or_else(|| NotSupported::invalid_param(i))
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    (part as f64 * 10000.0 / whole as f64).round() / 100.0
}

fn engine_err(e: crate::sys::sockets::EngineError) -> NotSupported {
    NotSupported::new(e.to_string())
}

fn read_range() -> Result<PortRange, NotSupported> {
    let range = sysctl::read(Path::new(PROC_SYS), "net/ipv4/ip_local_port_range")
        .map_err(|e| NotSupported::new(e.to_string()))?;
    let reserved =
        sysctl::read(Path::new(PROC_SYS), "net/ipv4/ip_local_reserved_ports").unwrap_or_default();
    PortRange::parse(&range, &reserved).map_err(|e| NotSupported::new(e.to_string()))
}

/// One dump of every TCP socket through the aggregator.
fn aggregate(
    ctx: &AgentCtx,
    req: &Request,
    range: Option<&PortRange>,
    groupings: Vec<Grouping>,
    owners: Option<&Owners>,
) -> Result<Health, NotSupported> {
    let process = |inode: u32| owners.map_or(u32::MAX, |o| o.index(inode));
    let mut agg = Aggregator::new(range, groupings, &process);
    ctx.net
        .visit(Proto::Tcp, StateMask::ALL, req.timeout, &mut |r| agg.add(r))
        .map_err(engine_err)?;
    Ok(agg.finish())
}

fn user_name(uid: u32) -> String {
    super::vfs::owner_name(uid, false).unwrap_or_else(|| uid.to_string())
}

/// The text of a group key.
fn group_text(by: GroupBy, k: &Endpoint, owners: Option<&Owners>) -> String {
    match by {
        GroupBy::Lport | GroupBy::Rport => k.port.to_string(),
        GroupBy::Raddr => k.addr_text(),
        GroupBy::Remote => k.text(),
        GroupBy::Uid => user_name(uid_of(k)),
        GroupBy::Process => {
            let i = uid_of(k);
            owners
                .and_then(|o| o.names.get(i as usize))
                .cloned()
                .unwrap_or_else(|| "?".to_string())
        }
    }
}

fn uid_of(k: &Endpoint) -> u32 {
    u32::from_ne_bytes([k.addr[0], k.addr[1], k.addr[2], k.addr[3]])
}

/// The `net.tcp.group` object of one grouping.
fn group_json(g: &Grouping, top: usize, owners: Option<&Owners>) -> Json {
    let (rows, other_groups, other_count) = g.counts.top(top);
    let state = state_name(g.states);
    let rows: Vec<Json> = rows
        .iter()
        .map(|(k, c)| {
            let mut m = Map::new();
            m.insert("key".into(), group_text(g.by, k, owners).into());
            m.insert("count".into(), (*c).into());
            if g.by == GroupBy::Uid {
                m.insert("uid".into(), uid_of(k).into());
            }
            Json::Object(m)
        })
        .collect();
    let max = rows
        .first()
        .map(|r| json!({"key": r["key"], "count": r["count"]}))
        .unwrap_or_else(|| json!({"key": "", "count": 0}));
    json!({
        "by": g.by.name(),
        "state": state,
        "total": g.counts.total,
        "groups": g.counts.map.len() as u64 + u64::from(g.counts.overflow > 0),
        "max": max,
        "top": rows,
        "other": {"groups": other_groups, "count": other_count},
    })
}

fn state_name(mask: StateMask) -> &'static str {
    (1..=state::MAX)
        .find(|s| StateMask::one(*s) == mask)
        .map_or("all", |s| state::NAMES[usize::from(s)])
}

/// The `net.tcp.ephemeral` object.
fn ephemeral_json(
    range: &PortRange,
    e: &Grouped<crate::sys::sockets::health::Destination>,
    top: usize,
) -> Json {
    let size = u64::from(range.size());
    let (rows, other_groups, other_count) = e.top(top);
    let worst = rows.first().map(|(d, c)| (d.text(), pct(*c, size)));
    let rows: Vec<Json> = rows
        .iter()
        .map(|(d, c)| {
            json!({
                "laddr": d.local.addr_text(),
                "raddr": d.remote.addr_text(),
                "rport": d.remote.port,
                "count": c,
                "pct": pct(*c, size),
            })
        })
        .collect();
    let (worst, max_pct) = worst.unwrap_or_default();
    json!({
        "low": range.low,
        "high": range.high,
        "reserved": range.reserved_count,
        "size": size,
        "in_use": e.total,
        "destinations": e.map.len() as u64 + u64::from(e.overflow > 0),
        "max_pct": max_pct,
        "worst": worst,
        "top": rows,
        "other": {"destinations": other_groups, "count": other_count},
    })
}

fn listener_json(
    k: &Endpoint,
    l: &ListenerStats,
    owners: &std::collections::HashMap<u32, String>,
) -> Json {
    let mut m = Map::new();
    m.insert("laddr".into(), k.addr_text().into());
    m.insert("port".into(), k.port.into());
    m.insert("sockets".into(), l.sockets.into());
    m.insert("queue".into(), l.queue.into());
    m.insert("backlog".into(), l.backlog.into());
    m.insert("queue_pct".into(), pct(l.queue, l.backlog).into());
    m.insert("syn_recv".into(), l.states.get(state::SYN_RECV).into());
    m.insert("uid".into(), l.uid.into());
    if let Some(p) = owners.get(&l.inode) {
        m.insert("process".into(), p.clone().into());
    }
    m.insert("states".into(), states_json_value(&l.states));
    Json::Object(m)
}

/// The `net.tcp.listen.stats` object: listeners passing `filter`, keyed by id.
fn listeners_json(h: &Health, filter: impl Fn(&Endpoint) -> bool) -> Json {
    let mut list: Vec<(&Endpoint, &ListenerStats)> =
        h.listeners.iter().filter(|(k, _)| filter(k)).collect();
    list.sort_by_key(|(k, _)| (k.port, k.family, k.addr));
    let wanted = list
        .iter()
        .map(|(_, l)| l.inode)
        .filter(|i| *i != 0)
        .collect();
    let owners = socket_owners(Path::new(PROC), &wanted);
    let mut m = Map::new();
    for (k, l) in list {
        m.insert(k.text(), listener_json(k, l, &owners));
    }
    Json::Object(m)
}

fn health(ctx: &AgentCtx, req: &Request) -> KeyResult {
    let top = parse_top(req, 0)?;
    let range = read_range().ok();
    let close_wait = StateMask::one(state::CLOSE_WAIT);
    let groupings = vec![
        Grouping::new(GroupBy::Lport, close_wait),
        Grouping::new(GroupBy::Remote, close_wait),
    ];
    let h = aggregate(ctx, req, range.as_ref(), groupings, None)?;
    let ephemeral = match (&range, &h.ephemeral) {
        (Some(r), Some(e)) => ephemeral_json(r, e, top),
        _ => json!({"low": 0, "high": 0, "reserved": 0, "size": 0, "in_use": 0,
                    "destinations": 0, "max_pct": 0, "worst": "", "top": [],
                    "other": {"destinations": 0, "count": 0}}),
    };
    let out = json!({
        "states": states_json_value(&h.states),
        "listeners": listeners_json(&h, |_| true),
        "ephemeral": ephemeral,
        "close_wait": {
            "lport": group_json(&h.groupings[0], top, None),
            "remote": group_json(&h.groupings[1], top, None),
        },
    });
    Ok(Value::Text(out.to_string()))
}

fn listen_stats(ctx: &AgentCtx, req: &Request) -> KeyResult {
    let laddr: Option<AddrFilter> = parse_addr_param(req.param(0))?;
    let port = parse_port_param(req.param(1), Proto::Tcp, &|| {
        std::fs::read_to_string("/etc/services").unwrap_or_default()
    })?;
    let h = aggregate(ctx, req, None, vec![], None)?;
    let json = listeners_json(&h, |k| {
        port.map_or(true, |p| p == k.port)
            && laddr
                .as_ref()
                .map_or(true, |f| f.matches(k.family, &k.addr))
    });
    Ok(Value::Text(json.to_string()))
}

fn ephemeral(ctx: &AgentCtx, req: &Request) -> KeyResult {
    let top = parse_top(req, 0)?;
    let range = read_range()?;
    let h = aggregate(ctx, req, Some(&range), vec![], None)?;
    let e = h.ephemeral.unwrap_or_else(Grouped::new);
    Ok(Value::Text(ephemeral_json(&range, &e, top).to_string()))
}

fn group(ctx: &AgentCtx, req: &Request) -> KeyResult {
    let by = group_by(req, 0)?;
    let states = match req.opt(1) {
        None => StateMask(StateMask::ALL.0 & !(1 << state::LISTEN)),
        Some(s) => {
            StateMask::one(tcp_state_official(s).ok_or_else(|| NotSupported::invalid_param(1))?)
        }
    };
    let top = parse_top(req, 2)?;
    let owners = (by == GroupBy::Process).then(|| all_socket_owners(Path::new(PROC)));
    let h = aggregate(
        ctx,
        req,
        None,
        vec![Grouping::new(by, states)],
        owners.as_ref(),
    )?;
    Ok(Value::Text(
        group_json(&h.groupings[0], top, owners.as_ref()).to_string(),
    ))
}

fn quality_key(ctx: &AgentCtx, req: &Request) -> KeyResult {
    let by = group_by(req, 0)?;
    let top = parse_top(req, 1)?;
    let owners = (by == GroupBy::Process).then(|| all_socket_owners(Path::new(PROC)));
    let process = |inode: u32| owners.as_ref().map_or(u32::MAX, |o| o.index(inode));
    let mut q = Quality::new(by);
    let dumped = ctx
        .net
        .visit_info(req.timeout, &mut |r: &SockRecord, info| {
            q.add(r, info, &process)
        });
    dumped.map_err(engine_err)?;
    let (rows, other_groups, other_count) = q.top(top);
    let rows: Vec<Json> = rows
        .iter()
        .map(|(k, g)| {
            let mut m = Map::new();
            m.insert("key".into(), group_text(by, k, owners.as_ref()).into());
            m.insert("count".into(), g.count.into());
            m.insert("sendq_nonempty".into(), g.sendq_nonempty.into());
            if let Some(s) = g.summary() {
                m.insert("rtt_avg_ms".into(), s.rtt_avg_ms.into());
                m.insert("rtt_p95_ms".into(), s.rtt_p95_ms.into());
                m.insert("rtt_max_ms".into(), s.rtt_max_ms.into());
                m.insert("retrans".into(), s.retrans.into());
                m.insert("lost".into(), s.lost.into());
                m.insert("unacked".into(), s.unacked.into());
            }
            Json::Object(m)
        })
        .collect();
    let out = json!({
        "by": by.name(),
        "total": q.total(),
        "info": q.with_info() > 0 || q.total() == 0,
        "groups": q.groups(),
        "top": rows,
        "other": {"groups": other_groups, "count": other_count},
    });
    Ok(Value::Text(out.to_string()))
}

fn limits_key(_: &AgentCtx, _: &Request) -> KeyResult {
    let root = Path::new(PROC_SYS);
    let num = |p: &str| -> Json {
        sysctl::read(root, p)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .map_or(Json::Null, Json::from)
    };
    let (low, high, ports) = match read_range() {
        Ok(r) => (Json::from(r.low), Json::from(r.high), Json::from(r.size())),
        Err(_) => (Json::Null, Json::Null, Json::Null),
    };
    let conntrack = match (
        sysctl::read(root, "net/netfilter/nf_conntrack_count"),
        sysctl::read(root, "net/netfilter/nf_conntrack_max"),
    ) {
        (Ok(c), Ok(m)) => {
            let c: u64 = c.trim().parse().unwrap_or(0);
            let m: u64 = m.trim().parse().unwrap_or(0);
            json!({"available": true, "count": c, "max": m, "pct": pct(c, m)})
        }
        _ => json!({"available": false, "count": 0, "max": 0, "pct": 0,
                    "reason": "nf_conntrack not loaded"}),
    };
    let out = json!({
        "ip_local_port_range": {"low": low, "high": high},
        "ephemeral_ports": ports,
        "tcp_max_tw_buckets": num("net/ipv4/tcp_max_tw_buckets"),
        "somaxconn": num("net/core/somaxconn"),
        "tcp_max_syn_backlog": num("net/ipv4/tcp_max_syn_backlog"),
        "tcp_syncookies": num("net/ipv4/tcp_syncookies"),
        "tcp_fin_timeout": num("net/ipv4/tcp_fin_timeout"),
        "tcp_tw_reuse": num("net/ipv4/tcp_tw_reuse"),
        "conntrack": conntrack,
    });
    Ok(Value::Text(out.to_string()))
}
