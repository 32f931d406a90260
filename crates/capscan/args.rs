//! capscan's command line, defined once with clap derive (completions are generated from it too).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// The most threads `-j` accepts. Every thread costs a stack and a start-up; past a few dozen none of
/// them has work (`-j 10000` took 85 s on 30 files).
pub const MAX_THREADS: u16 = 64;

#[derive(Parser, Debug)]
#[command(
    name = "capscan",
    version,
    about = "Find every file capability (and, with --setuid, every set-uid file) on a system, fast",
    long_about = "Find every file that carries security.capability under the given paths (default /), in \
parallel, without following symlinks or opening files. Every kind of file that can hold the value is \
listed, with its type. Filesystems whose files the kernel makes up (proc, sysfs, cgroup, debugfs, …) and \
remote ones (nfs, cifs, fuse.*, …) are skipped unless --all-fs is given; the decision comes from the \
mount table. Every other filesystem (devtmpfs, tmpfs, overlay, disks) is walked wherever it is mounted, \
also below a skipped one.",
    after_help = "Exit status: 0 done; 1 --audit found something or --baseline found drift; 2 usage or \
fatal error. Unreadable paths are reported on stderr, counted, and never stop the scan."
)]
pub struct Args {
    /// Directories or files to scan.
    #[arg(value_name = "PATH", default_value = "/")]
    pub paths: Vec<OsString>,

    /// Print exactly what `getcap -r` prints (PATH TEXT), sorted by path: names as raw bytes into a pipe
    /// or a file, byte for byte getcap's; escaped on a terminal.
    #[arg(long, group = "format")]
    pub getcap: bool,

    /// With --getcap: append ` [rootid=N]` to v3 values, as `getcap -n` does (signed, as getcap prints
    /// it: a rootid of 2^31 or more comes out negative).
    #[arg(short = 'n', long, requires = "getcap")]
    pub rootid: bool,

    /// Print one JSON object per file (NDJSON).
    #[arg(long, group = "format")]
    pub json: bool,

    /// Print one Elastic Common Schema document per file (NDJSON), for log pipelines.
    ///
    /// Each line is an ECS 8.10+ document with `event.kind: state`, `event.category: [file]`, `@timestamp`
    /// (when the scan started, UTC), `host.name`, `file.path`, `file.name`, `file.directory`, `file.type`,
    /// and `file.mode` (octal), `file.uid`, `file.gid`, `file.owner`, `file.group`, `file.inode`. The mode
    /// and owner come from a second look at the file, and are left out (with a warning) when the file at
    /// the path is no longer the one the scan read. ECS has no fields for file capabilities: they are under
    /// `capkit.file` as in `--json` (`kind`, `capabilities` with `text`, `version`, `effective`, `permitted`
    /// and `inheritable` as `{"hex", "caps"}`, `rootid`; or `error`), and `--audit` findings under
    /// `capkit.findings`.
    #[arg(long, group = "format", conflicts_with = "baseline")]
    pub ecs: bool,

    /// Print a shell script that recreates every value found, byte for byte (setcap; setfattr from the
    /// attr package where setcap cannot), and names each one it cannot restore.
    #[arg(long, group = "format", conflicts_with_all = ["audit", "baseline"])]
    pub restore: bool,

    /// Mark dangerous hits (root-equivalent capabilities, interpreters and shells, files others can
    /// replace, malformed values); exit 1 if there is any.
    #[arg(long, conflicts_with = "getcap")]
    pub audit: bool,

    /// Compare with an earlier `--json` or `--getcap` output and print what was added, removed or
    /// changed; exit 1 on any drift.
    #[arg(long, value_name = "FILE", conflicts_with = "getcap")]
    pub baseline: Option<PathBuf>,

    /// Also list set-uid and set-gid files, with their owner.
    #[arg(long)]
    pub setuid: bool,

    /// Skip paths that match GLOB (a name, or a whole path if it holds `/`; `**` as a whole component
    /// crosses directories; `{a,b}` alternatives). Matched in linear time.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<OsString>,

    /// Stay on the filesystem of each starting path.
    #[arg(short = 'x', long)]
    pub one_file_system: bool,

    /// Also enter pseudo (proc, sysfs, …) and remote (nfs, cifs, fuse.*, …) filesystems.
    #[arg(long)]
    pub all_fs: bool,

    /// Show a live progress line on stderr (only when it is a terminal).
    #[arg(long)]
    pub progress: bool,

    /// Number of threads, 1 to 64 (default: two per core, which keeps the disk busy when the cache is
    /// cold). More would only cost time to start and memory: a walk never waits on more than a few
    /// disk requests at once.
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=MAX_THREADS as i64))]
    pub threads: Option<u16>,

    /// Print a completion script for SHELL and exit.
    #[arg(long, value_name = "SHELL", hide = true)]
    pub generate_completions: Option<CompletionShell>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

impl From<CompletionShell> for clap_complete::Shell {
    fn from(shell: CompletionShell) -> Self {
        match shell {
            CompletionShell::Bash => clap_complete::Shell::Bash,
            CompletionShell::Zsh => clap_complete::Shell::Zsh,
            CompletionShell::Fish => clap_complete::Shell::Fish,
        }
    }
}
