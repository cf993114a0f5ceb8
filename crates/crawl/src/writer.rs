//! The JSON-lines writer.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use bugimporters_core::{Error, ParsedBug};

/// Where crawled bugs go.
pub trait BugSink: Send {
    /// Writes one record.
    fn write_bug(&mut self, bug: &ParsedBug) -> Result<(), Error>;
    /// Hands buffered records to the operating system (called whenever the crawl has no
    /// record waiting), so that a killed process loses at most the records of the moment.
    fn flush(&mut self) -> Result<(), Error> {
        Ok(())
    }
    /// Every record of `tracker_name` has been written (a checkpoint for `--resume`).
    fn tracker_done(&mut self, tracker_name: &str) -> Result<(), Error> {
        let _ = tracker_name;
        Ok(())
    }
    /// Ends the output: after this returns `Ok`, every record is durable and complete.
    fn finish(self: Box<Self>) -> Result<(), Error>;
}

/// Writes one JSON object per line to `OUT`, crash-safely.
///
/// Lines go to `OUT.partial` in the same directory; [`BugSink::finish`] flushes, syncs and
/// renames it to `OUT`. A killed crawl therefore leaves `OUT` as it was (absent, or the previous
/// complete run) and at most a `OUT.partial` whose last line may be cut — a line is complete
/// exactly when it ends with `\n`. The path `-` writes to standard output instead, line by line.
///
/// When a tracker's last record is written, its name is appended to `OUT.checkpoint` (after
/// the records are synced). [`JsonLinesWriter::resume`] uses it: it keeps every complete
/// record, drops a cut last line, and tells the crawl which trackers to skip and, for the
/// trackers that were half done, which bugs are already written.
pub struct JsonLinesWriter {
    target: Option<PathBuf>,
    partial: Option<PathBuf>,
    checkpoint: Option<File>,
    out: BufWriter<Box<dyn Write + Send>>,
    lines: u64,
    /// Drop the fields the original host lacks (`assigned`) from every line.
    original_only: bool,
}

impl JsonLinesWriter {
    /// A writer for `path` (`-` for standard output).
    pub fn create(path: &Path) -> Result<Self, Error> {
        if path.as_os_str() == "-" {
            return Ok(JsonLinesWriter {
                target: None,
                partial: None,
                checkpoint: None,
                out: BufWriter::new(Box::new(std::io::stdout())),
                lines: 0,
                original_only: false,
            });
        }
        let partial = partial_path(path);
        let file = File::create(&partial).map_err(|e| Error::io(&partial, e))?;
        let cp = checkpoint_path(path);
        let checkpoint = File::create(&cp).map_err(|e| Error::io(&cp, e))?;
        Ok(JsonLinesWriter {
            target: Some(path.to_owned()),
            partial: Some(partial),
            checkpoint: Some(checkpoint),
            out: BufWriter::with_capacity(256 * 1024, Box::new(file)),
            lines: 0,
            original_only: false,
        })
    }

    /// Continues an interrupted crawl into `path`: keeps the complete records of
    /// `OUT.partial` (a cut last line is dropped) and returns the writer with a [`Resume`]:
    /// the trackers listed in `OUT.checkpoint` are finished and not crawled again; for the
    /// others, the links already written are not fetched or written again. With nothing to
    /// resume from it behaves as [`JsonLinesWriter::create`].
    pub fn resume(path: &Path) -> Result<(Self, Resume), Error> {
        let partial = partial_path(path);
        let cp = checkpoint_path(path);
        if path.as_os_str() == "-" || !partial.exists() || !cp.exists() {
            return Ok((JsonLinesWriter::create(path)?, Resume::default()));
        }
        let done: HashSet<String> = std::fs::read_to_string(&cp)
            .map_err(|e| Error::io(&cp, e))?
            .split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .filter_map(|l| serde_json::from_str::<String>(l.trim_end()).ok())
            .collect();
        // Rewrite the partial file with only its complete records.
        let kept = partial.with_extension("partial.resume");
        let mut lines = 0u64;
        let mut written: HashMap<String, HashSet<String>> = HashMap::new();
        {
            let reader = BufReader::new(File::open(&partial).map_err(|e| Error::io(&partial, e))?);
            let mut out = BufWriter::new(File::create(&kept).map_err(|e| Error::io(&kept, e))?);
            for line in reader.split(b'\n') {
                let line = line.map_err(|e| Error::io(&partial, e))?;
                // `split` also yields a last piece without `\n`: it is dropped below unless
                // it parses, and a cut JSON object never parses.
                let Ok(value) = serde_json::from_slice::<serde_json::Value>(&line) else {
                    continue;
                };
                let tracker = value.get("_tracker_name").and_then(|t| t.as_str());
                let link = value.get("canonical_bug_link").and_then(|t| t.as_str());
                let (Some(tracker), Some(link)) = (tracker, link) else {
                    continue;
                };
                if !done.contains(tracker) {
                    written
                        .entry(tracker.to_owned())
                        .or_default()
                        .insert(link.to_owned());
                }
                out.write_all(&line).map_err(|e| Error::io(&kept, e))?;
                out.write_all(b"\n").map_err(|e| Error::io(&kept, e))?;
                lines += 1;
            }
            out.flush().map_err(|e| Error::io(&kept, e))?;
            out.get_ref().sync_all().map_err(|e| Error::io(&kept, e))?;
        }
        std::fs::rename(&kept, &partial).map_err(|e| Error::io(&partial, e))?;
        let file = OpenOptions::new()
            .append(true)
            .open(&partial)
            .map_err(|e| Error::io(&partial, e))?;
        let checkpoint = OpenOptions::new()
            .append(true)
            .open(&cp)
            .map_err(|e| Error::io(&cp, e))?;
        Ok((
            JsonLinesWriter {
                target: Some(path.to_owned()),
                partial: Some(partial),
                checkpoint: Some(checkpoint),
                out: BufWriter::with_capacity(256 * 1024, Box::new(file)),
                lines,
                original_only: false,
            },
            Resume {
                finished: done,
                written,
            },
        ))
    }

    /// Writes only the fields of the original importers (`bugimporters crawl` without
    /// `--extended-fields`): a host built for the original fails a record with a key it has no
    /// column for, so `assigned` is left out. `bugimporters serve` and `import-results` read
    /// every field.
    pub fn original_fields_only(mut self) -> Self {
        self.original_only = true;
        self
    }

    /// Records written so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    fn io_err(&self, e: std::io::Error) -> Error {
        let p = self
            .partial
            .clone()
            .unwrap_or_else(|| PathBuf::from("<stdout>"));
        Error::io(p, e)
    }
}

/// What an interrupted crawl left, as read by [`JsonLinesWriter::resume`].
#[derive(Debug, Default, Clone)]
#[non_exhaustive]
pub struct Resume {
    /// Trackers whose every record is written: not crawled again.
    pub finished: HashSet<String>,
    /// For each tracker that was half done, the canonical links already written.
    pub written: HashMap<String, HashSet<String>>,
}

impl std::fmt::Debug for JsonLinesWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLinesWriter")
            .field("target", &self.target)
            .field("lines", &self.lines)
            .finish_non_exhaustive()
    }
}

/// `OUT.checkpoint` beside `OUT`: names of the trackers whose records are all written.
pub fn checkpoint_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".checkpoint");
    path.with_file_name(name)
}

/// `OUT.partial` beside `OUT`.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

impl BugSink for JsonLinesWriter {
    fn write_bug(&mut self, bug: &ParsedBug) -> Result<(), Error> {
        // The second enforcement of the size caps (the first is `ImportContext::emit`): no
        // line longer than `limits::MAX_LINE_BYTES`, whatever the record's origin.
        let stripped;
        let bug = if self.original_only && bug.assigned.is_some() {
            let mut copy = bug.clone();
            copy.assigned = None;
            stripped = copy;
            &stripped
        } else {
            bug
        };
        let mut line = match bug.to_json_line_capped() {
            Ok(line) => line,
            Err(e) => {
                tracing::error!(error = %e, "record over the output line limit; not written");
                return Ok(());
            }
        };
        line.push('\n');
        self.out
            .write_all(line.as_bytes())
            .map_err(|e| self.io_err(e))?;
        self.lines += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.out.flush().map_err(|e| self.io_err(e))
    }

    fn tracker_done(&mut self, tracker_name: &str) -> Result<(), Error> {
        self.out.flush().map_err(|e| self.io_err(e))?;
        let (Some(partial), Some(target)) = (&self.partial, &self.target) else {
            return Ok(());
        };
        // Records first, then the checkpoint line: a checkpoint never names a tracker whose
        // records could still be lost.
        File::open(partial)
            .and_then(|f| f.sync_data())
            .map_err(|e| Error::io(partial, e))?;
        if let Some(cp) = &mut self.checkpoint {
            let mut line = serde_json::to_string(tracker_name).expect("strings serialise");
            line.push('\n');
            cp.write_all(line.as_bytes())
                .map_err(|e| Error::io(checkpoint_path(target), e))?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), Error> {
        self.out.flush().map_err(|e| self.io_err(e))?;
        if let (Some(target), Some(partial)) = (&self.target, &self.partial) {
            let file = File::open(partial).map_err(|e| Error::io(partial, e))?;
            file.sync_all().map_err(|e| Error::io(partial, e))?;
            std::fs::rename(partial, target).map_err(|e| Error::io(target, e))?;
            let cp = checkpoint_path(target);
            if cp.exists() {
                std::fs::remove_file(&cp).map_err(|e| Error::io(&cp, e))?;
            }
        }
        Ok(())
    }
}

/// Collects records in memory (tests, embedding).
#[derive(Debug, Default, Clone)]
pub struct VecSink {
    bugs: std::sync::Arc<std::sync::Mutex<Vec<ParsedBug>>>,
}

impl VecSink {
    /// An empty sink; clones share the same records.
    pub fn new() -> Self {
        VecSink::default()
    }

    /// The records written so far.
    pub fn bugs(&self) -> Vec<ParsedBug> {
        self.bugs.lock().expect("sink lock").clone()
    }
}

impl BugSink for VecSink {
    fn write_bug(&mut self, bug: &ParsedBug) -> Result<(), Error> {
        self.bugs.lock().expect("sink lock").push(bug.clone());
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<(), Error> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_appears_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("bugs.jsonl");
        let mut w = Box::new(JsonLinesWriter::create(&out).unwrap());
        w.write_bug(&ParsedBug::new("http://x/1")).unwrap();
        w.write_bug(&ParsedBug::new("http://x/2")).unwrap();
        assert!(!out.exists(), "nothing at OUT before the run ends");
        assert!(partial_path(&out).exists());
        w.finish().unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.ends_with('\n'));
        assert!(!partial_path(&out).exists());
    }

    #[test]
    fn resume_keeps_complete_records_and_drops_cut_lines() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("bugs.jsonl");
        let bug = |t: &str, n: u32| {
            let mut b = ParsedBug::new(format!("http://x/{t}/{n}"));
            b.tracker_name = Some(t.to_owned());
            b
        };
        {
            let mut w = JsonLinesWriter::create(&out).unwrap();
            w.write_bug(&bug("A", 1)).unwrap();
            w.write_bug(&bug("B", 1)).unwrap();
            w.write_bug(&bug("A", 2)).unwrap();
            w.tracker_done("A").unwrap();
            w.write_bug(&bug("B", 2)).unwrap();
            w.out.flush().unwrap();
            // killed here, in the middle of a line
        }
        let mut f = OpenOptions::new()
            .append(true)
            .open(partial_path(&out))
            .unwrap();
        f.write_all(b"{\"canonical_bug_link\":\"http://x/B/3\",\"_tracker_na")
            .unwrap();
        drop(f);

        let (w, resume) = JsonLinesWriter::resume(&out).unwrap();
        assert_eq!(resume.finished, HashSet::from(["A".to_owned()]));
        assert_eq!(
            resume.written,
            HashMap::from([(
                "B".to_owned(),
                HashSet::from(["http://x/B/1".to_owned(), "http://x/B/2".to_owned()])
            )]),
            "B's complete records are kept; the cut B/3 is not"
        );
        assert_eq!(w.lines(), 4);
        let mut w = Box::new(w);
        w.write_bug(&bug("B", 3)).unwrap();
        w.tracker_done("B").unwrap();
        w.finish().unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        let links: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<ParsedBug>(l)
                    .unwrap()
                    .canonical_bug_link
            })
            .collect();
        assert_eq!(
            links,
            [
                "http://x/A/1",
                "http://x/B/1",
                "http://x/A/2",
                "http://x/B/2",
                "http://x/B/3"
            ]
        );
        assert!(!checkpoint_path(&out).exists());
    }

    #[test]
    fn dropped_writer_leaves_previous_output_intact() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("bugs.jsonl");
        std::fs::write(&out, "{\"canonical_bug_link\":\"old\"}\n").unwrap();
        {
            let mut w = JsonLinesWriter::create(&out).unwrap();
            w.write_bug(&ParsedBug::new("http://x/1")).unwrap();
            // dropped without finish, as a killed process would
        }
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"canonical_bug_link\":\"old\"}\n"
        );
    }
}
