//! The report, in the two forms a user gets: the human one (a header line that stands apart from
//! COMMAND's own output, the table of verdicts, where the needed and denied capabilities came from, with
//! `--checks` every check row, then the recommendations and `--verify`'s outcome) and NDJSON (one record per
//! capability, per check row with `--checks`, then a summary). Both are built from the same `Report`, so they
//! cannot disagree.
//!
//! Into a pipe every row is one line, never wrapped or coloured; on a terminal the text columns of the
//! wider tables wrap under themselves to fit its width. The terminal is the report's own destination
//! (sink.rs: standard error, a file or standard output), not captrace's standard output, so the decision
//! is made there and given to `init`. Every string from outside (process
//! names, kernel function names, paths inside the configurations, the target) is escaped here, where it is
//! rendered.

use std::fmt::Write as _;
use std::io;
use std::sync::OnceLock;
use std::time::Duration;

use capcli::term::{self, display_width, Style, Term};
use capcli::{escape_bytes, escape_str, summary, words, ExternalBytes};
use capcore::needs::{
    Advice, CapReport, Check, Folded, KubeContext, NsPlace, Recommendations, Source, Verdict,
};
use capcore::{Cap, CapSet};
use serde::Serialize;

/// How the traced command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitInfo {
    /// It exited with this status.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
    /// Nothing was run: a running process, cgroup, unit or container was traced.
    NotRun,
}

/// What `--verify` found when COMMAND ran again under the recommended set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyOutcome {
    pub same_exit_status: bool,
    /// Capabilities the second run was refused that the first was granted.
    pub newly_denied: CapSet,
    pub first_exit: ExitInfo,
    pub second_exit: ExitInfo,
    /// Same exit status and nothing newly denied.
    pub passed: bool,
}

/// What `--minimize` found when COMMAND ran again without one needed capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trial {
    pub cap: Cap,
    /// Without it COMMAND exited the same way and nothing else was refused: it is not needed.
    pub removed: bool,
    pub exit: ExitInfo,
    /// Other capabilities refused where the full run was granted them.
    pub newly_denied: CapSet,
}

/// `--minimize`'s outcome: the set kept, and one trial per needed capability tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Minimized {
    pub kept: CapSet,
    pub removed: CapSet,
    pub trials: Vec<Trial>,
    /// How the full run ended, which each trial is compared with.
    pub full_exit: ExitInfo,
}

/// One program file that asked for needed capabilities (from the kernel's exec hook).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileReport {
    /// The file as execve was given it; `None` for checks whose process's exec was not seen. Raw:
    /// escaped here.
    pub path: Option<String>,
    /// A `#!` script's interpreter.
    pub interpreter: Option<String>,
    pub caps: CapSet,
    /// Its own setcap line, checked by the model (a non-root user only).
    pub setcap: Option<String>,
    /// Why file capabilities on it would reach more than this program, or why there is no line.
    pub note: Option<String>,
}

/// Everything the report shows, filled by main.rs.
#[derive(Clone, Debug)]
pub struct Report<'a> {
    /// One per capability checked, in the order to show them.
    pub caps: &'a [CapReport],
    /// Every aggregated check row (listed with `--checks`).
    pub checks: &'a [Check],
    /// `None` when there is nothing to recommend for (a target that was not run, or no file to model).
    pub recommendations: Option<&'a Recommendations>,
    pub exit: ExitInfo,
    /// How the checks were seen: `tp_btf` or `fexit`.
    pub attach: &'a str,
    /// Checks no kernel map had a row for: counted in the totals, missing from the sources.
    pub dropped: u64,
    pub verify: Option<VerifyOutcome>,
    pub minimized: Option<&'a Minimized>,
    /// The files that asked for the needed (or kept) capabilities.
    pub files: &'a [FileReport],
    /// How many capabilities the running kernel knows.
    pub known: u32,
    /// What was traced, for the header: the command line, or `pid 1234`, `unit nginx.service`. Raw:
    /// escaped here.
    pub target: String,
    pub elapsed: Duration,
}

impl Report<'_> {
    /// The capabilities with this verdict.
    fn set_of(&self, verdict: Verdict) -> CapSet {
        self.caps
            .iter()
            .filter(|c| c.verdict == verdict)
            .map(|c| c.cap)
            .collect()
    }
}

/// How the report's destination looks, decided once (sink.rs); before `init`, a pipe.
static LOOK: OnceLock<Term> = OnceLock::new();

/// Fits and colours the human report for its destination. Later calls keep the first decision.
pub fn init(term: Term) {
    let _ = LOOK.set(term);
}

fn look() -> Term {
    LOOK.get().copied().unwrap_or(Term {
        tty: false,
        width: None,
        color: false,
    })
}

/// Writes the report: NDJSON records, or the human text.
pub fn write(out: &mut impl io::Write, report: &Report, all: bool, json: bool) -> io::Result<()> {
    if json {
        for record in records(report, all) {
            capcli::json::to_writer(&mut *out, &record)?;
            out.write_all(b"\n")?;
        }
    } else {
        out.write_all(human(report, all).as_bytes())?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Human output

/// The whole human report, one `\n` after each line, fitted to the terminal (unbounded into a pipe).
pub fn human(report: &Report, all: bool) -> String {
    human_in(report, all, look().width.unwrap_or(usize::MAX))
}

/// `human` for a width of `width` columns.
fn human_in(report: &Report, all: bool, width: usize) -> String {
    let mut out = String::new();
    header(&mut out, report, width);
    if report.caps.is_empty() {
        let _ = writeln!(out, "no capability was checked");
    } else {
        verdict_table(&mut out, report, width);
    }
    denied_line(&mut out, report, width);
    sources(&mut out, report, width);
    if all {
        check_rows(&mut out, report.checks, width);
    }
    if let Some(minimized) = report.minimized {
        minimize_block(&mut out, minimized, width);
    }
    files_block(&mut out, report.files, width);
    if let Some(recommendations) = report.recommendations {
        recommendations_block(&mut out, recommendations, report.known, width);
    }
    if let Some(verify) = &report.verify {
        verify_block(&mut out, verify, width);
    }
    out
}

/// `captrace: ls -l exited with status 0 after 0.012 s; 3 capabilities checked (tp_btf)`: one line that
/// sets the report apart from COMMAND's own output on the same terminal.
fn header(out: &mut String, report: &Report, width: usize) {
    let target = escape_str(&report.target);
    let elapsed = seconds(report.elapsed.as_nanos());
    let what = match report.exit {
        ExitInfo::Exited(status) => {
            format!("{target} exited with status {status} after {elapsed} s")
        }
        ExitInfo::Signaled(signal) => {
            format!(
                "{target} was killed by {} after {elapsed} s",
                signal_name(signal)
            )
        }
        ExitInfo::NotRun => format!("traced {target} for {elapsed} s"),
    };
    let checked = words::count(report.caps.len() as u64, "capability", "capabilities");
    let line = format!(
        "captrace: {what}; {checked} checked ({})",
        escape_str(report.attach)
    );
    prose(out, &line, width, Some(Style::Header));
    let unattributed = unattributed(report.checks);
    if unattributed > 0 {
        let line = format!(
            "captrace: {} counted without their process (the per-process map was full; \
             CAPTRACE_MAP_KEYS gives it more room)",
            words::count(unattributed, "check was", "checks were")
        );
        prose(out, &line, width, Some(Style::Finding));
    }
    if report.dropped > 0 {
        let lost = format!(
            "captrace: {} in no row (the kernel maps were full): the totals and the needed set are \
             exact, the sources incomplete",
            words::count(report.dropped, "check is", "checks are")
        );
        prose(out, &lost, width, Some(Style::Finding));
    }
}

/// Checks counted without their process (pid 0): the per-process maps were full.
fn unattributed(checks: &[Check]) -> u64 {
    checks
        .iter()
        .filter(|c| c.pid == 0)
        .fold(0u64, |n, c| n.saturating_add(c.count))
}

/// Continuation lines of wrapped prose start this far in.
const PROSE_INDENT: usize = 4;

/// Writes a line of prose (escaped, uncoloured), wrapped at spaces to `width` with its continuation lines
/// indented, each line painted in `style`.
fn prose(out: &mut String, text: &str, width: usize, style: Option<Style>) {
    for line in wrap_prose(text, width, PROSE_INDENT) {
        let _ = writeln!(out, "{}", paint_if(&line, style));
    }
}

/// `text` cut into lines of at most `width` columns, preferring spaces; lines after the first start with
/// `indent` spaces.
fn wrap_prose(text: &str, width: usize, indent: usize) -> Vec<String> {
    let (first, rest) = split_first(text, width);
    let mut lines = vec![first.to_string()];
    if !rest.is_empty() {
        let room = width.saturating_sub(indent).max(MIN_LAST);
        let pad = " ".repeat(indent);
        lines.extend(
            split_width(rest, room)
                .into_iter()
                .map(|l| format!("{pad}{l}")),
        );
    }
    lines
}

/// `SIGKILL (signal 9)`, or `signal 70` for a number without a name. The numbers are libc's, so they are
/// right on every architecture (SIGUSR1 is 10 on x86 and 16 on MIPS).
fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGTSTP => "SIGTSTP",
        libc::SIGTTIN => "SIGTTIN",
        libc::SIGTTOU => "SIGTTOU",
        libc::SIGURG => "SIGURG",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGVTALRM => "SIGVTALRM",
        libc::SIGPROF => "SIGPROF",
        libc::SIGWINCH => "SIGWINCH",
        libc::SIGIO => "SIGIO",
        libc::SIGPWR => "SIGPWR",
        libc::SIGSYS => "SIGSYS",
        _ => return format!("signal {signal}"),
    };
    format!("{name} (signal {signal})")
}

/// Nanoseconds as `seconds.millis`.
fn seconds(nanos: u128) -> String {
    format!("{}.{:03}", nanos / 1_000_000_000, nanos / 1_000_000 % 1000)
}

fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Needed => "needed",
        Verdict::Denied => "denied",
        Verdict::Probe => "probe",
        Verdict::Userns => "userns",
    }
}

/// How a verdict is painted: denials stand out, what is no need recedes.
fn verdict_style(verdict: Verdict) -> Option<Style> {
    match verdict {
        Verdict::Needed => None,
        Verdict::Denied => Some(Style::Finding),
        Verdict::Probe | Verdict::Userns => Some(Style::Dim),
    }
}

/// A capability's name for a cell: bold red when it is needed and gives root away.
fn cap_cell(cap: Cap, verdict: Verdict) -> Cell {
    let name = capcli::render::cap_name(cap).into_owned();
    let style = match verdict {
        Verdict::Needed if capcore::audit::ROOT_EQUIVALENT.contains(cap) => Some(Style::Danger),
        Verdict::Denied => Some(Style::Finding),
        _ => None,
    };
    Cell::new(name).styled(style)
}

/// CAPABILITY VERDICT GRANTED DENIED FIRST SEEN: one row per capability.
fn verdict_table(out: &mut String, report: &Report, width: usize) {
    let mut table = Table::new(&[
        ("CAPABILITY", Align::Left),
        ("VERDICT", Align::Left),
        ("GRANTED", Align::Right),
        ("DENIED", Align::Right),
        ("FIRST SEEN", Align::Right),
    ]);
    for cap in report.caps {
        table.row(vec![
            cap_cell(cap.cap, cap.verdict),
            Cell::new(verdict_word(cap.verdict).to_string()).styled(verdict_style(cap.verdict)),
            Cell::new(cap.granted.to_string()),
            Cell::new(cap.denied.to_string()),
            Cell::new(seconds(u128::from(cap.first_seen_ns))),
        ]);
    }
    table.write(out, width);
}

/// `denied: cap_net_bind_service — the program asked and was refused; not recommended`.
fn denied_line(out: &mut String, report: &Report, width: usize) {
    let denied = report.set_of(Verdict::Denied);
    if denied.is_empty() {
        return;
    }
    let names: Vec<String> = denied
        .iter()
        .map(|cap| capcli::render::cap_name(cap).into_owned())
        .collect();
    let line = format!(
        "denied: {} — the program asked and was refused; not recommended",
        names.join(", ")
    );
    out.push('\n');
    prose(out, &line, width, Some(Style::Finding));
}

/// At most this many sources are listed for one capability; the rest are counted.
const TOP_SOURCES: usize = 3;

/// Where the needed and denied capabilities came from: their busiest sources (kernel function, process).
fn sources(out: &mut String, report: &Report, width: usize) {
    let shown: Vec<&CapReport> = report
        .caps
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Needed | Verdict::Denied))
        .filter(|c| !c.sources.is_empty() || c.folded.lost_rows > 0)
        .collect();
    if shown.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nwhere it came from:");
    let mut table = Table::new(&[
        ("CAPABILITY", Align::Left),
        ("PID", Align::Right),
        ("GRANTED", Align::Right),
        ("DENIED", Align::Right),
        ("COMMAND", Align::Left),
        ("CALLER", Align::Left),
    ])
    .indent(2);
    for cap in shown {
        let mut busiest: Vec<_> = cap.sources.iter().collect();
        busiest.sort_by_key(|s| std::cmp::Reverse(s.granted.saturating_add(s.denied)));
        for source in busiest.iter().take(TOP_SOURCES) {
            table.row(vec![
                cap_cell(cap.cap, cap.verdict),
                Cell::new(source.pid.to_string()),
                Cell::new(source.granted.to_string()),
                Cell::new(source.denied.to_string()),
                comm_cell(&source.comm),
                caller_cell(source.caller.as_deref(), source.noaudit),
            ]);
        }
        if let Some(more) = more_sources(&busiest, &cap.folded) {
            table.row(vec![
                Cell::new(String::new()),
                Cell::new(String::new()),
                Cell::new(String::new()),
                Cell::new(String::new()),
                Cell::new(String::new()),
                Cell::new(more).styled(Some(Style::Dim)),
            ]);
        }
    }
    table.write(out, width);
}

/// `and 197 more sources (197 processes): 197 granted, 0 denied`: what the rows listed leave out, so that
/// every check is accounted for; `None` when nothing is left out.
fn more_sources(busiest: &[&Source], folded: &Folded) -> Option<String> {
    let rest = busiest.get(TOP_SOURCES..).unwrap_or(&[]);
    let sources = (rest.len() as u64).saturating_add(folded.sources);
    let granted = rest
        .iter()
        .fold(folded.granted, |n, s| n.saturating_add(s.granted));
    let denied = rest
        .iter()
        .fold(folded.denied, |n, s| n.saturating_add(s.denied));
    if sources == 0 && folded.lost_rows == 0 {
        return None;
    }
    let shown: Vec<u32> = busiest.iter().take(TOP_SOURCES).map(|s| s.pid).collect();
    let mut pids: Vec<u32> = rest
        .iter()
        .map(|s| s.pid)
        .filter(|p| *p != 0 && !shown.contains(p))
        .collect();
    pids.sort_unstable();
    pids.dedup();
    let processes = (pids.len() as u64).saturating_add(folded.pids);
    let mut text = format!(
        "and {}",
        words::count(sources, "more source", "more sources")
    );
    if processes > 0 {
        let _ = write!(
            text,
            " ({})",
            words::count(processes, "more process", "more processes")
        );
    }
    let _ = write!(text, ": {granted} granted, {denied} denied");
    if folded.lost_rows > 0 {
        let _ = write!(
            text,
            "; {} in no row (full kernel maps)",
            words::count(folded.lost_rows, "check", "checks")
        );
    }
    Some(text)
}

/// A command name, escaped.
fn comm_cell(comm: &[u8]) -> Cell {
    Cell::new(escape_bytes(comm)).max_width(COMM_WIDTH)
}

/// A comm is at most 15 bytes; the column is sized for that, one more for an escape. A longer escaped
/// name pushes only its own row.
const COMM_WIDTH: usize = 16;

/// The kernel function that asked, `(noaudit)` after it for a no-audit check, `-` when no stack was taken.
fn caller_cell(caller: Option<&str>, noaudit: bool) -> Cell {
    let mut text = caller.map_or_else(|| "-".to_string(), escape_str);
    if noaudit {
        text.push_str(" (noaudit)");
    }
    Cell::new(text)
}

/// `--checks`: every check row, as the kernel map aggregated them.
fn check_rows(out: &mut String, checks: &[Check], width: usize) {
    let _ = writeln!(out, "\nevery check ({}):", checks.len());
    if checks.is_empty() {
        return;
    }
    let mut sorted: Vec<&Check> = checks.iter().collect();
    sorted.sort_by_key(|c| (c.cap, c.first_seen_ns, c.pid));
    let mut table = Table::new(&[
        ("CAPABILITY", Align::Left),
        ("RESULT", Align::Left),
        ("NOAUDIT", Align::Left),
        ("NAMESPACE", Align::Left),
        ("PID", Align::Right),
        ("COUNT", Align::Right),
        ("COMMAND", Align::Left),
        ("CALLER", Align::Left),
    ])
    .indent(2);
    for check in sorted {
        let result = if check.granted { "granted" } else { "denied" };
        let noaudit = match check.noaudit {
            Some(true) if check.insetid => "yes,setid",
            Some(true) => "yes",
            Some(false) if check.insetid => "no,setid",
            Some(false) => "no",
            None => "-",
        };
        table.row(vec![
            Cell::new(capcli::render::cap_name(check.cap).into_owned()),
            Cell::new(result.to_string()).styled((!check.granted).then_some(Style::Finding)),
            Cell::new(noaudit.to_string()),
            Cell::new(namespace_text(check)),
            Cell::new(check.pid.to_string()),
            Cell::new(check.count.to_string()),
            comm_cell(&check.comm),
            Cell::new(
                check
                    .caller
                    .as_deref()
                    .map_or_else(|| "-".to_string(), escape_str),
            ),
        ]);
    }
    table.write(out, width);
}

/// `base 4026531837/0`, `created 4026532201/1`, `outside …`: where the namespace sits, its inode and level.
fn namespace_text(check: &Check) -> String {
    format!("{} {}/{}", ns_word(check.ns), check.ns_inum, check.ns_level)
}

fn ns_word(ns: NsPlace) -> &'static str {
    match ns {
        NsPlace::Base => "base",
        NsPlace::Created => "created",
        NsPlace::Outside => "outside",
    }
}

/// Where the labels of the recommendation block end.
const ADVICE_LABEL: usize = 13;

/// The needed set as docker flags, a securityContext, systemd lines and a setcap line, each with the
/// model's word on it.
fn recommendations_block(
    out: &mut String,
    recommendations: &Recommendations,
    known: u32,
    width: usize,
) {
    let _ = writeln!(
        out,
        "\nrecommended (each checked against the execve model):"
    );
    let mut needed = format!("  {:<w$}", "needed:", w = ADVICE_LABEL);
    let indent = 2 + ADVICE_LABEL;
    capcli::render::wrap_into(
        &mut needed,
        summary::long_words(recommendations.needed, known),
        " ",
        indent,
        indent,
        width,
    );
    let _ = writeln!(out, "{needed}");
    advice(out, "docker:", &recommendations.docker, width);
    advice(out, "kubernetes:", &recommendations.kubernetes, width);
    advice(out, "systemd:", &recommendations.systemd, width);
    if let Some(setcap) = &recommendations.setcap {
        advice(out, "setcap:", setcap, width);
    }
}

/// One form: its configuration under its label, or why it does not work and what does instead. Every
/// line of a configuration is escaped (it holds paths and user names from outside).
fn advice(out: &mut String, label: &str, advice: &Advice, width: usize) {
    let pad = " ".repeat(2 + ADVICE_LABEL);
    let mut first = format!("  {label:<w$}", w = ADVICE_LABEL);
    let push_lines = |out: &mut String, text: &str, first: &mut String| {
        for line in text.lines() {
            let _ = writeln!(out, "{first}{}", escape_str(line));
            *first = " ".repeat(first.len());
        }
    };
    if advice.works {
        push_lines(out, &advice.config, &mut first);
        return;
    }
    let why = advice
        .why
        .as_deref()
        .unwrap_or("the model says it does not grant the needed set");
    // The explanation is prose and wraps under its label; the configurations never wrap, so that they
    // copy whole.
    let text = format!("{first}does not work: {}", escape_str(why));
    for (i, line) in wrap_prose(&text, width, pad.len()).iter().enumerate() {
        let line = if i == 0 {
            line.replacen(
                "does not work:",
                &term::paint_if(look().color, Style::Finding, "does not work:"),
                1,
            )
        } else {
            line.clone()
        };
        let _ = writeln!(out, "{line}");
    }
    let mut rest = format!("{pad}  ");
    push_lines(out, &advice.config, &mut rest);
    match &advice.instead {
        Some(instead) => {
            let _ = writeln!(out, "{pad}instead:");
            let mut inner = format!("{pad}  ");
            push_lines(out, instead, &mut inner);
        }
        None => {
            let _ = writeln!(out, "{pad}instead: (no configuration of this kind works)");
        }
    }
}

/// `who asked:` one line per program file and the needed capabilities it was granted, its setcap line
/// when there is one, and a word on shells, interpreters and scripts.
fn files_block(out: &mut String, files: &[FileReport], width: usize) {
    if files.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nwho asked (the file each needed capability was granted to):"
    );
    for file in files {
        let path = file
            .path
            .as_deref()
            .map_or_else(|| "?".to_string(), escape_str);
        let line = format!("  {path}: {}", capcli::render::set_names(file.caps, 0));
        prose(out, &line, width, None);
        // With one file, its setcap line is the recommendation's own, below.
        if let Some(setcap) = file.setcap.as_ref().filter(|_| files.len() > 1) {
            for line in setcap.lines() {
                let _ = writeln!(out, "    {}", escape_str(line));
            }
        }
        if let Some(note) = &file.note {
            prose(
                out,
                &format!("    {}", escape_str(note)),
                width,
                Some(Style::Finding),
            );
        }
    }
}

/// One line per capability `--minimize` tried: removed or kept, and why.
fn minimize_block(out: &mut String, minimized: &Minimized, width: usize) {
    let _ = writeln!(
        out,
        "\nminimize (COMMAND run again without each needed capability):"
    );
    let name_width = minimized
        .trials
        .iter()
        .map(|t| t.cap.to_string().len())
        .max()
        .unwrap_or(0);
    for trial in &minimized.trials {
        let name = format!("{:name_width$}", trial.cap.to_string());
        let line = format!("  {name}  {}", trial_text(trial, minimized.full_exit));
        let style = (!trial.removed).then_some(Style::Header);
        prose(out, &line, width, style);
    }
}

fn trial_text(trial: &Trial, full: ExitInfo) -> String {
    if trial.removed {
        return format!(
            "removed: without it, it {} again and nothing else was refused",
            exit_text(trial.exit)
        );
    }
    let mut causes = Vec::new();
    if trial.exit != full {
        causes.push(format!(
            "without it, it {} ({} with it)",
            exit_text(trial.exit),
            exit_text(full)
        ));
    }
    if !trial.newly_denied.is_empty() {
        causes.push(format!(
            "without it, {} refused too",
            capcli::render::set_names(trial.newly_denied, 0)
        ));
    }
    format!("kept: {}", causes.join("; "))
}

/// `verify: passed …` or `verify: FAILED …`.
fn verify_block(out: &mut String, verify: &VerifyOutcome, width: usize) {
    let mut causes = Vec::new();
    if !verify.same_exit_status {
        causes.push(format!(
            "{} before, {} under the recommended set",
            exit_text(verify.first_exit),
            exit_text(verify.second_exit)
        ));
    }
    if !verify.newly_denied.is_empty() {
        causes.push(format!(
            "refused what the first run was granted: {}",
            capcli::render::set_names(verify.newly_denied, 0)
        ));
    }
    let line = if verify.passed {
        format!(
            "verify: passed: under the recommended set it {} again, and nothing granted before was refused",
            exit_text(verify.second_exit)
        )
    } else if causes.is_empty() {
        "verify: FAILED".to_string()
    } else {
        format!("verify: FAILED: {}", causes.join("; "))
    };
    let style = if verify.passed {
        Style::Header
    } else {
        Style::Finding
    };
    out.push('\n');
    prose(out, &line, width, Some(style));
}

fn exit_text(exit: ExitInfo) -> String {
    match exit {
        ExitInfo::Exited(status) => format!("exited with status {status}"),
        ExitInfo::Signaled(signal) => format!("was killed by {}", signal_name(signal)),
        ExitInfo::NotRun => "did not run".to_string(),
    }
}

// ---------------------------------------------------------------------------------------------------------
// A table written by hand (docs/captrace.md says why not tabled)

#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// One cell: escaped text, painted after it is padded.
struct Cell {
    text: String,
    style: Option<Style>,
    /// The widest this cell may make its column; a wider cell pushes only its own row.
    max_width: usize,
}

impl Cell {
    fn new(text: String) -> Cell {
        Cell {
            text,
            style: None,
            max_width: usize::MAX,
        }
    }

    fn styled(mut self, style: Option<Style>) -> Cell {
        self.style = style;
        self
    }

    fn max_width(mut self, width: usize) -> Cell {
        self.max_width = width;
        self
    }
}

/// Columns sized to their cells; the last column takes what is left of the terminal's width and wraps
/// under itself (into a pipe the width is unbounded, so nothing wraps).
struct Table {
    headers: Vec<(&'static str, Align)>,
    rows: Vec<Vec<Cell>>,
    indent: usize,
}

/// The last column needs at least this many columns beside the others; with less it hangs below them.
const MIN_LAST: usize = 12;
/// Where a hanging last column starts, from the table's indent.
const HANG: usize = 4;

/// Where the last column goes: from column `start`, `room` wide, beside the others or below them.
#[derive(Clone, Copy)]
struct Layout {
    start: usize,
    room: usize,
    hang: bool,
}

impl Table {
    fn new(headers: &[(&'static str, Align)]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
            indent: 0,
        }
    }

    fn indent(mut self, indent: usize) -> Table {
        self.indent = indent;
        self
    }

    fn row(&mut self, cells: Vec<Cell>) {
        debug_assert_eq!(cells.len(), self.headers.len());
        self.rows.push(cells);
    }

    fn write(&self, out: &mut String, width: usize) {
        let last = self.headers.len() - 1;
        let widths: Vec<usize> = (0..last)
            .map(|i| {
                self.rows
                    .iter()
                    .map(|row| display_width(&row[i].text).min(row[i].max_width))
                    .max()
                    .unwrap_or(0)
                    .max(self.headers[i].0.len())
            })
            .collect();
        let mut start = self.indent + widths.iter().map(|w| w + 2).sum::<usize>();
        // Without room beside the other columns, the last one goes on lines of its own below them.
        let hang = width.saturating_sub(start) < MIN_LAST;
        if hang {
            start = self.indent + HANG;
        }
        let room = width.saturating_sub(start).max(MIN_LAST);
        let layout = Layout { start, room, hang };
        let headers: Vec<Cell> = self
            .headers
            .iter()
            .map(|(h, _)| Cell::new(h.to_string()).styled(Some(Style::Header)))
            .collect();
        self.line(out, &headers, &widths, layout);
        for row in &self.rows {
            self.line(out, row, &widths, layout);
        }
    }

    /// The width of the last column's widest cell or header.
    fn last_width(&self) -> usize {
        let last = self.headers.len() - 1;
        self.rows
            .iter()
            .map(|row| display_width(&row[last].text))
            .chain([self.headers[last].0.len()])
            .max()
            .unwrap_or(0)
    }

    fn line(&self, out: &mut String, cells: &[Cell], widths: &[usize], layout: Layout) {
        let mut line = " ".repeat(self.indent);
        for ((cell, width), (_, align)) in cells.iter().zip(widths).zip(&self.headers) {
            let pad = " ".repeat(width.saturating_sub(display_width(&cell.text)));
            let text = paint(cell);
            match align {
                Align::Left => {
                    line.push_str(&text);
                    line.push_str(&pad);
                }
                Align::Right => {
                    line.push_str(&pad);
                    line.push_str(&text);
                }
            }
            line.push_str("  ");
        }
        let last = &cells[cells.len() - 1];
        let mut pieces = split_width(&last.text, layout.room).into_iter();
        if layout.hang {
            let _ = writeln!(out, "{}", line.trim_end());
        } else {
            let first = pieces.next().unwrap_or_default();
            if self.headers[cells.len() - 1].1 == Align::Right {
                let pad = self
                    .last_width()
                    .min(layout.room)
                    .saturating_sub(display_width(&first));
                line.push_str(&" ".repeat(pad));
            }
            line.push_str(&paint_if(&first, last.style));
            let _ = writeln!(out, "{}", line.trim_end());
        }
        for piece in pieces.filter(|p| !p.is_empty()) {
            let indent = " ".repeat(layout.start);
            let _ = writeln!(out, "{indent}{}", paint_if(&piece, last.style));
        }
    }
}

fn paint(cell: &Cell) -> String {
    paint_if(&cell.text, cell.style)
}

fn paint_if(text: &str, style: Option<Style>) -> String {
    match style {
        Some(style) => term::paint_if(look().color, style, text).into_owned(),
        None => text.to_string(),
    }
}

/// `text` (escaped, uncoloured) cut into pieces of at most `width` characters, preferring to break after
/// a space. An escape such as `\x1b` may be split across lines, but nothing is lost.
fn split_width(text: &str, width: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    loop {
        let (piece, more) = split_first(rest, width);
        pieces.push(piece.to_string());
        if more.is_empty() {
            return pieces;
        }
        rest = more;
    }
}

/// The first line of `text` at `width` characters (at least one), broken after its last space that fits
/// or else at the width, without its trailing spaces; and the rest, without its leading ones.
fn split_first(text: &str, width: usize) -> (&str, &str) {
    let width = width.max(1);
    if display_width(text) <= width {
        return (text, "");
    }
    let cut = text
        .char_indices()
        .nth(width)
        .map_or(text.len(), |(i, _)| i);
    let at = text[..cut]
        .rfind(' ')
        .filter(|&i| !text[..i].trim().is_empty())
        .map_or(cut, |i| i + 1);
    (text[..at].trim_end(), text[at..].trim_start())
}

// ---------------------------------------------------------------------------------------------------------
// NDJSON

/// One NDJSON record.
#[derive(Serialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record<'a> {
    Capability(CapabilityRecord<'a>),
    Check(CheckRecord<'a>),
    Summary(Box<SummaryRecord<'a>>),
}

/// `{"record": "capability", "cap", "verdict", "granted", "denied", "first_seen_ms", "namespaces",
/// "sources", "folded"}`: `sources` plus `folded` add up to `granted_checks` and `denied_checks`.
#[derive(Serialize)]
pub struct CapabilityRecord<'a> {
    cap: String,
    verdict: Verdict,
    /// Counts of checks: `denied` alone is the summary's set of denied capabilities.
    #[serde(rename = "granted_checks")]
    granted: u64,
    #[serde(rename = "denied_checks")]
    denied: u64,
    first_seen_ms: f64,
    namespaces: &'a [u32],
    sources: Vec<SourceRecord<'a>>,
    folded: Folded,
}

#[derive(Serialize)]
struct SourceRecord<'a> {
    caller: Option<&'a str>,
    pid: u32,
    comm: ExternalBytes,
    #[serde(rename = "granted_checks")]
    granted: u64,
    #[serde(rename = "denied_checks")]
    denied: u64,
    noaudit: bool,
}

/// `{"record": "check", …}`: one aggregated row of checks (`--checks`).
#[derive(Serialize)]
pub struct CheckRecord<'a> {
    cap: String,
    result: &'static str,
    noaudit: Option<bool>,
    insetid: bool,
    ns: NsPlace,
    ns_inum: u32,
    ns_level: u32,
    pid: u32,
    comm: ExternalBytes,
    caller: Option<&'a str>,
    count: u64,
    first_seen_ms: f64,
}

/// `{"record": "summary", …}`: the sets by verdict, the recommendations, how the run ended.
#[derive(Serialize)]
pub struct SummaryRecord<'a> {
    target: &'a str,
    needed: CapSet,
    denied: CapSet,
    probe: CapSet,
    /// The `userns` verdict's set (`userns` is a namespace's description in capls and capnet).
    #[serde(rename = "userns_only")]
    userns: CapSet,
    docker: Option<&'a str>,
    kubernetes: Option<&'a KubeContext>,
    systemd: Option<&'a str>,
    setcap: Option<&'a str>,
    advice: Option<Vec<AdviceWord<'a>>>,
    exit_status: Option<i32>,
    signal: Option<i32>,
    elapsed_ms: f64,
    attach: &'a str,
    dropped: u64,
    unattributed: u64,
    verify: Option<VerifyRecord>,
    minimize: Option<MinimizeRecord>,
    files: Vec<FileRecord<'a>>,
}

/// `{"path", "interpreter", "needed", "setcap", "note"}`: one file that asked.
#[derive(Serialize)]
struct FileRecord<'a> {
    path: Option<&'a str>,
    interpreter: Option<&'a str>,
    needed: CapSet,
    setcap: Option<&'a str>,
    note: Option<&'a str>,
}

/// `{"kept", "removed", "trials": [{"cap", "outcome", "exit", "newly_denied"}]}`.
#[derive(Serialize)]
struct MinimizeRecord {
    kept: CapSet,
    removed: CapSet,
    trials: Vec<TrialRecord>,
}

#[derive(Serialize)]
struct TrialRecord {
    cap: String,
    /// `removed` or `kept`.
    outcome: &'static str,
    exit: ExitRecord,
    newly_denied: CapSet,
}

/// The model's word on one form: `{"form", "works", "why", "instead"}`. The forms are a list, so that
/// `docker` and the others keep their one meaning as keys: the configuration itself.
#[derive(Serialize)]
struct AdviceWord<'a> {
    form: &'static str,
    works: bool,
    why: Option<&'a str>,
    instead: Option<&'a str>,
}

impl<'a> AdviceWord<'a> {
    fn of(form: &'static str, advice: &'a Advice) -> Self {
        AdviceWord {
            form,
            works: advice.works,
            why: advice.why.as_deref(),
            instead: advice.instead.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct VerifyRecord {
    passed: bool,
    same_exit_status: bool,
    newly_denied: CapSet,
    first_exit: ExitRecord,
    second_exit: ExitRecord,
}

/// `{"exit_status": N|null, "signal": N|null}`.
#[derive(Serialize)]
struct ExitRecord {
    exit_status: Option<i32>,
    signal: Option<i32>,
}

impl From<ExitInfo> for ExitRecord {
    fn from(exit: ExitInfo) -> Self {
        match exit {
            ExitInfo::Exited(status) => ExitRecord {
                exit_status: Some(status),
                signal: None,
            },
            ExitInfo::Signaled(signal) => ExitRecord {
                exit_status: None,
                signal: Some(signal),
            },
            ExitInfo::NotRun => ExitRecord {
                exit_status: None,
                signal: None,
            },
        }
    }
}

/// Nanoseconds as milliseconds, to the microsecond.
fn millis(nanos: u128) -> f64 {
    (nanos / 1000) as f64 / 1000.0
}

/// The records, in order: capabilities, check rows (`all`), the summary.
pub fn records<'a>(report: &'a Report, all: bool) -> Vec<Record<'a>> {
    let mut records: Vec<Record> = report
        .caps
        .iter()
        .map(capability_record)
        .map(Record::Capability)
        .collect();
    if all {
        let mut sorted: Vec<&Check> = report.checks.iter().collect();
        sorted.sort_by_key(|c| (c.cap, c.first_seen_ns, c.pid));
        records.extend(sorted.into_iter().map(check_record).map(Record::Check));
    }
    records.push(Record::Summary(Box::new(summary_record(report))));
    records
}

fn capability_record(cap: &CapReport) -> CapabilityRecord<'_> {
    CapabilityRecord {
        cap: cap.cap.to_string(),
        verdict: cap.verdict,
        granted: cap.granted,
        denied: cap.denied,
        first_seen_ms: millis(u128::from(cap.first_seen_ns)),
        namespaces: &cap.namespaces,
        sources: cap
            .sources
            .iter()
            .map(|s| SourceRecord {
                caller: s.caller.as_deref(),
                pid: s.pid,
                comm: ExternalBytes(s.comm.clone()),
                granted: s.granted,
                denied: s.denied,
                noaudit: s.noaudit,
            })
            .collect(),
        folded: cap.folded,
    }
}

fn check_record(check: &Check) -> CheckRecord<'_> {
    CheckRecord {
        cap: check.cap.to_string(),
        result: if check.granted { "granted" } else { "denied" },
        noaudit: check.noaudit,
        insetid: check.insetid,
        ns: check.ns,
        ns_inum: check.ns_inum,
        ns_level: check.ns_level,
        pid: check.pid,
        comm: ExternalBytes(check.comm.clone()),
        caller: check.caller.as_deref(),
        count: check.count,
        first_seen_ms: millis(u128::from(check.first_seen_ns)),
    }
}

fn summary_record<'a>(report: &'a Report) -> SummaryRecord<'a> {
    let rec = report.recommendations;
    let exit = ExitRecord::from(report.exit);
    SummaryRecord {
        target: &report.target,
        needed: report.set_of(Verdict::Needed),
        denied: report.set_of(Verdict::Denied),
        probe: report.set_of(Verdict::Probe),
        userns: report.set_of(Verdict::Userns),
        docker: rec.map(|r| r.docker.config.as_str()),
        kubernetes: rec.map(|r| &r.kubernetes_context),
        systemd: rec.map(|r| r.systemd.config.as_str()),
        setcap: rec
            .and_then(|r| r.setcap.as_ref())
            .map(|a| a.config.as_str()),
        advice: rec.map(|r| {
            let mut words = vec![
                AdviceWord::of("docker", &r.docker),
                AdviceWord::of("kubernetes", &r.kubernetes),
                AdviceWord::of("systemd", &r.systemd),
            ];
            words.extend(r.setcap.as_ref().map(|a| AdviceWord::of("setcap", a)));
            words
        }),
        exit_status: exit.exit_status,
        signal: exit.signal,
        elapsed_ms: millis(report.elapsed.as_nanos()),
        attach: report.attach,
        dropped: report.dropped,
        unattributed: unattributed(report.checks),
        verify: report.verify.map(|v| VerifyRecord {
            passed: v.passed,
            same_exit_status: v.same_exit_status,
            newly_denied: v.newly_denied,
            first_exit: v.first_exit.into(),
            second_exit: v.second_exit.into(),
        }),
        files: report
            .files
            .iter()
            .map(|f| FileRecord {
                path: f.path.as_deref(),
                interpreter: f.interpreter.as_deref(),
                needed: f.caps,
                setcap: f.setcap.as_deref(),
                note: f.note.as_deref(),
            })
            .collect(),
        minimize: report.minimized.map(|m| MinimizeRecord {
            kept: m.kept,
            removed: m.removed,
            trials: m
                .trials
                .iter()
                .map(|t| TrialRecord {
                    cap: t.cap.to_string(),
                    outcome: if t.removed { "removed" } else { "kept" },
                    exit: t.exit.into(),
                    newly_denied: t.newly_denied,
                })
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    /// The summary's advice on one form.
    fn advice_of<'v>(value: &'v serde_json::Value, form: &str) -> &'v serde_json::Value {
        value["advice"]
            .as_array()
            .and_then(|words| words.iter().find(|w| w["form"] == form))
            .unwrap_or(&serde_json::Value::Null)
    }

    use super::*;
    use capcore::needs::{KubeCapabilities, Source};

    fn source(caller: &str, pid: u32, comm: &[u8], granted: u64, denied: u64) -> Source {
        Source {
            caller: Some(caller.to_string()),
            pid,
            comm: comm.to_vec(),
            granted,
            denied,
            noaudit: false,
        }
    }

    fn caps() -> Vec<CapReport> {
        vec![
            CapReport {
                cap: Cap::NET_BIND_SERVICE,
                verdict: Verdict::Needed,
                granted: 1,
                denied: 0,
                first_seen_ns: 12_345_678,
                namespaces: vec![4026531837],
                sources: vec![source("inet_bind", 4242, b"python3", 1, 0)],
                folded: Folded::default(),
            },
            CapReport {
                cap: Cap::SYS_ADMIN,
                verdict: Verdict::Probe,
                granted: 0,
                denied: 57,
                first_seen_ns: 1_000_000,
                namespaces: vec![4026531837],
                sources: vec![Source {
                    noaudit: true,
                    ..source("security_vm_enough_memory_mm", 4242, b"python3", 0, 57)
                }],
                folded: Folded::default(),
            },
            CapReport {
                cap: Cap::NET_RAW,
                verdict: Verdict::Denied,
                granted: 0,
                denied: 2,
                first_seen_ns: 2_000_000_500,
                namespaces: vec![4026531837],
                sources: vec![source("inet_create", 4243, b"evil\x1b[31m\n", 0, 2)],
                folded: Folded::default(),
            },
        ]
    }

    fn checks() -> Vec<Check> {
        vec![Check {
            cap: Cap::NET_RAW,
            granted: false,
            noaudit: Some(false),
            insetid: false,
            ns: NsPlace::Base,
            ns_inum: 4026531837,
            ns_level: 0,
            pid: 4243,
            comm: b"evil\x1b[31m\n".to_vec(),
            caller: Some("inet_create".to_string()),
            count: 2,
            first_seen_ns: 2_000_000_500,
            recovered: false,
        }]
    }

    fn advice(config: &str, works: bool) -> Advice {
        Advice {
            config: config.to_string(),
            works,
            why: (!works).then(|| {
                "a non-root container holds added capabilities only in its bounding set".to_string()
            }),
            instead: (!works).then(|| "securityContext:\n  runAsUser: 0".to_string()),
        }
    }

    fn recommendations() -> Recommendations {
        Recommendations {
            needed: CapSet::from_caps([Cap::NET_BIND_SERVICE]),
            docker: advice("--cap-drop=ALL --cap-add=NET_BIND_SERVICE", true),
            kubernetes: advice("securityContext:\n  capabilities:\n    add: [NET_BIND_SERVICE]", false),
            kubernetes_context: KubeContext {
                run_as_user: Some(1000),
                run_as_group: None,
                allow_privilege_escalation: false,
                capabilities: KubeCapabilities {
                    drop: vec!["ALL".into()],
                    add: vec!["NET_BIND_SERVICE".into()],
                },
            },
            systemd: advice("CapabilityBoundingSet=CAP_NET_BIND_SERVICE\nAmbientCapabilities=CAP_NET_BIND_SERVICE", true),
            setcap: Some(advice("setcap cap_net_bind_service=ep /srv/we\x1bird", true)),
        }
    }

    fn report<'a>(
        caps: &'a [CapReport],
        checks: &'a [Check],
        recommendations: Option<&'a Recommendations>,
    ) -> Report<'a> {
        Report {
            caps,
            checks,
            recommendations,
            exit: ExitInfo::Exited(0),
            attach: "tp_btf",
            dropped: 0,
            verify: None,
            minimized: None,
            files: &[],
            known: 41,
            target: "python3 -m http.server 80".to_string(),
            elapsed: Duration::from_millis(2500),
        }
    }

    /// Nothing a test renders may carry a control character but the line ends (the tests run without a
    /// terminal: no colour).
    fn assert_clean(text: &str) {
        for line in text.lines() {
            assert!(
                !line.chars().any(char::is_control),
                "control character in {line:?}"
            );
        }
    }

    #[test]
    fn the_pipe_form_has_one_line_per_row() {
        let (caps, checks, rec) = (caps(), checks(), recommendations());
        let text = human(&report(&caps, &checks, Some(&rec)), false);
        assert_clean(&text);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "captrace: python3 -m http.server 80 exited with status 0 after 2.500 s; 3 capabilities checked (tp_btf)"
        );
        assert_eq!(
            lines[1],
            "CAPABILITY            VERDICT  GRANTED  DENIED  FIRST SEEN"
        );
        assert_eq!(
            lines[2],
            "cap_net_bind_service  needed         1       0       0.012"
        );
        assert_eq!(
            lines[3],
            "cap_sys_admin         probe          0      57       0.001"
        );
        assert_eq!(
            lines[4],
            "cap_net_raw           denied         0       2       2.000"
        );
        assert!(text.contains(
            "\ndenied: cap_net_raw — the program asked and was refused; not recommended\n"
        ));
        // Sources of needed and denied capabilities only: the probe's stay in the table.
        assert!(
            text.contains(
                "  cap_net_bind_service  4242        1       0  python3         inet_bind\n"
            ),
            "{text}"
        );
        assert!(!text.contains("security_vm_enough_memory_mm"));
        assert!(text.contains("  docker:      --cap-drop=ALL --cap-add=NET_BIND_SERVICE\n"));
        assert!(text.contains(
            "  systemd:     CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n               AmbientCapabilities=CAP_NET_BIND_SERVICE\n"
        ));
        // --checks is off: no check rows.
        assert!(!text.contains("every check"));
    }

    #[test]
    fn a_hostile_comm_is_escaped_everywhere() {
        let (caps, checks, rec) = (caps(), checks(), recommendations());
        let report = report(&caps, &checks, Some(&rec));
        let text = human(&report, true);
        assert_clean(&text);
        assert!(text.contains("evil\\x1b[31m\\n"), "{text}");
        assert!(text.contains("/srv/we\\x1bird"), "{text}");
        for record in records(&report, true) {
            let json = capcli::json::to_string(&record).unwrap();
            assert!(!json.chars().any(char::is_control), "{json}");
            if json.contains("evil") {
                assert!(json.contains(r#""comm":"evil\u001b[31m\n""#), "{json}");
            }
        }
        let target = Report {
            target: "sh -c 'printf \u{1b}]0;pwned\u{7}'".to_string(),
            ..report
        };
        assert!(
            human(&target, false).starts_with("captrace: sh -c 'printf \\x1b]0;pwned\\x07' exited")
        );
    }

    #[test]
    fn advice_that_does_not_work_says_why_and_what_does() {
        let (caps, checks, rec) = (caps(), checks(), recommendations());
        let text = human(&report(&caps, &checks, Some(&rec)), false);
        let at = text
            .find("  kubernetes:  does not work: a non-root container")
            .expect(&text);
        let block = &text[at..];
        assert!(
            block.contains("\n                 securityContext:\n"),
            "{block}"
        );
        assert!(block.contains("\n               instead:\n                 securityContext:\n                   runAsUser: 0\n"), "{block}");
        let report = report(&caps, &checks, Some(&rec));
        let summary = records(&report, false).pop().unwrap();
        let json = capcli::json::to_string(&summary).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(advice_of(&value, "kubernetes")["works"], false);
        assert_eq!(
            advice_of(&value, "kubernetes")["instead"],
            "securityContext:\n  runAsUser: 0"
        );
        assert_eq!(advice_of(&value, "docker")["works"], true);
        assert_eq!(advice_of(&value, "docker")["why"], serde_json::Value::Null);
    }

    #[test]
    fn the_json_form() {
        let (caps, checks, rec) = (caps(), checks(), recommendations());
        let mut report = report(&caps, &checks, Some(&rec));
        report.verify = Some(VerifyOutcome {
            same_exit_status: true,
            newly_denied: CapSet::EMPTY,
            first_exit: ExitInfo::Exited(0),
            second_exit: ExitInfo::Exited(0),
            passed: true,
        });
        let lines: Vec<String> = records(&report, true)
            .iter()
            .map(|r| capcli::json::to_string(r).unwrap())
            .collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(
            lines[0],
            r#"{"record":"capability","cap":"cap_net_bind_service","verdict":"needed","granted_checks":1,"denied_checks":0,"first_seen_ms":12.345,"namespaces":[4026531837],"sources":[{"caller":"inet_bind","pid":4242,"comm":"python3","granted_checks":1,"denied_checks":0,"noaudit":false}],"folded":{"source_rows":0,"pids":0,"granted_checks":0,"denied_checks":0,"lost_rows":0}}"#
        );
        assert_eq!(
            lines[3],
            r#"{"record":"check","cap":"cap_net_raw","result":"denied","noaudit":false,"insetid":false,"ns":"base","ns_inum":4026531837,"ns_level":0,"pid":4243,"comm":"evil\u001b[31m\n","caller":"inet_create","count":2,"first_seen_ms":2000.0}"#
        );
        let summary: serde_json::Value = serde_json::from_str(&lines[4]).unwrap();
        assert_eq!(summary["record"], "summary");
        assert_eq!(summary["needed"]["hex"], "0000000000000400");
        assert_eq!(summary["needed"]["caps"][0], "cap_net_bind_service");
        assert_eq!(summary["denied"]["caps"][0], "cap_net_raw");
        assert_eq!(summary["probe"]["caps"][0], "cap_sys_admin");
        assert_eq!(summary["userns_only"]["hex"], "0000000000000000");
        assert_eq!(
            summary["docker"],
            "--cap-drop=ALL --cap-add=NET_BIND_SERVICE"
        );
        assert_eq!(summary["kubernetes"]["runAsUser"], 1000);
        assert_eq!(summary["kubernetes"]["allowPrivilegeEscalation"], false);
        assert_eq!(summary["kubernetes"]["capabilities"]["drop"][0], "ALL");
        assert_eq!(
            summary["setcap"],
            "setcap cap_net_bind_service=ep /srv/we\u{1b}ird"
        );
        assert_eq!(summary["exit_status"], 0);
        assert_eq!(summary["signal"], serde_json::Value::Null);
        assert_eq!(summary["attach"], "tp_btf");
        assert_eq!(summary["dropped"], 0);
        assert_eq!(summary["elapsed_ms"], 2500.0);
        assert_eq!(summary["verify"]["passed"], true);
        assert_eq!(
            summary["verify"]["newly_denied"]["caps"],
            serde_json::json!([])
        );
        assert_eq!(summary["verify"]["second_exit"]["exit_status"], 0);
        // Without --checks there are no check records.
        assert_eq!(records(&report, false).len(), 4);
    }

    #[test]
    fn a_target_that_was_not_run_has_no_recommendations() {
        let report = Report {
            exit: ExitInfo::NotRun,
            target: "pid 1234".to_string(),
            dropped: 3,
            ..report(&[], &[], None)
        };
        let text = human(&report, true);
        assert!(text.starts_with(
            "captrace: traced pid 1234 for 2.500 s; 0 capabilities checked (tp_btf)\n"
        ));
        assert!(text.contains("3 checks are in no row"), "{text}");
        assert!(text.contains("no capability was checked"));
        assert!(!text.contains("recommended"));
        let summary = capcli::json::to_string(&records(&report, false)[0]).unwrap();
        assert!(summary.contains(r#""docker":null,"kubernetes":null,"systemd":null,"setcap":null,"advice":null,"exit_status":null,"signal":null"#), "{summary}");
    }

    #[test]
    fn signals_and_a_failed_verify() {
        let caps = caps();
        let mut report = report(&caps, &[], None);
        report.exit = ExitInfo::Signaled(9);
        report.verify = Some(VerifyOutcome {
            same_exit_status: false,
            newly_denied: CapSet::from_caps([Cap::NET_BIND_SERVICE]),
            first_exit: ExitInfo::Exited(0),
            second_exit: ExitInfo::Exited(1),
            passed: false,
        });
        let text = human(&report, false);
        assert!(text.contains("was killed by SIGKILL (signal 9) after"));
        assert!(text.contains(
            "verify: FAILED: exited with status 0 before, exited with status 1 under the recommended set; refused what the first run was granted: cap_net_bind_service"
        ), "{text}");
        assert_eq!(signal_name(70), "signal 70");
        assert_eq!(signal_name(-1), "signal -1");
    }

    #[test]
    fn many_sources_are_cut_to_the_busiest() {
        let mut caps = caps();
        caps[0].sources = (0..5)
            .map(|i| source("inet_bind", 100 + i, b"srv", u64::from(i), 0))
            .collect();
        let text = human(&report(&caps, &[], None), false);
        assert!(text.contains("  104 "));
        assert!(text.contains("  102 "));
        assert!(!text.contains("  101 "));
        assert!(text.contains("and 2 more sources"), "{text}");
    }

    #[test]
    fn a_terminal_fits_its_width() {
        let (mut caps, mut checks, rec) = (caps(), checks(), recommendations());
        let long = "a_very_long_kernel_function_name_that_goes_on_and_on_and_on";
        caps[0].sources[0].caller = Some(long.to_string());
        checks[0].caller = Some(long.to_string());
        let text = human_in(&report(&caps, &checks, Some(&rec)), true, 80);
        for line in text.lines() {
            assert!(
                display_width(line) <= 80,
                "{} columns: {line}",
                display_width(line)
            );
        }
        // The caller is whole across its lines, which start under its column.
        let at = text.find("a_very_long").expect(&text);
        let column = at - text[..at].rfind('\n').map_or(0, |i| i + 1);
        let rest: String = text[at..].lines().take(4).map(|l| l.trim_start()).collect();
        assert!(rest.starts_with(long), "{text}");
        let second = text[at..].lines().nth(1).unwrap();
        assert_eq!(second.len() - second.trim_start().len(), column, "{text}");
    }

    #[test]
    fn long_cells_wrap_under_their_column() {
        assert_eq!(split_width("abcdef", 4), ["abcd", "ef"]);
        assert_eq!(split_width("ab cd ef", 6), ["ab cd", "ef"]);
        assert_eq!(split_width("short", 10), ["short"]);
        assert_eq!(split_width("", 10), [""]);
        assert_eq!(split_width("äöü", 1), ["ä", "ö", "ü"]);
        assert_eq!(
            wrap_prose("aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii", 20, 4),
            ["aaaa bbbb cccc dddd", "    eeee ffff gggg", "    hhhh iiii"]
        );
        // Leading spaces are no place to break.
        assert_eq!(wrap_prose("  lead  and", 5, 0), ["  lea", "d  and"]);
        assert_eq!(seconds(1_999_999_999), "1.999");
        assert_eq!(millis(1_234_567), 1.234);
    }
}
