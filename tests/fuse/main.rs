//! capkit-test-fuse: a FUSE filesystem whose server never answers, for the tests that check a scan never
//! waits on one (tests/capscan.rs). It speaks the raw /dev/fuse protocol: FUSE_INIT is answered, so the
//! mount is live, and every later request (OPENDIR, GETATTR, GETXATTR, STATFS, …) is read and left
//! unanswered, as a hostile or wedged server would.
//!
//! `capkit-test-fuse PATH`: opens PATH (a directory or a regular file, walked component by component so
//! that it may be longer than PATH_MAX), then waits for a line on stdin; then mounts over PATH (as root,
//! with mount(2)), prints `mounted` and serves. When stdin ends it detaches the mount and exits, which
//! also aborts the connection: requests still waiting fail with ENOTCONN.

use std::io::{BufRead, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::ExitCode;

use rustix::fs::{FileType, Mode, OFlags};

const FUSE_INIT: u32 = 26;
/// The reply header (`fuse_out_header`) and FUSE_INIT's reply (`fuse_init_out`, protocol 7.23+).
const OUT_HEADER: usize = 16;
const INIT_OUT: usize = 64;
/// A read from /dev/fuse must have room for the largest request (FUSE_MIN_READ_BUFFER is 8 KiB).
const READ_BUFFER: usize = 1 << 20 | 4096;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("capkit-test-fuse: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let target = std::env::args()
        .nth(1)
        .ok_or("usage: capkit-test-fuse PATH")?;
    let target_fd = open_path(&target).map_err(|e| format!("{target}: {e}"))?;
    let stat = rustix::fs::fstat(&target_fd).map_err(|e| format!("{target}: {e}"))?;
    let rootmode = match FileType::from_raw_mode(stat.st_mode) {
        FileType::Directory => "40000",
        FileType::RegularFile => "100000",
        _ => return Err(format!("{target}: neither a directory nor a regular file")),
    };
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    stdin.read_line(&mut line).map_err(|e| e.to_string())?;
    let fuse = rustix::fs::open("/dev/fuse", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| format!("/dev/fuse: {e}"))?;
    let point = format!("/proc/self/fd/{}", target_fd.as_raw_fd());
    let options = std::ffi::CString::new(format!(
        "fd={},rootmode={rootmode},user_id=0,group_id=0,allow_other",
        fuse.as_raw_fd()
    ))
    .map_err(|e| e.to_string())?;
    rustix::mount::mount(
        "capkit-stall",
        point.as_str(),
        "fuse",
        rustix::mount::MountFlags::NOSUID | rustix::mount::MountFlags::NODEV,
        Some(options.as_c_str()),
    )
    .map_err(|e| format!("mount {target}: {e}"))?;
    // Opened again, the path names the mount's root (O_PATH asks the server nothing): what is detached
    // at the end, through the magic link, whatever the path's length.
    let root = open_path(&target).map_err(|e| format!("{target}: {e}"))?;
    std::thread::spawn(move || serve(fuse));
    println!("mounted");
    let _ = std::io::stdout().flush();
    // Until the test is done with the mount.
    while stdin.read_line(&mut line).is_ok_and(|n| n > 0) {}
    let root_point = format!("/proc/self/fd/{}", root.as_raw_fd());
    rustix::mount::unmount(root_point.as_str(), rustix::mount::UnmountFlags::DETACH)
        .map_err(|e| format!("umount {target}: {e}"))?;
    Ok(())
}

/// Opens a path without following symlinks, one component at a time (no PATH_MAX limit).
fn open_path(path: &str) -> rustix::io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let start = if path.starts_with('/') { "/" } else { "." };
    let mut fd = rustix::fs::open(start, flags | OFlags::DIRECTORY, Mode::empty())?;
    for name in path.split('/').filter(|n| !n.is_empty()) {
        fd = rustix::fs::openat(&fd, name, flags, Mode::empty())?;
    }
    Ok(fd)
}

/// Answers FUSE_INIT and nothing else, until the connection ends.
fn serve(fuse: OwnedFd) {
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        let len = match rustix::io::read(&fuse, &mut buf) {
            Ok(len) => len,
            // ENOENT: a request was interrupted before it was read; EINTR: a signal.
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::INTR) => continue,
            Err(_) => return,
        };
        if len < 40 {
            continue;
        }
        let opcode = u32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
        if opcode != FUSE_INIT {
            continue;
        }
        let mut unique = [0u8; 8];
        unique.copy_from_slice(&buf[8..16]);
        let max_readahead = if len >= 52 {
            u32::from_ne_bytes([buf[48], buf[49], buf[50], buf[51]])
        } else {
            0
        };
        let mut reply = Vec::with_capacity(OUT_HEADER + INIT_OUT);
        reply.extend_from_slice(&((OUT_HEADER + INIT_OUT) as u32).to_ne_bytes());
        reply.extend_from_slice(&0i32.to_ne_bytes());
        reply.extend_from_slice(&unique);
        reply.extend_from_slice(&7u32.to_ne_bytes()); // major
        reply.extend_from_slice(&31u32.to_ne_bytes()); // minor
        reply.extend_from_slice(&max_readahead.to_ne_bytes());
        reply.extend_from_slice(&0u32.to_ne_bytes()); // flags
        reply.extend_from_slice(&16u16.to_ne_bytes()); // max_background
        reply.extend_from_slice(&12u16.to_ne_bytes()); // congestion_threshold
        reply.extend_from_slice(&4096u32.to_ne_bytes()); // max_write
        reply.extend_from_slice(&1u32.to_ne_bytes()); // time_gran
        reply.resize(OUT_HEADER + INIT_OUT, 0);
        if rustix::io::write(fuse.as_fd(), &reply).is_err() {
            return;
        }
    }
}
