//! ZBXD framing: the 13-byte (or 21-byte "large") header, the flag bits and zlib.
//!
//! Owns the byte layout of one Zabbix protocol message. It never touches a socket:
//! callers hand it bytes and get back `Incomplete`, a [`Frame`], or a [`FrameError`].
//! Sizes are checked against explicit [`Limits`] *before* anything is allocated.
//!
//! Accepted layouts (docs/zabbix-protocol.md §1.2–1.6): the 4.0+ header (flags, u32
//! datalen, u32 reserved); the 1.8–3.4 header (`0x01` + u64 length), which for any
//! length below 4 GiB is the same bytes with `reserved` = 0; and the large layout
//! (`0x04`, u64 fields) only where [`Limits::allow_large`] says so. `reserved` is read
//! only when `0x02` is set (agent 2 fills it with the data length otherwise).

use std::io::{Read, Write};

use flate2::{read::ZlibDecoder, write::ZlibEncoder, Compression};

/// `"ZBXD"`.
pub const MAGIC: [u8; 4] = *b"ZBXD";
/// Must always be set.
pub const FLAG_PROTOCOL: u8 = 0x01;
/// The data is a zlib stream; `reserved` holds the size after inflating.
pub const FLAG_COMPRESS: u8 = 0x02;
/// 8-byte length fields (Zabbix 5.0+ "large packet").
pub const FLAG_LARGE: u8 = 0x04;

/// Length of the standard header: magic, flags, u32 datalen, u32 reserved.
pub const HEADER_LEN: usize = 13;
/// Length of the large-packet header: magic, flags, u64 datalen, u64 reserved.
pub const LARGE_HEADER_LEN: usize = 21;

/// One MiB.
pub const MIB: u64 = 1024 * 1024;

/// Hard limits applied while decoding. Every limit is checked against the header before
/// any buffer for the payload is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest `datalen` accepted (bytes on the wire after the header).
    pub max_data_len: u64,
    /// Largest `reserved` (uncompressed size) accepted for a compressed frame.
    pub max_uncompressed_len: u64,
    /// Whether the 0x04 large-packet layout is accepted. The passive listener of the
    /// official agent refuses it; only opted-in receivers take it.
    pub allow_large: bool,
}

impl Limits {
    /// Limits for a passive-check request: a key or a small JSON object. zabbix_agentd
    /// accepts up to 1 GiB here; item keys are a few KiB at most, so 1 MiB is ample, and
    /// a lower cap bounds what a peer can make the agent hold per connection.
    pub const PASSIVE_REQUEST: Limits = Limits {
        max_data_len: MIB,
        max_uncompressed_len: MIB,
        allow_large: false,
    };

    /// Limits for replies a server or agent sends us (item lists, passive values).
    /// Matches agent 2's 128 MiB cap.
    pub const REPLY: Limits = Limits {
        max_data_len: 128 * MIB,
        max_uncompressed_len: 128 * MIB,
        allow_large: true,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::REPLY
    }
}

/// A parsed header: what the rest of the frame will look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The flag byte as received.
    pub flags: u8,
    /// Bytes of payload following the header.
    pub data_len: u64,
    /// Uncompressed size; meaningful only when `flags & FLAG_COMPRESS` (agent 2 fills it
    /// with the data length even when it does not compress).
    pub reserved: u64,
    /// 13 or 21.
    pub header_len: usize,
}

impl Header {
    /// Whole frame length (header + payload), if it fits in `usize`.
    pub fn frame_len(&self) -> Option<usize> {
        usize::try_from(self.data_len)
            .ok()
            .and_then(|d| d.checked_add(self.header_len))
    }

    /// Whether the payload is a zlib stream.
    pub fn is_compressed(&self) -> bool {
        self.flags & FLAG_COMPRESS != 0
    }
}

/// A complete, decompressed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The flag byte as received (0x01, 0x03, 0x05 or 0x07).
    pub flags: u8,
    /// The payload after inflating.
    pub payload: Vec<u8>,
}

impl Frame {
    /// Whether the frame arrived compressed (servers answer in kind).
    pub fn was_compressed(&self) -> bool {
        self.flags & FLAG_COMPRESS != 0
    }
}

/// Result of looking at a buffer that may hold a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// More bytes are needed; `needed` is how many more are certainly required.
    Incomplete {
        /// At least this many more bytes; exact once the header is complete.
        needed: usize,
    },
    /// A whole frame; `consumed` bytes of the buffer belong to it. Bytes after them are
    /// not part of this message (a peer that sent more than `datalen` is "longer than
    /// expected": the official components drop such a message).
    Frame {
        /// The decoded message.
        frame: Frame,
        /// Header plus `datalen`.
        consumed: usize,
    },
}

/// Why bytes are not a valid frame. Every variant is fatal for the connection: the
/// official components close without a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The first bytes are not (a prefix of) `ZBXD`.
    #[error("message is missing the ZBXD header")]
    MissingHeader,
    /// The flag byte lacks 0x01, has unknown bits, or asks for a layout the receiver refuses.
    #[error("unsupported protocol version \"{0}\"")]
    UnsupportedFlags(u8),
    /// `datalen` above the limit.
    #[error("message size {size} exceeds the maximum size {max}")]
    TooLarge {
        /// `datalen` from the header.
        size: u64,
        /// The limit in force.
        max: u64,
    },
    /// `reserved` of a compressed frame above the limit.
    #[error("uncompressed message size {size} exceeds the maximum size {max}")]
    UncompressedTooLarge {
        /// `reserved` from the header.
        size: u64,
        /// The limit in force.
        max: u64,
    },
    /// The zlib stream is corrupt.
    #[error("cannot decompress message: {0}")]
    Decompress(String),
    /// Inflated size differs from `reserved`. Inflating stops one byte past `expected`,
    /// so `actual == expected + 1` means "more than the header said".
    #[error("size of uncompressed data is {actual}, header says {expected}")]
    UncompressedSizeMismatch {
        /// `reserved` from the header.
        expected: u64,
        /// Bytes inflated (at most `expected + 1`).
        actual: u64,
    },
}

/// Parses the header at the start of `buf`.
///
/// Returns `Ok(None)` while fewer bytes than a header are present but everything seen so
/// far is valid, so a caller can reject garbage after the first byte.
pub fn parse_header(buf: &[u8], limits: &Limits) -> Result<Option<Header>, FrameError> {
    let magic_seen = buf.len().min(MAGIC.len());
    if buf[..magic_seen] != MAGIC[..magic_seen] {
        return Err(FrameError::MissingHeader);
    }
    if buf.len() < MAGIC.len() + 1 {
        return Ok(None);
    }
    let flags = buf[4];
    let allowed = FLAG_PROTOCOL | FLAG_COMPRESS | if limits.allow_large { FLAG_LARGE } else { 0 };
    if flags & FLAG_PROTOCOL == 0 || flags & !allowed != 0 {
        return Err(FrameError::UnsupportedFlags(flags));
    }
    let large = flags & FLAG_LARGE != 0;
    let header_len = if large { LARGE_HEADER_LEN } else { HEADER_LEN };
    if buf.len() < header_len {
        return Ok(None);
    }
    let (data_len, reserved) = if large {
        (le_u64(&buf[5..13]), le_u64(&buf[13..21]))
    } else {
        (
            u64::from(le_u32(&buf[5..9])),
            u64::from(le_u32(&buf[9..13])),
        )
    };
    if data_len > limits.max_data_len {
        return Err(FrameError::TooLarge {
            size: data_len,
            max: limits.max_data_len,
        });
    }
    let compressed = flags & FLAG_COMPRESS != 0;
    if compressed && reserved > limits.max_uncompressed_len {
        return Err(FrameError::UncompressedTooLarge {
            size: reserved,
            max: limits.max_uncompressed_len,
        });
    }
    Ok(Some(Header {
        flags,
        data_len,
        // `reserved` means something only for compressed frames.
        reserved: if compressed { reserved } else { 0 },
        header_len,
    }))
}

/// Tries to decode one frame from the start of `buf`.
///
/// `Incomplete { needed }` while the frame is not all there (`needed` is exact once the
/// header is in); `Frame { consumed }` when it is: bytes past `consumed` are not part of
/// it. Errors are final for the connection.
pub fn decode(buf: &[u8], limits: &Limits) -> Result<Decoded, FrameError> {
    let Some(header) = parse_header(buf, limits)? else {
        let min = if buf.len() > 4 && buf[4] & FLAG_LARGE != 0 {
            LARGE_HEADER_LEN
        } else {
            HEADER_LEN
        };
        return Ok(Decoded::Incomplete {
            needed: min - buf.len(),
        });
    };
    let total = header.frame_len().ok_or(FrameError::TooLarge {
        size: header.data_len,
        max: limits.max_data_len,
    })?;
    if buf.len() < total {
        return Ok(Decoded::Incomplete {
            needed: total - buf.len(),
        });
    }
    let frame = finish(&header, &buf[header.header_len..total])?;
    Ok(Decoded::Frame {
        frame,
        consumed: total,
    })
}

/// Builds the frame from its header and exactly `data_len` payload bytes, inflating when
/// the header says so.
pub fn finish(header: &Header, data: &[u8]) -> Result<Frame, FrameError> {
    let payload = if header.is_compressed() {
        inflate(data, header.reserved)?
    } else {
        data.to_vec()
    };
    Ok(Frame {
        flags: header.flags,
        payload,
    })
}

fn inflate(data: &[u8], expected: u64) -> Result<Vec<u8>, FrameError> {
    // `expected` was checked against the limit, but a tiny stream may still claim a large
    // size: reserve in proportion to what actually arrived (zlib's ratio rarely exceeds a
    // few times for real traffic) and let the buffer grow from there. Read at most one
    // byte past `expected` so that an over-long stream is detected, not buffered.
    let claimed = usize::try_from(expected).unwrap_or(usize::MAX);
    let initial = claimed.min(data.len().saturating_mul(4).max(4096));
    let mut out = Vec::with_capacity(initial);
    // The decoder reports an incomplete stream (a missing Adler-32 included) as an error,
    // so a stream that ends early is refused like zlib's uncompress() in the C components.
    ZlibDecoder::new(data)
        .take(expected.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| FrameError::Decompress(e.to_string()))?;
    if out.len() as u64 != expected {
        return Err(FrameError::UncompressedSizeMismatch {
            expected,
            actual: out.len() as u64,
        });
    }
    Ok(out)
}

/// The header for an uncompressed payload of `len` bytes, as the C components write it
/// (flags 0x01, reserved 0), switching to the large layout only past 4 GiB.
pub fn header_for(len: usize) -> Vec<u8> {
    let len = len as u64;
    let mut h = Vec::with_capacity(LARGE_HEADER_LEN);
    h.extend_from_slice(&MAGIC);
    if len >= u64::from(u32::MAX) {
        h.push(FLAG_PROTOCOL | FLAG_LARGE);
        h.extend_from_slice(&len.to_le_bytes());
        h.extend_from_slice(&0u64.to_le_bytes());
    } else {
        h.push(FLAG_PROTOCOL);
        h.extend_from_slice(&(len as u32).to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
    }
    h
}

/// Encodes an uncompressed frame.
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let mut out = header_for(payload.len());
    out.reserve_exact(payload.len());
    out.extend_from_slice(payload);
    out
}

/// Encodes a zlib-compressed frame (flags 0x03), as agent 2 sends active-check traffic.
pub fn encode_compressed(payload: &[u8]) -> Vec<u8> {
    let mut enc = ZlibEncoder::new(
        Vec::with_capacity(payload.len() / 2 + 64),
        Compression::default(),
    );
    // Writing into a Vec cannot fail.
    let compressed = match enc.write_all(payload).and_then(|()| enc.finish()) {
        Ok(c) => c,
        Err(_) => return encode(payload),
    };
    let (clen, ulen) = (compressed.len() as u64, payload.len() as u64);
    let mut out = Vec::with_capacity(LARGE_HEADER_LEN + compressed.len());
    out.extend_from_slice(&MAGIC);
    if clen >= u64::from(u32::MAX) || ulen >= u64::from(u32::MAX) {
        out.push(FLAG_PROTOCOL | FLAG_COMPRESS | FLAG_LARGE);
        out.extend_from_slice(&clen.to_le_bytes());
        out.extend_from_slice(&ulen.to_le_bytes());
    } else {
        out.push(FLAG_PROTOCOL | FLAG_COMPRESS);
        out.extend_from_slice(&(clen as u32).to_le_bytes());
        out.extend_from_slice(&(ulen as u32).to_le_bytes());
    }
    out.extend_from_slice(&compressed);
    out
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
#[allow(clippy::panic)] // tests fail by panicking
mod tests {
    use super::*;

    #[test]
    fn round_trip_plain() {
        let bytes = encode(b"agent.ping");
        assert_eq!(&bytes[..13], b"ZBXD\x01\x0a\0\0\0\0\0\0\0");
        match decode(&bytes, &Limits::PASSIVE_REQUEST) {
            Ok(Decoded::Frame { frame, consumed }) => {
                assert_eq!(frame.payload, b"agent.ping");
                assert_eq!(consumed, bytes.len());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn round_trip_compressed() {
        let bytes = encode_compressed(b"{\"request\":\"active checks\"}");
        assert_eq!(bytes[4], 0x03);
        match decode(&bytes, &Limits::REPLY) {
            Ok(Decoded::Frame { frame, .. }) => {
                assert!(frame.was_compressed());
                assert_eq!(frame.payload, b"{\"request\":\"active checks\"}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn huge_header_refused_before_allocation() {
        let mut h = b"ZBXD\x01".to_vec();
        h.extend_from_slice(&(200u32 * 1024 * 1024).to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        assert!(matches!(
            decode(&h, &Limits::PASSIVE_REQUEST),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn garbage_rejected_on_first_byte() {
        assert_eq!(
            decode(b"a", &Limits::PASSIVE_REQUEST),
            Err(FrameError::MissingHeader)
        );
        assert!(matches!(
            decode(b"ZB", &Limits::PASSIVE_REQUEST),
            Ok(Decoded::Incomplete { needed: 11 })
        ));
    }
}
