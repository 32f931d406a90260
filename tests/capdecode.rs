//! capdecode end to end: every input form, standard input, --json, --text, --explain, errors and exit codes.

use crate::util::run;

fn decode(args: &[&str]) -> crate::util::Run {
    run("capdecode", args, None)
}

#[test]
fn hex_mask_to_names() {
    let out = decode(&["3fffffffff"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with(
        "3fffffffff\n  read as      hex mask\n  caps         0000003fffffffff  cap_chown,"
    ));
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
  read as      hex mask
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
  read as      libcap text (cap_from_text)
  text         cap_net_raw=ep
  effective    0000000000002000  cap_net_raw
  inheritable  0000000000000000  (none)
  permitted    0000000000002000  cap_net_raw
";
    assert_eq!(out.stdout, expected, "\n{}", out.stdout);
    let text = decode(&["--text", "000001fffeffffff"]);
    let expected = "\
000001fffeffffff
  read as      hex mask
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
        "--names",
        "13",
        "--names",
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
    // Numbers in libcap's bases (C's strtoul, base 0), as cap_from_text reads them.
    let bases = decode(&["--json", "--names", "0xd,015,13"]).json_lines();
    assert_eq!(bases[0]["set"]["caps"], serde_json::json!(["cap_net_raw"]));
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
    ])
    .json_lines();
    assert_eq!(json.len(), 2);
    assert_eq!(
        (json[0]["version"].as_u64(), json[0]["effective"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(json[0]["getcap"], "cap_net_raw=ep");
    assert_eq!(json[0]["exec"]["outcome"], "honoured");
    assert_eq!(json[1]["rootid"], 100_000);
    assert_eq!(json[1]["exec"]["outcome"], "ignored");
    // A v1 value runs at exec but getcap cannot read it.
    let v1 = decode(&["--json", "--xattr", "010000010020000000000000"]).json_lines();
    assert_eq!(v1[0]["exec"]["outcome"], "honoured");
    assert!(v1[0]["getcap"].is_null());
}

#[test]
fn an_xattr_value_execve_fails_on_is_a_bad_input() {
    for (value, cause) in [
        ("0x01", "1 bytes is shorter than the 4-byte header"),
        ("", "the value is empty"),
        ("01000002002000000000000000000000000000000000", "22 bytes"),
        ("0x01000001002000000000000000", "13 bytes"),
        (&"01000002".repeat(7), "ERANGE"),
        ("0x05000000", "unknown revision"),
    ] {
        let out = decode(&["--xattr", value]);
        assert_eq!(out.code, 2, "{value}: {}", out.stdout);
        assert!(out.stdout.is_empty(), "{value}: {}", out.stdout);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(
            out.stderr.contains("not a security.capability value") && out.stderr.contains(cause),
            "{value}: {}",
            out.stderr
        );
    }
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
    assert_eq!(json[0]["source"], "/proc/1/status");
    assert_eq!(
        json[0]["input"],
        "/proc/1/status:CapEff:\t0000000000000000\n/proc/1/status:CapPrm:\t0000000000000000"
    );
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
            "capdecode: 3ffg: read as hex mask: 'g' at column 4 is not a hex digit",
            "capdecode: 0x1ffffffffffffffff: read as hex mask: wider than 64 bits: the digit at column 3 does not fit in a capability mask",
            "capdecode: cap_foo+e: read as libcap text (cap_from_text): unknown capability name 'cap_foo' at column 1",
            "capdecode: net_raw+ep: read as libcap text (cap_from_text): unknown capability name 'net_raw' at column 1 (libcap text needs the full name: cap_net_raw)",
        ]
    );
    assert_eq!(decode(&["--json", "--names", "64"]).code, 2);
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

#[test]
fn a_number_alone_is_a_hex_mask_as_capsh_reads_it() {
    // Every input of only hex digits is a mask, whatever its length or leading zeros.
    let json = decode(&[
        "--json",
        "20",
        "13",
        "010",
        "0x20",
        "0100000000000000000000000000000000000001",
        "000000000000000000000001",
    ])
    .json_lines();
    let hexes: Vec<&str> = json
        .iter()
        .map(|r| r["set"]["hex"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(json.len(), 5, "the 40-digit value is too wide for a mask");
    assert!(json.iter().all(|r| r["kind"] == "mask"));
    assert_eq!(
        hexes,
        [
            "0000000000000020",
            "0000000000000013",
            "0000000000000010",
            "0000000000000020",
            "0000000000000001"
        ]
    );
    // The human output says how the input was read, and what to type for the other reading.
    let human = decode(&["20"]);
    assert!(
        human.stdout.starts_with(
            "20\n  read as      hex mask (for capability 20, use --names 20)\n  caps         0000000000000020  cap_kill\n"
        ),
        "{}",
        human.stdout
    );
    let names = decode(&["--names", "20"]);
    assert!(
        names
            .stdout
            .contains("  read as      capability names and numbers\n")
            && names.stdout.contains("cap_sys_pacct"),
        "{}",
        names.stdout
    );
    // A number in a list recognised by its names is not silently a capability number.
    let out = decode(&["net_raw,21"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("use --names") || out.stderr.contains("only with --names"),
        "{}",
        out.stderr
    );
    // Neither is a comma list of numbers a pair of captest words.
    let out = decode(&["13,21"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--names"), "{}", out.stderr);
    let out = decode(&["0100000200200000000000000000000000000000"]);
    assert!(out.stderr.contains("use --xattr"), "{}", out.stderr);
}

#[test]
fn errors_come_from_the_form_the_input_looks_like() {
    let out = decode(&["cap_net_raw,", "3ffg", "cap_net_raw+", "kill,"]);
    let errors: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        errors,
        [
            "capdecode: cap_net_raw,: read as capability names: empty capability name (a ',' at an end, or two in a row)",
            "capdecode: 3ffg: read as hex mask: 'g' at column 4 is not a hex digit",
            "capdecode: cap_net_raw+: read as libcap text (cap_from_text): '+' at column 12 needs flags (e, i, p) after it",
            "capdecode: kill,: read as capability names: empty capability name (a ',' at an end, or two in a row)",
        ]
    );
}

#[test]
fn libcap_text_is_read_as_cap_from_text_reads_it() {
    // `all` replaces the list before it; empty text is the empty state.
    let json = decode(&["--json", "63,all+p", "all,63+p", "--libcap", ""]).json_lines();
    assert_eq!(json[0]["text"], "=p");
    assert_eq!(json[0]["permitted"]["hex"], "000001ffffffffff");
    assert_eq!(json[1]["text"], "=p 63+p");
    assert_eq!(json[2]["text"], "=");
    // Unicode white space is not C's: libcap rejects it around the text, and so does capdecode.
    for text in [
        "\u{a0}cap_chown+e",
        "cap_chown+e\u{3000}",
        "\u{85}=ep",
        "=ep\u{2028}",
    ] {
        for args in [vec![text], vec!["--libcap", text]] {
            let out = decode(&args);
            assert_eq!(out.code, 2, "{text:?}: {}", out.stdout);
            assert!(out.stderr.contains("U+"), "{}", out.stderr);
        }
    }
    // C's white space around it is skipped, as libcap skips it.
    let out = decode(&["--json", "\t\x0bcap_chown+e \x0c"]);
    assert_eq!(out.json_lines()[0]["text"], "cap_chown=e");
}

#[test]
fn one_rule_for_numbers() {
    // 010 is octal in libcap text, and so in --securebits and --names: C's strtoul, base 0.
    let json = decode(&[
        "--json",
        "010+e",
        "--securebits",
        "010",
        "--names",
        "010",
        "--securebits",
        "0x10",
        "--securebits",
        "16",
    ])
    .json_lines();
    assert_eq!(
        json[0]["effective"]["caps"],
        serde_json::json!(["cap_setpcap"])
    );
    assert_eq!(json[1]["value"], 8);
    assert_eq!(json[2]["set"]["caps"], serde_json::json!(["cap_setpcap"]));
    assert_eq!(json[3]["value"], 16);
    assert_eq!(json[4]["value"], 16);
    let out = decode(&["--securebits", "0b11"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("strtoul"), "{}", out.stderr);
}

#[test]
fn status_records_keep_their_input() {
    let out = decode(&["--json", "--status", "CapEff:\t0000000000002000"]);
    let json = out.json_lines();
    assert_eq!(json[0]["input"], "CapEff:\t0000000000002000");
    assert!(json[0]["source"].is_null());
    let piped = run("capdecode", &["--json"], Some(b"CapEff:\t0\nCapPrm:\t1\n"));
    assert_eq!(piped.json_lines()[0]["input"], "CapEff:\t0\nCapPrm:\t1");
}

#[test]
fn errors_quote_a_bounded_excerpt_escaped_once() {
    // A long argument (under the input limit): the message quotes its start and says how long it was.
    let long = format!("cap_{}+e", "x".repeat(60_000));
    let out = decode(&[&long]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.len() < 400, "{}", out.stderr);
    assert!(out.stderr.contains("… (60006 bytes)"), "{}", out.stderr);
    // A NUL is named once, not escaped twice.
    let out = run("capdecode", &[], Some(b"cap_chown+\0e\n"));
    assert_eq!(out.code, 2);
    assert!(!out.stderr.contains("\\\\"), "{}", out.stderr);
    assert!(
        out.stderr.contains("NUL byte at column 11"),
        "{}",
        out.stderr
    );
    let out = decode(&["--libcap", "cap_chown+\u{a0}"]);
    assert!(out.stderr.contains("U+00A0 at column 11"), "{}", out.stderr);
}

#[test]
fn no_input_is_read_without_a_bound() {
    // A 100 MB line is skipped with a one-line error of bounded size, and the next line still decodes.
    let mut input = vec![b'f'; 100 * 1024 * 1024];
    input.extend_from_slice(b"\n3f\n");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("long");
    std::fs::write(&file, &input).expect("write the input");
    drop(input);
    let output = std::process::Command::new(crate::util::bin("capdecode"))
        .arg("--json")
        .stdin(std::fs::File::open(&file).expect("open the input"))
        .output()
        .expect("run capdecode");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.len() < 300, "{stderr}");
    assert!(stderr.contains("… (104857600 bytes)"), "{stderr}");
    assert!(stdout.contains("\"hex\":\"000000000000003f\""), "{stdout}");
    // An argument longer than the limit is refused the same way.
    let out = decode(&[&"f".repeat(100_000)]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("… (100000 bytes)"), "{}", out.stderr);
}
