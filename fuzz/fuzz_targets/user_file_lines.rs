//! Fuzz target: the line reader of files a peer names (`vfs.file.*`, `log[]`). The first
//! two bytes pick the line feed (1, 2 or 4 bytes wide), whether a lone CR ends a line,
//! the window and the read size. The lines put back together are the input; none is
//! longer than the window; a `Full` line fills it, a `Terminator` line ends in its line
//! end, only the last may be `Eof`; and the lines do not depend on how the bytes arrive
//! (read size from the input versus one big read).
#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use zagent::fuzzing::{LineEnding, LineReader, LineSplit};

/// At most `step` bytes per read, like a pipe.
struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.len().min(self.1).min(buf.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

const LFS: [&[u8]; 4] = [b"\n", b"\n\0", b"\0\n", b"\0\0\0\n"];

fn lines(data: &[u8], split: LineSplit, window: usize, step: usize) -> Vec<(Vec<u8>, LineEnding)> {
    let mut r = LineReader::new(Trickle(data, step), split, window);
    let mut out = Vec::new();
    while let Some((line, end)) = r.next_line().expect("slice reads do not fail") {
        out.push((line.to_vec(), end));
        assert!(out.len() <= data.len(), "more lines than bytes");
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let lf = LFS[usize::from(a & 3)];
    let split = LineSplit { lf, cr: a & 4 != 0 };
    let window = usize::from(a >> 3) + 1;
    let step = usize::from(*b) + 1;
    let got = lines(rest, split, window, step);
    let joined: Vec<u8> = got.iter().flat_map(|(l, _)| l.iter().copied()).collect();
    assert_eq!(joined, rest);
    let w = window.max(lf.len());
    for (i, (line, end)) in got.iter().enumerate() {
        assert!(
            !line.is_empty() && line.len() <= w,
            "line {i} {line:?} window {w}"
        );
        match end {
            LineEnding::Full => assert_eq!(line.len(), w),
            LineEnding::Terminator => {
                let unit = &line[line.len() - lf.len()..];
                let cr = unit
                    .iter()
                    .zip(lf)
                    .all(|(u, l)| if *l == b'\n' { *u == b'\r' } else { u == l });
                assert!(unit == lf || (split.cr && cr), "line {i} {line:?}");
            }
            LineEnding::Eof => assert_eq!(i + 1, got.len()),
        }
    }
    assert_eq!(
        got,
        lines(rest, split, window, usize::MAX),
        "read size {step}"
    );
});
