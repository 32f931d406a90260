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
//! - the user: daemon/oci_linux.go getUser resolves `--user` in the image's /etc/passwd and /etc/group
//!   (see [`crate::image_user`]) and writes additionalGids as the primary gid, then the groups the group
//!   file lists the user in, then `--group-add`'s.
//!
//! runc then applies the process like any config ([`crate::oci::apply`]), holding what containerd holds:
//! a list wider than that fails with `unable to apply caps: operation not permitted`.

use crate::image_user::{self, Accounts};
use crate::oci::{OciCaps, OciProcess};
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
    pub no_new_privileges: bool,
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
        let upper = name.to_ascii_uppercase();
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
                "capability not supported by your kernel or not available in the current environment: \"{full}\""
            )),
            None => Err(format!("unknown capability: \"{full}\"")),
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

    /// The OCI process moby writes for `run` in an image with these account files.
    pub fn process(&self, run: &DockerRun, image: Accounts) -> Result<OciProcess, MobyError> {
        let caps = self.capabilities(run)?;
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
            ..oci_process(
                self.version,
                caps,
                (user.uid, user.gid),
                run.no_new_privileges,
            )
        })
    }
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
}
