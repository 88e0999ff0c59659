//! The client side of a connection (active checks, `get`, `send`): the handshake and the
//! server-certificate checks ([`TlsClient::handshake`]).

use std::fmt;
use std::pin::Pin;

use openssl::error::ErrorStack;
use openssl::ssl::{Ssl, SslContext};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;
use tracing::debug;

use crate::config::TlsMode;

use super::peer::{check_peer_certificate, handshake_reason, stack_reasons, Side};

/// The client side: how to encrypt outgoing connections (`TLSConnect`).
pub struct TlsClient {
    pub(super) mode: TlsMode,
    pub(super) ctx: SslContext,
    pub(super) issuer: Option<String>,
    pub(super) subject: Option<String>,
    pub(super) psk_identity: Option<String>,
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

/// A TLS client connection without certificate checks, with SNI when `host` is a name:
/// what zabbix_agentd's web and `net.tcp.service[https]` checks do (libcurl with
/// `CURLOPT_SSL_VERIFYPEER` and `CURLOPT_SSL_VERIFYHOST` off). Not for Zabbix traffic,
/// which uses [`TlsClient`].
pub async fn connect_unverified(
    stream: TcpStream,
    host: &str,
) -> Result<SslStream<TcpStream>, ErrorStack> {
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
    let mut b = SslConnector::builder(SslMethod::tls_client())?;
    b.set_verify(SslVerifyMode::NONE);
    let connector = b.build();
    let mut cfg = connector.configure()?;
    cfg.set_verify_hostname(false);
    let is_ip = host.parse::<std::net::IpAddr>().is_ok();
    cfg.set_use_server_name_indication(!is_ip);
    let ssl = cfg.into_ssl(host)?;
    let mut s = SslStream::new(ssl, stream)?;
    if let Err(e) = Pin::new(&mut s).connect().await {
        tracing::debug!(host, error = %e, "TLS handshake failed");
        return Err(ErrorStack::get());
    }
    Ok(s)
}
