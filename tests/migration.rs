//! Switching from zabbix-agent / zabbix-agent2: `zagent check-config` on the files those
//! Debian packages install loads them and lists, in its warning section, every directive
//! zagent ignores or reads differently (with file:line), instead of leaving it to be found
//! in production.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod util;

use std::process::Command;

/// Runs `zagent check-config -c FILE`; (exit code, stdout, stderr).
fn check(file: &str) -> (i32, String, String) {
    let out = Command::new(util::zagent_bin())
        .args(["check-config", "-c", file])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The warning-section lines (`zagent: warning:   file:line: "Name": why`).
fn listed(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("zagent: warning:   "))
        .map(str::to_string)
        .collect()
}

#[test]
fn debian_zabbix_agentd_conf_loads_as_is() {
    // Installed by the zabbix-agent package (scripts/deps.sh --test).
    let (code, out, err) = check("/etc/zabbix/zabbix_agentd.conf");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("configuration OK (passive on port 10050"),
        "{out}"
    );
    assert!(listed(&err).is_empty(), "{err}");
}

#[test]
fn debian_zabbix_agent2_conf_loads_and_lists_control_socket() {
    // Installed by the zabbix-agent2 package; it has ControlSocket= and a relative
    // Include=./zabbix_agent2.d/plugins.d/*.conf read from /etc/zabbix as agent2 does.
    let (code, out, err) = check("/etc/zabbix/zabbix_agent2.conf");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("configuration OK"), "{out}");
    let lines = listed(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("/etc/zabbix/zabbix_agent2.conf:")
            && lines[0].contains("\"ControlSocket\": zabbix_agent2's runtime-control socket"),
        "{err}"
    );
}

#[test]
fn deliberate_differences_are_listed_with_their_line() {
    for (fixture, needle) in [
        (
            "d01_heartbeat.conf",
            ":4: \"HeartbeatFrequency\": zabbix_agentd 6.0 does not know",
        ),
        (
            "d02_load_module.conf",
            ":4: \"LoadModule\": zagent cannot load",
        ),
        (
            "d03_cipher13.conf",
            ":7: \"TLSCipherPSK13\": Debian's zabbix_agentd",
        ),
    ] {
        let path = format!("tests/fixtures/config/diff/{fixture}");
        let (code, _, err) = check(&path);
        assert_eq!(code, 0, "{fixture}: {err}");
        let lines = listed(&err);
        assert_eq!(lines.len(), 1, "{fixture}: {err}");
        assert_eq!(lines[0], format!("{path}{}", &lines[0][path.len()..]));
        assert!(
            lines[0][path.len()..].starts_with(needle),
            "{fixture}: {err}"
        );
    }
}

#[test]
fn agent2_plugin_options_and_relative_include_from_the_file_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("pkg.d")).unwrap();
    std::fs::write(
        dir.path().join("pkg.d/plugin.conf"),
        "Plugins.Log.MaxLinesPerSecond=20\nStatusPort=9999\n",
    )
    .unwrap();
    let main = dir.path().join("agent2.conf");
    std::fs::write(
        &main,
        "LogType=console\nServer=127.0.0.1\nControlSocket=/tmp/pkg-agent.sock\nInclude=./pkg.d/*.conf\n",
    )
    .unwrap();
    let (code, _, err) = check(main.to_str().unwrap());
    assert_eq!(code, 0, "{err}");
    let lines = listed(&err);
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines[0].ends_with("agent2.conf:3: \"ControlSocket\": zabbix_agent2's runtime-control socket; zagent takes runtime commands as signals (`zagent runtime userparameter_reload`, `systemctl reload zagent`); ignored"), "{err}");
    assert!(
        lines[1].contains(
            "plugin.conf:1: \"Plugins.Log.MaxLinesPerSecond\": zabbix_agent2 plugin setting"
        ),
        "{err}"
    );
    assert!(lines[2].contains("plugin.conf:2: \"StatusPort\""), "{err}");
    // A name that only looks like a plugin option is still an error.
    std::fs::write(&main, "LogType=console\nServer=127.0.0.1\nPlugins=1\n").unwrap();
    let (code, _, err) = check(main.to_str().unwrap());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("unknown parameter \"Plugins\""), "{err}");
}

#[test]
fn a_port_held_by_zabbix_agentd_is_refused_with_what_to_do() {
    // The real zabbix_agentd holds the port; zagent on the same port must not start a
    // second agent and must say how to switch.
    let agentd = util::start_zabbix_agentd("Server=127.0.0.1\n");
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("zagent.conf");
    std::fs::write(
        &conf,
        format!(
            "LogType=console\nServer=127.0.0.1\nListenIP=127.0.0.1\nListenPort={}\nAllowRoot=1\n",
            agentd.port
        ),
    )
    .unwrap();
    let out = Command::new(util::zagent_bin())
        .args(["run", "-c"])
        .arg(&conf)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "another process listens on port {}: if it is zabbix-agent, stop it first (systemctl disable --now zabbix-agent), or give zagent a free port with ListenPort=",
            agentd.port
        )),
        "{err}"
    );
    // zabbix_agentd still answers.
    assert_eq!(
        util::stdout(&util::zabbix_get(agentd.port, "agent.ping", &[])).trim(),
        "1"
    );
}

/// Issue 14: zabbix_agentd 6.0.14 refuses to start with `HeartbeatFrequency=` (unknown
/// parameter) and with a `LoadModule=` it cannot load; zagent, which loads no C module
/// and implements heartbeats, starts with both, answers, and logs each with file:line
/// (docs/COMPATIBILITY.md). The refusal is checked against the real agent, so the
/// documented reason stays true.
#[test]
fn load_module_and_heartbeat_frequency_stop_zabbix_agentd_but_are_logged_by_zagent() {
    let cases = [
        (
            "HeartbeatFrequency=0",
            "unknown parameter \"HeartbeatFrequency\" in config file",
            "\"HeartbeatFrequency\": zabbix_agentd 6.0 does not know HeartbeatFrequency",
        ),
        (
            "LoadModule=zagent_no_such_module.so",
            "cannot load module \"zagent_no_such_module.so\"",
            "\"LoadModule\": zagent cannot load zabbix_agentd's C modules",
        ),
    ];
    for (line, agentd_says, zagent_logs) in cases {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("agentd.conf");
        std::fs::write(
            &conf,
            format!("LogType=console\nServer=127.0.0.1\n{line}\n"),
        )
        .unwrap();
        for mode in ["-t", "-f"] {
            let mut cmd = Command::new("zabbix_agentd");
            // Its own process group, so that stop_group reaches a forked agent too.
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            cmd.arg("-c").arg(&conf).arg(mode);
            if mode == "-t" {
                cmd.arg("agent.ping");
            }
            let mut child = cmd
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            // It refuses at once; a zabbix_agentd still running after 10 s has accepted.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            if child.try_wait().unwrap().is_none() {
                util::stop_group(&mut child, std::time::Duration::from_secs(1));
                panic!("zabbix_agentd {mode} started with {line}");
            }
            let out = child.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.status.code(), Some(1), "{mode} {line}: {text}");
            assert!(text.contains(agentd_says), "{mode} {line}: {text}");
        }
        // zagent: the same line (6th of its file, after ListenPort and ListenIP), running
        // and answering.
        let mut z = util::start_zagent(&format!(
            "AllowRoot=1\nLogType=console\nServer=127.0.0.1\n{line}\n"
        ));
        let got = util::zabbix_get(z.port, "agent.ping", &[]);
        assert_eq!(util::stdout(&got), "1", "{line}");
        z.terminate(std::time::Duration::from_secs(10));
        let log = std::fs::read_to_string(z.path("zagent.log")).unwrap();
        let logged = log
            .lines()
            .find(|l| l.contains(zagent_logs))
            .unwrap_or_else(|| panic!("{line}: not logged: {log}"));
        assert!(logged.contains("zagent.conf:6"), "{line}: {logged}");
    }
}
