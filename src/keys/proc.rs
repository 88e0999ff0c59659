//! `proc.num`: processes counted by name, user, state and command line, walking
//! `/proc/[pid]` as zabbix_agentd 6.0 does on Linux.
//!
//! The walk runs on the blocking pool (hundreds of small reads); processes that vanish
//! mid-walk are skipped, never errors. Matching is a pure function over parsed status
//! and cmdline, tested on fixtures. It must not keep state between checks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{
    AgentCtx, BoxFuture, Handler, KeyDef, KeyResult, NotSupported, ParamDef, Params, Request, Value,
};
use crate::regexp::Regexp;
use crate::sys::oserror::zbx_strerror;
use crate::sys::procfs::{self, PidStatus, ProcRoot};
use crate::sys::procstat;

/// The `proc.*` family.
pub const KEYS: &[KeyDef] = &[
    KeyDef {
        name: "proc.cpu.util",
        description: "Process CPU utilisation percent (total, user or system; avg1/5/15).",
        params: Params::List(&[
            ParamDef::opt("name"),
            ParamDef::opt("user"),
            ParamDef::opt("type"),
            ParamDef::opt("cmdline"),
            ParamDef::opt("mode"),
        ]),
        test_key: "proc.cpu.util[]",
        handler: Handler::Async(proc_cpu_util),
    },
    KeyDef {
        name: "proc.mem",
        description: "Memory used by processes (sum, avg, max or min of one memory type).",
        params: Params::List(&[
            ParamDef::opt("name"),
            ParamDef::opt("user"),
            ParamDef::one_of("mode", &["sum", "avg", "max", "min"]),
            ParamDef::opt("cmdline"),
            ParamDef::one_of("memtype", MEM_TYPES),
        ]),
        test_key: "proc.mem[]",
        handler: Handler::Blocking(proc_mem),
    },
    KeyDef {
        name: "proc.num",
        description: "Number of processes by name, user, state and command line.",
        params: Params::List(&[
            ParamDef::opt("name"),
            ParamDef::opt("user"),
            ParamDef::one_of("state", &["all", "disk", "run", "sleep", "trace", "zomb"]),
            ParamDef::opt("cmdline"),
        ]),
        test_key: "proc.num[]",
        handler: Handler::Blocking(proc_num),
    },
];

/// proc.mem memory types, as zabbix_agentd 6.0 names them.
pub const MEM_TYPES: &[&str] = &[
    "vsize", "rss", "pmem", "size", "peak", "swap", "lib", "lck", "pin", "hwm", "data", "stk",
    "exe", "pte",
];

/// What to count.
#[derive(Debug, Clone, Default)]
pub struct ProcFilter {
    /// Process name: `/proc/[pid]/status` Name, or the basename of argv[0].
    pub name: Option<String>,
    /// Real uid.
    pub uid: Option<u32>,
    /// First letter of the state (`R`, `S`, `Z`, `D`, `T`); `None` = all.
    pub state: Option<char>,
    /// Regex over the command line joined with spaces. `Some(None)`: an expression the
    /// engine refuses, which matches nothing.
    pub cmdline: Option<Option<Regexp>>,
}

impl ProcFilter {
    /// Whether the cmdline file is needed to decide about `status`.
    fn needs_cmdline(&self, status: &PidStatus) -> bool {
        self.cmdline.is_some()
            || self
                .name
                .as_ref()
                .is_some_and(|n| status.name.as_deref() != Some(n.as_str()))
    }

    /// Whether a process with this status and raw cmdline is counted.
    pub fn matches(&self, status: &PidStatus, cmdline: &[u8]) -> bool {
        if let Some(name) = &self.name {
            if status.name.as_deref() != Some(name.as_str())
                && procfs::cmdline_arg0_base(cmdline) != *name
            {
                return false;
            }
        }
        if let Some(uid) = self.uid {
            if status.uid != Some(uid) {
                return false;
            }
        }
        if let Some(state) = self.state {
            if status.state != Some(state) {
                return false;
            }
        }
        if let Some(re) = &self.cmdline {
            match re {
                Some(re) if re.is_match(&procfs::cmdline_joined(cmdline)) => {}
                _ => return false,
            }
        }
        true
    }
}

/// Counts the processes under `root` that match; entries that vanish are skipped.
pub fn count_processes(root: &ProcRoot, filter: &ProcFilter) -> Result<u64, NotSupported> {
    let mut n = 0;
    for_each_match(root, filter, |_| n += 1)?;
    Ok(n)
}

/// Calls `visit` with the `/proc/PID/status` text of every process under `root` that
/// matches `filter`. Processes that vanish mid-walk are skipped, not errors.
fn for_each_match(
    root: &ProcRoot,
    filter: &ProcFilter,
    mut visit: impl FnMut(&str),
) -> Result<(), NotSupported> {
    let pids = root.pids().map_err(|e| NotSupported::new(e.to_string()))?;
    for pid in pids {
        let Ok(text) = root.read(&format!("{pid}/status")) else {
            continue;
        };
        let status = procfs::parse_pid_status(&text);
        let cmdline = if filter.needs_cmdline(&status) {
            match root.read_bytes(&format!("{pid}/cmdline")) {
                Ok(c) => c,
                Err(_) => continue,
            }
        } else {
            Vec::new()
        };
        if filter.matches(&status, &cmdline) {
            visit(&text);
        }
    }
    Ok(())
}

/// The uid of user `name`: `Ok(None)` when there is no such user (the count is then 0).
pub fn lookup_uid(name: &str) -> Result<Option<u32>, NotSupported> {
    crate::sys::account::user_by_name(name)
        .map(|u| u.map(|u| u.uid))
        .map_err(|e| {
            NotSupported::new(format!(
                "Cannot obtain user information: {}",
                zbx_strerror(&e)
            ))
        })
}

/// The filter for proc.num's parameters; `Ok(None)` when the user does not exist.
pub fn build_filter(req: &Request) -> Result<Option<ProcFilter>, NotSupported> {
    let uid = match req.opt(1) {
        Some(user) => match lookup_uid(user)? {
            Some(uid) => Some(uid),
            None => return Ok(None),
        },
        None => None,
    };
    let state = match req.param(2) {
        "run" => Some('R'),
        "sleep" => Some('S'),
        "zomb" => Some('Z'),
        "disk" => Some('D'),
        "trace" => Some('T'),
        _ => None,
    };
    Ok(Some(ProcFilter {
        name: req.opt(0).map(str::to_string),
        uid,
        state,
        cmdline: req.opt(3).map(|re| Regexp::new(re).ok()),
    }))
}

/// How proc.mem combines the processes' values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemMode {
    /// Sum (default).
    Sum,
    /// Average (a float).
    Avg,
    /// Largest.
    Max,
    /// Smallest.
    Min,
}

/// The `/proc/[pid]/status` labels of a memory type; `size` is the sum of three.
fn mem_labels(memtype: &str) -> &'static [&'static str] {
    match memtype {
        "rss" | "pmem" => &["VmRSS:"],
        "size" => &["VmData:", "VmStk:", "VmExe:"],
        "peak" => &["VmPeak:"],
        "swap" => &["VmSwap:"],
        "lib" => &["VmLib:"],
        "lck" => &["VmLck:"],
        "pin" => &["VmPin:"],
        "hwm" => &["VmHWM:"],
        "data" => &["VmData:"],
        "stk" => &["VmStk:"],
        "exe" => &["VmExe:"],
        "pte" => &["VmPTE:"],
        _ => &["VmSize:"],
    }
}

/// One process's bytes for `labels` (`Err(label)`: the first one missing).
pub fn status_bytes(status: &str, labels: &[&'static str]) -> Result<u64, &'static str> {
    let mut total = 0u64;
    for label in labels {
        total += procfs::meminfo_bytes(status, label).ok_or(*label)?;
    }
    Ok(total)
}

/// Combines per-process values as proc.mem does: `None` when no process had the value.
pub fn combine(values: &[f64], mode: MemMode) -> Option<f64> {
    let first = *values.first()?;
    Some(match mode {
        MemMode::Max => values.iter().copied().fold(first, f64::max),
        MemMode::Min => values.iter().copied().fold(first, f64::min),
        MemMode::Sum => values.iter().sum(),
        MemMode::Avg => values.iter().sum::<f64>() / values.len() as f64,
    })
}

/// The proc.mem walk over `root`; `total_memory` is needed for `pmem`.
pub fn proc_mem_value(
    root: &ProcRoot,
    filter: &ProcFilter,
    mode: MemMode,
    memtype: &str,
    total_memory: u64,
) -> KeyResult {
    let labels = mem_labels(memtype);
    let mut bytes: Vec<u64> = Vec::new();
    let mut matched = false;
    let mut missing = labels[0];
    for_each_match(root, filter, |text| {
        matched = true;
        match status_bytes(text, labels) {
            Ok(v) => bytes.push(v),
            // Kernel threads have no Vm* lines: skipped, as zabbix_agentd does.
            Err(label) => missing = label,
        }
    })?;
    if matched && bytes.is_empty() {
        return Err(NotSupported::new(format!(
            "Cannot get amount of \"{}\" memory.",
            missing.trim_end_matches(':')
        )));
    }
    if memtype == "pmem" {
        let pcts: Vec<f64> = bytes
            .iter()
            .map(|b| *b as f64 / total_memory as f64 * 100.0)
            .collect();
        return Ok(Value::Float(combine(&pcts, mode).unwrap_or(0.0)));
    }
    if mode == MemMode::Avg {
        let sum: f64 = bytes.iter().map(|b| *b as f64).sum();
        let avg = if bytes.is_empty() {
            0.0
        } else {
            sum / bytes.len() as f64
        };
        return Ok(Value::Float(avg));
    }
    let v = match mode {
        MemMode::Max => bytes.iter().copied().max(),
        MemMode::Min => bytes.iter().copied().min(),
        _ => Some(bytes.iter().copied().fold(0u64, u64::wrapping_add)),
    };
    Ok(Value::Uint(v.unwrap_or(0)))
}

fn proc_mem(_: &AgentCtx, req: &Request) -> KeyResult {
    let mode = match req.param(2) {
        "avg" => MemMode::Avg,
        "max" => MemMode::Max,
        "min" => MemMode::Min,
        _ => MemMode::Sum,
    };
    let memtype = req.param(4);
    let zero = || {
        if mode == MemMode::Avg || memtype == "pmem" {
            Value::Float(0.0)
        } else {
            Value::Uint(0)
        }
    };
    let Some(filter) = build_filter(req)? else {
        return Ok(zero());
    };
    let filter = ProcFilter {
        state: None,
        ..filter
    };
    let root = ProcRoot::system();
    let total = if memtype == "pmem" {
        let text = root.read("meminfo").map_err(|e| {
            NotSupported::new(format!(
                "Cannot obtain amount of total memory: {}",
                e.reason
            ))
        })?;
        match procfs::meminfo_bytes(&text, "MemTotal:") {
            Some(0) => return Err(NotSupported::new("Total memory reported is 0.")),
            Some(t) => t,
            None => {
                return Err(NotSupported::new(
                    "Cannot obtain amount of total memory: no MemTotal in /proc/meminfo",
                ))
            }
        }
    } else {
        0
    };
    proc_mem_value(&root, &filter, mode, memtype, total)
}

fn proc_cpu_util(_: Arc<AgentCtx>, req: Request) -> BoxFuture {
    Box::pin(cpu_util(req))
}

/// proc.cpu.util: waits (as zabbix_agentd does) until the collector has two samples of
/// the query, at most until shortly before the check's timeout.
async fn cpu_util(req: Request) -> KeyResult {
    let (user, system) = match req.param(2) {
        "" | "total" => (true, true),
        "user" => (true, false),
        "system" => (false, true),
        _ => return Err(NotSupported::invalid_param(2)),
    };
    let period = match req.param(4) {
        "" | "avg1" => 60,
        "avg5" => 300,
        "avg15" => 900,
        _ => return Err(NotSupported::invalid_param(4)),
    };
    if crate::sys::cpustat::collector().is_none() {
        return Err(NotSupported::new("Collector is not started."));
    }
    let id = format!("{}\0{}\0{}", req.param(0), req.param(1), req.param(3));
    // An unknown user matches nothing, as in zabbix_agentd.
    let uid = match req.opt(1) {
        Some(u) => Some(lookup_uid(u)?.unwrap_or(u32::MAX)),
        None => None,
    };
    let filter = Arc::new(ProcFilter {
        name: req.opt(0).map(str::to_string),
        uid,
        state: None,
        cmdline: req.opt(3).map(|re| Regexp::new(re).ok()),
    });
    // Answer before the dispatcher's own timeout so the official reason is the one seen.
    let deadline = Instant::now() + req.timeout.saturating_sub(Duration::from_millis(250));
    loop {
        let f = Arc::clone(&filter);
        match procstat::get_util(
            &id,
            move || Arc::new(move |st: &PidStatus, cmd: &[u8]| f.matches(st, cmd)),
            user,
            system,
            period,
        ) {
            Ok(v) => return Ok(Value::Float(v)),
            Err(procstat::UtilError::TooManyQueries) => {
                return Err(NotSupported::new(
                    procstat::UtilError::TooManyQueries.to_string(),
                ))
            }
            Err(procstat::UtilError::NotYet) => {}
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(NotSupported::new(
                "Timeout while waiting for collector data.",
            ));
        }
        tokio::time::sleep((deadline - now).min(Duration::from_millis(250))).await;
    }
}

fn proc_num(_: &AgentCtx, req: &Request) -> KeyResult {
    match build_filter(req)? {
        None => Ok(Value::Uint(0)),
        Some(filter) => count_processes(&ProcRoot::system(), &filter).map(Value::Uint),
    }
}

#[cfg(test)]
#[allow(clippy::panic)] // tests fail by panicking
mod tests {
    use super::*;

    fn root() -> ProcRoot {
        ProcRoot::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proc"))
    }

    fn count(f: ProcFilter) -> u64 {
        count_processes(&root(), &f).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn counts_on_fixture_tree() {
        // pid 99 has a cmdline but no status: it vanished mid-walk and is skipped.
        assert_eq!(count(ProcFilter::default()), 3);
        let name = |n: &str| ProcFilter {
            name: Some(n.into()),
            ..ProcFilter::default()
        };
        // Name from status, or from argv[0]'s basename.
        assert_eq!(count(name("systemd")), 1);
        assert_eq!(count(name("init")), 1);
        assert_eq!(count(name("python3")), 1);
        assert_eq!(count(name("http.server")), 0);
        assert_eq!(count(name("vanished")), 0);
        let uid = ProcFilter {
            uid: Some(1000),
            ..ProcFilter::default()
        };
        assert_eq!(count(uid), 2);
        let zomb = ProcFilter {
            state: Some('Z'),
            ..ProcFilter::default()
        };
        assert_eq!(count(zomb), 1);
        let re = |r: &str| ProcFilter {
            cmdline: Some(Regexp::new(r).ok()),
            ..ProcFilter::default()
        };
        assert_eq!(count(re("-m http")), 1);
        assert_eq!(count(re("^/sbin/init splash$")), 1);
        assert_eq!(count(re("(")), 0);
    }

    #[test]
    fn proc_mem_on_fixture_tree() {
        let all = ProcFilter::default();
        let r = root();
        let kb = 1024u64;
        assert_eq!(
            proc_mem_value(&r, &all, MemMode::Sum, "", 0),
            Ok(Value::Uint((22000 + 5000) * kb))
        );
        assert_eq!(
            proc_mem_value(&r, &all, MemMode::Max, "vsize", 0),
            Ok(Value::Uint(22000 * kb))
        );
        assert_eq!(
            proc_mem_value(&r, &all, MemMode::Avg, "rss", 0),
            Ok(Value::Float(((1000 + 3000) * kb) as f64 / 2.0))
        );
        assert_eq!(
            proc_mem_value(&r, &all, MemMode::Sum, "size", 0),
            Ok(Value::Uint((100 + 10 + 20 + 200 + 20 + 40) * kb))
        );
        assert_eq!(
            proc_mem_value(&r, &all, MemMode::Sum, "pmem", 4000 * kb),
            Ok(Value::Float(100.0))
        );
        let zombie = ProcFilter {
            name: Some("zombie-child".into()),
            ..ProcFilter::default()
        };
        assert_eq!(
            proc_mem_value(&r, &zombie, MemMode::Sum, "rss", 0),
            Err(NotSupported::new("Cannot get amount of \"VmRSS\" memory."))
        );
        let none = ProcFilter {
            name: Some("nothing-here".into()),
            ..ProcFilter::default()
        };
        assert_eq!(
            proc_mem_value(&r, &none, MemMode::Max, "", 0),
            Ok(Value::Uint(0))
        );
    }

    #[test]
    fn unknown_user_is_none_root_is_zero() {
        assert_eq!(lookup_uid("root"), Ok(Some(0)));
        assert_eq!(lookup_uid("no-such-user-zagent"), Ok(None));
        assert_eq!(lookup_uid("0"), Ok(None));
    }
}
