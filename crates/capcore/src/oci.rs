//! The OCI runtime config's process, and the state runc gives it before it executes `process.args[0]`.
//!
//! Every container input (`--oci`, `--docker` through [`crate::docker`], Kubernetes manifests) becomes an
//! [`OciProcess`]; [`apply`]
//! then does what runc 1.1 does in `finalizeNamespace` (libcontainer/init_linux.go) with the kernel's rules
//! for each step, so the container's first process is modelled once:
//!
//! 1. the bounding set is cut to `bounding` (PR_CAPBSET_DROP; runc init holds CAP_SETPCAP);
//! 2. with PR_SET_KEEPCAPS, setgroups(additionalGids), setgid, setuid: a non-zero uid clears the effective
//!    and ambient sets, the permitted set (still full) is kept;
//! 3. capset(effective, permitted, inheritable): the kernel refuses (EPERM) an effective set outside the
//!    permitted one and an inheritable set outside the old inheritable ∪ bounding; runc stops with
//!    `unable to apply caps: operation not permitted` before any exec;
//! 4. each ambient capability is raised; a raise the kernel refuses (not in permitted ∩ inheritable) is
//!    ignored, as runc's capability package ignores it;
//! 5. no_new_privs when `noNewPrivileges`.
//!
//! Capability names runc does not know (wrong case, no `CAP_` prefix, beyond the kernel's last) are
//! ignored with a warning, as runc does (`ignoring unknown or unavailable capabilities`).

use serde::Deserialize;

use crate::exec::{Creds, IdRange, Ids, NsChain, UserNs};
use crate::{Cap, CapSet, Securebits};

/// The largest config.json read (runc's own configs are a few KiB).
pub const MAX_CONFIG_BYTES: usize = 4 << 20;

/// The 14 capabilities Docker gives a container by default (moby oci/caps/defaults.go), which containerd's
/// CRI plugin also uses (pkg/oci/spec.go defaultUnixCaps).
pub const DOCKER_DEFAULT: [Cap; 14] = [
    Cap::CHOWN,
    Cap::DAC_OVERRIDE,
    Cap::FSETID,
    Cap::FOWNER,
    Cap::MKNOD,
    Cap::NET_RAW,
    Cap::SETGID,
    Cap::SETUID,
    Cap::SETFCAP,
    Cap::SETPCAP,
    Cap::NET_BIND_SERVICE,
    Cap::SYS_CHROOT,
    Cap::KILL,
    Cap::AUDIT_WRITE,
];

/// The part of an OCI runtime config that decides the first process's credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OciProcess {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// `None` when `process.capabilities` is absent: runc then gives every set empty.
    pub capabilities: Option<OciCaps>,
    pub no_new_privileges: bool,
    pub args: Vec<String>,
    /// `process.env` (`NAME=VALUE`), of which PATH finds a bare `args[0]`.
    pub env: Vec<String>,
    /// `process.cwd`, where a relative `args[0]` is looked up.
    pub cwd: String,
    /// Capability names the config gives that runc ignores.
    pub ignored: Vec<String>,
}

/// The five sets of `process.capabilities`, already cut to the capabilities runc knows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OciCaps {
    pub bounding: CapSet,
    pub effective: CapSet,
    pub permitted: CapSet,
    pub inheritable: CapSet,
    pub ambient: CapSet,
}

/// A whole config: the process, `root.path` (relative to the bundle directory, or absolute) and the user
/// namespace runc makes for the container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OciConfig {
    pub process: OciProcess,
    pub root_path: String,
    /// `linux.namespaces` has a `user` entry without a `path`: runc makes a new user namespace whose maps
    /// are `linux.uidMappings` and `linux.gidMappings` (containerID, hostID, size).
    pub userns: Option<UserNs>,
    /// A `user` entry with a `path`: the container joins an existing namespace, whose maps the config
    /// does not hold.
    pub userns_path: Option<String>,
}

impl OciConfig {
    /// The user namespaces the container's process lives in, innermost first, as seen from runc's own
    /// (`outer`, usually the initial namespace).
    pub fn chain(&self, outer: &NsChain) -> NsChain {
        let mut chain = outer.clone();
        if let Some(ns) = &self.userns {
            chain.0.insert(0, ns.clone());
        }
        chain
    }
}

#[derive(Deserialize)]
struct RawConfig {
    process: Option<RawProcess>,
    root: Option<RawRoot>,
    linux: Option<RawLinux>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawLinux {
    #[serde(default)]
    namespaces: Vec<RawNamespace>,
    #[serde(default)]
    uid_mappings: Vec<RawIdMap>,
    #[serde(default)]
    gid_mappings: Vec<RawIdMap>,
}

#[derive(Deserialize)]
struct RawNamespace {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawIdMap {
    #[serde(rename = "containerID")]
    container_id: u32,
    #[serde(rename = "hostID")]
    host_id: u32,
    size: u32,
}

impl RawIdMap {
    fn range(&self) -> IdRange {
        IdRange {
            inside: self.container_id,
            outside: self.host_id,
            count: self.size,
        }
    }
}

#[derive(Deserialize)]
struct RawRoot {
    path: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProcess {
    user: RawUser,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    cwd: String,
    capabilities: Option<RawCaps>,
    #[serde(default)]
    no_new_privileges: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawUser {
    #[serde(default)]
    uid: u32,
    #[serde(default)]
    gid: u32,
    #[serde(default)]
    additional_gids: Vec<u32>,
}

#[derive(Deserialize, Default)]
struct RawCaps {
    #[serde(default)]
    bounding: Vec<String>,
    #[serde(default)]
    effective: Vec<String>,
    #[serde(default)]
    permitted: Vec<String>,
    #[serde(default)]
    inheritable: Vec<String>,
    #[serde(default)]
    ambient: Vec<String>,
}

/// Parses config.json. `known` is how many capabilities the running kernel has (cap_last_cap + 1): runc
/// ignores names past it.
pub fn parse_config(bytes: &[u8], known: u32) -> Result<OciConfig, String> {
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(format!(
            "larger than {MAX_CONFIG_BYTES} bytes: not an OCI runtime config"
        ));
    }
    let raw: RawConfig = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let process = raw.process.ok_or("no `process` object: nothing to run")?;
    let mut ignored = Vec::new();
    let capabilities = process.capabilities.map(|caps| {
        let mut set = |names: &[String]| cap_names(names, known, &mut ignored);
        OciCaps {
            bounding: set(&caps.bounding),
            effective: set(&caps.effective),
            permitted: set(&caps.permitted),
            inheritable: set(&caps.inheritable),
            ambient: set(&caps.ambient),
        }
    });
    ignored.sort();
    ignored.dedup();
    let linux = raw.linux.unwrap_or_default();
    let user = linux.namespaces.iter().find(|ns| ns.kind == "user");
    let userns = user.filter(|ns| ns.path.is_empty()).map(|_| UserNs {
        uid_map: linux.uid_mappings.iter().map(RawIdMap::range).collect(),
        gid_map: linux.gid_mappings.iter().map(RawIdMap::range).collect(),
    });
    let userns_path = user
        .filter(|ns| !ns.path.is_empty())
        .map(|ns| ns.path.clone());
    Ok(OciConfig {
        userns,
        userns_path,
        process: OciProcess {
            uid: process.user.uid,
            gid: process.user.gid,
            additional_gids: process.user.additional_gids,
            capabilities,
            no_new_privileges: process.no_new_privileges,
            args: process.args,
            env: process.env,
            cwd: process.cwd,
            ignored,
        },
        root_path: raw.root.map(|r| r.path).unwrap_or_default(),
    })
}

/// runc's lookup: exactly `CAP_` and the upper-case name (its map is built that way), and only
/// capabilities the kernel has.
fn cap_names(names: &[String], known: u32, ignored: &mut Vec<String>) -> CapSet {
    let mut set = CapSet::EMPTY;
    for name in names {
        let cap = name
            .strip_prefix("CAP_")
            .filter(|rest| !rest.bytes().any(|b| b.is_ascii_lowercase()))
            .and_then(|_| Cap::from_libcap_name(name))
            .filter(|cap| cap.bit() < known);
        match cap {
            Some(cap) => set = set.with(cap),
            None => ignored.push(name.clone()),
        }
    }
    set
}

/// Why runc stops before the container's process runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// runc's words (`unable to apply caps: operation not permitted`).
    pub message: String,
    /// Who refuses: `runc`, `dockerd`.
    pub by: &'static str,
    /// Which rule of the kernel's the config breaks.
    pub why: String,
}

/// The state of the process that starts runc (runc's own exec as root keeps its bounding and inheritable
/// sets: runc init starts with permitted = bounding ∪ inheritable, every capability of it effective).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuntimeStart {
    pub bounding: CapSet,
    pub inheritable: CapSet,
}

impl RuntimeStart {
    /// A runtime started with every capability in its bounding set and none inheritable (a daemon).
    pub fn full(known: u32) -> RuntimeStart {
        RuntimeStart {
            bounding: CapSet::first_n(known),
            inheritable: CapSet::EMPTY,
        }
    }

    /// What runc's init holds in the container: in a user namespace of its own it starts with every
    /// capability in every set but inheritable and ambient, whatever runc itself held
    /// (kernel/user_namespace.c:set_cred_user_ns), so the runtime's own bounding set no longer limits it.
    pub fn for_config(self, config: &OciConfig, known: u32) -> RuntimeStart {
        match config.userns {
            Some(_) => RuntimeStart::full(known),
            None => self,
        }
    }
}

/// runc's checks before and while it sets up the container's first process, in its order, each in its
/// own words (utils_linux.go validateProcessSpec, then libcontainer/init_linux.go finalizeNamespace:
/// setupUser, then the capabilities), and the state it leaves: what [`apply`] gives, in the container's
/// user namespace when it has one. The lookup of `args[0]` and the exec come after all of these.
pub fn start(config: &OciConfig, runtime: &RuntimeStart) -> Result<Creds, Refusal> {
    let process = &config.process;
    let refuse = |message: &str, why: &str| Refusal {
        message: message.to_string(),
        by: "runc",
        why: why.to_string(),
    };
    if process.cwd.is_empty() {
        return Err(refuse(
            "Cwd property must not be empty",
            "runc validates process.cwd before it starts anything: it must be given",
        ));
    }
    if !process.cwd.starts_with('/') {
        return Err(refuse(
            "Cwd must be an absolute path",
            "runc validates process.cwd before it starts anything: it must be an absolute path",
        ));
    }
    if process.args.is_empty() {
        return Err(refuse(
            "args must not be empty",
            "runc validates process.args before it starts anything",
        ));
    }
    let mut process = process.clone();
    process.additional_gids = setup_groups(&process, config.userns.as_ref())?;
    apply(&process, runtime)
}

/// setupUser's checks of the ids against the container's user namespace, and the supplementary groups it
/// sets: each gid once (runc collects them in a set), in the kernel's order (setgroups sorts them by
/// kernel gid).
fn setup_groups(process: &OciProcess, userns: Option<&UserNs>) -> Result<Vec<u32>, Refusal> {
    let refuse = |message: &str, why: String| Refusal {
        message: format!("unable to setup user: {message}"),
        by: "runc",
        why,
    };
    let chain = NsChain(userns.into_iter().cloned().collect());
    if chain.kuid(process.uid).is_none() {
        return Err(refuse(
            "cannot set uid to unmapped user in user namespace",
            format!(
                "uid {} is not in the container's uid map, so setuid would fail",
                process.uid
            ),
        ));
    }
    if chain.kgid(process.gid).is_none() {
        return Err(refuse(
            "cannot set gid to unmapped user in user namespace",
            format!(
                "gid {} is not in the container's gid map, so setgid would fail",
                process.gid
            ),
        ));
    }
    let mut groups: Vec<(u32, u32)> = Vec::new();
    for &gid in &process.additional_gids {
        let Some(kgid) = chain.kgid(gid) else {
            return Err(refuse(
                "setgroups: invalid argument",
                format!("additional gid {gid} is not in the container's gid map: setgroups fails with EINVAL"),
            ));
        };
        if !groups.iter().any(|&(g, _)| g == gid) {
            groups.push((gid, kgid));
        }
    }
    groups.sort_by_key(|&(_, kgid)| kgid);
    Ok(groups.into_iter().map(|(gid, _)| gid).collect())
}

/// The state runc gives the container's first process just before it executes `args[0]`, or why runc
/// refuses the config. `start` is the state runc itself was started in.
pub fn apply(process: &OciProcess, start: &RuntimeStart) -> Result<Creds, Refusal> {
    let caps = process.capabilities.unwrap_or_default();
    // PR_CAPBSET_DROP only takes away: what the runtime's own bounding set lacks stays out.
    let bounding = caps.bounding & start.bounding;
    // setuid to a non-zero uid with keepcaps keeps permitted; capset can only keep or lower it.
    let permitted_before = start.bounding | start.inheritable;
    let refuse = |why: String| Refusal {
        message: "unable to apply caps: operation not permitted".to_string(),
        by: "runc",
        why,
    };
    if !caps.inheritable.is_subset(start.inheritable | bounding) {
        return Err(refuse(format!(
            "capset refuses an inheritable set outside the old inheritable set and the bounding set: {} \
             are not in the bounding set",
            (caps.inheritable - (start.inheritable | bounding)).names().join(", ")
        )));
    }
    if !caps.permitted.is_subset(permitted_before) {
        return Err(refuse(format!(
            "capset refuses a permitted set larger than the old one: runc itself does not hold {}",
            (caps.permitted - permitted_before).names().join(", ")
        )));
    }
    if !caps.effective.is_subset(caps.permitted) {
        return Err(refuse(format!(
            "capset refuses an effective set outside the permitted set: {} are effective but not permitted",
            (caps.effective - caps.permitted).names().join(", ")
        )));
    }
    Ok(Creds {
        uid: Ids::all(process.uid),
        gid: Ids::all(process.gid),
        groups: process.additional_gids.clone(),
        inheritable: caps.inheritable,
        permitted: caps.permitted,
        effective: caps.effective,
        bounding,
        // PR_CAP_AMBIENT_RAISE fails for a capability not in both permitted and inheritable; runc goes on.
        ambient: caps.ambient & caps.permitted & caps.inheritable,
        securebits: Securebits::default(),
        no_new_privs: process.no_new_privileges,
    })
}

/// `PATH` from `process.env` (the last assignment wins, as setenv in order leaves it).
pub fn env_path(process: &OciProcess) -> Option<&str> {
    process
        .env
        .iter()
        .rev()
        .find_map(|entry| entry.strip_prefix("PATH="))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(caps: &str, user: &str) -> OciConfig {
        let text = format!(
            r#"{{"ociVersion":"1.0.2","process":{{"user":{user},"args":["sh"],"cwd":"/","capabilities":{caps}}},"root":{{"path":"rootfs"}}}}"#
        );
        parse_config(text.as_bytes(), 41).unwrap()
    }

    #[test]
    fn reads_runc_spec_default() {
        let c = config(
            r#"{"bounding":["CAP_KILL","CAP_NET_BIND_SERVICE"],"effective":["CAP_KILL"],"permitted":["CAP_KILL"],"ambient":["CAP_KILL"]}"#,
            r#"{"uid":1000,"gid":10,"additionalGids":[5,6]}"#,
        );
        assert_eq!(c.root_path, "rootfs");
        let creds = apply(&c.process, &RuntimeStart::full(41)).unwrap();
        assert_eq!(creds.uid, Ids::all(1000));
        assert_eq!(creds.groups, vec![5, 6]);
        assert_eq!(creds.bounding.len(), 2);
        assert_eq!(creds.effective, Cap::KILL.into());
        // Not inheritable: the ambient raise fails and runc goes on.
        assert_eq!(creds.ambient, CapSet::EMPTY);
    }

    #[test]
    fn refuses_what_capset_refuses() {
        let c = config(
            r#"{"bounding":["CAP_KILL"],"effective":["CAP_KILL"],"permitted":[]}"#,
            r#"{"uid":0,"gid":0}"#,
        );
        let refusal = apply(&c.process, &RuntimeStart::full(41)).unwrap_err();
        assert_eq!(
            refusal.message,
            "unable to apply caps: operation not permitted"
        );
        let c = config(r#"{"inheritable":["CAP_KILL"]}"#, r#"{"uid":0,"gid":0}"#);
        assert!(apply(&c.process, &RuntimeStart::full(41)).is_err());
        let start = RuntimeStart {
            inheritable: Cap::KILL.into(),
            ..RuntimeStart::full(41)
        };
        assert!(apply(&c.process, &start).is_ok());
        // runc cannot give what it does not hold itself.
        let c = config(r#"{"permitted":["CAP_KILL"]}"#, r#"{"uid":0,"gid":0}"#);
        let start = RuntimeStart {
            bounding: CapSet::first_n(41).without(Cap::KILL),
            ..RuntimeStart::full(41)
        };
        assert!(apply(&c.process, &start).is_err());
    }

    #[test]
    fn ignores_names_runc_does_not_know() {
        let c = config(
            r#"{"bounding":["cap_kill","NET_RAW","CAP_BOGUS","CAP_CHECKPOINT_RESTORE","CAP_CHOWN"]}"#,
            r#"{"uid":0,"gid":0}"#,
        );
        assert_eq!(c.process.ignored, vec!["CAP_BOGUS", "NET_RAW", "cap_kill"]);
        let creds = apply(&c.process, &RuntimeStart::full(40)).unwrap();
        assert_eq!(creds.bounding, Cap::CHOWN.into());
    }

    #[test]
    fn no_capabilities_object_means_none() {
        let text = br#"{"process":{"user":{"uid":0,"gid":0},"args":["sh"]},"root":{"path":"r"}}"#;
        let c = parse_config(text, 41).unwrap();
        let creds = apply(&c.process, &RuntimeStart::full(41)).unwrap();
        assert!(creds.bounding.is_empty() && creds.permitted.is_empty());
    }

    #[test]
    fn rejects_what_is_not_a_config() {
        assert!(parse_config(b"[]", 41).is_err());
        assert!(parse_config(b"{}", 41).is_err());
        assert!(parse_config(&vec![b' '; MAX_CONFIG_BYTES + 1], 41).is_err());
        assert!(parse_config(br#"{"process":{"user":{"uid":-1}}}"#, 41).is_err());
    }
}
