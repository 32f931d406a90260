//! Man pages in the layout man(7) expects, generated from each tool's clap definition. clap_mangen alone
//! gives a SYNOPSIS without option arguments, puts exit status and examples in a section called EXTRA and
//! has no SEE ALSO; and a non-ASCII character such as "…" makes troff warn under LC_ALL=C. So the page is
//! composed here: clap_mangen's title, NAME and OPTIONS, and the rest from the same texts `--help` prints
//! (the exit status paragraph and the examples are found in them, never written twice), plus what each
//! tool reads from its environment and from files, which `--help` does not list.

use std::fmt::Write as _;
use std::io;

/// What a tool's page says that its `--help` does not.
struct Facts {
    environment: &'static [(&'static str, &'static str)],
    files: &'static [(&'static str, &'static str)],
}

const COMMON_ENVIRONMENT: [(&str, &str); 2] = [
    (
        "NO_COLOR",
        "When set to anything but the empty string, nothing is coloured (as --color never).",
    ),
    (
        "COLUMNS",
        "The width a terminal's output is fitted to, before the terminal's own size. Output into a pipe \
         or a file is never wrapped.",
    ),
];

fn facts(tool: &str) -> Facts {
    match tool {
        "capls" => Facts {
            environment: &[],
            files: &[
                ("/proc/PID/status, /proc/PID/task/TID/status", "Each process's and thread's sets and ids."),
                ("/proc/sys/kernel/cap_last_cap", "How many capabilities the running kernel knows."),
            ],
        },
        "capscan" => Facts {
            environment: &[(
                "CAPKIT_NO_GETXATTRAT",
                "Set to 1, values are read with lgetxattr on each path instead of through the directory's \
                 descriptor (for comparing the two).",
            )],
            files: &[(
                "/proc/self/mountinfo",
                "Which filesystems are walked: pseudo, remote and FUSE filesystems are not entered.",
            )],
        },
        "capnet" => Facts {
            environment: &[],
            files: &[
                ("/proc/PID/fd", "The sockets each process holds."),
                (
                    "/proc/PID/ns/net, /proc/net/raw, /proc/net/raw6",
                    "Each network namespace, and its raw sockets (the rest come from sock_diag).",
                ),
                (
                    "/proc/sys/net/ipv4/ip_unprivileged_port_start",
                    "Where ports that need cap_net_bind_service end, in each namespace.",
                ),
            ],
        },
        "capsim" => Facts {
            environment: &[],
            files: &[
                ("/etc/passwd, /etc/group", "User and group names (--uid, --gid, User=, Group=)."),
                ("/proc/PID/status, /proc/PID/uid_map", "The caller's state with --pid or by default."),
            ],
        },
        "captrace" => Facts {
            environment: &[
                (
                    "CAPTRACE_ATTACH",
                    "fexit or tp_btf pins the hook (unset: fexit where the kernel allows it, else the \
                     cap_capable tracepoint).",
                ),
                (
                    "CAPTRACE_MAP_KEYS",
                    "Room for N keys in the kernel's per-process counting maps.",
                ),
                ("PATH", "Where COMMAND is found."),
            ],
            files: &[
                ("/sys/fs/cgroup", "The cgroup v2 hierarchy COMMAND runs in a leaf of."),
                ("/proc/kallsyms, /sys/kernel/btf/vmlinux", "The kernel's symbols and types the BPF program needs."),
            ],
        },
        _ => Facts {
            environment: &[],
            files: &[],
        },
    }
}

/// The date on every page: when the pages' text last changed (a build date would make them differ on
/// every build).
const PAGE_DATE: &str = "2026-12-06";

/// The tools capkit replaces, and capabilities(7).
const SEE_ALSO_OTHERS: &str =
    "capabilities(7), getcap(8), setcap(8), getpcaps(8), capsh(1), pscap(8), \
                               netcap(8), filecap(8), captest(8)";
const TOOLS: [&str; 6] = [
    "capls",
    "capscan",
    "capnet",
    "capdecode",
    "capsim",
    "captrace",
];

/// The man page of `cmd`, as roff.
pub fn render(cmd: clap::Command) -> io::Result<Vec<u8>> {
    let mut cmd = cmd;
    cmd.build();
    let name = cmd.get_name().to_string();
    let man = clap_mangen::Man::new(cmd.clone())
        .date(PAGE_DATE)
        .source(format!("capkit {}", env!("CARGO_PKG_VERSION")))
        .manual("capkit");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    let mut page = String::from_utf8_lossy(&out).into_owned();
    page.push_str(&synopsis(&cmd));
    let long_about = cmd
        .get_long_about()
        .or(cmd.get_about())
        .map(ToString::to_string)
        .unwrap_or_default();
    let after = cmd
        .get_after_long_help()
        .or(cmd.get_after_help())
        .map(ToString::to_string)
        .unwrap_or_default();
    let (long_about, exit_in_about) = take_exit_status(&long_about);
    let (after, exit_in_after) = take_exit_status(&after);
    let (notes, examples) = take_examples(&after);
    page.push_str(".SH DESCRIPTION\n");
    push_paragraphs(&mut page, &long_about);
    push_paragraphs(&mut page, &notes);
    let mut options = Vec::new();
    man.render_options_section(&mut options)?;
    // clap_mangen puts a break on each side of the blank line before a list of values: one blank line
    // says it (mandoc's lint flags the breaks).
    page.push_str(&String::from_utf8_lossy(&options).replace(".br\n\n.br\n", "\n"));
    if let Some(text) = exit_in_about.or(exit_in_after) {
        page.push_str(".SH \"EXIT STATUS\"\n");
        push_paragraphs(&mut page, &text);
    }
    let facts = facts(&name);
    page.push_str(".SH ENVIRONMENT\n");
    for (var, what) in COMMON_ENVIRONMENT.iter().chain(facts.environment) {
        push_item(&mut page, &format!("\\fB{}\\fR", escape(var)), what);
    }
    if !facts.files.is_empty() {
        page.push_str(".SH FILES\n");
        for (file, what) in facts.files {
            push_item(&mut page, &format!("\\fI{}\\fR", escape(file)), what);
        }
    }
    if !examples.is_empty() {
        page.push_str(".SH EXAMPLES\n");
        for (command, what) in &examples {
            push_item(&mut page, &format!("\\fB{}\\fR", escape(command)), what);
        }
    }
    page.push_str(".SH \"SEE ALSO\"\n");
    let others: Vec<String> = TOOLS
        .iter()
        .filter(|tool| **tool != name)
        .map(|tool| format!("\\fB{tool}\\fR(1)"))
        .collect();
    let _ = writeln!(page, "{}, {}", others.join(", "), escape(SEE_ALSO_OTHERS));
    Ok(ascii_only(&page).into_bytes())
}

/// SYNOPSIS with every visible option and its argument, then the operands.
fn synopsis(cmd: &clap::Command) -> String {
    let mut words = vec![format!("\\fB{}\\fR", escape(cmd.get_name()))];
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let id = arg.get_id().as_str();
        if id == "help" || id == "version" {
            continue;
        }
        if arg.is_positional() {
            let value = arg
                .get_value_names()
                .and_then(|names| names.first())
                .map_or_else(|| id.to_uppercase(), ToString::to_string);
            let many = matches!(arg.get_action(), clap::ArgAction::Append);
            let dots = if many { "..." } else { "" };
            words.push(if arg.is_required_set() {
                format!("\\fI{}\\fR{dots}", escape(&value))
            } else {
                format!("[\\fI{}\\fR{dots}]", escape(&value))
            });
            continue;
        }
        let flag = match (arg.get_long(), arg.get_short()) {
            (Some(long), _) => format!("\\-\\-{}", escape(long)),
            (None, Some(short)) => format!("\\-{}", escape(&short.to_string())),
            (None, None) => continue,
        };
        let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values())
            && !matches!(
                arg.get_action(),
                clap::ArgAction::SetTrue | clap::ArgAction::SetFalse | clap::ArgAction::Count
            );
        let value = arg
            .get_value_names()
            .and_then(|names| names.first())
            .map_or_else(|| id.to_uppercase(), ToString::to_string);
        words.push(if takes_value {
            format!("[\\fB{flag}\\fR \\fI{}\\fR]", escape(&value))
        } else {
            format!("[\\fB{flag}\\fR]")
        });
    }
    format!(".SH SYNOPSIS\n{}\n", words.join(" "))
}

/// The text without its `Exit status: …` paragraph (from those words to the paragraph's end), and that
/// paragraph's text after the words.
fn take_exit_status(text: &str) -> (String, Option<String>) {
    let Some(at) = text.find("Exit status:") else {
        return (text.to_string(), None);
    };
    let end = text[at..].find("\n\n").map_or(text.len(), |n| at + n);
    let status = text[at + "Exit status:".len()..end].trim().to_string();
    let rest = format!("{}{}", text[..at].trim_end(), &text[end..]);
    (rest, Some(status))
}

/// The paragraphs of `text` that are not examples, and each example as (command, what it does): an
/// `Examples:` paragraph lists commands indented two spaces, each explained below, indented further.
fn take_examples(text: &str) -> (String, Vec<(String, String)>) {
    let mut notes = Vec::new();
    let mut examples: Vec<(String, String)> = Vec::new();
    let mut in_examples = false;
    for paragraph in text.split("\n\n") {
        let mut lines = paragraph.lines().peekable();
        let heading = lines
            .peek()
            .copied()
            .unwrap_or("")
            .trim()
            .trim_end_matches(':');
        if heading.eq_ignore_ascii_case("examples") {
            in_examples = true;
            lines.next();
        } else if !(in_examples && paragraph.starts_with("  ")) {
            in_examples = false;
            notes.push(paragraph);
            continue;
        }
        for line in lines {
            let indent = line.len() - line.trim_start().len();
            match examples.last_mut() {
                Some((_, what)) if indent > 2 => {
                    if !what.is_empty() {
                        what.push(' ');
                    }
                    what.push_str(line.trim());
                }
                _ => examples.push((line.trim().to_string(), String::new())),
            }
        }
    }
    (notes.join("\n\n"), examples)
}

/// Paragraphs as roff: each but a section's first starts with `.PP`; a line indented in the text keeps
/// its own line.
fn push_paragraphs(page: &mut String, text: &str) {
    for paragraph in text.split("\n\n").map(str::trim_end) {
        if paragraph.trim().is_empty() {
            continue;
        }
        let section_starts = page
            .trim_end()
            .rsplit('\n')
            .next()
            .is_some_and(|l| l.starts_with(".SH"));
        if !section_starts {
            page.push_str(".PP\n");
        }
        for line in paragraph.lines() {
            if line.starts_with(' ') {
                page.push_str(".br\n");
            }
            let _ = writeln!(page, "{}", escape(line.trim_start()));
        }
    }
}

/// A tagged paragraph: `tag` (already roff) and its text.
fn push_item(page: &mut String, tag: &str, text: &str) {
    let _ = writeln!(page, ".TP\n{tag}\n{}", escape(text));
}

/// Text for a roff line: backslashes and dashes escaped, and a leading `.` or `'` made plain text.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    if text.starts_with(['.', '\'']) {
        out.push_str("\\&");
    }
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            _ => out.push(c),
        }
    }
    out
}

/// The page in ASCII: troff's ASCII device (man under LC_ALL=C) has no glyph for "…" and warns, so the
/// few characters the texts use are written out; anything else becomes `\[uXXXX]`.
fn ascii_only(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    for c in page.chars() {
        match c {
            _ if c.is_ascii() => out.push(c),
            '…' => out.push_str("..."),
            '→' => out.push_str("\\->"),
            '×' => out.push('x'),
            '∩' => out.push('&'),
            '∪' => out.push('|'),
            '—' => out.push_str("\\-\\-"),
            '‘' | '’' => out.push_str("\\(aq"),
            '“' | '”' => out.push('"'),
            _ => {
                let _ = write!(out, "\\[u{:04X}]", u32::from(c));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_is_taken_from_the_middle_of_a_paragraph() {
        let (rest, status) =
            take_exit_status("One.\n\nNotes here. Exit status: 0 ok; 2 error.\n\nLast.");
        assert_eq!(status.as_deref(), Some("0 ok; 2 error."));
        assert_eq!(rest, "One.\n\nNotes here.\n\nLast.");
    }

    #[test]
    fn examples_are_commands_and_their_explanations() {
        let (notes, examples) =
            take_examples("Legend.\n\nEXAMPLES:\n  capls -a\n      Every process.\n      All.\n  capls 1\n      One.");
        assert_eq!(notes, "Legend.");
        assert_eq!(
            examples,
            [
                ("capls -a".to_string(), "Every process. All.".to_string()),
                ("capls 1".to_string(), "One.".to_string())
            ]
        );
    }

    #[test]
    fn pages_are_ascii_and_escaped() {
        assert_eq!(ascii_only("a … b ∅"), "a ... b \\[u2205]");
        assert_eq!(escape(".x -y \\z"), "\\&.x \\-y \\ez");
    }
}
