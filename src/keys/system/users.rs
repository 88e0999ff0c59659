//! `system.users.num`: logged-in users counted from utmp.
//! It owns parameter meaning, arithmetic and reason texts, never raw I/O.

use crate::keys::{AgentCtx, KeyResult, Request, Value};

// ---- logged-in users -------------------------------------------------------------------

/// glibc's `struct utmpx` on 64-bit Linux: 384 bytes; `ut_type` (i16) at 0, `ut_pid`
/// (i32) at 4, `ut_user` (32 bytes) at 44.
pub(super) const UTMP_RECORD: usize = 384;
pub(super) const UT_USER_PROCESS: i16 = 7;

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

pub(super) fn users_num(_: &AgentCtx, _: &Request) -> KeyResult {
    // No utmp (systemd without utmp support): `who` prints nothing.
    let utmp = std::fs::read("/var/run/utmp").unwrap_or_default();
    Ok(Value::Uint(count_utmp_users(
        &utmp,
        crate::sys::host::process_exists,
    )))
}
