//! capscan against a generated tree of real files with real `security.capability` values: every kind of
//! value, set-uid files, symlinks of every sort, unreadable directories, hostile names and a tmpfs mount.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use capcore::xattr::Revision;
use capcore::{CapSet, FileCaps};

use crate::rawfs::RawImage;

const XATTR: &str = "security.capability";

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

use crate::util::have;

fn capscan(dir: &Path, args: &[&OsStr]) -> Output {
    capscan_env(dir, args, None)
}

fn capscan_env(dir: &Path, args: &[&OsStr], env: Option<(&str, &str)>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_capscan"));
    command.current_dir(dir).args(args);
    if let Some((key, value)) = env {
        command.env(key, value);
    }
    command.output().expect("run capscan")
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn caps(revision: Revision, effective: bool, p: u64, i: u64, rootid: Option<u32>) -> FileCaps {
    FileCaps {
        revision,
        effective,
        permitted: CapSet::from_bits(p),
        inheritable: CapSet::from_bits(i),
        rootid,
        stray_flags: 0,
    }
}

const NET_RAW: u64 = 1 << 13;

/// A file with a raw xattr value.
fn file_with(path: &Path, value: Option<&[u8]>) {
    fs::write(path, b"#!/bin/sh\n").expect("write file");
    if let Some(value) = value {
        xattr::set(path, XATTR, value).expect("setxattr");
    }
}

/// Unmounts the tmpfs (and so lets the temp dir go) however the test ends.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The generated tree: what it holds, by path relative to its root ("./…", as capscan prints it when
/// started at ".").
struct Tree {
    /// The mounts are declared first so that they are dropped first: they must be gone before the
    /// directories are removed. A value setxattr refuses is bind-mounted from an image in `_raw_work`.
    _raw: Option<RawImage>,
    _raw_work: tempfile::TempDir,
    _mount: Option<Unmount>,
    dir: tempfile::TempDir,
    /// Path → expected getcap text, or None for a malformed value.
    expected: BTreeMap<Vec<u8>, Option<String>>,
    raw: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Tree {
    fn root(&self) -> &Path {
        self.dir.path()
    }
}

/// The tree, or `None` (the skip said) where a fixture cannot be made here.
fn build_tree(with_mount: bool) -> Option<Tree> {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    fs::set_permissions(root, fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut expected = BTreeMap::new();
    let mut raw = BTreeMap::new();
    let mut add = |rel: &[u8], value: FileCaps, text: &str| {
        let path = root.join(OsStr::from_bytes(rel));
        let bytes = value.encode();
        file_with(&path, Some(&bytes));
        let key = [b"./", rel].concat();
        expected.insert(key.clone(), Some(text.to_string()));
        raw.insert(key, bytes);
    };
    for d in [
        "caps",
        "bad",
        "setid",
        "links",
        "names",
        "locked",
        "deep/a/b/c",
    ] {
        fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    add(
        b"caps/v2_ep",
        caps(Revision::V2, true, NET_RAW, 0, None),
        "cap_net_raw=ep",
    );
    add(
        b"caps/v2_p",
        caps(Revision::V2, false, NET_RAW | 1, 0, None),
        "cap_chown,cap_net_raw=p",
    );
    add(
        b"caps/v3_rootid",
        caps(Revision::V3, true, 0, 1 << 5, Some(1000)),
        "cap_kill=ei",
    );
    add(
        b"caps/inheritable_only",
        caps(Revision::V2, false, 0, 1 << 10, None),
        "cap_net_bind_service=i",
    );
    add(
        b"caps/unknown_bits",
        caps(Revision::V2, true, NET_RAW | 1 << 41 | 1 << 63, 0, None),
        "cap_net_raw=ep 41,63+ep",
    );
    add(b"caps/empty", caps(Revision::V2, false, 0, 0, None), "=");
    add(
        b"caps/python3",
        caps(Revision::V2, true, 1 << 7, 0, None),
        "cap_setuid=ep",
    );
    add(
        b"deep/a/b/c/tool",
        caps(Revision::V2, true, 1 << 12, 0, None),
        "cap_net_admin=ep",
    );
    add(
        b"names/new\nline",
        caps(Revision::V2, true, NET_RAW, 0, None),
        "cap_net_raw=ep",
    );
    add(
        b"names/esc\x1b[31mred",
        caps(Revision::V2, true, NET_RAW, 0, None),
        "cap_net_raw=ep",
    );
    add(
        b"names/bad\xff\xfeutf8",
        caps(Revision::V2, true, NET_RAW, 0, None),
        "cap_net_raw=ep",
    );
    add(
        b"names/it's a \\ name",
        caps(Revision::V2, true, NET_RAW, 0, None),
        "cap_net_raw=ep",
    );
    add(
        b"locked/hidden",
        caps(Revision::V2, true, NET_RAW, 0, None),
        "cap_net_raw=ep",
    );
    // A zero-length value: every execve of the file fails with EINVAL. Kernels before some 6.18 builds
    // let any owner set it; where setxattr refuses it, it is written raw into an image.
    file_with(&root.join("bad/zero_length"), None);
    let raw_work = tempfile::tempdir().expect("tempdir");
    let raw_image =
        match RawImage::put_values(raw_work.path(), &[(root.join("bad/zero_length"), vec![])]) {
            Ok(image) => image,
            Err(why) => {
                skip(&format!("cannot make a zero-length value: {why}"));
                return None;
            }
        };
    expected.insert(b"./bad/zero_length".to_vec(), None);
    file_with(&root.join("caps/plain"), None);
    file_with(&root.join("setid/suid"), None);
    fs::set_permissions(root.join("setid/suid"), fs::Permissions::from_mode(0o4755)).unwrap();
    file_with(&root.join("setid/sgid"), None);
    fs::set_permissions(root.join("setid/sgid"), fs::Permissions::from_mode(0o2755)).unwrap();
    symlink("../caps/v2_ep", root.join("links/to_cap")).unwrap();
    symlink("../caps", root.join("links/to_dir")).unwrap();
    symlink("loop2", root.join("links/loop1")).unwrap();
    symlink("loop1", root.join("links/loop2")).unwrap();
    symlink("nowhere", root.join("links/dangling")).unwrap();
    fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();

    let mut mount = None;
    if with_mount && is_root() {
        let point = root.join("mnt");
        fs::create_dir(&point).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "capscan-test"])
            .arg(&point)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            mount = Some(Unmount(point.clone()));
            let value = caps(Revision::V2, true, NET_RAW, 0, None);
            file_with(&point.join("on_tmpfs"), Some(&value.encode()));
            expected.insert(b"./mnt/on_tmpfs".to_vec(), Some("cap_net_raw=ep".into()));
            raw.insert(b"./mnt/on_tmpfs".to_vec(), value.encode());
        }
    }
    Some(Tree {
        dir,
        expected,
        raw,
        _raw: raw_image,
        _raw_work: raw_work,
        _mount: mount,
    })
}

/// The JSON records of a run, by path.
fn records(out: &[u8]) -> BTreeMap<Vec<u8>, serde_json::Value> {
    String::from_utf8(out.to_vec())
        .expect("JSON output is UTF-8")
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("NDJSON line");
            let path = match &value["path"] {
                serde_json::Value::String(s) => s.as_bytes().to_vec(),
                other => capcore::hex::parse_bytes(other["bytes"].as_str().unwrap()).unwrap(),
            };
            (path, value)
        })
        .collect()
}

fn assert_no_control_bytes(what: &str, bytes: &[u8]) {
    for line in bytes.split(|&b| b == b'\n') {
        assert!(
            !line.iter().any(|&b| b < 0x20 || b == 0x7f),
            "{what}: raw control byte in {:?}",
            String::from_utf8_lossy(line)
        );
    }
}

fn skip(reason: &str) {
    crate::util::skipped(reason);
}

#[test]
fn finds_exactly_what_the_tree_holds() {
    if !is_root() {
        return skip("needs root to set security.capability");
    }
    let Some(tree) = build_tree(true) else {
        return;
    };
    let out = capscan(tree.root(), &[os("--json"), os(".")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found = records(&out.stdout);
    let got: BTreeMap<Vec<u8>, Option<String>> = found
        .iter()
        .map(|(path, r)| (path.clone(), r["text"].as_str().map(str::to_string)))
        .collect();
    assert_eq!(
        got,
        tree.expected,
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v3 = &found[&b"./caps/v3_rootid".to_vec()];
    assert_eq!(v3["version"], 3);
    assert_eq!(v3["rootid"], 1000);
    // The file's effective flag is a boolean under its own name: `effective` is always a set in JSON.
    assert_eq!(v3["effective_flag"], true);
    assert!(v3.get("effective").is_none(), "{v3}");
    assert_eq!(v3["inheritable"]["caps"][0], "cap_kill");
    let high = &found[&b"./caps/unknown_bits".to_vec()];
    assert_eq!(high["permitted"]["hex"], "8000020000002000");
    let bad = &found[&b"./bad/zero_length".to_vec()];
    assert_eq!(
        (bad["kind"].as_str(), bad["error"].as_str()),
        (Some("malformed"), Some("EINVAL"))
    );
}

#[test]
fn the_lgetxattr_fallback_finds_the_same() {
    if !is_root() {
        return skip("needs root to set security.capability");
    }
    let Some(tree) = build_tree(true) else {
        return;
    };
    let fast = capscan(tree.root(), &[os("--json"), os(".")]);
    let slow = capscan_env(
        tree.root(),
        &[os("--json"), os(".")],
        Some(("CAPKIT_NO_GETXATTRAT", "1")),
    );
    assert_eq!(
        String::from_utf8_lossy(&fast.stdout),
        String::from_utf8_lossy(&slow.stdout)
    );
    assert_eq!(records(&slow.stdout).len(), tree.expected.len());
}

#[test]
fn pseudo_filesystems_are_skipped_by_the_mount_table() {
    if !is_root() {
        return skip("needs root to mount procfs");
    }
    let Some(tree) = build_tree(false) else {
        return;
    };
    let point = tree.root().join("not-named-proc");
    fs::create_dir(&point).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "proc", "capscan-test-proc"])
        .arg(&point)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        return skip("could not mount procfs");
    }
    let _unmount = Unmount(point.clone());
    // Inside a walk the procfs is not entered; with --all-fs it is, and it has no xattrs to read.
    let skipped = capscan(tree.root(), &[os("--getcap"), os(".")]);
    assert!(!String::from_utf8_lossy(&skipped.stderr).contains("not-named-proc"));
    let all = capscan(tree.root(), &[os("--getcap"), os("--all-fs"), os(".")]);
    let stderr = String::from_utf8_lossy(&all.stderr);
    assert!(
        stderr.contains("not-named-proc: the filesystem has no extended attributes"),
        "{stderr}"
    );
    assert_eq!(all.stdout, skipped.stdout);
}

#[test]
fn getcap_format_matches_getcap() {
    if !is_root() || !have("getcap") {
        return skip("needs root and getcap");
    }
    let Some(tree) = build_tree(false) else {
        return;
    };
    // Names with control bytes are escaped by capscan and raw in getcap, so compare the plain subtrees.
    for sub in ["caps", "deep", "setid", "links", "bad"] {
        let ours = capscan(tree.root(), &[os("--getcap"), os(sub)]);
        let theirs = Command::new("getcap")
            .args(["-r", sub])
            .current_dir(tree.root())
            .output()
            .unwrap();
        let mut lines: Vec<&str> = std::str::from_utf8(&theirs.stdout)
            .unwrap()
            .lines()
            .collect();
        lines.sort_by_key(|l| l.split(' ').next().unwrap_or("").to_string());
        let expected: String = lines.iter().map(|l| format!("{l}\n")).collect();
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            expected,
            "subtree {sub}"
        );
    }
    let with_rootid = capscan(
        tree.root(),
        &[os("--getcap"), os("-n"), os("caps/v3_rootid")],
    );
    let theirs = Command::new("getcap")
        .args(["-n", "caps/v3_rootid"])
        .current_dir(tree.root())
        .output()
        .unwrap();
    assert_eq!(with_rootid.stdout, theirs.stdout);
}

#[test]
fn restore_script_reproduces_every_value() {
    if !is_root() || !have("setcap") {
        return skip("needs root and setcap");
    }
    let Some(tree) = build_tree(false) else {
        return;
    };
    let special = have("setfattr");
    if special {
        // An effective bit with empty sets: setcap cannot write it, the script uses setfattr.
        let odd = caps(Revision::V2, true, 0, 0, None).encode();
        file_with(&tree.root().join("caps/effective_empty"), Some(&odd));
        let mut tree_raw = tree.raw.clone();
        tree_raw.insert(b"./caps/effective_empty".to_vec(), odd);
        return check_restore(&tree, &tree_raw);
    }
    check_restore(&tree, &tree.raw);
}

fn check_restore(tree: &Tree, raw: &BTreeMap<Vec<u8>, Vec<u8>>) {
    let script = capscan(tree.root(), &[os("--restore"), os(".")]);
    assert_eq!(script.status.code(), Some(0));
    assert_no_control_bytes("restore", &script.stdout);
    let copy = tempfile::tempdir().unwrap();
    // A copy without xattrs (cp without -a/--preserve drops them).
    let status = Command::new("cp")
        .arg("-r")
        .arg(tree.root().join("."))
        .arg(copy.path())
        .status()
        .unwrap();
    assert!(status.success());
    for rel in raw.keys() {
        let path = copy.path().join(OsStr::from_bytes(rel));
        assert_eq!(xattr::get(&path, XATTR).unwrap(), None, "copy kept {rel:?}");
    }
    let script_path = copy.path().join("restore.sh");
    fs::write(&script_path, &script.stdout).unwrap();
    let run = Command::new("sh")
        .arg(&script_path)
        .current_dir(copy.path())
        .output()
        .unwrap();
    // The malformed value cannot be restored: the script names it and exits 1.
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "capscan restore: not restored: ./bad/zero_length: malformed security.capability (EINVAL): \
         the kernel does not give its bytes"
    );
    for (rel, bytes) in raw {
        let path = copy.path().join(OsStr::from_bytes(rel));
        let restored = xattr::get(&path, XATTR).unwrap();
        assert_eq!(restored.as_deref(), Some(bytes.as_slice()), "{rel:?}");
    }
    // The script lists the malformed value it cannot restore.
    let text = String::from_utf8_lossy(&script.stdout);
    assert!(text.contains("# not restored: ./bad/zero_length"), "{text}");
}

#[test]
fn baseline_reports_each_kind_of_drift() {
    if !is_root() {
        return skip("needs root to set security.capability");
    }
    let Some(tree) = build_tree(false) else {
        return;
    };
    let root = tree.root();
    let json = capscan(root, &[os("--json"), os(".")]);
    let getcap = capscan(root, &[os("--getcap"), os("-n"), os(".")]);
    fs::write(root.join("base.json"), &json.stdout).unwrap();
    fs::write(root.join("base.getcap"), &getcap.stdout).unwrap();
    // A baseline written by a capscan from before `effective_flag` has the flag under `effective`.
    let text = String::from_utf8(json.stdout.clone()).unwrap();
    assert!(text.contains("\"effective_flag\":true"), "{text}");
    let old = text.replace("\"effective_flag\":", "\"effective\":");
    fs::write(root.join("base.old.json"), &old).unwrap();
    // The old key is read, not defaulted: a flag flipped in it is drift.
    let flipped: Vec<String> = old
        .lines()
        .map(|line| {
            if line.starts_with("{\"path\":\"./caps/v2_ep\"") {
                line.replace("\"effective\":true", "\"effective\":false")
            } else {
                line.to_string()
            }
        })
        .collect();
    fs::write(root.join("base.flipped.json"), flipped.join("\n")).unwrap();
    let drift = capscan(root, &[os("--baseline"), os("base.flipped.json"), os(".")]);
    assert_eq!(drift.status.code(), Some(1));
    let text = String::from_utf8_lossy(&drift.stdout);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("changed  ./caps/v2_ep"), "{text}");
    for base in ["base.json", "base.old.json", "base.getcap"] {
        let same = capscan(root, &[os("--baseline"), os(base), os(".")]);
        assert_eq!(
            same.status.code(),
            Some(0),
            "{base}: {}",
            String::from_utf8_lossy(&same.stdout)
        );
        assert!(same.stdout.is_empty());
    }
    // Added: cap_setuid on a new python; removed: v2_p; changed: v2_ep gains cap_net_admin.
    let python = caps(Revision::V2, true, 1 << 7, 0, None);
    file_with(&root.join("caps/python3.12"), Some(&python.encode()));
    xattr::remove(root.join("caps/v2_p"), XATTR).unwrap();
    let changed = caps(Revision::V2, true, NET_RAW | 1 << 12, 0, None);
    xattr::set(root.join("caps/v2_ep"), XATTR, &changed.encode()).unwrap();
    for base in ["base.json", "base.getcap"] {
        let drift = capscan(root, &[os("--baseline"), os(base), os(".")]);
        assert_eq!(drift.status.code(), Some(1), "{base}");
        assert_no_control_bytes("drift", &drift.stdout);
        let text = String::from_utf8_lossy(&drift.stdout);
        let rows: Vec<(String, String)> = text
            .lines()
            .skip(1)
            .map(|l| {
                let mut words = l.split_whitespace();
                (
                    words.next().unwrap().to_string(),
                    words.next().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                ("added".to_string(), "./caps/python3.12".to_string()),
                ("changed".to_string(), "./caps/v2_ep".to_string()),
                ("removed".to_string(), "./caps/v2_p".to_string()),
            ],
            "{base}: {text}"
        );
        let as_json = capscan(root, &[os("--json"), os("--baseline"), os(base), os(".")]);
        let drift = records(&as_json.stdout);
        assert_eq!(
            drift[&b"./caps/v2_ep".to_vec()]["now"]["text"],
            "cap_net_admin,cap_net_raw=ep"
        );
        assert_eq!(drift[&b"./caps/v2_p".to_vec()]["drift"], "removed");
    }
    let broken = root.join("broken");
    fs::write(&broken, "this is not a baseline\n").unwrap();
    let bad = capscan(root, &[os("--baseline"), broken.as_os_str(), os(".")]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn audit_flags_dangerous_files() {
    if !is_root() {
        return skip("needs root to set security.capability");
    }
    let Some(tree) = build_tree(false) else {
        return;
    };
    let root = tree.root();
    let owned = root.join("caps/v2_ep");
    rustix::fs::chown(&owned, Some(rustix::fs::Uid::from_raw(1000)), None).unwrap();
    // chown drops the capability (killpriv): set it again.
    xattr::set(
        &owned,
        XATTR,
        &caps(Revision::V2, true, NET_RAW, 0, None).encode(),
    )
    .unwrap();
    let out = capscan(root, &[os("--audit"), os("--json"), os(".")]);
    assert_eq!(out.status.code(), Some(1));
    let found = records(&out.stdout);
    let rules = |rel: &[u8]| -> Vec<String> {
        found[&rel.to_vec()]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(rules(b"./caps/python3"), vec!["root_equivalent", "program"]);
    assert_eq!(rules(b"./bad/zero_length"), vec!["malformed"]);
    assert_eq!(rules(b"./caps/v2_ep"), vec!["writable"]);
    assert_eq!(rules(b"./caps/v2_p"), vec!["root_equivalent"]);
    assert!(rules(b"./caps/unknown_bits").is_empty());
    let table = capscan(root, &[os("--audit"), os(".")]);
    assert_eq!(table.status.code(), Some(1));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("! root_equivalent: grants root-equivalent cap_setuid"),
        "{text}"
    );
    assert!(text.contains("! program: an interpreter"), "{text}");
}

#[test]
fn setuid_excludes_symlinks_and_hostile_names() {
    if !is_root() {
        return skip("needs root to set security.capability");
    }
    let Some(tree) = build_tree(false) else {
        return;
    };
    let root = tree.root();
    let out = capscan(root, &[os("--setuid"), os("--json"), os(".")]);
    let found = records(&out.stdout);
    let suid = &found[&b"./setid/suid".to_vec()];
    assert_eq!(
        (suid["kind"].as_str(), suid["setuid"].as_bool()),
        (Some("setid"), Some(true))
    );
    assert_eq!(suid["owner"]["user"], "root");
    assert_eq!(suid["mode"], "4755");
    assert_eq!(found[&b"./setid/sgid".to_vec()]["setgid"], true);
    // Symlinks are never followed: nothing under links/ is reported.
    assert!(found.keys().all(|p| !p.starts_with(b"./links/")));

    let excluded = capscan(
        root,
        &[
            os("--json"),
            os("--exclude"),
            os("names"),
            os("--exclude"),
            os("**/b/c"),
            os("."),
        ],
    );
    let found = records(&excluded.stdout);
    assert!(found
        .keys()
        .all(|p| !p.starts_with(b"./names/") && !p.starts_with(b"./deep/a/b/c")));
    assert!(found.contains_key(b"./caps/v2_ep".as_slice()));

    // No format lets a control byte through (but --getcap into a pipe, which writes names raw, as getcap
    // does; see getcap_output_on_a_terminal_is_escaped).
    for args in [
        vec![os(".")],
        vec![os("--json"), os(".")],
        vec![os("--restore"), os(".")],
        vec![os("--audit"), os("--setuid"), os(".")],
    ] {
        let mut args = args;
        args.insert(0, os("--setuid"));
        args.dedup();
        let out = capscan(root, &args);
        assert_no_control_bytes(&format!("{args:?} stdout"), &out.stdout);
        assert_no_control_bytes(&format!("{args:?} stderr"), &out.stderr);
    }
    let table = capscan(root, &[os("names")]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("names/new\\nline"), "{text}");
    assert!(text.contains("names/esc\\x1b[31mred"), "{text}");
    assert!(text.contains("names/bad\\xff\\xfeutf8"), "{text}");
}

#[test]
fn one_file_system_stays_off_the_tmpfs() {
    if !is_root() {
        return skip("needs root to mount a tmpfs");
    }
    let Some(tree) = build_tree(true) else {
        return;
    };
    if tree._mount.is_none() {
        return skip("could not mount a tmpfs");
    }
    let all = records(&capscan(tree.root(), &[os("--json"), os(".")]).stdout);
    assert!(all.contains_key(b"./mnt/on_tmpfs".as_slice()));
    let one = records(&capscan(tree.root(), &[os("--json"), os("-x"), os(".")]).stdout);
    assert!(!one.contains_key(b"./mnt/on_tmpfs".as_slice()));
    assert!(one.contains_key(b"./caps/v2_ep".as_slice()));
    // Started inside the tmpfs, -x stays on it.
    let inside =
        records(&capscan(&tree.root().join("mnt"), &[os("--json"), os("-x"), os(".")]).stdout);
    assert!(inside.contains_key(b"./on_tmpfs".as_slice()));
}

#[test]
fn unreadable_directories_are_counted_and_the_scan_finishes() {
    if !is_root() || !have("setpriv") {
        return skip("needs root and setpriv to run capscan as another user");
    }
    let Some(tree) = build_tree(false) else {
        return;
    };
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_capscan"))
        .args(["--getcap", "."])
        .current_dir(tree.root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("capscan: ./locked: Permission denied (os error 13)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("capscan: 1 path could not be read: 1 × Permission denied"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("./caps/v2_ep cap_net_raw=ep"), "{stdout}");
    assert!(!stdout.contains("locked/hidden"));
}

#[test]
fn bad_usage() {
    let dir = tempfile::tempdir().unwrap();
    let out = capscan(dir.path(), &[os("--json"), os("--getcap")]);
    assert_eq!(out.status.code(), Some(2));
    for flag in ["--generate", "--generate-completions"] {
        let out = capscan(dir.path(), &[os(flag), os("bash")]);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("capscan"));
    }
    let man = capscan(dir.path(), &[os("--generate"), os("man")]);
    assert_eq!(man.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&man.stdout).contains(".TH capscan"));
}

// ---- issue 9: exact on a hostile machine ----

/// A v3 value with a rootid.
fn v3(p: u64, rootid: u32) -> Vec<u8> {
    caps(Revision::V3, true, p, 0, Some(rootid)).encode()
}

fn v2_net_raw() -> Vec<u8> {
    caps(Revision::V2, true, NET_RAW, 0, None).encode()
}

/// Runs a command and kills it if it has not finished within `limit`; `None` when it was killed.
fn run_bounded(command: &mut Command, limit: std::time::Duration) -> Option<Output> {
    use std::process::Stdio;
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = std::time::Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return Some(child.wait_with_output().expect("output"));
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Removes files the test made outside its temp dir (in /dev), however it ends.
struct RemoveFiles(Vec<PathBuf>);

impl Drop for RemoveFiles {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = fs::remove_file(path);
        }
    }
}

fn mount(fs_type: &str, point: &Path) -> Option<Unmount> {
    fs::create_dir_all(point).ok()?;
    let ok = Command::new("mount")
        .args(["-t", fs_type, "-o", "nosuid", "capscan-test"])
        .arg(point)
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| Unmount(point.to_path_buf()))
}

#[test]
fn devtmpfs_tmpfs_and_mounts_below_a_skipped_one_are_walked() {
    if !is_root() {
        return skip("needs root to mount and to set security.capability");
    }
    // Files on the real devtmpfs (/dev) and on /dev/shm, made and removed by this test.
    let tag = format!("capscan-test-{}", std::process::id());
    let on_dev = PathBuf::from(format!("/dev/{tag}"));
    let on_shm = PathBuf::from(format!("/dev/shm/{tag}"));
    let _cleanup = RemoveFiles(vec![on_dev.clone(), on_shm.clone()]);
    file_with(&on_dev, Some(&v2_net_raw()));
    let shm = Path::new("/dev/shm").is_dir();
    if shm {
        file_with(&on_shm, Some(&v2_net_raw()));
    }
    let found = records(&capscan(Path::new("/"), &[os("--json"), os("/dev")]).stdout);
    assert!(
        found.contains_key(on_dev.as_os_str().as_bytes()),
        "{found:?}"
    );
    if shm {
        assert!(found.contains_key(on_shm.as_os_str().as_bytes()));
    }

    // A tmpfs mounted below sysfs: sysfs is passed through, not listed; the tmpfs is walked.
    let dir = tempfile::tempdir().unwrap();
    let Some(_sys) = mount("sysfs", &dir.path().join("sys")) else {
        return skip("could not mount sysfs");
    };
    let Some(_inner) = mount("tmpfs", &dir.path().join("sys/kernel")) else {
        return skip("could not mount a tmpfs below sysfs");
    };
    file_with(&dir.path().join("sys/kernel/planted"), Some(&v2_net_raw()));
    // A single file bind-mounted over a sysfs file (as containers mask /proc/kcore) is read too.
    let source = tempfile::NamedTempFile::new().unwrap();
    file_with(source.path(), Some(&v3(NET_RAW, 1000)));
    let masked = ["power", "fs", "block", "firmware"]
        .iter()
        .filter_map(|sub| fs::read_dir(dir.path().join("sys").join(sub)).ok())
        .flat_map(|entries| entries.flatten())
        .map(|entry| entry.path())
        .find(|path| fs::symlink_metadata(path).is_ok_and(|m| m.is_file()))
        .unwrap_or_else(|| dir.path().join("sys/none"));
    let bound = Command::new("mount")
        .arg("--bind")
        .arg(source.path())
        .arg(&masked)
        .status()
        .is_ok_and(|s| s.success());
    let _masked = bound.then(|| Unmount(masked.clone()));
    assert!(
        bound || !masked.is_file(),
        "could not bind-mount over {masked:?}"
    );
    let out = capscan(dir.path(), &[os("--json"), os(".")]);
    let found = records(&out.stdout);
    let mut expected = vec![b"./sys/kernel/planted".to_vec()];
    if bound {
        let rel = masked.strip_prefix(dir.path()).unwrap();
        expected.push([b"./", rel.as_os_str().as_bytes()].concat());
        expected.sort();
    }
    assert_eq!(
        found.keys().cloned().collect::<Vec<_>>(),
        expected,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // -x stays on the starting filesystem; --exclude covers the way there.
    for args in [
        vec![os("--json"), os("-x"), os(".")],
        vec![os("--json"), os("--exclude"), os("sys"), os(".")],
        vec![os("--json"), os("--exclude"), os("./sys/**"), os(".")],
    ] {
        let out = capscan(dir.path(), &args);
        assert!(
            out.stdout.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn values_on_every_file_type_are_listed_with_their_type() {
    if !is_root() {
        return skip("needs root to make device nodes and set security.capability");
    }
    use rustix::fs::{mknodat, FileType, Mode, CWD};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let value = v2_net_raw();
    let node = |name: &str, kind: FileType, dev: u64| {
        mknodat(CWD, root.join(name), kind, Mode::from_raw_mode(0o644), dev).expect("mknod");
    };
    node("fifo", FileType::Fifo, 0);
    node("char", FileType::CharacterDevice, rustix::fs::makedev(1, 3));
    node("block", FileType::BlockDevice, rustix::fs::makedev(7, 0));
    let _socket = std::os::unix::net::UnixListener::bind(root.join("socket")).unwrap();
    fs::create_dir(root.join("dir")).unwrap();
    file_with(&root.join("file"), None);
    symlink("file", root.join("link")).unwrap();
    for name in ["fifo", "char", "block", "socket", "dir", "link", "file"] {
        xattr::set(root.join(name), XATTR, &value).expect("setxattr (no dereference)");
    }
    let found = records(&capscan(root, &[os("--json"), os(".")]).stdout);
    let types: BTreeMap<String, String> = found
        .iter()
        .map(|(p, r)| {
            let name = String::from_utf8_lossy(&p[2..]).into_owned();
            (name, r["type"].as_str().unwrap_or("?").to_string())
        })
        .collect();
    let expected: BTreeMap<String, String> = [
        ("block", "block_device"),
        ("char", "char_device"),
        ("dir", "directory"),
        ("fifo", "fifo"),
        ("file", "file"),
        ("link", "symlink"),
        ("socket", "socket"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(types, expected);
    let table = String::from_utf8_lossy(&capscan(root, &[os(".")]).stdout).into_owned();
    assert!(table.contains("cap_net_raw=ep [on a fifo]"), "{table}");
    assert!(table.contains("[on a char device]"), "{table}");
    // --getcap lists what getcap -r lists, and says on stderr what getcap -r leaves out.
    if have("getcap") {
        let ours = capscan(root, &[os("--getcap"), os(".")]);
        let theirs = Command::new("getcap")
            .args(["-r", "."])
            .current_dir(root)
            .output()
            .unwrap();
        let sorted = |bytes: &[u8]| {
            let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
            lines.sort();
            lines.join(&b'\n')
        };
        assert_eq!(
            String::from_utf8_lossy(&sorted(&ours.stdout)),
            String::from_utf8_lossy(&sorted(&theirs.stdout))
        );
        let stderr = String::from_utf8_lossy(&ours.stderr);
        assert!(stderr.contains("./dir: a directory carries"), "{stderr}");
        assert!(stderr.contains("./link: a symlink carries"), "{stderr}");
        // A getcap-form baseline knows nothing of the directory and the symlink: no false drift.
        let base = tempfile::NamedTempFile::new().unwrap();
        fs::write(base.path(), &theirs.stdout).unwrap();
        let drift = capscan(root, &[os("--baseline"), base.path().as_os_str(), os(".")]);
        assert_eq!(
            drift.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&drift.stdout)
        );
    }
}

/// A tree of hostile names and large rootids, for the getcap comparison: relative path → value.
fn hostile_tree(root: &Path) -> Vec<Vec<u8>> {
    let names: [&[u8]; 9] = [
        b"plain",
        b"new\nline",
        b"esc\x1b[31mred",
        b"bad\xff\xfeutf8",
        b"back\\slash \\n",
        b"tab\there",
        b"-dash",
        b"rootid_high",
        b"rootid_max",
    ];
    let mut made = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let value = match *name {
            b"rootid_high" => v3(NET_RAW, 1 << 31),
            b"rootid_max" => v3(NET_RAW | 1, u32::MAX - 1),
            _ if i % 2 == 0 => v3(1 << 12, 1000 + i as u32),
            _ => v2_net_raw(),
        };
        file_with(&root.join(OsStr::from_bytes(name)), Some(&value));
        made.push([b"./", *name].concat());
    }
    made
}

#[test]
fn getcap_output_is_byte_for_byte_getcaps() {
    if !is_root() || !have("getcap") {
        return skip("needs root and getcap");
    }
    let dir = tempfile::tempdir().unwrap();
    let mut paths = hostile_tree(dir.path());
    paths.sort();
    for rootid in [false, true] {
        let mut args = vec![os("--getcap")];
        let mut getcap_args: Vec<&OsStr> = Vec::new();
        if rootid {
            args.push(os("-n"));
            getcap_args.push(os("-n"));
        }
        args.push(os("."));
        let ours = capscan(dir.path(), &args);
        assert_eq!(ours.status.code(), Some(0));
        // getcap on each file, in sorted order, is what the sorted scan must print.
        let mut expected = Vec::new();
        for path in &paths {
            let one = Command::new("getcap")
                .args(&getcap_args)
                .arg(OsStr::from_bytes(path))
                .current_dir(dir.path())
                .output()
                .unwrap();
            expected.extend_from_slice(&one.stdout);
        }
        assert_eq!(
            ours.stdout,
            expected,
            "\nours:\n{}\ngetcap:\n{}",
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&expected)
        );
        // And the same bytes as `getcap -r`, in another order.
        let mut recursive = Command::new("getcap")
            .args(&getcap_args)
            .args(["-r", "."])
            .current_dir(dir.path())
            .output()
            .unwrap()
            .stdout;
        let mut sorted_ours = ours.stdout.clone();
        recursive.sort_unstable();
        sorted_ours.sort_unstable();
        assert_eq!(sorted_ours, recursive);
    }
    // Starting paths are joined as nftw joins them (trailing slashes dropped).
    let parent = dir.path().parent().unwrap();
    let name = dir
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    for start in [format!("{name}//"), format!(".//{name}/")] {
        let mut ours = capscan(parent, &[os("--getcap"), os(&start)]).stdout;
        let mut theirs = Command::new("getcap")
            .args(["-r", &start])
            .current_dir(parent)
            .output()
            .unwrap()
            .stdout;
        ours.sort_unstable();
        theirs.sort_unstable();
        assert_eq!(ours, theirs, "{start}");
    }
    let high = capscan(dir.path(), &[os("--getcap"), os("-n"), os("rootid_high")]);
    assert_eq!(
        String::from_utf8_lossy(&high.stdout),
        "rootid_high cap_net_raw=ep [rootid=-2147483648]\n"
    );
    // capscan's own formats keep the kernel's uid.
    let json = records(&capscan(dir.path(), &[os("--json"), os(".")]).stdout);
    assert_eq!(json[&b"./rootid_high".to_vec()]["rootid"], 2147483648u64);
    assert_eq!(json[&b"./rootid_max".to_vec()]["rootid"], 4294967294u64);
    // A getcap-format baseline written by --getcap (raw names, signed rootids) reads back exactly.
    let base = tempfile::NamedTempFile::new().unwrap();
    let raw = capscan(dir.path(), &[os("--getcap"), os("-n"), os(".")]);
    fs::write(base.path(), &raw.stdout).unwrap();
    let drift = capscan(
        dir.path(),
        &[os("--baseline"), base.path().as_os_str(), os(".")],
    );
    assert_eq!(
        drift.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&drift.stdout),
        String::from_utf8_lossy(&drift.stderr)
    );
}

#[test]
fn getcap_output_on_a_terminal_is_escaped() {
    if !is_root() || !have("script") {
        return skip("needs root and script (util-linux) for a pty");
    }
    let dir = tempfile::tempdir().unwrap();
    hostile_tree(dir.path());
    let command = format!(
        "cd '{}' && '{}' --getcap .",
        dir.path().display(),
        env!("CARGO_BIN_EXE_capscan")
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    assert!(text.contains("./new\\nline cap_net_raw=ep"), "{text}");
    assert!(text.contains("./esc\\x1b[31mred "), "{text}");
    assert!(text.contains("./bad\\xff\\xfeutf8 "), "{text}");
    assert_no_control_bytes("pty", text.as_bytes());
}

#[test]
fn unreadable_values_have_a_record_in_every_format() {
    if !is_root() || !have("unshare") {
        return skip("needs root and unshare");
    }
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    // rootid 1000 is not mapped in a user namespace that maps only root: getxattr answers EOVERFLOW.
    file_with(&dir.path().join("nsd"), Some(&v3(NET_RAW, 1000)));
    file_with(&dir.path().join("ping"), Some(&v2_net_raw()));
    let base = dir.path().join("base.json");
    let json = capscan(dir.path(), &[os("--json"), os(".")]);
    fs::write(&base, &json.stdout).unwrap();
    let in_userns = |args: &[&str]| {
        let out = Command::new("unshare")
            .args(["--user", "--map-root-user", "--"])
            .arg(env!("CARGO_BIN_EXE_capscan"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, table, stderr) = in_userns(&["."]);
    if code != Some(0) || !table.contains("./ping") {
        return skip("cannot run capscan in a new user namespace here");
    }
    assert!(
        table.contains("./nsd") && table.contains("UNREADABLE (EOVERFLOW)"),
        "{table}{stderr}"
    );
    let (_, json, _) = in_userns(&["--json", "."]);
    let found = records(json.as_bytes());
    let nsd = &found[&b"./nsd".to_vec()];
    assert_eq!(
        (nsd["kind"].as_str(), nsd["error"].as_str()),
        (Some("unreadable"), Some("EOVERFLOW"))
    );
    assert_eq!(nsd["type"], "file");
    let (_, getcap, stderr) = in_userns(&["--getcap", "."]);
    assert_eq!(getcap, "./ping cap_net_raw=ep\n");
    assert!(
        stderr.contains("./nsd: security.capability cannot be read"),
        "{stderr}"
    );
    let (_, script, _) = in_userns(&["--restore", "."]);
    assert!(script.contains("fail './nsd'"), "{script}");
    let (code, drift, _) = in_userns(&["--baseline", "base.json", "."]);
    assert_eq!(code, Some(1));
    assert!(
        drift.contains("changed  ./nsd") && drift.contains("UNREADABLE (EOVERFLOW)"),
        "{drift}"
    );
}

#[test]
fn a_value_rewritten_while_it_is_read_is_not_called_malformed() {
    if !is_root() {
        return skip("needs root to set security.capability");
    }
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = (0..16).map(|i| dir.path().join(format!("f{i}"))).collect();
    for file in &files {
        file_with(file, Some(&v2_net_raw()));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        let files = files.clone();
        // Flips every file between a valid v2 and a valid v3 value (20 and 24 bytes), bounded.
        std::thread::spawn(move || {
            let (a, b) = (v2_net_raw(), v3(NET_RAW, 1000));
            for round in 0..20_000_000u64 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let value = if round % 2 == 0 { &a } else { &b };
                for file in &files {
                    let _ = xattr::set(file, XATTR, value);
                }
            }
        })
    };
    let start = std::time::Instant::now();
    let mut malformed = Vec::new();
    for _ in 0..200 {
        if start.elapsed() > std::time::Duration::from_secs(40) {
            break;
        }
        let out = capscan(dir.path(), &[os("--json"), os(".")]);
        for (path, record) in records(&out.stdout) {
            if record["kind"] != "capabilities" {
                malformed.push((String::from_utf8_lossy(&path).into_owned(), record));
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(
        malformed.is_empty(),
        "{} valid value(s) reported as {:?}",
        malformed.len(),
        malformed.first()
    );
}

/// A directory chain deeper than PATH_MAX, made with descriptors (no path is ever too long).
fn deep_dir(root: &Path, levels: usize) -> (std::os::fd::OwnedFd, Vec<u8>) {
    use rustix::fs::{mkdirat, openat, Mode, OFlags, CWD};
    let mut fd = openat(CWD, root, OFlags::DIRECTORY | OFlags::RDONLY, Mode::empty()).unwrap();
    let mut rel = b".".to_vec();
    for level in 0..levels {
        let name = format!("{level:03}").repeat(60);
        mkdirat(&fd, name.as_str(), Mode::from_raw_mode(0o755)).unwrap();
        fd = openat(
            &fd,
            name.as_str(),
            OFlags::DIRECTORY | OFlags::RDONLY,
            Mode::empty(),
        )
        .unwrap();
        rel.push(b'/');
        rel.extend_from_slice(name.as_bytes());
    }
    (fd, rel)
}

/// `/proc/self/fd/N/name`: a short path to a file in a deep directory (for xattr calls).
fn via_fd(fd: &std::os::fd::OwnedFd, name: &[u8]) -> PathBuf {
    use std::os::fd::AsRawFd;
    let mut path = format!("/proc/self/fd/{}/", fd.as_raw_fd()).into_bytes();
    path.extend_from_slice(name);
    PathBuf::from(OsStr::from_bytes(&path))
}

/// Makes files of every kind with every kind of value in `dir`; name → value (None: malformed). The
/// malformed value is left to the caller, to be put with [`RawImage::put_values`]: its path comes last.
fn restore_cases(
    dir: &std::os::fd::OwnedFd,
    malformed: &mut Vec<PathBuf>,
) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    use rustix::fs::{mkdirat, mknodat, symlinkat, FileType, Mode};
    let effective_empty = caps(Revision::V2, true, 0, 0, None).encode();
    type Case<'a> = (&'a [u8], &'a str, Option<Vec<u8>>);
    let cases: Vec<Case> = vec![
        (b"v2", "file", Some(v2_net_raw())),
        (b"v3", "file", Some(v3(NET_RAW, 1000))),
        (b"v3_high", "file", Some(v3(NET_RAW, (1 << 31) + 5))),
        (b"effective_empty", "file", Some(effective_empty)),
        (b"-dash \n\xff'q", "file", Some(v2_net_raw())),
        (b"fifo", "fifo", Some(v3(1 << 12, 2000))),
        (b"link", "link", Some(v2_net_raw())),
        (b"dir", "dir", Some(v2_net_raw())),
        (b"zero_length", "file", None),
    ];
    let mut out = Vec::new();
    for (name, kind, value) in cases {
        let name_os = OsStr::from_bytes(name);
        match kind {
            "fifo" => mknodat(dir, name_os, FileType::Fifo, Mode::from_raw_mode(0o644), 0).unwrap(),
            "link" => symlinkat("v2", dir, name_os).unwrap(),
            "dir" => mkdirat(dir, name_os, Mode::from_raw_mode(0o755)).unwrap(),
            _ => fs::write(via_fd(dir, name), b"#!/bin/sh\n").unwrap(),
        }
        match &value {
            Some(bytes) => xattr::set(via_fd(dir, name), XATTR, bytes).unwrap(),
            None => malformed.push(via_fd(dir, name)),
        }
        out.push((name.to_vec(), value));
    }
    out
}

#[test]
fn restore_script_restores_long_paths_and_every_kind_of_value() {
    if !is_root() || !have("setcap") || !have("setfattr") {
        return skip("needs root, setcap and setfattr");
    }
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir(dir.path().join("short")).unwrap();
    let (short_fd, _) = deep_dir(&dir.path().join("short"), 0);
    let (deep_fd, deep_rel) = deep_dir(dir.path(), 30);
    assert!(deep_rel.len() > 5000);
    let mut expected = Vec::new();
    let mut malformed = Vec::new();
    for (fd, prefix) in [
        (&short_fd, b"./short".to_vec()),
        (&deep_fd, deep_rel.clone()),
    ] {
        for (name, value) in restore_cases(fd, &mut malformed) {
            expected.push((fd, name.clone(), [&prefix[..], b"/", &name].concat(), value));
        }
    }
    let raw_work = tempfile::tempdir().unwrap();
    let values: Vec<(PathBuf, Vec<u8>)> = malformed.into_iter().map(|p| (p, Vec::new())).collect();
    let _raw = match RawImage::put_values(raw_work.path(), &values) {
        Ok(image) => image,
        Err(why) => return skip(&format!("cannot make a zero-length value: {why}")),
    };
    let script = capscan(dir.path(), &[os("--restore"), os(".")]);
    assert_eq!(
        script.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&script.stderr)
    );
    assert_no_control_bytes("restore", &script.stdout);
    let text = String::from_utf8_lossy(&script.stdout).into_owned();
    assert!(
        text.contains("# Needs setcap (package libcap2-bin)"),
        "{}",
        &text[..400.min(text.len())]
    );
    assert!(text.contains("# Needs setfattr (package attr)"));
    let script_path = dir.path().join("restore.sh");
    fs::write(&script_path, &script.stdout).unwrap();

    let strip = || {
        for (fd, name, _, _) in &expected {
            let _ = xattr::remove(via_fd(fd, name), XATTR);
            assert_eq!(xattr::get(via_fd(fd, name), XATTR).unwrap(), None);
        }
    };
    // With setfattr missing from PATH, each value that needs it is named, and the script fails.
    strip();
    let run = Command::new("/bin/sh")
        .arg(&script_path)
        .current_dir(dir.path())
        .env("PATH", "/usr/sbin:/sbin")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("setfattr not found (install attr)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("/fifo: setfattr failed or is missing"),
        "{stderr}"
    );
    let setcap_restored = xattr::get(via_fd(&deep_fd, b"v2"), XATTR).unwrap();
    assert_eq!(setcap_restored, Some(v2_net_raw()), "{stderr}");

    strip();
    let run = Command::new("sh")
        .arg(&script_path)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    // Only the malformed values fail, and they are named.
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    let failures: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("not restored:"))
        .collect();
    assert_eq!(failures.len(), 2, "{stderr}");
    assert!(
        failures
            .iter()
            .all(|l| l.contains("/zero_length: malformed")),
        "{stderr}"
    );
    for (fd, name, path, value) in &expected {
        let Some(value) = value else { continue };
        let got = xattr::get(via_fd(fd, name), XATTR).unwrap();
        assert_eq!(
            got.as_deref(),
            Some(value.as_slice()),
            "{} ({} bytes)",
            String::from_utf8_lossy(&path[path.len().saturating_sub(40)..]),
            path.len()
        );
    }
}

#[test]
fn many_double_stars_in_exclude_finish() {
    let dir = tempfile::tempdir().unwrap();
    // 400 levels of one-letter directories.
    let mut path = dir.path().to_path_buf();
    for _ in 0..400 {
        path.push("d");
    }
    fs::create_dir_all(&path).unwrap();
    fs::write(path.join("y"), b"").unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_capscan"));
    command
        .args([
            "--exclude",
            "**/**/**/**/**/**/**/**/**/**/x",
            "--exclude",
            "/**/d/**/d/**/d/**/z",
            ".",
        ])
        .current_dir(dir.path());
    let out = run_bounded(&mut command, std::time::Duration::from_secs(60))
        .expect("capscan --exclude with many ** ran for over 60 s");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn threads_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let out = capscan(dir.path(), &[os("-j"), os("10000"), os(".")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("10000 is not in 1..=64"));
    let out = capscan(dir.path(), &[os("-j"), os("64"), os(".")]);
    assert_eq!(out.status.code(), Some(0));
    let help = capscan(dir.path(), &[os("--help")]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("1 to 64"));
}

// ---- issue 10: ship like a Linux tool ----

/// Runs capscan in `dir` through `sh -c`, stderr into the same pipe as stdout, so the order in which
/// the two were written is kept.
fn capscan_merged(dir: &Path, args: &str) -> (Option<i32>, String) {
    let out = Command::new("sh")
        .args([
            "-c",
            &format!("'{}' {args} 2>&1", env!("CARGO_BIN_EXE_capscan")),
        ])
        .current_dir(dir)
        .output()
        .expect("run sh");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A directory with `ping` (cap_net_raw=ep, nothing to flag) and `python3` holding 18 capabilities,
/// cap_setuid among them: a long text, and two audit findings.
const MANY: u64 = 0x3_ffff;

fn convention_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    file_with(&dir.path().join("ping"), Some(&v2_net_raw()));
    let many = caps(Revision::V2, true, MANY, 0, None);
    file_with(&dir.path().join("python3"), Some(&many.encode()));
    dir
}

#[test]
fn a_missing_operand_is_an_error_said_after_the_others() {
    if !is_root() {
        return skip("needs root to set security.capability");
    }
    let dir = convention_tree();
    let missing = "capscan: missing: No such file or directory (os error 2)";
    for (args, row) in [
        ("missing .", "./ping "),
        ("--json missing .", "{\"path\":\"./ping\""),
        ("--getcap missing .", "./ping cap_net_raw=ep"),
    ] {
        let (code, text) = capscan_merged(dir.path(), args);
        assert_eq!(code, Some(2), "{args}: {text}");
        let lines: Vec<&str> = text.lines().collect();
        let at_row = lines.iter().position(|l| l.starts_with(row));
        let at_error = lines.iter().position(|l| *l == missing);
        assert!(
            at_row.is_some() && at_error.is_some() && at_row < at_error,
            "{args}: the scan of . is printed, then the error: {text}"
        );
        // Said once, and not counted again among the paths of the walk.
        assert_eq!(text.matches("missing").count(), 1, "{args}: {text}");
        assert!(!text.contains("could not be read"), "{args}: {text}");
    }
    // An error outranks findings; findings alone are 1.
    let (code, text) = capscan_merged(dir.path(), "--audit . missing");
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("! root_equivalent:"), "{text}");
    assert!(text.ends_with(&format!("{missing}\n")), "{text}");
    assert_eq!(capscan_merged(dir.path(), "--audit .").0, Some(1));
    assert_eq!(capscan_merged(dir.path(), "./ping").0, Some(0));
}

#[test]
fn into_a_pipe_each_record_is_one_line_without_colour() {
    if !is_root() {
        return skip("needs root to set security.capability");
    }
    let dir = convention_tree();
    // COLUMNS says how wide a terminal is; a pipe is never wrapped whatever it says.
    let out = capscan_env(
        dir.path(),
        &[os("--audit"), os(".")],
        Some(("COLUMNS", "60")),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!out.stdout.contains(&0x1b), "no colour into a pipe");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two records: {text}");
    // What `capscan --audit . | grep python3` prints: the whole record, value and findings.
    let python: Vec<&&str> = lines.iter().filter(|l| l.contains("python3")).collect();
    assert_eq!(python.len(), 1, "{text}");
    let row = python[0];
    let full_text = caps(Revision::V2, true, MANY, 0, None).getcap_text(41);
    assert!(full_text.len() > 250, "{full_text}");
    assert!(row.starts_with("./python3  v2   "), "{row}");
    assert!(row.contains(&full_text), "{row}");
    assert!(
        row.contains("  ! root_equivalent: grants root-equivalent "),
        "{row}"
    );
    assert!(row.contains("  ! program: an interpreter"), "{row}");
}

#[test]
fn color_always_marks_root_equivalent_capabilities_and_findings() {
    if !is_root() {
        return skip("needs root to set security.capability");
    }
    let dir = convention_tree();
    let out = capscan(
        dir.path(),
        &[os("--color"), os("always"), os("--audit"), os(".")],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let python = text.lines().find(|l| l.contains("python3")).unwrap();
    assert!(python.contains("\x1b[1;31mcap_setuid\x1b[0m"), "{python:?}");
    assert!(python.contains("\x1b[33m! program:\x1b[0m"), "{python:?}");
    let ping = text.lines().find(|l| l.contains("ping")).unwrap();
    assert!(
        !ping.contains('\x1b'),
        "cap_net_raw is not root-equivalent: {ping:?}"
    );
    // Never colour: machine formats, and --color never.
    for args in [
        vec!["--json", "--audit"],
        vec!["--ecs"],
        vec!["--getcap"],
        vec!["--restore"],
    ] {
        let mut args: Vec<&OsStr> = args.into_iter().map(os).collect();
        args.extend([os("--color"), os("always"), os(".")]);
        let out = capscan(dir.path(), &args);
        assert!(!out.stdout.contains(&0x1b), "{args:?}");
    }
    let never = capscan(dir.path(), &[os("--color"), os("never"), os(".")]);
    assert!(!never.stdout.contains(&0x1b));
}

/// Runs capscan on a pseudo-terminal (script from util-linux), with the given environment.
fn capscan_on_a_pty(dir: &Path, env: &str, args: &str) -> String {
    let command = format!(
        "cd '{}' && {env} '{}' {args}",
        dir.display(),
        env!("CARGO_BIN_EXE_capscan")
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run script");
    String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n")
}

#[test]
fn on_a_terminal_the_table_fits_its_width_and_no_color_is_honoured() {
    if !is_root() || !have("script") {
        return skip("needs root and script (util-linux) for a pty");
    }
    let dir = convention_tree();
    for columns in [60, 100] {
        let text = capscan_on_a_pty(dir.path(), &format!("COLUMNS={columns}"), "--audit .");
        assert!(
            text.contains("\x1b[1;31mcap_setuid\x1b[0m"),
            "colour on a terminal: {text:?}"
        );
        let plain = capcli::term::strip_sgr(&text);
        let lines: Vec<&str> = plain.lines().collect();
        assert!(
            lines.len() > 6,
            "the long text and the findings wrap: {plain}"
        );
        for line in &lines {
            assert!(line.chars().count() <= columns, "{columns}: {line:?}");
        }
        // Continuation lines are indented under their column; joined, the value is whole.
        let value: String = lines
            .iter()
            .skip_while(|l| !l.starts_with("./python3"))
            .take_while(|l| !l.trim_start().starts_with('!'))
            .map(|l| l.trim_start_matches("./python3").trim())
            .collect::<Vec<_>>()
            .join(" ")
            .replacen("v2 ", "", 1)
            .replace(", ", ",");
        let full_text = caps(Revision::V2, true, MANY, 0, None).getcap_text(41);
        assert_eq!(value.trim(), full_text, "{plain}");
    }
    let text = capscan_on_a_pty(dir.path(), "NO_COLOR=1 COLUMNS=60", "--audit .");
    assert!(text.contains("python3"), "{text}");
    assert!(!text.contains('\x1b'), "NO_COLOR: {text:?}");
    let forced = capscan_on_a_pty(dir.path(), "NO_COLOR=1", "--color always .");
    assert!(
        forced.contains('\x1b'),
        "--color always outranks NO_COLOR: {forced:?}"
    );
}

#[test]
fn renamed_flags_and_their_hidden_aliases() {
    if !is_root() {
        return skip("needs root to set security.capability");
    }
    let dir = convention_tree();
    file_with(&dir.path().join("nsd"), Some(&v3(NET_RAW, 1000)));
    let same = |sets: &[&[&str]]| {
        let outs: Vec<Output> = sets
            .iter()
            .map(|args| {
                let args: Vec<&OsStr> = args.iter().copied().map(os).collect();
                capscan(dir.path(), &args)
            })
            .collect();
        for (args, out) in sets.iter().zip(&outs) {
            assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
            assert_eq!(out.stdout, outs[0].stdout, "{args:?}");
        }
        String::from_utf8_lossy(&outs[0].stdout).into_owned()
    };
    let text = same(&[
        &["--getcap", "-n", "."],
        &["--getcap", "--show-rootid", "."],
        &["--getcap", "--rootid", "."],
    ]);
    assert!(
        text.contains("./nsd cap_net_raw=ep [rootid=1000]"),
        "{text}"
    );
    same(&[
        &["-j", "2", "."],
        &["--jobs", "2", "."],
        &["--threads", "2", "."],
        &["--jobs=2", "."],
    ]);
    let bad = capscan(dir.path(), &[os("--jobs"), os("65"), os(".")]);
    assert_eq!(bad.status.code(), Some(2));
    // The old spellings are nowhere to be seen: not in the help, not in the completions.
    let help = capscan(dir.path(), &[os("--help")]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--show-rootid") && help.contains("--jobs <N>"),
        "{help}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let out = capscan(dir.path(), &[os("--generate"), os(shell)]);
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains("show-rootid"), "{shell}");
        for old in ["--threads", "--rootid", "-l threads", "-l rootid"] {
            assert!(!script.contains(old), "{shell} lists {old}");
        }
    }
    for old in ["--threads", "--rootid", "--generate"] {
        assert!(!help.contains(old), "--help lists {old}");
    }
}

#[test]
fn long_help_ends_with_examples_and_short_help_is_shorter() {
    let dir = tempfile::tempdir().unwrap();
    let long = capscan(dir.path(), &[os("--help")]);
    let short = capscan(dir.path(), &[os("-h")]);
    let (long, short) = (
        String::from_utf8_lossy(&long.stdout).into_owned(),
        String::from_utf8_lossy(&short.stdout).into_owned(),
    );
    assert!(short.len() * 2 < long.len(), "{short}");
    assert!(!short.contains("Examples:"), "{short}");
    let (_, examples) = long
        .split_once("\nExamples:\n")
        .expect("an Examples section");
    assert!(
        !examples.contains("--help"),
        "the section comes last: {examples}"
    );
    let commands = examples
        .lines()
        .filter(|l| l.starts_with("  capscan"))
        .count();
    assert!((3..=6).contains(&commands), "{examples}");
    // Each example is followed by its explanation, the last line included.
    let last = examples.trim_end().lines().last().unwrap();
    assert!(last.starts_with("      "), "{last:?}");
}

#[test]
fn summaries_say_one_finding_and_one_file() {
    if !is_root() {
        return skip("needs root to set security.capability");
    }
    let dir = tempfile::tempdir().unwrap();
    file_with(
        &dir.path().join("tool"),
        Some(&caps(Revision::V2, true, 1 << 7, 0, None).encode()),
    );
    let out = capscan(dir.path(), &[os("--audit"), os(".")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("capscan: audit: 1 finding in 1 file\n"),
        "{stderr}"
    );
    let many = caps(Revision::V2, true, 1 << 7, 0, None).encode();
    file_with(&dir.path().join("python3"), Some(&many));
    let out = capscan(dir.path(), &[os("--audit"), os(".")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("capscan: audit: 3 findings in 2 files\n"),
        "{stderr}"
    );
}

/// An unpacked image: /usr/bin/bind carries cap_net_bind_service+ep, /usr/bin/su is set-uid root,
/// /usr/bin/plain has neither. The files are ELF-looking stand-ins: nothing is executed.
fn exec_image() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("usr/bin");
    fs::create_dir_all(&bin).unwrap();
    for (name, mode) in [("bind", 0o755), ("su", 0o4755), ("plain", 0o755)] {
        let path = bin.join(name);
        fs::write(&path, b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }
    let bind = caps(Revision::V2, true, 1 << 10, 0, None).encode();
    xattr::set(bin.join("bind"), XATTR, &bind).unwrap();
    dir
}

/// `--exec-as SPEC --json DIR`: each record's `exec`, by the path the container sees.
fn exec_records(dir: &Path, spec: &str) -> BTreeMap<String, serde_json::Value> {
    let out = capscan(
        dir,
        &[os("--exec-as"), os(spec), os("--json"), dir.as_os_str()],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let path = record["path"].as_str().unwrap().to_string();
            (path, record["exec"].clone())
        })
        .collect()
}

#[test]
fn exec_as_docker_predicts_each_file_of_an_image() {
    if !is_root() {
        return skip("needs root to set security.capability and set-uid root");
    }
    let image = exec_image();
    let dir = image.path();
    // drop ALL: the +ep file cannot start (the caddy/blocky breakage); set-uid root gains nothing.
    let records = exec_records(dir, "docker:--cap-drop=ALL");
    assert_eq!(
        records.keys().collect::<Vec<_>>(),
        ["/usr/bin/bind", "/usr/bin/su"],
        "paths as the container sees them, the plain file not listed"
    );
    let bind = &records["/usr/bin/bind"];
    assert_eq!(bind["outcome"], "fails", "{bind}");
    assert!(
        bind["reason"].as_str().unwrap().starts_with("EPERM"),
        "{bind}"
    );
    assert_eq!(bind["gains"]["caps"], serde_json::json!([]));
    assert_eq!(records["/usr/bin/su"]["outcome"], "nothing");
    // --audit makes it a finding: exit 1, one line per record into a pipe.
    let spec = os("docker:--cap-drop=ALL");
    let out = capscan(
        dir,
        &[os("--exec-as"), spec, os("--audit"), dir.as_os_str()],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("/usr/bin/bind"))
        .unwrap();
    assert!(line.contains("exec: fails EPERM"), "{line}");
    assert!(line.contains("! exec_fails:"), "{line}");
    assert!(!text.contains('\x1b'));
    // Docker's defaults as root: the file gains cap_net_bind_service.
    let records = exec_records(dir, "docker");
    let bind = &records["/usr/bin/bind"];
    assert_eq!(bind["outcome"], "gains", "{bind}");
    assert_eq!(
        bind["gains"],
        serde_json::json!({"hex": "0000000000000400", "caps": ["cap_net_bind_service"]})
    );
    let out = capscan(
        dir,
        &[
            os("--exec-as"),
            os("docker"),
            os("--audit"),
            dir.as_os_str(),
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    // A spec that is not one is a usage error.
    let out = capscan(dir, &[os("--exec-as"), os("podman"), dir.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn exec_as_oci_set_uid_gains_root_only_without_no_new_privs() {
    if !is_root() {
        return skip("needs root to make a set-uid root file");
    }
    let image = exec_image();
    let dir = image.path();
    for (no_new_privs, euid) in [(false, Some(0u64)), (true, None)] {
        let config = dir.join("config.json");
        let process = serde_json::json!({
            "user": {"uid": 1000, "gid": 1000},
            "args": ["/usr/bin/su"],
            "cwd": "/",
            "noNewPrivileges": no_new_privs,
            "capabilities": {"bounding": ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"]},
        });
        fs::write(
            &config,
            serde_json::to_vec(&serde_json::json!({"process": process, "root": {"path": "."}}))
                .unwrap(),
        )
        .unwrap();
        let spec = format!("oci:{}", config.display());
        let records = exec_records(dir, &spec);
        let su = &records["/usr/bin/su"];
        assert_eq!(su["euid"].as_u64(), euid, "{su}");
        if no_new_privs {
            assert_eq!(su["outcome"], "nothing", "{su}");
            assert!(
                su["reason"].as_str().unwrap().contains("no_new_privs"),
                "{su}"
            );
        } else {
            assert_eq!(su["outcome"], "gains", "{su}");
            assert_eq!(su["gains"]["caps"].as_array().unwrap().len(), 2, "{su}");
        }
    }
}

/// Runs `args` in the bundle with runc; stdout, or the failure's stderr.
fn runc_run(bundle: &Path, name: &str) -> Result<String, String> {
    let run = Command::new("timeout")
        .args(["-k", "5", "30", "runc", "run", "--bundle"])
        .arg(bundle)
        .arg(name)
        .stdin(std::process::Stdio::null())
        .output();
    let _ = Command::new("runc").args(["delete", "-f", name]).output();
    let run = run.map_err(|e| e.to_string())?;
    if run.status.success() {
        Ok(String::from_utf8_lossy(&run.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&run.stderr).into_owned())
    }
}

#[test]
fn exec_as_oci_agrees_with_runc_on_every_file_of_a_bundle() {
    use crate::capsim_oci as oci;
    if !is_root() {
        return skip("needs root to run runc");
    }
    if !have("runc") || !Path::new("/bin/busybox").exists() {
        return skip("needs runc and busybox-static (apt-get install runc busybox-static)");
    }
    let seed = crate::util::Rng::seed_from_env(0xe8ec_2026);
    let mut rng = crate::util::Rng::new(seed);
    let known = oci::known_caps();
    let dir = tempfile::Builder::new()
        .prefix("capkit-execas")
        .tempdir_in("/var/tmp")
        .unwrap();
    let Some(reader) = oci::build_status_reader(dir.path()) else {
        return skip("needs cc -static (libc6-dev) for the set-uid status reader");
    };
    let rootfs = dir.path().join("rootfs");
    oci::build_rootfs(&rootfs, &reader, &mut rng, known);
    oci::build_userns_variants(&rootfs, &reader);
    let spec = Command::new("runc")
        .args(["spec", "--bundle"])
        .arg(dir.path())
        .status()
        .expect("runc spec");
    assert!(spec.success());
    let base: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    let held = oci::own_bounding();
    let (mut compared, mut mismatches) = (0, Vec::new());
    let mut outcomes = BTreeMap::new();
    // 25 configs in runc's own user namespace, then 15 with one of their own.
    for i in 0..40 {
        let mut config = oci::random_config(&mut rng, &base, &["plain"], known, held);
        if i >= 25 {
            let every = (1u64 << known) - 1;
            config = oci::random_config(&mut rng, &base, &["plain"], known, every);
            oci::with_random_userns(&mut rng, &mut config);
        }
        config["root"]["path"] = serde_json::json!("../rootfs");
        let bundle = dir.path().join(format!("b{i}"));
        fs::create_dir(&bundle).unwrap();
        let write = |config: &serde_json::Value| {
            fs::write(
                bundle.join("config.json"),
                serde_json::to_vec(config).unwrap(),
            )
            .unwrap()
        };
        write(&config);
        let spec = format!("oci:{}", bundle.join("config.json").display());
        let records = exec_records(&rootfs, &spec);
        assert!(records.len() >= 6, "{records:?}");
        for (path, exec) in &records {
            config["process"]["args"] = serde_json::json!([path, "/proc/self/status"]);
            write(&config);
            let name = format!("capkit-execas-{}-{i}-{compared}", std::process::id());
            let outcome = exec["outcome"].as_str().unwrap_or("?");
            *outcomes.entry(outcome.to_string()).or_insert(0) += 1;
            compared += 1;
            let agrees = match (runc_run(&bundle, &name), outcome) {
                (Ok(status), "gains" | "nothing") => {
                    oci::sorted(oci::status_fields(&status))
                        == oci::sorted(oci::predicted_fields(&exec["after"]))
                }
                (Err(stderr), "refused") => {
                    let reason = exec["reason"].as_str().unwrap_or("");
                    oci::RUNC_REFUSALS
                        .iter()
                        .any(|words| reason.starts_with(words) && stderr.contains(words))
                }
                (Err(stderr), "fails") => {
                    let errno = exec["reason"].as_str().unwrap_or("").split(':').next();
                    errno
                        .and_then(oci::strerror)
                        .is_some_and(|text| stderr.contains(text))
                }
                _ => false,
            };
            if !agrees {
                mismatches.push(format!("config {i} (seed {seed}) {path}: capscan {exec}"));
            }
        }
    }
    eprintln!(
        "capscan --exec-as oci: {compared} files run with runc, {outcomes:?}, mismatches: {}",
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Kills and reaps a child however the test ends.
struct KillChild(std::process::Child);

impl Drop for KillChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn under_proc_pid_root_the_containers_mounts_decide() {
    if !is_root() || !have("unshare") {
        return skip("needs root and unshare(1) to make a mount namespace");
    }
    // Here T/p is a procfs (skipped); in the child's mount namespace it is a tmpfs with a file on it.
    let dir = tempfile::tempdir().unwrap();
    let point = dir.path().join("p");
    let Some(_proc) = mount("proc", &point) else {
        return skip("cannot mount proc here");
    };
    let script = format!(
        "umount '{0}' && mount -t tmpfs none '{0}' && echo ready && exec sleep 30",
        point.display()
    );
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("unshare");
    let mut child = KillChild(child);
    assert_eq!(crate::util::first_line(&mut child.0).trim(), "ready");
    let root = PathBuf::from(format!("/proc/{}/root", child.0.id()));
    let inside = root.join(dir.path().strip_prefix("/").unwrap());
    let file = inside.join("p/tool");
    file_with(
        &file,
        Some(&caps(Revision::V2, true, NET_RAW, 0, None).encode()),
    );
    let out = capscan(dir.path(), &[os("--json"), inside.as_os_str()]);
    let records = records(&out.stdout);
    assert!(
        records.contains_key(file.as_os_str().as_bytes()),
        "the container's tmpfs is walked: {records:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // With --exec-as, named as the container sees it below DIR.
    let exec = exec_records(&inside, "docker");
    assert!(exec.contains_key("/p/tool"), "{exec:?}");
}

#[test]
fn exec_as_systemd_unit() {
    if !is_root() {
        return skip("needs root to set security.capability");
    }
    let image = exec_image();
    let dir = image.path();
    let units = tempfile::tempdir().unwrap();
    let unit = units.path().join("capkit-execas-test-unit.service");
    fs::write(
        &unit,
        "[Service]\nUser=1000\nCapabilityBoundingSet=CAP_NET_RAW\nExecStart=/usr/bin/bind\n",
    )
    .unwrap();
    let records = exec_records(dir, &format!("systemd:{}", unit.display()));
    // Outside the service's bounding set, the +ep file cannot start.
    let bind = &records["/usr/bin/bind"];
    assert_eq!(bind["outcome"], "fails", "{bind}");
    assert!(
        bind["reason"].as_str().unwrap().starts_with("EPERM"),
        "{bind}"
    );
    fs::write(
        &unit,
        "[Service]\nUser=1000\nAmbientCapabilities=CAP_NET_BIND_SERVICE\nExecStart=/usr/bin/bind\n",
    )
    .unwrap();
    let records = exec_records(dir, &format!("systemd:{}", unit.display()));
    assert_eq!(
        records["/usr/bin/bind"]["gains"]["caps"],
        serde_json::json!(["cap_net_bind_service"])
    );
}

#[test]
fn exec_as_k8s_predicts_a_pod_container() {
    if !is_root() {
        return skip("needs root to set security.capability and set-uid root");
    }
    let image = exec_image();
    let dir = image.path();
    let manifests = tempfile::tempdir().unwrap();
    let manifest = manifests.path().join("deploy.yaml");
    fs::write(
        &manifest,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n\
         \x20     containers:\n      - name: caddy\n        image: caddy\n        securityContext:\n\
         \x20         capabilities: {drop: [ALL]}\n      - name: sidecar\n        image: busybox\n",
    )
    .unwrap();
    // drop ALL: the +ep file cannot start, as with docker.
    let spec = format!("k8s:{}#caddy", manifest.display());
    let records = exec_records(dir, &spec);
    let bind = &records["/usr/bin/bind"];
    assert_eq!(bind["outcome"], "fails", "{bind}");
    assert!(
        bind["reason"].as_str().unwrap().starts_with("EPERM"),
        "{bind}"
    );
    // The other container keeps containerd's defaults (Docker's 14): the file gains its capability.
    let records = exec_records(dir, &format!("k8s:{}#sidecar", manifest.display()));
    assert_eq!(records["/usr/bin/bind"]["outcome"], "gains");
    // Two containers and none named: an error that lists them.
    let out = capscan(
        dir,
        &[
            os("--exec-as"),
            OsStr::new(&format!("k8s:{}", manifest.display())),
            dir.as_os_str(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("caddy") && stderr.contains("sidecar"),
        "{stderr}"
    );
}

/// A FUSE filesystem whose server answers FUSE_INIT and nothing else (capkit-test-fuse), over a directory
/// or a file. Dropping it closes the server's stdin: it detaches the mount and exits, which aborts the
/// connection, so nothing stays mounted and nothing stays blocked, whatever the test found.
struct StallingFuse {
    server: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
}

impl StallingFuse {
    /// Starts the server on `target`; it mounts there when told to.
    fn over(target: &Path) -> StallingFuse {
        let mut server = Command::new(crate::util::helper("capkit-test-fuse"))
            .arg(target)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start capkit-test-fuse");
        let stdin = server.stdin.take();
        StallingFuse { server, stdin }
    }

    fn mount(&mut self) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("the server's stdin");
        stdin
            .write_all(b"mount\n")
            .expect("tell the server to mount");
        assert_eq!(crate::util::first_line(&mut self.server).trim(), "mounted");
    }
}

impl Drop for StallingFuse {
    fn drop(&mut self) {
        self.release();
    }
}

impl StallingFuse {
    /// Ends the server, and so the mount and every request waiting on it.
    fn release(&mut self) {
        drop(self.stdin.take());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.server.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // Killing the server closes /dev/fuse, which aborts the connection; the mount stays until a
        // lazy unmount, which the server could not do.
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// A chain of `depth` nested directories `c` below `dir`, made relative to each other (the whole path is
/// longer than PATH_MAX). Returns the path of the deepest, and a descriptor of it to reach it by.
fn nested_chain(dir: &Path, depth: usize) -> (PathBuf, std::os::fd::OwnedFd) {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut fd = rustix::fs::open(dir, flags, Mode::empty()).expect("open the tree");
    let mut path = dir.to_path_buf();
    for _ in 0..depth {
        rustix::fs::mkdirat(&fd, "c", Mode::from_raw_mode(0o755)).expect("mkdir c");
        fd = rustix::fs::openat(&fd, "c", flags, Mode::empty()).expect("open c");
        path.push("c");
    }
    (path, fd)
}

/// Waits until `pid` holds a descriptor of `dir`: its walk has begun, its mount table read.
fn wait_until_walking(pid: u32, dir: &Path) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let fds = fs::read_dir(format!("/proc/{pid}/fd"));
        let holds = fds
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|target| target.starts_with(dir)));
        if holds {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    false
}

/// Runs capscan --json . in `dir`, mounting `fuse` once its walk has begun when `mount_during`; kills it
/// (and fails the test) when it has not finished in 60 s. Returns its output.
fn capscan_while(dir: &Path, fuse: &mut StallingFuse, mount_during: bool) -> Output {
    let mut scan = Command::new(env!("CARGO_BIN_EXE_capscan"))
        .current_dir(dir)
        .args(["--json", "."])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run capscan");
    let walking = wait_until_walking(scan.id(), dir);
    if mount_during {
        fuse.mount();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = scan.try_wait() {
            let out = scan.wait_with_output().expect("capscan's output");
            assert!(
                walking || out.status.success(),
                "capscan never began its walk"
            );
            return out;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = scan.kill();
    // A process waiting on a FUSE request the server has read cannot die until it is answered: the
    // server goes first.
    fuse.release();
    let out = scan.wait_with_output().expect("capscan's output");
    panic!(
        "capscan still running after 60 s: it waits on the FUSE server\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The tree a FUSE test scans: a capability at the top and at the bottom of a deep chain of directories
/// (deep enough that the walk reaches its bottom well after it began), and an empty directory and a
/// plain file at the bottom to mount over.
fn fuse_tree() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    file_with(&dir.path().join("ping"), Some(&v2_net_raw()));
    let (bottom, fd) = nested_chain(dir.path(), 4000);
    // The bottom's path is too long for the std functions: it is reached through its descriptor.
    let at = |name: &str| {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&fd);
        PathBuf::from(format!("/proc/self/fd/{fd}/{name}"))
    };
    fs::create_dir(at("sub")).expect("mkdir sub");
    file_with(&at("plain"), Some(&v2_net_raw()));
    (dir, bottom)
}

fn fuse_usable() -> bool {
    if !is_root() || !Path::new("/dev/fuse").exists() {
        skip("needs root and /dev/fuse to mount a FUSE filesystem");
        return false;
    }
    true
}

/// The scan found the capability at the top and finished; the bottom's own file is reported only when
/// nothing was mounted over it.
fn assert_scanned(out: &Output, plain_covered: bool) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let found = records(&out.stdout);
    assert!(found.contains_key(&b"./ping"[..]), "{stderr}");
    let plain = found.keys().any(|path| path.ends_with(b"/c/plain"));
    assert_eq!(plain, !plain_covered, "{stderr}");
}

#[test]
fn a_stalling_fuse_filesystem_mounted_before_the_scan_is_skipped() {
    if !fuse_usable() {
        return;
    }
    let (dir, bottom) = fuse_tree();
    let mut fuse = StallingFuse::over(&bottom.join("sub"));
    fuse.mount();
    let out = capscan_while(dir.path(), &mut fuse, false);
    drop(fuse);
    assert_scanned(&out, false);
}

/// Scans a fresh tree while a stalling FUSE filesystem is mounted over `name` at its bottom, until the
/// mount lands before the walk reaches it (`landed_first` says so from the output; on a loaded machine
/// the walk can pass the bottom before the mount is made, and then there is nothing to prove), at most
/// 5 times. Every scan must finish; a scan the mount came too late for must find what was there.
fn scan_with_a_mount_during(name: &str, landed_first: fn(&Output) -> bool) -> Output {
    let mut last = None;
    for _ in 0..5 {
        let (dir, bottom) = fuse_tree();
        let mut fuse = StallingFuse::over(&bottom.join(name));
        let out = capscan_while(dir.path(), &mut fuse, true);
        drop(fuse);
        if landed_first(&out) {
            return out;
        }
        assert_scanned(&out, false);
        last = Some(out);
    }
    let stderr = last.map(|out| String::from_utf8_lossy(&out.stderr).into_owned());
    panic!("in 5 scans the walk always reached the bottom before the mount: {stderr:?}");
}

#[test]
fn a_stalling_fuse_filesystem_mounted_during_the_scan_is_skipped() {
    if !fuse_usable() {
        return;
    }
    let noted = |out: &Output| {
        String::from_utf8_lossy(&out.stderr)
            .contains("/c/sub: a fuse filesystem mounted during the scan; not walked")
    };
    let out = scan_with_a_mount_during("sub", noted);
    assert_scanned(&out, false);
}

#[test]
fn a_stalling_fuse_file_mounted_during_the_scan_is_not_read() {
    if !fuse_usable() {
        return;
    }
    // The mount came first when the bottom's own file is not what capscan reported.
    let covered = |out: &Output| {
        !records(&out.stdout)
            .keys()
            .any(|p| p.ends_with(b"/c/plain"))
    };
    let out = scan_with_a_mount_during("plain", covered);
    assert_scanned(&out, true);
}

/// Exchanges two names of one directory (renameat2 RENAME_EXCHANGE), as a user who can write there may.
fn exchange(dir: &Path, a: &str, b: &str) -> bool {
    let flags = rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY;
    let Ok(fd) = rustix::fs::open(dir, flags, rustix::fs::Mode::empty()) else {
        return false;
    };
    rustix::fs::renameat_with(&fd, a, &fd, b, rustix::fs::RenameFlags::EXCHANGE).is_ok()
}

#[test]
fn exec_as_never_reads_through_a_directory_swapped_for_a_symlink() {
    if !is_root() {
        return skip("needs root to set security.capability");
    }
    let dir = tempfile::tempdir().unwrap();
    // The host's file: cap_sys_admin, which the image must never be said to give.
    let host = dir.path().join("host/bin");
    fs::create_dir_all(&host).unwrap();
    let elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0";
    let sys_admin = caps(Revision::V2, true, 1 << 21, 0, None).encode();
    for name in ["tool", "full", "random"] {
        fs::write(host.join(name), elf).unwrap();
        fs::set_permissions(host.join(name), fs::Permissions::from_mode(0o755)).unwrap();
        xattr::set(host.join(name), XATTR, &sys_admin).unwrap();
    }
    // The image: usr/bin/tool (full, random) with cap_net_raw, and symlinks to the host's directory (one
    // absolute, one climbing out with ..) that a user in the image keeps swapping with usr/bin.
    let image = dir.path().join("img");
    let usr = image.join("usr");
    fs::create_dir_all(usr.join("bin")).unwrap();
    for name in ["tool", "full", "random"] {
        fs::write(usr.join("bin").join(name), elf).unwrap();
        fs::set_permissions(
            usr.join("bin").join(name),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        xattr::set(usr.join("bin").join(name), XATTR, &v2_net_raw()).unwrap();
    }
    symlink(&host, usr.join("abs")).unwrap();
    symlink("../../host/bin", usr.join("rel")).unwrap();
    // And one to /dev: the image's full and random must never be taken for the host's devices.
    symlink("/dev", usr.join("devs")).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let stop = std::sync::Arc::clone(&stop);
        let usr = usr.clone();
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            let mut swaps = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed)
                && std::time::Instant::now() < deadline
            {
                let other = ["abs", "rel", "devs"][(swaps % 3) as usize];
                // Out and back: the pair is as it was after each round.
                exchange(&usr, "bin", other);
                exchange(&usr, "bin", other);
                swaps += 1;
            }
            swaps
        })
    };
    let mut seen = 0;
    for _ in 0..40 {
        let out = capscan(
            &image,
            &[
                os("--exec-as"),
                os("docker:--privileged"),
                os("--json"),
                image.as_os_str(),
            ],
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let exec = &record["exec"];
            assert!(
                !exec["gains"].to_string().contains("cap_sys_admin"),
                "the host's file was read for the image's path: {record}"
            );
            assert!(
                !exec["reason"].to_string().contains("not a regular file"),
                "a host device was taken for the image's file: {record}"
            );
            if record["path"] == "/usr/bin/tool" {
                seen += 1;
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 0, "the swapper never ran");
    assert!(seen > 0, "the image's own file was never reported");
}

/// `--exec-as docker:` and `k8s:` read the users and groups of DIR, the image, as the runtimes do.
#[test]
fn exec_as_takes_users_and_groups_from_the_image() {
    if !is_root() {
        return skip("needs root to make a set-uid root file");
    }
    let image = tempfile::tempdir().expect("tempdir");
    let dir = image.path();
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::write(dir.join("etc/passwd"), "app:x:1000:1000::/:/bin/sh\n").unwrap();
    std::fs::write(dir.join("etc/group"), "staff:x:50:app\napp:x:1001:app\n").unwrap();
    std::fs::copy("/bin/true", dir.join("bin/x")).unwrap();
    std::fs::set_permissions(dir.join("bin/x"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    let manifest = dir.join("pod.yaml");
    std::fs::write(
        &manifest,
        "kind: Pod\nspec:\n  containers:\n  - name: c\n    securityContext: {runAsUser: 1000}\n",
    )
    .unwrap();
    let records = exec_records(dir, "docker:--user=app");
    // Docker: the primary gid, then every group listing the user (one named like it too).
    assert_eq!(
        records["/bin/x"]["after"]["groups"],
        serde_json::json!([50, 1000, 1001])
    );
    let records = exec_records(dir, &format!("k8s:{}", manifest.display()));
    // containerd: the gid of uid 1000's entry, and the groups listing it but the one named like it.
    assert_eq!(
        records["/bin/x"]["after"]["groups"],
        serde_json::json!([50, 1000])
    );
    assert_eq!(records["/bin/x"]["after"]["egid"], 1000);
}
