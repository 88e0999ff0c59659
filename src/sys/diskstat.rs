//! Disk statistics for vfs.dev.read/write: the sum zabbix_agentd computes over
//! `/proc/diskstats` (pure), and the per-device rate history the collector keeps for the
//! `sps`/`ops` types (a device is added on its first request, sampled every second with
//! the CPU collector, 15 minutes kept).
//!
//! It must not know about keys or reason texts.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use super::procfs::DiskStat;

/// Most devices the collector follows; more are refused (zabbix_agentd has a similar
/// fixed-size table in shared memory).
pub const MAX_DEVICES: usize = 1024;
/// Seconds of history kept per device.
pub const MAX_HISTORY: usize = 15 * 60 + 1;

/// The counters of `devname` as zabbix_agentd adds them up: every line for an empty
/// name or `all`; else the line with that kernel name, or the lines whose device numbers
/// are `rdev` (the `/dev/<name>` node's). `None` when no line matched.
pub fn diskstat_sum(
    stats: &[DiskStat],
    devname: &str,
    rdev: Option<(u64, u64)>,
) -> Option<[u64; 4]> {
    let all = devname.is_empty() || devname == "all";
    let mut sum = [0u64; 4];
    let mut matched = false;
    for d in stats {
        let by_name = d.name == devname;
        if !all && !by_name && rdev != Some((d.major, d.minor)) {
            continue;
        }
        for (s, c) in sum.iter_mut().zip(d.counters) {
            *s = s.wrapping_add(c);
        }
        matched = true;
        if !all && by_name {
            break;
        }
    }
    matched.then_some(sum)
}

/// One device's samples: when, and reads, read sectors, writes, written sectors.
#[derive(Debug, Clone, Default)]
pub struct DiskHistory {
    samples: VecDeque<(f64, [u64; 4])>,
}

impl DiskHistory {
    /// Appends a sample taken `t` seconds after some fixed origin.
    pub fn push(&mut self, t: f64, counters: [u64; 4]) {
        if self.samples.len() == MAX_HISTORY {
            self.samples.pop_front();
        }
        self.samples.push_back((t, counters));
    }

    /// Per-second rate of counter `which` over the last `secs` seconds (or as much history
    /// as there is); 0 with fewer than two samples.
    pub fn rate(&self, which: usize, secs: usize) -> f64 {
        let n = self.samples.len();
        if n < 2 {
            return 0.0;
        }
        let (t1, c1) = self.samples[n - 1];
        let (t0, c0) = self.samples[n - 1 - (n - 1).min(secs)];
        if t1 <= t0 {
            return 0.0;
        }
        c1[which].saturating_sub(c0[which]) as f64 / (t1 - t0)
    }
}

/// The followed devices, keyed by kernel name (`""` = all).
#[derive(Debug)]
pub struct Disks {
    origin: Instant,
    devices: HashMap<String, DiskHistory>,
}

static DISKS: OnceLock<Mutex<Disks>> = OnceLock::new();

/// The device table (created on first use).
pub fn disks() -> &'static Mutex<Disks> {
    DISKS.get_or_init(|| {
        Mutex::new(Disks {
            origin: Instant::now(),
            devices: HashMap::new(),
        })
    })
}

impl Disks {
    /// Seconds since the table was created.
    fn now(&self) -> f64 {
        self.origin.elapsed().as_secs_f64()
    }

    /// The history of `name`, adding the device with `first` as its first sample when it is
    /// new; `None` when the table is full.
    pub fn get_or_add(&mut self, name: &str, first: [u64; 4]) -> Option<&DiskHistory> {
        if !self.devices.contains_key(name) {
            if self.devices.len() >= MAX_DEVICES {
                return None;
            }
            let t = self.now();
            let mut h = DiskHistory::default();
            h.push(t, first);
            self.devices.insert(name.to_string(), h);
        }
        self.devices.get(name)
    }

    /// Takes one sample of every followed device from a `/proc/diskstats` parse.
    pub fn sample(&mut self, stats: &[DiskStat]) {
        let t = self.now();
        for (name, h) in self.devices.iter_mut() {
            if let Some(c) = diskstat_sum(stats, name, None) {
                h.push(t, c);
            }
        }
    }

    /// Whether any device is followed.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(major: u64, minor: u64, name: &str, c: [u64; 4]) -> DiskStat {
        DiskStat {
            major,
            minor,
            name: name.into(),
            counters: c,
        }
    }

    #[test]
    fn sums_like_agentd() {
        let s = [
            d(254, 0, "vda", [10, 20, 30, 40]),
            d(254, 1, "vda1", [1, 2, 3, 4]),
            d(253, 0, "dm-0", [5, 5, 5, 5]),
        ];
        assert_eq!(diskstat_sum(&s, "", None), Some([16, 27, 38, 49]));
        assert_eq!(diskstat_sum(&s, "all", None), Some([16, 27, 38, 49]));
        assert_eq!(diskstat_sum(&s, "vda", None), Some([10, 20, 30, 40]));
        // /dev/mapper/root is 253:0, known to the kernel as dm-0.
        assert_eq!(
            diskstat_sum(&s, "/dev/mapper/root", Some((253, 0))),
            Some([5, 5, 5, 5])
        );
        assert_eq!(diskstat_sum(&s, "nope", None), None);
    }

    #[test]
    fn rates_over_windows() {
        let mut h = DiskHistory::default();
        assert_eq!(h.rate(0, 60), 0.0);
        h.push(0.0, [0, 0, 0, 0]);
        assert_eq!(h.rate(0, 60), 0.0);
        for i in 1..=10u64 {
            h.push(i as f64, [i * 5, i * 100, 0, 0]);
        }
        assert_eq!(h.rate(0, 60), 5.0);
        assert_eq!(h.rate(1, 2), 100.0);
        assert_eq!(h.rate(2, 60), 0.0);
    }
}
