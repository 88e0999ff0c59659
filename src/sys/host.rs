//! The host-wide system calls the `system.*` keys read: `uname(2)`, `sysinfo(2)`,
//! `sysconf(3)` and a process-existence probe. Safe wrappers only; what the values mean
//! (and the texts of a failure) belongs to `keys::system`.

use std::ffi::CStr;
use std::io;

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
