//! The persistent buffer (`EnablePersistentBuffer=1`, zabbix_agent2's directives): every
//! buffered value is also written to an SQLite file, so values collected while the server
//! is unreachable survive a restart (even `kill -9`) and are sent after it, none twice.
//!
//! Owns the file: its schema, the one writer thread that holds the connection, batching
//! (one transaction per batch of queued operations, WAL journal, `synchronous=NORMAL`:
//! a committed value survives a crash of the process), expiry (`PersistentBufferPeriod`)
//! and the per-worker registry. It must not decide what to send when (the worker does),
//! nor talk to servers.
//!
//! Semantics (zabbix_agent2's, with one deliberate difference):
//! - One registry row per `ServerActive` entry × host name; rows of entries no longer
//!   configured are dropped at start-up, as agent2 does.
//! - Log values (`log[]`, `logrt[]`, `*.count`) left from the previous run are deleted at
//!   start-up: the server's `lastlogsize` makes the agent read those lines again.
//! - Non-log values older than `PersistentBufferPeriod` (by collection clock) are deleted;
//!   log values are kept (agent2: "Log data will be preserved").
//! - Difference: agent2 starts every run with a new session token; zagent keeps each
//!   registry row's token and continues its ids. A value the server took just before a
//!   `kill -9`, but whose deletion was not yet committed, is then sent again with the same
//!   session and id, and the server drops it as a duplicate: no value arrives twice.
//! - A file that is not an SQLite database (or is corrupt) is moved aside to
//!   `<file>.corrupt` with a warning and a new one is started (agent2 deletes it); a file
//!   that cannot be created or written is an error at start-up.
//!
//! - When the file cannot be written at run time (disk full), the failure is logged once and
//!   the values stay in the memory buffer, and the worker sends them in id order with the
//!   file's values ([`super::worker`]); only what memory evicted meanwhile (`BufferSize`)
//!   is lost, as without the persistent buffer.
//!
//! Limits: at most [`QUEUE`] operations wait for the writer (more are dropped with one
//! warning: the value stays in the memory buffer); one transaction takes at most
//! [`BATCH`] operations; expiry runs at most once per [`EXPIRE_EVERY`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, ErrorCode};
use tracing::{debug, warn};

use super::proto::{ItemRef, Row};

/// Operations that may wait for the writer thread.
pub const QUEUE: usize = 200_000;
/// Operations applied in one transaction.
pub const BATCH: usize = 20_000;
/// How often expired values are looked for.
pub const EXPIRE_EVERY: Duration = Duration::from_secs(1);

/// Why the file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the persistent buffer file \"{path}\": {reason}")]
pub struct PersistError {
    /// The file.
    pub path: PathBuf,
    /// What failed, and what to do.
    pub reason: String,
}

impl PersistError {
    fn new(path: &Path, e: &rusqlite::Error) -> PersistError {
        PersistError {
            path: path.to_path_buf(),
            reason: format!(
                "{e}; check that its directory exists and is writable by the agent's user"
            ),
        }
    }
}

/// What a worker resumes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The session token of this registry row (kept across restarts).
    pub session: String,
    /// The highest value id ever stored for it; new ids continue after it.
    pub last_id: u64,
    /// Values left from the previous run, waiting to be sent.
    pub backlog: u64,
}

enum Op {
    Insert {
        reg: i64,
        row: Row,
        log: bool,
    },
    RemoveUpTo {
        reg: i64,
        id: u64,
    },
    Oldest {
        reg: i64,
        limit: usize,
        reply: tokio::sync::oneshot::Sender<Vec<Row>>,
    },
    /// Answered once everything queued before it is committed (tests, benchmarks).
    Sync(SyncSender<()>),
}

/// The open file and its writer thread. Dropping the last handle ends the thread after
/// it has committed what was queued.
#[derive(Debug)]
pub struct Store {
    tx: SyncSender<Op>,
    path: PathBuf,
    regs: Mutex<Registry>,
    queue_full_logged: AtomicBool,
    dropped: AtomicU64,
}

/// Registry row id and resume point per (server label, host name).
type Registry = HashMap<(String, String), (i64, Resume)>;

/// One worker's part of the store.
#[derive(Debug, Clone)]
pub struct Slot {
    store: Arc<Store>,
    reg: i64,
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS registry (
        id INTEGER PRIMARY KEY,
        server TEXT NOT NULL,
        host TEXT NOT NULL,
        session TEXT NOT NULL,
        last_id INTEGER NOT NULL DEFAULT 0,
        UNIQUE (server, host)
    );
    CREATE TABLE IF NOT EXISTS value (
        reg INTEGER NOT NULL,
        id INTEGER NOT NULL,
        itemid INTEGER,
        key TEXT,
        value TEXT,
        state INTEGER NOT NULL,
        lastlogsize INTEGER,
        mtime INTEGER,
        clock INTEGER NOT NULL,
        ns INTEGER NOT NULL,
        log INTEGER NOT NULL,
        PRIMARY KEY (reg, id)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS value_clock ON value (clock);
";

fn is_corrupt(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    )
}

/// Opens (creating if needed) the file and applies the schema.
fn connect(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // journal_mode answers with a row; WAL survives a crash of the process with
    // synchronous=NORMAL and lets reads run beside the writer.
    let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    conn.execute_batch("PRAGMA synchronous=NORMAL;")?;
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            Some(check),
        ));
    }
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Moves a corrupt file (and its WAL side files) aside; returns where it went.
fn move_aside(path: &Path) -> std::io::Result<PathBuf> {
    let mut to = path.as_os_str().to_owned();
    to.push(".corrupt");
    let to = PathBuf::from(to);
    std::fs::rename(path, &to)?;
    for side in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(side);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    Ok(to)
}

fn unix_now() -> i64 {
    super::clock::wall_clock().0
}

/// Registry rows for `pairs` (server label, host name): stale ones dropped, missing ones
/// created with a new session, log values deleted, expired values deleted.
fn prepare(
    conn: &mut Connection,
    pairs: &[(String, String)],
    period: Duration,
) -> Result<Registry, rusqlite::Error> {
    let tx = conn.transaction()?;
    // Record every id ever used before anything is deleted.
    tx.execute(
        "UPDATE registry SET last_id = max(last_id,
            coalesce((SELECT max(id) FROM value WHERE value.reg = registry.id), 0))",
        [],
    )?;
    let existing: Vec<(i64, String, String)> = {
        let mut st = tx.prepare("SELECT id, server, host FROM registry")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (id, server, host) in existing {
        if !pairs.iter().any(|(s, h)| *s == server && *h == host) {
            debug!(server = %server, host = %host, "Dropping persistent buffer of an entry no longer configured");
            tx.execute("DELETE FROM value WHERE reg = ?1", [id])?;
            tx.execute("DELETE FROM registry WHERE id = ?1", [id])?;
        }
    }
    tx.execute("DELETE FROM value WHERE log = 1", [])?;
    let cutoff = unix_now() - i64::try_from(period.as_secs()).unwrap_or(i64::MAX);
    tx.execute("DELETE FROM value WHERE log = 0 AND clock < ?1", [cutoff])?;
    let mut out = HashMap::new();
    for (server, host) in pairs {
        tx.execute(
            "INSERT OR IGNORE INTO registry (server, host, session) VALUES (?1, ?2, ?3)",
            params![server, host, super::clock::new_session()],
        )?;
        let (id, session, last_id): (i64, String, i64) = tx.query_row(
            "SELECT id, session, last_id FROM registry WHERE server = ?1 AND host = ?2",
            params![server, host],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let backlog: i64 =
            tx.query_row("SELECT count(*) FROM value WHERE reg = ?1", [id], |r| {
                r.get(0)
            })?;
        out.insert(
            (server.clone(), host.clone()),
            (
                id,
                Resume {
                    session,
                    last_id: u64::try_from(last_id).unwrap_or(0),
                    backlog: u64::try_from(backlog).unwrap_or(0),
                },
            ),
        );
    }
    tx.commit()?;
    Ok(out)
}

impl Store {
    /// Opens the file for the given (server label, host name) pairs and starts the writer
    /// thread. A corrupt file is moved aside (logged) and replaced; any other failure is
    /// returned.
    pub fn open(
        path: &Path,
        period: Duration,
        pairs: &[(String, String)],
    ) -> Result<Arc<Store>, PersistError> {
        let mut conn = match connect(path) {
            Ok(c) => c,
            Err(e) if is_corrupt(&e) => {
                let to = move_aside(path).map_err(|io| PersistError {
                    path: path.to_path_buf(),
                    reason: format!(
                        "it is not a usable SQLite database ({e}) and cannot be moved aside: {}",
                        crate::sys::oserror::zbx_strerror(&io)
                    ),
                })?;
                warn!(file = %path.display(), moved_to = %to.display(), error = %e,
                    "Persistent buffer file is not a usable SQLite database: moved aside, starting a new one (its values are lost)");
                connect(path).map_err(|e| PersistError::new(path, &e))?
            }
            Err(e) => return Err(PersistError::new(path, &e)),
        };
        let regs = prepare(&mut conn, pairs, period).map_err(|e| PersistError::new(path, &e))?;
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let writer_path = path.to_path_buf();
        std::thread::Builder::new()
            .name("zagent-pbuf".into())
            .spawn(move || writer(conn, rx, period, &writer_path))
            .map_err(|e| PersistError {
                path: path.to_path_buf(),
                reason: format!(
                    "cannot start its writer thread: {}",
                    crate::sys::oserror::zbx_strerror(&e)
                ),
            })?;
        Ok(Arc::new(Store {
            tx,
            path: path.to_path_buf(),
            regs: Mutex::new(regs),
            queue_full_logged: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        }))
    }

    /// The part of the store of one worker, and what it resumes from; `None` when the pair
    /// was not given to [`Store::open`] or was taken already.
    pub fn take_slot(self: &Arc<Store>, server: &str, host: &str) -> Option<(Slot, Resume)> {
        let mut regs = self.regs.lock().ok()?;
        let (reg, resume) = regs.remove(&(server.to_string(), host.to_string()))?;
        Some((
            Slot {
                store: Arc::clone(self),
                reg,
            },
            resume,
        ))
    }

    fn send(&self, op: Op) {
        match self.tx.try_send(op) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                if !self.queue_full_logged.swap(true, Ordering::Relaxed) {
                    warn!(file = %self.path.display(), limit = QUEUE,
                        "Persistent buffer cannot keep up: values are kept in memory only until it does");
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                if !self.queue_full_logged.swap(true, Ordering::Relaxed) {
                    warn!(file = %self.path.display(), "Persistent buffer writer has stopped: values are kept in memory only");
                }
            }
        }
    }

    /// Operations not queued because the writer could not keep up (or had stopped).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Blocks until everything queued so far is committed (for tests and benchmarks).
    pub fn sync(&self) {
        let (tx, rx) = mpsc::sync_channel(1);
        if self.tx.send(Op::Sync(tx)).is_ok() {
            let _ = rx.recv();
        }
    }
}

impl Slot {
    /// Queues a value for writing; never blocks (see [`QUEUE`]).
    pub fn insert(&self, row: &Row, log: bool) {
        self.store.send(Op::Insert {
            reg: self.reg,
            row: row.clone(),
            log,
        });
    }

    /// Queues the deletion of every value up to `id` (the server took them).
    pub fn remove_up_to(&self, id: u64) {
        self.store.send(Op::RemoveUpTo { reg: self.reg, id });
    }

    /// The oldest `limit` values, ids increasing, once everything queued before is
    /// committed. Empty when the writer is gone.
    pub async fn oldest(&self, limit: usize) -> Vec<Row> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        // A read must not be dropped like a write when the queue is full: wait for room
        // on the blocking pool.
        let tx = self.store.tx.clone();
        let op = Op::Oldest {
            reg: self.reg,
            limit,
            reply,
        };
        let queued = match tx.try_send(op) {
            Ok(()) => true,
            Err(TrySendError::Full(op)) => tokio::task::spawn_blocking(move || tx.send(op).is_ok())
                .await
                .unwrap_or(false),
            Err(TrySendError::Disconnected(_)) => false,
        };
        if !queued {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// See [`Store::sync`].
    pub fn sync(&self) {
        self.store.sync();
    }

    /// See [`Store::dropped`].
    pub fn dropped(&self) -> u64 {
        self.store.dropped()
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The writer thread: applies queued operations in batches, one transaction each.
fn writer(mut conn: Connection, rx: Receiver<Op>, period: Duration, path: &Path) {
    let mut failing = false;
    let mut last_expiry = Instant::now();
    while let Ok(first) = rx.recv() {
        let mut ops = vec![first];
        while ops.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        let expire = last_expiry.elapsed() >= EXPIRE_EVERY;
        if expire {
            last_expiry = Instant::now();
        }
        let mut replies = Vec::new();
        let res = apply(&mut conn, ops, expire, period, &mut replies);
        match res {
            Ok(()) => {
                if failing {
                    warn!(file = %path.display(), "Persistent buffer file is writable again");
                    failing = false;
                }
            }
            Err(e) => {
                if !failing {
                    warn!(file = %path.display(), error = %e,
                        "Cannot write the persistent buffer file: values are kept in memory only");
                    failing = true;
                }
            }
        }
        // Answered after the commit: a reader sees only committed values.
        for r in replies {
            match r {
                Reply::Rows(tx, rows) => {
                    let _ = tx.send(rows);
                }
                Reply::Sync(tx) => {
                    let _ = tx.send(());
                }
            }
        }
    }
    debug!(file = %path.display(), "Persistent buffer writer stopped");
}

enum Reply {
    Rows(tokio::sync::oneshot::Sender<Vec<Row>>, Vec<Row>),
    Sync(SyncSender<()>),
}

fn apply(
    conn: &mut Connection,
    ops: Vec<Op>,
    expire: bool,
    period: Duration,
    replies: &mut Vec<Reply>,
) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    let mut max_ids: HashMap<i64, u64> = HashMap::new();
    // Expiry first: a read in this batch must not see what has expired.
    if expire {
        let cutoff = unix_now() - i64::try_from(period.as_secs()).unwrap_or(i64::MAX);
        let n = tx.execute("DELETE FROM value WHERE log = 0 AND clock < ?1", [cutoff])?;
        if n > 0 {
            warn!(values = n, period = ?period, "Values older than PersistentBufferPeriod were dropped from the persistent buffer");
        }
    }
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR REPLACE INTO value
                (reg, id, itemid, key, value, state, lastlogsize, mtime, clock, ns, log)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        let mut remove = tx.prepare_cached("DELETE FROM value WHERE reg = ?1 AND id <= ?2")?;
        let mut oldest = tx.prepare_cached(
            "SELECT id, itemid, key, value, state, lastlogsize, mtime, clock, ns
             FROM value WHERE reg = ?1 ORDER BY id LIMIT ?2",
        )?;
        for op in ops {
            match op {
                Op::Insert { reg, row, log } => {
                    let (itemid, key) = match &row.item {
                        ItemRef::Id(i) => (Some(to_i64(*i)), None),
                        ItemRef::Key(k) => (None, Some(k.as_str())),
                    };
                    insert.execute(params![
                        reg,
                        to_i64(row.id),
                        itemid,
                        key,
                        row.value,
                        i64::from(row.unsupported),
                        row.lastlogsize.map(to_i64),
                        row.mtime,
                        row.clock,
                        row.ns,
                        log
                    ])?;
                    let m = max_ids.entry(reg).or_insert(0);
                    *m = (*m).max(row.id);
                }
                Op::RemoveUpTo { reg, id } => {
                    remove.execute(params![reg, to_i64(id)])?;
                }
                Op::Oldest { reg, limit, reply } => {
                    let rows = oldest
                        .query_map(params![reg, to_i64(limit as u64)], |r| {
                            let itemid: Option<i64> = r.get(1)?;
                            let key: Option<String> = r.get(2)?;
                            let item = match (itemid, key) {
                                (Some(i), _) => ItemRef::Id(u64::try_from(i).unwrap_or(0)),
                                (None, k) => ItemRef::Key(k.unwrap_or_default()),
                            };
                            let lastlogsize: Option<i64> = r.get(5)?;
                            let state: i64 = r.get(4)?;
                            let id: i64 = r.get(0)?;
                            Ok(Row {
                                item,
                                value: r.get(3)?,
                                unsupported: state == 1,
                                lastlogsize: lastlogsize.map(|v| u64::try_from(v).unwrap_or(0)),
                                mtime: r.get(6)?,
                                id: u64::try_from(id).unwrap_or(0),
                                clock: r.get(7)?,
                                ns: r.get(8)?,
                            })
                        })?
                        .collect::<Result<Vec<_>, _>>()?;
                    replies.push(Reply::Rows(reply, rows));
                }
                Op::Sync(tx) => replies.push(Reply::Sync(tx)),
            }
        }
        let mut reg_update =
            tx.prepare_cached("UPDATE registry SET last_id = max(last_id, ?2) WHERE id = ?1")?;
        for (reg, id) in &max_ids {
            reg_update.execute(params![reg, to_i64(*id)])?;
        }
    }
    tx.commit()
}

/// What `check-config` can tell without creating or opening the file: an existing path
/// must be a regular file, otherwise its directory must exist.
pub fn check_place(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(format!(
            "cannot use the persistent buffer file \"{}\": it is not a regular file; give a file path",
            path.display()
        )),
        Err(_) => {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            if dir.is_dir() {
                Ok(())
            } else {
                Err(format!(
                    "cannot create the persistent buffer file \"{}\": directory \"{}\" does not exist; create it (writable by the agent's user)",
                    path.display(),
                    dir.display()
                ))
            }
        }
    }
}

/// The `ServerActive` entry as the registry names it (its nodes joined by `;`).
pub fn server_label(server: &crate::config::ActiveServer) -> String {
    server
        .nodes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(";")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn pairs() -> Vec<(String, String)> {
        vec![("127.0.0.1:10051".into(), "h1".into())]
    }

    fn row(id: u64, item: u64, value: &str, clock: i64) -> Row {
        Row {
            item: ItemRef::Id(item),
            value: Some(value.into()),
            unsupported: false,
            lastlogsize: None,
            mtime: None,
            id,
            clock,
            ns: 7,
        }
    }

    fn open(path: &Path) -> (Arc<Store>, Slot, Resume) {
        let store = Store::open(path, HOUR, &pairs()).unwrap();
        let (slot, resume) = store.take_slot("127.0.0.1:10051", "h1").unwrap();
        (store, slot, resume)
    }

    fn oldest(slot: &Slot) -> Vec<Row> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(slot.oldest(100))
    }

    #[test]
    fn values_session_and_ids_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("buf.db");
        let now = unix_now();
        let (store, slot, resume) = open(&path);
        assert_eq!((resume.last_id, resume.backlog), (0, 0));
        assert_eq!(resume.session.len(), 32);
        slot.insert(&row(1, 10, "a", now), false);
        slot.insert(&row(2, 10, "b", now), false);
        let mut log = row(3, 11, "line", now);
        log.lastlogsize = Some(99);
        slot.insert(&log, true);
        let mut legacy = row(4, 0, "unsup", now);
        legacy.item = ItemRef::Key("k[x]".into());
        legacy.unsupported = true;
        slot.insert(&legacy, false);
        slot.remove_up_to(1);
        let rows = oldest(&slot);
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(rows[0], row(2, 10, "b", now));
        assert_eq!(rows[1].lastlogsize, Some(99));
        assert_eq!(rows[2].item, ItemRef::Key("k[x]".into()));
        assert!(rows[2].unsupported);
        drop((slot, store));

        // Reopened: same session, ids continue after 4, the log value is gone (the
        // server's lastlogsize makes the agent read it again).
        let (_store, slot, again) = open(&path);
        assert_eq!(again.session, resume.session);
        assert_eq!((again.last_id, again.backlog), (4, 2));
        let rows = oldest(&slot);
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), vec![2, 4]);
        // Everything sent: the ids are still remembered.
        slot.remove_up_to(4);
        slot.sync();
        drop(slot);
        drop(_store);
        let (_store, _slot, third) = open(&path);
        assert_eq!((third.last_id, third.backlog), (4, 0));
        assert_eq!(third.session, resume.session);
    }

    #[test]
    fn entries_no_longer_configured_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("buf.db");
        let (store, slot, first) = open(&path);
        slot.insert(&row(1, 10, "a", unix_now()), false);
        slot.sync();
        drop((slot, store));
        let other = vec![("127.0.0.1:10051".to_string(), "h2".to_string())];
        let store = Store::open(&path, HOUR, &other).unwrap();
        assert!(store.take_slot("127.0.0.1:10051", "h1").is_none());
        let (_slot, r) = store.take_slot("127.0.0.1:10051", "h2").unwrap();
        assert_eq!((r.last_id, r.backlog), (0, 0));
        assert_ne!(r.session, first.session);
        drop(store);
        let (_s, _slot, back) = open(&path);
        assert_eq!(back.backlog, 0, "h1's values went with its entry");
    }

    #[test]
    fn values_older_than_the_period_expire_log_values_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("buf.db");
        let now = unix_now();
        let store = Store::open(&path, Duration::from_secs(60), &pairs()).unwrap();
        let (slot, _) = store.take_slot("127.0.0.1:10051", "h1").unwrap();
        slot.insert(&row(1, 10, "old", now - 120), false);
        slot.insert(&row(2, 11, "old log", now - 120), true);
        slot.insert(&row(3, 10, "new", now - 10), false);
        slot.sync();
        // Expiry runs with the first batch after EXPIRE_EVERY.
        std::thread::sleep(EXPIRE_EVERY + Duration::from_millis(100));
        slot.insert(&row(4, 10, "newer", now), false);
        let ids: Vec<u64> = oldest(&slot).iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![2, 3, 4]);
    }

    #[test]
    fn a_corrupt_file_is_moved_aside_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("buf.db");
        let junk: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 3) as u8).collect();
        std::fs::write(&path, &junk).unwrap();
        let (_store, slot, r) = open(&path);
        assert_eq!((r.last_id, r.backlog), (0, 0));
        assert_eq!(
            std::fs::read(dir.path().join("buf.db.corrupt")).unwrap(),
            junk
        );
        slot.insert(&row(1, 10, "a", unix_now()), false);
        assert_eq!(oldest(&slot).len(), 1, "the new file works");
    }

    #[test]
    fn an_unwritable_place_is_an_error_that_names_the_file() {
        let e = Store::open(Path::new("/nonexistent-pbuf/x.db"), HOUR, &pairs()).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("\"/nonexistent-pbuf/x.db\""), "{text}");
        assert!(text.contains("unable to open database file"), "{text}");
        // A directory where the file should be.
        let dir = tempfile::tempdir().unwrap();
        let e = Store::open(dir.path(), HOUR, &pairs()).unwrap_err();
        assert!(e.to_string().contains("writable"), "{e}");
        // Read-only file (as root, chmod does not stop writes: use a read-only bind of
        // /proc instead).
        let e = Store::open(Path::new("/proc/version"), HOUR, &pairs());
        assert!(e.is_err());
    }
}
