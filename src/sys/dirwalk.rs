//! Directory traversal for vfs.dir.*, in zabbix_agentd's order: a directory's entries in
//! `readdir` order, then the subdirectories found so far taken last-found-first (a stack),
//! symlinks not followed, each directory entered once (by device and inode),
//! depth-limited, bounded by a deadline.
//!
//! Owns the I/O of the walk only; what counts is the caller's decision (a callback sees
//! every entry with its `lstat` metadata). It must not know about keys or reason texts.

use std::collections::HashSet;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Instant;

/// One directory entry below the root.
#[derive(Debug)]
pub struct Entry<'a> {
    /// Its name (last path component), as bytes: file names need not be UTF-8.
    pub name: &'a [u8],
    /// Its path: the root as given, then the names below it.
    pub path: &'a std::path::Path,
    /// Its path below the root (`a/b/name`), what zabbix_agentd matches the excluded
    /// directories against.
    pub rel: &'a [u8],
    /// `lstat` of the entry.
    pub meta: &'a fs::Metadata,
    /// 0 for the root's children, 1 for theirs, …
    pub depth: u32,
}

/// What the callback wants done with a directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// Go on (and descend into it if it is a directory within the depth limit).
    Continue,
    /// Do not descend into this directory.
    Prune,
}

/// The walk ran past its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Timeout while processing item.")]
pub struct WalkTimeout;

/// Walks below `root` (whose own `lstat` is `root_meta`), calling `visit` for every entry.
/// `max_depth` of `None` is unlimited; directories that cannot be read are skipped.
pub fn walk(
    root: &str,
    root_meta: &fs::Metadata,
    max_depth: Option<u32>,
    deadline: Instant,
    mut visit: impl FnMut(&Entry<'_>) -> Visit,
) -> Result<(), WalkTimeout> {
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    seen.insert((root_meta.dev(), root_meta.ino()));
    let mut stack: Vec<(PathBuf, Vec<u8>, u32)> = vec![(PathBuf::from(root), Vec::new(), 0)];
    while let Some((dir, dir_rel, depth)) = stack.pop() {
        let Ok(rd) = fs::read_dir(&dir) else {
            tracing::debug!(dir = %dir.display(), "Cannot open directory, skipped");
            continue;
        };
        for item in rd.flatten() {
            if Instant::now() > deadline {
                return Err(WalkTimeout);
            }
            let path = item.path();
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            let name_os = item.file_name();
            let name = name_os.as_bytes();
            let mut rel = dir_rel.clone();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(name);
            let action = visit(&Entry {
                name,
                path: &path,
                rel: &rel,
                meta: &meta,
                depth,
            });
            let deeper = max_depth.map_or(true, |m| depth < m);
            if action == Visit::Continue
                && meta.is_dir()
                && deeper
                && seen.insert((meta.dev(), meta.ino()))
            {
                stack.push((path, rel, depth + 1));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::panic)] // tests fail by panicking
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn walks_with_depth_and_prune() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let r = dir.path();
        for d in ["a", "a/b", "skip", "skip/x"] {
            fs::create_dir(r.join(d)).unwrap_or_else(|e| panic!("{e}"));
        }
        fs::write(r.join("a/b/f"), "1").unwrap_or_else(|e| panic!("{e}"));
        let root = r.to_string_lossy().into_owned();
        let meta = fs::symlink_metadata(r).unwrap_or_else(|e| panic!("{e}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        let res = walk(&root, &meta, None, deadline, |e| {
            seen.push((String::from_utf8_lossy(e.rel).into_owned(), e.depth));
            if e.name == b"skip" {
                Visit::Prune
            } else {
                Visit::Continue
            }
        });
        assert_eq!(res, Ok(()));
        seen.sort();
        assert_eq!(
            seen,
            [
                ("a".to_string(), 0),
                ("a/b".to_string(), 1),
                ("a/b/f".to_string(), 2),
                ("skip".to_string(), 0)
            ]
        );
        let mut n = 0;
        let res = walk(&root, &meta, Some(0), deadline, |_| {
            n += 1;
            Visit::Continue
        });
        assert_eq!((res, n), (Ok(()), 2));
        let past = Instant::now() - Duration::from_secs(1);
        assert_eq!(
            walk(&root, &meta, None, past, |_| Visit::Continue),
            Err(WalkTimeout)
        );
    }

    /// zabbix_agentd's order: a directory's entries together, then the subdirectory
    /// found last, then its own, … (a stack, not a queue). The expected order is rebuilt
    /// from the `readdir` order the walk itself reveals.
    #[test]
    fn walks_in_zabbix_agentd_stack_order() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let r = dir.path();
        for d in ["p", "p/p1", "p/p2", "q", "q/q1", "q/q2", "s"] {
            fs::create_dir(r.join(d)).unwrap_or_else(|e| panic!("{e}"));
        }
        for f in ["f1", "p/f2", "q/q1/f3", "s/f4"] {
            fs::write(r.join(f), "x").unwrap_or_else(|e| panic!("{e}"));
        }
        let root = r.to_string_lossy().into_owned();
        let meta = fs::symlink_metadata(r).unwrap_or_else(|e| panic!("{e}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen: Vec<(String, bool)> = Vec::new();
        let res = walk(&root, &meta, None, deadline, |e| {
            seen.push((String::from_utf8_lossy(e.rel).into_owned(), e.meta.is_dir()));
            Visit::Continue
        });
        assert_eq!(res, Ok(()));
        let children = |parent: &str| -> Vec<(String, bool)> {
            seen.iter()
                .filter(|(rel, _)| match rel.rsplit_once('/') {
                    Some((p, _)) => p == parent,
                    None => parent.is_empty(),
                })
                .cloned()
                .collect()
        };
        let mut expected = Vec::new();
        let mut stack = vec![String::new()];
        while let Some(d) = stack.pop() {
            for (rel, is_dir) in children(&d) {
                expected.push((rel.clone(), is_dir));
                if is_dir {
                    stack.push(rel);
                }
            }
        }
        assert_eq!(seen.len(), 11);
        assert_eq!(seen, expected);
    }
}
