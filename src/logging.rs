//! Logging: tracing to the console, to `LogFile` (with `LogFileSize` rotation to one `.old`
//! file, as zabbix_agentd does) or to syslog (`LogType=system`), with `DebugLevel` mapped
//! onto tracing levels.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tracing::level_filters::LevelFilter;

use crate::config::{Config, LogType};
use crate::sys::syslog::Priority;

/// Maps zabbix `DebugLevel` (0 basic, 1 critical, 2 error, 3 warning, 4 debug, 5 trace)
/// onto tracing. Level 3 also shows zagent's start/stop information.
pub fn level_for(debug_level: u8) -> LevelFilter {
    match debug_level {
        0..=2 => LevelFilter::ERROR,
        3 => LevelFilter::INFO,
        4 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

/// Installs the global subscriber. Call once.
pub fn init(config: &Config) -> io::Result<()> {
    let level = level_for(config.debug_level);
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false);
    let result = match (config.log_type, &config.log_file) {
        (LogType::File, Some(path)) => {
            let writer =
                RotatingFile::open(path.clone(), u64::from(config.log_file_size) * 1024 * 1024)?;
            builder.with_ansi(false).with_writer(writer).try_init()
        }
        (LogType::System, _) => builder
            .with_ansi(false)
            .without_time()
            .with_level(false)
            .with_writer(Syslog::open())
            .try_init(),
        _ => builder.with_writer(io::stderr).try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
    Ok(())
}

/// A log file that is renamed to `<name>.old` when it grows past `max` bytes (0 = never).
#[derive(Debug, Clone)]
pub struct RotatingFile {
    inner: Arc<Mutex<Rotating>>,
}

#[derive(Debug)]
struct Rotating {
    path: PathBuf,
    max: u64,
    file: File,
    size: u64,
}

impl RotatingFile {
    /// Opens (appends to) `path`.
    pub fn open(path: PathBuf, max: u64) -> io::Result<RotatingFile> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            inner: Arc::new(Mutex::new(Rotating {
                path,
                max,
                file,
                size,
            })),
        })
    }
}

impl Rotating {
    fn rotate(&mut self) -> io::Result<()> {
        let mut old = self.path.clone().into_os_string();
        old.push(".old");
        std::fs::rename(&self.path, old)?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut r = self
            .inner
            .lock()
            .map_err(|_| io::Error::other("log file lock poisoned"))?;
        if r.max > 0 && r.size + buf.len() as u64 > r.max {
            // If rotation fails keep writing to the current file.
            let _ = r.rotate();
        }
        r.file.write_all(buf)?;
        r.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut r = self
            .inner
            .lock()
            .map_err(|_| io::Error::other("log file lock poisoned"))?;
        r.file.flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RotatingFile {
    type Writer = RotatingFile;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Writes each formatted event as one syslog message (facility daemon, ident `zagent`).
/// The level is carried by the syslog priority, so the text leaves it and the time out.
#[derive(Debug, Clone, Copy)]
pub struct Syslog;

impl Syslog {
    /// Opens the connection to the system logger (once per process).
    pub fn open() -> Syslog {
        crate::sys::syslog::open();
        Syslog
    }
}

/// One event's writer: remembers the level for the syslog priority.
#[derive(Debug)]
pub struct SyslogEvent {
    priority: Priority,
}

impl Write for SyslogEvent {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            crate::sys::syslog::send(self.priority, line);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Syslog {
    type Writer = SyslogEvent;

    fn make_writer(&'a self) -> Self::Writer {
        SyslogEvent {
            priority: Priority::Info,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        let priority = match *meta.level() {
            tracing::Level::ERROR => Priority::Err,
            tracing::Level::WARN => Priority::Warning,
            tracing::Level::INFO => Priority::Info,
            _ => Priority::Debug,
        };
        SyslogEvent { priority }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn debug_levels_map_like_zabbix() {
        assert_eq!(level_for(0), LevelFilter::ERROR);
        assert_eq!(level_for(2), LevelFilter::ERROR);
        assert_eq!(level_for(3), LevelFilter::INFO);
        assert_eq!(level_for(4), LevelFilter::DEBUG);
        assert_eq!(level_for(5), LevelFilter::TRACE);
    }

    #[test]
    fn log_file_rotates_to_old_past_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zagent.log");
        let mut f = RotatingFile::open(path.clone(), 100).unwrap();
        f.write_all(&[b'a'; 60]).unwrap();
        f.write_all(&[b'b'; 60]).unwrap();
        f.write_all(&[b'c'; 10]).unwrap();
        let old = std::fs::read(dir.path().join("zagent.log.old")).unwrap();
        assert_eq!(old, vec![b'a'; 60]);
        let mut cur = vec![b'b'; 60];
        cur.extend_from_slice(&[b'c'; 10]);
        assert_eq!(std::fs::read(&path).unwrap(), cur);
    }
}
