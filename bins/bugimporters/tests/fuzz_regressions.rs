//! Every input the fuzzers ever found crashing (`fixtures/fuzz/<target>/`) runs through the
//! same code path as the fuzz target, so a fixed crash stays fixed. Also a few hostile inputs
//! written by hand for each target.

use std::path::PathBuf;

use bugimporters_testkit::fuzzing;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/fuzz")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().is_file())
                .map(|e| {
                    (
                        e.path().display().to_string(),
                        std::fs::read(e.path()).unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn parse_formats_regressions_and_hostile_inputs() {
    let registry = bugimporters_all::default_registry();
    let formats = fuzzing::parse_formats(&registry);
    let mut hostile: Vec<Vec<u8>> = vec![
        b"<?xml version=\"1.0\"?><!DOCTYPE b [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">]><bugzilla><bug><short_desc>&d;&d;&d;</short_desc></bug></bugzilla>".to_vec(),
        b"<?xml version=\"1.0\"?><!DOCTYPE b [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><bugzilla><bug><short_desc>&x;</short_desc></bug></bugzilla>".to_vec(),
        b"\xef\xbb\xbfid,summary\r\n\"unterminated".to_vec(),
        b"{\"issues\": [{\"fields\": null}], \"total\": -1}".to_vec(),
        vec![0xff; 64],
        "<html>".repeat(10_000).into_bytes(),
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[".repeat(100),
    ];
    hostile.push(Vec::new());
    for i in 0..formats.len() {
        for h in &hostile {
            let mut data = vec![i as u8];
            data.extend_from_slice(h);
            fuzzing::parse_input(&registry, &formats, &data);
        }
    }
    for (name, data) in inputs("parse_formats") {
        eprintln!("replaying {name}");
        fuzzing::parse_input(&registry, &formats, &data);
    }
}

#[test]
fn config_regressions_and_hostile_inputs() {
    let registry = bugimporters_all::default_registry();
    for text in [
        "- tracker_name: [1, 2]\n  bugimporter: {a: b}",
        "objects: 5",
        "- &a [*a]",
        "- tracker_name: x\n  bugimporter: trac\n  base_url: 'http://[::1'",
        "- tracker_name: x\n  bugimporter: trac\n  queries: [{url: 5}]",
        "!!python/object:__main__.X {a: 1}",
    ] {
        fuzzing::config_input(&registry, text.as_bytes());
    }
    for (name, data) in inputs("config") {
        eprintln!("replaying {name}");
        fuzzing::config_input(&registry, &data);
    }
}
