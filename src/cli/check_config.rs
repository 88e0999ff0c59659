//! `zagent check-config [-c FILE]`: the start-up validation of `zagent run`, and nothing
//! else (no socket is opened, no file but the configuration tree is read; the persistent
//! buffer's file is neither created nor opened, only its directory is checked).
//!
//! Valid: one summary line on stdout, warnings on stderr, exit 0; the warnings end with a
//! section listing every directive zagent ignores or reads differently from
//! zabbix_agentd/zabbix_agent2 (`config::compat`), so a file being migrated shows its
//! differences before the switch. Invalid: every error as `zagent: file:line: message` on
//! stderr, exit 1.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::config::{self, Config, ConfigError, Origin};

/// Checks `config` (or, without a file, the built-in defaults `zagent run` would use).
pub fn run(config: Option<&Path>) -> ExitCode {
    let loaded = match config {
        Some(path) => config::load(path),
        None => Ok(config::defaults()),
    };
    let result = loaded.and_then(|cfg| config::check_run_user(&cfg).map(|()| cfg));
    // The persistent buffer file is not created here: only its place is checked.
    let result = result.and_then(|cfg| match &cfg.persistent_buffer {
        Some(pb) => crate::active::persist::check_place(&pb.file)
            .map(|()| cfg.clone())
            .map_err(|m| config::ConfigErrors::from(vec![ConfigError::new(&pb.origin, m)])),
        None => Ok(cfg),
    });
    let mut err = std::io::stderr().lock();
    // The rest of `zagent run`'s start-up checks: UserParameters, rules and aliases that
    // cannot be used, and every TLS file read and checked.
    let result = result.and_then(|cfg| {
        let startup = crate::keys::AgentCtx::try_new(std::sync::Arc::new(cfg.clone()))
            .map(drop)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                crate::tls::build(&cfg.tls, crate::tls::Program::agent(&cfg))
                    .map_err(|e| e.to_string())
            });
        match startup {
            Ok(tls) => {
                for w in &tls.warnings {
                    let _ = writeln!(err, "zagent: warning: {w}");
                }
                Ok(cfg)
            }
            Err(message) => Err(config::ConfigErrors::from(vec![ConfigError::new(
                &Origin {
                    file: cfg.source.clone().unwrap_or_default(),
                    line: 0,
                },
                message,
            )])),
        }
    });
    match result {
        Ok(cfg) => {
            for (message, origin) in &cfg.warnings {
                // Best effort: a closed stderr must not turn a valid file into a failure.
                let _ = writeln!(
                    err,
                    "zagent: warning: {}",
                    ConfigError::new(origin, message)
                );
            }
            let differences = differences(&cfg);
            if !differences.is_empty() {
                let _ = writeln!(
                    err,
                    "zagent: warning: {} directive(s) that zagent ignores or reads differently from zabbix_agentd/zabbix_agent2; review them before switching:",
                    differences.len()
                );
                for (message, origin) in differences {
                    let _ = writeln!(
                        err,
                        "zagent: warning:   {}",
                        ConfigError::new(&origin, message)
                    );
                }
            }
            let _ = writeln!(std::io::stdout().lock(), "{}", summary(&cfg, config));
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors.errors {
                let _ = writeln!(err, "zagent: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The migration section: ignored directives (with why) and those read differently.
pub fn differences(cfg: &Config) -> Vec<(String, Origin)> {
    let mut out: Vec<(String, Origin)> = cfg
        .unsupported
        .iter()
        .map(|(name, origin)| {
            let why = config::compat::ignored(name)
                .unwrap_or("accepted but not supported by zagent; it has no effect");
            (format!("\"{name}\": {why}"), origin.clone())
        })
        .collect();
    out.extend(cfg.differences.iter().cloned());
    out
}

fn summary(cfg: &Config, file: Option<&Path>) -> String {
    let source = match file {
        Some(p) => p.display().to_string(),
        None => "built-in defaults".to_string(),
    };
    let passive = if cfg.start_agents == 0 || cfg.server.is_empty() {
        "passive off".to_string()
    } else {
        format!("passive on port {}", cfg.listen_port)
    };
    format!(
        "zagent: {source}: configuration OK ({passive}, {} active server(s), {} user parameter(s))",
        cfg.server_active.len(),
        cfg.user_parameters.len()
    )
}
