//! The caller states that container runtimes and service managers give the first process they start:
//! Docker (moby's defaults as runc applies them); systemd services are in `systemd.rs`.

use capcore::oci::OciProcess;
use capcore::{Cap, CapSet};

pub use capcore::oci::DOCKER_DEFAULT;

/// What `docker run` was given.
#[derive(Clone, Debug, Default)]
pub struct DockerOptions {
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `--user UID[:GID]`.
    pub user: Option<(u32, u32)>,
    pub privileged: bool,
    pub no_new_privileges: bool,
}

/// A list of `--cap-add`/`--cap-drop` values: capabilities (any case, with or without CAP_) or `all`.
fn cap_list(values: &[String], known: u32) -> Result<(CapSet, bool), String> {
    let mut set = CapSet::EMPTY;
    let mut all = false;
    for value in values.iter().flat_map(|v| v.split(',')) {
        if value.trim().eq_ignore_ascii_case("all") {
            all = true;
            set = set | CapSet::first_n(known);
        } else {
            let cap = Cap::parse_lenient(value).map_err(|e| e.to_string())?;
            set = set.with(cap);
        }
    }
    Ok((set, all))
}

/// moby's TweakCapabilities: `--privileged` gives everything; `--cap-add all` everything but the drops;
/// `--cap-drop all` only the adds; otherwise the defaults less the drops plus the adds.
pub fn docker_caps(options: &DockerOptions, known: u32) -> Result<CapSet, String> {
    let every = CapSet::first_n(known);
    if options.privileged {
        return Ok(every);
    }
    let (add, add_all) = cap_list(&options.cap_add, known)?;
    let (drop, drop_all) = cap_list(&options.cap_drop, known)?;
    let defaults = CapSet::from_caps(DOCKER_DEFAULT);
    Ok(if add_all {
        every - drop
    } else if drop_all {
        add
    } else {
        (defaults - drop) | add
    })
}

/// The OCI process moby writes for the container's first process (runc then applies it like any config):
/// root gets the list in its bounding, permitted and effective sets; any other user only in its bounding
/// set (moby oci.SetCapabilities, "to match what execve does"). Inheritable and ambient are empty.
pub fn docker(options: &DockerOptions, known: u32) -> Result<OciProcess, String> {
    let caps = docker_caps(options, known)?;
    let (uid, gid) = options.user.unwrap_or((0, 0));
    Ok(capcore::oci::docker_process(
        caps,
        uid,
        gid,
        options.no_new_privileges,
    ))
}

/// The state runc gives the first process of a container whose OCI process a Kubernetes runtime built
/// (capcore::k8s): the same `capcore::oci::apply` as `--oci` and `--docker`, for a runc that the runtime
/// started (`start`: its bounding set, none inheritable).
pub fn k8s_process(
    process: &capcore::k8s::OciProcess,
    start: &capcore::oci::RuntimeStart,
) -> Result<capcore::exec::Creds, capcore::oci::Refusal> {
    let oci = process.to_oci();
    capcore::oci::apply(&oci, start)
}

/// A user name or number as an id. Reads /etc/passwd: to resolve many, use `Names::users` once.
pub fn resolve_user(user: &str) -> Result<u32, String> {
    resolve(&crate::users::Names::users(), "user", user)
}

/// A group name or number as an id. Reads /etc/group: to resolve many, use `Names::groups` once.
pub fn resolve_group(group: &str) -> Result<u32, String> {
    resolve(&crate::users::Names::groups(), "group", group)
}

/// `name` in `names`; the error quotes a bounded excerpt, since a unit's User= can be a megabyte long.
pub fn resolve(names: &crate::users::Names, what: &str, name: &str) -> Result<u32, String> {
    names
        .id_of(name)
        .ok_or_else(|| format!("unknown {what} '{}'", capcore::quote::excerpt(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_tweaks_like_moby() {
        let mut options = DockerOptions::default();
        assert_eq!(docker_caps(&options, 41).unwrap().len(), 14);
        options.cap_add = vec!["NET_ADMIN".into()];
        options.cap_drop = vec!["cap_net_raw".into()];
        let caps = docker_caps(&options, 41).unwrap();
        assert!(caps.contains(Cap::NET_ADMIN) && !caps.contains(Cap::NET_RAW));
        options.cap_drop = vec!["all".into()];
        assert_eq!(docker_caps(&options, 41).unwrap(), Cap::NET_ADMIN.into());
        options.cap_add = vec!["ALL".into()];
        options.cap_drop = vec!["sys_admin".into()];
        assert_eq!(docker_caps(&options, 41).unwrap().len(), 40);
    }
}

/// Why an OCI runtime config could not be read: the file (an operand that may not exist), or its contents.
#[derive(Debug)]
pub enum ConfigError {
    Io(std::io::Error),
    Parse(String),
}

/// Reads an OCI runtime config (at most `capcore::oci::MAX_CONFIG_BYTES`) and parses it.
pub fn read_oci_config(
    path: &std::path::Path,
    known: u32,
) -> Result<capcore::oci::OciConfig, ConfigError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| {
            file.take(capcore::oci::MAX_CONFIG_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(ConfigError::Io)?;
    capcore::oci::parse_config(&bytes, known).map_err(ConfigError::Parse)
}

/// The note for capability names an OCI config gives that runc ignores (with a warning), if any. The names
/// are as the config spells them: whoever prints the note escapes it.
pub fn ignored_caps_note(process: &OciProcess) -> Option<String> {
    (!process.ignored.is_empty()).then(|| {
        format!(
            "runc ignores unknown or unavailable capabilities (with a warning): {}",
            process.ignored.join(", ")
        )
    })
}
