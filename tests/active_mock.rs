//! Active checks against a scripted stand-in server (no lab needed): the 7.0 paths a 6.0
//! server cannot show (config_revision, "unchanged" item lists, heartbeats, redirects),
//! the legacy answer format, HA fail-over and failure answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use zagent::config::{ActiveAddr, ActiveServer, Config};
use zagent::keys::AgentCtx;
use zagent::transport;
use zbx_proto::frame::{self, Limits};

mod util;

type Handler = dyn Fn(&Value) -> Option<Value> + Send + Sync;

/// A fake trapper: records every request, answers with `handler` (None = close silently).
struct Mock {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Mock {
    async fn start(handler: Arc<Handler>) -> Mock {
        Mock::start_at("127.0.0.1:0".parse().unwrap(), handler, Arc::default()).await
    }

    /// A mock on `addr` that appends to `log` (to continue the log of a stopped one).
    async fn start_at(
        addr: SocketAddr,
        handler: Arc<Handler>,
        log: Arc<Mutex<Vec<Value>>>,
    ) -> Mock {
        let l = TcpListener::bind(addr).await.unwrap();
        let addr = l.local_addr().unwrap();
        let log2 = Arc::clone(&log);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                let Ok(Some(f)) = transport::read_frame(&mut s, &Limits::REPLY).await else {
                    continue;
                };
                // zabbix_agentd sends a log line's bytes that are not UTF-8 raw inside its JSON.
                let text = String::from_utf8_lossy(&f.payload);
                let v: Value = serde_json::from_str(&text).unwrap();
                log2.lock().unwrap().push(v.clone());
                if let Some(reply) = handler(&v) {
                    let bytes = frame::encode(reply.to_string().as_bytes());
                    let _ = transport::write_all(&mut s, &bytes).await;
                }
            }
        });
        Mock { addr, log, task }
    }

    /// Stops listening (connections are refused from now on); returns the log.
    async fn stop(self) -> Arc<Mutex<Vec<Value>>> {
        self.task.abort();
        let _ = self.task.await;
        self.log
    }

    fn requests(&self, kind: &str) -> Vec<Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|v| v["request"] == kind)
            .cloned()
            .collect()
    }

    fn rows(&self) -> Vec<Value> {
        self.requests("agent data")
            .iter()
            .flat_map(|r| r["data"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    fn addr(&self) -> ActiveAddr {
        ActiveAddr {
            host: "127.0.0.1".into(),
            port: self.addr.port(),
        }
    }
}

fn ok_data() -> Value {
    json!({"response":"success","info":"processed: 1; failed: 0; total: 1; seconds spent: 0.000010"})
}

fn config(nodes: Vec<ActiveAddr>) -> Config {
    Config {
        server_active: vec![ActiveServer { nodes }],
        hostnames: vec!["mock-host".into()],
        hostname_set: true,
        refresh_active_checks: Duration::from_secs(1),
        buffer_send: Duration::from_secs(1),
        heartbeat_frequency: Duration::from_secs(1),
        ..Config::default()
    }
}

/// Runs the agent for `secs` seconds, then stops it (bounded shutdown).
async fn run_for(cfg: Config, secs: u64) {
    let stop = CancellationToken::new();
    let task = tokio::spawn(zagent::active::run(
        AgentCtx::new(Arc::new(cfg)),
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(6), task)
        .await
        .expect("active::run did not stop in time")
        .unwrap();
}

fn ids(rows: &[Value]) -> Vec<u64> {
    rows.iter().map(|r| r["id"].as_u64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn itemid_dialect_with_revision_heartbeat_and_unchanged_lists() {
    let handler: Arc<Handler> = Arc::new(|req: &Value| match req["request"].as_str() {
        Some("active checks") => {
            if req["config_revision"] == 0 {
                Some(json!({"response":"success","config_revision":5,"data":[
                    {"key":"agent.ping","itemid":11,"delay":"1s","lastlogsize":0,"mtime":0},
                    {"key":"agent.version","itemid":12,"delay":"1x","lastlogsize":0,"mtime":0},
                    {"key":"mock.no.such.key","itemid":13,"delay":"1s","lastlogsize":0,"mtime":0}]}))
            } else {
                // Same revision: no data = keep the list.
                Some(json!({"response":"success","config_revision":5}))
            }
        }
        Some("agent data") => Some(ok_data()),
        _ => None, // heartbeat: no answer, like the server
    });
    let m = Mock::start(handler).await;
    run_for(config(vec![m.addr()]), 4).await;

    let checks = m.requests("active checks");
    assert!(checks.len() >= 2, "{checks:?}");
    let first = &checks[0];
    assert_eq!(first["host"], "mock-host");
    assert_eq!(first["version"], "6.0.14");
    assert_eq!(first["variant"], 1);
    assert_eq!(first["config_revision"], 0);
    let session = first["session"].as_str().unwrap();
    assert_eq!(session.len(), 32);
    assert!(session
        .bytes()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(
        checks[1]["config_revision"], 5,
        "the held revision is sent back"
    );
    assert!(first.get("ip").is_none() && first.get("port").is_none());

    let data = m.requests("agent data");
    for d in &data {
        assert_eq!(d["host"], "mock-host");
        assert_eq!(d["session"], session);
        assert_eq!(d["version"], "6.0.14");
        assert!(d["clock"].is_i64() && d["ns"].is_u64());
    }
    let rows = m.rows();
    let ids = ids(&rows);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids must increase: {ids:?}"
    );
    assert_eq!(ids[0], 1);
    let pings: Vec<&Value> = rows.iter().filter(|r| r["itemid"] == 11).collect();
    assert!(
        pings.len() >= 3,
        "the unchanged list keeps running: {rows:?}"
    );
    assert!(pings
        .iter()
        .all(|r| r["value"] == "1" && r.get("state").is_none()));
    let bad: Vec<&Value> = rows.iter().filter(|r| r["itemid"] == 12).collect();
    assert_eq!(bad.len(), 1, "reported once: {bad:?}");
    assert_eq!(bad[0]["state"], 1);
    assert_eq!(bad[0]["value"], "Incorrect update interval.");
    let unsup: Vec<&Value> = rows.iter().filter(|r| r["itemid"] == 13).collect();
    assert!(
        unsup.len() >= 3,
        "reported at every check, as the C agent does: {unsup:?}"
    );
    assert!(unsup
        .iter()
        .all(|r| r["state"] == 1 && r["value"] == "Unsupported item key."));

    let hb = m.requests("active check heartbeat");
    assert!(
        !hb.is_empty(),
        "a server with config_revision gets heartbeats"
    );
    assert_eq!(hb[0]["host"], "mock-host");
    assert_eq!(hb[0]["heartbeat_freq"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_heartbeat_to_a_6_0_server_and_legacy_rows() {
    // Legacy answer (no itemid, integer delay, key_orig): rows carry host and key_orig,
    // and no top-level version (which would make the server look for itemids).
    let handler: Arc<Handler> = Arc::new(|req: &Value| match req["request"].as_str() {
        Some("active checks") => Some(json!({"response":"success","data":[
            {"key":"agent.ping","delay":1,"lastlogsize":0,"mtime":0},
            {"key":"agent.hostname","key_orig":"agent.hostname","delay":0,"lastlogsize":0,"mtime":0},
            {"key":"agent.version","key_orig":"{$MACRO_KEY}","delay":1,"lastlogsize":0,"mtime":0}]})),
        Some("agent data") => Some(ok_data()),
        _ => None,
    });
    let m = Mock::start(handler).await;
    run_for(config(vec![m.addr()]), 3).await;
    assert!(
        m.requests("active check heartbeat").is_empty(),
        "6.0 servers log a warning per heartbeat"
    );
    let data = m.requests("agent data");
    assert!(!data.is_empty());
    assert!(data
        .iter()
        .all(|d| d.get("version").is_none() && d.get("host").is_none()));
    let rows = m.rows();
    assert!(rows
        .iter()
        .all(|r| r["host"] == "mock-host" && r.get("itemid").is_none()));
    assert!(rows
        .iter()
        .any(|r| r["key"] == "agent.ping" && r["value"] == "1"));
    assert!(rows
        .iter()
        .any(|r| r["key"] == "{$MACRO_KEY}" && r["value"] == "6.0.14"));
    let hn: Vec<&Value> = rows
        .iter()
        .filter(|r| r["key"] == "agent.hostname")
        .collect();
    assert_eq!(hn.len(), 1);
    assert_eq!(hn[0]["value"], "Incorrect update interval.");
    assert_eq!(hn[0]["state"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ha_failover_redirect_and_failure_answers() {
    let items = || {
        json!({"response":"success","data":[
            {"key":"agent.ping","itemid":21,"delay":"1s","lastlogsize":0,"mtime":0}]})
    };
    // The node the redirect points to.
    let target = Mock::start(Arc::new(move |req: &Value| match req["request"].as_str() {
        Some("active checks") => Some(items()),
        Some("agent data") => Some(ok_data()),
        _ => None,
    }))
    .await;
    let to = format!("127.0.0.1:{}", target.addr.port());
    // The second node of the cluster: redirects (7.0 proxy groups).
    let redirector = Mock::start(Arc::new(move |req: &Value| match req["request"].as_str() {
        Some("active checks") => {
            Some(json!({"response":"failed","redirect":{"revision":1,"address":to}}))
        }
        _ => Some(ok_data()),
    }))
    .await;
    // The first node is down.
    let dead = ActiveAddr {
        host: "127.0.0.1".into(),
        port: {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        },
    };
    run_for(config(vec![dead, redirector.addr()]), 3).await;
    assert!(
        !redirector.requests("active checks").is_empty(),
        "the live node was tried"
    );
    assert!(
        !target.requests("active checks").is_empty(),
        "the redirect was followed"
    );
    let rows = target.rows();
    assert!(
        rows.iter().any(|r| r["itemid"] == 21),
        "values go to the redirect target"
    );

    // A server that keeps redirecting to itself does not get a request storm.
    let looping = Arc::new(Mutex::new(String::new()));
    let target_addr = Arc::clone(&looping);
    let looper = Mock::start(Arc::new(move |_: &Value| {
        let to = target_addr.lock().unwrap().clone();
        Some(json!({"response":"failed","redirect":{"revision":1,"address":to}}))
    }))
    .await;
    *looping.lock().unwrap() = format!("127.0.0.1:{}", looper.addr.port());
    run_for(config(vec![looper.addr()]), 3).await;
    let n = looper.requests("active checks").len();
    assert!(
        (2..=20).contains(&n),
        "redirect loop bounded: {n} requests in 3 s"
    );

    // host not found: logged once, retried after RefreshActiveChecks, no values sent.
    let failing = Mock::start(Arc::new(|req: &Value| match req["request"].as_str() {
        Some("active checks") => {
            Some(json!({"response":"failed","info":"host [mock-host] not found"}))
        }
        _ => Some(ok_data()),
    }))
    .await;
    let mut cfg = config(vec![failing.addr()]);
    cfg.refresh_active_checks = Duration::from_secs(2);
    run_for(cfg, 3).await;
    let n = failing.requests("active checks").len();
    assert!(
        (1..=2).contains(&n),
        "retried after the refresh interval only: {n}"
    );
    assert!(failing.requests("agent data").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_interface_ip_port_and_hostname_item() {
    let m = Mock::start(Arc::new(|req: &Value| match req["request"].as_str() {
        Some("active checks") => Some(json!({"response":"success","data":[]})),
        _ => Some(ok_data()),
    }))
    .await;
    let mut cfg = config(vec![m.addr()]);
    cfg.hostnames = vec!["h-one".into(), "h-two".into()];
    cfg.host_metadata_item = Some("agent.version".into());
    cfg.host_interface = Some("mock-iface".into());
    cfg.listen_ip = vec!["127.0.0.2".parse().unwrap()];
    cfg.listen_ip_set = true;
    cfg.listen_port = 12050;
    run_for(cfg, 1).await;
    let checks = m.requests("active checks");
    let hosts: Vec<&str> = checks.iter().map(|c| c["host"].as_str().unwrap()).collect();
    assert!(
        hosts.contains(&"h-one") && hosts.contains(&"h-two"),
        "{hosts:?}"
    );
    let sessions: std::collections::HashSet<&str> = checks
        .iter()
        .map(|c| c["session"].as_str().unwrap())
        .collect();
    assert_eq!(sessions.len(), 2, "one session per host");
    let c = &checks[0];
    assert_eq!(c["host_metadata"], "6.0.14");
    assert_eq!(c["interface"], "mock-iface");
    assert_eq!(c["ip"], "127.0.0.2");
    assert_eq!(c["port"], 12050);

    // Hostname unset: HostnameItem through the registry.
    let mut cfg = config(vec![m.addr()]);
    cfg.hostnames.clear();
    cfg.hostname_set = false;
    cfg.hostname_item = "agent.version".into();
    let ctx = AgentCtx::new(Arc::new(cfg));
    assert_eq!(
        zagent::active::hostnames(&ctx).await,
        vec!["6.0.14".to_string()]
    );
}

/// A HostMetadataItem answering several lines: zabbix_agentd takes its string form, the
/// first line (what `zabbix_agentd -t agent.hostmetadata` shows as `[s|first]`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_item_text_sends_its_first_line() {
    let m = Mock::start(Arc::new(|req: &Value| match req["request"].as_str() {
        Some("active checks") => Some(json!({"response":"success","data":[]})),
        _ => Some(ok_data()),
    }))
    .await;
    let mut cfg = config(vec![m.addr()]);
    cfg.host_metadata_item = Some("system.run[printf 'first\\r\\nsecond']".into());
    run_for(cfg, 1).await;
    let checks = m.requests("active checks");
    assert!(!checks.is_empty());
    assert_eq!(checks[0]["host_metadata"], "first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_buffer_keeps_every_log_line_and_drops_old_values() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mock.log");
    let lines: Vec<String> = (1..=6).map(|i| format!("line {i}")).collect();
    std::fs::write(
        &path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    let key = format!("log[{}]", path.display());
    let accepting = Arc::new(AtomicBool::new(false));
    let accepted: Arc<Mutex<Vec<Value>>> = Arc::new(Mutex::new(Vec::new()));
    let (acc, seen, k) = (Arc::clone(&accepting), Arc::clone(&accepted), key.clone());
    let m = Mock::start(Arc::new(move |req: &Value| match req["request"].as_str() {
        Some("active checks") => Some(json!({"response":"success","data":[
            {"key":"agent.ping","itemid":1,"delay":"1s","lastlogsize":0,"mtime":0},
            {"key":k,"itemid":2,"delay":"1s","lastlogsize":0,"mtime":0}]})),
        Some("agent data") if acc.load(Ordering::SeqCst) => {
            seen.lock()
                .unwrap()
                .extend(req["data"].as_array().cloned().unwrap_or_default());
            Some(ok_data())
        }
        _ => None, // the server "is down" for values: close without an answer
    }))
    .await;
    let mut cfg = config(vec![m.addr()]);
    cfg.buffer_size = 4; // at most 2 log values in the buffer
    cfg.refresh_active_checks = Duration::from_secs(2);
    let stop = CancellationToken::new();
    let task = tokio::spawn(zagent::active::run(
        AgentCtx::new(Arc::new(cfg)),
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(4)).await;
    let tried = m.requests("agent data");
    assert!(!tried.is_empty(), "the agent kept trying");
    // While the server refuses, the buffer never holds more than BufferSize values and
    // never more than half of them from the log.
    for r in &tried {
        let rows = r["data"].as_array().unwrap();
        assert!(rows.len() <= 4, "{rows:?}");
        assert!(
            rows.iter().filter(|r| r["itemid"] == 2).count() <= 2,
            "{rows:?}"
        );
    }
    accepting.store(true, Ordering::SeqCst);
    // Until every line has arrived (bounded), plus a little for any duplicate to show.
    for _ in 0..60 {
        let n = accepted
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r["itemid"] == 2 && r.get("value").is_some())
            .count();
        if n >= lines.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(6), task)
        .await
        .unwrap()
        .unwrap();

    let rows = accepted.lock().unwrap().clone();
    let ids = ids(&rows);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    let logs: Vec<&str> = rows
        .iter()
        .filter(|r| r["itemid"] == 2 && r.get("value").is_some())
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        logs,
        lines.iter().map(String::as_str).collect::<Vec<_>>(),
        "every line once, in order"
    );
    let sizes: Vec<u64> = rows
        .iter()
        .filter(|r| r["itemid"] == 2)
        .map(|r| r["lastlogsize"].as_u64().unwrap())
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    assert_eq!(*sizes.last().unwrap(), 42);
    assert!(rows.iter().any(|r| r["itemid"] == 1), "pings resume");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_frequency_0_turns_heartbeats_off() {
    let m = Mock::start(Arc::new(|req: &Value| match req["request"].as_str() {
        Some("active checks") => Some(json!({"response":"success","config_revision":1,"data":[]})),
        Some("agent data") => Some(ok_data()),
        _ => None,
    }))
    .await;
    let mut cfg = config(vec![m.addr()]);
    cfg.heartbeat_frequency = Duration::ZERO;
    run_for(cfg, 2).await;
    assert!(!m.requests("active checks").is_empty());
    assert!(m.requests("active check heartbeat").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_items_obey_alias_and_denykey() {
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().join("allowed.log");
    let denied = dir.path().join("denied.log");
    std::fs::write(&allowed, "via alias\n").unwrap();
    std::fs::write(&denied, "secret\n").unwrap();
    let denied_key = format!("log[{}]", denied.display());
    let m = Mock::start(Arc::new(move |req: &Value| match req["request"].as_str() {
        Some("active checks") => Some(json!({"response":"success","data":[
            {"key":"app.log","itemid":31,"delay":"1s","lastlogsize":0,"mtime":0},
            {"key":denied_key,"itemid":32,"delay":"1s","lastlogsize":0,"mtime":0}]})),
        Some("agent data") => Some(ok_data()),
        _ => None,
    }))
    .await;
    let mut cfg = config(vec![m.addr()]);
    cfg.aliases = vec![zagent::config::Alias {
        alias: "app.log".into(),
        key: format!("log[{}]", allowed.display()),
    }];
    cfg.key_rules = vec![zagent::config::KeyRule {
        allow: false,
        pattern: format!("log[{}*]", denied.display()),
        origin: Default::default(),
    }];
    run_for(cfg, 2).await;
    let rows = m.rows();
    let via_alias: Vec<&Value> = rows.iter().filter(|r| r["itemid"] == 31).collect();
    assert_eq!(via_alias.len(), 1, "{rows:?}");
    assert_eq!(via_alias[0]["value"], "via alias");
    assert_eq!(via_alias[0]["lastlogsize"], 10);
    let deny: Vec<&Value> = rows.iter().filter(|r| r["itemid"] == 32).collect();
    assert!(!deny.is_empty());
    assert!(deny
        .iter()
        .all(|r| r["state"] == 1 && r["value"] == "Unsupported item key."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_count_eventlog_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("count.log");
    std::fs::write(&path, "error a\nfine\nerror b\n").unwrap();
    let count_key = format!("log.count[{},error]", path.display());
    let missing_key = format!("log[{}/missing.log]", dir.path().display());
    let m = Mock::start(Arc::new(move |req: &Value| match req["request"].as_str() {
        Some("active checks") => Some(json!({"response":"success","data":[
            {"key":count_key,"itemid":41,"delay":"1s","lastlogsize":0,"mtime":0},
            {"key":"eventlog[System]","itemid":42,"delay":"1s","lastlogsize":0,"mtime":0},
            {"key":missing_key,"itemid":43,"delay":"1s","lastlogsize":0,"mtime":0}]})),
        Some("agent data") => Some(ok_data()),
        _ => None,
    }))
    .await;
    run_for(config(vec![m.addr()]), 4).await;
    let rows = m.rows();
    let counts: Vec<&Value> = rows.iter().filter(|r| r["itemid"] == 41).collect();
    assert!(counts.len() >= 3, "one count per check: {counts:?}");
    assert_eq!(counts[0]["value"], "2");
    assert_eq!(counts[0]["lastlogsize"], 21);
    assert!(counts[1..]
        .iter()
        .all(|r| r["value"] == "0" && r["lastlogsize"] == 21));
    let ev: Vec<&Value> = rows.iter().filter(|r| r["itemid"] == 42).collect();
    assert!(!ev.is_empty() && ev.iter().all(|r| r["value"] == "Unsupported item key."));
    // A missing file: the first two failures are only logged, the third is reported.
    let missing: Vec<&Value> = rows.iter().filter(|r| r["itemid"] == 43).collect();
    assert!((1..=2).contains(&missing.len()), "{missing:?}");
    let reason = missing[0]["value"].as_str().unwrap();
    assert!(
        reason.starts_with("Cannot obtain information for file \"")
            && reason.ends_with("\": [2] No such file or directory"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_commands_of_7_0_run_once_and_report_back() {
    let handler: Arc<Handler> = Arc::new(|req: &Value| match req["request"].as_str() {
        // The server repeats queued commands until it has their results.
        Some("active checks") => Some(json!({"response":"success","config_revision":1,"data":[],
            "commands":[{"command":"echo hi","id":7,"wait":1},{"command":"true","id":8,"wait":0}]})),
        Some("agent data") => Some(ok_data()),
        _ => None,
    });
    let results = |m: &Mock| -> Vec<Value> {
        m.requests("agent data")
            .iter()
            .flat_map(|r| r["commands"].as_array().cloned().unwrap_or_default())
            .collect()
    };
    // Allowed by AllowKey=system.run[*]: run once each, results sent back.
    let m = Mock::start(Arc::clone(&handler)).await;
    let mut cfg = config(vec![m.addr()]);
    cfg.key_rules = vec![zagent::config::KeyRule {
        allow: true,
        pattern: "system.run[*]".into(),
        origin: Default::default(),
    }];
    run_for(cfg, 3).await;
    assert!(
        m.requests("active checks").len() >= 2,
        "the list was refreshed"
    );
    let r = results(&m);
    assert_eq!(r.len(), 2, "each command once: {r:?}");
    assert_eq!(r[0]["id"], 7);
    assert_eq!(r[0]["value"], "hi");
    assert_eq!(r[1]["id"], 8);
    assert!(r[1].get("error").is_none(), "{r:?}");
    // Denied by default, like zabbix_agentd: the error goes back instead.
    let m = Mock::start(handler).await;
    run_for(config(vec![m.addr()]), 2).await;
    let r = results(&m);
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r
        .iter()
        .all(|c| c["error"] == "Unsupported item key." && c.get("value").is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_disabled_holds_values_until_allowed() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let disabled = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&disabled);
    let m = Mock::start(Arc::new(move |req: &Value| match req["request"].as_str() {
        Some("active checks") => {
            let mut r = json!({"response":"success","config_revision":1,"data":[
                {"key":"agent.ping","itemid":51,"delay":"1s","lastlogsize":0,"mtime":0}]});
            if flag.load(Ordering::SeqCst) {
                r["upload"] = json!("disabled");
            }
            Some(r)
        }
        Some("agent data") => Some(ok_data()),
        _ => None,
    }))
    .await;
    let stop = CancellationToken::new();
    let cfg = config(vec![m.addr()]);
    let task = tokio::spawn(zagent::active::run(
        AgentCtx::new(Arc::new(cfg)),
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        m.requests("agent data").is_empty(),
        "nothing is sent while uploads are disabled"
    );
    disabled.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(6), task)
        .await
        .unwrap()
        .unwrap();
    let rows = m.rows();
    let pings: Vec<i64> = rows.iter().map(|r| r["clock"].as_i64().unwrap()).collect();
    assert!(
        pings.len() >= 4,
        "the held values and the new ones arrive: {rows:?}"
    );
    let ids = ids(&rows);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_buffer_does_not_slow_log_items_down() {
    // BufferSize=4 holds 2 log values; a 10 s log item with 10 new lines still delivers
    // them all in its first check (the buffer is flushed between rounds of reading).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("burst.log");
    let lines: Vec<String> = (1..=10).map(|i| format!("burst {i}")).collect();
    std::fs::write(
        &path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    let key = format!("log[{}]", path.display());
    let m = Mock::start(Arc::new(move |req: &Value| match req["request"].as_str() {
        Some("active checks") => Some(json!({"response":"success","data":[
            {"key":key,"itemid":61,"delay":"10s","lastlogsize":0,"mtime":0}]})),
        Some("agent data") => Some(ok_data()),
        _ => None,
    }))
    .await;
    let mut cfg = config(vec![m.addr()]);
    cfg.buffer_size = 4;
    run_for(cfg, 3).await;
    let got: Vec<String> = m
        .rows()
        .iter()
        .filter(|r| r["itemid"] == 61)
        .map(|r| r["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, lines);
}

type LogValues = std::collections::BTreeMap<String, Vec<(String, u64)>>;

/// Serves the log items `keys` to the real zabbix_agentd and to `zagent` (run for
/// `seconds`), each through its own mock server, and asserts that every key's values
/// (and states) are the same on both; returns (agentd's, zagent's).
async fn log_items_on_both(keys: &[String], seconds: u64) -> (LogValues, LogValues) {
    let items: Vec<Value> = keys
        .iter()
        .map(|k| json!({"key": k, "delay": 1, "lastlogsize": 0, "mtime": 0}))
        .collect();
    let list = json!({"response": "success", "data": items});
    let handler = move |req: &Value| match req["request"].as_str() {
        Some("active checks") => Some(list.clone()),
        Some("agent data") => Some(ok_data()),
        _ => None,
    };
    let handler: Arc<Handler> = Arc::new(handler);
    let theirs = Mock::start(Arc::clone(&handler)).await;
    let ours = Mock::start(handler).await;
    let conf = format!(
        "Server=127.0.0.1\nServerActive=127.0.0.1:{}\nHostname=mock-host\nBufferSend=1\n",
        theirs.addr.port()
    );
    let agentd = tokio::task::spawn_blocking(move || util::start_zabbix_agentd(&conf))
        .await
        .unwrap();
    run_for(config(vec![ours.addr()]), seconds).await;
    // agentd gets as long as it needs to answer every item once (it may start later).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while log_values(&theirs).len() < log_values(&ours).len()
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(agentd);
    let (a, z) = (log_values(&theirs), log_values(&ours));
    let mut diffs = Vec::new();
    for k in keys {
        if a.get(k) != z.get(k) {
            diffs.push(format!(
                "{k}:\n  agentd {:?}\n  zagent {:?}",
                a.get(k),
                z.get(k)
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} of {} keys differ:\n{}",
        diffs.len(),
        keys.len(),
        diffs.join("\n")
    );
    (a, z)
}

/// The log[] values one agent sent, by key: `(value, state)` in order.
fn log_values(m: &Mock) -> LogValues {
    let mut out: LogValues = Default::default();
    // Rows without a value only move lastlogsize/mtime forward: not what this compares.
    for r in m.rows().iter().filter(|r| r.get("value").is_some()) {
        let key = r["key"].as_str().unwrap_or_default().to_string();
        // zabbix_agentd sends bytes that are not UTF-8 raw (read back as U+FFFD here), zagent
        // sends `?` for each (docs/COMPATIBILITY.md).
        let value = r["value"]
            .as_str()
            .unwrap_or_default()
            .replace('\u{FFFD}', "?");
        let state = r["state"].as_u64().unwrap_or(0);
        let rows = out.entry(key).or_default();
        // An unsupported item is re-sent on every check: how often depends on how long
        // each agent ran, so only the distinct reasons are compared.
        if state == 0 || !rows.contains(&(value.clone(), state)) {
            rows.push((value, state));
        }
    }
    out
}

/// PCRE2 through the active path (issue 14 cause 1): every pattern and output template of
/// tests/fixtures/pcre as log[] items over the table's subject lines, asked of zagent and
/// of the real zabbix_agentd 6.0 (each against its own stand-in server, 6.0 dialect):
/// the same lines, values and unsupported reasons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_regexps_answer_as_zabbix_agentd() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pcre");
    let table = |name: &str| -> Vec<String> {
        std::fs::read_to_string(fixtures.join(name))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let dir = tempfile::Builder::new()
        .prefix("compat-pcre-log")
        .tempdir()
        .unwrap();
    let path = dir.path().join("pcre.log");
    std::fs::copy(fixtures.join("subjects.bin"), &path).unwrap();
    let f = path.display();
    let mut keys = Vec::new();
    for p in table("patterns.txt") {
        // The table's line that is not UTF-8 makes agentd's \p and \X run undefined
        // behaviour in PCRE2 and crash the whole agent (docs/COMPATIBILITY.md): left out here,
        // the passive differential covers them.
        if p.contains("\\p") || p.contains("\\X") {
            continue;
        }
        keys.push(format!("log[{f},\"{p}\",,,,<\\0|\\1>]"));
    }
    for t in table("templates.txt") {
        for p in ["(o)(o)", "f(x)?(o)", "caf(.)", "z(.)"] {
            keys.push(format!("log[{f},\"{p}\",,,,{t}]"));
        }
    }
    keys.push(format!("log[{f}]"));
    keys.push(format!("log[{f},rr]"));
    let (a, _) = log_items_on_both(&keys, 5).await;
    assert!(a.len() > 20, "zabbix_agentd sent too little: {a:?}");
}

/// The proof of the persistent buffer: values collected while the server is down survive
/// `kill -9` of `zagent run` and arrive after the restart, each exactly once, with the
/// session and ids the server dedupes by.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_buffer_survives_kill_9_and_delivers_each_value_once() {
    let dir = tempfile::Builder::new().prefix("pbuf-").tempdir().unwrap();
    let seq = dir.path().join("seq");
    let db = dir.path().join("buffer.db");
    let handler: Arc<Handler> = Arc::new(|req: &Value| match req["request"].as_str() {
        Some("active checks") => Some(json!({"response":"success","data":[
            {"key":"pbuf.seq","itemid":31,"delay":"1s","lastlogsize":0,"mtime":0}]})),
        Some("agent data") => Some(ok_data()),
        _ => None,
    });
    let m = Mock::start(Arc::clone(&handler)).await;
    let port = m.addr.port();
    // A counter: every check returns the next number, so a lost or repeated value shows.
    let conf = format!(
        "Server=127.0.0.1\nServerActive=127.0.0.1:{port}\nHostname=pbuf-host\nBufferSend=1\nLogType=console\nAllowRoot=1\n\
         UserParameter=pbuf.seq,n=$(cat {s} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {s}; echo $n\n\
         EnablePersistentBuffer=1\nPersistentBufferFile={db}\n",
        s = seq.display(),
        db = db.display()
    );
    let counter = || -> u64 {
        std::fs::read_to_string(&seq)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    };
    let received = |log: &Arc<Mutex<Vec<Value>>>| -> Vec<Value> {
        log.lock()
            .unwrap()
            .iter()
            .filter(|v| v["request"] == "agent data")
            .flat_map(|r| {
                let session = r["session"].clone();
                r["data"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |mut row| {
                        row["session"] = session.clone();
                        row
                    })
            })
            .collect()
    };
    let wait_until = |what: &str, limit: Duration, f: &dyn Fn() -> bool| {
        let end = std::time::Instant::now() + limit;
        while !f() {
            assert!(
                std::time::Instant::now() < end,
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    let mut agent = util::start_zagent(&conf);
    wait_until("the first values", Duration::from_secs(15), &|| {
        received(&m.log).len() >= 2
    });

    // Server down: connections are refused while the agent keeps collecting.
    let log = m.stop().await;
    let before_outage = received(&log).len();
    let at_outage = counter();
    wait_until(
        "values collected in the outage",
        Duration::from_secs(15),
        &|| counter() >= at_outage + 4,
    );
    // Kill -9 between two checks (the last value had 300 ms to reach the file).
    let c = counter();
    wait_until("the next check", Duration::from_secs(5), &|| counter() > c);
    std::thread::sleep(Duration::from_millis(300));
    agent.child.kill().unwrap();
    agent.child.wait().unwrap();
    let collected_before_kill = counter();
    assert_eq!(
        received(&log).len(),
        before_outage,
        "nothing was delivered in the outage"
    );
    drop(agent);

    // Server up again on the same port, agent restarted with the same file.
    let m = Mock::start_at(format!("127.0.0.1:{port}").parse().unwrap(), handler, log).await;
    let _agent = util::start_zagent(&conf);
    wait_until("the outage's values", Duration::from_secs(20), &|| {
        let got: Vec<u64> = received(&m.log)
            .iter()
            .filter_map(|r| r["value"].as_str()?.parse().ok())
            .collect();
        (1..=collected_before_kill + 2).all(|n| got.contains(&n))
    });
    let rows = received(&m.log);
    let values: Vec<u64> = rows
        .iter()
        .map(|r| r["value"].as_str().unwrap().parse().unwrap())
        .collect();
    let mut sorted = values.clone();
    sorted.sort_unstable();
    let n = *sorted.last().unwrap();
    assert_eq!(
        sorted,
        (1..=n).collect::<Vec<_>>(),
        "every value exactly once: {values:?}"
    );

    // One session across the restart, ids strictly increasing across it: the server's
    // session+id dedupe stays valid for rows from the previous run.
    let sessions: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r["session"].as_str().unwrap())
        .collect();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let ids: Vec<u64> = rows.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    // The outage's values came after the restart, oldest first.
    let first_after = &values[before_outage..];
    assert_eq!(
        first_after[..(collected_before_kill as usize - before_outage)],
        ((before_outage as u64 + 1)..=collected_before_kill).collect::<Vec<_>>()
    );
}

/// log[]'s third parameter (issue 13.6): files in UTF-16 (with and without a BOM, either
/// byte order, CR LF), UTF-32, UTF-8 with a BOM or an invalid byte, single-byte code pages
/// and an encoding nobody knows, asked of zagent and of the real zabbix_agentd 6.0 (each
/// against its own stand-in server): the same values, or the same unsupported reasons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_encodings_answer_as_zabbix_agentd() {
    fn utf16(s: &str, big: bool) -> Vec<u8> {
        s.encode_utf16()
            .flat_map(|u| {
                if big {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect()
    }
    let dir = tempfile::Builder::new()
        .prefix("arch3-enc-log")
        .tempdir()
        .unwrap();
    let file = |name: &str, bytes: Vec<u8>| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    };
    let mut u16le = vec![0xff, 0xfe];
    u16le.extend(utf16("héllo\r\nwörld\nlast", false));
    let u16le = file("u16le.log", u16le);
    let u16be = file("u16be.log", utf16("abc\nдва\n", true));
    let u32le: Vec<u8> = "x\ny\n"
        .chars()
        .flat_map(|c| u32::from(c).to_le_bytes())
        .collect();
    let u32le = file("u32le.log", u32le);
    let u8bom = file("u8bom.log", b"\xef\xbb\xbffirst\nsecond\n".to_vec());
    let cp1251 = file("cp1251.log", b"\xef\xf0\xe8\xe2\xe5\xf2\n".to_vec());
    let bad8 = file("bad8.log", b"a\xffb\nok\n".to_vec());
    let latin1 = file("latin1.log", b"caf\xe9\r\n".to_vec());
    let lone_cr = file("cr.log", b"a\rb\r\nc\n\rd\n".to_vec());
    let keys = vec![
        format!("log[{u16le},,UTF-16LE]"),
        format!("log[{u16le},,utf-16le]"),
        format!("log[{u16le},,UTF-16]"),
        format!("log[{u16le},ö,UTF-16LE]"),
        format!("log[{u16le},\"(w)(.)\",UTF-16LE,,,\\2]"),
        format!("log[{u16le}]"),
        format!("log[{u16be},,UTF-16BE]"),
        format!("log[{u32le},,UTF-32LE]"),
        format!("log[{u8bom}]"),
        format!("log[{u8bom},,UTF-8]"),
        format!("log[{cp1251},,CP1251]"),
        format!("log[{cp1251},,WINDOWS-1251]"),
        format!("log[{cp1251},,KOI9]"),
        format!("log[{bad8},,UTF-8]"),
        format!("log[{bad8}]"),
        format!("log[{latin1},,ISO-8859-1]"),
        format!("log[{lone_cr}]"),
    ];
    let (_, z) = log_items_on_both(&keys, 4).await;
    // Not vacuous: UTF-16 is read.
    assert_eq!(
        z.get(&keys[0])
            .map(|v| v.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>()),
        Some(vec!["héllo", "wörld"])
    );
}
