//! NDJSON that is safe to look at. serde_json escapes only what JSON requires (`"`, `\` and C0 controls),
//! so DEL, C1 controls and bidirectional overrides from a process name or a path would reach a terminal
//! raw when someone runs `capls --json | less` or tails a log. Every capkit binary writes JSON through
//! this formatter, which writes those characters as `\uXXXX` escapes too: the document stays valid and
//! lossless, and nothing in it can move the cursor or reorder text.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::Formatter;

use crate::escape::is_invisible;

/// Writes `value` as one compact JSON document with every unsafe character escaped.
pub fn to_writer<W: Write, T: Serialize + ?Sized>(writer: W, value: &T) -> io::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(writer, SafeFormatter);
    value.serialize(&mut serializer).map_err(io::Error::from)
}

/// `value` as a compact JSON string with every unsafe character escaped.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> io::Result<String> {
    let mut out = Vec::new();
    to_writer(&mut out, value)?;
    String::from_utf8(out).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Does JSON need this character escaped to be safe on a terminal, beyond what serde_json escapes?
fn needs_escape(c: char) -> bool {
    c == '\u{7f}' || is_invisible(c)
}

/// serde_json's compact formatter, except that string fragments are split around unsafe characters.
struct SafeFormatter;

impl Formatter for SafeFormatter {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (at, c) in fragment.char_indices() {
            if needs_escape(c) {
                writer.write_all(&fragment.as_bytes()[start..at])?;
                // Every unsafe character is in the Basic Multilingual Plane: one \u escape, no surrogates.
                write!(writer, "\\u{:04x}", c as u32)?;
                start = at + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_characters_are_escaped_and_round_trip() {
        let hostile = "a\u{7f}b\u{85}c\u{9b}[31m\u{202e}txt\u{2066}\u{feff}\u{200b}\u{ad}é中\n\"\\";
        let json = to_string(&hostile).unwrap();
        assert_eq!(
            json,
            r#""a\u007fb\u0085c\u009b[31m\u202etxt\u2066\ufeff\u200b\u00adé中\n\"\\""#
        );
        let back: String = serde_json::from_str(&json).unwrap();
        assert_eq!(back, hostile);
    }

    #[test]
    fn every_unsafe_character_leaves_as_ascii() {
        for code in (0..0x110000u32).filter_map(char::from_u32) {
            let json = to_string(&code.to_string()).unwrap();
            if code.is_control() || needs_escape(code) {
                assert!(json.is_ascii(), "{code:?} -> {json}");
            }
            assert_eq!(
                serde_json::from_str::<String>(&json).unwrap(),
                code.to_string()
            );
        }
    }

    #[test]
    fn keys_are_escaped_too() {
        let mut map = std::collections::BTreeMap::new();
        map.insert("k\u{202e}", 1);
        assert_eq!(to_string(&map).unwrap(), r#"{"k\u202e":1}"#);
    }
}
