//! UserParameters: keys defined by `UserParameter=key,command` lines, run through the
//! command runner ([`crate::exec`]), reloadable without a restart.
//!
//! Owns the UserParameter table (with `UnsafeUserParameters` and `UserParameterDir`),
//! `$1`…`$9`/`$0`/`$$` substitution and the unsafe-character check, turning command output
//! into a value, the swap of the UserParameter lines on `userparameter_reload` (SIGUSR1),
//! and the per-agent bundle of rules, aliases and runner that [`AgentCtx`] dispatches
//! through. It must not parse
//! configuration files (that is [`crate::config`]) or spawn processes itself.
//!
//! Semantics are zabbix_agentd 6.0's, checked against the real binary with
//! `zabbix_agentd -c CONF -t KEY`:
//! - only `key[*]` lines substitute: `$1`…`$9` become the parameters (missing ones empty,
//!   `$10` is `$1` then `0`), `$0` the whole unexpanded command, `$$` a `$`; any other `$x`
//!   stays as written; shell quoting is ignored. A line without `[*]` runs its command
//!   verbatim and refuses parameters (`Item does not allow parameters.`);
//! - with `UnsafeUserParameters=0` a parameter that is actually substituted and holds one of
//!   `` \ ' " ` * ? [ ] { } ~ $ ! & ; ( ) < > | # @ `` or a newline refuses the check with
//!   [`UNSAFE_TEXT`];
//! - commands run in `UserParameterDir` when set (`[2] No such file or directory` when it
//!   is missing);
//! - the value is stdout+stderr, cut at a NUL, with trailing spaces, tabs, CRs and LFs
//!   removed (leading ones and other control characters kept).
//!
//! Deliberate difference: zabbix_agentd refuses to start when a UserParameter reuses a
//! built-in key; zagent lets the UserParameter win (the user's explicit configuration) and
//! says so once at start-up ([`log_shadowed_builtins`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use zbx_proto::key::{is_key_char, ItemKey, Param};

use super::access::{AccessError, Aliases, KeyRules};
use super::{reason, AgentCtx, KeyDef, KeyResult, NotSupported, Registry, Value};
use crate::config::{Config, Origin, UserParameter};
use crate::exec::Runner;

/// Characters `UnsafeUserParameters=0` refuses in a substituted parameter.
pub const UNSAFE_CHARS: &[char] = &[
    '\\', '\'', '"', '`', '*', '?', '[', ']', '{', '}', '~', '$', '!', '&', ';', '(', ')', '<',
    '>', '|', '#', '@', '\n',
];

/// The official answer to an unsafe parameter (captured from zabbix_agentd 6.0.14).
pub const UNSAFE_TEXT: &str = "Special characters \"\\, ', \", `, *, ?, [, ], {, }, ~, $, !, &, ;, (, ), <, >, |, #, @, 0x0a\" are not allowed in the parameters.";

/// What zabbix_agentd trims from the end of command output (`ZBX_WHITESPACE`).
pub const TRIMMED: &[char] = &[' ', '\t', '\r', '\n'];

/// One UserParameter as it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserParam {
    /// Key name, without `[*]`.
    pub key: String,
    /// Declared as `key[*]`.
    pub flexible: bool,
    /// The shell command as written.
    pub command: String,
    /// Where it was declared.
    pub origin: Origin,
}

/// A UserParameter set that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserParamError {
    /// Two lines define the same key.
    #[error("cannot load user parameters: key \"{key}\" is defined twice, at {first} and at {second}; remove one of the UserParameter lines")]
    Duplicate {
        /// The key.
        key: String,
        /// The first definition.
        first: Origin,
        /// The second one.
        second: Origin,
    },
    /// The key is not a key name.
    #[error("cannot load user parameters: {origin}: \"{key}\" is not a valid item key (use letters, digits, '.', '_', '-', optionally followed by [*])")]
    BadKey {
        /// The key as given.
        key: String,
        /// Where.
        origin: Origin,
    },
}

/// The UserParameter table with the settings that go with it; swapped as a whole on
/// reload.
#[derive(Debug, Clone, Default)]
pub struct UserParams {
    by_key: HashMap<String, UserParam>,
    /// Keys in configuration order.
    order: Vec<String>,
    /// `UnsafeUserParameters=1`.
    pub unsafe_allowed: bool,
    /// `UserParameterDir`.
    pub dir: Option<PathBuf>,
}

impl UserParams {
    /// The UserParameters of `config`; a key defined twice is an error naming both lines.
    pub fn from_config(config: &Config) -> Result<UserParams, UserParamError> {
        UserParams::new(
            &config.user_parameters,
            config.unsafe_user_parameters,
            config.user_parameter_dir.clone(),
        )
    }

    /// A set from `UserParameter` lines and the two settings that go with them.
    pub fn new(
        lines: &[UserParameter],
        unsafe_allowed: bool,
        dir: Option<PathBuf>,
    ) -> Result<UserParams, UserParamError> {
        let mut out = UserParams {
            unsafe_allowed,
            dir,
            ..UserParams::default()
        };
        for up in lines {
            out.add(up)?;
        }
        Ok(out)
    }

    fn add(&mut self, up: &UserParameter) -> Result<(), UserParamError> {
        if up.key.is_empty() || !up.key.bytes().all(is_key_char) {
            return Err(UserParamError::BadKey {
                key: up.key.clone(),
                origin: up.origin.clone(),
            });
        }
        if let Some(first) = self.by_key.get(&up.key) {
            return Err(UserParamError::Duplicate {
                key: up.key.clone(),
                first: first.origin.clone(),
                second: up.origin.clone(),
            });
        }
        self.order.push(up.key.clone());
        self.by_key.insert(
            up.key.clone(),
            UserParam {
                key: up.key.clone(),
                flexible: up.flexible,
                command: up.command.clone(),
                origin: up.origin.clone(),
            },
        );
        Ok(())
    }

    /// The UserParameter for a key name.
    pub fn get(&self, key: &str) -> Option<&UserParam> {
        self.by_key.get(key)
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// All of them in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &UserParam> {
        self.order.iter().filter_map(|k| self.by_key.get(k))
    }

    /// The UserParameters that hide a built-in key of the same name.
    pub fn shadowed<'a>(&'a self, registry: &Registry) -> Vec<(&'a UserParam, &'static KeyDef)> {
        self.iter()
            .filter_map(|up| registry.get(&up.key).map(|def| (up, def)))
            .collect()
    }
}

/// Expands a `key[*]` command with the request's parameters. Parameters that are
/// substituted are checked for unsafe characters unless `unsafe_allowed`.
pub fn substitute(
    command: &str,
    params: &[Param],
    unsafe_allowed: bool,
) -> Result<String, NotSupported> {
    let mut out = String::with_capacity(command.len());
    let mut rest = command;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let Some(c) = after.chars().next() else {
            out.push('$'); // a trailing `$` stays
            rest = after;
            break;
        };
        match c {
            '0' => out.push_str(command),
            '1'..='9' => {
                let n = c as usize - '0' as usize;
                if let Some(p) = params.get(n - 1) {
                    if !unsafe_allowed && p.value.contains(UNSAFE_CHARS) {
                        return Err(NotSupported::new(UNSAFE_TEXT));
                    }
                    out.push_str(&p.value);
                }
            }
            '$' => out.push('$'),
            other => {
                out.push('$');
                out.push(other);
            }
        }
        rest = &after[c.len_utf8()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Command output as the value zabbix_agentd returns: up to the first NUL, invalid UTF-8
/// as `?`, trailing [`TRIMMED`] characters removed.
pub fn output_value(bytes: &[u8]) -> String {
    let text = crate::exec::c_string(bytes);
    text.trim_end_matches(TRIMMED).to_string()
}

/// Why the UserParameters, rules or aliases of a configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// Bad UserParameters.
    #[error(transparent)]
    UserParams(#[from] UserParamError),
    /// Bad AllowKey/DenyKey rules or aliases.
    #[error(transparent)]
    Access(#[from] AccessError),
}

/// Everything between a requested key and its handler that comes from the configuration:
/// aliases, access rules, the (reloadable) UserParameters, and the command runner.
#[derive(Debug)]
pub struct UserKeys {
    params: RwLock<Arc<UserParams>>,
    /// `AllowKey`/`DenyKey`.
    pub rules: KeyRules,
    /// `Alias`.
    pub aliases: Aliases,
    /// Runs UserParameter and `system.run` commands.
    pub runner: Runner,
}

impl UserKeys {
    /// Compiles the configuration's UserParameters, rules and aliases.
    pub fn from_config(config: &Config) -> Result<UserKeys, SetupError> {
        Ok(UserKeys {
            params: RwLock::new(Arc::new(UserParams::from_config(config)?)),
            rules: KeyRules::compile(&config.key_rules)?,
            aliases: Aliases::compile(&config.aliases)?,
            runner: Runner::default(),
        })
    }

    /// What a context built from a configuration that failed validation runs with:
    /// no UserParameters, no aliases, and every key denied. `AgentCtx::try_new` is the
    /// way to refuse such a configuration at start-up.
    pub fn deny_all() -> UserKeys {
        UserKeys {
            params: RwLock::new(Arc::new(UserParams::default())),
            rules: KeyRules::deny_all(),
            aliases: Aliases::default(),
            runner: Runner::default(),
        }
    }

    /// The current UserParameters (a snapshot: a reload does not change it).
    pub fn params(&self) -> Arc<UserParams> {
        match self.params.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The current set if it defines `key` (no reference is taken otherwise: this is on
    /// every check's path).
    pub fn defining(&self, key: &str) -> Option<Arc<UserParams>> {
        let guard = match self.params.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        guard.get(key).is_some().then(|| Arc::clone(&guard))
    }

    /// Puts a new set in place; checks already running keep the old one.
    pub fn replace(&self, new: UserParams) -> Arc<UserParams> {
        let new = Arc::new(new);
        let mut guard = match self.params.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        std::mem::replace(&mut *guard, new)
    }
}

/// Runs the UserParameter named by `key.name` from `params` for the parsed request.
/// The parsed `key` is dropped once the command is built: a check waiting for a command
/// slot holds the command, not the key's parameters.
pub async fn execute(
    ctx: &AgentCtx,
    params: &UserParams,
    key: ItemKey,
    timeout: Duration,
) -> KeyResult {
    let Some(up) = params.get(&key.name) else {
        return Err(NotSupported::new(reason::UNSUPPORTED_KEY));
    };
    if !up.flexible && key.has_params() {
        return Err(NotSupported::new(reason::NO_PARAMS));
    }
    let command = if up.flexible {
        substitute(&up.command, &key.params, params.unsafe_allowed)?
    } else {
        up.command.clone()
    };
    drop(key);
    run_command(ctx, &command, params.dir.as_deref(), timeout).await
}

/// Runs a shell command and turns its output into a text value (shared with
/// `system.run[…,wait]`). Failures are logged as zabbix_agentd logs them.
pub async fn run_command(
    ctx: &AgentCtx,
    command: &str,
    dir: Option<&Path>,
    timeout: Duration,
) -> KeyResult {
    let verdict = match ctx.user.runner.run(command, dir, timeout).await {
        Ok(out) => out.verdict(),
        Err(e) => Err(e.to_string()),
    };
    match verdict {
        Ok(bytes) => Ok(Value::Text(output_value(&bytes))),
        Err(reason) => {
            tracing::warn!(command, reason = %reason, "Failed to execute command");
            Err(NotSupported::new(reason))
        }
    }
}

/// Logs, once per key, each UserParameter that hides a built-in key, and how to get the
/// built-in back. Call at start-up (reloads call it for the new set). Returns how many.
pub fn log_shadowed_builtins(ctx: &AgentCtx) -> usize {
    let params = ctx.user.params();
    let shadowed = params.shadowed(&ctx.registry);
    for (up, def) in &shadowed {
        tracing::info!(
            key = %up.key,
            origin = %up.origin,
            builtin = def.description,
            "UserParameter {} at {} overrides zagent's built-in key; remove the line to switch to the built-in {} implementation",
            up.key,
            up.origin,
            implementation(def)
        );
    }
    shadowed.len()
}

/// How a built-in key gets its value, for the override notice.
fn implementation(def: &KeyDef) -> &'static str {
    const NETLINK: &[&str] = &["tcp.", "net.tcp.socket.", "net.udp.socket."];
    if NETLINK.iter().any(|p| def.name.starts_with(p)) {
        "netlink (sock_diag)"
    } else {
        "native"
    }
}

/// Why a reload kept the old UserParameters.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The agent was started without a configuration file.
    #[error("the agent runs without a configuration file; there is nothing to reload from (start it with -c FILE)")]
    NoConfigFile,
    /// The configuration file (or an Include) cannot be read or has errors.
    #[error("cannot read {path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// Every error the reader found.
        reason: String,
    },
    /// The new UserParameters are not usable.
    #[error(transparent)]
    UserParams(#[from] UserParamError),
}

/// Re-reads the `UserParameter` lines from the agent's configuration file (and what it
/// includes) and swaps them in atomically; on any error the old set stays. Returns the
/// number of UserParameters now in force.
///
/// As `zabbix_agentd -R userparameter_reload` (verified with 6.0.14), only the
/// UserParameter lines are replaced: a changed `UnsafeUserParameters` or
/// `UserParameterDir` takes effect at the next start, and a warning says so.
pub async fn reload_user_parameters(ctx: &AgentCtx) -> Result<usize, ReloadError> {
    let Some(path) = ctx.config.source.clone() else {
        return Err(ReloadError::NoConfigFile);
    };
    let read_path = path.clone();
    let loaded = tokio::task::spawn_blocking(move || load_config(&read_path))
        .await
        .map_err(|e| ReloadError::Config {
            path: path.clone(),
            reason: format!("reader task failed: {e}"),
        })?;
    let (lines, dir, unsafe_allowed) = loaded.map_err(|reason| ReloadError::Config {
        path: path.clone(),
        reason,
    })?;
    let running = ctx.user.params();
    if unsafe_allowed != running.unsafe_allowed {
        tracing::warn!(
            file = %path.display(),
            "UnsafeUserParameters changed in the configuration; it takes effect at restart (as in zabbix_agentd)"
        );
    }
    if dir != running.dir {
        tracing::warn!(
            file = %path.display(),
            "UserParameterDir changed in the configuration; it takes effect at restart (as in zabbix_agentd)"
        );
    }
    let params = UserParams::new(&lines, running.unsafe_allowed, running.dir.clone())?;
    let count = params.len();
    ctx.user.replace(params);
    tracing::info!(count, file = %path.display(), "User parameters reloaded");
    log_shadowed_builtins(ctx);
    Ok(count)
}

/// What a reload reads: the UserParameter lines, `UserParameterDir`, `UnsafeUserParameters`.
type Reread = (Vec<UserParameter>, Option<PathBuf>, bool);

/// Re-reads the file tree as zabbix_agentd does for a reload (broken lines, Includes and
/// UserParameters are errors; other directives are not checked again).
fn load_config(path: &Path) -> Result<Reread, String> {
    crate::config::read_user_parameters(path).map_err(|e| e.to_string())
}

/// The signal `zagent runtime userparameter_reload` sends.
pub const RELOAD_SIGNAL: libc::c_int = libc::SIGUSR1;

/// Reloads UserParameters on every SIGUSR1 until `shutdown` is cancelled. Spawn it from
/// `zagent run` once the context exists.
pub async fn reload_on_signal(ctx: Arc<AgentCtx>, shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut signals = match signal(SignalKind::from_raw(RELOAD_SIGNAL)) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "Cannot listen for SIGUSR1; userparameter_reload will not work");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            got = signals.recv() => {
                if got.is_none() {
                    return;
                }
                // `systemctl reload` waits for READY=1 after RELOADING=1 (Type=notify).
                crate::sys::notify::notify_or_log(&crate::sys::notify::reloading_message());
                match reload_user_parameters(&ctx).await {
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "Cannot reload user parameters; the old ones stay in force"),
                }
                crate::sys::notify::notify_or_log("READY=1");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn params(values: &[&str]) -> Vec<Param> {
        values.iter().map(|v| Param::unquoted(*v)).collect()
    }

    /// Each row was checked with zabbix_agentd 6.0.14 -t.
    #[test]
    fn substitution_like_zabbix_agentd() {
        let p = params(&["A", "B"]);
        let cmd = "echo \"[$$1][$$][$$$1][$1$2][$a][$10][$9]\"";
        assert_eq!(
            substitute(cmd, &p, false).unwrap(),
            "echo \"[$1][$][$A][AB][$a][A0][]\""
        );
        assert_eq!(
            substitute(cmd, &[], false).unwrap(),
            "echo \"[$1][$][$][][$a][0][]\""
        );
        assert_eq!(
            substitute("echo \"[$0]\"", &p, false).unwrap(),
            "echo \"[echo \"[$0]\"]\""
        );
        assert_eq!(substitute("echo $", &p, false).unwrap(), "echo $");
        assert_eq!(substitute("echo ž$1ž", &p, false).unwrap(), "echo žAž");
    }

    #[test]
    fn unsafe_only_when_substituted() {
        let p = params(&["a;b", "c"]);
        assert_eq!(substitute("echo $2", &p, false).unwrap(), "echo c");
        assert_eq!(
            substitute("echo $1", &p, false).unwrap_err(),
            NotSupported::new(UNSAFE_TEXT)
        );
        assert_eq!(substitute("echo $1", &p, true).unwrap(), "echo a;b");
        for c in UNSAFE_CHARS {
            let p = params(&[&format!("x{c}y")]);
            assert!(substitute("$1", &p, false).is_err(), "{c:?}");
        }
        let p = params(&["x y.z-_/:=%+,^"]);
        assert!(substitute("$1", &p, false).is_ok());
    }

    #[test]
    fn unsafe_text_is_the_captured_one() {
        let hex = include_str!(
            "../../crates/zbx-proto/tests/vectors/passive/agentd/userparam-unsafe-chars.response.hex"
        );
        let bytes: Vec<u8> = (0..hex.trim().len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&hex.trim()[i..i + 2], 16).ok())
            .collect();
        // ZBXD, flags, 4-byte length, 4 reserved, then ZBX_NOTSUPPORTED\0reason.
        let payload = &bytes[13..];
        let reason = payload
            .strip_prefix(b"ZBX_NOTSUPPORTED\0")
            .unwrap_or_default();
        assert_eq!(std::str::from_utf8(reason).unwrap(), UNSAFE_TEXT);
    }

    #[test]
    fn output_trimmed_like_zabbix_agentd() {
        assert_eq!(output_value(b"a b \n\n \r\n\t \n"), "a b");
        assert_eq!(output_value(b"  \n lead\n"), "  \n lead");
        assert_eq!(output_value(b"a\x0b\x0c"), "a\x0b\x0c");
        assert_eq!(output_value(b"a\nb\n"), "a\nb");
        assert_eq!(output_value(b"a\0b"), "a");
        assert_eq!(output_value(b"a\xffb\xc0"), "a?b?");
        assert_eq!(output_value(b""), "");
    }

    fn up(key: &str, line: usize) -> UserParameter {
        UserParameter {
            key: key.into(),
            flexible: false,
            command: "true".into(),
            origin: Origin {
                file: "a.conf".into(),
                line,
            },
        }
    }

    #[test]
    fn duplicates_name_both_lines() {
        let config = Config {
            user_parameters: vec![up("x", 3), up("y", 4), up("x", 9)],
            ..Config::default()
        };
        let err = UserParams::from_config(&config).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot load user parameters: key \"x\" is defined twice, at a.conf:3 and at a.conf:9; remove one of the UserParameter lines"
        );
        let config = Config {
            user_parameters: vec![up("bad key", 1)],
            ..Config::default()
        };
        assert!(matches!(
            UserParams::from_config(&config),
            Err(UserParamError::BadKey { .. })
        ));
    }
}
