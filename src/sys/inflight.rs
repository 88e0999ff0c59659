//! Calls on a path that may hang in the kernel (statvfs or open on a dead NFS mount): each
//! call registers itself, and a new call on a path whose earlier call has run past its
//! limit is refused at once, so a dead mount ties up one blocking thread, not one per poll.
//!
//! Owns only the table of calls under way; it must not do I/O itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Calls under way: id, key, start, how long before the call counts as hung.
static TABLE: Mutex<Vec<(u64, String, Instant, Duration)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Most calls tracked at once; past it calls run untracked (the table stays bounded).
pub const MAX_TRACKED: usize = 4096;

/// One call under way; leaves the table when dropped (when the call returns).
#[derive(Debug)]
pub struct InFlight(Option<u64>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let Some(id) = self.0 else {
            return;
        };
        if let Ok(mut t) = TABLE.lock() {
            t.retain(|(i, ..)| *i != id);
        }
    }
}

/// Registers a call on `key` that counts as hung after `limit`; `None` when an earlier
/// call on the same key has already run past its own limit.
pub fn enter(key: &str, limit: Duration) -> Option<InFlight> {
    let Ok(mut t) = TABLE.lock() else {
        return Some(InFlight(None));
    };
    if t.iter()
        .any(|(_, k, start, lim)| k == key && start.elapsed() > *lim)
    {
        return None;
    }
    if t.len() >= MAX_TRACKED {
        return Some(InFlight(None));
    }
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    t.push((id, key.to_string(), Instant::now(), limit));
    Some(InFlight(Some(id)))
}

#[cfg(test)]
#[allow(clippy::panic)] // tests fail by panicking
mod tests {
    use super::*;

    #[test]
    fn hung_call_blocks_new_ones_until_it_returns() {
        let key = "test:/zt-inflight";
        let a = enter(key, Duration::from_secs(60)).unwrap_or_else(|| panic!("first"));
        let b = enter(key, Duration::from_secs(60)).unwrap_or_else(|| panic!("concurrent"));
        drop(b);
        let stuck = enter(key, Duration::ZERO).unwrap_or_else(|| panic!("third"));
        std::thread::sleep(Duration::from_millis(5));
        assert!(
            enter(key, Duration::from_secs(60)).is_none(),
            "hung call blocks"
        );
        assert!(enter("test:/other", Duration::from_secs(60)).is_some());
        drop(stuck);
        assert!(enter(key, Duration::from_secs(60)).is_some(), "free again");
        drop(a);
    }
}
