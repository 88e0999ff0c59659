//! `zagent runtime COMMAND`: runtime control of a running agent, like `zabbix_agentd -R`.
//!
//! Owns finding the running agent (its `PidFile=`) and signalling it. Supported:
//! `userparameter_reload` — sends SIGUSR1; the agent re-reads the `UserParameter` lines
//! from its configuration file and swaps them in (see
//! [`crate::keys::user::reload_on_signal`]); a file with errors leaves the old set in force
//! and is logged by the agent. Messages and exit codes follow zabbix_agentd.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};

use crate::exec::zbx_strerror;
use crate::keys::user::RELOAD_SIGNAL;

/// The runtime commands zagent understands.
pub const COMMANDS: &[&str] = &["userparameter_reload"];

/// zabbix_agentd runtime commands zagent does not implement.
const UNSUPPORTED: &[&str] = &["log_level_increase", "log_level_decrease", "help"];

/// `zagent runtime` arguments.
#[derive(Debug, clap::Args)]
pub struct RuntimeArgs {
    /// Configuration file of the running agent (its PidFile= finds the process); default
    /// as `zagent run`.
    #[arg(short = 'c', long = "config")]
    pub config: Option<PathBuf>,
    /// The command: userparameter_reload.
    pub command: String,
}

/// Sends the runtime command to the agent named by the configuration's `PidFile`.
pub fn run(args: RuntimeArgs) -> anyhow::Result<ExitCode> {
    if UNSUPPORTED.contains(&args.command.as_str()) {
        bail!(
            "runtime control option {} is not supported by zagent (supported: {})",
            args.command,
            COMMANDS.join(", ")
        );
    }
    if !COMMANDS.contains(&args.command.as_str()) {
        bail!("invalid runtime control option: {}", args.command);
    }
    let Some(path) = super::config_path(args.config.as_deref()) else {
        bail!(
            "no configuration file: {} does not exist; give the running agent's file with -c FILE",
            super::DEFAULT_CONFIG
        );
    };
    let Some(pid_file) = pid_file_of(&path)? else {
        bail!(
            "PidFile is not set in {}: without it the running agent cannot be found; add PidFile= and restart the agent",
            path.display()
        );
    };
    let text = std::fs::read_to_string(&pid_file).map_err(|e| {
        anyhow::anyhow!(
            "cannot open PID file [{}]: {}",
            pid_file.display(),
            zbx_strerror(&e)
        )
    })?;
    let pid = parse_pid(&text)
        .with_context(|| format!("cannot retrieve PID from file [{}]", pid_file.display()))?;
    signal(pid, RELOAD_SIGNAL)?;
    println!("zagent [{}]: command sent successfully", std::process::id());
    Ok(ExitCode::SUCCESS)
}

/// `PidFile` of the configuration at `path`. A file with errors (a duplicate UserParameter
/// after an edit, say) still names the agent: as `zabbix_agentd -R`, the command is sent
/// and the agent decides (it keeps its UserParameters when the new ones are broken); the
/// errors are printed as a warning.
fn pid_file_of(path: &Path) -> anyhow::Result<Option<PathBuf>> {
    match crate::config::load_for_test(path) {
        Ok(config) => Ok(config.pid_file),
        Err(errors) => {
            let (entries, _) =
                crate::config::reader::read_tree(path).map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!(
                "zagent: warning: {} has errors; the agent will refuse a reload that needs them fixed:\n{errors}",
                path.display()
            );
            Ok(entries
                .into_iter()
                .rev()
                .find(|e| e.key == "PidFile" && !e.value.is_empty())
                .map(|e| PathBuf::from(e.value)))
        }
    }
}

/// The PID in a PID file: one positive decimal number above 1 (0 and 1 would signal a
/// process group or init), surrounding whitespace allowed.
pub fn parse_pid(text: &str) -> anyhow::Result<libc::pid_t> {
    let pid: libc::pid_t = text
        .trim()
        .parse()
        .with_context(|| format!("not a process id: {:?}", text.trim()))?;
    if pid <= 1 {
        bail!("{pid} is not an agent's process id");
    }
    Ok(pid)
}

fn signal(pid: libc::pid_t, sig: libc::c_int) -> anyhow::Result<()> {
    if let Err(e) = crate::sys::host::kill(pid, sig) {
        bail!("cannot send command to PID [{pid}]: {}", zbx_strerror(&e));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_contents() {
        assert_eq!(parse_pid("1234\n").unwrap(), 1234);
        assert_eq!(parse_pid(" 99 ").unwrap(), 99);
        for bad in ["", "garbage", "0", "1", "-5", "12 13"] {
            assert!(parse_pid(bad).is_err(), "{bad:?}");
        }
    }
}
