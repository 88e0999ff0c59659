//! Fuzz target: DNS replies of `net.dns*`. Name expansion stays inside the message and
//! under 255 wire bytes; `net.dns.record` text is only produced for usable answers; and
//! a query built from any zone expands back to that zone and is answered by itself with
//! the QR bit set.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zagent::fuzzing::{
    answer_usable, answers_query, build_query, expand_name, format_answer, NameDb,
};

/// Undoes the presentation escapes (`\X`, `\DDD`).
fn unescape(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let digits = b
                .get(i + 1..i + 4)
                .filter(|d| d.iter().all(u8::is_ascii_digit));
            if let Some(d) = digits {
                let n = d.iter().fold(0u32, |n, c| n * 10 + u32::from(c - b'0'));
                out.push(n as u8);
                i += 4;
            } else {
                out.push(b[i + 1]);
                i += 2;
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let db = NameDb {
        services: "ssh 22/tcp\nsmtp 25/tcp\ndomain 53/udp\nhttp 80/tcp www\n".into(),
        protocols: "ip 0 IP\ntcp 6 TCP\nudp 17 UDP\n".into(),
    };
    if format_answer(data, &db).is_ok() {
        assert!(answer_usable(data));
    }
    for pos in 0..data.len().min(64) {
        if let Some((name, used)) = expand_name(data, pos) {
            assert!(used >= 1 && pos + used <= data.len());
            assert!(!name.is_empty() && name.len() <= 4 * 255);
        }
    }
    if let Ok(zone) = std::str::from_utf8(data) {
        if let Ok(q) = build_query(0x1234, zone, 16) {
            let (name, used) = expand_name(&q, 12).expect("our own query expands");
            assert_eq!(12 + used + 4, q.len());
            let want = zone.strip_suffix('.').unwrap_or(zone);
            if want.is_empty() {
                assert_eq!(name, ".");
            } else {
                assert_eq!(unescape(&name), want.as_bytes(), "{zone:?} -> {name:?}");
            }
            let mut resp = q.clone();
            resp[2] |= 0x80;
            assert!(answers_query(&q, &resp));
            resp[1] ^= 1;
            assert!(!answers_query(&q, &resp));
        }
    }
});
