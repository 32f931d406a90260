//! The caller states that container runtimes and service managers give the first process they start:
//! Docker (moby's defaults as runc applies them) and a systemd unit's [Service] settings.

use std::fs;
use std::path::{Path, PathBuf};

use capcore::exec::{Creds, Ids};
use capcore::{Cap, CapSet, Securebits};

/// Docker's default capabilities (moby oci/caps/defaults.go): 14 of them.
pub const DOCKER_DEFAULT: [Cap; 14] = [
    Cap::CHOWN,
    Cap::DAC_OVERRIDE,
    Cap::FSETID,
    Cap::FOWNER,
    Cap::MKNOD,
    Cap::NET_RAW,
    Cap::SETGID,
    Cap::SETUID,
    Cap::SETFCAP,
    Cap::SETPCAP,
    Cap::NET_BIND_SERVICE,
    Cap::SYS_CHROOT,
    Cap::KILL,
    Cap::AUDIT_WRITE,
];

/// What `docker run` was given.
#[derive(Clone, Debug, Default)]
pub struct DockerOptions {
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `--user UID[:GID]`.
    pub user: Option<(u32, u32)>,
    pub privileged: bool,
    pub no_new_privileges: bool,
}

/// A list of `--cap-add`/`--cap-drop` values: capabilities (any case, with or without CAP_) or `all`.
fn cap_list(values: &[String], known: u32) -> Result<(CapSet, bool), String> {
    let mut set = CapSet::EMPTY;
    let mut all = false;
    for value in values.iter().flat_map(|v| v.split(',')) {
        if value.trim().eq_ignore_ascii_case("all") {
            all = true;
            set = set | CapSet::first_n(known);
        } else {
            let cap = Cap::parse_lenient(value).map_err(|e| e.to_string())?;
            set = set.with(cap);
        }
    }
    Ok((set, all))
}

/// moby's TweakCapabilities: `--privileged` gives everything; `--cap-add all` everything but the drops;
/// `--cap-drop all` only the adds; otherwise the defaults less the drops plus the adds.
pub fn docker_caps(options: &DockerOptions, known: u32) -> Result<CapSet, String> {
    let every = CapSet::first_n(known);
    if options.privileged {
        return Ok(every);
    }
    let (add, add_all) = cap_list(&options.cap_add, known)?;
    let (drop, drop_all) = cap_list(&options.cap_drop, known)?;
    let defaults = CapSet::from_caps(DOCKER_DEFAULT);
    Ok(if add_all {
        every - drop
    } else if drop_all {
        add
    } else {
        (defaults - drop) | add
    })
}

/// The state runc gives the container's first process before it execs the entrypoint: root gets the list in
/// its bounding, permitted and effective sets; any other user only in its bounding set (moby
/// oci.SetCapabilities, "to match what execve does"). Inheritable and ambient are empty.
pub fn docker(options: &DockerOptions, known: u32) -> Result<Creds, String> {
    let caps = docker_caps(options, known)?;
    let (uid, gid) = options.user.unwrap_or((0, 0));
    let root = uid == 0;
    Ok(Creds {
        uid: Ids::all(uid),
        gid: Ids::all(gid),
        groups: Vec::new(),
        inheritable: CapSet::EMPTY,
        permitted: if root { caps } else { CapSet::EMPTY },
        effective: if root { caps } else { CapSet::EMPTY },
        bounding: caps,
        ambient: CapSet::EMPTY,
        securebits: Securebits::default(),
        no_new_privs: options.no_new_privileges,
    })
}

/// The settings of a unit's [Service] section that shape the credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unit {
    pub user: Option<String>,
    pub group: Option<String>,
    /// `None`: not set, so every capability.
    pub bounding: Option<CapSet>,
    /// `None`: not set, so none.
    pub ambient: Option<CapSet>,
    pub no_new_privileges: bool,
    pub securebits: u32,
    pub exec_start: Option<PathBuf>,
}

/// Parses a unit file. Capability lists follow systemd.exec(5): space-separated names, `~` inverts the
/// list, several lines are merged (ORed; with `~`, ANDed), and an empty assignment resets.
pub fn parse_unit(text: &str, known: u32) -> Result<Unit, String> {
    let mut unit = Unit::default();
    let every = CapSet::first_n(known);
    let mut section = String::new();
    let mut lines = text.lines().peekable();
    while let Some(raw) = lines.next() {
        let mut line = raw.trim().to_string();
        while line.ends_with('\\') {
            line.pop();
            line.push(' ');
            line.push_str(lines.next().unwrap_or_default().trim());
        }
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            section = line.trim_matches(|c| c == '[' || c == ']').to_string();
            continue;
        }
        if section != "Service" {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "User" => unit.user = (!value.is_empty()).then(|| value.to_string()),
            "Group" => unit.group = (!value.is_empty()).then(|| value.to_string()),
            "CapabilityBoundingSet" => unit.bounding = merge_caps(unit.bounding, value, every)?,
            "AmbientCapabilities" => unit.ambient = merge_caps(unit.ambient, value, every)?,
            "NoNewPrivileges" => unit.no_new_privileges = parse_bool(value)?,
            "SecureBits" => unit.securebits = parse_securebits(value, unit.securebits)?,
            "ExecStart" if unit.exec_start.is_none() => unit.exec_start = exec_start_path(value),
            _ => {}
        }
    }
    Ok(unit)
}

/// One assignment of a capability list onto the current value (`None`: never assigned, or reset by an empty
/// assignment).
fn merge_caps(
    current: Option<CapSet>,
    value: &str,
    every: CapSet,
) -> Result<Option<CapSet>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    let (invert, list) = match value.strip_prefix('~') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let mut set = CapSet::EMPTY;
    for word in list.split_whitespace() {
        set = set.with(Cap::parse_lenient(word).map_err(|e| format!("{word}: {e}"))?);
    }
    Ok(Some(if invert {
        current.unwrap_or(every) - set
    } else {
        current.unwrap_or(CapSet::EMPTY) | set
    }))
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Ok(true),
        "0" | "no" | "false" | "off" => Ok(false),
        other => Err(format!("'{other}' is not a boolean")),
    }
}

fn parse_securebits(value: &str, current: u32) -> Result<u32, String> {
    if value.is_empty() {
        return Ok(0);
    }
    let mut bits = current;
    for word in value.split_whitespace() {
        let bits_of = Securebits::parse(&word.replace('-', "_")).map_err(|e| e.to_string())?;
        bits |= bits_of.bits();
    }
    Ok(bits)
}

/// The program of an ExecStart= line, without systemd's prefixes (`@ - : + !`).
fn exec_start_path(value: &str) -> Option<PathBuf> {
    let word = value.split_whitespace().next()?;
    let program = word.trim_start_matches(['@', '-', ':', '+', '!']);
    (!program.is_empty()).then(|| PathBuf::from(program))
}

/// The state systemd gives a service's main process just before it execs ExecStart= (exec-invoke.c): the
/// bounding set reduced; for root, everything permitted and effective; for another user, the uid changed
/// with KEEP_CAPS only when ambient capabilities are wanted, the ambient ones added to the inheritable set
/// and raised; securebits and no_new_privs as configured.
pub fn systemd(unit: &Unit, known: u32) -> Result<Creds, String> {
    let every = CapSet::first_n(known);
    let bounding = unit.bounding.unwrap_or(every);
    let uid = match &unit.user {
        None => 0,
        Some(user) => resolve_user(user)?,
    };
    let (primary, groups) = match &unit.user {
        Some(user) => capsys::creds::user_groups(user, uid),
        None => (Some(0), Vec::new()),
    };
    let gid = match &unit.group {
        Some(group) => resolve_group(group)?,
        None => primary.unwrap_or(0),
    };
    let root = uid == 0;
    let ambient = unit.ambient.unwrap_or(CapSet::EMPTY) & bounding;
    let permitted = if root || !ambient.is_empty() {
        every
    } else {
        CapSet::EMPTY
    };
    Ok(Creds {
        uid: Ids::all(uid),
        gid: Ids::all(gid),
        groups,
        inheritable: ambient,
        permitted,
        effective: if root { every } else { ambient },
        bounding,
        ambient,
        securebits: Securebits::from_bits(u64::from(unit.securebits)).map_err(|e| e.to_string())?,
        no_new_privs: unit.no_new_privileges,
    })
}

pub fn resolve_user(user: &str) -> Result<u32, String> {
    capsys::users::Names::users()
        .id_of(user)
        .ok_or_else(|| format!("unknown user '{user}'"))
}

pub fn resolve_group(group: &str) -> Result<u32, String> {
    capsys::users::Names::groups()
        .id_of(group)
        .ok_or_else(|| format!("unknown group '{group}'"))
}

pub fn read_unit(path: &Path, known: u32) -> Result<Unit, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_unit(&text, known).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_tweaks_like_moby() {
        let mut options = DockerOptions::default();
        assert_eq!(docker_caps(&options, 41).unwrap().len(), 14);
        options.cap_add = vec!["NET_ADMIN".into()];
        options.cap_drop = vec!["cap_net_raw".into()];
        let caps = docker_caps(&options, 41).unwrap();
        assert!(caps.contains(Cap::NET_ADMIN) && !caps.contains(Cap::NET_RAW));
        options.cap_drop = vec!["all".into()];
        assert_eq!(docker_caps(&options, 41).unwrap(), Cap::NET_ADMIN.into());
        options.cap_add = vec!["ALL".into()];
        options.cap_drop = vec!["sys_admin".into()];
        assert_eq!(docker_caps(&options, 41).unwrap().len(), 40);
    }

    #[test]
    fn unit_capability_lists() {
        let unit = parse_unit(
            "[Unit]\nUser=ignored\n[Service]\nUser=nobody\nCapabilityBoundingSet=CAP_NET_RAW CAP_CHOWN\n\
             CapabilityBoundingSet=cap_kill\nAmbientCapabilities=CAP_NET_BIND_SERVICE\nNoNewPrivileges=yes\n\
             SecureBits=keep-caps noroot-locked\nExecStart=-/usr/bin/foo --flag\n",
            41,
        )
        .unwrap();
        assert_eq!(unit.user.as_deref(), Some("nobody"));
        assert_eq!(unit.bounding.map(CapSet::len), Some(3));
        assert_eq!(unit.ambient, Some(Cap::NET_BIND_SERVICE.into()));
        assert!(unit.no_new_privileges);
        assert_eq!(unit.securebits, 0x12);
        assert_eq!(unit.exec_start, Some(PathBuf::from("/usr/bin/foo")));
        let unit = parse_unit("[Service]\nCapabilityBoundingSet=~CAP_SYS_ADMIN\n", 41).unwrap();
        assert_eq!(unit.bounding.map(CapSet::len), Some(40));
    }
}
