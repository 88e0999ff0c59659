//! Certificate-mode TLS with a test CA the test makes itself (RSA, as the GnuTLS-built
//! Zabbix peers need): zagent's client ↔ zagent's listener, the real zabbix_get →
//! zagent, zagent → the real zabbix_agentd, issuer/subject pins that match and that do
//! not, and the subject/issuer string format checked against OpenSSL's own printer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "tls_util/mod.rs"]
mod util;

use std::path::{Path, PathBuf};
use std::time::Duration;

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509Name, X509NameBuilder, X509};
use zagent::config::{TlsConfig, TlsMode};
use zagent::tls::{self, dn, Program};
use zagent::transport::{self, ClientOptions, TransportError};

use util::*;

const CA_DN: &str = "CN=zt-tls Test CA,O=zagent tests";
const AGENT_DN: &str = "CN=zt-tls-agent,OU=Agents,O=zagent tests";
const SERVER_DN: &str = "CN=zt-tls-server,O=zagent tests";

/// `(field, value)` pairs in certificate order (most significant first).
fn name(fields: &[(&str, &str)]) -> X509Name {
    let mut b = X509NameBuilder::new().unwrap();
    for (f, v) in fields {
        b.append_entry_by_text(f, v).unwrap();
    }
    b.build()
}

/// RSA keys from tests/fixtures/tls (generating them costs seconds on a busy machine),
/// handed out in turn.
fn rsa_key() -> PKey<Private> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let i = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 5 + 1;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/tls/rsa{i}.pem"));
    let pem = std::fs::read(&path).expect("fixture key");
    PKey::from_rsa(Rsa::private_key_from_pem(&pem).unwrap()).unwrap()
}

fn serial() -> openssl::asn1::Asn1Integer {
    let mut bn = BigNum::new().unwrap();
    bn.rand(63, openssl::bn::MsbOption::MAYBE_ZERO, false)
        .unwrap();
    bn.to_asn1_integer().unwrap()
}

fn make_ca(subject: &[(&str, &str)]) -> (X509, PKey<Private>) {
    let key = rsa_key();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&serial()).unwrap();
    let n = name(subject);
    b.set_subject_name(&n).unwrap();
    b.set_issuer_name(&n).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
        .unwrap();
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()
            .unwrap(),
    )
    .unwrap();
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(ski).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    (b.build(), key)
}

fn issue(ca: &X509, ca_key: &PKey<Private>, subject: &[(&str, &str)]) -> (X509, PKey<Private>) {
    let key = rsa_key();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&serial()).unwrap();
    b.set_subject_name(&name(subject)).unwrap();
    b.set_issuer_name(ca.subject_name()).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    b.append_extension(BasicConstraints::new().build().unwrap())
        .unwrap();
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .key_encipherment()
            .build()
            .unwrap(),
    )
    .unwrap();
    b.append_extension(
        ExtendedKeyUsage::new()
            .server_auth()
            .client_auth()
            .build()
            .unwrap(),
    )
    .unwrap();
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(Some(ca), None))
        .unwrap();
    b.append_extension(ski).unwrap();
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&b.x509v3_context(Some(ca), None))
        .unwrap();
    b.append_extension(aki).unwrap();
    b.sign(ca_key, MessageDigest::sha256()).unwrap();
    (b.build(), key)
}

/// A PEM CRL signed by `ca`, revoking `revoked`.
fn crl(ca: &X509, ca_key: &PKey<Private>, revoked: &X509) -> String {
    use openssl::asn1::{Asn1Object, Asn1OctetString};
    use openssl::x509::{X509CrlBuilder, X509Extension, X509RevokedBuilder};
    let mut b = X509CrlBuilder::new().unwrap();
    b.set_issuer_name(ca.subject_name()).unwrap();
    b.set_last_update(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_next_update(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    let ctx_holder = X509::builder().unwrap();
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&ctx_holder.x509v3_context(Some(ca), None))
        .unwrap();
    b.append_extension(aki).unwrap();
    // cRLNumber (2.5.29.20) = INTEGER 1.
    let number = X509Extension::new_from_der(
        &Asn1Object::from_str("2.5.29.20").unwrap(),
        false,
        &Asn1OctetString::new_from_bytes(&[0x02, 0x01, 0x01]).unwrap(),
    )
    .unwrap();
    b.append_extension(number).unwrap();
    let mut r = X509RevokedBuilder::new().unwrap();
    r.set_serial_number(revoked.serial_number()).unwrap();
    r.set_revocation_date(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.add_revoked(r.build()).unwrap();
    b.sign(ca_key, MessageDigest::sha256()).unwrap();
    String::from_utf8(b.build().unwrap().to_pem().unwrap()).unwrap()
}

/// The files of one test PKI.
#[derive(Debug)]
struct Pki {
    ca: PathBuf,
    agent_cert: PathBuf,
    agent_key: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    /// A client certificate from another CA with the server's subject.
    rogue_cert: PathBuf,
    rogue_key: PathBuf,
    /// A CRL from the CA revoking the server certificate, and one revoking another.
    crl_revoking_server: PathBuf,
    crl_other: PathBuf,
}

fn write_pair(dir: &Path, stem: &str, cert: &X509, key: &PKey<Private>) -> (PathBuf, PathBuf) {
    let c = write_file(
        dir,
        &format!("{stem}.crt"),
        &String::from_utf8(cert.to_pem().unwrap()).unwrap(),
        0o644,
    );
    let k = write_file(
        dir,
        &format!("{stem}.key"),
        &String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap(),
        0o600,
    );
    (c, k)
}

/// One PKI for the whole test binary: RSA key generation is the slow part.
fn pki() -> &'static Pki {
    static PKI: std::sync::OnceLock<Pki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("zt-tls-pki-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("pki dir");
        make_pki(&dir)
    })
}

fn make_pki(dir: &Path) -> Pki {
    let (ca, ca_key) = make_ca(&[("O", "zagent tests"), ("CN", "zt-tls Test CA")]);
    let ca_path = write_file(
        dir,
        "ca.crt",
        &String::from_utf8(ca.to_pem().unwrap()).unwrap(),
        0o644,
    );
    let (agent, agent_key) = issue(
        &ca,
        &ca_key,
        &[
            ("O", "zagent tests"),
            ("OU", "Agents"),
            ("CN", "zt-tls-agent"),
        ],
    );
    let (server, server_key) = issue(
        &ca,
        &ca_key,
        &[("O", "zagent tests"), ("CN", "zt-tls-server")],
    );
    let (other_ca, other_key) = make_ca(&[("O", "elsewhere"), ("CN", "zt-tls Other CA")]);
    let (rogue, rogue_key) = issue(
        &other_ca,
        &other_key,
        &[("O", "zagent tests"), ("CN", "zt-tls-server")],
    );
    let (agent_cert, agent_key) = write_pair(dir, "agent", &agent, &agent_key);
    let (server_cert, server_key) = write_pair(dir, "server", &server, &server_key);
    let (rogue_cert, rogue_key) = write_pair(dir, "rogue", &rogue, &rogue_key);
    let crl_revoking_server = write_file(dir, "revoked.crl", &crl(&ca, &ca_key, &server), 0o644);
    let crl_other = write_file(dir, "other.crl", &crl(&ca, &ca_key, &agent), 0o644);
    Pki {
        ca: ca_path,
        agent_cert,
        agent_key,
        server_cert,
        server_key,
        rogue_cert,
        rogue_key,
        crl_revoking_server,
        crl_other,
    }
}

/// The listener's settings: its own certificate, pins on the connecting server's.
fn listener_cfg(pki: &Pki, issuer: Option<&str>, subject: Option<&str>) -> TlsConfig {
    TlsConfig {
        accept: vec![TlsMode::Cert],
        ca_file: Some(pki.ca.clone()),
        cert_file: Some(pki.agent_cert.clone()),
        key_file: Some(pki.agent_key.clone()),
        server_cert_issuer: issuer.map(str::to_string),
        server_cert_subject: subject.map(str::to_string),
        ..TlsConfig::default()
    }
}

fn cert_client(
    pki: &Pki,
    cert: &Path,
    key: &Path,
    issuer: Option<&str>,
    subject: Option<&str>,
) -> ClientOptions {
    let cfg = TlsConfig {
        connect: TlsMode::Cert,
        ca_file: Some(pki.ca.clone()),
        cert_file: Some(cert.to_path_buf()),
        key_file: Some(key.to_path_buf()),
        server_cert_issuer: issuer.map(str::to_string),
        server_cert_subject: subject.map(str::to_string),
        ..TlsConfig::default()
    };
    let built = tls::build(&cfg, Program::Get).expect("client TLS builds");
    ClientOptions::new(Duration::from_secs(5)).with_tls(built.client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zagent_client_and_listener_with_certificates() {
    let pki = pki();
    let agent = start_zagent(listener_cfg(pki, Some(CA_DN), Some(SERVER_DN)));
    let good = cert_client(
        pki,
        &pki.server_cert,
        &pki.server_key,
        Some(CA_DN),
        Some(AGENT_DN),
    );
    let reply = transport::exchange("127.0.0.1", agent.port, b"agent.ping", &good)
        .await
        .expect("certificate exchange");
    assert_eq!(reply.payload, b"1");

    // The client pins a subject the agent's certificate does not have.
    let pinned = cert_client(
        pki,
        &pki.server_cert,
        &pki.server_key,
        None,
        Some("CN=zt-tls-someone-else"),
    );
    let err = transport::exchange("127.0.0.1", agent.port, b"agent.ping", &pinned)
        .await
        .unwrap_err();
    match &err {
        TransportError::Tls { reason, .. } => assert_eq!(
            reason,
            &format!("subject: peer: \"{AGENT_DN}\", required: \"CN=zt-tls-someone-else\"")
        ),
        other => panic!("expected a TLS error, got {other}"),
    }

    // A certificate from another CA is not trusted by the listener.
    let rogue = cert_client(pki, &pki.rogue_cert, &pki.rogue_key, None, None);
    let err = transport::exchange("127.0.0.1", agent.port, b"agent.ping", &rogue)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::Tls { .. } | TransportError::Empty | TransportError::Io(_)
        ),
        "{err}"
    );
    assert!(
        wait_log("unable to get local issuer certificate").await,
        "untrusted client certificate logged: {}",
        logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_refuses_a_server_certificate_with_another_subject() {
    let pki = pki();
    let agent = start_zagent(listener_cfg(
        pki,
        Some(CA_DN),
        Some("CN=zt-tls-expected,O=zagent tests"),
    ));
    let client = cert_client(pki, &pki.server_cert, &pki.server_key, None, None);
    let err = transport::exchange("127.0.0.1", agent.port, b"agent.ping", &client)
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::Empty | TransportError::Io(_)),
        "closed without reply, got {err}"
    );
    assert!(
        wait_log(&format!(
            "certificate subject does not match: peer: \"{SERVER_DN}\", TLSServerCertSubject: \
             \"CN=zt-tls-expected,O=zagent tests\""
        ))
        .await,
        "{}",
        logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_zabbix_get_with_certificates_talks_to_zagent() {
    let pki = pki();
    let agent = start_zagent(listener_cfg(pki, Some(CA_DN), Some(SERVER_DN)));
    let s = |p: &Path| p.to_string_lossy().to_string();
    let (ca, cert, key) = (s(&pki.ca), s(&pki.server_cert), s(&pki.server_key));
    let base = [
        "--tls-connect",
        "cert",
        "--tls-ca-file",
        &ca,
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
    ];
    // zabbix_get (GnuTLS) formats our certificate's names and compares them with ours.
    let mut args = base.to_vec();
    args.extend([
        "--tls-agent-cert-issuer",
        CA_DN,
        "--tls-agent-cert-subject",
        AGENT_DN,
    ]);
    let out = zabbix_get(agent.port, "agent.ping", &args).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        "1",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut args = base.to_vec();
    args.extend(["--tls-agent-cert-subject", "CN=zt-tls-wrong"]);
    let out = zabbix_get(agent.port, "agent.ping", &args).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(AGENT_DN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zagent_client_with_certificates_talks_to_real_zabbix_agentd() {
    let dir = tempdir();
    let pki = pki();
    let conf = |subject: &str| {
        format!(
            "TLSAccept=cert\nTLSCAFile={}\nTLSCertFile={}\nTLSKeyFile={}\n\
             TLSServerCertIssuer={CA_DN}\nTLSServerCertSubject={subject}",
            pki.ca.display(),
            pki.agent_cert.display(),
            pki.agent_key.display()
        )
    };
    let client = cert_client(
        pki,
        &pki.server_cert,
        &pki.server_key,
        Some(CA_DN),
        Some(AGENT_DN),
    );
    {
        let agentd = start_agentd(dir.path(), &conf(SERVER_DN));
        let reply = transport::exchange("127.0.0.1", agentd.port, b"agent.ping", &client)
            .await
            .expect("zagent → zabbix_agentd with certificates");
        assert_eq!(reply.payload, b"1");
    }
    let agentd = start_agentd(dir.path(), &conf("CN=zt-tls-not-us,O=zagent tests"));
    let err = transport::exchange("127.0.0.1", agentd.port, b"agent.ping", &client)
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::Empty | TransportError::Io(_)),
        "agentd closes without reply: {err}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !agentd
        .log_text()
        .contains("certificate subject does not match")
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(agentd
        .log_text()
        .contains("certificate subject does not match"));
}

#[test]
fn names_print_like_openssl_rfc2253_without_msb_escaping() {
    let dir = tempdir();
    let (ca, ca_key) = make_ca(&[("O", "zagent tests"), ("CN", "zt-tls Test CA")]);
    let subject = [
        ("DC", "com"),
        ("O", "Acme, Inc"),
        ("OU", "R&D <lab>;\"x\""),
        ("CN", " #lead back\\slash plus+ trail "),
        ("emailAddress", "ops@example.com"),
        ("L", "Zürich"),
        ("CN", "#first"),
    ];
    let (cert, _) = issue(&ca, &ca_key, &subject);
    let path = write_file(
        dir.path(),
        "odd.crt",
        &String::from_utf8(cert.to_pem().unwrap()).unwrap(),
        0o644,
    );
    let ours = dn::to_string(cert.subject_name());
    let out = std::process::Command::new("openssl")
        .args([
            "x509", "-noout", "-subject", "-nameopt", "RFC2253", "-nameopt", "-esc_msb", "-in",
        ])
        .arg(&path)
        .output()
        .expect("openssl CLI");
    let theirs = String::from_utf8(out.stdout).unwrap();
    let theirs = theirs
        .trim_end()
        .strip_prefix("subject=")
        .unwrap_or(&theirs);
    assert_eq!(ours, theirs);
    assert_eq!(
        ours,
        "CN=\\#first,L=Zürich,emailAddress=ops@example.com,\
         CN=\\ #lead back\\\\slash plus\\+ trail\\ ,OU=R&D \\<lab\\>\\;\\\"x\\\",O=Acme\\, Inc,DC=com"
    );
    assert_eq!(dn::to_string(cert.issuer_name()), CA_DN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_certificate_is_refused_with_tlscrlfile() {
    let pki = pki();
    let client = cert_client(pki, &pki.server_cert, &pki.server_key, None, None);
    let with_crl = |crl: &Path| TlsConfig {
        crl_file: Some(crl.to_path_buf()),
        ..listener_cfg(pki, None, None)
    };
    let agent = start_zagent(with_crl(&pki.crl_other));
    let reply = transport::exchange("127.0.0.1", agent.port, b"agent.ping", &client)
        .await
        .expect("a CRL that revokes another certificate lets this one through");
    assert_eq!(reply.payload, b"1");

    let agent = start_zagent(with_crl(&pki.crl_revoking_server));
    let err = transport::exchange("127.0.0.1", agent.port, b"agent.ping", &client)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::Tls { .. } | TransportError::Empty | TransportError::Io(_)
        ),
        "{err}"
    );
    assert!(wait_log("certificate revoked").await, "{}", logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zagent_client_with_certificates_talks_to_real_zabbix_agent2() {
    let dir = tempdir();
    let pki = pki();
    let agent2 = start_agent2(
        dir.path(),
        &format!(
            "TLSAccept=cert\nTLSCAFile={}\nTLSCertFile={}\nTLSKeyFile={}\n\
             TLSServerCertIssuer={CA_DN}\nTLSServerCertSubject={SERVER_DN}",
            pki.ca.display(),
            pki.agent_cert.display(),
            pki.agent_key.display()
        ),
    );
    let client = cert_client(
        pki,
        &pki.server_cert,
        &pki.server_key,
        Some(CA_DN),
        Some(AGENT_DN),
    );
    let reply = transport::exchange("127.0.0.1", agent2.port, b"agent.ping", &client)
        .await
        .expect("zagent → zabbix_agent2 with certificates");
    assert_eq!(reply.payload, b"1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_mismatch_is_refused_on_both_sides() {
    let pki = pki();
    let wrong_issuer = "CN=zt-tls Some Other CA,O=zagent tests";
    let agent = start_zagent(listener_cfg(pki, Some(wrong_issuer), None));
    let client = cert_client(pki, &pki.server_cert, &pki.server_key, None, None);
    let err = transport::exchange("127.0.0.1", agent.port, b"agent.ping", &client)
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::Empty | TransportError::Io(_)),
        "closed without reply, got {err}"
    );
    assert!(
        wait_log(&format!(
            "certificate issuer does not match: peer: \"{CA_DN}\", TLSServerCertIssuer: \
             \"{wrong_issuer}\""
        ))
        .await,
        "{}",
        logs()
    );

    let agent = start_zagent(listener_cfg(pki, Some(CA_DN), None));
    let pinned = cert_client(
        pki,
        &pki.server_cert,
        &pki.server_key,
        Some(wrong_issuer),
        Some("CN=zt-tls-nobody"),
    );
    match transport::exchange("127.0.0.1", agent.port, b"agent.ping", &pinned).await {
        Err(TransportError::Tls { reason, .. }) => assert_eq!(
            reason,
            format!(
                "issuer: peer: \"{CA_DN}\", required: \"{wrong_issuer}\", \
                 subject: peer: \"{AGENT_DN}\", required: \"CN=zt-tls-nobody\""
            )
        ),
        other => panic!("expected an issuer/subject mismatch, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psk_client_against_certificate_only_listener_is_refused_with_a_hint() {
    let dir = tempdir();
    let pki = pki();
    let agent = start_zagent(listener_cfg(pki, None, None));
    let key = write_file(dir.path(), "k.psk", &random_psk_hex(), 0o600);
    let key_s = key.to_string_lossy().to_string();
    let out = zabbix_get(
        agent.port,
        "agent.ping",
        &[
            "--tls-connect",
            "psk",
            "--tls-psk-identity",
            "zt-tls-x",
            "--tls-psk-file",
            &key_s,
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(
        wait_log("the peer offers no cipher suite for TLSAccept=cert").await,
        "{}",
        logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_accepting_psk_and_cert_takes_both() {
    let dir = tempdir();
    let pki = pki();
    let key = write_file(dir.path(), "k.psk", &random_psk_hex(), 0o600);
    let agent = start_zagent(TlsConfig {
        accept: vec![TlsMode::Psk, TlsMode::Cert],
        psk_identity: Some("zt-tls-both".to_string()),
        psk_file: Some(key.clone()),
        ..listener_cfg(pki, Some(CA_DN), Some(SERVER_DN))
    });
    let s = |p: &Path| p.to_string_lossy().to_string();
    let (ca, cert, ckey, psk) = (s(&pki.ca), s(&pki.server_cert), s(&pki.server_key), s(&key));
    let by_cert = zabbix_get(
        agent.port,
        "agent.ping",
        &[
            "--tls-connect",
            "cert",
            "--tls-ca-file",
            &ca,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &ckey,
        ],
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&by_cert.stdout).trim_end(), "1");
    let by_psk = zabbix_get(
        agent.port,
        "agent.ping",
        &[
            "--tls-connect",
            "psk",
            "--tls-psk-identity",
            "zt-tls-both",
            "--tls-psk-file",
            &psk,
        ],
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&by_psk.stdout).trim_end(), "1");
    // zagent's own PSK client negotiates TLS 1.3 against the combined context.
    let cfg = TlsConfig {
        connect: TlsMode::Psk,
        psk_identity: Some("zt-tls-both".to_string()),
        psk_file: Some(key),
        ..TlsConfig::default()
    };
    let opts = ClientOptions::new(Duration::from_secs(5))
        .with_tls(tls::build(&cfg, Program::Get).unwrap().client);
    let reply = transport::exchange("127.0.0.1", agent.port, b"agent.ping", &opts)
        .await
        .expect("PSK over the combined context");
    assert_eq!(reply.payload, b"1");
    // Unencrypted is not in TLSAccept.
    let plain = zabbix_get(agent.port, "agent.ping", &[]).await;
    assert!(plain.stdout.is_empty());
}

#[test]
fn multi_valued_rdn_prints_like_openssl() {
    let dir = tempdir();
    let cert_path = dir.path().join("multi.crt");
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/rsa1.pem");
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-utf8", "-days", "1", "-key"])
        .arg(&key)
        .args([
            "-subj",
            "/DC=com/O=Acme\\, Inc+OU=Ops+CN=multi one/CN=zt-tls-multi",
            "-out",
        ])
        .arg(&cert_path)
        .output()
        .expect("openssl CLI");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let cert = X509::from_pem(&std::fs::read(&cert_path).unwrap()).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "x509", "-noout", "-subject", "-nameopt", "RFC2253", "-nameopt", "-esc_msb", "-in",
        ])
        .arg(&cert_path)
        .output()
        .expect("openssl CLI");
    let theirs = String::from_utf8(out.stdout).unwrap();
    let theirs = theirs
        .trim_end()
        .strip_prefix("subject=")
        .unwrap_or(&theirs)
        .to_string();
    let ours = dn::to_string(cert.subject_name());
    assert_eq!(ours, theirs);
    assert!(ours.starts_with("CN=zt-tls-multi,"), "{ours}");
    assert_eq!(ours.matches('+').count(), 2, "{ours}");
}

#[test]
fn zagent_get_with_certificates_reads_the_real_zabbix_agentd() {
    let dir = tempdir();
    let pki = pki();
    let agentd = start_agentd(
        dir.path(),
        &format!(
            "TLSAccept=cert\nTLSCAFile={}\nTLSCertFile={}\nTLSKeyFile={}\n\
             TLSServerCertIssuer={CA_DN}\nTLSServerCertSubject={SERVER_DN}",
            pki.ca.display(),
            pki.agent_cert.display(),
            pki.agent_key.display()
        ),
    );
    let s = |p: &Path| p.to_string_lossy().to_string();
    let (ca, cert, key) = (s(&pki.ca), s(&pki.server_cert), s(&pki.server_key));
    let port = agentd.port.to_string();
    let get = |subject: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_zagent"))
            .args([
                "get",
                "-s",
                "127.0.0.1",
                "-p",
                &port,
                "-t",
                "5",
                "-k",
                "agent.hostname",
            ])
            .args(["--tls-connect", "cert", "--tls-ca-file", &ca])
            .args(["--tls-cert-file", &cert, "--tls-key-file", &key])
            .args([
                "--tls-agent-cert-issuer",
                CA_DN,
                "--tls-agent-cert-subject",
                subject,
            ])
            .output()
            .expect("zagent get")
    };
    let ok = get(AGENT_DN);
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim_end(),
        "zt-tls-agentd",
        "stderr: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = get("CN=zt-tls-nobody");
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot establish TLS to [[127.0.0.1]:{}]: subject: peer: \"{AGENT_DN}\", required: \
             \"CN=zt-tls-nobody\"",
            agentd.port
        )),
        "{stderr}"
    );
}
