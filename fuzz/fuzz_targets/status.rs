//! /proc/PID/status capability lines: never panic on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = capcore::CapStatus::parse(&text);
});
