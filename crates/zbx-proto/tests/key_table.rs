//! Item-key syntax, table-driven: accept/reject decisions and extracted parameters.
//!
//! Every row was checked against the real zabbix_agentd 6.0.14 with the ignored test
//! `table_matches_zabbix_agentd` below (run it with
//! `cargo test -p zbx-proto --test key_table -- --ignored`; it needs `zabbix_agentd` and
//! `strace`). The normal test `table_matches_parser` needs neither.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use zbx_proto::key::{ItemKey, ParamKind};

use ParamKind::{Array as A, Quoted as Q, Unquoted as U};

/// What a key must parse to.
enum Want {
    /// `Invalid item key format.`
    Invalid,
    /// Accepted, with exactly these parameters (value, kind).
    Params(&'static [(&'static str, ParamKind)]),
}

use Want::{Invalid, Params};

/// The table. Keys named `echo` are run through a `UserParameter=echo[*]` by the
/// verifier, so their parameter values are compared with what agentd substituted; other
/// names only check the accept/reject decision.
const CASES: &[(&str, Want)] = &[
    // Plain names and key-name characters.
    ("echo", Params(&[])),
    ("ECHO", Params(&[])),
    ("echo.", Params(&[])),
    ("a-b_c.d", Params(&[])),
    (".", Params(&[])),
    ("-", Params(&[])),
    ("_", Params(&[])),
    ("9", Params(&[])),
    ("", Invalid),
    ("ec$ho", Invalid),
    ("ec ho", Invalid),
    (" echo", Invalid),
    ("échо", Invalid),
    ("[a]", Invalid),
    ("echo [a]", Invalid),
    // Empty parameters.
    ("echo[]", Params(&[("", U)])),
    ("echo[,]", Params(&[("", U), ("", U)])),
    ("echo[a,]", Params(&[("a", U), ("", U)])),
    ("echo[,,]", Params(&[("", U), ("", U), ("", U)])),
    ("echo[,,a]", Params(&[("", U), ("", U), ("a", U)])),
    ("echo[a,,b]", Params(&[("a", U), ("", U), ("b", U)])),
    ("echo[ ]", Params(&[("", U)])),
    ("echo[ ,a]", Params(&[("", U), ("a", U)])),
    ("echo[\"\",\"\"]", Params(&[("", Q), ("", Q)])),
    ("echo[\"\"]", Params(&[("", Q)])),
    // Unquoted parameters: leading spaces skipped, trailing kept, anything but , and ].
    ("echo[a,b]", Params(&[("a", U), ("b", U)])),
    ("echo[ a , b ]", Params(&[("a ", U), ("b ", U)])),
    ("echo[a ]", Params(&[("a ", U)])),
    ("echo[a b]", Params(&[("a b", U)])),
    ("echo[\ta]", Params(&[("\ta", U)])),
    ("echo[a\"b]", Params(&[("a\"b", U)])),
    ("echo[a\"]", Params(&[("a\"", U)])),
    ("echo[a\\\"b]", Params(&[("a\\\"b", U)])),
    ("echo[a\\]", Params(&[("a\\", U)])),
    ("echo[\\]", Params(&[("\\", U)])),
    ("echo[a\\,b]", Params(&[("a\\", U), ("b", U)])),
    ("echo[a[b]", Params(&[("a[b", U)])),
    ("echo[@a,#b]", Params(&[("@a", U), ("#b", U)])),
    ("echo[a=b;c]", Params(&[("a=b;c", U)])),
    ("echo[{$MACRO}]", Params(&[("{$MACRO}", U)])),
    (
        "echo[a,b,c,d,e,f,g,h,i,j,k]",
        Params(&[
            ("a", U),
            ("b", U),
            ("c", U),
            ("d", U),
            ("e", U),
            ("f", U),
            ("g", U),
            ("h", U),
            ("i", U),
            ("j", U),
            ("k", U),
        ]),
    ),
    // `]` ends an unquoted parameter, so whatever follows must be `,` or the end.
    ("echo[a[b]c]", Invalid),
    ("echo[a]b]", Invalid),
    ("echo[a,b]]", Invalid),
    ("echo[]]", Invalid),
    ("echo[a [b]]", Invalid),
    // Quoted parameters.
    ("echo[\"a,b\",c d]", Params(&[("a,b", Q), ("c d", U)])),
    ("echo[\"a\" , \"b\" ]", Params(&[("a", Q), ("b", Q)])),
    ("echo[ \"a\"]", Params(&[("a", Q)])),
    ("echo[ \"a\" ]", Params(&[("a", Q)])),
    ("echo[\"a\", b]", Params(&[("a", Q), ("b", U)])),
    ("echo[\"a\",]", Params(&[("a", Q), ("", U)])),
    ("echo[\" \"]", Params(&[(" ", Q)])),
    ("echo[  \"  a  \"  ]", Params(&[("  a  ", Q)])),
    ("echo[\"a]\"]", Params(&[("a]", Q)])),
    ("echo[\"[a]\"]", Params(&[("[a]", Q)])),
    ("echo[\"a\"b]", Invalid),
    ("echo[\"a\"\t]", Invalid),
    ("echo[\"a\"\",b]", Invalid),
    ("echo[\"a\" ]x", Invalid),
    // Escapes: only \" is one; a backslash before anything else is literal.
    ("echo[\"a\\\"b\"]", Params(&[("a\"b", Q)])),
    ("echo[ \"a\\\"\" ]", Params(&[("a\"", Q)])),
    ("echo[\"a\\\\b\"]", Params(&[("a\\\\b", Q)])),
    ("echo[\"\\\\\\\"\"]", Params(&[("\\\\\"", Q)])),
    ("echo[\"a\\\\\\\"b\"]", Params(&[("a\\\\\"b", Q)])),
    ("echo[\"a\\\\\"]", Invalid),
    ("echo[\"\\\"]", Invalid),
    // Unterminated quotes and brackets.
    ("echo[", Invalid),
    ("echo[a", Invalid),
    ("echo[a,b", Invalid),
    ("echo[\"a", Invalid),
    ("echo[\"a\"", Invalid),
    ("echo[a,\"b]", Invalid),
    ("echo[[a", Invalid),
    ("echo[[a]", Invalid),
    ("echo[[]", Invalid),
    // Trailing garbage.
    ("echo[a]x", Invalid),
    ("echo[a] ", Invalid),
    ("echo[a]]", Invalid),
    ("echo[a][b]", Invalid),
    ("echo[a]\n", Invalid),
    // Arrays: elements lose leading spaces and spaces after a closing quote; quoted
    // elements keep their quotes and escapes; unquoted ones keep trailing spaces.
    ("echo[[a]]", Params(&[("a", A)])),
    ("echo[[]]", Params(&[("", A)])),
    ("echo[[ ]]", Params(&[("", A)])),
    ("echo[[,]]", Params(&[(",", A)])),
    ("echo[[ , ]]", Params(&[(",", A)])),
    ("echo[[a,]]", Params(&[("a,", A)])),
    ("echo[[,a]]", Params(&[(",a", A)])),
    ("echo[[a ]]", Params(&[("a ", A)])),
    ("echo[[\"\"]]", Params(&[("\"\"", A)])),
    ("echo[[ \"a\" , b]]", Params(&[("\"a\",b", A)])),
    (
        "echo[[ a , \"b\" ] ,c]",
        Params(&[("a ,\"b\"", A), ("c", U)]),
    ),
    ("echo[[a b , c d ]]", Params(&[("a b ,c d ", A)])),
    ("echo[[a,\"b\"  ,  c ]]", Params(&[("a,\"b\",c ", A)])),
    ("echo[[\"a,b\"]]", Params(&[("\"a,b\"", A)])),
    ("echo[[\"a]\"]]", Params(&[("\"a]\"", A)])),
    ("echo[[\"a\\\"b\"]]", Params(&[("\"a\\\"b\"", A)])),
    ("echo[[a, \"b\\\"c\" ]]", Params(&[("a,\"b\\\"c\"", A)])),
    ("echo[[\"a\" ]]", Params(&[("\"a\"", A)])),
    ("echo[[a\"b]]", Params(&[("a\"b", A)])),
    ("echo[[a[b]]", Params(&[("a[b", A)])),
    ("echo[[a],b]", Params(&[("a", A), ("b", U)])),
    ("echo[[a] ,b]", Params(&[("a", A), ("b", U)])),
    ("echo[[a],]", Params(&[("a", A), ("", U)])),
    ("echo[[a] ]", Params(&[("a", A)])),
    ("echo[a,[b]]", Params(&[("a", U), ("b", A)])),
    ("echo[ [a] , [b] ]", Params(&[("a", A), ("b", A)])),
    ("echo[[a]  , \"b\"  ]", Params(&[("a", A), ("b", Q)])),
    ("echo[[a]b]", Invalid),
    ("echo[[a]x]", Invalid),
    ("echo[[a] x]", Invalid),
    ("echo[[a]]]", Invalid),
    ("echo[[\"a\"b]]", Invalid),
    ("echo[[\"a\" b]]", Invalid),
    // Nested arrays are invalid.
    ("echo[[a,[b]]]", Invalid),
    ("echo[[[a]]]", Invalid),
    // Unicode in parameters.
    ("echo[ünï,çødé]", Params(&[("ünï", U), ("çødé", U)])),
    ("echo[\"ünï\"]", Params(&[("ünï", Q)])),
    ("echo[\"€ ünicode\"]", Params(&[("€ ünicode", Q)])),
    ("echo[[ü,\"ñ\"]]", Params(&[("ü,\"ñ\"", A)])),
];

fn got(key: &str) -> Option<Vec<(String, ParamKind)>> {
    ItemKey::parse(key)
        .ok()
        .map(|k| k.params.into_iter().map(|p| (p.value, p.kind)).collect())
}

#[test]
fn table_is_large_enough() {
    assert!(CASES.len() >= 60, "{} cases", CASES.len());
    let invalid = CASES.iter().filter(|(_, w)| matches!(w, Invalid)).count();
    assert!(invalid >= 20 && CASES.len() - invalid >= 40);
}

#[test]
fn table_matches_parser() {
    let mut failures = Vec::new();
    for (key, want) in CASES {
        let got = got(key);
        let ok = match want {
            Invalid => got.is_none(),
            Params(p) => got.as_ref().is_some_and(|g| {
                g.len() == p.len()
                    && g.iter()
                        .zip(p.iter())
                        .all(|((gv, gk), (wv, wk))| gv == wv && gk == wk)
            }),
        };
        if !ok {
            failures.push(format!("{key:?}: got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
}

#[test]
fn invalid_keys_say_what_zabbix_says() {
    for (key, want) in CASES {
        if let Invalid = want {
            let e = ItemKey::parse(key).err().map(|e| e.to_string());
            assert_eq!(e.as_deref(), Some("Invalid item key format."), "{key:?}");
        }
    }
}

#[test]
fn accepted_keys_format_and_reparse_to_themselves() {
    for (key, want) in CASES {
        if let Params(_) = want {
            let Ok(k) = ItemKey::parse(key) else {
                panic!("{key:?} did not parse");
            };
            let text = k.to_string();
            assert_eq!(
                ItemKey::parse(&text).as_ref(),
                Ok(&k),
                "{key:?} -> {text:?}"
            );
        }
    }
}

/// Runs every case through the real zabbix_agentd 6.0 (`zabbix_agentd -t KEY`) with a
/// `UserParameter=echo[*]` whose command shows the substituted `$1`..`$9`, captured with
/// `strace` from the `execve` of `/bin/sh` (so quotes and backslashes in values cannot
/// break the shell command). Keys it rejects answer `Invalid item key format.`.
///
/// Limits of this oracle: agentd exposes at most 9 parameters, cannot show whether a
/// parameter was quoted, and cannot distinguish a trailing empty parameter from a
/// missing one, so those are compared as far as they are visible.
#[test]
#[ignore = "needs zabbix_agentd and strace; run with --ignored"]
fn table_matches_zabbix_agentd() {
    let dir = std::env::temp_dir().join(format!("zbx-proto-keytable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let conf = dir.join("agentd.conf");
    std::fs::write(
        &conf,
        format!(
            "LogType=console\nPidFile={}\nUnsafeUserParameters=1\n\
             UserParameter=echo[*],true @1{{$1}}@2{{$2}}@3{{$3}}@4{{$4}}@5{{$5}}@6{{$6}}@7{{$7}}@8{{$8}}@9{{$9}}@E\n",
            dir.join("pid").display()
        ),
    )
    .expect("write config");
    let mut failures = Vec::new();
    for (key, want) in CASES {
        let seen = agentd_verdict(&dir, &conf, key);
        let ok = match (want, &seen) {
            (Invalid, Verdict::Invalid) => true,
            (Params(_), Verdict::OtherAnswer(_)) => *key != "echo" && !key.starts_with("echo["),
            (Params(p), Verdict::Substituted(vals)) => {
                let mut want_vals: Vec<&str> = p.iter().take(9).map(|(v, _)| *v).collect();
                while want_vals.last() == Some(&"") {
                    want_vals.pop();
                }
                *vals == want_vals
            }
            _ => false,
        };
        if !ok {
            failures.push(format!("{key:?}: agentd {seen:?}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failures.is_empty(),
        "disagreements with zabbix_agentd:\n{}",
        failures.join("\n")
    );
}

#[derive(Debug)]
enum Verdict {
    Invalid,
    /// `$1..$9` as substituted, trailing empty ones removed.
    Substituted(Vec<String>),
    /// Accepted syntax but some other answer (e.g. `Unsupported item key.`), shown in
    /// the failure message.
    OtherAnswer(#[allow(dead_code)] String),
}

fn agentd_verdict(dir: &std::path::Path, conf: &std::path::Path, key: &str) -> Verdict {
    let trace = dir.join("trace");
    let out = std::process::Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=execve",
            "-xx",
            "-s",
            "1000000",
            "-o",
        ])
        .arg(&trace)
        .args(["zabbix_agentd", "-t", key, "-c"])
        .arg(conf)
        .current_dir(dir)
        .output()
        .expect("run strace zabbix_agentd");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let trace = std::fs::read_to_string(&trace).expect("read trace");
    for line in trace.lines().filter(|l| l.contains("execve(")) {
        let args = hex_strings(line);
        if args.first().map(Vec::as_slice) == Some(b"/bin/sh".as_slice()) && args.len() >= 4 {
            let cmd = String::from_utf8_lossy(&args[3]).into_owned();
            return Verdict::Substituted(split_command(&cmd));
        }
    }
    if stdout.contains("Invalid item key format.") {
        Verdict::Invalid
    } else {
        Verdict::OtherAnswer(stdout)
    }
}

/// The `"\x..\x.."` strings of one strace line, decoded.
fn hex_strings(line: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find("\"\\x") {
        let body = &rest[start + 1..];
        let end = body.find('"').expect("closing quote");
        let bytes = body[..end]
            .split("\\x")
            .filter(|h| !h.is_empty())
            .map(|h| u8::from_str_radix(h, 16).expect("hex byte"))
            .collect();
        out.push(bytes);
        rest = &body[end + 1..];
    }
    out
}

/// `true @1{..}@2{..}...@9{..}@E` → the nine values, trailing empty ones removed.
fn split_command(cmd: &str) -> Vec<String> {
    let mut vals = Vec::new();
    let mut rest = cmd.strip_prefix("true ").expect("our command");
    for n in 1..=9 {
        let open = format!("@{n}{{");
        let close = if n == 9 {
            "}@E".to_string()
        } else {
            format!("}}@{}{{", n + 1)
        };
        rest = rest.strip_prefix(&open).expect("marker");
        let end = rest.find(&close).expect("closing marker");
        vals.push(rest[..end].to_string());
        rest = &rest[end + 1..];
    }
    while vals.last().is_some_and(String::is_empty) {
        vals.pop();
    }
    vals
}
