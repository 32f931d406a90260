//! captrace against the real kernel: programs the tests start (capkit-test-caps, setpriv, ls) traced, and
//! the verdict checked for each capability; plus the live-system pieces captrace stands on (capsys::cgroup
//! and capsys::launch): a leaf made, joined and removed, a user with ambient capabilities, the targets.
//!
//! What each program checks was measured on Linux 6.18 with bpftrace on the cap_capable tracepoint,
//! filtered on a cgroup of its own; the comments give the kernel function that asks. Every test needs
//! root; the captrace ones also need BPF, and skip (counted, with the reason) where captrace says it
//! cannot trace.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use capcore::CapSet;
use capsys::cgroup::{self, Leaf};
use capsys::launch::{self, Launch};
use serde_json::Value;

use crate::util::{helper, is_root, skipped};

/// Port 80 is the point of the listener tests (below 1024), so the tests that bind it take turns.
static PORT_80: Mutex<()> = Mutex::new(());

/// Returns from the test, saying why, unless it runs as root.
macro_rules! require_root {
    () => {
        if !is_root() {
            skipped("needs root: cgroups, BPF and set*id");
            return;
        }
    };
}

fn test_caps() -> PathBuf {
    helper("capkit-test-caps")
}

fn caps(names: &[&str]) -> CapSet {
    if names.is_empty() {
        return CapSet::EMPTY;
    }
    CapSet::parse_list(&names.join(",")).expect("capability names")
}

/// Waits (at most 10 s) until `pid` has exec'd `comm` (its name as /proc shows it, 15 bytes at most).
fn wait_for_comm(pid: u32, comm: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let now = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if now.trim_end() == comm {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Kills and reaps a child when dropped, also when an assertion fails.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A status line of /proc/PID/status.
fn status_field(pid: u32, key: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or("")
        .trim()
        .to_string()
}

// ---------------------------------------------------------------------------------------------------
// capsys::cgroup and capsys::launch

#[test]
fn a_leaf_is_made_joined_and_removed() {
    require_root!();
    let mut leaf = Leaf::create().expect("create a leaf");
    let cg = leaf.cgroup_ref().clone();
    let name = cg.path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("captrace-{}-", std::process::id())),
        "{name}"
    );
    let meta = std::fs::metadata(&cg.path).unwrap();
    assert_eq!(cg.id, std::os::unix::fs::MetadataExt::ino(&meta));
    assert!(cg.level >= 1);
    assert_eq!(cgroup::cgroup_ref(&cg.path).unwrap(), cg);

    let launch = Launch {
        program: test_caps(),
        args: vec!["capkit-test-caps".into(), "sleep".into(), "20".into()],
        user: None,
        caps: None,
        cgroup_procs: leaf.procs_path(),
    };
    let child = Reaped(launch::spawn(&launch).expect("spawn"));
    let pid = child.0.id();
    assert!(wait_for_comm(pid, "capkit-test-cap"));
    let procs = std::fs::read_to_string(leaf.procs_path()).unwrap();
    assert_eq!(procs.trim(), pid.to_string());
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        own.lines()
            .any(|l| l.starts_with("0::") && l.ends_with(&name)),
        "{own}"
    );
    // Root keeps every capability it had.
    assert_eq!(
        status_field(pid, "CapEff"),
        status_field(std::process::id(), "CapEff")
    );

    // The child lingers past the timeout: cgroup.kill ends it, and the leaf goes.
    leaf.remove(Duration::from_millis(100)).expect("remove");
    assert!(!cg.path.exists());
    let mut child = child;
    let status = child.0.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
}

#[test]
fn a_dropped_leaf_is_removed() {
    require_root!();
    let path = {
        let leaf = Leaf::create().expect("create a leaf");
        leaf.cgroup_ref().path.clone()
    };
    assert!(!path.exists(), "{}", path.display());
}

#[test]
fn a_user_gets_the_wanted_set_in_every_set_and_ambient() {
    require_root!();
    let nobody = launch::resolve_user("65534:65534").unwrap();
    let leaf = Leaf::create().unwrap();
    let wanted = caps(&["cap_net_bind_service", "cap_net_raw"]);
    let launch = Launch {
        program: test_caps(),
        args: vec!["capkit-test-caps".into(), "sleep".into(), "20".into()],
        user: Some(nobody),
        caps: Some(wanted),
        cgroup_procs: leaf.procs_path(),
    };
    let child = Reaped(launch::spawn(&launch).expect("spawn"));
    let pid = child.0.id();
    assert!(wait_for_comm(pid, "capkit-test-cap"));
    let hex = format!("{:016x}", wanted.bits());
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status_field(pid, set), hex, "{set}");
    }
    assert_eq!(status_field(pid, "Uid"), "65534\t65534\t65534\t65534");
    assert_eq!(status_field(pid, "Gid"), "65534\t65534\t65534\t65534");
    assert_eq!(status_field(pid, "Groups"), "65534");
    // The user's own HOME, not root's.
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let home = environ
        .split(|&b| b == 0)
        .find_map(|var| var.strip_prefix(b"HOME="))
        .map(|v| String::from_utf8_lossy(v).into_owned());
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let expected = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && f[2] == "65534")
        .map_or("/".to_string(), |f| f[5].to_string());
    assert_eq!(home, Some(expected));
}

#[test]
fn a_user_with_ambient_capabilities_binds_port_80() {
    require_root!();
    let _turn = PORT_80.lock().unwrap_or_else(|e| e.into_inner());
    let leaf = Leaf::create().unwrap();
    let run = |set: &[&str]| {
        let launch = Launch {
            program: test_caps(),
            args: vec!["capkit-test-caps".into(), "bind".into(), "80".into()],
            user: Some(launch::resolve_user("nobody").unwrap()),
            caps: Some(caps(set)),
            cgroup_procs: leaf.procs_path(),
        };
        let mut child = launch::spawn(&launch).expect("spawn");
        child.wait().unwrap().code()
    };
    assert_eq!(run(&["cap_net_bind_service"]), Some(0));
    assert_eq!(run(&[]), Some(1));
}

#[test]
fn a_step_that_fails_in_the_child_is_named() {
    require_root!();
    // /dev/full opens for writing and refuses every write: the leaf join is the step that fails.
    let launch = Launch {
        program: test_caps(),
        args: vec!["capkit-test-caps".into(), "exit".into(), "0".into()],
        user: None,
        caps: None,
        cgroup_procs: PathBuf::from("/dev/full"),
    };
    let err = launch::spawn(&launch).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/dev/full: write 0: No space left on device (os error 28)"
    );
    // An exec failure names the program.
    let leaf = Leaf::create().unwrap();
    let launch = Launch {
        program: PathBuf::from("/nonexistent/capkit"),
        args: vec!["x".into()],
        user: None,
        caps: None,
        cgroup_procs: leaf.procs_path(),
    };
    let err = launch::spawn(&launch).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/nonexistent/capkit: No such file or directory (os error 2)"
    );
}

/// A COMMAND that is not there is named once, in the house form, before anything runs.
#[test]
fn a_missing_command_is_named_once() {
    let Some(t) = captrace(&["--", "/nonexistent/capkit"]) else {
        return;
    };
    assert_eq!(t.code, 2, "{}", t.explain());
    assert_eq!(
        t.stderr.trim_end(),
        "captrace: /nonexistent/capkit: No such file or directory (os error 2)"
    );
}

#[test]
fn stale_leaves_go_and_live_ones_stay() {
    require_root!();
    let root = cgroup::cgroup2_root().unwrap();
    // A pid that was alive a moment ago and is no captrace now.
    let mut gone = Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let stale = root.join(format!("captrace-{}-0", gone.id()));
    std::fs::create_dir(&stale).unwrap();
    let live = Leaf::create().unwrap();
    cgroup::remove_stale_leaves().unwrap();
    let stale_left = stale.exists();
    if stale_left {
        let _ = std::fs::remove_dir(&stale);
    }
    assert!(!stale_left, "{} was not removed", stale.display());
    assert!(live.cgroup_ref().path.exists());
}

#[test]
fn a_unit_and_a_container_are_found_by_cgroup() {
    require_root!();
    let root = cgroup::cgroup2_root().unwrap();
    let pid = std::process::id();

    // A cgroup named like a unit: systemctl (absent, or not knowing it) leaves the search to find it.
    let unit = root.join(format!("capkit-test-{pid}.service"));
    std::fs::create_dir(&unit).unwrap();
    let found = cgroup::unit_cgroup(&format!("capkit-test-{pid}"));
    let by_rel = cgroup::cgroup_ref(Path::new(&format!("/capkit-test-{pid}.service")));
    let _ = std::fs::remove_dir(&unit);
    assert_eq!(found.unwrap(), unit);
    assert_eq!(by_rel.unwrap().path, unit);
    let err = cgroup::unit_cgroup(&format!("capkit-test-{pid}-none")).unwrap_err();
    assert!(err.to_string().contains("no such unit"), "{err}");
    assert!(cgroup::unit_cgroup("../x").is_err());

    // A docker scope (systemd driver naming) holding one process the test started.
    let id = format!("{:0>16x}{:0>48}", pid, "c0ffee");
    let scope = root.join(format!("docker-{id}.scope"));
    std::fs::create_dir(&scope).unwrap();
    let launch = Launch {
        program: test_caps(),
        args: vec!["capkit-test-caps".into(), "sleep".into(), "20".into()],
        user: None,
        caps: None,
        cgroup_procs: scope.join("cgroup.procs"),
    };
    let child = Reaped(launch::spawn(&launch).expect("spawn"));
    let found = cgroup::container_cgroup(&id[..16]);
    let none = cgroup::container_cgroup(&format!("{:0>16x}ff", pid));
    drop(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::remove_dir(&scope).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(found.unwrap(), scope);
    assert!(none.is_err());
}

#[test]
fn a_user_namespace_level_counts_from_ours() {
    require_root!();
    let Some(unshare) = crate::util::tool("unshare") else {
        skipped("unshare is not installed");
        return;
    };
    let child = Reaped(
        Command::new(unshare)
            .args(["-U", "sleep", "20"])
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    assert!(wait_for_comm(pid, "sleep"));
    let (inum, level) = cgroup::userns_of(pid).unwrap();
    let (own, own_level) = cgroup::userns_of(std::process::id()).unwrap();
    assert_ne!(inum, own);
    assert_eq!(level, own_level + 1);
    let tree = cgroup::pid_tree(std::process::id()).unwrap();
    assert!(tree.contains(&pid));
}

// ---------------------------------------------------------------------------------------------------
// captrace

/// The captrace binary, once the package builds it.
fn captrace_bin() -> Option<PathBuf> {
    option_env!("CARGO_BIN_EXE_captrace").map(PathBuf::from)
}

/// What one captrace run left.
struct Trace {
    code: i32,
    stdout: String,
    stderr: String,
    /// `cap` → the capability record.
    caps: BTreeMap<String, Value>,
    summary: Value,
}

impl Trace {
    fn verdict(&self, cap: &str) -> Option<&str> {
        self.caps.get(cap).and_then(|r| r["verdict"].as_str())
    }

    /// The names in a summary set (`needed`, `denied`, …).
    fn set(&self, key: &str) -> Vec<String> {
        self.summary[key]["caps"]
            .as_array()
            .map(|caps| {
                caps.iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn explain(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// captrace's path when a test can run it: as root, once the package builds it; else says why.
fn captrace_ready() -> Option<PathBuf> {
    if !is_root() {
        skipped("captrace needs root");
        return None;
    }
    let bin = captrace_bin();
    if bin.is_none() {
        skipped("captrace is not built in this tree");
    }
    bin
}

/// Runs captrace (at most 120 s) and parses its NDJSON. `None` when the test must be skipped: not root,
/// captrace not built, or captrace saying it cannot trace here (exit 2 before running COMMAND).
fn captrace(args: &[&str]) -> Option<Trace> {
    let bin = captrace_ready()?;
    let mut cmd = Command::new(bin);
    cmd.args(args).stdin(Stdio::null());
    without_cargo_library_path(&mut cmd);
    let trace = run_bounded(&mut cmd, Duration::from_secs(120));
    if trace.code == 2 && trace.summary.is_null() {
        let why = trace.stderr.lines().next().unwrap_or("").to_string();
        // Every message starts with "captrace: ": only what follows says whether tracing is possible.
        let lower = why.trim_start_matches("captrace: ").to_lowercase();
        if [
            "bpf",
            "tracing",
            "kernel",
            "tracepoint",
            "fexit",
            "needs root",
        ]
        .iter()
        .any(|w| lower.contains(w))
        {
            skipped(&format!("captrace cannot trace here: {why}"));
            return None;
        }
    }
    Some(trace)
}

/// cargo test sets LD_LIBRARY_PATH to directories under its home (/root/.rustup/…): a traced program run
/// as another user then has the loader search directories it cannot read, and asks cap_dac_read_search
/// for each. That is the environment's doing, not the program's: the traced programs run without it.
fn without_cargo_library_path(cmd: &mut Command) {
    cmd.env_remove("LD_LIBRARY_PATH");
}

fn run_bounded(cmd: &mut Command, limit: Duration) -> Trace {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn captrace");
    let out = reader(child.stdout.take());
    let err = reader(child.stderr.take());
    let code = wait_bounded(&mut child, limit);
    parse(code, out.join().unwrap(), err.join().unwrap())
}

fn reader<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(pipe) = pipe {
            let _ = pipe.take(64 << 20).read_to_end(&mut text);
        }
        String::from_utf8_lossy(&text).into_owned()
    })
}

/// The exit code, or -1 (after a kill) when the limit passed or a signal ended it.
fn wait_bounded(child: &mut Child, limit: Duration) -> i32 {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return -1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The JSON records are the lines that start with `{` (COMMAND's own output shares the streams).
fn parse(code: i32, stdout: String, stderr: String) -> Trace {
    let mut caps = BTreeMap::new();
    let mut summary = Value::Null;
    for line in stdout.lines().chain(stderr.lines()) {
        if !line.starts_with('{') {
            continue;
        }
        let Ok(record) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        match record["record"].as_str() {
            Some("capability") => {
                let cap = record["cap"].as_str().unwrap_or("").to_string();
                caps.insert(cap, record);
            }
            Some("summary") => summary = record,
            _ => {}
        }
    }
    Trace {
        code,
        stdout,
        stderr,
        caps,
        summary,
    }
}

/// Whether the traced program could not bind port 80 because something else holds it.
fn port_80_busy(trace: &Trace) -> bool {
    let busy = trace.stderr.contains("Address already in use");
    if busy {
        skipped("127.0.0.1:80 is in use by another program");
    }
    busy
}

#[test]
fn a_listener_on_port_80_needs_net_bind_service() {
    let _turn = PORT_80.lock().unwrap_or_else(|e| e.into_inner());
    let bin = test_caps();
    // __inet_bind asks ns_capable(CAP_NET_BIND_SERVICE) for a port below ip_unprivileged_port_start.
    let Some(t) = captrace(&["--json", "--", bin.to_str().unwrap(), "bind", "80"]) else {
        return;
    };
    if port_80_busy(&t) {
        return;
    }
    assert_eq!(t.code, 0, "{}", t.explain());
    assert_eq!(
        t.verdict("cap_net_bind_service"),
        Some("needed"),
        "{}",
        t.explain()
    );
    assert_eq!(t.set("needed"), ["cap_net_bind_service"], "{}", t.explain());
    assert_eq!(t.summary["exit_status"], 0);
    // The memory-accounting checks of every mmap and brk are probes.
    if t.caps.contains_key("cap_sys_admin") {
        assert_eq!(t.verdict("cap_sys_admin"), Some("probe"), "{}", t.explain());
    }
    let docker = t.summary["docker"].as_str().unwrap_or("");
    assert!(docker.contains("--cap-drop=ALL"), "{docker}");
    assert!(docker.contains("--cap-add=NET_BIND_SERVICE"), "{docker}");
    let kube = t.summary["kubernetes"].to_string();
    assert!(kube.contains("NET_BIND_SERVICE"), "{kube}");
    let systemd = t.summary["systemd"].as_str().unwrap_or("").to_lowercase();
    assert!(systemd.contains("cap_net_bind_service"), "{systemd}");
}

#[test]
fn a_raw_socket_opened_by_a_grandchild_needs_net_raw() {
    let bin = test_caps();
    // inet_create asks ns_capable(CAP_NET_RAW) for SOCK_RAW, in the grandchild.
    let Some(t) = captrace(&["--json", "--", bin.to_str().unwrap(), "raw-grandchild"]) else {
        return;
    };
    assert_eq!(t.code, 0, "{}", t.explain());
    assert_eq!(t.verdict("cap_net_raw"), Some("needed"), "{}", t.explain());
    assert_eq!(t.set("needed"), ["cap_net_raw"], "{}", t.explain());
}

#[test]
fn chown_to_another_user_needs_chown() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("owned");
    std::fs::write(&file, "x").unwrap();
    let bin = test_caps();
    // setattr_prepare asks capable_wrt_inode_uidgid(CAP_CHOWN) for the uid and for the gid.
    let Some(t) = captrace(&[
        "--json",
        "--",
        bin.to_str().unwrap(),
        "chown",
        file.to_str().unwrap(),
        "65534",
        "65534",
    ]) else {
        return;
    };
    assert_eq!(t.code, 0, "{}", t.explain());
    assert_eq!(t.verdict("cap_chown"), Some("needed"), "{}", t.explain());
    assert_eq!(t.set("needed"), ["cap_chown"], "{}", t.explain());
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 65534);
}

#[test]
fn ls_needs_nothing_and_its_memory_checks_are_probes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a"), "x").unwrap();
    let Some(ls) = crate::util::tool("ls") else {
        skipped("ls is not installed");
        return;
    };
    let Some(t) = captrace(&[
        "--json",
        "--",
        ls.to_str().unwrap(),
        "-l",
        dir.path().to_str().unwrap(),
    ]) else {
        return;
    };
    assert_eq!(t.code, 0, "{}", t.explain());
    assert!(t.set("needed").is_empty(), "{}", t.explain());
    // security_vm_enough_memory_mm asks cap_sys_admin (no audit) on every mmap and brk.
    assert_eq!(t.verdict("cap_sys_admin"), Some("probe"), "{}", t.explain());
    for (cap, record) in &t.caps {
        assert_ne!(record["verdict"], "needed", "{cap}: {}", t.explain());
    }
}

/// `captrace OPTIONS -- setpriv --reuid 65534 --regid 65534 --clear-groups PROGRAM ARGS…`: PROGRAM run as
/// nobody by setpriv, which drops every capability with the uid change, at PROGRAM's exec. `None` (and a
/// skip) without setpriv, or when captrace cannot trace.
fn captrace_as_nobody(options: &[&str], program: &[&str]) -> Option<Trace> {
    let Some(setpriv) = crate::util::tool("setpriv") else {
        skipped("setpriv is not installed");
        return None;
    };
    let setpriv = setpriv.to_string_lossy().into_owned();
    let drop_root = ["--reuid", "65534", "--regid", "65534", "--clear-groups"];
    let mut args: Vec<&str> = options.to_vec();
    args.push("--");
    args.push(&setpriv);
    args.extend(drop_root);
    args.extend(program);
    captrace(&args)
}

/// setpriv as root: setgroups and setresgid ask cap_setgid, setresuid asks cap_setuid (ns_capable_setid),
/// and its capset asks cap_setpcap (cap_capset → cap_inh_is_capped), audited, granted before the uid
/// change and refused after it. That check gates capset whenever the inheritable set grows beyond the
/// permitted one; the trace cannot see whether it did, so cap_setpcap is needed, as the issue lists it
/// (docs/captrace.md, limits: setpriv itself keeps the inheritable set empty and runs without it).
#[test]
fn setpriv_changing_uid_and_gid_needs_setuid_setgid_and_setpcap() {
    let Some(truth) = crate::util::tool("true") else {
        skipped("true is not installed");
        return;
    };
    // An absolute program: setpriv's own PATH search (as uid 65534, still holding its capabilities)
    // would ask cap_dac_read_search for every unreadable PATH directory.
    let Some(t) = captrace_as_nobody(&["--json", "--verify"], &[truth.to_str().unwrap()]) else {
        return;
    };
    assert_eq!(t.verdict("cap_setuid"), Some("needed"), "{}", t.explain());
    assert_eq!(t.verdict("cap_setgid"), Some("needed"), "{}", t.explain());
    assert_eq!(
        t.set("needed"),
        ["cap_setgid", "cap_setuid", "cap_setpcap"],
        "{}",
        t.explain()
    );
    // The capset after the uid change is refused in both runs: the same site, no change.
    assert_eq!(t.summary["verify"]["passed"], true, "{}", t.explain());
    assert_eq!(t.code, 0, "{}", t.explain());
}

#[test]
fn a_daemon_dropping_root_needs_setuid_and_setgid() {
    let bin = test_caps();
    // setgroups and setgid ask cap_setgid, setuid asks cap_setuid (ns_capable_setid); no capset.
    let Some(t) = captrace(&[
        "--json",
        "--",
        bin.to_str().unwrap(),
        "drop-privileges",
        "65534",
        "65534",
    ]) else {
        return;
    };
    assert_eq!(t.code, 0, "{}", t.explain());
    assert_eq!(
        t.set("needed"),
        ["cap_setgid", "cap_setuid"],
        "{}",
        t.explain()
    );
}

#[test]
fn an_unprivileged_bind_to_port_80_is_denied_not_needed() {
    let bin = test_caps();
    // setpriv drops to 65534 (and with it every capability, at the exec); the bind is then refused.
    let Some(t) = captrace_as_nobody(&["--json"], &[bin.to_str().unwrap(), "bind", "80"]) else {
        return;
    };
    assert_eq!(t.code, 1, "{}", t.explain());
    assert_eq!(t.summary["exit_status"], 1);
    assert_eq!(
        t.verdict("cap_net_bind_service"),
        Some("denied"),
        "{}",
        t.explain()
    );
    assert!(t
        .set("denied")
        .contains(&"cap_net_bind_service".to_string()));
    assert!(!t
        .set("needed")
        .contains(&"cap_net_bind_service".to_string()));
    let docker = t.summary["docker"].as_str().unwrap_or("");
    assert!(!docker.contains("NET_BIND_SERVICE"), "{docker}");
}

#[test]
fn a_mount_in_a_user_namespace_the_program_made_is_userns() {
    let bin = test_caps();
    // unshare_nsproxy_namespaces, proc_setgroups_open, map_write, path_mount and path_umount all ask
    // cap_sys_admin against the namespace the program made.
    let Some(t) = captrace(&["--json", "--", bin.to_str().unwrap(), "userns-mount"]) else {
        return;
    };
    assert_eq!(t.code, 0, "{}", t.explain());
    assert_eq!(
        t.verdict("cap_sys_admin"),
        Some("userns"),
        "{}",
        t.explain()
    );
    assert!(t.set("needed").is_empty(), "{}", t.explain());
}

#[test]
fn a_seccomp_filter_without_no_new_privs_is_no_probe() {
    let bin = test_caps();
    // do_seccomp asks ns_capable_noaudit(CAP_SYS_ADMIN) when no_new_privs is not set: a no-audit check
    // that decides whether the filter goes in.
    let Some(t) = captrace(&[
        "--json",
        "--user",
        "nobody",
        "--",
        bin.to_str().unwrap(),
        "seccomp",
    ]) else {
        return;
    };
    assert_eq!(t.code, 0, "{}", t.explain());
    assert_eq!(
        t.verdict("cap_sys_admin"),
        Some("needed"),
        "{}",
        t.explain()
    );

    // The same program holding nothing: refused, and shown as denied.
    let Some(t) = captrace_as_nobody(&["--json"], &[bin.to_str().unwrap(), "seccomp"]) else {
        return;
    };
    assert_eq!(t.code, 1, "{}", t.explain());
    assert_eq!(
        t.verdict("cap_sys_admin"),
        Some("denied"),
        "{}",
        t.explain()
    );
}

/// Every `pid` value anywhere in a JSON value.
fn pids_in(value: &Value, out: &mut Vec<u64>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "pid" {
                    if let Some(pid) = v.as_u64() {
                        out.push(pid);
                    }
                }
                pids_in(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| pids_in(v, out)),
        _ => {}
    }
}

#[test]
fn an_unrelated_process_is_not_attributed() {
    if captrace_ready().is_none() {
        return;
    }
    let bin = test_caps();
    // Outside captrace, a loop of cap_net_admin checks (sk_setsockopt, SO_PRIORITY 7) runs throughout.
    let mut busy = Reaped(
        Command::new(&bin)
            .args(["setsockopt-loop", "1000000000"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let busy_pid = busy.0.id();
    let has_socket = || {
        std::fs::read_dir(format!("/proc/{busy_pid}/fd"))
            .map(|fds| {
                fds.flatten().any(|fd| {
                    std::fs::read_link(fd.path())
                        .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
                })
            })
            .unwrap_or(false)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !has_socket() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(has_socket(), "the loop did not start");
    let Some(t) = captrace(&["--json", "--", bin.to_str().unwrap(), "mmap-only"]) else {
        return;
    };
    // Still looping: it ran for the whole trace.
    assert!(busy.0.try_wait().unwrap().is_none());
    assert_eq!(t.code, 0, "{}", t.explain());
    assert!(!t.caps.contains_key("cap_net_admin"), "{}", t.explain());
    assert!(t.set("needed").is_empty(), "{}", t.explain());
    let mut pids = Vec::new();
    for record in t.caps.values() {
        pids_in(record, &mut pids);
    }
    assert!(!pids.contains(&u64::from(busy_pid)), "{}", t.explain());
}

#[test]
fn the_exit_status_is_passed_through() {
    let bin = test_caps();
    let Some(t) = captrace(&["--json", "--", bin.to_str().unwrap(), "exit", "7"]) else {
        return;
    };
    assert_eq!(t.code, 7, "{}", t.explain());
    assert_eq!(t.summary["exit_status"], 7);
    let Some(t) = captrace(&["--", bin.to_str().unwrap(), "exit", "3"]) else {
        return;
    };
    assert_eq!(t.code, 3, "{}", t.explain());
}

#[test]
fn a_missing_command_is_an_error_and_runs_nothing() {
    let Some(t) = captrace(&["--", "capkit-no-such-command"]) else {
        return;
    };
    assert_eq!(t.code, 2, "{}", t.explain());
    assert!(
        t.stderr.contains("capkit-no-such-command"),
        "{}",
        t.explain()
    );
}

/// The cgroup directories named `captrace-<pid>-*`: at the cgroup2 root and in the cgroup `pid` is in.
fn leaves_of(pid: u32) -> Vec<PathBuf> {
    let Ok(root) = cgroup::cgroup2_root() else {
        return Vec::new();
    };
    let mut dirs = vec![root.clone()];
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    if let Some(path) = own.lines().find_map(|l| l.strip_prefix("0::")) {
        dirs.push(root.join(path.trim_start_matches('/')));
    }
    let prefix = format!("captrace-{pid}-");
    let mut found = Vec::new();
    for dir in dirs {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The BPF programs a process holds open (as a program or through a link), from its fdinfo.
fn bpf_programs_of(pid: u32) -> Vec<u64> {
    let mut ids = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(link) = std::fs::read_link(fd.path()) else {
            continue;
        };
        let link = link.to_string_lossy();
        if !link.contains("bpf-prog") && !link.contains("bpf_link") {
            continue;
        }
        let info = format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy());
        let text = std::fs::read_to_string(info).unwrap_or_default();
        ids.extend(
            text.lines()
                .filter_map(|l| l.strip_prefix("prog_id:"))
                .filter_map(|v| v.trim().parse::<u64>().ok()),
        );
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[test]
fn ctrl_c_leaves_no_program_and_no_cgroup() {
    let Some(captrace) = captrace_ready() else {
        return;
    };
    let bin = test_caps();
    let mut child = Reaped(
        Command::new(captrace)
            .args(["--json", "--", bin.to_str().unwrap(), "sleep", "60"])
            .env_remove("LD_LIBRARY_PATH")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    let out = reader(child.0.stdout.take());
    // Wait (at most 30 s) for COMMAND's `ready` on the shared stderr, where the report comes too.
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let err = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line == "ready" {
                let _ = tx.send(lines.clone());
            }
            lines.push(line);
        }
        let _ = tx.send(lines.clone());
        lines.join("\n")
    });
    let before = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
    if child.0.try_wait().unwrap().is_some() {
        let why = before.join(" ");
        if why.to_lowercase().contains("bpf") {
            skipped(&format!("captrace cannot trace here: {why}"));
            return;
        }
        panic!("captrace ended before COMMAND was ready: {why}");
    }
    let leaves = leaves_of(pid);
    assert_eq!(leaves.len(), 1, "captrace's leaf: {leaves:?}");
    let programs = bpf_programs_of(pid);
    assert!(!programs.is_empty(), "captrace holds no BPF program");

    // Ctrl-C at a terminal: SIGINT to the whole process group.
    rustix::process::kill_process_group(
        rustix::process::Pid::from_raw(pid as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let code = wait_bounded(&mut child.0, Duration::from_secs(30));
    let stdout = out.join().unwrap();
    let stderr = err.join().unwrap();
    assert_ne!(code, -1, "captrace did not end after SIGINT");
    assert!(leaves.iter().all(|l| !l.exists()), "{leaves:?} remain");
    assert!(leaves_of(pid).is_empty());
    let trace = parse(code, stdout, stderr);
    assert!(
        !trace.summary.is_null(),
        "no report after Ctrl-C: {}",
        trace.explain()
    );
    if let Some(bpftool) = crate::util::tool("bpftool") {
        // The kernel frees a program whose last holder is gone after an RCU grace period, a little after
        // the process exits: it must be gone within 10 s.
        let loaded = |id: u64| {
            Command::new(&bpftool)
                .args(["prog", "show", "id", &id.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        for id in programs {
            while loaded(id) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(!loaded(id), "BPF program {id} is still loaded");
        }
    }
}

#[test]
fn verify_passes_for_the_port_80_program_as_nobody() {
    let _turn = PORT_80.lock().unwrap_or_else(|e| e.into_inner());
    let bin = test_caps();
    let Some(t) = captrace(&[
        "--json",
        "--user",
        "nobody",
        "--verify",
        "--",
        bin.to_str().unwrap(),
        "bind",
        "80",
    ]) else {
        return;
    };
    if port_80_busy(&t) {
        return;
    }
    assert_eq!(t.code, 0, "{}", t.explain());
    assert_eq!(t.set("needed"), ["cap_net_bind_service"], "{}", t.explain());
    assert_eq!(t.summary["verify"]["passed"], true, "{}", t.explain());
    // A non-root user gets it through the ambient set.
    let systemd = t.summary["systemd"].as_str().unwrap_or("");
    assert!(systemd.contains("AmbientCapabilities="), "{systemd}");
}

/// A set-uid-root program run by a non-root user gains privilege at its exec (bprm->secureexec): the
/// recommendations must then leave out NoNewPrivileges= and --security-opt no-new-privileges, which would
/// stop it. Without such an exec, they keep them.
#[test]
fn an_exec_that_gains_privilege_rules_out_no_new_privileges() {
    if !crate::util::is_root() {
        skipped("making a set-uid-root file needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let suid = dir.path().join("suid-exit");
    std::fs::copy(test_caps(), &suid).expect("copy the test program");
    for (path, mode) in [(dir.path(), 0o755), (suid.as_path(), 0o4755)] {
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .expect("chmod");
    }
    let script = format!("{} exit 0", suid.display());
    let Some(t) = captrace(&["--json", "--user", "nobody", "--", "/bin/sh", "-c", &script]) else {
        return;
    };
    assert_eq!(t.code, 0, "{}", t.explain());
    let systemd = t.summary["systemd"].as_str().unwrap_or("");
    assert!(!systemd.contains("NoNewPrivileges"), "{}", t.explain());
    let docker = t.summary["docker"].as_str().unwrap_or("");
    assert!(!docker.contains("no-new-privileges"), "{}", t.explain());

    let plain = format!("{} exit 0", test_caps().display());
    let Some(t) = captrace(&["--json", "--user", "nobody", "--", "/bin/sh", "-c", &plain]) else {
        return;
    };
    let systemd = t.summary["systemd"].as_str().unwrap_or("");
    assert!(systemd.contains("NoNewPrivileges=yes"), "{}", t.explain());
}

/// A shell loop that chowns a file of its own every 50 ms (at most 400 times: 20 s): a running target
/// that keeps asking for cap_chown. Its children do the chown, so following descendants is what counts.
fn chown_loop(file: &Path) -> String {
    format!(
        "i=0; while [ $i -lt 400 ]; do {} chown {} 65534 65534 2>/dev/null; sleep 0.05; i=$((i+1)); done",
        test_caps().display(),
        file.display()
    )
}

/// The records of `--all`: one per aggregated check.
fn check_records(trace: &Trace) -> Vec<Value> {
    // The report of a COMMAND is on stderr, a running target's on stdout.
    trace
        .stdout
        .lines()
        .chain(trace.stderr.lines())
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|record| record["record"] == "check")
        .collect()
}

#[test]
fn a_running_pid_and_its_children_are_traced_for_a_duration() {
    require_root!();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("owned");
    std::fs::write(&file, b"").expect("file");
    let target = Reaped(
        Command::new("/bin/sh")
            .args(["-c", &chown_loop(&file)])
            .spawn()
            .expect("start the loop"),
    );
    let pid = target.0.id().to_string();
    let Some(t) = captrace(&["--json", "--checks", "--pid", &pid, "--duration", "1500ms"]) else {
        return;
    };
    drop(target);
    assert_eq!(t.code, 0, "{}", t.explain());
    assert_eq!(t.verdict("cap_chown"), Some("needed"), "{}", t.explain());
    assert!(t.summary["exit_status"].is_null(), "{}", t.explain());
    let checks = check_records(&t);
    assert!(
        checks
            .iter()
            .any(|c| c["cap"] == "cap_chown" && c["comm"] == "capkit-test-cap"),
        "{}",
        t.explain()
    );
}

#[test]
fn a_cgroup_a_container_and_a_unit_are_traced_by_their_cgroup() {
    require_root!();
    let Ok(root) = cgroup::cgroup2_root() else {
        skipped("no cgroup2 mount");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("owned");
    std::fs::write(&file, b"").expect("file");
    // A docker scope (systemd driver naming) of the test's own, holding a loop the test started.
    // Its first 16 hex digits (the prefix given to --container) are this test's own: the pid, then 7ace.
    let id = format!("{:0>12x}7ace{:0>48}", std::process::id(), 0);
    let scope = root.join(format!("docker-{id}.scope"));
    std::fs::create_dir(&scope).expect("make the scope");
    let launch = Launch {
        program: "/bin/sh".into(),
        args: vec!["sh".into(), "-c".into(), chown_loop(&file).into()],
        user: None,
        caps: None,
        cgroup_procs: scope.join("cgroup.procs"),
    };
    let target = Reaped(launch::spawn(&launch).expect("start the loop in the scope"));
    // And a cgroup named like a unit (where systemd does not know it, the cgroup tree is searched).
    let unit = format!("capkit-trace-{}", std::process::id());
    let unit_dir = root.join(format!("{unit}.service"));
    std::fs::create_dir(&unit_dir).expect("make the unit's cgroup");
    let in_unit = Reaped(
        launch::spawn(&Launch {
            cgroup_procs: unit_dir.join("cgroup.procs"),
            ..launch.clone()
        })
        .expect("start the loop in the unit"),
    );
    let relative = format!("/docker-{id}.scope");
    let by_cgroup = captrace(&["--json", "--cgroup", &relative, "--duration", "1s"]);
    let by_container = captrace(&["--json", "--container", &id[..16], "--duration", "1s"]);
    let by_unit = captrace(&["--json", "--unit", &unit, "--duration", "1s"]);
    drop((target, in_unit));
    let deadline = Instant::now() + Duration::from_secs(10);
    for dir in [&scope, &unit_dir] {
        while std::fs::remove_dir(dir).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    for t in [by_cgroup, by_container, by_unit].into_iter().flatten() {
        assert_eq!(t.code, 0, "{}", t.explain());
        assert_eq!(t.verdict("cap_chown"), Some("needed"), "{}", t.explain());
    }
}

/// A real container of the Docker daemon .ci/runtimes starts, found by a prefix of its id through its
/// cgroup (dockerd's cgroupfs driver: `/docker/<id>`), its root process chowning a file in a bounded loop.
#[test]
fn a_real_docker_container_is_traced_by_its_id() {
    use crate::capsim_docker::{docker, docker_host, Image};
    require_root!();
    let host = match docker_host() {
        Ok(host) => host,
        Err(why) => return skipped(&why),
    };
    if !Path::new("/bin/busybox").exists() {
        return skipped("needs busybox-static (apt-get install busybox-static)");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(root.join("bin")).expect("rootfs");
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox");
    for applet in ["sh", "chown", "sleep"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("applet");
    }
    std::fs::write(root.join("owned"), b"").expect("file");
    let image = Image::import(&host, &root, "captrace", None).expect("import");
    let started = docker(&host)
        .args(["run", "-d", "--network", "none", &image.name, "/bin/sh", "-c"])
        .arg("i=0; while [ $i -lt 600 ]; do chown 1:1 /owned; chown 0:0 /owned; sleep 0.05; i=$((i+1)); done")
        .output()
        .expect("docker run");
    let id = String::from_utf8_lossy(&started.stdout).trim().to_string();
    assert!(
        started.status.success() && id.len() == 64,
        "docker run -d: {}",
        String::from_utf8_lossy(&started.stderr)
    );
    let trace = captrace(&["--json", "--container", &id[..12], "--duration", "2s"]);
    let removed = docker(&host).args(["rm", "-f", &id]).output();
    assert!(
        removed.is_ok_and(|out| out.status.success()),
        "docker rm -f {id}"
    );
    let Some(t) = trace else { return };
    assert_eq!(t.code, 0, "{}", t.explain());
    assert_eq!(t.verdict("cap_chown"), Some("needed"), "{}", t.explain());
}

/// With room for only two per-process keys, a tree of processes still gets every check counted: what no
/// longer fits is counted without its process (pid 0), so the verdicts do not depend on which processes
/// came first, and nothing is dropped. The counts equal those of a run with the default room.
#[test]
fn checks_past_a_full_map_are_counted_without_their_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("owned");
    std::fs::write(&file, b"").expect("file");
    let bin = test_caps();
    let script = format!(
        "for i in 1 2 3 4 5 6 7 8; do {bin} chown {file} 65534 65534; {bin} chown {file} 0 0; done",
        bin = bin.display(),
        file = file.display()
    );
    let Some(bin) = captrace_bin() else {
        skipped("captrace is not built");
        return;
    };
    let run = |keys: Option<&str>| {
        let mut cmd = Command::new(&bin);
        cmd.args(["--json", "--checks", "--", "/bin/sh", "-c", &script])
            .stdin(Stdio::null());
        if let Some(keys) = keys {
            cmd.env("CAPTRACE_MAP_KEYS", keys);
        }
        without_cargo_library_path(&mut cmd);
        run_bounded(&mut cmd, Duration::from_secs(120))
    };
    let roomy = run(None);
    if roomy.code == 2 && roomy.summary.is_null() {
        skipped(&format!(
            "captrace cannot trace here: {}",
            roomy.stderr.trim()
        ));
        return;
    }
    let tight = run(Some("2"));
    let chowns = |t: &Trace| -> u64 {
        check_records(t)
            .iter()
            .filter(|c| c["cap"] == "cap_chown")
            .map(|c| c["count"].as_u64().unwrap_or(0))
            .sum()
    };
    for t in [&roomy, &tight] {
        assert_eq!(t.code, 0, "{}", t.explain());
        assert_eq!(t.verdict("cap_chown"), Some("needed"), "{}", t.explain());
        assert_eq!(t.summary["dropped"], 0, "{}", t.explain());
    }
    assert!(chowns(&roomy) >= 16, "{}", roomy.explain());
    assert_eq!(chowns(&tight), chowns(&roomy), "{}", tight.explain());
    assert!(
        check_records(&tight).iter().any(|c| c["pid"] == 0),
        "{}",
        tight.explain()
    );
    assert!(
        check_records(&roomy).iter().all(|c| c["pid"] != 0),
        "{}",
        roomy.explain()
    );
}

// ---------------------------------------------------------------------------------------------------
// Where the report goes, and what a SIGKILL leaves (issue 20)

/// The JSON records of a text, one a line; `None` when a line is not one.
fn records_of(text: &str) -> Option<Vec<Value>> {
    text.lines()
        .map(|line| serde_json::from_str::<Value>(line).ok())
        .collect()
}

#[test]
fn the_report_never_shares_command_output() {
    // `captrace --json -- cmd | jq`: cmd's stdout is the user's, the report goes apart from it.
    let Some(t) = captrace(&["--json", "--", "sh", "-c", "echo from-command"]) else {
        return;
    };
    assert_eq!(t.code, 0, "{}", t.explain());
    assert_eq!(t.stdout, "from-command\n", "{}", t.explain());
    assert_eq!(t.summary["record"], "summary", "{}", t.explain());

    // -o FILE: the report there alone, cmd's output where it was.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.ndjson");
    let script = "echo from-command; echo to-stderr >&2";
    let Some(t) = captrace(&[
        "--json",
        "-o",
        file.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        script,
    ]) else {
        return;
    };
    assert_eq!(t.code, 0, "{}", t.explain());
    assert_eq!(t.stdout, "from-command\n", "{}", t.explain());
    assert_eq!(t.stderr, "to-stderr\n", "{}", t.explain());
    let text = std::fs::read_to_string(&file).unwrap();
    let records = records_of(&text).unwrap_or_else(|| panic!("not NDJSON:\n{text}"));
    assert_eq!(
        records.last().map(|r| r["record"].clone()),
        Some(Value::from("summary")),
        "{text}"
    );

    // An -o FILE that cannot be made stops captrace before COMMAND runs.
    let marker = dir.path().join("ran");
    let touch = format!("touch {}", marker.display());
    let Some(t) = captrace(&["-o", "/nonexistent/dir/report", "--", "sh", "-c", &touch]) else {
        return;
    };
    assert_eq!(t.code, 2, "{}", t.explain());
    assert!(
        t.stderr.contains("/nonexistent/dir/report"),
        "{}",
        t.explain()
    );
    assert!(!marker.exists(), "COMMAND ran");
}

#[test]
fn a_closed_report_pipe_keeps_command_status() {
    // The reader of the report went away (`captrace … | head -0`): COMMAND's status still comes back.
    let Some(bin) = captrace_ready() else {
        return;
    };
    if captrace(&["--json", "--", "true"]).is_none() {
        return;
    }
    let mut child = Command::new(bin)
        .args(["--json", "--", "sh", "-c", "exit 7"])
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    let code = wait_bounded(&mut child, Duration::from_secs(120));
    assert_eq!(code, 7);
}

/// Whether `pid` is still the `sleep` a test started, alive (gone, a zombie, or another program: no).
fn still_sleeping(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    stat.contains("(sleep)") && !matches!(state, None | Some('Z' | 'X'))
}

/// Kills the pids left in it when dropped, also when an assertion fails.
struct KillOnDrop(Vec<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for &pid in &self.0 {
            if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                if still_sleeping(pid.as_raw_nonzero().get() as u32) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
    }
}

#[test]
fn sigkill_takes_command_its_children_and_its_leaf() {
    let Some(bin) = captrace_ready() else {
        return;
    };
    if captrace(&["--json", "--", "true"]).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // COMMAND leaves a child behind that setsid-s away, then becomes a sleep itself.
    let script = format!(
        "setsid sleep 60 & echo \"$! $$\" > {p}.new && mv {p}.new {p}; exec sleep 60",
        p = pids.display()
    );
    let mut child = Reaped(
        Command::new(bin)
            .args(["--", "sh", "-c", &script])
            .env_remove("LD_LIBRARY_PATH")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let captrace_pid = child.0.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pids.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&pids).expect("COMMAND wrote its pids");
    let started: Vec<u32> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let _cleanup = KillOnDrop(started.clone());
    assert_eq!(started.len(), 2, "{text}");
    assert!(wait_for_comm(started[1], "sleep"));
    let leaves = leaves_of(captrace_pid);
    assert_eq!(leaves.len(), 1, "captrace's leaf: {leaves:?}");

    child.0.kill().unwrap();
    let _ = child.0.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    let gone = || started.iter().all(|&p| !still_sleeping(p)) && leaves.iter().all(|l| !l.exists());
    while !gone() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left: Vec<u32> = started
        .iter()
        .copied()
        .filter(|&p| still_sleeping(p))
        .collect();
    assert!(
        left.is_empty(),
        "after SIGKILL of captrace, still running: {left:?}"
    );
    assert!(leaves.iter().all(|l| !l.exists()), "{leaves:?} remain");
}

/// The capability record's sources and folded rows add up to its totals.
/// The summary's advice on one form (`docker`, `kubernetes`, `systemd`, `setcap`).
fn advice_of<'v>(summary: &'v Value, form: &str) -> &'v Value {
    summary["advice"]
        .as_array()
        .and_then(|words| words.iter().find(|w| w["form"] == form))
        .unwrap_or(&Value::Null)
}

fn accounted(record: &Value, key: &str) -> (u64, u64) {
    let listed: u64 = record["sources"]
        .as_array()
        .map(|sources| sources.iter().filter_map(|s| s[key].as_u64()).sum())
        .unwrap_or(0);
    let folded = record["folded"][key].as_u64().unwrap_or(0);
    (listed + folded, record[key].as_u64().unwrap_or(u64::MAX))
}

#[test]
fn every_check_is_accounted_for_under_the_program_that_made_it() {
    // 40 chroots at once: each asks cap_sys_chroot, then execs `true`, whose exec makes checks of its own.
    let Some(chroot) = crate::util::tool("chroot") else {
        skipped("no chroot");
        return;
    };
    let script = format!(
        "i=0; while [ $i -lt 40 ]; do {} / true & i=$((i + 1)); done; wait",
        chroot.display()
    );
    let Some(t) = captrace(&["--json", "--", "sh", "-c", &script]) else {
        return;
    };
    assert_eq!(t.code, 0, "{}", t.explain());
    let record = &t.caps["cap_sys_chroot"];
    for key in ["granted_checks", "denied_checks"] {
        let (sum, total) = accounted(record, key);
        assert_eq!(sum, total, "{key}: {record}");
    }
    assert_eq!(record["granted_checks"], 40, "{record}");
    assert_eq!(record["folded"]["pids"], 40 - 16, "{record}");
    // Every check was made by chroot, before its exec: none is listed under `true`.
    for source in record["sources"].as_array().unwrap() {
        assert_eq!(source["comm"], "chroot", "{record}");
    }
}

/// Makes about `$1` user namespaces as an unprivileged user, nested up to 30 deep in each child, and in
/// each asks four different checks against it (unshare of a UTS namespace, sethostname, setdomainname,
/// chroot): each a key of its own in the kernel maps. The children stay until the end, so that no
/// namespace is freed and its inode number reused.
const USERNS_FLOOD: &str = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
made, want = 0, int(sys.argv[1])
hold_r, hold_w = os.pipe()
children = []
while made < want:
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(hold_w)
        n, errno = 0, 0
        for _ in range(30):
            if libc.unshare(0x10000000) != 0 or libc.unshare(0x04000000) != 0:
                errno = ctypes.get_errno()
                break
            libc.sethostname(b"x", 1)
            libc.setdomainname(b"x", 1)
            libc.chroot(b"/")
            n += 1
        os.write(done_w, bytes([n, min(errno, 255)]))
        os.read(hold_r, 1)
        os._exit(0)
    children.append(pid)
    os.close(done_w)
    n, errno = os.read(done_r, 2)
    os.close(done_r)
    if n == 0:
        sys.exit(f"no user namespace could be made: {os.strerror(errno)}")
    made += n
os.close(hold_w)
for pid in children:
    os.waitpid(pid, 0)
"#;

/// The first python3 on PATH that uid 65534 can run: root's own (a pyenv shim under /root, say) may be
/// out of its reach.
fn python_for_nobody() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("python3"))
        .filter(|candidate| candidate.is_file())
        .find(|candidate| {
            Command::new("setpriv")
                .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
                .arg(candidate)
                .args(["-c", ""])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

#[test]
fn a_flood_of_namespaces_never_hides_a_need() {
    // An unprivileged child fills every kernel map with its user namespaces' checks; then the root part
    // makes a real chown (the owner only: one check). Its need must stay in the verdict and the
    // recommendation.
    let Some(python) = python_for_nobody() else {
        skipped("no python3 on PATH that uid 65534 may run");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("owned");
    std::fs::write(&file, b"").expect("file");
    let flood = dir.path().join("flood.py");
    std::fs::write(&flood, USERNS_FLOOD).expect("script");
    // The unprivileged user reads the script from the test's own directory.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let script = format!(
        "setpriv --reuid 65534 --regid 65534 --clear-groups {python} {flood} 1200 || exit 3; \
         chown 65534 {file}",
        python = python.display(),
        flood = flood.display(),
        file = file.display()
    );
    let Some(bin) = captrace_ready() else {
        return;
    };
    let mut cmd = Command::new(bin);
    cmd.args(["--json", "--", "/bin/sh", "-c", &script])
        .env("CAPTRACE_MAP_KEYS", "64")
        .stdin(Stdio::null());
    without_cargo_library_path(&mut cmd);
    // A refusal to make the first namespace may pass (other tests' namespaces of the same user come and
    // go): asked three times before it is a skip, which names the kernel's reason.
    let mut t = run_bounded(&mut cmd, Duration::from_secs(120));
    for _ in 0..2 {
        if t.code != 3 {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
        t = run_bounded(&mut cmd, Duration::from_secs(120));
    }
    if t.code == 2 && t.summary.is_null() {
        skipped(&format!("captrace cannot trace here: {}", t.stderr.trim()));
        return;
    }
    if t.code == 3 {
        let why = t
            .stderr
            .lines()
            .find(|l| l.contains("no user namespace could be made"))
            .unwrap_or("the flood did not start");
        skipped(&format!(
            "an unprivileged user cannot make user namespaces here ({why})"
        ));
        return;
    }
    assert_eq!(t.code, 0, "{}", t.explain());
    assert_eq!(t.verdict("cap_chown"), Some("needed"), "{}", t.summary);
    assert!(
        t.set("needed").contains(&"cap_chown".to_string()),
        "{}",
        t.summary
    );
    let docker = t.summary["docker"].as_str().unwrap_or("");
    assert!(docker.contains("--cap-add=CHOWN"), "{docker}");
    // The flood did fill the maps: some rows were lost, and the summary says so.
    assert!(
        t.summary["dropped"].as_u64().unwrap_or(0) > 0,
        "{}",
        t.summary
    );
    assert!(
        t.summary["unattributed"].as_u64().unwrap_or(0) > 0,
        "{}",
        t.summary
    );
    // The totals are exact: every one of the user namespaces' cap_sys_chroot checks is counted.
    let chroot = &t.caps["cap_sys_chroot"];
    assert!(
        chroot["granted_checks"].as_u64().unwrap_or(0) >= 1200,
        "{chroot}"
    );
    for key in ["granted_checks", "denied_checks"] {
        let (sum, total) = accounted(chroot, key);
        assert_eq!(sum, total, "{key}: {chroot}");
    }
}

#[test]
fn a_path_search_the_program_went_past_is_no_need() {
    // unshare, run as nobody with every capability ambient, execs hostname through PATH: its first
    // directory is one nobody cannot search, so the lookup there asks cap_dac_read_search, is granted,
    // finds nothing, and execvp goes on. Without the capability it would have gone on just the same: the
    // trace alone says so (the execve failed and the next one succeeded), and --minimize has nothing to
    // remove. When the file is found in that directory, the same check is a need.
    let Some(bin) = captrace_ready() else {
        return;
    };
    if captrace(&["--json", "--", "true"]).is_none() {
        return;
    }
    let (Some(_), Some(_)) = (crate::util::tool("unshare"), crate::util::tool("hostname")) else {
        skipped("no unshare or hostname");
        return;
    };
    let closed = tempfile::tempdir().expect("tempdir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(closed.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", closed.path().display());
    let mut cmd = Command::new(bin);
    cmd.args(["--json", "--minimize", "--user", "nobody", "--"])
        .args(["unshare", "-u", "hostname", "captrace-test"])
        .env("PATH", &path)
        .stdin(Stdio::null());
    without_cargo_library_path(&mut cmd);
    let t = run_bounded(&mut cmd, Duration::from_secs(300));
    assert_eq!(t.code, 0, "{}", t.explain());
    assert_eq!(
        t.verdict("cap_dac_read_search"),
        Some("probe"),
        "{}",
        t.explain()
    );
    assert_eq!(t.set("needed"), ["cap_sys_admin"], "{}", t.explain());
    let minimize = &t.summary["minimize"];
    assert_eq!(
        minimize["removed"]["caps"],
        serde_json::json!([]),
        "{minimize}"
    );
    assert_eq!(
        minimize["kept"]["caps"],
        serde_json::json!(["cap_sys_admin"]),
        "{minimize}"
    );
    let trials = minimize["trials"].as_array().expect("trials");
    let sys_admin = trials
        .iter()
        .find(|t| t["cap"] == "cap_sys_admin")
        .expect("a trial");
    assert_eq!(sys_admin["outcome"], "kept", "{minimize}");
    assert_eq!(sys_admin["exit"]["exit_status"], 1, "{minimize}");
    let docker = t.summary["docker"].as_str().unwrap_or("");
    assert!(!docker.contains("DAC_READ_SEARCH"), "{docker}");
    assert!(docker.contains("SYS_ADMIN") || advice_of(&t.summary, "docker")["instead"].is_string());
    // Both unshare and hostname asked for cap_sys_admin: each file gets its own setcap line, in the setcap
    // form and under the runtime forms that need file capabilities.
    let setcap = t.summary["setcap"].as_str().unwrap_or("");
    assert!(
        setcap.contains("/unshare'") && setcap.contains("/hostname'"),
        "{setcap}"
    );
    let instead = advice_of(&t.summary, "docker")["instead"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        instead.contains("/unshare'") && instead.contains("/hostname'"),
        "{instead}"
    );

    // hostname found in the closed directory: the lookup that reached it needed the capability.
    let hostname = crate::util::tool("hostname").expect("hostname");
    std::fs::copy(&hostname, closed.path().join("hostname")).expect("copy hostname");
    let mut cmd = Command::new(captrace_bin().expect("captrace"));
    cmd.args(["--json", "--user", "nobody", "--"])
        .args(["unshare", "-u", "hostname", "captrace-test"])
        .env("PATH", &path)
        .stdin(Stdio::null());
    without_cargo_library_path(&mut cmd);
    let t = run_bounded(&mut cmd, Duration::from_secs(120));
    assert_eq!(t.code, 0, "{}", t.explain());
    assert_eq!(
        t.verdict("cap_dac_read_search"),
        Some("needed"),
        "{}",
        t.explain()
    );
}

/// A shell's PATH search stats each directory's NAME before it execs the one it found: the stat through a
/// directory nobody cannot search asks cap_dac_read_search, finds nothing, and the shell goes on. That is
/// no need, for dash (which execs itself) and bash (whose child execs). A stat of a file that is there,
/// with no file of that name exec'd, still needs the capability.
#[test]
fn a_shells_path_search_is_no_need() {
    if captrace_ready().is_none() || captrace(&["--json", "--", "true"]).is_none() {
        return;
    }
    let tools = ["sh", "bash", "unshare", "hostname"].map(crate::util::tool);
    if tools.iter().any(Option::is_none) {
        skipped("no sh, bash, unshare or hostname");
        return;
    }
    let closed = tempfile::tempdir().expect("tempdir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(closed.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::fs::write(closed.path().join("present"), b"").expect("a file");
    let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", closed.path().display());
    let trace = |script: &str| {
        let mut cmd = Command::new(captrace_bin().expect("captrace"));
        cmd.args(["--json", "--user", "nobody", "--", "sh", "-c", script])
            .env("PATH", &path)
            .stdin(Stdio::null());
        without_cargo_library_path(&mut cmd);
        run_bounded(&mut cmd, Duration::from_secs(120))
    };
    for script in [
        "unshare -u hostname captrace-test",
        "bash -c 'unshare -u hostname captrace-test; true'",
    ] {
        let t = trace(script);
        assert_eq!(t.code, 0, "{script}: {}", t.explain());
        assert_eq!(
            t.verdict("cap_dac_read_search"),
            Some("probe"),
            "{script}: {}",
            t.explain()
        );
        assert_eq!(
            t.set("needed"),
            ["cap_sys_admin"],
            "{script}: {}",
            t.explain()
        );
    }
    let present = format!("test -e {}/present", closed.path().display());
    let t = trace(&present);
    assert_eq!(t.code, 0, "{}", t.explain());
    assert_eq!(
        t.verdict("cap_dac_read_search"),
        Some("needed"),
        "{}",
        t.explain()
    );
}

/// Two capabilities the program tries and does without (as Debian's tcpdump tries setgid and setuid):
/// --minimize removes the first, then the second, the second trial's refusals of the first being expected.
/// A COMMAND that fails even with everything gets a note that the removals say little.
#[test]
fn minimize_removes_capabilities_one_after_another() {
    let Some(bin) = captrace_ready() else {
        return;
    };
    let Some(setpriv) = crate::util::tool("setpriv") else {
        skipped("no setpriv (util-linux)");
        return;
    };
    let script = format!(
        "{s} --regid 65534 --clear-groups true 2>/dev/null; {s} --reuid 65534 true 2>/dev/null; exit 0",
        s = setpriv.display()
    );
    let mut cmd = Command::new(&bin);
    cmd.args(["--json", "--minimize", "--", "/bin/sh", "-c", &script])
        .stdin(Stdio::null());
    without_cargo_library_path(&mut cmd);
    let t = run_bounded(&mut cmd, Duration::from_secs(300));
    assert_eq!(t.code, 0, "{}", t.explain());
    let minimize = &t.summary["minimize"];
    let removed = minimize["removed"]["caps"].to_string();
    assert!(
        removed.contains("cap_setgid") && removed.contains("cap_setuid"),
        "{minimize}"
    );
    assert!(
        !t.stderr.contains("COMMAND failed even with"),
        "{}",
        t.stderr
    );
    let mut cmd = Command::new(&bin);
    cmd.args(["--json", "--minimize", "--", "/bin/sh", "-c"])
        .arg(script.replace("exit 0", "exit 3"))
        .stdin(Stdio::null());
    without_cargo_library_path(&mut cmd);
    let t = run_bounded(&mut cmd, Duration::from_secs(300));
    assert_eq!(t.code, 3, "{}", t.explain());
    assert!(
        t.stderr.contains("COMMAND failed even with"),
        "{}",
        t.stderr
    );
}

#[test]
fn file_advice_names_the_file_that_asked() {
    require_root!();
    // COMMAND is a shell; the program it runs asks cap_chown. The setcap line, and the docker and
    // Kubernetes forms that need one, must name that program, not the shell.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("owned");
    std::fs::write(&file, b"").expect("file");
    let bin = test_caps();
    let script = format!("{} chown {} 0 0", bin.display(), file.display());
    rustix::fs::chown(&file, Some(rustix::fs::Uid::from_raw(65534)), None).expect("chown");
    let Some(t) = captrace(&["--json", "--user", "nobody", "--", "sh", "-c", &script]) else {
        return;
    };
    assert_eq!(t.code, 0, "{}", t.explain());
    assert_eq!(t.verdict("cap_chown"), Some("needed"), "{}", t.explain());
    let name = bin.display().to_string();
    let setcap = t.summary["setcap"].as_str().unwrap_or("");
    assert!(
        setcap.starts_with(&format!("setcap cap_chown=ep '{name}'")),
        "{setcap}"
    );
    for form in ["docker", "kubernetes"] {
        let instead = advice_of(&t.summary, form)["instead"]
            .as_str()
            .unwrap_or("");
        assert!(
            instead.contains(&name) && !instead.contains("/sh'"),
            "{form}: {instead}"
        );
    }
    let files = t.summary["files"].as_array().expect("files");
    assert_eq!(files.len(), 1, "{}", t.summary);
    assert_eq!(files[0]["path"], name.as_str());
    assert_eq!(files[0]["needed"]["caps"], serde_json::json!(["cap_chown"]));
}

#[test]
fn file_advice_on_a_shell_says_so() {
    // The shell itself asks (its builtin kill, to a process of another user): the setcap line would go
    // on the shell, and the report says what that means.
    let Some(t) = captrace(&["--json", "--user", "nobody", "--", "sh", "-c", "kill -0 1"]) else {
        return;
    };
    assert_eq!(t.code, 0, "{}", t.explain());
    assert_eq!(t.verdict("cap_kill"), Some("needed"), "{}", t.explain());
    let files = t.summary["files"].as_array().expect("files");
    assert_eq!(files.len(), 1, "{}", t.summary);
    let note = files[0]["note"].as_str().unwrap_or("");
    assert!(note.contains("shell or an interpreter"), "{}", t.summary);
}
