//! Typed JSON messages of the Zabbix agent protocol (serde).
//!
//! Owns the shapes of the passive-check JSON request/response (7.0), "active checks",
//! "agent data", "sender data" and the server's replies. No I/O, no clocks: callers pass
//! timestamps in.

use serde::{Deserialize, Serialize};

/// The `request` value of a 7.0 JSON passive check.
pub const PASSIVE_CHECKS: &str = "passive checks";

/// `{"request":"passive checks","data":[{"key":"agent.ping","timeout":3}]}` (7.0).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct PassiveRequest {
    /// Must be `"passive checks"`.
    pub request: Option<String>,
    /// Exactly one check in practice.
    pub data: Option<Vec<PassiveCheck>>,
}

/// One check of a JSON passive request.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct PassiveCheck {
    /// The macro-expanded item key.
    pub key: Option<String>,
    /// Seconds as a JSON integer, or a string such as `"3s"`.
    pub timeout: Option<serde_json::Value>,
}

/// The JSON passive response: `{"version":"7.0.0","variant":1,"data":[{"value":"1"}]}`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct PassiveResponse {
    /// Full agent version string.
    pub version: String,
    /// 1 = C agent, 2 = agent 2.
    pub variant: u8,
    /// Per-check results; absent when `error` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<PassiveResult>>,
    /// A malformed request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One check's result: a value (possibly `null`) or an error.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum PassiveResult {
    /// `{"error":"Unsupported item key."}`
    Error {
        /// The reason the check is not supported.
        error: String,
    },
    /// `{"value":"1"}` or `{"value":null}`.
    Value {
        /// `None` serialises as `null`: the check produced no value.
        value: Option<String>,
    },
}

// ---------------------------------------------------------------------------------------
// Active checks, agent data, sender data (docs/zabbix-protocol.md §3, §4).
// Field order in every struct is the order the C agent writes (6.0 captures; 7.0 from the
// source), so serialising an `Option::None`-free value reproduces its bytes. Servers look
// fields up by name; incoming messages may carry fields these types do not know, which
// are ignored.
// ---------------------------------------------------------------------------------------

/// The `request` value asking a server for the item list.
pub const ACTIVE_CHECKS: &str = "active checks";
/// The `request` value of a batch of collected values from an agent.
pub const AGENT_DATA: &str = "agent data";
/// The `request` value of zabbix_sender's batch.
pub const SENDER_DATA: &str = "sender data";
/// The `request` value of the 6.4+/7.0 heartbeat (a 6.0 server logs it as unknown).
pub const ACTIVE_CHECK_HEARTBEAT: &str = "active check heartbeat";
/// `response` of a request the server accepted.
pub const SUCCESS: &str = "success";
/// `response` of a request the server refused (`info` says why).
pub const FAILED: &str = "failed";

/// `{"request":"active checks","host":"h",...}`: ask a server for the host's active items.
///
/// Field order is the 7.0 C agent's (`request, host, host_metadata, interface, ip, port,
/// config_revision, session, version, variant`), which with the 7.0 fields left `None` is
/// also 6.0 zabbix_agentd's. A `version` ≥ 4.4 makes the server answer in the itemid format.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ActiveChecksRequest {
    /// Always [`ACTIVE_CHECKS`].
    pub request: String,
    /// The host name as configured on the server.
    pub host: String,
    /// `HostMetadata`/`HostMetadataItem`, for auto-registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_metadata: Option<String>,
    /// `HostInterface`/`HostInterfaceItem`, for auto-registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// The first `ListenIP`, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// `ListenPort` when it is not 10050.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Revision of the item list the agent holds (0 at start), 6.4+.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_revision: Option<u64>,
    /// 32 lowercase hex characters, new at every agent start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The agent's version, e.g. `"7.0.0"` (6.0 agent 2 sends `"6.0"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// 1 = C agent, 2 = agent 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<u8>,
}

impl ActiveChecksRequest {
    /// A request for `host` with every optional field unset.
    pub fn new(host: impl Into<String>) -> ActiveChecksRequest {
        ActiveChecksRequest {
            request: ACTIVE_CHECKS.to_string(),
            host: host.into(),
            host_metadata: None,
            interface: None,
            ip: None,
            port: None,
            config_revision: None,
            session: None,
            version: None,
            variant: None,
        }
    }
}

/// A server's answer to "active checks".
///
/// `{"response":"success","data":[...]}`, or `{"response":"failed","info":"host [x] not
/// found"}`, or (7.0) a redirect. A successful answer **without** `data` means "the list
/// is unchanged" (6.4+), not "no items".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ActiveChecksResponse {
    /// [`SUCCESS`] or [`FAILED`].
    pub response: String,
    /// Why the request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    /// Revision of the list in `data` (6.4+); the server writes it before `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_revision: Option<u64>,
    /// The item list; `None` = keep the list you have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<ActiveItem>>,
    /// Global regular expressions referenced by log items (`@name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regexp: Option<Vec<Regexp>>,
    /// Remote commands queued for the host (7.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<RemoteCommand>>,
    /// `"disabled"`: stop sending history until an answer omits it (7.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<String>,
    /// Seconds between retries of unsupported items; only sent to agents announcing 4.4/5.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_unsupported: Option<u64>,
    /// Reconnect elsewhere (7.0 proxy load balancing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<Redirect>,
}

impl ActiveChecksResponse {
    /// Whether `response` is [`SUCCESS`].
    pub fn is_success(&self) -> bool {
        self.response == SUCCESS
    }
}

/// One active item of an "active checks" answer.
///
/// Legacy format (no `version` or < 4.4 in the request): `key`, `key_orig` when it differs,
/// integer `delay`. itemid format: `key`, `itemid`, string `delay`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ActiveItem {
    /// The key with macros expanded: what to collect.
    pub key: String,
    /// The key as configured (legacy format, only when it differs from `key`); legacy
    /// agent data must report this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_orig: Option<String>,
    /// The item's id (itemid format); agent data then refers to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itemid: Option<u64>,
    /// The update interval: integer seconds (legacy) or the interval string as configured.
    pub delay: Interval,
    /// Byte offset already processed of a log file.
    #[serde(default)]
    pub lastlogsize: u64,
    /// Modification time already processed (logrt).
    #[serde(default)]
    pub mtime: i64,
    /// Per-item timeout, e.g. `"3s"` (7.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Interval>,
}

impl ActiveItem {
    /// The key agent data must name in a legacy (host + key) row: `key_orig` when
    /// present, else `key`.
    pub fn reported_key(&self) -> &str {
        self.key_orig.as_deref().unwrap_or(&self.key)
    }
}

/// A delay or timeout as a server writes it: a JSON integer (seconds; legacy `delay`) or a
/// string in Zabbix interval syntax (`"30s"`, `"1m"`, `"10s;5s/1-7,00:00-24:00"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Interval {
    /// Integer seconds.
    Seconds(u64),
    /// Interval text, user macros already expanded by the server.
    Text(String),
}

impl Interval {
    /// The interval in seconds when it is a plain number or one simple interval with an
    /// optional `s`/`m`/`h`/`d`/`w` suffix. `None` for flexible or scheduling intervals
    /// (anything with `;` or `/`), which the scheduler must interpret itself, and for text
    /// that is not an interval.
    pub fn simple_seconds(&self) -> Option<u64> {
        match self {
            Interval::Seconds(s) => Some(*s),
            Interval::Text(t) => {
                let t = t.trim();
                let (digits, mult) = match t.as_bytes().last()? {
                    b's' => (&t[..t.len() - 1], 1),
                    b'm' => (&t[..t.len() - 1], 60),
                    b'h' => (&t[..t.len() - 1], 3600),
                    b'd' => (&t[..t.len() - 1], 86_400),
                    b'w' => (&t[..t.len() - 1], 604_800),
                    _ => (t, 1),
                };
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                digits.parse::<u64>().ok()?.checked_mul(mult)
            }
        }
    }
}

/// A global regular expression sent with the item list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Regexp {
    /// The name log items refer to as `@name`.
    pub name: String,
    /// The expression (or substring/list, depending on the type).
    pub expression: String,
    /// 0 character string included, 1 any of strings included, 2 string not included,
    /// 3 result is TRUE, 4 result is FALSE.
    pub expression_type: i32,
    /// Delimiter of the "any of strings" list.
    #[serde(default)]
    pub exp_delimiter: String,
    /// 1 = case sensitive.
    pub case_sensitive: i32,
}

/// A remote command queued for the host (7.0): run as `system.run[<command>,wait|nowait]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct RemoteCommand {
    /// The shell command.
    pub command: String,
    /// Id to report the result under.
    pub id: u64,
    /// 1 = wait for the result, 0 = do not.
    #[serde(default)]
    pub wait: u8,
    /// Timeout for the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Interval>,
}

/// The result of a remote command, sent back in agent data (7.0).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct CommandResult {
    /// The command's id.
    pub id: u64,
    /// Its output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `{"response":"failed","redirect":{"revision":N,"address":"host:port"}}` or
/// `{"redirect":{"reset":true}}` (7.0 proxy groups).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Redirect {
    /// Revision of the redirection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// Where to connect instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Go back to the configured server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<bool>,
}

/// `{"request":"agent data",...}`: a batch of collected values.
///
/// Field order is the 7.0 C agent's: `request, session, version, variant, host, data,
/// clock, ns` (6.0 zabbix_agentd: `request, session, data, clock, ns`). With `version`
/// ≥ 4.4 the server takes `host` from the top level and matches rows by `itemid`;
/// without it, by the rows' `host` + `key`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct AgentDataRequest {
    /// Always [`AGENT_DATA`].
    pub request: String,
    /// 32 lowercase hex characters; the server drops rows whose `id` is not above the
    /// last one seen for the session.
    pub session: String,
    /// The agent's version (needed for itemid rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// 1 = C agent, 2 = agent 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<u8>,
    /// The host (needed for itemid rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The values.
    pub data: Vec<AgentDataRow>,
    /// Results of remote commands (7.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<CommandResult>>,
    /// Unix seconds when the batch was sent (C agent only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<i64>,
    /// Nanoseconds part of `clock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns: Option<u32>,
}

impl AgentDataRequest {
    /// A batch for `session` with no top-level extras.
    pub fn new(session: impl Into<String>, data: Vec<AgentDataRow>) -> AgentDataRequest {
        AgentDataRequest {
            request: AGENT_DATA.to_string(),
            session: session.into(),
            version: None,
            variant: None,
            host: None,
            data,
            commands: None,
            clock: None,
            ns: None,
        }
    }
}

/// One value of an "agent data" batch.
///
/// Legacy rows carry `host` + `key` (the original, unexpanded key); itemid rows carry
/// `itemid`. Field order is the C agent's: `host, key, itemid, value, state, lastlogsize,
/// mtime, timestamp, source, severity, eventid, id, clock, ns`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct AgentDataRow {
    /// Host (legacy rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `key_orig` or `key` of the item (legacy rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The item's id (itemid rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itemid: Option<u64>,
    /// The value; for `state` 1 the reason. Omitted for a pure log-metadata update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// 1 = not supported (omitted when normal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<u8>,
    /// Log items: byte offset after this line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lastlogsize: Option<u64>,
    /// logrt items: modification time of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<i64>,
    /// Log timestamp parsed with `logtimefmt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// Event-log source (Windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Event-log severity (Windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<u32>,
    /// Event-log event id (Windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eventid: Option<u64>,
    /// Per-session, strictly increasing value counter starting at 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// Unix seconds of collection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<i64>,
    /// Nanoseconds part of `clock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns: Option<u32>,
}

/// `{"request":"sender data","data":[...]}` as zabbix_sender writes it; top-level
/// `clock`/`ns` only when the rows carry timestamps (`-T`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct SenderDataRequest {
    /// Always [`SENDER_DATA`].
    pub request: String,
    /// The values (zabbix_sender sends at most 250 per connection).
    pub data: Vec<SenderRow>,
    /// Unix seconds when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<i64>,
    /// Nanoseconds part of `clock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns: Option<u32>,
}

impl SenderDataRequest {
    /// A batch without top-level timestamps.
    pub fn new(data: Vec<SenderRow>) -> SenderDataRequest {
        SenderDataRequest {
            request: SENDER_DATA.to_string(),
            data,
            clock: None,
            ns: None,
        }
    }
}

/// One value of a "sender data" batch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct SenderRow {
    /// Host name as configured on the server.
    pub host: String,
    /// Item key of a trapper item.
    pub key: String,
    /// The value, always a string.
    pub value: String,
    /// Unix seconds (`-T`); without it the server uses its receive time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<i64>,
    /// Nanoseconds part of `clock` (`-N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns: Option<u32>,
}

/// `{"request":"active check heartbeat","host":"h","heartbeat_freq":60,...}` (6.4+/7.0).
/// The server answers nothing; a 6.0 server logs a warning for each one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct HeartbeatRequest {
    /// Always [`ACTIVE_CHECK_HEARTBEAT`].
    pub request: String,
    /// The host name.
    pub host: String,
    /// Seconds between heartbeats.
    pub heartbeat_freq: u32,
    /// The agent's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// 1 = C agent, 2 = agent 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<u8>,
}

impl HeartbeatRequest {
    /// A heartbeat for `host` every `heartbeat_freq` seconds.
    pub fn new(host: impl Into<String>, heartbeat_freq: u32) -> HeartbeatRequest {
        HeartbeatRequest {
            request: ACTIVE_CHECK_HEARTBEAT.to_string(),
            host: host.into(),
            heartbeat_freq,
            version: None,
            variant: None,
        }
    }
}

/// A server's answer to agent data or sender data:
/// `{"response":"success","info":"processed: 7; failed: 0; total: 7; seconds spent: 0.000245"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ServerResponse {
    /// [`SUCCESS`] or [`FAILED`]; only `success` lets the agent drop the values it sent.
    pub response: String,
    /// Counters (success) or the reason (failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    /// `"disabled"` when the server's values-per-second limit is hit (7.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<String>,
}

impl ServerResponse {
    /// Whether `response` is [`SUCCESS`].
    pub fn is_success(&self) -> bool {
        self.response == SUCCESS
    }

    /// The parsed counters of `info`, when it holds them.
    pub fn processed(&self) -> Option<ProcessedInfo> {
        self.info
            .as_deref()
            .and_then(|i| ProcessedInfo::parse(i).ok())
    }
}

/// The counters of `"processed: 7; failed: 0; total: 7; seconds spent: 0.000245"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessedInfo {
    /// Values stored.
    pub processed: u64,
    /// Values refused (unknown host or item, duplicate id, wrong item type...).
    pub failed: u64,
    /// Values received.
    pub total: u64,
    /// Server time spent, in seconds.
    pub seconds_spent: f64,
}

/// `info` is not the server's `processed: ...` line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse server info {text:?}: expected \"processed: N; failed: N; total: N; seconds spent: F\"")]
pub struct InfoError {
    /// The text that did not parse.
    pub text: String,
}

impl ProcessedInfo {
    /// Parses the server's `info` line. Field order is fixed, as the server writes it;
    /// spaces around values are tolerated.
    pub fn parse(text: &str) -> Result<ProcessedInfo, InfoError> {
        let err = || InfoError {
            text: text.to_string(),
        };
        let mut parts = text.split(';').map(str::trim);
        let mut field = |name: &str| -> Result<&str, InfoError> {
            let part = parts.next().ok_or_else(err)?;
            let value = part.strip_prefix(name).ok_or_else(err)?;
            Ok(value.strip_prefix(':').ok_or_else(err)?.trim())
        };
        let int = |v: &str| v.parse::<u64>().map_err(|_| err());
        let processed = int(field("processed")?)?;
        let failed = int(field("failed")?)?;
        let total = int(field("total")?)?;
        let seconds_spent = field("seconds spent")?.parse::<f64>().map_err(|_| err())?;
        if parts.next().is_some() || !seconds_spent.is_finite() {
            return Err(err());
        }
        Ok(ProcessedInfo {
            processed,
            failed,
            total,
            seconds_spent,
        })
    }
}
