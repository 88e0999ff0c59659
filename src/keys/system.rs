//! `system.*` and `vm.memory.size` keys: host name, uptime, boot time, clock, load,
//! CPU count, uname, swap and memory — as zabbix_agentd 6.0 answers them on Linux.
//!
//! Reads come from [`crate::sys::procfs`] (fetch + pure parse) or one cheap syscall; this
//! file owns parameter meaning, arithmetic and reason texts, never raw I/O.

use std::ffi::CStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{
    AgentCtx, BoxFuture, Handler, KeyDef, KeyResult, NotSupported, ParamDef, Params, Request, Value,
};
use crate::regexp::Regexp;
use crate::sys::cpustat;
use crate::sys::oserror::zbx_strerror;
use crate::sys::procfs::{self, ProcRoot};

/// The `system.*` family (and `vm.memory.size`).
pub const KEYS: &[KeyDef] = &[
    KeyDef {
        name: "system.boottime",
        description: "System boot time (unix seconds).",
        params: Params::None,
        test_key: "system.boottime",
        handler: Handler::Inline(boottime),
    },
    KeyDef {
        name: "system.cpu.discovery",
        description: "List of CPUs and their status (LLD JSON); needs the CPU collector.",
        params: Params::None,
        test_key: "system.cpu.discovery",
        handler: Handler::Inline(cpu_discovery),
    },
    KeyDef {
        name: "system.cpu.intr",
        description: "Device interrupts since boot.",
        params: Params::None,
        test_key: "system.cpu.intr",
        handler: Handler::Inline(cpu_intr),
    },
    KeyDef {
        name: "system.cpu.load",
        description: "CPU load average: all or per CPU; avg1, avg5 or avg15.",
        params: Params::List(&[
            ParamDef::one_of("cpu", &["all", "percpu"]),
            ParamDef::one_of("mode", &["avg1", "avg5", "avg15"]),
        ]),
        test_key: "system.cpu.load[all,avg1]",
        handler: Handler::Inline(cpu_load),
    },
    KeyDef {
        name: "system.cpu.num",
        description: "Number of CPUs: online or max.",
        params: Params::List(&[ParamDef::one_of("type", &["online", "max"])]),
        test_key: "system.cpu.num[online]",
        handler: Handler::Inline(cpu_num),
    },
    KeyDef {
        name: "system.cpu.switches",
        description: "Context switches since boot.",
        params: Params::None,
        test_key: "system.cpu.switches",
        handler: Handler::Inline(cpu_switches),
    },
    KeyDef {
        name: "system.cpu.util",
        description: "CPU utilisation percent by CPU, state and period; needs the CPU collector.",
        params: Params::List(&[
            ParamDef::opt("cpu"),
            ParamDef::opt("type"),
            ParamDef::opt("mode"),
        ]),
        test_key: "system.cpu.util[all,user,avg1]",
        handler: Handler::Inline(cpu_util),
    },
    KeyDef {
        name: "system.hostname",
        description: "System host name: host or shorthost, optionally lower-cased.",
        params: Params::List(&[
            ParamDef::one_of("type", &["host", "shorthost", "netbios"]),
            ParamDef::one_of("transform", &["none", "lower"]),
        ]),
        test_key: "system.hostname",
        handler: Handler::Inline(hostname),
    },
    KeyDef {
        name: "system.hw.cpu",
        description: "CPU information from /proc/cpuinfo: full, vendor, model, curfreq, maxfreq.",
        params: Params::List(&[ParamDef::opt("cpu"), ParamDef::opt("info")]),
        test_key: "system.hw.cpu",
        handler: Handler::Inline(hw_cpu),
    },
    KeyDef {
        name: "system.hw.devices",
        description: "PCI or USB devices (lspci / lsusb output).",
        params: Params::List(&[ParamDef::one_of("type", &["pci", "usb"])]),
        test_key: "system.hw.devices",
        handler: Handler::Async(hw_devices),
    },
    KeyDef {
        name: "system.hw.macaddr",
        description:
            "MAC addresses of interfaces with an IPv4 address (name regex; full or short).",
        params: Params::List(&[ParamDef::opt("interface"), ParamDef::opt("format")]),
        test_key: "system.hw.macaddr",
        handler: Handler::Inline(hw_macaddr),
    },
    KeyDef {
        name: "system.localtime",
        description: "System time: utc (unix seconds) or local (text with offset).",
        params: Params::List(&[ParamDef::one_of("type", &["utc", "local"])]),
        test_key: "system.localtime[utc]",
        handler: Handler::Inline(localtime),
    },
    KeyDef {
        name: "system.sw.arch",
        description: "Software architecture (uname machine).",
        params: Params::None,
        test_key: "system.sw.arch",
        handler: Handler::Inline(sw_arch),
    },
    KeyDef {
        name: "system.sw.os",
        description: "Operating system: full (/proc/version), short or name.",
        params: Params::List(&[ParamDef::one_of("info", &["full", "short", "name"])]),
        test_key: "system.sw.os",
        handler: Handler::Inline(sw_os),
    },
    KeyDef {
        name: "system.sw.packages",
        description: "Installed packages by regexp and manager (dpkg, pkgtools, rpm, pacman).",
        params: Params::List(&[
            ParamDef::opt("regexp"),
            ParamDef::opt("manager"),
            ParamDef::opt("format"),
        ]),
        test_key: "system.sw.packages",
        handler: Handler::Async(sw_packages),
    },
    KeyDef {
        name: "system.swap.in",
        description: "Swap-in statistics: pages (all devices), count or sectors.",
        params: Params::List(&[ParamDef::opt("device"), ParamDef::opt("type")]),
        test_key: "system.swap.in[all,pages]",
        handler: Handler::Inline(swap_in),
    },
    KeyDef {
        name: "system.swap.out",
        description: "Swap-out statistics: pages (all devices), count or sectors.",
        params: Params::List(&[ParamDef::opt("device"), ParamDef::opt("type")]),
        test_key: "system.swap.out[all,pages]",
        handler: Handler::Inline(swap_out),
    },
    KeyDef {
        name: "system.swap.size",
        description: "Swap space: free, used, total, pfree or pused (device: all).",
        params: Params::List(&[
            ParamDef::one_of("device", &["all"]),
            ParamDef::one_of("type", &["free", "used", "total", "pfree", "pused"]),
        ]),
        test_key: "system.swap.size[all,free]",
        handler: Handler::Inline(swap_size),
    },
    KeyDef {
        name: "system.uname",
        description: "Detailed host information (uname).",
        params: Params::None,
        test_key: "system.uname",
        handler: Handler::Inline(uname_key),
    },
    KeyDef {
        name: "system.uptime",
        description: "System uptime in seconds.",
        params: Params::None,
        test_key: "system.uptime",
        handler: Handler::Inline(uptime),
    },
    KeyDef {
        name: "system.users.num",
        description: "Number of users logged in (as `who | wc -l`).",
        params: Params::None,
        test_key: "system.users.num",
        handler: Handler::Blocking(users_num),
    },
    KeyDef {
        name: "vm.memory.size",
        description: "Memory size in bytes or percent, by mode.",
        params: Params::List(&[ParamDef::one_of("mode", MEMORY_MODES)]),
        test_key: "vm.memory.size[total]",
        handler: Handler::Inline(memory_size),
    },
];

/// The vm.memory.size modes zabbix_agentd 6.0 accepts on Linux.
pub const MEMORY_MODES: &[&str] = &[
    "total",
    "free",
    "buffers",
    "used",
    "pused",
    "available",
    "pavailable",
    "shared",
    "cached",
    "active",
    "anon",
    "inactive",
    "slab",
];

const ZERO_TOTAL: &str = "Cannot calculate percentage because total is zero.";

fn proc_err(e: procfs::ProcError) -> NotSupported {
    NotSupported::new(e.to_string())
}

fn read_proc(rel: &str) -> Result<String, NotSupported> {
    ProcRoot::system().read(rel).map_err(proc_err)
}

// ---- uname, host name --------------------------------------------------------------

/// The fields of `uname(2)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uname {
    /// `Linux`.
    pub sysname: String,
    /// Host name.
    pub nodename: String,
    /// Kernel release.
    pub release: String,
    /// Kernel version string.
    pub version: String,
    /// Machine (`x86_64`).
    pub machine: String,
}

impl Uname {
    /// `system.uname` text: the five fields separated by spaces.
    pub fn line(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.sysname, self.nodename, self.release, self.version, self.machine
        )
    }
}

/// Calls `uname(2)`.
pub fn uname() -> Result<Uname, NotSupported> {
    // SAFETY: utsname is plain old data; uname fills it or fails.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(NotSupported::new(format!(
            "Cannot obtain system information: {}",
            zbx_strerror(&e)
        )));
    }
    let field = |f: &[libc::c_char]| {
        // SAFETY: uname NUL-terminates every field within its array.
        unsafe { CStr::from_ptr(f.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    Ok(Uname {
        sysname: field(&u.sysname),
        nodename: field(&u.nodename),
        release: field(&u.release),
        version: field(&u.version),
        machine: field(&u.machine),
    })
}

/// `system.hostname` from the kernel's host name, by type and transform.
pub fn hostname_value(host: &str, kind: &str, transform: &str) -> Result<String, NotSupported> {
    let mut name = match kind {
        "" | "host" => host.to_string(),
        "shorthost" => host.split('.').next().unwrap_or(host).to_string(),
        "netbios" => {
            return Err(NotSupported::new(
                "NetBIOS is not supported on the current platform.",
            ))
        }
        _ => return Err(NotSupported::invalid_param(0)),
    };
    if transform == "lower" {
        name = name.to_lowercase();
    }
    Ok(name)
}

fn hostname(_: &AgentCtx, req: &Request) -> KeyResult {
    let u = uname()?;
    hostname_value(&u.nodename, req.param(0), req.param(1)).map(Value::Str)
}

fn uname_key(_: &AgentCtx, _: &Request) -> KeyResult {
    Ok(Value::Str(uname()?.line()))
}

fn sw_arch(_: &AgentCtx, _: &Request) -> KeyResult {
    Ok(Value::Str(uname()?.machine))
}

/// The first line of a text, trailing whitespace removed; `None` when there is none.
pub fn first_line(text: &str) -> Option<String> {
    let line = text.split_inclusive('\n').next()?;
    Some(line.trim_end().to_string())
}

/// `PRETTY_NAME` of an os-release text: the quoted value, or the first word unquoted.
pub fn os_pretty_name(os_release: &str) -> Option<String> {
    for line in os_release.lines() {
        let Some(rest) = line.strip_prefix("PRETTY_NAME") else {
            continue;
        };
        let Some(value) = rest.strip_prefix('=') else {
            continue;
        };
        let name = match value.strip_prefix('"') {
            Some(q) => q.split('"').next().unwrap_or(""),
            None => value.split([' ', '\t']).next().unwrap_or(""),
        };
        if name.is_empty() {
            continue;
        }
        return Some(name.trim_end().to_string());
    }
    None
}

fn first_line_of(path: &str) -> Result<String, NotSupported> {
    let text = std::fs::read(path)
        .map_err(|e| NotSupported::new(format!("Cannot open {path}: {}", zbx_strerror(&e))))?;
    first_line(&String::from_utf8_lossy(&text))
        .ok_or_else(|| NotSupported::new("Cannot read from file."))
}

fn sw_os(_: &AgentCtx, req: &Request) -> KeyResult {
    let v = match req.param(0) {
        "short" => first_line_of("/proc/version_signature")?,
        "name" => match std::fs::read("/etc/os-release")
            .ok()
            .and_then(|t| os_pretty_name(&String::from_utf8_lossy(&t)))
        {
            Some(name) => name,
            None => first_line_of("/etc/issue.net")?,
        },
        _ => first_line_of("/proc/version")?,
    };
    Ok(Value::Str(v))
}

// ---- logged-in users -------------------------------------------------------------------

/// glibc's `struct utmpx` on 64-bit Linux: 384 bytes; `ut_type` (i16) at 0, `ut_pid`
/// (i32) at 4, `ut_user` (32 bytes) at 44.
const UTMP_RECORD: usize = 384;
const UT_USER_PROCESS: i16 = 7;

/// Users as `who` counts them in a utmp file: user-process records with a user name
/// whose process is still `alive`.
pub fn count_utmp_users(utmp: &[u8], alive: impl Fn(i32) -> bool) -> u64 {
    utmp.chunks_exact(UTMP_RECORD)
        .filter(|r| {
            let kind = i16::from_ne_bytes([r[0], r[1]]);
            let pid = i32::from_ne_bytes([r[4], r[5], r[6], r[7]]);
            kind == UT_USER_PROCESS && r[44] != 0 && (pid <= 0 || alive(pid))
        })
        .count() as u64
}

fn users_num(_: &AgentCtx, _: &Request) -> KeyResult {
    // No utmp (systemd without utmp support): `who` prints nothing.
    let utmp = std::fs::read("/var/run/utmp").unwrap_or_default();
    let alive = |pid: i32| {
        // SAFETY: signal 0 only checks that the process exists.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    };
    Ok(Value::Uint(count_utmp_users(&utmp, alive)))
}

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

fn hw_cpu(_: &AgentCtx, req: &Request) -> KeyResult {
    let cpu = match req.param(0) {
        "" | "all" => None,
        n => match n.parse::<u32>() {
            Ok(n) if n <= i32::MAX as u32 => Some(n),
            _ => return Err(NotSupported::invalid_param(0)),
        },
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
fn ipv4_interfaces() -> Result<Vec<(String, String)>, NotSupported> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list freed below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(NotSupported::new(format!(
            "Cannot set socket parameters: {}",
            zbx_strerror(&e)
        )));
    }
    let mut out = Vec::new();
    let mut p = head;
    while !p.is_null() {
        // SAFETY: `p` walks the list getifaddrs returned; each node is valid until freed.
        let ifa = unsafe { &*p };
        p = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_flags & libc::IFF_LOOPBACK as u32 != 0 {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points to a sockaddr.
        if i32::from(unsafe { (*ifa.ifa_addr).sa_family }) != libc::AF_INET {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        let mac = std::fs::read_to_string(format!("/sys/class/net/{name}/address"))
            .ok()
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "00:00:00:00:00:00".to_string());
        out.push((name, mac));
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

fn hw_macaddr(_: &AgentCtx, req: &Request) -> KeyResult {
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

fn hw_devices(ctx: Arc<AgentCtx>, req: Request) -> BoxFuture {
    Box::pin(async move {
        let command = if req.param(0) == "usb" {
            "lsusb"
        } else {
            "lspci"
        };
        super::user::run_command(&ctx, command, None, req.timeout).await
    })
}

/// A package manager system.sw.packages knows: how to tell it is there, how to list.
struct PackageManager {
    name: &'static str,
    test: &'static str,
    list: &'static str,
    /// `dpkg --get-selections` lines need the `install` state picked out.
    dpkg: bool,
}

const PACKAGE_MANAGERS: &[PackageManager] = &[
    PackageManager {
        name: "dpkg",
        test: "dpkg --version 2> /dev/null",
        list: "dpkg --get-selections",
        dpkg: true,
    },
    PackageManager {
        name: "pkgtools",
        test: "[ -d /var/log/packages ] && echo true",
        list: "ls /var/log/packages",
        dpkg: false,
    },
    PackageManager {
        name: "rpm",
        test: "rpm --version 2> /dev/null",
        list: "rpm -qa",
        dpkg: false,
    },
    PackageManager {
        name: "pacman",
        test: "pacman --version 2> /dev/null",
        list: "pacman -Q",
        dpkg: false,
    },
];

/// Largest system.sw.packages answer (zabbix_agentd's buffer).
const MAX_PACKAGES_TEXT: usize = 64 * 1024 - 1;

/// The package names of one manager's list output, filtered by `re` (`Some(None)`: an
/// expression the engine refuses, which matches nothing).
pub fn package_names(output: &str, dpkg: bool, re: Option<&Option<Regexp>>) -> Vec<String> {
    output
        .split('\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            if !dpkg {
                return Some(l.to_string());
            }
            let mut f = l.split_whitespace();
            let (name, state) = (f.next()?, f.next()?);
            (state == "install").then(|| name.to_string())
        })
        .filter(|name| match re {
            None => true,
            Some(Some(re)) => re.is_match(name.as_bytes()),
            Some(None) => false,
        })
        .collect()
}

/// `[manager] a, b, c` (or just `a, b, c` without a manager), names sorted.
pub fn package_line(manager: Option<&str>, mut names: Vec<String>) -> String {
    names.sort();
    let list = names.join(", ");
    match manager {
        Some(m) if list.is_empty() => format!("[{m}]"),
        Some(m) => format!("[{m}] {list}"),
        None => list,
    }
}

fn sw_packages(ctx: Arc<AgentCtx>, req: Request) -> BoxFuture {
    Box::pin(async move {
        let show_manager = match req.param(2) {
            "" | "full" => true,
            "short" => false,
            _ => return Err(NotSupported::invalid_param(2)),
        };
        let re = match req.param(0) {
            "" | "all" => None,
            r => Some(Regexp::new(r).ok()),
        };
        let only = match req.param(1) {
            "" | "all" => None,
            m => Some(m.to_string()),
        };
        let deadline = Instant::now() + req.timeout;
        let run = |cmd: &'static str| {
            let ctx = Arc::clone(&ctx);
            async move {
                let left = deadline.saturating_duration_since(Instant::now());
                match ctx
                    .user
                    .runner
                    .run(cmd, None, left.max(Duration::from_millis(1)))
                    .await
                {
                    Ok(out) => out.verdict().ok().map(|b| crate::exec::c_string(&b)),
                    Err(_) => None,
                }
            }
        };
        let mut found = false;
        let mut lines: Vec<String> = Vec::new();
        let mut all: Vec<String> = Vec::new();
        for pm in PACKAGE_MANAGERS {
            if only.as_deref().is_some_and(|m| m != pm.name) {
                continue;
            }
            let present = run(pm.test).await.is_some_and(|o| !o.is_empty());
            if !present {
                continue;
            }
            let Some(list) = run(pm.list).await else {
                continue;
            };
            found = true;
            let names = package_names(&list, pm.dpkg, re.as_ref());
            if show_manager {
                lines.push(package_line(Some(pm.name), names));
            } else {
                all.extend(names);
            }
        }
        if !found {
            return Err(NotSupported::new("Cannot obtain package information."));
        }
        let mut text = if show_manager {
            lines.join("\n")
        } else {
            package_line(None, all)
        };
        if text.len() > MAX_PACKAGES_TEXT {
            let mut end = MAX_PACKAGES_TEXT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        Ok(Value::Text(text))
    })
}

// ---- time ----------------------------------------------------------------------------

fn uptime(_: &AgentCtx, _: &Request) -> KeyResult {
    let text = read_proc("uptime")?;
    procfs::parse_uptime(&text)
        .map(Value::Uint)
        .ok_or_else(|| NotSupported::new("Cannot obtain system information: bad /proc/uptime."))
}

fn boottime(_: &AgentCtx, _: &Request) -> KeyResult {
    let text = read_proc("stat")?;
    procfs::parse_btime(&text)
        .map(Value::Uint)
        .ok_or_else(|| NotSupported::new("Cannot find a line with \"btime\" in /proc/stat."))
}

/// `system.localtime[local]` text: `YYYY-MM-DD,HH:MM:SS.mmm,+HH:MM`.
pub fn local_time_text<Tz: chrono::TimeZone>(t: &chrono::DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.format("%Y-%m-%d,%H:%M:%S%.3f,%:z").to_string()
}

fn localtime(_: &AgentCtx, req: &Request) -> KeyResult {
    match req.param(0) {
        "local" => Ok(Value::Str(local_time_text(&chrono::Local::now()))),
        _ => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            Ok(Value::Uint(now))
        }
    }
}

// ---- CPU -----------------------------------------------------------------------------

fn sysinfo() -> Result<libc::sysinfo, NotSupported> {
    // SAFETY: sysinfo is plain old data; the call fills it or fails.
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid, writable struct sysinfo.
    if unsafe { libc::sysinfo(&mut info) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(NotSupported::new(format!(
            "Cannot obtain system information: {}",
            zbx_strerror(&e)
        )));
    }
    Ok(info)
}

/// The first number after `label` on its line of `/proc/stat` (`ctxt`, `intr`).
pub fn stat_counter(stat: &str, label: &str) -> Option<u64> {
    stat.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        (f.next() == Some(label)).then(|| f.next()?.parse().ok())?
    })
}

fn stat_key(label: &str) -> KeyResult {
    let text = read_proc("stat")?;
    stat_counter(&text, label).map(Value::Uint).ok_or_else(|| {
        NotSupported::new(format!(
            "Cannot find a line with \"{label}\" in /proc/stat."
        ))
    })
}

fn cpu_switches(_: &AgentCtx, _: &Request) -> KeyResult {
    stat_key("ctxt")
}

fn cpu_intr(_: &AgentCtx, _: &Request) -> KeyResult {
    stat_key("intr")
}

/// A kernel fixed-point load average (`sysinfo.loads[i]`, 16 fraction bits) as a float.
pub fn load_from_fixed(raw: u64) -> f64 {
    raw as f64 / 65536.0
}

fn online_cpus() -> Result<u64, NotSupported> {
    cpu_count(libc::_SC_NPROCESSORS_ONLN)
}

fn cpu_count(name: libc::c_int) -> Result<u64, NotSupported> {
    // SAFETY: sysconf takes any name and reports -1 on error.
    let n = unsafe { libc::sysconf(name) };
    if n <= 0 {
        let e = std::io::Error::last_os_error();
        return Err(NotSupported::new(format!(
            "Cannot obtain number of CPUs: {}",
            zbx_strerror(&e)
        )));
    }
    Ok(n as u64)
}

fn cpu_load(_: &AgentCtx, req: &Request) -> KeyResult {
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

fn cpu_num(_: &AgentCtx, req: &Request) -> KeyResult {
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

fn cpu_util(_: &AgentCtx, req: &Request) -> KeyResult {
    let cpu = match req.param(0) {
        "" | "all" => None,
        n => match n.parse::<u32>() {
            Ok(n) if n <= i32::MAX as u32 => Some(n as usize),
            _ => return Err(NotSupported::invalid_param(0)),
        },
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

fn cpu_discovery(_: &AgentCtx, _: &Request) -> KeyResult {
    let not_started = || NotSupported::new(cpustat::CpuError::NotStarted.to_string());
    let history = cpustat::collector().ok_or_else(not_started)?;
    let online = history.lock().map_err(|_| not_started())?.online();
    Ok(Value::Str(cpu_discovery_json(&online)))
}

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

fn swap_size(_: &AgentCtx, req: &Request) -> KeyResult {
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
fn swap_device_matches(listed: &str, asked: &str) -> bool {
    if asked.starts_with("/dev/") {
        listed == asked
    } else {
        listed.strip_prefix("/dev/") == Some(asked)
    }
}

fn swap_io(req: &Request, write: bool) -> KeyResult {
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
        let (major, minor) = super::vfs_dev::dev_major_minor(m.rdev());
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

fn swap_in(_: &AgentCtx, req: &Request) -> KeyResult {
    swap_io(req, false)
}

fn swap_out(_: &AgentCtx, req: &Request) -> KeyResult {
    swap_io(req, true)
}

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

fn memory_size(_: &AgentCtx, req: &Request) -> KeyResult {
    memory_value(&read_proc("meminfo")?, req.param(0))
}

#[cfg(test)]
#[allow(clippy::panic)] // tests fail by panicking
mod tests {
    use super::*;

    const MEMINFO: &str = include_str!("../../tests/fixtures/proc/meminfo");

    #[test]
    fn memory_modes_from_fixture() {
        let kb = 1024u64;
        let m = |mode| memory_value(MEMINFO, mode);
        assert_eq!(m("total"), Ok(Value::Uint(24684084 * kb)));
        assert_eq!(m(""), Ok(Value::Uint(24684084 * kb)));
        assert_eq!(m("free"), Ok(Value::Uint(23344664 * kb)));
        assert_eq!(m("used"), Ok(Value::Uint((24684084 - 23344664) * kb)));
        assert_eq!(m("available"), Ok(Value::Uint(24277156 * kb)));
        assert_eq!(m("buffers"), Ok(Value::Uint(10620 * kb)));
        assert_eq!(m("cached"), Ok(Value::Uint(1089192 * kb)));
        assert_eq!(m("active"), Ok(Value::Uint(491900 * kb)));
        assert_eq!(m("inactive"), Ok(Value::Uint(607908 * kb)));
        assert_eq!(m("anon"), Ok(Value::Uint(14800 * kb)));
        assert_eq!(m("slab"), Ok(Value::Uint(142372 * kb)));
        let Ok(Value::Float(p)) = m("pused") else {
            panic!("pused not a float")
        };
        assert!((p - 5.426_249_562).abs() < 1e-6, "{p}");
        let Ok(Value::Float(p)) = m("pavailable") else {
            panic!("pavailable not a float")
        };
        assert!((p - 98.351_455_942).abs() < 1e-6, "{p}");
        assert_eq!(
            m("shared"),
            Err(NotSupported::new("Supported for Linux 2.4 only."))
        );
    }

    #[test]
    fn memory_available_fallback_without_memavailable() {
        let text = "MemTotal: 100 kB\nMemFree: 10 kB\nBuffers: 5 kB\nCached: 20 kB\n";
        assert_eq!(memory_value(text, "available"), Ok(Value::Uint(35 * 1024)));
        assert_eq!(
            memory_value("MemTotal: 0 kB\nMemFree: 0 kB\n", "pused"),
            Err(NotSupported::new(ZERO_TOTAL))
        );
    }

    #[test]
    fn swap_without_swap_is_100_free() {
        assert_eq!(swap_value(MEMINFO, "pfree"), Ok(Value::Float(100.0)));
        assert_eq!(swap_value(MEMINFO, "pused"), Ok(Value::Float(0.0)));
        assert_eq!(swap_value(MEMINFO, ""), Ok(Value::Uint(0)));
        let t = "SwapTotal: 1000 kB\nSwapFree: 250 kB\n";
        assert_eq!(swap_value(t, "used"), Ok(Value::Uint(750 * 1024)));
        assert_eq!(swap_value(t, "total"), Ok(Value::Uint(1000 * 1024)));
        assert_eq!(swap_value(t, "pused"), Ok(Value::Float(75.0)));
        assert_eq!(swap_value(t, "pfree"), Ok(Value::Float(25.0)));
    }

    #[test]
    fn hostname_types() {
        assert_eq!(
            hostname_value("Web1.Example.com", "", ""),
            Ok("Web1.Example.com".into())
        );
        assert_eq!(
            hostname_value("Web1.Example.com", "shorthost", ""),
            Ok("Web1".into())
        );
        assert_eq!(
            hostname_value("Web1.Example.com", "shorthost", "lower"),
            Ok("web1".into())
        );
        assert_eq!(
            hostname_value("h", "netbios", ""),
            Err(NotSupported::new(
                "NetBIOS is not supported on the current platform."
            ))
        );
    }

    #[test]
    fn stat_counters_and_os_files() {
        let stat = include_str!("../../tests/fixtures/proc/stat");
        assert_eq!(stat_counter(stat, "ctxt"), Some(12345));
        assert_eq!(stat_counter(stat, "intr"), Some(1));
        assert_eq!(stat_counter(stat, "nope"), None);
        let rel = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            os_pretty_name(rel).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(
            os_pretty_name("PRETTY_NAME=Arch extra\n").as_deref(),
            Some("Arch")
        );
        assert_eq!(os_pretty_name("NAME=x\n"), None);
        assert_eq!(
            first_line("Linux version 6 \nsecond\n").as_deref(),
            Some("Linux version 6")
        );
        assert_eq!(first_line(""), None);
    }

    #[test]
    fn utmp_users() {
        let rec = |kind: i16, pid: i32, user: &str| {
            let mut r = vec![0u8; UTMP_RECORD];
            r[..2].copy_from_slice(&kind.to_ne_bytes());
            r[4..8].copy_from_slice(&pid.to_ne_bytes());
            r[44..44 + user.len()].copy_from_slice(user.as_bytes());
            r
        };
        let mut f = Vec::new();
        f.extend(rec(2, 0, "reboot")); // BOOT_TIME
        f.extend(rec(7, 100, "alice"));
        f.extend(rec(7, 200, "bob")); // process gone
        f.extend(rec(7, 300, "")); // no user
        f.extend(rec(8, 400, "carol")); // DEAD_PROCESS
        f.extend(vec![0u8; 10]); // torn record at the end
        assert_eq!(count_utmp_users(&f, |pid| pid != 200), 1);
        assert_eq!(count_utmp_users(&f, |_| true), 2);
        assert_eq!(count_utmp_users(&[], |_| true), 0);
    }

    #[test]
    fn cpu_discovery_shape_and_states() {
        assert_eq!(
            cpu_discovery_json(&[true, false]),
            r#"[{"{#CPU.NUMBER}":0,"{#CPU.STATUS}":"online"},{"{#CPU.NUMBER}":1,"{#CPU.STATUS}":"offline"}]"#
        );
        assert_eq!(cpu_state_index(""), Some(0));
        assert_eq!(cpu_state_index("guest_nice"), Some(9));
        assert_eq!(cpu_state_index("x"), None);
    }

    const CPUINFO: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel\t\t: 17\n\
        model name\t: AMD EPYC\ncpu MHz\t\t: 2596.132\npower management:\n\n\
        processor\t: 1\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2400.5\n";

    #[test]
    fn hw_cpu_like_agentd() {
        let none = |_| None;
        assert_eq!(
            hw_cpu_text(CPUINFO, None, CpuInfo::Full, none).as_deref(),
            Some("processor 0: AuthenticAMD AMD EPYC working at 2596MHz\nprocessor 1: AuthenticAMD AMD EPYC working at 2400MHz")
        );
        assert_eq!(
            hw_cpu_text(CPUINFO, Some(1), CpuInfo::Vendor, none).as_deref(),
            Some("AuthenticAMD")
        );
        assert_eq!(
            hw_cpu_text(CPUINFO, Some(0), CpuInfo::CurFreq, none).as_deref(),
            Some("2596000000")
        );
        assert_eq!(
            hw_cpu_text(CPUINFO, None, CpuInfo::Model, none).as_deref(),
            Some("processor 0: AMD EPYC\nprocessor 1: AMD EPYC")
        );
        assert_eq!(hw_cpu_text(CPUINFO, None, CpuInfo::MaxFreq, none), None);
        assert_eq!(
            hw_cpu_text(CPUINFO, Some(0), CpuInfo::Full, |_| Some(3_500_000)).as_deref(),
            Some("processor 0: AuthenticAMD AMD EPYC working at 2596MHz (maximum 3500MHz)")
        );
        assert_eq!(hw_cpu_text(CPUINFO, Some(5), CpuInfo::Full, none), None);
    }

    #[test]
    fn macaddr_formats() {
        let p = |n: &str, m: &str| (n.to_string(), m.to_string());
        let pairs = [
            p("eth1", "02:00:00:00:00:02"),
            p("eth0", "02:00:00:00:00:01"),
            p("eth0", "02:00:00:00:00:01"),
        ];
        assert_eq!(
            macaddr_text(&pairs, true),
            "[eth0] 02:00:00:00:00:01, [eth0] 02:00:00:00:00:01, [eth1] 02:00:00:00:00:02"
        );
        assert_eq!(
            macaddr_text(&pairs, false),
            "02:00:00:00:00:01, 02:00:00:00:00:02"
        );
        assert_eq!(macaddr_text(&[], true), "");
    }

    #[test]
    fn swap_sources() {
        assert_eq!(
            vmstat_swap_pages("nr_free_pages 1\npswpin 12\npswpout 34\n"),
            Some((12, 34))
        );
        assert_eq!(vmstat_swap_pages("pswpin 1\n"), None);
        let swaps = "Filename\tType\tSize\tUsed\tPriority\n/dev/sda2 partition 100 0 -2\n/swapfile file 10 0 -3\n";
        assert_eq!(swap_devices(swaps), ["/dev/sda2", "/swapfile"]);
        assert!(swap_device_matches("/dev/sda2", "sda2"));
        assert!(swap_device_matches("/dev/sda2", "/dev/sda2"));
        assert!(!swap_device_matches("/swapfile", "swapfile"));
    }

    #[test]
    fn packages_like_agentd() {
        let dpkg = "zlib1g:amd64\t\t\t\tinstall\nadduser\t\t\t\t\tinstall\nold\t\tdeinstall\n\n";
        let names = package_names(dpkg, true, None);
        assert_eq!(
            package_line(Some("dpkg"), names),
            "[dpkg] adduser, zlib1g:amd64"
        );
        let re = Some(Regexp::new("^z").ok());
        assert_eq!(
            package_line(None, package_names(dpkg, true, re.as_ref())),
            "zlib1g:amd64"
        );
        let bad = Some(None);
        assert_eq!(
            package_line(Some("dpkg"), package_names(dpkg, true, bad.as_ref())),
            "[dpkg]"
        );
        assert_eq!(
            package_names("a-1.0\nb-2.0\n", false, None),
            ["a-1.0", "b-2.0"]
        );
    }

    #[test]
    fn load_fixed_point() {
        assert_eq!(load_from_fixed(6496), 0.09912109375);
        assert_eq!(load_from_fixed(65536), 1.0);
    }

    #[test]
    fn local_time_format() {
        use chrono::TimeZone;
        let tz = chrono::FixedOffset::east_opt(5 * 3600 + 1800).map(|o| {
            o.with_ymd_and_hms(2026, 11, 21, 14, 26, 59)
                .single()
                .map(|t| t + chrono::Duration::milliseconds(850))
        });
        let Some(Some(t)) = tz else {
            panic!("bad time")
        };
        assert_eq!(local_time_text(&t), "2026-11-21,14:26:59.850,+05:30");
    }
}
