//! `system.uname` and `system.hostname` (Zabbix's uname/hostname family).
//! It owns parameter meaning, arithmetic and reason texts, never raw I/O.

use crate::keys::{AgentCtx, KeyResult, NotSupported, Request, Value};
use crate::sys::oserror::zbx_strerror;

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
    let u = crate::sys::host::uname().map_err(|e| {
        NotSupported::new(format!(
            "Cannot obtain system information: {}",
            zbx_strerror(&e)
        ))
    })?;
    Ok(Uname {
        sysname: u.sysname,
        nodename: u.nodename,
        release: u.release,
        version: u.version,
        machine: u.machine,
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

pub(super) fn hostname(_: &AgentCtx, req: &Request) -> KeyResult {
    let u = uname()?;
    hostname_value(&u.nodename, req.param(0), req.param(1)).map(Value::Str)
}

pub(super) fn uname_key(_: &AgentCtx, _: &Request) -> KeyResult {
    Ok(Value::Str(uname()?.line()))
}
