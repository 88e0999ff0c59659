//! Web page keys: `web.page.get[host,<path>,<port>]`, `web.page.perf[...]` and
//! `web.page.regexp[host,<path>,<port>,regexp,<length>,<output>]`.
//!
//! Owns the URL zabbix_agentd 6.0 builds from the parameters, one HTTP/1.1 GET (plain
//! TCP, or TLS when the host is given as `https://…`; certificates are not checked, as
//! agentd's libcurl call does not check them), the response as agentd returns it
//! (headers as received, then the decoded body) and agentd's error texts
//! (`Cannot perform cURL request: …` with libcurl's wording). It must not follow
//! redirects (agentd does not).
//!
//! Request sent (what agentd's libcurl sends, checked on a capturing server):
//! `GET /path HTTP/1.1`, `Host: host[:port]` (port only when not the scheme's default),
//! `User-Agent: Zabbix 6.0.14`, `Accept: */*`, `Accept-Encoding: deflate, gzip` (agentd
//! also offers br and zstd, which we cannot decode).
//!
//! Limits: the whole exchange is bounded by the request's timeout (less
//! [`limits::MARGIN`]); the header block may be [`limits::MAX_HEADER`] bytes; the body
//! (after decoding) [`limits::MAX_BODY`] bytes, beyond which it is cut (a chunked body
//! longer than [`limits::MAX_CHUNKED_RAW`] fails).

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

mod chunked;
pub use chunked::{dechunk, Dechunker};

use super::net_tcp::parse_ushort;
use super::{AgentCtx, BoxFuture, Handler, KeyDef, NotSupported, ParamDef, Params, Request, Value};
use crate::regexp::{self, Regexp};
use crate::tls;
use crate::transport::{self, TransportError};

/// The family.
pub const KEYS: &[KeyDef] = &[
    KeyDef {
        name: "web.page.get",
        description: "Gets the content of a web page (headers and body).",
        params: Params::List(&[
            ParamDef::req("host"),
            ParamDef::opt("<path>"),
            ParamDef::opt("<port>"),
        ]),
        test_key: "web.page.get[localhost,,80]",
        handler: Handler::Async(page_get),
    },
    KeyDef {
        name: "web.page.perf",
        description: "Seconds it took to load a full web page.",
        params: Params::List(&[
            ParamDef::req("host"),
            ParamDef::opt("<path>"),
            ParamDef::opt("<port>"),
        ]),
        test_key: "web.page.perf[localhost,,80]",
        handler: Handler::Async(page_perf),
    },
    KeyDef {
        name: "web.page.regexp",
        description: "The first line of a web page matching a regular expression (or the output template applied to it).",
        params: Params::List(&[
            ParamDef::opt("host"),
            ParamDef::opt("<path>"),
            ParamDef::opt("<port>"),
            ParamDef::opt("regexp"),
            ParamDef::opt("<length>"),
            ParamDef::opt("<output>"),
        ]),
        test_key: "web.page.regexp[localhost,,80,OK]",
        handler: Handler::Async(page_regexp),
    },
];

/// Limits of this family.
pub mod limits {
    /// Largest response header block (all interim and final headers).
    pub const MAX_HEADER: usize = 256 * 1024;
    /// Largest body kept (decoded); the rest is dropped.
    pub const MAX_BODY: usize = 16 * 1024 * 1024;
    /// Most chunked-encoded bytes read; a longer chunked body fails with libcurl's
    /// receive error text.
    pub const MAX_CHUNKED_RAW: usize = 2 * MAX_BODY;
    /// Time kept back from the request's timeout to answer libcurl's timeout text
    /// before the dispatcher gives up.
    pub const MARGIN: std::time::Duration = std::time::Duration::from_millis(100);
}

/// Why a page could not be fetched; `Display` is the text agentd answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebError {
    /// The address could not be resolved.
    #[error("Cannot perform cURL request: Couldn't resolve host name.")]
    Resolve,
    /// Nothing accepted the connection.
    #[error("Cannot perform cURL request: Couldn't connect to server.")]
    Connect,
    /// The TLS handshake failed.
    #[error("Cannot perform cURL request: SSL connect error.")]
    Tls,
    /// The exchange did not finish in time.
    #[error("Cannot perform cURL request: Timeout was reached.")]
    Timeout,
    /// The peer closed without a byte.
    #[error("Cannot perform cURL request: Server returned nothing (no headers, no data).")]
    Nothing,
    /// The peer's answer is not HTTP.
    #[error("Cannot perform cURL request: Weird server reply.")]
    Weird,
    /// The body ended early.
    #[error("Cannot perform cURL request: Transferred a partial file.")]
    Partial,
    /// Sending or receiving failed.
    #[error("Cannot perform cURL request: Failure when receiving data from the peer.")]
    Recv,
    /// The body could not be decoded.
    #[error("Cannot perform cURL request: Unrecognized or bad HTTP Content or Transfer-Encoding.")]
    Decoding,
    /// The URL cannot be used.
    #[error("Cannot perform cURL request: URL using bad/illegal format or missing URL.")]
    BadUrl,
}

/// A parsed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `https` or not.
    pub tls: bool,
    /// Host name or address, without brackets.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path and query (at least `/`).
    pub path: String,
}

const PROHIBITED: fn(char) -> bool = |c| (c as u32) < 0x20 || c as u32 == 0x7f;

/// Whether agentd treats `host` as a URL: it holds one of `/@#?[]`, or exactly one `:`.
fn looks_like_url(host: &str) -> bool {
    host.contains(['/', '@', '#', '?', '[', ']']) || host.matches(':').count() == 1
}

/// Builds the URL agentd would fetch, with agentd's parameter errors (port is checked
/// only when the host is not a URL).
pub fn build_url(host: &str, path: Option<&str>, port: Option<&str>) -> Result<String, String> {
    if host.is_empty() {
        return Err("Invalid first parameter.".into());
    }
    if let Some(pos) = host.find(PROHIBITED) {
        return Err(format!(
            "Incorrect hostname expression. Check hostname part after: {}.",
            &host[..pos]
        ));
    }
    if let Some(p) = path {
        if let Some(pos) = p.find(PROHIBITED) {
            return Err(format!(
                "Incorrect path expression. Check path part after: {}.",
                &p[..pos]
            ));
        }
    }
    if looks_like_url(host) {
        if port.is_some_and(|p| !p.is_empty()) || path.is_some_and(|p| !p.is_empty()) {
            return Err(
                "Parameters \"path\" and \"port\" must be empty if URL is specified in \"host\"."
                    .into(),
            );
        }
        let lower = host.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Ok(host.to_string());
        }
        if let Some(pos) = host.find("://") {
            return Err(format!("Unsupported scheme: {}.", &host[..pos]));
        }
        return Ok(format!("http://{host}"));
    }
    let port = match port.filter(|p| !p.is_empty()) {
        None => 80,
        Some(p) => parse_ushort(p).ok_or_else(|| "Invalid third parameter.".to_string())?,
    };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let path = path.unwrap_or("");
    let slash = if path.starts_with('/') { "" } else { "/" };
    Ok(format!("http://{host}:{port}{slash}{path}"))
}

/// Splits a URL as libcurl does for what we need: scheme, host (brackets removed),
/// port (scheme default when absent), path with query (`/` when empty); user
/// information and the fragment are dropped.
pub fn parse_url(url: &str) -> Result<Target, WebError> {
    let (scheme, rest) = url.split_once("://").ok_or(WebError::BadUrl)?;
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "http" => false,
        "https" => true,
        _ => return Err(WebError::BadUrl),
    };
    let rest = rest.split('#').next().unwrap_or("");
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or(WebError::BadUrl)?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(WebError::BadUrl);
    }
    let default = if tls { 443 } else { 80 };
    let port = match port {
        None | Some("") => default,
        Some(p) => parse_ushort(p).ok_or(WebError::BadUrl)?,
    };
    let path = match path {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    Ok(Target {
        tls,
        host: host.to_string(),
        port,
        path,
    })
}

/// `host` or `host:port` as a Host header (IPv6 in brackets; port omitted when it is
/// the scheme's default).
pub fn host_header(t: &Target) -> String {
    let default = if t.tls { 443 } else { 80 };
    let h = if t.host.contains(':') {
        format!("[{}]", t.host)
    } else {
        t.host.clone()
    };
    if t.port == default {
        h
    } else {
        format!("{h}:{}", t.port)
    }
}

/// `host:port` with IPv6 addresses bracketed.
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The request agentd's libcurl sends for `t`.
pub fn request_text(t: &Target) -> String {
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: Zabbix {}\r\nAccept: */*\r\nAccept-Encoding: deflate, gzip\r\n\r\n",
        t.path,
        host_header(t),
        super::agent::AGENT_VERSION
    )
}

// ---------------------------------------------------------------------------------------
// Response parsing (pure)
// ---------------------------------------------------------------------------------------

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (1xx, 204, 304).
    None,
    /// `Content-Length`.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the peer closes.
    Close,
}

/// One parsed header block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Status code.
    pub status: u16,
    /// Body framing.
    pub framing: Framing,
    /// `Content-Encoding` (lower case), if any.
    pub encoding: Option<String>,
}

/// Parses a header block (status line to the empty line, inclusive).
pub fn parse_head(block: &[u8]) -> Result<Head, WebError> {
    let text = String::from_utf8_lossy(block);
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let status_line = lines.next().ok_or(WebError::Weird)?;
    let mut parts = status_line.split(' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/") {
        return Err(WebError::Weird);
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or(WebError::Weird)?;
    let mut length = None;
    let mut chunked = false;
    let mut encoding = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = Some(value.parse::<usize>().map_err(|_| WebError::Weird)?),
            "transfer-encoding" => chunked |= value.to_ascii_lowercase().contains("chunked"),
            "content-encoding" => encoding = Some(value.to_ascii_lowercase()),
            _ => {}
        }
    }
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::Close
    };
    Ok(Head {
        status,
        framing,
        encoding,
    })
}

/// Undoes `Content-Encoding: gzip`/`deflate`; other encodings are left as they are.
pub fn decode_body(encoding: Option<&str>, body: Vec<u8>) -> Result<Vec<u8>, WebError> {
    let mut out = Vec::new();
    let limit = limits::MAX_BODY as u64;
    let r = match encoding {
        Some("gzip") | Some("x-gzip") => flate2::read::MultiGzDecoder::new(&body[..])
            .take(limit)
            .read_to_end(&mut out),
        Some("deflate") => {
            // zlib-wrapped, as the standard says; some servers send raw deflate.
            let zlib = flate2::read::ZlibDecoder::new(&body[..])
                .take(limit)
                .read_to_end(&mut out);
            if zlib.is_err() {
                out.clear();
                flate2::read::DeflateDecoder::new(&body[..])
                    .take(limit)
                    .read_to_end(&mut out)
            } else {
                zlib
            }
        }
        _ => return Ok(body),
    };
    r.map_err(|_| WebError::Decoding)?;
    Ok(out)
}

/// Finds the end of a header block (`\r\n\r\n` or `\n\n`): index after it.
fn head_end(data: &[u8]) -> Option<usize> {
    let crlf = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4);
    let lf = data.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

// ---------------------------------------------------------------------------------------
// Fetch (I/O)
// ---------------------------------------------------------------------------------------

async fn read_more<S: AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> Result<usize, WebError> {
    let mut chunk = [0u8; 16 * 1024];
    let n = s.read(&mut chunk).await.map_err(|_| WebError::Recv)?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// Sends the request and reads one response: the header blocks as received, then the
/// decoded body.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    t: &Target,
) -> Result<Vec<u8>, WebError> {
    s.write_all(request_text(t).as_bytes())
        .await
        .map_err(|_| WebError::Recv)?;
    let mut buf = Vec::new();
    let mut headers = Vec::new();
    let head = loop {
        let end = loop {
            if let Some(end) = head_end(&buf) {
                break end;
            }
            if buf.len() > limits::MAX_HEADER {
                return Err(WebError::Weird);
            }
            if read_more(&mut s, &mut buf).await? == 0 {
                return Err(if buf.is_empty() && headers.is_empty() {
                    WebError::Nothing
                } else {
                    WebError::Weird
                });
            }
        };
        let block: Vec<u8> = buf.drain(..end).collect();
        let head = parse_head(&block)?;
        headers.extend_from_slice(&block);
        if !(100..200).contains(&head.status) {
            break head;
        }
    };
    let body = match head.framing {
        Framing::None => Vec::new(),
        Framing::Length(n) => {
            while buf.len() < n {
                if buf.len() >= limits::MAX_BODY {
                    break;
                }
                if read_more(&mut s, &mut buf).await? == 0 {
                    return Err(WebError::Partial);
                }
            }
            buf.truncate(n.min(limits::MAX_BODY));
            buf
        }
        Framing::Chunked => {
            // Each received byte is fed once; the decoder keeps its state between reads.
            let mut dechunker = Dechunker::new();
            loop {
                if dechunker.feed(&buf)? {
                    break dechunker.into_body();
                }
                buf.clear();
                if dechunker.consumed() > limits::MAX_CHUNKED_RAW {
                    return Err(WebError::Recv);
                }
                if read_more(&mut s, &mut buf).await? == 0 {
                    return Err(WebError::Partial);
                }
            }
        }
        Framing::Close => {
            while buf.len() < limits::MAX_BODY {
                if read_more(&mut s, &mut buf).await? == 0 {
                    break;
                }
            }
            buf.truncate(limits::MAX_BODY);
            buf
        }
    };
    let body = decode_body(head.encoding.as_deref(), body)?;
    headers.extend_from_slice(&body);
    Ok(headers)
}

async fn fetch_target(ctx: &AgentCtx, t: &Target, budget: Duration) -> Result<Vec<u8>, WebError> {
    let stream = transport::connect_tcp(&t.host, t.port, ctx.config.source_ip, budget)
        .await
        .map_err(|e| match e {
            TransportError::Resolve { .. } => WebError::Resolve,
            _ => WebError::Connect,
        })?;
    if t.tls {
        let tls = tls::client::connect_unverified(stream, &t.host)
            .await
            .map_err(|_| WebError::Tls)?;
        exchange(tls, t).await
    } else {
        exchange(stream, t).await
    }
}

/// Fetches the page the parameters name, as agentd would; errors are agentd's texts.
async fn fetch(ctx: &AgentCtx, req: &Request) -> Result<Vec<u8>, NotSupported> {
    let url =
        build_url(req.param(0), req.key.param(1), req.key.param(2)).map_err(NotSupported::new)?;
    let target = parse_url(&url).map_err(|e| NotSupported::new(e.to_string()))?;
    let budget = req.timeout.saturating_sub(limits::MARGIN);
    let r = match tokio::time::timeout(budget, fetch_target(ctx, &target, budget)).await {
        Ok(r) => r,
        Err(_) => Err(WebError::Timeout),
    };
    tracing::debug!(url, ok = r.is_ok(), "Web page fetched");
    r.map_err(|e| NotSupported::new(e.to_string()))
}

/// The page as agentd hands it on: up to the first NUL byte, as text.
fn page_text(page: &[u8]) -> String {
    let end = page.iter().position(|&b| b == 0).unwrap_or(page.len());
    crate::text::zbx_utf8(&page[..end])
}

/// The length parameter: 0 to 2^31-1 (0 cuts every match to nothing).
fn parse_length(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 10 {
        return None;
    }
    let v: u64 = s.parse().ok()?;
    (v <= 0x7fff_ffff).then_some(v as usize)
}

/// The first line of `page` (split on `\n`, one `\r` before it dropped) that `re`
/// matches, through the output template, cut to `length` characters; empty when
/// nothing matches.
pub fn regexp_first(page: &str, re: Option<&Regexp>, output: &str, length: usize) -> String {
    let Some(re) = re else {
        return String::new();
    };
    let template = if output.is_empty() { "\\0" } else { output };
    for line in page.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(groups) = re.captures(line.as_bytes()) {
            let out = regexp::render(line.as_bytes(), &groups, template).unwrap_or_default();
            return out.chars().take(length).collect();
        }
    }
    String::new()
}

fn page_get(ctx: Arc<AgentCtx>, req: Request) -> BoxFuture {
    Box::pin(async move {
        let page = fetch(&ctx, &req).await?;
        let text = page_text(&page);
        Ok(Value::Text(text.trim_end_matches(['\r', '\n']).to_string()))
    })
}

fn page_perf(ctx: Arc<AgentCtx>, req: Request) -> BoxFuture {
    Box::pin(async move {
        let start = Instant::now();
        fetch(&ctx, &req).await?;
        Ok(Value::Float(start.elapsed().as_secs_f64()))
    })
}

fn page_regexp(ctx: Arc<AgentCtx>, req: Request) -> BoxFuture {
    Box::pin(async move {
        if req.nparams() < 4 {
            return Err(NotSupported::new("Invalid number of parameters."));
        }
        let length = match req.opt(4) {
            None => 65535,
            Some(s) => parse_length(s).ok_or_else(|| NotSupported::invalid_param(4))?,
        };
        let page = fetch(&ctx, &req).await?;
        let re = Regexp::new(req.param(3)).ok();
        Ok(Value::Str(regexp_first(
            &page_text(&page),
            re.as_ref(),
            req.param(5),
            length,
        )))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn urls_from_parameters() {
        assert_eq!(
            build_url("localhost", None, None).unwrap(),
            "http://localhost:80/"
        );
        assert_eq!(
            build_url("127.0.0.1", Some("x?y=1"), Some("8080")).unwrap(),
            "http://127.0.0.1:8080/x?y=1"
        );
        assert_eq!(
            build_url("::1", Some("/a"), None).unwrap(),
            "http://[::1]:80/a"
        );
        assert_eq!(
            build_url("example.com:81", None, None).unwrap(),
            "http://example.com:81"
        );
        assert_eq!(
            build_url("HTTPS://x/y", Some(""), Some("")).unwrap(),
            "HTTPS://x/y"
        );
        assert_eq!(
            build_url("", None, None).unwrap_err(),
            "Invalid first parameter."
        );
        assert_eq!(
            build_url("a", None, Some("x")).unwrap_err(),
            "Invalid third parameter."
        );
        assert_eq!(
            build_url("ftp://x", None, None).unwrap_err(),
            "Unsupported scheme: ftp."
        );
        assert_eq!(
            build_url("http://x", Some("/a"), None).unwrap_err(),
            "Parameters \"path\" and \"port\" must be empty if URL is specified in \"host\"."
        );
        assert_eq!(
            build_url("ab\tc", None, None).unwrap_err(),
            "Incorrect hostname expression. Check hostname part after: ab."
        );
        assert_eq!(
            build_url("a", Some("p\x7fq"), None).unwrap_err(),
            "Incorrect path expression. Check path part after: p."
        );
    }

    #[test]
    fn url_parts() {
        let t = parse_url("https://user@[::1]:8443/p?q#frag").unwrap();
        assert_eq!(
            t,
            Target {
                tls: true,
                host: "::1".into(),
                port: 8443,
                path: "/p?q".into()
            }
        );
        assert_eq!(host_header(&t), "[::1]:8443");
        let t = parse_url("http://example.com").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/"));
        assert_eq!(host_header(&t), "example.com");
        assert_eq!(parse_url("http://h?x").unwrap().path, "/?x");
        assert_eq!(parse_url("http://:80/").unwrap_err(), WebError::BadUrl);
        assert_eq!(parse_url("http://h:99999/").unwrap_err(), WebError::BadUrl);
    }

    #[test]
    fn request_bytes() {
        let t = parse_url("http://127.0.0.1:33145/x?y=1").unwrap();
        assert_eq!(
            request_text(&t),
            "GET /x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:33145\r\nUser-Agent: Zabbix 6.0.14\r\nAccept: */*\r\nAccept-Encoding: deflate, gzip\r\n\r\n"
        );
    }

    #[test]
    fn heads_and_bodies() {
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n").unwrap();
        assert_eq!((h.status, h.framing), (200, Framing::Length(5)));
        let h = parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\nContent-Length: 5\r\nContent-Encoding: GZIP\r\n\r\n").unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        assert_eq!(h.encoding.as_deref(), Some("gzip"));
        assert_eq!(
            parse_head(b"HTTP/1.0 204 No\r\n\r\n").unwrap().framing,
            Framing::None
        );
        assert_eq!(
            parse_head(b"HTTP/1.0 200 OK\n\n").unwrap().framing,
            Framing::Close
        );
        assert_eq!(
            parse_head(b"SSH-2.0-x\r\n\r\n").unwrap_err(),
            WebError::Weird
        );
        assert_eq!(
            dechunk(b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n")
                .unwrap()
                .unwrap(),
            b"hello world"
        );
        assert_eq!(dechunk(b"5\r\nhel").unwrap(), None);
        assert_eq!(dechunk(b"5\r\nhello\r\n0\r\n").unwrap(), None);
        assert_eq!(dechunk(b"zz\r\n").unwrap_err(), WebError::Recv);
        assert_eq!(
            dechunk(b"ffffffffffffffff\r\nab").unwrap_err(),
            WebError::Recv
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"packed").unwrap();
        let packed = gz.finish().unwrap();
        assert_eq!(decode_body(Some("gzip"), packed).unwrap(), b"packed");
        assert_eq!(
            decode_body(Some("gzip"), b"nope".to_vec()).unwrap_err(),
            WebError::Decoding
        );
        assert_eq!(decode_body(Some("br"), b"raw".to_vec()).unwrap(), b"raw");
    }

    #[test]
    fn regexp_lines_output_and_length() {
        let page = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
        let re = Regexp::new("h(.*)").unwrap();
        assert_eq!(regexp_first(page, Some(&re), "", 2), "h:");
        assert_eq!(regexp_first(page, Some(&re), "", 65535), "h: 11");
        let re = Regexp::new("wor(ld)").unwrap();
        assert_eq!(regexp_first(page, Some(&re), "\\1!", 65535), "ld!");
        assert_eq!(regexp_first(page, None, "", 65535), "");
        assert_eq!(parse_length("0"), Some(0));
        assert_eq!(parse_length("-1"), None);
        assert_eq!(parse_length("2147483647"), Some(2_147_483_647));
        assert_eq!(parse_length("2147483648"), None);
    }
}
