//! The pure parsers the fuzz targets (`fuzz/`) drive, in one place, so a target does not
//! depend on where a parser lives and nothing private becomes public for it. Not part of
//! the API: it re-exports functions that are public anyway and wraps the one private step
//! (the 7.0 JSON passive request). It must not do I/O, run keys or hold state.

/// Configuration values with a syntax of their own: `Server`, `ServerActive`, PSK files.
pub use crate::config::net::{parse_server_active, server_peer, validate_server_entry};
/// `zabbix_agentd.conf` line reader.
pub use crate::config::reader::{parse_lines as config_lines, Entry as ConfigEntry};
/// A PSK file's content.
pub use crate::tls::psk::parse_psk_file;

/// HTTP responses of `web.page.*`.
pub use crate::keys::web::{dechunk, decode_body, parse_head, Dechunker, Framing, Head};

/// DNS replies of `net.dns*`.
pub use crate::keys::net_dns::{
    answer_usable, answers_query, build_query, expand_name, format_answer, NameDb,
};

/// Modbus TCP requests and replies of `modbus.get`, and the value they format to.
pub mod modbus {
    pub use crate::keys::modbus::{
        decode_reply, encode_request, format_values, DataType, Endian, Endpoint, Function, Query,
        Units,
    };
    pub use crate::keys::Value;
}

/// Most telnet text kept.
pub use crate::keys::net_service::limits::MAX_TELNET_TEXT;
/// Service checks of `net.tcp.service*`/`net.udp.service*`: LDAP BER, greetings, telnet,
/// NTP.
pub use crate::keys::net_service::{
    ber_element, judge_line, ldap_entry_has_attribute, ntp_response_ok, ssh_version, TcpService,
    TelnetText, NTP_PACKET,
};

/// netlink sock_diag replies.
pub use crate::sys::sockets::wire::{decode_diag_msg, walk as sock_diag_walk, Progress, WireError};
/// A decoded socket.
pub use crate::sys::sockets::SockRecord;

/// `/proc` parsers.
pub mod proc {
    pub use crate::sys::cpustat::parse_proc_stat;
    pub use crate::sys::net_snmp::{lookup_pairs as snmp_pairs, lookup_sockstat as sockstat};
    pub use crate::sys::procfs::{
        cmdline_arg0_base, cmdline_joined, first_u64, meminfo_bytes, net_dev_names, parse_btime,
        parse_diskstats, parse_mounts, parse_net_dev, parse_pid_status, parse_uptime,
    };
    pub use crate::sys::procstat::parse_pid_stat;
    pub use crate::sys::sockets::procnet::parse_table as net_tcp_table;
}

/// Active checks: the item list, the data reply and its `info`.
pub use crate::active::proto::{
    parse_active_checks, parse_data_reply, parse_info_counts, ActiveChecksReply,
};

/// What a 7.0 JSON passive request asks for, decided without running anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassiveJson {
    /// Not a JSON object: the payload is a plain key.
    Plain,
    /// Answered at once (malformed request, unknown request, bad timeout): the reply.
    Reply(Vec<u8>),
    /// Run this key with this timeout.
    Run {
        /// The item key as sent.
        key: String,
        /// The per-item timeout.
        timeout: std::time::Duration,
    },
}

/// Classifies a passive request payload as the listener does before running a key.
pub fn passive_json(payload: &[u8]) -> PassiveJson {
    use crate::passive::request::{as_json_object, parse_json, JsonCheck};
    match as_json_object(payload) {
        None => PassiveJson::Plain,
        Some(obj) => match parse_json(obj).0 {
            JsonCheck::Reply(r) => PassiveJson::Reply(r),
            JsonCheck::Run { key, timeout } => PassiveJson::Run { key, timeout },
        },
    }
}

/// Line splitting of files a peer names (`vfs.file.*`, `log[]`).
pub use crate::sys::userfile::{Ending as LineEnding, LineReader, Split as LineSplit};

/// Item update intervals of the active-check list (simple, flexible, scheduling).
pub use crate::active::interval::Interval;
