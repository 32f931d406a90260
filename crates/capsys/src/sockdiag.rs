//! Every socket of one network namespace, from the kernel's sock_diag netlink interface, as `ss` reads them:
//! inet_diag for tcp, udp and udplite over IPv4 and IPv6, unix_diag, and packet_diag. The records are binary
//! and length-delimited, so nothing a process names its socket can pass for another row (the text of
//! /proc/net/unix prints names raw: a name with a newline forges rows there).
//!
//! A netlink socket answers for the namespace it was created in, so a namespace other than our own is
//! dumped from a worker thread that joins it first ([`dump_each`] shares many namespaces among a few
//! workers, one per core, each joining them in turn). raw_diag is often not built (CONFIG_INET_RAW_DIAG);
//! raw and raw6 come from /proc/thread-self/net/raw{,6}, seen from the same thread, whose fields are numbers
//! only.
//!
//! Every namespace shares one table of TCP connections unless it was made with its own
//! (net.ipv4.tcp_child_ehash_entries), and a dump walks every bucket of it whatever the namespace holds:
//! over a millisecond for 262,144 buckets, against tens of microseconds for every other table. So TCP is
//! asked for in two walks, each covering IPv4 and IPv6 at once (the old TCPDIAG_GETSOCK request, whose
//! family is left unspecified): the listeners first, and the connections last. A caller that looks only for
//! some sockets (those its processes hold) has the tables read until they are all found ([`Wanted`]), and
//! an inet table the namespace's socket counts (/proc/net/sockstat) show empty is not walked at all.
//!
//! netlink-packet-sock-diag builds the inet and unix requests and parses their answers; it has no
//! packet_diag, which is parsed here (include/uapi/linux/packet_diag.h).
//!
//! No dump is a snapshot. A netlink dump answers in batches and a /proc/net table in reads of a page at
//! most, and each batch or read resumes by position (the n-th socket of this namespace in a bucket or list,
//! counted again from the start), not by socket: when a socket before that position closes in between, the
//! next one moves back past the reader and is left out, however long it has existed. raw tables are read
//! with a buffer of many pages so that a small one is rendered in one pass; a caller that knows a socket is
//! open ([`trace_socket`] says whether a dump must list it) reads the namespace again when it is missing.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use netlink_packet_core::{
    DefaultNla, NetlinkHeader, NetlinkMessage, Nla as _, Parseable, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::{
    constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE},
    inet::{self, ExtensionFlags, InetRequest, InetResponse, SocketId},
    unix::{self, nlas::UnixDiagName, ShowFlags, UnixRequest, UnixResponse},
    SockDiagMessage,
};
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket as NetlinkSocket};

use crate::net::{self, Endpoint, Proto, Socket, SocketOptions};

/// What one namespace holds: its sockets, where unprivileged ports start, and the names of the interfaces
/// packet sockets are bound to.
#[derive(Debug, Default)]
pub struct Dump {
    pub sockets: Vec<Socket>,
    /// `net.ipv4.ip_unprivileged_port_start`; `None` if it could not be read.
    pub port_start: Option<u16>,
    /// `net.ipv4.ip_local_port_range`, where the ports the kernel picks come from; `None` if unread.
    pub local_ports: Option<std::ops::RangeInclusive<u16>>,
    pub interfaces: Vec<(u32, String)>,
    /// Families that could not be dumped (other than those the kernel does not have), with the cause.
    pub errors: Vec<(Proto, String)>,
    /// Whether raw and raw6 came from /proc/net (no raw_diag in this kernel).
    pub raw_from_proc: bool,
    /// Inodes of this namespace's sockets of families not listed (netlink; unix when not asked for), so that
    /// a holder's descriptor for one is known to be here without asking the socket itself.
    pub unlisted: Vec<u64>,
    /// Whether every table was read: false when every socket [`Wanted`] was found before the last.
    pub complete: bool,
}

/// Which of a namespace's sockets the caller looks for.
#[derive(Clone, Copy, Debug)]
pub enum Wanted<'a> {
    /// Every one.
    All,
    /// These inodes (those its holders have open): the tables are read until all of them are found, each
    /// table whole, the TCP listeners always, the costly TCP connections last. A socket no holder holds is
    /// never shown, so the tables left unread hold nothing asked for.
    Inodes(&'a HashSet<u64>),
}

/// The most sockets one family's dump may return before it is cut: a bound on memory whatever the kernel
/// (or a flood of sockets) sends.
const MAX_SOCKETS: usize = 4_000_000;
/// The receive buffer for one read of a dump; the kernel fills up to 32 KiB per message batch.
const RECV_SIZE: usize = 64 * 1024;

const NLMSG_HEADER: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// include/uapi/linux/inet_diag.h: the request before SOCK_DIAG_BY_FAMILY, which answers for IPv4 and IPv6
/// in one walk, in messages of its own type.
const TCPDIAG_GETSOCK: u16 = 18;
/// include/net/tcp_states.h: TCP_LISTEN's bit in a state mask.
const TCPF_LISTEN: u32 = 1 << 10;
const AF_PACKET: u8 = 17;
const AF_UNIX: u8 = 1;
const AF_NETLINK: u8 = 16;
/// include/uapi/linux/netlink_diag.h: every netlink protocol.
const NDIAG_PROTO_ALL: u8 = 0xff;
/// include/uapi/linux/inet_diag.h: the mark (net/ipv4/inet_diag.c sends it only to a reader with
/// CAP_NET_ADMIN in the namespace) and `struct inet_diag_sockopt` (sent to anyone since Linux 5.10).
const INET_DIAG_SOCKOPT: u16 = 22;
/// include/uapi/linux/unix_diag.h.
const UDIAG_SHOW_UID: u32 = 0x40;
const UNIX_DIAG_UID: u16 = 7;
/// include/uapi/linux/packet_diag.h.
const PACKET_SHOW_INFO: u32 = 0x1;
const PACKET_DIAG_INFO: u16 = 0;
const PACKET_DIAG_UID: u16 = 5;
const PDI_RUNNING: u32 = 0x1;

/// Dumps the namespace `ns` refers to (an open /proc/PID/ns/net or a namespace descriptor), or our own
/// when `None` or when it is ours already. Joining another needs CAP_SYS_ADMIN.
pub fn dump(ns: Option<BorrowedFd<'_>>, with_unix: bool, wanted: Wanted<'_>) -> io::Result<Dump> {
    match ns {
        Some(fd) => dump_each(&[(fd, wanted)], with_unix)
            .pop()
            .unwrap_or_else(|| Err(io::Error::other("no dump"))),
        None => Ok(dump_here(with_unix, wanted)),
    }
}

/// Dumps each namespace, in the order given. Our own is read from this thread; the others are shared
/// among one worker per core, each taking the next namespace from a counter (no worker waits on another)
/// and joining it; the workers end with the call, so this thread's namespace never changes.
pub fn dump_each(
    namespaces: &[(BorrowedFd<'_>, Wanted<'_>)],
    with_unix: bool,
) -> Vec<io::Result<Dump>> {
    let own = net::link_inode(Path::new("/proc/thread-self/ns/net"), "net");
    let inodes: Vec<io::Result<u64>> = namespaces
        .iter()
        .map(|(fd, _)| namespace_inode(*fd))
        .collect();
    let is_own = |i: usize| matches!((&own, &inodes[i]), (Ok(own), Ok(inode)) if own == inode);
    let foreign = (0..namespaces.len()).filter(|&i| !is_own(i)).count();
    let workers = crate::proc::cores().min(foreign);
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<io::Result<Dump>>> = (0..namespaces.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    let mut here = own.as_ref().ok().copied();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(fd, wanted)) = namespaces.get(i) else {
                            break;
                        };
                        if is_own(i) {
                            continue;
                        }
                        done.push((i, dump_joined(fd, &inodes[i], &mut here, with_unix, wanted)));
                    }
                    done
                })
            })
            .collect();
        for i in (0..namespaces.len()).filter(|&i| is_own(i)) {
            results[i] = Some(Ok(dump_here(with_unix, namespaces[i].1)));
        }
        for handle in handles {
            // A worker that panicked leaves its namespaces without a result, reported below.
            for (i, result) in handle.join().unwrap_or_default() {
                results[i] = Some(result);
            }
        }
    });
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(io::Error::other("the namespace reader thread failed"))))
        .collect()
}

/// Joins namespace `fd` (unless the worker is in it already: `here`) and dumps it.
fn dump_joined(
    fd: BorrowedFd<'_>,
    inode: &io::Result<u64>,
    here: &mut Option<u64>,
    with_unix: bool,
    wanted: Wanted<'_>,
) -> io::Result<Dump> {
    let inode = match inode {
        Ok(inode) => *inode,
        Err(err) => return Err(io::Error::new(err.kind(), err.to_string())),
    };
    if *here != Some(inode) {
        *here = None;
        rustix::thread::move_into_link_name_space(
            fd,
            Some(rustix::thread::LinkNameSpaceType::Network),
        )?;
        *here = Some(inode);
    }
    Ok(dump_here(with_unix, wanted))
}

/// The inode of a network namespace descriptor: the number `/proc/PID/ns/net` links show.
pub fn namespace_inode(fd: BorrowedFd<'_>) -> io::Result<u64> {
    Ok(rustix::fs::fstat(fd)?.st_ino)
}

/// Dumps the namespace the calling thread is in.
fn dump_here(with_unix: bool, wanted: Wanted<'_>) -> Dump {
    let mut dump = Dump {
        raw_from_proc: true,
        ..Dump::default()
    };
    match Diag::open() {
        Ok(mut diag) => read_tables(&mut dump, &mut diag, with_unix, wanted),
        Err(err) => dump.errors.push((Proto::Tcp, format!("sock_diag: {err}"))),
    }
    finish(&mut dump);
    dump
}

/// Reads the namespace's tables until every socket `wanted` is found: the TCP listeners first (whole,
/// whatever is wanted: they tell a connection a listener accepted from one that bound its port itself),
/// then UDP, the rest of the inet tables that the namespace's socket counts say are not empty (each
/// table is shared by every namespace and walked whole), packet, unix (only identified, without
/// `with_unix`), netlink (only identified), and last the costly walk of TCP connections. A namespace whose
/// holders hold only listeners and datagram sockets costs two short walks.
fn read_tables(dump: &mut Dump, diag: &mut Diag, with_unix: bool, wanted: Wanted<'_>) {
    let result = diag.tcp(TCPF_LISTEN, &mut dump.sockets);
    note(dump, Proto::Tcp, result);
    let result = diag.inet(
        Proto::Udp,
        AF_INET,
        IPPROTO_UDP,
        u32::MAX,
        &mut dump.sockets,
    );
    note(dump, Proto::Udp, result);
    if all_found(dump, wanted) {
        return;
    }
    let net = NetDir::open();
    let counts = SocketCounts::read(&net);
    let inet = [
        (Proto::Udp6, AF_INET6, IPPROTO_UDP, "UDP6"),
        (Proto::Udplite, AF_INET, IPPROTO_UDPLITE, "UDPLITE"),
        (Proto::Udplite6, AF_INET6, IPPROTO_UDPLITE, "UDPLITE6"),
    ];
    for (proto, family, protocol, name) in inet {
        if counts.any(&[name]) {
            // Every state: bound and connected datagram sockets alike.
            let result = diag.inet(proto, family, protocol, u32::MAX, &mut dump.sockets);
            note(dump, proto, result);
        }
    }
    read_raw(dump, &net, &counts);
    if all_found(dump, wanted) {
        return;
    }
    let result = diag.packet(&mut dump.sockets);
    note(dump, Proto::Packet, result);
    if all_found(dump, wanted) {
        return;
    }
    let result = if with_unix {
        diag.unix(true, &mut dump.sockets)
    } else {
        let mut sockets = Vec::new();
        let result = diag.unix(false, &mut sockets);
        dump.unlisted.extend(sockets.iter().map(|s| s.inode));
        result
    };
    note(dump, Proto::Unix, result);
    if all_found(dump, wanted) {
        return;
    }
    let mut netlink = Vec::new();
    if diag.netlink(&mut netlink).is_ok() {
        dump.unlisted.extend(netlink);
    }
    if all_found(dump, wanted) {
        return;
    }
    // Not gated by the counts: a TCP socket bound and idle, which newer kernels dump, is not counted.
    let result = diag.tcp(!TCPF_LISTEN, &mut dump.sockets);
    note(dump, Proto::Tcp, result);
    dump.complete = true;
}

/// raw and raw6, from this thread's /proc/net (no raw_diag in many kernels).
fn read_raw(dump: &mut Dump, net: &NetDir, counts: &SocketCounts) {
    for (proto, name) in [(Proto::Raw, "RAW"), (Proto::Raw6, "RAW6")] {
        if !counts.any(&[name]) {
            continue;
        }
        match net.read(proto.file()) {
            Ok(text) => dump.sockets.extend(net::parse_inet_table(proto, &text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => dump.errors.push((
                proto,
                format!("/proc/thread-self/net/{}: {e}", proto.file()),
            )),
        }
    }
}

/// The calling thread's /proc/net, open, so that each of its files is one lookup rather than a walk of
/// /proc/thread-self/net (it shows the namespace the thread was in when it was opened).
struct NetDir(io::Result<OwnedFd>);

impl NetDir {
    fn open() -> NetDir {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        NetDir(rustix::fs::open("/proc/thread-self/net", flags, Mode::empty()).map_err(Into::into))
    }

    /// A table in it, read in as few passes as the kernel allows, with a bound.
    fn read(&self, name: &str) -> io::Result<String> {
        use rustix::fs::{Mode, OFlags};
        let dir = self
            .0
            .as_ref()
            .map_err(|e| io::Error::new(e.kind(), e.to_string()))?;
        let file = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
        read_table(fs::File::from(file))
    }
}

/// How many sockets of each protocol the calling thread's namespace has in its inet tables, from
/// /proc/net/sockstat and sockstat6 (per namespace; a socket is counted from when it is hashed, as a dump
/// would find it, to when it is unhashed, so a socket open throughout a read is counted). When a file
/// cannot be read, every protocol it counts may have sockets.
struct SocketCounts {
    rows: Vec<(String, u64)>,
    unread: bool,
}

impl SocketCounts {
    fn read(net: &NetDir) -> SocketCounts {
        let mut counts = SocketCounts {
            rows: Vec::new(),
            unread: false,
        };
        for name in ["sockstat", "sockstat6"] {
            match net.read(name) {
                Ok(text) => counts.rows.extend(parse_sockstat(&text)),
                Err(_) => counts.unread = true,
            }
        }
        counts
    }

    /// Whether any of the protocols `names` (as sockstat names them) may have sockets here. A protocol
    /// the kernel lacks has no row and no sockets.
    fn any(&self, names: &[&str]) -> bool {
        self.unread
            || self
                .rows
                .iter()
                .any(|(name, count)| *count > 0 && names.contains(&name.as_str()))
    }
}

/// `TCP: inuse 2 orphan 0 ...` → ("TCP", 2); a count that does not parse counts as some.
fn parse_sockstat(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let mut fields = rest.split_whitespace();
            (fields.next()? == "inuse").then_some(())?;
            let count = fields
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(u64::MAX);
            Some((name.to_string(), count))
        })
        .collect()
}

/// What every dump reads last: the sysctls, and interface names for bound packet sockets.
fn finish(dump: &mut Dump) {
    // Files under /proc/sys/net show the namespace of the thread that reads them: this one's.
    dump.port_start = read_sysctl(PORT_START).and_then(|t| t.trim().parse().ok());
    dump.local_ports = read_sysctl(LOCAL_PORTS).and_then(|t| parse_port_range(&t));
    let bound_packet = dump
        .sockets
        .iter()
        .any(|s| matches!(s.local, Endpoint::Packet { ifindex, .. } if ifindex != 0));
    if bound_packet {
        dump.interfaces = net::read_interfaces(Path::new("/proc/thread-self"));
    }
}

/// Whether every socket `wanted` is among those dumped so far. Inodes are unique in a namespace, so
/// counting the wanted ones seen is enough, with no set of what was seen.
fn all_found(dump: &Dump, wanted: Wanted<'_>) -> bool {
    let Wanted::Inodes(wanted) = wanted else {
        return false;
    };
    let seen = dump.sockets.iter().map(|s| s.inode);
    let found = seen
        .chain(dump.unlisted.iter().copied())
        .filter(|inode| wanted.contains(inode))
        .count();
    found >= wanted.len()
}

/// Records a family's failure, except that the kernel lacks it (IPv6 off, no udplite): ENOENT.
fn note(dump: &mut Dump, proto: Proto, result: io::Result<()>) {
    if let Err(err) = result {
        if err.raw_os_error() != Some(libc::ENOENT) {
            dump.errors
                .push((proto, format!("sock_diag {proto}: {err}")));
        }
    }
}

/// The largest /proc/net/raw{,6} read: 150 bytes a row for over 100,000 sockets.
const MAX_RAW_TABLE: u64 = 16 * 1024 * 1024;
/// The first buffer for a raw table. A seq_file renders at most a page per read() and starts each read
/// again by position; std's reader would begin with a 32-byte probe and grow from there, one restart per
/// few rows. With room for many pages from the start, a table of a page is rendered in one pass.
const RAW_READ_BUFFER: usize = 64 * 1024;

/// A /proc/net table, read in as few passes as the kernel allows, with a bound.
fn read_table(file: fs::File) -> io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::with_capacity(RAW_READ_BUFFER);
    file.take(MAX_RAW_TABLE).read_to_end(&mut bytes)?;
    String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

const PORT_START: &str = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
const LOCAL_PORTS: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// A sysctl file: a few bytes, read with a bound.
fn read_sysctl(path: &str) -> Option<String> {
    use std::io::Read;
    let mut text = String::new();
    fs::File::open(path)
        .ok()?
        .take(64)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// `32768\t60999` → 32768..=60999.
fn parse_port_range(text: &str) -> Option<std::ops::RangeInclusive<u16>> {
    let mut fields = text.split_whitespace().map(str::parse::<u16>);
    let (low, high) = (fields.next()?.ok()?, fields.next()?.ok()?);
    (fields.next().is_none() && low <= high).then_some(low..=high)
}

/// A NETLINK_SOCK_DIAG socket of the calling thread's namespace.
struct Diag {
    socket: NetlinkSocket,
    buf: Vec<u8>,
    seq: u32,
}

impl Diag {
    fn open() -> io::Result<Diag> {
        let mut socket = NetlinkSocket::new(NETLINK_SOCK_DIAG)?;
        socket.bind_auto()?;
        Ok(Diag {
            socket,
            buf: vec![0; RECV_SIZE],
            seq: 0,
        })
    }

    fn inet(
        &mut self,
        proto: Proto,
        family: u8,
        protocol: u8,
        states: u32,
        out: &mut Vec<Socket>,
    ) -> io::Result<()> {
        let request = SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol,
            extensions: ExtensionFlags::empty(),
            states: inet::StateFlags::from_bits_retain(states),
            socket_id: if family == AF_INET6 {
                SocketId::new_v6()
            } else {
                SocketId::new_v4()
            },
        });
        self.send_crate(request)?;
        self.receive(
            |payload| {
                let response = InetResponse::parse(payload).ok()?;
                inet_socket(proto, &response)
            },
            out,
        )
    }

    /// TCP sockets of IPv4 and IPv6 in the states of `states` (TCPF_* bits), in one walk of each table
    /// those states live in; with the two requests of SOCK_DIAG_BY_FAMILY where the old one is refused.
    fn tcp(&mut self, states: u32, out: &mut Vec<Socket>) -> io::Result<()> {
        // struct inet_diag_req: family, src_len, dst_len, ext, id (48 bytes), states, dbs.
        let mut req = Vec::with_capacity(60);
        req.extend_from_slice(&[0, 0, 0, 0]);
        req.extend_from_slice(&[0; 48]);
        req.extend_from_slice(&states.to_ne_bytes());
        req.extend_from_slice(&0u32.to_ne_bytes());
        self.send_typed(TCPDIAG_GETSOCK, &req)?;
        let mut both = Vec::new();
        let parse = |payload: &[u8]| {
            let response = InetResponse::parse(payload).ok()?;
            let proto = match response.header.family {
                AF_INET => Proto::Tcp,
                AF_INET6 => Proto::Tcp6,
                _ => return None,
            };
            inet_socket(proto, &response)
        };
        match self.receive_typed(TCPDIAG_GETSOCK, parse, &mut both) {
            Ok(()) => {
                out.append(&mut both);
                Ok(())
            }
            Err(_) => {
                self.inet(Proto::Tcp, AF_INET, IPPROTO_TCP, states, out)?;
                self.inet(Proto::Tcp6, AF_INET6, IPPROTO_TCP, states, out)
            }
        }
    }

    /// Unix sockets, with their names and owners when `full` (else only what identifies them).
    fn unix(&mut self, full: bool, out: &mut Vec<Socket>) -> io::Result<()> {
        let show = if full {
            ShowFlags::NAME.bits() | UDIAG_SHOW_UID
        } else {
            0
        };
        let request = SockDiagMessage::UnixRequest(UnixRequest {
            state_flags: unix::StateFlags::from_bits_retain(u32::MAX),
            inode: 0,
            show_flags: ShowFlags::from_bits_retain(show),
            cookie: [0xff; 8],
        });
        self.send_crate(request)?;
        self.receive(
            |payload| {
                if payload.first() != Some(&AF_UNIX) {
                    return None;
                }
                unix_socket(&UnixResponse::parse(payload).ok()?)
            },
            out,
        )
    }

    fn packet(&mut self, out: &mut Vec<Socket>) -> io::Result<()> {
        // struct packet_diag_req: family, protocol, pad, ino, show, cookie[2].
        let mut req = Vec::with_capacity(16);
        req.extend_from_slice(&[AF_PACKET, 0, 0, 0]);
        req.extend_from_slice(&0u32.to_ne_bytes());
        req.extend_from_slice(&PACKET_SHOW_INFO.to_ne_bytes());
        req.extend_from_slice(&[0xff; 8]);
        self.send_raw(&req)?;
        self.receive(packet_socket, out)
    }

    /// The inodes of every netlink socket (`struct netlink_diag_req` with every protocol), which capnet
    /// does not list but must know are here.
    fn netlink(&mut self, out: &mut Vec<u64>) -> io::Result<()> {
        let mut req = Vec::with_capacity(16);
        req.extend_from_slice(&[AF_NETLINK, NDIAG_PROTO_ALL, 0, 0]);
        req.extend_from_slice(&0u32.to_ne_bytes());
        req.extend_from_slice(&0u32.to_ne_bytes());
        req.extend_from_slice(&[0xff; 8]);
        self.send_raw(&req)?;
        // struct netlink_diag_msg: family, type, protocol, state, portid, dst_portid, dst_group, ino.
        self.receive(
            |payload| {
                (payload.len() >= 20 && payload[0] == AF_NETLINK)
                    .then(|| u64::from(u32_at(payload, 16)))
            },
            out,
        )
    }

    fn send_crate(&mut self, message: SockDiagMessage) -> io::Result<()> {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        self.seq = self.seq.wrapping_add(1);
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, message.into());
        packet.finalize();
        let mut bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut bytes);
        self.socket.send(&bytes, 0)?;
        Ok(())
    }

    fn send_raw(&mut self, body: &[u8]) -> io::Result<()> {
        self.send_typed(SOCK_DIAG_BY_FAMILY, body)
    }

    fn send_typed(&mut self, kind: u16, body: &[u8]) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let len = u32::try_from(NLMSG_HEADER + body.len()).map_err(io::Error::other)?;
        let mut bytes = Vec::with_capacity(NLMSG_HEADER + body.len());
        bytes.extend_from_slice(&len.to_ne_bytes());
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        bytes.extend_from_slice(&self.seq.to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes());
        bytes.extend_from_slice(body);
        self.socket.send(&bytes, 0)?;
        Ok(())
    }

    /// Reads the answer to the last request until NLMSG_DONE, turning each SOCK_DIAG_BY_FAMILY payload
    /// into a record with `parse` (a payload that does not parse is skipped: it is that one socket's).
    fn receive<T>(
        &mut self,
        parse: impl FnMut(&[u8]) -> Option<T>,
        out: &mut Vec<T>,
    ) -> io::Result<()> {
        self.receive_typed(SOCK_DIAG_BY_FAMILY, parse, out)
    }

    /// [`Diag::receive`] for answers in messages of type `answer`.
    fn receive_typed<T>(
        &mut self,
        answer: u16,
        mut parse: impl FnMut(&[u8]) -> Option<T>,
        out: &mut Vec<T>,
    ) -> io::Result<()> {
        let mut count = 0usize;
        loop {
            let n = self.socket.recv(&mut &mut self.buf[..], libc::MSG_TRUNC)?;
            if n > self.buf.len() {
                return Err(io::Error::other("a netlink message larger than the buffer"));
            }
            let mut rest = &self.buf[..n];
            while rest.len() >= NLMSG_HEADER {
                let len = u32_at(rest, 0) as usize;
                let kind = u16::from_ne_bytes([rest[4], rest[5]]);
                let seq = u32_at(rest, 8);
                if len < NLMSG_HEADER || len > rest.len() {
                    return Err(io::Error::other("a malformed netlink message"));
                }
                let payload = &rest[NLMSG_HEADER..len];
                rest = rest.get(align4(len)..).unwrap_or(&[]);
                if seq != self.seq {
                    continue;
                }
                match kind {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let code = payload.get(..4).map_or(0, |b| u32_at(b, 0) as i32);
                        if code != 0 {
                            return Err(io::Error::from_raw_os_error(-code));
                        }
                    }
                    kind if kind == answer => {
                        count += 1;
                        if count > MAX_SOCKETS {
                            return Err(io::Error::other("more sockets than capnet reads"));
                        }
                        out.extend(parse(payload));
                    }
                    _ => {}
                }
            }
        }
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    if let Some(b) = bytes.get(at..at + 4) {
        word.copy_from_slice(b);
    }
    u32::from_ne_bytes(word)
}

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The value of an attribute the crate does not know.
fn nla_value(nla: &DefaultNla) -> Vec<u8> {
    let mut value = vec![0; nla.value_len()];
    nla.emit_value(&mut value);
    value
}

/// `transparent` in `struct inet_diag_sockopt`'s first byte: bit 5 where bitfields fill from the low bit
/// (little-endian ABIs), bit 2 where they fill from the high bit (big-endian).
const fn transparent_bit() -> u8 {
    if cfg!(target_endian = "little") {
        1 << 5
    } else {
        1 << 2
    }
}

fn inet_socket(proto: Proto, response: &InetResponse) -> Option<Socket> {
    let header = &response.header;
    if header.inode == 0 {
        // TIME_WAIT and request sockets belong to no descriptor.
        return None;
    }
    let id = &header.socket_id;
    let mut options = SocketOptions::default();
    for nla in &response.nlas {
        match nla {
            inet::nlas::Nla::Mark(mark) => options.mark = Some(*mark),
            inet::nlas::Nla::Other(other) if other.kind() == INET_DIAG_SOCKOPT => {
                let value = nla_value(other);
                options.transparent = value.first().map(|b| b & transparent_bit() != 0);
            }
            _ => {}
        }
    }
    let remote_set = !id.destination_address.is_unspecified() || id.destination_port != 0;
    Some(Socket {
        proto,
        inode: u64::from(header.inode),
        state: net::inet_state(proto, header.state),
        local: Endpoint::Inet(id.source_address, id.source_port),
        remote: remote_set.then_some(Endpoint::Inet(id.destination_address, id.destination_port)),
        uid: Some(header.uid),
        options,
    })
}

fn unix_socket(response: &UnixResponse) -> Option<Socket> {
    let header = &response.header;
    let mut name = None;
    let mut uid = None;
    for nla in &response.nlas {
        match nla {
            unix::nlas::Nla::Name(UnixDiagName::Abstract(bytes)) => {
                let mut shown = vec![b'@'];
                shown.extend_from_slice(bytes);
                name = Some(shown);
            }
            unix::nlas::Nla::Name(UnixDiagName::Pathname(path)) => {
                use std::os::unix::ffi::OsStrExt;
                name = Some(path.as_bytes().to_vec());
            }
            unix::nlas::Nla::Other(other) if other.kind() == UNIX_DIAG_UID => {
                uid = nla_value(other).get(..4).map(|b| u32_at(b, 0));
            }
            _ => {}
        }
    }
    // include/net/tcp_states.h numbers, as unix_diag reports them.
    let state = match header.state {
        10 => "LISTEN",
        1 => "CONNECTED",
        2 => "CONNECTING",
        _ => "UNCONN",
    };
    Some(Socket {
        proto: Proto::Unix,
        inode: u64::from(header.inode),
        state,
        local: Endpoint::Unix(name),
        remote: None,
        uid,
        options: SocketOptions::default(),
    })
}

/// `struct packet_diag_msg` (family, type, num, ino, cookie) and its attributes.
fn packet_socket(payload: &[u8]) -> Option<Socket> {
    const MSG: usize = 16;
    if payload.len() < MSG || payload[0] != AF_PACKET {
        return None;
    }
    let ethertype = u16::from_ne_bytes([payload[2], payload[3]]);
    let inode = u32_at(payload, 4);
    let mut ifindex = 0;
    let mut running = false;
    let mut uid = None;
    let mut attrs = &payload[MSG..];
    while attrs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        if len < 4 || len > attrs.len() {
            break;
        }
        let value = &attrs[4..len];
        match kind {
            // struct packet_diag_info: index, version, reserve, copy_thresh, tstamp, flags.
            PACKET_DIAG_INFO if value.len() >= 24 => {
                ifindex = u32_at(value, 0);
                running = u32_at(value, 20) & PDI_RUNNING != 0;
            }
            PACKET_DIAG_UID if value.len() >= 4 => uid = Some(u32_at(value, 0)),
            _ => {}
        }
        attrs = attrs.get(align4(len)..).unwrap_or(&[]);
    }
    Some(Socket {
        proto: Proto::Packet,
        inode: u64::from(inode),
        state: if running { "RUNNING" } else { "STOPPED" },
        local: Endpoint::Packet { ifindex, ethertype },
        remote: None,
        uid,
        options: SocketOptions::default(),
    })
}

/// A socket traced to the namespace it lives in.
#[derive(Debug)]
pub struct Traced {
    /// The namespace, open.
    pub namespace: OwnedFd,
    /// Whether every dump of that namespace lists the socket while it is open: a raw, packet or unix
    /// socket (the kernel tables them from creation), a TCP listener or connection, or a UDP or UDP-Lite
    /// socket bound to a port. A dump without it missed it. Other sockets (a TCP or UDP socket not yet
    /// bound, netlink, families capnet does not dump) may be in no dump at all.
    pub listed: bool,
}

/// The network namespace of socket `inode`, held as descriptor `fd` of process `pid`, and what kind of
/// socket it is: a copy of the descriptor taken with pidfd_getfd (which needs PTRACE_MODE_ATTACH_REALCREDS
/// on the process: root may), then SIOCGSKNS on the copy, which opens the namespace the socket lives in.
/// The process may have closed the descriptor and reused its number since it was listed: a copy that is
/// not that socket is refused.
pub fn trace_socket(pid: u32, fd: i32, inode: u64) -> io::Result<Traced> {
    let copy = socket_copy(pid, fd, inode)?;
    let namespace = socket_namespace(copy.as_fd())?;
    Ok(Traced {
        namespace,
        listed: always_dumped(copy.as_fd()),
    })
}

/// Whether descriptor `fd` of `pid` is still socket `inode`. A socket open before and after a read of its
/// namespace was open throughout it: inodes are not reused while a socket lives.
pub fn still_open(pid: u32, fd: i32, inode: u64) -> bool {
    socket_copy(pid, fd, inode).is_ok()
}

/// A copy of descriptor `fd` of `pid`, which must still be socket `inode`.
fn socket_copy(pid: u32, fd: i32, inode: u64) -> io::Result<OwnedFd> {
    use rustix::process::{pidfd_getfd, pidfd_open, Pid, PidfdFlags, PidfdGetfdFlags};
    let pid = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))?;
    let pidfd = pidfd_open(pid, PidfdFlags::empty())?;
    let copy = pidfd_getfd(&pidfd, fd, PidfdGetfdFlags::empty())?;
    if rustix::fs::fstat(&copy)?.st_ino != inode {
        return Err(io::Error::from_raw_os_error(libc::ESTALE));
    }
    Ok(copy)
}

/// SIOCGSKNS: the namespace `socket` lives in, opened.
fn socket_namespace(socket: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    const SIOCGSKNS: libc::c_ulong = 0x894C;
    // SAFETY: SIOCGSKNS takes no argument and returns a new descriptor or -1; `socket` is open for the call.
    let ns = unsafe { libc::ioctl(socket.as_raw_fd(), SIOCGSKNS as _) };
    if ns < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the ioctl returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ns) })
}

/// Whether `socket` is of a kind the kernel keeps in the tables a dump walks for as long as it is open
/// (see [`Traced::listed`]). Unsure is no: the caller reads a namespace again only for a socket that must
/// be in it.
fn always_dumped(socket: BorrowedFd<'_>) -> bool {
    use rustix::net::{sockopt, AddressFamily};
    match sockopt::socket_domain(socket) {
        Ok(AddressFamily::UNIX | AddressFamily::PACKET) => true,
        Ok(AddressFamily::INET | AddressFamily::INET6) => inet_always_dumped(socket),
        _ => false,
    }
}

/// raw sockets are hashed when created; TCP ones once listening or connected (one bound and idle is
/// dumped only by newer kernels); UDP and UDP-Lite ones once bound to a port (connecting binds one).
fn inet_always_dumped(socket: BorrowedFd<'_>) -> bool {
    use rustix::net::{ipproto, sockopt, SocketType};
    let (Ok(kind), Ok(protocol)) = (
        sockopt::socket_type(socket),
        sockopt::socket_protocol(socket),
    ) else {
        return false;
    };
    match (kind, protocol) {
        (SocketType::RAW, Some(_)) => true,
        (SocketType::STREAM, Some(ipproto::TCP)) => {
            sockopt::socket_acceptconn(socket).unwrap_or(false)
                || rustix::net::getpeername(socket).is_ok_and(|peer| peer.is_some())
        }
        (SocketType::DGRAM, Some(ipproto::UDP | ipproto::UDPLITE)) => {
            rustix::net::getsockname(socket)
                .ok()
                .and_then(|addr| std::net::SocketAddr::try_from(addr).ok())
                .is_some_and(|addr| addr.port() != 0)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumps_own_sockets() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let udp = std::net::UdpSocket::bind("[::1]:0");
        let dump = dump(None, true, Wanted::All).expect("dump");
        assert!(dump
            .sockets
            .iter()
            .any(|s| s.proto == Proto::Tcp && s.local_port() == Some(port) && s.is_listening()));
        if let Ok(udp) = udp {
            let port = udp.local_addr().expect("local addr").port();
            assert!(dump
                .sockets
                .iter()
                .any(|s| s.proto == Proto::Udp6 && s.local_port() == Some(port)));
        }
        let ns = fs::File::open("/proc/self/ns/net").expect("own namespace");
        let inode = namespace_inode(ns.as_fd()).expect("fstat");
        assert_eq!(
            inode,
            net::link_inode(Path::new("/proc/self/ns/net"), "net").expect("link")
        );
        assert!(dump.port_start.is_some());
        assert!(dump.local_ports.is_some());
    }

    #[test]
    fn shows_the_mark_and_transparent_options() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: SO_MARK and IP_TRANSPARENT need CAP_NET_ADMIN");
            return;
        }
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        let fd = socket.as_fd().as_raw_fd();
        let one: libc::c_int = 1;
        let mark: libc::c_int = 0x5eed;
        let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: setsockopt with a valid descriptor and pointers to ints that outlive the calls.
        let set = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_MARK,
                (&mark as *const libc::c_int).cast(),
                size,
            ) == 0
                && libc::setsockopt(
                    fd,
                    libc::SOL_IP,
                    libc::IP_TRANSPARENT,
                    (&one as *const libc::c_int).cast(),
                    size,
                ) == 0
        };
        assert!(set, "{}", io::Error::last_os_error());
        let port = socket.local_addr().expect("local addr").port();
        let plain = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        let plain_port = plain.local_addr().expect("local addr").port();
        let dump = dump(None, false, Wanted::All).expect("dump");
        let find = |port| {
            dump.sockets
                .iter()
                .find(|s| s.proto == Proto::Udp && s.local_port() == Some(port))
                .expect("our socket")
        };
        assert_eq!(find(port).options.mark, Some(0x5eed));
        assert_eq!(find(port).options.transparent, Some(true));
        assert_eq!(find(plain_port).options.mark, Some(0));
        assert_eq!(find(plain_port).options.transparent, Some(false));
    }

    #[test]
    fn a_socket_must_be_in_dumps_once_the_kernel_tables_it() {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        assert!(always_dumped(udp.as_fd()), "bound to a port");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        assert!(always_dumped(listener.as_fd()));
        let client =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        assert!(always_dumped(client.as_fd()));
        let (unix, _) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        assert!(always_dumped(unix.as_fd()));
        // socket(2) alone: no port, so in no inet table yet.
        let fresh = rustix::net::socket(
            rustix::net::AddressFamily::INET,
            rustix::net::SocketType::DGRAM,
            None,
        )
        .expect("socket");
        assert!(!always_dumped(fresh.as_fd()));
        let file = fs::File::open("/proc/self/ns/net").expect("own namespace");
        assert!(!always_dumped(file.as_fd()), "not a socket");
    }

    #[test]
    fn traces_our_own_socket_to_our_namespace() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let fd = listener.as_fd().as_raw_fd();
        let inode = rustix::fs::fstat(&listener).expect("fstat").st_ino;
        let Ok(traced) = trace_socket(std::process::id(), fd, inode) else {
            eprintln!("skipped: pidfd_getfd is not allowed here");
            return;
        };
        assert!(traced.listed);
        let own = net::link_inode(Path::new("/proc/self/ns/net"), "net").expect("link");
        assert_eq!(
            namespace_inode(traced.namespace.as_fd()).expect("fstat"),
            own
        );
        assert!(still_open(std::process::id(), fd, inode));
        assert!(
            !still_open(std::process::id(), fd, inode + 1),
            "another inode"
        );
    }

    #[test]
    fn counts_sockets_by_protocol() {
        let text =
            "sockets: used 22\nTCP: inuse 0 orphan 0 tw 0 alloc 402 mem 112\nUDP: inuse 1 mem 0\n\
                    RAW: inuse x\nFRAG: inuse 0 memory 0\n";
        let counts = SocketCounts {
            rows: parse_sockstat(text),
            unread: false,
        };
        assert!(counts.any(&["UDP"]));
        assert!(!counts.any(&["TCP", "TCP6"]), "none, or no such protocol");
        assert!(counts.any(&["RAW"]), "unparsed counts as some");
        let unread = SocketCounts {
            rows: Vec::new(),
            unread: true,
        };
        assert!(unread.any(&["TCP"]));
    }

    #[test]
    fn parses_the_local_port_range() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some(32768..=60999));
        assert_eq!(parse_port_range("1 2 3"), None);
        assert_eq!(parse_port_range("600 500"), None);
        assert_eq!(parse_port_range("x 5"), None);
    }
}
