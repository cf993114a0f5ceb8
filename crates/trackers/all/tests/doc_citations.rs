//! Every `docs/reference-behaviour.md §N` cited in the code names a section (or a numbered
//! rule of a section) that the document has, and no comment cites a "reference §" without
//! naming the document.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .canonicalize()
        .unwrap()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether the document has section `cited` ("5.1", "2"), or numbered rule `M.` under
/// section `N` for "N.M".
fn has_section(doc: &str, cited: &str) -> bool {
    let heading = |l: &str| {
        let l = l.trim_start_matches('#').trim_start();
        l.starts_with(&format!("{cited} ")) || l.starts_with(&format!("{cited}. "))
    };
    if doc.lines().any(|l| l.starts_with('#') && heading(l)) {
        return true;
    }
    let Some((section, rule)) = cited.split_once('.') else {
        return false;
    };
    let mut inside = false;
    for l in doc.lines() {
        if let Some(title) = l.strip_prefix("## ") {
            inside = title.starts_with(&format!("{section}. "));
        } else if inside && l.starts_with(&format!("{rule}. ")) {
            return true;
        }
    }
    false
}

#[test]
fn reference_citations_resolve() {
    let root = workspace();
    let doc = std::fs::read_to_string(root.join("docs/reference-behaviour.md")).unwrap();
    let mut files = Vec::new();
    for dir in ["crates", "bins", "examples"] {
        rust_files(&root.join(dir), &mut files);
    }
    let (mut cited, mut bad) = (0, Vec::new());
    // This file names the pattern it looks for.
    files.retain(|f| !f.ends_with("crates/trackers/all/tests/doc_citations.rs"));
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let place = format!("{}:{}", file.display(), n + 1);
            if line.contains("eference §") {
                bad.push(format!("{place}: cite docs/reference-behaviour.md §N"));
            }
            for (i, _) in line.match_indices("reference-behaviour.md §") {
                let rest = &line[i + "reference-behaviour.md §".len()..];
                let section: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.')
                    .collect();
                let section = section.trim_end_matches('.');
                cited += 1;
                if !has_section(&doc, section) {
                    bad.push(format!("{place}: no section §{section}"));
                }
            }
        }
    }
    assert!(
        cited >= 20,
        "only {cited} citations found: is the scan broken?"
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
