//! `/proc/sys` values: one small file read, with the error text naming the path. The
//! root is a parameter so tests can point it at fixtures.

use std::path::Path;

/// Why a value could not be read.
#[derive(Debug, thiserror::Error)]
#[error("Cannot read {path}: {}", crate::sys::oserror::zbx_strerror(.source))]
pub struct SysctlError {
    /// The file.
    pub path: String,
    /// The OS error.
    pub source: std::io::Error,
}

/// Reads `<root>/<name>` (e.g. `net/ipv4/ip_local_port_range`).
pub fn read(root: &Path, name: &str) -> Result<String, SysctlError> {
    let path = root.join(name);
    std::fs::read_to_string(&path).map_err(|source| SysctlError {
        path: path.display().to_string(),
        source,
    })
}
