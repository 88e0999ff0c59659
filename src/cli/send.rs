//! `zagent send`: push values to trapper items, with zabbix_sender 6.0's flags, input
//! format, output and exit codes (0 all processed, 2 some failed, 1 error).
//!
//! Owns the input-line parser (pure, unit-tested) and the batching (at most 250 values
//! per connection). Connections go through [`crate::transport`].

use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use zbx_proto::message::SenderDataRequest;

use crate::active::clock::wall_clock;
use crate::active::proto::{parse_data_reply, parse_info_counts};
use crate::config::{ActiveAddr, DEFAULT_ACTIVE_PORT};
use crate::transport::{self, ClientOptions};

/// Values per connection, as zabbix_sender sends them.
pub const MAX_VALUES_PER_CONNECTION: usize = 250;

/// `zagent send` arguments (zabbix_sender spelling).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SendArgs {
    /// Agent configuration file: ServerActive (values go to every entry; HA nodes in
    /// order), Hostname and SourceIP.
    #[arg(short = 'c', long = "config")]
    pub config: Option<PathBuf>,
    /// Zabbix server or proxy to send to (instead of the ServerActive entries).
    #[arg(short = 'z', long = "zabbix-server")]
    pub zabbix_server: Option<String>,
    /// Trapper port (default 10051, or the ServerActive entry's port).
    #[arg(short = 'p', long = "port")]
    pub port: Option<u16>,
    /// Source IP address (overrides SourceIP).
    #[arg(short = 'I', long = "source-address")]
    pub source_address: Option<IpAddr>,
    /// Timeout in seconds (1-300).
    #[arg(short = 't', long = "timeout", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub timeout: u64,
    /// Host name the items belong to (overrides Hostname).
    #[arg(short = 's', long = "host")]
    pub host: Option<String>,
    /// Item key.
    #[arg(short = 'k', long = "key")]
    pub key: Option<String>,
    /// Item value.
    #[arg(short = 'o', long = "value")]
    pub value: Option<String>,
    /// Read `<host> <key> <value>` lines from this file (`-` = standard input).
    #[arg(short = 'i', long = "input-file")]
    pub input_file: Option<String>,
    /// Lines carry a Unix timestamp: `<host> <key> <timestamp> <value>`.
    #[arg(short = 'T', long = "with-timestamps")]
    pub with_timestamps: bool,
    /// Lines also carry nanoseconds: `<host> <key> <timestamp> <ns> <value>` (needs -T).
    #[arg(short = 'N', long = "with-ns")]
    pub with_ns: bool,
    /// Send each value as soon as it is read (for standard input).
    #[arg(short = 'r', long = "real-time")]
    pub real_time: bool,
    /// Verbose: -v for warnings, -vv for connection details.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// TLS (`--tls-connect psk|cert` and friends, zabbix_sender spelling); with `-c` they
    /// override the file's `TLS*` parameters.
    #[command(flatten)]
    pub tls: crate::tls::args::TlsArgs,
}

pub use zbx_proto::message::SenderRow;

/// Builds a "sender data" payload; top-level clock/ns only when rows carry timestamps.
pub fn sender_data(rows: &[SenderRow], now: Option<(i64, u32)>) -> Vec<u8> {
    let mut d = SenderDataRequest::new(rows.to_vec());
    d.clock = now.map(|n| n.0);
    d.ns = now.map(|n| n.1);
    serde_json::to_vec(&d).unwrap_or_default()
}

/// Why an input line was refused. `Warning` lines are printed only with -v, like
/// zabbix_sender; both stop the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// `ERROR: [line N] ...`
    Error(String),
    /// `Warning: [line N] ...`
    Warning(String),
}

/// Reads one field: a `"quoted"` string (`\"` and `\\` unescaped; must be followed by
/// whitespace or the end) or a run of non-blank characters. `None` when the line is
/// exhausted or the quoting is broken.
fn field(s: &mut &str) -> Option<String> {
    *s = s.trim_start_matches([' ', '\t']);
    if s.is_empty() {
        return None;
    }
    if let Some(rest) = s.strip_prefix('"') {
        let (v, used) = unquote(rest)?;
        let after = &rest[used..];
        if !(after.is_empty() || after.starts_with([' ', '\t'])) {
            return None;
        }
        *s = after;
        return Some(v);
    }
    let end = s.find([' ', '\t']).unwrap_or(s.len());
    let v = s[..end].to_string();
    *s = &s[end..];
    Some(v)
}

/// Unescapes up to the closing quote; returns the text and bytes consumed (with the quote).
fn unquote(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\\' => match chars.next() {
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return None,
            },
            c => out.push(c),
        }
    }
    None
}

/// Parses one input line (without its newline). `-` as the host means `default_host`.
pub fn parse_line(
    line: &str,
    with_ts: bool,
    with_ns: bool,
    default_host: Option<&str>,
) -> Result<SenderRow, LineError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut s = line;
    let err = |m: &str| LineError::Error(m.to_string());
    let host = field(&mut s).ok_or_else(|| err("'Hostname' required"))?;
    let host = if host == "-" {
        default_host
            .ok_or_else(|| {
                err("'-' encountered as 'Hostname', but no default hostname was specified")
            })?
            .to_string()
    } else {
        host
    };
    let key = field(&mut s).ok_or_else(|| err("'Key' required"))?;
    let mut clock = None;
    let mut ns = None;
    if with_ts {
        let t = field(&mut s).ok_or_else(|| err("'Timestamp' required"))?;
        clock =
            Some(t.parse::<i64>().map_err(|_| {
                LineError::Warning("invalid 'Timestamp' value detected".to_string())
            })?);
        if with_ns {
            let n = field(&mut s).ok_or_else(|| err("'Nanoseconds' required"))?;
            ns = Some(
                n.parse::<u32>()
                    .ok()
                    .filter(|n| *n <= 999_999_999)
                    .ok_or_else(|| {
                        LineError::Warning("invalid 'Nanoseconds' value detected".to_string())
                    })?,
            );
        }
    }
    // The value: a quoted string, or the rest of the line as it is.
    let rest = s.trim_start_matches([' ', '\t']);
    if rest.is_empty() {
        return Err(err("'Key value' required"));
    }
    let value = if rest.starts_with('"') {
        let mut r = rest;
        let v = field(&mut r).ok_or_else(|| err("'Key value' required"))?;
        if !r.trim_matches([' ', '\t']).is_empty() {
            return Err(err("'Key value' required"));
        }
        v
    } else {
        rest.to_string()
    };
    Ok(SenderRow {
        host,
        key,
        value,
        clock,
        ns,
    })
}

/// Totals printed at the end.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Totals {
    sent: usize,
    total: usize,
    /// Some batch reported `failed: N > 0`.
    partial: bool,
}

/// Where values go: every `ServerActive` entry (or the one `-z` names), each a list of
/// HA nodes tried in order.
struct Target {
    destinations: Vec<Vec<ActiveAddr>>,
    opts: ClientOptions,
    verbose: u8,
}

fn prog() -> String {
    format!("zagent send [{}]", std::process::id())
}

impl Target {
    /// Sends one batch to every destination; prints each answer like zabbix_sender. Fails
    /// only when no destination took it; a destination that failed makes the run partial.
    async fn send(
        &self,
        rows: &[SenderRow],
        with_ts: bool,
        totals: &mut Totals,
        io: &mut Io<'_>,
    ) -> Result<(), String> {
        let payload = sender_data(rows, with_ts.then(wall_clock));
        let mut delivered = false;
        let mut last = String::new();
        for nodes in &self.destinations {
            match self.send_to(nodes, &payload, io).await {
                Ok(info) => {
                    delivered = true;
                    if parse_info_counts(&info).is_some_and(|(_, failed, _)| failed > 0) {
                        totals.partial = true;
                    }
                }
                Err(e) => {
                    totals.partial = true;
                    last = e;
                }
            }
        }
        if delivered {
            totals.sent += rows.len();
            Ok(())
        } else {
            Err(last)
        }
    }

    /// One destination: its nodes in order until one answers. Returns the `info` text.
    async fn send_to(
        &self,
        nodes: &[ActiveAddr],
        payload: &[u8],
        io: &mut Io<'_>,
    ) -> Result<String, String> {
        let mut last = String::new();
        for a in nodes {
            if self.verbose >= 2 {
                io.err(format_args!(
                    "{}: DEBUG: connecting to {a} [timeout:{:?}]",
                    prog(),
                    self.opts.timeout
                ));
            }
            match transport::exchange(&a.host, a.port, payload, &self.opts).await {
                Ok(f) => {
                    if self.verbose >= 2 {
                        io.err(format_args!(
                            "{}: DEBUG: answer [{}]",
                            prog(),
                            String::from_utf8_lossy(&f.payload)
                        ));
                    }
                    let reply = parse_data_reply(&f.payload).map_err(|e| e.to_string())?;
                    let info = reply.info.unwrap_or_default();
                    io.out(format_args!(
                        "Response from \"{}:{}\": \"{}\"",
                        a.host, a.port, info
                    ));
                    return if reply.success {
                        Ok(info)
                    } else {
                        Err(format!("server answered \"{info}\""))
                    };
                }
                Err(e) => {
                    last = format!("unable to connect to {a}: {e}");
                    if self.verbose >= 2 {
                        io.err(format_args!("{}: DEBUG: {last}", prog()));
                    }
                }
            }
        }
        Err(last)
    }
}

/// zabbix_sender's last line when nothing could be sent.
fn failed_line(verbose: u8) -> &'static str {
    if verbose >= 2 {
        "Sending failed."
    } else {
        "Sending failed. Use option -vv for more detailed output."
    }
}

fn usage_error(io: &mut Io<'_>) -> anyhow::Result<u8> {
    io.err(format_args!(
        "{}: too few or mutually exclusive options used",
        prog()
    ));
    Ok(1)
}

/// Where the report goes (stdout/stderr for the binary, buffers in tests).
pub struct Io<'a> {
    /// The `Response from`/`sent:` lines.
    pub out: &'a mut dyn Write,
    /// Errors, warnings and debug lines.
    pub err: &'a mut dyn Write,
}

impl std::fmt::Debug for Io<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Io")
    }
}

impl Io<'_> {
    fn out(&mut self, a: std::fmt::Arguments<'_>) {
        // A closed stdout must not turn a successful send into an error.
        let _ = writeln!(self.out, "{a}");
    }

    fn err(&mut self, a: std::fmt::Arguments<'_>) {
        let _ = writeln!(self.err, "{a}");
    }
}

/// Runs `zagent send` with the report on stdout/stderr.
pub fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let code = run_with(
        args,
        &mut Io {
            out: &mut out,
            err: &mut err,
        },
    )?;
    Ok(ExitCode::from(code))
}

/// Runs `zagent send`, reporting to `io`; returns the exit code (0 all processed, 2
/// some failed on the server, 1 error).
pub fn run_with(args: SendArgs, io: &mut Io<'_>) -> anyhow::Result<u8> {
    let cfg = match &args.config {
        Some(p) => Some(
            super::load_config_for_test(Some(p))
                .with_context(|| format!("cannot load the agent configuration {}", p.display()))?,
        ),
        None => None,
    };
    let file_mode = args.input_file.is_some();
    let single_mode = args.key.is_some() || args.value.is_some();
    if file_mode == single_mode
        || (single_mode && (args.key.is_none() || args.value.is_none()))
        || (!file_mode && (args.with_timestamps || args.with_ns || args.real_time))
        || (args.with_ns && !args.with_timestamps)
        || (args.zabbix_server.is_none() && cfg.is_none())
    {
        return usage_error(io);
    }
    let default_host = args
        .host
        .clone()
        // Like zabbix_sender: only an explicit Hostname, never the system's name.
        .or_else(|| {
            cfg.as_ref()
                .filter(|c| c.hostname_set)
                .and_then(|c| c.hostnames.first().cloned())
        });
    if single_mode && default_host.is_none() {
        if cfg.is_none() {
            return usage_error(io);
        }
        // With -c but no Hostname there and no -s (zabbix_sender's answer).
        if args.verbose >= 1 {
            io.err(format_args!(
                "{}: Warning: 'Hostname' parameter required",
                prog()
            ));
        }
        io.out(format_args!("{}", failed_line(args.verbose)));
        return Ok(1);
    }
    // -z replaces the ServerActive list; -p sets the port of -z or of the first entry.
    let destinations: Vec<Vec<ActiveAddr>> = match (&args.zabbix_server, &cfg) {
        (Some(z), _) => vec![vec![ActiveAddr {
            host: z.trim_start_matches('[').trim_end_matches(']').to_string(),
            port: args.port.unwrap_or(DEFAULT_ACTIVE_PORT),
        }]],
        (None, Some(c)) if !c.server_active.is_empty() => c
            .server_active
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.nodes
                    .iter()
                    .map(|n| ActiveAddr {
                        host: n.host.clone(),
                        port: if i == 0 {
                            args.port.unwrap_or(n.port)
                        } else {
                            n.port
                        },
                    })
                    .collect()
            })
            .collect(),
        (None, Some(_)) => {
            io.err(format_args!(
                "{}: ServerActive is not set in the configuration file; use -z",
                prog()
            ));
            return Ok(1);
        }
        (None, None) => return usage_error(io),
    };
    let base = cfg.as_ref().map(|c| c.tls.clone()).unwrap_or_default();
    let tls = match args
        .tls
        .apply_over(base, crate::tls::Program::Sender)
        .and_then(|c| crate::tls::build(&c, crate::tls::Program::Sender))
    {
        Ok(t) => t,
        Err(e) => {
            io.err(format_args!("{}: {e}", prog()));
            return Ok(1);
        }
    };
    let mut opts = ClientOptions::new(Duration::from_secs(args.timeout)).with_tls(tls.client);
    opts.source_ip = args
        .source_address
        .or_else(|| cfg.as_ref().and_then(|c| c.source_ip));
    let target = Target {
        destinations,
        opts,
        verbose: args.verbose,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let mut totals = Totals::default();
    let outcome = if single_mode {
        let row = SenderRow {
            host: default_host.unwrap_or_default(),
            key: args.key.clone().unwrap_or_default(),
            value: args.value.clone().unwrap_or_default(),
            clock: None,
            ns: None,
        };
        totals.total = 1;
        rt.block_on(target.send(std::slice::from_ref(&row), false, &mut totals, io))
    } else {
        let path = args.input_file.clone().unwrap_or_default();
        send_file(
            &rt,
            &target,
            &args,
            &path,
            default_host.as_deref(),
            &mut totals,
            io,
        )
    };
    match outcome {
        Ok(()) => {
            io.out(format_args!(
                "sent: {}; skipped: 0; total: {}",
                totals.sent, totals.total
            ));
            Ok(if totals.partial { 2 } else { 0 })
        }
        Err(e) => {
            if !e.is_empty() && args.verbose >= 2 {
                io.err(format_args!("{}: {e}", prog()));
            }
            if totals.sent > 0 {
                io.out(format_args!(
                    "sent: {}; skipped: 0; total: {}",
                    totals.sent, totals.total
                ));
            }
            io.out(format_args!("{}", failed_line(args.verbose)));
            Ok(1)
        }
    }
}

fn send_file(
    rt: &tokio::runtime::Runtime,
    target: &Target,
    args: &SendArgs,
    path: &str,
    default_host: Option<&str>,
    totals: &mut Totals,
    io: &mut Io<'_>,
) -> Result<(), String> {
    let reader: Box<dyn BufRead> = if path == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        match std::fs::File::open(path) {
            Ok(f) => Box::new(std::io::BufReader::new(f)),
            Err(e) => {
                io.err(format_args!(
                    "{}: ERROR: cannot open [{path}]: {}",
                    prog(),
                    crate::sys::oserror::zbx_strerror(&e)
                ));
                return Err(String::new());
            }
        }
    };
    let batch_max = if args.real_time {
        1
    } else {
        MAX_VALUES_PER_CONNECTION
    };
    let mut batch: Vec<SenderRow> = Vec::with_capacity(batch_max);
    for (n, line) in reader.split(b'\n').enumerate() {
        let line = line.map_err(|e| format!("cannot read [{path}]: {e}"))?;
        let line = String::from_utf8_lossy(&line);
        match parse_line(&line, args.with_timestamps, args.with_ns, default_host) {
            Ok(row) => {
                totals.total += 1;
                batch.push(row);
            }
            Err(LineError::Error(m)) => {
                io.err(format_args!("{}: ERROR: [line {}] {m}", prog(), n + 1));
                return Err(String::new());
            }
            Err(LineError::Warning(m)) => {
                if args.verbose >= 1 {
                    io.err(format_args!("{}: Warning: [line {}] {m}", prog(), n + 1));
                }
                return Err(String::new());
            }
        }
        if batch.len() >= batch_max {
            rt.block_on(target.send(&batch, args.with_timestamps, totals, io))?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        rt.block_on(target.send(&batch, args.with_timestamps, totals, io))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn ok(line: &str) -> SenderRow {
        parse_line(line, false, false, Some("dflt")).unwrap()
    }

    #[test]
    fn input_lines_like_zabbix_sender() {
        // Each expectation was checked against zabbix_sender 6.0.14 and the lab server.
        assert_eq!(ok(r#"h trap.text "a \"q\" \\ b""#).value, r#"a "q" \ b"#);
        assert_eq!(
            ok(r#""h" "trap.text" unquoted\value"#).value,
            r"unquoted\value"
        );
        let r = ok("h  trap.text   spaced  out  ");
        assert_eq!(
            (r.host.as_str(), r.key.as_str(), r.value.as_str()),
            ("h", "trap.text", "spaced  out  ")
        );
        assert_eq!(ok("  h\ttrap.text\t\"tab\tsep\" ").value, "tab\tsep");
        assert_eq!(ok(r#"h k a"b""#).value, r#"a"b""#);
        assert_eq!(ok(r#"h k """#).value, "");
        assert_eq!(ok("h k 1\r").value, "1");
        assert_eq!(ok("- k 5").host, "dflt");
        assert_eq!(ok(r#"h "k[a,\"b\"]" v"#).key, r#"k[a,"b"]"#);
        let e = |l: &str| parse_line(l, false, false, None).unwrap_err();
        assert_eq!(e(""), LineError::Error("'Hostname' required".into()));
        assert_eq!(e("h"), LineError::Error("'Key' required".into()));
        assert_eq!(e("h k"), LineError::Error("'Key value' required".into()));
        assert_eq!(e("h k\t"), LineError::Error("'Key value' required".into()));
        assert_eq!(
            e(r#"h k "x"y"#),
            LineError::Error("'Key value' required".into())
        );
        assert_eq!(
            e(r#"h k "open"#),
            LineError::Error("'Key value' required".into())
        );
        assert_eq!(
            e("- k 5"),
            LineError::Error(
                "'-' encountered as 'Hostname', but no default hostname was specified".into()
            )
        );
    }

    #[test]
    fn timestamps_and_ns() {
        let r = parse_line("h k 1795267000 5 seven", true, true, None).unwrap();
        assert_eq!(
            (r.clock, r.ns, r.value.as_str()),
            (Some(1795267000), Some(5), "seven")
        );
        let r = parse_line("h k 1795267000 10", true, false, None).unwrap();
        assert_eq!(
            (r.clock, r.ns, r.value.as_str()),
            (Some(1795267000), None, "10")
        );
        assert_eq!(
            parse_line("h k", true, false, None).unwrap_err(),
            LineError::Error("'Timestamp' required".into())
        );
        assert_eq!(
            parse_line("h k x 7", true, false, None).unwrap_err(),
            LineError::Warning("invalid 'Timestamp' value detected".into())
        );
        assert_eq!(
            parse_line("h k 1795267000", true, true, None).unwrap_err(),
            LineError::Error("'Nanoseconds' required".into())
        );
        assert_eq!(
            parse_line("h k 1795267000 x 5", true, true, None).unwrap_err(),
            LineError::Warning("invalid 'Nanoseconds' value detected".into())
        );
    }

    #[test]
    fn payload_matches_zabbix_sender() {
        let rows = vec![SenderRow {
            host: "vector-host".into(),
            key: "vector.trap".into(),
            value: "10".into(),
            clock: Some(1795267000),
            ns: Some(123456789),
        }];
        let got = sender_data(&rows, Some((1795267409, 523238851)));
        let want = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/crates/zbx-proto/tests/vectors/sender/fake-timestamps-ns.request.json"
        ))
        .unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(want).unwrap().trim_end()
        );
        let rows = vec![SenderRow {
            host: "vector-host".into(),
            key: "vector.trap".into(),
            value: "42".into(),
            clock: None,
            ns: None,
        }];
        assert_eq!(
            String::from_utf8(sender_data(&rows, None)).unwrap(),
            r#"{"request":"sender data","data":[{"host":"vector-host","key":"vector.trap","value":"42"}]}"#
        );
    }
}
