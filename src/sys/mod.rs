//! Linux readers. Each reader is split into a fetch (I/O) and a pure parse tested on
//! fixtures; the `/proc` root is overridable for tests.

pub mod account;
pub mod affinity;
pub mod cpustat;
pub mod dirwalk;
pub mod diskstat;
pub mod host;
pub mod iconv;
pub mod inflight;
pub mod mem;
pub mod net_snmp;
pub mod netif;
pub mod notify;
pub mod oserror;
pub mod procfs;
pub mod procstat;
pub mod serial;
pub mod sockets;
pub mod sockopt;
pub mod syslog;
pub mod tcp_limits;
pub mod userfile;
pub mod x509;
