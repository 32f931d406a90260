//! capscan: finds every file capability on a system (and, with `--setuid`, every set-uid file), in
//! parallel and at the speed of the syscalls; replaces `getcap -r` and `filecap`.
//!
//! The walk lives in `capsys::walk`; this file wires the command line to it, collects the hits, audits
//! or diffs them, and renders them in the chosen format. Errors on single paths are printed as they
//! happen, counted, and summarised once at the end.

#![cfg_attr(not(test), no_main)]

mod args;
mod baseline;
mod ecs;
mod execas;
mod glob;
mod hits;
mod render;

use std::collections::BTreeMap;
use std::error::Error;
use std::io::{IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use capcli::term::{self, ColorChoice};
use capcli::{escape_bytes, words, Output, EXIT_FAILURE, EXIT_FINDINGS, EXIT_OK};
use capcore::baseline::Recorded;
use capsys::mounts::MountTable;
use capsys::walk::{Found, Sink, WalkOptions, WalkStats, Walker};
use clap::CommandFactory;

use crate::args::Args;
use crate::glob::Excludes;
use crate::hits::{Hit, Owners};
use crate::render::Render;

const PROG: &str = "capscan";

capcli::c_main!(run_program);

/// The program, run from the C entry point (capcli::start).
#[cfg_attr(test, allow(dead_code))]
fn run_program() -> ExitCode {
    if let Some(code) = capcli::generate::intercept(PROG, Args::command) {
        return code;
    }
    capcli::run(PROG, run)
}

fn run() -> Result<u8, Box<dyn Error>> {
    let args: Args = capcli::args::parse(PROG);
    // Colour is for the human tables only: JSON, ECS, the restore script and the getcap format are
    // never coloured.
    let human = !(args.json || args.ecs || args.restore || args.getcap);
    term::init(if human {
        args.color
    } else {
        ColorChoice::Never
    });
    let known_bits = capsys::kernel::known_caps_or_default();
    let baseline = match &args.baseline {
        Some(file) => Some(baseline::load(file, known_bits)?),
        None => None,
    };
    let mounts = mount_table(&args.paths);

    let spec = match &args.exec_as {
        Some(_) if args.paths.len() != 1 => {
            return Err("--exec-as scans one DIR, the container's /: give exactly one PATH".into())
        }
        Some(spec) => Some(execas::load(
            spec,
            known_bits,
            std::path::Path::new(&args.paths[0]),
        )?),
        None => None,
    };
    if let Some(spec) = &spec {
        capcli::output::warn(PROG, "note", &spec.describe());
        for note in &spec.notes {
            capcli::output::warn(PROG, "note", note);
        }
    }

    let read_at = std::time::SystemTime::now();
    let (mut hits, failures) = scan(&args, mounts)?;
    if args.audit {
        hits::audit(&mut hits, known_bits);
    }
    if let Some(spec) = &spec {
        predict(spec, &args, &mut hits);
    }
    hits.sort_by(|a, b| a.path.cmp(&b.path));
    let owners = args.setuid.then(Owners::load);
    let ctx = Render {
        known_bits,
        owners: owners.as_ref(),
        audit: args.audit,
    };

    let mut out = Output::new();
    let mut code = EXIT_OK;
    if let Some(baseline) = &baseline {
        // A getcap-form baseline cannot know malformed or unreadable values, nor values on
        // directories and symlinks (getcap -r lists neither): those are left out of the comparison.
        let current: BTreeMap<Vec<u8>, _> = hits
            .iter()
            .filter(|hit| baseline.knows_malformed || hit.kind.getcap_lists())
            .filter_map(|hit| Some((hit.path.clone(), hit.recorded()?)))
            .filter(|(_, r)| baseline.knows_malformed || !matches!(r, Recorded::Malformed(_)))
            .collect();
        let drift = capcore::baseline::diff(&baseline.recorded, &current);
        render::drift(&mut out, &drift, &ctx, args.json)?;
        if !drift.is_empty() {
            code = EXIT_FINDINGS;
        }
    } else if args.getcap {
        // Raw bytes into a pipe or a file, as getcap (and GNU ls) write names; escaped on a terminal.
        let escape = term::is_tty();
        let mut raw = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
        render::getcap(&mut raw, &hits, &ctx, args.show_rootid, escape)?;
    } else if args.json {
        render::json(&mut out, &hits, &ctx)?;
    } else if args.ecs {
        ecs::print(&mut out, &hits, &ctx, read_at)?;
    } else if args.restore {
        render::restore_script(&mut out, &hits, &ctx)?;
    } else {
        render::table(&mut out, &hits, &ctx)?;
    }
    out.flush()?;

    if args.audit {
        let flagged = hits.iter().filter(|h| !h.findings.is_empty()).count();
        if flagged > 0 {
            let findings: usize = hits.iter().map(|h| h.findings.len()).sum();
            capcli::output::warn(
                PROG,
                "audit",
                &format!(
                    "{} in {}",
                    words::counted(findings as u64, "finding"),
                    words::counted(flagged as u64, "file")
                ),
            );
            code = EXIT_FINDINGS;
        }
    }
    // A starting path that could not be read is an error, said after the others were scanned and
    // printed, as ls and grep do; it outranks findings.
    if failures.report_operands() {
        code = EXIT_FAILURE;
    }
    failures.summarise();
    Ok(code)
}

/// The mounts the walk decides by: a container's own (its /proc/PID/mountinfo) when every PATH lies
/// under its /proc/PID/root, where /proc, /sys and the rest are its mounts, not this machine's; else
/// this process's.
fn mount_table(paths: &[std::ffi::OsString]) -> MountTable {
    let pids: Vec<Option<u32>> = paths
        .iter()
        .map(|p| capsys::mounts::proc_root(p.as_bytes()).map(|(pid, _)| pid))
        .collect();
    if let Some(Some(pid)) = pids
        .first()
        .copied()
        .filter(|_| pids.windows(2).all(|w| w[0] == w[1]))
    {
        let root = std::fs::canonicalize(format!("/proc/{pid}/root"));
        match root.and_then(|root| MountTable::read_of_process(pid, root.as_os_str().as_bytes())) {
            Ok(table) => return table,
            Err(err) => capcli::output::warn(PROG, &format!("/proc/{pid}/mountinfo"), &err),
        }
    }
    MountTable::read().unwrap_or_else(|err| {
        capcli::output::warn(PROG, "/proc/self/mountinfo", &err);
        MountTable::default()
    })
}

/// Predicts every hit's exec under the spec (with --audit, an exec that fails is a finding), then names
/// each hit by its path inside the container.
fn predict(spec: &execas::Spec, args: &Args, hits: &mut [Hit]) {
    let root = execas::root_of(&args.paths);
    let root_bytes = root.as_os_str().as_bytes().to_vec();
    for hit in hits.iter_mut() {
        let host = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&hit.path));
        hit.exec = spec.predict(hit, &host, &root);
        if args.audit {
            if let Some(exec) = hit.exec.as_ref().filter(|e| e.fails()) {
                hit.findings
                    .push(hits::Finding::ExecFails(exec.errno().to_string()));
            }
        }
        hit.path = execas::container_path(&hit.path, &root_bytes);
    }
}

/// Errors met during the walk: those deep in it by cause, those on a starting path one by one.
#[derive(Default)]
struct Failures {
    by_cause: Mutex<BTreeMap<String, u64>>,
    operands: Mutex<Vec<(Vec<u8>, std::io::Error)>>,
}

impl Failures {
    fn count(&self, cause: String) {
        if let Ok(mut map) = self.by_cause.lock() {
            *map.entry(cause).or_default() += 1;
        }
    }

    fn operand(&self, path: &[u8], err: std::io::Error) {
        if let Ok(mut operands) = self.operands.lock() {
            operands.push((path.to_vec(), err));
        }
    }

    /// One line on stderr per starting path that could not be read; whether there was any.
    fn report_operands(&self) -> bool {
        let Ok(operands) = self.operands.lock() else {
            return true;
        };
        for (path, err) in operands.iter() {
            capcli::output::warn(PROG, &escape_bytes(path), err);
        }
        !operands.is_empty()
    }

    /// One line on stderr if anything failed.
    fn summarise(&self) {
        let Ok(map) = self.by_cause.lock() else {
            return;
        };
        let total: u64 = map.values().sum();
        if total == 0 {
            return;
        }
        let causes: Vec<String> = map.iter().map(|(c, n)| format!("{n} × {c}")).collect();
        capcli::output::warn(
            PROG,
            &format!("{} could not be read", words::counted(total, "path")),
            &causes.join(", "),
        );
    }
}

/// Collects hits and reports errors for the walk.
struct Collector<'a> {
    hits: Mutex<Vec<Found>>,
    failures: &'a Failures,
    /// The starting paths, as given: an error on one of these is the operand's, not the walk's.
    roots: &'a [Vec<u8>],
    excludes: Excludes,
    progress: bool,
}

impl Sink for Collector<'_> {
    fn found(&self, found: Found) {
        if let Ok(mut hits) = self.hits.lock() {
            hits.push(found);
        }
    }

    fn error(&self, path: &[u8], err: std::io::Error) {
        // The system's answer about a starting path itself (it does not exist, cannot be opened or
        // read) is kept for the end. capscan's own remarks on one (a symlink it does not follow) are
        // not errors of the operand: its value was read.
        if err.raw_os_error().is_some() && self.roots.iter().any(|root| root == path) {
            self.failures.operand(path, err);
            return;
        }
        let cause = cause_text(&err);
        let mut stderr = std::io::stderr().lock();
        let clear = if self.progress { "\r\x1b[K" } else { "" };
        let _ = writeln!(stderr, "{clear}{PROG}: {}: {err}", escape_bytes(path));
        self.failures.count(cause);
    }

    fn note(&self, path: &[u8], text: &str) {
        let clear = if self.progress { "\r\x1b[K" } else { "" };
        let _ = writeln!(
            std::io::stderr().lock(),
            "{clear}{PROG}: {}: {}",
            escape_bytes(path),
            capcli::escape_str(text)
        );
    }

    fn excluded(&self, path: &[u8], name: &[u8]) -> bool {
        self.excludes.matches(path, name)
    }
}

/// The cause without the `(os error N)` tail, for the summary.
fn cause_text(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn scan(args: &Args, mounts: MountTable) -> Result<(Vec<Hit>, Failures), Box<dyn Error>> {
    let excludes = Excludes::new(&args.exclude)?;
    let options = WalkOptions {
        one_file_system: args.one_file_system,
        all_filesystems: args.all_fs,
        // Set-id files are part of what an exec under a spec can gain.
        setuid: args.setuid || args.exec_as.is_some(),
        exclusions: !excludes.is_empty(),
    };
    let roots: Vec<Vec<u8>> = args.paths.iter().map(|p| p.as_bytes().to_vec()).collect();
    let stats = WalkStats::default();
    let failures = Failures::default();
    let show_progress = args.progress && std::io::stderr().is_terminal();
    let collector = Collector {
        hits: Mutex::new(Vec::new()),
        failures: &failures,
        roots: &roots,
        excludes,
        progress: show_progress,
    };
    let walker = Walker::new(options, mounts, &stats);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.map_or_else(default_threads, usize::from))
        .build()?;
    let done = Arc::new(AtomicBool::new(false));
    std::thread::scope(|threads| {
        if show_progress {
            let done = Arc::clone(&done);
            let stats = &stats;
            threads.spawn(move || progress_line(stats, &done));
        }
        pool.install(|| walker.walk(&roots, &collector));
        done.store(true, Ordering::Relaxed);
    });
    let found = collector.hits.into_inner().unwrap_or_default();
    Ok((found.into_iter().map(Hit::from_found).collect(), failures))
}

/// Two threads per core. With a warm cache the walk is pure CPU and two per core cost a few percent;
/// with a cold cache threads wait on the disk, and the extra ones keep its queue full (measured on /usr,
/// 2 cores, after drop_caches: 1.43 s with 2 threads, 1.08 s with 4; warm: 164 ms and 170 ms).
fn default_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores * 2).min(usize::from(args::MAX_JOBS))
}

/// Redraws `scanned N entries, H hits, R/s` on stderr until the walk is done, then clears it.
fn progress_line(stats: &WalkStats, done: &AtomicBool) {
    let start = Instant::now();
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        let entries = stats.entries.load(Ordering::Relaxed);
        let hits = stats.hits.load(Ordering::Relaxed);
        let rate = entries as f64 / start.elapsed().as_secs_f64().max(0.001);
        let _ = write!(
            std::io::stderr().lock(),
            "\r\x1b[K{PROG}: {}, {}, {rate:.0}/s",
            words::count(entries, "entry", "entries"),
            words::counted(hits, "hit")
        );
    }
    let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cause_drops_the_os_error() {
        let err = std::io::Error::from_raw_os_error(13);
        assert_eq!(cause_text(&err), "Permission denied");
    }

    #[test]
    fn command_line_is_consistent() {
        Args::command().debug_assert();
    }
}
