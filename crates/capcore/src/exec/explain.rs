//! Why each capability of each set ended where it did: one `CapWhy` per capability kept, gained, lost or
//! denied, worded from the rule in `Facts` that decided it. This is what `capsim --explain` prints; the model
//! itself only computes sets.

use serde::Serialize;

use crate::cap::Cap;
use crate::set::CapSet;

use super::model::{Facts, RootRule};
use super::Creds;

/// Which capability set an explanation is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    Permitted,
    Effective,
    Inheritable,
    Bounding,
    Ambient,
}

impl Subject {
    pub fn name(self) -> &'static str {
        match self {
            Subject::Permitted => "permitted",
            Subject::Effective => "effective",
            Subject::Inheritable => "inheritable",
            Subject::Bounding => "bounding",
            Subject::Ambient => "ambient",
        }
    }
}

/// What happened to one capability in one set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// In the set before and after.
    Kept,
    /// In the set after only.
    Gained,
    /// In the set before only.
    Lost,
    /// Offered (by the file or a rule) but not granted.
    Denied,
}

impl Change {
    pub fn name(self) -> &'static str {
        match self {
            Change::Kept => "kept",
            Change::Gained => "gained",
            Change::Lost => "lost",
            Change::Denied => "denied",
        }
    }
}

/// Why one capability is (or is not) in one resulting set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CapWhy {
    /// Which set (`permitted`, …): `set_name`, since `set` is a capability set in every other record.
    #[serde(rename = "set_name")]
    pub set: Subject,
    #[serde(serialize_with = "cap_name")]
    pub cap: Cap,
    pub change: Change,
    pub why: String,
}

/// A capability by its libcap name (kept local so that `Cap` itself stays free of a serde form).
fn cap_name<S: serde::Serializer>(cap: &Cap, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(cap)
}

/// For every capability in or out of each set, the rule that decided it.
pub(super) fn explain_caps(old: &Creds, new: &Creds, facts: &Facts) -> Vec<CapWhy> {
    let mut out = Vec::new();
    let mut push = |set: Subject, cap: Cap, before: bool, after: bool, why: String| {
        let change = match (before, after) {
            (true, true) => Change::Kept,
            (false, true) => Change::Gained,
            (true, false) => Change::Lost,
            (false, false) => Change::Denied,
        };
        out.push(CapWhy {
            set,
            cap,
            change,
            why,
        });
    };
    let fcaps = facts.honoured().copied();
    let ambient_kept = "ambient kept: the file has no capabilities and the ids do not change";

    // Permitted.
    let offered_by_file = fcaps.map_or(CapSet::EMPTY, |caps| caps.permitted | caps.inheritable);
    let universe = old.permitted | new.permitted | facts.permitted_offered | offered_by_file;
    for cap in universe.iter() {
        let before = old.permitted.contains(cap);
        let after = new.permitted.contains(cap);
        let why = if facts.permitted_granted.contains(cap) {
            let mut why = permitted_source(cap, old, facts);
            if let Some(cause) = facts.downgrade_cause {
                why.push_str(&format!(
                    ", kept by the unsafe-exec downgrade ({cause}) because it was already permitted"
                ));
            }
            why
        } else if after {
            format!("ambient: P' = P | A' ({ambient_kept})")
        } else if facts.permitted_offered.contains(cap) {
            format!(
                "{}, but the unsafe-exec downgrade ({}) keeps only what was already permitted",
                permitted_source(cap, old, facts),
                facts.downgrade_cause.unwrap_or("unsafe exec")
            )
        } else {
            permitted_absence(cap, old, facts)
        };
        push(Subject::Permitted, cap, before, after, why);
    }

    // Effective.
    for cap in (old.effective | new.effective).iter() {
        let before = old.effective.contains(cap);
        let after = new.effective.contains(cap);
        let why = if after && facts.effective_flag {
            format!("E' = P' because {}", facts.effective_reason)
        } else if after {
            format!(
                "ambient: E' = A' ({}, and the new euid is not root)",
                facts.effective_reason
            )
        } else if !new.permitted.contains(cap) {
            "no longer permitted".to_string()
        } else {
            format!(
                "permitted but not ambient, and E' = A' ({}, and the new euid is not root)",
                facts.effective_reason
            )
        };
        push(Subject::Effective, cap, before, after, why);
    }

    // Ambient.
    for cap in (old.ambient | new.ambient).iter() {
        let before = old.ambient.contains(cap);
        let after = new.ambient.contains(cap);
        let why = match &facts.ambient_cleared {
            Some(reason) => format!("ambient cleared: {reason}"),
            None => ambient_kept.to_string(),
        };
        push(Subject::Ambient, cap, before, after, why);
    }

    // Inheritable and bounding never change at exec.
    for cap in old.inheritable.iter() {
        push(
            Subject::Inheritable,
            cap,
            true,
            true,
            "exec never changes the inheritable set".to_string(),
        );
    }
    for cap in old.bounding.iter() {
        push(
            Subject::Bounding,
            cap,
            true,
            true,
            "exec never changes the bounding set".to_string(),
        );
    }
    out
}

/// Where a capability of the pre-ambient permitted set came from.
fn permitted_source(cap: Cap, old: &Creds, facts: &Facts) -> String {
    match facts.root_rule {
        RootRule::Applied { euid_root } => {
            let who = if euid_root {
                "the new euid"
            } else {
                "the ruid"
            };
            if old.bounding.contains(cap) {
                format!("bounding set: root rule P = B | I because {who} is root")
            } else {
                format!("inheritable set: root rule P = B | I because {who} is root")
            }
        }
        _ => match facts.honoured() {
            Some(caps) if caps.permitted.contains(cap) && old.bounding.contains(cap) => {
                "file permitted ∩ bounding".to_string()
            }
            _ => "file inheritable ∩ inheritable".to_string(),
        },
    }
}

/// Why a capability that was permitted, or offered by the file, is not permitted after the exec.
fn permitted_absence(cap: Cap, old: &Creds, facts: &Facts) -> String {
    let ambient_note = if old.ambient.contains(cap) {
        match &facts.ambient_cleared {
            Some(reason) => format!("; it was ambient, but ambient is cleared: {reason}"),
            None => String::new(),
        }
    } else {
        String::new()
    };
    if let RootRule::Applied { .. } = facts.root_rule {
        return format!("not in bounding ∪ inheritable (root rule){ambient_note}");
    }
    match facts.honoured() {
        Some(caps) => {
            let mut why = Vec::new();
            if caps.permitted.contains(cap) && !old.bounding.contains(cap) {
                why.push("in file permitted but not in the bounding set".to_string());
            }
            if caps.inheritable.contains(cap) && !old.inheritable.contains(cap) {
                why.push("in file inheritable but not in the inheritable set".to_string());
            }
            if why.is_empty() {
                why.push(
                    "permitted is recomputed at exec: not in file permitted ∩ bounding nor file \
                     inheritable ∩ inheritable"
                        .to_string(),
                );
            }
            format!("{}{ambient_note}", why.join("; "))
        }
        None => {
            let root = match facts.root_rule {
                RootRule::Disabled => "SECBIT_NOROOT disables the root rule",
                _ => "neither euid nor ruid is root",
            };
            format!(
                "permitted is recomputed at exec: the file grants nothing and {root}, so only ambient \
                 capabilities stay{ambient_note}"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::tests::{scenarios, set, user, with_text, B0, NA, NR};
    use crate::exec::{simulate, Kernel};

    #[test]
    fn explains_every_capability_of_every_set() {
        let sim = simulate(
            &user(1000).caps(NR, NR, NR, NR),
            &with_text("cap_net_admin+p"),
            Kernel::default(),
        );
        let caps = &sim.trace.caps;
        let find = |set: Subject, cap: Cap| {
            caps.iter()
                .find(|why| why.set == set && why.cap == cap)
                .unwrap_or_else(|| panic!("{set:?} {cap} not explained: {caps:#?}"))
        };
        let gained = find(Subject::Permitted, Cap::NET_ADMIN);
        assert_eq!(gained.change, Change::Gained);
        assert_eq!(gained.why, "file permitted ∩ bounding");
        let lost = find(Subject::Permitted, Cap::NET_RAW);
        assert_eq!(lost.change, Change::Lost);
        assert!(
            lost.why
                .contains("ambient is cleared: the file has capabilities"),
            "{}",
            lost.why
        );
        assert_eq!(find(Subject::Ambient, Cap::NET_RAW).change, Change::Lost);
        assert_eq!(find(Subject::Effective, Cap::NET_RAW).change, Change::Lost);
        assert_eq!(
            find(Subject::Inheritable, Cap::NET_RAW).change,
            Change::Kept
        );
        let after = sim.result.unwrap().creds;
        for (subject, set) in [
            (Subject::Permitted, after.permitted),
            (Subject::Effective, after.effective),
            (Subject::Ambient, after.ambient),
            (Subject::Bounding, after.bounding),
        ] {
            for cap in set.iter() {
                assert!(caps.iter().any(|why| why.set == subject && why.cap == cap));
            }
        }
    }

    /// Every capability of every resulting set, and every one lost from the caller's sets, has a reason.
    #[test]
    fn every_scenario_explains_every_capability() {
        for (name, caller, file, _) in scenarios() {
            let sim = simulate(&caller, &file, Kernel::default());
            let Ok(after) = &sim.result else { continue };
            let old = &caller.creds;
            let new = &after.creds;
            for (set, before, after) in [
                (Subject::Permitted, old.permitted, new.permitted),
                (Subject::Effective, old.effective, new.effective),
                (Subject::Ambient, old.ambient, new.ambient),
                (Subject::Inheritable, old.inheritable, new.inheritable),
                (Subject::Bounding, old.bounding, new.bounding),
            ] {
                for cap in (before | after).iter() {
                    let why = sim.trace.caps.iter().find(|w| w.set == set && w.cap == cap);
                    let why = why.unwrap_or_else(|| panic!("{name}: {set:?} {cap} unexplained"));
                    let expected = match (before.contains(cap), after.contains(cap)) {
                        (true, true) => Change::Kept,
                        (false, true) => Change::Gained,
                        (true, false) => Change::Lost,
                        (false, false) => unreachable!(),
                    };
                    assert_eq!(why.change, expected, "{name}: {set:?} {cap}");
                    assert!(!why.why.is_empty());
                }
            }
        }
    }

    #[test]
    fn explains_the_downgrade_and_bounding_denials() {
        let sim = simulate(
            &user(1000).caps(0, NA, 0, 0).nnp(),
            &with_text("cap_net_raw+ep"),
            Kernel::default(),
        );
        let denied = sim
            .trace
            .caps
            .iter()
            .find(|why| why.set == Subject::Permitted && why.cap == Cap::NET_RAW)
            .unwrap();
        assert_eq!(denied.change, Change::Denied);
        assert!(denied.why.contains("no_new_privs"), "{}", denied.why);
        let mut caller = user(1000);
        caller.creds.bounding = set(B0 & !NR);
        let sim = simulate(&caller, &with_text("cap_net_raw+p"), Kernel::default());
        let denied = sim
            .trace
            .caps
            .iter()
            .find(|why| why.cap == Cap::NET_RAW)
            .unwrap();
        assert_eq!(denied.why, "in file permitted but not in the bounding set");
        let sim = simulate(
            &user(1000),
            &with_text("cap_sys_resource+ep"),
            Kernel::default(),
        );
        let err = sim.result.unwrap_err();
        assert!(err.why.contains("cap_sys_resource"), "{}", err.why);
        assert!(sim
            .trace
            .steps
            .iter()
            .any(|s| s.rule == "commoncap.c:get_file_caps"));
    }
}
