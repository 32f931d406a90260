//! The compact capability summary of one task, the flag letters beside it, and `--compare` against a
//! preset, shared by capls and capnet. The notation is documented in `--help` and the README:
//!
//! - `full`: permitted and effective hold every capability the kernel knows;
//! - `full -sys_module,(net_raw)`: all but a few (at most `FEW`); a plain name is not permitted, a name in
//!   parentheses is permitted but not effective;
//! - `chown,(net_raw),setuid`: otherwise the permitted names, by bit; parentheses again mark permitted but
//!   not effective;
//! - the whole summary in parentheses, `(full)` or `(chown,setuid)`: permitted, but nothing effective;
//! - `-`: nothing permitted.
//!
//! Names drop libcap's `cap_` prefix here only; bits the kernel has no name for are decimal numbers.

use capcore::{Cap, CapSet, SeccompMode, TaskStatus};

/// At most this many exceptions are listed after `full -`; more and the permitted names are listed.
pub const FEW: u32 = 8;

/// A capability's name without `cap_`.
pub fn short_name(cap: Cap) -> String {
    match cap.name() {
        Some(name) => name.strip_prefix("cap_").unwrap_or(name).to_string(),
        None => cap.bit().to_string(),
    }
}

/// The short name of a capability that is held: in the danger colour when it gives root away (capcore's
/// audit list) and colour is on. Names of capabilities that are not held (after `full -`) stay plain.
fn held_short(cap: Cap) -> String {
    painted(cap, short_name(cap))
}

/// The full libcap name of a member of a set, coloured as `held_short`.
pub fn long_name(cap: Cap) -> std::borrow::Cow<'static, str> {
    let name = crate::render::cap_name(cap);
    if crate::term::current().color && capcore::audit::ROOT_EQUIVALENT.contains(cap) {
        crate::term::paint(crate::term::Style::Danger, &name)
            .into_owned()
            .into()
    } else {
        name
    }
}

fn painted(cap: Cap, name: String) -> String {
    if crate::term::current().color && capcore::audit::ROOT_EQUIVALENT.contains(cap) {
        crate::term::paint(crate::term::Style::Danger, &name).into_owned()
    } else {
        name
    }
}

/// `full`, in the danger colour when what it stands for includes a root-equivalent capability.
fn full_word(held: CapSet) -> String {
    if (held & capcore::audit::ROOT_EQUIVALENT).is_empty() {
        "full".to_string()
    } else {
        crate::term::paint(crate::term::Style::Danger, "full").into_owned()
    }
}

/// The short form of one set, for a table cell: `full`, `full -sys_module,net_raw`, `chown,setuid`, or
/// `-` for the empty set (the notation of `summarise`, with nothing marked as not effective).
pub fn short(set: CapSet, known: u32) -> String {
    summarise(set, set, known)
}

/// The long form of one set, for detail views: `full (all 41)`, `full -cap_sys_module (40 of 41)`,
/// `cap_chown, cap_setuid (2 of 41)`, or `none`. Bits the kernel does not know follow as `+42` (their
/// numbers) and are counted.
pub fn long(set: CapSet, known: u32) -> String {
    long_words(set, known).join(" ")
}

/// The long form as the words a renderer may wrap between: each name keeps its trailing comma.
pub fn long_words(set: CapSet, known: u32) -> Vec<String> {
    if set.is_empty() {
        return vec!["none".to_string()];
    }
    let all = CapSet::first_n(known);
    let absent = all - set;
    let beyond = set - all;
    if absent.is_empty() && beyond.is_empty() {
        return vec![full_word(set), format!("(all {known})")];
    }
    let mut words = Vec::with_capacity(set.len().min(all.len()) as usize + 3);
    if absent.len() <= FEW && absent.len() < all.len() {
        words.push(full_word(set));
        push_listed(&mut words, absent, "-", false);
    } else {
        push_listed(&mut words, set & all, "", true);
    }
    // Bits the kernel does not know are listed by number and not counted against it.
    push_listed(&mut words, beyond, "+", true);
    words.push(format!("({} of {known})", (set & all).len()));
    words
}

/// Appends the libcap names of `set` to `words`, the first after `lead`, each but the last with a comma;
/// painted when `held`.
fn push_listed(words: &mut Vec<String>, set: CapSet, lead: &str, held: bool) {
    let last = set.len() as usize;
    for (i, cap) in set.iter().enumerate() {
        let mut word = String::with_capacity(lead.len() + 24);
        if i == 0 {
            word.push_str(lead);
        }
        if held {
            word.push_str(&long_name(cap));
        } else {
            word.push_str(&crate::render::cap_name(cap));
        }
        if i + 1 < last {
            word.push(',');
        }
        words.push(word);
    }
}

/// The names of a set without `cap_`, comma separated, uncoloured.
pub fn short_names(set: CapSet) -> String {
    set.iter().map(short_name).collect::<Vec<_>>().join(",")
}

/// The summary of a permitted and an effective set, for a kernel that knows `known` capabilities.
pub fn summarise(permitted: CapSet, effective: CapSet, known: u32) -> String {
    let all = CapSet::first_n(known);
    // The kernel keeps effective within permitted; should it not, effective still counts as held.
    let permitted = permitted | effective;
    if permitted.is_empty() {
        return "-".to_string();
    }
    let nothing_effective = effective.is_empty();
    let inactive = if nothing_effective {
        CapSet::EMPTY
    } else {
        permitted - effective
    };
    let absent = all - permitted;
    let beyond = permitted - all;
    let mark = |cap: Cap| {
        if absent.contains(cap) {
            short_name(cap)
        } else if inactive.contains(cap) {
            format!("({})", held_short(cap))
        } else {
            held_short(cap)
        }
    };
    let exceptions = absent | (inactive & all);
    let mut text = if exceptions.len() <= FEW && absent.len() < all.len() {
        let mut text = full_word(permitted);
        if !exceptions.is_empty() {
            let listed: Vec<String> = exceptions.iter().map(mark).collect();
            text.push_str(" -");
            text.push_str(&listed.join(","));
        }
        if !beyond.is_empty() {
            let listed: Vec<String> = beyond.iter().map(mark).collect();
            text.push_str(" +");
            text.push_str(&listed.join(","));
        }
        text
    } else {
        permitted.iter().map(mark).collect::<Vec<_>>().join(",")
    };
    if nothing_effective {
        text = format!("({text})");
    }
    text
}

/// A preset set of capabilities for `--compare`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// Docker's 14 default capabilities.
    Docker,
    /// The OCI runtime spec's default: audit_write, kill, net_bind_service.
    Oci,
    /// Every capability the kernel knows.
    Full,
    /// No capability.
    None,
}

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Preset::Docker => "docker",
            Preset::Oci => "oci",
            Preset::Full => "full",
            Preset::None => "none",
        }
    }

    pub fn set(self, known: u32) -> CapSet {
        match self {
            Preset::Docker => CapSet::from_caps(capcore::oci::DOCKER_DEFAULT),
            Preset::Oci => CapSet::from_caps([Cap::AUDIT_WRITE, Cap::KILL, Cap::NET_BIND_SERVICE]),
            Preset::Full => CapSet::first_n(known),
            Preset::None => CapSet::EMPTY,
        }
    }
}

/// How a permitted set differs from a preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Comparison {
    pub preset: &'static str,
    /// In the preset, not permitted.
    pub missing: CapSet,
    /// Permitted, not in the preset.
    pub extra: CapSet,
}

impl Comparison {
    pub fn new(preset: Preset, permitted: CapSet, known: u32) -> Comparison {
        let base = preset.set(known);
        Comparison {
            preset: preset.name(),
            missing: base - permitted,
            extra: permitted - base,
        }
    }

    /// `docker -net_raw +sys_admin`; the preset's name alone when they are equal.
    pub fn text(&self) -> String {
        let mut text = self.preset.to_string();
        if !self.missing.is_empty() {
            text.push_str(" -");
            text.push_str(&short_names(self.missing));
        }
        if !self.extra.is_empty() {
            text.push_str(" +");
            let extra: Vec<String> = self.extra.iter().map(held_short).collect();
            text.push_str(&extra.join(","));
        }
        text
    }
}

/// Facts about a task beside its sets, shown as letters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub ambient: bool,
    pub narrow_bounding: bool,
    pub no_new_privs: bool,
    pub seccomp: Option<SeccompMode>,
    /// `Some(true)` in another user namespace than the host's; `None` when hidden.
    pub other_userns: Option<bool>,
    pub threads_differ: bool,
}

impl Flags {
    pub fn of(status: &TaskStatus, known: u32) -> Flags {
        let caps = &status.caps;
        Flags {
            ambient: caps.ambient.is_some_and(|a| !a.is_empty()),
            narrow_bounding: caps
                .bounding
                .is_some_and(|b| !CapSet::first_n(known).is_subset(b)),
            no_new_privs: caps.no_new_privs == Some(true),
            seccomp: caps.seccomp,
            other_userns: None,
            threads_differ: false,
        }
    }

    /// The letters, in a fixed order: `a` ambient, `b` bounding narrowed, `n` no_new_privs, `s` seccomp
    /// filter (`S` strict mode), `u` other user namespace (`?` unknown), `t` a thread differs.
    pub fn letters(&self) -> String {
        let mut out = String::new();
        let mut push = |on: bool, c: char| {
            if on {
                out.push(c);
            }
        };
        push(self.ambient, 'a');
        push(self.narrow_bounding, 'b');
        push(self.no_new_privs, 'n');
        push(self.seccomp == Some(SeccompMode::Filter), 's');
        push(self.seccomp == Some(SeccompMode::Strict), 'S');
        push(self.other_userns == Some(true), 'u');
        push(self.other_userns.is_none(), '?');
        push(self.threads_differ, 't');
        out
    }
}

/// Whether two tasks' capability sets differ (any of the five).
pub fn sets_differ(a: &TaskStatus, b: &TaskStatus) -> bool {
    let (a, b) = (&a.caps, &b.caps);
    a.inheritable != b.inheritable
        || a.permitted != b.permitted
        || a.effective != b.effective
        || a.bounding != b.bounding
        || a.ambient != b.ambient
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_short_and_one_long_form() {
        let all = CapSet::first_n(41);
        let no_resource = all - CapSet::from_caps([Cap::SYS_RESOURCE]);
        assert_eq!(short(all, 41), "full");
        assert_eq!(short(no_resource, 41), "full -sys_resource");
        assert_eq!(short(CapSet::EMPTY, 41), "-");
        assert_eq!(long(all, 41), "full (all 41)");
        assert_eq!(long(no_resource, 41), "full -cap_sys_resource (40 of 41)");
        assert_eq!(
            long(CapSet::from_bits(0x2001), 41),
            "cap_chown, cap_net_raw (2 of 41)"
        );
        assert_eq!(long(CapSet::EMPTY, 41), "none");
        assert_eq!(
            long(CapSet::from_bits(1 | 1 << 41), 41),
            "cap_chown +41 (1 of 41)"
        );
        assert_eq!(
            long(all | CapSet::from_bits(3 << 41), 41),
            "full +41, 42 (41 of 41)"
        );
    }

    const KNOWN: u32 = 41;

    fn set(list: &str) -> CapSet {
        CapSet::parse_list(list).unwrap()
    }

    #[test]
    fn full_and_nearly_full() {
        let all = CapSet::first_n(KNOWN);
        assert_eq!(summarise(all, all, KNOWN), "full");
        assert_eq!(summarise(all, CapSet::EMPTY, KNOWN), "(full)");
        let most = all - set("sys_module,net_raw");
        assert_eq!(summarise(most, most, KNOWN), "full -net_raw,sys_module");
        let lazy = most - set("chown");
        assert_eq!(
            summarise(most, lazy, KNOWN),
            "full -(chown),net_raw,sys_module"
        );
        let newer = all | CapSet::from_bits(1 << 41);
        assert_eq!(summarise(newer, newer, KNOWN), "full +41");
        assert_eq!(summarise(newer, all, KNOWN), "full +(41)");
    }

    #[test]
    fn lists_marking_permitted_only() {
        assert_eq!(summarise(CapSet::EMPTY, CapSet::EMPTY, KNOWN), "-");
        let p = set("chown,net_raw,setuid");
        assert_eq!(summarise(p, p, KNOWN), "chown,setuid,net_raw");
        assert_eq!(
            summarise(p, set("chown,setuid"), KNOWN),
            "chown,setuid,(net_raw)"
        );
        assert_eq!(summarise(p, CapSet::EMPTY, KNOWN), "(chown,setuid,net_raw)");
    }

    #[test]
    fn compares_with_presets() {
        let docker = Preset::Docker.set(KNOWN);
        assert_eq!(docker.len(), 14);
        let p = (docker - set("net_raw")) | set("sys_admin");
        assert_eq!(
            Comparison::new(Preset::Docker, p, KNOWN).text(),
            "docker -net_raw +sys_admin"
        );
        assert_eq!(
            Comparison::new(Preset::Oci, set("kill,audit_write,net_bind_service"), KNOWN).text(),
            "oci"
        );
        assert_eq!(
            Comparison::new(Preset::None, set("net_raw"), KNOWN).text(),
            "none +net_raw"
        );
        let all = CapSet::first_n(KNOWN);
        assert_eq!(
            Comparison::new(Preset::Full, all - set("bpf"), KNOWN).text(),
            "full -bpf"
        );
    }

    #[test]
    fn flags_read_from_a_status() {
        let mut status = TaskStatus::default();
        status.caps.bounding = Some(CapSet::first_n(KNOWN));
        status.caps.ambient = Some(CapSet::EMPTY);
        status.caps.no_new_privs = Some(false);
        assert_eq!(Flags::of(&status, KNOWN).letters(), "?");
        status.caps.bounding = Some(CapSet::first_n(KNOWN) - set("sys_module"));
        status.caps.ambient = Some(set("net_raw"));
        status.caps.no_new_privs = Some(true);
        status.caps.seccomp = Some(SeccompMode::Filter);
        let mut flags = Flags::of(&status, KNOWN);
        flags.other_userns = Some(false);
        assert_eq!(flags.letters(), "abns");
        // A bounding set wider than the kernel's (bits it does not know) is not narrowed.
        status.caps.bounding = Some(CapSet::from_bits(u64::MAX));
        assert!(!Flags::of(&status, KNOWN).narrow_bounding);
    }

    #[test]
    fn flag_letters_keep_their_order() {
        let flags = Flags {
            ambient: true,
            narrow_bounding: true,
            no_new_privs: true,
            seccomp: Some(SeccompMode::Filter),
            other_userns: Some(true),
            threads_differ: true,
        };
        assert_eq!(flags.letters(), "abnsut");
        let hidden = Flags {
            seccomp: Some(SeccompMode::Strict),
            ..Flags::default()
        };
        assert_eq!(hidden.letters(), "S?");
        let plain = Flags {
            other_userns: Some(false),
            ..Flags::default()
        };
        assert_eq!(plain.letters(), "");
    }
}
