//! capls against the kernel: test children in chosen states, and what /proc/PID/task/TID/status says.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::require_root;
use crate::spawn::{status_value, task_status, TestChild};

fn capls<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_capls"))
        .args(args)
        .output()
        .expect("run capls")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "capls failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("capls prints UTF-8")
}

/// Every NDJSON record capls prints for `args`.
fn json_records(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    stdout(&capls(&all))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn record_for(records: &[Value], tid: u32) -> &Value {
    records
        .iter()
        .find(|r| r["tid"] == tid)
        .unwrap_or_else(|| panic!("no record for tid {tid} in {records:#?}"))
}

/// Checks that a record holds exactly what the task's status file holds.
fn assert_matches_status(record: &Value, pid: u32, tid: u32) {
    let status = task_status(pid, tid);
    for (key, label) in [
        ("inheritable", "CapInh"),
        ("permitted", "CapPrm"),
        ("effective", "CapEff"),
        ("bounding", "CapBnd"),
        ("ambient", "CapAmb"),
    ] {
        assert_eq!(
            record[key]["hex"].as_str(),
            Some(status_value(&status, label).as_str()),
            "{key} of {pid}/{tid}: {record}"
        );
        let bits = u64::from_str_radix(&status_value(&status, label), 16).unwrap();
        let names = record[key]["caps"].as_array().unwrap();
        assert_eq!(names.len() as u32, bits.count_ones(), "{key}: {record}");
        assert!(names
            .iter()
            .all(|n| n.as_str().unwrap().starts_with("cap_")));
    }
    assert_eq!(
        record["no_new_privs"].as_bool(),
        Some(status_value(&status, "NoNewPrivs") == "1")
    );
    let seccomp = match status_value(&status, "Seccomp").as_str() {
        "0" => "disabled",
        "1" => "strict",
        _ => "filter",
    };
    assert_eq!(record["seccomp"].as_str(), Some(seccomp));
    assert_eq!(
        record["seccomp_filters"].to_string(),
        status_value(&status, "Seccomp_filters")
    );
    let uids: Vec<String> = status_value(&status, "Uid")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    for (key, uid) in ["ruid", "euid", "suid", "fsuid"].iter().zip(&uids) {
        assert_eq!(&record[*key].to_string(), uid, "{key}: {record}");
    }
    assert_eq!(record["pid"], pid);
    assert_eq!(record["tid"], tid);
}

#[test]
fn reports_every_set_exactly_as_status_holds_it() {
    require_root!();
    let child = TestChild::spawn([
        "--gid",
        "10,11,12",
        "--inheritable",
        "net_raw,chown,sys_admin",
        "--ambient",
        "net_raw",
        "--drop-bound",
        "sys_module,bpf",
        "--securebits",
        "keep_caps",
        "--no-new-privs",
        "--seccomp",
        "--effective",
        "chown,net_raw,setuid,kill",
        "--permitted",
        "chown,net_raw,setuid,kill,setgid,sys_admin",
    ]);
    let records = json_records(&["-t", &child.pid.to_string()]);
    assert_eq!(records.len(), 1, "{records:#?}");
    let record = record_for(&records, child.pid);
    assert_matches_status(record, child.pid, child.pid);
    assert_eq!(
        record["ambient"]["caps"],
        serde_json::json!(["cap_net_raw"])
    );
    assert_eq!(record["comm"], "capkit-test-chi");
    assert_eq!(
        record["cmdline"][0]
            .as_str()
            .map(|s| s.ends_with("capkit-test-child")),
        Some(true)
    );
    // Securebits are only visible to a process itself.
    assert_eq!(record["securebits"], Value::Null);
    assert_eq!(record["threads_differ"], false);

    let table = stdout(&capls([child.pid.to_string()]));
    let row = table.lines().nth(1).expect("a row");
    assert!(row.contains("abns"), "flags: {table}");
    assert!(
        row.ends_with("chown,kill,(setgid),setuid,net_raw,(sys_admin)"),
        "{table}"
    );
}

#[test]
fn flags_and_lists_the_thread_that_differs() {
    require_root!();
    // The second thread keeps everything; the main thread then drops all it can.
    let child = TestChild::spawn([
        "--thread",
        "--name",
        "keeper",
        "--main",
        "--permitted",
        "none",
        "--inheritable",
        "none",
    ]);
    let tid = child.tid.expect("second thread");
    let table = stdout(&capls([child.pid.to_string()]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].contains("TID"), "{table}");
    let leader: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(leader[..2], [child.pid.to_string(), child.pid.to_string()]);
    assert!(leader[4].contains('t'), "leader flags: {table}");
    assert!(lines[1].ends_with(" -"), "{table}");
    let thread: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(thread[1], tid.to_string(), "{table}");
    assert!(lines[2].contains("keeper"), "{table}");

    let records = json_records(&[&child.pid.to_string()]);
    assert_eq!(records.len(), 2);
    assert_matches_status(record_for(&records, child.pid), child.pid, child.pid);
    assert_matches_status(record_for(&records, tid), child.pid, tid);
    assert_eq!(record_for(&records, tid)["threads_differ"], true);
    assert_eq!(record_for(&records, child.pid)["threads_differ"], true);
    assert_eq!(record_for(&records, child.pid)["threads"], 2);

    // pscap looks at the leader only and would miss this process; capls's default listing has it.
    let everything = json_records(&[]);
    assert!(
        everything.iter().any(|r| r["tid"] == tid),
        "the thread holding capabilities is missing from the default listing"
    );
    // A thread id on the command line selects its process and shows that thread.
    let by_tid = json_records(&[&tid.to_string()]);
    assert!(by_tid
        .iter()
        .any(|r| r["tid"] == tid && r["pid"] == child.pid));
}

#[test]
fn threads_option_lists_every_thread_and_the_other_way_round() {
    require_root!();
    // Now the leader keeps and the second thread drops.
    let child = TestChild::spawn(["--thread", "--effective", "none"]);
    let tid = child.tid.expect("second thread");
    let records = json_records(&["-t", &child.pid.to_string()]);
    assert_eq!(records.len(), 2);
    let thread = record_for(&records, tid);
    assert_matches_status(thread, child.pid, tid);
    assert_eq!(thread["effective"]["hex"], "0000000000000000");
    let tree = stdout(&capls(["--tree", &child.pid.to_string()]));
    assert!(tree.contains(&format!("{{{tid}}}")), "{tree}");
    assert!(tree.contains(&format!("({})", child.pid)), "{tree}");
}

#[test]
fn marks_a_process_in_another_user_namespace() {
    require_root!();
    let child = TestChild::spawn(["--userns"]);
    let pid = child.pid.to_string();
    let records = json_records(&[&pid]);
    assert_eq!(records[0]["userns"]["is_host"], false, "{records:#?}");
    let link = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
    assert_eq!(
        format!("user:[{}]", records[0]["userns"]["inode"]),
        link.to_string_lossy()
    );
    let table = stdout(&capls([&pid]));
    let flags = table
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .nth(4)
        .unwrap();
    assert!(flags.contains('u'), "{table}");
    let other = json_records(&["--userns", "other"]);
    assert!(other.iter().any(|r| r["pid"] == child.pid));
    let host = json_records(&["--userns", "host"]);
    assert!(!host.iter().any(|r| r["pid"] == child.pid));
}

#[test]
fn a_process_that_is_gone_is_reported_not_fatal() {
    let mut child = TestChild::spawn(["--exit-after", "30"]);
    let pid = child.pid.to_string();
    child.kill();
    let output = capls([&pid]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim(), format!("capls: {pid}: no such process"));
}

#[test]
fn processes_exiting_during_a_scan_are_skipped() {
    // Churn short-lived processes and threads while capls reads everything; every run must succeed and
    // print whole records. Whether a process vanishes mid-read is up to the scheduler, so the count is
    // checked only for its form.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            while !stop.load(std::sync::atomic::Ordering::Relaxed)
                && start.elapsed() < Duration::from_secs(20)
            {
                if let Ok(mut c) = Command::new("true").spawn() {
                    let _ = c.wait();
                }
                let _ = std::thread::spawn(|| ()).join();
            }
        })
    };
    for _ in 0..15 {
        let output = capls(["-a", "-t", "--json"]);
        for line in stdout(&output).lines() {
            let record: Value = serde_json::from_str(line).unwrap();
            assert!(record["permitted"]["hex"].is_string());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        for line in stderr.lines() {
            assert!(
                line.starts_with("capls: note: skipped "),
                "unexpected stderr: {line}"
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().unwrap();
}

#[test]
fn hostile_names_are_escaped() {
    // An escape sequence, a newline, a backslash and bytes that are not UTF-8.
    let name = OsString::from_vec(b"a\\e[31m\\nb\xff\\\\".to_vec());
    let child = TestChild::spawn([OsString::from("--name"), name]);
    let pid = child.pid.to_string();
    let output = capls(["-a", &pid]);
    let table = stdout(&output);
    assert!(table.contains("a\\x1b[31m\\nb\\xff\\\\"), "{table}");
    assert!(!output.stdout.contains(&0x1b), "raw escape reached stdout");
    assert_eq!(table.lines().count(), 2, "{table}");
    let records = json_records(&["-a", &pid]);
    // Not UTF-8: the exact bytes, in hex.
    assert_eq!(
        records[0]["comm"],
        serde_json::json!({"bytes": "611b5b33316d0a62ff5c"})
    );
    let long = stdout(&capls(["-l", &pid]));
    assert!(!long.contains('\x1b'));
    let tree = stdout(&capls(["--tree", &pid]));
    assert!(tree.contains("a\\x1b[31m\\nb\\xff\\\\"), "{tree}");

    let utf8 = TestChild::spawn(["--name", "r\u{202e}x\\ty"]);
    let records = json_records(&["-a", &utf8.pid.to_string()]);
    assert_eq!(records[0]["comm"], "r\u{202e}x\ty");
    let table = stdout(&capls(["-a", &utf8.pid.to_string()]));
    assert!(table.contains("r\\u{202e}x\\ty"), "{table}");
}

#[test]
fn json_has_every_documented_key() {
    let records = json_records(&["-a"]);
    assert!(records.len() > 1);
    let keys = [
        "pid",
        "tid",
        "ppid",
        "comm",
        "cmdline",
        "ruid",
        "euid",
        "suid",
        "fsuid",
        "user",
        "inheritable",
        "permitted",
        "effective",
        "bounding",
        "ambient",
        "no_new_privs",
        "seccomp",
        "seccomp_filters",
        "securebits",
        "userns",
        "cgroup",
        "container",
        "threads",
        "threads_differ",
        "kernel_thread",
    ];
    for record in &records {
        for key in keys {
            assert!(record.get(key).is_some(), "{key} missing: {record}");
        }
    }
    // capls itself is the one process whose securebits are known.
    let own = records
        .iter()
        .filter(|r| r["securebits"].is_object())
        .count();
    assert_eq!(own, 1);
    assert!(records.iter().any(|r| r["pid"] == 1));
}

#[test]
fn filters_select_what_they_say() {
    require_root!();
    let child = TestChild::spawn([
        "--keep-caps",
        "--uid",
        "4321,4321,4321",
        "--permitted",
        "net_raw,chown",
        "--effective",
        "net_raw,chown",
    ]);
    let pid = child.pid;
    let has = |args: &[&str]| json_records(args).iter().any(|r| r["pid"] == pid);
    assert!(has(&["--cap", "NET_RAW"]));
    assert!(has(&["--cap", "sys_admin,13"]));
    assert!(!has(&["--cap", "sys_admin"]));
    assert!(has(&["-u", "4321"]));
    assert!(!has(&["-u", "root"]));
    assert!(!has(&["--container", "docker"]));
    let compared = stdout(&capls(["--compare", "docker", &pid.to_string()]));
    let row = compared.lines().nth(1).unwrap();
    assert!(
        row.contains(" docker -dac_override,fowner,fsetid,"),
        "{compared}"
    );
    let docker = json_records(&["--compare", "docker", &pid.to_string()]);
    assert_eq!(
        docker[0]["compare"]["missing"]["caps"]
            .as_array()
            .unwrap()
            .len(),
        12
    );
    assert_eq!(docker[0]["compare"]["extra"]["hex"], "0000000000000000");
    let oci = json_records(&["--compare", "oci", &pid.to_string()]);
    assert_eq!(oci[0]["compare"]["preset"], "oci");
    assert_eq!(
        oci[0]["compare"]["extra"]["caps"],
        serde_json::json!(["cap_chown", "cap_net_raw"])
    );
    let bad = capls(["--cap", "cap_nonsense"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn long_form_shows_every_fact() {
    let child = TestChild::spawn(["--name", "long-form"]);
    let long = stdout(&capls(["-l", &child.pid.to_string()]));
    for label in [
        "command",
        "uids",
        "effective",
        "permitted",
        "inheritable",
        "bounding",
        "ambient",
        "securebits",
        "no_new_privs",
        "seccomp",
        "user namespace",
        "cgroup",
        "container",
        "threads",
    ] {
        assert!(
            long.lines().any(|l| l.trim_start().starts_with(label)),
            "{label} missing:\n{long}"
        );
    }
    // The suite's long form of a set, after its hex mask.
    assert!(
        long.lines()
            .any(|l| l.trim_start() == "ambient        0000000000000000 none"),
        "{long}"
    );
}

/// Whether `text` has `word` as a whole word (`--user`, not `--userns`).
fn has_word(text: &str, word: &str) -> bool {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
        .any(|w| w == word)
}

#[test]
fn completions_are_generated() {
    for shell in ["bash", "zsh", "fish"] {
        for flag in ["--generate", "--generate-completions"] {
            let script = stdout(&capls([flag, shell]));
            assert!(script.contains("capls"), "{flag} {shell}");
            assert!(script.contains("compare"), "{flag} {shell}");
            assert!(script.contains("euid"), "{flag} {shell}");
            // Hidden: neither the alias nor the packaging switch is offered.
            assert!(!has_word(&script, "--user"), "{flag} {shell}");
            assert!(!script.contains("-l user "), "{flag} {shell}");
            assert!(!script.contains("generate"), "{flag} {shell}");
        }
    }
    let man = stdout(&capls(["--generate", "man"]));
    assert!(man.contains(".TH capls 1"), "{man}");
    let help = stdout(&capls(["--help"]));
    assert!(!help.contains("generate"));
    assert!(help.contains("permitted but not effective"));
}

/// The capabilities of a child that rows used to wrap at 100 columns: audit_write far to the right.
const LONG_LIST: &str = "chown,dac_override,fowner,fsetid,kill,setgid,setuid,setpcap,net_bind_service,net_raw,sys_chroot,mknod,audit_write,setfcap,sys_ptrace";

/// Runs `command` (a shell command line) on a pseudo-terminal with `script`, and returns what it wrote
/// there, with the terminal's CR LF turned back into LF; `None` when util-linux's script is missing.
fn on_a_terminal(command: &str) -> Option<String> {
    let script = crate::util::tool("script")?;
    let output = Command::new(script)
        .args(["-qec", command, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run script");
    assert!(output.status.success(), "{command}: {output:?}");
    Some(String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n"))
}

#[test]
fn on_a_terminal_rows_fit_its_width_and_no_color_is_honoured() {
    require_root!();
    // Our own rows: a long capability list that wraps, a thread of its own, and a hostile name, which may
    // widen its own row by what its escaped form has beyond the COMMAND column's 16 characters, no more.
    let wide = TestChild::spawn([
        "--name",
        "wide-caps",
        "--thread",
        "--effective",
        "none",
        "--main",
        "--permitted",
        LONG_LIST,
    ]);
    let hostile = TestChild::spawn(["--name", "h\\e[2J\\n\\xff\\xfe\\x9b"]);
    let escaped = "h\\x1b[2J\\n\\xff\\xfe\\x9b";
    let bin = env!("CARGO_BIN_EXE_capls");
    let pids = format!("{} {}", wide.pid, hostile.pid);
    let Some(plain) = on_a_terminal(&format!("env COLUMNS=60 NO_COLOR=1 {bin} -t {pids}")) else {
        crate::util::skipped("util-linux script is not installed");
        return;
    };
    assert!(!plain.contains('\x1b'), "NO_COLOR, yet colour: {plain:?}");
    assert!(plain.lines().count() >= 6, "{plain}");
    for line in plain.lines() {
        let allowed = if line.contains(escaped) {
            60 + escaped.chars().count() - 16
        } else {
            60
        };
        assert!(
            capcli::term::display_width(line) <= allowed,
            "too wide: {line}\n{plain}"
        );
    }
    // Without NO_COLOR a terminal is coloured (the header at least), and still fits.
    let coloured = on_a_terminal(&format!("env -u NO_COLOR COLUMNS=60 {bin} -t {pids}"))
        .expect("script ran once");
    assert!(coloured.starts_with("\x1b[1m"), "{coloured:?}");
    for line in coloured.lines().filter(|l| !l.contains(escaped)) {
        assert!(
            capcli::term::display_width(line) <= 60,
            "too wide: {line}\n{coloured}"
        );
    }
    // The long form and the tree too.
    for view in ["-l", "--tree"] {
        let text = on_a_terminal(&format!("env COLUMNS=60 {bin} {view} {}", wide.pid))
            .expect("script ran once");
        for line in text.lines() {
            assert!(
                capcli::term::display_width(line) <= 60,
                "{view}: too wide: {line}\n{text}"
            );
        }
    }
}

/// The table's columns are the same whatever its rows (TID included, thread rows or not), and nothing
/// found prints nothing, header included, with exit 0, as grep prints nothing.
#[test]
fn columns_are_fixed_and_nothing_found_prints_nothing() {
    let me = std::process::id().to_string();
    let out = capls(["-a", &me]);
    let text = stdout(&out);
    let header: Vec<&str> = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "PID",
            "TID",
            "PPID",
            "USER",
            "FLAGS",
            "COMMAND",
            "CAPABILITIES"
        ],
        "{text}"
    );
    let none = capls(["--cap", "cap_mac_admin", "-u", "4242424", &me]);
    assert_eq!(none.status.code(), Some(0));
    assert_eq!(stdout(&none), "");
}

/// On a terminal too narrow for a capability name, names are wrapped between, never cut: every piece of
/// the capabilities column is a whole name.
#[test]
fn on_a_narrow_terminal_capability_names_are_never_cut() {
    require_root!();
    let child = TestChild::spawn([
        "--name",
        "narrow-caps",
        "--permitted",
        "net_bind_service,dac_read_search,sys_admin",
    ]);
    let bin = env!("CARGO_BIN_EXE_capls");
    for columns in [30, 44, 52] {
        let Some(text) = on_a_terminal(&format!(
            "env COLUMNS={columns} NO_COLOR=1 {bin} {}",
            child.pid
        )) else {
            crate::util::skipped("util-linux script is not installed");
            return;
        };
        let names: Vec<&str> = text
            .lines()
            .skip(1)
            .flat_map(|line| line.split([' ', ',', '(', ')']))
            .filter(|w| w.contains('_') || ["kill", "chown"].contains(w))
            .collect();
        for name in ["net_bind_service", "dac_read_search", "sys_admin"] {
            assert!(
                names.contains(&name),
                "{columns} columns: {name} cut or missing:\n{text}"
            );
        }
    }
}

#[test]
fn into_a_pipe_each_row_is_one_whole_line_without_colour() {
    require_root!();
    // `capls | grep audit_write` must find the row with its PID: nothing wraps into a pipe, whatever
    // COLUMNS says.
    let wide = TestChild::spawn(["--name", "wide-caps-name!", "--permitted", LONG_LIST]);
    let pid = wide.pid.to_string();
    let row_of = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.split_whitespace().next() == Some(pid.as_str()))
            .map(str::to_string)
            .collect()
    };
    let output = Command::new(env!("CARGO_BIN_EXE_capls"))
        .env("COLUMNS", "60")
        .output()
        .expect("run capls");
    assert!(!output.stdout.contains(&0x1b), "colour into a pipe");
    let table = stdout(&output);
    let rows = row_of(&table);
    assert_eq!(rows.len(), 1, "{table}");
    assert!(rows[0].contains("wide-caps-name!"), "{}", rows[0]);
    for cap in LONG_LIST.split(',') {
        assert!(rows[0].contains(cap), "{cap} not on the row: {}", rows[0]);
    }
    // What grep sees: the matching line of our process is the whole row.
    let grep: Vec<&str> = table
        .lines()
        .filter(|l| l.contains("audit_write"))
        .filter(|l| l.contains("wide-caps-name!"))
        .collect();
    assert_eq!(grep, [rows[0].as_str()]);
    // Every line of the table is a row starting with a PID, or the header.
    for line in table.lines().skip(1) {
        let first = line.split_whitespace().next().unwrap_or("");
        assert!(first.parse::<u32>().is_ok(), "a continuation line: {line}");
    }
    let tree = stdout(&capls(["--tree", &pid]));
    assert!(!tree.contains('\x1b'));
    let node = tree
        .lines()
        .find(|l| l.contains(&format!("({pid})")))
        .unwrap_or_else(|| panic!("{tree}"));
    assert!(
        node.contains("audit_write") && node.contains("sys_ptrace"),
        "{tree}"
    );
    let long = stdout(&capls(["-l", &pid]));
    assert!(!long.contains('\x1b'));
    let permitted = long
        .lines()
        .find(|l| l.trim_start().starts_with("permitted"))
        .unwrap_or_else(|| panic!("{long}"));
    assert!(
        permitted.contains("cap_audit_write,") && permitted.contains("(15 of "),
        "{permitted}"
    );
}

#[test]
fn color_always_paints_root_equivalent_capabilities() {
    require_root!();
    let child = TestChild::spawn(["--permitted", "kill,sys_admin"]);
    let pid = child.pid.to_string();
    let table = stdout(&capls(["--color", "always", &pid]));
    assert!(table.contains("\x1b[1;31msys_admin\x1b[0m"), "{table:?}");
    // Not root-equivalent: plain.
    assert!(
        table.contains(",kill") || table.contains("kill,"),
        "{table:?}"
    );
    assert!(!table.contains("mkill"), "{table:?}");
    let long = stdout(&capls(["--color", "always", "-l", &pid]));
    assert!(long.contains("\x1b[1;31mcap_sys_admin\x1b[0m"), "{long:?}");
    let never = stdout(&capls(["--color", "never", &pid]));
    assert!(!never.contains('\x1b'));
    // JSON is never coloured.
    let json = stdout(&capls(["--color", "always", "--json", &pid]));
    assert!(!json.contains('\x1b'), "{json}");
}

#[test]
fn a_missing_pid_is_an_error_reported_after_the_others() {
    let alive = TestChild::spawn(["--name", "still-here"]);
    let mut gone = TestChild::spawn(["--exit-after", "30"]);
    let missing = gone.pid.to_string();
    gone.kill();
    // stdout and stderr into one pipe, to see their order.
    let output = Command::new("sh")
        .args(["-c", "exec \"$0\" \"$@\" 2>&1", env!("CARGO_BIN_EXE_capls")])
        .args([&missing, &alive.pid.to_string()])
        .output()
        .expect("run capls");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[1].contains("still-here"), "{text}");
    assert_eq!(lines[2], format!("capls: {missing}: no such process"));
}

#[test]
fn a_long_command_line_is_cut_on_a_terminal_only() {
    // Three arguments of 60,000 bytes (one may have at most 128 KiB): 180 KB of command line, which on a
    // terminal would fill thousands of lines.
    let arg = "x".repeat(60_000);
    let mut child = Command::new("sh")
        .args(["-c", "read line", "sh", &arg, &arg, &arg])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sh");
    struct Reap<'a>(&'a mut std::process::Child);
    impl Drop for Reap<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let pid = child.id().to_string();
    let _reap = Reap(&mut child);
    // Until sh has executed, its command line is still the test's own: wait (at most 10 s) for the exec.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read(format!("/proc/{pid}/cmdline")).map_or(0, |c| c.len()) < 3 * arg.len() {
        assert!(std::time::Instant::now() < deadline, "sh never executed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let total = ["sh", "-c", "read line", "sh"]
        .iter()
        .map(|a| a.len())
        .sum::<usize>()
        + 3 * arg.len()
        + 6;

    let bin = env!("CARGO_BIN_EXE_capls");
    let Some(text) = on_a_terminal(&format!("env COLUMNS=80 {bin} -l {pid}")) else {
        crate::util::skipped("util-linux script is not installed");
        return;
    };
    assert!(text.lines().count() < 30, "{text}");
    let note = text
        .lines()
        .find_map(|l| l.split("… (").nth(1))
        .unwrap_or_else(|| panic!("no note of what was cut: {text}"));
    let count = note
        .strip_suffix(" more bytes)\x1b[0m")
        .or_else(|| note.strip_suffix(" more bytes)"))
        .unwrap_or_else(|| panic!("{note:?}"));
    assert!(count.contains(','), "not grouped: {count}");
    let left_out: usize = count.replace(',', "").parse().expect("a number");
    assert!(
        left_out > total - 400 && left_out < total,
        "{left_out} of {total}"
    );

    // Into a pipe the command line is whole, on one line; in JSON every argument is whole.
    let long = stdout(&capls(["-l", &pid]));
    let command = long
        .lines()
        .find(|l| l.trim_start().starts_with("command"))
        .unwrap_or_else(|| panic!("{long}"));
    assert!(command.ends_with(&format!("sh -c read line sh {arg} {arg} {arg}")));
    assert!(!long.contains("more bytes"));
    let records = json_records(&[&pid]);
    assert_eq!(
        records[0]["cmdline"],
        serde_json::json!(["sh", "-c", "read line", "sh", arg, arg, arg])
    );
}

#[test]
fn euid_filters_by_effective_uid_and_user_is_its_old_name() {
    require_root!();
    let root = TestChild::spawn(["--name", "euid-root"]);
    let nobody = TestChild::spawn(["--name", "euid-nobody", "--uid", "0,65534,0"]);
    let pids = [root.pid.to_string(), nobody.pid.to_string()];
    for flag in ["-u", "--euid", "--user"] {
        let only = |uid: &str| {
            let mut args = vec![flag, uid];
            args.extend(pids.iter().map(String::as_str));
            json_records(&args)
                .iter()
                .map(|r| r["pid"].as_u64().unwrap_or(0) as u32)
                .collect::<Vec<u32>>()
        };
        assert_eq!(only("65534"), [nobody.pid], "{flag}");
        assert_eq!(only("0"), [root.pid], "{flag}");
    }
    let help = stdout(&capls(["--help"]));
    assert!(help.contains("--euid"), "{help}");
    assert!(!has_word(&help, "--user"), "the old name is hidden: {help}");
}

#[test]
fn help_is_short_with_h_and_ends_with_examples_with_help() {
    let short = stdout(&capls(["-h"]));
    let long = stdout(&capls(["--help"]));
    assert!(short.len() < long.len());
    assert!(short.contains("Exit status: 0 done; 2 an error"), "{short}");
    assert!(!short.contains("FLAGS column"), "{short}");
    assert!(long.contains("FLAGS column"), "{long}");
    assert!(long.contains("Exit status: 0 done; 2 an error"), "{long}");
    let examples = long.find("\nExamples:\n").expect("an Examples section");
    assert!(long[examples..].matches("\n  capls").count() >= 3, "{long}");
    // Nothing follows the examples but the last explanation.
    let last = long.trim_end().lines().last().unwrap_or("");
    assert!(last.starts_with("      "), "{last}");
    // clap wraps paragraphs whole: at 80 columns no line is longer (the legend's table fits in 80).
    let narrow = Command::new(env!("CARGO_BIN_EXE_capls"))
        .env("COLUMNS", "80")
        .arg("--help")
        .output()
        .expect("run capls");
    for line in stdout(&narrow).lines() {
        assert!(line.chars().count() <= 80, "too wide: {line}");
    }
}

/// The capability text of our own process `pid` in `pscap -a`'s raw output, without its markers (` @`, ` +`,
/// and `*` after the name), found by what we know of the row: it starts with our pid as its parent and
/// `pid`, and then, after the user, the name we gave the child, printed raw (pscap does not escape it, so a
/// name with a newline spreads one row over two lines). `None` when pscap printed no such row.
fn pscap_caps_of(raw: &[u8], pid: u32, name: &[u8]) -> Option<String> {
    let head = format!("{} ", std::process::id());
    let mut found = Vec::new();
    let mut at = 0;
    while at < raw.len() {
        let line_end = raw[at..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(raw.len(), |n| at + n);
        if let Some(caps) = raw[at..]
            .strip_prefix(head.as_bytes())
            .and_then(|rest| pscap_row_caps(rest, pid, name))
        {
            found.push(caps);
        }
        at = line_end + 1;
    }
    assert!(found.len() <= 1, "pscap printed {pid} twice: {found:?}");
    found.pop()
}

/// After `PPID `: `PID USER NAME[ *]  CAPS[ @][ +]` up to the end of the line.
fn pscap_row_caps(rest: &[u8], pid: u32, name: &[u8]) -> Option<String> {
    let rest = rest
        .trim_ascii_start()
        .strip_prefix(pid.to_string().as_bytes())?;
    let rest = rest.strip_prefix(b" ")?.trim_ascii_start();
    let user_end = rest.iter().position(u8::is_ascii_whitespace)?;
    let rest = rest[user_end..].trim_ascii_start().strip_prefix(name)?;
    let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let text = std::str::from_utf8(&rest[..end]).ok()?;
    let mut words: Vec<&str> = text.split_whitespace().collect();
    if words.first() == Some(&"*") {
        words.remove(0);
    }
    while words.last().is_some_and(|w| ["+", "@"].contains(w)) {
        words.pop();
    }
    Some(words.join(" "))
}

#[test]
fn pscap_and_capls_agree_on_the_tests_own_processes() {
    require_root!();
    let Some(pscap) = crate::util::tool("pscap") else {
        crate::util::skipped("pscap is not installed (apt-get install libcap-ng-utils)");
        return;
    };
    // Our own processes, in states pscap can show: a few capabilities, ambient ones, another user
    // namespace, everything the test holds, and a name that pscap prints raw (an escape and a newline).
    let hostile = b"x\x1b[31m\nfake 1 0".to_vec();
    let children: Vec<(TestChild, Vec<u8>)> = [
        (
            &[
                "--permitted",
                "chown,setuid,net_raw",
                "--effective",
                "chown,setuid,net_raw",
            ][..],
            "pscap-some",
        ),
        (
            &[
                "--permitted",
                "kill,net_admin",
                "--effective",
                "kill",
                "--inheritable",
                "kill,net_admin",
                "--ambient",
                "net_admin",
            ][..],
            "pscap-ambient",
        ),
        (&["--userns"][..], "pscap-userns"),
        (&[][..], "pscap-all"),
        (
            &["--permitted", "sys_chroot,mknod", "--effective", "mknod"][..],
            "x\\e[31m\\nfake 1 0",
        ),
    ]
    .into_iter()
    .map(|(actions, name)| {
        let mut args: Vec<OsString> = vec!["--name".into(), name.into()];
        args.extend(actions.iter().map(OsString::from));
        let child = TestChild::spawn(args);
        let comm = std::fs::read(format!("/proc/{}/comm", child.pid)).expect("comm");
        (child, comm.strip_suffix(b"\n").unwrap_or(&comm).to_vec())
    })
    .collect();
    assert_eq!(children[4].1, hostile, "the child's name");
    let output = Command::new(pscap).arg("-a").output().expect("run pscap");
    let pids: Vec<String> = children.iter().map(|(c, _)| c.pid.to_string()).collect();
    let mut args = vec!["--json"];
    args.extend(pids.iter().map(String::as_str));
    let records = stdout(&capls(&args))
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("JSON"))
        .collect::<Vec<_>>();
    let known = capsys::kernel::known_caps_or_default();
    let all_hex = format!("{:016x}", (1u64 << known) - 1);
    for (child, name) in &children {
        let record = record_for(&records, child.pid);
        assert_matches_status(record, child.pid, child.pid);
        let caps = pscap_caps_of(&output.stdout, child.pid, name).unwrap_or_else(|| {
            panic!(
                "pscap -a has no row for our child {} ({:?}):\n{}",
                child.pid,
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(&output.stdout)
            )
        });
        if caps == "full" {
            assert_eq!(record["effective"]["hex"], all_hex.as_str(), "{record}");
        } else {
            let names: Vec<String> = record["permitted"]["caps"]
                .as_array()
                .expect("caps")
                .iter()
                .map(|n| {
                    n.as_str()
                        .unwrap_or("")
                        .trim_start_matches("cap_")
                        .to_string()
                })
                .collect();
            assert_eq!(
                caps,
                names.join(", "),
                "permitted set of {}: {record}",
                child.pid
            );
        }
    }
    // capls escapes the name pscap printed raw.
    let table = stdout(&capls(&pids));
    assert!(table.contains("x\\x1b[31m\\nfake 1 0"), "{table}");
    assert!(!table.contains('\x1b'), "{table}");
}

#[test]
fn what_permission_hides_is_unknown_not_empty() {
    require_root!();
    use std::os::unix::process::CommandExt;
    // As nobody, the namespace links of root's processes cannot be read.
    let as_nobody = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_capls"))
            .args(args)
            .uid(65534)
            .gid(65534)
            .output()
            .expect("run capls as nobody")
    };
    // Our own root process, whose namespace link nobody may not read.
    let child = TestChild::spawn(["--name", "root-owned"]);
    let pid = child.pid.to_string();
    let json = stdout(&as_nobody(&["--json", &pid]));
    let record: Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(record["userns"]["inode"], Value::Null, "{record}");
    assert_eq!(record["userns"]["is_host"], Value::Null, "{record}");
    assert!(record["permitted"]["hex"].is_string());
    let table = stdout(&as_nobody(&[&pid]));
    let flags = table
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .nth(4)
        .unwrap();
    assert!(flags.contains('?'), "{table}");
    let long = stdout(&as_nobody(&["-l", &pid]));
    assert!(long.contains("user namespace unknown"), "{long}");
}

/// A cgroup named like a Docker container's, removed (with the test child in it killed) on drop.
struct FakeContainer {
    dirs: Vec<std::path::PathBuf>,
}

impl FakeContainer {
    /// Makes `docker/<id>` in the cgroup v1 pids hierarchy, or `docker-<id>.scope` in a cgroup v2 root.
    fn new(id: &str) -> Option<(FakeContainer, std::path::PathBuf)> {
        let v1 = std::path::Path::new("/sys/fs/cgroup/pids");
        let v2 = std::path::Path::new("/sys/fs/cgroup");
        let mut dirs = Vec::new();
        let leaf = if v1.join("cgroup.procs").exists() {
            let parent = v1.join("docker");
            if !parent.exists() {
                std::fs::create_dir(&parent).ok()?;
                dirs.push(parent.clone());
            }
            parent.join(id)
        } else if v2.join("cgroup.controllers").exists() {
            v2.join(format!("docker-{id}.scope"))
        } else {
            return None;
        };
        std::fs::create_dir(&leaf).ok()?;
        dirs.push(leaf.clone());
        Some((FakeContainer { dirs }, leaf))
    }
}

impl Drop for FakeContainer {
    fn drop(&mut self) {
        for dir in self.dirs.iter().rev() {
            // A cgroup can be removed once its last process has exited; the child is killed first.
            for _ in 0..50 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

#[test]
fn names_the_container_from_the_cgroup_path() {
    require_root!();
    let id = format!("{:016x}", std::process::id()).repeat(4);
    let Some((cgroup, leaf)) = FakeContainer::new(&id) else {
        crate::util::skipped("no writable cgroup hierarchy");
        return;
    };
    let mut child = TestChild::spawn(["--name", "in-container"]);
    std::fs::write(leaf.join("cgroup.procs"), child.pid.to_string()).expect("move child");
    let records = json_records(&["--container", &id[..12]]);
    let ours: Vec<&Value> = records.iter().filter(|r| r["pid"] == child.pid).collect();
    assert_eq!(ours.len(), 1, "{records:#?}");
    assert_eq!(ours[0]["container"]["runtime"], "docker");
    assert_eq!(ours[0]["container"]["id"], id.as_str());
    assert!(json_records(&["--container", "docker"])
        .iter()
        .any(|r| r["pid"] == child.pid));
    assert!(!json_records(&["--container", "podman"])
        .iter()
        .any(|r| r["pid"] == child.pid));
    let long = stdout(&capls(["-l", &child.pid.to_string()]));
    assert!(
        long.contains(&format!("container      docker {id}")),
        "{long}"
    );
    child.kill();
    drop(cgroup);
}

#[test]
fn securebits_are_shown_for_capls_itself() {
    require_root!();
    // The child sets securebits and then becomes capls: keep_caps is cleared by exec, the rest survive.
    let output = Command::new(crate::util::helper("capkit-test-child"))
        .args(["--securebits", "noroot,noroot_locked,keep_caps", "--exec"])
        .arg(env!("CARGO_BIN_EXE_capls"))
        .args(["--json", "-a"])
        .output()
        .expect("run capls through the child");
    let text = stdout(&output);
    let own: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|r| !r["securebits"].is_null())
        .collect();
    assert_eq!(own.len(), 1, "{text}");
    assert_eq!(
        own[0]["securebits"],
        serde_json::json!({"value": 3, "hex": "0x003", "bits": ["noroot", "noroot_locked"]})
    );
    // With noroot, root gained nothing at exec.
    assert_eq!(own[0]["permitted"]["hex"], "0000000000000000");
    assert_eq!(own[0]["comm"], "capls");
}

#[test]
fn an_empty_argv_is_one_empty_argument_not_a_kernel_thread() {
    // execve(path, {NULL}, env): since Linux 5.18 the kernel gives the program one empty argument, so its
    // command line is a single NUL, while a kernel thread's has no bytes at all.
    let child = TestChild::spawn([
        OsString::from("--exec-empty-argv"),
        OsString::from(crate::util::helper("capkit-test-child")),
    ]);
    let pid = child.pid.to_string();
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).expect("read cmdline");
    let expected = if raw.is_empty() {
        // A kernel before 5.18 leaves argv empty: then there is no argument to show.
        serde_json::json!([])
    } else {
        assert_eq!(raw, b"\0", "the kernel's command line");
        serde_json::json!([""])
    };
    let records = json_records(&[&pid]);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["cmdline"], expected, "{}", records[0]);
    assert_eq!(records[0]["kernel_thread"], false, "{}", records[0]);
    let long = stdout(&capls(["-l", &pid]));
    let command = long
        .lines()
        .find(|l| l.trim_start().starts_with("command"))
        .unwrap_or_else(|| panic!("no command line:\n{long}"));
    assert!(!command.contains("kernel thread"), "{long}");
    if !raw.is_empty() {
        assert!(command.ends_with("\"\""), "{long}");
    }
}

#[test]
fn kernel_threads_are_known_by_the_kernels_mark() {
    let Some(kthreadd) = kthreadd() else {
        crate::util::skipped("PID 2 is not kthreadd (a PID namespace)");
        return;
    };
    let records = json_records(&["-a", &kthreadd.to_string()]);
    assert_eq!(records[0]["kernel_thread"], true, "{}", records[0]);
    assert_eq!(records[0]["cmdline"], serde_json::json!([]));
    let long = stdout(&capls(["-l", &kthreadd.to_string()]));
    assert!(long.contains("(none: kernel thread)"), "{long}");
    // Listed with -k only, as kernel threads.
    // kthreadd is pid 2 wherever the kernel's threads are visible (not in a PID namespace of our own).
    let kthreadd = std::fs::read_to_string("/proc/2/status")
        .is_ok_and(|s| s.lines().any(|l| l == "Name:\tkthreadd"));
    if kthreadd {
        let with_k = json_records(&["-k"]);
        assert!(with_k
            .iter()
            .any(|r| r["pid"] == 2 && r["kernel_thread"] == true));
    }
    assert!(!json_records(&["-a"])
        .iter()
        .any(|r| r["kernel_thread"] == true));
    // Our own child is not one, whoever its parent.
    let child = TestChild::spawn(["--name", "not-a-kthread"]);
    let records = json_records(&[&child.pid.to_string()]);
    assert_eq!(records[0]["kernel_thread"], false, "{}", records[0]);
}

/// PID 2 when it is kthreadd (outside a PID namespace).
fn kthreadd() -> Option<u32> {
    let status = task_status(2, 2);
    (status_value(&status, "Name") == "kthreadd" && status_value(&status, "PPid") == "0")
        .then_some(2)
}

/// Sets /proc/sys/kernel/core_pattern and puts the old one back when dropped, also when the test fails.
struct CorePattern {
    old: Vec<u8>,
}

impl CorePattern {
    const PATH: &'static str = "/proc/sys/kernel/core_pattern";

    fn set(pattern: &str) -> std::io::Result<CorePattern> {
        let old = std::fs::read(Self::PATH)?;
        std::fs::write(Self::PATH, pattern)?;
        Ok(CorePattern { old })
    }
}

impl Drop for CorePattern {
    fn drop(&mut self) {
        if let Err(err) = std::fs::write(Self::PATH, &self.old) {
            eprintln!("could not restore {}: {err}", Self::PATH);
        }
    }
}

/// The processes kthreadd started for our core_pattern, killed when dropped: they are not our children.
struct Helpers {
    name: String,
}

impl Helpers {
    /// The pids of kthreadd's children named `name`.
    fn pids(&self) -> Vec<u32> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
                    return false;
                };
                let field = |label: &str| {
                    status
                        .lines()
                        .find_map(|l| l.strip_prefix(label)?.strip_prefix(":\t"))
                        .map(str::to_string)
                };
                field("Name").as_deref() == Some(self.name.as_str())
                    && field("PPid").as_deref() == Some("2")
            })
            .collect()
    }
}

impl Drop for Helpers {
    fn drop(&mut self) {
        for pid in self.pids() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

#[test]
fn a_usermode_helper_under_kthreadd_is_a_user_process() {
    require_root!();
    if kthreadd().is_none() {
        crate::util::skipped("PID 2 is not kthreadd (a PID namespace)");
        return;
    }
    // The kernel runs a core_pattern pipe's program as a usermode helper: a child of kthreadd, root, with
    // every capability. A short link keeps the pattern within the kernel's 128 bytes.
    let dir = tempfile::tempdir().expect("temp dir");
    let helper = dir.path().join("h");
    std::os::unix::fs::symlink(crate::util::helper("capkit-test-child"), &helper).expect("link");
    let name = format!("umh{}", std::process::id());
    let helpers = Helpers { name: name.clone() };
    let pattern = format!(
        "|{} --name {name} --drain-stdin --exit-after 30",
        helper.display()
    );
    let found = {
        let Ok(_pattern) = CorePattern::set(&pattern) else {
            crate::util::skipped("cannot write /proc/sys/kernel/core_pattern");
            return;
        };
        // A pipe ignores RLIMIT_CORE (only 1 stops it); the shell raises it anyway.
        let mut dumper = Command::new("sh")
            .args(["-c", "ulimit -c unlimited 2>/dev/null; kill -s SEGV $$"])
            .spawn()
            .expect("spawn sh");
        let start = Instant::now();
        let mut found = Vec::new();
        while start.elapsed() < Duration::from_secs(10) {
            found = helpers.pids();
            let exited = dumper.try_wait().ok().flatten().is_some();
            if !found.is_empty() && exited {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = dumper.kill();
        let _ = dumper.wait();
        found
    };
    let &[pid] = found.as_slice() else {
        panic!("expected one usermode helper named {name}, found {found:?}");
    };
    let status = task_status(pid, pid);
    assert_eq!(status_value(&status, "PPid"), "2");
    // The default listing shows it: a user process holding capabilities.
    let records = json_records(&[]);
    let record = record_for(&records, pid);
    assert_matches_status(record, pid, pid);
    assert_eq!(record["kernel_thread"], false, "{record}");
    assert_eq!(record["ppid"], 2);
    assert_eq!(record["comm"], name.as_str());
    assert_eq!(
        record["cmdline"][1].as_str(),
        Some("--name"),
        "the helper's arguments: {record}"
    );
    let table = stdout(&capls(Vec::<&str>::new()));
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().next() == Some(&pid.to_string()) && l.contains(&name)),
        "{table}"
    );
    let all = json_records(&["-a"]);
    assert_eq!(record_for(&all, pid)["kernel_thread"], false);
    drop(helpers);
}

/// The /proc paths `capls ARGS` opens (status files) and reads as links (namespaces), traced with strace.
fn traced_paths(strace: &std::path::Path, args: &[&str]) -> (Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("strace");
    let output = Command::new(strace)
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=open,openat,readlink,readlinkat",
            "-o",
        ])
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_capls"))
        .args(args)
        .output()
        .expect("run strace");
    assert!(output.status.success(), "{output:?}");
    let trace = std::fs::read_to_string(&log).expect("strace log");
    let mut opened = Vec::new();
    let mut links = Vec::new();
    for line in trace.lines() {
        let Some(path) = line.split('"').nth(1) else {
            continue;
        };
        if line.contains("open(") || line.contains("openat(") {
            opened.push(path.to_string());
        } else if line.contains("readlink") {
            links.push(path.to_string());
        }
    }
    (opened, links)
}

/// The pid in `/proc/PID/...`, when PID is a kernel thread's.
fn kernel_thread_of(path: &str) -> Option<u32> {
    let pid: u32 = path
        .strip_prefix("/proc/")?
        .split('/')
        .next()?
        .parse()
        .ok()?;
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .is_ok_and(|s| s.lines().any(|l| l == "Kthread:\t1"))
        .then_some(pid)
}

#[test]
fn a_listing_reads_each_status_once_and_kernel_threads_only_with_k() {
    require_root!();
    let Some(strace) = crate::util::tool("strace") else {
        crate::util::skipped("strace is not installed");
        return;
    };
    if kthreadd().is_none() {
        crate::util::skipped("PID 2 is not kthreadd (a PID namespace)");
        return;
    }
    // -a, as pscap -a: no kernel thread's status or namespace (only its stat, for the mark, and kthreadd's
    // list of children).
    let (opened, links) = traced_paths(&strace, &["-a"]);
    let statuses: Vec<&String> = opened.iter().filter(|p| p.ends_with("/status")).collect();
    assert!(statuses.len() > 3, "{opened:?}");
    let kernel: Vec<&String> = opened
        .iter()
        .chain(&links)
        .filter(|p| p.ends_with("/status") || p.contains("/ns/"))
        .filter(|p| kernel_thread_of(p).is_some())
        .collect();
    assert!(
        kernel.is_empty(),
        "kernel threads read without -k: {kernel:?}"
    );
    // -a -k: every status once, and one kernel thread's namespace link for all (one per reading thread).
    let (opened, links) = traced_paths(&strace, &["-a", "-k"]);
    let mut seen = std::collections::HashSet::new();
    let twice: Vec<&String> = opened
        .iter()
        .filter(|p| p.ends_with("/status") && !seen.insert(p.as_str()))
        .collect();
    assert!(twice.is_empty(), "status files opened twice: {twice:?}");
    assert!(
        seen.iter().any(|p| kernel_thread_of(p).is_some()),
        "{seen:?}"
    );
    let kernel_links: Vec<&String> = links
        .iter()
        .filter(|p| p.ends_with("/ns/user") && kernel_thread_of(p).is_some())
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        kernel_links.len() <= cores,
        "one kernel thread's namespace link is every kernel thread's: {kernel_links:?}"
    );
}

#[test]
fn a_closed_pipe_ends_the_listing_quietly() {
    // capls starts without std's runtime setup (capcli::start), which is what ignores SIGPIPE in
    // other Rust programs: writing to a reader that has gone must still end with 0 and say nothing.
    let mut child = Command::new(env!("CARGO_BIN_EXE_capls"))
        .args(["-a", "-t", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run capls");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait for capls");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .lines()
            .all(|l| l.starts_with("capls: note: skipped ")),
        "{stderr}"
    );
}
