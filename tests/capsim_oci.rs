//! The proof of `capsim --oci`: real OCI bundles (a busybox rootfs with copies of busybox carrying file
//! capabilities or set-uid), seeded random configs, each run with runc; what the container's process reads
//! in /proc/self/status must be what capsim predicts from the same config.json, field by field, and a
//! config runc refuses (or an exec that fails) must be predicted as such, in runc's words. Nearly half of
//! the configs give the container a user namespace of its own, in several map shapes, and the rootfs has
//! set-id and v3 files owned inside and outside those maps; others break runc's own rules (cwd, PATH
//! entries that are not absolute, files without `#!`, files the user may not execute).

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

const CONFIGS: usize = 640;
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

/// Files whose fate depends on the user namespace and on runc's own checks: set-id files owned by a
/// namespace's root, by a user inside a map and by the host's root; v3 capabilities for a namespace's
/// root; files their user may not execute; a text file without `#!`. Owners are host (kernel) ids:
/// 100000 is the root of the `0:100000:65536` shape. Returns the directories, each holding `cat`.
pub(crate) fn build_userns_variants(root: &Path, reader: &[u8]) -> Vec<&'static str> {
    let busybox = fs::read("/bin/busybox").expect("read busybox");
    let v3 = |rootid: u32| FileCaps {
        revision: Revision::V3,
        effective: true,
        permitted: Cap::NET_RAW.into(),
        inheritable: CapSet::EMPTY,
        rootid: Some(rootid),
        stray_flags: 0,
    };
    // (dir, program is the set-uid reader, mode, owner, group, capabilities)
    type Extra = (&'static str, bool, u32, u32, u32, Option<FileCaps>);
    let extras: Vec<Extra> = vec![
        ("nsroot_suid", true, 0o4755, 100_000, 100_000, None),
        ("nsroot_sgid", true, 0o2755, 100_000, 100_050, None),
        ("user_suid", true, 0o4755, 101_000, 101_000, None),
        ("far_suid", true, 0o6755, 300_000, 300_000, None),
        ("v3_nsroot", false, 0o755, 0, 0, Some(v3(100_000))),
        ("v3_far", false, 0o755, 0, 0, Some(v3(300_000))),
        ("v3_hostroot", false, 0o755, 100_000, 100_000, Some(v3(0))),
        ("priv_hostroot", false, 0o700, 0, 0, None),
        ("priv_nsroot", false, 0o700, 100_000, 100_000, None),
        ("group_only", false, 0o710, 0, 100_050, None),
    ];
    let mut dirs = Vec::new();
    for (name, reads_status, mode, owner, group, caps) in extras {
        let dir = root.join("v").join(name);
        fs::create_dir_all(&dir).unwrap();
        let cat = dir.join("cat");
        fs::write(&cat, if reads_status { reader } else { &busybox[..] }).unwrap();
        std::os::unix::fs::chown(&cat, Some(owner), Some(group)).unwrap();
        fs::set_permissions(&cat, fs::Permissions::from_mode(mode)).unwrap();
        if let Some(caps) = caps {
            xattr::set(&cat, "security.capability", &caps.encode()).expect("setxattr v3");
        }
        dirs.push(name);
    }
    let text = root.join("v/text");
    fs::create_dir_all(&text).unwrap();
    fs::write(text.join("cat"), b"not a program\n").unwrap();
    fs::set_permissions(text.join("cat"), fs::Permissions::from_mode(0o755)).unwrap();
    dirs.push("text");
    // What runc mounts on must exist: a namespace's root may not create it in a host-owned rootfs.
    for mount_point in ["dev", "sys", "tmp", "etc"] {
        fs::create_dir_all(root.join(mount_point)).unwrap();
    }
    dirs
}

/// The uid and gid maps of a user namespace (containerID, hostID, size), in the shapes runtimes make:
/// one range, ranges that map a host user or the host's root into the container, a small map.
const MAP_SHAPES: [&[(u32, u32, u32)]; 5] = [
    &[(0, 100_000, 65536)],
    &[(0, 100_000, 1000), (1000, 1000, 1)],
    &[(0, 100_000, 2000), (2000, 0, 1)],
    &[(0, 200_000, 1000), (1000, 101_000, 10)],
    &[(0, 300_000, 1)],
];

/// Gives a random config (from [`random_config`]) a user namespace of its own in one of the shapes, ids
/// chosen inside and outside its maps, and now and then duplicate supplementary groups.
pub(crate) fn with_random_userns(rng: &mut Rng, config: &mut Value) {
    let shape = MAP_SHAPES[(rng.next() % MAP_SHAPES.len() as u64) as usize];
    let map: Vec<Value> = shape
        .iter()
        .map(|&(inside, outside, count)| json!({"containerID": inside, "hostID": outside, "size": count}))
        .collect();
    let linux = &mut config["linux"];
    if let Some(namespaces) = linux["namespaces"].as_array_mut() {
        namespaces.push(json!({"type": "user"}));
    }
    linux["uidMappings"] = json!(map);
    linux["gidMappings"] = json!(map);
    // As `runc spec --rootless` writes it: devpts's gid=5 fails where gid 5 is not mapped.
    if let Some(mounts) = config["mounts"].as_array_mut() {
        for mount in mounts.iter_mut().filter(|m| m["type"] == "devpts") {
            if let Some(options) = mount["options"].as_array_mut() {
                options.retain(|o| o != "gid=5");
            }
        }
    }
    let ids = [0u32, 0, 1000, 1005, 2000, 70_000];
    let uid = ids[(rng.next() % ids.len() as u64) as usize];
    let gid = [0u32, 0, 50, 1000, 70_000][(rng.next() % 5) as usize];
    let mut extra: Vec<u32> = [5u32, 50, 1000, 70_000]
        .into_iter()
        .filter(|g| rng.next() % if *g == 70_000 { 8 } else { 2 } == 0)
        .collect();
    if rng.next() % 3 == 0 {
        extra.extend(extra.clone());
    }
    config["process"]["user"] = json!({"uid": uid, "gid": gid, "additionalGids": extra});
}

/// The refusals of runc's setup, in its words, as capsim and capscan --exec-as report them.
pub(crate) const RUNC_REFUSALS: [&str; 4] = [
    "unable to apply caps: operation not permitted",
    "unable to setup user: cannot set uid to unmapped user in user namespace",
    "unable to setup user: cannot set gid to unmapped user in user namespace",
    "unable to setup user: setgroups: invalid argument",
];

/// Now and then breaks one of runc's own rules: an empty or relative cwd, a bare args[0] found through a
/// PATH entry that is not absolute, a missing args[0] (with capabilities capset refuses, which runc
/// reports first), duplicate supplementary groups.
fn with_runc_rule_broken(rng: &mut Rng, config: &mut Value, dir: &str) {
    let process = &mut config["process"];
    match rng.next() % 6 {
        0 => process["cwd"] = json!(""),
        1 => process["cwd"] = json!("tmp"),
        2 => {
            let entry = ["v/{dir}", ".", ""][(rng.next() % 3) as usize].replace("{dir}", dir);
            process["args"] = json!(["cat", "/proc/self/status"]);
            process["env"] = json!([format!("PATH=/nowhere:{entry}:/bin"), "TERM=dumb"]);
            if entry != format!("v/{dir}") {
                process["cwd"] = json!(format!("/v/{dir}"));
            }
        }
        3 => {
            process["args"] = json!(["/v/missing/cat"]);
            process["capabilities"]["effective"] = json!(["CAP_SYS_ADMIN"]);
            process["capabilities"]["permitted"] = json!([]);
        }
        _ => {
            let gids = process["user"]["additionalGids"].clone();
            if let Some(list) = gids.as_array() {
                let doubled: Vec<Value> = list.iter().chain(list).cloned().collect();
                process["user"]["additionalGids"] = json!(doubled);
            }
        }
    }
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
        "ENOEXEC" => Some("exec format error"),
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
    let stderr = String::from_utf8_lossy(&run.stderr);
    // args[0] missing: capsim says so as an operand that does not exist (exit 2), runc as its lookup's
    // error.
    if capsim.status.code() == Some(2) {
        let said = String::from_utf8_lossy(&capsim.stderr);
        let missing =
            said.contains("No such file or directory") || said.contains("not found in $PATH");
        if missing && !run.status.success() && stderr.contains("no such file or directory") {
            return Ok("exec failed");
        }
        return Err(format!("capsim failed: {said}; runc: {stderr}"));
    }
    let record: Value = serde_json::from_slice(&capsim.stdout).map_err(|e| {
        format!(
            "capsim JSON: {e}: {}",
            String::from_utf8_lossy(&capsim.stderr)
        )
    })?;
    let outcome = record["outcome"].as_str().unwrap_or("?");
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
    // A refusal is predicted in runc's own words.
    let refused = stderr.contains("unable to apply caps: operation not permitted")
        || stderr.contains("unable to setup user")
        || stderr.contains("Cwd ")
        || stderr.contains("relative to current directory");
    let message = record["refused"].as_str().unwrap_or("\u{0}");
    // runc's log quotes its message: `exec: \"cat\": …`.
    let said = stderr.replace("\\\"", "\"");
    match (outcome, strerror(outcome)) {
        ("refused", _) if refused && said.contains(message) => Ok("refused"),
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
    let mut dirs = build_rootfs(&dir.path().join("rootfs"), &reader, &mut rng, known);
    dirs.extend(build_userns_variants(&dir.path().join("rootfs"), &reader));
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
    let mut in_userns = 0;
    for i in 0..CONFIGS {
        let mut config = random_config(&mut rng, &base, &dirs, known, held);
        // Nearly half in a user namespace of their own, where runc's init holds every capability.
        if i % 20 < 9 {
            let every = (1u64 << known) - 1;
            config = random_config(&mut rng, &base, &dirs, known, every);
            with_random_userns(&mut rng, &mut config);
            in_userns += 1;
        }
        if rng.next() % 8 == 0 {
            let dir = dirs[(rng.next() % dirs.len() as u64) as usize];
            with_runc_rule_broken(&mut rng, &mut config, dir);
        }
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
    let mut by_class = std::collections::BTreeMap::new();
    let mut mismatches = Vec::new();
    for (i, result) in &results {
        match result {
            Ok(kind) => {
                *counts.entry(*kind).or_insert(0) += 1;
                let class = if i % 20 < 9 { "userns" } else { "host" };
                *by_class.entry(format!("{class} {kind}")).or_insert(0) += 1;
            }
            Err(why) => mismatches.push(format!("config {i} (seed {seed}): {why}")),
        }
    }
    eprintln!("runc configs by class: {by_class:?}");
    eprintln!(
        "runc configs compared: {} ({in_userns} in a user namespace) {counts:?}, mismatches: {}",
        results.len(),
        mismatches.len()
    );
    assert_eq!(results.len(), CONFIGS);
    assert!(
        in_userns * 100 >= CONFIGS * 40,
        "{in_userns} of {CONFIGS} in a user namespace"
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    // The random configs reach every outcome, in a user namespace and outside one.
    for class in ["host", "userns"] {
        for kind in ["ran", "refused", "exec failed"] {
            let key = format!("{class} {kind}");
            assert!(
                by_class.get(&key).copied().unwrap_or(0) > 0,
                "no config {key}: {by_class:?}"
            );
        }
    }
}

/// Writes `bundle/config.json` with this process object and `root.path` = `rootfs`.
/// A config.json with `process` (whose `cwd` is `/` unless it says otherwise, as `runc spec` writes it).
fn write_config(bundle: &Path, mut process: Value) -> PathBuf {
    if process.get("cwd").is_none() {
        process["cwd"] = json!("/");
    }
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
