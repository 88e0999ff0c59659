//! `system.uptime`, `system.boottime` and `system.localtime`.
//! It owns parameter meaning, arithmetic and reason texts, never raw I/O.

use super::read_proc;
use crate::keys::{AgentCtx, KeyResult, NotSupported, Request, Value};
use crate::sys::procfs::{self};

// ---- time ----------------------------------------------------------------------------

pub(super) fn uptime(_: &AgentCtx, _: &Request) -> KeyResult {
    let text = read_proc("uptime")?;
    procfs::parse_uptime(&text)
        .map(Value::Uint)
        .ok_or_else(|| NotSupported::new("Cannot obtain system information: bad /proc/uptime."))
}

pub(super) fn boottime(_: &AgentCtx, _: &Request) -> KeyResult {
    let text = read_proc("stat")?;
    procfs::parse_btime(&text)
        .map(Value::Uint)
        .ok_or_else(|| NotSupported::new("Cannot find a line with \"btime\" in /proc/stat."))
}

/// `system.localtime[local]` text: `YYYY-MM-DD,HH:MM:SS.mmm,+HH:MM`.
pub fn local_time_text<Tz: chrono::TimeZone>(t: &chrono::DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.format("%Y-%m-%d,%H:%M:%S%.3f,%:z").to_string()
}

pub(super) fn localtime(_: &AgentCtx, req: &Request) -> KeyResult {
    match req.param(0) {
        "local" => Ok(Value::Str(local_time_text(&chrono::Local::now()))),
        _ => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            Ok(Value::Uint(now))
        }
    }
}
