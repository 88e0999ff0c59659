//! `log[]` and `logrt[]` active items: which file, from which byte, which lines, what
//! text to send.
//!
//! Owns the key parameters, per-file offsets (tracked by device+inode and a signature
//! of the first bytes, so rotation by rename, `copytruncate` and truncation are followed
//! without resending a line), the regexp filter (local or `@global`), the output
//! template and the per-check line budget. Blocking file I/O: callers run
//! [`LogItem::check`] on the blocking pool. It must not know about buffers or sockets.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::regexp::{self, Regexp};
use zbx_proto::key::ItemKey;

use super::proto::GlobalRegexp;
use crate::keys::NotSupported;
use crate::sys::iconv::{self, LineFeed};
use crate::sys::oserror::zbx_strerror;
use crate::sys::userfile::{self, Ending};

/// Longest line handed on; longer lines are cut into pieces of this size, as the
/// official agent reads at most this much per line.
pub const MAX_LINE: usize = 256 * 1024;
/// Lines analysed per check = this × lines that may be sent (the official ratio).
pub const ANALYZE_FACTOR: u64 = 4;
/// Bytes of a file's start used to recognise it after renames and copies.
pub const SIGNATURE_LEN: usize = 512;
/// Read chunk size.
const CHUNK: usize = 64 * 1024;

/// `log` or `logrt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    /// One file.
    Log,
    /// A file-name regexp in a directory, rotated files followed by mtime.
    LogRt,
}

/// `mode` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Process the whole file (default).
    All,
    /// A new item starts at the end of the file.
    Skip,
}

/// The key's third parameter: the encoding lines are converted from, through the same
/// converter as vfs.file.* ([`iconv`]), as zabbix_agentd does: any name the C library's
/// iconv knows; lines split at the encoding's own line feed (UTF-16 and UTF-32 in their
/// width). Empty: the bytes as they are (no BOM guessing, as zabbix_agentd's log[]); a
/// name iconv does not know also keeps the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    /// The name, upper-cased as zabbix_agentd does; empty for none.
    label: String,
    lf: LineFeed,
}

impl Encoding {
    /// The encoding named by the key's third parameter (zabbix_agentd takes any).
    pub fn from_label(label: &str) -> Encoding {
        Encoding {
            label: label.to_ascii_uppercase(),
            lf: iconv::line_feed(label),
        }
    }

    /// How lines end: LF, CR LF or a lone CR in the encoding's width, as zabbix_agentd's
    /// log reader splits them.
    fn split(&self) -> userfile::Split {
        userfile::Split {
            lf: self.lf.lf,
            cr: true,
        }
    }

    /// The line as UTF-8 bytes for matching. Bytes that are not UTF-8 stay, as in
    /// zabbix_agentd; the regexp module and the output turn them into `?`.
    fn decode<'a>(&self, raw: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        if self.label.is_empty() {
            std::borrow::Cow::Borrowed(raw)
        } else {
            std::borrow::Cow::Owned(iconv::convert_to_utf8(raw, &self.label))
        }
    }
}

/// `line` without its ending (LF, CR LF or CR in the width of `lf`).
fn strip_ending<'a>(line: &'a [u8], lf: &[u8]) -> &'a [u8] {
    let line = line.strip_suffix(lf).unwrap_or(line);
    let w = lf.len();
    match line.len().checked_sub(w) {
        Some(at) if userfile::is_cr(&line[at..], lf) => &line[..at],
        _ => line,
    }
}

/// A line filter: a local regexp, or a named global regexp set from the server.
#[derive(Debug, Clone)]
pub enum Filter {
    /// Every line.
    None,
    /// A local regexp (the key's second parameter).
    Local(Regexp),
    /// `@name`: every expression of the set must agree.
    Global(Vec<GlobalExpr>),
}

/// One compiled expression of a global regexp set.
#[derive(Debug, Clone)]
pub enum GlobalExpr {
    /// Type 0: the string is included.
    Includes(String, bool),
    /// Type 1: any of the delimited strings is included.
    IncludesAny(Vec<String>, bool),
    /// Type 2: the string is not included.
    Excludes(String, bool),
    /// Type 3: the regexp matches.
    Matches(Regexp),
    /// Type 4: the regexp does not match.
    NotMatches(Regexp),
}

/// Whether `needle` occurs in `hay`; case-insensitively as zabbix_agentd's strcasestr does
/// (ASCII letters only).
fn contains(hay: &[u8], needle: &str, case_sensitive: bool) -> bool {
    let needle = needle.as_bytes();
    if needle.is_empty() {
        return true;
    }
    hay.windows(needle.len()).any(|w| {
        if case_sensitive {
            w == needle
        } else {
            w.eq_ignore_ascii_case(needle)
        }
    })
}

impl GlobalExpr {
    fn compile(g: &GlobalRegexp) -> Option<GlobalExpr> {
        let cs = g.case_sensitive != 0;
        let re = || Regexp::build(&g.expression, !cs).ok();
        Some(match g.expression_type {
            0 => GlobalExpr::Includes(g.expression.clone(), cs),
            1 => {
                let delim = g.exp_delimiter.chars().next().unwrap_or(',');
                GlobalExpr::IncludesAny(g.expression.split(delim).map(str::to_string).collect(), cs)
            }
            2 => GlobalExpr::Excludes(g.expression.clone(), cs),
            3 => GlobalExpr::Matches(re()?),
            4 => GlobalExpr::NotMatches(re()?),
            _ => return None,
        })
    }

    fn accepts(&self, line: &[u8]) -> bool {
        match self {
            GlobalExpr::Includes(s, cs) => contains(line, s, *cs),
            GlobalExpr::IncludesAny(v, cs) => v.iter().any(|s| contains(line, s, *cs)),
            GlobalExpr::Excludes(s, cs) => !contains(line, s, *cs),
            GlobalExpr::Matches(r) => r.is_match(line),
            GlobalExpr::NotMatches(r) => !r.is_match(line),
        }
    }
}

impl Filter {
    /// The regexp whose groups the output template uses.
    fn capture_regex(&self) -> Option<&Regexp> {
        match self {
            Filter::None => None,
            Filter::Local(r) => Some(r),
            Filter::Global(v) => v.iter().find_map(|e| match e {
                GlobalExpr::Matches(r) => Some(r),
                _ => None,
            }),
        }
    }

    fn accepts(&self, line: &[u8]) -> bool {
        match self {
            Filter::None => true,
            Filter::Local(r) => r.is_match(line),
            Filter::Global(v) => v.iter().all(|e| e.accepts(line)),
        }
    }
}

/// The value sent for one accepted line: the output template filled from the filter's
/// match ([`regexp::render`], zabbix_agentd's rules); without an expression `\0` is the
/// whole line. `None`: the template cannot be filled (`\@` without a group 1), and
/// zabbix_agentd sends nothing for that line.
pub fn render(template: &str, re: Option<&Regexp>, line: &[u8]) -> Option<String> {
    if template.is_empty() {
        return Some(crate::text::zbx_utf8(line));
    }
    let groups = match re {
        Some(re) => re.captures(line)?,
        None => {
            let mut g: regexp::Groups = [None; regexp::GROUPS];
            g[0] = Some((0, line.len()));
            g
        }
    };
    regexp::render(line, &groups, template)
}

/// The parsed parameters of a log item.
#[derive(Debug, Clone)]
pub struct LogSpec {
    /// log or logrt.
    pub kind: LogKind,
    /// log: the file; logrt: the directory.
    pub path: PathBuf,
    /// logrt: the file-name regexp.
    pub name_re: Option<Regexp>,
    /// Line filter.
    pub filter: Filter,
    /// Text encoding.
    pub encoding: Encoding,
    /// Lines per second (the key's maxlines, else MaxLinesPerSecond).
    pub maxlines: u64,
    /// all / skip.
    pub mode: Mode,
    /// Output template.
    pub output: String,
    /// Seconds the agent may lag behind before skipping ahead (0 = never skip).
    pub maxdelay: f64,
    /// logrt `copytruncate`: a copy of a tracked file inherits its offset.
    pub copytruncate: bool,
    /// `log.count`/`logrt.count`: send the number of matching lines, not the lines;
    /// `maxlines` is then the number of lines analysed per second.
    pub count: bool,
}

impl LogSpec {
    /// Checks the key's parameters like zabbix_agentd (texts are the official ones). The
    /// parameter count is the registry's ([`crate::keys::log`]): pass a key that came
    /// through [`AgentCtx::prepare_active`](crate::keys::AgentCtx::prepare_active).
    pub fn parse(
        key: &ItemKey,
        regexps: &[GlobalRegexp],
        max_lines_per_second: u32,
    ) -> Result<LogSpec, NotSupported> {
        let (kind, count) = match key.name.as_str() {
            "log" => (LogKind::Log, false),
            "logrt" => (LogKind::LogRt, false),
            "log.count" => (LogKind::Log, true),
            "logrt.count" => (LogKind::LogRt, true),
            _ => return Err(NotSupported::new(crate::keys::reason::UNSUPPORTED_KEY)),
        };
        // *.count has no <output>: maxdelay and options move one place left, and the
        // fourth parameter is maxproclines (lines analysed per second, default
        // 10 × MaxLinesPerSecond, at most 10000).
        let (i_maxdelay, i_options) = if count { (5, 6) } else { (6, 7) };
        let p = |i: usize| key.param(i).unwrap_or("");
        let file = p(0);
        if file.is_empty() {
            return Err(NotSupported::invalid_param(0));
        }
        let (path, name_re) = match kind {
            LogKind::Log => (PathBuf::from(file), None),
            LogKind::LogRt => {
                let (dir, pattern) = match file.rfind('/') {
                    Some(i) => (&file[..=i], &file[i + 1..]),
                    None => return Err(NotSupported::invalid_param(0)),
                };
                if pattern.is_empty() {
                    return Err(NotSupported::invalid_param(0));
                }
                let re = Regexp::new(pattern).map_err(|_| NotSupported::invalid_param(0))?;
                (PathBuf::from(dir), Some(re))
            }
        };
        let filter = match p(1) {
            "" => Filter::None,
            s if s.starts_with('@') => {
                let name = &s[1..];
                let set: Vec<GlobalExpr> = regexps
                    .iter()
                    .filter(|g| g.name == name)
                    .map(GlobalExpr::compile)
                    .collect::<Option<_>>()
                    .ok_or_else(|| NotSupported::invalid_param(1))?;
                if set.is_empty() {
                    return Err(NotSupported::new(format!(
                        "Global regular expression \"{name}\" does not exist."
                    )));
                }
                Filter::Global(set)
            }
            // zabbix_agentd's own words for a pattern PCRE2 refuses.
            s => Filter::Local(
                Regexp::new(s)
                    .map_err(|_| NotSupported::new("cannot compile regular expression"))?,
            ),
        };
        let encoding = Encoding::from_label(p(2));
        let (default_lines, max_lines) = if count {
            (10 * u64::from(max_lines_per_second.max(1)), 10_000)
        } else {
            (u64::from(max_lines_per_second.max(1)), 1000)
        };
        let maxlines = match p(3) {
            "" => default_lines,
            s => match s.parse::<u64>() {
                Ok(n) if (1..=max_lines).contains(&n) => n,
                _ => return Err(NotSupported::invalid_param(3)),
            },
        };
        let mode = match p(4) {
            "" | "all" => Mode::All,
            "skip" => Mode::Skip,
            _ => return Err(NotSupported::invalid_param(4)),
        };
        let maxdelay = match p(i_maxdelay) {
            "" => 0.0,
            s => match s.parse::<f64>() {
                Ok(v) if v == 0.0 || (1.0..=86_400.0).contains(&v) => v,
                _ => return Err(NotSupported::invalid_param(i_maxdelay)),
            },
        };
        let copytruncate = match (kind, p(i_options)) {
            (_, "" | "mtime-reread" | "mtime-noreread") => false,
            (LogKind::LogRt, "rotate") => false,
            (LogKind::LogRt, "copytruncate") => true,
            _ => return Err(NotSupported::invalid_param(i_options)),
        };
        Ok(LogSpec {
            kind,
            path,
            name_re,
            filter,
            encoding,
            maxlines,
            mode,
            output: if count {
                String::new()
            } else {
                p(5).to_string()
            },
            maxdelay,
            copytruncate,
            count,
        })
    }
}

/// Device and inode: a file's identity across renames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

#[derive(Debug, Clone)]
struct Tracked {
    offset: u64,
    /// Hash and length of the first bytes seen (up to [`SIGNATURE_LEN`]).
    sig: (u64, usize),
}

/// A line to send.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// The rendered value.
    pub value: String,
    /// Offset after the line in its file.
    pub lastlogsize: u64,
    /// The file's mtime (sent for logrt).
    pub mtime: i64,
    file: FileId,
    start: u64,
}

/// The result of one check.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Lines to send, in file order.
    pub lines: Vec<LogLine>,
    /// Position after the check (what a metadata-only update reports).
    pub lastlogsize: u64,
    /// mtime after the check.
    pub mtime: i64,
    /// Offsets before the check, in processing order, to undo a partial store.
    prev: Vec<(FileId, Option<Tracked>)>,
    /// Whether the check changed any offset.
    pub advanced: bool,
}

/// State of one log item between checks.
#[derive(Debug)]
pub struct LogItem {
    /// The parameters.
    pub spec: LogSpec,
    files: HashMap<FileId, Tracked>,
    /// log[]: the file currently followed, kept open so that lines written before a
    /// rename are still read.
    current: Option<(FileId, File)>,
    /// log[]: the file followed before a rename, until nothing is left in it.
    draining: Option<(FileId, File)>,
    /// The server's lastlogsize/mtime, used at the first check only.
    start: Option<(u64, i64)>,
    last: (u64, i64),
}

fn mtime_of(md: &std::fs::Metadata) -> i64 {
    md.mtime()
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn signature(f: &mut File, len: usize) -> std::io::Result<(u64, usize)> {
    let mut buf = vec![0u8; len.min(SIGNATURE_LEN)];
    f.seek(SeekFrom::Start(0))?;
    let mut got = 0;
    while got < buf.len() {
        let n = f.read(&mut buf[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok((fnv(&buf[..got]), got))
}

fn io_reason(path: &Path, e: &std::io::Error) -> NotSupported {
    NotSupported::new(format!(
        "Cannot obtain information for file \"{}\": {}",
        path.display(),
        zbx_strerror(e)
    ))
}

/// A file to read in this check.
struct Candidate {
    id: FileId,
    path: PathBuf,
    size: u64,
    mtime: i64,
}

impl LogItem {
    /// A log item starting from the server's `lastlogsize`/`mtime`.
    pub fn new(spec: LogSpec, lastlogsize: u64, mtime: i64) -> LogItem {
        LogItem {
            spec,
            files: HashMap::new(),
            current: None,
            draining: None,
            start: Some((lastlogsize, mtime)),
            last: (lastlogsize, mtime),
        }
    }

    fn candidates(&self) -> Result<Vec<Candidate>, NotSupported> {
        let path = &self.spec.path;
        match self.spec.kind {
            LogKind::Log => {
                let md = std::fs::metadata(path).map_err(|e| io_reason(path, &e))?;
                Ok(vec![Candidate {
                    id: FileId {
                        dev: md.dev(),
                        ino: md.ino(),
                    },
                    path: path.clone(),
                    size: md.len(),
                    mtime: mtime_of(&md),
                }])
            }
            LogKind::LogRt => {
                let re = self.spec.name_re.as_ref();
                let dir = std::fs::read_dir(path).map_err(|e| {
                    NotSupported::new(format!(
                        "Cannot open directory \"{}\": {}",
                        path.display(),
                        zbx_strerror(&e)
                    ))
                })?;
                let mut out = Vec::new();
                for entry in dir.flatten() {
                    let name = entry.file_name();
                    let Some(name) = name.to_str() else { continue };
                    if !re.is_some_and(|r| r.is_match(name.as_bytes())) {
                        continue;
                    }
                    let Ok(md) = std::fs::metadata(entry.path()) else {
                        continue;
                    };
                    if !md.is_file() {
                        continue;
                    }
                    out.push(Candidate {
                        id: FileId {
                            dev: md.dev(),
                            ino: md.ino(),
                        },
                        path: entry.path(),
                        size: md.len(),
                        mtime: mtime_of(&md),
                    });
                }
                out.sort_by(|a, b| a.mtime.cmp(&b.mtime).then_with(|| a.path.cmp(&b.path)));
                Ok(out)
            }
        }
    }

    /// First check: place every file at the offset the server's state implies.
    fn initialise(&mut self, cands: &[Candidate], files: &mut [File]) {
        let Some((lastlogsize, mtime)) = self.start.take() else {
            return;
        };
        let new_item = lastlogsize == 0 && mtime == 0;
        let mut first_open = true;
        for (c, f) in cands.iter().zip(files.iter_mut()) {
            // A new item in skip mode, and (logrt) files older than the server's mtime,
            // are done already.
            let done = (new_item && self.spec.mode == Mode::Skip)
                || (self.spec.kind == LogKind::LogRt && c.mtime < mtime);
            let offset = if done {
                c.size
            } else if first_open {
                first_open = false;
                if lastlogsize <= c.size {
                    lastlogsize
                } else {
                    0
                }
            } else {
                0
            };
            let sig = signature(f, usize::try_from(offset).unwrap_or(usize::MAX)).unwrap_or((0, 0));
            self.files.insert(c.id, Tracked { offset, sig });
        }
    }

    /// Reads new lines. `seconds` is the time the check covers (its interval), which
    /// with maxlines gives the number of lines that may be sent; see [`LogItem::check_at_most`].
    pub fn check(&mut self, seconds: u64) -> Result<Batch, NotSupported> {
        self.check_at_most(seconds, u64::MAX)
    }

    /// Like [`LogItem::check`], sending at most `room` lines (what the buffer can still
    /// take), so that memory and work per check stay bounded: at most
    /// `min(maxlines × seconds, room)` lines sent and four times that many analysed.
    pub fn check_at_most(&mut self, seconds: u64, room: u64) -> Result<Batch, NotSupported> {
        let cands = self.candidates()?;
        let mut opened = Vec::with_capacity(cands.len());
        let mut readable = Vec::with_capacity(cands.len());
        for c in cands {
            // Non-blocking: a FIFO named by the item must not wait for a writer (its
            // size is 0, so it is never read).
            match crate::sys::userfile::open_nonblocking(&c.path) {
                Ok(f) => {
                    opened.push(f);
                    readable.push(c);
                }
                Err(e) if self.spec.kind == LogKind::Log => return Err(io_reason(&c.path, &e)),
                Err(_) => {}
            }
        }
        self.initialise(&readable, &mut opened);

        let per_check = self.spec.maxlines.saturating_mul(seconds.max(1));
        let mut budget = if self.spec.count {
            // Counting sends one value per check: only the analysis is bounded.
            Budget {
                send: u64::MAX,
                analyze: per_check,
            }
        } else {
            let send = per_check.min(room.max(1));
            Budget {
                send,
                analyze: send.saturating_mul(ANALYZE_FACTOR),
            }
        };
        let mut batch = Batch {
            lastlogsize: self.last.0,
            mtime: self.last.1,
            ..Batch::default()
        };

        // log[]: drain the file we followed before it was renamed away. Its descriptor is
        // kept until a check finds nothing left in it, so a rewind can still reach it.
        if self.spec.kind == LogKind::Log {
            if let Some((id, f)) = self.current.take() {
                if readable.first().map(|c| c.id) == Some(id) {
                    self.current = Some((id, f));
                } else {
                    self.draining = Some((id, f));
                }
            }
            if let Some((id, mut f)) = self.draining.take() {
                let md = f.metadata().map_err(|e| io_reason(&self.spec.path, &e))?;
                let offset = self.files.get(&id).map_or(0, |t| t.offset);
                if offset >= md.len() {
                    self.files.remove(&id);
                } else {
                    let c = Candidate {
                        id,
                        path: self.spec.path.clone(),
                        size: md.len(),
                        mtime: mtime_of(&md),
                    };
                    self.read_file(&c, &mut f, &mut budget, &mut batch)?;
                    let done = self.files.get(&id).map_or(0, |t| t.offset) >= md.len();
                    self.draining = Some((id, f));
                    if !done {
                        // Not finished (budget): the new file waits.
                        self.last = (batch.lastlogsize, batch.mtime);
                        return Ok(batch);
                    }
                }
            }
        }

        for (c, mut f) in readable.iter().zip(opened) {
            if budget.analyze == 0 || budget.send == 0 {
                break;
            }
            self.read_file(c, &mut f, &mut budget, &mut batch)?;
            if self.spec.kind == LogKind::Log {
                self.current = Some((c.id, f));
            }
        }
        if self.spec.kind == LogKind::LogRt {
            let present: Vec<FileId> = readable.iter().map(|c| c.id).collect();
            self.files.retain(|id, _| present.contains(id));
        }
        self.last = (batch.lastlogsize, batch.mtime);
        Ok(batch)
    }

    fn read_file(
        &mut self,
        c: &Candidate,
        f: &mut File,
        budget: &mut Budget,
        batch: &mut Batch,
    ) -> Result<(), NotSupported> {
        let prev = self.files.get(&c.id).cloned();
        let mut tracked = match &prev {
            Some(t) => t.clone(),
            None => self.adopt(c, f),
        };
        // Same inode but different first bytes, or shorter than what we read: the file
        // was truncated or replaced; start again from its beginning.
        let sig_now = signature(f, tracked.sig.1).unwrap_or((0, 0));
        if c.size < tracked.offset || sig_now != tracked.sig {
            tracked = Tracked {
                offset: 0,
                sig: (fnv(&[]), 0),
            };
        }
        if tracked.offset >= c.size {
            if prev.is_none() {
                batch.prev.push((c.id, None));
                self.files.insert(c.id, tracked);
            }
            return Ok(());
        }
        batch.prev.push((c.id, prev));
        self.skip_if_late(c, &mut tracked, f, budget);
        let mut pos = tracked.offset;
        f.seek(SeekFrom::Start(pos))
            .map_err(|e| io_reason(&c.path, &e))?;
        let split = self.spec.encoding.split();
        let mut lines = userfile::LineReader::new(&mut *f, split, MAX_LINE);
        while budget.analyze > 0 && budget.send > 0 {
            let (raw, ending) = match lines.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(e) => return Err(io_reason(&c.path, &e)),
            };
            let start = pos;
            pos += raw.len() as u64;
            match ending {
                Ending::Terminator => {
                    let text = strip_ending(raw, split.lf);
                    self.take_line(text, start, pos, c, budget, batch);
                }
                Ending::Full => self.take_line(raw, start, pos, c, budget, batch),
                Ending::Eof => {
                    pos = start;
                    break;
                }
            }
        }
        drop(lines);
        // An unterminated last line waits for its newline.
        let moved = pos != tracked.offset;
        tracked.offset = pos;
        if tracked.sig.1 < SIGNATURE_LEN && (tracked.sig.1 as u64) < pos {
            tracked.sig =
                signature(f, usize::try_from(pos).unwrap_or(usize::MAX)).unwrap_or(tracked.sig);
        }
        self.files.insert(c.id, tracked);
        if moved {
            batch.advanced = true;
            batch.lastlogsize = pos;
            batch.mtime = c.mtime;
        }
        Ok(())
    }

    /// A file seen for the first time after the first check: a copy of a tracked file
    /// (copytruncate) inherits its offset; anything else starts at 0.
    fn adopt(&self, c: &Candidate, f: &mut File) -> Tracked {
        if self.spec.copytruncate {
            for t in self.files.values() {
                if t.sig.1 > 0 && c.size >= t.offset && signature(f, t.sig.1).ok() == Some(t.sig) {
                    return t.clone();
                }
            }
        }
        Tracked {
            offset: 0,
            sig: (fnv(&[]), 0),
        }
    }

    /// `maxdelay`: when the unread part cannot be sent within maxdelay seconds at
    /// maxlines per second (assuming lines as long as the bytes analysed suggest), jump
    /// ahead to the part that can, at a line start.
    fn skip_if_late(&self, c: &Candidate, t: &mut Tracked, f: &mut File, budget: &Budget) {
        if self.spec.maxdelay <= 0.0 {
            return;
        }
        const ASSUMED_LINE: u64 = 80;
        let unread = c.size - t.offset;
        let lines_in_time = (self.spec.maxdelay * self.spec.maxlines as f64) as u64;
        let keep = lines_in_time.max(budget.send).saturating_mul(ASSUMED_LINE);
        if unread <= keep {
            return;
        }
        // Move to the start of the next line after `target`, in the encoding's width.
        let lf = self.spec.encoding.lf.lf;
        let w = lf.len();
        let target = c.size - keep;
        let target = target - target % w as u64;
        let mut buf = vec![0u8; CHUNK];
        if f.seek(SeekFrom::Start(target)).is_err() {
            return;
        }
        if let Ok(n) = f.read(&mut buf) {
            if let Some(nl) = (0..n / w).map(|k| k * w).find(|&i| &buf[i..i + w] == lf) {
                let next = target + (nl + w) as u64;
                tracing::warn!(
                    file = %c.path.display(),
                    skipped_bytes = next - t.offset,
                    "Log item is behind more than maxdelay: skipping ahead"
                );
                t.offset = next;
            }
        }
    }

    fn take_line(
        &self,
        raw: &[u8],
        start: u64,
        end: u64,
        c: &Candidate,
        budget: &mut Budget,
        batch: &mut Batch,
    ) {
        budget.analyze = budget.analyze.saturating_sub(1);
        let mut line = self.spec.encoding.decode(raw);
        // zabbix_agentd reads a NUL inside a log line as `?` (it matches and sends the rest).
        if line.contains(&0) {
            for b in line.to_mut().iter_mut().filter(|b| **b == 0) {
                *b = b'?';
            }
        }
        if !self.spec.filter.accepts(&line) {
            return;
        }
        budget.send = budget.send.saturating_sub(1);
        let value = if self.spec.count {
            String::new()
        } else {
            match render(&self.spec.output, self.spec.filter.capture_regex(), &line) {
                Some(v) => v,
                None => return,
            }
        };
        batch.lines.push(LogLine {
            value,
            lastlogsize: end,
            mtime: c.mtime,
            file: c.id,
            start,
        });
    }

    /// Only the first `stored` lines of `batch` made it into the buffer: put the offsets
    /// back so that the rest is read again at the next check (nothing lost, nothing sent
    /// twice).
    pub fn rewind(&mut self, batch: &Batch, stored: usize) {
        let Some(first_lost) = batch.lines.get(stored) else {
            return;
        };
        let file = first_lost.file;
        let pos = batch.prev.iter().position(|(id, _)| *id == file);
        if let Some(t) = self.files.get_mut(&file) {
            t.offset = first_lost.start;
        }
        if let Some(p) = pos {
            for (id, prev) in &batch.prev[p + 1..] {
                match prev {
                    Some(t) => {
                        self.files.insert(*id, t.clone());
                    }
                    None => {
                        self.files.remove(id);
                    }
                }
            }
        }
        let (lls, mt) = match stored.checked_sub(1).and_then(|i| batch.lines.get(i)) {
            Some(l) => (l.lastlogsize, l.mtime),
            None => (first_lost.start, first_lost.mtime),
        };
        self.last = (lls, mt);
        if self.spec.kind == LogKind::Log {
            // Re-open at the next check so the rewound file is followed again.
            if self.current.as_ref().map(|(id, _)| *id) != Some(file) {
                self.current = None;
            }
        }
    }
}

#[derive(Debug)]
struct Budget {
    send: u64,
    analyze: u64,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::io::Write;

    fn spec(key: &str) -> LogSpec {
        LogSpec::parse(&ItemKey::parse(key).unwrap(), &[], 20).unwrap()
    }

    fn values(b: &Batch) -> Vec<&str> {
        b.lines.iter().map(|l| l.value.as_str()).collect()
    }

    fn append(path: &Path, s: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(s.as_bytes()).unwrap();
    }

    #[test]
    fn params_are_checked_with_official_texts() {
        // Through the registry, as the worker resolves them: the count is declared there.
        let ctx = crate::keys::AgentCtx::new(std::sync::Arc::new(crate::config::Config::default()));
        let bad = |k: &str| {
            ctx.prepare_active(k)
                .and_then(|key| LogSpec::parse(&key, &[], 20))
                .unwrap_err()
                .0
        };
        assert_eq!(bad("log[]"), "Invalid first parameter.");
        assert_eq!(bad("log[/x,\"(\"]"), "cannot compile regular expression");
        // Any encoding is taken, as zabbix_agentd does (an unknown one keeps the bytes:
        // tests/active_mock.rs compares both agents).
        assert!(ctx
            .prepare_active("log[/x,,KOI9]")
            .and_then(|key| LogSpec::parse(&key, &[], 20))
            .is_ok());
        assert_eq!(bad("log[/x,,,0]"), "Invalid fourth parameter.");
        assert_eq!(bad("log[/x,,,,fast]"), "Invalid fifth parameter.");
        assert_eq!(bad("log[/x,,,,,,-1]"), "Invalid seventh parameter.");
        assert_eq!(
            bad("log[/x,,,,,,,copytruncate]"),
            "Invalid eighth parameter."
        );
        assert_eq!(bad("log[/x,,,,,,,,9]"), "Too many parameters.");
        assert_eq!(
            bad("log[/x,@nope]"),
            "Global regular expression \"nope\" does not exist."
        );
        let s = spec("logrt[\"/var/log/app\\.log.*\",err,,5,skip,\\1,,copytruncate]");
        assert_eq!(s.path, PathBuf::from("/var/log/"));
        assert_eq!(s.maxlines, 5);
        assert_eq!(s.mode, Mode::Skip);
        assert!(s.copytruncate);
    }

    #[test]
    fn output_template() {
        let re = Regexp::new(r"user=(\w+) code=(\d+)").unwrap();
        let line = "x user=bob code=42 y";
        let r = |t: &str, re: Option<&Regexp>| render(t, re, line.as_bytes()).unwrap();
        assert_eq!(r(r"\2:\1", Some(&re)), "42:bob");
        assert_eq!(r(r"[\0]", Some(&re)), "[user=bob code=42]");
        assert_eq!(r(r"\3", Some(&re)), "");
        assert_eq!(r("", Some(&re)), line);
        assert_eq!(r(r"a\\b", None), r"a\b");
        assert_eq!(r(r"<\0>", None), format!("<{line}>"));
        assert_eq!(render(r"\@", None, line.as_bytes()), None);
    }

    #[test]
    fn global_regexp_sets() {
        let g = |t: i32, e: &str, cs: i32| GlobalRegexp {
            name: "errs".into(),
            expression: e.into(),
            expression_type: t,
            exp_delimiter: ",".into(),
            case_sensitive: cs,
        };
        let regexps = vec![
            g(3, "err(or)? (\\d+)", 0),
            g(2, "ignore", 1),
            g(1, "disk,net", 0),
        ];
        let s = LogSpec::parse(
            &ItemKey::parse("log[/x,@errs,,,,\\2]").unwrap(),
            &regexps,
            20,
        )
        .unwrap();
        assert!(s.filter.accepts(b"ERROR 5 on disk"));
        assert!(!s.filter.accepts(b"ERROR 5 on disk, ignore"));
        assert!(!s.filter.accepts(b"ERROR 5 on cpu"));
        assert!(!s.filter.accepts(b"all fine on net"));
        assert_eq!(
            render(&s.output, s.filter.capture_regex(), b"Err 7 net").as_deref(),
            Some("7")
        );
    }

    #[test]
    fn tails_from_lastlogsize_filters_and_never_resends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        append(&path, "one\ntwo error\nthree\n");
        let key = format!("log[{},error|three]", path.display());
        let mut item = LogItem::new(spec(&key), 4, 0);
        let b = item.check(1).unwrap();
        assert_eq!(values(&b), vec!["two error", "three"]);
        assert_eq!(b.lines[0].lastlogsize, 14);
        assert_eq!(b.lastlogsize, 20);
        assert!(item.check(1).unwrap().lines.is_empty());
        append(&path, "four error\npartial");
        let b = item.check(1).unwrap();
        assert_eq!(values(&b), vec!["four error"]);
        // A partial line alone moves nothing (no metadata update either).
        assert!(!item.check(1).unwrap().advanced);
        append(&path, " three\n");
        assert_eq!(values(&item.check(1).unwrap()), vec!["partial three"]);
    }

    #[test]
    fn skip_mode_starts_at_the_end_for_new_items_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        append(&path, "old\n");
        let key = format!("log[{},,,,skip]", path.display());
        let mut item = LogItem::new(spec(&key), 0, 0);
        assert!(item.check(1).unwrap().lines.is_empty());
        append(&path, "new\n");
        assert_eq!(values(&item.check(1).unwrap()), vec!["new"]);
        // An existing item (server lastlogsize 0 but mtime set) is not skipped.
        let key = format!("logrt[{}/a\\.log,,,,skip]", dir.path().display());
        let mut item = LogItem::new(spec(&key), 0, 1);
        assert_eq!(values(&item.check(1).unwrap()), vec!["old", "new"]);
    }

    #[test]
    fn maxlines_budget_and_rewind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.log");
        let text: String = (1..=10).map(|i| format!("l{i}\n")).collect();
        append(&path, &text);
        let key = format!("log[{},,,3]", path.display());
        let mut item = LogItem::new(spec(&key), 0, 0);
        assert_eq!(values(&item.check(1).unwrap()), vec!["l1", "l2", "l3"]);
        let b = item.check(2).unwrap();
        assert_eq!(values(&b), vec!["l4", "l5", "l6", "l7", "l8", "l9"]);
        // Only two made it into the buffer: the rest comes again.
        item.rewind(&b, 2);
        assert_eq!(
            values(&item.check(2).unwrap()),
            vec!["l6", "l7", "l8", "l9", "l10"]
        );
    }

    #[test]
    fn survives_truncation_and_rename_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        append(&path, "a\nb\n");
        let key = format!("log[{}]", path.display());
        let mut item = LogItem::new(spec(&key), 0, 0);
        assert_eq!(values(&item.check(1).unwrap()), vec!["a", "b"]);
        // Lines written just before a rename are still read from the old file.
        append(&path, "c\n");
        std::fs::rename(&path, dir.path().join("c.log.1")).unwrap();
        append(&path, "d\n");
        assert_eq!(values(&item.check(1).unwrap()), vec!["c", "d"]);
        // Truncation in place: start again at 0.
        std::fs::write(&path, "e\n").unwrap();
        assert_eq!(values(&item.check(1).unwrap()), vec!["e"]);
    }

    #[test]
    fn rewind_into_a_renamed_file_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.log");
        append(&path, "a\n");
        let mut item = LogItem::new(spec(&format!("log[{}]", path.display())), 0, 0);
        assert_eq!(values(&item.check(1).unwrap()), vec!["a"]);
        append(&path, "b\nc\n");
        std::fs::rename(&path, dir.path().join("r.log.1")).unwrap();
        append(&path, "d\n");
        let b = item.check(1).unwrap();
        assert_eq!(values(&b), vec!["b", "c", "d"]);
        // Only "b" fitted into the buffer.
        item.rewind(&b, 1);
        assert_eq!(values(&item.check(1).unwrap()), vec!["c", "d"]);
        assert!(item.check(1).unwrap().lines.is_empty());
        append(&path, "e\n");
        assert_eq!(values(&item.check(1).unwrap()), vec!["e"]);
    }

    #[test]
    fn logrt_follows_rotation_by_rename_and_mtime_order() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("app.log");
        append(&base, "1\n2\n");
        let key = format!("logrt[{}/app\\.log.*]", dir.path().display());
        let mut item = LogItem::new(spec(&key), 0, 0);
        assert_eq!(values(&item.check(1).unwrap()), vec!["1", "2"]);
        append(&base, "3\n");
        std::fs::rename(&base, dir.path().join("app.log.1")).unwrap();
        // Make the new file clearly newer than the rotated one.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        append(&base, "4\n");
        let b = item.check(1).unwrap();
        assert_eq!(values(&b), vec!["3", "4"]);
        assert_eq!(b.lastlogsize, 2);
        assert!(b.mtime > 0);
        assert!(item.check(1).unwrap().lines.is_empty());
    }

    #[test]
    fn logrt_copytruncate_does_not_resend_the_copy() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("x.log");
        append(&base, "first line of the file\nsecond\n");
        let key = format!(
            "logrt[{}/x\\.log.*,,,,,,,copytruncate]",
            dir.path().display()
        );
        let mut item = LogItem::new(spec(&key), 0, 0);
        assert_eq!(item.check(1).unwrap().lines.len(), 2);
        std::fs::copy(&base, dir.path().join("x.log.1")).unwrap();
        std::fs::write(&base, "").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        append(&base, "third\n");
        assert_eq!(values(&item.check(1).unwrap()), vec!["third"]);
    }

    #[test]
    fn maxdelay_skips_what_cannot_be_sent_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("late.log");
        let text: String = (0..2000).map(|i| format!("line {i:05}\n")).collect();
        append(&path, &text);
        // 1 line per second, at most 2 s behind: only the last ~2 lines' worth (estimated
        // at 80 bytes a line) are kept; the first line kept starts a line.
        let mut item = LogItem::new(spec(&format!("log[{},,,1,,,2]", path.display())), 0, 0);
        let b = item.check(1).unwrap();
        assert_eq!(b.lines.len(), 1);
        let first: u32 = b.lines[0].value["line ".len()..].parse().unwrap();
        assert!((1980..2000).contains(&first), "{}", b.lines[0].value);
        // Without maxdelay nothing is skipped.
        let mut item = LogItem::new(spec(&format!("log[{},,,1]", path.display())), 0, 0);
        assert_eq!(values(&item.check(1).unwrap()), vec!["line 00000"]);
    }

    #[test]
    fn count_items_count_matching_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("count.log");
        append(&path, "ok\nerror 1\nok\nerror 2\nerror 3\n");
        let s = spec(&format!("log.count[{},error]", path.display()));
        assert!(s.count);
        assert_eq!(s.maxlines, 200, "10 × MaxLinesPerSecond");
        let mut item = LogItem::new(s, 0, 0);
        let b = item.check(1).unwrap();
        assert_eq!(b.lines.len(), 3);
        assert_eq!(b.lastlogsize, 30);
        assert_eq!(item.check(1).unwrap().lines.len(), 0);
        // maxproclines bounds the lines analysed per second.
        append(&path, &"error\n".repeat(10));
        let mut item = LogItem::new(spec(&format!("log.count[{},,,4]", path.display())), 0, 0);
        assert_eq!(item.check(1).unwrap().lines.len(), 4);
        let ctx = crate::keys::AgentCtx::new(std::sync::Arc::new(crate::config::Config::default()));
        let bad = |k: &str| {
            ctx.prepare_active(k)
                .and_then(|key| LogSpec::parse(&key, &[], 20))
                .unwrap_err()
                .0
        };
        assert_eq!(bad("log.count[/x,,,10001]"), "Invalid fourth parameter.");
        assert_eq!(bad("log.count[/x,,,,,-1]"), "Invalid sixth parameter.");
        assert_eq!(
            bad("logrt.count[/d/x,,,,,,bogus]"),
            "Invalid seventh parameter."
        );
        assert_eq!(bad("log.count[/x,,,,,,,extra]"), "Too many parameters.");
    }

    #[test]
    fn outside_active_checks_the_keys_answer_like_zabbix_agentd() {
        let ctx = crate::keys::AgentCtx::new(std::sync::Arc::new(crate::config::Config::default()));
        for key in [
            "log[/tmp/x]",
            "log",
            "logrt[/tmp/x,a,b,c,d,e,f,g]",
            "log.count[/x]",
            "logrt.count[/x]",
            "eventlog[system]",
        ] {
            let r = ctx.execute_inline(key).unwrap();
            assert_eq!(
                r,
                Err(NotSupported::new(crate::keys::log::ACTIVE_ONLY)),
                "{key}"
            );
        }
    }

    #[test]
    fn encodings_are_decoded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("enc.log");
        // "привет" in CP1251 and KOI8-R, "café" in Latin-1.
        std::fs::write(&path, b"\xef\xf0\xe8\xe2\xe5\xf2\n").unwrap();
        let mut item = LogItem::new(spec(&format!("log[{},,CP1251]", path.display())), 0, 0);
        assert_eq!(values(&item.check(1).unwrap()), vec!["привет"]);
        std::fs::write(&path, b"\xd0\xd2\xc9\xd7\xc5\xd4\n").unwrap();
        let mut item = LogItem::new(spec(&format!("log[{},,koi8-r]", path.display())), 0, 0);
        assert_eq!(values(&item.check(1).unwrap()), vec!["привет"]);
        std::fs::write(&path, b"caf\xe9\r\n").unwrap();
        let mut item = LogItem::new(spec(&format!("log[{},,ISO-8859-1]", path.display())), 0, 0);
        assert_eq!(values(&item.check(1).unwrap()), vec!["café"]);
        // Invalid UTF-8 is sent as `?` per byte (agentd sends the raw byte), a NUL as `?`
        // (as agentd), never dropped.
        std::fs::write(&path, b"a\xffb\0c\n").unwrap();
        let mut item = LogItem::new(spec(&format!("log[{}]", path.display())), 0, 0);
        assert_eq!(values(&item.check(1).unwrap()), vec!["a?b?c"]);
    }

    #[test]
    fn utf16_and_utf32_are_read_in_their_width() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u16.log");
        let mut bytes = vec![0xff, 0xfe];
        bytes.extend(
            "héllo\r\nwörld\rx\nlast"
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        );
        std::fs::write(&path, &bytes).unwrap();
        let mut item = LogItem::new(spec(&format!("log[{},,UTF-16LE]", path.display())), 0, 0);
        let b = item.check(1).unwrap();
        // The unterminated last line waits; lastlogsize counts bytes.
        assert_eq!(values(&b), vec!["héllo", "wörld", "x"]);
        assert_eq!(b.lastlogsize, (bytes.len() - 8) as u64);
        let be: Vec<u8> = "a\nb\n".encode_utf16().flat_map(u16::to_be_bytes).collect();
        std::fs::write(&path, be).unwrap();
        let mut item = LogItem::new(spec(&format!("log[{},,utf-16be]", path.display())), 0, 0);
        assert_eq!(values(&item.check(1).unwrap()), vec!["a", "b"]);
        let le32: Vec<u8> = "y\nz\n"
            .chars()
            .flat_map(|c| u32::from(c).to_le_bytes())
            .collect();
        std::fs::write(&path, le32).unwrap();
        let mut item = LogItem::new(spec(&format!("log[{},,UTF-32LE]", path.display())), 0, 0);
        assert_eq!(values(&item.check(1).unwrap()), vec!["y", "z"]);
    }

    #[test]
    fn missing_file_is_reported() {
        let mut item = LogItem::new(spec("log[/nonexistent/zt-active.log]"), 0, 0);
        let e = item.check(1).unwrap_err();
        assert!(
            e.0.starts_with(
                "Cannot obtain information for file \"/nonexistent/zt-active.log\": [2]"
            ),
            "{e}"
        );
    }
}
