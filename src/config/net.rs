//! Address syntax of `Server`, `ServerActive`, `SourceIP` and host names, with the
//! accept/reject decisions of zabbix_agentd 6.0, and the `Server=` peer match.
//!
//! Pure: no resolution, no sockets. zabbix's own address checks are laxer than an address
//! parser (`a:1:2` passes its IPv6 test, `1.2.3.400` passes as a DNS name); zagent takes the
//! same decisions, then stores what is not a real address as a name, which never resolves
//! and so never matches — what zabbix does with it at run time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::{ActiveAddr, ActiveServer, ServerPeer};

/// Longest DNS name zabbix accepts (`ZBX_MAX_DNSNAME_LEN`).
pub const MAX_DNSNAME_LEN: usize = 255;
/// Longest `Hostname` (`ZBX_MAX_HOSTNAME_LEN`).
pub const MAX_HOSTNAME_LEN: usize = 128;

/// zabbix's `is_ip4`: four dot-separated decimal octets of 1–3 digits, each ≤ 255.
pub fn is_ip4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|c| c.is_ascii_digit())
                && p.parse::<u16>().map(|v| v <= 255).unwrap_or(false)
        })
}

/// zabbix's `is_ip6`: 2–7 colons, groups of at most 4 hex digits, at most one `::`, an
/// optional dotted IPv4 tail. Laxer than RFC 4291 (it takes `a:1:2`).
pub fn is_ip6(s: &str) -> bool {
    let b = s.as_bytes();
    let (mut xdigits, mut only_xdigits, mut colons, mut dbl) = (0usize, false, 0usize, 0usize);
    let mut stop = b.len();
    for (i, c) in b.iter().enumerate() {
        if c.is_ascii_hexdigit() {
            xdigits += 1;
            only_xdigits = true;
        } else if *c == b':' {
            if xdigits == 0 && colons > 0 {
                only_xdigits = true;
                dbl += 1;
            }
            if xdigits > 4 || dbl > 1 {
                stop = i;
                break;
            }
            xdigits = 0;
            colons += 1;
        } else {
            only_xdigits = false;
            stop = i;
            break;
        }
    }
    if !(2..=7).contains(&colons) || dbl > 1 || xdigits > 4 {
        return false;
    }
    if only_xdigits && stop == b.len() {
        return true;
    }
    if only_xdigits {
        return false;
    }
    match s.rfind(':') {
        Some(last) if colons < 7 && last < stop => is_ip4(&s[last + 1..]),
        _ => false,
    }
}

/// zabbix's `is_supported_ip`.
pub fn is_supported_ip(s: &str) -> bool {
    is_ip4(s) || is_ip6(s)
}

/// zabbix's `zbx_validate_hostname`: starts with a letter or digit; then letters, digits,
/// `-`, `_` and single dots; at most [`MAX_DNSNAME_LEN`] characters.
pub fn is_dns_name(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(first) = b.first() else {
        return false;
    };
    if !first.is_ascii_alphanumeric() || b.len() > MAX_DNSNAME_LEN {
        return false;
    }
    let mut after_dot = false;
    for c in &b[1..] {
        if c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_' {
            after_dot = false;
        } else if *c == b'.' && !after_dot {
            after_dot = true;
        } else {
            return false;
        }
    }
    true
}

/// zabbix's `zbx_check_hostname` for `Hostname` entries: letters, digits, `.`, ` `, `_`,
/// `-`; not empty; at most [`MAX_HOSTNAME_LEN`] characters. The error is zabbix's text.
pub fn check_hostname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("name is empty".to_string());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | ' ' | '_' | '-')))
    {
        return Err(format!("name contains invalid character '{bad}'"));
    }
    if name.len() > MAX_HOSTNAME_LEN {
        return Err(format!(
            "name is too long (max {MAX_HOSTNAME_LEN} characters)"
        ));
    }
    Ok(())
}

/// zabbix's `zbx_trim_str_list`: drops spaces and tabs around each comma-separated item.
pub fn trim_list(value: &str) -> String {
    value
        .split(',')
        .map(|item| item.trim_matches([' ', '\t']))
        .collect::<Vec<_>>()
        .join(",")
}

/// An IPv4-mapped (`::ffff:a.b.c.d`) or IPv4-compatible (`::a.b.c.d`, first octet not 0)
/// IPv6 address as the IPv4 address it stands for.
pub fn embedded_v4(a: &Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = a.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = a.segments();
    if s[..6].iter().all(|x| *x == 0) && (s[6] >> 8) != 0 {
        return a.to_ipv4();
    }
    None
}

/// Parses one `Server` entry that zabbix accepted (see [`validate_server_entry`]) into a
/// peer. IPv4-mapped and -compatible forms become the IPv4 network, so `::ffff:127.0.0.1`
/// and `127.0.0.1` mean the same; anything the Rust parsers refuse stays a name.
pub fn server_peer(entry: &str) -> ServerPeer {
    if let Some((ip, prefix)) = entry.split_once('/') {
        let net = match (ip.parse::<IpAddr>(), prefix.parse::<u8>()) {
            (Ok(IpAddr::V4(a)), Ok(p)) => Ipv4Net::new(a, p).ok().map(|n| IpNet::V4(n.trunc())),
            (Ok(IpAddr::V6(a)), Ok(p)) => match embedded_v4(&a) {
                Some(v4) if p >= 96 => Ipv4Net::new(v4, p - 96).ok().map(|n| IpNet::V4(n.trunc())),
                _ => Ipv6Net::new(a, p).ok().map(|n| IpNet::V6(n.trunc())),
            },
            _ => None,
        };
        return match net {
            Some(n) => ServerPeer::Net(n),
            None => ServerPeer::Name(entry.to_string()),
        };
    }
    match entry.parse::<IpAddr>() {
        Ok(IpAddr::V6(a)) => match embedded_v4(&a) {
            Some(v4) => ServerPeer::Net(IpNet::from(IpAddr::V4(v4))),
            None => ServerPeer::Net(IpNet::from(IpAddr::V6(a))),
        },
        Ok(ip) => ServerPeer::Net(IpNet::from(ip)),
        Err(_) => ServerPeer::Name(entry.to_string()),
    }
}

/// zabbix's check of one `Server` entry: `ip/prefix` (prefix 0–32 or 0–128), an address,
/// or a DNS name.
pub fn validate_server_entry(entry: &str) -> bool {
    match entry.split_once('/') {
        Some((ip, prefix)) => {
            let max = if is_ip4(ip) {
                32
            } else if is_ip6(ip) {
                128
            } else {
                return false;
            };
            !prefix.is_empty()
                && prefix.bytes().all(|c| c.is_ascii_digit())
                && prefix.parse::<u32>().map(|p| p <= max).unwrap_or(false)
        }
        None => is_supported_ip(entry) || is_dns_name(entry),
    }
}

/// Whether `peer` falls in `net`, the way zabbix compares a connecting peer with a
/// `Server` entry: an IPv4 peer also matches an IPv6 entry through its mapped and
/// compatible forms (so `::/0` admits everyone), and an IPv4-mapped IPv6 peer counts as
/// the IPv4 address it carries.
pub fn net_contains(net: &IpNet, peer: IpAddr) -> bool {
    let peer = match peer {
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(a),
        },
        v4 => v4,
    };
    match (net, peer) {
        (IpNet::V4(n), IpAddr::V4(a)) => n.contains(&a),
        (IpNet::V6(n), IpAddr::V6(a)) => {
            n.contains(&a) || embedded_v4(&a).is_some_and(|v4| net_contains(net, IpAddr::V4(v4)))
        }
        (IpNet::V6(n), IpAddr::V4(a)) => {
            n.contains(&a.to_ipv6_mapped()) || n.contains(&a.to_ipv6_compatible())
        }
        (IpNet::V4(_), IpAddr::V6(_)) => false,
    }
}

impl ServerPeer {
    /// Whether this entry admits `peer` without resolving names (a `Name` entry never
    /// matches here: the listener resolves it on every connection, as zabbix does, and
    /// compares each resolved address with [`net_contains`]).
    pub fn admits(&self, peer: IpAddr) -> bool {
        match self {
            ServerPeer::Net(n) => net_contains(n, peer),
            ServerPeer::Name(_) => false,
        }
    }
}

/// Parses one `ServerActive` element (`host`, `host:port`, `[ipv6]`, `[ipv6]:port`, bare
/// IPv6) as zabbix's `parse_serveractive_element`; `None` when zabbix calls it invalid.
pub fn parse_active_addr(s: &str, default_port: u16) -> Option<ActiveAddr> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (inner, after) = rest.split_once(']')?;
        if !is_ip6(inner) {
            return None;
        }
        let port = match after {
            "" => default_port,
            _ => parse_port(after.strip_prefix(':')?)?,
        };
        (inner, port)
    } else if s.matches(':').count() > 1 {
        (s, default_port)
    } else if let Some((h, p)) = s.split_once(':') {
        (h, parse_port(p)?)
    } else {
        (s, default_port)
    };
    if !(is_supported_ip(host) || is_dns_name(host)) {
        return None;
    }
    Some(ActiveAddr {
        host: host.to_string(),
        port,
    })
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    p.parse::<u16>().ok()
}

/// Parses a whole `ServerActive` value: `,` separates independent servers, `;` the nodes of
/// one HA cluster. The error is zabbix's text for the first bad element.
pub fn parse_server_active(value: &str, default_port: u16) -> Result<Vec<ActiveServer>, String> {
    let mut servers = Vec::new();
    let mut seen: Vec<ActiveAddr> = Vec::new();
    for group in value.split(',') {
        let mut nodes = Vec::new();
        for element in group.split(';') {
            let Some(addr) = parse_active_addr(element, default_port) else {
                return Err(format!(
                    "error parsing the \"ServerActive\" parameter: address \"{element}\" is invalid"
                ));
            };
            if seen.contains(&addr) {
                return Err(format!(
                    "error parsing the \"ServerActive\" parameter: address \"{element}\" specified more than once"
                ));
            }
            seen.push(addr.clone());
            nodes.push(addr);
        }
        servers.push(ActiveServer { nodes });
    }
    Ok(servers)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn ip_tests_like_zabbix() {
        for ok in ["127.0.0.1", "010.1.1.1", "0.0.0.0"] {
            assert!(is_ip4(ok), "{ok}");
        }
        for bad in ["1.2.3", "300.1.1.1", "1.2.3.4.5", "1..2.3", "a.b.c.d", ""] {
            assert!(!is_ip4(bad), "{bad}");
        }
        for ok in [
            "::1",
            "::",
            "fe80::1",
            "::ffff:127.0.0.1",
            "a:1:2",
            "1:2:3:4:5:6:7:8",
        ] {
            assert!(is_ip6(ok), "{ok}");
        }
        for bad in [
            "::1:20051",
            "1",
            "fe80::1%eth0",
            "1:2:3:4:5:6:7:8:9",
            "1::2::3",
            "[::1]",
        ] {
            assert!(!is_ip6(bad), "{bad}");
        }
    }

    #[test]
    fn dns_names_like_zabbix() {
        for ok in ["localhost", "a.b.", "1.2.3", "a_b-c.d", "300.1.1.1"] {
            assert!(is_dns_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a..b", "a b", "bad!", "*", ".a"] {
            assert!(!is_dns_name(bad), "{bad}");
        }
        assert!(is_dns_name(&"a".repeat(255)));
        assert!(!is_dns_name(&"a".repeat(256)));
    }

    #[test]
    fn server_entries() {
        for ok in [
            "10.0.0.0/8",
            "::/0",
            "10.1.2.3/8",
            "127.0.0.1/0",
            "zabbix.example.com",
        ] {
            assert!(validate_server_entry(ok), "{ok}");
        }
        for bad in [
            "10.0.0.0/33",
            "::1/129",
            "",
            "bad_name!",
            "[::1]",
            "127.0.0.1:10051",
            "a/8",
            "1.2.3.4/",
        ] {
            assert!(!validate_server_entry(bad), "{bad}");
        }
    }

    #[test]
    fn v4_mapped_server_entries_normalise() {
        let v4 = server_peer("127.0.0.1");
        assert_eq!(server_peer("::ffff:127.0.0.1"), v4);
        assert_eq!(server_peer("::127.0.0.1"), v4);
        assert_eq!(
            server_peer("::ffff:10.0.0.0/104"),
            ServerPeer::Net("10.0.0.0/8".parse().unwrap())
        );
        assert_eq!(
            server_peer("::1"),
            ServerPeer::Net("::1/128".parse().unwrap())
        );
        assert_eq!(server_peer("a:1:2"), ServerPeer::Name("a:1:2".into()));
    }

    #[test]
    fn peers_match_across_families() {
        let lo4: IpAddr = "127.0.0.1".parse().unwrap();
        let lo4_mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let lo6: IpAddr = "::1".parse().unwrap();
        let p = server_peer("127.0.0.1");
        assert!(p.admits(lo4) && p.admits(lo4_mapped) && !p.admits(lo6));
        let p = server_peer("::ffff:127.0.0.1");
        assert!(p.admits(lo4) && p.admits(lo4_mapped));
        let all6 = server_peer("::/0");
        assert!(all6.admits(lo4) && all6.admits(lo6));
        let all4 = server_peer("0.0.0.0/0");
        assert!(all4.admits(lo4) && all4.admits(lo4_mapped) && !all4.admits(lo6));
        let net = server_peer("10.0.0.0/8");
        assert!(
            net.admits("10.9.8.7".parse().unwrap()) && !net.admits("11.0.0.1".parse().unwrap())
        );
    }

    fn addrs(v: &str) -> Vec<Vec<String>> {
        parse_server_active(v, 10051)
            .unwrap()
            .into_iter()
            .map(|s| s.nodes.iter().map(|n| n.to_string()).collect())
            .collect()
    }

    #[test]
    fn server_active_syntax() {
        assert_eq!(addrs("127.0.0.1"), vec![vec!["127.0.0.1:10051"]]);
        assert_eq!(addrs("a:20051,b"), vec![vec!["a:20051"], vec!["b:10051"]]);
        assert_eq!(
            addrs("a;b:1,c"),
            vec![vec!["a:10051", "b:1"], vec!["c:10051"]]
        );
        assert_eq!(addrs("[::1]:20051"), vec![vec!["[::1]:20051"]]);
        assert_eq!(addrs("::1"), vec![vec!["[::1]:10051"]]);
        assert_eq!(addrs("[::1]"), vec![vec!["[::1]:10051"]]);
        assert_eq!(addrs("a:10052,a"), vec![vec!["a:10052"], vec!["a:10051"]]);
        assert_eq!(addrs("A,a"), vec![vec!["A:10051"], vec!["a:10051"]]);
        assert_eq!(addrs("a:010"), vec![vec!["a:10"]]);
    }

    #[test]
    fn server_active_errors_name_the_element() {
        let err = |v: &str| parse_server_active(v, 10051).unwrap_err();
        assert_eq!(
            err("a,a"),
            "error parsing the \"ServerActive\" parameter: address \"a\" specified more than once"
        );
        assert_eq!(err("a;a:10051"), "error parsing the \"ServerActive\" parameter: address \"a:10051\" specified more than once");
        assert_eq!(err("[::1]:10051,::1"), "error parsing the \"ServerActive\" parameter: address \"::1\" specified more than once");
        for bad in [
            "a,",
            ",a",
            "a;",
            "a:",
            "a:x",
            "a:+1",
            "a:65536",
            "bad!",
            "a ;b",
            "[a]:1",
            "[127.0.0.1]",
            "[::1]x",
            "[::1]:",
            "[::1",
            "::1:20051",
            "fe80::1%eth0",
        ] {
            assert!(parse_server_active(bad, 10051).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostnames() {
        assert!(check_hostname("a.b-c_d e").is_ok());
        assert_eq!(check_hostname(""), Err("name is empty".into()));
        assert_eq!(
            check_hostname("a$b"),
            Err("name contains invalid character '$'".into())
        );
        assert!(check_hostname(&"a".repeat(128)).is_ok());
        assert_eq!(
            check_hostname(&"a".repeat(129)),
            Err("name is too long (max 128 characters)".into())
        );
        assert_eq!(trim_list(" a , b\t,c "), "a,b,c");
    }
}
