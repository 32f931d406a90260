//! captrace's verdicts and recommendations over arbitrary checks and run facts: never panic, a needed
//! capability always has a granted check that counts, and every form has a reason when it does not work.
#![no_main]

use capcore::exec::FileState;
use capcore::needs::{self, Check, NsPlace, RunFacts, RunUser};
use capcore::{Cap, CapSet};
use libfuzzer_sys::fuzz_target;

const CALLERS: [Option<&str>; 5] = [
    None,
    Some("do_brk_flags"),
    Some("seccomp_prepare_filter"),
    Some("inet_bind+0x12/0x40"),
    Some("do_task_stat.isra.0"),
];

fn check(bytes: &[u8]) -> Check {
    Check {
        cap: Cap::new(u32::from(bytes[0] & 63)).unwrap_or(Cap::CHOWN),
        granted: bytes[1] & 1 != 0,
        noaudit: match (bytes[1] >> 1) & 3 {
            0 => None,
            1 => Some(false),
            _ => Some(true),
        },
        insetid: bytes[1] & 8 != 0,
        ns: [NsPlace::Base, NsPlace::Created, NsPlace::Outside][usize::from(bytes[2] % 3)],
        ns_inum: u32::from(bytes[2]),
        ns_level: u32::from(bytes[2] % 3),
        pid: u32::from(bytes[3]),
        comm: bytes[3..5].to_vec(),
        caller: CALLERS[usize::from(bytes[5]) % CALLERS.len()].map(str::to_string),
        count: u64::from_le_bytes([bytes[6], bytes[7], 0, 0, 0, 0, 0, bytes[7]]),
        first_seen_ns: u64::from(bytes[6]),
    }
}

fn facts(bytes: &[u8]) -> RunFacts {
    let uid = u32::from_le_bytes([bytes[0], bytes[1], 0, bytes[2] & 0x81]);
    RunFacts {
        user: (bytes[3] & 1 != 0).then(|| RunUser {
            uid,
            gid: uid,
            groups: Vec::new(),
            name: Some(String::from_utf8_lossy(&bytes[4..8]).into_owned()),
        }),
        file: FileState {
            mode: 0o100_755 | (u32::from(bytes[3] & 0x60) << 6),
            owner: uid,
            group: uid,
            xattr: (bytes[3] & 2 != 0).then(|| bytes[8..8 + usize::from(bytes[5] % 25)].to_vec()),
            nosuid: bytes[3] & 4 != 0,
            ..FileState::default()
        },
        program: String::from_utf8_lossy(&bytes[4..8]).into_owned(),
        exec_gained_privilege: bytes[3] & 8 != 0,
        known: u32::from(bytes[6] % 70),
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 33 {
        return;
    }
    let (head, rest) = data.split_at(33);
    let checks: Vec<Check> = rest.chunks_exact(8).take(256).map(check).collect();
    let reports = needs::verdicts(&checks);
    let needed = needs::needed(&reports);
    for cap in needed.iter() {
        assert!(checks
            .iter()
            .any(|c| c.cap == cap && c.granted && c.ns != NsPlace::Created && !needs::is_probe(c)));
    }
    assert!((needed & needs::denied(&reports)).is_empty());
    let r = needs::recommend(
        needed | CapSet::from_bits(u64::from(head[32])),
        &facts(head),
    );
    for advice in [&r.docker, &r.kubernetes, &r.systemd]
        .into_iter()
        .chain(r.setcap.as_ref())
    {
        assert_eq!(advice.works, advice.why.is_none());
    }
});
