//! Loading a `--baseline` file: an earlier `capscan --json` (NDJSON) or `capscan --getcap` / `getcap -r`
//! output, told apart line by line (a JSON record starts with `{`).

use std::collections::BTreeMap;
use std::path::Path;

use capcore::baseline::Recorded;
use capcore::getcap;
use capcore::xattr::Revision;
use capcore::{CapSet, FileCaps};
use serde_json::Value as Json;

/// A loaded baseline.
pub struct Baseline {
    pub recorded: BTreeMap<Vec<u8>, Recorded>,
    /// Whether it can tell malformed values: getcap output reports them on stderr only, so a baseline
    /// in getcap form says nothing about them (nor about values on directories and symlinks, which
    /// getcap -r does not list) and they are left out of the comparison.
    pub knows_malformed: bool,
}

/// The most lines one getcap record may span (a name holding newlines).
const MAX_RECORD_LINES: usize = 64;

/// Reads a baseline: path → what was recorded. Any line that is neither form is a fatal error, since a
/// half-read baseline would report false drift. An empty file is a JSON baseline with no hits.
///
/// getcap lines are read as bytes, names as getcap wrote them. A name with a newline spans lines: a line
/// that does not parse is joined with the next ones until the record does. (getcap's format cannot tell
/// every such name from a forged record; a JSON baseline can.)
pub fn load(file: &Path, known_bits: u32) -> Result<Baseline, String> {
    let bytes = std::fs::read(file).map_err(|err| format!("{}: {err}", file.display()))?;
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let mut out = BTreeMap::new();
    let mut getcap_lines = 0;
    let mut json_lines = 0;
    let mut number = 0;
    while number < lines.len() {
        let line = lines[number];
        let where_ = || format!("{}:{}", file.display(), number + 1);
        if line.trim_ascii().is_empty() {
            number += 1;
            continue;
        }
        if line.trim_ascii_start().starts_with(b"{") {
            json_lines += 1;
            let json: Json =
                serde_json::from_slice(line).map_err(|err| format!("{}: {err}", where_()))?;
            if let Some((path, recorded)) =
                from_json(&json).map_err(|err| format!("{}: {err}", where_()))?
            {
                out.insert(path, recorded);
            }
            number += 1;
            continue;
        }
        getcap_lines += 1;
        let (parsed, used) = getcap_record(&lines[number..], known_bits)
            .map_err(|err| format!("{}: {err}", where_()))?;
        out.insert(
            parsed.path,
            Recorded::Text {
                state: parsed.state,
                rootid: parsed.rootid,
            },
        );
        number += used;
    }
    Ok(Baseline {
        recorded: out,
        knows_malformed: json_lines > 0 || getcap_lines == 0,
    })
}

/// The getcap record that starts at `lines[0]`, and how many lines it spans.
fn getcap_record(
    lines: &[&[u8]],
    known_bits: u32,
) -> Result<(getcap::GetcapLine, usize), getcap::GetcapLineError> {
    let mut record = lines[0].to_vec();
    let mut first_error = None;
    for used in 1..=lines.len().min(MAX_RECORD_LINES) {
        if used > 1 {
            record.push(b'\n');
            record.extend_from_slice(lines[used - 1]);
        }
        match getcap::parse_line(&record, known_bits) {
            Ok(parsed) => return Ok((parsed, used)),
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    Err(first_error.unwrap_or(getcap::GetcapLineError::NoText))
}

/// A capscan JSON record; `None` for records without a capability value (set-uid files, drift lines).
fn from_json(json: &Json) -> Result<Option<(Vec<u8>, Recorded)>, String> {
    let path = match json.get("path") {
        Some(Json::String(s)) => s.as_bytes().to_vec(),
        Some(Json::Object(o)) => {
            let hex = o
                .get("bytes")
                .and_then(Json::as_str)
                .ok_or("path object without \"bytes\"")?;
            capcore::hex::parse_bytes(hex).map_err(|err| format!("path bytes: {err}"))?
        }
        _ => return Err("no \"path\"".to_string()),
    };
    match json.get("kind").and_then(Json::as_str) {
        Some("malformed" | "unreadable") => {
            let errno = json.get("error").and_then(Json::as_str).unwrap_or("EINVAL");
            Ok(Some((path, Recorded::Malformed(errno.to_string()))))
        }
        Some("capabilities") => {
            let version = json
                .get("version")
                .and_then(Json::as_u64)
                .ok_or("no \"version\"")?;
            let revision = match version {
                1 => Revision::V1,
                2 => Revision::V2,
                3 => Revision::V3,
                other => return Err(format!("unknown version {other}")),
            };
            let caps = FileCaps {
                revision,
                effective: effective_flag(json)?,
                permitted: set(json, "permitted")?,
                inheritable: set(json, "inheritable")?,
                rootid: json
                    .get("rootid")
                    .and_then(Json::as_u64)
                    .and_then(|r| u32::try_from(r).ok()),
                stray_flags: 0,
            };
            Ok(Some((path, Recorded::Exact(caps))))
        }
        _ => Ok(None),
    }
}

/// The file's effective flag: `effective_flag`, or, in a baseline written by a capscan from before
/// `effective` became a set everywhere, a boolean `effective`.
fn effective_flag(json: &Json) -> Result<bool, String> {
    if let Some(flag) = json.get("effective_flag") {
        return flag
            .as_bool()
            .ok_or_else(|| "\"effective_flag\" is not a boolean".to_string());
    }
    match json.get("effective") {
        Some(Json::Bool(flag)) => Ok(*flag),
        _ => Err("no \"effective_flag\"".to_string()),
    }
}

fn set(json: &Json, key: &str) -> Result<CapSet, String> {
    let hex = json
        .get(key)
        .and_then(|s| s.get("hex"))
        .and_then(Json::as_str)
        .ok_or_else(|| format!("no \"{key}\".hex"))?;
    capcore::parse_mask(hex).map_err(|err| format!("{key}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(effective: &str) -> Json {
        let text = format!(
            r#"{{"path":"p","kind":"capabilities","version":2,{effective}"permitted":{{"hex":"0000000000002000","caps":[]}},"inheritable":{{"hex":"0","caps":[]}}}}"#
        );
        serde_json::from_str(&text).unwrap()
    }

    fn flag(json: &Json) -> Result<bool, String> {
        match from_json(json)? {
            Some((_, Recorded::Exact(caps))) => Ok(caps.effective),
            other => panic!("{other:?}"),
        }
    }

    /// Today's key, and the boolean `effective` of a baseline written by an older capscan.
    #[test]
    fn the_effective_flag_is_read_under_either_name() {
        assert_eq!(flag(&record(r#""effective_flag":true,"#)), Ok(true));
        assert_eq!(flag(&record(r#""effective_flag":false,"#)), Ok(false));
        assert_eq!(flag(&record(r#""effective":true,"#)), Ok(true));
        assert_eq!(flag(&record(r#""effective":false,"#)), Ok(false));
        assert!(flag(&record("")).is_err());
        assert!(flag(&record(r#""effective_flag":"yes","#)).is_err());
        // A set under `effective` is not a flag.
        assert!(flag(&record(r#""effective":{"hex":"0","caps":[]},"#)).is_err());
    }
}
