//! Directives → typed [`Config`]: defaults for what is unset, and the checks that relate
//! directives to each other, in the order and with the words of zabbix_agentd 6.0's
//! start-up (`zbx_load_config`, `zbx_validate_config`, `zbx_tls_validate_config`,
//! `load_user_parameters`, `load_aliases`).
//!
//! Pure apart from two look-ups zabbix also does at start-up: the system host name (for the
//! default `HostnameItem=system.hostname`) and resolving a `ListenIP` that is a name.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use zbx_proto::key::{is_key_char, ItemKey};

use super::directives::{Raw, Set};
use super::error::ConfigError;
use super::net;
use super::tls_rules::{self, Need, TlsParam};
use super::{Alias, Config, LogType, Origin, PersistentBuffer, TlsConfig, TlsMode, UserParameter};

/// Longest `HostMetadata` / `HostInterface`, in characters (6.0's `HOST_METADATA_LEN`,
/// `HOST_INTERFACE_LEN`).
pub const MAX_HOST_METADATA_LEN: usize = 255;
/// The item zabbix evaluates for the host name when `Hostname` is not set.
pub const DEFAULT_HOSTNAME_ITEM: &str = "system.hostname";

/// Key names zabbix_agentd 6.0.14 (Linux) has built in (`zabbix_agentd -p`, plus
/// `system.run`). A `UserParameter` with one of these names is refused at start-up
/// (`key "x" already exists`), so a configuration that works with zabbix_agentd never has
/// one. Keys only zagent has built in (e.g. `tcp.status`) are not here: a UserParameter
/// for them is the user's explicit choice and wins.
pub const ZABBIX_BUILTIN_KEYS: &[&str] = &[
    "agent.hostmetadata",
    "agent.hostname",
    "agent.ping",
    "agent.variant",
    "agent.version",
    "eventlog",
    "kernel.maxfiles",
    "kernel.maxproc",
    "kernel.openfiles",
    "log",
    "log.count",
    "logrt",
    "logrt.count",
    "modbus.get",
    "net.dns",
    "net.dns.record",
    "net.if.collisions",
    "net.if.discovery",
    "net.if.in",
    "net.if.out",
    "net.if.total",
    "net.tcp.dns",
    "net.tcp.dns.query",
    "net.tcp.listen",
    "net.tcp.port",
    "net.tcp.service",
    "net.tcp.service.perf",
    "net.tcp.socket.count",
    "net.udp.listen",
    "net.udp.service",
    "net.udp.service.perf",
    "net.udp.socket.count",
    "proc.cpu.util",
    "proc.mem",
    "proc.num",
    "processor",
    "sensor",
    "system.boottime",
    "system.cpu.discovery",
    "system.cpu.intr",
    "system.cpu.load",
    "system.cpu.num",
    "system.cpu.switches",
    "system.cpu.util",
    "system.hostname",
    "system.hw.chassis",
    "system.hw.cpu",
    "system.hw.devices",
    "system.hw.macaddr",
    "system.localtime",
    "system.run",
    "system.sw.arch",
    "system.sw.os",
    "system.sw.packages",
    "system.swap.in",
    "system.swap.out",
    "system.swap.size",
    "system.uname",
    "system.uptime",
    "system.users.num",
    "vfs.dev.discovery",
    "vfs.dev.read",
    "vfs.dev.write",
    "vfs.dir.count",
    "vfs.dir.get",
    "vfs.dir.size",
    "vfs.file.cksum",
    "vfs.file.contents",
    "vfs.file.exists",
    "vfs.file.get",
    "vfs.file.md5sum",
    "vfs.file.owner",
    "vfs.file.permissions",
    "vfs.file.regexp",
    "vfs.file.regmatch",
    "vfs.file.size",
    "vfs.file.time",
    "vfs.fs.discovery",
    "vfs.fs.get",
    "vfs.fs.inode",
    "vfs.fs.size",
    "vm.memory.size",
    "web.page.get",
    "web.page.perf",
    "web.page.regexp",
    "zabbix.stats",
];

/// Derives the cap on passive connections handled at once from `StartAgents`.
///
/// zabbix_agentd forks `StartAgents` listener processes, each serving one connection at a
/// time while the kernel backlog queues the rest. zagent serves connections as tasks, so
/// the cap bounds memory and file descriptors rather than parallelism: 64 connections per
/// configured agent, at least 256 (so the default `StartAgents=3` absorbs a burst from a
/// server with many pollers) and at most 1024 (the usual `RLIMIT_NOFILE` soft limit, minus
/// nothing: connections beyond the cap wait in the backlog as they would for zabbix).
/// `StartAgents=0` (no listener) gives 0.
pub fn max_connections(start_agents: u32) -> usize {
    if start_agents == 0 {
        return 0;
    }
    (start_agents as usize * 64).clamp(256, 1024)
}

/// The system host name (`gethostname`), what `system.hostname` answers by default.
pub fn system_hostname() -> Option<String> {
    crate::sys::host::hostname()
}

/// Applies zabbix's rules to a host-name value obtained from `HostnameItem` (the system
/// name, or an item the agent evaluated at start-up): blanks around commas dropped, a
/// single name longer than 128 characters truncated (zabbix warns and truncates), then the
/// same checks as for `Hostname`. On success, `cfg.hostnames` holds the names.
pub fn set_hostnames_from_item(
    cfg: &mut Config,
    value: &str,
    origin: &Origin,
) -> Result<(), Vec<ConfigError>> {
    let mut value = net::trim_list(value);
    if !value.contains(',') && value.len() > net::MAX_HOSTNAME_LEN {
        let mut cut = net::MAX_HOSTNAME_LEN;
        while !value.is_char_boundary(cut) {
            cut -= 1;
        }
        value.truncate(cut);
    }
    let mut errors = Vec::new();
    cfg.hostnames = hostnames(&value, origin, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Splits and checks a host-name list (`Hostname` or an item's value).
fn hostnames(value: &str, origin: &Origin, errors: &mut Vec<ConfigError>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in value.split(',') {
        if names.iter().any(|n| n == name) {
            errors.push(ConfigError::new(
                origin,
                format!("error parsing the \"Hostname\" parameter: host \"{name}\" specified more than once"),
            ));
            continue;
        }
        if let Err(why) = net::check_hostname(name) {
            errors.push(ConfigError::new(
                origin,
                format!("invalid \"Hostname\" configuration parameter: '{name}': {why}"),
            ));
        }
        names.push(name.to_string());
    }
    names
}

/// zabbix_agent2's persistent buffer directives, with its two start-up checks.
fn persistent_buffer(raw: &Raw, errors: &mut Vec<ConfigError>) -> Option<PersistentBuffer> {
    let enable = raw.int("EnablePersistentBuffer");
    let file = raw
        .str("PersistentBufferFile")
        .filter(|f| !f.value.is_empty());
    let period = raw
        .int("PersistentBufferPeriod")
        .map_or(super::DEFAULT_PERSISTENT_BUFFER_PERIOD, |p| {
            Duration::from_secs(p.value)
        });
    match (enable.filter(|e| e.value == 1), file) {
        (Some(_), Some(f)) => Some(PersistentBuffer {
            file: PathBuf::from(&f.value),
            origin: f.origin.clone(),
            period,
        }),
        (Some(e), None) => {
            errors.push(ConfigError::new(
                &e.origin,
                "\"EnablePersistentBuffer\" parameter misconfiguration: \"PersistentBufferFile\" parameter is not set; give the SQLite file's path",
            ));
            None
        }
        (None, Some(f)) => {
            errors.push(ConfigError::new(
                &f.origin,
                "\"PersistentBufferFile\" parameter is not empty but \"EnablePersistentBuffer\" is not set; set EnablePersistentBuffer=1 or remove the line",
            ));
            None
        }
        (None, None) => None,
    }
}

/// Where a whole-configuration error points when no single line is to blame.
fn file_origin(main: &std::path::Path) -> Origin {
    Origin {
        file: main.to_path_buf(),
        line: 0,
    }
}

/// Builds the typed configuration of a configuration file tree. Returns the errors of
/// reading the values, and separately those of zabbix_agentd's start-up validation
/// (`zbx_validate_config`, TLS, listener addresses), which `zabbix_agentd -t`/`-p` skip.
pub fn build(raw: Raw, main: &std::path::Path) -> (Config, Vec<ConfigError>, Vec<ConfigError>) {
    let mut errors: Vec<ConfigError> = Vec::new();
    let mut cfg = Config {
        source: Some(main.to_path_buf()),
        ..Config::default()
    };
    cfg.unsupported = raw.unsupported.clone();
    cfg.differences = raw.differences.clone();
    cfg.warnings = raw.warnings.clone();
    let whole = file_origin(main);

    let int = |name: &str, default: u64| raw.int(name).map(|s| s.value).unwrap_or(default);
    let secs = |name: &str, default: Duration| {
        raw.int(name)
            .map_or(default, |s| Duration::from_secs(s.value))
    };
    let string = |name: &str| raw.str(name).map(|s| s.value.clone());

    // --- simple values; an absent directive keeps its value of Config::default(), the
    // one table of defaults ---
    let d = Config::default();
    cfg.start_agents = int("StartAgents", u64::from(d.start_agents)) as u32;
    cfg.listen_port = int("ListenPort", u64::from(d.listen_port)) as u16;
    cfg.listen_backlog = int("ListenBacklog", u64::from(d.listen_backlog)) as u32;
    cfg.max_connections = max_connections(cfg.start_agents);
    cfg.refresh_active_checks = secs("RefreshActiveChecks", d.refresh_active_checks);
    cfg.buffer_send = secs("BufferSend", d.buffer_send);
    cfg.buffer_size = int("BufferSize", d.buffer_size as u64) as usize;
    cfg.max_lines_per_second = int("MaxLinesPerSecond", u64::from(d.max_lines_per_second)) as u32;
    cfg.heartbeat_frequency = secs("HeartbeatFrequency", d.heartbeat_frequency);
    cfg.timeout = secs("Timeout", d.timeout);
    cfg.unsafe_user_parameters =
        int("UnsafeUserParameters", u64::from(d.unsafe_user_parameters)) == 1;
    cfg.log_remote_commands = int("LogRemoteCommands", u64::from(d.log_remote_commands)) == 1;
    cfg.log_file_size = int("LogFileSize", u64::from(d.log_file_size)) as u32;
    cfg.debug_level = int("DebugLevel", u64::from(d.debug_level)) as u8;
    cfg.allow_root = int("AllowRoot", u64::from(d.allow_root)) == 1;
    if let Some(user) = string("User") {
        cfg.user = user;
    }
    cfg.pid_file = string("PidFile").map(PathBuf::from);
    if let Some(p) = raw.str("PidFile").filter(|p| p.value.is_empty()) {
        // zabbix_agentd fails when it creates the PID file: `cannot create PID file []`.
        errors.push(ConfigError::new(
            &p.origin,
            "cannot create PID file []: the \"PidFile\" value is empty; give a path or remove the line",
        ));
    }
    cfg.user_parameter_dir = string("UserParameterDir").map(PathBuf::from);
    cfg.key_rules = raw.key_rules.clone();
    cfg.host_metadata = string("HostMetadata");
    cfg.host_metadata_item = string("HostMetadataItem");
    cfg.host_interface = string("HostInterface");
    cfg.host_interface_item = string("HostInterfaceItem");

    // --- Hostname / HostnameItem (zbx_load_config: set_defaults, parse_hostnames) ---
    match (raw.str("Hostname"), raw.str("HostnameItem")) {
        (Some(h), item) => {
            cfg.hostname_set = true;
            cfg.hostnames = hostnames(&h.value, &h.origin, &mut errors);
            if let Some(item) = item {
                cfg.hostname_item = item.value.clone();
                cfg.warnings.push((
                    format!(
                        "both Hostname and HostnameItem defined, using [{}]",
                        h.value
                    ),
                    item.origin.clone(),
                ));
            }
        }
        (None, item) => {
            let origin = item
                .map(|i| i.origin.clone())
                .unwrap_or_else(|| whole.clone());
            cfg.hostname_item = item
                .map(|i| i.value.clone())
                .unwrap_or_else(|| DEFAULT_HOSTNAME_ITEM.to_string());
            if cfg.hostname_item == DEFAULT_HOSTNAME_ITEM {
                match system_hostname() {
                    Some(name) => {
                        if let Err(e) = set_hostnames_from_item(&mut cfg, &name, &origin) {
                            errors.extend(e);
                        }
                    }
                    None => errors.push(ConfigError::new(
                        &origin,
                        "\"Hostname\" configuration parameter is not defined and the system host name could not be read; set Hostname",
                    )),
                }
            }
            // Any other HostnameItem is evaluated by the agent at start-up through the key
            // registry; `hostnames` stays empty until then.
        }
    }
    if let (Some(m), Some(item)) = (raw.str("HostMetadata"), raw.str("HostMetadataItem")) {
        cfg.warnings.push((
            format!(
                "both HostMetadata and HostMetadataItem defined, using [{}]",
                m.value
            ),
            item.origin.clone(),
        ));
    }
    if let (Some(m), Some(item)) = (raw.str("HostInterface"), raw.str("HostInterfaceItem")) {
        cfg.warnings.push((
            format!(
                "both HostInterface and HostInterfaceItem defined, using [{}]",
                m.value
            ),
            item.origin.clone(),
        ));
    }

    // --- ServerActive ---
    if let Some(sa) = raw.str("ServerActive") {
        if !sa.value.is_empty() {
            match net::parse_server_active(&sa.value, super::DEFAULT_ACTIVE_PORT) {
                Ok(servers) => cfg.server_active = servers,
                Err(message) => errors.push(ConfigError::new(&sa.origin, message)),
            }
        }
    }

    cfg.persistent_buffer = persistent_buffer(&raw, &mut errors);

    // --- zbx_validate_config ---
    let validation_from = errors.len();
    let server = raw.str("Server");
    cfg.server = Vec::new();
    if let Some(s) = server {
        for entry in server_items(&s.value) {
            if net::validate_server_entry(entry) {
                cfg.server.push(net::server_peer(entry));
            } else if cfg.start_agents != 0 {
                // zabbix stops at the first bad entry; with StartAgents=0 it does not look.
                errors.push(ConfigError::new(
                    &s.origin,
                    format!("invalid entry in \"Server\" configuration parameter: \"{entry}\""),
                ));
                break;
            }
        }
    } else if cfg.start_agents != 0 {
        let origin = raw
            .int("StartAgents")
            .map(|s| s.origin.clone())
            .unwrap_or_else(|| whole.clone());
        errors.push(ConfigError::new(
            &origin,
            "StartAgents is not 0, parameter \"Server\" must be defined; set Server= to the Zabbix server or proxy address, or StartAgents=0",
        ));
    }
    for (name, value) in [
        ("HostMetadata", raw.str("HostMetadata")),
        ("HostInterface", raw.str("HostInterface")),
    ] {
        if let Some(v) = value {
            if v.value.chars().count() > MAX_HOST_METADATA_LEN {
                errors.push(ConfigError::new(
                    &v.origin,
                    format!("the value of \"{name}\" configuration parameter cannot be longer than {MAX_HOST_METADATA_LEN} characters"),
                ));
            }
        }
    }
    if cfg.start_agents == 0 && cfg.server_active.is_empty() {
        let origin = raw
            .int("StartAgents")
            .map(|s| s.origin.clone())
            .unwrap_or_else(|| whole.clone());
        let parsed_ok = raw
            .str("ServerActive")
            .map(|s| s.value.is_empty())
            .unwrap_or(true);
        if parsed_ok {
            errors.push(ConfigError::new(
                &origin,
                "either active or passive checks must be enabled; set ServerActive or StartAgents above 0",
            ));
        }
    }
    if let Some(sip) = raw.str("SourceIP") {
        if net::is_supported_ip(&sip.value) {
            match sip.value.parse::<IpAddr>() {
                Ok(ip) => cfg.source_ip = Some(ip),
                Err(_) => cfg.warnings.push((
                    format!(
                        "SourceIP '{}' is not an address zagent can bind; it is ignored",
                        sip.value
                    ),
                    sip.origin.clone(),
                )),
            }
        } else {
            errors.push(ConfigError::new(
                &sip.origin,
                format!(
                    "invalid \"SourceIP\" configuration parameter: '{}'",
                    sip.value
                ),
            ));
        }
    }
    // zbx_validate_log_parameters. zabbix's default LogType is "file", which then
    // requires LogFile. zagent defaults to "file" only when LogFile is set and to
    // "console" otherwise (systemd collects it): every file zabbix_agentd accepts means
    // the same here; an explicit LogType=file without LogFile is still refused.
    let log_type = raw.str("LogType");
    cfg.log_file = string("LogFile")
        .filter(|f| !f.is_empty())
        .map(PathBuf::from);
    let default_type = if cfg.log_file.is_some() {
        "file"
    } else {
        "console"
    };
    cfg.log_type = match log_type.map(|s| s.value.as_str()).unwrap_or(default_type) {
        "file" => LogType::File,
        "system" => LogType::System,
        "console" => LogType::Console,
        other => {
            let origin = log_type
                .map(|s| s.origin.clone())
                .unwrap_or_else(|| whole.clone());
            errors.push(ConfigError::new(
                &origin,
                format!("invalid \"LogType\" configuration parameter: '{other}'; use file, system or console"),
            ));
            LogType::Console
        }
    };
    if cfg.log_type == LogType::File && cfg.log_file.is_none() {
        let origin = log_type
            .or(raw.str("LogFile"))
            .map(|s| s.origin.clone())
            .unwrap_or_else(|| whole.clone());
        errors.push(ConfigError::new(
            &origin,
            "\"LogType\" \"file\" parameter requires \"LogFile\" parameter to be set",
        ));
    }

    // --- TLS (zbx_tls_validate_config) ---
    cfg.tls = tls(
        &raw,
        !cfg.server_active.is_empty(),
        cfg.start_agents != 0,
        &mut errors,
    );

    // --- listener address (zabbix fails at listener start when it cannot resolve) ---
    cfg.listen_ip_set = raw.str("ListenIP").is_some();
    cfg.listen_ip = match raw.str("ListenIP") {
        None => vec![
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ],
        Some(l) => listen_ips(l, cfg.listen_port, cfg.start_agents != 0, &mut errors),
    };
    let validation: Vec<ConfigError> = errors.drain(validation_from..).collect();

    // --- MAIN_ZABBIX_ENTRY: modules, user parameters; main(): aliases ---
    match user_parameters(raw.all("UserParameter")) {
        Ok(ups) => cfg.user_parameters = ups,
        Err(e) => errors.extend(e),
    }
    match aliases(raw.all("Alias")) {
        Ok(a) => cfg.aliases = a,
        Err(e) => errors.extend(e),
    }

    errors.sort_by(|a, b| {
        (a.origin.file.clone(), a.origin.line).cmp(&(b.origin.file.clone(), b.origin.line))
    });
    (cfg, errors, validation)
}

/// The items of a `Server` value as zabbix walks them: an empty value has none, and a
/// trailing comma ends the list (any other empty item is an entry, and invalid).
fn server_items(value: &str) -> Vec<&str> {
    if value.is_empty() {
        return Vec::new();
    }
    let mut items: Vec<&str> = value.split(',').collect();
    if items.len() > 1 && items.last() == Some(&"") {
        items.pop();
    }
    items
}

fn listen_ips(
    l: &Set<String>,
    port: u16,
    listening: bool,
    errors: &mut Vec<ConfigError>,
) -> Vec<IpAddr> {
    let mut ips = Vec::new();
    for item in l.value.split(',') {
        if let Ok(ip) = item.parse::<IpAddr>() {
            ips.push(ip);
            continue;
        }
        match (item, port).to_socket_addrs() {
            Ok(addrs) => ips.extend(addrs.map(|a| a.ip())),
            Err(e) if listening => errors.push(ConfigError::new(
                &l.origin,
                format!("listener failed: cannot resolve address [[{item}]:{port}]: {e}"),
            )),
            Err(_) => {}
        }
    }
    ips
}

/// Parses `UserParameter` lines as zabbix's `load_user_parameters`; the error texts are
/// zabbix's, plus where the key was first defined.
pub fn user_parameters(lines: &[Set<String>]) -> Result<Vec<UserParameter>, Vec<ConfigError>> {
    let mut out: Vec<UserParameter> = Vec::new();
    // Key → index in `out`: one lookup per line (a linear search made 100k lines quadratic).
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut errors = Vec::new();
    for line in lines {
        let fail = |why: String| {
            ConfigError::new(
                &line.origin,
                format!(
                    "cannot load user parameters: user parameter \"{}\": {why}",
                    line.value
                ),
            )
        };
        let Some((key, command)) = line.value.split_once(',') else {
            errors.push(fail("not comma-separated".to_string()));
            continue;
        };
        let (name, flexible) = match key.strip_suffix("[*]") {
            Some(n) => (n, true),
            None => (key, false),
        };
        if name.is_empty() || !name.bytes().all(is_key_char) {
            errors.push(fail(
                "syntax error; the key must be letters, digits, '.', '_' or '-', optionally followed by [*]".to_string(),
            ));
            continue;
        }
        if let Some(first) = seen.get(name).and_then(|i| out.get(*i)) {
            errors.push(fail(format!(
                "key \"{name}\" already exists (first defined at {}); remove one of the two lines",
                first.origin
            )));
            continue;
        }
        if ZABBIX_BUILTIN_KEYS.contains(&name) {
            errors.push(fail(format!(
                "key \"{name}\" already exists (it is a built-in key); rename the UserParameter"
            )));
            continue;
        }
        seen.insert(name.to_string(), out.len());
        out.push(UserParameter {
            key: name.to_string(),
            flexible,
            command: command.to_string(),
            origin: line.origin.clone(),
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Parses `Alias` lines as zabbix's `load_aliases` (`alias:key`, both item keys).
pub fn aliases(lines: &[Set<String>]) -> Result<Vec<Alias>, Vec<ConfigError>> {
    let mut out: Vec<Alias> = Vec::new();
    let mut errors = Vec::new();
    for line in lines {
        match split_alias(&line.value) {
            Ok((alias, key)) => {
                if out.iter().any(|a| a.alias == alias) {
                    errors.push(ConfigError::new(
                        &line.origin,
                        format!("failed to add Alias \"{alias}\": duplicate name"),
                    ));
                    continue;
                }
                out.push(Alias {
                    alias: alias.to_string(),
                    key: key.to_string(),
                });
            }
            Err(pos) => errors.push(ConfigError::new(
                &line.origin,
                format!(
                    "cannot add alias \"{}\": invalid character at position {pos}; the form is Alias=<alias key>:<key>",
                    line.value
                ),
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// `alias:key` → (alias, key); on error, the 1-based position zabbix reports.
fn split_alias(value: &str) -> Result<(&str, &str), usize> {
    for (i, _) in value.match_indices(':') {
        if ItemKey::parse(&value[..i]).is_ok() {
            let key = &value[i + 1..];
            return match ItemKey::parse(key) {
                Ok(_) => Ok((&value[..i], key)),
                Err(e) => Err(i + 1 + e.offset + 1),
            };
        }
    }
    match ItemKey::parse(value) {
        Ok(_) => Err(value.len() + 1),
        Err(e) => Err(e.offset + 1),
    }
}

/// The TLS directives, checked as `zbx_tls_validate_config` (agent, GnuTLS or OpenSSL
/// build). File contents are not read here (`tls::build` does), but a named file that
/// does not exist or is not a regular file is an error at its directive's file:line.
fn tls(raw: &Raw, active: bool, passive: bool, errors: &mut Vec<ConfigError>) -> TlsConfig {
    for name in TlsParam::ALL.map(TlsParam::directive) {
        if let Some(s) = raw.str(name) {
            if s.value.is_empty() {
                errors.push(ConfigError::new(
                    &s.origin,
                    format!("configuration parameter \"{name}\" is defined but empty; give it a value or remove the line"),
                ));
            }
        }
    }
    let get = |name: &str| raw.str(name).filter(|s| !s.value.is_empty());
    let mut t = TlsConfig::default();

    let mode = |v: &str| match v {
        "unencrypted" => Some(TlsMode::Unencrypted),
        "psk" => Some(TlsMode::Psk),
        "cert" => Some(TlsMode::Cert),
        _ => None,
    };
    if let Some(c) = get("TLSConnect") {
        match mode(&c.value) {
            Some(m) => {
                t.connect = m;
                t.connect_given = true;
            }
            None => errors.push(ConfigError::new(
                &c.origin,
                "invalid value of \"TLSConnect\" parameter; use unencrypted, psk or cert",
            )),
        }
    }
    if let Some(a) = get("TLSAccept") {
        let mut modes = Vec::new();
        for item in a.value.split(',') {
            match mode(item) {
                Some(m) if !modes.contains(&m) => modes.push(m),
                Some(_) => {}
                None => {
                    errors.push(ConfigError::new(
                        &a.origin,
                        "invalid value of \"TLSAccept\" parameter; use a comma list of unencrypted, psk and cert",
                    ));
                    modes.clear();
                    break;
                }
            }
        }
        if !modes.is_empty() {
            t.accept = modes;
        }
    }
    let path = |name: &str| get(name).map(|s| PathBuf::from(&s.value));
    let text = |name: &str| get(name).map(|s| s.value.clone());
    t.ca_file = path("TLSCAFile");
    t.crl_file = path("TLSCRLFile");
    t.cert_file = path("TLSCertFile");
    t.key_file = path("TLSKeyFile");
    t.psk_file = path("TLSPSKFile");
    t.psk_identity = text("TLSPSKIdentity");
    t.server_cert_issuer = text("TLSServerCertIssuer");
    t.server_cert_subject = text("TLSServerCertSubject");
    t.cipher_cert13 = text("TLSCipherCert13");
    t.cipher_cert = text("TLSCipherCert");
    t.cipher_psk13 = text("TLSCipherPSK13");
    t.cipher_psk = text("TLSCipherPSK");
    t.cipher_all13 = text("TLSCipherAll13");
    t.cipher_all = text("TLSCipherAll");

    let file = InFile { raw, tls: &t };
    for rule in tls_rules::broken(&file, active, passive) {
        if let Some(s) = raw.str(rule.param.directive()) {
            errors.push(ConfigError::new(&s.origin, rule_message(rule)));
        }
    }
    for name in [
        "TLSCAFile",
        "TLSCRLFile",
        "TLSCertFile",
        "TLSKeyFile",
        "TLSPSKFile",
    ] {
        let Some(s) = raw.str(name).filter(|s| !s.value.is_empty()) else {
            continue;
        };
        // metadata, not open: a FIFO named here must not block the check.
        let problem = match std::fs::metadata(&s.value) {
            Err(e) => Some(crate::sys::oserror::zbx_strerror(&e)),
            Ok(m) if !m.is_file() => Some("not a regular file".to_string()),
            Ok(_) => None,
        };
        if let Some(problem) = problem {
            errors.push(ConfigError::new(
                &s.origin,
                format!("cannot open file \"{}\" ({name}): {problem}", s.value),
            ));
        }
    }
    t
}

/// The TLS settings as a configuration file gives them: a directive present (even
/// empty: that is its own error) is set; a mode counts when the directive names it.
struct InFile<'a> {
    raw: &'a Raw,
    tls: &'a TlsConfig,
}

impl tls_rules::Settings for InFile<'_> {
    fn is_set(&self, p: TlsParam) -> bool {
        self.raw.str(p.directive()).is_some()
    }
    fn has_mode(&self, p: TlsParam, mode: TlsMode) -> bool {
        self.is_set(p)
            && match p {
                TlsParam::Connect => self.tls.connect == mode,
                TlsParam::Accept => self.tls.accept.contains(&mode),
                _ => false,
            }
    }
}

/// A broken TLS rule in zabbix_agentd's words, for the directive's file:line.
fn rule_message(rule: &tls_rules::Rule) -> String {
    let name = rule.param.directive();
    match rule.need {
        Need::Set(other) => format!(
            "parameter \"{name}\" is defined, but \"{}\" is not defined",
            other.directive()
        ),
        Need::ModeNeeds(_, other) => format!(
            "parameter \"{name}\" value requires \"{}\", but it is not defined",
            other.directive()
        ),
        Need::Either(a, b) => format!(
            "parameter \"{name}\" is defined, but neither \"{}\" nor \"{}\" is defined",
            a.directive(),
            b.directive()
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn alias_positions_like_zabbix() {
        assert_eq!(split_alias("x:agent.ping"), Ok(("x", "agent.ping")));
        assert_eq!(split_alias("x[a]:agent.ping"), Ok(("x[a]", "agent.ping")));
        assert_eq!(split_alias("x"), Err(2));
        assert_eq!(split_alias("x:"), Err(3));
        assert_eq!(split_alias(":agent.ping"), Err(1));
        assert_eq!(split_alias("x y:agent.ping"), Err(2));
        assert_eq!(split_alias("x:bad key["), Err(6));
    }

    #[test]
    fn connection_cap() {
        assert_eq!(max_connections(0), 0);
        assert_eq!(max_connections(3), 256);
        assert_eq!(max_connections(10), 640);
        assert_eq!(max_connections(100), 1024);
        // Config::default() agrees with what a file without StartAgents builds.
        let d = crate::config::Config::default();
        assert_eq!(d.max_connections, max_connections(d.start_agents));
    }
}
