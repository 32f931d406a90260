//! libcap's text form of a capability state, both ways: what `cap_from_text` accepts and what `cap_to_text`
//! prints (and so what getcap, getpcaps and `capsh --print` show).
//!
//! The grammar and the printing algorithm are in §9 of `shared/spec/execve-capabilities.md`. Both depend on how
//! many capabilities the running kernel knows (`known_bits`, 41 on Linux 6.18): `all`, and a clause without a
//! list, mean bits `0..known_bits`, and the printer treats higher bits as "unnamed" and lists them last.

use std::fmt;

use serde::Serialize;

use crate::cap::{Cap, CAP_BITS};
use crate::hex::c_number_span;
use crate::quote::{char_name, excerpt, is_c_space};
use crate::set::CapSet;

/// The effective, inheritable and permitted sets together: what one libcap text describes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct CapState {
    pub effective: CapSet,
    pub inheritable: CapSet,
    pub permitted: CapSet,
}

/// libcap's flag bits, which order the clauses that `cap_to_text` prints.
const EFF: u8 = 1;
const PER: u8 = 2;
const INH: u8 = 4;

/// Why a text is not something `cap_from_text` accepts, and where (a 1-based column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextError {
    pub column: usize,
    pub kind: TextErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextErrorKind {
    UnknownName(String),
    NumberTooLarge(String),
    ExpectedCapAfterComma,
    ListRequired(char),
    ExpectedOperator(Option<char>),
    BadFlag(char),
    MissingFlags(char),
    /// A NUL byte, where C's string (and so libcap's reading) ends: what follows would be silently ignored.
    Nul,
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let column = self.column;
        match &self.kind {
            TextErrorKind::UnknownName(name) => {
                write!(f, "unknown capability name '{}' at column {column}", excerpt(name))?;
                if Cap::from_libcap_name(&format!("cap_{name}")).is_some() {
                    write!(f, " (libcap text needs the full name: cap_{})", name.to_ascii_lowercase())?;
                }
                Ok(())
            }
            TextErrorKind::NumberTooLarge(number) => {
                write!(f, "capability number {} at column {column} is not below 64", excerpt(number))
            }
            TextErrorKind::ExpectedCapAfterComma => {
                write!(f, "expected a capability after ',' at column {column}")
            }
            TextErrorKind::ListRequired(op) => write!(
                f,
                "'{op}' at column {column} needs a list of capabilities before it (only '=' may stand alone)"
            ),
            TextErrorKind::ExpectedOperator(Some(c)) => {
                write!(f, "expected '=', '+' or '-' at column {column}, found {}", char_name(*c))
            }
            TextErrorKind::ExpectedOperator(None) => {
                write!(f, "expected '=', '+' or '-' at column {column}, found the end")
            }
            TextErrorKind::BadFlag(c) => write!(
                f,
                "{} at column {column} is not a flag (e, i or p, lower case)",
                char_name(*c)
            ),
            TextErrorKind::MissingFlags(op) => {
                write!(f, "'{op}' at column {column} needs flags (e, i, p) after it")
            }
            TextErrorKind::Nul => write!(
                f,
                "a NUL byte at column {column}: libcap would stop reading there and ignore the rest"
            ),
        }
    }
}

impl std::error::Error for TextError {}

/// The operation a clause applies: libcap's `=`, `=+` (the same, but flags are required), `+`, `-`, and
/// `=-` (which clears the listed capabilities, then lowers the flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Assign,
    AssignRaise,
    Raise,
    Lower,
    AssignThenLower,
}

impl CapState {
    pub const EMPTY: CapState = CapState {
        effective: CapSet::EMPTY,
        inheritable: CapSet::EMPTY,
        permitted: CapSet::EMPTY,
    };

    /// Parses libcap text exactly as `cap_from_text` does on a kernel that knows `known_bits` capabilities.
    /// The empty text (or only white space) is the empty state, as for libcap. The one difference: a NUL byte,
    /// which ends a C string, is rejected rather than read as the end.
    pub fn from_text(text: &str, known_bits: u32) -> Result<CapState, TextError> {
        if let Some(at) = text.find('\0') {
            return Err(TextError {
                column: text[..at].chars().count() + 1,
                kind: TextErrorKind::Nul,
            });
        }
        Parser {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            all: CapSet::first_n(known_bits),
            state: CapState::EMPTY,
        }
        .parse()
    }

    /// Prints the state as `cap_to_text` does on a kernel that knows `known_bits` capabilities.
    pub fn to_text(&self, known_bits: u32) -> String {
        let named = known_bits.min(CAP_BITS);
        let mut histogram = [0u32; 8];
        for bit in 0..named {
            histogram[usize::from(self.flags_of(bit))] += 1;
        }
        // The most common combination becomes the leading "=flags"; ties go to fewer flags, so an empty
        // state prints "=" rather than listing every capability.
        let mut common = 7u8;
        for t in (0..7u8).rev() {
            if histogram[usize::from(t)] >= histogram[usize::from(common)] {
                common = t;
            }
        }
        let mut clauses = Vec::new();
        for t in (0..8u8).rev() {
            if t == common || histogram[usize::from(t)] == 0 {
                continue;
            }
            let names = self.names_with_flags(t, 0..named);
            let mut clause = names;
            let raised = t & !common;
            let lowered = common & !t;
            if raised != 0 {
                clause.push('+');
                clause.push_str(&letters(raised));
            }
            if lowered != 0 {
                clause.push('-');
                clause.push_str(&letters(lowered));
            }
            clauses.push(clause);
        }
        let mut out = format!("={}", letters(common));
        for (i, clause) in clauses.iter().enumerate() {
            // libcap prints a state whose common case is "nothing" as "cap_x=ep" rather than "= cap_x+ep".
            if i == 0 && common == 0 {
                out = clause.replacen('+', "=", 1);
            } else {
                out.push(' ');
                out.push_str(clause);
            }
        }
        for t in (1..8u8).rev() {
            let names = self.names_with_flags(t, named..CAP_BITS);
            if !names.is_empty() {
                out.push(' ');
                out.push_str(&names);
                out.push('+');
                out.push_str(&letters(t));
            }
        }
        out
    }

    fn flags_of(&self, bit: u32) -> u8 {
        let Some(cap) = Cap::new(bit) else { return 0 };
        let mut t = 0;
        if self.effective.contains(cap) {
            t |= EFF;
        }
        if self.permitted.contains(cap) {
            t |= PER;
        }
        if self.inheritable.contains(cap) {
            t |= INH;
        }
        t
    }

    fn names_with_flags(&self, t: u8, bits: std::ops::Range<u32>) -> String {
        let mut names = String::new();
        for bit in bits.filter(|&bit| self.flags_of(bit) == t) {
            if !names.is_empty() {
                names.push(',');
            }
            if let Some(cap) = Cap::new(bit) {
                names.push_str(&cap.to_string());
            }
        }
        names
    }

    fn apply(&mut self, op: Op, list: CapSet, flags: u8) {
        if matches!(op, Op::Assign | Op::AssignRaise | Op::AssignThenLower) {
            self.effective = self.effective - list;
            self.permitted = self.permitted - list;
            self.inheritable = self.inheritable - list;
        }
        let raise = matches!(op, Op::Assign | Op::AssignRaise | Op::Raise);
        for (flag, set) in [
            (EFF, &mut self.effective),
            (PER, &mut self.permitted),
            (INH, &mut self.inheritable),
        ] {
            if flags & flag != 0 {
                *set = if raise { *set | list } else { *set - list };
            }
        }
    }
}

fn letters(t: u8) -> String {
    let mut s = String::new();
    if t & EFF != 0 {
        s.push('e');
    }
    if t & INH != 0 {
        s.push('i');
    }
    if t & PER != 0 {
        s.push('p');
    }
    s
}

/// C's `isspace` in the C locale, which is what libcap uses between clauses; no Unicode space is one.
fn is_space(b: u8) -> bool {
    is_c_space(b)
}

fn starts_list(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// One element of a capability list.
enum Listed {
    All,
    One(Cap),
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    all: CapSet,
    state: CapState,
}

impl Parser<'_> {
    fn parse(mut self) -> Result<CapState, TextError> {
        loop {
            while self.peek().is_some_and(is_space) {
                self.pos += 1;
            }
            if self.peek().is_none() {
                return Ok(self.state);
            }
            self.clause()?;
        }
    }

    /// One clause: an optional list, a first operation, then flags and further `+`/`-` operations up to a space.
    fn clause(&mut self) -> Result<(), TextError> {
        let (list, listed) = match self.peek() {
            Some(b) if starts_list(b) => (self.cap_list()?, true),
            Some(b @ (b'+' | b'-')) => {
                return Err(self.error(TextErrorKind::ListRequired(char::from(b))))
            }
            _ => (self.all, false),
        };
        let op_pos = self.pos;
        let (mut op, mut op_char) = match self.bump() {
            Some(b'=') => match self.peek() {
                Some(b @ (b'+' | b'-')) if !listed => {
                    return Err(self.error(TextErrorKind::ListRequired(char::from(b))))
                }
                Some(b'+') => (Op::AssignRaise, self.advance('+')),
                Some(b'-') => (Op::AssignThenLower, self.advance('-')),
                _ => (Op::Assign, '='),
            },
            Some(b'+') => (Op::Raise, '+'),
            Some(b'-') => (Op::Lower, '-'),
            _ => {
                self.pos = op_pos;
                return Err(self.error(TextErrorKind::ExpectedOperator(self.peek_char())));
            }
        };
        // Where the operator that needs flags is, for the error when they are missing.
        let mut op_at = self.pos - 1;
        let mut flags = 0u8;
        loop {
            match self.peek() {
                Some(b) if !is_space(b) => {
                    flags |= self.flag(b)?;
                    self.pos += 1;
                }
                // Only a bare '=' may have no flags: "cap_x=" clears cap_x.
                _ if op != Op::Assign => {
                    return Err(self.error_at(op_at, TextErrorKind::MissingFlags(op_char)))
                }
                _ => {}
            }
            self.state.apply(op, list, flags);
            if let Some(b @ (b'+' | b'-')) = self.peek() {
                if !listed {
                    return Err(self.error(TextErrorKind::ListRequired(char::from(b))));
                }
                op_at = self.pos;
                op_char = self.advance(char::from(b));
                op = if b == b'+' { Op::Raise } else { Op::Lower };
                flags = 0;
                match self.peek() {
                    Some(b) if b.is_ascii_alphabetic() => {}
                    Some(b) if !is_space(b) => {
                        return Err(
                            self.error(TextErrorKind::BadFlag(self.peek_char().unwrap_or('?')))
                        )
                    }
                    _ => return Err(self.error_at(op_at, TextErrorKind::MissingFlags(op_char))),
                }
            }
            if self.peek().is_none_or(is_space) {
                return Ok(());
            }
        }
    }

    fn flag(&self, b: u8) -> Result<u8, TextError> {
        match b {
            b'e' => Ok(EFF),
            b'i' => Ok(INH),
            b'p' => Ok(PER),
            _ => Err(self.error(TextErrorKind::BadFlag(self.peek_char().unwrap_or('?')))),
        }
    }

    /// Steps over an ASCII character already peeked, and returns it.
    fn advance(&mut self, c: char) -> char {
        self.pos += 1;
        c
    }

    /// `cap(,cap)*` where cap is `all`, a name, or a number below 64. Like libcap's `forceall`, `all` replaces
    /// what the list gathered before it: `63,all` is the known capabilities, `all,63` those and bit 63.
    fn cap_list(&mut self) -> Result<CapSet, TextError> {
        let mut list = CapSet::EMPTY;
        loop {
            list = match self.one_cap()? {
                Listed::All => self.all,
                Listed::One(cap) => list.with(cap),
            };
            if self.peek() != Some(b',') {
                return Ok(list);
            }
            self.pos += 1;
            if !self.peek().is_some_and(starts_list) {
                return Err(self.error(TextErrorKind::ExpectedCapAfterComma));
            }
        }
    }

    fn one_cap(&mut self) -> Result<Listed, TextError> {
        let start = self.pos;
        if self.bytes[start].is_ascii_digit() {
            return self.number(start);
        }
        let len = self.bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphabetic() || **b == b'_')
            .count();
        let word = &self.text[start..start + len];
        // "all" is matched only as a whole word; "allx" is looked up (and fails) as a name.
        let whole_word = !self
            .bytes
            .get(start + len)
            .copied()
            .is_some_and(starts_list);
        if word.eq_ignore_ascii_case("all") && whole_word {
            self.pos += len;
            return Ok(Listed::All);
        }
        match Cap::from_libcap_name(word) {
            Some(cap) if len > 0 => {
                self.pos += len;
                Ok(Listed::One(cap))
            }
            _ => Err(self.error(TextErrorKind::UnknownName(word.to_string()))),
        }
    }

    /// A number as C's `strtoul(s, &end, 0)` reads it: `0x` hex, leading-zero octal, or decimal.
    fn number(&mut self, start: usize) -> Result<Listed, TextError> {
        let (radix, digits, end) = c_number_span(&self.bytes[start..]);
        let (digits, end) = (start + digits, start + end);
        let number = &self.text[start..end];
        let value = u64::from_str_radix(&self.text[digits..end], radix).unwrap_or(u64::MAX);
        match u32::try_from(value).ok().and_then(Cap::new) {
            Some(cap) => {
                self.pos = end;
                Ok(Listed::One(cap))
            }
            None => Err(self.error(TextErrorKind::NumberTooLarge(number.to_string()))),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_char(&self) -> Option<char> {
        self.text
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn error(&self, kind: TextErrorKind) -> TextError {
        self.error_at(self.pos, kind)
    }

    /// An error at byte `pos`, reported as a 1-based column in characters.
    fn error_at(&self, pos: usize, kind: TextErrorKind) -> TextError {
        let column = self.text.get(..pos).map_or(pos, |s| s.chars().count()) + 1;
        TextError { column, kind }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KNOWN: u32 = 41;

    fn canon(text: &str) -> String {
        CapState::from_text(text, KNOWN)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .to_text(KNOWN)
    }

    fn set(bits: u64) -> CapSet {
        CapSet::from_bits(bits)
    }

    #[test]
    fn spec_examples_parse_and_print() {
        assert_eq!(canon(""), "=");
        assert_eq!(canon("all+ep"), "=ep");
        assert_eq!(canon("cap_net_raw=-e"), "=");
        assert_eq!(canon("cap_net_raw+ep-e"), "cap_net_raw=p");
        assert_eq!(canon("Cap_Net_Raw+ep"), "cap_net_raw=ep");
        assert_eq!(canon("63+p"), "= 63+p");
        assert_eq!(canon("015+e"), "cap_net_raw=e");
        assert_eq!(canon("0x0d+e"), "cap_net_raw=e");
        assert_eq!(canon("=ep cap_sys_resource-ep"), "=ep cap_sys_resource-ep");
        assert_eq!(
            canon("cap_net_raw=p cap_chown=e cap_kill=ep"),
            "cap_kill=ep cap_net_raw+p cap_chown+e"
        );
        assert_eq!(canon("cap_net_raw=ep 41+ep"), "cap_net_raw=ep 41+ep");
        assert_eq!(canon("ALL=eip"), "=eip");
        assert_eq!(canon("cap_chown=+e"), "cap_chown=e");
        assert_eq!(canon("cap_chown=ep cap_chown=-p"), "=");
        assert_eq!(
            canon("  cap_chown+e \t cap_kill+i  "),
            "cap_kill=i cap_chown+e"
        );
    }

    #[test]
    fn spec_rejections() {
        for bad in [
            "=e+p",
            "cap_net_raw=e i",
            "cap_net_raw+EP",
            "cap_41+p",
            "64+p",
            "cap_x+",
            "cap_net_raw+",
            "a,,b=e",
            "cap_chown,=e",
            "+e",
            "-e",
            "=+e",
            "cap_chown",
            "cap_chown=e=p",
            "cap_chown+e-",
            "cap_chown ep",
            "allx=e",
            "0x=e",
            "08=e",
            "cap_net_raw2+e",
            "net_raw+ep",
            "cap_chown=é",
        ] {
            assert!(
                CapState::from_text(bad, KNOWN).is_err(),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn all_replaces_the_list_before_it() {
        // libcap's forceall sets the list to the known bits: what came before `all` is dropped.
        assert_eq!(canon("63,all+p"), "=p");
        assert_eq!(canon("all,63+p"), "=p 63+p");
        assert_eq!(canon("63,ALL,62+p"), "=p 62+p");
        assert_eq!(canon("cap_chown,all=e"), "=e");
    }

    #[test]
    fn only_c_white_space_separates_and_surrounds() {
        assert_eq!(canon(""), "=");
        assert_eq!(canon(" \t\n\x0b\x0c\r"), "=");
        assert_eq!(canon("\x0bcap_chown+e\x0c"), "cap_chown=e");
        for bad in [
            "\u{a0}cap_chown+e",
            "cap_chown+e\u{a0}",
            "cap_chown+e\u{3000}",
            "\u{85}cap_chown+e",
            "cap_chown+e\u{2028}cap_kill+e",
            "cap_chown+e\0",
        ] {
            assert!(CapState::from_text(bad, KNOWN).is_err(), "{bad:?}");
        }
        let err = CapState::from_text("cap_chown+e\0junk", KNOWN).unwrap_err();
        assert_eq!((err.column, err.kind), (12, TextErrorKind::Nul));
        let err = CapState::from_text("cap_chown+\u{a0}", KNOWN).unwrap_err();
        assert_eq!(
            err.to_string(),
            "U+00A0 at column 11 is not a flag (e, i or p, lower case)"
        );
    }

    #[test]
    fn errors_quote_a_bounded_excerpt() {
        let long = format!("cap_{}+e", "x".repeat(1_000_000));
        let err = CapState::from_text(&long, KNOWN).unwrap_err().to_string();
        assert!(err.len() < 200, "{err}");
        assert!(err.contains("… (1000004 bytes)"), "{err}");
    }

    #[test]
    fn errors_name_the_column() {
        let err = CapState::from_text("cap_chown+x", KNOWN).unwrap_err();
        assert_eq!(err.column, 11);
        assert_eq!(err.kind, TextErrorKind::BadFlag('x'));
        let err = CapState::from_text("net_raw+ep", KNOWN).unwrap_err();
        assert!(err.to_string().contains("cap_net_raw"), "{err}");
        let err = CapState::from_text("=e+p", KNOWN).unwrap_err();
        assert_eq!(err.kind, TextErrorKind::ListRequired('+'));
    }

    #[test]
    fn all_means_the_known_bits() {
        let state = CapState::from_text("=p", 38).unwrap();
        assert_eq!(state.permitted, CapSet::first_n(38));
        assert_eq!(state.to_text(38), "=p");
        assert_eq!(
            state.to_text(41),
            "=p cap_perfmon,cap_bpf,cap_checkpoint_restore-p"
        );
    }

    #[test]
    fn spec_printing_examples() {
        // 20 bits p, 20 bits e, one with nothing.
        let p = set((1 << 20) - 1);
        let e = set(((1 << 40) - 1) & !p.bits());
        let state = CapState {
            effective: e,
            permitted: p,
            inheritable: CapSet::EMPTY,
        };
        let names: Vec<String> = p.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            state.to_text(KNOWN),
            format!("=e {}+p-e cap_checkpoint_restore-e", names.join(","))
        );
        // Bits 0-19 permitted: a list, because "nothing" is still the most common state.
        let state = CapState {
            permitted: p,
            ..CapState::EMPTY
        };
        assert_eq!(state.to_text(KNOWN), format!("{}=p", names.join(",")));
        let only_41 = CapState {
            effective: set(1 << 41),
            permitted: set(1 << 41),
            ..CapState::EMPTY
        };
        assert_eq!(only_41.to_text(KNOWN), "= 41+ep");
    }

    fn any_state() -> impl Strategy<Value = CapState> {
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(e, i, p)| CapState {
            effective: set(e),
            inheritable: set(i),
            permitted: set(p),
        })
    }

    proptest! {
        #[test]
        fn print_then_parse_is_identity(state in any_state()) {
            let text = state.to_text(KNOWN);
            prop_assert_eq!(CapState::from_text(&text, KNOWN), Ok(state), "{}", text);
        }

        #[test]
        fn parse_never_panics(text in "[ =+,\\-eipalcx_0-9A-Za-z]{0,40}") {
            let _ = CapState::from_text(&text, KNOWN);
        }

        #[test]
        fn parse_never_panics_on_any_string(text in "\\PC*") {
            let _ = CapState::from_text(&text, KNOWN);
        }
    }
}
