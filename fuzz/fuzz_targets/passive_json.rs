//! Fuzz target: the 7.0 JSON passive request, classified as the listener does before
//! running a key. A decided reply is a JSON object with `version`, and either `error` or
//! one result; a runnable request has a timeout of 1–600 whole seconds, and the request
//! rebuilt from its key and timeout classifies the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zagent::fuzzing::{passive_json, PassiveJson};

fuzz_target!(|data: &[u8]| {
    match passive_json(data) {
        PassiveJson::Plain => {
            let object = serde_json::from_slice::<serde_json::Value>(data)
                .map(|v| v.is_object())
                .unwrap_or(false);
            assert!(!object, "a JSON object classified as a plain key");
        }
        PassiveJson::Reply(reply) => {
            let v: serde_json::Value = serde_json::from_slice(&reply).expect("reply is JSON");
            assert_eq!(v["version"], "7.0.0");
            let error = v.get("error").is_some_and(|e| e.is_string());
            let one = v
                .get("data")
                .and_then(|d| d.as_array())
                .is_some_and(|d| d.len() == 1);
            assert!(error != one, "{v}");
        }
        PassiveJson::Run { key, timeout } => {
            assert!((1..=600).contains(&timeout.as_secs()));
            assert_eq!(timeout.subsec_nanos(), 0);
            let rebuilt = serde_json::json!({
                "request": "passive checks",
                "data": [{"key": key, "timeout": format!("{}s", timeout.as_secs())}],
            });
            let rebuilt = serde_json::to_vec(&rebuilt).expect("serialise");
            assert_eq!(passive_json(&rebuilt), PassiveJson::Run { key, timeout });
        }
    }
});
