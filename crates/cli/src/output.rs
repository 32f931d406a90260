//! Writing results and ending the program: buffered stdout, NDJSON records, one-line errors on stderr,
//! and exit codes decided in one place. A closed pipe (`capls | head`) is a normal way to stop reading, so
//! it ends the program quietly with success, as ripgrep does.

use std::error::Error;
use std::io::{self, BufWriter, Stdout, Write};
use std::process::ExitCode;

use serde::Serialize;

/// Everything asked for was done.
pub const EXIT_OK: u8 = 0;
/// A check asked for on the command line failed: findings, drift, an input that did not decode.
pub const EXIT_FINDINGS: u8 = 1;
/// A usage error or a fatal error.
pub const EXIT_FAILURE: u8 = 2;

/// Buffered standard output.
pub struct Output {
    out: BufWriter<Stdout>,
}

impl Default for Output {
    fn default() -> Self {
        Output::new()
    }
}

impl Output {
    pub fn new() -> Output {
        Output {
            out: BufWriter::with_capacity(64 * 1024, io::stdout()),
        }
    }

    /// Writes one line of text; the text must already be escaped.
    pub fn line(&mut self, text: &str) -> io::Result<()> {
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")
    }

    /// Writes one NDJSON record.
    pub fn json<T: Serialize>(&mut self, record: &T) -> io::Result<()> {
        crate::json::to_writer(&mut self.out, record)?;
        self.out.write_all(b"\n")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Prints a one-line warning about one thing (a path, a pid, an input; already escaped) on stderr. The
/// cause is escaped here, because causes quote their input.
pub fn warn(prog: &str, thing: &str, cause: &dyn std::fmt::Display) {
    let cause = crate::escape_str(&cause.to_string());
    let line = format!("{prog}: {thing}: {cause}");
    // On a terminal a long note is fitted to its width, between words; into a file it stays one line.
    let text = match crate::term::stderr_width() {
        Some(width) => {
            let mut out = String::new();
            crate::render::wrap_into(&mut out, line.split(' '), " ", 0, 2, width);
            out
        }
        None => line,
    };
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// Runs a binary's main function and turns its result into the exit code: its own code on success,
/// 0 for a broken pipe, 2 with a one-line message for any other error.
pub fn run(prog: &str, main: impl FnOnce() -> Result<u8, Box<dyn Error>>) -> ExitCode {
    match main() {
        Ok(code) => ExitCode::from(code),
        Err(err) if is_broken_pipe(err.as_ref()) => ExitCode::from(EXIT_OK),
        Err(err) => {
            let message = crate::escape_str(&err.to_string());
            let _ = writeln!(io::stderr().lock(), "{prog}: {message}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn is_broken_pipe(err: &(dyn Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(io_err) = err.downcast_ref::<io::Error>() {
            if io_err.kind() == io::ErrorKind::BrokenPipe {
                return true;
            }
        }
        current = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_pipe_is_found_in_the_chain() {
        let err: Box<dyn Error> = Box::new(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(err.as_ref()));
        let err: Box<dyn Error> = "other".into();
        assert!(!is_broken_pipe(err.as_ref()));
    }
}
