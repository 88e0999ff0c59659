//! zabbix_agentd.conf: the typed configuration every other module reads.
//!
//! Owns the [`Config`] struct and its defaults: `Config::default()` is the one table of
//! them (`build` falls back on it for an absent directive; `doc`'s test checks every
//! documented default against it). The defaults must work with no file at all: passive on
//! 127.0.0.1:10050, `Server=127.0.0.1,::1`, Hostname from the system. Also owns
//! reading a file exactly as zabbix_agentd 6.0 does: [`load`], [`parse_str`], [`defaults`],
//! [`read_user_parameters`]. Nothing here opens sockets or starts tasks.
//!
//! The pipeline: [`reader`] (lines → `Key=Value` entries with file:line, Include) →
//! [`directives`] (each line's value on its own: unknown names, ranges) → [`build`]
//! (defaults and the cross-directive checks of zabbix_agentd's start-up) → [`Config`].
//! Every error of every stage is collected; zabbix_agentd stops at the first one, zagent
//! reports them all, each as `file:line: message` with zabbix_agentd's wording where it
//! has one (plus what to do).
//!
//! Decisions that differ from, or go beyond, zabbix_agentd 6.0 (all deliberate):
//! - `HeartbeatFrequency` (a 7.0 directive, 0–3600, default 60) is accepted; 6.0 calls it
//!   unknown.
//! - `RefreshActiveChecks` keeps 6.0's 60–3600: a file zagent accepts must still start the
//!   official 6.0 agent (7.0's 1–86400 is not taken).
//! - `TLSCipher*13` are accepted (zagent uses OpenSSL; Debian's GnuTLS build refuses them).
//! - `LoadModule`/`LoadModulePath` are accepted and reported in [`Config::unsupported`]
//!   (zagent cannot load C modules); zabbix fails at start-up when a module is missing.
//! - zabbix_agent2 options with no meaning for zagent (`ControlSocket`, `Plugins.*`, …)
//!   are accepted and reported in [`Config::unsupported`]; [`compat`] lists them and the
//!   differences above, and `zagent check-config` prints them for a file being migrated.
//! - An `Include` cycle is reported as such at once (zabbix only notices the depth limit);
//!   a directory's files are read in sorted order (zabbix: `readdir` order).
//! - `Server=` with an empty value: zabbix listens and admits nobody; zagent's empty
//!   `server` list disables the listener (same effect for the server: no answers).
//! - zabbix_agent2's `EnablePersistentBuffer`, `PersistentBufferFile` and
//!   `PersistentBufferPeriod` are accepted (zabbix_agentd calls them unknown), with
//!   agent2's ranges and its two start-up errors (enabled without a file; a file while
//!   disabled).
//! - A value given twice: the last wins, as in zabbix; zagent also adds a warning.

pub mod build;
pub mod compat;
pub mod directives;
pub mod doc;
pub mod error;
pub mod net;
pub mod reader;
pub mod tls_rules;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use build::{max_connections, set_hostnames_from_item, system_hostname};
pub use error::{ConfigError, ConfigErrors};

/// Where a value came from, for error messages and `check-config`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// The file, or empty for built-in defaults and command-line values.
    pub file: PathBuf,
    /// 1-based line number; 0 when not from a file.
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            f.write_str("<default>")
        } else {
            write!(f, "{}:{}", self.file.display(), self.line)
        }
    }
}

/// One entry of `Server=`: who may ask passive checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerPeer {
    /// An address or network (a single address is a /32 or /128).
    Net(ipnet::IpNet),
    /// A DNS name, resolved on every connection as the official agent does.
    Name(String),
}

/// One address of `ServerActive=`: host (name or IP) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveAddr {
    /// Host name or IP address, without brackets.
    pub host: String,
    /// Port, default 10051.
    pub port: u16,
}

impl std::fmt::Display for ActiveAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// One `ServerActive` entry: a standalone server/proxy, or the nodes of one HA cluster
/// (tried in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveServer {
    /// At least one node.
    pub nodes: Vec<ActiveAddr>,
}

/// The persistent buffer's settings (`EnablePersistentBuffer=1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistentBuffer {
    /// `PersistentBufferFile`: the SQLite file.
    pub file: PathBuf,
    /// Where `PersistentBufferFile` was set (for start-up errors).
    pub origin: Origin,
    /// `PersistentBufferPeriod` (1m-365d, default 1h): how long non-log values are kept.
    pub period: Duration,
}

/// A `UserParameter=key,command` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserParameter {
    /// The key name, without `[*]`.
    pub key: String,
    /// Whether the key was declared as `key[*]` (accepts parameters, `$1`…`$9`).
    pub flexible: bool,
    /// The shell command.
    pub command: String,
    /// Where it was declared.
    pub origin: Origin,
}

/// An `AllowKey=` / `DenyKey=` rule, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRule {
    /// true for AllowKey, false for DenyKey.
    pub allow: bool,
    /// The key pattern with `*` wildcards.
    pub pattern: String,
    /// Where it was declared.
    pub origin: Origin,
}

/// An `Alias=alias:key` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// The key the server asks for.
    pub alias: String,
    /// The key that runs.
    pub key: String,
}

/// `TLSConnect`/`TLSAccept` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsMode {
    /// No encryption.
    Unencrypted,
    /// Pre-shared key.
    Psk,
    /// Certificates.
    Cert,
}

/// TLS settings (`TLS*` directives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// How we connect to servers (active checks).
    pub connect: TlsMode,
    /// Whether `TLSConnect` (or `--tls-connect`) was given: zabbix_get and zabbix_sender
    /// refuse a PSK or certificate file without it; the agent's has a default.
    pub connect_given: bool,
    /// What the passive listener accepts (at least one).
    pub accept: Vec<TlsMode>,
    /// `TLSCAFile`.
    pub ca_file: Option<PathBuf>,
    /// `TLSCRLFile`.
    pub crl_file: Option<PathBuf>,
    /// `TLSServerCertIssuer`.
    pub server_cert_issuer: Option<String>,
    /// `TLSServerCertSubject`.
    pub server_cert_subject: Option<String>,
    /// `TLSCertFile`.
    pub cert_file: Option<PathBuf>,
    /// `TLSKeyFile`.
    pub key_file: Option<PathBuf>,
    /// `TLSPSKIdentity`.
    pub psk_identity: Option<String>,
    /// `TLSPSKFile`.
    pub psk_file: Option<PathBuf>,
    /// `TLSCipherCert13`, `TLSCipherCert`, `TLSCipherPSK13`, `TLSCipherPSK`,
    /// `TLSCipherAll13`, `TLSCipherAll`: OpenSSL cipher strings, when set.
    pub cipher_cert13: Option<String>,
    /// See `cipher_cert13`.
    pub cipher_cert: Option<String>,
    /// See `cipher_cert13`.
    pub cipher_psk13: Option<String>,
    /// See `cipher_cert13`.
    pub cipher_psk: Option<String>,
    /// See `cipher_cert13`.
    pub cipher_all13: Option<String>,
    /// See `cipher_cert13`.
    pub cipher_all: Option<String>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            connect: TlsMode::Unencrypted,
            connect_given: false,
            accept: vec![TlsMode::Unencrypted],
            ca_file: None,
            crl_file: None,
            server_cert_issuer: None,
            server_cert_subject: None,
            cert_file: None,
            key_file: None,
            psk_identity: None,
            psk_file: None,
            cipher_cert13: None,
            cipher_cert: None,
            cipher_psk13: None,
            cipher_psk: None,
            cipher_all13: None,
            cipher_all: None,
        }
    }
}

/// `LogType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogType {
    /// `LogFile`.
    File,
    /// syslog.
    System,
    /// stdout/stderr.
    Console,
}

/// The agent's whole configuration, typed and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it was read from, if any.
    pub source: Option<PathBuf>,

    // --- passive checks ---
    /// `Server`: who may connect for passive checks. Empty disables the listener
    /// (as `StartAgents=0` does).
    pub server: Vec<ServerPeer>,
    /// `ListenIP`: addresses to listen on (the first is sent as `ip` in active checks).
    /// Names are resolved when the file is read. A file without `ListenIP` gives
    /// `0.0.0.0` and `::` (zabbix binds every address; the `::` socket must be
    /// `IPV6_V6ONLY`); [`defaults`] (no file) gives 127.0.0.1 only.
    pub listen_ip: Vec<IpAddr>,
    /// Whether `ListenIP` was given explicitly (only then is `ip` sent to the server).
    pub listen_ip_set: bool,
    /// `ListenPort` (1024–32767, default 10050).
    pub listen_port: u16,
    /// `StartAgents` (0–100, default 3). 0 disables passive checks. zagent has no
    /// pre-forked workers; the value scales the concurrent-connection cap.
    pub start_agents: u32,
    /// `ListenBacklog`.
    pub listen_backlog: u32,
    /// Cap on passive connections handled at once, derived from `StartAgents` by
    /// [`max_connections`]: 64 per agent, at least 256, at most 1024; 0 without listener.
    pub max_connections: usize,

    // --- active checks ---
    /// `ServerActive`: independent servers, each possibly an HA cluster.
    pub server_active: Vec<ActiveServer>,
    /// `Hostname`: one or more host names (comma list). When `Hostname` is not set and
    /// `HostnameItem` is the default `system.hostname`, filled from `gethostname` (with
    /// zabbix's rules: a comma list, one name truncated to 128 characters). For any other
    /// `HostnameItem` it stays empty: the agent evaluates the item at start-up through the
    /// key registry and calls [`set_hostnames_from_item`].
    pub hostnames: Vec<String>,
    /// Whether `Hostname` was set explicitly.
    pub hostname_set: bool,
    /// `HostnameItem` (default `system.hostname`).
    pub hostname_item: String,
    /// `HostMetadata`.
    pub host_metadata: Option<String>,
    /// `HostMetadataItem`.
    pub host_metadata_item: Option<String>,
    /// `HostInterface`.
    pub host_interface: Option<String>,
    /// `HostInterfaceItem`.
    pub host_interface_item: Option<String>,
    /// `RefreshActiveChecks` (60–3600 as in 6.0, default 120).
    pub refresh_active_checks: Duration,
    /// `BufferSend` (1–3600, default 5).
    pub buffer_send: Duration,
    /// `BufferSize` (2–65535, default 100).
    pub buffer_size: usize,
    /// `MaxLinesPerSecond` (1–1000, default 20).
    pub max_lines_per_second: u32,
    /// `HeartbeatFrequency` (7.0; 0–3600, default 60; 0 disables).
    pub heartbeat_frequency: Duration,
    /// `SourceIP`.
    pub source_ip: Option<IpAddr>,
    /// zabbix_agent2's `EnablePersistentBuffer=1` with `PersistentBufferFile` and
    /// `PersistentBufferPeriod`; `None` = values are buffered in memory only.
    pub persistent_buffer: Option<PersistentBuffer>,

    // --- items ---
    /// `Timeout` (1–30, default 3).
    pub timeout: Duration,
    /// `UnsafeUserParameters`.
    pub unsafe_user_parameters: bool,
    /// `UserParameter` lines in order.
    pub user_parameters: Vec<UserParameter>,
    /// `UserParameterDir`.
    pub user_parameter_dir: Option<PathBuf>,
    /// `AllowKey`/`DenyKey` rules in file order; the deprecated `EnableRemoteCommands=1|0`
    /// appears at its place as `AllowKey|DenyKey=system.run[*]`. The implicit trailing
    /// `DenyKey=system.run[*]` of zabbix is not added here (the key-rule evaluator does).
    pub key_rules: Vec<KeyRule>,
    /// `Alias` lines.
    pub aliases: Vec<Alias>,
    /// `LogRemoteCommands`.
    pub log_remote_commands: bool,

    // --- process ---
    /// `PidFile`.
    pub pid_file: Option<PathBuf>,
    /// `LogType`. From a file, zabbix's default `file` (which then needs `LogFile`); with
    /// no file at all ([`defaults`]), console.
    pub log_type: LogType,
    /// `LogFile`.
    pub log_file: Option<PathBuf>,
    /// `LogFileSize` in MB (0–1024, default 1; 0 = no rotation).
    pub log_file_size: u32,
    /// `DebugLevel` (0–5, default 3).
    pub debug_level: u8,
    /// `AllowRoot`.
    pub allow_root: bool,
    /// `User` (default `zabbix`).
    pub user: String,

    // --- TLS ---
    /// `TLS*`. Only the directives are checked here; the files are read by the TLS layer.
    pub tls: TlsConfig,

    // --- start-up log ---
    /// Directives zagent accepts (as zabbix_agentd would) but does not act on, with where
    /// they are: `LoadModule`, `LoadModulePath`. The agent logs each once at start.
    pub unsupported: Vec<(String, Origin)>,
    /// Directives read differently from zabbix_agentd 6.0 (see [`compat`]), as sentences
    /// with where they are; `check-config` lists them, the agent logs each at start.
    pub differences: Vec<(String, Origin)>,
    /// What zabbix_agentd would warn about at start (deprecated `EnableRemoteCommands`,
    /// both `Hostname` and `HostnameItem`, …) plus zagent's note on values set twice.
    /// The agent logs each once at start.
    pub warnings: Vec<(String, Origin)>,
}

/// Default `ListenPort`.
pub const DEFAULT_LISTEN_PORT: u16 = 10050;
/// Default port of a `ServerActive` entry.
pub const DEFAULT_ACTIVE_PORT: u16 = 10051;
/// `PersistentBufferPeriod` when absent (zabbix_agent2's 1h).
pub const DEFAULT_PERSISTENT_BUFFER_PERIOD: Duration = Duration::from_secs(3600);

impl Default for Config {
    fn default() -> Self {
        Config {
            source: None,
            server: vec![
                ServerPeer::Net(ipnet::IpNet::from(IpAddr::from([127, 0, 0, 1]))),
                ServerPeer::Net(ipnet::IpNet::from(IpAddr::from(
                    std::net::Ipv6Addr::LOCALHOST,
                ))),
            ],
            listen_ip: vec![IpAddr::from([127, 0, 0, 1])],
            listen_ip_set: false,
            listen_port: DEFAULT_LISTEN_PORT,
            start_agents: 3,
            listen_backlog: libc::SOMAXCONN as u32,
            // The value build() derives for the default StartAgents: one rule, not two.
            max_connections: max_connections(3),
            server_active: Vec::new(),
            hostnames: Vec::new(),
            hostname_set: false,
            hostname_item: build::DEFAULT_HOSTNAME_ITEM.to_string(),
            host_metadata: None,
            host_metadata_item: None,
            host_interface: None,
            host_interface_item: None,
            refresh_active_checks: Duration::from_secs(120),
            buffer_send: Duration::from_secs(5),
            buffer_size: 100,
            max_lines_per_second: 20,
            heartbeat_frequency: Duration::from_secs(60),
            source_ip: None,
            persistent_buffer: None,
            timeout: Duration::from_secs(3),
            unsafe_user_parameters: false,
            user_parameters: Vec::new(),
            user_parameter_dir: None,
            key_rules: Vec::new(),
            aliases: Vec::new(),
            log_remote_commands: false,
            pid_file: None,
            log_type: LogType::Console,
            log_file: None,
            log_file_size: 1,
            debug_level: 3,
            allow_root: false,
            user: "zabbix".to_string(),
            tls: TlsConfig::default(),
            unsupported: Vec::new(),
            differences: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

impl Config {
    /// The first configured host name (what `agent.hostname` answers).
    pub fn hostname(&self) -> &str {
        self.hostnames.first().map(String::as_str).unwrap_or("")
    }
}

/// The no-file configuration: passive checks on 127.0.0.1:10050 for `Server=127.0.0.1,::1`,
/// the host name from the system, everything else at zabbix_agentd's defaults (logging to
/// the console).
pub fn defaults() -> Config {
    let mut cfg = Config::default();
    cfg.max_connections = max_connections(cfg.start_agents);
    if let Some(name) = system_hostname() {
        // A system name zabbix would refuse leaves the list empty; `load` reports it.
        if set_hostnames_from_item(&mut cfg, &name, &Origin::default()).is_err() {
            cfg.hostnames.clear();
        }
    }
    cfg
}

/// Reads `path` (and what it includes), checks it as zabbix_agentd 6.0 does at start-up and
/// fills in the defaults. All problems are returned together.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let (entries, errors) = reader::read_tree(path).map_err(|e| ConfigErrors::from(vec![e]))?;
    finish(entries, errors, path, true)
}

/// Like [`load`] without the start-up validation (a missing `Server`, `LogType=file`
/// without `LogFile`, TLS consistency, listener addresses): what `zabbix_agentd -t` and
/// `-p` read, for `zagent test` and `zagent keys`. Syntax and value errors still count.
pub fn load_for_test(path: &Path) -> Result<Config, ConfigErrors> {
    let (entries, errors) = reader::read_tree(path).map_err(|e| ConfigErrors::from(vec![e]))?;
    finish(entries, errors, path, false)
}

/// Like [`load`] for a main file already in memory; `name` stands for it in messages.
/// `Include` paths are read from disk, relative ones from the process's working directory
/// (as zabbix's `fopen`).
pub fn parse_str(text: &str, name: &Path) -> Result<Config, ConfigErrors> {
    let (entries, errors) = reader::read_tree_str(text, name);
    finish(entries, errors, name, true)
}

fn finish(
    entries: Vec<reader::Entry>,
    mut errors: Vec<ConfigError>,
    main: &Path,
    validate: bool,
) -> Result<Config, ConfigErrors> {
    let (raw, line_errors) = directives::read_entries(entries);
    errors.extend(line_errors);
    let (cfg, build_errors, validation_errors) = build::build(raw, main);
    errors.extend(build_errors);
    if validate {
        errors.extend(validation_errors);
    }
    if errors.is_empty() {
        Ok(cfg)
    } else {
        errors.sort_by(|a, b| {
            (a.origin.file.clone(), a.origin.line).cmp(&(b.origin.file.clone(), b.origin.line))
        });
        errors.dedup();
        Err(ConfigErrors { errors })
    }
}

/// Re-reads the configuration file tree for a live `userparameter_reload` (as
/// `zabbix_agentd -R userparameter_reload`). Returns the `UserParameter` lines, and the
/// `UserParameterDir` and `UnsafeUserParameters` values found in the files now. zabbix_agentd
/// 6.0 replaces only the UserParameters on reload (verified: a changed
/// `UnsafeUserParameters` takes effect only at restart), so a caller that mimics it uses
/// the first element and logs a note if the other two differ from the running values.
/// Other directives are not checked again (unknown ones are ignored, as zabbix's non-strict
/// re-read), but broken lines, a broken Include and bad or duplicate UserParameters are
/// errors: the caller must then keep the old set and log the errors.
pub fn read_user_parameters(
    path: &Path,
) -> Result<(Vec<UserParameter>, Option<PathBuf>, bool), ConfigErrors> {
    let (entries, mut errors) = reader::read_tree(path).map_err(|e| ConfigErrors::from(vec![e]))?;
    let mut lines = Vec::new();
    let mut dir = None;
    let mut unsafe_params = false;
    for e in entries {
        let set = directives::Set {
            value: e.value,
            origin: e.origin,
        };
        match e.key.as_str() {
            "UserParameter" => lines.push(set),
            "UserParameterDir" => dir = Some(PathBuf::from(set.value)),
            "UnsafeUserParameters" => match directives::parse_uint(&set.value) {
                Some(v @ 0..=1) => unsafe_params = v == 1,
                _ => errors.push(ConfigError::new(
                    &set.origin,
                    "wrong value of \"UnsafeUserParameters\": use 0 or 1",
                )),
            },
            _ => {}
        }
    }
    match build::user_parameters(&lines) {
        Ok(ups) if errors.is_empty() => Ok((ups, dir, unsafe_params)),
        Ok(_) => Err(errors.into()),
        Err(e) => {
            errors.extend(e);
            Err(errors.into())
        }
    }
}

/// The start-up check zabbix_agentd makes when it drops privileges: run as root without
/// `AllowRoot=1`, the `User` must exist. Separate from [`load`] because it depends on who
/// runs the check; `check-config` and `run` both call it.
pub fn check_run_user(cfg: &Config) -> Result<(), ConfigErrors> {
    let euid = crate::sys::account::effective_uid();
    if euid != 0 || cfg.allow_root {
        return Ok(());
    }
    let exists = matches!(crate::sys::account::user_by_name(&cfg.user), Ok(Some(_)));
    if exists {
        return Ok(());
    }
    let origin = Origin {
        file: cfg.source.clone().unwrap_or_default(),
        line: 0,
    };
    Err(vec![ConfigError::new(
        &origin,
        format!(
            "user {} does not exist; cannot run as root! Create the user, set User= to an existing one, or set AllowRoot=1",
            cfg.user
        ),
    )]
    .into())
}
