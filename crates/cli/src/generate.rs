//! Shell completions and man pages, generated from each binary's clap definition so that they can never
//! drift from its flags. Every binary has the hidden `--generate KIND`; `completions/` and `man/` hold
//! what it prints, and a test keeps them current.

use std::io::{self, Write};

/// What `--generate` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Generate {
    Bash,
    Zsh,
    Fish,
    /// A roff man page for section 1.
    Man,
}

/// Writes the completion script or man page for `cmd` to stdout.
pub fn print(kind: Generate, mut cmd: clap::Command) -> io::Result<()> {
    let name = cmd.get_name().to_string();
    let mut out = Vec::new();
    match kind {
        Generate::Bash => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, name, &mut out)
        }
        Generate::Zsh => {
            clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, name, &mut out)
        }
        Generate::Fish => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, name, &mut out)
        }
        Generate::Man => clap_mangen::Man::new(cmd).render(&mut out)?,
    }
    let mut stdout = io::stdout().lock();
    stdout.write_all(&out)?;
    stdout.flush()
}
