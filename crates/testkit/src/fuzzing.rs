//! The code paths the fuzz targets drive (`fuzz/`), shared with the regression test that
//! replays every saved crashing input (`fixtures/fuzz/<target>/`), so a fixed crash stays fixed.

use bugimporters_core::{
    load_config_str, ConfigFormat, ImportOptions, ParseInput, Registry, TrackerConfig,
};

/// The `parse` formats of `registry`, sorted, with their tracker type.
pub fn parse_formats(registry: &Registry) -> Vec<(String, String)> {
    let mut formats: Vec<(String, String)> = registry
        .factories()
        .flat_map(|f| {
            f.parse_formats()
                .into_iter()
                .map(move |p| (p.name.to_owned(), f.kind().to_owned()))
        })
        .collect();
    formats.sort();
    formats
}

/// Runs one fuzz input through a parser: byte 0 picks the format, the rest is split at the
/// first `0xFF` into FILE 1 and FILE 2. Errors are fine; a panic is a bug.
pub fn parse_input(registry: &Registry, formats: &[(String, String)], data: &[u8]) {
    let (Some(first), false) = (data.first(), formats.is_empty()) else {
        return;
    };
    let (format, kind) = &formats[*first as usize % formats.len()];
    let rest = &data[1..];
    let (a, b) = match rest.iter().position(|&x| x == 0xFF) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &rest[..0]),
    };
    let mut config = fuzz_config(registry, kind);
    config.base_url = "http://tracker.example/".to_owned();
    config.bug_project_name_format = "{tracker_name}".to_owned();
    let (Ok(factory), Ok(cx)) = (registry.factory(kind), registry.build_context(&config)) else {
        return;
    };
    let now = bugimporters_core::time::parse_datetime("2020-01-01T00:00:00").unwrap_or_default();
    let input = ParseInput::new(
        vec![
            ("fuzz-1".to_owned(), bytes::Bytes::copy_from_slice(a)),
            ("fuzz-2".to_owned(), bytes::Bytes::copy_from_slice(b)),
        ],
        Some("http://tracker.example/bug/1".to_owned()),
        ImportOptions::new(now),
    );
    let _ = factory.parse(&cx, format, &input);
}

/// The configuration a parser of `kind` is fuzzed with: the first record of the type's
/// [`example_config`](bugimporters_core::ImporterFactory::example_config), so every type's
/// required keys are set (a type without an example gets a bare record of its type).
fn fuzz_config(registry: &Registry, kind: &str) -> TrackerConfig {
    registry
        .factory(kind)
        .ok()
        .and_then(|f| f.example_config())
        .and_then(|yaml| load_config_str(yaml, ConfigFormat::Yaml).ok())
        .and_then(|records| records.into_iter().next())
        .and_then(Result::ok)
        .unwrap_or_else(|| TrackerConfig::new("fuzz", kind))
}

/// Runs one fuzz input through configuration loading (YAML and JSON) and the registry.
pub fn config_input(registry: &Registry, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for format in [ConfigFormat::Yaml, ConfigFormat::Json] {
        if let Ok(records) = load_config_str(text, format) {
            for config in records.into_iter().flatten() {
                let _ = registry.build(&config);
            }
        }
    }
}
