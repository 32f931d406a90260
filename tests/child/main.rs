//! capkit-test-child: a process that puts itself into a chosen capability state, says `ready`, and waits to
//! be inspected. The integration tests spawn it and compare what capkit reports with what they asked for.
//!
//! Usage: `capkit-test-child [ACTION...]`. Actions run left to right, each in the thread that is current:
//!
//! | action                    | what it does                                                              |
//! |---------------------------|---------------------------------------------------------------------------|
//! | `--name BYTES`            | PR_SET_NAME; `\xNN`, `\n`, `\t`, `\e`, `\\` are unescaped, raw bytes pass  |
//! | `--keep-caps`             | PR_SET_KEEPCAPS 1                                                         |
//! | `--securebits BITS`       | PR_SET_SECUREBITS (a number, or names like `keep_caps,noroot`)             |
//! | `--uid R,E,S`             | setresuid for the current thread only (the raw syscall, not glibc's)       |
//! | `--gid R,E,S`             | setresgid for the current thread only                                     |
//! | `--effective LIST`        | capset the effective set (LIST: `cap_x,y,13`, `all` or `none`)            |
//! | `--permitted LIST`        | capset the permitted set (the effective set loses what permitted loses)   |
//! | `--inheritable LIST`      | capset the inheritable set                                                |
//! | `--drop-bound LIST`       | PR_CAPBSET_DROP each capability                                           |
//! | `--ambient LIST`          | PR_CAP_AMBIENT_RAISE each (it must be permitted and inheritable)          |
//! | `--no-new-privs`          | PR_SET_NO_NEW_PRIVS 1                                                     |
//! | `--seccomp`               | install an allow-all seccomp filter (needs no_new_privs or CAP_SYS_ADMIN) |
//! | `--userns`                | unshare(CLONE_NEWUSER) (only while single-threaded: before `--thread`)    |
//! | `--thread`                | start the second thread (a copy of the current credentials); the actions  |
//! |                           | after it run in that thread                                               |
//! | `--main`                  | the actions after it run in the main thread again                         |
//! | `--exit-after SECS`       | exit by itself after SECS seconds (default 120), so nothing leaks         |
//! | `--drain-stdin`           | read standard input to its end and discard it (at most 256 MiB)           |
//! | `--exec PROG [ARG...]`    | last: once every action is done, execve PROG with the remaining arguments |
//! |                           | instead of printing `ready` (what survives exec is then PROG's to see)     |
//! | `--exec-empty-argv PROG`  | last: like `--exec`, with an empty argv (argc 0: the kernel, since 5.18,  |
//! |                           | gives PROG one empty argument)                                            |
//!
//! When every action is done it prints one line, `ready PID` or `ready PID TID` (TID: the second thread),
//! and sleeps until it is killed or the time is up. A failed action prints `capkit-test-child: ACTION:
//! cause` on stderr and exits with status 3. Capability and uid changes are per thread (capset and the raw
//! setresuid act on the calling thread), which is what lets the two threads differ.
//!
//! Later tools extend this list (sockets for capnet, execve for capsim); keep each action one flag.

#[path = "../shared/seccomp.rs"]
mod seccomp;

use std::ffi::{CString, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use capcore::{CapSet, Securebits};
use rustix::thread::{self as rthread, CapabilitySet};

const PROG: &str = "capkit-test-child";

/// One step, with its argument parsed.
#[derive(Debug, Clone)]
enum Action {
    Name(Vec<u8>),
    KeepCaps,
    Securebits(Securebits),
    Uid([u32; 3]),
    Gid([u32; 3]),
    Effective(CapSet),
    Permitted(CapSet),
    Inheritable(CapSet),
    DropBound(CapSet),
    Ambient(CapSet),
    NoNewPrivs,
    Seccomp,
    Userns,
    DrainStdin,
}

/// What to become once the actions are done.
#[derive(Debug)]
enum Exec {
    /// `--exec PROG [ARG...]`: argv[0] is PROG.
    Program(Vec<OsString>),
    /// `--exec-empty-argv PROG`: no argv at all.
    EmptyArgv(OsString),
}

/// Where the following actions run.
#[derive(Debug)]
enum Step {
    Do(Action),
    SwitchToThread,
    SwitchToMain,
}

fn main() {
    let (steps, exit_after, exec) = match parse(std::env::args_os().skip(1).collect()) {
        Ok(parsed) => parsed,
        Err(message) => fail(&message),
    };
    let deadline = Instant::now() + exit_after;
    let mut thread: Option<Helper> = None;
    let mut in_thread = false;
    for step in steps {
        match step {
            Step::SwitchToThread => {
                if thread.is_none() {
                    thread = Some(Helper::spawn());
                }
                in_thread = true;
            }
            Step::SwitchToMain => in_thread = false,
            Step::Do(action) => {
                let result = match (&thread, in_thread) {
                    (Some(helper), true) => helper.run(action.clone()),
                    _ => apply(&action),
                };
                if let Err(cause) = result {
                    fail(&format!("{action:?}: {cause}"));
                }
            }
        }
    }
    match exec {
        Some(Exec::Program(argv)) => exec_program(&argv),
        Some(Exec::EmptyArgv(program)) => exec_with_empty_argv(program),
        None => {}
    }
    let pid = std::process::id();
    let line = match &thread {
        Some(helper) => format!("ready {pid} {}\n", helper.tid),
        None => format!("ready {pid}\n"),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(line.as_bytes());
    let _ = stdout.flush();
    drop(stdout);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::process::exit(0);
}

/// Replaces this process with `argv[0]`; returns only by failing.
fn exec_program(argv: &[OsString]) -> ! {
    use std::os::unix::process::CommandExt;
    let Some((program, args)) = argv.split_first() else {
        fail("--exec needs a program");
    };
    let err = std::process::Command::new(program).args(args).exec();
    fail(&format!("--exec {program:?}: {err}"));
}

/// Replaces this process with `program`, passing an empty argv and this environment; returns only by failing.
fn exec_with_empty_argv(program: OsString) -> ! {
    let Ok(path) = CString::new(program.clone().into_vec()) else {
        fail(&format!("--exec-empty-argv {program:?}: a NUL in the path"));
    };
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(key, value)| {
            let mut pair = key.into_vec();
            pair.push(b'=');
            pair.extend(value.into_vec());
            CString::new(pair).ok()
        })
        .collect();
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    let argv: [*const libc::c_char; 1] = [std::ptr::null()];
    // SAFETY: `path`, every string of `envp` and the arrays outlive the call, and both arrays end with a null
    // pointer. std's Command always passes argv[0], so an empty argv needs execve itself.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    let err = std::io::Error::last_os_error();
    fail(&format!("--exec-empty-argv {program:?}: {err}"));
}

fn fail(message: &str) -> ! {
    let _ = writeln!(std::io::stderr(), "{PROG}: {message}");
    std::process::exit(3);
}

/// The second thread: runs the actions it is sent, one at a time, then waits forever.
struct Helper {
    tid: i32,
    actions: mpsc::Sender<Action>,
    results: mpsc::Receiver<Result<(), String>>,
}

impl Helper {
    fn spawn() -> Helper {
        let (action_tx, action_rx) = mpsc::channel::<Action>();
        let (result_tx, result_rx) = mpsc::channel::<Result<(), String>>();
        let (tid_tx, tid_rx) = mpsc::channel::<i32>();
        std::thread::spawn(move || {
            let _ = tid_tx.send(rthread::gettid().as_raw_nonzero().get());
            // When the main thread stops sending, keep the thread (and its credentials) alive.
            for action in action_rx.iter() {
                let _ = result_tx.send(apply(&action));
            }
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        });
        let tid = tid_rx
            .recv()
            .unwrap_or_else(|_| fail("the second thread did not start"));
        Helper {
            tid,
            actions: action_tx,
            results: result_rx,
        }
    }

    fn run(&self, action: Action) -> Result<(), String> {
        self.actions
            .send(action)
            .map_err(|_| "the second thread is gone".to_string())?;
        self.results
            .recv()
            .map_err(|_| "the second thread is gone".to_string())?
    }
}

fn apply(action: &Action) -> Result<(), String> {
    let err = |e: rustix::io::Errno| e.to_string();
    match action {
        Action::Name(bytes) => {
            let name = CString::new(bytes.clone()).map_err(|e| e.to_string())?;
            rthread::set_name(&name).map_err(err)
        }
        Action::KeepCaps => rthread::set_keep_capabilities(true).map_err(err),
        Action::Securebits(bits) => rthread::set_capabilities_secure_bits(
            rthread::CapabilitiesSecureBits::from_bits_retain(bits.bits()),
        )
        .map_err(err),
        Action::Uid([r, e, s]) => rthread::set_thread_res_uid(
            rustix::process::Uid::from_raw(*r),
            rustix::process::Uid::from_raw(*e),
            rustix::process::Uid::from_raw(*s),
        )
        .map_err(err),
        Action::Gid([r, e, s]) => rthread::set_thread_res_gid(
            rustix::process::Gid::from_raw(*r),
            rustix::process::Gid::from_raw(*e),
            rustix::process::Gid::from_raw(*s),
        )
        .map_err(err),
        Action::Effective(set) => modify_sets(|sets| sets.effective = bits(*set)),
        Action::Permitted(set) => modify_sets(|sets| {
            // capset refuses an effective set wider than the permitted one: lowering permitted lowers both.
            sets.permitted = bits(*set);
            sets.effective &= bits(*set);
        }),
        Action::Inheritable(set) => modify_sets(|sets| sets.inheritable = bits(*set)),
        Action::DropBound(set) => set.iter().try_for_each(|cap| {
            rthread::remove_capability_from_bounding_set(bits(CapSet::from(cap))).map_err(err)
        }),
        Action::Ambient(set) => set.iter().try_for_each(|cap| {
            rthread::configure_capability_in_ambient_set(bits(CapSet::from(cap)), true).map_err(err)
        }),
        Action::NoNewPrivs => rthread::set_no_new_privs(true).map_err(err),
        Action::Seccomp => seccomp::install_allow_all_filter().map_err(|e| e.to_string()),
        Action::DrainStdin => drain_stdin(),
        Action::Userns => {
            // SAFETY: CLONE_NEWUSER shares no file descriptor table; it only changes this (single-threaded)
            // process's user namespace, which the kernel refuses with EINVAL if other threads exist.
            unsafe { rthread::unshare_unsafe(rthread::UnshareFlags::NEWUSER) }.map_err(err)
        }
    }
}

/// Reads standard input to its end (a core dump, when the child is a core_pattern pipe's helper), so the
/// writer is not left blocked; at most 256 MiB.
fn drain_stdin() -> Result<(), String> {
    let mut limited = std::io::Read::take(std::io::stdin().lock(), 256 << 20);
    std::io::copy(&mut limited, &mut std::io::sink())
        .map(drop)
        .map_err(|e| e.to_string())
}

fn bits(set: CapSet) -> CapabilitySet {
    CapabilitySet::from_bits_retain(set.bits())
}

/// capget, change, capset: for the calling thread only.
fn modify_sets(change: impl FnOnce(&mut rthread::CapabilitySets)) -> Result<(), String> {
    let mut sets = rthread::capabilities(None).map_err(|e| e.to_string())?;
    change(&mut sets);
    rthread::set_capabilities(None, sets).map_err(|e| e.to_string())
}

/// The steps, the time limit, and the program to exec at the end, if any.
type Parsed = (Vec<Step>, Duration, Option<Exec>);

fn parse(args: Vec<OsString>) -> Result<Parsed, String> {
    let known = capsys::kernel::known_caps_or_default();
    let mut steps = Vec::new();
    let mut exit_after = Duration::from_secs(120);
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let flag = flag
            .into_string()
            .map_err(|f| format!("not an action: {f:?}"))?;
        let mut value = || -> Result<OsString, String> {
            args.next().ok_or_else(|| format!("{flag} needs a value"))
        };
        let text = |v: OsString| -> Result<String, String> {
            v.into_string()
                .map_err(|v| format!("{flag}: not UTF-8: {v:?}"))
        };
        let caps = |v: OsString| -> Result<CapSet, String> {
            match text(v)?.as_str() {
                "all" => Ok(CapSet::first_n(known)),
                "none" => Ok(CapSet::EMPTY),
                list => CapSet::parse_list(list).map_err(|e| format!("{flag}: {e}")),
            }
        };
        let ids = |v: OsString| -> Result<[u32; 3], String> {
            let v = text(v)?;
            let numbers: Vec<u32> = v
                .split(',')
                .map(|n| n.trim().parse::<u32>())
                .collect::<Result<_, _>>()
                .map_err(|_| format!("{flag}: expected R,E,S, found {v}"))?;
            numbers
                .try_into()
                .map_err(|_| format!("{flag}: expected three ids, found {v}"))
        };
        let action = match flag.as_str() {
            "--name" => Action::Name(unescape(&value()?.into_vec())),
            "--keep-caps" => Action::KeepCaps,
            "--securebits" => Action::Securebits(
                Securebits::parse(&text(value()?)?).map_err(|e| format!("{flag}: {e}"))?,
            ),
            "--uid" => Action::Uid(ids(value()?)?),
            "--gid" => Action::Gid(ids(value()?)?),
            "--effective" => Action::Effective(caps(value()?)?),
            "--permitted" => Action::Permitted(caps(value()?)?),
            "--inheritable" => Action::Inheritable(caps(value()?)?),
            "--drop-bound" => Action::DropBound(caps(value()?)?),
            "--ambient" => Action::Ambient(caps(value()?)?),
            "--no-new-privs" => Action::NoNewPrivs,
            "--seccomp" => Action::Seccomp,
            "--userns" => Action::Userns,
            "--drain-stdin" => Action::DrainStdin,
            "--thread" => {
                steps.push(Step::SwitchToThread);
                continue;
            }
            "--main" => {
                steps.push(Step::SwitchToMain);
                continue;
            }
            "--exec" => {
                let argv: Vec<OsString> = args.by_ref().collect();
                return Ok((steps, exit_after, Some(Exec::Program(argv))));
            }
            "--exec-empty-argv" => {
                let program = value()?;
                return Ok((steps, exit_after, Some(Exec::EmptyArgv(program))));
            }
            "--exit-after" => {
                let secs = text(value()?)?;
                exit_after = Duration::from_secs(
                    secs.parse()
                        .map_err(|_| format!("--exit-after: not seconds: {secs}"))?,
                );
                continue;
            }
            other => return Err(format!("unknown action {other}")),
        };
        steps.push(Step::Do(action));
    }
    Ok((steps, exit_after, None))
}

/// `\xNN`, `\n`, `\t`, `\e` and `\\` become their bytes; everything else, invalid UTF-8 included, stays.
fn unescape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            let hex = bytes.get(i + 2..i + 4).and_then(|h| {
                std::str::from_utf8(h)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            });
            match (bytes[i + 1], hex) {
                (b'x', Some(byte)) => {
                    out.push(byte);
                    i += 4;
                    continue;
                }
                (b'n', _) => out.push(b'\n'),
                (b't', _) => out.push(b'\t'),
                (b'e', _) => out.push(0x1b),
                (b'\\', _) => out.push(b'\\'),
                _ => {
                    out.push(b'\\');
                    i += 1;
                    continue;
                }
            }
            i += 2;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}
