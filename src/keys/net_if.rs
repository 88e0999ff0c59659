//! `net.if.*` keys: interface counters and discovery from `/proc/net/dev`, as
//! zabbix_agentd 6.0 answers them on Linux.
//!
//! Reads through [`crate::sys::procfs`]; owns mode names, sums and reason texts.

use super::{AgentCtx, Handler, KeyDef, KeyResult, NotSupported, ParamDef, Params, Request, Value};
use crate::sys::procfs::{self, NetDev, ProcRoot};

const IF_PARAMS: &[ParamDef] = &[ParamDef::opt("if"), ParamDef::opt("mode")];

/// The `net.if.*` family.
pub const KEYS: &[KeyDef] = &[
    KeyDef {
        name: "net.if.collisions",
        description: "Number of out-of-window collisions.",
        params: Params::List(&[ParamDef::opt("if")]),
        test_key: "net.if.collisions[lo]",
        handler: Handler::Inline(collisions),
    },
    KeyDef {
        name: "net.if.discovery",
        description: "List of network interfaces (LLD JSON).",
        params: Params::None,
        test_key: "net.if.discovery",
        handler: Handler::Inline(discovery),
    },
    KeyDef {
        name: "net.if.in",
        description: "Incoming traffic statistics on a network interface.",
        params: Params::List(IF_PARAMS),
        test_key: "net.if.in[lo,bytes]",
        handler: Handler::Inline(if_in),
    },
    KeyDef {
        name: "net.if.out",
        description: "Outgoing traffic statistics on a network interface.",
        params: Params::List(IF_PARAMS),
        test_key: "net.if.out[lo,bytes]",
        handler: Handler::Inline(if_out),
    },
    KeyDef {
        name: "net.if.total",
        description: "Sum of incoming and outgoing traffic statistics on a network interface.",
        params: Params::List(IF_PARAMS),
        test_key: "net.if.total[lo,bytes]",
        handler: Handler::Inline(if_total),
    },
];

/// Which counters a key reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Receive side.
    In,
    /// Transmit side.
    Out,
    /// Both, summed.
    Total,
}

/// The counter for `mode` of `dev` in `dir`, or `Invalid second parameter.`
pub fn counter(dev: &NetDev, dir: Direction, mode: &str) -> KeyResult {
    let mode = if mode.is_empty() { "bytes" } else { mode };
    let v = match dir {
        Direction::In => {
            let i = match mode {
                "bytes" => 0,
                "packets" => 1,
                "errors" => 2,
                "dropped" => 3,
                "overruns" => 4,
                "frame" => 5,
                "compressed" => 6,
                "multicast" => 7,
                _ => return Err(NotSupported::invalid_param(1)),
            };
            dev.rx[i]
        }
        Direction::Out => {
            let i = match mode {
                "bytes" => 0,
                "packets" => 1,
                "errors" => 2,
                "dropped" => 3,
                "overruns" => 4,
                "collisions" => 5,
                "carrier" => 6,
                "compressed" => 7,
                _ => return Err(NotSupported::invalid_param(1)),
            };
            dev.tx[i]
        }
        Direction::Total => {
            let (r, t) = match mode {
                "bytes" => (0, 0),
                "packets" => (1, 1),
                "errors" => (2, 2),
                "dropped" => (3, 3),
                "overruns" => (4, 4),
                "compressed" => (6, 7),
                _ => return Err(NotSupported::invalid_param(1)),
            };
            dev.rx[r].wrapping_add(dev.tx[t])
        }
    };
    Ok(Value::Uint(v))
}

/// Finds `name` in `/proc/net/dev` text, with zabbix_agentd's reason texts.
pub fn find_dev(text: &str, name: &str) -> Result<NetDev, NotSupported> {
    if name.is_empty() {
        return Err(NotSupported::new("Network interface name cannot be empty."));
    }
    procfs::parse_net_dev(text)
        .into_iter()
        .find(|d| d.name == name)
        .ok_or_else(|| {
            NotSupported::new(
                "Cannot find information for this network interface in /proc/net/dev.",
            )
        })
}

/// `net.if.discovery` JSON from `/proc/net/dev` text.
pub fn discovery_json(text: &str) -> String {
    let rows: Vec<serde_json::Value> = procfs::net_dev_names(text)
        .into_iter()
        .map(|name| serde_json::json!({ "{#IFNAME}": name }))
        .collect();
    serde_json::Value::Array(rows).to_string()
}

fn net_dev() -> Result<String, NotSupported> {
    ProcRoot::system()
        .read("net/dev")
        .map_err(|e| NotSupported::new(e.to_string()))
}

fn lookup(req: &Request, dir: Direction) -> KeyResult {
    let dev = find_dev(&net_dev()?, req.param(0))?;
    counter(&dev, dir, req.param(1))
}

fn if_in(_: &AgentCtx, req: &Request) -> KeyResult {
    lookup(req, Direction::In)
}

fn if_out(_: &AgentCtx, req: &Request) -> KeyResult {
    lookup(req, Direction::Out)
}

fn if_total(_: &AgentCtx, req: &Request) -> KeyResult {
    lookup(req, Direction::Total)
}

fn collisions(_: &AgentCtx, req: &Request) -> KeyResult {
    let dev = find_dev(&net_dev()?, req.param(0))?;
    Ok(Value::Uint(dev.tx[5]))
}

fn discovery(_: &AgentCtx, _: &Request) -> KeyResult {
    Ok(Value::Str(discovery_json(&net_dev()?)))
}

#[cfg(test)]
#[allow(clippy::panic)] // tests fail by panicking
mod tests {
    use super::*;

    const NET_DEV: &str = include_str!("../../tests/fixtures/proc/net/dev");

    #[test]
    fn modes_map_to_columns() {
        let eth0 = find_dev(NET_DEV, "eth0").unwrap_or_else(|e| panic!("{e}"));
        let c = |dir, mode| counter(&eth0, dir, mode);
        assert_eq!(c(Direction::In, ""), Ok(Value::Uint(63562061)));
        assert_eq!(c(Direction::In, "packets"), Ok(Value::Uint(2240)));
        assert_eq!(c(Direction::In, "overruns"), Ok(Value::Uint(3)));
        assert_eq!(c(Direction::In, "multicast"), Ok(Value::Uint(6)));
        assert_eq!(c(Direction::Out, "bytes"), Ok(Value::Uint(104323)));
        assert_eq!(c(Direction::Out, "collisions"), Ok(Value::Uint(10)));
        assert_eq!(c(Direction::Out, "carrier"), Ok(Value::Uint(11)));
        assert_eq!(c(Direction::Out, "compressed"), Ok(Value::Uint(12)));
        assert_eq!(
            c(Direction::Total, "bytes"),
            Ok(Value::Uint(63562061 + 104323))
        );
        assert_eq!(c(Direction::Total, "compressed"), Ok(Value::Uint(5 + 12)));
        assert_eq!(c(Direction::Total, "errors"), Ok(Value::Uint(1 + 7)));
        for bad in ["fifo", "x"] {
            assert_eq!(c(Direction::In, bad), Err(NotSupported::invalid_param(1)));
        }
        for bad in ["multicast", "frame"] {
            assert_eq!(c(Direction::Out, bad), Err(NotSupported::invalid_param(1)));
        }
        for bad in ["collisions", "carrier", "multicast", "frame"] {
            assert_eq!(
                c(Direction::Total, bad),
                Err(NotSupported::invalid_param(1))
            );
        }
    }

    #[test]
    fn missing_and_empty_interface() {
        assert_eq!(
            find_dev(NET_DEV, "nope"),
            Err(NotSupported::new(
                "Cannot find information for this network interface in /proc/net/dev."
            ))
        );
        assert_eq!(
            find_dev(NET_DEV, ""),
            Err(NotSupported::new("Network interface name cannot be empty."))
        );
    }

    #[test]
    fn discovery_lists_in_file_order() {
        assert_eq!(
            discovery_json(NET_DEV),
            r#"[{"{#IFNAME}":"lo"},{"{#IFNAME}":"ifb0"},{"{#IFNAME}":"ifb1"},{"{#IFNAME}":"eth0"}]"#
        );
    }
}
