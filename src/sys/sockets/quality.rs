//! Connection quality from `struct tcp_info` (`INET_DIAG_INFO`), grouped like
//! [`super::health::Grouping`]: RTT average, p95 and maximum, retransmissions, lost
//! segments, unacknowledged segments and sockets with a non-empty send queue.
//!
//! Pure: the caller does the dump ([`super::Engine::visit_info`], a separate request
//! from the plain dumps). Memory: one `u32` RTT per socket with tcp_info (exact p95)
//! plus a fixed record per group, groups capped at [`limits::MAX_GROUPS`].

use std::collections::HashMap;

use super::health::{Endpoint, GroupBy};
use super::model::{state, SockRecord, StateMask};
use super::netlink::wire;

/// Bounds.
pub mod limits {
    /// Most distinct groups; further sockets are counted in `other`.
    pub const MAX_GROUPS: usize = 10_000;
}

/// The states that carry a full `tcp_info` (not LISTEN, TIME_WAIT or request sockets).
pub const STATES: StateMask = StateMask(
    (1 << state::ESTABLISHED)
        | (1 << state::SYN_SENT)
        | (1 << state::FIN_WAIT1)
        | (1 << state::FIN_WAIT2)
        | (1 << state::CLOSE_WAIT)
        | (1 << state::LAST_ACK)
        | (1 << state::CLOSING),
);

/// The `tcp_info` fields used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpInfo {
    /// Smoothed RTT, microseconds (`tcpi_rtt`).
    pub rtt_us: u32,
    /// Unacknowledged segments (`tcpi_unacked`).
    pub unacked: u32,
    /// Segments considered lost (`tcpi_lost`).
    pub lost: u32,
    /// Retransmitted segments over the connection's life (`tcpi_total_retrans`).
    pub total_retrans: u32,
}

/// Decodes the fields of a `struct tcp_info` (offsets of the kernel's uapi layout,
/// stable since 2.6); `None` when the attribute is shorter than `tcpi_total_retrans`.
pub fn parse_tcp_info(b: &[u8]) -> Option<TcpInfo> {
    let u = |at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    Some(TcpInfo {
        unacked: u(24)?,
        lost: u(32)?,
        rtt_us: u(68)?,
        total_retrans: u(100)?,
    })
}

/// The tcp_info of one socket, from the attribute bytes after its message.
pub fn info_of(attrs: &[u8]) -> Option<TcpInfo> {
    wire::attr(attrs, wire::INET_DIAG_INFO).and_then(parse_tcp_info)
}

/// One group's totals.
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// Sockets in the group.
    pub count: u64,
    /// Sockets with a non-empty send queue (`idiag_wqueue` > 0).
    pub sendq_nonempty: u64,
    rtts: Vec<u32>,
    rtt_sum: u64,
    retrans: u64,
    lost: u64,
    unacked: u64,
}

/// What a group's tcp_info says; absent when no socket had tcp_info.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Mean RTT, ms.
    pub rtt_avg_ms: f64,
    /// 95th percentile RTT (nearest rank), ms.
    pub rtt_p95_ms: f64,
    /// Largest RTT, ms.
    pub rtt_max_ms: f64,
    /// Retransmitted segments (sum over the sockets' lives).
    pub retrans: u64,
    /// Lost segments now.
    pub lost: u64,
    /// Unacknowledged segments now.
    pub unacked: u64,
}

fn ms(us: u64) -> f64 {
    (us as f64 / 10.0).round() / 100.0
}

impl Group {
    /// The tcp_info summary.
    pub fn summary(&self) -> Option<Summary> {
        if self.rtts.is_empty() {
            return None;
        }
        let mut v = self.rtts.clone();
        let n = v.len();
        // nearest rank: ceil(0.95 n) - 1
        let rank = ((n * 95).div_ceil(100)).saturating_sub(1);
        let (_, p95, _) = v.select_nth_unstable(rank);
        let p95 = *p95;
        let max = self.rtts.iter().copied().max().unwrap_or(0);
        Some(Summary {
            rtt_avg_ms: ms(self.rtt_sum / n as u64),
            rtt_p95_ms: ms(u64::from(p95)),
            rtt_max_ms: ms(u64::from(max)),
            retrans: self.retrans,
            lost: self.lost,
            unacked: self.unacked,
        })
    }
}

/// Groups of sockets with their quality.
#[derive(Debug, Clone)]
pub struct Quality {
    by: GroupBy,
    groups: HashMap<Endpoint, Group>,
    total: u64,
    with_info: u64,
    overflow: u64,
}

impl Quality {
    /// Empty, grouping by `by`.
    pub fn new(by: GroupBy) -> Quality {
        Quality {
            by,
            groups: HashMap::new(),
            total: 0,
            with_info: 0,
            overflow: 0,
        }
    }

    /// Takes one socket and its attribute bytes.
    pub fn add(&mut self, r: &SockRecord, attrs: &[u8], process: &dyn Fn(u32) -> u32) {
        if !STATES.contains(r.state) {
            return;
        }
        self.total += 1;
        let k = self.by.key(r, process);
        let n = self.groups.len();
        let g = match self.groups.get_mut(&k) {
            Some(g) => g,
            None if n < limits::MAX_GROUPS => self.groups.entry(k).or_default(),
            None => {
                self.overflow += 1;
                return;
            }
        };
        g.count += 1;
        g.sendq_nonempty += u64::from(r.wqueue > 0);
        if let Some(i) = info_of(attrs) {
            self.with_info += 1;
            g.rtts.push(i.rtt_us);
            g.rtt_sum += u64::from(i.rtt_us);
            g.retrans += u64::from(i.total_retrans);
            g.lost += u64::from(i.lost);
            g.unacked += u64::from(i.unacked);
        }
    }

    /// Sockets counted.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Sockets that came with tcp_info.
    pub fn with_info(&self) -> u64 {
        self.with_info
    }

    /// Distinct groups (an overflow counts as one more).
    pub fn groups(&self) -> u64 {
        self.groups.len() as u64 + u64::from(self.overflow > 0)
    }

    /// The `top` largest groups (count descending, key ascending), other groups, other
    /// count.
    pub fn top(&self, top: usize) -> (Vec<(Endpoint, &Group)>, u64, u64) {
        let mut rows: Vec<(Endpoint, &Group)> = self.groups.iter().map(|(k, g)| (*k, g)).collect();
        rows.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
        let rest = rows.split_off(top.min(rows.len()));
        let n = rest.len() as u64 + u64::from(self.overflow > 0);
        let c = rest.iter().map(|r| r.1.count).sum::<u64>() + self.overflow;
        (rows, n, c)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::sys::sockets::model::AF_INET;

    /// An `INET_DIAG_INFO` attribute: rtattr header then a 104-byte tcp_info with the
    /// fields this module reads set.
    fn info_attr(rtt_us: u32, retrans: u32, lost: u32, unacked: u32) -> Vec<u8> {
        let mut ti = vec![0u8; 104];
        ti[24..28].copy_from_slice(&unacked.to_ne_bytes()); // tcpi_unacked
        ti[32..36].copy_from_slice(&lost.to_ne_bytes()); // tcpi_lost
        ti[68..72].copy_from_slice(&rtt_us.to_ne_bytes()); // tcpi_rtt
        ti[100..104].copy_from_slice(&retrans.to_ne_bytes()); // tcpi_total_retrans
        let mut a = Vec::new();
        // a MEMINFO attribute (type 1, 16 bytes + header) first, to be skipped
        a.extend_from_slice(&20u16.to_ne_bytes());
        a.extend_from_slice(&1u16.to_ne_bytes());
        a.extend_from_slice(&[0u8; 16]);
        a.extend_from_slice(&108u16.to_ne_bytes()); // rta_len = 4 + 104
        a.extend_from_slice(&wire::INET_DIAG_INFO.to_ne_bytes()); // rta_type
        a.extend_from_slice(&ti);
        a
    }

    fn rec(dport: u16, wqueue: u32) -> SockRecord {
        let mut dst = [0u8; 16];
        dst[..4].copy_from_slice(&[10, 0, 0, 2]);
        SockRecord {
            family: AF_INET,
            state: state::ESTABLISHED,
            sport: 40000,
            dport,
            dst,
            wqueue,
            ..SockRecord::default()
        }
    }

    #[test]
    fn tcp_info_is_found_among_attributes_and_decoded() {
        let a = info_attr(1500, 7, 2, 3);
        let i = info_of(&a).unwrap();
        assert_eq!(
            i,
            TcpInfo {
                rtt_us: 1500,
                unacked: 3,
                lost: 2,
                total_retrans: 7
            }
        );
        assert_eq!(info_of(&a[..30]), None);
        assert_eq!(parse_tcp_info(&[0u8; 100]), None);
    }

    #[test]
    fn groups_summarise_rtt_percentiles_and_counters() {
        let none = |_: u32| u32::MAX;
        let mut q = Quality::new(GroupBy::Remote);
        for i in 1..=20u32 {
            q.add(
                &rec(5432, u32::from(i == 1)),
                &info_attr(i * 1000, 1, 0, 0),
                &none,
            );
        }
        q.add(&rec(80, 0), &[], &none); // no tcp_info: counted, no summary
        let mut tw = rec(80, 0);
        tw.state = state::TIME_WAIT;
        q.add(&tw, &[], &none); // not a full socket: ignored
        let (rows, og, oc) = q.top(1);
        assert_eq!((og, oc, q.total(), q.with_info()), (1, 1, 21, 20));
        let g = rows[0].1;
        assert_eq!((g.count, g.sendq_nonempty), (20, 1));
        let s = g.summary().unwrap();
        assert_eq!(s.rtt_avg_ms, 10.5);
        assert_eq!(s.rtt_p95_ms, 19.0);
        assert_eq!(s.rtt_max_ms, 20.0);
        assert_eq!(s.retrans, 20);
        let (all, _, _) = q.top(10);
        assert!(all[1].1.summary().is_none());
    }
}
