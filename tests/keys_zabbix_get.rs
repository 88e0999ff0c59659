//! The system/vfs/proc/net.if/kernel keys over the wire (issue 2 "Done means"): the real
//! `zabbix_get` 6.0 asks `zagent run` and a real `zabbix_agentd` daemon the same keys,
//! values and `ZBX_NOTSUPPORTED` reasons included, and gets the same answers — exactly,
//! or within a stated tolerance for values that move between two calls.

#![allow(clippy::panic, clippy::expect_used)] // a test fails by panicking

mod util;

use util::{start_zabbix_agentd, start_zagent, stdout, zabbix_get};

/// How two answers must agree.
#[derive(Debug, Clone, Copy)]
enum Cmp {
    Exact,
    /// Numbers within this distance.
    Abs(f64),
}

fn agree(key: &str, cmp: Cmp, theirs: &str, ours: &str) -> Result<(), String> {
    let ok = match cmp {
        Cmp::Exact => theirs == ours,
        Cmp::Abs(tol) => match (theirs.parse::<f64>(), ours.parse::<f64>()) {
            (Ok(a), Ok(b)) => (a - b).abs() <= tol,
            _ => false,
        },
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{key}: zabbix_agentd {theirs:?} vs zagent {ours:?} ({cmp:?})"
        ))
    }
}

#[test]
fn zabbix_get_gets_the_same_answers_from_zagent_and_zabbix_agentd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("f.txt");
    std::fs::write(&f, "hello\nworld\n").expect("write");
    let f = f.display().to_string();
    let nope = dir.path().join("nope").display().to_string();

    let ours = start_zagent("Server=127.0.0.1\n");
    let theirs = start_zabbix_agentd("Server=127.0.0.1\n");

    use Cmp::*;
    let mut cases: Vec<(String, Cmp)> = vec![
        ("system.hostname".into(), Exact),
        ("system.hostname[shorthost,lower]".into(), Exact),
        ("system.hostname[fqdn]".into(), Exact),
        ("system.uname".into(), Exact),
        ("system.sw.arch".into(), Exact),
        ("system.sw.os[name]".into(), Exact),
        ("system.boottime".into(), Exact),
        ("system.uptime".into(), Abs(2.0)),
        ("system.localtime".into(), Abs(2.0)),
        ("system.localtime[x]".into(), Exact),
        ("system.cpu.num".into(), Exact),
        ("system.cpu.num[x]".into(), Exact),
        ("system.cpu.load[all,avg5]".into(), Abs(1.0)),
        ("system.cpu.load[x]".into(), Exact),
        ("system.swap.size[,pfree]".into(), Abs(1.0)),
        ("system.swap.size[/dev/sda]".into(), Exact),
        ("vm.memory.size[total]".into(), Exact),
        ("vm.memory.size[pavailable]".into(), Abs(5.0)),
        ("vm.memory.size[shared]".into(), Exact),
        ("vm.memory.size[x]".into(), Exact),
        ("kernel.maxfiles".into(), Exact),
        ("kernel.maxproc".into(), Exact),
        ("kernel.maxproc[x]".into(), Exact),
        ("vfs.fs.size[/,total]".into(), Exact),
        ("vfs.fs.size[/,pfree]".into(), Abs(1.0)),
        ("vfs.fs.size".into(), Exact),
        ("vfs.fs.inode[/nope]".into(), Exact),
        ("vfs.fs.discovery".into(), Exact),
        (format!("vfs.file.exists[{f}]"), Exact),
        (format!("vfs.file.exists[{nope}]"), Exact),
        (format!("vfs.file.exists[{f},x]"), Exact),
        (format!("vfs.file.size[{f}]"), Exact),
        (format!("vfs.file.size[{f},lines]"), Exact),
        (format!("vfs.file.size[{nope}]"), Exact),
        (format!("vfs.file.time[{f}]"), Exact),
        (format!("vfs.file.contents[{f}]"), Exact),
        (format!("vfs.file.contents[{nope}]"), Exact),
        (format!("vfs.file.md5sum[{f}]"), Exact),
        (format!("vfs.file.cksum[{f}]"), Exact),
        (format!("vfs.file.regexp[{f},wor]"), Exact),
        (format!("vfs.file.regmatch[{f},wor]"), Exact),
        ("vfs.file.size[a,b,c]".into(), Exact),
        ("proc.num[,,x]".into(), Exact),
        ("proc.num[no-such-process-zt]".into(), Exact),
        ("proc.num[,nosuchuser-zt]".into(), Exact),
        ("proc.num".into(), Abs(40.0)),
        ("proc.mem[no-such-process-zt,,avg]".into(), Exact),
        ("net.if.discovery".into(), Exact),
        ("net.if.in[lo,errors]".into(), Exact),
        ("net.if.in[nope]".into(), Exact),
        ("net.if.out[lo,x]".into(), Exact),
        ("net.if.in".into(), Exact),
    ];
    // The CPU collector runs in `zagent run`; it takes its first sample at start.
    let util = stdout(&zabbix_get(ours.port, "system.cpu.util[,idle]", &[]));
    let idle: f64 = util
        .parse()
        .unwrap_or_else(|_| panic!("system.cpu.util from zagent run: {util:?}"));
    assert!((0.0..=100.0).contains(&idle), "idle {idle}");
    cases.push(("system.cpu.discovery".into(), Exact));

    let mut failures = Vec::new();
    for (key, cmp) in &cases {
        let a = zabbix_get(theirs.port, key, &[]);
        let b = zabbix_get(ours.port, key, &[]);
        assert!(
            a.status.success(),
            "zabbix_get to zabbix_agentd {key}: {a:?}"
        );
        assert!(b.status.success(), "zabbix_get to zagent {key}: {b:?}");
        if let Err(e) = agree(key, *cmp, &stdout(&a), &stdout(&b)) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} keys differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
