//! Live credentials, read for capsim's execve model: a process's ids, groups, five capability sets,
//! no_new_privs, securebits (own process only) and user namespace. The file side is in `exec_file`.

use std::fs;
use std::io;
use std::path::PathBuf;

use capcore::exec::{Creds, IdRange, Ids, NsChain, UserNs};
use capcore::TaskStatus;

/// A process's credentials as /proc shows them, with what could not be read.
#[derive(Clone, Debug)]
pub struct ProcessCreds {
    pub creds: Creds,
    pub userns: NsChain,
    /// False for another process: the kernel offers no way to read another thread's securebits.
    pub securebits_known: bool,
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Parses the Uid, Gid, Groups, Cap* and NoNewPrivs lines of a /proc/PID/status text, with capcore's status
/// parser (the one capls uses) and the Groups line, which only capsim needs.
pub fn parse_status(text: &str) -> io::Result<Creds> {
    let status = TaskStatus::parse(text.as_bytes()).map_err(|e| invalid(e.to_string()))?;
    let missing = |label: &str| invalid(format!("no {label} line"));
    let groups_line = text
        .lines()
        .find_map(|line| line.strip_prefix("Groups:"))
        .ok_or_else(|| missing("Groups"))?;
    let groups = groups_line
        .split_whitespace()
        .map(|n| {
            n.parse()
                .map_err(|_| invalid(format!("bad Groups line {groups_line:?}")))
        })
        .collect::<io::Result<Vec<u32>>>()?;
    let caps = status.caps;
    Ok(Creds {
        uid: status.uids,
        gid: status.gids,
        groups,
        inheritable: caps.inheritable.ok_or_else(|| missing("CapInh"))?,
        permitted: caps.permitted.ok_or_else(|| missing("CapPrm"))?,
        effective: caps.effective.ok_or_else(|| missing("CapEff"))?,
        bounding: caps.bounding.ok_or_else(|| missing("CapBnd"))?,
        ambient: caps.ambient.ok_or_else(|| missing("CapAmb"))?,
        no_new_privs: caps.no_new_privs.ok_or_else(|| missing("NoNewPrivs"))?,
        ..Creds::default()
    })
}

/// Parses a `uid_map` or `gid_map`.
pub fn parse_id_map(text: &str) -> io::Result<Vec<IdRange>> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<u32> = line
                .split_whitespace()
                .map(|n| {
                    n.parse()
                        .map_err(|_| invalid(format!("bad id map line {line:?}")))
                })
                .collect::<io::Result<_>>()?;
            match fields[..] {
                [inside, outside, count] => Ok(IdRange {
                    inside,
                    outside,
                    count,
                }),
                _ => Err(invalid(format!("bad id map line {line:?}"))),
            }
        })
        .collect()
}

/// The process's user namespace as its maps show it: the initial namespace when the uid map is the identity
/// `0 0 4294967295`, else one level (a reader sees only the map to its own namespace).
pub fn userns_of(uid_map: &[IdRange], gid_map: &[IdRange]) -> NsChain {
    let identity = [IdRange {
        inside: 0,
        outside: 0,
        count: u32::MAX,
    }];
    if uid_map == identity {
        NsChain::default()
    } else {
        NsChain(vec![UserNs {
            uid_map: uid_map.to_vec(),
            gid_map: gid_map.to_vec(),
        }])
    }
}

/// Reads a process's credentials; `None` is the calling process (whose securebits can be read).
pub fn read_process(pid: Option<u32>) -> io::Result<ProcessCreds> {
    let dir = match pid {
        Some(pid) => PathBuf::from(format!("/proc/{pid}")),
        None => PathBuf::from("/proc/self"),
    };
    let status = fs::read_to_string(dir.join("status"))?;
    let mut creds = parse_status(&status)?;
    let uid_map = fs::read_to_string(dir.join("uid_map")).unwrap_or_default();
    let gid_map = fs::read_to_string(dir.join("gid_map")).unwrap_or_default();
    let userns = userns_of(&parse_id_map(&uid_map)?, &parse_id_map(&gid_map)?);
    if pid.is_some() {
        // Another process's status shows its ids as the reader's namespace sees them, and its maps from
        // there reach the reader's ids: translate to the process's own view, where uid 0 is its root.
        to_namespace_view(&mut creds, &userns);
    }
    let securebits_known = pid.is_none();
    if securebits_known {
        creds.securebits = crate::proc::own_securebits()?;
    }
    Ok(ProcessCreds {
        creds,
        userns,
        securebits_known,
    })
}

/// Rewrites ids seen from outside a namespace as the namespace sees them (ids it does not map stay).
pub fn to_namespace_view(creds: &mut Creds, userns: &NsChain) {
    if userns.is_initial() {
        return;
    }
    let uid = |id: u32| userns.uid(id).unwrap_or(id);
    let gid = |id: u32| userns.gid(id).unwrap_or(id);
    let map = |ids: Ids, f: &dyn Fn(u32) -> u32| Ids {
        real: f(ids.real),
        effective: f(ids.effective),
        saved: f(ids.saved),
        fs: f(ids.fs),
    };
    creds.uid = map(creds.uid, &uid);
    creds.gid = map(creds.gid, &gid);
    for group in &mut creds.groups {
        *group = gid(*group);
    }
}

/// The running kernel's version (major, minor), from /proc/sys/kernel/osrelease.
pub fn kernel_version() -> io::Result<(u32, u32)> {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease")?;
    parse_release(&release).ok_or_else(|| invalid(format!("kernel release {release:?}")))
}

fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// A user's primary gid from /etc/passwd, and supplementary groups from /etc/group (as initgroups gives them).
pub fn user_groups(user: &str, uid: u32) -> (Option<u32>, Vec<u32>) {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let mut name = None;
    let mut primary = None;
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() >= 4 && (fields[0] == user || fields[2].parse() == Ok(uid)) {
            name = Some(fields[0].to_string());
            primary = fields[3].parse().ok();
            break;
        }
    }
    let group = fs::read_to_string("/etc/group").unwrap_or_default();
    let mut groups: Vec<u32> = primary.into_iter().collect();
    if let Some(name) = name {
        for line in group.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() >= 4 && fields[3].split(',').any(|member| member == name) {
                if let Ok(gid) = fields[2].parse() {
                    if !groups.contains(&gid) {
                        groups.push(gid);
                    }
                }
            }
        }
    }
    groups.sort_unstable();
    (primary, groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status() {
        let text = "Name:\tx\nPid:\t42\nUid:\t1000\t0\t0\t0\nGid:\t5\t5\t5\t6\nGroups:\t4 24 \nCapInh:\t0000000000000000\n\
                    CapPrm:\t0000000000002000\nCapEff:\t0000000000002000\nCapBnd:\t000001ffffffffff\n\
                    CapAmb:\t0000000000000000\nNoNewPrivs:\t1\n";
        let creds = parse_status(text).unwrap();
        assert_eq!(creds.uid.real, 1000);
        assert_eq!(creds.uid.effective, 0);
        assert_eq!(creds.gid.fs, 6);
        assert_eq!(creds.groups, [4, 24]);
        assert_eq!(creds.permitted.bits(), 0x2000);
        assert!(creds.no_new_privs);
        assert!(parse_status("Uid:\t1\n").is_err());
    }

    #[test]
    fn identity_map_is_the_initial_namespace() {
        let identity = parse_id_map("         0          0 4294967295\n").unwrap();
        assert!(userns_of(&identity, &identity).is_initial());
        let map = parse_id_map("0 100000 65536\n").unwrap();
        let chain = userns_of(&map, &map);
        assert_eq!(chain.kuid(1000), Some(101_000));
        let mut creds = Creds {
            uid: Ids::all(100_000),
            gid: Ids::all(101_000),
            groups: vec![100_050, 7],
            ..Creds::default()
        };
        to_namespace_view(&mut creds, &chain);
        assert_eq!(
            (creds.uid.real, creds.gid.fs, creds.groups),
            (0, 1000, vec![50, 7])
        );
    }

    #[test]
    fn release_versions() {
        assert_eq!(parse_release("6.18.44-fc-v669\n"), Some((6, 18)));
        assert_eq!(parse_release("5.15.0-91-generic"), Some((5, 15)));
        assert_eq!(parse_release("junk"), None);
    }
}
