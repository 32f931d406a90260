//! Comparing a scan with an earlier one: which files gained, lost or changed their capabilities.
//!
//! An earlier scan recorded as JSON knows every field of each value; one recorded as getcap text knows
//! only libcap's view (and the rootid when `-n` printed it), so values are compared as far as the
//! recording can tell.

use std::collections::BTreeMap;

use crate::text::CapState;
use crate::xattr::FileCaps;

/// What a scan recorded about one file's capabilities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The decoded value (a live scan, or a JSON record).
    Exact(FileCaps),
    /// A getcap line: libcap's state, and the rootid if the line showed one.
    Text {
        state: CapState,
        rootid: Option<u32>,
    },
    /// A value the kernel refuses (its errno name: EINVAL, ERANGE).
    Malformed(String),
}

impl Recorded {
    /// Whether two recordings can describe the same value, comparing only what both know.
    pub fn same_as(&self, other: &Recorded) -> bool {
        match (self, other) {
            (Recorded::Exact(a), Recorded::Exact(b)) => a == b,
            (Recorded::Exact(exact), Recorded::Text { state, rootid })
            | (Recorded::Text { state, rootid }, Recorded::Exact(exact)) => {
                exact.libcap_state() == *state
                    && rootid.is_none_or(|r| exact.rootid.unwrap_or(0) == r)
            }
            (
                Recorded::Text {
                    state: a,
                    rootid: ra,
                },
                Recorded::Text {
                    state: b,
                    rootid: rb,
                },
            ) => a == b && (ra.is_none() || rb.is_none() || ra == rb),
            (Recorded::Malformed(a), Recorded::Malformed(b)) => a == b,
            _ => false,
        }
    }
}

/// How a file differs from the baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DriftKind {
    Added,
    Removed,
    Changed,
}

impl DriftKind {
    pub const fn name(self) -> &'static str {
        match self {
            DriftKind::Added => "added",
            DriftKind::Removed => "removed",
            DriftKind::Changed => "changed",
        }
    }
}

/// One file that drifted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift<'a> {
    pub path: &'a [u8],
    pub kind: DriftKind,
    pub was: Option<&'a Recorded>,
    pub now: Option<&'a Recorded>,
}

/// The drift from `baseline` to `current`, sorted by path.
pub fn diff<'a>(
    baseline: &'a BTreeMap<Vec<u8>, Recorded>,
    current: &'a BTreeMap<Vec<u8>, Recorded>,
) -> Vec<Drift<'a>> {
    let mut out = Vec::new();
    for (path, now) in current {
        match baseline.get(path) {
            None => out.push(Drift {
                path,
                kind: DriftKind::Added,
                was: None,
                now: Some(now),
            }),
            Some(was) if !was.same_as(now) => out.push(Drift {
                path,
                kind: DriftKind::Changed,
                was: Some(was),
                now: Some(now),
            }),
            Some(_) => {}
        }
    }
    for (path, was) in baseline {
        if !current.contains_key(path) {
            out.push(Drift {
                path,
                kind: DriftKind::Removed,
                was: Some(was),
                now: None,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(b.path).then(a.kind.cmp(&b.kind)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::set::CapSet;
    use crate::xattr::Revision;

    fn v2(p: u64, effective: bool) -> FileCaps {
        FileCaps {
            revision: Revision::V2,
            effective,
            permitted: CapSet::from_bits(p),
            inheritable: CapSet::EMPTY,
            rootid: None,
            stray_flags: 0,
        }
    }

    fn map(items: Vec<(&str, Recorded)>) -> BTreeMap<Vec<u8>, Recorded> {
        items
            .into_iter()
            .map(|(p, r)| (p.as_bytes().to_vec(), r))
            .collect()
    }

    #[test]
    fn finds_each_kind_of_drift() {
        let base = map(vec![
            ("/same", Recorded::Exact(v2(1 << 13, true))),
            ("/gone", Recorded::Exact(v2(1, true))),
            ("/changed", Recorded::Exact(v2(1 << 13, true))),
            ("/bad", Recorded::Malformed("EINVAL".into())),
        ]);
        let now = map(vec![
            ("/same", Recorded::Exact(v2(1 << 13, true))),
            ("/changed", Recorded::Exact(v2(1 << 13 | 1 << 7, true))),
            ("/new", Recorded::Exact(v2(1 << 7, true))),
            ("/bad", Recorded::Exact(v2(1, false))),
        ]);
        let drift: Vec<(&[u8], DriftKind)> =
            diff(&base, &now).iter().map(|d| (d.path, d.kind)).collect();
        assert_eq!(
            drift,
            vec![
                (&b"/bad"[..], DriftKind::Changed),
                (&b"/changed"[..], DriftKind::Changed),
                (&b"/gone"[..], DriftKind::Removed),
                (&b"/new"[..], DriftKind::Added),
            ]
        );
    }

    #[test]
    fn text_recordings_compare_what_they_know() {
        let exact = Recorded::Exact(v2(1 << 13, true));
        let text = Recorded::Text {
            state: v2(1 << 13, true).libcap_state(),
            rootid: None,
        };
        assert!(exact.same_as(&text) && text.same_as(&exact));
        let mut v3 = v2(1 << 13, true);
        v3.revision = Revision::V3;
        v3.rootid = Some(1000);
        let with_root = Recorded::Text {
            state: v3.libcap_state(),
            rootid: Some(1000),
        };
        assert!(Recorded::Exact(v3).same_as(&with_root));
        assert!(!exact.same_as(&with_root));
        let not_effective = Recorded::Exact(v2(1 << 13, false));
        assert!(!not_effective.same_as(&text));
    }
}
