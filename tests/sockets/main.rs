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
//! | `--caps LIST`       | permitted = effective = LIST, inheritable empty (LIST: names, `none`)          |
//! | `--fork`            | fork a child that shares every socket and waits too                            |
//! | `--exit-after SECS` | exit by itself after SECS seconds (default 120), so nothing leaks               |
//!
//! When done it prints `ready PID [CHILD_PID] PORT...` (the local port of each TCP/UDP socket, in order)
//! and sleeps. A failed action prints `capkit-test-sockets: ACTION: cause` and exits with status 3.

use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::os::fd::{FromRawFd, OwnedFd};
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
                keep.push(Box::new(listener));
            }
            "--udp" => {
                let socket = UdpSocket::bind(value()).unwrap_or_else(|e| fail(action, e));
                ports.push(socket.local_addr().map(|a| a.port()).unwrap_or(0));
                keep.push(Box::new(socket));
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
                let list = value();
                let set = if list == "none" {
                    CapSet::EMPTY
                } else {
                    CapSet::parse_list(&list).unwrap_or_else(|e| fail(action, e))
                };
                let flags = CapabilitySet::from_bits_retain(set.bits());
                let sets = CapabilitySets {
                    effective: flags,
                    permitted: flags,
                    inheritable: CapabilitySet::empty(),
                };
                rustix::thread::set_capabilities(None, sets).unwrap_or_else(|e| fail(action, e));
            }
            "--fork" => child = Some(fork_waiting_child(exit_after)),
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
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    drop(out);
    wait(exit_after);
    drop(keep);
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
