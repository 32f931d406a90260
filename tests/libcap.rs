//! capcore against libcap itself: masks against `capsh --decode`, printing against `getcap` on real
//! xattrs, and parsing against `setcap` (which is cap_from_text). Each runs thousands of seeded random cases;
//! set CAPKIT_SEED to replay a failure.

use std::fs;
use std::path::Path;
use std::process::Command;

use capcore::{CapSet, CapState, FileCaps, Revision};

use crate::skip_unless;
use crate::util::{is_root, run_cmd, tool, Rng};

const CASES: usize = 10_000;

fn known() -> u32 {
    capsys::kernel::known_caps_or_default()
}

#[test]
fn hex_decode_matches_capsh() {
    let Some(capsh) = tool("capsh") else {
        crate::util::skipped("capsh is not installed (apt-get install libcap2-bin)");
        return;
    };
    let seed = Rng::seed_from_env(0x5eed_0001);
    let mut rng = Rng::new(seed);
    let masks: Vec<u64> = (0..CASES).map(|_| rng.mask()).collect();
    for chunk in masks.chunks(1000) {
        let args: Vec<String> = chunk.iter().map(|m| format!("--decode={m:x}")).collect();
        let run = run_cmd(Command::new(&capsh).args(&args), None);
        assert_eq!(run.code, 0, "capsh failed: {}", run.stderr);
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.len(), chunk.len(), "seed {seed}");
        for (mask, line) in chunk.iter().zip(lines) {
            let hex = format!("{mask:x}");
            let ours = capcore::parse_mask(&hex).expect("our own hex parses");
            assert_eq!(
                format!("0x{}={}", ours.hex(), ours),
                line,
                "mask {hex}, seed {seed}"
            );
        }
    }
}

#[test]
fn capdecode_matches_capsh_through_the_binary() {
    let Some(capsh) = tool("capsh") else {
        crate::util::skipped("capsh is not installed");
        return;
    };
    let mut rng = Rng::new(Rng::seed_from_env(0x5eed_0002));
    let masks: Vec<String> = (0..200).map(|_| format!("{:016x}", rng.mask())).collect();
    let input = masks.join("\n");
    let ours = crate::util::run(
        "capdecode",
        &["--json", "--as", "mask"],
        Some(input.as_bytes()),
    );
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let args: Vec<String> = masks.iter().map(|m| format!("--decode={m}")).collect();
    let theirs = run_cmd(Command::new(&capsh).args(&args), None);
    for (record, line) in ours.json_lines().iter().zip(theirs.stdout.lines()) {
        let (hex, names) = line.split_once('=').expect("capsh prints HEX=NAMES");
        assert_eq!(
            format!("0x{}", record["set"]["hex"].as_str().unwrap_or_default()),
            hex
        );
        let caps: Vec<&str> = record["set"]["caps"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(caps.join(","), names);
    }
}

/// A random file capability as setcap could write it: v2, or v3 with a rootid, with any bits.
fn random_file_caps(rng: &mut Rng) -> FileCaps {
    let v3 = rng.next() % 5 == 0;
    FileCaps {
        revision: if v3 { Revision::V3 } else { Revision::V2 },
        effective: rng.next() % 2 == 0,
        permitted: CapSet::from_bits(rng.mask()),
        inheritable: CapSet::from_bits(if rng.next() % 3 == 0 { 0 } else { rng.mask() }),
        rootid: v3.then(|| 1 + (rng.next() % 200_000) as u32),
        stray_flags: 0,
    }
}

#[test]
fn cap_to_text_matches_getcap_on_real_xattrs() {
    skip_unless!(
        is_root(),
        "writing security.capability needs CAP_SETFCAP (run as root)"
    );
    let Some(getcap) = tool("getcap") else {
        crate::util::skipped("getcap is not installed (apt-get install libcap2-bin)");
        return;
    };
    let seed = Rng::seed_from_env(0x5eed_0003);
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut expected = std::collections::HashMap::new();
    for i in 0..CASES {
        let caps = random_file_caps(&mut rng);
        let path = dir.path().join(format!("f{i}"));
        fs::write(&path, b"").expect("create file");
        xattr::set(&path, "security.capability", &caps.encode()).expect("setxattr");
        let mut line = format!("{} {}", path.display(), caps.getcap_text(known()));
        if let Some(rootid) = caps.rootid {
            line.push_str(&format!(" [rootid={rootid}]"));
        }
        expected.insert(path.display().to_string(), line);
    }
    let run = run_cmd(
        Command::new(getcap).arg("-n").arg("-r").arg(dir.path()),
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut seen = 0;
    for line in run.stdout.lines() {
        let path = line.split(' ').next().unwrap_or_default();
        let ours = expected
            .get(path)
            .unwrap_or_else(|| panic!("getcap printed an unknown file: {line}"));
        assert_eq!(ours, line, "seed {seed}");
        seen += 1;
    }
    assert_eq!(seen, CASES, "getcap printed every file");
}

/// A random string shaped like libcap text: mostly plausible pieces, sometimes broken.
fn random_text(rng: &mut Rng) -> String {
    const CAPS: [&str; 12] = [
        "cap_chown",
        "CAP_NET_RAW",
        "Cap_Sys_Admin",
        "all",
        "ALL",
        "cap_bpf",
        "cap_checkpoint_restore",
        "net_raw",
        "13",
        "0x15",
        "041",
        "64",
    ];
    const OPS: [&str; 7] = ["=", "+", "-", "=+", "=-", "+", "="];
    const FLAGS: [&str; 9] = ["e", "i", "p", "ep", "eip", "pie", "", "E", "x"];
    let mut text = String::new();
    for clause in 0..=(rng.next() % 3) {
        if clause > 0 {
            text.push(' ');
        }
        if rng.next() % 4 != 0 {
            for i in 0..=(rng.next() % 3) {
                if i > 0 {
                    text.push(',');
                }
                text.push_str(CAPS[(rng.next() % CAPS.len() as u64) as usize]);
            }
        }
        for step in 0..=(rng.next() % 2) {
            let op = OPS[(rng.next() % OPS.len() as u64) as usize];
            text.push_str(if step == 0 { op } else { &op[op.len() - 1..] });
            text.push_str(FLAGS[(rng.next() % FLAGS.len() as u64) as usize]);
        }
    }
    text
}

#[test]
fn cap_from_text_matches_setcap() {
    skip_unless!(is_root(), "setcap needs CAP_SETFCAP (run as root)");
    let Some(setcap) = tool("setcap") else {
        crate::util::skipped("setcap is not installed (apt-get install libcap2-bin)");
        return;
    };
    let seed = Rng::seed_from_env(0x5eed_0004);
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("target");
    fs::write(&file, b"").expect("create file");
    let (mut accepted, mut rejected) = (0, 0);
    for _ in 0..1500 {
        let text = random_text(&mut rng);
        if text.starts_with('-') || text.trim().is_empty() {
            continue; // setcap would read these as options
        }
        let _ = xattr::remove(&file, "security.capability");
        let run = run_cmd(Command::new(&setcap).arg(&text).arg(&file), None);
        let ours = CapState::from_text(&text, known());
        let context = format!(
            "text {text:?}, seed {seed}, setcap said {}",
            run.stderr.lines().next().unwrap_or("")
        );
        if run.code == 0 {
            let ours =
                ours.unwrap_or_else(|e| panic!("we reject what libcap accepts ({e}): {context}"));
            let stored = xattr::get(&file, "security.capability")
                .ok()
                .flatten()
                .unwrap_or_default();
            let caps =
                FileCaps::from_state(ours, None).unwrap_or_else(|e| panic!("{e}: {context}"));
            assert_eq!(caps.encode(), stored, "{context}");
            accepted += 1;
        } else if run.stderr.contains("Invalid argument") {
            assert!(ours.is_err(), "we accept what libcap rejects: {context}");
            rejected += 1;
        } else {
            // cap_from_text accepted it, but the effective set is not empty or P|I.
            let ours =
                ours.unwrap_or_else(|e| panic!("we reject what libcap parses ({e}): {context}"));
            assert!(FileCaps::from_state(ours, None).is_err(), "{context}");
        }
    }
    assert!(
        accepted > 100 && rejected > 100,
        "the generator covers both ({accepted}, {rejected})"
    );
}

#[test]
fn xattr_bytes_round_trip_through_the_kernel() {
    skip_unless!(
        is_root(),
        "writing security.capability needs CAP_SETFCAP (run as root)"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("f");
    fs::write(&path, b"").expect("create file");
    let mut rng = Rng::new(Rng::seed_from_env(0x5eed_0005));
    for _ in 0..500 {
        let caps = random_file_caps(&mut rng);
        xattr::set(&path, "security.capability", &caps.encode()).expect("setxattr");
        let back = xattr::get(&path, "security.capability")
            .ok()
            .flatten()
            .unwrap_or_default();
        assert_eq!(FileCaps::decode(&back), Ok(caps));
        assert!(Path::new(&path).exists());
    }
}

/// libcap.so.2 opened in this process, so that its own cap_from_text and cap_to_text can be asked about
/// hundreds of thousands of inputs in a few seconds (setcap costs a process and a file per input).
struct Libcap {
    from_text: FromText,
    to_text: ToText,
    init: Init,
    get_flag: GetFlag,
    set_flag: SetFlag,
    free: Free,
}

// libcap's prototypes (sys/capability.h): cap_t is a pointer; cap_value_t, cap_flag_t and cap_flag_value_t
// are ints.
type FromText = unsafe extern "C" fn(*const c_char) -> *mut c_void;
type ToText = unsafe extern "C" fn(*mut c_void, *mut isize) -> *mut c_char;
type Init = unsafe extern "C" fn() -> *mut c_void;
type GetFlag = unsafe extern "C" fn(*mut c_void, c_int, c_int, *mut c_int) -> c_int;
type SetFlag = unsafe extern "C" fn(*mut c_void, c_int, c_int, *const c_int, c_int) -> c_int;
type Free = unsafe extern "C" fn(*mut c_void) -> c_int;

use std::ffi::{c_char, c_int, c_void, CStr, CString};

/// libcap's cap_flag_t values.
const CAP_EFFECTIVE: c_int = 0;
const CAP_PERMITTED: c_int = 1;
const CAP_INHERITABLE: c_int = 2;
const CAP_SET: c_int = 1;

impl Libcap {
    /// Opens libcap.so.2, or says why not. The handle is never closed: the functions live as long as the test.
    fn open() -> Result<Libcap, String> {
        let name = CString::new("libcap.so.2").map_err(|e| e.to_string())?;
        // SAFETY: dlopen with a valid C string; libcap's constructor only reads the kernel's capability count.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            return Err("libcap.so.2 cannot be loaded (apt-get install libcap2)".to_string());
        }
        let symbol = |name: &str| -> Result<*mut c_void, String> {
            let c_name = CString::new(name).map_err(|e| e.to_string())?;
            // SAFETY: dlsym on a live handle with a valid C string.
            let address = unsafe { libc::dlsym(handle, c_name.as_ptr()) };
            if address.is_null() {
                Err(format!("libcap.so.2 has no {name}"))
            } else {
                Ok(address)
            }
        };
        // SAFETY: each symbol is the libcap function of that name, whose C prototype (sys/capability.h) the
        // field's type spells: cap_t is a pointer, cap_value_t, cap_flag_t and cap_flag_value_t are ints.
        unsafe {
            Ok(Libcap {
                from_text: std::mem::transmute::<*mut c_void, FromText>(symbol("cap_from_text")?),
                to_text: std::mem::transmute::<*mut c_void, ToText>(symbol("cap_to_text")?),
                init: std::mem::transmute::<*mut c_void, Init>(symbol("cap_init")?),
                get_flag: std::mem::transmute::<*mut c_void, GetFlag>(symbol("cap_get_flag")?),
                set_flag: std::mem::transmute::<*mut c_void, SetFlag>(symbol("cap_set_flag")?),
                free: std::mem::transmute::<*mut c_void, Free>(symbol("cap_free")?),
            })
        }
    }

    /// cap_from_text's answer: the three sets, or None when it fails (EINVAL).
    fn parse(&self, text: &CStr) -> Option<CapState> {
        // SAFETY: a valid C string in; the result is a cap_t we own or NULL.
        let caps = unsafe { (self.from_text)(text.as_ptr()) };
        if caps.is_null() {
            return None;
        }
        let set = |flag| {
            let mut bits = 0u64;
            for bit in 0..64 {
                let mut value: c_int = 0;
                // SAFETY: a live cap_t, a bit below 64, and a pointer to an int for the answer.
                let rc = unsafe { (self.get_flag)(caps, bit, flag, &mut value) };
                assert_eq!(rc, 0, "cap_get_flag({bit}) failed");
                if value != 0 {
                    bits |= 1 << bit;
                }
            }
            CapSet::from_bits(bits)
        };
        let state = CapState {
            effective: set(CAP_EFFECTIVE),
            inheritable: set(CAP_INHERITABLE),
            permitted: set(CAP_PERMITTED),
        };
        // SAFETY: caps came from cap_from_text and is freed once.
        unsafe { (self.free)(caps) };
        Some(state)
    }

    /// cap_to_text of the state.
    fn print(&self, state: CapState) -> String {
        // SAFETY: cap_init returns a cleared cap_t we own (or NULL, checked).
        let caps = unsafe { (self.init)() };
        assert!(!caps.is_null(), "cap_init failed");
        for (flag, set) in [
            (CAP_EFFECTIVE, state.effective),
            (CAP_INHERITABLE, state.inheritable),
            (CAP_PERMITTED, state.permitted),
        ] {
            for cap in set.iter() {
                let value = cap.bit() as c_int;
                // SAFETY: a live cap_t, one value in a one-element array.
                let rc = unsafe { (self.set_flag)(caps, flag, 1, &value, CAP_SET) };
                assert_eq!(rc, 0, "cap_set_flag({value}) failed");
            }
        }
        // SAFETY: a live cap_t; the result is a C string we own, or NULL.
        let text = unsafe { (self.to_text)(caps, std::ptr::null_mut()) };
        assert!(!text.is_null(), "cap_to_text failed");
        // SAFETY: text is a NUL-terminated string from libcap, copied before it is freed.
        let printed = unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: both came from libcap and are freed once.
        unsafe {
            (self.free)(text.cast());
            (self.free)(caps);
        }
        printed
    }
}

/// Picks one of `items`.
fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    items[(rng.next() % items.len() as u64) as usize]
}

/// White space of every kind: C's six, then Unicode spaces libcap must not skip.
const SPACES: [&str; 14] = [
    " ", "\t", "\n", "\x0b", "\x0c", "\r", "\u{a0}", "\u{3000}", "\u{85}", "\u{2028}", "\u{200b}",
    "\u{1680}", "\u{feff}", "\u{2003}",
];

/// A capability for a list: a name in any case (sometimes without `cap_`, or mangled), `all`, or a number
/// in decimal, octal or hex (sometimes out of range or malformed).
fn random_cap(rng: &mut Rng) -> String {
    match rng.next() % 10 {
        0..=3 => {
            let cap = capcore::Cap::new((rng.next() % 41) as u32).expect("a bit below 64");
            let name = cap.to_string();
            let name = match rng.next() % 8 {
                0 => name.to_uppercase(),
                1 => name
                    .chars()
                    .map(|c| {
                        if rng.next() % 2 == 0 {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        }
                    })
                    .collect(),
                2 => name.trim_start_matches("cap_").to_string(),
                3 => format!("{name}{}", pick(rng, &["x", "_", "2", "é"])),
                _ => name,
            };
            name
        }
        4 => pick(rng, &["all", "ALL", "All", "aLl", "allx", "al", "all_"]).to_string(),
        5 => format!("{}", rng.next() % 70),
        6 => format!("0{:o}", rng.next() % 70),
        7 => format!("{}{:x}", pick(rng, &["0x", "0X"]), rng.next() % 70),
        8 => pick(
            rng,
            &[
                "0",
                "00",
                "08",
                "09",
                "0x",
                "0xg",
                "0x3F",
                "077",
                "0100",
                "99999999999999999999",
                "064",
                "0x40",
                "cap_41",
                "cap_foo",
                "_",
                "__",
                "cap_",
                "9a",
            ],
        )
        .to_string(),
        _ => format!("{:02}", rng.next() % 64),
    }
}

/// A string shaped like libcap text, mutated: clauses of lists, operators and flags, separated and
/// surrounded by white space of every kind, with junk characters dropped in.
fn random_libcap_text(rng: &mut Rng) -> String {
    let mut text = String::new();
    if rng.next() % 6 == 0 {
        text.push_str(pick(rng, &SPACES));
    }
    for clause in 0..(rng.next() % 4) {
        if clause > 0 {
            let separators = 1 + rng.next() % 2;
            for _ in 0..separators {
                text.push_str(if rng.next() % 3 == 0 {
                    pick(rng, &SPACES)
                } else {
                    " "
                });
            }
        }
        if rng.next() % 5 != 0 {
            for i in 0..=(rng.next() % 3) {
                if i > 0 {
                    text.push_str(if rng.next() % 20 == 0 { ",," } else { "," });
                }
                text.push_str(&random_cap(rng));
            }
            if rng.next() % 25 == 0 {
                text.push(',');
            }
        }
        for step in 0..=(rng.next() % 3) {
            let op = if step == 0 {
                pick(rng, &["=", "+", "-", "=+", "=-", "=", "+"])
            } else {
                pick(rng, &["+", "-", "=", "+", "-"])
            };
            text.push_str(op);
            let flags = rng.next() % 4;
            for _ in 0..flags {
                text.push_str(pick(
                    rng,
                    &["e", "i", "p", "e", "i", "p", "E", "P", "x", "a", "é"],
                ));
            }
        }
    }
    if rng.next() % 6 == 0 {
        text.push_str(pick(rng, &SPACES));
    }
    // Junk anywhere, now and then.
    if rng.next() % 8 == 0 {
        let junk = pick(
            rng,
            &[
                "#",
                "!",
                ".",
                ":",
                ";",
                "=",
                "+",
                "-",
                ",",
                "_",
                "0",
                "9",
                "z",
                "\u{a0}",
                "\x01",
                "\x7f",
                "é",
                "\u{202e}",
                "ａ",
                "\u{10ffff}",
            ],
        );
        let mut at = (rng.next() % (text.len() as u64 + 1)) as usize;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.insert_str(at, junk);
    }
    text
}

#[test]
fn cap_from_text_in_process_agrees_on_random_strings() {
    let libcap = match Libcap::open() {
        Ok(libcap) => libcap,
        Err(why) => {
            crate::util::skipped(&why);
            return;
        }
    };
    let seed = Rng::seed_from_env(0x5eed_0006);
    let mut rng = Rng::new(seed);
    let known = known();
    let (mut accepted, mut rejected) = (0usize, 0usize);
    let mut seen_unicode_space = 0usize;
    for _ in 0..300_000 {
        let text = random_libcap_text(&mut rng);
        let c_text = CString::new(text.as_str()).expect("the generator makes no NUL");
        let theirs = libcap.parse(&c_text);
        let ours = CapState::from_text(&text, known);
        match (&theirs, &ours) {
            (Some(theirs), Ok(ours)) => {
                assert_eq!(ours, theirs, "sets differ for {text:?}, seed {seed}");
                accepted += 1;
            }
            (None, Err(_)) => rejected += 1,
            (Some(_), Err(e)) => {
                panic!("we reject what libcap accepts ({e}): {text:?}, seed {seed}")
            }
            (None, Ok(_)) => panic!("we accept what libcap rejects: {text:?}, seed {seed}"),
        }
        if SPACES[6..].iter().any(|s| text.contains(s)) {
            seen_unicode_space += 1;
        }
    }
    // The generator must reach both answers often, and Unicode spaces often enough to mean something.
    assert!(
        accepted > 50_000 && rejected > 50_000 && seen_unicode_space > 10_000,
        "accepted {accepted}, rejected {rejected}, with Unicode spaces {seen_unicode_space}"
    );
}

#[test]
fn cap_to_text_in_process_agrees_on_random_states() {
    let libcap = match Libcap::open() {
        Ok(libcap) => libcap,
        Err(why) => {
            crate::util::skipped(&why);
            return;
        }
    };
    let seed = Rng::seed_from_env(0x5eed_0007);
    let mut rng = Rng::new(seed);
    let known = known();
    for _ in 0..50_000 {
        let state = CapState {
            effective: CapSet::from_bits(rng.mask()),
            inheritable: CapSet::from_bits(rng.mask()),
            permitted: CapSet::from_bits(rng.mask()),
        };
        let theirs = libcap.print(state);
        assert_eq!(state.to_text(known), theirs, "{state:?}, seed {seed}");
        // And our parser reads libcap's text back to the same state.
        assert_eq!(CapState::from_text(&theirs, known), Ok(state), "{theirs}");
    }
}

/// A mask printed in one of the hex forms `capsh --decode` (strtoull base 16) reads: any case, mixed
/// too, with or without 0x, padded with zeros to any width (24, 40 and 48 digits too, once taken for xattr
/// values), with white space before it.
fn capsh_form(rng: &mut Rng, mask: u64) -> String {
    let digits = match rng.next() % 5 {
        0 => format!("{mask:x}"),
        1 => format!("{mask:X}"),
        2 => format!("{mask:x}")
            .chars()
            .map(|c| {
                if rng.next() % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect(),
        3 => format!("{mask:016x}"),
        _ => {
            let width = pick(rng, &["17", "20", "24", "32", "40", "48", "60"]);
            let width: usize = width.parse().unwrap_or(16);
            format!("{mask:0width$x}")
        }
    };
    let prefix = pick(rng, &["", "", "", "0x", "0X", " ", "\t", " 0x"]);
    format!("{prefix}{digits}")
}

/// A mask that is often small, so its hex digits are often all decimal (`20`, `010`) too.
fn capsh_mask(rng: &mut Rng) -> u64 {
    match rng.next() % 4 {
        0 => rng.next() % 0x100,
        1 => rng.next() % 100,
        _ => rng.mask(),
    }
}

#[test]
fn capdecode_reads_every_capsh_hex_form_as_capsh_does() {
    let Some(capsh) = tool("capsh") else {
        crate::util::skipped("capsh is not installed (apt-get install libcap2-bin)");
        return;
    };
    let seed = Rng::seed_from_env(0x5eed_0008);
    let mut rng = Rng::new(seed);
    let inputs: Vec<String> = (0..20_000)
        .map(|_| {
            let mask = capsh_mask(&mut rng);
            capsh_form(&mut rng, mask)
        })
        .collect();
    // Standard input, recognised by form: what `capdecode` does with a pasted value.
    // From a file: the output is larger than a pipe holds, and util::run writes all its input first.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("masks");
    fs::write(&file, inputs.join("\n")).expect("write the masks");
    let output = Command::new(crate::util::bin("capdecode"))
        .arg("--json")
        .stdin(fs::File::open(&file).expect("open the masks"))
        .output()
        .expect("run capdecode");
    let ours = crate::util::Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_eq!(ours.code, 0, "seed {seed}: {}", ours.stderr);
    let records = ours.json_lines();
    assert_eq!(records.len(), inputs.len(), "seed {seed}");
    let mut differ = Vec::new();
    for (chunk, records) in inputs.chunks(1000).zip(records.chunks(1000)) {
        let args: Vec<String> = chunk.iter().map(|m| format!("--decode={m}")).collect();
        let theirs = run_cmd(Command::new(&capsh).args(&args), None);
        assert_eq!(theirs.code, 0, "capsh failed: {}", theirs.stderr);
        for ((input, record), line) in chunk.iter().zip(records).zip(theirs.stdout.lines()) {
            let caps: Vec<&str> = record["set"]["caps"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            let hex = record["set"]["hex"].as_str().unwrap_or_default();
            let ours = format!("0x{hex}={}", caps.join(","));
            if record["kind"] != "mask" || ours != line {
                differ.push(format!(
                    "{input:?}: ours {ours} ({}), capsh {line}",
                    record["kind"]
                ));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} differ, seed {seed}:\n{}",
        differ.len(),
        inputs.len(),
        differ[..differ.len().min(20)].join("\n")
    );
}

#[test]
fn capdecode_libcap_text_agrees_with_cap_from_text() {
    let libcap = match Libcap::open() {
        Ok(libcap) => libcap,
        Err(why) => {
            crate::util::skipped(&why);
            return;
        }
    };
    let seed = Rng::seed_from_env(0x5eed_0009);
    let mut rng = Rng::new(seed);
    // Through the binary, as arguments (which keep every white space character), forced and recognised.
    let mut texts: Vec<String> = (0..3000).map(|_| random_libcap_text(&mut rng)).collect();
    texts.extend(
        [
            "",
            " ",
            "\u{a0}cap_chown+e",
            "cap_chown+e\u{3000}",
            "\u{85}=ep",
            "63,all+p",
            "=\u{a0}",
        ]
        .map(String::from),
    );
    let mut args = Vec::new();
    for text in &texts {
        args.push("--libcap".to_string());
        args.push(text.clone());
    }
    args.push("--json".to_string());
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let ours = crate::util::run("capdecode", &arg_refs, None);
    let records = ours.json_lines();
    let mut records = records.iter();
    let mut accepted = 0;
    for text in &texts {
        let c_text = CString::new(text.as_str()).expect("no NUL");
        let Some(theirs) = libcap.parse(&c_text) else {
            continue;
        };
        accepted += 1;
        let record = records
            .next()
            .unwrap_or_else(|| panic!("capdecode rejected {text:?}, seed {seed}"));
        assert_eq!(
            record["input"],
            text.as_str(),
            "capdecode rejected {text:?} or accepted another, seed {seed}"
        );
        for (set, name) in [
            (theirs.effective, "effective"),
            (theirs.inheritable, "inheritable"),
            (theirs.permitted, "permitted"),
        ] {
            assert_eq!(
                record[name]["hex"],
                set.hex(),
                "{name} of {text:?}, seed {seed}"
            );
        }
    }
    assert!(
        records.next().is_none(),
        "capdecode accepted more than libcap, seed {seed}"
    );
    assert_eq!(
        ours.stderr.lines().count(),
        texts.len() - accepted,
        "one error per rejected text"
    );
    assert_eq!(ours.code, if accepted < texts.len() { 2 } else { 0 });
}
