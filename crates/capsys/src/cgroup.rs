//! cgroup v2 for captrace: where the unified hierarchy is mounted, the cgroup a traced target lives in
//! (a path, a systemd unit, a container, a process tree), and the fresh leaf a traced COMMAND runs in.
//!
//! captrace scopes its BPF program by cgroup id (`bpf_get_current_cgroup_id`, the inode number of the
//! cgroup's directory), so everything here ends in a [`CgroupRef`]. The leaf is the one thing written:
//! it is created empty, only processes captrace started ever enter it (each child joins it itself, before
//! its exec), and it is removed afterwards, killing what lingers only inside it. Nothing here moves a
//! process captrace did not start.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::mounts::MountTable;

/// `CGROUP2_SUPER_MAGIC` (include/uapi/linux/magic.h).
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// The most bytes read from a cgroup or procfs file: they hold a line or a few.
const SMALL_FILE: u64 = 64 * 1024;

/// How deep and how wide a search of the cgroup tree for a unit goes.
const SEARCH_DEPTH: usize = 8;
const SEARCH_DIRS: usize = 100_000;

/// Where cgroup2 is mounted, from /proc/self/mountinfo. It is not always /sys/fs/cgroup: on hybrid
/// systems that is a tmpfs of v1 hierarchies and cgroup2 sits at /sys/fs/cgroup/unified.
pub fn cgroup2_root() -> io::Result<PathBuf> {
    let table = MountTable::read()?;
    root_in(&table).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "cgroup2: not mounted (no cgroup2 line in /proc/self/mountinfo)",
        )
    })
}

/// The first cgroup2 mount that no later mount hides.
fn root_in(table: &MountTable) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    table
        .mounts()
        .iter()
        .filter(|m| m.fs_type == "cgroup2")
        .find(|m| table.mount_of(&m.mount_point).map(|v| v.id) == Some(m.id))
        .map(|m| PathBuf::from(OsStr::from_bytes(&m.mount_point)))
}

/// A cgroup v2 directory, as captrace's BPF program filters on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupRef {
    /// Absolute path of the directory in the cgroup2 mount.
    pub path: PathBuf,
    /// Inode number of the directory: the cgroup id `bpf_get_current_cgroup_id` returns.
    pub id: u64,
    /// Components below the cgroup2 root (the root is 0), for `bpf_get_current_ancestor_cgroup_id`.
    /// Counted from the mount this process sees: inside a cgroup namespace that is the namespace's root.
    pub level: u32,
}

/// The cgroup at `path`: an absolute path inside the cgroup2 mount, or a path relative to its root
/// (`/system.slice/x.service`, as systemd and /proc/PID/cgroup print it). `..` is refused, so a path can
/// never name a directory outside the hierarchy.
pub fn cgroup_ref(path: &Path) -> io::Result<CgroupRef> {
    let root = cgroup2_root()?;
    cgroup_ref_in(&root, path)
}

fn cgroup_ref_in(root: &Path, path: &Path) -> io::Result<CgroupRef> {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let mut full = root.to_path_buf();
    let mut level = 0u32;
    for component in relative.components() {
        match component {
            Component::Normal(part) => {
                full.push(part);
                level += 1;
            }
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{}: a cgroup path may not contain '..'", path.display()),
                ))
            }
        }
    }
    let meta = fs::symlink_metadata(&full).map_err(|e| with_path(&full, e))?;
    if !meta.is_dir() || !is_cgroup2(&full)? {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a cgroup v2 directory", full.display()),
        ));
    }
    Ok(CgroupRef {
        path: full,
        id: meta.ino(),
        level,
    })
}

fn is_cgroup2(path: &Path) -> io::Result<bool> {
    let stat = rustix::fs::statfs(path).map_err(|e| with_path(path, e.into()))?;
    #[allow(clippy::unnecessary_cast)]
    Ok(stat.f_type as i64 == CGROUP2_SUPER_MAGIC)
}

/// `PATH: cause (os error N)`.
fn with_path(path: &Path, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

/// Reads at most `SMALL_FILE` bytes of a small kernel file.
fn read_small(path: &Path) -> io::Result<String> {
    crate::read_bounded(path, SMALL_FILE)
}

/// This process's cgroup v2 path (its `0::` line of /proc/self/cgroup), relative to the root.
fn own_cgroup() -> io::Result<String> {
    let text = read_small(Path::new("/proc/self/cgroup"))?;
    text.lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(str::to_string)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "/proc/self/cgroup: no cgroup v2 (0::) line",
            )
        })
}

/// Numbers the leaves one process makes.
static NEXT_LEAF: AtomicU32 = AtomicU32::new(0);

/// A fresh, empty cgroup v2 leaf for COMMAND, `captrace-<pid>-<n>`, removed when done (or dropped).
#[derive(Debug)]
pub struct Leaf {
    cgroup: CgroupRef,
    removed: bool,
}

impl Leaf {
    /// Makes the leaf inside the cgroup this process is in (so a captrace run from a delegated subtree
    /// stays in it), or at the cgroup2 root when that cannot be done.
    pub fn create() -> io::Result<Leaf> {
        let root = cgroup2_root()?;
        let own = own_cgroup().ok().and_then(|path| {
            let rel = path.trim_start_matches('/');
            let dir = root.join(rel);
            (!rel.split('/').any(|c| c == "..") && dir.is_dir()).then_some(dir)
        });
        let mut first_error = None;
        for parent in own.iter().chain(std::iter::once(&root)) {
            match make_leaf(&root, parent) {
                Ok(leaf) => return Ok(leaf),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| io::Error::other("cgroup2: cannot make a leaf")))
    }

    /// The `cgroup.procs` file a child writes `0` to, before its exec, to join the leaf.
    pub fn procs_path(&self) -> PathBuf {
        self.cgroup.path.join("cgroup.procs")
    }

    pub fn cgroup_ref(&self) -> &CgroupRef {
        &self.cgroup
    }

    /// Waits (at most `timeout`) for the leaf to empty, then removes it. Processes still in it after the
    /// timeout (only captrace's own children and their descendants can be there) are killed with
    /// `cgroup.kill`, and the removal is tried again for as long once more.
    pub fn remove(&mut self, timeout: Duration) -> io::Result<()> {
        if self.removed {
            return Ok(());
        }
        let path = self.cgroup.path.clone();
        if !wait_empty(&path, timeout)? {
            kill_all(&path)?;
            if !wait_empty(&path, timeout)? {
                return Err(io::Error::new(
                    io::ErrorKind::ResourceBusy,
                    format!("{}: processes remain after cgroup.kill", path.display()),
                ));
            }
        }
        remove_tree(&path, SEARCH_DEPTH)?;
        self.removed = true;
        Ok(())
    }
}

impl Drop for Leaf {
    fn drop(&mut self) {
        let _ = self.remove(Duration::from_millis(500));
    }
}

fn make_leaf(root: &Path, parent: &Path) -> io::Result<Leaf> {
    let pid = std::process::id();
    for _ in 0..1000 {
        let n = NEXT_LEAF.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!("captrace-{pid}-{n}"));
        match fs::create_dir(&path) {
            Ok(()) => {
                let mut leaf = Leaf {
                    cgroup: CgroupRef {
                        path: path.clone(),
                        id: 0,
                        level: 0,
                    },
                    removed: false,
                };
                // From here on the leaf exists: dropping it on an error removes it.
                leaf.cgroup = cgroup_ref_in(root, &path)?;
                return Ok(leaf);
            }
            // A leftover of an earlier process that had our pid: take the next number.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(with_path(&path, e)),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{}: no free leaf name", parent.display()),
    ))
}

/// Whether the cgroup's `cgroup.events` says `populated 0` (nothing in it or below it).
fn is_empty(path: &Path) -> io::Result<bool> {
    let events = read_small(&path.join("cgroup.events")).map_err(|e| with_path(path, e))?;
    Ok(events.lines().any(|line| line.trim() == "populated 0"))
}

/// Polls `cgroup.events` until the cgroup is empty or `timeout` passes; true when it emptied.
fn wait_empty(path: &Path, timeout: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        if is_empty(path)? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `cgroup.kill` (Linux 5.14): SIGKILL to every process in the cgroup and below it.
fn kill_all(path: &Path) -> io::Result<()> {
    let kill = path.join("cgroup.kill");
    fs::write(&kill, "1").map_err(|e| with_path(&kill, e))
}

/// Removes an empty cgroup and any sub-cgroups the traced program made in it, deepest first.
fn remove_tree(path: &Path, depth: usize) -> io::Result<()> {
    if depth > 0 {
        for entry in fs::read_dir(path).map_err(|e| with_path(path, e))? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                remove_tree(&entry.path(), depth - 1)?;
            }
        }
    }
    fs::remove_dir(path).map_err(|e| with_path(path, e))
}

/// Removes the empty `captrace-<pid>-<n>` leaves, at the cgroup2 root and in this process's cgroup, whose
/// maker is gone (a run killed with SIGKILL cannot clean up after itself). A leaf is kept while a process
/// with its pid lives, and while anything is in it. Returns how many were removed.
pub fn remove_stale_leaves() -> io::Result<usize> {
    let root = cgroup2_root()?;
    let mut dirs = vec![root.clone()];
    if let Ok(own) = own_cgroup() {
        let rel = own.trim_start_matches('/');
        if !rel.is_empty() && !rel.split('/').any(|c| c == "..") {
            dirs.push(root.join(rel));
        }
    }
    let mut removed = 0;
    for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = leaf_pid(&name.to_string_lossy()) else {
                continue;
            };
            let path = entry.path();
            if maker_alive(pid) || !is_empty(&path).unwrap_or(false) {
                continue;
            }
            if remove_tree(&path, SEARCH_DEPTH).is_ok() {
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// The pid in a leaf name `captrace-<pid>-<n>`.
fn leaf_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("captrace-")?;
    let (pid, n) = rest.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(n) {
        return None;
    }
    pid.parse().ok()
}

/// Whether the process that made a leaf may still be using it. Any live process with that pid counts, not
/// only one named captrace: the leaf's maker may be another program built on this crate (the tests are),
/// and a leaf removed under a live maker would make its child's join fail. A recycled pid only delays the
/// removal until that process ends.
fn maker_alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
}

/// A systemd unit's cgroup, as an absolute path in the cgroup2 mount: its `ControlGroup` property, from
/// `systemctl show` (run with a time limit, its output read with a size limit); when systemctl is missing
/// or says nothing (no systemd as init, as in many containers), the one directory of the cgroup2 tree
/// named UNIT or UNIT.service.
pub fn unit_cgroup(unit: &str) -> io::Result<PathBuf> {
    if unit.is_empty() || unit.contains('/') || unit == "." || unit == ".." {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{unit}: not a unit name"),
        ));
    }
    let root = cgroup2_root()?;
    if let Some(path) = systemctl_control_group(unit) {
        let dir = root.join(path.trim_start_matches('/'));
        if dir.is_dir() && !path.split('/').any(|c| c == "..") {
            return Ok(dir);
        }
    }
    let mut names = vec![unit.to_string()];
    if !unit.contains('.') {
        names.push(format!("{unit}.service"));
    }
    let found = find_dirs(&root, &names);
    match found.len() {
        0 => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{unit}: no such unit is running (no cgroup named {})",
                names.join(" or ")
            ),
        )),
        1 => Ok(found.into_iter().next().unwrap_or_default()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{unit}: several cgroups match: {}",
                found
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// `systemctl show -p ControlGroup --value UNIT`: the path, or `None` when it fails or prints nothing
/// (an inactive unit has no cgroup).
fn systemctl_control_group(unit: &str) -> Option<String> {
    let mut child = Command::new("systemctl")
        .args(["show", "-p", "ControlGroup", "--value", "--"])
        .arg(unit)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    // Read on a thread, so a systemctl that hangs with its output open cannot hold us past the deadline.
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(pipe) = child.stdout.take() {
        std::thread::spawn(move || {
            let mut out = String::new();
            let read = pipe.take(SMALL_FILE).read_to_string(&mut out);
            let _ = tx.send(read.map(|_| out));
        });
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let out = match rx.recv_timeout(Duration::from_secs(1)) {
        Ok(Ok(out)) => out,
        _ => return None,
    };
    let path = out.lines().next().unwrap_or("").trim();
    (status.is_some_and(|s| s.success()) && path.starts_with('/')).then(|| path.to_string())
}

/// Directories below `root` whose name is one of `names`, searched breadth-first with bounded depth and
/// count.
fn find_dirs(root: &Path, names: &[String]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut level = vec![root.to_path_buf()];
    let mut seen = 0;
    for _ in 0..SEARCH_DEPTH {
        let mut next = Vec::new();
        for dir in &level {
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                seen += 1;
                if seen > SEARCH_DIRS {
                    return found;
                }
                if names.iter().any(|n| entry.file_name() == n.as_str()) {
                    found.push(entry.path());
                }
                next.push(entry.path());
            }
        }
        level = next;
    }
    found
}

/// A container's cgroup v2 directory, found by cgroup like `capls --container`: every process whose
/// /proc/PID/cgroup names a container whose id starts with `id` (or whose runtime is `id`). More than one
/// container = an error naming them; none = an error.
pub fn container_cgroup(id: &str) -> io::Result<PathBuf> {
    if id.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "container id: empty",
        ));
    }
    let root = cgroup2_root()?;
    let mut containers: HashMap<String, (capcore::Container, Option<String>)> = HashMap::new();
    for pid in crate::proc::pids()? {
        let Ok(text) = read_small(Path::new(&format!("/proc/{pid}/cgroup"))) else {
            continue;
        };
        let Some(container) = capcore::container::from_proc_cgroup(&text) else {
            continue;
        };
        if !container.matches(id) {
            continue;
        }
        let scope = text
            .lines()
            .find_map(|line| line.strip_prefix("0::"))
            .and_then(|path| scope_of(path, &container.id));
        let entry = containers
            .entry(container.id.clone())
            .or_insert((container, None));
        if entry.1.is_none() {
            entry.1 = scope;
        }
    }
    let mut matched: Vec<_> = containers.into_values().collect();
    match matched.len() {
        0 => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{id}: no running container matches"),
        )),
        1 => {
            let (container, scope) = matched.remove(0);
            let scope = scope.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "{id}: {} container {} is in cgroup v1 hierarchies only, not in cgroup v2",
                        container.runtime.name(),
                        container.short_id()
                    ),
                )
            })?;
            let dir = root.join(scope.trim_start_matches('/'));
            cgroup_ref_in(&root, &dir).map(|r| r.path)
        }
        _ => {
            let mut names: Vec<String> = matched
                .iter()
                .map(|(c, _)| format!("{} {}", c.runtime.name(), c.short_id()))
                .collect();
            names.sort();
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{id}: several containers match: {}", names.join(", ")),
            ))
        }
    }
}

/// The part of a cgroup path up to the component that names the container (`docker-<id>.scope`,
/// `<id>`), so processes in sub-cgroups of the container count too.
fn scope_of(path: &str, id: &str) -> Option<String> {
    let mut out = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        out.push('/');
        out.push_str(part);
        if part.contains(id) && !part.contains("conmon") {
            return Some(out);
        }
    }
    None
}

/// `pid` and every descendant it has now, parents before children, from one scan of /proc/*/stat.
pub fn pid_tree(pid: u32) -> io::Result<Vec<u32>> {
    let stat = format!("/proc/{pid}/stat");
    read_small(Path::new(&stat)).map_err(|e| with_path(Path::new(&format!("/proc/{pid}")), e))?;
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for other in crate::proc::pids()? {
        let Ok(text) = read_small(Path::new(&format!("/proc/{other}/stat"))) else {
            continue;
        };
        if let Some(ppid) = parent_of(&text) {
            children.entry(ppid).or_default().push(other);
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    // Each pid is listed once in /proc, so the walk ends; the bound guards against a cycle all the same.
    while i < tree.len() && tree.len() <= children.len() + 1 {
        if let Some(kids) = children.get(&tree[i]) {
            tree.extend(kids.iter().filter(|k| **k != pid));
        }
        i += 1;
    }
    Ok(tree)
}

/// The ppid field of /proc/PID/stat: after the command name (which may hold spaces and parentheses).
fn parent_of(stat: &str) -> Option<u32> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let _state = fields.next()?;
    fields.next()?.parse().ok()
}

/// A process's user namespace: its inode number, and its nesting level counted by walking up with
/// `NS_GET_PARENT` until the kernel refuses (the initial namespace, or the edge of ours, is level 0).
pub fn userns_of(pid: u32) -> io::Result<(u32, u32)> {
    let link = PathBuf::from(format!("/proc/{pid}/ns/user"));
    let mut ns = fs::File::open(&link).map_err(|e| with_path(&link, e))?;
    let inum = u32::try_from(ns.metadata()?.ino())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "namespace inode above 2^32"))?;
    // User namespaces nest at most 32 deep.
    for level in 0..40 {
        match crate::trace::ns_parent(&ns) {
            Ok(parent) => ns = parent,
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => return Ok((inum, level)),
            Err(e) => return Err(with_path(&link, e)),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: nested deeper than the kernel allows", link.display()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount() {
        let table = MountTable::parse(
            b"31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
              32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n\
              41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
        );
        assert_eq!(
            root_in(&table),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let hidden = MountTable::parse(
            b"41 1 0:38 / /cg rw - cgroup2 cgroup2 rw\n\
              42 1 0:39 / /cg rw - tmpfs tmpfs rw\n",
        );
        assert_eq!(root_in(&hidden), None);
    }

    #[test]
    fn leaf_names() {
        assert_eq!(leaf_pid("captrace-123-0"), Some(123));
        assert_eq!(leaf_pid("captrace-123-"), None);
        assert_eq!(leaf_pid("captrace--1"), None);
        assert_eq!(leaf_pid("captrace-12a-1"), None);
        assert_eq!(leaf_pid("other-1-1"), None);
    }

    #[test]
    fn stat_parent() {
        assert_eq!(parent_of("42 (a) b) c) S 7 42 42 0"), Some(7));
        assert_eq!(parent_of("42 (x"), None);
    }

    #[test]
    fn container_scopes() {
        let id = "0123456789abcdef";
        assert_eq!(
            scope_of(&format!("/system.slice/docker-{id}.scope/init.scope"), id),
            Some(format!("/system.slice/docker-{id}.scope"))
        );
        assert_eq!(
            scope_of(&format!("/docker/{id}"), id),
            Some(format!("/docker/{id}"))
        );
        assert_eq!(scope_of("/", id), None);
    }

    #[test]
    fn refuses_dot_dot() {
        let err = cgroup_ref_in(Path::new("/sys/fs/cgroup/unified"), Path::new("/a/../../x"));
        assert!(err.is_err_and(|e| e.kind() == io::ErrorKind::InvalidInput));
    }

    #[test]
    fn own_user_namespace_level() {
        let (inum, level) = userns_of(std::process::id()).unwrap();
        assert_eq!(
            u64::from(inum),
            crate::proc::namespace_inode(std::process::id(), "user").unwrap()
        );
        // Counted from this process's view: its own namespace is the first it cannot see above.
        assert_eq!(level, 0);
    }

    #[test]
    fn pid_tree_of_a_child() {
        let mut child = Command::new("sleep").arg("5").spawn().unwrap();
        let tree = pid_tree(std::process::id()).unwrap();
        assert_eq!(tree[0], std::process::id());
        assert!(tree.contains(&child.id()));
        let _ = child.kill();
        let _ = child.wait();
        assert!(pid_tree(u32::MAX).is_err());
    }
}
