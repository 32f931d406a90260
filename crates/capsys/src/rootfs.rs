//! Paths inside a container's root filesystem, resolved as the container would see them: component by
//! component with openat and readlinkat from the rootfs directory, every symlink (absolute or relative)
//! read inside the rootfs, `..` stopping at its root. Nothing is ever looked up on the host, so a symlink
//! in an image cannot make capkit read a host file. A file that is read (an image's `/etc/passwd`) is
//! looked up by the kernel in one step instead ([`open_regular`]), so that a directory swapped for a
//! symlink between two steps cannot lead out either.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

/// The kernel's limit on symlinks followed in one lookup (MAXSYMLINKS).
const MAX_SYMLINKS: u32 = 40;
/// Components walked in one lookup, symlink targets included.
const MAX_COMPONENTS: usize = 4096;

/// `path` inside `root` (relative paths from `cwd`, itself inside the rootfs), every symlink followed inside
/// the rootfs. Returns the host path of what it names, with no symlink left in it below `root`.
pub fn resolve(root: &Path, cwd: &str, path: &[u8]) -> io::Result<PathBuf> {
    let root_fd = open_dir(None, root.as_os_str().as_bytes())?;
    let mut pending: Vec<Vec<u8>> = Vec::new();
    push_components(&mut pending, path);
    if !path.starts_with(b"/") {
        push_components(&mut pending, cwd.as_bytes());
    }
    // `pending` is a stack: the next component is its last element.
    let mut dirs: Vec<OwnedFd> = Vec::new();
    let mut names: Vec<Vec<u8>> = Vec::new();
    let mut hops = 0;
    let mut walked = 0;
    while let Some(name) = pending.pop() {
        walked += 1;
        if walked > MAX_COMPONENTS {
            return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
        }
        match name.as_slice() {
            b"." => continue,
            b".." => {
                dirs.pop();
                names.pop();
                continue;
            }
            _ => {}
        }
        let parent = dirs.last().unwrap_or(&root_fd);
        let stat = rustix::fs::statat(parent, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW)?;
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::Symlink => {
                hops += 1;
                if hops > MAX_SYMLINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = rustix::fs::readlinkat(parent, name.as_slice(), Vec::new())?;
                let target = target.as_bytes();
                push_components(&mut pending, target);
                if target.starts_with(b"/") {
                    dirs.clear();
                    names.clear();
                }
            }
            FileType::Directory if !pending.is_empty() => {
                dirs.push(open_dir(Some(parent), &name)?);
                names.push(name);
            }
            _ if !pending.is_empty() => {
                return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
            }
            _ => names.push(name),
        }
    }
    let mut host = root.to_path_buf();
    for name in names {
        host.push(OsStr::from_bytes(&name));
    }
    Ok(host)
}

/// `name` inside the rootfs `root` (open as `root_fd`), relative names from `cwd`, looked up by the
/// kernel in one step into an `O_PATH` descriptor: `openat2(RESOLVE_IN_ROOT)`, so that no symlink,
/// however swapped in, leaves the rootfs; before Linux 5.6, [`resolve`] and an `O_NOFOLLOW` open.
pub fn open_path_in(
    root: &Path,
    root_fd: BorrowedFd<'_>,
    cwd: &str,
    name: &[u8],
) -> io::Result<OwnedFd> {
    let mut inside = Vec::new();
    if !name.starts_with(b"/") {
        inside.extend_from_slice(cwd.as_bytes());
        inside.push(b'/');
    }
    inside.extend_from_slice(name);
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    match rustix::fs::openat2(root_fd, inside.as_slice(), flags, Mode::empty(), how) {
        Err(Errno::NOSYS) => {
            let host = resolve(root, cwd, name)?;
            Ok(rustix::fs::open(
                &host,
                flags | OFlags::NOFOLLOW,
                Mode::empty(),
            )?)
        }
        other => Ok(other?),
    }
}

/// Opens `path` inside `root` for reading when it is a regular file, looked up by [`open_path_in`]; a
/// FIFO, device or directory there is never opened for reading (a FIFO would block, a device open can
/// act), and is `EINVAL`.
pub fn open_regular(root: &Path, path: &[u8]) -> io::Result<File> {
    let root_fd = open_dir(None, root.as_os_str().as_bytes())?;
    let fd = open_path_in(root, root_fd.as_fd(), "/", path)?;
    let meta = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(meta.st_mode) != FileType::RegularFile {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    reopen_for_reading(fd.as_fd(), &meta)
}

/// The magic link of a descriptor: opening it (or getxattr on it) reaches the very inode the descriptor
/// holds, whatever its name leads to now.
pub(crate) fn fd_link(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// A descriptor for reading the very regular file an `O_PATH` descriptor holds (as `meta` found it),
/// opened through its magic link without blocking: should the inode be anything else by then, `EACCES`.
pub(crate) fn reopen_for_reading(fd: BorrowedFd<'_>, meta: &Stat) -> io::Result<File> {
    let file = rustix::fs::open(
        fd_link(fd).as_str(),
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )?;
    let stat = rustix::fs::fstat(&file)?;
    let same = stat.st_dev == meta.st_dev && stat.st_ino == meta.st_ino;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile || !same {
        return Err(io::Error::from_raw_os_error(libc::EACCES));
    }
    Ok(File::from(file))
}

/// Pushes a path's components onto the stack so that the first is popped first.
fn push_components(pending: &mut Vec<Vec<u8>>, path: &[u8]) {
    let parts: Vec<&[u8]> = path
        .split(|&b| b == b'/')
        .filter(|p| !p.is_empty())
        .collect();
    pending.extend(parts.into_iter().rev().map(<[u8]>::to_vec));
}

fn open_dir(parent: Option<&OwnedFd>, name: &[u8]) -> io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = match parent {
        Some(dir) => rustix::fs::openat(dir, name, flags, Mode::empty())?,
        None => rustix::fs::open(name, flags, Mode::empty())?,
    };
    Ok(fd)
}

/// What runc's exec.LookPath finds for `name` in the container: a name with a `/` as it is (from `cwd`),
/// a bare name in each directory of `path_env` (`PATH` of process.env; an empty entry is the cwd) until a
/// regular file with an execute bit. `Ok(None)` when no directory has one.
pub fn look_path(
    root: &Path,
    cwd: &str,
    name: &str,
    path_env: Option<&str>,
) -> io::Result<Option<Found>> {
    if name.contains('/') {
        return resolve(root, cwd, name.as_bytes()).map(|path| {
            Some(Found {
                path,
                relative_entry: None,
            })
        });
    }
    for entry in path_env.unwrap_or("").split(':').take(MAX_COMPONENTS) {
        let dir = if entry.is_empty() { "." } else { entry };
        let candidate = format!("{dir}/{name}");
        let Ok(found) = resolve(root, cwd, candidate.as_bytes()) else {
            continue;
        };
        let executable = std::fs::symlink_metadata(&found).is_ok_and(|meta| {
            use std::os::unix::fs::PermissionsExt;
            meta.is_file() && meta.permissions().mode() & 0o111 != 0
        });
        if executable {
            return Ok(Some(Found {
                path: found,
                relative_entry: (!entry.starts_with('/')).then(|| entry.to_string()),
            }));
        }
    }
    Ok(None)
}

/// A file [`look_path`] found.
#[derive(Debug)]
pub struct Found {
    /// Its host path inside the rootfs.
    pub path: PathBuf,
    /// The PATH entry it was found through, when that entry is not absolute (`""`, `.`, `bin`): Go's
    /// exec.LookPath (1.19 and later) refuses such a find with ErrDot.
    pub relative_entry: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_stay_inside_the_root() {
        let dir = std::env::temp_dir().join(format!("capsys-rootfs-{}", std::process::id()));
        let root = dir.join("rootfs");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("bin/busybox"), b"x").unwrap();
        symlink("/bin/busybox", root.join("usr/bin/abs")).unwrap();
        symlink("../../../../../bin/busybox", root.join("usr/bin/rel")).unwrap();
        symlink("/etc/passwd", root.join("bin/host")).unwrap();
        symlink("loop", root.join("bin/loop")).unwrap();
        let want = root.join("bin/busybox");
        assert_eq!(resolve(&root, "/", b"/usr/bin/abs").unwrap(), want);
        assert_eq!(resolve(&root, "/usr", b"bin/rel").unwrap(), want);
        assert_eq!(resolve(&root, "/", b"/../../bin/./busybox").unwrap(), want);
        // The host's /etc/passwd is never what the link names.
        assert!(resolve(&root, "/", b"/bin/host").is_err());
        assert_eq!(
            resolve(&root, "/", b"/bin/loop")
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ELOOP)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
