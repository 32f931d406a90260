//! The capability lines of /proc/PID/status: `CapInh`, `CapPrm`, `CapEff`, `CapBnd`, `CapAmb`,
//! `NoNewPrivs`, `Seccomp` and `Seccomp_filters` (fs/proc/array.c). Other lines are ignored, so a whole
//! status file, or a `grep Cap` of it, parses the same way.

use std::fmt;

use serde::Serialize;

use crate::hex::{parse_mask, HexError};
use crate::quote::{excerpt, trim_c_space};
use crate::set::CapSet;

/// The seccomp mode of a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeccompMode {
    Disabled,
    Strict,
    Filter,
}

/// One recognised status line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusField {
    Inheritable(CapSet),
    Permitted(CapSet),
    Effective(CapSet),
    Bounding(CapSet),
    Ambient(CapSet),
    NoNewPrivs(bool),
    Seccomp(SeccompMode),
    SeccompFilters(u32),
}

/// The capability-related contents of a status file; a line that was not there is `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CapStatus {
    pub inheritable: Option<CapSet>,
    pub permitted: Option<CapSet>,
    pub effective: Option<CapSet>,
    pub bounding: Option<CapSet>,
    pub ambient: Option<CapSet>,
    pub no_new_privs: Option<bool>,
    pub seccomp: Option<SeccompMode>,
    pub seccomp_filters: Option<u32>,
}

/// A recognised line whose value is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusError {
    pub label: String,
    pub kind: StatusErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusErrorKind {
    Mask(HexError),
    Flag(String),
    Seccomp(String),
    Count(String),
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = &self.label;
        match &self.kind {
            StatusErrorKind::Mask(err) => write!(f, "{label}: {err}"),
            StatusErrorKind::Flag(v) => {
                write!(f, "{label}: expected 0 or 1, found '{}'", excerpt(v))
            }
            StatusErrorKind::Seccomp(v) => write!(
                f,
                "{label}: expected 0, 1 or 2 (disabled, strict, filter), found '{}'",
                excerpt(v)
            ),
            StatusErrorKind::Count(v) => {
                write!(f, "{label}: expected a count, found '{}'", excerpt(v))
            }
        }
    }
}

impl std::error::Error for StatusError {}

/// The labels this module understands, as the kernel prints them.
pub const LABELS: [&str; 8] = [
    "CapInh",
    "CapPrm",
    "CapEff",
    "CapBnd",
    "CapAmb",
    "NoNewPrivs",
    "Seccomp",
    "Seccomp_filters",
];

/// Parses one line; `None` when it is not one of the capability lines.
pub fn parse_line(line: &str) -> Option<Result<StatusField, StatusError>> {
    let (label, value) = line.split_once(':')?;
    let label = trim_c_space(label);
    if !LABELS.contains(&label) {
        return None;
    }
    let value = trim_c_space(value);
    let error = |kind| StatusError {
        label: label.to_string(),
        kind,
    };
    let mask = || parse_mask(value).map_err(|e| error(StatusErrorKind::Mask(e)));
    Some(match label {
        "CapInh" => mask().map(StatusField::Inheritable),
        "CapPrm" => mask().map(StatusField::Permitted),
        "CapEff" => mask().map(StatusField::Effective),
        "CapBnd" => mask().map(StatusField::Bounding),
        "CapAmb" => mask().map(StatusField::Ambient),
        "NoNewPrivs" => match value {
            "0" => Ok(StatusField::NoNewPrivs(false)),
            "1" => Ok(StatusField::NoNewPrivs(true)),
            _ => Err(error(StatusErrorKind::Flag(value.to_string()))),
        },
        "Seccomp" => match value {
            "0" => Ok(StatusField::Seccomp(SeccompMode::Disabled)),
            "1" => Ok(StatusField::Seccomp(SeccompMode::Strict)),
            "2" => Ok(StatusField::Seccomp(SeccompMode::Filter)),
            _ => Err(error(StatusErrorKind::Seccomp(value.to_string()))),
        },
        // The kernel prints the count in decimal; a sign or a space inside is not its form.
        _ if !value.bytes().all(|b| b.is_ascii_digit()) => {
            Err(error(StatusErrorKind::Count(value.to_string())))
        }
        _ => value
            .parse()
            .map(StatusField::SeccompFilters)
            .map_err(|_| error(StatusErrorKind::Count(value.to_string()))),
    })
}

impl CapStatus {
    /// Parses every capability line of a status text, ignoring the rest.
    pub fn parse(text: &str) -> Result<CapStatus, StatusError> {
        let mut status = CapStatus::default();
        for field in text.lines().filter_map(parse_line) {
            status.apply(field?);
        }
        Ok(status)
    }

    pub fn apply(&mut self, field: StatusField) {
        match field {
            StatusField::Inheritable(s) => self.inheritable = Some(s),
            StatusField::Permitted(s) => self.permitted = Some(s),
            StatusField::Effective(s) => self.effective = Some(s),
            StatusField::Bounding(s) => self.bounding = Some(s),
            StatusField::Ambient(s) => self.ambient = Some(s),
            StatusField::NoNewPrivs(v) => self.no_new_privs = Some(v),
            StatusField::Seccomp(v) => self.seccomp = Some(v),
            StatusField::SeccompFilters(v) => self.seccomp_filters = Some(v),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == CapStatus::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STATUS: &str = "Name:\tbash\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t0\t0\t0\t0\n\
        CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n\
        CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\nSeccomp:\t2\n\
        Seccomp_filters:\t1\nSpeculation_Store_Bypass:\tthread vulnerable\n";

    #[test]
    fn parses_a_whole_status_file() {
        let status = CapStatus::parse(STATUS).unwrap();
        assert_eq!(status.inheritable, Some(CapSet::EMPTY));
        assert_eq!(status.permitted, Some(CapSet::from_bits(0x1ff_ffff_ffff)));
        assert_eq!(status.bounding, status.effective);
        assert_eq!(status.ambient, Some(CapSet::EMPTY));
        assert_eq!(status.no_new_privs, Some(false));
        assert_eq!(status.seccomp, Some(SeccompMode::Filter));
        assert_eq!(status.seccomp_filters, Some(1));
    }

    #[test]
    fn bad_values_name_their_label() {
        let err = CapStatus::parse("CapEff:\t00000000000000zz").unwrap_err();
        assert_eq!(err.label, "CapEff");
        assert!(err.to_string().starts_with("CapEff: "), "{err}");
        assert!(CapStatus::parse("NoNewPrivs: 2").is_err());
        assert!(CapStatus::parse("Seccomp: 3").is_err());
        assert!(CapStatus::parse("Seccomp_filters: -1").is_err());
        assert!(CapStatus::parse("Seccomp_filters: +1").is_err());
        assert!(CapStatus::parse("CapEff:\u{a0}0000000000000000").is_err());
        assert!(CapStatus::parse("Nothing here").unwrap().is_empty());
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC*") {
            let _ = CapStatus::parse(&text);
        }
    }
}
