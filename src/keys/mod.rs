//! The key registry: every built-in item key declared in one place, with its parameters
//! as data, checked before the handler runs.
//!
//! Owns key lookup, parameter validation and dispatch (inline, blocking pool, or async).
//! It must not know about sockets or the wire format: passive checks, active checks and
//! `zagent test` all come through [`AgentCtx::execute`].
//!
//! Adding a key touches its family's file and one line of [`FAMILIES`].

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use zbx_proto::key::ItemKey;

use crate::config::Config;

pub mod access;
pub mod agent;
pub mod kernel;
pub mod log;
pub mod modbus;
pub mod net_dns;
pub mod net_health;
pub mod net_if;
pub mod net_service;
pub mod net_tcp;
pub mod num;
pub mod proc;
pub mod system;
pub mod system_run;
pub mod user;
pub mod vfs;
pub mod vfs_dev;
pub mod vfs_dir;
pub mod web;
pub mod zabbix_stats;

/// Every built-in key family, in the order `zagent keys` prints them.
pub const FAMILIES: &[&[KeyDef]] = &[
    agent::KEYS,
    kernel::KEYS,
    net_if::KEYS,
    net_tcp::KEYS,
    net_health::KEYS,
    net_service::KEYS,
    net_dns::KEYS,
    web::KEYS,
    zabbix_stats::KEYS,
    modbus::KEYS,
    proc::KEYS,
    system::KEYS,
    system_run::KEYS,
    vfs::KEYS,
    vfs_dev::KEYS,
    vfs_dir::KEYS,
    log::KEYS,
];

/// A collected value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Unsigned integer (`u` in `zagent test`).
    Uint(u64),
    /// Floating point (`d`); sent with 6 decimals.
    Float(f64),
    /// Short string (`s`).
    Str(String),
    /// Text (`t`).
    Text(String),
}

impl Value {
    /// The type letter `zabbix_agentd -t` prints.
    pub fn type_letter(&self) -> char {
        match self {
            Value::Uint(_) => 'u',
            Value::Float(_) => 'd',
            Value::Str(_) => 's',
            Value::Text(_) => 't',
        }
    }

    /// The value as zabbix_agentd converts a result to a string (`GET_STR_RESULT`): as
    /// sent for numbers and strings, a text up to its first line end. What it takes from
    /// `HostnameItem`, `HostMetadataItem` and `HostInterfaceItem`.
    pub fn str_result(&self) -> String {
        match self {
            Value::Text(t) => t.split(['\r', '\n']).next().unwrap_or("").to_string(),
            other => other.to_wire(),
        }
    }

    /// The value as sent on the wire: integers in decimal, floats with 6 decimals,
    /// strings raw.
    pub fn to_wire(&self) -> String {
        match self {
            Value::Uint(v) => v.to_string(),
            Value::Float(v) => format!("{v:.6}"),
            Value::Str(s) | Value::Text(s) => s.clone(),
        }
    }

    /// [`Value::to_wire`], taking the value: a text is not copied.
    pub fn into_wire(self) -> String {
        match self {
            Value::Str(s) | Value::Text(s) => s,
            v => v.to_wire(),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_wire())
    }
}

/// Why a key produced no value: answered as `ZBX_NOTSUPPORTED\0<reason>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotSupported(pub String);

impl NotSupported {
    /// A reason text.
    pub fn new(reason: impl Into<String>) -> Self {
        NotSupported(reason.into())
    }

    /// `Invalid first parameter.` and friends, with the official ordinal words.
    pub fn invalid_param(index: usize) -> Self {
        NotSupported(format!("Invalid {} parameter.", ordinal(index)))
    }
}

/// The result of one check.
pub type KeyResult = Result<Value, NotSupported>;

/// Official reason texts.
pub mod reason {
    /// Unknown key, or a key denied by a rule (no hint that a rule matched).
    pub const UNSUPPORTED_KEY: &str = "Unsupported item key.";
    /// Brackets on a key that takes no parameters.
    pub const NO_PARAMS: &str = "Item does not allow parameters.";
    /// More parameters than the key declares.
    pub const TOO_MANY: &str = "Too many parameters.";
    /// Broken key syntax.
    pub const INVALID_FORMAT: &str = "Invalid item key format.";
    /// A check (other than a command) that ran past its timeout.
    pub const TIMEOUT: &str = "Timeout while processing item.";
    /// A [`super::Handler::Threaded`] check that ran past its timeout (zabbix_agentd's
    /// words when the child process running it does not answer in time).
    pub const TIMEOUT_THREADED: &str = "Timeout while waiting for data.";
}

/// "first", "second", … as zabbix_agentd words its parameter errors (0-based index).
pub fn ordinal(index: usize) -> &'static str {
    const WORDS: [&str; 10] = [
        "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
        "tenth",
    ];
    WORDS.get(index).copied().unwrap_or("")
}

/// One check to run: the parsed key and the time it may take.
#[derive(Debug, Clone)]
pub struct Request {
    /// The parsed key.
    pub key: ItemKey,
    /// Timeout for this check (global `Timeout`, or the 7.0 per-item timeout).
    pub timeout: Duration,
    /// When the check must have answered: its start plus `timeout`. Work on the blocking
    /// pool stops here by itself (reads check it), so a check that timed out does not
    /// go on holding a thread or a file.
    pub deadline: Instant,
}

impl Request {
    /// Parameter `i` (0-based); empty string when absent, as Zabbix handlers see it.
    pub fn param(&self, i: usize) -> &str {
        self.key.param(i).unwrap_or("")
    }

    /// Parameter `i`, or `None` when absent or empty.
    pub fn opt(&self, i: usize) -> Option<&str> {
        self.key.param(i).filter(|s| !s.is_empty())
    }

    /// Number of parameters.
    pub fn nparams(&self) -> usize {
        self.key.params.len()
    }
}

/// Most parameters a key may have (counted as its commas + 1, an upper bound), so that a
/// parsed key costs at most ~1 MiB. zabbix_agentd has no such limit, but its parsing is
/// quadratic: past ~50,000 parameters it cannot answer within the default Timeout.
pub const MAX_KEY_PARAMS: usize = 32 * 1024;

/// Most [`Handler::BlockingFile`] checks running at once (of tokio's 512 blocking
/// threads); more wait for a slot until their deadline.
pub const FILE_CHECKS: usize = 128;

static FILE_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(FILE_CHECKS);

/// A future returned by an async handler.
pub type BoxFuture = Pin<Box<dyn Future<Output = KeyResult> + Send + 'static>>;

/// A synchronous handler.
pub type SyncFn = fn(&AgentCtx, &Request) -> KeyResult;
/// An asynchronous handler (commands, connects: anything that waits).
pub type AsyncFn = fn(Arc<AgentCtx>, Request) -> BoxFuture;

/// How a key's handler runs.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Cheap and non-blocking (no I/O beyond a small /proc read): run on the caller's task.
    Inline(SyncFn),
    /// May block (file reads, big netlink dumps): run on tokio's blocking pool.
    Blocking(SyncFn),
    /// May wait on a file system object the peer names (a FIFO, a device, a dead NFS
    /// mount): run on the blocking pool, at most [`FILE_CHECKS`] at once, so that the
    /// other blocking keys always keep a reserve of threads.
    BlockingFile(SyncFn),
    /// A [`Handler::BlockingFile`] check that zabbix_agentd runs as a "threaded metric" in
    /// a child process (vfs.dir.*, vfs.fs.size, vfs.fs.inode): the same here, but its timeout is worded
    /// [`reason::TIMEOUT_THREADED`], as there.
    Threaded(SyncFn),
    /// Waits on something (a child process, a connect): awaited, bounded by the timeout.
    Async(AsyncFn),
}

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Handler::Inline(_) => "Inline",
            Handler::Blocking(_) => "Blocking",
            Handler::BlockingFile(_) => "BlockingFile",
            Handler::Threaded(_) => "Threaded",
            Handler::Async(_) => "Async",
        })
    }
}

/// A check of one parameter value; its error is the answer.
pub type ParamCheck = fn(&str) -> Result<(), NotSupported>;

/// A declared parameter.
#[derive(Debug, Clone, Copy)]
pub struct ParamDef {
    /// Its name as documented (`<mode>`, `port`).
    pub name: &'static str,
    /// Whether an empty or missing value is an error (`Invalid Nth parameter.`).
    pub required: bool,
    /// Accepted values; empty = any. An empty value is allowed when not required
    /// (it selects the default).
    pub choices: &'static [&'static str],
    /// A check of a non-empty value beyond `choices` (its error text is the answer).
    pub check: Option<ParamCheck>,
    /// Checked before the parameter count, as zabbix_agentd does for some keys
    /// (vfs.dir.*: `vfs.dir.size[/d,,,bad,,,]` is `Invalid fourth parameter.`, not
    /// `Too many parameters.`).
    pub before_count: bool,
}

impl ParamDef {
    /// An optional parameter taking any value.
    pub const fn opt(name: &'static str) -> ParamDef {
        ParamDef {
            name,
            required: false,
            choices: &[],
            check: None,
            before_count: false,
        }
    }

    /// A required parameter taking any non-empty value.
    pub const fn req(name: &'static str) -> ParamDef {
        ParamDef {
            name,
            required: true,
            choices: &[],
            check: None,
            before_count: false,
        }
    }

    /// An optional parameter restricted to `choices`.
    pub const fn one_of(name: &'static str, choices: &'static [&'static str]) -> ParamDef {
        ParamDef {
            name,
            required: false,
            choices,
            check: None,
            before_count: false,
        }
    }

    /// An optional parameter whose non-empty value must pass `check`.
    pub const fn checked(
        name: &'static str,
        check: fn(&str) -> Result<(), NotSupported>,
    ) -> ParamDef {
        ParamDef {
            name,
            required: false,
            choices: &[],
            check: Some(check),
            before_count: false,
        }
    }

    /// The same parameter, checked before the parameter count.
    pub const fn before_count(self) -> ParamDef {
        ParamDef {
            before_count: true,
            ..self
        }
    }

    /// Checks one value (`index` 0-based) against this declaration.
    fn validate(&self, index: usize, v: &str) -> Result<(), NotSupported> {
        if v.is_empty() {
            return if self.required {
                Err(NotSupported::invalid_param(index))
            } else {
                Ok(())
            };
        }
        if !self.choices.is_empty() && !self.choices.contains(&v) {
            return Err(NotSupported::invalid_param(index));
        }
        self.check.map_or(Ok(()), |check| check(v))
    }
}

/// What parameters a key takes.
#[derive(Debug, Clone, Copy)]
pub enum Params {
    /// None: brackets are an error (`Item does not allow parameters.`).
    None,
    /// Up to these, in order; more is `Too many parameters.`
    List(&'static [ParamDef]),
    /// An active-only key (log[], logrt[], …): a passive or local check answers
    /// `Accessible only as active check.` before anything else, its parameter count
    /// included, as zabbix_agentd does; the active worker checks these as a `List`.
    ActiveOnly(&'static [ParamDef]),
}

/// A built-in key.
#[derive(Debug, Clone, Copy)]
pub struct KeyDef {
    /// The key name (`agent.ping`).
    pub name: &'static str,
    /// One line for `zagent keys --describe` and the docs.
    pub description: &'static str,
    /// Declared parameters, validated before the handler runs.
    pub params: Params,
    /// The key as `zagent keys` tests it (like `zabbix_agentd -p`), e.g.
    /// `system.cpu.load[all,avg1]`.
    pub test_key: &'static str,
    /// The handler.
    pub handler: Handler,
}

impl KeyDef {
    /// Checks the request's parameters against the declaration.
    pub fn validate(&self, req: &Request) -> Result<(), NotSupported> {
        match self.params {
            Params::None => {
                if req.key.has_params() {
                    return Err(NotSupported::new(reason::NO_PARAMS));
                }
            }
            Params::List(defs) | Params::ActiveOnly(defs) => {
                let checked = |first: bool| {
                    defs.iter()
                        .enumerate()
                        .filter(|(_, d)| d.before_count == first)
                        .try_for_each(|(i, d)| d.validate(i, req.param(i)))
                };
                checked(true)?;
                if req.nparams() > defs.len() {
                    return Err(NotSupported::new(reason::TOO_MANY));
                }
                checked(false)?;
            }
        }
        Ok(())
    }
}

/// All built-in keys by name.
#[derive(Debug)]
pub struct Registry {
    builtins: HashMap<&'static str, &'static KeyDef>,
}

impl Registry {
    /// The registry of every family in [`FAMILIES`].
    pub fn builtin() -> Registry {
        let mut builtins = HashMap::new();
        for family in FAMILIES {
            for def in family.iter() {
                builtins.insert(def.name, def);
            }
        }
        Registry { builtins }
    }

    /// Looks a built-in key up by name.
    pub fn get(&self, name: &str) -> Option<&'static KeyDef> {
        self.builtins.get(name).copied()
    }

    /// Every built-in key in family order.
    pub fn all() -> impl Iterator<Item = &'static KeyDef> {
        FAMILIES.iter().flat_map(|f| f.iter())
    }
}

/// Who asks for a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A passive check or `zagent test`: access rules apply, active-only keys refuse.
    Checked,
    /// The agent's own item (`HostnameItem`…): no access rules.
    Local,
    /// The active worker resolving a log item: access rules apply.
    Active,
}

/// What a requested key resolved to (after aliases and access rules).
#[derive(Debug)]
pub enum Prepared {
    /// A built-in key, its parameters validated.
    Builtin(Handler, Request),
    /// A UserParameter: the set it was found in (a snapshot, unaffected by a reload) and
    /// the parsed key.
    User(Arc<user::UserParams>, ItemKey),
}

/// Everything a handler may need: configuration, start time, shared collectors.
/// One per agent, behind an `Arc`.
#[derive(Debug)]
pub struct AgentCtx {
    /// The configuration the agent runs with.
    pub config: Arc<Config>,
    /// The key registry.
    pub registry: Registry,
    /// When the agent started.
    pub started: Instant,
    /// The connection-state engine (netlink dumps, single-flight counts).
    pub net: crate::sys::sockets::Engine,
    /// Aliases, AllowKey/DenyKey rules, UserParameters and the command runner.
    pub user: user::UserKeys,
}

impl AgentCtx {
    /// A context for `config`. A configuration whose UserParameters, AllowKey/DenyKey
    /// rules or aliases are unusable is logged and runs with every key denied; use
    /// [`AgentCtx::try_new`] to refuse it instead (as `zagent run` must).
    pub fn new(config: Arc<Config>) -> Arc<AgentCtx> {
        let user = user::UserKeys::from_config(&config).unwrap_or_else(|e| {
            tracing::error!(error = %e, "Unusable configuration: every key is denied");
            user::UserKeys::deny_all()
        });
        Self::with_user(config, user)
    }

    fn with_user(config: Arc<Config>, user: user::UserKeys) -> Arc<AgentCtx> {
        Arc::new(AgentCtx {
            config,
            registry: Registry::builtin(),
            started: Instant::now(),
            net: crate::sys::sockets::Engine::default(),
            user,
        })
    }

    /// A context for `config`, or why its UserParameters (a key defined twice names both
    /// lines), AllowKey/DenyKey rules or aliases cannot be used.
    pub fn try_new(config: Arc<Config>) -> Result<Arc<AgentCtx>, user::SetupError> {
        let user = user::UserKeys::from_config(&config)?;
        Ok(Self::with_user(config, user))
    }

    /// Runs one check given as key text, with the global timeout.
    pub async fn execute(self: &Arc<Self>, key: &str) -> KeyResult {
        let timeout = self.config.timeout;
        self.execute_with_timeout(key, timeout).await
    }

    /// Runs one check given as key text (passive and active checks, `zagent test`).
    /// Syntax, lookup and parameter errors come back as `NotSupported` with the official
    /// reason texts.
    ///
    /// Order: `Alias` → `AllowKey`/`DenyKey` (a denied key answers exactly like an unknown
    /// one) → UserParameters (a UserParameter wins over a built-in of the same name) →
    /// built-in keys.
    pub async fn execute_with_timeout(self: &Arc<Self>, key: &str, timeout: Duration) -> KeyResult {
        match self.prepare_with(key, timeout, Mode::Checked)? {
            Prepared::Builtin(handler, req) => self.run(handler, req).await,
            Prepared::User(params, parsed) => user::execute(self, &params, parsed, timeout).await,
        }
    }

    /// Runs a key for the agent itself — `HostnameItem`, `HostMetadataItem`,
    /// `HostInterfaceItem` — which AllowKey/DenyKey do not restrict (aliases and
    /// UserParameters still apply).
    pub async fn execute_local(self: &Arc<Self>, key: &str, timeout: Duration) -> KeyResult {
        match self.prepare_with(key, timeout, Mode::Local)? {
            Prepared::Builtin(handler, req) => self.run(handler, req).await,
            Prepared::User(params, parsed) => user::execute(self, &params, parsed, timeout).await,
        }
    }

    /// `HostnameItem` evaluated as zabbix_agentd evaluates it while reading its
    /// configuration: built-in keys only (no Alias, no UserParameter is loaded yet there)
    /// and no AllowKey/DenyKey (a local command: `HostnameItem=system.run[...]` works
    /// without `AllowKey`). `zagent run` uses it once at start, `test`/`keys` too (as
    /// `zabbix_agentd -t`/`-p`), and the active checks when no host name was set.
    pub async fn hostname_item(config: &Config) -> KeyResult {
        let mut builtins_only = config.clone();
        builtins_only.aliases.clear();
        builtins_only.user_parameters.clear();
        let ctx = AgentCtx::new(Arc::new(builtins_only));
        ctx.execute_local(&config.hostname_item, config.timeout)
            .await
    }

    /// Runs the check right here if its handler is [`Handler::Inline`] (or it fails before
    /// any handler runs); `None` when it must go through [`Self::execute_with_timeout`].
    /// The passive fast path uses it; dispatch decisions are the same as `execute`'s.
    pub fn execute_inline(&self, key: &str) -> Option<KeyResult> {
        self.execute_inline_with_timeout(key, self.config.timeout)
    }

    /// [`Self::execute_inline`] with the request's own timeout (7.0 JSON requests).
    pub fn execute_inline_with_timeout(&self, key: &str, timeout: Duration) -> Option<KeyResult> {
        match self.prepare(key, timeout) {
            Err(e) => Some(Err(e)),
            Ok(Prepared::Builtin(Handler::Inline(f), req)) => Some(f(self, &req)),
            Ok(_) => None,
        }
    }

    /// Resolves a key: alias, access rules, UserParameter or built-in (parsed, looked up
    /// and validated) — the one dispatch decision shared by every way of running a check.
    pub fn prepare(&self, key: &str, timeout: Duration) -> Result<Prepared, NotSupported> {
        self.prepare_with(key, timeout, Mode::Checked)
    }

    /// Resolves an active-only key that the active worker runs itself (the log keys):
    /// `Alias`, the parameter bound, parsing, `AllowKey`/`DenyKey` and the declared
    /// parameters, exactly as [`prepare`](Self::prepare) does for every key. Returns the
    /// parsed key; a UserParameter of that name is not a log item ("Unsupported item key.").
    pub fn prepare_active(&self, key: &str) -> Result<ItemKey, NotSupported> {
        match self.prepare_with(key, self.config.timeout, Mode::Active)? {
            Prepared::Builtin(_, req) => Ok(req.key),
            Prepared::User(..) => Err(NotSupported::new(reason::UNSUPPORTED_KEY)),
        }
    }

    fn prepare_with(
        &self,
        key: &str,
        timeout: Duration,
        mode: Mode,
    ) -> Result<Prepared, NotSupported> {
        let resolved = self.user.aliases.resolve(key);
        // Bounded before anything is materialised: a parameter costs ~32 bytes parsed, so
        // a 1 MiB key of commas would cost 32 MiB. Commas are an upper bound of the count.
        if resolved.bytes().filter(|b| *b == b',').count() >= MAX_KEY_PARAMS {
            return Err(NotSupported::new(reason::TOO_MANY));
        }
        let parsed =
            ItemKey::parse(&resolved).map_err(|_| NotSupported::new(reason::INVALID_FORMAT))?;
        if mode != Mode::Local && !self.user.rules.allows(&parsed) {
            tracing::debug!(key, "Key access denied");
            return Err(NotSupported::new(reason::UNSUPPORTED_KEY));
        }
        if let Some(params) = self.user.defining(&parsed.name) {
            return Ok(Prepared::User(params, parsed));
        }
        let Some(def) = self.registry.get(&parsed.name) else {
            return Err(NotSupported::new(reason::UNSUPPORTED_KEY));
        };
        if matches!(def.params, Params::ActiveOnly(_)) && mode != Mode::Active {
            return Err(NotSupported::new(log::ACTIVE_ONLY));
        }
        let req = Request {
            key: parsed,
            timeout,
            deadline: Instant::now() + timeout,
        };
        def.validate(&req)?;
        Ok(Prepared::Builtin(def.handler, req))
    }

    async fn run(self: &Arc<Self>, handler: Handler, req: Request) -> KeyResult {
        let timeout = req.timeout;
        // A command (system.run) words its timeout as zabbix_agentd does for scripts;
        // everything else as zabbix_agentd words a check that ran out of time.
        let text = if req.key.name == "system.run" {
            crate::exec::TIMEOUT_TEXT
        } else if matches!(handler, Handler::Threaded(_)) {
            reason::TIMEOUT_THREADED
        } else {
            reason::TIMEOUT
        };
        let timed_out = || NotSupported::new(text);
        match handler {
            Handler::Inline(f) => f(self, &req),
            Handler::Blocking(f) => {
                let ctx = Arc::clone(self);
                let task = tokio::task::spawn_blocking(move || f(&ctx, &req));
                match tokio::time::timeout(timeout, task).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => Err(NotSupported::new(format!("Check failed: {e}"))),
                    Err(_) => Err(timed_out()),
                }
            }
            Handler::BlockingFile(f) | Handler::Threaded(f) => {
                let deadline = tokio::time::Instant::from_std(req.deadline);
                let Ok(Ok(slot)) = tokio::time::timeout_at(deadline, FILE_SLOTS.acquire()).await
                else {
                    return Err(timed_out());
                };
                let ctx = Arc::clone(self);
                let task = tokio::task::spawn_blocking(move || {
                    let _slot = slot;
                    f(&ctx, &req)
                });
                match tokio::time::timeout_at(deadline, task).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => Err(NotSupported::new(format!("Check failed: {e}"))),
                    Err(_) => Err(timed_out()),
                }
            }
            Handler::Async(f) => {
                match tokio::time::timeout(timeout, f(Arc::clone(self), req)).await {
                    Ok(r) => r,
                    Err(_) => Err(timed_out()),
                }
            }
        }
    }
}
