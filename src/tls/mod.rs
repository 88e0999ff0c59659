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

use std::fmt;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use openssl::error::ErrorStack;
use openssl::ex_data::Index;
use openssl::ssl::{
    Ssl, SslContext, SslContextBuilder, SslFiletype, SslMethod, SslOptions, SslRef,
    SslSessionCacheMode, SslVerifyMode, SslVersion,
};
use openssl::x509::store::X509Lookup;
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::X509VerifyResult;
use tokio::net::TcpStream;
use tokio_openssl::SslStream;
use tracing::{debug, warn};

use crate::config::{Config, TlsConfig, TlsMode};
use crate::sys::oserror::zbx_strerror;
use crate::transport::Stream;

use psk::Psk;

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

/// The settings, by the name the user wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    Connect,
    Accept,
    CaFile,
    CrlFile,
    ServerCertIssuer,
    ServerCertSubject,
    CertFile,
    KeyFile,
    PskIdentity,
    PskFile,
    CipherCert13,
    CipherCert,
    CipherPsk13,
    CipherPsk,
    CipherAll13,
    CipherAll,
}

impl Param {
    fn file_name(self) -> &'static str {
        match self {
            Param::Connect => "TLSConnect",
            Param::Accept => "TLSAccept",
            Param::CaFile => "TLSCAFile",
            Param::CrlFile => "TLSCRLFile",
            Param::ServerCertIssuer => "TLSServerCertIssuer",
            Param::ServerCertSubject => "TLSServerCertSubject",
            Param::CertFile => "TLSCertFile",
            Param::KeyFile => "TLSKeyFile",
            Param::PskIdentity => "TLSPSKIdentity",
            Param::PskFile => "TLSPSKFile",
            Param::CipherCert13 => "TLSCipherCert13",
            Param::CipherCert => "TLSCipherCert",
            Param::CipherPsk13 => "TLSCipherPSK13",
            Param::CipherPsk => "TLSCipherPSK",
            Param::CipherAll13 => "TLSCipherAll13",
            Param::CipherAll => "TLSCipherAll",
        }
    }

    fn cli_name(self, program: Program) -> &'static str {
        match self {
            Param::Connect => "--tls-connect",
            Param::CaFile => "--tls-ca-file",
            Param::CrlFile => "--tls-crl-file",
            Param::ServerCertIssuer if program == Program::Get => "--tls-agent-cert-issuer",
            Param::ServerCertSubject if program == Program::Get => "--tls-agent-cert-subject",
            Param::ServerCertIssuer => "--tls-server-cert-issuer",
            Param::ServerCertSubject => "--tls-server-cert-subject",
            Param::CertFile => "--tls-cert-file",
            Param::KeyFile => "--tls-key-file",
            Param::PskIdentity => "--tls-psk-identity",
            Param::PskFile => "--tls-psk-file",
            Param::CipherCert13 | Param::CipherPsk13 => "--tls-cipher13",
            Param::CipherCert | Param::CipherPsk => "--tls-cipher",
            Param::Accept | Param::CipherAll13 | Param::CipherAll => self.file_name(),
        }
    }

    /// `"X"` for the agent and zabbix_get, `"X" or "--x"` for the sender.
    fn quoted(self, program: Program) -> String {
        match program {
            Program::Agent { .. } => format!("\"{}\"", self.file_name()),
            Program::Get => format!("\"{}\"", self.cli_name(program)),
            Program::Sender if self.file_name() == self.cli_name(program) => {
                format!("\"{}\"", self.file_name())
            }
            Program::Sender => {
                format!("\"{}\" or \"{}\"", self.file_name(), self.cli_name(program))
            }
        }
    }
}

fn dependency(program: Program, p1: Param, p2: Param) -> TlsError {
    TlsError::Config(match program {
        Program::Sender => format!(
            "parameter {} is defined, but neither \"{}\" nor \"{}\" is defined",
            p1.quoted(program),
            p2.file_name(),
            p2.cli_name(program)
        ),
        _ => format!(
            "parameter {} is defined, but {} is not defined",
            p1.quoted(program),
            p2.quoted(program)
        ),
    })
}

fn requirement(program: Program, p1: Param, p2: Param) -> TlsError {
    TlsError::Config(match program {
        Program::Sender => format!(
            "parameter {} value requires {}, but neither of them is defined",
            p1.quoted(program),
            p2.quoted(program)
        ),
        _ => format!(
            "parameter {} value requires {}, but it is not defined",
            p1.quoted(program),
            p2.quoted(program)
        ),
    })
}

fn not_applicable(param: Param, used: &str) -> TlsError {
    TlsError::Config(format!(
        "parameter \"{}\" cannot be applied: {used}",
        param.file_name()
    ))
}

/// Checks the combination of settings as zabbix_agentd (or zabbix_get/zabbix_sender)
/// does before it reads any file. Pure.
pub fn validate(cfg: &TlsConfig, program: Program) -> Result<(), TlsError> {
    let text = [
        (
            Param::CaFile,
            cfg.ca_file.as_ref().map(|p| p.to_string_lossy()),
        ),
        (
            Param::CrlFile,
            cfg.crl_file.as_ref().map(|p| p.to_string_lossy()),
        ),
        (
            Param::ServerCertIssuer,
            cfg.server_cert_issuer.as_deref().map(Into::into),
        ),
        (
            Param::ServerCertSubject,
            cfg.server_cert_subject.as_deref().map(Into::into),
        ),
        (
            Param::CertFile,
            cfg.cert_file.as_ref().map(|p| p.to_string_lossy()),
        ),
        (
            Param::KeyFile,
            cfg.key_file.as_ref().map(|p| p.to_string_lossy()),
        ),
        (
            Param::PskIdentity,
            cfg.psk_identity.as_deref().map(Into::into),
        ),
        (
            Param::PskFile,
            cfg.psk_file.as_ref().map(|p| p.to_string_lossy()),
        ),
        (
            Param::CipherCert13,
            cfg.cipher_cert13.as_deref().map(Into::into),
        ),
        (
            Param::CipherCert,
            cfg.cipher_cert.as_deref().map(Into::into),
        ),
        (
            Param::CipherPsk13,
            cfg.cipher_psk13.as_deref().map(Into::into),
        ),
        (Param::CipherPsk, cfg.cipher_psk.as_deref().map(Into::into)),
        (
            Param::CipherAll13,
            cfg.cipher_all13.as_deref().map(Into::into),
        ),
        (Param::CipherAll, cfg.cipher_all.as_deref().map(Into::into)),
    ];
    for (param, value) in &text {
        if let Some(v) = value {
            if v.trim().is_empty() {
                return Err(TlsError::Config(format!(
                    "configuration parameter {} is defined but empty",
                    param.quoted(program)
                )));
            }
        }
    }
    if cfg.accept.is_empty() && program.accepts() {
        return Err(TlsError::Config(format!(
            "configuration parameter {} is defined but empty",
            Param::Accept.quoted(program)
        )));
    }

    let cert = cfg.cert_file.is_some();
    let psk_id = cfg.psk_identity.is_some();
    let psk_file = cfg.psk_file.is_some();
    if cert && cfg.key_file.is_none() {
        return Err(dependency(program, Param::CertFile, Param::KeyFile));
    }
    if cfg.key_file.is_some() && !cert {
        return Err(dependency(program, Param::KeyFile, Param::CertFile));
    }
    if cert && cfg.ca_file.is_none() {
        return Err(dependency(program, Param::CertFile, Param::CaFile));
    }
    if cfg.ca_file.is_some() && !cert {
        return Err(dependency(program, Param::CaFile, Param::CertFile));
    }
    if cfg.crl_file.is_some() && !cert {
        return Err(dependency(program, Param::CrlFile, Param::CertFile));
    }
    if cfg.server_cert_issuer.is_some() && !cert {
        return Err(dependency(
            program,
            Param::ServerCertIssuer,
            Param::CertFile,
        ));
    }
    if cfg.server_cert_subject.is_some() && !cert {
        return Err(dependency(
            program,
            Param::ServerCertSubject,
            Param::CertFile,
        ));
    }
    if psk_file && !psk_id {
        return Err(dependency(program, Param::PskFile, Param::PskIdentity));
    }
    if psk_id && !psk_file {
        return Err(dependency(program, Param::PskIdentity, Param::PskFile));
    }
    if program.connects() {
        if cfg.connect == TlsMode::Cert && !cert {
            return Err(requirement(program, Param::Connect, Param::CertFile));
        }
        if cfg.connect == TlsMode::Psk && !psk_file {
            return Err(requirement(program, Param::Connect, Param::PskFile));
        }
    }
    if program.accepts() {
        if cfg.accept.contains(&TlsMode::Cert) && !cert {
            return Err(requirement(program, Param::Accept, Param::CertFile));
        }
        if cfg.accept.contains(&TlsMode::Psk) && !psk_file {
            return Err(requirement(program, Param::Accept, Param::PskFile));
        }
    }
    if cfg.cipher_cert13.is_some() && !cert {
        return Err(dependency(program, Param::CipherCert13, Param::CertFile));
    }
    if cfg.cipher_cert.is_some() && !cert {
        return Err(dependency(program, Param::CipherCert, Param::CertFile));
    }
    if cfg.cipher_psk13.is_some() && !psk_id {
        return Err(dependency(program, Param::CipherPsk13, Param::PskIdentity));
    }
    if cfg.cipher_psk.is_some() && !psk_id {
        return Err(dependency(program, Param::CipherPsk, Param::PskIdentity));
    }
    for p in [Param::CipherAll13, Param::CipherAll] {
        let set = match p {
            Param::CipherAll13 => cfg.cipher_all13.is_some(),
            _ => cfg.cipher_all.is_some(),
        };
        if set && !cert && !psk_id {
            return Err(TlsError::Config(format!(
                "parameter {} is defined, but neither {} nor {} is defined",
                p.quoted(program),
                Param::CertFile.quoted(program),
                Param::PskIdentity.quoted(program)
            )));
        }
    }
    // zabbix_agentd builds a combined certificate+PSK context only when both are
    // configured; TLSCipherAll* have nothing to apply to otherwise.
    if !(cert && psk_file) {
        if cfg.cipher_all13.is_some() {
            return Err(not_applicable(
                Param::CipherAll13,
                "the combined list of certificate and PSK ciphersuites is not used. Most \
                 likely parameters \"TLSCipherCert13\" and/or \"TLSCipherPSK13\" are sufficient",
            ));
        }
        if cfg.cipher_all.is_some() {
            return Err(not_applicable(
                Param::CipherAll,
                "the combined list of certificate and PSK ciphersuites is not used. Most \
                 likely parameters \"TLSCipherCert\" and/or \"TLSCipherPSK\" are sufficient",
            ));
        }
    }
    Ok(())
}

/// What [`build`] made: the listener's side and the client's side, built once at start.
#[derive(Debug, Clone)]
pub struct TlsContext {
    /// For the passive listener; accepts unencrypted only when `TLSAccept=unencrypted`.
    pub server: Arc<TlsServer>,
    /// For outgoing connections (active checks, `get`, `send`); `None` when
    /// `TLSConnect=unencrypted` (or the agent makes no outgoing connections).
    pub client: Option<Arc<TlsClient>>,
    /// Start-up warnings, already logged (file permissions).
    pub warnings: Vec<String>,
}

/// Validates `cfg` for `program`, reads every file it names and builds the OpenSSL
/// contexts. Call once at start-up; errors are fatal (zabbix_agentd exits on them).
pub fn build(cfg: &TlsConfig, program: Program) -> Result<TlsContext, TlsError> {
    validate(cfg, program)?;
    // Nothing to encrypt and no TLS material named: OpenSSL is never initialised, which
    // keeps libcrypto's pages (about 3 MB of RSS) out of a plain agent.
    let plain_accept =
        !program.accepts() || AcceptModes::from(&cfg.accept) == AcceptModes::UNENCRYPTED;
    let plain_connect = !program.connects() || cfg.connect == TlsMode::Unencrypted;
    let no_material = cfg.psk_identity.is_none()
        && cfg.psk_file.is_none()
        && cfg.cert_file.is_none()
        && cfg.key_file.is_none()
        && cfg.ca_file.is_none()
        && cfg.crl_file.is_none();
    if plain_accept && plain_connect && no_material {
        return Ok(TlsContext {
            server: Arc::new(TlsServer::unencrypted()),
            client: None,
            warnings: Vec::new(),
        });
    }
    let mut warnings = Vec::new();
    if let Some(id) = &cfg.psk_identity {
        // zabbix_agentd 6.0.14 starts with a longer identity (later releases refuse it);
        // zagent starts too, but says why no server will ever match it.
        if let Err(m) = psk::check_identity(id) {
            warnings.push(format!(
                "{m} The Zabbix server stores at most 128 bytes per host identity, so \
                 TLSPSKIdentity cannot match a host; shorten it"
            ));
        }
    }

    let psk = match (&cfg.psk_identity, &cfg.psk_file) {
        (Some(identity), Some(path)) => {
            let key = read_psk_file(path)?;
            warnings.extend(permission_warning(path, "TLSPSKFile"));
            Some(Arc::new(PskSecret {
                identity: identity.clone(),
                key,
            }))
        }
        _ => None,
    };
    if let Some(path) = &cfg.key_file {
        warnings.extend(permission_warning(path, "TLSKeyFile"));
    }
    for w in &warnings {
        warn!("{w}");
    }

    let seen = seen_index()?;
    // Client-side contexts are built whenever the material is configured, so that a
    // broken file stops the start as it stops zabbix_agentd, used or not.
    let ctx_psk = match &psk {
        Some(secret) => Some(psk_context(cfg, program, secret, seen, Role::Client)?),
        None => None,
    };
    let ctx_cert = match cfg.cert_file {
        Some(_) => Some(cert_context(cfg, program, None, Role::Client)?),
        None => None,
    };

    let modes = AcceptModes::from(&cfg.accept);
    let accept_ctx = match (&psk, program.accepts()) {
        (_, false) => None,
        (Some(secret), true) if modes.cert && modes.psk => Some(cert_context(
            cfg,
            program,
            Some((secret, seen)),
            Role::Server,
        )?),
        (_, true) if modes.cert => Some(cert_context(cfg, program, None, Role::Server)?),
        (Some(secret), true) if modes.psk => {
            Some(psk_context(cfg, program, secret, seen, Role::Server)?)
        }
        _ => None,
    };
    let server = Arc::new(TlsServer {
        modes: if program.accepts() {
            modes
        } else {
            AcceptModes::UNENCRYPTED
        },
        ctx: accept_ctx.map(|c| (c, seen)),
        issuer: cfg.server_cert_issuer.clone(),
        subject: cfg.server_cert_subject.clone(),
        psk_identity: psk.as_ref().map(|p| p.identity.clone()),
    });

    let client = if !program.connects() {
        None
    } else {
        match cfg.connect {
            TlsMode::Unencrypted => None,
            TlsMode::Psk => ctx_psk.map(|ctx| {
                Arc::new(TlsClient {
                    mode: TlsMode::Psk,
                    ctx,
                    issuer: None,
                    subject: None,
                    psk_identity: psk.as_ref().map(|p| p.identity.clone()),
                })
            }),
            TlsMode::Cert => ctx_cert.map(|ctx| {
                Arc::new(TlsClient {
                    mode: TlsMode::Cert,
                    ctx,
                    issuer: cfg.server_cert_issuer.clone(),
                    subject: cfg.server_cert_subject.clone(),
                    psk_identity: None,
                })
            }),
        }
    };
    Ok(TlsContext {
        server,
        client,
        warnings,
    })
}

struct PskSecret {
    identity: String,
    key: Psk,
}

/// Reads and decodes a PSK file (first line, 32–512 hex digits).
pub fn read_psk_file(path: &Path) -> Result<Psk, TlsError> {
    let shown = path.display().to_string();
    // The first line is all zabbix_agentd reads; cap what we read likewise.
    let content = read_capped(path, 4096).map_err(|e| {
        TlsError::File(format!(
            "cannot open file \"{shown}\": {}",
            zbx_strerror(&e)
        ))
    })?;
    psk::parse_psk_file(&content).map_err(|e| TlsError::File(e.message(&shown)))
}

fn read_capped(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let mut out = Vec::new();
    f.take(cap).read_to_end(&mut out)?;
    Ok(out)
}

/// A warning when `path` is accessible to "others" (see the module comment).
pub fn permission_warning(path: &Path, param: &str) -> Option<String> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o007 != 0).then(|| {
        format!(
            "{param} \"{}\" is accessible by all users (mode {:04o}): anyone on this host can \
             read the secret; restrict it with \"chmod o-rwx\"",
            path.display(),
            mode & 0o7777
        )
    })
}

/// Which end of the connection a context serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Client,
    Server,
}

/// Settings shared by every context, as the official OpenSSL builds set them.
fn base_context(role: Role) -> Result<SslContextBuilder, TlsError> {
    let mut b =
        SslContextBuilder::new(SslMethod::tls()).map_err(ossl("cannot initialize TLS method:"))?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(ossl("cannot initialize TLS method:"))?;
    b.set_options(SslOptions::CIPHER_SERVER_PREFERENCE | SslOptions::NO_TICKET);
    b.set_session_cache_mode(SslSessionCacheMode::OFF);
    b.set_groups_list(GROUPS)
        .map_err(ossl("cannot set the ECDHE group P-256:"))?;
    if role == Role::Server {
        // As zabbix_agentd sets on accepted connections; OpenSSL wants one on a server
        // that verifies peers, and a client PSK session must not carry one.
        b.set_session_id_context(b"Zbx")
            .map_err(ossl("cannot set session_id_context:"))?;
    }
    Ok(b)
}

/// The per-connection slot the PSK callback writes to: one for the process (OpenSSL's
/// ex-data indexes are global and never freed).
fn seen_index() -> Result<Index<Ssl, PskSeen>, TlsError> {
    static SEEN: OnceLock<Index<Ssl, PskSeen>> = OnceLock::new();
    if let Some(i) = SEEN.get() {
        return Ok(*i);
    }
    let i = Ssl::new_ex_index::<PskSeen>().map_err(ossl("cannot allocate TLS state:"))?;
    Ok(*SEEN.get_or_init(|| i))
}

/// What the server-side PSK callback found, for the log after a failed handshake.
#[derive(Debug, Clone)]
struct PskSeen {
    identity: String,
    matched: bool,
}

fn set_psk_callbacks(
    b: &mut SslContextBuilder,
    secret: &Arc<PskSecret>,
    seen: Index<Ssl, PskSeen>,
) {
    let s = Arc::clone(secret);
    b.set_psk_server_callback(move |ssl: &mut SslRef, identity: Option<&[u8]>, out: &mut [u8]| {
        let got = String::from_utf8_lossy(identity.unwrap_or_default()).into_owned();
        let matched = got == s.identity;
        ssl.set_ex_data(
            seen,
            PskSeen {
                identity: got.clone(),
                matched,
            },
        );
        if !matched {
            debug!(requested = %got, available = %s.identity, "Cannot find requested PSK identity");
            return Ok(0);
        }
        let key = s.key.as_bytes();
        if out.len() < key.len() {
            warn!(identity = %got, buffer = out.len(), "PSK does not fit into OpenSSL's buffer");
            return Ok(0);
        }
        out[..key.len()].copy_from_slice(key);
        Ok(key.len())
    });
    let s = Arc::clone(secret);
    b.set_psk_client_callback(
        move |_ssl: &mut SslRef, _hint: Option<&[u8]>, id_out: &mut [u8], key_out: &mut [u8]| {
            let id = s.identity.as_bytes();
            let key = s.key.as_bytes();
            if id_out.len() < id.len() + 1 || key_out.len() < key.len() {
                warn!(identity = %s.identity, "PSK identity or key does not fit into OpenSSL's buffer");
                return Ok(0);
            }
            id_out[..id.len()].copy_from_slice(id);
            id_out[id.len()] = 0;
            key_out[..key.len()].copy_from_slice(key);
            Ok(key.len())
        },
    );
}

fn psk_context(
    cfg: &TlsConfig,
    program: Program,
    secret: &Arc<PskSecret>,
    seen: Index<Ssl, PskSeen>,
    role: Role,
) -> Result<SslContext, TlsError> {
    let mut b = base_context(role)?;
    set_psk_callbacks(&mut b, secret, seen);
    match &cfg.cipher_psk13 {
        Some(list) => b.set_ciphersuites(list).map_err(ossl(format!(
            "cannot set list of TLS 1.3 PSK ciphersuites from {} parameter:",
            Param::CipherPsk13.quoted(program)
        )))?,
        None => b
            .set_ciphersuites(CIPHERS_PSK_TLS13)
            .map_err(ossl("cannot set list of PSK TLS 1.3 ciphersuites:"))?,
    }
    match &cfg.cipher_psk {
        Some(list) => b.set_cipher_list(list).map_err(ossl(format!(
            "cannot set list of TLS 1.2 PSK ciphersuites from {} parameter:",
            Param::CipherPsk.quoted(program)
        )))?,
        None => b
            .set_cipher_list(CIPHERS_PSK)
            .map_err(ossl("cannot set list of PSK ciphersuites:"))?,
    }
    Ok(b.build())
}

/// The certificate context, or with `psk` the combined certificate+PSK one that a
/// listener with `TLSAccept=cert,psk` uses.
fn cert_context(
    cfg: &TlsConfig,
    program: Program,
    psk: Option<(&Arc<PskSecret>, Index<Ssl, PskSeen>)>,
    role: Role,
) -> Result<SslContext, TlsError> {
    let (Some(ca), Some(cert), Some(key)) = (&cfg.ca_file, &cfg.cert_file, &cfg.key_file) else {
        // validate() guarantees all three; say so rather than panic.
        return Err(TlsError::Config(
            "TLSCertFile, TLSKeyFile and TLSCAFile must be defined together".to_string(),
        ));
    };
    let mut b = base_context(role)?;
    b.set_ca_file(ca).map_err(ossl(format!(
        "cannot load CA certificate(s) from file \"{}\":",
        ca.display()
    )))?;
    b.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    if let Some(crl) = &cfg.crl_file {
        let what = format!("cannot load CRL(s) from file \"{}\":", crl.display());
        let store = b.cert_store_mut();
        let lookup = store
            .add_lookup(X509Lookup::file())
            .map_err(ossl(what.clone()))?;
        lookup
            .load_crl_file(crl, SslFiletype::PEM)
            .map_err(ossl(what.clone()))?;
        store
            .set_flags(X509VerifyFlags::CRL_CHECK | X509VerifyFlags::CRL_CHECK_ALL)
            .map_err(ossl(what))?;
    }
    b.set_certificate_chain_file(cert).map_err(ossl(format!(
        "cannot load certificate(s) from file \"{}\":",
        cert.display()
    )))?;
    b.set_private_key_file(key, SslFiletype::PEM)
        .map_err(ossl(format!(
            "cannot load private key from file \"{}\":",
            key.display()
        )))?;
    b.check_private_key()
        .map_err(ossl("certificate and private key do not match:"))?;
    match psk {
        None => {
            if let Some(list) = &cfg.cipher_cert13 {
                b.set_ciphersuites(list).map_err(ossl(format!(
                    "cannot set list of TLS 1.3 certificate ciphersuites from {} parameter:",
                    Param::CipherCert13.quoted(program)
                )))?;
            }
            match &cfg.cipher_cert {
                Some(list) => b.set_cipher_list(list).map_err(ossl(format!(
                    "cannot set list of TLS 1.2 certificate ciphersuites from {} parameter:",
                    Param::CipherCert.quoted(program)
                )))?,
                None => b
                    .set_cipher_list(CIPHERS_CERT)
                    .map_err(ossl("cannot set list of certificate ciphersuites:"))?,
            }
        }
        Some((secret, seen)) => {
            set_psk_callbacks(&mut b, secret, seen);
            if let Some(list) = &cfg.cipher_all13 {
                b.set_ciphersuites(list).map_err(ossl(
                    "cannot set list of TLS 1.3 ciphersuites from \"TLSCipherAll13\" parameter:",
                ))?;
            }
            match &cfg.cipher_all {
                Some(list) => b.set_cipher_list(list).map_err(ossl(
                    "cannot set list of TLS 1.2 ciphersuites from \"TLSCipherAll\" parameter:",
                ))?,
                None => b
                    .set_cipher_list(&format!("{CIPHERS_CERT}:{CIPHERS_PSK}"))
                    .map_err(ossl("cannot set list of all ciphersuites:"))?,
            }
        }
    }
    Ok(b.build())
}

/// `TLSAccept` as three switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptModes {
    /// Plain connections.
    pub unencrypted: bool,
    /// TLS with the pre-shared key.
    pub psk: bool,
    /// TLS with certificates.
    pub cert: bool,
}

impl AcceptModes {
    /// Only plain connections (the default).
    pub const UNENCRYPTED: AcceptModes = AcceptModes {
        unencrypted: true,
        psk: false,
        cert: false,
    };
}

impl From<&Vec<TlsMode>> for AcceptModes {
    fn from(modes: &Vec<TlsMode>) -> AcceptModes {
        AcceptModes {
            unencrypted: modes.contains(&TlsMode::Unencrypted),
            psk: modes.contains(&TlsMode::Psk),
            cert: modes.contains(&TlsMode::Cert),
        }
    }
}

impl fmt::Display for AcceptModes {
    /// As written in the configuration: `unencrypted,psk,cert`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = Vec::new();
        if self.unencrypted {
            names.push("unencrypted");
        }
        if self.psk {
            names.push("psk");
        }
        if self.cert {
            names.push("cert");
        }
        f.write_str(&names.join(","))
    }
}

/// Why a passive connection was closed without a reply. The text is for a human: what
/// happened and which setting decides it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// A plain connection while `TLSAccept` has no `unencrypted`.
    #[error("unencrypted connections are not allowed (TLSAccept={0})")]
    Unencrypted(AcceptModes),
    /// A TLS connection while `TLSAccept=unencrypted`.
    #[error("TLS connections are not allowed (TLSAccept={0})")]
    Tls(AcceptModes),
    /// The peer closed before sending anything.
    #[error("connection closed by peer before sending anything")]
    Closed,
    /// Reading the first byte failed.
    #[error("reading first byte from connection failed: {0}")]
    Read(String),
    /// Nothing arrived, or the handshake did not finish, within `Timeout`.
    #[error("no request and no completed TLS handshake within Timeout ({0}s)")]
    Timeout(u64),
    /// The TLS handshake failed.
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
    /// The certificate's issuer or subject differs from the configured one.
    #[error("{0}")]
    Certificate(String),
}

/// The passive listener's side: which modes `TLSAccept` allows and the context for them.
pub struct TlsServer {
    modes: AcceptModes,
    /// The context for TLS connections and the slot its PSK callback writes to.
    ctx: Option<(SslContext, Index<Ssl, PskSeen>)>,
    issuer: Option<String>,
    subject: Option<String>,
    psk_identity: Option<String>,
}

impl fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServer")
            .field("accept", &self.modes.to_string())
            .field("psk_identity", &self.psk_identity)
            .field("issuer", &self.issuer)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl TlsServer {
    /// A listener side that accepts only plain connections (`TLSAccept=unencrypted`).
    pub fn unencrypted() -> TlsServer {
        TlsServer {
            modes: AcceptModes::UNENCRYPTED,
            ctx: None,
            issuer: None,
            subject: None,
            psk_identity: None,
        }
    }

    /// What `TLSAccept` allows.
    pub fn modes(&self) -> AcceptModes {
        self.modes
    }

    /// Decides how `tcp` speaks from its first byte (peeked, not consumed): `0x16` is a
    /// TLS handshake, anything else unencrypted. Checks the mode against `TLSAccept`,
    /// runs the handshake and the peer checks. The whole is bounded by `timeout`.
    /// On `Err` the caller closes the connection without a reply.
    pub async fn accept(&self, tcp: TcpStream, timeout: Duration) -> Result<Stream, Rejected> {
        match tokio::time::timeout(timeout, self.accept_inner(tcp)).await {
            Ok(r) => r,
            Err(_) => Err(Rejected::Timeout(timeout.as_secs())),
        }
    }

    async fn accept_inner(&self, tcp: TcpStream) -> Result<Stream, Rejected> {
        let mut first = [0u8; 1];
        let n = tcp
            .peek(&mut first)
            .await
            .map_err(|e| Rejected::Read(e.to_string()))?;
        let tls = n == 1 && first[0] == TLS_HANDSHAKE_RECORD;
        if !tls {
            if n == 0 && !self.modes.unencrypted {
                return Err(Rejected::Closed);
            }
            return if self.modes.unencrypted {
                Ok(Stream::Plain(tcp))
            } else {
                Err(Rejected::Unencrypted(self.modes))
            };
        }
        let Some((ctx, seen)) = &self.ctx else {
            return Err(Rejected::Tls(self.modes));
        };
        let seen = *seen;
        let ssl = Ssl::new(ctx).map_err(|e| Rejected::Handshake(stack_reasons(&e)))?;
        let mut s = SslStream::new(ssl, tcp).map_err(|e| Rejected::Handshake(stack_reasons(&e)))?;
        if let Err(e) = Pin::new(&mut s).accept().await {
            return Err(Rejected::Handshake(self.explain_accept_failure(
                s.ssl(),
                seen,
                &e,
            )));
        }
        let psk_used = s.ssl().ex_data(seen).is_some_and(|p| p.matched);
        if psk_used {
            debug!(version = s.ssl().version_str(), cipher = ?s.ssl().current_cipher().map(|c| c.name()), "Accepted TLS connection with PSK");
        } else {
            check_peer_certificate(
                s.ssl(),
                self.issuer.as_deref(),
                self.subject.as_deref(),
                Side::Server,
            )
            .map_err(Rejected::Certificate)?;
        }
        Ok(Stream::Tls(Box::new(s)))
    }

    fn explain_accept_failure(
        &self,
        ssl: &SslRef,
        seen: Index<Ssl, PskSeen>,
        e: &openssl::ssl::Error,
    ) -> String {
        let mut reason = handshake_reason(ssl, e);
        match ssl.ex_data(seen) {
            Some(seen) if !seen.matched => {
                reason = format!(
                    "unknown PSK identity \"{}\" (TLSPSKIdentity is \"{}\"); {reason}",
                    seen.identity,
                    self.psk_identity.as_deref().unwrap_or("")
                );
            }
            Some(seen) if looks_like_wrong_key(&reason) => {
                reason = format!(
                    "the peer's pre-shared key for PSK identity \"{}\" differs from TLSPSKFile; {reason}",
                    seen.identity
                );
            }
            _ => {
                if reason.contains("no shared cipher") || reason.contains("no suitable") {
                    reason = format!(
                        "the peer offers no cipher suite for TLSAccept={} (PSK against a \
                         certificate listener, or the reverse?); {reason}",
                        self.modes
                    );
                }
            }
        }
        reason
    }
}

fn looks_like_wrong_key(reason: &str) -> bool {
    [
        "bad record mac",
        "decryption failed",
        "binder does not verify",
        "decrypt error",
    ]
    .iter()
    .any(|s| reason.contains(s))
}

/// The client side: how to encrypt outgoing connections (`TLSConnect`).
pub struct TlsClient {
    mode: TlsMode,
    ctx: SslContext,
    issuer: Option<String>,
    subject: Option<String>,
    psk_identity: Option<String>,
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("mode", &self.mode)
            .field("psk_identity", &self.psk_identity)
            .field("issuer", &self.issuer)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl TlsClient {
    /// `Psk` or `Cert`.
    pub fn mode(&self) -> TlsMode {
        self.mode
    }

    /// Runs the client handshake on a connected socket and checks the peer (a verified
    /// certificate with the required issuer/subject, in certificate mode). The error is
    /// the reason, as zabbix_get prints it after "cannot establish TLS to …:".
    pub async fn handshake(&self, tcp: TcpStream) -> Result<SslStream<TcpStream>, String> {
        let ssl = Ssl::new(&self.ctx).map_err(|e| stack_reasons(&e))?;
        let mut s = SslStream::new(ssl, tcp).map_err(|e| stack_reasons(&e))?;
        if let Err(e) = Pin::new(&mut s).connect().await {
            return Err(handshake_reason(s.ssl(), &e));
        }
        if self.mode == TlsMode::Cert {
            check_peer_certificate(
                s.ssl(),
                self.issuer.as_deref(),
                self.subject.as_deref(),
                Side::Client,
            )?;
        }
        debug!(version = s.ssl().version_str(), cipher = ?s.ssl().current_cipher().map(|c| c.name()), "TLS connection established");
        Ok(s)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// The peer's certificate must have passed verification and match the required
/// issuer/subject (exact string comparison, as Zabbix's "simplified match").
fn check_peer_certificate(
    ssl: &SslRef,
    issuer: Option<&str>,
    subject: Option<&str>,
    side: Side,
) -> Result<(), String> {
    let verify = ssl.verify_result();
    if verify != X509VerifyResult::OK {
        return Err(verify.error_string().to_string());
    }
    let issuer = issuer.filter(|s| !s.is_empty());
    let subject = subject.filter(|s| !s.is_empty());
    if issuer.is_none() && subject.is_none() {
        return Ok(());
    }
    let Some(cert) = ssl.peer_certificate() else {
        return Err("cannot obtain peer certificate".to_string());
    };
    let peer_issuer = dn::to_string(cert.issuer_name());
    let peer_subject = dn::to_string(cert.subject_name());
    let mut problems = Vec::new();
    if let Some(want) = issuer {
        if want != peer_issuer {
            problems.push(match side {
                Side::Client => format!("issuer: peer: \"{peer_issuer}\", required: \"{want}\""),
                Side::Server => format!(
                    "certificate issuer does not match: peer: \"{peer_issuer}\", \
                     TLSServerCertIssuer: \"{want}\""
                ),
            });
        }
    }
    if let Some(want) = subject {
        if want != peer_subject {
            problems.push(match side {
                Side::Client => {
                    format!("subject: peer: \"{peer_subject}\", required: \"{want}\"")
                }
                Side::Server => format!(
                    "certificate subject does not match: peer: \"{peer_subject}\", \
                     TLSServerCertSubject: \"{want}\""
                ),
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join(", "))
    }
}

/// OpenSSL's reasons, short (`tlsv1 alert unknown ca`), without file/line noise.
fn stack_reasons(stack: &ErrorStack) -> String {
    let reasons: Vec<String> = stack
        .errors()
        .iter()
        .map(|e| match e.reason() {
            Some(r) => r.to_string(),
            None => e.to_string(),
        })
        .collect();
    if reasons.is_empty() {
        "unknown OpenSSL error".to_string()
    } else {
        reasons.join("; ")
    }
}

fn handshake_reason(ssl: &SslRef, e: &openssl::ssl::Error) -> String {
    let mut parts = Vec::new();
    let verify = ssl.verify_result();
    if verify != X509VerifyResult::OK {
        parts.push(verify.error_string().to_string());
    }
    if let Some(stack) = e.ssl_error() {
        parts.push(stack_reasons(stack));
    } else if let Some(io) = e.io_error() {
        parts.push(format!("I/O error: {io}"));
    } else {
        parts.push("connection closed by peer".to_string());
    }
    parts.join(": ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn psk_cfg() -> TlsConfig {
        TlsConfig {
            accept: vec![TlsMode::Psk],
            psk_identity: Some("id".into()),
            psk_file: Some(PathBuf::from("/k")),
            ..TlsConfig::default()
        }
    }

    const AGENT: Program = Program::Agent {
        active: true,
        passive: true,
    };

    fn err(cfg: &TlsConfig, p: Program) -> String {
        validate(cfg, p).unwrap_err().to_string()
    }

    #[test]
    fn agent_messages_match_zabbix_agentd() {
        let mut c = TlsConfig {
            accept: vec![TlsMode::Psk],
            ..TlsConfig::default()
        };
        assert_eq!(
            err(&c, AGENT),
            "parameter \"TLSAccept\" value requires \"TLSPSKFile\", but it is not defined"
        );
        c.psk_identity = Some("x".into());
        assert_eq!(
            err(&c, AGENT),
            "parameter \"TLSPSKIdentity\" is defined, but \"TLSPSKFile\" is not defined"
        );
        c.psk_identity = None;
        c.psk_file = Some("/k".into());
        assert_eq!(
            err(&c, AGENT),
            "parameter \"TLSPSKFile\" is defined, but \"TLSPSKIdentity\" is not defined"
        );
        let c = TlsConfig {
            accept: vec![TlsMode::Psk, TlsMode::Unencrypted, TlsMode::Cert],
            ..psk_cfg()
        };
        assert_eq!(
            err(&c, AGENT),
            "parameter \"TLSAccept\" value requires \"TLSCertFile\", but it is not defined"
        );
        let c = TlsConfig {
            connect: TlsMode::Cert,
            accept: vec![TlsMode::Unencrypted],
            ..TlsConfig::default()
        };
        assert_eq!(
            err(&c, AGENT),
            "parameter \"TLSConnect\" value requires \"TLSCertFile\", but it is not defined"
        );
        // Without active checks TLSConnect is not checked, as in zabbix_agentd.
        assert!(validate(
            &c,
            Program::Agent {
                active: false,
                passive: true
            }
        )
        .is_ok());
        let c = TlsConfig {
            cipher_cert: Some("ALL".into()),
            ..psk_cfg()
        };
        assert_eq!(
            err(&c, AGENT),
            "parameter \"TLSCipherCert\" is defined, but \"TLSCertFile\" is not defined"
        );
        let c = TlsConfig {
            psk_identity: Some(" ".into()),
            ..psk_cfg()
        };
        assert_eq!(
            err(&c, AGENT),
            "configuration parameter \"TLSPSKIdentity\" is defined but empty"
        );
        assert!(validate(&psk_cfg(), AGENT).is_ok());
    }

    #[test]
    fn get_and_sender_name_their_flags() {
        let c = TlsConfig {
            connect: TlsMode::Psk,
            ..TlsConfig::default()
        };
        assert_eq!(
            err(&c, Program::Get),
            "parameter \"--tls-connect\" value requires \"--tls-psk-file\", but it is not defined"
        );
        assert_eq!(
            err(&c, Program::Sender),
            "parameter \"TLSConnect\" or \"--tls-connect\" value requires \"TLSPSKFile\" or \
             \"--tls-psk-file\", but neither of them is defined"
        );
        let c = TlsConfig {
            server_cert_issuer: Some("CN=x".into()),
            ..TlsConfig::default()
        };
        assert_eq!(
            err(&c, Program::Get),
            "parameter \"--tls-agent-cert-issuer\" is defined, but \"--tls-cert-file\" is not defined"
        );
        assert_eq!(
            err(&c, Program::Sender),
            "parameter \"TLSServerCertIssuer\" or \"--tls-server-cert-issuer\" is defined, but \
             neither \"TLSCertFile\" nor \"--tls-cert-file\" is defined"
        );
    }

    #[test]
    fn cipher_all_needs_both_kinds() {
        let c = TlsConfig {
            cipher_all: Some("ALL".into()),
            ..psk_cfg()
        };
        assert!(err(&c, AGENT).starts_with("parameter \"TLSCipherAll\" cannot be applied"));
    }

    #[test]
    fn accept_modes_display_as_configured() {
        let m = AcceptModes::from(&vec![TlsMode::Cert, TlsMode::Unencrypted]);
        assert_eq!(m.to_string(), "unencrypted,cert");
        assert_eq!(
            Rejected::Unencrypted(AcceptModes::from(&vec![TlsMode::Psk])).to_string(),
            "unencrypted connections are not allowed (TLSAccept=psk)"
        );
    }

    #[test]
    fn strerror_like_zabbix() {
        let e = io::Error::from_raw_os_error(2);
        assert_eq!(zbx_strerror(&e), "[2] No such file or directory");
    }
}
