//! systemd unit files read as systemd itself reads them (src/basic/fileio.c:read_line_full,
//! src/shared/conf-parser.c:config_parse and parse_line), so that capsim's `--systemd` sees exactly the
//! assignments the service manager sees. Only the text is handled here; finding and reading the unit and
//! its drop-ins is the caller's business.
//!
//! The rules, in systemd's order:
//! - A line ends at `\n`, `\r` or NUL; a run of line-end characters ends one line as long as no kind
//!   repeats (`\r\n` and `\n\r` are one line end, `\n\n` two), and nothing follows a NUL on the same end.
//!   A line longer than `LONG_LINE_MAX` (1 MiB) makes the whole file fail to load.
//! - A line whose first non-blank character is `#` or `;` is a comment and is skipped, even inside a
//!   continuation and even when it ends in a backslash (so a commented line never swallows the next).
//! - A line ending in an unescaped backslash continues: the backslash becomes a space and the next line
//!   (not a comment) is appended as it is. An empty line ends a continuation.
//! - The joined line is stripped; a UTF-8 byte order mark is dropped once; text that is not UTF-8 is
//!   ignored with a warning; `[Name]` opens a section (a line starting `[` without the closing `]` is an
//!   error that fails the load); outside a section, and in sections a service does not know, assignments
//!   are ignored; `KEY=VALUE` is split at the first `=` and both sides stripped.

use std::fmt;

use crate::quote::excerpt;

/// systemd's LONG_LINE_MAX: the longest line (and joined continuation) a unit file may hold.
pub const LONG_LINE_MAX: usize = 1024 * 1024;

/// The sections a service unit has (src/core/service.c: `.sections = "Unit\0Service\0Install\0"`).
const SERVICE_SECTIONS: [&str; 3] = ["Unit", "Service", "Install"];

/// One `KEY=VALUE` in a known section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub section: String,
    pub key: String,
    pub value: String,
    /// The line the assignment ends on (systemd reports that one for continuations).
    pub line: usize,
}

/// What systemd would log and skip: the first line of one kind, and how many lines of the file were of
/// that kind. A hostile file can hold millions of junk lines; each kind is said once, with its count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Names the kind, so that callers can count it across files.
    pub kind: &'static str,
    pub line: usize,
    pub text: String,
    pub count: usize,
}

/// What makes systemd refuse to load the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitError {
    pub line: usize,
    pub text: String,
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.text)
    }
}

impl std::error::Error for UnitError {}

/// The assignments of one file, in order, and the lines systemd would skip with a warning.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub assignments: Vec<Assignment>,
    pub warnings: Vec<Warning>,
}

/// Counts a warning of `kind`; its text is built only for the first of its kind.
fn warn(
    warnings: &mut Vec<Warning>,
    kind: &'static str,
    line: usize,
    text: impl FnOnce() -> String,
) {
    match warnings.iter_mut().find(|w| w.kind == kind) {
        Some(seen) => seen.count += 1,
        None => warnings.push(Warning {
            kind,
            line,
            text: text(),
            count: 1,
        }),
    }
}

const EOL_NEWLINE: u8 = 1;
const EOL_RETURN: u8 = 2;
const EOL_NUL: u8 = 4;

fn eol_kind(byte: u8) -> u8 {
    match byte {
        b'\n' => EOL_NEWLINE,
        b'\r' => EOL_RETURN,
        0 => EOL_NUL,
        _ => 0,
    }
}

/// fileio.c:read_line_full: the next line from `at`, and where the one after it starts; `None` at the end.
fn read_line(bytes: &[u8], at: usize, line: usize) -> Result<Option<(&[u8], usize)>, UnitError> {
    if at >= bytes.len() {
        return Ok(None);
    }
    let start = at;
    let mut end = at;
    let mut pos = at;
    let mut previous = 0u8;
    while pos < bytes.len() {
        let kind = eol_kind(bytes[pos]);
        if previous & EOL_NUL != 0
            || (kind == 0 && previous != 0)
            || (kind != 0 && previous & kind != 0)
        {
            break;
        }
        if kind != 0 {
            previous |= kind;
        } else {
            if end - start >= LONG_LINE_MAX {
                return Err(UnitError {
                    line,
                    text: format!("line longer than {LONG_LINE_MAX} bytes"),
                });
            }
            end = pos + 1;
        }
        pos += 1;
    }
    Ok(Some((&bytes[start..end], pos)))
}

/// systemd's WHITESPACE: space, tab, newline, carriage return.
fn is_blank(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

fn strip(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| !is_blank(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_blank(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end.max(start)]
}

/// Whether the text ends in a backslash that is not itself escaped: an odd run of them. Only the run is
/// read, not the whole joined line, so a continuation of many short lines stays linear.
fn ends_escaped(text: &[u8]) -> bool {
    text.iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

const BOM: &[u8] = b"\xef\xbb\xbf";

/// Parses one unit file's bytes (fragment or drop-in) as a service unit.
pub fn parse(bytes: &[u8]) -> Result<Parsed, UnitError> {
    let mut assignments = Vec::new();
    let warnings = parse_each(bytes, |a| assignments.push(a))?;
    Ok(Parsed {
        assignments,
        warnings,
    })
}

/// The same, handing each assignment to `apply` as it is read, so that a large file is never held as
/// millions of assignments at once; returns the warnings.
pub fn parse_each(
    bytes: &[u8],
    mut apply: impl FnMut(Assignment),
) -> Result<Vec<Warning>, UnitError> {
    let mut warnings = Vec::new();
    let mut section: Option<&'static str> = None;
    let mut continuation: Option<Vec<u8>> = None;
    let mut bom_seen = false;
    let mut at = 0;
    let mut line = 0;
    while let Some((raw, next)) = read_line(bytes, at, line + 1)? {
        at = next;
        line += 1;
        let first = raw.iter().position(|&b| !is_blank(b));
        if first.is_some_and(|i| raw[i] == b'#' || raw[i] == b';') {
            continue;
        }
        let mut text = raw;
        if !bom_seen {
            if let Some(rest) = raw.strip_prefix(BOM) {
                text = rest;
                bom_seen = true;
            }
        }
        let mut joined = match continuation.take() {
            Some(mut so_far) => {
                if so_far.len() + text.len() > LONG_LINE_MAX {
                    return Err(UnitError {
                        line,
                        text: "continuation line too long".to_string(),
                    });
                }
                so_far.extend_from_slice(text);
                so_far
            }
            None => text.to_vec(),
        };
        if ends_escaped(&joined) {
            if let Some(last) = joined.last_mut() {
                *last = b' ';
            }
            continuation = Some(joined);
            continue;
        }
        parse_line(&joined, line, &mut section, &mut warnings, &mut apply)?;
    }
    if let Some(rest) = continuation {
        parse_line(&rest, line, &mut section, &mut warnings, &mut apply)?;
    }
    Ok(warnings)
}

/// conf-parser.c:parse_line for one joined line.
fn parse_line(
    joined: &[u8],
    line: usize,
    section: &mut Option<&'static str>,
    warnings: &mut Vec<Warning>,
    apply: &mut impl FnMut(Assignment),
) -> Result<(), UnitError> {
    let text = strip(joined);
    if text.is_empty() {
        return Ok(());
    }
    let Ok(text) = std::str::from_utf8(text) else {
        warn(warnings, "utf8", line, || {
            "not valid UTF-8: systemd ignores the line".to_string()
        });
        return Ok(());
    };
    if let Some(header) = text.strip_prefix('[') {
        let Some(name) = header.strip_suffix(']') else {
            return Err(UnitError {
                line,
                text: format!(
                    "invalid section header '{}': systemd refuses to load the unit",
                    excerpt(text)
                ),
            });
        };
        *section = SERVICE_SECTIONS
            .iter()
            .copied()
            .find(|known| *known == name);
        if section.is_none() && !name.starts_with("X-") {
            warn(warnings, "section", line, || {
                format!("unknown section '{}': systemd ignores it", excerpt(name))
            });
        }
        return Ok(());
    }
    let Some(current) = *section else {
        return Ok(());
    };
    let Some((key, value)) = text.split_once('=') else {
        warn(warnings, "equals", line, || {
            "missing '=': systemd ignores the line".to_string()
        });
        return Ok(());
    };
    let key = key.trim_end_matches([' ', '\t', '\n', '\r']);
    if key.is_empty() {
        warn(warnings, "key", line, || {
            "missing key name before '=': systemd ignores the line".to_string()
        });
        return Ok(());
    }
    apply(Assignment {
        section: current.to_string(),
        key: key.to_string(),
        value: value.trim_matches([' ', '\t', '\n', '\r']).to_string(),
        line,
    });
    Ok(())
}

/// systemd's parse_boolean.
pub fn parse_boolean(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Some(false),
        _ => None,
    }
}

/// extract_first_word with EXTRACT_UNQUOTE|EXTRACT_RELAX, as far as unit values need it: words split at
/// whitespace, single or double quotes removed, a backslash keeps the next character.
pub fn words(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &[u8]) -> Vec<(String, String)> {
        parse(text)
            .unwrap()
            .assignments
            .into_iter()
            .map(|a| (a.key, a.value))
            .collect()
    }

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn comments_never_continue() {
        let text = b"[Service]\n# a comment \\\nCapabilityBoundingSet=CAP_NET_RAW\n";
        assert_eq!(keys(text), kv(&[("CapabilityBoundingSet", "CAP_NET_RAW")]));
        let text = b"[Service]\n  ; note \\\nUser=nobody\n";
        assert_eq!(keys(text), kv(&[("User", "nobody")]));
    }

    #[test]
    fn comments_inside_a_continuation_are_skipped() {
        let text = b"[Service]\nAmbientCapabilities=CAP_NET_RAW \\\n# CAP_SYS_ADMIN\n  CAP_CHOWN\n";
        assert_eq!(
            keys(text),
            kv(&[("AmbientCapabilities", "CAP_NET_RAW    CAP_CHOWN")])
        );
    }

    #[test]
    fn continuations() {
        assert_eq!(keys(b"[Service]\nUser=a\\\nb\n"), kv(&[("User", "a b")]));
        // An escaped backslash does not continue.
        assert_eq!(
            keys(b"[Service]\nUser=a\\\\\nGroup=b\n"),
            kv(&[("User", "a\\\\"), ("Group", "b")])
        );
        // An empty line ends it; a continuation at the end of the file still counts.
        assert_eq!(
            keys(b"[Service]\nUser=a\\\n\nGroup=b\\"),
            kv(&[("User", "a"), ("Group", "b")])
        );
    }

    #[test]
    fn line_ends() {
        assert_eq!(
            keys(b"[Service]\r\nUser=a\rGroup=b\n\rDynamicUser=yes\0NoNewPrivileges=1"),
            kv(&[
                ("User", "a"),
                ("Group", "b"),
                ("DynamicUser", "yes"),
                ("NoNewPrivileges", "1")
            ])
        );
        let mut long = b"[Service]\nUser=".to_vec();
        long.resize(LONG_LINE_MAX + 20, b'a');
        assert!(parse(&long).is_err());
    }

    #[test]
    fn sections_and_keys() {
        let text = b"\xef\xbb\xbfUser=outside\n[Unit]\nUser=unit\n[X-Mine]\nUser=x\n[Bogus]\nUser=y\n[Service]\n  User = spaced  \nnoequals\n=novalue\n";
        let parsed = parse(text).unwrap();
        let got: Vec<(String, String, String)> = parsed
            .assignments
            .iter()
            .map(|a| (a.section.clone(), a.key.clone(), a.value.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("Unit".into(), "User".into(), "unit".into()),
                ("Service".into(), "User".into(), "spaced".into())
            ]
        );
        assert_eq!(parsed.warnings.len(), 3);
        assert!(parsed.warnings.iter().all(|w| w.count == 1));
        assert!(parse(b"[Service\nUser=a\n").is_err());
        assert!(parse(b"[Service] # no\n").is_err());
    }

    #[test]
    fn warnings_of_one_kind_are_counted_once() {
        // 2 MiB of lines without '=': one warning, with the count, and its text built once.
        let mut text = b"[Service]\nUser=a\n".to_vec();
        text.extend(b"junk\n".repeat(400_000));
        text.extend(b"[Bogus]\n[Other]\n[Service]\n=x\nGroup=b\n");
        let parsed = parse(&text).unwrap();
        let warnings: Vec<(&str, usize, usize)> = parsed
            .warnings
            .iter()
            .map(|w| (w.kind, w.line, w.count))
            .collect();
        assert_eq!(
            warnings,
            [
                ("equals", 3, 400_000),
                ("section", 400_003, 2),
                ("key", 400_006, 1)
            ]
        );
        assert_eq!(parsed.assignments.len(), 2);
        // A header is quoted as a bounded excerpt.
        let long = format!("[Service]\n[{}\n", "x".repeat(100_000));
        assert!(parse(long.as_bytes()).unwrap_err().text.len() < 200);
    }

    #[test]
    fn long_continuations_stay_linear() {
        // 300,000 continued lines: each used to rescan the whole joined line for its last backslash.
        let mut text = b"[Service]\nUser=".to_vec();
        text.extend(b"a\\\n".repeat(300_000));
        text.extend(b"b\\\\\n");
        let parsed = parse(&text).unwrap();
        let value = &parsed.assignments[0].value;
        assert_eq!(value.len(), 600_003);
        assert!(value.starts_with("a a ") && value.ends_with("a b\\\\"));
    }

    #[test]
    fn word_splitting() {
        assert_eq!(words(" a  'b c' \"d\"e\\ f "), ["a", "b c", "de f"]);
        assert_eq!(parse_boolean("Yes"), Some(true));
        assert_eq!(parse_boolean("off"), Some(false));
        assert_eq!(parse_boolean("maybe"), None);
    }
}
