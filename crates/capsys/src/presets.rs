//! The caller states that container runtimes give the first process they start (Docker's translation is
//! capcore::docker's); systemd services are in `systemd.rs`.

use capcore::oci::OciProcess;

pub use capcore::oci::DOCKER_DEFAULT;

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
