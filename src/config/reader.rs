//! zabbix_agentd.conf lines → `Key=Value` entries with their file:line, following `Include`.
//!
//! Owns the line syntax and the Include walk; it knows no directive but `Include` and must
//! not interpret values. [`parse_lines`] is pure; [`read_tree`] and [`read_tree_str`] do the
//! file-system part (reading files, listing directories).
//!
//! Line syntax, as zabbix_agentd 6.0 reads it:
//! - leading spaces/tabs and trailing spaces/tabs/CR are dropped; a line that is then empty
//!   or starts with `#` is skipped (a comment may hold any bytes);
//! - any other line must be valid UTF-8 (`non-UTF-8 character at line N`), at most
//!   [`MAX_LINE_LEN`] bytes, and contain `=`; the name is what precedes the first `=`
//!   (trailing blanks dropped), the value what follows it (leading blanks dropped);
//!   an empty value is kept as empty (what it means is the directive's business).
//!
//! Include (`Include=PATH`): a file; a directory (every regular file in it, hidden ones
//! included, as zabbix does); or a pattern whose last path component holds `*` (the only
//! wildcard zabbix knows: `?` and `[` are literal). zabbix lists a directory in `readdir`
//! order; zagent sorts names bytewise so the result does not depend on the file system.
//! A relative path is relative to the process's working directory (as zabbix's `fopen`);
//! when it names nothing there, to the including file's directory (as zabbix_agent2).
//! Nesting is limited to [`MAX_INCLUDE_DEPTH`] files (the main file counts as 1) as in
//! zabbix; a file that includes itself, directly or not, is reported as a cycle at once.

use std::path::{Path, PathBuf};

use super::error::{os_error, ConfigError};
use super::Origin;

/// Longest line zabbix accepts (`MAX_STRING_LEN`), in bytes, without the line end.
pub const MAX_LINE_LEN: usize = 2048;
/// How many files deep `Include` may nest, the main file counting as the first
/// (zabbix's `ZBX_MAX_INCLUDE_LEVEL`).
pub const MAX_INCLUDE_DEPTH: usize = 10;
/// Files larger than this are refused rather than read into memory (a configuration file
/// is a few kB; this only stops an `Include` of something that is not one).
pub const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// One `Key=Value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The directive name as written (case-sensitive, as in zabbix).
    pub key: String,
    /// The value, leading and trailing blanks removed.
    pub value: String,
    /// Where the line is.
    pub origin: Origin,
}

/// Splits one file's bytes into entries (pure). `Include` lines are returned like any other.
pub fn parse_lines(bytes: &[u8], file: &Path) -> (Vec<Entry>, Vec<ConfigError>) {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let mut chunks: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if bytes.ends_with(b"\n") {
        chunks.pop();
    }
    for (n, raw) in chunks.into_iter().enumerate() {
        let origin = Origin {
            file: file.to_path_buf(),
            line: n + 1,
        };
        let content = raw.strip_suffix(b"\r").unwrap_or(raw);
        if content.len() > MAX_LINE_LEN {
            errors.push(ConfigError::new(
                &origin,
                format!("line exceeds {MAX_LINE_LEN} byte length limit; split or shorten it"),
            ));
            continue;
        }
        let line = trim_bytes(raw, b" \t", b" \t\r\n");
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let Ok(line) = std::str::from_utf8(line) else {
            errors.push(ConfigError::new(
                &origin,
                format!(
                    "non-UTF-8 character at line {} \"{}\"; the file must be UTF-8",
                    origin.line,
                    String::from_utf8_lossy(line)
                ),
            ));
            continue;
        };
        let Some((key, value)) = line.split_once('=') else {
            errors.push(ConfigError::new(
                &origin,
                format!("invalid entry \"{line}\" (not following \"parameter=value\" notation)"),
            ));
            continue;
        };
        entries.push(Entry {
            key: key.trim_end_matches([' ', '\t', '\r', '\n']).to_string(),
            value: value.trim_start_matches([' ', '\t']).to_string(),
            origin,
        });
    }
    (entries, errors)
}

fn trim_bytes<'a>(mut s: &'a [u8], left: &[u8], right: &[u8]) -> &'a [u8] {
    while let Some((first, rest)) = s.split_first() {
        if !left.contains(first) {
            break;
        }
        s = rest;
    }
    while let Some((last, rest)) = s.split_last() {
        if !right.contains(last) {
            break;
        }
        s = rest;
    }
    s
}

/// Reads `path` and everything it includes, in order. `Err` when the main file itself
/// cannot be read (nothing else is worth checking then).
pub fn read_tree(path: &Path) -> Result<(Vec<Entry>, Vec<ConfigError>), ConfigError> {
    let bytes = read_file(path).map_err(|e| {
        ConfigError::file(
            path,
            format!(
                "cannot open config file \"{}\": {}",
                path.display(),
                os_error(&e)
            ),
        )
    })?;
    let mut walk = Walk::default();
    walk.file(&bytes, path, 1);
    Ok((walk.entries, walk.errors))
}

/// Like [`read_tree`] for a main file already in memory; `name` is used in messages
/// (and for cycle detection when it names a real file).
pub fn read_tree_str(text: &str, name: &Path) -> (Vec<Entry>, Vec<ConfigError>) {
    let mut walk = Walk::default();
    walk.file(text.as_bytes(), name, 1);
    (walk.entries, walk.errors)
}

fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_FILE_SIZE} bytes, not a configuration file"),
        ));
    }
    Ok(bytes)
}

#[derive(Default)]
struct Walk {
    entries: Vec<Entry>,
    errors: Vec<ConfigError>,
    /// Canonical paths of the files being read, outermost first.
    stack: Vec<PathBuf>,
}

impl Walk {
    fn file(&mut self, bytes: &[u8], path: &Path, depth: usize) {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        self.stack.push(canonical);
        let (entries, errors) = parse_lines(bytes, path);
        self.errors.extend(errors);
        for entry in entries {
            if entry.key == "Include" {
                self.include(&entry, depth);
            } else {
                self.entries.push(entry);
            }
        }
        self.stack.pop();
    }

    fn include(&mut self, entry: &Entry, depth: usize) {
        let origin = &entry.origin;
        // zabbix_agent2 reads a relative Include from the including file's directory
        // (Debian's zabbix_agent2.conf has `Include=./zabbix_agent2.d/plugins.d/*.conf`);
        // zabbix_agentd from the working directory, which is tried first.
        let files = match expand_include(&entry.value)
            .or_else(|e| agent2_relative(&entry.value, &origin.file).ok_or(e))
        {
            Ok(files) => files,
            Err(message) => {
                self.errors.push(ConfigError::new(origin, message));
                return;
            }
        };
        for file in files {
            if depth + 1 > MAX_INCLUDE_DEPTH {
                self.errors.push(ConfigError::new(
                    origin,
                    format!(
                        "Recursion detected! Skipped processing of '{}'. Include nests at most {MAX_INCLUDE_DEPTH} files deep.",
                        file.display()
                    ),
                ));
                return;
            }
            let canonical = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
            if self.stack.contains(&canonical) {
                let chain = self
                    .stack
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" -> ");
                self.errors.push(ConfigError::new(
                    origin,
                    format!(
                        "Recursion detected! Skipped processing of '{}': it includes itself ({chain} -> {}); remove the Include that closes the loop",
                        file.display(),
                        canonical.display()
                    ),
                ));
                continue;
            }
            // A FIFO or device would block the read (zabbix_agentd hangs on it for ever);
            // a directory's listing already keeps regular files only.
            if let Ok(meta) = std::fs::metadata(&file) {
                if !meta.is_file() {
                    self.errors.push(ConfigError::new(
                        origin,
                        format!(
                            "cannot open config file \"{}\": not a regular file; Include takes files, directories and globs",
                            file.display()
                        ),
                    ));
                    continue;
                }
            }
            match read_file(&file) {
                Ok(bytes) => self.file(&bytes, &file, depth + 1),
                Err(e) => self.errors.push(ConfigError::new(
                    origin,
                    format!(
                        "cannot open config file \"{}\": {}",
                        file.display(),
                        os_error(&e)
                    ),
                )),
            }
        }
    }
}

/// A relative `Include` read from the including file's directory, as zabbix_agent2 does;
/// `None` when the value is absolute or names nothing there either.
fn agent2_relative(value: &str, including: &Path) -> Option<Vec<PathBuf>> {
    if value.starts_with('/') {
        return None;
    }
    let joined = including.parent()?.join(value);
    expand_include(joined.to_str()?).ok()
}

/// The files an `Include` value names, sorted, or zabbix's error text.
fn expand_include(value: &str) -> Result<Vec<PathBuf>, String> {
    let (dir, pattern) = split_glob(value)?;
    let meta = std::fs::metadata(&dir).map_err(|e| format!("{dir}: {}", os_error(&e)))?;
    if !meta.is_dir() {
        return match pattern {
            None => Ok(vec![PathBuf::from(dir)]),
            Some(_) => Err(format!("{value}: base path is not a directory")),
        };
    }
    let listing = std::fs::read_dir(&dir).map_err(|e| format!("{dir}: {}", os_error(&e)))?;
    let mut files = Vec::new();
    for item in listing {
        let item = item.map_err(|e| format!("{dir}: {}", os_error(&e)))?;
        let name = item.file_name();
        let Some(name_str) = name.to_str() else {
            continue;
        };
        if let Some(p) = &pattern {
            if !glob_match(name_str.as_bytes(), p.as_bytes()) {
                continue;
            }
        }
        let full = PathBuf::from(if dir.ends_with('/') {
            format!("{dir}{name_str}")
        } else {
            format!("{dir}/{name_str}")
        });
        // zabbix stats (follows symlinks) and keeps regular files only.
        if std::fs::metadata(&full)
            .map(|m| m.is_file())
            .unwrap_or(false)
        {
            files.push(full);
        }
    }
    files.sort();
    Ok(files)
}

/// Splits an Include value into the base path and the pattern of its last component, as
/// zabbix's `parse_glob`: a trailing `/` makes the path a directory (pattern `*`).
fn split_glob(value: &str) -> Result<(String, Option<String>), String> {
    let (mut path, mut pattern) = match value.find('*') {
        None => (value.to_string(), None),
        Some(star) => {
            if value[star + 1..].contains('/') {
                return Err(format!(
                    "{value}: glob pattern should be the last component of the path"
                ));
            }
            let Some(slash) = value[..star].rfind('/') else {
                return Err(format!("{value}: path should be absolute"));
            };
            (
                value[..slash].to_string(),
                Some(value[slash + 1..].to_string()),
            )
        }
    };
    let trimmed = path.trim_end_matches('/').to_string();
    if trimmed.len() != path.len() && pattern.is_none() {
        pattern = Some("*".to_string());
    }
    path = trimmed;
    if path.is_empty() && value.starts_with('/') {
        path = "/".to_string();
    }
    Ok((path, pattern))
}

/// `*`-only wildcard match of a whole file name (zabbix's `match_glob`).
pub fn glob_match(name: &[u8], pattern: &[u8]) -> bool {
    // Iterative matcher with backtracking to the last star: linear in practice.
    let (mut n, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, n));
            p += 1;
        } else if p < pattern.len() && pattern[p] == name[n] {
            p += 1;
            n += 1;
        } else if let Some((sp, sn)) = star {
            p = sp + 1;
            n = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn lines(text: &str) -> (Vec<(String, String, usize)>, Vec<String>) {
        let (e, errs) = parse_lines(text.as_bytes(), Path::new("t.conf"));
        (
            e.into_iter()
                .map(|e| (e.key, e.value, e.origin.line))
                .collect(),
            errs.into_iter().map(|e| e.to_string()).collect(),
        )
    }

    #[test]
    fn blanks_comments_and_spaces_around_equals() {
        let (e, errs) =
            lines("# c\n\n  \t\n Server = 127.0.0.1 \r\nA=\nB=x=y\n   # indented comment\n");
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            e,
            vec![
                ("Server".into(), "127.0.0.1".into(), 4),
                ("A".into(), "".into(), 5),
                ("B".into(), "x=y".into(), 6),
            ]
        );
    }

    #[test]
    fn line_errors_carry_line_numbers() {
        let mut bytes = b"ok=1\njunk line\nHostname=\xff\n# \xff fine\n".to_vec();
        bytes.extend(std::iter::repeat(b'a').take(MAX_LINE_LEN + 1));
        bytes.push(b'\n');
        let (e, errs) = parse_lines(&bytes, Path::new("t.conf"));
        assert_eq!(e.len(), 1);
        let errs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].starts_with("t.conf:2: invalid entry \"junk line\""));
        assert!(errs[1].starts_with("t.conf:3: non-UTF-8 character at line 3"));
        assert!(errs[2].starts_with("t.conf:5: line exceeds 2048 byte"));
    }

    #[test]
    fn exactly_max_line_len_is_fine() {
        let line = format!("A={}\n", "x".repeat(MAX_LINE_LEN - 2));
        let (e, errs) = parse_lines(line.as_bytes(), Path::new("t"));
        assert!(errs.is_empty());
        assert_eq!(e[0].value.len(), MAX_LINE_LEN - 2);
    }

    #[test]
    fn glob_matching() {
        assert!(glob_match(b"a.conf", b"*.conf"));
        assert!(glob_match(b".conf", b"*.conf"));
        assert!(!glob_match(b"a.conf.bak", b"*.conf"));
        assert!(glob_match(b"abc", b"a*c"));
        assert!(glob_match(b"abcbc", b"a*bc"));
        assert!(glob_match(b"x", b"*"));
        assert!(!glob_match(b"a?c", b"abc"));
        assert!(glob_match(b"a?c", b"a?c"));
    }

    #[test]
    fn split_glob_like_zabbix() {
        assert_eq!(
            split_glob("/etc/z/*.conf"),
            Ok(("/etc/z".into(), Some("*.conf".into())))
        );
        assert_eq!(
            split_glob("/etc/z/"),
            Ok(("/etc/z".into(), Some("*".into())))
        );
        assert_eq!(split_glob("/etc/z.conf"), Ok(("/etc/z.conf".into(), None)));
        assert_eq!(
            split_glob("/*.conf"),
            Ok(("/".into(), Some("*.conf".into())))
        );
        assert_eq!(
            split_glob("inc/*.conf"),
            Ok(("inc".into(), Some("*.conf".into())))
        );
        assert!(split_glob("*.conf").is_err());
        assert!(split_glob("/a/*/b.conf").is_err());
    }
}
