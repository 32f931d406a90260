//! Securebits: the six per-thread flags that change how uid 0 and set-uid transitions treat capabilities,
//! each with a lock bit that freezes it (include/uapi/linux/securebits.h, spec §2.2).

use std::fmt;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::hex::{parse_c_number, NumberError};
use crate::quote::{excerpt, trim_c_space};

/// One flag and its lock: the flag is bit `bit`, its lock bit `bit + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecureFlag {
    pub bit: u32,
    pub name: &'static str,
    pub lock_name: &'static str,
    /// What the flag does, in one line.
    pub effect: &'static str,
}

pub const FLAGS: [SecureFlag; 6] = [
    SecureFlag {
        bit: 0,
        name: "noroot",
        lock_name: "noroot_locked",
        effect: "uid 0 gets no capabilities at exec just for being root",
    },
    SecureFlag {
        bit: 2,
        name: "no_setuid_fixup",
        lock_name: "no_setuid_fixup_locked",
        effect: "changing uids to or from 0 does not adjust capabilities",
    },
    SecureFlag {
        bit: 4,
        name: "keep_caps",
        lock_name: "keep_caps_locked",
        effect: "keep permitted capabilities when all uids leave 0 (cleared by every exec)",
    },
    SecureFlag {
        bit: 6,
        name: "no_cap_ambient_raise",
        lock_name: "no_cap_ambient_raise_locked",
        effect: "ambient capabilities can no longer be raised",
    },
    SecureFlag {
        bit: 8,
        name: "exec_restrict_file",
        lock_name: "exec_restrict_file_locked",
        effect:
            "interpreters should run only files that pass execveat(AT_EXECVE_CHECK) (Linux 6.14+)",
    },
    SecureFlag {
        bit: 10,
        name: "exec_deny_interactive",
        lock_name: "exec_deny_interactive_locked",
        effect: "interpreters should refuse interactive commands (Linux 6.14+)",
    },
];

/// Every bit the kernel defines: the six flags and their locks.
pub const ALL_BITS: u32 = 0xfff;
/// The bit exec always clears.
pub const KEEP_CAPS: u32 = 0x010;

/// A securebits value with only known bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Securebits(u32);

/// A value with bits the kernel does not define, or a word that names no flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecurebitsError {
    UnknownBits(u64),
    UnknownName(String),
    BadNumber(NumberError),
}

impl fmt::Display for SecurebitsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecurebitsError::UnknownBits(bits) => write!(
                f,
                "{bits:#x} has bits outside the 12 securebits (0xfff): {:#x}",
                bits & !u64::from(ALL_BITS)
            ),
            SecurebitsError::UnknownName(name) => write!(
                f,
                "unknown securebit '{}' (known: noroot, no_setuid_fixup, keep_caps, \
                 no_cap_ambient_raise, exec_restrict_file, exec_deny_interactive, each also with _locked)",
                excerpt(name)
            ),
            SecurebitsError::BadNumber(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for SecurebitsError {}

impl Securebits {
    pub fn from_bits(bits: u64) -> Result<Securebits, SecurebitsError> {
        if bits & !u64::from(ALL_BITS) != 0 {
            return Err(SecurebitsError::UnknownBits(bits));
        }
        Ok(Securebits(bits as u32))
    }

    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Parses a number, read as every number but a mask is (C's strtoul, base 0: `47`, `0x2f`, `057`), or a
    /// comma list of flag names, in any case, with or without `secbit_` (`noroot,noroot_locked`).
    pub fn parse(input: &str) -> Result<Securebits, SecurebitsError> {
        let word = trim_c_space(input);
        if word.starts_with(|c: char| c.is_ascii_digit()) {
            return Securebits::from_bits(
                parse_c_number(word).map_err(SecurebitsError::BadNumber)?,
            );
        }
        word.split(',')
            .map(|name| bit_named(trim_c_space(name)))
            .try_fold(0u32, |acc, bit| Ok(acc | 1 << bit?))
            .map(Securebits)
    }

    pub const fn is_set(self, bit: u32) -> bool {
        self.0 & (1 << bit) != 0
    }

    /// The names of the bits that are set, lowest first.
    pub fn names(self) -> Vec<&'static str> {
        FLAGS
            .iter()
            .flat_map(|flag| [(flag.bit, flag.name), (flag.bit + 1, flag.lock_name)])
            .filter(|(bit, _)| self.is_set(*bit))
            .map(|(_, name)| name)
            .collect()
    }

    /// What exec leaves: every bit but keep_caps, even when keep_caps is locked.
    #[must_use]
    pub const fn after_exec(self) -> Securebits {
        Securebits(self.0 & !KEEP_CAPS)
    }

    /// The value as `0x` and three hex digits.
    pub fn hex(self) -> String {
        format!("{:#05x}", self.0)
    }
}

fn bit_named(name: &str) -> Result<u32, SecurebitsError> {
    let lower = name.to_ascii_lowercase();
    let bare = lower.strip_prefix("secbit_").unwrap_or(&lower);
    FLAGS
        .iter()
        .find_map(|flag| {
            if flag.name == bare {
                Some(flag.bit)
            } else if flag.lock_name == bare {
                Some(flag.bit + 1)
            } else {
                None
            }
        })
        .ok_or_else(|| SecurebitsError::UnknownName(name.to_string()))
}

impl fmt::Display for Securebits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.hex())?;
        let names = self.names();
        if !names.is_empty() {
            write!(f, " ({})", names.join(","))?;
        }
        Ok(())
    }
}

impl Serialize for Securebits {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Securebits", 3)?;
        s.serialize_field("value", &self.0)?;
        s.serialize_field("hex", &self.hex())?;
        s.serialize_field("bits", &self.names())?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_and_names() {
        assert_eq!(Securebits::parse("0x2f").map(Securebits::bits), Ok(0x2f));
        assert_eq!(Securebits::parse("47").map(Securebits::bits), Ok(0x2f));
        // One rule for every number but a mask: C's strtoul, base 0, as libcap text reads capability numbers.
        assert_eq!(Securebits::parse("010").map(Securebits::bits), Ok(8));
        assert_eq!(Securebits::parse("057").map(Securebits::bits), Ok(0x2f));
        assert_eq!(Securebits::parse("0X2F").map(Securebits::bits), Ok(0x2f));
        for bad in ["0b11", "0o17", "08", "0x", "-1", "\u{a0}1"] {
            assert!(Securebits::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Securebits::parse("NOROOT, secbit_noroot_locked,keep_caps").map(Securebits::bits),
            Ok(0x13)
        );
        assert_eq!(Securebits::parse("0xfff").map(|s| s.names().len()), Ok(12));
        assert!(matches!(
            Securebits::parse("0x1000"),
            Err(SecurebitsError::UnknownBits(_))
        ));
        assert!(matches!(
            Securebits::parse("0xzz"),
            Err(SecurebitsError::BadNumber(_))
        ));
        assert!(matches!(
            Securebits::parse("root"),
            Err(SecurebitsError::UnknownName(_))
        ));
        assert!(Securebits::parse("").is_err());
    }

    #[test]
    fn exec_clears_keep_caps_only() {
        for (before, after) in [(0xff, 0xef), (0x33, 0x23), (0xfff, 0xfef), (0x1, 0x1)] {
            let bits = Securebits::from_bits(before).unwrap();
            assert_eq!(bits.after_exec().bits(), after);
        }
    }

    #[test]
    fn serialises_value_and_names() {
        let bits = Securebits::from_bits(0x3).unwrap();
        assert_eq!(
            serde_json::to_string(&bits).unwrap(),
            r#"{"value":3,"hex":"0x003","bits":["noroot","noroot_locked"]}"#
        );
    }
}
