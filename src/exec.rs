//! The command runner: one `/bin/sh -c` command in its own process group, its stdout and
//! stderr captured together, bounded in time, output size and concurrency.
//!
//! Owns spawning, reading, killing and reaping children for UserParameters and
//! `system.run`. It must not know about item keys, parameters or access rules, and it must
//! never block a tokio worker: children are awaited asynchronously.
//!
//! Behaviour follows zabbix_agentd 6.0 (`zbx_execute`), checked against the real binary:
//! - stdout and stderr go to one pipe, so the value holds both, in write order;
//! - the exit status is ignored, but a shell killed by a signal is an error whose text is
//!   its output, or `Process killed by signal: N.` when it printed nothing;
//! - the check waits for end-of-file on the pipe *and* for the shell to exit, both within
//!   the timeout; a background child that keeps the pipe open makes the check time out,
//!   one that closed it is left running (as the official agent does);
//! - on timeout the whole process group is killed (zagent sends SIGKILL, where
//!   zabbix_agentd sends SIGTERM, so a script trapping TERM cannot outlive its check) and
//!   the answer is `Timeout while executing a shell script.`;
//! - output of [`MAX_OUTPUT`] bytes or more is refused (the group is killed at once).
//!
//! Limits: [`MAX_CONCURRENT`] commands run at once per agent. A command that finds every
//! slot taken waits for one within its own timeout (and times out like a slow command);
//! nothing else waits for it. `system.run[…,nowait]` children do not take a slot (they
//! are not waited for) and are reaped by a background task.

use std::io;

pub use crate::sys::oserror::zbx_strerror;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Output of this many bytes or more is refused (`MAX_EXECUTE_OUTPUT_LEN` of 6.0: 512 KiB).
pub const MAX_OUTPUT: usize = 512 * 1024;
/// Commands running at once per agent; more wait for a slot within their own timeout.
pub const MAX_CONCURRENT: usize = 32;
/// The shell every command runs under.
pub const SHELL: &str = "/bin/sh";
/// Its `argv[0]` (what `$0` is in the command), as zabbix_agentd passes it.
pub const SHELL_ARG0: &str = "sh";
/// Longest error message built from a killed command's output (6.0's `MAX_STRING_LEN` - 1).
pub const MAX_ERROR_LEN: usize = 2047;

/// Official reason text for a command that ran over its timeout.
pub const TIMEOUT_TEXT: &str = "Timeout while executing a shell script.";
/// Reason text for output over [`MAX_OUTPUT`]. zabbix_agentd 6.0.14 logs this text but
/// answers with an empty reason; later releases answer with it, and so does zagent.
pub const OUTPUT_LIMIT_TEXT: &str = "Command output exceeded limit of 512 KB";

/// Why a command produced no output.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The command (or its wait for a slot) ran over the timeout.
    #[error("Timeout while executing a shell script.")]
    Timeout,
    /// The command wrote [`MAX_OUTPUT`] bytes or more.
    #[error("Command output exceeded limit of 512 KB")]
    OutputLimit,
    /// The working directory (`UserParameterDir`) cannot be opened.
    #[error("{}", zbx_strerror(.0))]
    Dir(#[source] io::Error),
    /// The shell could not be started (or its output not read).
    #[error("{}", zbx_strerror(.0))]
    Io(#[source] io::Error),
}

/// What a finished command left behind.
#[derive(Debug)]
pub struct Output {
    /// stdout and stderr, interleaved as written, at most [`MAX_OUTPUT`] - 1 bytes.
    pub bytes: Vec<u8>,
    /// How the shell ended.
    pub status: ExitStatus,
}

impl Output {
    /// The official verdict on a finished command: the output, or an error text when
    /// the shell was killed by a signal (its output, or `Process killed by signal: N.`).
    /// The exit code is ignored.
    pub fn verdict(self) -> Result<Vec<u8>, String> {
        use std::os::unix::process::ExitStatusExt;
        let Some(signal) = self.status.signal() else {
            return Ok(self.bytes);
        };
        let text = c_string(&self.bytes);
        if text.is_empty() {
            return Err(format!("Process killed by signal: {signal}."));
        }
        let mut end = text.len().min(MAX_ERROR_LEN);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Err(text[..end].to_string())
    }
}

/// Output bytes as the C agent sees them: cut at the first NUL, and invalid UTF-8
/// replaced by [`crate::text::zbx_utf8`] (what the Zabbix server stores for such bytes).
pub fn c_string(bytes: &[u8]) -> String {
    let bytes = match bytes.iter().position(|b| *b == 0) {
        Some(nul) => &bytes[..nul],
        None => bytes,
    };
    crate::text::zbx_utf8(bytes)
}

/// Runs shell commands for one agent, at most [`MAX_CONCURRENT`] at a time.
#[derive(Debug, Clone)]
pub struct Runner {
    slots: Arc<Semaphore>,
}

impl Default for Runner {
    fn default() -> Self {
        Runner::new(MAX_CONCURRENT)
    }
}

impl Runner {
    /// A runner allowing `max` commands at once (at least one).
    pub fn new(max: usize) -> Runner {
        Runner {
            slots: Arc::new(Semaphore::new(max.max(1))),
        }
    }

    /// Commands that could start right now without waiting for a slot.
    pub fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }

    /// Runs `command` under `/bin/sh -c` in `dir` (or the agent's own working directory)
    /// and returns its output once it has closed the pipe and exited, all within
    /// `timeout` (the wait for a free slot included).
    ///
    /// Cancel-safe: dropping the future kills the command's process group.
    pub async fn run(
        &self,
        command: &str,
        dir: Option<&Path>,
        timeout: Duration,
    ) -> Result<Output, ExecError> {
        let deadline = Instant::now() + timeout;
        let _slot = match tokio::time::timeout_at(deadline, self.slots.acquire()).await {
            Ok(Ok(permit)) => permit,
            // The semaphore is never closed; treat it like a full one.
            Ok(Err(_)) | Err(_) => {
                tracing::warn!(command, "Command found no free slot before its timeout");
                return Err(ExecError::Timeout);
            }
        };
        if let Some(dir) = dir {
            // zabbix_agentd opens the directory first and answers its error.
            std::fs::read_dir(dir).map_err(ExecError::Dir)?;
        }

        let (tx, mut rx) = tokio::net::unix::pipe::pipe().map_err(ExecError::Io)?;
        let (mut child, group) = {
            let write_end: OwnedFd = tx.into_blocking_fd().map_err(ExecError::Io)?;
            let err_end = write_end.try_clone().map_err(ExecError::Io)?;
            let mut cmd = tokio::process::Command::new(SHELL);
            cmd.arg0(SHELL_ARG0)
                .arg("-c")
                .arg(command)
                .stdin(Stdio::null())
                .stdout(Stdio::from(write_end))
                .stderr(Stdio::from(err_end))
                .process_group(0)
                .kill_on_drop(false);
            if let Some(dir) = dir {
                cmd.current_dir(dir);
            }
            let child = cmd.spawn().map_err(ExecError::Io)?;
            let group = GroupKiller::new(child.id());
            // `cmd` (and with it our copies of the pipe's write end) is dropped here, so
            // end-of-file arrives when the command's last writer closes it.
            (child, group)
        };
        tracing::debug!(command, pid = group.pgid, "Command started");

        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout_at(deadline, rx.read(&mut buf)).await {
                Ok(Ok(0)) => break,
                Ok(Ok(n)) => {
                    if bytes.len() + n >= MAX_OUTPUT {
                        tracing::error!(command, "Command output exceeded limit of 512 KB");
                        group.kill();
                        reap(&mut child, &group).await;
                        return Err(ExecError::OutputLimit);
                    }
                    bytes.extend_from_slice(&buf[..n]);
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => {
                    group.kill();
                    reap(&mut child, &group).await;
                    return Err(ExecError::Io(e));
                }
                Err(_) => return Err(timed_out(&group, &mut child).await),
            }
        }
        drop(rx);
        match tokio::time::timeout_at(deadline, child.wait()).await {
            Ok(Ok(status)) => {
                group.disarm();
                Ok(Output { bytes, status })
            }
            Ok(Err(e)) => {
                group.kill();
                Err(ExecError::Io(e))
            }
            Err(_) => Err(timed_out(&group, &mut child).await),
        }
    }

    /// Starts `command` under `/bin/sh -c` with no input or output and does not wait for
    /// it (`system.run[…,nowait]`). A background task reaps it.
    pub fn spawn_detached(&self, command: &str) -> Result<(), ExecError> {
        let mut child = tokio::process::Command::new(SHELL)
            .arg0(SHELL_ARG0)
            .arg("-c")
            .arg(command)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(false)
            .spawn()
            .map_err(ExecError::Io)?;
        let pid = child.id();
        tokio::spawn(async move {
            match child.wait().await {
                Ok(status) => tracing::debug!(?pid, %status, "Detached command ended"),
                Err(e) => tracing::warn!(?pid, error = %e, "Cannot reap detached command"),
            }
        });
        Ok(())
    }
}

/// The deadline passed: kill the group, reap the shell. (The caller logs the failure.)
async fn timed_out(group: &GroupKiller, child: &mut tokio::process::Child) -> ExecError {
    group.kill();
    reap(child, group).await;
    ExecError::Timeout
}

/// Waits for a child just sent SIGKILL; bounded, so a stuck reap cannot hang a check
/// (tokio's background reaper collects it later).
async fn reap(child: &mut tokio::process::Child, group: &GroupKiller) {
    const REAP_WAIT: Duration = Duration::from_secs(1);
    match tokio::time::timeout(REAP_WAIT, child.wait()).await {
        Ok(Ok(_)) => group.disarm(),
        Ok(Err(e)) => tracing::warn!(pgid = group.pgid, error = %e, "Cannot reap killed command"),
        Err(_) => tracing::warn!(pgid = group.pgid, "Killed command not reaped yet"),
    }
}

/// Kills a command's whole process group unless disarmed (once its leader was reaped):
/// on timeout, on the output cap, and when the check's future is dropped mid-way.
#[derive(Debug)]
struct GroupKiller {
    pgid: i32,
    armed: std::sync::atomic::AtomicBool,
}

impl GroupKiller {
    fn new(pid: Option<u32>) -> GroupKiller {
        let pgid = pid.and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
        GroupKiller {
            pgid,
            armed: std::sync::atomic::AtomicBool::new(pgid > 0),
        }
    }

    /// SIGKILL to every process of the group.
    fn kill(&self) {
        if !self.armed.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        // The group leader is our unreaped child, so its pid (= pgid) cannot have been
        // reused by an unrelated group.
        if let Err(e) = crate::sys::host::kill(-self.pgid, libc::SIGKILL) {
            if e.raw_os_error() != Some(libc::ESRCH) {
                tracing::warn!(pgid = self.pgid, error = %e, "Cannot kill command's process group");
            }
        }
    }

    /// The leader was reaped: its pgid may be reused, never signal it again.
    fn disarm(&self) {
        self.armed
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn c_string_cuts_at_nul_and_replaces_invalid_utf8() {
        assert_eq!(c_string(b"a\0b"), "a");
        assert_eq!(c_string(b"a\xffb\xc0"), "a?b?");
        assert_eq!(c_string("žluť".as_bytes()), "žluť");
    }

    #[test]
    fn strerror_like_zabbix() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(zbx_strerror(&e), "[2] No such file or directory");
    }

    #[test]
    fn verdict_ignores_exit_code_but_not_signals() {
        use std::os::unix::process::ExitStatusExt;
        let ok = Output {
            bytes: b"oops".to_vec(),
            status: ExitStatus::from_raw(3 << 8),
        };
        assert_eq!(ok.verdict(), Ok(b"oops".to_vec()));
        let killed = Output {
            bytes: Vec::new(),
            status: ExitStatus::from_raw(9),
        };
        assert_eq!(killed.verdict(), Err("Process killed by signal: 9.".into()));
        let killed_with_text = Output {
            bytes: b"hi\n".to_vec(),
            status: ExitStatus::from_raw(9),
        };
        assert_eq!(killed_with_text.verdict(), Err("hi\n".into()));
    }
}
