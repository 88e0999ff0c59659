//! Proof that hostile headers cannot make the decoder reserve memory: a counting global
//! allocator records the largest single allocation while frames are decoded.
//!
//! This test binary holds exactly one test so no other thread allocates meanwhile.
//! (`unsafe` is confined to this test-only allocator shim; the library forbids it.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use zbx_proto::frame::{decode, encode_compressed, Decoded, FrameError, Limits, MIB};

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the wrapper only
// records the requested size.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn largest_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.store(0, Ordering::Relaxed);
    let out = f();
    (out, LARGEST.load(Ordering::Relaxed))
}

#[test]
fn hostile_headers_allocate_nothing_large() {
    const SMALL: usize = 64 * 1024;

    // A 200 MB datalen: refused from the 13 header bytes.
    let mut h = b"ZBXD\x01".to_vec();
    h.extend_from_slice(&(200u32 * 1024 * 1024).to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    for limits in [Limits::PASSIVE_REQUEST, Limits::REPLY] {
        let (r, largest) = largest_during(|| decode(&h, &limits));
        assert!(matches!(r, Err(FrameError::TooLarge { .. })));
        assert!(largest < SMALL, "largest allocation {largest}");
    }

    // A header claiming a 100 MiB payload that has not arrived: Incomplete, nothing reserved.
    let mut h = b"ZBXD\x01".to_vec();
    h.extend_from_slice(&(100 * MIB as u32).to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    let (r, largest) = largest_during(|| decode(&h, &Limits::REPLY));
    assert!(matches!(r, Ok(Decoded::Incomplete { .. })));
    assert!(largest < SMALL, "largest allocation {largest}");

    // A small compressed frame whose `reserved` claims 100 MiB (within the reply limit):
    // the inflate buffer is sized from the bytes that arrived, not from the claim.
    let real = encode_compressed(b"agent.ping");
    let mut lie = real.clone();
    lie[9..13].copy_from_slice(&(100 * MIB as u32).to_le_bytes());
    let (r, largest) = largest_during(|| decode(&lie, &Limits::REPLY));
    assert!(
        matches!(r, Err(FrameError::UncompressedSizeMismatch { .. })),
        "{r:?}"
    );
    assert!(largest < SMALL, "largest allocation {largest}");
}
