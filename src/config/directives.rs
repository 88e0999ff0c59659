//! The directive table of zabbix_agentd 6.0 (Linux) plus zagent's additions, and the
//! per-line value checks (`wrong value of "X"`, `unknown parameter "X"`).
//!
//! Owns what each directive's value must look like on its own line; it must not check one
//! directive against another (that is `build`).

use std::collections::HashMap;

use zbx_proto::key::ItemKey;

use super::error::ConfigError;
use super::net::trim_list;
use super::reader::Entry;
use super::{KeyRule, Origin};

/// How a directive's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An unsigned integer with an optional K/M/G/T suffix, in `min..=max`.
    Int(u64, u64),
    /// A string; the last occurrence wins.
    Str,
    /// A comma list (blanks around commas dropped); the last occurrence wins.
    List,
    /// May repeat; every occurrence is kept in order.
    Multi,
    /// `AllowKey` (true) / `DenyKey` (false): a key pattern, kept in order.
    KeyRule(bool),
    /// A time in seconds with an optional s/m/h/d/w suffix (zabbix_agent2's form), in
    /// `min..=max` seconds.
    Time(u64, u64),
    /// `EnableRemoteCommands` (deprecated): exactly `0` or `1`, turned into a
    /// `DenyKey`/`AllowKey=system.run[*]` rule at its place.
    RemoteCommands,
}

/// What zagent does with a directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Implemented.
    Yes,
    /// Accepted and validated like zabbix_agentd, logged once at start, otherwise ignored.
    AcceptedOnly,
    /// Not a zabbix_agentd 6.0 directive; a zagent addition.
    ZagentOnly,
}

/// Every directive zagent accepts, in the order of the Debian zabbix_agentd.conf.
/// `Include` is handled by the reader.
pub const DIRECTIVES: &[(&str, Kind, Support)] = &[
    ("PidFile", Kind::Str, Support::Yes),
    ("LogType", Kind::Str, Support::Yes),
    ("LogFile", Kind::Str, Support::Yes),
    ("LogFileSize", Kind::Int(0, 1024), Support::Yes),
    ("DebugLevel", Kind::Int(0, 5), Support::Yes),
    ("SourceIP", Kind::Str, Support::Yes),
    ("AllowKey", Kind::KeyRule(true), Support::Yes),
    ("DenyKey", Kind::KeyRule(false), Support::Yes),
    ("EnableRemoteCommands", Kind::RemoteCommands, Support::Yes),
    ("LogRemoteCommands", Kind::Int(0, 1), Support::Yes),
    ("Server", Kind::List, Support::Yes),
    ("ListenPort", Kind::Int(1024, 32767), Support::Yes),
    ("ListenIP", Kind::List, Support::Yes),
    ("StartAgents", Kind::Int(0, 100), Support::Yes),
    ("ServerActive", Kind::List, Support::Yes),
    ("Hostname", Kind::List, Support::Yes),
    ("HostnameItem", Kind::Str, Support::Yes),
    ("HostMetadata", Kind::Str, Support::Yes),
    ("HostMetadataItem", Kind::Str, Support::Yes),
    ("HostInterface", Kind::Str, Support::Yes),
    ("HostInterfaceItem", Kind::Str, Support::Yes),
    ("RefreshActiveChecks", Kind::Int(60, 3600), Support::Yes),
    ("BufferSend", Kind::Int(1, 3600), Support::Yes),
    ("BufferSize", Kind::Int(2, 65535), Support::Yes),
    ("MaxLinesPerSecond", Kind::Int(1, 1000), Support::Yes),
    ("Alias", Kind::Multi, Support::Yes),
    ("Timeout", Kind::Int(1, 30), Support::Yes),
    ("AllowRoot", Kind::Int(0, 1), Support::Yes),
    ("User", Kind::Str, Support::Yes),
    ("UnsafeUserParameters", Kind::Int(0, 1), Support::Yes),
    ("UserParameter", Kind::Multi, Support::Yes),
    ("UserParameterDir", Kind::Str, Support::Yes),
    ("LoadModulePath", Kind::Str, Support::AcceptedOnly),
    ("LoadModule", Kind::Multi, Support::AcceptedOnly),
    ("TLSConnect", Kind::Str, Support::Yes),
    ("TLSAccept", Kind::List, Support::Yes),
    ("TLSCAFile", Kind::Str, Support::Yes),
    ("TLSCRLFile", Kind::Str, Support::Yes),
    ("TLSServerCertIssuer", Kind::Str, Support::Yes),
    ("TLSServerCertSubject", Kind::Str, Support::Yes),
    ("TLSCertFile", Kind::Str, Support::Yes),
    ("TLSKeyFile", Kind::Str, Support::Yes),
    ("TLSPSKIdentity", Kind::Str, Support::Yes),
    ("TLSPSKFile", Kind::Str, Support::Yes),
    ("TLSCipherCert13", Kind::Str, Support::Yes),
    ("TLSCipherCert", Kind::Str, Support::Yes),
    ("TLSCipherPSK13", Kind::Str, Support::Yes),
    ("TLSCipherPSK", Kind::Str, Support::Yes),
    ("TLSCipherAll13", Kind::Str, Support::Yes),
    ("TLSCipherAll", Kind::Str, Support::Yes),
    ("ListenBacklog", Kind::Int(0, i32::MAX as u64), Support::Yes),
    (
        "HeartbeatFrequency",
        Kind::Int(0, 3600),
        Support::ZagentOnly,
    ),
    // zabbix_agent2's persistent buffer (its ranges: 0-1, and 1m-365d as 6.0.14 checks).
    (
        "EnablePersistentBuffer",
        Kind::Int(0, 1),
        Support::ZagentOnly,
    ),
    ("PersistentBufferFile", Kind::Str, Support::ZagentOnly),
    (
        "PersistentBufferPeriod",
        Kind::Time(60, 365 * 86_400),
        Support::ZagentOnly,
    ),
];

/// The table entry of `name` (case-sensitive, as zabbix).
pub fn lookup(name: &str) -> Option<(Kind, Support)> {
    DIRECTIVES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, k, s)| (*k, *s))
}

/// zabbix's `str2uint64(value, "KMGT")`: digits with an optional K/M/G/T (×1024ⁿ) suffix.
pub fn parse_uint(value: &str) -> Option<u64> {
    let (digits, mult) = match value.as_bytes().last()? {
        b'K' => (&value[..value.len() - 1], 1u64 << 10),
        b'M' => (&value[..value.len() - 1], 1 << 20),
        b'G' => (&value[..value.len() - 1], 1 << 30),
        b'T' => (&value[..value.len() - 1], 1 << 40),
        _ => (value, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(mult)
}

/// zabbix_agent2's time value: digits with an optional `s`, `m`, `h`, `d` or `w` suffix,
/// in seconds.
pub fn parse_time(value: &str) -> Option<u64> {
    let (digits, mult) = match value.as_bytes().last()? {
        b's' => (&value[..value.len() - 1], 1u64),
        b'm' => (&value[..value.len() - 1], 60),
        b'h' => (&value[..value.len() - 1], 3600),
        b'd' => (&value[..value.len() - 1], 86_400),
        b'w' => (&value[..value.len() - 1], 7 * 86_400),
        _ => (value, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(mult)
}

/// Checks an `AllowKey`/`DenyKey` pattern: key syntax where `*` may stand anywhere.
pub fn valid_key_pattern(pattern: &str) -> bool {
    let name_end = pattern.find('[').unwrap_or(pattern.len());
    let name: String = pattern[..name_end]
        .chars()
        .map(|c| if c == '*' { 'x' } else { c })
        .collect();
    ItemKey::parse(&format!("{name}{}", &pattern[name_end..])).is_ok()
}

/// A value as it was set, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set<T> {
    /// The value.
    pub value: T,
    /// Its line.
    pub origin: Origin,
}

/// The directives of a file tree, each checked on its own line, before cross-checks.
#[derive(Debug, Default)]
pub struct Raw {
    /// `Str` and `List` directives (List already trimmed); last occurrence.
    pub strings: HashMap<&'static str, Set<String>>,
    /// `Int` directives; last occurrence.
    pub ints: HashMap<&'static str, Set<u64>>,
    /// `Multi` directives, every occurrence in order.
    pub multi: HashMap<&'static str, Vec<Set<String>>>,
    /// AllowKey / DenyKey / EnableRemoteCommands rules in file order.
    pub key_rules: Vec<KeyRule>,
    /// Directives zagent only accepts, for the start-up log.
    pub unsupported: Vec<(String, Origin)>,
    /// Directives zagent reads differently from zabbix_agentd ([`super::compat`]), for
    /// `check-config` and the start-up log.
    pub differences: Vec<(String, Origin)>,
    /// Things zabbix_agentd would warn about, for the start-up log.
    pub warnings: Vec<(String, Origin)>,
}

impl Raw {
    /// The string value of `name`, if set.
    pub fn str(&self, name: &str) -> Option<&Set<String>> {
        self.strings.get(name)
    }

    /// The integer value of `name`, if set.
    pub fn int(&self, name: &str) -> Option<&Set<u64>> {
        self.ints.get(name)
    }

    /// Every occurrence of a repeatable directive.
    pub fn all(&self, name: &str) -> &[Set<String>] {
        self.multi.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Reads every entry into a [`Raw`], collecting the line-level errors of zabbix_agentd:
/// unknown directives and values that do not fit their directive.
pub fn read_entries(entries: Vec<Entry>) -> (Raw, Vec<ConfigError>) {
    let mut raw = Raw::default();
    let mut errors = Vec::new();
    for e in entries {
        let Some(&(name, kind, support)) = DIRECTIVES.iter().find(|(n, _, _)| *n == e.key) else {
            // zabbix_agent2 options with no meaning for zagent load and are listed.
            if super::compat::ignored(&e.key).is_some() {
                raw.unsupported.push((e.key.clone(), e.origin.clone()));
                continue;
            }
            errors.push(ConfigError::new(
                &e.origin,
                format!(
                    "unknown parameter \"{}\"; check its spelling (names are case-sensitive) or remove the line",
                    e.key
                ),
            ));
            continue;
        };
        let wrong =
            |why: String| ConfigError::new(&e.origin, format!("wrong value of \"{name}\": {why}"));
        if support == Support::AcceptedOnly {
            raw.unsupported.push((name.to_string(), e.origin.clone()));
        }
        if let Some(note) = super::compat::difference(name) {
            raw.differences
                .push((format!("\"{name}\": {note}"), e.origin.clone()));
        }
        match kind {
            Kind::Int(min, max) => match parse_uint(&e.value) {
                Some(v) if (min..=max).contains(&v) => {
                    if let Some(prev) = raw.ints.insert(name, Set { value: v, origin: e.origin.clone() }) {
                        overridden(&mut raw.warnings, name, &prev.origin, &e.origin);
                    }
                }
                Some(v) => errors.push(wrong(format!("{v} is outside {min}-{max}"))),
                None => errors.push(wrong(format!(
                    "\"{}\" is not a whole number (optionally with a K, M, G or T suffix) in {min}-{max}",
                    e.value
                ))),
            },
            Kind::Time(min, max) => match parse_time(&e.value) {
                Some(v) if (min..=max).contains(&v) => {
                    if let Some(prev) = raw.ints.insert(name, Set { value: v, origin: e.origin.clone() }) {
                        overridden(&mut raw.warnings, name, &prev.origin, &e.origin);
                    }
                }
                Some(v) => errors.push(wrong(format!("{v} seconds is outside {min}-{max} (1m-365d)"))),
                None => errors.push(wrong(format!(
                    "\"{}\" is not a time: whole seconds, optionally with an s, m, h, d or w suffix (1m-365d)",
                    e.value
                ))),
            },
            Kind::Str | Kind::List => {
                let value = if kind == Kind::List { trim_list(&e.value) } else { e.value.clone() };
                if let Some(prev) = raw.strings.insert(name, Set { value, origin: e.origin.clone() }) {
                    overridden(&mut raw.warnings, name, &prev.origin, &e.origin);
                }
            }
            Kind::Multi => raw.multi.entry(name).or_default().push(Set {
                value: e.value.clone(),
                origin: e.origin.clone(),
            }),
            Kind::KeyRule(allow) => {
                if valid_key_pattern(&e.value) {
                    raw.key_rules.push(KeyRule {
                        allow,
                        pattern: e.value.clone(),
                        origin: e.origin.clone(),
                    });
                } else {
                    errors.push(wrong(format!(
                        "failed to process {name} access rule \"{}\"; it must be an item key where * stands for any text",
                        e.value
                    )));
                }
            }
            Kind::RemoteCommands => {
                let allow = match e.value.as_str() {
                    "1" => true,
                    "0" => false,
                    other => {
                        errors.push(wrong(format!("\"{other}\" is neither 0 nor 1")));
                        continue;
                    }
                };
                raw.warnings.push((
                    "EnableRemoteCommands parameter is deprecated, use AllowKey=system.run[*] or DenyKey=system.run[*] instead".to_string(),
                    e.origin.clone(),
                ));
                raw.key_rules.push(KeyRule {
                    allow,
                    pattern: "system.run[*]".to_string(),
                    origin: e.origin.clone(),
                });
            }
        }
    }
    (raw, errors)
}

fn overridden(warnings: &mut Vec<(String, Origin)>, name: &str, prev: &Origin, now: &Origin) {
    warnings.push((
        format!("\"{name}\" is set more than once; this value replaces the one at {prev}"),
        now.clone(),
    ));
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn uint_like_str2uint64() {
        assert_eq!(parse_uint("5"), Some(5));
        assert_eq!(parse_uint("05"), Some(5));
        assert_eq!(parse_uint("1K"), Some(1024));
        assert_eq!(parse_uint("2M"), Some(2 << 20));
        for bad in [
            "",
            "+5",
            "-1",
            "5x",
            "K",
            "1 K",
            "1k",
            "99999999999999999999999",
        ] {
            assert_eq!(parse_uint(bad), None, "{bad}");
        }
    }

    #[test]
    fn time_like_agent2() {
        assert_eq!(parse_time("90"), Some(90));
        assert_eq!(parse_time("1m"), Some(60));
        assert_eq!(parse_time("1h"), Some(3600));
        assert_eq!(parse_time("365d"), Some(365 * 86_400));
        assert_eq!(parse_time("1w"), Some(604_800));
        for bad in ["", "h", "1M", "1.5h", "1h5", "-1", " 1h"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn key_patterns() {
        for ok in [
            "system.run[*]",
            "vfs.file.*[*]",
            "*",
            "**",
            "a[**]",
            "a[]",
            "a[\"x,y\",*]",
        ] {
            assert!(valid_key_pattern(ok), "{ok}");
        }
        for bad in ["", "bad key", "a[b", "a[b]c", "[x]"] {
            assert!(!valid_key_pattern(bad), "{bad}");
        }
    }

    #[test]
    fn every_debian_directive_is_known() {
        // The "### Option:" list of Debian's zabbix_agentd.conf (6.0.14) plus ListenBacklog.
        let debian = "PidFile LogType LogFile LogFileSize DebugLevel SourceIP AllowKey DenyKey \
            EnableRemoteCommands LogRemoteCommands Server ListenPort ListenIP StartAgents \
            ServerActive Hostname HostnameItem HostMetadata HostMetadataItem HostInterface \
            HostInterfaceItem RefreshActiveChecks BufferSend BufferSize MaxLinesPerSecond Alias \
            Timeout AllowRoot User UnsafeUserParameters UserParameter UserParameterDir \
            LoadModulePath LoadModule TLSConnect TLSAccept TLSCAFile TLSCRLFile \
            TLSServerCertIssuer TLSServerCertSubject TLSCertFile TLSKeyFile TLSPSKIdentity \
            TLSPSKFile TLSCipherCert13 TLSCipherCert TLSCipherPSK13 TLSCipherPSK \
            TLSCipherAll13 TLSCipherAll ListenBacklog";
        for d in debian.split_whitespace() {
            assert!(lookup(d).is_some(), "{d}");
        }
        // + HeartbeatFrequency and agent2's three persistent-buffer directives.
        assert_eq!(DIRECTIVES.len(), debian.split_whitespace().count() + 4);
    }
}
