//! `zagent run`: the agent process — passive listener, active checks, signals, PID file.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::keys::AgentCtx;

/// How long shutdown may take before the process exits anyway.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// `zagent run` arguments.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Configuration file (zabbix_agentd.conf format).
    #[arg(short = 'c', long = "config")]
    pub config: Option<PathBuf>,
    /// Run in the foreground (the default and only mode: zagent never forks; use systemd
    /// or another supervisor). Accepted for zabbix_agentd compatibility.
    #[arg(short = 'f', long = "foreground")]
    pub foreground: bool,
}

/// The host name of this machine (gethostname), or empty when it cannot be read.
pub fn system_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into a valid buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Runs the agent until SIGTERM or SIGINT.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(args.config.as_deref())?;
    crate::logging::init(&config).context("cannot start logging")?;
    let config = Arc::new(config);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("zagent")
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(serve(config))?;
    // Blocking-pool work still running (a hung statvfs) must not hold the exit.
    rt.shutdown_timeout(Duration::from_millis(200));
    Ok(ExitCode::SUCCESS)
}

async fn serve(config: Arc<crate::config::Config>) -> anyhow::Result<()> {
    let listeners = if config.start_agents > 0 && !config.server.is_empty() {
        crate::passive::bind(&config.listen_ip, config.listen_port, config.listen_backlog)
            .context("cannot start the passive listener")?
    } else {
        info!("Passive checks disabled (StartAgents=0 or no Server)");
        Vec::new()
    };
    let _pid = match &config.pid_file {
        Some(p) => Some(PidFile::create(p.clone())?),
        None => None,
    };
    let ctx = AgentCtx::new(Arc::clone(&config));
    info!(
        version = crate::keys::agent::AGENT_VERSION,
        hostname = config.hostname(),
        config = ?config.source,
        "Starting zagent"
    );
    let shutdown = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(crate::sys::cpustat::run_collector(shutdown.clone()));
    if !listeners.is_empty() {
        tasks.spawn(crate::passive::serve(
            Arc::clone(&ctx),
            listeners,
            shutdown.clone(),
        ));
    }
    wait_for_signal().await;
    info!("Shutting down");
    shutdown.cancel();
    let drain = async {
        while let Some(r) = tasks.join_next().await {
            match r {
                Ok(Err(e)) => warn!(error = %e, "Task ended with an error"),
                Err(e) => warn!(error = %e, "Task failed"),
                Ok(Ok(())) => {}
            }
        }
    };
    if tokio::time::timeout(SHUTDOWN_DEADLINE, drain)
        .await
        .is_err()
    {
        warn!(deadline = ?SHUTDOWN_DEADLINE, "Shutdown deadline passed; exiting anyway");
    }
    info!("zagent stopped");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        warn!("Cannot install signal handlers; stop zagent with SIGKILL");
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// The PID file: written at start, removed at exit.
#[derive(Debug)]
struct PidFile(PathBuf);

impl PidFile {
    fn create(path: PathBuf) -> anyhow::Result<PidFile> {
        std::fs::write(&path, format!("{}\n", std::process::id()))
            .with_context(|| format!("cannot write PID file {}", path.display()))?;
        Ok(PidFile(path))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
