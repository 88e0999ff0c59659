//! The log item keys (`log`, `logrt`, `log.count`, `logrt.count`, `eventlog`) as the
//! registry declares them: names and parameters as data, like every key. Passive checks
//! and `zagent test` get zabbix_agentd's "active only" answer; the active worker resolves
//! them through [`AgentCtx::prepare_active`] (alias, AllowKey/DenyKey, parameter count)
//! and tails the files itself ([`crate::active::log`]). This module must not read files.

use super::{AgentCtx, Handler, KeyDef, KeyResult, NotSupported, ParamDef, Params, Request};

/// The log keys as passive checks and `zagent test`/`keys` see them: they exist, but
/// only as active checks (zabbix_agentd's answer). The active worker runs them itself
/// ([`crate::active::log`]).
pub const KEYS: &[KeyDef] = &[
    active_only(
        "log",
        "Log file lines (active checks only).",
        LOG_PARAMS,
        "log[logfile]",
    ),
    active_only(
        "log.count",
        "Count of matching log file lines (active checks only).",
        COUNT_PARAMS,
        "log.count[logfile]",
    ),
    active_only(
        "logrt",
        "Lines of a rotated log file (active checks only).",
        LOG_PARAMS,
        "logrt[logfile]",
    ),
    active_only(
        "logrt.count",
        "Count of matching lines of a rotated log file (active checks only).",
        COUNT_PARAMS,
        "logrt.count[logfile]",
    ),
    active_only(
        "eventlog",
        "Windows event log (active checks only; not on Linux).",
        EVENTLOG_PARAMS,
        "eventlog[system]",
    ),
];

/// zabbix_agentd's answer to a log key outside active checks.
pub const ACTIVE_ONLY: &str = "Accessible only as active check.";

const LOG_PARAMS: &[ParamDef] = &[
    ParamDef::opt("file"),
    ParamDef::opt("<regexp>"),
    ParamDef::opt("<encoding>"),
    ParamDef::opt("<maxlines>"),
    ParamDef::opt("<mode>"),
    ParamDef::opt("<output>"),
    ParamDef::opt("<maxdelay>"),
    ParamDef::opt("<options>"),
];

const COUNT_PARAMS: &[ParamDef] = &[
    ParamDef::opt("file"),
    ParamDef::opt("<regexp>"),
    ParamDef::opt("<encoding>"),
    ParamDef::opt("<maxproclines>"),
    ParamDef::opt("<mode>"),
    ParamDef::opt("<maxdelay>"),
    ParamDef::opt("<options>"),
];

const EVENTLOG_PARAMS: &[ParamDef] = &[
    ParamDef::opt("name"),
    ParamDef::opt("<regexp>"),
    ParamDef::opt("<severity>"),
    ParamDef::opt("<source>"),
    ParamDef::opt("<eventid>"),
    ParamDef::opt("<maxlines>"),
    ParamDef::opt("<mode>"),
];

const fn active_only(
    name: &'static str,
    description: &'static str,
    params: &'static [ParamDef],
    test_key: &'static str,
) -> KeyDef {
    KeyDef {
        name,
        description,
        params: Params::ActiveOnly(params),
        test_key,
        handler: Handler::Inline(only_active),
    }
}

fn only_active(_: &AgentCtx, _: &Request) -> KeyResult {
    Err(NotSupported::new(ACTIVE_ONLY))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use crate::keys::reason;
    use crate::keys::AgentCtx;

    fn ctx(conf: &str) -> Arc<AgentCtx> {
        let cfg = crate::config::parse_str(conf, Path::new("test.conf")).unwrap();
        AgentCtx::new(Arc::new(cfg))
    }

    /// The worker's path for log items is the registry's: aliases, AllowKey/DenyKey and
    /// the declared parameter count apply as to any key.
    #[test]
    fn active_log_keys_resolve_through_the_registry() {
        let c =
            ctx("Server=127.0.0.1\nAlias=applog:log[/var/log/app.log,error]\nDenyKey=logrt[*]\n");
        let k = c.prepare_active("applog").unwrap();
        assert_eq!(k.name, "log");
        assert_eq!(k.param(0), Some("/var/log/app.log"));
        assert_eq!(k.param(1), Some("error"));
        let denied = c.prepare_active("logrt[/var/log/x]").unwrap_err();
        assert_eq!(denied.0, reason::UNSUPPORTED_KEY);
        let many = c.prepare_active("log.count[/x,,,,,,,extra]").unwrap_err();
        assert_eq!(many.0, reason::TOO_MANY);
        let unknown = c.prepare_active("nolog[/x]").unwrap_err();
        assert_eq!(unknown.0, reason::UNSUPPORTED_KEY);
    }
}
