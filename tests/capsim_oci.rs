//! The proof of `capsim --oci`: real OCI bundles (a busybox rootfs with copies of busybox carrying file
//! capabilities or set-uid), seeded random configs, each run with runc; what the container's process reads
//! in /proc/self/status must be what capsim predicts from the same config.json, field by field, and a
//! config runc refuses (or an exec that fails) must be predicted as such.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use capcore::xattr::Revision;
use capcore::{Cap, CapSet, FileCaps};
use serde_json::{json, Value};

use crate::util::{is_root, skipped, Rng};

const CONFIGS: usize = 400;
const WORKERS: usize = 3;
/// The kernel's capabilities here are read at run time; names are drawn from these 41.
const NAMED: u32 = 41;

use crate::util::have;

/// The bounding set of this process: runc, started from here, keeps no more.
pub(crate) fn own_bounding() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("CapBnd:"))?;
            u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()
        })
        .unwrap_or(0)
}

pub(crate) fn known_caps() -> u32 {
    fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .map_or(NAMED, |last| (last + 1).min(NAMED))
}

/// The variants of `cat` in the rootfs: each a copy of busybox in its own directory, so argv[0] is `cat`.
/// busybox gives up a set-uid exec's privileges itself (setuid(getuid()) for applets that need none), so the
/// set-uid variants are a static program that only copies /proc/self/status to stdout.
struct Variant {
    dir: &'static str,
    caps: Option<FileCaps>,
    mode: u32,
}

const STATUS_C: &str = r#"
#include <fcntl.h>
#include <unistd.h>
int main(void) {
    char buf[65536];
    int fd = open("/proc/self/status", O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf);
    return n > 0 && write(1, buf, (size_t)n) == n ? 0 : 1;
}
"#;

/// The static status reader, compiled with the C compiler every Rust toolchain on Linux links with.
pub(crate) fn build_status_reader(dir: &Path) -> Option<Vec<u8>> {
    let source = dir.join("status.c");
    let binary = dir.join("status");
    fs::write(&source, STATUS_C).ok()?;
    let built = Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(&binary)
        .arg(&source)
        .status()
        .ok()?;
    built.success().then(|| fs::read(&binary).ok()).flatten()
}

fn file_caps(rng: &mut Rng, effective: bool, known: u32) -> FileCaps {
    let every = (1u64 << known) - 1;
    FileCaps {
        revision: Revision::V2,
        effective,
        permitted: CapSet::from_bits(rng.mask() & every),
        inheritable: CapSet::from_bits(rng.mask() & every),
        rootid: None,
        stray_flags: 0,
    }
}

/// rootfs/bin/busybox with sh, cat and sleep; rootfs/v/NAME/cat for each variant; rootfs/v/link/cat a
/// symlink (absolute, so it must be read inside the rootfs) to the `ep` variant.
pub(crate) fn build_rootfs(
    root: &Path,
    reader: &[u8],
    rng: &mut Rng,
    known: u32,
) -> Vec<&'static str> {
    let busybox = fs::read("/bin/busybox").expect("read busybox");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("proc")).unwrap();
    fs::write(root.join("bin/busybox"), &busybox).unwrap();
    fs::set_permissions(root.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
    for applet in ["sh", "cat", "sleep"] {
        symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    let full = FileCaps {
        revision: Revision::V2,
        effective: true,
        permitted: CapSet::first_n(known),
        inheritable: CapSet::EMPTY,
        rootid: None,
        stray_flags: 0,
    };
    let variants = vec![
        Variant {
            dir: "plain",
            caps: None,
            mode: 0o755,
        },
        Variant {
            dir: "ep",
            caps: Some(file_caps(rng, true, known)),
            mode: 0o755,
        },
        Variant {
            dir: "p",
            caps: Some(file_caps(rng, false, known)),
            mode: 0o755,
        },
        Variant {
            dir: "bind",
            caps: Some(FileCaps {
                permitted: Cap::NET_BIND_SERVICE.into(),
                ..full
            }),
            mode: 0o755,
        },
        Variant {
            dir: "full",
            caps: Some(full),
            mode: 0o755,
        },
        Variant {
            dir: "suid",
            caps: None,
            mode: 0o4755,
        },
        Variant {
            dir: "suidcaps",
            caps: Some(file_caps(rng, true, known)),
            mode: 0o4755,
        },
    ];
    for v in &variants {
        let dir = root.join("v").join(v.dir);
        fs::create_dir_all(&dir).unwrap();
        let cat = dir.join("cat");
        let program = if v.mode & 0o4000 != 0 {
            reader
        } else {
            &busybox[..]
        };
        fs::write(&cat, program).unwrap();
        fs::set_permissions(&cat, fs::Permissions::from_mode(v.mode)).unwrap();
        if let Some(caps) = &v.caps {
            xattr::set(&cat, "security.capability", &caps.encode()).expect("setxattr");
        }
    }
    fs::create_dir_all(root.join("v/link")).unwrap();
    symlink("/v/ep/../ep/cat", root.join("v/link/cat")).unwrap();
    let mut dirs: Vec<&'static str> = variants.iter().map(|v| v.dir).collect();
    dirs.push("link");
    dirs
}

fn names(bits: u64, rng: &mut Rng) -> Vec<String> {
    let mut out: Vec<String> = (0..NAMED)
        .filter(|b| bits & (1 << b) != 0)
        .filter_map(|b| Cap::new(b)?.name())
        .map(str::to_ascii_uppercase)
        .collect();
    // Now and then a name runc ignores.
    match rng.next() % 16 {
        0 => out.push("CAP_BOGUS".to_string()),
        1 => out.push("cap_net_raw".to_string()),
        _ => {}
    }
    out
}

/// A random config: mostly what runc accepts, now and then what capset refuses.
pub(crate) fn random_config(
    rng: &mut Rng,
    base: &Value,
    dirs: &[&str],
    known: u32,
    held: u64,
) -> Value {
    let every = (1u64 << known) - 1;
    let mut config = base.clone();
    let process = &mut config["process"];
    let uid = if rng.next() % 2 == 0 { 0 } else { 1000 };
    let gid = [0, 1000, 50][(rng.next() % 3) as usize];
    let extra: Vec<u32> = [5u32, 27, 100]
        .into_iter()
        .filter(|_| rng.next() % 2 == 0)
        .collect();
    process["user"] = json!({"uid": uid, "gid": gid, "additionalGids": extra});
    process["terminal"] = json!(false);
    process["noNewPrivileges"] = json!(rng.next() % 2 == 0);
    let dir = dirs[(rng.next() % dirs.len() as u64) as usize];
    if rng.next() % 4 == 0 {
        process["args"] = json!(["cat", "/proc/self/status"]);
        process["env"] = json!([format!("PATH=/v/{dir}:/bin"), "TERM=dumb"]);
    } else {
        process["args"] = json!([format!("/v/{dir}/cat"), "/proc/self/status"]);
    }
    if rng.next() % 10 == 0 {
        process.as_object_mut().unwrap().remove("capabilities");
        return config;
    }
    let bounding = rng.mask() & every;
    // Mostly what runc itself holds (it cannot give more), now and then anything.
    let permitted = rng.mask() & if rng.next() % 16 == 0 { every } else { held };
    let effective = if rng.next() % 16 == 0 {
        rng.mask() & every
    } else {
        permitted & rng.mask()
    };
    let inheritable = if rng.next() % 16 == 0 {
        rng.mask() & every
    } else {
        bounding & held & rng.mask()
    };
    let ambient = match rng.next() % 3 {
        0 => permitted & inheritable & rng.mask(),
        1 => rng.mask() & every,
        _ => 0,
    };
    process["capabilities"] = json!({
        "bounding": names(bounding, rng),
        "effective": names(effective, rng),
        "permitted": names(permitted, rng),
        "inheritable": names(inheritable, rng),
        "ambient": names(ambient, rng),
    });
    config
}

/// The fields compared: Cap*, NoNewPrivs, Uid, Gid and Groups as /proc/PID/status writes them.
pub(crate) fn status_fields(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(key, _)| {
            key.starts_with("Cap") || ["NoNewPrivs", "Uid", "Gid", "Groups"].contains(key)
        })
        .map(|(key, value)| {
            (
                key.to_string(),
                value.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect()
}

/// capsim's `after` state in the same form.
pub(crate) fn predicted_fields(after: &Value) -> Vec<(String, String)> {
    let hex = |key: &str| {
        format!(
            "{:016x}",
            u64::from_str_radix(after[key]["hex"].as_str().unwrap_or(""), 16).unwrap_or(u64::MAX)
        )
    };
    let ids = |keys: [&str; 4]| {
        keys.iter()
            .map(|k| after[*k].to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let groups: Vec<String> = after["groups"]
        .as_array()
        .map(|g| g.iter().map(Value::to_string).collect())
        .unwrap_or_default();
    vec![
        ("Uid".to_string(), ids(["ruid", "euid", "suid", "fsuid"])),
        ("Gid".to_string(), ids(["rgid", "egid", "sgid", "fsgid"])),
        ("Groups".to_string(), groups.join(" ")),
        ("CapInh".to_string(), hex("inheritable")),
        ("CapPrm".to_string(), hex("permitted")),
        ("CapEff".to_string(), hex("effective")),
        ("CapBnd".to_string(), hex("bounding")),
        ("CapAmb".to_string(), hex("ambient")),
        (
            "NoNewPrivs".to_string(),
            u8::from(after["no_new_privs"] == json!(true)).to_string(),
        ),
    ]
}

pub(crate) fn sorted(mut fields: Vec<(String, String)>) -> Vec<(String, String)> {
    fields.sort();
    fields
}

pub(crate) fn strerror(outcome: &str) -> Option<&'static str> {
    match outcome {
        "EPERM" => Some("operation not permitted"),
        "EACCES" => Some("permission denied"),
        "ENOENT" => Some("no such file or directory"),
        _ => None,
    }
}

/// Runs one config with runc and with capsim; returns a description of the mismatch, if any.
fn compare(bundle: &Path, name: &str) -> Result<&'static str, String> {
    let run = Command::new("timeout")
        .args(["-k", "5", "30", "runc", "run", "--bundle"])
        .arg(bundle)
        .arg(name)
        .stdin(Stdio::null())
        .output();
    let _ = Command::new("runc")
        .args(["delete", "-f", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let run = run.map_err(|e| format!("runc: {e}"))?;
    let capsim = Command::new(env!("CARGO_BIN_EXE_capsim"))
        .arg("--oci")
        .arg(bundle.join("config.json"))
        .arg("--json")
        .output()
        .map_err(|e| format!("capsim: {e}"))?;
    let record: Value = serde_json::from_slice(&capsim.stdout).map_err(|e| {
        format!(
            "capsim JSON: {e}: {}",
            String::from_utf8_lossy(&capsim.stderr)
        )
    })?;
    let outcome = record["outcome"].as_str().unwrap_or("?");
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    if run.status.success() {
        let seen = sorted(status_fields(&stdout));
        let predicted = sorted(predicted_fields(&record["after"]));
        if outcome == "ok" && seen == predicted {
            return Ok("ran");
        }
        return Err(format!(
            "runc ran it; capsim said {outcome}\n  runc:   {seen:?}\n  capsim: {predicted:?}"
        ));
    }
    let refused = stderr.contains("unable to apply caps: operation not permitted");
    match (outcome, strerror(outcome)) {
        ("refused", _) if refused => Ok("refused"),
        (_, Some(text)) if !refused && stderr.contains(text) => Ok("exec failed"),
        _ => Err(format!(
            "runc failed ({}): {stderr}; capsim said {outcome}",
            run.status
        )),
    }
}

#[test]
fn capsim_oci_matches_runc_on_random_configs() {
    if !is_root() {
        return skipped("needs root to run runc");
    }
    if !have("runc") || !Path::new("/bin/busybox").exists() {
        return skipped("needs runc and busybox-static (apt-get install runc busybox-static)");
    }
    let seed = Rng::seed_from_env(0x0c1_2026);
    let mut rng = Rng::new(seed);
    let known = known_caps();
    let dir = tempfile::Builder::new()
        .prefix("capkit-oci")
        .tempdir_in("/var/tmp")
        .unwrap();
    let Some(reader) = build_status_reader(dir.path()) else {
        return skipped("needs cc -static (libc6-dev) for the set-uid status reader");
    };
    let dirs = build_rootfs(&dir.path().join("rootfs"), &reader, &mut rng, known);
    let spec = Command::new("runc")
        .args(["spec", "--bundle"])
        .arg(dir.path())
        .status()
        .expect("runc spec");
    assert!(spec.success(), "runc spec");
    let base: Value =
        serde_json::from_slice(&fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    let held = own_bounding();
    let mut bundles: Vec<PathBuf> = Vec::new();
    for i in 0..CONFIGS {
        let mut config = random_config(&mut rng, &base, &dirs, known, held);
        config["root"]["path"] = json!("../rootfs");
        let bundle = dir.path().join(format!("b{i}"));
        fs::create_dir(&bundle).unwrap();
        fs::write(
            bundle.join("config.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
        bundles.push(bundle);
    }
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(bundle) = bundles.get(i) else { break };
                let name = format!("capkit-oci-{}-{i}", std::process::id());
                let result = compare(bundle, &name);
                results.lock().unwrap().push((i, result));
            });
        }
    });
    let results = results.into_inner().unwrap();
    let mut counts = std::collections::BTreeMap::new();
    let mut mismatches = Vec::new();
    for (i, result) in &results {
        match result {
            Ok(kind) => *counts.entry(*kind).or_insert(0) += 1,
            Err(why) => mismatches.push(format!("config {i} (seed {seed}): {why}")),
        }
    }
    eprintln!(
        "runc configs compared: {} {counts:?}, mismatches: {}",
        results.len(),
        mismatches.len()
    );
    assert_eq!(results.len(), CONFIGS);
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    // The random configs reach every outcome.
    for kind in ["ran", "refused", "exec failed"] {
        assert!(
            counts.get(kind).copied().unwrap_or(0) > 0,
            "no config {kind}: {counts:?}"
        );
    }
}

/// Writes `bundle/config.json` with this process object and `root.path` = `rootfs`.
fn write_config(bundle: &Path, process: Value) -> PathBuf {
    let config = json!({"ociVersion": "1.0.2", "process": process, "root": {"path": "rootfs"}});
    let path = bundle.join("config.json");
    fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    path
}

fn capsim_oci(config: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_capsim"))
        .arg("--oci")
        .arg(config)
        .args(extra)
        .output()
        .expect("run capsim")
}

#[test]
fn oci_args0_is_found_inside_the_rootfs_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::write(root.join("bin/app"), b"\x7fELF not really").unwrap();
    fs::set_permissions(root.join("bin/app"), fs::Permissions::from_mode(0o755)).unwrap();
    symlink("/bin/app", root.join("usr/bin/app")).unwrap();
    // On the host this names /etc/passwd; inside the rootfs it names nothing.
    symlink("/../../../../../../etc/passwd", root.join("bin/escape")).unwrap();
    let user = json!({"uid": 1000, "gid": 1000});
    let config = write_config(
        dir.path(),
        json!({"user": user, "args": ["app"], "env": ["PATH=/usr/bin"]}),
    );
    let out = capsim_oci(&config, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file_line = text.lines().next().unwrap_or("");
    assert!(file_line.ends_with("rootfs/bin/app"), "{file_line}");

    let config = write_config(dir.path(), json!({"user": user, "args": ["/bin/escape"]}));
    let out = capsim_oci(&config, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("No such file or directory"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // A #! interpreter is looked up inside the rootfs too (the host has no /bin/app).
    fs::write(root.join("bin/script"), b"#!/usr/bin/app -x\n").unwrap();
    fs::write(root.join("bin/outside"), b"#!/bin/escape\n").unwrap();
    for name in ["script", "outside"] {
        fs::set_permissions(
            root.join("bin").join(name),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    }
    let config = write_config(dir.path(), json!({"user": user, "args": ["/bin/script"]}));
    let out = capsim_oci(&config, &["--json"]);
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["outcome"], "ok", "{record}");
    let config = write_config(dir.path(), json!({"user": user, "args": ["/bin/outside"]}));
    let out = capsim_oci(&config, &["--json"]);
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["outcome"], "ENOENT", "{record}");

    let out = capsim_oci(&dir.path().join("missing.json"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("capsim: "));
}

#[test]
fn oci_config_runc_refuses_is_predicted_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs/bin");
    fs::create_dir_all(&root).unwrap();
    fs::write(root.join("sh"), b"\x7fELF").unwrap();
    fs::set_permissions(root.join("sh"), fs::Permissions::from_mode(0o755)).unwrap();
    let caps = json!({"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": []});
    let process = json!({"user": {"uid": 0, "gid": 0}, "args": ["/bin/sh"], "capabilities": caps});
    let config = write_config(dir.path(), process);
    let out = capsim_oci(&config, &["--json"]);
    assert_eq!(out.status.code(), Some(0));
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["outcome"], "refused");
    assert_eq!(
        record["refused"],
        "unable to apply caps: operation not permitted"
    );
    assert!(record["after"].is_null());
    let human = capsim_oci(&config, &["--color", "never"]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("runc refuses the config before any exec: unable to apply caps"),
        "{text}"
    );
}
