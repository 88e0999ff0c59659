//! Reading files a peer names (vfs.file.*, log[]): open without waiting for a FIFO's
//! writer, every read bounded by the check's deadline (checked inside the read, so a
//! silent FIFO or an endless `/dev/zero` stops at Timeout), and lines bounded in bytes —
//! zabbix_agentd's `zbx_read`: a line ends at LF, CR LF or a lone CR (in the encoding's
//! width), and a line longer than the window (64 KiB) comes out in window-sized pieces.
//!
//! Owns the open/poll/read system calls and the line splitting; it must not know item
//! keys, encodings' names or reason texts.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// zabbix_agentd's line window for vfs.file.regexp/regmatch (`MAX_BUFFER_LEN`).
pub const AGENTD_LINE: usize = 64 * 1024;

/// Checks at once on one non-regular object (FIFO, character device, socket): more are
/// refused at once, so one object that never delivers holds at most this many threads.
pub const MAX_PER_OBJECT: usize = 2;

/// A file opened for a check: non-blocking (a FIFO without a writer opens at once, a
/// FIFO whose writer is silent waits in `poll` only until the deadline), with its
/// metadata. Non-regular objects count against [`MAX_PER_OBJECT`] while open.
#[derive(Debug)]
pub struct UserFile {
    file: File,
    meta: Metadata,
    deadline: Instant,
    _slot: Option<ObjectSlot>,
}

/// Why a user file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The deadline passed (before or during a read).
    #[error("timed out")]
    Timeout,
    /// Too many checks are already waiting on this non-regular object.
    #[error("too many checks of this object are in progress")]
    Busy,
    /// open, fstat or read failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl UserFile {
    /// Opens `path` read-only and non-blocking, to be read until `deadline`.
    pub fn open(path: &str, deadline: Instant) -> Result<UserFile, ReadError> {
        if Instant::now() >= deadline {
            return Err(ReadError::Timeout);
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)?;
        let meta = file.metadata()?;
        let slot = if meta.is_file() {
            None
        } else {
            Some(ObjectSlot::take(meta.dev(), meta.ino()).ok_or(ReadError::Busy)?)
        };
        Ok(UserFile {
            file,
            meta,
            deadline,
            _slot: slot,
        })
    }

    /// The opened file's metadata (fstat, not a second lookup of the path).
    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    /// Whether the object waits for a writer (FIFO or socket) rather than reading on.
    pub fn is_stream(&self) -> bool {
        let t = self.meta.file_type();
        t.is_fifo() || t.is_socket()
    }

    /// One read: at most until the deadline, retried on EINTR; a non-blocking object with
    /// nothing to read is waited for in `poll`, never past the deadline.
    pub fn read_timed(&mut self, buf: &mut [u8]) -> Result<usize, ReadError> {
        loop {
            let now = Instant::now();
            if now >= self.deadline {
                return Err(ReadError::Timeout);
            }
            match self.file.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    wait_readable(&self.file, self.deadline - now)?;
                }
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }
}

impl Read for UserFile {
    /// [`UserFile::read_timed`] with the timeout as `io::ErrorKind::TimedOut`.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_timed(buf).map_err(|e| match e {
            ReadError::Io(e) => e,
            ReadError::Timeout => io::Error::new(io::ErrorKind::TimedOut, "timed out"),
            ReadError::Busy => io::Error::other("busy"),
        })
    }
}

/// Waits at most `limit` for `file` to become readable (or hung up).
fn wait_readable(file: &File, limit: Duration) -> io::Result<()> {
    let ms = i32::try_from(limit.as_millis().max(1)).unwrap_or(i32::MAX);
    let mut pfd = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd on a descriptor `file` owns, valid for the call.
    let r = unsafe { libc::poll(&mut pfd, 1, ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}

/// Opens `path` read-only without waiting for a FIFO's writer (for readers that look at
/// the metadata before reading, like log[]).
pub fn open_nonblocking(path: &std::path::Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// Checks under way per non-regular object (device, inode).
static OBJECTS: Mutex<Option<HashMap<(u64, u64), usize>>> = Mutex::new(None);

/// One of the [`MAX_PER_OBJECT`] slots of a non-regular object; freed on drop.
#[derive(Debug)]
struct ObjectSlot((u64, u64));

impl ObjectSlot {
    fn take(dev: u64, ino: u64) -> Option<ObjectSlot> {
        let mut t = OBJECTS.lock().ok()?;
        let n = t
            .get_or_insert_with(HashMap::new)
            .entry((dev, ino))
            .or_insert(0);
        if *n >= MAX_PER_OBJECT {
            return None;
        }
        *n += 1;
        Some(ObjectSlot((dev, ino)))
    }
}

impl Drop for ObjectSlot {
    fn drop(&mut self) {
        if let Ok(mut t) = OBJECTS.lock() {
            if let Some(map) = t.as_mut() {
                if let Some(n) = map.get_mut(&self.0) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        map.remove(&self.0);
                    }
                }
            }
        }
    }
}

/// How lines end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// The line feed in the encoding's width (`\n`, `\n\0`, `\0\0\0\n` …).
    pub lf: &'static [u8],
    /// Whether a lone CR ends a line too (and CR LF is one ending), as in
    /// vfs.file.regexp/regmatch and log[]; `false`: only LF ends a line.
    pub cr: bool,
}

/// How a line returned by [`LineReader::next_line`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// At a line feed, carriage return or both (included in the line's bytes).
    Terminator,
    /// Cut: the window was full without a line end.
    Full,
    /// At the end of the file without a line end.
    Eof,
}

/// Reads lines of at most `window` bytes each from any reader, keeping at most two
/// windows in memory whatever the file holds (the buffer starts at 16 KiB and grows
/// only while lines are longer).
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    window: usize,
    split: Split,
    eof: bool,
}

impl<R: Read> LineReader<R> {
    /// A reader splitting `inner` by `split` into lines of at most `window` bytes.
    pub fn new(inner: R, split: Split, window: usize) -> LineReader<R> {
        let window = window.max(split.lf.len()).max(1);
        LineReader {
            inner,
            buf: vec![0; (window * 2).min(16 * 1024)],
            pos: 0,
            end: 0,
            window,
            split,
            eof: false,
        }
    }

    /// The next line with its ending's bytes, or `None` at the end of the file.
    pub fn next_line(&mut self) -> io::Result<Option<(&[u8], Ending)>> {
        loop {
            let avail = (self.end - self.pos).min(self.window);
            let full = avail == self.window;
            let at_eof = self.eof && self.end - self.pos <= self.window;
            if let Some(len) = find_end(
                &self.buf[self.pos..self.pos + avail],
                self.split,
                full || at_eof,
            ) {
                return Ok(Some((self.take(len), Ending::Terminator)));
            }
            if full {
                return Ok(Some((self.take(self.window), Ending::Full)));
            }
            if self.eof {
                if avail == 0 {
                    return Ok(None);
                }
                return Ok(Some((self.take(avail), Ending::Eof)));
            }
            self.fill()?;
        }
    }

    fn take(&mut self, len: usize) -> &[u8] {
        let start = self.pos;
        self.pos += len;
        &self.buf[start..start + len]
    }

    /// Reads more: one read, after compacting when the buffer is full or a window no
    /// longer fits after the current position, or else growing the full buffer (never
    /// past two windows).
    fn fill(&mut self) -> io::Result<()> {
        let max = self.window * 2;
        if self.pos > 0 && (self.pos + self.window > max || self.end == self.buf.len()) {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            // Only while a line is longer than the buffer: avail < window here.
            let grown = (self.buf.len() * 2).min(max);
            self.buf.resize(grown, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }
}

/// Length of the first line of `data` up to and including its ending, with the ending
/// searched at multiples of the line feed's width. `complete`: nothing more will follow
/// `data` in this window, so a CR at its very end is a lone CR (zabbix_agentd decides
/// within the bytes one read returned).
fn find_end(data: &[u8], split: Split, complete: bool) -> Option<usize> {
    let w = split.lf.len();
    let mut i = 0;
    while i + w <= data.len() {
        let unit = &data[i..i + w];
        if unit == split.lf {
            return Some(i + w);
        }
        if split.cr && is_cr(unit, split.lf) {
            if i + 2 * w <= data.len() {
                let next = &data[i + w..i + 2 * w];
                return Some(if next == split.lf { i + 2 * w } else { i + w });
            }
            if complete {
                return Some(i + w);
            }
            // Whether an LF follows is not known yet.
            return None;
        }
        i += w;
    }
    None
}

/// Whether `unit` is the CR of the encoding whose LF is `lf` (same width and zero bytes).
pub fn is_cr(unit: &[u8], lf: &[u8]) -> bool {
    unit.iter()
        .zip(lf)
        .all(|(u, l)| if *l == b'\n' { *u == b'\r' } else { u == l })
}

#[cfg(test)]
#[allow(clippy::panic)] // tests fail by panicking
mod tests {
    use super::*;

    const AGENTD: Split = Split {
        lf: b"\n",
        cr: true,
    };

    /// A reader handing out at most `step` bytes per read (like a pipe).
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn lines(data: &[u8], split: Split, window: usize, step: usize) -> Vec<(Vec<u8>, Ending)> {
        let mut r = LineReader::new(Trickle(data, step), split, window);
        let mut out = Vec::new();
        while let Some((l, e)) = r.next_line().unwrap_or_else(|e| panic!("{e}")) {
            out.push((l.to_vec(), e));
        }
        out
    }

    fn texts(data: &[u8], split: Split, window: usize, step: usize) -> Vec<String> {
        lines(data, split, window, step)
            .into_iter()
            .map(|(l, _)| String::from_utf8_lossy(&l).into_owned())
            .collect()
    }

    #[test]
    fn lf_crlf_and_lone_cr_end_lines_like_zabbix_agentd() {
        for step in [1, 2, 3, 1000] {
            assert_eq!(
                texts(b"a\rb\r\nc\nd", AGENTD, 64, step),
                ["a\r", "b\r\n", "c\n", "d"],
                "step {step}"
            );
            assert_eq!(
                texts(b"a\r\r\nb\n\n\nc\r\n", AGENTD, 64, step),
                ["a\r", "\r\n", "b\n", "\n", "\n", "c\r\n"]
            );
        }
        // log[]: only LF.
        let lf_only = Split {
            lf: b"\n",
            cr: false,
        };
        assert_eq!(texts(b"a\rb\r\nc", lf_only, 64, 7), ["a\rb\r\n", "c"]);
    }

    #[test]
    fn long_lines_come_out_in_windows() {
        let mut data = vec![b'x'; 10];
        data.extend_from_slice(b"END\n");
        let got = lines(&data, AGENTD, 4, 3);
        let want: Vec<(Vec<u8>, Ending)> = vec![
            (b"xxxx".to_vec(), Ending::Full),
            (b"xxxx".to_vec(), Ending::Full),
            (b"xxEN".to_vec(), Ending::Full),
            (b"D\n".to_vec(), Ending::Terminator),
        ];
        assert_eq!(got, want);
        // A CR that is the window's last byte is a lone CR: its LF starts the next line.
        assert_eq!(texts(b"qqq\r\nW\n", AGENTD, 4, 100), ["qqq\r", "\n", "W\n"]);
        assert_eq!(texts(b"qq\r\nW\n", AGENTD, 4, 1), ["qq\r\n", "W\n"]);
    }

    #[test]
    fn wide_encodings_search_aligned_units() {
        let le = Split {
            lf: b"\n\0",
            cr: true,
        };
        assert_eq!(
            texts(b"a\0\r\0b\0\r\0\n\0\n\0", le, 64, 1),
            ["a\0\r\0", "b\0\r\0\n\0", "\n\0"]
        );
        // A misaligned 0x0A 0x00 is not a line feed.
        assert_eq!(texts(b"\0\n\0a\n\0", le, 64, 5), ["\0\n\0a\n\0"]);
        let be = Split {
            lf: b"\0\n",
            cr: true,
        };
        assert_eq!(texts(b"\0a\0\r\0b", be, 64, 64), ["\0a\0\r", "\0b"]);
    }

    #[test]
    fn memory_stays_within_two_windows() {
        let data = vec![b'z'; 1 << 20];
        let mut r = LineReader::new(Trickle(&data, 70_000), AGENTD, 1024);
        let mut n = 0;
        while let Some((l, _)) = r.next_line().unwrap_or_else(|e| panic!("{e}")) {
            assert_eq!(l.len(), 1024);
            n += 1;
        }
        assert_eq!(n, 1024);
        assert_eq!(r.buf.len(), 2048);
        let mut r = LineReader::new(Trickle(&data, 70_000), AGENTD, AGENTD_LINE);
        while r.next_line().unwrap_or_else(|e| panic!("{e}")).is_some() {}
        assert!(r.buf.len() <= 2 * AGENTD_LINE);
        let short = b"a\nb\n".repeat(100_000);
        let mut r = LineReader::new(Trickle(&short, 70_000), AGENTD, AGENTD_LINE);
        let mut n = 0;
        while r.next_line().unwrap_or_else(|e| panic!("{e}")).is_some() {
            n += 1;
        }
        assert_eq!(n, 200_000);
        assert_eq!(r.buf.len(), 16 * 1024, "short lines never grow the buffer");
    }

    #[test]
    fn deadline_stops_an_endless_device_and_a_silent_fifo() {
        let t0 = Instant::now();
        let mut f = UserFile::open("/dev/zero", t0 + Duration::from_millis(200))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut buf = [0u8; 4096];
        let err = loop {
            match f.read_timed(&mut buf) {
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        assert!(matches!(err, ReadError::Timeout), "{err}");

        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        // SAFETY: mkfifo with a valid path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let path = fifo.to_string_lossy().into_owned();
        // No writer: reads as empty at once.
        let mut f = UserFile::open(&path, Instant::now() + Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.read_timed(&mut buf).ok(), Some(0));
        drop(f);
        // A writer that never writes: the read waits until the deadline, no longer.
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_millis(300);
        let mut a = UserFile::open(&path, deadline).unwrap_or_else(|e| panic!("{e}"));
        let _b = UserFile::open(&path, deadline).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            UserFile::open(&path, deadline),
            Err(ReadError::Busy)
        ));
        let _writer = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(a.read_timed(&mut buf), Err(ReadError::Timeout)));
        assert!(t0.elapsed() < Duration::from_secs(3));
    }
}
