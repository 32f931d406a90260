//! captrace: which capabilities a program really uses, traced with eBPF on the kernel's own capability
//! checks, and the smallest configuration that runs it, checked against the execve model before it is
//! printed.
//!
//! This file is the orchestration: where the checks come from (a COMMAND started in a cgroup leaf of its
//! own, or a running pid tree, cgroup, unit or container), when tracing stops, `--verify`'s second run, and
//! the exit status. The kernel side is capbpf; the verdicts and recommendations are capcore::needs; the
//! report is render.rs.

#![cfg_attr(not(test), no_main)]

mod args;
mod guard;
mod render;
mod signals;
mod sink;

use std::error::Error;
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use capbpf::{Attach, Collected, Options, Scope, Tracer};
use capcli::term::ColorChoice;
use capcli::EXIT_FAILURE;
use capcore::exec::FileState;
use capcore::needs::{self, Check, NsPlace, RunFacts, RunUser};
use capcore::procstatus::TaskStatus;
use capcore::set::CapSet;
use capsys::cgroup::{self, CgroupRef, Leaf};
use capsys::exec_file::{ExecTarget, XattrRead};
use capsys::launch::{self, Launch};
use clap::CommandFactory;

use args::Args;
use render::{ExitInfo, FileReport, Minimized, Report, Trial, VerifyOutcome};
use signals::Signals;

const PROG: &str = "captrace";

/// How long a leaf may take to empty after COMMAND exits before what lingers in it is killed.
const LEAF_GRACE: Duration = Duration::from_secs(2);

/// The most read of a /proc or cgroup file (a status file, a cgroup's process list).
const SMALL_FILE: u64 = 1 << 20;

/// How often a running target is looked at (Ctrl-C, --duration, the target gone).
const POLL: Duration = Duration::from_millis(50);

capcli::c_main!(run_program);

/// The program, run from the C entry point (capcli::start).
#[cfg_attr(test, allow(dead_code))]
fn run_program() -> ExitCode {
    if let Some(code) = capcli::generate::intercept(PROG, Args::command) {
        return code;
    }
    capcli::run(PROG, real_main)
}

fn real_main() -> Result<u8, Box<dyn Error>> {
    let args: Args = capcli::args::parse(PROG);
    let known = capsys::kernel::known_caps_or_default();
    // Signals are caught from the start: Ctrl-C must never leave a leaf behind.
    let signals = Signals::install()?;
    // Before anything is made or started: where tracing cannot work, COMMAND never runs.
    capbpf::preflight()?;
    let runs_command = !args.command.is_empty();
    let color = if args.json {
        ColorChoice::Never
    } else {
        args.color
    };
    let mut sink = sink::open(args.output.as_deref(), runs_command, color)?;
    render::init(sink.term);
    if runs_command {
        trace_command(&args, known, &signals, &mut sink)
    } else {
        trace_running(&args, known, &signals, &mut sink)
    }
}

/// One traced run of COMMAND.
struct Run {
    collected: Collected,
    attach: Attach,
    exit: ExitInfo,
    elapsed: Duration,
}

/// `captrace [OPTIONS] -- COMMAND [ARG...]`.
fn trace_command(
    args: &Args,
    known: u32,
    signals: &Signals,
    sink: &mut sink::Sink,
) -> Result<u8, Box<dyn Error>> {
    let name = &args.command[0];
    // resolve_program's errors name the program.
    let program = launch::resolve_program(name)?;
    let user = match &args.user {
        Some(spec) => Some(launch::resolve_user(&spec_text(spec))?),
        None => None,
    };
    let file = read_file_state(&program)?;
    // Leaves of earlier runs that were killed before they could clean up.
    let _ = cgroup::remove_stale_leaves();
    let first = run_once(args, &program, user.clone(), None, signals)?;
    let caps = exact_verdicts(&first.collected);
    let needed = needs::needed(&caps);
    let facts_for = |file: &ProgramFile| RunFacts {
        user: user.clone(),
        file: file.state.clone(),
        program: file.path.to_string_lossy().into_owned(),
        exec_gained_privilege: first.collected.escalations > 0,
        known,
    };
    let minimized = if args.minimize && !signals.stopped() {
        Some(minimize(
            args,
            &program,
            user.as_ref(),
            &first,
            needed,
            signals,
        )?)
    } else {
        None
    };
    if minimized.is_some() && first.exit != ExitInfo::Exited(0) {
        capcli::output::warn(
            PROG,
            "note",
            &"--minimize: COMMAND failed even with every needed capability; a capability it removed only \
              left that failure unchanged, which says little about what a working run needs",
        );
    }
    // With --minimize, the configurations are written for what it kept.
    let recommended = minimized.as_ref().map_or(needed, |m| m.kept);
    // The file-based advice goes on the file that asked, when one file asked for all of it.
    let needs_by_file =
        needs::needs_by_file(&first.collected.checks, &first.collected.execs, recommended);
    let files: Vec<FileReport> = needs_by_file
        .iter()
        .map(|need| file_report(need, &facts_for))
        .collect();
    let asking = match needs_by_file.as_slice() {
        [only] if !only.path.is_empty() => read_file_state(&resolve(&only.path)).ok(),
        _ => None,
    };
    let file = asking.unwrap_or(file);
    let recommendations = needs::with_files(
        needs::recommend(recommended, &facts_for(&file)),
        &per_file_recommendations(&needs_by_file, &facts_for),
    );
    let verify = if args.verify && !signals.stopped() {
        let second = run_once(args, &program, user, Some(recommended), signals)?;
        Some(compare(&first, &second))
    } else {
        None
    };
    for note in &file.notes {
        capcli::output::warn(PROG, &show(file.path.as_os_str()), note);
    }
    let report = Report {
        caps: &caps,
        checks: &first.collected.checks,
        recommendations: Some(&recommendations),
        exit: first.exit,
        attach: first.attach.name(),
        dropped: first.collected.dropped,
        verify,
        minimized: minimized.as_ref(),
        files: &files,
        known,
        target: command_line(&args.command),
        elapsed: first.elapsed,
    };
    // A report nobody reads any more (a closed pipe) is no reason to lose COMMAND's status.
    match print(args, &report, sink) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    Ok(match (verify, first.exit) {
        (Some(outcome), _) if !outcome.passed => capcli::EXIT_FINDINGS,
        (_, ExitInfo::Exited(code)) => u8::try_from(code).unwrap_or(u8::MAX),
        (_, ExitInfo::Signaled(signal)) => u8::try_from(128 + signal).unwrap_or(u8::MAX),
        (_, ExitInfo::NotRun) => capcli::EXIT_OK,
    })
}

/// Starts COMMAND in a fresh leaf with the tracer attached, waits for it, and reads what was counted.
/// The leaf is removed and the programs detached on every way out.
fn run_once(
    args: &Args,
    program: &Path,
    user: Option<RunUser>,
    caps: Option<CapSet>,
    signals: &Signals,
) -> Result<Run, Box<dyn Error>> {
    let mut leaf = Leaf::create().map_err(|e| format!("cannot make a cgroup for COMMAND: {e}"))?;
    let leaf_path = leaf.cgroup_ref().path.clone();
    // Killed with SIGKILL, captrace cannot clean up: the watcher then kills COMMAND and removes the leaf.
    let guard = guard::Guard::watch(&leaf_path).map_err(|e| {
        let _ = leaf.remove(LEAF_GRACE);
        format!("cannot start the watcher of {}: {e}", leaf_path.display())
    })?;
    let result = run_in_leaf(args, program, user, caps, signals, &leaf);
    if let Err(e) = leaf.remove(LEAF_GRACE) {
        capcli::output::warn(PROG, &leaf_path.to_string_lossy(), &e);
    }
    guard.release();
    result
}

fn run_in_leaf(
    args: &Args,
    program: &Path,
    user: Option<RunUser>,
    caps: Option<CapSet>,
    signals: &Signals,
    leaf: &Leaf,
) -> Result<Run, Box<dyn Error>> {
    let base_ns = cgroup::userns_of(std::process::id())?;
    let options = Options {
        scope: cgroup_scope(leaf.cgroup_ref()),
        base_ns,
        gate_on_exec: true,
        only: attach_override()?,
        map_keys: map_keys_override()?,
    };
    let tracer = Tracer::start(&options)?;
    let attach = tracer.attach();
    let started = Instant::now();
    let launch = Launch {
        program: program.to_path_buf(),
        args: args.command.clone(),
        user,
        caps,
        cgroup_procs: leaf.procs_path(),
    };
    let mut child = launch::spawn(&launch)?;
    signals.forward_to(child.id());
    let status = child.wait();
    signals.forward_to(0);
    let status = status?;
    let elapsed = started.elapsed();
    // What COMMAND's leftovers do after it exits is not counted: its report is its own.
    let collected = tracer.collect()?;
    drop(tracer);
    let exit = match (status.code(), status.signal()) {
        (Some(code), _) => ExitInfo::Exited(code),
        (None, Some(signal)) => ExitInfo::Signaled(signal),
        (None, None) => ExitInfo::Exited(i32::from(EXIT_FAILURE)),
    };
    Ok(Run {
        attach,
        collected,
        exit,
        elapsed,
    })
}

/// One verdict per capability, with the kernel's totals and settled needs, which no full map can lose.
fn exact_verdicts(collected: &Collected) -> Vec<needs::CapReport> {
    needs::verdicts_exact(&collected.checks, &collected.totals, collected.settled)
}

/// `CAPTRACE_ATTACH=fexit|tp_btf` pins the hook (for comparing them); unset, fexit is tried first.
fn attach_override() -> Result<Option<Attach>, String> {
    match std::env::var("CAPTRACE_ATTACH").ok().as_deref() {
        None | Some("") => Ok(None),
        Some("fexit") => Ok(Some(Attach::Fexit)),
        Some("tp_btf") => Ok(Some(Attach::TpBtf)),
        Some(other) => Err(format!(
            "CAPTRACE_ATTACH={}: give fexit or tp_btf",
            capcli::escape_str(other)
        )),
    }
}

/// `CAPTRACE_MAP_KEYS=N`: room for N per-process keys in the kernel's counting maps (default 16,384),
/// for traces of very many processes; past it, checks are still counted, without their process.
fn map_keys_override() -> Result<Option<u32>, String> {
    match std::env::var("CAPTRACE_MAP_KEYS").ok().as_deref() {
        None | Some("") => Ok(None),
        Some(text) => match text.parse::<u32>() {
            Ok(keys) if (1..=1 << 22).contains(&keys) => Ok(Some(keys)),
            _ => Err(format!(
                "CAPTRACE_MAP_KEYS={}: give a number from 1 to 4194304",
                capcli::escape_str(text)
            )),
        },
    }
}

fn cgroup_scope(cgroup: &CgroupRef) -> Scope {
    Scope::Cgroup {
        id: cgroup.id,
        level: cgroup.level,
    }
}

/// `--verify`: the second run behaves like the first when it exits the same way and is refused nothing
/// that the first was granted. Refusals are compared site by site (capability and kernel function): a
/// check refused in both runs at the same place (setpriv's capset after it drops its uid) is no change.
fn compare(first: &Run, second: &Run) -> VerifyOutcome {
    let newly_denied = newly_denied(&first.collected.checks, &second.collected.checks);
    let same_exit_status = first.exit == second.exit;
    VerifyOutcome {
        same_exit_status,
        newly_denied,
        first_exit: first.exit,
        second_exit: second.exit,
        passed: same_exit_status && newly_denied.is_empty(),
    }
}

/// `--minimize`: COMMAND run again without each needed capability in turn (and without those already
/// removed). A capability goes when COMMAND then exits as the full run did and is refused nothing else
/// that the full run was granted: its check changed nothing the run shows. A Ctrl-C ends the trials;
/// what was not tried is kept.
fn minimize(
    args: &Args,
    program: &Path,
    user: Option<&RunUser>,
    first: &Run,
    needed: CapSet,
    signals: &Signals,
) -> Result<Minimized, Box<dyn Error>> {
    let mut kept = needed;
    let mut trials = Vec::new();
    for cap in needed.iter() {
        if signals.stopped() {
            break;
        }
        let without = kept.without(cap);
        let run = run_once(args, program, user.cloned(), Some(without), signals)?;
        // Refusals of what this run, or an earlier trial, took away are expected; others are not.
        let others =
            newly_denied(&first.collected.checks, &run.collected.checks) - (needed - without);
        let removed = run.exit == first.exit && others.is_empty();
        if removed {
            kept = without;
        }
        trials.push(Trial {
            cap,
            removed,
            exit: run.exit,
            newly_denied: others,
        });
    }
    Ok(Minimized {
        kept,
        removed: needed - kept,
        trials,
        full_exit: first.exit,
    })
}

/// Capabilities refused in the second run at a site where the first run was granted them and never
/// refused. A check counted without a stack (its capability was already settled as needed) stands for
/// every site of its capability.
fn newly_denied(first: &[Check], second: &[Check]) -> CapSet {
    // Probes, checks in namespaces the program made, and lookups of execs the process recovered from
    // decide nothing, in either run.
    let counts = |c: &&Check| !needs::is_probe(c) && !c.recovered && c.ns != NsPlace::Created;
    let mut out = CapSet::default();
    for refused in second.iter().filter(|c| !c.granted).filter(counts) {
        let before = first.iter().filter(counts).filter(|c| c.cap == refused.cap);
        let same_site = |c: &&Check| c.caller.is_none() || c.caller == refused.caller;
        let granted_before = before.clone().filter(|c| c.granted).any(|c| same_site(&c));
        let refused_before = before
            .filter(|c| !c.granted)
            .any(|c| c.caller == refused.caller);
        if granted_before && !refused_before {
            out = out.with(refused.cap);
        }
    }
    out
}

/// A file as execve was given it: relative paths are taken from the directory captrace (and COMMAND,
/// unless it moved) started in.
fn resolve(path: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let path = Path::new(std::ffi::OsStr::from_bytes(path));
    match std::env::current_dir() {
        Ok(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    }
}

/// One file that asked, for the report: its needed capabilities, its own setcap line (checked by the
/// model for that file, for a non-root user), and a word when file capabilities on it would reach more
/// than this program (a shell, an interpreter, a `#!` script's interpreter).
fn file_report(need: &needs::FileNeed, facts_for: &dyn Fn(&ProgramFile) -> RunFacts) -> FileReport {
    let show_bytes = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut report = FileReport {
        path: (!need.path.is_empty()).then(|| show_bytes(&need.path)),
        interpreter: need.interpreter.as_deref().map(show_bytes),
        caps: need.caps,
        setcap: None,
        note: None,
    };
    if need.path.is_empty() {
        report.note = Some("made by processes whose exec the trace did not see".to_string());
        return report;
    }
    let Ok(file) = read_file_state(&resolve(&need.path)) else {
        report.note = Some("the file is gone: no setcap line".to_string());
        return report;
    };
    if let Some(interpreter) = &report.interpreter {
        report.note = Some(format!(
            "a #! script: file capabilities would go on its interpreter {interpreter}, and so to every \
             script it runs"
        ));
    } else if needs::runs_scripts(file.path.as_os_str().as_encoded_bytes()) {
        report.note = Some(format!(
            "{} is a shell or an interpreter: file capabilities on it go to every script it runs",
            file.path.display()
        ));
    }
    report.setcap = needs::recommend(need.caps, &facts_for(&file))
        .setcap
        .map(|advice| advice.config);
    report
}

/// For each file that asked, when several did, the recommendations for its own needed set on it; empty
/// when a file cannot be read (then the whole set's advice, on COMMAND's file, stands alone).
fn per_file_recommendations(
    needs_by_file: &[needs::FileNeed],
    facts_for: &dyn Fn(&ProgramFile) -> RunFacts,
) -> Vec<needs::Recommendations> {
    if needs_by_file.len() < 2 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for need in needs_by_file {
        if need.path.is_empty() {
            return Vec::new();
        }
        let Ok(file) = read_file_state(&resolve(&need.path)) else {
            return Vec::new();
        };
        out.push(needs::recommend(need.caps, &facts_for(&file)));
    }
    out
}

/// The file COMMAND's credentials come from, as the exec model needs it.
struct ProgramFile {
    /// The file itself, or the final interpreter of a `#!` script.
    path: PathBuf,
    state: FileState,
    notes: Vec<String>,
}

fn read_file_state(program: &Path) -> Result<ProgramFile, Box<dyn Error>> {
    // capsys names the file in its message; a file that is not there gets the house form, `PATH: cause
    // (os error N)`, from its metadata.
    let target =
        capsys::exec_file::read_exec_file(program).map_err(|e| match program.metadata() {
            Err(cause) => format!("{}: {cause}", show(program.as_os_str())),
            Ok(_) => e.to_string(),
        })?;
    let file = match target {
        ExecTarget::Runs(file) => file,
        ExecTarget::Fails(failure) => {
            return Err(format!("{}: {}", show(failure.path.as_os_str()), failure.why).into());
        }
    };
    let mut notes: Vec<String> = file
        .notes
        .iter()
        .map(|n| format!("{}: {}", n.path.display(), n.text))
        .collect();
    if let Some(script) = file.scripts.first() {
        notes.push(format!(
            "{} is a #! script: its capabilities come from its interpreter {}, so a setcap line would \
             grant them to every script that interpreter runs",
            script.display(),
            file.path.display()
        ));
    }
    let state = FileState {
        mode: file.mode,
        owner: file.owner,
        group: file.group,
        xattr: match file.xattr {
            XattrRead::Value(bytes) => Some(bytes),
            XattrRead::Absent | XattrRead::Unreadable(..) => None,
        },
        nosuid: file.nosuid,
        ..FileState::default()
    };
    Ok(ProgramFile {
        path: file.path,
        state,
        notes,
    })
}

/// What a running target is, once found.
struct Running {
    scope: Scope,
    base_ns: (u32, u32),
    /// The process the recommendations are written for: the named pid, or the first in the cgroup.
    main_pid: Option<u32>,
    /// Its file and user, read before tracing starts (it may be gone at the end).
    facts: Option<RunFacts>,
    /// Tracing ends when this is gone (the named pid, or the cgroup directory).
    alive: Box<dyn Fn() -> bool>,
    label: String,
}

/// `--pid`, `--cgroup`, `--unit`, `--container`: traced until Ctrl-C, --duration or the target is gone.
fn trace_running(
    args: &Args,
    known: u32,
    signals: &Signals,
    sink: &mut sink::Sink,
) -> Result<u8, Box<dyn Error>> {
    let running = find_running(args, known)?;
    let options = Options {
        scope: running.scope.clone(),
        base_ns: running.base_ns,
        gate_on_exec: false,
        only: attach_override()?,
        map_keys: map_keys_override()?,
    };
    let mut tracer = Tracer::start(&options)?;
    let attach = tracer.attach();
    if let (Scope::Pids(_), Some(pid)) = (&running.scope, running.main_pid) {
        // Children forked between the first listing and the attach.
        if let Ok(tree) = cgroup::pid_tree(pid) {
            tracer.add_pids(&tree)?;
        }
    }
    let started = Instant::now();
    while !signals.stopped()
        && (running.alive)()
        && args.duration.is_none_or(|d| started.elapsed() < d)
    {
        std::thread::sleep(POLL);
    }
    let elapsed = started.elapsed();
    let collected = tracer.collect()?;
    drop(tracer);
    let caps = exact_verdicts(&collected);
    let recommendations = running.facts.map(|mut facts| {
        facts.exec_gained_privilege = collected.escalations > 0;
        needs::recommend(needs::needed(&caps), &facts)
    });
    let report = Report {
        caps: &caps,
        checks: &collected.checks,
        recommendations: recommendations.as_ref(),
        exit: ExitInfo::NotRun,
        attach: attach.name(),
        dropped: collected.dropped,
        verify: None,
        minimized: None,
        files: &[],
        known,
        target: running.label,
        elapsed,
    };
    print(args, &report, sink)?;
    Ok(capcli::EXIT_OK)
}

fn find_running(args: &Args, known: u32) -> Result<Running, Box<dyn Error>> {
    if let Some(pid) = args.pid {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return Err(format!("{pid}: no such process").into());
        }
        let tree = cgroup::pid_tree(pid)?;
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        return Ok(Running {
            scope: Scope::Pids(tree),
            base_ns: cgroup::userns_of(pid)?,
            main_pid: Some(pid),
            facts: running_facts(pid, known),
            alive: Box::new(move || proc_dir.exists()),
            label: format!("pid {pid}"),
        });
    }
    let (path, label) = if let Some(path) = &args.cgroup {
        (path.clone(), format!("cgroup {}", path.display()))
    } else if let Some(unit) = &args.unit {
        (cgroup::unit_cgroup(unit)?, format!("unit {unit}"))
    } else if let Some(id) = &args.container {
        (cgroup::container_cgroup(id)?, format!("container {id}"))
    } else {
        return Err("give COMMAND, --pid, --cgroup, --unit or --container".into());
    };
    // cgroup_ref's errors name the directory it looked at.
    let cgroup = cgroup::cgroup_ref(&path)?;
    let main_pid = first_pid(&cgroup.path);
    let base_ns = match main_pid {
        Some(pid) => cgroup::userns_of(pid).or_else(|_| cgroup::userns_of(std::process::id()))?,
        None => cgroup::userns_of(std::process::id())?,
    };
    let dir = cgroup.path.clone();
    Ok(Running {
        scope: cgroup_scope(&cgroup),
        base_ns,
        main_pid,
        facts: main_pid.and_then(|pid| running_facts(pid, known)),
        alive: Box::new(move || dir.is_dir()),
        label,
    })
}

/// The first process listed in a cgroup or, when it has none, in its sub-cgroups (bounded).
fn first_pid(dir: &Path) -> Option<u32> {
    let mut queue = vec![dir.to_path_buf()];
    let mut looked = 0;
    while let Some(dir) = queue.pop() {
        looked += 1;
        if looked > 4096 {
            return None;
        }
        let procs = capsys::read_bounded(&dir.join("cgroup.procs"), SMALL_FILE).ok()?;
        if let Some(pid) = procs.lines().find_map(|l| l.trim().parse().ok()) {
            return Some(pid);
        }
        let entries = std::fs::read_dir(&dir).ok()?;
        queue.extend(
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path()),
        );
    }
    None
}

/// The facts for a running process's recommendations: its executable and its user.
fn running_facts(pid: u32, known: u32) -> Option<RunFacts> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let file = read_file_state(&exe).ok()?;
    let status =
        capsys::read_bounded(Path::new(&format!("/proc/{pid}/status")), SMALL_FILE).ok()?;
    let status = TaskStatus::parse(status.as_bytes()).ok()?;
    let (uid, gid) = (status.uids.real, status.gids.real);
    let user = (uid != 0).then(|| RunUser {
        uid,
        gid,
        groups: Vec::new(),
        name: capsys::users::Names::users().get(uid).map(str::to_string),
    });
    Some(RunFacts {
        user,
        file: file.state,
        program: file.path.to_string_lossy().into_owned(),
        // Filled in when the trace ends.
        exec_gained_privilege: false,
        known,
    })
}

fn print(args: &Args, report: &Report, sink: &mut sink::Sink) -> std::io::Result<()> {
    use std::io::Write as _;
    render::write(&mut sink.out, report, args.all, args.json)?;
    sink.out.flush()
}

fn spec_text(spec: &args::UserSpec) -> String {
    match &spec.group {
        Some(group) => format!("{}:{group}", spec.user),
        None => spec.user.clone(),
    }
}

fn command_line(words: &[OsString]) -> String {
    words
        .iter()
        .map(|w| w.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A name from outside, for an error message (escaped once, where printed).
fn show(name: &std::ffi::OsStr) -> String {
    name.to_string_lossy().into_owned()
}
