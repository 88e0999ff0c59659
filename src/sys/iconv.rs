//! Text decoding for the vfs.file.* keys and log[]/logrt[] (the one converter of both)
//! as zabbix_agentd does it: the C library's iconv to UTF-8, the BOM guessed when no
//! encoding is given (vfs.file.*; log[] keeps the bytes then), files split into lines by
//! the encoding's own line feed.
//!
//! Owns the iconv FFI (the only unsafe code here) and the line splitting; it must not
//! open files.

use std::ffi::CString;

/// How a line feed is written in an encoding: the bytes of `\n` and their width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineFeed {
    /// The line-feed sequence.
    pub lf: &'static [u8],
}

/// The line feed of `encoding` (names compared case-insensitively, as zabbix_agentd does
/// for the UTF-16 and UTF-32 families; anything else is single-byte `\n`).
pub fn line_feed(encoding: &str) -> LineFeed {
    let e = encoding.to_ascii_uppercase();
    let lf: &'static [u8] = match e.as_str() {
        "UNICODE" | "UNICODELITTLE" | "UTF-16" | "UTF-16LE" | "UTF16" | "UTF16LE" | "UCS-2"
        | "UCS-2LE" => b"\n\0",
        "UNICODEBIG" | "UNICODEFFFE" | "UTF-16BE" | "UTF16BE" | "UCS-2BE" => b"\0\n",
        "UTF-32" | "UTF-32LE" | "UTF32" | "UTF32LE" => b"\n\0\0\0",
        "UTF-32BE" | "UTF32BE" => b"\0\0\0\n",
        _ => b"\n",
    };
    LineFeed { lf }
}

/// Splits `data` into lines, each ending with its line feed (the last may not), with the
/// line feed searched at multiples of its width.
pub fn split_lines(data: &[u8], lf: LineFeed) -> Vec<&[u8]> {
    let w = lf.lf.len();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + w <= data.len() {
        if &data[i..i + w] == lf.lf {
            out.push(&data[start..i + w]);
            start = i + w;
        }
        i += w;
    }
    if start < data.len() {
        out.push(&data[start..]);
    }
    out
}

/// Converts `input` from `encoding` to UTF-8 as zabbix_agentd's `convert_to_utf8`: with
/// no encoding, a UTF-8/UTF-16 BOM selects one, else the bytes are kept as they are; an
/// encoding iconv does not know also keeps the bytes; conversion stops at the first
/// invalid sequence; a leading UTF-8 BOM is removed from the result.
pub fn convert_to_utf8(input: &[u8], encoding: &str) -> Vec<u8> {
    let mut enc = encoding;
    if enc.is_empty() {
        if input.starts_with(b"\xef\xbb\xbf") {
            enc = "UTF-8";
        } else if input.starts_with(b"\xff\xfe") {
            enc = "UTF-16LE";
        } else if input.starts_with(b"\xfe\xff") {
            enc = "UTF-16BE";
        }
    }
    if enc.is_empty() {
        return input.to_vec();
    }
    let Some(mut out) = iconv_to_utf8(input, enc) else {
        return input.to_vec();
    };
    if out.starts_with(b"\xef\xbb\xbf") {
        out.drain(..3);
    }
    out
}

/// Runs glibc iconv; `None` when the encoding is unknown.
fn iconv_to_utf8(input: &[u8], from: &str) -> Option<Vec<u8>> {
    let to = CString::new("UTF-8").ok()?;
    let from = CString::new(from).ok()?;
    // SAFETY: both arguments are valid NUL-terminated strings.
    let cd = unsafe { libc::iconv_open(to.as_ptr(), from.as_ptr()) };
    if cd as isize == -1 {
        return None;
    }
    let mut out: Vec<u8> = vec![0; input.len() * 4 + 16];
    let mut in_ptr = input.as_ptr() as *mut libc::c_char;
    let mut in_left = input.len();
    let mut written = 0usize;
    loop {
        let mut out_ptr = out[written..].as_mut_ptr() as *mut libc::c_char;
        let mut out_left = out.len() - written;
        let before = out_left;
        // SAFETY: `cd` is open; the pointers and lengths describe live buffers that
        // iconv advances within their bounds.
        let r = unsafe { libc::iconv(cd, &mut in_ptr, &mut in_left, &mut out_ptr, &mut out_left) };
        written += before - out_left;
        if r == usize::MAX && std::io::Error::last_os_error().raw_os_error() == Some(libc::E2BIG) {
            let grow = out.len();
            out.resize(out.len() + grow, 0);
            continue;
        }
        break;
    }
    // SAFETY: `cd` came from iconv_open and is closed once.
    unsafe { libc::iconv_close(cd) };
    out.truncate(written);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_lines_and_conversion() {
        let data = b"h\0i\0\n\0y\0o\0";
        let lines = split_lines(data, line_feed("UTF-16LE"));
        assert_eq!(lines, [&b"h\0i\0\n\0"[..], &b"y\0o\0"[..]]);
        assert_eq!(convert_to_utf8(lines[0], "UTF-16LE"), b"hi\n");
    }

    #[test]
    fn latin1_to_utf8() {
        assert_eq!(convert_to_utf8(b"caf\xe9", "ISO-8859-1"), "café".as_bytes());
    }

    #[test]
    fn unknown_encoding_and_none_keep_bytes() {
        assert_eq!(convert_to_utf8(b"x\xffy", "BOGUS"), b"x\xffy");
        assert_eq!(convert_to_utf8(b"x\xffy", ""), b"x\xffy");
    }

    #[test]
    fn bom_guessed_and_removed() {
        assert_eq!(convert_to_utf8(b"\xef\xbb\xbfbom\n", ""), b"bom\n");
        assert_eq!(convert_to_utf8(b"\xff\xfeh\0i\0", ""), b"hi");
    }

    #[test]
    fn single_byte_lines() {
        let lines = split_lines(b"a\nb\n\nc", line_feed(""));
        assert_eq!(lines, [&b"a\n"[..], b"b\n", b"\n", b"c"]);
        assert!(split_lines(b"", line_feed("")).is_empty());
    }
}
