//! Every built-in type carries an example configuration (`ImporterFactory::example_config`,
//! the crate's `example.yaml`): it loads, names its own type, builds without a network, has no
//! unknown key, and is the first example of the type's page in `docs/trackers/` (written once,
//! checked where repeated).

use std::path::Path;

use bugimporters_core::{load_config_str, ConfigFormat};

#[test]
fn every_type_has_an_example_that_loads_builds_and_is_documented() {
    let registry = bugimporters_all::default_registry();
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../docs/trackers");
    let mut checked = 0;
    for factory in registry.factories() {
        let kind = factory.kind();
        let example = factory
            .example_config()
            .unwrap_or_else(|| panic!("{kind}: no example_config"));
        let records = load_config_str(example, ConfigFormat::Yaml)
            .unwrap_or_else(|e| panic!("{kind}: the example does not load: {e}"));
        assert!(!records.is_empty(), "{kind}: an empty example");
        for record in records {
            let config = record.unwrap_or_else(|e| panic!("{kind}: a bad record: {e}"));
            let name = &config.tracker_name;
            assert_eq!(
                registry.canonical_kind(&config.bugimporter).unwrap(),
                kind,
                "{kind}: {name} is of another type"
            );
            if let Err(e) = registry.build(&config) {
                panic!("{kind}: {name} does not build: {e}");
            }
            assert!(
                registry.unknown_keys(&config).is_empty(),
                "{kind}: {name} has unknown keys {:?}",
                registry.unknown_keys(&config)
            );
        }
        let page = std::fs::read_to_string(docs.join(format!("{kind}.md"))).unwrap();
        assert!(
            page.contains(&format!("```yaml\n{example}```")),
            "{kind}: docs/trackers/{kind}.md does not show example.yaml verbatim"
        );
        checked += 1;
    }
    assert_eq!(checked, 11, "the built-in types");
}

/// Every key `config_keys()` lists has a row in the keys table of the type's docs page (a row
/// may name several keys in its first cell).
#[test]
fn every_config_key_has_a_row_in_its_docs_page() {
    let registry = bugimporters_all::default_registry();
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../docs/trackers");
    let mut missing = Vec::new();
    for factory in registry.factories() {
        let kind = factory.kind();
        let page = std::fs::read_to_string(docs.join(format!("{kind}.md"))).unwrap();
        let first_cells: Vec<&str> = page
            .lines()
            .filter_map(|l| l.strip_prefix("| "))
            .filter_map(|l| l.split(" |").next())
            .collect();
        for key in factory.config_keys() {
            let named = format!("`{}`", key.name);
            if !first_cells.iter().any(|cell| cell.contains(&named)) {
                missing.push(format!("{kind}: `{}`", key.name));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "keys without a row in docs/trackers: {missing:?}"
    );
}
