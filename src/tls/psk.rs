//! Pre-shared keys: the `TLSPSKFile` format and the `TLSPSKIdentity` limits.
//!
//! Owns the pure decision of whether a PSK file's bytes and an identity are acceptable,
//! with zabbix_agentd 6.0's texts. It must not open files ([`super::read_psk_file`] does) or
//! talk to OpenSSL.

use std::fmt;

/// Fewest hex digits zabbix_agentd accepts in a PSK file (a 16-byte key).
pub const MIN_HEX_DIGITS: usize = 32;
/// Most hex digits zabbix_agentd accepts in a PSK file (a 256-byte, 2048-bit key).
pub const MAX_HEX_DIGITS: usize = 512;
/// Longest PSK identity in bytes: the server's `hosts.tls_psk_identity` column holds 128,
/// so a longer identity could never match a host. zabbix_agentd 6.0.14 does not check
/// this (later releases refuse it with the same text as here); zagent warns.
pub const MAX_IDENTITY_BYTES: usize = 128;
/// zabbix_agentd reads only the first line, through a buffer of 512 digits plus a line
/// ending: a longer line is cut there and reported as too long.
const FIRST_LINE_CAP: usize = MAX_HEX_DIGITS + 2;

/// A PSK as OpenSSL needs it: the raw key bytes. Zeroed when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Psk(Vec<u8>);

impl Psk {
    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Psk({} bytes)", self.0.len())
    }
}

impl Drop for Psk {
    fn drop(&mut self) {
        // Best effort, as zabbix_agentd does: clear the key before the memory is freed.
        // black_box keeps the writes from being optimised away.
        self.0.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&self.0);
    }
}

/// Why a PSK file's content was refused. Displayed with the file name as zabbix_agentd
/// says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PskContentError {
    /// Zero bytes in the file.
    NoData,
    /// The first line is empty.
    EmptyLine,
    /// Fewer than 32 hex digits.
    TooShort,
    /// More than 512 hex digits.
    TooLong,
    /// Not an even number of hex digits, or a character that is not a hex digit.
    NotHex,
}

impl PskContentError {
    /// The zabbix_agentd message for this error about `path`.
    pub fn message(&self, path: &str) -> String {
        match self {
            PskContentError::NoData => {
                format!("cannot read from file \"{path}\" or file empty")
            }
            PskContentError::EmptyLine => format!("file \"{path}\" is empty"),
            PskContentError::TooShort => format!(
                "PSK in file \"{path}\" is too short. Minimum is {MIN_HEX_DIGITS} hex-digits"
            ),
            PskContentError::TooLong => format!(
                "PSK in file \"{path}\" is too long. Maximum is {MAX_HEX_DIGITS} hex-digits"
            ),
            PskContentError::NotHex => format!("invalid PSK in file \"{path}\""),
        }
    }
}

/// Decodes a PSK file's content as zabbix_agentd does: the first line only, without its
/// `\r`/`\n`, 32–512 hex digits (upper or lower case), an even count.
pub fn parse_psk_file(content: &[u8]) -> Result<Psk, PskContentError> {
    if content.is_empty() {
        return Err(PskContentError::NoData);
    }
    let first = match content.iter().position(|&b| b == b'\n') {
        Some(i) => &content[..i + 1],
        None => content,
    };
    let first = &first[..first.len().min(FIRST_LINE_CAP)];
    let end = first
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(first.len());
    let digits = &first[..end];
    if digits.is_empty() {
        return Err(PskContentError::EmptyLine);
    }
    if digits.len() < MIN_HEX_DIGITS {
        return Err(PskContentError::TooShort);
    }
    if digits.len() > MAX_HEX_DIGITS {
        return Err(PskContentError::TooLong);
    }
    decode_hex(digits).map(Psk).ok_or(PskContentError::NotHex)
}

/// Hex digits to bytes; `None` for an odd count or a non-hex character.
pub fn decode_hex(digits: &[u8]) -> Option<Vec<u8>> {
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Checks a PSK identity's length; the text is zabbix_agentd's (later 6.x releases).
pub fn check_identity(identity: &str) -> Result<(), String> {
    if identity.len() > MAX_IDENTITY_BYTES {
        return Err(format!(
            "PSK identity length {} exceeds the maximum length of {MAX_IDENTITY_BYTES} bytes.",
            identity.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn hex(n: usize) -> String {
        "0123456789abcdef".chars().cycle().take(n).collect()
    }

    #[test]
    fn accepts_32_to_512_digits_with_or_without_newline() {
        let k = parse_psk_file(format!("{}\n", hex(32)).as_bytes()).unwrap();
        assert_eq!(
            k.as_bytes(),
            &[
                0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
                0xcd, 0xef
            ]
        );
        assert_eq!(
            parse_psk_file(hex(512).as_bytes())
                .unwrap()
                .as_bytes()
                .len(),
            256
        );
        assert_eq!(
            parse_psk_file(format!("{}\r\n", hex(64)).as_bytes())
                .unwrap()
                .as_bytes()
                .len(),
            32
        );
        assert_eq!(
            parse_psk_file(b"0123456789ABCDEF0123456789abcdef")
                .unwrap()
                .as_bytes()[5],
            0xab
        );
    }

    #[test]
    fn only_the_first_line_counts() {
        let k = parse_psk_file(format!("{}\nextra garbage\n", hex(32)).as_bytes()).unwrap();
        assert_eq!(k.as_bytes().len(), 16);
    }

    #[test]
    fn refusals_match_zabbix_agentd() {
        let p = "/tmp/k";
        let cases: [(&[u8], &str); 8] = [
            (b"", "cannot read from file \"/tmp/k\" or file empty"),
            (b"\n", "file \"/tmp/k\" is empty"),
            (
                b"abcd\n",
                "PSK in file \"/tmp/k\" is too short. Minimum is 32 hex-digits",
            ),
            (
                &[b'0'; 600],
                "PSK in file \"/tmp/k\" is too long. Maximum is 512 hex-digits",
            ),
            (
                &[b'0'; 513],
                "PSK in file \"/tmp/k\" is too long. Maximum is 512 hex-digits",
            ),
            (
                b"zz000000000000000000000000000000\n",
                "invalid PSK in file \"/tmp/k\"",
            ),
            (
                b"000000000000000000000000000000000\n",
                "invalid PSK in file \"/tmp/k\"",
            ),
            (
                b"00000000000000 00000000000000000\n",
                "invalid PSK in file \"/tmp/k\"",
            ),
        ];
        for (content, want) in cases {
            let err = parse_psk_file(content).unwrap_err();
            assert_eq!(
                err.message(p),
                want,
                "content {:?}",
                String::from_utf8_lossy(content)
            );
        }
    }

    #[test]
    fn identity_limit_is_128_bytes() {
        assert!(check_identity(&"x".repeat(128)).is_ok());
        assert_eq!(
            check_identity(&"x".repeat(129)).unwrap_err(),
            "PSK identity length 129 exceeds the maximum length of 128 bytes."
        );
        // Bytes, not characters: 43 three-byte characters are 129 bytes.
        assert!(check_identity(&"€".repeat(43)).is_err());
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let k = parse_psk_file(hex(32).as_bytes()).unwrap();
        assert_eq!(format!("{k:?}"), "Psk(16 bytes)");
    }
}
