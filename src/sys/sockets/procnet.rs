//! `/proc/net/{tcp,tcp6,udp,udp6}` reader: the fallback socket table where netlink
//! sock_diag is unavailable.
//!
//! Owns parsing the kernel's text tables into [`SockRecord`]s (pure, tested on fixtures)
//! and reading the files. It must not be used when netlink works (it costs ~7x a dump:
//! the kernel formats every socket as text), and it never allocates per socket.

use std::path::Path;

use super::model::{state, Proto, SockRecord, AF_INET, AF_INET6};

/// Why the table could not be read.
#[derive(Debug, thiserror::Error)]
#[error("Cannot open {path}: {source}")]
pub struct ProcNetError {
    /// The file.
    pub path: String,
    /// The OS error.
    pub source: std::io::Error,
}

fn hex_u32(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 8 {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// Parses an address as the kernel prints it: IPv4 = one 32-bit word in host order
/// (`0100007F` = 127.0.0.1 on little-endian), IPv6 = four such words.
fn parse_addr(s: &str, family: u8) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    let words = if family == AF_INET { 1 } else { 4 };
    if s.len() != words * 8 {
        return None;
    }
    for w in 0..words {
        let v = hex_u32(s.get(w * 8..w * 8 + 8)?)?;
        out[w * 4..w * 4 + 4].copy_from_slice(&v.to_ne_bytes());
    }
    Some(out)
}

fn parse_endpoint(s: &str, family: u8) -> Option<([u8; 16], u16)> {
    let (a, p) = s.split_once(':')?;
    let port = u16::from_str_radix(p, 16).ok()?;
    Some((parse_addr(a, family)?, port))
}

/// Parses one table line (`sl: local rem st tx:rx tr:when retr uid timeout inode …`).
/// The header line and malformed lines give `None`.
pub fn parse_line(line: &str, family: u8) -> Option<SockRecord> {
    let mut it = line.split_ascii_whitespace();
    let sl = it.next()?;
    if !sl.ends_with(':') {
        return None;
    }
    let (src, sport) = parse_endpoint(it.next()?, family)?;
    let (dst, dport) = parse_endpoint(it.next()?, family)?;
    let st = u8::from_str_radix(it.next()?, 16).ok()?;
    // tx_queue:rx_queue, tr:tm->when, retrnsmt, uid, timeout, inode
    let (tx, rx) = it
        .next()
        .and_then(|q| q.split_once(':'))
        .map_or((0, 0), |(t, r)| {
            (hex_u32(t).unwrap_or(0), hex_u32(r).unwrap_or(0))
        });
    let uid = it.nth(2).and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
    let inode = it.nth(1).and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
    Some(SockRecord {
        family,
        state: if st == state::NEW_SYN_RECV {
            state::SYN_RECV
        } else {
            st
        },
        sport,
        dport,
        src,
        dst,
        inode,
        // For a listener the text table has the accept queue in rx_queue but not the
        // backlog limit.
        rqueue: rx,
        wqueue: if st == state::LISTEN { 0 } else { tx },
        uid,
    })
}

/// Parses a whole table, calling `visit` per socket.
pub fn parse_table(text: &str, family: u8, visit: &mut dyn FnMut(&SockRecord)) {
    for line in text.lines() {
        if let Some(r) = parse_line(line, family) {
            visit(&r);
        }
    }
}

/// Reads and parses `<root>/net/{tcp,tcp6}` (or udp). A missing IPv6 table is skipped
/// (no IPv6 in this kernel); a missing IPv4 table is an error.
pub fn visit(
    proc_root: &Path,
    proto: Proto,
    visit: &mut dyn FnMut(&SockRecord),
) -> Result<(), ProcNetError> {
    for (suffix, family) in [("", AF_INET), ("6", AF_INET6)] {
        let path = proc_root
            .join("net")
            .join(format!("{}{suffix}", proto.name()));
        match std::fs::read_to_string(&path) {
            Ok(text) => parse_table(&text, family, visit),
            Err(e) if family == AF_INET6 && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ProcNetError {
                    path: path.display().to_string(),
                    source,
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const TCP: &str = include_str!("../../../tests/fixtures/net/proc_net_tcp");
    const TCP6: &str = include_str!("../../../tests/fixtures/net/proc_net_tcp6");
    const UDP: &str = include_str!("../../../tests/fixtures/net/proc_net_udp");

    fn all(text: &str, family: u8) -> Vec<SockRecord> {
        let mut v = Vec::new();
        parse_table(text, family, &mut |r| v.push(*r));
        v
    }

    #[test]
    fn ipv4_table() {
        let v = all(TCP, AF_INET);
        assert_eq!(v.len(), 4);
        assert_eq!(v[0].local_ip().to_string(), "127.0.0.1");
        assert_eq!(v[0].sport, 10050);
        assert_eq!(v[0].state, state::LISTEN);
        assert_eq!(v[0].inode, 24680);
        assert_eq!(v[1].remote_ip().to_string(), "127.0.0.1");
        assert_eq!(v[1].dport, 10050);
        assert_eq!(v[1].state, state::TIME_WAIT);
        assert_eq!(v[1].inode, 0);
        assert_eq!(v[2].state, state::ESTABLISHED);
        assert_eq!(v[2].local_ip().to_string(), "192.0.2.2");
        assert_eq!(v[3].state, state::SYN_RECV);
    }

    #[test]
    fn ipv6_table_with_mapped_addresses() {
        let v = all(TCP6, AF_INET6);
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].local_ip().to_string(), "::");
        assert_eq!(v[0].state, state::LISTEN);
        assert_eq!(v[0].sport, 22);
        assert_eq!(v[1].local_ip().to_string(), "::1");
        assert_eq!(v[1].state, state::ESTABLISHED);
        assert_eq!(v[2].local_ip().to_string(), "::ffff:127.0.0.1");
        assert_eq!(v[2].state, state::CLOSE_WAIT);
    }

    #[test]
    fn udp_table() {
        let v = all(UDP, AF_INET);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].state, state::CLOSE);
        assert_eq!(v[0].sport, 53);
        assert_eq!(v[1].state, state::ESTABLISHED);
    }

    #[test]
    fn malformed_lines_are_skipped() {
        assert!(parse_line("  sl  local_address rem_address   st", AF_INET).is_none());
        assert!(parse_line("   0: 0100007F:ZZZZ 00000000:0000 0A", AF_INET).is_none());
        assert!(parse_line("   0: 0100007F:0050", AF_INET).is_none());
        assert!(parse_line("", AF_INET).is_none());
    }
}
