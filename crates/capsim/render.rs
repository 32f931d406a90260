//! The report: one JSON record, or a human table of before and after side by side, the outcome, and with
//! --explain the rules in kernel order and the reason for every capability of every set.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use capcli::escape_str;
use capcli::render::{wrap, wrap_into};
use capcli::summary;
use capcli::term::{self, Style};
use capcore::exec::{CapWhy, Change, Creds, Simulation, Step, Subject};
use capcore::CapSet;
use serde::Serialize;

use crate::input::{show_path, Setup, Unmodelled};
use capsys::exec_file::ExecFailure;

/// The JSON record: `{"outcome", "before", "after", "secure_exec", "notes", "unmodelled", "explain"}`.
#[derive(Serialize)]
pub struct Record<'a> {
    outcome: String,
    before: &'a Creds,
    after: Option<&'a Creds>,
    secure_exec: bool,
    notes: &'a [String],
    unmodelled: &'a [Unmodelled],
    /// A container runtime's error when it refuses the container before any exec.
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<&'a str>,
    /// Who refused it: `runc`, `dockerd`, `containerd`, `cri-o`, `kubelet` or `kube-apiserver`.
    #[serde(skip_serializing_if = "Option::is_none")]
    refused_by: Option<&'static str>,
    explain: Vec<Explain<'a>>,
}

/// One explanation: a rule that fired (in kernel order), then one per capability of each set.
#[derive(Serialize)]
#[serde(untagged)]
enum Explain<'a> {
    Rule(Step),
    Cap(&'a CapWhy),
}

pub fn record<'a>(setup: &'a Setup, sim: &'a Simulation) -> Record<'a> {
    if let Some(refusal) = &setup.refused {
        return Record {
            outcome: "refused".to_string(),
            before: &setup.caller.creds,
            after: None,
            secure_exec: false,
            notes: &setup.warnings,
            unmodelled: &setup.unmodelled,
            refused: Some(&refusal.message),
            refused_by: Some(refusal.by),
            explain: vec![Explain::Rule(Step {
                rule: match refusal.by {
                    "runc" => "runc:finalizeNamespace",
                    "dockerd" => "dockerd:create",
                    "containerd" => "containerd:CreateContainer",
                    "cri-o" => "cri-o:CreateContainer",
                    "kubelet" => "kubelet:admit",
                    _ => "kube-apiserver:validate",
                },
                text: refusal.why.clone(),
            })],
        };
    }
    if let Some(failure) = &setup.failure {
        return Record {
            outcome: errno_name(failure.errno),
            before: &setup.caller.creds,
            after: None,
            secure_exec: false,
            notes: &setup.warnings,
            unmodelled: &setup.unmodelled,
            refused: None,
            refused_by: None,
            explain: vec![Explain::Rule(failure_step(failure))],
        };
    }
    let known = setup.kernel.known_caps;
    let explain = sim
        .trace
        .steps
        .iter()
        .map(|step| {
            Explain::Rule(Step {
                rule: step.rule,
                text: restate_sets(&step.text, known),
            })
        })
        .chain(sim.trace.caps.iter().map(Explain::Cap))
        .collect();
    Record {
        outcome: outcome(sim),
        before: &setup.caller.creds,
        after: sim.result.as_ref().ok().map(|after| &after.creds),
        secure_exec: sim.result.as_ref().is_ok_and(|after| after.secure_exec),
        notes: &setup.warnings,
        unmodelled: &setup.unmodelled,
        refused: None,
        refused_by: None,
        explain,
    }
}

fn outcome(sim: &Simulation) -> String {
    match &sim.result {
        Ok(_) => "ok".to_string(),
        Err(err) => err.errno.name().to_string(),
    }
}

fn errno_name(errno: i32) -> String {
    capsys::exec_file::errno_name(errno).map_or_else(|| format!("errno {errno}"), str::to_string)
}

/// The rule that stops the exec before credentials are computed.
fn failure_step(failure: &ExecFailure) -> Step {
    let rule = match failure.errno {
        libc::ENOEXEC => "binfmt_script.c:load_script",
        libc::ELOOP => "exec.c:exec_binprm",
        _ => "exec.c:open_exec",
    };
    let mut text = format!("{}: {}", show_path(&failure.path), failure.why);
    if !failure.scripts.is_empty() {
        let chain: Vec<String> = failure.scripts.iter().map(|p| show_path(p)).collect();
        text.push_str(&format!(" (reached through {})", chain.join(" → ")));
    }
    Step { rule, text }
}

/// A row of ids: its label, how to read it, and whether it is a uid (for the name).
type IdRow = (&'static str, fn(&Creds) -> u32, bool);
/// A row of a capability set.
type SetRow = (&'static str, fn(&Creds) -> CapSet);

/// The width of the label column.
const LABEL: usize = 14;
/// The most the before column takes.
const COLUMN: usize = 30;
/// The width of a mask, `000001ffffffffff`.
const MASK: usize = 16;

pub fn human(setup: &Setup, sim: &Simulation, explain: bool) -> String {
    let mut out = String::new();
    if let Some(refusal) = &setup.refused {
        let _ = writeln!(out, "caller:       {}", setup.caller_source);
        let outcome = match refusal.by {
            "runc" => format!(
                "runc refuses the config before any exec: {}",
                refusal.message
            ),
            by => format!("{by} refuses the container: {}", refusal.message),
        };
        let _ = writeln!(
            out,
            "outcome:      {}",
            term::paint(Style::Finding, &outcome)
        );
        labelled(&mut out, "why:", refusal.why.split(' ').map(str::to_string));
        return out;
    }
    header(&mut out, setup, sim);
    let before = &setup.caller.creds;
    let after = sim
        .result
        .as_ref()
        .ok()
        .filter(|_| setup.failure.is_none())
        .map(|a| &a.creds);
    let names = &setup.names;
    let id = |id: u32, user: bool| -> String {
        match &names {
            Some((users, groups)) => {
                let table = if user { users } else { groups };
                match table.get(id) {
                    Some(name) => format!("{id} ({})", escape_str(name)),
                    None => id.to_string(),
                }
            }
            None => id.to_string(),
        }
    };
    let rows: [IdRow; 8] = [
        ("ruid", |c| c.uid.real, true),
        ("euid", |c| c.uid.effective, true),
        ("suid", |c| c.uid.saved, true),
        ("fsuid", |c| c.uid.fs, true),
        ("rgid", |c| c.gid.real, false),
        ("egid", |c| c.gid.effective, false),
        ("sgid", |c| c.gid.saved, false),
        ("fsgid", |c| c.gid.fs, false),
    ];
    let id_rows: Vec<(&str, String, Option<String>)> = rows
        .iter()
        .map(|&(label, get, user)| {
            (
                label,
                id(get(before), user),
                after.map(|a| id(get(a), user)),
            )
        })
        .collect();
    // The before column is as wide as its ids need, within bounds: a mask always fits, a long user name
    // does not widen the table past COLUMN.
    let column = id_rows
        .iter()
        .map(|(_, before, _)| term::display_width(before) + 2)
        .max()
        .unwrap_or(0)
        .clamp(MASK + 2, COLUMN);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<LABEL$}{}{:<pad$}{}",
        "",
        term::paint(Style::Header, "before"),
        "",
        term::paint(
            Style::Header,
            if after.is_some() {
                "after"
            } else {
                "after (unchanged: the exec fails)"
            }
        ),
        pad = column - "before".len(),
    );
    for (label, before, after) in id_rows {
        row(&mut out, column, label, before, after);
    }
    let groups = |c: &Creds| {
        if c.groups.is_empty() {
            "none".to_string()
        } else {
            c.groups
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    row(
        &mut out,
        column,
        "groups",
        groups(before),
        after.map(groups),
    );
    let sets: [SetRow; 5] = [
        ("inheritable", |c| c.inheritable),
        ("permitted", |c| c.permitted),
        ("effective", |c| c.effective),
        ("bounding", |c| c.bounding),
        ("ambient", |c| c.ambient),
    ];
    let known = setup.kernel.known_caps;
    for (label, get) in sets {
        let mut after_text = after.map(|a| get(a).hex());
        if let Some(a) = after {
            let room = term::width().saturating_sub(LABEL + column + MASK + 2);
            let change = change_text(get(before), get(a), known, room);
            if let Some(text) = after_text.as_mut() {
                if !change.is_empty() {
                    text.push_str("  ");
                    text.push_str(&change);
                }
            }
        }
        row(&mut out, column, label, get(before).hex(), after_text);
    }
    row(
        &mut out,
        column,
        "securebits",
        before.securebits.hex(),
        after.map(|a| a.securebits.hex()),
    );
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    row(
        &mut out,
        column,
        "no_new_privs",
        yes_no(before.no_new_privs),
        after.map(|a| yes_no(a.no_new_privs)),
    );

    if let Some(after) = after {
        let _ = writeln!(out, "\nafter the exec:");
        for (label, get) in sets {
            let mut line = format!("  {label:<12}");
            push_long(&mut line, get(after), known, 14);
            let _ = writeln!(out, "{line}");
        }
        let names: Vec<String> = after
            .securebits
            .names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        if !names.is_empty() {
            let _ = writeln!(
                out,
                "  {:<12}{}",
                "securebits",
                wrap(&names, ", ", 14, term::width()).trim_start()
            );
        }
    }
    if explain {
        if let Some(failure) = &setup.failure {
            let step = failure_step(failure);
            let _ = writeln!(out, "\nrules, in kernel order:\n  {}", step.rule);
            let _ = writeln!(out, "{}", indented(step.text.split(' '), 6, 6));
        } else {
            explain_text(&mut out, sim, known);
        }
    }
    out
}

fn header(out: &mut String, setup: &Setup, sim: &Simulation) {
    let file = match &setup.file_name {
        Some(path) => show_path(path),
        None => "(no file: described by the options)".to_string(),
    };
    let _ = writeln!(out, "file:         {file}");
    if !setup.scripts.is_empty() {
        if let Some(interp) = &setup.credentials_from {
            let words = ["from", "the", "interpreter"]
                .into_iter()
                .map(str::to_string)
                .chain([show_path(interp)])
                .chain(
                    "(#! scripts' own set-id bits and capabilities are ignored)"
                        .split(' ')
                        .map(str::to_string),
                );
            labelled(out, "credentials:", words);
        }
    }
    let f = &setup.file;
    let xattr = match &f.xattr {
        None => "no security.capability".to_string(),
        Some(raw) => match capcore::FileCaps::decode(raw) {
            Ok(caps) => {
                let mut text = format!(
                    "security.capability v{} {}",
                    caps.revision.number(),
                    caps.getcap_text(setup.kernel.known_caps)
                );
                if let Some(rootid) = caps.rootid {
                    let _ = write!(text, " [rootid={rootid}]");
                }
                text
            }
            Err(err) => format!("security.capability malformed ({} bytes): {err}", raw.len()),
        },
    };
    if setup.failure.is_some() {
        // The exec stops before a file supplies credentials: there is no file state to show.
    } else {
        let state = format!(
            "mode {:04o}, owner {}, group {}, {}{}",
            f.mode & 0o7777,
            f.owner,
            f.group,
            xattr,
            if f.nosuid { ", nosuid mount" } else { "" }
        );
        labelled(out, "file state:", state.split(' '));
    }
    let c = &setup.caller;
    let mut caller = escape_str(&setup.caller_source);
    match c.tracing {
        capcore::exec::Tracing::NotTraced => {}
        capcore::exec::Tracing::TracerCapable => caller.push_str(", traced"),
        capcore::exec::Tracing::TracerNotCapable => caller.push_str(", traced"),
    }
    if let Some(tracer) = &setup.tracer {
        let _ = write!(caller, " by pid {}", tracer.pid);
    }
    match c.tracing {
        capcore::exec::Tracing::NotTraced => {}
        capcore::exec::Tracing::TracerCapable => caller.push_str(" (tracer has CAP_SYS_PTRACE)"),
        capcore::exec::Tracing::TracerNotCapable => {
            caller.push_str(" (tracer lacks CAP_SYS_PTRACE)")
        }
    }
    if c.fs_shared {
        caller.push_str(", fs shared");
    }
    if let Some(ns) = c.userns.0.first() {
        let maps: Vec<String> = ns
            .uid_map
            .iter()
            .map(|r| format!("{}:{}:{}", r.inside, r.outside, r.count))
            .collect();
        let _ = write!(caller, ", user namespace {}", maps.join(","));
    }
    labelled(out, "caller:", caller.split(' '));
    let _ = writeln!(
        out,
        "kernel rules: {} ({})",
        setup.kernel.rules.name(),
        match setup.kernel.rules {
            capcore::exec::KernelRules::Current => "Linux 6.16 and later",
            capcore::exec::KernelRules::Legacy => "before Linux 6.16",
        }
    );
    if let Some(failure) = &setup.failure {
        let text = failure_step(failure).text;
        failed(out, &errno_name(failure.errno), text.split(' '));
        return;
    }
    match &sim.result {
        Ok(after) => {
            let _ = writeln!(out, "outcome:      ok");
            let _ = writeln!(out, "AT_SECURE:    {}", u8::from(after.secure_exec));
        }
        Err(err) => failed(
            out,
            &err.errno.to_string(),
            restated_words(&err.why, setup.kernel.known_caps),
        ),
    }
}

/// A line of the report's head: its label, then `words` wrapped under each other at column 14.
fn labelled<W: AsRef<str>>(out: &mut String, label: &str, words: impl IntoIterator<Item = W>) {
    let mut line = format!("{label:<14}");
    wrap_into(&mut line, words, " ", 14, 14, term::width());
    let _ = writeln!(out, "{line}");
}

/// The outcome line of an exec that fails: the errno and "execve fails" stand out as a finding.
fn failed<W: AsRef<str>>(out: &mut String, errno: &str, why: impl IntoIterator<Item = W>) {
    let mut text = String::from("outcome:      ");
    let verdict = term::paint(Style::Finding, &format!("{errno}: execve fails")).into_owned();
    let words = [verdict.as_str(), "and", "nothing", "changes:"]
        .into_iter()
        .map(str::to_string)
        .chain(why.into_iter().map(|w| w.as_ref().to_string()));
    wrap_into(&mut text, words, " ", 14, 14, term::width());
    let _ = writeln!(out, "{text}");
}

/// `words` wrapped to the terminal, the first line starting at column `first` (spaces included), the
/// others at `rest`; into a pipe, one line.
fn indented<W: AsRef<str>>(
    words: impl IntoIterator<Item = W>,
    first: usize,
    rest: usize,
) -> String {
    let mut out = " ".repeat(first);
    wrap_into(&mut out, words, " ", first, rest, term::width());
    out
}

/// Appends a set's long form (`full -cap_sys_resource (40 of 41)`), wrapped between its names.
fn push_long(out: &mut String, set: CapSet, known: u32, indent: usize) {
    let column = term::display_width(out);
    wrap_into(
        out,
        summary::long_words(set, known),
        " ",
        column,
        indent,
        term::width(),
    );
}

/// Rewrites each set the model's texts spell `HEX (name,name,...)` into the long form, `HEX (cap_chown,
/// cap_setuid (2 of 41))`, and `HEX (none)` into the mask alone, which says all there is to say. Only a
/// mask followed by exactly its own names is touched, so no text can make this show a set other than the
/// mask beside it.
pub fn restate_sets(text: &str, known: u32) -> String {
    restated_words(text, known).join(" ")
}

/// `restate_sets` as the words a renderer may wrap between: a set's count, `(2 of 41)`, stays whole.
fn restated_words(text: &str, known: u32) -> Vec<String> {
    const HEX_LEN: usize = 16;
    let mut words = Vec::new();
    let mut word = String::new();
    let mut rest = text;
    while let Some((start, end, set)) = next_set(rest, HEX_LEN) {
        push_text(&mut words, &mut word, &rest[..start + HEX_LEN]);
        rest = &rest[end..];
        if set.is_empty() {
            continue;
        }
        words.push(std::mem::take(&mut word));
        word.push('(');
        for (i, long) in summary::long_words(set, known).into_iter().enumerate() {
            if i > 0 {
                words.push(std::mem::take(&mut word));
            }
            word.push_str(&long);
        }
        word.push(')');
    }
    push_text(&mut words, &mut word, rest);
    words.push(word);
    words
}

/// Appends `text` to the words: its first piece continues `word`, each space starts a new one.
fn push_text(words: &mut Vec<String>, word: &mut String, text: &str) {
    for (i, piece) in text.split(' ').enumerate() {
        if i > 0 {
            words.push(std::mem::take(word));
        }
        word.push_str(piece);
    }
}

/// The first `HEX (names)` in `text` whose names are exactly the mask: where it starts and ends, and the set.
fn next_set(text: &str, hex_len: usize) -> Option<(usize, usize, CapSet)> {
    let bytes = text.as_bytes();
    for (open, _) in text.match_indices(" (") {
        let Some(start) = open.checked_sub(hex_len) else {
            continue;
        };
        let hex = &bytes[start..open];
        let alone = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        if !alone || !hex.iter().all(u8::is_ascii_hexdigit) {
            continue;
        }
        let inner_start = open + 2;
        let Some(len) = text[inner_start..].find(')') else {
            continue;
        };
        let inner = &text[inner_start..inner_start + len];
        if inner.contains([' ', '(']) {
            continue;
        }
        let Ok(mask) = capcore::parse_mask(&text[start..open]) else {
            continue;
        };
        let named = if inner == "none" {
            Ok(CapSet::EMPTY)
        } else {
            CapSet::parse_list(inner)
        };
        if named.is_ok_and(|named| named == mask) {
            return Some((start, inner_start + len + 1, mask));
        }
    }
    None
}

fn row(out: &mut String, column: usize, label: &str, before: String, after: Option<String>) {
    let after = after.unwrap_or_default();
    let line = format!("{label:<LABEL$}{before:<column$}{after}");
    let _ = writeln!(out, "{}", line.trim_end());
}

/// `gains net_raw,sys_admin; loses chown` for what an exec changed in one set (each part in the short
/// form), shortened to counts when that does not fit in `room` columns. When what it gains includes a
/// root-equivalent capability, the `gains` part is painted as a danger.
fn change_text(before: CapSet, after: CapSet, known: u32, room: usize) -> String {
    let gained = after - before;
    let lost = before - after;
    let named = |set: CapSet| capcli::term::strip_sgr(&summary::short(set, known));
    let counted = |set: CapSet| capcli::words::count(set.len(), "capability", "capabilities");
    let clauses = |gains: Option<String>, loses: Option<String>| {
        let gains = gains.filter(|_| !gained.is_empty()).map(|g| {
            let text = format!("gains {g}");
            if !(gained & capcore::audit::ROOT_EQUIVALENT).is_empty() {
                term::paint(Style::Danger, &text).into_owned()
            } else {
                text
            }
        });
        let loses = loses
            .filter(|_| !lost.is_empty())
            .map(|l| format!("loses {l}"));
        [gains, loses]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ")
    };
    let forms = [
        clauses(Some(named(gained)), Some(named(lost))),
        clauses(Some(named(gained)), Some(counted(lost))),
        clauses(Some(counted(gained)), Some(counted(lost))),
    ];
    // The first form that fits; on a terminal too narrow for any, the shortest.
    let width = |text: &String| term::display_width(text);
    match forms.iter().position(|form| width(form) <= room) {
        Some(i) => forms[i].clone(),
        None => forms.into_iter().min_by_key(width).unwrap_or_default(),
    }
}

fn explain_text(out: &mut String, sim: &Simulation, known: u32) {
    let _ = writeln!(out, "\nrules, in kernel order:");
    for step in &sim.trace.steps {
        let _ = writeln!(out, "  {}", step.rule);
        let _ = writeln!(out, "{}", indented(restated_words(&step.text, known), 6, 6));
    }
    if sim.trace.caps.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nwhy each capability is where it is:");
    for subject in [
        Subject::Permitted,
        Subject::Effective,
        Subject::Ambient,
        Subject::Inheritable,
        Subject::Bounding,
    ] {
        let mut groups: BTreeMap<(Change, &str), CapSet> = BTreeMap::new();
        for why in sim.trace.caps.iter().filter(|w| w.set == subject) {
            let entry = groups.entry((why.change, why.why.as_str())).or_default();
            *entry = entry.with(why.cap);
        }
        if groups.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  {}:", subject.name());
        for ((change, why), caps) in groups {
            let mut text = format!("    {:<7} ", change.name());
            push_long(&mut text, caps, known, 12);
            let _ = writeln!(out, "{text}");
            let reason = std::iter::once("=".to_string()).chain(restated_words(why, known));
            let _ = writeln!(out, "{}", indented(reason, 12, 14));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_in_rule_texts_take_the_long_form() {
        assert_eq!(
            restate_sets(
                "fP 0000000000002001 (cap_chown,cap_net_raw), fI 0000000000000000 (none), fE set",
                41
            ),
            "fP 0000000000002001 (cap_chown, cap_net_raw (2 of 41)), fI 0000000000000000, fE set"
        );
        assert_eq!(
            restate_sets(
                "A' = A = 0000000000000000 (none) (no file capabilities)",
                41
            ),
            "A' = A = 0000000000000000 (no file capabilities)"
        );
        let all = format!(
            "P = {} ({})",
            CapSet::first_n(41).hex(),
            CapSet::first_n(41)
        );
        assert_eq!(
            restate_sets(&all, 41),
            "P = 000001ffffffffff (full (all 41))"
        );
        // Bits the kernel has no name for are numbers, in the model's text and in the long form.
        assert_eq!(
            restate_sets("x 0000020000000001 (cap_chown,41)", 41),
            "x 0000020000000001 (cap_chown +41 (1 of 41))"
        );
    }

    #[test]
    fn only_a_mask_with_exactly_its_names_is_restated() {
        for text in [
            // Names that are not the mask's, a mask too short or inside a longer word, no names at all.
            "0000000000002000 (cap_chown)",
            "000000000002000 (cap_net_raw)",
            "x0000000000002000 (cap_net_raw)",
            "0000000000002000 (cap_net_raw",
            "0000000000002000 (the net_raw capability)",
            "0000000000002000 ()",
            "0000000000002000",
            "ééééééééééééééé (none) ∩ 0000000000000000 ((none)",
        ] {
            assert_eq!(restate_sets(text, 41), text);
        }
    }

    #[test]
    fn the_change_column_names_or_counts() {
        let set = |list: &str| CapSet::parse_list(list).unwrap_or_default();
        let before = set("chown,kill");
        let after = set("kill,net_raw");
        assert_eq!(
            change_text(before, after, 41, usize::MAX),
            "gains net_raw; loses chown"
        );
        // Too narrow for any form: the shortest.
        assert_eq!(
            change_text(before, after, 41, 0),
            "gains net_raw; loses chown"
        );
        let many = set("chown,dac_override,fowner,fsetid,kill");
        assert_eq!(
            change_text(many, after, 41, 40),
            "gains net_raw; loses 4 capabilities"
        );
        assert_eq!(
            change_text(many, set("block_suspend,checkpoint_restore"), 41, 45),
            "gains 2 capabilities; loses 5 capabilities"
        );
        assert_eq!(change_text(after, after, 41, 0), "");
        let all = CapSet::first_n(41);
        assert_eq!(
            change_text(CapSet::EMPTY, all - set("sys_resource"), 41, usize::MAX),
            "gains full -sys_resource"
        );
    }
}
