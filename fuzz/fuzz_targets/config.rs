//! Configuration loading (YAML and JSON) on arbitrary text: errors are fine, panics are not.
#![no_main]

use std::sync::OnceLock;

use bugimporters_core::Registry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    let registry = REGISTRY.get_or_init(bugimporters_all::default_registry);
    bugimporters_testkit::fuzzing::config_input(registry, data);
});
