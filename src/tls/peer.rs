//! What both sides check after a handshake: the peer certificate's issuer/subject, and
//! OpenSSL's reasons in short form.

use openssl::error::ErrorStack;
use openssl::ssl::SslRef;
use openssl::x509::X509VerifyResult;

use super::dn;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Client,
    Server,
}

/// The peer's certificate must have passed verification and match the required
/// issuer/subject (exact string comparison, as Zabbix's "simplified match").
pub(super) fn check_peer_certificate(
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
pub(super) fn stack_reasons(stack: &ErrorStack) -> String {
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

pub(super) fn handshake_reason(ssl: &SslRef, e: &openssl::ssl::Error) -> String {
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
