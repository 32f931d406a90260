//! Kubernetes manifests → the OCI process state a container runtime gives the container's first process.
//!
//! The kubelet sets no capabilities itself: it hands the pod- and container-level securityContext to the
//! runtime over CRI, and the runtime (containerd's CRI plugin or cri-o) turns it into an OCI runtime config
//! from its own defaults, which runc then applies. This module reads the manifest (YAML or JSON, one
//! document or several) and does the runtime's part, so that capsim can predict the exec.
//!
//! YAML is read with `serde_norway`, the maintained fork of `serde_yaml` (which its author archived and
//! marked unmaintained): same serde interface, libyaml-based, with a limit on alias expansion so that a
//! "billion laughs" document fails instead of eating memory. `serde_yml` was not chosen (RUSTSEC-2025-0068:
//! unsound, unmaintained), nor the lower-level `saphyr`/`yaml-rust2` (no serde; the typed structs here
//! would have to be walked by hand). JSON is YAML's subset and goes through the same parser.
//!
//! What each runtime does was read in its source:
//! - containerd (main at 301026e, v2.4 development): internal/cri/server/container_create.go applies
//!   internal/cri/opts/spec_opts.go `WithCapabilities` over the default spec of pkg/oci/spec.go
//!   (`defaultUnixCaps`: Docker's 14 in bounding, permitted and effective, no inheritable); `ALL` in add
//!   is every capability containerd holds, `ALL` in drop empties the list, then pkg/oci/spec_opts.go
//!   `WithAddedCapabilities` puts each added name in bounding, effective and permitted and
//!   `WithDroppedCapabilities` removes each dropped one from those and inheritable. Names are made
//!   `"CAP_" + upper(name)` with no check, so `CAP_NET_RAW` becomes `CAP_CAP_NET_RAW`, which runc does not
//!   know and skips with a warning. `privileged` is `oci.WithPrivileged` (every capability in bounding,
//!   effective and permitted); `WithoutAmbientCaps` then clears ambient. Nothing depends on the user: a
//!   non-root container gets the same permitted and effective sets (Docker's moby clears them instead).
//! - cri-o (main at f954a17, v1.36 development): internal/factory/container/container.go
//!   `SpecSetupCapabilities` clears the sets, adds internal/config/capabilities `Default()` (9 since
//!   cri-o 1.18 removed NET_RAW and SYS_CHROOT and later MKNOD, AUDIT_WRITE, SETFCAP: CHOWN, DAC_OVERRIDE,
//!   FSETID, FOWNER, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE, KILL) unless add or drop has `ALL`, and puts
//!   every add in bounding, effective and permitted (inheritable only with `add_inheritable_capabilities`,
//!   off by default), removes every drop from them; names may carry `CAP_` in any case, an unknown one is an
//!   error. `privileged` is runtime-tools `SetupPrivileged`: every capability in all five sets, ambient
//!   included. Nothing depends on the user either.
//!
//! Both: `allowPrivilegeEscalation: false` is the kubelet's `NoNewPrivs` (pkg/securitycontext
//! `AddNoNewPrivileges`); unset, it is false. The user is runAsUser (container level over pod level), else
//! the image's USER, which no manifest names: the kubelet then sends the image's uid (0 for an image with
//! no USER) as RunAsUser itself. It adds fsGroup to supplementalGroups.
//!
//! containerd 1.6 (v1.6.20, Debian bookworm's; pkg/cri/server/container_create_linux.go, pkg/cri/opts,
//! oci/spec_opts.go), proved against the real CRI plugin by tests/capsim_cri.rs, and main alike:
//! - `ALL` in add and `privileged` are containerd's own effective set (pkg/cap `Current`, read from
//!   /proc/self/status), not every capability the kernel knows; a name added outside it goes into the
//!   config all the same, and runc, which holds no more than containerd, refuses it at start (`unable to
//!   apply caps: operation not permitted`).
//! - The user is `oci.WithUser("UID[:GID]")`: with runAsGroup the gid is that number, without it the gid
//!   of the first /etc/passwd entry of the image with that uid (0 when there is none).
//! - `WithAdditionalGIDs(UID)` then gives the groups of the image's /etc/group that list that user's name
//!   (whatever runAsGroup says; a group named like the user is left out), and every one of those steps
//!   puts the primary gid among the additional gids (`ensureAdditionalGids`); `WithSupplementalGroups`
//!   merges supplementalGroups in. The result is one sorted list without repeats.
//! - 1.6 has no supplementalGroupsPolicy (added in 2.0, where `Strict` leaves out the image's groups) and
//!   no user namespaces for pods: the kubelet refuses both on a runtime that does not announce them.

use serde::Deserialize;

use crate::image_user::{exec_user, Accounts, ExecUser};
use crate::oci::Refusal;
use crate::{Cap, CapSet};

/// The most manifest bytes read.
pub const MAX_BYTES: usize = 4 << 20;
/// The most YAML documents read from one manifest.
pub const MAX_DOCUMENTS: usize = 1000;
/// The deepest nesting of sequences and mappings read: serde_norway's own recursion limit, so that no
/// manifest it accepts is refused; real manifests nest about a dozen levels.
pub const MAX_DEPTH: usize = 128;

/// A Kubernetes container runtime whose CRI translation is modelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Containerd,
    CriO,
}

/// containerd's default: pkg/oci/spec.go defaultUnixCaps, Docker's 14.
const CONTAINERD_DEFAULT: [Cap; 14] = crate::oci::DOCKER_DEFAULT;

/// cri-o's default_capabilities: internal/config/capabilities Default().
const CRIO_DEFAULT: [Cap; 9] = [
    Cap::CHOWN,
    Cap::DAC_OVERRIDE,
    Cap::FSETID,
    Cap::FOWNER,
    Cap::SETGID,
    Cap::SETUID,
    Cap::SETPCAP,
    Cap::NET_BIND_SERVICE,
    Cap::KILL,
];

impl Runtime {
    pub const fn name(self) -> &'static str {
        match self {
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
        }
    }

    /// The capabilities a container gets when its securityContext names none.
    pub fn default_caps(self) -> CapSet {
        match self {
            Runtime::Containerd => CapSet::from_caps(CONTAINERD_DEFAULT),
            Runtime::CriO => CapSet::from_caps(CRIO_DEFAULT),
        }
    }

    /// Which source the model follows, for the report.
    pub const fn source(self) -> &'static str {
        match self {
            Runtime::Containerd => "containerd 2.x CRI plugin (Docker's 14 by default)",
            Runtime::CriO => "cri-o 1.36 (default_capabilities: 9)",
        }
    }
}

/// A containerd release, major and minor: the rules that differ between releases are chosen by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ContainerdVersion {
    pub major: u32,
    pub minor: u32,
}

impl ContainerdVersion {
    /// The oldest release modelled: its CRI plugin is the one proved against (Debian bookworm's 1.6.20).
    pub const OLDEST: ContainerdVersion = ContainerdVersion { major: 1, minor: 6 };
    /// The first release with supplementalGroupsPolicy and user namespaces for pods.
    pub const V2_0: ContainerdVersion = ContainerdVersion { major: 2, minor: 0 };

    /// `X.Y` (a patch level, `1.6.20`, is allowed and does not count).
    pub fn parse(text: &str) -> Result<ContainerdVersion, String> {
        let mut parts = text.trim().split('.');
        let mut number = |what: &str| {
            parts
                .next()
                .and_then(|p| p.parse::<u32>().ok())
                .ok_or_else(|| format!("'{text}' is not a release X.Y ({what} missing)"))
        };
        let version = ContainerdVersion {
            major: number("major")?,
            minor: number("minor")?,
        };
        if version < Self::OLDEST {
            return Err(format!(
                "containerd {version} is older than the oldest modelled, {}",
                Self::OLDEST
            ));
        }
        Ok(version)
    }
}

impl std::fmt::Display for ContainerdVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// What the translation depends on besides the manifest: the node's runtime and what is known of the
/// image.
#[derive(Clone, Copy, Debug)]
pub struct Node<'a> {
    pub runtime: Runtime,
    /// containerd's release; `None` is the newest modelled (main). cri-o's rules are its newest.
    pub containerd: Option<ContainerdVersion>,
    /// How many capabilities the kernel knows.
    pub known: u32,
    /// The runtime's own effective set: containerd's `ALL` and `privileged`.
    pub runtime_caps: CapSet,
    /// The image's USER, when the caller knows it (a manifest does not say it).
    pub image_user: Option<ImageUser<'a>>,
    /// The image's /etc/passwd and /etc/group, when the image is at hand.
    pub accounts: Option<Accounts<'a>>,
}

impl Node<'_> {
    /// A runtime holding every capability the kernel knows, and an image not at hand.
    pub fn assumed(runtime: Runtime, known: u32, image_uid: Option<u32>) -> Node<'static> {
        Node {
            runtime,
            containerd: None,
            known,
            runtime_caps: CapSet::first_n(known),
            image_user: image_uid.map(ImageUser::Uid),
            accounts: None,
        }
    }

    fn containerd_before(&self, version: ContainerdVersion) -> bool {
        self.runtime == Runtime::Containerd && self.containerd.is_some_and(|v| v < version)
    }
}

/// Why a translation does not give a process: a manifest that is wrong in itself, or a refusal of the API
/// server, the kubelet or the runtime (the container never runs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    Manifest(String),
    Refused(Refusal),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Manifest(message) => f.write_str(message),
            Error::Refused(r) => write!(f, "{} ({})", r.message, r.why),
        }
    }
}

/// An image's USER as the kubelet reads it from the runtime's image status (containerd's
/// getUserFromImage): the part before `:` (the group is dropped), a number as a uid, else a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageUser<'a> {
    Uid(u32),
    Name(&'a str),
}

impl<'a> ImageUser<'a> {
    /// `USER[:GROUP]` as an image's config gives it; `None` for an empty one (the image sets no USER,
    /// so root). A number no uid can be (negative, above 2^32 - 1) is an error; digits too many for 64
    /// bits are a name, as Go's ParseInt leaves them.
    pub fn parse(text: &'a str) -> Result<Option<ImageUser<'a>>, String> {
        let user = text.split(':').next().unwrap_or("");
        if user.is_empty() {
            return Ok(None);
        }
        // strconv.ParseInt(user, 10, 64): what does not parse is a name.
        match crate::image_user::parse_id(user) {
            Some(n) => u32::try_from(n)
                .map(|uid| Some(ImageUser::Uid(uid)))
                .map_err(|_| format!("'{user}' is not a uid (0 to 4294967295)")),
            None => Ok(Some(ImageUser::Name(user))),
        }
    }
}

/// A refusal by `by` (`kubelet`, `kube-apiserver`, `containerd`, `cri-o`) before anything runs.
fn refused(by: &'static str, message: impl Into<String>, why: &str) -> Error {
    Error::Refused(Refusal {
        message: message.into(),
        by,
        why: why.to_string(),
    })
}

/// The OCI runtime config's `process` part that decides credentials: what runc is asked to set up before
/// it executes the container's entrypoint. Fields are named after the OCI keys (`user.uid`, `user.gid`,
/// `user.additionalGids`, `capabilities.{bounding,effective,permitted,inheritable,ambient}`,
/// `noNewPrivileges`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OciProcess {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub bounding: CapSet,
    pub effective: CapSet,
    pub permitted: CapSet,
    pub inheritable: CapSet,
    pub ambient: CapSet,
    pub no_new_privileges: bool,
}

impl OciProcess {
    /// The same process as an OCI config gives it to runc, for `crate::oci::apply`.
    pub fn to_oci(&self) -> crate::oci::OciProcess {
        crate::oci::OciProcess {
            uid: self.uid,
            gid: self.gid,
            additional_gids: self.additional_gids.clone(),
            capabilities: Some(crate::oci::OciCaps {
                bounding: self.bounding,
                effective: self.effective,
                permitted: self.permitted,
                inheritable: self.inheritable,
                ambient: self.ambient,
            }),
            no_new_privileges: self.no_new_privileges,
            ..crate::oci::OciProcess::default()
        }
    }
}

/// The capabilities part of a securityContext.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Capabilities {
    pub add: Vec<String>,
    pub drop: Vec<String>,
}

/// The fields of a pod- or container-level securityContext that shape credentials (the pod level has no
/// capabilities, privileged or allowPrivilegeEscalation; the container level no groups).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct SecurityContext {
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub run_as_non_root: Option<bool>,
    pub supplemental_groups: Option<Vec<i64>>,
    pub supplemental_groups_policy: Option<String>,
    pub fs_group: Option<i64>,
    pub capabilities: Option<Capabilities>,
    pub privileged: Option<bool>,
    pub allow_privilege_escalation: Option<bool>,
}

/// One container of a manifest with everything its credentials depend on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodContainer {
    /// The workload's kind and name (`Deployment/web`).
    pub workload: String,
    pub name: String,
    pub init: bool,
    pub pod: SecurityContext,
    pub container: SecurityContext,
    /// `spec.hostUsers` (default true): false gives the pod a user namespace of its own.
    pub host_users: bool,
}

/// The ids of a pod with `hostUsers: false`: the kubelet gives it container ids 0-65535, mapped to a
/// range of 65536 host ids of its choosing (a multiple of 65536, never the first), the same for uids and
/// gids; the runtime shows the image's files through an idmapped mount, owned by the container's ids.
pub const POD_USERNS_SIZE: u32 = 65536;

/// The user namespace of a pod with `hostUsers: false`, on the first range the kubelet may pick
/// (container ids 0-65535 on host ids 65536-131071): the real one is the kubelet's choice.
pub fn pod_user_namespace() -> crate::exec::UserNs {
    crate::exec::UserNs::mapping(&[crate::exec::IdRange {
        inside: 0,
        outside: POD_USERNS_SIZE,
        count: POD_USERNS_SIZE,
    }])
}

impl PodContainer {
    /// `Deployment/web/app`: unique within a manifest unless the manifest repeats a workload.
    pub fn qualified(&self) -> String {
        format!("{}/{}", self.workload, self.name)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Object {
    kind: Option<String>,
    metadata: Meta,
    spec: Option<Box<Spec>>,
    template: Option<Box<Template>>,
    items: Vec<Object>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Meta {
    name: Option<String>,
}

/// A pod spec and a workload spec in one: each kind fills the fields it has.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Spec {
    containers: Vec<ContainerDoc>,
    init_containers: Vec<ContainerDoc>,
    security_context: SecurityContext,
    template: Option<Box<Template>>,
    job_template: Option<Box<Template>>,
    host_users: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Template {
    spec: Option<Box<Spec>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ContainerDoc {
    name: String,
    security_context: SecurityContext,
}

/// Every container (init containers too) of every Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
/// ReplicationController, Job, CronJob or PodTemplate in the manifest, and `List` items. Other kinds are
/// skipped; a manifest with no container is an error.
pub fn parse(text: &str) -> Result<Vec<PodContainer>, String> {
    if text.len() > MAX_BYTES {
        return Err(format!("larger than {MAX_BYTES} bytes"));
    }
    // Checked first: libyaml reads deep nesting in quadratic time (see yaml_depth).
    crate::yaml_depth::check(text, MAX_DEPTH).map_err(|at| {
        format!(
            "nesting deeper than {MAX_DEPTH} levels at line {} column {}",
            at.line, at.column
        )
    })?;
    let mut found = Vec::new();
    for (i, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        if i >= MAX_DOCUMENTS {
            return Err(format!("more than {MAX_DOCUMENTS} documents"));
        }
        let value = serde_norway::Value::deserialize(document)
            .map_err(|e| format!("document {}: {e}", i + 1))?;
        if value.is_null() {
            continue; // an empty document, as after a trailing `---`
        }
        let object: Object =
            serde_norway::from_value(value).map_err(|e| format!("document {}: {e}", i + 1))?;
        collect(&object, 0, &mut found);
    }
    if found.is_empty() {
        return Err("no Pod or workload with containers (Pod, Deployment, StatefulSet, DaemonSet, Job, CronJob)".into());
    }
    Ok(found)
}

fn template_spec(t: Option<&Template>) -> Option<&Spec> {
    t.and_then(|t| t.spec.as_deref())
}

fn collect(object: &Object, depth: u32, found: &mut Vec<PodContainer>) {
    let kind = object.kind.as_deref().unwrap_or("");
    if kind == "List" && depth == 0 {
        for item in &object.items {
            collect(item, depth + 1, found);
        }
        return;
    }
    let spec = object.spec.as_deref();
    let pod = match kind {
        "Pod" => spec,
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => template_spec(spec.and_then(|s| s.template.as_deref())),
        "CronJob" => template_spec(
            template_spec(spec.and_then(|s| s.job_template.as_deref()))
                .and_then(|job| job.template.as_deref()),
        ),
        "PodTemplate" => template_spec(object.template.as_deref()),
        _ => None,
    };
    let Some(pod) = pod else { return };
    let workload = format!("{kind}/{}", object.metadata.name.as_deref().unwrap_or("-"));
    let containers = pod
        .init_containers
        .iter()
        .map(|c| (c, true))
        .chain(pod.containers.iter().map(|c| (c, false)));
    for (container, init) in containers {
        found.push(PodContainer {
            workload: workload.clone(),
            name: container.name.clone(),
            init,
            pod: pod.security_context.clone(),
            container: container.security_context.clone(),
            host_users: pod.host_users.unwrap_or(true),
        });
    }
}

/// The container `name` picks (a container's name, or `KIND/WORKLOAD/NAME` when names repeat), or the
/// only one; otherwise an error listing them.
pub fn select<'a>(
    containers: &'a [PodContainer],
    name: Option<&str>,
) -> Result<&'a PodContainer, String> {
    let names = || {
        containers
            .iter()
            .map(|c| {
                if c.init {
                    format!("{} (init)", c.qualified())
                } else {
                    c.qualified()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let matching: Vec<&PodContainer> = match name {
        None => containers.iter().collect(),
        Some(name) => containers
            .iter()
            .filter(|c| c.name == name || c.qualified() == name)
            .collect(),
    };
    match (matching.as_slice(), name) {
        ([one], _) => Ok(one),
        ([], Some(name)) => Err(format!(
            "no container '{name}'; the manifest has {}",
            names()
        )),
        (_, Some(name)) => Err(format!(
            "more than one container '{name}': name one as KIND/WORKLOAD/NAME: {}",
            names()
        )),
        (_, None) => Err(format!(
            "{} containers: choose one with --container: {}",
            containers.len(),
            names()
        )),
    }
}

/// The OCI process state and what the prediction assumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Translation {
    pub process: OciProcess,
    /// Whether the manifest names the user (else the image's USER decides), and whether the group is
    /// known: named by the manifest, or read from the image's /etc/passwd.
    pub uid_given: bool,
    pub gid_given: bool,
    pub notes: Vec<String>,
}

fn id(value: i64, what: &str) -> Result<u32, Error> {
    // The API server accepts 0 ..= 2^31-1 for user and group ids.
    u32::try_from(value)
        .ok()
        .filter(|v| *v <= i32::MAX as u32)
        .ok_or_else(|| Error::Manifest(format!("{what} {value} is out of range (0 to 2147483647)")))
}

/// A capability name as the runtime turns it into an OCI name, and the capability that name is.
/// containerd prefixes `CAP_` to whatever is given, upper-cased; cri-o only when it is missing, and keeps
/// a name that has it as it is (runtime-tools upper-cases it when it writes it into the config).
fn oci_name(runtime: Runtime, name: &str) -> (String, Option<Cap>) {
    let oci = match runtime {
        Runtime::Containerd => format!("CAP_{}", name.to_ascii_uppercase()),
        Runtime::CriO if name.to_ascii_lowercase().starts_with("cap_") => name.to_string(),
        Runtime::CriO => format!("CAP_{}", name.to_ascii_uppercase()),
    };
    let cap = Cap::from_libcap_name(&oci.to_ascii_uppercase());
    (oci, cap)
}

/// The capability list (bounding = permitted = effective) the runtime builds from add and drop. `all` is
/// what `ALL` in add gives; `known` the capabilities runc knows by name (the kernel's).
fn cap_list(
    runtime: Runtime,
    caps: &Capabilities,
    all: CapSet,
    known: CapSet,
    notes: &mut Vec<String>,
) -> Result<CapSet, Error> {
    let is_all = |s: &String| s.eq_ignore_ascii_case("all");
    let add_all = caps.add.iter().any(is_all);
    let drop_all = caps.drop.iter().any(is_all);
    let mut set = runtime.default_caps();
    if add_all {
        set = all;
    }
    if drop_all {
        set = CapSet::EMPTY;
    }
    let crio_refuses = "cri-o refuses to create the container (CreateContainer fails)";
    for (names, adding) in [(&caps.add, true), (&caps.drop, false)] {
        for name in names.iter().filter(|n| !is_all(n)) {
            let (oci, cap) = oci_name(runtime, name);
            match (cap, runtime) {
                (Some(cap), _) if known.contains(cap) => {
                    set = if adding { set.with(cap) } else { set.without(cap) };
                }
                // cri-o checks an added name against the kernel's capabilities.
                (_, Runtime::CriO) if adding => {
                    return Err(refused(
                        "cri-o",
                        format!("unknown capability \"{oci}\" to add"),
                        crio_refuses,
                    ))
                }
                // A dropped one only against runtime-tools' list of names (DropProcessCapabilityBounding).
                (None, Runtime::CriO) => {
                    let upper = oci.to_ascii_uppercase();
                    return Err(refused(
                        "cri-o",
                        format!("failed to drop cap {upper} invalid capability: {upper}"),
                        crio_refuses,
                    ));
                }
                (Some(_), Runtime::CriO) => {}
                _ => notes.push(format!(
                    "{} '{name}': {} names it {oci}, which runc does not know: it skips it with a warning, \
                     so the {} has no effect",
                    if adding { "add" } else { "drop" },
                    runtime.name(),
                    if adding { "add" } else { "drop" },
                )),
            }
        }
    }
    Ok(set)
}

/// The user, the primary group and the additional gids as the runtime sets them, with notes on what the
/// image decides.
struct Ids {
    uid: u32,
    gid: u32,
    additional: Vec<u32>,
}

fn user_and_groups(
    container: &PodContainer,
    node: &Node,
    notes: &mut Vec<String>,
) -> Result<Ids, Error> {
    let (pod, ctr) = (&container.pod, &container.container);
    let run_as_user = ctr.run_as_user.or(pod.run_as_user);
    let run_as_group = ctr.run_as_group.or(pod.run_as_group);
    // What the kubelet sends: runAsUser, else the image's uid or user name (RunAsUsername).
    let (mut uid, username) = match (run_as_user, &node.image_user) {
        (Some(v), _) => (id(v, "runAsUser")?, None),
        (None, Some(ImageUser::Uid(uid))) => (*uid, None),
        (None, Some(ImageUser::Name(name))) => (0, Some(*name)),
        (None, None) => (0, None),
    };
    let mut supplemental = Vec::new();
    for g in pod.supplemental_groups.iter().flatten() {
        supplemental.push(id(*g, "supplementalGroups")?);
    }
    if let Some(fs_group) = pod.fs_group {
        // The kubelet adds fsGroup to every container's supplementary groups.
        supplemental.push(id(fs_group, "fsGroup")?);
    }
    let strict = pod.supplemental_groups_policy.as_deref() == Some("Strict");
    if strict && node.containerd_before(ContainerdVersion::V2_0) {
        return Err(refused(
            "kubelet",
            "SupplementalGroupsPolicyNotSupported",
            "the kubelet rejects a pod with supplementalGroupsPolicy: Strict on a runtime that does not \
             announce it; containerd has it from 2.0",
        ));
    }
    let given_gid = run_as_group.map(|g| id(g, "runAsGroup")).transpose()?;
    if let (Some(name), None) = (username, node.accounts) {
        return Err(Error::Manifest(format!(
            "the image's USER is the name '{name}', which only the image's /etc/passwd resolves: give the \
             image with --rootfs"
        )));
    }
    let (gid, additional) = match node.runtime {
        Runtime::Containerd => {
            // WithUser("UID[:GID]"), then WithAdditionalGIDs("UID"): the image's passwd entry for the uid
            // gives the gid when runAsGroup does not, its name the groups that list it. A user name
            // (RunAsUsername) is WithUser("NAME[:GID]") and WithAdditionalGIDs("NAME").
            let image = match (node.accounts, username) {
                (Some(accounts), Some(name)) => {
                    let found = containerd_user_named(name, accounts)?;
                    uid = found.uid;
                    Some(found)
                }
                (Some(accounts), None) => {
                    let found = exec_user(&uid.to_string(), accounts).map_err(|e| {
                        refused(
                            "containerd",
                            e,
                            "containerd cannot read the image's /etc/passwd or /etc/group: \
                             CreateContainer fails",
                        )
                    })?;
                    Some(found)
                }
                (None, _) => None,
            };
            let gid = given_gid.unwrap_or(image.as_ref().map_or(0, |u| u.gid));
            let mut additional = vec![gid];
            if !strict {
                // WithAdditionalGIDs: the groups listing the passwd entry's name, not one named like it.
                if let (Some(name), Some(accounts)) = (
                    image.as_ref().and_then(|u| u.name.as_deref()),
                    node.accounts,
                ) {
                    let groups = crate::image_user::containerd_groups(name, accounts.group)
                        .map_err(|e| {
                            refused(
                                "containerd",
                                e,
                                "containerd cannot read the image's /etc/group: CreateContainer fails",
                            )
                        })?;
                    additional.extend(groups);
                }
                if node.accounts.is_none() {
                    notes.push(
                        "containerd also adds the groups the image's /etc/group lists the user in \
                         (supplementalGroupsPolicy Merge, the default), which a manifest does not show: give \
                         the image with --rootfs"
                            .into(),
                    );
                }
            }
            additional.extend(supplemental);
            (gid, additional)
        }
        Runtime::CriO => {
            if !strict {
                notes.push(
                    "the runtime also adds the groups the image's /etc/group gives the user \
                     (supplementalGroupsPolicy Merge, the default), which a manifest does not show"
                        .into(),
                );
            }
            // GetUserInfo: a user name is resolved in the image's /etc/passwd by runc's rules.
            let mut gid = 0;
            if let (Some(name), Some(accounts)) = (username, node.accounts) {
                let found = exec_user(name, accounts).map_err(|e| {
                    refused(
                        "cri-o",
                        e,
                        "cri-o cannot resolve the image's user: CreateContainer fails",
                    )
                })?;
                uid = found.uid;
                gid = found.gid;
            }
            (given_gid.unwrap_or(gid), supplemental)
        }
    };
    let mut additional = additional;
    additional.sort_unstable();
    additional.dedup();
    Ok(Ids {
        uid,
        gid,
        additional,
    })
}

/// containerd's `WithUser("NAME")` for a user name (RunAsUsername): the first passwd entry of that name,
/// or CreateContainer fails.
fn containerd_user_named(name: &str, accounts: Accounts) -> Result<ExecUser, Error> {
    let (uid, gid) = crate::image_user::passwd_user_named(name, accounts.passwd).map_err(|e| {
        refused(
            "containerd",
            e,
            "containerd finds no user of that name in the image's /etc/passwd: CreateContainer fails",
        )
    })?;
    Ok(ExecUser {
        uid,
        gid,
        sgids: Vec::new(),
        name: Some(name.as_bytes().to_vec()),
    })
}

/// The kubelet's verifyRunAsNonRoot, before it asks the runtime for anything: runAsUser 0, an image whose
/// USER is root, or one whose USER is a name (which it cannot check) is refused, in its words.
fn kubelet_non_root(
    run_as_user: Option<i64>,
    image_user: Option<ImageUser>,
    notes: &mut Vec<String>,
) -> Result<(), Error> {
    let why =
        "runAsNonRoot is true and the user is root: the kubelet refuses to start the container";
    match (run_as_user, image_user) {
        (Some(0), _) => Err(refused(
            "kubelet",
            "container's runAsUser breaks non-root policy",
            why,
        )),
        (Some(_), _) => Ok(()),
        (None, Some(ImageUser::Uid(0))) => Err(refused(
            "kubelet",
            "container has runAsNonRoot and image will run as root",
            why,
        )),
        (None, Some(ImageUser::Name(name))) => Err(refused(
            "kubelet",
            format!(
                "container has runAsNonRoot and image has non-numeric user ({name}), cannot verify user \
                 is non-root"
            ),
            "runAsNonRoot is true and the image's USER is a name: the kubelet cannot tell its uid and \
             refuses to start the container",
        )),
        (None, Some(ImageUser::Uid(_))) => Ok(()),
        (None, None) => {
            notes.push(
                "runAsNonRoot is true and runAsUser is not set: the kubelet starts the container only if \
                 the image's USER is a non-zero number, which the manifest does not say; give it with \
                 --image-user"
                    .into(),
            );
            Ok(())
        }
    }
}

/// What `runtime` puts in the OCI config for `container`, assuming a runtime that holds every capability
/// and an image not at hand (`image_uid` its USER when the caller knows it); a refusal is an error.
pub fn translate(
    container: &PodContainer,
    runtime: Runtime,
    known: u32,
    image_uid: Option<u32>,
) -> Result<Translation, String> {
    translate_on(container, &Node::assumed(runtime, known, image_uid)).map_err(|e| e.to_string())
}

/// What the node's runtime puts in the OCI config for `container`, or why the API server, the kubelet or
/// the runtime refuses it.
pub fn translate_on(container: &PodContainer, node: &Node) -> Result<Translation, Error> {
    let (pod, ctr) = (&container.pod, &container.container);
    let runtime = node.runtime;
    let mut notes = Vec::new();
    let known = CapSet::first_n(node.known);
    let privileged = ctr.privileged == Some(true);
    let no_new_privileges = ctr.allow_privilege_escalation == Some(false);
    let api_server = "the API server rejects the pod";
    if no_new_privileges && privileged {
        return Err(refused(
            "kube-apiserver",
            "allowPrivilegeEscalation: false with privileged: true",
            api_server,
        ));
    }
    let caps = ctr.capabilities.clone().unwrap_or_default();
    if no_new_privileges
        && caps
            .add
            .iter()
            .any(|c| oci_name(runtime, c).1 == Some(Cap::SYS_ADMIN))
    {
        return Err(refused(
            "kube-apiserver",
            "allowPrivilegeEscalation: false with CAP_SYS_ADMIN added",
            api_server,
        ));
    }
    if !container.host_users && node.containerd_before(ContainerdVersion::V2_0) {
        return Err(refused(
            "kubelet",
            "hostUsers: false needs user namespace support in the runtime",
            "the kubelet rejects the pod: containerd supports user namespaces for pods from 2.0",
        ));
    }

    let run_as_user = ctr.run_as_user.or(pod.run_as_user);
    let run_as_group = ctr.run_as_group.or(pod.run_as_group);
    if ctr.run_as_non_root.or(pod.run_as_non_root) == Some(true) {
        kubelet_non_root(run_as_user, node.image_user, &mut notes)?;
    }
    let ids = user_and_groups(container, node, &mut notes)?;

    // containerd's ALL and privileged are its own effective set; cri-o's every capability the kernel
    // knows (getOCICapabilitiesList; runtime-tools SetupPrivileged).
    let all = match runtime {
        Runtime::Containerd => node.runtime_caps & known,
        Runtime::CriO => known,
    };
    let (bounding, inheritable, ambient) = if privileged {
        match runtime {
            Runtime::Containerd => (all, CapSet::EMPTY, CapSet::EMPTY),
            Runtime::CriO => (all, all, all),
        }
    } else {
        (
            cap_list(runtime, &caps, all, known, &mut notes)?,
            CapSet::EMPTY,
            CapSet::EMPTY,
        )
    };
    let process = OciProcess {
        uid: ids.uid,
        gid: ids.gid,
        additional_gids: ids.additional,
        bounding,
        effective: bounding,
        permitted: bounding,
        inheritable,
        ambient,
        no_new_privileges,
    };
    trap_notes(
        &process,
        runtime,
        privileged,
        !caps.drop.is_empty(),
        &mut notes,
    );
    Ok(Translation {
        process,
        uid_given: run_as_user.is_some(),
        gid_given: run_as_group.is_some()
            || (node.accounts.is_some() && runtime == Runtime::Containerd),
        notes,
    })
}

/// The traps people hit, in words, for the state at hand.
fn trap_notes(
    process: &OciProcess,
    runtime: Runtime,
    privileged: bool,
    dropped: bool,
    notes: &mut Vec<String>,
) {
    if process.uid != 0 && !process.bounding.is_empty() && process.ambient.is_empty() {
        notes.push(format!(
            "uid {} is not root: {} puts the container's capabilities in its bounding set (and in permitted and \
             effective before the exec), but Kubernetes sets no ambient capabilities, so executing a plain \
             binary leaves it none of them; only a file with capabilities within the bounding set gains any",
            process.uid,
            runtime.name()
        ));
    }
    if privileged && runtime == Runtime::CriO && process.uid != 0 {
        notes.push(
            "cri-o gives a privileged container every capability in all five sets, ambient too, so even a \
             non-root plain binary keeps them all"
                .into(),
        );
    }
    if process.no_new_privileges {
        notes.push(
            "allowPrivilegeEscalation: false sets no_new_privs: an exec gains nothing beyond the permitted set \
             the process starts with; set-uid and set-gid bits are ignored and file capabilities are cut to \
             that set"
                .into(),
        );
    }
    if dropped {
        notes.push(
            "capabilities dropped from the bounding set: a file whose capabilities have the effective bit and \
             include one outside the bounding set fails to execute with EPERM (\"exec: operation not \
             permitted\")"
                .into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::{self, After, Caller, Creds, FileState, Kernel, KernelRules};
    use crate::xattr::{Errno, FileCaps};
    use crate::{CapState, Ids};

    const KNOWN: u32 = 41;

    fn one(yaml: &str) -> PodContainer {
        let all = parse(yaml).expect("parse");
        select(&all, None).expect("one container").clone()
    }

    fn pod(security: &str) -> PodContainer {
        one(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: app\n    image: x\n    securityContext: {security}\n"
        ))
    }

    #[test]
    fn host_users_false_is_read_from_the_pod_spec() {
        assert!(pod("{}").host_users);
        let c = one(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostUsers: false\n  containers:\n  - name: app\n",
        );
        assert!(!c.host_users);
    }

    fn caps(names: &[Cap]) -> CapSet {
        CapSet::from_caps(names.iter().copied())
    }

    /// The caller state capsim builds from the OCI process, as runc sets it up.
    fn caller(p: &OciProcess) -> Caller {
        Caller {
            creds: Creds {
                uid: Ids::all(p.uid),
                gid: Ids::all(p.gid),
                groups: p.additional_gids.clone(),
                inheritable: p.inheritable,
                permitted: p.permitted,
                effective: p.effective,
                bounding: p.bounding,
                ambient: p.ambient,
                securebits: Default::default(),
                no_new_privs: p.no_new_privileges,
            },
            ..Caller::default()
        }
    }

    fn run(p: &OciProcess, file_caps: Option<&str>) -> exec::Simulation {
        let mut file = FileState::default();
        if let Some(text) = file_caps {
            let state = CapState::from_text(text, KNOWN).expect("file caps");
            file.xattr = Some(FileCaps::from_state(state, None).expect("caps").encode());
        }
        let kernel = Kernel {
            rules: KernelRules::Current,
            known_caps: KNOWN,
        };
        exec::simulate(&caller(p), &file, kernel)
    }

    fn after(sim: exec::Simulation) -> Creds {
        let After { creds, .. } = sim.result.expect("exec succeeds");
        creds
    }

    #[test]
    fn drop_all_and_an_ep_binary_is_eperm() {
        for runtime in [Runtime::Containerd, Runtime::CriO] {
            let t = translate(&pod("{capabilities: {drop: [ALL]}}"), runtime, KNOWN, None).unwrap();
            assert!(t.process.bounding.is_empty());
            let sim = run(&t.process, Some("cap_net_bind_service+ep"));
            assert_eq!(
                sim.result.map_err(|e| e.errno),
                Err(Errno::Eperm),
                "{runtime:?}"
            );
            assert!(t.notes.iter().any(|n| n.contains("EPERM")));
        }
    }

    #[test]
    fn root_drop_all_add_net_bind_service() {
        for runtime in [Runtime::Containerd, Runtime::CriO] {
            let t = translate(
                &pod("{capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}}"),
                runtime,
                KNOWN,
                None,
            )
            .unwrap();
            let only = caps(&[Cap::NET_BIND_SERVICE]);
            assert_eq!(
                (t.process.bounding, t.process.permitted, t.process.effective),
                (only, only, only)
            );
            assert_eq!(t.process.inheritable | t.process.ambient, CapSet::EMPTY);
            assert!(!t.uid_given && t.process.uid == 0);
            // Root executing a plain binary keeps it; the +ep binary starts.
            assert_eq!(after(run(&t.process, None)).permitted, only);
            assert!(run(&t.process, Some("cap_net_bind_service+ep"))
                .result
                .is_ok());
        }
    }

    #[test]
    fn non_root_with_add_holds_it_in_bounding_only_after_exec() {
        for runtime in [Runtime::Containerd, Runtime::CriO] {
            let t = translate(
                &pod("{runAsUser: 1000, capabilities: {add: [NET_ADMIN]}}"),
                runtime,
                KNOWN,
                None,
            )
            .unwrap();
            let p = &t.process;
            assert!(p.bounding.contains(Cap::NET_ADMIN));
            // Both runtimes' sources fill permitted and effective whatever the user.
            assert_eq!((p.permitted, p.effective), (p.bounding, p.bounding));
            assert_eq!(p.ambient, CapSet::EMPTY);
            let plain = after(run(p, None));
            assert_eq!(plain.permitted | plain.effective, CapSet::EMPTY);
            assert!(plain.bounding.contains(Cap::NET_ADMIN));
            assert!(t.notes.iter().any(|n| n.contains("no ambient")));
            // A file capability within the bounding set works.
            let file = after(run(p, Some("cap_net_admin+ep")));
            assert_eq!(file.effective, caps(&[Cap::NET_ADMIN]));
        }
    }

    #[test]
    fn allow_privilege_escalation_false_is_no_new_privs() {
        let t = translate(
            &pod("{runAsUser: 1000, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}"),
            Runtime::Containerd,
            KNOWN,
            None,
        )
        .unwrap();
        assert!(t.process.no_new_privileges);
        // A set-uid-root file gains nothing.
        let file = FileState {
            mode: 0o4755,
            ..FileState::default()
        };
        let sim = exec::simulate(
            &caller(&t.process),
            &file,
            Kernel {
                rules: KernelRules::Current,
                known_caps: KNOWN,
            },
        );
        assert_eq!(after(sim).uid.effective, 1000);
        let unset = translate(&pod("{}"), Runtime::Containerd, KNOWN, None).unwrap();
        assert!(!unset.process.no_new_privileges);
        assert!(translate(
            &pod("{privileged: true, allowPrivilegeEscalation: false}"),
            Runtime::CriO,
            KNOWN,
            None
        )
        .is_err());
    }

    #[test]
    fn privileged_gets_everything() {
        let t = translate(
            &pod("{privileged: true, runAsUser: 1000}"),
            Runtime::Containerd,
            KNOWN,
            None,
        )
        .unwrap();
        let every = CapSet::first_n(KNOWN);
        assert_eq!((t.process.bounding, t.process.permitted), (every, every));
        assert_eq!(t.process.ambient, CapSet::EMPTY);
        let t = translate(
            &pod("{privileged: true, runAsUser: 1000}"),
            Runtime::CriO,
            KNOWN,
            None,
        )
        .unwrap();
        assert_eq!((t.process.inheritable, t.process.ambient), (every, every));
        // cri-o's ambient set survives a non-root exec of a plain binary.
        assert_eq!(after(run(&t.process, None)).permitted, every);
    }

    #[test]
    fn defaults_differ_by_runtime() {
        let c = translate(&pod("{}"), Runtime::Containerd, KNOWN, None).unwrap();
        assert_eq!(c.process.bounding.len(), 14);
        let o = translate(&pod("{}"), Runtime::CriO, KNOWN, None).unwrap();
        assert_eq!(o.process.bounding.len(), 9);
        assert!(!o.process.bounding.contains(Cap::NET_RAW));
        let t = translate(
            &pod("{capabilities: {add: [ALL], drop: [net_raw]}}"),
            Runtime::CriO,
            KNOWN,
            None,
        )
        .unwrap();
        assert_eq!(
            t.process.bounding,
            CapSet::first_n(KNOWN).without(Cap::NET_RAW)
        );
    }

    #[test]
    fn cap_prefix_per_runtime() {
        let manifest = pod("{capabilities: {add: [CAP_NET_ADMIN], drop: [cap_net_raw]}}");
        let o = translate(&manifest, Runtime::CriO, KNOWN, None).unwrap();
        assert!(o.process.bounding.contains(Cap::NET_ADMIN));
        // containerd makes CAP_CAP_NET_ADMIN, which runc skips.
        let c = translate(&manifest, Runtime::Containerd, KNOWN, None).unwrap();
        assert!(!c.process.bounding.contains(Cap::NET_ADMIN));
        assert!(c.process.bounding.contains(Cap::NET_RAW));
        assert!(c.notes.iter().any(|n| n.contains("CAP_CAP_NET_ADMIN")));
        assert!(translate(
            &pod("{capabilities: {add: [BOGUS]}}"),
            Runtime::CriO,
            KNOWN,
            None
        )
        .is_err());
    }

    #[test]
    fn users_and_groups_container_level_wins() {
        let all = parse(
            "kind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      securityContext: \
             {runAsUser: 1000, runAsGroup: 3000, supplementalGroups: [4000], fsGroup: 2000}\n      \
             containers:\n      - name: a\n        securityContext: {runAsUser: 1001}\n      - name: b\n",
        )
        .unwrap();
        let a = translate(
            select(&all, Some("a")).unwrap(),
            Runtime::Containerd,
            KNOWN,
            None,
        )
        .unwrap();
        assert_eq!((a.process.uid, a.process.gid), (1001, 3000));
        // containerd puts the primary gid among them.
        assert_eq!(a.process.additional_gids, [2000, 3000, 4000]);
        let b = translate(
            select(&all, Some("Deployment/web/b")).unwrap(),
            Runtime::Containerd,
            KNOWN,
            None,
        )
        .unwrap();
        assert_eq!(b.process.uid, 1000);
        assert!(select(&all, None)
            .unwrap_err()
            .contains("Deployment/web/a, Deployment/web/b"));
        assert!(select(&all, Some("c")).is_err());
        assert!(translate(&pod("{runAsUser: -1}"), Runtime::CriO, KNOWN, None).is_err());
        assert!(translate(
            &pod("{runAsNonRoot: true, runAsUser: 0}"),
            Runtime::CriO,
            KNOWN,
            None
        )
        .is_err());
        let t = translate(&pod("{runAsNonRoot: true}"), Runtime::CriO, KNOWN, Some(7)).unwrap();
        assert_eq!(t.process.uid, 7);
    }

    const PASSWD: &[u8] =
        b"root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/:/bin/sh\nbob:x:1001:50::/:/bin/sh\n";
    const GROUP: &[u8] = b"root:x:0:\nwheel:x:10:root,alice\nstaff:x:50:alice,bob\nalice:x:1000:\n";

    fn node(accounts: bool) -> Node<'static> {
        Node {
            accounts: accounts.then_some(Accounts {
                passwd: Some(PASSWD),
                group: Some(GROUP),
            }),
            containerd: Some(ContainerdVersion::OLDEST),
            ..Node::assumed(Runtime::Containerd, KNOWN, None)
        }
    }

    fn ids_of(t: &Translation) -> (u32, u32, Vec<u32>) {
        (
            t.process.uid,
            t.process.gid,
            t.process.additional_gids.clone(),
        )
    }

    /// containerd 1.6.20 as tests/capsim_cri.rs saw it: the passwd gid without runAsGroup, the image's
    /// groups for the uid whatever runAsGroup says, the primary gid always among the additional gids.
    #[test]
    fn containerd_groups_come_from_the_image() {
        let on = |security: &str| translate_on(&pod(security), &node(true)).unwrap();
        assert_eq!(
            ids_of(&on("{runAsUser: 1000}")),
            (1000, 1000, vec![10, 50, 1000])
        );
        assert_eq!(
            ids_of(&on("{runAsUser: 1000, runAsGroup: 7}")),
            (1000, 7, vec![7, 10, 50])
        );
        assert_eq!(ids_of(&on("{runAsUser: 1001}")), (1001, 50, vec![50]));
        // Not in /etc/passwd: gid 0 and no image group.
        assert_eq!(ids_of(&on("{runAsUser: 4242}")), (4242, 0, vec![0]));
        // No runAsUser: the kubelet sends the image's uid, 0 here; root's groups.
        assert_eq!(ids_of(&on("{}")), (0, 0, vec![0, 10]));
        let t = translate_on(
            &one("kind: Pod\nspec:\n  securityContext: {runAsUser: 1001, supplementalGroups: [5, 50], fsGroup: 2000}\n  containers: [{name: c}]\n"),
            &node(true),
        )
        .unwrap();
        assert_eq!(ids_of(&t), (1001, 50, vec![5, 50, 2000]));
        assert!(t.gid_given);
        // Without the image: the primary gid and the manifest's groups, and a note.
        let t = translate_on(&pod("{runAsUser: 1000}"), &node(false)).unwrap();
        assert_eq!(ids_of(&t), (1000, 0, vec![0]));
        assert!(!t.gid_given && t.notes.iter().any(|n| n.contains("--rootfs")));
    }

    #[test]
    fn containerd_all_and_privileged_are_its_own_caps() {
        let held = CapSet::first_n(KNOWN).without(Cap::SYS_RESOURCE);
        let node = Node {
            runtime_caps: held,
            ..node(true)
        };
        let t = translate_on(&pod("{privileged: true}"), &node).unwrap();
        assert_eq!(t.process.bounding, held);
        let t = translate_on(&pod("{capabilities: {add: [all], drop: [bogus]}}"), &node).unwrap();
        assert_eq!(t.process.bounding, held);
        // A name outside what containerd holds goes into the config all the same (runc refuses it).
        let t = translate_on(&pod("{capabilities: {add: [SYS_RESOURCE]}}"), &node).unwrap();
        assert!(t.process.bounding.contains(Cap::SYS_RESOURCE));
        let start = crate::oci::RuntimeStart {
            bounding: held,
            inheritable: CapSet::EMPTY,
        };
        let refusal = crate::oci::apply(&t.process.to_oci(), &start).unwrap_err();
        assert_eq!(
            refusal.message,
            "unable to apply caps: operation not permitted"
        );
    }

    #[test]
    fn refusals_by_release_and_by_kubelet() {
        let refused_by = |yaml: &str, node: &Node| match translate_on(&one(yaml), node) {
            Err(Error::Refused(r)) => r.message,
            other => panic!("{other:?}"),
        };
        let strict = "kind: Pod\nspec:\n  securityContext: {supplementalGroupsPolicy: Strict, runAsUser: 1000}\n  containers: [{name: c}]\n";
        assert_eq!(
            refused_by(strict, &node(true)),
            "SupplementalGroupsPolicyNotSupported"
        );
        // containerd 2.x: Strict leaves the image's groups out, the primary gid stays.
        let newest = Node {
            containerd: None,
            ..node(true)
        };
        let t = translate_on(&one(strict), &newest).unwrap();
        assert_eq!(ids_of(&t), (1000, 1000, vec![1000]));
        let userns = "kind: Pod\nspec:\n  hostUsers: false\n  containers: [{name: c}]\n";
        assert!(refused_by(userns, &node(true)).contains("user namespace"));
        assert!(translate_on(&one(userns), &newest).is_ok());
        let non_root =
            "kind: Pod\nspec:\n  containers: [{name: c, securityContext: {runAsNonRoot: true}}]\n";
        // With the image at hand its USER is known (root here): the kubelet refuses.
        let image_root = Node {
            image_user: Some(ImageUser::Uid(0)),
            ..node(true)
        };
        assert_eq!(
            refused_by(non_root, &image_root),
            "container has runAsNonRoot and image will run as root"
        );
        let explicit = "kind: Pod\nspec:\n  containers: [{name: c, securityContext: {runAsNonRoot: true, runAsUser: 0}}]\n";
        assert_eq!(
            refused_by(explicit, &image_root),
            "container's runAsUser breaks non-root policy"
        );
        // An image USER that is a name: the kubelet cannot check it, and containerd resolves it.
        let named = |name| Node {
            image_user: Some(ImageUser::Name(name)),
            ..node(true)
        };
        assert_eq!(
            refused_by(non_root, &named("alice")),
            "container has runAsNonRoot and image has non-numeric user (alice), cannot verify user is non-root"
        );
        let plain = "kind: Pod\nspec:\n  containers: [{name: c}]\n";
        let t = translate_on(&one(plain), &named("bob")).unwrap();
        assert_eq!(ids_of(&t), (1001, 50, vec![50]));
        let t = translate_on(&one(plain), &named("alice")).unwrap();
        assert_eq!(ids_of(&t), (1000, 1000, vec![10, 50, 1000]));
        // runAsGroup wins over the passwd gid; runAsUser over the image's USER.
        let grouped =
            "kind: Pod\nspec:\n  containers: [{name: c, securityContext: {runAsGroup: 7}}]\n";
        let t = translate_on(&one(grouped), &named("bob")).unwrap();
        assert_eq!(ids_of(&t), (1001, 7, vec![7, 50]));
        let t = translate_on(&one(explicit.replace("0}", "4}").as_str()), &named("x")).unwrap();
        assert_eq!(t.process.uid, 4);
        assert_eq!(refused_by(plain, &named("nosuch")), "no users found");
        // Without the image a name cannot be resolved at all.
        let unresolved = Node {
            accounts: None,
            ..named("bob")
        };
        assert!(matches!(
            translate_on(&one(plain), &unresolved),
            Err(Error::Manifest(_))
        ));
        assert_eq!(
            ImageUser::parse("carol:wheel"),
            Ok(Some(ImageUser::Name("carol")))
        );
        assert_eq!(ImageUser::parse("1000:50"), Ok(Some(ImageUser::Uid(1000))));
        assert_eq!(ImageUser::parse(":50"), Ok(None));
        assert!(ImageUser::parse("-1").is_err());
        assert_eq!(
            ContainerdVersion::parse("1.6.20"),
            Ok(ContainerdVersion::OLDEST)
        );
        assert!(ContainerdVersion::parse("1.5").is_err());
        assert!(ContainerdVersion::parse("two").is_err());
    }

    /// cri-o checks a dropped name against runtime-tools' list (DropProcessCapabilityBounding) and
    /// refuses the container for an unknown one, as it does for an added one.
    #[test]
    fn crio_refuses_unknown_names_added_or_dropped() {
        let crio = Node::assumed(Runtime::CriO, KNOWN, None);
        let refusal = |security: &str| match translate_on(&pod(security), &crio) {
            Err(Error::Refused(r)) => r.message,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            refusal("{capabilities: {drop: [bogus]}}"),
            "failed to drop cap CAP_BOGUS invalid capability: CAP_BOGUS"
        );
        assert_eq!(
            refusal("{capabilities: {add: [cap_bogus]}}"),
            "unknown capability \"cap_bogus\" to add"
        );
        let t = translate_on(&pod("{capabilities: {drop: [cap_net_raw, KILL]}}"), &crio).unwrap();
        assert!(!t.process.bounding.contains(Cap::KILL));
        // containerd skips both.
        let c = translate_on(
            &pod("{capabilities: {drop: [bogus]}}"),
            &Node::assumed(Runtime::Containerd, KNOWN, None),
        )
        .unwrap();
        assert_eq!(c.process.bounding, Runtime::Containerd.default_caps());
    }

    #[test]
    fn nesting_is_bounded_where_serde_norway_bounds_it() {
        let nested = |levels: usize| {
            format!(
                "kind: Pod\nspec: {{containers: [{{name: x}}]}}\nx: {}{}\n",
                "[".repeat(levels),
                "]".repeat(levels)
            )
        };
        // The document's mapping is the first level.
        assert_eq!(parse(&nested(MAX_DEPTH - 1)).unwrap().len(), 1);
        assert_eq!(
            parse(&nested(MAX_DEPTH)).unwrap_err(),
            "nesting deeper than 128 levels at line 3 column 131"
        );
        // Deep enough to take hours whole (libyaml is quadratic in flow depth): refused at the bound.
        let deep = format!("a: {}", "[".repeat(MAX_BYTES - 3));
        assert!(parse(&deep)
            .unwrap_err()
            .starts_with("nesting deeper than 128 levels"));
    }

    #[test]
    fn every_kind_and_form() {
        let cron = "kind: CronJob\nmetadata: {name: c}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        \
                    spec:\n          initContainers: [{name: init}]\n          containers: [{name: job}]\n";
        let names: Vec<_> = parse(cron)
            .unwrap()
            .iter()
            .map(|c| (c.qualified(), c.init))
            .collect();
        assert_eq!(
            names,
            [
                ("CronJob/c/init".to_string(), true),
                ("CronJob/c/job".to_string(), false)
            ]
        );
        let multi = "kind: Service\nmetadata: {name: s}\n---\nkind: Pod\nspec: {containers: [{name: x}]}\n---\n";
        assert_eq!(parse(multi).unwrap().len(), 1);
        let json = r#"{"kind":"StatefulSet","metadata":{"name":"db"},"spec":{"template":{"spec":{"containers":[{"name":"pg","securityContext":{"runAsUser":999}}]}}}}"#;
        assert_eq!(parse(json).unwrap()[0].container.run_as_user, Some(999));
        assert!(parse("kind: Service\n").is_err());
        assert!(parse(
            "kind: Pod\nspec: {containers: [{name: x, securityContext: {runAsUser: abc}}]}"
        )
        .is_err());
        assert!(parse(&"---\n".repeat(MAX_DOCUMENTS + 1)).is_err());
        // An alias bomb fails instead of expanding.
        let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
        for i in 0..9 {
            bomb.push_str(&format!(
                "b{i}: &b{i} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n",
                p = if i == 0 {
                    "a".to_string()
                } else {
                    format!("b{}", i - 1)
                }
            ));
        }
        assert!(parse(&bomb).is_err());
    }
}
