//! What a SIGKILL of captrace leaves: nothing of COMMAND. captrace cannot act once killed, so a small
//! watcher does it: a shell, started before COMMAND, blocked reading a pipe whose only writer is
//! captrace. However captrace ends, the kernel closes that pipe; the watcher then kills everything in the
//! leaf (`cgroup.kill`: COMMAND and all its descendants, also those that setsid and double-fork away)
//! and removes it (sub-cgroups COMMAND made too). On a normal end captrace has removed the leaf already, and the watcher finds nothing.
//!
//! PR_SET_PDEATHSIG in COMMAND would reach COMMAND alone, not what it started, and the kernel clears it
//! at the exec of a set-id or file-capability program (ping, sudo): the leaf is the one handle on all of
//! them. The watcher runs in a process group of its own, so a Ctrl-C at the terminal does not end it.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

/// The watcher's script: `$1` is the leaf. The wait for the leaf to empty is bounded (100 × 50 ms).
const WATCH: &str = r#"read -r _
echo 1 > "$1/cgroup.kill" 2>/dev/null || exit 0
i=0
while [ "$i" -lt 100 ] && grep -q '^populated 1' "$1/cgroup.events" 2>/dev/null; do
    sleep 0.05
    i=$((i + 1))
done
find "$1" -depth -type d -exec rmdir {} + 2>/dev/null
exit 0"#;

/// A running watcher over one leaf.
pub struct Guard {
    child: Child,
    /// The pipe's write end: closing it (captrace's end, of any kind) sets the watcher off.
    alive: Option<ChildStdin>,
}

impl Guard {
    /// Starts the watcher over `leaf` (a cgroup directory). Call before COMMAND is started.
    pub fn watch(leaf: &Path) -> io::Result<Guard> {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(WATCH)
            .arg("captrace-guard")
            .arg(leaf)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let alive = child.stdin.take();
        Ok(Guard { child, alive })
    }

    /// Ends the watcher once the leaf is gone: it wakes, finds nothing to kill, and exits.
    pub fn release(mut self) {
        drop(self.alive.take());
        let _ = self.child.wait();
    }
}
