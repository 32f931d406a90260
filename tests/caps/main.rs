//! capkit-test-caps: a program that does exactly one capability-relevant thing, for captrace's tests
//! (tests/captrace.rs) and its bench (bench/captrace.sh). Test-only.
//!
//! | subcommand                 | what it does                                                               |
//! |----------------------------|----------------------------------------------------------------------------|
//! | `bind [ADDR] PORT`         | a TCP listener on ADDR (default 127.0.0.1) port PORT, closed at once        |
//! | `raw-grandchild`           | starts a child that starts a grandchild, which opens an ICMP raw socket     |
//! | `chown PATH UID GID`       | chown(2) PATH                                                              |
//! | `seccomp`                  | an allow-all seccomp filter, without no_new_privs                          |
//! | `userns-mount`             | a new user and mount namespace, a tmpfs mounted and unmounted in it        |
//! | `setsockopt-loop N`        | N × setsockopt(SO_PRIORITY, 7) on one socket (one CAP_NET_ADMIN check each) |
//! | `sleep SECS`               | prints `ready`, then sleeps                                                |
//! | `exit N`                   | exits with status N                                                        |
//! | `drop-privileges UID GID`  | setgroups([]), setgid(GID), setuid(UID), as a daemon dropping root does    |
//! | `mmap-only`                | allocates and touches 16 MiB: needs no capability                          |
//!
//! Everything goes to stderr (stdout stays free for the tracer's report): `ok SUBCOMMAND` on success and
//! exit 0; `refused SUBCOMMAND: cause (os error N)` and exit 1 when the kernel says no; a usage error
//! exits 2. The parent of `raw-grandchild` exits with the grandchild's status.

#[path = "../shared/seccomp.rs"]
mod seccomp;

use std::io::{self, Write};
use std::net::TcpListener;
use std::process::{exit, Command};
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some((&name, rest)) = words.split_first() else {
        usage("a subcommand is needed")
    };
    let result = match (name, rest) {
        ("bind", [port]) => bind("127.0.0.1", port),
        ("bind", [addr, port]) => bind(addr, port),
        ("raw-grandchild", []) => relay("raw-child"),
        ("raw-child", []) => relay("raw-open"),
        ("raw-open", []) => raw_socket(),
        ("chown", [path, uid, gid]) => chown(path, number(uid), number(gid)),
        ("seccomp", []) => seccomp::install_allow_all_filter(),
        ("userns-mount", []) => userns_mount(),
        ("setsockopt-loop", [count]) => setsockopt_loop(u64::from(number(count))),
        ("sleep", [secs]) => {
            say("ready");
            std::thread::sleep(Duration::from_secs(u64::from(number(secs))));
            Ok(())
        }
        ("exit", [status]) => exit(number(status) as i32),
        ("drop-privileges", [uid, gid]) => drop_privileges(number(uid), number(gid)),
        ("mmap-only", []) => mmap_only(),
        _ => usage(&format!(
            "unknown subcommand or arguments: {}",
            args.join(" ")
        )),
    };
    match result {
        Ok(()) => {
            say(&format!("ok {name}"));
            exit(0)
        }
        Err(err) => {
            say(&format!("refused {name}: {err}"));
            exit(1)
        }
    }
}

fn say(line: &str) {
    let _ = writeln!(io::stderr(), "{line}");
}

fn usage(why: &str) -> ! {
    say(&format!("capkit-test-caps: {why}"));
    exit(2)
}

fn number(word: &str) -> u32 {
    word.parse()
        .unwrap_or_else(|_| usage(&format!("not a number: {word}")))
}

fn bind(addr: &str, port: &str) -> io::Result<()> {
    let port: u16 = port
        .parse()
        .unwrap_or_else(|_| usage(&format!("not a port: {port}")));
    TcpListener::bind((addr, port)).map(drop)
}

/// Runs this program again with `next` and exits with its status: two of these make a grandchild.
fn relay(next: &str) -> io::Result<()> {
    let me = std::env::current_exe()?;
    let status = Command::new(me).arg(next).status()?;
    exit(status.code().unwrap_or(2))
}

fn raw_socket() -> io::Result<()> {
    use rustix::net::{ipproto, socket, AddressFamily, SocketType};
    socket(AddressFamily::INET, SocketType::RAW, Some(ipproto::ICMP))
        .map(drop)
        .map_err(io::Error::from)
}

fn chown(path: &str, uid: u32, gid: u32) -> io::Result<()> {
    use rustix::fs::{Gid, Uid};
    rustix::fs::chown(path, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
        .map_err(io::Error::from)
}

/// A user namespace of our own (we are its root), a mount namespace owned by it, and a tmpfs mounted
/// there: the mount's CAP_SYS_ADMIN check is made against the new user namespace. The directory is made
/// before the unshare and removed afterwards; the mount never leaves the private namespace.
fn userns_mount() -> io::Result<()> {
    use rustix::thread::UnshareFlags;
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let dir = std::env::temp_dir().join(format!("capkit-test-caps-{}", std::process::id()));
    std::fs::create_dir(&dir)?;
    let result = (|| {
        // SAFETY: this program is single-threaded, so no other thread shares the state unshared here.
        unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWUSER | UnshareFlags::NEWNS) }?;
        std::fs::write("/proc/self/uid_map", format!("0 {uid} 1\n"))?;
        std::fs::write("/proc/self/setgroups", "deny")?;
        std::fs::write("/proc/self/gid_map", format!("0 {gid} 1\n"))?;
        rustix::mount::mount(
            "none",
            &dir,
            "tmpfs",
            rustix::mount::MountFlags::empty(),
            None,
        )?;
        rustix::mount::unmount(&dir, rustix::mount::UnmountFlags::empty())?;
        Ok(())
    })();
    let _ = std::fs::remove_dir(&dir);
    result
}

fn setsockopt_loop(count: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let priority: libc::c_int = 7;
    for _ in 0..count {
        // SAFETY: the socket is open for the whole loop and the value is a live c_int of the right size.
        // rustix has no SO_PRIORITY setter.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PRIORITY,
                &priority as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// What a daemon started as root does to run as a user: the process (not one thread) changes ids.
fn drop_privileges(uid: u32, gid: u32) -> io::Result<()> {
    use rustix::process::{Gid, Uid};
    // This program is single-threaded: the per-thread system calls change the whole process.
    rustix::thread::set_thread_groups(&[])?;
    rustix::thread::set_thread_gid(Gid::from_raw(gid))?;
    rustix::thread::set_thread_uid(Uid::from_raw(uid))?;
    Ok(())
}

fn mmap_only() -> io::Result<()> {
    let mut memory = vec![0u8; 16 << 20];
    for page in memory.chunks_mut(4096) {
        page[0] = 1;
    }
    let touched: usize = memory.iter().step_by(4096).map(|&b| usize::from(b)).sum();
    if touched == 0 {
        return Err(io::Error::other("memory was not touched"));
    }
    Ok(())
}
