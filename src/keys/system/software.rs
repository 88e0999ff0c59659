//! `system.sw.*` (Zabbix's software family): architecture, OS name, installed packages.
//! It owns parameter meaning, arithmetic and reason texts, never raw I/O.

use crate::regexp::Regexp;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::uname::uname;
use crate::keys::{AgentCtx, BoxFuture, KeyResult, NotSupported, Request, Value};
use crate::sys::oserror::zbx_strerror;

pub(super) fn sw_arch(_: &AgentCtx, _: &Request) -> KeyResult {
    Ok(Value::Str(uname()?.machine))
}

/// The first line of a text, trailing whitespace removed; `None` when there is none.
pub fn first_line(text: &str) -> Option<String> {
    let line = text.split_inclusive('\n').next()?;
    Some(line.trim_end().to_string())
}

/// `PRETTY_NAME` of an os-release text: the quoted value, or the first word unquoted.
pub fn os_pretty_name(os_release: &str) -> Option<String> {
    for line in os_release.lines() {
        let Some(rest) = line.strip_prefix("PRETTY_NAME") else {
            continue;
        };
        let Some(value) = rest.strip_prefix('=') else {
            continue;
        };
        let name = match value.strip_prefix('"') {
            Some(q) => q.split('"').next().unwrap_or(""),
            None => value.split([' ', '\t']).next().unwrap_or(""),
        };
        if name.is_empty() {
            continue;
        }
        return Some(name.trim_end().to_string());
    }
    None
}

pub(super) fn first_line_of(path: &str) -> Result<String, NotSupported> {
    let text = std::fs::read(path)
        .map_err(|e| NotSupported::new(format!("Cannot open {path}: {}", zbx_strerror(&e))))?;
    first_line(&crate::text::zbx_utf8(&text))
        .ok_or_else(|| NotSupported::new("Cannot read from file."))
}

pub(super) fn sw_os(_: &AgentCtx, req: &Request) -> KeyResult {
    let v = match req.param(0) {
        "short" => first_line_of("/proc/version_signature")?,
        "name" => match std::fs::read("/etc/os-release")
            .ok()
            .and_then(|t| os_pretty_name(&crate::text::zbx_utf8(&t)))
        {
            Some(name) => name,
            None => first_line_of("/etc/issue.net")?,
        },
        _ => first_line_of("/proc/version")?,
    };
    Ok(Value::Str(v))
}

/// A package manager system.sw.packages knows: how to tell it is there, how to list.
pub(super) struct PackageManager {
    name: &'static str,
    test: &'static str,
    list: &'static str,
    /// `dpkg --get-selections` lines need the `install` state picked out.
    dpkg: bool,
}

pub(super) const PACKAGE_MANAGERS: &[PackageManager] = &[
    PackageManager {
        name: "dpkg",
        test: "dpkg --version 2> /dev/null",
        list: "dpkg --get-selections",
        dpkg: true,
    },
    PackageManager {
        name: "pkgtools",
        test: "[ -d /var/log/packages ] && echo true",
        list: "ls /var/log/packages",
        dpkg: false,
    },
    PackageManager {
        name: "rpm",
        test: "rpm --version 2> /dev/null",
        list: "rpm -qa",
        dpkg: false,
    },
    PackageManager {
        name: "pacman",
        test: "pacman --version 2> /dev/null",
        list: "pacman -Q",
        dpkg: false,
    },
];

/// Largest system.sw.packages answer (zabbix_agentd's buffer).
pub(super) const MAX_PACKAGES_TEXT: usize = 64 * 1024 - 1;

/// The package names of one manager's list output, filtered by `re` (`Some(None)`: an
/// expression the engine refuses, which matches nothing).
pub fn package_names(output: &str, dpkg: bool, re: Option<&Option<Regexp>>) -> Vec<String> {
    output
        .split('\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            if !dpkg {
                return Some(l.to_string());
            }
            let mut f = l.split_whitespace();
            let (name, state) = (f.next()?, f.next()?);
            (state == "install").then(|| name.to_string())
        })
        .filter(|name| match re {
            None => true,
            Some(Some(re)) => re.is_match(name.as_bytes()),
            Some(None) => false,
        })
        .collect()
}

/// `[manager] a, b, c` (or just `a, b, c` without a manager), names sorted.
pub fn package_line(manager: Option<&str>, mut names: Vec<String>) -> String {
    names.sort();
    let list = names.join(", ");
    match manager {
        Some(m) if list.is_empty() => format!("[{m}]"),
        Some(m) => format!("[{m}] {list}"),
        None => list,
    }
}

pub(super) fn sw_packages(ctx: Arc<AgentCtx>, req: Request) -> BoxFuture {
    Box::pin(async move {
        let show_manager = match req.param(2) {
            "" | "full" => true,
            "short" => false,
            _ => return Err(NotSupported::invalid_param(2)),
        };
        let re = match req.param(0) {
            "" | "all" => None,
            r => Some(Regexp::new(r).ok()),
        };
        let only = match req.param(1) {
            "" | "all" => None,
            m => Some(m.to_string()),
        };
        let deadline = Instant::now() + req.timeout;
        let run = |cmd: &'static str| {
            let ctx = Arc::clone(&ctx);
            async move {
                let left = deadline.saturating_duration_since(Instant::now());
                match ctx
                    .user
                    .runner
                    .run(cmd, None, left.max(Duration::from_millis(1)))
                    .await
                {
                    Ok(out) => out.verdict().ok().map(|b| crate::exec::c_string(&b)),
                    Err(_) => None,
                }
            }
        };
        let mut found = false;
        let mut lines: Vec<String> = Vec::new();
        let mut all: Vec<String> = Vec::new();
        for pm in PACKAGE_MANAGERS {
            if only.as_deref().is_some_and(|m| m != pm.name) {
                continue;
            }
            let present = run(pm.test).await.is_some_and(|o| !o.is_empty());
            if !present {
                continue;
            }
            let Some(list) = run(pm.list).await else {
                continue;
            };
            found = true;
            let names = package_names(&list, pm.dpkg, re.as_ref());
            if show_manager {
                lines.push(package_line(Some(pm.name), names));
            } else {
                all.extend(names);
            }
        }
        if !found {
            return Err(NotSupported::new("Cannot obtain package information."));
        }
        let mut text = if show_manager {
            lines.join("\n")
        } else {
            package_line(None, all)
        };
        if text.len() > MAX_PACKAGES_TEXT {
            let mut end = MAX_PACKAGES_TEXT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        Ok(Value::Text(text))
    })
}
