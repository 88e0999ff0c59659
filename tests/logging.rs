//! Logging destinations: `LogFile` (with the zabbix_agentd-style `.old` rotation) and
//! `LogType=system` (syslog, facility daemon).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod util;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use util::*;

#[test]
fn log_file_receives_start_and_stop() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("zagent.log");
    let mut agent = start_zagent(&format!(
        "Server=127.0.0.1\nLogFile={}\nLogFileSize=0\n",
        log.display()
    ));
    let status = agent.terminate(Duration::from_secs(15)).expect("stopped");
    assert!(status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("Starting zagent"), "{text}");
    assert!(text.contains("zagent stopped"), "{text}");
    assert!(!text.contains('\u{1b}'), "no colour codes in a log file");
}

#[test]
fn debug_level_2_leaves_out_information_messages() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("zagent.log");
    let mut agent = start_zagent(&format!(
        "Server=127.0.0.1\nLogFile={}\nDebugLevel=2\n",
        log.display()
    ));
    assert_eq!(stdout(&zabbix_get(agent.port, "agent.ping", &[])), "1");
    agent.terminate(Duration::from_secs(15)).expect("stopped");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("Starting zagent"), "{text}");
}

/// syslog(3) sends to /dev/log. The test listens there itself: directly when nothing
/// does (as on CI), or in a private mount namespace bound over the real one.
#[test]
fn log_type_system_goes_to_syslog() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("log.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let port = free_port();
    let conf = dir.path().join("zagent.conf");
    std::fs::write(
        &conf,
        format!("Server=127.0.0.1\nListenIP=127.0.0.1\nListenPort={port}\nLogType=system\n"),
    )
    .unwrap();
    let real_log = Path::new("/dev/log").exists();
    if !real_log {
        std::os::unix::fs::symlink(&sock_path, "/dev/log").unwrap();
    }
    let script = format!(
        "{} exec {} run -c {}",
        if real_log {
            format!("mount --bind {} /dev/log &&", sock_path.display())
        } else {
            String::new()
        },
        zagent_bin(),
        conf.display()
    );
    let mut child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        let done = msg.contains("Listening for passive checks");
        got.push(msg);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    if !real_log {
        let _ = std::fs::remove_file("/dev/log");
    }
    let start = got
        .iter()
        .find(|m| m.contains("Starting zagent"))
        .unwrap_or_else(|| panic!("no start message in {got:?}"));
    // <30> = facility daemon (3) * 8 + info (6); ident and pid as openlog(LOG_PID) writes.
    assert!(start.starts_with("<30>"), "{start}");
    assert!(start.contains("zagent["), "{start}");
    assert!(
        got.iter()
            .any(|m| m.contains("Listening for passive checks")),
        "{got:?}"
    );
}
