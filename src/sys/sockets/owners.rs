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

/// Socket inodes mapped to the process holding them, process names interned.
#[derive(Debug, Clone, Default)]
pub struct Owners {
    /// Inode → index into `names`.
    pub by_inode: HashMap<u32, u32>,
    /// Process names (`comm`).
    pub names: Vec<String>,
}

impl Owners {
    /// The process name holding `inode`, when seen.
    pub fn name(&self, inode: u32) -> Option<&str> {
        let i = *self.by_inode.get(&inode)?;
        self.names.get(i as usize).map(String::as_str)
    }

    /// The process index holding `inode`, `u32::MAX` when unknown.
    pub fn index(&self, inode: u32) -> u32 {
        self.by_inode.get(&inode).copied().unwrap_or(u32::MAX)
    }
}

/// Maps socket inodes to the `comm` of a process holding them, walking
/// `<proc>/PID/fd`: processes in our network namespace first (only they can hold our
/// sockets, short of fd passing), then the others, bounded by
/// [`limits::MAX_FDS_SCANNED`] and [`limits::OWNER_SCAN_BUDGET`]. Unreadable processes
/// are skipped.
pub fn socket_owners(proc_root: &Path, wanted: &HashSet<u32>) -> HashMap<u32, String> {
    if wanted.is_empty() {
        return HashMap::new();
    }
    let o = scan(proc_root, &|i| wanted.contains(&i), Some(wanted.len()));
    o.by_inode
        .iter()
        .filter_map(|(i, n)| Some((*i, o.names.get(*n as usize)?.clone())))
        .collect()
}

/// Every socket inode held by a process this agent may see (the same walk and bounds
/// as [`socket_owners`]): for grouping sockets by process.
pub fn all_socket_owners(proc_root: &Path) -> Owners {
    scan(proc_root, &|_| true, None)
}

fn scan(proc_root: &Path, want: &dyn Fn(u32) -> bool, stop_after: Option<usize>) -> Owners {
    let mut owners = Owners::default();
    let Ok(procs) = std::fs::read_dir(proc_root) else {
        return owners;
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
        let mut idx: Option<u32> = None;
        for fd in fds.flatten() {
            scanned += 1;
            if scanned > limits::MAX_FDS_SCANNED || started.elapsed() > limits::OWNER_SCAN_BUDGET {
                tracing::debug!(scanned, "Socket owner scan stopped at its bound");
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
            if !want(inode) || owners.by_inode.contains_key(&inode) {
                continue;
            }
            if idx.is_none() {
                let Some(comm) = std::fs::read_to_string(dir.join("comm"))
                    .ok()
                    .map(|c| c.trim_end().to_string())
                else {
                    continue 'procs;
                };
                idx = Some(match owners.names.iter().position(|n| *n == comm) {
                    Some(i) => i as u32,
                    None => {
                        owners.names.push(comm);
                        owners.names.len() as u32 - 1
                    }
                });
            }
            if let Some(i) = idx {
                owners.by_inode.insert(inode, i);
            }
            if stop_after.is_some_and(|n| owners.by_inode.len() >= n) {
                break 'procs;
            }
        }
    }
    owners
}
