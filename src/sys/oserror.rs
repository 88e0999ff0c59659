//! OS error texts in the form zabbix_agentd prints them (`[2] No such file or directory`).
//!
//! Owns formatting only; it must not decide what an error means for a key.

use std::io;

/// `[errno] message`, as zabbix_agentd's `zbx_strerror` words an OS error. Errors that
/// carry no errno are printed as their plain message.
pub fn zbx_strerror(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => format!("[{code}] {}", strerror(code)),
        None => err.to_string(),
    }
}

/// The C library's message for `code`, without Rust's ` (os error N)` suffix.
pub fn strerror(code: i32) -> String {
    let full = io::Error::from_raw_os_error(code).to_string();
    let suffix = format!(" (os error {code})");
    match full.strip_suffix(&suffix) {
        Some(msg) => msg.to_string(),
        None => full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_zabbix() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(zbx_strerror(&e), "[2] No such file or directory");
        let e = io::Error::from_raw_os_error(libc::ENOTDIR);
        assert_eq!(zbx_strerror(&e), "[20] Not a directory");
    }
}
