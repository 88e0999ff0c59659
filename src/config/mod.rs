//! zabbix_agentd.conf: the typed configuration every other module reads.
//!
//! Owns the [`Config`] struct and its defaults (which must work with no file at all:
//! passive on 127.0.0.1:10050, `Server=127.0.0.1,::1`, Hostname from the system).
//! The reader (lines → entries with file:line, Include) lives in the submodules; nothing
//! here opens sockets or starts tasks.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Cap on passive connections handled at once (derived; see `passive`).
    pub max_connections: usize,

    // --- active checks ---
    /// `ServerActive`: independent servers, each possibly an HA cluster.
    pub server_active: Vec<ActiveServer>,
    /// `Hostname`: one or more host names (comma list). Filled from `HostnameItem` or the
    /// system when not set.
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
    /// `RefreshActiveChecks` (6.0: 60–3600, default 120; zagent also takes 7.0's 1–86400).
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

    // --- items ---
    /// `Timeout` (1–30, default 3).
    pub timeout: Duration,
    /// `UnsafeUserParameters`.
    pub unsafe_user_parameters: bool,
    /// `UserParameter` lines in order.
    pub user_parameters: Vec<UserParameter>,
    /// `UserParameterDir`.
    pub user_parameter_dir: Option<PathBuf>,
    /// `AllowKey`/`DenyKey` rules in order.
    pub key_rules: Vec<KeyRule>,
    /// `Alias` lines.
    pub aliases: Vec<Alias>,
    /// `LogRemoteCommands`.
    pub log_remote_commands: bool,

    // --- process ---
    /// `PidFile`.
    pub pid_file: Option<PathBuf>,
    /// `LogType` (default file when LogFile is set, else console for zagent).
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
    /// `TLS*`.
    pub tls: TlsConfig,
}

/// Default `ListenPort`.
pub const DEFAULT_LISTEN_PORT: u16 = 10050;
/// Default port of a `ServerActive` entry.
pub const DEFAULT_ACTIVE_PORT: u16 = 10051;

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
            max_connections: 1024,
            server_active: Vec::new(),
            hostnames: Vec::new(),
            hostname_set: false,
            hostname_item: "system.hostname".to_string(),
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
        }
    }
}

impl Config {
    /// The first configured host name (what `agent.hostname` answers).
    pub fn hostname(&self) -> &str {
        self.hostnames.first().map(String::as_str).unwrap_or("")
    }
}
