//! Decoding one input of a known kind into a record. The record is what `--json` prints and what the human
//! renderer shows, so the two can never disagree.

use std::collections::BTreeMap;

use capcli::ExternalBytes;
use capcore::securebits::{self, Securebits};
use capcore::status::{self, CapStatus, SeccompMode};
use capcore::{hex, CapSet, CapState, ExecEffect};
use serde::Serialize;

use crate::detect::{Kind, XATTR_PREFIX};

/// One decoded input.
#[derive(Serialize)]
pub struct Record {
    /// The input as given (for a status block, the file name grep printed before the lines, if any).
    pub input: ExternalBytes,
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
    /// Null when the value is malformed; `error` then says why.
    pub version: Option<u32>,
    pub effective: Option<bool>,
    pub permitted: Option<CapSet>,
    pub inheritable: Option<CapSet>,
    pub rootid: Option<u32>,
    /// What getcap prints for the file, or null when getxattr refuses the value.
    pub getcap: Option<String>,
    /// Why getxattr (and so getcap) refuses the value, if it does.
    pub getxattr_error: Option<String>,
    pub exec: ExecRecord,
}

#[derive(Serialize)]
pub struct ExecRecord {
    /// `honoured`, `ignored`, `EINVAL` or `ERANGE`: what execve of the file does with the value, for a
    /// caller in the initial user namespace on an ordinary mount.
    pub outcome: &'static str,
    pub reason: Option<String>,
}

#[derive(Serialize)]
pub struct StatusRecord {
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

/// Decodes `input` as `kind`; the error is the one-line reason it is not one.
pub fn decode(kind: Kind, input: &str, known: u32) -> Result<Decoded, String> {
    let text = input.trim();
    match kind {
        Kind::Mask => hex::parse_mask(text)
            .map(|set| Decoded::Mask { set })
            .map_err(|e| e.to_string()),
        Kind::Names => CapSet::parse_list(text)
            .map(|set| Decoded::Names { set })
            .map_err(|e| e.to_string()),
        Kind::Libcap => CapState::from_text(text, known)
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

fn decode_xattr(text: &str, known: u32) -> Result<XattrRecord, String> {
    let value = text.strip_prefix(XATTR_PREFIX).unwrap_or(text);
    let bytes = hex::parse_bytes(value).map_err(|e| e.to_string())?;
    let effect = ExecEffect::of(&bytes);
    let (caps, reason) = match &effect {
        ExecEffect::Honoured(caps) => (Some(*caps), None),
        ExecEffect::Ignored(caps, why) => (Some(*caps), Some(why.to_string())),
        ExecEffect::Fails(_, err) => (None, Some(err.to_string())),
    };
    let userspace = caps.map(|c| c.check_userspace().map(|()| c));
    Ok(XattrRecord {
        size: bytes.len(),
        version: caps.map(|c| c.revision.number()),
        effective: caps.map(|c| c.effective),
        permitted: caps.map(|c| c.permitted),
        inheritable: caps.map(|c| c.inheritable),
        rootid: caps.and_then(|c| c.rootid),
        getcap: match &userspace {
            Some(Ok(c)) => Some(c.getcap_text(known)),
            _ => None,
        },
        getxattr_error: match (&userspace, &effect) {
            (Some(Err(err)), _) => Some(format!("EINVAL: {err}")),
            (None, ExecEffect::Fails(errno, err)) => Some(format!("{errno}: {err}")),
            _ => None,
        },
        exec: ExecRecord {
            outcome: effect.outcome(),
            reason,
        },
    })
}

/// Decodes a block of status lines (each possibly prefixed by grep's `FILE:`).
pub fn decode_status(lines: &[&str], known: u32) -> Result<StatusRecord, String> {
    let mut status = CapStatus::default();
    for line in lines {
        let (_, labelled) = crate::detect::status_label(line)
            .ok_or_else(|| format!("not a /proc/PID/status capability line: {line}"))?;
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
    Ok(StatusRecord { status, text })
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
            Decoded::Xattr(x) => {
                x.permitted.unwrap_or_default() | x.inheritable.unwrap_or_default()
            }
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
