//! zbx-proto: the Zabbix agent wire protocol, pure.
//!
//! - [`frame`]: the ZBXD header, flags, zlib and size limits (`decode` → Incomplete | Frame | Error).
//! - [`key`]: item-key syntax, parse and format.
//! - [`message`]: serde types for the JSON messages.
//!
//! No sockets, files or clocks: bytes in, values out; time is passed in by callers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod frame;
pub mod key;
pub mod message;

/// Prefix of a "not supported" passive reply; followed by one NUL and the reason.
pub const NOTSUPPORTED: &str = "ZBX_NOTSUPPORTED";

/// Builds the payload of a "not supported" passive reply: `ZBX_NOTSUPPORTED\0<reason>`.
pub fn notsupported_payload(reason: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(NOTSUPPORTED.len() + 1 + reason.len());
    v.extend_from_slice(NOTSUPPORTED.as_bytes());
    v.push(0);
    v.extend_from_slice(reason.as_bytes());
    v
}
