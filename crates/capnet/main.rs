//! capnet: which processes with capabilities hold which sockets, in every network namespace, and which of
//! their network capabilities those sockets actually need.
//!
//! Processes are read with capls's reader (capsys::proc). Each network namespace's socket tables are read
//! once, through /proc/PID/net of the first process seen in it, and sockets are matched to their owners by
//! the inodes behind /proc/PID/fd, so a socket shared by several processes is listed under each of them.

mod needs;

use std::collections::{BTreeMap, HashMap};
use std::error::Error;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use capcli::{escape_bytes, output, render, summary, ExternalBytes, Output, EXIT_OK};
use capcore::{CapSet, TaskStatus};
use capsys::net::{self, Endpoint, Proto, Socket};
use capsys::proc::{self, Process, ReadError, ReadOptions};
use capsys::users::Names;
use clap::{CommandFactory, Parser};
use clap_complete::Shell;
use serde::Serialize;

const PROG: &str = "capnet";

const AFTER_HELP: &str = "\
Each process is a line (PID, PPID, USER, COMMAND, NETNS, capabilities as capls summarises them), and each
of its sockets a line below it: PROTO, STATE, LOCAL, REMOTE (the interface for packet sockets, the IP
protocol for raw ones) and NEEDS, the capability binding or opening that socket took. NETNS is `host`, or
the namespace's inode with `*`. A process holding network capabilities its sockets do not need ends its
line with `unneeded: ...`.

NEEDS: a TCP listener or a UDP socket bound below the namespace's net.ipv4.ip_unprivileged_port_start needs
cap_net_bind_service; a raw or packet socket needs cap_net_raw. cap_net_admin and cap_net_broadcast are
never needed by a socket alone.

Examples:
  capnet                      processes holding capabilities, and their sockets
  capnet --unneeded           processes holding network capabilities they do not use
  capnet -a --listening --proto tcp,udp
  capnet --json --port 53";

/// Show the sockets of processes with capabilities, in every network namespace, and what they need.
#[derive(Parser)]
#[command(name = PROG, version, after_help = AFTER_HELP, max_term_width = 100)]
struct Args {
    /// Every process, not only those holding capabilities.
    #[arg(short, long)]
    all: bool,
    /// Include unix sockets.
    #[arg(long)]
    unix: bool,
    /// Only listening sockets: TCP and unix listeners, and UDP, raw and packet sockets not connected.
    #[arg(long)]
    listening: bool,
    /// Only these protocols (tcp, tcp6, udp, udp6, udplite, udplite6, raw, raw6, packet, unix; `tcp` also
    /// matches tcp6, and so on).
    #[arg(long, value_name = "PROTO", value_delimiter = ',')]
    proto: Vec<String>,
    /// Only sockets with this local port.
    #[arg(long, value_name = "N")]
    port: Vec<u16>,
    /// Only these processes.
    #[arg(long, value_name = "PID", value_delimiter = ',')]
    pid: Vec<u32>,
    /// Only processes holding one of these capabilities (permitted or effective).
    #[arg(long, value_name = "CAP[,CAP]")]
    cap: Option<String>,
    /// Only processes holding network capabilities that none of their sockets needs.
    #[arg(long)]
    unneeded: bool,
    /// One JSON object per (process, socket) (NDJSON).
    #[arg(long)]
    json: bool,
    /// Print a completion script for a shell.
    #[arg(long, value_name = "SHELL", hide = true)]
    generate_completions: Option<Shell>,
}

fn main() -> ExitCode {
    capcli::run(PROG, || run(Args::parse()))
}

fn run(args: Args) -> Result<u8, Box<dyn Error>> {
    if let Some(shell) = args.generate_completions {
        let mut out = io::stdout().lock();
        clap_complete::generate(shell, &mut Args::command(), PROG, &mut out);
        return Ok(EXIT_OK);
    }
    let filter = Filter::from_args(&args)?;
    let known = capsys::kernel::known_caps_or_default();
    let mut tally = Tally::default();
    let pids = if args.pid.is_empty() {
        let mut pids = proc::pids()?;
        if let Some(kernel) = proc::kernel_threads() {
            pids.retain(|pid| kernel.binary_search(pid).is_err());
        }
        pids
    } else {
        args.pid.clone()
    };
    // Status first, for every process; the namespace link only for those the filter keeps.
    let scan = proc::scan(&pids, ReadOptions::default());
    tally.vanished += scan.vanished;
    for (pid, err) in scan.failed {
        tally.failed(pid, &err);
    }
    let mut processes: Vec<Process> = scan
        .processes
        .into_iter()
        .filter(|p| filter.wants_process(p, args.all))
        .collect();
    let netns_only = ReadOptions {
        netns: true,
        ..ReadOptions::default()
    };
    proc::fill_all(&mut processes.iter_mut().collect::<Vec<_>>(), netns_only);
    let host_netns = proc::host_net_namespace();
    let ctx = Context {
        known,
        host_netns,
        users: Names::users(),
    };
    let mut namespaces = Namespaces::default();
    let no_namespace = Namespace::default();
    let mut out = Output::new();
    if !args.json {
        out.line(&header())?;
    }
    for process in &processes {
        let inodes = match net::socket_inodes(&proc_dir(process.pid)) {
            Ok(inodes) => inodes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                tally.vanished += 1;
                continue;
            }
            Err(err) => {
                tally.failed(
                    process.pid,
                    &ReadError::Io {
                        path: proc_dir(process.pid).join("fd"),
                        err,
                    },
                );
                continue;
            }
        };
        // A process without sockets has nothing to match: its namespace need not be read for it.
        let ns = if inodes.is_empty() {
            &no_namespace
        } else {
            namespaces.of(process, args.unix, &mut tally)
        };
        let sockets: Vec<&Socket> = inodes
            .iter()
            .filter_map(|inode| ns.sockets.get(inode))
            .collect();
        let row = ProcessRow::new(process, &sockets, ns, &ctx);
        if args.unneeded && row.unneeded.is_empty() {
            continue;
        }
        let shown: Vec<&Socket> = sockets
            .into_iter()
            .filter(|s| filter.wants_socket(s))
            .collect();
        let keep_without_sockets = args.unneeded && filter.sockets_unfiltered();
        if shown.is_empty() && !keep_without_sockets {
            continue;
        }
        if args.json {
            if shown.is_empty() {
                out.json(&row.record(None, ns))?;
            }
            for socket in &shown {
                out.json(&row.record(Some(socket), ns))?;
            }
        } else {
            out.line(&row.render(&ctx))?;
            for socket in &shown {
                out.line(&render_socket(socket, ns))?;
            }
        }
    }
    out.flush()?;
    tally.report();
    Ok(EXIT_OK)
}

fn proc_dir(pid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}"))
}

/// What every row is built against.
struct Context {
    known: u32,
    host_netns: Option<u64>,
    users: Names,
}

/// One network namespace: its sockets by inode, where unprivileged ports start, and its interfaces.
#[derive(Default)]
struct Namespace {
    sockets: HashMap<u64, Socket>,
    /// `None` when the namespace could not be entered to read the sysctl (needs CAP_SYS_ADMIN).
    port_start: Option<u16>,
    interfaces: BTreeMap<u32, String>,
}

/// The namespaces seen so far, each read once. A process whose namespace link is hidden gets a namespace of
/// its own, read through its own /proc/PID/net.
#[derive(Default)]
struct Namespaces {
    by_inode: HashMap<u64, Namespace>,
    hidden: HashMap<u32, Namespace>,
}

/// The port below which binding needs cap_net_bind_service when the namespace cannot be asked: the
/// kernel's default.
const DEFAULT_PORT_START: u16 = 1024;

impl Namespaces {
    fn of(&mut self, process: &Process, unix: bool, tally: &mut Tally) -> &Namespace {
        let read = |tally: &mut Tally| {
            let dir = proc_dir(process.pid);
            let sockets = match net::read_tables(&dir, unix) {
                Ok(sockets) => sockets,
                Err(err) => {
                    tally.failed(
                        process.pid,
                        &ReadError::Io {
                            path: dir.join("net"),
                            err,
                        },
                    );
                    Vec::new()
                }
            };
            let port_start = net::unprivileged_port_start(&dir).ok();
            if port_start.is_none() {
                tally.port_start_unknown += 1;
            }
            // Interface names are needed only to name the interface a packet socket is bound to.
            let bound_packet = sockets
                .iter()
                .any(|s| matches!(s.local, Endpoint::Packet { ifindex, .. } if ifindex != 0));
            Namespace {
                sockets: sockets.into_iter().map(|s| (s.inode, s)).collect(),
                port_start,
                interfaces: if bound_packet {
                    net::read_interfaces(&dir).into_iter().collect()
                } else {
                    BTreeMap::new()
                },
            }
        };
        match process.netns {
            Some(inode) => self.by_inode.entry(inode).or_insert_with(|| read(tally)),
            None => self
                .hidden
                .entry(process.pid)
                .or_insert_with(|| read(tally)),
        }
    }
}

/// The part of a row that belongs to the process.
struct ProcessRow<'a> {
    process: &'a Process,
    user: Option<String>,
    is_host: Option<bool>,
    needs: CapSet,
    unneeded: CapSet,
}

impl<'a> ProcessRow<'a> {
    fn new(
        process: &'a Process,
        sockets: &[&Socket],
        ns: &Namespace,
        ctx: &Context,
    ) -> ProcessRow<'a> {
        let port_start = ns.port_start.unwrap_or(DEFAULT_PORT_START);
        let needs = sockets.iter().fold(CapSet::EMPTY, |all, s| {
            all | needs::socket_needs(s, port_start)
        });
        let leader = &process.leader;
        ProcessRow {
            process,
            user: ctx.users.get(leader.uids.effective).map(str::to_string),
            is_host: match (process.netns, ctx.host_netns) {
                (Some(ns), Some(host)) => Some(ns == host),
                _ => None,
            },
            needs,
            unneeded: needs::unneeded(permitted(leader), needs),
        }
    }

    fn render(&self, ctx: &Context) -> String {
        let leader = &self.process.leader;
        let user = self
            .user
            .clone()
            .unwrap_or_else(|| leader.uids.effective.to_string());
        let netns = match (self.process.netns, self.is_host) {
            (_, Some(true)) => "host".to_string(),
            (Some(inode), _) => format!("{inode}*"),
            (None, _) => "?".to_string(),
        };
        let caps = summary::summarise(permitted(leader), effective(leader), ctx.known);
        let mut line = format!(
            "{:<7} {:<7} {:<9} {:<16} {:<12} ",
            self.process.pid,
            leader.ppid,
            escape_bytes(user.as_bytes()),
            escape_bytes(&leader.name),
            netns,
        );
        // The summary wraps at its commas under its own column; `unneeded` follows on the same line when it
        // fits, else on a line of its own.
        let at = line.chars().count();
        let end = render::wrap_into(
            &mut line,
            caps.split_inclusive(','),
            "",
            at,
            at,
            render::WIDTH,
        );
        if !self.unneeded.is_empty() {
            let names = summary::short_names(self.unneeded);
            let start = if end + 2 + "unneeded: ".len() + names.len() <= render::WIDTH {
                line.push_str("  ");
                end + 2
            } else {
                line.push('\n');
                line.push_str(&" ".repeat(at));
                at
            };
            line.push_str("unneeded: ");
            let indent = start + "unneeded: ".len();
            render::wrap_into(
                &mut line,
                names.split_inclusive(','),
                "",
                indent,
                indent,
                render::WIDTH,
            );
        }
        line
    }

    fn record(&self, socket: Option<&Socket>, ns: &Namespace) -> SocketRecord {
        let leader = &self.process.leader;
        let port_start = ns.port_start.unwrap_or(DEFAULT_PORT_START);
        SocketRecord {
            pid: self.process.pid,
            ppid: leader.ppid,
            user: self.user.clone(),
            comm: ExternalBytes(leader.name.clone()),
            netns: NetnsRecord {
                inode: self.process.netns,
                is_host: self.is_host,
                unprivileged_port_start: ns.port_start,
            },
            proto: socket.map(|s| s.proto),
            state: socket.map(|s| s.state),
            local: socket.map(|s| ExternalBytes(local_text(s))),
            remote: socket.and_then(|s| remote_json(s, ns)),
            inode: socket.map(|s| s.inode),
            socket_needs: socket.map(|s| names(needs::socket_needs(s, port_start))),
            effective: leader.caps.effective,
            permitted: leader.caps.permitted,
            needs: names(self.needs),
            unneeded: names(self.unneeded),
        }
    }
}

fn permitted(status: &TaskStatus) -> CapSet {
    status.caps.permitted.unwrap_or_default()
}

fn effective(status: &TaskStatus) -> CapSet {
    status.caps.effective.unwrap_or_default()
}

fn names(set: CapSet) -> Vec<String> {
    set.names()
}

/// One (process, socket) pair as `--json` prints it; the socket fields are null for a process listed by
/// `--unneeded` that holds no socket.
#[derive(Serialize)]
struct SocketRecord {
    pid: u32,
    ppid: u32,
    user: Option<String>,
    comm: ExternalBytes,
    netns: NetnsRecord,
    proto: Option<Proto>,
    state: Option<&'static str>,
    local: Option<ExternalBytes>,
    remote: Option<ExternalBytes>,
    inode: Option<u64>,
    socket_needs: Option<Vec<String>>,
    effective: Option<CapSet>,
    permitted: Option<CapSet>,
    needs: Vec<String>,
    unneeded: Vec<String>,
}

#[derive(Serialize)]
struct NetnsRecord {
    inode: Option<u64>,
    is_host: Option<bool>,
    unprivileged_port_start: Option<u16>,
}

fn header() -> String {
    format!(
        "{:<7} {:<7} {:<9} {:<16} {:<12} {}\n{:6}{:<9}{:<12}{:<28} {:<24} {}",
        "PID",
        "PPID",
        "USER",
        "COMMAND",
        "NETNS",
        "CAPABILITIES",
        "",
        "PROTO",
        "STATE",
        "LOCAL",
        "REMOTE",
        "NEEDS"
    )
}

fn render_socket(socket: &Socket, ns: &Namespace) -> String {
    let port_start = ns.port_start.unwrap_or(DEFAULT_PORT_START);
    let needs = needs::socket_needs(socket, port_start);
    let needs = if needs.is_empty() {
        "-".to_string()
    } else {
        summary::short_names(needs)
    };
    format!(
        "{:6}{:<9}{:<12}{:<28} {:<24} {}",
        "",
        socket.proto,
        socket.state,
        escape_bytes(&local_text(socket)),
        escape_bytes(&remote_text(socket, ns)),
        needs
    )
}

/// LOCAL: the address and port; the address of a raw socket; the ethertype of a packet socket; the path of a
/// unix socket.
fn local_text(socket: &Socket) -> Vec<u8> {
    match &socket.local {
        Endpoint::Raw(ip, _) => ip.to_string().into_bytes(),
        Endpoint::Packet { ethertype, .. } => ethertype_name(*ethertype).into_bytes(),
        Endpoint::Unix(Some(path)) => path.clone(),
        Endpoint::Unix(None) => b"-".to_vec(),
        other => other.to_string().into_bytes(),
    }
}

/// REMOTE for JSON: null when there is no peer (an unconnected TCP, UDP or unix socket).
fn remote_json(socket: &Socket, ns: &Namespace) -> Option<ExternalBytes> {
    let has_remote = socket.remote.is_some()
        || matches!(socket.local, Endpoint::Raw(..) | Endpoint::Packet { .. });
    has_remote.then(|| ExternalBytes(remote_text(socket, ns)))
}

/// REMOTE: the peer; for a raw socket the IP protocol it receives; for a packet socket the interface.
fn remote_text(socket: &Socket, ns: &Namespace) -> Vec<u8> {
    match (&socket.local, &socket.remote) {
        (Endpoint::Raw(_, protocol), _) => ip_protocol_name(*protocol).into_bytes(),
        (Endpoint::Packet { ifindex: 0, .. }, _) => b"any interface".to_vec(),
        (Endpoint::Packet { ifindex, .. }, _) => ns
            .interfaces
            .get(ifindex)
            .cloned()
            .unwrap_or_else(|| format!("if#{ifindex}"))
            .into_bytes(),
        (_, Some(remote)) => remote.to_string().into_bytes(),
        (_, None) => b"-".to_vec(),
    }
}

fn ip_protocol_name(protocol: u16) -> String {
    match protocol {
        1 => "icmp".to_string(),
        2 => "igmp".to_string(),
        6 => "tcp".to_string(),
        17 => "udp".to_string(),
        58 => "ipv6-icmp".to_string(),
        255 => "raw".to_string(),
        n => format!("proto {n}"),
    }
}

fn ethertype_name(ethertype: u16) -> String {
    match ethertype {
        0x0003 => "all (0x0003)".to_string(),
        0x0800 => "ipv4 (0x0800)".to_string(),
        0x0806 => "arp (0x0806)".to_string(),
        0x86dd => "ipv6 (0x86dd)".to_string(),
        0 => "none (0x0000)".to_string(),
        n => format!("{n:#06x}"),
    }
}

/// What the command line asks to see.
struct Filter {
    protos: Vec<Proto>,
    /// A bare family name (`tcp`) that also matches its IPv6 twin.
    families: Vec<Proto>,
    ports: Vec<u16>,
    listening: bool,
    caps: CapSet,
    pids: Vec<u32>,
}

impl Filter {
    fn from_args(args: &Args) -> Result<Filter, Box<dyn Error>> {
        let mut protos = Vec::new();
        let mut families = Vec::new();
        for name in &args.proto {
            let proto = Proto::parse(name.trim())
                .ok_or_else(|| format!("--proto: unknown protocol '{name}'"))?;
            if matches!(proto, Proto::Tcp | Proto::Udp | Proto::Udplite | Proto::Raw) {
                families.push(proto);
            }
            protos.push(proto);
        }
        let caps = match &args.cap {
            Some(list) => CapSet::parse_list(list).map_err(|e| format!("--cap: {e}"))?,
            None => CapSet::EMPTY,
        };
        if protos.contains(&Proto::Unix) && !args.unix {
            return Err("--proto unix needs --unix".into());
        }
        Ok(Filter {
            protos,
            families,
            ports: args.port.clone(),
            listening: args.listening,
            caps,
            pids: args.pid.clone(),
        })
    }

    fn wants_process(&self, process: &Process, all: bool) -> bool {
        let leader = &process.leader;
        let held = permitted(leader) | effective(leader);
        let holds_any = !held.is_empty() || leader.caps.ambient.is_some_and(|a| !a.is_empty());
        (all || !self.pids.is_empty() || holds_any)
            && (self.caps.is_empty() || !(held & self.caps).is_empty())
    }

    fn sockets_unfiltered(&self) -> bool {
        self.protos.is_empty() && self.ports.is_empty() && !self.listening
    }

    fn wants_socket(&self, socket: &Socket) -> bool {
        let proto_ok = self.protos.is_empty()
            || self.protos.contains(&socket.proto)
            || self
                .families
                .iter()
                .any(|family| twin(*family) == Some(socket.proto));
        let port_ok =
            self.ports.is_empty() || socket.local_port().is_some_and(|p| self.ports.contains(&p));
        let listening_ok = !self.listening || is_listening(socket);
        proto_ok && port_ok && listening_ok
    }
}

fn twin(proto: Proto) -> Option<Proto> {
    match proto {
        Proto::Tcp => Some(Proto::Tcp6),
        Proto::Udp => Some(Proto::Udp6),
        Proto::Udplite => Some(Proto::Udplite6),
        Proto::Raw => Some(Proto::Raw6),
        _ => None,
    }
}

/// A socket that waits for others: a TCP or unix listener, or a datagram, raw or packet socket with no peer.
fn is_listening(socket: &Socket) -> bool {
    match socket.proto {
        Proto::Tcp | Proto::Tcp6 | Proto::Unix => socket.is_listening(),
        _ => socket.remote.is_none(),
    }
}

/// Partial failures, counted and summarised once.
#[derive(Default)]
struct Tally {
    vanished: u32,
    unreadable: u32,
    port_start_unknown: u32,
    first_error: Option<String>,
}

impl Tally {
    fn failed(&mut self, pid: u32, err: &ReadError) {
        if matches!(err, ReadError::Vanished) {
            self.vanished += 1;
            return;
        }
        self.unreadable += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{pid}: {err}"));
        }
    }

    fn report(&self) {
        if self.vanished > 0 {
            let message = format!(
                "skipped {} processes that exited while being read",
                self.vanished
            );
            output::warn(PROG, "note", &message);
        }
        if let Some(first) = &self.first_error {
            let message = format!("unreadable processes: {}, first: {first}", self.unreadable);
            output::warn(PROG, "warning", &message);
        }
        if self.port_start_unknown > 0 {
            let message = format!(
                "{} network namespaces could not be entered to read ip_unprivileged_port_start; assumed 1024",
                self.port_start_unknown
            );
            output::warn(PROG, "note", &message);
        }
    }
}
