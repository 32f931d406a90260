//! Reading `getcap -r` output back: `PATH TEXT` lines, optionally ending in ` [rootid=N]` (`getcap -n`),
//! as capscan's `--baseline` accepts them (from getcap itself or from `capscan --getcap`).
//!
//! A path may hold spaces, and libcap text too, so the line is split where the text starts: libcap's
//! printer puts `=` in its first clause and never in a later one, so the text begins at the last
//! space-separated word that holds a `=`. The path is the raw bytes getcap wrote (as `capscan --getcap`
//! writes them into a file); a name holding a newline spans lines, which the caller joins.

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

/// Parses one getcap line for a kernel that knows `known_bits` capabilities. The path is taken as the
/// raw bytes getcap wrote; the capability text must be ASCII (libcap's printer writes nothing else).
pub fn parse_line(line: &[u8], known_bits: u32) -> Result<GetcapLine, GetcapLineError> {
    let mut line = line;
    while let Some((&last, rest)) = line.split_last() {
        if last != b'\n' && last != b'\r' {
            break;
        }
        line = rest;
    }
    let mut rootid = None;
    const SUFFIX: &[u8] = b" [rootid=";
    if line.ends_with(b"]") {
        if let Some(start) = line.windows(SUFFIX.len()).rposition(|w| w == SUFFIX) {
            let number = &line[start + SUFFIX.len()..line.len() - 1];
            rootid = Some(parse_rootid(number)?);
            line = &line[..start];
        }
    }
    let split = text_start(line).ok_or(GetcapLineError::NoText)?;
    let path = line[..split - 1].to_vec();
    let text = std::str::from_utf8(&line[split..]).map_err(|_| GetcapLineError::NoText)?;
    let state = CapState::from_text(text, known_bits).map_err(GetcapLineError::Text)?;
    Ok(GetcapLine {
        path,
        state,
        rootid,
    })
}

/// `getcap -n` prints the rootid with `%d`, so one at or above 2^31 comes out negative; capscan's own
/// formats print the kernel's uid. Both are read back as the uid.
fn parse_rootid(number: &[u8]) -> Result<u32, GetcapLineError> {
    let bad = || GetcapLineError::BadRootid(String::from_utf8_lossy(number).into_owned());
    let value: i64 = std::str::from_utf8(number)
        .ok()
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad)?;
    if let Ok(uid) = u32::try_from(value) {
        Ok(uid)
    } else if let Ok(signed) = i32::try_from(value) {
        Ok(signed as u32)
    } else {
        Err(bad())
    }
}

/// Byte offset of the first word of the text: the last word holding `=`, which must not be the first word.
fn text_start(line: &[u8]) -> Option<usize> {
    let mut start = None;
    let mut offset = 0;
    for word in line.split(|&b| b == b' ') {
        if offset > 0 && word.contains(&b'=') {
            start = Some(offset);
        }
        offset += word.len() + 1;
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::set::CapSet;

    #[test]
    fn parses_plain_lines() {
        let line = parse_line(b"/usr/bin/ping cap_net_raw=ep\n", 41).unwrap();
        assert_eq!(line.path, b"/usr/bin/ping");
        assert_eq!(line.state.permitted, CapSet::from_bits(1 << 13));
        assert_eq!(line.state.to_text(41), "cap_net_raw=ep");
        assert_eq!(line.rootid, None);
    }

    #[test]
    fn spaces_and_equals_in_paths() {
        let line = parse_line(b"/a b=c/x y cap_net_raw=ep 41+ep", 41).unwrap();
        assert_eq!(line.path, b"/a b=c/x y");
        assert_eq!(line.state.to_text(41), "cap_net_raw=ep 41+ep");
        let line = parse_line(b"/x = cap_chown=p", 41).unwrap();
        assert_eq!(line.path, b"/x =");
        let line = parse_line(b"/x =", 41).unwrap();
        assert_eq!(line.path, b"/x");
        assert_eq!(line.state, CapState::default());
    }

    #[test]
    fn rootid_suffix() {
        let line = parse_line(b"gx/a cap_kill=ei [rootid=1000]", 41).unwrap();
        assert_eq!(line.rootid, Some(1000));
        assert_eq!(line.path, b"gx/a");
        assert!(matches!(
            parse_line(b"a =p [rootid=x]", 41),
            Err(GetcapLineError::BadRootid(_))
        ));
    }

    #[test]
    fn rejects_non_lines() {
        assert_eq!(
            parse_line(b"no text here", 41),
            Err(GetcapLineError::NoText)
        );
        assert_eq!(parse_line(b"=ep", 41), Err(GetcapLineError::NoText));
        assert!(matches!(
            parse_line(b"/x cap_bogus=ep", 41),
            Err(GetcapLineError::Text(_))
        ));
    }

    #[test]
    fn raw_names_and_signed_rootids() {
        let line = parse_line(b"d/a\\nb\xff c cap_kill=ei [rootid=-2147483648]", 41).unwrap();
        assert_eq!(line.path, b"d/a\\nb\xff c");
        assert_eq!(line.rootid, Some(1 << 31));
        let line = parse_line(b"x =ep [rootid=4294967294]", 41).unwrap();
        assert_eq!(line.rootid, Some(u32::MAX - 1));
        assert!(parse_line(b"x =ep [rootid=-2147483649]", 41).is_err());
    }
}
