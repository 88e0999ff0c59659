//! What every directive means, in words: the text of the packaged `zagent.conf` and of
//! `zagent.conf(5)`, both generated from [`DOCS`] by `zagent generate`.
//!
//! Owns the prose and the value each directive takes in the packaged file; the names,
//! value kinds and ranges come from [`super::directives::DIRECTIVES`] (a test fails when a
//! directive has no entry here, so the documentation cannot fall behind the reader). It
//! must not check values or hold defaults the code uses: those are `Config::default()`
//! (which `build` falls back on); a test checks every default written here against the
//! configuration built from a file that sets nothing, directive by directive.
//! The text is zagent's own (not copied from Zabbix's GPL configuration file).

/// One directive's documentation.
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    /// The directive, as in the directive table (`Include` is the reader's).
    pub name: &'static str,
    /// The section of the file it is listed under.
    pub section: &'static str,
    /// What applies when the directive is absent, as the reader of a file sees it.
    pub default: &'static str,
    /// The value the packaged `/etc/zagent/zagent.conf` sets, if it sets one.
    pub packaged: Option<&'static str>,
    /// What it does (one paragraph; the renderers wrap it).
    pub text: &'static str,
}

const GENERAL: &str = "General";
const PASSIVE: &str = "Passive checks";
const ACTIVE: &str = "Active checks";
const ADVANCED: &str = "Advanced";
const USER: &str = "User parameters";
const MODULES: &str = "Loadable modules (zabbix_agentd only)";
const TLS: &str = "TLS";
const INCLUDE: &str = "Included files";

const fn d(
    name: &'static str,
    section: &'static str,
    default: &'static str,
    packaged: Option<&'static str>,
    text: &'static str,
) -> Doc {
    Doc {
        name,
        section,
        default,
        packaged,
        text,
    }
}

/// Every directive zagent reads, in the order of the packaged file.
pub const DOCS: &[Doc] = &[
    d("PidFile", GENERAL, "", Some("/run/zagent/zagent.pid"),
      "File the running agent writes its process id to, and removes at exit. `zagent runtime` finds the agent through it. The packaged unit creates /run/zagent (RuntimeDirectory=). Empty or absent: no PID file."),
    d("LogType", GENERAL, "file when LogFile is set, else console", Some("console"),
      "Where the log goes: \"file\" (LogFile, rotated by size), \"system\" (syslog) or \"console\" (standard error). The package logs to the console, which systemd stores in the journal (`journalctl -u zagent`): no log file to rotate, nothing to write under a read-only /var."),
    d("LogFile", GENERAL, "", None,
      "Log file for LogType=file."),
    d("LogFileSize", GENERAL, "1", None,
      "With LogType=file: once the log grows past this many MB it is renamed to LogFile.old and a new one started. 0 disables rotation."),
    d("DebugLevel", GENERAL, "3", None,
      "How much is logged: 0 start and stop only, 1 critical, 2 errors, 3 warnings, 4 debugging, 5 extended debugging."),
    d("SourceIP", GENERAL, "", None,
      "Local address outgoing connections (active checks, net.tcp.service and the like) are made from."),
    d("AllowKey", GENERAL, "", None,
      "Item keys matching this pattern may be checked. `*` matches any text, in the name and in the parameters. AllowKey and DenyKey rules are tried in the order written; the first match decides, and a key no rule matches is allowed."),
    d("DenyKey", GENERAL, "system.run[*]", None,
      "Item keys matching this pattern are refused as unsupported (see AllowKey). system.run[*] is denied unless an AllowKey rule allows it."),
    d("EnableRemoteCommands", GENERAL, "0", None,
      "Deprecated: 1 is AllowKey=system.run[*], 0 is DenyKey=system.run[*], at the place of the line."),
    d("LogRemoteCommands", GENERAL, "0", None,
      "1 logs every system.run command with warning level."),
    d("Server", PASSIVE, "", Some("127.0.0.1,::1"),
      "Comma-separated addresses, CIDR networks or DNS names of the Zabbix servers and proxies allowed to query this agent (passive checks). Required unless StartAgents=0. The packaged value allows this host only: add your server or proxy here."),
    d("ListenPort", PASSIVE, "10050", None,
      "TCP port passive checks are answered on."),
    d("ListenIP", PASSIVE, "0.0.0.0 and ::", None,
      "Comma-separated local addresses to listen on."),
    d("StartAgents", PASSIVE, "3", None,
      "0 disables passive checks (no listening socket). Any other value enables them; zagent sizes its workers by itself, the number is kept for compatibility."),
    d("ServerActive", ACTIVE, "", None,
      "Comma-separated Zabbix servers or proxies (host or host:port, default port 10051) to fetch active checks from and send their values to. Servers of one high-availability cluster are separated by semicolons. Empty or absent: no active checks."),
    d("Hostname", ACTIVE, "from HostnameItem", None,
      "Comma-separated host names, as configured in the Zabbix frontend, used for active checks (one set of checks per name). Case-sensitive."),
    d("HostnameItem", ACTIVE, "system.hostname", None,
      "Item whose value becomes the host name when Hostname is not set; evaluated once at start."),
    d("HostMetadata", ACTIVE, "", None,
      "Text sent with active-check requests for auto-registration (at most 255 characters)."),
    d("HostMetadataItem", ACTIVE, "", None,
      "Item whose value is sent as host metadata when HostMetadata is not set."),
    d("HostInterface", ACTIVE, "", None,
      "Interface address or DNS name sent for auto-registration (at most 255 characters)."),
    d("HostInterfaceItem", ACTIVE, "", None,
      "Item whose value is sent as host interface when HostInterface is not set."),
    d("RefreshActiveChecks", ACTIVE, "120", None,
      "Seconds between two requests for the list of active checks."),
    d("BufferSend", ACTIVE, "5", None,
      "Collected values are sent at least this often (seconds)."),
    d("BufferSize", ACTIVE, "100", None,
      "Values held in memory before they are sent; values of log items never push others out of a full buffer."),
    d("MaxLinesPerSecond", ACTIVE, "20", None,
      "Most new lines per second a log or logrt item sends (the item's own maxlines parameter overrides it)."),
    d("HeartbeatFrequency", ACTIVE, "60", None,
      "Seconds between heartbeat messages to each active server (0 disables them). Not a zabbix_agentd 6.0 directive: keep it out of files that zabbix_agentd 6.0 must also read."),
    d("EnablePersistentBuffer", ACTIVE, "0", None,
      "1 keeps the values of active checks in the SQLite file PersistentBufferFile as well as in memory, so that values collected while the server is unreachable survive a restart of the agent (even a kill) and are sent after it, each once. A zabbix_agent2 directive: keep it out of files that zabbix_agentd 6.0 must also read."),
    d("PersistentBufferFile", ACTIVE, "", None,
      "The SQLite file of the persistent buffer; required with EnablePersistentBuffer=1 and refused without it. Its directory must exist and be writable; a file that is not a usable database is moved aside to <file>.corrupt and a new one started. Under the packaged unit only /var/lib/zagent is writable: e.g. /var/lib/zagent/buffer.db."),
    d("PersistentBufferPeriod", ACTIVE, "1h", None,
      "How long values are kept in the persistent buffer while the server is unreachable: seconds, or a number with s, m, h, d or w (1m-365d). Older values are dropped; values of log items are kept."),
    d("Alias", ADVANCED, "", None,
      "Another name for an item key, as alias:key, e.g. Alias=ping:agent.ping."),
    d("Timeout", ADVANCED, "3", None,
      "Seconds a check (including a user parameter or system.run command) may take."),
    d("AllowRoot", ADVANCED, "0", None,
      "Started as root, zagent switches to User= unless this is 1. Under the packaged unit zagent starts as the zabbix user and this does not apply."),
    d("User", ADVANCED, "zabbix", None,
      "Account zagent switches to when started as root with AllowRoot=0."),
    d("UnsafeUserParameters", USER, "0", None,
      "1 lets parameters of user parameters contain the characters \\ ' \" ` * ? [ ] { } ~ $ ! & ; ( ) < > | # @ and newlines."),
    d("UserParameter", USER, "", None,
      "A key answered by a shell command: UserParameter=key,command, or key[*],command with $1 to $9 for the parameters. `systemctl reload zagent` (or `zagent runtime userparameter_reload`) reloads them without a restart."),
    d("UserParameterDir", USER, "", None,
      "Working directory of user-parameter commands."),
    d("LoadModulePath", MODULES, "", None,
      "Accepted so that existing files load; zagent cannot load C modules and ignores it."),
    d("LoadModule", MODULES, "", None,
      "Accepted so that existing files load; the module is not loaded, its keys are unsupported, and check-config lists each line."),
    d("TLSConnect", TLS, "unencrypted", None,
      "How the agent connects to ServerActive: unencrypted, psk or cert."),
    d("TLSAccept", TLS, "unencrypted", None,
      "Comma-separated connection kinds accepted from servers and proxies: unencrypted, psk, cert."),
    d("TLSCAFile", TLS, "", None,
      "File of top-level CA certificates used to verify the peer's certificate."),
    d("TLSCRLFile", TLS, "", None,
      "File of revoked certificates."),
    d("TLSServerCertIssuer", TLS, "", None,
      "Issuer the server or proxy certificate must have."),
    d("TLSServerCertSubject", TLS, "", None,
      "Subject the server or proxy certificate must have."),
    d("TLSCertFile", TLS, "", None,
      "The agent's certificate (chain)."),
    d("TLSKeyFile", TLS, "", None,
      "The agent's private key; keep it readable by the zabbix user only."),
    d("TLSPSKIdentity", TLS, "", None,
      "Pre-shared key identity."),
    d("TLSPSKFile", TLS, "", None,
      "File holding the pre-shared key in hexadecimal; keep it readable by the zabbix user only."),
    d("TLSCipherCert13", TLS, "OpenSSL's", None,
      "TLS 1.3 cipher suites for certificate connections (OpenSSL syntax). Debian's zabbix_agentd refuses this directive; zagent applies it."),
    d("TLSCipherCert", TLS, "OpenSSL's", None,
      "TLS 1.2 cipher string for certificate connections (OpenSSL syntax)."),
    d("TLSCipherPSK13", TLS, "OpenSSL's", None,
      "TLS 1.3 cipher suites for PSK connections. Debian's zabbix_agentd refuses this directive; zagent applies it."),
    d("TLSCipherPSK", TLS, "OpenSSL's", None,
      "TLS 1.2 cipher string for PSK connections."),
    d("TLSCipherAll13", TLS, "OpenSSL's", None,
      "TLS 1.3 cipher suites when both certificate and PSK are accepted. Debian's zabbix_agentd refuses this directive; zagent applies it."),
    d("TLSCipherAll", TLS, "OpenSSL's", None,
      "TLS 1.2 cipher string when both certificate and PSK are accepted."),
    d("ListenBacklog", PASSIVE, "SOMAXCONN", None,
      "Length of the queue of connections not yet accepted, per listening socket."),
    d("Include", INCLUDE, "", Some("/etc/zagent/zagent.d/*.conf"),
      "Reads another file, every file of a directory, or the files matching a pattern whose last component holds `*`, as if written here. The package reads /etc/zagent/zagent.d/*.conf: put local changes there and this file stays as shipped across upgrades."),
];

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::directives::DIRECTIVES;
    use super::*;

    #[test]
    fn every_directive_is_documented_once() {
        for (name, _, _) in DIRECTIVES {
            let n = DOCS.iter().filter(|d| d.name == *name).count();
            assert_eq!(n, 1, "{name} needs exactly one entry in config::doc::DOCS");
        }
        assert_eq!(DOCS.len(), DIRECTIVES.len() + 1, "only Include is extra");
    }

    /// What a file that sets nothing but `Server` builds, and the same with `LogFile` set.
    fn built(extra: &str) -> crate::config::Config {
        let text = format!("Server=127.0.0.1\n{extra}");
        crate::config::parse_str(&text, std::path::Path::new("t.conf")).unwrap()
    }

    /// The built value of `name` as its documented default reads, or a check of the
    /// default that prose describes. Every directive must be here: a new one fails the
    /// test until its default is checked.
    fn agrees(name: &str, documented: &str, cfg: &crate::config::Config) -> bool {
        use crate::config::{LogType, TlsMode};
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        let none = documented.is_empty();
        let tls = &cfg.tls;
        match name {
            "PidFile" => none && cfg.pid_file.is_none(),
            "LogType" => {
                documented == "file when LogFile is set, else console"
                    && cfg.log_type == LogType::Console
                    && built("LogFile=/tmp/arch3-doc.log\n").log_type == LogType::File
            }
            "LogFile" => none && cfg.log_file.is_none(),
            "LogFileSize" => documented == cfg.log_file_size.to_string(),
            "DebugLevel" => documented == cfg.debug_level.to_string(),
            "SourceIP" => none && cfg.source_ip.is_none(),
            // Rules are none; the evaluator's implicit last rule denies system.run[*].
            "AllowKey" => none && cfg.key_rules.is_empty(),
            "DenyKey" => documented == "system.run[*]" && cfg.key_rules.is_empty(),
            "EnableRemoteCommands" => documented == "0" && cfg.key_rules.is_empty(),
            "LogRemoteCommands" => documented == u8::from(cfg.log_remote_commands).to_string(),
            // Required when listening: the file's own line is the value.
            "Server" | "ServerActive" => none && cfg.server_active.is_empty(),
            "ListenPort" => documented == cfg.listen_port.to_string(),
            "ListenIP" => {
                documented == "0.0.0.0 and ::"
                    && cfg.listen_ip
                        == [
                            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                        ]
            }
            "StartAgents" => documented == cfg.start_agents.to_string(),
            "Hostname" => documented == "from HostnameItem" && !cfg.hostname_set,
            "HostnameItem" => documented == cfg.hostname_item,
            "HostMetadata" => none && cfg.host_metadata.is_none(),
            "HostMetadataItem" => none && cfg.host_metadata_item.is_none(),
            "HostInterface" => none && cfg.host_interface.is_none(),
            "HostInterfaceItem" => none && cfg.host_interface_item.is_none(),
            "RefreshActiveChecks" => documented == cfg.refresh_active_checks.as_secs().to_string(),
            "BufferSend" => documented == cfg.buffer_send.as_secs().to_string(),
            "BufferSize" => documented == cfg.buffer_size.to_string(),
            "MaxLinesPerSecond" => documented == cfg.max_lines_per_second.to_string(),
            "HeartbeatFrequency" => documented == cfg.heartbeat_frequency.as_secs().to_string(),
            "EnablePersistentBuffer" => documented == "0" && cfg.persistent_buffer.is_none(),
            "PersistentBufferFile" => none && cfg.persistent_buffer.is_none(),
            "PersistentBufferPeriod" => {
                let p = built("EnablePersistentBuffer=1\nPersistentBufferFile=/tmp/arch3-doc.db\n")
                    .persistent_buffer
                    .unwrap()
                    .period;
                documented == "1h" && p == std::time::Duration::from_secs(3600)
            }
            "Alias" => none && cfg.aliases.is_empty(),
            "Timeout" => documented == cfg.timeout.as_secs().to_string(),
            "AllowRoot" => documented == u8::from(cfg.allow_root).to_string(),
            "User" => documented == cfg.user,
            "UnsafeUserParameters" => {
                documented == u8::from(cfg.unsafe_user_parameters).to_string()
            }
            "UserParameter" => none && cfg.user_parameters.is_empty(),
            "UserParameterDir" => none && cfg.user_parameter_dir.is_none(),
            "LoadModulePath" | "LoadModule" | "Include" => none,
            "TLSConnect" => documented == "unencrypted" && tls.connect == TlsMode::Unencrypted,
            "TLSAccept" => documented == "unencrypted" && tls.accept == [TlsMode::Unencrypted],
            "TLSCAFile" => none && tls.ca_file.is_none(),
            "TLSCRLFile" => none && tls.crl_file.is_none(),
            "TLSServerCertIssuer" => none && tls.server_cert_issuer.is_none(),
            "TLSServerCertSubject" => none && tls.server_cert_subject.is_none(),
            "TLSCertFile" => none && tls.cert_file.is_none(),
            "TLSKeyFile" => none && tls.key_file.is_none(),
            "TLSPSKIdentity" => none && tls.psk_identity.is_none(),
            "TLSPSKFile" => none && tls.psk_file.is_none(),
            "TLSCipherCert13" => documented == "OpenSSL's" && tls.cipher_cert13.is_none(),
            "TLSCipherCert" => documented == "OpenSSL's" && tls.cipher_cert.is_none(),
            "TLSCipherPSK13" => documented == "OpenSSL's" && tls.cipher_psk13.is_none(),
            "TLSCipherPSK" => documented == "OpenSSL's" && tls.cipher_psk.is_none(),
            "TLSCipherAll13" => documented == "OpenSSL's" && tls.cipher_all13.is_none(),
            "TLSCipherAll" => documented == "OpenSSL's" && tls.cipher_all.is_none(),
            "ListenBacklog" => {
                documented == "SOMAXCONN" && cfg.listen_backlog == libc::SOMAXCONN as u32
            }
            other => panic!("{other}: check its documented default in config::doc's test"),
        }
    }

    #[test]
    fn every_documented_default_is_the_built_one() {
        // A file with nothing but a Server line: every default applies.
        let cfg = built("");
        for doc in DOCS {
            assert!(
                agrees(doc.name, doc.default, &cfg),
                "{}: documented default {:?} is not what a file without it builds",
                doc.name,
                doc.default
            );
        }
    }

    #[test]
    fn the_no_file_defaults_are_a_files_defaults() {
        // Config::default() is the one table; a file that sets nothing differs only in
        // what the no-file mode chooses (Server, ListenIP) and in what it records.
        let file = built("");
        let d = crate::config::Config::default();
        let same = crate::config::Config {
            server: d.server.clone(),
            listen_ip: d.listen_ip.clone(),
            hostnames: d.hostnames.clone(),
            source: None,
            ..file
        };
        assert_eq!(same, d);
    }
}
