//! Fuzz target: HTTP responses of `web.page.*`. The header parser never panics and
//! gives no body to 1xx/204/304; the chunked decoder gives the same result whether the
//! input arrives in one read or two (split point from the first byte), examines each
//! byte at most once, keeps at most `MAX_BODY` bytes, and a decoded body re-encoded in
//! chunks decodes to itself; `Content-Encoding` decoding stays bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zagent::fuzzing::{dechunk, decode_body, parse_head, Dechunker, Framing};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    if let Ok(head) = parse_head(rest) {
        if (100..200).contains(&head.status) || head.status == 204 || head.status == 304 {
            assert_eq!(head.framing, Framing::None);
        }
    }
    let whole = dechunk(rest);
    let cut = rest.len() * usize::from(ctl) / 255;
    let mut d = Dechunker::new();
    let split = match d.feed(&rest[..cut]) {
        Ok(true) => Ok(true),
        Ok(false) => d.feed(&rest[cut..]),
        Err(e) => Err(e),
    };
    assert!(d.work() as usize <= rest.len());
    assert_eq!(d.consumed() as u64, d.work());
    match (&whole, split) {
        (Ok(Some(a)), Ok(true)) => assert_eq!(a, &d.into_body()),
        (Ok(None), Ok(false)) => {}
        (Err(a), Err(b)) => assert_eq!(a, &b),
        (w, s) => panic!("one read {w:?}, split at {cut} {s:?}"),
    }
    if let Ok(Some(body)) = whole {
        assert!(body.len() <= 16 * 1024 * 1024);
        let size = usize::from(ctl) + 1;
        let mut enc = Vec::new();
        for piece in body.chunks(size) {
            enc.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            enc.extend_from_slice(piece);
            enc.extend_from_slice(b"\r\n");
        }
        enc.extend_from_slice(b"0\r\n\r\n");
        assert_eq!(dechunk(&enc), Ok(Some(body)));
    }
    let encoding = ["gzip", "deflate", "x-gzip", "br"][usize::from(ctl & 3)];
    if let Ok(out) = decode_body(Some(encoding), rest.to_vec()) {
        assert!(out.len() <= 16 * 1024 * 1024);
    }
});
