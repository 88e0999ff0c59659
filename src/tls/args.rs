//! The `--tls-*` command-line flags of `zagent get` and `zagent send`, spelled as
//! zabbix_get and zabbix_sender spell them.
//!
//! Owns turning the flags into a [`TlsConfig`]; it must not read files or build
//! contexts ([`super::build`] does, with [`super::Program::Get`] or
//! [`super::Program::Sender`] for the messages).

use std::path::PathBuf;

use crate::config::{TlsConfig, TlsMode};

use super::{Program, TlsError};

/// TLS flags shared by `zagent get` and `zagent send`; flatten with `#[command(flatten)]`.
///
/// zabbix_get calls the certificate pins `--tls-agent-cert-issuer/-subject` and
/// zabbix_sender `--tls-server-cert-issuer/-subject`; both spellings are accepted.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsArgs {
    /// How to connect: unencrypted (default), psk or cert.
    #[arg(long = "tls-connect", value_name = "value")]
    pub tls_connect: Option<String>,
    /// File with the top-level CA certificate(s) for peer certificate verification.
    #[arg(long = "tls-ca-file", value_name = "CA-file")]
    pub tls_ca_file: Option<PathBuf>,
    /// File with revoked certificates.
    #[arg(long = "tls-crl-file", value_name = "CRL-file")]
    pub tls_crl_file: Option<PathBuf>,
    /// Allowed peer certificate issuer.
    #[arg(
        long = "tls-server-cert-issuer",
        visible_alias = "tls-agent-cert-issuer",
        value_name = "cert-issuer"
    )]
    pub tls_server_cert_issuer: Option<String>,
    /// Allowed peer certificate subject.
    #[arg(
        long = "tls-server-cert-subject",
        visible_alias = "tls-agent-cert-subject",
        value_name = "cert-subject"
    )]
    pub tls_server_cert_subject: Option<String>,
    /// File with the certificate or certificate chain.
    #[arg(long = "tls-cert-file", value_name = "cert-file")]
    pub tls_cert_file: Option<PathBuf>,
    /// File with the private key.
    #[arg(long = "tls-key-file", value_name = "key-file")]
    pub tls_key_file: Option<PathBuf>,
    /// Case-sensitive string identifying the pre-shared key.
    #[arg(long = "tls-psk-identity", value_name = "PSK-identity")]
    pub tls_psk_identity: Option<String>,
    /// File with the pre-shared key (hex digits).
    #[arg(long = "tls-psk-file", value_name = "PSK-file")]
    pub tls_psk_file: Option<PathBuf>,
    /// OpenSSL TLS 1.3 cipher suites, overriding the defaults for the connect mode.
    #[arg(long = "tls-cipher13", value_name = "cipher-string")]
    pub tls_cipher13: Option<String>,
    /// OpenSSL TLS 1.2 cipher string, overriding the defaults for the connect mode.
    #[arg(long = "tls-cipher", value_name = "cipher-string")]
    pub tls_cipher: Option<String>,
}

impl TlsArgs {
    /// Whether any `--tls-*` flag was given.
    pub fn is_set(&self) -> bool {
        *self != TlsArgs::default()
    }

    /// The flags as TLS settings, on top of the defaults (`TLSConnect=unencrypted`).
    pub fn to_config(&self, program: Program) -> Result<TlsConfig, TlsError> {
        self.apply_over(TlsConfig::default(), program)
    }

    /// The flags on top of `base` (for `zagent send -c FILE`: the configuration file's
    /// TLS settings, each overridden by the flag given for it).
    pub fn apply_over(&self, base: TlsConfig, program: Program) -> Result<TlsConfig, TlsError> {
        let mut c = base;
        if let Some(mode) = &self.tls_connect {
            c.connect = parse_connect(mode, program)?;
            c.connect_given = true;
        }
        let set_path = |dst: &mut Option<PathBuf>, src: &Option<PathBuf>| {
            if src.is_some() {
                dst.clone_from(src);
            }
        };
        set_path(&mut c.ca_file, &self.tls_ca_file);
        set_path(&mut c.crl_file, &self.tls_crl_file);
        set_path(&mut c.cert_file, &self.tls_cert_file);
        set_path(&mut c.key_file, &self.tls_key_file);
        set_path(&mut c.psk_file, &self.tls_psk_file);
        let set_text = |dst: &mut Option<String>, src: &Option<String>| {
            if src.is_some() {
                dst.clone_from(src);
            }
        };
        set_text(&mut c.server_cert_issuer, &self.tls_server_cert_issuer);
        set_text(&mut c.server_cert_subject, &self.tls_server_cert_subject);
        set_text(&mut c.psk_identity, &self.tls_psk_identity);
        if self.tls_cipher13.is_some() || self.tls_cipher.is_some() {
            // Like zabbix_get/zabbix_sender: the override needs something to apply to,
            // and applies to the list of the mode we connect with.
            if c.cert_file.is_none() && c.psk_identity.is_none() {
                // zabbix_get/zabbix_sender check every dependency rule first.
                super::validation::validate(&c, program)?;
                let flag = if self.tls_cipher13.is_some() {
                    "--tls-cipher13"
                } else {
                    "--tls-cipher"
                };
                return Err(TlsError::Config(match program {
                    Program::Sender => format!(
                        "parameter \"{flag}\" is defined, but neither \"TLSCertFile\", nor \
                         \"--tls-cert-file\", nor \"TLSPSKIdentity\", nor \"--tls-psk-identity\" \
                         is defined"
                    ),
                    _ => format!(
                        "parameter \"{flag}\" is defined, but neither \"--tls-cert-file\" nor \
                         \"--tls-psk-identity\" is defined"
                    ),
                }));
            }
            match c.connect {
                TlsMode::Psk => {
                    set_text(&mut c.cipher_psk13, &self.tls_cipher13);
                    set_text(&mut c.cipher_psk, &self.tls_cipher);
                }
                TlsMode::Cert => {
                    set_text(&mut c.cipher_cert13, &self.tls_cipher13);
                    set_text(&mut c.cipher_cert, &self.tls_cipher);
                }
                TlsMode::Unencrypted => {}
            }
        }
        Ok(c)
    }
}

fn parse_connect(value: &str, program: Program) -> Result<TlsMode, TlsError> {
    match value {
        "unencrypted" => Ok(TlsMode::Unencrypted),
        "psk" => Ok(TlsMode::Psk),
        "cert" => Ok(TlsMode::Cert),
        _ => Err(TlsError::Config(match program {
            Program::Sender => {
                "invalid value of \"TLSConnect\" or \"--tls-connect\" parameter".to_string()
            }
            _ => "invalid value of \"--tls-connect\" parameter".to_string(),
        })),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        tls: TlsArgs,
    }

    fn parse(args: &[&str]) -> TlsArgs {
        let mut v = vec!["zagent"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).unwrap().tls
    }

    #[test]
    fn psk_flags_become_settings() {
        let a = parse(&[
            "--tls-connect",
            "psk",
            "--tls-psk-identity",
            "PSK 001",
            "--tls-psk-file",
            "/etc/zabbix/k.psk",
            "--tls-cipher",
            "PSK-AES128-CBC-SHA",
        ]);
        assert!(a.is_set());
        let c = a.to_config(Program::Get).unwrap();
        assert_eq!(c.connect, TlsMode::Psk);
        assert_eq!(c.psk_identity.as_deref(), Some("PSK 001"));
        assert_eq!(c.psk_file, Some(PathBuf::from("/etc/zabbix/k.psk")));
        assert_eq!(c.cipher_psk.as_deref(), Some("PSK-AES128-CBC-SHA"));
        assert_eq!(c.cipher_cert, None);
    }

    #[test]
    fn both_pin_spellings_are_accepted() {
        let get = parse(&[
            "--tls-agent-cert-issuer",
            "CN=ca",
            "--tls-agent-cert-subject",
            "CN=a",
        ]);
        let send = parse(&[
            "--tls-server-cert-issuer",
            "CN=ca",
            "--tls-server-cert-subject",
            "CN=a",
        ]);
        assert_eq!(get, send);
        assert_eq!(get.tls_server_cert_issuer.as_deref(), Some("CN=ca"));
    }

    #[test]
    fn bad_connect_value_has_zabbix_text() {
        let a = parse(&["--tls-connect", "tls"]);
        assert_eq!(
            a.to_config(Program::Get).unwrap_err().to_string(),
            "invalid value of \"--tls-connect\" parameter"
        );
    }

    #[test]
    fn cipher_without_credentials_is_refused() {
        let a = parse(&["--tls-cipher", "ALL"]);
        assert_eq!(
            a.to_config(Program::Get).unwrap_err().to_string(),
            "parameter \"--tls-cipher\" is defined, but neither \"--tls-cert-file\" nor \
             \"--tls-psk-identity\" is defined"
        );
    }

    #[test]
    fn flags_override_the_config_file() {
        let base = TlsConfig {
            connect: TlsMode::Psk,
            psk_identity: Some("from-file".into()),
            psk_file: Some("/a".into()),
            ..TlsConfig::default()
        };
        let c = parse(&["--tls-psk-identity", "from-flag"])
            .apply_over(base, Program::Sender)
            .unwrap();
        assert_eq!(c.psk_identity.as_deref(), Some("from-flag"));
        assert_eq!(c.psk_file, Some(PathBuf::from("/a")));
        assert!(!TlsArgs::default().is_set());
    }
}
