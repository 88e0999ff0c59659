//! `zagent get --tls-connect psk` against the real zabbix_agentd with TLSAccept=psk.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod util;

use std::process::Command;

use util::*;

#[test]
fn zagent_get_with_psk_reads_the_real_zabbix_agentd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let psk = dir.path().join("agent.psk");
    std::fs::write(
        &psk,
        "1f87b595725ac58dd977beef14b97461a7c1045b9a1c963065002c5473194952\n",
    )
    .expect("psk");
    let agentd = start_zabbix_agentd(&format!(
        "Server=127.0.0.1\nHostname=zt-tls-get\nTLSAccept=psk\nTLSPSKIdentity=zt-tls-get\nTLSPSKFile={}\n",
        psk.display()
    ));
    let get = |extra: &[&str]| {
        Command::new(zagent_bin())
            .args([
                "get",
                "-s",
                "127.0.0.1",
                "-p",
                &agentd.port.to_string(),
                "-t",
                "5",
                "-k",
                "agent.hostname",
            ])
            .args(extra)
            .output()
            .expect("zagent get")
    };
    let psk_arg = psk.display().to_string();
    let ok = get(&[
        "--tls-connect",
        "psk",
        "--tls-psk-identity",
        "zt-tls-get",
        "--tls-psk-file",
        &psk_arg,
    ]);
    assert!(ok.status.success(), "{ok:?}");
    assert_eq!(stdout(&ok), "zt-tls-get");

    // Unencrypted: the agent closes without a reply.
    let plain = get(&[]);
    assert_eq!(plain.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&plain.stderr).contains("Check access restrictions"),
        "{plain:?}"
    );

    // A wrong identity fails the handshake.
    let wrong = get(&[
        "--tls-connect",
        "psk",
        "--tls-psk-identity",
        "someone-else",
        "--tls-psk-file",
        &psk_arg,
    ]);
    assert_eq!(wrong.status.code(), Some(1), "{wrong:?}");
    assert_eq!(stdout(&wrong), "");

    // Bad flags are refused before connecting.
    let bad = get(&["--tls-connect", "psk"]);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
}

/// Flag combinations refused before connecting: `zagent get`/`zagent send` say what
/// zabbix_get/zabbix_sender say (the message after "PROGRAM [pid]: " and "ERROR: "),
/// a PSK or certificate file without `--tls-connect` included.
#[test]
fn flag_combinations_refused_like_zabbix_get_and_zabbix_sender() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("x.psk");
    std::fs::write(&f, "0123456789abcdef0123456789abcdef\n").expect("psk");
    let f = f.to_str().expect("path");
    let combos: Vec<Vec<&str>> = vec![
        vec!["--tls-psk-file", f],
        vec!["--tls-psk-identity", "x"],
        vec!["--tls-psk-identity", "x", "--tls-psk-file", f],
        vec![
            "--tls-cert-file",
            f,
            "--tls-key-file",
            f,
            "--tls-ca-file",
            f,
        ],
        vec!["--tls-connect", "psk"],
        vec!["--tls-connect", "cert"],
        vec!["--tls-connect", "psk", "--tls-cipher", "ALL"],
    ];
    let message = |o: &std::process::Output| -> String {
        // (zabbix_sender writes its errors to stdout, zabbix_get to stderr)
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stderr),
            String::from_utf8_lossy(&o.stdout)
        );
        let line = all
            .lines()
            .find(|l| l.contains("]: "))
            .unwrap_or("")
            .to_string();
        let after = line.split_once("]: ").map_or(line.as_str(), |(_, m)| m);
        after.strip_prefix("ERROR: ").unwrap_or(after).to_string()
    };
    let run = |prog: &str, args: &[&str]| {
        std::process::Command::new(prog)
            .args(args)
            .output()
            .expect("runs")
    };
    for c in &combos {
        let mut get = vec!["get", "-s", "127.0.0.1", "-p", "1", "-k", "agent.ping"];
        get.extend_from_slice(c);
        let ours = run(env!("CARGO_BIN_EXE_zagent"), &get);
        let real = run("zabbix_get", &get[1..]);
        assert_eq!(ours.status.code(), real.status.code(), "get {c:?}");
        assert_eq!(message(&ours), message(&real), "get {c:?}");

        let mut send = vec![
            "send",
            "-z",
            "127.0.0.1",
            "-p",
            "1",
            "-s",
            "h",
            "-k",
            "k",
            "-o",
            "1",
        ];
        send.extend_from_slice(c);
        let ours = run(env!("CARGO_BIN_EXE_zagent"), &send);
        let real = run("zabbix_sender", &send[1..]);
        assert_eq!(ours.status.code(), real.status.code(), "send {c:?}");
        assert_eq!(message(&ours), message(&real), "send {c:?}");
    }
}
