//! Reading configuration files (`bugimporters crawl -i FILE`, `check -i FILE`).

use bugimporters_crawl::load_config_file;

/// Issue 13 point 13: a UTF-8 byte order mark at the start of a configuration file (some
/// editors write one) is accepted, in YAML and in JSON.
#[test]
fn byte_order_mark_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        (
            "config.yaml",
            "tracker_name: a\nbugimporter: trac\nbase_url: http://x/\n",
        ),
        (
            "config.json",
            r#"[{"tracker_name": "a", "bugimporter": "trac", "base_url": "http://x/"}]"#,
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("\u{FEFF}{text}")).unwrap();
        let all = load_config_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(all.len(), 1, "{name}");
        assert_eq!(all[0].as_ref().unwrap().tracker_name, "a", "{name}");
    }
}
