//! Decoding one input of a known kind into a record. The record is what `--json` prints and what the human
//! renderer shows, so the two can never disagree.

use std::collections::BTreeMap;

use capcli::ExternalBytes;
use capcore::hex::{self, HexError};
use capcore::quote::{excerpt, trim_c_space};
use capcore::securebits::{self, Securebits};
use capcore::status::{self, CapStatus, SeccompMode};
use capcore::{CapSet, CapState, ExecEffect, XattrError};
use serde::Serialize;

use crate::detect::{is_hex, strip_0x, Kind, XATTR_PREFIX};

/// One decoded input.
#[derive(Serialize)]
pub struct Record {
    /// The input as given (for a status block, its lines, joined by newlines).
    pub input: ExternalBytes,
    /// How the input was read, in words, for the human output (`kind` says it for JSON).
    #[serde(skip)]
    pub read_as: String,
    #[serde(flatten)]
    pub decoded: Decoded,
    /// With --explain: what each capability in the record grants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptions: Option<BTreeMap<String, &'static str>>,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decoded {
    Mask {
        set: CapSet,
    },
    Names {
        set: CapSet,
    },
    Libcap {
        /// The canonical text, as cap_to_text prints it.
        text: String,
        effective: CapSet,
        inheritable: CapSet,
        permitted: CapSet,
    },
    Xattr(XattrRecord),
    Status(StatusRecord),
    Securebits(SecurebitsRecord),
}

#[derive(Serialize)]
pub struct XattrRecord {
    pub size: usize,
    pub version: u32,
    /// The file's effective bit (not a set: execve raises the new permitted set into effective when it is
    /// on), named apart from the sets, whose keys are always `{"hex","caps"}`.
    pub effective_flag: bool,
    pub permitted: CapSet,
    pub inheritable: CapSet,
    pub rootid: Option<u32>,
    /// What getcap prints for the file, or null when getxattr refuses the value.
    pub getcap: Option<String>,
    /// Why getxattr (and so getcap) refuses the value, if it does.
    pub getxattr_error: Option<String>,
    pub exec: ExecRecord,
}

#[derive(Serialize)]
pub struct ExecRecord {
    /// `honoured` or `ignored`: what execve of the file does with the value, for a caller in the initial user
    /// namespace on an ordinary mount. (A value execve fails on is reported as a bad input.)
    pub outcome: &'static str,
    pub reason: Option<String>,
}

#[derive(Serialize)]
pub struct StatusRecord {
    /// The file name grep printed before the lines (`/proc/1/status:CapEff:…`), if any.
    pub source: Option<String>,
    #[serde(flatten)]
    pub status: CapStatus,
    /// getpcaps's text for the effective, inheritable and permitted sets, when all three were given.
    pub text: Option<String>,
}

#[derive(Serialize)]
pub struct SecurebitsRecord {
    #[serde(flatten)]
    pub value: Securebits,
    pub flags: Vec<FlagRecord>,
}

#[derive(Serialize)]
pub struct FlagRecord {
    pub name: &'static str,
    pub set: bool,
    pub locked: bool,
    pub effect: &'static str,
}

/// How an input came to be read as its kind.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// By an option (`--names`, `--as names`).
    Asked,
    /// By its form (detect.rs).
    Recognised,
}

/// Decodes `input` as `kind`; the error is the one-line reason it is not one. `input` is given untrimmed,
/// so that error columns count from its first character.
pub fn decode(kind: Kind, input: &str, known: u32, origin: Origin) -> Result<Decoded, String> {
    let text = trim_c_space(input);
    match kind {
        Kind::Mask => hex::parse_mask(input)
            .map(|set| Decoded::Mask { set })
            .map_err(|e| format!("{e}{}", mask_hint(text, &e, origin))),
        Kind::Names => names(text, origin).map(|set| Decoded::Names { set }),
        Kind::Libcap => CapState::from_text(input, known)
            .map(|state| Decoded::Libcap {
                text: state.to_text(known),
                effective: state.effective,
                inheritable: state.inheritable,
                permitted: state.permitted,
            })
            .map_err(|e| e.to_string()),
        Kind::Xattr => decode_xattr(text, known).map(Decoded::Xattr),
        Kind::Status => decode_status(&[text], known).map(Decoded::Status),
        Kind::Securebits => Securebits::parse(text)
            .map(|value| Decoded::Securebits(securebits_record(value)))
            .map_err(|e| e.to_string()),
    }
}

/// The `read as` row: the kind in words, and for a recognised number what to type for the other reading.
pub fn reading(kind: Kind, input: &str, origin: Origin) -> String {
    let text = trim_c_space(input);
    match kind {
        Kind::Mask if text.contains(',') => "hex mask (captest's two 32-bit words)".to_string(),
        Kind::Mask if origin == Origin::Recognised => match decimal_cap(text) {
            Some(n) => format!("hex mask (for capability {n}, use --names {n})"),
            None => kind.reading().to_string(),
        },
        Kind::Names if origin == Origin::Asked => "capability names and numbers".to_string(),
        _ => kind.reading().to_string(),
    }
}

/// `text` as a capability number, when it is one in decimal: what someone typing `capdecode 20` may have meant.
fn decimal_cap(text: &str) -> Option<u32> {
    // `010` is octal to --names, as to libcap: no hint for it.
    let plain = text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
    let n: u32 = text.parse().ok()?;
    (plain && n < capcore::CAP_BITS).then_some(n)
}

/// What to type instead, when a mask did not parse because it was probably something else.
fn mask_hint(text: &str, err: &HexError, origin: Origin) -> &'static str {
    let numbers = text
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b',' || b == b' ');
    let digits = strip_0x(text);
    match err {
        HexError::TooWide { .. } if matches!(digits.len(), 24 | 40 | 48) && is_hex(digits) => {
            " (a security.capability value? use --xattr)"
        }
        _ if origin == Origin::Recognised && numbers && text.contains(',') => {
            " (capability numbers? use --names)"
        }
        _ => "",
    }
}

/// A comma list of names; numbers too when `--names` asked for them, since a bare number is a hex mask.
fn names(text: &str, origin: Origin) -> Result<CapSet, String> {
    if origin == Origin::Recognised {
        if let Some(number) = text
            .split(',')
            .map(trim_c_space)
            .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        {
            return Err(format!(
                "'{}' is a number: capability numbers are read only with --names (a number alone is a hex mask)",
                excerpt(number)
            ));
        }
    }
    CapSet::parse_list(text).map_err(|e| e.to_string())
}

/// A value the kernel cannot parse is a bad input: execve of a file holding it fails, and there are no
/// capabilities to show.
fn decode_xattr(text: &str, known: u32) -> Result<XattrRecord, String> {
    let value = text.strip_prefix(XATTR_PREFIX).unwrap_or(text);
    let bytes = hex::parse_bytes(value).map_err(|e| e.to_string())?;
    let effect = ExecEffect::of(&bytes);
    let (caps, reason) = match &effect {
        ExecEffect::Honoured(caps) => (*caps, None),
        ExecEffect::Ignored(caps, why) => (*caps, Some(why.to_string())),
        ExecEffect::Fails(errno, err) => {
            let anyone = if *err == XattrError::Empty {
                "; kernels that store an empty value let any owner of a file set it"
            } else {
                ""
            };
            return Err(format!(
                "not a security.capability value: {err} (execve of a file holding it fails with {}{anyone})",
                errno.name()
            ));
        }
    };
    let userspace = caps.check_userspace().map(|()| caps);
    Ok(XattrRecord {
        size: bytes.len(),
        version: caps.revision.number(),
        effective_flag: caps.effective,
        permitted: caps.permitted,
        inheritable: caps.inheritable,
        rootid: caps.rootid,
        getcap: userspace.as_ref().ok().map(|c| c.getcap_text(known)),
        getxattr_error: userspace.err().map(|err| format!("EINVAL: {err}")),
        exec: ExecRecord {
            outcome: effect.outcome(),
            reason,
        },
    })
}

/// Decodes a block of status lines (each possibly prefixed by grep's `FILE:`).
pub fn decode_status(lines: &[&str], known: u32) -> Result<StatusRecord, String> {
    let mut status = CapStatus::default();
    let mut source = None;
    for line in lines {
        let (from, labelled) = crate::detect::status_label(line)
            .ok_or_else(|| format!("not a /proc/PID/status capability line: {}", excerpt(line)))?;
        if !from.is_empty() {
            source = Some(from.to_string());
        }
        if let Some(field) = status::parse_line(labelled) {
            status.apply(field.map_err(|e| e.to_string())?);
        }
    }
    let text = match (status.effective, status.inheritable, status.permitted) {
        (Some(effective), Some(inheritable), Some(permitted)) => Some(
            CapState {
                effective,
                inheritable,
                permitted,
            }
            .to_text(known),
        ),
        _ => None,
    };
    Ok(StatusRecord {
        source,
        status,
        text,
    })
}

fn securebits_record(value: Securebits) -> SecurebitsRecord {
    let flags = securebits::FLAGS
        .iter()
        .map(|flag| FlagRecord {
            name: flag.name,
            set: value.is_set(flag.bit),
            locked: value.is_set(flag.bit + 1),
            effect: flag.effect,
        })
        .collect();
    SecurebitsRecord { value, flags }
}

impl Decoded {
    /// Every capability the record mentions, for --explain.
    pub fn all_caps(&self) -> CapSet {
        match self {
            Decoded::Mask { set } | Decoded::Names { set } => *set,
            Decoded::Libcap {
                effective,
                inheritable,
                permitted,
                ..
            } => *effective | *inheritable | *permitted,
            Decoded::Xattr(x) => x.permitted | x.inheritable,
            Decoded::Status(s) => [
                s.status.inheritable,
                s.status.permitted,
                s.status.effective,
                s.status.bounding,
                s.status.ambient,
            ]
            .into_iter()
            .flatten()
            .fold(CapSet::EMPTY, |all, set| all | set),
            Decoded::Securebits(_) => CapSet::EMPTY,
        }
    }
}

pub fn descriptions(set: CapSet) -> BTreeMap<String, &'static str> {
    set.iter()
        .map(|cap| (cap.to_string(), cap.description()))
        .collect()
}

/// The seccomp line as people read it.
pub fn seccomp_text(mode: SeccompMode, filters: Option<u32>) -> String {
    match (mode, filters) {
        (SeccompMode::Disabled, _) => "disabled".to_string(),
        (SeccompMode::Strict, _) => "strict".to_string(),
        (SeccompMode::Filter, Some(1)) => "filter (1 filter)".to_string(),
        (SeccompMode::Filter, Some(n)) => format!("filter ({n} filters)"),
        (SeccompMode::Filter, None) => "filter".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::detect;

    /// Pieces of every form, joined at random: no input may panic, whatever it is read as.
    #[test]
    fn no_input_panics() {
        const PIECES: [&str; 28] = [
            "0",
            "1",
            "9",
            "f",
            "F",
            "x",
            "0x",
            ",",
            ", ",
            " ",
            "\t",
            "\u{a0}",
            "\u{3000}",
            "\0",
            "=",
            "+",
            "-",
            "e",
            "i",
            "p",
            "cap_",
            "net_raw",
            "all",
            "CapEff:",
            ":",
            "security.capability=",
            "é",
            "_",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut input = String::new();
            for _ in 0..next() % 12 {
                input.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
            }
            let kind = detect(capcore::quote::trim_c_space(&input));
            for kind in [
                kind,
                Kind::Mask,
                Kind::Names,
                Kind::Libcap,
                Kind::Xattr,
                Kind::Status,
                Kind::Securebits,
            ] {
                for origin in [Origin::Asked, Origin::Recognised] {
                    let _ = decode(kind, &input, 41, origin);
                    let _ = reading(kind, &input, origin);
                }
            }
        }
    }
}
