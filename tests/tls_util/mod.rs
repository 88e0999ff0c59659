//! Helpers shared by the TLS integration tests (included with `#[path]`): an in-process
//! zagent listener, a real zabbix_agentd on a free port, zabbix_get, captured logs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use zagent::config::{Config, TlsConfig};
use zagent::keys::AgentCtx;
use zagent::passive;

#[path = "../util/mod.rs"]
mod common;

pub const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Log lines written by the code under test (all tests of one binary share it).
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone, Debug)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the log capture once.
pub fn capture_logs() {
    let buf = LOGS.get_or_init(|| Arc::new(Mutex::new(Vec::new())));
    let writer = Capture(Arc::clone(buf));
    let _ = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .try_init();
}

/// Everything logged so far.
pub fn logs() -> String {
    LOGS.get()
        .and_then(|b| {
            b.lock()
                .ok()
                .map(|v| String::from_utf8_lossy(&v).into_owned())
        })
        .unwrap_or_default()
}

/// Waits (bounded) until the captured log contains `needle`.
pub async fn wait_log(needle: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if logs().contains(needle) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// A zagent passive listener running in this process.
#[derive(Debug)]
pub struct Zagent {
    pub port: u16,
    token: CancellationToken,
}

impl Drop for Zagent {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// Starts the passive listener on 127.0.0.1 and a free port with `tls`.
pub fn start_zagent(tls: TlsConfig) -> Zagent {
    capture_logs();
    let cfg = Config {
        tls,
        hostnames: vec!["zt-tls-agent".to_string()],
        ..Config::default()
    };
    let listeners = passive::bind(&[LOCALHOST], 0, 64).expect("bind");
    let port = listeners[0].local_addr().expect("addr").port();
    let token = CancellationToken::new();
    let ctx = AgentCtx::new(Arc::new(cfg));
    tokio::spawn(passive::serve(ctx, listeners, token.clone()));
    Zagent { port, token }
}

/// A temporary directory for keys, certificates and configs.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("zt-tls-")
        .tempdir()
        .expect("tempdir")
}

/// Writes `content` to `dir/name` with `mode`.
pub fn write_file(dir: &Path, name: &str, content: &str, mode: u32) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    p
}

/// A random 256-bit PSK as hex.
pub fn random_psk_hex() -> String {
    let mut b = [0u8; 32];
    openssl::rand::rand_bytes(&mut b).expect("rand");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A port nobody listens on right now, in zabbix_agentd's ListenPort range (1024–32767).
pub fn free_port() -> u16 {
    common::free_port()
}

/// Runs the real zabbix_get against 127.0.0.1:`port` with extra arguments.
pub async fn zabbix_get(port: u16, key: &str, extra: &[&str]) -> Output {
    tokio::process::Command::new("zabbix_get")
        .args([
            "-s",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-k",
            key,
            "-t",
            "5",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("zabbix_get runs")
}

/// A real zabbix_agentd in the foreground, stopped (SIGTERM) when dropped.
#[derive(Debug)]
pub struct Agentd {
    pub port: u16,
    pub log: PathBuf,
    child: Child,
}

impl Drop for Agentd {
    fn drop(&mut self) {
        common::stop_group(&mut self.child, Duration::from_secs(5));
    }
}

impl Agentd {
    /// The agent's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Starts zabbix_agentd on a free port with `extra` config lines (TLS*), waiting until
/// it accepts connections.
pub fn start_agentd(dir: &Path, extra: &str) -> Agentd {
    let port = free_port();
    let log = dir.join("agentd.log");
    let conf = format!(
        "LogType=file\nLogFile={}\nPidFile={}\nAllowRoot=1\nServer=127.0.0.1\nListenIP=127.0.0.1\n\
         ListenPort={port}\nStartAgents=2\nHostname=zt-tls-agentd\nTimeout=5\n{extra}\n",
        log.display(),
        dir.join("agentd.pid").display()
    );
    let conf_path = write_file(dir, "agentd.conf", &conf, 0o600);
    start_official("zabbix_agentd", &["-f", "-c"], &conf_path, port, log)
}

/// Starts zabbix_agent2 (Go, TLS through OpenSSL 3: TLS 1.3 capable) on a free port.
pub fn start_agent2(dir: &Path, extra: &str) -> Agentd {
    let port = free_port();
    let log = dir.join("agent2.log");
    let conf = format!(
        "LogType=file\nLogFile={}\nPidFile={}\nControlSocket={}\nServer=127.0.0.1\n\
         ListenIP=127.0.0.1\nListenPort={port}\nHostname=zt-tls-agent2\nTimeout=5\n{extra}\n",
        log.display(),
        dir.join("agent2.pid").display(),
        dir.join("agent2.sock").display()
    );
    let conf_path = write_file(dir, "agent2.conf", &conf, 0o600);
    start_official("zabbix_agent2", &["-c"], &conf_path, port, log)
}

fn start_official(
    program: &str,
    args: &[&str],
    conf_path: &Path,
    port: u16,
    log: PathBuf,
) -> Agentd {
    let child = Command::new(program)
        .process_group(0)
        .args(args)
        .arg(conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the official agent starts");
    let agent = Agentd { port, log, child };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(SocketAddr::new(LOCALHOST, port)).is_ok() {
            return agent;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut agent = agent;
    common::stop_group(&mut agent.child, Duration::from_secs(1));
    let mut err = String::new();
    if let Some(mut e) = agent.child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    panic!(
        "{program} did not listen on {port}: {err} {}",
        agent.log_text()
    );
}

/// The `zagent run -c FILE` process, stopped (SIGTERM) when dropped.
#[derive(Debug)]
pub struct ZagentRun {
    pub port: u16,
    pub log: PathBuf,
    child: Child,
}

impl Drop for ZagentRun {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: signalling our own child by its pid.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ZagentRun {
    /// What the agent logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Starts the real `zagent run -c FILE` on a free port with `extra` config lines.
pub fn start_zagent_run(dir: &Path, extra: &str) -> ZagentRun {
    let port = free_port();
    let log = dir.join("zagent.log");
    let conf = format!(
        "LogType=file\nLogFile={}\nAllowRoot=1\nServer=127.0.0.1\nListenIP=127.0.0.1\n\
         ListenPort={port}\nHostname=zt-tls-run\nTimeout=5\n{extra}\n",
        log.display()
    );
    let conf_path = write_file(dir, "zagent.conf", &conf, 0o600);
    let child = Command::new(env!("CARGO_BIN_EXE_zagent"))
        .args(["run", "-c"])
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("zagent run starts");
    let agent = ZagentRun { port, log, child };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(SocketAddr::new(LOCALHOST, port)).is_ok() {
            return agent;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("zagent run did not listen on {port}: {}", agent.log_text());
}
