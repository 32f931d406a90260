//! capnet against real sockets: listeners, raw and packet sockets, a socket shared by two processes, and a
//! listener in a network namespace of its own, each opened by `capkit-test-sockets` in a chosen
//! capability state; and, where netcap is installed, everything netcap prints.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::skip_unless;
use crate::util::{bin, is_root, run, run_cmd, tool, Run};

/// A running `capkit-test-sockets` (and the child it forked); dropping it kills both.
struct Holder {
    child: Child,
    pid: u32,
    forked: Option<u32>,
    ports: Vec<u16>,
}

impl Holder {
    /// Spawns the holder and waits (at most 10 s) for its `ready` line; `None` if an action failed.
    fn try_spawn(args: &[&str]) -> Option<Holder> {
        let mut child = Command::new(crate::util::helper("capkit-test-sockets"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn capkit-test-sockets");
        let line = crate::util::first_line(&mut child);
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() != Some(&"ready") {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        let numbers: Vec<u32> = words[1..].iter().filter_map(|w| w.parse().ok()).collect();
        let forked = args
            .contains(&"--fork")
            .then(|| numbers.get(1).copied())
            .flatten();
        let ports_from = if forked.is_some() { 2 } else { 1 };
        Some(Holder {
            pid: numbers.first().copied().unwrap_or(0),
            forked,
            ports: numbers.iter().skip(ports_from).map(|p| *p as u16).collect(),
            child,
        })
    }

    fn spawn(args: &[&str]) -> Holder {
        Holder::try_spawn(args).unwrap_or_else(|| panic!("capkit-test-sockets {args:?} failed"))
    }

    /// A holder whose first action binds a privileged port: tries ports from 900 until one is free.
    fn spawn_on_free_low_port(proto: &str, rest: &[&str]) -> Holder {
        for port in 900..960 {
            let addr = format!("127.0.0.1:{port}");
            let mut args = vec![proto, addr.as_str()];
            args.extend_from_slice(rest);
            if let Some(holder) = Holder::try_spawn(&args) {
                return holder;
            }
        }
        panic!("no free port between 900 and 960");
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        if let Some(pid) = self.forked {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn capnet_json(args: &[&str]) -> Vec<Value> {
    capnet_json_exit(args, 0)
}

/// `capnet --json ARGS`, which must exit with `code`.
fn capnet_json_exit(args: &[&str], code: i32) -> Vec<Value> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = run("capnet", &all, None);
    assert_eq!(out.code, code, "capnet {args:?}: {}", out.stderr);
    out.json_lines()
}

fn names(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_else(|| panic!("not an array of names: {value}"))
}

/// The names of a capability set in its one JSON form, `{"hex": "<16 digits>", "caps": [...]}`, checking
/// that the hex and the names agree.
fn set_names(value: &Value) -> Vec<&str> {
    let hex = value["hex"]
        .as_str()
        .unwrap_or_else(|| panic!("not a {{hex, caps}} set: {value}"));
    assert_eq!(hex.len(), 16, "{value}");
    let bits = u64::from_str_radix(hex, 16).expect("hex digits");
    let caps = names(&value["caps"]);
    assert_eq!(bits.count_ones() as usize, caps.len(), "{value}");
    caps
}

#[test]
fn privileged_listener_with_only_bind_service() {
    skip_unless!(
        is_root(),
        "binding a port below 1024 and setting capabilities needs root"
    );
    let holder = Holder::spawn_on_free_low_port("--tcp", &["--caps", "cap_net_bind_service"]);
    let port = holder.ports[0];
    let records = capnet_json(&["--pid", &holder.pid.to_string()]);
    let listener = records
        .iter()
        .find(|r| r["proto"] == "tcp" && r["local"] == format!("127.0.0.1:{port}"))
        .unwrap_or_else(|| panic!("listener on {port} not found in {records:?}"));
    assert_eq!(listener["state"], "LISTEN");
    assert_eq!(
        set_names(&listener["socket_needs"]),
        ["cap_net_bind_service"]
    );
    assert_eq!(set_names(&listener["needs"]), ["cap_net_bind_service"]);
    assert!(set_names(&listener["unneeded"]).is_empty());
    assert_eq!(
        names(&listener["permitted"]["caps"]),
        ["cap_net_bind_service"]
    );
    assert_eq!(listener["netns"]["is_host"], true);
    let human = run("capnet", &["--pid", &holder.pid.to_string()], None);
    let row = human
        .stdout
        .lines()
        .find(|l| l.contains(&format!("127.0.0.1:{port}")))
        .unwrap_or_else(|| panic!("{}", human.stdout));
    let words: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        words,
        [
            holder.pid.to_string().as_str(),
            "tcp",
            "LISTEN",
            &format!("127.0.0.1:{port}"),
            "-",
            "net_bind_service"
        ],
        "{row}"
    );
}

#[test]
fn raw_packet_and_udp_sockets() {
    skip_unless!(is_root(), "raw and packet sockets need root");
    let holder = Holder::spawn(&[
        "--raw-icmp",
        "--packet",
        "--udp",
        "127.0.0.1:0",
        "--caps",
        "cap_net_raw",
    ]);
    let records = capnet_json(&["--pid", &holder.pid.to_string()]);
    let find = |proto: &str| {
        records
            .iter()
            .find(|r| r["proto"] == proto)
            .unwrap_or_else(|| panic!("no {proto} socket in {records:?}"))
    };
    let raw = find("raw");
    assert_eq!(raw["remote"], "icmp");
    assert_eq!(set_names(&raw["socket_needs"]), ["cap_net_raw"]);
    let packet = find("packet");
    assert_eq!(set_names(&packet["socket_needs"]), ["cap_net_raw"]);
    assert_eq!(packet["remote"], "any interface");
    let udp = find("udp");
    assert_eq!(udp["local"], format!("127.0.0.1:{}", holder.ports[0]));
    assert!(set_names(&udp["socket_needs"]).is_empty());
    assert_eq!(set_names(&raw["needs"]), ["cap_net_raw"]);
    assert!(set_names(&raw["unneeded"]).is_empty());
    let only_udp = capnet_json(&["--pid", &holder.pid.to_string(), "--proto", "udp"]);
    assert!(only_udp.iter().all(|r| r["proto"] == "udp") && !only_udp.is_empty());
    let listening = capnet_json(&[
        "--pid",
        &holder.pid.to_string(),
        "--listening",
        "--proto",
        "raw",
    ]);
    assert_eq!(listening.len(), 1);
}

#[test]
fn a_shared_socket_is_listed_under_every_owner() {
    skip_unless!(is_root(), "setting capabilities needs root");
    let holder = Holder::spawn(&[
        "--tcp",
        "127.0.0.1:0",
        "--caps",
        "cap_net_bind_service",
        "--fork",
    ]);
    let forked = holder.forked.expect("the holder forked");
    let port = holder.ports[0];
    let pids = format!("{},{forked}", holder.pid);
    let records = capnet_json(&["--pid", &pids, "--port", &port.to_string()]);
    let owners: Vec<u64> = records.iter().filter_map(|r| r["pid"].as_u64()).collect();
    assert_eq!(
        owners,
        [u64::from(holder.pid), u64::from(forked)],
        "{records:?}"
    );
    assert_eq!(records[0]["inode"], records[1]["inode"]);
}

#[test]
fn a_listener_in_another_network_namespace() {
    skip_unless!(is_root(), "a network namespace needs CAP_SYS_ADMIN");
    let holder = Holder::spawn(&[
        "--unshare-net",
        "--port-start",
        "80",
        "--tcp",
        "0.0.0.0:443",
        "--tcp",
        "0.0.0.0:70",
        "--caps",
        "cap_net_admin",
    ]);
    let records = capnet_json(&["--pid", &holder.pid.to_string()]);
    assert_eq!(records.len(), 2, "{records:?}");
    for record in &records {
        assert_eq!(record["netns"]["is_host"], false);
        assert_eq!(record["netns"]["unprivileged_port_start"], 80);
    }
    let https = records
        .iter()
        .find(|r| r["local"] == "0.0.0.0:443")
        .expect("443 listener");
    assert!(
        set_names(&https["socket_needs"]).is_empty(),
        "443 is above the namespace's port start"
    );
    let low = records
        .iter()
        .find(|r| r["local"] == "0.0.0.0:70")
        .expect("70 listener");
    assert_eq!(set_names(&low["socket_needs"]), ["cap_net_bind_service"]);
    assert_eq!(set_names(&low["unneeded"]), ["cap_net_admin"]);
    let human = run("capnet", &["--pid", &holder.pid.to_string()], None);
    let inode = records[0]["netns"]["inode"].as_u64().expect("netns inode");
    assert!(
        human.stdout.contains(&format!("{inode}*")),
        "{}",
        human.stdout
    );
    // The whole-system listing finds it too.
    let everything = capnet_json(&[]);
    assert!(everything
        .iter()
        .any(|r| r["pid"] == holder.pid && r["local"] == "0.0.0.0:443"));
}

#[test]
fn unneeded_lists_a_process_with_net_admin_and_no_socket() {
    skip_unless!(is_root(), "setting capabilities needs root");
    let holder = Holder::spawn(&["--caps", "cap_net_admin,cap_chown"]);
    let records = capnet_json_exit(&["--unneeded"], 1);
    let record = records
        .iter()
        .find(|r| r["pid"] == holder.pid)
        .unwrap_or_else(|| panic!("pid {} not listed by --unneeded", holder.pid));
    assert!(record["proto"].is_null());
    assert_eq!(set_names(&record["unneeded"]), ["cap_net_admin"]);
    let human = run(
        "capnet",
        &["--unneeded", "--pid", &holder.pid.to_string()],
        None,
    );
    assert_eq!(
        human.code, 1,
        "--unneeded listed a process: {}",
        human.stderr
    );
    assert!(
        human.stdout.contains("unneeded: net_admin"),
        "{}",
        human.stdout
    );
    // Without --unneeded a process with no socket is not a row.
    let default = capnet_json(&["--pid", &holder.pid.to_string()]);
    assert!(default.is_empty(), "{default:?}");
}

#[test]
fn what_netcap_prints_of_our_sockets_is_in_capnet() {
    skip_unless!(is_root(), "opening sockets with capabilities needs root");
    let Some(netcap) = tool("netcap") else {
        crate::util::skipped("netcap is not installed (apt-get install libcap-ng-utils)");
        return;
    };
    let holder = Holder::spawn(&["--raw-icmp", "--udp", "127.0.0.1:0", "--tcp", "127.0.0.1:0"]);
    let pid = holder.pid.to_string();
    // netcap reads /proc/net's tables in small pieces, each restarting by position, so a row of ours
    // is skipped when another socket of the namespace closes between two pieces (other tests' holders
    // exit all the time): netcap is asked again, a bounded number of times, until it shows all three.
    let (mut theirs, mut text) = (Vec::new(), String::new());
    for _ in 0..20 {
        let netcap_out = Command::new(&netcap).output().expect("run netcap");
        text = String::from_utf8_lossy(&netcap_out.stdout).into_owned();
        theirs = netcap_rows(&text, &pid);
        if theirs.len() == 3 {
            break;
        }
    }
    let mut ours: Vec<(String, String)> = capnet_json(&["-a", "--pid", &pid])
        .iter()
        .filter(|r| r["pid"] == holder.pid)
        .map(|r| {
            let proto = r["proto"].as_str().unwrap_or("").trim_end_matches('6');
            let local = r["local"].as_str().unwrap_or("");
            let port = match proto {
                "raw" | "packet" => "",
                _ => local.rsplit(':').next().unwrap_or(""),
            };
            (proto.to_string(), port.to_string())
        })
        .collect();
    ours.sort();
    assert_eq!(
        theirs.len(),
        3,
        "netcap lists the holder's three sockets: {text}"
    );
    assert_eq!(
        theirs, ours,
        "netcap (left) and capnet (right) on the holder's sockets"
    );
}

/// netcap's rows for `pid`, as (type, port), sorted. netcap prints other processes' names raw, newlines
/// included, so its output is only searched for lines that are our holder's: `ppid pid acct command type
/// port capabilities`, our command has no blank, and a foreign line that merely looks like ours cannot
/// add a socket we do not hold.
fn netcap_rows(text: &str, pid: &str) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = text
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|fields| fields.get(1) == Some(&pid) && fields.len() >= 6)
        .map(|fields| {
            let port = if matches!(fields[4], "raw" | "packet") {
                ""
            } else {
                fields[5]
            };
            (fields[4].to_string(), port.to_string())
        })
        .collect();
    rows.sort();
    rows
}

/// Capabilities enough for a summary far wider than any terminal: 14 names, some root-equivalent, and
/// cap_net_admin, which no socket needs.
const MANY_CAPS: &str = "cap_chown,cap_dac_override,cap_dac_read_search,cap_fowner,cap_fsetid,cap_kill,\
                         cap_setgid,cap_setuid,cap_setpcap,cap_net_bind_service,cap_net_admin,cap_net_raw,\
                         cap_ipc_lock,cap_sys_chroot";

/// A PID that cannot exist: above the kernel's pid_max.
fn missing_pid() -> u32 {
    let max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1 << 22);
    max + 7
}

/// `capnet ARGS` on a pseudo-terminal with `env` (`COLUMNS=60`, `NO_COLOR=1`); `None` when script is not
/// installed.
fn capnet_on_terminal(env: &[&str], args: &[&str]) -> Option<Run> {
    let env: Vec<(&str, &str)> = env.iter().filter_map(|e| e.split_once('=')).collect();
    crate::util::on_terminal("capnet", args, &env)
}

#[test]
fn a_named_pid_that_does_not_exist_is_an_error_after_the_others() {
    skip_unless!(is_root(), "setting capabilities needs root");
    let holder = Holder::spawn(&["--tcp", "127.0.0.1:0", "--caps", "cap_net_raw"]);
    let missing = missing_pid();
    let pids = format!("{missing},{}", holder.pid);
    for json in [false, true] {
        let mut args = vec!["--pid", pids.as_str()];
        if json {
            args.push("--json");
        }
        let out = run("capnet", &args, None);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert_eq!(
            out.stderr,
            format!("capnet: {missing}: no such process\n"),
            "{args:?}"
        );
        // The PID named after the missing one is still listed.
        let listed = out
            .stdout
            .lines()
            .filter(|l| l.contains(&format!(":{}", holder.ports[0])))
            .count();
        assert_eq!(listed, 1, "{args:?}: {}", out.stdout);
    }
    // Only the missing one: nothing listed, still the error.
    let alone = run("capnet", &["--pid", &missing.to_string()], None);
    assert_eq!(alone.code, 2);
    assert!(
        alone.stderr.ends_with("no such process\n"),
        "{}",
        alone.stderr
    );
}

#[test]
fn a_wrong_protocol_lists_the_valid_ones() {
    for wrong in ["foo", "tcp,bogus", "", "tcp7"] {
        let out = run("capnet", &["--proto", wrong], None);
        assert_eq!(out.code, 2, "--proto {wrong:?}: {}", out.stderr);
        for valid in ["tcp6", "udplite6", "raw6", "packet", "unix"] {
            assert!(out.stderr.contains(valid), "{wrong:?}: {}", out.stderr);
        }
        assert!(out.stdout.is_empty());
    }
    let me = std::process::id().to_string();
    let upper = run("capnet", &["--proto", "TCP,Udp6", "--pid", &me], None);
    assert_ne!(
        upper.code, 2,
        "protocol names are case-insensitive: {}",
        upper.stderr
    );
}

#[test]
fn into_a_pipe_each_line_is_a_whole_record() {
    skip_unless!(is_root(), "setting capabilities needs root");
    let holder = Holder::spawn(&[
        "--tcp",
        "127.0.0.1:0",
        "--udp",
        "127.0.0.1:0",
        "--caps",
        MANY_CAPS,
    ]);
    let pid = holder.pid.to_string();
    let out = run("capnet", &["--pid", &pid], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !out.stdout.contains('\x1b'),
        "no colour into a pipe: {}",
        out.stdout
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    // Two header lines, the process, its two sockets: nothing wrapped, however long.
    assert_eq!(lines.len(), 5, "{}", out.stdout);
    let process = lines[2];
    assert!(process.starts_with(&format!("{pid} ")), "{process}");
    assert!(
        process.contains("sys_chroot")
            && process.ends_with("unneeded: net_bind_service,net_admin,net_raw")
    );
    assert!(process.len() > 150, "{process}");
    for port in &holder.ports {
        let row: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.contains(&format!("127.0.0.1:{port}")))
            .collect();
        assert_eq!(row.len(), 1, "{}", out.stdout);
        assert!(
            row[0].starts_with(&format!("{pid} ")),
            "the PID is on the socket's line: {}",
            row[0]
        );
    }
}

#[test]
fn colour_marks_root_equivalent_and_unneeded_capabilities() {
    skip_unless!(is_root(), "setting capabilities needs root");
    let holder = Holder::spawn(&["--tcp", "127.0.0.1:0", "--caps", "cap_setuid,cap_net_admin"]);
    let pid = holder.pid.to_string();
    let always = run("capnet", &["--pid", &pid, "--color", "always"], None);
    assert_eq!(always.code, 0, "{}", always.stderr);
    assert!(
        always.stdout.contains("\x1b[1;31msetuid\x1b[0m"),
        "{:?}",
        always.stdout
    );
    assert!(
        always.stdout.contains("\x1b[33mnet_admin\x1b[0m"),
        "{:?}",
        always.stdout
    );
    let never = run("capnet", &["--pid", &pid, "--color", "never"], None);
    assert!(!never.stdout.contains('\x1b'), "{:?}", never.stdout);
    assert_eq!(crate::util::plain(&always.stdout), never.stdout);
    let json = run(
        "capnet",
        &["--pid", &pid, "--color", "always", "--json"],
        None,
    );
    assert!(!json.stdout.contains('\x1b') && !json.stdout.is_empty());
}

#[test]
fn a_terminal_fits_its_width_and_honours_no_color() {
    skip_unless!(is_root(), "setting capabilities needs root");
    let holder = Holder::spawn(&["--tcp", "127.0.0.1:0", "--caps", MANY_CAPS]);
    let pid = holder.pid.to_string();
    let Some(narrow) = capnet_on_terminal(&["COLUMNS=60"], &["--pid", &pid]) else {
        crate::util::skipped("util-linux's script is not installed");
        return;
    };
    assert!(
        narrow.stdout.contains("\x1b[1;31m"),
        "colour on a terminal: {:?}",
        narrow.stdout
    );
    let shown = crate::util::plain(&narrow.stdout);
    assert!(shown.lines().count() > 4, "{shown}");
    for line in shown.lines() {
        assert!(line.chars().count() <= 60, "{line:?} in\n{shown}");
    }
    for name in ["chown", "sys_chroot", "unneeded:", "net_raw"] {
        assert!(shown.contains(name), "{name}: {shown}");
    }
    let wide = capnet_on_terminal(&["COLUMNS=200"], &["--pid", &pid]).expect("script");
    let wide = crate::util::plain(&wide.stdout);
    assert!(wide.lines().all(|l| l.chars().count() <= 200), "{wide}");
    assert!(wide.lines().count() < shown.lines().count(), "{wide}");
    let plain =
        capnet_on_terminal(&["COLUMNS=60", "NO_COLOR=1"], &["--pid", &pid]).expect("script");
    assert!(!plain.stdout.contains('\x1b'), "{:?}", plain.stdout);
    assert_eq!(plain.stdout.replace('\r', ""), shown);
}

#[test]
fn without_privilege_one_note_says_root_is_needed() {
    skip_unless!(is_root(), "switching to an unprivileged user needs root");
    let holder = Holder::spawn(&["--tcp", "127.0.0.1:0", "--caps", "cap_net_raw", "--fork"]);
    let port = format!("127.0.0.1:{}", holder.ports[0]);
    let as_nobody = |args: &[&str]| {
        let mut cmd = Command::new(bin("capnet"));
        cmd.args(args).uid(65534).gid(65534);
        run_cmd(&mut cmd, None)
    };
    let note = "root is needed to see other processes' sockets";
    let scan = as_nobody(&[]);
    assert_eq!(scan.code, 0, "{}", scan.stderr);
    assert_eq!(scan.stderr.matches(note).count(), 1, "{}", scan.stderr);
    assert!(!scan.stdout.contains(&port), "{}", scan.stdout);
    let pids = format!("{},{}", holder.pid, holder.forked.expect("forked"));
    let named = as_nobody(&["--pid", &pids]);
    assert_eq!(named.code, 2, "{}", named.stderr);
    assert_eq!(named.stderr.matches(note).count(), 1, "{}", named.stderr);
    assert!(named.stderr.contains(&format!(
        "capnet: {}: /proc/{}/fd: ",
        holder.pid, holder.pid
    )));
    assert!(
        named.stderr.contains("(2 processes not shown)"),
        "{}",
        named.stderr
    );
}

#[test]
fn long_help_ends_with_examples_and_short_help_is_shorter() {
    let long = run("capnet", &["--help"], None);
    let short = run("capnet", &["-h"], None);
    assert_eq!((long.code, short.code), (0, 0));
    assert!(short.stdout.len() * 2 < long.stdout.len());
    let examples = long
        .stdout
        .rfind("\nExamples:\n")
        .expect("an Examples section");
    assert!(long.stdout[examples..]
        .lines()
        .skip(2)
        .all(|l| l.starts_with("  ")));
    assert!(long.stdout[examples..].matches("\n  capnet").count() >= 3);
    // No paragraph breaks mid-sentence: every line of prose but a paragraph's last is long.
    let wide = run_cmd(
        Command::new(bin("capnet"))
            .arg("--help")
            .env("COLUMNS", "200"),
        None,
    );
    let prose = wide.stdout.split("\n\n").filter(|p| {
        !p.starts_with(' ')
            && !p.starts_with("Usage:")
            && !p.starts_with("Options:")
            && !p.starts_with("Arguments:")
            && !p.starts_with("Examples:")
    });
    for paragraph in prose {
        let lines: Vec<&str> = paragraph.lines().collect();
        for line in &lines[..lines.len() - 1] {
            assert!(
                line.len() >= 60,
                "a line broken early: {line:?} in\n{paragraph}"
            );
        }
    }
}

#[test]
fn generate_and_its_old_spelling_print_completions() {
    let new = run("capnet", &["--generate", "bash"], None);
    let old = run("capnet", &["--generate-completions", "bash"], None);
    assert_eq!((new.code, old.code), (0, 0), "{}{}", new.stderr, old.stderr);
    assert_eq!(new.stdout, old.stdout);
    // The old spelling is a hidden alias: completions do not offer it.
    assert!(new.stdout.contains("--color") && !new.stdout.contains("--generate-completions"));
    let man = run("capnet", &["--generate", "man"], None);
    assert!(man.stdout.contains(".TH capnet"), "{}", man.stdout);
}

#[test]
fn processes_exiting_during_a_scan_are_counted_not_errors() {
    // Short-lived processes come and go while capnet scans every process: whichever it catches exiting
    // are summed up in one note and leave the exit status alone. Bounded: at most 400 spawns or 10 s.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            for _ in 0..400 {
                if stop.load(std::sync::atomic::Ordering::Relaxed)
                    || started.elapsed() > std::time::Duration::from_secs(10)
                {
                    break;
                }
                let _ = Command::new("true").status();
            }
        })
    };
    for _ in 0..3 {
        let out = run("capnet", &["-a"], None);
        assert_eq!(out.code, 0, "{}", out.stderr);
        for line in out.stderr.lines() {
            assert!(!line.contains("no such process"), "{line}");
            if let Some(rest) = line.strip_prefix("capnet: note: skipped ") {
                let n: u32 = rest
                    .split(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("a count");
                let noun = if n == 1 {
                    "1 process that"
                } else {
                    "processes that"
                };
                assert!(rest.contains(noun), "{line}");
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = churn.join();
}

/// The inode of the network namespace `/proc/<pid>/ns/net` names (`self` for ours).
fn netns_inode(pid: &str) -> u64 {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/net")).expect("read ns/net link");
    let text = link.to_string_lossy();
    text.trim_start_matches("net:[")
        .trim_end_matches(']')
        .parse()
        .unwrap_or_else(|_| panic!("not a namespace link: {text}"))
}

/// `ss ARGS` run inside the network namespace of `pid`: what it says of our own sockets is the reference.
fn ss_in_namespace_of(pid: u32, args: &[&str]) -> String {
    let ns = format!("--net=/proc/{pid}/ns/net");
    let mut cmd = Command::new("nsenter");
    cmd.arg(ns).arg("ss").args(args);
    let out = run_cmd(&mut cmd, None);
    assert_eq!(out.code, 0, "nsenter ss {args:?}: {}", out.stderr);
    out.stdout
}

/// The socket inode behind each descriptor of `pid`, in descriptor order.
fn socket_inodes_of(pid: u32) -> Vec<u64> {
    let mut fds: Vec<(u32, u64)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read fd directory")
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let fd = entry.file_name().to_str()?.parse().ok()?;
            let link = std::fs::read_link(entry.path()).ok()?;
            let inode = link
                .to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()?;
            Some((fd, inode))
        })
        .collect();
    fds.sort_unstable();
    fds.into_iter().map(|(_, inode)| inode).collect()
}

#[test]
fn an_unprivileged_unix_name_cannot_forge_another_process_s_rows() {
    skip_unless!(
        is_root(),
        "another user's sockets and a port below 1024 need root"
    );
    skip_unless!(
        tool("ss").is_some() && tool("nsenter").is_some(),
        "ss (iproute2) or nsenter (util-linux) is not on PATH"
    );
    // A root daemon with a listener below 1024 and a raw socket, and nothing it does not need but those.
    let daemon = Holder::spawn_on_free_low_port(
        "--tcp",
        &["--raw-icmp", "--caps", "cap_net_bind_service,cap_net_raw"],
    );
    let inodes = socket_inodes_of(daemon.pid);
    assert_eq!(
        inodes.len(),
        2,
        "the daemon's tcp and raw sockets: {inodes:?}"
    );
    // An unprivileged user names abstract unix sockets as /proc/net/unix rows claiming those inodes.
    let forged: Vec<String> = inodes
        .iter()
        .map(|inode| format!("@x\n0: 2 0 0 1 1 {inode} @harmless"))
        .collect();
    let attacker = Holder::spawn(&["--uid", "65534", "--unix", &forged[0], "--unix", &forged[1]]);
    let pid = daemon.pid.to_string();
    let records = capnet_json(&["--unix", "--pid", &pid]);
    let protos: Vec<&str> = records.iter().filter_map(|r| r["proto"].as_str()).collect();
    assert_eq!(protos.len(), 2, "{records:?}");
    assert!(
        protos.contains(&"tcp") && protos.contains(&"raw"),
        "{records:?}"
    );
    let port = daemon.ports[0];
    assert!(records
        .iter()
        .any(|r| r["proto"] == "tcp" && r["local"] == format!("127.0.0.1:{port}")));
    // --unneeded does not tell the administrator to remove what the daemon uses.
    let unneeded = run(
        "capnet",
        &["--json", "--unix", "--unneeded", "--pid", &pid],
        None,
    );
    for record in unneeded.json_lines() {
        let caps = set_names(&record["unneeded"]);
        assert!(!caps.contains(&"cap_net_bind_service") && !caps.contains(&"cap_net_raw"));
    }
    // The attacker's own sockets are unix rows, named whole.
    let theirs = capnet_json(&["--unix", "--pid", &attacker.pid.to_string()]);
    assert_eq!(theirs.len(), 2, "{theirs:?}");
    for record in &theirs {
        assert_eq!(record["proto"], "unix");
    }
    // ss agrees: the daemon's listener is tcp, with the daemon as owner.
    let ss = ss_in_namespace_of(daemon.pid, &["-tlnp"]);
    assert!(ss
        .lines()
        .any(|l| l.contains(&format!(":{port} ")) && l.contains(&format!("pid={pid},"))));
    // Under the human table the same: the daemon's rows are tcp and raw.
    let human = run("capnet", &["--unix", "--pid", &pid], None);
    assert!(!human.stdout.contains("harmless"), "{}", human.stdout);
}

#[test]
fn a_unix_name_with_a_newline_and_an_escape_is_shown_escaped_and_whole() {
    skip_unless!(
        is_root(),
        "nsenter into a network namespace needs CAP_SYS_ADMIN"
    );
    skip_unless!(
        tool("ss").is_some() && tool("nsenter").is_some(),
        "ss (iproute2) or nsenter (util-linux) is not on PATH"
    );
    let name = format!("@capnet-test-{}\nline two\x1b[31m end", std::process::id());
    let holder = Holder::spawn(&["--unix", &name]);
    let pid = holder.pid.to_string();
    let human = run("capnet", &["--unix", "--pid", &pid], None);
    assert_eq!(human.code, 0, "{}", human.stderr);
    let shown = format!(
        "@capnet-test-{}\\nline two\\x1b[31m end",
        std::process::id()
    );
    assert!(human.stdout.contains(&shown), "{}", human.stdout);
    assert!(!human.stdout.contains('\x1b'), "{}", human.stdout);
    let rows = human.stdout.lines().filter(|l| l.starts_with(&pid)).count();
    assert_eq!(
        rows, 2,
        "a process line and one socket line: {}",
        human.stdout
    );
    let records = capnet_json(&["--unix", "--pid", &pid]);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["state"], "LISTEN");
    assert_eq!(records[0]["inode"], socket_inodes_of(holder.pid)[0]);
    // ss lists the same listener for the same process.
    let ss = ss_in_namespace_of(holder.pid, &["-xlpn"]);
    assert!(ss.contains(&format!("pid={pid},")), "{ss}");
}

#[test]
fn a_listener_opened_before_unshare_is_found_in_the_old_namespace() {
    skip_unless!(is_root(), "a network namespace needs CAP_SYS_ADMIN");
    skip_unless!(
        tool("ss").is_some() && tool("nsenter").is_some(),
        "ss (iproute2) or nsenter (util-linux) is not on PATH"
    );
    let holder = Holder::spawn(&[
        "--tcp",
        "127.0.0.1:0",
        "--unshare-net",
        "--tcp",
        "127.0.0.1:0",
    ]);
    let (before, after) = (holder.ports[0], holder.ports[1]);
    let ours = netns_inode("self");
    let theirs = netns_inode(&holder.pid.to_string());
    assert_ne!(ours, theirs);
    let records = capnet_json(&["--pid", &holder.pid.to_string()]);
    assert_eq!(records.len(), 2, "{records:?}");
    let old = records
        .iter()
        .find(|r| r["local"] == format!("127.0.0.1:{before}"))
        .expect("the listener opened before unshare");
    assert_eq!(old["netns"]["inode"], ours);
    assert_eq!(old["netns"]["holder"], false);
    let new = records
        .iter()
        .find(|r| r["local"] == format!("127.0.0.1:{after}"))
        .expect("the listener opened after unshare");
    assert_eq!(new["netns"]["inode"], theirs);
    assert_eq!(new["netns"]["holder"], true);
    // ss in each namespace sees its own listener with the holder as owner.
    let owner = format!("pid={},", holder.pid);
    let ss_old = ss_in_namespace_of(std::process::id(), &["-tlnp"]);
    assert!(ss_old
        .lines()
        .any(|l| l.contains(&format!("127.0.0.1:{before} ")) && l.contains(&owner)));
    let ss_new = ss_in_namespace_of(holder.pid, &["-tlnp"]);
    assert!(ss_new
        .lines()
        .any(|l| l.contains(&format!("127.0.0.1:{after} ")) && l.contains(&owner)));
    // The human table marks the socket that lives elsewhere.
    let human = run("capnet", &["--pid", &holder.pid.to_string()], None);
    let marked = human
        .stdout
        .lines()
        .filter(|l| l.contains(&format!("127.0.0.1:{before} ")))
        .any(|l| l.contains("tcp@"));
    assert!(marked, "{}", human.stdout);
}

#[test]
fn a_socket_made_in_a_namespace_joined_with_setns_is_kept_after_leaving() {
    skip_unless!(is_root(), "joining a network namespace needs CAP_SYS_ADMIN");
    skip_unless!(
        tool("ss").is_some() && tool("nsenter").is_some(),
        "ss (iproute2) or nsenter (util-linux) is not on PATH"
    );
    let inside = Holder::spawn(&["--unshare-net"]);
    let ns_path = format!("/proc/{}/ns/net", inside.pid);
    let visitor = Holder::spawn(&["--setns", &ns_path, "--udp", "127.0.0.1:0", "--back"]);
    let port = visitor.ports[0];
    assert_eq!(netns_inode(&visitor.pid.to_string()), netns_inode("self"));
    let records = capnet_json(&["--pid", &visitor.pid.to_string()]);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["local"], format!("127.0.0.1:{port}"));
    assert_eq!(
        records[0]["netns"]["inode"],
        netns_inode(&inside.pid.to_string())
    );
    assert_eq!(records[0]["netns"]["holder"], false);
    let ss = ss_in_namespace_of(inside.pid, &["-ulnp"]);
    assert!(ss.lines().any(|l| l.contains(&format!("127.0.0.1:{port} "))
        && l.contains(&format!("pid={},", visitor.pid))));
}

#[test]
fn a_namespace_no_process_is_in_is_kept_alive_by_a_socket_and_found() {
    skip_unless!(is_root(), "a network namespace needs CAP_SYS_ADMIN");
    let holder = Holder::spawn(&[
        "--unshare-net",
        "--tcp",
        "127.0.0.1:0",
        "--udp",
        "127.0.0.1:0",
        "--back",
    ]);
    let pid = holder.pid.to_string();
    assert_eq!(netns_inode(&pid), netns_inode("self"));
    let records = capnet_json(&["--pid", &pid]);
    assert_eq!(records.len(), 2, "{records:?}");
    let inode = records[0]["netns"]["inode"].as_u64().expect("netns inode");
    assert_ne!(inode, netns_inode("self"));
    for (record, port) in records.iter().zip(&holder.ports) {
        assert_eq!(record["netns"]["inode"], inode);
        assert_eq!(record["netns"]["holder"], false);
        assert_eq!(record["local"], format!("127.0.0.1:{port}"));
    }
    // The whole-system listing finds them too.
    let everything = capnet_json(&["-a"]);
    assert_eq!(
        everything
            .iter()
            .filter(|r| r["pid"] == holder.pid && r["netns"]["inode"] == inode)
            .count(),
        2
    );
}

/// The one thread of `pid` other than its leader.
fn other_thread(pid: u32) -> u32 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("task directory")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .find(|tid| *tid != pid)
        .expect("a second thread")
}

#[test]
fn a_thread_that_kept_net_raw_makes_its_process_a_holder() {
    skip_unless!(is_root(), "raw sockets and capabilities need root");
    // The leader opens a raw socket, starts a thread that keeps cap_net_raw, then drops everything.
    let holder = Holder::spawn(&["--raw-icmp", "--thread-keeps", "cap_net_raw"]);
    let tid = other_thread(holder.pid);
    let leader = std::fs::read_to_string(format!("/proc/{}/status", holder.pid)).expect("status");
    assert!(leader.contains("CapPrm:\t0000000000000000"), "{leader}");
    for args in [vec![], vec!["--cap", "net_raw"]] {
        let records = capnet_json(&args);
        let ours: Vec<&Value> = records.iter().filter(|r| r["pid"] == holder.pid).collect();
        assert_eq!(
            ours.len(),
            1,
            "capnet {args:?} lists the holder's raw socket: {ours:?}"
        );
        let raw = ours[0];
        assert_eq!(raw["proto"], "raw");
        assert_eq!(set_names(&raw["permitted"]), ["cap_net_raw"]);
        assert_eq!(set_names(&raw["socket_needs"]), ["cap_net_raw"]);
        assert!(set_names(&raw["unneeded"]).is_empty());
        assert_eq!(raw["differing_threads"][0]["tid"], tid);
        assert_eq!(
            set_names(&raw["differing_threads"][0]["permitted"]),
            ["cap_net_raw"]
        );
        assert_eq!(raw["threads"], 2, "{raw}");
    }
    let human = run("capnet", &[&holder.pid.to_string()], None);
    assert_eq!(human.code, 0, "{}", human.stderr);
    let line = human
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("{} ", holder.pid)) && l.contains("capkit"))
        .unwrap_or_else(|| panic!("no process line: {}", human.stdout));
    assert!(
        line.contains(&format!("thread {tid}: net_raw")),
        "the row names the thread: {line}"
    );
    // What the thread holds is needed: --unneeded does not list the process.
    let unneeded = capnet_json(&["--unneeded", &holder.pid.to_string()]);
    assert!(unneeded.is_empty(), "{unneeded:?}");
}

/// The record of `holder`'s socket with local port `port`.
fn record_on_port(holder: &Holder, port: u16) -> Value {
    capnet_json(&[&holder.pid.to_string()])
        .into_iter()
        .find(|r| {
            r["local"]
                .as_str()
                .is_some_and(|l| l.ends_with(&format!(":{port}")))
        })
        .unwrap_or_else(|| panic!("no socket on port {port} of {}", holder.pid))
}

#[test]
fn a_client_bound_below_1024_needed_bind_service() {
    skip_unless!(is_root(), "binding a port below 1024 needs root");
    let caps = "cap_net_bind_service,cap_net_admin";
    // TCP: bound to 127.0.0.1:<free port below 1024>, then connected to a listener of ours.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let target = listener.local_addr().expect("address").to_string();
    let tcp = Holder::spawn_on_free_low_port("--tcp-client", &[&target, "--caps", caps]);
    let record = record_on_port(&tcp, tcp.ports[0]);
    assert_eq!(record["proto"], "tcp");
    assert_eq!(record["state"], "ESTABLISHED");
    assert_eq!(record["remote"], target.as_str());
    assert_eq!(set_names(&record["socket_needs"]), ["cap_net_bind_service"]);
    assert_eq!(set_names(&record["needs"]), ["cap_net_bind_service"]);
    assert_eq!(set_names(&record["unneeded"]), ["cap_net_admin"]);
    // ss, on this socket only, agrees on its ends and its owner.
    if let Some(ss) = tool("ss") {
        let filter = format!("sport = :{}", tcp.ports[0]);
        let out = run_cmd(
            Command::new(ss).args(["-Htnp", "state", "established", &filter]),
            None,
        );
        let row = format!("127.0.0.1:{} {target}", tcp.ports[0]);
        let owner = format!("pid={},", tcp.pid);
        assert!(
            out.stdout
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .contains(&row)
                && out.stdout.contains(&owner),
            "ss: {}",
            out.stdout
        );
    }
    let human = run("capnet", &["--unneeded", &tcp.pid.to_string()], None);
    assert_eq!(human.code, 1, "{}", human.stderr);
    assert!(
        human.stdout.contains("unneeded: net_admin"),
        "{}",
        human.stdout
    );
    assert!(
        !human.stdout.contains("unneeded: net_bind"),
        "{}",
        human.stdout
    );
    // UDP: bound low, then connected.
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp peer");
    let target = peer.local_addr().expect("address").to_string();
    let udp = Holder::spawn_on_free_low_port("--udp-client", &[&target, "--caps", caps]);
    let record = record_on_port(&udp, udp.ports[0]);
    assert_eq!(record["proto"], "udp");
    assert_eq!(record["remote"], target.as_str());
    assert_eq!(set_names(&record["socket_needs"]), ["cap_net_bind_service"]);
    assert_eq!(set_names(&record["unneeded"]), ["cap_net_admin"]);
    // A client on a port the kernel picked needed nothing.
    let high = Holder::spawn(&[
        "--tcp-client",
        "127.0.0.1:0",
        &listener.local_addr().expect("address").to_string(),
        "--caps",
        caps,
    ]);
    let records = capnet_json(&[&high.pid.to_string()]);
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(set_names(&records[0]["socket_needs"]).is_empty());
    assert_eq!(
        set_names(&records[0]["unneeded"]),
        ["cap_net_bind_service", "cap_net_admin"]
    );
}

/// Depends on the sock_diag reader, which shows a socket's mark (/proc/net does not).
#[test]
fn a_socket_mark_needed_net_admin_or_net_raw() {
    skip_unless!(is_root(), "SO_MARK needs cap_net_admin or cap_net_raw");
    let holder = Holder::spawn(&[
        "--udp",
        "127.0.0.1:0",
        "--mark",
        "7",
        "--caps",
        "cap_net_admin,cap_net_bind_service",
    ]);
    let record = record_on_port(&holder, holder.ports[0]);
    assert_eq!(
        set_names(&record["socket_needs"]),
        ["cap_net_admin"],
        "the mark needed the one of cap_net_admin and cap_net_raw that the holder holds: {record}"
    );
    let one_of: Vec<Vec<&str>> = record["socket_needs_one_of"]
        .as_array()
        .expect("socket_needs_one_of")
        .iter()
        .map(set_names)
        .collect();
    assert_eq!(one_of, [["cap_net_admin", "cap_net_raw"]]);
    assert_eq!(set_names(&record["unneeded"]), ["cap_net_bind_service"]);
}

#[test]
fn pids_are_operands_and_a_missing_one_is_an_error_after_the_others() {
    skip_unless!(is_root(), "setting capabilities needs root");
    let first = Holder::spawn(&["--tcp", "127.0.0.1:0", "--caps", "cap_net_raw"]);
    let second = Holder::spawn(&["--udp", "127.0.0.1:0", "--caps", "cap_net_admin"]);
    let missing = missing_pid().to_string();
    let (a, b) = (first.pid.to_string(), second.pid.to_string());
    let out = run("capnet", &["--json", &a, &missing, &b], None);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(out.stderr, format!("capnet: {missing}: no such process\n"));
    let pids: Vec<u64> = out
        .json_lines()
        .iter()
        .filter_map(|r| r["pid"].as_u64())
        .collect();
    assert_eq!(pids, [u64::from(first.pid), u64::from(second.pid)]);
    // The old option is still understood.
    let old = capnet_json(&["--pid", &format!("{a},{b}")]);
    assert_eq!(old.len(), 2, "{old:?}");
    let help = run("capnet", &["--help"], None);
    assert!(help.stdout.contains("[PID]..."), "{}", help.stdout);
}

#[test]
fn an_accepted_socket_did_not_bind_its_listeners_port() {
    skip_unless!(is_root(), "binding a port below 1024 needs root");
    // A listener on a free port below 1024, a client of it and the connection it accepted, all held by
    // one process with cap_net_bind_service and cap_net_admin.
    let holder = Holder::spawn_on_free_low_port(
        "--tcp",
        &[
            "--self-connect",
            "--caps",
            "cap_net_bind_service,cap_net_admin",
        ],
    );
    let (listen_port, client_port) = (holder.ports[0], holder.ports[1]);
    let records = capnet_json(&[&holder.pid.to_string()]);
    assert_eq!(records.len(), 3, "{records:?}");
    let needs_of = |state: &str, local_port: u16| {
        let record = records
            .iter()
            .find(|r| {
                r["state"] == state
                    && r["local"]
                        .as_str()
                        .is_some_and(|l| l.ends_with(&format!(":{local_port}")))
            })
            .unwrap_or_else(|| panic!("no {state} socket on {local_port}: {records:?}"));
        set_names(&record["socket_needs"])
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(needs_of("LISTEN", listen_port), ["cap_net_bind_service"]);
    // The accepted connection shares the listener's port; the client's came from the ephemeral range.
    assert!(needs_of("ESTABLISHED", listen_port).is_empty());
    assert!(needs_of("ESTABLISHED", client_port).is_empty());
    assert_eq!(set_names(&records[0]["unneeded"]), ["cap_net_admin"]);
}

/// Sockets and network namespaces coming and going while a test runs capnet: TCP and UDP sockets of our
/// own in the host namespace; network namespaces of our own threads with sockets in them;
/// `capkit-test-sockets` processes that make a network namespace, open raw ICMP sockets, a listener and a
/// UDP socket in it and exit at once; and two that open and close raw sockets without pause in the
/// namespace `netns` names. Bounded: each thread stops after `MAX_ROUNDS` rounds or `MAX_CHURN`, and
/// dropping the churn stops and joins every thread (each waits for its own processes) and kills the raw
/// churners, so nothing is left behind; the namespaces are anonymous and go with their last process.
struct Churn {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    _raw: [Holder; 2],
}

const MAX_ROUNDS: u32 = 20_000;
const MAX_CHURN: std::time::Duration = std::time::Duration::from_secs(90);

impl Churn {
    fn start(seed: u64, netns: &str) -> Churn {
        let max_churn = MAX_CHURN.as_secs().to_string();
        // Few sockets at a time keep the table small, so that it is read in few rows a read and a socket
        // closing between two reads is soon before the holder's.
        let raw = ["1", "4"].map(|batch| {
            Holder::spawn(&[
                "--setns",
                netns,
                "--exit-after",
                &max_churn,
                "--churn-raw",
                batch,
            ])
        });
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let jobs: [fn(&mut crate::util::Rng); 4] = [
            churn_host_sockets,
            churn_namespaces,
            churn_raw_processes,
            churn_raw_processes,
        ];
        let threads = jobs
            .into_iter()
            .enumerate()
            .map(|(i, job)| {
                let stop = stop.clone();
                let mut rng = crate::util::Rng::new(seed.wrapping_add(i as u64));
                std::thread::spawn(move || {
                    let started = std::time::Instant::now();
                    for _ in 0..MAX_ROUNDS {
                        if stop.load(std::sync::atomic::Ordering::Relaxed)
                            || started.elapsed() > MAX_CHURN
                        {
                            break;
                        }
                        job(&mut rng);
                    }
                })
            })
            .collect();
        Churn {
            stop,
            threads,
            _raw: raw,
        }
    }
}

impl Drop for Churn {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Up to `n` TCP listeners and UDP sockets on loopback ports the kernel picks, in whatever namespace the
/// calling thread is in.
fn loopback_sockets(rng: &mut crate::util::Rng, n: u64) -> Vec<Box<dyn std::any::Any>> {
    let mut sockets: Vec<Box<dyn std::any::Any>> = Vec::new();
    for _ in 0..1 + rng.next() % n {
        if rng.next() % 2 == 0 {
            sockets.extend(
                std::net::TcpListener::bind("127.0.0.1:0")
                    .ok()
                    .map(|s| Box::new(s) as Box<dyn std::any::Any>),
            );
        } else {
            sockets.extend(
                std::net::UdpSocket::bind("127.0.0.1:0")
                    .ok()
                    .map(|s| Box::new(s) as Box<dyn std::any::Any>),
            );
        }
    }
    sockets
}

/// One round: a few host sockets opened, held a moment, closed together.
fn churn_host_sockets(rng: &mut crate::util::Rng) {
    let sockets = loopback_sockets(rng, 16);
    std::thread::sleep(std::time::Duration::from_micros(rng.next() % 2000));
    drop(sockets);
}

/// One round: a thread moves into a new network namespace, opens sockets there, holds them a moment and
/// ends, which frees the namespace.
fn churn_namespaces(rng: &mut crate::util::Rng) {
    let mut inner = crate::util::Rng::new(rng.next());
    let _ = std::thread::spawn(move || {
        // SAFETY: CLONE_NEWNET moves only this thread, which the churn owns and which ends right after;
        // no other thread shares or looks at its network namespace.
        let moved = unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) };
        if moved.is_ok() {
            let sockets = loopback_sockets(&mut inner, 8);
            std::thread::sleep(std::time::Duration::from_micros(inner.next() % 5000));
            drop(sockets);
        }
    })
    .join();
}

/// One round: a `capkit-test-sockets` that makes a network namespace, opens raw ICMP sockets, a TCP
/// listener and a UDP socket in it, and exits as soon as it is ready.
fn churn_raw_processes(rng: &mut crate::util::Rng) {
    let mut args = vec![
        "--unshare-net",
        "--tcp",
        "127.0.0.1:0",
        "--udp",
        "127.0.0.1:0",
    ];
    let raw = 1 + rng.next() % 12;
    args.extend(std::iter::repeat_n("--raw-icmp", raw as usize));
    args.extend(["--exit-after", "0"]);
    let _ = Command::new(crate::util::helper("capkit-test-sockets"))
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// How many steady raw sockets a second holder keeps: more rows than a page of /proc/net/raw holds.
const CROWD: usize = 40;

#[test]
fn steady_sockets_are_listed_while_others_come_and_go() {
    skip_unless!(
        is_root(),
        "raw sockets, capabilities and network namespaces need root"
    );
    // A holder's raw, TCP and UDP sockets exist throughout; the kernel resumes a dump by position, so when
    // sockets before them close mid-read, a read can pass over them. capnet must list them every time.
    // The raw sockets that close before the holder's are in the holder's own namespace: churning the
    // host's raw table would make tests that read it in parallel with other tools (netcap) miss rows.
    // The steady holders outlive the 50 runs however slow a loaded machine makes them (they are killed
    // when the test ends).
    let holder = Holder::spawn(&[
        "--unshare-net",
        "--raw-icmp",
        "--tcp",
        "127.0.0.1:0",
        "--udp",
        "127.0.0.1:0",
        "--thread-keeps",
        "cap_net_raw",
        "--exit-after",
        "900",
    ]);
    let steady = [
        ("raw", "0.0.0.0".to_string()),
        ("tcp", format!("127.0.0.1:{}", holder.ports[0])),
        ("udp", format!("127.0.0.1:{}", holder.ports[1])),
    ];
    // More steady raw sockets in that namespace, opened after the holder's and so before them in the
    // table: more rows than one read of it returns, so that a read resumes where sockets are closing.
    let netns = format!("/proc/{}/ns/net", holder.pid);
    let mut crowd_args = vec!["--setns", netns.as_str(), "--exit-after", "900"];
    crowd_args.extend(std::iter::repeat_n("--raw-icmp", CROWD));
    let crowd = Holder::spawn(&crowd_args);
    let seed = crate::util::Rng::seed_from_env(0x17_c4e7);
    let churn = Churn::start(seed, &netns);
    let mut misses = Vec::new();
    // The holders by PID: their namespace is dumped as in a full run, without the cost of every other
    // process on a busy machine.
    let (holder_pid, crowd_pid) = (holder.pid.to_string(), crowd.pid.to_string());
    for run in 0..50 {
        let records = capnet_json(&[&holder_pid, &crowd_pid]);
        for (proto, local) in &steady {
            let listed = records
                .iter()
                .any(|r| r["pid"] == holder.pid && r["proto"] == *proto && r["local"] == *local);
            if !listed {
                misses.push(format!("run {run}: {proto} {local}"));
            }
        }
        let crowd_listed = records
            .iter()
            .filter(|r| r["pid"] == crowd.pid && r["proto"] == "raw")
            .count();
        if crowd_listed != CROWD {
            misses.push(format!(
                "run {run}: {crowd_listed} of {CROWD} raw sockets of {}",
                crowd.pid
            ));
        }
    }
    drop(churn);
    assert!(
        misses.is_empty(),
        "capnet missed steady sockets of {} (seed {seed}): {misses:?}",
        holder.pid
    );
}

/// A holder in a user namespace of its own has its capabilities only there: every listing says so (the
/// table after the summary, JSON's `userns`), `--userns other` lists it and `--userns host` does not.
#[test]
fn a_holder_in_another_user_namespace_is_marked_and_filtered() {
    skip_unless!(
        is_root(),
        "mapping root into a new user namespace needs root here"
    );
    let Some(unshare) = tool("unshare") else {
        crate::util::skipped("unshare (util-linux) is not on PATH");
        return;
    };
    let child = Command::new(unshare)
        .args(["--user", "--map-root-user"])
        .arg(crate::util::helper("capkit-test-sockets"))
        .args(["--tcp", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn unshare");
    let mut holder = Holder {
        child,
        pid: 0,
        forked: None,
        ports: Vec::new(),
    };
    let line = crate::util::first_line(&mut holder.child);
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"ready"), "{line}");
    holder.pid = words[1].parse().expect("a pid");
    let pid = holder.pid.to_string();
    let records = capnet_json(&[&pid]);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["userns"]["is_host"], false, "{}", records[0]);
    assert!(records[0]["userns"]["inode"].is_u64());
    let table = run("capnet", &[&pid], None);
    assert!(
        table.stdout.contains("(in user namespace "),
        "{}",
        table.stdout
    );
    let other = capnet_json(&["--userns", "other", &pid]);
    assert_eq!(other.len(), 1, "{other:?}");
    let host = run("capnet", &["--userns", "host", &pid], None);
    assert_eq!(host.stdout, "", "nothing found prints nothing");
    assert_eq!(host.code, 0, "{}", host.stderr);
}
