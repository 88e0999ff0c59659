//! Active-check messages as the worker needs them: the "active checks" request, both
//! answer formats normalised into one item list, "agent data" from buffered rows, the
//! heartbeat, and the server's `processed/failed` answer.
//!
//! The wire shapes are the shared serde types of [`zbx_proto::message`]; this module only
//! maps between them and the worker's view (pure; clocks are passed in). It must not do
//! I/O or decide what to send when — that is the worker's business.

use zbx_proto::message::{
    self as msg, ActiveChecksResponse, AgentDataRequest, AgentDataRow, HeartbeatRequest,
    Interval as WireInterval, ServerResponse,
};

/// `request` of the item-list request.
pub const ACTIVE_CHECKS: &str = msg::ACTIVE_CHECKS;
/// `request` of the value upload.
pub const AGENT_DATA: &str = msg::AGENT_DATA;
/// `request` of the 6.4+/7.0 heartbeat.
pub const HEARTBEAT: &str = msg::ACTIVE_CHECK_HEARTBEAT;

/// A global regular expression of the item list (`regexp`).
pub type GlobalRegexp = msg::Regexp;
/// A 7.0 remote command of the item list (`commands`).
pub type RemoteCommand = msg::RemoteCommand;
/// The result of a remote command, sent back in agent data.
pub type CommandResult = msg::CommandResult;

/// What we tell the server about ourselves in "active checks".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveChecksRequest<'a> {
    /// The host name.
    pub host: &'a str,
    /// Full agent version (`6.0.14`): ≥ 4.4 selects the itemid response format.
    pub version: &'a str,
    /// 1 = C agent.
    pub variant: u8,
    /// 32 lowercase hex characters, one per worker and agent start.
    pub session: &'a str,
    /// Revision of the item list we hold (0 at start).
    pub config_revision: u64,
    /// `HostMetadata(Item)`.
    pub host_metadata: Option<&'a str>,
    /// `HostInterface(Item)`.
    pub interface: Option<&'a str>,
    /// First `ListenIP`, when set explicitly.
    pub ip: Option<String>,
    /// `ListenPort` when not 10050.
    pub port: Option<u16>,
}

impl ActiveChecksRequest<'_> {
    /// The JSON payload (itemid dialect, 7.0 field order).
    pub fn to_payload(&self) -> Vec<u8> {
        let mut r = msg::ActiveChecksRequest::new(self.host);
        r.host_metadata = self.host_metadata.map(str::to_string);
        r.interface = self.interface.map(str::to_string);
        r.ip = self.ip.clone();
        r.port = self.port;
        r.config_revision = Some(self.config_revision);
        r.session = Some(self.session.to_string());
        r.version = Some(self.version.to_string());
        r.variant = Some(self.variant);
        // Serialising plain structs of strings and integers cannot fail.
        serde_json::to_vec(&r).unwrap_or_default()
    }
}

/// What the server answered to "active checks", normalised over both formats.
#[derive(Debug, Clone, PartialEq)]
pub enum ActiveChecksReply {
    /// The item list (or `None` = "unchanged", when `data` was omitted).
    Success {
        /// Items, `None` when the server left `data` out.
        items: Option<Vec<ActiveItem>>,
        /// Global regular expressions referenced by log items.
        regexps: Vec<GlobalRegexp>,
        /// `config_revision`, present from 6.4 on (absent from 6.0 servers).
        config_revision: Option<u64>,
        /// 7.0 remote commands queued for the host.
        commands: Vec<RemoteCommand>,
        /// 7.0 `upload: "disabled"`: send no values until a later list omits it.
        upload_disabled: bool,
    },
    /// A 7.0 proxy group asks the agent to go elsewhere.
    Redirect(Redirect),
    /// `{"response":"failed","info":"host [x] not found"}` and friends.
    Failed(String),
}

/// `redirect` of a failed 7.0 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// Connect to this `host:port` from now on.
    To {
        /// `address` as sent.
        address: String,
        /// `revision` of the redirect.
        revision: u64,
    },
    /// Go back to the configured servers.
    Reset,
}

/// One active item, from either response format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveItem {
    /// `itemid` (itemid format); `None` in the legacy format.
    pub itemid: Option<u64>,
    /// Macro-expanded key (what we run).
    pub key: String,
    /// The original key (legacy format): what legacy agent data must report.
    pub key_orig: String,
    /// The interval: a string in the itemid format, integer seconds in the legacy one.
    pub delay: Delay,
    /// Bytes of a log file already processed (log items).
    pub lastlogsize: u64,
    /// Modification time of the last processed file (logrt items).
    pub mtime: i64,
    /// 7.0 per-item timeout string (`"3s"`), if sent.
    pub timeout: Option<String>,
}

/// An item interval as the server wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delay {
    /// Itemid format: `"5s"`, `"10s;5s/1-7,00:00-24:00"`.
    Text(String),
    /// Legacy format: integer seconds (0 for intervals the legacy format cannot carry).
    Seconds(u64),
}

/// The response is not what the protocol says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// Not JSON, or not the expected shape.
    #[error("cannot parse the server's reply: {0}")]
    Json(String),
    /// A field is missing or has the wrong value.
    #[error("unexpected reply from the server: {0}")]
    Shape(&'static str),
}

/// Parses the server's answer to "active checks".
///
/// A row of `data` that is not a valid item (`"key":null`, a missing `delay`) is skipped
/// — as zabbix_agentd skips it — and logged once per distinct reason; the other rows are
/// kept.
pub fn parse_active_checks(payload: &[u8]) -> Result<ActiveChecksReply, ReplyError> {
    let json = |e: serde_json::Error| ReplyError::Json(e.to_string());
    let mut whole: serde_json::Value = serde_json::from_slice(payload).map_err(json)?;
    // The rows are decoded one by one below, so that one bad row costs only itself.
    let rows = whole.as_object_mut().and_then(|o| o.remove("data"));
    let mut r: ActiveChecksResponse = serde_json::from_value(whole).map_err(json)?;
    r.data = match rows {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Array(rows)) => Some(
            rows.into_iter()
                .filter_map(|row| match serde_json::from_value::<msg::ActiveItem>(row) {
                    Ok(item) => Some(item),
                    Err(e) => {
                        skipped_row(&e.to_string());
                        None
                    }
                })
                .collect(),
        ),
        Some(_) => return Err(ReplyError::Shape("\"data\" is not an array")),
    };
    if !r.is_success() {
        if let Some(red) = r.redirect {
            if red.reset == Some(true) {
                return Ok(ActiveChecksReply::Redirect(Redirect::Reset));
            }
            let address = red
                .address
                .ok_or(ReplyError::Shape("redirect without \"address\""))?;
            return Ok(ActiveChecksReply::Redirect(Redirect::To {
                address,
                revision: red.revision.unwrap_or(0),
            }));
        }
        return Ok(ActiveChecksReply::Failed(
            r.info.unwrap_or_else(|| "no info in the reply".to_string()),
        ));
    }
    let items = r.data.map(|rows| {
        rows.into_iter()
            .map(|i| ActiveItem {
                key_orig: i.reported_key().to_string(),
                itemid: i.itemid,
                delay: match i.delay {
                    WireInterval::Text(t) => Delay::Text(t),
                    WireInterval::Seconds(n) => Delay::Seconds(n),
                },
                lastlogsize: i.lastlogsize,
                mtime: i.mtime,
                timeout: i.timeout.map(|t| match t {
                    WireInterval::Text(t) => t,
                    WireInterval::Seconds(n) => n.to_string(),
                }),
                key: i.key,
            })
            .collect()
    });
    Ok(ActiveChecksReply::Success {
        items,
        regexps: r.regexp.unwrap_or_default(),
        config_revision: r.config_revision,
        commands: r.commands.unwrap_or_default(),
        upload_disabled: r.upload.as_deref() == Some("disabled"),
    })
}

/// Logs a skipped item row once per distinct reason (the list is fetched again every
/// RefreshActiveChecks; the same bad row would otherwise be logged each time).
fn skipped_row(reason: &str) {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let Ok(mut seen) = SEEN.lock() else {
        return;
    };
    if seen.iter().any(|r| r == reason) {
        return;
    }
    if seen.len() < 64 {
        seen.push(reason.to_string());
    }
    tracing::warn!(
        reason,
        "Skipping an invalid item in the server's active-check list (the other items are kept)"
    );
}

/// How an item is referred to in agent data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemRef {
    /// Itemid dialect.
    Id(u64),
    /// Legacy dialect: the original key (`key_orig`).
    Key(String),
}

/// One buffered value, ready to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Which item.
    pub item: ItemRef,
    /// The value, or the reason when `state` is 1; `None` for a pure log metadata update.
    pub value: Option<String>,
    /// 1 = not supported.
    pub unsupported: bool,
    /// Log items: offset after this line.
    pub lastlogsize: Option<u64>,
    /// logrt items: the file's mtime.
    pub mtime: Option<i64>,
    /// Per-session id.
    pub id: u64,
    /// Collection time.
    pub clock: i64,
    /// Nanoseconds of `clock`.
    pub ns: u32,
}

/// Who is sending: fills the top level of agent data.
#[derive(Debug, Clone, Copy)]
pub struct Sender<'a> {
    /// The host name.
    pub host: &'a str,
    /// Agent version string.
    pub version: &'a str,
    /// Agent variant.
    pub variant: u8,
    /// The worker's session token.
    pub session: &'a str,
}

/// Builds an "agent data" payload. Itemid rows get `host`/`version`/`variant` at the top
/// level (without them a server ignores the rows); legacy rows carry `host` and the
/// original key per row and no `version` (which would make the server look for itemids).
pub fn agent_data(sender: Sender<'_>, rows: &[Row], clock: i64, ns: u32) -> Vec<u8> {
    agent_data_with(sender, rows, &[], clock, ns)
}

/// [`agent_data`] with 7.0 remote-command results (`commands`, omitted when empty).
pub fn agent_data_with(
    sender: Sender<'_>,
    rows: &[Row],
    commands: &[CommandResult],
    clock: i64,
    ns: u32,
) -> Vec<u8> {
    let legacy = rows.iter().any(|r| matches!(r.item, ItemRef::Key(_)));
    let data = rows
        .iter()
        .map(|r| {
            let (host, key, itemid) = match &r.item {
                ItemRef::Id(id) => (None, None, Some(*id)),
                ItemRef::Key(k) => (Some(sender.host.to_string()), Some(k.clone()), None),
            };
            AgentDataRow {
                host,
                key,
                itemid,
                value: r.value.clone(),
                state: r.unsupported.then_some(1),
                lastlogsize: if r.unsupported { None } else { r.lastlogsize },
                mtime: if r.unsupported { None } else { r.mtime },
                id: Some(r.id),
                clock: Some(r.clock),
                ns: Some(r.ns),
                ..AgentDataRow::default()
            }
        })
        .collect();
    let mut out = AgentDataRequest::new(sender.session, data);
    out.commands = (!commands.is_empty()).then(|| commands.to_vec());
    if !legacy {
        out.version = Some(sender.version.to_string());
        out.variant = Some(sender.variant);
        out.host = Some(sender.host.to_string());
    }
    out.clock = Some(clock);
    out.ns = Some(ns);
    serde_json::to_vec(&out).unwrap_or_default()
}

/// The heartbeat payload.
pub fn heartbeat(sender: Sender<'_>, freq_secs: u32) -> Vec<u8> {
    let mut h = HeartbeatRequest::new(sender.host, freq_secs);
    h.version = Some(sender.version.to_string());
    h.variant = Some(sender.variant);
    serde_json::to_vec(&h).unwrap_or_default()
}

/// The server's answer to agent/sender data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataReply {
    /// `response == "success"`.
    pub success: bool,
    /// `info`, when present.
    pub info: Option<String>,
    /// 7.0 `upload: "disabled"`.
    pub upload_disabled: bool,
}

/// Parses `{"response":"success","info":"processed: 1; ..."}`.
pub fn parse_data_reply(payload: &[u8]) -> Result<DataReply, ReplyError> {
    let r: ServerResponse =
        serde_json::from_slice(payload).map_err(|e| ReplyError::Json(e.to_string()))?;
    Ok(DataReply {
        success: r.is_success(),
        upload_disabled: r.upload.as_deref() == Some("disabled"),
        info: r.info,
    })
}

/// `processed: 7; failed: 0; total: 7; seconds spent: 0.000245` → (processed, failed, total).
pub fn parse_info_counts(info: &str) -> Option<(u64, u64, u64)> {
    msg::ProcessedInfo::parse(info)
        .ok()
        .map(|p| (p.processed, p.failed, p.total))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::Value as Json;

    const VECTORS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/zbx-proto/tests/vectors"
    );

    fn vector(name: &str) -> Vec<u8> {
        std::fs::read(format!("{VECTORS}/{name}")).unwrap()
    }

    #[test]
    fn itemid_format_from_the_6_0_server() {
        let r = parse_active_checks(&vector("probes/active-checks-version-7.0.0.response.json"))
            .unwrap();
        let ActiveChecksReply::Success {
            items: Some(items),
            config_revision,
            regexps,
            ..
        } = r
        else {
            panic!("{r:?}")
        };
        assert_eq!(config_revision, None);
        assert!(regexps.is_empty());
        assert_eq!(items.len(), 6);
        assert_eq!(items[0].itemid, Some(900016));
        assert_eq!(items[0].delay, Delay::Text("1h;m/1".into()));
        let log = &items[5];
        assert_eq!(log.key, "log[/var/log/vector-test.log]");
        assert_eq!(log.lastlogsize, 34);
    }

    #[test]
    fn an_invalid_row_is_skipped_not_the_whole_list() {
        let r = parse_active_checks(
            br#"{"response":"success","data":[{"key":null,"itemid":1,"delay":"1m"},{"key":"agent.ping","itemid":2,"delay":"1m"},{"itemid":3},7]}"#,
        )
        .unwrap();
        let ActiveChecksReply::Success {
            items: Some(items), ..
        } = r
        else {
            panic!("{r:?}")
        };
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].key, "agent.ping");
        assert_eq!(items[0].itemid, Some(2));
        assert!(matches!(
            parse_active_checks(br#"{"response":"success","data":{}}"#),
            Err(ReplyError::Shape(_))
        ));
    }

    #[test]
    fn legacy_format() {
        let r = parse_active_checks(&vector("active/agentd-active-checks.response.json")).unwrap();
        let ActiveChecksReply::Success {
            items: Some(items), ..
        } = r
        else {
            panic!("{r:?}")
        };
        let echo = items
            .iter()
            .find(|i| i.key.starts_with("vector.echo"))
            .unwrap();
        assert_eq!(echo.itemid, None);
        assert_eq!(echo.key_orig, "vector.echo[{$VEC}]");
        assert_eq!(echo.delay, Delay::Seconds(0));
        assert_eq!(items[1].key_orig, "agent.ping");
        assert_eq!(items[1].delay, Delay::Seconds(5));
    }

    #[test]
    fn failure_and_missing_data_and_7_0_fields() {
        let r = parse_active_checks(&vector("probes/active-checks-unknown-host.response.json"))
            .unwrap();
        assert_eq!(
            r,
            ActiveChecksReply::Failed("host [vector-unknown] not found".into())
        );
        let r = parse_active_checks(br#"{"response":"success","config_revision":12}"#).unwrap();
        assert_eq!(
            r,
            ActiveChecksReply::Success {
                items: None,
                regexps: vec![],
                config_revision: Some(12),
                commands: vec![],
                upload_disabled: false,
            }
        );
        let r = parse_active_checks(
            br#"{"response":"success","config_revision":3,"data":[{"key":"log[/x,@errs]","itemid":5,"delay":"1m","lastlogsize":0,"mtime":0,"timeout":"3s"}],
                "regexp":[{"name":"errs","expression":"error","expression_type":3,"exp_delimiter":",","case_sensitive":0}]}"#,
        )
        .unwrap();
        let ActiveChecksReply::Success {
            items: Some(items),
            regexps,
            config_revision: Some(3),
            ..
        } = r
        else {
            panic!()
        };
        assert_eq!(items[0].timeout.as_deref(), Some("3s"));
        assert_eq!(regexps[0].name, "errs");
        assert_eq!(regexps[0].expression_type, 3);
        let r = parse_active_checks(
            br#"{"response":"failed","redirect":{"revision":7,"address":"10.0.0.2:10051"}}"#,
        )
        .unwrap();
        assert_eq!(
            r,
            ActiveChecksReply::Redirect(Redirect::To {
                address: "10.0.0.2:10051".into(),
                revision: 7
            })
        );
        let r = parse_active_checks(br#"{"response":"failed","redirect":{"reset":true}}"#).unwrap();
        assert_eq!(r, ActiveChecksReply::Redirect(Redirect::Reset));
        assert!(parse_active_checks(b"nonsense").is_err());
    }

    #[test]
    fn agent_data_itemid_shape() {
        let s = Sender {
            host: "vector-host",
            version: "7.0.0",
            variant: 1,
            session: "00112233445566778899aabbccddeeff",
        };
        let rows = vec![
            Row {
                item: ItemRef::Id(900011),
                value: Some("1".into()),
                unsupported: false,
                lastlogsize: None,
                mtime: None,
                id: 1,
                clock: 1795268149,
                ns: 1,
            },
            Row {
                item: ItemRef::Id(900012),
                value: Some("Unsupported item key.".into()),
                unsupported: true,
                lastlogsize: Some(3),
                mtime: None,
                id: 2,
                clock: 1795268149,
                ns: 2,
            },
        ];
        let got = agent_data(s, &rows, 1795268149, 3);
        // Byte-identical to the 7.0-style probe the 6.0 server accepted.
        let want = vector("probes/agent-data-itemid-7.0-style.request.json");
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(want).unwrap().trim_end()
        );
    }

    #[test]
    fn agent_data_legacy_rows() {
        let s = Sender {
            host: "vector-host",
            version: "6.0.14",
            variant: 1,
            session: "adbe2f510dd0128888316d9908cbb20c",
        };
        let rows = vec![Row {
            item: ItemRef::Key("log[/var/log/vector-test.log]".into()),
            value: Some("third line".into()),
            unsupported: false,
            lastlogsize: Some(34),
            mtime: None,
            id: 20,
            clock: 1795267564,
            ns: 4027233,
        }];
        let got = String::from_utf8(agent_data(s, &rows, 1795267565, 4780025)).unwrap();
        let want =
            String::from_utf8(vector("active/agentd-agent-data-log-line.request.json")).unwrap();
        let got: Json = serde_json::from_str(&got).unwrap();
        let want: Json = serde_json::from_str(&want).unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn data_reply_and_counts() {
        let r = parse_data_reply(&vector("active/agentd-agent-data-first.response.json")).unwrap();
        assert!(r.success);
        assert_eq!(
            parse_info_counts(r.info.as_deref().unwrap()),
            Some((7, 0, 7))
        );
        let r =
            parse_data_reply(br#"{"response":"failed","info":"invalid session token length 3"}"#)
                .unwrap();
        assert!(!r.success);
    }
}
