//! The output formats, each a function of the sorted hits: the aligned table, getcap lines, NDJSON
//! records, the restore script, and the drift report of `--baseline`.

use std::io::{self, Write};

use capcli::render::wrap_into;
use capcli::term::{self, display_width, Style};
use capcli::{escape_bytes, ExternalBytes, Output};
use capcore::baseline::{Drift, Recorded};
use capcore::{audit, restore, Cap, CapSet, FileCaps};
use serde::Serialize;

use capsys::walk::FileKind;

use crate::hits::{errno_text, Finding, FindingRecord, Hit, Owners, Value};

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

/// The capability text of a value: libcap's text, or what is wrong with it.
fn value_text(value: &Value, known_bits: u32) -> String {
    match value {
        Value::Caps(caps) => caps.getcap_text(known_bits),
        Value::Malformed(errno) => {
            format!("MALFORMED ({errno}): every execve of this file fails")
        }
        Value::Unreadable(errno) => format!("UNREADABLE ({errno}): {UNREADABLE_WHY}"),
        Value::None => String::new(),
    }
}

/// The capability cell of a hit, uncoloured: its value, its kind of file when not a regular one, and
/// its set-id bits and owner.
fn cell_text(hit: &Hit, ctx: &Render) -> String {
    let mut text = value_text(&hit.value, ctx.known_bits);
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
    text
}

/// The version cell: `v2`, `v3 rootid=N`, or `-`.
fn version_text(value: &Value) -> String {
    match value {
        Value::Caps(caps) => match caps.rootid {
            Some(rootid) => format!("v3 rootid={rootid}"),
            None => format!("v{}", caps.revision.number()),
        },
        _ => "-".to_string(),
    }
}

/// The table: `PATH  VER  CAPABILITIES`, one record per line.
///
/// The column widths come from one pass over the hits (which the sorted output holds anyway); then each
/// row is formatted and written on its own, so no second copy of the table is ever built. Into a pipe
/// or a file a record is one line, its audit findings included (`capscan | grep NAME` gets all of it);
/// on a terminal the capability text wraps to the terminal's width and each finding has a line.
pub fn table(out: &mut Output, hits: &[Hit], ctx: &Render) -> io::Result<()> {
    if hits.is_empty() {
        return Ok(());
    }
    let width = term::width();
    let path_width = hits
        .iter()
        .map(|hit| display_width(&escape_bytes(&hit.path)))
        .max()
        .unwrap_or(4)
        .clamp(4, MAX_PATH_COLUMN);
    let version_width = hits
        .iter()
        .map(|hit| version_text(&hit.value).len())
        .max()
        .unwrap_or(3)
        .max(3);
    out.line(
        format!(
            "{}  {}  {}",
            pad(&term::paint(Style::Header, "PATH"), path_width),
            pad(&term::paint(Style::Header, "VER"), version_width),
            term::paint(Style::Header, "CAPABILITIES")
        )
        .trim_end(),
    )?;
    let text_column = path_width + 2 + version_width + 2;
    for hit in hits {
        let path = escape_bytes(&hit.path);
        let start = display_width(&path).max(path_width) + 2 + version_width + 2;
        let text = wrap_text(&cell_text(hit, ctx), start, text_column, width);
        let mut row = format!(
            "{}  {}  {}",
            pad(&path, path_width),
            pad(&version_text(&hit.value), version_width),
            paint_value(&text, &hit.value)
        );
        if let Some(exec) = &hit.exec {
            row.truncate(row.trim_end().len());
            row.push_str(if width == usize::MAX { "  " } else { "\n    " });
            row.push_str(&exec_text(exec, width));
        }
        if ctx.audit {
            for finding in &hit.findings {
                row.truncate(row.trim_end().len());
                row.push_str(if width == usize::MAX { "  " } else { "\n    " });
                row.push_str(&finding_text(finding, width));
            }
        }
        out.line(row.trim_end())?;
    }
    Ok(())
}

/// `text` followed by spaces up to `width` columns (colour codes take none).
fn pad(text: &str, width: usize) -> String {
    let fill = width.saturating_sub(display_width(text));
    format!("{text}{}", " ".repeat(fill))
}

/// `! rule: detail`, the rule in the findings colour, the detail wrapped under it on a terminal.
fn finding_text(finding: &Finding, width: usize) -> String {
    let rule = format!("! {}:", finding.rule());
    let words = unbroken_words(&finding.detail());
    let mut text = term::paint(Style::Finding, &rule).into_owned();
    text.push(' ');
    let indent = 6;
    wrap_into(&mut text, &words, " ", 4 + rule.len() + 1, indent, width);
    text
}

/// `exec: …`, a failing exec in the findings colour, gained capabilities as summary::long paints them;
/// wrapped under itself on a terminal.
fn exec_text(exec: &crate::execas::Exec, width: usize) -> String {
    let text = crate::execas::text(exec);
    let words = unbroken_words(&text);
    let mut out = String::new();
    wrap_into(&mut out, &words, " ", 4, 6, width);
    if exec.fails() {
        term::paint(Style::Finding, &out).into_owned()
    } else {
        out
    }
}

/// The words of a text, a parenthesised group such as `(2 of 41)` kept as one.
fn unbroken_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut open = false;
    for word in text.split(' ') {
        match words.last_mut() {
            Some(last) if open => {
                last.push(' ');
                last.push_str(word);
            }
            _ => words.push(word.to_string()),
        }
        if word.starts_with('(') {
            open = true;
        }
        if word.contains(')') {
            open = false;
        }
    }
    words
}

/// The capability cell in colour: a malformed or unreadable value stands out as a finding does, and in
/// a value that gives root away, each root-equivalent name (and a clause over all capabilities, `=ep`)
/// in the danger colour.
fn paint_value(text: &str, value: &Value) -> String {
    match value {
        Value::Malformed(_) | Value::Unreadable(_) => {
            let (head, tail) = text.split_at(text.find(' ').unwrap_or(text.len()));
            format!("{}{tail}", term::paint(Style::Finding, head))
        }
        Value::Caps(caps)
            if !audit::root_equivalent(caps.permitted, caps.inheritable).is_empty() =>
        {
            paint_root_names(text, term::current().color)
        }
        _ => text.to_string(),
    }
}

/// Paints the root-equivalent names of a libcap text, and a clause that starts with `=` followed by
/// flags (every capability). The text is capscan's own (ASCII names and operators); only the
/// separators between names and clauses are looked at, so a wrapped text paints the same. What follows
/// a `[` (the kind of file, the owner's names) is left as it is.
fn paint_root_names(text: &str, color: bool) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let (mut rest, notes) = text.split_at(text.find('[').unwrap_or(text.len()));
    let mut clause_start = true;
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            let c = rest.chars().next().unwrap_or(' ');
            if c == '=' && clause_start {
                let flags = rest[1..]
                    .find(|c: char| !c.is_ascii_alphabetic())
                    .map_or(rest.len(), |n| n + 1);
                if flags > 1 {
                    out.push_str(&term::paint_if(color, Style::Danger, &rest[..flags]));
                    rest = &rest[flags..];
                    clause_start = false;
                    continue;
                }
            }
            clause_start = c.is_whitespace();
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let word = &rest[..end];
        let root =
            Cap::from_libcap_name(word).is_some_and(|cap| audit::ROOT_EQUIVALENT.contains(cap));
        if root {
            out.push_str(&term::paint_if(color, Style::Danger, word));
        } else {
            out.push_str(word);
        }
        clause_start = false;
        rest = &rest[end..];
    }
    out.push_str(notes);
    out
}

/// Breaks a long capability text after a comma or a space so that it fits in `width` columns; the
/// first line starts at column `start`, later ones at `indent`. Joined again (a space for each break
/// that was at a space), the text is unchanged. Into a pipe `width` is unbounded: nothing breaks.
fn wrap_text(text: &str, start: usize, indent: usize, width: usize) -> String {
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
        let len = display_width(piece.trim_end());
        if column.saturating_add(len) > width && column > indent && !out.is_empty() {
            let kept = out.trim_end_matches(' ').len();
            out.truncate(kept);
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            column = indent;
        }
        column += display_width(&piece);
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
    /// The file's effective flag (a bit, not a set: `effective` is always a set in capkit's JSON).
    effective_flag: bool,
    permitted: CapSet,
    inheritable: CapSet,
    rootid: Option<u32>,
}

impl CapFields {
    fn new(caps: &FileCaps, known_bits: u32) -> CapFields {
        CapFields {
            text: caps.getcap_text(known_bits),
            version: caps.revision.number(),
            effective_flag: caps.effective,
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
struct HitRecord<'a> {
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
    #[serde(skip_serializing_if = "Option::is_none")]
    exec: Option<crate::execas::ExecRecord<'a>>,
}

fn hit_record<'a>(hit: &'a Hit, ctx: &Render) -> HitRecord<'a> {
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
        exec: hit.exec.as_ref().map(crate::execas::ExecRecord::from),
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
        .map(|r| display_width(&r.0))
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
        "{}  {}  {}  {}",
        pad(&term::paint(Style::Header, "DRIFT"), 7),
        pad(&term::paint(Style::Header, "PATH"), path_width),
        pad(&term::paint(Style::Header, "WAS"), was_width),
        term::paint(Style::Header, "NOW")
    ))?;
    // On a terminal NOW wraps under its column; into a pipe a record stays one line.
    let now_column = 7 + 2 + path_width + 2 + was_width + 2;
    for (d, (path, was, now)) in drift.iter().zip(&rows) {
        let start =
            7 + 2 + display_width(path).max(path_width) + 2 + display_width(was).max(was_width) + 2;
        out.line(&format!(
            "{}  {}  {}  {}",
            pad(&term::paint(Style::Finding, d.kind.name()), 7),
            pad(path, path_width),
            pad(was, was_width),
            wrap_text(now, start, now_column, term::width()),
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
        let wrapped = wrap_text(&text, 40, 30, 100);
        for (i, line) in wrapped.lines().enumerate() {
            let start = if i == 0 { 40 } else { 0 };
            assert!(start + line.len() <= 100, "{line}");
        }
        assert!(wrapped.lines().count() > 3);
        let joined: Vec<&str> = wrapped.lines().map(str::trim).collect();
        assert_eq!(joined.join(" ").replace(", ", ","), text);
        assert_eq!(wrap_text("cap_net_raw=ep", 40, 30, 100), "cap_net_raw=ep");
        // Unbounded (into a pipe): never broken.
        assert_eq!(wrap_text(&text, 40, 30, usize::MAX), text);
    }

    #[test]
    fn groups_in_parentheses_stay_whole() {
        assert_eq!(
            unbroken_words("grants cap_setuid (1 of 41) now"),
            ["grants", "cap_setuid", "(1 of 41)", "now"]
        );
        assert_eq!(unbroken_words("(EINVAL): every"), ["(EINVAL):", "every"]);
    }

    #[test]
    fn root_equivalent_names_and_all_clauses_are_painted() {
        let red = |name: &str| term::paint_if(true, Style::Danger, name).into_owned();
        assert_eq!(
            paint_root_names(
                "cap_setuid,cap_net_raw=ep [on a fifo, cap_chown:root]",
                true
            ),
            format!(
                "{},cap_net_raw=ep [on a fifo, cap_chown:root]",
                red("cap_setuid")
            )
        );
        assert_eq!(
            paint_root_names("=ep cap_sys_admin-ep", true),
            format!("{} {}-ep", red("=ep"), red("cap_sys_admin"))
        );
        assert_eq!(
            paint_root_names("cap_net_raw,\n   cap_chown=i", true),
            format!("cap_net_raw,\n   {}=i", red("cap_chown"))
        );
        assert_eq!(
            paint_root_names("=ep cap_sys_admin-ep", false),
            "=ep cap_sys_admin-ep"
        );
    }
}
