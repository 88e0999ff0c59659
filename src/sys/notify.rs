//! The systemd readiness protocol (`sd_notify`) without libsystemd: one datagram to the
//! socket named by `$NOTIFY_SOCKET`.
//!
//! Owns the address parsing (a path, or `@name` for an abstract socket) and the send. It
//! must not decide *when* to notify (that is `cli::run`) and must never fail the agent:
//! outside systemd (`NOTIFY_SOCKET` unset) every call is a no-op, and a send error is
//! returned for the caller to log, not to act on.
//!
//! Messages used by zagent: `READY=1` once the listeners are bound and privileges dropped;
//! `RELOADING=1` + `MONOTONIC_USEC=` while UserParameters are reloaded, then `READY=1`;
//! `STOPPING=1` when shutdown starts. `STATUS=` text may follow on the same datagram.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The environment variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";

/// Where a notification goes, parsed from `$NOTIFY_SOCKET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyAddr {
    /// A socket file (`/run/systemd/notify`).
    Path(std::path::PathBuf),
    /// An abstract socket (`@name` in the variable; the name without `@`).
    Abstract(Vec<u8>),
}

/// Parses a `$NOTIFY_SOCKET` value (pure). `None` for an empty value or one that is
/// neither absolute nor abstract (systemd ignores those too; `vsock:` is not supported).
pub fn parse_addr(value: &str) -> Option<NotifyAddr> {
    if let Some(name) = value.strip_prefix('@') {
        return (!name.is_empty()).then(|| NotifyAddr::Abstract(name.as_bytes().to_vec()));
    }
    value
        .starts_with('/')
        .then(|| NotifyAddr::Path(std::path::PathBuf::from(value)))
}

/// Sends `state` (newline-separated `KEY=VALUE` lines) to `$NOTIFY_SOCKET`. `Ok(false)`
/// when the variable is unset or unusable (not under systemd), `Ok(true)` once sent.
pub fn notify(state: &str) -> io::Result<bool> {
    let Some(value) = std::env::var_os(NOTIFY_SOCKET_ENV) else {
        return Ok(false);
    };
    let Some(addr) = value.to_str().and_then(parse_addr) else {
        return Ok(false);
    };
    send_to(&addr, state)?;
    Ok(true)
}

/// [`notify`] for callers that can only log: a failure is a warning, never fatal.
pub fn notify_or_log(state: &str) {
    if let Err(e) = notify(state) {
        tracing::warn!(error = %e, state, "Cannot notify systemd (NOTIFY_SOCKET)");
    }
}

/// Sends `state` to `addr` as one datagram.
pub fn send_to(addr: &NotifyAddr, state: &str) -> io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    match addr {
        NotifyAddr::Path(p) => socket.send_to(state.as_bytes(), p)?,
        NotifyAddr::Abstract(name) => {
            use std::os::linux::net::SocketAddrExt;
            let a = SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(state.as_bytes(), &a)?
        }
    };
    Ok(())
}

/// `RELOADING=1` with the `MONOTONIC_USEC=` systemd wants next to it (CLOCK_MONOTONIC).
pub fn reloading_message() -> String {
    format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec())
}

/// CLOCK_MONOTONIC in microseconds (0 if the clock cannot be read, which Linux never does).
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes into it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000
        + u64::try_from(ts.tv_nsec).unwrap_or(0) / 1000
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_addr("/run/systemd/notify"),
            Some(NotifyAddr::Path("/run/systemd/notify".into()))
        );
        assert_eq!(
            parse_addr("@sd-abc"),
            Some(NotifyAddr::Abstract(b"sd-abc".to_vec()))
        );
        assert_eq!(parse_addr(""), None);
        assert_eq!(parse_addr("@"), None);
        assert_eq!(parse_addr("relative/sock"), None);
    }

    #[test]
    fn path_socket_receives_the_datagram() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        send_to(&NotifyAddr::Path(path), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn abstract_socket_receives_the_datagram() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("pkg-zagent-test-{}", std::process::id());
        let rx = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name).unwrap()).unwrap();
        send_to(&NotifyAddr::Abstract(name.into_bytes()), "STOPPING=1").unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }

    #[test]
    fn reloading_carries_a_monotonic_timestamp() {
        let m = reloading_message();
        let usec: u64 = m
            .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
            .unwrap()
            .parse()
            .unwrap();
        assert!(usec > 0);
    }
}
