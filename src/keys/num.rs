//! Integer parameters read as zabbix_agentd reads them: one place for its rules (digits
//! only, no sign, a stated maximum; C `atoi` where agentd uses it). Pure; keys call these
//! instead of Rust's `str::parse`, which accepts a leading `+`.

/// agentd's `is_uint_n_range`: ASCII digits only (no sign, no blanks), at most `max`.
pub fn uint(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v = s.bytes().try_fold(0u64, |acc, b| {
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })?;
    (v <= max).then_some(v)
}

/// A non-negative `int` parameter (CPU numbers, depths): digits, at most 2^31-1.
pub fn uint31(s: &str) -> Option<u32> {
    uint(s, i32::MAX as u64).and_then(|v| u32::try_from(v).ok())
}

/// A `uint32` parameter (line numbers): digits, at most 2^32-1.
pub fn uint32(s: &str) -> Option<u32> {
    uint(s, u64::from(u32::MAX)).and_then(|v| u32::try_from(v).ok())
}

/// C `atoi` as glibc does it (`(int)strtol(s, NULL, 10)`): leading white space, a sign,
/// digits; saturated to `long`, then cut to `int`. Also says whether the number took the
/// whole string.
pub fn c_atoi(s: &str) -> (i32, bool) {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let mut v: i64 = 0;
    for b in t.bytes().take(digits) {
        let d = i64::from(b - b'0');
        v = if neg {
            v.saturating_mul(10).saturating_sub(d)
        } else {
            v.saturating_mul(10).saturating_add(d)
        };
    }
    // The cast to int keeps the low 32 bits, as the C conversion does on Linux.
    (v as i32, digits > 0 && digits == t.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_as_agentd() {
        assert_eq!(uint31("0"), Some(0));
        assert_eq!(uint31("+0"), None, "agentd: Invalid first parameter.");
        assert_eq!(uint31("-0"), None);
        assert_eq!(uint31(" 1"), None);
        assert_eq!(uint31("2147483647"), Some(2_147_483_647));
        assert_eq!(uint31("2147483648"), None);
        assert_eq!(uint32("4294967295"), Some(u32::MAX));
        assert_eq!(uint32("4294967296"), None);
        assert_eq!(uint("18446744073709551616", u64::MAX), None);
    }

    #[test]
    fn atoi_as_glibc() {
        assert_eq!(c_atoi("+0"), (0, true));
        assert_eq!(c_atoi("-0"), (0, true));
        assert_eq!(c_atoi("4294967296"), (0, true));
        assert_eq!(c_atoi("4294967297"), (1, true));
        assert_eq!(c_atoi("18446744073709551616"), (-1, true));
        assert_eq!(c_atoi("-65536"), (-65536, true));
        assert_eq!(c_atoi("1abc"), (1, false));
        assert_eq!(c_atoi("0x10"), (0, false));
        assert_eq!(c_atoi("abc"), (0, false));
    }
}
