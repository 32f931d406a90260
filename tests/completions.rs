//! What `install.sh` gives a user: exactly the tools, and for each its shell completions and man page,
//! which must be what the binaries generate now. A stale file fails the test;
//! `CAPKIT_BLESS=1 cargo test completions` rewrites completions/ and man/.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{run, run_cmd, tool};

/// The tools capkit ships.
pub(crate) const TOOLS: [&str; 6] = [
    "capdecode",
    "capls",
    "capnet",
    "capscan",
    "capsim",
    "captrace",
];

/// The target directory the tests' binaries were built in.
fn target_dir() -> PathBuf {
    let bin = crate::util::bin("capdecode");
    let profile = bin.parent().expect("a profile directory");
    profile.parent().expect("a target directory").to_path_buf()
}

#[test]
fn install_script_installs_exactly_the_tools_their_man_pages_and_completions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let prefix = tempfile::tempdir().expect("temp dir");
    // A target directory of its own, kept between runs: cargo install must not relink the binaries the
    // other tests are running.
    let target = target_dir().join("install-test");
    let out = Command::new("sh")
        .arg(root.join("install.sh"))
        .args(["--debug", "--offline", "--target-dir"])
        .arg(&target)
        .env("PREFIX", prefix.path())
        .env_remove("DESTDIR")
        .output()
        .expect("run install.sh");
    assert!(
        out.status.success(),
        "install.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = |dir: &str| -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(prefix.path().join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(listing("bin"), TOOLS);
    let pages: Vec<String> = TOOLS.iter().map(|t| format!("{t}.1")).collect();
    assert_eq!(listing("share/man/man1"), pages);
    assert_eq!(listing("share/bash-completion/completions"), TOOLS);
    let zsh: Vec<String> = TOOLS.iter().map(|t| format!("_{t}")).collect();
    assert_eq!(listing("share/zsh/site-functions"), zsh);
    let fish: Vec<String> = TOOLS.iter().map(|t| format!("{t}.fish")).collect();
    assert_eq!(listing("share/fish/vendor_completions.d"), fish);
    // What was installed runs.
    let version = Command::new(prefix.path().join("bin/capls"))
        .arg("--version")
        .output()
        .expect("run the installed capls");
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("capls "));
}

#[test]
fn completions_and_man_pages_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bless = std::env::var_os("CAPKIT_BLESS").is_some();
    let mut stale = Vec::new();
    for bin in TOOLS {
        for (kind, dir, file) in [
            ("bash", "completions", format!("{bin}.bash")),
            ("zsh", "completions", format!("_{bin}")),
            ("fish", "completions", format!("{bin}.fish")),
            ("man", "man", format!("{bin}.1")),
        ] {
            let out = run(bin, &["--generate", kind], None);
            assert_eq!(out.code, 0, "{bin} --generate {kind}: {}", out.stderr);
            assert!(out.stdout.contains(bin));
            let path = root.join(dir).join(&file);
            let current = fs::read_to_string(&path).unwrap_or_default();
            if current != out.stdout {
                if bless {
                    fs::create_dir_all(root.join(dir)).expect("create the directory");
                    fs::write(&path, &out.stdout).expect("write the file");
                } else {
                    stale.push(format!("{dir}/{file}"));
                }
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale {stale:?}: run `CAPKIT_BLESS=1 cargo test completions` and commit completions/ and man/"
    );
}

/// Every page has man(7)'s sections in their order, a SYNOPSIS with the options' arguments, only ASCII
/// (troff warns about "…" under LC_ALL=C), and renders clean: `man --warnings` says nothing, lexgrog
/// finds its NAME line, and mandoc's lint (where installed) finds no warning.
#[test]
fn man_pages_have_the_standard_sections_and_render_clean() {
    const ORDER: [&str; 9] = [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH DESCRIPTION",
        ".SH OPTIONS",
        ".SH \"EXIT STATUS\"",
        ".SH ENVIRONMENT",
        ".SH FILES",
        ".SH EXAMPLES",
        ".SH \"SEE ALSO\"",
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    for bin in TOOLS {
        let man = run(bin, &["--generate", "man"], None).stdout;
        assert!(man.is_ascii(), "{bin}: not ASCII");
        let mut at = 0;
        for heading in ORDER {
            match man[at..].find(heading) {
                Some(found) => at += found,
                None if heading == ".SH FILES" && bin == "capdecode" => {}
                None => panic!("{bin}: no {heading} after byte {at}"),
            }
        }
        assert!(!man.contains(".SH EXTRA"), "{bin}");
        let synopsis =
            &man[man.find(".SH SYNOPSIS").unwrap_or(0)..man.find(".SH DESCRIPTION").unwrap_or(0)];
        assert!(
            synopsis.contains("\\fI"),
            "{bin}: no option argument in {synopsis}"
        );
        for other in TOOLS.iter().filter(|t| **t != bin) {
            assert!(
                man.contains(&format!("\\fB{other}\\fR(1)")),
                "{bin}: SEE ALSO lacks {other}"
            );
        }
        assert!(man.contains("getcap(8)"), "{bin}");
        let page = dir.path().join(format!("{bin}.1"));
        std::fs::write(&page, &man).expect("write page");
        if let Some(man_cmd) = tool("man") {
            let out = run_cmd(
                Command::new(man_cmd)
                    .args(["--warnings", "-l"])
                    .arg(&page)
                    .env("LC_ALL", "C")
                    .env("MANWIDTH", "80")
                    .env("MANPAGER", "cat")
                    .env("PAGER", "cat"),
                None,
            );
            assert_eq!(out.code, 0, "{bin}: man: {}", out.stderr);
            assert_eq!(out.stderr, "", "{bin}: man --warnings");
            assert!(out.stdout.contains("EXIT STATUS"), "{bin}");
        }
        if let Some(lexgrog) = tool("lexgrog") {
            let out = run_cmd(Command::new(lexgrog).arg(&page), None);
            assert_eq!(out.code, 0, "{bin}: lexgrog: {}{}", out.stdout, out.stderr);
            assert!(
                out.stdout.contains(&format!("{bin} - ")),
                "{bin}: {}",
                out.stdout
            );
        }
        if let Some(mandoc) = tool("mandoc") {
            let out = run_cmd(
                Command::new(mandoc)
                    .args(["-T", "lint", "-W", "warning"])
                    .arg(&page),
                None,
            );
            assert_eq!(out.stdout + &out.stderr, "", "{bin}: mandoc -T lint");
        }
    }
}

/// What bash offers after `TOOL ARGS… WORD<TAB>`, from the tool's generated completion script.
fn bash_completes(bin: &str, words: &[&str]) -> Vec<String> {
    let script = run(bin, &["--generate", "bash"], None).stdout;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("completion.bash");
    fs::write(&file, script).expect("write script");
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', "'\\''")))
        .collect();
    let cword = words.len() - 1;
    let cur = quoted[cword].clone();
    let prev = quoted[cword - 1].clone();
    let line = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={cword}; _{bin} {bin} {cur} {prev}; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display(),
        quoted.join(" "),
    );
    let out = run_cmd(Command::new("bash").args(["-c", &line]), None);
    out.stdout.lines().map(str::to_string).collect()
}

/// Capability names complete every option that takes capabilities, user names every user option, PIDs
/// every PID, and a command the word after captrace's `--`, in each tool that has them.
#[test]
fn completions_offer_capability_names_users_and_pids() {
    if tool("bash").is_none() {
        crate::util::skipped("bash is not on PATH");
        return;
    }
    let me = std::process::id().to_string();
    let prefix = &me[..me.len().min(2)];
    let cases: [(&str, &[&str], &str); 9] = [
        ("captrace", &["captrace", "--", "bas"], "bash"),
        (
            "capls",
            &["capls", "--cap", "cap_net_b"],
            "cap_net_bind_service",
        ),
        ("capls", &["capls", "-u", "ro"], "root"),
        ("capls", &["capls", "-a", prefix], me.as_str()),
        (
            "capnet",
            &["capnet", "--cap", "cap_sys_ad"],
            "cap_sys_admin",
        ),
        ("capnet", &["capnet", "--pid", prefix], me.as_str()),
        ("capsim", &["capsim", "--pid", prefix], me.as_str()),
        ("capsim", &["capsim", "--prm", "cap_setu"], "cap_setuid"),
        (
            "capsim",
            &["capsim", "--cap-add", "cap_net_r"],
            "cap_net_raw",
        ),
    ];
    for (bin, words, wanted) in cases {
        let offered = bash_completes(bin, words);
        assert!(
            offered.iter().any(|o| o == wanted),
            "{words:?}: {wanted} not offered: {offered:?}"
        );
    }
}

#[test]
fn man_pages_end_with_examples_and_completions_hide_hidden_flags() {
    for bin in TOOLS {
        let man = run(bin, &["--generate", "man"], None).stdout;
        assert!(man.contains(".SH NAME"), "{bin}: {man}");
        assert!(
            man.to_lowercase().contains("examples"),
            "{bin}'s man page has no examples"
        );
        let bash = run(bin, &["--generate", "bash"], None).stdout;
        assert!(
            !bash.contains("--generate"),
            "{bin}'s completions offer --generate"
        );
    }
}
