//! Test helper: drive `tests/interop/zabbix-lab` (the real Zabbix 6.0 server) from Rust
//! tests. Shared by `tests/active_lab.rs` and `tests/send_lab.rs`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

#[path = "../util/mod.rs"]
pub mod util;

/// The lab script in this repository.
pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/zabbix-lab")
}

/// A lab instance: the shared one (no env) or a private one (own dir, DB and port).
#[derive(Debug, Clone, Default)]
pub struct Lab {
    env: Vec<(String, String)>,
    /// The trapper port.
    pub port: u16,
}

impl Lab {
    /// The shared lab on 127.0.0.1:10051 (started once per test binary; `up` is
    /// idempotent, so other helpers' labs are left alone).
    pub fn shared() -> Lab {
        static UP: OnceLock<()> = OnceLock::new();
        let lab = Lab {
            env: Vec::new(),
            port: 10051,
        };
        UP.get_or_init(|| {
            lab.run_ok(&["up"])
                .map(drop)
                .unwrap_or_else(|e| panic!("{e}"))
        });
        lab
    }

    /// A private lab (`ZABBIX_LAB_DIR`/`ZABBIX_LAB_DB`/`ZABBIX_LAB_PORT` of its own) that a
    /// test may stop and start. `port` must be free.
    pub fn private(name: &str, port: u16) -> Lab {
        Lab {
            env: vec![
                ("ZABBIX_LAB_DIR".into(), format!("/var/tmp/{name}")),
                ("ZABBIX_LAB_DB".into(), name.replace('-', "_")),
                ("ZABBIX_LAB_PORT".into(), port.to_string()),
            ],
            port,
        }
    }

    /// Runs the script; returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(script())
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap_or_else(|e| panic!("cannot run zabbix-lab: {e}"));
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs the script and requires exit 0; returns stdout.
    pub fn run_ok(&self, args: &[&str]) -> Result<String, String> {
        let (rc, out, err) = self.run(args);
        if rc == 0 {
            Ok(out)
        } else {
            Err(format!("zabbix-lab {args:?} exited {rc}: {out}{err}"))
        }
    }

    /// The shared lab's frontend API, logged in as Admin (`zabbix-lab web up` once per
    /// test binary; idempotent like `up`).
    pub fn api(&self) -> util::zabbix_api::Api {
        static WEB: OnceLock<()> = OnceLock::new();
        WEB.get_or_init(|| {
            self.run_ok(&["web", "up"])
                .map(drop)
                .unwrap_or_else(|e| panic!("{e}"))
        });
        let port = self
            .env
            .iter()
            .find(|(k, _)| k == "ZABBIX_LAB_WEB_PORT")
            .map_or("10081", |(_, v)| v.as_str());
        util::zabbix_api::Api::login(&format!("127.0.0.1:{port}"), "Admin", "zabbix")
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Creates host `name` with `items` (after deleting any earlier host of that name).
    pub fn fresh_host(&self, name: &str, items: &[&str]) {
        self.run_ok(&["reset", name]).unwrap();
        let mut args = vec!["host", name, "--replace"];
        args.extend_from_slice(items);
        self.run_ok(&args).unwrap();
    }

    /// Like [`Lab::fresh_host`] with trapper items.
    pub fn fresh_trapper_host(&self, name: &str, items: &[&str]) {
        self.run_ok(&["reset", name]).unwrap();
        let mut args = vec!["host", name, "--replace", "--trapper"];
        args.extend_from_slice(items);
        self.run_ok(&args).unwrap();
    }

    /// `(clock, ns, value)` rows of an item, oldest first.
    pub fn history(&self, host: &str, key: &str) -> Vec<(i64, u32, String)> {
        let out = self.run_ok(&["history", host, key, "--ns"]).unwrap();
        out.lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (ts, v) = l.split_once(' ').unwrap_or((l, ""));
                let (c, ns) = ts.split_once('.').unwrap_or((ts, "0"));
                (c.parse().unwrap(), ns.parse().unwrap(), v.to_string())
            })
            .collect()
    }

    /// Values only.
    pub fn values(&self, host: &str, key: &str) -> Vec<String> {
        self.history(host, key)
            .into_iter()
            .map(|(_, _, v)| v)
            .collect()
    }

    /// Waits until `count` values exist; false on timeout.
    pub fn wait(&self, host: &str, key: &str, count: usize, timeout_s: u32) -> bool {
        let (rc, _, _) = self.run(&[
            "wait",
            host,
            key,
            "--count",
            &count.to_string(),
            "--timeout",
            &timeout_s.to_string(),
        ]);
        rc == 0
    }

    /// `normal\t` or `notsupported\t<error>`.
    pub fn state(&self, host: &str, key: &str) -> String {
        self.run_ok(&["state", host, key])
            .unwrap()
            .trim_end_matches('\n')
            .to_string()
    }
}

/// A free loopback TCP port (bound then released).
pub fn free_port() -> u16 {
    util::free_port()
}

/// A free loopback port that zabbix_server accepts as ListenPort (1024–32767).
pub fn free_server_port() -> u16 {
    util::free_port()
}
