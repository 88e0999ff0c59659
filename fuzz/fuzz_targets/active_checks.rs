//! Fuzz target: the server's answers to an active agent. The item list and data reply
//! parsers never panic and accept only JSON (JSON as serde reads it when it skips
//! content: invalid UTF-8 or lone surrogates inside ignored fields are let through); the
//! `info` counters parse back from the text the server writes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zagent::fuzzing::{parse_active_checks, parse_data_reply, parse_info_counts};

fuzz_target!(|data: &[u8]| {
    let json = serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok();
    if parse_active_checks(data).is_ok() {
        assert!(json);
    }
    if parse_data_reply(data).is_ok() {
        assert!(json);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_info_counts(text);
    }
    let mut n = [0u64; 3];
    for (i, c) in data.chunks(8).take(3).enumerate() {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        n[i] = u64::from_le_bytes(b);
    }
    let info = format!(
        "processed: {}; failed: {}; total: {}; seconds spent: 0.000245",
        n[0], n[1], n[2]
    );
    assert_eq!(parse_info_counts(&info), Some((n[0], n[1], n[2])));
});
