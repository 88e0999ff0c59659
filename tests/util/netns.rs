//! The test suite's one network-namespace helper: a namespace with `lo` up, commands run
//! in it with `ip netns exec`, closures run on a thread that entered it, and on drop
//! every process in it stopped and the namespace deleted (even when the test failed).
#![allow(dead_code)]

use std::os::fd::AsRawFd;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A network namespace deleted, with everything running in it, on drop.
pub struct Netns {
    /// `<prefix>-<random>`: the prefix names the test file, so parallel suites never collide.
    pub name: String,
    /// Children started in the namespace, stopped (SIGTERM, then SIGKILL) on drop.
    pub children: Vec<Child>,
}

impl Netns {
    /// Creates `<prefix>-<8 hex digits>` with `lo` up.
    pub fn create(prefix: &str) -> Netns {
        let mut rnd = [0u8; 4];
        getrandom::fill(&mut rnd).expect("getrandom");
        let name = format!("{prefix}-{:08x}", u32::from_ne_bytes(rnd));
        let st = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("ip runs");
        assert!(st.success(), "ip netns add {name}");
        let ns = Netns {
            name,
            children: Vec::new(),
        };
        ns.exec_ok(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// `ip netns exec NAME args…`, not started.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(args);
        c
    }

    /// Runs `args` in the namespace; panics unless it succeeds; its stdout.
    pub fn exec_ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().expect("ip netns exec runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    /// Runs `f` on a thread that entered the namespace; threads it spawns (tokio's
    /// blocking pool) inherit it.
    pub fn run_in<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let fd = std::fs::File::open(&path).expect("namespace file");
            // SAFETY: setns on a valid namespace fd; affects only this thread.
            let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("namespace thread")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // `ip netns exec` execs the program, so a child is e.g. zabbix_agentd's main
        // process: SIGTERM lets it stop its forked listeners; SIGKILL if it does not
        // exit in 5 s.
        for c in &mut self.children {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // Whatever is still in the namespace (forked listeners included).
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    // SAFETY: kill(2); these processes live only in our namespace.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
