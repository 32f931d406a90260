//! capcore against libcap itself: masks against `capsh --decode`, printing against `getcap` on real
//! xattrs, and parsing against `setcap` (which is cap_from_text). Each runs thousands of seeded random cases;
//! set CAPKIT_SEED to replay a failure.

use std::fs;
use std::path::Path;
use std::process::Command;

use capcore::{CapSet, CapState, FileCaps, Revision};

use crate::skip_unless;
use crate::util::{is_root, run_cmd, tool, Rng};

const CASES: usize = 10_000;

fn known() -> u32 {
    capsys::kernel::known_caps_or_default()
}

#[test]
fn hex_decode_matches_capsh() {
    let Some(capsh) = tool("capsh") else {
        crate::util::skipped("capsh is not installed (apt-get install libcap2-bin)");
        return;
    };
    let seed = Rng::seed_from_env(0x5eed_0001);
    let mut rng = Rng::new(seed);
    let masks: Vec<u64> = (0..CASES).map(|_| rng.mask()).collect();
    for chunk in masks.chunks(1000) {
        let args: Vec<String> = chunk.iter().map(|m| format!("--decode={m:x}")).collect();
        let run = run_cmd(Command::new(&capsh).args(&args), None);
        assert_eq!(run.code, 0, "capsh failed: {}", run.stderr);
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.len(), chunk.len(), "seed {seed}");
        for (mask, line) in chunk.iter().zip(lines) {
            let hex = format!("{mask:x}");
            let ours = capcore::parse_mask(&hex).expect("our own hex parses");
            assert_eq!(
                format!("0x{}={}", ours.hex(), ours),
                line,
                "mask {hex}, seed {seed}"
            );
        }
    }
}

#[test]
fn capdecode_matches_capsh_through_the_binary() {
    let Some(capsh) = tool("capsh") else {
        crate::util::skipped("capsh is not installed");
        return;
    };
    let mut rng = Rng::new(Rng::seed_from_env(0x5eed_0002));
    let masks: Vec<String> = (0..200).map(|_| format!("{:016x}", rng.mask())).collect();
    let input = masks.join("\n");
    let ours = crate::util::run(
        "capdecode",
        &["--json", "--as", "mask"],
        Some(input.as_bytes()),
    );
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let args: Vec<String> = masks.iter().map(|m| format!("--decode={m}")).collect();
    let theirs = run_cmd(Command::new(&capsh).args(&args), None);
    for (record, line) in ours.json_lines().iter().zip(theirs.stdout.lines()) {
        let (hex, names) = line.split_once('=').expect("capsh prints HEX=NAMES");
        assert_eq!(
            format!("0x{}", record["set"]["hex"].as_str().unwrap_or_default()),
            hex
        );
        let caps: Vec<&str> = record["set"]["caps"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(caps.join(","), names);
    }
}

/// A random file capability as setcap could write it: v2, or v3 with a rootid, with any bits.
fn random_file_caps(rng: &mut Rng) -> FileCaps {
    let v3 = rng.next() % 5 == 0;
    FileCaps {
        revision: if v3 { Revision::V3 } else { Revision::V2 },
        effective: rng.next() % 2 == 0,
        permitted: CapSet::from_bits(rng.mask()),
        inheritable: CapSet::from_bits(if rng.next() % 3 == 0 { 0 } else { rng.mask() }),
        rootid: v3.then(|| 1 + (rng.next() % 200_000) as u32),
        stray_flags: 0,
    }
}

#[test]
fn cap_to_text_matches_getcap_on_real_xattrs() {
    skip_unless!(
        is_root(),
        "writing security.capability needs CAP_SETFCAP (run as root)"
    );
    let Some(getcap) = tool("getcap") else {
        crate::util::skipped("getcap is not installed (apt-get install libcap2-bin)");
        return;
    };
    let seed = Rng::seed_from_env(0x5eed_0003);
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut expected = std::collections::HashMap::new();
    for i in 0..CASES {
        let caps = random_file_caps(&mut rng);
        let path = dir.path().join(format!("f{i}"));
        fs::write(&path, b"").expect("create file");
        xattr::set(&path, "security.capability", &caps.encode()).expect("setxattr");
        let mut line = format!("{} {}", path.display(), caps.getcap_text(known()));
        if let Some(rootid) = caps.rootid {
            line.push_str(&format!(" [rootid={rootid}]"));
        }
        expected.insert(path.display().to_string(), line);
    }
    let run = run_cmd(
        Command::new(getcap).arg("-n").arg("-r").arg(dir.path()),
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut seen = 0;
    for line in run.stdout.lines() {
        let path = line.split(' ').next().unwrap_or_default();
        let ours = expected
            .get(path)
            .unwrap_or_else(|| panic!("getcap printed an unknown file: {line}"));
        assert_eq!(ours, line, "seed {seed}");
        seen += 1;
    }
    assert_eq!(seen, CASES, "getcap printed every file");
}

/// A random string shaped like libcap text: mostly plausible pieces, sometimes broken.
fn random_text(rng: &mut Rng) -> String {
    const CAPS: [&str; 12] = [
        "cap_chown",
        "CAP_NET_RAW",
        "Cap_Sys_Admin",
        "all",
        "ALL",
        "cap_bpf",
        "cap_checkpoint_restore",
        "net_raw",
        "13",
        "0x15",
        "041",
        "64",
    ];
    const OPS: [&str; 7] = ["=", "+", "-", "=+", "=-", "+", "="];
    const FLAGS: [&str; 9] = ["e", "i", "p", "ep", "eip", "pie", "", "E", "x"];
    let mut text = String::new();
    for clause in 0..=(rng.next() % 3) {
        if clause > 0 {
            text.push(' ');
        }
        if rng.next() % 4 != 0 {
            for i in 0..=(rng.next() % 3) {
                if i > 0 {
                    text.push(',');
                }
                text.push_str(CAPS[(rng.next() % CAPS.len() as u64) as usize]);
            }
        }
        for step in 0..=(rng.next() % 2) {
            let op = OPS[(rng.next() % OPS.len() as u64) as usize];
            text.push_str(if step == 0 { op } else { &op[op.len() - 1..] });
            text.push_str(FLAGS[(rng.next() % FLAGS.len() as u64) as usize]);
        }
    }
    text
}

#[test]
fn cap_from_text_matches_setcap() {
    skip_unless!(is_root(), "setcap needs CAP_SETFCAP (run as root)");
    let Some(setcap) = tool("setcap") else {
        crate::util::skipped("setcap is not installed (apt-get install libcap2-bin)");
        return;
    };
    let seed = Rng::seed_from_env(0x5eed_0004);
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("target");
    fs::write(&file, b"").expect("create file");
    let (mut accepted, mut rejected) = (0, 0);
    for _ in 0..1500 {
        let text = random_text(&mut rng);
        if text.starts_with('-') || text.trim().is_empty() {
            continue; // setcap would read these as options
        }
        let _ = xattr::remove(&file, "security.capability");
        let run = run_cmd(Command::new(&setcap).arg(&text).arg(&file), None);
        let ours = CapState::from_text(&text, known());
        let context = format!(
            "text {text:?}, seed {seed}, setcap said {}",
            run.stderr.lines().next().unwrap_or("")
        );
        if run.code == 0 {
            let ours =
                ours.unwrap_or_else(|e| panic!("we reject what libcap accepts ({e}): {context}"));
            let stored = xattr::get(&file, "security.capability")
                .ok()
                .flatten()
                .unwrap_or_default();
            let caps =
                FileCaps::from_state(ours, None).unwrap_or_else(|e| panic!("{e}: {context}"));
            assert_eq!(caps.encode(), stored, "{context}");
            accepted += 1;
        } else if run.stderr.contains("Invalid argument") {
            assert!(ours.is_err(), "we accept what libcap rejects: {context}");
            rejected += 1;
        } else {
            // cap_from_text accepted it, but the effective set is not empty or P|I.
            let ours =
                ours.unwrap_or_else(|e| panic!("we reject what libcap parses ({e}): {context}"));
            assert!(FileCaps::from_state(ours, None).is_err(), "{context}");
        }
    }
    assert!(
        accepted > 100 && rejected > 100,
        "the generator covers both ({accepted}, {rejected})"
    );
}

#[test]
fn xattr_bytes_round_trip_through_the_kernel() {
    skip_unless!(
        is_root(),
        "writing security.capability needs CAP_SETFCAP (run as root)"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("f");
    fs::write(&path, b"").expect("create file");
    let mut rng = Rng::new(Rng::seed_from_env(0x5eed_0005));
    for _ in 0..500 {
        let caps = random_file_caps(&mut rng);
        xattr::set(&path, "security.capability", &caps.encode()).expect("setxattr");
        let back = xattr::get(&path, "security.capability")
            .ok()
            .flatten()
            .unwrap_or_default();
        assert_eq!(FileCaps::decode(&back), Ok(caps));
        assert!(Path::new(&path).exists());
    }
}
