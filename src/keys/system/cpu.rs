//! `system.cpu.*` (Zabbix's cpu family): load, count, utilisation, switches, interrupts, discovery.
//! It owns parameter meaning, arithmetic and reason texts, never raw I/O.

use super::read_proc;
use crate::keys::{AgentCtx, KeyResult, NotSupported, Request, Value};
use crate::sys::cpustat;
use crate::sys::oserror::zbx_strerror;

// ---- CPU -----------------------------------------------------------------------------

pub(super) fn sysinfo() -> Result<libc::sysinfo, NotSupported> {
    crate::sys::host::sysinfo().map_err(|e| {
        NotSupported::new(format!(
            "Cannot obtain system information: {}",
            zbx_strerror(&e)
        ))
    })
}

/// The first number after `label` on its line of `/proc/stat` (`ctxt`, `intr`).
pub fn stat_counter(stat: &str, label: &str) -> Option<u64> {
    stat.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        (f.next() == Some(label)).then(|| f.next()?.parse().ok())?
    })
}

pub(super) fn stat_key(label: &str) -> KeyResult {
    let text = read_proc("stat")?;
    stat_counter(&text, label).map(Value::Uint).ok_or_else(|| {
        NotSupported::new(format!(
            "Cannot find a line with \"{label}\" in /proc/stat."
        ))
    })
}

pub(super) fn cpu_switches(_: &AgentCtx, _: &Request) -> KeyResult {
    stat_key("ctxt")
}

pub(super) fn cpu_intr(_: &AgentCtx, _: &Request) -> KeyResult {
    stat_key("intr")
}

/// A kernel fixed-point load average (`sysinfo.loads[i]`, 16 fraction bits) as a float.
pub fn load_from_fixed(raw: u64) -> f64 {
    raw as f64 / 65536.0
}

pub(super) fn online_cpus() -> Result<u64, NotSupported> {
    cpu_count(libc::_SC_NPROCESSORS_ONLN)
}

pub(super) fn cpu_count(name: libc::c_int) -> Result<u64, NotSupported> {
    crate::sys::host::sysconf_positive(name).map_err(|e| {
        NotSupported::new(format!(
            "Cannot obtain number of CPUs: {}",
            zbx_strerror(&e)
        ))
    })
}

pub(super) fn cpu_load(_: &AgentCtx, req: &Request) -> KeyResult {
    let idx = match req.param(1) {
        "avg5" => 1,
        "avg15" => 2,
        _ => 0,
    };
    let info = sysinfo()?;
    let load = load_from_fixed(info.loads[idx]);
    if req.param(0) == "percpu" {
        let n = online_cpus()?;
        return Ok(Value::Float(load / n as f64));
    }
    Ok(Value::Float(load))
}

pub(super) fn cpu_num(_: &AgentCtx, req: &Request) -> KeyResult {
    let name = if req.param(0) == "max" {
        libc::_SC_NPROCESSORS_CONF
    } else {
        libc::_SC_NPROCESSORS_ONLN
    };
    cpu_count(name).map(Value::Uint)
}

/// The `/proc/stat` state index of a system.cpu.util type (empty = user).
pub fn cpu_state_index(kind: &str) -> Option<usize> {
    Some(match kind {
        "" | "user" => 0,
        "nice" => 1,
        "system" => 2,
        "idle" => 3,
        "iowait" => 4,
        "interrupt" => 5,
        "softirq" => 6,
        "steal" => 7,
        "guest" => 8,
        "guest_nice" => 9,
        _ => return None,
    })
}

pub(super) fn cpu_util(_: &AgentCtx, req: &Request) -> KeyResult {
    let cpu = match req.param(0) {
        "" | "all" => None,
        n => Some(
            crate::keys::num::uint31(n).ok_or_else(|| NotSupported::invalid_param(0))? as usize,
        ),
    };
    let state = cpu_state_index(req.param(1)).ok_or_else(|| NotSupported::invalid_param(1))?;
    let secs = match req.param(2) {
        "" | "avg1" => 60,
        "avg5" => 300,
        "avg15" => 900,
        _ => return Err(NotSupported::invalid_param(2)),
    };
    let not_started = || NotSupported::new(cpustat::CpuError::NotStarted.to_string());
    let history = cpustat::collector().ok_or_else(not_started)?;
    let h = history.lock().map_err(|_| not_started())?;
    h.util(cpu, state, secs)
        .map(Value::Float)
        .map_err(|e| NotSupported::new(e.to_string()))
}

/// system.cpu.discovery JSON from the collector's online flags.
pub fn cpu_discovery_json(online: &[bool]) -> String {
    let rows: Vec<String> = online
        .iter()
        .enumerate()
        .map(|(i, on)| {
            format!(
                "{{\"{{#CPU.NUMBER}}\":{i},\"{{#CPU.STATUS}}\":\"{}\"}}",
                if *on { "online" } else { "offline" }
            )
        })
        .collect();
    format!("[{}]", rows.join(","))
}

pub(super) fn cpu_discovery(_: &AgentCtx, _: &Request) -> KeyResult {
    let not_started = || NotSupported::new(cpustat::CpuError::NotStarted.to_string());
    let history = cpustat::collector().ok_or_else(not_started)?;
    let online = history.lock().map_err(|_| not_started())?.online();
    Ok(Value::Str(cpu_discovery_json(&online)))
}
