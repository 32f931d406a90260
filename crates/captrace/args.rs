//! captrace's command line, defined once with clap derive (completions and the man page are generated from
//! it too), and the parsers of its values: durations (`10s`, `5m`, `500ms`) and `USER[:GROUP]`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use capcli::term::ColorChoice;
use clap::{ArgGroup, Parser};

const ABOUT: &str =
    "Trace the capabilities a program really uses, and print the smallest configuration that runs it";

const LONG_ABOUT: &str = "\
Trace the capabilities a program really uses, and print the smallest configuration that runs it, checked \
against the execve model.

captrace -- COMMAND runs COMMAND in a cgroup of its own and watches, with eBPF on the kernel's \
cap_capable tracepoint, every capability check made by COMMAND and all its descendants until it exits; \
then it prints the report and exits with COMMAND's exit status. --pid, --cgroup, --unit and --container \
trace what is already running (never moved, never signalled) until Ctrl-C or --duration.

Each capability gets one verdict:
  needed   granted on a check that matters, in a namespace the program did not create
  denied   asked for and refused, never granted: shown, never recommended
  probe    only no-audit probes (every mmap's cap_sys_admin check) and lookups the program went past
  userns   only checks against a user namespace the program created: free there, no need on the host

The needed set is then written as docker run flags, a Kubernetes securityContext, systemd lines and a \
setcap line, and each is checked with capcore's execve model: where a form would not hand the program \
its capabilities after exec (a non-root container that only \"adds\" a capability holds it in its \
bounding set alone), captrace says why and prints what works instead. --verify runs COMMAND again under \
the recommended set and says whether it behaves the same.

Checks captrace itself makes before COMMAND execs (a PATH search) are not counted, nor is a PATH search \
by COMMAND that went on past a directory it may not search (execvp's, or a shell's).

Files: /run/capkit/kallsyms keeps the kernel's text symbols between runs (root's only, mode 0600; read \
again from /proc/kallsyms after a reboot or when a module is loaded, unloaded or moved).";

/// The exit status, in both helps.
macro_rules! exit_status {
    () => {
        "Exit status: with COMMAND, COMMAND's own (128+N when signal N killed it), as strace and time do, \
but 1 when --verify found that COMMAND behaves differently under the recommended set; otherwise 0 when \
the trace was made. 2 when captrace cannot trace (not root, no BPF, a kernel without the cap_capable tracepoint or fexit), in which \
case COMMAND is not run, and for a usage error."
    };
}

/// The end of `--help`.
macro_rules! examples {
    () => {
        "OUTPUT

The report of a COMMAND goes to standard error (or to -o FILE), written once COMMAND and everything \
it started have ended, so it never interleaves with COMMAND's output and `captrace -- cmd | next` gives \
`next` only cmd's standard output; it starts with a line of its own, `captrace: …`. A running target's \
report goes to standard output. A report that cannot be written (a closed pipe) never changes the exit \
status. Into a pipe or a file every row is one line, never wrapped or coloured; on a terminal the tables fit its \
width, denied capabilities are in colour, and every name from outside (process names, paths) is escaped. \
--json prints NDJSON: one {\"record\": \"capability\"} per capability, with --checks one {\"record\": \
\"check\"} per check row, then one {\"record\": \"summary\"} (schema in the README).

ENVIRONMENT

CAPTRACE_ATTACH=fexit|tp_btf pins the hook (unset: fexit where the kernel allows it, else the \
cap_capable tracepoint). CAPTRACE_MAP_KEYS=N gives the kernel's counting maps room for N per-process \
keys (default 16384); past it, checks are still counted, without their process (pid 0).

Examples:
  captrace -- ping -c1 127.0.0.1
      What ping needs (cap_net_raw), and how to grant it.
  captrace --user www-data -- ./server --port 80
      The server run as www-data with every capability in its ambient set: its checks succeed and
      show what it uses, not where it first fails.
  captrace --user www-data --verify -- ./server --port 80
      The same, then a second run under the recommended set, compared with the first.
  captrace --user nobody --minimize -- unshare -u hostname build
      Each needed capability removed in a run of its own: what COMMAND did not need goes.
  captrace --unit nginx.service --duration 5m
      Five minutes of a running service's checks.
  captrace --checks --json -o checks.ndjson -- tar -cf /tmp/etc.tar /etc
      Every check row, probes and user-namespace checks included, as NDJSON in a file.
  captrace --json -o /dev/fd/3 -- ping -c1 127.0.0.1 3>&1 >&2 | jq -c 'select(.record == \"summary\")'
      The report alone into a pipe; ping's own output goes to the terminal."
    };
}

/// Trace the capabilities a program really uses.
#[derive(Debug, Parser)]
#[command(
    name = "captrace",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = concat!(exit_status!(), "\n\nExamples are in --help."),
    after_long_help = concat!(exit_status!(), "\n\n", examples!()),
    max_term_width = 100,
    override_usage = "captrace [OPTIONS] -- COMMAND [ARG]...\n       \
                      captrace [OPTIONS] (--pid PID | --cgroup PATH | --unit NAME | --container ID)",
    group(ArgGroup::new("target").required(true).args(["command", "pid", "cgroup", "unit", "container"])),
)]
pub struct Args {
    /// The program to run and trace, with its arguments (after `--`).
    ///
    /// It runs in a fresh cgroup v2 leaf, and every capability check made by it and its descendants is
    /// counted from its exec until it and they have exited. Ctrl-C is passed on to it.
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        num_args = 1..,
        value_hint = clap::ValueHint::CommandWithArguments
    )]
    pub command: Vec<OsString>,

    /// Trace a running process and its descendants, until Ctrl-C or --duration.
    #[arg(long, value_name = "PID", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Target")]
    pub pid: Option<u32>,

    /// Trace every process in a cgroup v2 directory and its sub-cgroups.
    #[arg(long, value_name = "PATH", help_heading = "Target")]
    pub cgroup: Option<PathBuf>,

    /// Trace a systemd unit's cgroup (its ControlGroup), sub-cgroups included.
    #[arg(long, value_name = "NAME", help_heading = "Target")]
    pub unit: Option<String>,

    /// Trace a container (docker, containerd, cri-o or podman), found by its cgroup; a unique prefix of
    /// its id is enough.
    #[arg(long, value_name = "ID", help_heading = "Target")]
    pub container: Option<String>,

    /// Stop tracing a running target after this long: `10s`, `5m`, `500ms`, `1h`, or plain seconds.
    ///
    /// Only with --pid, --cgroup, --unit or --container; without it they are traced until Ctrl-C. A
    /// COMMAND is traced until it exits.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "command",
          help_heading = "Target")]
    pub duration: Option<Duration>,

    /// Run COMMAND as this user (and group: its primary group by default), holding every capability in
    /// its ambient set, as systemd's AmbientCapabilities= would give it.
    ///
    /// Its checks then succeed and show what it uses, not where it first fails; the recommendations are
    /// written for a program running as that user (User=, runAsUser, AmbientCapabilities=). USER and
    /// GROUP are names or numbers. Only with COMMAND.
    #[arg(long, value_name = "USER[:GROUP]", value_parser = parse_user,
          conflicts_with_all = ["pid", "cgroup", "unit", "container"])]
    pub user: Option<UserSpec>,

    /// Run COMMAND a second time under the recommended set (as the same user, bounding and ambient sets
    /// cut to it) and report whether it behaves the same.
    ///
    /// The same means: the same exit status, and no capability refused at a kernel function where the
    /// first run was granted it (and never refused it). When it does not, captrace exits 1. Only with
    /// COMMAND.
    #[arg(long, conflicts_with_all = ["pid", "cgroup", "unit", "container"])]
    pub verify: bool,

    /// Prove the needed set minimal: run COMMAND again once for each needed capability, without it, and
    /// drop it when COMMAND then exits the same way and is refused nothing else.
    ///
    /// A capability whose check changed nothing (a PATH search that went on to the next directory, a
    /// probe the program recovered from) is then removed, and the report says which and why; the
    /// recommendations (and --verify) are written for what is kept. The runs are one after the other,
    /// each without one more capability once one is removed. COMMAND must be repeatable: each run must
    /// behave as the first would (no state left by the runs before it, no network or clock it depends on),
    /// or the comparison means nothing. Only with COMMAND.
    #[arg(long, conflicts_with_all = ["pid", "cgroup", "unit", "container"])]
    pub minimize: bool,

    /// List every check row one by one: probes and user-namespace checks too, with their result,
    /// no-audit flag, namespace, process and kernel caller. (`-a` means every process in capls and
    /// capnet, so it is not a short form here; `--all` is the old spelling.)
    #[arg(long = "checks", alias = "all")]
    pub all: bool,

    /// Print NDJSON records instead of the report (schema in the README).
    #[arg(long)]
    pub json: bool,

    /// Write the report to FILE (made or truncated before COMMAND starts) instead of standard error.
    ///
    /// Without it, the report of a COMMAND goes to standard error, as strace's and time's do: COMMAND's
    /// standard output stays its own, so `captrace -- cmd | next` gives `next` only what cmd printed. A
    /// running target's report goes to standard output (nothing else writes there). To pipe the report
    /// itself: `captrace --json -o /dev/fd/3 -- cmd 3>&1 >&2 | jq` (cmd's output to the terminal), or
    /// `-o >(jq .)` in bash.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// When to colour: auto (a terminal, and NO_COLOR unset), always or never.
    ///
    /// Denied capabilities and configurations that would not work are yellow, root-equivalent needed
    /// capabilities bold red. JSON is never coloured.
    #[arg(long, value_enum, default_value_t, value_name = "WHEN")]
    pub color: ColorChoice,
}

/// `--user USER[:GROUP]`, as given: names or numbers, resolved by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSpec {
    pub user: String,
    /// `None`: the user's primary group.
    pub group: Option<String>,
}

/// Parses `USER[:GROUP]`: neither part empty, no NUL, at most 256 bytes each (longer than any name
/// useradd accepts).
pub fn parse_user(s: &str) -> Result<UserSpec, String> {
    const MAX: usize = 256;
    let (user, group) = match s.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (s, None),
    };
    let check = |part: &str, what: &str| -> Result<(), String> {
        if part.is_empty() {
            Err(format!("the {what} is empty (USER[:GROUP])"))
        } else if part.len() > MAX {
            Err(format!("the {what} is longer than {MAX} bytes"))
        } else if part.contains(['\0', ':']) {
            Err(format!("the {what} contains a NUL or a second ':'"))
        } else {
            Ok(())
        }
    };
    check(user, "user")?;
    if let Some(group) = group {
        check(group, "group")?;
    }
    Ok(UserSpec {
        user: user.to_string(),
        group: group.map(str::to_string),
    })
}

/// Parses a duration: a whole or decimal number followed by `ms`, `s`, `m` or `h`, or alone for seconds
/// (`10s`, `5m`, `500ms`, `1.5h`, `30`). It must be more than zero, and exact to the nanosecond: no
/// floating point, so `0.1s` is 100 ms exactly.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    const FORMS: &str = "a number and a unit: 500ms, 10s, 5m, 1h, or plain seconds";
    let text = s.trim();
    // The input is quoted in the messages: escaped, as everything from outside.
    let s = &capcli::escape_str(s);
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let nanos_per_unit: u128 = match unit {
        "ms" => 1_000_000,
        "" | "s" => 1_000_000_000,
        "m" | "min" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        _ => return Err(format!("unknown unit in '{s}': give {FORMS}")),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_only = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits_only(fraction) {
        return Err(format!("'{s}' is not a duration: give {FORMS}"));
    }
    // More digits than any duration that fits: refuse before the arithmetic could overflow.
    if whole.len() > 20 || fraction.len() > 18 {
        return Err(format!("'{s}' is too long"));
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole
            .parse()
            .map_err(|_| format!("'{s}' is not a duration: give {FORMS}"))?
    };
    let scale = 10u128.pow(fraction.len() as u32);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction
            .parse()
            .map_err(|_| format!("'{s}' is not a duration: give {FORMS}"))?
    };
    // Less than a nanosecond left over is cut, as Duration itself has no finer unit.
    let nanos = whole * nanos_per_unit + fraction * nanos_per_unit / scale;
    if nanos == 0 {
        return Err(format!("'{s}' is no time at all: give more than zero"));
    }
    let nanos = u64::try_from(nanos).map_err(|_| format!("'{s}' is too long"))?;
    Ok(Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn durations_in_every_unit() {
        let ok = |s: &str| parse_duration(s).unwrap();
        assert_eq!(ok("10s"), Duration::from_secs(10));
        assert_eq!(ok("10"), Duration::from_secs(10));
        assert_eq!(ok("5m"), Duration::from_secs(300));
        assert_eq!(ok("5min"), Duration::from_secs(300));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok("0.1s"), Duration::from_millis(100));
        assert_eq!(ok(".25m"), Duration::from_secs(15));
        assert_eq!(ok("2."), Duration::from_secs(2));
        assert_eq!(ok(" 3s "), Duration::from_secs(3));
        assert_eq!(ok("0.000000001"), Duration::from_nanos(1));
    }

    #[test]
    fn bad_durations_are_refused() {
        for bad in [
            "",
            "s",
            "ms",
            ".",
            "0",
            "0s",
            "0.0000000001s",
            "-1s",
            "+1s",
            "1 s",
            "1d",
            "1S",
            "1e3",
            "inf",
            "nan",
            "1.2.3s",
            "5m30s",
            "1..5s",
            "٣s",
            "99999999999999999999999h",
            "18446744074s",
            "1000000000000000000000000000",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
        // The largest that fits in u64 nanoseconds is accepted.
        assert_eq!(
            parse_duration("18446744073s").unwrap().as_secs(),
            18_446_744_073
        );
    }

    #[test]
    fn users_and_groups() {
        assert_eq!(
            parse_user("www-data").unwrap(),
            UserSpec {
                user: "www-data".into(),
                group: None
            }
        );
        assert_eq!(
            parse_user("1000:adm").unwrap(),
            UserSpec {
                user: "1000".into(),
                group: Some("adm".into())
            }
        );
        for bad in ["", ":", "a:", ":b", "a:b:c", "a\0b"] {
            assert!(parse_user(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse_user(&"x".repeat(257)).is_err());
    }

    fn parse(words: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("captrace").chain(words.iter().copied()))
    }

    #[test]
    fn command_after_the_options_keeps_its_own_flags() {
        let args = parse(&["--json", "--", "ls", "-l", "--json"]).unwrap();
        assert_eq!(args.command, ["ls", "-l", "--json"]);
        assert!(args.json);
        let args = parse(&["--all", "ls", "-l", "--verify"]).unwrap();
        assert_eq!(args.command, ["ls", "-l", "--verify"]);
        assert!(!args.verify);
        let args = parse(&["--user", "nobody:nogroup", "--verify", "--", "./server"]).unwrap();
        assert_eq!(args.user.unwrap().group.as_deref(), Some("nogroup"));
        assert!(args.verify);
    }

    #[test]
    fn exactly_one_target() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["--json"]).is_err());
        assert!(parse(&["--pid", "1", "--", "ls"]).is_err());
        assert!(parse(&["--pid", "1", "--unit", "x.service"]).is_err());
        assert!(parse(&["--cgroup", "/sys/fs/cgroup/x", "--container", "abc"]).is_err());
        assert!(parse(&["--pid", "0"]).is_err());
        let args = parse(&["--pid", "42", "--duration", "5m"]).unwrap();
        assert_eq!(args.pid, Some(42));
        assert_eq!(args.duration, Some(Duration::from_secs(300)));
        assert!(parse(&["--container", "3f2a", "--duration", "500ms"]).is_ok());
    }

    #[test]
    fn options_that_belong_to_one_kind_of_target() {
        assert!(parse(&["--duration", "10s", "--", "ls"]).is_err());
        assert!(parse(&["--pid", "1", "--user", "nobody"]).is_err());
        assert!(parse(&["--unit", "x.service", "--verify"]).is_err());
        assert!(parse(&["--pid", "1", "--duration", "0s"]).is_err());
        assert!(parse(&["--user", "nobody", "--", "id"]).is_ok());
    }

    #[test]
    fn a_command_is_taken_byte_for_byte() {
        use std::os::unix::ffi::OsStringExt;
        let odd = OsString::from_vec(b"caf\xff\x1b[31m".to_vec());
        let words = [
            OsString::from("captrace"),
            OsString::from("--"),
            OsString::from("--not-ours"),
            odd.clone(),
            OsString::from(""),
        ];
        let args = Args::try_parse_from(words).unwrap();
        assert_eq!(
            args.command,
            [OsString::from("--not-ours"), odd, OsString::new()]
        );
    }

    #[test]
    fn a_mistyped_flag_is_not_taken_for_the_command() {
        assert!(parse(&["--jsn", "ls"]).is_err());
        assert!(parse(&["-x"]).is_err());
    }
}
