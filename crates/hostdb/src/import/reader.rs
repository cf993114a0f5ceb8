//! Reading result files: JSON lines (streamed), a JSON array or YAML, with the line of each
//! record.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::Value;
use tokio::sync::mpsc;

use super::{ImportSource, InputFormat, SourceKind};

/// One record read from a file (`V`: as read, a JSON value; or as the reader's `map` made it,
/// e.g. checked), or why it could not be read.
#[derive(Debug)]
pub(crate) struct Item<V = Value> {
    pub file: Arc<str>,
    pub line: usize,
    pub value: Result<V, String>,
}

/// What the reader thread sends.
#[derive(Debug)]
pub(crate) enum Msg<T = Item> {
    /// Records in file order (sent in chunks: one wake-up per chunk, not per record).
    Items(Vec<T>),
    /// The file as a whole is unusable.
    Unusable { file: String, message: String },
}

/// Items per message.
const CHUNK: usize = 256;

/// Longest line of JSON lines read (a longer line is rejected unread, the next lines are
/// read): eight times [`super::RECORD_MAX_BYTES`], room for any escaping of a record that
/// size.
pub(crate) const LINE_MAX_BYTES: usize = 64 << 20;

/// The UTF-8 byte order mark that some editors put at the start of a file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The sending end: turns each item into a `T` (on the reader's thread, so that work runs
/// beside the database's) and sends them in chunks.
pub(crate) struct Out<'m, T> {
    tx: mpsc::Sender<Msg<T>>,
    buf: Vec<T>,
    map: &'m (dyn Fn(Item) -> T + Sync),
}

impl<T> Out<'_, T> {
    /// Queues an item; `false` when the receiver has gone away.
    fn push(&mut self, item: Item) -> bool {
        self.buf.push((self.map)(item));
        self.buf.len() < CHUNK || self.flush()
    }

    fn flush(&mut self) -> bool {
        if self.buf.is_empty() {
            return true;
        }
        let items = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx.blocking_send(Msg::Items(items)).is_ok()
    }

    fn unusable(&mut self, file: String, message: String) -> bool {
        self.flush()
            && self
                .tx
                .blocking_send(Msg::Unusable { file, message })
                .is_ok()
    }
}

/// Reads every source in order on the calling (blocking) thread and sends the items, each
/// passed through `map` first.
pub(crate) fn read_all<T>(
    sources: Vec<ImportSource>,
    format: InputFormat,
    tx: mpsc::Sender<Msg<T>>,
    map: &(dyn Fn(Item) -> T + Sync),
) {
    let mut out = Out {
        tx,
        buf: Vec::with_capacity(CHUNK),
        map,
    };
    read_sources(sources, format, &mut out);
    out.flush();
}

fn read_sources<T>(sources: Vec<ImportSource>, format: InputFormat, tx: &mut Out<'_, T>) {
    for source in sources {
        let name: Arc<str> = Arc::from(source.name.as_str());
        let result = match source.kind {
            SourceKind::Text(text) => read_start(
                &name,
                format,
                BufReader::new(std::io::Cursor::new(text)),
                tx,
            ),
            SourceKind::Stdin => read_start(&name, format, BufReader::new(std::io::stdin()), tx),
            SourceKind::Path(path) => match std::fs::File::open(&path) {
                Ok(f) => read_start(&name, format, BufReader::with_capacity(1 << 16, f), tx),
                Err(e) => Err(format!("cannot open: {e}")),
            },
        };
        match result {
            Ok(true) => {}
            Ok(false) => return, // the receiver is gone
            Err(message) => {
                if !tx.unusable(name.to_string(), message) {
                    return;
                }
            }
        }
    }
}

fn by_extension(name: &str) -> Option<InputFormat> {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e)?;
    match ext {
        "jsonl" | "jsonlines" | "ndjson" => Some(InputFormat::JsonLines),
        "yaml" | "yml" => Some(InputFormat::Yaml),
        _ => None,
    }
}

/// The first byte that is not white space (without consuming it), or `None` at the end.
fn peek_first<R: BufRead>(r: &mut R) -> std::io::Result<Option<u8>> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        let skip = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        if skip < buf.len() {
            return Ok(Some(buf[skip]));
        }
        let n = buf.len();
        r.consume(n);
    }
}

/// Reads one source after dropping a UTF-8 byte order mark at its start (issue 13: it used
/// to cost the first record). Returns `Ok(false)` when the receiver has gone away.
fn read_start<R: BufRead, T>(
    name: &Arc<str>,
    format: InputFormat,
    mut r: R,
    tx: &mut Out<'_, T>,
) -> Result<bool, String> {
    let mut head = Vec::with_capacity(BOM.len());
    (&mut r)
        .take(BOM.len() as u64)
        .read_to_end(&mut head)
        .map_err(|e| format!("cannot read: {e}"))?;
    if head == BOM {
        head.clear();
    }
    read_one(name, format, std::io::Cursor::new(head).chain(r), tx)
}

/// Returns `Ok(false)` when the receiver has gone away.
fn read_one<R: BufRead, T>(
    name: &Arc<str>,
    format: InputFormat,
    mut r: R,
    tx: &mut Out<'_, T>,
) -> Result<bool, String> {
    let format = match format {
        InputFormat::Auto => match by_extension(name) {
            Some(f) => f,
            None => match peek_first(&mut r).map_err(|e| format!("cannot read: {e}"))? {
                Some(b'[') => InputFormat::JsonArray,
                Some(b'{') | None => InputFormat::JsonLines,
                Some(_) => InputFormat::Yaml,
            },
        },
        other => other,
    };
    match format {
        InputFormat::JsonLines | InputFormat::Auto => read_lines(name, r, tx),
        InputFormat::JsonArray => {
            let text = read_text(r)?;
            read_array(name, &text, tx)
        }
        InputFormat::Yaml => {
            let text = read_text(r)?;
            read_yaml(name, &text, tx)
        }
    }
}

fn read_text<R: Read>(mut r: R) -> Result<String, String> {
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))
}

fn send<T>(
    tx: &mut Out<'_, T>,
    file: &Arc<str>,
    line: usize,
    value: Result<Value, String>,
) -> bool {
    tx.push(Item {
        file: file.clone(),
        line,
        value,
    })
}

/// Reads a line into `buf` (cleared first), at most `max` bytes of it: a longer line is
/// skipped to its end. Returns the bytes consumed and whether the line was too long.
fn read_line<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(usize, bool)> {
    buf.clear();
    let mut n = r.by_ref().take(max as u64 + 1).read_until(b'\n', buf)?;
    if buf.len() <= max || buf.ends_with(b"\n") {
        return Ok((n, false));
    }
    buf.clear();
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok((n, true));
        }
        let (used, end) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        r.consume(used);
        n += used;
        if end {
            return Ok((n, true));
        }
    }
}

fn read_lines<R: BufRead, T>(
    name: &Arc<str>,
    mut r: R,
    tx: &mut Out<'_, T>,
) -> Result<bool, String> {
    let mut buf = Vec::with_capacity(4096);
    let mut line = 0usize;
    loop {
        let (n, too_long) = read_line(&mut r, &mut buf, LINE_MAX_BYTES)
            .map_err(|e| format!("line {}: cannot read: {e}", line + 1))?;
        if n == 0 {
            return Ok(true);
        }
        line += 1;
        if too_long {
            let why = format!("line of {n} bytes, longer than the {LINE_MAX_BYTES} read");
            if !send(tx, name, line, Err(why)) {
                return Ok(false);
            }
            continue;
        }
        // A byte order mark also starts the lines where files were concatenated.
        let text = match std::str::from_utf8(buf.strip_prefix(BOM).unwrap_or(&buf)) {
            Ok(t) => t.trim(),
            Err(e) => {
                if !send(tx, name, line, Err(format!("not UTF-8: {e}"))) {
                    return Ok(false);
                }
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        let value = serde_json::from_str::<Value>(text).map_err(|e| format!("invalid JSON: {e}"));
        if !send(tx, name, line, value) {
            return Ok(false);
        }
    }
}

fn line_of(text: &str, part: &str) -> usize {
    let offset = (part.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn read_array<T>(name: &Arc<str>, text: &str, tx: &mut Out<'_, T>) -> Result<bool, String> {
    let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| {
        format!(
            "not a JSON array of records (line {}, column {}): {e}",
            e.line(),
            e.column()
        )
    })?;
    for raw in items {
        let line = line_of(text, raw.get());
        let value =
            serde_json::from_str::<Value>(raw.get()).map_err(|e| format!("invalid JSON: {e}"));
        if !send(tx, name, line, value) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn yaml_to_json(v: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(seq) => Value::Array(seq.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match yaml_to_json(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => yaml_to_json(t.value),
    }
}

/// Lines where the items of a top-level block sequence start (`- ...` in column 0).
fn yaml_item_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| *l == "-" || l.starts_with("- "))
        .map(|(i, _)| i + 1)
        .collect()
}

fn read_yaml<T>(name: &Arc<str>, text: &str, tx: &mut Out<'_, T>) -> Result<bool, String> {
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| match e.location() {
            Some(l) => format!(
                "invalid YAML (line {}, column {}): {e}",
                l.line(),
                l.column()
            ),
            None => format!("invalid YAML: {e}"),
        })?;
    let items = match yaml_to_json(doc) {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        Value::Object(mut m) if m.contains_key("objects") => match m.remove("objects") {
            Some(Value::Array(items)) => items,
            _ => return Err("`objects` must be a list of records".into()),
        },
        obj @ Value::Object(_) => vec![obj],
        _ => return Err("YAML must be a list of records".into()),
    };
    let lines = yaml_item_lines(text);
    let exact = lines.len() == items.len();
    for (i, value) in items.into_iter().enumerate() {
        // Item numbers stand in for lines when the layout is not one item per `- ` line.
        let line = if exact { lines[i] } else { i + 1 };
        if !send(tx, name, line, Ok(value)) {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(name: &str, text: &str) -> Vec<Msg> {
        let (tx, mut rx) = mpsc::channel(100);
        let src = ImportSource::text(name, text);
        std::thread::scope(|s| {
            s.spawn(|| read_all(vec![src], InputFormat::Auto, tx, &|i| i));
        });
        let mut out = Vec::new();
        while let Ok(m) = rx.try_recv() {
            out.push(m);
        }
        out
    }

    fn lines(msgs: &[Msg]) -> Vec<(usize, bool)> {
        msgs.iter()
            .flat_map(|m| match m {
                Msg::Items(items) => items.iter().map(|i| (i.line, i.value.is_ok())).collect(),
                Msg::Unusable { .. } => Vec::new(),
            })
            .collect()
    }

    #[test]
    fn json_lines_with_bad_and_blank_lines() {
        let msgs = collect("x.jsonl", "{\"a\":1}\n\nnot json\n{\"b\":2}");
        assert_eq!(lines(&msgs), vec![(1, true), (3, false), (4, true)]);
    }

    #[test]
    fn json_array_elements_know_their_lines() {
        let msgs = collect("x.json", "[\n {\"a\": 1},\n\n {\"b\": 2}\n]\n");
        assert_eq!(lines(&msgs), vec![(2, true), (4, true)]);
        let msgs = collect("x.json", "[{\"a\": 1},\n {\"b\": ]");
        assert!(matches!(&msgs[..], [Msg::Unusable { message, .. }] if message.contains("line 2")));
    }

    /// Issue 13 point 13: a byte order mark used to cost the first record (JSON lines, JSON)
    /// or turn a file without extension into YAML.
    #[test]
    fn byte_order_marks_are_dropped() {
        let bom = "\u{FEFF}";
        for (name, text, expected) in [
            (
                "x.jsonl",
                "{\"a\":1}\n{\"b\":2}\n",
                vec![(1, true), (2, true)],
            ),
            (
                "x.jsonl",
                "{\"a\":1}\n\u{FEFF}{\"b\":2}\n",
                vec![(1, true), (2, true)],
            ),
            ("-", "{\"a\":1}\n", vec![(1, true)]),
            (
                "x.json",
                "[{\"a\":1},\n{\"b\":2}]",
                vec![(1, true), (2, true)],
            ),
            ("-", "[{\"a\":1}]", vec![(1, true)]),
            ("x.yaml", "- a: 1\n- b: 2\n", vec![(1, true), (2, true)]),
            ("x.yaml", "", vec![]),
        ] {
            let msgs = collect(name, &format!("{bom}{text}"));
            assert_eq!(lines(&msgs), expected, "{name} {text:?}");
            assert!(
                msgs.iter().all(|m| matches!(m, Msg::Items(_))),
                "{name} {text:?}: {msgs:?}"
            );
        }
    }

    #[test]
    fn overlong_lines_are_skipped_unread() {
        let mut r = std::io::Cursor::new(b"abcdefgh\nab\nabcdefghij".to_vec());
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut r, &mut buf, 5).unwrap(), (9, true));
        assert!(buf.is_empty());
        assert_eq!(read_line(&mut r, &mut buf, 5).unwrap(), (3, false));
        assert_eq!(buf, b"ab\n");
        assert_eq!(read_line(&mut r, &mut buf, 5).unwrap(), (10, true));
        assert_eq!(read_line(&mut r, &mut buf, 5).unwrap(), (0, false));
        let mut r = std::io::Cursor::new(b"abcde\nabcde".to_vec());
        assert_eq!(read_line(&mut r, &mut buf, 5).unwrap(), (6, false));
        assert_eq!(read_line(&mut r, &mut buf, 5).unwrap(), (5, false));
    }

    #[test]
    fn yaml_items_know_their_lines() {
        let msgs = collect("x.yaml", "# c\n- a: 1\n  b: 2\n- !!python/unicode 'x'\n");
        assert_eq!(lines(&msgs), vec![(2, true), (4, true)]);
        let msgs = collect("-", "- a: 1\n");
        assert_eq!(lines(&msgs), vec![(1, true)]);
    }
}
