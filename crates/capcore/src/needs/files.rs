//! Which program file asked for each needed capability. COMMAND's own file is often not it: `sh -c
//! 'dmesg'`, `timeout 10 tcpdump`, a `#!` script that execs python each hand the work to another file,
//! and file capabilities (setcap) work only on the file that asks. The kernel's exec hook notes, for each
//! process and the name it took, the file it exec'd; the checks that made a capability needed are matched
//! to it by process and name.

use std::collections::BTreeMap;

use super::probe::is_probe;
use super::{Check, NsPlace};
use crate::CapSet;

/// One exec the trace saw: the process, the name it took (its comm), the file as given to execve, and
/// the file the kernel ran (the interpreter, for a `#!` script; else the same file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecFile {
    pub pid: u32,
    pub comm: Vec<u8>,
    pub path: Vec<u8>,
    pub interp: Vec<u8>,
}

/// The needed capabilities one file asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileNeed {
    /// The file exec'd, as given to execve; empty when no exec of the process was seen (checks counted
    /// without their process, or a process that ran before the trace).
    pub path: Vec<u8>,
    /// For a `#!` script, its interpreter: the file whose capabilities the script runs with.
    pub interpreter: Option<Vec<u8>>,
    pub caps: CapSet,
}

impl FileNeed {
    /// The file whose file capabilities would apply: the interpreter of a script, else the file.
    pub fn runs(&self) -> &[u8] {
        self.interpreter.as_deref().unwrap_or(&self.path)
    }
}

/// For each file that made a check behind a needed capability (granted, not a probe, against a namespace
/// the program did not create), the needed capabilities it asked for, in the order first seen. A row is
/// matched to the exec of the same process under the same name, else to an exec of the same name in
/// another process (a fork that did not exec), else to no file.
pub fn needs_by_file(checks: &[Check], execs: &[ExecFile], needed: CapSet) -> Vec<FileNeed> {
    let mut order: Vec<&ExecFile> = Vec::new();
    let mut caps: BTreeMap<usize, CapSet> = BTreeMap::new();
    let mut unknown = CapSet::EMPTY;
    let mut rows: Vec<&Check> = checks
        .iter()
        .filter(|c| needed.contains(c.cap) && c.granted && !is_probe(c))
        .filter(|c| matches!(c.ns, NsPlace::Base | NsPlace::Outside))
        .collect();
    rows.sort_by_key(|c| c.first_seen_ns);
    for row in rows {
        let exec = execs
            .iter()
            .find(|e| e.pid == row.pid && e.comm == row.comm)
            .or_else(|| {
                execs
                    .iter()
                    .find(|e| e.comm == row.comm && !row.comm.is_empty())
            });
        let Some(exec) = exec else {
            unknown = unknown.with(row.cap);
            continue;
        };
        let at = match order.iter().position(|e| same_file(e, exec)) {
            Some(at) => at,
            None => {
                order.push(exec);
                order.len() - 1
            }
        };
        let set = caps.entry(at).or_insert(CapSet::EMPTY);
        *set = set.with(row.cap);
    }
    let mut out: Vec<FileNeed> = order
        .iter()
        .enumerate()
        .map(|(at, exec)| FileNeed {
            path: exec.path.clone(),
            interpreter: (!exec.interp.is_empty() && exec.interp != exec.path)
                .then(|| exec.interp.clone()),
            caps: caps.get(&at).copied().unwrap_or(CapSet::EMPTY),
        })
        .collect();
    if !unknown.is_empty() {
        out.push(FileNeed {
            path: Vec::new(),
            interpreter: None,
            caps: unknown,
        });
    }
    out
}

fn same_file(a: &ExecFile, b: &ExecFile) -> bool {
    a.path == b.path && a.interp == b.interp
}

/// Shells and interpreters: file capabilities on one go to every script it runs, so advice that puts
/// them there must say so. Told by the file's name (`python3.11`, `bash`, `busybox`).
pub fn runs_scripts(path: &[u8]) -> bool {
    const NAMES: &[&str] = &[
        "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "busybox", "python", "perl",
        "ruby", "node", "php", "lua", "tclsh", "env",
    ];
    let name = path.rsplit(|b| *b == b'/').next().unwrap_or(path);
    let name = String::from_utf8_lossy(name);
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    NAMES.contains(&stem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cap;

    fn check(cap: Cap, pid: u32, comm: &[u8], at: u64) -> Check {
        Check {
            cap,
            granted: true,
            noaudit: Some(false),
            insetid: false,
            ns: NsPlace::Base,
            ns_inum: 4026531837,
            ns_level: 0,
            pid,
            comm: comm.to_vec(),
            caller: Some("do_syslog".to_string()),
            count: 1,
            first_seen_ns: at,
            recovered: false,
        }
    }

    fn exec(pid: u32, comm: &[u8], path: &[u8], interp: &[u8]) -> ExecFile {
        ExecFile {
            pid,
            comm: comm.to_vec(),
            path: path.to_vec(),
            interp: interp.to_vec(),
        }
    }

    #[test]
    fn the_file_that_asked_not_the_shell_that_ran_it() {
        // sh -c 'dmesg; chown …': sh forks, the child execs dmesg; a forked chown never execs again.
        let execs = [
            exec(10, b"sh", b"/usr/bin/sh", b"/usr/bin/sh"),
            exec(11, b"dmesg", b"/usr/bin/dmesg", b"/usr/bin/dmesg"),
            exec(12, b"tool.py", b"./tool.py", b"/usr/bin/python3"),
        ];
        let checks = [
            check(Cap::SYSLOG, 11, b"dmesg", 5),
            check(Cap::CHOWN, 12, b"tool.py", 7),
            check(Cap::KILL, 13, b"dmesg", 9),
            check(Cap::NET_RAW, 0, b"", 11),
        ];
        let needed = CapSet::EMPTY
            .with(Cap::SYSLOG)
            .with(Cap::CHOWN)
            .with(Cap::KILL)
            .with(Cap::NET_RAW);
        let files = needs_by_file(&checks, &execs, needed);
        assert_eq!(files.len(), 3);
        assert_eq!(files[0].path, b"/usr/bin/dmesg");
        assert_eq!(
            files[0].caps,
            CapSet::EMPTY.with(Cap::SYSLOG).with(Cap::KILL)
        );
        assert_eq!(files[0].runs(), b"/usr/bin/dmesg");
        assert_eq!(files[1].runs(), b"/usr/bin/python3");
        assert_eq!(files[1].caps, CapSet::EMPTY.with(Cap::CHOWN));
        assert!(files[2].path.is_empty());
        assert_eq!(files[2].caps, CapSet::EMPTY.with(Cap::NET_RAW));
    }

    #[test]
    fn shells_and_interpreters_are_told_apart() {
        for path in [
            "/bin/sh",
            "/usr/bin/bash",
            "/usr/bin/python3.11",
            "/usr/bin/perl5.36",
            "busybox",
        ] {
            assert!(runs_scripts(path.as_bytes()), "{path}");
        }
        for path in ["/usr/bin/dmesg", "/usr/sbin/tcpdump", "/usr/bin/shred"] {
            assert!(!runs_scripts(path.as_bytes()), "{path}");
        }
    }
}
