//! capls: every process's and every thread's capabilities, exactly as the kernel holds them.
//!
//! It replaces pscap, getpcaps and captree: it reads each task's /proc status once, shows threads whose sets
//! differ from their leader's (which those tools hide or misreport), marks what they do not (ambient,
//! narrowed bounding set, no_new_privs, seccomp, other user namespaces), and prints NDJSON on request. It
//! starts without std's runtime setup (capcli::start), which would cost a tenth of a run on a small machine.

#![cfg_attr(not(test), no_main)]

mod args;
mod ecs;
mod record;
mod render;

use std::collections::{BTreeMap, HashMap};
use std::error::Error;

use clap::CommandFactory;

use capcli::term::{self, ColorChoice};
use capcli::{words, Output, EXIT_FAILURE, EXIT_OK};
use capcore::CapSet;
use capsys::proc::{self, Process, ReadError, ReadOptions, Reader};
use capsys::users::Names;

use args::{Args, Userns};
use record::{Context, Record};

const PROG: &str = "capls";

capcli::c_main!(run_program);

/// The program, run from the C entry point.
#[cfg_attr(test, allow(dead_code))]
fn run_program() -> std::process::ExitCode {
    // `--generate KIND` is not a flag of the command line: it is answered before clap parses.
    if let Some(code) = capcli::generate::intercept(PROG, Args::command) {
        return code;
    }
    capcli::run(PROG, || run(capcli::args::parse(PROG)))
}

fn run(args: Args) -> Result<u8, Box<dyn Error>> {
    // Before any record is built: the summaries are painted as they are made.
    term::init(if args.json || args.ecs {
        ColorChoice::Never
    } else {
        args.color
    });
    let filter = Filter::from_args(&args)?;
    let known = capsys::kernel::known_caps_or_default();
    let ctx = Context {
        known,
        host_userns: proc::host_user_namespace(),
        users: Names::users(),
        own_pid: std::process::id(),
        own_securebits: proc::own_securebits().ok(),
        compare: args.compare,
    };
    let mut tally = Tally::default();
    let first = first_read(&filter);
    let Selection {
        pids,
        named,
        missing,
    } = select_pids(&args.pids, &mut Reader::new(first))?;
    let everything = args.all || !args.pids.is_empty();
    let kernel = args.kernel || !args.pids.is_empty();
    let pids = if kernel {
        pids
    } else {
        without_kernel_threads(pids)
    };
    let read_at = std::time::SystemTime::now();
    let scan = proc::scan(&pids, first);
    tally.absorb(scan.vanished, scan.vanished_threads, scan.failed);
    let mut processes = scan.processes;
    let detailed = args.json || args.long || args.ecs;
    let keep = keep_and_fill(
        &mut processes,
        Shown { everything, kernel },
        &filter,
        detailed,
    );
    let shown: Vec<&Process> = processes
        .iter()
        .zip(&keep)
        .filter(|(p, keep)| **keep && filter.matches_userns(p, &ctx))
        .map(|(p, _)| p)
        .collect();
    let mut records: Vec<Record> = Vec::new();
    for process in &shown {
        let tids = named.get(&process.pid).map(Vec::as_slice).unwrap_or(&[]);
        records.extend(record::records(process, &ctx, args.threads, tids));
    }
    let mut out = Output::new();
    if args.json {
        for r in &records {
            out.json(r)?;
        }
    } else if args.ecs {
        ecs::print(&mut out, &records, read_at)?;
    } else if args.long {
        render::long(&mut out, &records, &ctx)?;
    } else if args.tree {
        let ancestors = ancestors(&processes, &shown, &ctx);
        render::tree(&mut out, &records, &ancestors)?;
    } else {
        render::table(&mut out, &records)?;
    }
    out.flush()?;
    // A PID named on the command line that does not exist is an error, said after the others were
    // printed, as ls and grep do.
    for (id, cause) in &missing {
        capcli::output::warn(PROG, &id.to_string(), cause);
    }
    tally.report();
    Ok(if missing.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILURE
    })
}

/// What every process needs read before the filters can judge it: every thread's status (a thread may
/// hold what its leader dropped), and the cgroup when filtering by container.
fn first_read(filter: &Filter) -> ReadOptions {
    ReadOptions {
        threads: true,
        cgroup: filter.container.is_some(),
        ..ReadOptions::default()
    }
}

/// What the listing shows before the filters: processes without capabilities (`-a` or a PID), kernel
/// threads (`-k` or a PID).
#[derive(Clone, Copy)]
struct Shown {
    everything: bool,
    kernel: bool,
}

/// Which processes the listing and the filters keep; for those, reads what the output needs besides status
/// (the user namespace always; command line and cgroup for `--json` and `-l`). Reading these for the kept
/// processes only is what makes the default listing cheap.
fn keep_and_fill(
    processes: &mut [Process],
    shown: Shown,
    filter: &Filter,
    detailed: bool,
) -> Vec<bool> {
    let keep: Vec<bool> = processes
        .iter()
        .map(|p| {
            (shown.kernel || !p.is_kernel_thread())
                && (shown.everything || record::holds_any(p))
                && filter.matches(p)
        })
        .collect();
    let mut kept: Vec<&mut Process> = processes
        .iter_mut()
        .zip(&keep)
        .filter(|(_, keep)| **keep)
        .map(|(p, _)| p)
        .collect();
    let then = ReadOptions {
        cmdline: detailed,
        cgroup: detailed,
        userns: true,
        ..ReadOptions::default()
    };
    proc::fill_all(&mut kept, then);
    keep
}

/// The processes to read.
struct Selection {
    pids: Vec<u32>,
    /// Thread ids named on the command line, by their process.
    named: HashMap<u32, Vec<u32>>,
    /// The named ids that could not be read, and why: reported after the listing.
    missing: Vec<(u32, String)>,
}

/// The processes to read: every pid in /proc, or those named on the command line. A named thread id maps
/// to its process and is remembered so its row is shown.
fn select_pids(requested: &[u32], reader: &mut Reader) -> Result<Selection, Box<dyn Error>> {
    let mut named: HashMap<u32, Vec<u32>> = HashMap::new();
    if requested.is_empty() {
        let pids = proc::pids().map_err(|err| format!("/proc: {err}"))?;
        return Ok(Selection {
            pids,
            named,
            missing: Vec::new(),
        });
    }
    let mut missing = Vec::new();
    let mut pids = Vec::new();
    for &id in requested {
        match reader.task(id) {
            Ok(status) => {
                let pid = if status.tgid == 0 { id } else { status.tgid };
                if pid != id {
                    named.entry(pid).or_default().push(id);
                }
                pids.push(pid);
            }
            Err(ReadError::Vanished) => missing.push((id, "no such process".to_string())),
            Err(err) => missing.push((id, err.to_string())),
        }
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(Selection {
        pids,
        named,
        missing,
    })
}

/// The pids less the kernel threads (confirmed by the kernel's mark), which are not listed without `-k`, so
/// their status is not read. One the kernel could not name this way is still left out after its status.
fn without_kernel_threads(pids: Vec<u32>) -> Vec<u32> {
    match proc::kernel_threads() {
        Some(kthreads) => pids
            .into_iter()
            .filter(|pid| kthreads.binary_search(pid).is_err())
            .collect(),
        None => pids,
    }
}

/// The parents needed to draw each shown process in the tree, as records without thread rows.
fn ancestors(all: &[Process], shown: &[&Process], ctx: &Context) -> BTreeMap<u32, Record> {
    let by_pid: HashMap<u32, &Process> = all.iter().map(|p| (p.pid, p)).collect();
    let mut out = BTreeMap::new();
    for process in shown {
        let mut ppid = process.leader.ppid;
        while let Some(parent) = by_pid.get(&ppid) {
            if out.contains_key(&ppid) || parent.pid == parent.leader.ppid {
                break;
            }
            if let Some(r) = record::records(parent, ctx, false, &[]).into_iter().next() {
                out.insert(ppid, r);
            }
            ppid = parent.leader.ppid;
        }
    }
    out
}

/// The filters of the command line, parsed.
struct Filter {
    euids: Option<Vec<u32>>,
    caps: Option<CapSet>,
    container: Option<String>,
    userns: Option<Userns>,
}

impl Filter {
    fn from_args(args: &Args) -> Result<Filter, Box<dyn Error>> {
        let euids = match &args.euid {
            None => None,
            Some(list) => {
                let names = Names::users();
                let ids = list
                    .split(',')
                    .map(|name| {
                        names.id_of(name.trim()).ok_or_else(|| {
                            format!("--euid: no user '{}'", capcli::escape_str(name))
                        })
                    })
                    .collect::<Result<Vec<u32>, String>>()?;
                Some(ids)
            }
        };
        let caps = args
            .cap
            .as_deref()
            .map(CapSet::parse_list)
            .transpose()
            .map_err(|err| format!("--cap: {err}"))?;
        Ok(Filter {
            euids,
            caps,
            container: args.container.clone(),
            userns: args.userns,
        })
    }

    /// A process matches when any of its tasks does, so a thread that kept capabilities is found.
    fn matches(&self, process: &Process) -> bool {
        let tasks = || process.tasks().map(|(_, status)| status);
        if let Some(euids) = &self.euids {
            if !tasks().any(|s| euids.contains(&s.uids.effective)) {
                return false;
            }
        }
        if let Some(wanted) = self.caps {
            let holds = |s: &capcore::TaskStatus| {
                let held =
                    s.caps.permitted.unwrap_or_default() | s.caps.effective.unwrap_or_default();
                !(held & wanted).is_empty()
            };
            if !tasks().any(holds) {
                return false;
            }
        }
        if let Some(prefix) = &self.container {
            let container = process
                .cgroup
                .as_deref()
                .and_then(capcore::container::from_proc_cgroup);
            if !container.is_some_and(|c| c.matches(prefix)) {
                return false;
            }
        }
        true
    }

    /// The user namespace filter, once the namespace has been read.
    fn matches_userns(&self, process: &Process, ctx: &Context) -> bool {
        let Some(which) = self.userns else {
            return true;
        };
        let is_host = proc::is_host_namespace(process.userns, ctx.host_userns);
        is_host == Some(which == Userns::Host)
    }
}

/// Processes and threads that could not be read, summarised once on stderr at the end.
#[derive(Default)]
struct Tally {
    vanished: u32,
    vanished_threads: u32,
    unreadable: u32,
    first_error: Option<String>,
}

impl Tally {
    fn absorb(&mut self, vanished: u32, vanished_threads: u32, failed: Vec<(u32, ReadError)>) {
        self.vanished += vanished;
        self.vanished_threads += vanished_threads;
        for (pid, err) in failed {
            self.failed(pid, err);
        }
    }

    fn failed(&mut self, pid: u32, err: ReadError) {
        match err {
            ReadError::Vanished => self.vanished += 1,
            other => {
                self.unreadable += 1;
                if self.first_error.is_none() {
                    self.first_error = Some(format!("{pid}: {other}"));
                }
            }
        }
    }

    fn report(&self) {
        for (what, message) in self.messages() {
            capcli::output::warn(PROG, what, &message);
        }
    }

    /// The notes for stderr: `note: skipped 1 process and 2 threads that exited while being read`,
    /// `warning: 3 processes could not be read, the first: ...`.
    fn messages(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let gone: Vec<String> = [
            (self.vanished, "process", "processes"),
            (self.vanished_threads, "thread", "threads"),
        ]
        .iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|(n, one, many)| words::count(*n, one, many))
        .collect();
        if !gone.is_empty() {
            let message = format!(
                "skipped {} that exited while being read",
                gone.join(" and ")
            );
            out.push(("note", message));
        }
        if let Some(first) = &self.first_error {
            let what = words::count(self.unreadable, "process", "processes");
            out.push((
                "warning",
                format!("{what} could not be read, the first: {first}"),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_count_in_words() {
        let tally = Tally {
            vanished: 1,
            vanished_threads: 2,
            unreadable: 1,
            first_error: Some("7: Permission denied (os error 13)".to_string()),
        };
        assert_eq!(
            tally.messages(),
            [
                (
                    "note",
                    "skipped 1 process and 2 threads that exited while being read".to_string()
                ),
                (
                    "warning",
                    "1 process could not be read, the first: 7: Permission denied (os error 13)"
                        .to_string()
                )
            ]
        );
        let threads = Tally {
            vanished_threads: 1,
            ..Tally::default()
        };
        assert_eq!(
            threads.messages()[0].1,
            "skipped 1 thread that exited while being read"
        );
    }
}
