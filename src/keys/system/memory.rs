//! `vm.memory.size` (Zabbix's memory family).
//! It owns parameter meaning, arithmetic and reason texts, never raw I/O.

use super::{read_proc, ZERO_TOTAL};
use crate::keys::{AgentCtx, KeyResult, NotSupported, Request, Value};
use crate::sys::procfs::{self};

/// `vm.memory.size` from `/proc/meminfo` text and a mode (already validated).
pub fn memory_value(meminfo: &str, mode: &str) -> KeyResult {
    let get = |label: &str| {
        procfs::meminfo_bytes(meminfo, label)
            .ok_or_else(|| NotSupported::new("Cannot obtain value from /proc/meminfo."))
    };
    let available = || -> Result<u64, NotSupported> {
        match procfs::meminfo_bytes(meminfo, "MemAvailable:") {
            Some(v) => Ok(v),
            // Kernels before 3.14: free + buffers + cached, as zabbix_agentd falls back.
            None => Ok(get("MemFree:")?
                + get("Buffers:")?
                + procfs::meminfo_bytes(meminfo, "Cached:").unwrap_or(0)),
        }
    };
    let pct = |part: u64, total: u64| {
        if total == 0 {
            Err(NotSupported::new(ZERO_TOTAL))
        } else {
            Ok(Value::Float(part as f64 / total as f64 * 100.0))
        }
    };
    match mode {
        "" | "total" => get("MemTotal:").map(Value::Uint),
        "free" => get("MemFree:").map(Value::Uint),
        "buffers" => get("Buffers:").map(Value::Uint),
        "used" => Ok(Value::Uint(
            get("MemTotal:")?.saturating_sub(get("MemFree:")?),
        )),
        "pused" => {
            let total = get("MemTotal:")?;
            pct(total.saturating_sub(get("MemFree:")?), total)
        }
        "available" => available().map(Value::Uint),
        "pavailable" => {
            let total = get("MemTotal:")?;
            pct(available()?, total)
        }
        "shared" => Err(NotSupported::new("Supported for Linux 2.4 only.")),
        "cached" => get("Cached:").map(Value::Uint),
        "active" => get("Active:").map(Value::Uint),
        "anon" => get("AnonPages:").map(Value::Uint),
        "inactive" => get("Inactive:").map(Value::Uint),
        "slab" => get("Slab:").map(Value::Uint),
        _ => Err(NotSupported::invalid_param(0)),
    }
}

pub(super) fn memory_size(_: &AgentCtx, req: &Request) -> KeyResult {
    memory_value(&read_proc("meminfo")?, req.param(0))
}
