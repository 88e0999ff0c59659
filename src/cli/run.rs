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

/// Runs the agent until SIGTERM or SIGINT.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(args.config.as_deref())?;
    crate::config::check_run_user(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::logging::init(&config).context("cannot start logging")?;
    for (message, origin) in super::check_config::differences(&config) {
        warn!(%origin, "{message}");
    }
    for (message, origin) in &config.warnings {
        warn!(%origin, "{message}");
    }
    // Before the runtime's threads exist: their arenas get the same setting.
    crate::sys::mem::tune_allocator();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("zagent")
        .build()
        .context("cannot start the runtime")?;
    let config = rt.block_on(resolve_hostnames(config))?;
    rt.block_on(serve(Arc::new(config)))?;
    // Blocking-pool work still running (a hung statvfs) must not hold the exit.
    rt.shutdown_timeout(Duration::from_millis(200));
    Ok(ExitCode::SUCCESS)
}

/// Without `Hostname`, the host names come from `HostnameItem` (evaluated once at start,
/// as zabbix_agentd does); none at all is an error.
async fn resolve_hostnames(
    mut config: crate::config::Config,
) -> anyhow::Result<crate::config::Config> {
    super::apply_hostname_item(&mut config).await?;
    if config.hostnames.is_empty() {
        anyhow::bail!("\"Hostname\" configuration parameter is not defined");
    }
    Ok(config)
}

async fn serve(config: Arc<crate::config::Config>) -> anyhow::Result<()> {
    // Handlers first: a SIGTERM (or SIGUSR1) arriving once the port is bound must not
    // take the default action (kill the process).
    let stop_signals = install_stop_signals();
    let _ = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1());
    // Every TLS file is read and checked before anything listens: errors are fatal.
    let tls = crate::tls::build(&config.tls, crate::tls::Program::agent(&config))
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("invalid TLS configuration")?;
    let listeners = if config.start_agents > 0 && !config.server.is_empty() {
        crate::passive::bind(&config.listen_ip, config.listen_port, config.listen_backlog)
            .map_err(|e| {
                let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                    format!(
                        "; another process listens on port {}: if it is zabbix-agent, stop it first (systemctl disable --now zabbix-agent), or give zagent a free port with ListenPort=",
                        config.listen_port
                    )
                } else {
                    String::new()
                };
                anyhow::anyhow!("{e}{hint}")
            })
            .context("cannot start the passive listener")?
    } else {
        info!("Passive checks disabled (StartAgents=0 or no Server)");
        Vec::new()
    };
    let _pid = match &config.pid_file {
        Some(p) => Some(PidFile::create(p.clone())?),
        None => None,
    };
    // The persistent buffer file is opened (created, checked) before privileges are
    // dropped, like the PID file; an unusable file stops the start with its file:line.
    let store = crate::active::open_persistent_buffer(&config)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("cannot start zagent")?;
    let ctx = AgentCtx::try_new(Arc::clone(&config)).context("cannot start zagent")?;
    crate::privdrop::drop_privileges(&config).context("cannot start zagent")?;
    crate::keys::user::log_shadowed_builtins(&ctx);
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
        tasks.spawn(crate::passive::serve_with_tls(
            Arc::clone(&ctx),
            listeners,
            Arc::clone(&tls.server),
            shutdown.clone(),
        ));
    }
    {
        let (ctx, shutdown) = (Arc::clone(&ctx), shutdown.clone());
        tasks.spawn(async move {
            crate::keys::user::reload_on_signal(ctx, shutdown).await;
            Ok(())
        });
    }
    {
        let (ctx, shutdown, tls) = (Arc::clone(&ctx), shutdown.clone(), tls.client.clone());
        tasks.spawn(async move {
            crate::active::run_with_store(ctx, shutdown, tls, store).await;
            Ok(())
        });
    }
    // Listeners bound, privileges dropped, every task started: `Type=notify` may go on.
    crate::sys::notify::notify_or_log(&format!(
        "READY=1\nSTATUS=Serving (passive port {}, {} active server(s))",
        config.listen_port,
        config.server_active.len()
    ));
    wait_for_signal(stop_signals).await;
    info!("Shutting down");
    crate::sys::notify::notify_or_log("STOPPING=1");
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

type StopSignals = Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>;

fn install_stop_signals() -> StopSignals {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(term), Ok(int)) => Some((term, int)),
        _ => None,
    }
}

async fn wait_for_signal(signals: StopSignals) {
    let Some((mut term, mut int)) = signals else {
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
