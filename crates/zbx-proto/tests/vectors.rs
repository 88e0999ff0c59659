//! ZBXD framing against the bytes captured from the real Zabbix 6.0.14 binaries
//! (`tests/vectors/`, see its README.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::path::{Path, PathBuf};

use zbx_proto::frame::{
    decode, encode, encode_compressed, parse_header, Decoded, Frame, FrameError, Limits,
    FLAG_COMPRESS, HEADER_LEN, MIB,
};
use zbx_proto::key::ItemKey;
use zbx_proto::notsupported_payload;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// The bytes of a `.hex` vector (empty when the peer sent nothing).
fn hex(rel: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(dir().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let text = text.trim();
    assert!(text.len() % 2 == 0, "{rel}: odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap_or_else(|e| panic!("{rel}: {e}")))
        .collect()
}

/// Every file in `sub` ending with `suffix`, as paths relative to the vectors dir.
fn files(sub: &str, suffix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir().join(sub))
        .unwrap_or_else(|e| panic!("{sub}: {e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .map(|n| format!("{sub}/{n}"))
        .collect();
    v.sort();
    v
}

/// Decodes a whole buffer that must be exactly one frame.
fn one_frame(bytes: &[u8], limits: &Limits, what: &str) -> Frame {
    match decode(bytes, limits) {
        Ok(Decoded::Frame { frame, consumed }) => {
            assert_eq!(consumed, bytes.len(), "{what}: consumed");
            frame
        }
        other => panic!("{what}: {other:?}"),
    }
}

/// The item key each passive request vector carries (same names for both agents).
fn expected_key(name: &str) -> &'static str {
    match name {
        "agent-hostname" => "agent.hostname",
        "agent-ping" => "agent.ping",
        "agent-variant" => "agent.variant",
        "agent-version" => "agent.version",
        "empty-value" => "vector.empty",
        "invalid-key-format" => "agent.ping[",
        "long-value-20000" => "vector.long",
        "net-tcp-listen-closed" => "net.tcp.listen[12059]",
        "net-tcp-listen-open" => "net.tcp.listen[12050]",
        "net-tcp-port" => "net.tcp.port[127.0.0.1,12050]",
        "net-tcp-service-perf-tcp" => "net.tcp.service.perf[tcp,127.0.0.1,12050]",
        "net-tcp-service-tcp" => "net.tcp.service[tcp,127.0.0.1,12050]",
        "net-tcp-socket-count-bad-state" => "net.tcp.socket.count[,,,,bogus]",
        "net-tcp-socket-count-listen" => "net.tcp.socket.count[,,,,listen]",
        "net-tcp-socket-count-lport" => "net.tcp.socket.count[,12050]",
        "net-udp-socket-count" => "net.udp.socket.count[,12059]",
        "params-not-allowed" => "agent.ping[extra]",
        "system-localtime" => "system.localtime",
        "unsupported-key" => "vector.nosuchkey",
        "userparam-quoted-params" => "vector.echo[\"a,b\",c d]",
        "userparam-unsafe-chars" => "vector.echo[a;b]",
        other => panic!("no expected key for vector {other}"),
    }
}

#[test]
fn every_passive_request_decodes_to_its_key() {
    let mut n = 0;
    for sub in ["passive/agentd", "passive/agent2"] {
        for f in files(sub, ".request.hex") {
            let name = f
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .trim_end_matches(".request.hex");
            let frame = one_frame(&hex(&f), &Limits::PASSIVE_REQUEST, &f);
            assert_eq!(frame.flags, 0x01, "{f}");
            let key = std::str::from_utf8(&frame.payload).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert_eq!(key, expected_key(name), "{f}");
            // Every captured key but the deliberately broken one is valid key syntax.
            assert_eq!(
                ItemKey::parse(key).is_ok(),
                name != "invalid-key-format",
                "{f}"
            );
            n += 1;
        }
    }
    assert_eq!(n, 42);
}

#[test]
fn the_quoted_userparameter_vector_parses_like_the_agent_did() {
    // agentd answered `a,b|c d|` for vector.echo[*] = echo "$1|$2|$3".
    let frame = one_frame(
        &hex("passive/agentd/userparam-quoted-params.request.hex"),
        &Limits::PASSIVE_REQUEST,
        "quoted",
    );
    let key = ItemKey::parse(std::str::from_utf8(&frame.payload).unwrap_or_default());
    let key = key.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(key.param(0), Some("a,b"));
    assert_eq!(key.param(1), Some("c d"));
    let reply = one_frame(
        &hex("passive/agentd/userparam-quoted-params.response.hex"),
        &Limits::REPLY,
        "reply",
    );
    assert_eq!(reply.payload, b"a,b|c d|");
}

#[test]
fn every_response_decodes_and_agent2_reserved_is_ignored() {
    let mut n = 0;
    for sub in [
        "passive/agentd",
        "passive/agent2",
        "server-poll",
        "passive-edge",
    ] {
        for f in files(sub, ".response.hex") {
            let bytes = hex(&f);
            if bytes.is_empty() {
                continue; // the peer closed without a reply
            }
            let frame = one_frame(&bytes, &Limits::REPLY, &f);
            assert_eq!(frame.flags, 0x01, "{f}");
            assert_eq!(frame.payload, &bytes[HEADER_LEN..], "{f}");
            let header = parse_header(&bytes, &Limits::REPLY)
                .unwrap_or_else(|e| panic!("{f}: {e}"))
                .unwrap_or_else(|| panic!("{f}: short header"));
            // agent 2 writes datalen into `reserved`; without 0x02 it means nothing.
            assert_eq!(header.reserved, 0, "{f}");
            n += 1;
        }
    }
    assert!(n >= 50, "{n} responses");
    let agent2 = hex("passive/agent2/agent-ping.response.hex");
    assert_eq!(&agent2[9..13], &[1, 0, 0, 0], "the quirk is in the vector");
    assert_eq!(one_frame(&agent2, &Limits::REPLY, "agent2").payload, b"1");
}

#[test]
fn our_encoding_of_agentd_replies_is_byte_identical() {
    let cases: [(&str, Vec<u8>); 8] = [
        ("agent-ping", b"1".to_vec()),
        (
            "unsupported-key",
            notsupported_payload("Unsupported item key."),
        ),
        (
            "invalid-key-format",
            notsupported_payload("Invalid item key format."),
        ),
        (
            "params-not-allowed",
            notsupported_payload("Item does not allow parameters."),
        ),
        (
            "net-tcp-socket-count-bad-state",
            notsupported_payload("Invalid fifth parameter."),
        ),
        ("empty-value", Vec::new()),
        ("long-value-20000", vec![b'x'; 20000]),
        ("agent-version", b"6.0.14".to_vec()),
    ];
    for (name, payload) in cases {
        let want = hex(&format!("passive/agentd/{name}.response.hex"));
        assert_eq!(encode(&payload), want, "{name}");
    }
    // Every agentd reply, whatever its content, is what `encode` writes for its payload.
    for f in files("passive/agentd", ".response.hex") {
        let bytes = hex(&f);
        let frame = one_frame(&bytes, &Limits::REPLY, &f);
        assert_eq!(encode(&frame.payload), bytes, "{f}");
    }
}

#[test]
fn compressed_vectors_inflate_to_exactly_their_json() {
    let mut compressed = 0;
    for sub in ["active", "probes", "sender"] {
        for f in files(sub, ".hex") {
            let bytes = hex(&f);
            if bytes.is_empty() {
                continue;
            }
            let frame = one_frame(&bytes, &Limits::REPLY, &f);
            let json_path = dir().join(f.replace(".hex", ".json"));
            let json = std::fs::read(&json_path).unwrap_or_else(|e| panic!("{f}: {e}"));
            // The .json copies end with one newline the wire payload does not have.
            assert_eq!(
                Some(frame.payload.as_slice()),
                json.strip_suffix(b"\n"),
                "{f}"
            );
            if frame.was_compressed() {
                assert_eq!(bytes[4], 0x03, "{f}");
                compressed += 1;
            }
        }
    }
    // 8 agent-2 active captures + 4 compressed probes.
    assert_eq!(compressed, 12);
}

#[test]
fn agent2_active_traffic_is_compressed_and_reserved_is_its_inflated_size() {
    for f in files("active", ".hex")
        .into_iter()
        .filter(|f| f.contains("agent2-"))
    {
        let bytes = hex(&f);
        let header = parse_header(&bytes, &Limits::REPLY)
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .unwrap_or_else(|| panic!("{f}: short"));
        assert!(header.is_compressed(), "{f}");
        let frame = one_frame(&bytes, &Limits::REPLY, &f);
        assert_eq!(header.reserved, frame.payload.len() as u64, "{f}");
    }
}

#[test]
fn passive_edge_cases() {
    let edge = |name: &str| hex(&format!("passive-edge/{name}.request.hex"));
    let req = Limits::PASSIVE_REQUEST;
    for agent in ["agentd", "agent2"] {
        // Bad magic and unframed text: refused on the first differing byte.
        assert_eq!(
            decode(&edge(&format!("{agent}-bad-magic")), &req),
            Err(FrameError::MissingHeader)
        );
        assert_eq!(
            decode(&edge(&format!("{agent}-plain-text-newline")), &req),
            Err(FrameError::MissingHeader)
        );
        assert_eq!(
            decode(&edge(&format!("{agent}-plain-text-halfclose")), &req),
            Err(FrameError::MissingHeader)
        );
        // Flags 0x00: the protocol bit is missing.
        assert_eq!(
            decode(&edge(&format!("{agent}-flags-zero")), &req),
            Err(FrameError::UnsupportedFlags(0))
        );
        // 0x05: refused by a passive listener, accepted where large packets are allowed.
        let large = edge(&format!("{agent}-large-flag-request"));
        assert_eq!(decode(&large, &req), Err(FrameError::UnsupportedFlags(5)));
        assert_eq!(
            decode(&large[..5], &req),
            Err(FrameError::UnsupportedFlags(5))
        );
        let frame = one_frame(&large, &Limits::REPLY, "large");
        assert_eq!(
            (frame.flags, frame.payload.as_slice()),
            (0x05, b"agent.ping".as_slice())
        );
        // The 1.8-style header (0x01 + 8-byte length) is the 4.0 layout with reserved 0.
        let old = one_frame(
            &edge(&format!("{agent}-header-8byte-length-1.8-style")),
            &req,
            "1.8",
        );
        assert_eq!(old.payload, b"agent.ping");
        // A compressed request is accepted (and answered uncompressed by the agents).
        let comp = one_frame(
            &edge(&format!("{agent}-compressed-request")),
            &req,
            "compressed",
        );
        assert!(comp.was_compressed());
        assert_eq!(comp.payload, b"agent.ping");
        // A framed key with a trailing newline arrives as such; stripping is the listener's job.
        let nl = one_frame(
            &edge(&format!("{agent}-key-with-trailing-newline")),
            &req,
            "nl",
        );
        assert_eq!(nl.payload, b"agent.ping\n");
        // The 7.0 JSON request is an ordinary frame.
        let json = one_frame(
            &edge(&format!("{agent}-json-passive-checks-7.0")),
            &req,
            "json",
        );
        assert!(json.payload.starts_with(b"{\"request\":\"passive checks\""));
    }
}

#[test]
fn a_1_8_style_header_with_8_byte_length_is_the_same_bytes() {
    let mut old = b"ZBXD\x01".to_vec();
    old.extend_from_slice(&10u64.to_le_bytes());
    old.extend_from_slice(b"agent.ping");
    assert_eq!(
        old,
        hex("passive-edge/agentd-header-8byte-length-1.8-style.request.hex")
    );
    assert_eq!(old, encode(b"agent.ping"));
}

#[test]
fn a_200_mb_header_is_refused_from_the_header_alone() {
    let mut h = b"ZBXD\x01".to_vec();
    h.extend_from_slice(&(200u32 * 1024 * 1024).to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    let want = FrameError::TooLarge {
        size: 200 * MIB,
        max: MIB,
    };
    assert_eq!(
        parse_header(&h, &Limits::PASSIVE_REQUEST),
        Err(want.clone())
    );
    assert_eq!(decode(&h, &Limits::PASSIVE_REQUEST), Err(want));
    // Also for replies (128 MiB cap), in both layouts.
    assert!(matches!(
        decode(&h, &Limits::REPLY),
        Err(FrameError::TooLarge { .. })
    ));
    let mut large = b"ZBXD\x05".to_vec();
    large.extend_from_slice(&(200 * MIB).to_le_bytes());
    large.extend_from_slice(&0u64.to_le_bytes());
    assert!(matches!(
        decode(&large, &Limits::REPLY),
        Err(FrameError::TooLarge { .. })
    ));
    // A compressed frame claiming 200 MB once inflated is refused before inflating.
    let mut comp = b"ZBXD\x03".to_vec();
    comp.extend_from_slice(&16u32.to_le_bytes());
    comp.extend_from_slice(&(200u32 * 1024 * 1024).to_le_bytes());
    assert!(matches!(
        decode(&comp, &Limits::REPLY),
        Err(FrameError::UncompressedTooLarge { .. })
    ));
}

#[test]
fn every_truncation_is_incomplete_with_the_exact_shortfall() {
    for f in [
        "passive/agentd/long-value-20000.response.hex",
        "passive/agentd/agent-ping.request.hex",
        "passive/agentd/empty-value.response.hex",
        "passive-edge/agentd-compressed-request.request.hex",
        "active/agent2-active-checks.response.hex",
        "passive-edge/agentd-large-flag-request.request.hex",
    ] {
        let bytes = hex(f);
        for cut in 0..bytes.len() {
            let prefix = &bytes[..cut];
            let needed = match decode(prefix, &Limits::REPLY) {
                Ok(Decoded::Incomplete { needed }) => needed,
                other => panic!("{f} cut at {cut}: {other:?}"),
            };
            assert!(
                needed >= 1 && cut + needed <= bytes.len(),
                "{f} cut at {cut}: needed {needed}"
            );
            // `needed` is a lower bound that is exact once the header is in.
            let header_len = if bytes[4] & 0x04 != 0 { 21 } else { 13 };
            if cut >= header_len {
                assert_eq!(cut + needed, bytes.len(), "{f} cut at {cut}");
            } else if cut >= 5 {
                assert_eq!(cut + needed, header_len, "{f} cut at {cut}");
            } else {
                assert_eq!(cut + needed, 13, "{f} cut at {cut}");
            }
        }
        assert!(
            matches!(decode(&bytes, &Limits::REPLY), Ok(Decoded::Frame { .. })),
            "{f}"
        );
    }
}

#[test]
fn bytes_past_datalen_are_left_unconsumed() {
    // "longer than expected": the caller sees consumed < what it read.
    let mut bytes = hex("passive/agentd/agent-ping.request.hex");
    let frame_len = bytes.len();
    bytes.extend_from_slice(b"garbage");
    match decode(&bytes, &Limits::PASSIVE_REQUEST) {
        Ok(Decoded::Frame { frame, consumed }) => {
            assert_eq!(frame.payload, b"agent.ping");
            assert_eq!(consumed, frame_len);
            assert!(consumed < bytes.len());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn inflated_size_must_equal_reserved() {
    let good = hex("passive-edge/agentd-compressed-request.request.hex");
    for reserved in [9u32, 11, 0] {
        let mut bad = good.clone();
        bad[9..13].copy_from_slice(&reserved.to_le_bytes());
        let err = decode(&bad, &Limits::PASSIVE_REQUEST);
        let actual = if reserved < 10 {
            u64::from(reserved) + 1
        } else {
            10
        };
        assert_eq!(
            err,
            Err(FrameError::UncompressedSizeMismatch {
                expected: u64::from(reserved),
                actual
            }),
            "reserved {reserved}"
        );
    }
}

#[test]
fn a_corrupt_or_cut_zlib_stream_is_an_error() {
    let good = hex("passive-edge/agentd-compressed-request.request.hex");
    // Drop the Adler-32 (4 bytes) and fix datalen: every byte inflates, the stream is cut.
    let mut cut = good[..good.len() - 4].to_vec();
    let len = (cut.len() - HEADER_LEN) as u32;
    cut[5..9].copy_from_slice(&len.to_le_bytes());
    assert!(matches!(
        decode(&cut, &Limits::PASSIVE_REQUEST),
        Err(FrameError::Decompress(_))
    ));
    let mut corrupt = good.clone();
    corrupt[HEADER_LEN + 4] ^= 0xff;
    assert!(matches!(
        decode(&corrupt, &Limits::PASSIVE_REQUEST),
        Err(FrameError::Decompress(_) | FrameError::UncompressedSizeMismatch { .. })
    ));
}

#[test]
fn encode_compressed_is_read_back_and_marks_the_frame() {
    let json = std::fs::read(dir().join("active/agentd-active-checks.response.json"))
        .unwrap_or_else(|e| panic!("{e}"));
    let bytes = encode_compressed(&json);
    assert_eq!(bytes[4], 0x01 | FLAG_COMPRESS);
    assert_eq!(
        &bytes[HEADER_LEN..HEADER_LEN + 2],
        &[0x78, 0x9c],
        "zlib default level"
    );
    let frame = one_frame(&bytes, &Limits::REPLY, "ours");
    assert_eq!(frame.payload, json);
}
