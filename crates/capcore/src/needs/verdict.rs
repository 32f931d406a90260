//! One verdict per capability from the aggregated checks: needed beats denied beats userns beats probe, so a
//! capability the program used once on a check that matters is needed however often it was also refused or
//! only probed.

use std::collections::BTreeMap;

use super::probe::is_probe;
use super::{CapReport, CapTotals, Check, Folded, NsPlace, Source, Verdict};
use crate::{Cap, CapSet};

/// The most sources listed per capability; the rest are summed into its `Folded`.
pub const MAX_SOURCES: usize = 16;

/// One report per capability seen, ordered by capability number. The verdict: `Needed` when some check that
/// is not a probe was granted against the base namespace or one outside it; else `Denied` when such a check
/// was refused; else `Userns` when some check that is not a probe was made against a namespace the program
/// created; else `Probe`. Counts saturate rather than wrap. Sources are one row per (caller, pid, comm),
/// most checks first; at most [`MAX_SOURCES`] are listed, the rest are summed into `folded`.
pub fn verdicts(checks: &[Check]) -> Vec<CapReport> {
    let mut by_cap: BTreeMap<Cap, Vec<&Check>> = BTreeMap::new();
    for check in checks {
        by_cap.entry(check.cap).or_default().push(check);
    }
    by_cap
        .into_iter()
        .map(|(cap, checks)| report(cap, &checks))
        .collect()
}

/// `verdicts`, made exact by what the kernel counted without a map that can fill: `totals` (every check
/// by capability and outcome) and `settled` (the capabilities granted on an audited check outside a
/// created namespace). A capability whose rows were lost to full maps keeps its counts and, when settled,
/// its `Needed`; the checks no row holds are in `folded.lost_rows`. A capability with no row at all gets
/// its verdict from its totals alone: needed when settled, else denied when refused on the host, else
/// userns when checked in a created namespace, else probe.
pub fn verdicts_exact(checks: &[Check], totals: &[CapTotals], settled: CapSet) -> Vec<CapReport> {
    let mut reports: BTreeMap<Cap, CapReport> =
        verdicts(checks).into_iter().map(|r| (r.cap, r)).collect();
    for total in totals {
        let report = reports
            .entry(total.cap)
            .or_insert_with(|| rowless(total, settled));
        let granted = total.granted.saturating_add(total.granted_created);
        let denied = total.denied.saturating_add(total.denied_created);
        let lost_granted = granted.saturating_sub(report.granted);
        let lost_denied = denied.saturating_sub(report.denied);
        report.granted = report.granted.max(granted);
        report.denied = report.denied.max(denied);
        report.folded.granted = report.folded.granted.saturating_add(lost_granted);
        report.folded.denied = report.folded.denied.saturating_add(lost_denied);
        report.folded.lost_rows = lost_granted.saturating_add(lost_denied);
    }
    for cap in settled.iter() {
        if let Some(report) = reports.get_mut(&cap) {
            report.verdict = Verdict::Needed;
        }
    }
    reports.into_values().collect()
}

/// The report of a capability every row of which was lost: counts come from the totals.
fn rowless(total: &CapTotals, settled: CapSet) -> CapReport {
    let verdict = if settled.contains(total.cap) {
        Verdict::Needed
    } else if total.denied > 0 || total.granted > 0 {
        Verdict::Denied
    } else if total.granted_created > 0 || total.denied_created > 0 {
        Verdict::Userns
    } else {
        Verdict::Probe
    };
    CapReport {
        cap: total.cap,
        verdict,
        granted: 0,
        denied: 0,
        first_seen_ns: 0,
        namespaces: Vec::new(),
        sources: Vec::new(),
        folded: Folded::default(),
    }
}

/// The capabilities whose verdict is `Needed`.
pub fn needed(reports: &[CapReport]) -> CapSet {
    with_verdict(reports, Verdict::Needed)
}

/// The capabilities whose verdict is `Denied`: asked for, refused, never granted.
pub fn denied(reports: &[CapReport]) -> CapSet {
    with_verdict(reports, Verdict::Denied)
}

fn with_verdict(reports: &[CapReport], verdict: Verdict) -> CapSet {
    reports
        .iter()
        .filter(|r| r.verdict == verdict)
        .map(|r| r.cap)
        .collect()
}

fn report(cap: Cap, checks: &[&Check]) -> CapReport {
    let (mut granted, mut denied) = (0u64, 0u64);
    for check in checks {
        if check.granted {
            granted = granted.saturating_add(check.count);
        } else {
            denied = denied.saturating_add(check.count);
        }
    }
    let mut namespaces: Vec<u32> = checks.iter().map(|c| c.ns_inum).collect();
    namespaces.sort_unstable();
    namespaces.dedup();
    let (sources, folded) = sources(checks);
    CapReport {
        cap,
        verdict: verdict(checks),
        granted,
        denied,
        first_seen_ns: checks.iter().map(|c| c.first_seen_ns).min().unwrap_or(0),
        namespaces,
        sources,
        folded,
    }
}

fn verdict(checks: &[&Check]) -> Verdict {
    let counted: Vec<&&Check> = checks
        .iter()
        .filter(|c| !is_probe(c) && !c.recovered)
        .collect();
    let on_host = |c: &&&Check| matches!(c.ns, NsPlace::Base | NsPlace::Outside);
    if counted.iter().any(|c| on_host(c) && c.granted) {
        Verdict::Needed
    } else if counted.iter().any(on_host) {
        Verdict::Denied
    } else if counted.iter().any(|c| c.ns == NsPlace::Created) {
        Verdict::Userns
    } else {
        Verdict::Probe
    }
}

/// One row per (caller, pid, comm), most checks first (ties in key order, so the output is stable), at
/// most [`MAX_SOURCES`]; the rest are summed into the `Folded`. `noaudit` is true when every check of the
/// row was made with CAP_OPT_NOAUDIT.
fn sources(checks: &[&Check]) -> (Vec<Source>, Folded) {
    let mut rows: BTreeMap<(Option<&str>, u32, &[u8]), Source> = BTreeMap::new();
    for check in checks {
        let key = (check.caller.as_deref(), check.pid, check.comm.as_slice());
        let row = rows.entry(key).or_insert_with(|| Source {
            caller: check.caller.clone(),
            pid: check.pid,
            comm: check.comm.clone(),
            granted: 0,
            denied: 0,
            noaudit: true,
        });
        if check.granted {
            row.granted = row.granted.saturating_add(check.count);
        } else {
            row.denied = row.denied.saturating_add(check.count);
        }
        row.noaudit &= check.noaudit == Some(true);
    }
    let mut rows: Vec<Source> = rows.into_values().collect();
    // A stable sort keeps the key order among rows with as many checks.
    rows.sort_by_key(|s| std::cmp::Reverse(s.granted.saturating_add(s.denied)));
    let rest = rows.split_off(rows.len().min(MAX_SOURCES));
    (rows, fold(&rest))
}

/// The sum of the source rows not listed.
fn fold(rest: &[Source]) -> Folded {
    let mut pids: Vec<u32> = rest.iter().map(|s| s.pid).filter(|&p| p != 0).collect();
    pids.sort_unstable();
    pids.dedup();
    Folded {
        sources: rest.len() as u64,
        pids: pids.len() as u64,
        granted: rest.iter().fold(0u64, |n, s| n.saturating_add(s.granted)),
        denied: rest.iter().fold(0u64, |n, s| n.saturating_add(s.denied)),
        lost_rows: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(cap: Cap, granted: bool, ns: NsPlace) -> Check {
        Check {
            cap,
            granted,
            noaudit: Some(false),
            insetid: false,
            ns,
            ns_inum: match ns {
                NsPlace::Base => 4026531837,
                NsPlace::Created => 4026532500,
                NsPlace::Outside => 4026532600,
            },
            ns_level: u32::from(ns == NsPlace::Created),
            pid: 100,
            comm: b"prog".to_vec(),
            caller: Some("inet_bind".to_string()),
            count: 1,
            first_seen_ns: 10,
            recovered: false,
        }
    }

    fn probe(cap: Cap, granted: bool) -> Check {
        Check {
            noaudit: Some(true),
            caller: Some("do_brk_flags".to_string()),
            ..check(cap, granted, NsPlace::Base)
        }
    }

    fn only(checks: &[Check]) -> Verdict {
        let reports = verdicts(checks);
        assert_eq!(reports.len(), 1);
        reports[0].verdict
    }

    #[test]
    fn needed_beats_denied_beats_userns_beats_probe() {
        let c = Cap::NET_BIND_SERVICE;
        let granted = check(c, true, NsPlace::Base);
        let refused = check(c, false, NsPlace::Base);
        let inside = check(c, true, NsPlace::Created);
        let probed = probe(c, true);
        assert_eq!(
            only(&[probed.clone(), inside.clone(), refused.clone(), granted]),
            Verdict::Needed
        );
        assert_eq!(
            only(&[probed.clone(), inside.clone(), refused]),
            Verdict::Denied
        );
        assert_eq!(only(&[probed.clone(), inside]), Verdict::Userns);
        assert_eq!(only(&[probed]), Verdict::Probe);
        // A namespace outside the base's subtree counts like the base.
        assert_eq!(only(&[check(c, true, NsPlace::Outside)]), Verdict::Needed);
        assert_eq!(only(&[check(c, false, NsPlace::Outside)]), Verdict::Denied);
        // Refused inside a namespace the program made: still no need on the host.
        assert_eq!(only(&[check(c, false, NsPlace::Created)]), Verdict::Userns);
    }

    #[test]
    fn the_memory_accounting_probe_never_makes_a_need_and_seccomp_does() {
        // `ls -l` as root: granted no-audit CAP_SYS_ADMIN checks from the accounting sites only.
        let ls = [probe(Cap::SYS_ADMIN, true), probe(Cap::SYS_ADMIN, false)];
        assert_eq!(only(&ls), Verdict::Probe);
        assert!(needed(&verdicts(&ls)).is_empty());
        // A non-root program installing a seccomp filter without no_new_privs: refused, not a probe.
        let seccomp = Check {
            noaudit: Some(true),
            caller: Some("seccomp_prepare_filter".to_string()),
            ..check(Cap::SYS_ADMIN, false, NsPlace::Base)
        };
        assert_eq!(
            only(&[seccomp.clone(), probe(Cap::SYS_ADMIN, false)]),
            Verdict::Denied
        );
        // Unclassified checks (the verdict was settled in the kernel) count.
        let unclassified = Check {
            noaudit: None,
            caller: None,
            ..check(Cap::SYS_ADMIN, true, NsPlace::Base)
        };
        assert_eq!(only(&[unclassified]), Verdict::Needed);
    }

    #[test]
    fn a_lookup_of_a_failed_exec_the_process_recovered_from_is_no_need() {
        // execvp searching /root/bin as nobody, then finding the file in /usr/bin.
        let walk = Check {
            caller: Some("generic_permission".to_string()),
            recovered: true,
            ..check(Cap::DAC_READ_SEARCH, true, NsPlace::Base)
        };
        assert_eq!(only(std::slice::from_ref(&walk)), Verdict::Probe);
        // The same capability granted elsewhere still makes a need.
        let open = Check {
            recovered: false,
            ..walk.clone()
        };
        assert_eq!(only(&[walk, open]), Verdict::Needed);
    }

    #[test]
    fn totals_namespaces_and_order() {
        let mut a = check(Cap::NET_RAW, true, NsPlace::Base);
        a.count = u64::MAX;
        a.first_seen_ns = 50;
        let mut b = check(Cap::NET_RAW, true, NsPlace::Outside);
        b.count = 5;
        b.first_seen_ns = 7;
        let c = check(Cap::CHOWN, false, NsPlace::Created);
        let reports = verdicts(&[a, b, c.clone(), c]);
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[0].cap, Cap::CHOWN);
        assert_eq!(reports[0].denied, 2);
        assert_eq!(reports[0].namespaces, [4026532500]);
        assert_eq!(reports[1].cap, Cap::NET_RAW);
        assert_eq!(reports[1].granted, u64::MAX);
        assert_eq!(reports[1].first_seen_ns, 7);
        assert_eq!(reports[1].namespaces, [4026531837, 4026532600]);
        assert_eq!(needed(&reports), CapSet::from(Cap::NET_RAW));
        assert!(denied(&reports).is_empty());
        assert!(verdicts(&[]).is_empty());
    }

    #[test]
    fn sources_are_grouped_sorted_and_capped() {
        let mut checks = Vec::new();
        for pid in 0..40u32 {
            let mut c = check(Cap::CHOWN, pid % 2 == 0, NsPlace::Base);
            c.pid = pid;
            c.count = u64::from(pid) + 1;
            checks.push(c.clone());
            // Same key again: summed into the same row.
            checks.push(c);
        }
        let report = &verdicts(&checks)[0];
        assert_eq!(report.sources.len(), MAX_SOURCES);
        assert_eq!(report.sources[0].pid, 39);
        assert_eq!(report.sources[0].denied, 80);
        assert!(report
            .sources
            .windows(2)
            .all(|w| w[0].granted + w[0].denied >= w[1].granted + w[1].denied));
        // The rows left out still count in the totals, and are said: listed plus folded add up.
        let total: u64 = (1..=40u64).map(|n| 2 * n).sum();
        assert_eq!(report.granted + report.denied, total);
        assert!(!report.sources[0].noaudit);
        assert_eq!(report.folded.sources, 40 - MAX_SOURCES as u64);
        // The quietest rows, pids 0 to 23: pid 0 (checks counted without their process) is no process.
        assert_eq!(report.folded.pids, 40 - MAX_SOURCES as u64 - 1);
        let listed = |f: fn(&Source) -> u64| report.sources.iter().map(f).sum::<u64>();
        assert_eq!(
            listed(|s| s.granted) + report.folded.granted,
            report.granted
        );
        assert_eq!(listed(|s| s.denied) + report.folded.denied, report.denied);
    }

    #[test]
    fn totals_keep_counts_and_a_settled_need_that_the_maps_lost() {
        // The maps kept one refused chown row; the kernel's totals saw three granted and one refused, and
        // chown was settled (granted on an audited check); cap_kill lost every row.
        let rows = [check(Cap::CHOWN, false, NsPlace::Base)];
        let totals = [
            CapTotals {
                cap: Cap::CHOWN,
                granted: 3,
                denied: 1,
                granted_created: 0,
                denied_created: 0,
            },
            CapTotals {
                cap: Cap::KILL,
                granted: 2,
                denied: 0,
                granted_created: 0,
                denied_created: 0,
            },
        ];
        let settled = CapSet::EMPTY.with(Cap::CHOWN).with(Cap::KILL);
        let reports = verdicts_exact(&rows, &totals, settled);
        assert_eq!(reports.len(), 2);
        let chown = &reports[0];
        assert_eq!((chown.cap, chown.verdict), (Cap::CHOWN, Verdict::Needed));
        assert_eq!((chown.granted, chown.denied), (3, 1));
        assert_eq!(chown.folded.lost_rows, 3);
        assert_eq!(chown.folded.granted, 3);
        let kill = &reports[1];
        assert_eq!((kill.verdict, kill.granted), (Verdict::Needed, 2));
        assert!(kill.sources.is_empty());
        assert_eq!(kill.folded.lost_rows, 2);
        assert_eq!(needed(&reports), settled);
    }

    #[test]
    fn a_row_is_no_audit_only_when_every_check_was() {
        let mut audited = probe(Cap::SYS_ADMIN, true);
        audited.noaudit = Some(false);
        let report = &verdicts(&[probe(Cap::SYS_ADMIN, true), audited])[0];
        assert_eq!(report.sources.len(), 1);
        assert!(!report.sources[0].noaudit);
        let report = &verdicts(&[probe(Cap::SYS_ADMIN, true)])[0];
        assert!(report.sources[0].noaudit);
    }

    fn arb_check() -> impl Strategy<Value = Check> {
        (
            0u32..64,
            any::<bool>(),
            prop_oneof![Just(None), Just(Some(false)), Just(Some(true))],
            prop_oneof![
                Just(NsPlace::Base),
                Just(NsPlace::Created),
                Just(NsPlace::Outside)
            ],
            prop_oneof![
                Just(None),
                Just(Some("do_brk_flags")),
                Just(Some("seccomp_prepare_filter")),
                Just(Some("inet_bind")),
            ],
            0u32..4,
            any::<u64>(),
            any::<u64>(),
        )
            .prop_map(
                |(bit, granted, noaudit, ns, caller, pid, count, first)| Check {
                    cap: Cap::new(bit).unwrap_or(Cap::CHOWN),
                    granted,
                    noaudit,
                    insetid: false,
                    ns,
                    ns_inum: pid,
                    ns_level: 0,
                    pid,
                    comm: vec![b'a'; pid as usize],
                    caller: caller.map(str::to_string),
                    count,
                    first_seen_ns: first,
                    recovered: false,
                },
            )
    }

    proptest! {
        #[test]
        fn needed_caps_have_a_granted_counted_host_check(checks in prop::collection::vec(arb_check(), 0..40)) {
            let reports = verdicts(&checks);
            for cap in needed(&reports).iter() {
                prop_assert!(checks.iter().any(|c| c.cap == cap
                    && c.granted
                    && !is_probe(c)
                    && c.ns != NsPlace::Created));
            }
            for cap in denied(&reports).iter() {
                prop_assert!(checks.iter().all(|c| c.cap != cap
                    || is_probe(c)
                    || c.ns == NsPlace::Created
                    || !c.granted));
            }
            // One report per capability seen, in order, each with at most MAX_SOURCES sources.
            let seen: CapSet = checks.iter().map(|c| c.cap).collect();
            prop_assert_eq!(reports.iter().map(|r| r.cap).collect::<CapSet>(), seen);
            prop_assert!(reports.windows(2).all(|w| w[0].cap < w[1].cap));
            prop_assert!(reports.iter().all(|r| r.sources.len() <= MAX_SOURCES));
        }
    }
}
