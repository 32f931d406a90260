//! The execve model: what the kernel does to a thread's ids, capability sets and securebits when it executes
//! a file, rule by rule as `fs/exec.c` and `security/commoncap.c` apply them (spec §3), for the current rules
//! (Linux 6.16+, `id_changed`) and the older ones (§6).
//!
//! `simulate` returns the new credentials or the errno, and a trace: the rules that fired in kernel order with
//! their intermediate sets, and for every capability of every set the rule that put it there or took it away.
//! Everything is pure: the caller's state, the file's state and the kernel's rules come in as values.

use std::fmt;

use serde::Serialize;

use crate::cap::Cap;
use crate::securebits::Securebits;
use crate::set::CapSet;
use crate::xattr::{Errno, FileCaps};

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

/// One line of a `uid_map` or `gid_map`: ids `inside..inside+count` of a namespace are `outside..` of its parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct IdRange {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

impl IdRange {
    fn up(self, id: u32) -> Option<u32> {
        let offset = id.checked_sub(self.inside)?;
        (offset < self.count).then(|| self.outside.wrapping_add(offset))
    }

    fn down(self, id: u32) -> Option<u32> {
        let offset = id.checked_sub(self.outside)?;
        (offset < self.count).then(|| self.inside.wrapping_add(offset))
    }
}

/// A user namespace, as its uid and gid maps to its parent describe it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct UserNs {
    pub uid_map: Vec<IdRange>,
    pub gid_map: Vec<IdRange>,
}

impl UserNs {
    /// A namespace whose uids and gids map the same way.
    pub fn mapping(ranges: &[IdRange]) -> UserNs {
        UserNs {
            uid_map: ranges.to_vec(),
            gid_map: ranges.to_vec(),
        }
    }
}

/// The caller's user namespace and its ancestors, innermost first; empty for the initial namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct NsChain(pub Vec<UserNs>);

/// Kernel ids (`kuid`, `kgid`) are ids in the initial namespace; namespace ids are the caller's view.
impl NsChain {
    pub fn is_initial(&self) -> bool {
        self.0.is_empty()
    }

    // (uid_t)-1 is never an id: no map can cover it, and the kernel reads it as "invalid".
    fn up(&self, id: u32, level: usize, pick: fn(&UserNs) -> &[IdRange]) -> Option<u32> {
        self.0[level..]
            .iter()
            .try_fold(id, |id, ns| pick(ns).iter().find_map(|range| range.up(id)))
            .filter(|&id| id != u32::MAX)
    }

    fn down(&self, id: u32, pick: fn(&UserNs) -> &[IdRange]) -> Option<u32> {
        self.0
            .iter()
            .rev()
            .try_fold(id, |id, ns| {
                pick(ns).iter().find_map(|range| range.down(id))
            })
            .filter(|&id| id != u32::MAX)
    }

    /// The kernel uid of a uid of the caller's namespace.
    pub fn kuid(&self, uid: u32) -> Option<u32> {
        self.up(uid, 0, |ns| &ns.uid_map)
    }

    /// The kernel gid of a gid of the caller's namespace.
    pub fn kgid(&self, gid: u32) -> Option<u32> {
        self.up(gid, 0, |ns| &ns.gid_map)
    }

    /// The caller's view of a kernel uid, if it is mapped.
    pub fn uid(&self, kuid: u32) -> Option<u32> {
        self.down(kuid, |ns| &ns.uid_map)
    }

    /// The caller's view of a kernel gid, if it is mapped.
    pub fn gid(&self, kgid: u32) -> Option<u32> {
        self.down(kgid, |ns| &ns.gid_map)
    }

    /// Whether a kernel uid is uid 0 of the caller's namespace or of one of its ancestors
    /// (commoncap.c:rootid_owns_currentns).
    pub fn is_root_of_some_level(&self, kuid: u32) -> bool {
        kuid == 0
            || (0..self.0.len()).any(|level| self.up(0, level, |ns| &ns.uid_map) == Some(kuid))
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

const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_IXGRP: u32 = 0o0010;

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

/// Which capability set an explanation is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    Permitted,
    Effective,
    Inheritable,
    Bounding,
    Ambient,
}

impl Subject {
    pub fn name(self) -> &'static str {
        match self {
            Subject::Permitted => "permitted",
            Subject::Effective => "effective",
            Subject::Inheritable => "inheritable",
            Subject::Bounding => "bounding",
            Subject::Ambient => "ambient",
        }
    }
}

/// What happened to one capability in one set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// In the set before and after.
    Kept,
    /// In the set after only.
    Gained,
    /// In the set before only.
    Lost,
    /// Offered (by the file or a rule) but not granted.
    Denied,
}

impl Change {
    pub fn name(self) -> &'static str {
        match self {
            Change::Kept => "kept",
            Change::Gained => "gained",
            Change::Lost => "lost",
            Change::Denied => "denied",
        }
    }
}

/// Why one capability is (or is not) in one resulting set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CapWhy {
    pub set: Subject,
    #[serde(serialize_with = "cap_name")]
    pub cap: Cap,
    pub change: Change,
    pub why: String,
}

/// A capability by its libcap name (kept local so that `Cap` itself stays free of a serde form).
fn cap_name<S: serde::Serializer>(cap: &Cap, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(cap)
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

/// How the file's capabilities came out of C1 (get_file_caps).
enum FileCapsUse {
    /// Not read, or read and treated as absent; the reason says why.
    None(String),
    Honoured(FileCaps),
}

/// What the root rule (C3) did.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RootRule {
    Disabled,
    NotRoot,
    /// Set-uid-root (or ruid ≠ root, euid = root) with file capabilities: file caps used as they are.
    SuidWithFileCaps,
    Applied {
        euid_root: bool,
    },
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

/// open_exec's permission check (namei.c:generic_permission for MAY_EXEC on a regular file): the owner's,
/// the group's or the others' execute bit, chosen by the caller's fsuid, fsgid and groups as its own
/// namespace sees the file's owner and group; or CAP_DAC_OVERRIDE, which grants it when any execute bit is
/// set and both the owner and the group are mapped in the caller's namespace (capable_wrt_inode_uidgid).
/// POSIX ACLs and noexec mounts are not modelled.
fn may_exec(caller: &Caller, file: &FileState) -> Result<(), String> {
    let creds = &caller.creds;
    let owner = caller.userns.uid(file.owner);
    let group = caller.userns.gid(file.group);
    let (bits, class) = if owner == Some(creds.uid.fs) {
        (file.mode >> 6, "its owner's")
    } else if group.is_some_and(|g| g == creds.gid.fs || creds.groups.contains(&g)) {
        (file.mode >> 3, "its group's")
    } else {
        (file.mode, "others'")
    };
    if bits & 1 != 0 {
        return Ok(());
    }
    let any_x = file.mode & 0o111 != 0;
    let mapped = owner.is_some() && group.is_some();
    if any_x && mapped && creds.effective.contains(Cap::DAC_OVERRIDE) {
        return Ok(());
    }
    let override_why = if !creds.effective.contains(Cap::DAC_OVERRIDE) {
        "cap_dac_override is not effective"
    } else if !any_x {
        "no execute bit is set, which cap_dac_override needs"
    } else {
        "the file's owner or group is not mapped in the caller's user namespace, so cap_dac_override does \
         not count"
    };
    Err(format!(
        "mode {:04o}: {class} execute bit is clear for fsuid {} fsgid {}, and {override_why}",
        file.mode & 0o7777,
        creds.uid.fs,
        creds.gid.fs
    ))
}

fn step(rule: &'static str, text: String) -> Step {
    Step { rule, text }
}

impl Facts {
    fn steps_until_file_caps(&self) -> Vec<Step> {
        let unsafe_text = self.unsafe_text();
        let mut steps = vec![
            step(
                "exec.c:check_unsafe_exec",
                if unsafe_text.is_empty() {
                    "no unsafe flags (not traced, no no_new_privs, fs not shared)".to_string()
                } else {
                    format!("unsafe: {unsafe_text}")
                },
            ),
            step("exec.c:bprm_fill_uid", self.setid_text.clone()),
        ];
        steps.push(match &self.file_caps {
            Err(err) => step("commoncap.c:get_file_caps", err.why.clone()),
            Ok(FileCapsUse::None(why)) => step("commoncap.c:get_file_caps", why.clone()),
            Ok(FileCapsUse::Honoured(caps)) => step(
                "commoncap.c:bprm_caps_from_vfs_caps",
                format!(
                    "file capabilities v{} honoured: fP {}, fI {}, fE {}; P = (B & fP) | (I & fI) = {}",
                    caps.revision.number(),
                    set_text(caps.permitted),
                    set_text(caps.inheritable),
                    if caps.effective { "set" } else { "clear" },
                    set_text(self.file_permitted),
                ),
            ),
        });
        steps
    }

    fn steps_after_file_caps(&self, old: &Creds, new: &Creds) -> Vec<Step> {
        let root_text = match self.root_rule {
            RootRule::Disabled => "skipped: SECBIT_NOROOT is set".to_string(),
            RootRule::NotRoot => {
                "neither the new euid nor the ruid is root: no root rule".to_string()
            }
            RootRule::SuidWithFileCaps => {
                "set-uid root with file capabilities (ruid is not root, new euid is): file capabilities \
                 are used as they are"
                    .to_string()
            }
            RootRule::Applied { euid_root } => format!(
                "{} is root: P = B | I = {}{}",
                if euid_root { "the new euid" } else { "the ruid" },
                set_text(self.root_permitted),
                if euid_root {
                    "; effective raised (euid root)"
                } else {
                    "; effective not raised (only the ruid is root)"
                }
            ),
        };
        let mut steps = vec![
            step("commoncap.c:handle_privileged_root", root_text),
            step(
                "commoncap.c:cap_bprm_creds_from_file",
                self.privileged_text(),
            ),
        ];
        if let Some(text) = &self.downgrade_text {
            steps.push(step(
                "commoncap.c:cap_bprm_creds_from_file (unsafe)",
                text.clone(),
            ));
        }
        steps.push(step(
            "commoncap.c:cap_bprm_creds_from_file (ids)",
            self.ids_step(old, new),
        ));
        steps.push(step(
            "commoncap.c:cap_bprm_creds_from_file (ambient)",
            self.ambient_text.clone(),
        ));
        steps.push(step(
            "commoncap.c:cap_bprm_creds_from_file (sets)",
            format!(
                "P' = P | A' = {}; E' = {} = {}",
                set_text(new.permitted),
                if self.effective_flag { "P'" } else { "A'" },
                set_text(new.effective)
            ),
        ));
        if old.securebits != new.securebits {
            steps.push(step(
                "commoncap.c:cap_bprm_creds_from_file (securebits)",
                format!(
                    "SECBIT_KEEP_CAPS cleared: {} -> {}",
                    old.securebits.hex(),
                    new.securebits.hex()
                ),
            ));
        }
        steps.push(step(
            "commoncap.c:cap_bprm_creds_from_file (secureexec)",
            self.secure_text.clone(),
        ));
        steps
    }
}

/// Every intermediate value of the pipeline, computed once in kernel order.
struct Facts {
    root_rule: RootRule,
    unsafe_nnp: bool,
    unsafe_share: bool,
    unsafe_ptrace: bool,
    setid_text: String,
    /// The euid and egid after bprm_fill_uid and after the downgrade.
    euid_setid: u32,
    euid: u32,
    egid: u32,
    file_caps: Result<FileCapsUse, ExecError>,
    /// (B & fP) | (I & fI), or empty without file caps.
    file_permitted: CapSet,
    /// B | I, what the root rule grants.
    root_permitted: CapSet,
    /// P after C1/C3, before the downgrade.
    permitted_offered: CapSet,
    /// P after the downgrade, before ambient is added.
    permitted_granted: CapSet,
    effective_flag: bool,
    effective_reason: String,
    /// id_changed (current) or is_setid (legacy).
    ids_text: String,
    gained: bool,
    downgrade_text: Option<String>,
    /// Why the exec counts as unsafe, when the downgrade applied.
    downgrade_cause: Option<&'static str>,
    euid_reverted: bool,
    ambient: CapSet,
    ambient_cleared: Option<String>,
    ambient_text: String,
    permitted_final: CapSet,
    effective_final: CapSet,
    secure_exec: bool,
    secure_text: String,
}

impl Facts {
    fn gather(caller: &Caller, file: &FileState, kernel: Kernel) -> Facts {
        let old = &caller.creds;
        let valid = CapSet::first_n(kernel.known_caps);
        let may_suid = if file.nosuid {
            Err("the mount is nosuid")
        } else if file.fs_userns == FsUserNs::Foreign {
            Err("the filesystem belongs to a user namespace that is neither the caller's nor an ancestor")
        } else {
            Ok(())
        };
        let unsafe_nnp = old.no_new_privs;
        let unsafe_share = caller.fs_shared;
        let unsafe_ptrace = caller.tracing != Tracing::NotTraced;

        // §3.4 bprm_fill_uid.
        let mut euid = old.uid.effective;
        let mut egid = old.gid.effective;
        let setid_bits = file.mode & (S_ISUID | S_ISGID);
        let owner = caller.userns.uid(file.owner);
        let group = caller.userns.gid(file.group);
        let setid_text = if let Err(why) = may_suid {
            if setid_bits != 0 {
                format!("set-id bits ignored: {why}")
            } else {
                "no set-id bits".to_string()
            }
        } else if old.no_new_privs && setid_bits != 0 {
            "set-id bits ignored: no_new_privs".to_string()
        } else if setid_bits == 0 {
            "no set-id bits".to_string()
        } else if let (Some(owner), Some(group)) = (owner, group) {
            let mut parts = Vec::new();
            if file.mode & S_ISUID != 0 {
                euid = owner;
                parts.push(format!("set-uid: euid = file owner {owner}"));
            }
            if file.mode & (S_ISGID | S_IXGRP) == S_ISGID | S_IXGRP {
                egid = group;
                parts.push(format!("set-gid: egid = file group {group}"));
            } else if file.mode & S_ISGID != 0 {
                parts.push(
                    "set-gid bit without group execute (a locking marker) ignored".to_string(),
                );
            }
            parts.join("; ")
        } else {
            "set-id bits ignored: the file's owner or group has no mapping in the caller's user namespace"
                .to_string()
        };

        // §3.5 C1 get_file_caps.
        let file_caps = match (&file.xattr, may_suid) {
            (None, _) => Ok(FileCapsUse::None(
                "the file has no security.capability".to_string(),
            )),
            (Some(_), Err(why)) => Ok(FileCapsUse::None(format!(
                "file capabilities not read: {why}"
            ))),
            (Some(raw), Ok(())) => decode_for_exec(raw, caller, file.fs_userns, valid),
        };
        let (has_fcap, fcaps) = match &file_caps {
            Ok(FileCapsUse::Honoured(caps)) => (true, Some(*caps)),
            _ => (false, None),
        };
        let file_permitted = fcaps.map_or(CapSet::EMPTY, |caps| {
            (old.bounding & caps.permitted) | (old.inheritable & caps.inheritable)
        });
        let file_caps = match (file_caps, fcaps) {
            (Ok(_), Some(caps)) if caps.effective && !caps.permitted.is_subset(file_permitted) => {
                let missing = caps.permitted - file_permitted;
                Err(ExecError {
                    errno: Errno::Eperm,
                    why: format!(
                        "capability-dumb binary: the file's effective bit is set but its permitted {} \
                         cannot be granted (not in the bounding set, nor in inheritable ∩ file inheritable)",
                        set_text(missing)
                    ),
                })
            }
            (other, _) => other,
        };
        let mut permitted = file_permitted;
        let mut effective_flag = fcaps.is_some_and(|caps| caps.effective);
        let mut effective_reason = if effective_flag {
            "the file's effective bit is set".to_string()
        } else if has_fcap {
            "the file's effective bit is clear".to_string()
        } else {
            "the file has no capabilities".to_string()
        };

        // C2, C3 handle_privileged_root; "root" is uid 0 of the caller's namespace.
        let ruid_root = old.uid.real == 0;
        let euid_root = euid == 0;
        let root_permitted = old.bounding | old.inheritable;
        let root_rule = if old.securebits.is_set(0) {
            RootRule::Disabled
        } else if has_fcap && !ruid_root && euid_root {
            RootRule::SuidWithFileCaps
        } else if euid_root || ruid_root {
            permitted = root_permitted;
            if euid_root {
                effective_flag = true;
                effective_reason = "the new euid is root".to_string();
            } else if !effective_flag {
                effective_reason = format!("{effective_reason} and only the ruid is root");
            }
            RootRule::Applied { euid_root }
        } else {
            RootRule::NotRoot
        };
        let permitted_offered = permitted;
        let gained = !permitted.is_subset(old.permitted);

        // C5: which exec counts as changing ids.
        let in_group = egid == old.gid.fs || old.groups.contains(&egid);
        let (privileged_ids, ids_text) = match kernel.rules {
            KernelRules::Current => {
                let changed = euid != old.uid.effective || !in_group;
                let text = if euid != old.uid.effective {
                    format!("id_changed: euid {} -> {euid}", old.uid.effective)
                } else if !in_group {
                    format!(
                        "id_changed: egid {egid} is neither the fsgid nor a supplementary group"
                    )
                } else {
                    "ids unchanged (euid kept, egid is the fsgid or a supplementary group)"
                        .to_string()
                };
                (changed, text)
            }
            KernelRules::Legacy => {
                let setid = euid != old.uid.real || egid != old.gid.real;
                let text = if euid != old.uid.real {
                    format!(
                        "is_setid: new euid {euid} differs from the ruid {}",
                        old.uid.real
                    )
                } else if egid != old.gid.real {
                    format!(
                        "is_setid: new egid {egid} differs from the rgid {}",
                        old.gid.real
                    )
                } else {
                    "not set-id (new euid = ruid, new egid = rgid)".to_string()
                };
                (setid, text)
            }
        };

        // C6: the unsafe downgrade.
        let tracer_ok = caller.tracing != Tracing::TracerNotCapable;
        let euid_setid = euid;
        let mut euid_reverted = false;
        let mut downgrade_text = None;
        let mut downgrade_cause = None;
        if (privileged_ids || gained) && (unsafe_share || unsafe_nnp || !tracer_ok) {
            let cause = if unsafe_nnp {
                "no_new_privs"
            } else if unsafe_share {
                "the fs is shared with another process (CLONE_FS)"
            } else {
                "traced by a tracer without CAP_SYS_PTRACE"
            };
            let mut text = format!(
                "unsafe exec ({cause}) that {}: P = P & old P = {}",
                if privileged_ids {
                    "changes ids"
                } else {
                    "gains capabilities"
                },
                set_text(permitted & old.permitted)
            );
            if unsafe_nnp || !old.effective.contains(Cap::SETUID) {
                if euid != old.uid.real || egid != old.gid.real {
                    euid_reverted = true;
                }
                text.push_str(&format!(
                    "; euid = ruid {}, egid = rgid {} ({})",
                    old.uid.real,
                    old.gid.real,
                    if unsafe_nnp {
                        "no_new_privs"
                    } else {
                        "CAP_SETUID is not effective"
                    }
                ));
                euid = old.uid.real;
                egid = old.gid.real;
            } else {
                text.push_str("; ids kept (CAP_SETUID is effective)");
            }
            permitted = permitted & old.permitted;
            downgrade_text = Some(text);
            downgrade_cause = Some(cause);
        }
        let permitted_granted = permitted;

        // C8-C10.
        let clear_ambient = has_fcap || privileged_ids;
        let ambient_cleared = clear_ambient.then(|| {
            if has_fcap {
                "the file has capabilities".to_string()
            } else {
                ids_text.clone()
            }
        });
        let ambient = if clear_ambient {
            CapSet::EMPTY
        } else {
            old.ambient
        };
        let ambient_text = match &ambient_cleared {
            Some(why) => format!("A' = 0: {why}"),
            None => format!(
                "A' = A = {} (no file capabilities, ids unchanged)",
                set_text(ambient)
            ),
        };
        let permitted_final = permitted | ambient;
        let effective_final = if effective_flag {
            permitted_final
        } else {
            ambient
        };

        // C15 secureexec.
        let cap_clause = !ruid_root && (effective_flag || !permitted_final.is_subset(ambient));
        let mut reasons = Vec::new();
        if kernel.rules == KernelRules::Current && privileged_ids {
            reasons.push(ids_text.clone());
        }
        if euid != old.uid.real {
            reasons.push(format!("euid {euid} differs from ruid {}", old.uid.real));
        }
        if egid != old.gid.real {
            reasons.push(format!("egid {egid} differs from rgid {}", old.gid.real));
        }
        if kernel.rules == KernelRules::Legacy && privileged_ids {
            reasons.push(ids_text.clone());
        }
        if cap_clause {
            reasons.push(if effective_flag {
                format!("ruid is not root and effective is raised ({effective_reason})")
            } else {
                "ruid is not root and P' has capabilities beyond the ambient set".to_string()
            });
        }
        let secure_exec = !reasons.is_empty();
        let secure_text = if secure_exec {
            format!("AT_SECURE = 1: {}", reasons.join("; "))
        } else {
            "AT_SECURE = 0: no id change and no capability gain beyond ambient for a non-root ruid"
                .to_string()
        };

        Facts {
            root_rule,
            unsafe_nnp,
            unsafe_share,
            unsafe_ptrace,
            setid_text,
            euid_setid,
            euid,
            egid,
            file_caps,
            file_permitted,
            root_permitted,
            permitted_offered,
            permitted_granted,
            effective_flag,
            effective_reason,
            ids_text,
            gained,
            downgrade_text,
            downgrade_cause,
            euid_reverted,
            ambient,
            ambient_cleared,
            ambient_text,
            permitted_final,
            effective_final,
            secure_exec,
            secure_text,
        }
    }

    fn unsafe_text(&self) -> String {
        let mut parts = Vec::new();
        if self.unsafe_ptrace {
            parts.push("LSM_UNSAFE_PTRACE");
        }
        if self.unsafe_nnp {
            parts.push("LSM_UNSAFE_NO_NEW_PRIVS");
        }
        if self.unsafe_share {
            parts.push("LSM_UNSAFE_SHARE");
        }
        parts.join(", ")
    }

    fn ids_step(&self, old: &Creds, new: &Creds) -> String {
        let mut text = format!(
            "suid = fsuid = euid = {}; sgid = fsgid = egid = {}",
            new.uid.effective, new.gid.effective
        );
        if self.euid_reverted {
            text.push_str(&format!(
                " (set-id result euid {} reverted by the unsafe-exec downgrade)",
                self.euid_setid
            ));
        } else if new.uid.effective != old.uid.effective || new.gid.effective != old.gid.effective {
            text.push_str(&format!(
                " (was euid {}, egid {})",
                old.uid.effective, old.gid.effective
            ));
        }
        text
    }

    fn privileged_text(&self) -> String {
        format!(
            "{}{}",
            self.ids_text,
            if self.gained {
                "; P gains capabilities beyond the old permitted set"
            } else {
                "; P gains nothing beyond the old permitted set"
            }
        )
    }

    /// The file capabilities that were honoured, if any.
    fn honoured(&self) -> Option<&FileCaps> {
        match &self.file_caps {
            Ok(FileCapsUse::Honoured(caps)) => Some(caps),
            _ => None,
        }
    }
}

/// C1's parse (commoncap.c:get_vfs_caps_from_disk), then whether the rootid counts in the caller's namespace.
fn decode_for_exec(
    raw: &[u8],
    caller: &Caller,
    fs_userns: FsUserNs,
    valid: CapSet,
) -> Result<FileCapsUse, ExecError> {
    let caps = FileCaps::decode(raw).map_err(|err| ExecError {
        errno: err.errno(),
        why: format!("malformed security.capability: {err}"),
    })?;
    let rootid = caps.rootid.unwrap_or(0);
    let rootkuid = match fs_userns {
        FsUserNs::Initial => Some(rootid),
        FsUserNs::Caller => caller.userns.kuid(rootid),
        FsUserNs::Foreign => None,
    };
    let rootkuid = rootkuid.filter(|&kuid| kuid != u32::MAX);
    let Some(rootkuid) = rootkuid else {
        return Ok(FileCapsUse::None(format!(
            "file capabilities ignored: rootid {rootid} is not a valid uid of the filesystem's namespace"
        )));
    };
    if !caller.userns.is_root_of_some_level(rootkuid) {
        return Ok(FileCapsUse::None(format!(
            "file capabilities ignored: rootid {rootid} (kuid {rootkuid}) is not root of the caller's user \
             namespace or an ancestor"
        )));
    }
    Ok(FileCapsUse::Honoured(FileCaps {
        permitted: caps.permitted & valid,
        inheritable: caps.inheritable & valid,
        ..caps
    }))
}

/// For every capability in or out of each set, the rule that decided it.
fn explain_caps(old: &Creds, new: &Creds, facts: &Facts) -> Vec<CapWhy> {
    let mut out = Vec::new();
    let mut push = |set: Subject, cap: Cap, before: bool, after: bool, why: String| {
        let change = match (before, after) {
            (true, true) => Change::Kept,
            (false, true) => Change::Gained,
            (true, false) => Change::Lost,
            (false, false) => Change::Denied,
        };
        out.push(CapWhy {
            set,
            cap,
            change,
            why,
        });
    };
    let fcaps = facts.honoured().copied();
    let ambient_kept = "ambient kept: the file has no capabilities and the ids do not change";

    // Permitted.
    let offered_by_file = fcaps.map_or(CapSet::EMPTY, |caps| caps.permitted | caps.inheritable);
    let universe = old.permitted | new.permitted | facts.permitted_offered | offered_by_file;
    for cap in universe.iter() {
        let before = old.permitted.contains(cap);
        let after = new.permitted.contains(cap);
        let why = if facts.permitted_granted.contains(cap) {
            let mut why = permitted_source(cap, old, facts);
            if let Some(cause) = facts.downgrade_cause {
                why.push_str(&format!(
                    ", kept by the unsafe-exec downgrade ({cause}) because it was already permitted"
                ));
            }
            why
        } else if after {
            format!("ambient: P' = P | A' ({ambient_kept})")
        } else if facts.permitted_offered.contains(cap) {
            format!(
                "{}, but the unsafe-exec downgrade ({}) keeps only what was already permitted",
                permitted_source(cap, old, facts),
                facts.downgrade_cause.unwrap_or("unsafe exec")
            )
        } else {
            permitted_absence(cap, old, facts)
        };
        push(Subject::Permitted, cap, before, after, why);
    }

    // Effective.
    for cap in (old.effective | new.effective).iter() {
        let before = old.effective.contains(cap);
        let after = new.effective.contains(cap);
        let why = if after && facts.effective_flag {
            format!("E' = P' because {}", facts.effective_reason)
        } else if after {
            format!(
                "ambient: E' = A' ({}, and the new euid is not root)",
                facts.effective_reason
            )
        } else if !new.permitted.contains(cap) {
            "no longer permitted".to_string()
        } else {
            format!(
                "permitted but not ambient, and E' = A' ({}, and the new euid is not root)",
                facts.effective_reason
            )
        };
        push(Subject::Effective, cap, before, after, why);
    }

    // Ambient.
    for cap in (old.ambient | new.ambient).iter() {
        let before = old.ambient.contains(cap);
        let after = new.ambient.contains(cap);
        let why = match &facts.ambient_cleared {
            Some(reason) => format!("ambient cleared: {reason}"),
            None => ambient_kept.to_string(),
        };
        push(Subject::Ambient, cap, before, after, why);
    }

    // Inheritable and bounding never change at exec.
    for cap in old.inheritable.iter() {
        push(
            Subject::Inheritable,
            cap,
            true,
            true,
            "exec never changes the inheritable set".to_string(),
        );
    }
    for cap in old.bounding.iter() {
        push(
            Subject::Bounding,
            cap,
            true,
            true,
            "exec never changes the bounding set".to_string(),
        );
    }
    out
}

/// Where a capability of the pre-ambient permitted set came from.
fn permitted_source(cap: Cap, old: &Creds, facts: &Facts) -> String {
    match facts.root_rule {
        RootRule::Applied { euid_root } => {
            let who = if euid_root {
                "the new euid"
            } else {
                "the ruid"
            };
            if old.bounding.contains(cap) {
                format!("bounding set: root rule P = B | I because {who} is root")
            } else {
                format!("inheritable set: root rule P = B | I because {who} is root")
            }
        }
        _ => match facts.honoured() {
            Some(caps) if caps.permitted.contains(cap) && old.bounding.contains(cap) => {
                "file permitted ∩ bounding".to_string()
            }
            _ => "file inheritable ∩ inheritable".to_string(),
        },
    }
}

/// Why a capability that was permitted, or offered by the file, is not permitted after the exec.
fn permitted_absence(cap: Cap, old: &Creds, facts: &Facts) -> String {
    let ambient_note = if old.ambient.contains(cap) {
        match &facts.ambient_cleared {
            Some(reason) => format!("; it was ambient, but ambient is cleared: {reason}"),
            None => String::new(),
        }
    } else {
        String::new()
    };
    if let RootRule::Applied { .. } = facts.root_rule {
        return format!("not in bounding ∪ inheritable (root rule){ambient_note}");
    }
    match facts.honoured() {
        Some(caps) => {
            let mut why = Vec::new();
            if caps.permitted.contains(cap) && !old.bounding.contains(cap) {
                why.push("in file permitted but not in the bounding set".to_string());
            }
            if caps.inheritable.contains(cap) && !old.inheritable.contains(cap) {
                why.push("in file inheritable but not in the inheritable set".to_string());
            }
            if why.is_empty() {
                why.push(
                    "permitted is recomputed at exec: not in file permitted ∩ bounding nor file \
                     inheritable ∩ inheritable"
                        .to_string(),
                );
            }
            format!("{}{ambient_note}", why.join("; "))
        }
        None => {
            let root = match facts.root_rule {
                RootRule::Disabled => "SECBIT_NOROOT disables the root rule",
                _ => "neither euid nor ruid is root",
            };
            format!(
                "permitted is recomputed at exec: the file grants nothing and {root}, so only ambient \
                 capabilities stay{ambient_note}"
            )
        }
    }
}

/// Why getxattr or setxattr refuses a `security.capability` value (they are stricter than exec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XattrViewError {
    /// Not an exact v2 or v3 value with only the effective flag, or (setxattr) a rootid with no mapping.
    Einval,
    /// The value's root is neither mapped into the reader's namespace nor the root of it or an ancestor.
    Eoverflow,
}

fn strict_caps(raw: &[u8]) -> Result<FileCaps, XattrViewError> {
    let caps = FileCaps::decode(raw).map_err(|_| XattrViewError::Einval)?;
    caps.check_userspace().map_err(|_| XattrViewError::Einval)?;
    Ok(caps)
}

/// What getxattr returns to a reader in `reader`'s namespace for a value stored on a filesystem of the initial
/// namespace (commoncap.c:cap_inode_getsecurity, spec §7.3): v3 with the root translated when it maps to a
/// non-zero uid, v2 when it is the root of the reader's namespace or an ancestor, EOVERFLOW otherwise.
pub fn getxattr_view(raw: &[u8], reader: &NsChain) -> Result<Vec<u8>, XattrViewError> {
    let caps = strict_caps(raw)?;
    let root_kuid = caps.rootid.unwrap_or(0);
    match reader.uid(root_kuid) {
        Some(mapped) if mapped != 0 => Ok(FileCaps {
            revision: crate::xattr::Revision::V3,
            rootid: Some(mapped),
            ..caps
        }
        .encode()),
        _ if reader.is_root_of_some_level(root_kuid) => Ok(FileCaps {
            revision: crate::xattr::Revision::V2,
            rootid: None,
            ..caps
        }
        .encode()),
        _ => Err(XattrViewError::Eoverflow),
    }
}

/// What setxattr stores when a writer in `writer`'s namespace (holding CAP_SETFCAP over the file) writes
/// `value` on a filesystem of the initial namespace (commoncap.c:cap_convert_nscap, spec §7.3): v2 from the
/// initial namespace as given; anything else as v3 whose rootid is the kernel uid of the writer's root (or of
/// the v3 rootid given, read in the writer's namespace). A zero-length value is stored as it is by the
/// kernels that take it; some 6.18 builds refuse it with EINVAL before this point.
pub fn setxattr_stored(value: &[u8], writer: &NsChain) -> Result<Vec<u8>, XattrViewError> {
    if value.is_empty() {
        return Ok(Vec::new());
    }
    let caps = strict_caps(value)?;
    if writer.is_initial() && caps.rootid.is_none() {
        return Ok(value.to_vec());
    }
    let kuid = writer
        .kuid(caps.rootid.unwrap_or(0))
        .filter(|&kuid| kuid != u32::MAX)
        .ok_or(XattrViewError::Einval)?;
    Ok(FileCaps {
        revision: crate::xattr::Revision::V3,
        rootid: Some(kuid),
        ..caps
    }
    .encode())
}

#[cfg(test)]
mod tests {
    //! Every scenario of spec §10, verified on Linux 6.18, as a table.

    use super::*;
    use crate::text::CapState;

    const B0: u64 = 0x1ff_feff_ffff;
    const FULL: u64 = 0x1ff_ffff_ffff;
    const NR: u64 = 0x2000;
    const NA: u64 = 0x1000;
    const SU: u64 = 0x80;
    const SR: u64 = 0x100_0000;

    fn set(bits: u64) -> CapSet {
        CapSet::from_bits(bits)
    }

    /// uid and gid r/e/s/fs all `id`, bounding B0, nothing else.
    fn user(id: u32) -> Caller {
        Caller {
            creds: Creds {
                uid: Ids::all(id),
                gid: Ids::all(id),
                bounding: set(B0),
                ..Creds::default()
            },
            ..Caller::default()
        }
    }

    fn root() -> Caller {
        user(0).caps(0, B0, B0, 0)
    }

    impl Caller {
        fn caps(mut self, i: u64, p: u64, e: u64, a: u64) -> Caller {
            self.creds.inheritable = set(i);
            self.creds.permitted = set(p);
            self.creds.effective = set(e);
            self.creds.ambient = set(a);
            self
        }
        fn uids(mut self, r: u32, e: u32, s: u32) -> Caller {
            self.creds.uid = Ids {
                real: r,
                effective: e,
                saved: s,
                fs: e,
            };
            self
        }
        fn nnp(mut self) -> Caller {
            self.creds.no_new_privs = true;
            self
        }
        fn securebits(mut self, bits: u64) -> Caller {
            self.creds.securebits = Securebits::from_bits(bits).unwrap();
            self
        }
        fn in_ns(mut self, chain: NsChain) -> Caller {
            self.userns = chain;
            self.creds.bounding = set(FULL);
            self
        }
    }

    fn plain() -> FileState {
        FileState::default()
    }

    fn with_text(text: &str) -> FileState {
        let state = CapState::from_text(text, 41).unwrap();
        file_xattr(FileCaps::from_state(state, None).unwrap().encode())
    }

    fn file_xattr(raw: Vec<u8>) -> FileState {
        FileState {
            xattr: Some(raw),
            ..plain()
        }
    }

    fn words(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    fn v3(rootid: u32) -> Vec<u8> {
        words(&[0x0300_0001, NR as u32, 0, 0, 0, rootid])
    }

    fn setuid(owner: u32) -> FileState {
        FileState {
            mode: 0o104_755,
            owner,
            group: owner,
            ..plain()
        }
    }

    fn ns(inside: u32, outside: u32, count: u32) -> UserNs {
        UserNs::mapping(&[IdRange {
            inside,
            outside,
            count,
        }])
    }

    /// What a scenario expects; `None` means "unchanged from the caller" for ids and "empty" never.
    #[derive(Clone, Copy)]
    struct Expect {
        euid: Option<u32>,
        egid: Option<u32>,
        p: u64,
        e: u64,
        a: u64,
        secure: bool,
        securebits: Option<u32>,
    }

    fn ok(p: u64, e: u64, a: u64, secure: bool) -> Result<Expect, Errno> {
        Ok(Expect {
            euid: None,
            egid: None,
            p,
            e,
            a,
            secure,
            securebits: None,
        })
    }

    fn with_euid(expect: Result<Expect, Errno>, euid: u32) -> Result<Expect, Errno> {
        expect.map(|x| Expect {
            euid: Some(euid),
            ..x
        })
    }

    fn with_egid(expect: Result<Expect, Errno>, egid: u32) -> Result<Expect, Errno> {
        expect.map(|x| Expect {
            egid: Some(egid),
            ..x
        })
    }

    fn with_securebits(expect: Result<Expect, Errno>, bits: u32) -> Result<Expect, Errno> {
        expect.map(|x| Expect {
            securebits: Some(bits),
            ..x
        })
    }

    type Row = (&'static str, Caller, FileState, Result<Expect, Errno>);

    fn traced(mut caller: Caller, tracing: Tracing) -> Caller {
        caller.tracing = tracing;
        caller
    }

    fn fs_shared(mut caller: Caller) -> Caller {
        caller.fs_shared = true;
        caller
    }

    fn scenarios() -> Vec<Row> {
        let mut s21 = user(1000).caps(NR, NR, NR, NR);
        s21.creds.groups = vec![50];
        let setgid50 = FileState {
            mode: 0o102_755,
            group: 50,
            ..plain()
        };
        let mut s23 = user(1000).caps(NR, NR, NR, NR);
        s23.creds.gid.fs = 50;
        let mut s57 = user(1000).caps(NR, 0, 0, 0);
        s57.creds.bounding = set(B0 & !NR);
        let ns1 = || NsChain(vec![ns(0, 100_000, 65536)]);
        let u6_file = FileState {
            owner: 100_000,
            group: 100_000,
            ..setuid(0)
        };
        vec![
            ("S1", root(), plain(), ok(B0, B0, 0, false)),
            ("S2", user(1000), plain(), ok(0, 0, 0, false)),
            (
                "S3",
                user(1000).caps(NR, NR, NR, NR),
                plain(),
                ok(NR, NR, NR, false),
            ),
            (
                "S4",
                user(1000),
                with_text("cap_net_raw+ep"),
                ok(NR, NR, 0, true),
            ),
            (
                "S5",
                user(1000),
                with_text("cap_net_raw+p"),
                ok(NR, 0, 0, true),
            ),
            (
                "S6",
                user(1000),
                with_text("cap_net_raw=ei"),
                ok(0, 0, 0, true),
            ),
            (
                "S7",
                user(1000).caps(NR, 0, 0, 0),
                with_text("cap_net_raw=ei"),
                ok(NR, NR, 0, true),
            ),
            (
                "S8",
                user(1000),
                with_text("cap_sys_resource+ep"),
                Err(Errno::Eperm),
            ),
            (
                "S9",
                root(),
                with_text("cap_sys_resource+ep"),
                Err(Errno::Eperm),
            ),
            (
                "S10",
                user(1000),
                with_text("cap_sys_resource+p"),
                ok(0, 0, 0, false),
            ),
            (
                "S11",
                user(1000),
                setuid(0),
                with_euid(ok(B0, B0, 0, true), 0),
            ),
            (
                "S12",
                user(1000).caps(NR, NR, NR, NR),
                setuid(0),
                with_euid(ok(B0, B0, 0, true), 0),
            ),
            (
                "S13",
                user(1000),
                FileState {
                    xattr: with_text("cap_net_raw+ep").xattr,
                    ..setuid(0)
                },
                with_euid(ok(NR, NR, 0, true), 0),
            ),
            (
                "S14",
                user(1000),
                FileState {
                    xattr: Some(words(&[0x0200_0000, 0, 0, 0, 0])),
                    ..setuid(0)
                },
                with_euid(ok(0, 0, 0, true), 0),
            ),
            ("S15", user(1000).nnp(), setuid(0), ok(0, 0, 0, false)),
            (
                "S16",
                user(1000),
                FileState {
                    nosuid: true,
                    ..setuid(0)
                },
                ok(0, 0, 0, false),
            ),
            (
                "S17",
                user(1000).caps(NR, NR, NR, NR),
                FileState {
                    nosuid: true,
                    ..with_text("cap_net_admin+p")
                },
                ok(NR, NR, NR, false),
            ),
            (
                "S18",
                user(1000).caps(NR, NR, NR, NR),
                with_text("cap_net_admin+p"),
                ok(NA, 0, 0, true),
            ),
            (
                "S19",
                user(1000).caps(NR, NR, NR, NR),
                setuid(1000),
                ok(NR, NR, NR, false),
            ),
            (
                "S20",
                user(1000).caps(NR, NR, NR, NR),
                setuid(1001),
                with_euid(ok(0, 0, 0, true), 1001),
            ),
            (
                "S21",
                s21,
                setgid50.clone(),
                with_egid(ok(NR, NR, NR, true), 50),
            ),
            (
                "S22",
                user(1000).caps(NR, NR, NR, NR),
                setgid50.clone(),
                with_egid(ok(0, 0, 0, true), 50),
            ),
            (
                "S23",
                s23,
                setgid50.clone(),
                with_egid(ok(NR, NR, NR, true), 50),
            ),
            (
                "S24",
                user(1000),
                FileState {
                    mode: 0o102_745,
                    ..setgid50
                },
                ok(0, 0, 0, false),
            ),
            (
                "S25",
                user(1000).caps(0, NA, 0, 0).nnp(),
                with_text("cap_net_raw+ep"),
                ok(0, 0, 0, true),
            ),
            (
                "S26",
                user(1000).caps(0, NR, 0, 0).nnp(),
                with_text("cap_net_raw+ep"),
                ok(NR, NR, 0, true),
            ),
            (
                "S27",
                user(1000).caps(NR, NR, NR, NR).nnp(),
                with_text("cap_net_admin+p"),
                ok(0, 0, 0, false),
            ),
            (
                "S28",
                traced(user(1000), Tracing::TracerNotCapable),
                with_text("cap_net_raw+ep"),
                ok(0, 0, 0, true),
            ),
            (
                "S29",
                traced(user(1000), Tracing::TracerCapable),
                with_text("cap_net_raw+ep"),
                ok(NR, NR, 0, true),
            ),
            (
                "S30",
                traced(user(1000), Tracing::TracerNotCapable),
                setuid(0),
                ok(0, 0, 0, true),
            ),
            (
                "S31",
                traced(user(1000), Tracing::TracerCapable),
                setuid(0),
                with_euid(ok(B0, B0, 0, true), 0),
            ),
            ("S32", fs_shared(user(1000)), setuid(0), ok(0, 0, 0, true)),
            (
                "S33",
                fs_shared(user(1000).caps(0, SU, SU, 0)),
                setuid(0),
                with_euid(ok(SU, SU, 0, true), 0),
            ),
            (
                "S34",
                fs_shared(user(1000).caps(0, SU, 0, 0)),
                setuid(0),
                ok(SU, SU, 0, true),
            ),
            ("S35", root().securebits(0x1), plain(), ok(0, 0, 0, false)),
            (
                "S36",
                root().securebits(0x33),
                plain(),
                with_securebits(ok(0, 0, 0, false), 0x23),
            ),
            (
                "S37",
                root().securebits(0x1),
                with_text("cap_net_raw+ep"),
                ok(NR, NR, 0, false),
            ),
            (
                "S38",
                root().caps(NR, B0, B0, NR).securebits(0x1),
                plain(),
                ok(NR, NR, NR, false),
            ),
            (
                "S39",
                user(1000).securebits(0x1),
                setuid(0),
                with_euid(ok(0, 0, 0, true), 0),
            ),
            (
                "S40",
                user(0).uids(0, 1000, 1000).caps(0, B0, 0, 0),
                plain(),
                ok(B0, 0, 0, true),
            ),
            (
                "S41",
                user(0).uids(0, 1000, 1000).caps(0, B0, 0, 0),
                with_text("cap_net_raw+ep"),
                ok(B0, B0, 0, true),
            ),
            (
                "S42",
                user(0).uids(1000, 0, 0).caps(0, B0, B0, 0).nnp(),
                plain(),
                ok(B0, B0, 0, true),
            ),
            (
                "S43",
                user(0).uids(1000, 0, 0).caps(0, NR, NR, 0).nnp(),
                plain(),
                with_euid(ok(NR, NR, 0, true), 1000),
            ),
            (
                "S44",
                user(0).uids(1000, 0, 0).caps(NR, B0, B0, NR),
                plain(),
                ok(B0, B0, NR, true),
            ),
            (
                "S45",
                user(0).uids(0, 1000, 1000).caps(NR, B0, NR, NR),
                plain(),
                ok(B0, NR, NR, true),
            ),
            (
                "S46",
                root().caps(NR, B0, B0, NR),
                setuid(1000),
                with_euid(ok(B0, 0, 0, true), 1000),
            ),
            (
                "S47",
                user(1000),
                file_xattr(words(&[0x0200_0001, NR as u32, 0, 0x200, 0])),
                ok(NR, NR, 0, true),
            ),
            (
                "S48",
                user(1000),
                file_xattr(Vec::new()),
                Err(Errno::Einval),
            ),
            (
                "S49",
                user(1000),
                file_xattr(words(&[0x0200_0001, NR as u32, 0, 0, 0, 0, 0])),
                Err(Errno::Erange),
            ),
            (
                "S50",
                user(1000),
                file_xattr([words(&[0x0200_0001, NR as u32, 0, 0, 0]), vec![0, 0]].concat()),
                Err(Errno::Einval),
            ),
            (
                "S51",
                user(1000),
                file_xattr(words(&[0x0100_0001, NR as u32, 0])),
                ok(NR, NR, 0, true),
            ),
            (
                "S52",
                user(1000),
                file_xattr(words(&[0x0200_0003, NR as u32, 0, 0, 0])),
                ok(NR, NR, 0, true),
            ),
            (
                "S53",
                user(1000).caps(NA, NA, NA, NA),
                file_xattr(v3(u32::MAX)),
                ok(NA, NA, NA, false),
            ),
            (
                "S54",
                user(1000).caps(NR, 0, 0, 0),
                file_xattr(words(&[0x0200_0001, 0, NR as u32, 0, 0])),
                ok(NR, NR, 0, true),
            ),
            (
                "S54b",
                user(1000),
                file_xattr(words(&[0x0200_0001, 0, NR as u32, 0, 0])),
                ok(0, 0, 0, true),
            ),
            (
                "S55",
                user(1000).caps(NR, NR, NR, NR),
                file_xattr(words(&[0x0200_0000, 0, 0, 0, 0])),
                ok(0, 0, 0, false),
            ),
            (
                "S56",
                root().securebits(0xfff),
                plain(),
                with_securebits(ok(0, 0, 0, false), 0xfef),
            ),
            (
                "S57",
                s57.clone(),
                with_text("cap_net_raw=ei"),
                ok(NR, NR, 0, true),
            ),
            ("S58", s57, with_text("cap_net_raw+ep"), Err(Errno::Eperm)),
            // S59-S61: the credentials come from the final interpreter; the script's own bits do not count.
            ("S59", user(1000), plain(), ok(0, 0, 0, false)),
            (
                "S60",
                user(1000),
                with_text("cap_net_raw+ep"),
                ok(NR, NR, 0, true),
            ),
            ("S61", user(1000), plain(), ok(0, 0, 0, false)),
            (
                "U1",
                user(1000).caps(NA, NA, NA, NA),
                file_xattr(v3(100_000)),
                ok(NA, NA, NA, false),
            ),
            (
                "U2",
                user(1000).in_ns(ns1()),
                file_xattr(v3(100_000)),
                ok(NR, NR, 0, true),
            ),
            (
                "U3",
                user(1000).in_ns(NsChain(vec![ns(0, 200_000, 65536)])),
                file_xattr(v3(100_000)),
                ok(0, 0, 0, false),
            ),
            (
                "U4",
                user(1000).in_ns(ns1()),
                with_text("cap_sys_resource+ep"),
                ok(SR, SR, 0, true),
            ),
            ("U5", user(1000).in_ns(ns1()), setuid(0), ok(0, 0, 0, false)),
            (
                "U6",
                user(1000).in_ns(ns1()),
                u6_file,
                with_euid(ok(FULL, FULL, 0, true), 0),
            ),
            (
                "U7",
                user(5).in_ns(NsChain(vec![ns(0, 1000, 1000), ns(0, 100_000, 65536)])),
                file_xattr(v3(100_000)),
                ok(NR, NR, 0, true),
            ),
            (
                "U8",
                user(0).in_ns(ns1()).securebits(0x1),
                file_xattr(v3(100_000)),
                ok(NR, NR, 0, false),
            ),
        ]
    }

    fn check(
        name: &str,
        caller: &Caller,
        file: &FileState,
        rules: KernelRules,
        want: Result<Expect, Errno>,
    ) {
        let kernel = Kernel {
            rules,
            ..Kernel::default()
        };
        let sim = simulate(caller, file, kernel);
        let old = &caller.creds;
        match (sim.result, want) {
            (Err(err), Err(errno)) => assert_eq!(err.errno, errno, "{name}"),
            (Ok(after), Ok(want)) => {
                let new = &after.creds;
                let euid = want.euid.unwrap_or(old.uid.effective);
                let egid = want.egid.unwrap_or(old.gid.effective);
                let got = (
                    new.uid,
                    new.gid,
                    new.permitted.bits(),
                    new.effective.bits(),
                    new.ambient.bits(),
                    new.inheritable,
                    new.bounding,
                    after.secure_exec,
                    new.securebits.bits(),
                );
                let expected = (
                    Ids {
                        real: old.uid.real,
                        effective: euid,
                        saved: euid,
                        fs: euid,
                    },
                    Ids {
                        real: old.gid.real,
                        effective: egid,
                        saved: egid,
                        fs: egid,
                    },
                    want.p,
                    want.e,
                    want.a,
                    old.inheritable,
                    old.bounding,
                    want.secure,
                    want.securebits.unwrap_or(old.securebits.bits() & !0x10),
                );
                assert_eq!(got, expected, "{name}: {:#?}", sim.trace.steps);
                assert_eq!(new.groups, old.groups, "{name}");
                assert_eq!(new.no_new_privs, old.no_new_privs, "{name}");
            }
            (got, want) => panic!("{name}: got {got:?}, want {:?}", want.map(|_| "ok")),
        }
    }

    #[test]
    fn spec_section_10_current_rules() {
        let rows = scenarios();
        assert_eq!(rows.len(), 70);
        for (name, caller, file, want) in rows {
            check(name, &caller, &file, KernelRules::Current, want);
        }
    }

    #[test]
    fn spec_section_6_legacy_rules_differ_only_where_stated() {
        for (name, caller, file, want) in scenarios() {
            let want = match name {
                // Setgid into a supplementary group (or the fsgid) is set-id before 6.16: ambient cleared.
                "S21" | "S23" => with_egid(ok(0, 0, 0, true), 50),
                // ruid 1000, euid 0 under NNP: euid reverted on any exec.
                "S42" => with_euid(ok(B0, B0, 0, true), 1000),
                // ruid 1000, euid 0: ambient cleared on any exec.
                "S44" => ok(B0, B0, 0, true),
                // ruid 0, euid 1000 is set-id as well: ambient cleared, so E' = A' = 0.
                "S45" => ok(B0, 0, 0, true),
                _ => want,
            };
            check(name, &caller, &file, KernelRules::Legacy, want);
        }
    }

    #[test]
    fn explains_every_capability_of_every_set() {
        let sim = simulate(
            &user(1000).caps(NR, NR, NR, NR),
            &with_text("cap_net_admin+p"),
            Kernel::default(),
        );
        let caps = &sim.trace.caps;
        let find = |set: Subject, cap: Cap| {
            caps.iter()
                .find(|why| why.set == set && why.cap == cap)
                .unwrap_or_else(|| panic!("{set:?} {cap} not explained: {caps:#?}"))
        };
        let gained = find(Subject::Permitted, Cap::NET_ADMIN);
        assert_eq!(gained.change, Change::Gained);
        assert_eq!(gained.why, "file permitted ∩ bounding");
        let lost = find(Subject::Permitted, Cap::NET_RAW);
        assert_eq!(lost.change, Change::Lost);
        assert!(
            lost.why
                .contains("ambient is cleared: the file has capabilities"),
            "{}",
            lost.why
        );
        assert_eq!(find(Subject::Ambient, Cap::NET_RAW).change, Change::Lost);
        assert_eq!(find(Subject::Effective, Cap::NET_RAW).change, Change::Lost);
        assert_eq!(
            find(Subject::Inheritable, Cap::NET_RAW).change,
            Change::Kept
        );
        let after = sim.result.unwrap().creds;
        for (subject, set) in [
            (Subject::Permitted, after.permitted),
            (Subject::Effective, after.effective),
            (Subject::Ambient, after.ambient),
            (Subject::Bounding, after.bounding),
        ] {
            for cap in set.iter() {
                assert!(caps.iter().any(|why| why.set == subject && why.cap == cap));
            }
        }
    }

    /// Every capability of every resulting set, and every one lost from the caller's sets, has a reason.
    #[test]
    fn every_scenario_explains_every_capability() {
        for (name, caller, file, _) in scenarios() {
            let sim = simulate(&caller, &file, Kernel::default());
            let Ok(after) = &sim.result else { continue };
            let old = &caller.creds;
            let new = &after.creds;
            for (set, before, after) in [
                (Subject::Permitted, old.permitted, new.permitted),
                (Subject::Effective, old.effective, new.effective),
                (Subject::Ambient, old.ambient, new.ambient),
                (Subject::Inheritable, old.inheritable, new.inheritable),
                (Subject::Bounding, old.bounding, new.bounding),
            ] {
                for cap in (before | after).iter() {
                    let why = sim.trace.caps.iter().find(|w| w.set == set && w.cap == cap);
                    let why = why.unwrap_or_else(|| panic!("{name}: {set:?} {cap} unexplained"));
                    let expected = match (before.contains(cap), after.contains(cap)) {
                        (true, true) => Change::Kept,
                        (false, true) => Change::Gained,
                        (true, false) => Change::Lost,
                        (false, false) => unreachable!(),
                    };
                    assert_eq!(why.change, expected, "{name}: {set:?} {cap}");
                    assert!(!why.why.is_empty());
                }
            }
        }
    }

    #[test]
    fn explains_the_downgrade_and_bounding_denials() {
        let sim = simulate(
            &user(1000).caps(0, NA, 0, 0).nnp(),
            &with_text("cap_net_raw+ep"),
            Kernel::default(),
        );
        let denied = sim
            .trace
            .caps
            .iter()
            .find(|why| why.set == Subject::Permitted && why.cap == Cap::NET_RAW)
            .unwrap();
        assert_eq!(denied.change, Change::Denied);
        assert!(denied.why.contains("no_new_privs"), "{}", denied.why);
        let mut caller = user(1000);
        caller.creds.bounding = set(B0 & !NR);
        let sim = simulate(&caller, &with_text("cap_net_raw+p"), Kernel::default());
        let denied = sim
            .trace
            .caps
            .iter()
            .find(|why| why.cap == Cap::NET_RAW)
            .unwrap();
        assert_eq!(denied.why, "in file permitted but not in the bounding set");
        let sim = simulate(
            &user(1000),
            &with_text("cap_sys_resource+ep"),
            Kernel::default(),
        );
        let err = sim.result.unwrap_err();
        assert!(err.why.contains("cap_sys_resource"), "{}", err.why);
        assert!(sim
            .trace
            .steps
            .iter()
            .any(|s| s.rule == "commoncap.c:get_file_caps"));
    }

    #[test]
    fn namespace_chains_map_ids_both_ways() {
        let chain = NsChain(vec![ns(0, 1000, 1000), ns(0, 100_000, 65536)]);
        assert_eq!(chain.kuid(5), Some(101_005));
        assert_eq!(chain.uid(101_005), Some(5));
        assert_eq!(chain.uid(100_000), None);
        assert!(chain.is_root_of_some_level(101_000));
        assert!(chain.is_root_of_some_level(100_000));
        assert!(chain.is_root_of_some_level(0));
        assert!(!chain.is_root_of_some_level(200_000));
        assert_eq!(NsChain::default().uid(7), Some(7));
        assert_eq!(NsChain::default().uid(u32::MAX), None);
    }

    /// X1 and X2: the userspace views of a namespaced value.
    #[test]
    fn spec_x1_x2_getxattr_and_setxattr_views() {
        let stored = v3(100_000);
        let ns = |outside| NsChain(vec![ns(0, outside, 65536)]);
        assert_eq!(
            getxattr_view(&stored, &NsChain::default()),
            Ok(stored.clone())
        );
        assert_eq!(
            getxattr_view(&stored, &ns(100_000)),
            Ok(words(&[0x0200_0001, NR as u32, 0, 0, 0]))
        );
        assert_eq!(
            getxattr_view(&stored, &ns(200_000)),
            Err(XattrViewError::Eoverflow)
        );
        // A rootid of -1 is no uid at all (verified: EOVERFLOW).
        assert_eq!(
            getxattr_view(&v3(u32::MAX), &NsChain::default()),
            Err(XattrViewError::Eoverflow)
        );
        // v1, stray flags and zero bytes are refused by getxattr though exec takes the first two.
        for raw in [
            words(&[0x0100_0001, NR as u32, 0]),
            words(&[0x0200_0003, NR as u32, 0, 0, 0]),
            Vec::new(),
        ] {
            assert_eq!(
                getxattr_view(&raw, &NsChain::default()),
                Err(XattrViewError::Einval)
            );
        }
        // X2: setcap cap_net_raw+ep as the root of a namespace 0->100000 stores v3 rootid 100000, which
        // getcap -n in the initial namespace shows as [rootid=100000].
        let v2_ep = with_text("cap_net_raw+ep").xattr.unwrap();
        let written = setxattr_stored(&v2_ep, &ns(100_000)).unwrap();
        assert_eq!(written, stored);
        let caps = FileCaps::decode(&written).unwrap();
        assert_eq!(
            (caps.getcap_text(41), caps.rootid),
            ("cap_net_raw=ep".to_string(), Some(100_000))
        );
        assert_eq!(
            setxattr_stored(&v2_ep, &NsChain::default()),
            Ok(v2_ep.clone())
        );
        assert_eq!(
            setxattr_stored(&words(&[0x0100_0001, NR as u32, 0]), &NsChain::default()),
            Err(XattrViewError::Einval)
        );
    }

    #[test]
    fn impossible_ambient_is_refused_first() {
        let caller = user(1000).caps(0, NR, NR, NR);
        let sim = simulate(&caller, &file_xattr(Vec::new()), Kernel::default());
        assert_eq!(sim.result.unwrap_err().errno, Errno::Eperm);
    }

    #[test]
    fn kernel_version_picks_rules() {
        assert_eq!(KernelRules::for_version(6, 18), KernelRules::Current);
        assert_eq!(KernelRules::for_version(6, 16), KernelRules::Current);
        assert_eq!(KernelRules::for_version(6, 15), KernelRules::Legacy);
        assert_eq!(KernelRules::for_version(5, 19), KernelRules::Legacy);
    }
}
