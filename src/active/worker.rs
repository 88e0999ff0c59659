//! One active-check worker: one `ServerActive` entry (a server or HA cluster) × one
//! host name. Owns its item list, schedule, buffer, session token and value ids.
//!
//! The loop: refresh the item list every `RefreshActiveChecks`, run items when due,
//! flush the buffer every `BufferSend` (or when full, or when log values need it), send
//! heartbeats where the server takes them. Every exchange goes through
//! [`crate::transport`]; file reading of log items runs on the blocking pool.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Local, TimeZone};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::buffer::{Buffer, NewValue, Pushed};
use super::clock::{new_session, wall_clock};
use super::interval::{self, Interval};
use super::log::{Batch, LogItem, LogKind, LogLine, LogSpec};
use super::persist::{Resume, Slot};
use super::proto::{
    self, ActiveChecksRequest, ActiveItem, CommandResult, Delay, GlobalRegexp, ItemRef,
    RemoteCommand, Sender,
};
use super::refresh::{self, Event, Next, RefreshState};
use crate::config::{ActiveServer, DEFAULT_LISTEN_PORT};
use crate::keys::agent::{AGENT_VARIANT, AGENT_VERSION};
use crate::keys::{AgentCtx, NotSupported};
use crate::tls::TlsClient;
use crate::transport::{self, ClientOptions, TransportError};

/// Retry delay after the item list could not be fetched (the official agent waits 60 s;
/// a shorter `RefreshActiveChecks` wins).
pub const REFRESH_RETRY: Duration = Duration::from_secs(60);
/// Longest wait between retries of a failed send.
pub const MAX_SEND_BACKOFF: Duration = Duration::from_secs(30);
/// Remote-command ids remembered to avoid running a repeated command twice.
pub const MAX_COMMAND_IDS: usize = 1024;
/// Remote commands taken from one item list (more are dropped with a warning).
pub const MAX_COMMANDS: usize = 100;
/// `host_metadata` / `interface` length limit (6.0), in characters.
pub const MAX_METADATA_CHARS: usize = 255;
/// Values per "agent data" message sent from the persistent buffer (as a proxy sends
/// history), and messages per flush while a backlog drains.
pub const PERSIST_CHUNK: usize = 1000;
/// See [`PERSIST_CHUNK`].
pub const PERSIST_CHUNKS_PER_FLUSH: usize = 100;

#[derive(Debug)]
enum Kind {
    Plain,
    Log(Option<Box<LogItem>>),
}

#[derive(Debug)]
struct ItemState {
    item: ActiveItem,
    interval: Result<Interval, ()>,
    /// Unix second of the next run; `None` = never (bad interval).
    next: Option<i64>,
    kind: Kind,
    /// The reason last reported as "not supported", to report transitions only.
    unsupported: Option<String>,
    /// Seed staggering items with equal delays.
    seed: u64,
    /// Log items: processing errors in a row.
    log_errors: u32,
}

fn parse_interval(d: &Delay) -> Result<Interval, ()> {
    match d {
        Delay::Text(s) => Interval::parse(s).map_err(|_| ()),
        Delay::Seconds(n) => Interval::from_legacy(*n).map_err(|_| ()),
    }
}

/// Log processing errors in a row that are only logged, as zabbix_agentd does.
pub const LOG_ERRORS_SUPPRESSED: u32 = 2;

/// Keys the worker runs itself (file tailing), not through the registry.
fn is_log_key(key: &str) -> bool {
    let name = key.split('[').next().unwrap_or(key);
    matches!(name, "log" | "logrt" | "log.count" | "logrt.count")
}

/// The parameters of a log item, resolved through the registry like any key (`Alias`,
/// `AllowKey`/`DenyKey`, the declared parameters; a denied key is "Unsupported item key.",
/// like an unknown one).
fn log_spec(ctx: &AgentCtx, key: &str, regexps: &[GlobalRegexp]) -> Result<LogSpec, NotSupported> {
    let parsed = ctx.prepare_active(key)?;
    LogSpec::parse(&parsed, regexps, ctx.config.max_lines_per_second)
}

/// One worker's state.
#[derive(Debug)]
pub struct Worker {
    ctx: Arc<AgentCtx>,
    /// `TLSConnect` client; `None` = unencrypted.
    tls: Option<Arc<TlsClient>>,
    server: ActiveServer,
    host: String,
    session: String,
    node: usize,
    items: BTreeMap<ItemRef, ItemState>,
    regexps: Vec<GlobalRegexp>,
    buffer: Buffer,
    next_refresh: Instant,
    next_heartbeat: Option<Instant>,
    /// Redirection, revision, upload switch and the failure being reported
    /// ([`super::refresh`]).
    refresh: RefreshState,
    send_failing: bool,
    /// Values evicted since the last good send (one warning when a burst starts, the
    /// total when it ends).
    evicted_in_burst: u64,
    /// Refused log values were reported since the last good send.
    persistent_full_logged: bool,
    /// Timestamp of the last stored value; later values get strictly later ones.
    last_ts: (i64, u32),
    /// 7.0 remote commands received and not run yet.
    commands: Vec<RemoteCommand>,
    /// Results of remote commands not yet accepted by the server.
    command_results: Vec<CommandResult>,
    /// Ids of remote commands already run (the server may repeat a command until it has
    /// the result), most recent last, at most [`MAX_COMMAND_IDS`].
    commands_done: std::collections::VecDeque<u64>,
    /// When pending command results may be sent again after a failed send.
    results_retry_at: Instant,
    /// `EnablePersistentBuffer=1`: every value is also in the file, and values are sent
    /// from it (see [`super::persist`]).
    persist: Option<Slot>,
}

impl Worker {
    /// A worker for `host` on `server`.
    pub fn new(
        ctx: Arc<AgentCtx>,
        server: ActiveServer,
        host: String,
        tls: Option<Arc<TlsClient>>,
    ) -> Worker {
        let now = Instant::now();
        let size = ctx.config.buffer_size;
        Worker {
            ctx,
            tls,
            server,
            host,
            session: new_session(),
            node: 0,
            items: BTreeMap::new(),
            regexps: Vec::new(),
            buffer: Buffer::new(size, now),
            next_refresh: now,
            next_heartbeat: None,
            refresh: RefreshState::default(),
            send_failing: false,
            evicted_in_burst: 0,
            persistent_full_logged: false,
            last_ts: (0, 0),
            commands: Vec::new(),
            command_results: Vec::new(),
            commands_done: std::collections::VecDeque::new(),
            results_retry_at: now,
            persist: None,
        }
    }

    /// Uses the persistent buffer: the session token and ids continue those of the
    /// file's registry row, and the values left from the previous run are sent first.
    pub fn with_persist(mut self, slot: Slot, resume: Resume) -> Worker {
        self.session = resume.session;
        self.buffer.resume_ids(resume.last_id);
        self.buffer.set_backlog(resume.backlog > 0);
        if resume.backlog > 0 {
            info!(host = %self.host, values = resume.backlog, "Values left in the persistent buffer will be sent");
        }
        self.persist = Some(slot);
        self
    }

    fn addr_label(&self) -> String {
        match &self.refresh.redirect {
            Some((a, _)) => a.to_string(),
            None => self
                .server
                .nodes
                .get(self.node)
                .map(ToString::to_string)
                .unwrap_or_default(),
        }
    }

    fn opts(&self) -> ClientOptions {
        let mut o = ClientOptions::new(self.ctx.config.timeout).with_tls(self.tls.clone());
        o.source_ip = self.ctx.config.source_ip;
        o
    }

    /// One exchange with the current node; on failure the other HA nodes in order. The
    /// node that answers becomes the current one.
    async fn exchange(
        &mut self,
        payload: &[u8],
    ) -> Result<zbx_proto::frame::Frame, TransportError> {
        let opts = self.opts();
        if let Some((a, _)) = &self.refresh.redirect {
            match transport::exchange(&a.host, a.port, payload, &opts).await {
                Ok(f) => return Ok(f),
                Err(e) => {
                    // The redirect target is gone: back to the configured nodes.
                    warn!(host = %self.host, server = %a, error = %e,
                        "Redirected server does not answer; returning to ServerActive");
                    self.refresh.redirect = None;
                }
            }
        }
        let n = self.server.nodes.len();
        let mut last = TransportError::Empty;
        for k in 0..n {
            let idx = (self.node + k) % n;
            let a = &self.server.nodes[idx];
            match transport::exchange(&a.host, a.port, payload, &opts).await {
                Ok(f) => {
                    if idx != self.node {
                        info!(host = %self.host, server = %a, "Switched to another cluster node");
                        self.node = idx;
                    }
                    return Ok(f);
                }
                Err(e) => {
                    debug!(server = %a, error = %e, "Exchange failed");
                    last = e;
                }
            }
        }
        Err(last)
    }

    async fn item_text(
        &self,
        value: &Option<String>,
        item: &Option<String>,
        what: &str,
    ) -> Option<String> {
        let text = match (value, item) {
            (Some(v), _) => v.clone(),
            // The agent's own items: AllowKey/DenyKey do not apply (as zabbix_agentd).
            (None, Some(key)) => match self.ctx.execute_local(key, self.ctx.config.timeout).await {
                // zabbix_agentd takes the string form: a text's first line.
                Ok(v) => v.str_result(),
                Err(e) => {
                    warn!(key = %key, reason = %e, "Cannot get {what} from its item");
                    return None;
                }
            },
            (None, None) => return None,
        };
        if text.chars().count() > MAX_METADATA_CHARS {
            warn!(
                what,
                limit = MAX_METADATA_CHARS,
                "Value is too long, truncated"
            );
            return Some(text.chars().take(MAX_METADATA_CHARS).collect());
        }
        Some(text)
    }

    /// Asks for the item list and applies the answer.
    async fn refresh(&mut self) {
        let cfg = Arc::clone(&self.ctx.config);
        let metadata = self
            .item_text(&cfg.host_metadata, &cfg.host_metadata_item, "host metadata")
            .await;
        let interface = self
            .item_text(
                &cfg.host_interface,
                &cfg.host_interface_item,
                "host interface",
            )
            .await;
        let req = ActiveChecksRequest {
            host: &self.host,
            version: AGENT_VERSION,
            variant: AGENT_VARIANT,
            session: &self.session,
            config_revision: self.refresh.config_revision,
            host_metadata: metadata.as_deref(),
            interface: interface.as_deref(),
            ip: cfg
                .listen_ip_set
                .then(|| cfg.listen_ip.first().map(ToString::to_string))
                .flatten(),
            port: (cfg.listen_port != DEFAULT_LISTEN_PORT).then_some(cfg.listen_port),
        };
        let payload = req.to_payload();
        let refresh = cfg.refresh_active_checks;
        let reply = match self.exchange(&payload).await {
            Ok(f) => proto::parse_active_checks(&f.payload).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let now = Instant::now();
        let out = refresh::on_reply(&mut self.refresh, reply);
        self.queue_commands(out.commands);
        for e in out.events {
            self.log_refresh_event(e);
        }
        if let Some((items, regexps)) = out.items {
            let regexps_changed = self.regexps != regexps;
            self.regexps = regexps;
            self.apply(items);
            if regexps_changed {
                self.recompile_log_filters();
            }
        }
        self.next_refresh = match out.next {
            Next::Now => now,
            Next::Refresh => now + refresh,
            Next::Retry => now + refresh.min(REFRESH_RETRY),
        };
        if out.listed {
            if !self.heartbeat_enabled() {
                self.next_heartbeat = None;
            } else if self.next_heartbeat.is_none() {
                self.next_heartbeat = Some(now);
            }
        }
    }

    /// The log line of something an item-list answer changed.
    fn log_refresh_event(&self, e: Event) {
        match e {
            Event::UploadDisabled => {
                warn!(host = %self.host, "Server disabled uploads; values stay in the buffer until it allows them")
            }
            Event::UploadAllowed => info!(host = %self.host, "Server allows uploads again"),
            Event::WorkingAgain => {
                info!(host = %self.host, server = %self.addr_label(), "Active check configuration update is working again")
            }
            Event::Unchanged => debug!(host = %self.host, "Item list unchanged"),
            // "Unchanged" is only meaningful when we hold a revision.
            Event::NoListOnFirstRequest => {
                warn!(host = %self.host, "Server sent no item list for a first request")
            }
            Event::RedirectReset => info!(host = %self.host, "Server reset the redirection"),
            Event::Redirected(a) => info!(host = %self.host, to = %a, "Redirected by the server"),
            Event::OlderRedirectIgnored(revision) => {
                debug!(revision, "Ignoring an older redirection")
            }
            Event::BadRedirectAddress(address) => {
                warn!(address = %address, "Cannot use the redirection address")
            }
            Event::TooManyRedirects => {
                warn!(host = %self.host, "Too many redirections in a row; waiting for the next refresh")
            }
            Event::NoActiveChecks(info) => {
                warn!(host = %self.host, server = %self.addr_label(), info = %info, "No active checks on server")
            }
            Event::UpdateFailed(e) => {
                warn!(host = %self.host, server = %self.addr_label(), error = %e,
                "Active check configuration update failed; keeping the current item list")
            }
        }
    }

    /// Global regexps changed: rebuild the filters of running log items, keeping their
    /// file positions. An item whose filter no longer compiles is started afresh (and
    /// reported unsupported) at its next check.
    fn recompile_log_filters(&mut self) {
        for s in self.items.values_mut() {
            let Kind::Log(slot) = &mut s.kind else {
                continue;
            };
            let Some(log) = slot.as_mut() else { continue };
            match log_spec(&self.ctx, &s.item.key, &self.regexps) {
                Ok(spec) => log.spec = spec,
                Err(_) => *slot = None,
            }
        }
    }

    /// Takes the 7.0 remote commands of an item list (each id once).
    fn queue_commands(&mut self, commands: Vec<RemoteCommand>) {
        let total = commands.len();
        for c in commands.into_iter().take(MAX_COMMANDS) {
            let known = self.commands_done.contains(&c.id)
                || self.commands.iter().any(|q| q.id == c.id)
                || self.command_results.iter().any(|r| r.id == c.id);
            if !known {
                self.commands.push(c);
            }
        }
        if total > MAX_COMMANDS {
            warn!(host = %self.host, received = total, limit = MAX_COMMANDS, "Too many remote commands; the rest waits for the next item list");
        }
    }

    /// Runs queued remote commands as `system.run[<command>,wait|nowait]`, so that
    /// AllowKey/DenyKey decide (denied by default, like zabbix_agentd); results go back
    /// with the next agent data.
    async fn run_commands(&mut self) {
        for c in std::mem::take(&mut self.commands) {
            let mut key = String::from("system.run[");
            zbx_proto::key::write_param(&mut key, &c.command);
            key.push_str(if c.wait != 0 { ",wait]" } else { ",nowait]" });
            if self.ctx.config.log_remote_commands {
                info!(host = %self.host, id = c.id, command = %c.command, "Executing remote command");
            }
            let timeout = c
                .timeout
                .as_ref()
                .and_then(|t| match t {
                    zbx_proto::message::Interval::Seconds(n) => Some(*n),
                    zbx_proto::message::Interval::Text(t) => interval::parse_time_suffix(t),
                })
                .filter(|t| (1..=600).contains(t))
                .map(Duration::from_secs)
                .unwrap_or(self.ctx.config.timeout);
            let result = match self.ctx.execute_with_timeout(&key, timeout).await {
                Ok(v) => CommandResult {
                    id: c.id,
                    value: Some(v.to_wire()),
                    error: None,
                },
                Err(NotSupported(e)) => CommandResult {
                    id: c.id,
                    value: None,
                    error: Some(e),
                },
            };
            self.commands_done.push_back(c.id);
            while self.commands_done.len() > MAX_COMMAND_IDS {
                self.commands_done.pop_front();
            }
            self.command_results.push(result);
        }
    }

    fn heartbeat_enabled(&self) -> bool {
        !self.ctx.config.heartbeat_frequency.is_zero() && self.refresh.server_has_revision
    }

    /// Replaces the item list: unchanged items keep their schedule and log position.
    fn apply(&mut self, items: Vec<ActiveItem>) {
        let now = wall_clock().0;
        let before = self.items.len();
        let mut next = BTreeMap::new();
        for item in items {
            let r = match item.itemid {
                Some(id) => ItemRef::Id(id),
                None => ItemRef::Key(item.key_orig.clone()),
            };
            let seed = item.itemid.unwrap_or_else(|| {
                item.key_orig
                    .bytes()
                    .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
            });
            let state = match self.items.remove(&r) {
                Some(mut old) if old.item.key == item.key => {
                    if old.item.delay != item.delay {
                        old.interval = parse_interval(&item.delay);
                        old.next = old.interval.is_ok().then_some(now);
                        if old.interval.is_err() {
                            old.unsupported = None;
                        }
                    }
                    old.item = item;
                    old
                }
                _ => {
                    let interval = parse_interval(&item.delay);
                    let kind = if is_log_key(&self.ctx.user.aliases.resolve(&item.key)) {
                        Kind::Log(None)
                    } else {
                        Kind::Plain
                    };
                    ItemState {
                        next: interval.is_ok().then_some(now),
                        interval,
                        kind,
                        unsupported: None,
                        seed,
                        log_errors: 0,
                        item,
                    }
                }
            };
            next.insert(r, state);
        }
        self.items = next;
        let invalid: Vec<ItemRef> = self
            .items
            .iter()
            .filter(|(_, s)| s.interval.is_err() && s.unsupported.is_none())
            .map(|(r, _)| r.clone())
            .collect();
        for r in invalid {
            self.push_unsupported(&r, interval::INCORRECT_INTERVAL.to_string());
        }
        if self.items.len() != before {
            info!(host = %self.host, server = %self.addr_label(), items = self.items.len(), "Active check list changed");
        } else {
            debug!(host = %self.host, items = self.items.len(), "Active checks refreshed");
        }
    }

    fn push_value(&mut self, mut v: NewValue) -> Pushed {
        // The server keys history by (item, clock, ns): values of one batch (log lines)
        // must not share a timestamp, or all but one are lost.
        if (v.clock, v.ns) <= self.last_ts {
            let (c, n) = self.last_ts;
            (v.clock, v.ns) = if n >= 999_999_999 {
                (c + 1, 0)
            } else {
                (c, n + 1)
            };
        }
        let ts = (v.clock, v.ns);
        let log = v.persistent;
        let r = self.buffer.push(v);
        if r != Pushed::PersistentFull {
            self.last_ts = ts;
            if let (Some(p), Some(row)) = (&self.persist, self.buffer.newest()) {
                p.insert(row, log);
            }
        }
        let (evicted, persistent_full) = self.buffer.take_losses();
        if evicted > 0 && self.persist.is_some() {
            // Still in the file; memory keeps only the newest values.
            self.buffer.set_backlog(true);
        } else if evicted > 0 {
            if self.evicted_in_burst == 0 {
                warn!(host = %self.host, size = self.ctx.config.buffer_size,
                    "Buffer is full: dropping the oldest non-log values (log values are kept)");
            }
            self.evicted_in_burst += evicted;
        }
        if persistent_full {
            debug!(host = %self.host, "Buffer is full, cannot store persistent value");
        }
        r
    }

    /// Reports an item as not supported. Like the official agent it is reported at every
    /// failed check (the server may have reset the state meanwhile); the log line is
    /// written only when the state or reason changes.
    fn push_unsupported(&mut self, r: &ItemRef, reason: String) {
        let (clock, ns) = wall_clock();
        if let Some(s) = self.items.get_mut(r) {
            if s.unsupported.as_deref() != Some(reason.as_str()) {
                warn!(host = %self.host, key = %s.item.key, reason = %reason, "Active check is not supported");
                s.unsupported = Some(reason.clone());
            }
        }
        self.push_value(NewValue {
            item: r.clone(),
            value: Some(reason),
            unsupported: true,
            lastlogsize: None,
            mtime: None,
            clock,
            ns,
            persistent: false,
        });
    }

    /// Runs every item whose time has come.
    async fn run_due(&mut self) {
        let now = wall_clock().0;
        // The wall clock went back: an item due further ahead than its longest delay is
        // rescheduled from now (scheduling intervals may legitimately be days ahead).
        for s in self.items.values_mut() {
            if let (Some(n), Ok(i)) = (s.next, &s.interval) {
                if i.scheduling.is_empty() && n - now > i64::from(i.max_delay()) {
                    s.next = i.next_after(&Local::now(), s.seed).map(|t| t.timestamp());
                }
            }
        }
        let due: Vec<ItemRef> = self
            .items
            .iter()
            .filter(|(_, s)| s.next.is_some_and(|n| n <= now))
            .map(|(r, _)| r.clone())
            .collect();
        for r in due {
            self.run_item(&r).await;
            // Reschedule from the time the check finished.
            let after = Local::now();
            if let Some(s) = self.items.get_mut(&r) {
                if let Ok(i) = &s.interval {
                    s.next = i.next_after(&after, s.seed).map(|t| t.timestamp());
                }
            }
            if self
                .buffer
                .flush_due(Instant::now(), self.ctx.config.buffer_send)
            {
                self.flush().await;
            }
        }
    }

    fn item_timeout(&self, s: &ItemState) -> Duration {
        s.item
            .timeout
            .as_deref()
            .and_then(interval::parse_time_suffix)
            .filter(|t| (1..=600).contains(t))
            .map(Duration::from_secs)
            .unwrap_or(self.ctx.config.timeout)
    }

    async fn run_item(&mut self, r: &ItemRef) {
        let Some(s) = self.items.get(r) else { return };
        let key = s.item.key.clone();
        if let Kind::Log(_) = s.kind {
            self.run_log(r).await;
            return;
        }
        let timeout = self.item_timeout(s);
        let resolved = self.ctx.user.aliases.resolve(&key);
        if resolved == "eventlog" || resolved.starts_with("eventlog[") {
            // Windows only; zabbix_agentd on Linux reports it like an unknown key.
            self.push_unsupported(r, crate::keys::reason::UNSUPPORTED_KEY.to_string());
            return;
        }
        let result = self.ctx.execute_with_timeout(&key, timeout).await;
        let (clock, ns) = wall_clock();
        match result {
            Ok(v) => {
                if let Some(s) = self.items.get_mut(r) {
                    s.unsupported = None;
                }
                self.push_value(NewValue {
                    item: r.clone(),
                    value: Some(v.to_wire()),
                    unsupported: false,
                    lastlogsize: None,
                    mtime: None,
                    clock,
                    ns,
                    persistent: false,
                });
            }
            Err(NotSupported(reason)) => {
                self.push_unsupported(r, reason);
            }
        }
    }

    async fn run_log(&mut self, r: &ItemRef) {
        let Some(s) = self.items.get_mut(r) else {
            return;
        };
        let Kind::Log(slot) = &mut s.kind else { return };
        let mut log = match slot.take() {
            Some(l) => l,
            None => match log_spec(&self.ctx, &s.item.key, &self.regexps) {
                Ok(spec) => Box::new(LogItem::new(spec, s.item.lastlogsize, s.item.mtime)),
                Err(NotSupported(reason)) => {
                    let r = r.clone();
                    self.push_unsupported(&r, reason);
                    return;
                }
            },
        };
        let is_logrt = log.spec.kind == LogKind::LogRt;
        let seconds = s
            .interval
            .as_ref()
            .map(|i| u64::from(i.current_delay(&Local::now()).max(1)))
            .unwrap_or(1);
        let count = log.spec.count;
        // Lines this check may send (maxlines per second × the interval). They are read
        // in rounds no bigger than the buffer's free room for log values, flushing in
        // between, as the official agent sends its buffer while reading.
        let mut remaining = log.spec.maxlines.saturating_mul(seconds.max(1));
        loop {
            if !count && self.buffer.persistent_is_full() {
                self.flush_if_due().await;
                if self.buffer.persistent_is_full() {
                    // Nothing is read that cannot be kept; the next check tries again.
                    break;
                }
            }
            let room = if count {
                u64::MAX
            } else {
                (self.buffer.persistent_room() as u64).min(remaining)
            };
            let joined = tokio::task::spawn_blocking(move || {
                let res = log.check_at_most(seconds, room);
                (log, res)
            })
            .await;
            let res;
            (log, res) = match joined {
                Ok(v) => v,
                Err(e) => {
                    // The reader panicked: the item starts afresh from the server's
                    // position at its next check.
                    warn!(item = ?r, error = %e, "Log reader task failed");
                    return;
                }
            };
            match res {
                Err(NotSupported(reason)) => {
                    self.log_error(r, reason);
                    break;
                }
                Ok(batch) if count => {
                    self.log_ok(r);
                    let (clock, ns) = wall_clock();
                    // One value per check: the number of matching lines analysed.
                    self.push_value(NewValue {
                        item: r.clone(),
                        value: Some(batch.lines.len().to_string()),
                        unsupported: false,
                        lastlogsize: Some(batch.lastlogsize),
                        mtime: is_logrt.then_some(batch.mtime),
                        clock,
                        ns,
                        persistent: true,
                    });
                    break;
                }
                Ok(batch) => {
                    self.log_ok(r);
                    let read = batch.lines.len();
                    let stored = self.store_lines(r, &batch, is_logrt).await;
                    if stored < read {
                        if !self.persistent_full_logged {
                            warn!(host = %self.host, key = ?r, "Buffer is full, cannot store persistent value: log reading paused until it drains");
                            self.persistent_full_logged = true;
                        }
                        log.rewind(&batch, stored);
                        break;
                    }
                    remaining = remaining.saturating_sub(stored as u64);
                    // Fewer lines than asked: the file is read (or the analysis budget is
                    // spent). Otherwise the buffer's room was the limit: another round.
                    if (read as u64) < room || remaining == 0 {
                        break;
                    }
                }
            }
        }
        if let Some(Kind::Log(slot)) = self.items.get_mut(r).map(|s| &mut s.kind) {
            *slot = Some(log);
        }
    }

    /// A log check failed. Like zabbix_agentd, two failures in a row (a file briefly
    /// missing during rotation) are only logged at debug level; the third is reported and
    /// the count starts again.
    fn log_error(&mut self, r: &ItemRef, reason: String) {
        let errors = self
            .items
            .get_mut(r)
            .map_or(LOG_ERRORS_SUPPRESSED + 1, |s| {
                s.log_errors += 1;
                s.log_errors
            });
        if errors <= LOG_ERRORS_SUPPRESSED {
            debug!(key = ?r, errors, reason = %reason, "Suppressing a log processing error");
        } else {
            if let Some(s) = self.items.get_mut(r) {
                s.log_errors = 0;
            }
            self.push_unsupported(r, reason);
        }
    }

    fn log_ok(&mut self, r: &ItemRef) {
        if let Some(s) = self.items.get_mut(r) {
            s.unsupported = None;
            s.log_errors = 0;
        }
    }

    /// Stores a batch of log lines; returns how many fitted (after one flush to make
    /// room). Lines read but all filtered out still report the new position.
    async fn store_lines(&mut self, r: &ItemRef, batch: &Batch, is_logrt: bool) -> usize {
        let (clock, ns) = wall_clock();
        let value = |line: &LogLine| NewValue {
            item: r.clone(),
            value: Some(line.value.clone()),
            unsupported: false,
            lastlogsize: Some(line.lastlogsize),
            mtime: is_logrt.then_some(line.mtime),
            clock,
            ns,
            persistent: true,
        };
        let mut stored = 0;
        for line in &batch.lines {
            if self.push_value(value(line)) == Pushed::PersistentFull {
                self.flush_if_due().await;
                if self.push_value(value(line)) == Pushed::PersistentFull {
                    break;
                }
            }
            stored += 1;
        }
        if batch.lines.is_empty() && batch.advanced {
            // Lines were read but none matched: tell the server where we are so a
            // restart does not analyse them again.
            self.push_value(NewValue {
                item: r.clone(),
                value: None,
                unsupported: false,
                lastlogsize: Some(batch.lastlogsize),
                mtime: is_logrt.then_some(batch.mtime),
                clock,
                ns,
                persistent: true,
            });
        }
        stored
    }

    /// Flushes unless a failed send asked to wait (the backoff holds for log items too).
    async fn flush_if_due(&mut self) {
        if self
            .buffer
            .flush_due(Instant::now(), self.ctx.config.buffer_send)
        {
            self.flush().await;
        }
    }

    /// Sends the buffer (one connection). Failure keeps every value for a retry.
    async fn flush(&mut self) {
        if self.persist.is_none() {
            self.flush_once().await;
            return;
        }
        // A backlog in the file drains in chunks, one message after the other.
        for _ in 0..PERSIST_CHUNKS_PER_FLUSH {
            if !self.flush_once().await {
                break;
            }
        }
    }

    /// The rows of the next message: the memory buffer's, or with the persistent buffer
    /// the file's oldest (then the memory values the file failed to take).
    async fn rows_to_send(&self) -> Vec<proto::Row> {
        let Some(p) = &self.persist else {
            return self.buffer.rows();
        };
        let mut rows = p.oldest(PERSIST_CHUNK).await;
        // Values the file did not take (it failed to write) are sent from memory in id
        // order; when the file may hold more than this chunk, only those below its last
        // id, so that no unsent value of the file is acknowledged with them.
        let more_in_file = rows.len() >= PERSIST_CHUNK;
        let last = rows.last().map_or(0, |r| r.id);
        let in_file: std::collections::HashSet<u64> = rows.iter().map(|r| r.id).collect();
        rows.extend(
            self.buffer
                .rows()
                .into_iter()
                .filter(|r| !in_file.contains(&r.id) && (!more_in_file || r.id < last)),
        );
        rows.sort_by_key(|r| r.id);
        rows.truncate(PERSIST_CHUNK);
        rows
    }

    /// Sends one message. Returns whether more values wait in the persistent buffer
    /// after a good send.
    async fn flush_once(&mut self) -> bool {
        if self.refresh.upload_disabled {
            return false;
        }
        let rows = self.rows_to_send().await;
        if rows.is_empty() && self.command_results.is_empty() {
            self.buffer.set_backlog(false);
            return false;
        }
        // Never mix legacy and itemid rows in one message.
        let legacy = rows
            .first()
            .is_some_and(|r| matches!(r.item, ItemRef::Key(_)));
        let n = rows
            .iter()
            .take_while(|r| matches!(r.item, ItemRef::Key(_)) == legacy)
            .count();
        let (clock, ns) = wall_clock();
        let sender = Sender {
            host: &self.host,
            version: AGENT_VERSION,
            variant: AGENT_VARIANT,
            session: &self.session,
        };
        let results = self.command_results.len();
        let payload = proto::agent_data_with(sender, &rows[..n], &self.command_results, clock, ns);
        let outcome = match self.exchange(&payload).await {
            Ok(f) => match proto::parse_data_reply(&f.payload) {
                // 7.0: "upload":"disabled" (history cache full) — keep the values and retry
                // later; the server drops any it did take as duplicates of session+id.
                Ok(r) if r.upload_disabled => {
                    self.refresh.upload_disabled = true;
                    Err("server disabled uploads (its history cache is full)".to_string())
                }
                Ok(r) if r.success => Ok(r.info),
                Ok(r) => Err(format!(
                    "server answered \"{}\"",
                    r.info.unwrap_or_else(|| "failed".into())
                )),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        let mut more = false;
        let now = Instant::now();
        match outcome {
            Ok(info) => {
                debug!(host = %self.host, values = n, info = info.as_deref().unwrap_or(""), "Values sent");
                if self.send_failing {
                    info!(host = %self.host, server = %self.addr_label(), "Sending values works again");
                    self.send_failing = false;
                }
                more = match (&self.persist, rows[..n].last()) {
                    (Some(p), Some(last)) => {
                        p.remove_up_to(last.id);
                        self.buffer.sent_up_to(last.id, now);
                        n < rows.len() || rows.len() >= PERSIST_CHUNK
                    }
                    (Some(_), None) => {
                        self.buffer.sent(0, now);
                        false
                    }
                    (None, _) => {
                        self.buffer.sent(n, now);
                        false
                    }
                };
                self.buffer.set_backlog(more);
                self.command_results.drain(..results);
                if self.evicted_in_burst > 0 {
                    warn!(host = %self.host, dropped = self.evicted_in_burst,
                        "Values were dropped while the buffer was full");
                    self.evicted_in_burst = 0;
                }
                self.persistent_full_logged = false;
            }
            Err(e) => {
                let cap = self.ctx.config.refresh_active_checks.min(MAX_SEND_BACKOFF);
                let wait = self.buffer.failed(now, self.ctx.config.buffer_send, cap);
                self.results_retry_at = now + wait;
                if !self.send_failing {
                    warn!(host = %self.host, server = %self.addr_label(), error = %e, buffered = self.buffer.len(),
                        "Cannot send values; keeping them and retrying with backoff");
                    self.send_failing = true;
                }
                debug!(retry_in = ?wait, "Send failed");
            }
        }
        more
    }

    async fn heartbeat(&mut self) {
        let freq = self.ctx.config.heartbeat_frequency;
        self.next_heartbeat = Some(Instant::now() + freq);
        let sender = Sender {
            host: &self.host,
            version: AGENT_VERSION,
            variant: AGENT_VARIANT,
            session: &self.session,
        };
        let payload = proto::heartbeat(sender, u32::try_from(freq.as_secs()).unwrap_or(u32::MAX));
        match self.exchange(&payload).await {
            Ok(_) | Err(TransportError::Empty) => {}
            Err(e) => debug!(error = %e, "Heartbeat failed"),
        }
    }

    fn next_wake(&self) -> Instant {
        let now = Instant::now();
        let mut wake = self.next_refresh;
        // While uploads are disabled nothing is sent: only the refresh can change that.
        if !self.refresh.upload_disabled {
            if let Some(f) = self.buffer.next_flush(self.ctx.config.buffer_send) {
                wake = wake.min(f);
            }
        }
        if let Some(h) = self.next_heartbeat {
            wake = wake.min(h);
        }
        if !self.command_results.is_empty() && !self.refresh.upload_disabled {
            wake = wake.min(self.results_retry_at);
        }
        let (secs, nanos) = wall_clock();
        if let Some(n) = self.items.values().filter_map(|s| s.next).min() {
            let until = Duration::from_secs(u64::try_from(n - secs).unwrap_or(0))
                .saturating_sub(Duration::from_nanos(u64::from(nanos)));
            wake = wake.min(now + until);
        }
        wake
    }

    /// Runs until `shutdown`; then one last flush, bounded by `deadline`.
    pub async fn run(mut self, shutdown: CancellationToken, deadline: Duration) {
        info!(host = %self.host, server = %self.addr_label(), session = %self.session, "Active checks started");
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            if Instant::now() >= self.next_refresh {
                self.refresh().await;
            }
            if !self.commands.is_empty() {
                self.run_commands().await;
            }
            self.run_due().await;
            if !self.command_results.is_empty() && Instant::now() >= self.results_retry_at {
                // Results go back at once (not only with the next values).
                self.flush().await;
            }
            if self
                .buffer
                .flush_due(Instant::now(), self.ctx.config.buffer_send)
            {
                self.flush().await;
            }
            if self.heartbeat_enabled() && self.next_heartbeat.is_some_and(|h| Instant::now() >= h)
            {
                self.heartbeat().await;
            }
            let wake = self.next_wake();
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep_until(wake.into()) => {}
            }
        }
        if let Some(p) = self.persist.clone() {
            // Whatever is not sent stays in the file for the next start.
            let _ = tokio::time::timeout(deadline, self.flush()).await;
            let _ = tokio::task::spawn_blocking(move || p.sync()).await;
        } else if !self.buffer.is_empty() {
            let n = self.buffer.len();
            if tokio::time::timeout(deadline, self.flush()).await.is_err()
                || !self.buffer.is_empty()
            {
                warn!(host = %self.host, lost = self.buffer.len(), of = n, "Values not sent before shutdown");
            }
        }
        info!(host = %self.host, "Active checks stopped");
    }
}

/// Local time of a unix second (for logs and tests).
pub fn local(secs: i64) -> Option<chrono::DateTime<Local>> {
    Local.timestamp_opt(secs, 0).single()
}
