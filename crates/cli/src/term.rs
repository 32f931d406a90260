//! Where output goes decides how it looks, the same way in every tool (as ls, ripgrep and fd do it): into
//! a pipe or a file, one record per line, never wrapped and never coloured, so `capls | grep NAME` finds
//! the whole row; on a terminal, fitted to its width (`COLUMNS` first, then the terminal's own size) and
//! coloured unless `--color never` or `NO_COLOR` says otherwise.
//!
//! A binary calls `init` once, after parsing its flags; the renderers then ask `width()` and `paint()`.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::sync::OnceLock;

/// `--color`: when to colour human output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless NO_COLOR is set to anything but the empty string.
    #[default]
    Auto,
    /// Always colour, also into a pipe.
    Always,
    /// Never colour.
    Never,
}

/// What the standard output is and how to write to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Term {
    /// Whether stdout is a terminal.
    pub tty: bool,
    /// The width to fit human output in; `None` into a pipe or a file: never wrap.
    pub width: Option<usize>,
    /// Whether to colour.
    pub color: bool,
}

/// The width used on a terminal whose size cannot be read.
pub const FALLBACK_WIDTH: usize = 80;
/// The narrowest width anything is fitted to: below it, tables overflow rather than break into words.
pub const MIN_WIDTH: usize = 40;

static TERM: OnceLock<Term> = OnceLock::new();

impl Term {
    /// Looks at the real stdout and environment.
    pub fn detect(choice: ColorChoice) -> Term {
        let tty = std::io::stdout().is_terminal();
        let columns = std::env::var("COLUMNS").ok();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Term::decide(
            tty,
            columns.as_deref(),
            terminal_columns(),
            no_color,
            choice,
        )
    }

    /// The decision itself, from what was observed.
    pub fn decide(
        tty: bool,
        columns_env: Option<&str>,
        terminal_columns: Option<usize>,
        no_color: bool,
        choice: ColorChoice,
    ) -> Term {
        let width = tty.then(|| {
            columns_env
                .and_then(|c| c.trim().parse::<usize>().ok())
                .filter(|&c| c > 0)
                .or(terminal_columns.filter(|&c| c > 0))
                .unwrap_or(FALLBACK_WIDTH)
                .max(MIN_WIDTH)
        });
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        Term { tty, width, color }
    }
}

/// The terminal's width in columns, from the kernel.
/// The width notes on stderr are fitted to: `None` when stderr is not a terminal (a log keeps each note
/// on one line); else `COLUMNS`, the terminal's own size, or the fallback, as for stdout.
pub fn stderr_width() -> Option<usize> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let columns = std::env::var("COLUMNS").ok();
    let own = rustix::termios::tcgetwinsize(std::io::stderr())
        .ok()
        .map(|size| usize::from(size.ws_col));
    Term::decide(true, columns.as_deref(), own, true, ColorChoice::Never).width
}

fn terminal_columns() -> Option<usize> {
    let size = rustix::termios::tcgetwinsize(std::io::stdout()).ok()?;
    Some(usize::from(size.ws_col))
}

/// Decides once for the whole run. Later calls keep the first decision.
pub fn init(choice: ColorChoice) -> Term {
    *TERM.get_or_init(|| Term::detect(choice))
}

/// The decision `init` made; before `init`, a pipe: no wrapping, no colour.
pub fn current() -> Term {
    TERM.get().copied().unwrap_or(Term {
        tty: false,
        width: None,
        color: false,
    })
}

/// The width human output fits in: the terminal's, or unbounded into a pipe.
pub fn width() -> usize {
    current().width.unwrap_or(usize::MAX)
}

/// Whether stdout is a terminal.
pub fn is_tty() -> bool {
    current().tty
}

/// What a piece of text means, which decides its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Root-equivalent capabilities and other things that give a system away: bold red.
    Danger,
    /// A finding of a check (`--audit`, drift, unneeded capabilities): yellow.
    Finding,
    /// Column headers: bold.
    Header,
    /// Secondary text (notes, `-` for nothing): dim.
    Dim,
}

impl Style {
    fn sgr(self) -> &'static str {
        match self {
            Style::Danger => "1;31",
            Style::Finding => "33",
            Style::Header => "1",
            Style::Dim => "2",
        }
    }
}

/// `text` in `style` when colouring, unchanged otherwise. The text must already be escaped: colour codes
/// are the only control bytes capkit ever writes.
pub fn paint(style: Style, text: &str) -> Cow<'_, str> {
    paint_if(current().color, style, text)
}

/// `paint` with the decision given.
pub fn paint_if(color: bool, style: Style, text: &str) -> Cow<'_, str> {
    if color && !text.is_empty() {
        Cow::Owned(format!("\x1b[{}m{text}\x1b[0m", style.sgr()))
    } else {
        Cow::Borrowed(text)
    }
}

/// How many columns `text` takes on a terminal, not counting colour codes.
pub fn display_width(text: &str) -> usize {
    visible(text).count()
}

/// `text` without its colour codes: what a terminal shows of it.
pub fn strip_sgr(text: &str) -> String {
    visible(text).collect()
}

/// The characters of `text` outside colour codes (`ESC [ … m`, the only control sequences capkit writes).
fn visible(text: &str) -> impl Iterator<Item = char> + '_ {
    let mut in_escape = false;
    text.chars().filter(move |&c| match (in_escape, c) {
        (false, '\x1b') => {
            in_escape = true;
            false
        }
        (true, 'm') => {
            in_escape = false;
            false
        }
        (true, _) => false,
        (false, _) => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipe_never_wraps_and_is_not_coloured() {
        let term = Term::decide(false, Some("50"), Some(120), false, ColorChoice::Auto);
        assert_eq!(term.width, None);
        assert!(!term.color);
        let forced = Term::decide(false, None, None, false, ColorChoice::Always);
        assert!(forced.color);
    }

    #[test]
    fn a_terminal_fits_columns_first_then_its_size() {
        let term = |env, size| Term::decide(true, env, size, false, ColorChoice::Auto).width;
        assert_eq!(term(Some("132"), Some(90)), Some(132));
        assert_eq!(term(None, Some(90)), Some(90));
        assert_eq!(term(Some("junk"), Some(90)), Some(90));
        assert_eq!(term(Some("0"), None), Some(FALLBACK_WIDTH));
        assert_eq!(term(Some("10"), None), Some(MIN_WIDTH));
    }

    #[test]
    fn no_color_and_never_turn_colour_off() {
        assert!(Term::decide(true, None, None, false, ColorChoice::Auto).color);
        assert!(!Term::decide(true, None, None, true, ColorChoice::Auto).color);
        assert!(!Term::decide(true, None, None, false, ColorChoice::Never).color);
        assert!(Term::decide(true, None, None, true, ColorChoice::Always).color);
    }

    #[test]
    fn paint_wraps_in_sgr_and_width_ignores_it() {
        let red = paint_if(true, Style::Danger, "sys_admin");
        assert_eq!(red, "\x1b[1;31msys_admin\x1b[0m");
        assert_eq!(display_width(&red), 9);
        assert_eq!(strip_sgr(&format!("a{red}b")), "asys_adminb");
        assert_eq!(paint_if(false, Style::Danger, "x"), "x");
    }
}
