//! `--docker`: the caller is the first process of a `docker run` container. moby's translation (capabilities,
//! the user looked up in the image, groups) is capcore::docker's; runc's checks and capset are
//! capcore::oci::start's, holding what the runtime holds (`--runtime-bounding`).

use std::path::{Path, PathBuf};

use capcore::docker::{Daemon, DockerRun, MobyVersion};
use capcore::exec::Caller;
use capcore::oci::{OciConfig, Refusal, RuntimeStart};
use capsys::image::ImageAccounts;

use crate::input::{show_path, Failure};
use crate::Args;

/// The PATH a container runs with when its image sets none (moby's oci.DefaultPathEnv).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The caller, where it came from, and the refusal of dockerd or runc when the container never starts.
pub struct Started {
    pub caller: Caller,
    pub source: String,
    pub refused: Option<Refusal>,
}

/// The runtime's bounding set (`--runtime-bounding`, else capsim's own) and the note that says which.
pub fn runtime_bounding(
    args: &Args,
    own: &capcore::exec::Creds,
    known: u32,
) -> Result<(capcore::CapSet, Option<String>), Failure> {
    match &args.runtime_bounding {
        Some(set) => Ok((
            crate::input::parse_set(set, known).map_err(|e| format!("--runtime-bounding: {e}"))?,
            None,
        )),
        None => Ok((
            own.bounding,
            Some(format!(
                "the runtime (dockerd, containerd, runc) is assumed to hold capsim's own bounding set, {}; \
                 a container cannot exceed it: give the runtime's with --runtime-bounding",
                capcli::summary::short(own.bounding, known)
            )),
        )),
    }
}

pub fn caller(
    args: &Args,
    own: &capcore::exec::Creds,
    known: u32,
    warnings: &mut Vec<String>,
) -> Result<Started, Failure> {
    let version = match &args.docker_version {
        Some(text) => MobyVersion::parse(text).map_err(|e| format!("--docker-version: {e}"))?,
        None => {
            warnings.push(format!(
                "the rules are Docker {}'s, the newest modelled (they changed at 23.0 and 25.0): give \
                 yours with --docker-version (docker version -f '{{{{.Server.Version}}}}' says it)",
                MobyVersion::NEWEST
            ));
            MobyVersion::NEWEST
        }
    };
    let (bounding, note) = runtime_bounding(args, own, known)?;
    warnings.extend(note);
    let image = match &args.rootfs {
        Some(dir) => ImageAccounts::read(dir)
            .map_err(|e| Failure::Operands(vec![(show_path(dir), e.to_string())]))?,
        None => {
            if args.user.is_some() || args.image_user.is_some() || !args.group_add.is_empty() {
                warnings.push(
                    "no --rootfs: the image's /etc/passwd and /etc/group are not read, so a user name or \
                     group name cannot be resolved, a uid without a group gets gid 0, and no \
                     supplementary group but the primary one and --group-add's numbers is predicted"
                        .to_string(),
                );
            }
            ImageAccounts::default()
        }
    };
    let daemon = Daemon {
        version,
        kernel_known: known,
        effective: bounding,
    };
    let source = format!("docker run as Docker {version} (moby) and runc set it up");
    // Refused by the docker client or dockerd: no process, the caller as it was.
    let refused = |refusal: Refusal| Started {
        caller: Caller {
            creds: own.clone(),
            ..Caller::default()
        },
        source: source.clone(),
        refused: Some(refusal),
    };
    let security_opt = match security_opts(args, version, warnings) {
        Ok(sent) => sent,
        Err(refusal) => return Ok(refused(refusal)),
    };
    let run = DockerRun {
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
        // docker run's --user, else (as an empty one) the image's USER: dockerd merges the image's config.
        user: args
            .user
            .clone()
            .filter(|u| !u.is_empty())
            .or(args.image_user.clone()),
        group_add: args.group_add.clone(),
        privileged: args.privileged,
        security_opt,
    };
    let process = match daemon.process(&run, image.accounts()) {
        Ok(process) => process,
        Err(message) => return Ok(refused(capcore::docker::daemon_refusal(message))),
    };
    let config = OciConfig {
        process: capcore::oci::OciProcess {
            cwd: "/".to_string(),
            // The command: FILE, or the image's CMD; runc only checks that there is one here.
            args: vec![args
                .file
                .as_ref()
                .map_or("CMD".to_string(), |f| f.display().to_string())],
            env: vec![format!("PATH={DEFAULT_PATH}")],
            ..process
        },
        ..OciConfig::default()
    };
    let start = RuntimeStart {
        bounding,
        inheritable: capcore::CapSet::EMPTY,
    };
    let (creds, refused) = match capcore::oci::start(&config, &start) {
        Ok(creds) => (creds, None),
        Err(refusal) => (crate::oci::requested(&config.process), Some(refusal)),
    };
    Ok(Started {
        caller: Caller {
            creds,
            ..Caller::default()
        },
        source,
        refused,
    })
}

/// `--security-opt` (and `--no-new-privileges`, the first) as the docker client of `version` sends them to
/// dockerd, or the client's refusal.
fn security_opts(
    args: &Args,
    version: MobyVersion,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>, Refusal> {
    let given = args
        .no_new_privileges
        .then(|| "no-new-privileges".to_string());
    let opts: Vec<String> = given.into_iter().chain(args.security_opt.clone()).collect();
    let sent = capsys::docker_client::security_opts(version, &opts)
        .map_err(capcore::docker::client_refusal)?;
    warnings.extend(sent.notes);
    Ok(sent.opts)
}

/// FILE inside `--rootfs`: a path as the container sees it (relative ones from `/`), a bare name through
/// the default PATH, as runc looks up a command of an image that sets no PATH.
pub fn file_in_image(root: &Path, file: &Path) -> Result<PathBuf, Failure> {
    use std::os::unix::ffi::OsStrExt;
    let name = file.as_os_str().as_bytes();
    let shown = || format!("{} (in {})", show_path(file), show_path(root));
    if name.contains(&b'/') {
        return capsys::rootfs::resolve(root, "/", name)
            .map_err(|e| Failure::Operands(vec![(shown(), e.to_string())]));
    }
    let text = std::str::from_utf8(name).map_err(|_| format!("{}: not UTF-8", shown()))?;
    match capsys::rootfs::look_path(root, "/", text, Some(DEFAULT_PATH)) {
        Ok(Some(found)) => Ok(found.path),
        Ok(None) => Err(Failure::Operands(vec![(
            shown(),
            "executable file not found in $PATH".to_string(),
        )])),
        Err(e) => Err(Failure::Operands(vec![(shown(), e.to_string())])),
    }
}
