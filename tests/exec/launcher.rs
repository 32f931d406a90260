//! capkit-test-launcher: puts a process in an exactly chosen credential state and execs a file, for the
//! differential test of capsim's execve model (tests/capsim_kernel.rs). Test-only; runs as root.
//!
//! Usage: `capkit-test-launcher [--userns IN:OUT:COUNT]... [--uid R,E,S,FS] [--gid R,E,S,FS] [--groups G,..]
//! [--inh HEX] [--prm HEX] [--eff HEX] [--amb HEX] [--bnd HEX] [--securebits HEX] [--nnp]
//! [--trace none|traceme|seize] [--tracer-id ID] [--hold] [--fs-shared] [--env KEY=VALUE]... -- FILE`
//!
//! The order follows spec §10's recipe: in each requested user namespace (outermost first) a child unshares
//! and its parent writes the maps; the innermost child sets I while it still holds everything, drops the
//! bounding set, sets groups and gids and uids with KEEP_CAPS, fs ids, raises ambient, sets securebits and
//! finally capset(E, P, I); then a CLONE_FS sibling, no_new_privs and PTRACE_TRACEME as asked. It prints its
//! own /proc/self/status (`BEFORE` block) and execs FILE. Its parent stays as the tracer and reaper.
//! Failures print `LAUNCH_ERROR step errno` (exit 3); a failed execve prints `EXEC_ERROR errno` (exit 4).
//!
//! `--tracer-id ID` makes the seizing parent drop to uid and gid ID (no capabilities, so no CAP_SYS_PTRACE)
//! before it seizes. `--hold` stops the child just before the exec, traced as asked: it prints
//! `HOLD <pid>` and execs only when a byte (or end of file) arrives on its standard input, so a test can
//! look at the process (`capsim --pid`) in exactly the state that execs.

use std::ffi::CString;
use std::io::{self, Write};
use std::process::exit;

#[derive(Default)]
struct Plan {
    userns: Vec<(u32, u32, u32)>,
    uid: Option<[u32; 4]>,
    gid: Option<[u32; 4]>,
    groups: Option<Vec<u32>>,
    inh: u64,
    prm: Option<u64>,
    eff: Option<u64>,
    amb: u64,
    bnd: Option<u64>,
    securebits: u32,
    nnp: bool,
    trace: Trace,
    tracer_id: Option<u32>,
    hold: bool,
    fs_shared: bool,
    /// `KEY=VALUE` strings: the exec'd program's whole environment.
    env: Vec<String>,
    file: String,
}

#[derive(Default, PartialEq, Eq, Clone, Copy)]
enum Trace {
    #[default]
    None,
    Traceme,
    Seize,
}

fn fail(step: &str) -> ! {
    let err = io::Error::last_os_error();
    let _ = writeln!(
        io::stdout(),
        "LAUNCH_ERROR {step} {}",
        err.raw_os_error().unwrap_or(0)
    );
    exit(3)
}

fn usage(why: &str) -> ! {
    let _ = writeln!(io::stderr(), "capkit-test-launcher: {why}");
    exit(2)
}

fn hex(value: &str) -> u64 {
    u64::from_str_radix(value.trim_start_matches("0x"), 16).unwrap_or_else(|_| usage(value))
}

fn ids(value: &str) -> [u32; 4] {
    let parts: Vec<u32> = value
        .split(',')
        .map(|p| p.parse().unwrap_or_else(|_| usage(value)))
        .collect();
    match parts[..] {
        [r, e, s, fs] => [r, e, s, fs],
        _ => usage(value),
    }
}

fn parse() -> Plan {
    let mut plan = Plan::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--" {
            plan.file = args.next().unwrap_or_else(|| usage("missing FILE"));
            return plan;
        }
        let mut value = || args.next().unwrap_or_else(|| usage(&arg));
        match arg.as_str() {
            "--userns" => {
                let v = value();
                let parts: Vec<u32> = v
                    .split(':')
                    .map(|p| p.parse().unwrap_or_else(|_| usage(&v)))
                    .collect();
                match parts[..] {
                    [i, o, c] => plan.userns.push((i, o, c)),
                    _ => usage(&v),
                }
            }
            "--uid" => plan.uid = Some(ids(&value())),
            "--gid" => plan.gid = Some(ids(&value())),
            "--groups" => {
                let v = value();
                plan.groups = Some(if v.is_empty() {
                    Vec::new()
                } else {
                    v.split(',')
                        .map(|g| g.parse().unwrap_or_else(|_| usage(&v)))
                        .collect()
                });
            }
            "--inh" => plan.inh = hex(&value()),
            "--prm" => plan.prm = Some(hex(&value())),
            "--eff" => plan.eff = Some(hex(&value())),
            "--amb" => plan.amb = hex(&value()),
            "--bnd" => plan.bnd = Some(hex(&value())),
            "--securebits" => plan.securebits = hex(&value()) as u32,
            "--nnp" => plan.nnp = true,
            "--hold" => plan.hold = true,
            "--tracer-id" => {
                let v = value();
                plan.tracer_id = Some(v.parse().unwrap_or_else(|_| usage(&v)));
            }
            "--fs-shared" => plan.fs_shared = true,
            "--env" => plan.env.push(value()),
            "--trace" => {
                plan.trace = match value().as_str() {
                    "none" => Trace::None,
                    "traceme" => Trace::Traceme,
                    "seize" => Trace::Seize,
                    other => usage(other),
                }
            }
            other => usage(other),
        }
    }
    usage("missing -- FILE")
}

fn main() {
    let plan = parse();
    let _ = io::stdout().flush();
    spawn_level(&plan, 0);
}

/// A pipe; both ends close on exec.
fn pipe() -> (i32, i32) {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        fail("pipe2");
    }
    (fds[0], fds[1])
}

fn send(fd: i32) {
    // SAFETY: writes one byte from a live local buffer to a descriptor we own.
    if unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) } != 1 {
        fail("write");
    }
}

fn receive(fd: i32) {
    let mut byte = 0u8;
    // SAFETY: reads at most one byte into a live local.
    if unsafe { libc::read(fd, (&mut byte as *mut u8).cast(), 1) } != 1 {
        // The other side died before answering.
        exit(3);
    }
}

fn close(fd: i32) {
    // SAFETY: closes a descriptor this process owns and no longer uses.
    unsafe { libc::close(fd) };
}

/// Forks the next process: a child in a new user namespace for each requested level, then the process that
/// execs. The parent writes the child's id maps, seizes it if asked, and waits for it.
fn spawn_level(plan: &Plan, level: usize) -> ! {
    let levels = plan.userns.len();
    let (to_parent_r, to_parent_w) = pipe();
    let (to_child_r, to_child_w) = pipe();
    // SAFETY: the launcher is single-threaded, so the child may run any code after fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        fail("fork");
    }
    if pid == 0 {
        close(to_parent_r);
        close(to_child_w);
        if level < levels {
            // SAFETY: plain syscall without pointers.
            if unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0 {
                fail("unshare");
            }
            send(to_parent_w);
            receive(to_child_r);
            // Still kernel uid 0, which the new namespace does not map: become its root.
            // SAFETY: integer arguments only.
            if unsafe { libc::setresgid(0, 0, 0) } != 0 || unsafe { libc::setresuid(0, 0, 0) } != 0
            {
                fail("become_ns_root");
            }
            // Changing ids made the process non-dumpable, which would make its /proc files (and so the
            // next level's id maps, written by this process) belong to the initial root.
            prctl("dumpable", libc::PR_SET_DUMPABLE, 1, 0);
        }
        if level + 1 < levels {
            close(to_parent_w);
            close(to_child_r);
            spawn_level(plan, level + 1);
        }
        become_and_exec(plan, (to_parent_w, to_child_r))
    }
    close(to_parent_w);
    close(to_child_r);
    if let Some(&(inside, outside, count)) = plan.userns.get(level) {
        receive(to_parent_r);
        write_map(pid, "uid_map", inside, outside, count);
        write_map(pid, "gid_map", inside, outside, count);
        send(to_child_w);
    }
    if level + 1 < levels {
        supervise(pid)
    }
    if plan.trace == Trace::Seize {
        receive(to_parent_r);
        if let Some(id) = plan.tracer_id {
            // SAFETY: integer arguments and an empty group list.
            let dropped = unsafe {
                libc::setgroups(0, std::ptr::null()) == 0
                    && libc::setresgid(id, id, id) == 0
                    && libc::setresuid(id, id, id) == 0
            };
            if !dropped {
                fail("tracer_id");
            }
        }
        // SAFETY: PTRACE_SEIZE takes no pointers; pid is our child.
        if unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0, 0) } != 0 {
            fail("ptrace_seize");
        }
        send(to_child_w);
    }
    supervise(pid)
}

fn write_map(pid: i32, which: &str, inside: u32, outside: u32, count: u32) {
    let path = format!("/proc/{pid}/{which}");
    if std::fs::write(&path, format!("{inside} {outside} {count}\n")).is_err() {
        fail(which);
    }
}

/// Reaps the child, continuing it through ptrace stops, and exits with its status.
fn supervise(pid: i32) -> ! {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a live local the kernel writes into.
        let got = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if got < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            fail("waitpid");
        }
        if libc::WIFSTOPPED(status) {
            let sig = libc::WSTOPSIG(status);
            let deliver = if sig == libc::SIGTRAP || sig == libc::SIGSTOP {
                0
            } else {
                sig
            };
            // SAFETY: continues our traced child; no pointers.
            unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, deliver) };
            continue;
        }
        if libc::WIFEXITED(status) {
            exit(libc::WEXITSTATUS(status));
        }
        if libc::WIFSIGNALED(status) {
            exit(128 + libc::WTERMSIG(status));
        }
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_V3: u32 = 0x2008_0522;

fn capget() -> (u64, u64, u64) {
    let mut header = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and the two data structs are what capget v3 reads and writes.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } != 0 {
        fail("capget");
    }
    let join = |lo: u32, hi: u32| u64::from(hi) << 32 | u64::from(lo);
    (
        join(data[0].effective, data[1].effective),
        join(data[0].permitted, data[1].permitted),
        join(data[0].inheritable, data[1].inheritable),
    )
}

fn capset(step: &str, effective: u64, permitted: u64, inheritable: u64) {
    let mut header = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: effective as u32,
            permitted: permitted as u32,
            inheritable: inheritable as u32,
        },
        CapData {
            effective: (effective >> 32) as u32,
            permitted: (permitted >> 32) as u32,
            inheritable: (inheritable >> 32) as u32,
        },
    ];
    // SAFETY: header and the two data structs are what capset v3 reads.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } != 0 {
        fail(step);
    }
}

fn prctl(step: &str, option: i32, arg2: u64, arg3: u64) {
    // SAFETY: every option used here takes integer arguments only.
    if unsafe { libc::prctl(option, arg2 as libc::c_ulong, arg3 as libc::c_ulong, 0, 0) } != 0 {
        fail(step);
    }
}

fn known_caps() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .map_or(41, |last| last + 1)
}

/// Sets the requested state, prints it, and execs the file.
fn become_and_exec(plan: &Plan, handshake: (i32, i32)) -> ! {
    let (_, full, _) = capget();
    let known = known_caps();
    // I first, while everything is permitted and effective.
    capset("capset_inheritable", full, full, plan.inh);
    if let Some(bnd) = plan.bnd {
        for bit in 0..known {
            if bnd & 1 << bit == 0 {
                prctl("capbset_drop", libc::PR_CAPBSET_DROP, u64::from(bit), 0);
            }
        }
    }
    prctl("keepcaps", libc::PR_SET_KEEPCAPS, 1, 0);
    if let Some(groups) = &plan.groups {
        let gids: Vec<libc::gid_t> = groups.clone();
        // SAFETY: the pointer and length describe a live vector.
        if unsafe { libc::setgroups(gids.len(), gids.as_ptr()) } != 0 {
            fail("setgroups");
        }
    }
    if let Some([r, e, s, _]) = plan.gid {
        // SAFETY: integer arguments only.
        if unsafe { libc::setresgid(r, e, s) } != 0 {
            fail("setresgid");
        }
    }
    if let Some([r, e, s, _]) = plan.uid {
        // SAFETY: integer arguments only.
        if unsafe { libc::setresuid(r, e, s) } != 0 {
            fail("setresuid");
        }
    }
    // Leaving uid 0 cleared the effective set; raise it again for the steps below.
    capset("capset_restore", full, full, plan.inh);
    if let Some([_, _, _, fs]) = plan.gid {
        // SAFETY: integer argument only; setfsgid reports no error, so the state is checked by the test.
        unsafe { libc::setfsgid(fs) };
    }
    if let Some([_, _, _, fs]) = plan.uid {
        // SAFETY: as above.
        unsafe { libc::setfsuid(fs) };
    }
    capset("capset_restore_fs", full, full, plan.inh);
    for bit in 0..64 {
        if plan.amb & 1 << bit != 0 {
            prctl(
                "ambient_raise",
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as u64,
                bit,
            );
        }
    }
    prctl(
        "securebits",
        libc::PR_SET_SECUREBITS,
        u64::from(plan.securebits),
        0,
    );
    capset(
        "capset_final",
        plan.eff.unwrap_or(full),
        plan.prm.unwrap_or(full),
        plan.inh,
    );
    let mut status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.retain(|c| c != '\r');
    let mut out = String::from("BEFORE\n");
    for line in status.lines() {
        if is_reported(line) {
            out.push_str(line);
            out.push('\n');
        }
    }
    // SAFETY: PR_GET_SECUREBITS takes no pointers.
    let bits = unsafe { libc::prctl(libc::PR_GET_SECUREBITS, 0, 0, 0, 0) };
    out.push_str(&format!("Securebits:\t{bits}\n"));
    let _ = io::stdout().write_all(out.as_bytes());
    let _ = io::stdout().flush();

    // The sibling shares our fs_struct until the exec closes the pipe's write end (O_CLOEXEC), which tells
    // it to leave: it exists exactly while the kernel counts fs users (LSM_UNSAFE_SHARE).
    if plan.fs_shared {
        let (r, w) = pipe();
        // SAFETY: a raw clone with CLONE_FS behaves like fork but shares the fs_struct; the child only
        // calls async-signal-safe functions (close, read, _exit).
        let pid = unsafe {
            libc::syscall(
                libc::SYS_clone,
                (libc::CLONE_FS | libc::SIGCHLD) as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
        if pid < 0 {
            fail("clone_fs");
        }
        if pid == 0 {
            // SAFETY: the sibling closes its copies of the output and the write end, waits until the exec
            // closes the launcher's write end (EOF), and leaves without running any Rust cleanup.
            unsafe {
                libc::close(1);
                libc::close(2);
                libc::close(w);
                let mut byte = 0u8;
                libc::read(r, (&mut byte as *mut u8).cast(), 1);
                libc::_exit(0);
            }
        }
        close(r);
    }
    if plan.nnp {
        prctl("no_new_privs", libc::PR_SET_NO_NEW_PRIVS, 1, 0);
    }
    if plan.trace == Trace::Traceme {
        // SAFETY: PTRACE_TRACEME takes no pointers.
        if unsafe { libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) } != 0 {
            fail("ptrace_traceme");
        }
    }
    let (ready, go) = handshake;
    if plan.trace == Trace::Seize {
        // Changing ids made the process non-dumpable; a tracer inside a user namespace could then not
        // seize it (the mm belongs to the initial namespace). exec resets dumpability anyway.
        prctl("dumpable", libc::PR_SET_DUMPABLE, 1, 0);
        send(ready);
        receive(go);
    }
    close(ready);
    close(go);
    if plan.hold {
        // Let a tracer with the same ids attach while held (changing ids made the process non-dumpable).
        prctl("dumpable", libc::PR_SET_DUMPABLE, 1, 0);
        // SAFETY: getpid has no arguments.
        let pid = unsafe { libc::getpid() };
        let _ = writeln!(io::stdout(), "HOLD {pid}");
        let _ = io::stdout().flush();
        let mut byte = 0u8;
        // SAFETY: reads at most one byte into a live local; EOF releases the hold too.
        unsafe { libc::read(0, (&mut byte as *mut u8).cast(), 1) };
    }
    exec(&plan.file, &plan.env)
}

fn is_reported(line: &str) -> bool {
    [
        "Uid:",
        "Gid:",
        "Groups:",
        "CapInh:",
        "CapPrm:",
        "CapEff:",
        "CapBnd:",
        "CapAmb:",
        "NoNewPrivs:",
    ]
    .iter()
    .any(|key| line.starts_with(key))
}

fn exec(file: &str, env: &[String]) -> ! {
    let Ok(path) = CString::new(file) else {
        usage("FILE has a NUL byte")
    };
    let argv = [path.as_ptr(), std::ptr::null()];
    let env: Vec<CString> = env
        .iter()
        .map(|var| CString::new(var.as_str()).unwrap_or_else(|_| usage("--env has a NUL byte")))
        .collect();
    let envp: Vec<*const libc::c_char> = env
        .iter()
        .map(|var| var.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let mut errno = 0;
    // A file just configured by another test thread may briefly be open for writing in a forked child.
    for _ in 0..50 {
        // SAFETY: path, argv and envp are NUL-terminated and live until the call.
        unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
        if errno != libc::ETXTBSY {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let _ = writeln!(io::stdout(), "EXEC_ERROR {errno}");
    exit(4)
}
