//! `Server=` access control: is this peer allowed to ask passive checks?
//!
//! Owns address normalisation (v4-mapped and v4-compatible IPv6 peers match IPv4
//! entries) and DNS-name entries, resolved on every connection as zabbix_agentd does.
//! It never reads from or writes to the peer.

use std::net::IpAddr;

use crate::config::ServerPeer;

/// IPv4 for v4-mapped (`::ffff:a.b.c.d`) and v4-compatible (`::a.b.c.d`) IPv6 addresses,
/// the address itself otherwise.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            // ::a.b.c.d, but not :: and ::1.
            if s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1) {
                let o = v6.octets();
                return IpAddr::from([o[12], o[13], o[14], o[15]]);
            }
            ip
        }
        IpAddr::V4(_) => ip,
    }
}

/// Whether `net` (as configured) contains `peer`, comparing IPv4-in-IPv6 forms alike.
fn net_contains(net: &ipnet::IpNet, peer: IpAddr) -> bool {
    if net.contains(&peer) {
        return true;
    }
    let cpeer = canonical(peer);
    if net.contains(&cpeer) {
        return true;
    }
    // A configured ::ffff:a.b.c.d/n entry against an IPv4 peer.
    if let (ipnet::IpNet::V6(n6), IpAddr::V4(v4)) = (net, cpeer) {
        return n6.contains(&v4.to_ipv6_mapped());
    }
    false
}

/// Checks `peer` against the literal entries only (no DNS).
pub fn allowed_by_address(list: &[ServerPeer], peer: IpAddr) -> bool {
    list.iter().any(|e| match e {
        ServerPeer::Net(n) => net_contains(n, peer),
        ServerPeer::Name(_) => false,
    })
}

/// Checks `peer` against the whole list, resolving DNS names when no literal entry
/// matched.
pub async fn allowed(list: &[ServerPeer], peer: IpAddr) -> bool {
    if allowed_by_address(list, peer) {
        return true;
    }
    let cpeer = canonical(peer);
    for e in list {
        let ServerPeer::Name(name) = e else { continue };
        match tokio::net::lookup_host((name.as_str(), 0)).await {
            Ok(addrs) => {
                if addrs.map(|a| canonical(a.ip())).any(|a| a == cpeer) {
                    return true;
                }
            }
            Err(e) => tracing::debug!(name = %name, error = %e, "Cannot resolve Server entry"),
        }
    }
    false
}

/// The list as zabbix_agentd prints it in its rejection message.
pub fn describe(list: &[ServerPeer]) -> String {
    list.iter()
        .map(|e| match e {
            ServerPeer::Net(n) if n.prefix_len() == n.max_prefix_len() => n.addr().to_string(),
            ServerPeer::Net(n) => n.to_string(),
            ServerPeer::Name(s) => s.clone(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn net(s: &str) -> ServerPeer {
        ServerPeer::Net(
            s.parse()
                .unwrap_or_else(|_| ipnet::IpNet::from(s.parse::<IpAddr>().unwrap())),
        )
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v4_entries_match_mapped_and_compatible_peers() {
        let list = [net("127.0.0.1")];
        assert!(allowed_by_address(&list, ip("127.0.0.1")));
        assert!(allowed_by_address(&list, ip("::ffff:127.0.0.1")));
        assert!(allowed_by_address(&list, ip("::127.0.0.1")));
        assert!(!allowed_by_address(&list, ip("127.0.0.2")));
        assert!(!allowed_by_address(&list, ip("::1")));
    }

    #[test]
    fn mapped_entry_matches_v4_peer() {
        let list = [net("::ffff:10.0.0.0/104")];
        assert!(allowed_by_address(&list, ip("10.1.2.3")));
        assert!(!allowed_by_address(&list, ip("11.1.2.3")));
    }

    #[test]
    fn cidr_and_everything() {
        assert!(allowed_by_address(
            &[net("192.168.0.0/16")],
            ip("192.168.4.5")
        ));
        assert!(allowed_by_address(&[net("::/0")], ip("2001:db8::1")));
        assert!(allowed_by_address(
            &[net("0.0.0.0/0")],
            ip("::ffff:8.8.8.8")
        ));
        assert!(!allowed_by_address(&[net("0.0.0.0/0")], ip("2001:db8::1")));
    }

    #[test]
    fn ipv6_loopback() {
        assert!(allowed_by_address(&[net("::1")], ip("::1")));
        assert!(!allowed_by_address(&[net("::1")], ip("127.0.0.1")));
    }
}
