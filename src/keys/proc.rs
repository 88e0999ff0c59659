//! `proc.num`: processes counted by name, user, state and command line, walking
//! `/proc/[pid]` as zabbix_agentd 6.0 does on Linux.
//!
//! The walk runs on the blocking pool (hundreds of small reads); processes that vanish
//! mid-walk are skipped, never errors. Matching is a pure function over parsed status
//! and cmdline, tested on fixtures. It must not keep state between checks.

use std::ffi::CString;

use super::{AgentCtx, Handler, KeyDef, KeyResult, NotSupported, ParamDef, Params, Request, Value};
use crate::sys::oserror::zbx_strerror;
use crate::sys::procfs::{self, PidStatus, ProcRoot};

/// The `proc.*` family.
pub const KEYS: &[KeyDef] = &[KeyDef {
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
}];

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
    pub cmdline: Option<Option<regex::Regex>>,
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
    let pids = root.pids().map_err(|e| NotSupported::new(e.to_string()))?;
    let mut n = 0;
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
            n += 1;
        }
    }
    Ok(n)
}

/// The uid of user `name`: `Ok(None)` when there is no such user (the count is then 0).
pub fn lookup_uid(name: &str) -> Result<Option<u32>, NotSupported> {
    let Ok(cname) = CString::new(name) else {
        return Ok(None);
    };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is plain old data, filled by getpwnam_r.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to a live buffer of the stated size.
    let rc = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut out,
        )
    };
    if rc != 0 && rc != libc::ENOENT && rc != libc::ESRCH {
        let e = std::io::Error::from_raw_os_error(rc);
        return Err(NotSupported::new(format!(
            "Cannot obtain user information: {}",
            zbx_strerror(&e)
        )));
    }
    if out.is_null() {
        return Ok(None);
    }
    Ok(Some(pwd.pw_uid))
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
        cmdline: req.opt(3).map(|re| regex::Regex::new(re).ok()),
    }))
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
            cmdline: Some(regex::Regex::new(r).ok()),
            ..ProcFilter::default()
        };
        assert_eq!(count(re("-m http")), 1);
        assert_eq!(count(re("^/sbin/init splash$")), 1);
        assert_eq!(count(re("(")), 0);
    }

    #[test]
    fn unknown_user_is_none_root_is_zero() {
        assert_eq!(lookup_uid("root"), Ok(Some(0)));
        assert_eq!(lookup_uid("no-such-user-zagent"), Ok(None));
        assert_eq!(lookup_uid("0"), Ok(None));
    }
}
