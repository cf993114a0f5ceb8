//! Every built-in tracker type runs the conformance suite (`bugimporters_testkit::suite`,
//! issue 17 point 5): its crate has a `tests/suite.rs` that writes the suite's tests with
//! `conformance_suite!` (which itself fails when a case of the suite is not listed).

#[test]
fn every_type_runs_the_conformance_suite() {
    let registry = bugimporters_all::default_registry();
    let mut missing = Vec::new();
    for factory in registry.factories() {
        let kind = factory.kind();
        let p = format!("{}/../{kind}/tests/suite.rs", env!("CARGO_MANIFEST_DIR"));
        match std::fs::read_to_string(&p) {
            Ok(text) if text.contains("bugimporters_testkit::conformance_suite!(") => {}
            Ok(_) => missing.push(format!("{kind}: {p} does not call conformance_suite!")),
            Err(e) => missing.push(format!("{kind}: {p}: {e}")),
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
