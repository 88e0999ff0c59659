//! Simple service checks: `net.tcp.service[service,<ip>,<port>]`,
//! `net.tcp.service.perf[...]`, `net.udp.service[ntp,<ip>,<port>]` and
//! `net.udp.service.perf[...]`.
//!
//! Owns what zabbix_agentd 6.0 checks for each service (banner prefixes, what it sends,
//! when the answer is 0), its parameter errors and the perf timing. It must not block:
//! every probe is async and bounded by the request's timeout; a probe that runs out of
//! time answers 0, as agentd does when a read times out.
//!
//! What each service means (zabbix_agentd 6.0, verified with `zabbix_agentd -t`):
//! - `ssh` (22): some line of the banner parses as `SSH-<int>.<int>-…`; we answer
//!   `SSH-<maj>.<min>-zabbix_agent\r\n` (`0\n` when no line matched).
//! - `smtp` (25): first non-`220-` line starts with `220` followed by a space or the end;
//!   `ftp` (21): some line starts with `220 `; `pop` (110): first line starts with
//!   `+OK`; `nntp` (119): first line starts with `200` or `201`; `imap` (143): first line
//!   starts with `* OK`. On success `QUIT\r\n` (imap: `a1 LOGOUT\r\n`) is sent.
//! - `http` (80) and `tcp` (port required): the TCP connection is made.
//! - `https` (443): a TLS handshake (no certificate checks) and a `HEAD /` answered
//!   with an HTTP status line.
//! - `telnet` (23): telnet options are refused (except Suppress-Go-Ahead) and the
//!   server's text, when it pauses, ends in `:` (a login prompt).
//! - `ldap` (389): an anonymous base-scope search of the root DSE for
//!   `namingContexts` returns an entry with at least one attribute.
//! - `ntp` (UDP 123): a 48-byte NTPv3 client request is answered with a 48-byte
//!   version-3 server-mode packet echoing our transmit time, stratum ≤ 15 and a
//!   non-zero transmit time.
//!
//! Limits: lines longer than [`limits::MAX_LINE`] are cut; the telnet prompt is looked
//! for in at most [`limits::MAX_TELNET_TEXT`] bytes; an LDAP answer may be at most
//! [`limits::MAX_LDAP_MESSAGE`] bytes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::net_tcp::parse_ushort;
use super::{
    AgentCtx, BoxFuture, Handler, KeyDef, KeyResult, NotSupported, ParamDef, Params, Request, Value,
};
use crate::tls;
use crate::transport;

const PARAMS: &[ParamDef] = &[
    ParamDef::req("service"),
    ParamDef::opt("<ip>"),
    ParamDef::opt("<port>"),
];

/// The family.
pub const KEYS: &[KeyDef] = &[
    KeyDef {
        name: "net.tcp.service",
        description: "Checks if a service (ssh, ldap, smtp, ftp, http, pop, nntp, imap, tcp, https, telnet) is running and accepting TCP connections (0/1).",
        params: Params::List(PARAMS),
        test_key: "net.tcp.service[ssh,127.0.0.1,22]",
        handler: Handler::Async(tcp_service),
    },
    KeyDef {
        name: "net.tcp.service.perf",
        description: "Seconds a TCP service check took (0 when the service is down).",
        params: Params::List(PARAMS),
        test_key: "net.tcp.service.perf[ssh,127.0.0.1,22]",
        handler: Handler::Async(tcp_service_perf),
    },
    KeyDef {
        name: "net.udp.service",
        description: "Checks if a UDP service (ntp) is running and answering (0/1).",
        params: Params::List(PARAMS),
        test_key: "net.udp.service[ntp,127.0.0.1,123]",
        handler: Handler::Async(udp_service),
    },
    KeyDef {
        name: "net.udp.service.perf",
        description: "Seconds a UDP service check took (0 when the service is down).",
        params: Params::List(PARAMS),
        test_key: "net.udp.service.perf[ntp,127.0.0.1,123]",
        handler: Handler::Async(udp_service_perf),
    },
];

/// Limits of this family.
pub mod limits {
    /// Longest banner line examined (agentd cuts lines at 64 KiB too).
    pub const MAX_LINE: usize = 64 * 1024;
    /// Most telnet text kept while looking for the login prompt.
    pub const MAX_TELNET_TEXT: usize = 64 * 1024;
    /// Quiet time after which the telnet text so far is checked for a prompt.
    pub const TELNET_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);
    /// Largest LDAP message read.
    pub const MAX_LDAP_MESSAGE: usize = 1024 * 1024;
    /// Time kept back from the request's timeout so the check answers 0 itself
    /// instead of being cut off by the dispatcher.
    pub const MARGIN: std::time::Duration = std::time::Duration::from_millis(100);
    /// The smallest perf value reported for a working service (agentd's float precision).
    pub const MIN_PERF: f64 = 0.0001;
}

/// A TCP service agentd knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpService {
    /// `SSH-x.y-` banner.
    Ssh,
    /// Root DSE search.
    Ldap,
    /// `220` greeting.
    Smtp,
    /// `220 ` greeting.
    Ftp,
    /// Connect only.
    Http,
    /// `+OK` greeting.
    Pop,
    /// `200`/`201` greeting.
    Nntp,
    /// `* OK` greeting.
    Imap,
    /// Connect only; port required.
    Tcp,
    /// TLS + HEAD.
    Https,
    /// Login prompt.
    Telnet,
}

impl TcpService {
    /// The service by its key name.
    pub fn from_name(s: &str) -> Option<TcpService> {
        Some(match s {
            "ssh" => TcpService::Ssh,
            "ldap" => TcpService::Ldap,
            "smtp" => TcpService::Smtp,
            "ftp" => TcpService::Ftp,
            "http" => TcpService::Http,
            "pop" => TcpService::Pop,
            "nntp" => TcpService::Nntp,
            "imap" => TcpService::Imap,
            "tcp" => TcpService::Tcp,
            "https" => TcpService::Https,
            "telnet" => TcpService::Telnet,
            _ => return None,
        })
    }

    /// Its default port (`tcp` has none).
    pub fn default_port(self) -> Option<u16> {
        Some(match self {
            TcpService::Ssh => 22,
            TcpService::Ldap => 389,
            TcpService::Smtp => 25,
            TcpService::Ftp => 21,
            TcpService::Http => 80,
            TcpService::Pop => 110,
            TcpService::Nntp => 119,
            TcpService::Imap => 143,
            TcpService::Tcp => return None,
            TcpService::Https => 443,
            TcpService::Telnet => 23,
        })
    }
}

/// What a greeting line means for a line-based service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The service is up.
    Ok,
    /// Wrong greeting: down.
    Fail,
    /// Not decisive: read the next line.
    Ignore,
}

/// Judges one greeting line (without its line end) for `svc`.
pub fn judge_line(svc: TcpService, line: &[u8]) -> Expect {
    let ok_if = |b: bool| if b { Expect::Ok } else { Expect::Fail };
    match svc {
        TcpService::Smtp => {
            if !line.starts_with(b"220") {
                return Expect::Fail;
            }
            match line.get(3) {
                Some(b'-') => Expect::Ignore,
                None | Some(b' ') => Expect::Ok,
                Some(_) => Expect::Fail,
            }
        }
        TcpService::Ftp => {
            if line.starts_with(b"220 ") {
                Expect::Ok
            } else {
                Expect::Ignore
            }
        }
        TcpService::Pop => ok_if(line.starts_with(b"+OK")),
        TcpService::Nntp => ok_if(line.starts_with(b"200") || line.starts_with(b"201")),
        TcpService::Imap => ok_if(line.starts_with(b"* OK")),
        _ => Expect::Ok,
    }
}

/// What to send after a good greeting.
fn quit_text(svc: TcpService) -> Option<&'static [u8]> {
    match svc {
        TcpService::Smtp | TcpService::Ftp | TcpService::Pop | TcpService::Nntp => {
            Some(b"QUIT\r\n")
        }
        TcpService::Imap => Some(b"a1 LOGOUT\r\n"),
        _ => None,
    }
}

/// C `sscanf("%d")` at the start of `s`: optional white space and sign, then digits.
fn scan_int(s: &[u8]) -> Option<(i64, &[u8])> {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c') {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let start = i;
    let mut v: i64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add(i64::from(s[i] - b'0'));
        i += 1;
    }
    if i == start {
        return None;
    }
    let v = if neg { -v } else { v };
    // %d stores an int: out-of-range values wrap like the C library's conversion.
    Some((i64::from(v as i32), &s[i..]))
}

/// The SSH protocol version in an identification line (`SSH-2.0-OpenSSH_9.2`), read
/// the way `sscanf("SSH-%d.%d-%*s")` counts two conversions.
pub fn ssh_version(line: &[u8]) -> Option<(i64, i64)> {
    let rest = line.strip_prefix(b"SSH-")?;
    let (major, rest) = scan_int(rest)?;
    let rest = rest.strip_prefix(b".")?;
    let (minor, _) = scan_int(rest)?;
    Some((major, minor))
}

/// Reads `\n`-terminated lines from a stream; a `\r` before the `\n` is dropped, and
/// what is left when the peer closes is the last line.
#[derive(Debug)]
pub struct LineReader<S> {
    stream: S,
    buf: Vec<u8>,
    eof: bool,
}

impl<S: AsyncRead + Unpin> LineReader<S> {
    /// Wraps a stream.
    pub fn new(stream: S) -> Self {
        LineReader {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// The next line, or `None` at the end of the stream or on a read error.
    pub async fn next_line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                line.truncate(limits::MAX_LINE);
                return Some(line);
            }
            if self.eof {
                if self.buf.is_empty() {
                    return None;
                }
                let mut line = std::mem::take(&mut self.buf);
                line.truncate(limits::MAX_LINE);
                return Some(line);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => self.eof = true,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    if self.buf.len() > limits::MAX_LINE * 2 && !self.buf.contains(&b'\n') {
                        // One endless line: keep its start only.
                        self.buf.truncate(limits::MAX_LINE);
                    }
                }
            }
        }
    }

    /// The stream, for writing.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }
}

/// Connects with the agent's one TCP connect ([`transport::connect_tcp`]): from
/// `SourceIP` when set, each attempt bounded by `timeout`. `None` when no address accepts.
pub async fn connect(
    host: &str,
    port: u16,
    source: Option<IpAddr>,
    timeout: Duration,
) -> Option<TcpStream> {
    match transport::connect_tcp(host, port, source, timeout).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::debug!(host, port, error = %e, "Service check cannot connect");
            None
        }
    }
}

async fn expect_lines<S: AsyncRead + AsyncWrite + Unpin>(stream: S, svc: TcpService) -> bool {
    let mut r = LineReader::new(stream);
    let mut verdict = Expect::Fail;
    while let Some(line) = r.next_line().await {
        verdict = judge_line(svc, &line);
        match verdict {
            Expect::Ok => break,
            Expect::Fail => {
                tracing::debug!(received = %String::from_utf8_lossy(&line), "Service check: unexpected greeting");
                break;
            }
            Expect::Ignore => {}
        }
    }
    if verdict != Expect::Ok {
        return false;
    }
    if let Some(q) = quit_text(svc) {
        let _ = r.get_mut().write_all(q).await;
    }
    true
}

/// Reads the banner until `read_until`, then answers (`0\n` when no identification
/// line came, as agentd does after its read timeout).
async fn check_ssh(stream: TcpStream, read_until: tokio::time::Instant) -> bool {
    let mut r = LineReader::new(stream);
    let read = async {
        while let Some(line) = r.next_line().await {
            if let Some(v) = ssh_version(&line) {
                return Some(v);
            }
        }
        None
    };
    let version = tokio::time::timeout_at(read_until, read)
        .await
        .unwrap_or(None);
    let reply = match version {
        Some((major, minor)) => format!("SSH-{major}.{minor}-zabbix_agent\r\n"),
        None => "0\n".to_string(),
    };
    let _ = r.get_mut().write_all(reply.as_bytes()).await;
    version.is_some()
}

// ---------------------------------------------------------------------------------------
// telnet
// ---------------------------------------------------------------------------------------

const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const OPT_SGA: u8 = 3;

/// Telnet text and option negotiation: [`TelnetText::feed`] takes received bytes,
/// keeps the text and returns the replies to send.
#[derive(Debug, Default)]
pub struct TelnetText {
    /// Text received (options removed), at most [`limits::MAX_TELNET_TEXT`] bytes.
    pub text: Vec<u8>,
    pending: Vec<u8>,
}

impl TelnetText {
    /// Consumes `data`; returns the negotiation replies (refuse everything but
    /// Suppress-Go-Ahead, which is accepted).
    pub fn feed(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.pending.extend_from_slice(data);
        let mut i = 0;
        let p = &self.pending;
        while i < p.len() {
            if p[i] != IAC {
                if self.text.len() < limits::MAX_TELNET_TEXT {
                    self.text.push(p[i]);
                }
                i += 1;
                continue;
            }
            let Some(&cmd) = p.get(i + 1) else { break };
            match cmd {
                IAC => {
                    if self.text.len() < limits::MAX_TELNET_TEXT {
                        self.text.push(IAC);
                    }
                    i += 2;
                }
                WILL | WONT | DO | DONT => {
                    let Some(&opt) = p.get(i + 2) else { break };
                    let answer = match cmd {
                        WONT => DONT,
                        DONT => WONT,
                        _ if opt == OPT_SGA => {
                            if cmd == DO {
                                WILL
                            } else {
                                DO
                            }
                        }
                        DO => WONT,
                        _ => DONT,
                    };
                    out.extend_from_slice(&[IAC, answer, opt]);
                    i += 3;
                }
                _ => i += 2,
            }
        }
        self.pending.drain(..i);
        out
    }

    /// Whether the text so far ends (spaces aside) in `:`.
    pub fn at_prompt(&self) -> bool {
        self.text.iter().rev().find(|&&b| b != b' ') == Some(&b':')
    }
}

async fn check_telnet(mut stream: TcpStream) -> bool {
    let mut t = TelnetText::default();
    let mut chunk = [0u8; 4096];
    loop {
        match tokio::time::timeout(limits::TELNET_PAUSE, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return false,
            Ok(Ok(n)) => {
                let reply = t.feed(&chunk[..n]);
                if !reply.is_empty() && stream.write_all(&reply).await.is_err() {
                    return false;
                }
            }
            Err(_) => {
                if t.at_prompt() {
                    return true;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// https
// ---------------------------------------------------------------------------------------

async fn check_https(stream: TcpStream, host: &str, port: u16) -> bool {
    let mut tls = match tls::client::connect_unverified(stream, host).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(host, port, error = %e, "HTTPS check: TLS failed");
            return false;
        }
    };
    let authority = super::web::authority(host, port);
    let req = format!(
        "HEAD / HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: Zabbix {}\r\nAccept: */*\r\n\r\n",
        super::agent::AGENT_VERSION
    );
    if tls.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut r = LineReader::new(tls);
    match r.next_line().await {
        Some(line) => line.starts_with(b"HTTP/"),
        None => false,
    }
}

// ---------------------------------------------------------------------------------------
// ldap
// ---------------------------------------------------------------------------------------

fn ber(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = content.len();
    if n < 0x80 {
        v.push(n as u8);
    } else if n <= 0xff {
        v.extend_from_slice(&[0x81, n as u8]);
    } else {
        v.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(content);
    v
}

/// The LDAP message: search of the root DSE (base "", scope base, filter
/// `(objectClass=*)`, attribute `namingContexts`), message id 1.
pub fn ldap_root_dse_search() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(ber(0x04, b"")); // baseObject
    body.extend(ber(0x0a, &[0])); // scope: baseObject
    body.extend(ber(0x0a, &[0])); // derefAliases: never
    body.extend(ber(0x02, &[0])); // sizeLimit
    body.extend(ber(0x02, &[0])); // timeLimit
    body.extend(ber(0x01, &[0])); // typesOnly: false
    body.extend(ber(0x87, b"objectClass")); // present filter
    body.extend(ber(0x30, &ber(0x04, b"namingContexts")));
    let mut msg = ber(0x02, &[1]);
    msg.extend(ber(0x63, &body));
    ber(0x30, &msg)
}

/// One BER element at the start of `b`: (tag, content, total length); `None` while
/// incomplete or malformed.
pub fn ber_element(b: &[u8]) -> Option<(u8, &[u8], usize)> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*b.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let content = b.get(hdr..hdr.checked_add(len)?)?;
    Some((tag, content, hdr + len))
}

/// Whether an LDAP message is a search result entry carrying at least one attribute
/// (what agentd's root-DSE check needs).
pub fn ldap_entry_has_attribute(msg: &[u8]) -> bool {
    let Some((0x30, seq, _)) = ber_element(msg) else {
        return false;
    };
    let Some((0x02, _, id_len)) = ber_element(seq) else {
        return false;
    };
    let Some((0x64, entry, _)) = ber_element(&seq[id_len..]) else {
        return false;
    };
    let Some((0x04, _, dn_len)) = ber_element(entry) else {
        return false;
    };
    match ber_element(&entry[dn_len..]) {
        Some((0x30, attrs, _)) => !attrs.is_empty(),
        _ => false,
    }
}

async fn check_ldap(mut stream: TcpStream) -> bool {
    if stream.write_all(&ldap_root_dse_search()).await.is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((_, _, total)) = ber_element(&buf) {
            return ldap_entry_has_attribute(&buf[..total]);
        }
        if buf.len() > limits::MAX_LDAP_MESSAGE {
            return false;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

// ---------------------------------------------------------------------------------------
// ntp
// ---------------------------------------------------------------------------------------

/// Size of an NTP packet without authentication.
pub const NTP_PACKET: usize = 48;

/// An NTPv3 client request whose transmit timestamp is `transmit` (NTP era seconds as
/// a float, as agentd packs it).
pub fn ntp_request(transmit: f64) -> [u8; NTP_PACKET] {
    let mut p = [0u8; NTP_PACKET];
    p[0] = (3 << 3) | 3;
    let mut d = transmit / 4_294_967_296.0;
    for i in 0..8 {
        d *= 256.0;
        let k = (d as i64).clamp(0, 255);
        p[40 + i] = k as u8;
        d -= k as f64;
    }
    p
}

/// Whether `resp` is a valid answer to `req` for agentd: 48 bytes, originate =
/// our transmit, version 3, server mode, stratum ≤ 15, transmit time set.
pub fn ntp_response_ok(req: &[u8; NTP_PACKET], resp: &[u8]) -> bool {
    resp.len() == NTP_PACKET
        && resp[24..32] == req[40..48]
        && (resp[0] >> 3) & 7 == 3
        && resp[0] & 7 == 4
        && resp[1] <= 15
        && resp[40..48].iter().any(|&b| b != 0)
}

fn ntp_now() -> f64 {
    const NTP_UNIX_OFFSET: f64 = 2_208_988_800.0;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    now + NTP_UNIX_OFFSET
}

async fn check_ntp(host: &str, port: u16, source: Option<IpAddr>) -> bool {
    let Ok(addrs) = tokio::net::lookup_host((host, port)).await else {
        return false;
    };
    let Some(addr) = addrs.into_iter().next() else {
        return false;
    };
    let local = match (source, addr) {
        (Some(src), _) if src.is_ipv4() == addr.is_ipv4() => SocketAddr::new(src, 0),
        (_, SocketAddr::V4(_)) => SocketAddr::from(([0, 0, 0, 0], 0)),
        (_, SocketAddr::V6(_)) => SocketAddr::from(([0u16; 8], 0)),
    };
    let Ok(sock) = UdpSocket::bind(local).await else {
        return false;
    };
    if sock.connect(addr).await.is_err() {
        return false;
    }
    let req = ntp_request(ntp_now());
    if sock.send(&req).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 512];
    match sock.recv(&mut buf).await {
        Ok(n) => ntp_response_ok(&req, &buf[..n]),
        Err(_) => false,
    }
}

// ---------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------

/// Parameters common to both families, in agentd's order of checks.
fn parse_common(req: &Request) -> Result<(String, Option<u16>), NotSupported> {
    let host = req.opt(1).unwrap_or("127.0.0.1").to_string();
    let port = match req.opt(2) {
        None => None,
        Some(p) => Some(parse_ushort(p).ok_or_else(|| NotSupported::invalid_param(2))?),
    };
    Ok((host, port))
}

async fn run_tcp(
    ctx: &AgentCtx,
    svc: TcpService,
    host: &str,
    port: u16,
    deadline: tokio::time::Instant,
) -> bool {
    let budget = deadline.saturating_duration_since(tokio::time::Instant::now());
    let Some(stream) = connect(host, port, ctx.config.source_ip, budget).await else {
        return false;
    };
    match svc {
        TcpService::Http | TcpService::Tcp => true,
        TcpService::Ssh => check_ssh(stream, deadline - limits::MARGIN).await,
        TcpService::Telnet => check_telnet(stream).await,
        TcpService::Https => check_https(stream, host, port).await,
        TcpService::Ldap => check_ldap(stream).await,
        TcpService::Smtp
        | TcpService::Ftp
        | TcpService::Pop
        | TcpService::Nntp
        | TcpService::Imap => expect_lines(stream, svc).await,
    }
}

fn answer(up: bool, perf: bool, started: Instant) -> Value {
    match (perf, up) {
        (false, up) => Value::Uint(u64::from(up)),
        (true, false) => Value::Float(0.0),
        (true, true) => Value::Float(started.elapsed().as_secs_f64().max(limits::MIN_PERF)),
    }
}

async fn tcp_check(ctx: Arc<AgentCtx>, req: Request, perf: bool) -> KeyResult {
    let started = Instant::now();
    let (host, port) = parse_common(&req)?;
    let svc = TcpService::from_name(req.param(0)).ok_or_else(|| NotSupported::invalid_param(0))?;
    let port = match (port, svc.default_port()) {
        (Some(p), _) | (None, Some(p)) => p,
        (None, None) => return Err(NotSupported::invalid_param(2)),
    };
    let deadline = tokio::time::Instant::now() + req.timeout.saturating_sub(limits::MARGIN);
    let up = tokio::time::timeout_at(deadline, run_tcp(&ctx, svc, &host, port, deadline))
        .await
        .unwrap_or(false);
    tracing::debug!(service = req.param(0), host, port, up, "TCP service check");
    Ok(answer(up, perf, started))
}

async fn udp_check(ctx: Arc<AgentCtx>, req: Request, perf: bool) -> KeyResult {
    let started = Instant::now();
    let (host, port) = parse_common(&req)?;
    if req.param(0) != "ntp" {
        return Err(NotSupported::invalid_param(0));
    }
    let port = port.unwrap_or(123);
    let budget = req.timeout.saturating_sub(limits::MARGIN);
    let up = tokio::time::timeout(budget, check_ntp(&host, port, ctx.config.source_ip))
        .await
        .unwrap_or(false);
    tracing::debug!(service = "ntp", host, port, up, "UDP service check");
    Ok(answer(up, perf, started))
}

fn tcp_service(ctx: Arc<AgentCtx>, req: Request) -> BoxFuture {
    Box::pin(tcp_check(ctx, req, false))
}

fn tcp_service_perf(ctx: Arc<AgentCtx>, req: Request) -> BoxFuture {
    Box::pin(tcp_check(ctx, req, true))
}

fn udp_service(ctx: Arc<AgentCtx>, req: Request) -> BoxFuture {
    Box::pin(udp_check(ctx, req, false))
}

fn udp_service_perf(ctx: Arc<AgentCtx>, req: Request) -> BoxFuture {
    Box::pin(udp_check(ctx, req, true))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn greetings() {
        use Expect::*;
        use TcpService::*;
        assert_eq!(judge_line(Smtp, b"220 mail ESMTP"), Ok);
        assert_eq!(judge_line(Smtp, b"220"), Ok);
        assert_eq!(judge_line(Smtp, b"220-first"), Ignore);
        assert_eq!(judge_line(Smtp, b"2200"), Fail);
        assert_eq!(judge_line(Smtp, b"554 go away"), Fail);
        assert_eq!(judge_line(Ftp, b"220 ready"), Ok);
        assert_eq!(judge_line(Ftp, b"220-welcome"), Ignore);
        assert_eq!(judge_line(Ftp, b"530 no"), Ignore);
        assert_eq!(judge_line(Pop, b"+OK POP3"), Ok);
        assert_eq!(judge_line(Pop, b"-ERR"), Fail);
        assert_eq!(judge_line(Nntp, b"200 news"), Ok);
        assert_eq!(judge_line(Nntp, b"201 news"), Ok);
        assert_eq!(judge_line(Nntp, b"400 no"), Fail);
        assert_eq!(judge_line(Imap, b"* OK IMAP4rev1"), Ok);
        assert_eq!(judge_line(Imap, b"* BYE"), Fail);
    }

    #[test]
    fn ssh_identification() {
        assert_eq!(ssh_version(b"SSH-2.0-OpenSSH_9.2p1"), Some((2, 0)));
        assert_eq!(ssh_version(b"SSH-1.99-x"), Some((1, 99)));
        assert_eq!(ssh_version(b"SSH- 2.+0"), Some((2, 0)));
        assert_eq!(ssh_version(b"SSH-2"), None);
        assert_eq!(ssh_version(b"SSH-x.0-"), None);
        assert_eq!(ssh_version(b"xSSH-2.0-"), None);
    }

    #[test]
    fn telnet_negotiation_and_prompt() {
        let mut t = TelnetText::default();
        let reply = t.feed(&[
            IAC, DO, 24, IAC, WILL, 1, IAC, DO, OPT_SGA, IAC, WILL, OPT_SGA,
        ]);
        assert_eq!(
            reply,
            vec![IAC, WONT, 24, IAC, DONT, 1, IAC, WILL, OPT_SGA, IAC, DO, OPT_SGA]
        );
        assert!(t.text.is_empty());
        // A command split over two reads.
        assert!(t.feed(&[b'l', IAC]).is_empty());
        assert_eq!(t.feed(&[WONT, 5]), vec![IAC, DONT, 5]);
        t.feed(b"ogin:  ");
        assert_eq!(t.text, b"login:  ");
        assert!(t.at_prompt());
        t.feed(b"\r\n");
        assert!(!t.at_prompt());
    }

    #[test]
    fn ldap_messages() {
        let q = ldap_root_dse_search();
        let (tag, content, total) = ber_element(&q).unwrap();
        assert_eq!((tag, total), (0x30, q.len()));
        assert_eq!(&content[..3], &[0x02, 0x01, 0x01]);
        // SearchResultEntry: dn "", attributes { namingContexts: { "dc=example" } }
        let vals = ber(0x31, &ber(0x04, b"dc=example"));
        let mut attr = ber(0x04, b"namingContexts");
        attr.extend(vals);
        let attrs = ber(0x30, &ber(0x30, &attr));
        let mut entry = ber(0x04, b"");
        entry.extend(attrs);
        let mut msg = ber(0x02, &[1]);
        msg.extend(ber(0x64, &entry));
        let msg = ber(0x30, &msg);
        assert!(ldap_entry_has_attribute(&msg));
        // An entry without attributes, and a SearchResultDone.
        let mut empty = ber(0x04, b"");
        empty.extend(ber(0x30, b""));
        let mut m2 = ber(0x02, &[1]);
        m2.extend(ber(0x64, &empty));
        assert!(!ldap_entry_has_attribute(&ber(0x30, &m2)));
        let mut m3 = ber(0x02, &[1]);
        m3.extend(ber(0x65, &[0x0a, 1, 0, 4, 0, 4, 0]));
        assert!(!ldap_entry_has_attribute(&ber(0x30, &m3)));
        assert!(ber_element(&msg[..msg.len() - 1]).is_none());
    }

    #[test]
    fn ntp_packets() {
        let req = ntp_request(3_900_000_000.5);
        assert_eq!(req[0], 0x1b);
        assert_eq!(&req[40..44], &3_900_000_000u32.to_be_bytes());
        assert_eq!(req[44], 0x80);
        let mut resp = [0u8; NTP_PACKET];
        resp[0] = (3 << 3) | 4;
        resp[1] = 2;
        resp[24..32].copy_from_slice(&req[40..48]);
        resp[40] = 1;
        assert!(ntp_response_ok(&req, &resp));
        let mut v4 = resp;
        v4[0] = (4 << 3) | 4;
        assert!(!ntp_response_ok(&req, &v4));
        let mut bad_origin = resp;
        bad_origin[31] ^= 1;
        assert!(!ntp_response_ok(&req, &bad_origin));
        let mut strat = resp;
        strat[1] = 16;
        assert!(!ntp_response_ok(&req, &strat));
        let mut no_tx = resp;
        no_tx[40] = 0;
        assert!(!ntp_response_ok(&req, &no_tx));
        assert!(!ntp_response_ok(&req, &resp[..47]));
    }

    #[tokio::test]
    async fn lines_split_and_last_line_without_newline() {
        let data: &[u8] = b"220-a\r\n220 b\nlast";
        let mut r = LineReader::new(data);
        assert_eq!(r.next_line().await.unwrap(), b"220-a");
        assert_eq!(r.next_line().await.unwrap(), b"220 b");
        assert_eq!(r.next_line().await.unwrap(), b"last");
        assert!(r.next_line().await.is_none());
    }
}
