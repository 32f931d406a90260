//! A copy of the kernel's text symbols kept between runs: the kernel takes 50 to 60 ms to write
//! /proc/kallsyms out, most of captrace's start-up, and what it writes changes only with a reboot or a
//! module (un)loaded. So the text symbols read once are kept in `/run/capkit/kallsyms`, headed by the
//! boot's id and a hash of the loaded modules and their addresses; a copy whose header differs is read
//! again from the kernel. BPF programs' symbols (`[bpf]`, `[__builtin__…]`) come and go and are never
//! kept: no frame the tracer classifies is in them.
//!
//! Only root may have written what is read: the directory and the file must be owned by uid 0 and open to
//! nobody else, and neither may be a symlink; anything else is ignored (and never written through). The
//! copy is an optimisation, never a source of truth: any failure to read or write it reads the kernel.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};

/// Where the copy lives: a tmpfs on every systemd machine, emptied at boot.
pub const CACHE_DIR: &str = "/run/capkit";
const CACHE_FILE: &str = "kallsyms";
/// Bumped when the copy's layout changes.
const FORMAT: &str = "capkit-kallsyms 1";
/// The most read of the copy, as of /proc/kallsyms.
const MAX_BYTES: u64 = 64 << 20;
/// The most read of /proc/modules and of the boot id.
const MAX_SMALL: u64 = 4 << 20;

/// What makes a copy current: the boot, and which modules sit where.
pub fn current_key() -> io::Result<String> {
    let boot = read_bounded(Path::new("/proc/sys/kernel/random/boot_id"), MAX_SMALL)?;
    // /proc/modules may be missing (a kernel without modules): then no module can move.
    let modules = read_bounded(Path::new("/proc/modules"), MAX_SMALL).unwrap_or_default();
    Ok(format!(
        "{FORMAT} {} {:016x}",
        String::from_utf8_lossy(&boot).trim(),
        modules_hash(&modules)
    ))
}

/// FNV-1a of each module's name and load address (`/proc/modules` fields 1 and 6); its use count and
/// state change all the time and say nothing about where its code is.
fn modules_hash(modules: &[u8]) -> u64 {
    let mut hash = crate::FNV_OFFSET;
    for line in String::from_utf8_lossy(modules).lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let (Some(name), Some(addr)) = (fields.first(), fields.get(5)) else {
            continue;
        };
        for byte in name
            .bytes()
            .chain([b' '])
            .chain(addr.bytes())
            .chain([b'\n'])
        {
            hash = crate::fnv1a(hash, byte);
        }
    }
    hash
}

/// The kept text symbols in kallsyms' own format, when `dir` holds a copy root wrote for `key`.
pub fn load(dir: &Path, key: &str) -> Option<String> {
    let dir = open_private_dir(dir)?;
    let file = rustix::fs::openat(
        &dir,
        CACHE_FILE,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let stat = rustix::fs::fstat(&file).ok()?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile || !private(&stat) {
        return None;
    }
    let mut bytes = Vec::new();
    File::from(file)
        .take(MAX_BYTES)
        .read_to_end(&mut bytes)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (header, symbols) = text.split_once('\n')?;
    (header == key).then(|| symbols.to_string())
}

/// Keeps `lines` (kallsyms lines, each ending in a newline) for `key`: written to an unnamed file in `dir`
/// (`O_TMPFILE`) that is linked in only once whole, so a reader sees a whole copy or none, and a writer
/// killed halfway (captrace ending before its start-up did) leaves nothing behind. Best effort: errors are
/// returned for the tests, and ignored by the tracer.
pub fn store(dir: &Path, key: &str, lines: &str) -> io::Result<()> {
    match rustix::fs::mkdir(dir, Mode::RWXU) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    let dir = open_private_dir(dir)
        .ok_or_else(|| io::Error::other("not a directory only root may write"))?;
    let file = rustix::fs::openat(
        &dir,
        ".",
        OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
        Mode::RUSR | Mode::WUSR,
    )?;
    let file = write_copy(file, key, lines)?;
    // The old copy goes first: linkat does not replace. A reader in between reads the kernel.
    match rustix::fs::unlinkat(&dir, CACHE_FILE, rustix::fs::AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(e.into()),
    }
    rustix::fs::linkat(&file, "", &dir, CACHE_FILE, rustix::fs::AtFlags::EMPTY_PATH)?;
    Ok(())
}

fn write_copy(file: OwnedFd, key: &str, lines: &str) -> io::Result<File> {
    let mut file = File::from(file);
    file.write_all(key.as_bytes())?;
    file.write_all(b"\n")?;
    file.write_all(lines.as_bytes())?;
    Ok(file)
}

/// `dir` opened without following a symlink, when it is a directory owned by root that no one else may
/// read or write.
fn open_private_dir(dir: &Path) -> Option<OwnedFd> {
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let stat = rustix::fs::fstat(fd.as_fd()).ok()?;
    private(&stat).then_some(fd)
}

/// Owned by root, and nothing for the group or others.
fn private(stat: &rustix::fs::Stat) -> bool {
    stat.st_uid == 0 && stat.st_mode & 0o077 == 0
}

fn read_bounded(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?.take(max).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_copy_is_read_back_for_its_key_only() {
        if !rustix::process::geteuid().is_root() {
            return; // The copy must be root's: a test run as another user cannot make one.
        }
        let base = tempfile::tempdir().expect("tempdir");
        let dir = base.path().join("capkit");
        let lines = "ffffffff81000000 T _stext\nffffffff81000100 T cap_capable\n";
        store(&dir, "k1", lines).expect("store");
        assert_eq!(load(&dir, "k1").as_deref(), Some(lines));
        // Stored again, it is replaced, and nothing else is left in the directory.
        store(&dir, "k1", lines).expect("store again");
        let names: Vec<_> = std::fs::read_dir(&dir).expect("dir").collect();
        assert_eq!(names.len(), 1);
        assert_eq!(load(&dir, "k2"), None);
        // Open to others: never read.
        std::fs::set_permissions(dir.join(CACHE_FILE), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        assert_eq!(load(&dir, "k1"), None);
        std::fs::set_permissions(dir.join(CACHE_FILE), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(load(&dir, "k1"), None);
        assert!(store(&dir, "k1", lines).is_err());
        // A symlink to a good copy is not followed.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let link = base.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).expect("symlink");
        assert_eq!(load(&link, "k1"), None);
        // Owned by another user: never read.
        std::os::unix::fs::chown(dir.join(CACHE_FILE), Some(65534), None).expect("chown");
        assert_eq!(load(&dir, "k1"), None);
    }

    #[test]
    fn modules_are_keyed_by_name_and_address_only() {
        let a = b"ext4 1000 2 - Live 0xffffffffc0000000\nfuse 200 0 - Live 0xffffffffc0100000\n";
        let used =
            b"ext4 1000 5 jbd2, Live 0xffffffffc0000000\nfuse 200 1 - Live 0xffffffffc0100000\n";
        let moved =
            b"ext4 1000 2 - Live 0xffffffffc0000000\nfuse 200 0 - Live 0xffffffffc0200000\n";
        assert_eq!(modules_hash(a), modules_hash(used));
        assert_ne!(modules_hash(a), modules_hash(moved));
        assert_ne!(modules_hash(a), modules_hash(b""));
    }
}
