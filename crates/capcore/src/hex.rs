//! Hex capability masks as people paste them: `3fffffffff`, `0x3fffffffff`, `0000003fffffffff` from
//! /proc/PID/status, and captest's two 32-bit words `000001FF, FEFFFFFF`.
//!
//! capsh decodes garbage as 0 and saturates overflow without a word. Here every rejection says which
//! character is wrong, counted from 1 in the input as given.

use std::fmt;

use crate::set::CapSet;

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
    /// A captest word with more than 32 bits.
    WordTooWide {
        column: usize,
    },
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HexError::Empty => write!(f, "empty hex mask"),
            HexError::InvalidDigit { found, column } => {
                write!(f, "{found:?} at column {column} is not a hex digit")
            }
            HexError::TooWide { column } => write!(
                f,
                "wider than 64 bits: the digit at column {column} does not fit in a capability mask"
            ),
            HexError::WordTooWide { column } => write!(
                f,
                "wider than 32 bits: the digit at column {column} does not fit in a captest word"
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
        let high = parse_word(&chars, start, comma)?;
        let low = parse_word(&chars, comma + 1, end)?;
        return Ok(CapSet::from_bits(high << 32 | low));
    }
    parse_digits(&chars, start, end, 64).map(CapSet::from_bits)
}

/// Parses one of captest's 32-bit words between `start` and `end`, ignoring surrounding spaces.
fn parse_word(chars: &[char], start: usize, end: usize) -> Result<u64, HexError> {
    let (start, end) = trim_span(chars, start, end);
    parse_digits(chars, start, end, 32).map_err(|err| match err {
        HexError::TooWide { column } => HexError::WordTooWide { column },
        other => other,
    })
}

/// Parses `chars[start..end]`, an optional `0x` and then hex digits, into a value of at most `bits` bits.
fn parse_digits(chars: &[char], start: usize, end: usize, bits: u32) -> Result<u64, HexError> {
    let mut first = start;
    if end - start >= 2 && chars[start] == '0' && matches!(chars[start + 1], 'x' | 'X') {
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
        value = value << 4 | u64::from(digit);
    }
    if significant > max_digits {
        // Checked after the loop so that a stray character is named before the width.
        return Err(HexError::TooWide {
            column: first_significant + 1,
        });
    }
    Ok(value)
}

fn trim_span(chars: &[char], mut start: usize, mut end: usize) -> (usize, usize) {
    while start < end && chars[start].is_whitespace() {
        start += 1;
    }
    while end > start && chars[end - 1].is_whitespace() {
        end -= 1;
    }
    (start, end)
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
        if c.is_whitespace() {
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
                write!(f, "{found:?} at column {column} is not a hex digit")
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
            parse_mask("1FFFFFFFF, 0"),
            Err(HexError::WordTooWide { column: 1 })
        );
        assert_eq!(
            parse_mask("1,2,3"),
            Err(HexError::InvalidDigit {
                found: ',',
                column: 4
            })
        );
        assert_eq!(parse_mask("1,"), Err(HexError::Empty));
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
