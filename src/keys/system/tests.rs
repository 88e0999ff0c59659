//! Tests of the `system.*` family on fixtures and synthetic values.

use super::*;
use super::{cpu::*, hardware::*, memory::*, software::*, swap::*, time::*, uname::*, users::*};
use crate::keys::Value;
use crate::regexp::Regexp;

const MEMINFO: &str = include_str!("../../../tests/fixtures/proc/meminfo");

#[test]
fn memory_modes_from_fixture() {
    let kb = 1024u64;
    let m = |mode| memory_value(MEMINFO, mode);
    assert_eq!(m("total"), Ok(Value::Uint(24684084 * kb)));
    assert_eq!(m(""), Ok(Value::Uint(24684084 * kb)));
    assert_eq!(m("free"), Ok(Value::Uint(23344664 * kb)));
    assert_eq!(m("used"), Ok(Value::Uint((24684084 - 23344664) * kb)));
    assert_eq!(m("available"), Ok(Value::Uint(24277156 * kb)));
    assert_eq!(m("buffers"), Ok(Value::Uint(10620 * kb)));
    assert_eq!(m("cached"), Ok(Value::Uint(1089192 * kb)));
    assert_eq!(m("active"), Ok(Value::Uint(491900 * kb)));
    assert_eq!(m("inactive"), Ok(Value::Uint(607908 * kb)));
    assert_eq!(m("anon"), Ok(Value::Uint(14800 * kb)));
    assert_eq!(m("slab"), Ok(Value::Uint(142372 * kb)));
    let Ok(Value::Float(p)) = m("pused") else {
        panic!("pused not a float")
    };
    assert!((p - 5.426_249_562).abs() < 1e-6, "{p}");
    let Ok(Value::Float(p)) = m("pavailable") else {
        panic!("pavailable not a float")
    };
    assert!((p - 98.351_455_942).abs() < 1e-6, "{p}");
    assert_eq!(
        m("shared"),
        Err(NotSupported::new("Supported for Linux 2.4 only."))
    );
}

#[test]
fn memory_available_fallback_without_memavailable() {
    let text = "MemTotal: 100 kB\nMemFree: 10 kB\nBuffers: 5 kB\nCached: 20 kB\n";
    assert_eq!(memory_value(text, "available"), Ok(Value::Uint(35 * 1024)));
    assert_eq!(
        memory_value("MemTotal: 0 kB\nMemFree: 0 kB\n", "pused"),
        Err(NotSupported::new(ZERO_TOTAL))
    );
}

#[test]
fn swap_without_swap_is_100_free() {
    assert_eq!(swap_value(MEMINFO, "pfree"), Ok(Value::Float(100.0)));
    assert_eq!(swap_value(MEMINFO, "pused"), Ok(Value::Float(0.0)));
    assert_eq!(swap_value(MEMINFO, ""), Ok(Value::Uint(0)));
    let t = "SwapTotal: 1000 kB\nSwapFree: 250 kB\n";
    assert_eq!(swap_value(t, "used"), Ok(Value::Uint(750 * 1024)));
    assert_eq!(swap_value(t, "total"), Ok(Value::Uint(1000 * 1024)));
    assert_eq!(swap_value(t, "pused"), Ok(Value::Float(75.0)));
    assert_eq!(swap_value(t, "pfree"), Ok(Value::Float(25.0)));
}

#[test]
fn hostname_types() {
    assert_eq!(
        hostname_value("Web1.Example.com", "", ""),
        Ok("Web1.Example.com".into())
    );
    assert_eq!(
        hostname_value("Web1.Example.com", "shorthost", ""),
        Ok("Web1".into())
    );
    assert_eq!(
        hostname_value("Web1.Example.com", "shorthost", "lower"),
        Ok("web1".into())
    );
    assert_eq!(
        hostname_value("h", "netbios", ""),
        Err(NotSupported::new(
            "NetBIOS is not supported on the current platform."
        ))
    );
}

#[test]
fn stat_counters_and_os_files() {
    let stat = include_str!("../../../tests/fixtures/proc/stat");
    assert_eq!(stat_counter(stat, "ctxt"), Some(12345));
    assert_eq!(stat_counter(stat, "intr"), Some(1));
    assert_eq!(stat_counter(stat, "nope"), None);
    let rel = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
    assert_eq!(
        os_pretty_name(rel).as_deref(),
        Some("Debian GNU/Linux 12 (bookworm)")
    );
    assert_eq!(
        os_pretty_name("PRETTY_NAME=Arch extra\n").as_deref(),
        Some("Arch")
    );
    assert_eq!(os_pretty_name("NAME=x\n"), None);
    assert_eq!(
        first_line("Linux version 6 \nsecond\n").as_deref(),
        Some("Linux version 6")
    );
    assert_eq!(first_line(""), None);
}

#[test]
fn utmp_users() {
    let rec = |kind: i16, pid: i32, user: &str| {
        let mut r = vec![0u8; UTMP_RECORD];
        r[..2].copy_from_slice(&kind.to_ne_bytes());
        r[4..8].copy_from_slice(&pid.to_ne_bytes());
        r[44..44 + user.len()].copy_from_slice(user.as_bytes());
        r
    };
    let mut f = Vec::new();
    f.extend(rec(2, 0, "reboot")); // BOOT_TIME
    f.extend(rec(7, 100, "alice"));
    f.extend(rec(7, 200, "bob")); // process gone
    f.extend(rec(7, 300, "")); // no user
    f.extend(rec(8, 400, "carol")); // DEAD_PROCESS
    f.extend(vec![0u8; 10]); // torn record at the end
    assert_eq!(count_utmp_users(&f, |pid| pid != 200), 1);
    assert_eq!(count_utmp_users(&f, |_| true), 2);
    assert_eq!(count_utmp_users(&[], |_| true), 0);
}

#[test]
fn cpu_discovery_shape_and_states() {
    assert_eq!(
        cpu_discovery_json(&[true, false]),
        r#"[{"{#CPU.NUMBER}":0,"{#CPU.STATUS}":"online"},{"{#CPU.NUMBER}":1,"{#CPU.STATUS}":"offline"}]"#
    );
    assert_eq!(cpu_state_index(""), Some(0));
    assert_eq!(cpu_state_index("guest_nice"), Some(9));
    assert_eq!(cpu_state_index("x"), None);
}

const CPUINFO: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel\t\t: 17\n\
        model name\t: AMD EPYC\ncpu MHz\t\t: 2596.132\npower management:\n\n\
        processor\t: 1\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2400.5\n";

#[test]
fn hw_cpu_like_agentd() {
    let none = |_| None;
    assert_eq!(
            hw_cpu_text(CPUINFO, None, CpuInfo::Full, none).as_deref(),
            Some("processor 0: AuthenticAMD AMD EPYC working at 2596MHz\nprocessor 1: AuthenticAMD AMD EPYC working at 2400MHz")
        );
    assert_eq!(
        hw_cpu_text(CPUINFO, Some(1), CpuInfo::Vendor, none).as_deref(),
        Some("AuthenticAMD")
    );
    assert_eq!(
        hw_cpu_text(CPUINFO, Some(0), CpuInfo::CurFreq, none).as_deref(),
        Some("2596000000")
    );
    assert_eq!(
        hw_cpu_text(CPUINFO, None, CpuInfo::Model, none).as_deref(),
        Some("processor 0: AMD EPYC\nprocessor 1: AMD EPYC")
    );
    assert_eq!(hw_cpu_text(CPUINFO, None, CpuInfo::MaxFreq, none), None);
    assert_eq!(
        hw_cpu_text(CPUINFO, Some(0), CpuInfo::Full, |_| Some(3_500_000)).as_deref(),
        Some("processor 0: AuthenticAMD AMD EPYC working at 2596MHz (maximum 3500MHz)")
    );
    assert_eq!(hw_cpu_text(CPUINFO, Some(5), CpuInfo::Full, none), None);
}

#[test]
fn macaddr_formats() {
    let p = |n: &str, m: &str| (n.to_string(), m.to_string());
    let pairs = [
        p("eth1", "02:00:00:00:00:02"),
        p("eth0", "02:00:00:00:00:01"),
        p("eth0", "02:00:00:00:00:01"),
    ];
    assert_eq!(
        macaddr_text(&pairs, true),
        "[eth0] 02:00:00:00:00:01, [eth0] 02:00:00:00:00:01, [eth1] 02:00:00:00:00:02"
    );
    assert_eq!(
        macaddr_text(&pairs, false),
        "02:00:00:00:00:01, 02:00:00:00:00:02"
    );
    assert_eq!(macaddr_text(&[], true), "");
}

#[test]
fn swap_sources() {
    assert_eq!(
        vmstat_swap_pages("nr_free_pages 1\npswpin 12\npswpout 34\n"),
        Some((12, 34))
    );
    assert_eq!(vmstat_swap_pages("pswpin 1\n"), None);
    let swaps = "Filename\tType\tSize\tUsed\tPriority\n/dev/sda2 partition 100 0 -2\n/swapfile file 10 0 -3\n";
    assert_eq!(swap_devices(swaps), ["/dev/sda2", "/swapfile"]);
    assert!(swap_device_matches("/dev/sda2", "sda2"));
    assert!(swap_device_matches("/dev/sda2", "/dev/sda2"));
    assert!(!swap_device_matches("/swapfile", "swapfile"));
}

#[test]
fn packages_like_agentd() {
    let dpkg = "zlib1g:amd64\t\t\t\tinstall\nadduser\t\t\t\t\tinstall\nold\t\tdeinstall\n\n";
    let names = package_names(dpkg, true, None);
    assert_eq!(
        package_line(Some("dpkg"), names),
        "[dpkg] adduser, zlib1g:amd64"
    );
    let re = Some(Regexp::new("^z").ok());
    assert_eq!(
        package_line(None, package_names(dpkg, true, re.as_ref())),
        "zlib1g:amd64"
    );
    let bad = Some(None);
    assert_eq!(
        package_line(Some("dpkg"), package_names(dpkg, true, bad.as_ref())),
        "[dpkg]"
    );
    assert_eq!(
        package_names("a-1.0\nb-2.0\n", false, None),
        ["a-1.0", "b-2.0"]
    );
}

#[test]
fn load_fixed_point() {
    assert_eq!(load_from_fixed(6496), 0.09912109375);
    assert_eq!(load_from_fixed(65536), 1.0);
}

#[test]
fn local_time_format() {
    use chrono::TimeZone;
    let tz = chrono::FixedOffset::east_opt(5 * 3600 + 1800).map(|o| {
        o.with_ymd_and_hms(2026, 11, 21, 14, 26, 59)
            .single()
            .map(|t| t + chrono::Duration::milliseconds(850))
    });
    let Some(Some(t)) = tz else {
        panic!("bad time")
    };
    assert_eq!(local_time_text(&t), "2026-11-21,14:26:59.850,+05:30");
}
