//! A container image's root filesystem as the runtimes read it before they start a process: its
//! `/etc/passwd` and `/etc/group`, looked up inside the rootfs (symlinks never leave it) and read with a
//! bound. Every caller that predicts a container (`capsim --docker`, `--k8s`, `capscan --exec-as`) reads
//! an image's users here, so they cannot disagree.

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

fn read_inside(rootfs: &Path, path: &[u8]) -> Option<Vec<u8>> {
    let host = crate::rootfs::resolve(rootfs, "/", path).ok()?;
    let file = std::fs::File::open(host).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(MAX_ACCOUNT_FILE).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}
