//! Fuzz target: every key that parses must format to text that parses back to the same
//! key, and formatting must be stable (format ∘ parse ∘ format = format).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zbx_proto::key::ItemKey;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(key) = ItemKey::parse(text) else {
        return;
    };
    let formatted = key.to_string();
    let again = ItemKey::parse(&formatted);
    assert_eq!(again.as_ref(), Ok(&key), "{text:?} -> {formatted:?}");
    if let Ok(again) = again {
        assert_eq!(again.to_string(), formatted);
    }
});
