//! `docker run` → the OCI process moby writes for the container's first process, version by version.
//!
//! What each part comes from (moby's source at each tag):
//! - capabilities: oci/caps TweakCapabilities. `--privileged` gives every capability; `--cap-add ALL`
//!   every capability but those dropped by name (so `--cap-add ALL --cap-drop ALL`, in either order, is
//!   every capability); else `--cap-drop ALL` leaves only the adds; else the 14 defaults less the drops plus
//!   the adds. Names are upper-cased and given `CAP_`, and an unknown one refuses the container.
//! - which capabilities "every" means: 20.10 knows those the kernel has up to CAP_AUDIT_READ (38 on any
//!   kernel since 4.3; CAP_PERFMON, CAP_BPF and CAP_CHECKPOINT_RESTORE are unknown names); 23.0 and later
//!   know 41 names and take "every" from dockerd's own effective set, refusing a known name it lacks.
//! - the sets: 20.10 to 24.0 put the list in bounding, permitted and effective for uid 0 and in bounding
//!   alone for any other uid (oci.SetCapabilities, "to match what execve does"); 25.0 and later put it in
//!   all three for every uid. Inheritable and ambient stay empty (20.10.14 and later).
//! - `--security-opt`: the docker client (cli's parseSecurityOpts, of the same release) refuses a value
//!   without `=` or `:` (from 23.0 also an empty value), takes `systempaths=unconfined` for itself and reads
//!   a seccomp profile file; dockerd (parseSecurityOpt, at create, after the capability names) takes
//!   `label`, `apparmor`, `seccomp`, `no-new-privileges` (bare or a Go boolean; the last one wins) and, from
//!   28.0, `writable-cgroups`, and refuses anything else.
//! - the user: daemon/oci_linux.go getUser resolves `--user` in the image's /etc/passwd and /etc/group
//!   (see [`crate::image_user`]) and writes additionalGids as the primary gid, then the groups the group
//!   file lists the user in, then `--group-add`'s.
//!
//! runc then applies the process like any config ([`crate::oci::apply`]), holding what containerd holds:
//! a list wider than that fails with `unable to apply caps: operation not permitted`.

use crate::image_user::{self, Accounts};
use crate::oci::{OciCaps, OciProcess, Refusal};
use crate::{Cap, CapSet};

/// The moby release whose rules apply. Rules changed at 23.0 and 25.0; a version between takes the rules
/// of the last change before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MobyVersion {
    pub major: u32,
    pub minor: u32,
}

impl MobyVersion {
    /// The newest release modelled, the default.
    pub const NEWEST: MobyVersion = MobyVersion {
        major: 28,
        minor: 5,
    };
    /// The oldest release modelled.
    pub const OLDEST: MobyVersion = MobyVersion {
        major: 20,
        minor: 10,
    };

    /// `X.Y` (or `X.Y.Z`, `X`), within the modelled range.
    pub fn parse(text: &str) -> Result<MobyVersion, String> {
        let mut parts = text.trim().trim_start_matches('v').split('.');
        let number =
            |part: Option<&str>| -> Option<u32> { part.map_or(Some(0), |p| p.parse().ok()) };
        let (Some(major), Some(minor)) = (number(parts.next()), number(parts.next())) else {
            return Err(format!(
                "'{text}' is not a version (give X.Y, such as 20.10 or 28.5)"
            ));
        };
        let version = MobyVersion { major, minor };
        if version < MobyVersion::OLDEST {
            return Err(format!(
                "Docker {major}.{minor} is older than the oldest modelled, {}.{}",
                Self::OLDEST.major,
                Self::OLDEST.minor
            ));
        }
        Ok(version)
    }

    /// 23.0 and later: 41 names known, "every capability" is dockerd's effective set.
    fn caps_from_daemon(self) -> bool {
        self.major >= 23
    }

    /// 25.0 and later: a non-root user gets the list in permitted and effective too.
    fn non_root_keeps_caps(self) -> bool {
        self.major >= 25
    }

    /// 23.0 and later: the client refuses a security option with an empty value.
    fn client_wants_values(self) -> bool {
        self.major >= 23
    }

    /// 25.0 and later: the client knows the seccomp profile `builtin`, as it knows `unconfined`.
    fn client_knows_builtin(self) -> bool {
        self.major >= 25
    }

    /// 28.0 and later: dockerd takes `writable-cgroups`.
    fn writable_cgroups(self) -> bool {
        self.major >= 28
    }
}

impl std::fmt::Display for MobyVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The versions whose rules differ, for `--help`.
pub const VERSION_RULES: &str = "20.10 (every = the kernel's capabilities up to cap_audit_read, 38; a \
non-root user gets them in its bounding set only), 23.0 (41 names known; every = dockerd's own effective \
set; a name dockerd lacks is refused), 25.0 and later (a non-root user gets them in permitted and \
effective too)";

/// What `docker run` was given that decides the first process's credentials.
#[derive(Clone, Debug, Default)]
pub struct DockerRun {
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `--user` as given (`1000`, `alice:staff`); `None` for the image's USER, here root.
    pub user: Option<String>,
    pub group_add: Vec<String>,
    pub privileged: bool,
    /// `--security-opt` values as the client sends them to dockerd ([`client_security_opt`]).
    pub security_opt: Vec<String>,
}

/// The daemon that runs the container.
#[derive(Clone, Copy, Debug)]
pub struct Daemon {
    pub version: MobyVersion,
    /// How many capabilities the kernel knows.
    pub kernel_known: u32,
    /// dockerd's effective set (23.0 and later read it to say what "every capability" is).
    pub effective: CapSet,
}

/// Why moby refuses the container before runc runs, in the daemon's words (docker prints them after
/// `Error response from daemon: ` and exits 125).
pub type MobyError = String;

impl Daemon {
    /// Every capability this moby gives `ALL` and `--privileged`.
    pub fn every(&self) -> CapSet {
        if self.version.caps_from_daemon() {
            self.effective & CapSet::first_n(Cap::CHECKPOINT_RESTORE.bit() + 1)
        } else {
            CapSet::first_n(self.kernel_known.min(Cap::AUDIT_READ.bit() + 1))
        }
    }

    /// The capability a `--cap-add`/`--cap-drop` name is, moby's way: upper-cased, `CAP_` prefixed, and
    /// refused unless this moby knows it (and, from 23.0, dockerd holds it).
    fn capability(&self, name: &str) -> Result<Cap, MobyError> {
        let upper = go_to_upper(name);
        let full = if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        let known = if self.version.caps_from_daemon() {
            CapSet::first_n(Cap::CHECKPOINT_RESTORE.bit() + 1)
        } else {
            self.every()
        };
        match Cap::from_libcap_name(&full).filter(|cap| known.contains(*cap)) {
            Some(cap) if self.every().contains(cap) => Ok(cap),
            Some(_) => Err(format!(
                "capability not supported by your kernel or not available in the current environment: {}",
                go_quote(&full)
            )),
            None => Err(format!("unknown capability: {}", go_quote(&full))),
        }
    }

    /// moby's validateCapabilities at create, then TweakCapabilities at start.
    pub fn capabilities(&self, run: &DockerRun) -> Result<CapSet, MobyError> {
        // dockerd checks the adds, then the drops, each in the order the client sent them (Debian's
        // docker 20.10 client sends the command line's; newer clients sort them first).
        let add = self
            .names(&run.cap_add)
            .map_err(|e| format!("invalid CapAdd: {e}"))?;
        let drop = self
            .names(&run.cap_drop)
            .map_err(|e| format!("invalid CapDrop: {e}"))?;
        // The names are checked when the container is created, --privileged or not.
        Ok(if run.privileged {
            self.every()
        } else if add.all {
            self.every() - drop.caps
        } else if drop.all {
            add.caps
        } else {
            (CapSet::from_caps(crate::oci::DOCKER_DEFAULT) - drop.caps) | add.caps
        })
    }

    fn names(&self, names: &[String]) -> Result<Names, MobyError> {
        let mut out = Names::default();
        for name in names {
            if name.eq_ignore_ascii_case("all") {
                out.all = true;
            } else {
                out.caps = out.caps.with(self.capability(name)?);
            }
        }
        Ok(out)
    }

    /// dockerd's parseSecurityOpt: whether no_new_privs is set, or why the container is refused.
    pub fn no_new_privileges(&self, security_opt: &[String]) -> Result<bool, MobyError> {
        let mut no_new_privileges = false;
        for opt in security_opt {
            let bare = opt == "no-new-privileges"
                || opt == "disable"
                || (self.version.writable_cgroups() && opt == "writable-cgroups");
            if bare {
                no_new_privileges |= opt == "no-new-privileges";
                continue;
            }
            let (key, value) = match opt.split_once('=').or_else(|| opt.split_once(':')) {
                Some(pair) => pair,
                None => return Err(format!("invalid --security-opt 1: {}", go_quote(opt))),
            };
            let boolean = match key {
                "label" | "apparmor" | "seccomp" => continue,
                "no-new-privileges" => go_parse_bool(value),
                "writable-cgroups" if self.version.writable_cgroups() => go_parse_bool(value),
                _ => None,
            };
            let Some(on) = boolean else {
                return Err(format!("invalid --security-opt 2: {}", go_quote(opt)));
            };
            if key == "no-new-privileges" {
                no_new_privileges = on;
            }
        }
        Ok(no_new_privileges)
    }

    /// The OCI process moby writes for `run` in an image with these account files.
    pub fn process(&self, run: &DockerRun, image: Accounts) -> Result<OciProcess, MobyError> {
        let caps = self.capabilities(run)?;
        let no_new_privileges = self.no_new_privileges(&run.security_opt)?;
        let user = image_user::exec_user(run.user.as_deref().unwrap_or(""), image)?;
        let added = if run.group_add.is_empty() {
            Vec::new()
        } else {
            image_user::additional_groups(&run.group_add, image.group)?
        };
        let mut additional_gids = vec![user.gid];
        additional_gids.extend(user.sgids);
        additional_gids.extend(added);
        Ok(OciProcess {
            additional_gids,
            ..oci_process(self.version, caps, (user.uid, user.gid), no_new_privileges)
        })
    }
}

/// What the docker client does with one `--security-opt` value before it asks dockerd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientSecurityOpt {
    /// Sent to dockerd as it is.
    Send,
    /// Taken by the client (`systempaths=unconfined` unmasks /proc paths): dockerd never sees it.
    Taken,
    /// `seccomp=FILE`: the client reads FILE, which must hold JSON, and sends its contents.
    SeccompFile(String),
}

/// The docker client's parseSecurityOpts (and parseSystemPaths) of `version` for one value; `Err` is the
/// client's words (it prints them after `docker: ` and exits 125).
pub fn client_security_opt(version: MobyVersion, opt: &str) -> Result<ClientSecurityOpt, String> {
    if opt == "systempaths=unconfined" {
        return Ok(ClientSecurityOpt::Taken);
    }
    const NNP: &str = "no-new-privileges";
    let (key, value, ok) = match opt.split_once('=') {
        Some((k, v)) => (k, v, true),
        None if opt == NNP => (opt, "", false),
        None => match opt.split_once(':') {
            Some((k, v)) => (k, v, true),
            None => (opt, "", false),
        },
    };
    let empty = version.client_wants_values() && value.is_empty();
    if (!ok || empty) && key != NNP {
        return Err(format!("Invalid --security-opt: {}", go_quote(opt)));
    }
    let builtin = version.client_knows_builtin() && value == "builtin";
    if key == "seccomp" && value != "unconfined" && !builtin {
        return Ok(ClientSecurityOpt::SeccompFile(value.to_string()));
    }
    Ok(ClientSecurityOpt::Send)
}

/// Go's strings.ToUpper: each character's simple upper case (`ß` stays, where Rust would give `SS`).
fn go_to_upper(text: &str) -> String {
    text.chars()
        .map(|c| {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(one), None) => one,
                _ => c,
            }
        })
        .collect()
}

/// The docker client's refusal ([`client_security_opt`], a seccomp file), as a prediction's outcome.
pub fn client_refusal(message: String) -> Refusal {
    Refusal {
        message,
        by: "docker",
        why: "the docker client refuses the flags before it asks dockerd (docker run exits 125)"
            .to_string(),
    }
}

/// dockerd's refusal ([`Daemon::process`]), as a prediction's outcome, prefixed as docker prints it.
pub fn daemon_refusal(message: MobyError) -> Refusal {
    Refusal {
        message: format!("Error response from daemon: {message}"),
        by: "dockerd",
        why: "dockerd refuses the container before runc runs (docker run exits 125)".to_string(),
    }
}

/// Go's strconv.ParseBool.
fn go_parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `%q` of a string: double-quoted, with `"` and `\\` escaped and what is not printable as Go's
/// escapes (`\n`, `\u200e`, …), so that moby's words come out as moby writes them.
pub fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// unicode.IsPrint, near enough for names: no control, no space but U+0020, no format character (the
/// bidi controls among them).
fn go_printable(c: char) -> bool {
    let format = matches!(c as u32, 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e
        | 0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb);
    c == ' ' || !(c.is_control() || c.is_whitespace() || format)
}

/// moby's oci.SetCapabilities for a capability list and a user: the list in bounding, and in permitted and
/// effective for root (every user from 25.0); inheritable and ambient empty. No supplementary groups.
pub fn oci_process(
    version: MobyVersion,
    caps: CapSet,
    (uid, gid): (u32, u32),
    no_new_privileges: bool,
) -> OciProcess {
    let held = if uid == 0 || version.non_root_keeps_caps() {
        caps
    } else {
        CapSet::EMPTY
    };
    OciProcess {
        uid,
        gid,
        capabilities: Some(OciCaps {
            bounding: caps,
            effective: held,
            permitted: held,
            inheritable: CapSet::EMPTY,
            ambient: CapSet::EMPTY,
        }),
        no_new_privileges,
        ..OciProcess::default()
    }
}

#[derive(Default)]
struct Names {
    caps: CapSet,
    all: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> MobyVersion {
        MobyVersion::parse(text).unwrap()
    }

    fn daemon(version: &str) -> Daemon {
        Daemon {
            version: MobyVersion::parse(version).unwrap(),
            kernel_known: 41,
            effective: CapSet::first_n(41).without(Cap::SYS_RESOURCE),
        }
    }

    fn run(add: &[&str], drop: &[&str]) -> DockerRun {
        DockerRun {
            cap_add: add.iter().map(|s| s.to_string()).collect(),
            cap_drop: drop.iter().map(|s| s.to_string()).collect(),
            ..DockerRun::default()
        }
    }

    #[test]
    fn every_capability_depends_on_the_version() {
        assert_eq!(daemon("20.10").every().len(), 38);
        assert!(daemon("20.10").every().contains(Cap::SYS_RESOURCE));
        assert_eq!(daemon("28.5").every().len(), 40);
        assert!(!daemon("23.0").every().contains(Cap::SYS_RESOURCE));
    }

    #[test]
    fn add_all_wins_over_drop_all_in_either_order() {
        let d = daemon("20.10");
        assert_eq!(d.capabilities(&run(&["ALL"], &["all"])).unwrap().len(), 38);
        assert_eq!(
            d.capabilities(&run(&["all"], &["NET_RAW"])).unwrap().len(),
            37
        );
        assert_eq!(
            d.capabilities(&run(&["net_admin"], &["ALL"])).unwrap(),
            Cap::NET_ADMIN.into()
        );
        assert_eq!(d.capabilities(&run(&[], &["chown"])).unwrap().len(), 13);
    }

    #[test]
    fn names_are_checked_against_the_version() {
        let err = daemon("20.10")
            .capabilities(&run(&["BPF"], &[]))
            .unwrap_err();
        assert_eq!(err, "invalid CapAdd: unknown capability: \"CAP_BPF\"");
        assert!(daemon("28.5").capabilities(&run(&["cap_bpf"], &[])).is_ok());
        let err = daemon("28.5")
            .capabilities(&run(&["sys_resource"], &[]))
            .unwrap_err();
        assert!(
            err.contains("not available in the current environment"),
            "{err}"
        );
        let err = daemon("28.5")
            .capabilities(&run(&[], &["CAP_CAP_CHOWN"]))
            .unwrap_err();
        assert!(
            err.starts_with("invalid CapDrop: unknown capability"),
            "{err}"
        );
    }

    #[test]
    fn users_come_from_the_image() {
        let passwd = b"root:x:0:0::/:/bin/sh\nalice:x:1000:1000::/:/bin/sh\n";
        let group = b"root:x:0:\nwheel:x:10:root\nstaff:x:50:alice\n";
        let image = Accounts {
            passwd: Some(passwd),
            group: Some(group),
        };
        let d = daemon("20.10");
        let p = d.process(&DockerRun::default(), image).unwrap();
        assert_eq!(p.additional_gids, vec![0, 10]);
        let alice = DockerRun {
            user: Some("alice".into()),
            group_add: vec!["wheel".into(), "7".into()],
            ..DockerRun::default()
        };
        let p = d.process(&alice, image).unwrap();
        assert_eq!((p.uid, p.gid), (1000, 1000));
        assert_eq!(p.additional_gids, vec![1000, 50, 10, 7]);
        let caps = p.capabilities.unwrap();
        assert!(caps.permitted.is_empty() && caps.bounding.len() == 14);
        let p = daemon("25.0").process(&alice, image).unwrap();
        assert_eq!(p.capabilities.unwrap().permitted.len(), 14);
    }

    #[test]
    fn versions_parse() {
        assert_eq!(
            MobyVersion::parse("v20.10.24").unwrap(),
            MobyVersion::OLDEST
        );
        assert!(MobyVersion::parse("19.03").is_err());
        assert!(MobyVersion::parse("x").is_err());
        assert_eq!(MobyVersion::parse("27").unwrap().to_string(), "27.0");
    }

    fn opts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_client_checks_security_options_by_release() {
        use ClientSecurityOpt::*;
        let (old, new, newest) = (v("20.10"), v("23.0"), v("25.0"));
        assert_eq!(client_security_opt(old, "no-new-privileges"), Ok(Send));
        assert_eq!(client_security_opt(old, "no-new-privileges:"), Ok(Send));
        assert_eq!(
            client_security_opt(old, "foo"),
            Err("Invalid --security-opt: \"foo\"".to_string())
        );
        // 20.10 sends an empty value on; 23.0 refuses it.
        assert_eq!(client_security_opt(old, "label="), Ok(Send));
        assert!(client_security_opt(new, "label=").is_err());
        assert_eq!(client_security_opt(new, "no-new-privileges:"), Ok(Send));
        assert_eq!(
            client_security_opt(old, "systempaths=unconfined"),
            Ok(Taken)
        );
        assert_eq!(client_security_opt(old, "seccomp=unconfined"), Ok(Send));
        assert_eq!(
            client_security_opt(new, "seccomp:builtin"),
            Ok(SeccompFile("builtin".to_string()))
        );
        assert_eq!(client_security_opt(newest, "seccomp=builtin"), Ok(Send));
    }

    #[test]
    fn dockerd_reads_no_new_privileges_and_refuses_unknown_options() {
        let d = daemon("20.10");
        assert_eq!(d.no_new_privileges(&opts(&["no-new-privileges"])), Ok(true));
        assert_eq!(
            d.no_new_privileges(&opts(&["no-new-privileges=True", "no-new-privileges:0"])),
            Ok(false)
        );
        assert_eq!(
            d.no_new_privileges(&opts(&[
                "label=disable",
                "apparmor=x",
                "seccomp=y",
                "disable"
            ])),
            Ok(false)
        );
        assert_eq!(
            d.no_new_privileges(&opts(&["no-new-privileges=yes"])),
            Err("invalid --security-opt 2: \"no-new-privileges=yes\"".to_string())
        );
        assert_eq!(
            d.no_new_privileges(&opts(&["bare"])),
            Err("invalid --security-opt 1: \"bare\"".to_string())
        );
        let writable = opts(&["writable-cgroups=true", "writable-cgroups"]);
        assert!(d.no_new_privileges(&writable).is_err());
        assert_eq!(daemon("28.0").no_new_privileges(&writable), Ok(false));
        // The names are checked first: an unknown capability is what dockerd says.
        let run = DockerRun {
            security_opt: opts(&["foo=bar"]),
            ..run(&["FOO"], &[])
        };
        let err = d.process(&run, Accounts::default()).unwrap_err();
        assert!(err.starts_with("invalid CapAdd"), "{err}");
    }

    #[test]
    fn moby_words_quote_as_go_does() {
        assert_eq!(go_quote("CAP_A\tB"), "\"CAP_A\\tB\"");
        assert_eq!(go_quote("q\"u\\"), "\"q\\\"u\\\\\"");
        assert_eq!(
            go_quote("x\u{200e}y\u{1b}z\u{85}"),
            "\"x\\u200ey\\x1bz\\u0085\""
        );
        assert_eq!(go_quote("NET_RÄW ß"), "\"NET_RÄW ß\"");
        assert_eq!(go_to_upper("net_räw ß"), "NET_RÄW ß");
    }
}
