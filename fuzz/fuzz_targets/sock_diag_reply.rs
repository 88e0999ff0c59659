//! Fuzz target: netlink sock_diag reply batches. Walking never panics, visits at most
//! one socket per 88 bytes, reports truncation inside the batch; and a batch built from
//! the input's first 72 bytes as one `inet_diag_msg` plus `NLMSG_DONE` walks to exactly
//! that record and `Done`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zagent::fuzzing::{decode_diag_msg, sock_diag_walk, Progress, WireError};

const HDR: usize = 16;
const MSG: usize = 72;

fn nlmsg(ty: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&((HDR + payload.len()) as u32).to_ne_bytes());
    b.extend_from_slice(&ty.to_ne_bytes());
    b.extend_from_slice(&[0; 10]);
    b.extend_from_slice(payload);
    while b.len() % 4 != 0 {
        b.push(0);
    }
    b
}

fn check_state(state: u8) {
    // NEW_SYN_RECV (12) is folded into SYN_RECV (3).
    assert_ne!(state, 12);
}

fuzz_target!(|data: &[u8]| {
    let mut seen = 0usize;
    match sock_diag_walk(data, |r| {
        check_state(r.state);
        seen += 1;
    }) {
        Err(WireError::Truncated(off)) => assert!(off < data.len()),
        Ok(Progress::More) | Ok(Progress::Done) | Err(_) => {}
    }
    assert!(seen * (HDR + MSG) <= data.len());

    if data.len() >= MSG {
        let rec = decode_diag_msg(&data[..MSG]).expect("72 bytes decode");
        assert_eq!(rec.family, data[0]);
        assert_eq!(rec.sport, u16::from_be_bytes([data[4], data[5]]));
        assert_eq!(rec.dport, u16::from_be_bytes([data[6], data[7]]));
        assert_eq!(&rec.src[..], &data[8..24]);
        assert_eq!(&rec.dst[..], &data[24..40]);
        let mut batch = nlmsg(20, &data[..MSG]);
        batch.extend(nlmsg(3, &[0; 4]));
        let mut got = Vec::new();
        assert_eq!(sock_diag_walk(&batch, |r| got.push(*r)), Ok(Progress::Done));
        assert_eq!(got, vec![rec]);
    } else {
        assert_eq!(decode_diag_msg(data), None);
    }
});
