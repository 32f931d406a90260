//! The settings of a systemd service that decide its main process's credentials, accumulated over the
//! assignments of the unit file and its drop-ins exactly as systemd's `config_parse_*` functions
//! (src/core/load-fragment.c) accumulate them, and the no_new_privs decision of
//! src/core/exec-invoke.c. Settings that change credentials or the executed file in ways capsim does not
//! model are collected by name, so the report can say so instead of staying silent.

use crate::quote::excerpt;
use crate::unit::{parse_boolean, words, Assignment};
use crate::Cap;

/// systemd's CAP_MASK_UNSET: CapabilityBoundingSet= never assigned (the manager's set is kept).
const CAP_MASK_UNSET: u64 = u64::MAX;

/// A systemd specifier-expanded string could not be expanded by capsim.
fn has_unknown_specifier(value: &str) -> bool {
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '%'
            && !matches!(
                chars.next(),
                Some('%' | 'i' | 'I' | 'n' | 'N' | 'p' | 'P' | 'j' | 'J')
            )
        {
            return true;
        }
    }
    false
}

/// The settings that make systemd apply a seccomp filter (exec-invoke.c:context_has_seccomp): without
/// CAP_SYS_ADMIN at that point, systemd sets no_new_privs so that it may install the filter.
pub const SECCOMP_SETTINGS: [&str; 15] = [
    "SystemCallFilter",
    "SystemCallArchitectures",
    "SystemCallLog",
    "RestrictAddressFamilies",
    "RestrictNamespaces",
    "PrivateDevices",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectClock",
    "ProtectHostname",
    "MemoryDenyWriteExecute",
    "RestrictRealtime",
    "RestrictSUIDSGID",
    "LockPersonality",
];

/// Settings that change the credentials, or which file runs on which mount, in ways capsim does not model.
pub const UNMODELLED: [(&str, &str); 16] = [
    ("PrivateUsers", "runs the service in a user namespace"),
    (
        "PAMName",
        "lets PAM modules change groups, limits and credentials",
    ),
    ("RootDirectory", "changes which file ExecStart= names"),
    ("RootImage", "changes which file ExecStart= names"),
    ("MountImages", "may change which file ExecStart= names"),
    ("ExtensionImages", "may change which file ExecStart= names"),
    (
        "ExtensionDirectories",
        "may change which file ExecStart= names",
    ),
    ("BindPaths", "may change which file ExecStart= names"),
    (
        "BindReadOnlyPaths",
        "may change which file ExecStart= names",
    ),
    ("TemporaryFileSystem", "may hide the file ExecStart= names"),
    (
        "NoExecPaths",
        "may mount the file noexec (execve then fails with EACCES)",
    ),
    (
        "ExecPaths",
        "may mount the file noexec (execve then fails with EACCES)",
    ),
    (
        "SELinuxContext",
        "changes the SELinux domain, which can deny or restrict the exec",
    ),
    (
        "AppArmorProfile",
        "changes the AppArmor profile, which can deny or restrict the exec",
    ),
    ("SmackProcessLabel", "changes the Smack label"),
    (
        "Capabilities",
        "is an obsolete setting systemd no longer reads",
    ),
];

/// `ExecStart=` prefixes that change privileges (systemd.service(5), "Command lines").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Privileges {
    /// No prefix: every setting applies.
    #[default]
    Normal,
    /// `+`: full privileges; User=, Group=, capability settings, securebits and no_new_privs are not applied.
    Full,
    /// `!`: User=, Group= and SupplementaryGroups= are not applied (the process stays root).
    NoSetuid,
}

/// The first command of ExecStart=.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecStart {
    pub path: String,
    pub privileges: Privileges,
    pub line: usize,
}

/// A setting that capsim read but does not model, with where it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmodelled {
    pub key: String,
    pub why: &'static str,
    pub origin: String,
}

/// What a service's [Service] section says about credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub user: Option<String>,
    pub group: Option<String>,
    pub supplementary_groups: Vec<String>,
    /// CAP_MASK_UNSET when never assigned.
    bounding: u64,
    pub ambient: u64,
    pub no_new_privileges: bool,
    pub dynamic_user: bool,
    pub securebits: u32,
    pub exec_start: Option<ExecStart>,
    /// The seccomp-implying settings in force, by name.
    seccomp: Vec<&'static str>,
    /// SystemCallFilter= since its last reset: whether it is an allow list, and its words.
    syscall_filter: Option<(bool, Vec<String>)>,
    pub unmodelled: Vec<Unmodelled>,
    /// Values systemd would ignore or could not be followed here, said once each.
    pub notes: Notes,
}

/// Notes said once per kind, with how many times the kind came up: a unit and its 4,096 drop-ins can hold
/// millions of lines systemd skips, and one line about them says as much as millions would.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Notes {
    said: Vec<Said>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Said {
    kind: &'static str,
    text: String,
    count: usize,
}

impl Notes {
    /// Counts `count` notes of `kind`; the text is built only for the first of its kind.
    pub fn add(&mut self, kind: &'static str, count: usize, text: impl FnOnce() -> String) {
        // Kinds are a handful of constants, so a scan is as quick as a map.
        match self.said.iter_mut().find(|s| s.kind == kind) {
            Some(said) => said.count = said.count.saturating_add(count),
            None => self.said.push(Said {
                kind,
                text: text(),
                count,
            }),
        }
    }

    /// One line per kind, in the order the kinds first came up, each with how many more there were.
    pub fn lines(&self) -> Vec<String> {
        self.said
            .iter()
            .map(|said| match said.count {
                0 | 1 => said.text.clone(),
                n => format!("{} (and {} more like it)", said.text, n - 1),
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.said.is_empty()
    }
}

impl Default for Service {
    fn default() -> Service {
        Service {
            user: None,
            group: None,
            supplementary_groups: Vec::new(),
            bounding: CAP_MASK_UNSET,
            ambient: 0,
            no_new_privileges: false,
            dynamic_user: false,
            securebits: 0,
            exec_start: None,
            seccomp: Vec::new(),
            syscall_filter: None,
            unmodelled: Vec::new(),
            notes: Notes::default(),
        }
    }
}

/// capability-util.c:capability_from_name: a decimal, hex or octal number below 64 (strtol base 0), or a
/// `CAP_` name in any case.
fn capability_from_name(word: &str) -> Option<u32> {
    let number = if let Some(hex) = word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()
    } else if word.len() > 1 && word.starts_with('0') {
        u32::from_str_radix(&word[1..], 8).ok()
    } else if !word.is_empty()
        && word
            .trim_start_matches('+')
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        word.trim_start_matches('+').parse().ok()
    } else {
        None
    };
    if let Some(n) = number {
        return (n < 64).then_some(n);
    }
    word.get(..4)
        .filter(|prefix| prefix.eq_ignore_ascii_case("cap_"))
        .and_then(|_| Cap::from_libcap_name(word))
        .map(Cap::bit)
}

/// The ids systemd gives a `DynamicUser=` service come from this range (61184–65519).
pub const DYNAMIC_UID_MIN: u32 = 61184;

impl Service {
    /// The bounding set systemd applies, or `None` when the unit never sets one.
    pub fn bounding(&self) -> Option<u64> {
        (self.bounding != CAP_MASK_UNSET).then_some(self.bounding)
    }

    /// Applies one file's assignments in order. `origin` names the file for notes; `unit` is the unit's
    /// name, for the specifiers `%n %N %p %P %i %I %j %J`.
    pub fn apply(&mut self, assignments: &[Assignment], origin: &str, unit: &str) {
        for a in assignments {
            self.apply_one(a, origin, unit);
        }
    }

    /// The same for one assignment, as `unit::parse_each` hands them over.
    pub fn apply_one(&mut self, a: &Assignment, origin: &str, unit: &str) {
        if a.section == "Service" {
            self.assign(a, origin, unit);
        }
    }

    fn note(
        &mut self,
        kind: &'static str,
        origin: &str,
        line: usize,
        text: impl FnOnce() -> String,
    ) {
        self.notes
            .add(kind, 1, || format!("{origin}:{line}: {}", text()));
    }

    fn assign(&mut self, a: &Assignment, origin: &str, unit: &str) {
        let value = a.value.as_str();
        let key = a.key.as_str();
        if let Some((_, why)) = UNMODELLED.iter().find(|(k, _)| *k == key) {
            if !value.is_empty() && parse_boolean(value) != Some(false) {
                self.unmodelled.retain(|u| u.key != key);
                self.unmodelled.push(Unmodelled {
                    key: key.to_string(),
                    why,
                    origin: format!("{origin}:{}", a.line),
                });
            } else {
                self.unmodelled.retain(|u| u.key != key);
            }
            return;
        }
        if let Some(&name) = SECCOMP_SETTINGS.iter().find(|&&k| k == key) {
            self.seccomp_setting(name, value);
            return;
        }
        match key {
            "User" | "Group" => {
                let expanded = if value.is_empty() {
                    None
                } else if has_unknown_specifier(value) {
                    self.note("specifier", origin, a.line, || {
                        format!(
                            "{key}={} uses a specifier capsim does not expand",
                            excerpt(value)
                        )
                    });
                    Some(value.to_string())
                } else {
                    Some(expand(value, unit))
                };
                if key == "User" {
                    self.user = expanded;
                } else {
                    self.group = expanded;
                }
            }
            "SupplementaryGroups" => {
                if value.is_empty() {
                    self.supplementary_groups.clear();
                } else {
                    self.supplementary_groups
                        .extend(words(value).iter().map(|w| expand(w, unit)));
                }
            }
            "CapabilityBoundingSet" | "AmbientCapabilities" => {
                let (invert, list) = match value.strip_prefix('~') {
                    Some(rest) => (true, rest),
                    None => (false, value),
                };
                let mut sum = 0u64;
                for word in words(list) {
                    match capability_from_name(&word) {
                        Some(bit) => sum |= 1 << bit,
                        None => self.note("capability", origin, a.line, || {
                            format!(
                                "{key}=: '{}' is not a capability; systemd skips it",
                                excerpt(&word)
                            )
                        }),
                    }
                }
                let def = if key == "CapabilityBoundingSet" {
                    CAP_MASK_UNSET
                } else {
                    0
                };
                let set = if key == "CapabilityBoundingSet" {
                    &mut self.bounding
                } else {
                    &mut self.ambient
                };
                if sum == 0 || *set == def {
                    *set = if invert { !sum } else { sum };
                } else if invert {
                    *set &= !sum;
                } else {
                    *set |= sum;
                }
            }
            "NoNewPrivileges" | "DynamicUser" => match parse_boolean(value) {
                Some(on) if key == "NoNewPrivileges" => self.no_new_privileges = on,
                Some(on) => self.dynamic_user = on,
                None => self.note("boolean", origin, a.line, || {
                    format!(
                        "{key}={} is not a boolean; systemd ignores it",
                        excerpt(value)
                    )
                }),
            },
            "SecureBits" => {
                if value.is_empty() {
                    self.securebits = 0;
                    return;
                }
                for word in words(value) {
                    let bit = match word.as_str() {
                        "keep-caps" => 0x10,
                        "keep-caps-locked" => 0x20,
                        "no-setuid-fixup" => 0x04,
                        "no-setuid-fixup-locked" => 0x08,
                        "noroot" => 0x01,
                        "noroot-locked" => 0x02,
                        other => {
                            self.note("securebit", origin, a.line, || {
                                format!(
                                    "SecureBits=: '{}' is not a secure bit; systemd skips it",
                                    excerpt(other)
                                )
                            });
                            0
                        }
                    };
                    self.securebits |= bit;
                }
            }
            "ExecStart" => {
                if value.is_empty() {
                    self.exec_start = None;
                } else if self.exec_start.is_none() {
                    let mut exec = exec_start(value, a.line);
                    if exec.path.contains('%') {
                        exec.path = expand(&exec.path, unit);
                    }
                    self.exec_start = Some(exec);
                }
            }
            _ => {}
        }
    }

    fn seccomp_setting(&mut self, name: &'static str, value: &str) {
        let on = match name {
            "SystemCallFilter" => {
                if value.is_empty() {
                    self.syscall_filter = None;
                } else {
                    let (deny, list) = match value.strip_prefix('~') {
                        Some(rest) => (true, rest),
                        None => (false, value),
                    };
                    let entry = self
                        .syscall_filter
                        .get_or_insert_with(|| (!deny, Vec::new()));
                    entry.1.extend(words(list));
                }
                self.syscall_filter.is_some()
            }
            "SystemCallArchitectures" | "SystemCallLog" | "RestrictAddressFamilies" => {
                !value.is_empty()
            }
            "RestrictNamespaces" => !value.is_empty() && parse_boolean(value) != Some(false),
            "ProtectHostname" => value == "private" || parse_boolean(value) == Some(true),
            _ => parse_boolean(value) == Some(true),
        };
        self.seccomp.retain(|k| *k != name);
        if on {
            self.seccomp.push(name);
        }
    }

    /// The seccomp-implying settings in force.
    pub fn seccomp_settings(&self) -> &[&'static str] {
        &self.seccomp
    }

    /// exec-invoke.c: a non-root service with a seccomp filter keeps CAP_SYS_ADMIN while the filters are
    /// installed (so needs no no_new_privs) when its SystemCallFilter= lets it drop privileges: capget,
    /// capset, prctl, setgid, setgroups and setuid all allowed (seccomp_allows_drop_privileges). `None`
    /// when the filter names groups capsim cannot expand.
    pub fn filter_allows_dropping_privileges(&self) -> Option<bool> {
        const NEEDED: [&str; 6] = ["capget", "capset", "prctl", "setgid", "setgroups", "setuid"];
        let Some((allow, list)) = &self.syscall_filter else {
            return Some(true);
        };
        let names: Vec<&str> = list
            .iter()
            .map(|w| w.split(':').next().unwrap_or(w))
            .collect();
        let named = |n: &str| names.contains(&n);
        let groups = names.iter().any(|n| n.starts_with('@'));
        if *allow {
            if NEEDED.iter().all(|n| named(n)) || named("@system-service") {
                Some(true)
            } else if groups {
                None
            } else {
                Some(false)
            }
        } else if NEEDED.iter().any(|n| named(n)) || named("@setuid") || named("@privileged") {
            Some(false)
        } else if groups {
            None
        } else {
            Some(true)
        }
    }
}

/// The specifiers that need nothing but the unit name (systemd.unit(5), "Specifiers").
fn expand(value: &str, unit: &str) -> String {
    let (prefix, instance, _suffix) = split_unit_name(unit);
    let full = unit;
    let name = unit.rsplit_once('.').map_or(unit, |(n, _)| n);
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('n') => out.push_str(full),
            Some('N') => out.push_str(name),
            Some('p' | 'P') => out.push_str(prefix),
            Some('i' | 'I') => out.push_str(instance),
            Some('j' | 'J') => out.push_str(prefix.rsplit('-').next().unwrap_or(prefix)),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// `prefix@instance.suffix` → (prefix, instance, suffix); without `@`, the instance is empty.
pub fn split_unit_name(unit: &str) -> (&str, &str, &str) {
    let (stem, suffix) = unit.rsplit_once('.').unwrap_or((unit, ""));
    match stem.split_once('@') {
        Some((prefix, instance)) => (prefix, instance, suffix),
        None => (stem, "", suffix),
    }
}

/// ExecStart='s first word with its prefixes (`@ - : + ! !!` and `|`).
fn exec_start(value: &str, line: usize) -> ExecStart {
    let first = words(value).into_iter().next().unwrap_or_default();
    let mut privileges = Privileges::Normal;
    let mut rest = first.as_str();
    loop {
        if let Some(r) = rest.strip_prefix("!!") {
            // Only for kernels without ambient capabilities; on others systemd ignores it.
            rest = r;
        } else if let Some(r) = rest.strip_prefix('!') {
            if privileges == Privileges::Normal {
                privileges = Privileges::NoSetuid;
            }
            rest = r;
        } else if let Some(r) = rest.strip_prefix('+') {
            privileges = Privileges::Full;
            rest = r;
        } else if let Some(r) = rest
            .strip_prefix('@')
            .or_else(|| rest.strip_prefix('-'))
            .or_else(|| rest.strip_prefix(':'))
            .or_else(|| rest.strip_prefix('|'))
        {
            rest = r;
        } else {
            break;
        }
    }
    ExecStart {
        path: rest.to_string(),
        privileges,
        line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::parse;

    fn service(text: &str) -> Service {
        let mut s = Service::default();
        s.apply(
            &parse(text.as_bytes()).unwrap().assignments,
            "t",
            "web@blue.service",
        );
        s
    }

    #[test]
    fn capability_lists_as_systemd_merges_them() {
        let s = service("[Service]\nCapabilityBoundingSet=CAP_NET_RAW cap_chown\nCapabilityBoundingSet=CAP_KILL\n");
        assert_eq!(s.bounding(), Some(0x2021));
        // The empty assignment is the empty set, not a reset to everything.
        assert_eq!(
            service("[Service]\nCapabilityBoundingSet=\n").bounding(),
            Some(0)
        );
        assert_eq!(service("[Service]\n").bounding(), None);
        let s = service(
            "[Service]\nCapabilityBoundingSet=~CAP_SYS_ADMIN\nCapabilityBoundingSet=~CAP_KILL\n",
        );
        assert_eq!(s.bounding(), Some(!(1u64 << 21 | 1 << 5)));
        // Unknown names are skipped, numbers are capabilities, a name needs its CAP_ prefix.
        let s = service("[Service]\nAmbientCapabilities=CAP_BOGUS 13 0x0c net_admin\n");
        assert_eq!(s.ambient, 0x3000);
        assert_eq!(
            s.notes.lines(),
            ["t:2: AmbientCapabilities=: 'CAP_BOGUS' is not a capability; systemd skips it (and 1 more like it)"]
        );
    }

    #[test]
    fn prefixes_and_specifiers() {
        let s = service("[Service]\nUser=u-%i\nExecStart=-+/bin/x a\nExecStart=/bin/y\n");
        assert_eq!(s.user.as_deref(), Some("u-blue"));
        let exec = s.exec_start.unwrap();
        assert_eq!(
            (exec.path.as_str(), exec.privileges),
            ("/bin/x", Privileges::Full)
        );
        let s = service("[Service]\nExecStart=!@/bin/x x\n");
        assert_eq!(s.exec_start.unwrap().privileges, Privileges::NoSetuid);
        let s = service("[Service]\nExecStart=!!/bin/x\n");
        assert_eq!(s.exec_start.unwrap().privileges, Privileges::Normal);
    }

    #[test]
    fn seccomp_settings_and_filters() {
        let s =
            service("[Service]\nProtectClock=yes\nLockPersonality=no\nRestrictNamespaces=net\n");
        assert_eq!(s.seccomp_settings(), ["ProtectClock", "RestrictNamespaces"]);
        assert_eq!(s.filter_allows_dropping_privileges(), Some(true));
        let s = service("[Service]\nSystemCallFilter=~setuid\n");
        assert_eq!(s.filter_allows_dropping_privileges(), Some(false));
        let s = service("[Service]\nSystemCallFilter=@system-service\n");
        assert_eq!(s.filter_allows_dropping_privileges(), Some(true));
        let s = service("[Service]\nSystemCallFilter=read write\n");
        assert_eq!(s.filter_allows_dropping_privileges(), Some(false));
        let s = service("[Service]\nSystemCallFilter=@basic-io\n");
        assert_eq!(s.filter_allows_dropping_privileges(), None);
        let s = service("[Service]\nSystemCallFilter=~@setuid\nSystemCallFilter=\n");
        assert!(s.seccomp_settings().is_empty());
    }

    #[test]
    fn unmodelled_settings_are_named() {
        let s = service("[Service]\nPrivateUsers=yes\nPAMName=login\nPAMName=\n");
        let keys: Vec<&str> = s.unmodelled.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(keys, ["PrivateUsers"]);
    }
}
