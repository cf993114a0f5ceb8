//! The spool directory: each run's JSON lines, kept for a while after import.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::NaiveDateTime;

/// The default spool directory: `$BUGIMPORTERS_DATA_DIR/spool`, else
/// `$XDG_DATA_HOME/bugimporters/spool`, else `~/.local/share/bugimporters/spool`, else
/// `./bugimporters-spool`.
pub fn default_spool_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("BUGIMPORTERS_DATA_DIR") {
        return PathBuf::from(d).join("spool");
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(d).join("bugimporters").join("spool");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".local/share/bugimporters/spool");
    }
    PathBuf::from("bugimporters-spool")
}

/// The spool file of one run: `TRACKER-YYYYmmddTHHMMSS-RUNID.jsonl`, the tracker's name made
/// safe for a file name (letters, digits, `-`, `_`, `.`; at most 64 characters).
pub(crate) fn spool_path(dir: &Path, tracker: &str, at: NaiveDateTime, run_id: &str) -> PathBuf {
    let safe: String = tracker
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let safe = safe.trim_start_matches('.');
    dir.join(format!(
        "{safe}-{}-{run_id}.jsonl",
        at.format("%Y%m%dT%H%M%S")
    ))
}

/// Removes the spooled files (`.jsonl` and the crawl's `.partial`/`.checkpoint` leftovers)
/// not modified for `keep`. Returns how many were removed; errors are logged, not fatal.
pub(crate) fn clean_spool(dir: &Path, keep: Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.ends_with(".jsonl")
            || name.ends_with(".jsonl.partial")
            || name.ends_with(".jsonl.checkpoint"))
        {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age >= keep);
        if old {
            match std::fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot remove an old spool file")
                }
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_names_are_safe() {
        let at = bugimporters_core::time::parse_datetime("2026-12-01T10:20:30").unwrap();
        let p = spool_path(Path::new("/s"), "../etc/pass wd", at, "ab12");
        assert_eq!(p, Path::new("/s/_etc_pass_wd-20261201T102030-ab12.jsonl"));
    }

    #[test]
    fn old_spool_files_go() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.jsonl"), "{}\n").unwrap();
        std::fs::write(dir.path().join("keep.txt"), "x").unwrap();
        assert_eq!(clean_spool(dir.path(), Duration::from_secs(3600)), 0);
        assert_eq!(clean_spool(dir.path(), Duration::ZERO), 1);
        assert!(dir.path().join("keep.txt").exists());
    }
}
