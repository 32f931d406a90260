//! The report: one JSON record, or a human table of before and after side by side, the outcome, and with
//! --explain the rules in kernel order and the reason for every capability of every set.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use capcli::escape_str;
use capcli::render::{set_names, wrap, WIDTH};
use capcore::exec::{CapWhy, Change, Creds, Simulation, Step, Subject};
use capcore::CapSet;
use capsys::users::Names;
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
    explain: Vec<Explain<'a>>,
}

/// One explanation: a rule that fired (in kernel order), then one per capability of each set.
#[derive(Serialize)]
#[serde(untagged)]
enum Explain<'a> {
    Rule(&'a Step),
    Failure(Step),
    Cap(&'a CapWhy),
}

pub fn record<'a>(setup: &'a Setup, sim: &'a Simulation) -> Record<'a> {
    if let Some(failure) = &setup.failure {
        return Record {
            outcome: errno_name(failure.errno),
            before: &setup.caller.creds,
            after: None,
            secure_exec: false,
            notes: &setup.warnings,
            unmodelled: &setup.unmodelled,
            explain: vec![Explain::Failure(failure_step(failure))],
        };
    }
    let explain = sim
        .trace
        .steps
        .iter()
        .map(Explain::Rule)
        .chain(sim.trace.caps.iter().map(Explain::Cap))
        .collect();
    Record {
        outcome: outcome(sim),
        before: &setup.caller.creds,
        after: sim.result.as_ref().ok().map(|after| &after.creds),
        secure_exec: sim.result.as_ref().is_ok_and(|after| after.secure_exec),
        notes: &setup.warnings,
        unmodelled: &setup.unmodelled,
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

const LABEL: usize = 14;
const COLUMN: usize = 30;

pub fn human(setup: &Setup, sim: &Simulation, explain: bool) -> String {
    let mut out = String::new();
    header(&mut out, setup, sim);
    let before = &setup.caller.creds;
    let after = sim
        .result
        .as_ref()
        .ok()
        .filter(|_| setup.failure.is_none())
        .map(|a| &a.creds);
    let names = setup
        .caller
        .userns
        .is_initial()
        .then(|| (Names::users(), Names::groups()));
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<LABEL$}{:<COLUMN$}{}",
        "",
        "before",
        if after.is_some() {
            "after"
        } else {
            "after (unchanged: the exec fails)"
        }
    );
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
    for (label, get, user) in rows {
        row(
            &mut out,
            label,
            id(get(before), user),
            after.map(|a| id(get(a), user)),
        );
    }
    let groups = |c: &Creds| {
        if c.groups.is_empty() {
            "(none)".to_string()
        } else {
            c.groups
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    row(&mut out, "groups", groups(before), after.map(groups));
    let sets: [SetRow; 5] = [
        ("inheritable", |c| c.inheritable),
        ("permitted", |c| c.permitted),
        ("effective", |c| c.effective),
        ("bounding", |c| c.bounding),
        ("ambient", |c| c.ambient),
    ];
    for (label, get) in sets {
        let mut after_text = after.map(|a| get(a).hex());
        if let Some(a) = after {
            let change = change_text(get(before), get(a));
            if let Some(text) = after_text.as_mut() {
                if !change.is_empty() {
                    text.push_str("  ");
                    text.push_str(&change);
                }
            }
        }
        row(&mut out, label, get(before).hex(), after_text);
    }
    row(
        &mut out,
        "securebits",
        before.securebits.hex(),
        after.map(|a| a.securebits.hex()),
    );
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    row(
        &mut out,
        "no_new_privs",
        yes_no(before.no_new_privs),
        after.map(|a| yes_no(a.no_new_privs)),
    );

    if let Some(after) = after {
        let _ = writeln!(out, "\nafter the exec:");
        for (label, get) in sets {
            let _ = writeln!(
                out,
                "  {label:<12}{}",
                describe_set(get(after), setup.kernel.known_caps, 14)
            );
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
                wrap(&names, ", ", 14, WIDTH).trim_start()
            );
        }
    }
    if explain {
        if let Some(failure) = &setup.failure {
            let step = failure_step(failure);
            let _ = writeln!(out, "\nrules, in kernel order:\n  {}", step.rule);
            let mut text = String::from("      ");
            capcli::render::wrap_into(&mut text, step.text.split(' '), " ", 6, 6, WIDTH);
            let _ = writeln!(out, "{text}");
        } else {
            explain_text(&mut out, sim, setup.kernel.known_caps);
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
            let _ = writeln!(
                out,
                "credentials:  from the interpreter {} (#! scripts' own set-id bits and capabilities are ignored)",
                show_path(interp)
            );
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
        let _ = writeln!(
            out,
            "file state:   mode {:04o}, owner {}, group {}, {}{}",
            f.mode & 0o7777,
            f.owner,
            f.group,
            xattr,
            if f.nosuid { ", nosuid mount" } else { "" }
        );
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
    let _ = writeln!(out, "caller:       {caller}");
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
        let mut text = String::from("outcome:      ");
        let words = format!(
            "{}: execve fails and nothing changes: {}",
            errno_name(failure.errno),
            failure_step(failure).text
        );
        capcli::render::wrap_into(&mut text, words.split(' '), " ", 14, 14, WIDTH);
        let _ = writeln!(out, "{text}");
        return;
    }
    match &sim.result {
        Ok(after) => {
            let _ = writeln!(out, "outcome:      ok");
            let _ = writeln!(out, "AT_SECURE:    {}", u8::from(after.secure_exec));
        }
        Err(err) => {
            let mut text = String::from("outcome:      ");
            let words = format!(
                "{}: execve fails and nothing changes: {}",
                err.errno, err.why
            );
            capcli::render::wrap_into(&mut text, words.split(' '), " ", 14, 14, WIDTH);
            let _ = writeln!(out, "{text}");
        }
    }
}

fn row(out: &mut String, label: &str, before: String, after: Option<String>) {
    let after = after.unwrap_or_default();
    let line = format!("{label:<LABEL$}{before:<COLUMN$}{after}");
    let _ = writeln!(out, "{}", line.trim_end());
}

/// Room for the change column: what is left of the line after the label, the before column and a mask.
const CHANGE_WIDTH: usize = WIDTH - LABEL - COLUMN - 16 - 2;

/// `+cap_a,cap_b -cap_c` for what changed, shortened to counts when that does not fit the line.
fn change_text(before: CapSet, after: CapSet) -> String {
    let gained = after - before;
    let lost = before - after;
    let join = |parts: [String; 2]| {
        parts
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let names = |set: CapSet, sign: char| {
        if set.is_empty() {
            String::new()
        } else {
            format!("{sign}{set}")
        }
    };
    let counts = |set: CapSet, sign: char| match set.len() {
        0 => String::new(),
        1 => format!("{sign}1 cap"),
        n => format!("{sign}{n} caps"),
    };
    let full = join([names(gained, '+'), names(lost, '-')]);
    if full.chars().count() <= CHANGE_WIDTH {
        return full;
    }
    let mixed = join([names(gained, '+'), counts(lost, '-')]);
    if mixed.chars().count() <= CHANGE_WIDTH {
        return mixed;
    }
    join([counts(gained, '+'), counts(lost, '-')])
}

/// A set's names, or "every capability except …" when that is shorter.
fn describe_set(set: CapSet, known: u32, indent: usize) -> String {
    let every = CapSet::first_n(known);
    if set.is_empty() {
        return "(none)".to_string();
    }
    let missing = every - set;
    if set.is_subset(every) && set.len() > 20 {
        if missing.is_empty() {
            return format!("all {} capabilities", every.len());
        }
        let names: Vec<String> = missing.names();
        return format!(
            "all {} capabilities except {}",
            every.len(),
            wrap(&names, ", ", indent, WIDTH).trim_start()
        );
    }
    set_names(set, indent)
}

fn explain_text(out: &mut String, sim: &Simulation, known: u32) {
    let _ = writeln!(out, "\nrules, in kernel order:");
    for step in &sim.trace.steps {
        let _ = writeln!(out, "  {}", step.rule);
        let mut text = String::from("      ");
        capcli::render::wrap_into(&mut text, step.text.split(' '), " ", 6, 6, WIDTH);
        let _ = writeln!(out, "{text}");
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
            if caps.len() > 20 {
                text.push_str(&describe_set(caps, known, 12));
            } else {
                let names: Vec<String> = caps.names();
                capcli::render::wrap_into(
                    &mut text,
                    names.iter().map(String::as_str),
                    ", ",
                    12,
                    12,
                    WIDTH,
                );
            }
            let _ = writeln!(out, "{text}");
            let mut reason = String::from("            ");
            capcli::render::wrap_into(
                &mut reason,
                format!("= {why}").split(' '),
                " ",
                12,
                14,
                WIDTH,
            );
            let _ = writeln!(out, "{reason}");
        }
    }
}
