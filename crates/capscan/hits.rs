//! One record per file found: what the walk read, decoded, with its audit findings. The table, getcap
//! lines, JSON and the restore script are all rendered from this one value.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use capcli::{escape_bytes, summary, ExternalBytes};
use capcore::audit::{self, PathPerm, ProgramKind};
use capcore::baseline::Recorded;
use capcore::{CapSet, FileCaps};
use capsys::users::Names;
use capsys::walk::{CapRead, FileKind, FileMeta, Found};
use serde::Serialize;

/// What a file's `security.capability` holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Caps(FileCaps),
    /// The kernel refuses the value (EINVAL, ERANGE) on every read; every execve of the file fails
    /// with it.
    Malformed(&'static str),
    /// A value is there but cannot be read here (EOVERFLOW: a v3 rootid that is invalid or not mapped
    /// in this user namespace); execve here ignores it.
    Unreadable(&'static str),
    None,
}

/// One file found by the scan.
#[derive(Clone, Debug)]
pub struct Hit {
    pub path: Vec<u8>,
    pub kind: FileKind,
    pub value: Value,
    /// Set-uid or set-gid (with --setuid).
    pub meta: Option<FileMeta>,
    pub findings: Vec<Finding>,
    /// With --exec-as: what executing it under the spec gives.
    pub exec: Option<crate::execas::Exec>,
}

impl Hit {
    pub fn from_found(found: Found) -> Hit {
        let value = match found.caps {
            CapRead::Absent => Value::None,
            CapRead::Invalid(errno) => Value::Malformed(errno_name(errno)),
            CapRead::Unreadable(_) => Value::Unreadable("EOVERFLOW"),
            CapRead::Value(bytes) => match FileCaps::decode(&bytes) {
                Ok(caps) if caps.check_userspace().is_ok() => Value::Caps(caps),
                Ok(_) | Err(_) => Value::Malformed("EINVAL"),
            },
        };
        Hit {
            path: found.path,
            kind: found.kind,
            value,
            meta: found.meta,
            findings: Vec::new(),
            exec: None,
        }
    }

    /// What a baseline compares.
    pub fn recorded(&self) -> Option<Recorded> {
        match &self.value {
            Value::Caps(caps) => Some(Recorded::Exact(*caps)),
            Value::Malformed(errno) | Value::Unreadable(errno) => {
                Some(Recorded::Malformed(errno.to_string()))
            }
            Value::None => None,
        }
    }
}

fn errno_name(errno: rustix::io::Errno) -> &'static str {
    match errno {
        rustix::io::Errno::RANGE => "ERANGE",
        _ => "EINVAL",
    }
}

/// The strerror text for the errno names we report.
pub fn errno_text(name: &str) -> &'static str {
    match name {
        "ERANGE" => "Numerical result out of range",
        "EOVERFLOW" => "Value too large for defined data type",
        _ => "Invalid argument",
    }
}

/// Something `--audit` flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// The root-equivalent capabilities, and how many the kernel knows (for the long form).
    RootEquivalent(CapSet, u32),
    Program(ProgramKind),
    Writable {
        path: Vec<u8>,
        by: audit::Writer,
    },
    Malformed(&'static str),
    /// With --exec-as: the file cannot start under the spec.
    ExecFails(String),
}

impl Finding {
    pub fn rule(&self) -> &'static str {
        match self {
            Finding::RootEquivalent(..) => "root_equivalent",
            Finding::Program(_) => "program",
            Finding::Writable { .. } => "writable",
            Finding::Malformed(_) => "malformed",
            Finding::ExecFails(_) => "exec_fails",
        }
    }

    /// One line for a person; paths escaped.
    pub fn detail(&self) -> String {
        match self {
            Finding::RootEquivalent(caps, known) => {
                format!("grants root-equivalent {}", summary::long(*caps, *known))
            }
            Finding::Program(kind) => {
                let article = if kind.name().starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                };
                format!("{article} {kind}: its capabilities go to any script or command its user chooses")
            }
            Finding::Writable { path, by } => {
                format!("{} can be written by {by}", escape_bytes(path))
            }
            Finding::ExecFails(errno) if errno == "refused" => {
                "the runtime refuses the spec: nothing can start".to_string()
            }
            Finding::ExecFails(errno) => {
                format!("cannot start under the spec: execve fails with {errno}")
            }
            Finding::Malformed(errno) => format!(
                "security.capability is not a valid value ({errno}): every execve of this file fails"
            ),
        }
    }
}

#[derive(Serialize)]
pub struct FindingRecord {
    rule: &'static str,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    caps: Option<CapSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<ExternalBytes>,
}

impl From<&Finding> for FindingRecord {
    fn from(finding: &Finding) -> Self {
        FindingRecord {
            rule: finding.rule(),
            detail: finding.detail(),
            caps: match finding {
                Finding::RootEquivalent(caps, _) => Some(*caps),
                _ => None,
            },
            kind: match finding {
                Finding::Program(kind) => Some(kind.name()),
                _ => None,
            },
            path: match finding {
                Finding::Writable { path, .. } => Some(ExternalBytes(path.clone())),
                _ => None,
            },
        }
    }
}

/// Fills in every hit's findings. Owners and modes of files and their directories are looked up once each.
pub fn audit(hits: &mut [Hit], known_bits: u32) {
    let mut dirs: HashMap<Vec<u8>, Option<PathPerm>> = HashMap::new();
    for hit in hits.iter_mut() {
        let mut findings = Vec::new();
        // Only a regular file's value counts at execve.
        if hit.kind != FileKind::Regular {
            continue;
        }
        if let Value::Caps(caps) = &hit.value {
            let root = audit::root_equivalent(caps.permitted, caps.inheritable);
            if !root.is_empty() {
                findings.push(Finding::RootEquivalent(root, known_bits));
            }
        }
        if let Value::Malformed(errno) = hit.value {
            findings.push(Finding::Malformed(errno));
        }
        let name = hit.path.rsplit(|&b| b == b'/').next().unwrap_or(&hit.path);
        if let Some(kind) = audit::program_kind(name) {
            findings.push(Finding::Program(kind));
        }
        let chain = perm_chain(&hit.path, &mut dirs);
        if let Some((at, by)) = audit::writable_by_non_root(&chain) {
            findings.push(Finding::Writable {
                path: at.path.clone(),
                by,
            });
        }
        hit.findings = findings;
    }
}

/// The file, then each directory above it up to `/` (through the real path of its parent).
fn perm_chain(path: &[u8], dirs: &mut HashMap<Vec<u8>, Option<PathPerm>>) -> Vec<PathPerm> {
    let path = Path::new(std::ffi::OsStr::from_bytes(path));
    let mut chain = Vec::new();
    if let Some(perm) = lstat_perm(path) {
        chain.push(perm);
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Ok(mut dir) = std::fs::canonicalize(parent) else {
        return chain;
    };
    loop {
        let key = dir.as_os_str().as_bytes().to_vec();
        let perm = dirs.entry(key).or_insert_with(|| lstat_perm(&dir)).clone();
        chain.extend(perm);
        if !dir.pop() {
            break;
        }
    }
    chain
}

fn lstat_perm(path: &Path) -> Option<PathPerm> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    Some(PathPerm {
        path: path.as_os_str().as_bytes().to_vec(),
        mode: meta.mode(),
        uid: meta.uid(),
        gid: meta.gid(),
    })
}

/// Names for owners, loaded only when a set-uid file needs them.
pub struct Owners {
    users: Names,
    groups: Names,
}

impl Owners {
    pub fn load() -> Owners {
        Owners {
            users: Names::users(),
            groups: Names::groups(),
        }
    }

    pub fn user(&self, uid: u32) -> String {
        self.users.name_or_id(uid)
    }

    pub fn group(&self, gid: u32) -> String {
        self.groups.name_or_id(gid)
    }
}
