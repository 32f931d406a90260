//! A second look at one file the walk reported, for output that pairs its capabilities with its mode and
//! owner (`capscan --ecs`). The walk reads `security.capability` without a stat; a stat taken later by path
//! may describe another file, put there by whoever can write the directory. Here the path is opened once
//! with O_PATH (no symlink followed), and the stat and a second read of the value both come from that
//! descriptor, so they describe one inode; the caller compares the value with the walk's.

use std::ffi::CString;
use std::io;

use rustix::fd::AsRawFd;
use rustix::fs::{FileType, Mode, OFlags, CWD};

use crate::walk::{read_caps_with, CapRead, FileKind, FileMeta};

/// One inode's stat and `security.capability`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recheck {
    /// The whole `st_mode` (type and permission bits), uid and gid.
    pub meta: FileMeta,
    pub inode: u64,
    /// `None` for a type the walk does not know.
    pub kind: Option<FileKind>,
    pub caps: CapRead,
}

/// Opens `path` without following a final symlink and reads its stat and `security.capability` through
/// the one descriptor.
pub fn recheck(path: &[u8]) -> io::Result<Recheck> {
    let cpath = CString::new(path).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(CWD, &cpath, flags, Mode::empty())?;
    let stat = rustix::fs::fstat(&fd)?;
    // An O_PATH descriptor refuses fgetxattr; its /proc link leads getxattr to this very inode (to a
    // symlink itself, not on to its target: the link is not followed twice).
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let caps =
        read_caps_with(|buf| rustix::fs::getxattr(link.as_str(), "security.capability", buf))?;
    Ok(Recheck {
        meta: FileMeta::from_stat(&stat),
        inode: stat.st_ino,
        kind: FileKind::of(FileType::from_raw_mode(stat.st_mode)),
        caps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_is_not_followed() {
        let dir = std::env::temp_dir().join(format!("capsys-recheck-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("file");
        let link = dir.join("link");
        std::fs::write(&file, b"x").unwrap();
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let bytes = |p: &std::path::Path| p.as_os_str().as_encoded_bytes().to_vec();
        let plain = recheck(&bytes(&file)).unwrap();
        assert_eq!(plain.kind, Some(FileKind::Regular));
        assert_eq!(plain.caps, CapRead::Absent);
        assert_eq!(
            recheck(&bytes(&link)).unwrap().kind,
            Some(FileKind::Symlink)
        );
        assert!(recheck(&bytes(&dir.join("gone"))).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
