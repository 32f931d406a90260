//! Socket tables of a network namespace, read from /proc/PID/net/*: tcp, tcp6, udp, udp6, udplite,
//! udplite6, raw, raw6, packet and unix. The procfs crate has no raw, raw6 or packet tables, and reads
//! only the caller's namespace, so these few fixed formats (net/ipv4/tcp_ipv4.c, net/packet/af_packet.c,
//! net/unix/af_unix.c) are parsed here.
//!
//! Reading /proc/PID/net/* shows the namespace of PID, so one process per namespace is enough to see all
//! of its sockets.

use std::fmt;
use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::Serialize;

/// A socket's family and protocol, named as the /proc/net file that lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Tcp6,
    Udp,
    Udp6,
    Udplite,
    Udplite6,
    Raw,
    Raw6,
    Packet,
    Unix,
}

impl Proto {
    pub const INET: [Proto; 8] = [
        Proto::Tcp,
        Proto::Tcp6,
        Proto::Udp,
        Proto::Udp6,
        Proto::Udplite,
        Proto::Udplite6,
        Proto::Raw,
        Proto::Raw6,
    ];

    /// The file under /proc/PID/net.
    pub const fn file(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Tcp6 => "tcp6",
            Proto::Udp => "udp",
            Proto::Udp6 => "udp6",
            Proto::Udplite => "udplite",
            Proto::Udplite6 => "udplite6",
            Proto::Raw => "raw",
            Proto::Raw6 => "raw6",
            Proto::Packet => "packet",
            Proto::Unix => "unix",
        }
    }

    pub fn parse(name: &str) -> Option<Proto> {
        let name = name.to_ascii_lowercase();
        [Proto::INET.as_slice(), &[Proto::Packet, Proto::Unix]]
            .concat()
            .into_iter()
            .find(|p| p.file() == name)
    }

    const fn is_tcp(self) -> bool {
        matches!(self, Proto::Tcp | Proto::Tcp6)
    }

    const fn is_raw(self) -> bool {
        matches!(self, Proto::Raw | Proto::Raw6)
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.file())
    }
}

/// One end of a socket.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// TCP and UDP: an address and a port.
    Inet(IpAddr, u16),
    /// Raw sockets: an address and the IP protocol number the socket was opened for.
    Raw(IpAddr, u16),
    /// Packet sockets: the interface (0 for all) and the ethertype.
    Packet { ifindex: u32, ethertype: u16 },
    /// Unix sockets: the bound path (`@name` for the abstract namespace), or nothing.
    Unix(Option<Vec<u8>>),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Inet(IpAddr::V6(ip), port) => write!(f, "[{ip}]:{port}"),
            Endpoint::Inet(ip, port) => write!(f, "{ip}:{port}"),
            Endpoint::Raw(ip, proto) => write!(f, "{ip} proto {proto}"),
            Endpoint::Packet {
                ifindex: 0,
                ethertype,
            } => write!(f, "any ethertype {ethertype:#06x}"),
            Endpoint::Packet { ifindex, ethertype } => {
                write!(f, "if#{ifindex} ethertype {ethertype:#06x}")
            }
            Endpoint::Unix(Some(path)) => f.write_str(&String::from_utf8_lossy(path)),
            Endpoint::Unix(None) => f.write_str("-"),
        }
    }
}

/// One row of a socket table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Socket {
    pub proto: Proto,
    pub inode: u64,
    /// The state as the kernel names it (`LISTEN`, `ESTABLISHED`, `UNCONN` …).
    pub state: &'static str,
    pub local: Endpoint,
    pub remote: Option<Endpoint>,
    /// The owner's uid in the socket's namespace (packet and unix tables do not say for unix).
    pub uid: Option<u32>,
    /// Options only a capability allows, where the source shows them (sock_diag does; /proc does not).
    pub options: SocketOptions,
}

/// Socket options that need a capability to set, as far as the source of the socket shows them; `None`
/// where it does not say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// SO_MARK: a mark other than 0.
    pub mark: Option<u32>,
    /// IP_TRANSPARENT / IPV6_TRANSPARENT.
    pub transparent: Option<bool>,
}

impl Socket {
    /// A TCP socket accepting connections, or a unix stream socket doing so.
    pub fn is_listening(&self) -> bool {
        self.state == "LISTEN"
    }

    /// The local port of a TCP or UDP socket.
    pub fn local_port(&self) -> Option<u16> {
        match self.local {
            Endpoint::Inet(_, port) => Some(port),
            _ => None,
        }
    }
}

/// The TCP states of include/net/tcp_states.h, indexed by number.
const TCP_STATES: [&str; 13] = [
    "UNKNOWN",
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
    "NEW_SYN_RECV",
];

pub(crate) fn inet_state(proto: Proto, code: u8) -> &'static str {
    match (proto.is_tcp(), code) {
        (true, c) => TCP_STATES.get(usize::from(c)).copied().unwrap_or("UNKNOWN"),
        // UDP and raw sockets use TCP_ESTABLISHED when connected and TCP_CLOSE otherwise.
        (false, 1) => "ESTABLISHED",
        (false, _) => "UNCONN",
    }
}

/// Parses `0100007F:0050` (IPv4, 32-bit words in host order) or the 32-digit IPv6 form.
fn parse_inet_address(field: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(addr, 16).ok()?.to_ne_bytes(),
        )),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// Parses a tcp, udp, udplite or raw table (v4 or v6). Lines that do not parse are skipped.
pub fn parse_inet_table(proto: Proto, text: &str) -> Vec<Socket> {
    text.lines()
        .skip(1)
        .filter_map(|line| parse_inet_line(proto, line))
        .collect()
}

fn parse_inet_line(proto: Proto, line: &str) -> Option<Socket> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (local_ip, local_port) = parse_inet_address(fields.get(1)?)?;
    let (remote_ip, remote_port) = parse_inet_address(fields.get(2)?)?;
    let code = u8::from_str_radix(fields.get(3)?, 16).ok()?;
    let uid = fields.get(7)?.parse().ok();
    let inode = fields.get(9)?.parse().ok()?;
    let endpoint = |ip, port| {
        if proto.is_raw() {
            Endpoint::Raw(ip, port)
        } else {
            Endpoint::Inet(ip, port)
        }
    };
    let connected = !remote_ip.is_unspecified() || remote_port != 0;
    Some(Socket {
        proto,
        inode,
        state: inet_state(proto, code),
        local: endpoint(local_ip, local_port),
        remote: connected.then(|| endpoint(remote_ip, remote_port)),
        uid,
        options: SocketOptions::default(),
    })
}

/// Parses /proc/net/packet: `sk RefCnt Type Proto Iface R Rmem User Inode`.
pub fn parse_packet_table(text: &str) -> Vec<Socket> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let ethertype = u16::from_str_radix(fields.get(3)?, 16).ok()?;
            let ifindex = fields.get(4)?.parse().ok()?;
            let running = *fields.get(5)? == "1";
            Some(Socket {
                proto: Proto::Packet,
                inode: fields.get(8)?.parse().ok()?,
                state: if running { "RUNNING" } else { "STOPPED" },
                local: Endpoint::Packet { ifindex, ethertype },
                remote: None,
                uid: fields.get(7)?.parse().ok(),
                options: SocketOptions::default(),
            })
        })
        .collect()
}

fn text_field(field: Option<&[u8]>) -> Option<&str> {
    field.and_then(|f| std::str::from_utf8(f).ok())
}

/// Parses /proc/net/unix: `Num RefCount Protocol Flags Type St Inode [Path]`. Paths keep their bytes
/// (the kernel prints them raw, with `@` for the abstract namespace).
pub fn parse_unix_table(text: &[u8]) -> Vec<Socket> {
    text.split(|&b| b == b'\n')
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split(|&b| b == b' ').filter(|f| !f.is_empty());
            let _num = fields.next()?;
            let _refs = fields.next()?;
            let _protocol = fields.next()?;
            let flags = u32::from_str_radix(text_field(fields.next())?, 16).ok()?;
            let _kind = text_field(fields.next())?;
            let st = text_field(fields.next())?;
            let inode = text_field(fields.next())?.parse().ok()?;
            let path = fields.next().map(|first| {
                // A path may contain spaces: it is everything after the inode.
                let start = first.as_ptr() as usize - line.as_ptr() as usize;
                line[start..].to_vec()
            });
            const SO_ACCEPTCON: u32 = 1 << 16;
            let state = match (flags & SO_ACCEPTCON != 0, st) {
                (true, _) => "LISTEN",
                (false, "03") => "CONNECTED",
                (false, "02") => "CONNECTING",
                (false, "04") => "DISCONNECTING",
                _ => "UNCONN",
            };
            Some(Socket {
                proto: Proto::Unix,
                inode,
                state,
                local: Endpoint::Unix(path),
                remote: None,
                uid: None,
                options: SocketOptions::default(),
            })
        })
        .collect()
}

/// Every socket of the network namespace that `/proc/<pid>` sees (`pid` may be `self`). Tables that do not
/// exist (IPv6 disabled, no udplite) are skipped; `unix` is read only when asked for.
pub fn read_tables(proc_dir: &Path, with_unix: bool) -> io::Result<Vec<Socket>> {
    let net = proc_dir.join("net");
    let mut sockets = Vec::new();
    let mut buf = Vec::with_capacity(READ_SIZE);
    let files = Proto::INET
        .into_iter()
        .chain([Proto::Packet])
        .chain(with_unix.then_some(Proto::Unix));
    for proto in files {
        match read_table(&net.join(proto.file()), &mut buf) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
        match proto {
            Proto::Packet => sockets.extend(parse_packet_table(&String::from_utf8_lossy(&buf))),
            Proto::Unix => sockets.extend(parse_unix_table(&buf)),
            inet => sockets.extend(parse_inet_table(inet, &String::from_utf8_lossy(&buf))),
        }
    }
    Ok(sockets)
}

/// Bytes asked for per read of a socket table.
const READ_SIZE: usize = 256 * 1024;
/// The seq_file buffer a table is rendered into, one page, and a bound on the longest row any of the
/// tables prints (a unix row with a 108-byte path is under 200 bytes).
const SEQ_PAGE: usize = 4096;
const LONGEST_ROW: usize = 1024;

/// Reads a socket table into `buf` in as few reads as the kernel allows. Every read of tcp and tcp6 walks
/// the whole connection hash table, empty buckets included (about 2 ms on a 24 GiB machine), so reading in
/// small pieces, as `read_to_string` starts out doing, multiplies that cost, and so does the read that only
/// finds the end. These tables are seq_files: a read stops early only when the kernel's one-page buffer
/// cannot take the next row, so a read that leaves more than a row's room in that page has reached the
/// end, and the extra read is skipped.
fn read_table(path: &Path, buf: &mut Vec<u8>) -> io::Result<()> {
    use std::io::Read;
    let mut file = fs::File::open(path)?;
    buf.clear();
    loop {
        if buf.capacity() - buf.len() < READ_SIZE / 2 {
            buf.reserve(READ_SIZE);
        }
        let start = buf.len();
        buf.resize(buf.capacity(), 0);
        match file.read(&mut buf[start..]) {
            Ok(0) => {
                buf.truncate(start);
                return Ok(());
            }
            Ok(n) => {
                buf.truncate(start + n);
                if n < SEQ_PAGE - LONGEST_ROW {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(start),
            Err(e) => {
                buf.truncate(start);
                return Err(e);
            }
        }
    }
}

/// Interface names by index for a namespace, from /proc/PID/net/dev_mcast and igmp (the only procfs
/// files that pair an index with a name). An interface missing from both shows as `if#N`.
pub fn read_interfaces(proc_dir: &Path) -> Vec<(u32, String)> {
    let net = proc_dir.join("net");
    let mut names = Vec::new();
    if let Ok(text) = fs::read_to_string(net.join("igmp")) {
        for line in text.lines().skip(1) {
            let mut fields = line.split_whitespace();
            if let (Some(idx), Some(name)) = (fields.next(), fields.next()) {
                if let Ok(idx) = idx.parse::<u32>() {
                    names.push((idx, name.trim_end_matches(':').to_string()));
                }
            }
        }
    }
    if let Ok(text) = fs::read_to_string(net.join("dev_mcast")) {
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            if let (Some(idx), Some(name)) = (fields.next(), fields.next()) {
                if let Ok(idx) = idx.parse::<u32>() {
                    names.push((idx, name.to_string()));
                }
            }
        }
    }
    names.sort();
    names.dedup_by_key(|(idx, _)| *idx);
    names
}

/// The inode in a `/proc/PID/ns/*` or `/proc/PID/fd/*` link such as `net:[4026531840]` or `socket:[123]`.
pub fn link_inode(link: &Path, kind: &str) -> io::Result<u64> {
    let target = fs::read_link(link)?;
    let text = target.to_string_lossy();
    text.strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(":["))
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {text}", link.display()),
            )
        })
}

/// The inodes of every socket a process holds open, from its /proc/PID/fd links. A descriptor closed while
/// the directory is read is not an error; links we may not read are (the directory itself may be listable).
pub fn socket_inodes(proc_dir: &Path) -> io::Result<Vec<u64>> {
    let mut inodes = Vec::new();
    for entry in fs::read_dir(proc_dir.join("fd"))? {
        let Ok(entry) = entry else { continue };
        match link_inode(&entry.path(), "socket") {
            Ok(inode) => inodes.push(inode),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Err(e),
            Err(_) => {}
        }
    }
    inodes.sort_unstable();
    inodes.dedup();
    Ok(inodes)
}

/// Every socket descriptor a process holds open, as (descriptor number, socket inode), from its
/// /proc/PID/fd links, sorted by inode. As `socket_inodes`, a descriptor closed meanwhile is skipped and a
/// link we may not read is an error.
pub fn socket_fds(proc_dir: &Path) -> io::Result<Vec<(i32, u64)>> {
    let mut fds = Vec::new();
    for entry in fs::read_dir(proc_dir.join("fd"))? {
        let Ok(entry) = entry else { continue };
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        match link_inode(&entry.path(), "socket") {
            Ok(inode) => fds.push((fd, inode)),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Err(e),
            Err(_) => {}
        }
    }
    fds.sort_unstable_by_key(|&(fd, inode)| (inode, fd));
    fds.dedup_by_key(|(_, inode)| *inode);
    Ok(fds)
}

/// [`socket_fds`] of each of `proc_dirs`, in order, spread over the machine's cores without a worker ever
/// waiting for another: first the directories are listed, each worker taking the next process from a
/// counter, then the links are read in equal shares of descriptors, not of processes, since one process
/// may hold most of them (a server with thousands of sockets).
pub fn socket_fds_each(proc_dirs: &[PathBuf]) -> Vec<io::Result<Vec<(i32, u64)>>> {
    let listings = in_parallel(proc_dirs.len(), FD_DIRS_PER_WORKER, |i| {
        list_fds(&proc_dirs[i])
    });
    let mut dirs = Vec::with_capacity(proc_dirs.len());
    let mut results: Vec<io::Result<Vec<(i32, u64)>>> = Vec::with_capacity(proc_dirs.len());
    let mut links: Vec<(usize, i32)> = Vec::new();
    for (i, listing) in listings.into_iter().enumerate() {
        match listing {
            Ok((dir, fds)) => {
                links.extend(fds.into_iter().map(|fd| (i, fd)));
                dirs.push(Some(dir));
                results.push(Ok(Vec::new()));
            }
            Err(err) => {
                dirs.push(None);
                results.push(Err(err));
            }
        }
    }
    // A process whose links we may not read is an error at the first: its other links are not tried.
    let denied: Vec<AtomicBool> = dirs.iter().map(|_| AtomicBool::new(false)).collect();
    let targets = in_parallel(links.len(), LINKS_PER_WORKER, |n| {
        let (i, fd) = links[n];
        if denied[i].load(Ordering::Relaxed) {
            return None;
        }
        let target = dirs[i].as_ref().map(|dir| socket_link(dir, fd));
        if matches!(&target, Some(Err(_))) {
            denied[i].store(true, Ordering::Relaxed);
        }
        target
    });
    for (&(i, fd), target) in links.iter().zip(targets) {
        let Some(entry) = results.get_mut(i) else {
            continue;
        };
        match (target, &mut *entry) {
            (Some(Ok(Some(inode))), Ok(fds)) => fds.push((fd, inode)),
            (Some(Err(err)), Ok(_)) if err.kind() == io::ErrorKind::PermissionDenied => {
                *entry = Err(err);
            }
            _ => {}
        }
    }
    for fds in results.iter_mut().flatten() {
        fds.sort_unstable_by_key(|&(fd, inode)| (inode, fd));
        fds.dedup_by_key(|(_, inode)| *inode);
    }
    results
}

/// Below these, one more thread costs more than it saves.
const FD_DIRS_PER_WORKER: usize = 16;
const LINKS_PER_WORKER: usize = 256;

/// `f(0..items)` in order, over as many scoped threads as there are cores (and work for each), the calling
/// thread among them; each takes the next item from a shared counter.
fn in_parallel<T: Send>(items: usize, per_worker: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let cores = crate::proc::cores();
    let workers = cores.min(items / per_worker.max(1)).max(1);
    if workers == 1 {
        return (0..items).map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= items {
                return done;
            }
            done.push((i, f(i)));
        }
    };
    let mut parts = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..workers).map(|_| scope.spawn(work)).collect();
        let mut parts = vec![work()];
        for handle in handles {
            // A worker that panicked would leave items undone: finish them here instead.
            parts.push(handle.join().unwrap_or_default());
        }
        parts
    });
    let mut slots: Vec<Option<T>> = (0..items).map(|_| None).collect();
    for (i, value) in parts.drain(..).flatten() {
        slots[i] = Some(value);
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(i, slot)| slot.unwrap_or_else(|| f(i)))
        .collect()
}

/// The open /proc/PID/fd directory and the descriptor numbers in it.
fn list_fds(proc_dir: &Path) -> io::Result<(OwnedFd, Vec<i32>)> {
    use rustix::fs::{Mode, OFlags};
    let dir = rustix::fs::open(
        proc_dir.join("fd"),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut fds = Vec::new();
    for entry in rustix::fs::Dir::read_from(&dir)? {
        let Ok(entry) = entry else { continue };
        if let Some(fd) = std::str::from_utf8(entry.file_name().to_bytes())
            .ok()
            .and_then(|name| name.parse().ok())
        {
            fds.push(fd);
        }
    }
    Ok((dir, fds))
}

/// The socket inode descriptor `fd` links to, read relative to the open fd directory (no walk of
/// /proc/PID/fd for each); `None` for a descriptor that is not a socket or was closed meanwhile.
fn socket_link(dir: &OwnedFd, fd: i32) -> io::Result<Option<u64>> {
    match rustix::fs::readlinkat(dir, fd.to_string(), Vec::new()) {
        Ok(target) => Ok(socket_inode(target.as_bytes())),
        Err(rustix::io::Errno::ACCESS) => Err(rustix::io::Errno::ACCESS.into()),
        Err(_) => Ok(None),
    }
}

/// `socket:[123]` → 123.
fn socket_inode(target: &[u8]) -> Option<u64> {
    let rest = target.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(rest).ok()?.parse().ok()
}

/// `net.ipv4.ip_unprivileged_port_start` of the network namespace `/proc/<pid>` is in: ports below it need
/// cap_net_bind_service. Sysctls under /proc/sys/net show the reader's own namespace, so for another one a
/// short-lived thread joins that namespace (which needs CAP_SYS_ADMIN) and reads it there.
pub fn unprivileged_port_start(proc_dir: &Path) -> io::Result<u16> {
    const SYSCTL: &str = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
    let read = || -> io::Result<u16> {
        let text = fs::read_to_string(SYSCTL)?;
        text.trim()
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("{SYSCTL}: {text:?}")))
    };
    let theirs = link_inode(&proc_dir.join("ns/net"), "net")?;
    if theirs == link_inode(Path::new("/proc/thread-self/ns/net"), "net")? {
        return read();
    }
    let ns = fs::File::open(proc_dir.join("ns/net"))?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                use std::os::fd::AsFd;
                rustix::thread::move_into_link_name_space(
                    ns.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )?;
                read()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the namespace reader thread failed")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 27182 1 0000000000000000 100 0 0 10 0
   1: 0100007F:A2B4 0100007F:0CEA 01 00000000:00000000 00:00000000 00000000  1000        0 31415 1 0000000000000000 20 4 30 10 -1
   2: garbage
";

    #[test]
    fn parses_tcp_rows() {
        let sockets = parse_inet_table(Proto::Tcp, TCP);
        assert_eq!(sockets.len(), 2);
        assert_eq!(sockets[0].state, "LISTEN");
        assert!(sockets[0].is_listening());
        assert_eq!(sockets[0].local.to_string(), "127.0.0.1:3306");
        assert_eq!(sockets[0].remote, None);
        assert_eq!(sockets[0].inode, 27182);
        assert_eq!(
            sockets[1].remote.as_ref().map(ToString::to_string),
            Some("127.0.0.1:3306".into())
        );
        assert_eq!(sockets[1].uid, Some(1000));
    }

    #[test]
    fn parses_ipv6_and_raw() {
        let tcp6 = "header\n   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0\n";
        let sockets = parse_inet_table(Proto::Tcp6, tcp6);
        assert_eq!(sockets[0].local.to_string(), "[::1]:22");
        let raw = "header\n   1: 00000000:0001 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 777 2 0 0\n";
        let sockets = parse_inet_table(Proto::Raw, raw);
        assert_eq!(
            sockets[0].local,
            Endpoint::Raw(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 1)
        );
        assert_eq!(sockets[0].state, "UNCONN");
    }

    #[test]
    fn parses_packet_and_unix() {
        let packet = "sk               RefCnt Type Proto  Iface R Rmem   User   Inode\nffff9d3f 3      3    0003   2     1 0      0      5555\n";
        let sockets = parse_packet_table(packet);
        assert_eq!(
            sockets[0].local,
            Endpoint::Packet {
                ifindex: 2,
                ethertype: 3
            }
        );
        assert_eq!(sockets[0].inode, 5555);
        let unix = b"Num       RefCount Protocol Flags    Type St Inode Path\n\
ffff0001: 00000002 00000000 00010000 0001 01 1001 /run/a b.sock\n\
ffff0002: 00000002 00000000 00000000 0002 01 1002\n\
ffff0003: 00000003 00000000 00000000 0001 03 1003 @abstract\xff\n";
        let sockets = parse_unix_table(unix);
        assert_eq!(sockets.len(), 3);
        assert_eq!(sockets[0].state, "LISTEN");
        assert_eq!(
            sockets[0].local,
            Endpoint::Unix(Some(b"/run/a b.sock".to_vec()))
        );
        assert_eq!(sockets[1].local, Endpoint::Unix(None));
        assert_eq!(sockets[2].state, "CONNECTED");
        assert_eq!(
            sockets[2].local,
            Endpoint::Unix(Some(b"@abstract\xff".to_vec()))
        );
    }

    #[test]
    fn reads_own_namespace() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let sockets = read_tables(Path::new("/proc/self"), false).expect("read tables");
        assert!(sockets
            .iter()
            .any(|s| s.proto == Proto::Tcp && s.local_port() == Some(port) && s.is_listening()));
        let own = socket_inodes(Path::new("/proc/self")).expect("own fds");
        assert!(sockets
            .iter()
            .any(|s| s.local_port() == Some(port) && own.contains(&s.inode)));
        let start = unprivileged_port_start(Path::new("/proc/self")).expect("sysctl");
        let direct =
            fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").expect("sysctl");
        assert_eq!(start.to_string(), direct.trim());
    }
}
