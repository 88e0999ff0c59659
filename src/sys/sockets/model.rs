//! The socket model every reader produces and every key consumes: states and state
//! masks, the fixed-size [`SockRecord`], Zabbix's address/port filters and per-state
//! counts. Pure data and matching: no I/O, no item keys.

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
    /// `idiag_rqueue`: for LISTEN the accept-queue length, else bytes not yet read.
    pub rqueue: u32,
    /// `idiag_wqueue`: for LISTEN the backlog limit, else bytes not yet acknowledged
    /// (the /proc fallback reports 0 for a listener's backlog).
    pub wqueue: u32,
    /// Owner uid (`idiag_uid`; 0 for TIME_WAIT and request sockets).
    pub uid: u32,
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
