//! Persistent buffer insert benchmark (`bench/pbuf.sh`): how many values per second the
//! store's writer thread commits, and how long the collecting side waits per value.
//!
//! Phase 1 (burst): `TOTAL` values queued as fast as possible in rounds of 50,000 (each
//! round waits for its commit, so nothing is dropped): the sustained commit rate.
//! Phase 2 (paced): `RATE` values/s for `SECONDS` s from one producer, as a collector would
//! store them, with a send acknowledged (rows deleted) every 1,000 values: whether the
//! writer keeps up (dropped = 0, backlog committed right after the last value) and the
//! longest single `insert` call.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use zagent::active::persist::Store;
use zagent::active::proto::{ItemRef, Row};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn row(id: u64, clock: i64) -> Row {
    Row {
        item: ItemRef::Id(40_000 + id % 500),
        value: Some(format!("{}.{:06}", id * 37 % 100_000, id % 1_000_000)),
        unsupported: false,
        lastlogsize: None,
        mtime: None,
        id,
        clock,
        ns: (id % 1_000_000_000) as u32,
    }
}

fn main() {
    let total = env("TOTAL", 1_000_000);
    let rate = env("RATE", 20_000);
    let seconds = env("SECONDS", 10);
    let dir = std::env::var("PBUF_DIR").map_or_else(|_| std::env::temp_dir(), Into::into);
    let tmp = tempfile::Builder::new()
        .prefix("pbuf-bench-")
        .tempdir_in(dir)
        .unwrap();
    let path = tmp.path().join("buffer.db");
    let pairs = vec![("127.0.0.1:10051".to_string(), "bench".to_string())];
    let store = Store::open(&path, Duration::from_secs(3600), &pairs).unwrap();
    let (slot, _) = store.take_slot("127.0.0.1:10051", "bench").unwrap();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };

    // Phase 1: burst.
    let t0 = Instant::now();
    let mut id = 0u64;
    while id < total {
        let clock = now();
        for _ in 0..50_000.min(total - id) {
            id += 1;
            slot.insert(&row(id, clock), false);
        }
        slot.sync();
    }
    let burst = t0.elapsed();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(path.with_extension("db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    println!(
        "burst: {total} values committed in {:.2} s = {:.0} values/s (file {:.1} MiB, dropped {})",
        burst.as_secs_f64(),
        total as f64 / burst.as_secs_f64(),
        size as f64 / (1 << 20) as f64,
        slot.dropped()
    );
    slot.remove_up_to(id);
    slot.sync();

    // Phase 2: paced producer, sends acknowledged every 1,000 values.
    let n = rate * seconds;
    let t0 = Instant::now();
    let mut calls = Vec::with_capacity(n as usize);
    for k in 0..n {
        let due = t0 + Duration::from_secs_f64(k as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        id += 1;
        let c = Instant::now();
        slot.insert(&row(id, now()), false);
        if id % 1000 == 0 {
            slot.remove_up_to(id - 1000);
        }
        calls.push(c.elapsed());
    }
    let produced = t0.elapsed();
    slot.sync();
    let lag = t0.elapsed() - produced;
    let sum: Duration = calls.iter().sum();
    calls.sort_unstable();
    let p99 = calls[calls.len() * 99 / 100];
    let worst = calls[calls.len() - 1];
    println!(
        "paced: {n} values at {rate}/s in {:.2} s; writer caught up {:.1} ms after the last value; \
         insert call mean {:.2} us, p99 {:.1} us, max {:.0} us; dropped {}",
        produced.as_secs_f64(),
        lag.as_secs_f64() * 1000.0,
        sum.as_secs_f64() * 1e6 / n as f64,
        p99.as_secs_f64() * 1e6,
        worst.as_secs_f64() * 1e6,
        slot.dropped()
    );
}
