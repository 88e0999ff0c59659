//! `Type=notify` end to end: zagent started with a fake `NOTIFY_SOCKET` (an abstract socket,
//! the form systemd uses in containers) sends READY=1 once it answers, RELOADING=1 then
//! READY=1 around a SIGUSR1 reload, and STOPPING=1 on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod util;

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

fn recv(rx: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = rx.recv(&mut buf).expect("a notification within 10 s");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

#[test]
fn ready_reloading_stopping_over_an_abstract_socket() {
    let name = format!("pkg-zagent-notify-{}", std::process::id());
    let rx = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name).unwrap()).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = util::free_port();
    let conf = dir.path().join("zagent.conf");
    std::fs::write(
        &conf,
        format!(
            "LogType=console\nServer=127.0.0.1\nListenIP=127.0.0.1\nListenPort={port}\nAllowRoot=1\nUserParameter=pkg.echo,echo 1\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(util::zagent_bin())
        .process_group(0)
        .args(["run", "-c"])
        .arg(&conf)
        .env("NOTIFY_SOCKET", format!("@{name}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();

    let ready = recv(&rx);
    assert!(ready.starts_with("READY=1\nSTATUS="), "{ready:?}");
    // READY means serving: the port answers at once, no waiting.
    let ping = util::zabbix_get(port, "agent.ping", &[]);
    assert_eq!(util::stdout(&ping).trim(), "1");

    signal(pid, libc::SIGUSR1);
    let reloading = recv(&rx);
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading:?}"
    );
    assert_eq!(recv(&rx), "READY=1");

    signal(pid, libc::SIGTERM);
    assert_eq!(recv(&rx), "STOPPING=1");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
