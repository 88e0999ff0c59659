//! Switching from zabbix_agentd or zabbix_agent2: which of their directives zagent reads
//! differently or ignores, with the sentence `check-config` prints for each.
//!
//! Owns two tables and nothing else: [`DIFFERENCES`] (directives zagent implements, but
//! where a file that works for zagent would not work, or not the same way, for the
//! official agent, or the other way round) and [`IGNORED`] (directives accepted so that
//! an existing file loads, with no effect). It must not check values (that is
//! `directives`) or decide anything at run time.

/// Directives zagent implements but that differ from zabbix_agentd 6.0 (Debian build).
pub const DIFFERENCES: &[(&str, &str)] = &[
    (
        "HeartbeatFrequency",
        "zabbix_agentd 6.0 does not know HeartbeatFrequency and refuses to start with it; zagent sends active-check heartbeats like zabbix_agent2 and 7.0 agents",
    ),
    ("EnablePersistentBuffer", PERSIST),
    ("PersistentBufferFile", PERSIST),
    ("PersistentBufferPeriod", PERSIST),
    ("TLSCipherCert13", CIPHER13),
    ("TLSCipherPSK13", CIPHER13),
    ("TLSCipherAll13", CIPHER13),
];

const PERSIST: &str = "a zabbix_agent2 directive (zabbix_agentd 6.0 refuses to start with it); zagent keeps the session and value ids of each server and host across restarts, so no value is sent twice, and moves a corrupt file aside instead of deleting it";

const CIPHER13: &str = "Debian's zabbix_agentd (built with GnuTLS) refuses the TLS 1.3 cipher directives; zagent (OpenSSL) applies them";

/// Directives accepted and ignored, with why. Names ending in `.` are prefixes
/// (`Plugins.` covers every `Plugins.<Name>.<Option>` line).
pub const IGNORED: &[(&str, &str)] = &[
    (
        "LoadModulePath",
        "zagent cannot load zabbix_agentd's C modules; this directive has no effect",
    ),
    (
        "LoadModule",
        "zagent cannot load zabbix_agentd's C modules: the module is not loaded and its item keys answer \"Unsupported item key\"",
    ),
    (
        "ControlSocket",
        "zabbix_agent2's runtime-control socket; zagent takes runtime commands as signals (`zagent runtime userparameter_reload`, `systemctl reload zagent`); ignored",
    ),
    (
        "StatusPort",
        "zabbix_agent2's HTTP status page is not served by zagent; ignored",
    ),
    (
        "PluginSocket",
        "zabbix_agent2 loadable-plugin socket; zagent has no plugins; ignored",
    ),
    (
        "PluginTimeout",
        "zabbix_agent2 plugin timeout; zagent has no plugins (Timeout= applies to every check); ignored",
    ),
    (
        "ForceActiveChecksOnStart",
        "zabbix_agent2 option; zagent runs active checks on their normal schedule; ignored",
    ),
    (
        "Plugins.",
        "zabbix_agent2 plugin setting; zagent has no plugins (keys it implements are built in and take no plugin settings); ignored",
    ),
];

/// The note for a directive zagent implements differently, if any.
pub fn difference(name: &str) -> Option<&'static str> {
    DIFFERENCES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, why)| *why)
}

/// Why `name` is accepted and ignored, if it is.
pub fn ignored(name: &str) -> Option<&'static str> {
    IGNORED
        .iter()
        .find(|(n, _)| {
            if n.ends_with('.') {
                name.len() > n.len() && name.starts_with(n)
            } else {
                *n == name
            }
        })
        .map(|(_, why)| *why)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert!(ignored("ControlSocket").is_some());
        assert!(ignored("Plugins.Log.MaxLinesPerSecond").is_some());
        assert!(ignored("Plugins.").is_none());
        assert!(ignored("Plugin").is_none());
        assert!(ignored("Server").is_none());
        assert!(difference("TLSCipherPSK13").is_some());
        assert!(difference("TLSCipherPSK").is_none());
    }

    #[test]
    fn tables_do_not_overlap_the_implemented_directives() {
        // An ignored directive must not be one zagent implements; a difference must be.
        for (name, _) in IGNORED {
            if let Some((_, support)) = super::super::directives::lookup(name) {
                assert_eq!(
                    support,
                    super::super::directives::Support::AcceptedOnly,
                    "{name}"
                );
            }
        }
        for (name, _) in DIFFERENCES {
            assert!(super::super::directives::lookup(name).is_some(), "{name}");
        }
    }
}
