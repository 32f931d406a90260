//! Quoting a piece of an input inside an error message. Inputs come from outside and can be any length (a
//! pasted file, a 100 MB line), so a message quotes at most a bounded excerpt and says how long the whole was.
//! Escaping is not done here: the message is escaped once, where it is printed.

use std::borrow::Cow;

/// Inputs up to this many characters are quoted whole.
pub const WHOLE: usize = 64;
/// How many characters a longer input keeps before the `…`.
const KEPT: usize = 48;

/// `text` itself when it is short, else its first characters, `…` and its length in bytes.
pub fn excerpt(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(WHOLE) {
        None => Cow::Borrowed(text),
        Some(_) => {
            let cut = text
                .char_indices()
                .nth(KEPT)
                .map_or(text.len(), |(at, _)| at);
            Cow::Owned(format!("{}… ({} bytes)", &text[..cut], text.len()))
        }
    }
}

/// The same for bytes that may not be UTF-8: cut on a character boundary when there is one nearby.
pub fn excerpt_bytes(bytes: &[u8]) -> (&[u8], Option<usize>) {
    if bytes.len() <= WHOLE {
        return (bytes, None);
    }
    let mut cut = KEPT;
    // Step back over UTF-8 continuation bytes (at most 3) so a character is not split.
    while cut > KEPT - 3 && bytes[cut] & 0xc0 == 0x80 {
        cut -= 1;
    }
    (&bytes[..cut], Some(bytes.len()))
}

/// A character as an error message names it: `'g'` when it is visible ASCII, else its code point (`U+00A0`),
/// so that a no-break space or a NUL is not mistaken for something else.
pub fn char_name(c: char) -> String {
    if c.is_ascii_graphic() {
        format!("'{c}'")
    } else if c == ' ' {
        "a space".to_string()
    } else {
        format!("U+{:04X}", c as u32)
    }
}

/// C's `isspace` in the C locale: the only white space libcap, strtoul and capsh skip.
pub const fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `text` without the C white space around it (Unicode spaces such as U+00A0 stay, and are then rejected).
pub fn trim_c_space(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_ascii() && is_c_space(c as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_whole_and_long_text_is_cut() {
        assert_eq!(excerpt("cap_chown"), "cap_chown");
        let long = "x".repeat(1_000_000);
        let cut = excerpt(&long);
        assert_eq!(cut, format!("{}… (1000000 bytes)", "x".repeat(48)));
        let wide = "é".repeat(100);
        assert!(excerpt(&wide).starts_with(&"é".repeat(48)));
        assert_eq!(excerpt_bytes(b"abc"), (&b"abc"[..], None));
        let bytes = "é".repeat(100);
        let (kept, len) = excerpt_bytes(bytes.as_bytes());
        assert!(std::str::from_utf8(kept).is_ok());
        assert_eq!(len, Some(200));
    }

    #[test]
    fn characters_are_named_unambiguously() {
        assert_eq!(char_name('p'), "'p'");
        assert_eq!(char_name('\0'), "U+0000");
        assert_eq!(char_name('\u{a0}'), "U+00A0");
        assert_eq!(char_name(' '), "a space");
        assert_eq!(trim_c_space(" \t\x0b3f\r\n"), "3f");
        assert_eq!(trim_c_space("\u{a0}3f\u{3000}"), "\u{a0}3f\u{3000}");
    }
}
