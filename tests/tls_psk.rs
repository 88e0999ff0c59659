//! TLS with a pre-shared key against real peers: the real zabbix_get (GnuTLS, TLS 1.2)
//! talking to zagent's listener, zagent's client talking to the real zabbix_agentd and
//! to zagent's own listener (OpenSSL on both ends: TLS 1.3), and every refusal.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "tls_util/mod.rs"]
mod util;

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zagent::config::{TlsConfig, TlsMode};
use zagent::tls::{self, Program};
use zagent::transport::{self, ClientOptions, TransportError};

use util::*;

const ID: &str = "zt-tls-psk-id";

fn psk_accept(psk_file: &std::path::Path, accept: Vec<TlsMode>) -> TlsConfig {
    TlsConfig {
        accept,
        psk_identity: Some(ID.to_string()),
        psk_file: Some(psk_file.to_path_buf()),
        ..TlsConfig::default()
    }
}

fn client(identity: &str, psk_file: &std::path::Path) -> ClientOptions {
    let cfg = TlsConfig {
        connect: TlsMode::Psk,
        psk_identity: Some(identity.to_string()),
        psk_file: Some(psk_file.to_path_buf()),
        ..TlsConfig::default()
    };
    let built = tls::build(&cfg, Program::Get).expect("client TLS builds");
    ClientOptions::new(Duration::from_secs(5)).with_tls(built.client)
}

fn text(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).trim_end().to_string(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_zabbix_get_with_psk_gets_answers_from_zagent() {
    let dir = tempdir();
    let key = write_file(dir.path(), "k.psk", &random_psk_hex(), 0o600);
    let agent = start_zagent(psk_accept(&key, vec![TlsMode::Psk]));
    let key_s = key.to_string_lossy().to_string();
    let psk_args = [
        "--tls-connect",
        "psk",
        "--tls-psk-identity",
        ID,
        "--tls-psk-file",
        &key_s,
    ];

    let out = zabbix_get(agent.port, "agent.ping", &psk_args).await;
    assert_eq!(text(&out).0, "1", "stderr: {}", text(&out).1);
    assert!(out.status.success());
    let out = zabbix_get(agent.port, "agent.hostname", &psk_args).await;
    assert_eq!(text(&out).0, "zt-tls-agent");
    let out = zabbix_get(agent.port, "no.such.key", &psk_args).await;
    assert_eq!(text(&out).0, "ZBX_NOTSUPPORTED: Unsupported item key.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_zabbix_get_with_psk_talks_to_zagent_run() {
    let dir = tempdir();
    let key = write_file(dir.path(), "k.psk", &random_psk_hex(), 0o600);
    let wrong = write_file(dir.path(), "wrong.psk", &random_psk_hex(), 0o600);
    let agent = start_zagent_run(
        dir.path(),
        &format!(
            "TLSAccept=psk\nTLSPSKIdentity={ID}\nTLSPSKFile={}",
            key.display()
        ),
    );
    let (key_s, wrong_s) = (key.to_string_lossy(), wrong.to_string_lossy());
    let out = zabbix_get(
        agent.port,
        "agent.hostname",
        &[
            "--tls-connect",
            "psk",
            "--tls-psk-identity",
            ID,
            "--tls-psk-file",
            &key_s,
        ],
    )
    .await;
    assert_eq!(text(&out).0, "zt-tls-run", "stderr: {}", text(&out).1);

    let out = zabbix_get(agent.port, "agent.ping", &[]).await;
    assert!(!out.status.success());
    assert_eq!(text(&out).0, "");
    let out = zabbix_get(
        agent.port,
        "agent.ping",
        &[
            "--tls-connect",
            "psk",
            "--tls-psk-identity",
            ID,
            "--tls-psk-file",
            &wrong_s,
        ],
    )
    .await;
    assert!(!out.status.success());
    assert_eq!(text(&out).0, "");

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let want = [
        "unencrypted connections are not allowed (TLSAccept=psk)",
        "differs from TLSPSKFile",
    ];
    while !want.iter().all(|w| agent.log_text().contains(w)) && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = agent.log_text();
    assert!(
        want.iter().all(|w| log.contains(w)),
        "zagent run log: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_connection_to_psk_only_listener_is_closed_without_reply() {
    let dir = tempdir();
    let key = write_file(dir.path(), "k.psk", &random_psk_hex(), 0o600);
    let agent = start_zagent(psk_accept(&key, vec![TlsMode::Psk]));

    let out = zabbix_get(agent.port, "agent.ping", &[]).await;
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert_eq!(stdout, "", "no value for a plain request");
    assert!(
        stderr.contains("Check access restrictions in Zabbix agent configuration"),
        "zabbix_get saw no reply: {stderr}"
    );

    // The same bytes as the captured vector: closed without a single byte back.
    let request = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/zbx-proto/tests/vectors/tls/unencrypted-to-psk-only-agent.request.hex"
    ))
    .ok()
    .and_then(|h| tls::psk::decode_hex(h.trim().as_bytes()))
    .expect("the captured vector is in the repository");
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", agent.port))
        .await
        .unwrap();
    s.write_all(&request).await.unwrap();
    let mut got = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got)).await;
    assert!(
        matches!(n, Ok(Ok(0)) | Ok(Err(_))),
        "expected close without reply, got {got:?}"
    );

    assert!(
        wait_log("unencrypted connections are not allowed (TLSAccept=psk)").await,
        "reason logged: {}",
        logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_or_identity_is_refused_and_logged() {
    let dir = tempdir();
    let key = write_file(dir.path(), "k.psk", &random_psk_hex(), 0o600);
    let wrong = write_file(dir.path(), "wrong.psk", &random_psk_hex(), 0o600);
    let agent = start_zagent(psk_accept(&key, vec![TlsMode::Psk]));
    let wrong_s = wrong.to_string_lossy().to_string();
    let key_s = key.to_string_lossy().to_string();

    let out = zabbix_get(
        agent.port,
        "agent.ping",
        &[
            "--tls-connect",
            "psk",
            "--tls-psk-identity",
            ID,
            "--tls-psk-file",
            &wrong_s,
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert_eq!(stdout, "");
    assert!(stderr.contains("cannot establish TLS"), "{stderr}");
    assert!(
        wait_log(&format!(
            "the peer's pre-shared key for PSK identity \"{ID}\" differs from TLSPSKFile"
        ))
        .await,
        "wrong key logged: {}",
        logs()
    );

    let out = zabbix_get(
        agent.port,
        "agent.ping",
        &[
            "--tls-connect",
            "psk",
            "--tls-psk-identity",
            "zt-tls-other",
            "--tls-psk-file",
            &key_s,
        ],
    )
    .await;
    assert!(!out.status.success());
    assert_eq!(text(&out).0, "");
    assert!(
        wait_log(&format!(
            "unknown PSK identity \"zt-tls-other\" (TLSPSKIdentity is \"{ID}\")"
        ))
        .await,
        "wrong identity logged: {}",
        logs()
    );

    // zagent's own client (TLS 1.3 against this listener) is refused the same way.
    let err = transport::exchange("127.0.0.1", agent.port, b"agent.ping", &client(ID, &wrong))
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Tls { .. }), "{err}");
    assert!(err.to_string().starts_with(&format!(
        "TCP successful, cannot establish TLS to [[127.0.0.1]:{}]: ",
        agent.port
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zagent_client_and_listener_agree_over_tls13() {
    let dir = tempdir();
    let key = write_file(dir.path(), "k.psk", &random_psk_hex(), 0o600);
    let agent = start_zagent(psk_accept(&key, vec![TlsMode::Unencrypted, TlsMode::Psk]));
    let reply = transport::exchange("127.0.0.1", agent.port, b"agent.ping", &client(ID, &key))
        .await
        .expect("PSK exchange");
    assert_eq!(reply.payload, b"1");
    // TLSAccept=unencrypted,psk takes plain requests too.
    let out = zabbix_get(agent.port, "agent.ping", &[]).await;
    assert_eq!(text(&out).0, "1");
    assert!(
        wait_log("TLSv1.3").await,
        "zagent↔zagent negotiates TLS 1.3: {}",
        logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_unencrypted_only_listener_is_refused() {
    let dir = tempdir();
    let key = write_file(dir.path(), "k.psk", &random_psk_hex(), 0o600);
    let agent = start_zagent(TlsConfig::default());
    let key_s = key.to_string_lossy().to_string();
    let out = zabbix_get(
        agent.port,
        "agent.ping",
        &[
            "--tls-connect",
            "psk",
            "--tls-psk-identity",
            ID,
            "--tls-psk-file",
            &key_s,
        ],
    )
    .await;
    assert!(!out.status.success());
    assert_eq!(text(&out).0, "");
    assert!(wait_log("TLS connections are not allowed (TLSAccept=unencrypted)").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zagent_client_with_psk_talks_to_real_zabbix_agentd() {
    let dir = tempdir();
    let hex = random_psk_hex();
    let key = write_file(dir.path(), "k.psk", &hex, 0o600);
    let agentd = start_agentd(
        dir.path(),
        &format!(
            "TLSAccept=psk\nTLSPSKIdentity={ID}\nTLSPSKFile={}",
            key.display()
        ),
    );
    let reply = transport::exchange("127.0.0.1", agentd.port, b"agent.ping", &client(ID, &key))
        .await
        .expect("zagent → zabbix_agentd over PSK");
    assert_eq!(reply.payload, b"1");
    let reply = transport::exchange(
        "127.0.0.1",
        agentd.port,
        b"agent.hostname",
        &client(ID, &key),
    )
    .await
    .expect("second exchange");
    assert_eq!(reply.payload, b"zt-tls-agentd");

    // A wrong identity: agentd refuses, and says why in its own log.
    let err = transport::exchange(
        "127.0.0.1",
        agentd.port,
        b"agent.ping",
        &client("zt-tls-nobody", &key),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, TransportError::Tls { .. }), "{err}");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !agentd
        .log_text()
        .contains("cannot find requested PSK identity \"zt-tls-nobody\"")
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(agentd
        .log_text()
        .contains("cannot find requested PSK identity \"zt-tls-nobody\""));
    // Unencrypted to the PSK-only agentd: no reply.
    let plain = ClientOptions::new(Duration::from_secs(5));
    let err = transport::exchange("127.0.0.1", agentd.port, b"agent.ping", &plain)
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::Empty | TransportError::Io(_)),
        "{err}"
    );
}

#[test]
fn start_up_checks_read_the_psk_file_as_zabbix_agentd() {
    let dir = tempdir();
    let short = write_file(dir.path(), "short.psk", "abcd\n", 0o600);
    let cfg = psk_accept(&short, vec![TlsMode::Psk]);
    let agent = Program::Agent {
        active: false,
        passive: true,
    };
    assert_eq!(
        tls::build(&cfg, agent).unwrap_err().to_string(),
        format!(
            "PSK in file \"{}\" is too short. Minimum is 32 hex-digits",
            short.display()
        )
    );
    let missing = dir.path().join("missing.psk");
    assert_eq!(
        tls::build(&psk_accept(&missing, vec![TlsMode::Psk]), agent)
            .unwrap_err()
            .to_string(),
        format!(
            "cannot open file \"{}\": [2] No such file or directory",
            missing.display()
        )
    );
    let open = write_file(dir.path(), "open.psk", &random_psk_hex(), 0o644);
    let built = tls::build(&psk_accept(&open, vec![TlsMode::Psk]), agent).expect("builds");
    assert_eq!(built.warnings.len(), 1, "{:?}", built.warnings);
    assert!(built.warnings[0].contains("is accessible by all users (mode 0644)"));
    let closed = write_file(dir.path(), "closed.psk", &random_psk_hex(), 0o640);
    let built = tls::build(&psk_accept(&closed, vec![TlsMode::Psk]), agent).expect("builds");
    assert!(built.warnings.is_empty());
    assert!(built.client.is_none(), "no active checks, no client side");
    // An identity longer than the server can store starts (as zabbix_agentd 6.0.14) but
    // is reported.
    let long = TlsConfig {
        psk_identity: Some("x".repeat(129)),
        ..psk_accept(&closed, vec![TlsMode::Psk])
    };
    let built = tls::build(&long, agent).expect("builds");
    assert_eq!(built.warnings.len(), 1);
    assert!(built.warnings[0]
        .starts_with("PSK identity length 129 exceeds the maximum length of 128 bytes."));
    let _ = Arc::clone(&built.server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zagent_client_with_psk_talks_to_real_zabbix_agent2_over_tls13() {
    let dir = tempdir();
    let key = write_file(dir.path(), "k.psk", &random_psk_hex(), 0o600);
    let agent2 = start_agent2(
        dir.path(),
        &format!(
            "TLSAccept=psk\nTLSPSKIdentity={ID}\nTLSPSKFile={}",
            key.display()
        ),
    );
    let opts = client(ID, &key);
    let mut stream = transport::connect("127.0.0.1", agent2.port, &opts)
        .await
        .expect("PSK handshake with zabbix_agent2");
    let version = match &stream {
        transport::Stream::Tls(s) => s.ssl().version_str().to_string(),
        transport::Stream::Plain(_) => String::from("plain"),
    };
    assert_eq!(
        version, "TLSv1.3",
        "agent2 (OpenSSL) and zagent agree on TLS 1.3 PSK"
    );
    transport::write_all(&mut stream, &zbx_proto::frame::encode(b"agent.hostname"))
        .await
        .unwrap();
    let reply = transport::read_frame(&mut stream, &zbx_proto::frame::Limits::REPLY)
        .await
        .unwrap()
        .expect("a reply");
    assert_eq!(reply.payload, b"zt-tls-agent2");

    let wrong = write_file(dir.path(), "wrong.psk", &random_psk_hex(), 0o600);
    let err = transport::exchange("127.0.0.1", agent2.port, b"agent.ping", &client(ID, &wrong))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::Tls { .. } | TransportError::Empty | TransportError::Io(_)
        ),
        "{err}"
    );
}
