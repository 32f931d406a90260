//! Turns the command line into the model's inputs: the caller (own process, a live process, a preset, then
//! every override), the file (on disk, `#!` followed, then every override) and the kernel's rules.

use std::path::PathBuf;

use capcore::exec::{
    Caller, FileState, IdRange, Ids, Kernel, KernelRules, NsChain, Tracing, UserNs,
};
use capcore::xattr::FileCaps;
use capcore::{CapSet, CapState, Securebits};
use capsys::exec_file::{ExecFailure, ExecTarget, XattrRead};

use crate::{Args, RulesArg};
use capsys::presets;

/// Everything the simulation and the report need.
pub struct Setup {
    pub caller: Caller,
    pub file: FileState,
    pub kernel: Kernel,
    /// Where the caller's state came from, for the report.
    pub caller_source: String,
    /// The file as named, and the file whose credentials count.
    pub file_name: Option<PathBuf>,
    pub credentials_from: Option<PathBuf>,
    pub scripts: Vec<PathBuf>,
    /// Settings of a `--systemd` unit that shape the credentials but are not modelled.
    pub unmodelled: Vec<Unmodelled>,
    /// The live process's tracer (`--pid`), if it is traced.
    pub tracer: Option<capsys::trace::Tracer>,
    /// execve fails before any credential rule runs (a `#!` line the kernel refuses, a missing
    /// interpreter, too many scripts).
    pub failure: Option<ExecFailure>,
    /// The runtime refuses the config before any exec (`--oci`: what capset refuses).
    pub refused: Option<capcore::oci::Refusal>,
    pub warnings: Vec<String>,
    /// Names for the caller's uids and gids: the host's for a host process, the image's for a container
    /// whose rootfs is known, none for a container whose image is not (the host's names would lie).
    pub names: Option<(capsys::users::Names, capsys::users::Names)>,
}

/// A unit setting that shapes the credentials but is not modelled, for the JSON record.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Unmodelled {
    pub setting: String,
    pub why: &'static str,
    /// `FILE:LINE` of the assignment in force.
    #[serde(rename = "where")]
    pub origin: String,
}

/// A path for a message: escaped bytes, so a name that is not UTF-8 is shown as it is.
pub fn show_path(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    capcli::escape_bytes(path.as_os_str().as_bytes())
}

type Result<T> = std::result::Result<T, String>;

/// Why no prediction can be made.
#[derive(Debug)]
pub enum Failure {
    /// Operands named on the command line (a PID, FILE) that do not exist or cannot be read: each is the
    /// operand, already escaped, and the cause. All of them are found before this is returned.
    Operands(Vec<(String, String)>),
    /// Anything else: a value that does not parse, an unreadable unit file.
    Other(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Other(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Failure {
        Failure::Other(message.to_string())
    }
}

/// The cause of a failed read of `/proc/PID`: a process that is not there is one, whether /proc said so
/// with ENOENT or, when it went away while being read, ESRCH.
fn process_cause(err: &std::io::Error) -> String {
    if err.kind() == std::io::ErrorKind::NotFound || err.raw_os_error() == Some(libc::ESRCH) {
        "no such process".to_string()
    } else {
        err.to_string()
    }
}

pub fn build(args: &Args) -> std::result::Result<Setup, Failure> {
    let known = capsys::kernel::known_caps_or_default();
    let mut warnings = Vec::new();
    let mut missing = Vec::new();
    let own = capsys::creds::read_process(None).map_err(|e| format!("/proc/self: {e}"))?;
    let mut file_name = args.file.clone();
    let mut traced_by = None;
    let mut unmodelled = Vec::new();
    let mut refused = None;
    // With --oci, `#!` interpreters are looked up inside the rootfs: (rootfs, the container's cwd).
    let mut rootfs: Option<(PathBuf, String)> = None;
    if args.rootfs.is_some() && !args.docker && args.k8s.is_none() {
        return Err("--rootfs is the image of a container: give it with --docker or --k8s".into());
    }
    if args.image_user.is_some() && !args.docker && args.k8s.is_none() {
        return Err(
            "--image-user is a container image's USER: give it with --docker or --k8s".into(),
        );
    }
    let (mut caller, caller_source) = if let Some(pid) = args.pid {
        let process = match capsys::creds::read_process(Some(pid)) {
            Ok(process) => process,
            Err(err) => {
                // Look at FILE too before giving up, so that every missing operand is named at once.
                missing.push((pid.to_string(), process_cause(&err)));
                own.clone()
            }
        };
        if args.secbits.is_none() && missing.is_empty() {
            warnings.push(format!(
                "the securebits of another process cannot be read (no /proc field or syscall shows them): \
                 assuming 0 for pid {pid}; give them with --secbits"
            ));
        }
        let tracer = if missing.is_empty() {
            capsys::trace::tracer_of(pid).map_err(|e| match e.kind() {
                // The process went away after its status was read (not its tracer).
                std::io::ErrorKind::NotFound
                    if !std::path::Path::new(&format!("/proc/{pid}")).exists() =>
                {
                    Failure::Operands(vec![(pid.to_string(), "no such process".to_string())])
                }
                _ => Failure::Other(format!("{pid}: tracer: {e}")),
            })?
        } else {
            None
        };
        let tracing = match &tracer {
            None => Tracing::NotTraced,
            // When the two readings differ, assume the one that lets the exec gain more: a prediction
            // that shows a privilege the kernel withholds is safer than one that hides it.
            Some(t) if t.capable_now || (t.is_parent && t.tracee_capable) => Tracing::TracerCapable,
            Some(_) => Tracing::TracerNotCapable,
        };
        traced_by = tracer;
        (
            Caller {
                creds: process.creds,
                userns: process.userns,
                tracing,
                ..Caller::default()
            },
            format!("pid {pid}"),
        )
    } else if args.docker {
        let started = crate::docker::caller(args, &own.creds, known, &mut warnings)?;
        refused = started.refused;
        if let Some(dir) = &args.rootfs {
            rootfs = Some((dir.clone(), "/".to_string()));
            file_name = file_in_image(dir, file_name.take(), refused.is_some(), &mut missing)?;
        }
        (started.caller, started.source)
    } else if let Some(manifest) = &args.k8s {
        match k8s_caller(args, manifest, &own.creds, known, &mut warnings) {
            Ok(started) => {
                refused = started.refused;
                if let Some(dir) = &args.rootfs {
                    rootfs = Some((dir.clone(), "/".to_string()));
                    file_name =
                        file_in_image(dir, file_name.take(), refused.is_some(), &mut missing)?;
                }
                (started.caller, started.source)
            }
            Err(Failure::Operands(more)) => {
                missing.extend(more);
                (
                    Caller {
                        creds: own.creds.clone(),
                        ..Caller::default()
                    },
                    String::new(),
                )
            }
            Err(other) => return Err(other),
        }
    } else if let Some(config) = &args.oci {
        let start = capcore::oci::RuntimeStart {
            bounding: own.creds.bounding,
            inheritable: own.creds.inheritable,
        };
        let loaded = crate::oci::load(config, known, &start)?;
        warnings.extend(loaded.notes.iter().cloned());
        rootfs = Some((loaded.rootfs.clone(), loaded.config.process.cwd.clone()));
        // runc looks args[0] up only after it has set the process up: a refusal comes first.
        let creds = match loaded.creds.clone() {
            Ok(creds) => {
                if file_name.is_none() {
                    match crate::oci::executable(&loaded) {
                        Ok(crate::oci::Lookup::Found(found)) => file_name = Some(found),
                        Ok(crate::oci::Lookup::Refused(refusal)) => refused = Some(refusal),
                        Err(Failure::Operands(more)) => missing.extend(more),
                        Err(other) => return Err(other),
                    }
                }
                creds
            }
            Err(refusal) => {
                refused = Some(refusal);
                crate::oci::requested(&loaded.config.process)
            }
        };
        (
            Caller {
                creds,
                userns: loaded.config.chain(&own.userns),
                ..Caller::default()
            },
            format!("OCI config {} as runc 1.1 applies it", show_path(config)),
        )
    } else if let Some(unit_path) = &args.systemd {
        let loaded = capsys::systemd::load(unit_path, &args.unit_path)?;
        if file_name.is_none() {
            file_name = loaded
                .service
                .exec_start
                .as_ref()
                .map(|e| capsys::systemd::executable(&e.path));
        }
        let (creds, notes) = capsys::systemd::creds(&loaded, known)?;
        warnings.extend(notes);
        unmodelled = loaded
            .service
            .unmodelled
            .iter()
            .map(|u| Unmodelled {
                setting: u.key.clone(),
                why: u.why,
                origin: u.origin.clone(),
            })
            .collect();
        let dropins = loaded.files.len() - 1;
        (
            Caller {
                creds,
                ..Caller::default()
            },
            if dropins == 0 {
                format!("systemd unit {}", unit_path.display())
            } else {
                format!(
                    "systemd unit {} with {}",
                    unit_path.display(),
                    capcli::words::counted(dropins as u64, "drop-in")
                )
            },
        )
    } else {
        (
            Caller {
                creds: own.creds.clone(),
                userns: own.userns.clone(),
                ..Caller::default()
            },
            format!("capsim's own process (pid {})", std::process::id()),
        )
    };
    apply_caller_overrides(args, &mut caller, known)?;
    if caller_source.starts_with("capsim's own process") {
        warnings.extend(own_state_note(args, &caller, known));
    }
    let creds = &caller.creds;
    if !creds.ambient.is_subset(creds.permitted & creds.inheritable) {
        warnings.push(
            "the ambient set is not within permitted ∩ inheritable: no thread can be in this state (capset \
             and prctl keep ambient ⊆ P ∩ I), and the kernel refuses such an exec with EPERM"
                .to_string(),
        );
    }
    if !creds.effective.is_subset(creds.permitted) {
        warnings.push(
            "the effective set is not within the permitted set: no thread can be in this state"
                .to_string(),
        );
    }

    let root = rootfs
        .as_ref()
        .map(|(dir, cwd)| (dir.as_path(), cwd.as_str()));
    let built = build_file(
        args,
        file_name.as_ref(),
        root,
        &own.userns,
        known,
        &mut warnings,
    );
    let (mut file, credentials_from, scripts, failure) = match built {
        Ok(parts) => parts,
        Err(Failure::Operands(more)) => {
            missing.extend(more);
            return Err(Failure::Operands(missing));
        }
        Err(other) if missing.is_empty() => return Err(other),
        Err(_) => return Err(Failure::Operands(missing)),
    };
    if !missing.is_empty() {
        return Err(Failure::Operands(missing));
    }
    if args.k8s.is_some() && !caller.userns.is_initial() {
        // The image's files through the pod's idmapped mount: a file owned by id N on disk is owned by
        // the container's N, which is the kernel's id of N in the pod's namespace. --owner and --group
        // give kernel ids as they are.
        if args.owner.is_none() {
            file.owner = caller.userns.kuid(file.owner).unwrap_or(u32::MAX);
        }
        if args.group.is_none() {
            file.group = caller.userns.kgid(file.group).unwrap_or(u32::MAX);
        }
    }
    let rules = match args.kernel_rules {
        Some(RulesArg::Current) => KernelRules::Current,
        Some(RulesArg::Legacy) => KernelRules::Legacy,
        None => match capsys::creds::kernel_version() {
            Ok((major, minor)) => KernelRules::for_version(major, minor),
            Err(_) => KernelRules::Current,
        },
    };
    let in_container = args.docker || args.k8s.is_some() || args.oci.is_some();
    let names = match (&rootfs, in_container) {
        (Some((dir, _)), true) => capsys::image::ImageAccounts::read(dir)
            .ok()
            .map(|image| image.names()),
        (None, true) => None,
        (_, false) => caller.userns.is_initial().then(|| {
            (
                capsys::users::Names::users(),
                capsys::users::Names::groups(),
            )
        }),
    };
    Ok(Setup {
        names,
        caller,
        file,
        kernel: Kernel {
            rules,
            known_caps: known,
        },
        caller_source,
        file_name,
        credentials_from,
        scripts,
        tracer: traced_by.filter(|_| args.traced.is_none()),
        unmodelled,
        failure,
        refused,
        warnings,
    })
}

/// FILE, the path a container sees, as the host path inside the image `dir`; a FILE that is not there is
/// a missing operand, unless the container is refused anyway (it runs nothing, so FILE does not matter).
fn file_in_image(
    dir: &std::path::Path,
    file: Option<PathBuf>,
    refused: bool,
    missing: &mut Vec<(String, String)>,
) -> std::result::Result<Option<PathBuf>, Failure> {
    let Some(file) = file else {
        return Ok(None);
    };
    match crate::docker::file_in_image(dir, &file) {
        Ok(found) => Ok(Some(found)),
        Err(_) if refused => Ok(None),
        Err(Failure::Operands(more)) => {
            missing.extend(more);
            Ok(Some(file))
        }
        Err(other) => Err(other),
    }
}

/// Reads at most `limit` bytes of `path`, or fails when it holds more.
/// `-` is standard input (`kubectl get pod web -o yaml | capsim --k8s - FILE`).
fn read_bounded(path: &std::path::Path, limit: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let source: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(path)?)
    };
    source.take(limit as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > limit {
        return Err(std::io::Error::other(format!("larger than {limit} bytes")));
    }
    Ok(bytes)
}

/// `--k8s`: the container's first process as the runtime sets it up, and notes on what that assumes; or
/// the refusal of the API server, the kubelet, the runtime or runc when the container never runs.
fn k8s_caller(
    args: &Args,
    manifest: &std::path::Path,
    own: &capcore::exec::Creds,
    known: u32,
    warnings: &mut Vec<String>,
) -> std::result::Result<crate::docker::Started, Failure> {
    use capcore::k8s;
    // `shown` names an operand (printed as it is); errors are plain text, escaped once by capcli::run.
    let shown = show_path(manifest);
    let raw = manifest.display();
    let bytes = read_bounded(manifest, k8s::MAX_BYTES)
        .map_err(|e| Failure::Operands(vec![(shown.clone(), e.to_string())]))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| format!("{raw}: not UTF-8 text"))?;
    let containers = k8s::parse(text).map_err(|e| format!("{raw}: {e}"))?;
    let container =
        k8s::select(&containers, args.container.as_deref()).map_err(|e| format!("{raw}: {e}"))?;
    let runtime = match args.runtime {
        crate::K8sRuntimeArg::Containerd => k8s::Runtime::Containerd,
        crate::K8sRuntimeArg::CriO => k8s::Runtime::CriO,
    };
    let containerd = match (&args.runtime_version, runtime) {
        (None, _) => None,
        (Some(text), k8s::Runtime::Containerd) => Some(
            k8s::ContainerdVersion::parse(text).map_err(|e| format!("--runtime-version: {e}"))?,
        ),
        (Some(_), k8s::Runtime::CriO) => {
            return Err(
                "--runtime-version is containerd's release: cri-o's rules are its newest".into(),
            )
        }
    };
    // --image-user is the image's USER, where the manifest does not name the user. --uid overrides
    // runAsUser too: translate as if the manifest left the user to that uid. With the image at hand
    // (--rootfs) and neither, its USER is taken to be root, as an image without USER runs.
    let image_user = match (&args.image_user, &args.uid) {
        (Some(text), _) => k8s::ImageUser::parse(text).map_err(|e| format!("--image-user: {e}"))?,
        (None, Some(uid)) => Some(k8s::ImageUser::Uid(
            parse_ids(uid, presets::resolve_user)
                .map_err(|e| format!("--uid: {e}"))?
                .effective,
        )),
        (None, None) => None,
    };
    if let (Some(k8s::ImageUser::Name(name)), None) = (image_user, &args.rootfs) {
        return Err(format!(
            "--image-user {name}: a user name is resolved in the image's /etc/passwd: give the image with \
             --rootfs"
        )
        .into());
    }
    let image_user = image_user.or(args.rootfs.as_ref().map(|_| k8s::ImageUser::Uid(0)));
    let mut container = container.clone();
    if args.uid.is_some() {
        container.pod.run_as_user = None;
        container.container.run_as_user = None;
    }
    let container = &container;
    let (bounding, note) = crate::docker::runtime_bounding(args, own, known)?;
    warnings.extend(note);
    let image = match &args.rootfs {
        Some(dir) => Some(
            capsys::image::ImageAccounts::read(dir)
                .map_err(|e| Failure::Operands(vec![(show_path(dir), e.to_string())]))?,
        ),
        None => None,
    };
    let node = k8s::Node {
        runtime,
        containerd,
        known,
        runtime_caps: bounding,
        image_user,
        accounts: image.as_ref().map(|i| i.accounts()),
    };
    let release = match containerd {
        Some(version) => format!("containerd {version} CRI plugin (Docker's 14 by default)"),
        None => runtime.source().to_string(),
    };
    let source = format!(
        "Kubernetes container {}{} under {release}, default capabilities {}",
        container.qualified(),
        if container.init { " (init)" } else { "" },
        capcli::summary::short(runtime.default_caps(), known),
    );
    let refused_with = |refusal: capcore::oci::Refusal| crate::docker::Started {
        caller: Caller {
            creds: own.clone(),
            ..Caller::default()
        },
        source: source.clone(),
        refused: Some(refusal),
    };
    let translation = match k8s::translate_on(container, &node) {
        Ok(translation) => translation,
        Err(k8s::Error::Refused(refusal)) => return Ok(refused_with(refusal)),
        Err(k8s::Error::Manifest(e)) => {
            return Err(format!("{raw}: {}: {e}", container.qualified()).into())
        }
    };
    warnings.push(format!(
        "{} as {release} translates it, default capabilities {}{}",
        container.qualified(),
        capcli::summary::short(runtime.default_caps(), known),
        match runtime {
            k8s::Runtime::Containerd => "; --runtime cri-o for cri-o's",
            k8s::Runtime::CriO => "",
        }
    ));
    if !translation.uid_given && args.uid.is_none() && args.image_user.is_none() {
        warnings.push(
            "runAsUser is not set: the container runs as the image's USER, which a manifest does not say; \
             assuming root (uid 0): give the image's user with --image-user"
                .to_string(),
        );
    }
    if !translation.gid_given && args.gid.is_none() {
        warnings.push(
            "runAsGroup is not set: the group is the image user's, which a manifest does not say; assuming \
             gid 0: give it with --gid, or the image with --rootfs"
                .to_string(),
        );
    }
    warnings.extend(translation.notes);
    let userns = if container.host_users {
        NsChain::default()
    } else {
        warnings.push(format!(
            "hostUsers: false: the pod has a user namespace of its own, container ids 0-{} mapped to a host \
             range the kubelet picks (assumed {}-{}; give it with --userns-map 0:BASE:{}); its capabilities \
             are that namespace's, and the image's files are seen through an idmapped mount, owned by the \
             container's ids. The runtime must support it (containerd 2.0, cri-o 1.25 and later): the \
             kubelet refuses the pod where it does not",
            k8s::POD_USERNS_SIZE - 1,
            k8s::POD_USERNS_SIZE,
            2 * k8s::POD_USERNS_SIZE - 1,
            k8s::POD_USERNS_SIZE,
        ));
        NsChain(vec![k8s::pod_user_namespace()])
    };
    // runc holds what the runtime holds; in the pod's own user namespace its init holds everything there.
    let start = capcore::oci::RuntimeStart {
        bounding: if container.host_users {
            bounding
        } else {
            CapSet::first_n(known)
        },
        inheritable: CapSet::EMPTY,
    };
    match presets::k8s_process(&translation.process, &start) {
        Ok(creds) => Ok(crate::docker::Started {
            caller: Caller {
                creds,
                userns,
                ..Caller::default()
            },
            source,
            refused: None,
        }),
        Err(refusal) => Ok(refused_with(refusal)),
    }
}

/// `R[,E,S[,FS]]`: missing ids copy the last one given.
fn parse_ids(value: &str, resolve: fn(&str) -> Result<u32>) -> Result<Ids> {
    let ids: Vec<u32> = value
        .split(',')
        .map(|part| {
            let part = part.trim();
            part.parse().or_else(|_| resolve(part))
        })
        .collect::<Result<_>>()?;
    match ids[..] {
        [r] => Ok(Ids::all(r)),
        [r, e] => Ok(Ids {
            real: r,
            effective: e,
            saved: e,
            fs: e,
        }),
        [r, e, s] => Ok(Ids {
            real: r,
            effective: e,
            saved: s,
            fs: e,
        }),
        [r, e, s, fs] => Ok(Ids {
            real: r,
            effective: e,
            saved: s,
            fs,
        }),
        _ => Err(format!("'{value}': give 1 to 4 ids, R[,E,S[,FS]]")),
    }
}

/// A set given as hex, names, `all` or `none`.
pub fn parse_set(value: &str, known: u32) -> Result<CapSet> {
    let word = value.trim();
    match word.to_ascii_lowercase().as_str() {
        "all" => return Ok(CapSet::first_n(known)),
        "none" | "" => return Ok(CapSet::EMPTY),
        _ => {}
    }
    let looks_hex = word.starts_with("0x")
        || word.chars().all(|c| c.is_ascii_hexdigit())
            && (word.len() > 2 || word.chars().any(|c| c.is_ascii_alphabetic()));
    if looks_hex {
        if let Ok(set) = capcore::parse_mask(word) {
            return Ok(set);
        }
    }
    CapSet::parse_list(word)
        .map_err(|e| format!("'{value}': {e} (or give a hex mask, `all` or `none`)"))
}

fn apply_caller_overrides(args: &Args, caller: &mut Caller, known: u32) -> Result<()> {
    let creds = &mut caller.creds;
    if let Some(uid) = &args.uid {
        creds.uid = parse_ids(uid, presets::resolve_user).map_err(|e| format!("--uid: {e}"))?;
    }
    if let Some(gid) = &args.gid {
        creds.gid = parse_ids(gid, presets::resolve_group).map_err(|e| format!("--gid: {e}"))?;
    }
    if let Some(groups) = &args.groups {
        creds.groups = groups
            .split(',')
            .filter(|g| !g.trim().is_empty())
            .map(|g| {
                g.trim()
                    .parse()
                    .or_else(|_| presets::resolve_group(g.trim()))
            })
            .collect::<Result<_>>()
            .map_err(|e| format!("--groups: {e}"))?;
    }
    for (flag, value, target) in [
        ("--inh", &args.inh, &mut creds.inheritable),
        ("--prm", &args.prm, &mut creds.permitted),
        ("--eff", &args.eff, &mut creds.effective),
        ("--bnd", &args.bnd, &mut creds.bounding),
        ("--amb", &args.amb, &mut creds.ambient),
    ] {
        if let Some(value) = value {
            *target = parse_set(value, known).map_err(|e| format!("{flag}: {e}"))?;
        }
    }
    if let Some(bits) = &args.secbits {
        creds.securebits = Securebits::parse(bits).map_err(|e| format!("--secbits: {e}"))?;
    }
    if args.no_new_privs {
        creds.no_new_privs = true;
    }
    if let Some(traced) = &args.traced {
        caller.tracing = if traced == "capable" {
            Tracing::TracerCapable
        } else {
            Tracing::TracerNotCapable
        };
    }
    if args.fs_shared {
        caller.fs_shared = true;
    }
    if !args.userns_map.is_empty() {
        let ranges = args
            .userns_map
            .iter()
            .map(|line| parse_map_line(line))
            .collect::<Result<Vec<_>>>()?;
        caller.userns = NsChain(vec![UserNs::mapping(&ranges)]);
    }
    Ok(())
}

/// With some of the caller's state given and the rest left to capsim's own process, which parts are
/// capsim's own: `--uid nobody` alone predicts a nobody holding root's capabilities and gid, a state of
/// the option's making, so it is said.
fn own_state_note(args: &Args, caller: &Caller, known: u32) -> Option<String> {
    let creds = &caller.creds;
    let set = |s: CapSet| capcli::summary::short(s, known);
    let groups: Vec<String> = creds.groups.iter().map(u32::to_string).collect();
    let groups = if groups.is_empty() {
        "none".to_string()
    } else {
        groups.join(",")
    };
    let parts = [
        (
            args.uid.is_some(),
            format!("uid {} (--uid)", creds.uid.effective),
        ),
        (
            args.gid.is_some(),
            format!("gid {} (--gid)", creds.gid.effective),
        ),
        (args.groups.is_some(), format!("groups {groups} (--groups)")),
        (
            args.inh.is_some(),
            format!("inheritable {} (--inh)", set(creds.inheritable)),
        ),
        (
            args.prm.is_some(),
            format!("permitted {} (--prm)", set(creds.permitted)),
        ),
        (
            args.eff.is_some(),
            format!("effective {} (--eff)", set(creds.effective)),
        ),
        (
            args.bnd.is_some(),
            format!("bounding {} (--bnd)", set(creds.bounding)),
        ),
        (
            args.amb.is_some(),
            format!("ambient {} (--amb)", set(creds.ambient)),
        ),
    ];
    let own: Vec<&str> = parts
        .iter()
        .filter(|(given, _)| !given)
        .map(|(_, text)| text.as_str())
        .collect();
    // All of it given, or none of it (then the caller line says the state is capsim's own).
    if own.is_empty() || own.len() == parts.len() {
        return None;
    }
    Some(format!(
        "the caller's state not given by an option is capsim's own: {}",
        own.join(", ")
    ))
}

fn parse_map_line(line: &str) -> Result<IdRange> {
    let parts: Vec<u32> = line
        .split(':')
        .map(|p| {
            p.trim()
                .parse()
                .map_err(|_| format!("--userns-map '{line}': not a number"))
        })
        .collect::<Result<_>>()?;
    match parts[..] {
        [inside, outside, count] if count > 0 => Ok(IdRange {
            inside,
            outside,
            count,
        }),
        _ => Err(format!("--userns-map '{line}': give INSIDE:OUTSIDE:COUNT")),
    }
}

fn parse_mode(value: &str) -> Result<u32> {
    let digits = value.trim().trim_start_matches("0o");
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|mode| *mode <= 0o7777)
        .ok_or_else(|| format!("--mode '{value}': give an octal mode such as 4755"))
}

type FileParts = (
    FileState,
    Option<PathBuf>,
    Vec<PathBuf>,
    Option<ExecFailure>,
);

/// getxattr's errno for a namespaced value whose root this namespace cannot see.
const EOVERFLOW: i32 = 75;

fn build_file(
    args: &Args,
    path: Option<&PathBuf>,
    root: Option<(&std::path::Path, &str)>,
    own_ns: &NsChain,
    known: u32,
    notes: &mut Vec<String>,
) -> std::result::Result<FileParts, Failure> {
    let mut state = FileState::default();
    let mut credentials_from = None;
    let mut scripts = Vec::new();
    let mut unreadable = None;
    if let Some(path) = path {
        let target = capsys::exec_file::read_exec_file_in(path, root).map_err(|err| {
            // capsys names the file in its message; the form `PATH: cause (os error N)` wants the errno,
            // which asking again for the file's metadata gives.
            match std::fs::metadata(path) {
                Err(cause) => Failure::Operands(vec![(show_path(path), cause.to_string())]),
                Ok(_) => Failure::Other(err.to_string()),
            }
        })?;
        let file = match target {
            ExecTarget::Runs(file) => file,
            ExecTarget::Fails(failed) => {
                notes.extend(
                    failed
                        .notes
                        .iter()
                        .map(|n| format!("{}: {}", n.path.display(), n.text)),
                );
                let scripts = failed.scripts.clone();
                return Ok((state, None, scripts, Some(failed)));
            }
        };
        // stat shows ids as capsim's own namespace sees them; the model wants kernel ids.
        state.mode = file.mode;
        state.owner = own_ns.kuid(file.owner).unwrap_or(u32::MAX);
        state.group = own_ns.kgid(file.group).unwrap_or(u32::MAX);
        state.nosuid = file.nosuid;
        state.xattr = match file.xattr {
            XattrRead::Absent => None,
            XattrRead::Value(bytes) => Some(bytes),
            XattrRead::Unreadable(_, errno) if errno == EOVERFLOW => {
                notes.push(format!(
                    "{}: getxattr reports EOVERFLOW: the value's rootid is not root of this user namespace \
                     or an ancestor, so exec ignores it",
                    file.path.display()
                ));
                None
            }
            XattrRead::Unreadable(_, errno) => {
                unreadable = Some((file.path.clone(), errno));
                None
            }
        };
        credentials_from = Some(file.path);
        scripts = file.scripts;
        notes.extend(
            file.notes
                .iter()
                .map(|n| format!("{}: {}", n.path.display(), n.text)),
        );
    }
    if let Some(text) = &args.file_caps {
        let caps =
            CapState::from_text(text, known).map_err(|e| format!("--file-caps '{text}': {e}"))?;
        let caps = FileCaps::from_state(caps, args.rootid)
            .map_err(|e| format!("--file-caps '{text}': {e}"))?;
        state.xattr = Some(caps.encode());
        unreadable = None;
    } else if let Some(hex) = &args.file_xattr {
        state.xattr =
            Some(capcore::hex::parse_bytes(hex).map_err(|e| format!("--file-xattr '{hex}': {e}"))?);
        unreadable = None;
    } else if let Some(rootid) = args.rootid {
        let raw = state
            .xattr
            .as_ref()
            .ok_or("--rootid needs file capabilities (on the file, or from --file-caps)")?;
        let mut caps =
            FileCaps::decode(raw).map_err(|e| format!("--rootid: the file's value: {e}"))?;
        caps.revision = capcore::Revision::V3;
        caps.rootid = Some(rootid);
        state.xattr = Some(caps.encode());
    }
    if let Some((path, errno)) = unreadable {
        return Err(Failure::Other(format!(
            "{}: security.capability cannot be read (getxattr fails with {}): it is a v1 value, has flag bits \
             besides the effective bit, or is malformed. exec honours the first two and fails with EINVAL on \
             the last, and userspace cannot tell which; give its bytes with --file-xattr HEX",
            path.display(),
            std::io::Error::from_raw_os_error(errno)
        )));
    }
    if let Some(mode) = &args.mode {
        state.mode = 0o100_000 | parse_mode(mode)?;
    }
    if let Some(owner) = &args.owner {
        state.owner = owner
            .parse()
            .or_else(|_| presets::resolve_user(owner))
            .map_err(|e| format!("--owner: {e}"))?;
    }
    if let Some(group) = &args.group {
        state.group = group
            .parse()
            .or_else(|_| presets::resolve_group(group))
            .map_err(|e| format!("--group: {e}"))?;
    }
    if args.nosuid {
        state.nosuid = true;
    }
    Ok((state, credentials_from, scripts, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_in_every_form() {
        assert_eq!(parse_set("all", 41).unwrap().bits(), 0x1ff_ffff_ffff);
        assert_eq!(parse_set("none", 41).unwrap(), CapSet::EMPTY);
        assert_eq!(parse_set("2000", 41).unwrap().bits(), 0x2000);
        assert_eq!(parse_set("0x2000", 41).unwrap().bits(), 0x2000);
        assert_eq!(parse_set("net_raw,CAP_CHOWN", 41).unwrap().bits(), 0x2001);
        assert_eq!(parse_set("13", 41).unwrap().bits(), 0x2000);
        assert_eq!(
            parse_set("000001fffeffffff", 41).unwrap().bits(),
            0x1ff_feff_ffff
        );
        assert!(parse_set("cap_bogus", 41).is_err());
    }

    #[test]
    fn ids_fill_from_the_last() {
        let none = |_: &str| Err("no names".to_string());
        assert_eq!(parse_ids("1000", none).unwrap(), Ids::all(1000));
        let ids = parse_ids("1000,0", none).unwrap();
        assert_eq!(
            (ids.real, ids.effective, ids.saved, ids.fs),
            (1000, 0, 0, 0)
        );
        let ids = parse_ids("1,2,3,4", none).unwrap();
        assert_eq!((ids.real, ids.effective, ids.saved, ids.fs), (1, 2, 3, 4));
        assert!(parse_ids("1,2,3,4,5", none).is_err());
        assert!(
            parse_mode("4755").is_ok() && parse_mode("9").is_err() && parse_mode("17777").is_err()
        );
    }
}
