//! AllowKey/DenyKey and Alias read from a real configuration file: `zagent test` and
//! `zagent keys` print what `zabbix_agentd -t` and `-p` print with the same file, and
//! `zagent run` answers the real `zabbix_get` the same way.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod util;

use std::path::Path;
use std::process::Command;

use util::*;

const RULES: &str = "UserParameter=vector.echo[*],echo \"$1|$2|$3\"\n\
                     AllowKey=system.run[echo *]\n\
                     DenyKey=agent.ping\n\
                     DenyKey=vector.echo[*,secret]\n\
                     Alias=ping.alias:agent.ping\n\
                     Alias=my.echo[*]:vector.echo[*]\n\
                     Alias=run.alias:system.run[echo aliased]\n";

const KEYS: &[&str] = &[
    "system.run[echo hi]",
    "system.run[ls]",
    "system.run[echo hi,nowait]",
    "system.run",
    "system.run[]",
    "agent.ping",
    "agent.ping[]",
    "ping.alias",
    "agent.version",
    "my.echo[a,b]",
    "my.echo[a,secret]",
    "vector.echo[x,secret]",
    "vector.echo[x,public]",
    "run.alias",
];

fn run(cmd: &str, args: &[&str], conf: &Path) -> String {
    let out = Command::new(cmd).args(args).arg(conf).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn zagent_test_and_keys_apply_rules_and_aliases_like_zabbix_agentd() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("rules.conf");
    std::fs::write(&conf, format!("Server=127.0.0.1\nLogType=console\n{RULES}")).unwrap();
    for key in KEYS {
        let theirs = Command::new("zabbix_agentd")
            .arg("-c")
            .arg(&conf)
            .args(["-t", key])
            .output()
            .unwrap();
        let ours = Command::new(zagent_bin())
            .args(["test", "-c"])
            .arg(&conf)
            .arg(key)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "zagent test and zabbix_agentd -t differ on {key}"
        );
    }
    // -p lists every key zabbix_agentd has; compare the ones zagent shares here.
    let ours_keys = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| {
                ["agent.", "system.run", "vector.", "my.", "ping.", "run."]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .map(str::to_string)
            .collect()
    };
    let theirs = ours_keys(&run("zabbix_agentd", &["-p", "-c"], &conf));
    let ours = ours_keys(&run(zagent_bin(), &["keys", "-c"], &conf));
    assert_eq!(ours, theirs);
    assert!(
        theirs.iter().any(|l| l.starts_with("run.alias")),
        "{theirs:?}"
    );
}

#[test]
fn zabbix_get_sees_denied_keys_as_unknown_through_zagent_run() {
    let agent = start_zagent(&format!("Server=127.0.0.1\nAllowRoot=1\n{RULES}"));
    let agentd = start_zabbix_agentd(&format!("Server=127.0.0.1\n{RULES}"));
    for key in KEYS
        .iter()
        .filter(|k| !k.contains("nowait"))
        .chain(&["no.such.key", "system.run[echo \"a;b\"]"])
    {
        let ours = zabbix_get(agent.port, key, &[]);
        let theirs = zabbix_get(agentd.port, key, &[]);
        assert_eq!(stdout(&ours), stdout(&theirs), "zabbix_get {key}");
    }
    assert_eq!(
        stdout(&zabbix_get(agent.port, "system.run[echo hi,nowait]", &[])),
        "ZBX_NOTSUPPORTED: Unsupported item key."
    );
}
