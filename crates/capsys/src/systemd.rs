//! `--systemd UNIT_FILE`: the state systemd gives a service's main process just before it execs
//! ExecStart=. The unit and its drop-ins are found and read here (bounded, never blocking on a FIFO or a
//! device), parsed by `capcore::unit` as systemd parses them, and accumulated by `capcore::service`; the
//! credentials follow src/core/exec-invoke.c for the system service manager.

use std::path::{Path, PathBuf};

use capcore::exec::{Creds, Ids};
use capcore::service::{Privileges, Service, Unmodelled, DYNAMIC_UID_MIN};
use capcore::{Cap, CapSet, Securebits};
use rustix::fs::{FileType, Mode, OFlags};

use std::collections::BTreeSet;

use crate::presets::{resolve, resolve_user};
use crate::users::Names;

/// systemd's unit search path for the system manager, highest priority first (lookup-paths.c).
const SYSTEM_UNIT_PATH: [&str; 14] = [
    "/etc/systemd/system.control",
    "/run/systemd/system.control",
    "/run/systemd/transient",
    "/run/systemd/generator.early",
    "/etc/systemd/system",
    "/etc/systemd/system.attached",
    "/run/systemd/system",
    "/run/systemd/system.attached",
    "/run/systemd/generator",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
    "/run/systemd/generator.late",
    "/usr/local/share/systemd/system",
];

/// The most capsim reads of one unit file or drop-in.
const MAX_FILE: u64 = 16 * 1024 * 1024;
/// The most drop-ins capsim reads for one unit.
const MAX_DROPINS: usize = 4096;

/// A unit as loaded: its settings and the files they came from, in the order applied.
pub struct Loaded {
    pub service: Service,
    pub files: Vec<PathBuf>,
    pub name: String,
}

/// What reading one file gave: its bytes, or nothing for /dev/null (a masking symlink).
fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| fail(&std::io::Error::from(e)))?;
    let stat = rustix::fs::fstat(&fd).map_err(|e| fail(&std::io::Error::from(e)))?;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => {}
        FileType::CharacterDevice
            if rustix::fs::major(stat.st_rdev) == 1 && rustix::fs::minor(stat.st_rdev) == 3 =>
        {
            return Ok(None)
        }
        _ => {
            return Err(fail(
                &"not a regular file (systemd reads units from regular files)",
            ))
        }
    }
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match rustix::io::read(&fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => {
                bytes.extend_from_slice(&buf[..n]);
                if bytes.len() as u64 > MAX_FILE {
                    return Err(fail(&format!("larger than {MAX_FILE} bytes")));
                }
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(fail(&std::io::Error::from(e))),
        }
    }
    Ok(Some(bytes))
}

/// The drop-in directory names for `unit` in one search directory, most specific first
/// (unit-file.c:unit_file_find_dirs): the name, its template (and that one's prefixes), then the name's
/// `-` prefixes (`foo-bar-baz.service` → `foo-bar-.service`, `foo-.service`).
fn dropin_names(unit: &str) -> Vec<String> {
    let mut names = Vec::new();
    find_dirs(unit, &mut names);
    names
}

fn find_dirs(name: &str, out: &mut Vec<String>) {
    out.push(name.to_string());
    let (prefix, instance, suffix) = capcore::service::split_unit_name(name);
    let is_instance = name.contains('@') && !instance.is_empty();
    if is_instance {
        find_dirs(&format!("{prefix}@.{suffix}"), out);
    }
    let mut stem = prefix.to_string();
    let mut chopped = false;
    loop {
        let Some(dash) = stem.rfind('-') else { return };
        if dash == 0 {
            return;
        }
        if dash + 1 < stem.len() || chopped {
            stem.truncate(dash + 1);
            break;
        }
        // A trailing dash is chopped off once.
        stem.truncate(dash);
        chopped = true;
    }
    let built = if is_instance {
        format!("{stem}@.{suffix}")
    } else {
        format!("{stem}.{suffix}")
    };
    find_dirs(&built, out);
}

/// The search directories: `--unit-path` ones, or the unit file's own directory followed by systemd's.
fn search_path(unit_file: &Path, given: &[PathBuf]) -> Vec<PathBuf> {
    if !given.is_empty() {
        return given.to_vec();
    }
    let mut dirs: Vec<PathBuf> = SYSTEM_UNIT_PATH.iter().map(PathBuf::from).collect();
    if let Some(dir) = unit_file.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if !dirs.iter().any(|d| d == dir) {
            dirs.insert(0, dir.to_path_buf());
        }
    }
    dirs
}

/// The drop-ins of `unit`, in the order systemd applies them: one per file name (the highest-priority
/// directory's wins, masking the rest), sorted by file name.
fn dropins(unit: &str, dirs: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let names = dropin_names(unit);
    let suffix = capcore::service::split_unit_name(unit).2;
    let mut candidates: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        for name in &names {
            candidates.push(dir.join(format!("{name}.d")));
        }
    }
    for dir in dirs {
        candidates.push(dir.join(format!("{suffix}.d")));
    }
    let mut chosen: Vec<(Vec<u8>, PathBuf)> = Vec::new();
    for candidate in candidates {
        let Ok(entries) = std::fs::read_dir(&candidate) else {
            continue;
        };
        for entry in entries.flatten() {
            use std::os::unix::ffi::OsStrExt;
            let file_name = entry.file_name();
            let bytes = file_name.as_bytes();
            if !bytes.ends_with(b".conf") || bytes.starts_with(b".") {
                continue;
            }
            // conf-files.c takes regular files and symlinks only (dirent_is_file_with_suffix).
            let listed = entry
                .file_type()
                .is_ok_and(|t| t.is_file() || t.is_symlink());
            if !listed {
                continue;
            }
            if chosen.iter().any(|(name, _)| name == bytes) {
                continue;
            }
            if chosen.len() >= MAX_DROPINS {
                return Err(format!(
                    "{}: more than {MAX_DROPINS} drop-ins",
                    candidate.display()
                ));
            }
            chosen.push((bytes.to_vec(), entry.path()));
        }
    }
    chosen.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(chosen.into_iter().map(|(_, path)| path).collect())
}

/// The directories systemd searches for an ExecStart= command that is not an absolute path
/// (path-util.c:find_executable with the manager's default PATH).
const DEFAULT_PATH: [&str; 6] = [
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// ExecStart='s program as systemd finds it: an absolute path as it is, a bare name in the default PATH.
pub fn executable(program: &str) -> PathBuf {
    let path = PathBuf::from(program);
    if path.is_absolute() || program.contains('/') {
        return path;
    }
    DEFAULT_PATH
        .iter()
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or(path)
}

/// Loads a unit file and its drop-ins.
pub fn load(path: &Path, unit_path: &[PathBuf]) -> Result<Loaded, String> {
    use std::os::unix::ffi::OsStrExt;
    let name_bytes = path.file_name().map(|n| n.as_bytes()).unwrap_or_default();
    let Ok(name) = std::str::from_utf8(name_bytes) else {
        return Err(format!(
            "{}: a unit name is ASCII, systemd cannot load this one",
            path.display()
        ));
    };
    if !name.ends_with(".service") {
        return Err(format!(
            "{}: not a .service unit (only services have an ExecStart= to predict)",
            path.display()
        ));
    }
    let fragment = match read_bounded(path)? {
        Some(bytes) if !bytes.is_empty() => bytes,
        _ => {
            return Err(format!(
                "{}: the unit is masked (empty or /dev/null): systemd will not start it",
                path.display()
            ))
        }
    };
    let mut service = Service::default();
    let mut files = vec![path.to_path_buf()];
    apply(&mut service, path, &fragment, name)?;
    for dropin in dropins(name, &search_path(path, unit_path))? {
        if let Some(bytes) = read_bounded(&dropin)? {
            apply(&mut service, &dropin, &bytes, name)?;
        }
        files.push(dropin);
    }
    Ok(Loaded {
        service,
        files,
        name: name.to_string(),
    })
}

/// Parses one file and applies it as it is read: a file of millions of lines is never held as millions of
/// assignments, and the lines systemd skips are counted per kind across every file.
fn apply(service: &mut Service, path: &Path, bytes: &[u8], unit: &str) -> Result<(), String> {
    // Notes are plain text: they are escaped once, where they are printed.
    let origin = path.display().to_string();
    let warnings = capcore::unit::parse_each(bytes, |a| service.apply_one(&a, &origin, unit))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    for warning in &warnings {
        service.notes.add(warning.kind, warning.count, || {
            format!("{origin}:{}: {}", warning.line, warning.text)
        });
    }
    Ok(())
}

/// The caller state for the unit's main process, and what the prediction assumes.
pub fn creds(loaded: &Loaded, known: u32) -> Result<(Creds, Vec<String>), String> {
    let s = &loaded.service;
    let every = CapSet::first_n(known);
    let mut notes = s.notes.lines();
    let privileges = s
        .exec_start
        .as_ref()
        .map_or(Privileges::Normal, |e| e.privileges);
    if privileges == Privileges::Full {
        notes.push(
            "ExecStart= has the '+' prefix: the command runs as root with every capability; User=, Group=, \
             capability settings, SecureBits= and no_new_privs do not apply to it"
                .to_string(),
        );
        return Ok((
            Creds {
                uid: Ids::all(0),
                gid: Ids::all(0),
                groups: Vec::new(),
                inheritable: CapSet::EMPTY,
                permitted: every,
                effective: every,
                bounding: every,
                ambient: CapSet::EMPTY,
                securebits: Securebits::default(),
                no_new_privs: false,
            },
            notes,
        ));
    }
    let setuid = privileges != Privileges::NoSetuid;
    if !setuid {
        notes.push(
            "ExecStart= has the '!' prefix: User=, Group= and SupplementaryGroups= are not applied, the \
             command starts as root"
                .to_string(),
        );
    }
    // A lookup error names the unit, whose User= or group may be unknown here.
    let unit = loaded
        .files
        .first()
        .map_or_else(|| loaded.name.clone(), |path| path.display().to_string());
    let in_unit = |e: String| format!("{unit}: {e}");
    let (uid, primary, groups) = user_of(loaded, setuid, &mut notes).map_err(in_unit)?;
    let (gid, groups) = if setuid {
        group_ids(s, primary, groups).map_err(in_unit)?
    } else {
        (primary, groups)
    };
    let bounding = s.bounding().map_or(every, |b| CapSet::from_bits(b) & every);
    let ambient = CapSet::from_bits(s.ambient) & every & bounding;
    if CapSet::from_bits(s.ambient) & every != ambient {
        notes.push(
            "AmbientCapabilities= names capabilities outside the bounding set: systemd cannot raise them"
                .to_string(),
        );
    }
    let root = uid == 0;
    let no_new_privs = no_new_privs(s, root, &mut notes);
    // enforce_user() keeps the permitted set across setresuid() (KEEP_CAPS) when ambient capabilities or
    // secure bits are wanted, or while a seccomp filter still needs CAP_SYS_ADMIN; the effective set is
    // cleared by the uid change, then CAP_SETPCAP is raised to set securebits.
    let keep_seccomp = !root
        && !s.seccomp_settings().is_empty()
        && s.filter_allows_dropping_privileges() != Some(false);
    let mut permitted = if root || !ambient.is_empty() || s.securebits != 0 || keep_seccomp {
        every
    } else {
        CapSet::EMPTY
    };
    let mut effective = if root { every } else { CapSet::EMPTY };
    if !root && keep_seccomp {
        if !ambient.contains(Cap::SETUID) {
            permitted = permitted.without(Cap::SETUID);
        }
        for cap in [Cap::SYS_ADMIN, Cap::SETPCAP] {
            if bounding.contains(cap) {
                effective = effective.with(cap);
            } else {
                permitted = permitted.without(cap);
            }
        }
    }
    if !root && s.securebits != 0 && permitted.contains(Cap::SETPCAP) {
        effective = effective.with(Cap::SETPCAP);
    }
    for u in &s.unmodelled {
        notes.push(unmodelled_note(u));
    }
    Ok((
        Creds {
            uid: Ids::all(uid),
            gid: Ids::all(gid),
            groups,
            inheritable: ambient,
            permitted,
            effective,
            bounding,
            ambient,
            securebits: Securebits::from_bits(u64::from(s.securebits))
                .map_err(|e| e.to_string())?,
            no_new_privs,
        },
        notes,
    ))
}

/// Group= and SupplementaryGroups= over the user's own groups. /etc/group is read once however many groups
/// the unit names, and the list is deduplicated in one pass (a unit may name hundreds of thousands).
fn group_ids(s: &Service, primary: u32, groups: Vec<u32>) -> Result<(u32, Vec<u32>), String> {
    if s.group.is_none() && s.supplementary_groups.is_empty() {
        return Ok((primary, groups));
    }
    let names = Names::groups();
    let gid = match &s.group {
        Some(group) => resolve(&names, "group", group)?,
        None => primary,
    };
    let mut all: BTreeSet<u32> = groups.into_iter().collect();
    for group in &s.supplementary_groups {
        all.insert(resolve(&names, "group", group)?);
    }
    Ok((gid, all.into_iter().collect()))
}

pub fn unmodelled_note(u: &Unmodelled) -> String {
    format!(
        "{}: {}= {}; capsim does not model it",
        u.origin, u.key, u.why
    )
}

/// The uid, primary gid and supplementary groups of the process (before Group= and
/// SupplementaryGroups=).
fn user_of(
    loaded: &Loaded,
    setuid: bool,
    notes: &mut Vec<String>,
) -> Result<(u32, u32, Vec<u32>), String> {
    let s = &loaded.service;
    if !setuid {
        return Ok((0, 0, Vec::new()));
    }
    if s.dynamic_user {
        let name = s.user.clone().unwrap_or_else(|| {
            capcore::service::split_unit_name(&loaded.name)
                .0
                .to_string()
        });
        if let Ok(uid) = name.parse::<u32>().or_else(|_| resolve_user(&name)) {
            let (primary, groups) = crate::creds::user_groups(&name, uid);
            return Ok((uid, primary.unwrap_or(uid), groups));
        }
        notes.push(format!(
            "DynamicUser=yes: systemd allocates an unused uid and gid between {DYNAMIC_UID_MIN} and 65519 for \
             '{}' when the service starts; the prediction uses {DYNAMIC_UID_MIN}",
            capcore::quote::excerpt(&name)
        ));
        return Ok((DYNAMIC_UID_MIN, DYNAMIC_UID_MIN, Vec::new()));
    }
    match &s.user {
        None => Ok((0, 0, Vec::new())),
        Some(user) => {
            let uid = user.parse().or_else(|_| resolve_user(user))?;
            let (primary, groups) = crate::creds::user_groups(user, uid);
            // systemd looks up supplementary groups only for a user whose gid is not 0.
            let primary = primary.unwrap_or(0);
            let groups = if primary == 0 { Vec::new() } else { groups };
            Ok((uid, primary, groups))
        }
    }
}

/// exec-invoke.c:context_has_no_new_privileges, with DynamicUser= forcing it (unit.c).
fn no_new_privs(s: &Service, root: bool, notes: &mut Vec<String>) -> bool {
    if s.no_new_privileges {
        return true;
    }
    if s.dynamic_user {
        notes.push("DynamicUser=yes implies NoNewPrivileges=yes".to_string());
        return true;
    }
    let seccomp = s.seccomp_settings();
    if seccomp.is_empty() {
        return false;
    }
    let list = seccomp
        .iter()
        .map(|k| format!("{k}="))
        .collect::<Vec<_>>()
        .join(", ");
    if root {
        notes.push(format!(
            "{list} would imply NoNewPrivileges=yes for a process without CAP_SYS_ADMIN; this one runs as root \
             and has it, so systemd does not set no_new_privs"
        ));
        return false;
    }
    match s.filter_allows_dropping_privileges() {
        Some(false) => {
            notes.push(format!(
                "{list}: a non-root service whose SystemCallFilter= blocks capget, capset, prctl, setgid, \
                 setgroups or setuid gets NoNewPrivileges=yes from systemd"
            ));
            true
        }
        Some(true) => {
            notes.push(format!(
                "{list}: systemd keeps CAP_SYS_ADMIN to install the filters for this non-root service, so it \
                 does not set no_new_privs (releases before that change did; give --no-new-privs to predict \
                 them)"
            ));
            false
        }
        None => {
            notes.push(format!(
                "{list}: whether systemd sets no_new_privs depends on whether SystemCallFilter= lets capget, \
                 capset, prctl, setgid, setgroups and setuid through, which capsim cannot tell for the groups \
                 it names; the prediction assumes it does not (the outcome with more privilege); give \
                 --no-new-privs for the other case"
            ));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropin_directory_names() {
        assert_eq!(dropin_names("web.service"), ["web.service"]);
        assert_eq!(
            dropin_names("foo-bar-baz.service"),
            ["foo-bar-baz.service", "foo-bar-.service", "foo-.service"]
        );
        assert_eq!(
            dropin_names("getty@tty1.service"),
            ["getty@tty1.service", "getty@.service"]
        );
        assert_eq!(
            dropin_names("a-b@x.service"),
            ["a-b@x.service", "a-b@.service", "a-.service", "a-@.service"]
        );
        assert_eq!(dropin_names("-x.service"), ["-x.service"]);
    }
}
