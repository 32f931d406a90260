//! What a traced program needs: the capability checks captrace saw, turned into one verdict per capability
//! (needed, denied, probe, userns), and the smallest configuration that grants the needed set, each form
//! (docker, Kubernetes, systemd, setcap) checked against the execve model before it is printed.
//!
//! Pure: the checks come in as data (capsys/capbpf gather them from the kernel), so every rule here is
//! tested alone. The shared types live here; `probe` says which no-audit checks are noise (by the kernel
//! site that made them), `verdict` turns checks into one report per capability, `recommend` writes and
//! model-checks the configurations, `files` says which program file asked.

use serde::Serialize;

use crate::cap::Cap;

mod files;
mod probe;
mod recommend;
mod verdict;

pub use files::{needs_by_file, runs_scripts, ExecFile, FileNeed};
pub use probe::is_probe;
pub use recommend::{recommend, with_files};
pub use verdict::{denied, needed, verdicts, verdicts_exact, MAX_SOURCES};

/// Where the namespace a check was made against sits, seen from the traced program's starting user
/// namespace (the base: captrace's own for a command, the target's for --pid, --cgroup, --unit, --container).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NsPlace {
    /// The base namespace itself.
    Base,
    /// A descendant of the base: a namespace the program (or one of its descendants) created. A check
    /// granted there is free inside it and is no need on the host.
    Created,
    /// Anything else: an ancestor of the base, or a namespace outside its subtree (joined with setns).
    Outside,
}

/// One aggregated row of capability checks: every check with the same key, counted.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Check {
    pub cap: Cap,
    /// cap_capable returned 0.
    pub granted: bool,
    /// Made with CAP_OPT_NOAUDIT (ns_capable_noaudit, has_capability_noaudit, the memory-accounting check).
    /// `None` when the check was counted without being classified: its capability's verdict was already
    /// `needed`, so no kernel stack was taken.
    pub noaudit: Option<bool>,
    /// Made with CAP_OPT_INSETID (ns_capable_setid: the set*id paths).
    pub insetid: bool,
    pub ns: NsPlace,
    /// The target user namespace's inode number and nesting level (0 = the initial namespace).
    pub ns_inum: u32,
    pub ns_level: u32,
    /// The thread group id and command name of the process that made the check.
    pub pid: u32,
    pub comm: Vec<u8>,
    /// The first kernel function on the stack above the capability plumbing (`inet_bind`, `chown_common`,
    /// `security_vm_enough_memory_mm`, `seccomp_prepare_filter`…); `None` when no stack was taken.
    pub caller: Option<String>,
    pub count: u64,
    /// Nanoseconds from the start of the trace (COMMAND's exec, or the attach for a running target) to
    /// the first check with this key.
    pub first_seen_ns: u64,
    /// Made by a file lookup of an execve that failed, in a process that then exec'd another file (execvp
    /// walking PATH through a directory it may not search): granted or refused, it decided nothing.
    pub recovered: bool,
}

/// One capability's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Granted at least once on a check that matters to the program, against a namespace it did not create.
    Needed,
    /// Asked for and refused on a check that matters, never granted: shown, never recommended by itself.
    Denied,
    /// Only checks against user namespaces the program created: free there, no need on the host.
    Userns,
    /// Only no-audit probes that change nothing the program asked for (the memory-accounting check), or
    /// lookups of an execve that failed while the process went on to exec another file.
    Probe,
}

/// Where one capability's checks came from: one row per (kernel function, process).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The kernel function that asked; `None` when the checks were counted after the verdict was settled.
    pub caller: Option<String>,
    pub pid: u32,
    /// Raw bytes of the command name; escaped where printed.
    pub comm: Vec<u8>,
    pub granted: u64,
    pub denied: u64,
    pub noaudit: bool,
}

/// Everything known about one capability the program checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapReport {
    pub cap: Cap,
    pub verdict: Verdict,
    pub granted: u64,
    pub denied: u64,
    /// Nanoseconds from the start of the trace.
    pub first_seen_ns: u64,
    /// Namespaces (inode numbers) the checks were made against.
    pub namespaces: Vec<u32>,
    pub sources: Vec<Source>,
    /// What `sources` does not list, so that the two add up to `granted` and `denied`.
    pub folded: Folded,
}

/// The checks of one capability that its `sources` do not list: the rows past [`MAX_SOURCES`], and the
/// checks counted in the kernel's totals whose row no map could hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Folded {
    /// Source rows not listed (`source_rows` in JSON: `sources` is the list itself).
    #[serde(rename = "source_rows")]
    pub sources: u64,
    /// Distinct processes among them (pid 0, checks counted without their process, not included).
    pub pids: u64,
    #[serde(rename = "granted_checks")]
    pub granted: u64,
    #[serde(rename = "denied_checks")]
    pub denied: u64,
    /// Of those, checks that are in no row at all (the kernel maps were full): counted, never attributed.
    pub lost_rows: u64,
}

/// Every check of one capability by outcome, from the kernel's fixed array: exact, whatever the hash maps
/// had room for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapTotals {
    pub cap: Cap,
    /// Against the base namespace or one outside it.
    pub granted: u64,
    pub denied: u64,
    /// Against a namespace the program created.
    pub granted_created: u64,
    pub denied_created: u64,
}

/// The user COMMAND ran as, when it was not root (`--user`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunUser {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// The name it was given by, for the configurations printed (`User=www-data`).
    pub name: Option<String>,
}

/// What the trace learnt about the run, besides the checks: the input of the recommendations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFacts {
    /// `None`: COMMAND ran as root.
    pub user: Option<RunUser>,
    /// COMMAND's file as the exec read it (mode, owner, security.capability, mount).
    pub file: crate::exec::FileState,
    /// COMMAND's path, as printed in the setcap line.
    pub program: String,
    /// Some exec in the traced tree gained privilege (set-id or file capabilities: bprm->secureexec), so
    /// NoNewPrivileges= / allowPrivilegeEscalation: false would break it.
    pub exec_gained_privilege: bool,
    /// How many capabilities the running kernel knows.
    pub known: u32,
}

/// One form of the recommendation, and the execve model's word on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Advice {
    /// What to write: `docker run` flags, unit lines, a command.
    pub config: String,
    /// The model says this configuration gives the program's file every needed capability after exec.
    pub works: bool,
    /// Why it does not, when it does not.
    pub why: Option<String>,
    /// A configuration that does work, itself checked by the model, when this one does not.
    pub instead: Option<String>,
}

/// A Kubernetes container `securityContext`, as the recommendation writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_as_group: Option<u32>,
    pub allow_privilege_escalation: bool,
    pub capabilities: KubeCapabilities,
}

/// `securityContext.capabilities`: names as Kubernetes spells them (`NET_BIND_SERVICE`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KubeCapabilities {
    pub drop: Vec<String>,
    pub add: Vec<String>,
}

/// Every form of the recommendation for one needed set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recommendations {
    pub needed: crate::set::CapSet,
    /// `--cap-drop=ALL --cap-add=NET_BIND_SERVICE` (and `--user`, `--security-opt no-new-privileges`).
    pub docker: Advice,
    /// `config` holds the YAML of `kubernetes_context`.
    pub kubernetes: Advice,
    pub kubernetes_context: KubeContext,
    /// `CapabilityBoundingSet=`, `AmbientCapabilities=`, `NoNewPrivileges=` lines.
    pub systemd: Advice,
    /// `setcap cap_net_bind_service=ep /path`, when file capabilities are the way to grant the set.
    pub setcap: Option<Advice>,
}
