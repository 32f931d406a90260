//! security.capability values: never panic, and every value that decodes encodes back byte for byte.
#![no_main]

use capcore::{ExecEffect, FileCaps};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(caps) = FileCaps::decode(data) {
        assert_eq!(caps.encode(), data);
        let _ = caps.check_userspace();
        let _ = caps.getcap_text(41);
    }
    let _ = ExecEffect::of(data);
});
