//! The one rule for bytes that are not UTF-8 in what the agent answers (file contents,
//! command output, regexp output, log lines, file names in JSON, web pages, DNS texts).
//!
//! zabbix_agentd passes such bytes through raw in plain values and replaces them inside
//! JSON; the Zabbix server replaces them in every value it stores. Both use the same
//! replacement (`zbx_replace_invalid_utf8`): each invalid sequence — a lead byte with the
//! continuation bytes that follow it, or one stray byte — becomes one `?`. zagent answers
//! text, so it applies that replacement everywhere: JSON comes out as zabbix_agentd's, and
//! plain values as the server stores zabbix_agentd's (docs/COMPATIBILITY.md).
//!
//! Owns that conversion only; matching (regexp subjects) has its own byte-for-byte rule
//! in [`crate::regexp`].

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// `bytes` as UTF-8 text, every invalid sequence replaced by one `?`, as the Zabbix
/// server and zabbix_agentd's JSON writer do: a lead byte takes the continuation bytes
/// that follow it (up to its length); the sequence is invalid if one is missing, if it is
/// overlong, a UTF-16 surrogate or above U+10FFFF. Stray continuation bytes and 0xFE/0xFF
/// are one `?` each.
pub fn zbx_utf8(bytes: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_string();
    }
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let expecting = match b {
            0xC0..=0xDF => 1,
            0xE0..=0xEF => 2,
            0xF0..=0xF7 => 3,
            0xF8..=0xFB => 4,
            0xFC..=0xFD => 5,
            // A stray continuation byte, or 0xFE / 0xFF.
            _ => {
                out.push('?');
                i += 1;
                continue;
            }
        };
        let start = i;
        i += 1;
        let mut complete = true;
        for _ in 0..expecting {
            match bytes.get(i) {
                Some(c) if c & 0xC0 == 0x80 => i += 1,
                _ => {
                    complete = false;
                    break;
                }
            }
        }
        // Complete, not overlong, not a surrogate, not past U+10FFFF: exactly what Rust
        // accepts as one UTF-8 character.
        match std::str::from_utf8(&bytes[start..i]) {
            Ok(s) if complete => out.push_str(s),
            _ => out.push('?'),
        }
    }
    out
}

/// A file name or path as text, by the same rule.
pub fn zbx_utf8_os(s: &OsStr) -> String {
    zbx_utf8(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_question_mark_per_invalid_sequence() {
        // Each case as zabbix_agentd 6.0.14 wrote the file name "a<bytes>b" in
        // vfs.dir.get's JSON.
        for (bytes, want) in [
            (&b"\xff"[..], "a?b"),
            (b"\xe2\x82", "a?b"),
            (b"\xc0\x80", "a?b"),
            (b"\xed\xa0\x80", "a?b"),
            (b"\xf5\x80\x80\x80", "a?b"),
            (b"\xf8\x88\x80\x80\x80", "a?b"),
            (b"\x80\x80", "a??b"),
            (b"\xe2\x82\xac", "a\u{20ac}b"),
            (b"\xf0\x9f\x98", "a?b"),
            (b"\xc3", "a?b"),
        ] {
            let mut name = b"a".to_vec();
            name.extend_from_slice(bytes);
            name.push(b'b');
            assert_eq!(zbx_utf8(&name), want, "{bytes:x?}");
        }
        assert_eq!(zbx_utf8(b"caf\xc3\xa9"), "caf\u{e9}");
        assert_eq!(zbx_utf8(b"\xfe\xff"), "??");
        // A lead byte takes the continuation bytes up to its length, no more.
        assert_eq!(zbx_utf8(b"\xc3\x80\x80"), "\u{c0}?");
    }
}
