//! capdecode end to end: every input form, standard input, --json, --text, --explain, errors and exit codes.

use crate::util::run;

fn decode(args: &[&str]) -> crate::util::Run {
    run("capdecode", args, None)
}

#[test]
fn hex_mask_to_names() {
    let out = decode(&["3fffffffff"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out
        .stdout
        .starts_with("3fffffffff\n  caps         0000003fffffffff  cap_chown,"));
    assert!(out.stdout.contains("cap_audit_read (38)"), "{}", out.stdout);
    for form in ["0x3fffffffff", "0000003fffffffff", "0000003F, FFFFFFFF"] {
        let json = decode(&["--json", form]).json_lines();
        assert_eq!(json[0]["kind"], "mask", "{form}");
        assert_eq!(json[0]["set"]["hex"], "0000003fffffffff", "{form}");
    }
}

#[test]
fn human_layout_is_exact() {
    let out = decode(&["3fffffffff", "cap_net_raw+ep"]);
    let expected = "\
3fffffffff
  caps         0000003fffffffff  cap_chown, cap_dac_override, cap_dac_read_search, cap_fowner,
                                 cap_fsetid, cap_kill, cap_setgid, cap_setuid, cap_setpcap,
                                 cap_linux_immutable, cap_net_bind_service, cap_net_broadcast,
                                 cap_net_admin, cap_net_raw, cap_ipc_lock, cap_ipc_owner,
                                 cap_sys_module, cap_sys_rawio, cap_sys_chroot, cap_sys_ptrace,
                                 cap_sys_pacct, cap_sys_admin, cap_sys_boot, cap_sys_nice,
                                 cap_sys_resource, cap_sys_time, cap_sys_tty_config, cap_mknod,
                                 cap_lease, cap_audit_write, cap_audit_control, cap_setfcap,
                                 cap_mac_override, cap_mac_admin, cap_syslog, cap_wake_alarm,
                                 cap_block_suspend, cap_audit_read (38)

cap_net_raw+ep
  text         cap_net_raw=ep
  effective    0000000000002000  cap_net_raw
  inheritable  0000000000000000  (none)
  permitted    0000000000002000  cap_net_raw
";
    assert_eq!(out.stdout, expected, "\n{}", out.stdout);
    let text = decode(&["--text", "000001fffeffffff"]);
    let expected = "\
000001fffeffffff
  caps         cap_chown,cap_dac_override,cap_dac_read_search,cap_fowner,cap_fsetid,cap_kill,
               cap_setgid,cap_setuid,cap_setpcap,cap_linux_immutable,cap_net_bind_service,
               cap_net_broadcast,cap_net_admin,cap_net_raw,cap_ipc_lock,cap_ipc_owner,
               cap_sys_module,cap_sys_rawio,cap_sys_chroot,cap_sys_ptrace,cap_sys_pacct,
               cap_sys_admin,cap_sys_boot,cap_sys_nice,cap_sys_time,cap_sys_tty_config,cap_mknod,
               cap_lease,cap_audit_write,cap_audit_control,cap_setfcap,cap_mac_override,
               cap_mac_admin,cap_syslog,cap_wake_alarm,cap_block_suspend,cap_audit_read,cap_perfmon,
               cap_bpf,cap_checkpoint_restore
";
    assert_eq!(text.stdout, expected, "\n{}", text.stdout);
}

#[test]
fn names_to_mask() {
    let json = decode(&[
        "--json",
        "cap_net_raw,cap_sys_admin",
        "NET_RAW",
        "13",
        "41,Cap_Chown",
    ])
    .json_lines();
    let hexes: Vec<&str> = json
        .iter()
        .map(|r| r["set"]["hex"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        hexes,
        [
            "0000000000202000",
            "0000000000002000",
            "0000000000002000",
            "0000020000000001"
        ]
    );
    assert!(json.iter().all(|r| r["kind"] == "names"));
    assert_eq!(
        json[3]["set"]["caps"],
        serde_json::json!(["cap_chown", "41"])
    );
}

#[test]
fn libcap_text_to_sets() {
    let json = decode(&["--json", "=ep cap_sys_resource-ep"]).json_lines();
    assert_eq!(json[0]["kind"], "libcap");
    assert_eq!(json[0]["text"], "=ep cap_sys_resource-ep");
    assert_eq!(json[0]["effective"]["hex"], "000001fffeffffff");
    assert_eq!(json[0]["permitted"]["hex"], "000001fffeffffff");
    assert_eq!(json[0]["inheritable"]["hex"], "0000000000000000");
    let human = decode(&["cap_net_raw+ep-e"]);
    assert!(
        human.stdout.contains("  text         cap_net_raw=p\n"),
        "{}",
        human.stdout
    );
    assert!(
        human
            .stdout
            .contains("  effective    0000000000000000  (none)\n"),
        "{}",
        human.stdout
    );
}

#[test]
fn xattr_values_and_what_exec_does() {
    let json = decode(&[
        "--json",
        "security.capability=0x0100000200200000000000000000000000000000",
        "--xattr",
        "0x0100000300200000000000000000000000000000a0860100",
        "--xattr",
        "",
        "--xattr",
        "01000002002000000000000000000000000000000000",
        "--xattr",
        "0x01000001002000000000000000",
    ])
    .json_lines();
    assert_eq!(json.len(), 5);
    assert_eq!(
        (json[0]["version"].as_u64(), json[0]["effective"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(json[0]["getcap"], "cap_net_raw=ep");
    assert_eq!(json[0]["exec"]["outcome"], "honoured");
    assert_eq!(json[1]["rootid"], 100_000);
    assert_eq!(json[1]["exec"]["outcome"], "ignored");
    assert_eq!(json[2]["size"], 0);
    assert_eq!(json[2]["exec"]["outcome"], "EINVAL");
    assert_eq!(json[3]["exec"]["outcome"], "EINVAL");
    assert_eq!(json[4]["exec"]["outcome"], "EINVAL");
    // A v1 value runs at exec but getcap cannot read it.
    let v1 = decode(&["--json", "--xattr", "010000010020000000000000"]).json_lines();
    assert_eq!(v1[0]["exec"]["outcome"], "honoured");
    assert!(v1[0]["getcap"].is_null());
    let too_long = decode(&["--json", "--xattr", &"01000002".repeat(7)]).json_lines();
    assert_eq!(too_long[0]["exec"]["outcome"], "ERANGE");
}

#[test]
fn status_block_from_stdin() {
    let block = "Name:\tbash\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n\
                 CapBnd:\t000001fffeffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t3\n";
    // A whole status file has other lines; `grep` keeps just these, and capdecode skips the rest with --as.
    let grepped: String = block
        .lines()
        .filter(|l| !l.starts_with("Name"))
        .map(|l| format!("{l}\n"))
        .collect();
    let out = run("capdecode", &["--json"], Some(grepped.as_bytes()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json = out.json_lines();
    assert_eq!(json.len(), 1, "one block, one record");
    assert_eq!(json[0]["kind"], "status");
    assert_eq!(json[0]["bounding"]["hex"], "000001fffeffffff");
    assert_eq!(json[0]["no_new_privs"], true);
    assert_eq!(json[0]["seccomp"], "filter");
    assert_eq!(json[0]["seccomp_filters"], 3);
    assert_eq!(json[0]["text"], "=ep");
    let human = run("capdecode", &["--text"], Some(grepped.as_bytes()));
    assert!(
        human.stdout.contains("  text         =ep\n"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("  seccomp      filter (3 filters)\n"),
        "{}",
        human.stdout
    );
}

#[test]
fn a_bad_status_block_is_named_and_the_rest_decoded() {
    let input = "/proc/7/status:CapEff:\t00000000000000zz\n3fffffffff\nCapPrm:\t0x1x\n";
    let out = run("capdecode", &["--json"], Some(input.as_bytes()));
    assert_eq!(out.code, 2);
    assert_eq!(out.json_lines().len(), 1, "the mask still decodes");
    let errors: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("capdecode: /proc/7/status: CapEff: "),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with("capdecode: CapPrm:\\t0x1x: CapPrm: "),
        "{errors:?}"
    );
}

#[test]
fn grep_output_of_several_processes_splits_into_blocks() {
    let input = "/proc/1/status:CapEff:\t0000000000000000\n/proc/1/status:CapPrm:\t0000000000000000\n\
                 /proc/2/status:CapEff:\t0000000000002000\n/proc/2/status:CapPrm:\t0000000000002000\n";
    let json = run("capdecode", &["--json"], Some(input.as_bytes())).json_lines();
    assert_eq!(json.len(), 2);
    assert_eq!(json[0]["input"], "/proc/1/status");
    assert_eq!(
        json[1]["effective"]["caps"],
        serde_json::json!(["cap_net_raw"])
    );
}

#[test]
fn live_status_of_this_process() {
    let status = std::fs::read_to_string("/proc/self/status").expect("read own status");
    let out = run("capdecode", &["--json"], Some(status.as_bytes()));
    // Non-capability lines of a whole status file are not inputs capdecode knows: reported, not fatal.
    assert_eq!(out.code, 2);
    let json = out.json_lines();
    let own = capcore::CapStatus::parse(&status).expect("kernel status parses");
    let record = json
        .iter()
        .find(|r| r["kind"] == "status")
        .expect("a status record");
    assert_eq!(
        record["bounding"]["hex"],
        own.bounding.map(|s| s.hex()).unwrap_or_default()
    );
}

#[test]
fn securebits_by_number_and_name() {
    let json = decode(&[
        "--json",
        "--securebits",
        "0x2f",
        "--securebits",
        "noroot,noroot_locked",
    ])
    .json_lines();
    assert_eq!(json[0]["value"], 47);
    assert_eq!(
        json[0]["bits"],
        serde_json::json!([
            "noroot",
            "noroot_locked",
            "no_setuid_fixup",
            "no_setuid_fixup_locked",
            "keep_caps_locked"
        ])
    );
    assert_eq!(json[1]["value"], 3);
    let human = decode(&["--securebits", "0x30"]);
    assert!(
        human
            .stdout
            .contains("  keep_caps              set, locked"),
        "{}",
        human.stdout
    );
}

#[test]
fn explain_adds_descriptions() {
    let human = decode(&["--explain", "cap_net_raw"]);
    assert!(
        human
            .stdout
            .contains("cap_net_raw             use raw and packet sockets"),
        "{}",
        human.stdout
    );
    let json = decode(&["--json", "--explain", "cap_net_raw"]).json_lines();
    assert!(json[0]["descriptions"]["cap_net_raw"]
        .as_str()
        .unwrap_or("")
        .contains("raw"));
}

#[test]
fn bad_inputs_are_reported_and_the_rest_decoded() {
    let out = decode(&[
        "3ffg",
        "cap_net_raw",
        "0x1ffffffffffffffff",
        "cap_foo+e",
        "net_raw+ep",
    ]);
    assert_eq!(out.code, 2);
    assert_eq!(out.stdout.lines().next(), Some("cap_net_raw"));
    let errors: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        errors,
        [
            "capdecode: 3ffg: 'g' at column 4 is not a hex digit",
            "capdecode: 0x1ffffffffffffffff: wider than 64 bits: the digit at column 3 does not fit in a capability mask",
            "capdecode: cap_foo+e: unknown capability name 'cap_foo' at column 1",
            "capdecode: net_raw+ep: unknown capability name 'net_raw' at column 1 (libcap text needs the full name: cap_net_raw)",
        ]
    );
    assert_eq!(decode(&["--json", "64"]).code, 2);
    assert_eq!(decode(&["--bogus-flag"]).code, 2);
}

#[test]
fn hostile_input_is_escaped() {
    let out = run("capdecode", &[], Some(b"\x1b[31mred\x07,\xff\xfe\n"));
    assert_eq!(out.code, 2);
    assert!(!out.stderr.contains('\x1b'), "{:?}", out.stderr);
    assert!(out.stderr.contains("\\x1b[31mred\\x07"), "{:?}", out.stderr);
    assert!(out.stderr.contains("\\xff\\xfe"), "{:?}", out.stderr);
    let out = decode(&["--names", "cap_chown\n\x1b]0;title\x07"]);
    assert_eq!(out.code, 2);
    assert!(
        !out.stderr.contains('\x1b') && !out.stderr.contains('\x07'),
        "{:?}",
        out.stderr
    );
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "one line per error: {:?}",
        out.stderr
    );
}

#[test]
fn human_output_fits_in_100_columns() {
    let out = decode(&[
        "--explain",
        "ffffffffffffffff",
        "=eip",
        "--securebits",
        "0xfff",
    ]);
    for line in out.stdout.lines() {
        assert!(line.chars().count() <= 100, "{line:?}");
        assert!(
            line.is_empty() || !line.trim().is_empty(),
            "a line of only spaces"
        );
    }
    let out = decode(&[
        "ffffffffffffffff",
        "=ep cap_chown-e",
        "--text",
        "--xattr",
        "0x0100000300200000000000000000000000000000a0860100",
    ]);
    for line in out.stdout.lines() {
        assert!(line.chars().count() <= 100, "{line:?}");
    }
}

#[test]
fn broken_pipe_ends_quietly() {
    use std::process::{Command, Stdio};
    let input = "3fffffffff\n".repeat(200_000);
    let mut child = Command::new(crate::util::bin("capdecode"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn capdecode");
    let stdin = child.stdin.take();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(input.as_bytes());
        }
    });
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
