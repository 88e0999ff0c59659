//! The CPU collector behind `system.cpu.util` and `system.cpu.discovery`: one `/proc/stat`
//! sample per second, 15 minutes kept, utilisation computed as zabbix_agentd 6.0 does.
//! The same one-second task samples the disks vfs.dev.read/write follow
//! ([`super::diskstat`]) and the process queries of proc.cpu.util ([`super::procstat`]).
//!
//! Owns the sample history (pure, tested on synthetic samples), the `/proc/stat` parse and
//! the sampling task. The task runs only where `zagent run` starts it
//! ([`run_collector`]); until then the keys answer "Collector is not started." as
//! `zabbix_agentd -t` does. It must not know about keys or parameters.

use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Seconds of history kept: 15 minutes plus the base sample.
pub const MAX_HISTORY: usize = 15 * 60 + 1;
/// Time between samples.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);
/// The states of `/proc/stat`, in zabbix_agentd's order: user, nice, system, idle,
/// iowait, interrupt, softirq, steal, guest, guest_nice.
pub const STATES: usize = 10;

/// One CPU's counters (jiffies), guest time taken out of user and nice as the C agent
/// does. `None`: the CPU had no line in this sample (offline).
pub type Counters = Option<[u64; STATES]>;

/// Parses `/proc/stat`: index 0 is the `cpu` total line, `i` is `cpu{i-1}`, for `ncpu`
/// CPUs; CPUs without a line are `None`.
pub fn parse_proc_stat(text: &str, ncpu: usize) -> Vec<Counters> {
    let mut out: Vec<Counters> = vec![None; ncpu + 1];
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("cpu") else {
            continue;
        };
        let (idx, fields) = match rest.split_once(' ') {
            Some(("", f)) => (0, f),
            Some((n, f)) => match n.parse::<usize>() {
                Ok(n) if n < ncpu => (n + 1, f),
                _ => continue,
            },
            None => continue,
        };
        let mut c = [0u64; STATES];
        for (slot, v) in c.iter_mut().zip(fields.split_whitespace()) {
            *slot = v.parse().unwrap_or(0);
        }
        c[0] = c[0].saturating_sub(c[8]);
        c[1] = c[1].saturating_sub(c[9]);
        out[idx] = Some(c);
    }
    out
}

/// Why a utilisation cannot be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CpuError {
    /// No collector runs (the official text).
    #[error("Collector is not started.")]
    NotStarted,
    /// Unknown CPU, or its latest sample failed (the official text).
    #[error("Cannot obtain CPU information.")]
    NoCpu,
}

/// Per-CPU sample rings (index 0 = all CPUs).
#[derive(Debug, Clone)]
pub struct CpuHistory {
    cpus: Vec<VecDeque<Counters>>,
}

impl CpuHistory {
    /// Empty history for `ncpu` CPUs.
    pub fn new(ncpu: usize) -> CpuHistory {
        CpuHistory {
            cpus: vec![VecDeque::new(); ncpu + 1],
        }
    }

    /// Number of CPUs (without the total).
    pub fn ncpu(&self) -> usize {
        self.cpus.len() - 1
    }

    /// Appends one sample (as [`parse_proc_stat`] returns it), dropping the oldest past
    /// [`MAX_HISTORY`].
    pub fn push(&mut self, sample: &[Counters]) {
        for (i, ring) in self.cpus.iter_mut().enumerate() {
            if ring.len() == MAX_HISTORY {
                ring.pop_front();
            }
            ring.push_back(sample.get(i).copied().flatten());
        }
    }

    /// Whether each CPU's latest sample succeeded (for discovery), CPU 0 first.
    pub fn online(&self) -> Vec<bool> {
        self.cpus[1..]
            .iter()
            .map(|r| matches!(r.back(), Some(Some(_))))
            .collect()
    }

    /// Percent of `state` over the last `secs` seconds for CPU `cpu` (`None` = all).
    pub fn util(&self, cpu: Option<usize>, state: usize, secs: usize) -> Result<f64, CpuError> {
        let idx = match cpu {
            None => 0,
            Some(n) if n < self.ncpu() => n + 1,
            Some(_) => return Err(CpuError::NoCpu),
        };
        let ring = &self.cpus[idx];
        let Some(last) = ring.back() else {
            return Ok(0.0);
        };
        let Some(curr) = last else {
            return Err(CpuError::NoCpu);
        };
        let (counter, total) = if ring.len() == 1 {
            (curr[state], curr.iter().sum::<u64>())
        } else {
            let back = (ring.len() - 1).min(secs);
            let start = ring.len() - 1 - back;
            // The oldest good sample in the window (the latest is good).
            let base = ring
                .iter()
                .skip(start)
                .find_map(|s| s.as_ref())
                .unwrap_or(curr);
            let total: u64 = curr
                .iter()
                .zip(base.iter())
                .map(|(c, b)| c.saturating_sub(*b))
                .sum();
            (curr[state].saturating_sub(base[state]), total)
        };
        Ok(if total == 0 {
            0.0
        } else {
            100.0 * counter as f64 / total as f64
        })
    }
}

static COLLECTOR: OnceLock<Mutex<CpuHistory>> = OnceLock::new();

/// The running collector's history, if one was started in this process.
pub fn collector() -> Option<&'static Mutex<CpuHistory>> {
    COLLECTOR.get()
}

/// Samples `/proc/stat` every second until `shutdown`, for `zagent run`. Only the first
/// call in a process starts a collector; later calls return at once.
pub async fn run_collector(shutdown: CancellationToken) -> std::io::Result<()> {
    // SAFETY: sysconf takes any name and reports -1 on error.
    let conf = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
    let ncpu = usize::try_from(conf).unwrap_or(1).max(1);
    if COLLECTOR.set(Mutex::new(CpuHistory::new(ncpu))).is_err() {
        return Ok(());
    }
    let Some(history) = COLLECTOR.get() else {
        return Ok(());
    };
    tracing::debug!(cpus = ncpu, "CPU collector started");
    let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut logged = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tick.tick() => {}
        }
        // The reads are small but many (process walk): off the async workers.
        let sampled = tokio::task::spawn_blocking(move || sample_all(ncpu, history)).await;
        if let Ok(Err(e)) = sampled {
            if !logged {
                tracing::warn!(error = %e, "Cannot read /proc/stat; CPU utilisation unavailable");
                logged = true;
            }
        }
    }
}

/// One tick: CPUs, followed disks, process queries.
fn sample_all(ncpu: usize, history: &Mutex<CpuHistory>) -> std::io::Result<()> {
    let read = std::fs::read_to_string("/proc/stat");
    let sample = match &read {
        Ok(text) => parse_proc_stat(text, ncpu),
        Err(_) => vec![None; ncpu + 1],
    };
    if let Ok(mut h) = history.lock() {
        h.push(&sample);
    }
    sample_disks();
    super::procstat::collect(&super::procfs::ProcRoot::system());
    read.map(|_| ())
}

/// One sample of every disk device vfs.dev.read/write follows (none until one is asked).
fn sample_disks() {
    let Ok(mut disks) = super::diskstat::disks().lock() else {
        return;
    };
    if disks.is_empty() {
        return;
    }
    if let Ok(text) = std::fs::read_to_string("/proc/diskstats") {
        disks.sample(&super::procfs::parse_diskstats(&text));
    }
}

#[cfg(test)]
#[allow(clippy::panic)] // tests fail by panicking
mod tests {
    use super::*;

    const STAT: &str = "cpu  100 10 50 800 20 5 5 0 30 2\n\
                        cpu0 60 5 25 400 10 3 2 0 20 1\n\
                        cpu1 40 5 25 400 10 2 3 0 10 1\n\
                        intr 1\n";

    #[test]
    fn parse_takes_guest_out_of_user_and_nice() {
        let s = parse_proc_stat(STAT, 3);
        assert_eq!(s.len(), 4);
        assert_eq!(s[0], Some([70, 8, 50, 800, 20, 5, 5, 0, 30, 2]));
        assert_eq!(s[1], Some([40, 4, 25, 400, 10, 3, 2, 0, 20, 1]));
        assert_eq!(s[3], None, "cpu2 has no line: offline");
    }

    fn sample(user: u64, idle: u64) -> Vec<Counters> {
        let c = |u, i| Some([u, 0, 0, i, 0, 0, 0, 0, 0, 0]);
        vec![c(user, idle), c(user, idle)]
    }

    #[test]
    fn utilisation_over_windows() {
        let mut h = CpuHistory::new(1);
        assert_eq!(h.util(None, 0, 60), Ok(0.0), "no data yet");
        h.push(&sample(25, 75));
        assert_eq!(h.util(None, 0, 60), Ok(25.0), "one sample: since boot");
        // 10 s of 50 % user, then 10 s of 100 % user.
        let (mut u, mut i) = (25, 75);
        for _ in 0..10 {
            u += 50;
            i += 50;
            h.push(&sample(u, i));
        }
        for _ in 0..10 {
            u += 100;
            h.push(&sample(u, i));
        }
        assert_eq!(h.util(None, 0, 10), Ok(100.0));
        assert_eq!(h.util(None, 3, 10), Ok(0.0));
        assert_eq!(h.util(None, 0, 20), Ok(75.0));
        assert_eq!(h.util(None, 0, 900), Ok(75.0), "window longer than history");
        assert_eq!(h.util(Some(0), 0, 20), Ok(75.0));
        assert_eq!(h.util(Some(1), 0, 20), Err(CpuError::NoCpu));
    }

    #[test]
    fn failed_samples_are_skipped_or_reported() {
        let mut h = CpuHistory::new(1);
        h.push(&[None, None]);
        h.push(&sample(10, 10));
        h.push(&sample(20, 20));
        assert_eq!(h.util(None, 0, 60), Ok(50.0));
        assert_eq!(h.online(), [true]);
        h.push(&[None, None]);
        assert_eq!(h.util(None, 0, 60), Err(CpuError::NoCpu));
        assert_eq!(h.online(), [false]);
    }

    #[test]
    fn history_is_bounded() {
        let mut h = CpuHistory::new(0);
        for i in 0..(MAX_HISTORY as u64 + 50) {
            h.push(&[Some([i, 0, 0, i, 0, 0, 0, 0, 0, 0])]);
        }
        assert_eq!(h.cpus[0].len(), MAX_HISTORY);
    }
}
