//! Reads the PSK, certificate, key, CA and CRL files and builds the OpenSSL contexts once
//! ([`build`]). It must not run a handshake ([`super::server`], [`super::client`]).

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use openssl::ex_data::Index;
use openssl::ssl::{
    Ssl, SslContext, SslContextBuilder, SslFiletype, SslMethod, SslOptions, SslRef,
    SslSessionCacheMode, SslVerifyMode, SslVersion,
};
use openssl::x509::store::X509Lookup;
use openssl::x509::verify::X509VerifyFlags;
use tracing::{debug, warn};

use crate::config::{TlsConfig, TlsMode};
use crate::sys::oserror::zbx_strerror;

use super::client::TlsClient;
use super::psk::{self, Psk};
use super::server::{seen_index, AcceptModes, PskSeen, TlsServer};
use super::validation::{quoted, validate};
use super::{ossl, Program, TlsError, CIPHERS_CERT, CIPHERS_PSK, CIPHERS_PSK_TLS13, GROUPS};
use crate::config::tls_rules::TlsParam;

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
            quoted(TlsParam::CipherPsk13, program)
        )))?,
        None => b
            .set_ciphersuites(CIPHERS_PSK_TLS13)
            .map_err(ossl("cannot set list of PSK TLS 1.3 ciphersuites:"))?,
    }
    match &cfg.cipher_psk {
        Some(list) => b.set_cipher_list(list).map_err(ossl(format!(
            "cannot set list of TLS 1.2 PSK ciphersuites from {} parameter:",
            quoted(TlsParam::CipherPsk, program)
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
                    quoted(TlsParam::CipherCert13, program)
                )))?;
            }
            match &cfg.cipher_cert {
                Some(list) => b.set_cipher_list(list).map_err(ossl(format!(
                    "cannot set list of TLS 1.2 certificate ciphersuites from {} parameter:",
                    quoted(TlsParam::CipherCert, program)
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
