//! capnet against real sockets: listeners, raw and packet sockets, a socket shared by two processes, and a
//! listener in a network namespace of its own, each opened by `capkit-test-sockets` in a chosen
//! capability state; and, where netcap is installed, everything netcap prints.

use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::skip_unless;
use crate::util::{is_root, run, tool};

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
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = run("capnet", &all, None);
    assert_eq!(out.code, 0, "capnet {args:?}: {}", out.stderr);
    out.json_lines()
}

fn names(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
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
    assert_eq!(names(&listener["socket_needs"]), ["cap_net_bind_service"]);
    assert_eq!(names(&listener["needs"]), ["cap_net_bind_service"]);
    assert!(names(&listener["unneeded"]).is_empty());
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
    assert!(
        row.trim_start().starts_with("tcp") && row.ends_with("net_bind_service"),
        "{row}"
    );
    assert!(
        human.stdout.lines().all(|l| l.chars().count() <= 100),
        "{}",
        human.stdout
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
    assert_eq!(names(&raw["socket_needs"]), ["cap_net_raw"]);
    let packet = find("packet");
    assert_eq!(names(&packet["socket_needs"]), ["cap_net_raw"]);
    assert_eq!(packet["remote"], "any interface");
    let udp = find("udp");
    assert_eq!(udp["local"], format!("127.0.0.1:{}", holder.ports[0]));
    assert!(names(&udp["socket_needs"]).is_empty());
    assert_eq!(names(&raw["needs"]), ["cap_net_raw"]);
    assert!(names(&raw["unneeded"]).is_empty());
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
        names(&https["socket_needs"]).is_empty(),
        "443 is above the namespace's port start"
    );
    let low = records
        .iter()
        .find(|r| r["local"] == "0.0.0.0:70")
        .expect("70 listener");
    assert_eq!(names(&low["socket_needs"]), ["cap_net_bind_service"]);
    assert_eq!(names(&low["unneeded"]), ["cap_net_admin"]);
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
    let records = capnet_json(&["--unneeded"]);
    let record = records
        .iter()
        .find(|r| r["pid"] == holder.pid)
        .unwrap_or_else(|| panic!("pid {} not listed by --unneeded", holder.pid));
    assert!(record["proto"].is_null());
    assert_eq!(names(&record["unneeded"]), ["cap_net_admin"]);
    let human = run(
        "capnet",
        &["--unneeded", "--pid", &holder.pid.to_string()],
        None,
    );
    assert!(
        human.stdout.contains("unneeded: net_admin"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.lines().all(|l| l.chars().count() <= 100),
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
    let netcap_out = Command::new(netcap).output().expect("run netcap");
    // netcap prints other processes' names raw, newlines included, so its output is only searched for
    // lines that are our holder's: `ppid pid acct command type port capabilities`, our command has no
    // blank, and a foreign line that merely looks like ours cannot add a socket we do not hold.
    let text = String::from_utf8_lossy(&netcap_out.stdout);
    let mut theirs: Vec<(String, String)> = text
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|fields| fields.get(1) == Some(&pid.as_str()) && fields.len() >= 6)
        .map(|fields| {
            let port = if matches!(fields[4], "raw" | "packet") {
                ""
            } else {
                fields[5]
            };
            (fields[4].to_string(), port.to_string())
        })
        .collect();
    theirs.sort();
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
