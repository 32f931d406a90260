//! Starting COMMAND the way captrace needs it: in its cgroup leaf from its first instruction, as the user
//! asked for with every wanted capability in its ambient set (as systemd's AmbientCapabilities= gives it),
//! or under exactly the recommended set for `--verify`.
//!
//! The child does the work itself between fork and exec, so nothing else is ever moved into the leaf and
//! every descendant starts there. Those steps make capability checks of their own (setresuid checks
//! cap_setuid, dropping from the bounding set checks cap_setpcap): the tracer counts from COMMAND's exec.
//! The PATH search happens before the fork, so no check the search makes is in the leaf either, and a step
//! that fails in the child reaches the parent by name (`setresuid 65534: Operation not permitted`).

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use capcore::needs::RunUser;
use capcore::{Cap, CapSet};
use rustix::process::{Gid, Uid};
use rustix::thread::{CapabilitySet, CapabilitySets};

/// How to start COMMAND.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The program file, already resolved (`resolve_program`): no PATH search happens after the fork.
    pub program: PathBuf,
    /// argv, argv[0] included.
    pub args: Vec<OsString>,
    /// `None`: run as captrace's own user (root).
    pub user: Option<RunUser>,
    /// `None`: every capability captrace holds. `Some(s)` (`--verify`): bounding, inheritable, permitted
    /// and effective sets are `s`, and for a non-root user the ambient set too.
    pub caps: Option<CapSet>,
    /// The leaf's `cgroup.procs`, which the child writes `0` to before anything else.
    pub cgroup_procs: PathBuf,
}

/// One step the child takes before its exec, for the message when it fails. Sent to the parent as two
/// 32-bit words: the step (`kind << 8 | capability`) and the errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    JoinCgroup,
    DropBounding(u32),
    SetGroups,
    SetResGid,
    KeepCaps,
    SetResUid,
    Capset,
    RaiseAmbient(u32),
}

impl Step {
    fn encode(self) -> u32 {
        match self {
            Step::JoinCgroup => 1 << 8,
            Step::DropBounding(cap) => 2 << 8 | cap,
            Step::SetGroups => 3 << 8,
            Step::SetResGid => 4 << 8,
            Step::KeepCaps => 5 << 8,
            Step::SetResUid => 6 << 8,
            Step::Capset => 7 << 8,
            Step::RaiseAmbient(cap) => 8 << 8 | cap,
        }
    }

    fn decode(word: u32) -> Option<Step> {
        let cap = word & 0xff;
        Some(match word >> 8 {
            1 => Step::JoinCgroup,
            2 => Step::DropBounding(cap),
            3 => Step::SetGroups,
            4 => Step::SetResGid,
            5 => Step::KeepCaps,
            6 => Step::SetResUid,
            7 => Step::Capset,
            8 => Step::RaiseAmbient(cap),
            _ => return None,
        })
    }

    /// What the step was, for `captrace: STEP: cause`.
    fn describe(self, launch: &Launch, wanted: CapSet) -> String {
        let cap_name = |bit: u32| Cap::new(bit).map_or_else(|| bit.to_string(), |c| c.to_string());
        let user = launch.user.as_ref();
        match self {
            Step::JoinCgroup => format!("{}: write 0", launch.cgroup_procs.display()),
            Step::DropBounding(cap) => format!("dropping {} from the bounding set", cap_name(cap)),
            Step::SetGroups => format!(
                "setgroups {}",
                user.map(|u| join(&u.groups)).unwrap_or_default()
            ),
            Step::SetResGid => format!("setresgid {}", user.map_or(0, |u| u.gid)),
            Step::KeepCaps => "prctl PR_SET_KEEPCAPS".to_string(),
            Step::SetResUid => format!("setresuid {}", user.map_or(0, |u| u.uid)),
            Step::Capset => format!("capset {}", wanted_text(wanted)),
            Step::RaiseAmbient(cap) => format!("raising {} in the ambient set", cap_name(cap)),
        }
    }
}

fn join(ids: &[u32]) -> String {
    let parts: Vec<String> = ids.iter().map(u32::to_string).collect();
    parts.join(",")
}

fn wanted_text(set: CapSet) -> String {
    if set.is_empty() {
        "(none)".to_string()
    } else {
        set.names().join(",")
    }
}

/// Everything the child needs, computed before the fork: after it the child may not allocate.
struct Plan {
    procs: OwnedFd,
    /// Capabilities to drop from the bounding set (`caps` given).
    drop_bounding: Vec<u32>,
    user: Option<(Uid, Gid, Vec<Gid>)>,
    /// The set for capset (`None`: leave the sets alone, root keeping everything).
    capset: Option<CapabilitySets>,
    ambient: Vec<u32>,
    report: UnixStream,
}

/// Starts COMMAND: fork, then in the child join the leaf, set the bounding set, the user and the
/// capability sets, and exec `program` (stdin, stdout and stderr inherited). A step that fails in the
/// child is an error here naming it.
pub fn spawn(launch: &Launch) -> io::Result<Child> {
    let known = crate::kernel::known_caps_or_default();
    let (_, permitted, _) = crate::proc::own_capabilities()?;
    let wanted = launch.caps.unwrap_or(permitted);
    let procs = fs::OpenOptions::new()
        .write(true)
        .open(&launch.cgroup_procs)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", launch.cgroup_procs.display())))?;
    let (report, mut receive) = UnixStream::pair()?;
    let bits = CapabilitySet::from_bits_retain(wanted.bits());
    let mut plan = Plan {
        procs: procs.into(),
        drop_bounding: match launch.caps {
            Some(set) => (0..known)
                .filter(|bit| set.bits() & (1u64 << bit) == 0)
                .collect(),
            None => Vec::new(),
        },
        user: launch.user.as_ref().map(|u| {
            let groups = u.groups.iter().map(|g| Gid::from_raw(*g)).collect();
            (Uid::from_raw(u.uid), Gid::from_raw(u.gid), groups)
        }),
        capset: (launch.user.is_some() || launch.caps.is_some()).then_some(CapabilitySets {
            effective: bits,
            permitted: bits,
            inheritable: bits,
        }),
        ambient: match &launch.user {
            Some(_) => wanted.iter().map(Cap::bit).collect(),
            None => Vec::new(),
        },
        report,
    };
    let mut program = launch.program.clone();
    if !program.as_os_str().as_bytes().contains(&b'/') {
        // std's spawn searches PATH for a bare name; the program was resolved already.
        program = Path::new(".").join(program);
    }
    let mut command = Command::new(&program);
    if let Some((argv0, rest)) = launch.args.split_first() {
        command.arg0(argv0).args(rest);
    }
    if let Some(user) = &launch.user {
        for (key, value) in user_environment(user) {
            command.env(key, value);
        }
    }
    // SAFETY: the closure runs in the forked child before exec; it only makes system calls (write, prctl,
    // setgroups, setresgid, setresuid, capset) with data prepared above, and allocates nothing.
    unsafe {
        command.pre_exec(move || plan.run().map_err(io::Error::from));
    }
    let spawned = command.spawn();
    // The closure holds the parent's copy of the report socket: drop it so the read below ends.
    drop(command);
    match spawned {
        Ok(child) => Ok(child),
        Err(exec_error) => {
            let mut words = [0u8; 8];
            let failed_step = receive.read_exact(&mut words).ok().and_then(|()| {
                let step = u32::from_le_bytes([words[0], words[1], words[2], words[3]]);
                let errno = i32::from_le_bytes([words[4], words[5], words[6], words[7]]);
                Some((Step::decode(step)?, errno))
            });
            Err(match failed_step {
                Some((step, errno)) => {
                    let cause = io::Error::from_raw_os_error(errno);
                    io::Error::new(
                        cause.kind(),
                        format!("{}: {cause}", step.describe(launch, wanted)),
                    )
                }
                None => io::Error::new(
                    exec_error.kind(),
                    format!("{}: {exec_error}", launch.program.display()),
                ),
            })
        }
    }
}

/// `HOME`, `USER`, `LOGNAME` and `SHELL` for a user, from /etc/passwd, as systemd's User= sets them: a
/// program run as that user under root's HOME would reach into /root, and with every capability in its
/// ambient set it would succeed there, making cap_dac_read_search look needed. A uid /etc/passwd does not
/// name gets `HOME=/` and no names.
fn user_environment(user: &RunUser) -> Vec<(&'static str, String)> {
    let passwd = fs::File::open("/etc/passwd").and_then(|file| {
        let mut text = String::new();
        file.take(16 << 20).read_to_string(&mut text)?;
        Ok(text)
    });
    let entry = passwd.ok().and_then(|text| passwd_entry(&text, user.uid));
    match entry {
        Some((name, home, shell)) => vec![
            ("HOME", home),
            ("USER", name.clone()),
            ("LOGNAME", name),
            ("SHELL", shell),
        ],
        None => vec![("HOME", "/".to_string())],
    }
}

/// The name, home and shell of the first /etc/passwd line for `uid`.
fn passwd_entry(text: &str, uid: u32) -> Option<(String, String, String)> {
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 7 || fields[2].parse() != Ok(uid) {
            return None;
        }
        let home = if fields[5].is_empty() { "/" } else { fields[5] };
        Some((
            fields[0].to_string(),
            home.to_string(),
            fields[6].to_string(),
        ))
    })
}

impl Plan {
    /// The child's steps, in the kernel's required order: join the leaf while still root; drop from the
    /// bounding set while CAP_SETPCAP is still effective; groups and gids before the uid; KEEPCAPS so the
    /// uid change keeps the permitted set; capset; ambient last (it needs the capability in permitted and
    /// inheritable).
    fn run(&mut self) -> Result<(), rustix::io::Errno> {
        self.step(
            Step::JoinCgroup,
            rustix::io::write(&self.procs, b"0").map(drop),
        )?;
        for i in 0..self.drop_bounding.len() {
            let cap = self.drop_bounding[i];
            let set = CapabilitySet::from_bits_retain(1 << cap);
            self.step(
                Step::DropBounding(cap),
                rustix::thread::remove_capability_from_bounding_set(set),
            )?;
        }
        if let Some((uid, gid, groups)) = &self.user {
            let (uid, gid) = (*uid, *gid);
            let r = rustix::thread::set_thread_groups(groups);
            self.step(Step::SetGroups, r)?;
            let r = rustix::thread::set_thread_res_gid(gid, gid, gid);
            self.step(Step::SetResGid, r)?;
            let r = rustix::thread::set_keep_capabilities(true);
            self.step(Step::KeepCaps, r)?;
            let r = rustix::thread::set_thread_res_uid(uid, uid, uid);
            self.step(Step::SetResUid, r)?;
        }
        if let Some(sets) = self.capset {
            let r = rustix::thread::set_capabilities(None, sets);
            self.step(Step::Capset, r)?;
        }
        for i in 0..self.ambient.len() {
            let cap = self.ambient[i];
            let set = CapabilitySet::from_bits_retain(1 << cap);
            let r = rustix::thread::configure_capability_in_ambient_set(set, true);
            self.step(Step::RaiseAmbient(cap), r)?;
        }
        Ok(())
    }

    /// Passes a step's result on, telling the parent which step failed and why.
    fn step(
        &self,
        step: Step,
        result: Result<(), rustix::io::Errno>,
    ) -> Result<(), rustix::io::Errno> {
        if let Err(errno) = result {
            let mut words = [0u8; 8];
            words[..4].copy_from_slice(&step.encode().to_le_bytes());
            words[4..].copy_from_slice(&errno.raw_os_error().to_le_bytes());
            let _ = rustix::io::write(self.report.as_fd(), &words);
        }
        result
    }
}

/// The program file for a command name, found before the fork as execvp finds it: a name with a `/` is
/// taken as it is; otherwise the first executable regular file in a PATH directory (an empty entry is
/// the working directory; no PATH means `/bin:/usr/bin`).
pub fn resolve_program(name: &OsStr) -> io::Result<PathBuf> {
    let path = std::env::var_os("PATH");
    resolve_in(name, path.as_deref().unwrap_or(OsStr::new("/bin:/usr/bin")))
}

fn resolve_in(name: &OsStr, path: &OsStr) -> io::Result<PathBuf> {
    let not_found = || {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{}: command not found", name.to_string_lossy()),
        )
    };
    if name.is_empty() {
        return Err(not_found());
    }
    if name.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(name));
    }
    let mut denied = None;
    for dir in path.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let candidate = dir.join(name);
        let Ok(meta) = fs::metadata(&candidate) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let executable = meta.permissions().mode() & 0o111 != 0
            && rustix::fs::access(&candidate, rustix::fs::Access::EXEC_OK).is_ok();
        if executable {
            return Ok(candidate);
        }
        denied.get_or_insert(candidate);
    }
    match denied {
        // execvp reports EACCES when it found the name but could execute none of them.
        Some(file) => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{}: {}",
                file.display(),
                io::Error::from_raw_os_error(libc::EACCES)
            ),
        )),
        None => Err(not_found()),
    }
}

/// `USER[:GROUP]` for `--user`: names from /etc/passwd and /etc/group or numbers. The group defaults to
/// the user's primary group; the supplementary groups are the user's memberships in /etc/group (as
/// initgroups gives them), with the group.
pub fn resolve_user(spec: &str) -> io::Result<RunUser> {
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
    let (user, group) = match spec.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    };
    if user.is_empty() || group == Some("") {
        return Err(invalid(format!("{spec}: expected USER or USER:GROUP")));
    }
    let users = crate::users::Names::users();
    let uid = users
        .id_of(user)
        .ok_or_else(|| invalid(format!("{user}: no such user")))?;
    let name = users.get(uid).map(str::to_string);
    let (primary, mut groups) = crate::creds::user_groups(name.as_deref().unwrap_or(user), uid);
    let gid = match group {
        Some(group) => {
            let gid = crate::users::Names::groups()
                .id_of(group)
                .ok_or_else(|| invalid(format!("{group}: no such group")))?;
            // An explicit group replaces the primary one, as `su -g` and systemd's Group= do.
            if primary != Some(gid) {
                if let Some(primary) = primary {
                    groups.retain(|g| *g != primary);
                }
            }
            gid
        }
        None => primary.ok_or_else(|| {
            invalid(format!(
                "{user}: no primary group in /etc/passwd; give USER:GROUP"
            ))
        })?,
    };
    groups.push(gid);
    groups.sort_unstable();
    groups.dedup();
    Ok(RunUser {
        uid,
        gid,
        groups,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_round_trip() {
        for step in [
            Step::JoinCgroup,
            Step::DropBounding(40),
            Step::SetGroups,
            Step::SetResGid,
            Step::KeepCaps,
            Step::SetResUid,
            Step::Capset,
            Step::RaiseAmbient(10),
        ] {
            assert_eq!(Step::decode(step.encode()), Some(step));
        }
        assert_eq!(Step::decode(0), None);
    }

    #[test]
    fn resolves_like_execvp() {
        let path = OsStr::new("/nonexistent::/bin:/usr/bin");
        let sh = resolve_in(OsStr::new("sh"), path).unwrap();
        assert!(sh.ends_with("sh") && sh.is_absolute());
        assert_eq!(
            resolve_in(OsStr::new("./x/y"), path).unwrap(),
            PathBuf::from("./x/y")
        );
        let err = resolve_in(OsStr::new("no-such-command-here"), path).unwrap_err();
        assert_eq!(err.to_string(), "no-such-command-here: command not found");
        assert!(resolve_in(OsStr::new(""), path).is_err());
        // A directory of that name is not a command.
        assert!(resolve_in(OsStr::new("bin"), OsStr::new("/usr:/")).is_err());
    }

    #[test]
    fn passwd_entries() {
        let text = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nshort:x:5\nempty:x:7:7:::/bin/sh\n";
        assert_eq!(
            passwd_entry(text, 65534),
            Some((
                "nobody".into(),
                "/nonexistent".into(),
                "/usr/sbin/nologin".into()
            ))
        );
        assert_eq!(passwd_entry(text, 7).map(|e| e.1), Some("/".into()));
        assert_eq!(passwd_entry(text, 5), None);
        assert_eq!(passwd_entry(text, 9), None);
    }

    #[test]
    fn resolves_users() {
        let root = resolve_user("root").unwrap();
        assert_eq!(
            (root.uid, root.gid, root.name.as_deref()),
            (0, 0, Some("root"))
        );
        assert!(root.groups.contains(&0));
        let numeric = resolve_user("0:0").unwrap();
        assert_eq!((numeric.uid, numeric.gid), (0, 0));
        assert!(resolve_user("no-such-user-here").is_err());
        assert!(resolve_user("root:").is_err());
        assert!(resolve_user("root:no-such-group-here").is_err());
        assert!(resolve_user(":0").is_err());
    }
}
