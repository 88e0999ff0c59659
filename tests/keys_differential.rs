//! Differential test (issue 2 "Done means"): for every system/vfs/proc/net.if/kernel key,
//! with parameter variants and error cases, `zagent test KEY` prints what
//! `zabbix_agentd -t KEY` prints
//! — the type letter always, the value exactly or, for values that move between two
//! calls (uptime, clock, load, free memory, counters), numerically within a stated
//! tolerance.
//!
//! Needs the real zabbix_agentd 6.0 (installed by `.ci/run`). Runs as root with a temp
//! config holding `AllowRoot=1`.

#![allow(clippy::panic)] // a test fails by panicking

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use std::sync::Arc;

use zagent::keys::{AgentCtx, Value};

mod util;
use util::Answer;

/// How two answers must agree.
#[derive(Debug, Clone, Copy)]
enum Cmp {
    /// Same letter, same text (or same reason).
    Exact,
    /// Same letter; numbers within this absolute distance.
    Abs(f64),
    /// Same letter; a counter that only grows: zagent (asked second) >= agentd and
    /// less than this far ahead.
    Grows(f64),
    /// Same letter; `YYYY-MM-DD,HH:MM:SS.mmm,+HH:MM` within this many seconds.
    LocalTime(i64),
    /// Exact, except where zabbix_agentd's collector crashed (PCRE2 matching a file name
    /// that is not UTF-8 with the UTF check off: undefined behaviour, docs/COMPATIBILITY.md);
    /// zagent must then answer a value.
    ExactUnlessAgentdCrashed,
    /// vfs.fs.get JSON: identical once numbers are masked (names, types, key order), and
    /// every number within `bytes` (byte counts), `inodes` (inode counts) or 1.0 (percent).
    FsGet { bytes: f64, inodes: f64 },
}

fn mask_numbers(json: &str) -> String {
    let re = regex::Regex::new(r":[0-9]+(\.[0-9]+)?").unwrap_or_else(|e| panic!("{e}"));
    re.replace_all(json, ":N").into_owned()
}

fn fs_get_close(a: &str, b: &str, bytes: f64, inodes: f64) -> bool {
    if mask_numbers(a) != mask_numbers(b) {
        return false;
    }
    let parse = |t: &str| -> Vec<serde_json::Value> {
        serde_json::from_str(t).unwrap_or_else(|e| panic!("vfs.fs.get is not JSON: {e}"))
    };
    parse(a).iter().zip(parse(b).iter()).all(|(x, y)| {
        ["bytes", "inodes"].iter().all(|group| {
            ["total", "free", "used", "pfree", "pused"].iter().all(|k| {
                let n = |v: &serde_json::Value| v[group][k].as_f64().unwrap_or(f64::NAN);
                let tol = match (*group, k.starts_with('p')) {
                    (_, true) => 1.0,
                    ("bytes", false) => bytes,
                    _ => inodes,
                };
                (n(x) - n(y)).abs() <= tol
            })
        })
    })
}

/// What `agentd` reports when zabbix_agentd -t died without printing an answer.
const AGENTD_CRASHED: &str = "(zabbix_agentd -t crashed)";

fn parse_agentd(key: &str, stdout: &str) -> Answer {
    util::parse_test_output(key, stdout)
}

async fn agentd(conf: &Path, key: &str) -> Answer {
    let out = tokio::process::Command::new("zabbix_agentd")
        .arg("-c")
        .arg(conf)
        .arg("-t")
        .arg(key)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run zabbix_agentd: {e}"));
    if out.stdout.is_empty() && !out.status.success() {
        // Killed before it printed (a SIGSEGV in PCRE2, see Cmp::ExactUnlessAgentdCrashed).
        return Answer::NotSupported(AGENTD_CRASHED.to_string());
    }
    parse_agentd(key, &String::from_utf8_lossy(&out.stdout))
}

/// `zagent test -c CONF KEY`, parsed like agentd's output: this checks the printing too.
async fn zagent(conf: &Path, key: &str) -> Answer {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_zagent"))
        .arg("test")
        .arg("-c")
        .arg(conf)
        .arg(key)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run zagent: {e}"));
    parse_agentd(key, &String::from_utf8_lossy(&out.stdout))
}

fn num(s: &str, key: &str) -> f64 {
    s.trim()
        .parse::<f64>()
        .unwrap_or_else(|e| panic!("{key}: {s:?} is not a number: {e}"))
}

fn local_secs(s: &str) -> i64 {
    let t = chrono::DateTime::parse_from_str(s, "%Y-%m-%d,%H:%M:%S%.3f,%:z")
        .unwrap_or_else(|e| panic!("bad local time {s:?}: {e}"));
    t.timestamp()
}

/// Compares; returns a description of the difference, if any.
fn differs(key: &str, cmp: Cmp, official: &Answer, ours: &Answer) -> Option<String> {
    let bad = || {
        Some(format!(
            "{key}: agentd {official:?} vs zagent {ours:?} ({cmp:?})"
        ))
    };
    match (official, ours) {
        (Answer::NotSupported(a), Answer::Value(..))
            if matches!(cmp, Cmp::ExactUnlessAgentdCrashed)
                && (a == "Data gathering process terminated with error 256."
                    || a == AGENTD_CRASHED) =>
        {
            None
        }
        (Answer::NotSupported(a), Answer::NotSupported(b)) => (a != b).then(bad).flatten(),
        (Answer::Value(ta, a), Answer::Value(tb, b)) => {
            if ta != tb {
                return bad();
            }
            let ok = match cmp {
                Cmp::Exact if *ta == 'd' => (num(a, key) - num(b, key)).abs() < 1e-6,
                Cmp::Exact | Cmp::ExactUnlessAgentdCrashed => a == b,
                Cmp::Abs(tol) => (num(a, key) - num(b, key)).abs() <= tol,
                Cmp::Grows(tol) => {
                    let (a, b) = (num(a, key), num(b, key));
                    b >= a && b - a <= tol
                }
                Cmp::LocalTime(tol) => (local_secs(a) - local_secs(b)).abs() <= tol,
                Cmp::FsGet { bytes, inodes } => fs_get_close(a, b, bytes, inodes),
            };
            (!ok).then(bad).flatten()
        }
        _ => bad(),
    }
}

/// Asks agentd, then zagent. A difference is asked once more: the box is shared, and a
/// mount or interface another test adds between the two answers is not a zagent bug; a
/// real difference shows up twice.
async fn compare(conf: &Path, key: &str, cmp: Cmp) -> Option<String> {
    let official = agentd(conf, key).await;
    let ours = zagent(conf, key).await;
    differs(key, cmp, &official, &ours)?;
    let official = agentd(conf, key).await;
    let ours = zagent(conf, key).await;
    differs(key, cmp, &official, &ours)
}

/// Processes with a name nobody else uses, for exact proc.num answers; killed on drop.
struct Sleepers(Vec<Child>);

impl Drop for Sleepers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Scene {
    _dir: tempfile::TempDir,
    root: PathBuf,
    conf: PathBuf,
}

fn scene() -> Scene {
    let dir = tempfile::Builder::new()
        .prefix("zt-sys-diff")
        .tempdir()
        .unwrap_or_else(|e| panic!("tempdir: {e}"));
    let root = dir.path().to_path_buf();
    let w = |name: &str, data: &[u8]| {
        std::fs::write(root.join(name), data).unwrap_or_else(|e| panic!("write {name}: {e}"))
    };
    w("f.txt", b"hello\nworld\n");
    w("nonl.txt", b"no newline");
    w("empty.txt", b"");
    w("nul.txt", b"a\0b\nc\n");
    w("crlf.txt", "caf\u{e9}\r\n".as_bytes());
    w("crlf2.txt", b"a\r\n\r\n");
    w("bom.txt", b"\xef\xbb\xbfbom\n");
    w("utf16.txt", b"\xff\xfeh\0i\0\n\0t\0h\0e\0r\0e\0\n\0");
    w("r.txt", b"foo 12\nbar 34\nfoo 56\n");
    w("edge.txt", &vec![b'b'; 65536]);
    w("big.txt", &vec![b'a'; 65537]);
    let bin: Vec<u8> = (0..=255u8)
        .cycle()
        .take(50_000)
        .filter(|b| *b != 0)
        .collect();
    w("bin.dat", &bin);
    std::fs::create_dir(root.join("d")).unwrap_or_else(|e| panic!("mkdir: {e}"));
    // A tree only the vfs.dir.* cases look at.
    for d in ["dd", "dd/sub", "dd/sub/deeper", "dd/empty"] {
        std::fs::create_dir(root.join(d)).unwrap_or_else(|e| panic!("mkdir {d}: {e}"));
    }
    w("dd/a.log", b"abc");
    w("dd/b.txt", b"12345");
    w("dd/sub/c.log", b"x");
    w("dd/sub/deeper/d.log", b"yy");
    w("dd/sub/deeper/big.bin", &vec![7u8; 5000]);
    std::fs::hard_link(root.join("dd/b.txt"), root.join("dd/sub/hard.txt"))
        .unwrap_or_else(|e| panic!("hard link: {e}"));
    std::os::unix::fs::symlink("a.log", root.join("dd/link.log"))
        .unwrap_or_else(|e| panic!("symlink: {e}"));
    // A wider tree for the vfs.dir order family: several directories per level, so that
    // zabbix_agentd's walk order (a stack) shows, and the same names at several depths,
    // so that excluded directories matched by path and by name differ.
    for d in [
        "wt", "wt/a", "wt/a/b", "wt/a/b/c", "wt/a/d", "wt/b", "wt/b/a", "wt/e", "wt/e/f",
    ] {
        std::fs::create_dir(root.join(d)).unwrap_or_else(|e| panic!("mkdir {d}: {e}"));
    }
    for f in [
        "wt/x",
        "wt/a/y",
        "wt/a/b/z",
        "wt/a/b/c/w",
        "wt/b/v",
        "wt/b/a/u",
        "wt/e/f/t",
    ] {
        w(f, f.as_bytes());
    }
    std::fs::hard_link(root.join("wt/x"), root.join("wt/e/x2"))
        .unwrap_or_else(|e| panic!("hard link: {e}"));
    std::os::unix::fs::symlink("a", root.join("wt/lnk")).unwrap_or_else(|e| panic!("symlink: {e}"));
    // Read every directory once now: its access time then no longer moves (relatime)
    // between the two agents' vfs.dir.get answers.
    fn read_all(d: &Path) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                read_all(&e.path());
            }
        }
    }
    read_all(&root.join("wt"));
    // The PCRE2 limit family: "a" * n then "b" (backtracking past the match limit) and
    // "a" * m (recursion past the depth limit).
    for n in 14..=24 {
        let mut line = vec![b'a'; n];
        line.extend_from_slice(b"b\n");
        w(&format!("limit{n}.txt"), &line);
    }
    for m in (3000..=13000).step_by(500) {
        let mut line = vec![b'a'; m];
        line.push(b'\n');
        w(&format!("deep{m}.txt"), &line);
    }
    w("orphan.txt", b"owned by nobody known\n");
    // Only vfs.file.get looks at these, so no other case moves their access time.
    w("get.txt", b"twelve bytes");
    w("time.txt", b"read by nobody, so its access time stays");
    std::fs::create_dir(root.join("getdir")).unwrap_or_else(|e| panic!("mkdir: {e}"));
    std::os::unix::fs::symlink(root.join("get.txt"), root.join("getlink"))
        .unwrap_or_else(|e| panic!("symlink: {e}"));
    std::os::unix::fs::symlink(root.join("getdir"), root.join("getdirlink"))
        .unwrap_or_else(|e| panic!("symlink: {e}"));
    std::os::unix::fs::symlink(root.join("nope"), root.join("getdangling"))
        .unwrap_or_else(|e| panic!("symlink: {e}"));
    std::os::unix::fs::chown(root.join("orphan.txt"), Some(4_000_123), Some(4_000_456))
        .unwrap_or_else(|e| panic!("chown: {e}"));
    w("suid.txt", b"");
    std::fs::set_permissions(
        root.join("suid.txt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o4751),
    )
    .unwrap_or_else(|e| panic!("chmod: {e}"));
    std::os::unix::fs::symlink(root.join("f.txt"), root.join("link"))
        .unwrap_or_else(|e| panic!("symlink: {e}"));
    std::os::unix::fs::symlink(root.join("nope"), root.join("dangling"))
        .unwrap_or_else(|e| panic!("symlink: {e}"));
    // The PCRE2 table (tests/fixtures/pcre): its subject lines as a file and as file names.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pcre");
    let subjects = std::fs::read(fixtures.join("subjects.bin"))
        .unwrap_or_else(|e| panic!("read subjects.bin: {e}"));
    w("pcre.txt", &subjects);
    std::fs::create_dir(root.join("pcre.d")).unwrap_or_else(|e| panic!("mkdir: {e}"));
    for line in subjects.split(|b| *b == b'\n') {
        let name: Vec<u8> = line
            .iter()
            .copied()
            .filter(|b| *b != b'/' && *b != 0)
            .collect();
        if !name.is_empty() && !name.starts_with(b".") {
            let name = std::ffi::OsStr::from_bytes(&name);
            std::fs::write(root.join("pcre.d").join(name), b"")
                .unwrap_or_else(|e| panic!("write pcre.d/{name:?}: {e}"));
        }
    }
    let conf = root.join("zabbix_agentd.conf");
    w(
        "zabbix_agentd.conf",
        b"AllowRoot=1\nLogType=console\nTimeout=3\n",
    );
    Scene {
        _dir: dir,
        root,
        conf,
    }
}

/// The type-list family: lists built from atoms (names, quoted, bracketed, blanks, broken
/// syntax) alone and in pairs, each as a quoted key parameter of the keys that take one.
fn type_list_cases(root: &Path) -> Vec<String> {
    let atoms = [
        "file",
        "dir",
        "x",
        "",
        " file",
        "\"file\"",
        "[file]",
        "[file,dir]",
        "x]",
        "]",
        "\"dir",
        "file ",
        "all",
        "dev",
    ];
    let mut lists: Vec<String> = atoms.iter().map(|a| a.to_string()).collect();
    for a in &atoms[..6] {
        for b in atoms {
            lists.push(format!("{a},{b}"));
        }
    }
    let (dd, f) = (
        root.join("dd").display().to_string(),
        root.join("f.txt").display().to_string(),
    );
    let mut v = Vec::new();
    for l in lists {
        let q = format!("\"{}\"", l.replace('"', "\\\""));
        v.push(format!("vfs.dir.count[{dd},,,{q}]"));
        v.push(format!("vfs.file.exists[{f},{q}]"));
    }
    v.push(format!("vfs.dir.count[{dd},,,[\"file\",dir]]"));
    v.push(format!("vfs.dir.count[{dd},,,,[\"file\",dir]]"));
    v.push(format!("vfs.file.exists[{f},,[\"file\",dir]]"));
    v.push(format!("vfs.dir.get[{dd},,,[\"file\",dir]]"));
    v.push(format!("vfs.dir.get[{dd},,,\"x]\"]"));
    v
}

/// The vfs.dir.* parameter-order family: for each key, a bad value at each position, and
/// at each pair of positions, with the declared number of parameters and one more.
/// zabbix_agentd checks some parameters before it counts them (vfs.dir.size's mode;
/// vfs.dir.count/get's types, sizes and ages), then the directory, the expressions, the
/// excluded directories, the depth, and last whether the directory exists.
fn dir_param_order_cases(root: &Path) -> Vec<String> {
    let dd = root.join("dd").display().to_string();
    let f = root.join("f.txt").display().to_string();
    let filter_bad: Vec<Vec<String>> = vec![
        vec![
            String::new(),
            f.clone(),
            root.join("nope").display().to_string(),
        ],
        vec!["\"(\"".into()],
        vec!["\"a)\"".into()],
        vec!["x".into()],
        vec!["y".into()],
        vec!["z".into(), "-2".into()],
        vec!["1X".into()],
        vec!["-1".into()],
        vec!["1y".into()],
        vec!["x".into()],
        vec!["\"[b\"".into()],
    ];
    let size_bad: Vec<Vec<String>> = vec![
        filter_bad[0].clone(),
        vec!["\"(\"".into()],
        vec!["\"a)\"".into()],
        vec!["bad".into(), "Disk".into()],
        vec!["x".into(), "-2".into()],
        vec!["\"[b\"".into()],
    ];
    let mut v = Vec::new();
    for (key, bad) in [
        ("vfs.dir.count", &filter_bad),
        ("vfs.dir.get", &filter_bad),
        ("vfs.dir.size", &size_bad),
    ] {
        let n = bad.len();
        let build = |vals: &[(usize, &str)], extra: bool| {
            let mut params: Vec<String> = (0..n)
                .map(|i| if i == 0 { dd.clone() } else { String::new() })
                .collect();
            for (i, val) in vals {
                params[*i] = val.to_string();
            }
            if extra {
                params.push(String::new());
            }
            format!("{key}[{}]", params.join(","))
        };
        for extra in [false, true] {
            for (i, values) in bad.iter().enumerate() {
                for a in values {
                    v.push(build(&[(i, a)], extra));
                    // Pairs with the first bad value of the second position only.
                    for (j, later) in bad.iter().enumerate().skip(i + 1) {
                        v.push(build(&[(i, a), (j, &later[0])], extra));
                    }
                }
            }
        }
    }
    v.sort();
    v.dedup();
    v
}

/// The vfs.dir.* walk family on a tree with several directories per level: full
/// vfs.dir.get JSON (zabbix_agentd's order: a directory's entries, then the directory
/// found last), and excluded directories given by name, by path below the root, anchored
/// or not, with depths and root spellings (trailing `/`, `\\`, `//`).
fn dir_walk_cases(root: &Path) -> Vec<String> {
    let wt = root.join("wt").display().to_string();
    let roots = [
        wt.clone(),
        format!("{wt}/"),
        format!("{wt}//"),
        format!("{wt}\\\\"),
        format!("{wt}/."),
        "//".to_string(),
    ];
    let excl = ["", "a", "^a$", "a/b", "^a/b$", "b$", "^b", "/", "e/f", "c"];
    let depth = ["", "0", "1", "2"];
    let mut v = Vec::new();
    for r in &roots[..5] {
        v.push(format!("vfs.dir.get[{r}]"));
        v.push(format!("vfs.dir.size[{r}]"));
        v.push(format!("vfs.dir.size[{r},wt]"));
        v.push(format!("vfs.dir.size[{r},\"wt/?$\"]"));
        v.push(format!("vfs.dir.count[{r},,,,,1]"));
    }
    v.push(format!("vfs.dir.count[{}]", roots[5]));
    for e in excl {
        for d in depth {
            v.push(format!("vfs.dir.get[{wt},,,,,{d},,,,,\"{e}\"]"));
            v.push(format!("vfs.dir.count[{wt},,,,,{d},,,,,\"{e}\"]"));
            v.push(format!("vfs.dir.size[{wt},,,,{d},\"{e}\"]"));
            v.push(format!("vfs.dir.size[{wt},,,disk,{d},\"{e}\"]"));
        }
        v.push(format!("vfs.dir.get[{wt},\"^[a-c]$\",,,,,,,,,\"{e}\"]"));
        v.push(format!("vfs.dir.get[{wt},,\"^[a-c]$\",dir,,,,,,,\"{e}\"]"));
    }
    v
}

/// The PCRE2 limit family (issue 14): patterns whose first alternative backtracks
/// exponentially, or nests one level per character, before a second alternative that
/// matches. zabbix_agentd stops at `match_limit` 1,000,000 and a depth limit from the
/// stack size (the match is then no match); without those limits the second alternative
/// would match. Generated over line lengths around both limits.
fn pcre_limit_cases(root: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for n in 14..=24 {
        let f = root.join(format!("limit{n}.txt")).display().to_string();
        for p in ["(a+)+c|a*b", "(a|aa)+c|a*b", "(a*)*c|b"] {
            v.push(format!("vfs.file.regexp[{f},\"{p}\",,,,x]"));
            v.push(format!("vfs.file.regmatch[{f},\"{p}\"]"));
        }
    }
    for m in (3000..=13000).step_by(500) {
        let f = root.join(format!("deep{m}.txt")).display().to_string();
        for p in ["^(a|b)*c|^a", "^(?:a|b)*c|^a", "^(a)*c|^a"] {
            v.push(format!("vfs.file.regexp[{f},\"{p}\",,,,x]"));
        }
    }
    v
}

/// Every built-in key with one parameter more than it declares, all `x` or all empty:
/// which error comes first (the count, or a parameter zabbix_agentd checks before
/// counting) is agentd's for every key, not only vfs.dir.*. Generated from the registry,
/// for the keys `zabbix_agentd -p` lists (zagent's own keys have nothing to compare).
fn too_many_cases(conf: &Path) -> Vec<String> {
    use zagent::keys::{Params, Registry};
    let listing = Command::new("zabbix_agentd")
        .arg("-c")
        .arg(conf)
        .arg("-p")
        .output()
        .unwrap_or_else(|e| panic!("zabbix_agentd -p: {e}"));
    let listing = String::from_utf8_lossy(&listing.stdout);
    let known = |name: &str| {
        listing
            .lines()
            .any(|l| l.starts_with(&format!("{name}[")) || l.starts_with(&format!("{name} ")))
    };
    let mut v = Vec::new();
    for def in Registry::all().filter(|d| known(d.name)) {
        let (Params::List(defs) | Params::ActiveOnly(defs)) = def.params else {
            continue;
        };
        for atom in ["x", ""] {
            let params = vec![atom; defs.len() + 1];
            v.push(format!("{}[{}]", def.name, params.join(",")));
        }
    }
    v
}

/// Lines of a tests/fixtures/pcre table.
fn pcre_table(name: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pcre")
        .join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .map(str::to_string)
        .collect()
}

/// The PCRE2 family: generated from the table, not listed.
fn pcre_cases(root: &Path) -> Vec<(String, Cmp)> {
    let f = root.join("pcre.txt").display().to_string();
    let d = root.join("pcre.d").display().to_string();
    let mut v = Vec::new();
    for p in pcre_table("patterns.txt") {
        // pcre.txt holds a line, pcre.d a name, that is not UTF-8: agentd may crash on it.
        let c = Cmp::ExactUnlessAgentdCrashed;
        v.push((format!("vfs.file.regexp[{f},\"{p}\",,,,<\\0|\\1>]"), c));
        v.push((format!("vfs.file.regmatch[{f},\"{p}\"]"), c));
        v.push((
            format!("vfs.dir.count[{d},\"{p}\"]"),
            Cmp::ExactUnlessAgentdCrashed,
        ));
        v.push((
            format!("vfs.dir.count[{d},,\"{p}\"]"),
            Cmp::ExactUnlessAgentdCrashed,
        ));
    }
    for t in pcre_table("templates.txt") {
        for p in ["(o)(o)", "f(x)?(o)", "caf(.)", "z(.)"] {
            v.push((format!("vfs.file.regexp[{f},\"{p}\",,,,{t}]"), Cmp::Exact));
        }
    }
    v
}

fn cases(root: &Path) -> Vec<(String, Cmp)> {
    let p = |name: &str| root.join(name).display().to_string();
    let mem_tol = 1024.0 * 1024.0 * 1024.0; // memory moves with other builds on the box
    let disk_tol = 2.0 * 1024.0 * 1024.0 * 1024.0;
    use Cmp::*;
    let mut v: Vec<(String, Cmp)> = Vec::new();
    let mut add = |k: String, c: Cmp| v.push((k, c));
    // system.*
    for k in [
        "system.hostname",
        "system.hostname[host]",
        "system.hostname[shorthost]",
        "system.hostname[shorthost,lower]",
        "system.hostname[host,none]",
        "system.hostname[,]",
        "system.hostname[fqdn]",
        "system.hostname[netbios]",
        "system.hostname[bad]",
        "system.hostname[host,bad]",
        "system.hostname[x,x]",
        "system.hostname[,,x]",
        "system.uptime[x]",
        "system.boottime",
        "system.boottime[]",
        "system.localtime[x]",
        "system.localtime[utc,x]",
        "system.cpu.load[x]",
        "system.cpu.load[all,x]",
        "system.cpu.load[all,avg1,x]",
        "system.cpu.num",
        "system.cpu.num[online]",
        "system.cpu.num[max]",
        "system.cpu.num[x]",
        "system.cpu.num[online,x]",
        "system.uname",
        "system.uname[x]",
        "system.sw.arch",
        "system.sw.arch[x]",
        "system.sw.os",
        "system.sw.os[]",
        "system.sw.os[full]",
        "system.sw.os[short]",
        "system.sw.os[name]",
        "system.sw.os[x]",
        "system.sw.os[full,x]",
        "system.cpu.switches[x]",
        "system.users.num",
        "system.swap.in",
        "system.swap.in[]",
        "system.swap.in[all]",
        "system.swap.in[all,pages]",
        "system.swap.in[all,count]",
        "system.swap.in[all,sectors]",
        "system.swap.out[,pages]",
        "system.swap.out[all,count]",
        "system.swap.in[,x]",
        "system.swap.in[/dev/vda]",
        "system.swap.out[/dev/vda,count]",
        "system.swap.in[nope,x]",
        "system.swap.in[a,b,c]",
        "system.hw.devices",
        "system.hw.devices[pci]",
        "system.hw.devices[x]",
        "system.hw.devices[pci,x]",
        "system.sw.packages",
        "system.sw.packages[all,all,full]",
        "system.sw.packages[^zlib]",
        "system.sw.packages[^zlib,,short]",
        "system.sw.packages[^zlib,dpkg,full]",
        "system.sw.packages[^zlib,rpm]",
        "system.sw.packages[^zlib,x]",
        "system.sw.packages[^zzzz]",
        "system.sw.packages[\"(\"]",
        "system.sw.packages[,,x]",
        "system.sw.packages[a,b,c,d]",
        "system.hw.cpu",
        "system.hw.cpu[0]",
        "system.hw.cpu[all,full]",
        "system.hw.cpu[all,model]",
        "system.hw.cpu[all,vendor]",
        "system.hw.cpu[1,vendor]",
        "system.hw.cpu[0,model]",
        "system.hw.cpu[all,maxfreq]",
        "system.hw.cpu[0,maxfreq]",
        "system.hw.cpu[99]",
        "system.hw.cpu[x]",
        "system.hw.cpu[-1]",
        "system.hw.cpu[all,x]",
        "system.hw.cpu[all,full,x]",
        "system.hw.macaddr",
        "system.hw.macaddr[,short]",
        "system.hw.macaddr[,full]",
        "system.hw.macaddr[all]",
        "system.hw.macaddr[\"^e\"]",
        "system.hw.macaddr[\"(\"]",
        "system.hw.macaddr[nope]",
        "system.hw.macaddr[,x]",
        "system.hw.macaddr[a,b,c]",
        // No collector in test mode, on either side.
        "system.cpu.util",
        "system.cpu.util[all]",
        "system.cpu.util[0,guest_nice,avg15]",
        "system.cpu.util[99]",
        "system.cpu.util[x]",
        "system.cpu.util[x,y]",
        "system.cpu.util[-1]",
        "system.cpu.util[,x]",
        "system.cpu.util[,,x]",
        "system.cpu.util[,,,x]",
        "system.cpu.discovery",
        "system.cpu.discovery[x]",
        "system.users.num[x]",
        "system.cpu.intr[]",
        "system.swap.size",
        "system.swap.size[all,free]",
        "system.swap.size[,total]",
        "system.swap.size[,used]",
        "system.swap.size[,pfree]",
        "system.swap.size[,pused]",
        "system.swap.size[x]",
        "system.swap.size[/dev/sda]",
        "system.swap.size[all,x]",
        "system.swap.size[all,free,x]",
        "vm.memory.size",
        "vm.memory.size[total]",
        "vm.memory.size[]",
        "vm.memory.size[shared]",
        "vm.memory.size[wired]",
        "vm.memory.size[x]",
        "vm.memory.size[total,x]",
        "kernel.maxfiles",
        "kernel.maxproc",
        "kernel.maxfiles[x]",
        "kernel.maxproc[]",
        "kernel.openfiles[x]",
    ] {
        add(k.to_string(), Exact);
    }
    add("system.uptime".into(), Abs(2.0));
    add("system.localtime".into(), Abs(2.0));
    add("system.localtime[utc]".into(), Abs(2.0));
    add("system.localtime[local]".into(), LocalTime(2));
    for k in [
        "system.cpu.load",
        "system.cpu.load[]",
        "system.cpu.load[all]",
        "system.cpu.load[percpu]",
        "system.cpu.load[all,avg5]",
        "system.cpu.load[,avg15]",
        "system.cpu.load[percpu,avg15]",
    ] {
        add(k.into(), Abs(1.0));
    }
    for m in [
        "free",
        "used",
        "available",
        "buffers",
        "cached",
        "active",
        "inactive",
        "anon",
        "slab",
    ] {
        add(format!("vm.memory.size[{m}]"), Abs(mem_tol));
    }
    add("vm.memory.size[pused]".into(), Abs(5.0));
    add("vm.memory.size[pavailable]".into(), Abs(5.0));
    add("kernel.openfiles".into(), Abs(5000.0));
    add("system.cpu.switches".into(), Grows(1e8));
    // The current frequency moves; the text around it must not.
    add("system.hw.cpu[all,curfreq]".into(), Exact);
    // Disk counters of every device, and of each block device the box has.
    for k in [
        "vfs.dev.read[,operations]",
        "vfs.dev.read[all,sectors]",
        "vfs.dev.write[,operations]",
        "vfs.dev.write[,sectors]",
    ] {
        add(k.into(), Grows(1e9));
    }
    for dev in block_devices() {
        add(format!("vfs.dev.read[{dev},operations]"), Grows(1e9));
        add(format!("vfs.dev.write[/dev/{dev},sectors]"), Grows(1e9));
    }
    add("system.cpu.intr".into(), Grows(1e8));

    // vfs.fs.*
    for k in [
        "vfs.fs.size".to_string(),
        "vfs.fs.size[]".into(),
        "vfs.fs.size[,free]".into(),
        "vfs.fs.size[/]".into(),
        "vfs.fs.size[/,total]".into(),
        "vfs.fs.size[/,]".into(),
        format!("vfs.fs.size[{}]", p("f.txt")),
        "vfs.fs.size[/,x]".into(),
        "vfs.fs.size[/nope]".into(),
        "vfs.fs.size[/nope,x]".into(),
        "vfs.fs.size[/,total,x]".into(),
        "vfs.fs.size[/proc,pfree]".into(),
        "vfs.fs.size[/proc,pused]".into(),
        "vfs.fs.size[/proc,used]".into(),
        "vfs.fs.inode".into(),
        "vfs.fs.inode[,free]".into(),
        "vfs.fs.inode[/]".into(),
        "vfs.fs.inode[/,total]".into(),
        "vfs.fs.inode[/,x]".into(),
        "vfs.fs.inode[/nope]".into(),
        "vfs.fs.inode[/nope,x]".into(),
        "vfs.fs.inode[/proc,pfree]".into(),
        "vfs.fs.inode[/proc,pused]".into(),
        "vfs.fs.inode[/,total,x]".into(),
        "vfs.fs.discovery".into(),
        "vfs.dev.discovery".into(),
        "vfs.dev.discovery[x]".into(),
        "vfs.dev.read[nope-zt,operations]".into(),
        "vfs.dev.read[vda,operations,]".into(),
        "vfs.dev.read[,x]".into(),
        "vfs.dev.read[,sps,x]".into(),
        "vfs.dev.read[,,x]".into(),
        "vfs.dev.read[,sps]".into(),
        "vfs.dev.read[nope-zt]".into(),
        "vfs.dev.write[,ops,avg15]".into(),
        "vfs.dev.read[a,b,c,d]".into(),
        "vfs.fs.discovery[x]".into(),
    ] {
        add(k, Exact);
    }
    add("vfs.fs.get[x]".into(), Exact);
    add(
        "vfs.fs.get".into(),
        FsGet {
            bytes: disk_tol,
            inodes: 200_000.0,
        },
    );
    for k in ["vfs.fs.size[/,free]", "vfs.fs.size[/,used]"] {
        add(k.into(), Abs(disk_tol));
    }
    for k in [
        "vfs.fs.size[/,pfree]",
        "vfs.fs.size[/,pused]",
        "vfs.fs.inode[/,pfree]",
        "vfs.fs.inode[/,pused]",
    ] {
        add(k.into(), Abs(1.0));
    }
    for k in ["vfs.fs.inode[/,free]", "vfs.fs.inode[/,used]"] {
        add(k.into(), Abs(200_000.0));
    }

    // vfs.file.*
    let f = p("f.txt");
    let d = p("d");
    let nope = p("nope");
    let r = p("r.txt");
    let t = p("time.txt");
    let file_keys = vec![
        format!("vfs.file.exists[{f}]"),
        format!("vfs.file.exists[{nope}]"),
        format!("vfs.file.exists[{d}]"),
        format!("vfs.file.exists[{d},dir]"),
        format!("vfs.file.exists[{d},all]"),
        format!("vfs.file.exists[{nope},all]"),
        format!("vfs.file.exists[{},sym]", p("link")),
        format!("vfs.file.exists[{}]", p("link")),
        format!("vfs.file.exists[{},sym,file]", p("link")),
        format!("vfs.file.exists[{},,sym]", p("link")),
        format!("vfs.file.exists[{},sym]", p("dangling")),
        format!("vfs.file.exists[{}]", p("dangling")),
        format!("vfs.file.exists[{f},x]"),
        format!("vfs.file.exists[{f},,x]"),
        format!("vfs.file.exists[{f},all,file]"),
        format!("vfs.file.exists[{f},\"file,dir\"]"),
        format!("vfs.file.exists[{f},\"file, dir\"]"),
        format!("vfs.file.exists[{f},\"file ,dir\"]"),
        format!("vfs.file.exists[{f},\"dir,\"]"),
        format!("vfs.file.exists[{f},,file]"),
        format!("vfs.file.exists[{f},FILE]"),
        format!("vfs.file.exists[{f}/x]"),
        "vfs.file.exists[/dev/null]".into(),
        "vfs.file.exists[/dev/null,dev]".into(),
        "vfs.file.exists[/dev/null,cdev]".into(),
        "vfs.file.exists[/dev/null,bdev]".into(),
        "vfs.file.exists[]".into(),
        "vfs.file.exists".into(),
        "vfs.file.exists[a,b,c,d]".into(),
        format!("vfs.file.size[{f}]"),
        format!("vfs.file.size[{f},bytes]"),
        format!("vfs.file.size[{f},lines]"),
        format!("vfs.file.size[{},lines]", p("nonl.txt")),
        format!("vfs.file.size[{},lines]", p("r.txt")),
        format!("vfs.file.size[{nope}]"),
        format!("vfs.file.size[{nope},lines]"),
        format!("vfs.file.size[{nope},x]"),
        format!("vfs.file.size[{f},x]"),
        format!("vfs.file.size[{f},]"),
        format!("vfs.file.size[{d}]"),
        format!("vfs.file.size[{d},lines]"),
        format!("vfs.file.size[{f}/x]"),
        "vfs.file.size[]".into(),
        "vfs.file.size[a,b,c]".into(),
        format!("vfs.file.time[{t}]"),
        format!("vfs.file.time[{t},modify]"),
        format!("vfs.file.time[{t},access]"),
        format!("vfs.file.time[{t},change]"),
        format!("vfs.file.time[{t},]"),
        format!("vfs.file.time[{t},x]"),
        format!("vfs.file.time[{nope},x]"),
        format!("vfs.file.time[{nope}]"),
        "vfs.file.time[]".into(),
        "vfs.file.time[a,b,c]".into(),
        format!("vfs.file.contents[{f}]"),
        format!("vfs.file.contents[{f},\"\"]"),
        format!("vfs.file.contents[{}]", p("nonl.txt")),
        format!("vfs.file.contents[{}]", p("empty.txt")),
        format!("vfs.file.contents[{}]", p("nul.txt")),
        format!("vfs.file.contents[{}]", p("crlf.txt")),
        format!("vfs.file.contents[{}]", p("crlf2.txt")),
        format!("vfs.file.contents[{},UTF-8]", p("crlf.txt")),
        format!("vfs.file.contents[{},ISO-8859-1]", p("crlf.txt")),
        format!("vfs.file.contents[{},BOGUS]", p("crlf.txt")),
        format!("vfs.file.contents[{}]", p("bom.txt")),
        format!("vfs.file.contents[{}]", p("utf16.txt")),
        format!("vfs.file.contents[{},UTF-16LE]", p("utf16.txt")),
        format!("vfs.file.contents[{f},UTF-16LE]"),
        format!("vfs.file.contents[{}]", p("edge.txt")),
        format!("vfs.file.contents[{}]", p("big.txt")),
        format!("vfs.file.contents[{nope}]"),
        format!("vfs.file.contents[{d}]"),
        "vfs.file.contents[/dev/null]".into(),
        "vfs.file.contents[/proc/sys/kernel/pid_max]".into(),
        "vfs.file.contents[]".into(),
        "vfs.file.contents[a,b,c]".into(),
        format!("vfs.file.owner[{f}]"),
        format!("vfs.file.owner[{f},user,name]"),
        format!("vfs.file.owner[{f},group,name]"),
        format!("vfs.file.owner[{f},group,id]"),
        format!("vfs.file.owner[{f},,id]"),
        format!("vfs.file.owner[{},user,name]", p("orphan.txt")),
        format!("vfs.file.owner[{},group]", p("orphan.txt")),
        format!("vfs.file.owner[{},group,id]", p("orphan.txt")),
        format!("vfs.file.owner[{}]", p("link")),
        format!("vfs.file.owner[{f},x]"),
        format!("vfs.file.owner[{f},,x]"),
        format!("vfs.file.owner[{nope},x]"),
        "vfs.file.owner[]".into(),
        "vfs.file.owner[a,b,c,d]".into(),
        format!("vfs.file.get[{}]", p("get.txt")),
        format!("vfs.file.get[{}]", p("getdir")),
        format!("vfs.file.get[{}]", p("getlink")),
        format!("vfs.file.get[{}]", p("getdangling")),
        format!("vfs.file.get[{}/]", p("getdirlink")),
        format!("vfs.file.get[{}/.]", p("getdir")),
        format!("vfs.file.get[{}/../get.txt]", p("getdir")),
        format!("vfs.file.get[{nope}]"),
        "vfs.file.get[]".into(),
        "vfs.file.get[a,b]".into(),
        format!("vfs.file.permissions[{f}]"),
        format!("vfs.file.permissions[{}]", p("suid.txt")),
        format!("vfs.file.permissions[{d}]"),
        "vfs.file.permissions[/tmp]".into(),
        format!("vfs.file.permissions[{nope}]"),
        "vfs.file.permissions[]".into(),
        "vfs.file.permissions[a,b]".into(),
        format!("vfs.file.md5sum[{f}]"),
        format!("vfs.file.md5sum[{}]", p("empty.txt")),
        format!("vfs.file.md5sum[{}]", p("bin.dat")),
        format!("vfs.file.md5sum[{nope}]"),
        format!("vfs.file.md5sum[{d}]"),
        "vfs.file.md5sum[]".into(),
        "vfs.file.md5sum[a,b]".into(),
        format!("vfs.file.cksum[{f}]"),
        format!("vfs.file.cksum[{f},crc32]"),
        format!("vfs.file.cksum[{f},md5]"),
        format!("vfs.file.cksum[{f},sha256]"),
        format!("vfs.file.cksum[{}]", p("bin.dat")),
        format!("vfs.file.cksum[{}]", p("big.txt")),
        format!("vfs.file.cksum[{}]", p("empty.txt")),
        format!("vfs.file.cksum[{f},x]"),
        format!("vfs.file.cksum[{nope}]"),
        format!("vfs.file.cksum[{d}]"),
        "vfs.file.cksum[]".into(),
        "vfs.file.cksum[a,b,c]".into(),
        format!("vfs.file.regexp[{r},foo]"),
        format!("vfs.file.regexp[{r},\"foo ([0-9]+)\",,,,\\1]"),
        format!("vfs.file.regexp[{r},\"foo ([0-9]+)\",,2,,\"x\\1y\\0\"]"),
        format!("vfs.file.regexp[{r},zzz]"),
        format!("vfs.file.regexp[{r},\"(\"]"),
        format!("vfs.file.regexp[{r},foo,,3,2]"),
        format!("vfs.file.regexp[{r},foo,,x]"),
        format!("vfs.file.regexp[{r},foo,,,x]"),
        format!("vfs.file.regexp[{r}]"),
        format!("vfs.file.regexp[{r},bar,,1,1]"),
        format!("vfs.file.regexp[{r},bar,,2,2]"),
        format!("vfs.file.regexp[{r},\"^foo \\d+$\"]"),
        format!("vfs.file.regexp[{r},foo,,,,,x]"),
        format!("vfs.file.regexp[{nope},foo]"),
        format!("vfs.file.regexp[{d},foo]"),
        format!("vfs.file.regexp[{},there,UTF-16LE]", p("utf16.txt")),
        format!("vfs.file.regmatch[{r},bar]"),
        format!("vfs.file.regmatch[{r},zzz]"),
        format!("vfs.file.regmatch[{r},bar,,3]"),
        format!("vfs.file.regmatch[{r},foo,,3,2]"),
        format!("vfs.file.regmatch[{r},\"(\"]"),
        format!("vfs.file.regmatch[{r}]"),
        format!("vfs.file.regmatch[{r},a,,,,x]"),
        format!("vfs.file.regmatch[{nope},a]"),
    ];
    for k in file_keys {
        add(k, Exact);
    }

    // vfs.dir.*
    let dd = p("dd");
    for k in [
        format!("vfs.dir.count[{dd}]"),
        format!("vfs.dir.count[{dd}/]"),
        format!("vfs.dir.count[{dd},\"\\.log$\"]"),
        format!("vfs.dir.count[{dd},,\"\\.log$\"]"),
        format!("vfs.dir.count[{dd},sub]"),
        format!("vfs.dir.count[{dd},,,dir]"),
        format!("vfs.dir.count[{dd},,,file]"),
        format!("vfs.dir.count[{dd},,,sym]"),
        format!("vfs.dir.count[{dd},,,\"file,dir\"]"),
        format!("vfs.dir.count[{dd},,,,file]"),
        format!("vfs.dir.count[{dd},,,,dir]"),
        format!("vfs.dir.count[{dd},,,all,all]"),
        format!("vfs.dir.count[{dd},,,x]"),
        format!("vfs.dir.count[{dd},,,,,0]"),
        format!("vfs.dir.count[{dd},,,,,1]"),
        format!("vfs.dir.count[{dd},,,,,-1]"),
        format!("vfs.dir.count[{dd},,,,,-2]"),
        format!("vfs.dir.count[{dd},,,,,x]"),
        format!("vfs.dir.count[{dd},,,file,,,2]"),
        format!("vfs.dir.count[{dd},,,file,,,,2]"),
        format!("vfs.dir.count[{dd},,,,,,1K]"),
        format!("vfs.dir.count[{dd},,,,,,,1T]"),
        format!("vfs.dir.count[{dd},,,,,,,0]"),
        format!("vfs.dir.count[{dd},,,,,,5,1]"),
        format!("vfs.dir.count[{dd},,,,,,x]"),
        format!("vfs.dir.count[{dd},,,,,,-1]"),
        format!("vfs.dir.count[{dd},,,,,,1.5K]"),
        format!("vfs.dir.count[{dd},,,,,,,x]"),
        format!("vfs.dir.count[{dd},,,file,,,,,1h]"),
        format!("vfs.dir.count[{dd},,,file,,,,,,1d]"),
        format!("vfs.dir.count[{dd},,,,,,,,1w]"),
        format!("vfs.dir.count[{dd},,,,,,,,1x]"),
        format!("vfs.dir.count[{dd},,,,,,,,,x]"),
        format!("vfs.dir.count[{dd},,,,,,,,,,sub]"),
        format!("vfs.dir.count[{dd},,,,,,,,,,\"^dd$\"]"),
        format!("vfs.dir.count[{dd},\"(\"]"),
        format!("vfs.dir.count[{dd},\"[a\"]"),
        format!("vfs.dir.count[{dd},\"a)\"]"),
        format!("vfs.dir.count[{dd},\"*a\"]"),
        format!("vfs.dir.count[{dd},,\"(\"]"),
        format!("vfs.dir.count[{dd},,,,,,,,,,\"(\"]"),
        format!("vfs.dir.count[{dd},,,,,,,,,,,x]"),
        format!("vfs.dir.count[{nope}]"),
        format!("vfs.dir.count[{f}]"),
        "vfs.dir.count[]".into(),
        format!("vfs.dir.get[{dd}]"),
        format!("vfs.dir.get[{dd},,,,,0]"),
        format!("vfs.dir.get[{dd},\"\\.log$\",,file]"),
        format!("vfs.dir.get[{dd},,,dir]"),
        format!("vfs.dir.get[{dd},,,,,,,,,,sub]"),
        format!("vfs.dir.get[{dd},,,x]"),
        format!("vfs.dir.get[{dd},\"(\"]"),
        format!("vfs.dir.get[{dd},,,,,,,,,,,x]"),
        format!("vfs.dir.get[{nope}]"),
        format!("vfs.dir.get[{f}]"),
        "vfs.dir.get[]".into(),
        format!("vfs.dir.size[{dd}]"),
        format!("vfs.dir.size[{dd}/]"),
        format!("vfs.dir.size[{dd},,,disk]"),
        format!("vfs.dir.size[{dd},,,apparent]"),
        format!("vfs.dir.size[{dd},\"\\.log$\"]"),
        format!("vfs.dir.size[{dd},dd]"),
        format!("vfs.dir.size[{dd},\"^dd$\"]"),
        format!("vfs.dir.size[{dd},,dd]"),
        format!("vfs.dir.size[{dd},,,,0]"),
        format!("vfs.dir.size[{dd},,,,1]"),
        format!("vfs.dir.size[{dd},,,,-1]"),
        format!("vfs.dir.size[{dd},,,,-2]"),
        format!("vfs.dir.size[{dd},,,,x]"),
        format!("vfs.dir.size[{dd},,,x]"),
        format!("vfs.dir.size[{dd},,,,,sub]"),
        format!("vfs.dir.size[{dd},,\"(\"]"),
        format!("vfs.dir.size[{dd},,,,,\"(\"]"),
        format!("vfs.dir.size[{dd},,,,,,x]"),
        format!("vfs.dir.size[{nope}]"),
        format!("vfs.dir.size[{f}]"),
        "vfs.dir.size[]".into(),
    ] {
        add(k, Exact);
    }

    // Integers (issue 14 cause 3): one table of spellings through every kind of integer
    // parameter (int, uint32, port with C atoi).
    let (r, dd) = (p("r.txt"), p("dd"));
    for n in [
        "0",
        "+0",
        "-0",
        "+1",
        "-1",
        "01",
        "0x1",
        " 1",
        "1 ",
        "1e2",
        "abc",
        "1abc",
        "2147483647",
        "2147483648",
        "4294967295",
        "4294967296",
        "4294967297",
        "18446744073709551616",
        "-65536",
        "99999",
        "+22",
        "00022",
    ] {
        let q = format!("\"{n}\"");
        for k in [
            format!("system.hw.cpu[{q},vendor]"),
            format!("vfs.file.regexp[{r},foo,,{q}]"),
            format!("vfs.file.regmatch[{r},foo,,,{q}]"),
            format!("vfs.dir.count[{dd},,,,,{q}]"),
            format!("vfs.dir.size[{dd},,,,{q}]"),
            format!("vfs.dir.get[{dd},,,,,{q}]"),
        ] {
            add(k, Exact);
        }
        // Socket counts move between the two answers; the type and the errors must not.
        add(format!("net.tcp.socket.count[,{q}]"), Abs(1e6));
        add(format!("net.udp.socket.count[,{q}]"), Abs(1e6));
    }

    // Keys whose values zagent does not read: agentd's parameter checks and error texts.
    for k in [
        "sensor",
        "sensor[a]",
        "sensor[a,b]",
        "sensor[a,b,avg]",
        "sensor[a,b,c]",
        "sensor[a,b,c,d]",
        "sensor[,b]",
        "sensor[a,]",
        "system.hw.chassis",
        "system.hw.chassis[]",
        "system.hw.chassis[x]",
        "system.hw.chassis[serial]",
        "system.hw.chassis[full,x]",
    ] {
        add(k.into(), Exact);
    }

    // zabbix.stats (issue 14 cause 4): parameter checks, a refused port, and the lab
    // server's own checks of the queue interval (both sides ask the same server).
    for k in [
        "zabbix.stats[127.0.0.1,x]",
        "zabbix.stats[127.0.0.1,10051,x]",
        "zabbix.stats[a,b,c,d,e,f]",
        "zabbix.stats[127.0.0.1,1]",
        "zabbix.stats[,10051,queue,x]",
        "zabbix.stats[,,queue,1h,10m]",
    ] {
        add(k.into(), Exact);
    }

    // Type lists (issue 14 cause 2): read as key parameters by agentd.
    for k in type_list_cases(root) {
        add(k, Exact);
    }

    // One parameter too many, for every key (issue 14 cause 8).
    for k in too_many_cases(&root.join("zabbix_agentd.conf")) {
        add(k, Exact);
    }

    // PCRE2 match and depth limits (issue 14).
    for k in pcre_limit_cases(root) {
        add(k, Exact);
    }

    // vfs.dir.* (issue 14 cause 8): the order of the parameter checks, the walk order,
    // excluded directories, root spellings.
    for k in dir_param_order_cases(root) {
        add(k, Exact);
    }
    for k in dir_walk_cases(root) {
        add(k, Exact);
    }

    // PCRE2 (issue 14 cause 1): every pattern of the table through each regexp key, every
    // output template through vfs.file.regexp.
    for (k, c) in pcre_cases(root) {
        add(k, c);
    }

    // proc.num: exact on the test's own sleepers, tolerance on busy sets.
    for k in [
        "proc.num[zt-sys-sleeper]",
        "proc.num[zt-sys-sleeper,root]",
        "proc.num[zt-sys-sleeper,root,sleep]",
        "proc.num[zt-sys-sleeper,,run]",
        "proc.num[zt-sys-sleeper,,zomb]",
        "proc.num[,,,\"zt-sys-sleeper 3[0-9]+\"]",
        "proc.num[zt-sys-sleeper,,,\"^zt\"]",
        "proc.num[zt-sys-sleeper,nosuchuser-zt]",
        "proc.num[,nosuchuser-zt]",
        "proc.num[,0]",
        "proc.num[,,x]",
        "proc.num[,,,,x]",
        "proc.num[,,,,]",
        "proc.num[,,,\"(\"]",
        "proc.num[no-such-process-zt]",
    ] {
        add(k.into(), Exact);
    }
    // Each side's own command line holds the key text, so each counts itself once.
    add("proc.num[,,,zt-sys-sleeper]".into(), Exact);
    for k in [
        "proc.num",
        "proc.num[]",
        "proc.num[,root]",
        "proc.num[,,all]",
        "proc.num[,,sleep]",
        "proc.num[,,\"\",\"\"]",
    ] {
        add(k.into(), Abs(40.0));
    }
    for k in ["proc.num[,,zomb]", "proc.num[,,disk]", "proc.num[,,trace]"] {
        add(k.into(), Abs(5.0));
    }
    for mode in [
        "",
        ",,avg",
        ",,max",
        ",,min",
        ",root",
        ",,,\"zt-sys-sleeper 36\"",
    ] {
        add(format!("proc.mem[zt-sys-sleeper{mode}]"), Exact);
    }
    for t in [
        "vsize", "rss", "pmem", "size", "peak", "swap", "lib", "lck", "pin", "hwm", "data", "stk",
        "exe", "pte", "x",
    ] {
        add(format!("proc.mem[zt-sys-sleeper,,,,{t}]"), Exact);
        add(format!("proc.mem[zt-sys-sleeper,,avg,,{t}]"), Exact);
    }
    for k in [
        "proc.mem[zt-sys-sleeper,nosuchuser-zt]",
        "proc.mem[zt-sys-sleeper,nosuchuser-zt,avg]",
        "proc.mem[zt-sys-sleeper,nosuchuser-zt,,,pmem]",
        "proc.mem[zt-sys-sleeper,,x]",
        "proc.mem[nosuch-zt]",
        "proc.mem[nosuch-zt,,avg]",
        "proc.mem[nosuch-zt,,avg,,pmem]",
        "proc.mem[nosuch-zt,,max]",
        "proc.mem[kthreadd]",
        "proc.mem[kthreadd,,,,rss]",
        "proc.mem[kthreadd,,,,size]",
        "proc.mem[a,b,c,d,e,f]",
        "proc.cpu.util",
        "proc.cpu.util[zt-sys-sleeper]",
        "proc.cpu.util[,nosuchuser-zt]",
        "proc.cpu.util[,,user,,avg15]",
        "proc.cpu.util[,,x]",
        "proc.cpu.util[,,,,x]",
        "proc.cpu.util[,,,,,x]",
        "proc.cpu.util[,,,,,,x]",
    ] {
        add(k.into(), Exact);
    }
    add("proc.mem".into(), Abs(8e9));
    add("proc.mem[,,,,pmem]".into(), Abs(10.0));

    // net.if.*
    for k in [
        "net.if.discovery",
        "net.if.discovery[x]",
        "net.if.in[nope]",
        "net.if.in[]",
        "net.if.in",
        "net.if.in[lo,x]",
        "net.if.in[lo,fifo]",
        "net.if.in[lo,bytes,x]",
        "net.if.out[lo,multicast]",
        "net.if.out[lo,frame]",
        "net.if.out[nope,x]",
        "net.if.total[lo,collisions]",
        "net.if.total[lo,carrier]",
        "net.if.total[nope]",
        "net.if.total[]",
        "net.if.collisions[lo]",
        "net.if.collisions[nope]",
        "net.if.collisions[]",
    ] {
        add(k.into(), Exact);
    }
    let big = 1e9;
    for dir in ["in", "out", "total"] {
        for mode in [
            "",
            ",bytes",
            ",packets",
            ",errors",
            ",dropped",
            ",overruns",
            ",compressed",
        ] {
            add(format!("net.if.{dir}[lo{mode}]"), Grows(big));
        }
    }
    for k in [
        "net.if.in[lo,frame]",
        "net.if.in[lo,multicast]",
        "net.if.out[lo,collisions]",
        "net.if.out[lo,carrier]",
    ] {
        add(k.into(), Grows(big));
    }
    v
}

/// Whole disks of this machine (first three), from /sys/block.
fn block_devices() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/block")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| std::path::Path::new("/dev").join(n).exists())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.truncate(3);
    v
}

fn spawn_sleepers(dir: &Path) -> Sleepers {
    let exe = dir.join("zt-sys-sleeper");
    std::fs::copy("/bin/sleep", &exe).unwrap_or_else(|e| panic!("copy sleep: {e}"));
    let kids = (0..3)
        .map(|i| {
            Command::new(&exe)
                .arg(format!("{}", 3600 + i))
                .spawn()
                .unwrap_or_else(|e| panic!("spawn sleeper: {e}"))
        })
        .collect();
    // Let them reach their sleep (state S) before anyone counts.
    std::thread::sleep(std::time::Duration::from_millis(200));
    Sleepers(kids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zagent_agrees_with_zabbix_agentd() {
    let s = scene();
    let _sleepers = spawn_sleepers(&s.root);
    let cases = cases(&s.root);
    // Several pairs at once (each pair still asks agentd first, then zagent): the time goes
    // into process start-up, not CPU.
    let limit = Arc::new(tokio::sync::Semaphore::new(8));
    let conf = Arc::new(s.conf.clone());
    let mut tasks = Vec::new();
    // proc.* cases run alone afterwards: a concurrent `zabbix_agentd -t` whose command
    // line holds the sleeper's name would be counted by the cmdline filters.
    let (serial, parallel): (Vec<_>, Vec<_>) = cases
        .iter()
        .cloned()
        .partition(|(k, _)| k.starts_with("proc.num"));
    for (key, cmp) in parallel {
        let (limit, conf) = (Arc::clone(&limit), Arc::clone(&conf));
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await.ok();
            compare(&conf, &key, cmp).await
        }));
    }
    let mut failures = Vec::new();
    for t in tasks {
        if let Some(d) = t.await.unwrap_or_else(|e| panic!("case task: {e}")) {
            failures.push(d);
        }
    }
    for (key, cmp) in serial {
        failures.extend(compare(&conf, &key, cmp).await);
    }
    assert!(
        failures.is_empty(),
        "{} of {} keys differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(cases.len() > 400, "only {} cases", cases.len());
    eprintln!("{} keys compared with zabbix_agentd -t", cases.len());
}

#[test]
fn agentd_output_parser() {
    assert_eq!(
        parse_agentd(
            "agent.ping",
            "agent.ping                                    [u|1]\n"
        ),
        Answer::Value('u', "1".into())
    );
    assert_eq!(
        parse_agentd(
            "vfs.file.contents[/x]",
            "vfs.file.contents[/x]                         [t|a\nb]\n"
        ),
        Answer::Value('t', "a\nb".into())
    );
    assert_eq!(
        parse_agentd(
            "x[]",
            "x[]                                           [m|ZBX_NOTSUPPORTED] [Invalid first parameter.]\n"
        ),
        Answer::NotSupported("Invalid first parameter.".into())
    );
}

/// Content that is not UTF-8 cannot travel in a zagent `Value`: each invalid sequence is
/// one `?`, what the server stores from zabbix_agentd's raw bytes (src/text.rs).
#[tokio::test]
async fn contents_not_utf8_is_replaced() {
    let s = scene();
    let path = s.root.join("inv.txt");
    std::fs::write(&path, b"x\xff\xfey\n").unwrap_or_else(|e| panic!("write: {e}"));
    let ctx = AgentCtx::new(Arc::new(zagent::config::Config::default()));
    let v = ctx
        .execute(&format!("vfs.file.contents[{}]", path.display()))
        .await;
    assert_eq!(v, Ok(Value::Text("x??y".into())));
}

/// Issue 14: `zagent keys | head -1` must not panic when its reader goes away.
#[test]
fn a_closed_stdout_ends_keys_quietly() {
    let s = scene();
    let mut child = Command::new(env!("CARGO_BIN_EXE_zagent"))
        .args(["keys", "-c"])
        .arg(&s.conf)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn zagent keys: {e}"));
    // Close the reading end before zagent has printed anything (it first builds its
    // runtime and evaluates a key): its first line meets a closed pipe.
    drop(child.stdout.take());
    let done = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait: {e}"));
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{:?}: {stderr}", done.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Issue 14: `zagent test` evaluates HostnameItem (once, first; AllowKey/DenyKey do not
/// apply) and agent.hostmetadata evaluates HostMetadataItem, printing exactly what
/// `zabbix_agentd -t` prints — including its double `[u|1] [s|1]` / `[s|a] [t|a⏎b]`
/// form. Generated: every item below through both keys, raw stdout compared.
#[tokio::test]
async fn host_items_print_as_zabbix_agentd() {
    let s = scene();
    let f = s.root.join("f.txt").display().to_string();
    let metadata_items = [
        "agent.ping".to_string(),
        "agent.version".into(),
        "system.hostname".into(),
        "system.uname".into(),
        format!("vfs.file.size[{f}]"),
        format!("vfs.file.contents[{f}]"),
        "system.run[echo meta]".into(),
        "system.run[printf \"a\\r\\nb\"]".into(),
        "system.run[printf \"\\nb\"]".into(),
        "system.run[printf \"\"]".into(),
        "system.run[printf \" x y \"]".into(),
        "nosuch.key".into(),
        "vfs.file.size[]".into(),
        "my.alias".into(),
    ];
    let hostname_items = [
        "system.run[echo myhost]",
        "system.run[printf \"myh\\nsecond\"]",
        "system.hostname[shorthost]",
        "my.alias",
    ];
    let mut confs = Vec::new();
    let base = "AllowRoot=1\nLogType=console\nTimeout=3\nAlias=my.alias:system.run[echo aliased]\n";
    for item in &metadata_items {
        confs.push(format!("{base}HostMetadataItem={item}\n"));
        confs.push(format!(
            "{base}HostMetadataItem={item}\nDenyKey=system.run[*]\n"
        ));
    }
    confs.push(format!(
        "{base}HostMetadata=plain\nHostMetadataItem=agent.ping\n"
    ));
    for item in hostname_items {
        confs.push(format!("{base}HostnameItem={item}\n"));
        confs.push(format!(
            "{base}HostnameItem={item}\nDenyKey=system.run[*]\n"
        ));
    }
    let mut failures = Vec::new();
    for (i, conf) in confs.iter().enumerate() {
        let path = s.root.join(format!("host{i}.conf"));
        std::fs::write(&path, conf).unwrap_or_else(|e| panic!("write: {e}"));
        for key in ["agent.hostmetadata", "agent.hostname"] {
            let run = |cmd: &mut Command| {
                let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
                String::from_utf8_lossy(&out.stdout).into_owned()
            };
            let official = run(Command::new("zabbix_agentd")
                .arg("-c")
                .arg(&path)
                .args(["-t", key]));
            let ours = run(Command::new(env!("CARGO_BIN_EXE_zagent"))
                .args(["test", "-c"])
                .arg(&path)
                .arg(key));
            // zabbix_agentd crashes on agent.hostname when HostnameItem failed (it sees
            // built-in keys only: an alias fails); zagent answers an empty name.
            let crashed = official.is_empty() && key == "agent.hostname";
            if crashed && ours == format!("{key}{} [s|]\n", " ".repeat(45 - key.len())) {
                continue;
            }
            if official != ours {
                failures.push(format!(
                    "{conf}{key}:\n  agentd {official:?}\n  zagent {ours:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        confs.len() * 2,
        failures.join("\n")
    );
}

/// agent.hostmetadata on the wire: the HostMetadataItem's own value (a whole text, a
/// float with 6 decimals), as zabbix_agentd sends it, through zabbix_get.
#[test]
fn hostmetadata_on_the_wire_as_zabbix_agentd() {
    for item in [
        "system.run[printf \"a\\nb\"]",
        "system.cpu.num",
        "agent.version",
        "nosuch.key",
    ] {
        let conf = format!("Server=127.0.0.1\nHostMetadataItem={item}\n");
        let mut official = util::start_zabbix_agentd(&conf);
        let mut ours = util::start_zagent(&format!("AllowRoot=1\nLogType=console\n{conf}"));
        let a = util::zabbix_get(official.port, "agent.hostmetadata", &[]);
        let b = util::zabbix_get(ours.port, "agent.hostmetadata", &[]);
        util::stop_group(&mut official.child, std::time::Duration::from_secs(5));
        util::stop_group(&mut ours.child, std::time::Duration::from_secs(5));
        assert_eq!(util::stdout(&b), util::stdout(&a), "{item}");
        assert!(!util::stdout(&a).is_empty(), "{item}");
    }
}

/// A Modbus TCP device on loopback for the modbus.get family: holding and input registers
/// from a table of interesting words (negative, float and double patterns), coils and
/// discrete inputs from a pattern, and misbehaviour by address: 1000+N answers exception
/// code N, 2000 closes, 2001 sends a wrong byte count, 2002 a wrong transaction id, 2003
/// a wrong function, 2005 another unit id.
struct ModbusDevice {
    port: u16,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for ModbusDevice {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

const MODBUS_WORDS: [u16; 17] = [
    0x4049, 0x0FDB, 0xC000, 0x0000, 0xFFFF, 0x8000, 0x0102, 0x0304, 0x4009, 0x21FB, 0x5444, 0x2D18,
    0x7FFF, 0x00FF, 0xFF00, 0x1234, 0xABCD,
];

fn modbus_reply(req: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write as _;
    let (tid, unit, fc) = ([req[0], req[1]], req[6], req[7]);
    let addr = u16::from_be_bytes([req[8], req[9]]);
    let qty = usize::from(u16::from_be_bytes([req[10], req[11]]));
    let mut pdu: Vec<u8> = vec![fc];
    match addr {
        1000..=1015 => pdu = vec![fc | 0x80, (addr - 1000) as u8],
        2000 => return None,
        _ if fc <= 2 => {
            let bits: Vec<u8> = (0..qty)
                .map(|i| {
                    let a = usize::from(addr) + i;
                    u8::from(if fc == 1 { a % 3 == 0 } else { a % 2 == 1 })
                })
                .collect();
            let bytes: Vec<u8> = bits
                .chunks(8)
                .map(|c| c.iter().enumerate().fold(0u8, |acc, (i, b)| acc | (b << i)))
                .collect();
            pdu.push(bytes.len() as u8);
            pdu.extend(bytes);
        }
        _ => {
            pdu.push((qty * 2) as u8);
            for i in 0..qty {
                let shift = if fc == 4 { 7 } else { 0 };
                let w = MODBUS_WORDS[(usize::from(addr) + i + shift) % MODBUS_WORDS.len()];
                pdu.write_all(&w.to_be_bytes()).ok()?;
            }
        }
    }
    let (mut tid, mut unit) = (tid, unit);
    match addr {
        2001 => pdu[1] = pdu[1].wrapping_add(2),
        2002 => tid[1] ^= 0x55,
        2003 => pdu[0] = fc % 4 + 1,
        2005 => unit = unit.wrapping_add(1),
        _ => {}
    }
    let mut out = Vec::new();
    out.extend_from_slice(&tid);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
    out.push(unit);
    out.extend(pdu);
    Some(out)
}

fn start_modbus_device() -> ModbusDevice {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if stopped.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            let Ok(mut c) = conn else { continue };
            std::thread::spawn(move || {
                let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(10)));
                let mut req = [0u8; 12];
                if c.read_exact(&mut req).is_ok() {
                    if let Some(reply) = modbus_reply(&req) {
                        let _ = c.write_all(&reply);
                    }
                }
            });
        }
    });
    ModbusDevice { port, stop }
}

/// modbus.get (issue 14 cause 4): every parameter's values alone on three bases, a value
/// matrix (function × type × endianness × count × offset), the classic addresses, and a
/// device's exceptions and broken replies — against a Modbus TCP device both agents read.
fn modbus_cases(port: u16) -> Vec<String> {
    let ep = format!("tcp://127.0.0.1:{port}");
    let values: [Vec<String>; 8] = [
        [
            "",
            "x",
            "tcp://",
            "udp://127.0.0.1",
            "tcp://127.0.0.1:1",
            "tcp://nonexistent.invalid",
            "tcp://127.0.0.1:99999",
            "tcp://127.0.0.1:x",
            "rtu://",
            "rtu://zt-nodev",
            "rtu:///dev/null",
            "rtu://zt-nodev:0",
            "rtu://zt-nodev:abc",
            "rtu://zt-nodev:9600:7E2",
            "rtu:///dev/null:9600:8N1",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([
            ep.clone(),
            ep.to_uppercase().replace("TCP", "TcP"),
            format!("tcp://localhost:{port}"),
        ])
        .collect(),
        ["", "0", "1", "255", "256", "-1", "+1", "x", "01"]
            .map(String::from)
            .to_vec(),
        ["", "0", "1", "2", "3", "4", "5", "x", "+3"]
            .map(String::from)
            .to_vec(),
        [
            "", "0", "1", "9999", "10000", "10001", "19999", "20000", "30001", "39999", "40001",
            "49999", "50000", "65535", "65536", "x", "-1",
        ]
        .map(String::from)
        .to_vec(),
        [
            "", "0", "1", "2", "3", "125", "126", "2000", "2001", "65535", "65536", "x",
        ]
        .map(String::from)
        .to_vec(),
        [
            "", "bit", "int8", "uint8", "int16", "uint16", "int32", "uint32", "float", "uint64",
            "double", "UINT16", "x",
        ]
        .map(String::from)
        .to_vec(),
        ["", "be", "le", "mbe", "mle", "BE", "Le", "x"]
            .map(String::from)
            .to_vec(),
        ["", "0", "1", "65535", "x"].map(String::from).to_vec(),
    ];
    let bases: [[&str; 8]; 3] = [
        [&ep, "", "", "", "", "", "", ""],
        [&ep, "", "3", "0", "", "", "", ""],
        [&ep, "", "1", "0", "", "", "", ""],
    ];
    let key = |p: &[String]| format!("modbus.get[{}]", p.join(","));
    let mut v = vec!["modbus.get".to_string(), "modbus.get[]".into()];
    v.push(format!("modbus.get[{ep},,,,,,,,]"));
    for base in bases {
        for (i, vals) in values.iter().enumerate() {
            for val in vals {
                let mut p: Vec<String> = base.iter().map(|s| s.to_string()).collect();
                p[i] = val.clone();
                v.push(key(&p));
            }
        }
    }
    for f in ["3", "4"] {
        for t in [
            "int8", "uint8", "int16", "uint16", "int32", "uint32", "float", "uint64", "double",
        ] {
            for e in ["be", "le", "mbe", "mle"] {
                for c in ["1", "3"] {
                    for (a, o) in [("0", "0"), ("5", "1")] {
                        v.push(format!("modbus.get[{ep},1,{f},{a},{c},{t},{e},{o}]"));
                    }
                }
            }
        }
    }
    for f in ["1", "2"] {
        for c in ["1", "3", "9", "17"] {
            for (a, o) in [("0", "0"), ("7", "3")] {
                v.push(format!("modbus.get[{ep},,{f},{a},{c},,,{o}]"));
            }
        }
    }
    for a in [
        "1", "5", "10001", "10005", "30001", "30003", "40001", "40010",
    ] {
        for c in ["1", "2"] {
            v.push(format!("modbus.get[{ep},,,{a},{c}]"));
        }
    }
    for a in (1000..=1015).chain(2000..=2005).filter(|a| *a != 2004) {
        v.push(format!("modbus.get[{ep},,3,{a}]"));
        v.push(format!("modbus.get[{ep},,1,{a},2]"));
    }
    v.sort();
    v.dedup();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modbus_get_agrees_with_zabbix_agentd() {
    let s = scene();
    let device = start_modbus_device();
    let cases = modbus_cases(device.port);
    let limit = Arc::new(tokio::sync::Semaphore::new(8));
    let conf = Arc::new(s.conf.clone());
    let mut tasks = Vec::new();
    for key in cases.clone() {
        let (limit, conf) = (Arc::clone(&limit), Arc::clone(&conf));
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await.ok();
            compare(&conf, &key, Cmp::Exact).await
        }));
    }
    let mut failures = Vec::new();
    for t in tasks {
        failures.extend(t.await.unwrap_or_else(|e| panic!("case task: {e}")));
    }
    assert!(
        failures.is_empty(),
        "{} of {} modbus.get keys differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!(
        "{} modbus.get keys compared with zabbix_agentd -t",
        cases.len()
    );
}

/// Byte sequences for the invalid-UTF-8 family: stray continuation bytes, 0xFE/0xFF,
/// truncated sequences, overlong forms, surrogates, code points past U+10FFFF, 5- and
/// 6-byte forms, a lead byte before ASCII or before too many continuation bytes, and valid
/// multi-byte characters around them.
const UTF8_SEQS: &[&[u8]] = &[
    b"\x80",
    b"\xbf",
    b"\x80\x80",
    b"\xfe",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\xf0\x9f\x98",
    b"\xc0\x80",
    b"\xc1\xbf",
    b"\xe0\x80\x80",
    b"\xf0\x80\x80\x80",
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xf4\x90\x80\x80",
    b"\xf5\x80\x80\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\xfc\x84\x80\x80\x80\x80",
    b"\xc3A",
    b"\xc3\x80\x80",
    b"\xc3\xa9",
    b"\xe2\x82\xac",
    b"\xf0\x9f\x98\x80",
];

/// The head of the invalid-UTF-8 family's web answers.
fn web_head(len: usize) -> String {
    format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
}

/// The rest of a `-t` line after the key column, as raw bytes.
fn test_value_bytes(key: &str, stdout: &[u8]) -> Vec<u8> {
    let rest = stdout
        .strip_prefix(key.as_bytes())
        .unwrap_or_else(|| panic!("{key}: {}", String::from_utf8_lossy(stdout)));
    let start = rest.iter().position(|b| *b != b' ').unwrap_or(rest.len());
    let rest = &rest[start..];
    rest.strip_suffix(b"\n").unwrap_or(rest).to_vec()
}

/// Issue 14 cause 7, one rule for bytes that are not UTF-8 (src/text.rs), generated from
/// [`UTF8_SEQS`] alone and in pairs. The expected text of every byte string comes from
/// zabbix_agentd itself: the `vfs.dir.get` JSON of a file with that name (agentd
/// replaces inside JSON what the server replaces in plain values). Checked:
/// - vfs.dir.get over all the names: zagent's JSON is agentd's, byte for byte;
/// - vfs.file.contents, vfs.file.regexp (line, template), system.run and web.page.get
///   on files (pages) holding those strings: agentd answers the raw bytes, zagent that
///   replaced text (what the server stores from agentd's answer).
#[test]
fn invalid_utf8_answers_as_zabbix_agentd() {
    use std::os::unix::ffi::OsStrExt as _;
    let s = scene();
    let names = s.root.join("u8names");
    std::fs::create_dir(&names).unwrap_or_else(|e| panic!("{e}"));
    let mut strings: Vec<Vec<u8>> = Vec::new();
    for a in UTF8_SEQS {
        strings.push([b"p", *a, b"q"].concat());
        for b in UTF8_SEQS {
            strings.push([b"p", *a, *b, b"q"].concat());
        }
    }
    // Some pairs spell the same bytes ("\x80" + "\x80\x80"): one file each. An ASCII
    // byte before a stray continuation byte ("A\x80") is left out: agentd's `.` takes
    // them as one character, its literals as two (docs/COMPATIBILITY.md).
    let mut seen = std::collections::HashSet::new();
    strings.retain(|t| seen.insert(t.clone()));
    strings.retain(|t| {
        !t.windows(2)
            .any(|w| w[0] < 0x80 && w[0] != b'p' && w[1] & 0xC0 == 0x80)
    });
    // File i of u8names is named strings[i] and holds i bytes: its size finds it in JSON.
    for (i, name) in strings.iter().enumerate() {
        std::fs::write(names.join(std::ffi::OsStr::from_bytes(name)), vec![b'x'; i])
            .unwrap_or_else(|e| panic!("write: {e}"));
    }
    // A web server answering GET /<i> with strings[i] as the body.
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let http_port = http.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
    let bodies = Arc::new(strings.clone());
    std::thread::spawn(move || {
        use std::io::{BufRead as _, Write as _};
        for conn in http.incoming().take(2000) {
            let Ok(c) = conn else { continue };
            let bodies = Arc::clone(&bodies);
            std::thread::spawn(move || {
                let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(10)));
                let mut r = std::io::BufReader::new(&c);
                let mut first = String::new();
                let _ = r.read_line(&mut first);
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).map_or(true, |n| n == 0) || l == "\r\n" {
                        break;
                    }
                }
                let i: usize = first
                    .split(' ')
                    .nth(1)
                    .and_then(|p| p.trim_start_matches('/').parse().ok())
                    .unwrap_or(0);
                let body = bodies.get(i).cloned().unwrap_or_default();
                let mut w = &c;
                let _ = w.write_all(web_head(body.len()).as_bytes());
                let _ = w.write_all(&body);
            });
        }
    });
    let conf = s.root.join("u8.conf");
    std::fs::write(
        &conf,
        "AllowRoot=1\nLogType=console\nTimeout=10\nAllowKey=system.run[*]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let run = |cmd: &mut Command| cmd.output().unwrap_or_else(|e| panic!("{e}")).stdout;
    let agentd = |key: &str| {
        run(Command::new("zabbix_agentd")
            .arg("-c")
            .arg(&conf)
            .args(["-t", key]))
    };
    let ours = |key: &str| {
        run(Command::new(env!("CARGO_BIN_EXE_zagent"))
            .args(["test", "-c"])
            .arg(&conf)
            .arg(key))
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    // The oracle: agentd's JSON for every name.
    let key = format!("vfs.dir.get[{}]", names.display());
    let official = agentd(&key);
    let zagent_json = ours(&key);
    checked += 1;
    if official != zagent_json {
        failures.push(format!(
            "{key}:\n  agentd {}\n  zagent {}",
            String::from_utf8_lossy(&official),
            String::from_utf8_lossy(&zagent_json)
        ));
    }
    let json = test_value_bytes(&key, &official);
    let json = std::str::from_utf8(&json[3..json.len() - 1])
        .unwrap_or_else(|e| panic!("agentd's vfs.dir.get is not UTF-8: {e}"));
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let mut expected = vec![String::new(); strings.len()];
    for r in &rows {
        let i = r["size"].as_u64().unwrap_or(u64::MAX) as usize;
        expected[i] = r["basename"].as_str().unwrap_or("").to_string();
    }
    assert_eq!(rows.len(), strings.len());
    // Plain values: one file per single sequence.
    for k in 0..=8 {
        let key = format!("vfs.dir.count[{},\"^p.{{{k}}}q$\"]", names.display());
        checked += 1;
        let (a, b) = (agentd(&key), ours(&key));
        if a != b {
            failures.push(format!(
                "{key}: agentd {} zagent {}",
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b)
            ));
        }
    }
    // Every third string that fits a short file (the JSON above covers all of them).
    for (i, text) in strings
        .iter()
        .enumerate()
        .filter(|(i, t)| t.len() <= 8 && i % 3 == 0)
    {
        let f = s.root.join(format!("u8-{i}.txt"));
        std::fs::write(&f, text).unwrap_or_else(|e| panic!("{e}"));
        let f = f.display();
        // (key, type letter, text around the value, whether agentd answers the raw bytes:
        // plain values yes; a filled output template is replaced by agentd itself).
        for (key, letter, wrap, raw_from_agentd) in [
            (format!("vfs.file.contents[{f}]"), 't', ("", ""), true),
            (format!("vfs.file.regexp[{f},q]"), 's', ("", ""), true),
            (
                format!("vfs.file.regexp[{f},^p.*,,,,<\\0>]"),
                's',
                ("<", ">"),
                false,
            ),
            (format!("system.run[cat {f}]"), 't', ("", ""), true),
            (
                format!("web.page.get[127.0.0.1,/{i},{http_port}]"),
                't',
                (web_head(text.len()).as_str(), ""),
                true,
            ),
        ] {
            checked += 1;
            let official = test_value_bytes(&key, &agentd(&key));
            let want = format!("[{letter}|{}{}{}]", wrap.0, expected[i], wrap.1);
            let want_official = if raw_from_agentd {
                [
                    format!("[{letter}|{}", wrap.0).as_bytes(),
                    text,
                    format!("{}]", wrap.1).as_bytes(),
                ]
                .concat()
            } else {
                want.as_bytes().to_vec()
            };
            let got = String::from_utf8(test_value_bytes(&key, &ours(&key)))
                .unwrap_or_else(|e| panic!("zagent printed bytes that are not UTF-8: {e}"));
            if official != want_official || got != want {
                failures.push(format!(
                    "{key}: agentd {:?} (expected {:?}) zagent {got:?} expected {want:?}",
                    String::from_utf8_lossy(&official),
                    String::from_utf8_lossy(&want_official)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 90, "only {checked} checks");
}

/// modbus.get on the wire: the same device through zabbix_get from both agents (numbers
/// as sent, lists, errors).
#[test]
fn modbus_get_on_the_wire_as_zabbix_agentd() {
    let device = start_modbus_device();
    let ep = format!("tcp://127.0.0.1:{}", device.port);
    let conf = "Server=127.0.0.1\nTimeout=5\n";
    let mut official = util::start_zabbix_agentd(conf);
    let mut ours = util::start_zagent(&format!("AllowRoot=1\nLogType=console\n{conf}"));
    let mut failures = Vec::new();
    for key in [
        format!("modbus.get[{ep},,3,0]"),
        format!("modbus.get[{ep},,3,0,1,float]"),
        format!("modbus.get[{ep},,3,2,1,int16]"),
        format!("modbus.get[{ep},,3,0,1,double]"),
        format!("modbus.get[{ep},,3,0,4,float,le]"),
        format!("modbus.get[{ep},,1,0,9]"),
        format!("modbus.get[{ep},,4,1002]"),
        format!("modbus.get[{ep},,x]"),
    ] {
        let a = util::stdout(&util::zabbix_get(official.port, &key, &[]));
        let b = util::stdout(&util::zabbix_get(ours.port, &key, &[]));
        if a != b {
            failures.push(format!("{key}: agentd {a:?} zagent {b:?}"));
        }
    }
    util::stop_group(&mut official.child, std::time::Duration::from_secs(5));
    util::stop_group(&mut ours.child, std::time::Duration::from_secs(5));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A check that runs out of time is worded as zabbix_agentd words it: `Timeout while
/// waiting for data.` for what it runs as a threaded metric in a child (vfs.dir.*),
/// `Timeout while processing item.` for the rest. Walking `/` and reading `/dev/zero` take
/// longer than the 1 s Timeout here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_are_worded_as_zabbix_agentd() {
    let s = scene();
    let conf = s.root.join("timeout1.conf");
    std::fs::write(&conf, "AllowRoot=1\nLogType=console\nTimeout=1\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let conf = Arc::new(conf);
    let keys = [
        "vfs.dir.count[/]",
        "vfs.dir.get[/]",
        "vfs.dir.size[/]",
        "vfs.file.md5sum[/dev/zero]",
        "vfs.file.regexp[/dev/zero,x]",
    ];
    let tasks: Vec<_> = keys
        .iter()
        .map(|k| {
            let (conf, key) = (Arc::clone(&conf), k.to_string());
            tokio::spawn(async move {
                let official = agentd(&conf, &key).await;
                let ours = zagent(&conf, &key).await;
                (key, official, ours)
            })
        })
        .collect();
    let mut failures = Vec::new();
    for t in tasks {
        let (key, official, ours) = t.await.unwrap_or_else(|e| panic!("{e}"));
        let Answer::NotSupported(text) = &official else {
            panic!("{key}: zabbix_agentd did not time out: {official:?}");
        };
        assert!(text.starts_with("Timeout while"), "{key}: {text}");
        if official != ours {
            failures.push(format!("{key}: agentd {official:?} zagent {ours:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
