//! zabbix_agentd.conf reading: a differential test against the real zabbix_agentd 6.0
//! (start-up validation of `zabbix_agentd -f`; 6.0 has no `-T`), and unit tests of Include,
//! line numbers, addresses and defaults through the public API.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::net::IpAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use zagent::config::{self, ActiveAddr, ConfigErrors, LogType, ServerPeer};

const FIXTURES: &str = "tests/fixtures/config";

// ------------------------------------------------------------------------------------------
// Differential test
// ------------------------------------------------------------------------------------------

/// What a fixture's first line (`# expect: ...`) says.
#[derive(Debug)]
enum Expect {
    Accept,
    /// Both reject; both messages contain `needle`; ours points at `line` in `file`.
    Reject {
        needle: String,
        line: Option<usize>,
        file: Option<String>,
    },
    /// zabbix_agentd 6.0 rejects (its message contains `needle`), zagent accepts on purpose.
    Divergence {
        needle: String,
    },
}

fn parse_expect(first_line: &str) -> Expect {
    let spec = first_line
        .strip_prefix("# expect: ")
        .unwrap_or_else(|| panic!("fixture must start with '# expect: ', got {first_line:?}"));
    let (kind, rest) = spec.split_once(' ').unwrap_or((spec, ""));
    let mut needle = Vec::new();
    let (mut line, mut file) = (None, None);
    for word in rest.split(' ') {
        if let Some(n) = word.strip_prefix("line=") {
            line = Some(n.parse().unwrap());
        } else if let Some(f) = word.strip_prefix("file=") {
            file = Some(f.to_string());
        } else if !word.is_empty() {
            needle.push(word);
        }
    }
    let needle = needle.join(" ");
    match kind {
        "accept" => Expect::Accept,
        "reject" => Expect::Reject { needle, line, file },
        "divergence" => Expect::Divergence { needle },
        other => panic!("unknown expectation {other}"),
    }
}

/// What the real agent did with a file.
#[derive(Debug)]
enum Verdict {
    Accepted,
    Rejected(String),
}

mod util;
use util::free_port;

/// Starts `zabbix_agentd -f -c file`: rejected if it exits during start-up, accepted once it
/// logs `agent #0 started` (its processes are then stopped) or is still running after 5 s.
fn run_zabbix(file: &Path, out: &Path) -> Verdict {
    let log = std::fs::File::create(out).unwrap();
    let mut child = Command::new("zabbix_agentd")
        .process_group(0)
        .arg("-f")
        .arg("-c")
        .arg(file)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("zabbix_agentd must be installed (apt-get install zabbix-agent)");
    let deadline = Instant::now() + Duration::from_secs(5);
    let read = || {
        let mut s = String::new();
        let _ = std::fs::File::open(out).and_then(|mut f| {
            let mut b = Vec::new();
            f.read_to_end(&mut b)?;
            s = String::from_utf8_lossy(&b).into_owned();
            Ok(())
        });
        s
    };
    loop {
        if let Some(_status) = child.try_wait().unwrap() {
            return Verdict::Rejected(read());
        }
        if read().contains("agent #0 started") || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    util::stop_group(&mut child, Duration::from_secs(5));
    Verdict::Accepted
}

/// Lines the harness puts before every fixture (so both agents read the same file).
fn harness_prefix(dir: &Path) -> String {
    format!(
        "AllowRoot=1\nPidFile={}/zabbix_agentd.pid\nListenPort={}\n",
        dir.display(),
        free_port()
    )
}
const PREFIX_LINES: usize = 3;

#[test]
fn differential_against_zabbix_agentd() {
    let dir = tempfile::tempdir().unwrap();
    // Fixtures that set AllowRoot=0 make zabbix_agentd drop to its user before it writes
    // the PID file into this directory.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(Path::new(FIXTURES).join("diff"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    fixtures.sort();
    assert!(
        fixtures.len() >= 30,
        "the table must hold at least 30 files"
    );
    let mut failures = Vec::new();
    let (mut accepted, mut rejected) = (0, 0);
    for fixture in &fixtures {
        let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
        let body = std::fs::read(fixture).unwrap();
        let first =
            String::from_utf8_lossy(body.split(|b| *b == b'\n').next().unwrap()).into_owned();
        let expect = parse_expect(&first);
        let file = dir.path().join(&name);
        let mut text = harness_prefix(dir.path()).into_bytes();
        text.extend_from_slice(&body);
        std::fs::write(&file, &text).unwrap();

        let theirs = run_zabbix(&file, &dir.path().join(format!("{name}.out")));
        let ours = config::load(&file);
        let ours_text = match &ours {
            Ok(_) => "accepted".to_string(),
            Err(e) => e.to_string(),
        };
        let mut fail = |why: String| {
            failures.push(format!(
                "{name}: {why}\n  zabbix: {theirs:?}\n  zagent: {ours_text}"
            ))
        };
        match (&expect, &theirs, &ours) {
            (Expect::Accept, Verdict::Accepted, Ok(_)) => accepted += 1,
            (
                Expect::Reject {
                    needle,
                    line,
                    file: in_file,
                },
                Verdict::Rejected(msg),
                Err(errs),
            ) => {
                rejected += 1;
                if !msg.contains(needle.as_str()) {
                    fail(format!(
                        "zabbix's message does not contain {needle:?} (fix the table)"
                    ));
                }
                let want_file = in_file
                    .as_deref()
                    .map(PathBuf::from)
                    .unwrap_or_else(|| file.clone());
                let want_line = line.map(|l| {
                    if in_file.is_some() {
                        l
                    } else {
                        l + PREFIX_LINES
                    }
                });
                let hit = errs.errors.iter().any(|e| {
                    e.message.contains(needle.as_str())
                        && want_line
                            .is_none_or(|l| e.origin.line == l && e.origin.file == want_file)
                });
                if !hit {
                    fail(format!(
                        "no zagent error contains {needle:?} at {want_file:?} line {want_line:?}"
                    ));
                }
                if let Some(l) = want_line {
                    // zabbix names the line in its line-level messages; so must we.
                    if msg.contains(", line ")
                        && !msg.contains(&format!("line {l}"))
                        && in_file.is_none()
                    {
                        fail(format!("zabbix did not report line {l} (fix the table)"));
                    }
                }
            }
            (Expect::Divergence { needle }, Verdict::Rejected(msg), Ok(_)) => {
                if !msg.contains(needle.as_str()) {
                    fail(format!("zabbix's message does not contain {needle:?}"));
                }
            }
            _ => fail(format!("expected {expect:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ:\n{}",
        failures.len(),
        fixtures.len(),
        failures.join("\n")
    );
    assert!(
        accepted >= 15 && rejected >= 30,
        "accepted {accepted}, rejected {rejected}"
    );
}

// ------------------------------------------------------------------------------------------
// Unit tests through the public API
// ------------------------------------------------------------------------------------------

fn errors_of(r: Result<config::Config, ConfigErrors>) -> Vec<String> {
    match r {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

const BASE: &str = "LogType=console\nServer=127.0.0.1\n";

#[test]
fn defaults_work_without_a_file() {
    let cfg = config::defaults();
    assert_eq!(cfg.listen_ip, vec![IpAddr::from([127, 0, 0, 1])]);
    assert_eq!(cfg.listen_port, 10050);
    assert_eq!(cfg.start_agents, 3);
    assert!(cfg
        .server
        .contains(&ServerPeer::Net("127.0.0.1/32".parse().unwrap())));
    assert!(cfg
        .server
        .contains(&ServerPeer::Net("::1/128".parse().unwrap())));
    assert!(cfg.server[0].admits("127.0.0.1".parse().unwrap()));
    assert!(cfg.server.iter().any(|p| p.admits("::1".parse().unwrap())));
    assert!(!cfg.hostname().is_empty());
    assert_eq!(Some(cfg.hostname().to_string()), config::system_hostname());
    assert_eq!(cfg.log_type, LogType::Console);
    assert_eq!(cfg.max_connections, 256);
    assert!(cfg.server_active.is_empty());
}

#[test]
fn values_and_defaults_from_a_file() {
    let text = format!(
        "{BASE}ServerActive=zbx1:20051;[::1],zbx2\nHostname=h1, h2\nTimeout=7\nBufferSize=1K\n\
         Server=10.0.0.0/8,::ffff:192.0.2.1,zabbix.example.com\nUserParameter=u[*],echo $1\n\
         EnableRemoteCommands=1\nDenyKey=vfs.*\nLoadModule=x.so\nListenIP=127.0.0.1,::1\n"
    );
    let cfg = config::parse_str(&text, Path::new("mem.conf")).unwrap();
    assert_eq!(cfg.server_active.len(), 2);
    assert_eq!(
        cfg.server_active[0].nodes,
        vec![
            ActiveAddr {
                host: "zbx1".into(),
                port: 20051
            },
            ActiveAddr {
                host: "::1".into(),
                port: 10051
            }
        ]
    );
    assert_eq!(
        cfg.server_active[1].nodes,
        vec![ActiveAddr {
            host: "zbx2".into(),
            port: 10051
        }]
    );
    assert_eq!(cfg.hostnames, vec!["h1", "h2"]);
    assert!(cfg.hostname_set);
    assert_eq!(cfg.timeout, Duration::from_secs(7));
    assert_eq!(cfg.buffer_size, 1024);
    assert_eq!(
        cfg.server,
        vec![
            ServerPeer::Net("10.0.0.0/8".parse().unwrap()),
            ServerPeer::Net("192.0.2.1/32".parse().unwrap()),
            ServerPeer::Name("zabbix.example.com".into()),
        ]
    );
    assert!(cfg.server[1].admits("::ffff:192.0.2.1".parse().unwrap()));
    assert_eq!(cfg.user_parameters[0].key, "u");
    assert!(cfg.user_parameters[0].flexible);
    assert_eq!(cfg.user_parameters[0].command, "echo $1");
    let rules: Vec<(bool, &str, usize)> = cfg
        .key_rules
        .iter()
        .map(|r| (r.allow, r.pattern.as_str(), r.origin.line))
        .collect();
    assert_eq!(
        rules,
        vec![(true, "system.run[*]", 9), (false, "vfs.*", 10)]
    );
    assert!(cfg
        .warnings
        .iter()
        .any(|(w, o)| w.contains("EnableRemoteCommands") && o.line == 9));
    assert_eq!(
        cfg.unsupported
            .iter()
            .map(|(n, o)| (n.as_str(), o.line))
            .collect::<Vec<_>>(),
        vec![("LoadModule", 11)]
    );
    assert_eq!(
        cfg.listen_ip,
        vec![
            IpAddr::from([127, 0, 0, 1]),
            "::1".parse::<IpAddr>().unwrap()
        ]
    );
    assert!(cfg.listen_ip_set);
    assert_eq!(cfg.refresh_active_checks, Duration::from_secs(120));
    assert_eq!(cfg.heartbeat_frequency, Duration::from_secs(60));
}

#[test]
fn a_file_without_listen_ip_listens_everywhere() {
    let cfg = config::parse_str(BASE, Path::new("m.conf")).unwrap();
    assert_eq!(
        cfg.listen_ip,
        vec!["0.0.0.0".parse::<IpAddr>().unwrap(), "::".parse().unwrap()]
    );
    assert!(!cfg.listen_ip_set);
    assert_eq!(cfg.log_type, LogType::Console);
}

#[test]
fn other_hostname_item_is_left_to_the_agent() {
    let cfg = config::parse_str(
        &format!("{BASE}HostnameItem=system.hostname[shorthost]\n"),
        Path::new("m"),
    )
    .unwrap();
    assert!(cfg.hostnames.is_empty());
    assert!(!cfg.hostname_set);
    assert_eq!(cfg.hostname_item, "system.hostname[shorthost]");
    let mut cfg = cfg;
    config::set_hostnames_from_item(&mut cfg, " a , b", &Default::default()).unwrap();
    assert_eq!(cfg.hostnames, vec!["a", "b"]);
    assert!(config::set_hostnames_from_item(&mut cfg, "a$b", &Default::default()).is_err());
}

#[test]
fn all_errors_reported_together_with_file_and_line() {
    let text = format!("{BASE}Timeout=0\nFoo=1\nno equals\nListenPort=80\nHostname=a,a\n");
    let errs = errors_of(config::parse_str(&text, Path::new("m.conf")));
    assert_eq!(errs.len(), 5, "{errs:#?}");
    assert!(
        errs[0].starts_with("m.conf:3: wrong value of \"Timeout\""),
        "{}",
        errs[0]
    );
    assert!(
        errs[1].starts_with("m.conf:4: unknown parameter \"Foo\""),
        "{}",
        errs[1]
    );
    assert!(
        errs[2].starts_with("m.conf:5: invalid entry \"no equals\""),
        "{}",
        errs[2]
    );
    assert!(
        errs[3].starts_with("m.conf:6: wrong value of \"ListenPort\""),
        "{}",
        errs[3]
    );
    assert!(errs[4].starts_with(
        "m.conf:7: error parsing the \"Hostname\" parameter: host \"a\" specified more than once"
    ));
    // Display of the whole set: one error per line.
    let e = config::parse_str(&text, Path::new("m.conf")).unwrap_err();
    assert_eq!(e.to_string().lines().count(), 5);
}

#[test]
fn duplicate_user_parameter_names_both_lines() {
    let text = format!("{BASE}UserParameter=k,echo 1\nUserParameter=k[*],echo 2\n");
    let errs = errors_of(config::parse_str(&text, Path::new("m.conf")));
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("m.conf:4: cannot load user parameters: user parameter \"k[*],echo 2\": key \"k\" already exists (first defined at m.conf:3)"), "{}", errs[0]);
}

#[test]
fn user_parameter_for_a_zagent_only_key_is_accepted() {
    // The seed's line: tcp.status is built into zagent but not into zabbix_agentd.
    let text = format!(
        "{BASE}UserParameter=tcp.status[*],/etc/zabbix/zabbix_agentd.d/tcp_status.sh \"$1\"\n"
    );
    let cfg = config::parse_str(&text, Path::new("m")).unwrap();
    assert_eq!(cfg.user_parameters[0].key, "tcp.status");
    assert_eq!(
        cfg.user_parameters[0].command,
        "/etc/zabbix/zabbix_agentd.d/tcp_status.sh \"$1\""
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

fn keys(cfg: &config::Config) -> Vec<String> {
    cfg.user_parameters.iter().map(|u| u.key.clone()).collect()
}

#[test]
fn include_file_directory_and_glob_in_sorted_order() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    write(root, "one.conf", "UserParameter=one,echo 1\n");
    write(root, "d/b.conf", "UserParameter=d.b,echo\n");
    write(root, "d/a.conf", "UserParameter=d.a,echo\n");
    write(root, "d/.hidden", "UserParameter=d.hidden,echo\n");
    write(root, "g/x.conf", "UserParameter=g.x,echo\n");
    write(root, "g/x.conf.bak", "UserParameter=g.bak,echo\n");
    std::fs::create_dir_all(root.join("g/sub.conf")).unwrap();
    let main = format!(
        "{BASE}Include={r}/one.conf\nInclude={r}/d\nInclude={r}/g/*.conf\nInclude={r}/g/*.nomatch\n",
        r = root.display()
    );
    let cfg = config::parse_str(&main, Path::new("main.conf")).unwrap();
    assert_eq!(keys(&cfg), vec!["one", "d.hidden", "d.a", "d.b", "g.x"]);
    assert_eq!(cfg.user_parameters[1].origin.file, root.join("d/.hidden"));
    assert_eq!(cfg.user_parameters[4].origin.line, 1);
}

#[test]
fn include_nesting_limit_is_ten_files() {
    let d = tempfile::tempdir().unwrap();
    // main (1) -> f1 (2) -> ... -> f9 (10): accepted; one more level is refused.
    for n in 1..=10 {
        write(
            d.path(),
            &format!("f{n}.conf"),
            &format!(
                "Include={}/f{}.conf\nUserParameter=k{n},echo\n",
                d.path().display(),
                n + 1
            ),
        );
    }
    write(d.path(), "f10.conf", "UserParameter=k10,echo\n");
    write(d.path(), "f11.conf", "UserParameter=k11,echo\n");
    let main = write(
        d.path(),
        "main.conf",
        &format!("{BASE}Include={}/f2.conf\n", d.path().display()),
    );
    let cfg = config::load(&main).unwrap();
    assert_eq!(keys(&cfg).len(), 9);
    let main = write(
        d.path(),
        "main.conf",
        &format!("{BASE}Include={}/f1.conf\n", d.path().display()),
    );
    let errs = errors_of(config::load(&main));
    assert_eq!(errs.len(), 1, "{errs:?}");
    // As zabbix: main -> f1 -> ... -> f9 is ten files; f9's Include of f10 is refused.
    assert!(
        errs[0].starts_with(&format!(
            "{}:1: Recursion detected! Skipped processing of '{}/f10.conf'",
            d.path().join("f9.conf").display(),
            d.path().display()
        )),
        "{}",
        errs[0]
    );
}

#[test]
fn include_cycle_is_reported_at_the_closing_include() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a.conf");
    let b = d.path().join("b.conf");
    write(
        d.path(),
        "a.conf",
        &format!("{BASE}Include={}\n", b.display()),
    );
    write(
        d.path(),
        "b.conf",
        &format!("# b\nInclude={}\n", a.display()),
    );
    let errs = errors_of(config::load(&a));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with(&format!("{}:2: Recursion detected!", b.display())),
        "{}",
        errs[0]
    );
    assert!(errs[0].contains("includes itself"));
}

#[test]
fn missing_include_and_missing_file() {
    let d = tempfile::tempdir().unwrap();
    let text = format!(
        "{BASE}Include={}/nope.conf\nInclude={}/nodir/*.conf\n",
        d.path().display(),
        d.path().display()
    );
    let errs = errors_of(config::parse_str(&text, Path::new("m.conf")));
    assert_eq!(
        errs,
        vec![
            format!(
                "m.conf:3: {}/nope.conf: [2] No such file or directory",
                d.path().display()
            ),
            format!(
                "m.conf:4: {}/nodir: [2] No such file or directory",
                d.path().display()
            ),
        ]
    );
    let errs = errors_of(config::load(&d.path().join("absent.conf")));
    assert_eq!(
        errs,
        vec![format!(
            "{p}: cannot open config file \"{p}\": [2] No such file or directory",
            p = d.path().join("absent.conf").display()
        )]
    );
}

#[test]
fn line_numbers_across_included_files() {
    let d = tempfile::tempdir().unwrap();
    let inc = write(d.path(), "inc.conf", "# comment\n\nBadName=1\nTimeout=99\n");
    let main = write(
        d.path(),
        "main.conf",
        &format!("{BASE}Include={}\nFoo=2\n", inc.display()),
    );
    let errs = errors_of(config::load(&main));
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(errs.iter().any(|e| e.starts_with(&format!(
        "{}:3: unknown parameter \"BadName\"",
        inc.display()
    ))));
    assert!(errs
        .iter()
        .any(|e| e.starts_with(&format!("{}:4: wrong value of \"Timeout\"", inc.display()))));
    assert!(errs
        .iter()
        .any(|e| e.starts_with(&format!("{}:4: unknown parameter \"Foo\"", main.display()))));
}

#[test]
fn read_user_parameters_for_reload() {
    let d = tempfile::tempdir().unwrap();
    let inc = write(d.path(), "u.conf", "UserParameter=b,echo b\n");
    let main = write(
        d.path(),
        "main.conf",
        &format!("{BASE}UserParameter=a[*],echo $1\nInclude={}\nUserParameterDir=/tmp\nUnsafeUserParameters=1\nNotADirective=ignored on reload\n", inc.display()),
    );
    let (ups, dir, unsafe_params) = config::read_user_parameters(&main).unwrap();
    assert_eq!(
        ups.iter().map(|u| u.key.as_str()).collect::<Vec<_>>(),
        vec!["a", "b"]
    );
    assert_eq!(dir, Some(PathBuf::from("/tmp")));
    assert!(unsafe_params);
    write(d.path(), "u.conf", "UserParameter=a,echo again\n");
    let e = config::read_user_parameters(&main).unwrap_err();
    assert!(e.to_string().contains("key \"a\" already exists"), "{e}");
}

#[test]
fn check_config_exit_codes() {
    let d = tempfile::tempdir().unwrap();
    let good = write(d.path(), "good.conf", &format!("{BASE}AllowRoot=1\n"));
    let bad = write(d.path(), "bad.conf", "Timeout=0\n");
    assert_eq!(
        zagent::cli::check_config::run(Some(&good)),
        std::process::ExitCode::SUCCESS
    );
    assert_eq!(
        zagent::cli::check_config::run(Some(&bad)),
        std::process::ExitCode::FAILURE
    );
    assert_eq!(
        zagent::cli::check_config::run(None),
        std::process::ExitCode::SUCCESS
    );
}

#[test]
fn run_user_must_exist_when_root_without_allow_root() {
    let mut cfg = config::parse_str(
        &format!("{BASE}User=zagent-no-such-user\n"),
        Path::new("m.conf"),
    )
    .unwrap();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    assert_eq!(config::check_run_user(&cfg).is_err(), root);
    cfg.allow_root = true;
    assert!(config::check_run_user(&cfg).is_ok());
}

/// `check-config` performs all of `zagent run`'s start-up checks, not only the file's:
/// TLS files are read, and unusable key rules are refused.
#[test]
fn check_config_reads_tls_files_like_run() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("tls.conf");
    let missing = dir.path().join("missing.psk");
    std::fs::write(
        &conf,
        format!(
            "Server=127.0.0.1\nTLSAccept=psk\nTLSPSKIdentity=zt\nTLSPSKFile={}\n",
            missing.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zagent"))
        .args(["check-config", "-c"])
        .arg(&conf)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.psk"), "{err}");

    std::fs::write(&missing, "1f87b595725ac58dd977beef14b97461\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zagent"))
        .args(["check-config", "-c"])
        .arg(&conf)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn persistent_buffer_directives_like_agent2() {
    // Off by default; on with a file, default period 1h, agent2's time suffixes.
    assert_eq!(config::defaults().persistent_buffer, None);
    let on = format!("{BASE}EnablePersistentBuffer=1\nPersistentBufferFile=/var/lib/z/b.db\n");
    let pb = config::parse_str(&on, Path::new("m.conf"))
        .unwrap()
        .persistent_buffer
        .unwrap();
    assert_eq!(pb.file, PathBuf::from("/var/lib/z/b.db"));
    assert_eq!(pb.period, Duration::from_secs(3600));
    assert_eq!(
        (pb.origin.line, pb.origin.file.to_str()),
        (4, Some("m.conf"))
    );
    for (v, secs) in [
        ("60", 60),
        ("1m", 60),
        ("25h", 90_000),
        ("2w", 1_209_600),
        ("365d", 31_536_000),
    ] {
        let text = format!("{on}PersistentBufferPeriod={v}\n");
        let cfg = config::parse_str(&text, Path::new("m.conf")).unwrap();
        assert_eq!(cfg.persistent_buffer.unwrap().period.as_secs(), secs, "{v}");
    }
    // Disabled explicitly: no buffer, and no file may be named.
    let off = format!("{BASE}EnablePersistentBuffer=0\n");
    assert_eq!(
        config::parse_str(&off, Path::new("m.conf"))
            .unwrap()
            .persistent_buffer,
        None
    );

    // agent2's ranges and its two start-up errors, each at its line.
    let cases = [
        ("EnablePersistentBuffer=2\n", "m.conf:3: wrong value of \"EnablePersistentBuffer\""),
        ("PersistentBufferPeriod=59\n", "m.conf:3: wrong value of \"PersistentBufferPeriod\": 59 seconds is outside 60-31536000"),
        ("PersistentBufferPeriod=366d\n", "m.conf:3: wrong value of \"PersistentBufferPeriod\""),
        ("PersistentBufferPeriod=1M\n", "m.conf:3: wrong value of \"PersistentBufferPeriod\": \"1M\" is not a time"),
        (
            "EnablePersistentBuffer=1\n",
            "m.conf:3: \"EnablePersistentBuffer\" parameter misconfiguration: \"PersistentBufferFile\" parameter is not set",
        ),
        (
            "EnablePersistentBuffer=1\nPersistentBufferFile=\n",
            "m.conf:3: \"EnablePersistentBuffer\" parameter misconfiguration",
        ),
        (
            "PersistentBufferFile=/tmp/b.db\n",
            "m.conf:3: \"PersistentBufferFile\" parameter is not empty but \"EnablePersistentBuffer\" is not set",
        ),
    ];
    for (lines, want) in cases {
        let errs = errors_of(config::parse_str(
            &format!("{BASE}{lines}"),
            Path::new("m.conf"),
        ));
        assert_eq!(errs.len(), 1, "{lines}: {errs:?}");
        assert!(errs[0].starts_with(want), "{lines}: {}", errs[0]);
    }
}

#[test]
fn check_config_validates_the_persistent_buffer_directives() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.conf");
    std::fs::write(
        &path,
        format!("{BASE}EnablePersistentBuffer=1\nPersistentBufferPeriod=10s\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zagent"))
        .arg("check-config")
        .arg("-c")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    let file = path.display();
    assert!(
        text.contains(&format!(
            "{file}:3: \"EnablePersistentBuffer\" parameter misconfiguration"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{file}:4: wrong value of \"PersistentBufferPeriod\""
        )),
        "{text}"
    );

    // A good file whose buffer directory is missing: its line, and nothing is created.
    let missing = dir.path().join("no-such-dir").join("b.db");
    std::fs::write(
        &path,
        format!(
            "{BASE}EnablePersistentBuffer=1\nPersistentBufferFile={}\n",
            missing.display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zagent"))
        .args(["check-config", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "{file}:4: cannot create the persistent buffer file"
        )),
        "{text}"
    );
    let ok = dir.path().join("b.db");
    std::fs::write(
        &path,
        format!(
            "{BASE}EnablePersistentBuffer=1\nPersistentBufferFile={}\n",
            ok.display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zagent"))
        .args(["check-config", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(!ok.exists(), "check-config must not create the file");
}
