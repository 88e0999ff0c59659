//! `system.hw.*` (Zabbix's hardware family): CPU details, MAC addresses, devices.
//! It owns parameter meaning, arithmetic and reason texts, never raw I/O.

use crate::regexp::Regexp;
use std::sync::Arc;

use super::read_proc;
use crate::keys::{AgentCtx, BoxFuture, KeyResult, NotSupported, Request, Value};
use crate::sys::oserror::zbx_strerror;
use crate::sys::procfs::{self};

// ---- hardware -------------------------------------------------------------------------

/// What system.hw.cpu shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuInfo {
    /// Vendor, model, frequencies.
    Full,
    /// Maximum frequency (cpufreq).
    MaxFreq,
    /// Vendor id.
    Vendor,
    /// Model name.
    Model,
    /// Current frequency.
    CurFreq,
}

/// system.hw.cpu text from `/proc/cpuinfo` text, for one CPU or all (`None`), with
/// `maxfreq(cpu)` giving cpufreq's `cpuinfo_max_freq` (kHz) where there is one. `None`
/// when nothing was found (`Cannot obtain CPU information.`).
pub fn hw_cpu_text(
    cpuinfo: &str,
    cpu: Option<u32>,
    show: CpuInfo,
    maxfreq: impl Fn(u32) -> Option<u64>,
) -> Option<String> {
    let mut out = String::new();
    let mut found = false;
    let mut cur: Option<u32> = None;
    let (mut max, mut curfreq): (Option<u64>, Option<u64>) = (None, None);
    let freq = |out: &mut String, max: Option<u64>, curfreq: Option<u64>| match show {
        CpuInfo::MaxFreq => {
            if let Some(m) = max {
                out.push_str(&match cpu {
                    None => format!(" {}MHz", m / 1000),
                    Some(_) => format!(" {}", m * 1000),
                });
            }
        }
        CpuInfo::CurFreq => {
            if let Some(c) = curfreq {
                out.push_str(&match cpu {
                    None => format!(" {c}MHz"),
                    Some(_) => format!(" {}", c * 1_000_000),
                });
            }
        }
        CpuInfo::Full => {
            if let Some(c) = curfreq {
                out.push_str(&format!(" working at {c}MHz"));
            }
            if let Some(m) = max {
                out.push_str(&format!(" (maximum {}MHz)", m / 1000));
            }
        }
        _ => {}
    };
    let selected = |cur: Option<u32>| cur.is_some() && (cpu.is_none() || cpu == cur);
    for line in cpuinfo.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim_start();
        if value.is_empty() {
            continue;
        }
        if name.starts_with("processor") {
            if selected(cur) {
                freq(&mut out, max, curfreq);
            }
            curfreq = None;
            cur = Some(
                value
                    .bytes()
                    .take_while(u8::is_ascii_digit)
                    .fold(0u32, |n, d| {
                        n.wrapping_mul(10).wrapping_add(u32::from(d - b'0'))
                    }),
            );
            if !selected(cur) {
                continue;
            }
            if cpu.is_none() || show == CpuInfo::Full {
                out.push_str(&format!("\nprocessor {}:", cur.unwrap_or(0)));
            }
            if matches!(show, CpuInfo::Full | CpuInfo::MaxFreq) {
                max = cur.and_then(&maxfreq);
                found |= max.is_some();
            }
        }
        if !selected(cur) {
            continue;
        }
        if name.starts_with("vendor_id") && matches!(show, CpuInfo::Full | CpuInfo::Vendor)
            || name.starts_with("model name") && matches!(show, CpuInfo::Full | CpuInfo::Model)
        {
            found = true;
            out.push(' ');
            out.push_str(value);
        } else if name.starts_with("cpu MHz") && matches!(show, CpuInfo::Full | CpuInfo::CurFreq) {
            found = true;
            let digits: String = value.chars().take_while(char::is_ascii_digit).collect();
            curfreq = digits.parse().ok();
        }
    }
    if !found {
        return None;
    }
    if selected(cur) {
        freq(&mut out, max, curfreq);
    }
    Some(out.get(1..).unwrap_or("").to_string())
}

/// sensor[device,sensor,mode]: zabbix_agentd's parameter checks and, as readings are not
/// implemented, its answer for a sensor it cannot read.
pub(super) fn sensor(_: &AgentCtx, req: &Request) -> KeyResult {
    if req.param(0).is_empty() {
        return Err(NotSupported::invalid_param(0));
    }
    if req.param(1).is_empty() {
        return Err(NotSupported::invalid_param(1));
    }
    if !matches!(req.param(2), "" | "avg" | "max" | "min") {
        return Err(NotSupported::invalid_param(2));
    }
    Err(NotSupported::new("Cannot obtain sensor information."))
}

/// system.hw.chassis[info]: zabbix_agentd's parameter check and, as SMBIOS decoding is not
/// implemented, its answer when the table cannot be read.
pub(super) fn hw_chassis(_: &AgentCtx, req: &Request) -> KeyResult {
    if !matches!(
        req.param(0),
        "" | "full" | "model" | "serial" | "type" | "vendor"
    ) {
        return Err(NotSupported::invalid_param(0));
    }
    Err(NotSupported::new("Cannot obtain hardware information."))
}

pub(super) fn hw_cpu(_: &AgentCtx, req: &Request) -> KeyResult {
    let cpu = match req.param(0) {
        "" | "all" => None,
        n => Some(crate::keys::num::uint31(n).ok_or_else(|| NotSupported::invalid_param(0))?),
    };
    let show = match req.param(1) {
        "" | "full" => CpuInfo::Full,
        "maxfreq" => CpuInfo::MaxFreq,
        "vendor" => CpuInfo::Vendor,
        "model" => CpuInfo::Model,
        "curfreq" => CpuInfo::CurFreq,
        _ => return Err(NotSupported::invalid_param(1)),
    };
    let text = read_proc("cpuinfo")?;
    let maxfreq = |n: u32| {
        std::fs::read_to_string(format!(
            "/sys/devices/system/cpu/cpu{n}/cpufreq/cpuinfo_max_freq"
        ))
        .ok()
        .and_then(|t| procfs::first_u64(&t))
    };
    hw_cpu_text(&text, cpu, show, maxfreq)
        .map(Value::Text)
        .ok_or_else(|| NotSupported::new("Cannot obtain CPU information."))
}

/// system.hw.macaddr text from (interface, MAC) pairs in address-list order: sorted,
/// joined by `, `; `short` drops names and repeats.
pub fn macaddr_text(pairs: &[(String, String)], full: bool) -> String {
    let mut v: Vec<String> = Vec::new();
    for (name, mac) in pairs {
        // Sorted with two spaces after the name, as zabbix_agentd does before it writes `]`.
        let s = if full {
            format!("[{name}  {mac}")
        } else {
            mac.clone()
        };
        if !full && v.contains(&s) {
            continue;
        }
        v.push(s);
    }
    v.sort();
    v.iter()
        .map(|s| {
            if full {
                s.replacen(' ', "]", 1)
            } else {
                s.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Interfaces with an IPv4 address, one entry per address, loopbacks left out, with the
/// MAC sysfs reports (zeros where there is none).
pub(super) fn ipv4_interfaces() -> Result<Vec<(String, String)>, NotSupported> {
    let names = crate::sys::netif::ipv4_interface_names().map_err(|e| {
        NotSupported::new(format!(
            "Cannot set socket parameters: {}",
            zbx_strerror(&e)
        ))
    })?;
    Ok(names
        .into_iter()
        .map(|name| {
            let mac = std::fs::read_to_string(format!("/sys/class/net/{name}/address"))
                .ok()
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "00:00:00:00:00:00".to_string());
            (name, mac)
        })
        .collect())
}

pub(super) fn hw_macaddr(_: &AgentCtx, req: &Request) -> KeyResult {
    let full = match req.param(1) {
        "" | "full" => true,
        "short" => false,
        _ => return Err(NotSupported::invalid_param(1)),
    };
    // A name expression PCRE2 refuses matches nothing, as in zabbix_agentd.
    let re = match req.param(0) {
        "" => None,
        r => Some(Regexp::new(r).ok()),
    };
    let pairs: Vec<(String, String)> = ipv4_interfaces()?
        .into_iter()
        .filter(|(name, _)| match &re {
            None => true,
            Some(Some(re)) => re.is_match(name.as_bytes()),
            Some(None) => false,
        })
        .collect();
    Ok(Value::Str(macaddr_text(&pairs, full)))
}

// ---- commands: devices and packages -------------------------------------------------------

pub(super) fn hw_devices(ctx: Arc<AgentCtx>, req: Request) -> BoxFuture {
    Box::pin(async move {
        let command = if req.param(0) == "usb" {
            "lsusb"
        } else {
            "lspci"
        };
        crate::keys::user::run_command(&ctx, command, None, req.timeout).await
    })
}
