//! A container image's root filesystem as the runtimes read it before they start a process: its
//! `/etc/passwd` and `/etc/group`, looked up inside the rootfs by the kernel (symlinks never leave it, a
//! FIFO is never opened) and read with a bound. Every caller that predicts a container (`capsim
//! --docker`, `--k8s`, `capscan --exec-as`) reads an image's users here, so they cannot disagree.

use std::io::{self, Read};
use std::path::Path;

use capcore::image_user::Accounts;

/// The most bytes read of an image's passwd or group file; larger ones are cut (runc's scanner would
/// stop at a long line long before).
pub const MAX_ACCOUNT_FILE: u64 = 16 << 20;

/// An image's account files, as bytes; `None` where the image has none, as runc treats a file it cannot
/// open.
#[derive(Clone, Debug, Default)]
pub struct ImageAccounts {
    pub passwd: Option<Vec<u8>>,
    pub group: Option<Vec<u8>>,
}

impl ImageAccounts {
    /// Reads `/etc/passwd` and `/etc/group` inside `rootfs`. A rootfs that cannot be opened is an error;
    /// a missing file is not.
    pub fn read(rootfs: &Path) -> io::Result<ImageAccounts> {
        std::fs::metadata(rootfs)?;
        Ok(ImageAccounts {
            passwd: read_inside(rootfs, b"/etc/passwd"),
            group: read_inside(rootfs, b"/etc/group"),
        })
    }

    /// Names for ids, as the image's files give them (for display only).
    pub fn names(&self) -> (crate::users::Names, crate::users::Names) {
        let parse = |bytes: &Option<Vec<u8>>| {
            crate::users::Names::parse(&String::from_utf8_lossy(
                bytes.as_deref().unwrap_or_default(),
            ))
        };
        (parse(&self.passwd), parse(&self.group))
    }

    pub fn accounts(&self) -> Accounts<'_> {
        Accounts {
            passwd: self.passwd.as_deref(),
            group: self.group.as_deref(),
        }
    }
}

/// The file's bytes, or `None` where runc would find no file: missing, not a regular file, unreadable.
fn read_inside(rootfs: &Path, path: &[u8]) -> Option<Vec<u8>> {
    let file = crate::rootfs::open_regular(rootfs, path).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_ACCOUNT_FILE).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn account_files_are_read_inside_the_image_and_never_block() {
        let dir = std::env::temp_dir().join(format!("capsys-image-{}", std::process::id()));
        let root = dir.join("rootfs");
        std::fs::create_dir_all(root.join("etc/real")).unwrap();
        std::fs::write(
            root.join("etc/real/passwd"),
            b"web:x:1000:1000::/:/bin/sh\n",
        )
        .unwrap();
        // An absolute link is the image's own path, not the host's.
        symlink("/etc/real/passwd", root.join("etc/passwd")).unwrap();
        // A FIFO would block an open for reading until a writer came: never opened.
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("etc/group"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let accounts = ImageAccounts::read(&root).unwrap();
        assert_eq!(
            accounts.passwd.as_deref(),
            Some(&b"web:x:1000:1000::/:/bin/sh\n"[..])
        );
        assert!(accounts.group.is_none());
        std::fs::remove_file(root.join("etc/passwd")).unwrap();
        symlink(
            "../../../../../../../../etc/hostname",
            root.join("etc/passwd"),
        )
        .unwrap();
        assert!(ImageAccounts::read(&root).unwrap().passwd.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
