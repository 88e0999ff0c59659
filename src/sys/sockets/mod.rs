//! The socket tables (TCP and UDP, IPv4 and IPv6) as the connection keys see them.
//!
//! - [`model`]: states, masks, the fixed-size [`SockRecord`], Zabbix's address/port
//!   filters, per-state counts (pure).
//! - [`netlink`]: NETLINK_SOCK_DIAG requests, reply walking (pure `wire`), the socket
//!   (`io`, the only `unsafe`), the dump loop.
//! - [`procnet`]: the `/proc/net/{tcp,udp}{,6}` text tables, the fallback reader.
//! - [`engine`]: what the keys call; the only module that knows both readers.
//! - [`owners`]: which process holds a socket inode (`/proc/PID/fd`).
//!
//! Nothing here knows item keys or parameter texts (`keys::net_tcp` does).

pub mod engine;
pub mod model;
pub mod netlink;
pub mod owners;
pub mod procnet;

#[cfg(test)]
mod tests;

pub use engine::{Engine, EngineError, PROC_NET_ROOT};
pub use model::{
    state, AddrFilter, Proto, SockFilter, SockRecord, StateCounts, StateMask, AF_INET, AF_INET6,
};
pub use netlink::{dump, limits, wire, SockDiagError};
