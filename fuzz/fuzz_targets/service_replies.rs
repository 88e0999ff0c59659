//! Fuzz target: what `net.tcp.service*`/`net.udp.service*` read from a peer. A BER
//! element stays inside its input and re-encodes (short or long length form) to an
//! element with the same tag and content; the LDAP entry check, greetings and SSH
//! identification never panic; telnet negotiation gives the same text and replies in one
//! read or two and keeps at most `MAX_TELNET_TEXT` bytes; the NTP check needs 48 bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zagent::fuzzing::{
    ber_element, judge_line, ldap_entry_has_attribute, ntp_response_ok, ssh_version, TcpService,
    TelnetText, MAX_TELNET_TEXT, NTP_PACKET,
};

fn ber(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

const SERVICES: &[&str] = &[
    "ssh", "ldap", "smtp", "ftp", "http", "pop", "nntp", "imap", "tcp", "https", "telnet",
];

fuzz_target!(|data: &[u8]| {
    if let Some((tag, content, total)) = ber_element(data) {
        assert_eq!(tag, data[0]);
        assert!(total <= data.len() && content.len() < total);
        assert_eq!(content, &data[total - content.len()..total]);
        let again = ber(tag, content);
        assert_eq!(ber_element(&again), Some((tag, content, again.len())));
    }
    let _ = ldap_entry_has_attribute(data);
    for name in SERVICES {
        let svc = TcpService::from_name(name).expect("known service");
        let _ = judge_line(svc, data);
    }
    let _ = ssh_version(data);

    let cut = data
        .first()
        .map_or(0, |&b| data.len() * usize::from(b) / 255);
    let mut one = TelnetText::default();
    let replies_one = one.feed(data);
    let mut two = TelnetText::default();
    let mut replies_two = two.feed(&data[..cut]);
    replies_two.extend(two.feed(&data[cut..]));
    assert_eq!(one.text, two.text, "split at {cut}");
    assert_eq!(replies_one, replies_two, "split at {cut}");
    assert!(one.text.len() <= MAX_TELNET_TEXT);
    assert_eq!(replies_one.len() % 3, 0);
    let _ = one.at_prompt();

    if data.len() >= NTP_PACKET {
        let mut req = [0u8; NTP_PACKET];
        req.copy_from_slice(&data[..NTP_PACKET]);
        let ok = ntp_response_ok(&req, &data[NTP_PACKET..]);
        assert!(!ok || data.len() == 2 * NTP_PACKET);
    }
});
