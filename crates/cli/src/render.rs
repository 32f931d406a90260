//! Human output helpers shared by the binaries: lists of capability names wrapped to the terminal width.

use std::borrow::Cow;

use capcore::{Cap, CapSet};

/// Appends `words` to `out`, joined by `sep` (whose trailing space becomes the break between words),
/// wrapping before a word that would pass `width`. `column` is where `out` currently ends; continuation
/// lines start with `indent` spaces. Returns the column where the text ends.
pub fn wrap_into<W: AsRef<str>>(
    out: &mut String,
    words: impl IntoIterator<Item = W>,
    sep: &str,
    mut column: usize,
    indent: usize,
    width: usize,
) -> usize {
    let glue = sep.trim_end();
    let space = sep.len() > glue.len();
    let mut words = words.into_iter().peekable();
    let mut first = true;
    while let Some(word) = words.next() {
        let word = word.as_ref();
        let piece_len = crate::term::display_width(word)
            + if words.peek().is_some() {
                glue.len()
            } else {
                0
            };
        if !first {
            if column + usize::from(space) + piece_len > width {
                out.push('\n');
                out.extend(std::iter::repeat_n(' ', indent));
                column = indent;
            } else if space {
                out.push(' ');
                column += 1;
            }
        }
        out.push_str(word);
        if words.peek().is_some() {
            out.push_str(glue);
        }
        column += piece_len;
        first = false;
    }
    column
}

/// `wrap_into` for owned words, starting at column `indent`.
pub fn wrap(words: &[String], sep: &str, indent: usize, width: usize) -> String {
    let mut out = String::new();
    wrap_into(
        &mut out,
        words.iter().map(String::as_str),
        sep,
        indent,
        indent,
        width,
    );
    out
}

/// A capability's name, borrowed when libcap names it.
pub fn cap_name(cap: Cap) -> Cow<'static, str> {
    match cap.name() {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(cap.bit().to_string()),
    }
}

/// Appends a set's names, comma separated and wrapped, followed by ` (N)` for more than one member, or
/// `(none)` for the empty set.
pub fn push_set_names(out: &mut String, set: CapSet, column: usize, indent: usize) {
    if set.is_empty() {
        out.push_str("(none)");
        return;
    }
    let names: Vec<Cow<'static, str>> = set.iter().map(cap_name).collect();
    let end = wrap_into(
        out,
        names.iter().map(|n| n.as_ref()),
        ", ",
        column,
        indent,
        crate::term::width(),
    );
    if set.len() > 1 {
        let count = format!("({})", set.len());
        if end.saturating_add(1 + count.len()) > crate::term::width() {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', indent));
        } else {
            out.push(' ');
        }
        out.push_str(&count);
    }
}

/// A set's names, comma separated and wrapped, or `(none)` for the empty set.
pub fn set_names(set: CapSet, indent: usize) -> String {
    let mut out = String::new();
    if set.is_empty() {
        out.push_str("(none)");
    } else {
        let names: Vec<Cow<'static, str>> = set.iter().map(cap_name).collect();
        wrap_into(
            &mut out,
            names.iter().map(|n| n.as_ref()),
            ", ",
            indent,
            indent,
            crate::term::width(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_the_width() {
        let names: Vec<String> = CapSet::first_n(41)
            .iter()
            .map(|c| cap_name(c).into_owned())
            .collect();
        let text = wrap(&names, ", ", 10, 100);
        for (i, line) in text.lines().enumerate() {
            let start = if i == 0 { 10 } else { 0 };
            assert!(start + line.len() <= 100, "{line}");
        }
        assert!(text.lines().count() > 3);
        // Into a pipe (the terminal was never set up) nothing wraps.
        assert_eq!(set_names(CapSet::first_n(41), 10).lines().count(), 1);
        assert_eq!(
            set_names(CapSet::from_bits(0x2001), 0),
            "cap_chown, cap_net_raw"
        );
        assert_eq!(set_names(CapSet::EMPTY, 0), "(none)");
    }

    #[test]
    fn counts_follow_the_names() {
        let mut out = String::new();
        push_set_names(&mut out, CapSet::from_bits(0x2001 | 1 << 41), 0, 0);
        assert_eq!(out, "cap_chown, cap_net_raw, 41 (3)");
        let mut comma = String::new();
        wrap_into(&mut comma, ["a", "b"], ",", 0, 0, 100);
        assert_eq!(comma, "a,b");
    }
}
