//! Active checks against the REAL Zabbix 6.0 server of `tests/interop/zabbix-lab`:
//! items land in history, log lines arrive once each and in order, unsupported items
//! carry the agent's reason, and a server outage loses and duplicates nothing.
//!
//! The agent runs in-process (`zagent::active::run`) with a Config built here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "interop/lab.rs"]
mod lab;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lab::Lab;
use tokio_util::sync::CancellationToken;
use zagent::config::{ActiveAddr, ActiveServer, Config};
use zagent::keys::AgentCtx;

fn config(host: &str, port: u16) -> Config {
    Config {
        server_active: vec![ActiveServer {
            nodes: vec![ActiveAddr {
                host: "127.0.0.1".into(),
                port,
            }],
        }],
        hostnames: vec![host.to_string()],
        hostname_set: true,
        refresh_active_checks: Duration::from_secs(2),
        buffer_send: Duration::from_secs(1),
        ..Config::default()
    }
}

/// The agent under test, running on its own runtime thread.
struct Agent {
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Agent {
    fn start(cfg: Config) -> Agent {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(zagent::active::run(AgentCtx::new(Arc::new(cfg)), token));
        });
        Agent {
            stop,
            thread: Some(thread),
        }
    }

    /// Cancels and waits; returns how long shutdown took.
    fn stop(mut self) -> Duration {
        let t = Instant::now();
        self.stop.cancel();
        if let Some(h) = self.thread.take() {
            h.join().unwrap();
        }
        t.elapsed()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn append(path: &std::path::Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    f()
}

#[test]
fn active_items_reach_the_real_server() {
    let lab = Lab::shared();
    let host = "zt-active-basic";
    let dir = tempfile::tempdir().unwrap();
    let logfile = dir.path().join("app.log");
    append(
        &logfile,
        &["before start 1".into(), "before start 2".into()],
    );
    let log_key = format!("log[{}]", logfile.display());
    let log_item = format!("{log_key}:1s:log");
    let mut items = vec![
        "agent.ping:1s",
        "agent.version:1s",
        "zt.active.no.such.key:1s",
        "agent.hostname:1s",
        &log_item,
    ];
    // The connection-state keys of the issue.
    let socket_keys = [
        "tcp.status[established]",
        "net.tcp.socket.count[,,,,listen]",
    ];
    let socket_items: Vec<String> = socket_keys.iter().map(|k| format!("{k}:1s")).collect();
    items.extend(socket_items.iter().map(String::as_str));
    lab.fresh_host(host, &items);
    // A listening socket, so that the listen count is at least 1.
    let _listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server_log = lab.run_ok(&["log"]).unwrap().trim().to_string();
    let log_start = log_len(&server_log);
    // HeartbeatFrequency stays at its default (60 s, first one right after the item
    // list): a 6.0 server answers without config_revision, so none may be sent.
    let agent = Agent::start(config(host, lab.port));

    // Within two refresh cycles (2 s each) plus the server's history syncer (1 s).
    assert!(lab.wait(host, "agent.ping", 1, 15), "no agent.ping value");
    assert!(
        lab.wait(host, "agent.version", 1, 5),
        "no agent.version value"
    );
    assert_eq!(lab.values(host, "agent.ping")[0], "1");
    assert_eq!(lab.values(host, "agent.version")[0], "6.0.14");
    assert_eq!(lab.values(host, "agent.hostname")[0], host);
    for key in &socket_keys {
        assert!(lab.wait(host, key, 1, 5), "no {key} value");
        let v: u64 = lab.values(host, key)[0].parse().unwrap();
        if key.starts_with("net.tcp.socket.count") {
            assert!(v >= 1, "{key} = {v} with a listener open");
        }
        assert_eq!(lab.state(host, key), "normal\t");
    }

    let state = lab.state(host, "zt.active.no.such.key");
    assert!(
        wait_until(Duration::from_secs(10), || lab
            .state(host, "zt.active.no.such.key")
            == "notsupported\tUnsupported item key."),
        "unsupported item state: {state:?}"
    );

    // Lines written while the agent runs follow the ones already in the file.
    let more: Vec<String> = (1..=20).map(|i| format!("live line {i} é")).collect();
    append(&logfile, &more[..10]);
    std::thread::sleep(Duration::from_millis(1500));
    append(&logfile, &more[10..]);
    let mut want = vec!["before start 1".to_string(), "before start 2".to_string()];
    want.extend(more);
    assert!(
        wait_until(Duration::from_secs(15), || lab.values(host, &log_key).len()
            >= want.len()),
        "log lines missing: {:?}",
        lab.values(host, &log_key)
    );
    // A few more cycles: nothing may arrive twice.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        lab.values(host, &log_key),
        want,
        "log lines once each, in order"
    );

    let took = agent.stop();
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    let log = log_since(&server_log, log_start);
    assert!(
        !log.contains("[active check heartbeat]"),
        "a heartbeat reached the 6.0 server:\n{log}"
    );
    lab.run_ok(&["reset", host]).unwrap();
}

/// Bytes of the server log so far (to look only at what a test causes).
fn log_len(path: &str) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn log_since(path: &str, from: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(&bytes[usize::try_from(from).unwrap().min(bytes.len())..]).into_owned()
}

#[test]
fn server_outage_loses_and_duplicates_nothing() {
    // The shared lab first, so that PostgreSQL belongs to it and the private lab's
    // `down` only stops its own zabbix_server.
    let _ = Lab::shared();
    let port = lab::free_server_port();
    let lab2 = Lab::private("zt-active-outage", port);
    lab2.run_ok(&["up"]).unwrap();
    let server_log = lab2.run_ok(&["log"]).unwrap().trim().to_string();
    let host = "zt-active-outage";
    let dir = tempfile::tempdir().unwrap();
    let logfile = dir.path().join("outage.log");
    append(&logfile, &[]);
    let log_key = format!("log[{}]", logfile.display());
    lab2.fresh_host(host, &["agent.ping:1s", &format!("{log_key}:1s:log")]);
    let log_start = log_len(&server_log);

    let mut cfg = config(host, port);
    cfg.buffer_size = 1000; // holds the whole outage: nothing may be evicted
    let agent = Agent::start(cfg);
    assert!(lab2.wait(host, "agent.ping", 1, 15), "no first value");

    let mut want = Vec::new();
    let mut write = |n: usize, phase: &str| {
        let lines: Vec<String> = (0..n).map(|i| format!("{phase} {i}")).collect();
        append(&logfile, &lines);
        want.extend(lines);
    };
    write(3, "before");
    assert!(wait_until(Duration::from_secs(10), || lab2
        .values(host, &log_key)
        .len()
        == 3));

    // Stop the server; the agent keeps collecting (ping every second, log lines).
    lab2.run_ok(&["down"]).unwrap();
    let down_at = zagent::active::clock::wall_clock().0;
    for i in 0..6 {
        write(2, &format!("outage{i}"));
        std::thread::sleep(Duration::from_secs(1));
    }
    let up_at = zagent::active::clock::wall_clock().0;
    lab2.run_ok(&["up"]).unwrap();
    write(3, "after");

    assert!(
        wait_until(Duration::from_secs(30), || lab2
            .values(host, &log_key)
            .len()
            >= want.len()),
        "log lines missing after the outage: {:?}",
        lab2.values(host, &log_key)
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        lab2.values(host, &log_key),
        want,
        "every line once, in order"
    );

    // agent.ping runs every second: values collected while the server was down arrive,
    // and no second holds two values.
    let pings = lab2.history(host, "agent.ping");
    let during: Vec<i64> = pings
        .iter()
        .map(|(c, _, _)| *c)
        .filter(|c| *c > down_at && *c < up_at)
        .collect();
    assert!(
        during.len() as i64 >= (up_at - down_at - 2),
        "pings collected during the outage are missing: {during:?} ({down_at}..{up_at})"
    );
    let mut clocks: Vec<i64> = pings.iter().map(|(c, _, _)| *c).collect();
    let n = clocks.len();
    clocks.dedup();
    assert_eq!(
        clocks.len(),
        n,
        "a second holds two agent.ping values: {pings:?}"
    );
    let log = log_since(&server_log, log_start);
    assert!(
        !log.contains("duplicate key"),
        "the server saw duplicates:\n{log}"
    );

    agent.stop();
    lab2.run_ok(&["reset", host]).unwrap();
    lab2.run_ok(&["down"]).unwrap();
}

#[test]
fn psk_active_checks_and_send_reach_the_real_server() {
    let lab = Lab::shared();
    let host = "zt-active-psk";
    lab.fresh_host(host, &["agent.ping:1s", "trap.psk::uint:trapper"]);
    // The lab has no TLS option: switch the host to PSK-only in the database.
    let mut psk = [0u8; 32];
    getrandom::fill(&mut psk).unwrap();
    let psk: String = psk.iter().map(|b| format!("{b:02x}")).collect();
    let identity = "zt-active-psk-id";
    let sql = format!(
        "update hosts set tls_connect=2, tls_accept=2, tls_psk_identity='{identity}', \
         tls_psk='{psk}' where host='{host}'"
    );
    assert!(lab
        .run_ok(&["psql", "-c", &sql])
        .unwrap()
        .contains("UPDATE 1"));
    lab.run_ok(&["reload"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let psk_file = dir.path().join("agent.psk");
    std::fs::write(&psk_file, &psk).unwrap();

    let mut cfg = config(host, lab.port);
    cfg.tls.connect = zagent::config::TlsMode::Psk;
    cfg.tls.psk_identity = Some(identity.into());
    cfg.tls.psk_file = Some(psk_file.clone());
    let agent = Agent::start(cfg);
    assert!(
        lab.wait(host, "agent.ping", 1, 15),
        "no agent.ping over PSK"
    );
    agent.stop();

    let (code, out, err) = {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = zagent::cli::send::run_with(
            zagent::cli::send::SendArgs {
                zabbix_server: Some("127.0.0.1".into()),
                port: Some(lab.port),
                host: Some(host.into()),
                key: Some("trap.psk".into()),
                value: Some("42".into()),
                timeout: 10,
                tls: zagent::tls::args::TlsArgs {
                    tls_connect: Some("psk".into()),
                    tls_psk_identity: Some(identity.into()),
                    tls_psk_file: Some(psk_file),
                    ..Default::default()
                },
                ..Default::default()
            },
            &mut zagent::cli::send::Io {
                out: &mut out,
                err: &mut err,
            },
        )
        .unwrap();
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    };
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("processed: 1; failed: 0"), "{out}");
    assert!(lab.wait(host, "trap.psk", 1, 10));
    assert_eq!(lab.values(host, "trap.psk"), vec!["42"]);
    lab.run_ok(&["reset", host]).unwrap();
}

/// The persistent buffer against the real 6.0 server: values collected while the server
/// is down survive `kill -9` of `zagent run` and land in history once each after the
/// restart (the restarted agent resumes the session and its ids, which the server takes).
#[test]
fn persistent_buffer_survives_kill_9_on_the_real_server() {
    let _ = Lab::shared();
    let port = lab::free_server_port();
    let lab2 = Lab::private("pbuf-outage", port);
    lab2.run_ok(&["up"]).unwrap();
    let host = "pbuf-lab-host";
    lab2.fresh_host(host, &["pbuf.seq:1s"]);
    let dir = tempfile::Builder::new().prefix("pbuf-").tempdir().unwrap();
    let seq = dir.path().join("seq");
    let conf = format!(
        "Server=127.0.0.1\nServerActive=127.0.0.1:{port}\nHostname={host}\nBufferSend=1\n\
         LogType=console\nAllowRoot=1\nRefreshActiveChecks=60\n\
         UserParameter=pbuf.seq,n=$(cat {s} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {s}; echo $n\n\
         EnablePersistentBuffer=1\nPersistentBufferFile={db}\n",
        s = seq.display(),
        db = dir.path().join("buffer.db").display()
    );
    let counter = || -> u64 {
        std::fs::read_to_string(&seq)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    };
    let mut agent = lab::util::start_zagent(&conf);
    assert!(lab2.wait(host, "pbuf.seq", 2, 20), "no first values");

    lab2.run_ok(&["down"]).unwrap();
    let at_outage = counter();
    assert!(wait_until(Duration::from_secs(15), || counter() >= at_outage + 4));
    let c = counter();
    assert!(wait_until(Duration::from_secs(5), || counter() > c));
    std::thread::sleep(Duration::from_millis(300));
    agent.child.kill().unwrap();
    agent.child.wait().unwrap();
    let collected = counter();
    drop(agent);

    lab2.run_ok(&["up"]).unwrap();
    let _agent = lab::util::start_zagent(&conf);
    let want = usize::try_from(collected).unwrap() + 2;
    assert!(
        lab2.wait(host, "pbuf.seq", want, 40),
        "outage values missing: {:?}",
        lab2.values(host, "pbuf.seq")
    );
    std::thread::sleep(Duration::from_secs(2));
    let mut got: Vec<u64> = lab2
        .values(host, "pbuf.seq")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    got.sort_unstable();
    let n = *got.last().unwrap();
    assert!(n >= collected + 2);
    assert_eq!(got, (1..=n).collect::<Vec<_>>(), "every value once");
    lab2.run_ok(&["reset", host]).unwrap();
    lab2.run_ok(&["down"]).unwrap();
}
