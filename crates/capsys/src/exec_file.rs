//! The file an execve would take its credentials from, read as the kernel reads it: each file opened as
//! open_exec does (regular file on an exec-allowed mount), its first 256 bytes read with
//! `capcore::script` to follow `#!` to the final interpreter (at most five scripts), and that file's mode,
//! owner, raw `security.capability` and nosuid flag. Where the kernel would stop the exec before any
//! credential rule runs (ENOEXEC, ELOOP, ENOENT, EACCES), the answer is that failure, not a guess.
//!
//! Paths are bytes: an interpreter name that is not UTF-8 is followed like any other.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use capcore::script::{self, Shebang, BINPRM_BUF_SIZE, MAX_SCRIPTS};
use rustix::fs::{Mode, OFlags};

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

/// How open_exec sees one file: its metadata, or the errno execve fails with.
fn open_exec(path: &Path) -> Result<fs::Metadata, (i32, String)> {
    let meta = fs::metadata(path).map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        (errno, format!("cannot be opened: {e}"))
    })?;
    if !meta.is_file() {
        return Err((libc::EACCES, "not a regular file".to_string()));
    }
    if meta.mode() & 0o111 == 0 {
        // generic_permission: without any execute bit, not even CAP_DAC_OVERRIDE may execute it.
        return Err((
            libc::EACCES,
            "no execute bit is set, so nobody may execute it (not even root)".to_string(),
        ));
    }
    let noexec = rustix::fs::statvfs(path)
        .map(|vfs| vfs.f_flag.contains(rustix::fs::StatVfsMountFlags::NOEXEC))
        .unwrap_or(false);
    if noexec {
        return Err((libc::EACCES, "on a noexec mount".to_string()));
    }
    Ok(meta)
}

/// The first 256 bytes, read without blocking on anything that is not a regular file (the path may have
/// been swapped for a FIFO since it was checked).
fn read_head(path: &Path) -> io::Result<Vec<u8>> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )?;
    let stat = rustix::fs::fstat(&fd)?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(io::Error::from_raw_os_error(libc::EACCES));
    }
    let mut head = vec![0u8; BINPRM_BUF_SIZE];
    let mut len = 0;
    while len < head.len() {
        match rustix::io::read(&fd, &mut head[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    head.truncate(len);
    Ok(head)
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
    let mut current = path.to_path_buf();
    let mut scripts: Vec<PathBuf> = Vec::new();
    let mut notes = Vec::new();
    let meta = loop {
        let meta = match open_exec(&current) {
            Ok(meta) => meta,
            Err((errno, why)) if !scripts.is_empty() || errno == libc::EACCES => {
                return Ok(ExecTarget::Fails(ExecFailure {
                    errno,
                    path: current,
                    why,
                    scripts,
                    notes,
                }))
            }
            Err((errno, why)) => {
                return Err(io::Error::new(
                    io::Error::from_raw_os_error(errno).kind(),
                    format!("{}: {why}", current.display()),
                ))
            }
        };
        let head = match read_head(&current) {
            Ok(head) => head,
            Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
                notes.push(FileNote {
                    path: current.clone(),
                    text: format!(
                        "cannot read it to look for a #! line ({err}); the kernel can, and this treats it \
                         as a binary"
                    ),
                });
                break meta;
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
                break meta;
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
                let named = PathBuf::from(OsStr::from_bytes(&interp));
                let next = match root {
                    None => named,
                    Some((root, cwd)) => match crate::rootfs::resolve(root, cwd, &interp) {
                        Ok(found) => found,
                        Err(err) => {
                            scripts.push(current);
                            return Ok(ExecTarget::Fails(ExecFailure {
                                errno: err.raw_os_error().unwrap_or(libc::ENOENT),
                                why: format!(
                                    "the #! interpreter, looked up inside the rootfs: {err}"
                                ),
                                path: named,
                                scripts,
                                notes,
                            }));
                        }
                    },
                };
                if root.is_none() && next.is_relative() {
                    notes.push(FileNote {
                        path: current.clone(),
                        text: "its interpreter is a relative path, which the kernel resolves from the \
                               caller's working directory (here capsim's)"
                            .to_string(),
                    });
                }
                scripts.push(current);
                current = next;
                if scripts.len() > MAX_SCRIPTS {
                    // exec_binprm opens the sixth script's interpreter, then refuses to go deeper.
                    let (errno, why) = match open_exec(&current) {
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
    let real = fs::canonicalize(&current)?;
    let xattr = read_capability_xattr(&real)?;
    let nosuid = rustix::fs::statvfs(&real)
        .map(|vfs| vfs.f_flag.contains(rustix::fs::StatVfsMountFlags::NOSUID))
        .map_err(io::Error::from)?;
    Ok(ExecTarget::Runs(ExecFile {
        path: current,
        scripts,
        mode: meta.mode(),
        owner: meta.uid(),
        group: meta.gid(),
        xattr,
        nosuid,
        notes,
    }))
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
    let mut buf = vec![0u8; 64];
    loop {
        match rustix::fs::lgetxattr(path, "security.capability", &mut buf[..]) {
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
