//! Protocol counters from `/proc/net/snmp`, `/proc/net/netstat` and
//! `/proc/net/sockstat{,6}`: O(1) reads whatever the number of sockets.
//!
//! Owns parsing those files (pure, tested on fixtures) and reading them from a `/proc`
//! root that tests can override. It must not walk socket tables.

use std::path::Path;

/// Why a counter could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnmpError {
    /// The file could not be read.
    #[error("Cannot open {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Looks `name` up in the two-line tables of `/proc/net/snmp` and `/proc/net/netstat`
/// (`Prefix: name1 name2 …` followed by `Prefix: v1 v2 …`) under `prefix` (`Tcp`,
/// `TcpExt`, `Udp`). Names compare case-insensitively. Values may be negative
/// (`Tcp: MaxConn` is -1).
pub fn lookup_pairs(text: &str, prefix: &str, name: &str) -> Option<i64> {
    let mut lines = text.lines();
    while let Some(names) = lines.next() {
        let Some((p, rest)) = names.split_once(':') else {
            continue;
        };
        if p != prefix {
            continue;
        }
        let values = lines.next()?;
        let (vp, vrest) = values.split_once(':')?;
        if vp != prefix {
            return None;
        }
        return rest
            .split_ascii_whitespace()
            .zip(vrest.split_ascii_whitespace())
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.parse().ok());
    }
    None
}

/// Looks up `field` on the line starting `proto:` of `/proc/net/sockstat` or
/// `sockstat6` (`TCP: inuse 5 orphan 0 tw 6 alloc 5 mem 163`). Both compare
/// case-insensitively.
pub fn lookup_sockstat(text: &str, proto: &str, field: &str) -> Option<u64> {
    for line in text.lines() {
        let Some((p, rest)) = line.split_once(':') else {
            continue;
        };
        if !p.eq_ignore_ascii_case(proto) {
            continue;
        }
        let mut it = rest.split_ascii_whitespace();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            if k.eq_ignore_ascii_case(field) {
                return v.parse().ok();
            }
        }
        return None;
    }
    None
}

fn read(root: &Path, name: &str) -> Result<String, SnmpError> {
    let path = root.join("net").join(name);
    std::fs::read_to_string(&path).map_err(|source| SnmpError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// A TCP counter: `Tcp:` of `snmp` first, then `TcpExt:` of `netstat`.
/// `Ok(None)` when neither has it.
pub fn tcp_counter(root: &Path, name: &str) -> Result<Option<i64>, SnmpError> {
    if let Some(v) = lookup_pairs(&read(root, "snmp")?, "Tcp", name) {
        return Ok(Some(v));
    }
    Ok(lookup_pairs(&read(root, "netstat")?, "TcpExt", name))
}

/// A UDP counter from `Udp:` of `snmp`.
pub fn udp_counter(root: &Path, name: &str) -> Result<Option<i64>, SnmpError> {
    Ok(lookup_pairs(&read(root, "snmp")?, "Udp", name))
}

/// A `sockstat` field: `sockstat` first, then `sockstat6` (which holds `TCP6`, `UDP6`…).
pub fn sockstat(root: &Path, proto: &str, field: &str) -> Result<Option<u64>, SnmpError> {
    if let Some(v) = lookup_sockstat(&read(root, "sockstat")?, proto, field) {
        return Ok(Some(v));
    }
    match read(root, "sockstat6") {
        Ok(t) => Ok(lookup_sockstat(&t, proto, field)),
        // No IPv6 in this kernel: the field simply does not exist.
        Err(SnmpError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn root() -> PathBuf {
        // tests/fixtures/net holds proc_net_<name>; build a fake /proc/net from them.
        let dir = std::env::temp_dir().join(format!("zagent-snmp-{}", std::process::id()));
        let net = dir.join("net");
        std::fs::create_dir_all(&net).unwrap();
        let fx = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/net");
        for n in ["snmp", "netstat", "sockstat", "sockstat6"] {
            std::fs::copy(fx.join(format!("proc_net_{n}")), net.join(n)).unwrap();
        }
        dir
    }

    #[test]
    fn snmp_and_netstat_counters() {
        let r = root();
        assert_eq!(tcp_counter(&r, "ActiveOpens").unwrap(), Some(92));
        assert_eq!(tcp_counter(&r, "passiveopens").unwrap(), Some(18));
        assert_eq!(tcp_counter(&r, "MaxConn").unwrap(), Some(-1));
        assert_eq!(tcp_counter(&r, "RetransSegs").unwrap(), Some(0));
        assert_eq!(tcp_counter(&r, "EstabResets").unwrap(), Some(7));
        assert_eq!(tcp_counter(&r, "ListenOverflows").unwrap(), Some(0));
        assert_eq!(tcp_counter(&r, "TCPTimeouts").unwrap(), Some(2));
        assert_eq!(tcp_counter(&r, "NoSuchCounter").unwrap(), None);
        assert_eq!(udp_counter(&r, "InDatagrams").unwrap(), Some(81));
        assert_eq!(udp_counter(&r, "ActiveOpens").unwrap(), None);
    }

    #[test]
    fn sockstat_fields() {
        let r = root();
        assert_eq!(sockstat(&r, "TCP", "tw").unwrap(), Some(6));
        assert_eq!(sockstat(&r, "tcp", "mem").unwrap(), Some(163));
        assert_eq!(sockstat(&r, "sockets", "used").unwrap(), Some(92));
        assert_eq!(sockstat(&r, "FRAG", "memory").unwrap(), Some(0));
        assert_eq!(sockstat(&r, "TCP6", "inuse").unwrap(), Some(0));
        assert_eq!(sockstat(&r, "TCP", "nope").unwrap(), None);
        assert_eq!(sockstat(&r, "NOPE", "inuse").unwrap(), None);
    }

    #[test]
    fn missing_file_is_an_error_naming_it() {
        let e = tcp_counter(Path::new("/nonexistent-proc"), "ActiveOpens").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("Cannot open /nonexistent-proc/net/snmp"),
            "{e}"
        );
    }

    #[test]
    fn mismatched_value_line() {
        assert_eq!(lookup_pairs("Tcp: A B\nUdp: 1 2\n", "Tcp", "A"), None);
        assert_eq!(lookup_pairs("Tcp: A B\nTcp: 1 2\n", "Tcp", "B"), Some(2));
    }
}
