//! Reliability end to end (issue 12): what one allowed peer, a hostile file or a lying
//! server can make `zagent run` hold — memory, threads, connection slots — and the answers
//! it gives meanwhile, checked against the real zabbix_agentd where it answers at all.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod util;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use util::*;

/// A field of /proc/PID/status in KiB (`VmHWM`, `VmRSS`, `Threads`).
fn status(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// One passive request (plain key) and its payload after the header.
fn ask(port: u16, key: &str, limit: Duration) -> (Duration, String) {
    let t0 = Instant::now();
    let out = raw_exchange(port, &frame(key.as_bytes()), limit).unwrap();
    let shown: String = key.chars().take(80).collect();
    assert!(out.len() >= 13, "short reply {out:?} to {shown}");
    (
        t0.elapsed(),
        String::from_utf8_lossy(&out[13..]).replace('\0', "|"),
    )
}

/// The value `zabbix_agentd -t KEY` (the real 6.0 agent) prints, and zagent's for the
/// same key through `zagent test`, with the same Timeout.
fn both_test(key: &str, dir: &Path) -> (String, String) {
    let conf = dir.join("agentd.conf");
    std::fs::write(&conf, "LogType=console\nTimeout=3\n").unwrap();
    let run = |cmd: &mut Command| {
        let o = cmd.output().unwrap();
        let s = String::from_utf8_lossy(&o.stdout).into_owned();
        let i = s
            .find(" [")
            .unwrap_or_else(|| panic!("no value in {s:?} for {key}"));
        s[i..].trim().to_string()
    };
    (
        run(Command::new("zabbix_agentd")
            .arg("-c")
            .arg(&conf)
            .args(["-t", key])),
        run(Command::new(zagent_bin())
            .args(["test", "-c"])
            .arg(&conf)
            .arg(key)),
    )
}

#[test]
fn regexp_of_dev_zero_answers_timeout_with_bounded_memory() {
    let agent = start_zagent("Server=127.0.0.1\nAllowRoot=1\nTimeout=2\n");
    let pid = agent.child.id();
    let (_, warm) = ask(
        agent.port,
        "vfs.file.regmatch[/etc/passwd,root]",
        Duration::from_secs(5),
    );
    assert_eq!(warm, "1");
    let before = status(pid, "VmHWM");
    for key in [
        "vfs.file.regexp[/dev/zero,x]",
        "vfs.file.regmatch[/dev/zero,x]",
        "vfs.file.cksum[/dev/zero]",
        "vfs.file.size[/dev/zero,lines]",
    ] {
        let (took, answer) = ask(agent.port, key, Duration::from_secs(10));
        assert_eq!(
            answer, "ZBX_NOTSUPPORTED|Timeout while processing item.",
            "{key}"
        );
        assert!(took < Duration::from_secs(5), "{key} took {took:?}");
    }
    // A 256 MiB sparse file: 4096 lines of 64 KiB zeros, no match.
    let sparse = agent.path("sparse");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(256 << 20)
        .unwrap();
    let (_, answer) = ask(
        agent.port,
        &format!("vfs.file.regmatch[{},x]", sparse.display()),
        Duration::from_secs(10),
    );
    assert!(
        answer == "0" || answer == "ZBX_NOTSUPPORTED|Timeout while processing item.",
        "{answer}"
    );
    let grown = status(pid, "VmHWM").saturating_sub(before);
    assert!(grown < 16 * 1024, "peak RSS grew by {grown} KiB");
    // The timed-out checks stopped their work: the same file answers again at once.
    let (took, answer) = ask(
        agent.port,
        "vfs.file.regexp[/dev/zero,x,,1,1]",
        Duration::from_secs(10),
    );
    assert_eq!(answer, "", "{took:?}");
}

#[test]
fn lines_split_and_cut_like_zabbix_agentd() {
    let dir = tempfile::tempdir().unwrap();
    let mut long = vec![b'x'; 70_000];
    long.extend_from_slice(b"END\n");
    long.extend(std::iter::repeat(b'y').take(65_535));
    long.extend_from_slice(b"\rZ\n");
    let files: &[(&str, &[u8])] = &[
        ("cr", b"a\rb\r\nc\nd"),
        ("cr2", b"a\r\r\nb\n\n\nc\r\n"),
        ("edge", &[&[b'q'; 65_535][..], b"\r\nW\n"].concat()),
        ("long", &long),
        ("utf16", b"a\0\r\0b\0\r\0\n\0c\0"),
    ];
    let mut keys = Vec::new();
    for (name, data) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, data).unwrap();
        let p = path.display();
        let enc = if *name == "utf16" { "UTF-16LE" } else { "" };
        for n in 1..=6 {
            keys.push(format!(
                "vfs.file.regexp[{p},\"^(.{{0,12}}).*?(.{{0,4}})$\",{enc},{n},{n},<\\1|\\2>]"
            ));
        }
        keys.push(format!("vfs.file.regmatch[{p},^x{{65535}}x$,{enc}]"));
        keys.push(format!("vfs.file.regmatch[{p},^x{{4464}}END$,{enc}]"));
    }
    for key in keys {
        let (official, ours) = both_test(&key, dir.path());
        assert_eq!(ours, official, "{key}");
    }
}

#[test]
fn zagent_test_stops_at_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let (official, ours) = both_test("vfs.file.md5sum[/dev/zero]", dir.path());
    assert_eq!(ours, official);
    assert_eq!(
        ours,
        "[m|ZBX_NOTSUPPORTED] [Timeout while processing item.]"
    );
    // Both ran to their 3 s Timeout, neither much past it.
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
}

/// Makes a FIFO at `path` and opens it for reading and for writing (a writer that never
/// writes), without blocking; the descriptors keep it that way while held.
fn silent_fifo(path: &Path) -> (std::fs::File, std::fs::File) {
    use std::os::unix::fs::OpenOptionsExt;
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
    let open = |write: bool| {
        std::fs::OpenOptions::new()
            .read(!write)
            .write(write)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .unwrap()
    };
    let r = open(false);
    (r, open(true))
}

#[test]
fn a_silent_fifo_holds_two_threads_and_other_keys_keep_answering() {
    let agent = start_zagent("Server=127.0.0.1\nAllowRoot=1\nTimeout=3\n");
    let pid = agent.child.id();
    let fifo = agent.path("fifo");
    let _ends = silent_fifo(&fifo);
    let port = agent.port;
    let dir = agent.dir.path().display().to_string();
    let askers: Vec<_> = (0..600)
        .map(|i| {
            // Half of them spell the path differently: the limit is per object.
            let path = if i % 2 == 0 {
                format!("{dir}/fifo")
            } else {
                format!("{dir}//./fifo")
            };
            std::thread::spawn(move || {
                ask(
                    port,
                    &format!("vfs.file.cksum[{path}]"),
                    Duration::from_secs(30),
                )
                .1
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let threads = status(pid, "Threads");
    let (took, size) = ask(port, "vfs.file.size[/etc/passwd]", Duration::from_secs(10));
    let want = std::fs::metadata("/etc/passwd").unwrap().len().to_string();
    assert_eq!(size, want);
    assert!(took < Duration::from_secs(2), "{took:?}");
    let answers: Vec<String> = askers.into_iter().map(|t| t.join().unwrap()).collect();
    let timeouts = answers
        .iter()
        .filter(|a| *a == "ZBX_NOTSUPPORTED|Timeout while processing item.")
        .count();
    let busy = answers
        .iter()
        .filter(|a| a.contains("earlier checks of this object are still waiting"))
        .count();
    assert_eq!(timeouts + busy, 600, "{:?}", &answers[..3]);
    assert!(timeouts <= 2 * 10, "{timeouts} checks waited on the FIFO");
    // Refusals run briefly on the blocking pool too; what stays bounded is the file
    // checks' share of it (128), far from the 512 the other keys need (main: 271).
    assert!(
        threads < 150,
        "{threads} threads while 600 checks of one FIFO ran"
    );
    // Nothing stays stuck: the FIFO is checked again (and times out) like the first time.
    let (_, again) = ask(
        port,
        &format!("vfs.file.cksum[{dir}/fifo]"),
        Duration::from_secs(10),
    );
    assert_eq!(again, "ZBX_NOTSUPPORTED|Timeout while processing item.");
}

#[test]
fn unframed_request_of_the_seed_is_answered_on_both_paths() {
    let agent = start_zagent("Server=127.0.0.1\nAllowRoot=1\nTimeout=3\n");
    let port = agent.port;
    // The seed's exact bytes: "sends agent.ping\n", the agent answers <HEADER><DATALEN>1.
    let got = raw_exchange(port, b"agent.ping\n", Duration::from_secs(5)).unwrap();
    assert_eq!(got, frame(b"1"));
    // A blocking key (async path), CR LF, and bytes after the LF ignored.
    let got = raw_exchange(
        port,
        b"vfs.file.size[/etc/passwd]\r\nrest",
        Duration::from_secs(5),
    )
    .unwrap();
    let size = std::fs::metadata("/etc/passwd").unwrap().len().to_string();
    assert_eq!(got, frame(size.as_bytes()));
    // Sent in pieces: the async path reads on to the LF.
    {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"agent.").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        s.write_all(b"ping\n").unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        assert_eq!(out, frame(b"1"));
    }
    // The same limits: more than 1 MiB without an LF is closed without a reply.
    let long = vec![b'a'; (1 << 20) + 10];
    let got = raw_exchange(port, &long, Duration::from_secs(5)).unwrap_or_default();
    assert!(got.is_empty(), "{} bytes answered", got.len());
    // A damaged header (starts with Z) is still no key.
    let got = raw_exchange(port, b"ZBXE\x01agent.ping\n", Duration::from_secs(5)).unwrap();
    assert!(got.is_empty());
    // The same Server= list: a peer not in it gets nothing.
    let other = start_zagent("Server=127.0.0.2\nAllowRoot=1\n");
    let got = raw_exchange(other.port, b"agent.ping\n", Duration::from_secs(5)).unwrap_or_default();
    assert!(got.is_empty());
}

#[test]
fn comma_keys_are_bounded_before_they_are_parsed() {
    let up = "UserParameter=rel.up[*],sleep 1; echo \"$1|$2|$9\"\n";
    let agent = start_zagent(&format!("Server=127.0.0.1\nAllowRoot=1\nTimeout=10\n{up}"));
    let pid = agent.child.id();
    let port = agent.port;
    let (_, warm) = ask(port, "rel.up[a,b]", Duration::from_secs(15));
    assert_eq!(warm, "a|b|");
    let before = status(pid, "VmHWM");
    let run16 = |key: String| {
        let key = std::sync::Arc::new(key);
        let askers: Vec<_> = (0..16)
            .map(|_| {
                let key = std::sync::Arc::clone(&key);
                std::thread::spawn(move || ask(port, &key, Duration::from_secs(30)).1)
            })
            .collect();
        askers
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<_>>()
    };
    // 1 MiB of commas: refused before parsing (zabbix_agentd never answers it in time).
    let huge = format!("rel.up[a{}z]", ",".repeat((1 << 20) - 100));
    for a in run16(huge) {
        assert_eq!(a, "ZBX_NOTSUPPORTED|Too many parameters.");
    }
    // 20,000 parameters: answered as zabbix_agentd answers (checked below), and the 16
    // waiting for a command slot hold the command, not 20,000 parsed parameters each.
    let many = format!("rel.up[a{}z]", ",".repeat(20_000));
    for a in run16(many.clone()) {
        assert_eq!(a, "a||");
    }
    let grown = status(pid, "VmHWM").saturating_sub(before);
    assert!(grown < 48 * 1024, "peak RSS grew by {grown} KiB");
    let agentd = start_zabbix_agentd(&format!("Server=127.0.0.1\nTimeout=10\n{up}"));
    assert_eq!(ask(agentd.port, &many, Duration::from_secs(15)).1, "a||");
}

#[test]
fn slow_clients_beyond_the_slot_limit_do_not_stop_agent_ping() {
    use std::io::Write;
    // Timeout=30: a slow client may hold its slot for 30 s; 600 of them exceed the 256
    // connection slots (StartAgents=3).
    let agent = start_zagent("Server=127.0.0.1\nAllowRoot=1\nTimeout=30\n");
    let port = agent.port;
    let mut slow = Vec::new();
    for _ in 0..600 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        // A header announcing 1000 bytes, then nothing.
        let mut head = b"ZBXD\x01".to_vec();
        head.extend_from_slice(&1000u32.to_le_bytes());
        head.extend_from_slice(&0u32.to_le_bytes());
        s.write_all(&head).unwrap();
        slow.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let (took, answer) = ask(port, "agent.ping", Duration::from_secs(10));
        assert_eq!(answer, "1");
        worst = worst.max(took);
    }
    assert!(
        worst < Duration::from_secs(3),
        "agent.ping took up to {worst:?}"
    );
    // A key that needs a slot of its own gets one too (the oldest slow client is shed).
    let (took, size) = ask(port, "vfs.file.size[/etc/passwd]", Duration::from_secs(10));
    let want = std::fs::metadata("/etc/passwd").unwrap().len().to_string();
    assert_eq!(size, want, "{took:?}");
    drop(slow);
}

#[test]
fn get_refuses_a_reply_longer_than_its_header_like_zabbix_get() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut c, _) = listener.accept().unwrap();
            let mut buf = [0u8; 256];
            let _ = c.read(&mut buf);
            let mut reply = frame(b"1");
            reply.extend_from_slice(b"EXTRA");
            c.write_all(&reply).unwrap();
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let official = zabbix_get(port, "agent.ping", &[]);
    let ours = zagent_get(port, "agent.ping");
    server.join().unwrap();
    assert!(!official.status.success());
    assert!(!ours.status.success(), "{}", stdout(&ours));
    assert_eq!(stdout(&ours), "");
    let err = String::from_utf8_lossy(&ours.stderr);
    assert!(err.contains("longer than expected"), "{err}");
}

/// `zagent check-config -c FILE`: exit success, stderr; killed after 20 s at most.
fn check_config(conf: &Path) -> (bool, String, Duration) {
    let t0 = Instant::now();
    let mut child = Command::new(zagent_bin())
        .args(["check-config", "-c"])
        .arg(conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        t0.elapsed(),
    )
}

#[test]
fn check_config_names_the_line_of_a_fifo_include_and_a_missing_tls_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("inc.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let conf = dir.path().join("a.conf");
    std::fs::write(
        &conf,
        format!("Server=127.0.0.1\nInclude={}\n", fifo.display()),
    )
    .unwrap();
    let (ok, err, took) = check_config(&conf);
    assert!(!ok && took < Duration::from_secs(10), "{took:?} {err}");
    assert!(
        err.contains(&format!(
            "a.conf:2: cannot open config file \"{}\": not a regular file",
            fifo.display()
        )),
        "{err}"
    );
    std::fs::write(
        &conf,
        "Server=127.0.0.1\nTLSAccept=psk\nTLSPSKIdentity=rel\nTLSPSKFile=/nonexistent/rel.psk\n",
    )
    .unwrap();
    let (ok, err, _) = check_config(&conf);
    assert!(!ok);
    assert!(
        err.contains("a.conf:4: cannot open file \"/nonexistent/rel.psk\" (TLSPSKFile): [2] No such file or directory"),
        "{err}"
    );
}

#[test]
fn checking_100k_user_parameters_is_linear() {
    // A complexity guard, not a speed target: quadratic duplicate detection took 21 s
    // (release) for 100k lines on main, minutes in a debug build.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("up.conf");
    let mut text = String::from("Server=127.0.0.1\n");
    for i in 0..100_000 {
        text.push_str(&format!("UserParameter=rel.k{i},echo {i}\n"));
    }
    text.push_str("UserParameter=rel.k7,echo again\n");
    std::fs::write(&conf, text).unwrap();
    let (ok, err, took) = check_config(&conf);
    assert!(!ok);
    assert!(
        err.contains("up.conf:100002: cannot load user parameters: user parameter \"rel.k7,echo again\": key \"rel.k7\" already exists (first defined at"),
        "{err}"
    );
    assert!(took < Duration::from_secs(15), "{took:?}");
}

#[test]
fn memory_goes_back_after_bursts_of_maximum_size_requests() {
    let agent = start_zagent("Server=127.0.0.1\nAllowRoot=1\nTimeout=30\n");
    let pid = agent.child.id();
    let port = agent.port;
    let (_, warm) = ask(port, "agent.ping", Duration::from_secs(5));
    assert_eq!(warm, "1");
    let start = status(pid, "VmRSS");
    let key = std::sync::Arc::new(format!("agent.version[{}]", "a".repeat((1 << 20) - 100)));
    for _ in 0..3 {
        let askers: Vec<_> = (0..64)
            .map(|_| {
                let key = std::sync::Arc::clone(&key);
                std::thread::spawn(move || {
                    raw_exchange(port, &frame(key.as_bytes()), Duration::from_secs(30)).map(|o| {
                        String::from_utf8_lossy(o.get(13..).unwrap_or(&[])).replace('\0', "|")
                    })
                })
            })
            .collect();
        for a in askers {
            let got = a.join().unwrap();
            if got.as_deref().ok() != Some("ZBX_NOTSUPPORTED|Item does not allow parameters.") {
                let log = std::fs::read_to_string(agent.path("zagent.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                panic!("{got:?}; log: {tail:#?}");
            }
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let peak = status(pid, "VmHWM");
    let after = status(pid, "VmRSS");
    assert!(
        after.saturating_sub(start) < 8 * 1024,
        "RSS {start} KiB -> {after} KiB after the bursts (peak {peak} KiB)"
    );
}
