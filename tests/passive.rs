//! Passive checks end to end: the real zabbix_get against `zagent run`, `zagent get`
//! against the real zabbix_agentd, access control, hostile frames, the 7.0 JSON request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use util::*;

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crates/zbx-proto/tests/vectors")
}

#[test]
fn zabbix_get_reads_agent_keys_and_notsupported_reasons() {
    let agent = start_zagent("Server=127.0.0.1\nHostname=zt-passive\n");
    let cases = [
        ("agent.ping", "1"),
        ("agent.hostname", "zt-passive"),
        ("agent.variant", "1"),
        ("agent.version", "6.0.14"),
        (
            "agent.ping[x]",
            "ZBX_NOTSUPPORTED: Item does not allow parameters.",
        ),
        ("agent.ping[", "ZBX_NOTSUPPORTED: Invalid item key format."),
        ("no.such.key", "ZBX_NOTSUPPORTED: Unsupported item key."),
    ];
    for (key, want) in cases {
        let out = zabbix_get(agent.port, key, &[]);
        assert!(out.status.success(), "zabbix_get {key}: {out:?}");
        assert_eq!(stdout(&out), want, "key {key}");
    }
}

#[test]
fn zagent_get_reads_the_real_zabbix_agentd() {
    let agentd = start_zabbix_agentd("Server=127.0.0.1\nHostname=zt-ref\n");
    for (key, want) in [
        ("agent.ping", "1"),
        ("agent.hostname", "zt-ref"),
        ("agent.version", "6.0.14"),
        ("no.such.key", "ZBX_NOTSUPPORTED: Unsupported item key."),
        (
            "agent.ping[x]",
            "ZBX_NOTSUPPORTED: Item does not allow parameters.",
        ),
    ] {
        let ours = zagent_get(agentd.port, key);
        let theirs = zabbix_get(agentd.port, key, &[]);
        assert_eq!(ours.status.code(), Some(0), "{key}: {ours:?}");
        assert_eq!(stdout(&ours), want, "zagent get {key}");
        assert_eq!(
            stdout(&ours),
            stdout(&theirs),
            "zagent get and zabbix_get differ on {key}"
        );
    }
}

#[test]
fn zagent_get_fails_like_zabbix_get() {
    let port = free_port();
    let out = zagent_get(port, "agent.ping");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Get value error: cannot connect to [[127.0.0.1]:"),
        "{err}"
    );
    assert!(err.contains("[111] Connection refused"), "{err}");

    let agentd = start_zabbix_agentd("Server=127.0.0.2\n");
    let out = zagent_get(agentd.port, "agent.ping");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Check access restrictions"));
}

#[test]
fn peer_outside_server_gets_no_answer() {
    let agent = start_zagent("Server=127.0.0.2,192.0.2.0/24,::2\n");
    let out = zabbix_get(agent.port, "agent.ping", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Check access restrictions"), "{err}");
    // A clean end of stream first, as zabbix_agentd closes (FIN, then RST): zabbix_get
    // reports nothing else.
    assert!(!err.contains("reset"), "{err}");
    let got =
        raw_exchange(agent.port, &frame(b"agent.ping"), Duration::from_secs(5)).expect("exchange");
    assert!(got.is_empty(), "a denied peer was answered: {got:?}");
}

#[test]
fn captured_agentd_requests_get_agentd_bytes() {
    let agent = start_zagent("Server=127.0.0.1\n");
    for name in [
        "agent-ping",
        "unsupported-key",
        "invalid-key-format",
        "params-not-allowed",
        "agent-variant",
    ] {
        let dir = vectors().join("passive/agentd");
        let req = hex_file(&dir.join(format!("{name}.request.hex")));
        let want = hex_file(&dir.join(format!("{name}.response.hex")));
        let got = raw_exchange(agent.port, &req, Duration::from_secs(5)).expect("exchange");
        assert_eq!(got, want, "vector {name}");
    }
    // The 1.8-style header and a compressed request are answered; the reply is plain.
    for name in [
        "agentd-header-8byte-length-1.8-style",
        "agentd-compressed-request",
    ] {
        let dir = vectors().join("passive-edge");
        let req = hex_file(&dir.join(format!("{name}.request.hex")));
        let want = hex_file(&dir.join(format!("{name}.response.hex")));
        let got = raw_exchange(agent.port, &req, Duration::from_secs(5)).expect("exchange");
        assert_eq!(got, want, "vector {name}");
    }
    // Bad magic, flags 0x00, large-packet flag: closed without a reply. (Unframed text,
    // which 6.0 drops, zagent answers on purpose: tests/reliability.rs.)
    for name in [
        "agentd-bad-magic",
        "agentd-flags-zero",
        "agentd-large-flag-request",
    ] {
        let req = hex_file(&vectors().join(format!("passive-edge/{name}.request.hex")));
        let got = raw_exchange(agent.port, &req, Duration::from_secs(5)).expect("exchange");
        assert!(got.is_empty(), "vector {name} was answered: {got:?}");
    }
    // The listener survived all of it.
    assert_eq!(stdout(&zabbix_get(agent.port, "agent.ping", &[])), "1");
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn huge_frame_header_is_refused_without_allocating() {
    let agent = start_zagent("Server=127.0.0.1\n");
    let before = rss_kb(agent.child.id());
    let mut header = b"ZBXD\x01".to_vec();
    header.extend_from_slice(&(200u32 * 1024 * 1024).to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(b"agent.ping");
    let got = raw_exchange(agent.port, &header, Duration::from_secs(5)).expect("exchange");
    assert!(got.is_empty(), "a 200 MB frame was answered");
    let after = rss_kb(agent.child.id());
    assert!(
        after < before + 20 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );
    assert_eq!(stdout(&zabbix_get(agent.port, "agent.ping", &[])), "1");
}

#[test]
fn stalled_half_header_is_dropped_after_timeout() {
    let agent = start_zagent("Server=127.0.0.1\nTimeout=1\n");
    let mut s = TcpStream::connect(("127.0.0.1", agent.port)).expect("connect");
    s.write_all(b"ZBXD\x01\x0a").expect("write");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let start = Instant::now();
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    let waited = start.elapsed();
    assert_eq!(n, 0, "stalled client got bytes");
    assert!(
        waited >= Duration::from_millis(800),
        "dropped too early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(8),
        "not dropped after Timeout=1: {waited:?}"
    );
}

#[test]
fn json_passive_request_is_answered_in_json() {
    let agent = start_zagent("Server=127.0.0.1\n");
    let req = br#"{"request":"passive checks","data":[{"key":"agent.ping","timeout":3}]}"#;
    let got = raw_exchange(agent.port, &frame(req), Duration::from_secs(5)).expect("exchange");
    assert_eq!(
        got,
        frame(br#"{"version":"7.0.0","variant":1,"data":[{"value":"1"}]}"#)
    );
    let req = br#"{"request":"passive checks","data":[{"key":"nope","timeout":"3s"}]}"#;
    let got = raw_exchange(agent.port, &frame(req), Duration::from_secs(5)).expect("exchange");
    assert_eq!(
        got,
        frame(br#"{"version":"7.0.0","variant":1,"data":[{"error":"Unsupported item key."}]}"#)
    );
}

#[test]
fn empty_request_is_answered_like_agentd() {
    let agent = start_zagent("Server=127.0.0.1\n");
    let mut s = TcpStream::connect(("127.0.0.1", agent.port)).expect("connect");
    s.shutdown(std::net::Shutdown::Write).expect("half-close");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert_eq!(got, frame(b"ZBX_NOTSUPPORTED\0Invalid item key format."));
}

#[test]
fn sigterm_stops_the_agent_cleanly() {
    let mut agent = start_zagent("Server=127.0.0.1\n");
    let status = agent
        .terminate(Duration::from_secs(15))
        .expect("zagent did not stop on SIGTERM");
    assert!(status.success(), "exit status {status:?}");
}

/// The per-CPU listener group (SO_REUSEPORT) must not let a second agent share the port:
/// it fails to start with a bind error, as zabbix_agentd does.
#[test]
fn second_agent_on_the_same_port_refuses_to_start() {
    let first = start_zagent("Server=127.0.0.1\n");
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("second.conf");
    std::fs::write(
        &conf,
        format!(
            "Server=127.0.0.1\nListenIP=127.0.0.1\nListenPort={}\n",
            first.port
        ),
    )
    .unwrap();
    let out = std::process::Command::new(zagent_bin())
        .args(["run", "-c"])
        .arg(&conf)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot bind to [127.0.0.1]"), "{err}");
    // The first one still answers every request.
    for _ in 0..20 {
        assert_eq!(stdout(&zabbix_get(first.port, "agent.ping", &[])), "1");
    }
}

/// Bytes past the announced length are refused like zabbix_agentd does ("longer than
/// expected"), also when the header arrives on its own first (the async path).
#[test]
fn request_longer_than_its_header_is_not_answered() {
    let agent = start_zagent("Server=127.0.0.1\n");
    let req = frame(b"agent.ping");
    let mut s = TcpStream::connect(("127.0.0.1", agent.port)).unwrap();
    s.write_all(&req[..13]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut rest = req[13..].to_vec();
    rest.extend_from_slice(b"JUNK");
    s.write_all(&rest).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(got.is_empty(), "answered: {got:?}");
    // All in one segment: the fast path refuses it too.
    let mut both = req.clone();
    both.extend_from_slice(b"JUNK");
    let got = raw_exchange(agent.port, &both, Duration::from_secs(5)).unwrap();
    assert!(got.is_empty(), "answered: {got:?}");
    // The same request without the extra bytes is answered on both paths.
    let mut s = TcpStream::connect(("127.0.0.1", agent.port)).unwrap();
    s.write_all(&req[..13]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(&req[13..]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert_eq!(got, frame(b"1"));
}
