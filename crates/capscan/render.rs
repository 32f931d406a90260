//! The output formats, each a function of the sorted hits: the aligned table, getcap lines, NDJSON
//! records, the restore script, and the drift report of `--baseline`.

use std::io::{self, Write};

use capcli::render::WIDTH;
use capcli::{escape_bytes, ExternalBytes, Output};
use capcore::baseline::{Drift, Recorded};
use capcore::{restore, CapSet, FileCaps};
use serde::Serialize;

use capsys::walk::FileKind;

use crate::hits::{errno_text, FindingRecord, Hit, Owners, Value};

/// Why a value cannot be read, for every format.
const UNREADABLE_WHY: &str =
    "a v3 rootid that is invalid or not mapped in this user namespace; execve here ignores it";

/// The widest path column before rows stop being padded.
const MAX_PATH_COLUMN: usize = 60;

/// Context every renderer needs.
pub struct Render<'a> {
    pub known_bits: u32,
    pub owners: Option<&'a Owners>,
    pub audit: bool,
}

/// `4755 root:root`-style description of a set-uid or set-gid file.
fn setid_text(hit: &Hit, owners: Option<&Owners>) -> Option<String> {
    let meta = hit.meta?;
    let mut kinds = Vec::new();
    if meta.is_setuid() {
        kinds.push("set-uid");
    }
    if meta.is_setgid() {
        kinds.push("set-gid");
    }
    let (user, group) = match owners {
        Some(o) => (o.user(meta.uid), o.group(meta.gid)),
        None => (meta.uid.to_string(), meta.gid.to_string()),
    };
    Some(format!(
        "{} {:04o} {}:{}",
        kinds.join("+"),
        meta.mode & 0o7777,
        escape_bytes(user.as_bytes()),
        escape_bytes(group.as_bytes())
    ))
}

/// The capability cell of the table.
fn value_text(value: &Value, known_bits: u32) -> (String, String) {
    match value {
        Value::Caps(caps) => {
            let version = match caps.rootid {
                Some(rootid) => format!("v3 rootid={rootid}"),
                None => format!("v{}", caps.revision.number()),
            };
            (version, caps.getcap_text(known_bits))
        }
        Value::Malformed(errno) => (
            "-".to_string(),
            format!("MALFORMED ({errno}): every execve of this file fails"),
        ),
        Value::Unreadable(errno) => (
            "-".to_string(),
            format!("UNREADABLE ({errno}): {UNREADABLE_WHY}"),
        ),
        Value::None => ("-".to_string(), String::new()),
    }
}

pub fn table(out: &mut Output, hits: &[Hit], ctx: &Render) -> io::Result<()> {
    if hits.is_empty() {
        return Ok(());
    }
    let rows: Vec<(String, String, String)> = hits
        .iter()
        .map(|hit| {
            let (version, mut text) = value_text(&hit.value, ctx.known_bits);
            if hit.kind != FileKind::Regular {
                text = format!("{text} [on a {}]", hit.kind.name());
            }
            if let Some(setid) = setid_text(hit, ctx.owners) {
                text = if text.is_empty() {
                    setid
                } else {
                    format!("{text} [{setid}]")
                };
            }
            (escape_bytes(&hit.path), version, text)
        })
        .collect();
    let path_width = rows
        .iter()
        .map(|r| r.0.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, MAX_PATH_COLUMN);
    let version_width = rows.iter().map(|r| r.1.len()).max().unwrap_or(3).max(3);
    out.line(&format!(
        "{:path_width$}  {:version_width$}  CAPABILITIES",
        "PATH", "VER"
    ))?;
    let text_column = path_width + 2 + version_width + 2;
    for (hit, (path, version, text)) in hits.iter().zip(&rows) {
        let start = path.chars().count().max(path_width) + 2 + version_width + 2;
        let text = wrap_text(text, start, text_column);
        out.line(format!("{path:path_width$}  {version:version_width$}  {text}").trim_end())?;
        if ctx.audit {
            for finding in &hit.findings {
                out.line(&format!("    ! {}: {}", finding.rule(), finding.detail()))?;
            }
        }
    }
    Ok(())
}

/// Breaks a long capability text after a comma or a space so that it fits in `WIDTH` columns; the
/// first line starts at column `start`, later ones at `indent`. Joined again (a space for each break
/// that was at a space), the text is unchanged.
fn wrap_text(text: &str, start: usize, indent: usize) -> String {
    let mut pieces = Vec::new();
    let mut piece = String::new();
    for c in text.chars() {
        piece.push(c);
        if c == ',' || c == ' ' {
            pieces.push(std::mem::take(&mut piece));
        }
    }
    if !piece.is_empty() {
        pieces.push(piece);
    }
    let mut out = String::with_capacity(text.len());
    let mut column = start;
    for piece in pieces {
        let len = piece.trim_end().chars().count();
        if column + len > WIDTH && column > indent && !out.is_empty() {
            let kept = out.trim_end_matches(' ').len();
            out.truncate(kept);
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            column = indent;
        }
        column += piece.chars().count();
        out.push_str(&piece);
    }
    out
}

/// `PATH TEXT` as `getcap -r` prints it, sorted. The path is written as its raw bytes, as getcap and GNU
/// ls write names into a pipe or a file, so the output is byte for byte getcap's; on a terminal
/// (`escape`) it is escaped instead. With `rootid`, ` [rootid=N]` follows a v3 value as `getcap -n`
/// prints it: as a signed number. Values getcap reports on stderr (malformed, unreadable) are reported
/// there, and so are values on directories and symlinks, which `getcap -r` never lists.
pub fn getcap(
    out: &mut dyn Write,
    hits: &[Hit],
    ctx: &Render,
    rootid: bool,
    escape: bool,
) -> io::Result<()> {
    let warn =
        |hit: &Hit, what: &str| capcli::output::warn("capscan", &escape_bytes(&hit.path), &what);
    for hit in hits {
        match &hit.value {
            Value::Caps(_) | Value::Malformed(_) | Value::Unreadable(_)
                if !hit.kind.getcap_lists() =>
            {
                warn(
                    hit,
                    &format!(
                        "a {} carries security.capability; getcap -r does not list it",
                        hit.kind.name()
                    ),
                );
            }
            Value::Caps(caps) => {
                if escape {
                    out.write_all(escape_bytes(&hit.path).as_bytes())?;
                } else {
                    out.write_all(&hit.path)?;
                }
                write!(out, " {}", caps.getcap_text(ctx.known_bits))?;
                if rootid {
                    if let Some(id) = caps.rootid.filter(|&id| id != 0 && id != u32::MAX) {
                        // getcap prints the uid_t with %d.
                        write!(out, " [rootid={}]", id as i32)?;
                    }
                }
                out.write_all(b"\n")?;
            }
            Value::Malformed(errno) => warn(
                hit,
                &format!(
                    "malformed security.capability: {} ({errno}); every execve of this file fails",
                    errno_text(errno)
                ),
            ),
            Value::Unreadable(errno) => warn(
                hit,
                &format!(
                    "security.capability cannot be read: {} ({errno}): {UNREADABLE_WHY}",
                    errno_text(errno)
                ),
            ),
            Value::None => {}
        }
    }
    out.flush()
}

/// The capability fields of a JSON record.
#[derive(Serialize)]
struct CapFields {
    text: String,
    version: u32,
    effective: bool,
    permitted: CapSet,
    inheritable: CapSet,
    rootid: Option<u32>,
}

impl CapFields {
    fn new(caps: &FileCaps, known_bits: u32) -> CapFields {
        CapFields {
            text: caps.getcap_text(known_bits),
            version: caps.revision.number(),
            effective: caps.effective,
            permitted: caps.permitted,
            inheritable: caps.inheritable,
            rootid: caps.rootid,
        }
    }
}

#[derive(Serialize)]
struct Owner {
    uid: u32,
    user: String,
    gid: u32,
    group: String,
}

/// One NDJSON record.
#[derive(Serialize)]
struct HitRecord {
    path: ExternalBytes,
    /// `file`, `directory`, `symlink`, `fifo`, `socket`, `char_device`, `block_device`.
    #[serde(rename = "type")]
    file_type: &'static str,
    /// `capabilities`, `malformed`, `unreadable` or `setid`.
    kind: &'static str,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    caps: Option<CapFields>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    setuid: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    setgid: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<Owner>,
    #[serde(skip_serializing_if = "Option::is_none")]
    findings: Option<Vec<FindingRecord>>,
}

fn hit_record(hit: &Hit, ctx: &Render) -> HitRecord {
    let (kind, caps, error) = match &hit.value {
        Value::Caps(caps) => (
            "capabilities",
            Some(CapFields::new(caps, ctx.known_bits)),
            None,
        ),
        Value::Malformed(errno) => ("malformed", None, Some(*errno)),
        Value::Unreadable(errno) => ("unreadable", None, Some(*errno)),
        Value::None => ("setid", None, None),
    };
    let owner = hit.meta.map(|meta| Owner {
        uid: meta.uid,
        user: ctx
            .owners
            .map_or_else(|| meta.uid.to_string(), |o| o.user(meta.uid)),
        gid: meta.gid,
        group: ctx
            .owners
            .map_or_else(|| meta.gid.to_string(), |o| o.group(meta.gid)),
    });
    HitRecord {
        path: ExternalBytes(hit.path.clone()),
        file_type: hit.kind.json_name(),
        kind,
        caps,
        error,
        setuid: hit.meta.map(|m| m.is_setuid()),
        setgid: hit.meta.map(|m| m.is_setgid()),
        mode: hit.meta.map(|m| format!("{:04o}", m.mode & 0o7777)),
        owner,
        findings: ctx
            .audit
            .then(|| hit.findings.iter().map(FindingRecord::from).collect()),
    }
}

pub fn json(out: &mut Output, hits: &[Hit], ctx: &Render) -> io::Result<()> {
    for hit in hits {
        out.json(&hit_record(hit, ctx))?;
    }
    Ok(())
}

/// A shell script that restores every value found (setcap, or setfattr where setcap cannot write it
/// exactly), and names each value it cannot restore (malformed or unreadable ones) when it runs.
pub fn restore_script(out: &mut Output, hits: &[Hit], ctx: &Render) -> io::Result<()> {
    let (mut setcap, mut setfattr) = (0, 0);
    for hit in hits {
        if let Value::Caps(caps) = &hit.value {
            match restore::tool_for(caps, ctx.known_bits, hit.kind == FileKind::Regular) {
                restore::Tool::Setcap => setcap += 1,
                restore::Tool::Setfattr => setfattr += 1,
            }
        }
    }
    for line in restore::header(setcap, setfattr) {
        out.line(&line)?;
    }
    for hit in hits {
        let lines = match &hit.value {
            Value::Caps(caps) => restore::restore_lines(
                &hit.path,
                caps,
                ctx.known_bits,
                hit.kind == FileKind::Regular,
            ),
            Value::Malformed(errno) => restore::unrestorable_lines(
                &hit.path,
                &format!(
                    "malformed security.capability ({errno}): the kernel does not give its bytes"
                ),
            ),
            Value::Unreadable(errno) => restore::unrestorable_lines(
                &hit.path,
                &format!("security.capability unreadable here ({errno}): {UNREADABLE_WHY}"),
            ),
            Value::None => Vec::new(),
        };
        for line in lines {
            out.line(&line)?;
        }
    }
    out.line(restore::FOOTER)
}

fn recorded_text(recorded: Option<&Recorded>, known_bits: u32) -> String {
    match recorded {
        None => "-".to_string(),
        Some(Recorded::Exact(caps)) => match caps.rootid {
            Some(id) => format!("{} [rootid={id}]", caps.getcap_text(known_bits)),
            None => caps.getcap_text(known_bits),
        },
        Some(Recorded::Text { state, rootid }) => match rootid {
            Some(id) => format!("{} [rootid={id}]", state.to_text(known_bits)),
            None => state.to_text(known_bits),
        },
        Some(Recorded::Malformed(errno)) if errno == "EOVERFLOW" => format!("UNREADABLE ({errno})"),
        Some(Recorded::Malformed(errno)) => format!("MALFORMED ({errno})"),
    }
}

#[derive(Serialize)]
struct RecordedJson {
    text: Option<String>,
    version: Option<u32>,
    rootid: Option<u32>,
    error: Option<String>,
}

fn recorded_json(recorded: Option<&Recorded>, known_bits: u32) -> Option<RecordedJson> {
    Some(match recorded? {
        Recorded::Exact(caps) => RecordedJson {
            text: Some(caps.getcap_text(known_bits)),
            version: Some(caps.revision.number()),
            rootid: caps.rootid,
            error: None,
        },
        Recorded::Text { state, rootid } => RecordedJson {
            text: Some(state.to_text(known_bits)),
            version: None,
            rootid: *rootid,
            error: None,
        },
        Recorded::Malformed(errno) => RecordedJson {
            text: None,
            version: None,
            rootid: None,
            error: Some(errno.clone()),
        },
    })
}

#[derive(Serialize)]
struct DriftRecord {
    drift: &'static str,
    path: ExternalBytes,
    was: Option<RecordedJson>,
    now: Option<RecordedJson>,
}

pub fn drift(out: &mut Output, drift: &[Drift], ctx: &Render, as_json: bool) -> io::Result<()> {
    if as_json {
        for d in drift {
            out.json(&DriftRecord {
                drift: d.kind.name(),
                path: ExternalBytes(d.path.to_vec()),
                was: recorded_json(d.was, ctx.known_bits),
                now: recorded_json(d.now, ctx.known_bits),
            })?;
        }
        return Ok(());
    }
    if drift.is_empty() {
        return Ok(());
    }
    let rows: Vec<(String, String, String)> = drift
        .iter()
        .map(|d| {
            (
                escape_bytes(d.path),
                recorded_text(d.was, ctx.known_bits),
                recorded_text(d.now, ctx.known_bits),
            )
        })
        .collect();
    let path_width = rows
        .iter()
        .map(|r| r.0.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, MAX_PATH_COLUMN);
    let was_width = rows
        .iter()
        .map(|r| r.1.len())
        .max()
        .unwrap_or(3)
        .clamp(3, 40);
    out.line(&format!(
        "{:7}  {:path_width$}  {:was_width$}  NOW",
        "DRIFT", "PATH", "WAS"
    ))?;
    for (d, (path, was, now)) in drift.iter().zip(&rows) {
        out.line(&format!(
            "{:7}  {path:path_width$}  {was:was_width$}  {now}",
            d.kind.name()
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_wrap_without_changing() {
        let names: Vec<String> = CapSet::first_n(30).names();
        let text = format!("{}=ep 41+p", names.join(","));
        let wrapped = wrap_text(&text, 40, 30);
        for (i, line) in wrapped.lines().enumerate() {
            let start = if i == 0 { 40 } else { 0 };
            assert!(start + line.len() <= WIDTH, "{line}");
        }
        assert!(wrapped.lines().count() > 3);
        let joined: Vec<&str> = wrapped.lines().map(str::trim).collect();
        assert_eq!(joined.join(" ").replace(", ", ","), text);
        assert_eq!(wrap_text("cap_net_raw=ep", 40, 30), "cap_net_raw=ep");
    }
}
