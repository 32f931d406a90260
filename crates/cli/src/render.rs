//! Human output helpers shared by the binaries: lists of capability names wrapped to the terminal width.

use capcore::CapSet;

/// The width every human output fits in.
pub const WIDTH: usize = 100;

/// Wraps `words` joined by `sep` into lines no wider than `width`; lines after the first start with
/// `indent` spaces, and the first is assumed to start at column `indent` too.
pub fn wrap(words: &[String], sep: &str, indent: usize, width: usize) -> String {
    let mut out = String::new();
    let mut column = indent;
    for (i, word) in words.iter().enumerate() {
        let piece = if i + 1 < words.len() {
            format!("{word}{}", sep.trim_end())
        } else {
            word.clone()
        };
        if i > 0 {
            if column + 1 + piece.len() > width {
                out.push('\n');
                out.push_str(&" ".repeat(indent));
                column = indent;
            } else {
                out.push(' ');
                column += 1;
            }
        }
        out.push_str(&piece);
        column += piece.len();
    }
    out
}

/// A set's names, comma separated and wrapped, or `(none)` for the empty set.
pub fn set_names(set: CapSet, indent: usize) -> String {
    if set.is_empty() {
        return "(none)".to_string();
    }
    wrap(&set.names(), ", ", indent, WIDTH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_the_width() {
        let text = set_names(CapSet::first_n(41), 10);
        for (i, line) in text.lines().enumerate() {
            let start = if i == 0 { 10 } else { 0 };
            assert!(start + line.len() <= WIDTH, "{line}");
        }
        assert!(text.lines().count() > 3);
        assert_eq!(
            set_names(CapSet::from_bits(0x2001), 0),
            "cap_chown, cap_net_raw"
        );
        assert_eq!(set_names(CapSet::EMPTY, 0), "(none)");
    }
}
