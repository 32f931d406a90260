//! The human form of a record: the input as given, then one labelled row per fact, aligned and wrapped
//! to 100 columns.

use capcli::render::{cap_name, push_set_names, wrap, wrap_into, WIDTH};
use capcli::{escape_bytes, escape_str};
use capcore::CapSet;

use crate::decode::{seccomp_text, Decoded, Record};

/// How a record is shown.
#[derive(Clone, Copy)]
pub struct Style {
    /// Each capability on its own line with what it grants.
    pub explain: bool,
    /// Sets in libcap's text form instead of hex and names.
    pub text: bool,
}

const LABEL: usize = 12;
const INDENT: usize = 2;
/// Where names start on a set row: after the label and the 16 hex digits.
const NAMES_AT: usize = INDENT + LABEL + 1 + 16 + 2;

struct Rows {
    out: String,
    style: Style,
}

impl Rows {
    /// A labelled row; a value too long for one line is wrapped at spaces under itself.
    fn plain(&mut self, label: &str, value: &str) {
        self.row(label, &wrap_words(value, INDENT + LABEL + 1));
    }

    /// A labelled row whose value is already laid out.
    fn row(&mut self, label: &str, value: &str) {
        self.out
            .push_str(&format!("{:INDENT$}{label:<LABEL$} {value}\n", ""));
    }

    fn set(&mut self, label: &str, set: CapSet) {
        let head = format!("{:INDENT$}{label:<LABEL$} {}  ", "", set.hex());
        self.out.push_str(&head);
        if self.style.explain {
            if set.is_empty() {
                self.out.push_str("(none)");
            } else if set.len() > 1 {
                self.out.push_str(&format!("({})", set.len()));
            }
            trim_line_end(&mut self.out);
            for cap in set.iter() {
                self.out.push_str(&format!(
                    "{:width$}{:<24}{}\n",
                    "",
                    cap_name(cap),
                    cap.description(),
                    width = INDENT + 2
                ));
            }
            return;
        }
        push_set_names(&mut self.out, set, NAMES_AT, NAMES_AT);
        self.out.push('\n');
    }

    /// A single set: hex and names, or with --text the comma list libcap text takes.
    fn lone_set(&mut self, label: &str, set: CapSet) {
        if self.style.text && !self.style.explain {
            self.row(label, &comma_list(set));
        } else {
            self.set(label, set);
        }
    }
}

fn wrap_words(text: &str, indent: usize) -> String {
    if indent + text.len() <= WIDTH {
        return text.to_string();
    }
    let words: Vec<String> = text.split(' ').map(str::to_string).collect();
    wrap(&words, " ", indent, WIDTH)
}

fn trim_line_end(out: &mut String) {
    let kept = out.trim_end_matches(' ').len();
    out.truncate(kept);
    out.push('\n');
}

/// The set as libcap's comma list (what `setcap LIST+ep` takes), wrapped after commas.
fn comma_list(set: CapSet) -> String {
    if set.is_empty() {
        return "(none)".to_string();
    }
    let names: Vec<_> = set.iter().map(cap_name).collect();
    let mut out = String::new();
    let at = INDENT + LABEL + 1;
    wrap_into(
        &mut out,
        names.iter().map(|n| n.as_ref()),
        ",",
        at,
        at,
        WIDTH,
    );
    out
}

pub fn render(record: &Record, style: Style) -> String {
    // A status block is named by grep's file name when it has one; its lines are shown decoded below.
    let header = match &record.decoded {
        Decoded::Status(s) => s.source.as_deref().map_or("status".to_string(), escape_str),
        _ => escape_bytes(&record.input.0),
    };
    let mut rows = Rows {
        out: format!("{header}\n"),
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
            rows.plain("version", &format!("v{} ({} bytes)", x.version, x.size));
            rows.plain(
                "effective",
                if x.effective {
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
                rows.plain("seccomp", &format!("{n} filters"));
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
                let effect = if style.explain {
                    wrap_words(flag.effect, INDENT + 23 + 15)
                } else {
                    String::new()
                };
                let line = format!("{:INDENT$}{:<22} {state:<15}{effect}", "", flag.name);
                rows.out.push_str(line.trim_end());
                rows.out.push('\n');
            }
        }
    }
    rows.out
}
