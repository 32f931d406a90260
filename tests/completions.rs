//! The shell completions in completions/ must be what the binaries generate now. A stale file fails the
//! test; `CAPKIT_BLESS=1 cargo test completions` rewrites them.

use std::fs;
use std::path::Path;

use crate::util::run;

/// Every binary the package ships, read from Cargo.toml, less the test helpers.
fn binaries() -> Vec<String> {
    let manifest = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .expect("read Cargo.toml");
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if let Some(name) = line.strip_prefix("name = ").filter(|_| in_bin) {
            let name = name.trim_matches('"');
            if !name.starts_with("capkit-test") {
                names.push(name.to_string());
            }
        }
    }
    names
}

#[test]
fn completions_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    let bless = std::env::var_os("CAPKIT_BLESS").is_some();
    let mut stale = Vec::new();
    let bins = binaries();
    assert!(bins.contains(&"capdecode".to_string()));
    for bin in &bins {
        for (shell, file) in [
            ("bash", format!("{bin}.bash")),
            ("zsh", format!("_{bin}")),
            ("fish", format!("{bin}.fish")),
        ] {
            let out = run(bin, &["--generate-completions", shell], None);
            assert_eq!(
                out.code, 0,
                "{bin} --generate-completions {shell}: {}",
                out.stderr
            );
            assert!(out.stdout.contains(bin.as_str()));
            let path = dir.join(&file);
            let current = fs::read_to_string(&path).unwrap_or_default();
            if current != out.stdout {
                if bless {
                    fs::create_dir_all(&dir).expect("create completions/");
                    fs::write(&path, &out.stdout).expect("write completion");
                } else {
                    stale.push(file);
                }
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale completions {stale:?}: run `CAPKIT_BLESS=1 cargo test completions` and commit completions/"
    );
}
