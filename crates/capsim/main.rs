//! capsim: predicts, exactly as the kernel computes it, what a process holds after it executes a file: ids,
//! the five capability sets, securebits and AT_SECURE, or the errno the exec fails with, and why each
//! capability is there or gone. The caller is capsim itself, a live process, Docker's or systemd's starting
//! state, or anything described on the command line.

#![cfg_attr(not(test), no_main)]

mod docker;
mod input;
mod oci;
mod render;

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use capcli::term::ColorChoice;
use capcli::{Output, EXIT_FAILURE, EXIT_OK};
use clap::{CommandFactory, Parser, ValueEnum};

const PROG: &str = "capsim";

const ABOUT: &str =
    "Predict the capabilities, ids and AT_SECURE a process gets when it executes a file.";

const LONG_ABOUT: &str = "\
Predict the capabilities, ids and AT_SECURE a process gets when it executes a file, exactly as the \
kernel computes them: the eight uids and gids, the five capability sets, securebits and AT_SECURE after \
execve, or the errno it fails with, and with --explain the kernel rule behind every capability.

The caller is capsim's own process unless --pid, --docker, --oci, --systemd or --k8s says otherwise; every caller and \
file option then overrides one part of that state. The file is FILE as it is on disk: its mode, owner, \
raw security.capability value and mount, and for a `#!` script its final interpreter (a script's own \
set-id bits and capabilities never count; the #! line is read byte for byte as binfmt_script reads it, \
and where the chain stops the exec, with ENOEXEC, EACCES, ENOENT or ELOOP, that is the outcome). File \
owner and group are kernel ids, as the initial user namespace sees them.

Notes on stderr (and `notes` in JSON) say what the prediction assumes. Exit status: 0 when the \
prediction was made, whatever its outcome; 2 for a usage error, a process or file that does not exist, \
or an input that cannot be read.";

const AFTER_HELP: &str = "\
SET is a hex mask (3fffffffff, 0x2000), a comma list of names or numbers (cap_net_raw,SYS_ADMIN,13), \
`all` or `none`. Use --help for more, with examples.";

const AFTER_LONG_HELP: &str = "\
SET is a hex mask (3fffffffff, 0x2000), a comma list of names or numbers (cap_net_raw,SYS_ADMIN,13; one- \
and two-digit numbers are capability numbers), `all` (every capability the running kernel knows) or \
`none`.

Into a pipe or a file every line is whole (nothing is wrapped); on a terminal the report fits its width. \
Capability sets are written as `full (all 41)`, `full -cap_sys_resource (40 of 41)`, `cap_chown, \
cap_setuid (2 of 41)` or `none`; the change column as `gains net_raw` and `loses full -sys_resource`.

Examples:
  capsim /usr/bin/ping
      What capsim's own process would hold after executing ping.
  capsim --docker --user 1000 --cap-add NET_ADMIN --file-caps cap_net_admin+ep
      A container's first process, uid 1000, running a cap_net_admin+ep file.
  capsim --k8s pod.yaml --container web --rootfs ./image /usr/bin/caddy
      The container `web` of a pod manifest under containerd, with the unpacked image's users and groups.
  capsim --oci bundle/config.json
      The container's first process as runc starts it from a bundle, running its process.args[0].
  capsim --systemd /lib/systemd/system/systemd-networkd.service
      The service's main process, from its unit file and drop-ins.
  capsim --pid 1234 --secbits noroot --explain ./server
      Process 1234 executing ./server with SECBIT_NOROOT set, with the rule behind each capability.";

#[derive(Parser, Debug)]
#[command(
    name = PROG,
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    after_long_help = AFTER_LONG_HELP,
    max_term_width = 100
)]
pub struct Args {
    /// The file to execute; with none, the file options describe it.
    ///
    /// Without FILE the file is 0755 root:root on an ordinary mount, with no security.capability, and the
    /// file options change that.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Start from a live process's state.
    ///
    /// The kernel shows no other process's securebits: 0 is assumed (give them with --secbits). When the
    /// process is traced, its tracer's CAP_SYS_PTRACE in the process's user namespace decides, as the
    /// kernel's ptracer_capable does. A process that does not exist is an error (exit 2).
    #[arg(long, value_name = "PID", conflicts_with_all = ["docker", "systemd", "oci"], help_heading = "Caller")]
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
    /// Securebits: a number (0x2f) or names (noroot,noroot_locked), as capsh --secbits sets them.
    #[arg(
        long = "secbits",
        alias = "securebits",
        value_name = "V",
        help_heading = "Caller"
    )]
    pub secbits: Option<String>,
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
    #[arg(long, conflicts_with = "oci", help_heading = "Presets")]
    pub docker: bool,
    /// Start from an OCI runtime config (a bundle's config.json) as runc applies it; FILE defaults to
    /// process.args[0] inside the bundle's rootfs.
    ///
    /// process.user (uid, gid, additionalGids), the five sets of process.capabilities and
    /// process.noNewPrivileges are applied in runc's order: the bounding set is cut first, capabilities are
    /// kept across the change of uid, then capset sets effective, permitted and inheritable (a config capset
    /// refuses, such as an effective capability that is not permitted, is reported as runc reports it:
    /// `unable to apply caps: operation not permitted`, and nothing is executed), then each ambient
    /// capability is raised where the kernel allows it (in permitted and inheritable) and silently left out
    /// where not. Names runc does not know (not `CAP_` and upper case) are ignored with a note, as runc
    /// ignores them. args[0] is found as runc finds it: a bare name through PATH of process.env (a file
    /// found through an entry that is not absolute is refused), a path from process.cwd (which must be
    /// absolute), every symlink followed inside root.path, never on the host. A container with a user
    /// namespace of its own (linux.namespaces type user, uidMappings, gidMappings) is predicted in that
    /// namespace: ids must be mapped, runc's init holds every capability there, and set-id bits and v3
    /// file capabilities count as the kernel counts them across the maps.
    #[arg(
        long,
        value_name = "CONFIG.json",
        conflicts_with = "systemd",
        help_heading = "Presets"
    )]
    pub oci: Option<PathBuf>,
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
    /// With --docker: run as USER[:GROUP], each a name or a number, resolved in the image (--rootfs) as
    /// Docker resolves it.
    ///
    /// A user without a group takes its gid from the image's /etc/passwd (0 when the image does not list
    /// it) and its supplementary groups from the image's /etc/group; the container's groups are then that
    /// gid, those groups and --group-add's. Without --rootfs no image file is read: names cannot be
    /// resolved, and a number stands alone.
    #[arg(
        long,
        value_name = "USER[:GROUP]",
        allow_hyphen_values = true,
        requires = "docker",
        help_heading = "Presets"
    )]
    pub user: Option<String>,
    /// With --docker: a supplementary group, a name in the image's /etc/group or a number (repeatable).
    #[arg(
        long,
        value_name = "GROUP",
        allow_hyphen_values = true,
        requires = "docker",
        help_heading = "Presets"
    )]
    pub group_add: Vec<String>,
    /// With --docker: the Docker (moby) release whose rules apply, X.Y; default: the newest modelled.
    ///
    /// The releases whose rules differ: 20.10 (ALL and --privileged are the kernel's capabilities up to
    /// cap_audit_read, 38; cap_perfmon, cap_bpf and cap_checkpoint_restore are unknown names; a non-root
    /// user gets the capabilities in its bounding set only), 23.0 (41 names; ALL and --privileged are
    /// dockerd's own effective set, here --runtime-bounding, and a name outside it is refused), 25.0 and
    /// later (a non-root user also gets them in permitted and effective). A release between takes the
    /// rules of the one before it.
    #[arg(
        long,
        value_name = "X.Y",
        requires = "docker",
        help_heading = "Presets"
    )]
    pub docker_version: Option<String>,
    /// With --docker: a privileged container (every capability).
    #[arg(long, requires = "docker", help_heading = "Presets")]
    pub privileged: bool,
    /// With --docker: --security-opt no-new-privileges.
    #[arg(long, requires = "docker", help_heading = "Presets")]
    pub no_new_privileges: bool,
    /// With --docker: a docker run security option (repeatable), checked as the docker client and dockerd
    /// of --docker-version check it.
    ///
    /// `no-new-privileges` (bare, or `=`/`:` a Go boolean such as true, false, 1; the last wins) sets
    /// no_new_privs. `label=…`, `apparmor=…`, `seccomp=unconfined` and `systempaths=unconfined` change no
    /// capability; `seccomp=FILE` is read and must hold JSON, as the client reads it, but what it filters
    /// is not modelled; `writable-cgroups` is known from 28.0. Anything else is refused, by the client or
    /// by dockerd, in their words.
    #[arg(
        long,
        value_name = "OPT",
        allow_hyphen_values = true,
        requires = "docker",
        help_heading = "Presets"
    )]
    pub security_opt: Vec<String>,
    /// Start from the state systemd gives this service's main process; FILE defaults to ExecStart=.
    ///
    /// The unit file and its drop-ins (UNIT.d/*.conf, template and `-` prefix directories, service.d) are
    /// read as systemd reads them, with User=, Group=, SupplementaryGroups=, DynamicUser=,
    /// CapabilityBoundingSet=, AmbientCapabilities=, SecureBits=, NoNewPrivileges= and the settings that
    /// imply it, and ExecStart='s `+` and `!` prefixes. Settings it does not model are named.
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

    /// Start from the state a Kubernetes container runtime gives a container of this manifest.
    ///
    /// MANIFEST is YAML or JSON (`-` for standard input), one document or several: a Pod, Deployment, StatefulSet, DaemonSet,
    /// ReplicaSet, Job or CronJob. The pod- and container-level securityContext (runAsUser, runAsGroup,
    /// supplementalGroups, fsGroup, runAsNonRoot, capabilities add/drop, privileged,
    /// allowPrivilegeEscalation) is turned into the OCI process state the runtime (--runtime) builds from its
    /// own defaults, as its source does, then applied as runc applies it, holding what the runtime holds
    /// (--runtime-bounding). The image is not in a manifest: FILE says what runs, and without runAsUser the
    /// image's USER is assumed to be root (give --image-user). With --rootfs, containerd's groups are the image's:
    /// without runAsGroup the gid of the user's /etc/passwd entry (0 when it has none), and always the
    /// primary gid, the groups the image's /etc/group lists the user in, supplementalGroups and fsGroup.
    /// A pod the API server, the kubelet or the runtime refuses, or whose capabilities runc cannot set (an
    /// added capability the runtime does not hold), is predicted refused, in their words.
    #[arg(
        long,
        value_name = "MANIFEST",
        conflicts_with_all = ["docker", "systemd", "pid"],
        help_heading = "Presets"
    )]
    pub k8s: Option<PathBuf>,
    /// With --docker or --k8s: the image's root filesystem; FILE is then the path the container sees.
    ///
    /// Users and groups are read from its /etc/passwd and /etc/group, as the runtime reads them, and FILE
    /// (and every `#!` interpreter) is looked up inside it, symlinks included, never on the host.
    #[arg(long, value_name = "DIR", help_heading = "Presets")]
    pub rootfs: Option<PathBuf>,
    /// With --docker or --k8s: the image's USER (its config's `User`, as `docker image inspect -f
    /// '{{.Config.User}}'` shows it), which the image's root filesystem does not hold.
    ///
    /// Docker runs as it when --user is not given. Under Kubernetes it counts only where runAsUser is not
    /// set: the kubelet sends a number as the uid and a name for the runtime to resolve in the image's
    /// /etc/passwd (give --rootfs), and drops a `:GROUP` part; with runAsNonRoot it refuses an image whose
    /// USER is 0 or a name. Without it an image is taken to run as root, as one without USER does.
    #[arg(
        long,
        value_name = "USER[:GROUP]",
        conflicts_with = "uid",
        help_heading = "Presets"
    )]
    pub image_user: Option<String>,
    /// The bounding set of the runtime that starts the container (dockerd, containerd, runc), which no
    /// container can exceed; default: capsim's own, which a note names.
    #[arg(long, value_name = "SET", help_heading = "Presets")]
    pub runtime_bounding: Option<String>,
    /// With --k8s: the container (a name, or KIND/WORKLOAD/NAME); needed when there are several.
    #[arg(long, value_name = "NAME", requires = "k8s", help_heading = "Presets")]
    pub container: Option<String>,
    /// With --k8s: the runtime whose translation and defaults apply: containerd (Docker's 14 capabilities)
    /// or cri-o (9).
    ///
    /// containerd's `ALL` (in add) and privileged are its own effective set, here --runtime-bounding;
    /// cri-o's are every capability the kernel knows. containerd makes an unknown name `CAP_NAME`, which
    /// runc skips; cri-o refuses to create the container for an unknown name, added or dropped.
    #[arg(
        long,
        value_enum,
        value_name = "RUNTIME",
        default_value_t = K8sRuntimeArg::Containerd,
        requires = "k8s",
        help_heading = "Presets"
    )]
    pub runtime: K8sRuntimeArg,
    /// With --k8s and containerd: its release, X.Y (1.6 or later); default: the newest modelled (2.x).
    ///
    /// containerd 1.6 and 2.x build capabilities, the user and the groups alike; before 2.0 there is no
    /// supplementalGroupsPolicy and no user namespace for pods (hostUsers: false), and the kubelet rejects
    /// a pod that asks for either.
    #[arg(long, value_name = "X.Y", requires = "k8s", help_heading = "Presets")]
    pub runtime_version: Option<String>,

    /// Which kernel rules to apply: current (Linux 6.16+) or legacy; default: the running kernel's.
    #[arg(long, value_enum, value_name = "RULES")]
    pub kernel_rules: Option<RulesArg>,
    /// The kernel rules in order, and why each capability is in each set or gone.
    ///
    /// For every capability in every resulting set, the rule that put it there; for every one lost, the
    /// rule that removed it; for every one the file offered but did not get, why.
    #[arg(long)]
    pub explain: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// When to colour: auto (a terminal, and NO_COLOR unset), always or never.
    ///
    /// Root-equivalent capabilities the exec gains are bold red, an exec that fails is yellow. JSON is
    /// never coloured.
    #[arg(long, value_enum, default_value_t, value_name = "WHEN")]
    pub color: ColorChoice,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum K8sRuntimeArg {
    Containerd,
    #[value(name = "cri-o")]
    CriO,
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

capcli::c_main!(run_program);

/// The program, run from the C entry point (capcli::start).
#[cfg_attr(test, allow(dead_code))]
fn run_program() -> ExitCode {
    if let Some(code) = capcli::generate::intercept(PROG, Args::command) {
        return code;
    }
    capcli::run(PROG, real_main)
}

fn real_main() -> Result<u8, Box<dyn Error>> {
    let args: Args = capcli::args::parse(PROG);
    // JSON is never coloured; the explain texts inside it are built by the same renderers.
    capcli::term::init(if args.json {
        ColorChoice::Never
    } else {
        args.color
    });
    let mut setup = match input::build(&args) {
        Ok(setup) => setup,
        Err(input::Failure::Operands(missing)) => {
            for (operand, cause) in &missing {
                capcli::output::warn(PROG, operand, cause);
            }
            return Ok(EXIT_FAILURE);
        }
        Err(input::Failure::Other(message)) => return Err(message.into()),
    };
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
