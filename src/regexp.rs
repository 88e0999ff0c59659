//! Regular expressions exactly as zabbix_agentd 6.0 evaluates them: PCRE2 (Debian's
//! libpcre2-8, the library zabbix_agentd links) compiled with `PCRE2_UTF | PCRE2_MULTILINE`
//! (plus `PCRE2_CASELESS` for case-insensitive global regexps), and its output template
//! (`\0`…`\9`, `\\`, `\@`). Every key and the log[] filters use this one module: compile,
//! match, template. It must not read files or split lines (the callers own that).
//!
//! What zabbix_agentd does, and so this module:
//! - `\d \w \s \b` are ASCII-only (no `PCRE2_UCP`), `.` is one UTF-8 character;
//! - the subject ends at its first NUL byte (agentd passes C strings);
//! - a subject that is not valid UTF-8: agentd matches it with the UTF check off
//!   (`PCRE2_NO_UTF_CHECK`), which is undefined behaviour in PCRE2 — in practice an invalid
//!   byte is stepped over with the continuation bytes after it (`a.b` matches `a\xFFb`
//!   and `a\x80\x80b`), and `\pL` or `\X` crash its collector ("Data gathering process
//!   terminated"). zagent matches such a subject cut into characters the same way (see
//!   `matchable`; offsets map back, the output follows [`crate::text`]'s rule) and never
//!   crashes.
//!   docs/COMPATIBILITY.md lists this deviation.

use pcre2::bytes::{Regex, RegexBuilder};

/// How many groups the output template can name: `\0` (the whole match) to `\9`.
pub const GROUPS: usize = 10;

/// A pattern PCRE2 refused, in PCRE2's own words (as zabbix_agentd reports them, e.g.
/// "missing closing parenthesis").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CompileError(pub String);

/// A compiled expression.
#[derive(Debug, Clone)]
pub struct Regexp {
    re: Regex,
}

/// Where each group of one match lies in the subject (`None`: the group did not take part).
pub type Groups = [Option<(usize, usize)>; GROUPS];

/// The subject as PCRE2 sees it in zabbix_agentd: up to the first NUL byte.
fn c_string(subject: &[u8]) -> &[u8] {
    let end = subject
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(subject.len());
    &subject[..end]
}

/// A subject as zabbix_agentd's PCRE2 steps through it, in valid UTF-8 for ours, with
/// the way back to the original offsets.
struct Matchable<'a> {
    text: std::borrow::Cow<'a, [u8]>,
    /// Original offset of every byte offset of `text` (and of its end); `None` when
    /// `text` is the original.
    back: Option<Vec<usize>>,
}

impl Matchable<'_> {
    fn original(&self, offset: usize) -> usize {
        self.back
            .as_ref()
            .map_or(offset, |b| b.get(offset).copied().unwrap_or(offset))
    }
}

/// The subject to match: valid UTF-8 as is (up to its first NUL). Otherwise it is cut
/// into characters the way PCRE2 steps over them with the UTF check off (agentd's
/// `PCRE2_NO_UTF_CHECK`): an ASCII byte is one character; any other byte is one with the
/// continuation bytes (10xxxxxx) that follow it. A character that is valid UTF-8 stays; any other becomes U+FFFD, so
/// `.` takes it as one character, as agentd's matcher does. Group offsets are mapped back
/// to the original bytes.
fn matchable(subject: &[u8]) -> Matchable<'_> {
    let subject = c_string(subject);
    if std::str::from_utf8(subject).is_ok() {
        return Matchable {
            text: std::borrow::Cow::Borrowed(subject),
            back: None,
        };
    }
    let mut text: Vec<u8> = Vec::with_capacity(subject.len() + 8);
    let mut back = Vec::with_capacity(subject.len() + 8);
    let mut i = 0;
    while i < subject.len() {
        let mut end = i + 1;
        while subject[i] >= 0x80 && end < subject.len() && subject[end] & 0xC0 == 0x80 {
            end += 1;
        }
        let ch: &[u8] = match std::str::from_utf8(&subject[i..end]) {
            Ok(s) => s.as_bytes(),
            Err(_) => "\u{FFFD}".as_bytes(),
        };
        text.extend_from_slice(ch);
        back.extend(std::iter::repeat(i).take(ch.len()));
        i = end;
    }
    back.push(subject.len());
    Matchable {
        text: std::borrow::Cow::Owned(text),
        back: Some(back),
    }
}

/// zabbix_agentd's match limits, as start-of-pattern items (they can only lower the
/// library's defaults, which is what they do here): `match_limit` 1,000,000 and a depth
/// limit of the stack's soft limit / 800 (100,000 from an 80 MB stack or unlimited;
/// 10,000 when it cannot be read). A match that reaches one is no match, as in agentd
/// (which logs "failed with error -47"). The `pcre2` crate has no match context, so the
/// pattern carries them.
fn limits() -> &'static str {
    static LIMITS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LIMITS.get_or_init(|| {
        let depth = match crate::sys::host::stack_soft_limit() {
            Some(cur) if cur < 80_000_000 => cur / 800,
            Some(_) => 100_000,
            None => 10_000,
        };
        format!("(*LIMIT_MATCH=1000000)(*LIMIT_DEPTH={depth})")
    })
}

/// The bare PCRE2 message from the crate's "PCRE2: error compiling pattern at offset N: msg".
fn bare_message(e: &pcre2::Error) -> String {
    let text = e.to_string();
    text.split_once(": ")
        .and_then(|(_, rest)| rest.split_once(": "))
        .map_or(text.clone(), |(_, msg)| msg.to_string())
}

impl Regexp {
    /// Compiles `pattern` case-sensitively (what every key parameter uses).
    pub fn new(pattern: &str) -> Result<Regexp, CompileError> {
        Regexp::build(pattern, false)
    }

    /// Compiles `pattern`, case-insensitively when `caseless` (global regexps from the
    /// server with `case_sensitive: 0`).
    pub fn build(pattern: &str, caseless: bool) -> Result<Regexp, CompileError> {
        // agentd hands PCRE2 a C string: a NUL ends the pattern.
        let pattern = pattern.split('\0').next().unwrap_or("");
        RegexBuilder::new()
            .utf(true)
            .multi_line(true)
            .caseless(caseless)
            .build(&format!("{}{pattern}", limits()))
            .map(|re| Regexp { re })
            .map_err(|e| CompileError(bare_message(&e)))
    }

    /// Whether `subject` matches. A match error (PCRE2's match limit) is no match, as in
    /// zabbix_agentd.
    pub fn is_match(&self, subject: &[u8]) -> bool {
        self.re.is_match(&matchable(subject).text).unwrap_or(false)
    }

    /// The groups of the first match, or `None` when there is none.
    pub fn captures(&self, subject: &[u8]) -> Option<Groups> {
        let subject = matchable(subject);
        let caps = self.re.captures(&subject.text).ok()??;
        let mut groups: Groups = [None; GROUPS];
        for (i, g) in groups.iter_mut().enumerate() {
            *g = caps
                .get(i)
                .map(|m| (subject.original(m.start()), subject.original(m.end())));
        }
        Some(groups)
    }

    /// zabbix_agentd's "regexp_sub": `None` when `subject` does not match (or the
    /// template cannot be filled, see [`render`]); else the template's output.
    pub fn sub(&self, subject: &[u8], template: &str) -> Option<String> {
        let groups = self.captures(subject)?;
        render(c_string(subject), &groups, template)
    }
}

/// Fills the output template from one match, as zabbix_agentd does:
/// - an empty template yields the whole subject;
/// - `\0`…`\9`: that group (empty when it did not take part);
/// - `\\`: one backslash;
/// - `\@`: group 1 — and, as in agentd, the text since the previous escape is dropped;
///   no group 1 at all makes the whole output `None`;
/// - any other `\x` stays as written.
///
/// Bytes that are not UTF-8 are replaced by [`crate::text::zbx_utf8`] (one `?` per invalid
/// sequence: what the server stores from agentd's raw output).
pub fn render(subject: &[u8], groups: &Groups, template: &str) -> Option<String> {
    if template.is_empty() {
        return Some(crate::text::zbx_utf8(subject));
    }
    let t = template.as_bytes();
    let group = |i: usize| groups[i].map_or(&[][..], |(s, e)| &subject[s..e]);
    let mut out: Vec<u8> = Vec::with_capacity(t.len() + subject.len());
    let mut start = 0; // first byte of the template not yet copied
    let mut i = 0;
    while let Some(off) = t[i..].iter().position(|b| *b == b'\\') {
        let bs = i + off;
        let next = t.get(bs + 1).copied();
        match next {
            Some(b'\\') => {
                out.extend_from_slice(&t[start..bs + 1]);
                start = bs + 2;
                i = bs + 2;
            }
            Some(d @ b'0'..=b'9') => {
                out.extend_from_slice(&t[start..bs]);
                out.extend_from_slice(group(usize::from(d - b'0')));
                start = bs + 2;
                i = bs + 2;
            }
            Some(b'@') => {
                groups[1]?;
                out.extend_from_slice(group(1));
                start = bs + 2;
                i = bs + 2;
            }
            _ => {
                out.extend_from_slice(&t[start..bs]);
                start = bs;
                i = bs + 1;
            }
        }
        if i >= t.len() {
            break;
        }
    }
    out.extend_from_slice(&t[start.min(t.len())..]);
    Some(crate::text::zbx_utf8(&out))
}

#[cfg(test)]
#[allow(clippy::panic)] // a test fails by panicking
mod tests {
    use super::*;

    fn sub(re: &str, line: &str, template: &str) -> Option<String> {
        Regexp::new(re)
            .unwrap_or_else(|e| panic!("{e}"))
            .sub(line.as_bytes(), template)
    }

    #[test]
    fn template_as_zabbix_agentd() {
        // Each expectation was read from zabbix_agentd 6.0.14 `-t vfs.file.regexp[...]`.
        assert_eq!(
            sub("foo ([0-9]+)", "foo 12 bar", "\\1").as_deref(),
            Some("12")
        );
        assert_eq!(
            sub("foo ([0-9]+)", "foo 12 bar", "\\\\1").as_deref(),
            Some("\\1")
        );
        assert_eq!(
            sub("foo ([0-9]+)", "foo 12 bar", "\\\\\\\\1").as_deref(),
            Some("\\\\1")
        );
        assert_eq!(
            sub("foo ([0-9]+)", "foo 12 bar", "a\\@b").as_deref(),
            Some("12b")
        );
        assert_eq!(
            sub("foo ([0-9]+)", "foo 12 bar", "\\x").as_deref(),
            Some("\\x")
        );
        assert_eq!(
            sub("foo ([0-9]+)", "foo 12 bar", "<\\0>").as_deref(),
            Some("<foo 12>")
        );
        assert_eq!(sub("foo", "foo 12 bar", "a\\@"), None);
        assert_eq!(sub("foo", "foo 12 bar", "").as_deref(), Some("foo 12 bar"));
        assert_eq!(sub("zzz", "foo 12 bar", ""), None);
        assert_eq!(
            sub("(a)|(b)", "b", "[\\1][\\2][\\9]").as_deref(),
            Some("[][b][]")
        );
        assert_eq!(sub("x", "x", "end\\").as_deref(), Some("end\\"));
    }

    #[test]
    fn pcre_not_rust_regex() {
        let m = |re: &str, s: &[u8]| Regexp::new(re).map(|r| r.is_match(s));
        assert_eq!(m("\\d", "٣".as_bytes()), Ok(false), "\\d is ASCII-only");
        assert_eq!(
            m("caf\\w", "café".as_bytes()),
            Ok(false),
            "\\w is ASCII-only"
        );
        assert_eq!(m("\\Qa.b\\E", b"a.b"), Ok(true));
        assert_eq!(m("\\Qa.b\\E", b"axb"), Ok(false));
        assert_eq!(m("\\h", b"a b"), Ok(true));
        assert_eq!(m("\\141", b"a"), Ok(true));
        assert_eq!(m("a(?#comment)b", b"ab"), Ok(true));
        assert_eq!(m("a{1", b"a{1"), Ok(true));
        assert_eq!(
            m("abc", b"\xff\xfeabc"),
            Ok(true),
            "not UTF-8: the rest still matches"
        );
        assert_eq!(
            m("a.b", b"a\xffb"),
            Ok(true),
            "an invalid byte is one character"
        );
        assert_eq!(m("\\pL", b"\xff"), Ok(false), "and never crashes");
        assert_eq!(
            Regexp::new("a(.)b")
                .ok()
                .and_then(|r| r.sub(b"a\xffb", "<\\1>")),
            Some("<?>".to_string())
        );
        assert_eq!(m("cd", b"ab\0cd"), Ok(false), "the subject ends at NUL");
        assert_eq!(m("^b", b"a\nb"), Ok(true), "multiline");
        assert_eq!(
            Regexp::new("(a").map(|_| ()),
            Err(CompileError("missing closing parenthesis".into()))
        );
        assert_eq!(
            Regexp::new("\\p{Foo}").map(|_| ()),
            Err(CompileError("unknown property after \\P or \\p".into()))
        );
        let ci = Regexp::build("ERROR", true).unwrap_or_else(|e| panic!("{e}"));
        assert!(ci.is_match(b"an error here"));
    }

    #[test]
    fn match_limit_as_zabbix_agentd() {
        // The first alternative backtracks 2^n times before the second matches: within
        // agentd's match_limit (1,000,000) at 16 a's, past it at 20 (agentd: no match,
        // "failed with error -47"; PCRE2's own default limit would still match).
        let re = Regexp::new("(a+)+c|a*b").unwrap_or_else(|e| panic!("{e}"));
        let line = |n: usize| [vec![b'a'; n], b"b".to_vec()].concat();
        assert!(re.is_match(&line(16)));
        assert!(!re.is_match(&line(20)));
        assert_eq!(re.sub(&line(20), "x"), None);
        // A pattern that sets its own, lower limit keeps it.
        let own = Regexp::new("(*LIMIT_MATCH=1000)(a+)+c|a*b").unwrap_or_else(|e| panic!("{e}"));
        assert!(!own.is_match(&line(16)));
    }

    #[test]
    fn subjects_not_utf8_step_as_agentd() {
        // Read from zabbix_agentd 6.0.14 (vfs.dir.count / vfs.file.regexp): `.` takes a
        // non-ASCII byte with the continuation bytes after it.
        let one = Regexp::new("^p.q$").unwrap_or_else(|e| panic!("{e}"));
        for s in [
            &b"p\x80\x80q"[..],
            b"p\xf0\x9f\x98q",
            b"p\xc3\x80\x80q",
            b"p\xffq",
        ] {
            assert!(one.is_match(s), "{s:x?}");
        }
        assert!(!one.is_match(b"p\xc3Aq"));
        // Groups come back as offsets of the original bytes; output as src/text.rs says.
        let re = Regexp::new("^a(.)(.)b$").unwrap_or_else(|e| panic!("{e}"));
        let subject = b"a\xc3\x80\x80\xffb";
        assert_eq!(
            re.captures(subject).map(|g| (g[1], g[2])),
            Some((Some((1, 4)), Some((4, 5))))
        );
        assert_eq!(re.sub(subject, "<\\1|\\2>").as_deref(), Some("<\u{c0}?|?>"));
    }
}
