//! `/proc` readers for the system, kernel, vfs, proc and net.if key families: small fetch
//! functions (I/O under an overridable [`ProcRoot`]) and pure parsers tested on fixtures.
//!
//! It must not know about keys, parameters or reason texts beyond the I/O error it hit.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::oserror::zbx_strerror;

/// Largest `/proc` text file read whole (meminfo, net/dev, mounts, a pid's status).
/// Bigger files are cut here; none of the files read this way comes near it.
pub const MAX_PROC_FILE: u64 = 4 * 1024 * 1024;

/// A `/proc` file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("Cannot open {path}: {reason}")]
pub struct ProcError {
    /// The file, as zabbix_agentd names it (`/proc/meminfo`).
    pub path: String,
    /// `[errno] message`.
    pub reason: String,
    /// The I/O error, to tell "vanished" (ENOENT, ESRCH) from real failures.
    pub kind: io::ErrorKind,
}

/// Where `/proc` lives: `/proc` on a running system, a fixture directory in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcRoot(PathBuf);

impl Default for ProcRoot {
    fn default() -> Self {
        ProcRoot::system()
    }
}

impl ProcRoot {
    /// The real `/proc`.
    pub fn system() -> ProcRoot {
        ProcRoot(PathBuf::from("/proc"))
    }

    /// Another directory laid out like `/proc` (tests).
    pub fn new(path: impl Into<PathBuf>) -> ProcRoot {
        ProcRoot(path.into())
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Reads `rel` (e.g. `meminfo`, `net/dev`) as text, lossily, up to [`MAX_PROC_FILE`].
    pub fn read(&self, rel: &str) -> Result<String, ProcError> {
        let bytes = self.read_bytes(rel)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Reads `rel` as bytes, up to [`MAX_PROC_FILE`].
    pub fn read_bytes(&self, rel: &str) -> Result<Vec<u8>, ProcError> {
        use std::io::Read;
        let path = self.0.join(rel);
        let err = |e: io::Error| ProcError {
            path: format!("/proc/{rel}"),
            reason: zbx_strerror(&e),
            kind: e.kind(),
        };
        let f = fs::File::open(&path).map_err(err)?;
        let mut buf = Vec::new();
        f.take(MAX_PROC_FILE).read_to_end(&mut buf).map_err(err)?;
        Ok(buf)
    }

    /// The numeric entries of the root (process ids), in directory order.
    pub fn pids(&self) -> Result<Vec<u32>, ProcError> {
        let rd = fs::read_dir(&self.0).map_err(|e| ProcError {
            path: "/proc".to_string(),
            reason: zbx_strerror(&e),
            kind: e.kind(),
        })?;
        Ok(rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
            .collect())
    }
}

/// A `/proc/meminfo` value in bytes: `label` includes the colon (`MemTotal:`); the unit
/// (`kB`, `mB`, `GB`, `TB`, none) is applied as zabbix_agentd does.
pub fn meminfo_bytes(text: &str, label: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(label))?;
    let rest = line[label.len()..].trim();
    let mut parts = rest.split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    let shift = match parts.next() {
        Some(u) if u.eq_ignore_ascii_case("kb") => 10,
        Some(u) if u.eq_ignore_ascii_case("mb") => 20,
        Some(u) if u.eq_ignore_ascii_case("gb") => 30,
        Some(u) if u.eq_ignore_ascii_case("tb") => 40,
        _ => 0,
    };
    value.checked_shl(shift)
}

/// Whole seconds since boot from `/proc/uptime` (`434.57 850.12`).
pub fn parse_uptime(text: &str) -> Option<u64> {
    let first = text.split_whitespace().next()?;
    let secs = first.split('.').next()?;
    secs.parse().ok()
}

/// Boot time (unix seconds) from the `btime` line of `/proc/stat`.
pub fn parse_btime(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The first unsigned number of a one-line file (`/proc/sys/fs/file-max`,
/// `/proc/sys/fs/file-nr`, `/proc/sys/kernel/pid_max`).
pub fn first_u64(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// One interface's counters from `/proc/net/dev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDev {
    /// Interface name.
    pub name: String,
    /// Receive: bytes packets errs drop fifo frame compressed multicast.
    pub rx: [u64; 8],
    /// Transmit: bytes packets errs drop fifo colls carrier compressed.
    pub tx: [u64; 8],
}

/// Parses `/proc/net/dev`; lines without a colon (the two headers) or with fewer than 16
/// numbers are skipped.
pub fn parse_net_dev(text: &str) -> Vec<NetDev> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let nums: Vec<u64> = rest
            .split_whitespace()
            .map_while(|f| f.parse().ok())
            .collect();
        if nums.len() < 16 {
            continue;
        }
        let mut rx = [0; 8];
        let mut tx = [0; 8];
        rx.copy_from_slice(&nums[..8]);
        tx.copy_from_slice(&nums[8..16]);
        out.push(NetDev {
            name: name.trim().to_string(),
            rx,
            tx,
        });
    }
    out
}

/// Interface names of `/proc/net/dev`: every line with a colon, left-trimmed, whatever
/// follows (as zabbix_agentd's net.if.discovery lists them).
pub fn net_dev_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(name, _)| name.trim_start_matches(' ').to_string())
        .collect()
}

/// One line of `/proc/diskstats`: the counters vfs.dev.read/write use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskStat {
    /// Major device number.
    pub major: u64,
    /// Minor device number.
    pub minor: u64,
    /// Kernel device name.
    pub name: String,
    /// Reads completed, sectors read, writes completed, sectors written.
    pub counters: [u64; 4],
}

/// Parses `/proc/diskstats` (the 14-or-more-field format, and the 7-field one old
/// kernels used for partitions); other lines are skipped.
pub fn parse_diskstats(text: &str) -> Vec<DiskStat> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let idx: [usize; 4] = match f.len() {
                n if n >= 14 => [3, 5, 7, 9],
                7 => [3, 4, 5, 6],
                _ => return None,
            };
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
            Some(DiskStat {
                major: num(0)?,
                minor: num(1)?,
                name: f.get(2)?.to_string(),
                counters: [num(idx[0])?, num(idx[1])?, num(idx[2])?, num(idx[3])?],
            })
        })
        .collect()
}

/// One line of `/proc/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Device or source.
    pub source: String,
    /// Mount point, as written in the file (octal escapes such as `\040` kept, as
    /// zabbix_agentd keeps them).
    pub mountpoint: String,
    /// File system type.
    pub fstype: String,
}

/// Parses `/proc/mounts`, in file order, duplicates kept.
pub fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some(Mount {
                source: f.next()?.to_string(),
                mountpoint: f.next()?.to_string(),
                fstype: f.next()?.to_string(),
            })
        })
        .collect()
}

/// What proc.num needs from `/proc/[pid]/status`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PidStatus {
    /// `Name:` (the kernel's comm, at most 15 bytes).
    pub name: Option<String>,
    /// First letter of `State:` (`R`, `S`, `D`, `Z`, `T`, `t`, `I`, …).
    pub state: Option<char>,
    /// Real uid (first field of `Uid:`).
    pub uid: Option<u32>,
}

/// Parses a `/proc/[pid]/status` text.
pub fn parse_pid_status(text: &str) -> PidStatus {
    let mut st = PidStatus::default();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("Name:\t") {
            st.name = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("State:\t") {
            st.state = v.chars().next();
        } else if let Some(v) = line.strip_prefix("Uid:\t") {
            st.uid = v.split('\t').next().and_then(|u| u.trim().parse().ok());
        }
    }
    st
}

/// The basename of argv[0] from a raw `/proc/[pid]/cmdline` (empty for kernel threads).
pub fn cmdline_arg0_base(raw: &[u8]) -> String {
    let arg0 = raw.split(|b| *b == 0).next().unwrap_or(&[]);
    let base = match arg0.iter().rposition(|b| *b == b'/') {
        Some(i) => &arg0[i + 1..],
        None => arg0,
    };
    String::from_utf8_lossy(base).into_owned()
}

/// A raw `/proc/[pid]/cmdline` as one line: arguments joined by spaces, as
/// zabbix_agentd matches proc.num's `cmdline` regex against it (raw bytes: a command
/// line that is not UTF-8 matches no expression there, so none is repaired here).
pub fn cmdline_joined(raw: &[u8]) -> Vec<u8> {
    let trimmed = raw.strip_suffix(&[0]).unwrap_or(raw);
    trimmed
        .iter()
        .map(|b| if *b == 0 { b' ' } else { *b })
        .collect()
}

#[cfg(test)]
#[allow(clippy::panic)] // tests fail by panicking
mod tests {
    use super::*;

    fn fixture(rel: &str) -> String {
        let root = ProcRoot::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proc"));
        root.read(rel)
            .unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
    }

    #[test]
    fn meminfo_values_in_bytes() {
        let t = fixture("meminfo");
        assert_eq!(meminfo_bytes(&t, "MemTotal:"), Some(24684084 * 1024));
        assert_eq!(meminfo_bytes(&t, "MemAvailable:"), Some(24277156 * 1024));
        assert_eq!(meminfo_bytes(&t, "Cached:"), Some(1089192 * 1024));
        assert_eq!(meminfo_bytes(&t, "HugePages_Total:"), Some(0));
        assert_eq!(meminfo_bytes(&t, "Nope:"), None);
        assert_eq!(meminfo_bytes("Foo: 3 mB\n", "Foo:"), Some(3 << 20));
    }

    #[test]
    fn uptime_btime_and_one_liners() {
        assert_eq!(parse_uptime(&fixture("uptime")), Some(434));
        assert_eq!(parse_btime(&fixture("stat")), Some(1795270785));
        assert_eq!(first_u64(&fixture("sys/fs/file-nr")), Some(530));
        assert_eq!(first_u64(&fixture("sys/fs/file-max")), Some(2466170));
        assert_eq!(first_u64(&fixture("sys/kernel/pid_max")), Some(32768));
        assert_eq!(parse_uptime(""), None);
        assert_eq!(parse_btime("cpu 1 2 3\n"), None);
    }

    #[test]
    fn net_dev_counters() {
        let devs = parse_net_dev(&fixture("net/dev"));
        let names: Vec<&str> = devs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["lo", "ifb0", "ifb1", "eth0"]);
        let eth0 = &devs[3];
        assert_eq!(eth0.rx, [63562061, 2240, 1, 2, 3, 4, 5, 6]);
        assert_eq!(eth0.tx, [104323, 1098, 7, 8, 9, 10, 11, 12]);
        assert_eq!(
            net_dev_names(&fixture("net/dev")),
            ["lo", "ifb0", "ifb1", "eth0"]
        );
        assert_eq!(net_dev_names("  odd: 1 2\n"), ["odd"]);
    }

    #[test]
    fn diskstats_both_formats() {
        let text = " 254       0 vda 142844 9029 9268778 2810904 59202 107810 36906264 433547 0 132104 3313811 36156 85 17359992 66387 6216 2972\n   8       1 sda1 10 20 30 40\n   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0\n bad line\n";
        let d = parse_diskstats(text);
        assert_eq!(d.len(), 3);
        assert_eq!(d[0].name, "vda");
        assert_eq!((d[0].major, d[0].minor), (254, 0));
        assert_eq!(d[0].counters, [142844, 9268778, 59202, 36906264]);
        assert_eq!(d[1].counters, [10, 20, 30, 40]);
        assert_eq!(d[2].counters, [0, 0, 0, 0]);
    }

    #[test]
    fn mounts_in_order_with_duplicates() {
        let m = parse_mounts(&fixture("mounts"));
        assert_eq!(m.len(), 5);
        assert_eq!(m[0].mountpoint, "/proc");
        assert_eq!(m[0].fstype, "proc");
        assert_eq!(m[2].mountpoint, "/");
        assert_eq!(m[2].source, "/dev/vda");
        assert_eq!(m[3].mountpoint, "/dev/shm");
        assert_eq!(m[4].mountpoint, "/mnt/with\\040space");
    }

    #[test]
    fn pid_status_fields() {
        let st = parse_pid_status(&fixture("1/status"));
        assert_eq!(st.name.as_deref(), Some("systemd"));
        assert_eq!(st.state, Some('S'));
        assert_eq!(st.uid, Some(0));
        let st = parse_pid_status(&fixture("42/status"));
        assert_eq!(st.name.as_deref(), Some("zombie-child"));
        assert_eq!(st.state, Some('Z'));
        assert_eq!(st.uid, Some(1000));
    }

    #[test]
    fn cmdline_forms() {
        assert_eq!(
            cmdline_arg0_base(b"/usr/bin/python3\0-m\0http.server\0"),
            "python3"
        );
        assert_eq!(cmdline_arg0_base(b""), "");
        assert_eq!(cmdline_arg0_base(b"bash\0"), "bash");
        assert_eq!(
            cmdline_joined(b"/usr/bin/python3\0-m\0http.server\0"),
            b"/usr/bin/python3 -m http.server"
        );
        assert_eq!(cmdline_joined(b""), b"");
    }

    #[test]
    fn pids_lists_numeric_entries() {
        let root = ProcRoot::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proc"));
        let mut pids = root.pids().unwrap_or_default();
        pids.sort_unstable();
        assert_eq!(pids, [1, 42, 77, 99]);
    }

    #[test]
    fn missing_file_error_names_proc_path() {
        let root = ProcRoot::new("/nonexistent-zagent-root");
        let e = root.read("meminfo").err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("Cannot open /proc/meminfo: [2] No such file or directory")
        );
    }
}
