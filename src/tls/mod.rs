//! TLS for every Zabbix connection: pre-shared keys and certificates over OpenSSL.
//!
//! Owns checking the `TLS*` settings as zabbix_agentd does at start-up (same texts),
//! reading the PSK, certificate, key, CA and CRL files, building the OpenSSL contexts
//! once ([`build`]), the server side of a passive connection (first-byte sniff, the
//! `TLSAccept` check, the handshake, the PSK identity and certificate issuer/subject
//! checks: [`TlsServer::accept`]) and the client side ([`TlsClient::handshake`]).
//! It must not parse zabbix_agentd.conf ([`crate::config`] does) nor know what the
//! frames carry ([`crate::transport`]).
//!
//! Map: [`validation`] (the dependency rules and their texts), [`context`] (files →
//! OpenSSL contexts, [`build`]), [`server`] (passive side), [`client`] (outgoing side),
//! `peer` (certificate checks both sides share), [`psk`], [`dn`], [`args`] (`--tls-*`).
//! The stream type they hand out is [`crate::stream::Stream`].
//!
//! Interoperability (see docs/zabbix-protocol.md §7): Debian's GnuTLS-built 6.0 peers
//! speak TLS 1.2 only, PSK with ECDHE-PSK/PSK AES128 suites, certificates with
//! ECDHE-RSA/RSA AES128 suites; OpenSSL-built peers add TLS 1.3. zagent uses the
//! official OpenSSL builds' defaults: TLS 1.2 minimum; PSK `kECDHEPSK+AES128:kPSK+AES128`
//! and, for TLS 1.3, `TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256` (the PSK is
//! SHA-256 bound); certificates `EECDH+aRSA+AES128:RSA+aRSA+AES128` and OpenSSL's TLS 1.3
//! suites; ECDHE on P-256; no session tickets or cache. `TLSCipher*` override these.
//!
//! Key-file permissions: zabbix_agentd 6.0 does not check them. zagent, a drop-in
//! replacement, does not refuse to start either (that would break configurations the
//! official agent runs with), but it warns at start-up when the PSK file or `TLSKeyFile`
//! can be read or written by users other than its owner and group (`chmod o-rwx`).
//! Group access is normal (`root:zabbix 0640`).

pub mod args;
pub mod dn;
pub mod psk;

pub mod client;
pub mod context;
mod peer;
pub mod server;
pub mod validation;

use openssl::error::ErrorStack;

use crate::config::Config;

/// OpenSSL-build default TLS 1.2 PSK suites of Zabbix.
pub const CIPHERS_PSK: &str = "kECDHEPSK+AES128:kPSK+AES128";
/// TLS 1.3 suites usable with a PSK (SHA-256 only).
pub const CIPHERS_PSK_TLS13: &str = "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";
/// OpenSSL-build default TLS 1.2 certificate suites of Zabbix.
pub const CIPHERS_CERT: &str = "EECDH+aRSA+AES128:RSA+aRSA+AES128";
/// The only ECDHE group Zabbix configures.
const GROUPS: &str = "P-256";
/// The first byte of a TLS handshake record.
pub const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Why the TLS settings cannot be used. The text is zabbix_agentd's where it has one.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A setting is missing, empty or inconsistent with another.
    #[error("{0}")]
    Config(String),
    /// A file cannot be read or its content is refused.
    #[error("{0}")]
    File(String),
    /// OpenSSL refused a setting or a file.
    #[error("{what} {source}")]
    OpenSsl {
        /// What was being done, ending with `:`.
        what: String,
        /// OpenSSL's errors.
        source: ErrorStack,
    },
}

fn ossl(what: impl Into<String>) -> impl FnOnce(ErrorStack) -> TlsError {
    let what = what.into();
    move |source| TlsError::OpenSsl { what, source }
}

/// Which program the settings are for: the names in messages and the checks differ as
/// between zabbix_agentd, zabbix_get and zabbix_sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// The agent; `active` when `ServerActive` is set, `passive` when it listens.
    Agent {
        /// Makes outgoing connections (active checks): `TLSConnect` is checked.
        active: bool,
        /// Accepts connections (passive checks): `TLSAccept` is checked.
        passive: bool,
    },
    /// `zagent get` (names like zabbix_get's command line).
    Get,
    /// `zagent send` (names like zabbix_sender's: configuration file or command line).
    Sender,
}

impl Program {
    /// The agent as `cfg` runs it.
    pub fn agent(cfg: &Config) -> Program {
        Program::Agent {
            active: !cfg.server_active.is_empty(),
            passive: !cfg.server.is_empty() && cfg.start_agents != 0,
        }
    }

    fn connects(self) -> bool {
        match self {
            Program::Agent { active, .. } => active,
            Program::Get | Program::Sender => true,
        }
    }

    fn accepts(self) -> bool {
        matches!(self, Program::Agent { passive: true, .. })
    }
}

pub use client::TlsClient;
pub use context::{build, permission_warning, read_psk_file, TlsContext};
pub use server::{AcceptModes, Rejected, TlsServer};
pub use validation::validate;
