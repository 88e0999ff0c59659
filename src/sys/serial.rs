//! Serial ports (modbus.get over RTU): opening one the way libmodbus does, to report the
//! same errors.
//!
//! Owns the open only; it must not configure the line or speak a protocol.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal};
use std::os::unix::fs::OpenOptionsExt;

/// Opens `device` read-write, without making it the controlling terminal, without
/// waiting for carrier, exclusively (libmodbus's flags), and checks it is a terminal
/// (`ENOTTY` otherwise, as libmodbus's `tcgetattr` fails).
pub fn probe(device: &str) -> io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_EXCL)
        .open(device)?;
    if !f.is_terminal() {
        return Err(io::Error::from_raw_os_error(libc::ENOTTY));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_terminal_is_enotty() {
        let e = probe("/dev/null").err().map(|e| e.raw_os_error());
        assert_eq!(e, Some(Some(libc::ENOTTY)));
        let e = probe("/nonexistent-zt-serial")
            .err()
            .map(|e| e.raw_os_error());
        assert_eq!(e, Some(Some(libc::ENOENT)));
    }
}
