//! Fuzz target: the `zabbix_agentd.conf` line reader. Every entry sits on a line of the
//! input, has a name without `=` and a value without leading blanks; the entries written
//! back as `name=value` lines read back to the same entries, without errors. Each value
//! (and the whole input) also goes through the value parsers with a syntax of their own:
//! a `ServerActive` list written back from what was parsed parses to the same servers; a
//! `Server` entry zabbix accepts becomes a peer; a PSK file that decodes re-encodes.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use zagent::fuzzing::{
    config_lines, parse_psk_file, parse_server_active, server_peer, validate_server_entry,
};

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
    for value in entries
        .iter()
        .map(|e| e.value.as_str())
        .chain(std::str::from_utf8(data))
    {
        check_values(value);
    }
    if let Ok(psk) = parse_psk_file(data) {
        let hex: String = psk.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let again = parse_psk_file(hex.as_bytes()).expect("re-encoded PSK");
        assert_eq!(again.as_bytes(), psk.as_bytes());
    }
});

fn check_values(value: &str) {
    if let Ok(servers) = parse_server_active(value, 10051) {
        assert!(servers.iter().all(|s| !s.nodes.is_empty()));
        let text = servers
            .iter()
            .map(|s| {
                s.nodes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(";")
            })
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            parse_server_active(&text, 10051).as_ref(),
            Ok(&servers),
            "{value:?} -> {text:?}"
        );
    }
    for entry in value.split(',') {
        if validate_server_entry(entry) {
            let _ = server_peer(entry);
        }
    }
}
