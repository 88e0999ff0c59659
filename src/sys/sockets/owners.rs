//! Socket owners: which process holds a socket inode, found by walking
//! `<proc>/PID/fd`. Needs root, or CAP_DAC_READ_SEARCH + CAP_SYS_PTRACE, to see other
//! users' processes; unreadable processes are skipped, never an error. Bounded in
//! entries and time ([`limits`]).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

/// Bounds of one owner scan.
pub mod limits {
    /// Most `/proc/PID/fd` entries examined per scan.
    pub const MAX_FDS_SCANNED: usize = 1_000_000;
    /// Time budget of one scan; inodes not found by then stay unnamed.
    pub const OWNER_SCAN_BUDGET: std::time::Duration = std::time::Duration::from_millis(1500);
}

/// Maps socket inodes to the `comm` of a process holding them, walking
/// `<proc>/PID/fd`: processes in our network namespace first (only they can hold our
/// sockets, short of fd passing), then the others, bounded by
/// [`limits::MAX_FDS_SCANNED`] and [`limits::OWNER_SCAN_BUDGET`]. Unreadable processes
/// are skipped.
pub fn socket_owners(proc_root: &Path, wanted: &HashSet<u32>) -> HashMap<u32, String> {
    let mut found = HashMap::new();
    if wanted.is_empty() {
        return found;
    }
    let Ok(procs) = std::fs::read_dir(proc_root) else {
        return found;
    };
    let own_ns = std::fs::read_link(proc_root.join("thread-self/ns/net")).ok();
    let (mut ours, mut others) = (Vec::new(), Vec::new());
    for p in procs.flatten() {
        let name = p.file_name();
        if !name
            .to_str()
            .is_some_and(|s| s.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        let ns = std::fs::read_link(p.path().join("ns/net")).ok();
        if ns.is_some() && ns == own_ns {
            ours.push(p.path());
        } else {
            others.push(p.path());
        }
    }
    let started = Instant::now();
    let mut scanned = 0usize;
    'procs: for dir in ours.iter().chain(others.iter()) {
        let Ok(fds) = std::fs::read_dir(dir.join("fd")) else {
            continue;
        };
        let mut comm: Option<String> = None;
        for fd in fds.flatten() {
            scanned += 1;
            if scanned > limits::MAX_FDS_SCANNED || started.elapsed() > limits::OWNER_SCAN_BUDGET {
                tracing::debug!(scanned, "Listener owner scan stopped at its bound");
                break 'procs;
            }
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some(inode) = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u32>().ok())
            else {
                continue;
            };
            if wanted.contains(&inode) && !found.contains_key(&inode) {
                if comm.is_none() {
                    comm = std::fs::read_to_string(dir.join("comm"))
                        .ok()
                        .map(|c| c.trim_end().to_string());
                }
                if let Some(c) = &comm {
                    found.insert(inode, c.clone());
                }
                if found.len() == wanted.len() {
                    break 'procs;
                }
            }
        }
    }
    found
}
