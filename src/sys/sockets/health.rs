//! TCP health aggregation: per-listener queues and states, ephemeral-port use per
//! destination and grouped state counts, all computed in ONE pass over ONE dump.
//!
//! Pure: records in, aggregates out (tested on synthetic records); the caller does the
//! dump ([`super::Engine::visit`]) and the formatting (`keys::net_health`). Memory is
//! bounded whatever the number of sockets: listeners, destinations and groups are each
//! capped ([`limits`]); what does not fit is counted in an "other" bucket and flagged.
//!
//! Attribution of connections to listeners relies on the order in which both readers
//! report sockets: the kernel walks the listening hash before the established hash (and
//! `/proc/net/tcp` prints listeners first), so when a connection arrives its listener
//! is already known. A connection whose local port has no listener is not attributed.

use std::collections::HashMap;

use super::model::{state, SockRecord, StateCounts, StateMask, AF_INET, AF_INET6};

/// Bounds of one aggregation.
pub mod limits {
    /// Most distinct listeners (address:port) kept.
    pub const MAX_LISTENERS: usize = 10_000;
    /// Most distinct groups (destinations, ports, users, …) kept per grouping; further
    /// groups are counted in `other`.
    pub const MAX_GROUPS: usize = 100_000;
}

/// A compact, hashable endpoint key: family, address bytes, port. Unused parts are
/// zero (a uid is stored in the first four address bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Endpoint {
    /// `AF_INET`, `AF_INET6`, or 0 when there is no address.
    pub family: u8,
    /// Address, network order (IPv4 in the first four bytes).
    pub addr: [u8; 16],
    /// Port (0 when not part of the key).
    pub port: u16,
}

impl Endpoint {
    /// Address text: `10.0.0.1`, `fd00::1`.
    pub fn addr_text(&self) -> String {
        match self.family {
            AF_INET => {
                std::net::Ipv4Addr::new(self.addr[0], self.addr[1], self.addr[2], self.addr[3])
                    .to_string()
            }
            AF_INET6 => std::net::Ipv6Addr::from(self.addr).to_string(),
            _ => String::new(),
        }
    }

    /// `addr:port`, IPv6 in brackets: `10.0.0.1:5432`, `[fd00::1]:5432`.
    pub fn text(&self) -> String {
        match self.family {
            AF_INET6 => format!("[{}]:{}", self.addr_text(), self.port),
            _ => format!("{}:{}", self.addr_text(), self.port),
        }
    }

    fn local(r: &SockRecord) -> Endpoint {
        Endpoint {
            family: r.family,
            addr: r.src,
            port: r.sport,
        }
    }

    fn remote(r: &SockRecord) -> Endpoint {
        Endpoint {
            family: r.family,
            addr: r.dst,
            port: r.dport,
        }
    }

    /// Whether this is a wildcard address (`0.0.0.0` or `::`).
    pub fn is_wildcard(&self) -> bool {
        let n = if self.family == AF_INET { 4 } else { 16 };
        self.addr[..n].iter().all(|b| *b == 0)
    }
}

/// One listener (all sockets of one `addr:port`, e.g. a SO_REUSEPORT group).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerStats {
    /// Listening sockets sharing the address and port.
    pub sockets: u32,
    /// Connections waiting in the accept queues (sum).
    pub queue: u64,
    /// Accept-queue limits (sum of the backlogs).
    pub backlog: u64,
    /// Inode of the first socket (to name its process), 0 when unknown.
    pub inode: u32,
    /// Owner uid of the first socket.
    pub uid: u32,
    /// States of the connections on this listener's address and port (SYN_RECV
    /// included: request sockets).
    pub states: StateCounts,
}

/// How to group sockets in [`Grouping`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// Local port.
    Lport,
    /// Remote port.
    Rport,
    /// Remote address.
    Raddr,
    /// Remote address and port.
    Remote,
    /// Owner uid.
    Uid,
    /// Owning process (needs an inode → process map).
    Process,
}

impl GroupBy {
    /// Parses the key parameter (`lport`, `rport`, `raddr`, `remote`, `uid`, `process`).
    pub fn parse(s: &str) -> Option<GroupBy> {
        Some(match s {
            "lport" => GroupBy::Lport,
            "rport" => GroupBy::Rport,
            "raddr" => GroupBy::Raddr,
            "remote" => GroupBy::Remote,
            "uid" => GroupBy::Uid,
            "process" => GroupBy::Process,
            _ => return None,
        })
    }

    /// The parameter text.
    pub fn name(self) -> &'static str {
        match self {
            GroupBy::Lport => "lport",
            GroupBy::Rport => "rport",
            GroupBy::Raddr => "raddr",
            GroupBy::Remote => "remote",
            GroupBy::Uid => "uid",
            GroupBy::Process => "process",
        }
    }

    /// The group key of `r`; for [`GroupBy::Process`] `process` maps the socket to a
    /// process index (`u32::MAX` = unknown).
    pub fn key(self, r: &SockRecord, process: &dyn Fn(u32) -> u32) -> Endpoint {
        let mut k = Endpoint::default();
        match self {
            GroupBy::Lport => k.port = r.sport,
            GroupBy::Rport => k.port = r.dport,
            GroupBy::Raddr => {
                k = Endpoint::remote(r);
                k.port = 0;
            }
            GroupBy::Remote => k = Endpoint::remote(r),
            GroupBy::Uid => k.addr[..4].copy_from_slice(&r.uid.to_ne_bytes()),
            GroupBy::Process => k.addr[..4].copy_from_slice(&process(r.inode).to_ne_bytes()),
        }
        k
    }
}

/// Sockets in `states` counted per `by` key, bounded like [`Grouped`].
#[derive(Debug, Clone)]
pub struct Grouping {
    /// What the groups are.
    pub by: GroupBy,
    /// Which states are counted (LISTEN never is).
    pub states: StateMask,
    /// The counts.
    pub counts: Grouped<Endpoint>,
}

impl Grouping {
    /// An empty grouping.
    pub fn new(by: GroupBy, states: StateMask) -> Grouping {
        Grouping {
            by,
            states,
            counts: Grouped::new(),
        }
    }

    /// Adds `r` when its state is counted.
    #[inline]
    pub fn add(&mut self, r: &SockRecord, process: &dyn Fn(u32) -> u32) {
        if r.state != state::LISTEN && self.states.contains(r.state) {
            self.counts.add(self.by.key(r, process));
        }
    }
}

/// The ephemeral port range: `ip_local_port_range` minus `ip_local_reserved_ports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRange {
    /// First port of the range.
    pub low: u16,
    /// Last port of the range.
    pub high: u16,
    /// Reserved ports inside the range (bit per port).
    reserved: Vec<u64>,
    /// How many ports of the range are reserved.
    pub reserved_count: u32,
}

/// Why a range file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// `ip_local_port_range` is not two ports, low ≤ high.
    #[error("Cannot parse ip_local_port_range \"{0}\".")]
    Range(String),
    /// `ip_local_reserved_ports` is not a list of ports and ranges.
    #[error("Cannot parse ip_local_reserved_ports \"{0}\".")]
    Reserved(String),
}

impl PortRange {
    /// Parses `ip_local_port_range` (`"32768\t60999"`) and `ip_local_reserved_ports`
    /// (`""`, `"8080,9000-9010"`).
    pub fn parse(range: &str, reserved: &str) -> Result<PortRange, RangeError> {
        let bad = || RangeError::Range(range.trim().to_string());
        let mut it = range.split_ascii_whitespace();
        let low: u16 = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let high: u16 = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        if it.next().is_some() || low > high {
            return Err(bad());
        }
        let mut bits = vec![0u64; 1024];
        let badr = || RangeError::Reserved(reserved.trim().to_string());
        for part in reserved.trim().split(',').filter(|p| !p.is_empty()) {
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (a, b),
                None => (part, part),
            };
            let a: u16 = a.trim().parse().map_err(|_| badr())?;
            let b: u16 = b.trim().parse().map_err(|_| badr())?;
            if a > b {
                return Err(badr());
            }
            for p in a..=b {
                bits[usize::from(p) / 64] |= 1 << (p % 64);
            }
        }
        let mut r = PortRange {
            low,
            high,
            reserved: bits,
            reserved_count: 0,
        };
        r.reserved_count = (low..=high).filter(|p| r.is_reserved(*p)).count() as u32;
        Ok(r)
    }

    fn is_reserved(&self, p: u16) -> bool {
        self.reserved[usize::from(p) / 64] & (1 << (p % 64)) != 0
    }

    /// Usable ephemeral ports: the range minus its reserved ports.
    pub fn size(&self) -> u32 {
        u32::from(self.high - self.low) + 1 - self.reserved_count
    }

    /// Whether `p` is a usable ephemeral port.
    #[inline]
    pub fn contains(&self, p: u16) -> bool {
        p >= self.low && p <= self.high && !self.is_reserved(p)
    }
}

/// A destination of ephemeral ports: local address, remote address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Destination {
    /// Local address (family and bytes; port 0).
    pub local: Endpoint,
    /// Remote address and port.
    pub remote: Endpoint,
}

impl Destination {
    /// `laddr->raddr:rport`, IPv6 in brackets.
    pub fn text(&self) -> String {
        let l = self.local.addr_text();
        match self.local.family {
            AF_INET6 => format!("[{l}]->{}", self.remote.text()),
            _ => format!("{l}->{}", self.remote.text()),
        }
    }
}

/// Everything one pass computes.
#[derive(Debug, Clone)]
pub struct Health {
    /// Every state's count.
    pub states: StateCounts,
    /// Listeners by local address and port.
    pub listeners: HashMap<Endpoint, ListenerStats>,
    /// Listeners beyond [`limits::MAX_LISTENERS`].
    pub listeners_dropped: u64,
    /// Ephemeral-port use per destination (None when no range is known).
    pub ephemeral: Option<Grouped<Destination>>,
    /// Extra groupings (e.g. CLOSE_WAIT by local port and by remote).
    pub groupings: Vec<Grouping>,
}

/// Counts per key, bounded like [`Grouping`].
#[derive(Debug, Clone)]
pub struct Grouped<K> {
    /// Count per key.
    pub map: HashMap<K, u64>,
    /// Sockets counted.
    pub total: u64,
    /// Sockets whose key did not fit.
    pub overflow: u64,
}

impl<K: std::hash::Hash + Eq + Copy + Ord> Default for Grouped<K> {
    fn default() -> Self {
        Grouped::new()
    }
}

impl<K: std::hash::Hash + Eq + Copy + Ord> Grouped<K> {
    /// An empty set.
    pub fn new() -> Self {
        Grouped {
            map: HashMap::new(),
            total: 0,
            overflow: 0,
        }
    }

    fn add(&mut self, k: K) {
        self.total += 1;
        if let Some(c) = self.map.get_mut(&k) {
            *c += 1;
        } else if self.map.len() < limits::MAX_GROUPS {
            self.map.insert(k, 1);
        } else {
            self.overflow += 1;
        }
    }

    /// The `top` largest (count descending, key ascending), other groups, other count.
    pub fn top(&self, top: usize) -> (Vec<(K, u64)>, u64, u64) {
        let mut rows: Vec<(K, u64)> = self.map.iter().map(|(k, c)| (*k, *c)).collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let rest = rows.split_off(top.min(rows.len()));
        let n = rest.len() as u64 + u64::from(self.overflow > 0);
        (
            rows,
            n,
            rest.iter().map(|r| r.1).sum::<u64>() + self.overflow,
        )
    }
}

/// The one-pass aggregator: feed it every TCP socket ([`StateMask::ALL`]) of one dump.
pub struct Aggregator<'a> {
    health: Health,
    range: Option<&'a PortRange>,
    /// Bit per local port that has a listener (to attribute connections cheaply).
    listening: Vec<u64>,
    process: &'a dyn Fn(u32) -> u32,
}

impl std::fmt::Debug for Aggregator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aggregator")
            .field("health", &self.health)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

impl<'a> Aggregator<'a> {
    /// An aggregator computing listeners and states, ephemeral use when `range` is
    /// given, and each of `groupings`. `process` maps an inode to a process index for
    /// [`GroupBy::Process`] (`u32::MAX` = unknown).
    pub fn new(
        range: Option<&'a PortRange>,
        groupings: Vec<Grouping>,
        process: &'a dyn Fn(u32) -> u32,
    ) -> Aggregator<'a> {
        Aggregator {
            health: Health {
                states: StateCounts::default(),
                listeners: HashMap::new(),
                listeners_dropped: 0,
                ephemeral: range.map(|_| Grouped::new()),
                groupings,
            },
            range,
            listening: vec![0u64; 1024],
            process,
        }
    }

    /// Takes one socket.
    #[inline]
    pub fn add(&mut self, r: &SockRecord) {
        let h = &mut self.health;
        h.states.add(r.state);
        for g in &mut h.groupings {
            g.add(r, self.process);
        }
        if r.state == state::LISTEN {
            let k = Endpoint::local(r);
            let n = h.listeners.len();
            let l = match h.listeners.get_mut(&k) {
                Some(l) => l,
                None if n < limits::MAX_LISTENERS => {
                    self.listening[usize::from(r.sport) / 64] |= 1 << (r.sport % 64);
                    h.listeners.entry(k).or_insert_with(|| ListenerStats {
                        inode: r.inode,
                        uid: r.uid,
                        ..ListenerStats::default()
                    })
                }
                None => {
                    h.listeners_dropped += 1;
                    return;
                }
            };
            l.sockets += 1;
            l.queue += u64::from(r.rqueue);
            l.backlog += u64::from(r.wqueue);
            return;
        }
        if self.listening[usize::from(r.sport) / 64] & (1 << (r.sport % 64)) != 0 {
            let exact = Endpoint::local(r);
            if let Some(l) = h.listeners.get_mut(&exact) {
                l.states.add(r.state);
            } else if let Some(l) = wildcard_listener(&mut h.listeners, r) {
                l.states.add(r.state);
            }
        }
        if let (Some(range), Some(e)) = (self.range, h.ephemeral.as_mut()) {
            if range.contains(r.sport) {
                let mut local = Endpoint::local(r);
                local.port = 0;
                e.add(Destination {
                    local,
                    remote: Endpoint::remote(r),
                });
            }
        }
    }

    /// The result.
    pub fn finish(self) -> Health {
        self.health
    }
}

/// The wildcard listener a connection on `r`'s local port belongs to: `0.0.0.0` for
/// IPv4 (and IPv4-mapped IPv6) connections, `::` for IPv6 ones (which also takes IPv4
/// connections on a dual-stack socket: those arrive as mapped IPv6).
fn wildcard_listener<'m>(
    listeners: &'m mut HashMap<Endpoint, ListenerStats>,
    r: &SockRecord,
) -> Option<&'m mut ListenerStats> {
    let v4 = Endpoint {
        family: AF_INET,
        addr: [0; 16],
        port: r.sport,
    };
    let v6 = Endpoint {
        family: AF_INET6,
        addr: [0; 16],
        port: r.sport,
    };
    let mapped = r.family == AF_INET6 && r.src[..12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
    let order = if r.family == AF_INET || mapped {
        [v4, v6]
    } else {
        [v6, v4]
    };
    let k = order.into_iter().find(|k| listeners.contains_key(k))?;
    listeners.get_mut(&k)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut o = [0u8; 16];
        o[..4].copy_from_slice(&a);
        o
    }

    fn rec(st: u8, src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> SockRecord {
        SockRecord {
            family: AF_INET,
            state: st,
            sport,
            dport,
            src: v4(src),
            dst: v4(dst),
            ..SockRecord::default()
        }
    }

    fn none(_: u32) -> u32 {
        u32::MAX
    }

    #[test]
    fn listeners_collapse_reuseport_groups_and_take_their_connections() {
        let mut l1 = rec(state::LISTEN, [0, 0, 0, 0], 80, [0, 0, 0, 0], 0);
        l1.rqueue = 3;
        l1.wqueue = 8;
        let mut l2 = l1;
        l2.rqueue = 2;
        let local = rec(state::LISTEN, [127, 0, 0, 1], 25, [0, 0, 0, 0], 0);
        let recs = [
            l1,
            l2,
            local,
            rec(state::ESTABLISHED, [10, 0, 0, 1], 80, [10, 0, 0, 2], 40000),
            rec(state::CLOSE_WAIT, [10, 0, 0, 1], 80, [10, 0, 0, 2], 40001),
            rec(state::SYN_RECV, [10, 0, 0, 1], 80, [10, 0, 0, 3], 40002),
            rec(
                state::ESTABLISHED,
                [127, 0, 0, 1],
                25,
                [127, 0, 0, 1],
                50000,
            ),
            // a client connection from an ephemeral port: no listener
            rec(state::ESTABLISHED, [10, 0, 0, 1], 50001, [10, 0, 0, 9], 443),
        ];
        let mut a = Aggregator::new(None, vec![], &none);
        recs.iter().for_each(|r| a.add(r));
        let h = a.finish();
        assert_eq!(h.listeners.len(), 2);
        let any80 = Endpoint {
            family: AF_INET,
            addr: [0; 16],
            port: 80,
        };
        let l = &h.listeners[&any80];
        assert_eq!((l.sockets, l.queue, l.backlog), (2, 5, 16));
        assert_eq!(l.states.get(state::ESTABLISHED), 1);
        assert_eq!(l.states.get(state::CLOSE_WAIT), 1);
        assert_eq!(l.states.get(state::SYN_RECV), 1);
        let lo25 = Endpoint {
            family: AF_INET,
            addr: v4([127, 0, 0, 1]),
            port: 25,
        };
        assert_eq!(h.listeners[&lo25].states.get(state::ESTABLISHED), 1);
        assert_eq!(h.states.get(state::ESTABLISHED), 3);
        assert_eq!(h.states.get(state::LISTEN), 3);
    }

    #[test]
    fn ephemeral_use_is_counted_per_destination_inside_the_range_only() {
        let range = PortRange::parse("40000 40009\n", "40005-40006").unwrap();
        assert_eq!(range.size(), 8);
        let mut a = Aggregator::new(Some(&range), vec![], &none);
        for p in 40000..40010 {
            a.add(&rec(
                state::TIME_WAIT,
                [10, 0, 0, 1],
                p,
                [10, 0, 0, 2],
                5432,
            ));
        }
        a.add(&rec(
            state::ESTABLISHED,
            [10, 0, 0, 1],
            40001,
            [10, 0, 0, 3],
            80,
        ));
        a.add(&rec(
            state::ESTABLISHED,
            [10, 0, 0, 1],
            39999,
            [10, 0, 0, 3],
            80,
        ));
        let mut l = rec(state::LISTEN, [0, 0, 0, 0], 40002, [0, 0, 0, 0], 0);
        l.wqueue = 1;
        a.add(&l);
        let h = a.finish();
        let e = h.ephemeral.unwrap();
        let (top, og, oc) = e.top(1);
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].1, 8); // 10 ports minus the 2 reserved
        assert_eq!(top[0].0.text(), "10.0.0.1->10.0.0.2:5432");
        assert_eq!((og, oc), (1, 1));
        assert_eq!(e.total, 9);
    }

    #[test]
    fn port_range_files_parse_or_say_why() {
        let r = PortRange::parse("32768\t60999\n", "\n").unwrap();
        assert_eq!((r.low, r.high, r.size()), (32768, 60999, 28232));
        let r = PortRange::parse("1024 65535", "8080,9000-9009,70").unwrap();
        assert_eq!(r.reserved_count, 11);
        assert!(!r.contains(8080) && r.contains(8081) && !r.contains(1023));
        assert!(matches!(
            PortRange::parse("x 1", ""),
            Err(RangeError::Range(_))
        ));
        assert!(matches!(
            PortRange::parse("5 1", ""),
            Err(RangeError::Range(_))
        ));
        assert!(matches!(
            PortRange::parse("1 5 6", ""),
            Err(RangeError::Range(_))
        ));
        assert!(matches!(
            PortRange::parse("1 5", "a-b"),
            Err(RangeError::Reserved(_))
        ));
        assert!(matches!(
            PortRange::parse("1 5", "9-3"),
            Err(RangeError::Reserved(_))
        ));
    }

    #[test]
    fn groupings_count_their_states_and_keep_top_n_with_other() {
        let g = Grouping::new(GroupBy::Remote, StateMask::one(state::CLOSE_WAIT));
        let u = Grouping::new(GroupBy::Uid, StateMask::ALL);
        let mut a = Aggregator::new(None, vec![g, u], &none);
        for i in 0..5u16 {
            let mut r = rec(
                state::CLOSE_WAIT,
                [10, 0, 0, 1],
                1000 + i,
                [10, 0, 0, 2],
                5432,
            );
            r.uid = 33;
            a.add(&r);
        }
        let mut r = rec(state::CLOSE_WAIT, [10, 0, 0, 1], 2000, [10, 0, 0, 3], 80);
        r.uid = 1000;
        a.add(&r);
        a.add(&rec(
            state::ESTABLISHED,
            [10, 0, 0, 1],
            2001,
            [10, 0, 0, 3],
            80,
        ));
        a.add(&rec(state::LISTEN, [0, 0, 0, 0], 22, [0, 0, 0, 0], 0));
        let h = a.finish();
        let (top, og, oc) = h.groupings[0].counts.top(1);
        assert_eq!(top[0].0.text(), "10.0.0.2:5432");
        assert_eq!(top[0].1, 5);
        assert_eq!((og, oc, h.groupings[0].counts.total), (1, 1, 6));
        let (top, _, _) = h.groupings[1].counts.top(10);
        // LISTEN is never grouped; uid 0 holds the ESTABLISHED one.
        assert_eq!(top.iter().map(|r| r.1).collect::<Vec<_>>(), vec![5, 1, 1]);
        assert_eq!(h.groupings[1].counts.total, 7);
    }

    #[test]
    fn ipv6_and_mapped_connections_find_their_wildcard_listener() {
        let mut l6 = SockRecord {
            family: AF_INET6,
            state: state::LISTEN,
            sport: 443,
            ..SockRecord::default()
        };
        l6.wqueue = 4;
        let mut mapped = l6;
        mapped.state = state::ESTABLISHED;
        mapped.src = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1];
        let mut a = Aggregator::new(None, vec![], &none);
        a.add(&l6);
        a.add(&mapped);
        let h = a.finish();
        let k = Endpoint {
            family: AF_INET6,
            addr: [0; 16],
            port: 443,
        };
        assert_eq!(h.listeners[&k].states.get(state::ESTABLISHED), 1);
        assert_eq!(k.text(), "[::]:443");
    }
}
