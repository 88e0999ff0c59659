//! `zabbix.stats[ip,port,queue,from,to]`: a Zabbix server's or proxy's internal statistics
//! through the agent, as zabbix_agentd asks its trapper (`{"request":"zabbix.stats"}`,
//! with `"type":"queue"` for the queue). Owns the parameter checks and the request; the
//! exchange is `transport`'s. The server's JSON answer is the value, as agentd returns it.

use std::sync::Arc;

use serde_json::json;

use super::net_tcp::parse_ushort;
use super::{AgentCtx, BoxFuture, Handler, KeyDef, NotSupported, ParamDef, Params, Request, Value};
use crate::transport::{self, ClientOptions};

/// The key.
pub const KEYS: &[KeyDef] = &[KeyDef {
    name: "zabbix.stats",
    description: "Internal statistics of a Zabbix server or proxy (ip, port, queue, from, to).",
    params: Params::List(&[
        ParamDef::opt("ip"),
        ParamDef::opt("port"),
        ParamDef::opt("queue"),
        ParamDef::opt("from"),
        ParamDef::opt("to"),
    ]),
    test_key: "zabbix.stats[127.0.0.1,10051]",
    handler: Handler::Async(stats),
}];

/// The request agentd sends for these parameters, or the reason it refuses them.
pub fn request(req: &Request) -> Result<(String, u16, serde_json::Value), NotSupported> {
    let ip = match req.param(0) {
        "" => "127.0.0.1",
        ip => ip,
    };
    let port = match req.param(1) {
        "" => 10051,
        p => parse_ushort(p).ok_or_else(|| NotSupported::invalid_param(1))?,
    };
    let body = match req.param(2) {
        "" => json!({"request": "zabbix.stats"}),
        "queue" => {
            // An empty bound is left out: the server's default applies, as with agentd.
            let mut params = serde_json::Map::new();
            for (name, i) in [("from", 3), ("to", 4)] {
                if !req.param(i).is_empty() {
                    params.insert(name.into(), req.param(i).into());
                }
            }
            json!({"request": "zabbix.stats", "type": "queue", "params": params})
        }
        _ => return Err(NotSupported::invalid_param(2)),
    };
    Ok((ip.to_string(), port, body))
}

fn stats(_ctx: Arc<AgentCtx>, req: Request) -> BoxFuture {
    Box::pin(async move {
        let (ip, port, body) = request(&req)?;
        let fail = |e: String| NotSupported::new(format!("Cannot obtain internal statistics: {e}"));
        let opts = ClientOptions::new(req.timeout);
        let reply = transport::exchange(&ip, port, body.to_string().as_bytes(), &opts)
            .await
            .map_err(|e| match e {
                // agentd names the host only.
                transport::TransportError::Resolve { host, .. } => {
                    fail(format!("cannot resolve [{host}]"))
                }
                e => fail(e.to_string()),
            })?;
        let text = String::from_utf8_lossy(&reply.payload).into_owned();
        let parsed: serde_json::Value =
            serde_json::from_str(&text).map_err(|_| fail("invalid response".into()))?;
        if parsed["response"] != "success" {
            let info = parsed["info"].as_str().unwrap_or("unknown error");
            return Err(fail(info.to_string()));
        }
        Ok(Value::Text(text))
    })
}
