//! The `security.capability` xattr: decoding and encoding its v1, v2 and v3 (rootid) forms byte for byte, and
//! what the kernel does with a value at exec and when userspace reads or writes it.
//!
//! The kernel reads a file's value in two ways that disagree (spec §7): exec parses the raw bytes leniently
//! (v1 still works, stray flag bits are ignored), while getxattr/setxattr accept only exact v2 and v3 values.
//! `FileCaps::decode` is the exec parse; `FileCaps::check_userspace` adds the stricter rules.

use std::fmt;

use serde::Serialize;

use crate::set::CapSet;
use crate::text::CapState;

/// The xattr's name.
pub const XATTR_NAME: &str = "security.capability";

const REVISION_MASK: u32 = 0xff00_0000;
const FLAGS_EFFECTIVE: u32 = 0x0000_0001;
/// The largest value the kernel reads at exec; a longer one makes getxattr fail with ERANGE.
pub const MAX_SIZE: usize = 24;

/// The layout revision in the top byte of the first word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Revision {
    /// 32-bit masks, 12 bytes; still honoured at exec, but no longer readable or writable from userspace.
    V1,
    /// 64-bit masks, 20 bytes.
    V2,
    /// 64-bit masks and the uid that counts as root for them, 24 bytes (namespaced file capabilities).
    V3,
}

impl Revision {
    pub const fn number(self) -> u32 {
        match self {
            Revision::V1 => 1,
            Revision::V2 => 2,
            Revision::V3 => 3,
        }
    }

    pub const fn size(self) -> usize {
        match self {
            Revision::V1 => 12,
            Revision::V2 => 20,
            Revision::V3 => 24,
        }
    }

    const fn magic(self) -> u32 {
        self.number() << 24
    }

    fn from_magic(magic: u32) -> Option<Revision> {
        match magic & REVISION_MASK {
            0x0100_0000 => Some(Revision::V1),
            0x0200_0000 => Some(Revision::V2),
            0x0300_0000 => Some(Revision::V3),
            _ => None,
        }
    }
}

impl Serialize for Revision {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.number())
    }
}

/// A decoded `security.capability` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct FileCaps {
    #[serde(rename = "version")]
    pub revision: Revision,
    /// The file effective bit: raise everything permitted into the effective set at exec.
    pub effective: bool,
    pub permitted: CapSet,
    pub inheritable: CapSet,
    /// v3 only: the uid (in the filesystem's user namespace) that must be root for the caps to count.
    pub rootid: Option<u32>,
    /// Flag bits besides the effective bit. Exec ignores them; getxattr and setxattr refuse the value.
    pub stray_flags: u32,
}

/// What is wrong with a value, named as the kernel would reject it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XattrError {
    /// Zero bytes: anyone who owns the file can set this, and then every execve of it fails.
    Empty,
    /// Fewer than the 4 bytes of the header.
    TooShort {
        len: usize,
    },
    /// More than 24 bytes: the kernel's read fails with ERANGE.
    TooLong {
        len: usize,
    },
    UnknownRevision {
        revision: u8,
    },
    WrongLength {
        revision: Revision,
        len: usize,
    },
    /// Refused by getxattr and setxattr (though exec ignores them).
    StrayFlags {
        flags: u32,
    },
    /// v1 values still work at exec but getxattr refuses them.
    Revision1,
}

impl XattrError {
    /// The error the kernel returns: ERANGE for an over-long value, EINVAL for everything else.
    pub fn errno(&self) -> Errno {
        match self {
            XattrError::TooLong { .. } => Errno::Erange,
            _ => Errno::Einval,
        }
    }
}

/// `1 byte`, `3 bytes`.
fn bytes(len: usize) -> String {
    if len == 1 {
        "1 byte".to_string()
    } else {
        format!("{len} bytes")
    }
}

impl fmt::Display for XattrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XattrError::Empty => write!(f, "the value is empty (zero bytes)"),
            XattrError::TooShort { len } => {
                write!(f, "{} is shorter than the 4-byte header", bytes(*len))
            }
            XattrError::TooLong { len } => {
                write!(f, "{} is longer than the 24 the kernel reads", bytes(*len))
            }
            XattrError::UnknownRevision { revision } => {
                write!(f, "unknown revision {revision:#04x} (known: 1, 2, 3)")
            }
            XattrError::WrongLength { revision, len } => write!(
                f,
                "{}, but a v{} value is exactly {} bytes",
                bytes(*len),
                revision.number(),
                revision.size()
            ),
            XattrError::StrayFlags { flags } => {
                write!(f, "flag bits {flags:#08x} besides the effective bit")
            }
            XattrError::Revision1 => write!(f, "a v1 value, which getxattr no longer returns"),
        }
    }
}

impl std::error::Error for XattrError {}

/// The errors an execve can fail with because of capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Errno {
    Eperm,
    Einval,
    Erange,
    /// No permission to execute the file: refused by open_exec before any credential rule.
    Eacces,
}

impl Errno {
    pub const fn name(self) -> &'static str {
        match self {
            Errno::Eperm => "EPERM",
            Errno::Einval => "EINVAL",
            Errno::Erange => "ERANGE",
            Errno::Eacces => "EACCES",
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Errno {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

fn word(bytes: &[u8], index: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&bytes[index * 4..index * 4 + 4]);
    u32::from_le_bytes(w)
}

impl FileCaps {
    /// Decodes a value as the kernel does at exec (commoncap.c:get_vfs_caps_from_disk), keeping every bit,
    /// including bits 41–63, which exec later drops.
    pub fn decode(bytes: &[u8]) -> Result<FileCaps, XattrError> {
        let len = bytes.len();
        if len > MAX_SIZE {
            return Err(XattrError::TooLong { len });
        }
        if len == 0 {
            return Err(XattrError::Empty);
        }
        if len < 4 {
            return Err(XattrError::TooShort { len });
        }
        let magic = word(bytes, 0);
        let revision = Revision::from_magic(magic).ok_or(XattrError::UnknownRevision {
            revision: (magic >> 24) as u8,
        })?;
        if len != revision.size() {
            return Err(XattrError::WrongLength { revision, len });
        }
        let (high_permitted, high_inheritable) = match revision {
            Revision::V1 => (0, 0),
            Revision::V2 | Revision::V3 => (word(bytes, 3), word(bytes, 4)),
        };
        let flags = magic & !REVISION_MASK;
        Ok(FileCaps {
            revision,
            effective: flags & FLAGS_EFFECTIVE != 0,
            permitted: CapSet::from_bits(
                u64::from(high_permitted) << 32 | u64::from(word(bytes, 1)),
            ),
            inheritable: CapSet::from_bits(
                u64::from(high_inheritable) << 32 | u64::from(word(bytes, 2)),
            ),
            rootid: (revision == Revision::V3).then(|| word(bytes, 5)),
            stray_flags: flags & !FLAGS_EFFECTIVE,
        })
    }

    /// Encodes the value byte for byte, so that `decode(x)?.encode() == x` for every value `decode` accepts.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.revision.size());
        let flags = self.stray_flags | if self.effective { FLAGS_EFFECTIVE } else { 0 };
        out.extend_from_slice(&(self.revision.magic() | flags).to_le_bytes());
        out.extend_from_slice(&(self.permitted.bits() as u32).to_le_bytes());
        out.extend_from_slice(&(self.inheritable.bits() as u32).to_le_bytes());
        if self.revision != Revision::V1 {
            out.extend_from_slice(&((self.permitted.bits() >> 32) as u32).to_le_bytes());
            out.extend_from_slice(&((self.inheritable.bits() >> 32) as u32).to_le_bytes());
        }
        if self.revision == Revision::V3 {
            out.extend_from_slice(&self.rootid.unwrap_or(0).to_le_bytes());
        }
        out
    }

    /// What `setcap` writes for a libcap state: v2, or v3 when a rootid is given. libcap (cap_file.c)
    /// refuses an effective set that is not empty and does not cover permitted ∪ inheritable; any other
    /// non-empty effective set just turns the file's effective bit on.
    pub fn from_state(state: CapState, rootid: Option<u32>) -> Result<FileCaps, EffectiveMismatch> {
        let union = state.permitted | state.inheritable;
        let effective = !state.effective.is_empty();
        if effective && !union.is_subset(state.effective) {
            return Err(EffectiveMismatch);
        }
        Ok(FileCaps {
            revision: if rootid.is_some() {
                Revision::V3
            } else {
                Revision::V2
            },
            effective,
            permitted: state.permitted,
            inheritable: state.inheritable,
            rootid,
            stray_flags: 0,
        })
    }

    /// The stricter rules of getxattr and setxattr (commoncap.c:cap_inode_getsecurity, cap_convert_nscap):
    /// only v2 and v3 values whose only flag is the effective bit.
    pub fn check_userspace(&self) -> Result<(), XattrError> {
        if self.revision == Revision::V1 {
            return Err(XattrError::Revision1);
        }
        if self.stray_flags != 0 {
            return Err(XattrError::StrayFlags {
                flags: self.stray_flags,
            });
        }
        Ok(())
    }

    /// The state libcap's `cap_get_file` builds, and so what getcap prints: effective is everything
    /// permitted or inheritable when the effective bit is set, nothing otherwise.
    pub fn libcap_state(&self) -> CapState {
        CapState {
            effective: if self.effective {
                self.permitted | self.inheritable
            } else {
                CapSet::EMPTY
            },
            inheritable: self.inheritable,
            permitted: self.permitted,
        }
    }

    /// The line `getcap` prints after the path, for a kernel that knows `known_bits` capabilities.
    pub fn getcap_text(&self, known_bits: u32) -> String {
        self.libcap_state().to_text(known_bits)
    }
}

/// libcap's rule for file effective sets was broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EffectiveMismatch;

impl fmt::Display for EffectiveMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a file's effective set must be empty or hold all of its permitted and inheritable sets",
        )
    }
}

impl std::error::Error for EffectiveMismatch {}

/// What an execve of a file with this value does, for a caller in the initial user namespace and a file on
/// an ordinary (suid-allowed, init-namespace) mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecEffect {
    /// The capabilities are applied.
    Honoured(FileCaps),
    /// The value is valid but treated as absent; the reason says why.
    Ignored(FileCaps, &'static str),
    /// execve fails with this error.
    Fails(Errno, XattrError),
}

impl ExecEffect {
    pub fn of(bytes: &[u8]) -> ExecEffect {
        match FileCaps::decode(bytes) {
            Err(err) => ExecEffect::Fails(err.errno(), err),
            Ok(caps) => match caps.rootid {
                Some(0) | None => ExecEffect::Honoured(caps),
                Some(u32::MAX) => ExecEffect::Ignored(caps, "rootid 4294967295 (-1) is not a valid uid"),
                Some(_) => ExecEffect::Ignored(
                    caps,
                    "the rootid is not root in the initial user namespace; it counts only in a namespace \
                     whose root it is",
                ),
            },
        }
    }

    /// `honoured`, `ignored`, `EINVAL` or `ERANGE`.
    pub fn outcome(&self) -> &'static str {
        match self {
            ExecEffect::Honoured(_) => "honoured",
            ExecEffect::Ignored(..) => "ignored",
            ExecEffect::Fails(errno, _) => errno.name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cap::Cap;
    use proptest::prelude::*;

    fn bytes_of(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    const NR: u64 = 0x2000;

    #[test]
    fn spec_7_1_examples() {
        let raw = [
            1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let caps = FileCaps::decode(&raw).unwrap();
        assert_eq!(caps.revision, Revision::V2);
        assert!(caps.effective);
        assert_eq!(caps.permitted.bits(), NR);
        assert!(caps.inheritable.is_empty());
        assert_eq!(caps.getcap_text(41), "cap_net_raw=ep");
        assert_eq!(caps.encode(), raw);

        // "=ep cap_sys_resource-ep", written as the bytes are stored.
        let raw = crate::hex::parse_bytes("01000002 fffffffe 00000000 ff010000 00000000").unwrap();
        let caps = FileCaps::decode(&raw).unwrap();
        assert_eq!(caps.permitted.bits(), 0x1ff_feff_ffff);
        assert_eq!(caps.getcap_text(41), "=ep cap_sys_resource-ep");
    }

    #[test]
    fn spec_s47_to_s53() {
        // S47: v2 fE with bits 13 and 41: decodes with both; getcap shows the unknown bit by number.
        let s47 = bytes_of(&[0x0200_0001, 0x2000, 0, 0x200, 0]);
        let caps = FileCaps::decode(&s47).unwrap();
        assert_eq!(caps.permitted.bits(), NR | 1 << 41);
        assert_eq!(caps.getcap_text(41), "cap_net_raw=ep 41+ep");
        assert_eq!(ExecEffect::of(&s47).outcome(), "honoured");
        // S48: zero length.
        assert_eq!(FileCaps::decode(&[]), Err(XattrError::Empty));
        assert_eq!(ExecEffect::of(&[]).outcome(), "EINVAL");
        // S49: 28 bytes with a v2 magic.
        let s49 = bytes_of(&[0x0200_0001, 0x2000, 0, 0, 0, 0, 0]);
        assert_eq!(FileCaps::decode(&s49), Err(XattrError::TooLong { len: 28 }));
        assert_eq!(ExecEffect::of(&s49).outcome(), "ERANGE");
        // S50: 22 bytes with a v2 magic.
        let mut s50 = bytes_of(&[0x0200_0001, 0x2000, 0, 0, 0]);
        s50.extend_from_slice(&[0, 0]);
        assert_eq!(
            FileCaps::decode(&s50),
            Err(XattrError::WrongLength {
                revision: Revision::V2,
                len: 22
            })
        );
        assert_eq!(ExecEffect::of(&s50).outcome(), "EINVAL");
        // S51: v1 works at exec but not through getxattr.
        let s51 = bytes_of(&[0x0100_0001, 0x2000, 0]);
        let caps = FileCaps::decode(&s51).unwrap();
        assert_eq!(
            (caps.revision, caps.effective, caps.permitted.bits()),
            (Revision::V1, true, NR)
        );
        assert_eq!(ExecEffect::of(&s51).outcome(), "honoured");
        assert_eq!(caps.check_userspace(), Err(XattrError::Revision1));
        assert_eq!(caps.encode(), s51);
        // S52: flag bit 1 is ignored at exec, refused by getxattr, and kept by encode.
        let s52 = bytes_of(&[0x0200_0003, 0x2000, 0, 0, 0]);
        let caps = FileCaps::decode(&s52).unwrap();
        assert!(caps.effective);
        assert_eq!(caps.stray_flags, 2);
        assert_eq!(
            caps.check_userspace(),
            Err(XattrError::StrayFlags { flags: 2 })
        );
        assert_eq!(caps.encode(), s52);
        // S53: v3 rootid -1 is ignored.
        let s53 = bytes_of(&[0x0300_0001, 0x2000, 0, 0, 0, u32::MAX]);
        let caps = FileCaps::decode(&s53).unwrap();
        assert_eq!(caps.rootid, Some(u32::MAX));
        assert_eq!(ExecEffect::of(&s53).outcome(), "ignored");
    }

    #[test]
    fn malformed_values_are_typed_errors() {
        assert_eq!(
            FileCaps::decode(&[1, 0, 0]),
            Err(XattrError::TooShort { len: 3 })
        );
        assert_eq!(
            FileCaps::decode(&bytes_of(&[0x0400_0000, 0, 0])),
            Err(XattrError::UnknownRevision { revision: 4 })
        );
        assert_eq!(
            FileCaps::decode(&bytes_of(&[0x0300_0000, 0, 0, 0, 0])),
            Err(XattrError::WrongLength {
                revision: Revision::V3,
                len: 20
            })
        );
        assert_eq!(XattrError::TooLong { len: 25 }.errno(), Errno::Erange);
        assert_eq!(XattrError::Empty.errno(), Errno::Einval);
    }

    #[test]
    fn from_state_follows_setcap() {
        let state = CapState::from_text("cap_net_raw+ep", 41).unwrap();
        let caps = FileCaps::from_state(state, None).unwrap();
        assert_eq!(
            caps.encode(),
            [1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        let v3 = FileCaps::from_state(state, Some(100_000)).unwrap();
        assert_eq!(v3.encode().len(), 24);
        assert_eq!(FileCaps::decode(&v3.encode()), Ok(v3));
        let mixed = CapState::from_text("cap_net_raw+ep cap_chown+p", 41).unwrap();
        assert_eq!(FileCaps::from_state(mixed, None), Err(EffectiveMismatch));
        let wider = CapState::from_text("all=e cap_chown+p", 41).unwrap();
        assert!(FileCaps::from_state(wider, None).unwrap().effective);
        let empty = FileCaps::from_state(CapState::EMPTY, None).unwrap();
        assert_eq!(empty.getcap_text(41), "=");
        assert!(Cap::new(13).is_some());
    }

    fn valid_v2_or_v3() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<bool>(),
            any::<bool>(),
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
        )
            .prop_map(|(v3, effective, permitted, inheritable, rootid)| {
                FileCaps {
                    revision: if v3 { Revision::V3 } else { Revision::V2 },
                    effective,
                    permitted: CapSet::from_bits(permitted),
                    inheritable: CapSet::from_bits(inheritable),
                    rootid: v3.then_some(rootid),
                    stray_flags: 0,
                }
                .encode()
            })
    }

    proptest! {
        #[test]
        fn encode_decode_is_identity(raw in valid_v2_or_v3()) {
            let caps = FileCaps::decode(&raw).unwrap();
            prop_assert_eq!(caps.check_userspace(), Ok(()));
            prop_assert_eq!(caps.encode(), raw);
        }

        #[test]
        fn any_bytes_decode_without_panic(raw in proptest::collection::vec(any::<u8>(), 0..32)) {
            if let Ok(caps) = FileCaps::decode(&raw) {
                prop_assert_eq!(caps.encode(), raw);
            }
        }
    }
}
