//! The `TLS*` directives and the dependency rules between them (zabbix's
//! `zbx_tls_validate_config`), as data: which setting needs which, in zabbix's order.
//! It owns the names and the rules only: it must not format a caller's message, read a
//! file or build a context. `config::build` reports a broken rule at the directive's
//! file:line; `tls::validation` reports it with `zagent get`/`send`'s `--tls-*` names.

use super::{TlsConfig, TlsMode};

/// A TLS setting, by its configuration-file directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsParam {
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

impl TlsParam {
    /// Every setting, in the order zabbix checks that none is empty.
    pub const ALL: [TlsParam; 16] = [
        TlsParam::Connect,
        TlsParam::Accept,
        TlsParam::CaFile,
        TlsParam::CrlFile,
        TlsParam::ServerCertIssuer,
        TlsParam::ServerCertSubject,
        TlsParam::CertFile,
        TlsParam::KeyFile,
        TlsParam::PskIdentity,
        TlsParam::PskFile,
        TlsParam::CipherCert13,
        TlsParam::CipherCert,
        TlsParam::CipherPsk13,
        TlsParam::CipherPsk,
        TlsParam::CipherAll13,
        TlsParam::CipherAll,
    ];

    /// The directive's name in zabbix_agentd.conf.
    pub fn directive(self) -> &'static str {
        match self {
            TlsParam::Connect => "TLSConnect",
            TlsParam::Accept => "TLSAccept",
            TlsParam::CaFile => "TLSCAFile",
            TlsParam::CrlFile => "TLSCRLFile",
            TlsParam::ServerCertIssuer => "TLSServerCertIssuer",
            TlsParam::ServerCertSubject => "TLSServerCertSubject",
            TlsParam::CertFile => "TLSCertFile",
            TlsParam::KeyFile => "TLSKeyFile",
            TlsParam::PskIdentity => "TLSPSKIdentity",
            TlsParam::PskFile => "TLSPSKFile",
            TlsParam::CipherCert13 => "TLSCipherCert13",
            TlsParam::CipherCert => "TLSCipherCert",
            TlsParam::CipherPsk13 => "TLSCipherPSK13",
            TlsParam::CipherPsk => "TLSCipherPSK",
            TlsParam::CipherAll13 => "TLSCipherAll13",
            TlsParam::CipherAll => "TLSCipherAll",
        }
    }

    /// The setting's value in a built configuration as text (`None` when unset);
    /// `TLSConnect`/`TLSAccept` always have one.
    pub fn text(self, cfg: &TlsConfig) -> Option<String> {
        let path =
            |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
        match self {
            TlsParam::Connect => Some(mode_name(cfg.connect).to_string()),
            TlsParam::Accept => Some(
                cfg.accept
                    .iter()
                    .map(|m| mode_name(*m))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            TlsParam::CaFile => path(&cfg.ca_file),
            TlsParam::CrlFile => path(&cfg.crl_file),
            TlsParam::ServerCertIssuer => cfg.server_cert_issuer.clone(),
            TlsParam::ServerCertSubject => cfg.server_cert_subject.clone(),
            TlsParam::CertFile => path(&cfg.cert_file),
            TlsParam::KeyFile => path(&cfg.key_file),
            TlsParam::PskIdentity => cfg.psk_identity.clone(),
            TlsParam::PskFile => path(&cfg.psk_file),
            TlsParam::CipherCert13 => cfg.cipher_cert13.clone(),
            TlsParam::CipherCert => cfg.cipher_cert.clone(),
            TlsParam::CipherPsk13 => cfg.cipher_psk13.clone(),
            TlsParam::CipherPsk => cfg.cipher_psk.clone(),
            TlsParam::CipherAll13 => cfg.cipher_all13.clone(),
            TlsParam::CipherAll => cfg.cipher_all.clone(),
        }
    }
}

fn mode_name(m: TlsMode) -> &'static str {
    match m {
        TlsMode::Unencrypted => "unencrypted",
        TlsMode::Psk => "psk",
        TlsMode::Cert => "cert",
    }
}

/// When a rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Always,
    /// Only for a program that connects out (active checks, `get`, `send`).
    Connects,
    /// Only for a program that accepts connections (passive checks).
    Accepts,
}

/// What a setting needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// When `param` is set, this one must be set too ("is defined, but … is not defined").
    Set(TlsParam),
    /// When `param`'s value names this mode, the setting must be set ("value requires").
    ModeNeeds(TlsMode, TlsParam),
    /// When `param` is set, one of the two must be set ("neither … nor …").
    Either(TlsParam, TlsParam),
}

/// One dependency rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub param: TlsParam,
    pub need: Need,
    pub scope: Scope,
}

const fn rule(param: TlsParam, need: Need, scope: Scope) -> Rule {
    Rule { param, need, scope }
}

use Need::{Either, ModeNeeds, Set};
use Scope::{Accepts, Always, Connects};
use TlsParam as P;

/// The rules, in the order zabbix checks them (it stops at the first broken one).
pub const RULES: [Rule; 23] = [
    rule(P::CertFile, Set(P::KeyFile), Always),
    rule(P::KeyFile, Set(P::CertFile), Always),
    rule(P::CertFile, Set(P::CaFile), Always),
    rule(P::CaFile, Set(P::CertFile), Always),
    rule(P::CrlFile, Set(P::CertFile), Always),
    rule(P::ServerCertIssuer, Set(P::CertFile), Always),
    rule(P::ServerCertSubject, Set(P::CertFile), Always),
    rule(P::PskFile, Set(P::PskIdentity), Always),
    rule(P::PskIdentity, Set(P::PskFile), Always),
    rule(P::CertFile, Set(P::Connect), Connects),
    rule(P::PskFile, Set(P::Connect), Connects),
    rule(P::Connect, ModeNeeds(TlsMode::Cert, P::CertFile), Connects),
    rule(P::Connect, ModeNeeds(TlsMode::Psk, P::PskFile), Connects),
    rule(P::CertFile, Set(P::Accept), Accepts),
    rule(P::PskFile, Set(P::Accept), Accepts),
    rule(P::Accept, ModeNeeds(TlsMode::Cert, P::CertFile), Accepts),
    rule(P::Accept, ModeNeeds(TlsMode::Psk, P::PskFile), Accepts),
    rule(P::CipherCert13, Set(P::CertFile), Always),
    rule(P::CipherCert, Set(P::CertFile), Always),
    rule(P::CipherPsk13, Set(P::PskIdentity), Always),
    rule(P::CipherPsk, Set(P::PskIdentity), Always),
    rule(P::CipherAll13, Either(P::CertFile, P::PskIdentity), Always),
    rule(P::CipherAll, Either(P::CertFile, P::PskIdentity), Always),
];

/// What a caller knows about the settings: which are set, and which modes
/// `TLSConnect`/`TLSAccept` name.
pub trait Settings {
    fn is_set(&self, p: TlsParam) -> bool;
    fn has_mode(&self, p: TlsParam, mode: TlsMode) -> bool;
}

impl Rule {
    /// Whether `s` breaks this rule, for a program that connects and/or accepts.
    pub fn broken(&self, s: &dyn Settings, connects: bool, accepts: bool) -> bool {
        let applies = match self.scope {
            Scope::Always => true,
            Scope::Connects => connects,
            Scope::Accepts => accepts,
        };
        applies
            && match self.need {
                Need::Set(other) => s.is_set(self.param) && !s.is_set(other),
                Need::ModeNeeds(mode, other) => s.has_mode(self.param, mode) && !s.is_set(other),
                Need::Either(a, b) => s.is_set(self.param) && !s.is_set(a) && !s.is_set(b),
            }
    }
}

/// The rules `s` breaks, in zabbix's order.
pub fn broken(
    s: &dyn Settings,
    connects: bool,
    accepts: bool,
) -> impl Iterator<Item = &'static Rule> + '_ {
    RULES.iter().filter(move |r| r.broken(s, connects, accepts))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    struct Only(Vec<TlsParam>, Vec<TlsMode>);
    impl Settings for Only {
        fn is_set(&self, p: TlsParam) -> bool {
            self.0.contains(&p)
        }
        fn has_mode(&self, p: TlsParam, mode: TlsMode) -> bool {
            self.0.contains(&p) && self.1.contains(&mode)
        }
    }

    #[test]
    fn each_rule_fires_alone_on_its_own_setting() {
        for r in &RULES {
            let (set, modes) = match r.need {
                Need::ModeNeeds(m, _) => (vec![r.param], vec![m]),
                _ => (vec![r.param], vec![]),
            };
            let s = Only(set, modes);
            let (c, a) = (r.scope != Scope::Accepts, r.scope != Scope::Connects);
            assert!(r.broken(&s, c, a), "{r:?}");
            // Out of its scope it is silent.
            match r.scope {
                Scope::Connects => assert!(!r.broken(&s, false, true)),
                Scope::Accepts => assert!(!r.broken(&s, true, false)),
                Scope::Always => {}
            }
        }
    }

    #[test]
    fn a_complete_cert_and_psk_setup_breaks_none() {
        let s = Only(TlsParam::ALL.to_vec(), vec![TlsMode::Cert, TlsMode::Psk]);
        assert_eq!(broken(&s, true, true).count(), 0);
    }

    #[test]
    fn text_of_a_built_config() {
        let c = TlsConfig {
            accept: vec![TlsMode::Psk, TlsMode::Cert],
            psk_file: Some("/k".into()),
            ..TlsConfig::default()
        };
        assert_eq!(TlsParam::Accept.text(&c).as_deref(), Some("psk,cert"));
        assert_eq!(TlsParam::Connect.text(&c).as_deref(), Some("unencrypted"));
        assert_eq!(TlsParam::PskFile.text(&c).as_deref(), Some("/k"));
        assert_eq!(TlsParam::CertFile.text(&c), None);
    }
}
