//! The parallel file walk behind capscan: finds every file that carries `security.capability` (and,
//! when asked, every set-uid or set-gid file) with as few syscalls as the kernel allows.
//!
//! Per directory: one `openat2` relative to its parent's descriptor (`O_DIRECTORY|O_NOFOLLOW`, so no path
//! is resolved twice and a symlink swapped in is refused, and `RESOLVE_NO_XDEV`), one `fgetxattr` on
//! it, `getdents64` into a per-thread buffer, one `close`. `RESOLVE_NO_XDEV` is what keeps a root scan
//! from hanging: opening a directory of a FUSE filesystem asks its server (OPENDIR), and a server that
//! never answers would hold the walk for ever. A directory that is a mount point is refused (EXDEV)
//! before anything of it is opened; it is then held with `O_PATH` and its mount id read with
//! `statx(AT_STATX_DONT_SYNC)` and no fields, which asks no filesystem anything, and decided (walked or
//! skipped) as at the start, also when it was mounted after the scan began: a mount the table read at
//! the start does not know sends the walk back to mountinfo for its type. Files can be mount points too:
//! once the mount table changes during the walk (a thread polls mountinfo), each is stat'ed the same way
//! before its value is read. Per entry of any other kind (regular file, symlink, device, FIFO,
//! socket: the kernel lets each hold the value): one `getxattrat(2)` relative to the directory
//! descriptor, with `AT_SYMLINK_NOFOLLOW` (Linux 6.13+; older kernels fall back to `lgetxattr` on the
//! full path). The entry type comes from `d_type`; a file is stat'ed only when the filesystem does not
//! fill it in, or when set-uid files are wanted. No file is ever opened but directories, and no symlink
//! is ever followed.
//!
//! Directories are rayon tasks: each spawns one task per subdirectory, and work stealing keeps every core
//! busy until the last directory. Only hits are kept; the tree is never held in memory. A task holds its
//! parent's descriptor (shared) until it has opened its own directory.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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
    /// The kernel refused to return the value, on every one of several reads: EINVAL (zero length, v1,
    /// a wrong size, stray flags) or ERANGE (longer than 24 bytes). execve of this file fails with the
    /// same error.
    Invalid(Errno),
    /// There is a value, but it cannot be read here: EOVERFLOW, a v3 rootid that is invalid or not
    /// mapped in this user namespace (execve here ignores it).
    Unreadable(Errno),
}

/// The kind of file a value was found on. Every kind but the regular file is only reported when it
/// carries a value: the kernel lets any inode hold `security.capability` (directories, symlinks,
/// devices, FIFOs and sockets too, checked on 6.18), and only a regular file's value counts at execve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    Regular,
    Directory,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
}

impl FileKind {
    /// The name used in the table.
    pub const fn name(self) -> &'static str {
        match self {
            FileKind::Regular => "file",
            FileKind::Directory => "directory",
            FileKind::Symlink => "symlink",
            FileKind::Fifo => "fifo",
            FileKind::Socket => "socket",
            FileKind::CharDevice => "char device",
            FileKind::BlockDevice => "block device",
        }
    }

    /// The name used in JSON (`"type"`).
    pub const fn json_name(self) -> &'static str {
        match self {
            FileKind::CharDevice => "char_device",
            FileKind::BlockDevice => "block_device",
            other => other.name(),
        }
    }

    /// Whether `getcap -r` lists this kind (nftw's FTW_F: anything but a directory or a symlink).
    pub const fn getcap_lists(self) -> bool {
        !matches!(self, FileKind::Directory | FileKind::Symlink)
    }

    pub(crate) fn of(file_type: FileType) -> Option<FileKind> {
        Some(match file_type {
            FileType::RegularFile => FileKind::Regular,
            FileType::Directory => FileKind::Directory,
            FileType::Symlink => FileKind::Symlink,
            FileType::Fifo => FileKind::Fifo,
            FileType::Socket => FileKind::Socket,
            FileType::CharacterDevice => FileKind::CharDevice,
            FileType::BlockDevice => FileKind::BlockDevice,
            FileType::Unknown => return None,
        })
    }
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

    pub(crate) fn from_stat(stat: &rustix::fs::Stat) -> FileMeta {
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
    pub kind: FileKind,
    pub caps: CapRead,
    /// Set when set-uid files were asked for and this one is set-uid or set-gid.
    pub meta: Option<FileMeta>,
}

/// Where the walk reports to. Called from several threads at once.
pub trait Sink: Sync {
    fn found(&self, found: Found);
    /// A path that could not be read; the walk goes on.
    fn error(&self, path: &[u8], err: io::Error);
    /// Something worth saying about a path that is not a failure (a filesystem without xattrs).
    fn note(&self, path: &[u8], text: &str) {
        self.error(path, io::Error::other(text.to_string()));
    }
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
/// Reads of a value the kernel refused before it is called malformed. A value rewritten while it is
/// read (v2 to v3 and back) can come back EINVAL or ERANGE once; a malformed one does every time.
const INVALID_READS: usize = 8;
/// Read buffer: larger than any valid value (24 bytes), so ERANGE means the kernel refused it.
const VALUE_BUFFER: usize = 32;

static NO_GETXATTRAT: AtomicBool = AtomicBool::new(false);
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

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
    /// Each mount id of the table, with its index.
    ids: HashMap<u64, usize>,
    /// Mounts made after the table was read, met by the walk: whether each is walked.
    late: Mutex<HashMap<u64, bool>>,
    /// The mountinfo file, open: poll(2) says when the mount table has changed since.
    mount_events: Option<OwnedFd>,
    /// Set once files may be mounts the walk must not read through: the table changed during the walk
    /// (a file can be a mount point, and getxattr on a FUSE file asks its server), or has a skipped remote
    /// filesystem. Each entry that is not a directory is then stat'ed for its mount id before its value
    /// is read; until then, the walk costs what it always did.
    careful: AtomicBool,
}

/// What to do with a directory on another mount than its parent's.
enum Crossing {
    /// Walk it, as part of the mount with this index in the table (none for a mount made since).
    Enter(Option<usize>),
    Skip,
}

/// What a starting directory needs to decide at each subdirectory.
struct Root {
    /// Length of the starting path plus its separator: what follows is the path relative to it.
    rel_offset: usize,
    /// Mounts strictly below the starting directory, by relative path: index into the table.
    mounts_below: HashMap<Vec<u8>, usize>,
    /// The device of the starting filesystem, for `-x`.
    root_dev: Option<(u32, u32)>,
}

/// A starting directory, opened.
struct Start {
    root: Root,
    fd: OwnedFd,
    path: Vec<u8>,
    mount: Option<usize>,
    mount_id: Option<u64>,
    /// Mounts to walk that the walk from the root cannot reach, because a skipped filesystem lies
    /// between (a tmpfs below sysfs): relative path and index, each walked from its mount point.
    islands: Vec<Island>,
}

/// A mount walked from its own mount point: its path relative to the start, and its index.
type Island = (Vec<u8>, usize);

/// A directory to read: its parent's descriptor and its name there.
struct DirTask {
    parent: Arc<OwnedFd>,
    name: CString,
    path: Vec<u8>,
    mount: Option<usize>,
    /// The parent's mount id, when the kernel gives it.
    parent_mount_id: Option<u64>,
}

/// A directory about to be read: open, and where it is.
struct Dir {
    fd: OwnedFd,
    path: Vec<u8>,
    mount: Option<usize>,
    mount_id: Option<u64>,
}

/// The directory being read, as its subdirectories need to know it.
struct Here<'p> {
    path: &'p [u8],
    mount: Option<usize>,
    mount_id: Option<u64>,
}

/// How to read one entry's value: where it is, and what to call it.
struct Entry<'p> {
    dir: BorrowedFd<'p>,
    name: &'p CStr,
    kind: FileKind,
    mount: Option<usize>,
    meta: Option<FileMeta>,
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
        let ids: HashMap<u64, usize> = mounts
            .mounts()
            .iter()
            .enumerate()
            .map(|(index, mount)| (mount.id, index))
            .collect();
        // Opened before the table is compared with mountinfo again: a mount made in between is seen by
        // one or the other.
        let mount_events = mounts.source().and_then(|source| {
            rustix::fs::open(source, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()
        });
        let guards = !options.all_filesystems || options.one_file_system;
        let remote_skipped = !options.all_filesystems
            && mounts
                .mounts()
                .iter()
                .any(|m| fs_kind(&m.fs_type) == FsKind::Remote);
        let changed = mounts
            .reread()
            .is_ok_and(|now| now.mounts().iter().any(|m| !ids.contains_key(&m.id)));
        Walker {
            options,
            mounts,
            no_xattrs,
            stats,
            ids,
            late: Mutex::new(HashMap::new()),
            mount_events,
            careful: AtomicBool::new(guards && (remote_skipped || changed)),
        }
    }

    /// Whether the walk decides at each mount it crosses: unless every filesystem is walked anyway.
    fn guards_mounts(&self) -> bool {
        !self.options.all_filesystems || self.options.one_file_system
    }

    /// Whether entries must be stat'ed for their mount before their value is read: once the mount
    /// table has changed since the walk began (see `watch_mounts`).
    fn careful(&self) -> bool {
        self.careful.load(Ordering::Relaxed)
    }

    /// Waits, beside the walk, for the mount table to change (poll on mountinfo wakes on any mount or
    /// unmount in the namespace, without reading it), then makes the walk careful; returns then or when
    /// `done` is set. A thread that waits costs the walk nothing per entry.
    fn watch_mounts(&self, events: &OwnedFd, done: &AtomicBool) {
        use rustix::event::{PollFd, PollFlags, Timespec};
        let tick = Timespec {
            tv_sec: 0,
            tv_nsec: 20_000_000,
        };
        while !done.load(Ordering::Relaxed) && !self.careful() {
            let mut fds = [PollFd::new(events, PollFlags::PRI)];
            match rustix::event::poll(&mut fds, Some(&tick)) {
                Ok(_) if fds[0].revents().intersects(PollFlags::PRI | PollFlags::ERR) => {
                    self.careful.store(true, Ordering::Relaxed);
                }
                Ok(_) | Err(Errno::INTR) => {}
                // Not pollable: be careful from here on rather than blind.
                Err(_) => self.careful.store(true, Ordering::Relaxed),
            }
        }
    }

    /// Decides a directory or file whose mount id is not its parent's: a mount of the table as at the
    /// start (by id, so whatever path reached it), else one made since, looked up in mountinfo read
    /// again and walked only if the same rule walks it (a FUSE or remote filesystem is not). A mount
    /// that cannot be found is not walked.
    fn crossing(&self, root: &Root, id: u64, path: &[u8], sink: &dyn Sink) -> Crossing {
        if let Some(&index) = self.ids.get(&id) {
            return if self.enters_mount(root, index) {
                Crossing::Enter(Some(index))
            } else {
                self.stats.skipped_mounts.fetch_add(1, Ordering::Relaxed);
                Crossing::Skip
            };
        }
        let Ok(mut late) = self.late.lock() else {
            return Crossing::Skip;
        };
        let walked = match late.get(&id) {
            Some(&walked) => walked,
            None => {
                let walked = self.late_mount(root, id, path, sink);
                late.insert(id, walked);
                walked
            }
        };
        if walked {
            Crossing::Enter(None)
        } else {
            self.stats.skipped_mounts.fetch_add(1, Ordering::Relaxed);
            Crossing::Skip
        }
    }

    /// Whether a mount made after the walk began is walked; says so once when it is not.
    fn late_mount(&self, root: &Root, id: u64, path: &[u8], sink: &dyn Sink) -> bool {
        let table = self.mounts.reread();
        let found = table.as_ref().ok().and_then(|t| t.by_id(id));
        let Some(mount) = found else {
            sink.note(
                path,
                "mounted during the scan, and not found in the mount table; not walked",
            );
            return false;
        };
        let same_fs = !self.options.one_file_system || root.root_dev == Some(mount.dev);
        let kind_walked = self.options.all_filesystems || fs_kind(&mount.fs_type) == FsKind::Local;
        if same_fs && kind_walked {
            return true;
        }
        if !kind_walked {
            sink.note(
                path,
                &format!(
                    "a {} filesystem mounted during the scan; not walked, as such filesystems are not \
                     (--all-fs enters them)",
                    mount.fs_type
                ),
            );
        }
        false
    }

    /// Walks every starting path, in parallel, on the current rayon pool.
    pub fn walk(&self, roots: &[Vec<u8>], sink: &dyn Sink) {
        raise_fd_limit();
        let (starts, dirs): (Vec<Root>, Vec<_>) = roots
            .iter()
            .filter_map(|path| self.start(path, sink))
            .map(|s| {
                let dir = Dir {
                    fd: s.fd,
                    path: s.path,
                    mount: s.mount,
                    mount_id: s.mount_id,
                };
                (s.root, (dir, s.islands))
            })
            .unzip();
        let done = AtomicBool::new(false);
        std::thread::scope(|threads| {
            if let Some(events) = self.mount_events.as_ref().filter(|_| self.guards_mounts()) {
                let done = &done;
                threads.spawn(move || self.watch_mounts(events, done));
            }
            self.walk_from(starts, dirs, sink);
            done.store(true, Ordering::Relaxed);
        });
    }

    fn walk_from(&self, starts: Vec<Root>, dirs: Vec<(Dir, Vec<Island>)>, sink: &dyn Sink) {
        rayon::scope(|scope| {
            for (root, (dir, islands)) in starts.iter().zip(dirs) {
                for (rel, index) in islands {
                    if let Some(fd) = self.open_island(&dir.fd, &dir.path, &rel, index, sink) {
                        let island = Dir {
                            fd,
                            path: join(&dir.path, &rel),
                            mount: Some(index),
                            mount_id: Some(self.mounts.mounts()[index].id),
                        };
                        scope.spawn(move |scope| self.read_dir(scope, root, island, sink));
                    }
                }
                scope.spawn(move |scope| self.read_dir(scope, root, dir, sink));
            }
        });
    }

    /// Looks at a starting path: anything but a directory is checked at once; a directory is opened and
    /// returned with what its walk needs to know about the mounts below it.
    fn start(&self, path: &[u8], sink: &dyn Sink) -> Option<Start> {
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
        let file_type = FileType::from_raw_mode(stat.st_mode);
        let kind = FileKind::of(file_type)?;
        if kind != FileKind::Directory {
            let meta = (self.options.setuid && kind == FileKind::Regular)
                .then(|| FileMeta::from_stat(&stat));
            let entry = Entry {
                dir: CWD,
                name: &cpath,
                kind,
                mount: None,
                meta,
            };
            self.check(&entry, || path.to_vec(), sink);
            if kind == FileKind::Symlink {
                // A symlink given as a starting path is not followed either.
                sink.error(
                    path,
                    io::Error::other("a symbolic link; not followed (give its target)"),
                );
            }
            return None;
        }
        let fd = match rustix::fs::openat(CWD, &cpath, dir_flags(), Mode::empty()) {
            Ok(fd) => fd,
            Err(err) => {
                sink.error(path, err.into());
                return None;
            }
        };
        let canonical = canonical(path);
        let mount = self.mounts.index_of(&canonical);
        let mount_id = mount_id(fd.as_fd()).unwrap_or(None);
        let root = Root {
            rel_offset: join(path, b"").len(),
            mounts_below: self.mounts.below(&canonical),
            root_dev: mount.map(|i| self.mounts.mounts()[i].dev),
        };
        let islands = self.islands(&root);
        Some(Start {
            root,
            fd,
            path: path.to_vec(),
            mount,
            mount_id,
            islands,
        })
    }

    /// The mounts below a root that are walked but that the walk from the root does not reach: their
    /// nearest enclosing mount below the root is one it skips. Each is walked from its own mount
    /// point; one below it that the walk from it reaches is not listed again. With `-x` there are none:
    /// the walk stays on the starting filesystem.
    fn islands(&self, root: &Root) -> Vec<Island> {
        if self.options.one_file_system {
            return Vec::new();
        }
        let mut out: Vec<Island> = root
            .mounts_below
            .iter()
            .filter(|&(rel, &index)| {
                self.enters_mount(root, index)
                    && enclosing(&root.mounts_below, rel)
                        .is_some_and(|outer| !self.enters_mount(root, outer))
            })
            .map(|(rel, &index)| (rel.clone(), index))
            .collect();
        out.sort();
        out
    }

    /// Opens the mount point of an island from the starting directory, passing through the skipped
    /// filesystems above it without listing them. No symlink is followed on the way, and what is
    /// reached must be the root of that very mount (a mount hidden under a later one is not reachable,
    /// and is not walked). Every directory on the way is checked against `--exclude`. A mount of a
    /// single file (a container masks `/proc/kcore` with `/dev/null`) is checked here, as an entry of
    /// its parent, and `None` is returned.
    fn open_island(
        &self,
        start: &OwnedFd,
        start_path: &[u8],
        rel: &[u8],
        index: usize,
        sink: &dyn Sink,
    ) -> Option<OwnedFd> {
        let full = || join(start_path, rel);
        if self.options.exclusions {
            let mut path = start_path.to_vec();
            for name in rel.split(|&b| b == b'/') {
                path = join(&path, name);
                if sink.excluded(&path, name) {
                    return None;
                }
            }
        }
        let how = rustix::fs::ResolveFlags::NO_SYMLINKS
            | rustix::fs::ResolveFlags::NO_MAGICLINKS
            | rustix::fs::ResolveFlags::BENEATH;
        let path_flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let reached =
            rustix::fs::openat2(start, rel, path_flags, Mode::empty(), how).and_then(|fd| {
                let mask = rustix::fs::StatxFlags::MNT_ID | rustix::fs::StatxFlags::TYPE;
                let statx = rustix::fs::statx(&fd, c"", AtFlags::EMPTY_PATH, mask)?;
                Ok((fd, statx))
            });
        let (fd, statx) = match reached {
            Ok(reached) => reached,
            Err(err) => {
                sink.error(&full(), err.into());
                return None;
            }
        };
        if statx.stx_mnt_id != self.mounts.mounts()[index].id {
            self.stats.skipped_mounts.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let kind = FileKind::of(FileType::from_raw_mode(u32::from(statx.stx_mode)))?;
        if kind == FileKind::Directory {
            return match rustix::fs::openat(&fd, c".", dir_flags(), Mode::empty()) {
                Ok(dir) => Some(dir),
                Err(err) => {
                    sink.error(&full(), err.into());
                    None
                }
            };
        }
        // A file mount: read it by name from its parent directory, which the same rules reach.
        let cut = rel.iter().rposition(|&b| b == b'/')?;
        let (parent, name) = (&rel[..cut], &rel[cut + 1..]);
        let parent_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let parent = rustix::fs::openat2(start, parent, parent_flags, Mode::empty(), how).ok()?;
        let name = CString::new(name).ok()?;
        self.stats.entries.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            dir: parent.as_fd(),
            name: &name,
            kind,
            mount: Some(index),
            meta: None,
        };
        self.check(&entry, full, sink);
        None
    }

    /// Opens a subdirectory and reads it, unless it is on a mount the walk does not enter: its mount is
    /// learnt from an `O_PATH` descriptor, which no filesystem is asked for, before it is opened.
    fn open_dir<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        root: &'s Root,
        task: DirTask,
        sink: &'s dyn Sink,
    ) {
        // The common case in one syscall: a directory that is no mount point (RESOLVE_NO_XDEV refuses
        // one with EXDEV during the lookup, before anything is opened) is on its parent's mount.
        // Anything else (a mount point, an error, a kernel before 5.6) takes the long way below.
        let how = rustix::fs::ResolveFlags::NO_XDEV;
        if self.guards_mounts() && !NO_OPENAT2.load(Ordering::Relaxed) {
            match retrying(|| {
                rustix::fs::openat2(&*task.parent, &*task.name, dir_flags(), Mode::empty(), how)
            }) {
                Ok(fd) => {
                    drop(task.parent);
                    let dir = Dir {
                        fd,
                        path: task.path,
                        mount: task.mount,
                        mount_id: task.parent_mount_id,
                    };
                    return self.read_dir(scope, root, dir, sink);
                }
                Err(Errno::NOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
                Err(_) => {}
            }
        }
        let anchor = match open_retrying(&task.parent, &task.name, anchor_flags()) {
            Ok(fd) => fd,
            Err(err) => return sink.error(&task.path, err.into()),
        };
        drop(task.parent);
        let mut mount = task.mount;
        let mut own_id = task.parent_mount_id;
        if self.guards_mounts() {
            own_id = match mount_id(anchor.as_fd()) {
                Ok(id) => id,
                Err(err) => return sink.error(&task.path, err.into()),
            };
            if let (Some(id), Some(parent)) = (own_id, task.parent_mount_id) {
                if id != parent {
                    match self.crossing(root, id, &task.path, sink) {
                        Crossing::Enter(index) => mount = index,
                        Crossing::Skip => return,
                    }
                }
            }
        }
        match open_retrying(&anchor, c".", dir_flags()) {
            Ok(fd) => {
                drop(anchor);
                let dir = Dir {
                    fd,
                    path: task.path,
                    mount,
                    mount_id: own_id,
                };
                self.read_dir(scope, root, dir, sink)
            }
            Err(err @ (Errno::ACCESS | Errno::PERM)) => {
                // A directory that cannot be read may still carry a value; reading it needs no access.
                // getxattr through the held descriptor's magic link reaches that very directory
                // (getxattrat refuses an O_PATH descriptor).
                let link = format!("/proc/self/fd/{}", anchor.as_raw_fd());
                let read = read_value(|buf| rustix::fs::getxattr(link.as_str(), XATTR_NAME, buf));
                let path = || task.path.clone();
                self.report(read, FileKind::Directory, mount, None, path, sink);
                sink.error(&task.path, err.into());
            }
            Err(err) => sink.error(&task.path, err.into()),
        }
    }

    fn read_dir<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        root: &'s Root,
        dir: Dir,
        sink: &'s dyn Sink,
    ) {
        let Dir {
            fd,
            path,
            mount,
            mount_id,
        } = dir;
        self.check_dir(fd.as_fd(), &path, mount, sink);
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
                let Some(kind) = FileKind::of(file_type) else {
                    continue;
                };
                if kind == FileKind::Directory {
                    let here = Here {
                        path: &path,
                        mount,
                        mount_id,
                    };
                    self.enter_dir(scope, root, &fd, name, here, sink);
                    continue;
                }
                if self.options.exclusions {
                    let full = join(&path, bytes);
                    if sink.excluded(&full, bytes) {
                        continue;
                    }
                }
                let mut entry_mount = mount;
                if self.careful() {
                    match self.file_mount(root, fd.as_fd(), name, mount_id, &path, sink) {
                        Some(Crossing::Enter(index)) => entry_mount = index,
                        Some(Crossing::Skip) => continue,
                        None => {}
                    }
                }
                let entry = Entry {
                    dir: fd.as_fd(),
                    name,
                    kind,
                    mount: entry_mount,
                    meta,
                };
                self.file_in_dir(entry, &path, sink);
            }
        });
        self.stats.entries.fetch_add(entries, Ordering::Relaxed);
        self.stats.directories.fetch_add(1, Ordering::Relaxed);
    }

    /// A file that may be a mount point: its mount id, from a stat that asks no filesystem, and what to
    /// do when it is not the directory's. `None`: the directory's own mount, or nothing to compare.
    fn file_mount(
        &self,
        root: &Root,
        dir: BorrowedFd<'_>,
        name: &CStr,
        dir_mount_id: Option<u64>,
        path: &[u8],
        sink: &dyn Sink,
    ) -> Option<Crossing> {
        let flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::STATX_DONT_SYNC;
        let id = match rustix::fs::statx(dir, name, flags, rustix::fs::StatxFlags::empty()) {
            Ok(statx) => statx_mount_id(&statx)?,
            Err(err) => {
                sink.error(&join(path, name.to_bytes()), err.into());
                return Some(Crossing::Skip);
            }
        };
        if Some(id) == dir_mount_id {
            return None;
        }
        Some(self.crossing(root, id, &join(path, name.to_bytes()), sink))
    }

    fn enter_dir<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        root: &'s Root,
        parent: &Arc<OwnedFd>,
        name: &CStr,
        here: Here<'_>,
        sink: &'s dyn Sink,
    ) {
        let Here {
            path,
            mount,
            mount_id,
        } = here;
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
            parent_mount_id: mount_id,
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

    fn file_in_dir(&self, mut entry: Entry<'_>, path: &[u8], sink: &dyn Sink) {
        let wants_meta = self.options.setuid && entry.kind == FileKind::Regular;
        if wants_meta && entry.meta.is_none() {
            match rustix::fs::statat(entry.dir, entry.name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => entry.meta = Some(FileMeta::from_stat(&stat)),
                Err(err) => return sink.error(&join(path, entry.name.to_bytes()), err.into()),
            }
        }
        if !wants_meta {
            entry.meta = None;
        }
        self.check(&entry, || join(path, entry.name.to_bytes()), sink);
    }

    /// Reads the value of an open directory (fgetxattr: no path, no race).
    fn check_dir(&self, fd: BorrowedFd<'_>, path: &[u8], mount: Option<usize>, sink: &dyn Sink) {
        if mount.is_some_and(|m| self.no_xattrs[m].load(Ordering::Relaxed)) {
            return;
        }
        let read = read_value(|buf| rustix::fs::fgetxattr(fd, XATTR_NAME, buf));
        self.report(
            read,
            FileKind::Directory,
            mount,
            None,
            || path.to_vec(),
            sink,
        );
    }

    /// Reads the value of one entry (never following a symlink) and reports it if it has one (or is
    /// set-uid/set-gid).
    fn check(&self, entry: &Entry<'_>, full_path: impl Fn() -> Vec<u8>, sink: &dyn Sink) {
        let no_xattrs = entry
            .mount
            .is_some_and(|m| self.no_xattrs[m].load(Ordering::Relaxed));
        let read = if no_xattrs {
            Err(Errno::NODATA)
        } else {
            read_value(|buf| {
                if NO_GETXATTRAT.load(Ordering::Relaxed) {
                    return lgetxattr_path(&full_path(), buf);
                }
                match getxattrat(entry.dir, entry.name, buf) {
                    Err(Errno::NOSYS) => {
                        NO_GETXATTRAT.store(true, Ordering::Relaxed);
                        lgetxattr_path(&full_path(), buf)
                    }
                    other => other,
                }
            })
        };
        self.report(read, entry.kind, entry.mount, entry.meta, full_path, sink);
    }

    /// Turns a read into a hit, an error, or nothing.
    fn report(
        &self,
        read: Result<CapRead, Errno>,
        kind: FileKind,
        mount: Option<usize>,
        meta: Option<FileMeta>,
        full_path: impl Fn() -> Vec<u8>,
        sink: &dyn Sink,
    ) {
        let caps = match read {
            Ok(caps) => caps,
            Err(Errno::NODATA) => CapRead::Absent,
            // Only a regular file speaks for its filesystem: one that keeps no xattrs on symlinks or
            // special files may still keep them on regular files.
            Err(Errno::OPNOTSUPP) => {
                if kind == FileKind::Regular {
                    self.no_xattrs_at(&full_path(), mount, sink);
                }
                CapRead::Absent
            }
            Err(err) => return sink.error(&full_path(), err.into()),
        };
        let special = meta.filter(|m| m.is_setuid() || m.is_setgid());
        if caps != CapRead::Absent || special.is_some() {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            sink.found(Found {
                path: full_path(),
                kind,
                caps,
                meta: special,
            });
        }
    }

    /// A filesystem answered EOPNOTSUPP: note it once, and ask it no more. A file that is itself a
    /// mount point (a bind-mounted namespace file) speaks for its own mount, not the directory's.
    fn no_xattrs_at(&self, path: &[u8], mount: Option<usize>, sink: &dyn Sink) {
        let real = canonical(path);
        let own = self
            .mounts
            .mounts()
            .iter()
            .rposition(|m| m.mount_point == real);
        if let Some(m) = own.or(mount) {
            let walked = self.options.all_filesystems
                || fs_kind(&self.mounts.mounts()[m].fs_type) == FsKind::Local;
            // A namespace file bind-mounted into /run is nothing to note.
            if !self.no_xattrs[m].swap(true, Ordering::Relaxed) && walked {
                let point = &self.mounts.mounts()[m].mount_point;
                sink.note(
                    point,
                    "the filesystem has no extended attributes, so no file capabilities \
                     (Operation not supported)",
                );
            }
        }
    }
}

/// Reads a value with `read`, again when the kernel refuses it: only a value refused on every read is
/// malformed. NODATA, OPNOTSUPP and other errors are passed on as they are.
fn read_value(mut read: impl FnMut(&mut [u8]) -> Result<usize, Errno>) -> Result<CapRead, Errno> {
    let mut buf = [0u8; VALUE_BUFFER];
    let mut last = Errno::INVAL;
    for attempt in 0..INVALID_READS {
        match read(&mut buf) {
            Ok(len) => return Ok(CapRead::Value(buf[..len.min(buf.len())].to_vec())),
            Err(err @ (Errno::INVAL | Errno::RANGE)) => {
                last = err;
                if attempt > 0 {
                    std::thread::yield_now();
                }
            }
            Err(Errno::OVERFLOW) => return Ok(CapRead::Unreadable(Errno::OVERFLOW)),
            Err(err) => return Err(err),
        }
    }
    Ok(CapRead::Invalid(last))
}

/// The absolute path without symlinks, or the path itself when it cannot be resolved.
fn canonical(path: &[u8]) -> Vec<u8> {
    std::fs::canonicalize(OsStr::from_bytes(path))
        .map(|p| p.into_os_string().into_vec())
        .unwrap_or_else(|_| path.to_vec())
}

/// The nearest mount strictly above `rel` that is itself below the root, if any.
fn enclosing(below: &HashMap<Vec<u8>, usize>, rel: &[u8]) -> Option<usize> {
    let mut rest = rel;
    while let Some(cut) = rest.iter().rposition(|&b| b == b'/') {
        rest = &rest[..cut];
        if let Some(&index) = below.get(rest) {
            return Some(index);
        }
    }
    None
}

/// Opens a subdirectory; out of descriptors (other tasks hold their parents open), waits briefly for
/// them to close some, a bounded number of times.
fn open_retrying(parent: &OwnedFd, name: &CStr, flags: OFlags) -> Result<OwnedFd, Errno> {
    retrying(|| rustix::fs::openat(parent, name, flags, Mode::empty()))
}

/// Runs an open again while the process is out of descriptors, a bounded number of times.
fn retrying(open: impl Fn() -> Result<OwnedFd, Errno>) -> Result<OwnedFd, Errno> {
    let mut tries = 0;
    loop {
        match open() {
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

/// A directory held, not opened: the filesystem's open (FUSE's OPENDIR) is not called.
fn anchor_flags() -> OFlags {
    OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// The mount id of what `fd` refers to, asking its filesystem nothing: no field is requested and
/// AT_STATX_DONT_SYNC is set, so FUSE answers from its cache (or, for a caller its mount does not
/// allow, with the device alone), and the VFS adds the mount id. `None` before Linux 5.8.
fn mount_id(fd: BorrowedFd<'_>) -> Result<Option<u64>, Errno> {
    let flags = AtFlags::EMPTY_PATH | AtFlags::STATX_DONT_SYNC;
    let statx = rustix::fs::statx(fd, c"", flags, rustix::fs::StatxFlags::empty())?;
    Ok(statx_mount_id(&statx))
}

fn statx_mount_id(statx: &rustix::fs::Statx) -> Option<u64> {
    let mask = rustix::fs::StatxFlags::from_bits_retain(statx.stx_mask);
    mask.contains(rustix::fs::StatxFlags::MNT_ID)
        .then_some(statx.stx_mnt_id)
}

/// `dir/name` as nftw (and so `getcap -r`) joins them: the directory's trailing slashes are dropped
/// (all but one when it is nothing but slashes), then one `/` and the name follow.
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let kept = dir.len() - dir.iter().rev().take_while(|&&b| b == b'/').count();
    let dir = &dir[..kept];
    let mut out = Vec::with_capacity(dir.len() + 1 + name.len());
    out.extend_from_slice(dir);
    out.push(b'/');
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
    read_caps_with(|buf| lgetxattr_path(path, buf))
}

/// `read_caps` with another way to getxattr the value (through a descriptor, for `recheck`).
pub(crate) fn read_caps_with(
    read: impl FnMut(&mut [u8]) -> Result<usize, Errno>,
) -> io::Result<CapRead> {
    match read_value(read) {
        Ok(read) => Ok(read),
        Err(Errno::NODATA | Errno::OPNOTSUPP) => Ok(CapRead::Absent),
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_like_nftw() {
        assert_eq!(join(b"/", b"usr"), b"/usr");
        assert_eq!(join(b"///", b"usr"), b"/usr");
        assert_eq!(join(b"a/", b"b"), b"a/b");
        assert_eq!(join(b"a//", b"b"), b"a/b");
        assert_eq!(join(b".//", b"b"), b"./b");
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
