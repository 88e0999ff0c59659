//! The passive side of a connection: first-byte sniff, the `TLSAccept` check, the handshake
//! and the PSK identity / certificate checks ([`TlsServer::accept`]).

use std::fmt;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Duration;

use openssl::ex_data::Index;
use openssl::ssl::{Ssl, SslContext, SslRef};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;
use tracing::debug;

use crate::config::TlsMode;
use crate::stream::Stream;

use super::peer::{check_peer_certificate, handshake_reason, stack_reasons, Side};
use super::{ossl, TlsError, TLS_HANDSHAKE_RECORD};

/// The per-connection slot the PSK callback writes to: one for the process (OpenSSL's
/// ex-data indexes are global and never freed).
pub(super) fn seen_index() -> Result<Index<Ssl, PskSeen>, TlsError> {
    static SEEN: OnceLock<Index<Ssl, PskSeen>> = OnceLock::new();
    if let Some(i) = SEEN.get() {
        return Ok(*i);
    }
    let i = Ssl::new_ex_index::<PskSeen>().map_err(ossl("cannot allocate TLS state:"))?;
    Ok(*SEEN.get_or_init(|| i))
}

/// What the server-side PSK callback found, for the log after a failed handshake.
#[derive(Debug, Clone)]
pub(super) struct PskSeen {
    pub(super) identity: String,
    pub(super) matched: bool,
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
    pub(super) modes: AcceptModes,
    /// The context for TLS connections and the slot its PSK callback writes to.
    pub(super) ctx: Option<(SslContext, Index<Ssl, PskSeen>)>,
    pub(super) issuer: Option<String>,
    pub(super) subject: Option<String>,
    pub(super) psk_identity: Option<String>,
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn accept_modes_display_as_configured() {
        let m = AcceptModes::from(&vec![TlsMode::Cert, TlsMode::Unencrypted]);
        assert_eq!(m.to_string(), "unencrypted,cert");
        assert_eq!(
            Rejected::Unencrypted(AcceptModes::from(&vec![TlsMode::Psk])).to_string(),
            "unencrypted connections are not allowed (TLSAccept=psk)"
        );
    }
}
