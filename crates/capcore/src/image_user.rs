//! Users and groups inside a container image, resolved as the runtimes resolve them.
//!
//! Docker (moby's getUser) and containerd's CRI plugin both turn a user spec (`1000`, `alice`, `alice:staff`,
//! `1000:50`) and `--group-add` names into ids with runc's `libcontainer/user` package, reading the image's
//! own `/etc/passwd` and `/etc/group`, never the host's. That package has its own rules, which differ from
//! glibc's: a numeric user is always a uid even when a user has that name, numbers that do not parse read
//! as 0, a user found by number still gets the groups that list its name, an explicit group stops the
//! search for supplementary groups, and ids outside 0..2^31-1 are refused. This module reproduces them from
//! the files' bytes, so that a prediction about an image never asks the host's user database. The rules
//! are runc 1.1's (the package Debian's docker.io and containerd are built with; moby's own vendored copy
//! of 20.10 read group lines with a scanner and worded the group errors without their cause).

/// The largest id runc accepts for a user or group that no file names (`maxId`, for 32-bit systems).
const MAX_ID: i64 = (1 << 31) - 1;
/// bufio.Scanner's default token limit: a passwd line that fills it stops the read with an error (group
/// lines are read whole).
const MAX_LINE: usize = 64 * 1024;

/// What a user spec resolves to in an image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// The groups `/etc/group` lists the user in (implicit form only), in file order.
    pub sgids: Vec<u32>,
    /// The passwd entry's name, when the user was found there.
    pub name: Option<Vec<u8>>,
}

/// The image's account files; `None` for a file the image does not have (or that cannot be opened).
#[derive(Clone, Copy, Debug, Default)]
pub struct Accounts<'a> {
    pub passwd: Option<&'a [u8]>,
    pub group: Option<&'a [u8]>,
}

struct PasswdEntry<'a> {
    name: &'a [u8],
    uid: i64,
    gid: i64,
}

struct GroupEntry<'a> {
    name: &'a [u8],
    gid: i64,
    members: Vec<&'a [u8]>,
}

/// runc's GetExecUser with no defaults: `spec` is `USER[:GROUP]`, each a name or a number; an empty user
/// is uid 0 looked up in the passwd file. Errors are runc's words.
pub fn exec_user(spec: &str, files: Accounts) -> Result<ExecUser, String> {
    let mut fields = spec.split(':');
    let user_arg = fields.next().unwrap_or("");
    let group_arg = fields.next().unwrap_or("");
    let uid_arg = parse_id(user_arg);
    let gid_arg = parse_id(group_arg);

    let mut uid: i64 = 0;
    let mut gid: i64 = 0;
    let mut matched_name = None;
    let users = match files.passwd {
        Some(bytes) => passwd_entries(bytes).map_err(|e| {
            let shown = if user_arg.is_empty() { "0" } else { user_arg };
            format!("unable to find user {shown}: {e}")
        })?,
        None => Vec::new(),
    };
    let found = users.into_iter().find(|u| match (user_arg, uid_arg) {
        ("", _) => u.uid == 0,
        (_, Some(n)) => u.uid == n,
        (name, None) => u.name == name.as_bytes(),
    });
    if let Some(user) = found {
        uid = user.uid;
        gid = user.gid;
        matched_name = Some(user.name);
    } else if !user_arg.is_empty() {
        let Some(n) = uid_arg else {
            return Err(format!(
                "unable to find user {user_arg}: no matching entries in passwd file"
            ));
        };
        uid = in_range(n)?;
    }

    let mut sgids = Vec::new();
    if !group_arg.is_empty() || matched_name.is_some() {
        let groups = match files.group {
            Some(bytes) => group_entries(bytes).map_err(|e| {
                format!(
                    "unable to find groups for spec {}: {e}",
                    String::from_utf8_lossy(matched_name.unwrap_or_default())
                )
            })?,
            None => Vec::new(),
        };
        if !group_arg.is_empty() {
            let found = groups.iter().find(|g| match gid_arg {
                Some(n) => g.gid == n,
                None => g.name == group_arg.as_bytes(),
            });
            gid = match (found, gid_arg) {
                (Some(group), _) => group.gid,
                (None, Some(n)) => in_range(n)?,
                (None, None) => {
                    return Err(format!(
                        "unable to find group {group_arg}: no matching entries in group file"
                    ))
                }
            };
        } else if let Some(name) = matched_name {
            sgids = groups
                .iter()
                .filter(|g| g.members.contains(&name))
                .map(|g| go_u32(g.gid))
                .collect();
        }
    }
    Ok(ExecUser {
        uid: go_u32(uid),
        gid: go_u32(gid),
        sgids,
        name: matched_name.map(<[u8]>::to_vec),
    })
}

/// containerd's UserFromPath by name (`oci.WithUsername`, `WithUser("NAME:GID")`): the uid and gid of the
/// first passwd entry with that name; `Err` in containerd's words.
pub fn passwd_user_named(name: &str, passwd: Option<&[u8]>) -> Result<(u32, u32), String> {
    let Some(bytes) = passwd else {
        return Err("/etc/passwd: no such file or directory".to_string());
    };
    passwd_entries(bytes)?
        .into_iter()
        .find(|u| u.name == name.as_bytes())
        .map(|u| (go_u32(u.uid), go_u32(u.gid)))
        .ok_or_else(|| "no users found".to_string())
}

/// containerd's WithAdditionalGIDs: the groups the group file lists `name` in, leaving out a group named
/// like the user (containerd wants only supplementary groups), in file order.
pub fn containerd_groups(name: &[u8], group: Option<&[u8]>) -> Result<Vec<u32>, String> {
    let Some(bytes) = group else {
        return Ok(Vec::new());
    };
    Ok(group_entries(bytes)?
        .iter()
        .filter(|g| g.name != name && g.members.contains(&name))
        .map(|g| go_u32(g.gid))
        .collect())
}

/// runc's GetAdditionalGroups: each of `wanted` (a group name or number) as a gid, the first group of
/// the file with that name or number, else the number itself; each gid once.
pub fn additional_groups(wanted: &[String], group: Option<&[u8]>) -> Result<Vec<u32>, String> {
    let groups = match group {
        Some(bytes) => group_entries(bytes)
            .map_err(|e| format!("Unable to find additional groups {wanted:?}: {e}"))?,
        None => Vec::new(),
    };
    let mut gids: Vec<i64> = Vec::new();
    for asked in wanted {
        let named = groups
            .iter()
            .filter(|g| g.name == asked.as_bytes() || g.gid.to_string() == *asked)
            .find(|g| !gids.contains(&g.gid));
        match named {
            Some(g) => gids.push(g.gid),
            None => {
                let n = parse_id(asked).ok_or_else(|| {
                    format!("Unable to find group {asked}: no matching entries in group file")
                })?;
                let n = in_range(n)?;
                if !gids.contains(&n) {
                    gids.push(n);
                }
            }
        }
    }
    Ok(gids.into_iter().map(go_u32).collect())
}

/// The passwd file's entries: `name:pass:uid:gid:…`, each line trimmed, empty lines skipped.
fn passwd_entries(bytes: &[u8]) -> Result<Vec<PasswdEntry<'_>>, String> {
    let mut out = Vec::new();
    for line in scanner_lines(bytes)? {
        let line = go_trim_space(line);
        if line.is_empty() {
            continue;
        }
        let mut fields = line.split(|b| *b == b':');
        let name = fields.next().unwrap_or_default();
        let _pass = fields.next();
        let uid = fields.next().map(go_atoi).unwrap_or(0);
        let gid = fields.next().map(go_atoi).unwrap_or(0);
        out.push(PasswdEntry { name, uid, gid });
    }
    Ok(out)
}

/// The group file's entries: `name:pass:gid:member,member`; lines are read whole and trimmed, and those
/// starting with `#` are comments.
fn group_entries(bytes: &[u8]) -> Result<Vec<GroupEntry<'_>>, String> {
    let mut out = Vec::new();
    for line in bytes.split(|b| *b == b'\n') {
        let line = go_trim_space(line);
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let mut fields = line.split(|b| *b == b':');
        let name = fields.next().unwrap_or_default();
        let _pass = fields.next();
        let gid = fields.next().map(go_atoi).unwrap_or(0);
        let members = match fields.next() {
            Some([]) | None => Vec::new(),
            Some(list) => list.split(|b| *b == b',').collect(),
        };
        out.push(GroupEntry { name, gid, members });
    }
    Ok(out)
}

/// The file's lines as bufio.Scanner gives them: split at `\n`, one trailing `\r` dropped; a line that
/// fills the scanner's 64 KiB buffer stops the read. Fields stay bytes, as Go compares them.
fn scanner_lines(bytes: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    for raw in bytes.split(|b| *b == b'\n') {
        if raw.len() >= MAX_LINE {
            return Err("bufio.Scanner: token too long".into());
        }
        out.push(raw.strip_suffix(b"\r").unwrap_or(raw));
    }
    if bytes.ends_with(b"\n") {
        out.pop();
    }
    Ok(out)
}

/// Go's bytes.TrimSpace: Unicode white space (ASCII's and U+0085, U+00A0, U+2000…) off both ends; an
/// invalid UTF-8 sequence is not space.
fn go_trim_space(mut bytes: &[u8]) -> &[u8] {
    while let Some(len) = leading_space(bytes) {
        bytes = &bytes[len..];
    }
    while let Some(len) = trailing_space(bytes) {
        bytes = &bytes[..bytes.len() - len];
    }
    bytes
}

fn leading_space(bytes: &[u8]) -> Option<usize> {
    (1..=bytes.len().min(4)).find_map(|len| space_char(&bytes[..len]))
}

fn trailing_space(bytes: &[u8]) -> Option<usize> {
    (1..=bytes.len().min(4)).find_map(|len| space_char(&bytes[bytes.len() - len..]))
}

/// `Some(len)` when `bytes` is exactly one white-space character.
fn space_char(bytes: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut chars = text.chars();
    let c = chars.next()?;
    (chars.next().is_none() && c.is_whitespace()).then_some(bytes.len())
}

/// strconv.Atoi for a user or group argument: `Some` only when the whole text is a decimal number.
pub(crate) fn parse_id(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<i64>().ok()
}

/// `*int, _ = strconv.Atoi(field)`: a field that does not parse is 0; one out of range is clamped.
fn go_atoi(field: &[u8]) -> i64 {
    let Ok(field) = std::str::from_utf8(field) else {
        return 0;
    };
    let digits = field.strip_prefix(['+', '-']).unwrap_or(field);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    field.parse::<i64>().unwrap_or(if field.starts_with('-') {
        i64::MIN
    } else {
        i64::MAX
    })
}

fn in_range(id: i64) -> Result<i64, String> {
    if (0..=MAX_ID).contains(&id) {
        Ok(id)
    } else {
        Err(format!("uids and gids must be in range 0-{MAX_ID}"))
    }
}

/// Go's `uint32(int)`: the low 32 bits.
fn go_u32(id: i64) -> u32 {
    id as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n  bob:x:1001:50::/:/bin/sh  \n1002:x:1003:7::/:/bin/sh\nodd:x:zz:12\n";
    const GROUP: &[u8] =
        b"root:x:0:\nstaff:x:50:alice,bob\nalice:x:1000:\nwheel:x:10:root\nstaff2:x:50:root\n";

    fn files() -> Accounts<'static> {
        Accounts {
            passwd: Some(PASSWD),
            group: Some(GROUP),
        }
    }

    fn user(spec: &str) -> Result<ExecUser, String> {
        exec_user(spec, files())
    }

    #[test]
    fn implicit_users_get_their_groups() {
        assert_eq!(
            user("").unwrap(),
            ExecUser {
                uid: 0,
                gid: 0,
                sgids: vec![10, 50],
                name: Some(b"root".to_vec()),
            }
        );
        assert_eq!(user("1000").unwrap().sgids, vec![50]);
        assert_eq!(user("alice").unwrap().gid, 1000);
        // Trimmed passwd lines: " bob" is found as bob.
        assert_eq!(user("bob").unwrap().gid, 50);
        // A number is a uid even when a user has it as a name.
        assert_eq!(user("1002").unwrap().uid, 1002);
        assert_eq!(user("1002").unwrap().gid, 0);
        assert_eq!(user("odd").unwrap().uid, 0);
    }

    #[test]
    fn explicit_groups_stop_the_membership_search() {
        let u = user("alice:wheel").unwrap();
        assert_eq!((u.uid, u.gid, u.sgids.len()), (1000, 10, 0));
        assert_eq!(user("1000:77").unwrap().gid, 77);
        assert_eq!(user("4242:50").unwrap().gid, 50);
        assert!(user("alice:nogroup")
            .unwrap_err()
            .contains("unable to find group nogroup"));
        assert!(user("nobody")
            .unwrap_err()
            .contains("unable to find user nobody"));
        assert!(user("-1").unwrap_err().contains("must be in range"));
        assert!(user("0:2147483648")
            .unwrap_err()
            .contains("must be in range"));
    }

    #[test]
    fn missing_files_leave_numbers_alone() {
        let none = Accounts::default();
        assert_eq!(
            exec_user("33", none).unwrap(),
            ExecUser {
                uid: 33,
                gid: 0,
                sgids: vec![],
                name: None,
            }
        );
        assert!(exec_user("www", none).is_err());
        assert_eq!(exec_user("", none).unwrap(), ExecUser::default());
    }

    #[test]
    fn added_groups_by_name_or_number() {
        let g = |list: &[&str]| {
            additional_groups(
                &list.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                Some(GROUP),
            )
        };
        assert_eq!(g(&["staff", "wheel", "99"]).unwrap(), vec![50, 10, 99]);
        assert_eq!(g(&["50", "50"]).unwrap(), vec![50]);
        // runc's quirk: a name whose group (and every other of that gid) is already taken is not found.
        assert!(g(&["50", "staff"]).is_err());
        assert_eq!(
            g(&["nope"]).unwrap_err(),
            "Unable to find group nope: no matching entries in group file"
        );
    }

    #[test]
    fn group_lines_are_trimmed_and_comments_skipped() {
        let group = "#staff:x:51:alice\n\u{a0} staff:x:50:alice \r\n".as_bytes();
        let files = Accounts {
            passwd: Some(PASSWD),
            group: Some(group),
        };
        assert_eq!(exec_user("alice", files).unwrap().sgids, vec![50]);
    }

    #[test]
    fn containerd_leaves_out_the_group_named_like_the_user() {
        let group = b"alice:x:1000:alice\nstaff:x:50:alice\n";
        assert_eq!(containerd_groups(b"alice", Some(group)).unwrap(), vec![50]);
        assert!(containerd_groups(b"alice", None).unwrap().is_empty());
    }

    #[test]
    fn long_lines_stop_the_read() {
        let mut long = b"root:x:0:0::/:/bin/sh\n".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_LINE));
        let files = Accounts {
            passwd: Some(&long),
            group: None,
        };
        assert!(exec_user("0", files)
            .unwrap_err()
            .contains("token too long"));
    }
}
