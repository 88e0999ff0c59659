//! Service keys against the real zabbix_agentd 6.0: `net.tcp.service[.perf]`,
//! `net.udp.service[.perf]`, `web.page.get/perf/regexp`, `net.dns[.record]`.
//!
//! Every key is asked of `zabbix_agentd -t` and of `zagent test` against servers this
//! test starts on 127.0.0.1 (banner servers, a telnet and an LDAP responder, an HTTP
//! and HTTPS server, an NTP responder) and, for DNS (always port 53), a server in a
//! network namespace of the test's own thread: same values (perf: both 0, or both
//! positive and below the timeout), same error texts. Needs root and zabbix_agentd.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

mod util;
use util::Answer;

const TIMEOUT_SECS: u64 = 2;

#[derive(Debug, Clone, Copy)]
enum Cmp {
    /// Same letter and text.
    Exact,
    /// Both `d`, both 0 or both in (0, timeout).
    Perf,
}

fn parse_output(key: &str, stdout: &str) -> Answer {
    util::parse_test_output(key, stdout)
}

fn write_conf(dir: &Path) -> PathBuf {
    let conf = dir.join("agent.conf");
    std::fs::write(
        &conf,
        format!("AllowRoot=1\nLogType=console\nHostname=zt-svc\nTimeout={TIMEOUT_SECS}\n"),
    )
    .unwrap();
    conf
}

fn agentd_cmd(conf: &Path, key: &str) -> std::process::Command {
    let mut c = std::process::Command::new("zabbix_agentd");
    c.arg("-c").arg(conf).arg("-t").arg(key);
    c
}

fn zagent_cmd(conf: &Path, key: &str) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_zagent"));
    c.arg("test").arg("-c").arg(conf).arg(key);
    c
}

async fn run(cmd: std::process::Command, key: &str) -> Answer {
    let out = tokio::process::Command::from(cmd)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run for {key}: {e}"));
    parse_output(key, &String::from_utf8_lossy(&out.stdout))
}

fn differs(key: &str, cmp: Cmp, official: &Answer, ours: &Answer) -> Option<String> {
    let ok = match (official, ours, cmp) {
        (Answer::NotSupported(a), Answer::NotSupported(b), _) => a == b,
        (Answer::Value(ta, a), Answer::Value(tb, b), Cmp::Exact) => ta == tb && a == b,
        (Answer::Value('d', a), Answer::Value('d', b), Cmp::Perf) => {
            let (a, b): (f64, f64) = (a.parse().unwrap(), b.parse().unwrap());
            let up = |v: f64| v > 0.0 && v < TIMEOUT_SECS as f64;
            (a == 0.0 && b == 0.0) || (up(a) && up(b))
        }
        _ => false,
    };
    (!ok).then(|| format!("{key}: agentd {official:?} vs zagent {ours:?}"))
}

/// Asks both agents every key (concurrently) and returns the differences.
async fn compare_all(conf: &Path, keys: &[(String, Cmp)]) -> Vec<String> {
    let mut tasks = Vec::new();
    for (key, cmp) in keys {
        let (conf, key, cmp) = (conf.to_path_buf(), key.clone(), *cmp);
        tasks.push(tokio::spawn(async move {
            let (a, b) = tokio::join!(
                run(agentd_cmd(&conf, &key), &key),
                run(zagent_cmd(&conf, &key), &key)
            );
            (differs(&key, cmp, &a, &b), key, a)
        }));
    }
    let mut diffs = Vec::new();
    for t in tasks {
        let (d, key, a) = t.await.unwrap();
        eprintln!("{key} -> {a:?}");
        diffs.extend(d);
    }
    diffs
}

fn exact(keys: &[String]) -> Vec<(String, Cmp)> {
    keys.iter().map(|k| (k.clone(), Cmp::Exact)).collect()
}

// ---------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------

/// What clients sent, per server.
type Received = Arc<Mutex<Vec<Vec<u8>>>>;

/// Accepts connections; each gets `greeting`, then what the client sends is recorded
/// until it closes (or 3 s pass).
async fn banner_server(greeting: &'static [u8]) -> (u16, Received) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let got: Received = Arc::default();
    let got2 = Arc::clone(&got);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let got = Arc::clone(&got2);
            tokio::spawn(async move {
                let _ = s.write_all(greeting).await;
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                let read = async {
                    while let Ok(n) = s.read(&mut chunk).await {
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                };
                let _ = tokio::time::timeout(Duration::from_secs(3), read).await;
                got.lock().unwrap().push(buf);
            });
        }
    });
    (port, got)
}

/// A port nothing listens on (TCP and UDP) a moment ago.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}

/// A telnet server: asks for terminal type, then prints a login prompt and waits.
async fn telnet_server(good: bool) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                if good {
                    let _ = s.write_all(&[255, 253, 24, 255, 251, 3]).await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let _ = s.write_all(b"Debian GNU/Linux 12\r\nhost login: ").await;
                    // Read (the option replies) until the client goes away.
                    let mut b = [0u8; 256];
                    let drain = async { while matches!(s.read(&mut b).await, Ok(n) if n > 0) {} };
                    let _ = tokio::time::timeout(Duration::from_secs(3), drain).await;
                } else {
                    let _ = s.write_all(b"Service closed\r\n").await;
                }
            });
        }
    });
    port
}

fn ber(tag: u8, content: &[u8]) -> Vec<u8> {
    assert!(content.len() < 128);
    let mut v = vec![tag, content.len() as u8];
    v.extend_from_slice(content);
    v
}

/// An LDAP server answering any search with a root DSE entry (or, when `good` is
/// false, with SearchResultDone only).
async fn ldap_server(good: bool) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut b = [0u8; 1024];
                let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(3), s.read(&mut b)).await
                else {
                    return;
                };
                // Message id: the INTEGER after the outer SEQUENCE header.
                let id = if n > 4 { b[4] } else { 1 };
                let mut attr = ber(0x04, b"namingContexts");
                attr.extend(ber(0x31, &ber(0x04, b"dc=example,dc=test")));
                let mut entry = ber(0x04, b"");
                entry.extend(ber(0x30, &ber(0x30, &attr)));
                let mut m1 = ber(0x02, &[id]);
                m1.extend(ber(0x64, &entry));
                let mut m2 = ber(0x02, &[id]);
                m2.extend(ber(0x65, &[0x0a, 1, 0, 4, 0, 4, 0]));
                let mut out = Vec::new();
                if good {
                    out.extend(ber(0x30, &m1));
                }
                out.extend(ber(0x30, &m2));
                let _ = s.write_all(&out).await;
                let _ = tokio::time::timeout(Duration::from_secs(3), s.read(&mut b)).await;
            });
        }
    });
    port
}

/// An NTP responder; `version` is what it puts in its answers (agentd wants 3).
async fn ntp_server(version: u8) -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = s.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut b = [0u8; 512];
        while let Ok((n, peer)) = s.recv_from(&mut b).await {
            if n != 48 {
                continue;
            }
            let mut r = [0u8; 48];
            r[0] = (version << 3) | 4;
            r[1] = 2;
            r[24..32].copy_from_slice(&b[40..48]);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 2_208_988_800;
            r[32..36].copy_from_slice(&(now as u32).to_be_bytes());
            r[40..44].copy_from_slice(&(now as u32).to_be_bytes());
            let _ = s.send_to(&r, peer).await;
        }
    });
    port
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut e, data).unwrap();
    e.finish().unwrap()
}

/// The HTTP answer for a request line's path; `None` = close without a word.
fn http_response(path: &str, request: &[u8]) -> Option<Vec<u8>> {
    let r: Vec<u8> = match path {
        "/plain" | "/" => {
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 25\r\n\r\nhello\nworld\r\nthird line\n\n"
                .to_vec()
        }
        "/chunked" => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n".to_vec(),
        "/gzip" => {
            let body = gzip(b"packed body\n");
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend(body);
            r
        }
        "/close" => b"HTTP/1.0 200 OK\r\nServer: test\r\n\r\nuntil close".to_vec(),
        "/redirect" => {
            b"HTTP/1.1 302 Found\r\nLocation: /plain\r\nContent-Length: 0\r\n\r\n".to_vec()
        }
        "/nul" => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab\0cd".to_vec(),
        "/interim" => {
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()
        }
        "/partial" => b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec(),
        "/echo" => {
            // The request line and the headers both agents send alike.
            let text = String::from_utf8_lossy(request);
            let body: String = text
                .split("\r\n")
                .filter(|l| {
                    l.starts_with("GET ")
                        || l.starts_with("Host:")
                        || l.starts_with("User-Agent:")
                        || l.starts_with("Accept:")
                })
                .map(|l| format!("{l}\n"))
                .collect();
            let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len())
                .into_bytes();
            r.extend(body.into_bytes());
            r
        }
        "/silent" => {
            return Some(Vec::new());
        }
        _ => return None,
    };
    Some(r)
}

async fn serve_http<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) {
    let mut req = Vec::new();
    let mut chunk = [0u8; 2048];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(3), s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => req.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&req).into_owned();
    let path = text.split(' ').nth(1).unwrap_or("/").to_string();
    let route = path.split('?').next().unwrap_or("/");
    match http_response(route, &req) {
        None => {}
        Some(r) if r.is_empty() => {
            // Silent: hold the connection past the agents' timeout.
            tokio::time::sleep(Duration::from_secs(TIMEOUT_SECS + 1)).await;
        }
        Some(r) => {
            let _ = s.write_all(&r).await;
            let _ = s.flush().await;
            if route == "/close" || route == "/partial" {
                let _ = s.shutdown().await;
                return;
            }
            // Keep-alive: the client must stop at the end of the response by itself.
            let _ = tokio::time::timeout(Duration::from_secs(3), s.read(&mut chunk)).await;
        }
    }
}

async fn http_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(serve_http(s));
        }
    });
    port
}

fn tls_acceptor() -> openssl::ssl::SslAcceptor {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::ssl::{SslAcceptor, SslMethod};
    use openssl::x509::{X509Builder, X509NameBuilder};
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "zt-svc.test").unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    let mut a = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
    a.set_private_key(&key).unwrap();
    a.set_certificate(&cert).unwrap();
    a.build()
}

async fn https_server() -> u16 {
    let acceptor = Arc::new(tls_acceptor());
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = Arc::clone(&acceptor);
            tokio::spawn(async move {
                let Ok(ssl) = openssl::ssl::Ssl::new(acceptor.context()) else {
                    return;
                };
                let Ok(mut tls) = tokio_openssl::SslStream::new(ssl, s) else {
                    return;
                };
                if std::pin::Pin::new(&mut tls).accept().await.is_ok() {
                    serve_http(tls).await;
                }
            });
        }
    });
    port
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tcp_and_udp_services_answer_like_agentd() {
    let dir = tempfile::Builder::new().prefix("zt-svc").tempdir().unwrap();
    let conf = write_conf(dir.path());

    let (ssh, ssh_got) = banner_server(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n").await;
    let (ssh_late, _) = banner_server(b"Welcome\r\nSSH-1.99-legacy\r\n").await;
    let (not_ssh, not_ssh_got) = banner_server(b"HTTP/1.0 400 Bad\r\n").await;
    let (smtp, smtp_got) = banner_server(b"220-mail.test hello\r\n220 mail.test ESMTP\r\n").await;
    let (smtp_bad, _) = banner_server(b"554 go away\r\n").await;
    let (ftp, _) = banner_server(b"220-Welcome\r\n220 FTP ready\r\n").await;
    let (ftp_bad, _) = banner_server(b"530 Not now\r\n").await;
    let (pop, _) = banner_server(b"+OK POP3 ready\r\n").await;
    let (pop_bad, _) = banner_server(b"-ERR busy\r\n").await;
    let (nntp, _) = banner_server(b"201 news ready (no posting)\r\n").await;
    let (nntp_bad, _) = banner_server(b"502 no permission\r\n").await;
    let (imap, imap_got) = banner_server(b"* OK IMAP4rev1 ready\r\n").await;
    let (imap_bad, _) = banner_server(b"* BYE\r\n").await;
    let (silent, _) = banner_server(b"").await;
    let telnet = telnet_server(true).await;
    let telnet_bad = telnet_server(false).await;
    let ldap = ldap_server(true).await;
    let ldap_bad = ldap_server(false).await;
    let https = https_server().await;
    let ntp = ntp_server(3).await;
    let ntp_v4 = ntp_server(4).await;
    let closed = closed_port();

    let mut keys: Vec<String> = Vec::new();
    let up_down = [
        ("ssh", ssh),
        ("ssh", ssh_late),
        ("ssh", not_ssh),
        ("smtp", smtp),
        ("smtp", smtp_bad),
        ("ftp", ftp),
        ("ftp", ftp_bad),
        ("pop", pop),
        ("pop", pop_bad),
        ("nntp", nntp),
        ("nntp", nntp_bad),
        ("imap", imap),
        ("imap", imap_bad),
        ("http", pop),
        ("tcp", pop),
        ("telnet", telnet),
        ("telnet", telnet_bad),
        ("ldap", ldap),
        ("ldap", ldap_bad),
        ("https", https),
        ("https", pop),
        ("ssh", closed),
        ("tcp", closed),
        ("https", closed),
        ("ssh", silent),
    ];
    for (svc, port) in up_down {
        keys.push(format!("net.tcp.service[{svc},127.0.0.1,{port}]"));
    }
    keys.push(format!("net.tcp.service[smtp,,{smtp}]"));
    keys.push(format!("net.tcp.service[smtp,localhost,{smtp}]"));
    for ip_port in [
        format!("127.0.0.1,{ntp}"),
        format!(",{ntp_v4}"),
        format!(",{closed}"),
    ] {
        keys.push(format!("net.udp.service[ntp,{ip_port}]"));
    }
    for bad in [
        "net.tcp.service",
        "net.tcp.service[]",
        "net.tcp.service[bogus]",
        "net.tcp.service[bogus,,x]",
        "net.tcp.service[tcp]",
        "net.tcp.service[tcp,127.0.0.1]",
        "net.tcp.service[ssh,,65536]",
        "net.tcp.service[ssh,,-1]",
        "net.tcp.service[ssh,,1,2]",
        "net.tcp.service.perf[SSH]",
        "net.udp.service[]",
        "net.udp.service[ssh]",
        "net.udp.service[ntp,,x]",
        "net.udp.service[ntp,,1,2]",
        "net.udp.service.perf[tcp]",
    ] {
        keys.push(bad.to_string());
    }
    let mut list = exact(&keys);
    for (svc, port) in [
        ("ssh", ssh),
        ("smtp", smtp),
        ("tcp", pop),
        ("ldap", ldap),
        ("https", https),
        ("telnet", telnet),
        ("ssh", closed),
        ("imap", imap_bad),
    ] {
        list.push((
            format!("net.tcp.service.perf[{svc},127.0.0.1,{port}]"),
            Cmp::Perf,
        ));
    }
    list.push((format!("net.udp.service.perf[ntp,,{ntp}]"), Cmp::Perf));
    list.push((format!("net.udp.service.perf[ntp,,{ntp_v4}]"), Cmp::Perf));

    let diffs = compare_all(&conf, &list).await;
    assert!(diffs.is_empty(), "differences:\n{}", diffs.join("\n"));

    // Both agents said the same to the servers: what the SSH server heard from each
    // probe of it, and the closing words of smtp and imap.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let heard = |r: &Received| -> Vec<String> {
        let mut v: Vec<String> = r
            .lock()
            .unwrap()
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    assert_eq!(heard(&ssh_got), vec!["SSH-2.0-zabbix_agent\r\n"]);
    assert_eq!(heard(&not_ssh_got), vec!["0\n"]);
    assert_eq!(heard(&smtp_got), vec!["QUIT\r\n"]);
    assert_eq!(heard(&imap_got), vec!["a1 LOGOUT\r\n"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn web_pages_answer_like_agentd() {
    let dir = tempfile::Builder::new()
        .prefix("zt-svc-web")
        .tempdir()
        .unwrap();
    let conf = write_conf(dir.path());
    let http = http_server().await;
    let https = https_server().await;
    let closed = closed_port();

    let mut keys: Vec<String> = Vec::new();
    for path in [
        "/plain",
        "plain",
        "/chunked",
        "/gzip",
        "/close",
        "/redirect",
        "/nul",
        "/interim",
        "/echo",
        "/echo?a=1&b=2",
        "/partial",
        "/nowhere",
    ] {
        keys.push(format!("web.page.get[127.0.0.1,{path},{http}]"));
    }
    keys.push(format!("web.page.get[127.0.0.1:{http}/echo]"));
    keys.push(format!("web.page.get[http://localhost:{http}/echo]"));
    keys.push(format!("web.page.get[https://127.0.0.1:{https}/echo]"));
    keys.push(format!("web.page.get[https://127.0.0.1:{https}/chunked]"));
    keys.push(format!("web.page.get[https://127.0.0.1:{http}/plain]"));
    keys.push(format!("web.page.get[127.0.0.1,/silent,{http}]"));
    keys.push(format!("web.page.get[127.0.0.1,,{closed}]"));
    for re in [
        format!("web.page.regexp[127.0.0.1,/plain,{http},wor(ld),,\\1]"),
        format!("web.page.regexp[127.0.0.1,/plain,{http},^third]"),
        format!("web.page.regexp[127.0.0.1,/plain,{http},Content-(.*),3]"),
        format!("web.page.regexp[127.0.0.1,/plain,{http},Content-(.*),,<\\1|\\0>]"),
        format!("web.page.regexp[127.0.0.1,/plain,{http},nomatch]"),
        format!("web.page.regexp[127.0.0.1,/plain,{http},(]"),
        format!("web.page.regexp[127.0.0.1,/gzip,{http},body$]"),
        format!("web.page.regexp[127.0.0.1,/plain,{http},a,0]"),
        format!("web.page.regexp[127.0.0.1,/plain,{http}]"),
        format!("web.page.regexp[127.0.0.1,,{closed},a]"),
    ] {
        keys.push(re);
    }
    for bad in [
        "web.page.get",
        "web.page.get[]",
        "web.page.get[a,,x]",
        "web.page.get[a,b,c,d]",
        "web.page.get[ftp://x]",
        "web.page.get[http://x,/a]",
        "web.page.get[nosuch.invalid]",
        "web.page.perf[]",
        "web.page.perf[a,,70000]",
        "web.page.regexp[,,,a]",
        "web.page.regexp[a,b,c,d,e,f,g]",
    ] {
        keys.push(bad.to_string());
    }
    let mut list = exact(&keys);
    list.push((format!("web.page.perf[127.0.0.1,/plain,{http}]"), Cmp::Perf));
    list.push((
        format!("web.page.perf[https://127.0.0.1:{https}/plain]"),
        Cmp::Perf,
    ));
    list.push((format!("web.page.perf[127.0.0.1,,{closed}]"), Cmp::Perf));

    let diffs = compare_all(&conf, &list).await;
    assert!(diffs.is_empty(), "differences:\n{}", diffs.join("\n"));
}

// ---------------------------------------------------------------------------------------
// DNS: a server on 127.0.0.1:53 inside a network namespace of one thread
// ---------------------------------------------------------------------------------------

fn dns_name(n: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for l in n.split('.').filter(|l| !l.is_empty()) {
        v.push(l.len() as u8);
        v.extend_from_slice(l.as_bytes());
    }
    v.push(0);
    v
}

fn dns_rr(owner: &str, t: u16, data: &[u8]) -> Vec<u8> {
    let mut v = dns_name(owner);
    v.extend_from_slice(&t.to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes());
    v.extend_from_slice(&300u32.to_be_bytes());
    v.extend_from_slice(&(data.len() as u16).to_be_bytes());
    v.extend_from_slice(data);
    v
}

/// Fixed records for `example.test` by type; 255 (ANY) gets a few (agentd reads only
/// 512 bytes of a UDP answer).
fn dns_records(qname: &str, qtype: u16) -> (u8, Vec<Vec<u8>>) {
    const Z: &str = "example.test";
    let cat = |a: &[&[u8]]| a.concat();
    let mut soa = dns_name("ns1.example.test");
    soa.extend(dns_name("admin.example.test"));
    for v in [2_024_010_101u32, 7200, 3600, 1_209_600, 300] {
        soa.extend_from_slice(&v.to_be_bytes());
    }
    let by_type = |t: u16| -> Vec<Vec<u8>> {
        match t {
            1 => vec![dns_rr(Z, 1, &[192, 0, 2, 2]), dns_rr(Z, 1, &[192, 0, 2, 1])],
            28 => vec![dns_rr(
                Z,
                28,
                &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            )],
            2 => vec![
                dns_rr(Z, 2, &dns_name("ns2.example.test")),
                dns_rr(Z, 2, &dns_name("ns1.example.test")),
            ],
            5 => vec![dns_rr(Z, 5, &dns_name("alias.example.test"))],
            6 => vec![dns_rr(Z, 6, &soa)],
            15 => vec![dns_rr(
                Z,
                15,
                &cat(&[&[0, 10], &dns_name("mx.example.test")]),
            )],
            16 => vec![
                dns_rr(Z, 16, b"\x05hello\x05world"),
                dns_rr(Z, 16, b"\x03one"),
            ],
            33 => vec![dns_rr(
                Z,
                33,
                &cat(&[&[0, 1, 0, 2, 1, 0x85], &dns_name("ldap.example.test")]),
            )],
            13 => vec![dns_rr(Z, 13, b"\x03CPU\x02OS")],
            10 => vec![dns_rr(Z, 10, b"abc")],
            11 => vec![dns_rr(Z, 11, &[192, 0, 2, 9, 6, 0x60])],
            14 => vec![dns_rr(
                Z,
                14,
                &cat(&[
                    &dns_name("rmail.example.test"),
                    &dns_name("email.example.test"),
                ]),
            )],
            7 => vec![dns_rr(Z, 7, &dns_name("mb.example.test"))],
            255 => [by_type_any(), vec![dns_rr(Z, 99, b"zz")]].concat(),
            _ => vec![],
        }
    };
    fn by_type_any() -> Vec<Vec<u8>> {
        vec![
            dns_rr("example.test", 1, &[192, 0, 2, 1]),
            dns_rr("example.test", 16, b"\x03one"),
            dns_rr("example.test", 10, b"abc"),
        ]
    }
    match qname {
        Z => (0, by_type(qtype)),
        "zabbix.com" => (0, vec![dns_rr("zabbix.com", 1, &[1, 2, 3, 4])]),
        "1.2.0.192.in-addr.arpa" => (0, vec![dns_rr(qname, 12, &dns_name("host.example.test"))]),
        "empty.example.test" => (0, vec![]),
        "fail.example.test" => (2, vec![]),
        _ => (3, vec![]),
    }
}

fn dns_answer(q: &[u8]) -> Option<Vec<u8>> {
    let mut i = 12;
    let mut labels = Vec::new();
    while *q.get(i)? != 0 {
        let n = usize::from(q[i]);
        labels.push(String::from_utf8_lossy(q.get(i + 1..i + 1 + n)?).to_lowercase());
        i += 1 + n;
    }
    let qtype = u16::from_be_bytes([*q.get(i + 1)?, *q.get(i + 2)?]);
    let question = q.get(12..i + 5)?;
    let (rcode, recs) = dns_records(&labels.join("."), qtype);
    let mut r = q[..2].to_vec();
    r.extend_from_slice(&[0x81, 0x80 | rcode, 0, 1]);
    r.extend_from_slice(&(recs.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(question);
    for rec in recs {
        r.extend(rec);
    }
    Some(r)
}

/// Starts the DNS server threads (UDP and TCP on 127.0.0.1:53 of the current thread's
/// network namespace); they end with the process.
fn start_dns_server() {
    let udp = std::net::UdpSocket::bind("127.0.0.1:53").unwrap();
    std::thread::spawn(move || {
        let mut b = [0u8; 512];
        while let Ok((n, peer)) = udp.recv_from(&mut b) {
            if let Some(r) = dns_answer(&b[..n]) {
                let _ = udp.send_to(&r, peer);
            }
        }
    });
    let tcp = std::net::TcpListener::bind("127.0.0.1:53").unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        while let Ok((mut s, _)) = tcp.accept() {
            let mut len = [0u8; 2];
            if s.read_exact(&mut len).is_err() {
                continue;
            }
            let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
            if s.read_exact(&mut q).is_err() {
                continue;
            }
            if let Some(r) = dns_answer(&q) {
                let mut out = (r.len() as u16).to_be_bytes().to_vec();
                out.extend(r);
                let _ = s.write_all(&out);
            }
        }
    });
}

fn run_sync(cmd: &mut std::process::Command, key: &str) -> Answer {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run for {key}: {e}"));
    parse_output(key, &String::from_utf8_lossy(&out.stdout))
}

#[test]
fn dns_answers_like_agentd() {
    let dir = tempfile::Builder::new()
        .prefix("zt-svc-dns")
        .tempdir()
        .unwrap();
    let conf = write_conf(dir.path());
    let keys: Vec<String> = [
        "net.dns[127.0.0.1]",
        "net.dns[127.0.0.1,example.test]",
        "net.dns[127.0.0.1,example.test,A,1,1,tcp]",
        "net.dns[127.0.0.1,nx.example.test]",
        "net.dns[127.0.0.1,empty.example.test]",
        "net.dns[127.0.0.1,fail.example.test,A,1,1]",
        "net.dns[127.0.0.2,example.test,A,1,1]",
        "net.dns.record[127.0.0.1]",
        "net.dns.record[127.1,,A]",
        "net.dns.record[127.0.0.1,example.test]",
        "net.dns.record[127.0.0.1,example.test,a]",
        "net.dns.record[127.0.0.1,example.test,A,1,1,tcp]",
        "net.dns.record[127.0.0.1,example.test,AAAA]",
        "net.dns.record[127.0.0.1,example.test,NS]",
        "net.dns.record[127.0.0.1,example.test,CNAME]",
        "net.dns.record[127.0.0.1,example.test,MX]",
        "net.dns.record[127.0.0.1,example.test,TXT]",
        "net.dns.record[127.0.0.1,example.test,SRV]",
        "net.dns.record[127.0.0.1,example.test,HINFO]",
        "net.dns.record[127.0.0.1,example.test,NULL]",
        "net.dns.record[127.0.0.1,example.test,WKS]",
        "net.dns.record[127.0.0.1,example.test,MINFO]",
        "net.dns.record[127.0.0.1,example.test,MB]",
        "net.dns.record[127.0.0.1,example.test,ANY]",
        "net.dns.record[127.0.0.1,EXAMPLE.test.,A]",
        "net.dns.record[127.0.0.1,1.2.0.192.in-addr.arpa,PTR]",
        "net.dns.record[127.0.0.1,192.0.2.1,PTR]",
        "net.dns.record[127.0.0.1,nx.example.test]",
        "net.dns.record[127.0.0.1,empty.example.test,A]",
        "net.dns.record[127.0.0.1,a..b,A]",
        "net.dns.record[bad,example.test]",
        "net.dns.record[fe80::1%lo,example.test]",
        "net.dns.record[127.0.0.1,example.test,XX]",
        "net.dns.record[127.0.0.1,example.test,A,0]",
        "net.dns.record[127.0.0.1,example.test,A,1,0]",
        "net.dns.record[127.0.0.1,example.test,A,1,1,sctp]",
        "net.dns.record[127.0.0.1,example.test,A,1,1,tcp,x]",
        "net.tcp.dns[127.0.0.1,example.test]",
        "net.tcp.dns.query[127.0.0.1,example.test,MX,1,1,tcp]",
        "net.tcp.dns.query[127.0.0.1,example.test,XX]",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    // The namespace belongs to this thread only; children forked from it inherit it.
    let handle = std::thread::spawn(move || {
        // SAFETY: unshare(2) on the calling thread; no memory is shared with the call.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "unshare(CLONE_NEWNET): {}",
            std::io::Error::last_os_error()
        );
        let up = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .unwrap();
        assert!(up.success());
        start_dns_server();
        let mut diffs = Vec::new();
        for key in &keys {
            let a = run_sync(&mut agentd_cmd(&conf, key), key);
            let b = run_sync(&mut zagent_cmd(&conf, key), key);
            eprintln!("{key} -> {a:?}");
            diffs.extend(differs(key, Cmp::Exact, &a, &b));
        }
        diffs
    });
    let diffs = handle.join().unwrap();
    assert!(diffs.is_empty(), "differences:\n{}", diffs.join("\n"));
}

/// `net.tcp.port` and `net.tcp.service` connect from `SourceIP`, as zabbix_agentd does (all
/// outgoing connections go through `transport::connect_tcp`): the listener sees the source
/// address, and a source of the other family makes both agents answer 0.
#[test]
fn connecting_keys_honour_source_ip_like_agentd() {
    use std::net::{Ipv6Addr, TcpListener as StdListener};
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("agent.conf");
    std::fs::write(
        &conf,
        "AllowRoot=1\nLogType=console\nHostname=zt-svc\nSourceIP=127.0.0.3\nTimeout=5\n",
    )
    .unwrap();
    let v4 = StdListener::bind(("127.0.0.1", 0)).unwrap();
    let v6 = StdListener::bind((Ipv6Addr::LOCALHOST, 0)).unwrap();
    let p4 = v4.local_addr().unwrap().port();
    let p6 = v6.local_addr().unwrap().port();
    v4.set_nonblocking(true).unwrap();
    let peers = |l: &StdListener| -> Vec<std::net::IpAddr> {
        let mut out = Vec::new();
        while let Ok((_, a)) = l.accept() {
            out.push(a.ip());
        }
        out
    };
    for (name, cmd) in [
        (
            "zabbix_agentd",
            agentd_cmd as fn(&Path, &str) -> std::process::Command,
        ),
        ("zagent", zagent_cmd),
    ] {
        let ask = |key: &str| {
            let out = cmd(&conf, key).output().unwrap();
            util::parse_test_output(key, &String::from_utf8_lossy(&out.stdout))
        };
        for key in [
            format!("net.tcp.port[127.0.0.1,{p4}]"),
            format!("net.tcp.service[tcp,127.0.0.1,{p4}]"),
        ] {
            assert_eq!(ask(&key), Answer::Value('u', "1".into()), "{name} {key}");
            std::thread::sleep(Duration::from_millis(50));
            let seen = peers(&v4);
            assert_eq!(
                seen,
                vec!["127.0.0.3".parse::<std::net::IpAddr>().unwrap()],
                "{name} {key}: the connection must come from SourceIP"
            );
        }
        for key in [
            format!("net.tcp.port[::1,{p6}]"),
            format!("net.tcp.service[tcp,::1,{p6}]"),
        ] {
            assert_eq!(ask(&key), Answer::Value('u', "0".into()), "{name} {key}");
        }
    }
}
