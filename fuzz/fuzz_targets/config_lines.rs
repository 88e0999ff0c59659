//! Fuzz target: the `zabbix_agentd.conf` line reader. Every entry sits on a line of the
//! input, has a name without `=` and a value without leading blanks; the entries written
//! back as `name=value` lines read back to the same entries, without errors.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use zagent::fuzzing::config_lines;

fuzz_target!(|data: &[u8]| {
    let file = Path::new("fuzz.conf");
    let (entries, errors) = config_lines(data, file);
    let lines = data.split(|&b| b == b'\n').count();
    assert!(entries.len() + errors.len() <= lines);
    for e in &entries {
        assert!((1..=lines).contains(&e.origin.line), "{e:?}");
        assert!(!e.key.contains(['=', '\n']), "{e:?}");
        assert!(!e.key.starts_with([' ', '\t', '#']), "{e:?}");
        assert!(!e.key.ends_with([' ', '\t', '\r']), "{e:?}");
        assert!(!e.value.contains('\n'), "{e:?}");
        assert!(!e.value.starts_with([' ', '\t']), "{e:?}");
        assert!(!e.value.ends_with([' ', '\t', '\r']), "{e:?}");
    }
    let text: String = entries
        .iter()
        .map(|e| format!("{}={}\n", e.key, e.value))
        .collect();
    let (again, errors) = config_lines(text.as_bytes(), file);
    assert!(errors.is_empty(), "{text:?}: {errors:?}");
    let pairs = |v: &[zagent::fuzzing::ConfigEntry]| {
        v.iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(pairs(&again), pairs(&entries));
});
