//! Recognising what an input is from its form, so that `capdecode 3fffffffff`, `capdecode NET_RAW` and
//! `capdecode cap_net_raw+ep` all do the obvious thing without a flag.
//!
//! The rules, in order (README and `--help` repeat them):
//! 1. `security.capability=…` (a line of `getfattr -e hex`) is an xattr value.
//! 2. `Label:` for a /proc/PID/status capability label (`CapEff:`), optionally after a file name and a colon as
//!    `grep` prints it (`/proc/1/status:CapEff:`), is a status line.
//! 3. Anything with `=`, `+` or `-` is libcap text.
//! 4. Hex digits, with or without `0x`, are a hex mask: always, as `capsh --decode` reads them, so `20` is
//!    bit 5 (cap_kill), never capability 20, and `010` is 0x10. Capability numbers are asked for with `--names`,
//!    and xattr values without their `security.capability=` with `--xattr`.
//! 5. Two comma-separated hex words are captest's form of a mask (the parser wants 8 digits each).
//! 6. Anything with a letter that is not a hex digit, or an underscore, is a list of capability names.
//! 7. Anything else is a hex mask, and the error says which character is wrong.
//!
//! A wrong input is thus reported by the parser of the form it looks most like: `cap_net_raw,` by the name
//! list, not by the hex parser.

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

impl Kind {
    /// How an input of this kind was read, for the human output's `read as` row.
    pub fn reading(self) -> &'static str {
        match self {
            Kind::Mask => "hex mask",
            Kind::Names => "capability names",
            Kind::Libcap => "libcap text (cap_from_text)",
            Kind::Xattr => "security.capability value",
            Kind::Status => "/proc/PID/status lines",
            Kind::Securebits => "securebits",
        }
    }
}

pub const XATTR_PREFIX: &str = "security.capability=";

/// The kind of a C-white-space-trimmed input.
pub fn detect(text: &str) -> Kind {
    if text.starts_with(XATTR_PREFIX) {
        return Kind::Xattr;
    }
    // Every status label ends in ':'; checking for one first keeps the common case (a mask) cheap.
    if text.contains(':') && status_label(text).is_some() {
        return Kind::Status;
    }
    if text.contains(['=', '+', '-']) {
        return Kind::Libcap;
    }
    if is_hex(strip_0x(text)) || text.eq_ignore_ascii_case("0x") {
        return Kind::Mask;
    }
    let words: Vec<&str> = text.split(',').map(capcore::quote::trim_c_space).collect();
    if words.len() == 2 && words.iter().all(|w| is_hex(w)) {
        return Kind::Mask;
    }
    if words.iter().any(|w| looks_like_name(w)) {
        return Kind::Names;
    }
    Kind::Mask
}

/// A word that starts with a letter or `_` and has an underscore, two letters that are not hex digits, or is
/// a capability's name. A mask with a typo (`3ffg`, `fffffffz`) does not, so its error comes from the hex
/// parser; `cap_net_raw,` does, so its error comes from the name list.
fn looks_like_name(word: &str) -> bool {
    let starts_like_name = word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    let non_hex = word
        .bytes()
        .filter(|b| b.is_ascii_alphabetic() && !b.is_ascii_hexdigit())
        .count();
    starts_like_name
        && (word.contains('_') || non_hex >= 2 || capcore::Cap::parse_lenient(word).is_ok())
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

pub fn strip_0x(text: &str) -> &str {
    text.strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text)
}

pub fn is_hex(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_recognised() {
        for (input, kind) in [
            ("3fffffffff", Kind::Mask),
            ("0x3fffffffff", Kind::Mask),
            ("0X3FFFFFFFFF", Kind::Mask),
            ("0000003fffffffff", Kind::Mask),
            ("000001FF, FEFFFFFF", Kind::Mask),
            ("100", Kind::Mask),
            ("cafe", Kind::Mask),
            ("3ffg", Kind::Mask),
            ("fffffffz", Kind::Mask),
            ("0xzz", Kind::Mask),
            ("bpf", Kind::Names),
            ("kill", Kind::Names),
            ("xyz", Kind::Names),
            // Only hex digits: a mask, whatever else the digits could mean.
            ("13", Kind::Mask),
            ("20", Kind::Mask),
            ("010", Kind::Mask),
            ("0x", Kind::Mask),
            ("0100000200200000000000000000000000000000", Kind::Mask),
            ("0x010000010020000000000000", Kind::Mask),
            ("13,21", Kind::Mask),
            ("1,2,3", Kind::Mask),
            ("\u{a0}3f", Kind::Mask),
            ("cap_net_raw,cap_sys_admin", Kind::Names),
            ("cap_net_raw,", Kind::Names),
            ("NET_RAW", Kind::Names),
            ("net_raw, 21", Kind::Names),
            ("cap_net_raw+ep", Kind::Libcap),
            ("=ep cap_sys_resource-ep", Kind::Libcap),
            ("=", Kind::Libcap),
            (
                "security.capability=0x0100000200200000000000000000000000000000",
                Kind::Xattr,
            ),
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
