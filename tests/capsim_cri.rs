//! The proof of `capsim --k8s` against the real containerd CRI plugin (the one the kubelet talks to): a
//! tiny image built here from busybox-static (users with and without group memberships, copies of `cat`
//! with file capabilities, set-uid and set-gid), imported into containerd's `k8s.io` namespace, then
//! seeded random pod securityContexts, each run as the kubelet runs it: a pod sandbox on the host's
//! network, a container running `/t/KIND/cat /proc/self/status`, its CRI log read back. What the
//! container's process holds must be what `capsim --k8s MANIFEST --rootfs DIR` predicts from the same
//! securityContext written as a manifest, field by field; a container that is refused, or whose exec
//! fails, must be predicted so.
//!
//! The CRI client is the test binary capkit-test-cri (tests/cri/main.rs). The test plays the kubelet's
//! part itself: RunAsUser is the image's uid (0: the image has no USER) when the manifest sets none,
//! fsGroup joins supplementalGroups, NoNewPrivs is `allowPrivilegeEscalation: false`, the sandbox is
//! privileged when the container is, and runAsNonRoot with uid 0 is refused before the runtime is asked.
//! containerd is the one .ci/runtimes starts (CAPKIT_CONTAINERD names its socket).

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use capcore::xattr::Revision;
use capcore::{Cap, CapSet, FileCaps};
use serde_json::{json, Value};

use crate::capsim_oci::{build_status_reader, predicted_fields, sorted, status_fields, strerror};
use crate::util::{have, helper, is_root, skipped, Rng};

const PODS: usize = 120;
/// Pods run at once: each is a sandbox and a container on the machine's one containerd.
const WORKERS: usize = 2;
/// The sandbox image containerd's config names (.ci/runtimes).
const PAUSE: &str = "capkit.test/pause:1";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                      alice:x:1000:1000::/home/alice:/bin/sh\n\
                      bob:x:1001:50::/:/bin/sh\n\
                      carol:x:1002:1002::/:/bin/sh\n\
                      nobody:x:65534:65534::/:/bin/sh\n";
/// alice is in wheel and staff, bob in staff and audio, carol only in her own group (which containerd
/// leaves out: it wants supplementary groups only), nobody in none.
const GROUP: &str = "root:x:0:\n\
                     daemon:x:1:\n\
                     wheel:x:10:root,alice\n\
                     audio:x:29:bob\n\
                     staff:x:50:alice,bob\n\
                     alice:x:1000:\n\
                     carol:x:1002:carol\n\
                     nogroup:x:65534:\n";

/// The executables: /t/KIND/cat, each `cat` so that busybox runs its cat applet.
const KINDS: [&str; 6] = ["plain", "fcap", "fcapp", "admin", "setuid", "setgid"];

/// Removes what the test made in containerd however it ends: every sandbox of this run (and so its
/// containers) and the two images.
struct Cleanup {
    socket: String,
    run_id: String,
    images: Mutex<Vec<String>>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let cleaned = Command::new(helper("capkit-test-cri"))
            .args([&self.socket, "cleanup", &self.run_id])
            .stdin(Stdio::null())
            .output();
        match cleaned {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "cleanup of run {}: {}",
                self.run_id,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("cleanup of run {}: {e}", self.run_id),
        }
        let images = self.images.lock().map(|i| i.clone()).unwrap_or_default();
        let removed = Command::new("ctr")
            .args(["-a", &self.socket, "-n", "k8s.io", "images", "rm"])
            .args(&images)
            .stdout(Stdio::null())
            .status();
        if !matches!(removed, Ok(s) if s.success()) {
            eprintln!("cannot remove the images {images:?}: {removed:?}");
        }
    }
}

fn caps_of(names: &[Cap], effective: bool) -> FileCaps {
    FileCaps {
        revision: Revision::V2,
        effective,
        permitted: CapSet::from_caps(names.iter().copied()),
        inheritable: CapSet::EMPTY,
        rootid: None,
        stray_flags: 0,
    }
}

/// rootfs/bin/busybox (sh, cat, sleep), /etc/passwd and /etc/group, and /t/KIND/cat for every kind: the
/// set-id ones are the static status reader, since busybox gives up a set-uid exec's ids itself.
fn build_rootfs(root: &Path, reader: &[u8]) {
    let busybox = fs::read("/bin/busybox").expect("read /bin/busybox");
    for dir in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    fs::write(root.join("bin/busybox"), &busybox).unwrap();
    fs::set_permissions(root.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
    for applet in ["sh", "cat", "sleep"] {
        symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    fs::write(root.join("etc/passwd"), PASSWD).unwrap();
    fs::write(root.join("etc/group"), GROUP).unwrap();
    for kind in KINDS {
        let dir = root.join("t").join(kind);
        fs::create_dir_all(&dir).unwrap();
        let cat = dir.join("cat");
        let (program, mode, caps) = match kind {
            "fcap" => (
                &busybox[..],
                0o755,
                Some(caps_of(&[Cap::NET_RAW, Cap::CHOWN], true)),
            ),
            "fcapp" => (
                &busybox[..],
                0o755,
                Some(caps_of(&[Cap::NET_BIND_SERVICE], false)),
            ),
            // Outside the default bounding set: the exec fails with EPERM unless the set has it.
            "admin" => (&busybox[..], 0o755, Some(caps_of(&[Cap::SYS_ADMIN], true))),
            "setuid" => (reader, 0o4755, None),
            "setgid" => (reader, 0o2755, None),
            _ => (&busybox[..], 0o755, None),
        };
        fs::write(&cat, program).unwrap();
        fs::set_permissions(&cat, fs::Permissions::from_mode(mode)).unwrap();
        if let Some(caps) = caps {
            xattr::set(&cat, "security.capability", &caps.encode()).expect("setxattr");
        }
    }
}

fn run_ok(cmd: &mut Command, what: &str) -> Result<Vec<u8>, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out.stdout)
}

fn sha256(path: &Path) -> Result<String, String> {
    let sum = run_ok(Command::new("sha256sum").arg(path), "sha256sum")?;
    Ok(String::from_utf8_lossy(&sum)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string())
}

/// A docker-archive of the rootfs as one layer (file capabilities kept as PAX xattr records), tagged
/// `tag` with no USER and `PAUSE` running `sleep`, imported into containerd's k8s.io namespace. Adds to
/// `names` every image name containerd then holds: the tags, and the `sha256:CONFIG` names the CRI plugin
/// gives images by id.
fn import_images(
    dir: &Path,
    root: &Path,
    socket: &str,
    tag: &str,
    names: &Mutex<Vec<String>>,
) -> Result<(), String> {
    let layer = dir.join("layer.tar");
    run_ok(
        Command::new("tar")
            .args([
                "--xattrs",
                "--xattrs-include=security.capability",
                "--numeric-owner",
                "-C",
            ])
            .arg(root)
            .arg("-cf")
            .arg(&layer)
            .arg("."),
        "tar the layer",
    )?;
    let digest = sha256(&layer)?;
    let config = |process: Value| {
        json!({
            "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
            "os": "linux",
            "config": process,
            "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{digest}")]},
        })
    };
    fs::write(
        dir.join("image.json"),
        config(json!({"Cmd": ["/bin/sh"]})).to_string(),
    )
    .unwrap();
    fs::write(
        dir.join("pause.json"),
        config(json!({"Entrypoint": ["/bin/sleep", "2147483647"]})).to_string(),
    )
    .unwrap();
    let manifest = json!([
        {"Config": "image.json", "RepoTags": [tag], "Layers": ["layer.tar"]},
        {"Config": "pause.json", "RepoTags": [PAUSE], "Layers": ["layer.tar"]},
    ]);
    fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    for config in ["image.json", "pause.json"] {
        let id = format!("sha256:{}", sha256(&dir.join(config))?);
        names.lock().unwrap().push(id);
    }
    let archive = dir.join("image.tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(dir)
            .arg("-cf")
            .arg(&archive)
            .args(["manifest.json", "image.json", "pause.json", "layer.tar"]),
        "tar the image",
    )?;
    run_ok(
        Command::new("ctr")
            .args(["-a", socket, "-n", "k8s.io", "images", "import"])
            .arg(&archive),
        "ctr images import",
    )?;
    Ok(())
}

/// The effective set of the containerd that listens on `socket` (.ci/runtimes writes its pid beside the
/// socket): its `ALL` and privileged, and what runc holds. capsim's own bounding set otherwise.
fn containerd_caps(socket: &str) -> u64 {
    let pid = Path::new(socket)
        .parent()
        .and_then(|d| fs::read_to_string(d.join("containerd.pid")).ok());
    let from_status = pid.and_then(|pid| {
        let status = fs::read_to_string(format!("/proc/{}/status", pid.trim())).ok()?;
        let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
        u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()
    });
    from_status.unwrap_or_else(crate::capsim_oci::own_bounding)
}

/// One pod: its pod- and container-level securityContext and the executable.
struct Case {
    pod: Value,
    container: Value,
    kind: &'static str,
    /// The image's USER as `docker image inspect` would show it (capsim's --image-user); `None` for an
    /// image without one.
    image_user: Option<&'static str>,
}

/// Image USERs: numbers (one with no passwd entry), names (one the image lacks), and `USER:GROUP`, whose
/// group the kubelet drops.
const IMAGE_USERS: [Option<&str>; 10] = [
    None,
    None,
    None,
    Some("1000"),
    Some("0"),
    Some("4242"),
    Some("alice"),
    Some("carol:wheel"),
    Some("bob"),
    Some("nosuch"),
];

fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    items[(rng.next() % items.len() as u64) as usize]
}

fn names(rng: &mut Rng, from: &[&str], most: u64) -> Vec<String> {
    let count = rng.next() % (most + 1);
    (0..count).map(|_| pick(rng, from).to_string()).collect()
}

fn random_case(rng: &mut Rng) -> Case {
    let mut pod = json!({});
    let mut container = json!({});
    // runAsUser and runAsGroup at the pod level or the container level (which wins), or unset.
    for (key, values) in [
        ("runAsUser", &[0i64, 1000, 1001, 1002, 4242, 65534][..]),
        ("runAsGroup", &[0, 7, 50, 1000, 3000][..]),
    ] {
        match rng.next() % 4 {
            0 => {}
            1 => pod[key] = json!(pick(rng, values)),
            2 => container[key] = json!(pick(rng, values)),
            _ => {
                pod[key] = json!(pick(rng, values));
                container[key] = json!(pick(rng, values));
            }
        }
    }
    if rng.next() % 2 == 0 {
        let groups: Vec<i64> = (0..rng.next() % 4)
            .map(|_| pick(rng, &[5i64, 10, 50, 2000, 4000]))
            .collect();
        pod["supplementalGroups"] = json!(groups);
    }
    if rng.next() % 3 == 0 {
        pod["fsGroup"] = json!(pick(rng, &[2000i64, 3000, 6000]));
    }
    if rng.next() % 10 == 0 {
        container["runAsNonRoot"] = json!(true);
    }
    let privileged = rng.next() % 8 == 0;
    if privileged {
        container["privileged"] = json!(true);
    }
    let add = names(
        rng,
        &[
            "NET_ADMIN",
            "NET_RAW",
            "SYS_ADMIN",
            "SYS_RESOURCE",
            "CHOWN",
            "ALL",
            "all",
            "bogus",
            "CAP_NET_RAW",
            "sys_ptrace",
            "net_bind_service",
        ],
        3,
    );
    let drop = names(
        rng,
        &[
            "ALL",
            "NET_RAW",
            "CHOWN",
            "bogus",
            "SETUID",
            "SETGID",
            "setpcap",
            "CAP_CHOWN",
        ],
        3,
    );
    if !add.is_empty() || !drop.is_empty() || rng.next() % 2 == 0 {
        container["capabilities"] = json!({"add": add, "drop": drop});
    }
    // The API server rejects allowPrivilegeEscalation: false with privileged or CAP_SYS_ADMIN.
    let adds_admin = add.iter().any(|a| a.eq_ignore_ascii_case("SYS_ADMIN"));
    match rng.next() % 3 {
        0 => container["allowPrivilegeEscalation"] = json!(true),
        1 if !privileged && !adds_admin => container["allowPrivilegeEscalation"] = json!(false),
        _ => {}
    }
    Case {
        pod,
        container,
        kind: pick(rng, &KINDS),
        image_user: pick(rng, &IMAGE_USERS),
    }
}

/// The manifest capsim reads: a Pod with this securityContext, in YAML's flow style.
fn manifest(case: &Case, image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: cri-test\nspec:\n  securityContext: {}\n  containers:\n  \
         - name: cat\n    image: {image}\n    command: [/t/{}/cat, /proc/self/status]\n    securityContext: {}\n",
        case.pod, case.kind, case.container
    )
}

/// What the kubelet sends for this pod (its CRI LinuxContainerSecurityContext), or its own refusal.
fn kubelet(case: &Case) -> Result<Value, String> {
    let field = |key: &str| {
        case.container
            .get(key)
            .or_else(|| case.pod.get(key))
            .cloned()
    };
    // Without runAsUser the kubelet sends the image's USER, as the runtime's image status gives it
    // (containerd's getUserFromImage: the part before `:`, a number as the uid, else a name); an image
    // without USER, uid 0.
    let image_user = case.image_user.map(|u| u.split(':').next().unwrap_or(""));
    let (uid, username) = match (field("runAsUser"), image_user) {
        (Some(uid), _) => (uid, ""),
        (None, Some(user)) => match user.parse::<i64>() {
            Ok(uid) => (json!(uid), ""),
            Err(_) => (Value::Null, user),
        },
        (None, None) => (json!(0), ""),
    };
    if field("runAsNonRoot") == Some(json!(true)) {
        // kuberuntime verifyRunAsNonRoot's words.
        if field("runAsUser") == Some(json!(0)) {
            return Err("container's runAsUser breaks non-root policy".to_string());
        }
        if field("runAsUser").is_none() && uid == json!(0) {
            return Err("container has runAsNonRoot and image will run as root".to_string());
        }
        if !username.is_empty() {
            return Err(format!(
                "container has runAsNonRoot and image has non-numeric user ({username}), cannot verify \
                 user is non-root"
            ));
        }
    }
    let mut groups: Vec<Value> = Vec::new();
    groups.extend(case.pod.get("fsGroup").cloned());
    groups.extend(
        case.pod
            .get("supplementalGroups")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    );
    let caps = &case.container["capabilities"];
    let privileged = case.container["privileged"] == json!(true);
    Ok(json!({
        "run_as_user": uid,
        "run_as_username": username,
        "run_as_group": field("runAsGroup").unwrap_or(Value::Null),
        "supplemental_groups": groups,
        "privileged": privileged,
        "no_new_privs": !privileged && case.container["allowPrivilegeEscalation"] == json!(false),
        "add": caps.get("add").cloned().unwrap_or(json!([])),
        "drop": caps.get("drop").cloned().unwrap_or(json!([])),
    }))
}

struct Run<'a> {
    socket: &'a str,
    run_id: &'a str,
    image: &'a str,
    dir: &'a Path,
    rootfs: &'a Path,
    runtime_caps: u64,
}

/// What containerd did with case `i`: `ran` with the status fields, `refused` with the words, or
/// `exec failed`.
fn containerd_side(run: &Run, i: usize, case: &Case) -> Result<(String, Value), String> {
    let security = match kubelet(case) {
        Ok(security) => security,
        Err(words) => return Ok(("refused".to_string(), json!(words))),
    };
    let log_dir = run.dir.join(format!("logs/pod{i}"));
    fs::create_dir_all(&log_dir).unwrap();
    let request = json!({
        "run_id": run.run_id,
        "name": format!("pod{i}"),
        "image": run.image,
        "command": [format!("/t/{}/cat", case.kind), "/proc/self/status"],
        "log_dir": log_dir,
        "sandbox_privileged": security["privileged"],
        "security": security,
    });
    let mut child = Command::new(helper("capkit-test-cri"))
        .args([run.socket, "run"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("capkit-test-cri: {e}"))?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        stdin
            .write_all(request.to_string().as_bytes())
            .map_err(|e| format!("capkit-test-cri stdin: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("capkit-test-cri: {e}"))?;
    let result: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "capkit-test-cri said no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    if let Some(errors) = result.get("cleanup_errors") {
        return Err(format!("the pod was not removed: {errors}"));
    }
    let message = result["message"].clone();
    match result["outcome"].as_str().unwrap_or("") {
        "create failed" | "start failed" => Ok(("refused".to_string(), message)),
        "exited" => {
            let log = result["log"].as_str().unwrap_or("");
            if result["exit_code"] == json!(0) && log.contains("CapBnd:") {
                let fields = sorted(status_fields(log));
                Ok(("ran".to_string(), json!(format!("{fields:?}"))))
            } else {
                Ok(("exec failed".to_string(), result))
            }
        }
        _ => Err(format!("containerd: {result}")),
    }
}

/// Runs case `i` in containerd and through capsim; the kind of outcome, or both sides in full.
fn compare(run: &Run, i: usize, case: &Case) -> Result<&'static str, String> {
    let path = run.dir.join(format!("pod{i}.yaml"));
    let text = manifest(case, run.image);
    fs::write(&path, &text).unwrap();
    let (seen, detail) = containerd_side(run, i, case)?;
    let capsim = Command::new(env!("CARGO_BIN_EXE_capsim"))
        .arg("--k8s")
        .arg(&path)
        .args(["--runtime", "containerd", "--runtime-version", "1.6"])
        .arg("--runtime-bounding")
        .arg(format!("{:x}", run.runtime_caps))
        .arg("--rootfs")
        .arg(run.rootfs)
        .args(case.image_user.map(|u| format!("--image-user={u}")))
        .arg("--json")
        .arg(format!("/t/{}/cat", case.kind))
        .output()
        .map_err(|e| format!("capsim: {e}"))?;
    let record: Value = serde_json::from_slice(&capsim.stdout).unwrap_or(Value::Null);
    let outcome = record["outcome"].as_str().unwrap_or("?");
    let both = || {
        format!(
            "manifest:\n{text}containerd: {seen}: {detail}\ncapsim: {}{}",
            String::from_utf8_lossy(&capsim.stdout),
            String::from_utf8_lossy(&capsim.stderr)
        )
    };
    match seen.as_str() {
        "ran" if outcome == "ok" => {
            let predicted = sorted(predicted_fields(&record["after"]));
            if json!(format!("{predicted:?}")) == detail {
                Ok("ran")
            } else {
                Err(format!("{}\npredicted: {predicted:?}", both()))
            }
        }
        "refused" if outcome == "refused" => {
            let said = record["refused"].as_str().unwrap_or("\u{0}");
            let words = detail.as_str().unwrap_or("");
            if words.contains(said) && words.contains("unable to apply caps") {
                Ok("refused by runc")
            } else if words.contains(said) && record["refused_by"] == json!("containerd") {
                Ok("refused by containerd")
            } else if words.contains(said) {
                Ok("refused by the kubelet")
            } else {
                Err(format!("refused in other words\n{}", both()))
            }
        }
        "exec failed" if strerror(outcome).is_some() => Ok("exec failed"),
        _ => Err(both()),
    }
}

#[test]
fn capsim_k8s_matches_containerd_cri() {
    let Some(socket) = std::env::var_os("CAPKIT_CONTAINERD") else {
        return skipped(
            "CAPKIT_CONTAINERD is not set: start containerd with `.ci/runtimes start DIR` (as root) and \
             export what it prints",
        );
    };
    let socket = socket.to_string_lossy().into_owned();
    crate::skip_unless!(is_root(), "needs root to import images into containerd");
    crate::skip_unless!(
        have("ctr") && Path::new("/bin/busybox").exists(),
        "needs ctr (containerd) and busybox-static"
    );
    let seed = Rng::seed_from_env(0xc1_2026);
    eprintln!("capsim_cri seed: {seed} (CAPKIT_SEED replays it)");
    let mut rng = Rng::new(seed);
    let dir = tempfile::Builder::new()
        .prefix("capkit-cri")
        .tempdir_in("/var/tmp")
        .unwrap();
    let Some(reader) = build_status_reader(dir.path()) else {
        return skipped("needs cc -static (libc6-dev) for the set-uid status reader");
    };
    let rootfs = dir.path().join("rootfs");
    build_rootfs(&rootfs, &reader);
    let run_id = format!("capsim-cri-{}", std::process::id());
    let image = format!("capkit.test/{run_id}:1");
    // Armed before the import, so that a half-done import is removed too.
    let cleanup = Cleanup {
        socket: socket.clone(),
        run_id: run_id.clone(),
        images: Mutex::new(vec![image.clone(), PAUSE.to_string()]),
    };
    import_images(dir.path(), &rootfs, &socket, &image, &cleanup.images)
        .expect("import the test images");
    let run = Run {
        socket: &socket,
        run_id: &run_id,
        image: &image,
        dir: dir.path(),
        rootfs: &rootfs,
        runtime_caps: containerd_caps(&socket),
    };
    let cases: Vec<Case> = (0..PODS).map(|_| random_case(&mut rng)).collect();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let result = compare(&run, i, case);
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
            Err(why) => mismatches.push(format!("pod {i} (seed {seed}):\n{why}")),
        }
    }
    eprintln!(
        "containerd CRI pods compared: {} {counts:?}, mismatches: {}",
        results.len(),
        mismatches.len()
    );
    assert_eq!(results.len(), PODS);
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n\n")
    );
    for kind in [
        "ran",
        "refused by runc",
        "refused by the kubelet",
        "exec failed",
    ] {
        assert!(
            counts.get(kind).copied().unwrap_or(0) > 0,
            "no pod {kind}: {counts:?}"
        );
    }
}
