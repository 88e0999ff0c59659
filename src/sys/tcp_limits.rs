//! TCP kernel limits: the ephemeral port range (`ip_local_port_range` minus
//! `ip_local_reserved_ports`), the TCP sysctls that bound connection handling, and the
//! conntrack table's fill. Fetch (`read_*`, under an overridable `/proc` root) + pure
//! parsers tested on fixtures. Must not know item keys or JSON.

use std::path::Path;

/// A sysctl that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Cannot parse {path}: {what} (got \"{text}\")")]
pub struct LimitsError {
    /// The file.
    pub path: String,
    /// What was expected.
    pub what: &'static str,
    /// What the file held (first 64 bytes).
    pub text: String,
}

fn bad(path: &str, what: &'static str, text: &str) -> LimitsError {
    LimitsError {
        path: path.to_string(),
        what,
        text: text.chars().take(64).collect(),
    }
}

/// `ip_local_port_range`: two numbers, low and high, separated by whitespace.
pub fn parse_port_range(text: &str) -> Option<(u16, u16)> {
    let mut it = text.split_ascii_whitespace();
    let low: u16 = it.next()?.parse().ok()?;
    let high: u16 = it.next()?.parse().ok()?;
    (it.next().is_none() && low <= high).then_some((low, high))
}

/// `ip_local_reserved_ports`: a comma-separated list of ports and `a-b` ranges, or
/// empty. Returns the list of inclusive ranges.
pub fn parse_reserved_ports(text: &str) -> Option<Vec<(u16, u16)>> {
    let t = text.trim();
    let mut out = Vec::new();
    if t.is_empty() {
        return Some(out);
    }
    for part in t.split(',') {
        let part = part.trim();
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?),
            None => {
                let p = part.parse::<u16>().ok()?;
                (p, p)
            }
        };
        if a > b {
            return None;
        }
        out.push((a, b));
    }
    Some(out)
}

/// The ephemeral port range the kernel picks local ports from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EphemeralRange {
    /// `ip_local_port_range` low end.
    pub low: u16,
    /// High end (inclusive).
    pub high: u16,
    /// Reserved ranges (`ip_local_reserved_ports`), as listed.
    pub reserved: Vec<(u16, u16)>,
}

impl EphemeralRange {
    /// Ports of [low, high] that are reserved.
    pub fn reserved_in_range(&self) -> u32 {
        // Reserved ranges may overlap: count distinct ports with a bitmap of the range.
        let mut seen = vec![false; usize::from(self.high - self.low) + 1];
        for (a, b) in &self.reserved {
            let (a, b) = ((*a).max(self.low), (*b).min(self.high));
            if a <= b {
                for p in a..=b {
                    seen[usize::from(p - self.low)] = true;
                }
            }
        }
        seen.iter().filter(|s| **s).count() as u32
    }

    /// Usable ephemeral ports: the range minus the reserved ones.
    pub fn size(&self) -> u32 {
        u32::from(self.high - self.low) + 1 - self.reserved_in_range()
    }

    /// Whether `port` is in [low, high] (reserved ports included: a socket bound to
    /// one explicitly is still a local port in the range).
    #[inline]
    pub fn contains(&self, port: u16) -> bool {
        port >= self.low && port <= self.high
    }
}

fn read(root: &Path, rel: &str) -> Result<String, LimitsError> {
    let path = root.join(rel);
    std::fs::read_to_string(&path).map_err(|e| LimitsError {
        path: path.display().to_string(),
        what: "readable file",
        text: crate::sys::oserror::zbx_strerror(&e),
    })
}

/// Reads the ephemeral range from `<root>/sys/net/ipv4/` (root = `/proc`, or
/// `/proc/thread-self` to follow the thread's network namespace).
pub fn read_ephemeral(root: &Path) -> Result<EphemeralRange, LimitsError> {
    let rel = "sys/net/ipv4/ip_local_port_range";
    let text = read(root, rel)?;
    let (low, high) =
        parse_port_range(&text).ok_or_else(|| bad(rel, "two port numbers, low <= high", &text))?;
    let rel = "sys/net/ipv4/ip_local_reserved_ports";
    let reserved = match read(root, rel) {
        Ok(t) => {
            parse_reserved_ports(&t).ok_or_else(|| bad(rel, "a list of ports and ranges", &t))?
        }
        // Older kernels have no such file: nothing reserved.
        Err(_) => Vec::new(),
    };
    Ok(EphemeralRange {
        low,
        high,
        reserved,
    })
}

/// Reads one integer sysctl under `<root>/sys/`; `None` when absent or not a number.
pub fn read_int(root: &Path, rel: &str) -> Option<i64> {
    read(root, rel).ok()?.trim().parse().ok()
}

/// The conntrack table's fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conntrack {
    /// `nf_conntrack_count` and `nf_conntrack_max`.
    Available {
        /// Entries in use.
        count: u64,
        /// Table size.
        max: u64,
    },
    /// The module is not loaded (or not visible in this namespace).
    Absent,
}

/// Reads `<root>/sys/net/netfilter/nf_conntrack_{count,max}`.
pub fn read_conntrack(root: &Path) -> Conntrack {
    let n = |f: &str| read_int(root, &format!("sys/net/netfilter/{f}"));
    match (n("nf_conntrack_count"), n("nf_conntrack_max")) {
        (Some(c), Some(m)) => Conntrack::Available {
            count: u64::try_from(c).unwrap_or(0),
            max: u64::try_from(m).unwrap_or(0),
        },
        _ => Conntrack::Absent,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn port_range() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_port_range("1024 1024"), Some((1024, 1024)));
        assert_eq!(parse_port_range("60999 32768"), None);
        assert_eq!(parse_port_range("32768"), None);
        assert_eq!(parse_port_range("a b"), None);
        assert_eq!(parse_port_range("1 2 3"), None);
        assert_eq!(parse_port_range("1 70000"), None);
    }

    #[test]
    fn reserved_ports_list_syntax() {
        assert_eq!(parse_reserved_ports("\n"), Some(vec![]));
        assert_eq!(
            parse_reserved_ports("8080,40000-40009,50000\n"),
            Some(vec![(8080, 8080), (40000, 40009), (50000, 50000)])
        );
        assert_eq!(parse_reserved_ports("5-3"), None);
        assert_eq!(parse_reserved_ports("x"), None);
        assert_eq!(parse_reserved_ports("1,,2"), None);
        let r = EphemeralRange {
            low: 40000,
            high: 40099,
            // overlapping and partly outside ranges count once, inside only
            reserved: vec![(39990, 40004), (40003, 40009), (8080, 8080), (40099, 40099)],
        };
        assert_eq!(r.reserved_in_range(), 11);
        assert_eq!(r.size(), 89);
        assert!(r.contains(40000) && r.contains(40099) && !r.contains(40100));
    }

    #[test]
    fn fixtures_under_a_proc_root() {
        let d = std::env::temp_dir().join(format!("health-limits-{}", std::process::id()));
        let ipv4 = d.join("sys/net/ipv4");
        std::fs::create_dir_all(&ipv4).unwrap();
        std::fs::write(ipv4.join("ip_local_port_range"), "40000\t40999\n").unwrap();
        std::fs::write(ipv4.join("ip_local_reserved_ports"), "40000-40099\n").unwrap();
        let r = read_ephemeral(&d).unwrap();
        assert_eq!((r.low, r.high, r.size()), (40000, 40999, 900));
        assert_eq!(read_conntrack(&d), Conntrack::Absent);
        let nf = d.join("sys/net/netfilter");
        std::fs::create_dir_all(&nf).unwrap();
        std::fs::write(nf.join("nf_conntrack_count"), "12\n").unwrap();
        std::fs::write(nf.join("nf_conntrack_max"), "262144\n").unwrap();
        assert_eq!(
            read_conntrack(&d),
            Conntrack::Available {
                count: 12,
                max: 262144
            }
        );
        std::fs::write(ipv4.join("ip_local_port_range"), "bogus\n").unwrap();
        let e = read_ephemeral(&d).unwrap_err().to_string();
        assert!(
            e.contains("ip_local_port_range") && e.contains("bogus"),
            "{e}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
