//! `capscan --ecs`: each hit as an Elastic Common Schema document (`file.path`, `file.mode`, owner), with
//! the file capabilities under `capkit.file`, in `--json`'s form, since ECS has no field for them.
//!
//! The walk reads `security.capability` without a stat, so the mode and owner come from a second look at
//! the file (`capsys::recheck`: one descriptor, one inode), and are written only when that look finds the
//! value the walk found: otherwise another file may have taken the path, and its owner is not this one's.

use std::io;
use std::time::SystemTime;

use capcli::ecs::{self, Header};
use capcli::{escape_bytes, ExternalBytes, Output};
use capcore::CapSet;
use capsys::recheck::{recheck, Recheck};
use capsys::walk::{FileKind, Found};
use serde::Serialize;

use crate::hits::{FindingRecord, Hit, Owners, Value};
use crate::render::Render;

/// Writes one document per hit.
pub fn print(out: &mut Output, hits: &[Hit], ctx: &Render, read_at: SystemTime) -> io::Result<()> {
    let header = Header::state("capscan", "file", read_at);
    let loaded;
    let owners = match ctx.owners {
        Some(owners) => owners,
        None => {
            loaded = Owners::load();
            &loaded
        }
    };
    for hit in hits {
        let stat = match confirmed(hit) {
            Ok(stat) => Some(stat),
            Err(cause) => {
                capcli::output::warn(
                    "capscan",
                    &escape_bytes(&hit.path),
                    &format!("{cause}; its ECS document leaves out mode and owner"),
                );
                None
            }
        };
        out.json(&document(&header, hit, stat.as_ref(), owners, ctx))?;
    }
    Ok(())
}

#[derive(Serialize)]
struct Document<'a> {
    #[serde(flatten)]
    header: &'a Header,
    file: File,
    capkit: Capkit,
}

#[derive(Serialize)]
struct File {
    path: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    directory: Option<String>,
    #[serde(rename = "type")]
    file_type: &'static str,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    identity: Option<Identity>,
}

/// What the confirmed stat says: ECS keeps ids, mode and inode as strings (keyword).
#[derive(Serialize)]
struct Identity {
    /// Octal, with the set-id and sticky bits: `0755`, `4755`.
    mode: String,
    uid: String,
    gid: String,
    owner: String,
    group: String,
    inode: String,
}

#[derive(Serialize)]
struct Capkit {
    file: CapkitFile,
    #[serde(skip_serializing_if = "Option::is_none")]
    findings: Option<Vec<FindingRecord>>,
}

/// As in `capscan --json`: `kind` is `capabilities`, `malformed` or `setid`.
#[derive(Serialize)]
struct CapkitFile {
    kind: &'static str,
    /// The exact bytes of the path when it is not UTF-8 (`file.path` then holds U+FFFD in their place).
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<ExternalBytes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    capabilities: Option<Capabilities>,
    /// As `error` in `--json`: EINVAL or ERANGE for a malformed value, EOVERFLOW for an unreadable one.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    setuid: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    setgid: Option<bool>,
}

#[derive(Serialize)]
struct Capabilities {
    text: String,
    version: u32,
    /// The file's effective flag, as in `--json`.
    effective_flag: bool,
    permitted: CapSet,
    inheritable: CapSet,
    #[serde(skip_serializing_if = "Option::is_none")]
    rootid: Option<u32>,
}

fn document<'a>(
    header: &'a Header,
    hit: &Hit,
    stat: Option<&Recheck>,
    owners: &Owners,
    ctx: &Render,
) -> Document<'a> {
    let (directory, name) = match hit.path.iter().rposition(|&b| b == b'/') {
        Some(at) => (Some(&hit.path[..at.max(1)]), &hit.path[at + 1..]),
        None => (None, &hit.path[..]),
    };
    let (kind, capabilities, error) = match &hit.value {
        Value::Caps(caps) => (
            "capabilities",
            Some(Capabilities {
                text: caps.getcap_text(ctx.known_bits),
                version: caps.revision.number(),
                effective_flag: caps.effective,
                permitted: caps.permitted,
                inheritable: caps.inheritable,
                rootid: caps.rootid,
            }),
            None,
        ),
        Value::Malformed(errno) => ("malformed", None, Some(*errno)),
        Value::Unreadable(errno) => ("unreadable", None, Some(*errno)),
        Value::None => ("setid", None, None),
    };
    Document {
        header,
        file: File {
            path: ecs::text(&hit.path),
            name: ecs::text(name),
            directory: directory.map(ecs::text),
            file_type: ecs_file_type(hit.kind),
            identity: stat.map(|now| Identity {
                mode: format!("{:04o}", now.meta.mode & 0o7777),
                uid: now.meta.uid.to_string(),
                gid: now.meta.gid.to_string(),
                owner: owners.user(now.meta.uid),
                group: owners.group(now.meta.gid),
                inode: now.inode.to_string(),
            }),
        },
        capkit: Capkit {
            file: CapkitFile {
                kind,
                path: ecs::exact(&hit.path),
                capabilities,
                error,
                setuid: hit.meta.map(|m| m.is_setuid()),
                setgid: hit.meta.map(|m| m.is_setgid()),
            },
            findings: ctx
                .audit
                .then(|| hit.findings.iter().map(FindingRecord::from).collect()),
        },
    }
}

/// ECS's words for the kinds it names (`file`, `dir`, `symlink`); capscan's for the others.
fn ecs_file_type(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Directory => "dir",
        other => other.json_name(),
    }
}

/// The stat of the file now at the hit's path, if it is the file the walk read: a file of the same
/// kind whose `security.capability` (and set-id mode and owner, when the walk saw them) are what the
/// walk found.
fn confirmed(hit: &Hit) -> Result<Recheck, String> {
    let now = recheck(&hit.path).map_err(|err| err.to_string())?;
    let again = Hit::from_found(Found {
        path: Vec::new(),
        kind: hit.kind,
        caps: now.caps.clone(),
        meta: None,
    });
    let same = now.kind == Some(hit.kind)
        && again.value == hit.value
        && hit.meta.is_none_or(|m| m == now.meta);
    if same {
        Ok(now)
    } else {
        Err("changed while being read".to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStrExt;

    use capcore::xattr::Revision;
    use capcore::FileCaps;
    use capsys::walk::FileMeta;

    use super::*;

    fn hit(path: &std::path::Path, value: Value) -> Hit {
        Hit {
            path: path.as_os_str().as_bytes().to_vec(),
            kind: FileKind::Regular,
            value,
            meta: None,
            findings: Vec::new(),
            exec: None,
        }
    }

    /// What the walk saw must still be there for the stat to be used: another value, another type of
    /// file, or no file at all, and the mode and owner are left out.
    #[test]
    fn the_stat_is_used_only_for_the_file_the_walk_read() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"x").unwrap();
        assert!(confirmed(&hit(&plain, Value::None)).is_ok());
        let net_raw = FileCaps {
            revision: Revision::V2,
            effective: true,
            permitted: CapSet::from_bits(1 << 13),
            inheritable: CapSet::EMPTY,
            rootid: None,
            stray_flags: 0,
        };
        let claimed = hit(&plain, Value::Caps(net_raw));
        assert_eq!(confirmed(&claimed).unwrap_err(), "changed while being read");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&plain, &link).unwrap();
        assert!(confirmed(&hit(&link, Value::None)).is_err());
        let mut as_symlink = hit(&link, Value::None);
        as_symlink.kind = FileKind::Symlink;
        assert!(confirmed(&as_symlink).is_ok());
        assert!(confirmed(&hit(&dir.path().join("gone"), Value::None)).is_err());
        let mut setuid = hit(&plain, Value::None);
        setuid.meta = Some(FileMeta {
            mode: 0o104755,
            uid: 0,
            gid: 0,
        });
        assert!(confirmed(&setuid).is_err());
    }
}
