//! `system.*` and `vm.memory.size` keys: host name, uptime, boot time, clock, load,
//! CPU count, uname, swap and memory — as zabbix_agentd 6.0 answers them on Linux.
//!
//! Reads come from [`crate::sys::procfs`] (fetch + pure parse) or one cheap syscall; this
//! family owns parameter meaning, arithmetic and reason texts, never raw I/O.
//!
//! The keys are declared here, in one table; their handlers live in one file per Zabbix
//! family: [`cpu`], [`memory`], [`swap`], [`hardware`] (`system.hw.*`), [`software`]
//! (`system.sw.*`), [`uname`] (uname, host name), [`time`] (uptime, boot time, clock),
//! [`users`]. Adding a key: its handler in its family's file, one entry in [`KEYS`].

use super::{Handler, KeyDef, NotSupported, ParamDef, Params};
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
        name: "sensor",
        description:
            "Hardware sensor reading (device, sensor, avg/max/min): parameters checked as \
                      zabbix_agentd does; readings are not implemented (agentd's error text).",
        params: Params::List(&[
            ParamDef::opt("device"),
            ParamDef::opt("sensor"),
            ParamDef::opt("mode"),
        ]),
        test_key: "sensor[w83781d-i2c-0-2d,temp1]",
        handler: Handler::Inline(hardware::sensor),
    },
    KeyDef {
        name: "system.hw.chassis",
        description: "Chassis information from SMBIOS (full, model, serial, type, vendor): \
                      parameters checked as zabbix_agentd does; SMBIOS decoding is not \
                      implemented (agentd's error text).",
        params: Params::List(&[ParamDef::opt("info")]),
        test_key: "system.hw.chassis",
        handler: Handler::Inline(hardware::hw_chassis),
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

pub(super) const ZERO_TOTAL: &str = "Cannot calculate percentage because total is zero.";

pub(super) fn proc_err(e: procfs::ProcError) -> NotSupported {
    NotSupported::new(e.to_string())
}

pub(super) fn read_proc(rel: &str) -> Result<String, NotSupported> {
    ProcRoot::system().read(rel).map_err(proc_err)
}

mod cpu;
mod hardware;
mod memory;
mod software;
mod swap;
mod time;
mod uname;
mod users;

#[cfg(test)]
#[allow(clippy::panic)] // tests fail by panicking
mod tests;

use cpu::*;
use hardware::*;
use memory::*;
use software::*;
use swap::*;
use time::*;
use uname::*;
use users::*;
