//! The `#!` line as the kernel reads it (fs/binfmt_script.c:load_script), byte for byte, so that capsim
//! follows a script to the same interpreter execve does, or fails where execve fails.
//!
//! The kernel looks only at the first `BINPRM_BUF_SIZE` (256) bytes, zero-padded when the file is shorter.
//! The line ends at the first newline (searched with `strnchr`, which also stops at a NUL byte); when there
//! is none the interpreter must be followed by a space, tab or NUL inside the buffer, or it is taken as
//! truncated and refused. Trailing spaces and tabs are dropped, leading ones skipped; the interpreter runs
//! to the first space, tab or NUL, and the optional argument is the rest of the line (one argument, not
//! split further, up to a NUL). Only spaces and tabs are blanks: a carriage return is part of the name.
//! Paths are bytes: nothing here assumes UTF-8.

/// How much of the file the kernel reads to recognise a format (include/linux/binfmts.h).
pub const BINPRM_BUF_SIZE: usize = 256;

/// How many `#!` scripts may precede the final binary (fs/exec.c:exec_binprm allows depths 0..=5, so
/// the sixth script's interpreter fails with ELOOP).
pub const MAX_SCRIPTS: usize = 5;

/// What binfmt_script makes of a file's first bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shebang {
    /// Does not start with `#!`: another binary format's business.
    NotScript,
    /// The interpreter execve opens next (relative to the caller's working directory when relative;
    /// empty when a NUL follows the blanks, which open_exec refuses with ENOENT), and its argument.
    Interpreter { path: Vec<u8>, arg: Option<Vec<u8>> },
    /// binfmt_script refuses the file and, as no other format takes a `#!` file, execve fails with
    /// ENOEXEC.
    NoExec(NoExec),
}

/// Why binfmt_script refuses a `#!` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoExec {
    /// Nothing but spaces and tabs after `#!` (before the newline, or in the whole buffer).
    NoInterpreter,
    /// No newline, and no space, tab or NUL after the interpreter within the buffer: the kernel will not
    /// run an interpreter whose name may have been cut.
    Truncated,
}

impl NoExec {
    pub const fn describe(self) -> &'static str {
        match self {
            NoExec::NoInterpreter => "the #! line names no interpreter (only spaces and tabs follow #!)",
            NoExec::Truncated => {
                "the #! line has no newline within the first 256 bytes and the interpreter is not followed \
                 by a space, tab or NUL there, so the kernel takes its name as truncated"
            }
        }
    }
}

fn spacetab(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

/// The first index in `first..=last` that is not a space or tab.
fn next_non_spacetab(buf: &[u8], first: usize, last: usize) -> Option<usize> {
    (first..=last).find(|&i| !spacetab(buf[i]))
}

/// The first index in `first..=last` holding a space, tab or NUL.
fn next_terminator(buf: &[u8], first: usize, last: usize) -> Option<usize> {
    (first..=last).find(|&i| spacetab(buf[i]) || buf[i] == 0)
}

/// lib/string.c:strnchr: the first `byte` before the first NUL.
fn strnchr(buf: &[u8], byte: u8) -> Option<usize> {
    for (i, &b) in buf.iter().enumerate() {
        if b == byte {
            return Some(i);
        }
        if b == 0 {
            break;
        }
    }
    None
}

/// The bytes of a C string starting at `start`: up to the first NUL or `end`.
fn c_string(buf: &[u8], start: usize, end: usize) -> Vec<u8> {
    let bytes = &buf[start..end];
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    bytes[..len].to_vec()
}

/// Reads a file's first bytes (any length; only the first 256 count) as load_script does.
pub fn parse(head: &[u8]) -> Shebang {
    let mut buf = [0u8; BINPRM_BUF_SIZE];
    let len = head.len().min(BINPRM_BUF_SIZE);
    buf[..len].copy_from_slice(&head[..len]);
    if !buf.starts_with(b"#!") {
        return Shebang::NotScript;
    }
    let buf_end = BINPRM_BUF_SIZE - 1;
    let mut i_end = match strnchr(&buf, b'\n') {
        Some(newline) => newline,
        None => {
            let Some(first) = next_non_spacetab(&buf, 2, buf_end) else {
                return Shebang::NoExec(NoExec::NoInterpreter);
            };
            if next_terminator(&buf, first, buf_end).is_none() {
                return Shebang::NoExec(NoExec::Truncated);
            }
            buf_end
        }
    };
    // buf[1] is '!', so trimming never runs past the `#!`.
    while spacetab(buf[i_end - 1]) {
        i_end -= 1;
    }
    let i_name = match next_non_spacetab(&buf, 2, i_end) {
        Some(i) if i != i_end => i,
        _ => return Shebang::NoExec(NoExec::NoInterpreter),
    };
    let i_sep = next_terminator(&buf, i_name, i_end);
    let arg = match i_sep {
        Some(sep) if buf[sep] != 0 => next_non_spacetab(&buf, sep, i_end),
        _ => None,
    };
    // The kernel writes a NUL at i_end, and at i_sep when there is an argument.
    let name_end = match (arg, i_sep) {
        (Some(_), Some(sep)) => sep,
        _ => i_end,
    };
    Shebang::Interpreter {
        path: c_string(&buf, i_name, name_end),
        arg: arg.map(|start| c_string(&buf, start, i_end)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interp(path: &[u8], arg: Option<&[u8]>) -> Shebang {
        Shebang::Interpreter {
            path: path.to_vec(),
            arg: arg.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn ordinary_lines() {
        assert_eq!(parse(b"#!/bin/sh\n"), interp(b"/bin/sh", None));
        assert_eq!(parse(b"#!/bin/sh -e\n"), interp(b"/bin/sh", Some(b"-e")));
        assert_eq!(
            parse(b"#! \t/usr/bin/env python3 -u  \t\nrest"),
            interp(b"/usr/bin/env", Some(b"python3 -u"))
        );
        assert_eq!(parse(b"#!/bin/sh"), interp(b"/bin/sh", None));
        assert_eq!(parse(b"\x7fELF"), Shebang::NotScript);
        assert_eq!(parse(b"#"), Shebang::NotScript);
        assert_eq!(parse(b""), Shebang::NotScript);
    }

    #[test]
    fn names_are_bytes() {
        assert_eq!(parse(b"#!/tmp/\xff\xfe\n"), interp(b"/tmp/\xff\xfe", None));
        // Only space and tab separate: a carriage return belongs to the name.
        assert_eq!(parse(b"#!/bin/sh\r\n"), interp(b"/bin/sh\r", None));
        assert_eq!(parse(b"#!/bin/sh\x0b-x\n"), interp(b"/bin/sh\x0b-x", None));
    }

    #[test]
    fn blank_lines_are_enoexec() {
        for line in [&b"#!\n"[..], b"#! \n", b"#!\t \t\nx", b"#!     "] {
            assert_eq!(
                parse(line),
                // Without a newline the zero padding ends the blanks: an empty name, not ENOEXEC.
                if line.contains(&b'\n') {
                    Shebang::NoExec(NoExec::NoInterpreter)
                } else {
                    interp(b"", None)
                },
                "{line:?}"
            );
        }
        assert_eq!(parse(b"#!"), interp(b"", None));
        let mut blanks = b"#!".to_vec();
        blanks.resize(300, b' ');
        assert_eq!(parse(&blanks), Shebang::NoExec(NoExec::NoInterpreter));
    }

    #[test]
    fn nul_bytes_end_names_and_arguments() {
        assert_eq!(parse(b"#!/bin/sh\0-e\n"), interp(b"/bin/sh", None));
        assert_eq!(parse(b"#!/bin/sh -e\0x\n"), interp(b"/bin/sh", Some(b"-e")));
        assert_eq!(parse(b"#!\0/bin/sh\n"), interp(b"", None));
        assert_eq!(parse(b"#!  \0/bin/sh\n"), interp(b"", None));
    }

    #[test]
    fn the_256_byte_buffer() {
        // A name filling the whole buffer with no terminator: truncated.
        let mut long = b"#!/".to_vec();
        long.resize(400, b'a');
        assert_eq!(parse(&long), Shebang::NoExec(NoExec::Truncated));
        // The newline just past the buffer does not count either.
        let mut line = b"#!/".to_vec();
        line.resize(256, b'a');
        line.push(b'\n');
        assert_eq!(parse(&line), Shebang::NoExec(NoExec::Truncated));
        // A blank as the very last byte of the buffer ends the name: 253 bytes are kept.
        let mut edge = b"#!/".to_vec();
        edge.resize(255, b'a');
        edge.push(b' ');
        edge.extend_from_slice(b"more");
        assert_eq!(parse(&edge), interp(&edge[2..255], None));
        // A name ended inside the buffer with its argument cut by the buffer: the argument is shortened.
        let mut arg = b"#!/bin/sh ".to_vec();
        arg.resize(300, b'x');
        assert_eq!(parse(&arg), interp(b"/bin/sh", Some(&arg[10..255])));
        // A newline at the last byte: the whole line counts.
        let mut full = b"#!/".to_vec();
        full.resize(255, b'b');
        full.push(b'\n');
        assert_eq!(parse(&full), interp(&full[2..255], None));
    }
}
