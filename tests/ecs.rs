//! `capls --ecs` and `capscan --ecs` against ECS's own field reference: every field of every document is
//! either a field ECS defines, with a JSON value of its type (arrays where ECS normalizes to an array,
//! within its pattern and allowed values), or lives under `capkit.`. The reference is an extract of
//! elastic/ecs's generated/ecs/ecs_flat.yml, for the version the documents declare (8.10.0) and for
//! 9.4.0, in tests/data. The documents are checked for what the test set up, too.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use serde_json::Value;

use crate::spawn::TestChild;
use crate::util::{bin, run_cmd, skipped};

/// One field of the reference.
struct Field {
    ty: String,
    array: bool,
    pattern: Option<String>,
    allowed: Option<Vec<String>>,
}

/// The fields of one ECS version, from its extract in tests/data.
struct Reference {
    version: &'static str,
    fields: HashMap<String, Field>,
}

impl Reference {
    fn load(version: &'static str) -> Reference {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(format!("ecs_fields_{version}.tsv"));
        let text = fs::read_to_string(&path).expect("read the ECS extract");
        let dash = |s: &str| (s != "-").then(|| s.to_string());
        let fields = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let cols: Vec<&str> = line.split('\t').collect();
                assert_eq!(cols.len(), 5, "{line:?}");
                let field = Field {
                    ty: cols[1].to_string(),
                    array: cols[2] == "array",
                    pattern: dash(cols[3]),
                    allowed: dash(cols[4]).map(|a| a.split(',').map(str::to_string).collect()),
                };
                (cols[0].to_string(), field)
            })
            .collect();
        Reference { version, fields }
    }

    /// Every problem with one document, as `name: what is wrong`.
    fn problems(&self, doc: &Value) -> Vec<String> {
        let mut leaves = Vec::new();
        flatten("", doc, &mut leaves);
        let mut problems = Vec::new();
        for (name, value) in leaves {
            if name.starts_with("capkit.") {
                continue;
            }
            let Some(field) = self.fields.get(&name) else {
                problems.push(format!("{name}: not an ECS {} field", self.version));
                continue;
            };
            if let Err(why) = field.check(value) {
                problems.push(format!(
                    "{name}: {why} (ECS {}: {})",
                    self.version, field.ty
                ));
            }
        }
        problems
    }

    fn assert_valid(&self, docs: &[Value]) {
        for doc in docs {
            let problems = self.problems(doc);
            assert!(problems.is_empty(), "{problems:#?}\nin {doc:#}");
        }
    }
}

impl Field {
    fn check(&self, value: &Value) -> Result<(), String> {
        match (self.array, value) {
            (true, Value::Array(items)) => items.iter().try_for_each(|v| self.check_one(v)),
            (true, _) => Err(format!("{value} is not an array")),
            (false, Value::Array(_)) => Err(format!("{value} is an array")),
            (false, _) => self.check_one(value),
        }
    }

    fn check_one(&self, value: &Value) -> Result<(), String> {
        let typed = match self.ty.as_str() {
            "keyword" | "constant_keyword" | "wildcard" | "match_only_text" | "text" => {
                value.is_string()
            }
            "long" => value.is_i64(),
            "date" => value.as_str().is_some_and(is_rfc3339),
            "boolean" => value.is_boolean(),
            other => return Err(format!("the test does not know type {other}")),
        };
        if !typed {
            return Err(format!("{value} is not of the type"));
        }
        if let (Some(pattern), Some(text)) = (&self.pattern, value.as_str()) {
            if !matches_pattern(pattern, text) {
                return Err(format!("{value} does not match {pattern}"));
            }
        }
        if let (Some(allowed), Some(text)) = (&self.allowed, value.as_str()) {
            if !allowed.iter().any(|a| a == text) {
                return Err(format!("{value} is not one of {allowed:?}"));
            }
        }
        Ok(())
    }
}

/// Objects become dotted names, as Elastic maps them; arrays and scalars are values.
fn flatten<'a>(prefix: &str, value: &'a Value, out: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&name, v, out);
            }
        }
        _ => out.push((prefix.to_string(), value)),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, with numbers in range.
fn is_rfc3339(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range.clone())
            .filter(|d| d.iter().all(u8::is_ascii_digit))
            .map(|d| d.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let fixed = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':';
    let in_range = (|| {
        let (month, day) = (digits(5..7)?, digits(8..10)?);
        let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
        digits(0..4)?;
        Some(
            (1..=12).contains(&month)
                && (1..=31).contains(&day)
                && hour < 24
                && minute < 60
                && second < 61,
        )
    })() == Some(true);
    let mut rest = &text[19.min(text.len())..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    let zone = rest == "Z"
        || (rest.len() == 6
            && (rest.starts_with('+') || rest.starts_with('-'))
            && rest.as_bytes()[3] == b':');
    fixed && in_range && zone
}

/// ECS's one pattern among the fields capkit writes, checked by hand (no regex engine in the tests).
fn matches_pattern(pattern: &str, text: &str) -> bool {
    assert_eq!(
        pattern, r"^(CAP_[A-Z_]+|\d+)$",
        "ECS changed a pattern; teach matches_pattern"
    );
    let name = text.strip_prefix("CAP_").is_some_and(|rest| {
        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
    });
    let number = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    name || number
}

fn references() -> [Reference; 2] {
    [Reference::load("8.10.0"), Reference::load("9.4.0")]
}

/// Both extracts have the capability fields, as keyword arrays of `CAP_*` names or numbers.
#[test]
fn the_reference_has_the_capability_fields() {
    for reference in references() {
        for set in ["effective", "permitted"] {
            let name = format!("process.thread.capabilities.{set}");
            let field = &reference.fields[&name];
            assert_eq!(
                (field.ty.as_str(), field.array),
                ("keyword", true),
                "{name}"
            );
            assert_eq!(field.pattern.as_deref(), Some(r"^(CAP_[A-Z_]+|\d+)$"));
        }
    }
}

/// The checker itself refuses what it must.
#[test]
fn the_checker_refuses_wrong_documents() {
    let [reference, _] = references();
    let bad = serde_json::json!({
        "@timestamp": "2026-12-01 14:00:00",
        "user": {"id": 0},
        "process": {"pid": "1", "thread": {"capabilities": {"effective": "CAP_KILL",
            "permitted": ["cap_kill"]}}},
        "event": {"kind": "snapshot"},
        "capabilities": [],
        "capkit": {"anything": [1, {"x": null}]}
    });
    let problems = reference.problems(&bad);
    let named: Vec<&str> = problems
        .iter()
        .map(|p| p.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        named,
        [
            "@timestamp",
            "capabilities",
            "event.kind",
            "process.pid",
            "process.thread.capabilities.effective",
            "process.thread.capabilities.permitted",
            "user.id"
        ],
        "{problems:#?}"
    );
    assert!(is_rfc3339("2026-12-01T14:00:00.123Z"));
    assert!(is_rfc3339("2026-12-01T14:00:00+02:00"));
    assert!(!is_rfc3339("2026-13-01T14:00:00Z"));
    assert!(!is_rfc3339("2026-12-01T14:00:00"));
}

fn ndjson(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8(stdout.to_vec())
        .expect("NDJSON is UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// The host name as the kernel has it, read another way than capkit does.
fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("read hostname")
        .trim_end()
        .to_string()
}

/// The header every document carries.
fn assert_header(doc: &Value, tool: &str, category: &str, before: SystemTime, after: SystemTime) {
    assert_eq!(doc["ecs"]["version"], "8.10.0");
    assert_eq!(doc["event"]["kind"], "state");
    assert_eq!(doc["event"]["category"], serde_json::json!([category]));
    assert_eq!(doc["event"]["type"], serde_json::json!(["info"]));
    assert_eq!(doc["event"]["dataset"], format!("capkit.{tool}"));
    assert_eq!(doc["host"]["name"], host_name());
    // Formatted alike, RFC 3339 UTC strings sort as the times do.
    let at = doc["@timestamp"].as_str().expect("a timestamp");
    let (from, to) = (
        capcli::ecs::timestamp(before),
        capcli::ecs::timestamp(after),
    );
    assert!(
        from.as_str() <= at && at <= to.as_str(),
        "{from} <= {at} <= {to}"
    );
}

#[test]
fn capls_documents_are_ecs() {
    // The second thread narrows its sets and takes a name that is not UTF-8.
    let child = TestChild::spawn(["--thread", "--name", r"worker\xff", "--effective", "none"]);
    let tid = child.tid.expect("the child's thread");
    let before = SystemTime::now();
    let run = run_cmd(
        Command::new(bin("capls")).args(["--ecs", "-a", "-t", &child.pid.to_string()]),
        None,
    );
    let after = SystemTime::now();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let docs = ndjson(run.stdout.as_bytes());
    assert_eq!(docs.len(), 2, "{docs:#?}");
    for reference in references() {
        reference.assert_valid(&docs);
    }
    let status = crate::spawn::task_status(child.pid, child.pid);
    let effective_hex = crate::spawn::status_value(&status, "CapEff");
    let names = |hex: &str| -> Vec<String> {
        let bits = u64::from_str_radix(hex, 16).expect("hex");
        capcore::CapSet::from_bits(bits)
            .names()
            .iter()
            .map(|n| n.to_uppercase())
            .collect()
    };
    let (leader, thread) = (&docs[0], &docs[1]);
    for doc in &docs {
        assert_header(doc, "capls", "process", before, after);
        assert_eq!(doc["process"]["pid"], child.pid);
        assert_eq!(doc["process"]["name"], "capkit-test-chi");
        assert_eq!(doc["process"]["parent"]["pid"], std::process::id());
        assert_eq!(
            doc["user"]["id"],
            rustix::process::geteuid().as_raw().to_string()
        );
    }
    assert_eq!(leader["process"]["thread"]["id"], child.pid);
    assert_eq!(
        leader["process"]["thread"]["capabilities"]["effective"],
        serde_json::json!(names(&effective_hex))
    );
    assert_eq!(thread["process"]["thread"]["id"], tid);
    assert_eq!(thread["process"]["thread"]["name"], "worker\u{fffd}");
    assert_eq!(
        thread["capkit"]["process"]["thread_name"],
        serde_json::json!({"bytes": "776f726b6572ff"})
    );
    assert_eq!(
        thread["process"]["thread"]["capabilities"]["effective"],
        serde_json::json!([])
    );
    assert_eq!(
        thread["capkit"]["process"]["threads_differ"],
        !names(&effective_hex).is_empty()
    );
    // capls --json says the same of the sets ECS has no field for.
    let json = ndjson(
        run_cmd(
            Command::new(bin("capls")).args(["--json", "-a", &child.pid.to_string()]),
            None,
        )
        .stdout
        .as_bytes(),
    );
    for set in ["inheritable", "bounding", "ambient"] {
        assert_eq!(leader["capkit"]["process"][set], json[0][set], "{set}");
    }
}

#[test]
fn capls_ecs_conflicts_with_json() {
    let run = crate::util::run("capls", &["--ecs", "--json"], None);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

/// A podman-named cgroup (one directory, no shared parent), removed on drop once its process is gone.
struct Cgroup(PathBuf);

impl Cgroup {
    fn new(id: &str) -> Option<Cgroup> {
        let v1 = Path::new("/sys/fs/cgroup/pids");
        let v2 = Path::new("/sys/fs/cgroup");
        let root = if v1.join("cgroup.procs").exists() {
            v1
        } else if v2.join("cgroup.controllers").exists() {
            v2
        } else {
            return None;
        };
        let dir = root.join(format!("libpod-{id}.scope"));
        fs::create_dir(&dir).ok()?;
        Some(Cgroup(dir))
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        for _ in 0..50 {
            if fs::remove_dir(&self.0).is_ok() || !self.0.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

#[test]
fn capls_documents_name_the_container() {
    crate::require_root!();
    let id = format!("{:016x}", u64::from(std::process::id()) ^ 0xecec).repeat(4);
    let Some(cgroup) = Cgroup::new(&id) else {
        skipped("no writable cgroup hierarchy");
        return;
    };
    let mut child = TestChild::spawn(["--permitted", "cap_kill,cap_net_raw"]);
    fs::write(cgroup.0.join("cgroup.procs"), child.pid.to_string()).expect("move the child");
    let run = crate::util::run("capls", &["--ecs", "--container", &id[..12]], None);
    child.kill();
    drop(cgroup);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let docs = ndjson(run.stdout.as_bytes());
    let ours: Vec<&Value> = docs
        .iter()
        .filter(|d| d["process"]["pid"] == child.pid)
        .collect();
    assert_eq!(ours.len(), 1, "{docs:#?}");
    for reference in references() {
        reference.assert_valid(&docs);
    }
    assert_eq!(ours[0]["container"]["id"], id.as_str());
    assert_eq!(ours[0]["container"]["runtime"], "podman");
    assert_eq!(
        ours[0]["process"]["thread"]["capabilities"]["permitted"],
        serde_json::json!(["CAP_KILL", "CAP_NET_RAW"])
    );
}

#[test]
fn capscan_documents_are_ecs() {
    crate::require_root!();
    let dir = tempfile::tempdir().expect("temp dir");
    let ping = dir.path().join("ping");
    let odd = dir.path().join(OsStr::from_bytes(b"odd\xffname"));
    let su = dir.path().join("bash");
    for path in [&ping, &odd, &su] {
        fs::write(path, b"#!/bin/sh\n").expect("write");
    }
    fs::set_permissions(&ping, fs::Permissions::from_mode(0o750)).expect("chmod");
    fs::set_permissions(&su, fs::Permissions::from_mode(0o4755)).expect("chmod");
    let net_raw = capcore::FileCaps {
        revision: capcore::xattr::Revision::V2,
        effective: true,
        permitted: capcore::CapSet::from_bits(1 << 13),
        inheritable: capcore::CapSet::EMPTY,
        rootid: None,
        stray_flags: 0,
    };
    // A directory and a symlink may carry a value too; each is listed with its own type.
    let sub = dir.path().join("sub");
    let link = dir.path().join("link");
    fs::create_dir(&sub).expect("mkdir");
    fs::set_permissions(&sub, fs::Permissions::from_mode(0o711)).expect("chmod");
    std::os::unix::fs::symlink("ping", &link).expect("symlink");
    for path in [&ping, &odd, &sub] {
        xattr::set(path, "security.capability", &net_raw.encode()).expect("setxattr");
    }
    rustix::fs::lsetxattr(
        &link,
        "security.capability",
        &net_raw.encode(),
        rustix::fs::XattrFlags::empty(),
    )
    .expect("lsetxattr on the symlink");
    let before = SystemTime::now();
    let run = run_cmd(
        Command::new(bin("capscan"))
            .args(["--ecs", "--setuid", "--audit"])
            .arg(dir.path()),
        None,
    );
    let after = SystemTime::now();
    assert_eq!(
        run.code, 1,
        "--audit flags the set-uid shell: {}",
        run.stderr
    );
    let docs = ndjson(run.stdout.as_bytes());
    assert_eq!(docs.len(), 5, "{docs:#?}");
    for reference in references() {
        reference.assert_valid(&docs);
    }
    let by_name: HashMap<String, &Value> = docs
        .iter()
        .map(|d| (d["file"]["name"].as_str().unwrap_or("").to_string(), d))
        .collect();
    let root = dir.path().to_str().expect("a UTF-8 temp dir");
    let ping_doc = by_name["ping"];
    assert_header(ping_doc, "capscan", "file", before, after);
    assert_eq!(ping_doc["file"]["path"], format!("{root}/ping"));
    assert_eq!(ping_doc["file"]["directory"], root);
    assert_eq!(ping_doc["file"]["type"], "file");
    assert_eq!(ping_doc["file"]["mode"], "0750");
    assert_eq!(ping_doc["file"]["uid"], "0");
    assert_eq!(ping_doc["file"]["owner"], "root");
    assert_eq!(
        ping_doc["file"]["inode"],
        fs::metadata(&ping).expect("stat").ino().to_string()
    );
    let caps = &ping_doc["capkit"]["file"]["capabilities"];
    assert_eq!(ping_doc["capkit"]["file"]["kind"], "capabilities");
    assert_eq!(caps["text"], "cap_net_raw=ep");
    // The file's effective flag is a boolean under its own name: `effective` is always a set.
    assert_eq!(caps["effective_flag"], true);
    assert!(caps.get("effective").is_none(), "{caps}");
    assert_eq!(
        caps["permitted"],
        serde_json::json!({"hex": "0000000000002000", "caps": ["cap_net_raw"]})
    );
    let odd_doc = by_name["odd\u{fffd}name"];
    assert_eq!(
        odd_doc["capkit"]["file"]["path"]["bytes"],
        Value::from(hex(odd.as_os_str().as_bytes()))
    );
    assert_eq!(by_name["sub"]["file"]["type"], "dir");
    assert_eq!(by_name["sub"]["file"]["mode"], "0711");
    assert_eq!(by_name["link"]["file"]["type"], "symlink");
    assert_eq!(
        by_name["link"]["file"]["inode"],
        fs::symlink_metadata(&link)
            .expect("lstat")
            .ino()
            .to_string()
    );
    assert_eq!(by_name["link"]["capkit"]["file"]["kind"], "capabilities");
    let su_doc = by_name["bash"];
    assert_eq!(su_doc["file"]["mode"], "4755");
    assert_eq!(su_doc["capkit"]["file"]["kind"], "setid");
    assert_eq!(su_doc["capkit"]["file"]["setuid"], true);
    assert!(su_doc["capkit"]["findings"]
        .as_array()
        .is_some_and(|f| !f.is_empty()));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn capscan_ecs_conflicts_with_the_other_formats() {
    for other in ["--json", "--getcap", "--restore"] {
        let run = crate::util::run("capscan", &["--ecs", other, "/nonexistent"], None);
        assert_eq!(run.code, 2, "{other}: {}", run.stderr);
    }
}
