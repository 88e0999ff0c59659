//! `vfs.dir.*` keys: counting, sizing and listing directory trees with the filters of
//! zabbix_agentd 6.0 (names, types, sizes, ages, depth, excluded directories).
//!
//! The walk is [`crate::sys::dirwalk`]; file types, names and the per-entry JSON come from
//! [`super::vfs`]. Everything runs on the blocking pool, bounded by the check's timeout.

use std::fs;
use std::os::unix::fs::MetadataExt;

use super::vfs::{
    file_get_json, ft, owner_name, resolve_pathname, type_bits, type_name, types_to_mask, FileInfo,
};
use super::{AgentCtx, Handler, KeyDef, KeyResult, NotSupported, ParamDef, Params, Request, Value};
use crate::regexp::Regexp;
use crate::sys::oserror::zbx_strerror;

/// The `vfs.dir.*` family.
/// The parameters vfs.dir.count and vfs.dir.get share.
/// zabbix_agentd checks the types, sizes and ages before it counts the parameters, then
/// the directory, the expressions and the depth (in the handler).
const DIR_FILTER_PARAMS: &[ParamDef] = &[
    ParamDef::req("dir"),
    ParamDef::opt("regex_incl"),
    ParamDef::opt("regex_excl"),
    ParamDef::checked("types_incl", check_types).before_count(),
    ParamDef::checked("types_excl", check_types).before_count(),
    ParamDef::opt("max_depth"),
    ParamDef::checked("min_size", check_min_size).before_count(),
    ParamDef::checked("max_size", check_max_size).before_count(),
    ParamDef::checked("min_age", check_min_age).before_count(),
    ParamDef::checked("max_age", check_max_age).before_count(),
    ParamDef::opt("regex_excl_dir"),
];

fn check_types(v: &str) -> Result<(), NotSupported> {
    types_to_mask(v).map(|_| ())
}

fn check_bound(v: &str, what: &str, parse: fn(&str) -> Option<u64>) -> Result<(), NotSupported> {
    match parse(v) {
        Some(_) => Ok(()),
        None => Err(NotSupported::new(format!("Invalid {what} \"{v}\"."))),
    }
}

fn check_min_size(v: &str) -> Result<(), NotSupported> {
    check_bound(v, "minimum size", parse_size)
}

fn check_max_size(v: &str) -> Result<(), NotSupported> {
    check_bound(v, "maximum size", parse_size)
}

fn check_min_age(v: &str) -> Result<(), NotSupported> {
    check_bound(v, "minimum age", parse_age)
}

fn check_max_age(v: &str) -> Result<(), NotSupported> {
    check_bound(v, "maximum age", parse_age)
}

pub const KEYS: &[KeyDef] = &[
    KeyDef {
        name: "vfs.dir.count",
        description: "Number of directory entries, filtered by name, type, size, age, depth.",
        params: Params::List(DIR_FILTER_PARAMS),
        test_key: "vfs.dir.count[/var/log]",
        handler: Handler::Threaded(dir_count),
    },
    KeyDef {
        name: "vfs.dir.get",
        description:
            "Directory entries with their file information (JSON), filtered as vfs.dir.count.",
        params: Params::List(DIR_FILTER_PARAMS),
        test_key: "vfs.dir.get[/var/log]",
        handler: Handler::Threaded(dir_get),
    },
    KeyDef {
        name: "vfs.dir.size",
        description: "Directory size in bytes (apparent or disk), filtered by name and depth.",
        params: Params::List(&[
            ParamDef::req("dir"),
            ParamDef::opt("regex_incl"),
            ParamDef::opt("regex_excl"),
            // Checked first of all by zabbix_agentd, even with too many parameters.
            ParamDef::one_of("mode", &["apparent", "disk"]).before_count(),
            ParamDef::opt("max_depth"),
            ParamDef::opt("regex_excl_dir"),
        ]),
        test_key: "vfs.dir.size[/var/log]",
        handler: Handler::Threaded(dir_size),
    },
];

// ---- vfs.dir.* ---------------------------------------------------------------------------

fn dir_regex(req: &Request, i: usize) -> Result<Option<Regexp>, NotSupported> {
    match req.param(i) {
        "" => Ok(None),
        re => Regexp::new(re).map(Some).map_err(|e| {
            NotSupported::new(format!(
                "Invalid regular expression in {} parameter: {}",
                // vfs.dir.count has an eleventh parameter; the shared table stops at ten.
                if i == 10 {
                    "eleventh"
                } else {
                    super::ordinal(i)
                },
                e
            ))
        }),
    }
}

/// A vfs.dir.count size: digits with an optional K, M, G or T (powers of 1024).
pub fn parse_size(s: &str) -> Option<u64> {
    let (digits, shift) = match s.as_bytes().last()? {
        b'K' => (&s[..s.len() - 1], 10),
        b'M' => (&s[..s.len() - 1], 20),
        b'G' => (&s[..s.len() - 1], 30),
        b'T' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_shl(shift)
}

/// A vfs.dir.count age: digits with an optional s, m, h, d or w.
pub fn parse_age(s: &str) -> Option<u64> {
    let (digits, mult) = match s.as_bytes().last()? {
        b's' => (&s[..s.len() - 1], 1),
        b'm' => (&s[..s.len() - 1], 60),
        b'h' => (&s[..s.len() - 1], 3600),
        b'd' => (&s[..s.len() - 1], 86400),
        b'w' => (&s[..s.len() - 1], 7 * 86400),
        _ => (s, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(mult)
}

/// Max depth: empty or `-1` = unlimited, else a non-negative number.
fn parse_depth(req: &Request, i: usize) -> Result<Option<u32>, NotSupported> {
    match req.param(i) {
        "" | "-1" => Ok(None),
        d => super::num::uint31(d)
            .map(Some)
            .ok_or_else(|| NotSupported::invalid_param(i)),
    }
}

/// Name filters shared by every vfs.dir.* key.
#[derive(Debug, Default)]
pub struct NameFilter {
    /// Names to include (all when `None`).
    pub incl: Option<Regexp>,
    /// Names to leave out.
    pub excl: Option<Regexp>,
    /// Directories neither counted nor entered, matched against their path below the
    /// root (`a/b`), as zabbix_agentd does.
    pub excl_dir: Option<Regexp>,
}

impl NameFilter {
    /// Whether `name` passes the include and exclude expressions.
    pub fn passes(&self, name: &[u8]) -> bool {
        self.incl.as_ref().map_or(true, |r| r.is_match(name))
            && !self.excl.as_ref().is_some_and(|r| r.is_match(name))
    }

    /// Whether the directory at `rel` (its path below the root) is skipped entirely.
    pub fn skips_dir(&self, rel: &[u8]) -> bool {
        self.excl_dir.as_ref().is_some_and(|r| r.is_match(rel))
    }
}

/// The directory as zabbix_agentd walks it: trailing `/` and `\` removed, except from a
/// one-character path (so `/` stays `/`, `//` becomes empty and is not found, as there).
pub fn trim_dir(dir: &str) -> &str {
    let b = dir.as_bytes();
    if b.len() < 2 || b[b.len() - 2] == b':' {
        return dir;
    }
    dir.trim_end_matches(['/', '\\'])
}

/// What every vfs.dir.* key checks after the parameter count, in zabbix_agentd's order:
/// the directory is given, the expressions compile, the depth is a number, the
/// directory exists and is one.
struct DirCommon<'a> {
    dir: &'a str,
    root: fs::Metadata,
    names: NameFilter,
    max_depth: Option<u32>,
}

impl<'a> DirCommon<'a> {
    /// `depth` and `excl_dir` are the indices of those parameters (they differ between
    /// vfs.dir.size and the other two).
    fn from_request(req: &'a Request, depth: usize, excl_dir: usize) -> Result<Self, NotSupported> {
        if req.param(0).is_empty() {
            return Err(NotSupported::invalid_param(0));
        }
        let names = NameFilter {
            incl: dir_regex(req, 1)?,
            excl: dir_regex(req, 2)?,
            excl_dir: dir_regex(req, excl_dir)?,
        };
        let max_depth = parse_depth(req, depth)?;
        let dir = trim_dir(req.param(0));
        Ok(DirCommon {
            dir,
            root: dir_root(dir)?,
            names,
            max_depth,
        })
    }

    /// Walks below the directory; excluded directories are neither shown to `visit` nor
    /// entered.
    fn walk(
        &self,
        req: &Request,
        mut visit: impl FnMut(&crate::sys::dirwalk::Entry<'_>),
    ) -> Result<(), NotSupported> {
        crate::sys::dirwalk::walk(self.dir, &self.root, self.max_depth, req.deadline, |e| {
            if e.meta.is_dir() && self.names.skips_dir(e.rel) {
                return crate::sys::dirwalk::Visit::Prune;
            }
            visit(e);
            crate::sys::dirwalk::Visit::Continue
        })
        // The walk stops at the check's deadline itself: worded as the registry words a
        // threaded check's timeout.
        .map_err(|_| NotSupported::new(super::reason::TIMEOUT_THREADED))
    }
}

/// The directory checks every key shares: what the root is, with the official texts.
fn dir_root(path: &str) -> Result<fs::Metadata, NotSupported> {
    let m = fs::symlink_metadata(path).map_err(|e| {
        NotSupported::new(format!(
            "Cannot obtain directory information: {}",
            zbx_strerror(&e)
        ))
    })?;
    if !m.is_dir() {
        return Err(NotSupported::new("First parameter is not a directory."));
    }
    Ok(m)
}

fn lstat_type_bits(m: &fs::Metadata) -> u32 {
    let t = m.file_type();
    if t.is_symlink() {
        ft::SYM
    } else {
        type_bits(t)
    }
}

/// What vfs.dir.count and vfs.dir.get select, from their eleven parameters (types, sizes
/// and ages were checked by the registry, before the parameter count).
struct DirSelect {
    types: u32,
    min_size: Option<u64>,
    max_size: Option<u64>,
    min_age: Option<u64>,
    max_age: Option<u64>,
}

impl DirSelect {
    fn from_request(req: &Request) -> Result<DirSelect, NotSupported> {
        let types_incl = types_to_mask(req.param(3))?;
        let types_excl = types_to_mask(req.param(4))?;
        let types = if types_incl == 0 { ft::ALL } else { types_incl } & !types_excl;
        let bound = |i: usize, parse: fn(&str) -> Option<u64>| match req.param(i) {
            "" => Ok(None),
            v => parse(v)
                .map(Some)
                .ok_or_else(|| NotSupported::invalid_param(i)),
        };
        Ok(DirSelect {
            types,
            min_size: bound(6, parse_size)?,
            max_size: bound(7, parse_size)?,
            min_age: bound(8, parse_age)?,
            max_age: bound(9, parse_age)?,
        })
    }

    /// Walks below the request's directory, calling `found` for every selected entry.
    fn walk(
        &self,
        req: &Request,
        mut found: impl FnMut(&crate::sys::dirwalk::Entry<'_>),
    ) -> Result<(), NotSupported> {
        let common = DirCommon::from_request(req, 5, 10)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        common.walk(req, |e| {
            let size = e.meta.size();
            let age = u64::try_from(now - e.meta.mtime()).unwrap_or(0);
            if common.names.passes(e.name)
                && lstat_type_bits(e.meta) & self.types != 0
                && self.min_size.map_or(true, |m| size >= m)
                && self.max_size.map_or(true, |m| size <= m)
                && self.min_age.map_or(true, |m| age >= m)
                && self.max_age.map_or(true, |m| age <= m)
            {
                found(e);
            }
        })
    }
}

fn dir_count(_: &AgentCtx, req: &Request) -> KeyResult {
    let _guard = super::vfs::file_guard(req)?;
    let select = DirSelect::from_request(req)?;
    let mut count = 0u64;
    select.walk(req, |_| count += 1)?;
    Ok(Value::Uint(count))
}

fn dir_get(_: &AgentCtx, req: &Request) -> KeyResult {
    let _guard = super::vfs::file_guard(req)?;
    let select = DirSelect::from_request(req)?;
    let mut rows = Vec::new();
    select.walk(req, |e| {
        // An entry whose directory cannot be resolved any more is left out.
        let Ok(pathname) = resolve_pathname(e.path) else {
            return;
        };
        let m = e.meta;
        let info = FileInfo {
            pathname: crate::text::zbx_utf8_os(pathname.as_os_str()),
            kind: type_name(m.file_type()),
            user: owner_name(m.uid(), false).unwrap_or_else(|| m.uid().to_string()),
            group: owner_name(m.gid(), true).unwrap_or_else(|| m.gid().to_string()),
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            size: m.size(),
            times: [m.atime(), m.mtime(), m.ctime()],
        };
        rows.push(file_get_json(&info, &chrono::Local));
    })?;
    Ok(Value::Str(format!("[{}]", rows.join(","))))
}

fn dir_size(_: &AgentCtx, req: &Request) -> KeyResult {
    let _guard = super::vfs::file_guard(req)?;
    // The mode was checked by the registry, before the parameter count.
    let disk = req.param(3) == "disk";
    let common = DirCommon::from_request(req, 4, 5)?;
    let size_of = |m: &fs::Metadata| if disk { m.blocks() * 512 } else { m.size() };
    // The root is matched by its path (trimmed as walked).
    let mut total = if common.names.passes(common.dir.as_bytes()) {
        size_of(&common.root)
    } else {
        0
    };
    let mut linked: std::collections::HashSet<(u64, u64)> = std::collections::HashSet::new();
    common.walk(req, |e| {
        let t = e.meta.file_type();
        // Only files, symlinks and directories have a size here; a file with several
        // names is counted once.
        if !(t.is_file() || t.is_symlink() || t.is_dir()) || !common.names.passes(e.name) {
            return;
        }
        if t.is_file() && e.meta.nlink() > 1 && !linked.insert((e.meta.dev(), e.meta.ino())) {
            return;
        }
        total = total.saturating_add(size_of(e.meta));
    })?;
    Ok(Value::Uint(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_bounds_parse() {
        assert_eq!(parse_size("1K"), Some(1024));
        assert_eq!(parse_size("3"), Some(3));
        assert_eq!(parse_size("2T"), Some(2 << 40));
        for bad in ["x", "-1", "1.5K", "K", ""] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
        assert_eq!(parse_age("1h"), Some(3600));
        assert_eq!(parse_age("1w"), Some(604800));
        assert_eq!(parse_age("60"), Some(60));
        for bad in ["1x", "-1", "m"] {
            assert_eq!(parse_age(bad), None, "{bad}");
        }
    }
}
