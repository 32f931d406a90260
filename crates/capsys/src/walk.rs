//! The parallel file walk behind capscan: finds every regular file that carries `security.capability`
//! (and, when asked, every set-uid or set-gid file) with as few syscalls as the kernel allows.
//!
//! Per directory: one `openat` relative to its parent's descriptor (`O_DIRECTORY|O_NOFOLLOW`, so no path
//! is resolved twice and a symlink swapped in is refused), `getdents64` into a per-thread buffer, one
//! `close`. Per regular file: one `getxattrat(2)` relative to the directory descriptor, with
//! `AT_SYMLINK_NOFOLLOW` (Linux 6.13+; older kernels fall back to `lgetxattr` on the full path). The entry
//! type comes from `d_type`; a file is stat'ed only when the filesystem does not fill it in, or when
//! set-uid files are wanted. No regular file is ever opened and no symlink is ever followed.
//!
//! Directories are rayon tasks: each spawns one task per subdirectory, and work stealing keeps every core
//! busy until the last directory. Only hits are kept; the tree is never held in memory. A task holds its
//! parent's descriptor (shared) until it has opened its own directory.

use std::cell::RefCell;
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir, CWD};
use rustix::io::Errno;

use crate::mounts::{fs_kind, FsKind, MountTable};

/// What reading `security.capability` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CapRead {
    /// No value (or a filesystem without xattrs).
    Absent,
    /// The value, as getxattr returned it (the kernel has already checked its shape).
    Value(Vec<u8>),
    /// The kernel refused to return the value: EINVAL (zero length, v1, a wrong size, stray flags) or
    /// ERANGE (longer than 24 bytes). execve of this file fails with the same error.
    Invalid(Errno),
}

/// Owner and mode of a file, for set-uid and set-gid reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileMeta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl FileMeta {
    pub fn is_setuid(&self) -> bool {
        self.mode & 0o4000 != 0
    }

    pub fn is_setgid(&self) -> bool {
        // Set-gid without group execute is mandatory locking, not privilege.
        self.mode & 0o2010 == 0o2010
    }

    fn from_stat(stat: &rustix::fs::Stat) -> FileMeta {
        FileMeta {
            mode: stat.st_mode,
            uid: stat.st_uid,
            gid: stat.st_gid,
        }
    }
}

/// One file worth reporting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The path, built from the starting path as given.
    pub path: Vec<u8>,
    pub caps: CapRead,
    /// Set when set-uid files were asked for and this one is set-uid or set-gid.
    pub meta: Option<FileMeta>,
}

/// Where the walk reports to. Called from several threads at once.
pub trait Sink: Sync {
    fn found(&self, found: Found);
    /// A path that could not be read; the walk goes on.
    fn error(&self, path: &[u8], err: io::Error);
    /// Whether a path (with its last component `name`) is excluded; directories are then not entered.
    fn excluded(&self, _path: &[u8], _name: &[u8]) -> bool {
        false
    }
}

/// How to walk.
#[derive(Clone, Copy, Debug, Default)]
pub struct WalkOptions {
    /// Stay on the filesystem of each starting path (`-x`).
    pub one_file_system: bool,
    /// Enter pseudo and remote filesystems too.
    pub all_filesystems: bool,
    /// Stat regular files and report set-uid and set-gid ones.
    pub setuid: bool,
    /// Ask the sink about exclusions (it costs a path per entry).
    pub exclusions: bool,
}

/// Counters, readable while the walk runs (for a progress line).
#[derive(Debug, Default)]
pub struct WalkStats {
    pub entries: AtomicU64,
    pub directories: AtomicU64,
    pub hits: AtomicU64,
    pub skipped_mounts: AtomicU64,
}

const XATTR_NAME: &CStr = c"security.capability";
/// getxattrat(2): the same number on every architecture (the unified syscall table).
const SYS_GETXATTRAT: libc::c_long = 464;
/// getdents64 buffer per thread: big enough that most directories take one call (plus the empty one).
const DIRENT_BUFFER: usize = 32 * 1024;

static NO_GETXATTRAT: AtomicBool = AtomicBool::new(false);

thread_local! {
    static DIRENTS: RefCell<Vec<MaybeUninit<u8>>> =
        RefCell::new(vec![MaybeUninit::uninit(); DIRENT_BUFFER]);
}

/// The walk over one set of starting paths.
pub struct Walker<'a> {
    options: WalkOptions,
    mounts: MountTable,
    /// Set once a filesystem answered EOPNOTSUPP: its files are not asked again.
    no_xattrs: Vec<AtomicBool>,
    stats: &'a WalkStats,
}

/// What a starting directory needs to decide at each subdirectory.
struct Root {
    /// Length of the starting path plus its separator: what follows is the path relative to it.
    rel_offset: usize,
    /// Mounts strictly below the starting directory, by relative path: index into the table.
    mounts_below: std::collections::HashMap<Vec<u8>, usize>,
    /// The device of the starting filesystem, for `-x`.
    root_dev: Option<(u32, u32)>,
}

/// A directory to read: its parent's descriptor and its name there.
struct DirTask {
    parent: Arc<OwnedFd>,
    name: CString,
    path: Vec<u8>,
    mount: Option<usize>,
}

impl<'a> Walker<'a> {
    /// A walker. Setting `CAPKIT_NO_GETXATTRAT=1` in the environment makes it read xattrs the way it
    /// does on kernels before 6.13 (lgetxattr on the whole path), so that path can be tested here.
    pub fn new(options: WalkOptions, mounts: MountTable, stats: &'a WalkStats) -> Walker<'a> {
        if std::env::var_os("CAPKIT_NO_GETXATTRAT").is_some_and(|v| v == "1") {
            NO_GETXATTRAT.store(true, Ordering::Relaxed);
        }
        let no_xattrs = mounts
            .mounts()
            .iter()
            .map(|_| AtomicBool::new(false))
            .collect();
        Walker {
            options,
            mounts,
            no_xattrs,
            stats,
        }
    }

    /// Walks every starting path, in parallel, on the current rayon pool.
    pub fn walk(&self, roots: &[Vec<u8>], sink: &dyn Sink) {
        raise_fd_limit();
        let mut starts = Vec::new();
        let mut dirs = Vec::new();
        for path in roots {
            if let Some((root, fd, mount)) = self.start(path, sink) {
                starts.push(root);
                dirs.push((fd, mount, path.clone()));
            }
        }
        rayon::scope(|scope| {
            for (root, (fd, mount, path)) in starts.iter().zip(dirs) {
                scope.spawn(move |scope| self.read_dir(scope, root, fd, path, mount, sink));
            }
        });
    }

    /// Looks at a starting path: a regular file is checked at once; a directory is opened and returned
    /// with what its walk needs to know about the mounts below it.
    fn start(&self, path: &[u8], sink: &dyn Sink) -> Option<(Root, OwnedFd, Option<usize>)> {
        let Ok(cpath) = CString::new(path) else {
            sink.error(path, io::Error::from(io::ErrorKind::InvalidInput));
            return None;
        };
        let stat = match rustix::fs::statat(CWD, &cpath, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(err) => {
                sink.error(path, err.into());
                return None;
            }
        };
        self.stats.entries.fetch_add(1, Ordering::Relaxed);
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => {
                let meta = self.options.setuid.then(|| FileMeta::from_stat(&stat));
                self.check_file(CWD, &cpath, path, None, meta, sink);
                None
            }
            FileType::Directory => {
                let fd = match rustix::fs::openat(CWD, &cpath, dir_flags(), Mode::empty()) {
                    Ok(fd) => fd,
                    Err(err) => {
                        sink.error(path, err.into());
                        return None;
                    }
                };
                let canonical = std::fs::canonicalize(OsStr::from_bytes(path))
                    .map(|p| p.into_os_string().into_vec())
                    .unwrap_or_else(|_| path.to_vec());
                let mount = self.mounts.index_of(&canonical);
                let root = Root {
                    rel_offset: if path.ends_with(b"/") {
                        path.len()
                    } else {
                        path.len() + 1
                    },
                    mounts_below: self.mounts.below(&canonical),
                    root_dev: mount.map(|i| self.mounts.mounts()[i].dev),
                };
                Some((root, fd, mount))
            }
            // A symlink given as a starting path is not followed either.
            FileType::Symlink => {
                sink.error(
                    path,
                    io::Error::other("a symbolic link; not followed (give its target)"),
                );
                None
            }
            _ => None,
        }
    }

    fn open_dir<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        root: &'s Root,
        task: DirTask,
        sink: &'s dyn Sink,
    ) {
        let opened = open_retrying(&task.parent, &task.name);
        drop(task.parent);
        match opened {
            Ok(fd) => self.read_dir(scope, root, fd, task.path, task.mount, sink),
            Err(err) => sink.error(&task.path, err.into()),
        }
    }

    fn read_dir<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        root: &'s Root,
        fd: OwnedFd,
        path: Vec<u8>,
        mount: Option<usize>,
        sink: &'s dyn Sink,
    ) {
        let fd = Arc::new(fd);
        let mut entries = 0u64;
        DIRENTS.with(|cell| {
            let mut fresh;
            let mut borrowed;
            let buf: &mut [MaybeUninit<u8>] = match cell.try_borrow_mut() {
                Ok(b) => {
                    borrowed = b;
                    &mut borrowed[..]
                }
                Err(_) => {
                    fresh = vec![MaybeUninit::uninit(); DIRENT_BUFFER];
                    &mut fresh[..]
                }
            };
            let mut dir = RawDir::new(fd.as_fd(), buf);
            while let Some(entry) = dir.next() {
                let entry = match entry {
                    Ok(entry) => entry,
                    Err(err) => {
                        sink.error(&path, err.into());
                        break;
                    }
                };
                let name = entry.file_name();
                let bytes = name.to_bytes();
                if bytes == b"." || bytes == b".." {
                    continue;
                }
                entries += 1;
                let mut file_type = entry.file_type();
                let mut meta = None;
                if file_type == FileType::Unknown {
                    match rustix::fs::statat(fd.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW) {
                        Ok(stat) => {
                            file_type = FileType::from_raw_mode(stat.st_mode);
                            meta = Some(FileMeta::from_stat(&stat));
                        }
                        Err(err) => {
                            sink.error(&join(&path, bytes), err.into());
                            continue;
                        }
                    }
                }
                match file_type {
                    FileType::Directory => {
                        self.enter_dir(scope, root, &fd, name, &path, mount, sink);
                    }
                    FileType::RegularFile => {
                        if self.options.exclusions {
                            let full = join(&path, bytes);
                            if sink.excluded(&full, bytes) {
                                continue;
                            }
                        }
                        self.file_in_dir(fd.as_fd(), name, &path, mount, meta, sink);
                    }
                    _ => {}
                }
            }
        });
        self.stats.entries.fetch_add(entries, Ordering::Relaxed);
        self.stats.directories.fetch_add(1, Ordering::Relaxed);
    }

    #[allow(clippy::too_many_arguments)]
    fn enter_dir<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        root: &'s Root,
        parent: &Arc<OwnedFd>,
        name: &CStr,
        path: &[u8],
        mount: Option<usize>,
        sink: &'s dyn Sink,
    ) {
        let child = join(path, name.to_bytes());
        if self.options.exclusions && sink.excluded(&child, name.to_bytes()) {
            return;
        }
        let mut child_mount = mount;
        if !root.mounts_below.is_empty() {
            let rel = child.get(root.rel_offset..).unwrap_or_default();
            if let Some(&index) = root.mounts_below.get(rel) {
                if !self.enters_mount(root, index) {
                    self.stats.skipped_mounts.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                child_mount = Some(index);
            }
        }
        let task = DirTask {
            parent: Arc::clone(parent),
            name: name.to_owned(),
            path: child,
            mount: child_mount,
        };
        scope.spawn(move |scope| self.open_dir(scope, root, task, sink));
    }

    fn enters_mount(&self, root: &Root, index: usize) -> bool {
        let mount = &self.mounts.mounts()[index];
        if self.options.one_file_system && root.root_dev != Some(mount.dev) {
            return false;
        }
        self.options.all_filesystems || fs_kind(&mount.fs_type) == FsKind::Local
    }

    fn file_in_dir(
        &self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        path: &[u8],
        mount: Option<usize>,
        mut meta: Option<FileMeta>,
        sink: &dyn Sink,
    ) {
        if self.options.setuid && meta.is_none() {
            match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => meta = Some(FileMeta::from_stat(&stat)),
                Err(err) => return sink.error(&join(path, name.to_bytes()), err.into()),
            }
        }
        if !self.options.setuid {
            meta = None;
        }
        let full = || join(path, name.to_bytes());
        self.check_file_with(dir, name, full, mount, meta, sink);
    }

    fn check_file(
        &self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        path: &[u8],
        mount: Option<usize>,
        meta: Option<FileMeta>,
        sink: &dyn Sink,
    ) {
        self.check_file_with(dir, name, || path.to_vec(), mount, meta, sink);
    }

    /// Reads the xattr of one regular file and reports it if it has one (or is set-uid/set-gid).
    fn check_file_with(
        &self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        full_path: impl Fn() -> Vec<u8>,
        mount: Option<usize>,
        meta: Option<FileMeta>,
        sink: &dyn Sink,
    ) {
        let no_xattrs = mount.is_some_and(|m| self.no_xattrs[m].load(Ordering::Relaxed));
        let caps = if no_xattrs {
            CapRead::Absent
        } else {
            let mut buf = [0u8; 32];
            let read = if NO_GETXATTRAT.load(Ordering::Relaxed) {
                lgetxattr_path(&full_path(), &mut buf)
            } else {
                match getxattrat(dir, name, &mut buf) {
                    Err(Errno::NOSYS) => {
                        NO_GETXATTRAT.store(true, Ordering::Relaxed);
                        lgetxattr_path(&full_path(), &mut buf)
                    }
                    other => other,
                }
            };
            match read {
                Ok(len) => CapRead::Value(buf[..len.min(buf.len())].to_vec()),
                Err(Errno::NODATA) => CapRead::Absent,
                Err(err @ (Errno::INVAL | Errno::RANGE)) => CapRead::Invalid(err),
                Err(Errno::OPNOTSUPP) => {
                    if let Some(m) = mount {
                        if !self.no_xattrs[m].swap(true, Ordering::Relaxed) {
                            let point = &self.mounts.mounts()[m].mount_point;
                            sink.error(
                                point,
                                io::Error::other(
                                    "the filesystem has no extended attributes, so no file \
                                     capabilities (Operation not supported)",
                                ),
                            );
                        }
                    }
                    CapRead::Absent
                }
                Err(Errno::OVERFLOW) => {
                    sink.error(
                        &full_path(),
                        io::Error::other(
                            "security.capability has a v3 rootid that is invalid or not mapped in \
                             this user namespace: it cannot be read, and execve here ignores it \
                             (EOVERFLOW)",
                        ),
                    );
                    return;
                }
                Err(err) => {
                    sink.error(&full_path(), err.into());
                    return;
                }
            }
        };
        let special = meta.filter(|m| m.is_setuid() || m.is_setgid());
        if caps != CapRead::Absent || special.is_some() {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            sink.found(Found {
                path: full_path(),
                caps,
                meta: special,
            });
        }
    }
}

/// Opens a subdirectory; out of descriptors (other tasks hold their parents open), waits briefly for
/// them to close some, a bounded number of times.
fn open_retrying(parent: &OwnedFd, name: &CStr) -> Result<OwnedFd, Errno> {
    let mut tries = 0;
    loop {
        match rustix::fs::openat(parent, name, dir_flags(), Mode::empty()) {
            Err(Errno::MFILE | Errno::NFILE) if tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// `dir/name`, without doubling a trailing slash (as nftw and so `getcap -r` join them).
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(dir.len() + 1 + name.len());
    out.extend_from_slice(dir);
    if !dir.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

/// `struct xattr_args` of getxattrat(2).
#[repr(C)]
struct XattrArgs {
    value: u64,
    size: u32,
    flags: u32,
}

/// getxattrat(dir, name, AT_SYMLINK_NOFOLLOW, "security.capability"). Neither rustix 1.1 nor libc 0.2
/// wraps it (libc 0.2.191 does not even define its number for x86_64), so it is a raw syscall.
fn getxattrat(dir: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
    let mut args = XattrArgs {
        value: buf.as_mut_ptr() as u64,
        size: buf.len() as u32,
        flags: 0,
    };
    // SAFETY: every pointer is valid for the call: `name` and XATTR_NAME are NUL-terminated, `args` points
    // at `buf` with its true length and lives across the call, and the size passed is that of `args`.
    let ret = unsafe {
        libc::syscall(
            SYS_GETXATTRAT,
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            XATTR_NAME.as_ptr(),
            &mut args as *mut XattrArgs,
            std::mem::size_of::<XattrArgs>(),
        )
    };
    if ret < 0 {
        let code = io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        Err(Errno::from_raw_os_error(code))
    } else {
        Ok(ret as usize)
    }
}

/// The fallback for kernels before 6.13: lgetxattr on the whole path (the kernel walks it again).
fn lgetxattr_path(path: &[u8], buf: &mut [u8]) -> Result<usize, Errno> {
    let path = CString::new(path).map_err(|_| Errno::INVAL)?;
    rustix::fs::lgetxattr(&path, XATTR_NAME, buf)
}

/// A deep, wide tree keeps many directory descriptors open at once; lift the soft limit to the hard one.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}

/// Reads a single path's capability value without following a symlink (for audits and tests).
pub fn read_caps(path: &[u8]) -> io::Result<CapRead> {
    let mut buf = [0u8; 32];
    match lgetxattr_path(path, &mut buf) {
        Ok(len) => Ok(CapRead::Value(buf[..len.min(buf.len())].to_vec())),
        Err(Errno::NODATA) | Err(Errno::OPNOTSUPP) => Ok(CapRead::Absent),
        Err(err @ (Errno::INVAL | Errno::RANGE)) => Ok(CapRead::Invalid(err)),
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_like_nftw() {
        assert_eq!(join(b"/", b"usr"), b"/usr");
        assert_eq!(join(b"a/", b"b"), b"a/b");
        assert_eq!(join(b"a", b"b"), b"a/b");
    }

    #[test]
    fn setgid_needs_group_execute() {
        let meta = |mode| FileMeta {
            mode,
            uid: 0,
            gid: 0,
        };
        assert!(meta(0o104755).is_setuid());
        assert!(meta(0o102755).is_setgid());
        assert!(!meta(0o102644).is_setgid());
    }
}
