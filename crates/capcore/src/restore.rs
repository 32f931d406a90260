//! The commands of a restore script: `setcap` lines that write back, byte for byte, the
//! `security.capability` values a scan found (a copy or an archive without xattrs loses them).
//!
//! The script is plain POSIX sh and plain ASCII, whatever the paths hold: a path of printable ASCII is
//! single-quoted; any other path (control bytes, newlines, non-UTF-8) is spelled with `printf %b` octal
//! escapes, so the script never carries a raw control byte and survives any terminal or mail.
//! Two values cannot be written by setcap exactly (an effective bit with empty sets, and a v3 rootid of
//! 0 or above 2^31-1, which setcap refuses or misreads); they are written with `setfattr` and their hex.

use crate::text::CapState;
use crate::xattr::{FileCaps, Revision, XATTR_NAME};

/// The first lines of a restore script.
pub const HEADER: &str = "#!/bin/sh\n\
# Written by capscan --restore: recreates the file capabilities found by the scan.\n\
# Run it as root from the directory the scan started in; exits 1 if any command failed.\n\
failed=0";

/// The last line of a restore script.
pub const FOOTER: &str = "exit $failed";

/// The shell lines that restore `caps` on `path`, for a kernel that knows `known_bits` capabilities.
pub fn restore_lines(path: &[u8], caps: &FileCaps, known_bits: u32) -> Vec<String> {
    let path = guard_dash(path);
    let (prelude, word) = shell_word(&path);
    let mut lines = Vec::new();
    if let Some(prelude) = prelude {
        lines.push(prelude);
    }
    match setcap_args(caps, known_bits) {
        Some(args) => lines.push(format!("setcap {args} {word} || failed=1")),
        None => {
            let hex: String = caps.encode().iter().map(|b| format!("{b:02x}")).collect();
            lines.push(format!(
                "setfattr -h -n {XATTR_NAME} -v 0x{hex} {word} || failed=1"
            ));
        }
    }
    lines
}

/// The arguments that make setcap write exactly `caps`, or `None` if it cannot.
fn setcap_args(caps: &FileCaps, known_bits: u32) -> Option<String> {
    let state = caps.libcap_state();
    if caps.stray_flags != 0 || caps.revision == Revision::V1 {
        return None;
    }
    // libcap writes the effective bit only when the effective set is not empty.
    if caps.effective && state.effective.is_empty() {
        return None;
    }
    let text = single_quote(caps.getcap_text(known_bits).as_bytes());
    match (caps.revision, caps.rootid) {
        (Revision::V2, _) => Some(text),
        (Revision::V3, Some(rootid)) if rootid != 0 && rootid <= i32::MAX as u32 => {
            Some(format!("-n {rootid} {text}"))
        }
        _ => None,
    }
}

/// Whether setcap's text for `caps` reads back as the same state (it always should; kept for tests).
pub fn text_round_trips(caps: &FileCaps, known_bits: u32) -> bool {
    CapState::from_text(&caps.getcap_text(known_bits), known_bits)
        .is_ok_and(|state| state == caps.libcap_state())
}

/// A path that starts with `-` would be read as an option.
fn guard_dash(path: &[u8]) -> Vec<u8> {
    if path.first() == Some(&b'-') {
        [b"./", path].concat()
    } else {
        path.to_vec()
    }
}

/// A shell word for `path`: `'quoted'` when it is printable ASCII, else a variable set on a line before
/// with `printf %b` (the `_` keeps command substitution from eating trailing newlines).
pub fn shell_word(path: &[u8]) -> (Option<String>, String) {
    if path.iter().all(|b| (0x20..0x7f).contains(b)) {
        return (None, single_quote(path));
    }
    let mut escaped = Vec::with_capacity(path.len() * 4);
    for &b in path {
        match b {
            b'\\' => escaped.extend_from_slice(b"\\\\"),
            0x20..=0x7e => escaped.push(b),
            _ => escaped.extend_from_slice(format!("\\0{b:03o}").as_bytes()),
        }
    }
    let prelude = format!("p=$(printf '%b_' {}); p=${{p%_}}", single_quote(&escaped));
    (Some(prelude), "\"$p\"".to_string())
}

/// `'text'`, with each `'` written as `'\''`. Only called on printable ASCII.
fn single_quote(text: &[u8]) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for &b in text {
        if b == b'\'' {
            out.push_str("'\\''");
        } else {
            out.push(char::from(b));
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::set::CapSet;

    fn caps(revision: Revision, effective: bool, p: u64, i: u64, rootid: Option<u32>) -> FileCaps {
        FileCaps {
            revision,
            effective,
            permitted: CapSet::from_bits(p),
            inheritable: CapSet::from_bits(i),
            rootid,
            stray_flags: 0,
        }
    }

    #[test]
    fn setcap_lines() {
        let ping = caps(Revision::V2, true, 1 << 13, 0, None);
        assert_eq!(
            restore_lines(b"./usr/bin/ping", &ping, 41),
            vec!["setcap 'cap_net_raw=ep' './usr/bin/ping' || failed=1"]
        );
        let ns = caps(Revision::V3, true, 0, 1 << 5, Some(1000));
        assert_eq!(
            restore_lines(b"it's", &ns, 41),
            vec!["setcap -n 1000 'cap_kill=ei' 'it'\\''s' || failed=1"]
        );
        let high = caps(Revision::V2, false, 1 << 41 | 1 << 63, 0, None);
        assert_eq!(
            restore_lines(b"-x", &high, 41),
            vec!["setcap '= 41,63+p' './-x' || failed=1"]
        );
    }

    #[test]
    fn values_setcap_cannot_write_use_setfattr() {
        let odd = caps(Revision::V2, true, 0, 0, None);
        assert_eq!(
            restore_lines(b"f", &odd, 41),
            vec!["setfattr -h -n security.capability -v 0x0100000200000000000000000000000000000000 'f' || failed=1"]
        );
        let root0 = caps(Revision::V3, false, 1, 0, Some(0));
        assert!(restore_lines(b"f", &root0, 41)[0].starts_with("setfattr"));
    }

    #[test]
    fn unprintable_paths_become_printf() {
        let ping = caps(Revision::V2, true, 1 << 13, 0, None);
        let lines = restore_lines(b"a\nb\x1b\xff\\'", &ping, 41);
        assert_eq!(
            lines[0],
            "p=$(printf '%b_' 'a\\0012b\\0033\\0377\\\\'\\'''); p=${p%_}"
        );
        assert_eq!(lines[1], "setcap 'cap_net_raw=ep' \"$p\" || failed=1");
        for line in &lines {
            assert!(line.bytes().all(|b| (0x20..0x7f).contains(&b)));
        }
    }

    #[test]
    fn texts_round_trip() {
        for bits in [0u64, 1, 1 << 13, 0x1ff_ffff_ffff, u64::MAX, 1 << 41] {
            for effective in [false, true] {
                let c = caps(Revision::V2, effective, bits, bits >> 3, None);
                assert!(text_round_trips(&c, 41), "{c:?}");
            }
        }
    }
}
