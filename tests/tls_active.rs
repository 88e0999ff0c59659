//! PSK against the real Zabbix 6.0 server of the lab (tests/interop/zabbix-lab); the lab
//! has no TLS option, so the tests switch their own hosts to PSK in the database.
//!
//! Active: for `zt-tls-active`, zagent's TLS transport asks for the item list and sends
//! a value, which must land in the server's history; a plain request is refused.
//! Passive: the server's poller connects with PSK to zagent's listener for
//! `zt-tls-passive`, and the polled values land in history.
//! End to end: `zagent run -c FILE` with `TLSConnect=psk` lands its active values for
//! `zt-tls-run-active`, a host that accepts PSK only.
//!
//! This drives the protocol through `transport::exchange` with PSK, the seam the
//! active-check client uses; the end-to-end run of the active-check client itself with
//! `TLSConnect=psk` belongs with src/active's tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[path = "tls_util/mod.rs"]
mod util;

use zagent::config::{TlsConfig, TlsMode};
use zagent::tls::{self, Program};
use zagent::transport::{self, ClientOptions};

const HOST: &str = "zt-tls-active";
const IDENTITY: &str = "zt-tls-active-psk";

fn lab(args: &[&str]) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/zabbix-lab");
    let out = Command::new(script)
        .args(args)
        .output()
        .expect("zabbix-lab runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Where the lab server listens (zabbix-lab's own settings).
fn lab_addr() -> (String, u16) {
    let ip = std::env::var("ZABBIX_LAB_LISTEN_IP").unwrap_or_else(|_| "127.0.0.1".to_string());
    let port = std::env::var("ZABBIX_LAB_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(10051);
    (ip, port)
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    openssl::rand::rand_bytes(&mut b).expect("rand");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_checks_and_agent_data_over_psk_land_in_the_lab_server() {
    let (ok, text) = lab(&["up"]);
    assert!(ok, "zabbix-lab up: {text}");
    let (ok, text) = lab(&["reset", HOST]);
    assert!(ok, "zabbix-lab reset: {text}");
    let (ok, text) = lab(&["host", HOST, "--replace", "agent.ping:5s"]);
    assert!(ok, "zabbix-lab host: {text}");

    // The host accepts PSK only (tls_accept=2) and is connected with PSK (tls_connect=2).
    let psk = random_hex(32);
    let sql = format!(
        "update hosts set tls_connect=2, tls_accept=2, tls_psk_identity='{IDENTITY}', \
         tls_psk='{psk}' where host='{HOST}'"
    );
    let (ok, text) = lab(&["psql", "-c", &sql]);
    assert!(ok && text.contains("UPDATE 1"), "psql: {text}");
    let (ok, text) = lab(&["reload"]);
    assert!(ok, "zabbix-lab reload: {text}");

    let dir = tempfile::Builder::new()
        .prefix("zt-tls-")
        .tempdir()
        .unwrap();
    let key = dir.path().join("host.psk");
    std::fs::write(&key, &psk).unwrap();
    let cfg = TlsConfig {
        connect: TlsMode::Psk,
        psk_identity: Some(IDENTITY.to_string()),
        psk_file: Some(key),
        ..TlsConfig::default()
    };
    let client = tls::build(&cfg, Program::Sender)
        .expect("PSK client")
        .client;
    let opts = ClientOptions::new(Duration::from_secs(10)).with_tls(client);
    let request = format!(r#"{{"request":"active checks","host":"{HOST}"}}"#);
    let (ip, port) = lab_addr();

    // Over PSK the server hands out the item list.
    let reply = transport::exchange(&ip, port, request.as_bytes(), &opts)
        .await
        .expect("active checks over PSK");
    let v: serde_json::Value = serde_json::from_slice(&reply.payload).expect("JSON reply");
    assert_eq!(v["response"], "success", "{v}");
    let keys: Vec<&str> = v["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["key"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(keys, vec!["agent.ping"], "{v}");

    // Unencrypted, the server refuses this host.
    let plain = ClientOptions::new(Duration::from_secs(10));
    let reply = transport::exchange(&ip, port, request.as_bytes(), &plain)
        .await
        .expect("plain active checks answered");
    let v: serde_json::Value = serde_json::from_slice(&reply.payload).expect("JSON reply");
    assert_eq!(v["response"], "failed", "{v}");
    assert_eq!(
        v["info"],
        format!("connection of type \"unencrypted\" is not allowed for host \"{HOST}\""),
        "{v}"
    );

    // A value sent as "agent data" over PSK lands in history.
    let since = now();
    let session = random_hex(16);
    let data = format!(
        r#"{{"request":"agent data","session":"{session}","data":[{{"host":"{HOST}","key":"agent.ping","value":"1","id":1,"clock":{since},"ns":0}}],"clock":{since},"ns":0}}"#
    );
    let reply = transport::exchange(&ip, port, data.as_bytes(), &opts)
        .await
        .expect("agent data over PSK");
    let v: serde_json::Value = serde_json::from_slice(&reply.payload).expect("JSON reply");
    assert_eq!(v["response"], "success", "{v}");
    assert!(
        v["info"]
            .as_str()
            .unwrap_or("")
            .starts_with("processed: 1; failed: 0"),
        "{v}"
    );
    let (ok, text) = lab(&[
        "wait",
        HOST,
        "agent.ping",
        "--since",
        &since.to_string(),
        "--timeout",
        "30",
    ]);
    assert!(ok, "value in history: {text}");
    let (_, history) = lab(&["history", HOST, "agent.ping", "--since", &since.to_string()]);
    assert!(history.lines().any(|l| l.ends_with(" 1")), "{history}");
    let _ = lab(&["reset", HOST]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_server_polls_zagent_passively_over_psk() {
    const PASSIVE_HOST: &str = "zt-tls-passive";
    const PASSIVE_ID: &str = "zt-tls-passive-psk";
    let (ok, text) = lab(&["up"]);
    assert!(ok, "zabbix-lab up: {text}");
    let dir = util::tempdir();
    let psk = random_hex(32);
    let key = util::write_file(dir.path(), "agent.psk", &psk, 0o600);
    let agent = util::start_zagent(TlsConfig {
        accept: vec![TlsMode::Psk],
        psk_identity: Some(PASSIVE_ID.to_string()),
        psk_file: Some(key),
        ..TlsConfig::default()
    });
    let port = agent.port.to_string();
    let start = now();
    let lab_calls = tokio::task::spawn_blocking(move || {
        let (ok, text) = lab(&["reset", PASSIVE_HOST]);
        assert!(ok, "zabbix-lab reset: {text}");
        let (ok, text) = lab(&[
            "host",
            PASSIVE_HOST,
            "--passive",
            "--replace",
            "--agent-port",
            &port,
            "agent.ping:2s",
        ]);
        assert!(ok, "zabbix-lab host: {text}");
        let sql = format!(
            "update hosts set tls_connect=2, tls_accept=2, tls_psk_identity='{PASSIVE_ID}', \
             tls_psk='{psk}' where host='{PASSIVE_HOST}'"
        );
        let (ok, text) = lab(&["psql", "-c", &sql]);
        assert!(ok && text.contains("UPDATE 1"), "psql: {text}");
        let (ok, text) = lab(&["reload"]);
        assert!(ok, "zabbix-lab reload: {text}");
        lab(&[
            "wait",
            PASSIVE_HOST,
            "agent.ping",
            "--since",
            &start.to_string(),
            "--timeout",
            "60",
        ])
    });
    let (ok, text) = lab_calls.await.expect("lab calls");
    assert!(ok, "the server's PSK poll landed a value: {text}");
    let (_, history) = lab(&[
        "history",
        PASSIVE_HOST,
        "agent.ping",
        "--since",
        &start.to_string(),
    ]);
    assert!(history.lines().any(|l| l.ends_with(" 1")), "{history}");
    assert!(
        util::wait_log("Accepted TLS connection with PSK").await,
        "the value came over PSK: {}",
        util::logs()
    );
    drop(agent);
    // The poller would keep knocking on a closed port.
    let _ = lab(&["reset", PASSIVE_HOST]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zagent_run_sends_active_checks_over_psk() {
    const RUN_HOST: &str = "zt-tls-run-active";
    const RUN_ID: &str = "zt-tls-run-active-psk";
    let (ok, text) = lab(&["up"]);
    assert!(ok, "zabbix-lab up: {text}");
    let (ok, text) = lab(&["reset", RUN_HOST]);
    assert!(ok, "zabbix-lab reset: {text}");
    let (ok, text) = lab(&["host", RUN_HOST, "--replace", "agent.ping:2s"]);
    assert!(ok, "zabbix-lab host: {text}");
    let psk = random_hex(32);
    let sql = format!(
        "update hosts set tls_connect=2, tls_accept=2, tls_psk_identity='{RUN_ID}', \
         tls_psk='{psk}' where host='{RUN_HOST}'"
    );
    let (ok, text) = lab(&["psql", "-c", &sql]);
    assert!(ok && text.contains("UPDATE 1"), "psql: {text}");
    let (ok, text) = lab(&["reload"]);
    assert!(ok, "zabbix-lab reload: {text}");

    let dir = util::tempdir();
    let key = util::write_file(dir.path(), "host.psk", &psk, 0o600);
    let (ip, port) = lab_addr();
    let log = dir.path().join("zagent.log");
    let conf = util::write_file(
        dir.path(),
        "zagent.conf",
        &format!(
            "LogType=file\nLogFile={}\nAllowRoot=1\nStartAgents=0\nServerActive={ip}:{port}\n\
             Hostname={RUN_HOST}\nRefreshActiveChecks=60\nBufferSend=1\nTimeout=5\n\
             TLSConnect=psk\nTLSPSKIdentity={RUN_ID}\nTLSPSKFile={}\n",
            log.display(),
            key.display()
        ),
        0o600,
    );
    let since = now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_zagent"))
        .args(["run", "-c"])
        .arg(&conf)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("zagent run starts");
    let waited = tokio::task::spawn_blocking(move || {
        lab(&[
            "wait",
            RUN_HOST,
            "agent.ping",
            "--since",
            &since.to_string(),
            "--timeout",
            "60",
        ])
    })
    .await
    .expect("lab wait");
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    let agent_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        waited.0,
        "value over PSK in history: {}\nzagent log:\n{agent_log}",
        waited.1
    );
    let _ = lab(&["reset", RUN_HOST]);
}
