//! Hex masks, hex byte strings and C numbers: never panic, and whatever parses prints back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(set) = capcore::parse_mask(text) {
        assert_eq!(capcore::parse_mask(&set.hex()), Ok(set));
    }
    if let Ok(bytes) = capcore::hex::parse_bytes(text) {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(capcore::hex::parse_bytes(&hex), Ok(bytes));
    }
    if let Ok(n) = capcore::hex::parse_c_number(text) {
        for printed in [format!("{n}"), format!("{n:#x}"), format!("0{n:o}")] {
            assert_eq!(capcore::hex::parse_c_number(&printed), Ok(n), "{text:?}");
        }
    }
    let _ = capcore::quote::excerpt(text);
});
