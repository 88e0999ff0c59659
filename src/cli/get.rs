//! `zagent get`: ask an agent for one value, with zabbix_get's flags, output and exit codes.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use zbx_proto::NOTSUPPORTED;

use crate::transport::{self, ClientOptions, TransportError};

/// `zagent get` arguments (zabbix_get spelling).
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// Host name or IP address of the agent.
    #[arg(short = 's', long = "host")]
    pub host: String,
    /// Port of the agent.
    #[arg(short = 'p', long = "port", default_value_t = 10050)]
    pub port: u16,
    /// Source IP address.
    #[arg(short = 'I', long = "source-address")]
    pub source_address: Option<IpAddr>,
    /// Timeout in seconds (1-30).
    #[arg(short = 't', long = "timeout", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=30))]
    pub timeout: u64,
    /// Item key to retrieve.
    #[arg(short = 'k', long = "key")]
    pub key: String,
    /// TLS (`--tls-connect psk|cert` and friends, zabbix_get spelling).
    #[command(flatten)]
    pub tls: crate::tls::args::TlsArgs,
}

/// What an agent answered, as zabbix_get reports it.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// A value (possibly empty).
    Value(String),
    /// `ZBX_NOTSUPPORTED` and its reason.
    NotSupported(String),
}

/// Interprets a passive reply payload.
pub fn interpret(payload: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(payload);
    if let Some(rest) = text.strip_prefix(NOTSUPPORTED) {
        if rest.is_empty() || rest.starts_with('\0') {
            return Answer::NotSupported(rest.trim_start_matches('\0').to_string());
        }
    }
    Answer::Value(text.into_owned())
}

/// Runs `zagent get`. Exit 0 with the value (or `ZBX_NOTSUPPORTED: reason`) on stdout,
/// 1 with the reason on stderr when no answer came, as zabbix_get does.
pub fn run(args: GetArgs) -> anyhow::Result<ExitCode> {
    let pid = std::process::id();
    let tls = match args
        .tls
        .to_config(crate::tls::Program::Get)
        .and_then(|cfg| crate::tls::build(&cfg, crate::tls::Program::Get))
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("zagent get [{pid}]: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut opts = ClientOptions::new(Duration::from_secs(args.timeout)).with_tls(tls.client);
    opts.source_ip = args.source_address;
    let result = rt.block_on(transport::exchange_exact(
        &args.host,
        args.port,
        args.key.as_bytes(),
        &opts,
    ));
    match result {
        Ok(frame) => {
            match interpret(&frame.payload) {
                Answer::Value(v) => println!("{v}"),
                Answer::NotSupported(r) if r.is_empty() => println!("{NOTSUPPORTED}"),
                Answer::NotSupported(r) => println!("{NOTSUPPORTED}: {r}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(TransportError::Empty) => {
            eprintln!(
                "zagent get [{pid}]: Check access restrictions in Zabbix agent configuration"
            );
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("zagent get [{pid}]: Get value error: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interprets_replies() {
        assert_eq!(interpret(b"1"), Answer::Value("1".into()));
        assert_eq!(interpret(b""), Answer::Value(String::new()));
        assert_eq!(
            interpret(b"ZBX_NOTSUPPORTED\0Unsupported item key."),
            Answer::NotSupported("Unsupported item key.".into())
        );
        assert_eq!(
            interpret(b"ZBX_NOTSUPPORTED"),
            Answer::NotSupported(String::new())
        );
        assert_eq!(
            interpret(b"ZBX_NOTSUPPORTEDX"),
            Answer::Value("ZBX_NOTSUPPORTEDX".into())
        );
    }
}
