//! Fuzz target: every `/proc` parser on the same text (the first byte picks the CPU
//! count for `/proc/stat`). None panics; `/proc/stat` gives one entry per CPU plus the
//! total; the socket tables give records of the family asked, at most one per line;
//! other parsers give at most one item per line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zagent::fuzzing::proc::*;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let _ = cmdline_arg0_base(rest);
    let _ = cmdline_joined(rest);
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let lines = text.lines().count();
    let ncpu = usize::from(sel);
    let cpus = parse_proc_stat(text, ncpu);
    assert_eq!(cpus.len(), ncpu + 1);
    assert!(cpus.iter().filter(|c| c.is_some()).count() <= lines);
    assert!(parse_diskstats(text).len() <= lines);
    assert!(parse_net_dev(text).len() <= lines);
    assert!(net_dev_names(text).len() <= lines);
    assert!(parse_mounts(text).len() <= lines);
    let _ = parse_pid_status(text);
    for label in ["MemTotal:", "MemAvailable:", "Cached:"] {
        let _ = meminfo_bytes(text, label);
    }
    let _ = (parse_uptime(text), parse_btime(text), first_u64(text));
    for family in [2u8, 10] {
        let mut n = 0;
        net_tcp_table(text, family, &mut |r| {
            assert_eq!(r.family, family);
            n += 1;
        });
        assert!(n <= lines);
    }
    let _ = snmp_pairs(text, "Tcp:", "CurrEstab");
    let _ = snmp_pairs(text, "TcpExt:", "ListenOverflows");
    let _ = sockstat(text, "TCP:", "inuse");
    let _ = parse_pid_stat(text);
});
