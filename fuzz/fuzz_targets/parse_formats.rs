//! Every `parse` format of every registered tracker, on arbitrary bytes: parsing may fail, it
//! must never panic, hang or blow up memory. Input layout: see
//! `bugimporters_testkit::fuzzing::parse_input`.
#![no_main]

use std::sync::OnceLock;

use bugimporters_core::Registry;
use libfuzzer_sys::fuzz_target;

fn setup() -> &'static (Registry, Vec<(String, String)>) {
    static SETUP: OnceLock<(Registry, Vec<(String, String)>)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let registry = bugimporters_all::default_registry();
        let formats = bugimporters_testkit::fuzzing::parse_formats(&registry);
        (registry, formats)
    })
}

fuzz_target!(|data: &[u8]| {
    let (registry, formats) = setup();
    bugimporters_testkit::fuzzing::parse_input(registry, formats, data);
});
