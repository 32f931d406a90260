//! Test processes: `capkit-test-child` spawned in a chosen state, killed when the guard drops (also when a
//! test fails), and a few readers of /proc to compare tools against the kernel's own words.

use std::ffi::OsStr;
use std::process::{Child, Command, Stdio};

/// A running test child; dropping it kills and reaps it.
pub struct TestChild {
    child: Child,
    pub pid: u32,
    /// The second thread's id, when `--thread` was given.
    pub tid: Option<u32>,
}

impl TestChild {
    /// Spawns the child with `args` and waits (at most 10 s) for its `ready` line.
    pub fn spawn<I, S>(args: I) -> TestChild
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = Command::new(crate::util::helper("capkit-test-child"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn capkit-test-child");
        let line = crate::util::first_line(&mut child);
        let mut guard = TestChild {
            pid: child.id(),
            child,
            tid: None,
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() != Some(&"ready") {
            guard.kill();
            let mut stderr = String::new();
            if let Some(mut pipe) = guard.child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            panic!("capkit-test-child did not get ready: {line:?}; stderr: {stderr}");
        }
        guard.tid = words.get(2).and_then(|t| t.parse().ok());
        guard
    }

    /// Kills the child now and waits for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestChild {
    fn drop(&mut self) {
        self.kill();
    }
}

pub use crate::util::is_root;

/// Returns early from a test, saying why, when not root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::spawn::is_root() {
            $crate::util::skipped("needs root (CI runs as root)");
            return;
        }
    };
}

/// The `Label:\tvalue` lines of /proc/PID/task/TID/status, as text.
pub fn task_status(pid: u32, tid: u32) -> Vec<(String, String)> {
    let bytes = std::fs::read(format!("/proc/{pid}/task/{tid}/status")).expect("read status");
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|line| {
            let (label, value) = line.split_once(':')?;
            Some((label.to_string(), value.trim().to_string()))
        })
        .collect()
}

/// One value of a status file.
pub fn status_value(status: &[(String, String)], label: &str) -> String {
    status
        .iter()
        .find(|(l, _)| l == label)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no {label} line"))
}
