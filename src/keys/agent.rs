//! `agent.*` keys: what the agent says about itself.

use super::{AgentCtx, Handler, KeyDef, KeyResult, Params, Request, Value};

/// The Zabbix agent version zagent speaks and reports (`agent.version`).
pub const AGENT_VERSION: &str = "6.0.14";
/// `agent.variant`: 1 = C agent. zagent answers like the C agent it replaces.
pub const AGENT_VARIANT: u8 = 1;

/// The `agent.*` family.
pub const KEYS: &[KeyDef] = &[
    KeyDef {
        name: "agent.hostname",
        description: "Agent host name (the first Hostname).",
        params: Params::None,
        test_key: "agent.hostname",
        handler: Handler::Inline(hostname),
    },
    KeyDef {
        name: "agent.hostmetadata",
        description: "Agent host metadata (HostMetadata).",
        params: Params::None,
        test_key: "agent.hostmetadata",
        handler: Handler::Inline(hostmetadata),
    },
    KeyDef {
        name: "agent.ping",
        description: "Agent availability check; always 1.",
        params: Params::None,
        test_key: "agent.ping",
        handler: Handler::Inline(ping),
    },
    KeyDef {
        name: "agent.variant",
        description: "Agent variant: 1 (C agent compatible).",
        params: Params::None,
        test_key: "agent.variant",
        handler: Handler::Inline(variant),
    },
    KeyDef {
        name: "agent.version",
        description: "Zabbix agent version emulated.",
        params: Params::None,
        test_key: "agent.version",
        handler: Handler::Inline(version),
    },
];

fn hostname(ctx: &AgentCtx, _: &Request) -> KeyResult {
    Ok(Value::Str(ctx.config.hostname().to_string()))
}

fn hostmetadata(ctx: &AgentCtx, _: &Request) -> KeyResult {
    Ok(Value::Str(
        ctx.config.host_metadata.clone().unwrap_or_default(),
    ))
}

fn ping(_: &AgentCtx, _: &Request) -> KeyResult {
    Ok(Value::Uint(1))
}

fn variant(_: &AgentCtx, _: &Request) -> KeyResult {
    Ok(Value::Uint(u64::from(AGENT_VARIANT)))
}

fn version(_: &AgentCtx, _: &Request) -> KeyResult {
    Ok(Value::Str(AGENT_VERSION.to_string()))
}
