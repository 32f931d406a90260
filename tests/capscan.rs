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

const XATTR: &str = "security.capability";

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

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
    /// Declared first so that it is dropped first: the tmpfs must be gone before the directory is removed.
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

fn build_tree(with_mount: bool) -> Tree {
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
    // A zero-length value: any owner can set it, and every execve fails with EINVAL.
    file_with(&root.join("bad/zero_length"), Some(b""));
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
    Tree {
        dir,
        expected,
        raw,
        _mount: mount,
    }
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
    let tree = build_tree(true);
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
    assert_eq!(v3["effective"], true);
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
    let tree = build_tree(true);
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
    let tree = build_tree(false);
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
    let tree = build_tree(false);
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
    let tree = build_tree(false);
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
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
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
    let tree = build_tree(false);
    let root = tree.root();
    let json = capscan(root, &[os("--json"), os(".")]);
    let getcap = capscan(root, &[os("--getcap"), os("-n"), os(".")]);
    fs::write(root.join("base.json"), &json.stdout).unwrap();
    fs::write(root.join("base.getcap"), &getcap.stdout).unwrap();
    for base in ["base.json", "base.getcap"] {
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
    let tree = build_tree(false);
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
    let tree = build_tree(false);
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

    // No format lets a control byte through.
    for args in [
        vec![os(".")],
        vec![os("--getcap"), os(".")],
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
    let tree = build_tree(true);
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
    let tree = build_tree(false);
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
        stderr.contains("1 path(s) could not be read: 1 × Permission denied"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("./caps/v2_ep cap_net_raw=ep"), "{stdout}");
    assert!(!stdout.contains("locked/hidden"));
}

#[test]
fn missing_paths_and_bad_usage() {
    let dir = tempfile::tempdir().unwrap();
    let out = capscan(dir.path(), &[os("does-not-exist")]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("capscan: does-not-exist: No such file or directory"));
    let out = capscan(dir.path(), &[os("--json"), os("--getcap")]);
    assert_eq!(out.status.code(), Some(2));
    let out = capscan(dir.path(), &[os("--generate-completions"), os("bash")]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("capscan"));
}
