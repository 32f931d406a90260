//! The kernel's rules as values: `Facts` runs the pipeline of `fs/exec.c` and `security/commoncap.c` once,
//! in kernel order (set-id bits, file capabilities, the root rule, the unsafe downgrade, ambient, secureexec),
//! and keeps every intermediate value with the text of the rule that produced it. `simulate` builds the new
//! credentials and the steps of the trace from it, and `explain` reads it to give each capability its reason.

use crate::cap::Cap;
use crate::set::CapSet;
use crate::xattr::{Errno, FileCaps};

use super::{
    set_text, step, Caller, Creds, ExecError, FileState, FsUserNs, Kernel, KernelRules, Step,
    Tracing,
};

const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_IXGRP: u32 = 0o0010;

/// How the file's capabilities came out of C1 (get_file_caps).
pub(super) enum FileCapsUse {
    /// Not read, or read and treated as absent; the reason says why.
    None(String),
    Honoured(FileCaps),
}

/// What the root rule (C3) did.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum RootRule {
    Disabled,
    NotRoot,
    /// Set-uid-root (or ruid ≠ root, euid = root) with file capabilities: file caps used as they are.
    SuidWithFileCaps,
    Applied {
        euid_root: bool,
    },
}

/// Every intermediate value of the pipeline, computed once in kernel order.
pub(super) struct Facts {
    pub(super) root_rule: RootRule,
    unsafe_nnp: bool,
    unsafe_share: bool,
    unsafe_ptrace: bool,
    setid_text: String,
    /// The euid and egid after bprm_fill_uid and after the downgrade.
    euid_setid: u32,
    pub(super) euid: u32,
    pub(super) egid: u32,
    pub(super) file_caps: Result<FileCapsUse, ExecError>,
    /// (B & fP) | (I & fI), or empty without file caps.
    file_permitted: CapSet,
    /// B | I, what the root rule grants.
    root_permitted: CapSet,
    /// P after C1/C3, before the downgrade.
    pub(super) permitted_offered: CapSet,
    /// P after the downgrade, before ambient is added.
    pub(super) permitted_granted: CapSet,
    pub(super) effective_flag: bool,
    pub(super) effective_reason: String,
    /// id_changed (current) or is_setid (legacy).
    ids_text: String,
    gained: bool,
    downgrade_text: Option<String>,
    /// Why the exec counts as unsafe, when the downgrade applied.
    pub(super) downgrade_cause: Option<&'static str>,
    euid_reverted: bool,
    pub(super) ambient: CapSet,
    pub(super) ambient_cleared: Option<String>,
    ambient_text: String,
    pub(super) permitted_final: CapSet,
    pub(super) effective_final: CapSet,
    pub(super) secure_exec: bool,
    secure_text: String,
}

impl Facts {
    pub(super) fn gather(caller: &Caller, file: &FileState, kernel: Kernel) -> Facts {
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
    pub(super) fn honoured(&self) -> Option<&FileCaps> {
        match &self.file_caps {
            Ok(FileCapsUse::Honoured(caps)) => Some(caps),
            _ => None,
        }
    }
}

impl Facts {
    pub(super) fn steps_until_file_caps(&self) -> Vec<Step> {
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

    pub(super) fn steps_after_file_caps(&self, old: &Creds, new: &Creds) -> Vec<Step> {
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
