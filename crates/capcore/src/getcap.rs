//! Reading `getcap -r` output back: `PATH TEXT` lines, optionally ending in ` [rootid=N]` (`getcap -n`),
//! as capscan's `--baseline` accepts them (from getcap itself or from `capscan --getcap`).
//!
//! A path may hold spaces, and libcap text too, so the line is split where the text starts: libcap's
//! printer puts `=` in its first clause and never in a later one, so the text begins at the last
//! space-separated word that holds a `=`. capscan escapes paths (see capcli's escape module); `unescape`
//! undoes that, and leaves a backslash that starts no known escape as it is (as getcap prints it).

use std::fmt;

use crate::text::{CapState, TextError};

/// One line of getcap output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetcapLine {
    pub path: Vec<u8>,
    pub state: CapState,
    /// Present when the line carried `[rootid=N]`.
    pub rootid: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GetcapLineError {
    /// No word with `=` in it: not a getcap line.
    NoText,
    BadRootid(String),
    Text(TextError),
}

impl fmt::Display for GetcapLineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetcapLineError::NoText => f.write_str("no capability text (expected `PATH TEXT`)"),
            GetcapLineError::BadRootid(text) => write!(f, "bad rootid in {text:?}"),
            GetcapLineError::Text(err) => write!(f, "capability text: {err}"),
        }
    }
}

impl std::error::Error for GetcapLineError {}

/// Parses one getcap line for a kernel that knows `known_bits` capabilities.
pub fn parse_line(line: &str, known_bits: u32) -> Result<GetcapLine, GetcapLineError> {
    let mut line = line.trim_end_matches(['\n', '\r']);
    let mut rootid = None;
    if let Some(start) = line.rfind(" [rootid=") {
        if line.ends_with(']') {
            let number = &line[start + " [rootid=".len()..line.len() - 1];
            rootid = Some(
                number
                    .parse::<u32>()
                    .map_err(|_| GetcapLineError::BadRootid(number.to_string()))?,
            );
            line = &line[..start];
        }
    }
    let split = text_start(line).ok_or(GetcapLineError::NoText)?;
    let path = unescape(&line[..split - 1]);
    let state = CapState::from_text(&line[split..], known_bits).map_err(GetcapLineError::Text)?;
    Ok(GetcapLine {
        path,
        state,
        rootid,
    })
}

/// Byte offset of the first word of the text: the last word holding `=`, which must not be the first word.
fn text_start(line: &str) -> Option<usize> {
    let mut start = None;
    let mut offset = 0;
    for word in line.split(' ') {
        if offset > 0 && word.contains('=') {
            start = Some(offset);
        }
        offset += word.len() + 1;
    }
    start
}

/// Undoes capcli's escaping (`\\`, `\t`, `\n`, `\r`, `\xNN`, `\u{NNNN}`); anything else stays as written.
pub fn unescape(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' || i + 1 >= bytes.len() {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let (decoded, used) = match bytes[i + 1] {
            b'\\' => (Some(vec![b'\\']), 2),
            b't' => (Some(vec![b'\t']), 2),
            b'n' => (Some(vec![b'\n']), 2),
            b'r' => (Some(vec![b'\r']), 2),
            b'x' => (hex_byte(bytes.get(i + 2..i + 4)).map(|b| vec![b]), 4),
            b'u' => unicode_escape(&text[i..]),
            _ => (None, 0),
        };
        match decoded {
            Some(decoded) => {
                out.extend_from_slice(&decoded);
                i += used;
            }
            None => {
                out.push(b'\\');
                i += 1;
            }
        }
    }
    out
}

fn hex_byte(digits: Option<&[u8]>) -> Option<u8> {
    let digits = std::str::from_utf8(digits?).ok()?;
    u8::from_str_radix(digits, 16).ok()
}

/// `\u{NNNN}` at the start of `text`: the character's UTF-8 bytes and the escape's length.
fn unicode_escape(text: &str) -> (Option<Vec<u8>>, usize) {
    let Some(rest) = text.strip_prefix("\\u{") else {
        return (None, 0);
    };
    let Some(end) = rest.find('}') else {
        return (None, 0);
    };
    let c = u32::from_str_radix(&rest[..end], 16)
        .ok()
        .and_then(char::from_u32);
    match c {
        Some(c) => (Some(c.to_string().into_bytes()), 3 + end + 1),
        None => (None, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::set::CapSet;

    #[test]
    fn parses_plain_lines() {
        let line = parse_line("/usr/bin/ping cap_net_raw=ep\n", 41).unwrap();
        assert_eq!(line.path, b"/usr/bin/ping");
        assert_eq!(line.state.permitted, CapSet::from_bits(1 << 13));
        assert_eq!(line.state.to_text(41), "cap_net_raw=ep");
        assert_eq!(line.rootid, None);
    }

    #[test]
    fn spaces_and_equals_in_paths() {
        let line = parse_line("/a b=c/x y cap_net_raw=ep 41+ep", 41).unwrap();
        assert_eq!(line.path, b"/a b=c/x y");
        assert_eq!(line.state.to_text(41), "cap_net_raw=ep 41+ep");
        let line = parse_line("/x = cap_chown=p", 41).unwrap();
        assert_eq!(line.path, b"/x =");
        let line = parse_line("/x =", 41).unwrap();
        assert_eq!(line.path, b"/x");
        assert_eq!(line.state, CapState::default());
    }

    #[test]
    fn rootid_suffix() {
        let line = parse_line("gx/a cap_kill=ei [rootid=1000]", 41).unwrap();
        assert_eq!(line.rootid, Some(1000));
        assert_eq!(line.path, b"gx/a");
        assert!(matches!(
            parse_line("a =p [rootid=x]", 41),
            Err(GetcapLineError::BadRootid(_))
        ));
    }

    #[test]
    fn rejects_non_lines() {
        assert_eq!(parse_line("no text here", 41), Err(GetcapLineError::NoText));
        assert_eq!(parse_line("=ep", 41), Err(GetcapLineError::NoText));
        assert!(matches!(
            parse_line("/x cap_bogus=ep", 41),
            Err(GetcapLineError::Text(_))
        ));
    }

    #[test]
    fn unescapes_capcli_escapes() {
        assert_eq!(unescape(r"a\nb\tc\\d\x1b\xff"), b"a\nb\tc\\d\x1b\xff");
        assert_eq!(unescape(r"r\u{202e}x"), "r\u{202e}x".as_bytes());
        assert_eq!(unescape(r"odd\q\x\u{zz}\"), b"odd\\q\\x\\u{zz}\\");
    }
}
