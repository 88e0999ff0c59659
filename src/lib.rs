//! zagent: a Zabbix-compatible monitoring agent whose headline is exact, cheap TCP/UDP
//! connection-state monitoring from one netlink sock_diag dump.
//!
//! Module map (a passive request walks them top to bottom; see docs/ARCHITECTURE.md):
//! - [`config`]: zabbix_agentd.conf → typed [`config::Config`] (file:line errors, Include).
//! - [`passive`]: the listener, `Server=` access control, one request → one response.
//! - [`active`]: the active-check client: refresh, schedule, buffer, send.
//! - [`keys`]: the key registry; one file per key family; parameters checked as data.
//! - [`regexp`]: PCRE2 as zabbix_agentd uses it (compile, match, output template).
//! - [`sys`]: Linux readers (netlink sock_diag, procfs), each split into fetch and parse.
//! - [`cli`]: one file per subcommand (`run`, `get`, `send`, `test`, `keys`, `check-config`).
//!
//! The wire protocol itself is the pure crate `zbx_proto`.

pub mod active;
pub mod cli;
pub mod config;
pub mod exec;
#[doc(hidden)]
pub mod fuzzing;
pub mod keys;
pub mod logging;
pub mod passive;
pub mod privdrop;
pub mod regexp;
pub mod stream;
pub mod sys;
pub mod text;
pub mod tls;
pub mod transport;
