//! capsim: predicts, exactly as the kernel computes it, what a process holds after it executes a file: ids,
//! the five capability sets, securebits and AT_SECURE, or the errno the exec fails with, and why each
//! capability is there or gone. The caller is capsim itself, a live process, Docker's or systemd's starting
//! state, or anything described on the command line.

mod input;
mod presets;
mod render;
mod systemd;

use std::error::Error;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use capcli::{Output, EXIT_OK};
use clap::{CommandFactory, Parser, ValueEnum};

const PROG: &str = "capsim";

const AFTER_HELP: &str = "\
SET is a hex mask (3fffffffff, 0x2000), a comma list of names or numbers (cap_net_raw,SYS_ADMIN,13),
`all` (every capability the running kernel knows) or `none`.

The caller is capsim's own process unless --pid, --docker or --systemd says otherwise; every option of
the caller and of the file then overrides one part. File owner and group are kernel ids (as the initial
user namespace sees them). For a `#!` script the credentials come from the final interpreter, as the
kernel does, and FILE's own set-id bits and capabilities are ignored; the #! line is read byte for byte as
binfmt_script reads it, and where the chain stops the exec (ENOEXEC, EACCES, ENOENT, ELOOP), that is the
outcome. Notes on stderr (and `notes` in JSON) say what the prediction assumes.

Examples:
  capsim /usr/bin/ping
  capsim --uid 1000 --prm none --eff none --explain /usr/bin/ping
  capsim --docker --user 1000 --cap-add NET_ADMIN --file-caps cap_net_admin+ep
  capsim --systemd /lib/systemd/system/systemd-networkd.service
  capsim --pid 1234 --no-new-privs --json ./server";

/// Predict the capabilities, ids and AT_SECURE a process gets when it executes a file.
#[derive(Parser, Debug)]
#[command(name = PROG, version, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Args {
    /// The file to execute; with none, the file options describe it (default 0755 root:root, no xattr).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Start from a live process's state (its securebits cannot be read: 0 is assumed). When it is traced,
    /// its tracer's CAP_SYS_PTRACE in its user namespace decides, as the kernel's ptracer_capable does.
    #[arg(long, value_name = "PID", conflicts_with_all = ["docker", "systemd"], help_heading = "Caller")]
    pub pid: Option<u32>,
    /// Real, effective, saved and filesystem uid (names or numbers; missing ones copy the last given).
    #[arg(long, value_name = "R[,E,S[,FS]]", help_heading = "Caller")]
    pub uid: Option<String>,
    /// Real, effective, saved and filesystem gid.
    #[arg(long, value_name = "R[,E,S[,FS]]", help_heading = "Caller")]
    pub gid: Option<String>,
    /// Supplementary groups (an empty value for none).
    #[arg(long, value_name = "G,...", help_heading = "Caller")]
    pub groups: Option<String>,
    /// Inheritable set.
    #[arg(long, value_name = "SET", help_heading = "Caller")]
    pub inh: Option<String>,
    /// Permitted set.
    #[arg(long, value_name = "SET", help_heading = "Caller")]
    pub prm: Option<String>,
    /// Effective set.
    #[arg(long, value_name = "SET", help_heading = "Caller")]
    pub eff: Option<String>,
    /// Bounding set.
    #[arg(long, value_name = "SET", help_heading = "Caller")]
    pub bnd: Option<String>,
    /// Ambient set.
    #[arg(long, value_name = "SET", help_heading = "Caller")]
    pub amb: Option<String>,
    /// Securebits: a number (0x2f) or names (noroot,noroot_locked).
    #[arg(long, value_name = "V", help_heading = "Caller")]
    pub securebits: Option<String>,
    /// The caller has set no_new_privs.
    #[arg(long, help_heading = "Caller")]
    pub no_new_privs: bool,
    /// The caller is traced; `=capable` when the tracer holds CAP_SYS_PTRACE (with --pid, instead of what
    /// /proc shows).
    #[arg(long, value_name = "capable", num_args = 0..=1, require_equals = true,
          default_missing_value = "yes", value_parser = ["yes", "capable"], help_heading = "Caller")]
    pub traced: Option<String>,
    /// Another process shares the caller's fs (created with CLONE_FS).
    #[arg(long, help_heading = "Caller")]
    pub fs_shared: bool,
    /// The caller is in a user namespace with this uid and gid map line (repeatable).
    #[arg(long, value_name = "INSIDE:OUTSIDE:COUNT", help_heading = "Caller")]
    pub userns_map: Vec<String>,

    /// The file's capabilities as libcap text (cap_net_raw+ep), instead of its xattr.
    #[arg(
        long,
        value_name = "TEXT",
        allow_hyphen_values = true,
        help_heading = "File"
    )]
    pub file_caps: Option<String>,
    /// The raw security.capability value in hex (as `getfattr -e hex` prints it; empty for zero bytes).
    #[arg(
        long,
        value_name = "HEX",
        conflicts_with = "file_caps",
        help_heading = "File"
    )]
    pub file_xattr: Option<String>,
    /// The file's mode in octal (4755).
    #[arg(long, value_name = "OCTAL", help_heading = "File")]
    pub mode: Option<String>,
    /// The file's owner (kernel uid or name).
    #[arg(long, value_name = "UID", help_heading = "File")]
    pub owner: Option<String>,
    /// The file's group (kernel gid or name).
    #[arg(long, value_name = "GID", help_heading = "File")]
    pub group: Option<String>,
    /// The file is on a nosuid mount.
    #[arg(long, help_heading = "File")]
    pub nosuid: bool,
    /// Make the file capabilities v3 with this rootid (namespaced file capabilities).
    #[arg(long, value_name = "UID", help_heading = "File")]
    pub rootid: Option<u32>,

    /// Start from the state Docker gives a container's first process.
    #[arg(long, help_heading = "Presets")]
    pub docker: bool,
    /// With --docker: add a capability (repeatable; `all`).
    #[arg(
        long,
        value_name = "CAP",
        requires = "docker",
        help_heading = "Presets"
    )]
    pub cap_add: Vec<String>,
    /// With --docker: drop a capability (repeatable; `all`).
    #[arg(
        long,
        value_name = "CAP",
        requires = "docker",
        help_heading = "Presets"
    )]
    pub cap_drop: Vec<String>,
    /// With --docker: run as UID[:GID].
    #[arg(
        long,
        value_name = "UID[:GID]",
        requires = "docker",
        help_heading = "Presets"
    )]
    pub user: Option<String>,
    /// With --docker: a privileged container (every capability).
    #[arg(long, requires = "docker", help_heading = "Presets")]
    pub privileged: bool,
    /// With --docker: --security-opt no-new-privileges.
    #[arg(long, requires = "docker", help_heading = "Presets")]
    pub no_new_privileges: bool,
    /// Start from the state systemd gives this service's main process: the unit file and its drop-ins
    /// (UNIT.d/*.conf, template and `-` prefix directories, service.d), read as systemd reads them, with
    /// User=, Group=, SupplementaryGroups=, DynamicUser=, CapabilityBoundingSet=, AmbientCapabilities=,
    /// SecureBits=, NoNewPrivileges= and the settings that imply it, and ExecStart='s `+` and `!`
    /// prefixes; FILE defaults to ExecStart=. Settings it does not model are named.
    #[arg(
        long,
        value_name = "UNIT_FILE",
        conflicts_with = "docker",
        help_heading = "Presets"
    )]
    pub systemd: Option<PathBuf>,
    /// With --systemd: look for drop-ins in these directories (highest priority first) instead of the
    /// unit file's own directory and systemd's search path (repeatable).
    #[arg(
        long,
        value_name = "DIR",
        requires = "systemd",
        help_heading = "Presets"
    )]
    pub unit_path: Vec<PathBuf>,

    /// Which kernel rules to apply: current (Linux 6.16+) or legacy; default: the running kernel's.
    #[arg(long, value_enum, value_name = "RULES")]
    pub kernel_rules: Option<RulesArg>,
    /// For every capability in every resulting set, the rule that put it there, and for every one lost,
    /// the rule that removed it.
    #[arg(long)]
    pub explain: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,

    /// Print a completion script for a shell.
    #[arg(long, value_name = "SHELL", hide = true)]
    pub generate_completions: Option<clap_complete::Shell>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RulesArg {
    Current,
    Legacy,
}

/// What the prediction assumes about a live process's tracer, and what the other reading would give.
fn tracer_note(
    setup: &input::Setup,
    tracer: &capsys::trace::Tracer,
    sim: &capcore::exec::Simulation,
) -> String {
    use capcore::exec::Tracing;
    let capable = setup.caller.tracing == Tracing::TracerCapable;
    let mut note = format!(
        "traced by pid {}, whose credentials {} CAP_SYS_PTRACE in the traced process's user namespace now; \
         the kernel checks them as they were when it attached, which /proc does not show",
        tracer.pid,
        if tracer.capable_now { "hold" } else { "lack" }
    );
    if tracer.ambiguous() {
        let mut other = setup.caller.clone();
        other.tracing = if capable {
            Tracing::TracerNotCapable
        } else {
            Tracing::TracerCapable
        };
        let alternative = capcore::exec::simulate(&other, &setup.file, setup.kernel);
        note.push_str(&format!(
            ". The tracer is the parent, so the process may have called PTRACE_TRACEME, and then the kernel \
             checks the process's own credentials from that moment instead (which {} CAP_SYS_PTRACE now)",
            if tracer.tracee_capable { "hold" } else { "lack" }
        ));
        if alternative.result != sim.result {
            note.push_str(&format!(
                "; that would change the prediction, which assumes the tracer {} it: give --traced{} for the \
                 other case",
                if capable { "holds" } else { "lacks" },
                if capable { "" } else { "=capable" }
            ));
        }
    }
    note
}

fn main() -> ExitCode {
    capcli::run(PROG, real_main)
}

fn real_main() -> Result<u8, Box<dyn Error>> {
    let args = Args::parse();
    if let Some(shell) = args.generate_completions {
        let mut out = io::stdout().lock();
        clap_complete::generate(shell, &mut Args::command(), PROG, &mut out);
        return Ok(EXIT_OK);
    }
    let mut setup = input::build(&args)?;
    let sim = capcore::exec::simulate(&setup.caller, &setup.file, setup.kernel);
    if let Some(tracer) = &setup.tracer {
        let note = tracer_note(&setup, tracer, &sim);
        setup.warnings.push(note);
    }
    for note in &setup.warnings {
        capcli::output::warn(PROG, "note", note);
    }
    let mut out = Output::new();
    if args.json {
        out.json(&render::record(&setup, &sim))?;
    } else {
        out.line(render::human(&setup, &sim, args.explain).trim_end())?;
    }
    out.flush()?;
    Ok(EXIT_OK)
}
