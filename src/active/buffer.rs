//! The per-worker value buffer with the official eviction policy.
//!
//! Owns ids (strictly increasing per session), what is kept when full and when a flush is
//! due. Log values are persistent: at most half the buffer, never evicted — a log item
//! whose value does not fit must stop reading and retry later. When the buffer is full,
//! a new non-log value replaces the oldest value of the same item, else the oldest
//! non-log value. Pure: time is passed in; no I/O.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::proto::{ItemRef, Row};

/// A value to store (the id is assigned by the buffer).
#[derive(Debug, Clone, PartialEq)]
pub struct NewValue {
    /// Which item.
    pub item: ItemRef,
    /// The value or the reason (state 1); `None` for a log metadata update.
    pub value: Option<String>,
    /// Not supported.
    pub unsupported: bool,
    /// Log offset.
    pub lastlogsize: Option<u64>,
    /// logrt mtime.
    pub mtime: Option<i64>,
    /// Collection time.
    pub clock: i64,
    /// Nanoseconds.
    pub ns: u32,
    /// A log value: never evicted, capped at half the buffer.
    pub persistent: bool,
}

/// What happened to a value handed to [`Buffer::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Stored; nothing lost.
    Stored,
    /// Stored after evicting an older non-log value.
    Evicted,
    /// Not stored: persistent values already fill half the buffer. The caller keeps it
    /// (a log item does not advance past it) and retries after the next flush.
    PersistentFull,
}

#[derive(Debug, Clone)]
struct Entry {
    row: Row,
    persistent: bool,
}

/// The buffer of one worker.
#[derive(Debug)]
pub struct Buffer {
    entries: VecDeque<Entry>,
    size: usize,
    persistent: usize,
    last_id: u64,
    last_sent: Instant,
    retry_at: Option<Instant>,
    backoff: Duration,
    /// Values evicted since the last report.
    evicted: u64,
    /// Whether the persistent part was found full since the last report.
    persistent_full: bool,
    /// Values are waiting elsewhere (the persistent buffer's file): a flush is due on
    /// time even when nothing is held here.
    backlog: bool,
}

impl Buffer {
    /// A buffer of `BufferSize` values (at least 2).
    pub fn new(size: usize, now: Instant) -> Buffer {
        Buffer {
            entries: VecDeque::new(),
            size: size.max(2),
            persistent: 0,
            last_id: 0,
            last_sent: now,
            retry_at: None,
            backoff: Duration::ZERO,
            evicted: 0,
            persistent_full: false,
            backlog: false,
        }
    }

    /// Continues ids after `last_id` (a session resumed from the persistent buffer).
    pub fn resume_ids(&mut self, last_id: u64) {
        self.last_id = self.last_id.max(last_id);
    }

    /// Says whether values wait outside this buffer (see [`Buffer::flush_due`]).
    pub fn set_backlog(&mut self, backlog: bool) {
        self.backlog = backlog;
    }

    /// The value stored last, if it is still held.
    pub fn newest(&self) -> Option<&Row> {
        self.entries.back().map(|e| &e.row)
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Persistent (log) values held.
    pub fn persistent_len(&self) -> usize {
        self.persistent
    }

    /// The last id handed out.
    pub fn last_id(&self) -> u64 {
        self.last_id
    }

    fn persistent_cap(&self) -> usize {
        self.size / 2
    }

    /// How many more persistent values fit now.
    pub fn persistent_room(&self) -> usize {
        self.persistent_cap().saturating_sub(self.persistent)
    }

    /// Whether a persistent value would be refused now.
    pub fn persistent_is_full(&self) -> bool {
        self.persistent >= self.persistent_cap()
    }

    /// Stores a value, applying the eviction policy.
    pub fn push(&mut self, v: NewValue) -> Pushed {
        if v.persistent && self.persistent_is_full() {
            self.persistent_full = true;
            return Pushed::PersistentFull;
        }
        let mut result = Pushed::Stored;
        if self.entries.len() >= self.size {
            let same_item = if v.persistent {
                None
            } else {
                self.entries
                    .iter()
                    .position(|e| !e.persistent && e.row.item == v.item)
            };
            let victim = same_item.or_else(|| self.entries.iter().position(|e| !e.persistent));
            match victim {
                Some(i) => {
                    self.entries.remove(i);
                    self.evicted += 1;
                    result = Pushed::Evicted;
                }
                // Only persistent values: impossible while they are capped at half, but
                // refuse rather than grow.
                None => {
                    self.persistent_full = true;
                    return Pushed::PersistentFull;
                }
            }
        }
        self.last_id += 1;
        if v.persistent {
            self.persistent += 1;
        }
        self.entries.push_back(Entry {
            row: Row {
                item: v.item,
                value: v.value,
                unsupported: v.unsupported,
                lastlogsize: v.lastlogsize,
                mtime: v.mtime,
                id: self.last_id,
                clock: v.clock,
                ns: v.ns,
            },
            persistent: v.persistent,
        });
        result
    }

    /// Whether a flush is due: `BufferSend` elapsed since the last send, the buffer is
    /// full, or persistent values fill their half — unless a failed send asked to wait.
    pub fn flush_due(&self, now: Instant, buffer_send: Duration) -> bool {
        if self.entries.is_empty() && !self.backlog {
            return false;
        }
        if let Some(at) = self.retry_at {
            return now >= at;
        }
        now.duration_since(self.last_sent) >= buffer_send
            || self.entries.len() >= self.size
            || self.persistent_is_full()
    }

    /// When the next flush becomes due if nothing else is stored (for the worker's sleep).
    pub fn next_flush(&self, buffer_send: Duration) -> Option<Instant> {
        if self.entries.is_empty() && !self.backlog {
            return None;
        }
        Some(self.retry_at.unwrap_or(self.last_sent + buffer_send))
    }

    /// The rows to send, oldest first (ids increasing).
    pub fn rows(&self) -> Vec<Row> {
        self.entries.iter().map(|e| e.row.clone()).collect()
    }

    /// The server took the first `n` rows (they are gone for good).
    pub fn sent(&mut self, n: usize, now: Instant) {
        for e in self.entries.drain(..n.min(self.entries.len())) {
            if e.persistent {
                self.persistent -= 1;
            }
        }
        self.last_sent = now;
        self.retry_at = None;
        self.backoff = Duration::ZERO;
    }

    /// The server took every value up to id `id` (sent from the persistent buffer, which
    /// may hold values this buffer evicted).
    pub fn sent_up_to(&mut self, id: u64, now: Instant) {
        let n = self.entries.iter().take_while(|e| e.row.id <= id).count();
        self.sent(n, now);
    }

    /// Sending failed: keep everything, retry after a doubling backoff (from
    /// `BufferSend`, capped at `max`).
    pub fn failed(&mut self, now: Instant, buffer_send: Duration, max: Duration) -> Duration {
        self.backoff = if self.backoff.is_zero() {
            buffer_send.max(Duration::from_secs(1))
        } else {
            (self.backoff * 2).min(max.max(buffer_send))
        };
        self.retry_at = Some(now + self.backoff);
        self.backoff
    }

    /// Evictions and refused log values since the last call, for one log line per burst.
    pub fn take_losses(&mut self) -> (u64, bool) {
        let r = (self.evicted, self.persistent_full);
        self.evicted = 0;
        self.persistent_full = false;
        r
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn v(item: u64, val: &str, persistent: bool) -> NewValue {
        NewValue {
            item: ItemRef::Id(item),
            value: Some(val.to_string()),
            unsupported: false,
            lastlogsize: persistent.then_some(1),
            mtime: None,
            clock: 1,
            ns: 0,
            persistent,
        }
    }

    fn values(b: &Buffer) -> Vec<String> {
        b.rows().into_iter().map(|r| r.value.unwrap()).collect()
    }

    #[test]
    fn ids_increase_and_survive_failed_sends() {
        let now = Instant::now();
        let mut b = Buffer::new(10, now);
        b.push(v(1, "a", false));
        b.push(v(2, "b", false));
        assert_eq!(
            b.rows().iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![1, 2]
        );
        b.failed(now, Duration::from_secs(1), Duration::from_secs(30));
        assert_eq!(
            b.rows().iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![1, 2]
        );
        b.sent(2, now);
        b.push(v(1, "c", false));
        assert_eq!(b.rows()[0].id, 3);
    }

    #[test]
    fn full_buffer_evicts_same_item_then_oldest_non_log() {
        let now = Instant::now();
        let mut b = Buffer::new(4, now);
        assert_eq!(b.push(v(9, "log1", true)), Pushed::Stored);
        assert_eq!(b.push(v(1, "a1", false)), Pushed::Stored);
        assert_eq!(b.push(v(2, "b1", false)), Pushed::Stored);
        assert_eq!(b.push(v(1, "a2", false)), Pushed::Stored);
        // Full: a new value of item 2 replaces the oldest value of item 2.
        assert_eq!(b.push(v(2, "b2", false)), Pushed::Evicted);
        assert_eq!(values(&b), vec!["log1", "a1", "a2", "b2"]);
        // A new item: the oldest non-log value goes; the log line stays.
        assert_eq!(b.push(v(3, "c1", false)), Pushed::Evicted);
        assert_eq!(values(&b), vec!["log1", "a2", "b2", "c1"]);
        // Log values take at most half the buffer and evict non-log values.
        assert_eq!(b.push(v(9, "log2", true)), Pushed::Evicted);
        assert_eq!(values(&b), vec!["log1", "b2", "c1", "log2"]);
        assert_eq!(b.persistent_room(), 0);
        assert_eq!(b.push(v(9, "log3", true)), Pushed::PersistentFull);
        assert_eq!(b.push(v(4, "d1", false)), Pushed::Evicted);
        assert_eq!(values(&b), vec!["log1", "c1", "log2", "d1"]);
        assert_eq!(b.take_losses(), (4, true));
        assert_eq!(b.take_losses(), (0, false));
        // Ids keep increasing even though some were evicted.
        let ids: Vec<u64> = b.rows().iter().map(|r| r.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    }

    #[test]
    fn resumed_ids_and_backlog() {
        let t0 = Instant::now();
        let send = Duration::from_secs(5);
        let mut b = Buffer::new(4, t0);
        b.resume_ids(41);
        b.push(v(1, "a", false));
        b.push(v(2, "b", false));
        assert_eq!(b.newest().unwrap().id, 43);
        b.sent_up_to(42, t0);
        assert_eq!(values(&b), vec!["b"]);
        b.sent_up_to(43, t0);
        assert!(!b.flush_due(t0 + send, send), "empty");
        b.set_backlog(true);
        assert!(!b.flush_due(t0 + Duration::from_secs(1), send));
        assert!(b.flush_due(t0 + send, send), "backlog waits elsewhere");
        assert_eq!(b.next_flush(send), Some(t0 + send));
    }

    #[test]
    fn flush_due_rules_and_backoff() {
        let t0 = Instant::now();
        let send = Duration::from_secs(5);
        let mut b = Buffer::new(4, t0);
        assert!(!b.flush_due(t0 + Duration::from_secs(60), send), "empty");
        b.push(v(1, "a", false));
        assert!(!b.flush_due(t0 + Duration::from_secs(1), send));
        assert!(b.flush_due(t0 + Duration::from_secs(5), send));
        b.push(v(9, "l", true));
        b.push(v(9, "l", true));
        assert!(b.flush_due(t0, send), "persistent half full");
        let wait = b.failed(t0, send, Duration::from_secs(12));
        assert_eq!(wait, send);
        assert!(!b.flush_due(t0 + Duration::from_secs(4), send));
        assert!(b.flush_due(t0 + Duration::from_secs(5), send));
        assert_eq!(
            b.failed(t0, send, Duration::from_secs(12)),
            Duration::from_secs(10)
        );
        assert_eq!(
            b.failed(t0, send, Duration::from_secs(12)),
            Duration::from_secs(12)
        );
        b.sent(3, t0);
        assert!(b.is_empty());
        assert_eq!(b.persistent_len(), 0);
        assert_eq!(
            b.failed(t0, send, Duration::from_secs(12)),
            send,
            "backoff reset"
        );
    }
}
