//! `zagent send` against the REAL Zabbix 6.0 trapper of `tests/interop/zabbix-lab`:
//! single values, files with timestamps and nanoseconds, more than 250 values, `-c`,
//! and the exit codes and report lines of zabbix_sender.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "interop/lab.rs"]
mod lab;

use lab::Lab;
use zagent::cli::send::{run_with, Io, SendArgs};

fn send(args: SendArgs) -> (u8, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = run_with(
        args,
        &mut Io {
            out: &mut out,
            err: &mut err,
        },
    )
    .unwrap();
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn to_lab(lab: &Lab) -> SendArgs {
    SendArgs {
        zabbix_server: Some("127.0.0.1".into()),
        port: Some(lab.port),
        timeout: 10,
        ..SendArgs::default()
    }
}

/// `Response from "127.0.0.1:10051": "processed: P; failed: F; total: T; seconds spent: S"`
fn assert_response(line: &str, port: u16, processed: u32, failed: u32) {
    let prefix = format!(
        "Response from \"127.0.0.1:{port}\": \"processed: {processed}; failed: {failed}; total: {}; seconds spent: ",
        processed + failed
    );
    assert!(
        line.starts_with(&prefix),
        "{line:?} does not start with {prefix:?}"
    );
    let secs = line[prefix.len()..].trim_end_matches('"');
    let (int, frac) = secs.split_once('.').unwrap();
    assert!(int.parse::<u32>().is_ok() && frac.len() == 6, "{secs:?}");
}

fn wait_values(lab: &Lab, host: &str, key: &str, n: usize) -> Vec<(i64, u32, String)> {
    assert!(lab.wait(host, key, n, 10), "{key}: fewer than {n} values");
    lab.history(host, key)
}

#[test]
fn single_value_lands_on_a_trapper_item() {
    let lab = Lab::shared();
    let host = "zt-send-single";
    lab.fresh_trapper_host(host, &["trap.num::uint", "trap.text"]);
    let (code, out, err) = send(SendArgs {
        host: Some(host.into()),
        key: Some("trap.text".into()),
        value: Some("hello \"trapper\" ünïcode".into()),
        ..to_lab(&lab)
    });
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_response(lines[0], lab.port, 1, 0);
    assert_eq!(lines[1], "sent: 1; skipped: 0; total: 1");
    let h = wait_values(&lab, host, "trap.text", 1);
    assert_eq!(h[0].2, "hello \"trapper\" ünïcode");

    // An unknown key: processed 0, failed 1, exit 2 as zabbix_sender.
    let (code, out, _) = send(SendArgs {
        host: Some(host.into()),
        key: Some("trap.nosuch".into()),
        value: Some("1".into()),
        ..to_lab(&lab)
    });
    assert_eq!(code, 2);
    assert_response(out.lines().next().unwrap(), lab.port, 0, 1);
    lab.run_ok(&["reset", host]).unwrap();
}

#[test]
fn file_with_timestamps_and_ns() {
    let lab = Lab::shared();
    let host = "zt-send-file";
    lab.fresh_trapper_host(host, &["trap.num::uint", "trap.text"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.txt");
    std::fs::write(
        &file,
        format!(
            "{host} trap.num 1795267000 10\n- trap.num 1795267001 11\n\"{host}\" trap.text 1795267002 \"two \\\"words\\\"\"\n{host} trap.nosuch 1795267003 1\n"
        ),
    )
    .unwrap();
    let (code, out, err) = send(SendArgs {
        host: Some(host.into()),
        input_file: Some(file.display().to_string()),
        with_timestamps: true,
        ..to_lab(&lab)
    });
    assert_eq!(code, 2, "one key does not exist: {out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_response(lines[0], lab.port, 3, 1);
    assert_eq!(lines[1], "sent: 4; skipped: 0; total: 4");
    // Without -N the server numbers the nanoseconds itself: compare clock and value.
    let cv = |h: Vec<(i64, u32, String)>| -> Vec<(i64, String)> {
        h.into_iter().map(|(c, _, v)| (c, v)).collect()
    };
    assert_eq!(
        cv(wait_values(&lab, host, "trap.num", 2)),
        vec![(1795267000, "10".into()), (1795267001, "11".into())]
    );
    assert_eq!(
        cv(wait_values(&lab, host, "trap.text", 1)),
        vec![(1795267002, "two \"words\"".into())]
    );

    // -T -N: nanoseconds are kept.
    std::fs::write(&file, format!("{host} trap.num 1795267100 123456789 42\n")).unwrap();
    let (code, out, _) = send(SendArgs {
        input_file: Some(file.display().to_string()),
        with_timestamps: true,
        with_ns: true,
        ..to_lab(&lab)
    });
    assert_eq!(code, 0, "{out}");
    let nums = wait_values(&lab, host, "trap.num", 3);
    assert_eq!(nums[2], (1795267100, 123456789, "42".into()));

    // -r: every value is sent as soon as it is read (one connection each).
    std::fs::write(
        &file,
        format!("{host} trap.num 1795267300 1\n{host} trap.num 1795267301 2\n"),
    )
    .unwrap();
    let (code, out, _) = send(SendArgs {
        input_file: Some(file.display().to_string()),
        with_timestamps: true,
        real_time: true,
        ..to_lab(&lab)
    });
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_response(lines[0], lab.port, 1, 0);
    assert_response(lines[1], lab.port, 1, 0);
    assert_eq!(lines[2], "sent: 2; skipped: 0; total: 2");
    assert_eq!(wait_values(&lab, host, "trap.num", 5).len(), 5);

    // A bad line stops the run before anything of its batch is sent.
    std::fs::write(
        &file,
        format!("{host} trap.num 1795267200 1\n{host} trap.num\n"),
    )
    .unwrap();
    let (code, out, err) = send(SendArgs {
        input_file: Some(file.display().to_string()),
        with_timestamps: true,
        ..to_lab(&lab)
    });
    assert_eq!(code, 1);
    assert!(
        err.contains("ERROR: [line 2] 'Timestamp' required"),
        "{err}"
    );
    assert_eq!(
        out,
        "Sending failed. Use option -vv for more detailed output.\n"
    );
    lab.run_ok(&["reset", host]).unwrap();
}

#[test]
fn more_than_250_values_go_in_several_connections() {
    let lab = Lab::shared();
    let host = "zt-send-many";
    lab.fresh_trapper_host(host, &["trap.num::uint"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("many.txt");
    let text: String = (0..300)
        .map(|i| format!("{host} trap.num {} {i}\n", 1795260000 + i))
        .collect();
    std::fs::write(&file, text).unwrap();
    let (code, out, _) = send(SendArgs {
        input_file: Some(file.display().to_string()),
        with_timestamps: true,
        ..to_lab(&lab)
    });
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_response(lines[0], lab.port, 250, 0);
    assert_response(lines[1], lab.port, 50, 0);
    assert_eq!(lines[2], "sent: 300; skipped: 0; total: 300");
    let h = wait_values(&lab, host, "trap.num", 300);
    assert_eq!(h.len(), 300);
    assert!(h
        .iter()
        .enumerate()
        .all(|(i, (c, _, v))| *c == 1795260000 + i as i64 && *v == i.to_string()));
    lab.run_ok(&["reset", host]).unwrap();
}

#[test]
fn config_file_gives_server_and_hostname() {
    let lab = Lab::shared();
    let host = "zt-send-config";
    lab.fresh_trapper_host(host, &["trap.num::uint"]);
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("agent.conf");
    std::fs::write(
        &conf,
        format!("ServerActive=127.0.0.1:{}\nHostname={host}\n", lab.port),
    )
    .unwrap();
    let (code, out, err) = send(SendArgs {
        config: Some(conf.clone()),
        key: Some("trap.num".into()),
        value: Some("7".into()),
        timeout: 10,
        ..SendArgs::default()
    });
    assert_eq!(code, 0, "{out}{err}");
    assert_response(out.lines().next().unwrap(), lab.port, 1, 0);
    assert_eq!(wait_values(&lab, host, "trap.num", 1)[0].2, "7");

    // Like zabbix_sender 6.0: every ServerActive entry gets the values (HA nodes in
    // order); an entry that cannot be reached makes the exit code 2.
    let dead1 = lab::free_port();
    let dead2 = (0..50)
        .map(|_| lab::free_port())
        .find(|p| *p != dead1)
        .unwrap();
    std::fs::write(
        &conf,
        format!(
            "ServerActive=127.0.0.1:{dead1};127.0.0.1:{},127.0.0.1:{dead2}\nHostname={host}\n",
            lab.port
        ),
    )
    .unwrap();
    let (code, out, err) = send(SendArgs {
        config: Some(conf),
        key: Some("trap.num".into()),
        value: Some("8".into()),
        timeout: 3,
        ..SendArgs::default()
    });
    assert_eq!(code, 2, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_response(lines[0], lab.port, 1, 0);
    assert_eq!(lines[1], "sent: 1; skipped: 0; total: 1");
    let values: Vec<String> = wait_values(&lab, host, "trap.num", 2)
        .into_iter()
        .map(|h| h.2)
        .collect();
    assert_eq!(values, vec!["7", "8"]);
    lab.run_ok(&["reset", host]).unwrap();
}

#[test]
fn unreachable_server_and_bad_options_exit_1() {
    let port = lab::free_port();
    let (code, out, _) = send(SendArgs {
        zabbix_server: Some("127.0.0.1".into()),
        port: Some(port),
        host: Some("h".into()),
        key: Some("k".into()),
        value: Some("v".into()),
        timeout: 2,
        ..SendArgs::default()
    });
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "Sending failed. Use option -vv for more detailed output.\n"
    );
    let (code, _, err) = send(SendArgs {
        zabbix_server: Some("127.0.0.1".into()),
        key: Some("k".into()),
        value: Some("v".into()),
        ..SendArgs::default()
    });
    assert_eq!(code, 1);
    assert!(
        err.ends_with("too few or mutually exclusive options used\n"),
        "{err}"
    );
    // -c without Hostname and no -s: a warning (with -v) and "Sending failed".
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nohost.conf");
    std::fs::write(&conf, "ServerActive=127.0.0.1:10051\n").unwrap();
    let (code, out, err) = send(SendArgs {
        config: Some(conf),
        key: Some("k".into()),
        value: Some("v".into()),
        verbose: 1,
        ..SendArgs::default()
    });
    assert_eq!(code, 1);
    assert!(
        err.ends_with("Warning: 'Hostname' parameter required\n"),
        "{err}"
    );
    assert_eq!(
        out,
        "Sending failed. Use option -vv for more detailed output.\n"
    );
}

#[test]
fn tls_options_are_checked_like_zabbix_sender() {
    let (code, out, err) = send(SendArgs {
        zabbix_server: Some("127.0.0.1".into()),
        host: Some("h".into()),
        key: Some("k".into()),
        value: Some("v".into()),
        tls: zagent::tls::args::TlsArgs {
            tls_connect: Some("psk".into()),
            ..Default::default()
        },
        ..SendArgs::default()
    });
    assert_eq!(code, 1, "{out}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("\"TLSConnect\" or \"--tls-connect\" value requires \"TLSPSKFile\" or \"--tls-psk-file\""),
        "{err}"
    );
}

/// docs/COMPATIBILITY.md's rule for bytes that are not UTF-8 (src/text.rs) is what the
/// real server stores: raw bytes sent by the real zabbix_sender land as
/// `zagent::text::zbx_utf8` of them (one `?` per invalid sequence), so zagent's replaced
/// plain values equal what the server keeps of zabbix_agentd's raw ones.
#[test]
fn server_stores_invalid_utf8_as_zagent_answers_it() {
    use std::os::unix::ffi::OsStrExt;
    let lab = Lab::shared();
    let host = "zt-send-utf8";
    lab.fresh_trapper_host(host, &["trap.text"]);
    let values: [&[u8]; 8] = [
        b"a\xe2\x82b",
        b"c\x80\x80d",
        b"e\xed\xa0\x80f",
        b"g\xc3A",
        b"h\xc0\x80i",
        b"j\xf5\x80\x80\x80k",
        b"l\xfe\xffm",
        b"n\xc3\xa9\xe2\x82\xaco",
    ];
    for v in values {
        let out = std::process::Command::new("zabbix_sender")
            .args(["-z", "127.0.0.1", "-p", &lab.port.to_string(), "-s", host])
            .args(["-k", "trap.text", "-o"])
            .arg(std::ffi::OsStr::from_bytes(v))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let stored: Vec<String> = wait_values(&lab, host, "trap.text", values.len())
        .into_iter()
        .map(|(_, _, v)| v)
        .collect();
    let ours: Vec<String> = values.iter().map(|v| zagent::text::zbx_utf8(v)).collect();
    assert_eq!(stored, ours);
    assert_eq!(ours[1], "c??d");
}
