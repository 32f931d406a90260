//! Escaping of every string that comes from outside (process names, command lines, paths, input lines)
//! before it reaches a terminal, in one documented, lossless form:
//!
//! - printable characters pass through, except `\`, which is doubled;
//! - tab, newline and carriage return become `\t`, `\n`, `\r`;
//! - any other ASCII control byte (and DEL), and every byte that is not valid UTF-8, becomes `\xNN`;
//! - Unicode control and invisible formatting characters (C1 controls, bidirectional overrides, zero-width
//!   characters) become `\u{NNNN}`.
//!
//! Every escape starts with `\` and a literal `\` is `\\`, so the original bytes can always be recovered.
//! In JSON, text that is valid UTF-8 is a plain string, written with JSON's own escapes and `\uXXXX` for
//! DEL and these invisible characters (see `json`); bytes that are not UTF-8 are written as
//! `{"bytes": "<hex>"}`.

use std::fmt::Write;

use serde::{Serialize, Serializer};

/// Escapes a byte string for a terminal.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        escape_into(&mut out, chunk.valid());
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Escapes text for a terminal.
pub fn escape_str(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_invisible(c) => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Characters that move the cursor, reorder text or print as nothing: C1 controls, the soft hyphen,
/// zero-width and bidirectional formatting characters, line and paragraph separators, and the BOM.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x80..=0x9f | 0xad | 0x061c | 0x180e | 0x200b..=0x200f | 0x2028..=0x202e
        | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb)
}

/// Bytes from outside, serialised for JSON as a string when they are UTF-8 and as `{"bytes": "<hex>"}`
/// otherwise, so nothing is lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalBytes(pub Vec<u8>);

impl ExternalBytes {
    pub fn escaped(&self) -> String {
        escape_bytes(&self.0)
    }
}

impl From<&str> for ExternalBytes {
    fn from(s: &str) -> Self {
        ExternalBytes(s.as_bytes().to_vec())
    }
}

impl From<&std::ffi::OsStr> for ExternalBytes {
    fn from(s: &std::ffi::OsStr) -> Self {
        use std::os::unix::ffi::OsStrExt;
        ExternalBytes(s.as_bytes().to_vec())
    }
}

impl Serialize for ExternalBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => {
                use serde::ser::SerializeStruct;
                let hex: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
                let mut s = serializer.serialize_struct("ExternalBytes", 1)?;
                s.serialize_field("bytes", &hex)?;
                s.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Undoes `escape_bytes`, to prove nothing is lost.
    fn unescape(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\\' {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            match chars.next() {
                Some('\\') => out.push(b'\\'),
                Some('t') => out.push(b'\t'),
                Some('n') => out.push(b'\n'),
                Some('r') => out.push(b'\r'),
                Some('x') => {
                    let hex: String = chars.by_ref().take(2).collect();
                    out.push(u8::from_str_radix(&hex, 16).unwrap());
                }
                Some('u') => {
                    let hex: String = chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                    let c = char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap();
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                other => panic!("bad escape {other:?}"),
            }
        }
        out
    }

    #[test]
    fn hostile_names_are_escaped() {
        assert_eq!(escape_bytes(b"evil\x1b[31mred\n"), "evil\\x1b[31mred\\n");
        assert_eq!(escape_bytes(b"a\\b"), "a\\\\b");
        assert_eq!(escape_bytes(b"bad\xff\xfeutf8"), "bad\\xff\\xfeutf8");
        assert_eq!(escape_str("r\u{202e}txt.exe"), "r\\u{202e}txt.exe");
        assert_eq!(escape_str("caf\u{e9} \u{4e2d}"), "caf\u{e9} \u{4e2d}");
        assert_eq!(escape_str("\u{85}\u{7f}"), "\\u{0085}\\x7f");
    }

    #[test]
    fn escaping_is_lossless_and_clean() {
        let mut samples: Vec<Vec<u8>> = (0u8..=255).map(|b| vec![b, b'x', b]).collect();
        samples.push("\u{202e}\u{85}\\x41\\".as_bytes().to_vec());
        samples.push(b"\xe2\x80".to_vec());
        for sample in samples {
            let escaped = escape_bytes(&sample);
            assert_eq!(unescape(&escaped), sample, "{escaped}");
            assert!(!escaped.chars().any(|c| c.is_control()), "{escaped:?}");
        }
    }

    #[test]
    fn json_keeps_invalid_utf8_as_hex() {
        let text = serde_json::to_string(&ExternalBytes(b"ok\n".to_vec())).unwrap();
        assert_eq!(text, r#""ok\n""#);
        let bytes = serde_json::to_string(&ExternalBytes(b"a\xff".to_vec())).unwrap();
        assert_eq!(bytes, r#"{"bytes":"61ff"}"#);
    }
}
