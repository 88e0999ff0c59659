//! What every directive means, in words: the text of the packaged `zagent.conf` and of
//! `zagent.conf(5)`, both generated from [`DOCS`] by `zagent generate`.
//!
//! Owns the prose and the value each directive takes in the packaged file; the names,
//! value kinds and ranges come from [`super::directives::DIRECTIVES`] (a test fails when a
//! directive has no entry here, so the documentation cannot fall behind the reader). It
//! must not check values or hold defaults the code uses (those are in `build`); the
//! defaults written here are tested against the built defaults where they can be.
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

    #[test]
    fn documented_integer_defaults_are_the_built_ones() {
        // A file with nothing but a Server line: every integer default applies.
        let cfg =
            crate::config::parse_str("Server=127.0.0.1\n", std::path::Path::new("t.conf")).unwrap();
        let get = |n: &str| DOCS.iter().find(|d| d.name == n).unwrap().default;
        assert_eq!(get("ListenPort"), cfg.listen_port.to_string());
        assert_eq!(get("Timeout"), cfg.timeout.as_secs().to_string());
        assert_eq!(
            get("RefreshActiveChecks"),
            cfg.refresh_active_checks.as_secs().to_string()
        );
        assert_eq!(get("BufferSend"), cfg.buffer_send.as_secs().to_string());
        assert_eq!(get("BufferSize"), cfg.buffer_size.to_string());
        assert_eq!(
            get("MaxLinesPerSecond"),
            cfg.max_lines_per_second.to_string()
        );
        assert_eq!(
            get("HeartbeatFrequency"),
            cfg.heartbeat_frequency.as_secs().to_string()
        );
        assert_eq!(get("EnablePersistentBuffer"), "0");
        assert_eq!(cfg.persistent_buffer, None);
        assert_eq!(get("PersistentBufferPeriod"), "1h");
        assert_eq!(get("LogFileSize"), cfg.log_file_size.to_string());
        assert_eq!(get("DebugLevel"), cfg.debug_level.to_string());
        assert_eq!(get("StartAgents"), cfg.start_agents.to_string());
        assert_eq!(get("User"), cfg.user);
    }
}
