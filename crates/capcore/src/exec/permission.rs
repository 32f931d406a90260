//! The permission check that comes before any capability rule: whether the caller may execute the file at
//! all. It fails with EACCES before the kernel reads a single capability, so it lives apart from the model.

use crate::cap::Cap;

use super::{Caller, FileState};

/// open_exec's permission check (namei.c:generic_permission for MAY_EXEC on a regular file): the owner's,
/// the group's or the others' execute bit, chosen by the caller's fsuid, fsgid and groups as its own
/// namespace sees the file's owner and group; or CAP_DAC_OVERRIDE, which grants it when any execute bit is
/// set and both the owner and the group are mapped in the caller's namespace (capable_wrt_inode_uidgid).
/// POSIX ACLs and noexec mounts are not modelled.
pub(super) fn may_exec(caller: &Caller, file: &FileState) -> Result<(), String> {
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
