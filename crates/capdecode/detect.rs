//! Recognising what an input is from its form, so that `capdecode 3fffffffff`, `capdecode NET_RAW` and
//! `capdecode cap_net_raw+ep` all do the obvious thing without a flag.
//!
//! The rules, in order (README and `--help` repeat them):
//! 1. `security.capability=…` (a line of `getfattr -e hex`) is an xattr value.
//! 2. `Label:` for a /proc/PID/status capability label (`CapEff:`), optionally after a file name and a colon as
//!    `grep` prints it (`/proc/1/status:CapEff:`), is a status line.
//! 3. Anything with `=`, `+` or `-` is libcap text.
//! 4. Two comma-separated 8-digit hex words are captest's form of a mask.
//! 5. A comma list of names and one- or two-digit numbers is a list of capabilities (`13` is cap_net_raw).
//! 6. 24, 40 or 48 hex digits (12, 20 or 24 bytes) are an xattr value.
//! 7. Anything else is a hex mask (and if it is not one, the error says which character is wrong).

use capcore::status::LABELS;

/// What an input is to be decoded as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Mask,
    Names,
    Libcap,
    Xattr,
    Status,
    Securebits,
}

pub const XATTR_PREFIX: &str = "security.capability=";

pub fn detect(input: &str) -> Kind {
    let text = input.trim();
    if text.starts_with(XATTR_PREFIX) {
        return Kind::Xattr;
    }
    if status_label(text).is_some() {
        return Kind::Status;
    }
    if text.contains(['=', '+', '-']) {
        return Kind::Libcap;
    }
    let elements: Vec<&str> = text.split(',').map(str::trim).collect();
    if elements.len() == 2 && elements.iter().all(|w| w.len() == 8 && is_hex(w)) {
        return Kind::Mask;
    }
    if !text.is_empty() && elements.iter().all(|w| is_name(w) || is_cap_number(w)) {
        return Kind::Names;
    }
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    if matches!(digits.len(), 24 | 40 | 48) && is_hex(digits) {
        return Kind::Xattr;
    }
    Kind::Mask
}

/// Where a status line's label starts: at 0, or after `SOURCE:` as grep prints it. Returns the source
/// (possibly empty) and the line from the label on.
pub fn status_label(line: &str) -> Option<(&str, &str)> {
    LABELS.iter().find_map(|label| {
        let at = if line.starts_with(label) {
            0
        } else {
            line.find(&format!(":{label}:"))? + 1
        };
        let rest = &line[at..];
        rest[label.len()..]
            .starts_with(':')
            .then(|| (line[..at].trim_end_matches(':'), rest))
    })
}

fn is_hex(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A word of letters and underscores that is not also a hex number (no capability name is).
fn is_name(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_') && !is_hex(word)
}

fn is_cap_number(word: &str) -> bool {
    (1..=2).contains(&word.len()) && word.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_recognised() {
        for (input, kind) in [
            ("3fffffffff", Kind::Mask),
            ("0x3fffffffff", Kind::Mask),
            ("0000003fffffffff", Kind::Mask),
            ("000001FF, FEFFFFFF", Kind::Mask),
            ("100", Kind::Mask),
            ("cafe", Kind::Mask),
            ("3ffg", Kind::Mask),
            ("13", Kind::Names),
            ("cap_net_raw,cap_sys_admin", Kind::Names),
            ("NET_RAW", Kind::Names),
            ("net_raw, 21", Kind::Names),
            ("cap_net_raw+ep", Kind::Libcap),
            ("=ep cap_sys_resource-ep", Kind::Libcap),
            ("=", Kind::Libcap),
            (
                "security.capability=0x0100000200200000000000000000000000000000",
                Kind::Xattr,
            ),
            ("0100000200200000000000000000000000000000", Kind::Xattr),
            ("0x010000010020000000000000", Kind::Xattr),
            ("CapEff:\t000001ffffffffff", Kind::Status),
            ("/proc/1/status:CapBnd:\t000001ffffffffff", Kind::Status),
            ("NoNewPrivs:\t0", Kind::Status),
        ] {
            assert_eq!(detect(input), kind, "{input}");
        }
    }

    #[test]
    fn status_sources_are_split_off() {
        assert_eq!(
            status_label("/proc/1/status:CapEff:\t0"),
            Some(("/proc/1/status", "CapEff:\t0"))
        );
        assert_eq!(status_label("CapEff:\t0"), Some(("", "CapEff:\t0")));
        assert_eq!(
            status_label("Seccomp_filters:\t0"),
            Some(("", "Seccomp_filters:\t0"))
        );
        assert_eq!(status_label("CapEffx:\t0"), None);
        assert_eq!(status_label("Name:\tbash"), None);
    }
}
