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
