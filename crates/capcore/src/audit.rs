//! The rules of a file-capability audit, as pure functions: which capabilities amount to root, which
//! programs hand their capabilities to whatever script they run, and when a file can be replaced by
//! someone who is not root. The caller gathers the facts (names, owners, modes); this module judges them.

use std::fmt;

use crate::cap::Cap;
use crate::set::CapSet;

/// Capabilities that lead to full root: each one can be turned into uid 0 or into every other capability
/// (write /etc/shadow, load a module, ptrace a root process, set file capabilities, …).
pub const ROOT_EQUIVALENT: CapSet = CapSet::from_bits(
    Cap::SETUID.mask()
        | Cap::SETGID.mask()
        | Cap::DAC_OVERRIDE.mask()
        | Cap::DAC_READ_SEARCH.mask()
        | Cap::SYS_ADMIN.mask()
        | Cap::SYS_PTRACE.mask()
        | Cap::SYS_MODULE.mask()
        | Cap::SYS_RAWIO.mask()
        | Cap::CHOWN.mask()
        | Cap::FOWNER.mask()
        | Cap::SETFCAP.mask()
        | Cap::BPF.mask(),
);

/// The root-equivalent capabilities a file grants, permitted or inheritable.
pub fn root_equivalent(permitted: CapSet, inheritable: CapSet) -> CapSet {
    (permitted | inheritable) & ROOT_EQUIVALENT
}

/// Programs that run code or touch files chosen by whoever runs them: a capability on one of them is a
/// capability for any script, file or command its user picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProgramKind {
    Interpreter,
    Shell,
    Editor,
    Pager,
    Debugger,
    Archiver,
    /// Runs another command given on its command line (env, find, xargs, …).
    CommandRunner,
}

impl ProgramKind {
    pub const fn name(self) -> &'static str {
        match self {
            ProgramKind::Interpreter => "interpreter",
            ProgramKind::Shell => "shell",
            ProgramKind::Editor => "editor",
            ProgramKind::Pager => "pager",
            ProgramKind::Debugger => "debugger",
            ProgramKind::Archiver => "archiver",
            ProgramKind::CommandRunner => "command runner",
        }
    }
}

impl fmt::Display for ProgramKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const PROGRAMS: &[(ProgramKind, &[&str])] = &[
    (
        ProgramKind::Interpreter,
        &[
            "python",
            "pypy",
            "perl",
            "ruby",
            "irb",
            "node",
            "nodejs",
            "deno",
            "bun",
            "php",
            "lua",
            "luajit",
            "tclsh",
            "wish",
            "awk",
            "gawk",
            "mawk",
            "nawk",
            "java",
            "jshell",
            "julia",
            "guile",
            "R",
            "Rscript",
            "expect",
            "osascript",
            "racket",
            "sbcl",
            "ghci",
            "erl",
            "escript",
            "elixir",
            "iex",
            "scala",
            "groovy",
            "kotlin",
            "dotnet",
            "pwsh",
            "qjs",
        ],
    ),
    (
        ProgramKind::Shell,
        &[
            "sh", "bash", "rbash", "dash", "zsh", "ksh", "ksh93", "mksh", "pdksh", "oksh", "csh",
            "tcsh", "fish", "ash", "busybox", "yash", "elvish", "nu", "xonsh", "rc", "es",
        ],
    ),
    (
        ProgramKind::Editor,
        &[
            "vi", "vim", "nvim", "view", "vimdiff", "rvim", "rview", "ex", "emacs", "nano", "pico",
            "ed", "red", "joe", "jed", "mcedit", "micro", "hx", "helix", "kak", "sed", "ne", "mg",
        ],
    ),
    (ProgramKind::Pager, &["less", "more", "most", "pg", "man"]),
    (
        ProgramKind::Debugger,
        &[
            "gdb", "lldb", "strace", "ltrace", "valgrind", "perf", "bpftrace", "radare2", "r2",
        ],
    ),
    (
        ProgramKind::Archiver,
        &[
            "tar", "gtar", "bsdtar", "cpio", "zip", "unzip", "7z", "7za", "7zr", "rar", "unrar",
            "ar", "pax", "rsync", "dd",
        ],
    ),
    (
        ProgramKind::CommandRunner,
        &[
            "env", "find", "xargs", "nice", "timeout", "nohup", "stdbuf", "setsid", "taskset",
            "ionice", "flock", "watch", "script", "chroot", "unshare", "nsenter", "capsh",
            "setpriv", "make", "git",
        ],
    ),
];

/// What kind of program a file name is, looking past version suffixes and variants: `python3.11`,
/// `perl5.36.0`, `vim.basic`, `lua5.4` and `bash` are all recognised.
pub fn program_kind(file_name: &[u8]) -> Option<ProgramKind> {
    let name = std::str::from_utf8(file_name).ok()?;
    let candidates = [name, base_program_name(name)];
    PROGRAMS.iter().find_map(|(kind, names)| {
        candidates
            .iter()
            .any(|c| names.contains(c))
            .then_some(*kind)
    })
}

/// `python3.11` → `python`, `vim.basic` → `vim`, `lua5.4` → `lua`, `x86_64-linux-gnu-gdb` stays.
fn base_program_name(name: &str) -> &str {
    let head = name.split('.').next().unwrap_or(name);
    let trimmed = head.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '_');
    if trimmed.is_empty() {
        head
    } else {
        trimmed
    }
}

/// Owner, group and mode of a file or directory on the way from a hit up to `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPerm {
    pub path: Vec<u8>,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Who other than root can replace or change a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Writer {
    /// A non-root owner (who can always chmod and write).
    Owner(u32),
    /// A non-root group with write permission.
    Group(u32),
    /// Everybody.
    Others,
}

impl fmt::Display for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Writer::Owner(uid) => write!(f, "its owner, uid {uid}"),
            Writer::Group(gid) => write!(f, "group {gid}"),
            Writer::Others => f.write_str("every user"),
        }
    }
}

/// The first place on the chain (the file first, then each directory up to `/`) that someone other than
/// root can write, and who. In a sticky directory (like /tmp) other users cannot replace an entry they do
/// not own, so group and world write there do not count when the directory and the entry below are
/// root's.
pub fn writable_by_non_root(chain: &[PathPerm]) -> Option<(&PathPerm, Writer)> {
    for (i, node) in chain.iter().enumerate() {
        if node.uid != 0 {
            return Some((node, Writer::Owner(node.uid)));
        }
        let below_is_roots = i == 0 || chain[i - 1].uid == 0;
        if i > 0 && node.mode & 0o1000 != 0 && below_is_roots {
            continue;
        }
        if node.mode & 0o020 != 0 && node.gid != 0 {
            return Some((node, Writer::Group(node.gid)));
        }
        if node.mode & 0o002 != 0 {
            return Some((node, Writer::Others));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_equivalent_set() {
        assert_eq!(ROOT_EQUIVALENT.len(), 12);
        let net = CapSet::from(Cap::NET_RAW);
        assert!(root_equivalent(net, CapSet::EMPTY).is_empty());
        let caps = root_equivalent(net.with(Cap::SETUID), CapSet::from(Cap::BPF));
        assert_eq!(caps.names(), vec!["cap_setuid", "cap_bpf"]);
    }

    #[test]
    fn recognises_programs() {
        let kind = |n: &str| program_kind(n.as_bytes());
        assert_eq!(kind("python3.11"), Some(ProgramKind::Interpreter));
        assert_eq!(kind("python3"), Some(ProgramKind::Interpreter));
        assert_eq!(kind("perl5.36.0"), Some(ProgramKind::Interpreter));
        assert_eq!(kind("lua5.4"), Some(ProgramKind::Interpreter));
        assert_eq!(kind("vim.basic"), Some(ProgramKind::Editor));
        assert_eq!(kind("bash"), Some(ProgramKind::Shell));
        assert_eq!(kind("dash"), Some(ProgramKind::Shell));
        assert_eq!(kind("less"), Some(ProgramKind::Pager));
        assert_eq!(kind("gdb"), Some(ProgramKind::Debugger));
        assert_eq!(kind("tar"), Some(ProgramKind::Archiver));
        assert_eq!(kind("7z"), Some(ProgramKind::Archiver));
        assert_eq!(kind("env"), Some(ProgramKind::CommandRunner));
        assert_eq!(kind("ping"), None);
        assert_eq!(kind("mtr-packet"), None);
        assert_eq!(kind("shutdown"), None);
        assert_eq!(program_kind(b"\xff"), None);
    }

    fn perm(path: &str, mode: u32, uid: u32, gid: u32) -> PathPerm {
        PathPerm {
            path: path.as_bytes().to_vec(),
            mode,
            uid,
            gid,
        }
    }

    #[test]
    fn writable_chains() {
        let root_dirs = [perm("/usr/bin", 0o40755, 0, 0), perm("/usr", 0o40755, 0, 0)];
        let mut chain = vec![perm("/usr/bin/ping", 0o100755, 0, 0)];
        chain.extend(root_dirs.iter().cloned());
        assert_eq!(writable_by_non_root(&chain), None);

        chain[0].uid = 1000;
        let (at, who) = writable_by_non_root(&chain).unwrap();
        assert_eq!(
            (at.path.as_slice(), who),
            (&b"/usr/bin/ping"[..], Writer::Owner(1000))
        );

        chain[0].uid = 0;
        chain[1] = perm("/usr/local/bin", 0o42775, 0, 50);
        let (at, who) = writable_by_non_root(&chain).unwrap();
        assert_eq!(
            (at.path.as_slice(), who),
            (&b"/usr/local/bin"[..], Writer::Group(50))
        );

        // A root file in a root-owned sticky /tmp is safe; a user's directory in /tmp is not.
        let tmp = vec![perm("/tmp/x", 0o100755, 0, 0), perm("/tmp", 0o41777, 0, 0)];
        assert_eq!(writable_by_non_root(&tmp), None);
        let tmp = vec![
            perm("/tmp/d/x", 0o100755, 0, 0),
            perm("/tmp/d", 0o40777, 0, 0),
            perm("/tmp", 0o41777, 0, 0),
        ];
        assert_eq!(writable_by_non_root(&tmp).unwrap().1, Writer::Others);
        // World-writable file.
        let file = vec![perm("/x", 0o100757, 0, 0)];
        assert_eq!(writable_by_non_root(&file).unwrap().1, Writer::Others);
    }
}
