//! capscan's command line, defined once with clap derive (completions and the man page are generated from
//! it too).

use std::ffi::OsString;
use std::path::PathBuf;

use capcli::term::ColorChoice;
use clap::Parser;

/// The most threads `-j` accepts. Every thread costs a stack and a start-up; past a few dozen none of
/// them has work (`-j 10000` took 85 s on 30 files).
pub const MAX_JOBS: u16 = 64;

/// The exit status, in both helps.
macro_rules! exit_status {
    () => {
        "Exit status: 0 done; 1 --audit found something or --baseline found \
drift; 2 an error: a PATH that cannot be read (reported after the others are scanned), a usage error, \
or a baseline that cannot be read. An error outranks findings. Paths deep in the walk that cannot be \
read are reported, counted and summarised on stderr, and leave the status alone."
    };
}

/// The end of `--help`.
macro_rules! examples {
    () => {
        "Examples:
  capscan
      Every file capability on the system, as a table.
  capscan --audit --setuid /usr /opt
      Set-uid files too; flag what gives root away; exit 1 on any finding.
  capscan --getcap -n / > caps.txt
      What `getcap -r -n /` prints, byte for byte, sorted by path.
  capscan --json / > base.json; capscan --baseline base.json /
      Record every value; later, list what changed since (exit 1 on drift).
  capscan --exclude '/home/**' -x / | grep python
      Every python with a capability, its whole record; / only, /home skipped.
  capscan --audit --exec-as docker:--cap-drop=ALL ./rootfs
      Which files of an unpacked image cannot start under that docker run (exit 1), what the others gain."
    };
}

#[derive(Parser, Debug)]
#[command(
    name = "capscan",
    version,
    about = "Find every file capability (and, with --setuid, every set-uid file) on a system, fast",
    long_about = "Find every file that carries security.capability under the given paths (default /), in \
parallel, without following symlinks or opening files. Every kind of file that can hold the value is \
listed, with its type.\n\nFilesystems whose files the kernel makes up (proc, sysfs, cgroup, debugfs, …) \
and remote ones (nfs, cifs, fuse.*, …) are skipped unless --all-fs is given; the decision comes from the \
mount table. Every other filesystem (devtmpfs, tmpfs, overlay, disks) is walked wherever it is mounted, \
also below a skipped one.\n\nThe table is one record per line into a pipe or a file (never wrapped, never \
coloured), and fitted to the width of a terminal, with root-equivalent capabilities, findings and \
malformed values in colour.",
    after_help = exit_status!(),
    after_long_help = concat!(exit_status!(), "\n\n", examples!()),
)]
pub struct Args {
    /// Directories or files to scan.
    #[arg(value_name = "PATH", default_value = "/")]
    pub paths: Vec<OsString>,

    /// Print exactly what `getcap -r` prints (PATH TEXT), sorted by path.
    ///
    /// Names are raw bytes into a pipe or a file, byte for byte getcap's, and escaped on a terminal, as
    /// GNU ls writes them. Never coloured.
    #[arg(long, group = "format")]
    pub getcap: bool,

    /// With --getcap: append ` [rootid=N]` to v3 values, as `getcap -n` does.
    ///
    /// The rootid is printed signed, as getcap prints it: a rootid of 2^31 or more comes out negative.
    #[arg(short = 'n', long, alias = "rootid", requires = "getcap")]
    pub show_rootid: bool,

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
    /// `capkit.file` as in `--json` (`kind`, `capabilities` with `text`, `version`, `effective_flag`,
    /// `permitted` and `inheritable` as `{"hex", "caps"}`, `rootid`; or `error`), and `--audit` findings
    /// under `capkit.findings`.
    #[arg(long, group = "format", conflicts_with = "baseline")]
    pub ecs: bool,

    /// Print a shell script that recreates every value found, byte for byte.
    ///
    /// The script uses setcap, and setfattr from the attr package where setcap cannot write a value
    /// exactly, and names each value it cannot restore.
    #[arg(long, group = "format", conflicts_with_all = ["audit", "baseline"])]
    pub restore: bool,

    /// Mark dangerous hits; exit 1 if there is any.
    ///
    /// Dangerous: root-equivalent capabilities, interpreters and shells, files others can replace,
    /// malformed values.
    #[arg(long, conflicts_with = "getcap")]
    pub audit: bool,

    /// Compare with an earlier `--json` or `--getcap` output; exit 1 on any drift.
    ///
    /// Prints what was added, removed or changed. A JSON baseline written by an older capscan (with the
    /// effective flag under `effective`) is read too.
    #[arg(long, value_name = "FILE", conflicts_with = "getcap")]
    pub baseline: Option<PathBuf>,

    /// Predict the exec of every file found as a container's (or a service's) first process would run it.
    ///
    /// SPEC is `docker[:FLAGS]` (docker run's flags, comma-separated: `--cap-add=CAP`, `--cap-drop=CAP` or
    /// ALL, `--user=USER[:GROUP]` and `--group-add=GROUP` looked up in DIR's /etc/passwd and /etc/group as
    /// Docker looks them up in the image, `--privileged`, `--security-opt=OPT` (checked as the docker
    /// client and dockerd check it), and
    /// `--docker-version=X.Y` for an older Docker's rules, as `capsim --docker` takes them),
    /// `oci:CONFIG.json` (an OCI runtime config as runc 1.1 applies it, started with capscan's own bounding
    /// and inheritable sets), `k8s:MANIFEST[#CONTAINER]` (a container of a Kubernetes manifest as containerd
    /// builds it, users and groups from DIR's /etc/passwd and /etc/group, as `capsim --k8s --rootfs DIR`
    /// does) or `systemd:UNIT_FILE` (the service's main process, as `capsim
    /// --systemd` builds it). DIR, the only PATH, is the container's `/` (an unpacked image, a bundle's rootfs or a
    /// /proc/PID/root), and paths are printed as the container sees them. Set-uid and set-gid files are
    /// scanned too. Each regular file's exec is predicted with capsim's model from its mode, owner, group,
    /// security.capability and mount (`#!` interpreters looked up inside DIR): it fails (and why), gains
    /// capabilities or ids (gains: what the program holds of what the file asks for, its permitted and
    /// inheritable capabilities, or every capability for a set-uid-root file), or gains nothing the spec
    /// allows. With --audit a file that fails is a finding (exit 1). JSON records get `exec: {outcome,
    /// gains, reason, euid?, egid?, after?}`.
    #[arg(long, value_name = "SPEC", conflicts_with_all = ["getcap", "restore", "baseline", "ecs"])]
    pub exec_as: Option<String>,

    /// Also list set-uid and set-gid files, with their owner.
    #[arg(long)]
    pub setuid: bool,

    /// Skip paths that match GLOB (repeatable).
    ///
    /// A pattern without `/` is matched against each name, one with `/` against the whole path; `**` as
    /// a whole component crosses directories; `{a,b}` alternatives. Matched in linear time.
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

    /// Number of threads, 1 to 64 (default: two per core).
    ///
    /// Two per core keep the disk busy when the cache is cold. More would only cost time to start and
    /// memory: a walk never waits on more than a few disk requests at once.
    #[arg(
        short = 'j',
        long,
        alias = "threads",
        value_name = "N",
        value_parser = clap::value_parser!(u16).range(1..=MAX_JOBS as i64)
    )]
    pub jobs: Option<u16>,

    /// When to colour the table and the drift report.
    ///
    /// Root-equivalent capabilities, findings, drift and malformed values stand out. JSON, ECS, the
    /// restore script and --getcap are never coloured.
    #[arg(long, value_enum, default_value_t, value_name = "WHEN")]
    pub color: ColorChoice,
}
