//! Which container a process runs in, read from its cgroup path alone.
//!
//! Container runtimes name the cgroup they create after the container, so /proc/PID/cgroup tells the
//! container without asking any daemon (which may be remote, slow, or need privileges). The forms known:
//!
//! | runtime          | cgroup path component(s)                                                       |
//! |------------------|--------------------------------------------------------------------------------|
//! | docker           | `docker-<id>.scope` (systemd driver), `/docker/<id>` (cgroupfs driver)         |
//! | containerd       | `cri-containerd-<id>.scope`                                                    |
//! | cri-o            | `crio-<id>.scope`, `/crio/<id>`                                                |
//! | podman           | `libpod-<id>.scope`, `libpod-<id>` (under `libpod_parent`)                     |
//! | systemd-nspawn   | `systemd-nspawn@<name>.service`, `machine-<name>.scope`                         |
//! | lxc              | `lxc.payload.<name>`, `/lxc/<name>`                                            |
//! | kubepods         | `/kubepods/<qos>/pod<uid>/<id>` (cgroupfs driver; the runtime is not named)    |
//!
//! Under Kubernetes the pod's uid is taken from `pod<uid>` or `kubepods-<qos>-pod<uid>.slice` too. Conmon's
//! own scopes (`libpod-conmon-…`, `crio-conmon-…`) are not containers. When containers nest, the innermost
//! one is reported.

use serde::Serialize;

/// A container runtime capkit recognises by its cgroup naming.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Runtime {
    #[serde(rename = "docker")]
    Docker,
    #[serde(rename = "containerd")]
    Containerd,
    #[serde(rename = "cri-o")]
    CriO,
    #[serde(rename = "podman")]
    Podman,
    #[serde(rename = "systemd-nspawn")]
    Nspawn,
    #[serde(rename = "lxc")]
    Lxc,
    /// A Kubernetes container whose runtime the path does not name.
    #[serde(rename = "kubepods")]
    Kubepods,
}

impl Runtime {
    pub const fn name(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
            Runtime::Podman => "podman",
            Runtime::Nspawn => "systemd-nspawn",
            Runtime::Lxc => "lxc",
            Runtime::Kubepods => "kubepods",
        }
    }
}

/// A container found in a cgroup path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Container {
    pub runtime: Runtime,
    /// The container id (hex for OCI runtimes) or machine name (nspawn, lxc).
    pub id: String,
    /// The Kubernetes pod uid, when the path is under `kubepods`.
    pub pod: Option<String>,
}

impl Container {
    /// The short form people use: the first 12 characters of a hex id, a name whole.
    pub fn short_id(&self) -> &str {
        if is_hex_id(&self.id) {
            &self.id[..12]
        } else {
            &self.id
        }
    }

    /// Whether `filter` selects this container: a prefix of its id, or its runtime's name.
    pub fn matches(&self, filter: &str) -> bool {
        self.id.starts_with(filter) || self.runtime.name() == filter
    }
}

/// The container named by one cgroup path (`/system.slice/docker-<id>.scope`), if any.
pub fn from_cgroup_path(path: &str) -> Option<Container> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let mut found = None;
    let mut pod = None;
    for (i, part) in parts.iter().enumerate() {
        let parent = if i > 0 { Some(parts[i - 1]) } else { None };
        if let Some(uid) = pod_uid(part) {
            pod = Some(uid);
            continue;
        }
        if let Some((runtime, id)) = component(part, parent, pod.is_some()) {
            found = Some(Container {
                runtime,
                id,
                pod: pod.clone(),
            });
        }
    }
    found
}

/// The container named by the contents of /proc/PID/cgroup: the unified (`0::`) line first, then the
/// cgroup v1 lines in order.
pub fn from_proc_cgroup(text: &str) -> Option<Container> {
    let paths: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let id = fields.next()?;
            let _controllers = fields.next()?;
            Some((id, fields.next()?))
        })
        .collect();
    let unified = paths.iter().filter(|(id, _)| *id == "0");
    let legacy = paths.iter().filter(|(id, _)| *id != "0");
    unified
        .chain(legacy)
        .find_map(|(_, path)| from_cgroup_path(path))
}

/// The path to show for a process: the unified hierarchy's, else the v1 `name=systemd` one, else the first.
pub fn main_cgroup_path(text: &str) -> Option<&str> {
    let lines: Vec<(&str, &str, &str)> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            Some((fields.next()?, fields.next()?, fields.next()?))
        })
        .collect();
    lines
        .iter()
        .find(|(id, _, _)| *id == "0")
        .or_else(|| lines.iter().find(|(_, ctl, _)| *ctl == "name=systemd"))
        .or_else(|| lines.first())
        .map(|(_, _, path)| *path)
}

fn component(part: &str, parent: Option<&str>, in_pod: bool) -> Option<(Runtime, String)> {
    let scoped = [
        ("cri-containerd-", Runtime::Containerd),
        ("docker-", Runtime::Docker),
        ("crio-", Runtime::CriO),
        ("libpod-", Runtime::Podman),
    ];
    for (prefix, runtime) in scoped {
        if let Some(rest) = part.strip_prefix(prefix) {
            let id = rest.strip_suffix(".scope").unwrap_or(rest);
            if is_hex_id(id) {
                return Some((runtime, id.to_string()));
            }
        }
    }
    if let Some(name) = part
        .strip_prefix("systemd-nspawn@")
        .and_then(|rest| rest.strip_suffix(".service"))
    {
        return Some((Runtime::Nspawn, unescape_unit(name)));
    }
    if let Some(name) = part
        .strip_prefix("machine-")
        .and_then(|rest| rest.strip_suffix(".scope"))
    {
        // libvirt puts virtual machines (machine-qemu…) here too: their processes are not in a container.
        if !name.starts_with("qemu") && !name.is_empty() {
            return Some((Runtime::Nspawn, unescape_unit(name)));
        }
    }
    if let Some(name) = part.strip_prefix("lxc.payload.") {
        return Some((Runtime::Lxc, name.to_string()));
    }
    match parent {
        Some("docker") if is_hex_id(part) => Some((Runtime::Docker, part.to_string())),
        Some("crio") if is_hex_id(part) => Some((Runtime::CriO, part.to_string())),
        Some("lxc") if !part.is_empty() => Some((Runtime::Lxc, part.to_string())),
        Some(_) if in_pod && is_hex_id(part) => Some((Runtime::Kubepods, part.to_string())),
        _ => None,
    }
}

/// `pod<uid>` (cgroupfs driver) or `kubepods-<qos>-pod<uid>.slice` (systemd driver, `_` for `-`).
fn pod_uid(part: &str) -> Option<String> {
    let slice = part
        .strip_prefix("kubepods-")
        .and_then(|rest| rest.strip_suffix(".slice"))
        .and_then(|rest| rest.rsplit('-').next())
        .and_then(|last| last.strip_prefix("pod"));
    let uid = slice.or_else(|| part.strip_prefix("pod"))?;
    let uid = uid.replace('_', "-");
    let looks_like_uid = uid.len() >= 32 && uid.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    looks_like_uid.then_some(uid)
}

/// Container ids are lower-case hex, 64 digits for OCI runtimes; 12 is the shortest anyone prints.
fn is_hex_id(id: &str) -> bool {
    id.len() >= 12
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// systemd escapes `-` and other bytes in unit names as `\xNN`.
fn unescape_unit(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(pos) = rest.find("\\x") {
        out.push_str(&rest[..pos]);
        let hex = rest.get(pos + 2..pos + 4);
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(byte) if byte.is_ascii() => {
                out.push(byte as char);
                rest = &rest[pos + 4..];
            }
            _ => {
                out.push_str("\\x");
                rest = &rest[pos + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ID: &str = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899";
    const POD: &str = "8c1f7ad2-6b8e-4b36-9e3b-0f1c2d3e4f50";

    fn found(path: &str) -> Option<(Runtime, String, Option<String>)> {
        from_cgroup_path(path).map(|c| (c.runtime, c.id, c.pod))
    }

    #[test]
    fn recognises_each_runtime() {
        let id = ID.to_string();
        assert_eq!(
            found(&format!("/system.slice/docker-{ID}.scope")),
            Some((Runtime::Docker, id.clone(), None))
        );
        assert_eq!(
            found(&format!("/docker/{ID}")),
            Some((Runtime::Docker, id.clone(), None))
        );
        assert_eq!(
            found(&format!("/machine.slice/libpod-{ID}.scope/container")),
            Some((Runtime::Podman, id.clone(), None))
        );
        assert_eq!(
            found(&format!("/libpod_parent/libpod-{ID}")),
            Some((Runtime::Podman, id.clone(), None))
        );
        assert_eq!(
            found("/machine.slice/systemd-nspawn@web\\x2d1.service/payload"),
            Some((Runtime::Nspawn, "web-1".to_string(), None))
        );
        assert_eq!(
            found("/machine.slice/machine-db.scope"),
            Some((Runtime::Nspawn, "db".to_string(), None))
        );
        assert_eq!(
            found("/lxc.payload.u1/init.scope"),
            Some((Runtime::Lxc, "u1".to_string(), None))
        );
    }

    #[test]
    fn recognises_kubernetes_pods() {
        let systemd_pod = POD.replace('-', "_");
        let path = format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{systemd_pod}.slice/cri-containerd-{ID}.scope"
        );
        assert_eq!(
            found(&path),
            Some((Runtime::Containerd, ID.to_string(), Some(POD.to_string())))
        );
        let crio = format!("/kubepods.slice/kubepods-pod{systemd_pod}.slice/crio-{ID}.scope");
        assert_eq!(
            found(&crio),
            Some((Runtime::CriO, ID.to_string(), Some(POD.to_string())))
        );
        let cgroupfs = format!("/kubepods/besteffort/pod{POD}/{ID}");
        assert_eq!(
            found(&cgroupfs),
            Some((Runtime::Kubepods, ID.to_string(), Some(POD.to_string())))
        );
    }

    #[test]
    fn ignores_what_is_not_a_container() {
        for path in [
            "/",
            "/init.scope",
            "/system.slice/containerd.service",
            "/system.slice/docker.service",
            "/user.slice/user-1000.slice/session-3.scope",
            "/machine.slice/libpod-conmon-abc.scope",
            "/machine.slice/machine-qemu\\x2d1\\x2dvm.scope",
            "/docker/not-hex",
            "/kubepods/besteffort",
        ] {
            assert_eq!(found(path), None, "{path}");
        }
        let conmon = format!("/machine.slice/libpod-conmon-{ID}.scope");
        assert_eq!(found(&conmon), None);
    }

    #[test]
    fn nested_containers_report_the_innermost() {
        let inner = "0123456789abcdef0123";
        let path = format!("/docker/{ID}/docker/{inner}");
        assert_eq!(found(&path).map(|f| f.1), Some(inner.to_string()));
    }

    #[test]
    fn reads_proc_cgroup_files() {
        let v1 = format!("12:pids:/docker/{ID}\n1:name=systemd:/docker/{ID}\n0::/\n");
        let c = from_proc_cgroup(&v1).unwrap();
        assert_eq!((c.runtime, c.short_id()), (Runtime::Docker, &ID[..12]));
        assert!(c.matches("3f4e") && c.matches("docker") && !c.matches("podman"));
        assert_eq!(main_cgroup_path(&v1), Some("/"));
        assert_eq!(
            main_cgroup_path("3:cpu:/a\n1:name=systemd:/b\n"),
            Some("/b")
        );
        assert_eq!(main_cgroup_path("3:cpu:/a\n"), Some("/a"));
        assert_eq!(from_proc_cgroup("0::/init.scope\n"), None);
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC*") {
            let _ = from_proc_cgroup(&text);
            let _ = main_cgroup_path(&text);
            let _ = from_cgroup_path(&text);
        }
    }
}
