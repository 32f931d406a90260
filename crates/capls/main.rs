//! capls: every process's and every thread's capabilities, exactly as the kernel holds them.
//!
//! It replaces pscap, getpcaps and captree: it reads each task's /proc status once, shows threads whose sets
//! differ from their leader's (which those tools hide or misreport), marks what they do not (ambient,
//! narrowed bounding set, no_new_privs, seccomp, other user namespaces), and prints NDJSON on request. It
//! starts without std's runtime setup (start.rs), which would cost a tenth of a run on a small machine.

#![cfg_attr(not(test), no_main)]

mod ecs;
mod record;
mod render;
#[cfg(not(test))]
mod start;

use std::collections::{BTreeMap, HashMap};
use std::error::Error;
use std::io::{self, Write};

use clap::{CommandFactory, Parser, ValueEnum};

use capcli::{Output, EXIT_FINDINGS, EXIT_OK};
use capcore::CapSet;
use capsys::proc::{self, Process, ReadError, ReadOptions, Reader};
use capsys::users::Names;

use capcli::summary::Preset;
use record::{Context, Record};

const PROG: &str = "capls";

const LEGEND: &str = "\
CAPABILITIES column (names without the cap_ prefix; JSON always has full libcap names):
  full                 permitted and effective hold every capability the kernel knows
  full -a,(b)          all but a few: a is not permitted, (b) is permitted but not effective
  chown,(net_raw)      otherwise the permitted set; (name) = permitted but not effective
  (...)                the whole summary in parentheses: permitted, but nothing effective
  -                    nothing permitted
FLAGS column:
  a  ambient set not empty          b  bounding set narrower than the kernel's full set
  n  no_new_privs                   s  seccomp filter (S: strict mode)
  u  another user namespace than the host's (?: hidden, not permitted to look)
  t  a thread's sets differ from its leader's (that thread gets its own row)
Kernel threads are listed with -k (or by PID) only; they are known by the kernel's mark, so a usermode
helper (a child of kthreadd, such as a core_pattern pipe's program) is listed as the user process it is.
Exit status: 0 done; 1 a PID argument was not found; 2 usage or fatal error.";

/// List the capabilities of every process and thread.
#[derive(Debug, Parser)]
#[command(
    name = "capls",
    version,
    about = "List the capabilities of every process and thread, exactly as the kernel holds them",
    long_about = "List the capabilities of every process and thread, exactly as the kernel holds them.\n\n\
        By default one row per process that holds any capability in its permitted, effective or ambient \
        set (PID 1 included), plus a row for each thread whose sets differ from its leader's.",
    after_help = LEGEND
)]
struct Args {
    /// Only these processes (a thread id selects its process and shows that thread's row).
    #[arg(value_name = "PID")]
    pids: Vec<u32>,

    /// Show every process, also those without capabilities (kernel threads with -k, as pscap -a).
    #[arg(short, long)]
    all: bool,

    /// Show kernel threads too (they hold the kernel's own credentials).
    #[arg(short, long)]
    kernel: bool,

    /// All five sets, securebits, no_new_privs, seccomp, uids, user namespace, cgroup and container.
    #[arg(short, long, conflicts_with_all = ["tree", "json", "ecs"])]
    long: bool,

    /// One row per thread.
    #[arg(short, long)]
    threads: bool,

    /// Draw the process tree, each process with its summary.
    #[arg(long, conflicts_with_all = ["json", "ecs"])]
    tree: bool,

    /// Only processes whose effective uid is one of these (names or numbers, comma separated).
    #[arg(short, long, value_name = "USER[,USER]")]
    user: Option<String>,

    /// Only processes holding any of these in permitted or effective (any case, cap_ optional, or numbers).
    #[arg(long, value_name = "CAP[,CAP]")]
    cap: Option<String>,

    /// Only processes in a container whose id starts with PREFIX, or whose runtime is PREFIX (docker,
    /// containerd, cri-o, podman, systemd-nspawn, lxc, kubepods).
    #[arg(long, value_name = "PREFIX")]
    container: Option<String>,

    /// Only processes in the host's user namespace, or in another.
    #[arg(long, value_name = "WHICH")]
    userns: Option<Userns>,

    /// Summarise each process against a preset: e.g. `docker -net_raw +sys_admin`.
    #[arg(long, value_name = "PRESET")]
    compare: Option<Preset>,

    /// NDJSON: one object per process (per thread with -t).
    #[arg(long)]
    json: bool,

    /// NDJSON in the Elastic Common Schema: one document per process (per thread with -t), for log
    /// pipelines.
    ///
    /// Each line is an ECS 8.10+ document with `event.kind: state`, `event.category: [process]`,
    /// `@timestamp` (when capls read /proc, UTC), `host.name`, `process.pid`, `process.name`,
    /// `process.args`, `process.parent.pid`, `process.thread.id`, `process.thread.name`, `user.id` and
    /// `user.name` (the effective uid), `process.real_user.id`, `process.saved_user.id`, `container.id` and
    /// `container.runtime`, and the permitted and effective sets as `process.thread.capabilities.permitted`
    /// and `.effective` (upper-case `CAP_*` names). What ECS has no field for is under `capkit.process`:
    /// the inheritable, bounding and ambient sets as `{"hex", "caps"}`, no_new_privs, seccomp, securebits,
    /// the user namespace, the cgroup. Same selection as the listing.
    #[arg(long, conflicts_with = "json")]
    ecs: bool,

    /// Print a shell completion script.
    #[arg(long, value_name = "SHELL", hide = true)]
    generate_completions: Option<Shell>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Userns {
    Host,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// The program: start.rs calls it from the C entry point.
#[cfg_attr(test, allow(dead_code))]
fn run_program() -> std::process::ExitCode {
    capcli::run(PROG, || run(Args::parse()))
}

fn run(args: Args) -> Result<u8, Box<dyn Error>> {
    if let Some(shell) = args.generate_completions {
        return print_completions(shell);
    }
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
    } = select_pids(&args.pids, &mut Reader::new(first), &mut tally)?;
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
        let show_tid = args.threads || records.iter().any(Record::is_thread);
        render::table(&mut out, &records, show_tid)?;
    }
    out.flush()?;
    tally.report();
    Ok(if missing { EXIT_FINDINGS } else { EXIT_OK })
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

fn print_completions(shell: Shell) -> Result<u8, Box<dyn Error>> {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Args::command(), PROG, &mut script);
    let mut stdout = io::stdout().lock();
    stdout.write_all(&script)?;
    stdout.flush()?;
    Ok(EXIT_OK)
}

/// The processes to read.
struct Selection {
    pids: Vec<u32>,
    /// Thread ids named on the command line, by their process.
    named: HashMap<u32, Vec<u32>>,
    /// Whether a named id was not found.
    missing: bool,
}

/// The processes to read: every pid in /proc, or those named on the command line. A named thread id maps
/// to its process and is remembered so its row is shown.
fn select_pids(
    requested: &[u32],
    reader: &mut Reader,
    tally: &mut Tally,
) -> Result<Selection, Box<dyn Error>> {
    let mut named: HashMap<u32, Vec<u32>> = HashMap::new();
    if requested.is_empty() {
        let pids = proc::pids().map_err(|err| format!("/proc: {err}"))?;
        return Ok(Selection {
            pids,
            named,
            missing: false,
        });
    }
    let mut missing = false;
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
            Err(ReadError::Vanished) => {
                capcli::output::warn(PROG, &id.to_string(), &"no such process");
                missing = true;
            }
            Err(err) => tally.failed(id, err),
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
        let euids = match &args.user {
            None => None,
            Some(list) => {
                let names = Names::users();
                let ids = list
                    .split(',')
                    .map(|name| {
                        names.id_of(name.trim()).ok_or_else(|| {
                            format!("--user: no user '{}'", capcli::escape_str(name))
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
        let is_host = match (process.userns, ctx.host_userns) {
            (Some(ns), Some(host)) => Some(ns == host),
            _ => None,
        };
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
        let gone: Vec<String> = [
            (self.vanished, "process", "processes"),
            (self.vanished_threads, "thread", "threads"),
        ]
        .iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|(n, one, many)| count(*n, one, many))
        .collect();
        if !gone.is_empty() {
            let message = format!(
                "skipped {} that exited while being read",
                gone.join(" and ")
            );
            capcli::output::warn(PROG, "note", &message);
        }
        if let Some(first) = &self.first_error {
            let what = count(self.unreadable, "process", "processes");
            let message = format!("{what} could not be read, the first: {first}");
            capcli::output::warn(PROG, "warning", &message);
        }
    }
}

/// `1 process`, `3 processes`.
fn count(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
