//! libcap text: never panic, and whatever parses prints to a text that parses back to the same state.
#![no_main]

use capcore::CapState;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&known, rest)) = data.split_first() else { return };
    let known = u32::from(known % 65);
    let Ok(text) = std::str::from_utf8(rest) else { return };
    if let Ok(state) = CapState::from_text(text, known) {
        let printed = state.to_text(known);
        assert_eq!(CapState::from_text(&printed, known), Ok(state), "{text:?} -> {printed:?}");
    }
});
