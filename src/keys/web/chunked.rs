//! The `Transfer-Encoding: chunked` decoder of `web.page.*`, incremental: the state is kept
//! between reads, so every received byte is examined once (the old decoder re-ran from
//! byte 0 after each read, quadratic up to [`MAX_CHUNKED_RAW`](super::limits::MAX_CHUNKED_RAW)).
//! It owns only the chunk syntax; it must not read sockets or undo `Content-Encoding`.
//!
//! Syntax accepted (as before, and as lenient as libcurl where it matters): a hex size,
//! optionally followed by `;extensions`, ended by LF or CRLF; the chunk; CRLF or LF; after
//! the `0` chunk, trailer lines up to an empty one. The body kept is cut at
//! [`MAX_BODY`](super::limits::MAX_BODY) bytes; the rest is parsed and dropped.

use super::{limits, WebError};

/// Longest chunk-size text (before any `;`) kept; a longer one fails (libcurl allows 16
/// hex digits; this leaves room for padding spaces).
pub const MAX_SIZE_TEXT: usize = 256;

/// Where the decoder stands between two bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Reading a chunk-size line; `ext` once a `;` was seen (the rest is ignored).
    Size { text: Vec<u8>, ext: bool },
    /// Inside a chunk, `left` bytes to go.
    Data { left: usize },
    /// After a chunk: CR or LF expected.
    DataEnd,
    /// After a chunk and its CR: LF expected.
    DataLf,
    /// In the trailer; `empty` while the current line holds only CRs.
    Trailer { empty: bool },
    /// The last chunk and the trailer were read.
    Done,
}

/// Decodes one chunked body fed in pieces of any size.
#[derive(Debug, Clone)]
pub struct Dechunker {
    state: State,
    body: Vec<u8>,
    /// Bytes consumed so far (position in the encoded stream).
    pos: usize,
    /// Bytes examined, for the linear-work test.
    work: u64,
}

impl Default for Dechunker {
    fn default() -> Self {
        Dechunker::new()
    }
}

impl Dechunker {
    /// A decoder at the start of a body.
    pub fn new() -> Dechunker {
        Dechunker {
            state: State::Size {
                text: Vec::new(),
                ext: false,
            },
            body: Vec::new(),
            pos: 0,
            work: 0,
        }
    }

    /// Feeds the next received bytes. `Ok(true)` once the body is complete (bytes after
    /// its end are ignored, as before); `Ok(false)` while more are needed.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<bool, WebError> {
        while !data.is_empty() {
            let used = self.step(data)?;
            self.pos += used;
            self.work += used as u64;
            data = &data[used..];
            if self.state == State::Done {
                return Ok(true);
            }
        }
        Ok(self.state == State::Done)
    }

    /// Consumes a prefix of `data` (at least one byte) in the current state.
    fn step(&mut self, data: &[u8]) -> Result<usize, WebError> {
        match &mut self.state {
            State::Size { text, ext } => {
                let end = data.iter().position(|&b| b == b'\n');
                let line = &data[..end.unwrap_or(data.len())];
                if !*ext {
                    let upto = line.iter().position(|&b| b == b';');
                    text.extend_from_slice(&line[..upto.unwrap_or(line.len())]);
                    *ext = upto.is_some();
                    if text.len() > MAX_SIZE_TEXT {
                        return Err(WebError::Recv);
                    }
                }
                let Some(end) = end else {
                    return Ok(data.len());
                };
                let size = parse_size(text)?;
                let start = self.pos + end + 1;
                self.state = if size == 0 {
                    State::Trailer { empty: true }
                } else {
                    match start.checked_add(size) {
                        Some(end) if end < usize::MAX => State::Data { left: size },
                        _ => return Err(WebError::Recv),
                    }
                };
                Ok(end + 1)
            }
            State::Data { left } => {
                let n = (*left).min(data.len());
                let room = limits::MAX_BODY.saturating_sub(self.body.len());
                self.body.extend_from_slice(&data[..n.min(room)]);
                *left -= n;
                if *left == 0 {
                    self.state = State::DataEnd;
                }
                Ok(n)
            }
            State::DataEnd => {
                self.state = match data[0] {
                    b'\r' => State::DataLf,
                    b'\n' => State::Size {
                        text: Vec::new(),
                        ext: false,
                    },
                    _ => return Err(WebError::Recv),
                };
                Ok(1)
            }
            State::DataLf => {
                if data[0] != b'\n' {
                    return Err(WebError::Recv);
                }
                self.state = State::Size {
                    text: Vec::new(),
                    ext: false,
                };
                Ok(1)
            }
            State::Trailer { empty } => {
                let Some(end) = data.iter().position(|&b| b == b'\n') else {
                    *empty &= data.iter().all(|&b| b == b'\r');
                    return Ok(data.len());
                };
                let line_empty = *empty && data[..end].iter().all(|&b| b == b'\r');
                self.state = if line_empty {
                    State::Done
                } else {
                    State::Trailer { empty: true }
                };
                Ok(end + 1)
            }
            // `feed` stops at Done; nothing more is read.
            State::Done => Ok(data.len()),
        }
    }

    /// Encoded bytes consumed so far.
    pub fn consumed(&self) -> usize {
        self.pos
    }

    /// Bytes examined so far (each fed byte once): the work measure of the tests.
    pub fn work(&self) -> u64 {
        self.work
    }

    /// Whether the last chunk and the trailer were read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The decoded body (cut at `MAX_BODY`).
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

/// A chunk size: hex after trimming white space (UTF-8 white space included, as the
/// text decoder before this one did).
fn parse_size(text: &[u8]) -> Result<usize, WebError> {
    let text = String::from_utf8_lossy(text);
    usize::from_str_radix(text.trim(), 16).map_err(|_| WebError::Recv)
}

/// Decodes a whole chunked body held in one buffer; `Ok(None)` while incomplete.
pub fn dechunk(data: &[u8]) -> Result<Option<Vec<u8>>, WebError> {
    let mut d = Dechunker::new();
    Ok(if d.feed(data)? {
        Some(d.into_body())
    } else {
        None
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] =
        b"5\r\nhello\r\n6;name=val\r\n world\nA \r\n, chunked!\r\n0\r\nX-Trailer: 1\r\n\r\n";

    #[test]
    fn whole_sample() {
        assert_eq!(
            dechunk(SAMPLE).unwrap().unwrap(),
            b"hello world, chunked!".to_vec()
        );
    }

    /// Every split point of the sample (two reads), and byte-by-byte reads, give the
    /// same body as one read; no prefix is complete.
    #[test]
    fn every_split_point_gives_the_same_body() {
        for cut in 0..=SAMPLE.len() {
            let mut d = Dechunker::new();
            let first = d.feed(&SAMPLE[..cut]).unwrap();
            assert_eq!(first, cut == SAMPLE.len(), "cut {cut}");
            assert!(d.feed(&SAMPLE[cut..]).unwrap(), "cut {cut}");
            assert_eq!(d.into_body(), b"hello world, chunked!", "cut {cut}");
        }
        let mut d = Dechunker::new();
        for (i, b) in SAMPLE.iter().enumerate() {
            assert_eq!(d.feed(&[*b]).unwrap(), i + 1 == SAMPLE.len(), "byte {i}");
        }
        assert_eq!(d.into_body(), b"hello world, chunked!");
    }

    #[test]
    fn every_split_point_of_an_error_fails_alike() {
        let bad = b"5\r\nhelloX\r\n0\r\n\r\n";
        assert_eq!(dechunk(bad).unwrap_err(), WebError::Recv);
        for cut in 0..=bad.len() {
            let mut d = Dechunker::new();
            let r = d.feed(&bad[..cut]).and_then(|_| d.feed(&bad[cut..]));
            assert_eq!(r.unwrap_err(), WebError::Recv, "cut {cut}");
        }
    }

    #[test]
    fn incomplete_and_malformed() {
        assert_eq!(dechunk(b"5\r\nhel").unwrap(), None);
        assert_eq!(dechunk(b"5\r\nhello\r").unwrap(), None);
        assert_eq!(dechunk(b"5\r\nhello\r\n0\r\n").unwrap(), None);
        assert_eq!(dechunk(b"5\r\nhello\r\n0\r\nT: 1\r\n").unwrap(), None);
        assert_eq!(dechunk(b"zz\r\n").unwrap_err(), WebError::Recv);
        assert_eq!(dechunk(b"\r\n").unwrap_err(), WebError::Recv);
        assert_eq!(dechunk(b"5\r\nhello\rX").unwrap_err(), WebError::Recv);
        assert_eq!(
            dechunk(b"ffffffffffffffff\r\nab").unwrap_err(),
            WebError::Recv
        );
        // Bytes after the end are ignored.
        assert_eq!(dechunk(b"1\nx\n0\n\nrest").unwrap().unwrap(), b"x");
        // Padding and an upper-case size.
        assert_eq!(
            dechunk(b" A \r\n0123456789\r\n0\r\n\r\n")
                .unwrap()
                .unwrap()
                .len(),
            10
        );
    }

    #[test]
    fn a_size_line_longer_than_the_limit_fails_without_growing() {
        let mut d = Dechunker::new();
        let pad = vec![b' '; MAX_SIZE_TEXT];
        assert!(!d.feed(&pad).unwrap());
        assert_eq!(d.feed(b"  5").unwrap_err(), WebError::Recv);
        // Extensions are not kept, however long.
        let mut d = Dechunker::new();
        assert!(!d.feed(b"1;").unwrap());
        for _ in 0..1000 {
            assert!(!d.feed(&[b'x'; 1024]).unwrap());
        }
        assert!(d.feed(b"\r\nz\r\n0\r\n\r\n").unwrap());
        assert_eq!(d.into_body(), b"z");
    }

    #[test]
    fn body_is_cut_at_max_body_whatever_the_reads() {
        let chunk = 1024 * 1024;
        let n = limits::MAX_BODY / chunk + 2;
        let mut enc = Vec::new();
        for _ in 0..n {
            enc.extend_from_slice(format!("{chunk:x}\r\n").as_bytes());
            enc.extend(std::iter::repeat(b'a').take(chunk));
            enc.extend_from_slice(b"\r\n");
        }
        enc.extend_from_slice(b"0\r\n\r\n");
        let whole = dechunk(&enc).unwrap().unwrap();
        assert_eq!(whole.len(), limits::MAX_BODY);
        let mut d = Dechunker::new();
        for piece in enc.chunks(16 * 1024 + 7) {
            d.feed(piece).unwrap();
        }
        assert!(d.is_done());
        assert_eq!(d.into_body(), whole);
    }

    /// Work (bytes examined) is the input length however the input is cut: reading an
    /// n-byte body in 1-byte or 16 KiB reads costs n, not n²/2 as re-running from byte
    /// 0 after each read did.
    #[test]
    fn work_is_linear_in_the_bytes_received() {
        for (chunks, chunk) in [(64usize, 100usize), (640, 100), (64, 10_000)] {
            let mut enc = Vec::new();
            for _ in 0..chunks {
                enc.extend_from_slice(format!("{chunk:x};e=1\r\n").as_bytes());
                enc.extend(std::iter::repeat(b'z').take(chunk));
                enc.extend_from_slice(b"\r\n");
            }
            enc.extend_from_slice(b"0\r\nT: v\r\n\r\n");
            for read in [1usize, 7, 16 * 1024] {
                let mut d = Dechunker::new();
                for piece in enc.chunks(read) {
                    d.feed(piece).unwrap();
                }
                assert!(d.is_done());
                assert_eq!(d.work(), enc.len() as u64, "{chunks}x{chunk} read {read}");
                assert_eq!(d.consumed(), enc.len());
                assert_eq!(d.into_body().len(), chunks * chunk);
            }
        }
    }
}
