//! Certificate issuer/subject as the strings `TLSServerCertIssuer`/`TLSServerCertSubject`
//! are compared with.
//!
//! Owns the official format of Zabbix's OpenSSL builds: RFC 4514 (the successor of
//! RFC 2253) — the relative distinguished names in reverse order (most significant
//! last in the certificate, first here), separated by `,` without spaces, attribute
//! short names (`CN`, `OU`, `O`, `DC`, `C`, `ST`, `L`, `emailAddress`, …), and the
//! values with `, + " \ < > ;` escaped by a backslash anywhere, `#` or a space escaped at
//! the start, a space escaped at the end, control characters as `\XX`, and UTF-8 left
//! as it is. The comparison is exact (case and spaces matter), like zabbix_agentd's.
//!
//! The values of a multi-valued RDN (one SET: `OU=x+O=y`) are joined by `+`.
//!
//! Known difference from OpenSSL's printer, rare in certificates: a value that is not a
//! string (or an attribute OpenSSL has no name for) is printed as `#` and the hex of its
//! content bytes, where OpenSSL dumps its whole DER encoding. Zabbix's GnuTLS builds
//! (Debian's own packages) name `emailAddress` `EMAIL` and print only the first value
//! of a multi-valued RDN; for everything else the three agree (tests/tls_cert.rs checks
//! ours against `openssl x509 -nameopt RFC2253,-esc_msb` and against
//! zabbix_get/zabbix_agentd).
//!
//! It must not decide whether a certificate is trusted; OpenSSL's verification does.

use openssl::nid::Nid;
use openssl::x509::X509NameRef;

/// One attribute of a name: its short name and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// `CN`, `O`, … or the dotted OID for attributes OpenSSL has no name for.
    pub name: String,
    /// The value as text, or the hex-encoded DER (`#…`) for values that are not text.
    pub value: Value,
    /// The RDN (SET) it belongs to: attributes with the same `set` next to each other
    /// form one multi-valued RDN.
    pub set: i32,
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A string value, already converted to UTF-8.
    Text(String),
    /// A value printed as `#` and its hex-encoded content bytes.
    Dump(Vec<u8>),
}

/// Formats attributes given in certificate order (most significant first, as stored).
pub fn format(attrs: &[Attribute]) -> String {
    let mut out = String::new();
    let mut prev: Option<i32> = None;
    for a in attrs.iter().rev() {
        match prev {
            None => {}
            Some(set) if set == a.set => out.push('+'),
            Some(_) => out.push(','),
        }
        prev = Some(a.set);
        out.push_str(&a.name);
        out.push('=');
        match &a.value {
            Value::Text(s) => escape_into(s, &mut out),
            Value::Dump(bytes) => {
                out.push('#');
                for b in bytes {
                    out.push_str(&format!("{b:02X}"));
                }
            }
        }
    }
    out
}

fn escape_into(value: &str, out: &mut String) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\{:02X}", c as u32));
            }
            c => out.push(c),
        }
    }
}

/// The attributes of an X.509 name, in certificate order.
pub fn attributes(name: &X509NameRef) -> Vec<Attribute> {
    name.entries()
        .map(|e| {
            let set = crate::sys::x509::rdn_index(e);
            let obj = e.object();
            let nid = obj.nid();
            let short = if nid == Nid::UNDEF {
                None
            } else {
                nid.short_name().ok().map(str::to_string)
            };
            let data = e.data();
            match (short, data.to_string()) {
                (Some(name), Ok(text)) => Attribute {
                    name,
                    value: Value::Text(text),
                    set,
                },
                (name, _) => Attribute {
                    name: name.unwrap_or_else(|| obj.to_string()),
                    value: Value::Dump(data.as_slice().to_vec()),
                    set,
                },
            }
        })
        .collect()
}

/// An X.509 name in the official string format.
pub fn to_string(name: &X509NameRef) -> String {
    format(&attributes(name))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn text(name: &str, v: &str) -> Attribute {
        text_in(name, v, -1)
    }

    /// `set` -1: a set of its own (numbered by position in `own_sets`).
    fn text_in(name: &str, v: &str, set: i32) -> Attribute {
        Attribute {
            name: name.to_string(),
            value: Value::Text(v.to_string()),
            set,
        }
    }

    fn own_sets(mut attrs: Vec<Attribute>) -> Vec<Attribute> {
        for (i, a) in attrs.iter_mut().enumerate() {
            if a.set < 0 {
                a.set = 1000 + i32::try_from(i).unwrap();
            }
        }
        attrs
    }

    #[test]
    fn reverse_order_comma_separated() {
        let attrs = own_sets(vec![
            text("DC", "com"),
            text("DC", "zabbix"),
            text("O", "Zabbix SIA"),
            text("OU", "Development group"),
            text("CN", "Zabbix agent"),
        ]);
        assert_eq!(
            format(&attrs),
            "CN=Zabbix agent,OU=Development group,O=Zabbix SIA,DC=zabbix,DC=com"
        );
    }

    #[test]
    fn multi_valued_rdn_joined_by_plus() {
        let attrs = vec![
            text_in("DC", "com", 0),
            text_in("OU", "x", 1),
            text_in("O", "Acme", 1),
            text_in("CN", "y", 2),
        ];
        assert_eq!(format(&attrs), "CN=y,O=Acme+OU=x,DC=com");
    }

    #[test]
    fn escapes_as_rfc4514() {
        let cases = [
            ("a,b", "a\\,b"),
            ("a+b", "a\\+b"),
            ("say \"hi\"", "say \\\"hi\\\""),
            ("back\\slash", "back\\\\slash"),
            ("<tag>;", "\\<tag\\>\\;"),
            ("#first", "\\#first"),
            ("not#first", "not#first"),
            (" lead and trail ", "\\ lead and trail\\ "),
            ("tab\there", "tab\\09here"),
            ("Zürich €", "Zürich €"),
            ("a=b", "a=b"),
        ];
        for (raw, want) in cases {
            assert_eq!(format(&[text("CN", raw)]), format!("CN={want}"), "{raw:?}");
        }
    }

    #[test]
    fn dumps_non_text_values_in_hex() {
        let a = Attribute {
            name: "1.2.3.4".to_string(),
            value: Value::Dump(vec![0x0c, 0x02, 0x61, 0xff]),
            set: 0,
        };
        assert_eq!(format(&[a]), "1.2.3.4=#0C0261FF");
    }
}
