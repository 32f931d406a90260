//! The capability table: every bit from 0 to 63 with its number, libcap's name and what it grants.
//!
//! Linux 6.18 knows bits 0 to 40. Later bits have no name; like libcap we name them by their decimal number,
//! and accept that number back as input, so a mask from a newer kernel never loses a bit on its way through.

use std::fmt;

use crate::hex::parse_c_number;
use crate::quote::{excerpt, trim_c_space};

/// One capability bit, 0 to 63.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cap(u8);

/// How many bits a capability set has room for.
pub const CAP_BITS: u32 = 64;

/// How many capabilities libcap (and capkit) has names for: bits 0 to 40, as in Linux 6.18.
pub const NAMED_CAPS: u32 = 41;

/// Defines one associated constant per named capability, and the name and description tables, from a single
/// list so the three can never disagree.
macro_rules! capability_table {
    ($($n:literal $konst:ident $name:literal $desc:literal;)*) => {
        impl Cap {
            $(pub const $konst: Cap = Cap($n);)*
        }
        const NAMES: [&str; NAMED_CAPS as usize] = [$($name),*];
        const DESCRIPTIONS: [&str; NAMED_CAPS as usize] = [$($desc),*];
        #[cfg(test)]
        const NUMBERS: [u8; NAMED_CAPS as usize] = [$($n),*];
    };
}

capability_table! {
    0 CHOWN "cap_chown" "change the owner and group of any file";
    1 DAC_OVERRIDE "cap_dac_override" "bypass read, write and execute permission checks on files";
    2 DAC_READ_SEARCH "cap_dac_read_search" "bypass read checks on files and read/search checks on directories";
    3 FOWNER "cap_fowner" "act as the owner of any file (chmod, utime, set ACLs and flags)";
    4 FSETID "cap_fsetid" "keep set-user/group-ID bits on modified files; set set-GID freely";
    5 KILL "cap_kill" "send signals to any process";
    6 SETGID "cap_setgid" "set any group IDs and supplementary groups; forge GIDs in credentials";
    7 SETUID "cap_setuid" "set any user IDs; forge UIDs in credentials";
    8 SETPCAP "cap_setpcap" "grant inheritable capabilities, drop bounding ones, change securebits";
    9 LINUX_IMMUTABLE "cap_linux_immutable" "set the immutable and append-only file flags";
    10 NET_BIND_SERVICE "cap_net_bind_service" "bind sockets to privileged ports (below 1024)";
    11 NET_BROADCAST "cap_net_broadcast" "broadcast and listen to multicast (unused by the kernel)";
    12 NET_ADMIN "cap_net_admin" "configure interfaces, routes, firewalls and other network settings";
    13 NET_RAW "cap_net_raw" "use raw and packet sockets; bind to any address for transparent proxying";
    14 IPC_LOCK "cap_ipc_lock" "lock memory (mlock, mlockall, SHM_LOCK) beyond the limit";
    15 IPC_OWNER "cap_ipc_owner" "bypass permission checks on System V IPC objects";
    16 SYS_MODULE "cap_sys_module" "load and unload kernel modules";
    17 SYS_RAWIO "cap_sys_rawio" "raw I/O: ioperm, iopl, /dev/mem, /dev/kmem, FIBMAP";
    18 SYS_CHROOT "cap_sys_chroot" "use chroot and change mount namespaces with setns";
    19 SYS_PTRACE "cap_sys_ptrace" "trace and inspect any process (ptrace, process_vm_readv, kcmp)";
    20 SYS_PACCT "cap_sys_pacct" "turn process accounting on and off";
    21 SYS_ADMIN "cap_sys_admin" "wide-ranging administration: mount, sethostname, quotas, and much more";
    22 SYS_BOOT "cap_sys_boot" "reboot and load a new kernel for later execution (kexec)";
    23 SYS_NICE "cap_sys_nice" "raise priority, set real-time scheduling and CPU affinity of any process";
    24 SYS_RESOURCE "cap_sys_resource" "exceed resource limits and quotas; raise hard limits";
    25 SYS_TIME "cap_sys_time" "set the system clock and the real-time clock";
    26 SYS_TTY_CONFIG "cap_sys_tty_config" "vhangup and privileged ioctls on virtual terminals";
    27 MKNOD "cap_mknod" "create device special files with mknod";
    28 LEASE "cap_lease" "take leases on files the caller does not own";
    29 AUDIT_WRITE "cap_audit_write" "write records to the kernel audit log";
    30 AUDIT_CONTROL "cap_audit_control" "configure kernel auditing: rules, status and filters";
    31 SETFCAP "cap_setfcap" "set file capabilities; map user ID 0 in a new user namespace";
    32 MAC_OVERRIDE "cap_mac_override" "override mandatory access control (Smack)";
    33 MAC_ADMIN "cap_mac_admin" "configure mandatory access control (Smack, AppArmor, SELinux)";
    34 SYSLOG "cap_syslog" "privileged syslog operations; see kernel addresses";
    35 WAKE_ALARM "cap_wake_alarm" "set timers that wake the system from suspend";
    36 BLOCK_SUSPEND "cap_block_suspend" "block system suspend (epoll wakeups, wake locks)";
    37 AUDIT_READ "cap_audit_read" "read the audit log through a multicast netlink socket";
    38 PERFMON "cap_perfmon" "privileged performance monitoring and observability (perf_events)";
    39 BPF "cap_bpf" "privileged BPF operations: maps, programs and BTF";
    40 CHECKPOINT_RESTORE "cap_checkpoint_restore" "checkpoint/restore operations: set next PIDs, read map_files";
}

impl Cap {
    /// The capability with this bit number, if it is below 64.
    pub const fn new(bit: u32) -> Option<Cap> {
        if bit < CAP_BITS {
            Some(Cap(bit as u8))
        } else {
            None
        }
    }

    /// Every bit, 0 to 63, in order.
    pub fn all_bits() -> impl Iterator<Item = Cap> {
        (0..CAP_BITS as u8).map(Cap)
    }

    pub const fn bit(self) -> u32 {
        self.0 as u32
    }

    /// The mask with only this capability's bit set.
    pub const fn mask(self) -> u64 {
        1u64 << self.0
    }

    /// libcap's name (`cap_net_raw`), or `None` for a bit no kernel names yet.
    pub fn name(self) -> Option<&'static str> {
        NAMES.get(self.0 as usize).copied()
    }

    /// A one-line description of what the capability grants, or a note that the bit is unknown.
    pub fn description(self) -> &'static str {
        DESCRIPTIONS
            .get(self.0 as usize)
            .copied()
            .unwrap_or("no capability has this number in Linux 6.18")
    }

    /// Looks up an exact libcap name, ignoring case (`CAP_NET_RAW`, `cap_net_raw`), as cap_from_text does.
    pub fn from_libcap_name(name: &str) -> Option<Cap> {
        NAMES
            .iter()
            .position(|known| known.eq_ignore_ascii_case(name))
            .map(|i| Cap(i as u8))
    }

    /// Parses what a person types: a name in any case with or without `cap_` (`NET_RAW`, `cap_net_raw`), or a
    /// bit number below 64 read as libcap reads one (C's strtoul, base 0): `13`, `0xd` and `015` are all 13.
    pub fn parse_lenient(input: &str) -> Result<Cap, UnknownCap> {
        let word = trim_c_space(input);
        let unknown = || UnknownCap {
            input: word.to_string(),
        };
        if word.starts_with(|c: char| c.is_ascii_digit()) {
            return parse_c_number(word)
                .ok()
                .and_then(|n| u32::try_from(n).ok())
                .and_then(Cap::new)
                .ok_or_else(unknown);
        }
        if let Some(cap) = Cap::from_libcap_name(word) {
            return Ok(cap);
        }
        let prefixed = format!("cap_{word}");
        Cap::from_libcap_name(&prefixed).ok_or_else(unknown)
    }
}

/// Prints libcap's name, or the decimal number for a bit without one (as `cap_to_name` does).
impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.pad(name),
            None => f.pad(&self.0.to_string()),
        }
    }
}

/// A word that names no capability.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownCap {
    pub input: String,
}

impl fmt::Display for UnknownCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.input.is_empty() {
            write!(
                f,
                "empty capability name (a ',' at an end, or two in a row)"
            )
        } else {
            write!(
                f,
                "unknown capability '{}' (expected a name such as cap_net_raw or a number from 0 to 63)",
                excerpt(&self.input)
            )
        }
    }
}

impl std::error::Error for UnknownCap {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_numbers_are_positions() {
        for (i, n) in NUMBERS.iter().enumerate() {
            assert_eq!(i, *n as usize);
        }
        assert_eq!(Cap::NET_RAW.mask(), 0x2000);
        assert_eq!(Cap::CHECKPOINT_RESTORE.bit(), 40);
    }

    #[test]
    fn unnamed_bits_print_as_numbers() {
        assert_eq!(Cap::new(41).map(|c| c.to_string()), Some("41".to_string()));
        assert_eq!(Cap::new(63).map(|c| c.to_string()), Some("63".to_string()));
        assert_eq!(Cap::new(64), None);
    }

    #[test]
    fn lenient_parsing() {
        for input in [
            "cap_net_raw",
            "CAP_NET_RAW",
            "net_raw",
            "NET_RAW",
            "13",
            " Net_Raw ",
        ] {
            assert_eq!(Cap::parse_lenient(input), Ok(Cap::NET_RAW), "{input}");
        }
        assert_eq!(Cap::parse_lenient("41").map(Cap::bit), Ok(41));
        // Numbers in libcap's bases: 0x hex, leading-zero octal, else decimal.
        for (text, bit) in [
            ("0x0d", 13),
            ("015", 13),
            ("0", 0),
            ("077", 63),
            ("0x3F", 63),
        ] {
            assert_eq!(Cap::parse_lenient(text).map(Cap::bit), Ok(bit), "{text}");
        }
        for bad in [
            "",
            "64",
            "cap_41",
            "net-raw",
            "cap_",
            "-1",
            "08",
            "0x",
            "0100",
            "\u{a0}13",
            "13\u{3000}",
        ] {
            assert!(Cap::parse_lenient(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn descriptions_fit_a_line_beside_the_name() {
        for cap in Cap::all_bits() {
            assert!(
                cap.description().len() <= 72,
                "{cap}: {}",
                cap.description().len()
            );
        }
    }

    #[test]
    fn every_named_cap_round_trips() {
        for cap in Cap::all_bits() {
            assert_eq!(Cap::parse_lenient(&cap.to_string()), Ok(cap));
        }
    }
}
