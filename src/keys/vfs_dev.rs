//! `vfs.dev.*` keys: block-device discovery and disk read/write statistics as
//! zabbix_agentd 6.0 reports them on Linux.
//!
//! Counters come from `/proc/diskstats` ([`crate::sys::procfs`]), rates from the disk
//! collector ([`crate::sys::diskstat`]); the device path is user input, so every handler
//! runs on the blocking pool.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use super::{AgentCtx, Handler, KeyDef, KeyResult, NotSupported, ParamDef, Params, Request, Value};
use crate::sys::procfs::{self, ProcRoot};

/// The `vfs.dev.*` family.
pub const KEYS: &[KeyDef] = &[
    KeyDef {
        name: "vfs.dev.discovery",
        description: "List of block devices with their type (LLD JSON).",
        params: Params::None,
        test_key: "vfs.dev.discovery",
        handler: Handler::Blocking(dev_discovery),
    },
    KeyDef {
        name: "vfs.dev.read",
        description: "Disk read statistics: sectors, operations, or sps/ops rates (collector).",
        params: Params::List(&[
            ParamDef::opt("device"),
            ParamDef::opt("type"),
            ParamDef::opt("mode"),
        ]),
        test_key: "vfs.dev.read[,operations]",
        handler: Handler::Blocking(dev_read),
    },
    KeyDef {
        name: "vfs.dev.write",
        description: "Disk write statistics: sectors, operations, or sps/ops rates (collector).",
        params: Params::List(&[
            ParamDef::opt("device"),
            ParamDef::opt("type"),
            ParamDef::opt("mode"),
        ]),
        test_key: "vfs.dev.write[,operations]",
        handler: Handler::Blocking(dev_write),
    },
];

// ---- block devices -------------------------------------------------------------------

/// Major and minor number of a Linux `dev_t` (glibc's encoding).
pub fn dev_major_minor(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

/// The `DEVTYPE=` value of a sysfs `uevent` text.
pub fn uevent_devtype(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("DEVTYPE="))
        .map(str::to_string)
}

fn dev_discovery(_: &AgentCtx, _: &Request) -> KeyResult {
    let rd = fs::read_dir("/dev").map_err(|_| {
        NotSupported::new("Cannot obtain device list: failed to open /dev/ directory.")
    })?;
    let sysfs = fs::metadata("/sys/dev/block/").is_ok_and(|m| m.is_dir());
    let mut rows = Vec::new();
    for entry in rd.flatten() {
        // stat, not lstat: a link to a block device (/dev/cdrom) is listed under its name.
        let Ok(m) = fs::metadata(entry.path()) else {
            continue;
        };
        if !m.file_type().is_block_device() {
            continue;
        }
        let (major, minor) = dev_major_minor(m.rdev());
        let devtype = if sysfs {
            fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/uevent"))
                .ok()
                .and_then(|t| uevent_devtype(&t))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        rows.push(serde_json::json!({ "{#DEVNAME}": name, "{#DEVTYPE}": devtype }));
    }
    Ok(Value::Str(serde_json::Value::Array(rows).to_string()))
}

// ---- vfs.dev.read/write -------------------------------------------------------------------

/// Device numbers of `/dev/<name>` (the name may carry the `/dev/` prefix already).
fn dev_rdev(name: &str) -> Option<(u64, u64)> {
    if name.is_empty() || name == "all" {
        return None;
    }
    let path = if name.starts_with("/dev/") {
        name.to_string()
    } else {
        format!("/dev/{name}")
    };
    fs::metadata(path).ok().map(|m| dev_major_minor(m.rdev()))
}

fn diskstats() -> Option<Vec<procfs::DiskStat>> {
    ProcRoot::system()
        .read("diskstats")
        .ok()
        .map(|t| procfs::parse_diskstats(&t))
}

fn dev_rw(req: &Request, write: bool) -> KeyResult {
    let devname = req.param(0);
    let rate = match req.param(1) {
        "" | "sps" => Some(1),
        "ops" => Some(0),
        "sectors" => None,
        "operations" => None,
        _ => return Err(NotSupported::invalid_param(1)),
    };
    let base = if write { 2 } else { 0 };
    let no_info = || NotSupported::new("Cannot obtain disk information.");
    let Some(which) = rate else {
        if req.nparams() > 2 {
            return Err(NotSupported::new("Invalid number of parameters."));
        }
        let stats = diskstats().ok_or_else(no_info)?;
        let sum = crate::sys::diskstat::diskstat_sum(&stats, devname, dev_rdev(devname))
            .ok_or_else(no_info)?;
        let field = if req.param(1) == "sectors" { 1 } else { 0 };
        return Ok(Value::Uint(sum[base + field]));
    };
    let secs = match req.param(2) {
        "" | "avg1" => 60,
        "avg5" => 300,
        "avg15" => 900,
        _ => return Err(NotSupported::invalid_param(2)),
    };
    if crate::sys::cpustat::collector().is_none() {
        return Err(NotSupported::new(
            "This item is available only in daemon mode when collectors are started.",
        ));
    }
    let stats = diskstats().ok_or_else(no_info)?;
    // The kernel's own name for the device (an LVM volume is dm-N there).
    let kernel_name = if devname.is_empty() || devname == "all" {
        String::new()
    } else {
        let rdev = dev_rdev(devname);
        stats
            .iter()
            .find(|d| Some((d.major, d.minor)) == rdev)
            .map(|d| d.name.clone())
            .ok_or_else(|| {
                NotSupported::new("Cannot obtain device name used internally by the kernel.")
            })?
    };
    let first =
        crate::sys::diskstat::diskstat_sum(&stats, &kernel_name, None).ok_or_else(no_info)?;
    let mut disks = crate::sys::diskstat::disks()
        .lock()
        .map_err(|_| NotSupported::new("Cannot add disk device to agent collector."))?;
    let history = disks
        .get_or_add(&kernel_name, first)
        .ok_or_else(|| NotSupported::new("Cannot add disk device to agent collector."))?;
    Ok(Value::Float(history.rate(base + which, secs)))
}

fn dev_read(_: &AgentCtx, req: &Request) -> KeyResult {
    dev_rw(req, false)
}

fn dev_write(_: &AgentCtx, req: &Request) -> KeyResult {
    dev_rw(req, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_device_numbers_and_uevent() {
        // makedev(254, 0) and makedev(259, 65536) in glibc's encoding.
        assert_eq!(dev_major_minor(0xfe00), (254, 0));
        assert_eq!(dev_major_minor(0x1001_0300), (259, 65536));
        let ue = "MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\nDISKSEQ=9\n";
        assert_eq!(uevent_devtype(ue).as_deref(), Some("disk"));
        assert_eq!(uevent_devtype("MAJOR=1\n"), None);
    }
}
