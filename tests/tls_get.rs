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
