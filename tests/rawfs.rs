//! Files carrying `security.capability` values that the running kernel refuses to write. Such values
//! exist on real disks (written by older kernels, unpacked from images, restored from backups), and
//! capscan and capsim must handle them, but setxattr on some 6.18 builds returns EINVAL for a malformed
//! value even to root. So the tests make them the way they reach a disk without setxattr: written raw
//! into a small ext4 image with debugfs, and the image mounted with a loop device.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const XATTR: &str = "security.capability";

/// One file of an image: its contents come from `source`, and its value, mode (with the set-id bits),
/// owner and group are as given.
pub struct RawFile {
    pub name: String,
    pub source: PathBuf,
    pub value: Vec<u8>,
    pub mode: u32,
    pub owner: u32,
    pub group: u32,
}

/// A mounted ext4 image of raw files, with an optional nosuid view of it; unmounted when dropped.
pub struct RawImage {
    pub dir: PathBuf,
    pub nosuid: Option<PathBuf>,
    /// Mount points, in the order they were made.
    mounts: Vec<PathBuf>,
}

impl Drop for RawImage {
    fn drop(&mut self) {
        // From this process, lazily: a mount point may be a /proc/self/fd/N/... path.
        for mount in self.mounts.iter().rev() {
            let _ = rustix::mount::unmount(mount, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

impl RawImage {
    /// Writes `files` into an ext4 image `work/NAME.ext4` with debugfs and mounts it at `work/NAME`, and
    /// with `nosuid` also at `work/NAME-nosuid` (a nosuid bind mount). Every file reads back with the
    /// value written (or with EINVAL, as the kernel reads a malformed value), or this fails.
    pub fn build(
        work: &Path,
        name: &str,
        files: &[RawFile],
        nosuid: bool,
    ) -> Result<RawImage, String> {
        let debugfs = crate::util::tool("debugfs").ok_or("debugfs (e2fsprogs) is not on PATH")?;
        let mkfs = crate::util::tool("mkfs.ext4").ok_or("mkfs.ext4 (e2fsprogs) is not on PATH")?;
        let image = work.join(format!("{name}.ext4"));
        let mut bytes = 0;
        for file in files {
            let size = std::fs::metadata(&file.source)
                .map_err(|e| format!("{}: {e}", file.source.display()))?
                .len();
            bytes += size / 1024 + 8;
        }
        let blocks = bytes + 2048;
        let inodes = files.len() + 32;
        run(Command::new(mkfs)
            .args(["-q", "-F", "-b", "1024", "-N", &inodes.to_string()])
            .arg(&image)
            .arg(blocks.to_string()))?;
        let script = debugfs_script(work, name, files)?;
        run(Command::new(debugfs)
            .arg("-w")
            .arg("-f")
            .arg(&script)
            .arg(&image))?;
        let dir = work.join(name);
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut raw = RawImage {
            dir: dir.clone(),
            nosuid: None,
            mounts: Vec::new(),
        };
        run(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&dir))?;
        raw.mounts.push(dir.clone());
        if nosuid {
            let view = work.join(format!("{name}-nosuid"));
            std::fs::create_dir(&view).map_err(|e| format!("{}: {e}", view.display()))?;
            run(Command::new("mount").arg("--bind").arg(&dir).arg(&view))?;
            raw.mounts.push(view.clone());
            run(Command::new("mount")
                .args(["-o", "remount,bind,nosuid"])
                .arg(&view))?;
            raw.nosuid = Some(view);
        }
        for file in files {
            raw.check(file)?;
        }
        Ok(raw)
    }

    /// Puts each value on its file, an existing regular file: with setxattr where the kernel takes the
    /// value, otherwise by bind-mounting over the file an image file with the same contents, mode and
    /// owner, and the value. `None` when setxattr took every value. The bind mounts are made from this
    /// process, so a path may go through `/proc/self/fd/N` (a directory deeper than PATH_MAX).
    pub fn put_values(
        work: &Path,
        values: &[(PathBuf, Vec<u8>)],
    ) -> Result<Option<RawImage>, String> {
        let mut refused = Vec::new();
        for (path, value) in values {
            match xattr::set(path, XATTR, value) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => refused.push((path, value)),
                Err(e) => return Err(format!("{}: setxattr: {e}", path.display())),
            }
        }
        if refused.is_empty() {
            return Ok(None);
        }
        let mut files = Vec::new();
        for (index, (path, value)) in refused.iter().enumerate() {
            let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
            // A copy under a plain name: debugfs takes its file names in a command line.
            let source = work.join(format!("f{index}.contents"));
            std::fs::copy(path, &source).map_err(|e| format!("{}: {e}", path.display()))?;
            files.push(RawFile {
                name: format!("f{index}"),
                source,
                value: value.to_vec(),
                mode: meta.mode() & 0o7777,
                owner: meta.uid(),
                group: meta.gid(),
            });
        }
        let mut image = RawImage::build(work, "refused", &files, false)?;
        for (file, (path, _)) in files.iter().zip(&refused) {
            rustix::mount::mount_bind(image.dir.join(&file.name), path.as_path())
                .map_err(|e| format!("{}: bind mount: {e}", path.display()))?;
            image.mounts.push(path.to_path_buf());
        }
        Ok(Some(image))
    }

    /// The file reads back as written: the same value, or an error for a value the kernel will not show
    /// as it is (EINVAL for a malformed one, EOVERFLOW for a rootid it cannot map), never as absent.
    fn check(&self, file: &RawFile) -> Result<(), String> {
        let path = self.dir.join(&file.name);
        match xattr::get(&path, XATTR) {
            Ok(Some(value)) if value == file.value => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOVERFLOW)) => Ok(()),
            other => Err(format!(
                "{}: the image's value reads back as {other:?}",
                file.name
            )),
        }
    }
}

/// Whether the running kernel's setxattr refuses `value` as a `security.capability`, tried on a scratch
/// file in `dir` (answers are cached per value: the rule is the kernel's, not the file's).
pub fn kernel_refuses(dir: &Path, value: &[u8]) -> Result<bool, String> {
    thread_local! {
        static SEEN: std::cell::RefCell<HashMap<Vec<u8>, bool>> = Default::default();
    }
    if let Some(known) = SEEN.with(|seen| seen.borrow().get(value).copied()) {
        return Ok(known);
    }
    let scratch = dir.join(format!(".refuses-{}", std::process::id()));
    std::fs::write(&scratch, b"").map_err(|e| format!("{}: {e}", scratch.display()))?;
    let result = xattr::set(&scratch, XATTR, value);
    let _ = std::fs::remove_file(&scratch);
    let refused = match result {
        Ok(()) => false,
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => true,
        Err(e) => return Err(format!("setxattr {value:02x?}: {e}")),
    };
    SEEN.with(|seen| seen.borrow_mut().insert(value.to_vec(), refused));
    Ok(refused)
}

/// The debugfs commands that write `files` into the image root (lost+found removed, so that the image
/// holds only what the test put there), in a script file under `work`.
fn debugfs_script(work: &Path, name: &str, files: &[RawFile]) -> Result<PathBuf, String> {
    let mut commands = String::from("rmdir lost+found\n");
    for (index, file) in files.iter().enumerate() {
        let value = work.join(format!("{name}-value{index}.bin"));
        std::fs::write(&value, &file.value).map_err(|e| format!("{}: {e}", value.display()))?;
        let name = &file.name;
        let _ = writeln!(commands, "write {} {name}", file.source.display());
        let _ = writeln!(commands, "ea_set -f {} {name} {XATTR}", value.display());
        let _ = writeln!(commands, "sif {name} mode 0{:o}", 0o100_000 | file.mode);
        let _ = writeln!(commands, "sif {name} uid {}", file.owner);
        let _ = writeln!(commands, "sif {name} gid {}", file.group);
    }
    let script = work.join(format!("{name}-debugfs.cmd"));
    std::fs::write(&script, commands).map_err(|e| format!("{}: {e}", script.display()))?;
    Ok(script)
}

/// Runs a command; its stderr is the error when it fails.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
