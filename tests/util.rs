//! Shared test helpers: running a capkit binary, finding the reference tools, and skipping politely when
//! the machine cannot run a test (not root, a tool missing).

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The path of one of the package's binaries, built by cargo for the tests.
pub fn bin(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_capdecode"))
        .parent()
        .expect("binaries live in a directory")
        .to_path_buf();
    dir.join(name)
}

/// What a finished command left behind.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Each stdout line parsed as JSON.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON {line:?}: {e}"))
            })
            .collect()
    }
}

/// Runs a capkit binary with arguments and optional standard input.
pub fn run(name: &str, args: &[&str], stdin: Option<&[u8]>) -> Run {
    run_cmd(Command::new(bin(name)).args(args), stdin)
}

pub fn run_cmd(cmd: &mut Command, stdin: Option<&[u8]>) -> Run {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(input).expect("write stdin");
    }
    Run::from(child.wait_with_output().expect("wait for child"))
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The path of a tool if it is on PATH, found as a shell would find it: the first executable file of
/// that name in PATH's directories. A tool hidden from PATH is missing, whatever is installed elsewhere,
/// because the commands a test runs find their tools through PATH too.
pub fn tool(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|file| {
            std::fs::metadata(file)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Whether a tool is on PATH.
pub fn have(name: &str) -> bool {
    tool(name).is_some()
}

/// Waits (at most 10 s) for the first line a spawned test process prints on its piped stdout; the empty
/// string when it printed nothing in time.
pub fn first_line(child: &mut std::process::Child) -> String {
    use std::io::{BufRead, BufReader};
    let Some(stdout) = child.stdout.take() else {
        return String::new();
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .unwrap_or_default()
}

/// Returns early from a test when `$cond` does not hold, saying why through [`skipped`], so that the skip
/// is counted.
#[macro_export]
macro_rules! skip_unless {
    ($cond:expr, $why:expr) => {
        if !$cond {
            $crate::util::skipped(&$why);
            return;
        }
    };
}

/// A small deterministic random number generator (xorshift64*), so failures can be replayed from the seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A mask biased towards the shapes that matter: empty, full, sparse, dense, and unknown bits.
    pub fn mask(&mut self) -> u64 {
        match self.next() % 8 {
            0 => 0,
            1 => (1 << 41) - 1,
            2 => self.next() & self.next() & self.next(),
            3 => self.next() | self.next(),
            4 => ((1 << 41) - 1) & !(1 << (self.next() % 41)),
            5 => self.next() & ((1 << 41) - 1),
            _ => self.next(),
        }
    }

    pub fn seed_from_env(default: u64) -> u64 {
        std::env::var("CAPKIT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    }
}

/// Says why a test cannot run here and records it, so `.ci/run` can count skips: cargo shows a passing
/// test's stderr to nobody, and a skipped test passes. The record goes to the file `CAPKIT_SKIP_LOG`
/// names, one line per skip: the test thread's name, a tab, the reason.
pub fn skipped(reason: &str) {
    eprintln!("skipped: {reason}");
    let Some(log) = std::env::var_os("CAPKIT_SKIP_LOG") else {
        return;
    };
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("?");
    let line = format!("{test}\t{}\n", reason.replace('\n', " "));
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut file| file.write_all(line.as_bytes()));
    if let Err(e) = appended {
        eprintln!(
            "cannot record the skip in {}: {e}",
            Path::new(&log).display()
        );
    }
}

/// The path of one of the test processes (`capkit-test-child`, `-sockets`, `-launcher`, `-probe`). They
/// live in the workspace package `capkit-testbins`, outside the root package so that `cargo install`
/// installs only the tools; the first call builds that package with the cargo running the tests, in the
/// same target directory and profile.
pub fn helper(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<Result<Vec<(String, PathBuf)>, String>> =
        std::sync::OnceLock::new();
    let built = BUILT.get_or_init(build_testbins);
    let executables = built
        .as_ref()
        .unwrap_or_else(|why| panic!("cannot build the test processes: {why}"));
    executables
        .iter()
        .find(|(bin, _)| bin == name)
        .map(|(_, path)| path.clone())
        .unwrap_or_else(|| panic!("capkit-testbins has no binary {name}"))
}

/// Builds `capkit-testbins` and returns each binary's name and path, as cargo reports them.
fn build_testbins() -> Result<Vec<(String, PathBuf)>, String> {
    let release = bin("capdecode")
        .components()
        .any(|c| c.as_os_str() == "release");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet", "--package", "capkit-testbins", "--bins"])
        .arg("--message-format=json-render-diagnostics")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    if release {
        cmd.arg("--release");
    }
    let output = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!("cargo build failed: {}", output.status));
    }
    let mut executables = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let name = message["target"]["name"].as_str();
        let path = message["executable"].as_str();
        if let (Some(name), Some(path)) = (name, path) {
            executables.push((name.to_string(), PathBuf::from(path)));
        }
    }
    Ok(executables)
}

/// Runs a capkit binary on a terminal: a pseudo-terminal made by util-linux's `script`, with COLUMNS and
/// NO_COLOR unset unless `env` sets them. `None` when `script` is not installed. The terminal's output
/// keeps its carriage returns and colour codes: `plain` takes them out.
pub fn on_terminal(name: &str, args: &[&str], env: &[(&str, &str)]) -> Option<Run> {
    let script = tool("script")?;
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut line = quote(&bin(name).to_string_lossy());
    for arg in args {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    let mut cmd = Command::new(script);
    cmd.args(["-qec", &line, "/dev/null"])
        .env_remove("COLUMNS")
        .env_remove("NO_COLOR")
        .env("SHELL", "/bin/sh");
    for (key, value) in env {
        cmd.env(key, value);
    }
    Some(run_cmd(&mut cmd, None))
}

/// What a terminal shows of `text`: without colour codes and carriage returns.
pub fn plain(text: &str) -> String {
    capcli::term::strip_sgr(text).replace('\r', "")
}
