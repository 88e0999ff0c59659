//! `system.swap.*` (Zabbix's swap family).
//! It owns parameter meaning, arithmetic and reason texts, never raw I/O.

use super::read_proc;
use crate::keys::{AgentCtx, KeyResult, NotSupported, Request, Value};
use crate::sys::procfs::{self, ProcRoot};

// ---- swap and memory ----------------------------------------------------------------

/// `system.swap.size` from `/proc/meminfo` text and a mode.
pub fn swap_value(meminfo: &str, mode: &str) -> KeyResult {
    let get = |label: &str| {
        procfs::meminfo_bytes(meminfo, label).ok_or_else(|| {
            NotSupported::new(format!(
                "Cannot obtain the value of {label} from /proc/meminfo."
            ))
        })
    };
    let total = get("SwapTotal:")?;
    let free = get("SwapFree:")?;
    Ok(match mode {
        "used" => Value::Uint(total.saturating_sub(free)),
        "total" => Value::Uint(total),
        "pfree" => Value::Float(if total == 0 {
            100.0
        } else {
            100.0 * free as f64 / total as f64
        }),
        "pused" => Value::Float(if total == 0 {
            0.0
        } else {
            100.0 * total.saturating_sub(free) as f64 / total as f64
        }),
        _ => Value::Uint(free),
    })
}

pub(super) fn swap_size(_: &AgentCtx, req: &Request) -> KeyResult {
    swap_value(&read_proc("meminfo")?, req.param(1))
}

/// `pswpin` and `pswpout` of a `/proc/vmstat` text.
pub fn vmstat_swap_pages(vmstat: &str) -> Option<(u64, u64)> {
    let get = |label: &str| {
        vmstat.lines().find_map(|l| {
            l.strip_prefix(label)
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
    };
    Some((get("pswpin ")?, get("pswpout ")?))
}

/// Swap devices listed in a `/proc/swaps` text (the header line skipped).
pub fn swap_devices(swaps: &str) -> Vec<String> {
    swaps
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Whether the swap device `listed` (from /proc/swaps) is the one asked for: written
/// with or without its `/dev/` prefix.
pub(super) fn swap_device_matches(listed: &str, asked: &str) -> bool {
    if asked.starts_with("/dev/") {
        listed == asked
    } else {
        listed.strip_prefix("/dev/") == Some(asked)
    }
}

pub(super) fn swap_io(req: &Request, write: bool) -> KeyResult {
    let device = match req.param(0) {
        "" => "all",
        d => d,
    };
    let no_info = || NotSupported::new("Cannot obtain swap information.");
    let root = ProcRoot::system();
    let mut ok = false;
    let mut pages = (0, 0);
    if device == "all" {
        if let Some(p) = root.read("vmstat").ok().and_then(|t| vmstat_swap_pages(&t)) {
            pages = p;
            ok = true;
        }
    }
    let swaps = root.read("swaps").map_err(|_| no_info())?;
    let stats = procfs::parse_diskstats(&root.read("diskstats").unwrap_or_default());
    let mut io = [0u64; 4];
    for dev in swap_devices(&swaps) {
        if device != "all" && !swap_device_matches(&dev, device) {
            continue;
        }
        let Ok(m) = std::fs::metadata(&dev) else {
            continue;
        };
        use std::os::unix::fs::MetadataExt;
        let (major, minor) = crate::keys::vfs_dev::dev_major_minor(m.rdev());
        if let Some(d) = stats.iter().find(|d| (d.major, d.minor) == (major, minor)) {
            for (a, c) in io.iter_mut().zip(d.counters) {
                *a = a.wrapping_add(c);
            }
            ok = true;
        }
    }
    if !ok {
        return Err(no_info());
    }
    let (count, sectors) = if write {
        (io[2], io[3])
    } else {
        (io[0], io[1])
    };
    match req.param(1) {
        "" | "pages" if device == "all" => Ok(Value::Uint(if write { pages.1 } else { pages.0 })),
        "sectors" => Ok(Value::Uint(sectors)),
        "count" => Ok(Value::Uint(count)),
        _ => Err(NotSupported::invalid_param(1)),
    }
}

pub(super) fn swap_in(_: &AgentCtx, req: &Request) -> KeyResult {
    swap_io(req, false)
}

pub(super) fn swap_out(_: &AgentCtx, req: &Request) -> KeyResult {
    swap_io(req, true)
}
