//! One Zabbix exchange over TCP: connect (optionally from `SourceIP`), write one frame,
//! read one frame by its length — never until EOF. [`connect_tcp`] is the agent's only
//! outgoing TCP connect; the keys that connect use it too.
//!
//! Owns the stream type every client (`zagent get`, `zagent send`, active checks) and the
//! passive listener use, so that encryption is added in one place: a [`Stream`]
//! ([`crate::stream`]) is plain TCP or TLS ([`crate::tls`] makes the TLS ones). It must not know what the payload
//! means.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::sys::oserror::zbx_strerror;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use zbx_proto::frame::{self, Frame, FrameError, Limits};

pub use crate::stream::Stream;

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Name resolution failed.
    #[error("cannot resolve [{host}]: {source}")]
    Resolve {
        /// The name.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// TCP connect failed.
    #[error("cannot connect to [[{host}]:{port}]: {}", zbx_strerror(source))]
    Connect {
        /// Host as given.
        host: String,
        /// Port.
        port: u16,
        /// The OS error.
        source: io::Error,
    },
    /// Reading or writing failed.
    #[error("{}", zbx_strerror(.0))]
    Io(#[from] io::Error),
    /// Connect, write or read did not finish in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The peer sent bytes that are not a valid frame.
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// The peer closed before sending the whole frame.
    #[error("connection closed after {got} of {expected} bytes (message shorter than expected)")]
    Truncated {
        /// Bytes received.
        got: usize,
        /// Bytes the header announced (or the header size).
        expected: usize,
    },
    /// More bytes than the header announced arrived with the frame.
    #[error("message is longer than expected ({expected} bytes announced)")]
    TooLong {
        /// Bytes the header announced.
        expected: usize,
    },
    /// The peer closed without sending anything.
    #[error("connection closed by peer without a reply")]
    Empty,
    /// TCP connected but the TLS handshake or the peer checks failed (zabbix_get's text).
    #[error("TCP successful, cannot establish TLS to [[{host}]:{port}]: {reason}")]
    Tls {
        /// Host as given.
        host: String,
        /// Port.
        port: u16,
        /// What failed: OpenSSL's reason, a certificate problem, an issuer mismatch.
        reason: String,
    },
}

/// Options for an outgoing connection.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Bind to this address before connecting (`SourceIP`, `-I`).
    pub source_ip: Option<IpAddr>,
    /// Bound on connect, on the write and on the read, each.
    pub timeout: Duration,
    /// Compress the request (flags 0x03), as agent 2 does.
    pub compress: bool,
    /// Largest reply accepted.
    pub limits: Limits,
    /// Encrypt with this (`TLSConnect=psk|cert`); `None` is unencrypted. Built once by
    /// [`crate::tls::build`] and shared.
    pub tls: Option<Arc<crate::tls::TlsClient>>,
}

impl ClientOptions {
    /// Plain, uncompressed, with `timeout`.
    pub fn new(timeout: Duration) -> ClientOptions {
        ClientOptions {
            source_ip: None,
            timeout,
            compress: false,
            limits: Limits::REPLY,
            tls: None,
        }
    }

    /// The same options, encrypting with `tls` (or not, with `None`).
    pub fn with_tls(mut self, tls: Option<Arc<crate::tls::TlsClient>>) -> ClientOptions {
        self.tls = tls;
        self
    }
}

/// Connects to `host:port` (host may be a name, an IPv4 or an IPv6 address without
/// brackets), trying every resolved address in order, then runs the TLS handshake when
/// `opts.tls` is set (bounded by `opts.timeout` too).
pub async fn connect(
    host: &str,
    port: u16,
    opts: &ClientOptions,
) -> Result<Stream, TransportError> {
    let tcp = connect_tcp(host, port, opts.source_ip, opts.timeout).await?;
    wrap(tcp, host, port, opts).await
}

/// The one outgoing TCP connect of the agent (active checks, `get`, `send`, and the keys
/// that connect: `net.tcp.port`, `net.tcp.service*`, `web.page.*`). Resolves `host` (a
/// name or an address without brackets) within `timeout`, then tries every address in
/// order, each attempt bounded by `timeout`. With `source` (`SourceIP`) the socket is
/// bound to it first, as zabbix_agentd's `zbx_tcp_connect` does: a source of the other
/// address family fails that attempt (zabbix_agentd answers `net.tcp.port` 0 then).
pub async fn connect_tcp(
    host: &str,
    port: u16,
    source: Option<IpAddr>,
    timeout: Duration,
) -> Result<TcpStream, TransportError> {
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::time::timeout(timeout, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| TransportError::Timeout(timeout))?
            .map_err(|source| TransportError::Resolve {
                host: host.to_string(),
                source,
            })?
            .collect(),
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match tokio::time::timeout(timeout, connect_one(addr, source)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => last = e,
            Err(_) => last = io::Error::new(io::ErrorKind::TimedOut, "connection timed out"),
        }
    }
    Err(TransportError::Connect {
        host: host.to_string(),
        port,
        source: last,
    })
}

async fn wrap(
    tcp: TcpStream,
    host: &str,
    port: u16,
    opts: &ClientOptions,
) -> Result<Stream, TransportError> {
    let Some(tls) = &opts.tls else {
        return Ok(Stream::Plain(tcp));
    };
    let tls_error = |reason: String| TransportError::Tls {
        host: host.to_string(),
        port,
        reason,
    };
    match tokio::time::timeout(opts.timeout, tls.handshake(tcp)).await {
        Ok(Ok(s)) => Ok(Stream::Tls(Box::new(s))),
        Ok(Err(reason)) => Err(tls_error(reason)),
        Err(_) => Err(tls_error(format!(
            "TLS handshake timed out after {:?}",
            opts.timeout
        ))),
    }
}

async fn connect_one(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let sock = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        sock.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = sock.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Largest single read into a frame buffer.
const READ_CHUNK: usize = 16 * 1024;

/// Reads one frame by length. Returns `Ok(None)` when the peer closed before sending a
/// single byte (what the official agent treats as an empty request).
pub async fn read_frame<S: AsyncRead + Unpin>(
    stream: &mut S,
    limits: &Limits,
) -> Result<Option<Frame>, TransportError> {
    read_frame_after(stream, limits, &[]).await
}

/// Whether a passive request starting with `first` is an unframed key line (the old
/// protocol: `agent.ping\n`) rather than a `ZBXD` frame. Anything starting with `Z` is
/// taken for a frame, so a damaged header stays an error, never a key.
pub fn is_unframed(first: u8) -> bool {
    first != b'Z'
}

/// Reads an unframed request: the bytes up to the first LF (or the end of the stream),
/// `prefix` being what was read already; at most `max` bytes, anything after the LF is
/// ignored. The LF is not part of the result.
pub async fn read_line_after<S: AsyncRead + Unpin>(
    stream: &mut S,
    max: usize,
    prefix: &[u8],
) -> Result<Vec<u8>, TransportError> {
    let too_large = |size: usize| FrameError::TooLarge {
        size: size as u64,
        max: max as u64,
    };
    let mut line = Vec::new();
    let mut chunk = [0u8; READ_CHUNK];
    let mut next: &[u8] = prefix;
    loop {
        if let Some(lf) = next.iter().position(|b| *b == b'\n') {
            if line.len() + lf > max {
                return Err(too_large(line.len() + lf).into());
            }
            line.extend_from_slice(&next[..lf]);
            return Ok(line);
        }
        if line.len() + next.len() > max {
            return Err(too_large(line.len() + next.len()).into());
        }
        line.extend_from_slice(next);
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(line);
        }
        next = &chunk[..n];
    }
}

/// Like [`read_frame`], for a frame whose first bytes (`prefix`) were already read.
pub async fn read_frame_after<S: AsyncRead + Unpin>(
    stream: &mut S,
    limits: &Limits,
    prefix: &[u8],
) -> Result<Option<Frame>, TransportError> {
    let mut head = [0u8; frame::LARGE_HEADER_LEN];
    let mut got = prefix.len().min(head.len());
    head[..got].copy_from_slice(&prefix[..got]);
    let header = loop {
        if let Some(h) = frame::parse_header(&head[..got], limits)? {
            break h;
        }
        let want = if got > 4 && head[4] & frame::FLAG_LARGE != 0 {
            frame::LARGE_HEADER_LEN
        } else {
            frame::HEADER_LEN
        };
        let n = stream.read(&mut head[got..want]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(TransportError::Truncated {
                    got,
                    expected: want,
                })
            };
        }
        got += n;
    };
    // parse_header checked data_len against the limit: this allocation is bounded.
    let data_len = usize::try_from(header.data_len).map_err(|_| FrameError::TooLarge {
        size: header.data_len,
        max: limits.max_data_len,
    })?;
    // Bytes past the header: from `head`, then from the rest of `prefix`.
    let mut data: Vec<u8> = head[header.header_len..got].to_vec();
    if prefix.len() > got {
        data.extend_from_slice(&prefix[got..]);
    }
    if data.len() > data_len {
        return Err(TransportError::TooLong { expected: data_len });
    }
    // The buffer grows with the bytes that actually arrive: a header announcing a large
    // frame costs nothing until the peer sends it.
    data.reserve(data_len.min(READ_CHUNK));
    let mut chunk = [0u8; READ_CHUNK];
    while data.len() < data_len {
        let want = (data_len - data.len()).min(READ_CHUNK);
        let n = stream.read(&mut chunk[..want]).await?;
        if n == 0 {
            return Err(TransportError::Truncated {
                got: data.len(),
                expected: data_len,
            });
        }
        data.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(frame::finish(&header, &data)?))
}

/// Writes one frame (already encoded) and flushes it.
pub async fn write_all<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

/// Payloads up to this size are copied behind their header and sent as one buffer.
const JOIN_UP_TO: usize = 64 * 1024;

/// Sends `payload` in an uncompressed frame. A large payload (a listener report can be
/// megabytes) is not copied behind its header: both go out in `writev` calls, so the
/// reply never exists twice in memory. Small ones are joined, so that header and payload
/// leave in one segment (two small writes would meet Nagle's delay on the second).
pub async fn write_frame<S: AsyncWrite + Unpin>(stream: &mut S, payload: &[u8]) -> io::Result<()> {
    let header = zbx_proto::frame::header_for(payload.len());
    if payload.len() <= JOIN_UP_TO || !stream.is_write_vectored() {
        let mut bytes = header;
        bytes.extend_from_slice(payload);
        return write_all(stream, &bytes).await;
    }
    let (mut h, mut p) = (&header[..], payload);
    while !h.is_empty() || !p.is_empty() {
        let n = stream
            .write_vectored(&[io::IoSlice::new(h), io::IoSlice::new(p)])
            .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let from_h = n.min(h.len());
        h = &h[from_h..];
        p = p.get(n - from_h..).unwrap_or_default();
    }
    stream.flush().await
}

/// One request/response exchange: connect, send `payload`, read the reply.
pub async fn exchange(
    host: &str,
    port: u16,
    payload: &[u8],
    opts: &ClientOptions,
) -> Result<Frame, TransportError> {
    exchange_checked(host, port, payload, opts, false).await
}

/// [`exchange`] that also refuses a reply followed by more bytes than its header
/// announced (already in the socket when the frame is read), as zabbix_get does
/// ("Message … is longer than expected … Message ignored.").
pub async fn exchange_exact(
    host: &str,
    port: u16,
    payload: &[u8],
    opts: &ClientOptions,
) -> Result<Frame, TransportError> {
    exchange_checked(host, port, payload, opts, true).await
}

async fn exchange_checked(
    host: &str,
    port: u16,
    payload: &[u8],
    opts: &ClientOptions,
    exact: bool,
) -> Result<Frame, TransportError> {
    let mut stream = connect(host, port, opts).await?;
    let bytes = if opts.compress {
        frame::encode_compressed(payload)
    } else {
        frame::encode(payload)
    };
    tokio::time::timeout(opts.timeout, write_all(&mut stream, &bytes))
        .await
        .map_err(|_| TransportError::Timeout(opts.timeout))??;
    let reply = tokio::time::timeout(opts.timeout, read_frame(&mut stream, &opts.limits))
        .await
        .map_err(|_| TransportError::Timeout(opts.timeout))??;
    if let (true, Some(frame), Stream::Plain(tcp)) = (exact, &reply, &stream) {
        let mut extra = [0u8; 1];
        if matches!(tcp.try_read(&mut extra), Ok(n) if n > 0) {
            return Err(TransportError::TooLong {
                expected: frame.payload.len(),
            });
        }
    }
    if stream.is_tls() {
        // Send close_notify as the official clients do; the peer may already be gone.
        let _ = tokio::time::timeout(opts.timeout, stream.shutdown()).await;
    }
    reply.ok_or(TransportError::Empty)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A small and a 3 MiB payload (the vectored path: header and payload are not joined)
    /// arrive as one well-formed frame each over a real TCP connection.
    #[tokio::test]
    async fn write_frame_small_and_large() {
        for len in [1usize, JOIN_UP_TO, JOIN_UP_TO + 1, 3 << 20] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let reader = tokio::spawn(async move {
                let (mut s, _) = l.accept().await.unwrap();
                let mut all = Vec::new();
                s.read_to_end(&mut all).await.unwrap();
                all
            });
            let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
            write_frame(&mut c, &payload).await.unwrap();
            drop(c);
            let got = reader.await.unwrap();
            let limits = zbx_proto::frame::Limits {
                max_data_len: 64 << 20,
                ..Default::default()
            };
            match zbx_proto::frame::decode(&got, &limits).unwrap() {
                zbx_proto::frame::Decoded::Frame { frame, consumed } => {
                    assert_eq!(consumed, got.len(), "{len}");
                    assert!(frame.payload == payload, "{len}: payload differs");
                }
                other => panic!("{len}: {other:?}"),
            }
        }
    }
}
