//! The CPU collector as `zagent run` uses it: after a few samples `system.cpu.util`
//! answers percentages that add up to 100 over the ten states, per CPU and in total, and
//! `system.cpu.discovery` lists the same CPUs as a running zabbix_agentd daemon; disk
//! rates (vfs.dev.read/write sps/ops) are followed once asked for.

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
    tokio::time::sleep(Duration::from_millis(3200)).await;

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

    // Disk rates: a device is followed from its first request on.
    for key in ["vfs.dev.read[,sps]", "vfs.dev.write[all,ops,avg5]"] {
        for _ in 0..2 {
            match ctx.execute(key).await {
                Ok(Value::Float(v)) => assert!(v >= 0.0, "{key} = {v}"),
                other => panic!("{key}: {other:?}"),
            }
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
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

    shutdown.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(2), task).await;
    assert!(
        matches!(ended, Ok(Ok(Ok(())))),
        "collector did not stop: {ended:?}"
    );
    drop(agentd);
}
