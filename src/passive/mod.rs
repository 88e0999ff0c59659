//! Passive checks: the listener, `Server=` access control, one request → one response.
//!
//! Owns accepting connections on `ListenIP:ListenPort`, the cap on concurrent
//! connections, the per-connection `Timeout` (read, check, write: each bounded) and
//! closing. One request per connection, read by length and never until EOF; malformed or
//! oversized frames are closed with a log line, never answered, never a panic.
//! What a key means is the registry's business ([`crate::keys`]).

pub mod access;
mod fast;
pub mod request;

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};
use zbx_proto::frame::{self, Limits};

use crate::keys::AgentCtx;
use crate::tls::{self, AcceptModes, Rejected, TlsServer};
use crate::transport::{self, Stream, TransportError};

/// How long in-flight requests may run after shutdown is requested.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// `TCP_DEFER_ACCEPT` on the listener: the kernel completes `accept` only once the
/// request's first bytes arrived (or after this many seconds), so that most requests
/// are answered without waiting for readiness. A client that connects and never sends
/// is handed over after it, and then bounded by `Timeout` as usual.
pub const DEFER_ACCEPT_SECS: u32 = 3;

/// Binds every `ListenIP` on `ListenPort` (`SO_REUSEADDR`, the configured backlog,
/// `TCP_DEFER_ACCEPT`).
///
/// On a machine with several CPUs each address gets one listening socket per CPU, joined
/// in a `SO_REUSEPORT` group with `SO_INCOMING_CPU`: the kernel hands a connection to the
/// socket of the CPU that processed its SYN, and [`serve`] pins that socket's accept
/// threads to the same CPU, so a request is answered without a cross-CPU wakeup (measured:
/// `agent.ping` at one client 1.6x the requests/s of a single shared socket). A plain bind
/// is tried first, so a port that anything else holds — another zagent included — is an
/// error as before; where the kernel refuses the group, one ordinary socket is used.
pub fn bind(ips: &[IpAddr], port: u16, backlog: u32) -> io::Result<Vec<std::net::TcpListener>> {
    let cpus = crate::sys::affinity::allowed_cpus();
    let per_cpu = cpus.len() > 1 && cpus.len() <= MAX_CPU_LISTENERS;
    let mut out = Vec::with_capacity(ips.len() * cpus.len().max(1));
    for ip in ips {
        let addr = SocketAddr::new(*ip, port);
        let bind_err =
            |e: io::Error| io::Error::new(e.kind(), format!("cannot bind to [{ip}]:{port}: {e}"));
        if per_cpu {
            // The probe: fails when the port is taken, whatever the other side's options.
            let probe = new_socket(addr)?;
            probe.bind(&addr.into()).map_err(bind_err)?;
            drop(probe);
            match cpus
                .iter()
                .map(|cpu| listen_on(addr, backlog, Some(*cpu)))
                .collect::<io::Result<Vec<_>>>()
            {
                Ok(group) => {
                    out.extend(group);
                    continue;
                }
                Err(e) => {
                    debug!(addr = %addr, error = %e, "Per-CPU listeners unavailable; one listener")
                }
            }
        }
        out.push(listen_on(addr, backlog, None).map_err(bind_err)?);
    }
    Ok(out)
}

/// Most CPUs that get a listening socket each; beyond it, one shared socket.
pub const MAX_CPU_LISTENERS: usize = 64;

fn new_socket(addr: SocketAddr) -> io::Result<socket2::Socket> {
    let domain = socket2::Domain::for_address(addr);
    let sock = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // Like zabbix_agentd: an IPv6 listener does not also take IPv4.
        sock.set_only_v6(true)?;
    }
    Ok(sock)
}

/// One listening socket; with `cpu`, a member of the per-CPU `SO_REUSEPORT` group.
fn listen_on(
    addr: SocketAddr,
    backlog: u32,
    cpu: Option<usize>,
) -> io::Result<std::net::TcpListener> {
    let sock = new_socket(addr)?;
    if let Some(cpu) = cpu {
        sock.set_reuse_port(true)?;
        sock.set_cpu_affinity(cpu)?;
    }
    sock.bind(&addr.into())?;
    sock.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    sock.set_nonblocking(true)?;
    if let Err(e) = crate::sys::sockopt::set_defer_accept(&sock, DEFER_ACCEPT_SECS) {
        debug!(error = %e, "TCP_DEFER_ACCEPT not available; every request takes the async path");
    }
    Ok(sock.into())
}

/// Serves passive checks on `listeners` until `shutdown` is cancelled, then lets
/// in-flight requests finish for at most [`SHUTDOWN_GRACE`].
///
/// Each listener gets `StartAgents` accept threads (as zabbix_agentd pre-forks that many
/// listener processes, but threads): a blocking `accept` wakes exactly one of them, which
/// answers inline keys on the spot ([`fast`]) and hands everything else — keys that wait,
/// JSON requests, partial frames, DNS-name access checks — to the async runtime as a task
/// holding one of `max_connections` slots.
///
/// Builds the TLS side from `ctx.config.tls` first (an invalid TLS setting is an
/// `InvalidInput` error); callers that built it once at start-up use [`serve_with_tls`].
pub async fn serve(
    ctx: Arc<AgentCtx>,
    listeners: Vec<std::net::TcpListener>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let built = match tls::build(&ctx.config.tls, tls::Program::agent(&ctx.config)) {
        Ok(b) => b,
        Err(e) => {
            // Said at once: the caller may only look at the result at shutdown.
            error!(error = %e, "Cannot start the passive listener: invalid TLS settings");
            return Err(io::Error::new(io::ErrorKind::InvalidInput, e.to_string()));
        }
    };
    serve_with_tls(ctx, listeners, built.server, shutdown).await
}

/// [`serve`] with the TLS side built once at start-up by [`tls::build`] (its `server`):
/// `TLSAccept` decides which connections are taken. The synchronous fast path serves
/// only listeners that accept nothing but unencrypted connections; with TLS every
/// connection takes the async path, which peeks at the first byte (0x16 = TLS).
pub async fn serve_with_tls(
    ctx: Arc<AgentCtx>,
    listeners: Vec<std::net::TcpListener>,
    tls: Arc<TlsServer>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let limit = Arc::new(Semaphore::new(ctx.config.max_connections.max(1)));
    let readers = Arc::new(Readers::default());
    let tracker = TaskTracker::new();
    let runtime = tokio::runtime::Handle::current();
    let start_agents = usize::try_from(ctx.config.start_agents.max(1)).unwrap_or(1);
    let ncpus = crate::sys::affinity::allowed_cpus().len().max(1);
    let mut listeners_alive = Vec::new();
    let mut threads = Vec::new();
    for l in listeners {
        let addr = l.local_addr()?;
        // StartAgents accept threads per address: spread over the per-CPU sockets.
        let cpu = fast::listener_cpu(&l);
        let threads_per_listener = match cpu {
            Some(_) => start_agents.div_ceil(ncpus),
            None => start_agents,
        };
        info!(
            addr = %addr,
            threads = threads_per_listener,
            cpu = ?cpu,
            tls_accept = %tls.modes(),
            "Listening for passive checks"
        );
        // Blocking accept: the kernel wakes one waiting thread per connection.
        l.set_nonblocking(false)?;
        let l = Arc::new(l);
        for n in 0..threads_per_listener {
            let accepter = Accepter {
                ctx: Arc::clone(&ctx),
                tls: Arc::clone(&tls),
                listener: Arc::clone(&l),
                limit: Arc::clone(&limit),
                readers: Arc::clone(&readers),
                tracker: tracker.clone(),
                shutdown: shutdown.clone(),
                runtime: runtime.clone(),
            };
            threads.push(
                std::thread::Builder::new()
                    .name(format!("zagent-accept-{}-{n}", addr.port()))
                    .spawn(move || {
                        if let Some(cpu) = cpu {
                            if let Err(e) = crate::sys::affinity::pin_current_thread(cpu) {
                                debug!(cpu, error = %e, "Cannot pin an accept thread; it runs anywhere");
                            }
                        }
                        accepter.run()
                    })?,
            );
        }
        listeners_alive.push(l);
    }
    shutdown.cancelled().await;
    // shutdown(2) on a listening socket makes blocked accept() calls return at once.
    for l in &listeners_alive {
        let _ = socket2::SockRef::from(l.as_ref()).shutdown(std::net::Shutdown::Both);
    }
    let joined = tokio::task::spawn_blocking(move || {
        for t in threads {
            let _ = t.join();
        }
    });
    // One deadline for both waits: accept threads, then in-flight requests.
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    let _ = tokio::time::timeout_at(deadline, joined).await;
    tracker.close();
    if tokio::time::timeout_at(deadline, tracker.wait())
        .await
        .is_err()
    {
        warn!(grace = ?SHUTDOWN_GRACE, "Passive requests still running at shutdown were abandoned");
    }
    Ok(())
}

/// Connections still sending their request (or TLS handshake), oldest first. When every
/// connection slot is taken, the accept thread sheds the oldest of them instead of
/// waiting: a flood of slow clients cannot stop the listener from accepting (and the
/// fast path from answering), while checks already running keep their slots.
#[derive(Debug, Default)]
struct Readers {
    next: AtomicU64,
    queue: Mutex<VecDeque<(u64, CancellationToken, Instant)>>,
}

/// What [`Readers::shed_oldest`] did.
#[derive(Debug, PartialEq, Eq)]
enum Shed {
    /// Cancelled the oldest reader: its slot comes free at once.
    Done,
    /// Every slot runs a check.
    Nothing,
}

impl Readers {
    fn register(self: &Arc<Self>) -> Reading {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        if let Ok(mut q) = self.queue.lock() {
            q.push_back((id, token.clone(), Instant::now()));
        }
        Reading {
            id,
            token,
            readers: Some(Arc::clone(self)),
        }
    }

    /// Cancels the oldest connection still reading. An ordinary request is already
    /// complete when it is accepted (`TCP_DEFER_ACCEPT`) and read at once, so the readers
    /// are the slow clients. (A minimum age before shedding was measured to cap the shed
    /// rate below what reconnecting slow clients reach: agent.ping p99 0.95 s at 200 ms.)
    fn shed_oldest(&self) -> Shed {
        let oldest = self.queue.lock().ok().and_then(|mut q| q.pop_front());
        match oldest {
            Some((_, token, since)) => {
                debug!(reading_for = ?since.elapsed(), "Shedding the oldest slow passive connection");
                token.cancel();
                Shed::Done
            }
            None => Shed::Nothing,
        }
    }
}

/// A connection's place in [`Readers`] while it reads its request; leaves on drop.
#[derive(Debug)]
struct Reading {
    id: u64,
    token: CancellationToken,
    readers: Option<Arc<Readers>>,
}

impl Reading {
    /// Not registered: never shed.
    fn untracked() -> Reading {
        Reading {
            id: 0,
            token: CancellationToken::new(),
            readers: None,
        }
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        if let Some(readers) = &self.readers {
            if let Ok(mut q) = readers.queue.lock() {
                if let Some(i) = q.iter().position(|(id, ..)| *id == self.id) {
                    q.remove(i);
                }
            }
        }
    }
}

/// One accept thread.
struct Accepter {
    ctx: Arc<AgentCtx>,
    tls: Arc<TlsServer>,
    listener: Arc<std::net::TcpListener>,
    limit: Arc<Semaphore>,
    readers: Arc<Readers>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    runtime: tokio::runtime::Handle,
}

impl Accepter {
    /// A connection slot: a free one, else the slot of the oldest connection still
    /// reading its request, else the next one that comes free. `None` at shutdown.
    fn slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        loop {
            if let Ok(p) = Arc::clone(&self.limit).try_acquire_owned() {
                return Some(p);
            }
            let wait = match self.readers.shed_oldest() {
                // The shed slot may go to another accept thread: look again soon.
                Shed::Done => Some(Duration::from_millis(10)),
                Shed::Nothing => None,
            };
            let got = self.runtime.block_on(async {
                let pause = async {
                    match wait {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = self.shutdown.cancelled() => Err(()),
                    p = Arc::clone(&self.limit).acquire_owned() => p.map(Some).map_err(drop),
                    _ = pause => Ok(None),
                }
            });
            match got {
                Ok(Some(p)) => return Some(p),
                Ok(None) => continue,
                Err(()) => return None,
            }
        }
    }

    fn run(self) {
        // Tasks spawned and streams registered from this thread belong to the runtime.
        let _enter = self.runtime.enter();
        loop {
            let accepted = self.listener.accept();
            if self.shutdown.is_cancelled() {
                return;
            }
            let (stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: log, back off briefly, keep serving.
                    warn!(error = %e, "Cannot accept a passive connection");
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            // The fast path reads the request bytes; with TLS in TLSAccept the first
            // byte must stay in the socket for the sniff, so only plain-only listeners
            // take it.
            let prefix = if self.tls.modes() != AcceptModes::UNENCRYPTED {
                Vec::new()
            } else {
                match fast::try_answer(&self.ctx, &stream, peer) {
                    fast::Outcome::Done => continue,
                    fast::Outcome::Denied => {
                        deny(&self.ctx, peer);
                        close_without_reply(&stream);
                        continue;
                    }
                    fast::Outcome::Async(prefix) => prefix,
                }
            };
            // Slow path: a task of its own, holding a connection slot. When the cap is
            // reached the oldest connection still sending its request is shed to make
            // room; only when every slot runs a check does this thread wait here (and
            // further clients in the backlog).
            let Some(permit) = self.slot() else { return };
            let stream = match stream
                .set_nonblocking(true)
                .and_then(|()| TcpStream::from_std(stream))
            {
                Ok(s) => s,
                Err(e) => {
                    warn!(peer = %peer, error = %e, "Cannot register a passive connection");
                    continue;
                }
            };
            let ctx = Arc::clone(&self.ctx);
            let tls = Arc::clone(&self.tls);
            // A request that is already all here is not a slow client: never shed it.
            let reading = if request_complete(&prefix) {
                Reading::untracked()
            } else {
                self.readers.register()
            };
            self.tracker.spawn(async move {
                handle_shedable(&ctx, &tls, stream, peer, prefix, reading).await;
                drop(permit);
            });
        }
    }
}

/// Whether `prefix` already holds a whole request: a whole frame, or an unframed line
/// with its LF.
fn request_complete(prefix: &[u8]) -> bool {
    match prefix.first() {
        None => false,
        Some(b) if transport::is_unframed(*b) => prefix.contains(&b'\n'),
        Some(_) => matches!(
            frame::decode(prefix, &Limits::PASSIVE_REQUEST),
            Ok(frame::Decoded::Frame { .. })
        ),
    }
}

/// Closes like zabbix_agentd does when it will not answer: FIN first (the client reads a
/// clean end of stream), then the kernel resets if the request is still unread.
fn close_without_reply<S: std::os::fd::AsFd>(stream: &S) {
    let _ = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Both);
}

fn deny(ctx: &AgentCtx, peer: SocketAddr) {
    warn!(
        peer = %peer.ip(),
        allowed = %access::describe(&ctx.config.server),
        "Rejected passive connection from a peer not in Server"
    );
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
    handle_after(ctx, tls, stream, peer, Vec::new()).await
}

/// Like [`handle_with`], for a connection whose first bytes (`prefix`) were already read
/// by the fast path (which runs only when `TLSAccept=unencrypted`).
async fn handle_after(
    ctx: &Arc<AgentCtx>,
    tls: &TlsServer,
    stream: TcpStream,
    peer: SocketAddr,
    prefix: Vec<u8>,
) {
    handle_shedable(ctx, tls, stream, peer, prefix, Reading::untracked()).await
}

/// [`handle_after`] for a connection registered in [`Readers`]: until its request is in,
/// the accept thread may shed it (closed without a reply) to make room for a new one.
async fn handle_shedable(
    ctx: &Arc<AgentCtx>,
    tls: &TlsServer,
    stream: TcpStream,
    peer: SocketAddr,
    prefix: Vec<u8>,
    reading: Reading,
) {
    let shed = reading.token.clone();
    let read = tokio::select! {
        r = read_request(ctx, tls, stream, peer, prefix) => r,
        _ = shed.cancelled() => {
            debug!(peer = %peer, "Slow passive request shed to make room for a new connection");
            None
        }
    };
    drop(reading);
    let Some((stream, payload)) = read else {
        return;
    };
    let (reply, kind) = request::answer(ctx, &payload).await;
    debug!(peer = %peer, request = ?kind, reply_len = reply.len(), "Passive check");
    reply_and_close(stream, peer, &reply, ctx.config.timeout).await;
}

/// The access check, TLS handshake and request of one connection: the stream and the
/// request's payload (a frame's, or an unframed line's key), or `None` when it is closed
/// without a reply (logged).
async fn read_request(
    ctx: &Arc<AgentCtx>,
    tls: &TlsServer,
    stream: TcpStream,
    peer: SocketAddr,
    prefix: Vec<u8>,
) -> Option<(Stream, Vec<u8>)> {
    // DNS names in Server= are resolved per connection; a resolver that does not answer
    // within Timeout denies, so unanswered lookups cannot hold connection slots longer
    // than a stalled client can.
    let allowed = tokio::time::timeout(
        ctx.config.timeout,
        access::allowed(&ctx.config.server, peer.ip()),
    )
    .await
    .unwrap_or(false);
    if !allowed {
        deny(ctx, peer);
        close_without_reply(&stream);
        return None;
    }
    let timeout = ctx.config.timeout;
    let mut stream = if !prefix.is_empty() {
        Stream::Plain(stream)
    } else {
        match tls.accept(stream, timeout).await {
            Ok(s) => s,
            Err(Rejected::Closed) => {
                debug!(peer = %peer.ip(), "Peer closed the connection before sending anything");
                return None;
            }
            Err(reason) => {
                warn!(peer = %peer.ip(), reason = %reason, "Failed to accept an incoming connection");
                return None;
            }
        }
    };
    let not_in_time = || {
        warn!(peer = %peer, timeout = ?timeout, "Passive request not received in time; closing");
    };
    let Ok(first) = first_byte(&stream, &prefix, timeout).await else {
        not_in_time();
        return None;
    };
    if first.is_some_and(transport::is_unframed) {
        let max = usize::try_from(Limits::PASSIVE_REQUEST.max_data_len).unwrap_or(usize::MAX);
        let read = transport::read_line_after(&mut stream, max, &prefix);
        return match tokio::time::timeout(timeout, read).await {
            Ok(Ok(key)) => Some((stream, key)),
            Ok(Err(e)) => {
                log_bad_request(peer, &e);
                None
            }
            Err(_) => {
                not_in_time();
                None
            }
        };
    }
    let payload = match tokio::time::timeout(
        timeout,
        transport::read_frame_after(&mut stream, &Limits::PASSIVE_REQUEST, &prefix),
    )
    .await
    {
        Ok(Ok(Some(frame))) => {
            // Bytes past the announced length: zabbix_agentd drops such a request
            // ("longer than expected") rather than answering it.
            if let Stream::Plain(tcp) = &stream {
                let mut extra = [0u8; 1];
                if matches!(tcp.try_read(&mut extra), Ok(n) if n > 0) {
                    warn!(peer = %peer, "Passive request longer than its header says; closing without reply");
                    close_without_reply(tcp);
                    return None;
                }
            }
            frame.payload
        }
        // Closed before sending anything: zabbix_agentd treats it as an empty key.
        Ok(Ok(None)) => Vec::new(),
        Ok(Err(e)) => {
            log_bad_request(peer, &e);
            return None;
        }
        Err(_) => {
            not_in_time();
            return None;
        }
    };
    Some((stream, payload))
}

/// The first byte of a plain request (already read, or peeked within `timeout`); `None`
/// for TLS, an empty stream or a failed peek; `Err` when nothing came in time.
async fn first_byte(stream: &Stream, prefix: &[u8], timeout: Duration) -> Result<Option<u8>, ()> {
    if let Some(b) = prefix.first() {
        return Ok(Some(*b));
    }
    let Stream::Plain(tcp) = stream else {
        return Ok(None);
    };
    let mut one = [0u8; 1];
    match tokio::time::timeout(timeout, tcp.peek(&mut one)).await {
        Ok(Ok(1)) => Ok(Some(one[0])),
        Ok(_) => Ok(None),
        Err(_) => Err(()),
    }
}

/// Writes the framed reply (bounded by `timeout`) and closes, with TLS close_notify.
async fn reply_and_close(mut stream: Stream, peer: SocketAddr, reply: &[u8], timeout: Duration) {
    match tokio::time::timeout(timeout, transport::write_frame(&mut stream, reply)).await {
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
