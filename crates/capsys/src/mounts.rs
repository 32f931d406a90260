//! The mount table, read from /proc/self/mountinfo, and the decision a file scan makes at every mount
//! point: go in, or skip a filesystem whose files the kernel makes up (proc, sysfs, …), a remote one
//! (nfs, cifs, fuse.*, …) or, with `-x`, any other filesystem.
//!
//! The decision is made from the mount table and the filesystem type, never from path names: `/proc` is
//! skipped because procfs is mounted there, and a procfs mounted at `/srv/chroot/proc` is skipped as well.
//! Skipping a filesystem skips its own files only: a tmpfs mounted below sysfs (`/sys/fs/cgroup`) is
//! still scanned (the walk starts again at its mount point). Looking a directory's path up in the table
//! costs no syscall, so the walk never stats a directory to learn its device.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// One line of mountinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The mount id (mountinfo's first field, statx's `stx_mnt_id`).
    pub id: u64,
    /// The device number `major:minor` of the filesystem, as `stat` reports it for its root.
    pub dev: (u32, u32),
    /// Where it is mounted, with mountinfo's octal escapes undone.
    pub mount_point: Vec<u8>,
    pub fs_type: String,
}

/// Why a filesystem is left out of a scan by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsKind {
    /// A filesystem whose files users make (disk, tmpfs, devtmpfs, ramfs, overlay, …): scanned.
    Local,
    /// A kernel interface (proc, sysfs, cgroup, …): the kernel makes up its files, which never carry
    /// capabilities.
    Pseudo,
    /// A network or user-space filesystem: slow, may hang, and not this machine's to audit.
    Remote,
}

/// Filesystems whose files the kernel generates. No user can put a file carrying `security.capability`
/// there, and walking them is slow or has side effects (autofs mounts on access). Filesystems where
/// users create files are walked even when they cannot hold xattrs today (ramfs, mqueue, hugetlbfs
/// answer EOPNOTSUPP on 6.18, which the walk notes once per mount): a later kernel may let them.
/// devtmpfs is walked: root can make any node there, and /dev is where a planted file hides.
const PSEUDO: &[&str] = &[
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "devpts",
    "debugfs",
    "tracefs",
    "securityfs",
    "bpf",
    "pstore",
    "efivarfs",
    "configfs",
    "fusectl",
    "binfmt_misc",
    "autofs",
    "rpc_pipefs",
    "nsfs",
    "selinuxfs",
    "smackfs",
    "nfsd",
];

/// Network and user-space filesystems (every `fuse.*` too).
const REMOTE: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "ncpfs",
    "afs",
    "ceph",
    "glusterfs",
    "lustre",
    "gpfs",
    "9p",
    "virtiofs",
    "davfs",
    "sshfs",
    "fuse",
    "fuseblk",
    "ocfs2",
    "gfs2",
];

/// Classifies a filesystem type as mountinfo names it.
pub fn fs_kind(fs_type: &str) -> FsKind {
    if PSEUDO.contains(&fs_type) {
        FsKind::Pseudo
    } else if REMOTE.contains(&fs_type) || fs_type.starts_with("fuse.") {
        FsKind::Remote
    } else {
        FsKind::Local
    }
}

/// The mounts visible to this process.
#[derive(Clone, Debug, Default)]
pub struct MountTable {
    mounts: Vec<Mount>,
    /// The mountinfo file it was read from, to read again when the walk meets a mount it does not know.
    source: Option<PathBuf>,
}

/// The most of a mountinfo file read again during a walk: a namespace of a hundred thousand mounts.
const MOUNTINFO_LIMIT: u64 = 32 << 20;

impl MountTable {
    /// Reads /proc/self/mountinfo.
    pub fn read() -> io::Result<MountTable> {
        let source = PathBuf::from("/proc/self/mountinfo");
        let text = fs::read(&source)?;
        let mut table = MountTable::parse(&text);
        table.source = Some(source);
        Ok(table)
    }

    /// The mounts of the process whose root directory `/proc/PID/root` is, for a walk under it: the
    /// process's own /proc/PID/mountinfo (its mount namespace, not this one), each mount point (which the
    /// kernel writes relative to that process's root) placed below `root`, the canonical path of
    /// /proc/PID/root as seen from here.
    pub fn read_of_process(pid: u32, root: &[u8]) -> io::Result<MountTable> {
        let source = PathBuf::from(format!("/proc/{pid}/mountinfo"));
        let text = fs::read(&source)?;
        let mut table = MountTable::parse(&text);
        table.source = Some(source);
        let prefix = root.strip_suffix(b"/").unwrap_or(root);
        for mount in &mut table.mounts {
            if !prefix.is_empty() {
                let mut point = prefix.to_vec();
                if mount.mount_point != b"/" {
                    point.extend_from_slice(&mount.mount_point);
                }
                mount.mount_point = point;
            }
        }
        Ok(table)
    }

    /// Parses mountinfo text; malformed lines are skipped.
    pub fn parse(text: &[u8]) -> MountTable {
        let mounts = text.split(|&b| b == b'\n').filter_map(parse_line).collect();
        MountTable {
            mounts,
            source: None,
        }
    }

    /// The mountinfo file the table was read from, if it was read from one.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// The same mountinfo read again, with a bound, for the ids and types of mounts made since. Mount
    /// points are as the file gives them (not placed below a process's root).
    pub fn reread(&self) -> io::Result<MountTable> {
        let source = self
            .source
            .as_deref()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let mut text = Vec::new();
        fs::File::open(source)?
            .take(MOUNTINFO_LIMIT)
            .read_to_end(&mut text)?;
        Ok(MountTable::parse(&text))
    }

    /// The mount with this id (ids are unique while a mount exists).
    pub fn by_id(&self, id: u64) -> Option<&Mount> {
        self.mounts.iter().rev().find(|m| m.id == id)
    }

    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// The mount that holds `path` (an absolute, canonical path): the one with the longest mount point
    /// that is a prefix of it, the last mounted when several share it (a later mount hides an earlier one).
    pub fn mount_of(&self, path: &[u8]) -> Option<&Mount> {
        let mut best: Option<&Mount> = None;
        for mount in &self.mounts {
            if is_under(path, &mount.mount_point)
                && best.is_none_or(|b| mount.mount_point.len() >= b.mount_point.len())
            {
                best = Some(mount);
            }
        }
        best
    }

    /// The mounts strictly below `root` (canonical), keyed by their path relative to it (no leading `/`),
    /// as indexes into `mounts()`. The last mount at each point wins.
    pub fn below(&self, root: &[u8]) -> HashMap<Vec<u8>, usize> {
        let mut out = HashMap::new();
        for (index, mount) in self.mounts.iter().enumerate() {
            let point = &mount.mount_point;
            if point.len() <= root.len() || !is_under(point, root) {
                continue;
            }
            let rel = if root == b"/" {
                &point[1..]
            } else {
                &point[root.len() + 1..]
            };
            out.insert(rel.to_vec(), index);
        }
        out
    }

    /// Index of the mount that holds `path`, as `mount_of` finds it.
    pub fn index_of(&self, path: &[u8]) -> Option<usize> {
        let found = self.mount_of(path)?;
        self.mounts.iter().position(|m| std::ptr::eq(m, found))
    }
}

/// The process and the rest of the path when `path` lies under `/proc/PID/root`: that process's root
/// directory, whose mounts are its own.
pub fn proc_root(path: &[u8]) -> Option<(u32, &[u8])> {
    let rest = path.strip_prefix(b"/proc/")?;
    let cut = rest.iter().position(|&b| b == b'/')?;
    let pid = std::str::from_utf8(&rest[..cut]).ok()?.parse().ok()?;
    let tail = rest[cut..].strip_prefix(b"/root")?;
    (tail.is_empty() || tail.starts_with(b"/")).then_some((pid, tail))
}

/// Whether `path` is `dir` or lies below it, comparing whole components.
fn is_under(path: &[u8], dir: &[u8]) -> bool {
    if dir == b"/" {
        return path.first() == Some(&b'/');
    }
    path.starts_with(dir) && (path.len() == dir.len() || path[dir.len()] == b'/')
}

/// `36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
fn parse_line(line: &[u8]) -> Option<Mount> {
    let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let separator = fields.iter().position(|f| *f == b"-")?;
    if separator < 6 || fields.len() < separator + 2 {
        return None;
    }
    let id = std::str::from_utf8(fields[0]).ok()?.parse().ok()?;
    let dev = std::str::from_utf8(fields[2]).ok()?;
    let (major, minor) = dev.split_once(':')?;
    let fs_type = std::str::from_utf8(fields[separator + 1]).ok()?;
    Some(Mount {
        id,
        dev: (major.parse().ok()?, minor.parse().ok()?),
        mount_point: unescape_octal(fields[4]),
        fs_type: String::from_utf8(unescape_octal(fs_type.as_bytes())).ok()?,
    })
}

/// Undoes the kernel's `\ooo` escapes (space, tab, newline and backslash in mount points).
fn unescape_octal(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' && i + 4 <= field.len() {
            let digits = &field[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(field[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"22 27 0:21 / /proc rw,relatime - proc proc rw\n\
27 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n\
30 27 0:40 / /mnt/my\\040disk rw shared:1 master:2 - nfs4 srv:/x rw\n\
31 27 0:41 / /usr/tmp rw - tmpfs tmpfs rw\n\
32 27 0:42 / /usr/tmp rw - fuse.sshfs host: rw\n\
garbage line\n";

    #[test]
    fn parses_mountinfo() {
        let table = MountTable::parse(SAMPLE);
        assert_eq!(table.mounts().len(), 5);
        assert_eq!(table.mounts()[0].dev, (0, 21));
        assert_eq!(table.mounts()[0].id, 22);
        assert_eq!(table.mounts()[2].mount_point, b"/mnt/my disk");
        assert_eq!(table.mounts()[2].fs_type, "nfs4");
    }

    #[test]
    fn finds_the_mount_holding_a_path() {
        let table = MountTable::parse(SAMPLE);
        assert_eq!(table.mount_of(b"/usr/bin/x").map(|m| m.dev), Some((8, 1)));
        assert_eq!(table.mount_of(b"/proc/1").map(|m| m.dev), Some((0, 21)));
        assert_eq!(table.mount_of(b"/procx").map(|m| m.dev), Some((8, 1)));
        // Two mounts at one point: the later one is visible.
        assert_eq!(table.mount_of(b"/usr/tmp/a").map(|m| m.dev), Some((0, 42)));
    }

    #[test]
    fn lists_mounts_below_a_root() {
        let table = MountTable::parse(SAMPLE);
        let below = table.below(b"/");
        assert_eq!(below.len(), 3);
        assert_eq!(table.mounts()[below[&b"usr/tmp"[..]]].fs_type, "fuse.sshfs");
        let below = table.below(b"/usr");
        assert_eq!(below.keys().collect::<Vec<_>>(), vec![&b"tmp".to_vec()]);
        assert!(table.below(b"/usr/tmp").is_empty());
    }

    #[test]
    fn classifies_filesystems() {
        assert_eq!(fs_kind("proc"), FsKind::Pseudo);
        assert_eq!(fs_kind("cgroup2"), FsKind::Pseudo);
        assert_eq!(fs_kind("nfs4"), FsKind::Remote);
        assert_eq!(fs_kind("fuse.sshfs"), FsKind::Remote);
        assert_eq!(fs_kind("ext4"), FsKind::Local);
        assert_eq!(fs_kind("tmpfs"), FsKind::Local);
        assert_eq!(fs_kind("devtmpfs"), FsKind::Local);
        assert_eq!(fs_kind("ramfs"), FsKind::Local);
        assert_eq!(fs_kind("debugfs"), FsKind::Pseudo);
        assert_eq!(fs_kind("overlay"), FsKind::Local);
    }

    #[test]
    fn proc_roots() {
        assert_eq!(proc_root(b"/proc/12/root"), Some((12, &b""[..])));
        assert_eq!(proc_root(b"/proc/12/root/usr"), Some((12, &b"/usr"[..])));
        assert_eq!(proc_root(b"/proc/12/rootx"), None);
        assert_eq!(proc_root(b"/proc/self/root"), None);
        assert_eq!(proc_root(b"/srv/proc/12/root"), None);
    }

    #[test]
    fn octal_escapes() {
        assert_eq!(unescape_octal(b"a\\040b\\011c\\134"), b"a b\tc\\");
        assert_eq!(unescape_octal(b"bad\\9"), b"bad\\9");
    }
}
