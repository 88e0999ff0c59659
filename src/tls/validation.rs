//! The `TLS*` dependency rules zabbix_agentd, zabbix_get and zabbix_sender check at start-up,
//! with their texts. It must not read files or build OpenSSL contexts ([`super::context`]).

use crate::config::{TlsConfig, TlsMode};

use super::{Program, TlsError};

/// The settings, by the name the user wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Param {
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
    pub(super) fn quoted(self, program: Program) -> String {
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
}
