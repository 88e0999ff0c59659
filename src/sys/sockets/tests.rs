//! Unit tests of the model, the wire code (annotated bytes) and the engine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::engine::*;
use super::model::*;
use super::netlink::wire::*;
use std::net::{IpAddr, Ipv6Addr};

/// One `inet_diag_msg` reply, annotated field by field.
#[allow(clippy::too_many_arguments)]
fn diag_msg(
    ty: u16,
    family: u8,
    st: u8,
    sport: u16,
    dport: u16,
    src: [u8; 16],
    dst: [u8; 16],
    inode: u32,
) -> Vec<u8> {
    let mut m = Vec::new();
    // struct nlmsghdr
    m.extend_from_slice(&88u32.to_ne_bytes()); // nlmsg_len = 16 + 72
    m.extend_from_slice(&ty.to_ne_bytes()); // nlmsg_type
    m.extend_from_slice(&2u16.to_ne_bytes()); // nlmsg_flags = NLM_F_MULTI
    m.extend_from_slice(&1u32.to_ne_bytes()); // nlmsg_seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid
                                              // struct inet_diag_msg
    m.push(family); // idiag_family
    m.push(st); // idiag_state
    m.push(0); // idiag_timer
    m.push(0); // idiag_retrans
    m.extend_from_slice(&sport.to_be_bytes()); // id.idiag_sport (big endian)
    m.extend_from_slice(&dport.to_be_bytes()); // id.idiag_dport (big endian)
    m.extend_from_slice(&src); // id.idiag_src[4]
    m.extend_from_slice(&dst); // id.idiag_dst[4]
    m.extend_from_slice(&0u32.to_ne_bytes()); // id.idiag_if
    m.extend_from_slice(&[0xaa; 8]); // id.idiag_cookie[2]
    m.extend_from_slice(&0u32.to_ne_bytes()); // idiag_expires
    m.extend_from_slice(&0u32.to_ne_bytes()); // idiag_rqueue
    m.extend_from_slice(&0u32.to_ne_bytes()); // idiag_wqueue
    m.extend_from_slice(&0u32.to_ne_bytes()); // idiag_uid
    m.extend_from_slice(&inode.to_ne_bytes()); // idiag_inode
    assert_eq!(m.len(), 88);
    m
}

fn v4(a: [u8; 4]) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&a);
    b
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().unwrap().octets()
}

fn done() -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&20u32.to_ne_bytes()); // nlmsg_len = 16 + 4
    m.extend_from_slice(&NLMSG_DONE.to_ne_bytes()); // nlmsg_type
    m.extend_from_slice(&2u16.to_ne_bytes()); // NLM_F_MULTI
    m.extend_from_slice(&1u32.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&0i32.to_ne_bytes()); // payload: 0
    m
}

fn batch() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(diag_msg(
        SOCK_DIAG_BY_FAMILY,
        AF_INET,
        state::LISTEN,
        22,
        0,
        v4([0, 0, 0, 0]),
        v4([0, 0, 0, 0]),
        100,
    ));
    b.extend(diag_msg(
        SOCK_DIAG_BY_FAMILY,
        AF_INET,
        state::ESTABLISHED,
        22,
        50000,
        v4([127, 0, 0, 1]),
        v4([127, 0, 0, 2]),
        101,
    ));
    b.extend(diag_msg(
        TCPDIAG_GETSOCK,
        AF_INET6,
        state::NEW_SYN_RECV,
        80,
        40000,
        v6("::1"),
        v6("::1"),
        0,
    ));
    b.extend(diag_msg(
        TCPDIAG_GETSOCK,
        AF_INET6,
        state::ESTABLISHED,
        80,
        40001,
        v6("::ffff:127.0.0.1"),
        v6("::ffff:10.1.2.3"),
        102,
    ));
    b.extend(diag_msg(
        TCPDIAG_GETSOCK,
        AF_INET6,
        state::TIME_WAIT,
        443,
        40002,
        v6("fd00::5"),
        v6("fd00::6"),
        0,
    ));
    b
}

fn count(buf: &[u8], f: &SockFilter) -> (StateCounts, Progress) {
    let mut c = StateCounts::default();
    let p = walk(buf, |r| {
        if f.matches(r) {
            c.add(r.state)
        }
    })
    .unwrap();
    (c, p)
}

fn af(s: &str, prefix: Option<u8>) -> AddrFilter {
    AddrFilter::new(s.parse().unwrap(), prefix).unwrap()
}

#[test]
fn counts_every_message_and_folds_request_sockets() {
    let mut b = batch();
    b.extend(done());
    let (c, p) = count(&b, &SockFilter::default());
    assert_eq!(p, Progress::Done);
    assert_eq!(c.get(state::LISTEN), 1);
    assert_eq!(c.get(state::ESTABLISHED), 2);
    assert_eq!(c.get(state::SYN_RECV), 1);
    assert_eq!(c.get(state::TIME_WAIT), 1);
    assert_eq!(c.sum(StateMask::ALL), 5);
}

#[test]
fn batch_without_done_asks_for_more() {
    let (c, p) = count(&batch(), &SockFilter::default());
    assert_eq!(p, Progress::More);
    assert_eq!(c.sum(StateMask::ALL), 5);
}

#[test]
fn decodes_ports_big_endian_and_inode() {
    let m = diag_msg(
        SOCK_DIAG_BY_FAMILY,
        AF_INET,
        1,
        0x1234,
        0xabcd,
        v4([1, 2, 3, 4]),
        v4([5, 6, 7, 8]),
        77,
    );
    let r = decode_diag_msg(&m[16..]).unwrap();
    assert_eq!((r.sport, r.dport, r.inode), (0x1234, 0xabcd, 77));
    assert_eq!(r.local_ip(), "1.2.3.4".parse::<IpAddr>().unwrap());
    assert_eq!(r.remote_ip(), "5.6.7.8".parse::<IpAddr>().unwrap());
}

#[test]
fn port_filters() {
    let f = SockFilter {
        lport: Some(80),
        ..Default::default()
    };
    assert_eq!(count(&batch(), &f).0.sum(StateMask::ALL), 2);
    let f = SockFilter {
        rport: Some(50000),
        ..Default::default()
    };
    assert_eq!(count(&batch(), &f).0.get(state::ESTABLISHED), 1);
}

#[test]
fn ipv4_filter_matches_v4_and_mapped_v6() {
    let f = SockFilter {
        laddr: Some(af("127.0.0.1", None)),
        ..Default::default()
    };
    assert_eq!(count(&batch(), &f).0.get(state::ESTABLISHED), 2);
    let f = SockFilter {
        raddr: Some(af("10.0.0.0", Some(8))),
        ..Default::default()
    };
    assert_eq!(count(&batch(), &f).0.sum(StateMask::ALL), 1);
}

#[test]
fn ipv6_filter_excludes_mapped_unless_it_is_mapped() {
    let f = SockFilter {
        laddr: Some(af("::", Some(0))),
        ..Default::default()
    };
    // native v6 only: the SYN_RECV on ::1 and the TIME_WAIT on fd00::5
    assert_eq!(count(&batch(), &f).0.sum(StateMask::ALL), 2);
    let f = SockFilter {
        laddr: Some(af("::ffff:127.0.0.1", None)),
        ..Default::default()
    };
    // mapped filter: the v4 socket on 127.0.0.1 and the mapped v6 one
    assert_eq!(count(&batch(), &f).0.get(state::ESTABLISHED), 2);
    let f = SockFilter {
        laddr: Some(af("::ffff:127.0.0.1", Some(0))),
        ..Default::default()
    };
    // a mapped filter with prefix 0 is a plain v6 filter: native v6 only
    assert_eq!(count(&batch(), &f).0.sum(StateMask::ALL), 2);
}

#[test]
fn wildcard_addresses_are_literal() {
    let f = SockFilter {
        laddr: Some(af("0.0.0.0", None)),
        ..Default::default()
    };
    assert_eq!(count(&batch(), &f).0.sum(StateMask::ALL), 1);
    let f = SockFilter {
        laddr: Some(af("::", None)),
        ..Default::default()
    };
    assert_eq!(count(&batch(), &f).0.sum(StateMask::ALL), 0);
}

#[test]
fn cidr_on_non_byte_boundary() {
    let f = af("fd00::4", Some(126));
    assert!(f.matches(AF_INET6, &v6("fd00::5")));
    assert!(!f.matches(AF_INET6, &v6("fd00::8")));
    let f = af("10.0.0.1", Some(8)); // host bits set: still the 10/8 network
    assert!(f.matches(AF_INET, &v4([10, 9, 9, 9])));
    assert!(!f.matches(AF_INET, &v4([11, 0, 0, 1])));
    assert!(AddrFilter::new("1.2.3.4".parse().unwrap(), Some(33)).is_none());
}

#[test]
fn kernel_error_and_truncation() {
    let mut e = Vec::new();
    e.extend_from_slice(&36u32.to_ne_bytes()); // nlmsg_len = 16 + 4 + 16
    e.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
    e.extend_from_slice(&0u16.to_ne_bytes());
    e.extend_from_slice(&1u32.to_ne_bytes());
    e.extend_from_slice(&0u32.to_ne_bytes());
    e.extend_from_slice(&(-22i32).to_ne_bytes()); // error = -EINVAL
    e.extend_from_slice(&[0u8; 16]); // the offending request's header
    assert_eq!(walk(&e, |_| {}), Err(WireError::Kernel(22)));
    let b = batch();
    assert!(matches!(
        walk(&b[..100], |_| {}),
        Err(WireError::Truncated(88))
    ));
}

#[test]
fn proc_fallback_counts_fixture_tables() {
    let dir = std::env::temp_dir().join(format!("zagent-sockdiag-{}", std::process::id()));
    let net = dir.join("net");
    std::fs::create_dir_all(&net).unwrap();
    let fx = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/net");
    for n in ["tcp", "tcp6", "udp"] {
        std::fs::copy(fx.join(format!("proc_net_{n}")), net.join(n)).unwrap();
    }
    let e = Engine::proc_tables(&dir);
    let t = std::time::Duration::from_secs(1);
    let all = e
        .count(Proto::Tcp, StateMask::ALL, &SockFilter::default(), t)
        .unwrap();
    assert_eq!(all.sum(StateMask::ALL), 7);
    assert_eq!(all.get(state::LISTEN), 2);
    let f = SockFilter {
        laddr: Some(af("127.0.0.1", None)),
        ..Default::default()
    };
    // v4 127.0.0.1 x3 plus the mapped ::ffff:127.0.0.1 CLOSE_WAIT
    assert_eq!(
        e.count(Proto::Tcp, StateMask::ALL, &f, t)
            .unwrap()
            .sum(StateMask::ALL),
        4
    );
    let tw = e
        .count(
            Proto::Tcp,
            StateMask::one(state::TIME_WAIT),
            &SockFilter::default(),
            t,
        )
        .unwrap();
    assert_eq!(tw.sum(StateMask::ALL), 1);
    // no udp6 table: skipped, not an error
    let u = e
        .count(Proto::Udp, StateMask::ALL, &SockFilter::default(), t)
        .unwrap();
    assert_eq!(u.get(state::CLOSE), 1);
    let missing = Engine::proc_tables("/nonexistent");
    let err = missing
        .count(Proto::Tcp, StateMask::ALL, &SockFilter::default(), t)
        .unwrap_err();
    assert!(
        err.to_string().contains("Cannot open /nonexistent/net/tcp"),
        "{err}"
    );
}

#[test]
fn port_bytecode_layout() {
    let (b, n) = port_bytecode(Some(80), Some(0x1234));
    assert_eq!(n, 32);
    // op 0: S_GE, yes 8, no 32+4; operand: port 80
    assert_eq!(&b[0..2], &[BC_S_GE, 8]);
    assert_eq!(u16::from_ne_bytes([b[2], b[3]]), 36);
    assert_eq!(u16::from_ne_bytes([b[6], b[7]]), 80);
    // op 1: S_LE, no = 24+4
    assert_eq!(&b[8..10], &[BC_S_LE, 8]);
    assert_eq!(u16::from_ne_bytes([b[10], b[11]]), 28);
    // op 2, 3: remote port
    assert_eq!(&b[16..18], &[BC_D_GE, 8]);
    assert_eq!(u16::from_ne_bytes([b[18], b[19]]), 20);
    assert_eq!(&b[24..26], &[BC_D_LE, 8]);
    assert_eq!(u16::from_ne_bytes([b[26], b[27]]), 12);
    assert_eq!(u16::from_ne_bytes([b[30], b[31]]), 0x1234);
    assert_eq!(port_bytecode(None, None).1, 0);
    let (r, len) = with_bytecode(
        &request_v2(AF_INET, Proto::Tcp, StateMask::ALL, 1),
        &b[..16],
    );
    assert_eq!(len, 72 + 4 + 16);
    assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 92); // nlmsg_len
    assert_eq!(u16::from_ne_bytes(r[72..74].try_into().unwrap()), 20); // nla_len
    assert_eq!(u16::from_ne_bytes(r[74..76].try_into().unwrap()), 1); // INET_DIAG_REQ_BYTECODE
    assert_eq!(&r[76..92], &b[..16]);
}

#[test]
fn requests_are_laid_out_as_the_kernel_expects() {
    let r = request_v2(AF_INET6, Proto::Udp, StateMask::one(state::SYN_RECV), 7);
    assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 72); // nlmsg_len
    assert_eq!(u16::from_ne_bytes(r[4..6].try_into().unwrap()), 20); // SOCK_DIAG_BY_FAMILY
    assert_eq!(u16::from_ne_bytes(r[6..8].try_into().unwrap()), 0x301); // REQUEST|DUMP
    assert_eq!(u32::from_ne_bytes(r[8..12].try_into().unwrap()), 7); // seq
    assert_eq!(r[16], 10); // sdiag_family
    assert_eq!(r[17], 17); // sdiag_protocol
    assert_eq!(r[18], 0); // idiag_ext: none
    assert_eq!(
        u32::from_ne_bytes(r[20..24].try_into().unwrap()),
        (1 << 3) | (1 << 12)
    );
    let l = request_legacy_tcp(StateMask::one(state::LISTEN), 1);
    assert_eq!(u32::from_ne_bytes(l[0..4].try_into().unwrap()), 76);
    assert_eq!(u16::from_ne_bytes(l[4..6].try_into().unwrap()), 18); // TCPDIAG_GETSOCK
    assert_eq!(u32::from_ne_bytes(l[68..72].try_into().unwrap()), 1 << 10); // idiag_states
}

#[test]
fn decodes_queues_and_uid() {
    let mut m = diag_msg(
        SOCK_DIAG_BY_FAMILY,
        AF_INET,
        state::LISTEN,
        80,
        0,
        v4([0, 0, 0, 0]),
        v4([0, 0, 0, 0]),
        9,
    );
    // inet_diag_msg offsets (after the 16-byte header): rqueue 56, wqueue 60, uid 64
    m[16 + 56..16 + 60].copy_from_slice(&9u32.to_ne_bytes()); // idiag_rqueue: accept queue
    m[16 + 60..16 + 64].copy_from_slice(&8u32.to_ne_bytes()); // idiag_wqueue: backlog
    m[16 + 64..16 + 68].copy_from_slice(&1001u32.to_ne_bytes()); // idiag_uid
    let r = decode_diag_msg(&m[16..]).unwrap();
    assert_eq!((r.rqueue, r.wqueue, r.uid, r.inode), (9, 8, 1001, 9));
}

/// An `inet_diag_msg` followed by an INET_DIAG_SHUTDOWN attribute then an
/// INET_DIAG_INFO attribute holding a 104-byte `struct tcp_info`.
fn diag_msg_with_info() -> Vec<u8> {
    let mut m = diag_msg(
        SOCK_DIAG_BY_FAMILY,
        AF_INET,
        state::ESTABLISHED,
        40000,
        443,
        v4([10, 0, 0, 2]),
        v4([10, 0, 0, 1]),
        5,
    );
    // nlattr INET_DIAG_SHUTDOWN (8): len 5 (u8 payload), padded to 8
    m.extend_from_slice(&5u16.to_ne_bytes());
    m.extend_from_slice(&8u16.to_ne_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    // nlattr INET_DIAG_INFO (2): len 4 + 104
    m.extend_from_slice(&108u16.to_ne_bytes());
    m.extend_from_slice(&INET_DIAG_INFO.to_ne_bytes());
    let mut info = [0u8; 104];
    info[24..28].copy_from_slice(&3u32.to_ne_bytes()); // tcpi_unacked
    info[32..36].copy_from_slice(&1u32.to_ne_bytes()); // tcpi_lost
    info[68..72].copy_from_slice(&12_345u32.to_ne_bytes()); // tcpi_rtt (us)
    info[100..104].copy_from_slice(&7u32.to_ne_bytes()); // tcpi_total_retrans
    m.extend_from_slice(&info);
    let len = m.len() as u32;
    m[0..4].copy_from_slice(&len.to_ne_bytes()); // nlmsg_len
    m
}

#[test]
fn tcp_info_attribute_is_found_after_others() {
    let mut b = diag_msg_with_info();
    b.extend(done());
    let mut got = Vec::new();
    let p = walk_ext(&b, true, |r, i| got.push((r.sport, i.copied()))).unwrap();
    assert_eq!(p, Progress::Done);
    let want = TcpInfo {
        rtt_us: 12_345,
        unacked: 3,
        lost: 1,
        total_retrans: 7,
    };
    assert_eq!(got, vec![(40000, Some(want))]);
    // Not asked: attributes are not looked at.
    let mut none = Vec::new();
    walk_ext(&b, false, |_, i| none.push(i.copied())).unwrap();
    assert_eq!(none, vec![None]);
    // A short tcp_info (older kernel) without the RTT: no info, the socket still counts.
    assert_eq!(decode_tcp_info(&[0u8; 40]), None);
    // A malformed attribute length ends the search without a panic.
    assert_eq!(find_tcp_info(&[200, 0, 2, 0, 1, 2, 3]), None);
}

#[test]
fn engine_counts_its_walks() {
    let dir = std::env::temp_dir().join(format!("zagent-dumps-{}", std::process::id()));
    let net = dir.join("net");
    std::fs::create_dir_all(&net).unwrap();
    let fx = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/net");
    for n in ["tcp", "tcp6"] {
        std::fs::copy(fx.join(format!("proc_net_{n}")), net.join(n)).unwrap();
    }
    let e = Engine::proc_tables(&dir);
    let t = std::time::Duration::from_secs(1);
    assert_eq!(e.dumps(), 0);
    let mut n = 0;
    e.visit(Proto::Tcp, StateMask::ALL, t, &mut |_| n += 1)
        .unwrap();
    assert_eq!((e.dumps(), n), (1, 7));
    let mut infos = 0;
    e.visit_info(StateMask::ALL, t, &mut |_, i| {
        infos += usize::from(i.is_some())
    })
    .unwrap();
    // The text tables have no tcp_info: sockets come without it.
    assert_eq!((e.dumps(), infos), (2, 0));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn proc_line_queues_and_uid() {
    use super::procnet::parse_line;
    // LISTEN with 3 in the accept queue (rx_queue), uid 1001, inode 4242
    let l = "   0: 0100007F:2742 00000000:0000 0A 00000000:00000003 00:00000000 00000000  1001        0 4242 1 0 100 0 0 10 0";
    let r = parse_line(l, AF_INET).unwrap();
    assert_eq!((r.rqueue, r.wqueue, r.uid, r.inode), (3, 0, 1001, 4242));
    // ESTABLISHED with 0x10 bytes unacknowledged (tx_queue)
    let e = "   1: 0100007F:A808 0100007F:2742 01 00000010:00000000 00:00000000 00000000     7        0 99 1 0 100 0 0 10 0";
    let r = parse_line(e, AF_INET).unwrap();
    assert_eq!((r.rqueue, r.wqueue, r.uid, r.inode), (0, 16, 7, 99));
}
