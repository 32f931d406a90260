//! Every tool's NDJSON is safe to view: DEL, C1 controls and bidirectional or invisible formatting
//! characters from the outside world leave as `\u` escapes, and parsing the JSON gives the bytes back.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::Command;

use crate::spawn::TestChild;
use crate::util::{bin, is_root, skipped};

/// DEL, a C1 CSI (which some terminals obey like ESC [), a right-to-left override and a zero-width space.
const HOSTILE: &str = "a\u{7f}b\u{9b}c\u{202e}d\u{200b}";

/// Fails when `json` carries any of the characters that must be escaped, raw.
fn assert_safe(json: &[u8]) {
    let text = String::from_utf8(json.to_vec()).expect("JSON is UTF-8");
    let raw: Vec<char> = text
        .chars()
        .filter(|c| matches!(*c as u32, 0x7f..=0x9f | 0x200b | 0x202e))
        .collect();
    assert!(raw.is_empty(), "raw {raw:?} in {text}");
}

#[test]
fn capls_json_escapes_a_hostile_process_name() {
    let child = TestChild::spawn(["--name", HOSTILE]);
    let out = Command::new(bin("capls"))
        .args(["--json", "-a", &child.pid.to_string()])
        .output()
        .expect("run capls");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_safe(&out.stdout);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(r"a\u007fb\u009bc\u202ed\u200b"), "{text}");
    let record: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("one record")).expect("valid JSON");
    assert_eq!(record["comm"], HOSTILE);
}

#[test]
fn capscan_json_escapes_a_hostile_path() {
    if !is_root() {
        return skipped("needs root to set security.capability");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut name = b"x".to_vec();
    name.extend_from_slice(HOSTILE.as_bytes());
    let path = dir.path().join(OsString::from_vec(name));
    std::fs::write(&path, b"").expect("create the file");
    // VFS_CAP_REVISION_2 with the effective flag, permitted = cap_net_raw (bit 13), little-endian.
    let value = [
        1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    xattr::set(&path, "security.capability", &value).expect("set security.capability");
    let out = Command::new(bin("capscan"))
        .arg("--json")
        .arg(dir.path())
        .output()
        .expect("run capscan");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_safe(&out.stdout);
    let text = String::from_utf8_lossy(&out.stdout);
    let record: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("one record")).expect("valid JSON");
    assert_eq!(record["path"], path.to_str().expect("UTF-8 path"));
}
