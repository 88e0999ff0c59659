//! The CPU collector as `zagent run` uses it: after a few samples `system.cpu.util`
//! answers percentages that add up to 100 over the ten states, per CPU and in total, and
//! `system.cpu.discovery` lists the same CPUs as a running zabbix_agentd daemon; disk
//! rates (vfs.dev.read/write sps/ops) are followed once asked for; proc.cpu.util of a
//! spinning process agrees with the daemon's.

#![allow(clippy::panic, clippy::expect_used)] // a test fails by panicking

mod util;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use zagent::keys::{AgentCtx, Value};

const TYPES: [&str; 10] = [
    "user",
    "nice",
    "system",
    "idle",
    "iowait",
    "interrupt",
    "softirq",
    "steal",
    "guest",
    "guest_nice",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_feeds_cpu_util_and_discovery() {
    let ctx = AgentCtx::new(Arc::new(zagent::config::Config::default()));
    assert_eq!(
        ctx.execute("system.cpu.util").await.map_err(|e| e.0),
        Err("Collector is not started.".to_string())
    );
    let agentd = tokio::task::spawn_blocking(|| util::start_zabbix_agentd("Server=127.0.0.1\n"))
        .await
        .expect("start zabbix_agentd");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(zagent::sys::cpustat::run_collector(shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(2200)).await;

    // SAFETY: sysconf with a valid name.
    let ncpu = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) }.max(1);
    for cpu in std::iter::once("all".to_string()).chain((0..ncpu).map(|n| n.to_string())) {
        let mut sum = 0.0;
        for t in TYPES {
            let key = format!("system.cpu.util[{cpu},{t},avg1]");
            match ctx.execute(&key).await {
                Ok(Value::Float(v)) => {
                    assert!((0.0..=100.0).contains(&v), "{key} = {v}");
                    sum += v;
                }
                other => panic!("{key}: {other:?}"),
            }
        }
        assert!(
            (sum - 100.0).abs() < 0.01,
            "cpu {cpu}: states add up to {sum}"
        );
    }
    assert_eq!(
        ctx.execute(&format!("system.cpu.util[{ncpu}]"))
            .await
            .map_err(|e| e.0),
        Err("Cannot obtain CPU information.".to_string())
    );

    let ours = ctx.execute("system.cpu.discovery").await;
    let port = agentd.port;
    let theirs = tokio::task::spawn_blocking(move || {
        util::stdout(&util::zabbix_get(port, "system.cpu.discovery", &[]))
    })
    .await
    .expect("zabbix_get");
    assert_eq!(ours, Ok(Value::Str(theirs)));

    // Disk rates: a device is followed from its first request on (0 until then).
    let keys = ["vfs.dev.read[,sps]", "vfs.dev.write[all,ops,avg5]"];
    for round in 0..2 {
        for key in keys {
            match ctx.execute(key).await {
                Ok(Value::Float(v)) => assert!(v >= 0.0, "{key} = {v} (round {round})"),
                other => panic!("{key}: {other:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    // The daemon's reasons where a rate cannot be given.
    for key in ["vfs.dev.read[nope-zt,sps]", "system.cpu.util[99]"] {
        let ours = match ctx.execute(key).await {
            Ok(v) => v.to_wire(),
            Err(e) => format!("ZBX_NOTSUPPORTED: {}", e.0),
        };
        let k = key.to_string();
        let theirs =
            tokio::task::spawn_blocking(move || util::stdout(&util::zabbix_get(port, &k, &[])))
                .await
                .expect("zabbix_get");
        assert_eq!(ours, theirs, "{key}");
    }

    // proc.cpu.util: a process that spins, under a name nobody else uses.
    let burner_dir = tempfile::tempdir().expect("tempdir");
    let burner = burner_dir.path().join("zt-sys-burner");
    std::fs::copy("/bin/sh", &burner).expect("copy sh");
    let mut spin = std::process::Command::new(&burner)
        .args(["-c", "while :; do :; done"])
        .spawn()
        .expect("spawn burner");
    let (ours, theirs) = tokio::join!(
        ctx.execute("proc.cpu.util[zt-sys-burner]"),
        tokio::task::spawn_blocking(move || util::stdout(&util::zabbix_get(
            port,
            "proc.cpu.util[zt-sys-burner]",
            &[]
        )))
    );
    let _ = spin.kill();
    let _ = spin.wait();
    let theirs: f64 = theirs
        .expect("zabbix_get")
        .parse()
        .unwrap_or_else(|e| panic!("agentd proc.cpu.util: {e}"));
    let ours = match ours {
        Ok(Value::Float(v)) => v,
        other => panic!("proc.cpu.util: {other:?}"),
    };
    // One spinning process: up to one CPU, less on a busy box; both agents see the same.
    assert!(
        (10.0..=101.0).contains(&ours),
        "zagent {ours}, agentd {theirs}"
    );
    assert!(
        (ours - theirs).abs() <= 40.0,
        "zagent {ours}, agentd {theirs}"
    );
    assert_eq!(
        ctx.execute("proc.cpu.util[no-such-process-zt,,system]")
            .await,
        Ok(Value::Float(0.0))
    );

    shutdown.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(2), task).await;
    assert!(
        matches!(ended, Ok(Ok(Ok(())))),
        "collector did not stop: {ended:?}"
    );
    drop(agentd);
}
