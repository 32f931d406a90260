//! capnet: which processes with capabilities hold which sockets, in every network namespace, and which of
//! their network capabilities those sockets actually need.
//!
//! Processes are read with capls's reader (capsys::proc). Each network namespace's sockets are dumped once
//! through the kernel's sock_diag interface (capsys::sockdiag), from inside that namespace, and sockets are
//! matched to their owners by the inodes behind /proc/PID/fd, so a socket shared by several processes is
//! listed under each of them. A socket found in none of the holders' namespaces is traced to its own with
//! SIOCGSKNS, and that namespace is dumped too.
//!
//! Only holders' sockets are shown, so the holders' namespaces are dumped together, one worker per core,
//! each for the sockets its holders hold: its tables are read until those are found, and a namespace or
//! process that holds no socket is not read at all (a host with hundreds of network namespaces pays for
//! the few tables its holders' sockets are in, not for every table of every one).
//!
//! A dump is not a snapshot: when other sockets of a namespace close while it is read, the kernel can
//! leave out one that was open throughout (capsys::sockdiag says how). So a socket a holder still has open,
//! of a kind every dump lists, that its namespace's dump lacks, has that namespace read again (a few times
//! at most; only then, so a quiet system pays nothing), and one never found is counted in a warning rather
//! than dropped without a word.

#![cfg_attr(not(test), no_main)]

mod needs;
mod table;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::error::Error;
use std::fs;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;

use capcli::summary::sets_differ;
use capcli::term::{self, ColorChoice, Style};
use capcli::{
    escape_bytes, escape_str, output, summary, words, ExternalBytes, Output, EXIT_FAILURE,
    EXIT_FINDINGS, EXIT_OK,
};
use capcore::{Cap, CapSet, TaskStatus};
use capsys::net::{self, Endpoint, Proto, Socket};
use capsys::proc::{self, Process, ReadOptions};
use capsys::sockdiag;
use capsys::users::Names;
use clap::{CommandFactory, Parser, ValueEnum};
use serde::Serialize;

const PROG: &str = "capnet";

const ABOUT: &str =
    "Show the sockets of processes with capabilities, in every network namespace, and what they need.";

const LONG_ABOUT: &str = "\
Show the sockets of processes with capabilities, in every network namespace, and which network capabilities \
those sockets needed, so that capabilities a daemon holds for nothing stand out.

Each process is a line: PID, PPID, USER, COMMAND, NETNS (`host`, or the namespace's inode with `*`) and \
CAPABILITIES, what its threads hold together (`full`, `full -sys_resource`, `chown,setuid`, or `-` for none), \
then each thread whose sets differ from its leader's (`thread 4242: net_raw`): a leader may drop what \
another thread keeps. A process holding network capabilities that its sockets do not need ends its line \
with `unneeded: ...`. Each of its \
sockets is a line below it that starts with the same PID: PROTO, STATE, LOCAL, REMOTE (the IP protocol of a \
raw socket, the interface of a packet socket) and NEEDS.

Sockets come from the kernel's sock_diag netlink interface (inet_diag for tcp, udp and udplite, unix_diag, packet_diag), dumped once in each network namespace, so what a socket is named cannot pass for another row. raw and raw6 sockets are read from /proc/net/raw and /proc/net/raw6 of their namespace instead (capnet does not use raw_diag, which many kernels lack); their rows hold numbers only. A socket that lives in another namespace than its holder's current one (opened before unshare or setns, or inside a namespace joined for a while) is found in that namespace and marked after its protocol: `tcp@host` or `tcp@INODE*`.

NEEDS: a TCP, UDP or UDP-Lite socket bound below its namespace's net.ipv4.ip_unprivileged_port_start \
(listeners, datagram sockets and clients that bound before connecting alike) needed cap_net_bind_service, \
unless the kernel chose the port (it is in net.ipv4.ip_local_port_range) or it is a connection accepted by \
a listener on that port; a raw or packet socket needed cap_net_raw; a socket mark or IP_TRANSPARENT needed \
cap_net_raw or cap_net_admin, where the socket source shows them. Of two that either does, NEEDS names one \
needed anyway, else those held; `--unneeded` never lists one NEEDS names. cap_net_broadcast is never \
needed by a socket alone.

Into a pipe or a file every line is a whole record and nothing wraps; on a terminal long lines continue on \
indented lines. Seeing another user's sockets needs root (cap_sys_ptrace).

Exit status: 0 done; 1 `--unneeded` listed a process; 2 an error, such as a PID that does not exist \
(reported after the other processes are listed). `--pid 1,2` is the same as the operands `1 2`.";

const EXAMPLES: &str = "\
Examples:
  capnet
      Processes holding capabilities, and their sockets.
  capnet --unneeded
      Processes holding network capabilities none of their sockets needs.
  capnet -a --listening --proto tcp,udp
      Every process's TCP and UDP listeners, IPv4 and IPv6.
  capnet 1234 5678 --unix
      Two processes' sockets, unix sockets included.
  capnet --json --port 53 | jq -c .unneeded.caps
      What the holders of port 53 hold without needing it.";

/// Show the sockets of processes with capabilities, in every network namespace, and what they need.
#[derive(Parser)]
#[command(
    name = PROG,
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_long_help = EXAMPLES,
    max_term_width = 100
)]
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
    /// Only these protocols, comma separated.
    ///
    /// `tcp` also matches tcp6, `udp` udp6, `udplite` udplite6 and `raw` raw6; `unix` needs `--unix`.
    #[arg(
        long,
        value_enum,
        value_name = "PROTO",
        value_delimiter = ',',
        ignore_case = true
    )]
    proto: Vec<ProtoArg>,
    /// Only sockets with this local port (repeatable).
    #[arg(long, value_name = "N")]
    port: Vec<u16>,
    /// Only these processes (a PID may also be a comma-separated list).
    ///
    /// They are listed whether or not they hold capabilities. A PID that does not exist is an error (exit
    /// status 2), reported after the others are listed.
    #[arg(value_name = "PID", value_delimiter = ',')]
    pids: Vec<u32>,
    /// The same as PID operands, kept for scripts: `--pid 1,2` is `1 2`.
    #[arg(long = "pid", value_name = "PID", value_delimiter = ',')]
    pid_option: Vec<u32>,
    /// Only processes holding one of these capabilities (permitted or effective).
    #[arg(long, value_name = "CAP[,CAP]")]
    cap: Option<String>,
    /// Only processes in the host's user namespace, or in another (whose capabilities count only there).
    #[arg(long, value_name = "WHICH")]
    userns: Option<UsernsArg>,
    /// Only processes holding network capabilities that none of their sockets needs.
    ///
    /// A process listed this way may hold no socket at all. The exit status is 1 when any process is
    /// listed, so that a check can fail on it.
    #[arg(long)]
    unneeded: bool,
    /// One JSON object per (process, socket) (NDJSON).
    ///
    /// Capability sets are `{"hex", "caps"}` objects; the keys are described in docs/capnet.md.
    #[arg(long)]
    json: bool,
    /// When to colour: root-equivalent capabilities and unneeded ones stand out.
    ///
    /// `auto` colours on a terminal unless NO_COLOR is set; JSON is never coloured.
    #[arg(long, value_enum, default_value_t, value_name = "WHEN")]
    color: ColorChoice,
}

/// `--proto`'s values: the socket tables capnet reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ProtoArg {
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

impl ProtoArg {
    fn proto(self) -> Proto {
        match self {
            ProtoArg::Tcp => Proto::Tcp,
            ProtoArg::Tcp6 => Proto::Tcp6,
            ProtoArg::Udp => Proto::Udp,
            ProtoArg::Udp6 => Proto::Udp6,
            ProtoArg::Udplite => Proto::Udplite,
            ProtoArg::Udplite6 => Proto::Udplite6,
            ProtoArg::Raw => Proto::Raw,
            ProtoArg::Raw6 => Proto::Raw6,
            ProtoArg::Packet => Proto::Packet,
            ProtoArg::Unix => Proto::Unix,
        }
    }
}

capcli::c_main!(run_program);

/// The program, run from the C entry point (capcli::start).
#[cfg_attr(test, allow(dead_code))]
fn run_program() -> ExitCode {
    if let Some(code) = capcli::generate::intercept(PROG, Args::command) {
        return code;
    }
    capcli::run(PROG, || run(capcli::args::parse(PROG)))
}

fn run(args: Args) -> Result<u8, Box<dyn Error>> {
    term::init(args.color);
    let filter = Filter::from_args(&args)?;
    let known = capsys::kernel::known_caps_or_default();
    let mut tally = Tally::default();
    let named = named_pids(args.pids.iter().chain(&args.pid_option));
    let pids = if named.is_empty() {
        let mut pids = proc::pids()?;
        if let Some(kernel) = proc::kernel_threads() {
            pids.retain(|pid| kernel.binary_search(pid).is_err());
        }
        pids
    } else {
        named.clone()
    };
    // Status first, every thread's, for every process (a thread may hold what its leader dropped); the
    // namespace link only for those the filter keeps.
    let threads = ReadOptions {
        threads: true,
        ..ReadOptions::default()
    };
    let scan = proc::scan(&pids, threads);
    tally.vanished += scan.vanished;
    for (pid, err) in scan.failed {
        tally.failed(pid, err.to_string());
    }
    tally.seen = scan.processes.iter().map(|p| p.pid).collect();
    let mut processes: Vec<Process> = scan
        .processes
        .into_iter()
        .filter(|p| filter.wants_process(p, args.all))
        .collect();
    let namespaces_only = ReadOptions {
        netns: true,
        userns: true,
        ..ReadOptions::default()
    };
    proc::fill_all(
        &mut processes.iter_mut().collect::<Vec<_>>(),
        namespaces_only,
    );
    let host_netns = proc::host_net_namespace();
    let ctx = Context {
        known,
        host_netns,
        host_userns: proc::host_user_namespace(),
        users: Names::users(),
    };
    if let Some(which) = args.userns {
        // A process whose namespace is hidden from us is in neither list: unknown is not "host".
        processes.retain(|p| in_host_userns(p, &ctx) == Some(which == UsernsArg::Host));
    }
    // Every holder's descriptors first, then each namespace a holder is in is dumped once; a socket found
    // in none of those is traced to its own namespace, which is dumped too.
    let dirs: Vec<PathBuf> = processes.iter().map(|p| proc_dir(p.pid)).collect();
    let fd_tables = net::socket_fds_each(&dirs);
    let mut held = Vec::new();
    for (process, fds) in processes.iter().zip(fd_tables) {
        match fds {
            Ok(fds) => held.push((process, fds)),
            Err(err) => tally.fd_error(process.pid, err),
        }
    }
    let mut namespaces = Namespaces::default();
    namespaces.of_holders(&held, args.unix, &mut tally);
    let homes: Vec<Vec<NsKey>> = held
        .iter()
        .map(|(process, fds)| namespaces.locate(process, fds, args.unix, &mut tally))
        .collect();
    tally.missed = namespaces.missed;
    let no_namespace = Namespace::default();
    let mut out = Output::new();
    let mut blocks = Vec::new();
    let mut listed = 0u32;
    for ((process, fds), homes) in held.iter().zip(&homes) {
        let own = namespaces.get(NsKey::of(process)).unwrap_or(&no_namespace);
        let sockets: Vec<Held> = fds
            .iter()
            .zip(homes)
            .filter_map(|(&(_, inode), &key)| {
                let ns = namespaces.get(key)?;
                Some(Held {
                    socket: ns.sockets.get(&inode)?,
                    ns,
                    foreign: key != NsKey::of(process),
                })
            })
            .collect();
        let row = ProcessRow::new(process, &sockets, own, &ctx);
        if args.unneeded && row.unneeded.is_empty() {
            continue;
        }
        let shown: Vec<&Held> = sockets
            .iter()
            .filter(|s| filter.wants_socket(s.socket))
            .collect();
        let keep_without_sockets = args.unneeded && filter.sockets_unfiltered();
        if shown.is_empty() && !keep_without_sockets {
            continue;
        }
        listed += 1;
        if args.json {
            if shown.is_empty() {
                out.json(&row.record(None, own, &ctx))?;
            }
            for held in &shown {
                out.json(&row.record(Some(held), own, &ctx))?;
            }
        } else {
            blocks.push(row.block(&shown, &ctx));
        }
    }
    if !args.json {
        for line in table::render(&blocks, term::width()) {
            out.line(&line)?;
        }
    }
    out.flush()?;
    let missing = tally.report(&named);
    Ok(if missing {
        EXIT_FAILURE
    } else if args.unneeded && listed > 0 {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}

/// The PIDs named on the command line (operands, then `--pid`), each once, in the order given.
fn named_pids<'a>(pids: impl IntoIterator<Item = &'a u32>) -> Vec<u32> {
    let mut seen = HashSet::new();
    pids.into_iter()
        .copied()
        .filter(|pid| seen.insert(*pid))
        .collect()
}

fn proc_dir(pid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}"))
}

/// `--userns`, as capls has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum UsernsArg {
    Host,
    Other,
}

/// What every row is built against.
struct Context {
    known: u32,
    host_netns: Option<u64>,
    host_userns: Option<u64>,
    users: Names,
}

/// Whether a process is in the host's user namespace: `None` when its link is hidden from us.
fn in_host_userns(process: &Process, ctx: &Context) -> Option<bool> {
    proc::is_host_namespace(process.userns, ctx.host_userns)
}

/// One network namespace: its sockets by inode, where unprivileged ports start, and its interfaces.
#[derive(Default)]
struct Namespace {
    /// The namespace's inode; `None` for a process whose namespace link is hidden from us.
    inode: Option<u64>,
    sockets: HashMap<u64, Socket>,
    /// `None` when the namespace could not be entered to read the sysctl (needs CAP_SYS_ADMIN).
    port_start: Option<u16>,
    interfaces: BTreeMap<u32, String>,
    /// What its sockets needed is judged by.
    rules: needs::Rules,
    /// Whether its TCP connections were read (not when its holders' sockets were all found without them).
    complete: bool,
}

/// A socket a process holds, with the namespace it lives in.
struct Held<'a> {
    socket: &'a Socket,
    ns: &'a Namespace,
    /// The socket lives in another namespace than its holder's current one.
    foreign: bool,
}

/// Which namespace: by inode, or the hidden one of a process (read through its own /proc/PID/net).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum NsKey {
    Inode(u64),
    Hidden(u32),
    /// Not found anywhere (the socket closed meanwhile, or we may not trace it).
    Nowhere,
}

impl NsKey {
    fn of(process: &Process) -> NsKey {
        match process.netns {
            Some(inode) => NsKey::Inode(inode),
            None => NsKey::Hidden(process.pid),
        }
    }
}

/// The namespaces dumped so far, each once, and which namespace each socket inode was found in.
#[derive(Default)]
struct Namespaces {
    by_key: HashMap<NsKey, Namespace>,
    socket_home: HashMap<u64, NsKey>,
    /// Sockets of families capnet does not list (netlink; unix without `--unix`), found in some dump.
    unlisted: HashSet<u64>,
    /// A socket's namespace asked with SIOCGSKNS failed (not root, or the process exited).
    untraced: u32,
    /// How many times each namespace was read again for sockets a read left out.
    rereads: HashMap<NsKey, u32>,
    /// Open sockets of a kind every dump lists that no read of their namespace showed.
    missed: u32,
}

/// How many times one namespace is read again, at most, for open sockets its reads left out. A socket is
/// left out only when another closes at the moment the reader passes, so a second read almost always has
/// it; the bound is for a namespace whose sockets churn without pause.
const MAX_REREADS: u32 = 3;

use needs::DEFAULT_PORT_START;

impl Namespaces {
    fn get(&self, key: NsKey) -> Option<&Namespace> {
        self.by_key.get(&key)
    }

    /// Dumps, once each and all together, the namespaces the holders of sockets are in now. A process
    /// without sockets has nothing to match: its namespace is not read for it. Each dump looks for the
    /// sockets its holders have open, so that the costly table of TCP connections is walked only where
    /// one of them is in no other.
    fn of_holders(&mut self, held: &[(&Process, Vec<(i32, u64)>)], unix: bool, tally: &mut Tally) {
        let mut order: Vec<(NsKey, u32)> = Vec::new();
        let mut wanted: HashMap<NsKey, HashSet<u64>> = HashMap::new();
        for (process, fds) in held.iter().filter(|(_, fds)| !fds.is_empty()) {
            let key = NsKey::of(process);
            let inodes = wanted.entry(key).or_insert_with(|| {
                order.push((key, process.pid));
                HashSet::new()
            });
            inodes.extend(fds.iter().map(|&(_, inode)| inode));
        }
        let mut files = Vec::new();
        for &(key, pid) in &order {
            let dir = proc_dir(pid);
            match key {
                NsKey::Inode(inode) => match fs::File::open(dir.join("ns/net")) {
                    Ok(file) => files.push((key, inode, pid, file)),
                    Err(err) => {
                        tally.failed(pid, format!("{}: {err}", dir.join("ns/net").display()));
                        self.insert(key, (Namespace::default(), Vec::new()));
                    }
                },
                _ => {
                    let ns = read_hidden(&dir, unix, pid, tally);
                    self.insert(key, (ns, Vec::new()));
                }
            }
        }
        let requests: Vec<_> = files
            .iter()
            .map(|(key, _, _, file)| {
                let inodes = wanted
                    .get(key)
                    .map_or(sockdiag::Wanted::All, sockdiag::Wanted::Inodes);
                (file.as_fd(), inodes)
            })
            .collect();
        let dumps = sockdiag::dump_each(&requests, unix);
        for ((key, inode, pid, _), dump) in files.iter().zip(dumps) {
            let ns = namespace(dump, Some(*inode), *pid, tally);
            self.insert(*key, ns);
        }
    }

    fn insert(&mut self, key: NsKey, (ns, unlisted): (Namespace, Vec<u64>)) {
        self.unlisted.extend(unlisted);
        for inode in ns.sockets.keys() {
            self.socket_home.entry(*inode).or_insert(key);
        }
        self.by_key.insert(key, ns);
    }

    /// The namespace each of `process`'s sockets lives in, in the order of `fds`: its own namespace's dump,
    /// then any other dumped so far, then the socket's own namespace found with SIOCGSKNS and dumped now.
    fn locate(
        &mut self,
        process: &Process,
        fds: &[(i32, u64)],
        unix: bool,
        tally: &mut Tally,
    ) -> Vec<NsKey> {
        let own = NsKey::of(process);
        fds.iter()
            .map(|&(fd, inode)| {
                if self
                    .by_key
                    .get(&own)
                    .is_some_and(|ns| ns.sockets.contains_key(&inode))
                {
                    return own;
                }
                if let Some(&key) = self.socket_home.get(&inode) {
                    return key;
                }
                if self.unlisted.contains(&inode) {
                    return NsKey::Nowhere;
                }
                self.trace(process.pid, fd, inode, unix, tally)
            })
            .collect()
    }

    /// The namespace socket `inode` lives in, asked of the socket itself; that namespace is dumped if it
    /// was not yet, and read again if the socket is open, must be in every dump, and is not in this one.
    fn trace(&mut self, pid: u32, fd: i32, inode: u64, unix: bool, tally: &mut Tally) -> NsKey {
        let Ok(traced) = sockdiag::trace_socket(pid, fd, inode) else {
            self.untraced += 1;
            return NsKey::Nowhere;
        };
        let Ok(ns_inode) = sockdiag::namespace_inode(traced.namespace.as_fd()) else {
            return NsKey::Nowhere;
        };
        let key = NsKey::Inode(ns_inode);
        let ns_fd = Some(traced.namespace.as_fd());
        if !self.by_key.contains_key(&key) {
            let dump = sockdiag::dump(ns_fd, unix, sockdiag::Wanted::All);
            let ns = namespace(dump, Some(ns_inode), pid, tally);
            self.insert(key, ns);
        }
        let mut found = self.find(key, inode);
        // A namespace read without its TCP connections (its holders' sockets were all elsewhere) is read
        // whole first: that is not a read again.
        if found.is_none() && self.by_key.get(&key).is_some_and(|ns| !ns.complete) {
            if let Ok(whole) = sockdiag::dump(ns_fd, unix, sockdiag::Wanted::All) {
                self.merge(key, whole);
            }
            found = self.find(key, inode);
        }
        while found.is_none() && traced.listed && self.may_reread(key) {
            if let Ok(again) = sockdiag::dump(ns_fd, unix, sockdiag::Wanted::All) {
                self.merge(key, again);
            }
            found = self.find(key, inode);
        }
        match found {
            Some(key) => key,
            None => {
                // Not a socket every dump lists (a UDP socket never bound, a family capnet does not
                // read), or one closed since it was traced: not found, and nothing is wrong. One that
                // must be listed and is still open was missed.
                if traced.listed && sockdiag::still_open(pid, fd, inode) {
                    self.missed += 1;
                }
                NsKey::Nowhere
            }
        }
    }

    /// Where the reads of namespace `key` put socket `inode`: among its listed sockets, or among those
    /// capnet does not list (a unix socket without `--unix`: `Nowhere`); `None` if in neither.
    fn find(&self, key: NsKey, inode: u64) -> Option<NsKey> {
        if self
            .by_key
            .get(&key)
            .is_some_and(|ns| ns.sockets.contains_key(&inode))
        {
            Some(key)
        } else if self.unlisted.contains(&inode) {
            Some(NsKey::Nowhere)
        } else {
            None
        }
    }

    /// Whether namespace `key` may be read once more, counting this read.
    fn may_reread(&mut self, key: NsKey) -> bool {
        let reads = self.rereads.entry(key).or_insert(0);
        *reads = reads.saturating_add(1);
        *reads <= MAX_REREADS
    }

    /// Adds what another read of namespace `key` found to what earlier reads did. A socket both have is
    /// kept as first read; listeners only the new read found count for telling accepted sockets apart.
    fn merge(&mut self, key: NsKey, again: sockdiag::Dump) {
        self.unlisted.extend(again.unlisted);
        let Some(ns) = self.by_key.get_mut(&key) else {
            return;
        };
        ns.complete |= again.complete;
        ns.rules.add_listeners(&again.sockets);
        for socket in again.sockets {
            self.socket_home.entry(socket.inode).or_insert(key);
            ns.sockets.entry(socket.inode).or_insert(socket);
        }
    }
}

/// One namespace's sock_diag dump as capnet keeps it: the namespace, and the inodes of its sockets capnet
/// does not list.
fn namespace(
    dump: io::Result<sockdiag::Dump>,
    inode: Option<u64>,
    pid: u32,
    tally: &mut Tally,
) -> (Namespace, Vec<u64>) {
    match dump {
        Ok(dump) => {
            for (_, err) in &dump.errors {
                tally.failed(pid, err.clone());
            }
            if dump.port_start.is_none() {
                tally.port_start_unknown += 1;
            }
            let rules = needs::Rules::new(
                dump.port_start.unwrap_or(DEFAULT_PORT_START),
                dump.local_ports.clone(),
                &dump.sockets,
            );
            let ns = Namespace {
                inode,
                sockets: dump.sockets.into_iter().map(|s| (s.inode, s)).collect(),
                port_start: dump.port_start,
                interfaces: dump.interfaces.into_iter().collect(),
                rules,
                complete: dump.complete,
            };
            (ns, dump.unlisted)
        }
        Err(err) => {
            tally.failed(
                pid,
                format!("network namespace {}: {err}", inode.unwrap_or(0)),
            );
            tally.port_start_unknown += 1;
            let ns = Namespace {
                inode,
                ..Namespace::default()
            };
            (ns, Vec::new())
        }
    }
}

/// A process whose namespace link we may not read: its tables through its own /proc/PID/net, which shows
/// that namespace whatever it is.
fn read_hidden(dir: &Path, unix: bool, pid: u32, tally: &mut Tally) -> Namespace {
    let sockets = match net::read_tables(dir, unix) {
        Ok(sockets) => sockets,
        Err(err) => {
            tally.failed(pid, format!("{}: {err}", dir.join("net").display()));
            Vec::new()
        }
    };
    let port_start = net::unprivileged_port_start(dir).ok();
    if port_start.is_none() {
        tally.port_start_unknown += 1;
    }
    // The local port range is not read here: unknown, every port below the start counts as bound.
    let rules = needs::Rules::new(port_start.unwrap_or(DEFAULT_PORT_START), None, &sockets);
    Namespace {
        inode: None,
        sockets: sockets.into_iter().map(|s| (s.inode, s)).collect(),
        port_start,
        interfaces: net::read_interfaces(dir).into_iter().collect(),
        rules,
        complete: true,
    }
}

/// The part of a row that belongs to the process.
struct ProcessRow<'a> {
    process: &'a Process,
    user: Option<String>,
    is_host: Option<bool>,
    /// What its threads hold together: the union of their permitted, and of their permitted and
    /// effective, sets.
    permitted: CapSet,
    held: CapSet,
    /// The threads whose sets differ from the leader's.
    differing: Vec<(u32, &'a TaskStatus)>,
    /// What its sockets needed, before and after resolving "one of" needs against what it holds.
    need: needs::Need,
    needs: CapSet,
    unneeded: CapSet,
}

impl<'a> ProcessRow<'a> {
    fn new(
        process: &'a Process,
        sockets: &[Held],
        _own: &Namespace,
        ctx: &Context,
    ) -> ProcessRow<'a> {
        // Each socket by its own namespace's rules: that is where it was bound.
        let mut need = needs::Need::default();
        for held in sockets {
            need.merge(&held.ns.rules.socket_needs(held.socket));
        }
        let leader = &process.leader;
        let permitted = threads_union(process, permitted);
        let needs = need.resolve(permitted, need.all);
        ProcessRow {
            process,
            user: ctx.users.get(leader.uids.effective).map(str::to_string),
            is_host: proc::is_host_namespace(process.netns, ctx.host_netns),
            permitted,
            held: threads_union(process, held),
            differing: process
                .threads
                .iter()
                .filter(|t| sets_differ(&t.status, leader))
                .map(|t| (t.tid, &t.status))
                .collect(),
            needs,
            need,
            unneeded: needs::unneeded(permitted, needs),
        }
    }

    /// What one socket needed, "one of" needs judged with everything the process needed.
    fn socket_needs(&self, socket: &Socket, ns: &Namespace) -> (CapSet, Vec<CapSet>) {
        let need = ns.rules.socket_needs(socket);
        (need.resolve(self.permitted, self.need.all), need.one_of)
    }

    /// PROTO, STATE, LOCAL, REMOTE and NEEDS of one socket, escaped. A socket that lives in another
    /// namespace than its holder's current one says which after its protocol: `tcp@host`,
    /// `tcp@4026532281*`.
    fn socket_cells(&self, held: &Held, ctx: &Context) -> [String; 5] {
        let (socket, ns) = (held.socket, held.ns);
        let proto = match (held.foreign, ns.inode) {
            (false, _) => socket.proto.to_string(),
            (true, inode) if inode.is_some() && inode == ctx.host_netns => {
                format!("{}@host", socket.proto)
            }
            (true, Some(inode)) => format!("{}@{inode}*", socket.proto),
            (true, None) => format!("{}@?", socket.proto),
        };
        [
            proto,
            socket.state.to_string(),
            escape_bytes(&local_text(socket)),
            escape_bytes(&remote_text(socket, ns)),
            summary::short(self.socket_needs(socket, ns).0, ctx.known),
        ]
    }

    /// The process and its shown sockets as table cells, escaped and painted.
    fn block(&self, shown: &[&Held], ctx: &Context) -> table::Block {
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
        let mut caps = pieces(&summary::short(self.held, ctx.known));
        // Capabilities of another user namespace count only there: said after the summary.
        match in_host_userns(self.process, ctx) {
            Some(true) => {}
            Some(false) => caps.push(format!(
                " (in user namespace {})",
                self.process.userns.unwrap_or(0)
            )),
            None => caps.push(" (user namespace unknown)".to_string()),
        }
        for (tid, status) in &self.differing {
            let text = format!("thread {tid}: {}", summary::short(held(status), ctx.known));
            let mut thread = pieces(&text);
            if let Some(first) = thread.first_mut() {
                first.insert_str(0, "  ");
            }
            caps.extend(thread);
        }
        let mut unneeded = findings(self.unneeded, ctx.known);
        if let Some(first) = unneeded.first_mut() {
            let label = term::paint(Style::Finding, "unneeded:");
            *first = format!("{label} {first}");
        }
        table::Block {
            process: [
                self.process.pid.to_string(),
                leader.ppid.to_string(),
                escape_bytes(user.as_bytes()),
                escape_bytes(&leader.name),
                netns,
            ],
            caps,
            unneeded,
            sockets: shown
                .iter()
                .map(|held| self.socket_cells(held, ctx))
                .collect(),
        }
    }

    fn record(&self, held: Option<&Held>, own: &Namespace, ctx: &Context) -> SocketRecord {
        let leader = &self.process.leader;
        let socket = held.map(|h| h.socket);
        // The namespace the socket lives in; the holder's own when there is no socket.
        let ns = held.map_or(own, |h| h.ns);
        let socket_needs = held.map(|h| self.socket_needs(h.socket, h.ns));
        let netns_inode = match held {
            Some(h) => h.ns.inode,
            None => self.process.netns,
        };
        SocketRecord {
            pid: self.process.pid,
            ppid: leader.ppid,
            euid: leader.uids.effective,
            user: self.user.clone(),
            userns: UsernsRecord {
                inode: self.process.userns,
                is_host: in_host_userns(self.process, ctx),
            },
            comm: ExternalBytes(leader.name.clone()),
            netns: NetnsRecord {
                inode: netns_inode,
                is_host: proc::is_host_namespace(netns_inode, ctx.host_netns),
                unprivileged_port_start: ns.port_start,
                holder: held.is_none_or(|h| !h.foreign),
            },
            proto: socket.map(|s| s.proto),
            state: socket.map(|s| s.state),
            local: socket.map(|s| ExternalBytes(local_text(s))),
            remote: socket.and_then(|s| remote_json(s, ns)),
            inode: socket.map(|s| s.inode),
            socket_needs_one_of: socket_needs.as_ref().map(|(_, one_of)| one_of.clone()),
            socket_needs: socket_needs.map(|(set, _)| set),
            effective: threads_known_union(self.process, |s| s.caps.effective),
            permitted: threads_known_union(self.process, |s| s.caps.permitted),
            threads: self.process.threads.len() + 1,
            differing_threads: self
                .differing
                .iter()
                .map(|(tid, status)| ThreadRecord {
                    tid: *tid,
                    effective: status.caps.effective,
                    permitted: status.caps.permitted,
                })
                .collect(),
            needs: self.needs,
            unneeded: self.unneeded,
        }
    }
}

fn permitted(status: &TaskStatus) -> CapSet {
    status.caps.permitted.unwrap_or_default()
}

fn effective(status: &TaskStatus) -> CapSet {
    status.caps.effective.unwrap_or_default()
}

fn held(status: &TaskStatus) -> CapSet {
    permitted(status) | effective(status)
}

/// A set over every thread of the process: what its threads hold together.
fn threads_union(process: &Process, set: fn(&TaskStatus) -> CapSet) -> CapSet {
    process
        .tasks()
        .fold(CapSet::EMPTY, |all, (_, status)| all | set(status))
}

/// The union over the threads of a set that may be unknown: unknown only if no thread shows it.
fn threads_known_union(
    process: &Process,
    set: impl Fn(&TaskStatus) -> Option<CapSet>,
) -> Option<CapSet> {
    process
        .tasks()
        .filter_map(|(_, status)| set(status))
        .reduce(|a, b| a | b)
}

/// A short form in the pieces a line may break after.
fn pieces(text: &str) -> Vec<String> {
    text.split_inclusive(',').map(str::to_string).collect()
}

/// A set's short form in pieces a line may break after, painted as findings; root-equivalent names keep
/// their danger colour.
fn findings(set: CapSet, known: u32) -> Vec<String> {
    if set.is_empty() {
        return Vec::new();
    }
    summary::short(set, known)
        .split_inclusive(',')
        .map(|piece| {
            if piece.contains('\x1b') {
                piece.to_string()
            } else {
                term::paint(Style::Finding, piece).into_owned()
            }
        })
        .collect()
}

/// One (process, socket) pair as `--json` prints it; the socket fields are null for a process listed by
/// `--unneeded` that holds no socket.
#[derive(Serialize)]
struct SocketRecord {
    pid: u32,
    ppid: u32,
    /// The leader's effective uid, and its name (null where the uid has none), as in capls.
    euid: u32,
    user: Option<String>,
    /// The user namespace the process's sets belong to, as in capls.
    userns: UsernsRecord,
    comm: ExternalBytes,
    netns: NetnsRecord,
    proto: Option<Proto>,
    state: Option<&'static str>,
    local: Option<ExternalBytes>,
    remote: Option<ExternalBytes>,
    inode: Option<u64>,
    socket_needs: Option<CapSet>,
    /// Needs the socket met with one capability of each set (null without a socket).
    socket_needs_one_of: Option<Vec<CapSet>>,
    /// Over every thread of the process.
    effective: Option<CapSet>,
    permitted: Option<CapSet>,
    /// How many threads the process has (a number, as in capls).
    threads: usize,
    /// The threads whose sets differ from the leader's.
    differing_threads: Vec<ThreadRecord>,
    needs: CapSet,
    unneeded: CapSet,
}

#[derive(Serialize)]
struct ThreadRecord {
    tid: u32,
    effective: Option<CapSet>,
    permitted: Option<CapSet>,
}

#[derive(Serialize)]
struct UsernsRecord {
    inode: Option<u64>,
    is_host: Option<bool>,
}

#[derive(Serialize)]
struct NetnsRecord {
    inode: Option<u64>,
    is_host: Option<bool>,
    unprivileged_port_start: Option<u16>,
    /// Whether this is the holder's current namespace (false for a socket kept from another one).
    holder: bool,
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
        for proto in args.proto.iter().map(|p| p.proto()) {
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
            pids: named_pids(args.pids.iter().chain(&args.pid_option)),
        })
    }

    /// A process holds what any of its threads holds: a thread may keep what its leader dropped.
    fn wants_process(&self, process: &Process, all: bool) -> bool {
        let held = threads_union(process, held);
        let ambient = process
            .tasks()
            .any(|(_, s)| s.caps.ambient.is_some_and(|a| !a.is_empty()));
        let holds_any = !held.is_empty() || ambient;
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

/// What went wrong on the way. A PID named with `--pid` that could not be read is an error of its own;
/// problems with processes found by the scan are counted and summarised once.
#[derive(Default)]
struct Tally {
    /// The processes whose status was read.
    seen: HashSet<u32>,
    /// Why each process that could not be read was not, by PID (first cause only).
    causes: HashMap<u32, String>,
    vanished: u32,
    unreadable: u32,
    first_error: Option<String>,
    /// Processes whose descriptors we may not read.
    hidden: u32,
    port_start_unknown: u32,
    /// Open sockets that no read of their namespace showed, however many times it was read.
    missed: u32,
}

impl Tally {
    fn failed(&mut self, pid: u32, cause: String) {
        self.unreadable += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{pid}: {cause}"));
        }
        self.causes.entry(pid).or_insert(cause);
    }

    /// Reading /proc/PID/fd failed: the process exited, or we may not look.
    fn fd_error(&mut self, pid: u32, err: io::Error) {
        match err.kind() {
            io::ErrorKind::NotFound => {
                self.vanished += 1;
                self.seen.remove(&pid);
            }
            io::ErrorKind::PermissionDenied if !may_read_any_fd() => {
                self.hidden += 1;
                let path = proc_dir(pid).join("fd");
                self.causes
                    .entry(pid)
                    .or_insert(format!("{}: {err}", path.display()));
            }
            _ => {
                let path = proc_dir(pid).join("fd");
                self.failed(pid, format!("{}: {err}", path.display()));
            }
        }
    }

    /// Prints the errors about named PIDs, in the order named, then the summary; true if any named PID
    /// could not be read.
    fn report(&self, named: &[u32]) -> bool {
        let mut errors = false;
        for pid in named {
            let cause = match self.causes.get(pid) {
                Some(cause) => cause.as_str(),
                None if !self.seen.contains(pid) => "no such process",
                None => continue,
            };
            output::warn(PROG, &pid.to_string(), &cause);
            errors = true;
        }
        for message in self.summary(!named.is_empty()) {
            let _ = writeln!(io::stderr().lock(), "{PROG}: {message}");
        }
        errors
    }

    /// The summary lines: for a scan, everything counted; for named PIDs (each already reported), only
    /// what the messages above do not say.
    fn summary(&self, named: bool) -> Vec<String> {
        let mut lines = Vec::new();
        if self.hidden > 0 {
            lines.push(format!(
                "note: root is needed to see other processes' sockets ({} not shown)",
                words::count(self.hidden, "process", "processes")
            ));
        }
        if !named && self.vanished > 0 {
            lines.push(format!(
                "note: skipped {} that exited while being read",
                words::count(self.vanished, "process", "processes")
            ));
        }
        if let Some(first) = self.first_error.as_ref().filter(|_| !named) {
            lines.push(format!(
                "warning: could not read {} (first: {first})",
                words::count(self.unreadable, "process", "processes")
            ));
        }
        if self.missed > 0 {
            let (is, its, it) = if self.missed == 1 {
                ("is", "its", "it")
            } else {
                ("are", "their", "them")
            };
            lines.push(format!(
                "warning: {} held open {is} not listed: every read of {its} network namespace left {it} \
                 out (sockets there kept changing while it was read)",
                words::count(self.missed, "socket", "sockets"),
            ));
        }
        if self.port_start_unknown > 0 {
            lines.push(format!(
                "note: could not enter {} to read ip_unprivileged_port_start; assumed {DEFAULT_PORT_START}",
                words::count(self.port_start_unknown, "network namespace", "network namespaces")
            ));
        }
        lines.into_iter().map(|l| escape_str(&l)).collect()
    }
}

/// Whether we hold cap_sys_ptrace, which lets procfs show any process's descriptors: without it, another
/// user's are hidden from us, and root is what it takes to see them.
fn may_read_any_fd() -> bool {
    static MAY: OnceLock<bool> = OnceLock::new();
    *MAY.get_or_init(|| {
        proc::own_capabilities().is_ok_and(|(effective, _, _)| effective.contains(Cap::SYS_PTRACE))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_in_words() {
        let mut tally = Tally {
            vanished: 1,
            hidden: 2,
            port_start_unknown: 1,
            ..Tally::default()
        };
        tally.failed(7, "/proc/7/fd: Input/output error".to_string());
        assert_eq!(
            tally.summary(false),
            [
                "note: root is needed to see other processes' sockets (2 processes not shown)",
                "note: skipped 1 process that exited while being read",
                "warning: could not read 1 process (first: 7: /proc/7/fd: Input/output error)",
                "note: could not enter 1 network namespace to read ip_unprivileged_port_start; \
                 assumed 1024",
            ]
        );
        tally.vanished = 3;
        assert!(tally.summary(false)[1].contains("skipped 3 processes"));
        assert_eq!(tally.summary(true).len(), 2);
        tally.missed = 2;
        assert_eq!(
            tally.summary(true)[1],
            "warning: 2 sockets held open are not listed: every read of their network namespace left \
             them out (sockets there kept changing while it was read)"
        );
    }

    #[test]
    fn named_pids_are_kept_once_in_order() {
        assert_eq!(named_pids(&[5, 3, 5, 1, 3]), [5, 3, 1]);
    }
}
