//! The process CPU collector behind `proc.cpu.util`: each query (name, user, cmdline) is
//! registered on its first request; every second the collector walks `/proc`, adds the
//! CPU ticks each matching process used since the previous walk (processes present in
//! both walks only, as zabbix_agentd 6.0), and keeps 15 minutes of these sums.
//!
//! Owns the `/proc/[pid]/stat` parse (pure), the history arithmetic (pure) and the walk;
//! matching is the caller's (a closure over the pid's status and cmdline). Runs only
//! where [`super::cpustat::run_collector`] runs.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use super::procfs::{self, PidStatus, ProcRoot};

/// Most queries followed at once (zabbix_agentd's limit too).
pub const MAX_QUERIES: usize = 1024;
/// Seconds of history per query.
pub const MAX_HISTORY: usize = 15 * 60 + 1;
/// A query nobody asked for this long is dropped (as zabbix_agentd does).
pub const MAX_INACTIVITY_SECS: u64 = 24 * 3600;

/// Decides whether a process belongs to a query, from its status and raw cmdline.
pub type Matcher = Arc<dyn Fn(&PidStatus, &[u8]) -> bool + Send + Sync>;

/// utime, stime and starttime (clock ticks) from a `/proc/[pid]/stat` text.
pub fn parse_pid_stat(text: &str) -> Option<(u64, u64, u64)> {
    // Fields after the command name, which may itself contain spaces and parentheses.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14, stime 15, starttime 22.
    let num = |field: usize| f.get(field - 3).and_then(|v| v.parse::<u64>().ok());
    Some((num(14)?, num(15)?, num(22)?))
}

/// Utilisation in percent of one CPU from a tick count over nanoseconds, truncated to one
/// decimal as zabbix_agentd computes it.
pub fn util_percent(ticks: u64, nanos: u64, clk_tck: u64) -> f64 {
    if nanos == 0 || clk_tck == 0 {
        return 0.0;
    }
    let scaled = (ticks as u128) * 1_000_000_000_000u128 / ((nanos as u128) * (clk_tck as u128));
    scaled as f64 / 10.0
}

/// One query's cumulative user and system ticks, by sample time (nanoseconds).
#[derive(Debug, Clone, Default)]
pub struct QueryHistory {
    samples: VecDeque<(u64, u64, u64)>,
}

impl QueryHistory {
    /// Appends the ticks used since the previous sample.
    pub fn push(&mut self, t_ns: u64, d_user: u64, d_system: u64) {
        let (u, s) = self
            .samples
            .back()
            .map(|&(_, u, s)| (u, s))
            .unwrap_or((0, 0));
        if self.samples.len() == MAX_HISTORY {
            self.samples.pop_front();
        }
        self.samples
            .push_back((t_ns, u.wrapping_add(d_user), s.wrapping_add(d_system)));
    }

    /// Percent over the last `period` samples (user and/or system); `None` with fewer than
    /// two samples.
    pub fn util(&self, user: bool, system: bool, period: usize, clk_tck: u64) -> Option<f64> {
        let n = self.samples.len();
        if n < 2 {
            return None;
        }
        let (t1, u1, s1) = self.samples[n - 1];
        let (t0, u0, s0) = self.samples[n - 1 - period.min(n - 1)];
        let mut ticks = 0;
        if user {
            ticks += u1.wrapping_sub(u0);
        }
        if system {
            ticks += s1.wrapping_sub(s0);
        }
        Some(util_percent(ticks, t1.saturating_sub(t0), clk_tck))
    }
}

struct Query {
    matcher: Matcher,
    history: QueryHistory,
    last_accessed: Instant,
}

/// All queries and the previous walk's per-pid ticks.
struct Procstat {
    origin: Instant,
    queries: HashMap<String, Query>,
    /// pid → (starttime, utime, stime) of the previous walk.
    snapshot: HashMap<u32, (u64, u64, u64)>,
}

static PROCSTAT: OnceLock<Mutex<Procstat>> = OnceLock::new();

fn table() -> &'static Mutex<Procstat> {
    PROCSTAT.get_or_init(|| {
        Mutex::new(Procstat {
            origin: Instant::now(),
            queries: HashMap::new(),
            snapshot: HashMap::new(),
        })
    })
}

/// Why no utilisation can be given yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UtilError {
    /// Fewer than two samples so far (the query may just have been added).
    #[error("Not enough data yet.")]
    NotYet,
    /// The query table is full (the official text).
    #[error("Maximum number of queries reached.")]
    TooManyQueries,
}

/// The utilisation of query `id` (registering it with `matcher` when new).
pub fn get_util(
    id: &str,
    matcher: impl FnOnce() -> Matcher,
    user: bool,
    system: bool,
    period: usize,
) -> Result<f64, UtilError> {
    let Ok(mut t) = table().lock() else {
        return Err(UtilError::NotYet);
    };
    let clk_tck = clock_ticks();
    match t.queries.get_mut(id) {
        Some(q) => {
            q.last_accessed = Instant::now();
            q.history
                .util(user, system, period, clk_tck)
                .ok_or(UtilError::NotYet)
        }
        None => {
            if t.queries.len() >= MAX_QUERIES {
                return Err(UtilError::TooManyQueries);
            }
            t.queries.insert(
                id.to_string(),
                Query {
                    matcher: matcher(),
                    history: QueryHistory::default(),
                    last_accessed: Instant::now(),
                },
            );
            Err(UtilError::NotYet)
        }
    }
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf takes any name and reports -1 on error.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).unwrap_or(100)
}

/// One walk of `/proc` for every query (nothing when there are none).
pub fn collect(root: &ProcRoot) {
    let Ok(mut t) = table().lock() else {
        return;
    };
    t.queries
        .retain(|_, q| q.last_accessed.elapsed().as_secs() < MAX_INACTIVITY_SECS);
    if t.queries.is_empty() {
        t.snapshot.clear();
        return;
    }
    let Ok(pids) = root.pids() else {
        return;
    };
    let now_ns = u64::try_from(t.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let mut snapshot = HashMap::with_capacity(pids.len());
    let mut deltas: Vec<(u64, u64)> = vec![(0, 0); t.queries.len()];
    let matchers: Vec<Matcher> = t.queries.values().map(|q| Arc::clone(&q.matcher)).collect();
    for pid in pids {
        let (Ok(stat), Ok(status), Ok(cmdline)) = (
            root.read(&format!("{pid}/stat")),
            root.read(&format!("{pid}/status")),
            root.read_bytes(&format!("{pid}/cmdline")),
        ) else {
            continue;
        };
        let Some((utime, stime, start)) = parse_pid_stat(&stat) else {
            continue;
        };
        snapshot.insert(pid, (start, utime, stime));
        // Only processes seen in the previous walk (same start time) count.
        let Some(&(pstart, pu, ps)) = t.snapshot.get(&pid) else {
            continue;
        };
        if pstart != start {
            continue;
        }
        let status = procfs::parse_pid_status(&status);
        for (i, m) in matchers.iter().enumerate() {
            if m(&status, &cmdline) {
                deltas[i].0 += utime.saturating_sub(pu);
                deltas[i].1 += stime.saturating_sub(ps);
            }
        }
    }
    for (q, (du, ds)) in t.queries.values_mut().zip(deltas) {
        q.history.push(now_ns, du, ds);
    }
    t.snapshot = snapshot;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_odd_names() {
        let text = "1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 \
                    250 75 0 0 20 0 1 0 98765 1000000 100 18446744073709551615 0 0";
        assert_eq!(parse_pid_stat(text), Some((250, 75, 98765)));
        assert_eq!(parse_pid_stat("garbage"), None);
    }

    #[test]
    fn percent_truncated_to_one_decimal() {
        assert_eq!(util_percent(100, 1_000_000_000, 100), 100.0);
        assert_eq!(util_percent(1, 3_000_000_000, 100), 0.3);
        assert_eq!(util_percent(250, 1_000_000_000, 100), 250.0);
        assert_eq!(util_percent(5, 0, 100), 0.0);
    }

    #[test]
    fn history_windows() {
        let mut h = QueryHistory::default();
        assert_eq!(h.util(true, true, 60, 100), None);
        h.push(0, 0, 0);
        assert_eq!(h.util(true, true, 60, 100), None);
        // 10 s at 50 % user + 10 % system of one CPU.
        for i in 1..=10u64 {
            h.push(i * 1_000_000_000, 50, 10);
        }
        assert_eq!(h.util(true, false, 60, 100), Some(50.0));
        assert_eq!(h.util(false, true, 60, 100), Some(10.0));
        assert_eq!(h.util(true, true, 2, 100), Some(60.0));
    }
}
