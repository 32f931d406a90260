//! Where the report goes, decided before COMMAND runs. COMMAND's standard output is the user's, so the
//! report never shares it: it goes to `-o FILE`, else to standard error as strace's and time's do (written
//! once COMMAND and all it started have ended, so the two never interleave). A running target prints
//! nothing of its own, so its report goes to standard output. How the report looks (width, colour)
//! follows the stream it goes to, not captrace's standard output.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;

use capcli::term::{ColorChoice, Term};

/// The open destination of the report and how to write into it.
pub struct Sink {
    pub out: BufWriter<Box<dyn Write>>,
    pub term: Term,
}

/// Opens the report's destination: `file` (made or truncated now, so that an unwritable one stops
/// captrace before COMMAND runs), else standard error when captrace runs COMMAND, else standard output.
pub fn open(file: Option<&Path>, runs_command: bool, color: ColorChoice) -> io::Result<Sink> {
    let (out, tty, columns): (Box<dyn Write>, bool, Option<usize>) = match file {
        Some(path) => {
            let file = File::create(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            let tty = file.is_terminal();
            let columns = tty.then(|| columns_of(&file)).flatten();
            (Box::new(file), tty, columns)
        }
        None if runs_command => {
            let tty = io::stderr().is_terminal();
            (Box::new(io::stderr()), tty, columns_of(io::stderr()))
        }
        None => {
            let tty = io::stdout().is_terminal();
            (Box::new(io::stdout()), tty, columns_of(io::stdout()))
        }
    };
    let columns_env = std::env::var("COLUMNS").ok();
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let term = Term::decide(tty, columns_env.as_deref(), columns, no_color, color);
    Ok(Sink {
        out: BufWriter::with_capacity(64 * 1024, out),
        term,
    })
}

/// A terminal's width in columns, from the kernel.
fn columns_of(fd: impl std::os::fd::AsFd) -> Option<usize> {
    let size = rustix::termios::tcgetwinsize(fd).ok()?;
    Some(usize::from(size.ws_col))
}
