//! Shell completions and man pages, generated from each binary's clap definition so that they can never
//! drift from its flags. `TOOL --generate bash|zsh|fish|man`, as the whole command line, prints one;
//! `completions/` and `man/` hold what they print, and a test keeps them current.
//!
//! The flag is handled before clap parses anything and is not part of any clap definition: clap_complete
//! lists hidden flags too, and a packaging switch has no place in users' completions or help.

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;

use clap::ValueEnum;

/// What `--generate` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Generate {
    Bash,
    Zsh,
    Fish,
    /// A roff man page for section 1.
    Man,
}

/// Handles `TOOL --generate KIND` (also the older `--generate-completions SHELL`) when that is the whole
/// command line; `None` for any other command line, which is then the tool's to parse.
pub fn intercept(prog: &str, command: impl FnOnce() -> clap::Command) -> Option<ExitCode> {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let kind = requested(&args)?;
    let code = match kind.and_then(|kind| print(kind, command()).map_err(|e| e.to_string())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            let _ = writeln!(io::stderr(), "{prog}: --generate: {why}");
            ExitCode::from(crate::EXIT_FAILURE)
        }
    };
    Some(code)
}

/// The kind asked for by `args` (the arguments after the program name), if they ask for one.
fn requested(args: &[OsString]) -> Option<Result<Generate, String>> {
    let [flag, kind] = args else {
        return None;
    };
    if flag != "--generate" && flag != "--generate-completions" {
        return None;
    }
    let kind = kind.to_string_lossy();
    Some(Generate::from_str(&kind, true).map_err(|_| {
        format!(
            "'{}' is not one of bash, zsh, fish, man",
            crate::escape_str(&kind)
        )
    }))
}

/// Writes the completion script or man page for `cmd` to stdout.
pub fn print(kind: Generate, mut cmd: clap::Command) -> io::Result<()> {
    let name = cmd.get_name().to_string();
    let mut out = Vec::new();
    let shell = match kind {
        Generate::Bash => clap_complete::Shell::Bash,
        Generate::Zsh => clap_complete::Shell::Zsh,
        Generate::Fish => clap_complete::Shell::Fish,
        Generate::Man => return write_out(&crate::manpage::render(cmd)?),
    };
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    let script = crate::complete::extend(shell, &cmd, String::from_utf8_lossy(&out).into_owned());
    write_out(script.as_bytes())
}

fn write_out(bytes: &[u8]) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn only_the_whole_command_line_asks() {
        assert_eq!(
            requested(&args(&["--generate", "man"])),
            Some(Ok(Generate::Man))
        );
        assert_eq!(
            requested(&args(&["--generate-completions", "BASH"])),
            Some(Ok(Generate::Bash))
        );
        assert!(matches!(
            requested(&args(&["--generate", "tcsh"])),
            Some(Err(_))
        ));
        assert_eq!(requested(&args(&["--json", "--generate", "man"])), None);
        assert_eq!(requested(&args(&["--generate"])), None);
        assert_eq!(requested(&args(&[])), None);
    }
}
