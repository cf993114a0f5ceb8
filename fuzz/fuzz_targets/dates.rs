//! The liberal date parser on arbitrary text: no panic, and whatever parses formats back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(t) = bugimporters_core::time::parse_datetime(text) {
            let _ = bugimporters_core::time::format_naive(&t);
        }
    }
});
