//! capkit-test-sockets: a process that opens chosen sockets, narrows its capabilities, says `ready`, and
//! waits, so that capnet's tests can compare what capnet reports with what is really open.
//!
//! Usage: `capkit-test-sockets [ACTION...]`, actions run left to right:
//!
//! | action              | what it does                                                                  |
//! |---------------------|-------------------------------------------------------------------------------|
//! | `--unshare-net`     | move into a new network namespace (unshare(CLONE_NEWNET)); needs CAP_SYS_ADMIN |
//! | `--setns PATH`      | join the network namespace PATH names (`/proc/PID/ns/net`, `/run/netns/NAME`)    |
//! | `--back`            | go back to the network namespace the process started in                        |
//! | `--port-start N`    | write net.ipv4.ip_unprivileged_port_start of the current namespace             |
//! | `--tcp ADDR:PORT`   | a TCP listener (PORT 0: any free port)                                         |
//! | `--udp ADDR:PORT`   | a bound UDP socket                                                             |
//! | `--raw-icmp`        | a raw IPv4 ICMP socket                                                         |
//! | `--unix NAME`       | a unix stream listener bound to NAME (`@NAME`: abstract; any bytes but NUL)    |
//! | `--uid N`           | become user and group N (which drops every capability)                         |
//! | `--packet`          | a packet socket for every ethertype on every interface                         |
//! | `--tcp-client LOCAL REMOTE` | a TCP socket bound to LOCAL (IPv4 ADDR:PORT), then connected to REMOTE  |
//! | `--udp-client LOCAL REMOTE` | a UDP socket bound to LOCAL, then connected to REMOTE                   |
//! | `--self-connect`    | connect to the last `--tcp` listener and accept: a client and an accepted socket |
//! | `--mark N`          | SO_MARK N on the socket opened last                                            |
//! | `--many N`          | N UDP sockets on 127.0.0.1-8, connected to 127.0.0.1:9 where loopback is up    |
//! | `--caps LIST`       | permitted = effective = LIST, inheritable empty (LIST: names, `none`)          |
//! | `--thread-keeps LIST` | start a thread with permitted = effective = LIST, then the leader drops all |
//! | `--fork`            | fork a child that shares every socket and waits too                            |
//! | `--exit-after SECS` | exit by itself after SECS seconds (default 120), so nothing leaks               |
//! | `--churn-raw N`     | once ready, open N raw ICMP sockets and close them together, over and over, instead of sleeping |
//!
//! Capabilities are per thread (capset acts on the calling thread only), so after `--thread-keeps` the
//! leader holds nothing while its thread keeps LIST; actions after it run on the leader, and `--fork` and
//! `--unshare-net` (which need a single thread) must come before it.
//!
//! When done it prints `ready PID [CHILD_PID] PORT... [thread=TID]` (the local port of each TCP/UDP
//! socket, in order; the thread of `--thread-keeps`) and sleeps. A failed action prints
//! `capkit-test-sockets: ACTION: cause` and exits with status 3.

use std::io::Write;
use std::net::{SocketAddrV4, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use capcore::CapSet;
use rustix::thread::{CapabilitySet, CapabilitySets};

const PROG: &str = "capkit-test-sockets";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut keep: Vec<Box<dyn std::any::Any>> = Vec::new();
    let mut ports = Vec::new();
    let mut child = None;
    let mut exit_after = Duration::from_secs(120);
    // The namespace we started in, for `--back`.
    let first_netns = std::fs::File::open("/proc/self/ns/net").unwrap_or_else(|e| fail("start", e));
    let mut last: Option<RawFd> = None;
    let mut last_listener: Option<std::net::SocketAddr> = None;
    let mut thread = None;
    let mut churn_raw = None;
    let mut i = 0;
    while i < args.len() {
        let action = args[i].as_str();
        let mut value = || {
            i += 1;
            args.get(i)
                .cloned()
                .unwrap_or_else(|| fail(action, "needs a value"))
        };
        match action {
            "--unshare-net" => {
                // SAFETY: the process is single-threaded here, so no other thread sees the change.
                unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }
                    .unwrap_or_else(|e| fail(action, e));
            }
            "--setns" => {
                let ns = std::fs::File::open(value()).unwrap_or_else(|e| fail(action, e));
                join_netns(&ns, action);
            }
            "--back" => join_netns(&first_netns, action),
            "--unix" => {
                let listener = unix_listener(&value()).unwrap_or_else(|e| fail(action, e));
                keep.push(Box::new(listener));
            }
            "--uid" => {
                let id: u32 = value().parse().unwrap_or_else(|e| fail(action, e));
                // SAFETY: setgroups/setresgid/setresuid take plain integers; the process is single-threaded.
                let failed = unsafe {
                    libc::setgroups(0, std::ptr::null()) != 0
                        || libc::setresgid(id, id, id) != 0
                        || libc::setresuid(id, id, id) != 0
                };
                if failed {
                    fail(action, std::io::Error::last_os_error());
                }
            }
            "--port-start" => {
                let n = value();
                std::fs::write("/proc/sys/net/ipv4/ip_unprivileged_port_start", n)
                    .unwrap_or_else(|e| fail(action, e));
            }
            "--tcp" => {
                let listener = TcpListener::bind(value()).unwrap_or_else(|e| fail(action, e));
                ports.push(listener.local_addr().map(|a| a.port()).unwrap_or(0));
                last = Some(listener.as_raw_fd());
                last_listener = listener.local_addr().ok();
                keep.push(Box::new(listener));
            }
            "--udp" => {
                let socket = UdpSocket::bind(value()).unwrap_or_else(|e| fail(action, e));
                ports.push(socket.local_addr().map(|a| a.port()).unwrap_or(0));
                last = Some(socket.as_raw_fd());
                keep.push(Box::new(socket));
            }
            "--udp-client" => {
                let (local, remote) = (value(), value());
                let socket = UdpSocket::bind(local).unwrap_or_else(|e| fail(action, e));
                socket.connect(remote).unwrap_or_else(|e| fail(action, e));
                ports.push(socket.local_addr().map(|a| a.port()).unwrap_or(0));
                last = Some(socket.as_raw_fd());
                keep.push(Box::new(socket));
            }
            "--tcp-client" => {
                let local: SocketAddrV4 = value().parse().unwrap_or_else(|e| fail(action, e));
                let remote: SocketAddrV4 = value().parse().unwrap_or_else(|e| fail(action, e));
                let socket = tcp_client(local, remote, action);
                ports.push(local.port());
                last = Some(socket.as_raw_fd());
                keep.push(Box::new(socket));
            }
            "--self-connect" => {
                let addr = last_listener.unwrap_or_else(|| fail(action, "no --tcp before it"));
                let client = std::net::TcpStream::connect(addr).unwrap_or_else(|e| fail(action, e));
                // SAFETY: accept4 on the listener we opened (still kept open in `keep`), without an
                // address buffer.
                let fd = unsafe {
                    libc::accept4(
                        last.unwrap_or(-1),
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                        libc::SOCK_CLOEXEC,
                    )
                };
                if fd < 0 {
                    fail(action, std::io::Error::last_os_error());
                }
                // SAFETY: fd is the descriptor accept4 just returned, owned by nothing else.
                keep.push(Box::new(unsafe { OwnedFd::from_raw_fd(fd) }));
                ports.push(client.local_addr().map(|a| a.port()).unwrap_or(0));
                keep.push(Box::new(client));
            }
            "--mark" => {
                let mark: u32 = value().parse().unwrap_or_else(|e| fail(action, e));
                let fd = last.unwrap_or_else(|| fail(action, "no socket opened before it"));
                set_int_option(fd, libc::SOL_SOCKET, libc::SO_MARK, mark as i32, action);
            }
            "--many" => {
                let n: u64 = value().parse().unwrap_or_else(|e| fail(action, e));
                raise_nofile(n + 256, action);
                for i in 0..n {
                    // Spread over 127.0.0.1-8: ports the kernel picks are unique per address, and one
                    // address has fewer than 30,000 of them.
                    let addr = format!("127.0.0.{}:0", 1 + i % 8);
                    let socket = UdpSocket::bind(addr).unwrap_or_else(|e| fail(action, e));
                    // Connected (to the discard port; nothing is sent), so that `ss` without `-a`
                    // lists it too; unconnected in a new namespace, whose loopback is down.
                    match socket.connect("127.0.0.1:9") {
                        Err(e) if e.raw_os_error() != Some(libc::ENETUNREACH) => fail(action, e),
                        _ => {}
                    }
                    keep.push(Box::new(socket));
                }
            }
            "--thread-keeps" => {
                let set = caps_arg(&value(), action);
                thread = Some(thread_keeping(set, action));
                set_caps(CapSet::EMPTY, action);
            }
            "--raw-icmp" => keep.push(Box::new(raw_socket(
                libc::AF_INET,
                libc::SOCK_RAW,
                libc::IPPROTO_ICMP,
                action,
            ))),
            "--packet" => {
                let all = i32::from(u16::to_be(libc::ETH_P_ALL as u16));
                keep.push(Box::new(raw_socket(
                    libc::AF_PACKET,
                    libc::SOCK_RAW,
                    all,
                    action,
                )));
            }
            "--caps" => {
                let set = caps_arg(&value(), action);
                set_caps(set, action);
            }
            "--fork" => child = Some(fork_waiting_child(exit_after)),
            "--churn-raw" => {
                let n: usize = value().parse().unwrap_or_else(|e| fail(action, e));
                churn_raw = Some(n);
            }
            "--exit-after" => {
                let secs = value().parse().unwrap_or_else(|e| fail(action, e));
                exit_after = Duration::from_secs(secs);
            }
            other => fail(other, "unknown action"),
        }
        i += 1;
    }
    let mut line = format!("ready {}", std::process::id());
    if let Some(pid) = child {
        line.push_str(&format!(" {pid}"));
    }
    for port in ports {
        line.push_str(&format!(" {port}"));
    }
    if let Some(tid) = thread {
        line.push_str(&format!(" thread={tid}"));
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    drop(out);
    match churn_raw {
        Some(n) => churn_raw_sockets(n, exit_after),
        None => wait(exit_after),
    }
    drop(keep);
}

/// Opens `n` raw ICMP sockets and closes them together, over and over, for `limit`: rows that come and go
/// before older ones in the namespace's raw table, as fast as the kernel takes them.
fn churn_raw_sockets(n: usize, limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        let sockets: Vec<OwnedFd> = (0..n)
            .map(|_| {
                raw_socket(
                    libc::AF_INET,
                    libc::SOCK_RAW,
                    libc::IPPROTO_ICMP,
                    "--churn-raw",
                )
            })
            .collect();
        drop(sockets);
    }
}

fn join_netns(ns: &std::fs::File, action: &str) {
    rustix::thread::move_into_link_name_space(
        std::os::fd::AsFd::as_fd(ns),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .unwrap_or_else(|e| fail(action, e));
}

/// A unix stream listener on NAME, abstract when NAME starts with `@`.
fn unix_listener(name: &str) -> std::io::Result<std::os::unix::net::UnixListener> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener};
    match name.strip_prefix('@') {
        Some(abstract_name) => {
            UnixListener::bind_addr(&SocketAddr::from_abstract_name(abstract_name.as_bytes())?)
        }
        None => UnixListener::bind(name),
    }
}

fn caps_arg(list: &str, action: &str) -> CapSet {
    if list == "none" {
        CapSet::EMPTY
    } else {
        CapSet::parse_list(list).unwrap_or_else(|e| fail(action, e))
    }
}

/// permitted = effective = `set`, inheritable empty, for the calling thread only.
fn set_caps(set: CapSet, action: &str) {
    let flags = CapabilitySet::from_bits_retain(set.bits());
    let sets = CapabilitySets {
        effective: flags,
        permitted: flags,
        inheritable: CapabilitySet::empty(),
    };
    rustix::thread::set_capabilities(None, sets).unwrap_or_else(|e| fail(action, e));
}

/// Starts a thread that narrows its own capabilities to `set` and then sleeps; returns its tid once done.
fn thread_keeping(set: CapSet, action: &str) -> i32 {
    let (done, ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let flags = CapabilitySet::from_bits_retain(set.bits());
        let sets = CapabilitySets {
            effective: flags,
            permitted: flags,
            inheritable: CapabilitySet::empty(),
        };
        let result = rustix::thread::set_capabilities(None, sets)
            .map(|()| rustix::thread::gettid().as_raw_nonzero().get());
        let _ = done.send(result);
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    });
    match ready.recv() {
        Ok(Ok(tid)) => tid,
        Ok(Err(e)) => fail(action, e),
        Err(e) => fail(action, e),
    }
}

/// A TCP socket bound to `local` and connected to `remote` (std binds only listeners).
fn tcp_client(local: SocketAddrV4, remote: SocketAddrV4, action: &str) -> OwnedFd {
    let socket = raw_socket(libc::AF_INET, libc::SOCK_STREAM, 0, action);
    let fd = socket.as_raw_fd();
    set_int_option(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1, action);
    for (addr, call) in [(local, "bind"), (remote, "connect")] {
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: addr.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*addr.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        let ptr = std::ptr::addr_of!(sin).cast::<libc::sockaddr>();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: fd is our open socket; sin is a valid sockaddr_in of the length given.
        let rc = unsafe {
            if call == "bind" {
                libc::bind(fd, ptr, len)
            } else {
                libc::connect(fd, ptr, len)
            }
        };
        if rc != 0 {
            fail(
                action,
                format!("{call}: {}", std::io::Error::last_os_error()),
            );
        }
    }
    socket
}

fn set_int_option(fd: RawFd, level: i32, name: i32, value: i32, action: &str) {
    // SAFETY: fd is an open socket; the option value is an int of the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            std::ptr::addr_of!(value).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        fail(action, std::io::Error::last_os_error());
    }
}

/// Raises the soft and hard limit on open files to at least `n` (root may raise the hard one).
fn raise_nofile(n: u64, action: &str) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            fail(action, std::io::Error::last_os_error());
        }
        if limit.rlim_cur < n {
            limit.rlim_cur = n;
            limit.rlim_max = limit.rlim_max.max(n);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                fail(action, std::io::Error::last_os_error());
            }
        }
    }
}

fn raw_socket(domain: i32, kind: i32, protocol: i32, action: &str) -> OwnedFd {
    // SAFETY: socket(2) with constant arguments; it returns a new descriptor or -1.
    let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        fail(action, std::io::Error::last_os_error());
    }
    // SAFETY: fd is a descriptor we just opened and nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Forks a child that holds the same descriptors and waits as long as the parent would.
fn fork_waiting_child(exit_after: Duration) -> i32 {
    // SAFETY: the process is single-threaded, and the child only sleeps and exits.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => fail("--fork", std::io::Error::last_os_error()),
        0 => {
            wait(exit_after);
            // SAFETY: _exit ends the child without running the parent's destructors twice.
            unsafe { libc::_exit(0) }
        }
        pid => pid,
    }
}

fn wait(limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn fail(action: &str, cause: impl std::fmt::Display) -> ! {
    eprintln!("{PROG}: {action}: {cause}");
    std::process::exit(3)
}
