//! The human form of a record: the input as given, then one labelled row per fact, aligned. A set is
//! written in the suite's long form (`cap_chown, cap_setuid (2 of 41)`, `full (all 41)`, `none`), or its
//! short form above an `--explain` list. Into a pipe or a file no row is ever wrapped, so `capdecode … |
//! grep caps` finds the whole set; on a terminal rows are wrapped to its width (`capcli::term::width`).

use capcli::summary;
use capcli::term::{self, display_width};
use capcli::{escape_bytes, escape_str};
use capcore::{Cap, CapSet};

use crate::decode::{seccomp_text, Decoded, Record};

/// How a record is shown.
#[derive(Clone, Copy)]
pub struct Style {
    /// Each capability on its own line with what it grants.
    pub explain: bool,
    /// Sets in libcap's text form instead of hex and names.
    pub text: bool,
    /// The capabilities the running kernel knows, which the long and short forms count against.
    pub known: u32,
    /// The width to fit rows in: the terminal's, or `usize::MAX` (never wrap).
    pub width: usize,
}

const LABEL: usize = 12;
const INDENT: usize = 2;
/// Where a row's value starts: after the indent, the label and a space.
const VALUE_AT: usize = INDENT + LABEL + 1;
/// Where names start on a set row: after the label and the 16 hex digits.
const NAMES_AT: usize = VALUE_AT + 16 + 2;
/// The widest word a set row holds: `cap_checkpoint_restore,` and a little room.
const WIDEST_NAME: usize = 24;
/// Where an `--explain` description starts, after the capability's name.
const DESCRIPTION_AT: usize = INDENT + 2 + WIDEST_NAME;
/// Where a securebit's effect starts, after its name and state.
const EFFECT_AT: usize = INDENT + 23 + 15;

struct Rows {
    out: String,
    style: Style,
}

impl Rows {
    /// A labelled row; a value too long for the width is wrapped at spaces under itself.
    fn plain(&mut self, label: &str, value: &str) {
        let value = wrap_words(value.split(' '), " ", VALUE_AT, VALUE_AT, self.style.width);
        self.row(label, &value);
    }

    /// A labelled row whose value is already laid out.
    fn row(&mut self, label: &str, value: &str) {
        self.out
            .push_str(&format!("{:INDENT$}{label:<LABEL$} {value}\n", ""));
    }

    /// A set: its hex, then its long form; with `--explain` its short form, then each capability on a
    /// line of its own with what it grants.
    fn set(&mut self, label: &str, set: CapSet) {
        let Style { known, width, .. } = self.style;
        self.out
            .push_str(&format!("{:INDENT$}{label:<LABEL$} {}  ", "", set.hex()));
        // Too narrow for names beside the hex: they start on the next line, under the value.
        let (column, indent) = if NAMES_AT + WIDEST_NAME <= width {
            (NAMES_AT, NAMES_AT)
        } else {
            trim_line_end(&mut self.out);
            self.out.push_str(&" ".repeat(VALUE_AT));
            (VALUE_AT, VALUE_AT)
        };
        if self.style.explain {
            // The short form's names are separated by commas only; a line may break after any of them.
            let short = summary::short(set, known);
            let pieces: Vec<&str> = short.split_inclusive(',').collect();
            self.out
                .push_str(&wrap_words(pieces, "", column, indent, width));
            self.out.push('\n');
            for cap in set.iter() {
                self.explained(cap);
            }
        } else {
            let words = summary::long_words(set, known);
            self.out
                .push_str(&wrap_words(words, " ", column, indent, width));
            self.out.push('\n');
        }
    }

    /// One capability of an `--explain` list: its name, in the danger colour when it gives root away, and
    /// what it grants.
    fn explained(&mut self, cap: Cap) {
        self.out.push_str(&" ".repeat(INDENT + 2));
        self.out.push_str(&summary::long_name(cap));
        beside(
            &mut self.out,
            cap.description(),
            DESCRIPTION_AT,
            self.style.width,
        );
        self.out.push('\n');
    }

    /// A single set: hex and names, or with --text the comma list libcap text takes.
    fn lone_set(&mut self, label: &str, set: CapSet) {
        if self.style.text && !self.style.explain {
            let list = comma_list(set, self.style);
            self.row(label, &list);
        } else {
            self.set(label, set);
        }
    }
}

/// `words` joined by `sep`, starting at `column`, wrapped before a word that would pass `width` onto a
/// line indented by `indent`. Into a pipe (`usize::MAX`) nothing is wrapped.
fn wrap_words<W: AsRef<str>>(
    words: impl IntoIterator<Item = W>,
    sep: &str,
    column: usize,
    indent: usize,
    width: usize,
) -> String {
    let mut out = String::new();
    if width == usize::MAX {
        // Into a pipe nothing wraps, so no word needs measuring: a tenth of a bulk decode's time.
        for (i, word) in words.into_iter().enumerate() {
            if i > 0 {
                out.push_str(sep);
            }
            out.push_str(word.as_ref());
        }
        return out;
    }
    capcli::render::wrap_into(&mut out, words, sep, column, indent, width);
    out
}

fn trim_line_end(out: &mut String) {
    let kept = out.trim_end_matches(' ').len();
    out.truncate(kept);
    out.push('\n');
}

/// The set as libcap's comma list (what `setcap LIST+ep` takes), wrapped after commas on a terminal;
/// `none` for the empty set, as the long form says it (libcap has no list for it).
fn comma_list(set: CapSet, style: Style) -> String {
    if set.is_empty() {
        return summary::long(set, style.known);
    }
    let names: Vec<String> = set
        .iter()
        .map(|c| summary::long_name(c).into_owned())
        .collect();
    wrap_words(names, ",", VALUE_AT, VALUE_AT, style.width)
}

pub fn render(record: &Record, style: Style) -> String {
    // A status block is named by grep's file name when it has one; its lines are shown decoded below.
    let header = match &record.decoded {
        Decoded::Status(s) => s.source.as_deref().map_or("status".to_string(), escape_str),
        _ => escape_bytes(&record.input.0),
    };
    let mut rows = Rows {
        out: format!("{}\n", term::paint(term::Style::Header, &header)),
        style,
    };
    rows.plain("read as", &record.read_as);
    match &record.decoded {
        Decoded::Mask { set } | Decoded::Names { set } => rows.lone_set("caps", *set),
        Decoded::Libcap {
            text,
            effective,
            inheritable,
            permitted,
        } => {
            rows.plain("text", text);
            if !style.text || style.explain {
                rows.set("effective", *effective);
                rows.set("inheritable", *inheritable);
                rows.set("permitted", *permitted);
            }
        }
        Decoded::Xattr(x) => {
            let size = capcli::words::counted(x.size as u64, "byte");
            rows.plain("version", &format!("v{} ({size})", x.version));
            rows.plain(
                "effective",
                if x.effective_flag {
                    "yes (raise permitted at exec)"
                } else {
                    "no"
                },
            );
            if !style.text || style.explain {
                rows.set("permitted", x.permitted);
                rows.set("inheritable", x.inheritable);
            }
            if let Some(rootid) = x.rootid {
                rows.plain("rootid", &rootid.to_string());
            }
            match (&x.getcap, &x.getxattr_error) {
                (Some(text), _) => rows.plain("getcap", text),
                (None, Some(err)) => rows.plain("getcap", &format!("fails: {err}")),
                (None, None) => {}
            }
            let exec = match &x.exec.reason {
                Some(reason) => format!("{}: {}", x.exec.outcome, escape_str(reason)),
                None => x.exec.outcome.to_string(),
            };
            rows.plain("exec", &exec);
        }
        Decoded::Status(s) => {
            if let Some(text) = &s.text {
                rows.plain("text", text);
            }
            let sets = [
                ("inheritable", s.status.inheritable),
                ("permitted", s.status.permitted),
                ("effective", s.status.effective),
                ("bounding", s.status.bounding),
                ("ambient", s.status.ambient),
            ];
            for (label, set) in sets {
                let Some(set) = set else { continue };
                let in_text =
                    matches!(label, "inheritable" | "permitted" | "effective") && s.text.is_some();
                if !(in_text && style.text && !style.explain) {
                    rows.lone_set(label, set);
                }
            }
            if let Some(nnp) = s.status.no_new_privs {
                rows.plain("no_new_privs", if nnp { "yes" } else { "no" });
            }
            if let Some(mode) = s.status.seccomp {
                rows.plain("seccomp", &seccomp_text(mode, s.status.seccomp_filters));
            } else if let Some(n) = s.status.seccomp_filters {
                rows.plain("seccomp", &capcli::words::counted(n, "filter"));
            }
        }
        Decoded::Securebits(b) => {
            rows.plain("value", &format!("{} ({})", b.value.hex(), b.value.bits()));
            for flag in &b.flags {
                let state = match (flag.set, flag.locked) {
                    (true, true) => "set, locked",
                    (true, false) => "set",
                    (false, true) => "clear, locked",
                    (false, false) => "clear",
                };
                let line = format!("{:INDENT$}{:<22} {state:<15}", "", flag.name);
                rows.out.push_str(line.trim_end());
                if style.explain {
                    beside(&mut rows.out, flag.effect, EFFECT_AT, style.width);
                }
                rows.out.push('\n');
            }
        }
    }
    rows.out
}

/// The fewest columns a text beside a name is given before it moves below the name instead.
const BESIDE_MIN: usize = 30;

/// Appends `text` to the line `out` ends with, starting at column `at` and wrapped under itself; on a
/// terminal too narrow for that, on the lines below, indented a little deeper than the line.
fn beside(out: &mut String, text: &str, at: usize, width: usize) {
    let line = out.rsplit('\n').next().unwrap_or_default();
    let used = display_width(line);
    let (column, indent) = if at.saturating_add(BESIDE_MIN) <= width && used < at {
        out.push_str(&" ".repeat(at - used));
        (at, at)
    } else {
        let indent = INDENT + 4;
        out.push('\n');
        out.push_str(&" ".repeat(indent));
        (indent, indent)
    };
    out.push_str(&wrap_words(text.split(' '), " ", column, indent, width));
}
