//! Passive checks: the listener, `Server=` access control, one request → one response.
//!
//! Owns accepting connections on `ListenIP:ListenPort`, the cap on concurrent
//! connections, the per-connection `Timeout` (read, check, write: each bounded) and
//! closing. One request per connection, read by length and never until EOF; malformed or
//! oversized frames are closed with a log line, never answered, never a panic.
//! What a key means is the registry's business ([`crate::keys`]).

pub mod access;
pub mod request;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};
use zbx_proto::frame::{self, Limits};

use crate::keys::AgentCtx;
use crate::tls::{self, Rejected, TlsServer};
use crate::transport::{self, TransportError};

/// How long in-flight requests may run after shutdown is requested.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Binds every `ListenIP` on `ListenPort` (`SO_REUSEADDR`, the configured backlog).
pub fn bind(ips: &[IpAddr], port: u16, backlog: u32) -> io::Result<Vec<std::net::TcpListener>> {
    let mut out = Vec::with_capacity(ips.len());
    for ip in ips {
        let addr = SocketAddr::new(*ip, port);
        let domain = socket2::Domain::for_address(addr);
        let sock =
            socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
        sock.set_reuse_address(true)?;
        if addr.is_ipv6() {
            // Like zabbix_agentd: an IPv6 listener does not also take IPv4.
            sock.set_only_v6(true)?;
        }
        sock.bind(&addr.into())
            .map_err(|e| io::Error::new(e.kind(), format!("cannot bind to [{ip}]:{port}: {e}")))?;
        sock.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
        sock.set_nonblocking(true)?;
        out.push(sock.into());
    }
    Ok(out)
}

/// Serves passive checks on `listeners` until `shutdown` is cancelled, then lets
/// in-flight requests finish for at most [`SHUTDOWN_GRACE`]. Builds the TLS side from
/// `ctx.config.tls` first (an invalid TLS setting is an `InvalidInput` error); callers
/// that already built it at start-up use [`serve_with_tls`].
pub async fn serve(
    ctx: Arc<AgentCtx>,
    listeners: Vec<std::net::TcpListener>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let built = tls::build(&ctx.config.tls, tls::Program::agent(&ctx.config))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    serve_with_tls(ctx, listeners, built.server, shutdown).await
}

/// [`serve`] with the TLS side built once at start-up by [`tls::build`] (its
/// `server`): `TLSAccept` decides which connections are taken.
pub async fn serve_with_tls(
    ctx: Arc<AgentCtx>,
    listeners: Vec<std::net::TcpListener>,
    tls: Arc<TlsServer>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let limit = Arc::new(Semaphore::new(ctx.config.max_connections.max(1)));
    let tracker = TaskTracker::new();
    let mut accepters = tokio::task::JoinSet::new();
    for l in listeners {
        let l = TcpListener::from_std(l)?;
        info!(addr = %l.local_addr()?, tls_accept = %tls.modes(), "Listening for passive checks");
        accepters.spawn(accept_loop(
            Arc::clone(&ctx),
            Arc::clone(&tls),
            l,
            Arc::clone(&limit),
            tracker.clone(),
            shutdown.clone(),
        ));
    }
    while let Some(r) = accepters.join_next().await {
        if let Ok(Err(e)) = r {
            warn!(error = %e, "Passive listener stopped");
        }
    }
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        warn!(grace = ?SHUTDOWN_GRACE, "Passive requests still running at shutdown were abandoned");
    }
    Ok(())
}

async fn accept_loop(
    ctx: Arc<AgentCtx>,
    tls: Arc<TlsServer>,
    listener: TcpListener,
    limit: Arc<Semaphore>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) -> io::Result<()> {
    loop {
        // Take a slot before accepting: when the cap is reached, connections wait in the
        // kernel's backlog instead of in our memory.
        let permit = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            p = Arc::clone(&limit).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return Ok(()),
            },
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: log, back off briefly, keep serving.
                    warn!(error = %e, "Cannot accept a passive connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let ctx = Arc::clone(&ctx);
        let tls = Arc::clone(&tls);
        tracker.spawn(async move {
            handle_with(&ctx, &tls, stream, peer).await;
            drop(permit);
        });
    }
}

/// Handles one unencrypted connection (as with `TLSAccept=unencrypted`): access check,
/// one request, one reply, close. The listener uses [`handle_with`].
pub async fn handle(ctx: &Arc<AgentCtx>, stream: TcpStream, peer: SocketAddr) {
    handle_with(ctx, &TlsServer::unencrypted(), stream, peer).await
}

/// Handles one connection: access check, the `TLSAccept` check and TLS handshake, one
/// request, one reply, close. A refused mode, a failed handshake or a certificate that
/// does not match is closed without a reply and logged with the reason.
pub async fn handle_with(
    ctx: &Arc<AgentCtx>,
    tls: &TlsServer,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let _ = stream.set_nodelay(true);
    if !access::allowed(&ctx.config.server, peer.ip()).await {
        warn!(
            peer = %peer.ip(),
            allowed = %access::describe(&ctx.config.server),
            "Rejected passive connection from a peer not in Server"
        );
        // Dropping the socket closes it without a reply (RST if the request arrived).
        return;
    }
    let timeout = ctx.config.timeout;
    let mut stream = match tls.accept(stream, timeout).await {
        Ok(s) => s,
        Err(Rejected::Closed) => {
            debug!(peer = %peer.ip(), "Peer closed the connection before sending anything");
            return;
        }
        Err(reason) => {
            warn!(peer = %peer.ip(), reason = %reason, "Failed to accept an incoming connection");
            return;
        }
    };
    let payload = match tokio::time::timeout(
        timeout,
        transport::read_frame(&mut stream, &Limits::PASSIVE_REQUEST),
    )
    .await
    {
        Ok(Ok(Some(frame))) => frame.payload,
        // Closed before sending anything: zabbix_agentd treats it as an empty key.
        Ok(Ok(None)) => Vec::new(),
        Ok(Err(e)) => {
            log_bad_request(peer, &e);
            return;
        }
        Err(_) => {
            warn!(peer = %peer, timeout = ?timeout, "Passive request not received in time; closing");
            return;
        }
    };
    let (reply, kind) = request::answer(ctx, &payload).await;
    debug!(peer = %peer, request = ?kind, reply_len = reply.len(), "Passive check");
    let mut bytes = frame::header_for(reply.len());
    bytes.extend_from_slice(&reply);
    match tokio::time::timeout(timeout, transport::write_all(&mut stream, &bytes)).await {
        Ok(Ok(())) => {
            if stream.is_tls() {
                // close_notify, as the official agent sends before closing.
                let _ = tokio::time::timeout(timeout, stream.shutdown()).await;
            }
        }
        Ok(Err(e)) => debug!(peer = %peer, error = %e, "Cannot send passive reply"),
        Err(_) => warn!(peer = %peer, "Passive reply not sent in time; closing"),
    }
}

fn log_bad_request(peer: SocketAddr, e: &TransportError) {
    match e {
        TransportError::Io(io) if io.kind() == io::ErrorKind::ConnectionReset => {
            debug!(peer = %peer, "Peer reset the connection")
        }
        _ => warn!(peer = %peer, error = %e, "Malformed passive request; closing without reply"),
    }
}
