//! The record capls lists: one per process (one per thread with `--threads`, and one for each thread whose
//! sets differ from its leader's). The same value is serialised for `--json` and rendered for the table, the
//! long form and the tree, so the outputs cannot disagree.

use capcli::ExternalBytes;
use capcore::{container, CapSet, Container, SeccompMode, Securebits, TaskStatus};
use capsys::proc::Process;
use capsys::users::Names;
use serde::Serialize;

use capcli::summary::{sets_differ, summarise, Comparison, Flags, Preset};

/// What every record is built against: the kernel's facts and what capls knows about itself.
pub struct Context {
    pub known: u32,
    pub host_userns: Option<u64>,
    pub users: Names,
    pub own_pid: u32,
    pub own_securebits: Option<Securebits>,
    pub compare: Option<Preset>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Userns {
    /// `null` when the namespace link is hidden (another user's process, and we are not root).
    pub inode: Option<u64>,
    pub is_host: Option<bool>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Record {
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub comm: ExternalBytes,
    /// The arguments; `null` when not read (table output) or not readable; `[]` for kernel threads and
    /// zombies; `[""]` for a process exec'd with an empty argv (the kernel gives it one empty argument).
    pub cmdline: Option<Vec<ExternalBytes>>,
    /// A kernel thread, by the kernel's own mark: not every child of kthreadd is one.
    pub kernel_thread: bool,
    pub ruid: u32,
    pub euid: u32,
    pub suid: u32,
    pub fsuid: u32,
    /// The name of the effective uid; `null` when /etc/passwd does not name it.
    pub user: Option<String>,
    pub inheritable: Option<CapSet>,
    pub permitted: Option<CapSet>,
    pub effective: Option<CapSet>,
    pub bounding: Option<CapSet>,
    pub ambient: Option<CapSet>,
    pub no_new_privs: Option<bool>,
    pub seccomp: Option<SeccompMode>,
    pub seccomp_filters: Option<u32>,
    /// Readable by a process for itself only: `null` for every other process.
    pub securebits: Option<Securebits>,
    pub userns: Userns,
    pub cgroup: Option<String>,
    pub container: Option<Container>,
    /// Threads in the process.
    pub threads: u32,
    /// For a process: some thread's sets differ from the leader's. For a thread: its sets differ.
    pub threads_differ: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare: Option<Comparison>,
    #[serde(skip)]
    pub flags: Flags,
    #[serde(skip)]
    pub summary: String,
}

impl Record {
    pub fn is_thread(&self) -> bool {
        self.tid != self.pid
    }

    /// The text of the capability column: the summary, or the comparison with `--compare`.
    pub fn caps_text(&self) -> String {
        match &self.compare {
            Some(comparison) => comparison.text(),
            None => self.summary.clone(),
        }
    }
}

/// Whether any task of the process holds a capability in its permitted, effective or ambient set.
pub fn holds_any(process: &Process) -> bool {
    process.tasks().any(|(_, status)| {
        let caps = &status.caps;
        [caps.permitted, caps.effective, caps.ambient]
            .iter()
            .any(|set| set.is_some_and(|s| !s.is_empty()))
    })
}

/// The records of one process: the leader's, then those of the threads asked for (`all_threads`, or a tid
/// in `named`) and of the threads whose sets differ from the leader's.
pub fn records(process: &Process, ctx: &Context, all_threads: bool, named: &[u32]) -> Vec<Record> {
    let differing: Vec<bool> = process
        .threads
        .iter()
        .map(|t| sets_differ(&t.status, &process.leader))
        .collect();
    let any_differs = differing.iter().any(|d| *d);
    let mut out = vec![record(
        process,
        process.pid,
        &process.leader,
        any_differs,
        ctx,
    )];
    for (task, differs) in process.threads.iter().zip(differing) {
        if all_threads || differs || named.contains(&task.tid) {
            out.push(record(process, task.tid, &task.status, differs, ctx));
        }
    }
    out
}

fn record(
    process: &Process,
    tid: u32,
    status: &TaskStatus,
    differs: bool,
    ctx: &Context,
) -> Record {
    let caps = &status.caps;
    let is_host = capsys::proc::is_host_namespace(process.userns, ctx.host_userns);
    let mut flags = Flags::of(status, ctx.known);
    flags.other_userns = is_host.map(|host| !host);
    flags.threads_differ = differs;
    let permitted = caps.permitted.unwrap_or_default();
    let effective = caps.effective.unwrap_or_default();
    let compare = ctx
        .compare
        .map(|preset| Comparison::new(preset, permitted, ctx.known));
    Record {
        pid: process.pid,
        tid,
        ppid: status.ppid,
        comm: ExternalBytes(status.name.clone()),
        cmdline: process.cmdline.as_deref().map(split_cmdline),
        kernel_thread: process.kernel_thread,
        ruid: status.uids.real,
        euid: status.uids.effective,
        suid: status.uids.saved,
        fsuid: status.uids.fs,
        user: ctx.users.get(status.uids.effective).map(str::to_string),
        inheritable: caps.inheritable,
        permitted: caps.permitted,
        effective: caps.effective,
        bounding: caps.bounding,
        ambient: caps.ambient,
        no_new_privs: caps.no_new_privs,
        seccomp: caps.seccomp,
        seccomp_filters: caps.seccomp_filters,
        // prctl answers for the calling thread only: the leader of capls's own process, here.
        securebits: (tid == ctx.own_pid).then_some(ctx.own_securebits).flatten(),
        userns: Userns {
            inode: process.userns,
            is_host,
        },
        cgroup: process
            .cgroup
            .as_deref()
            .and_then(container::main_cgroup_path)
            .map(str::to_string),
        container: process
            .cgroup
            .as_deref()
            .and_then(container::from_proc_cgroup),
        threads: process.leader.threads,
        threads_differ: differs,
        compare,
        flags,
        summary: summarise(permitted, effective, ctx.known),
    }
}

/// NUL-separated arguments; a final NUL ends the last one rather than starting an empty one. No bytes at
/// all is no arguments (a kernel thread, a zombie); a lone NUL is one empty argument.
fn split_cmdline(bytes: &[u8]) -> Vec<ExternalBytes> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    bytes
        .split(|b| *b == 0)
        .map(|arg| ExternalBytes(arg.to_vec()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_command_lines() {
        assert_eq!(split_cmdline(b""), Vec::<ExternalBytes>::new());
        assert_eq!(split_cmdline(b"\x00"), vec![ExternalBytes(Vec::new())]);
        assert_eq!(
            split_cmdline(b"a\x00\x00"),
            vec![ExternalBytes(b"a".to_vec()), ExternalBytes(Vec::new())]
        );
        assert_eq!(
            split_cmdline(b"sleep\x00100\x00"),
            vec![
                ExternalBytes(b"sleep".to_vec()),
                ExternalBytes(b"100".to_vec())
            ]
        );
        assert_eq!(
            split_cmdline(b"nginx: worker"),
            vec![ExternalBytes(b"nginx: worker".to_vec())]
        );
    }
}
