//! Active checks: ask the server for the item list, run items on their schedule, buffer
//! and send values.
//!
//! Owns the workers (one per `ServerActive` entry × host name, each with its own item
//! list, schedule, buffer, session token and value ids) and their shutdown. It speaks the
//! itemid dialect of `docs/zabbix-protocol.md` §3.6 (`version`, `variant`, `session`,
//! `config_revision`) and falls back to legacy rows when a server answers in the legacy
//! format. It must not parse keys' meaning (the registry does; only `log`, `logrt` and
//! their `.count` forms are run here, by [`log`]) nor open sockets other than through
//! [`crate::transport`].
//!
//! Heartbeats (`active check heartbeat`) are sent every `HeartbeatFrequency` seconds
//! (0 = never), and only to servers whose item list carried `config_revision` (6.4+):
//! a 6.0 server does not know the request and logs a warning for each one.
//!
//! Limits (all explicit):
//! - Buffer: `BufferSize` values per worker, at most half of them log values
//!   ([`buffer`]); flushed every `BufferSend`, when full, or when log values fill their
//!   half. A failed send keeps everything and retries after `BufferSend`, doubling up to
//!   `min(RefreshActiveChecks, 30 s)` ([`worker::MAX_SEND_BACKOFF`]).
//! - Item list: refreshed every `RefreshActiveChecks`; after a failure retried after
//!   `min(RefreshActiveChecks, 60 s)` ([`worker::REFRESH_RETRY`]); at most
//!   [`refresh::MAX_REDIRECTS`] redirections in a row.
//! - Every exchange: `Timeout` for connect, write and read each ([`crate::transport`]).
//! - Log items: `maxlines` (or `MaxLinesPerSecond`) × interval lines sent per check, read
//!   in rounds no bigger than the buffer's free room for log values (flushing between
//!   rounds); four times that many analysed; lines longer than [`log::MAX_LINE`] are cut.
//!   File reading runs on the blocking pool.
//! - 7.0 extras: `upload: "disabled"` holds values until an item list omits it; remote
//!   `commands` run once each as `system.run[...]` (AllowKey/DenyKey decide; at most
//!   [`worker::MAX_COMMANDS`] per list) and their results go back in agent data.
//! - Persistent buffer (`EnablePersistentBuffer=1`, [`persist`]): values also go to an
//!   SQLite file and are sent from it, at most [`worker::PERSIST_CHUNK`] per message;
//!   non-log values older than `PersistentBufferPeriod` are dropped.
//! - Shutdown: one final flush per worker, bounded by [`SHUTDOWN_FLUSH_DEADLINE`].

pub mod buffer;
pub mod clock;
pub mod interval;
pub mod log;
pub mod persist;
pub mod proto;
pub mod refresh;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::TlsMode;
use crate::keys::AgentCtx;
use crate::tls::TlsClient;

/// How long the final flush at shutdown may take, per worker (they flush in parallel).
pub const SHUTDOWN_FLUSH_DEADLINE: Duration = Duration::from_secs(3);
/// Longest host name (the official agent's limit); longer values from `HostnameItem`
/// are truncated.
pub const MAX_HOSTNAME_LEN: usize = 128;

/// The host names to run for: `Hostname` (comma list) when set, else the value of
/// `HostnameItem` ([`AgentCtx::hostname_item`]: built-in keys, no access rules).
pub async fn hostnames(ctx: &Arc<AgentCtx>) -> Vec<String> {
    if !ctx.config.hostnames.is_empty() {
        return ctx.config.hostnames.clone();
    }
    let key = &ctx.config.hostname_item;
    match AgentCtx::hostname_item(&ctx.config).await {
        Ok(v) => {
            let mut name = v.str_result();
            if name.chars().count() > MAX_HOSTNAME_LEN {
                warn!(key = %key, limit = MAX_HOSTNAME_LEN, "Host name from HostnameItem is too long, truncated");
                name = name.chars().take(MAX_HOSTNAME_LEN).collect();
            }
            if name.is_empty() {
                error!(key = %key, "HostnameItem returned an empty value: set Hostname");
                Vec::new()
            } else {
                vec![name]
            }
        }
        Err(e) => {
            error!(key = %key, reason = %e, "Cannot get the host name from HostnameItem: set Hostname");
            Vec::new()
        }
    }
}

/// Runs active checks until `shutdown` is cancelled. Each worker then makes one final
/// flush attempt bounded by [`SHUTDOWN_FLUSH_DEADLINE`]; this returns when all are done
/// (at most that deadline plus one second after cancellation).
///
/// With `TLSConnect=psk|cert` it builds the TLS client from the configuration itself;
/// `zagent run`, which has built it already, should call [`run_with_tls`].
pub async fn run(ctx: Arc<AgentCtx>, shutdown: CancellationToken) {
    let tls = if ctx.config.tls.connect == TlsMode::Unencrypted {
        None
    } else {
        match crate::tls::build(&ctx.config.tls, crate::tls::Program::agent(&ctx.config)) {
            Ok(t) => t.client,
            Err(e) => {
                error!(error = %e, "Invalid TLS configuration: active checks disabled");
                return;
            }
        }
    };
    run_with_tls(ctx, shutdown, tls).await;
}

/// Opens the persistent buffer when `EnablePersistentBuffer=1` (`None` otherwise), for
/// every `ServerActive` entry × `Hostname`. The error names the `PersistentBufferFile`
/// line.
pub fn open_persistent_buffer(
    config: &crate::config::Config,
) -> Result<Option<Arc<persist::Store>>, crate::config::ConfigError> {
    let Some(pb) = &config.persistent_buffer else {
        return Ok(None);
    };
    let pairs: Vec<(String, String)> = config
        .server_active
        .iter()
        .flat_map(|s| {
            let label = persist::server_label(s);
            config
                .hostnames
                .iter()
                .map(move |h| (label.clone(), h.clone()))
        })
        .collect();
    persist::Store::open(&pb.file, pb.period, &pairs)
        .map(Some)
        .map_err(|e| crate::config::ConfigError::new(&pb.origin, e.to_string()))
}

/// [`run`] with the TLS client (`TLSConnect`) built once at start-up; `None` connects
/// unencrypted. Opens the persistent buffer itself when configured (a failure is logged
/// and values stay in memory); `zagent run` opens it first and calls [`run_with_store`].
pub async fn run_with_tls(
    ctx: Arc<AgentCtx>,
    shutdown: CancellationToken,
    tls: Option<Arc<TlsClient>>,
) {
    let store = match open_persistent_buffer(&ctx.config) {
        Ok(s) => s,
        Err(e) => {
            error!(error = %e, "Persistent buffer unavailable: values are buffered in memory only");
            None
        }
    };
    run_with_store(ctx, shutdown, tls, store).await;
}

/// [`run_with_tls`] with the persistent buffer opened by the caller (`None` = memory
/// only).
pub async fn run_with_store(
    ctx: Arc<AgentCtx>,
    shutdown: CancellationToken,
    tls: Option<Arc<TlsClient>>,
    store: Option<Arc<persist::Store>>,
) {
    if ctx.config.server_active.is_empty() {
        info!("ServerActive is empty: active checks disabled");
        return;
    }
    let hosts = hostnames(&ctx).await;
    if hosts.is_empty() {
        return;
    }
    let mut set = tokio::task::JoinSet::new();
    for server in &ctx.config.server_active {
        for host in &hosts {
            let mut w =
                worker::Worker::new(Arc::clone(&ctx), server.clone(), host.clone(), tls.clone());
            if let Some(store) = &store {
                match store.take_slot(&persist::server_label(server), host) {
                    Some((slot, resume)) => w = w.with_persist(slot, resume),
                    None => {
                        warn!(host = %host, "Host is not in the persistent buffer: its values are buffered in memory only")
                    }
                }
            }
            set.spawn(w.run(shutdown.clone(), SHUTDOWN_FLUSH_DEADLINE));
        }
    }
    shutdown.cancelled().await;
    let all = async {
        while let Some(r) = set.join_next().await {
            if let Err(e) = r {
                error!(error = %e, "Active check worker failed");
            }
        }
    };
    if tokio::time::timeout(SHUTDOWN_FLUSH_DEADLINE + Duration::from_secs(1), all)
        .await
        .is_err()
    {
        warn!("Active check workers did not stop in time; abandoning them");
        set.abort_all();
    }
}
