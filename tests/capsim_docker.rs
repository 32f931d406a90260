//! The proof of `capsim --docker` against a real Docker daemon: the one `.ci/runtimes` starts (Debian's
//! dockerd on Debian's containerd and runc, a private socket and data root), named by CAPKIT_DOCKER_HOST.
//! An image built here (a static status reader copied into set-uid, set-gid and file-capability variants,
//! an /etc/passwd and /etc/group with memberships) is imported, and seeded random `docker run` flag sets
//! (cap-add and cap-drop with ALL in every order, users by number and by name with and without a group,
//! --group-add, --security-opt in every spelling of no-new-privileges and with options the client or
//! dockerd refuses, --privileged) each run a variant that prints /proc/self/status. capsim given the same
//! flags and the image's root filesystem must say what the container's process shows, field by field, or
//! refuse as the docker client, dockerd or runc refuse, or fail the exec as the kernel fails it.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde_json::Value;

use crate::capsim_oci::{
    build_status_reader, own_bounding, predicted_fields, sorted, status_fields, strerror,
};
use crate::util::{have, is_root, skipped, Rng};

const RUNS: usize = 220;
const WORKERS: usize = 2;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
alice:x:1000:1000:Alice:/home/alice:/bin/sh
bob:x:1001:50::/home/bob:/bin/sh
carol:x:1002:1002::/home/carol:/bin/sh
 dave:x:1003:1003::/:/bin/sh
";

const GROUP: &str = "root:x:0:
daemon:x:1:
wheel:x:10:root,alice
video:x:44:bob,carol
staff:x:50:alice,bob
alice:x:1000:
carol:x:1002:
# comment:x:77:alice
dup:x:50:carol
audio:x:63:dave,carol
";

/// The variants of the status reader: (directory, file capabilities for setcap, mode, owner, group).
const VARIANTS: [(&str, Option<&str>, u32, u32, u32); 9] = [
    ("plain", None, 0o755, 0, 0),
    ("fcap", Some("cap_net_raw,cap_chown+ep"), 0o755, 0, 0),
    ("fcap_p", Some("cap_net_admin+p"), 0o755, 0, 0),
    ("fcap_i", Some("cap_kill,cap_net_raw+i"), 0o755, 0, 0),
    ("fcap_out", Some("cap_sys_admin+ep"), 0o755, 0, 0),
    (
        "fcap_bpf",
        Some("cap_bpf,cap_net_bind_service+ep"),
        0o755,
        0,
        0,
    ),
    ("suid", None, 0o4755, 0, 0),
    ("sgid", None, 0o2755, 0, 50),
    ("suid_alice", None, 0o4755, 1000, 1000),
];

/// A Docker daemon to prove against, or why there is none.
pub(crate) fn docker_host() -> Result<String, String> {
    if !is_root() {
        return Err("needs root to build an image with file capabilities".into());
    }
    let host = std::env::var("CAPKIT_DOCKER_HOST").map_err(|_| {
        "no Docker daemon: CAPKIT_DOCKER_HOST is unset (.ci/run starts one with .ci/runtimes)"
            .to_string()
    })?;
    if !have("docker") || !have("setcap") || !have("tar") {
        return Err(
            "needs the docker client, setcap and tar (apt-get install docker.io libcap2-bin)"
                .into(),
        );
    }
    Ok(host)
}

/// Debian's client, of the daemon's own version: a newer client sorts the capability names, which changes
/// which unknown name dockerd's refusal quotes.
fn client() -> &'static str {
    if Path::new("/usr/bin/docker").exists() {
        "/usr/bin/docker"
    } else {
        "docker"
    }
}

pub(crate) fn docker(host: &str) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "5", "60", client(), "-H", host]);
    cmd.stdin(Stdio::null());
    cmd
}

/// The image's root filesystem: the variants, busybox as /bin/sh, and the account files.
fn build_rootfs(dir: &Path) -> Result<PathBuf, String> {
    let root = dir.join("rootfs");
    fs::create_dir_all(root.join("etc")).map_err(|e| e.to_string())?;
    fs::create_dir_all(root.join("bin")).map_err(|e| e.to_string())?;
    fs::write(root.join("etc/passwd"), PASSWD).map_err(|e| e.to_string())?;
    fs::write(root.join("etc/group"), GROUP).map_err(|e| e.to_string())?;
    if Path::new("/bin/busybox").exists() {
        fs::copy("/bin/busybox", root.join("bin/busybox")).map_err(|e| e.to_string())?;
        symlink("busybox", root.join("bin/sh")).map_err(|e| e.to_string())?;
    }
    let reader =
        build_status_reader(dir).ok_or("cannot build the static status reader (cc -static)")?;
    for (name, caps, mode, owner, group) in VARIANTS {
        let file = root.join("t").join(name).join("status");
        fs::create_dir_all(file.parent().unwrap()).map_err(|e| e.to_string())?;
        fs::write(&file, &reader).map_err(|e| e.to_string())?;
        std::os::unix::fs::chown(&file, Some(owner), Some(group)).map_err(|e| e.to_string())?;
        fs::set_permissions(&file, fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())?;
        if let Some(caps) = caps {
            let set = Command::new("setcap").arg(caps).arg(&file).status();
            if !set.is_ok_and(|s| s.success()) {
                return Err(format!("setcap {caps} {} failed", file.display()));
            }
        }
    }
    Ok(root)
}

/// An image imported into the daemon, removed when dropped.
pub(crate) struct Image<'a> {
    host: &'a str,
    pub(crate) name: String,
}

impl<'a> Image<'a> {
    /// `root` as an image; `user` its config's USER (`docker import --change 'USER …'`).
    pub(crate) fn import(
        host: &'a str,
        root: &Path,
        tag: &str,
        user: Option<&str>,
    ) -> Result<Image<'a>, String> {
        let name = format!("capkit.test/{tag}:{}", std::process::id());
        let change: Vec<String> = user
            .map(|u| vec!["--change".to_string(), format!("USER {u}")])
            .unwrap_or_default();
        // --xattrs keeps security.capability; --numeric-owner the ids as they are.
        let mut tar = Command::new("tar")
            .args([
                "--xattrs",
                "--xattrs-include=security.capability",
                "--numeric-owner",
                "-C",
            ])
            .arg(root)
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("tar: {e}"))?;
        let stdout = tar.stdout.take().ok_or("tar: no stdout")?;
        let imported = docker(host)
            .arg("import")
            .args(&change)
            .args(["-", &name])
            .stdin(stdout)
            .output()
            .map_err(|e| format!("docker import: {e}"))?;
        let _ = tar.wait();
        if !imported.status.success() {
            return Err(format!(
                "docker import: {}",
                String::from_utf8_lossy(&imported.stderr)
            ));
        }
        Ok(Image { host, name })
    }
}

impl Drop for Image<'_> {
    fn drop(&mut self) {
        let _ = docker(self.host)
            .args(["rmi", "-f", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The daemon's version, `20.10.24+dfsg1`.
fn server_version(host: &str) -> Result<String, String> {
    let out = docker(host)
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .map_err(|e| e.to_string())?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || version.is_empty() {
        return Err(format!(
            "docker version: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(version)
}

/// containerd's bounding set, which runc inherits through the shim: the one .ci/runtimes started has its
/// pid next to its socket.
fn runtime_bounding() -> Option<u64> {
    let socket = std::env::var("CAPKIT_CONTAINERD").ok()?;
    let pid = fs::read_to_string(Path::new(&socket).with_file_name("containerd.pid")).ok()?;
    let status = fs::read_to_string(format!("/proc/{}/status", pid.trim())).ok()?;
    let line = status.lines().find(|l| l.starts_with("CapBnd:"))?;
    u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()
}

/// Names every modelled Docker knows; the rare ones are unknown to some (20.10 knows none of the first
/// three) or to all.
const ADD: [&str; 11] = [
    "ALL",
    "all",
    "NET_ADMIN",
    "net_raw",
    "cap_sys_admin",
    "SYS_PTRACE",
    "sys_resource",
    "CHOWN",
    "Cap_Kill",
    "AUDIT_READ",
    "syslog",
];
const ADD_RARE: [&str; 4] = ["BPF", "perfmon", "checkpoint_restore", "FOO"];
const DROP: [&str; 10] = [
    "ALL",
    "all",
    "NET_RAW",
    "chown",
    "SETUID",
    "setgid",
    "cap_setpcap",
    "DAC_OVERRIDE",
    "kill",
    "SYS_ADMIN",
];
const DROP_RARE: [&str; 2] = ["bpf", "BAR"];
/// `""` is the image's USER, as no --user is.
const USERS: [&str; 16] = [
    "",
    "0",
    "root",
    "1000",
    "alice",
    "bob",
    "carol",
    "dave",
    "1001:44",
    "alice:staff",
    "alice:50",
    "carol:wheel",
    "4242",
    "4242:4242",
    "0:10",
    "daemon",
];
const USERS_RARE: [&str; 3] = ["nobody", "alice:nogroup", "-5"];
const GROUP_ADD: [&str; 6] = ["wheel", "44", "video", "7777", "staff", "63"];
const GROUP_ADD_RARE: [&str; 2] = ["nogroup", "65536"];
const SECURITY_OPT: [&str; 9] = [
    "no-new-privileges",
    "no-new-privileges",
    "no-new-privileges:true",
    "no-new-privileges=false",
    "no-new-privileges=1",
    "label=disable",
    "apparmor=unconfined",
    "seccomp=unconfined",
    "systempaths=unconfined",
];
/// Refused by the client (no `=` or `:`) or by dockerd (an unknown key, not a Go boolean, a key newer
/// Dockers know).
const SECURITY_OPT_RARE: [&str; 5] = [
    "foo",
    "foo=bar",
    "no-new-privileges=yes",
    "writable-cgroups=true",
    "no-new-privileges:",
];

/// One of `common`, or one in 16 times one of `rare`.
fn pick(rng: &mut Rng, common: &[&str], rare: &[&str]) -> String {
    let list = if rng.next() % 16 == 0 { rare } else { common };
    list[(rng.next() % list.len() as u64) as usize].to_string()
}

/// One random `docker run` flag set; rare picks make dockerd refuse (unknown names, users, groups).
fn flags(rng: &mut Rng) -> Vec<String> {
    let mut flags: Vec<Vec<String>> = Vec::new();
    for _ in 0..rng.next() % 4 {
        flags.push(vec!["--cap-add".into(), pick(rng, &ADD, &ADD_RARE)]);
    }
    for _ in 0..rng.next() % 4 {
        flags.push(vec!["--cap-drop".into(), pick(rng, &DROP, &DROP_RARE)]);
    }
    if rng.next() % 4 != 0 {
        flags.push(vec!["--user".into(), pick(rng, &USERS, &USERS_RARE)]);
    }
    for _ in 0..rng.next() % 3 {
        flags.push(vec![
            "--group-add".into(),
            pick(rng, &GROUP_ADD, &GROUP_ADD_RARE),
        ]);
    }
    for _ in 0..rng.next() % 3 {
        flags.push(vec![
            "--security-opt".into(),
            pick(rng, &SECURITY_OPT, &SECURITY_OPT_RARE),
        ]);
    }
    if rng.next() % 10 == 0 {
        flags.push(vec!["--privileged".into()]);
    }
    // Every order: docker's flags are unordered, moby's rules must not depend on it either.
    for i in (1..flags.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        flags.swap(i, j);
    }
    flags.concat()
}

/// The images' USERs.
const IMAGE_USERS: [Option<&str>; 3] = [None, Some("bob"), Some("4242:staff")];

struct Case<'a> {
    host: &'a str,
    image: &'a str,
    image_user: Option<&'a str>,
    root: &'a Path,
    version: &'a str,
    bounding: Option<String>,
    flags: Vec<String>,
    file: String,
}

/// Runs one case in Docker and in capsim; returns how it ended, or the mismatch.
fn compare(case: &Case) -> Result<&'static str, String> {
    let run = docker(case.host)
        .args(["run", "--rm", "--network", "none"])
        .args(&case.flags)
        .arg(case.image)
        .arg(&case.file)
        .output()
        .map_err(|e| format!("docker run: {e}"))?;
    let mut capsim = Command::new(env!("CARGO_BIN_EXE_capsim"));
    capsim
        .args([
            "--docker",
            "--json",
            "--docker-version",
            case.version,
            "--rootfs",
        ])
        .arg(case.root)
        .args(case.image_user.map(|u| format!("--image-user={u}")))
        .args(&case.flags);
    if let Some(set) = &case.bounding {
        capsim.args(["--runtime-bounding", set]);
    }
    let capsim = capsim
        .arg(&case.file)
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
            "docker ran it; capsim said {outcome}\n  docker: {seen:?}\n  capsim: {predicted:?}"
        ));
    }
    let by = record["refused_by"].as_str().unwrap_or("");
    let message = record["refused"].as_str().unwrap_or("\u{0}");
    let from_daemon = stderr.contains("Error response from daemon");
    let from_runc = stderr.contains("OCI runtime create failed");
    match (outcome, strerror(outcome)) {
        ("refused", _)
            if by == "dockerd" && from_daemon && !from_runc && stderr.contains(message) =>
        {
            Ok("refused by dockerd")
        }
        ("refused", _) if by == "runc" && from_runc && stderr.contains(message) => {
            Ok("refused by runc")
        }
        ("refused", _) if by == "docker" && !from_daemon && stderr.contains(message) => {
            Ok("refused by the client")
        }
        (_, Some(text))
            if !from_daemon && stderr.contains(&format!("exec {}: {text}", case.file)) =>
        {
            Ok("exec failed")
        }
        _ => Err(format!(
            "docker failed ({}): {stderr}; capsim said {outcome} {by} {message}",
            run.status
        )),
    }
}

#[test]
fn capsim_docker_matches_dockerd_on_random_runs() {
    let host = match docker_host() {
        Ok(host) => host,
        Err(why) => return skipped(&why),
    };
    let work = tempfile::tempdir().expect("tempdir");
    let root = build_rootfs(work.path()).expect("rootfs");
    let version = server_version(&host).expect("the daemon's version");
    // Images without a USER and with one (a name, and a uid with a group), which --user overrides.
    let images: Vec<(Image, Option<&str>)> = IMAGE_USERS
        .iter()
        .enumerate()
        .map(|(i, user)| {
            let tag = format!("capsim-docker{i}");
            let image = Image::import(&host, &root, &tag, *user).expect("import");
            (image, *user)
        })
        .collect();
    // capsim's default is its own bounding set; the runtime's is given only where the two differ.
    let bounding = runtime_bounding()
        .filter(|set| *set != own_bounding())
        .map(|set| format!("{set:x}"));
    let seed = Rng::seed_from_env(0x19d0c);
    eprintln!("seed {seed} (CAPKIT_SEED replays), Docker {version}, {RUNS} runs");
    let mut rng = Rng::new(seed);
    let cases: Vec<Case> = (0..RUNS)
        .map(|_| {
            let flags = flags(&mut rng);
            let variant = VARIANTS[(rng.next() % VARIANTS.len() as u64) as usize].0;
            let (image, image_user) = &images[(rng.next() % images.len() as u64) as usize];
            Case {
                host: &host,
                image: &image.name,
                image_user: *image_user,
                root: &root,
                version: &version,
                bounding: bounding.clone(),
                flags,
                file: format!("/t/{variant}/status"),
            }
        })
        .collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<&'static str, String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let result = compare(case);
                results.lock().unwrap().push((i, result));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    let mut counts = std::collections::BTreeMap::new();
    let mut mismatches = Vec::new();
    for (i, result) in &results {
        match result {
            Ok(how) => *counts.entry(*how).or_insert(0) += 1,
            Err(why) => mismatches.push(format!(
                "run {i}: docker run {} {}\n  {why}",
                cases[*i].flags.join(" "),
                cases[*i].file
            )),
        }
    }
    eprintln!("{counts:?}");
    assert_eq!(results.len(), RUNS);
    assert!(
        mismatches.is_empty(),
        "{} of {RUNS} runs differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    // The differential means something only if every class happened.
    for how in [
        "ran",
        "refused by dockerd",
        "refused by runc",
        "exec failed",
    ] {
        assert!(
            counts.get(how).is_some_and(|n| *n > 0),
            "no run {how}: {counts:?}"
        );
    }
}
