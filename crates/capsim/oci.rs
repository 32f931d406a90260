//! `--oci CONFIG.json`: the container's first process as runc sets it up, and the file it executes,
//! `process.args[0]` found inside the bundle's rootfs as runc's LookPath finds it there.

use std::path::{Path, PathBuf};

use capcore::exec::Creds;
use capcore::oci::{OciConfig, OciProcess, Refusal, RuntimeStart};
use capsys::presets;

use crate::input::{show_path, Failure};

/// What the config gives: the caller's state (or runc's refusal), the file to run, and notes.
pub struct Loaded {
    pub config: OciConfig,
    pub rootfs: PathBuf,
    pub creds: Result<Creds, Refusal>,
    pub notes: Vec<String>,
}

/// Reads CONFIG (bounded) and applies its process as runc would.
pub fn load(path: &Path, known: u32, start: &RuntimeStart) -> Result<Loaded, Failure> {
    let config = presets::read_oci_config(path, known).map_err(|e| match e {
        presets::ConfigError::Io(cause) => {
            Failure::Operands(vec![(show_path(path), cause.to_string())])
        }
        presets::ConfigError::Parse(why) => Failure::Other(format!("{}: {why}", path.display())),
    })?;
    let bundle = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let rootfs = bundle.join(&config.root_path);
    // Notes are escaped where they are printed (capcli::output::warn, JSON).
    let mut notes: Vec<String> = presets::ignored_caps_note(&config.process)
        .into_iter()
        .collect();
    match (&config.userns, &config.userns_path) {
        (Some(ns), _) => notes.push(format!(
            "the container has a user namespace of its own (uid map {}, gid map {}): its ids and capabilities \
             are that namespace's, and runc's init holds every capability there whatever runc itself holds",
            map_text(&ns.uid_map),
            map_text(&ns.gid_map)
        )),
        (None, Some(path)) => notes.push(format!(
            "the container joins the user namespace at {}, whose maps the config does not hold: predicted \
             as if it had none",
            capcli::escape_str(path)
        )),
        (None, None) => notes.push(format!(
            "assumed: runc 1.1 is started with capsim's own bounding set ({}) and inheritable set ({})",
            capcli::summary::short(start.bounding, known),
            capcli::summary::short(start.inheritable, known),
        )),
    }
    notes.push(
        "assumed: the rootfs has no /etc/group entries adding supplementary groups".to_string(),
    );
    let creds = capcore::oci::start(&config, &start.for_config(&config, known));
    Ok(Loaded {
        config,
        rootfs,
        creds,
        notes,
    })
}

/// A uid or gid map as `/proc/PID/uid_map` has it, one `inside-outside-count` range after another.
fn map_text(map: &[capcore::exec::IdRange]) -> String {
    if map.is_empty() {
        return "empty".to_string();
    }
    let ranges: Vec<String> = map
        .iter()
        .map(|r| format!("{}:{}:{}", r.inside, r.outside, r.count))
        .collect();
    ranges.join(",")
}

/// The state the config asks for, unapplied: what a refusal report shows as "before".
pub fn requested(process: &OciProcess) -> Creds {
    let caps = process.capabilities.unwrap_or_default();
    Creds {
        uid: capcore::exec::Ids::all(process.uid),
        gid: capcore::exec::Ids::all(process.gid),
        groups: process.additional_gids.clone(),
        inheritable: caps.inheritable,
        permitted: caps.permitted,
        effective: caps.effective,
        bounding: caps.bounding,
        ambient: caps.ambient,
        securebits: capcore::Securebits::default(),
        no_new_privs: process.no_new_privileges,
    }
}

/// What runc's lookup of `process.args[0]` comes to: the file, or runc's refusal of what it found.
pub enum Lookup {
    Found(PathBuf),
    Refused(Refusal),
}

/// `process.args[0]` inside the rootfs: a name with `/` from `process.cwd`, a bare name through PATH of
/// `process.env`, every symlink followed inside the rootfs.
pub fn executable(loaded: &Loaded) -> Result<Lookup, Failure> {
    let process = &loaded.config.process;
    let name = process
        .args
        .first()
        .ok_or("the config's process.args is empty: runc has nothing to run")?;
    // runc has refused an empty or relative cwd before this is asked.
    let cwd = process.cwd.as_str();
    let path_env = capcore::oci::env_path(process);
    let shown = format!(
        "{} (args[0] in {})",
        capcli::escape_str(name),
        show_path(&loaded.rootfs)
    );
    match capsys::rootfs::look_path(&loaded.rootfs, cwd, name, path_env) {
        Ok(Some(found)) => match found.relative_entry {
            None => Ok(Lookup::Found(found.path)),
            Some(dir) => Ok(Lookup::Refused(Refusal {
                message: format!(
                    "exec: \"{name}\": cannot run executable found relative to current directory"
                ),
                by: "runc",
                why: format!(
                    "process.env's PATH entry {dir:?} is not absolute, and Go's exec.LookPath (runc is \
                     built with Go 1.19 or later) refuses what it finds there"
                ),
            })),
        },
        Ok(None) => Err(Failure::Operands(vec![(
            shown,
            "executable file not found in $PATH".to_string(),
        )])),
        Err(err) => Err(Failure::Operands(vec![(shown, err.to_string())])),
    }
}
