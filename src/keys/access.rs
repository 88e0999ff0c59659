//! Which keys may run: `AllowKey`/`DenyKey` rules, and `Alias` lines that rename keys.
//!
//! Owns compiling the rules and aliases of a [`Config`](crate::config::Config) and matching
//! a parsed key against them, with zabbix_agentd 6.0's semantics (checked against the real
//! binary with `zabbix_agentd -t`):
//! - rules are tried top-down, the first match wins, a key matching none is allowed;
//! - `DenyKey=system.run[*]` is appended unless a rule equal to it (or a match-all `*`
//!   rule) is present;
//! - rules after a match-all `*` rule are dropped as unreachable, trailing AllowKey rules
//!   (except `system.run` ones) are dropped as redundant, each with a warning; a set left
//!   empty by that is a start-up error; duplicate or conflicting rules are skipped with a
//!   warning;
//! - `*` in the key name and in parameters matches any run of characters (case-sensitive,
//!   nothing else is special); `key` does not match `key[*]` (but does match `*`), a last
//!   parameter `*` matches any number of further parameters, `key[]` matches only empty
//!   brackets.
//!
//! It must not run keys or know which keys exist.

use std::borrow::Cow;
use std::collections::HashMap;

use zbx_proto::key::{is_key_char, ItemKey};

use crate::config::{Alias, KeyRule, Origin};

/// The rule zabbix_agentd appends to every rule set.
pub const IMPLICIT_DENY: &str = "system.run[*]";

/// A rule set or alias list that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// The pattern is not a key pattern.
    #[error("{origin}: failed to process {directive} access rule \"{pattern}\": expected a key name with optional * wildcards and optional [parameters]")]
    BadPattern {
        /// `AllowKey` or `DenyKey`.
        directive: &'static str,
        /// The pattern as written.
        pattern: String,
        /// Where.
        origin: Origin,
    },
    /// After dropping unreachable and redundant rules nothing is left.
    #[error("Item key access rules are configured to match all keys, indicating possible configuration problem.  Please remove the rules if that was the purpose.")]
    MatchesAll,
    /// Two `Alias` lines with the same name.
    #[error("failed to add Alias \"{alias}\": duplicate name (remove one of the Alias lines)")]
    DuplicateAlias {
        /// The alias name.
        alias: String,
    },
}

/// One compiled rule.
#[derive(Debug, Clone)]
struct Rule {
    allow: bool,
    /// As written, for log lines.
    pattern: String,
    /// Key-name pattern, consecutive `*` collapsed.
    name: String,
    /// Parameter patterns, each with consecutive `*` collapsed, repeated trailing `*`
    /// parameters collapsed into one.
    params: Vec<String>,
    /// Written as `key[]`.
    empty_args: bool,
}

impl Rule {
    fn directive(&self) -> &'static str {
        if self.allow {
            "AllowKey"
        } else {
            "DenyKey"
        }
    }

    /// Same pattern (the type is not compared).
    fn same_pattern(&self, other: &Rule) -> bool {
        self.empty_args == other.empty_args
            && self.name == other.name
            && self.params == other.params
    }

    /// The `*` rule (a bare `*`; as in zabbix_agentd, `*[]` counts too).
    fn matches_all(&self) -> bool {
        self.name == "*" && self.params.is_empty()
    }

    /// Parses `pattern`: a name of key characters and `*`, then nothing or `[params]`.
    fn parse(pattern: &str, allow: bool) -> Option<Rule> {
        let name_len = pattern
            .bytes()
            .take_while(|c| is_key_char(*c) || *c == b'*')
            .count();
        if name_len == 0 {
            return None;
        }
        let mut rule = Rule {
            allow,
            pattern: pattern.to_string(),
            name: minimize(&pattern[..name_len]),
            params: Vec::new(),
            empty_args: false,
        };
        let rest = &pattern[name_len..];
        if rest.is_empty() {
            return Some(rule);
        }
        let inner = rest.strip_prefix('[')?.strip_suffix(']')?;
        if inner.is_empty() {
            rule.empty_args = true;
            return Some(rule);
        }
        // Parameter syntax is item-key syntax; borrow the key parser with a stand-in name.
        let parsed = ItemKey::parse(&format!("x[{inner}]")).ok()?;
        rule.params = parsed.params.iter().map(|p| minimize(&p.value)).collect();
        while rule.params.len() > 1
            && rule.params[rule.params.len() - 1] == "*"
            && rule.params[rule.params.len() - 2] == "*"
        {
            rule.params.pop();
        }
        Some(rule)
    }

    /// Whether this rule matches `key`.
    fn matches(&self, key: &ItemKey) -> bool {
        if self.matches_all() {
            return true;
        }
        let nparam = key.params.len();
        let empty_args = nparam == 1 && key.params[0].value.is_empty();
        let nrule = self.params.len();
        if let Some(last) = self.params.last() {
            if last == "*" {
                if nrule == 1 && nparam == 0 {
                    return false; // `key[*]` does not match a bare `key`
                }
            } else if nparam < nrule || (nparam > nrule && !empty_args) {
                return false; // parameter counts differ
            }
        }
        if !wildcard_match(&key.name, &self.name) {
            return false;
        }
        if self.empty_args {
            return empty_args;
        }
        if nrule == 0 {
            return nparam == 0;
        }
        for (i, pat) in self.params.iter().enumerate() {
            let last = i + 1 == nrule;
            if last && pat == "*" {
                return true;
            }
            match key.params.get(i) {
                Some(p) if wildcard_match(&p.value, pat) => {}
                _ => return false,
            }
        }
        true
    }
}

/// Collapses runs of `*` (they match the same).
fn minimize(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        if c == '*' && out.ends_with('*') {
            continue;
        }
        out.push(c);
    }
    out
}

/// `*` matches any run of characters (also none); everything else matches itself.
pub fn wildcard_match(value: &str, pattern: &str) -> bool {
    let v = value.as_bytes();
    let p = pattern.as_bytes();
    let (mut vi, mut pi) = (0usize, 0usize);
    // Where the last `*` was seen and which value position it is currently matched up to.
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, vi));
            pi += 1;
        } else if pi < p.len() && p[pi] == v[vi] {
            pi += 1;
            vi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

/// The compiled `AllowKey`/`DenyKey` rules, with the implicit `DenyKey=system.run[*]`.
#[derive(Debug, Clone)]
pub struct KeyRules {
    rules: Vec<Rule>,
    warnings: Vec<String>,
}

impl Default for KeyRules {
    /// No configured rules: only the implicit `DenyKey=system.run[*]`.
    fn default() -> Self {
        // Compiling no rules cannot fail; were it to, deny rather than allow system.run.
        KeyRules::compile(&[]).unwrap_or_else(|_| KeyRules::deny_all())
    }
}

impl KeyRules {
    /// Compiles the rules in file order. Warnings (skipped duplicates, unreachable or
    /// redundant rules) are logged and kept in [`KeyRules::warnings`].
    pub fn compile(config_rules: &[KeyRule]) -> Result<KeyRules, AccessError> {
        let mut rules: Vec<Rule> = Vec::new();
        let mut warnings = Vec::new();
        for r in config_rules {
            let Some(rule) = Rule::parse(&r.pattern, r.allow) else {
                return Err(AccessError::BadPattern {
                    directive: if r.allow { "AllowKey" } else { "DenyKey" },
                    pattern: r.pattern.clone(),
                    origin: r.origin.clone(),
                });
            };
            if let Some(prev) = rules.iter().find(|p| p.same_pattern(&rule)) {
                warnings.push(format!(
                    "{} access rule \"{}\" was not added because it {} another rule defined above",
                    rule.directive(),
                    rule.pattern,
                    if prev.allow == rule.allow {
                        "duplicates"
                    } else {
                        "conflicts with"
                    }
                ));
                continue;
            }
            rules.push(rule);
        }

        let implicit = Rule::parse(IMPLICIT_DENY, false).ok_or(AccessError::MatchesAll)?;
        let mut sysrun_index = rules.iter().position(|r| r.same_pattern(&implicit));
        let configured = rules.len() - usize::from(sysrun_index.is_some());
        if configured > 0 {
            if let Some(i) = rules.iter().position(Rule::matches_all) {
                sysrun_index = Some(sysrun_index.map_or(i, |s| s.min(i)));
                for dropped in rules.drain(i + 1..) {
                    warnings.push(format!(
                        "removed unreachable {} \"{}\" rule",
                        dropped.directive(),
                        dropped.pattern
                    ));
                }
            }
            // Trailing AllowKey rules change nothing (allowing is the default), except for
            // system.run, which the implicit rule denies.
            let mut i = rules.len();
            while i > 0 {
                i -= 1;
                if !rules[i].allow {
                    break;
                }
                if rules[i].name != "system.run" {
                    let removed = rules.remove(i);
                    if Some(i) != sysrun_index {
                        warnings.push(format!(
                            "removed redundant trailing AllowKey \"{}\" rule",
                            removed.pattern
                        ));
                    }
                }
            }
            if rules.is_empty() {
                return Err(AccessError::MatchesAll);
            }
        }
        if sysrun_index.is_none() {
            rules.push(implicit);
        }
        for w in &warnings {
            tracing::warn!("{w}");
        }
        Ok(KeyRules { rules, warnings })
    }

    /// A rule set that denies every key (`DenyKey=*`).
    pub fn deny_all() -> KeyRules {
        KeyRules {
            rules: vec![Rule {
                allow: false,
                pattern: "*".to_string(),
                name: "*".to_string(),
                params: Vec::new(),
                empty_args: false,
            }],
            warnings: Vec::new(),
        }
    }

    /// Whether `key` may run.
    pub fn allows(&self, key: &ItemKey) -> bool {
        match self.rules.iter().find(|r| r.matches(key)) {
            Some(rule) => rule.allow,
            None => true,
        }
    }

    /// Whether the key text may run; a key that does not parse is denied.
    pub fn allows_text(&self, key: &str) -> bool {
        ItemKey::parse(key)
            .map(|k| self.allows(&k))
            .unwrap_or(false)
    }

    /// What compiling said about skipped or dropped rules.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The effective rules as `AllowKey=…`/`DenyKey=…` lines, in evaluation order.
    pub fn effective(&self) -> Vec<String> {
        self.rules
            .iter()
            .map(|r| format!("{}={}", r.directive(), r.pattern))
            .collect()
    }
}

/// The `Alias` lines.
#[derive(Debug, Clone, Default)]
pub struct Aliases {
    exact: HashMap<String, String>,
    /// Names in configuration order.
    order: Vec<String>,
    /// `name[*]` aliases: (`name[`, target).
    flexible: Vec<(String, String)>,
}

impl Aliases {
    /// Compiles `Alias` lines; a name used twice is an error.
    pub fn compile(aliases: &[Alias]) -> Result<Aliases, AccessError> {
        let mut out = Aliases::default();
        for a in aliases {
            if out.exact.contains_key(&a.alias) {
                return Err(AccessError::DuplicateAlias {
                    alias: a.alias.clone(),
                });
            }
            out.exact.insert(a.alias.clone(), a.key.clone());
            out.order.push(a.alias.clone());
            if a.alias.len() > 3 && a.alias.ends_with("[*]") {
                let prefix = a.alias[..a.alias.len() - 2].to_string();
                out.flexible.push((prefix, a.key.clone()));
            }
        }
        Ok(out)
    }

    /// The key to run for the requested `key`: an exact alias first, then a `name[*]`
    /// alias, whose target's `[*]` is replaced with the request's parameters. A key that
    /// does not parse is returned unchanged.
    pub fn resolve<'a>(&'a self, key: &'a str) -> Cow<'a, str> {
        if self.exact.is_empty() || ItemKey::parse(key).is_err() {
            return Cow::Borrowed(key);
        }
        if let Some(target) = self.exact.get(key) {
            return Cow::Borrowed(target);
        }
        for (prefix, target) in &self.flexible {
            if !key.starts_with(prefix.as_str()) {
                continue;
            }
            return match target.strip_suffix("[*]").filter(|t| !t.is_empty()) {
                // `prefix` ends with `[`: the request's brackets start one byte earlier.
                Some(base) => Cow::Owned(format!("{base}{}", &key[prefix.len() - 1..])),
                None => Cow::Borrowed(target),
            };
        }
        Cow::Borrowed(key)
    }

    /// Alias names in configuration order.
    pub fn names(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.order.iter().map(String::as_str)
    }

    /// Whether any alias is configured.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn rules(lines: &[&str]) -> Result<KeyRules, AccessError> {
        let config: Vec<KeyRule> = lines
            .iter()
            .enumerate()
            .map(|(n, l)| {
                let (d, p) = l.split_once('=').unwrap_or(("DenyKey", l));
                KeyRule {
                    allow: d == "AllowKey",
                    pattern: p.to_string(),
                    origin: Origin {
                        file: "t.conf".into(),
                        line: n + 1,
                    },
                }
            })
            .collect();
        KeyRules::compile(&config)
    }

    /// (rules, [(key, allowed)]) — every row checked against zabbix_agentd 6.0.14 -t.
    #[test]
    fn matches_like_zabbix_agentd() {
        let keys = [
            "upf",
            "upf[]",
            "upf[a]",
            "upf[a,b]",
            "upf[a,b,c]",
            "upf[,]",
            "upf[b]",
        ];
        let table: &[(&[&str], [bool; 7])] = &[
            (
                &["DenyKey=upf"],
                [false, true, true, true, true, true, true],
            ),
            (
                &["DenyKey=upf[*]"],
                [true, false, false, false, false, false, false],
            ),
            (
                &["DenyKey=upf[]"],
                [true, false, true, true, true, true, true],
            ),
            (
                &["DenyKey=upf[a]"],
                [true, true, false, true, true, true, true],
            ),
            (
                &["DenyKey=upf[a,*]"],
                [true, true, false, false, false, true, true],
            ),
            (
                &["DenyKey=upf[*,b]"],
                [true, true, true, false, true, true, true],
            ),
            (
                &["DenyKey=upf[a,*,*]"],
                [true, true, false, false, false, true, true],
            ),
            (
                &["DenyKey=*[*]"],
                [true, false, false, false, false, false, false],
            ),
            (
                &["DenyKey=u*f[a*]"],
                [true, true, false, true, true, true, true],
            ),
        ];
        for (lines, expect) in table {
            let r = rules(lines).unwrap();
            for (key, want) in keys.iter().zip(expect) {
                assert_eq!(r.allows_text(key), *want, "{lines:?} {key}");
            }
        }
    }

    #[test]
    fn more_zabbix_agentd_cases() {
        let r = rules(&["DenyKey=AGENT.ping"]).unwrap();
        assert!(r.allows_text("agent.ping"), "case-sensitive");
        let r = rules(&["DenyKey=upf[\"a,b\",*]"]).unwrap();
        assert!(!r.allows_text("upf[\"a,b\",c]"));
        assert!(r.allows_text("upf[a,b]"));
        let r = rules(&["DenyKey=upf[?]"]).unwrap();
        assert!(!r.allows_text("upf[?]"));
        assert!(r.allows_text("upf[a]"), "? is literal");
        let r = rules(&["DenyKey=upf[a, b ]"]).unwrap();
        assert!(!r.allows_text("upf[a, b ]"));
        assert!(!r.allows_text("upf[a,b ]"));
        assert!(
            r.allows_text("upf[a,b]"),
            "trailing spaces of unquoted params count"
        );
        let r = rules(&["DenyKey=upf[**a]"]).unwrap();
        assert!(!r.allows_text("upf[xa]"));
        assert!(!r.allows_text("upf[a]"));
        let r = rules(&["AllowKey=agent.version", "DenyKey=agent.*"]).unwrap();
        assert!(r.allows_text("agent.version"));
        assert!(!r.allows_text("agent.ping"));
        assert!(r.allows_text("up"));
    }

    #[test]
    fn system_run_denied_by_default() {
        let none = KeyRules::deny_all();
        assert!(!none.allows_text("agent.ping"));
        assert!(!none.allows_text("x[y]"));
        let r = KeyRules::default();
        assert!(!r.allows_text("system.run[echo hi]"));
        assert!(!r.allows_text("system.run[]"));
        // `system.run[*]` does not match a bare key: the handler answers it.
        assert!(r.allows_text("system.run"));
        assert!(r.allows_text("agent.ping"));
        assert_eq!(r.effective(), vec!["DenyKey=system.run[*]".to_string()]);
    }

    #[test]
    fn allow_system_run_with_pattern() {
        let r = rules(&["AllowKey=system.run[echo *]"]).unwrap();
        assert!(r.allows_text("system.run[echo hi]"));
        assert!(!r.allows_text("system.run[echo hi,nowait]"));
        assert!(!r.allows_text("system.run[ls]"));
        assert_eq!(
            r.effective(),
            vec!["AllowKey=system.run[echo *]", "DenyKey=system.run[*]"]
        );
        let r = rules(&["AllowKey=system.run[*]"]).unwrap();
        assert!(r.allows_text("system.run[ls,nowait]"));
        assert_eq!(r.effective(), vec!["AllowKey=system.run[*]"]);
    }

    #[test]
    fn finalisation_like_zabbix_agentd() {
        assert_eq!(rules(&["AllowKey=*"]).unwrap_err(), AccessError::MatchesAll);
        assert_eq!(
            rules(&["AllowKey=*", "DenyKey=x"]).unwrap_err(),
            AccessError::MatchesAll
        );
        let r = rules(&["DenyKey=*"]).unwrap();
        assert_eq!(r.effective(), vec!["DenyKey=*"]);
        assert!(!r.allows_text("agent.ping"));
        assert!(!r.allows_text("system.run[x]"));

        let r = rules(&["AllowKey=up", "DenyKey=*", "DenyKey=upf"]).unwrap();
        assert_eq!(r.warnings(), ["removed unreachable DenyKey \"upf\" rule"]);
        assert!(r.allows_text("up"));
        assert!(!r.allows_text("upf"));

        let r = rules(&["DenyKey=agent.*", "AllowKey=agent.version"]).unwrap();
        assert_eq!(
            r.warnings(),
            ["removed redundant trailing AllowKey \"agent.version\" rule"]
        );
        assert!(!r.allows_text("agent.version"));

        let r = rules(&["DenyKey=up", "DenyKey=up", "AllowKey=up"]).unwrap();
        assert_eq!(
            r.warnings(),
            [
                "DenyKey access rule \"up\" was not added because it duplicates another rule defined above",
                "AllowKey access rule \"up\" was not added because it conflicts with another rule defined above",
            ]
        );
        assert!(!r.allows_text("up"));
    }

    #[test]
    fn bad_patterns_are_errors() {
        for bad in ["bad key", "", "up[a", "upf[a]x", "[a]"] {
            let e = rules(&[&format!("DenyKey={bad}")]).unwrap_err();
            assert!(
                matches!(&e, AccessError::BadPattern { pattern, .. } if pattern == bad),
                "{bad}: {e}"
            );
            assert!(e
                .to_string()
                .starts_with("t.conf:1: failed to process DenyKey access rule"));
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("", "*"));
        assert!(wildcard_match("abc", "a*c"));
        assert!(wildcard_match("abcbc", "a*bc"));
        assert!(!wildcard_match("abcb", "a*bc"));
        assert!(wildcard_match("vfs.file.contents", "vfs.*"));
        assert!(!wildcard_match("vfs", "vfs.*"));
        assert!(wildcard_match("/etc/passwd", "/etc/*"));
    }

    #[test]
    fn aliases() {
        let a = Aliases::compile(&[
            Alias {
                alias: "al".into(),
                key: "agent.ping".into(),
            },
            Alias {
                alias: "my.ps[*]".into(),
                key: "proc.num[*]".into(),
            },
            Alias {
                alias: "fixed[*]".into(),
                key: "agent.version".into(),
            },
        ])
        .unwrap();
        assert_eq!(a.resolve("al"), "agent.ping");
        assert_eq!(a.resolve("al[x]"), "al[x]");
        assert_eq!(a.resolve("my.ps[zabbix,root]"), "proc.num[zabbix,root]");
        assert_eq!(a.resolve("my.ps[]"), "proc.num[]");
        assert_eq!(a.resolve("my.ps"), "my.ps");
        assert_eq!(a.resolve("fixed[a]"), "agent.version");
        assert_eq!(a.resolve("broken key"), "broken key");
        let dup = Aliases::compile(&[
            Alias {
                alias: "x".into(),
                key: "a".into(),
            },
            Alias {
                alias: "x".into(),
                key: "b".into(),
            },
        ]);
        assert!(matches!(dup, Err(AccessError::DuplicateAlias { .. })));
    }
}
