//! One house style across the six tools: what a user sees of one tool holds of every other.

use crate::completions::TOOLS;
use crate::util::run;

/// clap's errors too are one line that names the tool and says where to read more, with exit 2.
#[test]
fn every_usage_error_is_one_line_naming_the_tool() {
    for tool in TOOLS {
        for args in [
            &["--no-such-flag"][..],
            &["--color"][..],
            &["--color", "\x1b[2Jx"][..],
        ] {
            let out = run(tool, args, None);
            assert_eq!(out.code, 2, "{tool} {args:?}: {}", out.stderr);
            assert_eq!(
                out.stderr.lines().count(),
                1,
                "{tool} {args:?}: {}",
                out.stderr
            );
            assert!(
                out.stderr.starts_with(&format!("{tool}: ")),
                "{tool} {args:?}: {}",
                out.stderr
            );
            assert!(
                out.stderr.contains(&format!("'{tool} --help'")),
                "{tool} {args:?}: {}",
                out.stderr
            );
            assert!(
                !out.stderr.contains('\x1b'),
                "{tool} {args:?}: {:?}",
                out.stderr
            );
            assert!(out.stdout.is_empty(), "{tool} {args:?}: {}", out.stdout);
        }
        let help = run(tool, &["--help"], None);
        assert_eq!(help.code, 0, "{tool} --help: {}", help.stderr);
        assert!(help.stdout.contains("Usage:"), "{tool} --help");
    }
}

/// Each JSON key's type in every record of every tool: a key means one thing of one type everywhere
/// (null is "unknown" or "none", allowed with any type), and a key named like a set is always
/// `{"hex", "caps"}`.
fn key_types(
    value: &serde_json::Value,
    seen: &mut std::collections::BTreeMap<String, (String, String)>,
    tool: &str,
) {
    use serde_json::Value;
    let Value::Object(map) = value else {
        if let Value::Array(items) = value {
            for item in items {
                key_types(item, seen, tool);
            }
        }
        return;
    };
    for (key, item) in map {
        let kind = match item {
            Value::Null => {
                continue;
            }
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(o) if o.contains_key("hex") && o.contains_key("caps") => "set",
            Value::Object(o) if o.len() == 1 && o.contains_key("bytes") => "string",
            Value::Object(_) => "object",
        };
        // A string that is not UTF-8 is written as {"bytes": hex}: the same key, the same meaning.
        match seen.get(key) {
            Some((first, by)) if first != kind => {
                panic!("`{key}` is a {first} in {by} and a {kind} in {tool}: {item}")
            }
            Some(_) => {}
            None => {
                seen.insert(key.clone(), (kind.to_string(), tool.to_string()));
            }
        }
        key_types(item, seen, tool);
    }
}

#[test]
fn a_json_key_has_one_type_in_every_tool() {
    let me = std::process::id().to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f");
    std::fs::write(&file, b"#!/bin/sh\n").expect("write");
    let file = file.to_string_lossy().into_owned();
    let dir_text = dir.path().to_string_lossy().into_owned();
    let mut runs: Vec<(&str, Vec<&str>)> = vec![
        ("capls", vec!["--json", "-a", "-t", &me]),
        ("capls", vec!["--json", "-l", &me]),
        ("capnet", vec!["--json", "-a", "--unix"]),
        ("capdecode", vec!["--json", "3fffffffff"]),
        ("capdecode", vec!["--json", "cap_net_raw+ep"]),
        ("capsim", vec!["--json", "/bin/true"]),
        (
            "capsim",
            vec!["--json", "--explain", "--uid", "1000", "/bin/true"],
        ),
        ("capscan", vec!["--json", &dir_text]),
    ];
    if crate::util::is_root() {
        let _ = xattr::set(
            &file,
            "security.capability",
            &[
                1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
        );
        runs.push((
            "captrace",
            vec!["--json", "-o", "/dev/stdout", "--", "/bin/true"],
        ));
        runs.push((
            "captrace",
            vec!["--json", "--checks", "-o", "/dev/stdout", "--", "/bin/true"],
        ));
    } else {
        crate::util::skipped("captrace's records need root (BPF); the other tools' are checked");
    }
    let mut seen = std::collections::BTreeMap::new();
    for (tool, args) in &runs {
        let out = run(tool, args, None);
        for line in out.stdout.lines() {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{tool} {args:?}: {e}: {line}"));
            key_types(&value, &mut seen, tool);
        }
    }
    for key in [
        "effective",
        "permitted",
        "inheritable",
        "bounding",
        "ambient",
        "needs",
        "unneeded",
        "socket_needs",
        "needed",
        "denied",
    ] {
        if let Some((kind, by)) = seen.get(key) {
            assert_eq!(kind, "set", "`{key}` in {by}");
        }
    }
    assert_eq!(seen.get("threads").map(|t| t.0.as_str()), Some("number"));
    assert_eq!(seen.get("euid").map(|t| t.0.as_str()), Some("number"));
}
