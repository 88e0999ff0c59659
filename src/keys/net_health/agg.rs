//! The pure aggregators behind the TCP-health keys: one pass over [`SockRecord`]s
//! (from one dump) fills listeners, ephemeral-port use and grouped counts; a report
//! step turns them into bounded JSON (top-N + "other"). No I/O, no parameter texts.
//!
//! Memory is bounded whatever the socket count: keys are small fixed-size structs, and
//! every map stops growing at [`MAX_KEYS`] entries (sockets of further keys are still
//! counted, in "other").

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use serde_json::{json, Map, Value as Json};

use crate::sys::sockets::wire::TcpInfo;
use crate::sys::sockets::{state, AddrFilter, SockRecord, AF_INET};
use crate::sys::tcp_limits::EphemeralRange;

/// Most distinct keys a map tracks (listeners, local endpoints, destinations, groups).
pub const MAX_KEYS: usize = 65_536;
/// Most RTT samples the quality key keeps for its p95 (4 MB).
pub const MAX_RTT_SAMPLES: usize = 1_000_000;

/// The per-socket maps hash with FxHash (the `rustc-hash` crate): their keys are socket
/// endpoints read from our own kernel, not attacker-chosen map keys worth SipHash's cost,
/// and the profile at 100k sockets showed SipHash as the largest user-space cost of
/// `net.tcp.health`.
pub type FastMap<K, V> = rustc_hash::FxHashMap<K, V>;

/// An address as two words: the derived `Hash` of a `[u8; 16]` feeds a length and 16
/// single bytes to the hasher; two `u64`s are two FxHash rounds (the aggregation maps
/// hash once per socket).
#[inline]
fn addr_words(a: &[u8; 16]) -> (u64, u64) {
    let (hi, lo) = a.split_at(8);
    let w = |b: &[u8]| u64::from_ne_bytes(b.try_into().unwrap_or_default());
    (w(hi), w(lo))
}

/// `Hash` for the fixed-size aggregation keys: the words of their addresses, then family
/// and ports in one word (equal keys hash equally: every field goes in).
macro_rules! hash_by_words {
    ($t:ty, |$k:ident| [$($addr:expr),*], $small:expr) => {
        impl std::hash::Hash for $t {
            #[inline]
            fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
                let $k = self;
                $(
                    let (a, b) = addr_words(&$addr);
                    h.write_u64(a);
                    h.write_u64(b);
                )*
                h.write_u64($small);
            }
        }
    };
}

hash_by_words!(
    Local,
    |k| [k.addr],
    u64::from(k.family) << 16 | u64::from(k.port)
);
hash_by_words!(
    Dest,
    |k| [k.laddr, k.raddr],
    u64::from(k.family) << 16 | u64::from(k.rport)
);
hash_by_words!(
    GKey,
    |k| [k.addr],
    u64::from(k.family) << 16 | u64::from(k.port)
);

/// Compact per-state counts (u32: a host has fewer than 4G sockets).
type Counts = [u32; 12];

fn add(c: &mut Counts, st: u8) {
    if let Some(x) = c.get_mut(usize::from(st)) {
        *x += 1;
    }
}

fn ip(family: u8, a: &[u8; 16]) -> IpAddr {
    let r = SockRecord {
        family,
        state: 0,
        sport: 0,
        dport: 0,
        src: *a,
        dst: [0; 16],
        inode: 0,
        rqueue: 0,
        wqueue: 0,
        uid: 0,
    };
    r.local_ip()
}

/// Appends an address as `Display` writes it; IPv4 without `core::fmt` (a listener report
/// writes 5,000 of them, and `Ipv4Addr`'s `Display` was a fifth of its cost).
fn push_ip(out: &mut String, addr: IpAddr) {
    match addr {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_int(out, o);
            }
        }
        IpAddr::V6(_) => {
            let _ = write!(out, "{addr}");
        }
    }
}

fn endpoint(family: u8, a: &[u8; 16], port: u16) -> String {
    let mut s = String::with_capacity(48);
    if family == AF_INET {
        push_ip(&mut s, ip(family, a));
    } else {
        s.push('[');
        push_ip(&mut s, ip(family, a));
        s.push(']');
    }
    s.push(':');
    push_int(&mut s, port);
    s
}

/// The address part of an [`endpoint`] text (`a.b.c.d` of `a.b.c.d:p`, `x` of `[x]:p`).
fn endpoint_addr(family: u8, endpoint: &str) -> &str {
    let colon = endpoint.rfind(':').unwrap_or(endpoint.len());
    if family == AF_INET {
        endpoint.get(..colon).unwrap_or_default()
    } else {
        endpoint.get(1..colon.saturating_sub(1)).unwrap_or_default()
    }
}

fn bracketed(family: u8, a: &[u8; 16]) -> String {
    if family == AF_INET {
        ip(family, a).to_string()
    } else {
        format!("[{}]", ip(family, a))
    }
}

/// A percentage with at most 2 decimals.
pub fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    (part as f64 * 10_000.0 / whole as f64).round() / 100.0
}

/// The JSON object of `net.tcp.states` (11 keys, kernel order).
pub fn states_obj(c: &Counts) -> Json {
    let mut m = Map::new();
    for s in 1..=state::MAX {
        m.insert(
            state::NAMES[usize::from(s)].to_string(),
            json!(c[usize::from(s)]),
        );
    }
    Json::Object(m)
}

/// The states in the order of their names (as `serde_json::Map` sorts keys), each with
/// its JSON member prefix (`"close":`, then `,"close_wait":`, …).
fn states_by_name() -> &'static [(u8, String)] {
    static ORDER: std::sync::OnceLock<Vec<(u8, String)>> = std::sync::OnceLock::new();
    ORDER.get_or_init(|| {
        let mut order: Vec<u8> = (1..=state::MAX).collect();
        order.sort_by_key(|s| state::NAMES[usize::from(*s)]);
        order
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let comma = if i > 0 { "," } else { "" };
                (s, format!("{comma}\"{}\":", state::NAMES[usize::from(s)]))
            })
            .collect()
    })
}

/// Appends an integer.
#[inline]
fn push_int(out: &mut String, n: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// [`states_obj`] written into `out` (keys sorted, as `serde_json::Map` orders them).
fn write_states(out: &mut String, c: &Counts) {
    out.push('{');
    for (s, prefix) in states_by_name() {
        out.push_str(prefix);
        push_int(out, c.get(usize::from(*s)).copied().unwrap_or(0));
    }
    out.push('}');
}

/// Local endpoint: family, address, port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Local {
    family: u8,
    port: u16,
    addr: [u8; 16],
}

#[derive(Debug, Clone, Copy, Default)]
struct ListenAgg {
    sockets: u32,
    queue: u64,
    backlog: u64,
}

/// A set of ports: 65,536 bits (8 KiB).
#[derive(Debug, Clone)]
struct PortSet(Box<[u64; 1024]>);

impl Default for PortSet {
    fn default() -> PortSet {
        PortSet(Box::new([0; 1024]))
    }
}

impl PortSet {
    #[inline]
    fn insert(&mut self, port: u16) {
        if let Some(w) = self.0.get_mut(usize::from(port >> 6)) {
            *w |= 1 << (port & 63);
        }
    }

    #[inline]
    fn contains(&self, port: u16) -> bool {
        self.0
            .get(usize::from(port >> 6))
            .is_some_and(|w| w & (1 << (port & 63)) != 0)
    }
}

/// Index of a family in the per-family port sets.
#[inline]
fn fam(family: u8) -> usize {
    usize::from(family != AF_INET)
}

/// Per-listener health: accept queues of LISTEN sockets and per-state counts of the
/// connections on each local endpoint.
///
/// Only connections on a port that some listener of their family uses can be attributed,
/// so only those are kept: every other connection costs one bit test, not a hash insert
/// into a map of up to [`MAX_KEYS`] endpoints. That relies on the kernel's order: a dump
/// (netlink, and `/proc/net/tcp{,6}` alike) walks the listening table of a family before
/// its connections. Should a listener ever arrive after connections of its port were
/// passed over, [`Listeners::complete`] says so and the caller takes the dump again with
/// [`Listeners::exhaustive`], which keeps every connection (exact in any order).
#[derive(Debug)]
pub struct Listeners {
    listen: FastMap<Local, ListenAgg>,
    local: FastMap<Local, Counts>,
    /// Connections whose local endpoint did not fit in `local`: per port only.
    overflow: FastMap<u16, Counts>,
    /// Keep only connections on a port in `listening` (see the type's header).
    gate: bool,
    /// Ports with a LISTEN socket, per family (IPv4, IPv6).
    listening: [PortSet; 2],
    /// Ports whose connections were passed over, per family.
    passed: [PortSet; 2],
    /// A listener arrived on a port whose connections had been passed over.
    out_of_order: bool,
}

impl Default for Listeners {
    fn default() -> Listeners {
        Listeners {
            listen: FastMap::default(),
            local: FastMap::default(),
            overflow: FastMap::default(),
            gate: true,
            listening: Default::default(),
            passed: Default::default(),
            out_of_order: false,
        }
    }
}

impl Listeners {
    /// Keeps every connection, whatever order the sockets come in (the fallback when
    /// [`Listeners::complete`] is false).
    pub fn exhaustive() -> Listeners {
        Listeners {
            gate: false,
            ..Listeners::default()
        }
    }

    /// False when a listener came after connections of its port that were passed over:
    /// the counts are then incomplete and the dump must be taken again with
    /// [`Listeners::exhaustive`]. Linux dumps never do this (listeners come first).
    pub fn complete(&self) -> bool {
        !self.out_of_order
    }

    /// Takes one socket.
    #[inline]
    pub fn add(&mut self, r: &SockRecord) {
        let f = fam(r.family);
        if r.state != state::LISTEN && self.gate {
            if let (Some(l), Some(p)) = (self.listening.get(f), self.passed.get_mut(f)) {
                if !l.contains(r.sport) {
                    p.insert(r.sport);
                    return;
                }
            }
        }
        let k = Local {
            family: r.family,
            port: r.sport,
            addr: r.src,
        };
        if r.state == state::LISTEN {
            if let (Some(l), Some(p)) = (self.listening.get_mut(f), self.passed.get(f)) {
                l.insert(r.sport);
                if p.contains(r.sport) {
                    self.out_of_order = true;
                }
            }
            if self.listen.len() >= MAX_KEYS && !self.listen.contains_key(&k) {
                return;
            }
            let l = self.listen.entry(k).or_default();
            l.sockets += 1;
            l.queue += u64::from(r.rqueue);
            l.backlog += u64::from(r.wqueue);
            return;
        }
        if let Some(c) = self.local.get_mut(&k) {
            add(c, r.state);
        } else if self.local.len() < MAX_KEYS {
            let mut c = Counts::default();
            add(&mut c, r.state);
            self.local.insert(k, c);
        } else {
            add(self.overflow.entry(r.sport).or_default(), r.state);
        }
    }

    /// The listeners kept by `laddr`/`port` (sorted), with the per-state counts of
    /// the connections attributed to each.
    fn attributed(
        &self,
        laddr: Option<&AddrFilter>,
        port: Option<u16>,
    ) -> Vec<(Local, ListenAgg, Counts)> {
        // Connections per port, summed per listener at the end (wildcard listeners
        // take every address of their family; [::] includes IPv4-mapped peers).
        let mut ids: Vec<&Local> = self
            .listen
            .keys()
            .filter(|k| port.map_or(true, |p| p == k.port))
            .filter(|k| laddr.map_or(true, |f| f.matches(k.family, &k.addr)))
            .collect();
        ids.sort();
        let mut per: FastMap<Local, Counts> =
            ids.iter().map(|k| (**k, Counts::default())).collect();
        let mut by_port: FastMap<u16, Vec<Local>> = FastMap::default();
        for k in &ids {
            by_port.entry(k.port).or_default().push(**k);
        }
        let sum = |into: &mut Counts, c: &Counts| {
            for (a, b) in into.iter_mut().zip(c.iter()) {
                *a += b;
            }
        };
        for (lk, c) in &self.local {
            let Some(ls) = by_port.get(&lk.port) else {
                continue;
            };
            // An exact-address listener wins over a wildcard one of the same family.
            let exact = ls
                .iter()
                .find(|l| l.family == lk.family && l.addr == lk.addr);
            let target = exact.or_else(|| {
                ls.iter()
                    .find(|l| l.family == lk.family && l.addr == [0u8; 16])
            });
            if let Some(t) = target {
                if let Some(into) = per.get_mut(t) {
                    sum(into, c);
                }
            }
        }
        for (p, c) in &self.overflow {
            if let Some(t) = by_port
                .get(p)
                .and_then(|ls| ls.iter().find(|l| l.addr == [0u8; 16]))
            {
                if let Some(into) = per.get_mut(t) {
                    sum(into, c);
                }
            }
        }
        ids.into_iter()
            .filter_map(|k| {
                let l = self.listen.get(k)?;
                Some((*k, *l, per.get(k).copied().unwrap_or_default()))
            })
            .collect()
    }

    /// The `net.tcp.listen.stats` object, listeners filtered by `laddr`/`port`.
    pub fn report(&self, laddr: Option<&AddrFilter>, port: Option<u16>) -> Json {
        serde_json::from_str(&self.report_text(laddr, port)).unwrap_or_default()
    }

    /// [`Listeners::report`] as JSON text, written directly (the object can hold
    /// 65,536 listeners of 20 values each: no intermediate `serde_json::Value`).
    /// Keys in the order `serde_json::Map` gives them (sorted).
    pub fn report_text(&self, laddr: Option<&AddrFilter>, port: Option<u16>) -> String {
        let mut out = String::new();
        self.write_report(&mut out, laddr, port);
        out
    }

    /// [`Listeners::report_text`] appended to `out` (the health object writes it in place,
    /// not copied from a string of its own).
    fn write_report(&self, out: &mut String, laddr: Option<&AddrFilter>, port: Option<u16>) {
        let mut rows: Vec<(String, Local, ListenAgg, Counts)> = self
            .attributed(laddr, port)
            .into_iter()
            .map(|(k, l, c)| (endpoint(k.family, &k.addr, k.port), k, l, c))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        out.reserve(rows.len() * 300 + 2);
        out.push('{');
        for (i, (name, k, l, c)) in rows.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // Endpoints and addresses are digits, hex, '.', ':', '[' and ']': no escaping.
            out.push('"');
            out.push_str(name);
            out.push_str("\":{\"backlog\":");
            push_int(out, l.backlog);
            out.push_str(",\"laddr\":\"");
            out.push_str(endpoint_addr(k.family, name));
            out.push_str("\",\"port\":");
            push_int(out, k.port);
            out.push_str(",\"queue\":");
            push_int(out, l.queue);
            out.push_str(",\"queue_pct\":");
            let _ = write!(out, "{}", Json::from(pct(l.queue, l.backlog)));
            out.push_str(",\"sockets\":");
            push_int(out, l.sockets);
            out.push_str(",\"states\":");
            write_states(out, c);
            out.push_str(",\"syn_recv\":");
            push_int(out, c[usize::from(state::SYN_RECV)]);
            out.push('}');
        }
        out.push('}');
    }

    /// One row per listener (reuseport groups collapsed): id, address, port, backlog.
    pub fn ids(&self) -> Vec<(String, String, u16, u64)> {
        let mut ks: Vec<&Local> = self.listen.keys().collect();
        ks.sort();
        ks.into_iter()
            .map(|k| {
                (
                    endpoint(k.family, &k.addr, k.port),
                    ip(k.family, &k.addr).to_string(),
                    k.port,
                    self.listen.get(k).map_or(0, |l| l.backlog),
                )
            })
            .collect()
    }
}

/// Destination of an outgoing connection: local address, remote address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Dest {
    family: u8,
    rport: u16,
    laddr: [u8; 16],
    raddr: [u8; 16],
}

/// Ephemeral-port use per destination.
#[derive(Debug)]
pub struct Ephemeral {
    range: EphemeralRange,
    size: u32,
    dests: FastMap<Dest, u32>,
    in_use: u64,
    untracked: u64,
}

impl Ephemeral {
    /// Empty, for `range`.
    pub fn new(range: EphemeralRange) -> Ephemeral {
        let size = range.size();
        Ephemeral {
            range,
            size,
            dests: FastMap::default(),
            in_use: 0,
            untracked: 0,
        }
    }

    /// Takes one socket (LISTEN ones and local ports outside the range are ignored).
    #[inline]
    pub fn add(&mut self, r: &SockRecord) {
        if r.state == state::LISTEN || !self.range.contains(r.sport) {
            return;
        }
        self.in_use += 1;
        let k = Dest {
            family: r.family,
            rport: r.dport,
            laddr: r.src,
            raddr: r.dst,
        };
        if let Some(c) = self.dests.get_mut(&k) {
            *c += 1;
        } else if self.dests.len() < MAX_KEYS {
            self.dests.insert(k, 1);
        } else {
            self.untracked += 1;
        }
    }

    /// The `net.tcp.ephemeral` object with the `top` busiest destinations.
    pub fn report(&self, top: usize) -> Json {
        let mut v: Vec<(&Dest, &u32)> = self.dests.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let size = u64::from(self.size);
        let name = |d: &Dest| {
            format!(
                "{}->{}",
                bracketed(d.family, &d.laddr),
                endpoint(d.family, &d.raddr, d.rport)
            )
        };
        let (max_pct, worst) = v.first().map_or((0.0, String::new()), |(d, c)| {
            (pct(u64::from(**c), size), name(d))
        });
        let rows: Vec<Json> = v
            .iter()
            .take(top)
            .map(|(d, c)| {
                json!({
                    "laddr": ip(d.family, &d.laddr).to_string(),
                    "raddr": ip(d.family, &d.raddr).to_string(),
                    "rport": d.rport,
                    "count": **c,
                    "pct": pct(u64::from(**c), size),
                })
            })
            .collect();
        let rest: u64 = v.iter().skip(top).map(|(_, c)| u64::from(**c)).sum();
        json!({
            "low": self.range.low,
            "high": self.range.high,
            "reserved": self.range.reserved_in_range(),
            "size": self.size,
            "in_use": self.in_use,
            "destinations": v.len(),
            "max_pct": max_pct,
            "worst": worst,
            "top": rows,
            "other": {
                "destinations": v.len().saturating_sub(top),
                "count": rest + self.untracked,
            },
        })
    }
}

/// What a group key is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
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
    /// Owning process (socket inode, resolved to a name afterwards).
    Process,
}

impl By {
    /// From the key parameter.
    pub fn parse(s: &str) -> Option<By> {
        Some(match s {
            "lport" => By::Lport,
            "rport" => By::Rport,
            "raddr" => By::Raddr,
            "remote" => By::Remote,
            "uid" => By::Uid,
            "process" => By::Process,
            _ => return None,
        })
    }

    /// The parameter spelling.
    pub fn name(self) -> &'static str {
        match self {
            By::Lport => "lport",
            By::Rport => "rport",
            By::Raddr => "raddr",
            By::Remote => "remote",
            By::Uid => "uid",
            By::Process => "process",
        }
    }

    #[inline]
    fn key(self, r: &SockRecord) -> GKey {
        let mut k = GKey {
            family: 0,
            port: 0,
            addr: [0; 16],
        };
        match self {
            By::Lport => k.port = r.sport,
            By::Rport => k.port = r.dport,
            By::Raddr => {
                k.family = r.family;
                k.addr = r.dst;
            }
            By::Remote => {
                k.family = r.family;
                k.addr = r.dst;
                k.port = r.dport;
            }
            By::Uid => k.addr[..4].copy_from_slice(&r.uid.to_ne_bytes()),
            By::Process => k.addr[..4].copy_from_slice(&r.inode.to_ne_bytes()),
        }
        k
    }
}

/// A group key: 20 bytes whatever the grouping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GKey {
    family: u8,
    port: u16,
    addr: [u8; 16],
}

impl GKey {
    fn u32(&self) -> u32 {
        u32::from_ne_bytes([self.addr[0], self.addr[1], self.addr[2], self.addr[3]])
    }

    /// The key as text: the port (lport, rport), the address (raddr), `addr:port`
    /// (remote), the number (uid, process inode).
    fn text(&self, by: By) -> String {
        match by {
            By::Lport | By::Rport => self.port.to_string(),
            By::Raddr => ip(self.family, &self.addr).to_string(),
            By::Remote => endpoint(self.family, &self.addr, self.port),
            By::Uid | By::Process => self.u32().to_string(),
        }
    }
}

/// Per-group quality sums (tcp_info).
#[derive(Debug, Clone, Default)]
struct Quality {
    with_info: u32,
    rtt_sum_us: u64,
    rtt_max_us: u32,
    rtts: Vec<u32>,
    retrans: u64,
    lost: u64,
    unacked: u64,
    sendq_nonempty: u32,
}

#[derive(Debug, Clone, Default)]
struct Group {
    count: u32,
    q: Option<Box<Quality>>,
}

/// The row order of ports and addresses: biggest count first, ties by the numeric key
/// (family, address, port).
fn row_order(a: (&GKey, u32), b: (&GKey, u32)) -> std::cmp::Ordering {
    b.1.cmp(&a.1)
        .then_with(|| (a.0.family, a.0.addr, a.0.port).cmp(&(b.0.family, b.0.addr, b.0.port)))
}

/// A report row: the group's name, its uid (user groups), its counts.
type Row = (String, Option<u32>, Group);

/// Resolves group keys to names (uid → user, inode → process).
pub trait Names {
    /// The user name of `uid`, when known.
    fn user(&mut self, uid: u32) -> Option<String>;
    /// The process names holding each inode (those it could see).
    fn processes(&mut self, inodes: &std::collections::HashSet<u32>) -> HashMap<u32, String>;
}

/// State counts grouped by one [`By`] (optionally with tcp_info sums).
#[derive(Debug)]
pub struct Grouped {
    by: By,
    quality: bool,
    groups: FastMap<GKey, Group>,
    total: u64,
    untracked: u64,
    samples: usize,
}

impl Grouped {
    /// Empty; `quality` also sums tcp_info.
    pub fn new(by: By, quality: bool) -> Grouped {
        Grouped {
            by,
            quality,
            groups: FastMap::default(),
            total: 0,
            untracked: 0,
            samples: 0,
        }
    }

    /// Takes one socket (the caller filters states).
    #[inline]
    pub fn add(&mut self, r: &SockRecord, info: Option<&TcpInfo>) {
        self.total += 1;
        let k = self.by.key(r);
        let full = self.groups.len() >= MAX_KEYS;
        let g = match self.groups.get_mut(&k) {
            Some(g) => g,
            None if full => {
                self.untracked += 1;
                return;
            }
            None => self.groups.entry(k).or_default(),
        };
        g.count += 1;
        if self.quality {
            let q = g.q.get_or_insert_with(Box::default);
            if r.state != state::LISTEN && r.wqueue > 0 {
                q.sendq_nonempty += 1;
            }
            if let Some(i) = info {
                q.with_info += 1;
                q.rtt_sum_us += u64::from(i.rtt_us);
                q.rtt_max_us = q.rtt_max_us.max(i.rtt_us);
                if self.samples < MAX_RTT_SAMPLES {
                    q.rtts.push(i.rtt_us);
                    self.samples += 1;
                }
                q.retrans += u64::from(i.total_retrans);
                q.lost += u64::from(i.lost);
                q.unacked += u64::from(i.unacked);
            }
        }
    }

    /// The key of the first row [`Grouped::report`] gives, for the groupings named by
    /// their key (ports, addresses); `None` when there is no group.
    fn max_key(&self) -> Option<GKey> {
        self.groups
            .iter()
            .min_by(|a, b| row_order((a.0, a.1.count), (b.0, b.1.count)))
            .map(|(k, _)| *k)
    }

    /// The `net.tcp.group` (or `net.tcp.quality`) object: `state` is echoed.
    ///
    /// Rows: biggest count first; ties by name for users and processes, by the numeric
    /// key (family, address, port) for ports and addresses, whose names are written only
    /// for the rows shown (100k sockets can make 50k groups).
    pub fn report(self, state_name: &str, top: usize, names: &mut dyn Names) -> Json {
        let by = self.by;
        let (total, untracked) = (self.total, self.untracked);
        // (rows shown, sorted; number of groups; sockets in the groups not shown)
        let (rows, groups, rest): (Vec<Row>, usize, u64) = match by {
            By::Process | By::Uid => {
                let mut rows = self.named_rows(names);
                rows.sort_by(|a, b| b.2.count.cmp(&a.2.count).then_with(|| a.0.cmp(&b.0)));
                let rest = rows.iter().skip(top).map(|r| u64::from(r.2.count)).sum();
                let groups = rows.len();
                rows.truncate(top);
                (rows, groups, rest)
            }
            By::Lport | By::Rport | By::Raddr | By::Remote => {
                let mut v: Vec<(GKey, Group)> = self.groups.into_iter().collect();
                let cmp = |a: &(GKey, Group), b: &(GKey, Group)| {
                    row_order((&a.0, a.1.count), (&b.0, b.1.count))
                };
                // At least one row: `max` is the first.
                let keep = top.max(1).min(v.len());
                if keep > 0 && keep < v.len() {
                    v.select_nth_unstable_by(keep - 1, cmp);
                }
                let rest = v.iter().skip(keep).map(|r| u64::from(r.1.count)).sum();
                let groups = v.len();
                v.truncate(keep);
                v.sort_by(cmp);
                let rows = v.into_iter().map(|(k, g)| (k.text(by), None, g)).collect();
                (rows, groups, rest)
            }
        };
        let row = |(name, uid, g): &Row| {
            let mut m = Map::new();
            m.insert("key".into(), json!(name));
            if let Some(u) = uid {
                m.insert("uid".into(), json!(u));
            }
            m.insert("count".into(), json!(g.count));
            if let Some(q) = &g.q {
                m.insert("sendq_nonempty".into(), json!(q.sendq_nonempty));
                if q.with_info > 0 {
                    let mut rtts = q.rtts.clone();
                    rtts.sort_unstable();
                    let p95 = rtts
                        .get((rtts.len() * 95).div_ceil(100).saturating_sub(1))
                        .copied()
                        .unwrap_or(0);
                    let ms = |us: f64| (us / 10.0).round() / 100.0;
                    m.insert("with_info".into(), json!(q.with_info));
                    m.insert(
                        "rtt_avg_ms".into(),
                        json!(ms(q.rtt_sum_us as f64 / f64::from(q.with_info))),
                    );
                    m.insert("rtt_p95_ms".into(), json!(ms(f64::from(p95))));
                    m.insert("rtt_max_ms".into(), json!(ms(f64::from(q.rtt_max_us))));
                    m.insert("retrans".into(), json!(q.retrans));
                    m.insert("lost".into(), json!(q.lost));
                    m.insert("unacked".into(), json!(q.unacked));
                }
            }
            Json::Object(m)
        };
        let max = rows.first().map_or_else(
            || json!({"key": "", "count": 0}),
            |r| json!({"key": r.0, "count": r.2.count}),
        );
        let top_rows: Vec<Json> = rows.iter().take(top).map(row).collect();
        json!({
            "by": by.name(),
            "state": state_name,
            "total": total,
            "groups": groups,
            "max": max,
            "top": top_rows,
            "other": {
                "groups": groups.saturating_sub(top),
                "count": rest + untracked,
            },
        })
    }

    /// Every group with its name: users by uid, processes re-keyed by name ("?" when
    /// not visible).
    fn named_rows(self, names: &mut dyn Names) -> Vec<Row> {
        if self.by != By::Process {
            return self
                .groups
                .into_iter()
                .map(|(k, g)| {
                    let uid = k.u32();
                    (
                        names.user(uid).unwrap_or_else(|| uid.to_string()),
                        Some(uid),
                        g,
                    )
                })
                .collect();
        }
        let inodes: std::collections::HashSet<u32> = self
            .groups
            .keys()
            .map(GKey::u32)
            .filter(|i| *i != 0)
            .collect();
        let owners = names.processes(&inodes);
        let mut merged: HashMap<String, Group> = HashMap::new();
        for (k, g) in self.groups {
            let name = owners.get(&k.u32()).cloned().unwrap_or_else(|| "?".into());
            let m = merged.entry(name).or_default();
            m.count += g.count;
            if let Some(q) = g.q {
                let mq = m.q.get_or_insert_with(Box::default);
                mq.with_info += q.with_info;
                mq.rtt_sum_us += q.rtt_sum_us;
                mq.rtt_max_us = mq.rtt_max_us.max(q.rtt_max_us);
                mq.rtts.extend_from_slice(&q.rtts);
                mq.retrans += q.retrans;
                mq.lost += q.lost;
                mq.unacked += q.unacked;
                mq.sendq_nonempty += q.sendq_nonempty;
            }
        }
        merged.into_iter().map(|(n, g)| (n, None, g)).collect()
    }
}

/// Sockets counted per (group key, owner uid), so that a report can name the user who
/// holds most of one group (the biggest local port or upstream in CLOSE_WAIT, as the
/// [`Grouped`] of the same sockets says).
#[derive(Debug)]
struct Owners {
    by: By,
    counts: FastMap<(GKey, u32), u32>,
}

impl Owners {
    fn new(by: By) -> Owners {
        Owners {
            by,
            counts: FastMap::default(),
        }
    }

    #[inline]
    fn add(&mut self, r: &SockRecord) {
        let k = (self.by.key(r), r.uid);
        if let Some(c) = self.counts.get_mut(&k) {
            *c += 1;
        } else if self.counts.len() < MAX_KEYS {
            self.counts.insert(k, 1);
        }
    }

    /// `{"user": <name, else the uid>, "count": <its sockets>}` for the uid holding most
    /// sockets (then the lowest uid) of `group`; `{"user": "", "count": 0}` when there
    /// is none.
    fn report(&self, group: Option<GKey>, names: &mut dyn Names) -> Json {
        let best = self
            .counts
            .iter()
            .filter(|((g, _), _)| Some(*g) == group)
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0 .1.cmp(&a.0 .1)));
        match best {
            Some(((_, uid), n)) => json!({
                "user": names.user(*uid).unwrap_or_else(|| uid.to_string()),
                "count": n,
            }),
            None => json!({"user": "", "count": 0}),
        }
    }
}

/// Everything `net.tcp.health` computes, in one pass.
#[derive(Debug)]
pub struct Health {
    states: Counts,
    /// Listeners.
    pub listeners: Listeners,
    ephemeral: Ephemeral,
    cw_lport: Grouped,
    cw_remote: Grouped,
    cw_lport_owners: Owners,
    cw_remote_owners: Owners,
}

impl Health {
    /// Empty, for the ephemeral `range`.
    pub fn new(range: EphemeralRange) -> Health {
        Health {
            states: Counts::default(),
            listeners: Listeners::default(),
            ephemeral: Ephemeral::new(range),
            cw_lport: Grouped::new(By::Lport, false),
            cw_remote: Grouped::new(By::Remote, false),
            cw_lport_owners: Owners::new(By::Lport),
            cw_remote_owners: Owners::new(By::Remote),
        }
    }

    /// Empty, keeping every connection for the listeners ([`Listeners::exhaustive`]).
    pub fn exhaustive(range: EphemeralRange) -> Health {
        Health {
            listeners: Listeners::exhaustive(),
            ..Health::new(range)
        }
    }

    /// See [`Listeners::complete`].
    pub fn complete(&self) -> bool {
        self.listeners.complete()
    }

    /// Takes one socket.
    #[inline]
    pub fn add(&mut self, r: &SockRecord) {
        add(&mut self.states, r.state);
        self.listeners.add(r);
        self.ephemeral.add(r);
        if r.state == state::CLOSE_WAIT {
            self.cw_lport.add(r, None);
            self.cw_remote.add(r, None);
            self.cw_lport_owners.add(r);
            self.cw_remote_owners.add(r);
        }
    }

    /// The `net.tcp.health` object.
    pub fn report(self, top: usize, names: &mut dyn Names) -> Json {
        serde_json::from_str(&self.report_text(top, names)).unwrap_or_default()
    }

    /// [`Health::report`] as JSON text: the small parts through `serde_json`, the
    /// listeners (the bulk) written directly; top-level keys sorted as `serde_json::Map`
    /// orders them.
    pub fn report_text(self, top: usize, names: &mut dyn Names) -> String {
        let owner = json!({
            "lport": self.cw_lport_owners.report(self.cw_lport.max_key(), names),
            "remote": self.cw_remote_owners.report(self.cw_remote.max_key(), names),
        });
        let lport = self.cw_lport.report("close_wait", top, names);
        let remote = self.cw_remote.report("close_wait", top, names);
        let close_wait = json!({"lport": lport, "remote": remote, "owner": owner});
        let mut out = String::new();
        let _ = write!(
            out,
            "{{\"close_wait\":{close_wait},\"ephemeral\":{},\"listeners\":",
            self.ephemeral.report(top)
        );
        self.listeners.write_report(&mut out, None, None);
        out.push_str(",\"states\":");
        write_states(&mut out, &self.states);
        out.push('}');
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::sys::sockets::AF_INET6;

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut x = [0u8; 16];
        x[..4].copy_from_slice(&a);
        x
    }

    fn rec(st: u8, src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> SockRecord {
        SockRecord {
            family: AF_INET,
            state: st,
            sport,
            dport,
            src: v4(src),
            dst: v4(dst),
            inode: 0,
            rqueue: 0,
            wqueue: 0,
            uid: 0,
        }
    }

    struct Fake;
    impl Names for Fake {
        fn user(&mut self, uid: u32) -> Option<String> {
            (uid == 0).then(|| "root".to_string())
        }
        fn processes(&mut self, inodes: &std::collections::HashSet<u32>) -> HashMap<u32, String> {
            inodes
                .iter()
                .filter(|i| **i < 100)
                .map(|i| (*i, format!("p{}", i % 2)))
                .collect()
        }
    }

    fn range(low: u16, high: u16) -> EphemeralRange {
        EphemeralRange {
            low,
            high,
            reserved: vec![],
        }
    }

    #[test]
    fn listeners_queues_reuseport_and_states() {
        let mut l = Listeners::default();
        let mut a = rec(state::LISTEN, [0, 0, 0, 0], 80, [0; 4], 0);
        (a.rqueue, a.wqueue) = (3, 511);
        l.add(&a);
        l.add(&a); // SO_REUSEPORT sibling: one listener, queues summed
        let mut b = rec(state::LISTEN, [127, 0, 0, 1], 8080, [0; 4], 0);
        (b.rqueue, b.wqueue) = (8, 8);
        l.add(&b);
        let mut v6 = rec(state::LISTEN, [0; 4], 22, [0; 4], 0);
        v6.family = AF_INET6;
        l.add(&v6);
        for _ in 0..4 {
            l.add(&rec(
                state::ESTABLISHED,
                [10, 0, 0, 1],
                80,
                [10, 0, 0, 9],
                5000,
            ));
        }
        l.add(&rec(
            state::SYN_RECV,
            [10, 0, 0, 1],
            80,
            [10, 0, 0, 9],
            5001,
        ));
        l.add(&rec(
            state::CLOSE_WAIT,
            [127, 0, 0, 1],
            8080,
            [127, 0, 0, 1],
            5002,
        ));
        // same port, other address: not the 127.0.0.1 listener's
        l.add(&rec(
            state::ESTABLISHED,
            [127, 0, 0, 2],
            8080,
            [127, 0, 0, 1],
            5003,
        ));
        let j = l.report(None, None);
        let w = &j["0.0.0.0:80"];
        assert_eq!(w["sockets"], 2);
        assert_eq!(w["queue"], 6);
        assert_eq!(w["backlog"], 1022);
        assert_eq!(w["queue_pct"], 0.59);
        assert_eq!(w["syn_recv"], 1);
        assert_eq!(w["states"]["established"], 4);
        let e = &j["127.0.0.1:8080"];
        assert_eq!(
            (e["queue_pct"].as_f64(), e["states"]["close_wait"].as_u64()),
            (Some(100.0), Some(1))
        );
        assert_eq!(e["states"]["established"], 0);
        assert_eq!(j["[::]:22"]["port"], 22);
        assert_eq!(j.as_object().unwrap().len(), 3);
        let f = AddrFilter::new("127.0.0.1".parse().unwrap(), None).unwrap();
        let only = l.report(Some(&f), None);
        assert_eq!(only.as_object().unwrap().len(), 1);
        assert_eq!(l.report(None, Some(22)).as_object().unwrap().len(), 1);
        let ids = l.ids();
        assert_eq!(
            ids[0],
            ("0.0.0.0:80".to_string(), "0.0.0.0".to_string(), 80, 1022)
        );
    }

    /// A population in the kernel's order (listeners first), and the same sockets with
    /// the connections first: the gated aggregator equals the exhaustive one on the
    /// first and says it is incomplete on the second, where the exhaustive one still
    /// gives the same answer.
    #[test]
    fn listeners_keep_only_listening_ports_and_detect_another_order() {
        let mut socks = vec![
            rec(state::LISTEN, [0; 4], 80, [0; 4], 0),
            rec(state::LISTEN, [127, 0, 0, 1], 8080, [0; 4], 0),
        ];
        let mut v6 = rec(state::LISTEN, [0; 4], 443, [0; 4], 0);
        v6.family = AF_INET6;
        socks.push(v6);
        for i in 0..2000u16 {
            let st = [state::ESTABLISHED, state::TIME_WAIT, state::CLOSE_WAIT][usize::from(i % 3)];
            // server side on a listening port, client side on an ephemeral one
            socks.push(rec(
                st,
                [10, 0, 0, 1],
                80,
                [10, 0, (i >> 8) as u8, i as u8],
                30000 + i,
            ));
            socks.push(rec(st, [10, 0, 0, 9], 30000 + i, [10, 0, 0, 1], 80));
            // port 443 over IPv4: the only 443 listener is IPv6-only-family: not attributed
            socks.push(rec(st, [10, 0, 0, 1], 443, [10, 0, 0, 9], 40000 + i));
        }
        let mut on6 = rec(state::ESTABLISHED, [0; 4], 443, [0; 4], 1234);
        on6.family = AF_INET6;
        on6.src[15] = 1;
        socks.push(on6);
        let run = |mut l: Listeners, socks: &[SockRecord]| {
            for r in socks {
                l.add(r);
            }
            l
        };
        let gated = run(Listeners::default(), &socks);
        let all = run(Listeners::exhaustive(), &socks);
        assert!(gated.complete() && all.complete());
        assert_eq!(gated.report(None, None), all.report(None, None));
        let j = gated.report(None, None);
        assert_eq!(j["0.0.0.0:80"]["states"]["close_wait"], 666);
        assert_eq!(j["[::]:443"]["states"]["established"], 1);
        // Kept: the server sides on port 80 and the IPv6 one on 443 only.
        assert_eq!(gated.local.len(), 2);
        assert_eq!(all.local.len(), 2003);

        let mut reversed = socks.clone();
        reversed.reverse();
        let late = run(Listeners::default(), &reversed);
        assert!(!late.complete());
        let again = run(Listeners::exhaustive(), &reversed);
        assert!(again.complete());
        assert_eq!(again.report(None, None), all.report(None, None));
    }

    #[test]
    fn ephemeral_top_other_and_pct() {
        let mut e = Ephemeral::new(EphemeralRange {
            low: 40000,
            high: 40099,
            reserved: vec![(40090, 40099)],
        });
        for p in 40000..40045 {
            e.add(&rec(
                state::TIME_WAIT,
                [10, 0, 0, 2],
                p,
                [10, 0, 0, 1],
                5432,
            ));
        }
        for p in 40045..40050 {
            e.add(&rec(
                state::ESTABLISHED,
                [10, 0, 0, 2],
                p,
                [10, 0, 0, 3],
                80,
            ));
        }
        e.add(&rec(
            state::ESTABLISHED,
            [10, 0, 0, 2],
            40050,
            [10, 0, 0, 4],
            80,
        ));
        e.add(&rec(
            state::ESTABLISHED,
            [10, 0, 0, 2],
            80,
            [10, 0, 0, 5],
            40001,
        )); // server side
        e.add(&rec(state::LISTEN, [0; 4], 40060, [0; 4], 0));
        let j = e.report(2);
        assert_eq!(j["size"], 90);
        assert_eq!(j["reserved"], 10);
        assert_eq!(j["in_use"], 51);
        assert_eq!(j["destinations"], 3);
        assert_eq!(j["max_pct"], 50.0);
        assert_eq!(j["worst"], "10.0.0.2->10.0.0.1:5432");
        assert_eq!(j["top"][1]["count"], 5);
        assert_eq!(j["top"][1]["pct"], 5.56);
        assert_eq!(j["other"], json!({"destinations": 1, "count": 1}));
        let empty = Ephemeral::new(range(1, 2)).report(10);
        assert_eq!(
            (empty["worst"].as_str(), empty["max_pct"].as_f64()),
            (Some(""), Some(0.0))
        );
    }

    #[test]
    fn groups_top_other_uid_process_and_bounds() {
        let mut g = Grouped::new(By::Remote, false);
        for i in 0..5u8 {
            for _ in 0..=i {
                g.add(
                    &rec(state::CLOSE_WAIT, [10, 0, 0, 2], 1, [10, 0, 0, i], 5432),
                    None,
                );
            }
        }
        let j = g.report("close_wait", 2, &mut Fake);
        assert_eq!(j["total"], 15);
        assert_eq!(j["groups"], 5);
        assert_eq!(j["max"], json!({"key": "10.0.0.4:5432", "count": 5}));
        assert_eq!(j["top"].as_array().unwrap().len(), 2);
        assert_eq!(j["other"], json!({"groups": 3, "count": 6}));
        let empty = Grouped::new(By::Lport, false).report("", 10, &mut Fake);
        assert_eq!(empty["max"], json!({"key": "", "count": 0}));

        let mut u = Grouped::new(By::Uid, false);
        let mut r = rec(state::ESTABLISHED, [1, 1, 1, 1], 1, [2, 2, 2, 2], 2);
        u.add(&r, None);
        r.uid = 4242;
        u.add(&r, None);
        u.add(&r, None);
        let j = u.report("", 10, &mut Fake);
        assert_eq!(j["top"][0], json!({"key": "4242", "uid": 4242, "count": 2}));
        assert_eq!(j["top"][1], json!({"key": "root", "uid": 0, "count": 1}));

        let mut p = Grouped::new(By::Process, false);
        for inode in [1, 3, 2, 500, 0] {
            r.inode = inode;
            p.add(&r, None);
        }
        let j = p.report("", 10, &mut Fake);
        assert_eq!(j["top"][0], json!({"key": "?", "count": 2}));
        assert_eq!(j["top"][1], json!({"key": "p1", "count": 2}));
        assert_eq!(j["top"][2], json!({"key": "p0", "count": 1}));

        // Ties by the numeric key, not the text: port 80 before port 1000 (the text
        // order would put "1000" first); addresses by their bytes.
        let mut t = Grouped::new(By::Rport, false);
        for p in [1000, 80, 9, 80, 1000, 9] {
            t.add(&rec(state::ESTABLISHED, [1; 4], 1, [2; 4], p), None);
        }
        let j = t.report("", 2, &mut Fake);
        let keys: Vec<&str> = j["top"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["9", "80"]);
        assert_eq!(j["other"], json!({"groups": 1, "count": 2}));
        let mut a = Grouped::new(By::Raddr, false);
        for d in [[10, 0, 0, 10], [10, 0, 0, 9], [9, 255, 0, 1]] {
            a.add(&rec(state::ESTABLISHED, [1; 4], 1, d, 5), None);
        }
        let j = a.report("", 10, &mut Fake);
        let keys: Vec<&str> = j["top"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["9.255.0.1", "10.0.0.9", "10.0.0.10"]);

        // Bounded: past MAX_KEYS new keys only count.
        let mut b = Grouped::new(By::Lport, false);
        for port in 0..=u16::MAX {
            b.add(&rec(state::ESTABLISHED, [1; 4], port, [2; 4], 1), None);
        }
        b.add(&rec(state::ESTABLISHED, [1; 4], 7, [2; 4], 1), None);
        assert_eq!(b.groups.len(), MAX_KEYS);
        let j = b.report("", 1, &mut Fake);
        assert_eq!(j["total"], 65537);
        assert_eq!(j["max"]["count"], 2);
    }

    #[test]
    fn quality_sums_and_absent_info() {
        let mut g = Grouped::new(By::Rport, true);
        let mut r = rec(state::ESTABLISHED, [1; 4], 1, [2; 4], 443);
        for (i, rtt) in (1..=20u32).map(|ms| ms * 1000).enumerate() {
            r.wqueue = u32::from(i % 2 == 0);
            let info = TcpInfo {
                rtt_us: rtt,
                unacked: 1,
                lost: 0,
                total_retrans: 2,
            };
            g.add(&r, Some(&info));
        }
        r.dport = 80;
        g.add(&r, None);
        let j = g.report("", 10, &mut Fake);
        let q = &j["top"][0];
        assert_eq!(q["key"], "443");
        assert_eq!(q["rtt_avg_ms"], 10.5);
        assert_eq!(q["rtt_p95_ms"], 19.0);
        assert_eq!(q["rtt_max_ms"], 20.0);
        assert_eq!(q["retrans"], 40);
        assert_eq!(q["unacked"], 20);
        assert_eq!(q["sendq_nonempty"], 10);
        // No tcp_info: counts intact, quality fields absent.
        assert_eq!(
            j["top"][1],
            json!({"key": "80", "count": 1, "sendq_nonempty": 0})
        );
    }

    #[test]
    fn health_is_every_part_from_one_pass() {
        let mut h = Health::new(range(40000, 40999));
        let mut l = rec(state::LISTEN, [0; 4], 80, [0; 4], 0);
        l.wqueue = 128;
        h.add(&l);
        h.add(&rec(
            state::CLOSE_WAIT,
            [10, 0, 0, 1],
            80,
            [10, 0, 0, 9],
            40001,
        ));
        h.add(&rec(
            state::CLOSE_WAIT,
            [10, 0, 0, 1],
            40002,
            [10, 0, 0, 9],
            5432,
        ));
        let j = h.report(10, &mut Fake);
        assert_eq!(j["states"]["close_wait"], 2);
        assert_eq!(j["states"]["listen"], 1);
        assert_eq!(j["listeners"]["0.0.0.0:80"]["states"]["close_wait"], 1);
        assert_eq!(j["ephemeral"]["in_use"], 1);
        assert_eq!(j["close_wait"]["lport"]["groups"], 2);
        // A tie (1 and 1): the lower port first.
        assert_eq!(j["close_wait"]["remote"]["max"]["key"], "10.0.0.9:5432");
        // The user holding most of the biggest port / upstream.
        assert_eq!(
            j["close_wait"]["owner"],
            json!({"lport": {"user": "root", "count": 1}, "remote": {"user": "root", "count": 1}})
        );
    }

    #[test]
    fn close_wait_owner_is_the_user_of_the_biggest_group() {
        let mut h = Health::new(range(40000, 40999));
        // Server side, port 8080: 3 sockets of uid 4242 and 1 of root (clients 10.0.0.9).
        for (uid, dport) in [(4242, 50_000), (4242, 50_001), (4242, 50_002), (0, 50_003)] {
            let mut r = rec(state::CLOSE_WAIT, [10, 0, 0, 1], 8080, [10, 0, 0, 9], dport);
            r.uid = uid;
            h.add(&r);
        }
        // Client side: 2 sockets of root towards the upstream 10.0.0.7:5432.
        for sport in [40_001, 40_002] {
            h.add(&rec(
                state::CLOSE_WAIT,
                [10, 0, 0, 1],
                sport,
                [10, 0, 0, 7],
                5432,
            ));
        }
        let j = h.report(10, &mut Fake);
        assert_eq!(j["close_wait"]["lport"]["max"]["key"], "8080");
        assert_eq!(
            j["close_wait"]["owner"]["lport"],
            json!({"user": "4242", "count": 3})
        );
        assert_eq!(j["close_wait"]["remote"]["max"]["key"], "10.0.0.7:5432");
        assert_eq!(
            j["close_wait"]["owner"]["remote"],
            json!({"user": "root", "count": 2})
        );
        // Nothing in CLOSE_WAIT: empty owners.
        let empty = Health::new(range(40000, 40999)).report(10, &mut Fake);
        assert_eq!(
            empty["close_wait"]["owner"]["lport"],
            json!({"user": "", "count": 0})
        );
    }
}
