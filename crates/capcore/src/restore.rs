//! The restore script: shell lines that write back, byte for byte, the `security.capability` values a
//! scan found (a copy or an archive without xattrs loses them), and name each one they could not.
//!
//! The script is plain POSIX sh and plain ASCII, whatever the paths hold: a path of printable ASCII is
//! single-quoted; any other path (control bytes, newlines, non-UTF-8) is spelled with `printf %b` octal
//! escapes, so the script never carries a raw control byte and survives any terminal or mail.
//!
//! What it needs is said at its top and checked when it runs: `setcap` (libcap2-bin) for most values,
//! `setfattr` (attr, which libcap2-bin does not pull in) for those setcap cannot write exactly: an
//! effective bit with empty sets, a v3 rootid of 0 or above 2^31-1, and any value on a file that is not
//! a regular file (setcap refuses those). A missing tool fails each value that needs it, by name.
//!
//! A path longer than PATH_MAX cannot be given to setcap or setfattr whole: the script enters its
//! directories in steps of at most `STEP` bytes (`cd -P`, in a subshell) and names the file relatively.

use crate::text::CapState;
use crate::xattr::{FileCaps, Revision, XATTR_NAME};

/// The longest directory step the script gives `cd`, well under PATH_MAX (4096 with its NUL).
const STEP: usize = 3000;
/// Paths up to this length are given to the tools whole.
const WHOLE_PATH: usize = 4000;

/// The tool that writes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Setcap,
    Setfattr,
}

impl Tool {
    pub const fn command(self) -> &'static str {
        match self {
            Tool::Setcap => "setcap",
            Tool::Setfattr => "setfattr",
        }
    }

    /// The Debian package that has it.
    pub const fn package(self) -> &'static str {
        match self {
            Tool::Setcap => "libcap2-bin",
            Tool::Setfattr => "attr",
        }
    }
}

/// The first lines of a restore script, saying and checking what it needs: how many values setcap
/// and setfattr write.
pub fn header(setcap_values: usize, setfattr_values: usize) -> Vec<String> {
    let mut lines = vec![
        "#!/bin/sh".to_string(),
        "# Written by capscan --restore: recreates, byte for byte, the file capabilities the scan found."
            .to_string(),
    ];
    for (tool, count) in [
        (Tool::Setcap, setcap_values),
        (Tool::Setfattr, setfattr_values),
    ] {
        if count > 0 {
            let values = if count == 1 { "value" } else { "values" };
            lines.push(format!(
                "# Needs {} (package {}) for {count} {values}.",
                tool.command(),
                tool.package()
            ));
        }
    }
    lines.extend(
        [
            "# Run it as root from the directory the scan started in. Every value it cannot restore is",
            "# named on stderr, and then it exits 1.",
            "unset CDPATH",
            "failed=0",
            "fail() { printf 'capscan restore: not restored: %s: %s\\n' \"$1\" \"$2\" >&2; failed=1; }",
            "have() { command -v \"$1\" >/dev/null 2>&1; }",
        ]
        .map(String::from),
    );
    for (tool, count) in [
        (Tool::Setcap, setcap_values),
        (Tool::Setfattr, setfattr_values),
    ] {
        if count > 0 {
            let (cmd, pkg) = (tool.command(), tool.package());
            lines.push(format!(
                "have {cmd} || echo 'capscan restore: {cmd} not found (install {pkg}): \
                 the values that need it are not restored' >&2"
            ));
        }
    }
    lines
}

/// The last line of a restore script.
pub const FOOTER: &str = "exit $failed";

/// The tool that can write `caps` exactly onto a file (`regular`: a regular file, which setcap needs).
pub fn tool_for(caps: &FileCaps, known_bits: u32, regular: bool) -> Tool {
    if regular && setcap_args(caps, known_bits).is_some() {
        Tool::Setcap
    } else {
        Tool::Setfattr
    }
}

/// The shell lines that restore `caps` on `path`, for a kernel that knows `known_bits` capabilities.
pub fn restore_lines(path: &[u8], caps: &FileCaps, known_bits: u32, regular: bool) -> Vec<String> {
    let tool = tool_for(caps, known_bits, regular);
    let at = Located::new(path);
    let mut lines = at.preludes.clone();
    let command = match tool {
        Tool::Setcap => format!(
            "setcap {} {}",
            setcap_args(caps, known_bits).unwrap_or_default(),
            at.word
        ),
        Tool::Setfattr => {
            let hex: String = caps.encode().iter().map(|b| format!("{b:02x}")).collect();
            format!("setfattr -h -n {XATTR_NAME} -v 0x{hex} {}", at.word)
        }
    };
    let run = format!("have {} && {command}", tool.command());
    let display = single_quote(display(path).as_bytes());
    let reason = single_quote(format!("{} failed or is missing", tool.command()).as_bytes());
    lines.push(match at.steps.is_empty() {
        true => format!("{run} || fail {display} {reason}"),
        false => format!(
            "( {} && {run} ) || fail {display} {reason}",
            at.steps.join(" && ")
        ),
    });
    lines
}

/// The lines for a value that cannot be restored (its bytes could not be read): a comment, and a
/// failure when the script runs.
pub fn unrestorable_lines(path: &[u8], why: &str) -> Vec<String> {
    let display = display(path);
    vec![
        format!("# not restored: {display}: {why}"),
        format!(
            "fail {} {}",
            single_quote(display.as_bytes()),
            single_quote(why.as_bytes())
        ),
    ]
}

/// A path as the script reaches it: lines that set variables, `cd` steps, and the word for the file.
struct Located {
    preludes: Vec<String>,
    steps: Vec<String>,
    word: String,
}

impl Located {
    fn new(path: &[u8]) -> Located {
        let mut preludes = Vec::new();
        let mut word_for = |bytes: &[u8], var: &str| {
            let (prelude, word) = shell_word_as(bytes, var);
            preludes.extend(prelude);
            word
        };
        if path.len() <= WHOLE_PATH {
            let word = word_for(&guard_dash(path), "p");
            return Located {
                preludes,
                steps: Vec::new(),
                word,
            };
        }
        let (dirs, name) = split_steps(path);
        let steps = dirs
            .iter()
            .enumerate()
            .map(|(i, dir)| format!("cd -P {}", word_for(dir, &format!("d{i}"))))
            .collect();
        let word = word_for(&[b"./", name].concat(), "p");
        Located {
            preludes,
            steps,
            word,
        }
    }
}

/// Splits a long path into directory steps of at most `STEP` bytes (each absolute or starting with
/// `./`, so neither CDPATH nor a leading `-` can change it) and the file's name.
fn split_steps(path: &[u8]) -> (Vec<Vec<u8>>, &[u8]) {
    let cut = path.iter().rposition(|&b| b == b'/').unwrap_or(0);
    let (dir, name) = (&path[..cut], &path[cut + 1..]);
    let mut steps: Vec<Vec<u8>> = Vec::new();
    let mut current: Vec<u8> = if path.starts_with(b"/") {
        b"/".to_vec()
    } else {
        b".".to_vec()
    };
    for component in dir
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
    {
        if current.len() + 1 + component.len() > STEP && current.len() > 1 {
            steps.push(std::mem::replace(&mut current, b".".to_vec()));
        }
        if !current.ends_with(b"/") {
            current.push(b'/');
        }
        current.extend_from_slice(component);
    }
    steps.push(current);
    (steps, name)
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
    shell_word_as(path, "p")
}

fn shell_word_as(path: &[u8], var: &str) -> (Option<String>, String) {
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
    let prelude = format!(
        "{var}=$(printf '%b_' {}); {var}=${{{var}%_}}",
        single_quote(&escaped)
    );
    (Some(prelude), format!("\"${var}\""))
}

/// A path in printable ASCII for messages: `\\`, `\n`, `\t` and `\xNN` for anything else.
fn display(path: &[u8]) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
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
            restore_lines(b"./usr/bin/ping", &ping, 41, true),
            vec!["have setcap && setcap 'cap_net_raw=ep' './usr/bin/ping' || fail './usr/bin/ping' 'setcap failed or is missing'"]
        );
        let ns = caps(Revision::V3, true, 0, 1 << 5, Some(1000));
        assert!(restore_lines(b"it's", &ns, 41, true)[0]
            .starts_with("have setcap && setcap -n 1000 'cap_kill=ei' 'it'\\''s' || fail"));
        let high = caps(Revision::V2, false, 1 << 41 | 1 << 63, 0, None);
        assert!(restore_lines(b"-x", &high, 41, true)[0]
            .starts_with("have setcap && setcap '= 41,63+p' './-x' ||"));
    }

    #[test]
    fn values_setcap_cannot_write_use_setfattr() {
        let odd = caps(Revision::V2, true, 0, 0, None);
        assert!(restore_lines(b"f", &odd, 41, true)[0].starts_with(
            "have setfattr && setfattr -h -n security.capability -v 0x0100000200000000000000000000000000000000 'f' ||"
        ));
        let root0 = caps(Revision::V3, false, 1, 0, Some(0));
        assert_eq!(tool_for(&root0, 41, true), Tool::Setfattr);
        let ping = caps(Revision::V2, true, 1 << 13, 0, None);
        assert_eq!(tool_for(&ping, 41, false), Tool::Setfattr);
    }

    #[test]
    fn unprintable_paths_become_printf() {
        let ping = caps(Revision::V2, true, 1 << 13, 0, None);
        let lines = restore_lines(b"a\nb\x1b\xff\\'", &ping, 41, true);
        assert_eq!(
            lines[0],
            "p=$(printf '%b_' 'a\\0012b\\0033\\0377\\\\'\\'''); p=${p%_}"
        );
        assert!(lines[1].starts_with(
            "have setcap && setcap 'cap_net_raw=ep' \"$p\" || fail 'a\\nb\\x1b\\xff\\\\'\\'''"
        ));
        for line in &lines {
            assert!(line.bytes().all(|b| (0x20..0x7f).contains(&b)));
        }
    }

    #[test]
    fn long_paths_are_entered_in_steps() {
        let dir = "d".repeat(200);
        let path = format!("/{}/file", vec![dir.as_str(); 30].join("/"));
        let ping = caps(Revision::V2, true, 1 << 13, 0, None);
        let lines = restore_lines(path.as_bytes(), &ping, 41, true);
        let line = &lines[0];
        assert!(line.starts_with("( cd -P '/ddd"), "{line}");
        assert!(line.contains(" && cd -P './ddd"), "{line}");
        assert!(
            line.contains("setcap 'cap_net_raw=ep' './file' ) || fail"),
            "{line}"
        );
        let (steps, name) = split_steps(path.as_bytes());
        assert_eq!(name, b"file");
        assert!(steps.iter().all(|s| s.len() <= STEP));
        let rejoined: Vec<u8> = steps.join(&b'/');
        assert_eq!(
            String::from_utf8(rejoined).unwrap().replace("/./", "/"),
            path.trim_end_matches("/file")
        );
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
