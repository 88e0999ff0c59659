//! Configuration errors with their file:line. Owns only the error types and how they print;
//! it must not decide what is an error (the reader and the validator do).

use std::fmt;
use std::path::Path;

use super::Origin;

/// One problem in the configuration, where it was found and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file and line the problem belongs to; line 0 when it has no single line
    /// (for example a required directive that is missing).
    pub origin: Origin,
    /// What is wrong, worded as zabbix_agentd 6.0 words it wherever it has a message.
    pub message: String,
}

impl ConfigError {
    /// An error at `origin`.
    pub fn new(origin: &Origin, message: impl Into<String>) -> ConfigError {
        ConfigError {
            origin: origin.clone(),
            message: message.into(),
        }
    }

    /// An error about a whole file (no single line).
    pub fn file(file: &Path, message: impl Into<String>) -> ConfigError {
        ConfigError {
            origin: Origin {
                file: file.to_path_buf(),
                line: 0,
            },
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.origin.file.display();
        match (self.origin.file.as_os_str().is_empty(), self.origin.line) {
            (true, _) => f.write_str(&self.message),
            (false, 0) => write!(f, "{file}: {}", self.message),
            (false, line) => write!(f, "{file}:{line}: {}", self.message),
        }
    }
}

/// Every problem found in a configuration, in file order. zabbix_agentd stops at the first
/// one; zagent reports them all at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", list(.errors))]
pub struct ConfigErrors {
    /// At least one error.
    pub errors: Vec<ConfigError>,
}

fn list(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl From<Vec<ConfigError>> for ConfigErrors {
    fn from(errors: Vec<ConfigError>) -> Self {
        ConfigErrors { errors }
    }
}

/// `[errno] text` as zabbix prints an OS error (`[2] No such file or directory`).
pub(crate) fn os_error(e: &std::io::Error) -> String {
    crate::sys::oserror::zbx_strerror(e)
}
