//! Every scenario of spec §10, verified on Linux 6.18, as a table.
//!
//! The fixtures here (callers, files, the scenario table) are shared with the tests of the other files of
//! `exec`, which is why some are `pub(super)`.

use super::*;
use crate::text::CapState;
use crate::xattr::FileCaps;

pub(super) const B0: u64 = 0x1ff_feff_ffff;
const FULL: u64 = 0x1ff_ffff_ffff;
pub(super) const NR: u64 = 0x2000;
pub(super) const NA: u64 = 0x1000;
const SU: u64 = 0x80;
const SR: u64 = 0x100_0000;

pub(super) fn set(bits: u64) -> CapSet {
    CapSet::from_bits(bits)
}

/// uid and gid r/e/s/fs all `id`, bounding B0, nothing else.
pub(super) fn user(id: u32) -> Caller {
    Caller {
        creds: Creds {
            uid: Ids::all(id),
            gid: Ids::all(id),
            bounding: set(B0),
            ..Creds::default()
        },
        ..Caller::default()
    }
}

fn root() -> Caller {
    user(0).caps(0, B0, B0, 0)
}

impl Caller {
    pub(super) fn caps(mut self, i: u64, p: u64, e: u64, a: u64) -> Caller {
        self.creds.inheritable = set(i);
        self.creds.permitted = set(p);
        self.creds.effective = set(e);
        self.creds.ambient = set(a);
        self
    }
    fn uids(mut self, r: u32, e: u32, s: u32) -> Caller {
        self.creds.uid = Ids {
            real: r,
            effective: e,
            saved: s,
            fs: e,
        };
        self
    }
    pub(super) fn nnp(mut self) -> Caller {
        self.creds.no_new_privs = true;
        self
    }
    fn securebits(mut self, bits: u64) -> Caller {
        self.creds.securebits = Securebits::from_bits(bits).unwrap();
        self
    }
    fn in_ns(mut self, chain: NsChain) -> Caller {
        self.userns = chain;
        self.creds.bounding = set(FULL);
        self
    }
}

fn plain() -> FileState {
    FileState::default()
}

pub(super) fn with_text(text: &str) -> FileState {
    let state = CapState::from_text(text, 41).unwrap();
    file_xattr(FileCaps::from_state(state, None).unwrap().encode())
}

fn file_xattr(raw: Vec<u8>) -> FileState {
    FileState {
        xattr: Some(raw),
        ..plain()
    }
}

pub(super) fn words(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

pub(super) fn v3(rootid: u32) -> Vec<u8> {
    words(&[0x0300_0001, NR as u32, 0, 0, 0, rootid])
}

fn setuid(owner: u32) -> FileState {
    FileState {
        mode: 0o104_755,
        owner,
        group: owner,
        ..plain()
    }
}

pub(super) fn ns(inside: u32, outside: u32, count: u32) -> UserNs {
    UserNs::mapping(&[IdRange {
        inside,
        outside,
        count,
    }])
}

/// What a scenario expects; `None` means "unchanged from the caller" for ids and "empty" never.
#[derive(Clone, Copy)]
pub(super) struct Expect {
    euid: Option<u32>,
    egid: Option<u32>,
    p: u64,
    e: u64,
    a: u64,
    secure: bool,
    securebits: Option<u32>,
}

fn ok(p: u64, e: u64, a: u64, secure: bool) -> Result<Expect, Errno> {
    Ok(Expect {
        euid: None,
        egid: None,
        p,
        e,
        a,
        secure,
        securebits: None,
    })
}

fn with_euid(expect: Result<Expect, Errno>, euid: u32) -> Result<Expect, Errno> {
    expect.map(|x| Expect {
        euid: Some(euid),
        ..x
    })
}

fn with_egid(expect: Result<Expect, Errno>, egid: u32) -> Result<Expect, Errno> {
    expect.map(|x| Expect {
        egid: Some(egid),
        ..x
    })
}

fn with_securebits(expect: Result<Expect, Errno>, bits: u32) -> Result<Expect, Errno> {
    expect.map(|x| Expect {
        securebits: Some(bits),
        ..x
    })
}

type Row = (&'static str, Caller, FileState, Result<Expect, Errno>);

fn traced(mut caller: Caller, tracing: Tracing) -> Caller {
    caller.tracing = tracing;
    caller
}

fn fs_shared(mut caller: Caller) -> Caller {
    caller.fs_shared = true;
    caller
}

pub(super) fn scenarios() -> Vec<Row> {
    let mut s21 = user(1000).caps(NR, NR, NR, NR);
    s21.creds.groups = vec![50];
    let setgid50 = FileState {
        mode: 0o102_755,
        group: 50,
        ..plain()
    };
    let mut s23 = user(1000).caps(NR, NR, NR, NR);
    s23.creds.gid.fs = 50;
    let mut s57 = user(1000).caps(NR, 0, 0, 0);
    s57.creds.bounding = set(B0 & !NR);
    let ns1 = || NsChain(vec![ns(0, 100_000, 65536)]);
    let u6_file = FileState {
        owner: 100_000,
        group: 100_000,
        ..setuid(0)
    };
    vec![
        ("S1", root(), plain(), ok(B0, B0, 0, false)),
        ("S2", user(1000), plain(), ok(0, 0, 0, false)),
        (
            "S3",
            user(1000).caps(NR, NR, NR, NR),
            plain(),
            ok(NR, NR, NR, false),
        ),
        (
            "S4",
            user(1000),
            with_text("cap_net_raw+ep"),
            ok(NR, NR, 0, true),
        ),
        (
            "S5",
            user(1000),
            with_text("cap_net_raw+p"),
            ok(NR, 0, 0, true),
        ),
        (
            "S6",
            user(1000),
            with_text("cap_net_raw=ei"),
            ok(0, 0, 0, true),
        ),
        (
            "S7",
            user(1000).caps(NR, 0, 0, 0),
            with_text("cap_net_raw=ei"),
            ok(NR, NR, 0, true),
        ),
        (
            "S8",
            user(1000),
            with_text("cap_sys_resource+ep"),
            Err(Errno::Eperm),
        ),
        (
            "S9",
            root(),
            with_text("cap_sys_resource+ep"),
            Err(Errno::Eperm),
        ),
        (
            "S10",
            user(1000),
            with_text("cap_sys_resource+p"),
            ok(0, 0, 0, false),
        ),
        (
            "S11",
            user(1000),
            setuid(0),
            with_euid(ok(B0, B0, 0, true), 0),
        ),
        (
            "S12",
            user(1000).caps(NR, NR, NR, NR),
            setuid(0),
            with_euid(ok(B0, B0, 0, true), 0),
        ),
        (
            "S13",
            user(1000),
            FileState {
                xattr: with_text("cap_net_raw+ep").xattr,
                ..setuid(0)
            },
            with_euid(ok(NR, NR, 0, true), 0),
        ),
        (
            "S14",
            user(1000),
            FileState {
                xattr: Some(words(&[0x0200_0000, 0, 0, 0, 0])),
                ..setuid(0)
            },
            with_euid(ok(0, 0, 0, true), 0),
        ),
        ("S15", user(1000).nnp(), setuid(0), ok(0, 0, 0, false)),
        (
            "S16",
            user(1000),
            FileState {
                nosuid: true,
                ..setuid(0)
            },
            ok(0, 0, 0, false),
        ),
        (
            "S17",
            user(1000).caps(NR, NR, NR, NR),
            FileState {
                nosuid: true,
                ..with_text("cap_net_admin+p")
            },
            ok(NR, NR, NR, false),
        ),
        (
            "S18",
            user(1000).caps(NR, NR, NR, NR),
            with_text("cap_net_admin+p"),
            ok(NA, 0, 0, true),
        ),
        (
            "S19",
            user(1000).caps(NR, NR, NR, NR),
            setuid(1000),
            ok(NR, NR, NR, false),
        ),
        (
            "S20",
            user(1000).caps(NR, NR, NR, NR),
            setuid(1001),
            with_euid(ok(0, 0, 0, true), 1001),
        ),
        (
            "S21",
            s21,
            setgid50.clone(),
            with_egid(ok(NR, NR, NR, true), 50),
        ),
        (
            "S22",
            user(1000).caps(NR, NR, NR, NR),
            setgid50.clone(),
            with_egid(ok(0, 0, 0, true), 50),
        ),
        (
            "S23",
            s23,
            setgid50.clone(),
            with_egid(ok(NR, NR, NR, true), 50),
        ),
        (
            "S24",
            user(1000),
            FileState {
                mode: 0o102_745,
                ..setgid50
            },
            ok(0, 0, 0, false),
        ),
        (
            "S25",
            user(1000).caps(0, NA, 0, 0).nnp(),
            with_text("cap_net_raw+ep"),
            ok(0, 0, 0, true),
        ),
        (
            "S26",
            user(1000).caps(0, NR, 0, 0).nnp(),
            with_text("cap_net_raw+ep"),
            ok(NR, NR, 0, true),
        ),
        (
            "S27",
            user(1000).caps(NR, NR, NR, NR).nnp(),
            with_text("cap_net_admin+p"),
            ok(0, 0, 0, false),
        ),
        (
            "S28",
            traced(user(1000), Tracing::TracerNotCapable),
            with_text("cap_net_raw+ep"),
            ok(0, 0, 0, true),
        ),
        (
            "S29",
            traced(user(1000), Tracing::TracerCapable),
            with_text("cap_net_raw+ep"),
            ok(NR, NR, 0, true),
        ),
        (
            "S30",
            traced(user(1000), Tracing::TracerNotCapable),
            setuid(0),
            ok(0, 0, 0, true),
        ),
        (
            "S31",
            traced(user(1000), Tracing::TracerCapable),
            setuid(0),
            with_euid(ok(B0, B0, 0, true), 0),
        ),
        ("S32", fs_shared(user(1000)), setuid(0), ok(0, 0, 0, true)),
        (
            "S33",
            fs_shared(user(1000).caps(0, SU, SU, 0)),
            setuid(0),
            with_euid(ok(SU, SU, 0, true), 0),
        ),
        (
            "S34",
            fs_shared(user(1000).caps(0, SU, 0, 0)),
            setuid(0),
            ok(SU, SU, 0, true),
        ),
        ("S35", root().securebits(0x1), plain(), ok(0, 0, 0, false)),
        (
            "S36",
            root().securebits(0x33),
            plain(),
            with_securebits(ok(0, 0, 0, false), 0x23),
        ),
        (
            "S37",
            root().securebits(0x1),
            with_text("cap_net_raw+ep"),
            ok(NR, NR, 0, false),
        ),
        (
            "S38",
            root().caps(NR, B0, B0, NR).securebits(0x1),
            plain(),
            ok(NR, NR, NR, false),
        ),
        (
            "S39",
            user(1000).securebits(0x1),
            setuid(0),
            with_euid(ok(0, 0, 0, true), 0),
        ),
        (
            "S40",
            user(0).uids(0, 1000, 1000).caps(0, B0, 0, 0),
            plain(),
            ok(B0, 0, 0, true),
        ),
        (
            "S41",
            user(0).uids(0, 1000, 1000).caps(0, B0, 0, 0),
            with_text("cap_net_raw+ep"),
            ok(B0, B0, 0, true),
        ),
        (
            "S42",
            user(0).uids(1000, 0, 0).caps(0, B0, B0, 0).nnp(),
            plain(),
            ok(B0, B0, 0, true),
        ),
        (
            "S43",
            user(0).uids(1000, 0, 0).caps(0, NR, NR, 0).nnp(),
            plain(),
            with_euid(ok(NR, NR, 0, true), 1000),
        ),
        (
            "S44",
            user(0).uids(1000, 0, 0).caps(NR, B0, B0, NR),
            plain(),
            ok(B0, B0, NR, true),
        ),
        (
            "S45",
            user(0).uids(0, 1000, 1000).caps(NR, B0, NR, NR),
            plain(),
            ok(B0, NR, NR, true),
        ),
        (
            "S46",
            root().caps(NR, B0, B0, NR),
            setuid(1000),
            with_euid(ok(B0, 0, 0, true), 1000),
        ),
        (
            "S47",
            user(1000),
            file_xattr(words(&[0x0200_0001, NR as u32, 0, 0x200, 0])),
            ok(NR, NR, 0, true),
        ),
        (
            "S48",
            user(1000),
            file_xattr(Vec::new()),
            Err(Errno::Einval),
        ),
        (
            "S49",
            user(1000),
            file_xattr(words(&[0x0200_0001, NR as u32, 0, 0, 0, 0, 0])),
            Err(Errno::Erange),
        ),
        (
            "S50",
            user(1000),
            file_xattr([words(&[0x0200_0001, NR as u32, 0, 0, 0]), vec![0, 0]].concat()),
            Err(Errno::Einval),
        ),
        (
            "S51",
            user(1000),
            file_xattr(words(&[0x0100_0001, NR as u32, 0])),
            ok(NR, NR, 0, true),
        ),
        (
            "S52",
            user(1000),
            file_xattr(words(&[0x0200_0003, NR as u32, 0, 0, 0])),
            ok(NR, NR, 0, true),
        ),
        (
            "S53",
            user(1000).caps(NA, NA, NA, NA),
            file_xattr(v3(u32::MAX)),
            ok(NA, NA, NA, false),
        ),
        (
            "S54",
            user(1000).caps(NR, 0, 0, 0),
            file_xattr(words(&[0x0200_0001, 0, NR as u32, 0, 0])),
            ok(NR, NR, 0, true),
        ),
        (
            "S54b",
            user(1000),
            file_xattr(words(&[0x0200_0001, 0, NR as u32, 0, 0])),
            ok(0, 0, 0, true),
        ),
        (
            "S55",
            user(1000).caps(NR, NR, NR, NR),
            file_xattr(words(&[0x0200_0000, 0, 0, 0, 0])),
            ok(0, 0, 0, false),
        ),
        (
            "S56",
            root().securebits(0xfff),
            plain(),
            with_securebits(ok(0, 0, 0, false), 0xfef),
        ),
        (
            "S57",
            s57.clone(),
            with_text("cap_net_raw=ei"),
            ok(NR, NR, 0, true),
        ),
        ("S58", s57, with_text("cap_net_raw+ep"), Err(Errno::Eperm)),
        // S59-S61: the credentials come from the final interpreter; the script's own bits do not count.
        ("S59", user(1000), plain(), ok(0, 0, 0, false)),
        (
            "S60",
            user(1000),
            with_text("cap_net_raw+ep"),
            ok(NR, NR, 0, true),
        ),
        ("S61", user(1000), plain(), ok(0, 0, 0, false)),
        (
            "U1",
            user(1000).caps(NA, NA, NA, NA),
            file_xattr(v3(100_000)),
            ok(NA, NA, NA, false),
        ),
        (
            "U2",
            user(1000).in_ns(ns1()),
            file_xattr(v3(100_000)),
            ok(NR, NR, 0, true),
        ),
        (
            "U3",
            user(1000).in_ns(NsChain(vec![ns(0, 200_000, 65536)])),
            file_xattr(v3(100_000)),
            ok(0, 0, 0, false),
        ),
        (
            "U4",
            user(1000).in_ns(ns1()),
            with_text("cap_sys_resource+ep"),
            ok(SR, SR, 0, true),
        ),
        ("U5", user(1000).in_ns(ns1()), setuid(0), ok(0, 0, 0, false)),
        (
            "U6",
            user(1000).in_ns(ns1()),
            u6_file,
            with_euid(ok(FULL, FULL, 0, true), 0),
        ),
        (
            "U7",
            user(5).in_ns(NsChain(vec![ns(0, 1000, 1000), ns(0, 100_000, 65536)])),
            file_xattr(v3(100_000)),
            ok(NR, NR, 0, true),
        ),
        (
            "U8",
            user(0).in_ns(ns1()).securebits(0x1),
            file_xattr(v3(100_000)),
            ok(NR, NR, 0, false),
        ),
    ]
}

fn check(
    name: &str,
    caller: &Caller,
    file: &FileState,
    rules: KernelRules,
    want: Result<Expect, Errno>,
) {
    let kernel = Kernel {
        rules,
        ..Kernel::default()
    };
    let sim = simulate(caller, file, kernel);
    let old = &caller.creds;
    match (sim.result, want) {
        (Err(err), Err(errno)) => assert_eq!(err.errno, errno, "{name}"),
        (Ok(after), Ok(want)) => {
            let new = &after.creds;
            let euid = want.euid.unwrap_or(old.uid.effective);
            let egid = want.egid.unwrap_or(old.gid.effective);
            let got = (
                new.uid,
                new.gid,
                new.permitted.bits(),
                new.effective.bits(),
                new.ambient.bits(),
                new.inheritable,
                new.bounding,
                after.secure_exec,
                new.securebits.bits(),
            );
            let expected = (
                Ids {
                    real: old.uid.real,
                    effective: euid,
                    saved: euid,
                    fs: euid,
                },
                Ids {
                    real: old.gid.real,
                    effective: egid,
                    saved: egid,
                    fs: egid,
                },
                want.p,
                want.e,
                want.a,
                old.inheritable,
                old.bounding,
                want.secure,
                want.securebits.unwrap_or(old.securebits.bits() & !0x10),
            );
            assert_eq!(got, expected, "{name}: {:#?}", sim.trace.steps);
            assert_eq!(new.groups, old.groups, "{name}");
            assert_eq!(new.no_new_privs, old.no_new_privs, "{name}");
        }
        (got, want) => panic!("{name}: got {got:?}, want {:?}", want.map(|_| "ok")),
    }
}

#[test]
fn spec_section_10_current_rules() {
    let rows = scenarios();
    assert_eq!(rows.len(), 70);
    for (name, caller, file, want) in rows {
        check(name, &caller, &file, KernelRules::Current, want);
    }
}

#[test]
fn spec_section_6_legacy_rules_differ_only_where_stated() {
    for (name, caller, file, want) in scenarios() {
        let want = match name {
            // Setgid into a supplementary group (or the fsgid) is set-id before 6.16: ambient cleared.
            "S21" | "S23" => with_egid(ok(0, 0, 0, true), 50),
            // ruid 1000, euid 0 under NNP: euid reverted on any exec.
            "S42" => with_euid(ok(B0, B0, 0, true), 1000),
            // ruid 1000, euid 0: ambient cleared on any exec.
            "S44" => ok(B0, B0, 0, true),
            // ruid 0, euid 1000 is set-id as well: ambient cleared, so E' = A' = 0.
            "S45" => ok(B0, 0, 0, true),
            _ => want,
        };
        check(name, &caller, &file, KernelRules::Legacy, want);
    }
}

#[test]
fn impossible_ambient_is_refused_first() {
    let caller = user(1000).caps(0, NR, NR, NR);
    let sim = simulate(&caller, &file_xattr(Vec::new()), Kernel::default());
    assert_eq!(sim.result.unwrap_err().errno, Errno::Eperm);
}

#[test]
fn kernel_version_picks_rules() {
    assert_eq!(KernelRules::for_version(6, 18), KernelRules::Current);
    assert_eq!(KernelRules::for_version(6, 16), KernelRules::Current);
    assert_eq!(KernelRules::for_version(6, 15), KernelRules::Legacy);
    assert_eq!(KernelRules::for_version(5, 19), KernelRules::Legacy);
}
