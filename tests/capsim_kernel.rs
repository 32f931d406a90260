//! The proof of capsim's execve model against the running kernel: a real child process is put in a chosen
//! state by capkit-test-launcher (ids, groups, five sets, securebits, no_new_privs, ptrace, a CLONE_FS
//! sibling, user namespaces), execs a real copy of capkit-test-probe with a chosen mode, owner, group and
//! `security.capability` (also on a nosuid mount, inside user namespaces, and values setxattr refuses, written
//! raw into an ext4 image with debugfs), and the probe's report is compared field by field with
//! `capcore::exec::simulate`. Every reproducible scenario of spec §10 runs first, then seeded random ones
//! (CAPKIT_SEED overrides the seed, CAPKIT_SCENARIOS the count). Root only.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use capcore::exec::IdRange;
use capcore::exec::{
    simulate, Caller, Creds, FileState, FsUserNs, Ids, Kernel, NsChain, Tracing, UserNs,
};
use capcore::xattr::Errno;
use capcore::{Cap, CapSet, Securebits};

use crate::rawfs::{RawFile as ImageFile, RawImage};
use crate::skip_unless;
use crate::util::{is_root, Rng};

const B0: u64 = 0x1ff_feff_ffff;
const FULL: u64 = 0x1ff_ffff_ffff;
const NR: u64 = 0x2000;
const NA: u64 = 0x1000;
const SU: u64 = 0x80;
const WORKERS: usize = 4;
const RANDOM_SCENARIOS: usize = 2400;
const NS1: (u32, u32, u32) = (0, 100_000, 65536);
const NS2: (u32, u32, u32) = (0, 200_000, 65536);
const INNER: (u32, u32, u32) = (0, 1000, 1000);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trace {
    None,
    /// PTRACE_TRACEME: the recorded tracer cred is the caller's own.
    Me,
    /// PTRACE_SEIZE by the launcher's parent, root with every capability.
    Seize,
}

/// Where the exec'd file comes from.
#[derive(Clone, Debug)]
enum FileSpec {
    /// The worker's own copy of the probe, configured for the scenario.
    Pool {
        mode: u32,
        owner: u32,
        group: u32,
        xattr: Option<Vec<u8>>,
        nosuid: bool,
    },
    /// One of the ext4 image's files with a value setxattr refuses.
    Raw { index: usize, nosuid: bool },
    /// A `#!` script (with its own mode and xattr) whose interpreter is the worker's pool file.
    Script {
        mode: u32,
        xattr: Option<Vec<u8>>,
        interpreter: Box<FileSpec>,
    },
}

#[derive(Clone, Debug)]
struct Scenario {
    name: String,
    creds: Creds,
    trace: Trace,
    fs_shared: bool,
    /// Outermost first.
    userns: Vec<(u32, u32, u32)>,
    file: FileSpec,
    /// Also run the capsim binary on the same state and file and compare it with the kernel.
    via_tool: bool,
}

/// A file of the raw ext4 image.
struct RawFile {
    name: String,
    bytes: Vec<u8>,
    mode: u32,
}

/// The temporary directory, its mounts and the files the scenarios exec; unmounts everything when dropped.
struct Lab {
    /// The ext4 image of `raw`'s files. The images come first: they are unmounted before the directory
    /// they are mounted in is removed.
    raw_image: Option<RawImage>,
    /// Per value that this kernel's setxattr refuses and a scenario uses, one file per worker with it
    /// (`slot{N}-{worker}`, N from `slot_of`), whose owner and mode each scenario sets.
    slots: Option<RawImage>,
    slot_of: HashMap<Vec<u8>, usize>,
    base: PathBuf,
    _dir: tempfile::TempDir,
    suid: PathBuf,
    /// A nosuid bind mount of `suid`, when mounting works here.
    nosuid: Option<PathBuf>,
    raw: Vec<RawFile>,
    mounts: Vec<PathBuf>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for mount in self.mounts.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(mount).status();
        }
    }
}

fn sh(cmd: &mut Command) -> Result<(), String> {
    crate::rawfs::run(cmd)
}

fn probe() -> PathBuf {
    crate::util::helper("capkit-test-probe")
}

fn launcher() -> PathBuf {
    crate::util::helper("capkit-test-launcher")
}

fn words(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn v2(effective: bool, permitted: u64, inheritable: u64) -> Vec<u8> {
    words(&[
        0x0200_0000 | u32::from(effective),
        permitted as u32,
        inheritable as u32,
        (permitted >> 32) as u32,
        (inheritable >> 32) as u32,
    ])
}

fn v3(effective: bool, permitted: u64, inheritable: u64, rootid: u32) -> Vec<u8> {
    let mut raw = v2(effective, permitted, inheritable);
    raw[3] = 3;
    raw.extend_from_slice(&rootid.to_le_bytes());
    raw
}

/// Values the kernel honours or rejects at exec but setxattr refuses to write.
fn raw_values() -> Vec<(String, Vec<u8>, u32)> {
    vec![
        ("v1".to_string(), words(&[0x0100_0001, NR as u32, 0]), 0o755),
        (
            "v1_noeff".to_string(),
            words(&[0x0100_0000, NR as u32, NR as u32]),
            0o755,
        ),
        (
            "v1_setuid".to_string(),
            words(&[0x0100_0001, NR as u32, 0]),
            0o4755,
        ),
        (
            "stray".to_string(),
            words(&[0x0200_0003, NR as u32, 0, 0, 0]),
            0o755,
        ),
        (
            "stray_v3".to_string(),
            words(&[0x0300_0101, NR as u32, 0, 0, 0, 0]),
            0o755,
        ),
        (
            "len28".to_string(),
            words(&[0x0200_0001, NR as u32, 0, 0, 0, 0, 0]),
            0o755,
        ),
        (
            "len22".to_string(),
            [v2(true, NR, 0), vec![0, 0]].concat(),
            0o755,
        ),
        ("len3".to_string(), vec![1, 0, 0], 0o755),
        (
            "rev4".to_string(),
            words(&[0x0400_0001, NR as u32, 0, 0, 0]),
            0o755,
        ),
        ("rootid_max".to_string(), v3(true, NR, 0, u32::MAX), 0o755),
        (
            "rootid_max_setuid".to_string(),
            v3(true, NR, 0, u32::MAX),
            0o4755,
        ),
        (
            "v1_dumb".to_string(),
            words(&[0x0100_0001, 0x100_0000, 0]),
            0o755,
        ),
        (
            "v1_all".to_string(),
            words(&[0x0100_0001, u32::MAX, 0]),
            0o755,
        ),
    ]
}

fn build_lab() -> Result<Lab, String> {
    let dir = tempfile::Builder::new()
        .prefix("capsim-kernel")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let base = dir.path().to_path_buf();
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    let mut lab = Lab {
        raw_image: None,
        slots: None,
        slot_of: HashMap::new(),
        base: base.clone(),
        suid: base.join("suid"),
        nosuid: None,
        raw: Vec::new(),
        mounts: Vec::new(),
        _dir: dir,
    };
    let nosuid = base.join("nosuid");
    for path in [&lab.suid, &nosuid] {
        std::fs::create_dir(path).map_err(|e| e.to_string())?;
    }
    match mount_pool(&mut lab, &nosuid) {
        Ok(()) => lab.nosuid = Some(nosuid),
        Err(why) => {
            crate::util::skipped(&format!(
                "capsim_kernel: cannot mount the lab ({why}); using a plain directory, and scenarios on a \
                 nosuid mount are skipped"
            ));
            for mount in lab.mounts.drain(..).rev() {
                let _ = Command::new("umount").arg("-l").arg(mount).status();
            }
        }
    }
    for worker in 0..WORKERS {
        let pool = lab.suid.join(format!("pool{worker}"));
        std::fs::copy(probe(), &pool).map_err(|e| e.to_string())?;
        let script = lab.suid.join(format!("script{worker}"));
        std::fs::write(&script, format!("#!{}\n", pool.display())).map_err(|e| e.to_string())?;
    }
    if let Err(why) = build_raw_image(&mut lab) {
        crate::util::skipped(&format!(
            "capsim_kernel: values setxattr refuses are not tested: {why}"
        ));
    }
    Ok(lab)
}

/// A private tmpfs for the pool files, also reachable through a nosuid bind mount.
fn mount_pool(lab: &mut Lab, nosuid: &Path) -> Result<(), String> {
    sh(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "mode=0755,size=256m", "capsim-lab"])
        .arg(&lab.suid))?;
    lab.mounts.push(lab.suid.clone());
    sh(Command::new("mount")
        .arg("--bind")
        .arg(&lab.suid)
        .arg(nosuid))?;
    lab.mounts.push(nosuid.to_path_buf());
    sh(Command::new("mount")
        .args(["-o", "remount,bind,nosuid"])
        .arg(nosuid))
}

/// An ext4 image holding the raw values, written with debugfs, mounted normally and nosuid.
fn build_raw_image(lab: &mut Lab) -> Result<(), String> {
    let files: Vec<ImageFile> = raw_values()
        .into_iter()
        .map(|(name, value, mode)| ImageFile {
            name,
            source: probe(),
            value,
            mode,
            owner: 0,
            group: 0,
        })
        .collect();
    let image = RawImage::build(&lab.base, "raw", &files, true)?;
    lab.raw = files
        .into_iter()
        .map(|file| RawFile {
            name: file.name,
            bytes: file.value,
            mode: file.mode,
        })
        .collect();
    lab.raw_image = Some(image);
    Ok(())
}

/// Gives every value the scenarios put on a pool file that this kernel's setxattr refuses (a
/// zero-length value, on 6.18 builds that check) a slot per worker in an image written with debugfs.
/// Where no image can be made, those scenarios are skipped and the skip is logged.
fn make_slots(lab: &mut Lab, scenarios: &[Scenario]) {
    let mut refused: Vec<Vec<u8>> = Vec::new();
    for scenario in scenarios {
        for value in pool_values(&scenario.file) {
            if refused.contains(value) {
                continue;
            }
            match crate::rawfs::kernel_refuses(&lab.suid, value) {
                Ok(true) => refused.push(value.clone()),
                Ok(false) => {}
                Err(why) => eprintln!("capsim_kernel: {why}"),
            }
        }
    }
    if refused.is_empty() {
        return;
    }
    let mut files = Vec::new();
    for (slot, value) in refused.iter().enumerate() {
        for worker in 0..WORKERS {
            files.push(ImageFile {
                name: format!("slot{slot}-{worker}"),
                source: probe(),
                value: value.clone(),
                mode: 0o755,
                owner: 0,
                group: 0,
            });
        }
    }
    match RawImage::build(&lab.base, "slots", &files, true) {
        Ok(image) => {
            lab.slots = Some(image);
            lab.slot_of = refused.into_iter().zip(0..).collect();
        }
        Err(why) => crate::util::skipped(&format!(
            "capsim_kernel: {} values setxattr refuses cannot be written raw: {why}",
            refused.len()
        )),
    }
}

/// The values a file spec puts on pool files with setxattr.
fn pool_values(spec: &FileSpec) -> Vec<&Vec<u8>> {
    match spec {
        FileSpec::Pool {
            xattr: Some(value), ..
        } => vec![value],
        FileSpec::Script { interpreter, .. } => pool_values(interpreter),
        _ => Vec::new(),
    }
}

/// Gives a worker's slot for a value setxattr refuses the scenario's owner, group and mode. chown keeps
/// such a value where the kernel finds nothing to kill (a zero-length value reads as size 0); whether it
/// did is checked, never assumed.
fn prepare_slot(
    lab: &Lab,
    worker: usize,
    slot: usize,
    (mode, owner, group, nosuid): (u32, u32, u32, bool),
    value: &[u8],
) -> Result<(PathBuf, FileState), String> {
    let slots = lab.slots.as_ref().ok_or(SKIP_REFUSED)?;
    let name = format!("slot{slot}-{worker}");
    let path = slots.dir.join(&name);
    std::os::unix::fs::chown(&path, Some(owner), Some(group)).map_err(|e| format!("chown: {e}"))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod: {e}"))?;
    match xattr::get(&path, "security.capability") {
        Ok(Some(read)) if read == value => {}
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOVERFLOW)) => {}
        _ => return Err(SKIP_CHOWN.to_string()),
    }
    let dir = if nosuid {
        slots.nosuid.as_ref().ok_or(SKIP_NOSUID)?
    } else {
        &slots.dir
    };
    Ok((
        dir.join(name),
        FileState {
            mode: 0o100_000 | mode,
            owner,
            group,
            xattr: Some(value.to_vec()),
            nosuid,
            fs_userns: FsUserNs::Initial,
        },
    ))
}

/// The `prepare` error of a scenario that needs a nosuid mount where none could be made.
const SKIP_NOSUID: &str = "skipped: no nosuid mount";
/// The `prepare` error of a scenario whose value setxattr refuses, where no image holds it.
const SKIP_REFUSED: &str = "skipped: a value setxattr refuses, and no image could hold it";
/// The `prepare` error of a scenario whose refused value did not survive chown on this kernel.
const SKIP_CHOWN: &str =
    "skipped: chown removed a value setxattr refuses, so it cannot be given an owner";
const SKIPS: [&str; 3] = [SKIP_NOSUID, SKIP_REFUSED, SKIP_CHOWN];

/// Configures the worker's pool file (or script) and returns the path to exec and the model's file state.
fn prepare(lab: &Lab, worker: usize, spec: &FileSpec) -> Result<(PathBuf, FileState), String> {
    match spec {
        FileSpec::Pool {
            mode,
            owner,
            group,
            xattr: value,
            nosuid,
        } => {
            if let Some(&slot) = value.as_ref().and_then(|v| lab.slot_of.get(v)) {
                let value = value.as_deref().unwrap_or_default();
                return prepare_slot(lab, worker, slot, (*mode, *owner, *group, *nosuid), value);
            }
            let name = format!("pool{worker}");
            let path = lab.suid.join(&name);
            configure(&path, *mode, *owner, *group, value.as_deref())?;
            let dir = if *nosuid {
                lab.nosuid.as_ref().ok_or(SKIP_NOSUID)?
            } else {
                &lab.suid
            };
            Ok((
                dir.join(name),
                FileState {
                    mode: 0o100_000 | mode,
                    owner: *owner,
                    group: *group,
                    xattr: value.clone(),
                    nosuid: *nosuid,
                    fs_userns: FsUserNs::Initial,
                },
            ))
        }
        FileSpec::Raw { index, nosuid } => {
            let raw = &lab.raw[*index];
            let image = lab.raw_image.as_ref().ok_or("no raw image")?;
            let dir = if *nosuid {
                image.nosuid.as_ref().ok_or(SKIP_NOSUID)?
            } else {
                &image.dir
            };
            Ok((
                dir.join(&raw.name),
                FileState {
                    mode: 0o100_000 | raw.mode,
                    owner: 0,
                    group: 0,
                    xattr: Some(raw.bytes.clone()),
                    nosuid: *nosuid,
                    fs_userns: FsUserNs::Initial,
                },
            ))
        }
        FileSpec::Script {
            mode,
            xattr: value,
            interpreter,
        } => {
            let (interpreter, state) = prepare(lab, worker, interpreter)?;
            let path = lab.suid.join(format!("script{worker}"));
            // Written first: a write clears the capability xattr, which `configure` then sets.
            std::fs::write(&path, format!("#!{}\n", interpreter.display()))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            configure(&path, *mode, 0, 0, value.as_deref())?;
            Ok((path, state))
        }
    }
}

fn configure(
    path: &Path,
    mode: u32,
    owner: u32,
    group: u32,
    value: Option<&[u8]>,
) -> Result<(), String> {
    // chown clears set-id bits and the capability xattr, so it comes first.
    std::os::unix::fs::chown(path, Some(owner), Some(group)).map_err(|e| format!("chown: {e}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod: {e}"))?;
    match value {
        Some(bytes) => xattr::set(path, "security.capability", bytes)
            .map_err(|e| format!("setxattr {bytes:02x?}: {e}")),
        None => match xattr::remove(path, "security.capability") {
            Err(e) if e.raw_os_error() != Some(61) => Err(format!("removexattr: {e}")),
            _ => Ok(()),
        },
    }
}

/// What the probe (or the launcher) reported.
#[derive(Debug)]
enum Report {
    Exec {
        before: Creds,
        after: Creds,
        secure: bool,
    },
    Failed {
        before: Creds,
        errno: i32,
    },
}

fn parse_block(lines: &[&str]) -> Result<(Creds, Option<bool>), String> {
    let mut creds = Creds::default();
    let mut secure = None;
    for line in lines {
        let (key, value) = line.split_once(':').ok_or(format!("bad line {line:?}"))?;
        let value = value.trim();
        let nums = || -> Result<Vec<u32>, String> {
            value
                .split_whitespace()
                .map(|n| n.parse().map_err(|_| format!("bad {line:?}")))
                .collect()
        };
        let mask = || {
            u64::from_str_radix(value, 16)
                .map(CapSet::from_bits)
                .map_err(|_| format!("bad {line:?}"))
        };
        let ids = |v: Vec<u32>| -> Result<Ids, String> {
            match v[..] {
                [real, effective, saved, fs] => Ok(Ids {
                    real,
                    effective,
                    saved,
                    fs,
                }),
                _ => Err(format!("bad {line:?}")),
            }
        };
        match key {
            "Uid" => creds.uid = ids(nums()?)?,
            "Gid" => creds.gid = ids(nums()?)?,
            "Groups" => creds.groups = nums()?,
            "CapInh" => creds.inheritable = mask()?,
            "CapPrm" => creds.permitted = mask()?,
            "CapEff" => creds.effective = mask()?,
            "CapBnd" => creds.bounding = mask()?,
            "CapAmb" => creds.ambient = mask()?,
            "NoNewPrivs" => creds.no_new_privs = value == "1",
            "Securebits" => {
                creds.securebits =
                    Securebits::from_bits(value.parse().map_err(|_| format!("bad {line:?}"))?)
                        .map_err(|e| e.to_string())?
            }
            "AtSecure" => secure = Some(value != "0"),
            _ => return Err(format!("unexpected {line:?}")),
        }
    }
    Ok((creds, secure))
}

fn parse_report(stdout: &str) -> Result<Report, String> {
    let lines: Vec<&str> = stdout.lines().collect();
    if let Some(err) = lines.iter().find(|l| l.starts_with("LAUNCH_ERROR")) {
        return Err(err.to_string());
    }
    let start = lines
        .iter()
        .position(|l| *l == "BEFORE")
        .ok_or("no BEFORE block")?;
    let after_at = lines.iter().position(|l| *l == "AFTER");
    let failed_at = lines.iter().position(|l| l.starts_with("EXEC_ERROR"));
    let end = after_at
        .or(failed_at)
        .ok_or_else(|| format!("no AFTER block in {stdout:?}"))?;
    let (before, _) = parse_block(&lines[start + 1..end])?;
    if let Some(at) = failed_at {
        let errno = lines[at]
            .trim_start_matches("EXEC_ERROR ")
            .parse()
            .map_err(|_| "bad errno".to_string())?;
        return Ok(Report::Failed { before, errno });
    }
    let (after, secure) = parse_block(&lines[end + 1..])?;
    Ok(Report::Exec {
        before,
        after,
        secure: secure.ok_or("no AtSecure")?,
    })
}

fn launch(scenario: &Scenario, path: &Path) -> Result<Report, String> {
    let mut cmd = launcher_command(scenario, path, &[]);
    let out = cmd.output().map_err(|e| format!("launcher: {e}"))?;
    parse_report(&String::from_utf8_lossy(&out.stdout))
        .map_err(|e| format!("{e} (stderr {:?})", String::from_utf8_lossy(&out.stderr)))
}

/// The launcher's command line for a scenario, with `extra` options before the file.
fn launcher_command(scenario: &Scenario, path: &Path, extra: &[&str]) -> Command {
    let c = &scenario.creds;
    let ids = |ids: Ids| format!("{},{},{},{}", ids.real, ids.effective, ids.saved, ids.fs);
    let mut cmd = Command::new(launcher());
    for (inside, outside, count) in &scenario.userns {
        cmd.arg("--userns")
            .arg(format!("{inside}:{outside}:{count}"));
    }
    cmd.arg("--uid").arg(ids(c.uid));
    cmd.arg("--gid").arg(ids(c.gid));
    cmd.arg("--groups").arg(
        c.groups
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
    );
    for (flag, set) in [
        ("--inh", c.inheritable),
        ("--prm", c.permitted),
        ("--eff", c.effective),
        ("--amb", c.ambient),
        ("--bnd", c.bounding),
    ] {
        cmd.arg(flag).arg(format!("{:x}", set.bits()));
    }
    cmd.arg("--securebits")
        .arg(format!("{:x}", c.securebits.bits()));
    if c.no_new_privs {
        cmd.arg("--nnp");
    }
    if scenario.fs_shared {
        cmd.arg("--fs-shared");
    }
    cmd.arg("--trace").arg(match scenario.trace {
        Trace::None => "none",
        Trace::Me => "traceme",
        Trace::Seize => "seize",
    });
    cmd.args(extra);
    cmd.arg("--").arg(path);
    cmd
}

/// Runs one scenario; returns the outcome both agree on, or a description of the mismatch.
fn check(
    lab: &Lab,
    worker: usize,
    scenario: &Scenario,
    kernel: Kernel,
    tool_checks: &AtomicUsize,
) -> Result<&'static str, String> {
    let (path, file) = match prepare(lab, worker, &scenario.file) {
        Ok(prepared) => prepared,
        Err(why) => match SKIPS.iter().find(|skip| **skip == why) {
            Some(skip) => return Ok(skip),
            None => return Err(format!("{}: cannot prepare the file: {why}", scenario.name)),
        },
    };
    let report = launch(scenario, &path)
        .map_err(|why| format!("{}: launcher failed: {why}\n{scenario:#?}", scenario.name))?;
    let before = match &report {
        Report::Exec { before, .. } | Report::Failed { before, .. } => before,
    };
    let mut requested = scenario.creds.clone();
    requested.no_new_privs = false;
    if *before != requested {
        return Err(format!(
            "{}: the launcher reached {before:#?}\ninstead of {requested:#?}",
            scenario.name
        ));
    }
    let mut creds = before.clone();
    creds.no_new_privs = scenario.creds.no_new_privs;
    let tracing = match scenario.trace {
        Trace::None => Tracing::NotTraced,
        Trace::Seize => Tracing::TracerCapable,
        // PTRACE_TRACEME records the tracee's own cred as the tracer's.
        Trace::Me if creds.effective.contains(Cap::SYS_PTRACE) => Tracing::TracerCapable,
        Trace::Me => Tracing::TracerNotCapable,
    };
    let caller = Caller {
        creds,
        tracing,
        fs_shared: scenario.fs_shared,
        userns: NsChain(
            scenario
                .userns
                .iter()
                .rev()
                .map(|&(inside, outside, count)| {
                    UserNs::mapping(&[IdRange {
                        inside,
                        outside,
                        count,
                    }])
                })
                .collect(),
        ),
    };
    let model = simulate(&caller, &file, kernel);
    let kernel_is_current = kernel == Kernel::default();
    if scenario.via_tool && kernel_is_current && !matches!(report, Report::Failed { errno: 13, .. })
    {
        tool_check(scenario, &path, &caller, &file, &report)?;
        tool_checks.fetch_add(1, Ordering::Relaxed);
    }
    let summary = match (&model.result, &report) {
        (
            Ok(after),
            Report::Exec {
                after: got, secure, ..
            },
        ) => {
            let diff = creds_diff(&after.creds, got);
            if diff.is_empty() && after.secure_exec == *secure {
                return Ok(if *secure { "ok, AT_SECURE" } else { "ok" });
            }
            format!("{diff} secure model {} kernel {secure}", after.secure_exec)
        }
        (Err(err), Report::Failed { errno, .. }) if errno_number(err.errno) == *errno => {
            return Ok(err.errno.name())
        }
        // An exec refused before credentials are computed (no execute permission): the model's own rule
        // must agree with the test's independent reading of generic_permission.
        (Err(err), Report::Failed { errno: 13, before })
            if err.errno == Errno::Eacces && !may_exec(before, &caller.userns, &file) =>
        {
            return Ok("EACCES (no execute permission)")
        }
        (model, Report::Failed { errno, .. }) => format!(
            "kernel errno {errno}, model {:?}",
            model.as_ref().map(|_| "ok")
        ),
        (Err(err), Report::Exec { .. }) => format!("kernel ok, model {}", err.errno),
    };
    Err(format!(
        "{}: MISMATCH {summary}\nscenario: {scenario:?}\nfile: {file:?}\nkernel: {report:?}\nmodel: {:?}\ntrace: {:#?}",
        scenario.name, model.result, model.trace.steps
    ))
}

/// Runs the capsim binary with the caller's state given as options on the real file, and compares its JSON
/// with what the kernel did: this checks the tool's reading of files and options, not just the model.
fn tool_check(
    scenario: &Scenario,
    path: &Path,
    caller: &Caller,
    file: &FileState,
    report: &Report,
) -> Result<(), String> {
    let c = &caller.creds;
    let ids = |ids: Ids| format!("{},{},{},{}", ids.real, ids.effective, ids.saved, ids.fs);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_capsim"));
    cmd.arg("--json")
        .arg("--uid")
        .arg(ids(c.uid))
        .arg("--gid")
        .arg(ids(c.gid));
    cmd.arg("--groups").arg(
        c.groups
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
    );
    for (flag, set) in [
        ("--inh", c.inheritable),
        ("--prm", c.permitted),
        ("--eff", c.effective),
        ("--bnd", c.bounding),
        ("--amb", c.ambient),
    ] {
        cmd.arg(flag).arg(format!("0x{:x}", set.bits()));
    }
    cmd.arg("--secbits")
        .arg(format!("0x{:x}", c.securebits.bits()));
    if c.no_new_privs {
        cmd.arg("--no-new-privs");
    }
    match caller.tracing {
        Tracing::NotTraced => {}
        Tracing::TracerCapable => {
            cmd.arg("--traced=capable");
        }
        Tracing::TracerNotCapable => {
            cmd.arg("--traced");
        }
    }
    if caller.fs_shared {
        cmd.arg("--fs-shared");
    }
    for (inside, outside, count) in &scenario.userns {
        cmd.arg("--userns-map")
            .arg(format!("{inside}:{outside}:{count}"));
    }
    let readable = file.xattr.as_deref().is_none_or(|raw| {
        capcore::FileCaps::decode(raw).is_ok_and(|caps| caps.check_userspace().is_ok())
    });
    if !readable {
        // getxattr refuses these values (v1, stray flags, wrong sizes, zero bytes); the tool needs them given.
        let hex: String = file
            .xattr
            .iter()
            .flatten()
            .map(|b| format!("{b:02x}"))
            .collect();
        cmd.arg("--file-xattr").arg(hex);
    }
    cmd.arg(path);
    let out = cmd.output().map_err(|e| format!("capsim: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let fail = |why: String| {
        Err(format!(
            "{}: TOOL MISMATCH {why}\ncommand: {cmd:?}\nstdout: {text}\nstderr: {}\nkernel: {report:?}",
            scenario.name,
            String::from_utf8_lossy(&out.stderr)
        ))
    };
    let Ok(record) = serde_json::from_str::<serde_json::Value>(text.trim()) else {
        return fail("no JSON".to_string());
    };
    record_matches(&record, report).or_else(fail)
}

/// Compares a capsim JSON record with what the kernel did: `Err` names the difference.
fn record_matches(record: &serde_json::Value, report: &Report) -> Result<(), String> {
    match report {
        Report::Failed { errno, .. } => {
            let want = match errno {
                1 => "EPERM",
                2 => "ENOENT",
                8 => "ENOEXEC",
                13 => "EACCES",
                22 => "EINVAL",
                34 => "ERANGE",
                40 => "ELOOP",
                _ => "?",
            };
            if record["outcome"] != want {
                return Err(format!("outcome {} vs errno {errno}", record["outcome"]));
            }
        }
        Report::Exec { after, secure, .. } => {
            let a = &record["after"];
            let mut got = Creds::default();
            let num = |key: &str| a[key].as_u64().unwrap_or(u64::MAX) as u32;
            got.uid = Ids {
                real: num("ruid"),
                effective: num("euid"),
                saved: num("suid"),
                fs: num("fsuid"),
            };
            got.gid = Ids {
                real: num("rgid"),
                effective: num("egid"),
                saved: num("sgid"),
                fs: num("fsgid"),
            };
            got.groups = a["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|g| g.as_u64())
                .map(|g| g as u32)
                .collect();
            let set = |key: &str| {
                CapSet::from_bits(
                    u64::from_str_radix(a[key]["hex"].as_str().unwrap_or("x"), 16)
                        .unwrap_or(u64::MAX),
                )
            };
            got.inheritable = set("inheritable");
            got.permitted = set("permitted");
            got.effective = set("effective");
            got.bounding = set("bounding");
            got.ambient = set("ambient");
            got.securebits =
                Securebits::from_bits(a["securebits"]["value"].as_u64().unwrap_or(u64::MAX))
                    .unwrap_or_default();
            got.no_new_privs = a["no_new_privs"] == true;
            let diff = creds_diff(&got, after);
            if !diff.is_empty() || record["secure_exec"] != *secure {
                return Err(format!(
                    "{diff} secure {} vs {secure}",
                    record["secure_exec"]
                ));
            }
        }
    }
    Ok(())
}

/// The fields that differ, as `name model!=kernel`.
fn creds_diff(model: &Creds, kernel: &Creds) -> String {
    let mut out = String::new();
    let mut field = |name: &str, a: String, b: String| {
        if a != b {
            let _ = write!(out, "{name} {a}!={b} ");
        }
    };
    field(
        "uid",
        format!("{:?}", model.uid),
        format!("{:?}", kernel.uid),
    );
    field(
        "gid",
        format!("{:?}", model.gid),
        format!("{:?}", kernel.gid),
    );
    field(
        "groups",
        format!("{:?}", model.groups),
        format!("{:?}", kernel.groups),
    );
    for (name, a, b) in [
        ("inh", model.inheritable, kernel.inheritable),
        ("prm", model.permitted, kernel.permitted),
        ("eff", model.effective, kernel.effective),
        ("bnd", model.bounding, kernel.bounding),
        ("amb", model.ambient, kernel.ambient),
    ] {
        field(name, a.hex(), b.hex());
    }
    field(
        "securebits",
        model.securebits.hex(),
        kernel.securebits.hex(),
    );
    field(
        "nnp",
        model.no_new_privs.to_string(),
        kernel.no_new_privs.to_string(),
    );
    out
}

/// generic_permission for MAY_EXEC on a regular file: the owner's, group's or others' x bit by fsuid and
/// fsgid/groups, or CAP_DAC_OVERRIDE when any x bit is set and the owner and group are mapped.
fn may_exec(creds: &Creds, chain: &NsChain, file: &FileState) -> bool {
    let owner = chain.uid(file.owner);
    let group = chain.gid(file.group);
    let bits = if owner == Some(creds.uid.fs) {
        file.mode >> 6
    } else if group.is_some_and(|g| g == creds.gid.fs || creds.groups.contains(&g)) {
        file.mode >> 3
    } else {
        file.mode
    };
    bits & 1 != 0
        || (file.mode & 0o111 != 0
            && creds.effective.contains(Cap::DAC_OVERRIDE)
            && owner.is_some()
            && group.is_some())
}

fn errno_number(errno: Errno) -> i32 {
    match errno {
        Errno::Eperm => 1,
        Errno::Einval => 22,
        Errno::Erange => 34,
        Errno::Eacces => 13,
    }
}

/// Runs scenarios on `WORKERS` threads, each with its own pool file; returns the mismatches, and prints how
/// many scenarios ended in each outcome.
fn run_all(lab: &Lab, scenarios: &[Scenario], kernel: Kernel) -> Vec<String> {
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let outcomes = Mutex::new(std::collections::BTreeMap::<&str, usize>::new());
    let tool_checks = AtomicUsize::new(0);
    let deadline = Instant::now() + Duration::from_secs(600);
    std::thread::scope(|scope| {
        for worker in 0..WORKERS {
            let (next, failures, outcomes, tool_checks) =
                (&next, &failures, &outcomes, &tool_checks);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= scenarios.len() || Instant::now() > deadline {
                    break;
                }
                match check(lab, worker, &scenarios[i], kernel, tool_checks) {
                    Ok(outcome) => {
                        let mut outcomes = outcomes.lock().unwrap_or_else(|e| e.into_inner());
                        *outcomes.entry(outcome).or_default() += 1;
                    }
                    Err(failure) => {
                        let mut failures = failures.lock().unwrap_or_else(|e| e.into_inner());
                        failures.push(failure);
                    }
                }
            });
        }
    });
    assert!(
        Instant::now() <= deadline,
        "the scenarios did not finish in time"
    );
    let outcomes = outcomes.into_inner().unwrap_or_else(|e| e.into_inner());
    // A scenario that could not be made here is a skip, said where .ci/run counts it.
    for skip in SKIPS {
        if let Some(count) = outcomes.get(skip) {
            crate::util::skipped(&format!("capsim_kernel: {count} scenarios {skip}"));
        }
    }
    eprintln!(
        "capsim_kernel: outcomes agreed on: {outcomes:?}; {} of them also through the capsim binary",
        tool_checks.load(Ordering::Relaxed)
    );
    failures.into_inner().unwrap_or_else(|e| e.into_inner())
}

fn set(bits: u64) -> CapSet {
    CapSet::from_bits(bits)
}

/// uid and gid all `id`, bounding B0.
fn user(id: u32) -> Creds {
    Creds {
        uid: Ids::all(id),
        gid: Ids::all(id),
        bounding: set(B0),
        ..Creds::default()
    }
}

fn caps(mut creds: Creds, i: u64, p: u64, e: u64, a: u64) -> Creds {
    creds.inheritable = set(i);
    creds.permitted = set(p);
    creds.effective = set(e);
    creds.ambient = set(a);
    creds
}

fn uids(mut creds: Creds, r: u32, e: u32, s: u32) -> Creds {
    creds.uid = Ids {
        real: r,
        effective: e,
        saved: s,
        fs: e,
    };
    creds
}

fn nnp(mut creds: Creds) -> Creds {
    creds.no_new_privs = true;
    creds
}

fn secbits(mut creds: Creds, bits: u64) -> Creds {
    creds.securebits = Securebits::from_bits(bits).unwrap_or_default();
    creds
}

fn pool(mode: u32, owner: u32, group: u32, xattr: Option<Vec<u8>>) -> FileSpec {
    FileSpec::Pool {
        mode,
        owner,
        group,
        xattr,
        nosuid: false,
    }
}

fn plain() -> FileSpec {
    pool(0o755, 0, 0, None)
}

fn fcaps(value: Vec<u8>) -> FileSpec {
    pool(0o755, 0, 0, Some(value))
}

fn nosuid(spec: FileSpec) -> FileSpec {
    match spec {
        FileSpec::Pool {
            mode,
            owner,
            group,
            xattr,
            ..
        } => FileSpec::Pool {
            mode,
            owner,
            group,
            xattr,
            nosuid: true,
        },
        other => other,
    }
}

fn raw(lab: &Lab, name: &str) -> Option<FileSpec> {
    lab.raw
        .iter()
        .position(|raw| raw.name == name)
        .map(|index| FileSpec::Raw {
            index,
            nosuid: false,
        })
}

fn scenario(name: &str, creds: Creds, file: FileSpec) -> Scenario {
    Scenario {
        name: name.to_string(),
        creds,
        trace: Trace::None,
        fs_shared: false,
        userns: Vec::new(),
        file,
        via_tool: true,
    }
}

fn traced(mut s: Scenario, trace: Trace) -> Scenario {
    s.trace = trace;
    s
}

fn shared(mut s: Scenario) -> Scenario {
    s.fs_shared = true;
    s
}

fn in_ns(mut s: Scenario, maps: &[(u32, u32, u32)]) -> Scenario {
    s.userns = maps.to_vec();
    s.creds.bounding = set(FULL);
    s
}

/// Spec §10, every scenario the launcher can reproduce.
fn section_10(lab: &Lab) -> Vec<Scenario> {
    let root = caps(user(0), 0, B0, B0, 0);
    let ep_nr = || fcaps(v2(true, NR, 0));
    let setuid0 = || pool(0o4755, 0, 0, None);
    let setgid50 = || pool(0o2755, 0, 50, None);
    let nr4 = || caps(user(1000), NR, NR, NR, NR);
    let mut s21 = nr4();
    s21.groups = vec![50];
    let mut s23 = nr4();
    s23.gid.fs = 50;
    let mut s57 = caps(user(1000), NR, 0, 0, 0);
    s57.bounding = set(B0 & !NR);
    let script = |mode: u32, xattr: Option<Vec<u8>>, interpreter: FileSpec| FileSpec::Script {
        mode,
        xattr,
        interpreter: Box::new(interpreter),
    };
    let mut list = vec![
        scenario("S1", root.clone(), plain()),
        scenario("S2", user(1000), plain()),
        scenario("S3", nr4(), plain()),
        scenario("S4", user(1000), ep_nr()),
        scenario("S5", user(1000), fcaps(v2(false, NR, 0))),
        scenario("S6", user(1000), fcaps(v2(true, 0, NR))),
        scenario("S7", caps(user(1000), NR, 0, 0, 0), fcaps(v2(true, 0, NR))),
        scenario("S8", user(1000), fcaps(v2(true, 1 << 24, 0))),
        scenario("S9", root.clone(), fcaps(v2(true, 1 << 24, 0))),
        scenario("S10", user(1000), fcaps(v2(false, 1 << 24, 0))),
        scenario("S11", user(1000), setuid0()),
        scenario("S12", nr4(), setuid0()),
        scenario("S13", user(1000), pool(0o4755, 0, 0, Some(v2(true, NR, 0)))),
        scenario("S14", user(1000), pool(0o4755, 0, 0, Some(v2(false, 0, 0)))),
        scenario("S15", nnp(user(1000)), setuid0()),
        scenario("S16", user(1000), nosuid(setuid0())),
        scenario("S17", nr4(), nosuid(fcaps(v2(false, NA, 0)))),
        scenario("S18", nr4(), fcaps(v2(false, NA, 0))),
        scenario("S19", nr4(), pool(0o4755, 1000, 0, None)),
        scenario("S20", nr4(), pool(0o4755, 1001, 0, None)),
        scenario("S21", s21, setgid50()),
        scenario("S22", nr4(), setgid50()),
        scenario("S23", s23, setgid50()),
        scenario("S24", user(1000), pool(0o2745, 0, 50, None)),
        scenario("S25", nnp(caps(user(1000), 0, NA, 0, 0)), ep_nr()),
        scenario("S26", nnp(caps(user(1000), 0, NR, 0, 0)), ep_nr()),
        scenario("S27", nnp(nr4()), fcaps(v2(false, NA, 0))),
        traced(scenario("S28", user(1000), ep_nr()), Trace::Me),
        traced(scenario("S29", user(1000), ep_nr()), Trace::Seize),
        traced(scenario("S30", user(1000), setuid0()), Trace::Me),
        traced(scenario("S31", user(1000), setuid0()), Trace::Seize),
        shared(scenario("S32", user(1000), setuid0())),
        shared(scenario("S33", caps(user(1000), 0, SU, SU, 0), setuid0())),
        shared(scenario("S34", caps(user(1000), 0, SU, 0, 0), setuid0())),
        scenario("S35", secbits(root.clone(), 0x1), plain()),
        scenario("S36", secbits(root.clone(), 0x33), plain()),
        scenario("S37", secbits(root.clone(), 0x1), ep_nr()),
        scenario("S38", secbits(caps(user(0), NR, B0, B0, NR), 0x1), plain()),
        scenario("S39", secbits(user(1000), 0x1), setuid0()),
        scenario(
            "S40",
            caps(uids(user(0), 0, 1000, 1000), 0, B0, 0, 0),
            plain(),
        ),
        scenario(
            "S41",
            caps(uids(user(0), 0, 1000, 1000), 0, B0, 0, 0),
            ep_nr(),
        ),
        scenario(
            "S42",
            nnp(caps(uids(user(0), 1000, 0, 0), 0, B0, B0, 0)),
            plain(),
        ),
        scenario(
            "S43",
            nnp(caps(uids(user(0), 1000, 0, 0), 0, NR, NR, 0)),
            plain(),
        ),
        scenario(
            "S44",
            caps(uids(user(0), 1000, 0, 0), NR, B0, B0, NR),
            plain(),
        ),
        scenario(
            "S45",
            caps(uids(user(0), 0, 1000, 1000), NR, B0, NR, NR),
            plain(),
        ),
        scenario(
            "S46",
            caps(user(0), NR, B0, B0, NR),
            pool(0o4755, 1000, 0, None),
        ),
        scenario("S47", user(1000), fcaps(v2(true, NR | 1 << 41, 0))),
        scenario("S48", user(1000), fcaps(Vec::new())),
        scenario(
            "S53",
            caps(user(1000), NA, NA, NA, NA),
            fcaps(v3(true, NR, 0, u32::MAX)),
        ),
        scenario("S54", caps(user(1000), NR, 0, 0, 0), fcaps(v2(true, 0, NR))),
        scenario("S54b", user(1000), fcaps(v2(true, 0, NR))),
        scenario("S55", nr4(), fcaps(v2(false, 0, 0))),
        scenario("S56", secbits(root.clone(), 0xfff), plain()),
        scenario("S57", s57.clone(), fcaps(v2(true, 0, NR))),
        scenario("S58", s57, ep_nr()),
        scenario(
            "S59",
            user(1000),
            script(0o755, Some(v2(true, NR, 0)), plain()),
        ),
        scenario("S60", user(1000), script(0o755, None, ep_nr())),
        scenario("S61", user(1000), script(0o4755, None, plain())),
        scenario(
            "U1",
            caps(user(1000), NA, NA, NA, NA),
            fcaps(v3(true, NR, 0, 100_000)),
        ),
        in_ns(
            scenario("U2", user(1000), fcaps(v3(true, NR, 0, 100_000))),
            &[NS1],
        ),
        in_ns(
            scenario("U3", user(1000), fcaps(v3(true, NR, 0, 100_000))),
            &[NS2],
        ),
        in_ns(
            scenario("U4", user(1000), fcaps(v2(true, 1 << 24, 0))),
            &[NS1],
        ),
        in_ns(scenario("U5", user(1000), setuid0()), &[NS1]),
        in_ns(
            scenario("U6", user(1000), pool(0o4755, 100_000, 100_000, None)),
            &[NS1],
        ),
        in_ns(
            scenario("U7", user(5), fcaps(v3(true, NR, 0, 100_000))),
            &[NS1, INNER],
        ),
        in_ns(
            scenario("U8", secbits(user(0), 0x1), fcaps(v3(true, NR, 0, 100_000))),
            &[NS1],
        ),
    ];
    // S53's rootid -1 cannot be written with setxattr: use the raw image's copy.
    if let Some(file) = raw(lab, "rootid_max") {
        list.retain(|s| s.name != "S53");
        list.push(scenario("S53", caps(user(1000), NA, NA, NA, NA), file));
    } else {
        list.retain(|s| s.name != "S53");
    }
    for (name, raw_name) in [
        ("S49", "len28"),
        ("S50", "len22"),
        ("S51", "v1"),
        ("S52", "stray"),
    ] {
        if let Some(file) = raw(lab, raw_name) {
            list.push(scenario(name, user(1000), file));
        }
    }
    list
}

/// The model and the kernel agree on every reproducible scenario of spec §10.
#[test]
fn spec_section_10_matches_the_kernel() {
    skip_unless!(
        is_root(),
        "capsim_kernel needs root (it sets ids, mounts and xattrs)"
    );
    let mut lab = match build_lab() {
        Ok(lab) => lab,
        Err(why) => {
            crate::util::skipped(&format!("cannot build the lab: {why}"));
            return;
        }
    };
    let scenarios = section_10(&lab);
    make_slots(&mut lab, &scenarios);
    let failures = run_all(&lab, &scenarios, Kernel::default());
    eprintln!(
        "capsim_kernel: {} §10 scenarios checked against the kernel, {} mismatches",
        scenarios.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The harness can tell rules apart: the pre-6.16 rules disagree with this kernel exactly on the §10
/// scenarios the spec says changed (and the ones of the same shape).
#[test]
fn legacy_rules_disagree_with_this_kernel() {
    skip_unless!(
        is_root(),
        "capsim_kernel needs root (it sets ids, mounts and xattrs)"
    );
    skip_unless!(
        running_kernel_is_current(),
        "the running kernel predates 6.16"
    );
    let mut lab = match build_lab() {
        Ok(lab) => lab,
        Err(why) => {
            crate::util::skipped(&format!("cannot build the lab: {why}"));
            return;
        }
    };
    let legacy = Kernel {
        rules: capcore::exec::KernelRules::Legacy,
        ..Kernel::default()
    };
    let scenarios = section_10(&lab);
    make_slots(&mut lab, &scenarios);
    let failures = run_all(&lab, &scenarios, legacy);
    let mut names: Vec<&str> = failures
        .iter()
        .filter_map(|f| f.split(':').next())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["S21", "S23", "S42", "S44", "S45"],
        "{}",
        failures.join("\n")
    );
}

fn running_kernel_is_current() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    capcore::exec::KernelRules::for_version(major, minor) == capcore::exec::KernelRules::Current
}

/// The model and the kernel agree on thousands of seeded random scenarios.
#[test]
fn random_scenarios_match_the_kernel() {
    skip_unless!(
        is_root(),
        "capsim_kernel needs root (it sets ids, mounts and xattrs)"
    );
    let mut lab = match build_lab() {
        Ok(lab) => lab,
        Err(why) => {
            crate::util::skipped(&format!("cannot build the lab: {why}"));
            return;
        }
    };
    let seed = Rng::seed_from_env(0x5eed_ca95);
    let count = std::env::var("CAPKIT_SCENARIOS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(RANDOM_SCENARIOS);
    let mut rng = Rng::new(seed);
    let scenarios: Vec<Scenario> = (0..count)
        .map(|i| random_scenario(&mut rng, &lab, i))
        .collect();
    make_slots(&mut lab, &scenarios);
    let started = Instant::now();
    let failures = run_all(&lab, &scenarios, Kernel::default());
    eprintln!(
        "capsim_kernel: {count} random scenarios (seed {seed}) checked against the kernel in {:.1?}, {} mismatches",
        started.elapsed(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "seed {seed} (rerun with CAPKIT_SEED={seed}): {} of {count} scenarios differ\n{}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    items[(rng.next() % items.len() as u64) as usize]
}

fn chance(rng: &mut Rng, percent: u64) -> bool {
    rng.next() % 100 < percent
}

fn random_ids(rng: &mut Rng, pool: &[u32]) -> Ids {
    let real = pick(rng, pool);
    let effective = if chance(rng, 60) {
        real
    } else {
        pick(rng, pool)
    };
    let saved = if chance(rng, 70) {
        effective
    } else {
        pick(rng, pool)
    };
    let fs = if chance(rng, 80) {
        effective
    } else {
        pick(rng, pool)
    };
    Ids {
        real,
        effective,
        saved,
        fs,
    }
}

fn random_scenario(rng: &mut Rng, lab: &Lab, index: usize) -> Scenario {
    let userns: Vec<(u32, u32, u32)> = match rng.next() % 20 {
        0..=2 => vec![NS1],
        3 => vec![NS2],
        4 => vec![NS1, INNER],
        _ => Vec::new(),
    };
    let launch_bounding = if userns.is_empty() { B0 } else { FULL };
    let (uid_pool, gid_pool): (&[u32], &[u32]) = match userns.len() {
        0 => (&[0, 0, 1000, 1001, 65534], &[0, 0, 50, 1000, 60]),
        1 => (&[0, 0, 1000, 1001], &[0, 50, 1000, 60]),
        _ => (&[0, 5, 500], &[0, 5, 50]),
    };
    let groups_pool: &[u32] = if userns.len() > 1 {
        &[5, 50, 60]
    } else {
        &[50, 60, 1000]
    };
    let mut groups: Vec<u32> = groups_pool
        .iter()
        .copied()
        .filter(|_| chance(rng, 30))
        .collect();
    groups.sort_unstable();
    let interesting = [NR, NA, SU, NR | NA, 1 << 19, 1 << 24, 1 << 8 | NR];
    let mask = |rng: &mut Rng| -> u64 {
        let m = if chance(rng, 40) {
            pick(rng, &interesting)
        } else {
            rng.mask()
        };
        m & launch_bounding
    };
    let inheritable = mask(rng);
    let permitted = mask(rng);
    let effective = mask(rng) & permitted;
    let ambient = if chance(rng, 50) {
        permitted & inheritable
    } else {
        mask(rng) & permitted & inheritable
    };
    let bounding = match rng.next() % 4 {
        0 | 1 => launch_bounding,
        2 => launch_bounding & !mask(rng),
        _ => launch_bounding & mask(rng),
    };
    let securebits = match rng.next() % 6 {
        0..=2 => 0,
        3 => pick(rng, &[0x1, 0x10, 0x4, 0x40, 0x3, 0x30, 0x100]),
        _ => rng.next() & 0xfff,
    };
    let creds = Creds {
        uid: random_ids(rng, uid_pool),
        gid: random_ids(rng, gid_pool),
        groups,
        inheritable: set(inheritable),
        permitted: set(permitted),
        effective: set(effective),
        bounding: set(bounding),
        ambient: set(ambient),
        securebits: Securebits::from_bits(securebits).unwrap_or_default(),
        no_new_privs: chance(rng, 20),
    };
    let trace = match rng.next() % 10 {
        0 | 1 => Trace::Me,
        2 => Trace::Seize,
        _ => Trace::None,
    };
    let file = random_file(rng, lab, &userns);
    Scenario {
        name: format!("random #{index}"),
        creds,
        trace,
        fs_shared: chance(rng, 15),
        via_tool: index % 6 == 0 && userns.len() <= 1,
        userns,
        file,
    }
}

fn random_file(rng: &mut Rng, lab: &Lab, userns: &[(u32, u32, u32)]) -> FileSpec {
    if chance(rng, 5) {
        // A script: its own bits and capabilities must not count; its interpreter's do.
        let interpreter = loop {
            let candidate = random_file(rng, lab, userns);
            if matches!(candidate, FileSpec::Pool { nosuid: false, .. }) {
                break candidate;
            }
        };
        return FileSpec::Script {
            mode: pick(rng, &[0o755, 0o4755, 0o6755]),
            xattr: chance(rng, 50).then(|| v2(true, NR | NA, 0)),
            interpreter: Box::new(interpreter),
        };
    }
    if !lab.raw.is_empty() && chance(rng, 8) {
        let index = (rng.next() % lab.raw.len() as u64) as usize;
        return FileSpec::Raw {
            index,
            nosuid: chance(rng, 20),
        };
    }
    let owners: &[u32] = if userns.is_empty() {
        &[0, 0, 1000, 1001, 65534]
    } else {
        &[0, 100_000, 100_000, 101_000, 101_005, 200_000]
    };
    let groups: &[u32] = if userns.is_empty() {
        &[0, 50, 1000, 60]
    } else {
        &[0, 100_000, 100_050, 101_005]
    };
    let mode = pick(
        rng,
        &[0o755, 0o755, 0o4755, 0o2755, 0o6755, 0o2745, 0o4711, 0o2711],
    );
    let caps_mask = |rng: &mut Rng| -> u64 {
        if chance(rng, 50) {
            pick(
                rng,
                &[0, NR, NA, SU, NR | NA, 1 << 24, 1 << 19, 1 << 41 | NR],
            )
        } else {
            rng.mask()
        }
    };
    let xattr = match rng.next() % 10 {
        0..=3 => None,
        4..=7 => Some(v2(chance(rng, 60), caps_mask(rng), caps_mask(rng))),
        8 => Some(v3(
            chance(rng, 60),
            caps_mask(rng),
            caps_mask(rng),
            pick(rng, &[0, 100_000, 200_000, 101_000, 1000]),
        )),
        _ => Some(Vec::new()),
    };
    FileSpec::Pool {
        mode,
        owner: pick(rng, owners),
        group: pick(rng, groups),
        xattr,
        nosuid: chance(rng, 15),
    }
}

/// Runs the probe at `probe_path` as root of the given namespaces (full capabilities there) with an environment,
/// and returns its `Getxattr:` and `Setxattr:` lines.
fn probe_xattr(
    userns: &[(u32, u32, u32)],
    probe_path: &Path,
    env: &[String],
) -> Result<(String, String), String> {
    let mut cmd = Command::new(launcher());
    for (inside, outside, count) in userns {
        cmd.arg("--userns")
            .arg(format!("{inside}:{outside}:{count}"));
    }
    cmd.args(["--uid", "0,0,0,0", "--gid", "0,0,0,0", "--groups", ""]);
    for var in env {
        cmd.arg("--env").arg(var);
    }
    cmd.arg("--").arg(probe_path);
    let out = cmd.output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    if !text.contains("AFTER") {
        return Err(format!("the probe did not run: {text}"));
    }
    Ok((field("Getxattr:"), field("Setxattr:")))
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Spec X1 and X2: what getxattr shows from inside user namespaces and what setxattr stores when a namespace's
/// root writes, against `capcore::exec::getxattr_view` and `setxattr_stored`.
#[test]
fn spec_x1_x2_xattr_views_match_the_kernel() {
    use capcore::exec::{getxattr_view, setxattr_stored, XattrViewError};
    skip_unless!(
        is_root(),
        "capsim_kernel needs root (it sets ids, mounts and xattrs)"
    );
    let lab = match build_lab() {
        Ok(lab) => lab,
        Err(why) => {
            crate::util::skipped(&format!("cannot build the lab: {why}"));
            return;
        }
    };
    let probe_path = lab.suid.join("pool0");
    let target = lab.suid.join("pool1");
    let expect = |view: Result<Vec<u8>, XattrViewError>| match view {
        Ok(bytes) => hex_of(&bytes),
        Err(XattrViewError::Einval) => "errno 22".to_string(),
        Err(XattrViewError::Eoverflow) => "errno 75".to_string(),
    };
    let chain = |maps: &[(u32, u32, u32)]| {
        NsChain(
            maps.iter()
                .rev()
                .map(|&(inside, outside, count)| {
                    UserNs::mapping(&[IdRange {
                        inside,
                        outside,
                        count,
                    }])
                })
                .collect(),
        )
    };
    let mut checked = 0;
    // X1: a v3 value with rootid 100000 (and a plain v2 one) read from the initial namespace, from the
    // namespace whose root is 100000, from an unrelated one, and from a nested one.
    for value in [
        v3(true, NR, 0, 100_000),
        v2(true, NR, 0),
        v3(false, NA, NR, 101_000),
    ] {
        configure(&target, 0o755, 100_000, 100_000, Some(&value)).expect("configure");
        for maps in [vec![], vec![NS1], vec![NS2], vec![NS1, INNER]] {
            let env = [format!("CAPKIT_PROBE_GETXATTR={}", target.display())];
            let (got, _) = probe_xattr(&maps, &probe_path, &env).expect("probe");
            assert_eq!(
                got,
                expect(getxattr_view(&value, &chain(&maps))),
                "X1 {value:02x?} from {maps:?}"
            );
            checked += 1;
        }
    }
    // v1 and stray-flag values cannot be read back at all (the raw image holds them).
    if let Some(raw_dir) = lab.raw_image.as_ref().map(|image| &image.dir) {
        for raw in &lab.raw {
            let env = [format!(
                "CAPKIT_PROBE_GETXATTR={}",
                raw_dir.join(&raw.name).display()
            )];
            let (got, _) = probe_xattr(&[], &probe_path, &env).expect("probe");
            assert_eq!(
                got,
                expect(getxattr_view(&raw.bytes, &NsChain::default())),
                "X1 raw {}",
                raw.name
            );
            checked += 1;
        }
    }
    // X2: cap_net_raw+ep written as v2 by the root of each namespace, on a file its root owns.
    for maps in [vec![], vec![NS1], vec![NS1, INNER]] {
        let owner = chain(&maps).kuid(0).unwrap_or(0);
        configure(&target, 0o755, owner, owner, None).expect("configure");
        let written = v2(true, NR, 0);
        let env = [format!(
            "CAPKIT_PROBE_SETXATTR={}={}",
            target.display(),
            hex_of(&written)
        )];
        let (_, status) = probe_xattr(&maps, &probe_path, &env).expect("probe");
        assert_eq!(status, "ok", "X2 from {maps:?}");
        let stored = xattr::get(&target, "security.capability")
            .expect("getxattr")
            .unwrap_or_default();
        assert_eq!(
            Ok(stored),
            setxattr_stored(&written, &chain(&maps)),
            "X2 from {maps:?}"
        );
        checked += 1;
    }
    eprintln!("capsim_kernel: {checked} getxattr and setxattr views checked against the kernel, 0 mismatches");
}

/// A `#!` case: its name, the script's bytes, and the outcome the kernel must give (checked too, so a
/// wrong expectation cannot hide a wrong tool).
type ScriptCase = (&'static str, Vec<u8>, &'static str);

/// binfmt_script's rules, byte for byte: each script is exec'd for real by an unprivileged caller and
/// capsim must agree with the kernel on the outcome and, when it runs, on the sets. The interpreter
/// carries `cap_net_raw+ep`, so following the wrong file changes the answer.
#[test]
fn shebang_lines_match_the_kernel() {
    use std::os::unix::ffi::OsStrExt;
    skip_unless!(is_root(), "the #! check execs as another user: needs root");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let base = dir.path().as_os_str().as_bytes().to_vec();
    let copy = |name: &[u8], caps: bool| -> Vec<u8> {
        let mut path = base.clone();
        path.push(b'/');
        path.extend_from_slice(name);
        let target = PathBuf::from(std::ffi::OsStr::from_bytes(&path));
        std::fs::copy(probe(), &target).expect("copy probe");
        configure(
            &target,
            0o755,
            0,
            0,
            caps.then(|| v2(true, NR, 0)).as_deref(),
        )
        .expect("configure");
        path
    };
    let interp = copy(b"interp", true);
    // Not UTF-8, and a name that differs from `interp` only by a carriage return (without capabilities).
    let odd = copy(b"interp-\xff\xfe", true);
    copy(b"interp\r", false);
    // No execute bit at all: nobody may execute it, root included.
    let unexecutable = copy(b"interp-0644", true);
    std::fs::set_permissions(
        std::ffi::OsStr::from_bytes(&unexecutable),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod 0644");
    let line = |parts: &[&[u8]]| parts.concat();
    // A name of exactly 253 bytes (slashes pad it) whose newline is the buffer's last byte, and one byte
    // longer, where the kernel sees no end to the name.
    let padded = |len: usize| {
        let mut name = vec![b'/'; len - interp.len()];
        name.extend_from_slice(&interp);
        name
    };
    let mut cases: Vec<ScriptCase> = vec![
        ("plain", line(&[b"#!", &interp, b"\n"]), "ok"),
        ("not utf-8", line(&[b"#!", &odd, b"\n"]), "ok"),
        ("carriage return", line(&[b"#!", &interp, b"\r\n"]), "ok"),
        (
            "tabs and argument",
            line(&[b"#!\t ", &interp, b" \t-x y \t\n"]),
            "ok",
        ),
        ("no newline", line(&[b"#!", &interp]), "ok"),
        (
            "nul ends the name",
            line(&[b"#!", &interp, b"\0junk\n"]),
            "ok",
        ),
        ("blanks only", b"#!  \t \nexit 0\n".to_vec(), "ENOEXEC"),
        ("bare #!", b"#!".to_vec(), "EACCES"),
        (
            "blanks then nul",
            line(&[b"#!  \0", &interp, b"\n"]),
            "EACCES",
        ),
        (
            "missing",
            b"#!/nonexistent/capkit-interp\n".to_vec(),
            "ENOENT",
        ),
        ("directory", line(&[b"#!", &base, b"\n"]), "EACCES"),
        (
            "interpreter without execute bits",
            line(&[b"#!", &unexecutable, b"\n"]),
            "EACCES",
        ),
        ("253-byte name", line(&[b"#!", &padded(253), b"\n"]), "ok"),
        (
            "254-byte name",
            line(&[b"#!", &padded(254), b"\n"]),
            "ENOEXEC",
        ),
        (
            "long argument",
            line(&[b"#!", &interp, b" ", &[b'a'; 400], b"\n"]),
            "ok",
        ),
    ];
    // Five scripts in a chain run; a sixth is one too many. The case's own script is the outermost.
    for (inner, name, want) in [(4, "five scripts", "ok"), (5, "six scripts", "ELOOP")] {
        let mut target = interp.clone();
        for level in 0..inner {
            let mut path = base.clone();
            path.extend_from_slice(format!("/chain{inner}-{level}").as_bytes());
            let fs_path = PathBuf::from(std::ffi::OsStr::from_bytes(&path));
            std::fs::write(&fs_path, line(&[b"#!", &target, b"\n"])).expect("write chain");
            std::fs::set_permissions(&fs_path, std::fs::Permissions::from_mode(0o755))
                .expect("chmod chain");
            target = path;
        }
        cases.push((name, line(&[b"#!", &target, b"\n"]), want));
    }
    let mut failures = Vec::new();
    for (index, (name, bytes, want)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("script{index}"));
        std::fs::write(&path, bytes).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let s = scenario(name, user(1000), plain());
        let report = match launch(&s, &path) {
            Ok(report) => report,
            Err(why) => {
                failures.push(format!("{name}: launcher: {why}"));
                continue;
            }
        };
        let kernel = match &report {
            Report::Exec { after, .. } if after.permitted == set(NR) => "ok",
            Report::Exec { .. } => "ok without the interpreter's capabilities",
            Report::Failed { errno, .. } => match errno {
                2 => "ENOENT",
                8 => "ENOEXEC",
                13 => "EACCES",
                40 => "ELOOP",
                _ => "other errno",
            },
        };
        let want = if *name == "carriage return" {
            "ok without the interpreter's capabilities"
        } else {
            want
        };
        if kernel != want {
            failures.push(format!(
                "{name}: the kernel gave {kernel}, the test expected {want}: {report:?}"
            ));
            continue;
        }
        let caller = Caller {
            creds: s.creds.clone(),
            ..Caller::default()
        };
        if let Err(why) = tool_check(&s, &path, &caller, &FileState::default(), &report) {
            failures.push(why);
        }
    }
    eprintln!(
        "capsim_kernel: {} #! cases exec'd, {} disagreements",
        cases.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Who traces the held process in a `--pid` case.
#[derive(Clone, Copy, Debug)]
enum Tracer {
    /// The launcher's parent seizes it, as root with every capability or as uid 1000 with none.
    ParentSeize { unprivileged: bool },
    /// The process calls PTRACE_TRACEME: its root parent becomes the tracer, its own cred is recorded.
    TraceMe,
    /// strace attaches from outside (not the parent), as root or as uid 1000.
    Strace { unprivileged: bool },
}

/// What one `capsim --pid` run on a held process said, and what the kernel then did.
struct Held {
    record: serde_json::Value,
    stderr: String,
    report: Report,
}

/// Waits (bounded) until `pid`'s status shows a tracer.
fn wait_traced(pid: u32) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        if status
            .lines()
            .any(|l| l.starts_with("TracerPid:") && l.trim_end() != "TracerPid:\t0")
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(format!("pid {pid} was never traced"))
}

/// Starts the launcher holding the process before its exec, traced as asked; runs `capsim --json --pid`
/// on it with `extra` options; releases it and collects the kernel's result.
fn held_run(
    scenario: &Scenario,
    tracer: Tracer,
    path: &Path,
    extra: &[&str],
) -> Result<Held, String> {
    use std::io::BufRead;
    use std::process::Stdio;
    let mut launcher_args = vec!["--hold"];
    if let Tracer::ParentSeize { unprivileged: true } = tracer {
        launcher_args.extend(["--tracer-id", "1000"]);
    }
    let mut cmd = launcher_command(scenario, path, &launcher_args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("launcher: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut text = String::new();
    let mut pid = None;
    for line in lines.by_ref().take(100) {
        let line = line.map_err(|e| format!("launcher output: {e}"))?;
        if let Some(n) = line.strip_prefix("HOLD ") {
            pid = n.trim().parse::<u32>().ok();
            break;
        }
        text.push_str(&line);
        text.push('\n');
    }
    let Some(pid) = pid else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("the launcher did not hold: {text}"));
    };
    let mut strace = None;
    if let Tracer::Strace { unprivileged } = tracer {
        let mut cmd = if unprivileged {
            let mut cmd = Command::new("setpriv");
            cmd.args([
                "--reuid",
                "1000",
                "--regid",
                "1000",
                "--clear-groups",
                "strace",
            ]);
            cmd
        } else {
            Command::new("strace")
        };
        cmd.args(["-o", "/dev/null", "-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        strace = Some(cmd.spawn().map_err(|e| format!("strace: {e}"))?);
    }
    let traced = match tracer {
        Tracer::Strace { .. } => wait_traced(pid),
        _ => Ok(()),
    };
    let capsim = traced.and_then(|()| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_capsim"));
        cmd.arg("--json").arg("--pid").arg(pid.to_string());
        cmd.args(extra).arg(path);
        cmd.output().map_err(|e| format!("capsim: {e}"))
    });
    // Release the held process whatever happened, and collect everything.
    drop(child.stdin.take());
    for line in lines.by_ref().take(200) {
        let line = line.map_err(|e| format!("launcher output: {e}"))?;
        text.push_str(&line);
        text.push('\n');
    }
    let _ = child.wait();
    if let Some(mut strace) = strace {
        let _ = strace.kill();
        let _ = strace.wait();
    }
    let capsim = capsim?;
    let report = parse_report(&text)?;
    let stdout = String::from_utf8_lossy(&capsim.stdout);
    let record = serde_json::from_str(stdout.trim())
        .map_err(|e| format!("capsim printed no JSON ({e}): {stdout}"))?;
    Ok(Held {
        record,
        stderr: String::from_utf8_lossy(&capsim.stderr).into_owned(),
        report,
    })
}

/// `capsim --pid` of a traced process predicts what the kernel does when that process execs a file with
/// capabilities or a set-uid-root file: the tracer's CAP_SYS_PTRACE (in the process's namespace) decides
/// whether the gain is kept. A parent tracer that may be a PTRACE_TRACEME is named as an assumption.
#[test]
fn traced_live_process_matches_the_kernel() {
    skip_unless!(is_root(), "tracing a process of another user needs root");
    skip_unless!(
        crate::util::tool("strace").is_some() && crate::util::tool("setpriv").is_some(),
        "strace and setpriv are needed to attach from outside"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let fcaps_file = dir.path().join("netraw");
    std::fs::copy(probe(), &fcaps_file).expect("copy probe");
    configure(&fcaps_file, 0o755, 0, 0, Some(&v2(true, NR, 0))).expect("configure");
    let suid_file = dir.path().join("suid");
    std::fs::copy(probe(), &suid_file).expect("copy probe");
    configure(&suid_file, 0o4755, 0, 0, None).expect("configure");

    let mut failures = Vec::new();
    let mut checked = 0;
    let cases = [
        (
            Tracer::ParentSeize {
                unprivileged: false,
            },
            true,
        ),
        (Tracer::ParentSeize { unprivileged: true }, false),
        (
            Tracer::Strace {
                unprivileged: false,
            },
            true,
        ),
        (Tracer::Strace { unprivileged: true }, false),
        (Tracer::TraceMe, false),
        // The same parent seize inside a user namespace: the tracer is root of that namespace.
        (
            Tracer::ParentSeize {
                unprivileged: false,
            },
            true,
        ),
    ];
    for (index, (tracer, capable)) in cases.into_iter().enumerate() {
        let namespaced = index == 5;
        for file in [&fcaps_file, &suid_file] {
            if namespaced && file == &suid_file {
                // A root-owned set-uid file means nothing inside the namespace (its owner is unmapped).
                continue;
            }
            let name = format!(
                "{tracer:?} {}{}",
                file.display(),
                if namespaced {
                    " in a user namespace"
                } else {
                    ""
                }
            );
            let mut s = scenario(&name, user(1000), plain());
            if namespaced {
                s = in_ns(s, &[NS1]);
            }
            if let Tracer::TraceMe = tracer {
                s.trace = Trace::Me;
            } else if let Tracer::ParentSeize { .. } = tracer {
                s.trace = Trace::Seize;
            }
            let held = match held_run(&s, tracer, file, &[]) {
                Ok(held) => held,
                Err(why) => {
                    failures.push(format!("{name}: {why}"));
                    continue;
                }
            };
            checked += 1;
            // The kernel must have done what the case is about: a gain only with a capable tracer.
            let gained = match &held.report {
                Report::Exec { after, .. } => !after.permitted.is_empty(),
                Report::Failed { .. } => false,
            };
            if gained != capable {
                failures.push(format!(
                    "{name}: the kernel gained {gained}: {:?}",
                    held.report
                ));
                continue;
            }
            let parent_note = held.stderr.contains("PTRACE_TRACEME");
            let parent = !matches!(tracer, Tracer::Strace { .. });
            if parent_note != (parent && capable || matches!(tracer, Tracer::TraceMe)) {
                failures.push(format!("{name}: unexpected notes: {}", held.stderr));
            }
            if let Tracer::TraceMe = tracer {
                // /proc cannot tell TRACEME from a seize by the parent: capsim assumes the reading that
                // gains more, says so, and names the option that gives the other one.
                if !held.stderr.contains("--traced ") {
                    failures.push(format!("{name}: no hint to use --traced: {}", held.stderr));
                }
                match held_run(&s, tracer, file, &["--traced"]) {
                    Ok(again) => {
                        if let Err(why) = record_matches(&again.record, &again.report) {
                            failures.push(format!("{name} --traced: {why}"));
                        }
                    }
                    Err(why) => failures.push(format!("{name} --traced: {why}")),
                }
                continue;
            }
            if let Err(why) = record_matches(&held.record, &held.report) {
                failures.push(format!("{name}: {why}\nstderr: {}", held.stderr));
            }
        }
    }
    eprintln!(
        "capsim_kernel: {checked} traced --pid cases exec'd, {} disagreements",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
