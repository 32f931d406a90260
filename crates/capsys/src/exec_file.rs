//! The file an execve would take its credentials from, read as the kernel reads it: each file opened as
//! open_exec does (regular file on an exec-allowed mount), its first 256 bytes read with
//! `capcore::script` to follow `#!` to the final interpreter (at most five scripts), and that file's mode,
//! owner, raw `security.capability` and nosuid flag. Where the kernel would stop the exec before any
//! credential rule runs (ENOEXEC, ELOOP, ENOENT, EACCES), the answer is that failure, not a guess.
//!
//! Paths are bytes: an interpreter name that is not UTF-8 is followed like any other.
//!
//! Each file of the chain is looked up once, into an `O_PATH` descriptor, and everything about it (mode,
//! mount flags, `#!` line, xattr) is read through that descriptor: a name looked up again could lead
//! elsewhere (a directory of a scanned tree swapped for a symlink to a host directory between two
//! lookups made root read and report the host's file). Inside a rootfs the lookup is the kernel's
//! `openat2(RESOLVE_IN_ROOT)`, so no symlink, however swapped in, leaves it; a file that is not regular
//! (a device or FIFO swapped in) is never opened for reading.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use capcore::script::{self, Shebang, BINPRM_BUF_SIZE, MAX_SCRIPTS};
use rustix::fs::{FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

/// What the raw xattr read gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XattrRead {
    Absent,
    Value(Vec<u8>),
    /// getxattr refused the value (EINVAL): a v1 value, one with flag bits besides the effective bit, or a
    /// malformed one. Exec honours the first two and fails on the last, and userspace cannot tell which.
    Unreadable(io::ErrorKind, i32),
}

/// Something said about one file of the chain that the prediction cannot check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileNote {
    pub path: PathBuf,
    pub text: String,
}

/// A file as exec would use it.
#[derive(Clone, Debug)]
pub struct ExecFile {
    /// The file whose credentials count: FILE itself or its final `#!` interpreter.
    pub path: PathBuf,
    /// The scripts passed through on the way, outermost first.
    pub scripts: Vec<PathBuf>,
    pub mode: u32,
    /// As the caller's namespace sees them (65534 for an unmapped id).
    pub owner: u32,
    pub group: u32,
    pub xattr: XattrRead,
    pub nosuid: bool,
    /// What could not be checked, said once.
    pub notes: Vec<FileNote>,
}

/// execve fails before credentials are computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecFailure {
    /// The errno execve returns.
    pub errno: i32,
    /// The file it fails on.
    pub path: PathBuf,
    pub why: String,
    /// The scripts passed through before it, outermost first.
    pub scripts: Vec<PathBuf>,
    pub notes: Vec<FileNote>,
}

/// Where following FILE ends.
#[derive(Clone, Debug)]
pub enum ExecTarget {
    Runs(ExecFile),
    Fails(ExecFailure),
}

/// The errno's name, for the errnos an exec of a file can end with here.
pub fn errno_name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EIO => "EIO",
        libc::ENOEXEC => "ENOEXEC",
        libc::EACCES => "EACCES",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ETXTBSY => "ETXTBSY",
        libc::ERANGE => "ERANGE",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ELOOP => "ELOOP",
        libc::ENXIO => "ENXIO",
        _ => return None,
    })
}

/// How open_exec sees one file, held by `fd`: its metadata, or the errno execve fails with.
fn open_exec(fd: BorrowedFd<'_>) -> Result<Stat, (i32, String)> {
    let meta = rustix::fs::fstat(fd).map_err(|e| {
        let e = io::Error::from(e);
        (
            e.raw_os_error().unwrap_or(libc::EIO),
            format!("cannot be opened: {e}"),
        )
    })?;
    if FileType::from_raw_mode(meta.st_mode) != FileType::RegularFile {
        return Err((libc::EACCES, "not a regular file".to_string()));
    }
    if meta.st_mode & 0o111 == 0 {
        // generic_permission: without any execute bit, not even CAP_DAC_OVERRIDE may execute it.
        return Err((
            libc::EACCES,
            "no execute bit is set, so nobody may execute it (not even root)".to_string(),
        ));
    }
    if mount_flags(fd).contains(rustix::fs::StatVfsMountFlags::NOEXEC) {
        return Err((libc::EACCES, "on a noexec mount".to_string()));
    }
    Ok(meta)
}

/// The flags of the mount that holds `fd` (fstatfs works on an O_PATH descriptor).
fn mount_flags(fd: BorrowedFd<'_>) -> rustix::fs::StatVfsMountFlags {
    rustix::fs::fstatvfs(fd).map_or(rustix::fs::StatVfsMountFlags::empty(), |vfs| vfs.f_flag)
}

/// The first 256 bytes of the regular file `fd` holds (as `meta` found it), through a descriptor opened
/// for reading from it, without blocking: should the inode be anything else, nothing is read.
fn read_head(fd: BorrowedFd<'_>, meta: &Stat) -> io::Result<Vec<u8>> {
    let file = crate::rootfs::reopen_for_reading(fd, meta)?;
    let mut head = vec![0u8; BINPRM_BUF_SIZE];
    let mut len = 0;
    while len < head.len() {
        match rustix::io::read(&file, &mut head[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(Errno::INTR) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    head.truncate(len);
    Ok(head)
}

/// Where the names of a chain are looked up: on the host (from the working directory), or inside a
/// rootfs, from its directory, with relative names from the container's working directory.
enum Lookup<'a> {
    Host,
    Root {
        root: &'a Path,
        fd: OwnedFd,
        cwd: &'a str,
    },
}

impl Lookup<'_> {
    /// Looks `name` up once, following symlinks as exec does, into a descriptor.
    fn open(&self, name: &[u8]) -> io::Result<OwnedFd> {
        let flags = OFlags::PATH | OFlags::CLOEXEC;
        match self {
            Lookup::Host => Ok(rustix::fs::open(
                OsStr::from_bytes(name),
                flags,
                Mode::empty(),
            )?),
            Lookup::Root { root, fd, cwd } => {
                crate::rootfs::open_path_in(root, fd.as_fd(), cwd, name)
            }
        }
    }

    /// The name a file of the rootfs is shown by: the host path of what was opened.
    fn shown(&self, fd: BorrowedFd<'_>, name: &[u8]) -> PathBuf {
        let named = PathBuf::from(OsStr::from_bytes(name));
        match self {
            Lookup::Host => named,
            Lookup::Root { .. } => fs::read_link(crate::rootfs::fd_link(fd)).unwrap_or(named),
        }
    }
}

/// Reads FILE, following `#!` lines to the final interpreter as the kernel does. An error is a FILE that
/// cannot be looked at; an exec the kernel would refuse is `ExecTarget::Fails`.
pub fn read_exec_file(path: &Path) -> io::Result<ExecTarget> {
    read_exec_file_in(path, None)
}

/// [`read_exec_file`] for a file inside a container's root filesystem: `root` is the rootfs directory and
/// the container's working directory, and every `#!` interpreter is looked up inside that rootfs
/// ([`crate::rootfs::resolve`]), never on the host. `path` is already a host path inside the rootfs.
pub fn read_exec_file_in(path: &Path, root: Option<(&Path, &str)>) -> io::Result<ExecTarget> {
    let (lookup, first) = match root {
        None => (Lookup::Host, path.as_os_str().as_bytes().to_vec()),
        // A root that is the file itself (a single file scanned) holds no other file to look up.
        Some((root, _)) if path == root => (Lookup::Host, path.as_os_str().as_bytes().to_vec()),
        Some((root, cwd)) => {
            let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
            let fd = rustix::fs::open(root, flags, Mode::empty()).map_err(|e| {
                io::Error::new(
                    io::Error::from(e).kind(),
                    format!("{}: {e}", root.display()),
                )
            })?;
            // The file's path inside the rootfs: looked up there, as the container would.
            let inside = path.strip_prefix(root).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{}: not inside {}", path.display(), root.display()),
                )
            })?;
            let mut first = b"/".to_vec();
            first.extend_from_slice(inside.as_os_str().as_bytes());
            (Lookup::Root { root, fd, cwd }, first)
        }
    };
    let mut current = path.to_path_buf();
    let mut held = lookup.open(&first);
    let mut scripts: Vec<PathBuf> = Vec::new();
    let mut notes = Vec::new();
    let (fd, meta) = loop {
        let opened = held.map_err(|e| {
            (
                e.raw_os_error().unwrap_or(libc::EIO),
                format!("cannot be opened: {e}"),
            )
        });
        let fd = match opened {
            Ok(fd) => fd,
            Err(failed) => return exec_failure(failed, current, scripts, notes),
        };
        let meta = match open_exec(fd.as_fd()) {
            Ok(meta) => meta,
            Err(failed) => return exec_failure(failed, current, scripts, notes),
        };
        let head = match read_head(fd.as_fd(), &meta) {
            Ok(head) => head,
            Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
                notes.push(FileNote {
                    path: current.clone(),
                    text: format!(
                        "cannot read it to look for a #! line ({err}); the kernel can, and this treats it \
                         as a binary"
                    ),
                });
                break (fd, meta);
            }
            Err(err) => {
                return Err(io::Error::new(
                    err.kind(),
                    format!("{}: {err}", current.display()),
                ))
            }
        };
        match script::parse(&head) {
            Shebang::NotScript => {
                if !head.starts_with(b"\x7fELF") {
                    // With no binfmt_misc handler registered nothing else can take it: the kernel's ELF
                    // and script loaders both refuse it.
                    if binfmt_misc_handlers().is_none() {
                        return Ok(ExecTarget::Fails(ExecFailure {
                            errno: libc::ENOEXEC,
                            path: current,
                            why: "neither a #! script nor an ELF binary, and no binfmt_misc handler is \
                                  registered: exec format error"
                                .to_string(),
                            scripts,
                            notes,
                        }));
                    }
                    notes.push(FileNote {
                        path: current.clone(),
                        text: "neither a #! script nor an ELF binary: execve fails with ENOEXEC unless a \
                               binfmt_misc handler takes it"
                            .to_string(),
                    });
                }
                break (fd, meta);
            }
            Shebang::NoExec(why) => {
                return Ok(ExecTarget::Fails(ExecFailure {
                    errno: libc::ENOEXEC,
                    path: current,
                    why: why.describe().to_string(),
                    scripts,
                    notes,
                }))
            }
            Shebang::Interpreter { path: interp, .. } if interp.is_empty() => {
                // A NUL right after the blanks: open_exec looks up the empty name, which is the working
                // directory, and a directory is refused.
                return Ok(ExecTarget::Fails(ExecFailure {
                    errno: libc::EACCES,
                    path: current,
                    why: "the #! line's interpreter name is empty (a NUL byte follows the blanks): the kernel \
                          opens the working directory, which is not a regular file"
                        .to_string(),
                    scripts,
                    notes,
                }));
            }
            Shebang::Interpreter { path: interp, .. } => {
                let next = lookup.open(&interp);
                if let (Lookup::Root { .. }, Err(err)) = (&lookup, &next) {
                    scripts.push(current);
                    return Ok(ExecTarget::Fails(ExecFailure {
                        errno: err.raw_os_error().unwrap_or(libc::ENOENT),
                        why: format!("the #! interpreter, looked up inside the rootfs: {err}"),
                        path: PathBuf::from(OsStr::from_bytes(&interp)),
                        scripts,
                        notes,
                    }));
                }
                if matches!(lookup, Lookup::Host) && !interp.starts_with(b"/") {
                    notes.push(FileNote {
                        path: current.clone(),
                        text: "its interpreter is a relative path, which the kernel resolves from the \
                               caller's working directory (here capsim's)"
                            .to_string(),
                    });
                }
                scripts.push(current);
                current = match &next {
                    Ok(fd) => lookup.shown(fd.as_fd(), &interp),
                    Err(_) => PathBuf::from(OsStr::from_bytes(&interp)),
                };
                held = next;
                if scripts.len() > MAX_SCRIPTS {
                    // exec_binprm opens the sixth script's interpreter, then refuses to go deeper.
                    let opened = held.map_err(|e| {
                        (
                            e.raw_os_error().unwrap_or(libc::EIO),
                            format!("cannot be opened: {e}"),
                        )
                    });
                    let (errno, why) = match opened.and_then(|fd| open_exec(fd.as_fd())) {
                        Err(failed) => failed,
                        Ok(_) => (
                            libc::ELOOP,
                            format!(
                                "more than {MAX_SCRIPTS} #! scripts lead to it: the kernel gives up with ELOOP"
                            ),
                        ),
                    };
                    return Ok(ExecTarget::Fails(ExecFailure {
                        errno,
                        path: current,
                        why,
                        scripts,
                        notes,
                    }));
                }
            }
        }
    };
    if let Some(handlers) = binfmt_misc_handlers() {
        notes.push(FileNote {
            path: path.to_path_buf(),
            text: format!(
                "binfmt_misc handlers are registered ({handlers}); the kernel tries them before #! and ELF, \
                 and when one matches, its interpreter runs instead of what is predicted here"
            ),
        });
    }
    let link = crate::rootfs::fd_link(fd.as_fd());
    let xattr = read_xattr_with(&current, |buf| {
        rustix::fs::getxattr(link.as_str(), "security.capability", buf)
    })?;
    let nosuid = mount_flags(fd.as_fd()).contains(rustix::fs::StatVfsMountFlags::NOSUID);
    Ok(ExecTarget::Runs(ExecFile {
        path: current,
        scripts,
        mode: meta.st_mode,
        owner: meta.st_uid,
        group: meta.st_gid,
        xattr,
        nosuid,
        notes,
    }))
}

/// How a file that cannot be executed ends the chain: the failure execve gives, or for FILE itself an
/// error other than EACCES, FILE cannot be looked at.
fn exec_failure(
    (errno, why): (i32, String),
    path: PathBuf,
    scripts: Vec<PathBuf>,
    notes: Vec<FileNote>,
) -> io::Result<ExecTarget> {
    if !scripts.is_empty() || errno == libc::EACCES {
        return Ok(ExecTarget::Fails(ExecFailure {
            errno,
            path,
            why,
            scripts,
            notes,
        }));
    }
    Err(io::Error::new(
        io::Error::from_raw_os_error(errno).kind(),
        format!("{}: {why}", path.display()),
    ))
}

/// The enabled binfmt_misc entries, by name, when there are any (the kernel checks them first).
fn binfmt_misc_handlers() -> Option<String> {
    let dir = Path::new("/proc/sys/fs/binfmt_misc");
    let status = fs::read_to_string(dir.join("status")).ok()?;
    if status.trim() != "enabled" {
        return None;
    }
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).ok()?.flatten().take(1000) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "status" || name == "register" {
            continue;
        }
        let enabled = fs::read_to_string(entry.path())
            .is_ok_and(|text| text.lines().next() == Some("enabled"));
        if enabled {
            names.push(name);
        }
    }
    names.sort();
    (!names.is_empty()).then(|| names.join(", "))
}

/// The largest value an xattr can have (XATTR_SIZE_MAX): the bound on what is read.
const XATTR_SIZE_MAX: usize = 65536;

/// The raw `security.capability` value through lgetxattr (on the resolved path), whatever its length: a
/// value longer than 24 bytes makes exec fail with ERANGE, so its length matters.
pub fn read_capability_xattr(path: &Path) -> io::Result<XattrRead> {
    read_xattr_with(path, |buf| {
        rustix::fs::lgetxattr(path, "security.capability", buf)
    })
}

/// The raw value as `get` reads it; `path` names the file in an error.
fn read_xattr_with(
    path: &Path,
    get: impl Fn(&mut [u8]) -> Result<usize, Errno>,
) -> io::Result<XattrRead> {
    let mut buf = vec![0u8; 64];
    loop {
        match get(&mut buf[..]) {
            Ok(len) => {
                buf.truncate(len);
                return Ok(XattrRead::Value(buf));
            }
            Err(rustix::io::Errno::NODATA) | Err(rustix::io::Errno::OPNOTSUPP) => {
                return Ok(XattrRead::Absent)
            }
            Err(rustix::io::Errno::RANGE) if buf.len() < XATTR_SIZE_MAX => {
                buf.resize(XATTR_SIZE_MAX, 0);
            }
            Err(
                err @ (rustix::io::Errno::INVAL
                | rustix::io::Errno::OVERFLOW
                | rustix::io::Errno::RANGE),
            ) => {
                return Ok(XattrRead::Unreadable(
                    io::Error::from(err).kind(),
                    err.raw_os_error(),
                ))
            }
            Err(err) => {
                return Err(io::Error::new(
                    io::Error::from(err).kind(),
                    format!(
                        "{}: security.capability: {}",
                        path.display(),
                        io::Error::from(err)
                    ),
                ))
            }
        }
    }
}
