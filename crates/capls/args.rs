//! capls's command line, defined once with clap derive (completions and the man page are generated from
//! it too).

use capcli::summary::Preset;
use capcli::term::ColorChoice;
use clap::{Parser, ValueEnum};

const ABOUT: &str =
    "List the capabilities of every process and thread, exactly as the kernel holds them";

const LONG_ABOUT: &str = "\
List the capabilities of every process and thread, exactly as the kernel holds them.

By default one row per process that holds any capability in its permitted, effective or ambient set (PID \
1 included), plus a row for each thread whose sets differ from its leader's.

Into a pipe or a file every row is one line (never wrapped, never coloured), so `capls | grep NAME` \
finds the whole row with its PID; on a terminal rows are fitted to its width, root-equivalent \
capabilities stand out in colour, and -l cuts a very long command line to a few lines, saying how many \
bytes it left out.";

/// The exit status, in both helps.
macro_rules! exit_status {
    () => {
        "Exit status: 0 done; 2 an error: a PID that does not exist (reported after the others are \
printed), a usage error, or /proc that cannot be read. Processes that exit while capls reads them are \
counted and summarised on stderr, and leave the status alone."
    };
}

/// The legend of the table, in the long help.
macro_rules! legend {
    () => {
        "\
CAPABILITIES column (names without the cap_ prefix; JSON always has full libcap names):
  full                 permitted and effective hold every capability the kernel knows
  full -a,(b)          all but a few: a is not permitted, (b) is permitted but not effective
  chown,(net_raw)      otherwise the permitted set; (name) = permitted but not effective
  (...)                the whole summary in parentheses: permitted, but nothing effective
  -                    nothing permitted

FLAGS column:
  a  ambient set not empty          b  bounding set narrower than the kernel's full set
  n  no_new_privs                   s  seccomp filter (S: strict mode)
  u  another user namespace than the host's (?: hidden, not permitted to look)
  t  a thread's sets differ from its leader's (that thread gets its own row)

-l writes each set as `full (all 41)`, `full -cap_sys_resource (40 of 41)`, `cap_chown, cap_setuid (2 \
of 41)` or `none`, after its hex mask.

Kernel threads are listed with -k (or by PID) only; they are known by the kernel's mark, so a usermode \
helper (a child of kthreadd, such as a core_pattern pipe's program) is listed as the user process it is."
    };
}

/// The end of `--help`.
macro_rules! examples {
    () => {
        "Examples:
  capls
      Every process and thread that holds a capability, one row each.
  capls | grep sys_admin
      Every process holding cap_sys_admin, each row whole with its PID.
  capls -l 1234 5678
      Everything the kernel says of two processes: the five sets, ids, namespace, cgroup.
  capls -u www-data --cap net_bind_service,net_raw
      Processes running as www-data that hold either capability.
  capls --compare docker --container kubepods
      Each Kubernetes container's processes against Docker's default set.
  capls --json -a -t > procs.ndjson
      Every process and thread as NDJSON, one object per line."
    };
}

/// List the capabilities of every process and thread.
#[derive(Debug, Parser)]
#[command(
    name = "capls",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = concat!(
        exit_status!(),
        "\n\nThe legend of the table's columns and examples are in --help."
    ),
    after_long_help = concat!(legend!(), "\n\n", exit_status!(), "\n\n", examples!()),
)]
pub struct Args {
    /// Only these processes (a thread id selects its process and shows that thread's row).
    ///
    /// Each is listed whether or not it holds a capability, kernel threads too. A PID that does not exist
    /// is reported after the others are printed, and capls exits with 2.
    #[arg(value_name = "PID")]
    pub pids: Vec<u32>,

    /// Show every process, also those without capabilities (kernel threads with -k, as pscap -a).
    #[arg(short, long)]
    pub all: bool,

    /// Show kernel threads too (they hold the kernel's own credentials).
    #[arg(short, long)]
    pub kernel: bool,

    /// All five sets, securebits, no_new_privs, seccomp, uids, user namespace, cgroup and container.
    ///
    /// On a terminal a command line longer than a few lines is cut, with a note of how many bytes were
    /// left out; into a pipe or a file it is whole, on one line.
    #[arg(short, long, conflicts_with_all = ["tree", "json", "ecs"])]
    pub long: bool,

    /// One row per thread.
    #[arg(short, long)]
    pub threads: bool,

    /// Draw the process tree, each process with its summary.
    #[arg(long, conflicts_with_all = ["json", "ecs"])]
    pub tree: bool,

    /// Only processes whose effective uid is one of these (names or numbers, comma separated), as pgrep -u.
    #[arg(short = 'u', long = "euid", alias = "user", value_name = "USER[,USER]")]
    pub euid: Option<String>,

    /// Only processes holding any of these in permitted or effective (any case, cap_ optional, or numbers).
    #[arg(long, value_name = "CAP[,CAP]")]
    pub cap: Option<String>,

    /// Only processes in a container whose id starts with PREFIX, or whose runtime is PREFIX.
    ///
    /// Runtimes: docker, containerd, cri-o, podman, systemd-nspawn, lxc, kubepods.
    #[arg(long, value_name = "PREFIX")]
    pub container: Option<String>,

    /// Only processes in the host's user namespace, or in another.
    #[arg(long, value_name = "WHICH")]
    pub userns: Option<Userns>,

    /// Summarise each process against a preset: e.g. `docker -net_raw +sys_admin`.
    ///
    /// The capabilities column then names the preset, what the permitted set lacks of it (`-`) and what it
    /// holds beyond it (`+`).
    #[arg(long, value_name = "PRESET")]
    pub compare: Option<Preset>,

    /// NDJSON: one object per process (per thread with -t).
    #[arg(long)]
    pub json: bool,

    /// NDJSON in the Elastic Common Schema: one document per process (per thread with -t), for log
    /// pipelines.
    ///
    /// Each line is an ECS 8.10+ document with `event.kind: state`, `event.category: [process]`,
    /// `@timestamp` (when capls read /proc, UTC), `host.name`, `process.pid`, `process.name`,
    /// `process.args`, `process.parent.pid`, `process.thread.id`, `process.thread.name`, `user.id` and
    /// `user.name` (the effective uid), `process.real_user.id`, `process.saved_user.id`, `container.id` and
    /// `container.runtime`, and the permitted and effective sets as `process.thread.capabilities.permitted`
    /// and `.effective` (upper-case `CAP_*` names). What ECS has no field for is under `capkit.process`:
    /// the inheritable, bounding and ambient sets as `{"hex", "caps"}`, no_new_privs, seccomp, securebits,
    /// the user namespace, the cgroup. Same selection as the listing.
    #[arg(long, conflicts_with = "json")]
    pub ecs: bool,

    /// When to colour the table, the long form and the tree.
    ///
    /// auto: on a terminal, unless NO_COLOR is set. Root-equivalent capabilities stand out; JSON and ECS
    /// are never coloured.
    #[arg(long, value_enum, default_value_t, value_name = "WHEN")]
    pub color: ColorChoice,
}

/// `--userns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Userns {
    Host,
    Other,
}
