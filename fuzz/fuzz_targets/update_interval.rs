//! Fuzz target: the update intervals of the active-check list (`30s`, flexible
//! `50s;10s/1-5,09:00-18:00`, scheduling `wd1-5h9m30`), as the server sends them. The
//! first 12 bytes pick the time (years 1970–2106), the UTC offset and the seed; the rest
//! is the interval text. A parsed interval's delay in force is one of its delays; the
//! next check is strictly after now and within the scheduler's horizon (4 years and a
//! week) or the longest delay; asking again from that time moves forward.
#![no_main]

use chrono::{DateTime, FixedOffset, TimeZone};
use libfuzzer_sys::fuzz_target;
use zagent::fuzzing::Interval;

fuzz_target!(|data: &[u8]| {
    if data.len() < 12 {
        return;
    }
    let (head, text) = data.split_at(12);
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(interval) = Interval::parse(text) else {
        return;
    };
    let secs = i64::from(u32::from_le_bytes([head[0], head[1], head[2], head[3]]));
    let offset = i32::from(i16::from_le_bytes([head[4], head[5]])) % (14 * 3600);
    let seed = u64::from(u32::from_le_bytes([head[6], head[7], head[8], head[9]]));
    let Some(tz) = FixedOffset::east_opt(offset) else {
        return;
    };
    let Some(now) = tz.timestamp_opt(secs, 0).single() else {
        return;
    };
    let delay = interval.current_delay(&now);
    assert!(
        delay == interval.delay || interval.flexible.iter().any(|f| f.delay == delay),
        "{text:?}"
    );
    assert!(delay <= interval.max_delay());
    // Schedules look 4 years ahead; a simple delay may be longer (up to i32::MAX s).
    let horizon = chrono::Duration::days(366 * 4 + 8).max(chrono::Duration::seconds(
        i64::from(interval.max_delay()) + 1,
    ));
    let mut t: DateTime<FixedOffset> = now;
    for _ in 0..2 {
        match interval.next_after(&t, seed) {
            Some(next) => {
                assert!(next > t, "{text:?} at {t}: {next}");
                assert!(next - t <= horizon, "{text:?} at {t}: {next}");
                t = next;
            }
            None => break,
        }
    }
});
