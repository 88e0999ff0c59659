//! `vfs.fs.*` and `vfs.file.*` keys: file-system space and inodes, mount discovery, and
//! file existence, size, times, owner, contents, regexp scans and checksums — as
//! zabbix_agentd 6.0 answers them on Linux (same parameter order of checks, same reason
//! texts). Directory trees are in [`super::vfs_dir`], block devices in [`super::vfs_dev`].
//!
//! Everything that touches a user path runs on the blocking pool (statvfs on a hung NFS
//! mount, a read of a slow file); the pure parts (sums, text handling) are separate
//! functions tested without I/O. It must not cache file data between checks.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::time::Instant;

use super::{AgentCtx, Handler, KeyDef, KeyResult, NotSupported, ParamDef, Params, Request, Value};
use crate::regexp::{self, Regexp};
use crate::sys::iconv;
use crate::sys::oserror::zbx_strerror;
use crate::sys::procfs::{self, ProcRoot};
use crate::sys::userfile::{self, LineReader, ReadError, UserFile};

/// Largest file vfs.file.contents returns, as zabbix_agentd (what fits a text column).
pub const MAX_CONTENTS: u64 = 64 * 1024;
/// Read chunk for checksums and line counting.
const CHUNK: usize = 16 * 1024;

const FS_PARAMS: &[ParamDef] = &[ParamDef::opt("fs"), ParamDef::opt("mode")];
const INODE_PARAMS: &[ParamDef] = &[ParamDef::req("fs"), ParamDef::opt("mode")];
const FILE_MODE: &[ParamDef] = &[ParamDef::req("file"), ParamDef::opt("mode")];

/// The `vfs.*` family.
pub const KEYS: &[KeyDef] = &[
    KeyDef {
        name: "vfs.file.cksum",
        description: "File checksum: crc32 (POSIX cksum), md5 or sha256.",
        params: Params::List(&[
            ParamDef::req("file"),
            ParamDef::one_of("mode", &["crc32", "md5", "sha256"]),
        ]),
        test_key: "vfs.file.cksum[/etc/passwd]",
        handler: Handler::BlockingFile(file_cksum),
    },
    KeyDef {
        name: "vfs.file.contents",
        description: "Contents of a file (at most 64 KB), converted to UTF-8.",
        params: Params::List(&[ParamDef::req("file"), ParamDef::opt("encoding")]),
        test_key: "vfs.file.contents[/etc/passwd]",
        handler: Handler::BlockingFile(file_contents),
    },
    KeyDef {
        name: "vfs.file.exists",
        description: "Whether a file of the given types exists (0 or 1).",
        params: Params::List(&[
            ParamDef::req("file"),
            ParamDef::opt("types_incl"),
            ParamDef::opt("types_excl"),
        ]),
        test_key: "vfs.file.exists[/etc/passwd]",
        handler: Handler::BlockingFile(file_exists),
    },
    KeyDef {
        name: "vfs.file.get",
        description:
            "Information about a file (JSON): names, type, owner, permissions, size, times.",
        params: Params::List(&[ParamDef::req("file")]),
        test_key: "vfs.file.get[/etc/passwd]",
        handler: Handler::BlockingFile(file_get),
    },
    KeyDef {
        name: "vfs.file.md5sum",
        description: "MD5 checksum of a file.",
        params: Params::List(&[ParamDef::req("file")]),
        test_key: "vfs.file.md5sum[/etc/passwd]",
        handler: Handler::BlockingFile(file_md5sum),
    },
    KeyDef {
        name: "vfs.file.owner",
        description: "Owner of a file: user or group, by name or id.",
        params: Params::List(&[
            ParamDef::req("file"),
            ParamDef::opt("ownertype"),
            ParamDef::opt("resulttype"),
        ]),
        test_key: "vfs.file.owner[/etc/passwd,user,name]",
        handler: Handler::BlockingFile(file_owner),
    },
    KeyDef {
        name: "vfs.file.permissions",
        description: "File permissions as four octal digits.",
        params: Params::List(&[ParamDef::req("file")]),
        test_key: "vfs.file.permissions[/etc/passwd]",
        handler: Handler::BlockingFile(file_permissions),
    },
    KeyDef {
        name: "vfs.file.regexp",
        description: "First line of a file matching a regular expression (or its output template).",
        params: Params::List(&[
            ParamDef::req("file"),
            ParamDef::opt("regexp"),
            ParamDef::opt("encoding"),
            ParamDef::opt("start line"),
            ParamDef::opt("end line"),
            ParamDef::opt("output"),
        ]),
        test_key: "vfs.file.regexp[/etc/passwd,zabbix]",
        handler: Handler::BlockingFile(file_regexp),
    },
    KeyDef {
        name: "vfs.file.regmatch",
        description: "Whether any line of a file matches a regular expression (0 or 1).",
        params: Params::List(&[
            ParamDef::req("file"),
            ParamDef::opt("regexp"),
            ParamDef::opt("encoding"),
            ParamDef::opt("start line"),
            ParamDef::opt("end line"),
        ]),
        test_key: "vfs.file.regmatch[/etc/passwd,root]",
        handler: Handler::BlockingFile(file_regmatch),
    },
    KeyDef {
        name: "vfs.file.size",
        description: "File size in bytes or lines.",
        params: Params::List(FILE_MODE),
        test_key: "vfs.file.size[/etc/passwd]",
        handler: Handler::BlockingFile(file_size),
    },
    KeyDef {
        name: "vfs.file.time",
        description: "File modify, access or change time (unix seconds).",
        params: Params::List(FILE_MODE),
        test_key: "vfs.file.time[/etc/passwd,modify]",
        handler: Handler::BlockingFile(file_time),
    },
    KeyDef {
        name: "vfs.fs.discovery",
        description: "List of mounted file systems (LLD JSON).",
        params: Params::None,
        test_key: "vfs.fs.discovery",
        handler: Handler::Inline(fs_discovery),
    },
    KeyDef {
        name: "vfs.fs.get",
        description: "Every mounted file system with its space and inode figures (JSON).",
        params: Params::None,
        test_key: "vfs.fs.get",
        handler: Handler::BlockingFile(fs_get),
    },
    KeyDef {
        name: "vfs.fs.inode",
        description: "Number or percentage of inodes: total, free, used, pfree, pused.",
        params: Params::List(INODE_PARAMS),
        test_key: "vfs.fs.inode[/,pfree]",
        handler: Handler::Threaded(fs_inode),
    },
    KeyDef {
        name: "vfs.fs.size",
        description: "File system space in bytes or percent: total, free, used, pfree, pused.",
        params: Params::List(FS_PARAMS),
        test_key: "vfs.fs.size[/,free]",
        handler: Handler::Threaded(fs_size),
    },
];

fn timed_out() -> NotSupported {
    NotSupported::new(super::reason::TIMEOUT)
}

fn check_time(req: &Request) -> Result<(), NotSupported> {
    if Instant::now() >= req.deadline {
        Err(timed_out())
    } else {
        Ok(())
    }
}

/// Why a non-regular object was not read: enough checks already wait on it.
const BUSY: &str =
    "Cannot read from file: earlier checks of this object are still waiting for data.";

/// Opens a file for reading until the request's deadline: a FIFO nobody writes to reads
/// as empty, one whose writer is silent is waited for only until the deadline (see
/// [`userfile`]).
fn open_file(req: &Request, path: &str) -> Result<UserFile, NotSupported> {
    UserFile::open(path, req.deadline).map_err(|e| match e {
        ReadError::Timeout => timed_out(),
        ReadError::Busy => NotSupported::new(BUSY),
        ReadError::Io(e) => NotSupported::new(format!("Cannot open file: {}", zbx_strerror(&e))),
    })
}

/// A read error with the reason text zabbix_agentd gives (`read_text` for plain ones).
fn read_err(e: ReadError, read_text: impl FnOnce(&io::Error) -> String) -> NotSupported {
    match e {
        ReadError::Timeout => timed_out(),
        ReadError::Busy => NotSupported::new(BUSY),
        ReadError::Io(e) if e.kind() == io::ErrorKind::TimedOut => timed_out(),
        ReadError::Io(e) => NotSupported::new(read_text(&e)),
    }
}

/// Registers a check on the request's file; refused at once while an earlier check of the
/// same file is still stuck past its timeout (a dead NFS mount), so such a file ties up one
/// blocking thread, not one per poll.
///
/// The path is compared in its lexical normal form (`dir//x`, `dir/./x` and `dir/x/` are
/// `dir/x`; symbolic links are not resolved, which could itself hang). A check counts as
/// stuck only a second after its deadline: reads stop at the deadline by themselves.
pub(crate) fn file_guard(req: &Request) -> Result<crate::sys::inflight::InFlight, NotSupported> {
    let key = format!("file:{}", normal_path(req.param(0)));
    let stuck_after = req.timeout + std::time::Duration::from_secs(1);
    crate::sys::inflight::enter(&key, stuck_after).ok_or_else(|| {
        NotSupported::new(
            "Cannot obtain file information: an earlier check of this file has not returned yet.",
        )
    })
}

/// `path` without empty and `.` components (`a//b/./c/` → `a/b/c`), keeping a leading `/`.
pub fn normal_path(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let body = parts.join("/");
    match (path.starts_with('/'), body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_string(),
        (false, false) => body,
    }
}

fn file_info_err(e: &io::Error) -> NotSupported {
    NotSupported::new(format!(
        "Cannot obtain file information: {}",
        zbx_strerror(e)
    ))
}

// ---- file systems ------------------------------------------------------------------

/// The `statvfs` numbers the fs keys use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FsStat {
    /// Fragment size (the unit of the block counts).
    pub frsize: u64,
    /// Total blocks.
    pub blocks: u64,
    /// Free blocks.
    pub bfree: u64,
    /// Blocks available to unprivileged users.
    pub bavail: u64,
    /// Total inodes.
    pub files: u64,
    /// Free inodes.
    pub ffree: u64,
}

/// How long a `statvfs` may run before its path counts as hung (dead NFS mount).
const STATVFS_STUCK: std::time::Duration = std::time::Duration::from_secs(2);

/// Calls `statvfs(path)`; refuses while an earlier call on the same path hangs.
pub fn statvfs(path: &str) -> Result<FsStat, NotSupported> {
    let Some(_guard) = crate::sys::inflight::enter(&format!("statvfs:{path}"), STATVFS_STUCK)
    else {
        tracing::warn!(
            path,
            "statvfs of an earlier check still hangs; not started again"
        );
        return Err(NotSupported::new(
            "Cannot obtain filesystem information: an earlier check of this file system has not returned yet.",
        ));
    };
    statvfs_now(path)
}

fn statvfs_now(path: &str) -> Result<FsStat, NotSupported> {
    let fs_err = |e: &io::Error| {
        NotSupported::new(format!(
            "Cannot obtain filesystem information: {}",
            zbx_strerror(e)
        ))
    };
    let s = crate::sys::host::statvfs(path).map_err(|e| fs_err(&e))?;
    Ok(FsStat {
        frsize: s.f_frsize as u64,
        blocks: s.f_blocks as u64,
        bfree: s.f_bfree as u64,
        bavail: s.f_bavail as u64,
        files: s.f_files as u64,
        ffree: s.f_ffree as u64,
    })
}

/// Percentages as zabbix_agentd 6.0 reports the fs keys: computed in a helper thread and
/// handed back as `%f` text, so rounded to 6 decimals.
fn six_decimals(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// vfs.fs.size by mode from a statvfs result.
pub fn fs_size_value(s: &FsStat, mode: &str) -> KeyResult {
    let used_blocks = s.blocks.saturating_sub(s.bfree);
    let denom = used_blocks + s.bavail;
    let pfree = if denom == 0 {
        0.0
    } else {
        100.0 * s.bavail as f64 / denom as f64
    };
    let pused = if denom == 0 { 0.0 } else { 100.0 - pfree };
    Ok(match mode {
        "" | "total" => Value::Uint(s.blocks.saturating_mul(s.frsize)),
        "free" => Value::Uint(s.bavail.saturating_mul(s.frsize)),
        "used" => Value::Uint(used_blocks.saturating_mul(s.frsize)),
        "pfree" => Value::Float(six_decimals(pfree)),
        "pused" => Value::Float(six_decimals(pused)),
        _ => return Err(NotSupported::invalid_param(1)),
    })
}

/// vfs.fs.inode by mode from a statvfs result.
pub fn fs_inode_value(s: &FsStat, mode: &str) -> KeyResult {
    let used = s.files.saturating_sub(s.ffree);
    let (pfree, pused) = if s.files == 0 {
        (100.0, 0.0)
    } else {
        let pfree = 100.0 * s.ffree as f64 / s.files as f64;
        (pfree, 100.0 - pfree)
    };
    Ok(match mode {
        "" | "total" => Value::Uint(s.files),
        "free" => Value::Uint(s.ffree),
        "used" => Value::Uint(used),
        "pfree" => Value::Float(six_decimals(pfree)),
        "pused" => Value::Float(six_decimals(pused)),
        _ => return Err(NotSupported::invalid_param(1)),
    })
}

fn fs_size(_: &AgentCtx, req: &Request) -> KeyResult {
    if req.param(0).is_empty() {
        return Err(NotSupported::new("Filesystem name cannot be empty."));
    }
    let s = statvfs(req.param(0))?;
    fs_size_value(&s, req.param(1))
}

fn fs_inode(_: &AgentCtx, req: &Request) -> KeyResult {
    let s = statvfs(req.param(0))?;
    fs_inode_value(&s, req.param(1))
}

/// vfs.fs.discovery JSON from `/proc/mounts` text.
pub fn fs_discovery_json(mounts: &str) -> String {
    let rows: Vec<serde_json::Value> = procfs::parse_mounts(mounts)
        .into_iter()
        .map(|m| serde_json::json!({ "{#FSNAME}": m.mountpoint, "{#FSTYPE}": m.fstype }))
        .collect();
    serde_json::Value::Array(rows).to_string()
}

/// One vfs.fs.get object, keys in zabbix_agentd's order, percentages with 6 decimals.
pub fn fs_get_entry(fsname: &str, fstype: &str, s: &FsStat) -> String {
    let num = |v: KeyResult| match v {
        Ok(Value::Uint(n)) => n.to_string(),
        Ok(Value::Float(f)) => format!("{f:.6}"),
        _ => "0".to_string(),
    };
    let group = |f: fn(&FsStat, &str) -> KeyResult| {
        format!(
            "{{\"total\":{},\"free\":{},\"used\":{},\"pfree\":{},\"pused\":{}}}",
            num(f(s, "total")),
            num(f(s, "free")),
            num(f(s, "used")),
            num(f(s, "pfree")),
            num(f(s, "pused"))
        )
    };
    let text = |v: &str| serde_json::to_string(v).unwrap_or_else(|_| "\"\"".to_string());
    format!(
        "{{\"fsname\":{},\"fstype\":{},\"bytes\":{},\"inodes\":{}}}",
        text(fsname),
        text(fstype),
        group(fs_size_value),
        group(fs_inode_value)
    )
}

fn fs_get(_: &AgentCtx, _: &Request) -> KeyResult {
    let text = ProcRoot::system()
        .read("mounts")
        .map_err(|e| NotSupported::new(e.to_string()))?;
    let mut rows = Vec::new();
    for m in procfs::parse_mounts(&text) {
        // A mount point that cannot be examined (gone, no permission) is left out.
        match statvfs(&m.mountpoint) {
            Ok(s) => rows.push(fs_get_entry(&m.mountpoint, &m.fstype, &s)),
            Err(e) => {
                tracing::debug!(mountpoint = %m.mountpoint, reason = %e, "Skipping file system")
            }
        }
    }
    Ok(Value::Str(format!("[{}]", rows.join(","))))
}

fn fs_discovery(_: &AgentCtx, _: &Request) -> KeyResult {
    let text = ProcRoot::system()
        .read("mounts")
        .map_err(|e| NotSupported::new(e.to_string()))?;
    Ok(Value::Str(fs_discovery_json(&text)))
}

// ---- vfs.file.exists -----------------------------------------------------------------

/// File-type bits of vfs.file.exists.
pub mod ft {
    /// Regular file.
    pub const FILE: u32 = 0x001;
    /// Directory.
    pub const DIR: u32 = 0x002;
    /// Symbolic link.
    pub const SYM: u32 = 0x004;
    /// Socket.
    pub const SOCK: u32 = 0x008;
    /// Block device.
    pub const BDEV: u32 = 0x010;
    /// Character device.
    pub const CDEV: u32 = 0x020;
    /// FIFO.
    pub const FIFO: u32 = 0x040;
    /// Every type.
    pub const ALL: u32 = FILE | DIR | SYM | SOCK | BDEV | CDEV | FIFO;
}

/// A type list (`file,dir`, `all`, `dev`) as a mask. zabbix_agentd reads the list as key
/// parameters: quotes and brackets as in a key (`"file",dir`, `[file,dir]` is one type
/// named `file,dir`), leading blanks skipped; a list that is not valid parameter syntax
/// (`x]`) counts as none given. An unknown or empty name is `Invalid type "NAME".`
pub fn types_to_mask(list: &str) -> Result<u32, NotSupported> {
    if list.is_empty() {
        return Ok(0);
    }
    let Ok(parsed) = zbx_proto::key::ItemKey::parse(&format!("t[{list}]")) else {
        return Ok(0);
    };
    let mut mask = 0;
    for p in &parsed.params {
        let name = p.value.as_str();
        mask |= match name {
            "file" => ft::FILE,
            "dir" => ft::DIR,
            "sym" => ft::SYM,
            "sock" => ft::SOCK,
            "bdev" => ft::BDEV,
            "cdev" => ft::CDEV,
            "fifo" => ft::FIFO,
            "all" => ft::ALL,
            "dev" => ft::BDEV | ft::CDEV,
            _ => return Err(NotSupported::new(format!("Invalid type \"{name}\"."))),
        };
    }
    Ok(mask)
}

/// The decision of vfs.file.exists: the file's types (its own `sym` bit plus its target's
/// type) against the include and exclude masks, with the official defaults.
pub fn exists_decision(types: u32, incl: u32, excl: u32) -> bool {
    let incl = default_incl(incl, excl);
    types & excl == 0 && types & incl != 0
}

/// The include mask with the official defaults: `file` when neither list is given,
/// every type when only exclusions are.
pub fn default_incl(incl: u32, excl: u32) -> u32 {
    match (incl, excl) {
        (0, 0) => ft::FILE,
        (0, _) => ft::ALL,
        (i, _) => i,
    }
}

pub(crate) fn type_bits(t: fs::FileType) -> u32 {
    if t.is_file() {
        ft::FILE
    } else if t.is_dir() {
        ft::DIR
    } else if t.is_socket() {
        ft::SOCK
    } else if t.is_block_device() {
        ft::BDEV
    } else if t.is_char_device() {
        ft::CDEV
    } else if t.is_fifo() {
        ft::FIFO
    } else {
        0
    }
}

fn file_exists(_: &AgentCtx, req: &Request) -> KeyResult {
    let _guard = file_guard(req)?;
    let path = req.param(0);
    let incl = types_to_mask(req.param(1))?;
    let excl = types_to_mask(req.param(2))?;
    let mut types = 0;
    if (default_incl(incl, excl) | excl) & ft::SYM != 0 {
        match fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => types |= ft::SYM,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(file_info_err(&e)),
        }
    }
    match fs::metadata(path) {
        Ok(m) => types |= type_bits(m.file_type()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => return Err(file_info_err(&e)),
    }
    Ok(Value::Uint(u64::from(exists_decision(types, incl, excl))))
}

// ---- size, time ----------------------------------------------------------------------

fn file_size(_: &AgentCtx, req: &Request) -> KeyResult {
    let _guard = file_guard(req)?;
    let path = req.param(0);
    match req.key.param(1) {
        Some("lines") => {
            let mut f = open_file(req, path)?;
            let mut buf = vec![0u8; CHUNK];
            let mut lines = 0u64;
            loop {
                let n = f.read_timed(&mut buf).map_err(|e| {
                    read_err(e, |e| format!("Cannot read from file: {}", zbx_strerror(e)))
                })?;
                if n == 0 {
                    break;
                }
                lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
            }
            Ok(Value::Uint(lines))
        }
        None | Some("bytes") => fs::metadata(path)
            .map(|m| Value::Uint(m.len()))
            .map_err(|e| file_info_err(&e)),
        Some(_) => Err(NotSupported::invalid_param(1)),
    }
}

fn file_time(_: &AgentCtx, req: &Request) -> KeyResult {
    let _guard = file_guard(req)?;
    let m = fs::metadata(req.param(0)).map_err(|e| file_info_err(&e))?;
    let secs = |t: i64| Value::Uint(u64::try_from(t).unwrap_or(0));
    match req.param(1) {
        "" | "modify" => Ok(secs(m.mtime())),
        "access" => Ok(secs(m.atime())),
        "change" => Ok(secs(m.ctime())),
        _ => Err(NotSupported::invalid_param(1)),
    }
}

// ---- owner, permissions ------------------------------------------------------------

/// `vfs.file.permissions` text of a mode: special bits, user, group, other (`0644`).
pub fn permissions_text(mode: u32) -> String {
    format!(
        "{:o}{:o}{:o}{:o}",
        (mode >> 9) & 7,
        (mode >> 6) & 7,
        (mode >> 3) & 7,
        mode & 7
    )
}

fn file_permissions(_: &AgentCtx, req: &Request) -> KeyResult {
    let _guard = file_guard(req)?;
    let m = fs::metadata(req.param(0)).map_err(|e| file_info_err(&e))?;
    Ok(Value::Str(permissions_text(m.mode())))
}

/// The name of user `uid` (or group `gid` when `group`), `None` when unknown.
pub fn owner_name(id: u32, group: bool) -> Option<String> {
    use crate::sys::account;
    if group {
        account::group_name(id).ok().flatten()
    } else {
        account::user_by_uid(id).ok().flatten().map(|u| u.name)
    }
}

fn file_owner(_: &AgentCtx, req: &Request) -> KeyResult {
    let _guard = file_guard(req)?;
    // lstat first: a missing file is reported before a bad parameter, as the C agent does.
    let m = fs::symlink_metadata(req.param(0)).map_err(|e| file_info_err(&e))?;
    let group = match req.param(1) {
        "group" => true,
        "" | "user" => false,
        _ => return Err(NotSupported::invalid_param(1)),
    };
    let id = if group { m.gid() } else { m.uid() };
    match req.param(2) {
        "id" => Ok(Value::Str(id.to_string())),
        "" | "name" => Ok(Value::Str(
            owner_name(id, group).unwrap_or_else(|| id.to_string()),
        )),
        _ => Err(NotSupported::invalid_param(2)),
    }
}

// ---- vfs.file.get ----------------------------------------------------------------------

/// Base name and directory of a resolved path, as zabbix_agentd splits it (`/` is its own
/// base name and directory).
pub fn split_path(pathname: &str) -> (String, String) {
    match pathname.rfind('/') {
        Some(i) if i + 1 < pathname.len() => {
            let dir = if i == 0 { "/" } else { &pathname[..i] };
            (pathname[i + 1..].to_string(), dir.to_string())
        }
        _ => (pathname.to_string(), "/".to_string()),
    }
}

pub(crate) fn type_name(t: fs::FileType) -> &'static str {
    if t.is_symlink() {
        "sym"
    } else if t.is_file() {
        "file"
    } else if t.is_dir() {
        "dir"
    } else if t.is_socket() {
        "sock"
    } else if t.is_block_device() {
        "bdev"
    } else if t.is_char_device() {
        "cdev"
    } else if t.is_fifo() {
        "fifo"
    } else {
        ""
    }
}

/// What vfs.file.get reports about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Resolved absolute path.
    pub pathname: String,
    /// `file`, `dir`, `sym`, …
    pub kind: &'static str,
    /// Owner name (or the uid as text).
    pub user: String,
    /// Group name (or the gid as text).
    pub group: String,
    /// Mode bits.
    pub mode: u32,
    /// Owner id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Size in bytes (of the link itself for a symlink).
    pub size: u64,
    /// Access, modify, change times (unix seconds).
    pub times: [i64; 3],
}

/// vfs.file.get JSON, keys in zabbix_agentd's order; times rendered in `tz`.
pub fn file_get_json<Tz: chrono::TimeZone>(info: &FileInfo, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let text = |v: &str| serde_json::to_string(v).unwrap_or_else(|_| "\"\"".to_string());
    let (base, dir) = split_path(&info.pathname);
    let when = |t: i64| -> String {
        if t <= 0 {
            return "null".to_string();
        }
        match tz.timestamp_opt(t, 0).single() {
            Some(dt) => text(&dt.format("%Y-%m-%dT%H:%M:%S%z").to_string()),
            None => "null".to_string(),
        }
    };
    let stamp = |t: i64| {
        if t <= 0 {
            "null".to_string()
        } else {
            t.to_string()
        }
    };
    let [a, m, c] = info.times;
    format!(
        "{{\"basename\":{},\"pathname\":{},\"dirname\":{},\"type\":{},\"user\":{},\"group\":{},\
         \"permissions\":{},\"uid\":{},\"gid\":{},\"size\":{},\
         \"time\":{{\"access\":{},\"modify\":{},\"change\":{}}},\
         \"timestamp\":{{\"access\":{},\"modify\":{},\"change\":{}}}}}",
        text(&base),
        text(&info.pathname),
        text(&dir),
        text(info.kind),
        text(&info.user),
        text(&info.group),
        text(&permissions_text(info.mode)),
        info.uid,
        info.gid,
        info.size,
        when(a),
        when(m),
        when(c),
        stamp(a),
        stamp(m),
        stamp(c),
    )
}

/// The absolute path vfs.file.get reports: the directory resolved, the last component
/// kept as written (a symlink stays itself; `..` and `.` are resolved).
pub fn resolve_pathname(path: impl AsRef<std::path::Path>) -> io::Result<std::path::PathBuf> {
    let p = path.as_ref();
    match (p.parent(), p.file_name()) {
        (Some(parent), Some(name)) => {
            let dir = if parent.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                parent
            };
            Ok(fs::canonicalize(dir)?.join(name))
        }
        _ => fs::canonicalize(p),
    }
}

fn file_get(_: &AgentCtx, req: &Request) -> KeyResult {
    let _guard = file_guard(req)?;
    let path = req.param(0);
    let m = fs::symlink_metadata(path).map_err(|e| file_info_err(&e))?;
    let pathname = resolve_pathname(path)
        .map_err(|_| NotSupported::new("Cannot obtain file or directory name."))?;
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
    Ok(Value::Str(file_get_json(&info, &chrono::Local)))
}

// ---- contents ------------------------------------------------------------------------

/// vfs.file.contents text from the raw bytes: each line converted from `encoding`, cut at
/// a NUL (as the C agent's string copy does), trailing CR/LF of the whole text removed.
/// Bytes that are not UTF-8 after conversion: [`crate::text::zbx_utf8`].
pub fn contents_text(data: &[u8], encoding: &str) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(data.len());
    for line in iconv::split_lines(data, iconv::line_feed(encoding)) {
        let utf8 = iconv::convert_to_utf8(line, encoding);
        let cut = utf8.iter().position(|b| *b == 0).unwrap_or(utf8.len());
        out.extend_from_slice(&utf8[..cut]);
    }
    while matches!(out.last(), Some(b'\r' | b'\n')) {
        out.pop();
    }
    crate::text::zbx_utf8(&out)
}

fn file_contents(_: &AgentCtx, req: &Request) -> KeyResult {
    let _guard = file_guard(req)?;
    let f = open_file(req, req.param(0))?;
    let too_large = || NotSupported::new("File is too large for this check.");
    if f.metadata().len() > MAX_CONTENTS {
        return Err(too_large());
    }
    let mut data = Vec::new();
    f.take(MAX_CONTENTS + 1)
        .read_to_end(&mut data)
        .map_err(|e| read_err(ReadError::Io(e), |_| "Cannot read from file.".into()))?;
    check_time(req)?;
    if data.len() as u64 > MAX_CONTENTS {
        return Err(too_large());
    }
    Ok(Value::Text(contents_text(&data, req.param(1))))
}

// ---- regexp, regmatch ------------------------------------------------------------------

/// Start and end line of vfs.file.regexp/regmatch (1-based, inclusive; 0 = from the
/// first line), with the official reason texts.
pub fn line_range(req: &Request, start_end_msg: &str) -> Result<(u32, u32), NotSupported> {
    let start = match req.param(3) {
        "" => 0,
        s => super::num::uint32(s).ok_or_else(|| NotSupported::invalid_param(3))?,
    };
    let end = match req.param(4) {
        "" => u32::MAX,
        s => super::num::uint32(s).ok_or_else(|| NotSupported::invalid_param(4))?,
    };
    if start > end {
        return Err(NotSupported::new(start_end_msg));
    }
    Ok((start, end))
}

/// Reads `path` line by line from `start` to `end` as zabbix_agentd does (lines end at
/// LF, CR LF or a lone CR in `encoding`'s width; longer than 64 KiB: cut into 64 KiB
/// pieces), calling `f` with each line converted to UTF-8 (bytes as converted, up to a
/// NUL) without its CR/LF; stops when `f` says so, or with `Timeout while processing
/// item.` at the request's deadline.
fn scan_lines(
    req: &Request,
    path: &str,
    encoding: &str,
    (start, end): (u32, u32),
    mut f: impl FnMut(&[u8]) -> bool,
) -> Result<(), NotSupported> {
    let file = open_file(req, path)?;
    let split = userfile::Split {
        lf: iconv::line_feed(encoding).lf,
        cr: true,
    };
    let mut rd = LineReader::new(file, split, userfile::AGENTD_LINE);
    let mut current: u32 = 0;
    loop {
        let line = match rd.next_line() {
            Ok(Some((line, _))) => line,
            Ok(None) => return Ok(()),
            Err(e) => {
                return Err(read_err(ReadError::Io(e), |_| {
                    "Cannot read from file.".into()
                }))
            }
        };
        check_time(req)?;
        current = current.saturating_add(1);
        if current < start {
            continue;
        }
        let utf8 = iconv::convert_to_utf8(line, encoding);
        let cut = utf8.iter().position(|b| *b == 0).unwrap_or(utf8.len());
        let mut text = &utf8[..cut];
        while let [rest @ .., b'\r' | b'\n'] = text {
            text = rest;
        }
        if f(text) || current >= end {
            return Ok(());
        }
    }
}

fn file_regexp(_: &AgentCtx, req: &Request) -> KeyResult {
    let _guard = file_guard(req)?;
    if req.param(1).is_empty() {
        return Err(NotSupported::invalid_param(1));
    }
    let range = line_range(req, "Start line parameter must not exceed end line.")?;
    // An expression PCRE2 refuses matches nothing, as in zabbix_agentd.
    let re = Regexp::new(req.param(1)).ok();
    let mut found = None;
    scan_lines(req, req.param(0), req.param(2), range, |line| {
        let Some(groups) = re.as_ref().and_then(|re| re.captures(line)) else {
            return false;
        };
        // A template naming `\@` without a group 1 answers empty, as agentd does.
        found = Some(regexp::render(line, &groups, req.param(5)).unwrap_or_default());
        true
    })?;
    Ok(Value::Str(found.unwrap_or_default()))
}

fn file_regmatch(_: &AgentCtx, req: &Request) -> KeyResult {
    let _guard = file_guard(req)?;
    if req.param(1).is_empty() {
        return Err(NotSupported::invalid_param(1));
    }
    let range = line_range(req, "Start line must not exceed end line.")?;
    let re = Regexp::new(req.param(1)).ok();
    let mut matched = false;
    scan_lines(req, req.param(0), req.param(2), range, |line| {
        matched = re.as_ref().is_some_and(|re| re.is_match(line));
        matched
    })?;
    Ok(Value::Uint(u64::from(matched)))
}

// ---- checksums ---------------------------------------------------------------------------

/// The POSIX `cksum` CRC (polynomial 0x04C11DB7, MSB first, length appended, inverted).
#[derive(Debug, Clone, Default)]
pub struct PosixCksum {
    crc: u32,
    len: u64,
}

const fn cksum_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u32) << 24;
        let mut k = 0;
        while k < 8 {
            c = if c & 0x8000_0000 != 0 {
                (c << 1) ^ 0x04C1_1DB7
            } else {
                c << 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CKSUM_TABLE: [u32; 256] = cksum_table();

impl PosixCksum {
    fn step(crc: u32, byte: u8) -> u32 {
        (crc << 8) ^ CKSUM_TABLE[((crc >> 24) as u8 ^ byte) as usize]
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        for b in data {
            self.crc = Self::step(self.crc, *b);
        }
        self.len += data.len() as u64;
    }

    /// The checksum. The length is folded in as the 32-bit count zabbix_agentd keeps.
    pub fn finish(&self) -> u32 {
        let mut crc = self.crc;
        let mut len = self.len as u32;
        while len != 0 {
            crc = Self::step(crc, len as u8);
            len >>= 8;
        }
        !crc
    }
}

/// Reads a whole file in chunks into `sink`, with the official reason texts.
fn stream_file(req: &Request, mut sink: impl FnMut(&[u8])) -> Result<(), NotSupported> {
    let mut f = open_file(req, req.param(0))?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = f
            .read_timed(&mut buf)
            .map_err(|e| read_err(e, |_| "Cannot read from file.".into()))?;
        if n == 0 {
            return Ok(());
        }
        sink(&buf[..n]);
    }
}

fn digest_hex(req: &Request, md: openssl::hash::MessageDigest) -> KeyResult {
    let fail =
        |e: openssl::error::ErrorStack| NotSupported::new(format!("Cannot compute hash: {e}"));
    let mut h = openssl::hash::Hasher::new(md).map_err(fail)?;
    let mut err = None;
    stream_file(req, |chunk| {
        if let Err(e) = h.update(chunk) {
            err.get_or_insert(e);
        }
    })?;
    if let Some(e) = err {
        return Err(fail(e));
    }
    let digest = h.finish().map_err(fail)?;
    Ok(Value::Str(
        digest.iter().map(|b| format!("{b:02x}")).collect(),
    ))
}

fn file_md5sum(_: &AgentCtx, req: &Request) -> KeyResult {
    let _guard = file_guard(req)?;
    digest_hex(req, openssl::hash::MessageDigest::md5())
}

fn file_cksum(_: &AgentCtx, req: &Request) -> KeyResult {
    let _guard = file_guard(req)?;
    match req.param(1) {
        "md5" => digest_hex(req, openssl::hash::MessageDigest::md5()),
        "sha256" => digest_hex(req, openssl::hash::MessageDigest::sha256()),
        _ => {
            let mut ck = PosixCksum::default();
            stream_file(req, |chunk| ck.update(chunk))?;
            Ok(Value::Uint(u64::from(ck.finish())))
        }
    }
}

#[cfg(test)]
#[allow(clippy::panic)] // tests fail by panicking
mod tests {
    use super::*;

    #[test]
    fn posix_cksum_matches_coreutils() {
        let mut c = PosixCksum::default();
        c.update(b"hello\nworld\n");
        assert_eq!(c.finish(), 3795442390);
        assert_eq!(PosixCksum::default().finish(), 4294967295);
    }

    #[test]
    fn type_lists() {
        assert_eq!(types_to_mask(""), Ok(0));
        assert_eq!(types_to_mask("file, dir"), Ok(ft::FILE | ft::DIR));
        assert_eq!(types_to_mask(" file"), Ok(ft::FILE));
        assert_eq!(types_to_mask("dev"), Ok(ft::BDEV | ft::CDEV));
        assert_eq!(
            types_to_mask("file ,dir"),
            Err(NotSupported::new("Invalid type \"file \"."))
        );
        assert_eq!(
            types_to_mask("dir,"),
            Err(NotSupported::new("Invalid type \"\"."))
        );
        assert_eq!(
            types_to_mask("FILE"),
            Err(NotSupported::new("Invalid type \"FILE\"."))
        );
    }

    #[test]
    fn exists_defaults() {
        assert!(exists_decision(ft::FILE, 0, 0));
        assert!(!exists_decision(ft::DIR, 0, 0));
        assert!(exists_decision(ft::DIR, 0, ft::FILE));
        assert!(!exists_decision(ft::SYM | ft::FILE, ft::SYM, ft::FILE));
        assert!(exists_decision(ft::SYM | ft::FILE, ft::SYM, 0));
        assert!(!exists_decision(0, ft::ALL, 0));
        assert!(!exists_decision(ft::FILE, ft::ALL, ft::FILE));
    }

    #[test]
    fn contents_like_the_c_agent() {
        assert_eq!(contents_text(b"hello\nworld\n", ""), "hello\nworld");
        assert_eq!(contents_text(b"a\0b\nc\n", ""), "ac");
        assert_eq!(contents_text(b"a\r\n\r\n", ""), "a");
        assert_eq!(contents_text(b"", ""), "");
        assert_eq!(contents_text(b"\xef\xbb\xbfbom\n", ""), "bom");
        assert_eq!(contents_text(b"caf\xc3\xa9\r\n", "ISO-8859-1"), "cafÃ©");
        assert_eq!(contents_text(b"caf\xc3\xa9\r\n", "BOGUS"), "café");
    }

    #[test]
    fn fs_percentages() {
        let s = FsStat {
            frsize: 4096,
            blocks: 66053021,
            bfree: 23821397 + 3374428,
            bavail: 20299903,
            files: 16777216,
            ffree: 16371742,
        };
        let Ok(Value::Float(p)) = fs_size_value(&s, "pfree") else {
            panic!("pfree")
        };
        let used = (66053021 - 23821397 - 3374428) as f64;
        assert!((p - 100.0 * 20299903.0 / (used + 20299903.0)).abs() < 1e-6);
        assert_eq!(p, six_decimals(p));
        assert_eq!(fs_size_value(&s, "total"), Ok(Value::Uint(66053021 * 4096)));
        assert_eq!(fs_size_value(&s, "x"), Err(NotSupported::invalid_param(1)));
        let zero = FsStat::default();
        assert_eq!(fs_size_value(&zero, "pfree"), Ok(Value::Float(0.0)));
        assert_eq!(fs_size_value(&zero, "pused"), Ok(Value::Float(0.0)));
        assert_eq!(fs_inode_value(&zero, "pfree"), Ok(Value::Float(100.0)));
        assert_eq!(fs_inode_value(&zero, "pused"), Ok(Value::Float(0.0)));
        assert_eq!(
            fs_inode_value(&s, "used"),
            Ok(Value::Uint(16777216 - 16371742))
        );
    }

    #[test]
    fn permissions_and_owner_names() {
        assert_eq!(permissions_text(0o100644), "0644");
        assert_eq!(permissions_text(0o41777), "1777");
        assert_eq!(permissions_text(0o104755), "4755");
        assert_eq!(owner_name(0, false).as_deref(), Some("root"));
        assert_eq!(owner_name(0, true).as_deref(), Some("root"));
        assert_eq!(owner_name(4_000_000_000, false), None);
    }

    #[test]
    fn fs_get_entry_shape() {
        let zero = FsStat::default();
        assert_eq!(
            fs_get_entry("/proc", "proc", &zero),
            r#"{"fsname":"/proc","fstype":"proc","bytes":{"total":0,"free":0,"used":0,"pfree":0.000000,"pused":0.000000},"inodes":{"total":0,"free":0,"used":0,"pfree":100.000000,"pused":0.000000}}"#
        );
    }

    #[test]
    fn path_split_like_the_c_agent() {
        assert_eq!(split_path("/tmp/x.txt"), ("x.txt".into(), "/tmp".into()));
        assert_eq!(split_path("/tmp"), ("tmp".into(), "/".into()));
        assert_eq!(split_path("/"), ("/".into(), "/".into()));
    }

    #[test]
    fn file_get_shape() {
        let info = FileInfo {
            pathname: "/tmp/sysz/f.txt".into(),
            kind: "file",
            user: "root".into(),
            group: "root".into(),
            mode: 0o100644,
            uid: 0,
            gid: 0,
            size: 12,
            times: [1795271242, 1795271232, 0],
        };
        let utc = chrono::FixedOffset::east_opt(0).unwrap_or_else(|| panic!("offset"));
        assert_eq!(
            file_get_json(&info, &utc),
            r#"{"basename":"f.txt","pathname":"/tmp/sysz/f.txt","dirname":"/tmp/sysz","type":"file","user":"root","group":"root","permissions":"0644","uid":0,"gid":0,"size":12,"time":{"access":"2026-11-21T14:27:22+0000","modify":"2026-11-21T14:27:12+0000","change":null},"timestamp":{"access":1795271242,"modify":1795271232,"change":null}}"#
        );
    }

    #[test]
    fn fifo_without_writer_does_not_hang() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let fifo = dir.path().join("fifo");
        // mkfifo(1), as tests/reliability.rs: no unsafe outside src/sys.
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(made.success());
        let req = Request {
            key: zbx_proto::key::ItemKey::parse("vfs.file.contents[x]")
                .unwrap_or_else(|e| panic!("{e:?}")),
            timeout: std::time::Duration::from_secs(3),
            deadline: Instant::now() + std::time::Duration::from_secs(3),
        };
        let mut f = open_file(&req, &fifo.to_string_lossy()).unwrap_or_else(|e| panic!("{e}"));
        let mut buf = Vec::new();
        assert_eq!(f.read_to_end(&mut buf).ok(), Some(0));
    }

    #[test]
    fn statvfs_refused_while_an_earlier_call_hangs() {
        // A registered call that is already past its limit stands for a hung statvfs.
        let hung = crate::sys::inflight::enter("statvfs:/zt-held", std::time::Duration::ZERO)
            .unwrap_or_else(|| panic!("enter"));
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(statvfs("/zt-held").is_err_and(|e| e.0.contains("has not returned yet")));
        drop(hung);
        assert!(statvfs("/").is_ok());
    }

    #[test]
    fn paths_compare_in_normal_form() {
        assert_eq!(normal_path("/tmp//x"), "/tmp/x");
        assert_eq!(normal_path("/tmp/./x/"), "/tmp/x");
        assert_eq!(normal_path("//"), "/");
        assert_eq!(normal_path("a/./b"), "a/b");
        assert_eq!(normal_path("./"), ".");
        assert_eq!(
            normal_path("/a/../b"),
            "/a/../b",
            "'..' is left: a link may sit before it"
        );
    }

    #[test]
    fn discovery_json_shape() {
        let text = "proc /proc proc rw 0 0\n/dev/vda / ext4 rw 0 0\n";
        assert_eq!(
            fs_discovery_json(text),
            r#"[{"{#FSNAME}":"/proc","{#FSTYPE}":"proc"},{"{#FSNAME}":"/","{#FSTYPE}":"ext4"}]"#
        );
    }
}
