//! The test suite's one support module: free ports, a `zagent run` child, a real
//! `zabbix_agentd` child (stopped with its whole process group), running the real
//! `zabbix_get`, the one parser of `zabbix_agentd -t` / `zagent test` output, network
//! namespaces ([`netns`]) and (`zabbix_api`) the lab frontend's JSON-RPC API.
//! `tests/tls_util` (in-process TLS listeners) and `tests/interop/lab.rs` build on it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(dead_code)]

pub mod netns;
pub mod zabbix_api;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A port in zabbix_agentd's ListenPort range (1024–32767) that was free a moment ago on
/// every address (0.0.0.0 and, where the host has IPv6, [::]), so a daemon told to listen
/// on all addresses can bind it too. Ports are drawn from 20000–32767 in an order that
/// differs per process and per call, so parallel tests rarely collide. The one free-port
/// helper of the test suite.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(7919)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
    for _ in 0..2000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20000 + (seed.wrapping_add(n.wrapping_mul(104_729)) % 12_768) as u16;
        let v6_free = match TcpListener::bind(("::", port)) {
            Ok(_) => true,
            // No IPv6 on this host: nothing can take the port there.
            Err(e) => e.kind() == std::io::ErrorKind::AddrNotAvailable,
        };
        if v6_free && TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 20000-32767");
}

/// Waits until something accepts on `127.0.0.1:port` (at most 10 s).
pub fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on 127.0.0.1:{port} after 10 s");
}

/// A child process killed on drop.
pub struct Proc {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Drop for Proc {
    fn drop(&mut self) {
        stop_group(&mut self.child, Duration::from_secs(3));
    }
}

/// Stops a child started with `process_group(0)` and everything it forked: SIGTERM to the
/// group (zabbix_agentd's main process then stops its listeners), SIGKILL to whatever of
/// the group is left after `grace`. Killing only the main process would leave
/// zabbix_agentd's forked listeners holding the port.
pub fn stop_group(child: &mut Child, grace: Duration) {
    let pgid = child.id() as i32;
    // SAFETY: kill(2) on the process group created for this child.
    unsafe {
        libc::kill(-pgid, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: as above; whatever is left of the group.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    let _ = child.wait();
}

impl Proc {
    /// Path of a file in the process's temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Sends SIGTERM and waits (at most `limit`) for the exit status.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

pub fn zagent_bin() -> &'static str {
    env!("CARGO_BIN_EXE_zagent")
}

/// Starts `zagent run -c <conf>` where conf is `extra` plus ListenPort/ListenIP on a free
/// port (unless `extra` sets them), and waits until it listens.
pub fn start_zagent(extra: &str) -> Proc {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut conf = String::new();
    if !extra.contains("ListenPort=") {
        conf.push_str(&format!("ListenPort={port}\n"));
    }
    if !extra.contains("ListenIP=") {
        conf.push_str("ListenIP=127.0.0.1\n");
    }
    conf.push_str(extra);
    let path = dir.path().join("zagent.conf");
    std::fs::write(&path, conf).expect("write config");
    let child = Command::new(zagent_bin())
        .process_group(0)
        .args(["run", "-c"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("zagent.log")).expect("log file"),
        ))
        .spawn()
        .expect("spawn zagent");
    let port = extra
        .lines()
        .find_map(|l| {
            l.strip_prefix("ListenPort=")
                .and_then(|p| p.trim().parse().ok())
        })
        .unwrap_or(port);
    let p = Proc { child, dir, port };
    wait_port(port);
    p
}

/// Starts the real zabbix_agentd 6.0 on a free port with `extra` config lines.
pub fn start_zabbix_agentd(extra: &str) -> Proc {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let conf = format!(
        "ListenPort={port}\nListenIP=127.0.0.1\nAllowRoot=1\nLogType=file\nLogFile={}\nPidFile={}\nStartAgents=2\n{extra}",
        dir.path().join("agentd.log").display(),
        dir.path().join("agentd.pid").display()
    );
    let path = dir.path().join("zabbix_agentd.conf");
    std::fs::write(&path, conf).expect("write config");
    let child = Command::new("zabbix_agentd")
        .process_group(0)
        .args(["-f", "-c"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn zabbix_agentd (apt-get install zabbix-agent)");
    let p = Proc { child, dir, port };
    wait_port(port);
    p
}

/// Runs the real zabbix_get.
pub fn zabbix_get(port: u16, key: &str, extra: &[&str]) -> Output {
    Command::new("zabbix_get")
        .args([
            "-s",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "5",
            "-k",
            key,
        ])
        .args(extra)
        .output()
        .expect("run zabbix_get (apt-get install zabbix-server-pgsql)")
}

/// Runs `zagent get` against `port`.
pub fn zagent_get(port: u16, key: &str) -> Output {
    Command::new(zagent_bin())
        .args([
            "get",
            "-s",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "5",
            "-k",
            key,
        ])
        .output()
        .expect("run zagent get")
}

/// stdout as a string without the final newline.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout)
        .trim_end_matches('\n')
        .to_string()
}

/// Sends raw bytes and reads until the peer closes (bounded by `timeout`).
pub fn raw_exchange(port: u16, bytes: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(timeout))?;
    s.write_all(bytes)?;
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(out),
        Err(e) => Err(e),
    }
}

/// Decodes a hex vector file.
pub fn hex_file(path: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(path).expect("read vector");
    let hex: Vec<u8> = text.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    hex.chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).expect("ascii"), 16).expect("hex"))
        .collect()
}

/// `ZBXD\x01` + len + reserved 0 + payload.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = b"ZBXD\x01".to_vec();
    v.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(payload);
    v
}

/// One answer as `zabbix_agentd -t` and `zagent test` print it.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `[t|text]`: the type letter and the value.
    Value(char, String),
    /// `[m|ZBX_NOTSUPPORTED] [reason]`.
    NotSupported(String),
}

/// Parses `KEY   [t|value]` / `KEY   [m|ZBX_NOTSUPPORTED] [reason]` (the first line of
/// `zabbix_agentd -t KEY` or `zagent test KEY`). Panics on anything else.
pub fn parse_test_output(key: &str, stdout: &str) -> Answer {
    let rest = stdout
        .strip_prefix(key)
        .unwrap_or_else(|| panic!("output does not start with the key {key}: {stdout:?}"))
        .trim_start_matches(' ');
    let rest = rest.strip_suffix('\n').unwrap_or(rest);
    if let Some(reason) = rest.strip_prefix("[m|ZBX_NOTSUPPORTED] [") {
        return Answer::NotSupported(reason.strip_suffix(']').unwrap_or(reason).to_string());
    }
    let b = rest.as_bytes();
    assert!(
        b.len() >= 4 && b[0] == b'[' && b[2] == b'|' && rest.ends_with(']'),
        "unexpected output for {key}: {stdout:?}"
    );
    Answer::Value(char::from(b[1]), rest[3..rest.len() - 1].to_string())
}

/// Sets `TCP_DEFER_ACCEPT` on a listener: connections stay in the kernel (SYN_RECV, or
/// unaccepted) until data arrives or `secs` pass — the tests' way to hold handshakes open.
pub fn set_defer_accept(l: &TcpListener, secs: u32) {
    // The agent's own call (src/sys/sockopt.rs), so the tests need no unsafe.
    if let Err(e) = zagent::sys::sockopt::set_defer_accept(l, secs) {
        panic!("setsockopt(TCP_DEFER_ACCEPT): {e}");
    }
}
