//! A whole /proc/PID/task/TID/status file as capkit needs it: the task's name, ids and parent, its thread
//! count, and the capability lines that `status` parses.
//!
//! The file is taken as bytes, because the `Name:` line carries the task's comm, which any process can set
//! to any bytes (PR_SET_NAME), including invalid UTF-8. The kernel escapes only two bytes in it
//! (`seq_escape_str(…, ESCAPE_SPACE | ESCAPE_SPECIAL, "\n\\")`: a newline becomes `\n` and a backslash
//! `\\`), so every line stays one line and `unescape_name` gives back the exact comm.

use std::fmt;

use crate::status::{parse_line, CapStatus, StatusError};

/// Real, effective, saved and filesystem ids, as on the `Uid:` and `Gid:` lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Ids {
    pub real: u32,
    pub effective: u32,
    pub saved: u32,
    pub fs: u32,
}

/// What capkit reads from one task's status file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskStatus {
    /// The comm, unescaped: at most 15 bytes, any of them.
    pub name: Vec<u8>,
    /// Thread-group id: the process this task belongs to.
    pub tgid: u32,
    pub pid: u32,
    pub ppid: u32,
    pub uids: Ids,
    pub gids: Ids,
    /// Threads in the task's thread group.
    pub threads: u32,
    pub caps: CapStatus,
}

/// A line that is present but malformed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcStatusError {
    Caps(StatusError),
    Number { label: &'static str, value: String },
    Missing(&'static str),
}

impl fmt::Display for ProcStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcStatusError::Caps(err) => err.fmt(f),
            ProcStatusError::Number { label, value } => {
                write!(f, "{label}: expected numbers, found '{value}'")
            }
            ProcStatusError::Missing(label) => write!(f, "no {label} line"),
        }
    }
}

impl std::error::Error for ProcStatusError {}

/// The labels `TaskStatus::parse` reads.
const WANTED: [&[u8]; 14] = [
    b"Tgid",
    b"Pid",
    b"PPid",
    b"Threads",
    b"Uid",
    b"Gid",
    b"CapInh",
    b"CapPrm",
    b"CapEff",
    b"CapBnd",
    b"CapAmb",
    b"NoNewPrivs",
    b"Seccomp",
    b"Seccomp_filters",
];

impl TaskStatus {
    /// Parses a status file. `Name`, `Pid`, `Uid` and the capability lines must be there; the rest defaults.
    pub fn parse(bytes: &[u8]) -> Result<TaskStatus, ProcStatusError> {
        let mut status = TaskStatus::default();
        let mut seen_name = false;
        let mut seen_pid = false;
        let mut seen_uid = false;
        for line in bytes.split(|b| *b == b'\n') {
            if let Some(name) = line.strip_prefix(b"Name:\t") {
                status.name = unescape_name(name);
                seen_name = true;
                continue;
            }
            // Most of the ~60 lines are of no interest: look at the label before decoding the line.
            let Some(colon) = line.iter().position(|b| *b == b':') else {
                continue;
            };
            if !WANTED.contains(&&line[..colon]) {
                continue;
            }
            let Ok(line) = std::str::from_utf8(line) else {
                continue;
            };
            let (label, value) = line.split_at(colon);
            let value = &value[1..];
            match label {
                "Tgid" => status.tgid = number("Tgid", value)?,
                "Pid" => {
                    status.pid = number("Pid", value)?;
                    seen_pid = true;
                }
                "PPid" => status.ppid = number("PPid", value)?,
                "Threads" => status.threads = number("Threads", value)?,
                "Uid" => {
                    status.uids = ids("Uid", value)?;
                    seen_uid = true;
                }
                "Gid" => status.gids = ids("Gid", value)?,
                _ => {
                    if let Some(field) = parse_line(line) {
                        status.caps.apply(field.map_err(ProcStatusError::Caps)?);
                    }
                }
            }
        }
        let required = [
            ("Name", seen_name),
            ("Pid", seen_pid),
            ("Uid", seen_uid),
            ("CapPrm", status.caps.permitted.is_some()),
            ("CapEff", status.caps.effective.is_some()),
        ];
        if let Some((label, _)) = required.iter().find(|(_, seen)| !seen) {
            return Err(ProcStatusError::Missing(label));
        }
        Ok(status)
    }
}

/// Undoes the kernel's escaping of the `Name:` value: `\n` is a newline and `\\` a backslash; any other
/// byte, and a backslash before anything else, is itself.
pub fn unescape_name(escaped: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(escaped.len());
    let mut bytes = escaped.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        if b == b'\\' {
            match bytes.peek() {
                Some(b'n') => {
                    out.push(b'\n');
                    bytes.next();
                    continue;
                }
                Some(b'\\') => {
                    out.push(b'\\');
                    bytes.next();
                    continue;
                }
                _ => {}
            }
        }
        out.push(b);
    }
    out
}

fn number(label: &'static str, value: &str) -> Result<u32, ProcStatusError> {
    value.trim().parse().map_err(|_| ProcStatusError::Number {
        label,
        value: value.trim().to_string(),
    })
}

fn ids(label: &'static str, value: &str) -> Result<Ids, ProcStatusError> {
    let bad = || ProcStatusError::Number {
        label,
        value: value.trim().to_string(),
    };
    let mut numbers = value.split_whitespace().map(|v| v.parse::<u32>());
    let mut next = || numbers.next().and_then(Result::ok).ok_or_else(bad);
    Ok(Ids {
        real: next()?,
        effective: next()?,
        saved: next()?,
        fs: next()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::set::CapSet;
    use crate::status::SeccompMode;
    use proptest::prelude::*;

    const STATUS: &[u8] = b"Name:\tevil\\n\x1b[31m\\\\\xff\nUmask:\t0022\nState:\tS (sleeping)\n\
        Tgid:\t4242\nNgid:\t0\nPid:\t4243\nPPid:\t1\nTracerPid:\t0\nUid:\t1000\t0\t1001\t0\n\
        Gid:\t5\t6\t7\t8\nThreads:\t2\nCapInh:\t0000000000000000\nCapPrm:\t0000000000002000\n\
        CapEff:\t0000000000000000\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n\
        NoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t3\n";

    #[test]
    fn parses_every_field_capkit_uses() {
        let status = TaskStatus::parse(STATUS).unwrap();
        assert_eq!(status.name, b"evil\n\x1b[31m\\\xff");
        assert_eq!((status.tgid, status.pid, status.ppid), (4242, 4243, 1));
        assert_eq!(
            status.uids,
            Ids {
                real: 1000,
                effective: 0,
                saved: 1001,
                fs: 0
            }
        );
        assert_eq!(status.gids.fs, 8);
        assert_eq!(status.threads, 2);
        assert_eq!(status.caps.permitted, Some(CapSet::from_bits(0x2000)));
        assert_eq!(status.caps.effective, Some(CapSet::EMPTY));
        assert_eq!(status.caps.no_new_privs, Some(true));
        assert_eq!(status.caps.seccomp, Some(SeccompMode::Filter));
        assert_eq!(status.caps.seccomp_filters, Some(3));
    }

    #[test]
    fn unescapes_only_what_the_kernel_escapes() {
        assert_eq!(unescape_name(b"a\\nb\\\\c"), b"a\nb\\c");
        assert_eq!(unescape_name(b"trail\\"), b"trail\\");
        assert_eq!(unescape_name(b"\\t\\x41"), b"\\t\\x41");
    }

    #[test]
    fn malformed_or_missing_lines_are_errors() {
        assert_eq!(
            TaskStatus::parse(b"Name:\tx\nPid:\t1\n"),
            Err(ProcStatusError::Missing("Uid"))
        );
        let bad_uid = b"Name:\tx\nPid:\t1\nUid:\t0\t0\n";
        assert!(matches!(
            TaskStatus::parse(bad_uid),
            Err(ProcStatusError::Number { label: "Uid", .. })
        ));
        let bad_cap = b"Name:\tx\nPid:\t1\nUid:\t0 0 0 0\nCapPrm:\tzz\n";
        assert!(matches!(
            TaskStatus::parse(bad_cap),
            Err(ProcStatusError::Caps(_))
        ));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = TaskStatus::parse(&bytes);
        }

        #[test]
        fn unescape_inverts_the_kernel_escape(name in proptest::collection::vec(any::<u8>(), 0..16)) {
            let mut escaped = Vec::new();
            for b in &name {
                match b {
                    b'\n' => escaped.extend_from_slice(b"\\n"),
                    b'\\' => escaped.extend_from_slice(b"\\\\"),
                    b => escaped.push(*b),
                }
            }
            prop_assert_eq!(unescape_name(&escaped), name);
        }
    }
}
