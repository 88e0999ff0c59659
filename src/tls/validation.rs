//! The `TLS*` checks zabbix_agentd, zabbix_get and zabbix_sender make at start-up, in each
//! program's words (`--tls-*` flag names for get/send). The rules themselves are data in
//! [`crate::config::tls_rules`] (shared with the configuration file's check); this module
//! only says them. It must not read files or build OpenSSL contexts ([`super::context`]).

use crate::config::tls_rules::{self, Need, Rule, Settings, TlsParam};
use crate::config::{TlsConfig, TlsMode};

use super::{Program, TlsError};

/// A setting's name as the program's user wrote it: the directive for the agent, the
/// `--tls-*` flag for `zagent get`, either for `zagent send` (file or command line).
fn cli_name(p: TlsParam, program: Program) -> &'static str {
    use TlsParam as P;
    match p {
        P::Connect => "--tls-connect",
        P::CaFile => "--tls-ca-file",
        P::CrlFile => "--tls-crl-file",
        P::ServerCertIssuer if program == Program::Get => "--tls-agent-cert-issuer",
        P::ServerCertSubject if program == Program::Get => "--tls-agent-cert-subject",
        P::ServerCertIssuer => "--tls-server-cert-issuer",
        P::ServerCertSubject => "--tls-server-cert-subject",
        P::CertFile => "--tls-cert-file",
        P::KeyFile => "--tls-key-file",
        P::PskIdentity => "--tls-psk-identity",
        P::PskFile => "--tls-psk-file",
        P::CipherCert13 | P::CipherPsk13 => "--tls-cipher13",
        P::CipherCert | P::CipherPsk => "--tls-cipher",
        P::Accept | P::CipherAll13 | P::CipherAll => p.directive(),
    }
}

/// `"X"` for the agent and zabbix_get, `"X" or "--x"` for the sender.
pub(super) fn quoted(p: TlsParam, program: Program) -> String {
    match program {
        Program::Agent { .. } => format!("\"{}\"", p.directive()),
        Program::Get => format!("\"{}\"", cli_name(p, program)),
        Program::Sender if p.directive() == cli_name(p, program) => {
            format!("\"{}\"", p.directive())
        }
        Program::Sender => {
            format!("\"{}\" or \"{}\"", p.directive(), cli_name(p, program))
        }
    }
}

/// A broken rule in the words of zabbix_agentd, zabbix_get or zabbix_sender.
fn rule_message(rule: &Rule, program: Program) -> String {
    let p1 = quoted(rule.param, program);
    match (rule.need, program) {
        (Need::Set(p2), Program::Sender) => format!(
            "parameter {p1} is defined, but neither \"{}\" nor \"{}\" is defined",
            p2.directive(),
            cli_name(p2, program)
        ),
        (Need::Set(p2), _) => format!(
            "parameter {p1} is defined, but {} is not defined",
            quoted(p2, program)
        ),
        (Need::ModeNeeds(_, p2), Program::Sender) => format!(
            "parameter {p1} value requires {}, but neither of them is defined",
            quoted(p2, program)
        ),
        (Need::ModeNeeds(_, p2), _) => format!(
            "parameter {p1} value requires {}, but it is not defined",
            quoted(p2, program)
        ),
        (Need::Either(a, b), _) => format!(
            "parameter {p1} is defined, but neither {} nor {} is defined",
            quoted(a, program),
            quoted(b, program)
        ),
    }
}

fn not_applicable(param: TlsParam, used: &str) -> TlsError {
    TlsError::Config(format!(
        "parameter \"{}\" cannot be applied: {used}",
        param.directive()
    ))
}

/// The settings of a built [`TlsConfig`]: `TLSConnect` always has a value, `TLSAccept`
/// when its list is not empty.
/// `TLSConnect` counts as set for the agent (it has a default), and for zabbix_get and
/// zabbix_sender only when given (a mode other than the default was given, surely).
struct Built<'a>(&'a TlsConfig, Program);

impl Settings for Built<'_> {
    fn is_set(&self, p: TlsParam) -> bool {
        match p {
            TlsParam::Connect => {
                matches!(self.1, Program::Agent { .. })
                    || self.0.connect_given
                    || self.0.connect != TlsMode::Unencrypted
            }
            TlsParam::Accept => !self.0.accept.is_empty(),
            _ => p.text(self.0).is_some(),
        }
    }
    fn has_mode(&self, p: TlsParam, mode: TlsMode) -> bool {
        match p {
            TlsParam::Connect => self.0.connect == mode,
            TlsParam::Accept => self.0.accept.contains(&mode),
            _ => false,
        }
    }
}

/// Checks the combination of settings as zabbix_agentd (or zabbix_get/zabbix_sender)
/// does before it reads any file: the rules of [`tls_rules::RULES`], the first broken one
/// is the error. Pure.
pub fn validate(cfg: &TlsConfig, program: Program) -> Result<(), TlsError> {
    for param in TlsParam::ALL {
        if matches!(param, TlsParam::Connect | TlsParam::Accept) {
            continue;
        }
        if let Some(v) = param.text(cfg) {
            if v.trim().is_empty() {
                return Err(TlsError::Config(format!(
                    "configuration parameter {} is defined but empty",
                    quoted(param, program)
                )));
            }
        }
    }
    if cfg.accept.is_empty() && program.accepts() {
        return Err(TlsError::Config(format!(
            "configuration parameter {} is defined but empty",
            quoted(TlsParam::Accept, program)
        )));
    }
    if let Some(rule) =
        tls_rules::broken(&Built(cfg, program), program.connects(), program.accepts()).next()
    {
        return Err(TlsError::Config(rule_message(rule, program)));
    }
    // zabbix_agentd builds a combined certificate+PSK context only when both are
    // configured; TLSCipherAll* have nothing to apply to otherwise (checked when it
    // builds the contexts, so not one of the directive rules).
    if !(cfg.cert_file.is_some() && cfg.psk_file.is_some()) {
        if cfg.cipher_all13.is_some() {
            return Err(not_applicable(
                TlsParam::CipherAll13,
                "the combined list of certificate and PSK ciphersuites is not used. Most \
                 likely parameters \"TLSCipherCert13\" and/or \"TLSCipherPSK13\" are sufficient",
            ));
        }
        if cfg.cipher_all.is_some() {
            return Err(not_applicable(
                TlsParam::CipherAll,
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

/// Every rule of the one table, said by each caller: the configuration file (at the
/// directive's file:line), the agent, `zagent get` and `zagent send`.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod rule_table_tests {
    use super::*;
    use crate::config::tls_rules::{Scope, RULES};

    /// Per rule of [`RULES`], in order: the agent's (and the file's) text, zabbix_get's,
    /// zabbix_sender's (`None`: the rule is out of the program's scope).
    const EXPECTED: [(&str, Option<&str>, Option<&str>); 23] = [
        (
            r#"parameter "TLSCertFile" is defined, but "TLSKeyFile" is not defined"#,
            Some(r#"parameter "--tls-cert-file" is defined, but "--tls-key-file" is not defined"#),
            Some(
                r#"parameter "TLSCertFile" or "--tls-cert-file" is defined, but neither "TLSKeyFile" nor "--tls-key-file" is defined"#,
            ),
        ),
        (
            r#"parameter "TLSKeyFile" is defined, but "TLSCertFile" is not defined"#,
            Some(r#"parameter "--tls-key-file" is defined, but "--tls-cert-file" is not defined"#),
            Some(
                r#"parameter "TLSKeyFile" or "--tls-key-file" is defined, but neither "TLSCertFile" nor "--tls-cert-file" is defined"#,
            ),
        ),
        (
            r#"parameter "TLSCertFile" is defined, but "TLSCAFile" is not defined"#,
            Some(r#"parameter "--tls-cert-file" is defined, but "--tls-ca-file" is not defined"#),
            Some(
                r#"parameter "TLSCertFile" or "--tls-cert-file" is defined, but neither "TLSCAFile" nor "--tls-ca-file" is defined"#,
            ),
        ),
        (
            r#"parameter "TLSCAFile" is defined, but "TLSCertFile" is not defined"#,
            Some(r#"parameter "--tls-ca-file" is defined, but "--tls-cert-file" is not defined"#),
            Some(
                r#"parameter "TLSCAFile" or "--tls-ca-file" is defined, but neither "TLSCertFile" nor "--tls-cert-file" is defined"#,
            ),
        ),
        (
            r#"parameter "TLSCRLFile" is defined, but "TLSCertFile" is not defined"#,
            Some(r#"parameter "--tls-crl-file" is defined, but "--tls-cert-file" is not defined"#),
            Some(
                r#"parameter "TLSCRLFile" or "--tls-crl-file" is defined, but neither "TLSCertFile" nor "--tls-cert-file" is defined"#,
            ),
        ),
        (
            r#"parameter "TLSServerCertIssuer" is defined, but "TLSCertFile" is not defined"#,
            Some(
                r#"parameter "--tls-agent-cert-issuer" is defined, but "--tls-cert-file" is not defined"#,
            ),
            Some(
                r#"parameter "TLSServerCertIssuer" or "--tls-server-cert-issuer" is defined, but neither "TLSCertFile" nor "--tls-cert-file" is defined"#,
            ),
        ),
        (
            r#"parameter "TLSServerCertSubject" is defined, but "TLSCertFile" is not defined"#,
            Some(
                r#"parameter "--tls-agent-cert-subject" is defined, but "--tls-cert-file" is not defined"#,
            ),
            Some(
                r#"parameter "TLSServerCertSubject" or "--tls-server-cert-subject" is defined, but neither "TLSCertFile" nor "--tls-cert-file" is defined"#,
            ),
        ),
        (
            r#"parameter "TLSPSKFile" is defined, but "TLSPSKIdentity" is not defined"#,
            Some(
                r#"parameter "--tls-psk-file" is defined, but "--tls-psk-identity" is not defined"#,
            ),
            Some(
                r#"parameter "TLSPSKFile" or "--tls-psk-file" is defined, but neither "TLSPSKIdentity" nor "--tls-psk-identity" is defined"#,
            ),
        ),
        (
            r#"parameter "TLSPSKIdentity" is defined, but "TLSPSKFile" is not defined"#,
            Some(
                r#"parameter "--tls-psk-identity" is defined, but "--tls-psk-file" is not defined"#,
            ),
            Some(
                r#"parameter "TLSPSKIdentity" or "--tls-psk-identity" is defined, but neither "TLSPSKFile" nor "--tls-psk-file" is defined"#,
            ),
        ),
        // Captured from zabbix_get and zabbix_sender 6.0.14 (`--tls-psk-identity x
        // --tls-psk-file f` without `--tls-connect`); zagent's flags always give a mode.
        (
            r#"parameter "TLSCertFile" is defined, but "TLSConnect" is not defined"#,
            Some(r#"parameter "--tls-cert-file" is defined, but "--tls-connect" is not defined"#),
            Some(
                r#"parameter "TLSCertFile" or "--tls-cert-file" is defined, but neither "TLSConnect" nor "--tls-connect" is defined"#,
            ),
        ),
        (
            r#"parameter "TLSPSKFile" is defined, but "TLSConnect" is not defined"#,
            Some(r#"parameter "--tls-psk-file" is defined, but "--tls-connect" is not defined"#),
            Some(
                r#"parameter "TLSPSKFile" or "--tls-psk-file" is defined, but neither "TLSConnect" nor "--tls-connect" is defined"#,
            ),
        ),
        (
            r#"parameter "TLSConnect" value requires "TLSCertFile", but it is not defined"#,
            Some(
                r#"parameter "--tls-connect" value requires "--tls-cert-file", but it is not defined"#,
            ),
            Some(
                r#"parameter "TLSConnect" or "--tls-connect" value requires "TLSCertFile" or "--tls-cert-file", but neither of them is defined"#,
            ),
        ),
        (
            r#"parameter "TLSConnect" value requires "TLSPSKFile", but it is not defined"#,
            Some(
                r#"parameter "--tls-connect" value requires "--tls-psk-file", but it is not defined"#,
            ),
            Some(
                r#"parameter "TLSConnect" or "--tls-connect" value requires "TLSPSKFile" or "--tls-psk-file", but neither of them is defined"#,
            ),
        ),
        (
            r#"parameter "TLSCertFile" is defined, but "TLSAccept" is not defined"#,
            None,
            None,
        ),
        (
            r#"parameter "TLSPSKFile" is defined, but "TLSAccept" is not defined"#,
            None,
            None,
        ),
        (
            r#"parameter "TLSAccept" value requires "TLSCertFile", but it is not defined"#,
            None,
            None,
        ),
        (
            r#"parameter "TLSAccept" value requires "TLSPSKFile", but it is not defined"#,
            None,
            None,
        ),
        (
            r#"parameter "TLSCipherCert13" is defined, but "TLSCertFile" is not defined"#,
            Some(r#"parameter "--tls-cipher13" is defined, but "--tls-cert-file" is not defined"#),
            Some(
                r#"parameter "TLSCipherCert13" or "--tls-cipher13" is defined, but neither "TLSCertFile" nor "--tls-cert-file" is defined"#,
            ),
        ),
        (
            r#"parameter "TLSCipherCert" is defined, but "TLSCertFile" is not defined"#,
            Some(r#"parameter "--tls-cipher" is defined, but "--tls-cert-file" is not defined"#),
            Some(
                r#"parameter "TLSCipherCert" or "--tls-cipher" is defined, but neither "TLSCertFile" nor "--tls-cert-file" is defined"#,
            ),
        ),
        (
            r#"parameter "TLSCipherPSK13" is defined, but "TLSPSKIdentity" is not defined"#,
            Some(
                r#"parameter "--tls-cipher13" is defined, but "--tls-psk-identity" is not defined"#,
            ),
            Some(
                r#"parameter "TLSCipherPSK13" or "--tls-cipher13" is defined, but neither "TLSPSKIdentity" nor "--tls-psk-identity" is defined"#,
            ),
        ),
        (
            r#"parameter "TLSCipherPSK" is defined, but "TLSPSKIdentity" is not defined"#,
            Some(r#"parameter "--tls-cipher" is defined, but "--tls-psk-identity" is not defined"#),
            Some(
                r#"parameter "TLSCipherPSK" or "--tls-cipher" is defined, but neither "TLSPSKIdentity" nor "--tls-psk-identity" is defined"#,
            ),
        ),
        // zabbix_sender 6.0.14 does not check TLSCipherAll*: the sender's text is zagent's.
        (
            r#"parameter "TLSCipherAll13" is defined, but neither "TLSCertFile" nor "TLSPSKIdentity" is defined"#,
            Some(
                r#"parameter "TLSCipherAll13" is defined, but neither "--tls-cert-file" nor "--tls-psk-identity" is defined"#,
            ),
            Some(
                r#"parameter "TLSCipherAll13" is defined, but neither "TLSCertFile" or "--tls-cert-file" nor "TLSPSKIdentity" or "--tls-psk-identity" is defined"#,
            ),
        ),
        (
            r#"parameter "TLSCipherAll" is defined, but neither "TLSCertFile" nor "TLSPSKIdentity" is defined"#,
            Some(
                r#"parameter "TLSCipherAll" is defined, but neither "--tls-cert-file" nor "--tls-psk-identity" is defined"#,
            ),
            Some(
                r#"parameter "TLSCipherAll" is defined, but neither "TLSCertFile" or "--tls-cert-file" nor "TLSPSKIdentity" or "--tls-psk-identity" is defined"#,
            ),
        ),
    ];

    fn value(p: TlsParam, need: Need) -> &'static str {
        match (p, need) {
            (TlsParam::Connect | TlsParam::Accept, Need::ModeNeeds(TlsMode::Cert, _)) => "cert",
            (TlsParam::Connect | TlsParam::Accept, _) => "psk",
            _ => "/nonexistent/arch3",
        }
    }

    /// The smallest settings that break `rule` first: its own setting, plus the key for a
    /// certificate that must only lack its CA.
    fn built(rule: &Rule) -> TlsConfig {
        let mut c = TlsConfig::default();
        let text = || Some("x".to_string());
        match (rule.param, rule.need) {
            (TlsParam::Connect, Need::ModeNeeds(m, _)) => c.connect = m,
            (TlsParam::Accept, Need::ModeNeeds(m, _)) => c.accept = vec![m],
            (TlsParam::CaFile, _) => c.ca_file = Some("x".into()),
            (TlsParam::CrlFile, _) => c.crl_file = Some("x".into()),
            (TlsParam::ServerCertIssuer, _) => c.server_cert_issuer = text(),
            (TlsParam::ServerCertSubject, _) => c.server_cert_subject = text(),
            (TlsParam::CertFile, _) => c.cert_file = Some("x".into()),
            (TlsParam::KeyFile, _) => c.key_file = Some("x".into()),
            (TlsParam::PskIdentity, _) => c.psk_identity = text(),
            (TlsParam::PskFile, _) => c.psk_file = Some("x".into()),
            (TlsParam::CipherCert13, _) => c.cipher_cert13 = text(),
            (TlsParam::CipherCert, _) => c.cipher_cert = text(),
            (TlsParam::CipherPsk13, _) => c.cipher_psk13 = text(),
            (TlsParam::CipherPsk, _) => c.cipher_psk = text(),
            (TlsParam::CipherAll13, _) => c.cipher_all13 = text(),
            (TlsParam::CipherAll, _) => c.cipher_all = text(),
            (TlsParam::Connect | TlsParam::Accept, _) => {}
        }
        if rule.need == Need::Set(TlsParam::CaFile) {
            c.key_file = Some("x".into());
        }
        c
    }

    #[test]
    fn every_rule_in_every_callers_words() {
        for (rule, (agent, get, sender)) in RULES.iter().zip(EXPECTED) {
            // The configuration file: the message at the directive's file:line.
            let text = format!(
                "Server=127.0.0.1\nServerActive=127.0.0.1\n{}={}\n",
                rule.param.directive(),
                value(rule.param, rule.need)
            );
            let errors = crate::config::parse_str(&text, std::path::Path::new("t.conf"))
                .unwrap_err()
                .to_string();
            assert!(
                errors.contains(&format!("t.conf:3: {agent}")),
                "{rule:?}: {errors}"
            );
            // The command line's names.
            assert_eq!(rule_message(rule, AGENT), agent, "{rule:?}");
            let scoped = |program: Program, want: Option<&str>| {
                let in_scope = match rule.scope {
                    Scope::Always => true,
                    Scope::Connects => program.connects(),
                    Scope::Accepts => program.accepts(),
                };
                assert_eq!(in_scope, want.is_some(), "{rule:?} {program:?}");
                if let Some(want) = want {
                    assert_eq!(rule_message(rule, program), want, "{rule:?}");
                }
            };
            scoped(Program::Get, get);
            scoped(Program::Sender, sender);
            // End to end through validate(), except `TLSConnect`/`TLSAccept` missing:
            // a built configuration always has a mode.
            if matches!(rule.need, Need::Set(TlsParam::Connect | TlsParam::Accept)) {
                continue;
            }
            let c = built(rule);
            let passive_agent = Program::Agent {
                active: false,
                passive: true,
            };
            let agent_program = if rule.scope == Scope::Accepts {
                passive_agent
            } else {
                AGENT
            };
            assert_eq!(err(&c, agent_program), agent, "{rule:?}");
            for (program, want) in [(Program::Get, get), (Program::Sender, sender)] {
                match want {
                    Some(want) => assert_eq!(err(&c, program), want, "{rule:?}"),
                    None => assert!(validate(&c, program).is_ok(), "{rule:?}"),
                }
            }
        }
    }

    const AGENT: Program = Program::Agent {
        active: true,
        passive: true,
    };

    fn err(cfg: &TlsConfig, p: Program) -> String {
        validate(cfg, p).unwrap_err().to_string()
    }
}
