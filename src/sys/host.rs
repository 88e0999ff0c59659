//! The host-wide system calls the `system.*` keys read: `uname(2)`, `sysinfo(2)`,
//! `sysconf(3)` and a process-existence probe; and the process's stack limit
//! (`getrlimit(2)`), which sizes the regexp depth limit as zabbix_agentd sizes it. Safe wrappers only; what the values mean
//! (and the texts of a failure) belongs to `keys::system`.

use std::ffi::CStr;
use std::io;

/// The soft `RLIMIT_STACK` of this process in bytes (`None` when it cannot be read;
/// `u64::MAX` for unlimited).
pub fn stack_soft_limit() -> Option<u64> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes one rlimit into the struct we own.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut rl) };
    (rc == 0).then_some(rl.rlim_cur)
}

/// The five `uname(2)` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtsName {
    /// Kernel name (`Linux`).
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

/// Calls `uname(2)`.
pub fn uname() -> io::Result<UtsName> {
    // SAFETY: utsname is plain old data; uname fills it or fails.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let field = |f: &[libc::c_char]| {
        // SAFETY: uname NUL-terminates every field within its array.
        unsafe { CStr::from_ptr(f.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    Ok(UtsName {
        sysname: field(&u.sysname),
        nodename: field(&u.nodename),
        release: field(&u.release),
        version: field(&u.version),
        machine: field(&u.machine),
    })
}

/// Calls `sysinfo(2)`.
pub fn sysinfo() -> io::Result<libc::sysinfo> {
    // SAFETY: sysinfo is plain old data; the call fills it or fails.
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid, writable struct sysinfo.
    if unsafe { libc::sysinfo(&mut info) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info)
}

/// `sysconf(name)`; an error when it reports -1 (or a non-positive count).
pub fn sysconf_positive(name: libc::c_int) -> io::Result<u64> {
    // SAFETY: sysconf takes any name and reports -1 on error.
    let n = unsafe { libc::sysconf(name) };
    if n <= 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as u64)
}

/// Whether process `pid` exists (signal 0; a process we may not signal exists too).
pub fn process_exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// `kill(pid, sig)` (a negative `pid` names a process group).
pub fn kill(pid: i32, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: kill(2) has no memory effects.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The host name (`gethostname(2)`); `None` when it fails or is empty.
pub fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for writes of its length; gethostname NUL-terminates
    // within it or truncates, and we stop at the first NUL or the end.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    (!name.is_empty()).then_some(name)
}

/// `statvfs(3)` of `path` (a path holding a NUL is `EINVAL`).
pub fn statvfs(path: &str) -> io::Result<libc::statvfs> {
    let c = std::ffi::CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: statvfs is plain old data; the call fills it or fails.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `s` is writable.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(s)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_host() {
        assert_eq!(uname().unwrap().sysname, "Linux");
        assert!(sysinfo().unwrap().uptime > 0);
        assert!(sysconf_positive(libc::_SC_NPROCESSORS_ONLN).unwrap() >= 1);
        assert!(process_exists(std::process::id() as i32));
    }
}
