//! Item-key syntax: `name[param,"quoted param",[array,elements]]`.
//!
//! Owns parsing and formatting of keys with the accept/reject decisions of Zabbix
//! (`docs/zabbix-protocol.md` §5.1). It knows nothing about what a key means.

use std::fmt;

/// How a parameter was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Written as is; trailing spaces kept, leading spaces skipped.
    Unquoted,
    /// Written in double quotes; the value is unescaped (`\"` → `"`).
    Quoted,
    /// Written as `[a,b]`; the value is the array's text as zabbix_agentd hands it to a
    /// handler: elements joined by `,`, each without leading spaces, quoted elements
    /// verbatim (quotes and escapes kept) without the spaces after them, unquoted ones with
    /// their trailing spaces (`[ a , "b" ]` → `a ,"b"`). Arrays do not nest.
    Array,
}

/// One parameter of an item key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The parameter's value as a handler sees it.
    pub value: String,
    /// How it was written.
    pub kind: ParamKind,
}

impl Param {
    /// An unquoted parameter. Formatting quotes it if its value needs quotes.
    pub fn unquoted(v: impl Into<String>) -> Param {
        Param {
            value: v.into(),
            kind: ParamKind::Unquoted,
        }
    }

    /// A parameter written in double quotes.
    pub fn quoted(v: impl Into<String>) -> Param {
        Param {
            value: v.into(),
            kind: ParamKind::Quoted,
        }
    }

    /// An array parameter; `inner` is the text between the brackets.
    pub fn array(inner: impl Into<String>) -> Param {
        Param {
            value: inner.into(),
            kind: ParamKind::Array,
        }
    }
}

/// A parsed item key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemKey {
    /// The part before `[`.
    pub name: String,
    /// Empty when the key has no brackets; `key[]` has one empty parameter.
    pub params: Vec<Param>,
}

/// The key is not valid Zabbix item-key syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid item key format.")]
pub struct KeyError {
    /// Byte offset where parsing stopped.
    pub offset: usize,
}

/// Characters allowed in a key name.
pub fn is_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-'
}

impl ItemKey {
    /// Parses a whole key; anything after the closing `]` is an error.
    pub fn parse(input: &str) -> Result<ItemKey, KeyError> {
        let b = input.as_bytes();
        let name_len = b.iter().take_while(|c| is_key_char(**c)).count();
        if name_len == 0 {
            return Err(KeyError { offset: 0 });
        }
        let name = input[..name_len].to_string();
        if name_len == b.len() {
            return Ok(ItemKey {
                name,
                params: Vec::new(),
            });
        }
        if b[name_len] != b'[' {
            return Err(KeyError { offset: name_len });
        }
        let mut p = Parser {
            s: input,
            b,
            i: name_len + 1,
        };
        let params = p.params()?;
        if p.i != b.len() {
            return Err(KeyError { offset: p.i });
        }
        Ok(ItemKey { name, params })
    }

    /// Whether the key was written with brackets.
    pub fn has_params(&self) -> bool {
        !self.params.is_empty()
    }

    /// The parameter at `i` (0-based) as a string; `None` when absent.
    pub fn param(&self, i: usize) -> Option<&str> {
        self.params.get(i).map(|p| p.value.as_str())
    }
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err<T>(&self) -> Result<T, KeyError> {
        Err(KeyError { offset: self.i })
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }

    /// Parses parameters after the opening `[` up to and including the final `]`.
    fn params(&mut self) -> Result<Vec<Param>, KeyError> {
        let mut params = Vec::new();
        loop {
            self.skip_spaces();
            let Some(c) = self.peek() else {
                return self.err();
            };
            let param = match c {
                b',' | b']' => Param::unquoted(""),
                b'"' => {
                    let v = self.quoted()?;
                    self.skip_spaces();
                    Param {
                        value: v,
                        kind: ParamKind::Quoted,
                    }
                }
                b'[' => {
                    let v = self.array()?;
                    Param {
                        value: v,
                        kind: ParamKind::Array,
                    }
                }
                _ => {
                    let start = self.i;
                    while let Some(c) = self.peek() {
                        if c == b',' || c == b']' {
                            break;
                        }
                        self.i += 1;
                    }
                    Param::unquoted(&self.s[start..self.i])
                }
            };
            params.push(param);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(params);
                }
                _ => return self.err(),
            }
        }
    }

    /// Parses `"..."` starting at the opening quote; returns the unescaped contents and
    /// leaves `i` after the closing quote.
    fn quoted(&mut self) -> Result<String, KeyError> {
        self.i += 1;
        let mut out = String::new();
        let mut run = self.i;
        loop {
            match self.peek() {
                None => return self.err(),
                Some(b'"') => {
                    out.push_str(&self.s[run..self.i]);
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') if self.b.get(self.i + 1) == Some(&b'"') => {
                    out.push_str(&self.s[run..self.i]);
                    out.push('"');
                    self.i += 2;
                    run = self.i;
                }
                Some(_) => self.i += 1,
            }
        }
    }

    /// Parses `[...]` starting at the opening bracket; leaves `i` after the closing
    /// bracket and any spaces after it.
    ///
    /// Returns the array's text as zabbix_agentd hands it to handlers: the elements joined
    /// by `,`, each without its leading spaces, a quoted element verbatim (quotes and `\"`
    /// escapes kept) without the spaces after its closing quote, an unquoted element with
    /// its trailing spaces. `[ a , "b" ]` gives `a ,"b"`.
    fn array(&mut self) -> Result<String, KeyError> {
        self.i += 1;
        let mut out = String::new();
        loop {
            self.skip_spaces();
            match self.peek() {
                None | Some(b'[') => return self.err(),
                Some(b'"') => {
                    let start = self.i;
                    self.quoted()?;
                    out.push_str(&self.s[start..self.i]);
                    self.skip_spaces();
                }
                Some(_) => {
                    let start = self.i;
                    while let Some(c) = self.peek() {
                        if c == b',' || c == b']' {
                            break;
                        }
                        self.i += 1;
                    }
                    out.push_str(&self.s[start..self.i]);
                }
            }
            match self.peek() {
                Some(b',') => {
                    out.push(',');
                    self.i += 1;
                }
                Some(b']') => break,
                _ => return self.err(),
            }
        }
        self.i += 1;
        self.skip_spaces();
        Ok(out)
    }
}

/// Writes `value` as a key parameter, quoting it only when it must be quoted: when it
/// starts with a space, `"` or `[`, or contains `,` or `]`.
///
/// Zabbix syntax cannot express a value that must be quoted and ends with a backslash
/// (the backslash would escape the closing quote; Zabbix refuses to quote such a value
/// too). It is written anyway and the result does not parse, so the mistake shows up as
/// `Invalid item key format.` rather than as a silently different value.
pub fn write_param(out: &mut String, value: &str) {
    let needs_quotes = value.starts_with([' ', '"', '[']) || value.contains([',', ']']);
    if needs_quotes {
        out.push('"');
        for ch in value.chars() {
            if ch == '"' {
                out.push('\\');
            }
            out.push(ch);
        }
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// Formats the key in Zabbix syntax: parameters keep their kind (unquoted ones are quoted
/// only when they must be, see [`write_param`]), so `ItemKey::parse(&k.to_string())`
/// gives `k` back for every parsed key.
impl fmt::Display for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if self.params.is_empty() {
            return Ok(());
        }
        let mut s = String::from("[");
        for (n, p) in self.params.iter().enumerate() {
            if n > 0 {
                s.push(',');
            }
            match p.kind {
                ParamKind::Array => {
                    s.push('[');
                    s.push_str(&p.value);
                    s.push(']');
                }
                ParamKind::Quoted => {
                    s.push('"');
                    for ch in p.value.chars() {
                        if ch == '"' {
                            s.push('\\');
                        }
                        s.push(ch);
                    }
                    s.push('"');
                }
                ParamKind::Unquoted => write_param(&mut s, &p.value),
            }
        }
        s.push(']');
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(k: &str) -> Option<Vec<String>> {
        ItemKey::parse(k)
            .ok()
            .map(|k| k.params.into_iter().map(|p| p.value).collect())
    }

    #[test]
    fn basics() {
        assert_eq!(vals("agent.ping"), Some(vec![]));
        assert_eq!(vals("key[]"), Some(vec!["".into()]));
        assert_eq!(vals("key[,]"), Some(vec!["".into(), "".into()]));
        assert_eq!(
            vals("vector.echo[\"a,b\",c d]"),
            Some(vec!["a,b".into(), "c d".into()])
        );
        assert_eq!(
            vals("k[[a,\"b\"],c]"),
            Some(vec!["a,\"b\"".into(), "c".into()])
        );
        assert_eq!(vals("agent.ping["), None);
        assert_eq!(vals("k[[a,[b]]]"), None);
        assert_eq!(vals("k[a]x"), None);
        assert_eq!(vals("k[\"a\"b]"), None);
        assert_eq!(vals(""), None);
    }
}
