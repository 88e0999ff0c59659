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
//! The non-blocking `recv`/`send` are [`crate::sys::sockopt`]'s; this module has no
//! `unsafe`.

use std::io;
use std::net::{SocketAddr, TcpStream};

use tracing::{debug, warn};
use zbx_proto::frame::{self, Decoded, Limits};

use super::{access, request};
use crate::config::ServerPeer;
use crate::keys::AgentCtx;
use crate::sys::sockopt::{recv_nowait, send_nowait};

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

/// The CPU a listener of a per-CPU group serves (`SO_REUSEPORT` with `SO_INCOMING_CPU`
/// set by [`super::bind`]); `None` for an ordinary listener.
pub fn listener_cpu(listener: &std::net::TcpListener) -> Option<usize> {
    let sock = socket2::SockRef::from(listener);
    if !sock.reuse_port().unwrap_or(false) {
        return None;
    }
    // Unset, the option reads -1, which socket2 hands over cast to usize.
    sock.cpu_affinity()
        .ok()
        .filter(|cpu| i32::try_from(*cpu).is_ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use socket2::{Domain, Socket, Type};

    fn listener(reuse_port: bool, cpu: Option<usize>) -> std::net::TcpListener {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_reuse_port(reuse_port).unwrap();
        if let Some(cpu) = cpu {
            s.set_cpu_affinity(cpu).unwrap();
        }
        s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        s.listen(8).unwrap();
        s.into()
    }

    #[test]
    fn only_a_per_cpu_listener_names_its_cpu() {
        let cpu = *crate::sys::affinity::allowed_cpus().last().unwrap();
        assert_eq!(listener_cpu(&listener(true, Some(cpu))), Some(cpu));
        assert_eq!(listener_cpu(&listener(false, None)), None);
        // SO_REUSEPORT without SO_INCOMING_CPU reads -1: no CPU.
        assert_eq!(listener_cpu(&listener(true, None)), None);
    }
}
