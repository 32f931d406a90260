//! `CapSet`: a set of capabilities as the kernel keeps it, a 64-bit mask in which every bit survives.
//!
//! Serialised everywhere as `{"hex": "000001fffeffffff", "caps": ["cap_chown", …]}`: the hex is exact and
//! the names are for people. Bits without a name appear in `caps` as their decimal number.

use std::fmt;
use std::ops::{BitAnd, BitOr, BitXor, Not, Sub};

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::cap::{Cap, UnknownCap, CAP_BITS};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CapSet(u64);

impl CapSet {
    pub const EMPTY: CapSet = CapSet(0);

    pub const fn from_bits(bits: u64) -> CapSet {
        CapSet(bits)
    }

    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Bits `0..known_bits`: everything a kernel that knows `known_bits` capabilities can grant
    /// (`/proc/sys/kernel/cap_last_cap` + 1; 41 on Linux 6.18).
    pub const fn first_n(known_bits: u32) -> CapSet {
        if known_bits >= CAP_BITS {
            CapSet(u64::MAX)
        } else {
            CapSet((1u64 << known_bits) - 1)
        }
    }

    pub fn from_caps(caps: impl IntoIterator<Item = Cap>) -> CapSet {
        caps.into_iter()
            .fold(CapSet::EMPTY, |set, cap| set.with(cap))
    }

    /// Parses a comma-separated list of names or numbers in any case, with or without `cap_`
    /// (`cap_net_raw,SYS_ADMIN,13`). Spaces around each element are allowed; an empty element is not.
    pub fn parse_list(list: &str) -> Result<CapSet, UnknownCap> {
        list.split(',')
            .map(Cap::parse_lenient)
            .try_fold(CapSet::EMPTY, |set, cap| Ok(set.with(cap?)))
    }

    pub const fn contains(self, cap: Cap) -> bool {
        self.0 & cap.mask() != 0
    }

    #[must_use]
    pub const fn with(self, cap: Cap) -> CapSet {
        CapSet(self.0 | cap.mask())
    }

    #[must_use]
    pub const fn without(self, cap: Cap) -> CapSet {
        CapSet(self.0 & !cap.mask())
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub const fn is_subset(self, other: CapSet) -> bool {
        self.0 & !other.0 == 0
    }

    pub const fn len(self) -> u32 {
        self.0.count_ones()
    }

    /// The capabilities in the set, lowest bit first.
    pub fn iter(self) -> impl Iterator<Item = Cap> {
        let mut rest = self.0;
        std::iter::from_fn(move || {
            let bit = rest.trailing_zeros();
            rest &= rest.wrapping_sub(1);
            Cap::new(bit)
        })
    }

    /// The 16 lower-case hex digits of the mask, as /proc/PID/status prints it.
    pub fn hex(self) -> String {
        format!("{:016x}", self.0)
    }

    /// libcap's names for the set's members (decimal numbers for unnamed bits), lowest bit first.
    pub fn names(self) -> Vec<String> {
        self.iter().map(|cap| cap.to_string()).collect()
    }
}

/// The names joined by commas, as `capsh --decode` prints them after the `=`.
impl fmt::Display for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, cap) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{cap}")?;
        }
        Ok(())
    }
}

impl Serialize for CapSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("CapSet", 2)?;
        s.serialize_field("hex", &self.hex())?;
        s.serialize_field("caps", &self.names())?;
        s.end()
    }
}

impl From<Cap> for CapSet {
    fn from(cap: Cap) -> CapSet {
        CapSet(cap.mask())
    }
}

impl FromIterator<Cap> for CapSet {
    fn from_iter<I: IntoIterator<Item = Cap>>(iter: I) -> CapSet {
        CapSet::from_caps(iter)
    }
}

impl BitOr for CapSet {
    type Output = CapSet;
    fn bitor(self, rhs: CapSet) -> CapSet {
        CapSet(self.0 | rhs.0)
    }
}

impl BitAnd for CapSet {
    type Output = CapSet;
    fn bitand(self, rhs: CapSet) -> CapSet {
        CapSet(self.0 & rhs.0)
    }
}

impl BitXor for CapSet {
    type Output = CapSet;
    fn bitxor(self, rhs: CapSet) -> CapSet {
        CapSet(self.0 ^ rhs.0)
    }
}

impl Sub for CapSet {
    type Output = CapSet;
    fn sub(self, rhs: CapSet) -> CapSet {
        CapSet(self.0 & !rhs.0)
    }
}

impl Not for CapSet {
    type Output = CapSet;
    fn not(self) -> CapSet {
        CapSet(!self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_hex_and_names() {
        let set = CapSet::from_bits(0x2000 | 1 << 41);
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(
            json,
            r#"{"hex":"0000020000002000","caps":["cap_net_raw","41"]}"#
        );
    }

    #[test]
    fn display_matches_capsh_decode() {
        assert_eq!(
            CapSet::from_bits(0x0000_0200_0000_2000).to_string(),
            "cap_net_raw,41"
        );
        assert_eq!(CapSet::EMPTY.to_string(), "");
    }

    #[test]
    fn iterates_set_bits_in_order() {
        let set = CapSet::from_bits(1 | 1 << 13 | 1 << 63);
        let bits: Vec<u32> = set.iter().map(Cap::bit).collect();
        assert_eq!(bits, [0, 13, 63]);
        assert_eq!(CapSet::EMPTY.iter().count(), 0);
        assert_eq!(CapSet::from_bits(u64::MAX).iter().count(), 64);
    }

    #[test]
    fn first_n_covers_edges() {
        assert_eq!(CapSet::first_n(41).bits(), 0x1ff_ffff_ffff);
        assert_eq!(CapSet::first_n(0).bits(), 0);
        assert_eq!(CapSet::first_n(64).bits(), u64::MAX);
        assert_eq!(CapSet::first_n(99).bits(), u64::MAX);
    }

    #[test]
    fn parse_list_rejects_empty_elements() {
        assert_eq!(
            CapSet::parse_list("cap_net_raw, SYS_ADMIN ,0").map(CapSet::bits),
            Ok(0x2000 | 0x20_0000 | 1)
        );
        assert!(CapSet::parse_list("cap_net_raw,,cap_chown").is_err());
        assert!(CapSet::parse_list("").is_err());
        assert!(CapSet::parse_list("cap_net_raw,").is_err());
    }
}
