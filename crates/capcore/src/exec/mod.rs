//! The execve model: what the kernel does to a thread's ids, capability sets and securebits when it executes
//! a file, rule by rule as `fs/exec.c` and `security/commoncap.c` apply them (spec §3), for the current rules
//! (Linux 6.16+, `id_changed`) and the older ones (§6).
//!
//! `simulate` returns the new credentials or the errno, and a trace: the rules that fired in kernel order with
//! their intermediate sets, and for every capability of every set the rule that put it there or took it away.
//! Everything is pure: the caller's state, the file's state and the kernel's rules come in as values.
//!
//! This file holds the vocabulary (the caller's and the file's state, the answer and its trace) and
//! `simulate`, which strings the pieces together: `permission` (may the file be executed at all), `model`
//! (every rule's intermediate value), `explain` (why each capability ended where it did), `userns` (id maps
//! between namespaces) and `xattr_view` (what getxattr and setxattr make of a namespaced value).

mod explain;
mod model;
mod permission;
mod userns;
mod xattr_view;

#[cfg(test)]
mod tests;

use std::fmt;

use serde::Serialize;

use crate::securebits::Securebits;
use crate::set::CapSet;
use crate::xattr::Errno;

pub use explain::{CapWhy, Change, Subject};
pub use userns::{IdRange, NsChain, UserNs};
pub use xattr_view::{getxattr_view, setxattr_stored, XattrViewError};

use explain::explain_caps;
use model::Facts;
use permission::may_exec;

/// Which version of the kernel's exec rules to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelRules {
    /// Linux 6.16 and later: an exec is privileged when the euid changes or the egid is not one of the
    /// caller's groups (`id_changed`).
    Current,
    /// Before 6.16: an exec is privileged whenever the new euid differs from the real uid or the new egid
    /// from the real gid (`is_setid`).
    Legacy,
}

impl KernelRules {
    /// The rules a kernel of this version applies.
    pub fn for_version(major: u32, minor: u32) -> KernelRules {
        if (major, minor) >= (6, 16) {
            KernelRules::Current
        } else {
            KernelRules::Legacy
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            KernelRules::Current => "current",
            KernelRules::Legacy => "legacy",
        }
    }
}

/// The kernel the exec runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernel {
    pub rules: KernelRules,
    /// How many capabilities it knows (`cap_last_cap` + 1): file masks are cut to these bits.
    pub known_caps: u32,
}

impl Default for Kernel {
    /// Linux 6.18: current rules, 41 capabilities.
    fn default() -> Kernel {
        Kernel {
            rules: KernelRules::Current,
            known_caps: crate::cap::NAMED_CAPS,
        }
    }
}

/// Real, effective, saved and filesystem ids: the same type as a status file's `Uid:` and `Gid:` lines.
pub use crate::procstatus::Ids;

impl Ids {
    /// All four the same.
    pub const fn all(id: u32) -> Ids {
        Ids {
            real: id,
            effective: id,
            saved: id,
            fs: id,
        }
    }
}

/// A thread's credentials: everything an exec reads or writes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Creds {
    /// As the caller's user namespace sees them.
    pub uid: Ids,
    pub gid: Ids,
    pub groups: Vec<u32>,
    pub inheritable: CapSet,
    pub permitted: CapSet,
    pub effective: CapSet,
    pub bounding: CapSet,
    pub ambient: CapSet,
    pub securebits: Securebits,
    pub no_new_privs: bool,
}

/// The JSON form of a state: flat, with the kernel's names.
impl Serialize for Creds {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("State", 17)?;
        s.serialize_field("ruid", &self.uid.real)?;
        s.serialize_field("euid", &self.uid.effective)?;
        s.serialize_field("suid", &self.uid.saved)?;
        s.serialize_field("fsuid", &self.uid.fs)?;
        s.serialize_field("rgid", &self.gid.real)?;
        s.serialize_field("egid", &self.gid.effective)?;
        s.serialize_field("sgid", &self.gid.saved)?;
        s.serialize_field("fsgid", &self.gid.fs)?;
        s.serialize_field("groups", &self.groups)?;
        s.serialize_field("inheritable", &self.inheritable)?;
        s.serialize_field("permitted", &self.permitted)?;
        s.serialize_field("effective", &self.effective)?;
        s.serialize_field("bounding", &self.bounding)?;
        s.serialize_field("ambient", &self.ambient)?;
        s.serialize_field("securebits", &self.securebits)?;
        s.serialize_field("no_new_privs", &self.no_new_privs)?;
        s.end()
    }
}

/// Who traces the caller, if anyone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tracing {
    #[default]
    NotTraced,
    /// The recorded tracer cred holds CAP_SYS_PTRACE in the caller's namespace (PTRACE_ATTACH/SEIZE by a
    /// privileged tracer; or PTRACE_TRACEME by a caller that itself had CAP_SYS_PTRACE effective).
    TracerCapable,
    /// The tracer lacks CAP_SYS_PTRACE: an exec that would gain privilege is downgraded.
    TracerNotCapable,
}

/// The thread that calls execve.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    pub creds: Creds,
    pub tracing: Tracing,
    /// Another process shares the fs_struct (created with CLONE_FS): LSM_UNSAFE_SHARE.
    pub fs_shared: bool,
    pub userns: NsChain,
}

/// The user namespace of the filesystem the file lives on (its superblock's `s_user_ns`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FsUserNs {
    /// The initial namespace: every ordinary disk.
    #[default]
    Initial,
    /// The caller's own namespace (a filesystem mounted inside it).
    Caller,
    /// Neither the caller's namespace nor an ancestor: set-id bits and file capabilities are ignored.
    Foreign,
}

/// The file whose credentials the exec uses (for a `#!` script: the final interpreter).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileState {
    /// st_mode, of which S_ISUID, S_ISGID and S_IXGRP matter.
    pub mode: u32,
    /// Kernel uid and gid of the owner (as the initial namespace sees them).
    pub owner: u32,
    pub group: u32,
    /// The raw `security.capability` bytes, or `None` when the file has none.
    pub xattr: Option<Vec<u8>>,
    /// Mounted nosuid (or otherwise not allowed to raise privileges: `mnt_may_suid` is false).
    pub nosuid: bool,
    pub fs_userns: FsUserNs,
}

impl Default for FileState {
    /// 0755 root:root, no xattr, on an ordinary mount.
    fn default() -> FileState {
        FileState {
            mode: 0o100_755,
            owner: 0,
            group: 0,
            xattr: None,
            nosuid: false,
            fs_userns: FsUserNs::Initial,
        }
    }
}

/// Why an exec fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecError {
    pub errno: Errno,
    pub why: String,
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.errno, self.why)
    }
}

/// The credentials after a successful exec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct After {
    pub creds: Creds,
    /// `bprm->secureexec`, passed to the program as AT_SECURE.
    pub secure_exec: bool,
}

/// One rule that fired, in kernel order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The kernel function, e.g. `commoncap.c:handle_privileged_root`.
    pub rule: &'static str,
    pub text: String,
}

/// The rules that fired and the reason for every capability.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    pub steps: Vec<Step>,
    pub caps: Vec<CapWhy>,
}

/// The model's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Simulation {
    pub result: Result<After, ExecError>,
    pub trace: Trace,
}

fn set_text(set: CapSet) -> String {
    if set.is_empty() {
        format!("{} (none)", set.hex())
    } else {
        format!("{} ({set})", set.hex())
    }
}

/// Runs an exec of `file` by `caller` under `kernel`'s rules.
pub fn simulate(caller: &Caller, file: &FileState, kernel: Kernel) -> Simulation {
    if let Err(why) = may_exec(caller, file) {
        return Simulation {
            result: Err(ExecError {
                errno: Errno::Eacces,
                why: why.clone(),
            }),
            trace: Trace {
                steps: vec![step("namei.c:generic_permission", why)],
                caps: Vec::new(),
            },
        };
    }
    let old = &caller.creds;
    let facts = Facts::gather(caller, file, kernel);
    let mut steps = facts.steps_until_file_caps();
    if !old.ambient.is_subset(old.permitted & old.inheritable) {
        // C0: the kernel's invariant check comes before it reads the file's capabilities.
        let why = format!(
            "the caller's ambient set has {} outside permitted ∩ inheritable, a state no thread can reach \
             (cap_bprm_creds_from_file refuses it)",
            set_text(old.ambient - (old.permitted & old.inheritable))
        );
        steps.truncate(2);
        steps.push(step("commoncap.c:cap_bprm_creds_from_file", why.clone()));
        return Simulation {
            result: Err(ExecError {
                errno: Errno::Eperm,
                why,
            }),
            trace: Trace {
                steps,
                caps: Vec::new(),
            },
        };
    }
    if let Err(err) = &facts.file_caps {
        return Simulation {
            result: Err(err.clone()),
            trace: Trace {
                steps,
                caps: Vec::new(),
            },
        };
    }
    let mut new = old.clone();
    new.uid.effective = facts.euid;
    new.uid.saved = facts.euid;
    new.uid.fs = facts.euid;
    new.gid.effective = facts.egid;
    new.gid.saved = facts.egid;
    new.gid.fs = facts.egid;
    new.ambient = facts.ambient;
    new.permitted = facts.permitted_final;
    new.effective = facts.effective_final;
    new.securebits = old.securebits.after_exec();
    steps.extend(facts.steps_after_file_caps(old, &new));
    let caps = explain_caps(old, &new, &facts);
    Simulation {
        result: Ok(After {
            creds: new,
            secure_exec: facts.secure_exec,
        }),
        trace: Trace { steps, caps },
    }
}

fn step(rule: &'static str, text: String) -> Step {
    Step { rule, text }
}
