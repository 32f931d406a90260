//! capbpf: captrace's eBPF side. Loads the committed BPF object (bpf/captrace.bpf.c, built by
//! bpf/build.sh) with aya, points it at one scope (a cgroup subtree or a pid tree), and reads back the
//! capability checks it counted as `capcore::needs::Check` rows.
//!
//! fexit/cap_capable is tried first (it sees the NOAUDIT and INSETID options exactly); where the kernel
//! refuses it, the cap_capable tracepoint (Linux 6.14+) is used and the options are read off the kernel
//! stack, from the address ranges of the capability plumbing given to the program at load. Every program
//! is attached through a BPF link owned by this process, so nothing stays attached after it exits, however
//! it exits.

mod symbols;
mod symcache;

use std::collections::HashMap;
use std::fmt;

use aya::maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, PerCpuHashMap};
use aya::programs::{BtfTracePoint, FExit};
use aya::{Btf, Ebpf, EbpfLoader};
use capcore::cap::Cap;
use capcore::needs::{CapTotals, Check, ExecFile, NsPlace};
use capcore::CapSet;

pub use symbols::Symbols;

/// The object, aligned as aya's parser needs.
static OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/captrace.bpf.o");

// Must match bpf/captrace.h.
const MAX_RANGES: usize = 96;
/// Room kept for the text ranges (core kernel and modules).
const MAX_TEXT_RANGES: usize = 32;
const KEY_LEN: usize = 56;
const SETTLED_KEY_LEN: usize = 40;
const TOTAL_DENIED: u32 = 2;
const TOTAL_CREATED: u32 = 1;
const TOTAL_PER_CAP: u32 = 4;
const PATH_LEN: usize = 256;
const EXEC_KEY_LEN: usize = 20;
const CHECK_CLASSIFIED: u8 = 1;
const CHECK_NOAUDIT: u8 = 2;
const CHECK_INSETID: u8 = 4;
const CHECK_IN_EXEC: u8 = 8;
const CHECK_PATH_SEARCH: u8 = 16;
const RANGE_PLUMBING: u32 = 1;
const RANGE_NOAUDIT: u32 = 2;
const RANGE_INSETID: u32 = 4;
const RANGE_TEXT: u32 = 8;
const RANGE_LOOKUP: u32 = 16;
const RANGE_EXEC: u32 = 32;
const RANGE_INTERP: u32 = 64;
const RANGE_WALK: u32 = 128;
const RANGE_STAT: u32 = 256;
const EXEC_FAILED: u8 = 1;
const EXEC_SUCCEEDED: u8 = 2;
const STATE_DROPPED: u32 = 1;
const STATE_ESCALATIONS: u32 = 2;
const STATE_ARMED_AT: u32 = 3;
const MODE_CGROUP: u32 = 0;
const MODE_PIDS: u32 = 1;

/// The functions between cap_capable and the code that asked, with what each says about the check. A
/// function here is skipped when looking for the caller; NOAUDIT and INSETID come from the wrapper the
/// caller chose (`ns_capable_noaudit`, `ns_capable_setid`, …). The memory-accounting check calls
/// cap_capable itself, NOAUDIT, and is its own caller.
const KNOWN_FUNCTIONS: &[(&str, u32)] = &[
    ("cap_capable", RANGE_PLUMBING),
    ("cap_capable_helper", RANGE_PLUMBING),
    ("security_capable", RANGE_PLUMBING),
    ("ns_capable_common", RANGE_PLUMBING),
    ("ns_capable", RANGE_PLUMBING),
    ("ns_capable_noaudit", RANGE_PLUMBING | RANGE_NOAUDIT),
    ("ns_capable_setid", RANGE_PLUMBING | RANGE_INSETID),
    ("capable", RANGE_PLUMBING),
    ("has_ns_capability", RANGE_PLUMBING),
    ("has_capability", RANGE_PLUMBING),
    ("has_ns_capability_noaudit", RANGE_PLUMBING | RANGE_NOAUDIT),
    ("has_capability_noaudit", RANGE_PLUMBING | RANGE_NOAUDIT),
    ("file_ns_capable", RANGE_PLUMBING),
    ("capable_wrt_inode_uidgid", RANGE_PLUMBING),
    ("privileged_wrt_inode_uidgid", RANGE_PLUMBING),
    ("sk_ns_capable", RANGE_PLUMBING),
    ("sk_capable", RANGE_PLUMBING),
    ("sk_net_capable", RANGE_PLUMBING),
    ("sockopt_ns_capable", RANGE_PLUMBING),
    ("sockopt_capable", RANGE_PLUMBING),
    ("__netlink_ns_capable", RANGE_PLUMBING),
    ("netlink_ns_capable", RANGE_PLUMBING),
    ("netlink_capable", RANGE_PLUMBING),
    ("netlink_net_capable", RANGE_PLUMBING),
    ("perfmon_capable", RANGE_PLUMBING),
    ("bpf_capable", RANGE_PLUMBING),
    ("checkpoint_restore_ns_capable", RANGE_PLUMBING),
    // How a tracepoint reaches the program.
    ("__bpf_trace_cap_capable", RANGE_PLUMBING),
    ("__traceiter_cap_capable", RANGE_PLUMBING),
    ("bpf_trace_run5", RANGE_PLUMBING),
    ("security_vm_enough_memory_mm", RANGE_NOAUDIT),
    // A path lookup's permission check (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH): the walk goes on above
    // it to see whether the lookup of an execve's file made it (do_open_execat called by the execve),
    // or of a `#!` interpreter (called by open_exec, inside an exec that is going ahead).
    ("generic_permission", RANGE_LOOKUP),
    ("do_open_execat", RANGE_EXEC),
    ("open_exec", RANGE_INTERP),
    // A directory search of a name's walk (may_lookup, inlined in link_path_walk), made for a stat or an
    // access: a shell's PATH search stats each directory's NAME before it execs the one it found.
    ("link_path_walk", RANGE_WALK),
    ("vfs_statx", RANGE_STAT),
    ("do_faccessat", RANGE_STAT),
];

/// Which hook counts the checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attach {
    /// fexit/cap_capable: the options exactly.
    Fexit,
    /// tp_btf/cap_capable: the options from the kernel stack.
    TpBtf,
}

impl Attach {
    pub fn name(self) -> &'static str {
        match self {
            Attach::Fexit => "fexit",
            Attach::TpBtf => "tp_btf",
        }
    }
}

/// What to count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every process whose cgroup v2 is this one or below it: `id` is the cgroup directory's inode number
    /// (what bpf_get_current_cgroup_id returns), `level` its depth below the root.
    Cgroup { id: u64, level: u32 },
    /// These thread groups and every process they fork from now on.
    Pids(Vec<u32>),
}

/// How to trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub scope: Scope,
    /// The traced program's starting user namespace: inode number and level.
    pub base_ns: (u32, u32),
    /// Count nothing until the first exec in scope (COMMAND's own).
    pub gate_on_exec: bool,
    /// Use this hook only (for tests and comparisons); `None` tries fexit, then the tracepoint.
    pub only: Option<Attach>,
    /// Room for this many per-process keys in each counting map (default 16,384); past it, checks are
    /// counted without their process.
    pub map_keys: Option<u32>,
}

/// Why tracing cannot start; one line for the user.
#[derive(Debug)]
pub struct Unavailable(pub String);

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unavailable {}

/// Everything the kernel counted.
#[derive(Clone, Debug, Default)]
pub struct Collected {
    pub checks: Vec<Check>,
    /// Checks no map had room for: not in `checks` at all. (Checks that found the per-process maps full
    /// are in `checks` with pid 0 and no command name.)
    pub dropped: u64,
    /// Execs in scope that gained privilege (set-id, file capabilities), with a file name each for the
    /// first few.
    pub escalations: u64,
    pub escalated_files: Vec<(u32, Vec<u8>)>,
    /// Every check by capability and outcome, from an array that cannot fill: exact even when rows were
    /// dropped.
    pub totals: Vec<CapTotals>,
    /// The capabilities granted on an audited check outside a created namespace: `needed`, even when
    /// their rows were dropped.
    pub settled: CapSet,
    /// The execs in scope: which file each (process, name) ran.
    pub execs: Vec<ExecFile>,
}

/// A loaded, attached tracer. Dropping it detaches everything.
pub struct Tracer {
    bpf: Ebpf,
    attach: Attach,
    symbols: Symbols,
    started_ns: u64,
}

impl Tracer {
    /// Loads and attaches. Nothing is counted before this returns; with `gate_on_exec`, nothing before
    /// the first exec in scope either.
    pub fn start(options: &Options) -> Result<Tracer, Unavailable> {
        preflight()?;
        let (btf, symbols, loader) = read_kernel()?;
        let mut bpf = load_object(loader, options, &btf, &symbols)?;
        if let Scope::Pids(pids) = &options.scope {
            attach_tracepoint(&mut bpf, "captrace_fork", "sched_process_fork", &btf)?;
            attach_tracepoint(&mut bpf, "captrace_exit", "sched_process_exit", &btf)?;
            add_pids(&mut bpf, pids)?;
        }
        // The exec hook opens the gate, and also notes the execs that gain privilege in every mode.
        attach_tracepoint(&mut bpf, "captrace_exec", "sched_process_exec", &btf)?;
        let attach = attach_cap_capable(&mut bpf, &btf, options.only)?;
        // Times are from here: the caller's clock for the run starts when this returns.
        let started_ns = monotonic_ns();
        Ok(Tracer {
            bpf,
            attach,
            symbols,
            started_ns,
        })
    }

    pub fn attach(&self) -> Attach {
        self.attach
    }

    /// Adds thread groups to a pid-tree scope (the rest of a tree listed after start).
    pub fn add_pids(&mut self, pids: &[u32]) -> Result<(), Unavailable> {
        add_pids(&mut self.bpf, pids)
    }

    /// Reads every counter. Can be called while the programs are still attached.
    pub fn collect(&self) -> Result<Collected, Unavailable> {
        let state = self.state()?;
        // With the exec gate, times count from COMMAND's exec, read on the BPF program's own clock.
        let zero = match state.get(&STATE_ARMED_AT) {
            Some(&at) if at != 0 => at,
            _ => self.started_ns,
        };
        let attempts = self.exec_outcomes()?;
        let execs = self.execs()?;
        let exec_names = ExecNames::of(&execs);
        let mut rows = self.checks_in("checks", zero, &attempts, &exec_names)?;
        rows.extend(self.settled_rows(&rows)?);
        // Checks that found the per-process maps full: pid 0, no command name.
        rows.extend(self.checks_in("merged", zero, &attempts, &exec_names)?);
        rows.sort_by_key(|a| (a.cap, a.first_seen_ns));
        Ok(Collected {
            checks: rows,
            dropped: state.get(&STATE_DROPPED).copied().unwrap_or(0),
            escalations: state.get(&STATE_ESCALATIONS).copied().unwrap_or(0),
            escalated_files: self.escalated_files()?,
            totals: self.totals()?,
            settled: self.settled()?,
            execs,
        })
    }

    /// The `exec_outcomes` map: how each exec attempt that made a check in its file lookup ended, by
    /// (process, attempt).
    fn exec_outcomes(&self) -> Result<HashMap<(u32, u32), u8>, Unavailable> {
        let map = self
            .bpf
            .map("exec_outcomes")
            .ok_or_else(|| Unavailable("the BPF object has no map `exec_outcomes`".into()))?;
        let outcomes: BpfHashMap<&MapData, [u32; 2], u8> = BpfHashMap::try_from(map)
            .map_err(|e| Unavailable(format!("map exec_outcomes: {e}")))?;
        let mut out = HashMap::new();
        for entry in outcomes.iter() {
            let (key, outcome) =
                entry.map_err(|e| Unavailable(format!("reading map exec_outcomes: {e}")))?;
            out.insert((key[0], key[1]), outcome);
        }
        Ok(out)
    }

    /// The `execs` map: each process and name, and the file it exec'd.
    fn execs(&self) -> Result<Vec<ExecFile>, Unavailable> {
        let map = self
            .bpf
            .map("execs")
            .ok_or_else(|| Unavailable("the BPF object has no map `execs`".into()))?;
        let files: BpfHashMap<&MapData, [u8; EXEC_KEY_LEN], [u8; 2 * PATH_LEN]> =
            BpfHashMap::try_from(map).map_err(|e| Unavailable(format!("map execs: {e}")))?;
        let mut out = Vec::new();
        for entry in files.iter() {
            let (key, file) = entry.map_err(|e| Unavailable(format!("reading map execs: {e}")))?;
            out.push(ExecFile {
                pid: u32::from_ne_bytes([key[0], key[1], key[2], key[3]]),
                comm: until_nul(&key[4..]).to_vec(),
                path: until_nul(&file[..PATH_LEN]).to_vec(),
                interp: until_nul(&file[PATH_LEN..]).to_vec(),
            });
        }
        out.sort_by(|a, b| (a.pid, &a.comm).cmp(&(b.pid, &b.comm)));
        Ok(out)
    }

    /// The `totals` array, summed over the CPUs: one entry per capability checked.
    fn totals(&self) -> Result<Vec<CapTotals>, Unavailable> {
        let map = self
            .bpf
            .map("totals")
            .ok_or_else(|| Unavailable("the BPF object has no map `totals`".into()))?;
        let array: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(map).map_err(|e| Unavailable(format!("map totals: {e}")))?;
        let read = |index: u32| -> Result<u64, Unavailable> {
            let per_cpu = array
                .get(&index, 0)
                .map_err(|e| Unavailable(format!("reading map totals: {e}")))?;
            Ok(per_cpu.iter().fold(0u64, |sum, n| sum.saturating_add(*n)))
        };
        let mut out = Vec::new();
        for cap in Cap::all_bits() {
            let base = cap.bit() * TOTAL_PER_CAP;
            let total = CapTotals {
                cap,
                granted: read(base)?,
                granted_created: read(base + TOTAL_CREATED)?,
                denied: read(base + TOTAL_DENIED)?,
                denied_created: read(base + TOTAL_DENIED + TOTAL_CREATED)?,
            };
            if total.granted + total.granted_created + total.denied + total.denied_created > 0 {
                out.push(total);
            }
        }
        Ok(out)
    }

    /// The `settled` array: capabilities granted on an audited check outside a created namespace.
    fn settled(&self) -> Result<CapSet, Unavailable> {
        let map = self
            .bpf
            .map("settled")
            .ok_or_else(|| Unavailable("the BPF object has no map `settled`".into()))?;
        let array: Array<&MapData, u32> =
            Array::try_from(map).map_err(|e| Unavailable(format!("map settled: {e}")))?;
        let mut out = CapSet::EMPTY;
        for cap in Cap::all_bits() {
            let value = array
                .get(&cap.bit(), 0)
                .map_err(|e| Unavailable(format!("reading map settled: {e}")))?;
            if value != 0 {
                out = out.with(cap);
            }
        }
        Ok(out)
    }

    /// Every row of one map of `struct check_key`s.
    fn checks_in(
        &self,
        name: &str,
        zero: u64,
        attempts: &HashMap<(u32, u32), u8>,
        exec_names: &ExecNames,
    ) -> Result<Vec<Check>, Unavailable> {
        let map = self
            .bpf
            .map(name)
            .ok_or_else(|| Unavailable(format!("the BPF object has no map `{name}`")))?;
        let checks: BpfHashMap<&MapData, [u8; KEY_LEN], [u64; 2]> =
            BpfHashMap::try_from(map).map_err(|e| Unavailable(format!("map {name}: {e}")))?;
        let mut rows = Vec::new();
        for entry in checks.iter() {
            let (key, value) =
                entry.map_err(|e| Unavailable(format!("reading map {name}: {e}")))?;
            if let Some(check) = self.decode(&key, value, zero, attempts, exec_names) {
                rows.push(check);
            }
        }
        Ok(rows)
    }

    /// The checks counted after their capability's verdict was settled, summed over the CPUs. They carry
    /// no stack (no caller, unclassified); their first-seen time is the capability's first.
    fn settled_rows(&self, classified: &[Check]) -> Result<Vec<Check>, Unavailable> {
        let map = self
            .bpf
            .map("settled_checks")
            .ok_or_else(|| Unavailable("the BPF object has no map `settled_checks`".into()))?;
        let counts: PerCpuHashMap<&MapData, [u8; SETTLED_KEY_LEN], u64> =
            PerCpuHashMap::try_from(map)
                .map_err(|e| Unavailable(format!("map settled_checks: {e}")))?;
        let mut out = Vec::new();
        for entry in counts.iter() {
            let (key, per_cpu) =
                entry.map_err(|e| Unavailable(format!("reading map settled_checks: {e}")))?;
            let raw = RawKey::parse_settled(&key);
            let Some(cap) = Cap::new(raw.cap) else {
                continue;
            };
            let count = per_cpu.iter().fold(0u64, |sum, n| sum.saturating_add(*n));
            let first_seen_ns = classified
                .iter()
                .filter(|c| c.cap == cap)
                .map(|c| c.first_seen_ns)
                .min()
                .unwrap_or(0);
            out.push(Check {
                cap,
                granted: raw.ret == 0,
                noaudit: None,
                insetid: false,
                ns: ns_place(raw.ns_place),
                ns_inum: raw.ns_inum,
                ns_level: raw.ns_level,
                pid: raw.tgid,
                comm: until_nul(&raw.comm).to_vec(),
                caller: None,
                count,
                first_seen_ns,
                recovered: false,
            });
        }
        Ok(out)
    }

    fn state(&self) -> Result<HashMap<u32, u64>, Unavailable> {
        let map = self
            .bpf
            .map("state")
            .ok_or_else(|| Unavailable("the BPF object has no map `state`".into()))?;
        let array: Array<&MapData, u64> =
            Array::try_from(map).map_err(|e| Unavailable(format!("map state: {e}")))?;
        let mut out = HashMap::new();
        for index in 0..array.len() {
            let value = array
                .get(&index, 0)
                .map_err(|e| Unavailable(format!("reading map state: {e}")))?;
            out.insert(index, value);
        }
        Ok(out)
    }

    fn escalated_files(&self) -> Result<Vec<(u32, Vec<u8>)>, Unavailable> {
        let map = self
            .bpf
            .map("escalations")
            .ok_or_else(|| Unavailable("the BPF object has no map `escalations`".into()))?;
        let files: BpfHashMap<&MapData, u32, [u8; PATH_LEN]> =
            BpfHashMap::try_from(map).map_err(|e| Unavailable(format!("map escalations: {e}")))?;
        let mut out = Vec::new();
        for entry in files.iter() {
            let (tgid, path) =
                entry.map_err(|e| Unavailable(format!("reading map escalations: {e}")))?;
            out.push((tgid, until_nul(&path).to_vec()));
        }
        out.sort();
        Ok(out)
    }

    /// One map row as a Check, its time from `zero`; `None` for a capability number the kernel cannot
    /// have sent.
    fn decode(
        &self,
        key: &[u8; KEY_LEN],
        value: [u64; 2],
        zero: u64,
        attempts: &HashMap<(u32, u32), u8>,
        exec_names: &ExecNames,
    ) -> Option<Check> {
        let raw = RawKey::parse(key);
        let recovered = (raw.flags & CHECK_IN_EXEC != 0
            && recovered(raw.tgid, raw.exec_attempt, attempts))
            || (raw.flags & CHECK_PATH_SEARCH != 0
                && exec_names.went_past(raw.lookup_base, raw.lookup_full));
        let cap = Cap::new(raw.cap)?;
        let classified = raw.flags & CHECK_CLASSIFIED != 0;
        let caller = (raw.caller != 0)
            .then(|| self.symbols.function_at(raw.caller).map(str::to_string))
            .flatten()
            .or_else(|| (raw.caller != 0).then(|| format!("{:#x}", raw.caller)));
        Some(Check {
            cap,
            granted: raw.ret == 0,
            noaudit: classified.then_some(raw.flags & CHECK_NOAUDIT != 0),
            insetid: raw.flags & CHECK_INSETID != 0,
            ns: ns_place(raw.ns_place),
            ns_inum: raw.ns_inum,
            ns_level: raw.ns_level,
            pid: raw.tgid,
            comm: until_nul(&raw.comm).to_vec(),
            caller,
            count: value[0],
            first_seen_ns: value[1].saturating_sub(zero),
            recovered,
        })
    }
}

/// Whether a check made inside exec attempt `attempt` of process `tgid` decided nothing: that execve
/// failed, and a later one of the same process succeeded (execvp went on through PATH and found the file).
/// The attempt number is 16 bits in the key: attempts are compared modulo 2^16.
fn recovered(tgid: u32, attempt: u16, attempts: &HashMap<(u32, u32), u8>) -> bool {
    let failed = attempts
        .iter()
        .any(|(&(pid, n), &outcome)| pid == tgid && n as u16 == attempt && outcome == EXEC_FAILED);
    failed
        && attempts.iter().any(|(&(pid, n), &outcome)| {
            pid == tgid && outcome == EXEC_SUCCEEDED && (n as u16).wrapping_sub(attempt) as i16 > 0
        })
}

/// The files exec'd in scope, by the hashes the BPF program gives a stat's name: the whole name and its
/// last component.
struct ExecNames(Vec<(u32, u32)>);

impl ExecNames {
    fn of(execs: &[ExecFile]) -> ExecNames {
        ExecNames(execs.iter().map(|e| name_hashes(&e.path)).collect())
    }

    /// Whether a stat's directory search for `full` went past: a file of the same last name, found
    /// elsewhere, was exec'd. A shell searching PATH stats DIR/NAME in each directory until one is there,
    /// then execs that one; had the search succeeded where the capability let it through, that file would
    /// be the one exec'd. A hash of 0 is a name the program could not read: never past.
    fn went_past(&self, base: u32, full: u32) -> bool {
        base != 0 && self.0.iter().any(|&(b, f)| b == base && f != full)
    }
}

/// The BPF program's hashes of a name (FNV-1a 64 over its bytes, and over those after its last `/`, each
/// folded to 32 bits): the program reads at most PATH_LEN - 1 bytes, as the execs map holds.
fn name_hashes(name: &[u8]) -> (u32, u32) {
    let fold = |h: u64| (h ^ (h >> 32)) as u32;
    let (mut full, mut base) = (FNV_OFFSET, FNV_OFFSET);
    for &c in name.iter().take(PATH_LEN - 1) {
        full = fnv1a(full, c);
        base = if c == b'/' {
            FNV_OFFSET
        } else {
            fnv1a(base, c)
        };
    }
    (fold(base), fold(full))
}

/// FNV-1a, 64 bits: the offset basis, and one byte's step (the BPF program's hash, and the symbols
/// copy's key).
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(hash: u64, byte: u8) -> u64 {
    (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
}

/// What a load needs from the kernel: its BTF, its text symbols (the kernel takes tens of milliseconds
/// to write /proc/kallsyms out, so they are kept between runs: [`Symbols::read`]), and aya's loader, whose
/// `EbpfLoader::new` parses the BTF again for its default (replaced by ours, but as long again).
type Kernel = (Btf, Symbols, EbpfLoader<'static>);

/// The three reads of [`Kernel`], side by side.
fn read_kernel() -> Result<Kernel, Unavailable> {
    let (btf, symbols, loader) = std::thread::scope(|scope| {
        let symbols = scope.spawn(Symbols::read);
        let loader = scope.spawn(EbpfLoader::new);
        let btf = Btf::from_sys_fs();
        (btf, symbols.join(), loader.join())
    });
    let loader = loader.map_err(|_| Unavailable("the BPF loader could not be made".into()))?;
    let btf =
        btf.map_err(|e| Unavailable(format!("no kernel BTF (/sys/kernel/btf/vmlinux): {e}")))?;
    let symbols = symbols
        .map_err(|_| Unavailable("/proc/kallsyms: the reader failed".into()))?
        .map_err(|e| Unavailable(format!("/proc/kallsyms: {e}")))?;
    Ok((btf, symbols, loader))
}

/// struct check_key of bpf/captrace.h, read field by field from its bytes.
struct RawKey {
    caller: u64,
    cap: u32,
    ret: i32,
    tgid: u32,
    ns_inum: u32,
    ns_level: u32,
    ns_place: u8,
    flags: u8,
    exec_attempt: u16,
    comm: [u8; 16],
    lookup_base: u32,
    lookup_full: u32,
}

impl RawKey {
    /// struct settled_key: the same fields, without the caller and the flags.
    fn parse_settled(key: &[u8; SETTLED_KEY_LEN]) -> RawKey {
        let u32_at =
            |at: usize| u32::from_ne_bytes([key[at], key[at + 1], key[at + 2], key[at + 3]]);
        let mut comm = [0u8; 16];
        comm.copy_from_slice(&key[24..40]);
        RawKey {
            caller: 0,
            cap: u32_at(0),
            ret: u32_at(4) as i32,
            tgid: u32_at(8),
            ns_inum: u32_at(12),
            ns_level: u32_at(16),
            ns_place: key[20],
            flags: 0,
            exec_attempt: 0,
            comm,
            lookup_base: 0,
            lookup_full: 0,
        }
    }

    fn parse(key: &[u8; KEY_LEN]) -> RawKey {
        let u32_at =
            |at: usize| u32::from_ne_bytes([key[at], key[at + 1], key[at + 2], key[at + 3]]);
        let mut caller = [0u8; 8];
        caller.copy_from_slice(&key[0..8]);
        let mut comm = [0u8; 16];
        comm.copy_from_slice(&key[32..48]);
        RawKey {
            caller: u64::from_ne_bytes(caller),
            cap: u32_at(8),
            ret: u32_at(12) as i32,
            tgid: u32_at(16),
            ns_inum: u32_at(20),
            ns_level: u32_at(24),
            ns_place: key[28],
            flags: key[29],
            exec_attempt: u16::from_ne_bytes([key[30], key[31]]),
            comm,
            lookup_base: u32_at(48),
            lookup_full: u32_at(52),
        }
    }
}

fn ns_place(raw: u8) -> NsPlace {
    match raw {
        0 => NsPlace::Base,
        1 => NsPlace::Created,
        _ => NsPlace::Outside,
    }
}

fn until_nul(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// Says what is missing before anything is loaded or started: the usual reasons, each in one line.
pub fn preflight() -> Result<(), Unavailable> {
    if !rustix::process::geteuid().is_root() {
        return Err(Unavailable(
            "tracing capability checks needs root (CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN to read \
             /proc/kallsyms): run captrace as root"
                .into(),
        ));
    }
    if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        return Err(Unavailable(
            "this kernel has no BTF (/sys/kernel/btf/vmlinux; CONFIG_DEBUG_INFO_BTF): captrace needs it \
             to attach to cap_capable"
                .into(),
        ));
    }
    Ok(())
}

/// The plumbing ranges, flattened as the program's globals want them.
struct Ranges {
    start: [u64; MAX_RANGES],
    end: [u64; MAX_RANGES],
    flags: [u32; MAX_RANGES],
    len: u32,
}

fn plumbing_ranges(symbols: &Symbols) -> Result<Ranges, Unavailable> {
    let mut ranges = Ranges {
        start: [0; MAX_RANGES],
        end: [0; MAX_RANGES],
        flags: [0; MAX_RANGES],
        len: 0,
    };
    let names: Vec<&str> = KNOWN_FUNCTIONS.iter().map(|(name, _)| *name).collect();
    let known = symbols.ranges_of(&names);
    // KNOWN_FUNCTIONS[0] is cap_capable itself.
    let text = symbols
        .text_ranges(MAX_TEXT_RANGES)
        .filter(|_| known.iter().any(|(i, _)| *i == 0))
        .ok_or_else(|| Unavailable("/proc/kallsyms has no cap_capable, _stext or _etext".into()))?;
    let flagged = text.into_iter().map(|range| (range, RANGE_TEXT)).chain(
        known
            .into_iter()
            .map(|(i, range)| (range, KNOWN_FUNCTIONS[i].1)),
    );
    for ((start, end), flags) in flagged {
        let i = ranges.len as usize;
        if i == MAX_RANGES {
            return Err(Unavailable(format!(
                "more than {MAX_RANGES} kernel functions make up the capability plumbing"
            )));
        }
        ranges.start[i] = start;
        ranges.end[i] = end;
        ranges.flags[i] = flags;
        ranges.len += 1;
    }
    Ok(ranges)
}

fn load_object(
    loader: EbpfLoader<'_>,
    options: &Options,
    btf: &Btf,
    symbols: &Symbols,
) -> Result<Ebpf, Unavailable> {
    let ranges = plumbing_ranges(symbols)?;
    let (mode, cgroup, level) = match options.scope {
        Scope::Cgroup { id, level } => (MODE_CGROUP, id, level),
        Scope::Pids(_) => (MODE_PIDS, 0, 0),
    };
    let gate = u32::from(options.gate_on_exec);
    let (base_inum, base_level) = options.base_ns;
    // Borrows the values above from here on: a shorter lifetime than the loader was made with.
    let mut loader: EbpfLoader<'_> = loader;
    if let Some(keys) = options.map_keys {
        loader
            .set_max_entries("checks", keys.max(1))
            .set_max_entries("settled_checks", keys.max(1));
    }
    loader
        .btf(Some(btf))
        .set_global("mode", &mode, true)
        .set_global("target_cgroup", &cgroup, true)
        .set_global("target_level", &level, true)
        .set_global("gate_on_exec", &gate, true)
        .set_global("base_inum", &base_inum, true)
        .set_global("base_level", &base_level, true)
        .set_global("nranges", &ranges.len, true)
        .set_global("range_start", &ranges.start, true)
        .set_global("range_end", &ranges.end, true)
        .set_global("range_flags", &ranges.flags, true)
        .load(OBJECT)
        .map_err(|e| Unavailable(format!("loading the BPF object: {}", chain(&e))))
}

fn attach_tracepoint(
    bpf: &mut Ebpf,
    program: &str,
    tracepoint: &str,
    btf: &Btf,
) -> Result<(), Unavailable> {
    let prog: &mut BtfTracePoint = bpf
        .program_mut(program)
        .ok_or_else(|| Unavailable(format!("the BPF object has no program {program}")))?
        .try_into()
        .map_err(|e| Unavailable(format!("{program}: {e}")))?;
    prog.load(tracepoint, btf)
        .map_err(|e| Unavailable(format!("loading tp_btf/{tracepoint}: {}", chain(&e))))?;
    prog.attach()
        .map_err(|e| Unavailable(format!("attaching tp_btf/{tracepoint}: {}", chain(&e))))?;
    Ok(())
}

/// fexit first, then the tracepoint; the error names both when neither loads.
fn attach_cap_capable(
    bpf: &mut Ebpf,
    btf: &Btf,
    only: Option<Attach>,
) -> Result<Attach, Unavailable> {
    let mut fexit_error = None;
    if only != Some(Attach::TpBtf) {
        match attach_fexit(bpf, btf) {
            Ok(()) => return Ok(Attach::Fexit),
            Err(e) => fexit_error = Some(e),
        }
    }
    if only == Some(Attach::Fexit) {
        let why = fexit_error.map_or_else(|| "not tried".to_string(), |e| e.0);
        return Err(Unavailable(format!("fexit/cap_capable: {why}")));
    }
    match attach_tracepoint(bpf, "captrace_tp", "cap_capable", btf) {
        Ok(()) => Ok(Attach::TpBtf),
        Err(tp) => Err(Unavailable(match fexit_error {
            Some(fexit) => format!(
                "this kernel lets captrace attach neither to fexit/cap_capable ({fexit}) nor to the \
                 cap_capable tracepoint, added in Linux 6.14 ({tp})"
            ),
            None => tp.0,
        })),
    }
}

fn attach_fexit(bpf: &mut Ebpf, btf: &Btf) -> Result<(), Unavailable> {
    let prog: &mut FExit = bpf
        .program_mut("captrace_fexit")
        .ok_or_else(|| Unavailable("the BPF object has no program captrace_fexit".into()))?
        .try_into()
        .map_err(|e| Unavailable(format!("captrace_fexit: {e}")))?;
    prog.load("cap_capable", btf)
        .map_err(|e| Unavailable(format!("loading: {}", chain(&e))))?;
    prog.attach()
        .map_err(|e| Unavailable(format!("attaching: {}", chain(&e))))?;
    Ok(())
}

fn add_pids(bpf: &mut Ebpf, pids: &[u32]) -> Result<(), Unavailable> {
    let map = bpf
        .map_mut("pids")
        .ok_or_else(|| Unavailable("the BPF object has no map `pids`".into()))?;
    let mut set: BpfHashMap<&mut MapData, u32, u8> =
        BpfHashMap::try_from(map).map_err(|e| Unavailable(format!("map pids: {e}")))?;
    for &pid in pids {
        set.insert(pid, 1, 0)
            .map_err(|e| Unavailable(format!("adding pid {pid}: {e}")))?;
    }
    Ok(())
}

/// An error and its sources, on one line: aya's errors keep the errno in a source. The verifier's log,
/// which aya puts in the message, is many lines long and is left out: the errno says what happened.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = without_verifier_log(&error.to_string());
    let mut source = error.source();
    while let Some(cause) = source {
        let next = without_verifier_log(&cause.to_string());
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

fn without_verifier_log(text: &str) -> String {
    let kept = match text.find("Verifier output:") {
        Some(at) => text[..at].trim_end().trim_end_matches('.'),
        None => text,
    };
    kept.lines().next().unwrap_or("").to_string()
}

/// CLOCK_MONOTONIC in nanoseconds: bpf_ktime_get_ns's clock.
pub fn monotonic_ns() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (now.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(now.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_went_past_when_another_file_of_its_name_was_exec_d() {
        let exec = |path: &[u8]| ExecFile {
            pid: 1,
            comm: b"sh".to_vec(),
            path: path.to_vec(),
            interp: Vec::new(),
        };
        let names = ExecNames::of(&[exec(b"/usr/bin/hostname")]);
        let (base, full) = name_hashes(b"/root/bin/hostname");
        assert_eq!(base, name_hashes(b"hostname").0);
        assert!(names.went_past(base, full));
        // The very file exec'd, another name, an unreadable name: no.
        let (base, full) = name_hashes(b"/usr/bin/hostname");
        assert!(!names.went_past(base, full));
        let (base, full) = name_hashes(b"/root/bin/secret");
        assert!(!names.went_past(base, full));
        assert!(!names.went_past(0, 0));
        // The FNV-1a of the BPF program: the empty name's hash is the offset basis, folded.
        assert_eq!(name_hashes(b"").1, (FNV_OFFSET ^ (FNV_OFFSET >> 32)) as u32);
    }

    #[test]
    fn the_verifier_log_stays_out_of_the_one_line_error() {
        let text =
            "the BPF_PROG_LOAD syscall failed. Verifier output: 0: R1=ctx()\n1: (bf) r6 = r1\n";
        assert_eq!(
            without_verifier_log(text),
            "the BPF_PROG_LOAD syscall failed"
        );
        assert_eq!(without_verifier_log("a\nb"), "a");
        assert_eq!(without_verifier_log("plain"), "plain");
    }
}
