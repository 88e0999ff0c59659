//! `agent.*` keys: what the agent says about itself.

use std::sync::Arc;

use super::{
    AgentCtx, BoxFuture, Handler, KeyDef, KeyResult, NotSupported, Params, Request, Value,
};

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
        description: "Agent host metadata (HostMetadata, or HostMetadataItem's value).",
        params: Params::None,
        test_key: "agent.hostmetadata",
        handler: Handler::Async(hostmetadata),
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

/// `HostMetadata`, else `HostMetadataItem` evaluated now, its value as it comes (a text
/// stays a text, a number a number: what zabbix_agentd sends), else empty.
fn hostmetadata(ctx: Arc<AgentCtx>, req: Request) -> BoxFuture {
    Box::pin(async move {
        let cfg = &ctx.config;
        let item = match (&cfg.host_metadata, &cfg.host_metadata_item) {
            (Some(m), _) => return Ok(Value::Str(m.clone())),
            (None, Some(item)) => item,
            (None, None) => return Ok(Value::Str(String::new())),
        };
        let failed =
            || NotSupported::new(format!("Cannot get host metadata using item \"{item}\""));
        // The item naming this key again would never end (zabbix_agentd crashes).
        if zbx_proto::key::ItemKey::parse(item).is_ok_and(|k| k.name == "agent.hostmetadata") {
            return Err(failed());
        }
        ctx.execute_local(item, req.timeout)
            .await
            .map_err(|_| failed())
    })
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
