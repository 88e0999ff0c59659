//! User and group accounts, by name or by id: the one place the agent asks the C
//! library's reentrant lookups (`getpwnam_r`, `getpwuid_r`, `getgrgid_r`), its buffer
//! grown on `ERANGE` up to 1 MiB so that a large account never degrades to a number.
//! Also switching the process to an account (`setgid`, `initgroups`, `setuid`).
//! It owns the libc calls only; what a missing account means is the caller's.

use std::ffi::{CStr, CString};
use std::io;

/// Largest lookup buffer tried (ERANGE doubles it from 4 KiB up to this).
const MAX_BUF: usize = 1 << 20;

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// Runs a `*_r` lookup with a growing buffer. `call` returns the C return code and
/// whether an entry was found; it copies what it needs out before returning.
fn with_buffer<T>(
    mut call: impl FnMut(&mut [libc::c_char]) -> (i32, Option<T>),
) -> io::Result<Option<T>> {
    let mut len = 4096usize;
    loop {
        let mut buf = vec![0 as libc::c_char; len];
        let (rc, found) = call(&mut buf);
        match rc {
            0 => return Ok(found),
            libc::ERANGE if len < MAX_BUF => len *= 2,
            // "Not found" as some C libraries word it (getpwnam_r(3)).
            libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => return Ok(None),
            rc => return Err(io::Error::from_raw_os_error(rc)),
        }
    }
}

/// # Safety
/// `p` is NULL or points at a NUL-terminated string that outlives the call.
unsafe fn owned(p: *const libc::c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: the caller's contract.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn user_from(
    call: impl Fn(*mut libc::passwd, &mut [libc::c_char], *mut *mut libc::passwd) -> i32,
) -> io::Result<Option<User>> {
    with_buffer(|buf| {
        // SAFETY: passwd is plain old data; a zeroed one is what the call overwrites.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        let rc = call(&mut pwd, buf, &mut out);
        if rc != 0 || out.is_null() {
            return (rc, None);
        }
        // SAFETY: on success pw_name points at a NUL-terminated string inside `buf`.
        let name = unsafe { owned(pwd.pw_name) };
        (
            0,
            Some(User {
                name,
                uid: pwd.pw_uid,
                gid: pwd.pw_gid,
            }),
        )
    })
}

/// The account named `name`; `Ok(None)` when there is none (or the name holds a NUL).
pub fn user_by_name(name: &str) -> io::Result<Option<User>> {
    let Ok(cname) = CString::new(name) else {
        return Ok(None);
    };
    user_from(|pwd, buf, out| {
        // SAFETY: every pointer is valid for the call; buf is writable for its length.
        unsafe { libc::getpwnam_r(cname.as_ptr(), pwd, buf.as_mut_ptr(), buf.len(), out) }
    })
}

/// The account with user id `uid`; `Ok(None)` when there is none.
pub fn user_by_uid(uid: u32) -> io::Result<Option<User>> {
    user_from(|pwd, buf, out| {
        // SAFETY: every pointer is valid for the call; buf is writable for its length.
        unsafe { libc::getpwuid_r(uid, pwd, buf.as_mut_ptr(), buf.len(), out) }
    })
}

/// The name of group `gid`; `Ok(None)` when there is none.
pub fn group_name(gid: u32) -> io::Result<Option<String>> {
    with_buffer(|buf| {
        // SAFETY: group is plain old data; a zeroed one is what the call overwrites.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut out: *mut libc::group = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; buf is writable for its length.
        let rc = unsafe { libc::getgrgid_r(gid, &mut grp, buf.as_mut_ptr(), buf.len(), &mut out) };
        if rc != 0 || out.is_null() {
            return (rc, None);
        }
        // SAFETY: on success gr_name points at a NUL-terminated string inside `buf`.
        (0, Some(unsafe { owned(grp.gr_name) }))
    })
}

/// The real user id of this process.
pub fn real_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// The effective user id of this process.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Switches the whole process (glibc applies it to every thread) to `uid`/`gid` with
/// `name`'s supplementary groups: group, groups, user, then the effective ids alike.
/// On failure, the call that failed (`setgid`, `initgroups`, `setuid`, `setegid or
/// seteuid`) and its error. `name` must not contain a NUL byte (`InvalidInput`, call
/// `initgroups`).
pub fn switch_to(name: &str, uid: u32, gid: u32) -> Result<(), (&'static str, io::Error)> {
    let name = CString::new(name)
        .map_err(|_| ("initgroups", io::Error::from(io::ErrorKind::InvalidInput)))?;
    let fail = |call: &'static str| Err((call, io::Error::last_os_error()));
    // SAFETY: plain syscalls on integer ids; `name` is a valid NUL-terminated string
    // that outlives the initgroups call.
    unsafe {
        if libc::setgid(gid) != 0 {
            return fail("setgid");
        }
        if libc::initgroups(name.as_ptr(), gid) != 0 {
            return fail("initgroups");
        }
        if libc::setuid(uid) != 0 {
            return fail("setuid");
        }
        if libc::setegid(gid) != 0 || libc::seteuid(uid) != 0 {
            return fail("setegid or seteuid");
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn root_is_found_both_ways() {
        let by_name = user_by_name("root").unwrap().unwrap();
        assert_eq!((by_name.uid, by_name.gid), (0, 0));
        assert_eq!(user_by_uid(0).unwrap().unwrap().name, "root");
        assert_eq!(group_name(0).unwrap().as_deref(), Some("root"));
    }

    #[test]
    fn missing_accounts_are_none() {
        assert_eq!(user_by_name("zt-arch-no-such-user").unwrap(), None);
        assert_eq!(user_by_name("a\0b").unwrap(), None);
        assert_eq!(user_by_uid(4_000_000_123).unwrap(), None);
        assert_eq!(group_name(4_000_000_123).unwrap(), None);
    }
}
