//! The wall clock stamped on values and the session token that names one run of the
//! agent toward a server, shared by the worker, the persistent buffer and `zagent send`.
//! It must not know about items, buffers or the wire.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall clock now as (seconds, nanoseconds).
pub fn wall_clock() -> (i64, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    (
        i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        d.subsec_nanos(),
    )
}

/// A fresh session token: 32 lowercase hex characters from the OS RNG.
pub fn new_session() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: fall back to time and pid, still unique per start.
        let (s, ns) = wall_clock();
        let mix = (s as u128) << 64 | (u128::from(ns) << 32) | u128::from(std::process::id());
        b = mix.to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_tokens_are_32_lowercase_hex_and_unique() {
        let a = new_session();
        let b = new_session();
        assert_eq!(a.len(), 32);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert_ne!(a, b);
    }
}
