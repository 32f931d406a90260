//! Facts about the running kernel that change how capabilities are parsed and printed.

use std::fs;
use std::io;

use capcore::{CAP_BITS, NAMED_CAPS};

const CAP_LAST_CAP: &str = "/proc/sys/kernel/cap_last_cap";

/// How many capabilities the running kernel knows (`cap_last_cap` + 1; 41 on Linux 6.18).
pub fn known_caps() -> io::Result<u32> {
    let text = fs::read_to_string(CAP_LAST_CAP)?;
    let last: u32 = text.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{CAP_LAST_CAP}: {text:?}"),
        )
    })?;
    Ok((last + 1).min(CAP_BITS))
}

/// `known_caps`, or the capabilities capcore has names for when /proc cannot tell (no procfs mounted).
pub fn known_caps_or_default() -> u32 {
    known_caps().unwrap_or(NAMED_CAPS)
}
