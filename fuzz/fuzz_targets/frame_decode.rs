//! Fuzz target: `frame::decode` on arbitrary bytes under both limit sets; whatever
//! decodes is re-encoded (plain and compressed) and must decode to the same payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zbx_proto::frame::{decode, encode, encode_compressed, Decoded, Limits, FLAG_COMPRESS};

fn payload_of(bytes: &[u8], limits: &Limits) -> Option<(Vec<u8>, usize)> {
    match decode(bytes, limits) {
        Ok(Decoded::Frame { frame, consumed }) => Some((frame.payload, consumed)),
        Ok(Decoded::Incomplete { needed }) => {
            assert!(needed > 0, "Incomplete must ask for at least one byte");
            None
        }
        Err(_) => None,
    }
}

fuzz_target!(|data: &[u8]| {
    for limits in [Limits::PASSIVE_REQUEST, Limits::REPLY] {
        let Ok(Decoded::Frame { frame, consumed }) = decode(data, &limits) else {
            let _ = payload_of(data, &limits);
            continue;
        };
        assert!(consumed <= data.len());
        let plain = encode(&frame.payload);
        if !frame.was_compressed() && frame.flags & 0x04 == 0 {
            // Our encoding of an uncompressed small frame is the 13-byte layout with
            // reserved 0; the input may differ only in `reserved`.
            assert_eq!(plain[..9], data[..9]);
            assert_eq!(plain[13..], data[13..consumed]);
        }
        assert_eq!(
            payload_of(&plain, &limits),
            Some((frame.payload.clone(), plain.len()))
        );
        let comp = encode_compressed(&frame.payload);
        assert_eq!(comp[4], 0x01 | FLAG_COMPRESS);
        assert_eq!(
            payload_of(&comp, &Limits::REPLY),
            Some((frame.payload, comp.len()))
        );
    }
});
