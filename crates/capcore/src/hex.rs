//! Numbers as people paste them. Capability masks are always hex (`3fffffffff`, `0x3fffffffff`,
//! `0000003fffffffff` from /proc/PID/status, captest's two 32-bit words `000001FF, FEFFFFFF`), as `capsh
//! --decode` reads them. Every other number (a capability number, a securebits value) is read as C's
//! `strtoul(s, &end, 0)` reads it, which is what libcap's `cap_from_text` does: `0x` hex, a leading `0` octal,
//! otherwise decimal.
//!
//! capsh decodes garbage as 0 and saturates overflow without a word. Here every rejection says which
//! character is wrong, counted from 1 in the input as given. Only C's white space (`isspace`) around a value
//! is skipped; a Unicode space such as U+00A0 is a wrong character like any other.

use std::fmt;

use crate::quote::{char_name, excerpt, is_c_space};
use crate::set::CapSet;

/// How many hex digits captest prints for each 32-bit word.
const CAPTEST_DIGITS: usize = 8;

/// Why a string is not a hex mask, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HexError {
    Empty,
    /// A character that is not a hex digit, at a 1-based column.
    InvalidDigit {
        found: char,
        column: usize,
    },
    /// More than 64 bits of value; `column` is the first digit that does not fit.
    TooWide {
        column: usize,
    },
    /// A word of captest's form that is not 8 hex digits.
    CaptestWord {
        column: usize,
        digits: usize,
    },
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HexError::Empty => write!(f, "empty hex mask"),
            HexError::InvalidDigit { found, column } => {
                write!(f, "{} at column {column} is not a hex digit", char_name(*found))
            }
            HexError::TooWide { column } => write!(
                f,
                "wider than 64 bits: the digit at column {column} does not fit in a capability mask"
            ),
            HexError::CaptestWord { column, digits } => write!(
                f,
                "the word at column {column} has {digits} hex digits: captest's form is two words of \
                 {CAPTEST_DIGITS} (000001FF, FEFFFFFF)"
            ),
        }
    }
}

impl std::error::Error for HexError {}

/// Parses a hex mask in any of the accepted forms.
pub fn parse_mask(input: &str) -> Result<CapSet, HexError> {
    let chars: Vec<char> = input.chars().collect();
    let (start, end) = trim_span(&chars, 0, chars.len());
    if start == end {
        return Err(HexError::Empty);
    }
    if let Some(comma) = chars[start..end].iter().position(|&c| c == ',') {
        let comma = start + comma;
        let (high_start, high_end) = trim_span(&chars, start, comma);
        let (low_start, low_end) = trim_span(&chars, comma + 1, end);
        let words = [(high_start, high_end), (low_start, low_end)];
        // Every character is checked before the word lengths, so a stray one is named first.
        if let Some(i) = words
            .iter()
            .flat_map(|&(start, end)| start..end)
            .find(|&i| !chars[i].is_ascii_hexdigit())
        {
            return Err(HexError::InvalidDigit {
                found: chars[i],
                column: i + 1,
            });
        }
        if let Some(&(start, end)) = words
            .iter()
            .find(|(start, end)| end - start != CAPTEST_DIGITS)
        {
            return Err(HexError::CaptestWord {
                column: start + 1,
                digits: end - start,
            });
        }
        let high = parse_digits(&chars, high_start, high_end, 32, false)?;
        let low = parse_digits(&chars, low_start, low_end, 32, false)?;
        return Ok(CapSet::from_bits(high << 32 | low));
    }
    parse_digits(&chars, start, end, 64, true).map(CapSet::from_bits)
}

/// Parses `chars[start..end]`, hex digits after an optional `0x` (when `prefix` allows it), into a value of
/// at most `bits` bits.
fn parse_digits(
    chars: &[char],
    start: usize,
    end: usize,
    bits: u32,
    prefix: bool,
) -> Result<u64, HexError> {
    let mut first = start;
    if prefix && end - start >= 2 && chars[start] == '0' && matches!(chars[start + 1], 'x' | 'X') {
        first += 2;
    }
    if first == end {
        return Err(HexError::Empty);
    }
    let max_digits = (bits / 4) as usize;
    let mut value: u64 = 0;
    let mut significant = 0usize;
    let mut first_significant = first;
    for (i, &c) in chars.iter().enumerate().take(end).skip(first) {
        let digit = c.to_digit(16).ok_or(HexError::InvalidDigit {
            found: c,
            column: i + 1,
        })?;
        if significant == 0 && digit == 0 {
            continue;
        }
        if significant == 0 {
            first_significant = i;
        }
        significant += 1;
        if significant <= max_digits {
            value = value << 4 | u64::from(digit);
        }
    }
    if significant > max_digits {
        // Checked after the loop so that a stray character is named before the width.
        return Err(HexError::TooWide {
            column: first_significant + 1,
        });
    }
    Ok(value)
}

fn is_space(c: char) -> bool {
    c.is_ascii() && is_c_space(c as u8)
}

fn trim_span(chars: &[char], mut start: usize, mut end: usize) -> (usize, usize) {
    while start < end && is_space(chars[start]) {
        start += 1;
    }
    while end > start && is_space(chars[end - 1]) {
        end -= 1;
    }
    (start, end)
}

/// Why a string is not a number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NumberError {
    /// Not the whole of the text is a number in C's rules.
    NotANumber(String),
    /// More than 64 bits.
    TooLarge(String),
}

impl fmt::Display for NumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumberError::NotANumber(text) => write!(
                f,
                "'{}' is not a number (decimal, 0x hex, or octal with a leading 0, as C's strtoul reads it)",
                excerpt(text)
            ),
            NumberError::TooLarge(text) => write!(f, "{} is larger than 64 bits", excerpt(text)),
        }
    }
}

impl std::error::Error for NumberError {}

/// How `strtoul(s, &end, 0)` reads the number at the start of `bytes`, which starts with a digit: the radix,
/// where the digits start (after `0x`) and where they end. `0x` counts as a prefix only before a hex digit
/// (`0x` alone is the number 0 followed by `x`), and a leading `0` makes the number octal (`08` is 0, then `8`).
pub fn c_number_span(bytes: &[u8]) -> (u32, usize, usize) {
    let hex = bytes.len() > 2
        && bytes[0] == b'0'
        && matches!(bytes[1], b'x' | b'X')
        && bytes[2].is_ascii_hexdigit();
    let (radix, skip) = match bytes.first() {
        _ if hex => (16, 2),
        Some(b'0') => (8, 0),
        _ => (10, 0),
    };
    let digits = bytes[skip..]
        .iter()
        .take_while(|b| char::from(**b).is_digit(radix))
        .count();
    (radix, skip, skip + digits)
}

/// Parses the whole of `text` (no sign, no white space) as `strtoul(text, &end, 0)` would, requiring `end` to
/// reach the end.
pub fn parse_c_number(text: &str) -> Result<u64, NumberError> {
    let bytes = text.as_bytes();
    if !bytes.first().is_some_and(u8::is_ascii_digit) {
        return Err(NumberError::NotANumber(text.to_string()));
    }
    let (radix, start, end) = c_number_span(bytes);
    if end != bytes.len() {
        return Err(NumberError::NotANumber(text.to_string()));
    }
    u64::from_str_radix(&text[start..end], radix)
        .map_err(|_| NumberError::TooLarge(text.to_string()))
}

/// Parses a byte string written in hex, as `getfattr -e hex` prints a value (`0x01000002…`): an optional
/// `0x`, then pairs of digits, with white space allowed between pairs. An empty string (or a bare `0x`) is the
/// empty value, which is meaningful for xattrs.
pub fn parse_bytes(input: &str) -> Result<Vec<u8>, BytesError> {
    let chars: Vec<char> = input.chars().collect();
    let (mut start, end) = trim_span(&chars, 0, chars.len());
    if end - start >= 2 && chars[start] == '0' && matches!(chars[start + 1], 'x' | 'X') {
        start += 2;
    }
    let mut bytes = Vec::with_capacity((end - start) / 2);
    let mut high: Option<(u8, usize)> = None;
    for (i, &c) in chars.iter().enumerate().take(end).skip(start) {
        if is_space(c) {
            if let Some((_, column)) = high {
                return Err(BytesError::OddDigits { column });
            }
            continue;
        }
        let digit = c.to_digit(16).ok_or(BytesError::InvalidDigit {
            found: c,
            column: i + 1,
        })? as u8;
        match high.take() {
            Some((h, _)) => bytes.push(h << 4 | digit),
            None => high = Some((digit, i + 1)),
        }
    }
    match high {
        Some((_, column)) => Err(BytesError::OddDigits { column }),
        None => Ok(bytes),
    }
}

/// Why a string is not hex bytes, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BytesError {
    InvalidDigit {
        found: char,
        column: usize,
    },
    /// A digit at this column has no partner: bytes are written as pairs.
    OddDigits {
        column: usize,
    },
}

impl fmt::Display for BytesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BytesError::InvalidDigit { found, column } => {
                write!(f, "{} at column {column} is not a hex digit", char_name(*found))
            }
            BytesError::OddDigits { column } => write!(
                f,
                "the digit at column {column} has no partner: bytes are written as pairs of hex digits"
            ),
        }
    }
}

impl std::error::Error for BytesError {}

/// The captest form of a mask: two upper-case 32-bit words, high first (`000001FF, FEFFFFFF`).
pub fn captest_words(set: CapSet) -> String {
    format!("{:08X}, {:08X}", set.bits() >> 32, set.bits() & 0xffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(input: &str) -> u64 {
        parse_mask(input)
            .map(CapSet::bits)
            .unwrap_or_else(|e| panic!("{input}: {e}"))
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(ok("3fffffffff"), 0x3f_ffff_ffff);
        assert_eq!(ok("0x3fffffffff"), 0x3f_ffff_ffff);
        assert_eq!(ok("0X3FFFFFFFFF"), 0x3f_ffff_ffff);
        assert_eq!(ok("0000003fffffffff"), 0x3f_ffff_ffff);
        assert_eq!(ok("000001FF, FEFFFFFF"), 0x1ff_feff_ffff);
        assert_eq!(ok("000001ff,feffffff"), 0x1ff_feff_ffff);
        assert_eq!(ok("  ffffffffffffffff "), u64::MAX);
        assert_eq!(ok("00000000000000000000ffffffffffffffff"), u64::MAX);
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("0x0"), 0);
    }

    #[test]
    fn rejections_point_at_the_character() {
        assert_eq!(parse_mask(""), Err(HexError::Empty));
        assert_eq!(parse_mask("   "), Err(HexError::Empty));
        assert_eq!(parse_mask("0x"), Err(HexError::Empty));
        assert_eq!(
            parse_mask("3ffg"),
            Err(HexError::InvalidDigit {
                found: 'g',
                column: 4
            })
        );
        assert_eq!(
            parse_mask(" 0x-1"),
            Err(HexError::InvalidDigit {
                found: '-',
                column: 4
            })
        );
        assert_eq!(
            parse_mask("1ffffffffffffffff"),
            Err(HexError::TooWide { column: 1 })
        );
        assert_eq!(
            parse_mask("0x01ffffffffffffffff"),
            Err(HexError::TooWide { column: 4 })
        );
        assert_eq!(
            parse_mask("1FFFFFFFF, 00000000"),
            Err(HexError::CaptestWord {
                column: 1,
                digits: 9
            })
        );
        // A comma list of short numbers is not captest's form: "13,21" is not read as two words.
        assert_eq!(
            parse_mask("13,21"),
            Err(HexError::CaptestWord {
                column: 1,
                digits: 2
            })
        );
        assert_eq!(
            parse_mask("1,2,3"),
            Err(HexError::InvalidDigit {
                found: ',',
                column: 4
            })
        );
        assert!(matches!(
            parse_mask("00000001,"),
            Err(HexError::CaptestWord { digits: 0, .. })
        ));
    }

    #[test]
    fn only_c_white_space_is_skipped() {
        assert_eq!(ok(" \t3f\n"), 0x3f);
        for spaced in ["\u{a0}3f", "3f\u{3000}", "\u{85}3f", "3f\u{2028}"] {
            assert!(
                matches!(parse_mask(spaced), Err(HexError::InvalidDigit { .. })),
                "{spaced:?}"
            );
        }
        let err = parse_mask("3f\u{a0}").unwrap_err().to_string();
        assert_eq!(err, "U+00A0 at column 3 is not a hex digit");
        let err = parse_mask("3f\0").unwrap_err().to_string();
        assert_eq!(err, "U+0000 at column 3 is not a hex digit");
    }

    #[test]
    fn numbers_as_strtoul_reads_them() {
        for (text, value) in [
            ("0", 0),
            ("13", 13),
            ("015", 13),
            ("0x0d", 13),
            ("0XD", 13),
            ("00", 0),
            ("18446744073709551615", u64::MAX),
        ] {
            assert_eq!(parse_c_number(text), Ok(value), "{text}");
        }
        for bad in [
            "", "0x", "08", "0b11", "0o17", "+1", "-1", " 1", "1 ", "1e3", "0x1g",
        ] {
            assert!(
                matches!(parse_c_number(bad), Err(NumberError::NotANumber(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_c_number("18446744073709551616"),
            Err(NumberError::TooLarge(_))
        ));
    }

    #[test]
    fn bytes_as_getfattr_prints_them() {
        assert_eq!(
            parse_bytes("0x0100000200200000"),
            Ok(vec![1, 0, 0, 2, 0, 0x20, 0, 0])
        );
        assert_eq!(
            parse_bytes("01000002 00002000"),
            Ok(vec![1, 0, 0, 2, 0, 0, 0x20, 0])
        );
        assert_eq!(parse_bytes(""), Ok(vec![]));
        assert_eq!(parse_bytes("0x"), Ok(vec![]));
        assert_eq!(
            parse_bytes("0x010"),
            Err(BytesError::OddDigits { column: 5 })
        );
        assert_eq!(parse_bytes("0 1"), Err(BytesError::OddDigits { column: 1 }));
        assert_eq!(
            parse_bytes("01zz"),
            Err(BytesError::InvalidDigit {
                found: 'z',
                column: 3
            })
        );
    }

    proptest! {
        #[test]
        fn bytes_round_trip(bytes: Vec<u8>) {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            prop_assert_eq!(parse_bytes(&format!("0x{hex}")), Ok(bytes));
        }

        #[test]
        fn round_trips_every_u64(bits: u64) {
            let set = CapSet::from_bits(bits);
            prop_assert_eq!(parse_mask(&set.hex()), Ok(set));
            prop_assert_eq!(parse_mask(&format!("{bits:#x}")), Ok(set));
            prop_assert_eq!(parse_mask(&captest_words(set)), Ok(set));
        }

        #[test]
        fn never_panics(input in "\\PC*") {
            let _ = parse_mask(&input);
        }
    }
}
