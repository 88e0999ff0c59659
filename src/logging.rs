//! Logging: tracing to the console or to `LogFile`, with `DebugLevel` mapped onto tracing
//! levels and `LogFileSize` rotation (one `.old` file, as zabbix_agentd does).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tracing::level_filters::LevelFilter;

use crate::config::{Config, LogType};

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
