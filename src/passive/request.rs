//! One passive request → one response payload.
//!
//! Owns the choice between the plain-key protocol (all agents up to 6.x) and the 7.0 JSON
//! `passive checks` request, and the shape of each answer. It never touches a socket.

use std::sync::Arc;
use std::time::Duration;

use zbx_proto::message::{PassiveRequest, PassiveResponse, PassiveResult, PASSIVE_CHECKS};

use crate::keys::{agent, AgentCtx, KeyResult};

/// The protocol version announced in JSON replies: the JSON passive protocol is the 7.0
/// dialect, so zagent answers it as a 7.0 agent would.
pub const JSON_PROTOCOL_VERSION: &str = "7.0.0";

/// Largest per-item timeout a 7.0 request may ask for, in seconds.
pub const MAX_ITEM_TIMEOUT: u64 = 600;

/// What the request was, for logging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A bare key.
    Plain(String),
    /// A 7.0 JSON request (key if one could be read).
    Json(Option<String>),
}

/// Answers one request payload. Returns the reply payload and what the request was.
pub async fn answer(ctx: &Arc<AgentCtx>, payload: &[u8]) -> (Vec<u8>, Kind) {
    if let Some(obj) = as_json_object(payload) {
        let (reply, key) = answer_json(ctx, obj).await;
        return (reply, Kind::Json(key));
    }
    let key = plain_key(payload);
    let result = ctx.execute(&key).await;
    (plain_reply(result), Kind::Plain(key))
}

/// The key of a plain request: the C agent drops trailing CR/LF.
pub fn plain_key(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(payload);
    text.trim_end_matches(['\r', '\n']).to_string()
}

/// The plain-protocol reply payload for a result.
pub fn plain_reply(result: KeyResult) -> Vec<u8> {
    match result {
        Ok(v) => v.into_wire().into_bytes(),
        Err(ns) => zbx_proto::notsupported_payload(&ns.0),
    }
}

pub(crate) fn as_json_object(payload: &[u8]) -> Option<serde_json::Map<String, serde_json::Value>> {
    let first = payload.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(serde_json::Value::Object(m)) => Some(m),
        _ => None,
    }
}

fn json_reply(data: Option<Vec<PassiveResult>>, error: Option<String>) -> Vec<u8> {
    let resp = PassiveResponse {
        version: JSON_PROTOCOL_VERSION.to_string(),
        variant: agent::AGENT_VARIANT,
        data,
        error,
    };
    // Serialising plain strings and numbers cannot fail.
    serde_json::to_vec(&resp).unwrap_or_default()
}

/// What a JSON request asks for: an answer already decided (a malformed request, a bad
/// timeout), or one key to run with its timeout.
pub(crate) enum JsonCheck {
    Reply(Vec<u8>),
    Run { key: String, timeout: Duration },
}

fn json_error(message: impl Into<String>) -> JsonCheck {
    JsonCheck::Reply(json_reply(None, Some(message.into())))
}

pub(crate) fn parse_json(
    obj: serde_json::Map<String, serde_json::Value>,
) -> (JsonCheck, Option<String>) {
    let req: PassiveRequest = match serde_json::from_value(serde_json::Value::Object(obj)) {
        Ok(r) => r,
        Err(e) => return (json_error(format!("cannot parse request: {e}")), None),
    };
    match req.request.as_deref() {
        Some(PASSIVE_CHECKS) => {}
        Some(other) => return (json_error(format!("unknown request \"{other}\"")), None),
        None => return (json_error("cannot find the \"request\" tag"), None),
    }
    let Some(check) = req.data.as_ref().and_then(|d| d.first()) else {
        return (json_error("cannot find the \"data\" tag"), None);
    };
    let Some(key) = check.key.clone() else {
        return (json_error("cannot find the \"key\" tag"), None);
    };
    let Some(timeout) = check.timeout.as_ref() else {
        return (json_error("cannot find the \"timeout\" tag"), Some(key));
    };
    match parse_timeout(timeout) {
        Some(timeout) => (
            JsonCheck::Run {
                key: key.clone(),
                timeout,
            },
            Some(key),
        ),
        None => {
            let error = PassiveResult::Error {
                error: "Unsupported timeout value.".into(),
            };
            (
                JsonCheck::Reply(json_reply(Some(vec![error]), None)),
                Some(key),
            )
        }
    }
}

fn json_result_reply(result: KeyResult) -> Vec<u8> {
    let r = match result {
        Ok(v) => PassiveResult::Value {
            value: Some(v.to_wire()),
        },
        Err(ns) => PassiveResult::Error { error: ns.0 },
    };
    json_reply(Some(vec![r]), None)
}

async fn answer_json(
    ctx: &Arc<AgentCtx>,
    obj: serde_json::Map<String, serde_json::Value>,
) -> (Vec<u8>, Option<String>) {
    match parse_json(obj) {
        (JsonCheck::Reply(r), key) => (r, key),
        (JsonCheck::Run { key, timeout }, _) => {
            let result = ctx.execute_with_timeout(&key, timeout).await;
            (json_result_reply(result), Some(key))
        }
    }
}

/// Answers a request (plain key or 7.0 JSON) right here when nothing in it waits: the key's
/// handler is inline, or the request fails before any handler runs. `None` when it must go
/// through [`answer`]. The passive fast path uses it.
pub fn answer_inline(ctx: &AgentCtx, payload: &[u8]) -> Option<Vec<u8>> {
    match as_json_object(payload) {
        Some(obj) => match parse_json(obj) {
            (JsonCheck::Reply(r), _) => Some(r),
            (JsonCheck::Run { key, timeout }, _) => ctx
                .execute_inline_with_timeout(&key, timeout)
                .map(json_result_reply),
        },
        None => ctx.execute_inline(&plain_key(payload)).map(plain_reply),
    }
}

/// A 7.0 item timeout: a JSON integer of seconds, or a string with an optional `s`, `m`
/// or `h` suffix; 1–600 seconds.
pub fn parse_timeout(v: &serde_json::Value) -> Option<Duration> {
    let secs = match v {
        serde_json::Value::Number(n) => n.as_u64()?,
        serde_json::Value::String(s) => {
            let s = s.trim();
            let (num, mult) = match s.as_bytes().last()? {
                b's' => (&s[..s.len() - 1], 1),
                b'm' => (&s[..s.len() - 1], 60),
                b'h' => (&s[..s.len() - 1], 3600),
                _ => (s, 1),
            };
            if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            num.parse::<u64>().ok()?.checked_mul(mult)?
        }
        _ => return None,
    };
    (1..=MAX_ITEM_TIMEOUT)
        .contains(&secs)
        .then(|| Duration::from_secs(secs))
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout(&json!(3)), Some(Duration::from_secs(3)));
        assert_eq!(parse_timeout(&json!("3s")), Some(Duration::from_secs(3)));
        assert_eq!(parse_timeout(&json!("2m")), Some(Duration::from_secs(120)));
        assert_eq!(parse_timeout(&json!("10")), Some(Duration::from_secs(10)));
        assert_eq!(parse_timeout(&json!(0)), None);
        assert_eq!(parse_timeout(&json!(601)), None);
        assert_eq!(parse_timeout(&json!("1h")), None);
        assert_eq!(parse_timeout(&json!("x")), None);
        assert_eq!(parse_timeout(&json!(-1)), None);
        assert_eq!(parse_timeout(&json!(1.5)), None);
    }

    #[test]
    fn plain_key_strips_line_end() {
        assert_eq!(plain_key(b"agent.ping\r\n"), "agent.ping");
        assert_eq!(plain_key(b"agent.ping "), "agent.ping ");
    }

    fn ctx() -> Arc<AgentCtx> {
        AgentCtx::new(Arc::new(crate::config::Config {
            hostnames: vec!["h".into()],
            ..Default::default()
        }))
    }

    #[tokio::test]
    async fn inline_answers_equal_async_answers() {
        let ctx = ctx();
        for req in [
            &b"agent.ping"[..],
            b"agent.ping[x]",
            b"no.such.key",
            b"{broken",
            br#"{"request":"passive checks","data":[{"key":"agent.ping","timeout":3}]}"#,
            br#"{"request":"passive checks","data":[{"key":"agent.version","timeout":"3s"}]}"#,
            br#"{"request":"passive checks","data":[{"key":"nope","timeout":3}]}"#,
            br#"{"request":"passive checks","data":[{"key":"agent.ping","timeout":0}]}"#,
            br#"{"request":"foo"}"#,
        ] {
            let inline = answer_inline(&ctx, req).expect("answered inline");
            assert_eq!(
                inline,
                answer(&ctx, req).await.0,
                "{}",
                String::from_utf8_lossy(req)
            );
        }
        // A key that may block is left to the async path, in both protocols.
        assert_eq!(answer_inline(&ctx, b"vfs.file.size[/etc/hostname]"), None);
        let json = br#"{"request":"passive checks","data":[{"key":"vfs.file.size[/etc/hostname]","timeout":3}]}"#;
        assert_eq!(answer_inline(&ctx, json), None);
    }

    #[tokio::test]
    async fn json_and_plain_answers() {
        let ctx = ctx();
        let (r, _) = answer(&ctx, b"agent.ping").await;
        assert_eq!(r, b"1");
        let (r, _) = answer(
            &ctx,
            br#"{"request":"passive checks","data":[{"key":"agent.ping","timeout":3}]}"#,
        )
        .await;
        assert_eq!(
            r,
            br#"{"version":"7.0.0","variant":1,"data":[{"value":"1"}]}"#
        );
        let (r, _) = answer(
            &ctx,
            br#"{"request":"passive checks","data":[{"key":"no.such","timeout":"3s"}]}"#,
        )
        .await;
        assert_eq!(
            r,
            br#"{"version":"7.0.0","variant":1,"data":[{"error":"Unsupported item key."}]}"#
        );
        let (r, _) = answer(
            &ctx,
            br#"{"request":"passive checks","data":[{"key":"agent.ping","timeout":0}]}"#,
        )
        .await;
        assert_eq!(
            r,
            br#"{"version":"7.0.0","variant":1,"data":[{"error":"Unsupported timeout value."}]}"#
        );
        let (r, _) = answer(&ctx, br#"{"request":"foo"}"#).await;
        assert_eq!(
            r,
            br#"{"version":"7.0.0","variant":1,"error":"unknown request \"foo\""}"#
        );
        let (r, _) = answer(&ctx, b"agent.ping[x]").await;
        assert_eq!(r, b"ZBX_NOTSUPPORTED\0Item does not allow parameters.");
        // Not a JSON object: treated as a key, like the 7.0 C agent does.
        let (r, _) = answer(&ctx, b"{broken").await;
        assert_eq!(r, b"ZBX_NOTSUPPORTED\0Invalid item key format.");
    }
}
