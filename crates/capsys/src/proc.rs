//! Processes and threads as procfs shows them: one `Process` record per thread group, holding the status of
//! its leader and of every other thread, and, when asked, its command line, cgroup and namespace inodes.
//!
//! Speed decides the shape. The floor is one status read per task, so the leader's status is read from
//! /proc/PID/status (the same text as /proc/PID/task/PID/status) and its `Threads:` line says whether the
//! task directory needs listing at all: for the usual single-threaded process, that is one open, one read
//! and one close. Status files are seq_files, which the kernel renders whole, so a read that does not fill
//! the buffer has read everything and no second read is made to see the end. Direct reads beat the procfs
//! crate here (it parses every status line into owned fields and reads the file again for each accessor
//! call we would need); the measurements are in docs/capls.md.
//!
//! Processes come and go while they are read. A process or thread that is gone (ENOENT, ESRCH) is
//! `ReadError::Vanished` or counted in `Process::vanished_threads`, never a failure. What permission hides
//! (the namespace links of another user's process when not root) is `None`: unknown, not empty.
//!
//! A kernel thread is known by the kernel's own mark (`Kthread:` in status, PF_KTHREAD in stat), never by
//! its parent: the children of kthreadd include user processes, such as the usermode helpers the kernel
//! starts for a core_pattern pipe or a module request, which run as root with every capability.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use capcore::procstatus::{ProcStatusError, TaskStatus};
use capcore::{CapSet, Securebits};

/// What to read besides each task's status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Read the status of every thread, not only the leader's.
    pub threads: bool,
    /// Read /proc/PID/cmdline.
    pub cmdline: bool,
    /// Read /proc/PID/cgroup.
    pub cgroup: bool,
    /// Read the user namespace link.
    pub userns: bool,
    /// Read the network namespace link.
    pub netns: bool,
}

/// One thread of a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    pub tid: u32,
    pub status: TaskStatus,
}

/// One process: its leader's status and, when read, its other threads and per-process facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    /// The thread-group leader's status (/proc/PID/status).
    pub leader: TaskStatus,
    /// The other threads, by tid, when `ReadOptions::threads` was set; the leader is not repeated here.
    pub threads: Vec<Task>,
    /// Threads that exited between listing and reading.
    pub vanished_threads: u32,
    /// Whether the leader is a kernel thread, by the kernel's mark (not by its parent).
    pub kernel_thread: bool,
    /// The NUL-separated arguments; `None` when not read or not readable. Empty (no bytes) for kernel
    /// threads and zombies; a single NUL for a process exec'd with an empty argv (the kernel gives it one
    /// empty argument).
    pub cmdline: Option<Vec<u8>>,
    /// The text of /proc/PID/cgroup; `None` when not read or not readable.
    pub cgroup: Option<String>,
    /// The user namespace's inode; `None` when not read or hidden.
    pub userns: Option<u64>,
    /// The network namespace's inode; `None` when not read or hidden.
    pub netns: Option<u64>,
}

impl Process {
    /// The leader and then every other thread that was read.
    pub fn tasks(&self) -> impl Iterator<Item = (u32, &TaskStatus)> {
        std::iter::once((self.pid, &self.leader))
            .chain(self.threads.iter().map(|t| (t.tid, &t.status)))
    }

    /// Whether this is a kernel thread, which has no command line and no user namespace of its own.
    pub fn is_kernel_thread(&self) -> bool {
        self.kernel_thread
    }
}

/// Why a process could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// It exited (or never existed) before or while it was read.
    Vanished,
    /// It exists but its status could not be read.
    Io { path: PathBuf, err: io::Error },
    /// Its status did not parse: a kernel capkit does not understand.
    Parse { path: PathBuf, err: ProcStatusError },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Vanished => f.write_str("process exited while being read"),
            ReadError::Io { path, err } => write!(f, "{}: {err}", path.display()),
            ReadError::Parse { path, err } => write!(f, "{}: {err}", path.display()),
        }
    }
}

impl std::error::Error for ReadError {}

/// The ids in /proc, in ascending order: every process (thread-group leader) visible to us.
pub fn pids() -> io::Result<Vec<u32>> {
    let mut pids: Vec<u32> = fs::read_dir("/proc")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// The kernel threads among the children of kthreadd (PID 2), from its `children` file
/// (CONFIG_PROC_CHILDREN), with kthreadd itself. Each is confirmed by the kernel's mark, PF_KTHREAD in its
/// stat (a smaller file to render than status), since kthreadd's children also include the usermode helpers,
/// which are user processes. `None` when that file is missing or PID 2 is not a kernel thread (inside a PID
/// namespace it is an ordinary process). A listing that leaves kernel threads out skips their status this
/// way: on a small machine they are most of /proc.
pub fn kernel_threads() -> Option<Vec<u32>> {
    let mut reader = Reader::new(ReadOptions::default());
    if !reader.kthread_flag(2).ok()? {
        return None;
    }
    let children = fs::read_to_string("/proc/2/task/2/children").ok()?;
    let mut pids: Vec<u32> = children
        .split_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .filter(|pid| reader.kthread_flag(*pid).unwrap_or(false))
        .chain([2])
        .collect();
    pids.sort_unstable();
    Some(pids)
}

/// Reads processes, reusing one buffer for every file.
pub struct Reader {
    options: ReadOptions,
    buf: Vec<u8>,
    path: String,
    /// The user and network namespaces of the kernel threads, read from the first one met.
    kernel_userns: Option<u64>,
    kernel_netns: Option<u64>,
}

impl Reader {
    pub fn new(options: ReadOptions) -> Reader {
        Reader {
            options,
            buf: Vec::with_capacity(8192),
            path: String::with_capacity(64),
            kernel_userns: None,
            kernel_netns: None,
        }
    }

    /// Reads one process by its pid.
    pub fn process(&mut self, pid: u32) -> Result<Process, ReadError> {
        let leader = self.status(format_args!("/proc/{pid}/status"))?;
        let kernel_thread = match kthread_mark(&self.buf) {
            Some(mark) => mark,
            None => self.kthread_flag(pid)?,
        };
        let mut process = Process {
            pid,
            leader,
            kernel_thread,
            threads: Vec::new(),
            vanished_threads: 0,
            cmdline: None,
            cgroup: None,
            userns: None,
            netns: None,
        };
        if self.options.threads && process.leader.threads > 1 {
            self.read_threads(&mut process)?;
        }
        self.fill(&mut process);
        Ok(process)
    }

    /// Reads the per-process facts the options ask for and the process does not have yet. A fact that
    /// cannot be read (the process exited, or permission hides it) stays `None`.
    pub fn fill(&mut self, process: &mut Process) {
        let pid = process.pid;
        if self.options.cmdline && process.cmdline.is_none() {
            // A kernel thread has no memory map, so no arguments: nothing to read.
            process.cmdline = if process.is_kernel_thread() {
                Some(Vec::new())
            } else {
                self.read_whole(format_args!("/proc/{pid}/cmdline")).ok()
            };
        }
        if self.options.cgroup && process.cgroup.is_none() {
            // Also a seq_file: one read.
            self.set_path(format_args!("/proc/{pid}/cgroup"));
            process.cgroup = read_seq_file(&self.path, &mut self.buf)
                .ok()
                .map(|()| String::from_utf8_lossy(&self.buf).into_owned());
        }
        // Every kernel thread runs with the kernel's own credentials and namespaces (init_cred,
        // init_nsproxy): the links of one are those of all, so on a small machine, where kernel threads are
        // most of /proc, one read replaces most of them.
        let kernel = process.kernel_thread;
        if self.options.userns && process.userns.is_none() {
            process.userns = match (kernel, self.kernel_userns) {
                (true, Some(ns)) => Some(ns),
                _ => namespace_inode(pid, "user").ok(),
            };
            if kernel && self.kernel_userns.is_none() {
                self.kernel_userns = process.userns;
            }
        }
        if self.options.netns && process.netns.is_none() {
            process.netns = match (kernel, self.kernel_netns) {
                (true, Some(ns)) => Some(ns),
                _ => namespace_inode(pid, "net").ok(),
            };
            if kernel && self.kernel_netns.is_none() {
                self.kernel_netns = process.netns;
            }
        }
    }

    /// Reads one task by its id (a pid or the tid of any thread): its own status and its thread group id.
    pub fn task(&mut self, tid: u32) -> Result<TaskStatus, ReadError> {
        self.status(format_args!("/proc/{tid}/status"))
    }

    /// PF_KTHREAD from /proc/PID/stat: the kernel's mark before status is read, and on kernels whose status
    /// has no `Kthread:` line (older ones).
    fn kthread_flag(&mut self, pid: u32) -> Result<bool, ReadError> {
        self.set_path(format_args!("/proc/{pid}/stat"));
        read_seq_file(&self.path, &mut self.buf).map_err(|err| classify(&self.path, err))?;
        stat_flags(&self.buf)
            .map(|flags| flags & PF_KTHREAD != 0)
            .ok_or_else(|| ReadError::Io {
                path: PathBuf::from(&self.path),
                err: io::Error::new(io::ErrorKind::InvalidData, "no flags field"),
            })
    }

    fn read_threads(&mut self, process: &mut Process) -> Result<(), ReadError> {
        let pid = process.pid;
        let dir = format!("/proc/{pid}/task");
        let entries = fs::read_dir(&dir).map_err(|err| classify(Path::new(&dir), err))?;
        let mut tids: Vec<u32> = entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
            .filter(|tid| *tid != pid)
            .collect();
        tids.sort_unstable();
        for tid in tids {
            match self.status(format_args!("/proc/{pid}/task/{tid}/status")) {
                Ok(status) => process.threads.push(Task { tid, status }),
                Err(ReadError::Vanished) => process.vanished_threads += 1,
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    fn status(&mut self, path: std::fmt::Arguments<'_>) -> Result<TaskStatus, ReadError> {
        self.set_path(path);
        read_seq_file(&self.path, &mut self.buf).map_err(|err| classify(&self.path, err))?;
        TaskStatus::parse(&self.buf).map_err(|err| ReadError::Parse {
            path: PathBuf::from(&self.path),
            err,
        })
    }

    fn read_whole(&mut self, path: std::fmt::Arguments<'_>) -> io::Result<Vec<u8>> {
        self.set_path(path);
        let mut bytes = Vec::new();
        File::open(&self.path)?.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn set_path(&mut self, path: std::fmt::Arguments<'_>) {
        use std::fmt::Write;
        self.path.clear();
        let _ = self.path.write_fmt(path);
    }
}

/// Processes read from a list of pids, in the list's order, and those that could not be read.
#[derive(Debug, Default)]
pub struct Scan {
    pub processes: Vec<Process>,
    /// Processes that exited before or while they were read.
    pub vanished: u32,
    /// Threads that exited while their process was read.
    pub vanished_threads: u32,
    /// Processes that exist but could not be read.
    pub failed: Vec<(u32, ReadError)>,
}

/// Fewer pids than this are read on one thread. Starting a thread costs more than it saves below this
/// (measured: on the 2-core VMs here, a second thread made 80 processes slower even with a core idle,
/// since waking an idle virtual CPU and creating the thread cost about as much as the half it reads).
const PARALLEL_FROM: usize = 128;

/// How many threads share reading `items` processes: procfs reads are kernel work that scales with cores.
fn workers(items: usize) -> usize {
    if items < PARALLEL_FROM {
        return 1;
    }
    cores().min(8)
}

/// The cores this process may run on, asked once: std reads the cgroup's CPU quota each time it is asked.
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Reads every pid, spread over the machine's cores. The calling thread reads the first share itself.
pub fn scan(pids: &[u32], options: ReadOptions) -> Scan {
    scan_on(pids, options, workers(pids.len()))
}

fn scan_on(pids: &[u32], options: ReadOptions, workers: usize) -> Scan {
    if workers <= 1 {
        return scan_one_thread(pids, options);
    }
    let chunk = pids.len().div_ceil(workers).max(1);
    let mut chunks = pids.chunks(chunk);
    let first = chunks.next().unwrap_or_default();
    let parts: Vec<Scan> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .map(|part| scope.spawn(move || scan_one_thread(part, options)))
            .collect();
        let mut parts = vec![scan_one_thread(first, options)];
        parts.extend(handles.into_iter().map(|h| h.join().unwrap_or_default()));
        parts
    });
    let mut all = Scan::default();
    for part in parts {
        all.processes.extend(part.processes);
        all.vanished += part.vanished;
        all.vanished_threads += part.vanished_threads;
        all.failed.extend(part.failed);
    }
    all
}

fn scan_one_thread(pids: &[u32], options: ReadOptions) -> Scan {
    let mut reader = Reader::new(options);
    let mut scan = Scan::default();
    for &pid in pids {
        match reader.process(pid) {
            Ok(process) => {
                scan.vanished_threads += process.vanished_threads;
                scan.processes.push(process);
            }
            Err(ReadError::Vanished) => scan.vanished += 1,
            Err(err) => scan.failed.push((pid, err)),
        }
    }
    scan
}

/// Reads, for processes already read, the facts `options` asks for, spread over the machine's cores: a
/// listing can read the cheap status of everything first and these only for what it shows.
pub fn fill_all(processes: &mut [&mut Process], options: ReadOptions) {
    let workers = workers(processes.len());
    if workers == 1 {
        let mut reader = Reader::new(options);
        for process in processes.iter_mut() {
            reader.fill(process);
        }
        return;
    }
    let chunk = processes.len().div_ceil(workers).max(1);
    std::thread::scope(|scope| {
        for part in processes.chunks_mut(chunk) {
            scope.spawn(move || {
                let mut reader = Reader::new(options);
                for process in part.iter_mut() {
                    reader.fill(process);
                }
            });
        }
    });
}

/// Reads a seq_file whole. The kernel renders it into its own buffer before copying, so a read shorter
/// than our buffer got everything; only a full buffer needs another read. The read goes straight into the
/// buffer's spare capacity: no zeroing of 8 KiB before each of thousands of reads, no allocation for the path.
fn read_seq_file(path: &str, buf: &mut Vec<u8>) -> io::Result<()> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    buf.clear();
    loop {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(8192);
        }
        let room = buf.capacity() - buf.len();
        let n = match rustix::io::read(&fd, rustix::buffer::spare_capacity(buf)) {
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => return Err(err.into()),
        };
        if n == 0 || n < room {
            return Ok(());
        }
    }
}

/// The task flag of kernel threads (include/linux/sched.h), the ninth field of /proc/PID/stat.
const PF_KTHREAD: u64 = 0x0020_0000;

/// The `Kthread:` line of a status text, when the kernel writes one.
fn kthread_mark(status: &[u8]) -> Option<bool> {
    let value = status
        .split(|b| *b == b'\n')
        .find_map(|line| line.strip_prefix(b"Kthread:"))?;
    match value.trim_ascii() {
        b"1" => Some(true),
        b"0" => Some(false),
        _ => None,
    }
}

/// The flags field of a /proc/PID/stat text. The name in parentheses before it may hold any byte, `)` and
/// spaces included, so the fields are counted from the last `)`.
fn stat_flags(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|b| *b == b')')?;
    let fields = std::str::from_utf8(&stat[close + 1..]).ok()?;
    // state ppid pgrp session tty_nr tpgid flags
    fields.split_ascii_whitespace().nth(6)?.parse().ok()
}

/// Gone (ENOENT, ESRCH) is `Vanished`; anything else keeps its cause.
fn classify(path: impl AsRef<Path>, err: io::Error) -> ReadError {
    const ESRCH: i32 = 3;
    if err.kind() == io::ErrorKind::NotFound || err.raw_os_error() == Some(ESRCH) {
        ReadError::Vanished
    } else {
        ReadError::Io {
            path: path.as_ref().to_path_buf(),
            err,
        }
    }
}

/// The inode of a namespace link (`user:[4026531837]`) of a process.
pub fn namespace_inode(pid: u32, kind: &str) -> io::Result<u64> {
    namespace_inode_at(&format!("/proc/{pid}/ns/{kind}"))
}

fn namespace_inode_at(path: &str) -> io::Result<u64> {
    let target = fs::read_link(path)?;
    parse_namespace_link(&target.to_string_lossy()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{path}: unexpected link {}", target.display()),
        )
    })
}

/// `user:[4026531837]` -> 4026531837.
pub fn parse_namespace_link(link: &str) -> Option<u64> {
    let (_, rest) = link.split_once(":[")?;
    rest.strip_suffix(']')?.parse().ok()
}

/// Whether a namespace (by inode) is the host's: `None` when either inode is unknown (a link hidden
/// from us), which is neither host nor other.
pub fn is_host_namespace(ns: Option<u64>, host: Option<u64>) -> Option<bool> {
    Some(ns? == host?)
}

/// The initial user namespace as far as we can see it: PID 1's, or our own when PID 1's is hidden (we run
/// inside a container, or without the right to look at PID 1).
pub fn host_user_namespace() -> Option<u64> {
    namespace_inode_at("/proc/1/ns/user")
        .or_else(|_| namespace_inode_at("/proc/self/ns/user"))
        .ok()
}

/// The initial network namespace as far as we can see it: PID 1's, or our own when PID 1's is hidden.
pub fn host_net_namespace() -> Option<u64> {
    namespace_inode_at("/proc/1/ns/net")
        .or_else(|_| namespace_inode_at("/proc/self/ns/net"))
        .ok()
}

/// This process's securebits: the kernel shows them to the process itself only (prctl), never in /proc.
pub fn own_securebits() -> io::Result<Securebits> {
    let bits = rustix::thread::capabilities_secure_bits()?;
    Securebits::from_bits(u64::from(bits.bits()))
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err.to_string()))
}

/// This thread's effective, permitted and inheritable sets by capget, every bit kept.
pub fn own_capabilities() -> io::Result<(CapSet, CapSet, CapSet)> {
    let sets = rustix::thread::capabilities(None)?;
    Ok((
        CapSet::from_bits(sets.effective.bits()),
        CapSet::from_bits(sets.permitted.bits()),
        CapSet::from_bits(sets.inheritable.bits()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process_and_threads() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let handle = std::thread::spawn(move || {
            let _ = rx.recv();
        });
        let pid = std::process::id();
        let mut reader = Reader::new(ReadOptions {
            threads: true,
            cmdline: true,
            cgroup: true,
            userns: true,
            netns: true,
        });
        let process = reader.process(pid).unwrap();
        assert_eq!(process.leader.pid, pid);
        assert_eq!(process.leader.tgid, pid);
        assert!(process.leader.threads >= 2);
        assert!(!process.threads.is_empty());
        assert!(process.threads.iter().all(|t| t.status.tgid == pid));
        assert!(process.cmdline.as_ref().is_some_and(|c| !c.is_empty()));
        assert!(process.cgroup.is_some());
        assert_eq!(process.userns, namespace_inode(pid, "user").ok());
        assert!(process.netns.is_some());
        let (effective, permitted, _) = own_capabilities().unwrap();
        assert_eq!(process.leader.caps.effective, Some(effective));
        assert_eq!(process.leader.caps.permitted, Some(permitted));
        tx.send(()).unwrap();
        handle.join().unwrap();
    }

    #[test]
    fn a_missing_process_has_vanished() {
        let mut reader = Reader::new(ReadOptions::default());
        // pid_max is at most 2^22, so this pid never exists.
        assert!(matches!(
            reader.process(u32::MAX - 1),
            Err(ReadError::Vanished)
        ));
    }

    #[test]
    fn a_scan_skips_and_counts_what_vanished() {
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let gone_pid = gone.id();
        gone.wait().unwrap();
        let scan = scan(&[gone_pid, std::process::id()], ReadOptions::default());
        assert_eq!(scan.vanished, 1);
        assert_eq!(scan.processes.len(), 1);
        assert_eq!(scan.processes[0].pid, std::process::id());
        assert!(scan.failed.is_empty());
    }

    #[test]
    fn kernel_threads_by_the_kernels_mark() {
        let status = b"Name:\tkworker/0:1\nUmask:\t0022\nKthread:\t1\nUid:\t0\n";
        assert_eq!(kthread_mark(status), Some(true));
        assert_eq!(kthread_mark(b"Name:\tsh\nKthread:\t0\n"), Some(false));
        assert_eq!(kthread_mark(b"Name:\tsh\nPPid:\t2\n"), None);
        // A name with `)` and spaces does not shift the fields.
        let stat = b"77 (a) S 2 0 0 0 -1 4194560 0 0) S 2 0 0 0 -1 2129984 0 0 0 0\n";
        assert_eq!(stat_flags(stat), Some(2_129_984));
        assert_eq!(stat_flags(stat).map(|f| f & PF_KTHREAD != 0), Some(true));
        assert_eq!(
            stat_flags(b"1 (init) S 0 1 1 0 -1 4194560 9"),
            Some(4_194_560)
        );
        assert_eq!(stat_flags(b"1 (init) S 0"), None);
        let mut reader = Reader::new(ReadOptions::default());
        assert!(!reader.process(std::process::id()).unwrap().kernel_thread);
        if let Ok(kthreadd) = reader.process(2) {
            if kthreadd.leader.name == b"kthreadd" && kthreadd.leader.ppid == 0 {
                assert!(kthreadd.kernel_thread);
                assert!(kthreadd.is_kernel_thread());
                assert_eq!(reader.kthread_flag(2).ok(), Some(true));
            }
        }
        assert_eq!(reader.kthread_flag(std::process::id()).ok(), Some(false));
        // The namespaces read once for all kernel threads are each one's own.
        let mut reader = Reader::new(ReadOptions {
            userns: true,
            netns: true,
            ..ReadOptions::default()
        });
        for pid in kernel_threads().unwrap_or_default().into_iter().take(8) {
            if let Ok(process) = reader.process(pid) {
                assert!(process.kernel_thread, "{pid}");
                assert_eq!(process.userns, namespace_inode(pid, "user").ok(), "{pid}");
                assert_eq!(process.netns, namespace_inode(pid, "net").ok(), "{pid}");
            }
        }
    }

    #[test]
    fn a_scan_keeps_the_order_of_its_pids_on_any_number_of_threads() {
        let pids = pids().unwrap();
        for workers in [1, 2] {
            let mut reader = Reader::new(ReadOptions::default());
            let expected: Vec<u32> = pids
                .iter()
                .filter(|pid| reader.process(**pid).is_ok())
                .copied()
                .collect();
            let got = scan_on(&pids, ReadOptions::default(), workers);
            let got: Vec<u32> = got.processes.iter().map(|p| p.pid).collect();
            // Processes may exit between the two reads; those still there keep their order.
            assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
            assert!(got.contains(&std::process::id()));
            assert!(expected.len().abs_diff(got.len()) < 20);
        }
        assert_eq!(workers(PARALLEL_FROM - 1), 1);
        assert!(workers(PARALLEL_FROM) >= 1);
    }

    #[test]
    fn lists_pids_and_namespaces() {
        let pids = pids().unwrap();
        assert!(pids.contains(&std::process::id()));
        assert!(pids.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(parse_namespace_link("user:[4026531837]"), Some(4026531837));
        assert_eq!(parse_namespace_link("user:4026531837"), None);
        assert!(host_user_namespace().is_some());
        if let Some(kthreads) = kernel_threads() {
            let mut reader = Reader::new(ReadOptions::default());
            for pid in kthreads {
                if let Ok(process) = reader.process(pid) {
                    assert!(process.is_kernel_thread(), "{pid}");
                }
            }
        }
        assert!(own_securebits().is_ok());
    }
}
