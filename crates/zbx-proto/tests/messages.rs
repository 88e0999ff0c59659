//! The JSON message types against every captured active/probe/sender payload.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use zbx_proto::message::{
    ActiveChecksRequest, ActiveChecksResponse, ActiveItem, AgentDataRequest, AgentDataRow,
    HeartbeatRequest, Interval, PassiveRequest, PassiveResponse, PassiveResult, ProcessedInfo,
    SenderDataRequest, SenderRow, ServerResponse, ACTIVE_CHECKS, ACTIVE_CHECK_HEARTBEAT,
    AGENT_DATA, PASSIVE_CHECKS, SENDER_DATA,
};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// `(relative path, payload without the trailing newline)` of every JSON vector in `sub`.
fn json_files(sub: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir().join(sub))
        .unwrap_or_else(|e| panic!("{sub}: {e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .map(|n| {
            let rel = format!("{sub}/{n}");
            let text =
                std::fs::read_to_string(dir().join(&rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
            (rel, text.trim_end_matches('\n').to_string())
        })
        .collect();
    v.sort();
    v
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(dir().join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .trim_end_matches('\n')
        .to_string()
}

/// Deserialises `text` as `T`, serialises it back and checks nothing was lost or added.
fn round_trip<T: DeserializeOwned + Serialize>(rel: &str, text: &str) -> (T, String) {
    let typed: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let back = serde_json::to_string(&typed).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let want: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let got: Value = serde_json::from_str(&back).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert_eq!(got, want, "{rel}: content changed by a round trip");
    (typed, back)
}

/// Producers whose field order our types follow: 6.0 zabbix_agentd, zabbix_sender and the
/// hand-built 7.0-style probes. Agent 2 orders fields differently (Go struct order), and
/// so does the hand-built `active-checks-with-version` probe (agent 2's order).
fn same_order_as_ours(rel: &str) -> bool {
    !rel.contains("agent2-") && !rel.contains("active-checks-with-version")
}

#[test]
fn every_captured_payload_deserialises_into_our_types_without_loss() {
    let mut counts = [0usize; 6];
    for sub in ["active", "probes", "sender"] {
        for (rel, text) in json_files(sub) {
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
            let exact = same_order_as_ours(&rel);
            if rel.ends_with(".request.json") {
                let back = match v["request"].as_str() {
                    Some(ACTIVE_CHECKS) => {
                        counts[0] += 1;
                        round_trip::<ActiveChecksRequest>(&rel, &text).1
                    }
                    Some(AGENT_DATA) => {
                        counts[1] += 1;
                        round_trip::<AgentDataRequest>(&rel, &text).1
                    }
                    Some(SENDER_DATA) => {
                        counts[2] += 1;
                        round_trip::<SenderDataRequest>(&rel, &text).1
                    }
                    Some(ACTIVE_CHECK_HEARTBEAT) => {
                        counts[3] += 1;
                        round_trip::<HeartbeatRequest>(&rel, &text).1
                    }
                    Some("vector nonsense") => continue,
                    other => panic!("{rel}: unexpected request {other:?}"),
                };
                if exact {
                    assert_eq!(back, text, "{rel}: field order");
                }
            } else {
                let request = read(&rel.replace(".response.json", ".request.json"));
                let back = if request.contains("\"active checks\"") {
                    counts[4] += 1;
                    let (r, back) = round_trip::<ActiveChecksResponse>(&rel, &text);
                    assert_eq!(r.is_success(), r.data.is_some(), "{rel}");
                    back
                } else {
                    counts[5] += 1;
                    let (r, back) = round_trip::<ServerResponse>(&rel, &text);
                    if r.is_success() {
                        let p = r
                            .processed()
                            .unwrap_or_else(|| panic!("{rel}: {:?}", r.info));
                        assert_eq!(p.processed + p.failed, p.total, "{rel}");
                    }
                    back
                };
                // Server replies: our order is the server's.
                assert_eq!(back, text, "{rel}: field order");
            }
        }
    }
    // active checks, agent data, sender data, heartbeat requests; item-list answers; others.
    assert_eq!(counts, [8, 12, 8, 1, 8, 20]);
}

#[test]
fn legacy_item_list_integer_delays_and_key_orig() {
    let text = read("active/agentd-active-checks.response.json");
    let r: ActiveChecksResponse = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let data = r.data.unwrap_or_default();
    assert_eq!(data.len(), 6);
    assert_eq!(data[1].key, "agent.ping");
    assert_eq!(data[1].delay, Interval::Seconds(5));
    assert_eq!(data[1].itemid, None);
    assert_eq!(data[1].reported_key(), "agent.ping");
    // Flexible/scheduling intervals reach the legacy agent as delay 0.
    assert_eq!(data[0].delay, Interval::Seconds(0));
    let echo = &data[4];
    assert_eq!(echo.key, "vector.echo[macro-value]");
    assert_eq!(echo.key_orig.as_deref(), Some("vector.echo[{$VEC}]"));
    assert_eq!(echo.reported_key(), "vector.echo[{$VEC}]");
    let meta = read("active/agentd-active-checks-metadata.response.json");
    let r: ActiveChecksResponse = serde_json::from_str(&meta).unwrap_or_else(|e| panic!("{e}"));
    let log = r
        .data
        .unwrap_or_default()
        .pop()
        .unwrap_or_else(|| panic!("no items"));
    assert_eq!(
        (log.key.as_str(), log.lastlogsize),
        ("log[/var/log/vector-test.log]", 34)
    );
}

#[test]
fn itemid_item_list_string_delays() {
    let text = read("active/agent2-active-checks.response.json");
    let r: ActiveChecksResponse = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let data = r.data.unwrap_or_default();
    let by_id = |id: u64| {
        data.iter()
            .find(|i| i.itemid == Some(id))
            .unwrap_or_else(|| panic!("item {id}"))
    };
    assert_eq!(by_id(900031).delay, Interval::Text("5s".into()));
    assert_eq!(by_id(900031).delay.simple_seconds(), Some(5));
    assert_eq!(
        by_id(900034).delay,
        Interval::Text("10s;5s/1-7,00:00-24:00".into())
    );
    assert_eq!(by_id(900034).delay.simple_seconds(), None);
    assert_eq!(by_id(900036).delay, Interval::Text("1h;m/1".into()));
    assert!(data.iter().all(|i| i.key_orig.is_none()));
}

#[test]
fn interval_simple_seconds() {
    let t = |s: &str| Interval::Text(s.into()).simple_seconds();
    assert_eq!(t("30"), Some(30));
    assert_eq!(t("30s"), Some(30));
    assert_eq!(t("1m"), Some(60));
    assert_eq!(t("2h"), Some(7200));
    assert_eq!(t("1d"), Some(86_400));
    assert_eq!(t("1w"), Some(604_800));
    assert_eq!(t("0"), Some(0));
    assert_eq!(t(""), None);
    assert_eq!(t("s"), None);
    assert_eq!(t("-5"), None);
    assert_eq!(t("5x"), None);
    assert_eq!(t("{$DELAY}"), None);
    assert_eq!(t("50s;10s/1-5,09:00-18:00"), None);
    assert_eq!(t("99999999999999999999w"), None);
    assert_eq!(Interval::Seconds(7).simple_seconds(), Some(7));
}

#[test]
fn a_7_0_answer_without_data_means_unchanged_and_optional_fields_parse() {
    let unchanged: ActiveChecksResponse =
        serde_json::from_str(r#"{"response":"success","config_revision":5}"#)
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(unchanged.is_success());
    assert_eq!(unchanged.data, None);
    assert_eq!(unchanged.config_revision, Some(5));

    let full = r#"{"response":"success","config_revision":6,"data":[{"key":"agent.ping","itemid":1,"delay":"5s","lastlogsize":0,"mtime":0,"timeout":"3s"}],"regexp":[{"name":"errors","expression":"ERROR|FATAL","expression_type":3,"exp_delimiter":",","case_sensitive":1}],"commands":[{"command":"uptime","id":42,"wait":1,"timeout":30}],"upload":"disabled","refresh_unsupported":600}"#;
    let (r, back) = round_trip::<ActiveChecksResponse>("7.0 sample", full);
    assert_eq!(back, full, "the 7.x server's field order");
    let item = &r.data.as_deref().unwrap_or_default()[0];
    assert_eq!(item.timeout, Some(Interval::Text("3s".into())));
    let re = &r.regexp.as_deref().unwrap_or_default()[0];
    assert_eq!(
        (re.name.as_str(), re.expression_type, re.case_sensitive),
        ("errors", 3, 1)
    );
    let cmd = &r.commands.as_deref().unwrap_or_default()[0];
    assert_eq!((cmd.command.as_str(), cmd.id, cmd.wait), ("uptime", 42, 1));
    assert_eq!(cmd.timeout, Some(Interval::Seconds(30)));
    assert_eq!(r.upload.as_deref(), Some("disabled"));

    let redirect: ActiveChecksResponse = serde_json::from_str(
        r#"{"response":"failed","redirect":{"revision":3,"address":"192.0.2.7:10051"}}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let to = redirect.redirect.unwrap_or_else(|| panic!("no redirect"));
    assert_eq!(
        (to.revision, to.address.as_deref()),
        (Some(3), Some("192.0.2.7:10051"))
    );
    let reset: ActiveChecksResponse =
        serde_json::from_str(r#"{"response":"failed","redirect":{"reset":true}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reset.redirect.and_then(|r| r.reset), Some(true));

    let failed: ActiveChecksResponse =
        serde_json::from_str(&read("probes/active-checks-unknown-host.response.json"))
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(!failed.is_success());
    assert_eq!(
        failed.info.as_deref(),
        Some("host [vector-unknown] not found")
    );
}

#[test]
fn our_7_0_active_checks_request_is_the_probe_byte_for_byte() {
    let mut req = ActiveChecksRequest::new("vector-host");
    req.config_revision = Some(0);
    req.session = Some("00112233445566778899aabbccddeeff".into());
    req.version = Some("7.0.0".into());
    req.variant = Some(1);
    let ours = serde_json::to_string(&req).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ours,
        read("probes/active-checks-version-7.0.0.request.json")
    );

    // The 6.0 agentd shape is the same struct with the 7.0 fields unset.
    let mut req = ActiveChecksRequest::new("vector-host");
    req.host_metadata = Some("vector-meta".into());
    req.interface = Some("vector-iface".into());
    req.ip = Some("127.0.0.1".into());
    req.port = Some(12050);
    let ours = serde_json::to_string(&req).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ours,
        read("active/agentd-active-checks-metadata.request.json")
    );

    // The 7.0 C agent with metadata (spec §3.2, built from source).
    let mut req = ActiveChecksRequest::new("h");
    req.host_metadata = Some("m".into());
    req.ip = Some("192.0.2.1".into());
    req.port = Some(12050);
    req.config_revision = Some(0);
    req.session = Some("0123456789abcdef0123456789abcdef".into());
    req.version = Some("7.0.0".into());
    req.variant = Some(1);
    assert_eq!(
        serde_json::to_string(&req).unwrap_or_default(),
        r#"{"request":"active checks","host":"h","host_metadata":"m","ip":"192.0.2.1","port":12050,"config_revision":0,"session":"0123456789abcdef0123456789abcdef","version":"7.0.0","variant":1}"#
    );
}

#[test]
fn our_7_0_agent_data_is_the_probe_byte_for_byte() {
    let row = |itemid, value: &str, state, id, ns| AgentDataRow {
        itemid: Some(itemid),
        value: Some(value.into()),
        state,
        id: Some(id),
        clock: Some(1_795_268_149),
        ns: Some(ns),
        ..AgentDataRow::default()
    };
    let mut req = AgentDataRequest::new(
        "00112233445566778899aabbccddeeff",
        vec![
            row(900011, "1", None, 1, 1),
            row(900012, "Unsupported item key.", Some(1), 2, 2),
        ],
    );
    req.version = Some("7.0.0".into());
    req.variant = Some(1);
    req.host = Some("vector-host".into());
    req.clock = Some(1_795_268_149);
    req.ns = Some(3);
    let ours = serde_json::to_string(&req).unwrap_or_else(|e| panic!("{e}"));
    // §3.4: request, session, version, variant, host, data, clock, ns.
    assert_eq!(
        ours,
        read("probes/agent-data-itemid-7.0-style.request.json")
    );
}

#[test]
fn our_legacy_agent_data_is_the_agentd_capture_byte_for_byte() {
    let text = read("active/agentd-agent-data-first.request.json");
    let captured: AgentDataRequest = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    // Rebuild it from scratch rather than from the parse.
    let rows: Vec<AgentDataRow> = captured
        .data
        .iter()
        .map(|r| AgentDataRow {
            host: Some("vector-host".into()),
            key: r.key.clone(),
            value: r.value.clone(),
            state: r.state,
            lastlogsize: r.lastlogsize,
            id: r.id,
            clock: r.clock,
            ns: r.ns,
            ..AgentDataRow::default()
        })
        .collect();
    let mut req = AgentDataRequest::new("adbe2f510dd0128888316d9908cbb20c", rows);
    req.clock = captured.clock;
    req.ns = captured.ns;
    assert_eq!(serde_json::to_string(&req).unwrap_or_default(), text);
    let unsupported = &captured.data[0];
    assert_eq!(unsupported.state, Some(1));
    assert_eq!(
        unsupported.value.as_deref(),
        Some("Incorrect update interval.")
    );
    let log = captured.data.iter().find(|r| r.lastlogsize.is_some());
    assert_eq!(log.and_then(|r| r.lastlogsize), Some(11));
}

#[test]
fn agent2_agent_data_shape_is_understood() {
    let text = read("active/agent2-agent-data-first.request.json");
    let r: AgentDataRequest = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.host.as_deref(), Some("vector-host2"));
    assert_eq!(r.version.as_deref(), Some("6.0"));
    assert_eq!((r.clock, r.ns), (None, None));
    assert_eq!(r.data[0].itemid, Some(900032));
    assert_eq!(r.data[0].state, Some(1));
    assert_eq!(r.data[0].host, None);
}

#[test]
fn our_sender_data_is_zabbix_sender_byte_for_byte() {
    let row = |value: &str, clock| SenderRow {
        host: "vector-host".into(),
        key: "vector.trap".into(),
        value: value.into(),
        clock,
        ns: None,
    };
    let single = SenderDataRequest::new(vec![row("hello trapper", None)]);
    assert_eq!(
        serde_json::to_string(&single).unwrap_or_default(),
        read("sender/real-server-single.request.json")
    );
    let mut ts = SenderDataRequest::new(vec![
        row("10", Some(1_795_267_000)),
        row("11", Some(1_795_267_001)),
    ]);
    ts.clock = Some(1_795_267_571);
    ts.ns = Some(139_385_843);
    assert_eq!(
        serde_json::to_string(&ts).unwrap_or_default(),
        read("sender/real-server-timestamps.request.json")
    );
    let mut ns_row = row("10", Some(1_795_267_000));
    ns_row.ns = Some(123_456_789);
    let mut with_ns = SenderDataRequest::new(vec![ns_row]);
    with_ns.clock = Some(1_795_267_409);
    with_ns.ns = Some(523_238_851);
    assert_eq!(
        serde_json::to_string(&with_ns).unwrap_or_default(),
        read("sender/fake-timestamps-ns.request.json")
    );
}

#[test]
fn our_heartbeat_matches_the_probe_and_the_7_0_shape() {
    let hb = HeartbeatRequest::new("vector-host", 60);
    assert_eq!(
        serde_json::to_string(&hb).unwrap_or_default(),
        read("probes/active-check-heartbeat-to-6.0.request.json")
    );
    let mut hb = HeartbeatRequest::new("h", 60);
    hb.version = Some("7.0.0".into());
    hb.variant = Some(1);
    assert_eq!(
        serde_json::to_string(&hb).unwrap_or_default(),
        r#"{"request":"active check heartbeat","host":"h","heartbeat_freq":60,"version":"7.0.0","variant":1}"#
    );
}

#[test]
fn processed_info_parses_every_captured_line() {
    let p = ProcessedInfo::parse("processed: 7; failed: 0; total: 7; seconds spent: 0.000245")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((p.processed, p.failed, p.total), (7, 0, 7));
    assert!((p.seconds_spent - 0.000245).abs() < 1e-12);
    let p = ProcessedInfo::parse("processed: 0; failed: 1; total: 1; seconds spent: 0.000015")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((p.processed, p.failed, p.total), (0, 1, 1));
    for bad in [
        "",
        "host [vector-unknown] not found",
        "invalid session token length 3",
        "processed: x; failed: 0; total: 7; seconds spent: 0.1",
        "processed: 7; failed: 0; total: 7",
        "failed: 0; processed: 7; total: 7; seconds spent: 0.1",
        "processed: 7; failed: 0; total: 7; seconds spent: 0.1; extra: 1",
        "processed: -1; failed: 0; total: 7; seconds spent: 0.1",
        "processed: 7; failed: 0; total: 7; seconds spent: NaN",
    ] {
        let e = ProcessedInfo::parse(bad);
        assert!(e.is_err(), "{bad:?} parsed as {e:?}");
    }
    let failed: ServerResponse =
        serde_json::from_str(&read("probes/agent-data-bad-session-length.response.json"))
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(!failed.is_success());
    assert_eq!(failed.processed(), None);
    assert_eq!(
        failed.info.as_deref(),
        Some("invalid session token length 3")
    );
}

#[test]
fn passive_json_request_vector_and_response_shapes() {
    let bytes = std::fs::read_to_string(
        dir().join("passive-edge/agentd-json-passive-checks-7.0.request.hex"),
    )
    .unwrap_or_default();
    let bytes: Vec<u8> = (0..bytes.trim().len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&bytes[i..i + 2], 16).ok())
        .collect();
    let req: PassiveRequest =
        serde_json::from_slice(&bytes[13..]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(req.request.as_deref(), Some(PASSIVE_CHECKS));
    let check = &req.data.unwrap_or_default()[0];
    assert_eq!(check.key.as_deref(), Some("agent.ping"));
    assert_eq!(check.timeout, Some(serde_json::json!(3)));

    let ok = PassiveResponse {
        version: "7.0.0".into(),
        variant: 1,
        data: Some(vec![PassiveResult::Value {
            value: Some("1".into()),
        }]),
        error: None,
    };
    assert_eq!(
        serde_json::to_string(&ok).unwrap_or_default(),
        r#"{"version":"7.0.0","variant":1,"data":[{"value":"1"}]}"#
    );
    let err = PassiveResponse {
        version: "7.0.0".into(),
        variant: 1,
        data: Some(vec![PassiveResult::Error {
            error: "Unsupported item key.".into(),
        }]),
        error: None,
    };
    assert_eq!(
        serde_json::to_string(&err).unwrap_or_default(),
        r#"{"version":"7.0.0","variant":1,"data":[{"error":"Unsupported item key."}]}"#
    );
    let none = PassiveResult::Value { value: None };
    assert_eq!(
        serde_json::to_string(&none).unwrap_or_default(),
        r#"{"value":null}"#
    );
    let parsed: PassiveResponse = serde_json::from_str(
        r#"{"version":"7.0.0","variant":1,"error":"unknown request \"foo\""}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.error.as_deref(), Some("unknown request \"foo\""));
    assert_eq!(parsed.data, None);
}

#[test]
fn active_item_defaults_lastlogsize_and_mtime() {
    let item: ActiveItem = serde_json::from_str(r#"{"key":"agent.ping","delay":30}"#)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((item.lastlogsize, item.mtime), (0, 0));
}
