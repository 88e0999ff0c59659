//! UserParameters end to end through `zagent run` and the real `zabbix_get`:
//! - the seed's `tcp_status.sh` with its `UserParameter` line copied verbatim answers like
//!   zabbix_agentd 6.0 with the same configuration, both running in a private network
//!   namespace (so the socket table the script counts is the same for both and nobody
//!   else's connections change it) and a private mount namespace where `/etc/zabbix` is
//!   the test's directory (the line's absolute script path, with nothing written to the
//!   host's /etc);
//! - 50 slow UserParameters in flight over TCP while `agent.ping` still answers first;
//! - `zagent runtime userparameter_reload` swaps UserParameters in a running agent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use util::*;

/// The seed's line, verbatim.
const SEED_LINE: &str =
    "UserParameter=tcp.status[*],/etc/zabbix/zabbix_agentd.d/tcp_status.sh \"$1\"";

fn seed_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed/tcp_status.sh")
}

/// A network namespace deleted (with everything in it) on drop.
struct NetNs(util::netns::Netns);

impl NetNs {
    fn new(tag: &str) -> NetNs {
        NetNs(util::netns::Netns::create(&format!("zt-user-{tag}")))
    }

    /// `ip netns exec NS unshare -m sh -c '<mount /etc/zabbix and /tmp>; exec "$@"'`:
    /// runs `argv` in the namespace with `etc` bound on /etc/zabbix and a private /tmp.
    fn command(&self, etc: &Path, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0.name, "unshare", "-m", "sh", "-c"])
            .arg("mount --bind \"$0\" /etc/zabbix && mount -t tmpfs zt-tmp /tmp && exec \"$@\"")
            .arg(etc)
            .args(argv);
        c
    }

    fn zabbix_get(&self, port: u16, key: &str) -> Output {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.0.name,
                "zabbix_get",
                "-s",
                "127.0.0.1",
            ])
            .args(["-p", &port.to_string(), "-t", "10", "-k", key])
            .output()
            .unwrap()
    }

    fn wait_ping(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if stdout(&self.zabbix_get(port, "agent.ping")) == "1" {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "nothing answers agent.ping on port {port} in {}",
            self.0.name
        );
    }
}

/// A child killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn seed_tcp_status_script_answers_like_zabbix_agentd() {
    let ns = NetNs::new("seed");
    let etc = tempfile::tempdir().unwrap();
    let scripts = etc.path().join("zabbix_agentd.d");
    std::fs::create_dir(&scripts).unwrap();
    let script = scripts.join("tcp_status.sh");
    std::fs::copy(seed_script(), &script).unwrap();
    Command::new("chmod")
        .arg("a+x")
        .arg(&script)
        .status()
        .unwrap();

    // Ports inside the private namespace are all free.
    let (agentd_port, zagent_port) = (20051u16, 20052u16);
    let common = format!(
        "Server=127.0.0.1\nListenIP=127.0.0.1\nAllowRoot=1\nUnsafeUserParameters=1\n{SEED_LINE}\n"
    );
    std::fs::write(
        etc.path().join("agentd.conf"),
        format!("ListenPort={agentd_port}\nLogType=console\nStartAgents=2\n{common}"),
    )
    .unwrap();
    std::fs::write(
        etc.path().join("zagent.conf"),
        format!("ListenPort={zagent_port}\n{common}"),
    )
    .unwrap();

    let _agentd = Killed(
        ns.command(
            etc.path(),
            &["zabbix_agentd", "-f", "-c", "/etc/zabbix/agentd.conf"],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    // The command mounts a tmpfs over /tmp (the seed script writes /tmp/tcp_status.txt),
    // which would hide a binary built under /tmp: run a copy from the bind-mounted dir.
    std::fs::copy(zagent_bin(), etc.path().join("zagent")).unwrap();
    let _zagent = Killed(
        ns.command(
            etc.path(),
            &["/etc/zabbix/zagent", "run", "-c", "/etc/zabbix/zagent.conf"],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    ns.wait_ping(agentd_port);
    ns.wait_ping(zagent_port);

    // More states than the two listeners: a third listener, three established pairs, one
    // closed by the server side (CLOSE_WAIT on the client, FIN_WAIT2 on the server).
    let mut holder = Command::new("ip")
        .args(["netns", "exec", &ns.0.name, "python3", "-c"])
        .arg(
            "import socket,sys\n\
             l=socket.socket(); l.bind(('127.0.0.1',3000)); l.listen(8)\n\
             cs=[socket.create_connection(('127.0.0.1',3000)) for _ in range(3)]\n\
             ss=[l.accept()[0] for _ in range(3)]\n\
             ss[0].close()\n\
             print('ready',flush=True)\n\
             sys.stdin.read()\n",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    let _holder = Killed(holder);

    let mut compared = Vec::new();
    for state in [
        "listen",
        "established",
        "closewait",
        "finwait2",
        "synrecv",
        "synsent",
        "finwait1",
        "closing",
        "lastack",
        "closed",
        "bogus",
        "",
    ] {
        let key = format!("tcp.status[{state}]");
        let ours = ns.zabbix_get(zagent_port, &key);
        let theirs = ns.zabbix_get(agentd_port, &key);
        assert!(ours.status.success() && theirs.status.success(), "{key}");
        assert_eq!(
            stdout(&ours),
            stdout(&theirs),
            "zagent and zabbix_agentd differ on {key}"
        );
        compared.push((state, stdout(&ours)));
    }
    let value = |s: &str| compared.iter().find(|(k, _)| *k == s).unwrap().1.clone();
    // The namespace is ours: the counts are known, so the comparison is not vacuous.
    // LISTEN: agentd's socket, the holder's, and zagent's one socket per CPU, as `ss` sees.
    let ss_listen = Command::new("ip")
        .args(["netns", "exec", &ns.0.name, "ss", "-Hltn"])
        .output()
        .unwrap();
    let listening = String::from_utf8_lossy(&ss_listen.stdout).lines().count();
    assert!(listening >= 3, "{listening} listening sockets");
    assert_eq!(value("listen"), listening.to_string());
    assert_eq!(
        value("established"),
        "6",
        "3 held pairs minus one + the query's own pair"
    );
    assert_eq!(value("closewait"), "1");
    assert_eq!(value("finwait2"), "1");
    assert_eq!(value("closed"), "0");
    assert!(value("bogus").contains("Usage: sh  /etc/zabbix/zabbix_agentd.d/tcp_status.sh"));
    assert!(!value("bogus").ends_with('\n'));

    // Every finished query leaves one TIME_WAIT on the agent side, so the agent asked
    // second sees exactly one more.
    let ours: u64 = stdout(&ns.zabbix_get(zagent_port, "tcp.status[timewait]"))
        .parse()
        .unwrap();
    let theirs: u64 = stdout(&ns.zabbix_get(agentd_port, "tcp.status[timewait]"))
        .parse()
        .unwrap();
    assert_eq!(
        theirs,
        ours + 1,
        "timewait: zagent {ours}, zabbix_agentd {theirs}"
    );
}

/// One plain passive request over raw TCP; the reply payload.
fn ask(port: u16, key: &str, limit: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut req = b"ZBXD\x01".to_vec();
    req.extend_from_slice(&(key.len() as u32).to_le_bytes());
    req.extend_from_slice(&[0; 4]);
    req.extend_from_slice(key.as_bytes());
    s.write_all(&req).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out.get(13..).map(<[u8]>::to_vec).unwrap_or_default()
}

#[test]
fn fifty_slow_user_parameters_over_tcp_do_not_delay_agent_ping() {
    const SLOW: usize = 50;
    let agent = start_zagent(
        "Server=127.0.0.1\nAllowRoot=1\nTimeout=20\nUserParameter=slow[*],sleep 2; echo done $1\n",
    );
    let port = agent.port;
    let finished = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..SLOW)
        .map(|i| {
            let (finished, started) = (Arc::clone(&finished), Arc::clone(&started));
            std::thread::spawn(move || {
                started.fetch_add(1, Ordering::SeqCst);
                let reply = ask(port, &format!("slow[{i}]"), Duration::from_secs(30));
                finished.fetch_add(1, Ordering::SeqCst);
                String::from_utf8_lossy(&reply).into_owned()
            })
        })
        .collect();
    // Wait (bounded) until every request has been sent and the commands are running.
    let deadline = Instant::now() + Duration::from_secs(10);
    while started.load(Ordering::SeqCst) < SLOW && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    let before = finished.load(Ordering::SeqCst);
    let ping = zabbix_get(port, "agent.ping", &[]);
    let after = finished.load(Ordering::SeqCst);
    assert_eq!(stdout(&ping), "1");
    assert_eq!(
        (before, after),
        (0, 0),
        "agent.ping answered only after slow commands finished"
    );
    for (i, t) in threads.into_iter().enumerate() {
        assert_eq!(t.join().unwrap(), format!("done {i}"));
    }
}

fn runtime_reload(conf: &Path) -> Output {
    Command::new(zagent_bin())
        .args(["runtime", "-c"])
        .arg(conf)
        .arg("userparameter_reload")
        .output()
        .unwrap()
}

/// zabbix_get until `key` answers `want` (bounded): the reload is asynchronous.
fn wait_value(port: u16, key: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = stdout(&zabbix_get(port, key, &[]));
        if got == want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn runtime_userparameter_reload_swaps_user_parameters_in_a_running_agent() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("zagent.pid");
    let head = format!(
        "Server=127.0.0.1\nAllowRoot=1\nPidFile={}\n",
        pid_file.display()
    );
    let mut agent = start_zagent(&format!("{head}UserParameter=one,echo 1\n"));
    let conf = agent.path("zagent.conf");
    let port = agent.port;
    assert_eq!(stdout(&zabbix_get(port, "one", &[])), "1");
    assert_eq!(
        stdout(&zabbix_get(port, "two[x]", &[])),
        "ZBX_NOTSUPPORTED: Unsupported item key."
    );

    let conf_text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(
        &conf,
        conf_text.replace(
            "UserParameter=one,echo 1\n",
            "UserParameter=one,echo uno\nUserParameter=two[*],echo \"2$1\"\n",
        ),
    )
    .unwrap();
    let out = runtime_reload(&conf);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).ends_with("command sent successfully"),
        "{out:?}"
    );
    assert_eq!(wait_value(port, "two[x]", "2x"), "2x");
    assert_eq!(stdout(&zabbix_get(port, "one", &[])), "uno");

    // A broken file keeps the old set, and the agent keeps running.
    let good = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("{good}UserParameter=one,echo again\n")).unwrap();
    let out = runtime_reload(&conf);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists"),
        "the CLI warns about the broken file: {out:?}"
    );
    let log = agent.path("zagent.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("Cannot reload user parameters")
    {
        assert!(
            Instant::now() < deadline,
            "the agent never logged the refused reload"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(stdout(&zabbix_get(port, "one", &[])), "uno");
    assert_eq!(stdout(&zabbix_get(port, "two[y]", &[])), "2y");
    assert!(agent.child.try_wait().unwrap().is_none(), "the agent died");

    // No agent behind the PID file: zabbix_agentd's message and exit code 1.
    assert!(agent.terminate(Duration::from_secs(10)).is_some());
    std::fs::write(&pid_file, "999999\n").unwrap();
    std::fs::write(&conf, good).unwrap();
    let out = runtime_reload(&conf);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot send command to PID [999999]: [3] No such process"),
        "{err}"
    );
    let out = Command::new(zagent_bin())
        .args(["runtime", "-c"])
        .arg(&conf)
        .arg("bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid runtime control option: bogus"));
}

/// The `Uid:` (or `Gid:`) ids of a process: real, effective, saved, filesystem.
fn ids_of(pid: u32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn started_as_root_zagent_becomes_the_zabbix_user_unless_allow_root() {
    // SAFETY: getuid has no preconditions.
    assert_eq!(
        unsafe { libc::getuid() },
        0,
        "this test runs as root (as CI does)"
    );
    let zabbix = zagent::privdrop::lookup_user("zabbix")
        .unwrap()
        .expect("the zabbix user (installed with zabbix-agent)");

    let agent = start_zagent("Server=127.0.0.1\nUserParameter=whoami,id -un; id -u\n");
    assert_eq!(
        stdout(&zabbix_get(agent.port, "whoami", &[])),
        format!("zabbix\n{}", zabbix.uid)
    );
    let uid = zabbix.uid.to_string();
    assert_eq!(
        ids_of(agent.child.id(), "Uid:"),
        [uid.as_str(); 4].join(" ")
    );
    let gid = zabbix.gid.to_string();
    assert_eq!(
        ids_of(agent.child.id(), "Gid:"),
        [gid.as_str(); 4].join(" ")
    );

    let agent = start_zagent("Server=127.0.0.1\nAllowRoot=1\nUserParameter=whoami,id -un\n");
    assert_eq!(stdout(&zabbix_get(agent.port, "whoami", &[])), "root");
    assert_eq!(ids_of(agent.child.id(), "Uid:"), "0 0 0 0");
}

#[test]
fn zagent_test_prints_user_parameters_like_zabbix_agentd_t() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("cmp.conf");
    std::fs::write(
        &conf,
        "Server=127.0.0.1\nLogType=console\nTimeout=3\n\
         UserParameter=vector.echo[*],echo \"$1|$2|$3\"\n\
         UserParameter=plain,echo hi $1\n\
         UserParameter=ws,printf 'a b \\n\\n'\n\
         UserParameter=err,echo out; echo e >&2; exit 3\n\
         UserParameter=dollar[*],echo \"[$$1][$10]\"\n\
         UserParameter=zero[*],echo \"[$0]\"\n",
    )
    .unwrap();
    for key in [
        "vector.echo[\"a,b\",c d]",
        "vector.echo[a;b]",
        "vector.echo",
        "vector.echo[]",
        "plain",
        "plain[x]",
        "ws",
        "err",
        "dollar[A]",
        "zero[A]",
        "nokey",
        "system.run[echo x]",
    ] {
        let theirs = Command::new("zabbix_agentd")
            .arg("-c")
            .arg(&conf)
            .args(["-t", key])
            .output()
            .unwrap();
        let ours = Command::new(zagent_bin())
            .args(["test", "-c"])
            .arg(&conf)
            .arg(key)
            .output()
            .unwrap();
        assert!(ours.status.success(), "{key}: {ours:?}");
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "zagent test and zabbix_agentd -t differ on {key}"
        );
    }
}

#[test]
fn started_as_root_zagent_refuses_a_missing_or_root_user() {
    for (user, want) in [
        (
            "zt-no-such-user",
            "user zt-no-such-user does not exist; cannot run as root!",
        ),
        (
            "root",
            "User=root contradicts AllowRoot=0; cannot run as root!",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("zagent.conf");
        std::fs::write(
            &conf,
            format!(
                "Server=127.0.0.1\nListenIP=127.0.0.1\nListenPort={}\nUser={user}\n",
                free_port()
            ),
        )
        .unwrap();
        let mut child = Command::new(zagent_bin())
            .args(["run", "-c"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("zagent kept running with User={user}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!(status.code(), Some(1), "User={user}: {err}");
        assert!(err.contains(want), "User={user}: {err}");
    }
}

/// Waits (bounded) until the agent's log contains `needle`; returns the log.
fn wait_log(agent: &Proc, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(agent.path("zagent.log")).unwrap_or_default();
        if log.contains(needle) || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn start_up_log_names_the_overridden_built_in_and_remote_commands_are_logged() {
    let agent = start_zagent(&format!(
        "Server=127.0.0.1\nAllowRoot=1\nLogRemoteCommands=1\nAllowKey=system.run[*]\n{SEED_LINE}\n"
    ));
    let log = wait_log(&agent, "overrides zagent's built-in key");
    assert!(
        log.contains("UserParameter tcp.status at ")
            && log.contains(
                "remove the line to switch to the built-in netlink (sock_diag) implementation"
            ),
        "{log}"
    );
    assert_eq!(
        log.matches("overrides zagent's built-in key").count(),
        1,
        "logged once: {log}"
    );
    assert_eq!(
        stdout(&zabbix_get(agent.port, "system.run[echo zt-logged]", &[])),
        "zt-logged"
    );
    let log = wait_log(&agent, "Executing command 'echo zt-logged'");
    assert!(log.contains("Executing command 'echo zt-logged'"), "{log}");
}
