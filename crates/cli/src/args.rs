//! Command-line parsing with capkit's error form. clap's own errors are several lines (`error: …`, a tip,
//! a usage line that may name an unrelated flag, `For more information, try '--help'.`) and do not name
//! the tool; every other capkit error is one line, `tool: what: why`. So clap's error is turned into that
//! line here, once for every binary: its first line, its tips, and where to read more.

use std::io::Write;

use clap::error::ErrorKind;

/// Parses the command line into `T`, or ends the program: help and version as clap prints them (exit 0),
/// an error as one line on stderr naming `prog` (exit 2).
pub fn parse<T: clap::Parser>(prog: &str) -> T {
    let matches = matches(prog, T::command());
    match T::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(err) => fail(prog, &err),
    }
}

/// The matches of `command` against the command line, or the end of the program as [`parse`] ends it.
pub fn matches(prog: &str, command: clap::Command) -> clap::ArgMatches {
    match command.try_get_matches() {
        Ok(matches) => matches,
        Err(err) => fail(prog, &err),
    }
}

fn fail(prog: &str, err: &clap::Error) -> ! {
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        err.exit();
    }
    let line = one_line(prog, &err.render().to_string());
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
    let _ = stderr.flush();
    std::process::exit(i32::from(crate::EXIT_FAILURE));
}

/// clap's rendered error as one line: `prog: MESSAGE (TIP; TIP); see 'prog --help'`, every outside byte
/// escaped (the message quotes the argument as it was typed).
fn one_line(prog: &str, rendered: &str) -> String {
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid command line");
    let message = first.strip_prefix("error: ").unwrap_or(first);
    // What clap adds after its message (the valid values, tips) is kept; the usage line is not: it names
    // whichever flag clap guessed was meant.
    let tips: Vec<&str> = lines
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(|l| l.strip_prefix("tip: ").unwrap_or(l))
        .collect();
    let mut out = format!("{prog}: {}", crate::escape_str(message));
    if !tips.is_empty() {
        out.push_str(&format!(" ({})", crate::escape_str(&tips.join("; "))));
    }
    out.push_str(&format!("; see '{prog} --help'"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_errors_become_one_line() {
        let rendered = "error: unexpected argument '--bogus' found\n\n  tip: a similar argument exists: \
                        '--groups'\n\nUsage: capsim --groups <G,...> [FILE]\n\nFor more information, try \
                        '--help'.\n";
        assert_eq!(
            one_line("capsim", rendered),
            "capsim: unexpected argument '--bogus' found (a similar argument exists: '--groups'); see \
             'capsim --help'"
        );
        assert_eq!(
            one_line("capls", "error: a value is required for '--cap <CAP>'\n"),
            "capls: a value is required for '--cap <CAP>'; see 'capls --help'"
        );
        assert_eq!(
            one_line(
                "capnet",
                "error: invalid value 'x' for '--proto <PROTO>'\n  [possible values: tcp, udp]\n\nFor \
                 more information, try '--help'.\n"
            ),
            "capnet: invalid value 'x' for '--proto <PROTO>' ([possible values: tcp, udp]); see 'capnet \
             --help'"
        );
    }

    #[test]
    fn control_bytes_in_the_argument_are_escaped() {
        let line = one_line("capnet", "error: unexpected argument '\x1b[2J' found\n");
        assert!(!line.contains('\x1b'), "{line}");
    }
}
