//! NETLINK_SOCK_DIAG dumps (TCP and UDP, IPv4 and IPv6): building the requests, walking
//! the kernel's `inet_diag_msg` replies in place, and the netlink socket itself.
//!
//! Owns the wire format and the dump loop; it must not know item keys, filters beyond
//! the kernel port program, or the /proc fallback (that choice is [`super::engine`]'s).
//! [`wire`] is pure and unit-tested on synthetic messages built byte by byte; `io` is
//! the only place with `unsafe` (the four libc calls of a netlink socket); [`dump`] ties
//! them together. Replies are decoded into a stack [`SockRecord`]: no allocation per
//! socket.
//!
//! Choice of request (measured in `docs/BENCHMARKS.md`): TCP uses the legacy
//! `TCPDIAG_GETSOCK` request, which the kernel answers with ONE walk of the socket hash
//! for both families (0.7x the cost of two `SOCK_DIAG_BY_FAMILY` dumps); if the kernel
//! refuses it, one `SOCK_DIAG_BY_FAMILY` dump per family. UDP has no legacy request.
//! The state filter always goes to the kernel (`idiag_states`); exact ports go as an
//! `INET_DIAG_REQ_BYTECODE` program (3.8x faster for a port-filtered query at 100k).

use super::model::{state, Proto, SockRecord, StateMask, AF_INET, AF_INET6};

/// Pure wire handling: request bytes and reply walking. No I/O.
pub mod wire {
    use super::{state, Proto, SockRecord, StateMask, AF_INET};

    /// `sizeof(struct nlmsghdr)`.
    pub const NLMSG_HDRLEN: usize = 16;
    /// `NLMSG_ERROR`.
    pub const NLMSG_ERROR: u16 = 2;
    /// `NLMSG_DONE`.
    pub const NLMSG_DONE: u16 = 3;
    /// `NLMSG_OVERRUN`.
    pub const NLMSG_OVERRUN: u16 = 4;
    /// Legacy `TCPDIAG_GETSOCK` (one walk for both families).
    pub const TCPDIAG_GETSOCK: u16 = 18;
    /// `SOCK_DIAG_BY_FAMILY`.
    pub const SOCK_DIAG_BY_FAMILY: u16 = 20;
    /// `NLM_F_REQUEST`.
    pub const NLM_F_REQUEST: u16 = 0x1;
    /// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
    pub const NLM_F_DUMP: u16 = 0x300;
    /// `sizeof(struct inet_diag_msg)`.
    pub const INET_DIAG_MSG_LEN: usize = 72;
    /// Length of a `SOCK_DIAG_BY_FAMILY` request: header + `inet_diag_req_v2` (56).
    pub const REQ_V2_LEN: usize = NLMSG_HDRLEN + 56;
    /// Length of a legacy request: header + `inet_diag_req` (60).
    pub const REQ_LEGACY_LEN: usize = NLMSG_HDRLEN + 60;

    fn put_nlmsghdr(b: &mut [u8], len: usize, ty: u16, seq: u32) {
        b[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
        b[4..6].copy_from_slice(&ty.to_ne_bytes());
        b[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        b[8..12].copy_from_slice(&seq.to_ne_bytes());
        // nlmsg_pid 0: to the kernel.
    }

    /// A `SOCK_DIAG_BY_FAMILY` dump request for one family and protocol, states in the
    /// kernel's bitmask, no extensions, no socket id (all sockets).
    pub fn request_v2(family: u8, proto: Proto, states: StateMask, seq: u32) -> [u8; REQ_V2_LEN] {
        let mut b = [0u8; REQ_V2_LEN];
        put_nlmsghdr(&mut b, REQ_V2_LEN, SOCK_DIAG_BY_FAMILY, seq);
        let r = &mut b[NLMSG_HDRLEN..];
        r[0] = family; // sdiag_family
        r[1] = proto.ipproto(); // sdiag_protocol
        r[2] = 0; // idiag_ext: no extensions
        r[4..8].copy_from_slice(&states.0.to_ne_bytes()); // idiag_states
                                                          // id (48 bytes) left zero: match all.
        b
    }

    /// A legacy `TCPDIAG_GETSOCK` dump request (`struct inet_diag_req`): the kernel
    /// answers with one walk over both families.
    pub fn request_legacy_tcp(states: StateMask, seq: u32) -> [u8; REQ_LEGACY_LEN] {
        let mut b = [0u8; REQ_LEGACY_LEN];
        put_nlmsghdr(&mut b, REQ_LEGACY_LEN, TCPDIAG_GETSOCK, seq);
        let r = &mut b[NLMSG_HDRLEN..];
        r[0] = AF_INET; // idiag_family: ignored for dumps (the kernel walks both)
                        // src_len, dst_len, ext = 0; id (48 bytes, offset 4) = 0
        r[52..56].copy_from_slice(&states.0.to_ne_bytes()); // idiag_states
                                                            // idiag_dbs (offset 56) = 0
        b
    }

    /// `INET_DIAG_REQ_BYTECODE`: the request attribute holding a filter program.
    pub const INET_DIAG_REQ_BYTECODE: u16 = 1;
    /// `INET_DIAG_BC_S_GE`: local port >= operand.
    pub const BC_S_GE: u8 = 2;
    /// `INET_DIAG_BC_S_LE`: local port <= operand.
    pub const BC_S_LE: u8 = 3;
    /// `INET_DIAG_BC_D_GE`: remote port >= operand.
    pub const BC_D_GE: u8 = 4;
    /// `INET_DIAG_BC_D_LE`: remote port <= operand.
    pub const BC_D_LE: u8 = 5;
    /// Longest program [`port_bytecode`] builds: two ports, two comparisons each.
    pub const MAX_BYTECODE: usize = 32;
    /// Longest request: the legacy one plus an attribute header and the program.
    pub const MAX_REQUEST: usize = REQ_LEGACY_LEN + 4 + MAX_BYTECODE;

    /// A kernel filter program (`inet_diag_bc_op`s) accepting only sockets whose local
    /// and/or remote port equal the given ones, so the kernel skips filling and copying
    /// the others. Each "port == P" is `GE P` then `LE P` (the `_EQ` ops are newer,
    /// 4.16+); an op is {code u8, yes u8, no u16} followed by an operand op whose `no`
    /// holds the port. `yes` = 8 goes to the next test; `no` = remaining + 4 jumps past
    /// the end, which rejects. Returns the program and its length (0: no filter).
    pub fn port_bytecode(lport: Option<u16>, rport: Option<u16>) -> ([u8; MAX_BYTECODE], usize) {
        let mut ops: [(u8, u16); 4] = [(0, 0); 4];
        let mut n = 0;
        if let Some(p) = lport {
            ops[n] = (BC_S_GE, p);
            ops[n + 1] = (BC_S_LE, p);
            n += 2;
        }
        if let Some(p) = rport {
            ops[n] = (BC_D_GE, p);
            ops[n + 1] = (BC_D_LE, p);
            n += 2;
        }
        let len = n * 8;
        let mut b = [0u8; MAX_BYTECODE];
        for (i, (code, port)) in ops[..n].iter().enumerate() {
            let off = i * 8;
            let remaining = len - off;
            b[off] = *code; // code
            b[off + 1] = 8; // yes: next op
            b[off + 2..off + 4].copy_from_slice(&((remaining + 4) as u16).to_ne_bytes()); // no: reject
                                                                                          // operand op: code 0, yes 0, no = port (host order)
            b[off + 6..off + 8].copy_from_slice(&port.to_ne_bytes());
        }
        (b, len)
    }

    /// `req` followed by an `INET_DIAG_REQ_BYTECODE` attribute holding `bc` (when not
    /// empty), with `nlmsg_len` updated. Returns the buffer and its length.
    pub fn with_bytecode(req: &[u8], bc: &[u8]) -> ([u8; MAX_REQUEST], usize) {
        let mut b = [0u8; MAX_REQUEST];
        let base = req.len().min(REQ_LEGACY_LEN);
        b[..base].copy_from_slice(&req[..base]);
        let mut len = base;
        if !bc.is_empty() && bc.len() <= MAX_BYTECODE {
            b[len..len + 2].copy_from_slice(&((4 + bc.len()) as u16).to_ne_bytes()); // nla_len
            b[len + 2..len + 4].copy_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes()); // nla_type
            b[len + 4..len + 4 + bc.len()].copy_from_slice(bc);
            len += 4 + bc.len();
        }
        b[0..4].copy_from_slice(&(len as u32).to_ne_bytes()); // nlmsg_len
        (b, len)
    }

    /// What a batch of replies said.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Progress {
        /// More batches follow.
        More,
        /// `NLMSG_DONE` seen: the dump is complete.
        Done,
    }

    /// A malformed or failed reply.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    pub enum WireError {
        /// The kernel answered `NLMSG_ERROR` (errno, positive).
        #[error("kernel answered the sock_diag request with errno {0}")]
        Kernel(i32),
        /// A header claims more bytes than the batch holds, or fewer than a header.
        #[error("truncated netlink message at byte {0}")]
        Truncated(usize),
        /// The kernel dropped replies (receive buffer overrun).
        #[error("netlink receive buffer overrun: the dump lost messages")]
        Overrun,
    }

    fn u16_ne(b: &[u8], at: usize) -> u16 {
        u16::from_ne_bytes([b[at], b[at + 1]])
    }
    fn u32_ne(b: &[u8], at: usize) -> u32 {
        u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    /// Decodes one `inet_diag_msg` payload (at least 72 bytes) into a record, folding
    /// request sockets into SYN_RECV.
    #[inline]
    pub fn decode_diag_msg(p: &[u8]) -> Option<SockRecord> {
        if p.len() < INET_DIAG_MSG_LEN {
            return None;
        }
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src.copy_from_slice(&p[8..24]);
        dst.copy_from_slice(&p[24..40]);
        let st = p[1];
        Some(SockRecord {
            family: p[0],
            state: if st == state::NEW_SYN_RECV {
                state::SYN_RECV
            } else {
                st
            },
            sport: u16::from_be_bytes([p[4], p[5]]),
            dport: u16::from_be_bytes([p[6], p[7]]),
            src,
            dst,
            inode: u32_ne(p, 68),
            rqueue: u32_ne(p, 56),
            wqueue: u32_ne(p, 60),
            uid: u32_ne(p, 64),
        })
    }

    /// `INET_DIAG_INFO`: the reply attribute holding `struct tcp_info`.
    pub const INET_DIAG_INFO: u16 = 2;
    /// The `idiag_ext` bit asking for [`INET_DIAG_INFO`].
    pub const EXT_INFO: u8 = 1 << (INET_DIAG_INFO - 1);
    /// Offset of `idiag_ext` in a `SOCK_DIAG_BY_FAMILY` request.
    pub const EXT_OFFSET_V2: usize = NLMSG_HDRLEN + 2;
    /// Offset of `idiag_ext` in a legacy request.
    pub const EXT_OFFSET_LEGACY: usize = NLMSG_HDRLEN + 3;

    /// The few `struct tcp_info` fields the quality key uses (offsets of the kernel's
    /// stable UAPI layout; older kernels send a shorter struct: missing fields read 0).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct TcpInfo {
        /// `tcpi_rtt`: smoothed RTT, microseconds.
        pub rtt_us: u32,
        /// `tcpi_unacked`: segments sent and not yet acknowledged.
        pub unacked: u32,
        /// `tcpi_lost`: segments currently considered lost.
        pub lost: u32,
        /// `tcpi_total_retrans`: segments retransmitted over the connection's life.
        pub total_retrans: u32,
    }

    fn field(p: &[u8], at: usize) -> u32 {
        if p.len() >= at + 4 {
            u32_ne(p, at)
        } else {
            0
        }
    }

    /// Decodes the `struct tcp_info` payload of an `INET_DIAG_INFO` attribute. `None`
    /// when it is too short to hold even the RTT.
    pub fn decode_tcp_info(p: &[u8]) -> Option<TcpInfo> {
        if p.len() < 72 {
            return None;
        }
        Some(TcpInfo {
            rtt_us: field(p, 68),
            unacked: field(p, 24),
            lost: field(p, 32),
            total_retrans: field(p, 100),
        })
    }

    /// Finds the `INET_DIAG_INFO` attribute in the attributes following an
    /// `inet_diag_msg` and decodes it.
    pub fn find_tcp_info(attrs: &[u8]) -> Option<TcpInfo> {
        let mut off = 0usize;
        while off + 4 <= attrs.len() {
            let len = usize::from(u16_ne(attrs, off));
            let ty = u16_ne(attrs, off + 2) & 0x3fff;
            if len < 4 || off + len > attrs.len() {
                return None;
            }
            if ty == INET_DIAG_INFO {
                return decode_tcp_info(&attrs[off + 4..off + len]);
            }
            off += (len + 3) & !3;
        }
        None
    }

    /// Walks one batch of netlink messages (what one `recv` returned), calling `visit`
    /// for each socket. Stops at `NLMSG_DONE`. Messages of other types are skipped.
    pub fn walk(buf: &[u8], mut visit: impl FnMut(&SockRecord)) -> Result<Progress, WireError> {
        walk_ext(buf, false, |r, _| visit(r))
    }

    /// [`walk`] that also decodes each socket's `tcp_info` when `want_info` (the
    /// request asked for [`EXT_INFO`]); without it, attributes are not looked at.
    pub fn walk_ext(
        buf: &[u8],
        want_info: bool,
        mut visit: impl FnMut(&SockRecord, Option<&TcpInfo>),
    ) -> Result<Progress, WireError> {
        let mut off = 0usize;
        while off + NLMSG_HDRLEN <= buf.len() {
            let len = u32_ne(buf, off) as usize;
            let ty = u16_ne(buf, off + 4);
            if len < NLMSG_HDRLEN || off + len > buf.len() {
                return Err(WireError::Truncated(off));
            }
            let payload = &buf[off + NLMSG_HDRLEN..off + len];
            match ty {
                NLMSG_DONE => return Ok(Progress::Done),
                NLMSG_ERROR => {
                    let errno = if payload.len() >= 4 {
                        i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]])
                    } else {
                        0
                    };
                    // errno 0 is an ACK, not an error.
                    if errno != 0 {
                        return Err(WireError::Kernel(errno.saturating_neg()));
                    }
                }
                NLMSG_OVERRUN => return Err(WireError::Overrun),
                TCPDIAG_GETSOCK | SOCK_DIAG_BY_FAMILY => {
                    if let Some(r) = decode_diag_msg(payload) {
                        let info = if want_info {
                            find_tcp_info(&payload[INET_DIAG_MSG_LEN..])
                        } else {
                            None
                        };
                        visit(&r, info.as_ref());
                    }
                }
                _ => {}
            }
            off += (len + 3) & !3;
        }
        if off < buf.len() && buf.len() - off >= 4 {
            return Err(WireError::Truncated(off));
        }
        Ok(Progress::More)
    }
}

/// The netlink socket: the only `unsafe` of the engine. Each function wraps one libc
/// call on a file descriptor this module owns; buffers are Rust slices whose length is
/// passed alongside, so the kernel never writes past them.
mod io {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Duration;

    /// `NETLINK_SOCK_DIAG` (same number as the legacy `NETLINK_INET_DIAG`).
    const NETLINK_SOCK_DIAG: libc::c_int = 4;

    /// A netlink sock_diag socket, closed on drop.
    #[derive(Debug)]
    pub struct NlSocket(OwnedFd);

    impl NlSocket {
        /// Opens the socket with a receive buffer of `rcvbuf` bytes and a receive
        /// timeout.
        pub fn open(rcvbuf: usize, timeout: Duration) -> io::Result<NlSocket> {
            // SAFETY: plain socket(2) call; the result is checked before use.
            let fd = unsafe {
                libc::socket(
                    libc::AF_NETLINK,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    NETLINK_SOCK_DIAG,
                )
            };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: fd is a fresh descriptor we own; OwnedFd closes it exactly once.
            let sock = NlSocket(unsafe { OwnedFd::from_raw_fd(fd) });
            let size = libc::c_int::try_from(rcvbuf).unwrap_or(libc::c_int::MAX);
            sock.setsockopt(libc::SO_RCVBUF, &size)?;
            let tv = libc::timeval {
                tv_sec: timeout.as_secs().min(3600) as libc::time_t,
                tv_usec: libc::suseconds_t::from(timeout.subsec_micros() as i32),
            };
            sock.setsockopt(libc::SO_RCVTIMEO, &tv)?;
            Ok(sock)
        }

        fn setsockopt<T>(&self, opt: libc::c_int, val: &T) -> io::Result<()> {
            // SAFETY: val points to a live T and its exact size is passed.
            let rc = unsafe {
                libc::setsockopt(
                    self.0.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    (val as *const T).cast(),
                    std::mem::size_of::<T>() as libc::socklen_t,
                )
            };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }

        /// Sends one request to the kernel (netlink address pid 0).
        pub fn send(&self, req: &[u8]) -> io::Result<()> {
            // SAFETY: an all-zero sockaddr_nl is valid; we then set the family.
            let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
            sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
            loop {
                // SAFETY: req is a live slice of req.len() bytes; sa is a live
                // sockaddr_nl whose exact size is passed.
                let rc = unsafe {
                    libc::sendto(
                        self.0.as_raw_fd(),
                        req.as_ptr().cast(),
                        req.len(),
                        0,
                        (&sa as *const libc::sockaddr_nl).cast(),
                        std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                    )
                };
                if rc >= 0 {
                    return Ok(());
                }
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }

        /// Receives one batch into `buf`; returns its length.
        pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
            loop {
                // SAFETY: buf is a live, writable slice of buf.len() bytes.
                let rc = unsafe {
                    libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0)
                };
                if rc >= 0 {
                    return Ok(rc as usize);
                }
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// Why a dump failed.
#[derive(Debug, thiserror::Error)]
pub enum SockDiagError {
    /// The netlink socket could not be opened (no sock_diag in this kernel, or a
    /// seccomp/LSM policy forbids it).
    #[error("cannot open a NETLINK_SOCK_DIAG socket: {0}")]
    Open(std::io::Error),
    /// Sending the request or receiving the replies failed (a timeout included).
    #[error("netlink sock_diag {what} failed: {source}")]
    Io {
        /// "send" or "receive".
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The kernel refused the request or its replies were malformed.
    #[error("{0}")]
    Wire(#[from] wire::WireError),
    /// The kernel answered nothing for too long: the dump never ended.
    #[error("netlink sock_diag dump did not end after {0} batches")]
    Endless(usize),
}

/// Dump tuning and limits.
pub mod limits {
    /// User buffer per `recv`: the kernel fills at most ~32 KiB per dump batch; 64 KiB
    /// leaves room.
    pub const RECV_BUF: usize = 64 * 1024;
    /// Socket receive buffer requested from the kernel.
    pub const SO_RCVBUF: usize = 1 << 20;
    /// Safety bound on batches per dump (~64 M sockets): a dump that never ends is an
    /// error, not a hang.
    pub const MAX_BATCHES: usize = 1 << 21;
}

/// Dumps, the I/O side: every function here opens its own socket, so concurrent dumps
/// never interleave.
pub mod dump {
    use std::time::Duration;

    use super::io::NlSocket;
    use super::wire::{self, Progress};
    use super::{limits, Proto, SockDiagError, SockRecord, StateMask, AF_INET, AF_INET6};

    /// A visitor of sockets with their `tcp_info` (None when not asked or not sent).
    type InfoVisit<'a> = dyn FnMut(&SockRecord, Option<&wire::TcpInfo>) + 'a;

    fn run(
        req: &[u8],
        buf: &mut [u8],
        timeout: Duration,
        want_info: bool,
        visit: &mut InfoVisit<'_>,
    ) -> Result<(), SockDiagError> {
        let sock = NlSocket::open(limits::SO_RCVBUF, timeout).map_err(SockDiagError::Open)?;
        sock.send(req).map_err(|source| SockDiagError::Io {
            what: "send",
            source,
        })?;
        for _ in 0..limits::MAX_BATCHES {
            let n = sock.recv(buf).map_err(|source| SockDiagError::Io {
                what: "receive",
                source,
            })?;
            if n == 0 {
                return Ok(());
            }
            if wire::walk_ext(&buf[..n], want_info, &mut *visit)? == Progress::Done {
                return Ok(());
            }
        }
        Err(SockDiagError::Endless(limits::MAX_BATCHES))
    }

    /// Visits every socket of `proto` (both families) in `states`, as the kernel
    /// reports it, in one pass. `ports` (local, remote), when given, go to the kernel as
    /// a filter program so it neither fills nor copies other sockets (the visitor must
    /// still apply its own filter: kernels that refuse the program get a dump without
    /// it). One buffer allocation per call, none per socket.
    pub fn visit(
        proto: Proto,
        states: StateMask,
        ports: (Option<u16>, Option<u16>),
        timeout: Duration,
        visit: &mut dyn FnMut(&SockRecord),
    ) -> Result<(), SockDiagError> {
        visit_ext(proto, states, ports, false, timeout, &mut |r, _| visit(r))
    }

    /// [`visit`] asking the kernel for each socket's `tcp_info` too (`INET_DIAG_INFO`,
    /// a bigger reply: use only for the quality key). Sockets without it (TIME_WAIT,
    /// request sockets, a kernel that does not send it) come with `None`.
    pub fn visit_info(
        proto: Proto,
        states: StateMask,
        timeout: Duration,
        visit: &mut InfoVisit<'_>,
    ) -> Result<(), SockDiagError> {
        visit_ext(proto, states, (None, None), true, timeout, visit)
    }

    fn visit_ext(
        proto: Proto,
        states: StateMask,
        ports: (Option<u16>, Option<u16>),
        want_info: bool,
        timeout: Duration,
        visit: &mut InfoVisit<'_>,
    ) -> Result<(), SockDiagError> {
        let mut buf = vec![0u8; limits::RECV_BUF];
        let (bc, bc_len) = wire::port_bytecode(ports.0, ports.1);
        // With a port program first; if the kernel refuses it before answering anything,
        // once more without (the caller filters anyway).
        if bc_len > 0 {
            let mut seen = 0usize;
            let mut counting = |r: &SockRecord, i: Option<&wire::TcpInfo>| {
                seen += 1;
                visit(r, i)
            };
            match visit_with(
                proto,
                states,
                &bc[..bc_len],
                want_info,
                timeout,
                &mut buf,
                &mut counting,
            ) {
                Err(SockDiagError::Wire(wire::WireError::Kernel(errno))) if seen == 0 => {
                    tracing::debug!(
                        errno,
                        "Kernel refused the port filter program; dumping without it"
                    );
                }
                other => return other,
            }
        }
        visit_with(proto, states, &[], want_info, timeout, &mut buf, visit)
    }

    fn visit_with(
        proto: Proto,
        states: StateMask,
        program: &[u8],
        want_info: bool,
        timeout: Duration,
        buf: &mut [u8],
        visit: &mut InfoVisit<'_>,
    ) -> Result<(), SockDiagError> {
        let ext = if want_info { wire::EXT_INFO } else { 0 };
        if proto == Proto::Tcp {
            // One walk for both families. If the kernel refuses the legacy request
            // before sending anything, use one dump per family.
            let mut seen = 0usize;
            let mut counting = |r: &SockRecord, i: Option<&wire::TcpInfo>| {
                seen += 1;
                visit(r, i)
            };
            let mut legacy = wire::request_legacy_tcp(states, 1);
            legacy[wire::EXT_OFFSET_LEGACY] = ext;
            let (req, len) = wire::with_bytecode(&legacy, program);
            match run(&req[..len], buf, timeout, want_info, &mut counting) {
                Ok(()) => return Ok(()),
                Err(SockDiagError::Wire(wire::WireError::Kernel(errno))) if seen == 0 => {
                    tracing::debug!(
                        errno,
                        "Legacy TCPDIAG_GETSOCK refused; using SOCK_DIAG_BY_FAMILY"
                    );
                }
                Err(e) => return Err(e),
            }
        }
        for family in [AF_INET, AF_INET6] {
            let mut v2 = wire::request_v2(family, proto, states, 1);
            v2[wire::EXT_OFFSET_V2] = ext;
            let (req, len) = wire::with_bytecode(&v2, program);
            let mut seen = 0usize;
            let mut counting = |r: &SockRecord, i: Option<&wire::TcpInfo>| {
                seen += 1;
                visit(r, i)
            };
            match run(&req[..len], buf, timeout, want_info, &mut counting) {
                // A kernel without IPv6 has no AF_INET6 sock_diag handler: no IPv6
                // sockets to count, as /proc/net/tcp6 is then missing too.
                Err(SockDiagError::Wire(wire::WireError::Kernel(errno)))
                    if family == AF_INET6 && seen == 0 =>
                {
                    tracing::debug!(
                        errno,
                        proto = proto.name(),
                        "No IPv6 sock_diag; skipping IPv6"
                    );
                }
                other => other?,
            }
        }
        Ok(())
    }
}
