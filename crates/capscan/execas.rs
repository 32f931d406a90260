//! `--exec-as SPEC`: the first process of a container (or a systemd service) as its runtime sets it up,
//! and, for every file the scan found, what executing it from that process gives: capcore::exec's model
//! with the caller from the spec and the file as it is on disk (mode, owner, group, security.capability,
//! mount flags, `#!` interpreters looked up inside DIR).
//!
//! The Docker preset and the systemd unit reader live in capsim; they are compiled in here from capsim's
//! own source files (see main.rs) so that both tools give one answer.

use std::path::{Path, PathBuf};

use capcore::exec::{Caller, Change, Creds, FileState, Kernel, KernelRules, NsChain, UserNs};
use capcore::oci::{Refusal, RuntimeStart};
use capcore::CapSet;
use capsys::exec_file::{ExecTarget, XattrRead};
use serde::Serialize;

use crate::hits::{Hit, Value};
use capsys::presets;

/// The caller every file is executed from.
pub struct Spec {
    /// What the state comes from, for the notes (`docker run --cap-drop=ALL`).
    pub source: String,
    /// The state, or why the runtime refuses it before anything runs.
    pub creds: Result<Creds, Refusal>,
    pub notes: Vec<String>,
    kernel: Kernel,
    own_ns: NsChain,
    /// The container's own user namespace, if it has one.
    userns: ContainerNs,
}

/// A container's user namespace: its maps, and whether the image's files are seen through an idmapped
/// mount (a Kubernetes pod with `hostUsers: false`), owned by the container's ids.
#[derive(Clone, Debug, Default)]
struct ContainerNs {
    userns: Option<UserNs>,
    idmapped: bool,
}

/// Parses SPEC (`docker[:FLAGS]`, `oci:CONFIG.json`, `k8s:MANIFEST[#CONTAINER]`, `systemd:UNIT`) and
/// builds the caller.
pub fn load(spec: &str, known: u32, root: &Path) -> Result<Spec, String> {
    let own = capsys::creds::read_process(None).map_err(|e| format!("/proc/self: {e}"))?;
    let (kind, rest) = match spec.split_once(':') {
        Some((kind, rest)) => (kind, Some(rest)),
        None => (spec, None),
    };
    let (source, creds, notes, userns) = match (kind, rest) {
        ("docker", flags) => docker(flags.unwrap_or(""), known, root, &own.creds)?,
        ("oci", Some(path)) if !path.is_empty() => oci(Path::new(path), known, &own.creds)?,
        ("systemd", Some(path)) if !path.is_empty() => systemd(Path::new(path), known)?,
        ("k8s", Some(rest)) if !rest.is_empty() => k8s(rest, known, root, &own.creds)?,
        _ => {
            return Err(format!(
                "--exec-as '{}': give docker[:FLAGS], oci:CONFIG.json, k8s:MANIFEST[#CONTAINER] or \
                 systemd:UNIT_FILE",
                spec
            ))
        }
    };
    let rules = match capsys::creds::kernel_version() {
        Ok((major, minor)) => KernelRules::for_version(major, minor),
        Err(_) => KernelRules::Current,
    };
    Ok(Spec {
        source,
        creds,
        notes,
        kernel: Kernel {
            rules,
            known_caps: known,
        },
        own_ns: own.userns,
        userns,
    })
}

type Loaded = (String, Result<Creds, Refusal>, Vec<String>, ContainerNs);

/// `docker:--cap-drop=ALL,--cap-add=NET_BIND_SERVICE,--user=1000`: docker run's flags, comma-separated;
/// a word without `--` continues the flag before it (`--cap-add=NET_ADMIN,NET_RAW`). Users and groups are
/// looked up in DIR's /etc/passwd and /etc/group, as Docker looks them up in the image; moby's rules are
/// those of `--docker-version=X.Y` (default: the newest modelled), and the runtime is assumed to hold
/// capscan's own bounding set, as capsim assumes.
fn docker(flags: &str, known: u32, root: &Path, own: &Creds) -> Result<Loaded, String> {
    use capcore::docker::{Daemon, DockerRun, MobyVersion};
    let mut run = DockerRun::default();
    let mut security_opt = Vec::new();
    let mut version = MobyVersion::NEWEST;
    let mut last: Option<&str> = None;
    for word in flags.split(',').filter(|w| !w.is_empty()) {
        let (flag, value) = if word.starts_with("--") {
            match word.split_once('=') {
                Some((flag, value)) => (flag, Some(value)),
                None => (word, None),
            }
        } else {
            (last.unwrap_or(""), Some(word))
        };
        last = Some(flag);
        let bad = || format!("--exec-as docker: '{}': {}", word, DOCKER_FLAGS);
        match (flag, value) {
            ("--cap-add", Some(v)) => run.cap_add.push(v.to_string()),
            ("--cap-drop", Some(v)) => run.cap_drop.push(v.to_string()),
            ("--user" | "-u", Some(v)) => run.user = Some(v.to_string()),
            ("--group-add", Some(v)) => run.group_add.push(v.to_string()),
            ("--docker-version", Some(v)) => {
                version = MobyVersion::parse(v).map_err(|e| format!("--exec-as docker: {e}"))?
            }
            ("--privileged", None) => run.privileged = true,
            ("--security-opt", Some(v)) => security_opt.push(v.to_string()),
            _ => return Err(bad()),
        }
    }
    let image =
        capsys::image::ImageAccounts::read(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let mut notes = vec![format!(
        "the runtime (dockerd, containerd, runc) is assumed to hold capscan's own bounding set, {}",
        capcli::summary::short(own.bounding, known)
    )];
    let sent = capsys::docker_client::security_opts(version, &security_opt);
    let daemon = Daemon {
        version,
        kernel_known: known,
        effective: own.bounding,
    };
    let start = RuntimeStart {
        bounding: own.bounding,
        inheritable: CapSet::EMPTY,
    };
    let creds = sent
        .map_err(capcore::docker::client_refusal)
        .and_then(|sent| {
            notes.extend(sent.notes);
            run.security_opt = sent.opts;
            daemon
                .process(&run, image.accounts())
                .map_err(capcore::docker::daemon_refusal)
        })
        .and_then(|process| {
            let config = capcore::oci::OciConfig {
                process: capcore::oci::OciProcess {
                    cwd: "/".to_string(),
                    args: vec!["CMD".to_string()],
                    ..process
                },
                ..capcore::oci::OciConfig::default()
            };
            capcore::oci::start(&config, &start)
        });
    let source = if flags.is_empty() {
        format!("docker run as Docker {version} (moby defaults)")
    } else {
        format!(
            "docker run {} as Docker {version}",
            flags.replace(",--", " --")
        )
    };
    Ok((source, creds, notes, ContainerNs::default()))
}

const DOCKER_FLAGS: &str = "docker flags are --cap-add=CAP, --cap-drop=CAP (or ALL), \
--user=USER[:GROUP] (names or numbers, looked up in DIR's /etc/passwd and /etc/group), --group-add=GROUP, \
--privileged, --security-opt=OPT (no-new-privileges[=BOOL], label=, apparmor=, seccomp=, checked as docker \
checks them), --docker-version=X.Y";

/// `oci:CONFIG.json`: the process as runc 1.1 applies it, runc started with capscan's own bounding and
/// inheritable sets (as capsim --oci assumes).
fn oci(path: &Path, known: u32, own: &Creds) -> Result<Loaded, String> {
    let shown = path.display().to_string();
    let config = presets::read_oci_config(path, known).map_err(|e| match e {
        presets::ConfigError::Io(e) => format!("{shown}: {e}"),
        presets::ConfigError::Parse(why) => format!("{shown}: {why}"),
    })?;
    // Notes are escaped where they are printed (capcli::output::warn, JSON).
    let notes: Vec<String> = presets::ignored_caps_note(&config.process)
        .into_iter()
        .collect();
    let start = RuntimeStart {
        bounding: own.bounding,
        inheritable: own.inheritable,
    };
    // runc's checks in its order, in the container's user namespace when it has one.
    let creds = capcore::oci::start(&config, &start.for_config(&config, known));
    let userns = ContainerNs {
        userns: config.userns.clone(),
        idmapped: false,
    };
    Ok((
        format!("OCI config {shown} as runc 1.1 applies it"),
        creds,
        notes,
        userns,
    ))
}

/// `k8s:MANIFEST[#CONTAINER]`: a container of a Kubernetes manifest as containerd (the default runtime of
/// most clusters) builds its OCI process from the securityContext, applied as runc applies it.
fn k8s(rest: &str, known: u32, root: &Path, own: &Creds) -> Result<Loaded, String> {
    use capcore::k8s;
    let (manifest, name) = match rest.rsplit_once('#') {
        Some((manifest, name)) => (manifest, Some(name)),
        None => (rest, None),
    };
    let shown = manifest;
    let text = read_manifest(Path::new(manifest)).map_err(|e| format!("{shown}: {e}"))?;
    let containers = k8s::parse(&text).map_err(|e| format!("{shown}: {e}"))?;
    let container = k8s::select(&containers, name).map_err(|e| format!("{shown}: {e}"))?;
    // As capsim --k8s --rootfs DIR: containerd holds capscan's own bounding set, and reads the users
    // and groups of DIR, the image.
    let image =
        capsys::image::ImageAccounts::read(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let node = k8s::Node {
        runtime: k8s::Runtime::Containerd,
        containerd: None,
        known,
        runtime_caps: own.bounding,
        image_user: None,
        accounts: Some(image.accounts()),
    };
    let source = format!(
        "Kubernetes container {} of {shown} as containerd builds it",
        container.qualified()
    );
    let start = RuntimeStart {
        bounding: own.bounding,
        inheritable: CapSet::EMPTY,
    };
    let (creds, mut notes) = match k8s::translate_on(container, &node) {
        Ok(translation) => (
            presets::k8s_process(&translation.process, &start),
            translation.notes,
        ),
        Err(k8s::Error::Refused(refusal)) => (Err(refusal), Vec::new()),
        Err(k8s::Error::Manifest(e)) => {
            return Err(format!("{shown}: {}: {e}", container.qualified()))
        }
    };
    notes.push(format!(
        "containerd is assumed to hold capscan's own bounding set, {}",
        capcli::summary::short(own.bounding, known)
    ));
    let userns = if container.host_users {
        ContainerNs::default()
    } else {
        notes.push(format!(
            "hostUsers: false: predicted in the pod's own user namespace, container ids 0-{} on host ids \
             {}-{} (the kubelet picks the range), the image's files seen through an idmapped mount",
            k8s::POD_USERNS_SIZE - 1,
            k8s::POD_USERNS_SIZE,
            2 * k8s::POD_USERNS_SIZE - 1
        ));
        ContainerNs {
            userns: Some(k8s::pod_user_namespace()),
            idmapped: true,
        }
    };
    Ok((source, creds, notes, userns))
}

/// A manifest's text, read with capcore::k8s's bound.
fn read_manifest(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(capcore::k8s::MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > capcore::k8s::MAX_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} bytes",
            capcore::k8s::MAX_BYTES
        )));
    }
    String::from_utf8(bytes).map_err(|_| std::io::Error::other("not UTF-8 text"))
}

/// `systemd:UNIT_FILE`: the service's main process, from the unit file and its drop-ins.
fn systemd(path: &Path, known: u32) -> Result<Loaded, String> {
    let loaded = capsys::systemd::load(path, &[])?;
    let (creds, notes) = capsys::systemd::creds(&loaded, known)?;
    let shown = path.display().to_string();
    Ok((
        format!("systemd unit {shown}"),
        Ok(creds),
        notes,
        ContainerNs::default(),
    ))
}

/// What executing one file gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exec {
    pub outcome: Outcome,
    /// What the executed program holds (its permitted set) of what the file asks for: the file's
    /// permitted and inheritable capabilities, or every capability for a set-uid-root file.
    pub gains: CapSet,
    /// The effective uid after the exec, when it differs from the caller's.
    pub euid: Option<u32>,
    pub egid: Option<u32>,
    /// Why, in words.
    pub reason: String,
    /// The state after a successful exec.
    pub after: Option<Creds>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// execve fails (`errno` says with what).
    Fails,
    /// The runtime refuses the spec before anything runs.
    Refused,
    /// The process gains capabilities or ids.
    Gains,
    /// It runs and gains nothing the spec allows.
    Nothing,
}

impl Exec {
    /// The file cannot start: execve fails, or the runtime refuses the spec.
    pub fn fails(&self) -> bool {
        matches!(self.outcome, Outcome::Fails | Outcome::Refused)
    }

    /// What a failure is called in a finding: the errno (`EPERM`), or `refused`.
    pub fn errno(&self) -> &str {
        match self.outcome {
            Outcome::Refused => "refused",
            _ => self.reason.split(':').next().unwrap_or("error"),
        }
    }
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Fails => "fails",
            Outcome::Refused => "refused",
            Outcome::Gains => "gains",
            Outcome::Nothing => "nothing",
        }
    }
}

impl Spec {
    /// One line on the caller every file is executed from.
    pub fn describe(&self) -> String {
        let known = self.kernel.known_caps;
        // A note goes to stderr through warn, which escapes it: no colour codes in it.
        let short = |set| capcli::term::strip_sgr(&capcli::summary::short(set, known));
        match &self.creds {
            Ok(c) => format!(
                "executing as {}: uid {}, gid {}, permitted {}, bounding {}, ambient {}{}",
                self.source,
                c.uid.effective,
                c.gid.effective,
                short(c.permitted),
                short(c.bounding),
                short(c.ambient),
                if c.no_new_privs { ", no_new_privs" } else { "" }
            ),
            Err(refusal) => format!(
                "{}: the runtime refuses it before anything runs: {} ({})",
                self.source, refusal.message, refusal.why
            ),
        }
    }

    /// Predicts the exec of a hit (a regular file; others are not executable). `host` is its path on this
    /// machine, `root` the scanned directory (the container's `/`).
    pub fn predict(&self, hit: &Hit, host: &Path, root: &Path) -> Option<Exec> {
        if hit.kind != capsys::walk::FileKind::Regular {
            return None;
        }
        let creds = match &self.creds {
            Ok(creds) => creds,
            Err(refusal) => {
                return Some(failed(
                    Outcome::Refused,
                    format!("{}: {}", refusal.message, refusal.why),
                ))
            }
        };
        if let Value::Malformed(errno) = hit.value {
            return Some(failed(
                Outcome::Fails,
                format!("{errno}: security.capability is not a valid value"),
            ));
        }
        let target = match capsys::exec_file::read_exec_file_in(host, Some((root, "/"))) {
            Ok(target) => target,
            Err(err) => return Some(failed(Outcome::Fails, format!("cannot be read: {err}"))),
        };
        let file = match target {
            ExecTarget::Runs(file) => file,
            ExecTarget::Fails(failure) => {
                let name = capsys::exec_file::errno_name(failure.errno).unwrap_or("error");
                return Some(failed(Outcome::Fails, format!("{name}: {}", failure.why)));
            }
        };
        // stat shows ids as capscan's own namespace sees them; the model wants kernel ids, and through a
        // pod's idmapped mount a file owned by N on disk is the container's N.
        let (mut owner, mut group) = (
            self.own_ns.kuid(file.owner).unwrap_or(u32::MAX),
            self.own_ns.kgid(file.group).unwrap_or(u32::MAX),
        );
        let chain = NsChain(self.userns.userns.iter().cloned().collect());
        if self.userns.idmapped {
            owner = chain.kuid(owner).unwrap_or(u32::MAX);
            group = chain.kgid(group).unwrap_or(u32::MAX);
        }
        let state = FileState {
            mode: file.mode,
            owner,
            group,
            xattr: match file.xattr {
                XattrRead::Value(bytes) => Some(bytes),
                // EOVERFLOW (a rootid not root here) is ignored by exec; EINVAL on a value the walk read
                // is one that changed since.
                XattrRead::Absent | XattrRead::Unreadable(..) => None,
            },
            nosuid: file.nosuid,
            ..FileState::default()
        };
        let mut userns = self.own_ns.clone();
        userns.0.splice(0..0, chain.0);
        let caller = Caller {
            creds: creds.clone(),
            userns,
            ..Caller::default()
        };
        let sim = capcore::exec::simulate(&caller, &state, self.kernel);
        Some(match sim.result {
            Err(err) => failed(Outcome::Fails, err.to_string()),
            Ok(after) => {
                let new = after.creds;
                let gains = new.permitted & asked(&state, self.kernel.known_caps);
                let euid = (new.uid.effective != creds.uid.effective).then_some(new.uid.effective);
                let egid = (new.gid.effective != creds.gid.effective).then_some(new.gid.effective);
                let gained = !gains.is_empty() || euid.is_some() || egid.is_some();
                let reason = if gained {
                    gain_text(gains, euid, egid, self.kernel.known_caps)
                } else {
                    self.nothing_why(creds, &state, &sim.trace)
                };
                Exec {
                    outcome: if gained {
                        Outcome::Gains
                    } else {
                        Outcome::Nothing
                    },
                    gains,
                    euid,
                    egid,
                    reason,
                    after: Some(new),
                }
            }
        })
    }

    /// Why an exec gains nothing from the file's bits.
    fn nothing_why(
        &self,
        creds: &Creds,
        state: &FileState,
        trace: &capcore::exec::Trace,
    ) -> String {
        let setid = state.mode & 0o4000 != 0 || state.mode & 0o2010 == 0o2010;
        if setid && creds.no_new_privs {
            return "no_new_privs is set: the set-id bits are not honoured".to_string();
        }
        if setid && state.nosuid {
            return "the mount is nosuid: the set-id bits are not honoured".to_string();
        }
        trace
            .caps
            .iter()
            .find(|why| why.change == Change::Denied)
            .map_or_else(
                || "the spec allows nothing the file asks for".to_string(),
                |why| format!("{} denied: {}", why.cap, why.why),
            )
    }
}

/// What the file asks for: its permitted and inheritable capabilities, or every one for a set-uid-root
/// file.
fn asked(state: &FileState, known: u32) -> CapSet {
    let mut set = CapSet::EMPTY;
    if state.mode & 0o4000 != 0 && state.owner == 0 {
        set = CapSet::first_n(known);
    }
    if let Some(caps) = state
        .xattr
        .as_deref()
        .and_then(|raw| capcore::FileCaps::decode(raw).ok())
    {
        set = set | caps.permitted | caps.inheritable;
    }
    set
}

fn failed(outcome: Outcome, reason: String) -> Exec {
    Exec {
        outcome,
        gains: CapSet::EMPTY,
        euid: None,
        egid: None,
        reason,
        after: None,
    }
}

fn gain_text(gains: CapSet, euid: Option<u32>, egid: Option<u32>, known: u32) -> String {
    let mut parts = Vec::new();
    if let Some(uid) = euid {
        parts.push(format!("euid {uid}"));
    }
    if let Some(gid) = egid {
        parts.push(format!("egid {gid}"));
    }
    if !gains.is_empty() {
        parts.push(capcli::summary::long(gains, known));
    }
    parts.join(", ")
}

/// The path as the container sees it: `host` below `root`, from `/`.
pub fn container_path(host: &[u8], root: &[u8]) -> Vec<u8> {
    let root = trim_slashes(root);
    let rest = host.strip_prefix(root).unwrap_or(host);
    if rest.is_empty() {
        return b"/".to_vec();
    }
    if rest.starts_with(b"/") {
        return rest.to_vec();
    }
    // A root given as `/`: every path is already the container's.
    if root.is_empty() {
        let mut path = b"/".to_vec();
        path.extend_from_slice(rest);
        return path;
    }
    host.to_vec()
}

fn trim_slashes(path: &[u8]) -> &[u8] {
    let mut end = path.len();
    while end > 0 && path[end - 1] == b'/' {
        end -= 1;
    }
    &path[..end]
}

/// The JSON form: `{"outcome", "gains": {"hex","caps"}, "reason", "euid"?, "egid"?, "after"?}`.
#[derive(Serialize)]
pub struct ExecRecord<'a> {
    outcome: &'static str,
    gains: CapSet,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    euid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    egid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<&'a Creds>,
}

impl<'a> From<&'a Exec> for ExecRecord<'a> {
    fn from(exec: &'a Exec) -> Self {
        ExecRecord {
            outcome: exec.outcome.name(),
            gains: exec.gains,
            reason: &exec.reason,
            euid: exec.euid,
            egid: exec.egid,
            after: exec.after.as_ref(),
        }
    }
}

/// The one-line human form: `exec: gains cap_net_bind_service (1 of 41)`, `exec: fails EPERM: …`.
pub fn text(exec: &Exec) -> String {
    match exec.outcome {
        Outcome::Gains => format!("exec: gains {}", exec.reason),
        Outcome::Nothing => format!("exec: gains nothing ({})", exec.reason),
        Outcome::Fails => format!("exec: fails {}", exec.reason),
        Outcome::Refused => format!("exec: refused by the runtime ({})", exec.reason),
    }
}

/// The scanned directory as a path.
pub fn root_of(paths: &[std::ffi::OsString]) -> PathBuf {
    paths
        .first()
        .map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_as_the_container_sees_them() {
        assert_eq!(container_path(b"/img/usr/bin/x", b"/img"), b"/usr/bin/x");
        assert_eq!(container_path(b"/img/usr/bin/x", b"/img/"), b"/usr/bin/x");
        assert_eq!(container_path(b"/usr/bin/x", b"/"), b"/usr/bin/x");
        assert_eq!(container_path(b"img/x", b"img"), b"/x");
        assert_eq!(container_path(b"/img", b"/img"), b"/");
    }

    #[test]
    fn docker_flags() {
        let image = tempfile::tempdir().expect("tempdir");
        let root = image.path();
        let own = Creds {
            bounding: CapSet::first_n(41),
            ..Creds::default()
        };
        let run = |flags: &str| docker(flags, 41, root, &own);
        let (_, creds, _, _) = run(
            "--cap-drop=ALL,--cap-add=NET_BIND_SERVICE,NET_RAW,--user=1000,--docker-version=20.10",
        )
        .unwrap();
        let creds = creds.unwrap();
        assert_eq!(creds.uid.effective, 1000);
        assert_eq!(creds.bounding.len(), 2);
        assert!(creds.permitted.is_empty());
        // Docker 25.0 and later: a non-root user holds them before the exec too.
        let (_, creds, _, _) =
            run("--cap-drop=ALL,--cap-add=NET_BIND_SERVICE,NET_RAW,--user=1000").unwrap();
        assert_eq!(creds.unwrap().permitted.len(), 2);
        assert!(run("--rm").is_err());
        // A name the image (here empty) does not have: dockerd refuses the container.
        let (_, creds, _, _) = run("--user=nobody").unwrap();
        assert_eq!(creds.unwrap_err().by, "dockerd");
        let (_, creds, _, _) = run("").unwrap();
        assert_eq!(creds.unwrap().effective.len(), 14);
        // Security options as docker reads them: the client, then dockerd, refuse what they do not know.
        let (_, creds, _, _) = run("--security-opt=no-new-privileges=true").unwrap();
        assert!(creds.unwrap().no_new_privs);
        let (_, creds, _, _) = run("--security-opt=bare").unwrap();
        assert_eq!(creds.unwrap_err().by, "docker");
        let (_, creds, _, _) = run("--security-opt=no-new-privileges=yes").unwrap();
        assert_eq!(creds.unwrap_err().by, "dockerd");
    }
}
