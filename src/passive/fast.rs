//! The synchronous fast path of a passive request: answered on the accept task with one
//! non-blocking `recv`, the inline key handler and one non-blocking `send` — no task, no
//! epoll registration, no wakeup beyond the accept itself.
//!
//! It applies only when the whole request is already there (the listener uses
//! `TCP_DEFER_ACCEPT`), the peer passes `Server=` by address, and the key — plain, or in a
//! 7.0 JSON request — has a [`Handler::Inline`](crate::keys::Handler) (or fails before any
//! handler runs). Everything else is handed to the async path with the bytes read so far.
//! It must never block.
//!
//! The three raw socket calls (`recv`/`send` with `MSG_DONTWAIT`, `setsockopt`) are the
//! only `unsafe` of the listener; each is a plain syscall on a descriptor we own.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;

use tracing::{debug, warn};
use zbx_proto::frame::{self, Decoded, Limits};

use super::{access, request};
use crate::config::ServerPeer;
use crate::keys::AgentCtx;

/// Requests up to this size are read in one go on the fast path.
const RECV_BUF: usize = 2048;

/// What the fast path did with a connection.
#[derive(Debug)]
pub enum Outcome {
    /// Answered (or dropped after logging); the stream can be closed.
    Done,
    /// The peer is not in `Server=`: close without a reply.
    Denied,
    /// Needs the async path; carries the request bytes already read.
    Async(Vec<u8>),
}

/// Sets `TCP_DEFER_ACCEPT` on a listening socket.
pub fn set_defer_accept(sock: &socket2::Socket, secs: u32) -> io::Result<()> {
    let v = libc::c_int::try_from(secs).unwrap_or(libc::c_int::MAX);
    // SAFETY: setsockopt on a valid descriptor with a pointer to a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn recv_nowait(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: recv into a live, writable buffer of buf.len() bytes on a descriptor we own.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn send_nowait(stream: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: send from a live buffer of buf.len() bytes on a descriptor we own;
    // MSG_NOSIGNAL turns a closed peer into EPIPE instead of SIGPIPE.
    let n = unsafe {
        libc::send(
            stream.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Tries to answer the request on `stream` without waiting for anything.
pub fn try_answer(ctx: &AgentCtx, stream: &TcpStream, peer: SocketAddr) -> Outcome {
    let list = &ctx.config.server;
    if !access::allowed_by_address(list, peer.ip()) {
        // DNS-name entries need a lookup: the async path decides.
        if list.iter().any(|e| matches!(e, ServerPeer::Name(_))) {
            return Outcome::Async(Vec::new());
        }
        return Outcome::Denied;
    }
    let mut buf = [0u8; RECV_BUF];
    let n = match recv_nowait(stream, &mut buf) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Outcome::Async(Vec::new()),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return Outcome::Async(Vec::new()),
        Err(e) => {
            debug!(peer = %peer, error = %e, "Cannot read passive request");
            return Outcome::Done;
        }
    };
    if n > 0 && buf[0] == crate::tls::TLS_HANDSHAKE_RECORD {
        // A TLS ClientHello: this path runs only when TLSAccept=unencrypted.
        let reason = crate::tls::Rejected::Tls(crate::tls::AcceptModes::UNENCRYPTED);
        warn!(peer = %peer.ip(), reason = %reason, "Failed to accept an incoming connection");
        return Outcome::Done;
    }
    let payload = if n == 0 {
        // Closed before sending anything: zabbix_agentd treats it as an empty key.
        Vec::new()
    } else if crate::transport::is_unframed(buf[0]) {
        // The old unframed request (`agent.ping\n`): the key ends at the first LF. Not
        // all there yet (or no LF before the peer closes): the async path reads on.
        match buf[..n].iter().position(|b| *b == b'\n') {
            Some(lf) => buf[..lf].to_vec(),
            None => return Outcome::Async(buf[..n].to_vec()),
        }
    } else {
        match frame::decode(&buf[..n], &Limits::PASSIVE_REQUEST) {
            Ok(Decoded::Frame { frame, consumed }) if consumed == n => frame.payload,
            Ok(Decoded::Frame { .. }) => {
                warn!(peer = %peer, "Passive request longer than its header says; closing without reply");
                return Outcome::Done;
            }
            Ok(Decoded::Incomplete { .. }) => return Outcome::Async(buf[..n].to_vec()),
            Err(e) => {
                warn!(peer = %peer, error = %e, "Malformed passive request; closing without reply");
                return Outcome::Done;
            }
        }
    };
    let Some(reply) = request::answer_inline(ctx, &payload) else {
        return Outcome::Async(buf[..n].to_vec());
    };
    let mut bytes = frame::header_for(reply.len());
    bytes.extend_from_slice(&reply);
    match send_nowait(stream, &bytes) {
        Ok(sent) if sent == bytes.len() => {}
        Ok(sent) => {
            // The socket buffer is full (a large value): finish on the async path, which
            // re-runs nothing; it only writes.
            debug!(peer = %peer, sent, total = bytes.len(), "Passive reply continues asynchronously");
            return finish_async(stream, bytes.split_off(sent), ctx.config.timeout);
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            return finish_async(stream, bytes, ctx.config.timeout)
        }
        Err(e) => debug!(peer = %peer, error = %e, "Cannot send passive reply"),
    }
    Outcome::Done
}

/// Writes the rest of a reply from a task, bounded by `Timeout` like any reply.
fn finish_async(stream: &TcpStream, rest: Vec<u8>, timeout: std::time::Duration) -> Outcome {
    let Ok(clone) = stream.try_clone() else {
        return Outcome::Done;
    };
    let Ok(()) = clone.set_nonblocking(true) else {
        return Outcome::Done;
    };
    tokio::spawn(async move {
        let Ok(mut s) = tokio::net::TcpStream::from_std(clone) else {
            return;
        };
        let _ = tokio::time::timeout(timeout, crate::transport::write_all(&mut s, &rest)).await;
    });
    Outcome::Done
}

/// The CPUs this process may run on (sched_getaffinity), in order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it for the calling thread.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET reads the set filled above, within CPU_SETSIZE.
        .filter(|cpu| unsafe { libc::CPU_ISSET(*cpu, &set) })
        .collect()
}

/// `SO_INCOMING_CPU`: in a `SO_REUSEPORT` group the kernel then hands a connection to the
/// listener of the CPU its SYN was processed on.
pub fn set_incoming_cpu(sock: &socket2::Socket, cpu: usize) -> io::Result<()> {
    let v = libc::c_int::try_from(cpu).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: setsockopt on a valid descriptor with a pointer to a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_INCOMING_CPU,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The CPU a listener of a per-CPU group serves (`SO_REUSEPORT` with `SO_INCOMING_CPU`
/// set by [`super::bind`]); `None` for an ordinary listener.
pub fn listener_cpu(listener: &std::net::TcpListener) -> Option<usize> {
    let sock = socket2::SockRef::from(listener);
    if !sock.reuse_port().unwrap_or(false) {
        return None;
    }
    let mut v: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt into a live c_int with its size.
    let rc = unsafe {
        libc::getsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_INCOMING_CPU,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        usize::try_from(v).ok()
    } else {
        None
    }
}

/// Pins the calling thread to `cpu`.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: a zeroed cpu_set_t with one bit set, passed with its size.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
