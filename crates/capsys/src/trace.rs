//! Who traces a live process, and whether the kernel would count that tracer as holding CAP_SYS_PTRACE
//! when the process executes a file (kernel/capability.c:ptracer_capable, called by
//! commoncap.c:cap_bprm_creds_from_file): a traced exec that would gain privileges is downgraded unless the
//! recorded tracer credentials have CAP_SYS_PTRACE in the tracee's user namespace.
//!
//! The kernel records the tracer's credentials when it attaches (PTRACE_ATTACH or PTRACE_SEIZE), or the
//! tracee's own when it calls PTRACE_TRACEME, which makes its parent the tracer; /proc shows neither, only
//! `TracerPid` and today's credentials. So this reports what can be read, and says when the answer rests
//! on an assumption: the tracer's credentials may have changed since it attached, and when the tracer is
//! the parent, the tracee may have asked to be traced itself.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use capcore::{Cap, TaskStatus};

/// What is known about a process's tracer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracer {
    /// The tracer thread's id, as capsim's pid namespace sees it.
    pub pid: u32,
    /// The tracer's process (thread group).
    pub tgid: u32,
    /// The tracer's credentials, as they are now, have CAP_SYS_PTRACE in the tracee's user namespace
    /// (effective there or in an ancestor, or as the owner of a namespace on the way).
    pub capable_now: bool,
    /// The tracer is the tracee's parent: the tracee may have called PTRACE_TRACEME.
    pub is_parent: bool,
    /// The tracee's own credentials, as they are now, hold CAP_SYS_PTRACE (what PTRACE_TRACEME records).
    pub tracee_capable: bool,
}

impl Tracer {
    /// True when the two ways the tracer may have been recorded give different answers.
    pub fn ambiguous(&self) -> bool {
        self.is_parent && self.capable_now != self.tracee_capable
    }
}

/// The `TracerPid:` line of a status file: 0 when not traced.
pub fn tracer_pid(status: &[u8]) -> Option<u32> {
    status
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"TracerPid:"))
        .and_then(|value| std::str::from_utf8(value).ok())
        .and_then(|value| value.trim().parse().ok())
}

/// A status file, bounded: the kernel's is a few kilobytes.
fn read_status(pid: u32) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let file = fs::File::open(format!("/proc/{pid}/status"))?;
    let mut bytes = Vec::new();
    file.take(1 << 16).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The tracer of `pid`, if it is traced. `pid` is a process (its main thread is the one looked at).
pub fn tracer_of(pid: u32) -> io::Result<Option<Tracer>> {
    let tracee_bytes = read_status(pid)?;
    let tracer = match tracer_pid(&tracee_bytes) {
        None | Some(0) => return Ok(None),
        Some(tracer) => tracer,
    };
    let invalid = |e: capcore::procstatus::ProcStatusError| {
        io::Error::new(io::ErrorKind::InvalidData, e.to_string())
    };
    let tracee = TaskStatus::parse(&tracee_bytes).map_err(invalid)?;
    let tracer_status = TaskStatus::parse(&read_status(tracer)?).map_err(invalid)?;
    let has_ptrace = |status: &TaskStatus| {
        status
            .caps
            .effective
            .is_some_and(|e| e.contains(Cap::SYS_PTRACE))
    };
    let capable_now = capable_in(
        tracer,
        tracer_status.uids.effective,
        has_ptrace(&tracer_status),
        pid,
    )?;
    Ok(Some(Tracer {
        pid: tracer,
        tgid: tracer_status.tgid,
        capable_now,
        is_parent: tracer_status.tgid == tracee.ppid,
        tracee_capable: has_ptrace(&tracee),
    }))
}

/// `ioctl(NS_GET_PARENT)` and `ioctl(NS_GET_OWNER_UID)` (include/uapi/linux/nsfs.h): `_IO(0xb7, 2)` and
/// `_IO(0xb7, 4)`.
const NS_GET_PARENT: libc::c_ulong = 0xb702;
const NS_GET_OWNER_UID: libc::c_ulong = 0xb704;

fn ns_id(fd: &fs::File) -> io::Result<(u64, u64)> {
    let meta = fd.metadata()?;
    Ok((meta.dev(), meta.ino()))
}

pub(crate) fn ns_parent(ns: &fs::File) -> io::Result<fs::File> {
    // SAFETY: NS_GET_PARENT takes no argument and returns a new descriptor we then own.
    let fd = unsafe { libc::ioctl(ns.as_raw_fd(), NS_GET_PARENT) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the ioctl returned a fresh descriptor that nothing else owns.
    Ok(fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

fn ns_owner(ns: &fs::File) -> io::Result<u32> {
    let mut uid: libc::uid_t = 0;
    // SAFETY: NS_GET_OWNER_UID writes one uid_t to the pointer, which points at a live local.
    if unsafe {
        libc::ioctl(
            ns.as_raw_fd(),
            NS_GET_OWNER_UID,
            &mut uid as *mut libc::uid_t,
        )
    } < 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(uid)
}

/// kernel/capability.c via security/commoncap.c:cap_capable: credentials in namespace T (euid, and whether
/// CAP_SYS_PTRACE is effective) hold the capability in the tracee's namespace N when N is T and the
/// capability is effective; or when N descends from T and either the capability is effective in T or the
/// euid owns the child of T on the way down to N. Any other namespace: no.
fn capable_in(tracer: u32, tracer_euid: u32, effective: bool, tracee: u32) -> io::Result<bool> {
    let tracer_ns = fs::File::open(format!("/proc/{tracer}/ns/user"))?;
    let target = ns_id(&tracer_ns)?;
    let mut ns = fs::File::open(format!("/proc/{tracee}/ns/user"))?;
    // User namespaces nest at most 32 deep.
    for _ in 0..40 {
        if ns_id(&ns)? == target {
            return Ok(effective);
        }
        let parent = match ns_parent(&ns) {
            Ok(parent) => parent,
            // The initial namespace (no parent), or a parent outside capsim's view: T is not above N.
            Err(_) => return Ok(false),
        };
        if ns_id(&parent)? == target && ns_owner(&ns)? == tracer_euid {
            return Ok(true);
        }
        ns = parent;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracer_pid_line() {
        assert_eq!(
            tracer_pid(b"Name:\tx\nTracerPid:\t4242\nUid:\t0\n"),
            Some(4242)
        );
        assert_eq!(tracer_pid(b"TracerPid:\t0\n"), Some(0));
        assert_eq!(tracer_pid(b"Name:\tTracerPid:\t9\n"), None);
    }

    #[test]
    fn own_process_is_not_traced_by_a_stranger() {
        // The test runner may itself run under a debugger; only check that reading works.
        assert!(tracer_of(std::process::id()).is_ok());
    }
}
