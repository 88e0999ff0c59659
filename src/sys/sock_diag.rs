//! NETLINK_SOCK_DIAG socket-table dumps (TCP and UDP, IPv4 and IPv6) and the pure
//! counter over them.
//!
//! Owns: building the dump requests, walking the kernel's `inet_diag_msg` replies, the
//! Zabbix address/port filter applied to each reply's fixed header, and per-state
//! counting. It must not know item keys or parameter texts (that is `keys::net_tcp`), and
//! it must not allocate per socket: replies are decoded in place into a stack
//! [`SockRecord`] and handed to a visitor.
//!
//! Layout: [`wire`] is pure (request bytes, reply walking) and unit-tested on
//! synthetic messages built byte by byte; `io` is the only place with `unsafe` (the
//! four libc calls of a netlink socket); [`dump`] ties them together.
//!
//! Choice of request, measured in `../shared/bench/RESULTS.md` and `docs/BENCHMARKS.md`:
//! TCP uses the legacy `TCPDIAG_GETSOCK` request, which the kernel answers with ONE walk
//! of the socket hash for both families (0.7x the cost of two `SOCK_DIAG_BY_FAMILY`
//! dumps); if the kernel refuses it, zagent falls back to one `SOCK_DIAG_BY_FAMILY` dump
//! per family. UDP has no legacy request: one `SOCK_DIAG_BY_FAMILY` dump per family.
//! The state filter always goes to the kernel (`idiag_states`); exact local/remote
//! ports go to the kernel as an `INET_DIAG_REQ_BYTECODE` program (it then neither fills
//! nor copies other sockets: 3.8x faster for a port-filtered query at 100k sockets);
//! addresses are matched in user space on the fixed header, with Zabbix's IPv4 /
//! IPv4-mapped semantics, which the kernel's address ops do not express.
//!
//! [`Engine`] is what the keys use: netlink with a `/proc/net` fallback (logged once)
//! and single-flight counting (identical concurrent queries share one dump).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// TCP states as the kernel numbers them (`include/net/tcp_states.h`); index into
/// [`StateCounts`].
pub mod state {
    /// ESTABLISHED
    pub const ESTABLISHED: u8 = 1;
    /// SYN_SENT
    pub const SYN_SENT: u8 = 2;
    /// SYN_RECV
    pub const SYN_RECV: u8 = 3;
    /// FIN_WAIT1
    pub const FIN_WAIT1: u8 = 4;
    /// FIN_WAIT2
    pub const FIN_WAIT2: u8 = 5;
    /// TIME_WAIT
    pub const TIME_WAIT: u8 = 6;
    /// CLOSE (also: an unconnected UDP socket)
    pub const CLOSE: u8 = 7;
    /// CLOSE_WAIT
    pub const CLOSE_WAIT: u8 = 8;
    /// LAST_ACK
    pub const LAST_ACK: u8 = 9;
    /// LISTEN
    pub const LISTEN: u8 = 10;
    /// CLOSING
    pub const CLOSING: u8 = 11;
    /// Request sockets (a SYN received, the final ACK not yet): reported and counted as
    /// SYN_RECV, as netstat and ss show them.
    pub const NEW_SYN_RECV: u8 = 12;
    /// Highest real state number.
    pub const MAX: u8 = 11;
    /// Names in the official Zabbix spelling, indexed by state number (index 0 unused).
    pub const NAMES: [&str; 12] = [
        "",
        "established",
        "syn_sent",
        "syn_recv",
        "fin_wait1",
        "fin_wait2",
        "time_wait",
        "close",
        "close_wait",
        "last_ack",
        "listen",
        "closing",
    ];
}

/// Which socket table to dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// TCP (`/proc/net/tcp{,6}`).
    Tcp,
    /// UDP (`/proc/net/udp{,6}`).
    Udp,
}

impl Proto {
    /// The IP protocol number.
    pub fn ipproto(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }

    /// Lower-case name for logs and paths.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// A set of states as the kernel's `idiag_states` bitmask (bit N = state N).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateMask(pub u32);

impl StateMask {
    /// Every real state (1..=11) plus request sockets.
    pub const ALL: StateMask = StateMask(0x1ffe);

    /// One state. Asking for SYN_RECV also asks for request sockets (bit 12), which are
    /// counted as SYN_RECV.
    pub fn one(state: u8) -> StateMask {
        let mut m = 1u32 << u32::from(state.min(31));
        if state == state::SYN_RECV {
            m |= 1 << state::NEW_SYN_RECV;
        }
        StateMask(m)
    }

    /// Whether `state` (as reported) is in the set.
    pub fn contains(self, state: u8) -> bool {
        state < 32 && self.0 & (1 << state) != 0
    }
}

/// One socket as decoded from a reply (or a /proc line): fixed size, on the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockRecord {
    /// `AF_INET` (2) or `AF_INET6` (10).
    pub family: u8,
    /// Kernel state; request sockets already folded into SYN_RECV.
    pub state: u8,
    /// Local port.
    pub sport: u16,
    /// Remote port.
    pub dport: u16,
    /// Local address in network order; IPv4 in the first 4 bytes.
    pub src: [u8; 16],
    /// Remote address, same layout.
    pub dst: [u8; 16],
    /// Socket inode (0 for TIME_WAIT and request sockets).
    pub inode: u32,
}

/// `AF_INET`.
pub const AF_INET: u8 = 2;
/// `AF_INET6`.
pub const AF_INET6: u8 = 10;

impl SockRecord {
    /// The local address as an `IpAddr`.
    pub fn local_ip(&self) -> IpAddr {
        addr_of(self.family, &self.src)
    }

    /// The remote address as an `IpAddr`.
    pub fn remote_ip(&self) -> IpAddr {
        addr_of(self.family, &self.dst)
    }
}

fn addr_of(family: u8, a: &[u8; 16]) -> IpAddr {
    if family == AF_INET {
        IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(*a))
    }
}

/// An address filter with Zabbix's `net.tcp.socket.count` semantics (the C agent's
/// `zbx_ip_cmp`):
/// - an IPv4 filter matches IPv4 sockets and IPv4-mapped IPv6 sockets in its subnet;
/// - an IPv6 filter matches native IPv6 sockets only (mapped ones are excluded);
/// - an IPv4-mapped IPv6 filter with a non-zero prefix ("v6v4 mode") matches IPv6
///   sockets (mapped included) and IPv4 sockets whose mapped or compatible form is in
///   its subnet;
/// - `0.0.0.0` and `::` are literal addresses, not wildcards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrFilter {
    /// The filter's family (`AF_INET` or `AF_INET6`).
    pub family: u8,
    /// The address, network order; IPv4 in the first 4 bytes.
    pub addr: [u8; 16],
    /// Prefix length (32/128 when no CIDR was given).
    pub prefix: u8,
    /// v6v4 mode: the filter is an IPv4-mapped IPv6 address with a non-zero prefix.
    pub v6v4: bool,
}

const MAPPED_PREFIX: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

fn subnet_match(bytes: usize, prefix: u8, a: &[u8], b: &[u8]) -> bool {
    let mut bits = u32::from(prefix);
    for i in 0..bytes {
        let mask: u8 = if bits >= 8 {
            0xff
        } else if bits == 0 {
            0
        } else {
            0xffu8 << (8 - bits)
        };
        if a[i] & mask != b[i] & mask {
            return false;
        }
        bits = bits.saturating_sub(8);
    }
    true
}

impl AddrFilter {
    /// A filter for `ip` with `prefix` (None = host address). Returns None when the
    /// prefix is too long for the family.
    pub fn new(ip: IpAddr, prefix: Option<u8>) -> Option<AddrFilter> {
        let mut addr = [0u8; 16];
        match ip {
            IpAddr::V4(v4) => {
                let p = prefix.unwrap_or(32);
                if p > 32 {
                    return None;
                }
                addr[..4].copy_from_slice(&v4.octets());
                Some(AddrFilter {
                    family: AF_INET,
                    addr,
                    prefix: p,
                    v6v4: false,
                })
            }
            IpAddr::V6(v6) => {
                let p = prefix.unwrap_or(128);
                if p > 128 {
                    return None;
                }
                addr = v6.octets();
                let mapped = addr[..12] == MAPPED_PREFIX;
                Some(AddrFilter {
                    family: AF_INET6,
                    addr,
                    prefix: p,
                    v6v4: mapped && p != 0,
                })
            }
        }
    }

    /// Whether a socket address (`family`, network-order bytes) matches.
    pub fn matches(&self, family: u8, a: &[u8; 16]) -> bool {
        let sock_mapped = a[..12] == MAPPED_PREFIX;
        let sock_compat = a[..12] == [0u8; 12];
        match (self.family, family) {
            (AF_INET, AF_INET) => subnet_match(4, self.prefix, a, &self.addr),
            (AF_INET6, AF_INET6) => {
                (self.v6v4 || !sock_mapped) && subnet_match(16, self.prefix, a, &self.addr)
            }
            (AF_INET, AF_INET6) => {
                (sock_mapped || (self.v6v4 && sock_compat))
                    && subnet_match(4, self.prefix, &a[12..], &self.addr)
            }
            (AF_INET6, AF_INET) if self.v6v4 => {
                let mut compat = [0u8; 16];
                compat[12..].copy_from_slice(&a[..4]);
                let mut mapped = compat;
                mapped[10] = 0xff;
                mapped[11] = 0xff;
                subnet_match(16, self.prefix, &self.addr, &compat)
                    || subnet_match(16, self.prefix, &self.addr, &mapped)
            }
            _ => false,
        }
    }
}

/// The filter of `net.tcp.socket.count` and friends, applied to each socket's fixed
/// header. `None` fields match anything; a port of 0 in a query means "any" and is
/// stored as `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SockFilter {
    /// Local address.
    pub laddr: Option<AddrFilter>,
    /// Local port.
    pub lport: Option<u16>,
    /// Remote address.
    pub raddr: Option<AddrFilter>,
    /// Remote port.
    pub rport: Option<u16>,
}

impl SockFilter {
    /// Whether `r` passes every given filter.
    #[inline]
    pub fn matches(&self, r: &SockRecord) -> bool {
        if let Some(p) = self.lport {
            if p != r.sport {
                return false;
            }
        }
        if let Some(p) = self.rport {
            if p != r.dport {
                return false;
            }
        }
        if let Some(f) = &self.laddr {
            if !f.matches(r.family, &r.src) {
                return false;
            }
        }
        if let Some(f) = &self.raddr {
            if !f.matches(r.family, &r.dst) {
                return false;
            }
        }
        true
    }

    /// Whether no filter is set.
    pub fn is_empty(&self) -> bool {
        *self == SockFilter::default()
    }
}

/// Socket counts per state (index = kernel state number, 1..=11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StateCounts(pub [u64; 12]);

impl StateCounts {
    /// Count of one state.
    pub fn get(&self, state: u8) -> u64 {
        self.0.get(usize::from(state)).copied().unwrap_or(0)
    }

    /// Sum over the states in `mask`.
    pub fn sum(&self, mask: StateMask) -> u64 {
        (1..=state::MAX)
            .filter(|s| mask.contains(*s))
            .map(|s| self.get(s))
            .sum()
    }

    /// Adds one socket in `state` (request sockets already folded).
    #[inline]
    pub fn add(&mut self, state: u8) {
        if let Some(c) = self.0.get_mut(usize::from(state)) {
            *c += 1;
        }
    }
}

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
        })
    }

    /// Walks one batch of netlink messages (what one `recv` returned), calling `visit`
    /// for each socket. Stops at `NLMSG_DONE`. Messages of other types are skipped.
    pub fn walk(buf: &[u8], mut visit: impl FnMut(&SockRecord)) -> Result<Progress, WireError> {
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
                        visit(&r);
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

    fn run(
        req: &[u8],
        buf: &mut [u8],
        timeout: Duration,
        visit: &mut dyn FnMut(&SockRecord),
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
            if wire::walk(&buf[..n], &mut *visit)? == Progress::Done {
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
        let mut buf = vec![0u8; limits::RECV_BUF];
        let (bc, bc_len) = wire::port_bytecode(ports.0, ports.1);
        // With a port program first; if the kernel refuses it before answering anything,
        // once more without (the caller filters anyway).
        if bc_len > 0 {
            let mut seen = 0usize;
            let mut counting = |r: &SockRecord| {
                seen += 1;
                visit(r)
            };
            match visit_with(
                proto,
                states,
                &bc[..bc_len],
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
        visit_with(proto, states, &[], timeout, &mut buf, visit)
    }

    fn visit_with(
        proto: Proto,
        states: StateMask,
        program: &[u8],
        timeout: Duration,
        buf: &mut [u8],
        visit: &mut dyn FnMut(&SockRecord),
    ) -> Result<(), SockDiagError> {
        if proto == Proto::Tcp {
            // One walk for both families. If the kernel refuses the legacy request
            // before sending anything, use one dump per family.
            let mut seen = 0usize;
            let mut counting = |r: &SockRecord| {
                seen += 1;
                visit(r)
            };
            let (req, len) = wire::with_bytecode(&wire::request_legacy_tcp(states, 1), program);
            match run(&req[..len], buf, timeout, &mut counting) {
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
            let (req, len) =
                wire::with_bytecode(&wire::request_v2(family, proto, states, 1), program);
            let mut seen = 0usize;
            let mut counting = |r: &SockRecord| {
                seen += 1;
                visit(r)
            };
            match run(&req[..len], buf, timeout, &mut counting) {
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

/// The directory whose `net/` holds the calling thread's network namespace's tables.
/// `/proc/net` follows the process's main thread; `/proc/thread-self/net` follows the
/// thread, which is what a netlink socket opened by that thread sees too.
pub const PROC_NET_ROOT: &str = "/proc/thread-self";

/// Why the engine could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// Netlink failed at run time (not "unavailable": a timeout, a malformed reply).
    #[error("Cannot obtain the {proto} socket table: {reason}")]
    Failed {
        /// "tcp" or "udp".
        proto: &'static str,
        /// What went wrong.
        reason: String,
    },
}

/// One in-progress dump that identical queries wait for.
#[derive(Debug, Default)]
struct Flight {
    result: std::sync::Mutex<Option<Result<StateCounts, EngineError>>>,
    done: std::sync::Condvar,
    /// Queries waiting for this flight (besides its leader).
    waiters: std::sync::atomic::AtomicUsize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlightKey {
    proto: Proto,
    states: StateMask,
    filter: SockFilter,
}

/// The connection-state engine shared by every key of the family (one per agent, in
/// `AgentCtx`): netlink dumps with a `/proc/net` fallback, and single-flight counting
/// so that identical concurrent queries share one walk of the socket table.
#[derive(Debug)]
pub struct Engine {
    flights: std::sync::Mutex<std::collections::HashMap<FlightKey, std::sync::Arc<Flight>>>,
    proc_root: std::path::PathBuf,
    fallback_logged: std::sync::atomic::AtomicBool,
    /// Skip netlink and read the text tables (tests; kernels known to lack sock_diag).
    proc_only: bool,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(PROC_NET_ROOT)
    }
}

impl Engine {
    /// An engine reading its fallback tables under `<proc_root>/net`.
    pub fn new(proc_root: impl Into<std::path::PathBuf>) -> Engine {
        Engine {
            flights: std::sync::Mutex::new(std::collections::HashMap::new()),
            proc_root: proc_root.into(),
            fallback_logged: std::sync::atomic::AtomicBool::new(false),
            proc_only: false,
        }
    }

    /// An engine that never uses netlink and reads `<proc_root>/net/{tcp,tcp6,udp,udp6}`
    /// (the fallback path, for tests and for kernels known to lack sock_diag).
    pub fn proc_tables(proc_root: impl Into<std::path::PathBuf>) -> Engine {
        Engine {
            proc_only: true,
            ..Engine::new(proc_root)
        }
    }

    /// Visits every socket of `proto` in `states` (netlink; `/proc/net` where netlink is
    /// unavailable, logged once). Blocks: call from a blocking context.
    pub fn visit(
        &self,
        proto: Proto,
        states: StateMask,
        timeout: std::time::Duration,
        visit: &mut dyn FnMut(&SockRecord),
    ) -> Result<(), EngineError> {
        self.visit_ports(proto, states, (None, None), timeout, visit)
    }

    /// [`Engine::visit`] with a kernel-side prefilter on exact local/remote ports (the
    /// visitor may still see other sockets and must filter itself).
    pub fn visit_ports(
        &self,
        proto: Proto,
        states: StateMask,
        ports: (Option<u16>, Option<u16>),
        timeout: std::time::Duration,
        visit: &mut dyn FnMut(&SockRecord),
    ) -> Result<(), EngineError> {
        let failed = |reason: String| EngineError::Failed {
            proto: proto.name(),
            reason,
        };
        // The text tables list every state: filter on our side.
        let from_text = |visit: &mut dyn FnMut(&SockRecord)| {
            let mut only = |r: &SockRecord| {
                if states.contains(r.state) {
                    visit(r)
                }
            };
            super::net_proc::visit(&self.proc_root, proto, &mut only)
                .map_err(|e| failed(e.to_string()))
        };
        if self.proc_only {
            return from_text(visit);
        }
        // Fall back only when netlink gave nothing at all: a dump that failed halfway
        // must not be completed from the text tables (that would count twice).
        let mut seen = 0usize;
        let mut counting = |r: &SockRecord| {
            seen += 1;
            visit(r)
        };
        let result = dump::visit(proto, states, ports, timeout, &mut counting);
        match result {
            Ok(()) => Ok(()),
            Err(e @ (SockDiagError::Open(_) | SockDiagError::Wire(wire::WireError::Kernel(_))))
                if seen == 0 =>
            {
                if !self
                    .fallback_logged
                    .swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    tracing::warn!(
                        error = %e,
                        "Netlink sock_diag unavailable; reading /proc/net tables instead (slower)"
                    );
                }
                from_text(visit)
            }
            Err(e) => Err(failed(e.to_string())),
        }
    }

    /// Counts the sockets of `proto` in `states` passing `filter`, per state. Identical
    /// concurrent calls share one dump. Blocks: call from a blocking context.
    pub fn count(
        &self,
        proto: Proto,
        states: StateMask,
        filter: &SockFilter,
        timeout: std::time::Duration,
    ) -> Result<StateCounts, EngineError> {
        let key = FlightKey {
            proto,
            states,
            filter: *filter,
        };
        self.single_flight(key, timeout, || {
            let mut counts = StateCounts::default();
            let ports = (filter.lport, filter.rport);
            self.visit_ports(proto, states, ports, timeout, &mut |r| {
                if filter.matches(r) {
                    counts.add(r.state)
                }
            })
            .map(|()| counts)
        })
    }

    /// Runs `run` for `key` unless a run for the same key is in progress, in which case
    /// it waits (at most `timeout`) for that run's result instead.
    fn single_flight(
        &self,
        key: FlightKey,
        timeout: std::time::Duration,
        run: impl FnOnce() -> Result<StateCounts, EngineError>,
    ) -> Result<StateCounts, EngineError> {
        let (flight, leader) = {
            let mut map = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(&key) {
                Some(f) => {
                    f.waiters.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    (std::sync::Arc::clone(f), false)
                }
                None => {
                    let f = std::sync::Arc::new(Flight::default());
                    map.insert(key, std::sync::Arc::clone(&f));
                    (f, true)
                }
            }
        };
        if leader {
            let r = run();
            // Unpublish first, so a later query starts a fresh dump.
            self.flights
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key);
            *flight.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(r.clone());
            flight.done.notify_all();
            return r;
        }
        let deadline = std::time::Instant::now() + timeout;
        let mut slot = flight.result.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(r) = slot.as_ref() {
                return r.clone();
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(EngineError::Failed {
                    proto: key.proto.name(),
                    reason: "timed out waiting for a dump in progress".to_string(),
                });
            }
            slot = flight
                .done
                .wait_timeout(slot, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    #[cfg(test)]
    fn waiters(&self, key: &FlightKey) -> usize {
        self.flights
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .map_or(0, |f| f.waiters.load(std::sync::atomic::Ordering::Relaxed))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::wire::*;
    use super::*;

    /// One `inet_diag_msg` reply, annotated field by field.
    #[allow(clippy::too_many_arguments)]
    fn diag_msg(
        ty: u16,
        family: u8,
        st: u8,
        sport: u16,
        dport: u16,
        src: [u8; 16],
        dst: [u8; 16],
        inode: u32,
    ) -> Vec<u8> {
        let mut m = Vec::new();
        // struct nlmsghdr
        m.extend_from_slice(&88u32.to_ne_bytes()); // nlmsg_len = 16 + 72
        m.extend_from_slice(&ty.to_ne_bytes()); // nlmsg_type
        m.extend_from_slice(&2u16.to_ne_bytes()); // nlmsg_flags = NLM_F_MULTI
        m.extend_from_slice(&1u32.to_ne_bytes()); // nlmsg_seq
        m.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid
                                                  // struct inet_diag_msg
        m.push(family); // idiag_family
        m.push(st); // idiag_state
        m.push(0); // idiag_timer
        m.push(0); // idiag_retrans
        m.extend_from_slice(&sport.to_be_bytes()); // id.idiag_sport (big endian)
        m.extend_from_slice(&dport.to_be_bytes()); // id.idiag_dport (big endian)
        m.extend_from_slice(&src); // id.idiag_src[4]
        m.extend_from_slice(&dst); // id.idiag_dst[4]
        m.extend_from_slice(&0u32.to_ne_bytes()); // id.idiag_if
        m.extend_from_slice(&[0xaa; 8]); // id.idiag_cookie[2]
        m.extend_from_slice(&0u32.to_ne_bytes()); // idiag_expires
        m.extend_from_slice(&0u32.to_ne_bytes()); // idiag_rqueue
        m.extend_from_slice(&0u32.to_ne_bytes()); // idiag_wqueue
        m.extend_from_slice(&0u32.to_ne_bytes()); // idiag_uid
        m.extend_from_slice(&inode.to_ne_bytes()); // idiag_inode
        assert_eq!(m.len(), 88);
        m
    }

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&a);
        b
    }

    fn v6(s: &str) -> [u8; 16] {
        s.parse::<Ipv6Addr>().unwrap().octets()
    }

    fn done() -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&20u32.to_ne_bytes()); // nlmsg_len = 16 + 4
        m.extend_from_slice(&NLMSG_DONE.to_ne_bytes()); // nlmsg_type
        m.extend_from_slice(&2u16.to_ne_bytes()); // NLM_F_MULTI
        m.extend_from_slice(&1u32.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&0i32.to_ne_bytes()); // payload: 0
        m
    }

    fn batch() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(diag_msg(
            SOCK_DIAG_BY_FAMILY,
            AF_INET,
            state::LISTEN,
            22,
            0,
            v4([0, 0, 0, 0]),
            v4([0, 0, 0, 0]),
            100,
        ));
        b.extend(diag_msg(
            SOCK_DIAG_BY_FAMILY,
            AF_INET,
            state::ESTABLISHED,
            22,
            50000,
            v4([127, 0, 0, 1]),
            v4([127, 0, 0, 2]),
            101,
        ));
        b.extend(diag_msg(
            TCPDIAG_GETSOCK,
            AF_INET6,
            state::NEW_SYN_RECV,
            80,
            40000,
            v6("::1"),
            v6("::1"),
            0,
        ));
        b.extend(diag_msg(
            TCPDIAG_GETSOCK,
            AF_INET6,
            state::ESTABLISHED,
            80,
            40001,
            v6("::ffff:127.0.0.1"),
            v6("::ffff:10.1.2.3"),
            102,
        ));
        b.extend(diag_msg(
            TCPDIAG_GETSOCK,
            AF_INET6,
            state::TIME_WAIT,
            443,
            40002,
            v6("fd00::5"),
            v6("fd00::6"),
            0,
        ));
        b
    }

    fn count(buf: &[u8], f: &SockFilter) -> (StateCounts, Progress) {
        let mut c = StateCounts::default();
        let p = walk(buf, |r| {
            if f.matches(r) {
                c.add(r.state)
            }
        })
        .unwrap();
        (c, p)
    }

    fn af(s: &str, prefix: Option<u8>) -> AddrFilter {
        AddrFilter::new(s.parse().unwrap(), prefix).unwrap()
    }

    #[test]
    fn counts_every_message_and_folds_request_sockets() {
        let mut b = batch();
        b.extend(done());
        let (c, p) = count(&b, &SockFilter::default());
        assert_eq!(p, Progress::Done);
        assert_eq!(c.get(state::LISTEN), 1);
        assert_eq!(c.get(state::ESTABLISHED), 2);
        assert_eq!(c.get(state::SYN_RECV), 1);
        assert_eq!(c.get(state::TIME_WAIT), 1);
        assert_eq!(c.sum(StateMask::ALL), 5);
    }

    #[test]
    fn batch_without_done_asks_for_more() {
        let (c, p) = count(&batch(), &SockFilter::default());
        assert_eq!(p, Progress::More);
        assert_eq!(c.sum(StateMask::ALL), 5);
    }

    #[test]
    fn decodes_ports_big_endian_and_inode() {
        let m = diag_msg(
            SOCK_DIAG_BY_FAMILY,
            AF_INET,
            1,
            0x1234,
            0xabcd,
            v4([1, 2, 3, 4]),
            v4([5, 6, 7, 8]),
            77,
        );
        let r = decode_diag_msg(&m[16..]).unwrap();
        assert_eq!((r.sport, r.dport, r.inode), (0x1234, 0xabcd, 77));
        assert_eq!(r.local_ip(), "1.2.3.4".parse::<IpAddr>().unwrap());
        assert_eq!(r.remote_ip(), "5.6.7.8".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn port_filters() {
        let f = SockFilter {
            lport: Some(80),
            ..Default::default()
        };
        assert_eq!(count(&batch(), &f).0.sum(StateMask::ALL), 2);
        let f = SockFilter {
            rport: Some(50000),
            ..Default::default()
        };
        assert_eq!(count(&batch(), &f).0.get(state::ESTABLISHED), 1);
    }

    #[test]
    fn ipv4_filter_matches_v4_and_mapped_v6() {
        let f = SockFilter {
            laddr: Some(af("127.0.0.1", None)),
            ..Default::default()
        };
        assert_eq!(count(&batch(), &f).0.get(state::ESTABLISHED), 2);
        let f = SockFilter {
            raddr: Some(af("10.0.0.0", Some(8))),
            ..Default::default()
        };
        assert_eq!(count(&batch(), &f).0.sum(StateMask::ALL), 1);
    }

    #[test]
    fn ipv6_filter_excludes_mapped_unless_it_is_mapped() {
        let f = SockFilter {
            laddr: Some(af("::", Some(0))),
            ..Default::default()
        };
        // native v6 only: the SYN_RECV on ::1 and the TIME_WAIT on fd00::5
        assert_eq!(count(&batch(), &f).0.sum(StateMask::ALL), 2);
        let f = SockFilter {
            laddr: Some(af("::ffff:127.0.0.1", None)),
            ..Default::default()
        };
        // mapped filter: the v4 socket on 127.0.0.1 and the mapped v6 one
        assert_eq!(count(&batch(), &f).0.get(state::ESTABLISHED), 2);
        let f = SockFilter {
            laddr: Some(af("::ffff:127.0.0.1", Some(0))),
            ..Default::default()
        };
        // a mapped filter with prefix 0 is a plain v6 filter: native v6 only
        assert_eq!(count(&batch(), &f).0.sum(StateMask::ALL), 2);
    }

    #[test]
    fn wildcard_addresses_are_literal() {
        let f = SockFilter {
            laddr: Some(af("0.0.0.0", None)),
            ..Default::default()
        };
        assert_eq!(count(&batch(), &f).0.sum(StateMask::ALL), 1);
        let f = SockFilter {
            laddr: Some(af("::", None)),
            ..Default::default()
        };
        assert_eq!(count(&batch(), &f).0.sum(StateMask::ALL), 0);
    }

    #[test]
    fn cidr_on_non_byte_boundary() {
        let f = af("fd00::4", Some(126));
        assert!(f.matches(AF_INET6, &v6("fd00::5")));
        assert!(!f.matches(AF_INET6, &v6("fd00::8")));
        let f = af("10.0.0.1", Some(8)); // host bits set: still the 10/8 network
        assert!(f.matches(AF_INET, &v4([10, 9, 9, 9])));
        assert!(!f.matches(AF_INET, &v4([11, 0, 0, 1])));
        assert!(AddrFilter::new("1.2.3.4".parse().unwrap(), Some(33)).is_none());
    }

    #[test]
    fn kernel_error_and_truncation() {
        let mut e = Vec::new();
        e.extend_from_slice(&36u32.to_ne_bytes()); // nlmsg_len = 16 + 4 + 16
        e.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        e.extend_from_slice(&0u16.to_ne_bytes());
        e.extend_from_slice(&1u32.to_ne_bytes());
        e.extend_from_slice(&0u32.to_ne_bytes());
        e.extend_from_slice(&(-22i32).to_ne_bytes()); // error = -EINVAL
        e.extend_from_slice(&[0u8; 16]); // the offending request's header
        assert_eq!(walk(&e, |_| {}), Err(WireError::Kernel(22)));
        let b = batch();
        assert!(matches!(
            walk(&b[..100], |_| {}),
            Err(WireError::Truncated(88))
        ));
    }

    #[test]
    fn proc_fallback_counts_fixture_tables() {
        let dir = std::env::temp_dir().join(format!("zagent-sockdiag-{}", std::process::id()));
        let net = dir.join("net");
        std::fs::create_dir_all(&net).unwrap();
        let fx = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/net");
        for n in ["tcp", "tcp6", "udp"] {
            std::fs::copy(fx.join(format!("proc_net_{n}")), net.join(n)).unwrap();
        }
        let e = Engine::proc_tables(&dir);
        let t = std::time::Duration::from_secs(1);
        let all = e
            .count(Proto::Tcp, StateMask::ALL, &SockFilter::default(), t)
            .unwrap();
        assert_eq!(all.sum(StateMask::ALL), 7);
        assert_eq!(all.get(state::LISTEN), 2);
        let f = SockFilter {
            laddr: Some(af("127.0.0.1", None)),
            ..Default::default()
        };
        // v4 127.0.0.1 x3 plus the mapped ::ffff:127.0.0.1 CLOSE_WAIT
        assert_eq!(
            e.count(Proto::Tcp, StateMask::ALL, &f, t)
                .unwrap()
                .sum(StateMask::ALL),
            4
        );
        let tw = e
            .count(
                Proto::Tcp,
                StateMask::one(state::TIME_WAIT),
                &SockFilter::default(),
                t,
            )
            .unwrap();
        assert_eq!(tw.sum(StateMask::ALL), 1);
        // no udp6 table: skipped, not an error
        let u = e
            .count(Proto::Udp, StateMask::ALL, &SockFilter::default(), t)
            .unwrap();
        assert_eq!(u.get(state::CLOSE), 1);
        let missing = Engine::proc_tables("/nonexistent");
        let err = missing
            .count(Proto::Tcp, StateMask::ALL, &SockFilter::default(), t)
            .unwrap_err();
        assert!(
            err.to_string().contains("Cannot open /nonexistent/net/tcp"),
            "{err}"
        );
    }

    #[test]
    fn port_bytecode_layout() {
        let (b, n) = port_bytecode(Some(80), Some(0x1234));
        assert_eq!(n, 32);
        // op 0: S_GE, yes 8, no 32+4; operand: port 80
        assert_eq!(&b[0..2], &[BC_S_GE, 8]);
        assert_eq!(u16::from_ne_bytes([b[2], b[3]]), 36);
        assert_eq!(u16::from_ne_bytes([b[6], b[7]]), 80);
        // op 1: S_LE, no = 24+4
        assert_eq!(&b[8..10], &[BC_S_LE, 8]);
        assert_eq!(u16::from_ne_bytes([b[10], b[11]]), 28);
        // op 2, 3: remote port
        assert_eq!(&b[16..18], &[BC_D_GE, 8]);
        assert_eq!(u16::from_ne_bytes([b[18], b[19]]), 20);
        assert_eq!(&b[24..26], &[BC_D_LE, 8]);
        assert_eq!(u16::from_ne_bytes([b[26], b[27]]), 12);
        assert_eq!(u16::from_ne_bytes([b[30], b[31]]), 0x1234);
        assert_eq!(port_bytecode(None, None).1, 0);
        let (r, len) = with_bytecode(
            &request_v2(AF_INET, Proto::Tcp, StateMask::ALL, 1),
            &b[..16],
        );
        assert_eq!(len, 72 + 4 + 16);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 92); // nlmsg_len
        assert_eq!(u16::from_ne_bytes(r[72..74].try_into().unwrap()), 20); // nla_len
        assert_eq!(u16::from_ne_bytes(r[74..76].try_into().unwrap()), 1); // INET_DIAG_REQ_BYTECODE
        assert_eq!(&r[76..92], &b[..16]);
    }

    #[test]
    fn identical_concurrent_counts_share_one_run() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        use std::time::{Duration, Instant};
        let engine = Arc::new(Engine::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let key = FlightKey {
            proto: Proto::Tcp,
            states: StateMask::ALL,
            filter: SockFilter::default(),
        };
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (engine, runs) = (Arc::clone(&engine), Arc::clone(&runs));
                std::thread::spawn(move || {
                    // Thread 0 leads; the others start once its flight is published.
                    if i > 0 {
                        let t = Instant::now();
                        while engine.flights.lock().unwrap().is_empty()
                            && t.elapsed() < Duration::from_secs(5)
                        {
                            std::thread::yield_now();
                        }
                    }
                    engine.single_flight(key, Duration::from_secs(10), || {
                        runs.fetch_add(1, Ordering::SeqCst);
                        // Hold the flight until all seven followers wait on it.
                        let t = Instant::now();
                        while engine.waiters(&key) < 7 && t.elapsed() < Duration::from_secs(5) {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        let mut c = StateCounts::default();
                        c.add(state::LISTEN);
                        Ok(c)
                    })
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap().unwrap().get(state::LISTEN), 1);
        }
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "one run served all eight queries"
        );
        assert!(
            engine.flights.lock().unwrap().is_empty(),
            "flight unpublished"
        );
    }

    #[test]
    fn requests_are_laid_out_as_the_kernel_expects() {
        let r = request_v2(AF_INET6, Proto::Udp, StateMask::one(state::SYN_RECV), 7);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 72); // nlmsg_len
        assert_eq!(u16::from_ne_bytes(r[4..6].try_into().unwrap()), 20); // SOCK_DIAG_BY_FAMILY
        assert_eq!(u16::from_ne_bytes(r[6..8].try_into().unwrap()), 0x301); // REQUEST|DUMP
        assert_eq!(u32::from_ne_bytes(r[8..12].try_into().unwrap()), 7); // seq
        assert_eq!(r[16], 10); // sdiag_family
        assert_eq!(r[17], 17); // sdiag_protocol
        assert_eq!(r[18], 0); // idiag_ext: none
        assert_eq!(
            u32::from_ne_bytes(r[20..24].try_into().unwrap()),
            (1 << 3) | (1 << 12)
        );
        let l = request_legacy_tcp(StateMask::one(state::LISTEN), 1);
        assert_eq!(u32::from_ne_bytes(l[0..4].try_into().unwrap()), 76);
        assert_eq!(u16::from_ne_bytes(l[4..6].try_into().unwrap()), 18); // TCPDIAG_GETSOCK
        assert_eq!(u32::from_ne_bytes(l[68..72].try_into().unwrap()), 1 << 10); // idiag_states
    }
}
