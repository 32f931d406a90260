//! capsim, the binary: its own process as the caller (checked against a real exec of the same file),
//! overrides, real files (set-id bits, xattrs, nosuid, `#!`), the Docker and systemd presets against their
//! documented effects, the JSON shape, and errors.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::skip_unless;
use crate::util::{is_root, run, Run};

const NR_V2_EP: [u8; 20] = [
    1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// Docker's documented default capabilities (docs.docker.com, "Runtime privilege and Linux capabilities").
const DOCKER_DEFAULT: [&str; 14] = [
    "cap_chown",
    "cap_dac_override",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_net_bind_service",
    "cap_net_raw",
    "cap_sys_chroot",
    "cap_mknod",
    "cap_audit_write",
    "cap_setfcap",
];

fn capsim(args: &[&str]) -> Run {
    run("capsim", args, None)
}

/// Runs capsim with --json and returns its one record.
fn capsim_json(args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = capsim(&all);
    assert_eq!(out.code, 0, "capsim {args:?}: {}", out.stderr);
    let mut lines = out.json_lines();
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    lines.remove(0)
}

fn caps(value: &Value, state: &str, set: &str) -> Vec<String> {
    value[state][set]["caps"]
        .as_array()
        .unwrap_or_else(|| panic!("{state}.{set} in {value}"))
        .iter()
        .map(|c| c.as_str().unwrap_or_default().to_string())
        .collect()
}

fn hex(value: &Value, state: &str, set: &str) -> String {
    value[state][set]["hex"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A temporary directory others can enter, with a copy of the test probe in it.
fn probe_copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod dir");
    let path = dir.path().join(name);
    std::fs::copy(crate::util::helper("capkit-test-probe"), &path).expect("copy probe");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (dir, path)
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// The probe's report of its own state after exec: `Key -> value`.
fn probe_report(path: &Path) -> std::collections::HashMap<String, String> {
    let out = Command::new(path).output().expect("run probe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn own_process_prediction_matches_a_real_exec() {
    skip_unless!(
        is_root(),
        "needs root to set file capabilities and set-id owners"
    );
    let (_dir, path) = probe_copy("probe");
    type Setup = fn(&Path);
    let setups: [(&str, Setup); 5] = [
        ("plain", |_| {}),
        ("cap_net_raw+ep", |p| {
            xattr::set(p, "security.capability", &NR_V2_EP).expect("setxattr")
        }),
        ("setuid 1000", |p| {
            std::os::unix::fs::chown(p, Some(1000), Some(1000)).expect("chown");
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o6755)).expect("chmod");
        }),
        ("v3 rootid 100000", |p| {
            let mut raw = NR_V2_EP.to_vec();
            raw[3] = 3;
            raw.extend_from_slice(&100_000u32.to_le_bytes());
            xattr::set(p, "security.capability", &raw).expect("setxattr");
        }),
        ("all-zero v2", |p| {
            xattr::set(
                p,
                "security.capability",
                &[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            )
            .expect("setxattr")
        }),
    ];
    for (name, setup) in setups {
        let _ = xattr::remove(&path, "security.capability");
        std::os::unix::fs::chown(&path, Some(0), Some(0)).expect("chown");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        setup(&path);
        let predicted = capsim_json(&[path_str(&path)]);
        let kernel = probe_report(&path);
        assert_eq!(predicted["outcome"], "ok", "{name}");
        let after = &predicted["after"];
        for (key, set) in [
            ("CapInh", "inheritable"),
            ("CapPrm", "permitted"),
            ("CapEff", "effective"),
            ("CapBnd", "bounding"),
            ("CapAmb", "ambient"),
        ] {
            assert_eq!(kernel[key], after[set]["hex"], "{name}: {set}");
        }
        let uids: Vec<String> = ["ruid", "euid", "suid", "fsuid"]
            .iter()
            .map(|k| after[k].to_string())
            .collect();
        assert_eq!(
            kernel["Uid"].split_whitespace().collect::<Vec<_>>(),
            uids,
            "{name}: uids"
        );
        let gids: Vec<String> = ["rgid", "egid", "sgid", "fsgid"]
            .iter()
            .map(|k| after[k].to_string())
            .collect();
        assert_eq!(
            kernel["Gid"].split_whitespace().collect::<Vec<_>>(),
            gids,
            "{name}: gids"
        );
        assert_eq!(
            kernel["AtSecure"] == "1",
            predicted["secure_exec"],
            "{name}: AT_SECURE"
        );
        assert_eq!(
            kernel["Securebits"],
            after["securebits"]["value"].to_string(),
            "{name}: securebits"
        );
    }
}

#[test]
fn overrides_describe_the_caller_and_the_file() {
    // S4: an unprivileged caller and a cap_net_raw+ep file.
    let v = capsim_json(&[
        "--uid",
        "1000",
        "--gid",
        "1000",
        "--groups",
        "",
        "--prm",
        "none",
        "--eff",
        "none",
        "--inh",
        "none",
        "--amb",
        "none",
        "--bnd",
        "000001fffeffffff",
        "--secbits",
        "0",
        "--file-caps",
        "cap_net_raw+ep",
    ]);
    assert_eq!(v["outcome"], "ok");
    assert_eq!(caps(&v, "after", "permitted"), ["cap_net_raw"]);
    assert_eq!(caps(&v, "after", "effective"), ["cap_net_raw"]);
    assert_eq!(v["secure_exec"], true);
    // S8: a capability-dumb file.
    let v = capsim_json(&[
        "--uid",
        "1000",
        "--bnd",
        "000001fffeffffff",
        "--file-caps",
        "cap_sys_resource+ep",
    ]);
    assert_eq!(v["outcome"], "EPERM");
    assert_eq!(v["after"], Value::Null);
    // S11: set-uid root.
    let v = capsim_json(&[
        "--uid", "1000", "--prm", "none", "--eff", "none", "--inh", "none", "--amb", "none",
        "--bnd", "all", "--mode", "4755", "--owner", "0",
    ]);
    assert_eq!(v["after"]["euid"], 0);
    assert_eq!(hex(&v, "after", "permitted"), "000001ffffffffff");
    // S48: a zero-length xattr.
    assert_eq!(
        capsim_json(&["--uid", "1000", "--file-xattr", ""])["outcome"],
        "EINVAL"
    );
    // S16: nosuid.
    let v = capsim_json(&[
        "--uid", "1000", "--prm", "none", "--eff", "none", "--mode", "4755", "--nosuid",
    ]);
    assert_eq!(v["after"]["euid"], 1000);
    // U2: a v3 rootid honoured inside the namespace whose root it is.
    let v = capsim_json(&[
        "--uid",
        "1000",
        "--prm",
        "none",
        "--eff",
        "none",
        "--inh",
        "none",
        "--amb",
        "none",
        "--bnd",
        "all",
        "--userns-map",
        "0:100000:65536",
        "--file-caps",
        "cap_net_raw+ep",
        "--rootid",
        "100000",
    ]);
    assert_eq!(caps(&v, "after", "permitted"), ["cap_net_raw"]);
    // S28 and S29: traced by a tracer without and with CAP_SYS_PTRACE.
    let base = [
        "--uid",
        "1000",
        "--prm",
        "none",
        "--eff",
        "none",
        "--file-caps",
        "cap_net_raw+ep",
    ];
    let v = capsim_json(&[&base[..], &["--traced"]].concat());
    assert_eq!(caps(&v, "after", "permitted"), Vec::<String>::new());
    let v = capsim_json(&[&base[..], &["--traced=capable"]].concat());
    assert_eq!(caps(&v, "after", "permitted"), ["cap_net_raw"]);
    // S32: a CLONE_FS sibling reverts set-uid root.
    let v = capsim_json(&[
        "--uid",
        "1000",
        "--prm",
        "none",
        "--eff",
        "none",
        "--mode",
        "4755",
        "--fs-shared",
    ]);
    assert_eq!(v["after"]["euid"], 1000);
}

#[test]
fn kernel_rules_switch() {
    // S44: ruid 1000, euid 0, ambient cap_net_raw; before 6.16 the ambient set is cleared.
    let args = [
        "--uid",
        "1000,0,0",
        "--gid",
        "0",
        "--inh",
        "net_raw",
        "--amb",
        "net_raw",
        "--prm",
        "000001fffeffffff",
        "--eff",
        "000001fffeffffff",
        "--bnd",
        "000001fffeffffff",
        "--kernel-rules",
    ];
    let current = capsim_json(&[&args[..], &["current"]].concat());
    assert_eq!(caps(&current, "after", "ambient"), ["cap_net_raw"]);
    let legacy = capsim_json(&[&args[..], &["legacy"]].concat());
    assert_eq!(caps(&legacy, "after", "ambient"), Vec::<String>::new());
}

#[test]
fn json_has_exactly_the_documented_shape() {
    let v = capsim_json(&[
        "--uid",
        "1000",
        "--prm",
        "none",
        "--eff",
        "none",
        "--file-caps",
        "cap_net_raw+p",
    ]);
    // serde_json's map sorts keys, so compare sorted lists; the printed order is checked below.
    let sorted = |mut keys: Vec<&'static str>| {
        keys.sort_unstable();
        keys
    };
    let keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        sorted(vec![
            "outcome",
            "before",
            "after",
            "secure_exec",
            "notes",
            "unmodelled",
            "explain"
        ])
    );
    let out = capsim(&["--json", "--uid", "1000"]);
    let positions: Vec<usize> = [
        "\"outcome\"",
        "\"before\"",
        "\"after\"",
        "\"secure_exec\"",
        "\"notes\"",
        "\"unmodelled\"",
        "\"explain\"",
    ]
    .iter()
    .map(|key| out.stdout.find(key).expect("key printed"))
    .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{}", out.stdout);
    for state in ["before", "after"] {
        let keys: Vec<&str> = v[state]
            .as_object()
            .expect("state")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            sorted(vec![
                "ruid",
                "euid",
                "suid",
                "fsuid",
                "rgid",
                "egid",
                "sgid",
                "fsgid",
                "groups",
                "inheritable",
                "permitted",
                "effective",
                "bounding",
                "ambient",
                "securebits",
                "no_new_privs"
            ])
        );
        for set in [
            "inheritable",
            "permitted",
            "effective",
            "bounding",
            "ambient",
        ] {
            assert!(
                v[state][set]["hex"].as_str().is_some_and(|h| h.len() == 16),
                "{state}.{set}"
            );
            assert!(v[state][set]["caps"].is_array());
        }
    }
    let explain = v["explain"].as_array().expect("explain");
    assert!(explain
        .iter()
        .any(|e| e["rule"] == "commoncap.c:bprm_caps_from_vfs_caps"));
    assert!(explain.iter().any(|e| e["set_name"] == "permitted"
        && e["cap"] == "cap_net_raw"
        && e["change"] == "gained"
        && e["why"] == "file permitted ∩ bounding"));
}

#[test]
fn explain_names_the_rule_for_every_capability() {
    let out = capsim(&[
        "--explain",
        "--uid",
        "1000",
        "--inh",
        "net_raw",
        "--prm",
        "net_raw",
        "--eff",
        "net_raw",
        "--amb",
        "net_raw",
        "--file-caps",
        "cap_net_admin+p",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for needle in [
        "rules, in kernel order:",
        "commoncap.c:handle_privileged_root",
        "gained  cap_net_admin",
        "= file permitted ∩ bounding",
        "lost    cap_net_raw",
        "ambient cleared: the file has capabilities",
        "= exec never changes the bounding set",
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing {needle:?} in\n{}",
            out.stdout
        );
    }
}

#[test]
fn files_on_disk_scripts_and_nosuid_mounts() {
    skip_unless!(is_root(), "needs root to set file capabilities and mount");
    let (dir, interp) = probe_copy("interp");
    xattr::set(&interp, "security.capability", &NR_V2_EP).expect("setxattr");
    let script = dir.path().join("script");
    std::fs::write(&script, format!("#!{}\n", interp.display())).expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o4755)).expect("chmod");
    // S60: the interpreter's capabilities count, the script's set-uid bit does not.
    let v = capsim_json(&[
        "--uid",
        "1000",
        "--prm",
        "none",
        "--eff",
        "none",
        path_str(&script),
    ]);
    assert_eq!(caps(&v, "after", "permitted"), ["cap_net_raw"]);
    let out = capsim(&["--uid", "1000", path_str(&script)]);
    assert!(
        out.stdout.contains("from the interpreter"),
        "{}",
        out.stdout
    );

    // S17: a nosuid mount ignores file capabilities.
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mkdir");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "nosuid,mode=0755", "capsim-test"])
        .arg(&mnt)
        .status()
        .is_ok_and(|s| s.success());
    skip_unless!(mounted, "cannot mount a tmpfs");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let file = mnt.join("probe");
    std::fs::copy(&interp, &file).expect("copy");
    xattr::set(&file, "security.capability", &NR_V2_EP).expect("setxattr");
    let v = capsim_json(&[
        "--uid",
        "1000",
        "--inh",
        "net_admin",
        "--prm",
        "net_admin",
        "--eff",
        "net_admin",
        "--amb",
        "net_admin",
        path_str(&file),
    ]);
    assert_eq!(caps(&v, "after", "permitted"), ["cap_net_admin"]);
    assert_eq!(caps(&v, "after", "ambient"), ["cap_net_admin"]);
    let out = capsim(&["--uid", "1000", path_str(&file)]);
    assert!(out.stdout.contains("nosuid mount"), "{}", out.stdout);
}

#[test]
fn docker_preset_matches_the_documented_defaults() {
    let v = capsim_json(&["--docker"]);
    let mut expected: Vec<String> = DOCKER_DEFAULT.iter().map(|s| s.to_string()).collect();
    let order = |name: &String| {
        capcore::Cap::parse_lenient(name)
            .map(|c| c.bit())
            .unwrap_or(99)
    };
    expected.sort_by_key(order);
    for set in ["bounding", "permitted", "effective"] {
        assert_eq!(caps(&v, "before", set), expected, "before {set}");
    }
    assert_eq!(v["before"]["euid"], 0);
    // Root in the container: after exec of a plain file, P = E = the bounding set.
    assert_eq!(caps(&v, "after", "permitted"), expected);
    assert_eq!(caps(&v, "after", "effective"), expected);
    // A non-root user gets nothing from a plain file, but a file capability within the bounding set works.
    let v = capsim_json(&["--docker", "--user", "1000:1000"]);
    assert_eq!(caps(&v, "after", "permitted"), Vec::<String>::new());
    assert_eq!(caps(&v, "before", "bounding"), expected);
    let v = capsim_json(&[
        "--docker",
        "--user",
        "1000",
        "--file-caps",
        "cap_net_raw+ep",
    ]);
    assert_eq!(caps(&v, "after", "effective"), ["cap_net_raw"]);
    // ... and one outside it makes the file capability-dumb.
    assert_eq!(
        capsim_json(&[
            "--docker",
            "--user",
            "1000",
            "--file-caps",
            "cap_net_admin+ep"
        ])["outcome"],
        "EPERM"
    );
    let v = capsim_json(&[
        "--docker",
        "--cap-drop",
        "all",
        "--cap-add",
        "NET_BIND_SERVICE",
    ]);
    assert_eq!(caps(&v, "after", "permitted"), ["cap_net_bind_service"]);
    let v = capsim_json(&[
        "--docker",
        "--cap-add",
        "net_admin",
        "--cap-drop",
        "CAP_NET_RAW",
    ]);
    let bounding = caps(&v, "before", "bounding");
    assert!(
        bounding.contains(&"cap_net_admin".to_string())
            && !bounding.contains(&"cap_net_raw".to_string())
    );
    // Every capability the runtime holds: capsim assumes its own bounding set (a note says so), or the
    // one --runtime-bounding gives.
    let v = capsim_json(&["--docker", "--privileged"]);
    assert_eq!(
        caps(&v, "before", "bounding").len(),
        crate::capsim_oci::own_bounding().count_ones() as usize
    );
    assert!(v["notes"].to_string().contains("--runtime-bounding"), "{v}");
    let v = capsim_json(&["--docker", "--privileged", "--runtime-bounding", "all"]);
    assert_eq!(
        caps(&v, "before", "bounding").len(),
        capsys::kernel::known_caps_or_default() as usize
    );
    // Docker 20.10 knows the kernel's capabilities up to cap_audit_read, and no name after it.
    let v = capsim_json(&[
        "--docker",
        "--docker-version",
        "20.10",
        "--runtime-bounding",
        "all",
        "--privileged",
    ]);
    assert_eq!(caps(&v, "before", "bounding").len(), 38);
    let v = capsim_json(&["--docker", "--docker-version", "20.10", "--cap-add", "bpf"]);
    assert_eq!(v["outcome"], "refused");
    assert_eq!(v["refused_by"], "dockerd");
    assert_eq!(
        v["refused"],
        "Error response from daemon: invalid CapAdd: unknown capability: \"CAP_BPF\""
    );
    // --cap-add ALL wins over --cap-drop ALL, in either order.
    for order in [
        ["--cap-add", "all", "--cap-drop", "all"],
        ["--cap-drop", "ALL", "--cap-add", "ALL"],
    ] {
        let mut args = vec!["--docker", "--runtime-bounding", "all"];
        args.extend(order);
        let v = capsim_json(&args);
        assert_eq!(
            caps(&v, "before", "bounding").len(),
            capsys::kernel::known_caps_or_default() as usize,
            "{order:?}"
        );
    }
    let v = capsim_json(&[
        "--docker",
        "--no-new-privileges",
        "--user",
        "1000",
        "--mode",
        "4755",
        "--owner",
        "0",
    ]);
    assert_eq!(v["after"]["euid"], 1000);
    assert_eq!(v["after"]["no_new_privs"], true);
}

#[test]
fn systemd_preset_matches_the_documented_effect() {
    let dir = tempfile::tempdir().expect("tempdir");
    // systemd.exec(5): a non-root service gets capabilities only through AmbientCapabilities=; they are
    // permitted, effective, inheritable and ambient in the started program, and CapabilityBoundingSet=
    // limits the bounding set.
    let unit = dir.path().join("web.service");
    std::fs::write(
        &unit,
        "[Unit]\nDescription=test\n\n[Service]\nUser=nobody\nExecStart=/bin/true --serve\n\
         CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_RAW\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n\
         NoNewPrivileges=yes\n",
    )
    .expect("unit");
    let v = capsim_json(&["--systemd", path_str(&unit)]);
    assert_eq!(v["outcome"], "ok");
    assert_eq!(v["after"]["euid"], 65534);
    for set in ["permitted", "effective", "inheritable", "ambient"] {
        assert_eq!(caps(&v, "after", set), ["cap_net_bind_service"], "{set}");
    }
    assert_eq!(
        caps(&v, "after", "bounding"),
        ["cap_net_bind_service", "cap_net_raw"]
    );
    assert_eq!(v["after"]["no_new_privs"], true);
    // A root service gets its bounding set as permitted and effective.
    let unit = dir.path().join("root.service");
    std::fs::write(
        &unit,
        "[Service]\nCapabilityBoundingSet=CAP_CHOWN CAP_KILL\nSecureBits=keep-caps\n",
    )
    .expect("unit");
    let v = capsim_json(&["--systemd", path_str(&unit)]);
    assert_eq!(caps(&v, "after", "permitted"), ["cap_chown", "cap_kill"]);
    assert_eq!(caps(&v, "after", "effective"), ["cap_chown", "cap_kill"]);
    assert_eq!(v["before"]["securebits"]["value"], 0x10);
    assert_eq!(v["after"]["securebits"]["value"], 0);
}

#[test]
fn live_process_by_pid() {
    let mut child = Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let pid = child.id().to_string();
    let out = capsim(&["--json", "--pid", &pid]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("securebits of another process cannot be read"),
        "{}",
        out.stderr
    );
    let v = &out.json_lines()[0];
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let prm = status
        .lines()
        .find_map(|l| l.strip_prefix("CapPrm:"))
        .map(str::trim)
        .unwrap_or_default();
    assert_eq!(v["before"]["permitted"]["hex"], prm);
}

#[test]
fn errors_name_the_input_and_exit_2() {
    let out = capsim(&["--prm", "cap_bogus"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.starts_with("capsim: --prm:"), "{}", out.stderr);
    let out = capsim(&["/nonexistent/capsim-file"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("/nonexistent/capsim-file"),
        "{}",
        out.stderr
    );
    let out = capsim(&["--cap-add", "net_admin"]);
    assert_eq!(out.code, 2, "--cap-add needs --docker");
    let out = capsim(&["--file-caps", "cap_net_raw=e i"]);
    assert_eq!(out.code, 2);
    let out = capsim(&["--userns-map", "0:100000"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("INSIDE:OUTSIDE:COUNT"),
        "{}",
        out.stderr
    );
    let out = capsim(&["--pid", "999999999"]);
    assert_eq!(out.code, 2);
    assert_eq!(out.stderr, "capsim: 999999999: no such process\n");
}

#[test]
fn live_process_in_a_user_namespace_is_seen_from_inside() {
    skip_unless!(
        is_root(),
        "needs root to map uid 0 into a new user namespace"
    );
    let spawned = Command::new("unshare")
        .args([
            "--user",
            "--map-user=1000",
            "--map-group=1000",
            "sleep",
            "30",
        ])
        .spawn();
    let Ok(mut child) = spawned else {
        crate::util::skipped("unshare is not available");
        return;
    };
    // unshare execs sleep once the maps are written.
    let pid = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "sleep" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = capsim(&["--json", "--pid", &pid.to_string()]);
    let _ = child.kill();
    let _ = child.wait();
    if out.code != 0 && out.stderr.contains("map-user") {
        crate::util::skipped("this unshare has no --map-user");
        return;
    }
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = &out.json_lines()[0];
    // Kernel uid 0 is uid 1000 inside, where uid 0 (the namespace's root) is unmapped.
    assert_eq!(v["before"]["ruid"], 1000);
    assert_eq!(v["before"]["egid"], 1000);
    assert_eq!(caps(v, "after", "permitted"), Vec::<String>::new());
}

/// Writes files under `dir` (parents created), and returns `dir/first`.
fn unit_files(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write unit");
    }
    dir.join(files[0].0)
}

/// Runs `capsim --json --systemd UNIT` with only the test's directories searched for drop-ins.
fn systemd_json(unit: &Path, extra: &[&str]) -> Value {
    let dir = unit.parent().expect("unit dir");
    let mut args = vec!["--systemd", path_str(unit), "--unit-path", path_str(dir)];
    args.extend_from_slice(extra);
    capsim_json(&args)
}

#[test]
fn systemd_junk_lines_are_noted_once_with_a_count() {
    // Lines without '=' in a unit and a drop-in: one note with the count, not one per line (a 16 MiB unit
    // used to print 620 MB of notes and hold 1.9 GB).
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = "x\n".repeat(1_000_000);
    let unit = unit_files(
        dir.path(),
        &[
            (
                "junk.service",
                &format!("[Service]\nExecStart=/bin/true\n{junk}"),
            ),
            ("junk.service.d/more.conf", &format!("[Service]\n{junk}")),
        ],
    );
    let out = capsim(&[
        "--systemd",
        path_str(&unit),
        "--unit-path",
        path_str(dir.path()),
    ]);
    assert_eq!(out.code, 0, "{}", &out.stderr[..out.stderr.len().min(2000)]);
    assert!(
        out.stderr.len() < 2000,
        "{} bytes of notes",
        out.stderr.len()
    );
    let notes: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("missing '='"))
        .collect();
    assert_eq!(
        notes,
        [format!(
            "capsim: note: {}:3: missing '=': systemd ignores the line (and 1999999 more like it)",
            unit.display()
        )]
    );
}

#[test]
fn systemd_long_group_lists_resolve_in_one_pass() {
    // 100,000 group numbers and 100,000 names: each name used to re-read /etc/group and each group to be
    // compared with every one before it.
    let dir = tempfile::tempdir().expect("tempdir");
    let numbers: Vec<String> = (1..=100_000).map(|g| g.to_string()).collect();
    let text = format!(
        "[Service]\nExecStart=/bin/true\nUser=root\nSupplementaryGroups={}\nSupplementaryGroups={}\n\
         SupplementaryGroups={}\n",
        numbers[..50_000].join(" "),
        numbers[50_000..].join(" "),
        vec!["root"; 100_000].join(" "),
    );
    let unit = unit_files(dir.path(), &[("groups.service", &text)]);
    let v = systemd_json(&unit, &[]);
    let groups = v["before"]["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 100_001);
    assert_eq!((&groups[0], &groups[100_000]), (&0.into(), &100_000.into()));
    assert!(groups.windows(2).all(|w| w[0].as_u64() < w[1].as_u64()));
}

#[test]
fn systemd_unknown_user_is_quoted_not_echoed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let name = "u".repeat(1_000_000);
    let unit = unit_files(
        dir.path(),
        &[(
            "user.service",
            &format!("[Service]\nExecStart=/bin/true\nUser={name}\n"),
        )],
    );
    let out = capsim(&[
        "--systemd",
        path_str(&unit),
        "--unit-path",
        path_str(dir.path()),
    ]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        format!(
            "capsim: {}: unknown user '{}… (1000000 bytes)'\n",
            unit.display(),
            "u".repeat(48)
        )
    );
}

#[test]
fn systemd_reads_lines_as_systemd_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A comment ending in a backslash does not swallow the next line, a comment inside a continuation is
    // skipped, CRLF ends lines, and an escaped backslash does not continue.
    let unit = unit_files(
        dir.path(),
        &[(
            "lines.service",
            "[Service]\r\nUser=nobody\r\n# the bounding set follows \\\r\nCapabilityBoundingSet=CAP_NET_RAW CAP_CHOWN\r\n\
             AmbientCapabilities=CAP_NET_RAW \\\n; CAP_SYS_ADMIN is not wanted\n   CAP_CHOWN\n\
             ExecStart=/bin/true\n",
        )],
    );
    let v = systemd_json(&unit, &[]);
    assert_eq!(caps(&v, "before", "bounding"), ["cap_chown", "cap_net_raw"]);
    assert_eq!(caps(&v, "before", "ambient"), ["cap_chown", "cap_net_raw"]);
    assert_eq!(caps(&v, "after", "permitted"), ["cap_chown", "cap_net_raw"]);
    // `CapabilityBoundingSet=` empty is the empty set (not every capability); `~` inverts.
    let unit = unit_files(
        dir.path(),
        &[(
            "empty.service",
            "[Service]\nCapabilityBoundingSet=CAP_KILL\nCapabilityBoundingSet=\nExecStart=/bin/true\n",
        )],
    );
    assert_eq!(
        hex(&systemd_json(&unit, &[]), "before", "bounding"),
        "0000000000000000"
    );
    let unit = unit_files(
        dir.path(),
        &[(
            "inverted.service",
            "[Service]\nCapabilityBoundingSet=~CAP_SYS_ADMIN\nCapabilityBoundingSet=~CAP_KILL\nExecStart=/bin/true\n",
        )],
    );
    let bounding = caps(&systemd_json(&unit, &[]), "before", "bounding");
    assert!(!bounding
        .iter()
        .any(|c| c == "cap_sys_admin" || c == "cap_kill"));
    assert_eq!(bounding.len(), 39);
    // A broken section header fails the load, as it does for systemd.
    let unit = unit_files(
        dir.path(),
        &[("broken.service", "[Service\nExecStart=/bin/true\n")],
    );
    let out = capsim(&[
        "--systemd",
        path_str(&unit),
        "--unit-path",
        path_str(dir.path()),
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("section header"), "{}", out.stderr);
}

#[test]
fn systemd_applies_dropins_in_systemds_order() {
    let root = tempfile::tempdir().expect("tempdir");
    let high = root.path().join("etc");
    let low = root.path().join("lib");
    let unit = unit_files(
        &low,
        &[
            (
                "app-web@blue.service",
                "[Service]\nUser=nobody\nAmbientCapabilities=CAP_CHOWN\nExecStart=/bin/true\n",
            ),
            // Applied by file name across all directories: 10, 20, 30, 40, 50.
            (
                "app-web@.service.d/20-template.conf",
                "[Service]\nAmbientCapabilities=CAP_KILL\n",
            ),
            (
                "app-.service.d/10-prefix.conf",
                "[Service]\nAmbientCapabilities=CAP_NET_RAW\n",
            ),
            ("service.d/40-all.conf", "[Service]\nSecureBits=noroot\n"),
            // Masked by the higher-priority directory's file of the same name.
            (
                "app-web@blue.service.d/30-masked.conf",
                "[Service]\nUser=root\n",
            ),
            (
                "app-web@blue.service.d/50-last.conf",
                "[Service]\nCapabilityBoundingSet=CAP_CHOWN CAP_KILL CAP_NET_RAW CAP_NET_ADMIN\n",
            ),
            (
                "app-web@blue.service.d/.hidden.conf",
                "[Service]\nUser=root\n",
            ),
            (
                "app-web@blue.service.d/60-not-conf.txt",
                "[Service]\nUser=root\n",
            ),
        ],
    );
    std::fs::create_dir_all(high.join("app-web@blue.service.d")).expect("mkdir");
    std::os::unix::fs::symlink(
        "/dev/null",
        high.join("app-web@blue.service.d/30-masked.conf"),
    )
    .expect("mask");
    // A FIFO among the drop-ins is not a file systemd lists: skipped, never opened.
    let fifo = low.join("app-web@blue.service.d/70-fifo.conf");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    let v = capsim_json(&[
        "--systemd",
        path_str(&unit),
        "--unit-path",
        path_str(&high),
        "--unit-path",
        path_str(&low),
    ]);
    assert_eq!(v["before"]["ruid"], 65534);
    assert_eq!(
        caps(&v, "before", "ambient"),
        ["cap_chown", "cap_kill", "cap_net_raw"]
    );
    assert_eq!(v["before"]["securebits"]["value"], 1);
    assert_eq!(caps(&v, "before", "bounding").len(), 4);
}

#[test]
fn systemd_no_new_privs_and_dynamic_users() {
    let dir = tempfile::tempdir().expect("tempdir");
    let setuid_file = "ExecStart=/usr/bin/su\n";
    let case = |name: &str, body: &str| -> Value {
        let unit = unit_files(
            dir.path(),
            &[(name, &format!("[Service]\n{body}{setuid_file}"))],
        );
        systemd_json(&unit, &[])
    };
    // A filter that blocks setuid makes systemd set no_new_privs for a non-root service...
    let v = case("filter.service", "User=nobody\nSystemCallFilter=~setuid\n");
    assert_eq!(v["before"]["no_new_privs"], true);
    // ...but not for root, which holds CAP_SYS_ADMIN.
    let v = case(
        "root.service",
        "ProtectKernelTunables=yes\nSystemCallFilter=~setuid\n",
    );
    assert_eq!(v["before"]["no_new_privs"], false);
    // Without a filter systemd keeps CAP_SYS_ADMIN to install the others, and says so.
    let v = case("realtime.service", "User=nobody\nRestrictRealtime=yes\n");
    assert_eq!(v["before"]["no_new_privs"], false);
    assert!(v["notes"].to_string().contains("RestrictRealtime="), "{v}");
    // DynamicUser=yes always implies it, with a non-root dynamic uid.
    let v = case("capkit-dynamic-test.service", "DynamicUser=yes\n");
    assert_eq!(v["before"]["no_new_privs"], true);
    assert_eq!(v["before"]["ruid"], 61184);
    assert!(v["notes"].to_string().contains("DynamicUser"), "{v}");
    // `+` runs the command with full privileges whatever User= says.
    let v = case(
        "plus.service",
        "User=nobody\nNoNewPrivileges=yes\nExecStart=+/usr/bin/true\n",
    );
    assert_eq!(v["before"]["ruid"], 0);
    assert_eq!(v["before"]["no_new_privs"], false);
    // Settings that shape credentials but are not modelled are named, with where they are.
    let v = case(
        "users.service",
        "User=nobody\nPrivateUsers=yes\nPAMName=login\n",
    );
    let unmodelled = v["unmodelled"].as_array().expect("unmodelled");
    let names: Vec<&str> = unmodelled
        .iter()
        .filter_map(|u| u["setting"].as_str())
        .collect();
    assert_eq!(names, ["PrivateUsers", "PAMName"]);
    assert!(unmodelled[0]["where"]
        .as_str()
        .is_some_and(|w| w.ends_with("users.service:3")));
}

#[test]
fn systemd_unit_files_that_are_not_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo.service");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    let zero = dir.path().join("zero.service");
    std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
    let masked = dir.path().join("masked.service");
    std::os::unix::fs::symlink("/dev/null", &masked).expect("symlink");
    let empty = dir.path().join("empty.service");
    std::fs::write(&empty, "").expect("empty");
    let dropin_dir = dir.path().join("ok.service.d");
    std::fs::create_dir_all(&dropin_dir).expect("mkdir");
    std::os::unix::fs::symlink("/dev/zero", dropin_dir.join("zero.conf")).expect("symlink");
    let ok = dir.path().join("ok.service");
    std::fs::write(&ok, "[Service]\nExecStart=/bin/true\n").expect("unit");
    for unit in [&fifo, &zero, &masked, &empty, &ok] {
        let mut child = Command::new(crate::util::bin("capsim"))
            .args([
                "--systemd",
                path_str(unit),
                "--unit-path",
                path_str(dir.path()),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn capsim");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break Some(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let status = status.unwrap_or_else(|| panic!("capsim hung on {}", unit.display()));
        assert_eq!(status.code(), Some(2), "{}", unit.display());
    }
}

// Issue 10's conventions: exit codes, the one set vocabulary, output that fits where it goes, colour,
// flags, help and small words.

/// The caller and file of the convention tests: uid 1000 with nothing, executing a file that has
/// cap_net_raw and cap_sys_admin (root-equivalent) permitted and effective. Nothing here depends on the
/// machine but the number of capabilities its kernel knows.
const GAINS_SYS_ADMIN: [&str; 14] = [
    "--uid",
    "1000",
    "--prm",
    "none",
    "--eff",
    "none",
    "--inh",
    "none",
    "--amb",
    "none",
    "--bnd",
    "all",
    "--file-caps",
    "cap_sys_admin,cap_net_raw+ep",
];

/// Runs capsim on a pseudo-terminal with `env` set; `None` without `script`.
fn capsim_on_tty(env: &[(&str, &str)], args: &[&str]) -> Option<Run> {
    crate::util::on_terminal("capsim", args, env)
}

#[test]
fn missing_operands_are_all_named_and_exit_2() {
    let out = capsim(&["--pid", "999999999", "/nonexistent/capsim-file"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "capsim: 999999999: no such process\n\
         capsim: /nonexistent/capsim-file: No such file or directory (os error 2)\n"
    );
    assert_eq!(out.stdout, "");
    let out = capsim(&["/nonexistent/capsim-file"]);
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (
            2,
            "capsim: /nonexistent/capsim-file: No such file or directory (os error 2)\n"
        )
    );
    // A name that is not a directory on the way: the errno's own words, still one line.
    let out = capsim(&["/dev/null/x"]);
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (2, "capsim: /dev/null/x: Not a directory (os error 20)\n")
    );
}

/// `--uid nobody` alone keeps capsim's own capabilities and gid in the caller's state: a note says which
/// parts are capsim's own, and none when every part is given.
#[test]
fn a_caller_partly_given_says_what_is_capsims_own() {
    let v = capsim_json(&["--uid", "65534", "/bin/true"]);
    let notes = v["notes"].to_string();
    assert!(notes.contains("capsim's own: gid"), "{notes}");
    assert!(notes.contains("(--prm)"), "{notes}");
    let all = [
        "--uid",
        "65534",
        "--gid",
        "65534",
        "--groups",
        "",
        "--inh",
        "none",
        "--prm",
        "none",
        "--eff",
        "none",
        "--bnd",
        "all",
        "--amb",
        "none",
        "/bin/true",
    ];
    let v = capsim_json(&all);
    assert!(!v["notes"].to_string().contains("capsim's own"), "{v}");
}

#[test]
fn sets_are_written_in_the_one_long_form() {
    // No supplementary groups, whoever runs the test: the caller's own would show otherwise.
    let out = capsim(&[&["--explain", "--groups", ""][..], &GAINS_SYS_ADMIN[..]].concat());
    assert_eq!(out.code, 0, "{}", out.stderr);
    let known = capsim_json(&["--bnd", "all"])["before"]["bounding"]["caps"]
        .as_array()
        .map_or(0, Vec::len);
    for line in [
        "  inheritable none".to_string(),
        "  permitted   cap_net_raw, cap_sys_admin (2 of {known})"
            .replace("{known}", &known.to_string()),
        format!("  bounding    full (all {known})"),
        "groups        none              none".to_string(),
    ] {
        assert!(
            out.stdout.lines().any(|l| l == line),
            "no line {line:?} in\n{}",
            out.stdout
        );
    }
    // The rules' texts name their sets the same way.
    assert!(
        out.stdout.contains(&format!(
            "fP 0000000000202000 (cap_net_raw, cap_sys_admin (2 of {known})), fI 0000000000000000, fE set"
        )),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("gains net_raw,sys_admin"));
    for old in ["(none)", "capabilities except", "all 41 capabilities"] {
        assert!(!out.stdout.contains(old), "{old:?} in\n{}", out.stdout);
    }
    let everything = capsim(&["--uid", "0", "--prm", "all", "--eff", "all", "--bnd", "all"]);
    assert!(everything
        .stdout
        .contains(&format!("  permitted   full (all {known})")));
}

#[test]
fn into_a_pipe_every_line_is_whole_and_plain() {
    let out = capsim(&[&["--explain"][..], &GAINS_SYS_ADMIN[..]].concat());
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.contains('\x1b'), "{:?}", out.stdout);
    // Each rule's text is one line, however long: here the longest are well past 100 columns.
    let lines: Vec<&str> = out.stdout.lines().collect();
    let rule = lines
        .iter()
        .position(|l| l.trim() == "commoncap.c:bprm_caps_from_vfs_caps")
        .expect("the file-capability rule");
    let text = lines[rule + 1];
    assert!(
        text.starts_with("      file capabilities v2 honoured:")
            && text.contains("P = (B & fP) | (I & fI) = 0000000000202000"),
        "{text}"
    );
    assert!(text.chars().count() > 100, "{text}");
    assert!(
        lines[rule + 2].starts_with("  commoncap.c:"),
        "a continuation line: {:?}",
        lines[rule + 2]
    );
    // `--color never` and NO_COLOR change nothing into a pipe.
    let never = capsim(&[&["--explain", "--color", "never"][..], &GAINS_SYS_ADMIN[..]].concat());
    assert_eq!(strip_pid(&never.stdout), strip_pid(&out.stdout));
}

/// Output without the line that names capsim's own pid, which differs between runs.
fn strip_pid(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("caller:"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn color_always_paints_root_equivalent_gains_and_failed_execs() {
    let out = capsim(&[&["--color", "always"][..], &GAINS_SYS_ADMIN[..]].concat());
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("\x1b[1;31mgains net_raw,sys_admin\x1b[0m"),
        "{:?}",
        out.stdout
    );
    assert!(out.stdout.contains("\x1b[1;31mcap_sys_admin\x1b[0m"));
    // A gain that gives nothing of root away is not painted.
    let quiet = capsim(&[
        "--color",
        "always",
        "--uid",
        "1000",
        "--prm",
        "none",
        "--eff",
        "none",
        "--inh",
        "none",
        "--amb",
        "none",
        "--file-caps",
        "cap_net_raw+ep",
    ]);
    assert!(
        quiet.stdout.contains("  gains net_raw\n"),
        "{:?}",
        quiet.stdout
    );
    // An exec that fails stands out as a finding.
    let fails = capsim(&[
        "--color",
        "always",
        "--docker",
        "--user",
        "1000",
        "--file-caps",
        "cap_net_admin+ep",
    ]);
    assert_eq!(fails.code, 0, "{}", fails.stderr);
    assert!(
        fails
            .stdout
            .contains("outcome:      \x1b[33mEPERM: execve fails\x1b[0m and nothing changes"),
        "{:?}",
        fails.stdout
    );
    // JSON is never coloured.
    let json = capsim(
        &[
            &["--color", "always", "--json", "--explain"][..],
            &GAINS_SYS_ADMIN[..],
        ]
        .concat(),
    );
    assert!(!json.stdout.contains('\x1b'));
}

#[test]
fn a_terminal_is_fitted_to_its_width_and_no_color_is_honoured() {
    let args = [&["--explain"][..], &GAINS_SYS_ADMIN[..]].concat();
    let Some(narrow) = capsim_on_tty(&[("COLUMNS", "80")], &args) else {
        crate::util::skipped("no `script` (util-linux) to run capsim on a terminal");
        return;
    };
    assert_eq!(narrow.code, 0, "{}", narrow.stdout);
    assert!(narrow.stdout.contains('\x1b'), "a terminal is coloured");
    let text = crate::util::plain(&narrow.stdout);
    // The id rows name users from this machine's passwd, which may be long: they are left out.
    let ids = [
        "ruid", "euid", "suid", "fsuid", "rgid", "egid", "sgid", "fsgid",
    ];
    for line in text
        .lines()
        .filter(|l| !ids.contains(&l.split(' ').next().unwrap_or("")))
    {
        assert!(line.chars().count() <= 80, "wider than 80: {line:?}");
    }
    let lines: Vec<&str> = text.lines().collect();
    let rule = lines
        .iter()
        .position(|l| l.trim() == "commoncap.c:bprm_caps_from_vfs_caps")
        .expect("the file-capability rule");
    assert!(
        lines[rule + 2].starts_with("      "),
        "the rule's text is wrapped: {:?}",
        &lines[rule..rule + 3]
    );
    assert!(
        !text
            .lines()
            .any(|l| l.ends_with("(2") || l.ends_with("(2 of")),
        "a count is never split: {text}"
    );
    // A wider terminal is used to its width, not a fixed one.
    let wide = capsim_on_tty(&[("COLUMNS", "150")], &args).expect("script ran before");
    let wide = crate::util::plain(&wide.stdout);
    assert!(wide.lines().all(|l| l.chars().count() <= 150));
    assert!(wide.lines().any(|l| l.chars().count() > 100), "{wide}");
    // NO_COLOR turns colour off on a terminal; --color always turns it back on.
    let no_color = capsim_on_tty(&[("COLUMNS", "80"), ("NO_COLOR", "1")], &args).expect("script");
    assert!(!no_color.stdout.contains('\x1b'), "{:?}", no_color.stdout);
    let forced = [&["--color", "always"][..], &args[..]].concat();
    let forced = capsim_on_tty(&[("COLUMNS", "80"), ("NO_COLOR", "1")], &forced).expect("script");
    assert!(forced.stdout.contains("\x1b[1;31m"));
}

#[test]
fn secbits_and_its_hidden_alias_set_the_securebits() {
    for flag in ["--secbits", "--securebits"] {
        let v = capsim_json(&[flag, "noroot,keep_caps"]);
        assert_eq!(v["before"]["securebits"]["value"], 0x11, "{flag}");
    }
    let out = capsim(&["--secbits", "bogus"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with("capsim: --secbits:"),
        "{}",
        out.stderr
    );
    // The old spelling works but is not offered.
    for kind in ["bash", "zsh", "fish"] {
        let out = capsim(&["--generate", kind]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.stdout.contains("secbits"), "{kind}");
        assert!(!out.stdout.contains("securebits"), "{kind}");
    }
    let help = capsim(&["--help"]);
    assert!(!help.stdout.contains("--securebits"));
    let old = capsim(&["--generate-completions", "bash"]);
    assert_eq!(old.code, 0);
    assert_eq!(old.stdout, capsim(&["--generate", "bash"]).stdout);
    let man = capsim(&["--generate", "man"]);
    assert!(man.stdout.contains(".TH capsim"), "{}", man.stdout);
}

#[test]
fn long_help_ends_with_examples_and_short_help_is_shorter() {
    let run = |flag: &str, columns: &str| {
        let out = crate::util::run_cmd(
            Command::new(crate::util::bin("capsim"))
                .arg(flag)
                .env("COLUMNS", columns),
            None,
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout
    };
    for columns in ["80", "200"] {
        let long = run("--help", columns);
        let short = run("-h", columns);
        assert!(short.lines().count() < long.lines().count());
        assert!(!short.contains("Examples:"));
        let examples = long.find("\nExamples:\n").expect("an Examples section");
        let tail = &long[examples..];
        let commands = tail.lines().filter(|l| l.starts_with("  capsim ")).count();
        assert!((3..=6).contains(&commands), "{tail}");
        // Nothing but examples and their one-line explanations follows.
        for line in tail.lines().skip(2) {
            assert!(
                line.starts_with("  capsim ") || line.starts_with("      "),
                "{line:?}"
            );
        }
        // Paragraphs are wrapped by clap at the width, never by a newline in the middle of a sentence:
        // a line followed by more of its paragraph ends only because the next word did not fit.
        let width = columns.parse::<usize>().unwrap_or(80).min(100);
        let prose = [
            &long[..long.find("Usage:").unwrap_or(0)],
            &long[long.find("\nSET is").unwrap_or(0)..examples],
        ];
        for part in prose {
            let lines: Vec<&str> = part.lines().collect();
            for pair in lines.windows(2) {
                let next = pair[1].split(' ').next().unwrap_or("");
                if !pair[0].is_empty() && !next.is_empty() {
                    assert!(
                        pair[0].len() + 1 + next.len() > width,
                        "a hard break at {columns} columns: {pair:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn counts_are_plural_only_when_more_than_one() {
    // On the narrowest terminal the change column gives counts where they are shorter than the names.
    let args = [
        "--uid",
        "1000",
        "--prm",
        "block_suspend,checkpoint_restore",
        "--eff",
        "checkpoint_restore",
        "--inh",
        "none",
        "--amb",
        "none",
    ];
    let Some(out) = capsim_on_tty(&[("COLUMNS", "40")], &args) else {
        crate::util::skipped("no `script` (util-linux) to run capsim on a terminal");
        return;
    };
    let text = crate::util::plain(&out.stdout);
    let row = |label: &str| {
        text.lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        row("permitted").ends_with("  loses 2 capabilities"),
        "{text}"
    );
    assert!(row("effective").ends_with("  loses 1 capability"), "{text}");
    // Into a pipe the names themselves.
    let piped = capsim(&args);
    assert!(piped
        .stdout
        .contains("  loses block_suspend,checkpoint_restore\n"));
}

/// cap_net_bind_service+ep as a v2 security.capability value.
const NBS_V2_EP: [u8; 20] = [1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// Writes `text` as `name` in a new temporary directory.
fn manifest(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("manifest");
    (dir, path)
}

#[test]
fn k8s_deployment_with_two_containers() {
    let (_dir, path) = manifest(
        "deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      \
         securityContext:\n        runAsUser: 1000\n        runAsGroup: 3000\n        fsGroup: 2000\n      \
         containers:\n      - name: app\n        image: app\n        securityContext:\n          \
         capabilities:\n            add: [NET_ADMIN]\n      - name: sidecar\n        image: side\n        \
         securityContext:\n          runAsUser: 0\n          capabilities:\n            drop: [ALL]\n            \
         add: [CAP_NET_BIND_SERVICE]\n",
    );
    let p = path_str(&path);
    // Two containers and none named: an error naming both.
    let out = capsim(&["--k8s", p]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("Deployment/web/app, Deployment/web/sidecar"),
        "{}",
        out.stderr
    );
    // app: uid 1000 under containerd: Docker's 14 plus NET_ADMIN in bounding (and P/E before the exec),
    // none left after executing a plain file.
    let v = capsim_json(&["--k8s", p, "--container", "app"]);
    assert_eq!(v["before"]["euid"], 1000);
    assert_eq!(v["before"]["egid"], 3000);
    // containerd puts the primary gid among the additional gids, with fsGroup.
    assert_eq!(v["before"]["groups"], serde_json::json!([2000, 3000]));
    let bounding = caps(&v, "before", "bounding");
    assert_eq!(bounding.len(), 15);
    assert!(bounding.contains(&"cap_net_admin".to_string()));
    assert_eq!(caps(&v, "before", "permitted"), bounding);
    assert!(caps(&v, "after", "permitted").is_empty());
    assert!(caps(&v, "after", "ambient").is_empty());
    let notes = v["notes"].to_string();
    assert!(notes.contains("no ambient capabilities"), "{notes}");
    assert!(notes.contains("containerd"), "{notes}");
    // sidecar: root, drop ALL, add CAP_NET_BIND_SERVICE: cri-o reads the CAP_ prefix, containerd makes
    // it CAP_CAP_NET_BIND_SERVICE, which runc skips.
    let v = capsim_json(&[
        "--k8s",
        p,
        "--container",
        "Deployment/web/sidecar",
        "--runtime",
        "cri-o",
    ]);
    assert_eq!(v["before"]["euid"], 0);
    assert_eq!(caps(&v, "after", "effective"), ["cap_net_bind_service"]);
    let v = capsim_json(&["--k8s", p, "--container", "sidecar"]);
    assert!(caps(&v, "before", "bounding").is_empty());
    assert!(v["notes"].to_string().contains("CAP_CAP_NET_BIND_SERVICE"));
    // The human report names the runtime and its default set.
    let out = capsim(&["--k8s", p, "--container", "app", "--runtime", "cri-o"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("under cri-o"), "{}", out.stdout);
    assert!(
        out.stdout.contains("default capabilities chown,"),
        "{}",
        out.stdout
    );
}

#[test]
fn k8s_cronjob_multi_document_and_json() {
    let (dir, cron) = manifest(
        "cron.yaml",
        "kind: CronJob\nmetadata: {name: nightly}\nspec:\n  schedule: '@daily'\n  jobTemplate:\n    spec:\n      \
         template:\n        spec:\n          containers:\n          - name: job\n            securityContext:\n              \
         allowPrivilegeEscalation: false\n              runAsUser: 1000\n",
    );
    let v = capsim_json(&["--k8s", path_str(&cron), "--mode", "4755", "--owner", "0"]);
    assert_eq!(v["before"]["no_new_privs"], true);
    // no_new_privs: the set-uid-root file runs as 1000.
    assert_eq!(v["after"]["euid"], 1000);

    let multi = dir.path().join("multi.yaml");
    std::fs::write(
        &multi,
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: only\n    \
         securityContext: {privileged: true}\n---\n",
    )
    .expect("multi");
    // privileged: every capability containerd holds, here all of them.
    let v = capsim_json(&["--k8s", path_str(&multi), "--runtime-bounding", "all"]);
    assert_eq!(
        caps(&v, "before", "bounding").len(),
        capsys::kernel::known_caps_or_default() as usize
    );

    let json = dir.path().join("pod.json");
    std::fs::write(
        &json,
        r#"{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db"},"spec":{"template":{"spec":{"securityContext":{"runAsUser":999,"supplementalGroups":[5,6]},"initContainers":[{"name":"init","securityContext":{"runAsUser":0}}],"containers":[{"name":"pg"}]}}}}"#,
    )
    .expect("json");
    let v = capsim_json(&[
        "--k8s",
        path_str(&json),
        "--container",
        "pg",
        "--runtime",
        "cri-o",
    ]);
    assert_eq!(v["before"]["euid"], 999);
    assert_eq!(v["before"]["groups"], serde_json::json!([5, 6]));
    assert_eq!(caps(&v, "before", "bounding").len(), 9);
    let v = capsim_json(&["--k8s", path_str(&json), "--container", "init"]);
    assert_eq!(v["before"]["euid"], 0);
    // `-` reads the manifest from standard input.
    let text = std::fs::read(&json).expect("read json");
    let out = run(
        "capsim",
        &["--json", "--k8s", "-", "--container", "pg"],
        Some(&text),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json_lines()[0]["before"]["euid"], 999);
    // A manifest without any workload, and one that is not there, are errors (2).
    let out = capsim(&["--k8s", path_str(&dir.path().join("nope.yaml"))]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("nope.yaml: No such file"),
        "{}",
        out.stderr
    );
    std::fs::write(&multi, "kind: ConfigMap\n").expect("configmap");
    assert_eq!(capsim(&["--k8s", path_str(&multi)]).code, 2);
}

#[test]
fn k8s_deep_nesting_is_refused_at_once() {
    // libyaml reads `a: [[[[…` in time quadratic in its depth: this 1 MB took most of an hour before the
    // bound, which now refuses it at the 129th level.
    let dir = tempfile::tempdir().expect("tempdir");
    let pod = dir.path().join("pod.yaml");
    std::fs::write(&pod, format!("a: {}", "[".repeat(1 << 20))).expect("pod");
    let out = capsim(&["--k8s", path_str(&pod)]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(
        out.stderr,
        format!(
            "capsim: {}: nesting deeper than 128 levels at line 1 column 131\n",
            pod.display()
        )
    );
}

/// `hostUsers: false`: the pod's own user namespace (container ids 0-65535 on a host range), and the
/// image's files seen through an idmapped mount: a set-uid file the image's root owns makes the user the
/// namespace's root, which a file of a host id outside the range does not.
#[test]
fn k8s_host_users_false_predicts_in_the_pods_user_namespace() {
    skip_unless!(
        is_root(),
        "needs root to make set-uid files of other owners"
    );
    let (dir, binary) = probe_copy("su");
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o4755)).expect("chmod");
    let pod = dir.path().join("pod.yaml");
    std::fs::write(
        &pod,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  hostUsers: false\n  securityContext: \
         {runAsUser: 1000, runAsGroup: 1000}\n  containers:\n  - name: app\n",
    )
    .expect("pod");
    let v = capsim_json(&["--k8s", path_str(&pod), path_str(&binary)]);
    assert_eq!(v["outcome"], "ok", "{v}");
    assert_eq!(v["after"]["euid"], 0, "{v}");
    assert!(v["notes"].to_string().contains("hostUsers: false"), "{v}");
    let human = capsim(&[
        "--k8s",
        path_str(&pod),
        path_str(&binary),
        "--color",
        "never",
    ]);
    assert!(
        human.stdout.contains("user namespace 0:65536:65536"),
        "{}",
        human.stdout
    );
    // A file of host uid 200000 is nobody in the pod: its set-uid bit is ignored.
    std::os::unix::fs::chown(&binary, Some(200_000), Some(200_000)).expect("chown");
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o4755)).expect("chmod");
    let v = capsim_json(&["--k8s", path_str(&pod), path_str(&binary)]);
    assert_eq!(v["after"]["euid"], 1000, "{v}");
    // Without hostUsers: false the same manifest has no namespace of its own.
    std::fs::write(
        &pod,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  securityContext: {runAsUser: 1000}\n  \
         containers:\n  - name: app\n",
    )
    .expect("pod");
    let v = capsim_json(&["--k8s", path_str(&pod), path_str(&binary)]);
    assert!(!v["notes"].to_string().contains("hostUsers"), "{v}");
}

#[test]
fn k8s_drop_all_makes_an_ep_binary_fail_with_eperm() {
    skip_unless!(is_root(), "needs root to set file capabilities");
    let (dir, binary) = probe_copy("server");
    xattr::set(&binary, "security.capability", &NBS_V2_EP).expect("setxattr");
    let pod = dir.path().join("pod.yaml");
    std::fs::write(
        &pod,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: caddy}\nspec:\n  containers:\n  - name: caddy\n    \
         securityContext:\n      capabilities:\n        drop: [ALL]\n",
    )
    .expect("pod");
    for runtime in ["containerd", "cri-o"] {
        let args = [
            "--k8s",
            path_str(&pod),
            "--runtime",
            runtime,
            path_str(&binary),
        ];
        let v = capsim_json(&args);
        assert_eq!(v["outcome"], "EPERM", "{runtime}: {v}");
        assert!(v["notes"].to_string().contains("EPERM"));
        let out = capsim(&args);
        assert!(out.stdout.contains("EPERM"), "{}", out.stdout);
    }
    // Adding the capability back makes it start, as root and as uid 1000.
    std::fs::write(
        &pod,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: caddy}\nspec:\n  containers:\n  - name: caddy\n    \
         securityContext:\n      runAsUser: 1000\n      capabilities:\n        drop: [ALL]\n        \
         add: [NET_BIND_SERVICE]\n",
    )
    .expect("pod");
    let v = capsim_json(&["--k8s", path_str(&pod), path_str(&binary)]);
    assert_eq!(v["outcome"], "ok");
    assert_eq!(caps(&v, "after", "effective"), ["cap_net_bind_service"]);
}

#[test]
fn names_from_a_config_are_escaped_once() {
    // Notes carry the config's own spelling; the terminal gets it escaped once, JSON gets it as it is.
    let bundle = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(bundle.path().join("rootfs/bin")).expect("rootfs");
    std::fs::copy("/bin/true", bundle.path().join("rootfs/bin/true")).expect("copy true");
    let config = bundle.path().join("config.json");
    std::fs::write(
        &config,
        r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"user":{"uid":0,"gid":0},
        "args":["/bin/true"],"cwd":"/","capabilities":{"bounding":["CAP_A\\B\u001b[31m"]}}}"#,
    )
    .expect("write config");
    let config = config.to_str().expect("UTF-8 path");
    let human = capsim(&["--oci", config]);
    assert!(
        human.stderr.contains(r"(with a warning): CAP_A\\B\x1b[31m"),
        "{}",
        human.stderr
    );
    let json = capsim_json(&["--oci", config]);
    let notes: Vec<&str> = json["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    assert!(
        notes.iter().any(|n| n.ends_with("CAP_A\\B\u{1b}[31m")),
        "{notes:?}"
    );
}

#[test]
fn docker_users_and_groups_come_from_the_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0::/:/bin/sh\nweb:x:33:33::/:/bin/sh\nalice:x:1000:1000::/:/bin/sh\n",
    )
    .unwrap();
    // The host's files must not be read: a symlink to one resolves inside the image, to nothing.
    std::os::unix::fs::symlink("/etc/group", root.join("etc/group")).unwrap();
    std::fs::copy("/bin/true", root.join("usr/bin/true")).unwrap();
    let root_arg = root.to_str().unwrap();
    let v = capsim_json(&[
        "--docker",
        "--rootfs",
        root_arg,
        "--user",
        "web",
        "--group-add",
        "4",
        "true",
    ]);
    assert_eq!(v["outcome"], "ok", "{v}");
    assert_eq!(
        (v["after"]["euid"].clone(), v["after"]["egid"].clone()),
        (json!(33), json!(33))
    );
    assert_eq!(v["after"]["groups"], json!([4, 33]));
    // A name the image does not have is dockerd's refusal; without --rootfs nothing can be looked up.
    std::fs::remove_file(root.join("etc/group")).unwrap();
    std::fs::write(root.join("etc/group"), "wheel:x:10:alice\n").unwrap();
    let v = capsim_json(&[
        "--docker",
        "--rootfs",
        root_arg,
        "--user",
        "alice",
        "/usr/bin/true",
    ]);
    assert_eq!(v["after"]["groups"], json!([10, 1000]), "{v}");
    let v = capsim_json(&[
        "--docker",
        "--rootfs",
        root_arg,
        "--group-add",
        "video",
        "/usr/bin/true",
    ]);
    assert_eq!(v["refused_by"], "dockerd", "{v}");
    assert!(
        v["refused"]
            .as_str()
            .unwrap()
            .contains("Unable to find group video"),
        "{v}"
    );
    let v = capsim_json(&["--docker", "--user", "alice"]);
    assert_eq!(
        v["refused"],
        "Error response from daemon: unable to find user alice: no matching entries in passwd file"
    );
    assert!(v["notes"].to_string().contains("no --rootfs"), "{v}");
    // FILE is the container's path: looked up inside the image only.
    let out = capsim(&["--docker", "--rootfs", root_arg, "/bin/true"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = capsim(&["--rootfs", root_arg, "/usr/bin/true"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--docker or --k8s"), "{}", out.stderr);
}

/// `--k8s --rootfs`: containerd's user, group and additional gids come from the image's /etc/passwd and
/// /etc/group (as tests/capsim_cri.rs proves against the real CRI plugin), and FILE is looked up inside
/// the image.
#[test]
fn k8s_rootfs_gives_containerds_groups_from_the_image() {
    let (dir, path) = manifest(
        "pod.yaml",
        "kind: Pod\nmetadata: {name: p}\nspec:\n  securityContext: {runAsUser: 1000, fsGroup: 2000}\n  \
         containers:\n  - name: c\n    securityContext: {capabilities: {drop: [ALL]}}\n",
    );
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0::/:/bin/sh\nalice:x:1000:1000::/:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\nwheel:x:10:root,alice\nstaff:x:50:alice\n",
    )
    .unwrap();
    // A path the host does not have: FILE is found inside the image only.
    let app = rootfs.join("bin/capkit-k8s-app");
    std::fs::write(&app, b"\x7fELF").unwrap();
    std::fs::set_permissions(&app, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let args = |extra: &[&'static str]| {
        let mut all = vec![
            "--k8s".to_string(),
            path_str(&path).to_string(),
            "--rootfs".to_string(),
            path_str(&rootfs).to_string(),
        ];
        all.extend(extra.iter().map(|s| s.to_string()));
        all.push("/bin/capkit-k8s-app".to_string());
        all
    };
    let run_json = |extra: &[&'static str]| {
        let all = args(extra);
        capsim_json(&all.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let v = run_json(&[]);
    assert_eq!(v["before"]["egid"], 1000, "{v}");
    assert_eq!(
        v["before"]["groups"],
        serde_json::json!([10, 50, 1000, 2000])
    );
    assert_eq!(v["outcome"], "ok", "{v}");
    // --runtime-version 1.6: a Strict policy is the kubelet's refusal, an outcome.
    let strict = dir.path().join("strict.yaml");
    std::fs::write(
        &strict,
        "kind: Pod\nspec:\n  securityContext: {runAsUser: 1000, supplementalGroupsPolicy: Strict}\n  \
         containers: [{name: c}]\n",
    )
    .unwrap();
    let refused = capsim_json(&[
        "--k8s",
        path_str(&strict),
        "--runtime-version",
        "1.6",
        "/bin/true",
    ]);
    assert_eq!(refused["outcome"], "refused", "{refused}");
    let newest = capsim_json(&["--k8s", path_str(&strict), "/bin/true"]);
    assert_eq!(newest["outcome"], "ok", "{newest}");
}

/// An added capability the runtime does not hold is refused by runc, as containerd 1.6.20 with runc
/// 1.1.5 refuses it; cri-o refuses an unknown name to drop.
#[test]
fn k8s_refusals_are_outcomes() {
    let (_dir, path) = manifest(
        "pod.yaml",
        "kind: Pod\nspec:\n  containers:\n  - name: c\n    securityContext: {capabilities: {add: [SYS_RESOURCE], drop: [bogus]}}\n",
    );
    let p = path_str(&path);
    let v = capsim_json(&["--k8s", p, "--runtime-bounding", "cap_chown", "/bin/true"]);
    assert_eq!(v["outcome"], "refused", "{v}");
    assert_eq!(
        v["refused"],
        "unable to apply caps: operation not permitted"
    );
    let v = capsim_json(&["--k8s", p, "--runtime-bounding", "all", "/bin/true"]);
    assert_eq!(v["outcome"], "ok", "{v}");
    let v = capsim_json(&["--k8s", p, "--runtime", "cri-o", "/bin/true"]);
    assert_eq!(v["outcome"], "refused", "{v}");
    assert_eq!(
        v["refused"],
        "failed to drop cap CAP_BOGUS invalid capability: CAP_BOGUS"
    );
    let out = capsim(&["--k8s", p, "--runtime", "cri-o", "--runtime-version", "1.6"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--runtime-version"), "{}", out.stderr);
}
