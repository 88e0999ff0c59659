//! The socket calls socket2 does not offer, behind safe functions: `TCP_DEFER_ACCEPT` on
//! a listener and a `recv` that never blocks (into an initialised buffer, which socket2's
//! `recv_with_flags` does not take). The non-blocking `send` is socket2's. It owns the
//! calls only: when to use them is the passive listener's business.

use std::io;
use std::os::fd::{AsFd, AsRawFd};

/// Sets `TCP_DEFER_ACCEPT` on a listening socket: `accept` returns a connection only once
/// its first data is there (or after `secs`).
pub fn set_defer_accept(sock: &impl AsFd, secs: u32) -> io::Result<()> {
    let v = libc::c_int::try_from(secs).unwrap_or(libc::c_int::MAX);
    // SAFETY: setsockopt on a borrowed, open descriptor with a pointer to a live c_int
    // and its size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_fd().as_raw_fd(),
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

/// Reads what is already there (`MSG_DONTWAIT`): `WouldBlock` when nothing is, 0 when the
/// peer closed.
pub fn recv_nowait(sock: &impl AsFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: recv into a live, writable buffer of buf.len() bytes on a borrowed, open
    // descriptor.
    let n = unsafe {
        libc::recv(
            sock.as_fd().as_raw_fd(),
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

/// Writes what fits in the socket buffer now (`MSG_DONTWAIT`); a closed peer is `EPIPE`,
/// never `SIGPIPE` (`MSG_NOSIGNAL`).
pub fn send_nowait(sock: &impl AsFd, buf: &[u8]) -> io::Result<usize> {
    socket2::SockRef::from(sock).send_with_flags(buf, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn nowait_calls_on_a_loopback_pair() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        set_defer_accept(&l, 5).unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        c.write_all(b"ping").unwrap();
        let (s, _) = l.accept().unwrap();
        let mut buf = [0u8; 16];
        // Deferred accept: the data is there when accept returns.
        assert_eq!(recv_nowait(&s, &mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"ping");
        let e = recv_nowait(&s, &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(send_nowait(&s, b"pong").unwrap(), 4);
        drop(c);
        // A closed peer: EPIPE/ECONNRESET at the latest on the second send, no signal.
        let r = (0..2).try_for_each(|_| send_nowait(&s, b"x").map(|_| ()));
        assert!(r.is_err());
    }
}
