//! The command line: one file per subcommand. `anyhow` lives here and in `main` only;
//! every error is printed with its chain and mapped to an exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

pub mod check_config;
pub mod generate;
pub mod get;
pub mod run;
pub mod runtime;
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
    /// Send values to a Zabbix server or proxy (trapper items), like zabbix_sender.
    Send(send::SendArgs),
    /// Evaluate one key locally and print it like `zabbix_agentd -t`.
    Test(test::TestArgs),
    /// Evaluate every built-in key with its test parameters, like `zabbix_agentd -p`.
    Keys(test::KeysArgs),
    /// Runtime control of a running agent, like `zabbix_agentd -R` (userparameter_reload).
    Runtime(runtime::RuntimeArgs),
    /// Validate the configuration exactly as `run` does at start-up, and nothing else.
    CheckConfig(CheckConfigArgs),
    /// Write the man pages, shell completions or packaged configuration file (packaging).
    #[command(hide = true)]
    Generate(generate::GenerateArgs),
}

/// `zagent check-config` arguments.
#[derive(Debug, clap::Args)]
pub struct CheckConfigArgs {
    /// Configuration file (default: /etc/zagent/zagent.conf if it exists, else built-in
    /// defaults).
    #[arg(short = 'c', long = "config")]
    pub config: Option<PathBuf>,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => run::run(a),
        Command::Get(a) => get::run(a),
        Command::Send(a) => send::run(a),
        Command::Test(a) => test::run_test(a),
        Command::Keys(a) => test::run_keys(a),
        Command::CheckConfig(a) => Ok(check_config::run(
            config_path(a.config.as_deref()).as_deref(),
        )),
        Command::Runtime(a) => runtime::run(a),
        Command::Generate(a) => generate::run(a),
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

/// Loads the configuration as `test`/`keys` need it: like `run`, minus the start-up
/// validation that `zabbix_agentd -t`/`-p` skip too.
pub fn load_config_for_test(given: Option<&Path>) -> anyhow::Result<Config> {
    match config_path(given) {
        Some(p) => crate::config::load_for_test(&p)
            .map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}")),
        None => Ok(crate::config::defaults()),
    }
}

/// Loads the configuration the way `run` does (file, or built-in defaults).
pub fn load_config(given: Option<&Path>) -> anyhow::Result<Config> {
    match config_path(given) {
        Some(p) => {
            crate::config::load(&p).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))
        }
        None => Ok(crate::config::defaults()),
    }
}

/// Without `Hostname`, sets the host names from `HostnameItem` (the config reader has
/// already handled the default `system.hostname`), evaluated as zabbix_agentd does
/// ([`crate::keys::AgentCtx::hostname_item`]).
pub async fn apply_hostname_item(config: &mut Config) -> anyhow::Result<()> {
    if !config.hostnames.is_empty() {
        return Ok(());
    }
    let item = config.hostname_item.clone();
    let value = crate::keys::AgentCtx::hostname_item(config)
        .await
        .map_err(|e| anyhow::anyhow!("cannot get host name from HostnameItem \"{item}\": {e}"))?
        .str_result();
    let origin = crate::config::Origin::default();
    crate::config::set_hostnames_from_item(config, &value, &origin).map_err(|errs| {
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("{}", text.join("\n"))
    })
}
