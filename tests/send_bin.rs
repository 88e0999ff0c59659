//! The `zagent send` binary against the real Zabbix 6.0 trapper of the lab: what a user
//! types, with standard input (`-i -`), real-time mode and the exit codes on stdout/stderr
//! exactly as zabbix_sender prints them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "interop/lab.rs"]
mod lab;

use std::io::Write;
use std::process::{Command, Stdio};

use lab::Lab;

fn zagent_send(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zagent"))
        .arg("send")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn zagent_send_reads_standard_input_and_exits_like_zabbix_sender() {
    let lab = Lab::shared();
    let host = "zt-send-bin";
    lab.fresh_trapper_host(host, &["trap.num::uint", "trap.text"]);
    let port = lab.port.to_string();
    let input = format!("- trap.num 1795265000 5\n{host} trap.text 1795265001 \"a b\"\n");
    let (code, out, err) = zagent_send(
        &[
            "-z",
            "127.0.0.1",
            "-p",
            &port,
            "-s",
            host,
            "-T",
            "-r",
            "-i",
            "-",
        ],
        &input,
    );
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    for l in &lines[..2] {
        assert!(
            l.starts_with(&format!(
                "Response from \"127.0.0.1:{port}\": \"processed: 1; failed: 0; total: 1; seconds spent: "
            )),
            "{l}"
        );
    }
    assert_eq!(lines[2], "sent: 2; skipped: 0; total: 2");
    assert!(lab.wait(host, "trap.num", 1, 10));
    assert!(lab.wait(host, "trap.text", 1, 10));
    assert_eq!(lab.values(host, "trap.num"), vec!["5"]);
    assert_eq!(lab.values(host, "trap.text"), vec!["a b"]);

    // Some values refused by the server: exit 2.
    let (code, out, _) = zagent_send(
        &[
            "-z",
            "127.0.0.1",
            "-p",
            &port,
            "-s",
            host,
            "-k",
            "trap.nosuch",
            "-o",
            "1",
        ],
        "",
    );
    assert_eq!(code, 2, "{out}");
    // Nothing reachable: exit 1 and zabbix_sender's line.
    let dead = lab::free_port().to_string();
    let (code, out, _) = zagent_send(
        &[
            "-z",
            "127.0.0.1",
            "-p",
            &dead,
            "-s",
            host,
            "-k",
            "trap.num",
            "-o",
            "1",
        ],
        "",
    );
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "Sending failed. Use option -vv for more detailed output.\n"
    );
    lab.run_ok(&["reset", host]).unwrap();
}
