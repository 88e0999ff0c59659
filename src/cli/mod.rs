//! The command line: one file per subcommand. `anyhow` lives here and in `main` only;
//! every error is printed with its chain and mapped to an exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

pub mod get;
pub mod run;
pub mod send;
pub mod test;

/// Default configuration file; when it does not exist, built-in defaults apply
/// (passive checks on 127.0.0.1:10050 for 127.0.0.1 and ::1).
pub const DEFAULT_CONFIG: &str = "/etc/zagent/zagent.conf";

/// zagent: a Zabbix-compatible agent with exact, cheap TCP/UDP connection-state monitoring.
#[derive(Debug, Parser)]
#[command(name = "zagent", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent (passive listener and active checks) in the foreground.
    Run(run::RunArgs),
    /// Ask an agent for one value, like zabbix_get.
    Get(get::GetArgs),
    /// Evaluate one key locally and print it like `zabbix_agentd -t`.
    Test(test::TestArgs),
    /// Evaluate every built-in key with its test parameters, like `zabbix_agentd -p`.
    Keys(test::KeysArgs),
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => run::run(a),
        Command::Get(a) => get::run(a),
        Command::Test(a) => test::run_test(a),
        Command::Keys(a) => test::run_keys(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("zagent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The config path to use: the one given, else [`DEFAULT_CONFIG`] if it exists.
pub fn config_path(given: Option<&Path>) -> Option<PathBuf> {
    match given {
        Some(p) => Some(p.to_path_buf()),
        None => {
            let d = Path::new(DEFAULT_CONFIG);
            d.exists().then(|| d.to_path_buf())
        }
    }
}

/// Loads the configuration the way `run` does (file, or built-in defaults).
pub fn load_config(given: Option<&Path>) -> anyhow::Result<Config> {
    interim::load(config_path(given).as_deref())
}

/// Minimal reader used until the full zabbix_agentd.conf reader lands in `config`.
mod interim {
    use super::*;
    use crate::config::{ActiveAddr, ActiveServer, ServerPeer, UserParameter};
    use anyhow::Context;
    use std::time::Duration;

    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let mut c = Config::default();
        if let Some(p) = path {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            c.source = Some(p.to_path_buf());
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let Some((k, v)) = line.split_once('=') else {
                    anyhow::bail!("{}:{}: missing '='", p.display(), n + 1);
                };
                let v = v.trim();
                match k.trim() {
                    "Server" => {
                        c.server = v
                            .split(',')
                            .map(|s| {
                                let s = s.trim();
                                s.parse::<ipnet::IpNet>()
                                    .or_else(|_| {
                                        s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from)
                                    })
                                    .map(ServerPeer::Net)
                                    .unwrap_or_else(|_| ServerPeer::Name(s.to_string()))
                            })
                            .collect()
                    }
                    "ListenPort" => c.listen_port = v.parse()?,
                    "ListenIP" => {
                        c.listen_ip = v
                            .split(',')
                            .map(|s| s.trim().parse())
                            .collect::<Result<_, _>>()?;
                        c.listen_ip_set = true;
                    }
                    "Hostname" => {
                        c.hostnames = v.split(',').map(|s| s.trim().to_string()).collect();
                        c.hostname_set = true;
                    }
                    "Timeout" => c.timeout = Duration::from_secs(v.parse()?),
                    "UnsafeUserParameters" => c.unsafe_user_parameters = v == "1",
                    "UserParameter" => {
                        let (key, cmd) = v.split_once(',').context("bad UserParameter")?;
                        let (key, flexible) = match key.strip_suffix("[*]") {
                            Some(k) => (k, true),
                            None => (key, false),
                        };
                        c.user_parameters.push(UserParameter {
                            key: key.to_string(),
                            flexible,
                            command: cmd.to_string(),
                            origin: Default::default(),
                        });
                    }
                    "ServerActive" => {
                        c.server_active = v
                            .split(',')
                            .map(|s| {
                                let (h, port) =
                                    s.trim().rsplit_once(':').unwrap_or((s.trim(), "10051"));
                                ActiveServer {
                                    nodes: vec![ActiveAddr {
                                        host: h.to_string(),
                                        port: port.parse().unwrap_or(10051),
                                    }],
                                }
                            })
                            .collect()
                    }
                    "RefreshActiveChecks" => {
                        c.refresh_active_checks = Duration::from_secs(v.parse()?)
                    }
                    "BufferSend" => c.buffer_send = Duration::from_secs(v.parse()?),
                    "BufferSize" => c.buffer_size = v.parse()?,
                    "StartAgents" => c.start_agents = v.parse()?,
                    "DebugLevel" => c.debug_level = v.parse()?,
                    "PidFile" => c.pid_file = Some(v.into()),
                    "LogFile" => {
                        c.log_file = Some(v.into());
                        c.log_type = crate::config::LogType::File;
                    }
                    "AllowRoot" => c.allow_root = v == "1",
                    _ => {}
                }
            }
        }
        if c.hostnames.is_empty() {
            c.hostnames = vec![crate::cli::run::system_hostname()];
        }
        Ok(c)
    }
}
