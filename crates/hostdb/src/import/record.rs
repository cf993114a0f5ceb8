//! One crawl record, checked and typed for the `bugs` table.

use bugimporters_core::time::parse_datetime;
use chrono::NaiveDateTime;
use serde_json::Value;

use super::{LINK_MAX_CHARS, NAME_MAX_CHARS};

/// The data columns of `bugs` that a record may set, in a fixed order (bit `i` of a shape is
/// `COLUMNS[i]`): the one list the import reads, checks, hashes and upserts from, so a new
/// column is one line here. Append new columns at the end: the content hash includes each
/// column's index, and moving one would make every held bug look changed once.
pub(crate) const COLUMNS: [(&str, Kind); 15] = [
    ("title", Kind::Text),
    ("description", Kind::Text),
    ("status", Kind::Text),
    ("importance", Kind::Text),
    ("people_involved", Kind::Int),
    ("date_reported", Kind::Time),
    ("last_touched", Kind::Time),
    ("submitter_username", Kind::Text),
    ("submitter_realname", Kind::Text),
    ("looks_closed", Kind::Bool),
    ("good_for_newcomers", Kind::Bool),
    ("concerns_just_documentation", Kind::Bool),
    ("as_appears_in_distribution", Kind::Text),
    ("raw_data", Kind::Json),
    ("assigned", Kind::OptBool),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Int,
    Time,
    Bool,
    /// A boolean that may be `null` (unknown).
    OptBool,
    Json,
}

/// A typed column value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Field {
    Text(Option<String>),
    Int(Option<i64>),
    Time(Option<NaiveDateTime>),
    Bool(bool),
    /// `None`: the tracker does not say.
    OptBool(Option<bool>),
    /// JSON text.
    Json(Option<String>),
}

/// A record that passed the checks.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub link: String,
    pub tracker: Option<String>,
    pub project: Option<String>,
    pub last_polled: Option<NaiveDateTime>,
    pub deleted: bool,
    pub no_update: bool,
    /// Present data columns, by index into [`COLUMNS`].
    pub fields: Vec<(usize, Field)>,
    /// Keys that are not columns (ignored).
    pub ignored: Vec<String>,
    /// [`Record::content_hash`], computed once by [`check`] (0 for `_no_update` records,
    /// which store nothing).
    pub hash: i64,
}

impl Record {
    /// Bit mask of the present data columns.
    pub fn shape(&self) -> u32 {
        self.fields.iter().fold(0, |m, (i, _)| m | (1 << i))
    }

    /// A stable 64-bit hash (FNV-1a) of what the record would store: project, tracker and
    /// every present column. Equal hashes mean "unchanged".
    pub fn content_hash(&self) -> i64 {
        let mut h = Fnv::new();
        h.str(self.project.as_deref().unwrap_or_default());
        h.str(self.tracker.as_deref().unwrap_or_default());
        for (i, f) in &self.fields {
            h.bytes(&[*i as u8]);
            match f {
                Field::Text(v) | Field::Json(v) => h.opt_str(v.as_deref()),
                Field::Int(v) => {
                    let mut buf = [0u8; 20];
                    h.opt_str(v.map(|n| int_text(n, &mut buf)));
                }
                Field::Time(None) => h.opt_str(None),
                Field::Time(Some(t)) => {
                    let mut buf = [0u8; TIME_TEXT];
                    match time_text(*t, &mut buf) {
                        Some(text) => h.opt_str(Some(text)),
                        None => h.opt_str(Some(&t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())),
                    }
                }
                Field::Bool(b) => h.bytes(&[u8::from(*b)]),
                Field::OptBool(b) => h.bytes(&[b.map_or(2, u8::from)]),
            }
        }
        i64::from_ne_bytes(h.0.to_ne_bytes())
    }
}

/// Bytes of `%Y-%m-%dT%H:%M:%S%.6f` for a four-digit year.
const TIME_TEXT: usize = 26;

/// `t` as chrono's `%Y-%m-%dT%H:%M:%S%.6f` (the bytes the content hash has always used),
/// written by hand: chrono's formatter interprets the format string for every time of every
/// record and was the largest single cost of an import in issue 18's profile. `None` for a
/// year outside 0..=9999 or a leap second (the caller formats those with chrono).
fn time_text(t: NaiveDateTime, buf: &mut [u8; TIME_TEXT]) -> Option<&str> {
    use chrono::{Datelike, Timelike};
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let mut put = |at: usize, n: u32, width: usize| {
        let mut n = n;
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, year, 4);
    put(5, t.month(), 2);
    put(8, t.day(), 2);
    put(11, t.hour(), 2);
    put(14, t.minute(), 2);
    put(17, t.second(), 2);
    put(20, nanos / 1000, 6);
    for (at, sep) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ] {
        buf[at] = sep;
    }
    std::str::from_utf8(&buf[..]).ok()
}

/// `n` in decimal (what `n.to_string()` gives), without allocating.
fn int_text(n: i64, buf: &mut [u8; 20]) -> &str {
    let mut at = buf.len();
    let neg = n < 0;
    let mut m = n.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if neg {
        at -= 1;
        buf[at] = b'-';
    }
    std::str::from_utf8(&buf[at..]).unwrap_or_default()
}

struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn bytes(&mut self, b: &[u8]) {
        for byte in b {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn str(&mut self, s: &str) {
        self.bytes(&(s.len() as u64).to_le_bytes());
        self.bytes(s.as_bytes());
    }
    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.bytes(&[0]),
            Some(s) => {
                self.bytes(&[1]);
                self.str(s);
            }
        }
    }
}

fn config_message(e: &bugimporters_core::Error) -> String {
    match e {
        bugimporters_core::Error::Config { message } => message.clone(),
        other => other.to_string(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// NUL cannot be stored in PostgreSQL text; it becomes U+FFFD on every backend alike.
fn clean(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_owned()
    }
}

fn opt_string(key: &str, v: Option<&Value>) -> Result<Option<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(clean(s))),
        Some(other) => Err(format!(
            "{key}: expected a string, got {}",
            type_name(other)
        )),
    }
}

fn flag(key: &str, v: Option<&Value>) -> Result<bool, String> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!(
            "{key}: expected true or false, got {}",
            type_name(other)
        )),
    }
}

fn name(key: &str, v: Option<&Value>) -> Result<Option<String>, String> {
    let Some(s) = opt_string(key, v)? else {
        return Ok(None);
    };
    if s.is_empty() {
        return Ok(None);
    }
    if s.trim() != s {
        return Err(format!("{key}: {s:?} starts or ends with spaces"));
    }
    if s.chars().count() > NAME_MAX_CHARS {
        return Err(format!("{key}: longer than {NAME_MAX_CHARS} characters"));
    }
    Ok(Some(s))
}

fn time(key: &str, v: Option<&Value>) -> Result<Option<NaiveDateTime>, String> {
    match opt_string(key, v)? {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => {
            // Fast path: the crawl's own format (naive ISO-8601, no zone).
            if let Ok(t) = NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.f") {
                return Ok(Some(t));
            }
            parse_datetime(&s)
                .map(Some)
                .ok_or_else(|| format!("{key}: not a date: {s:?}"))
        }
    }
}

/// Checks one record (a JSON value) and types it. The error says which key is wrong and why.
pub(crate) fn check(value: Value) -> Result<Record, String> {
    let Value::Object(map) = value else {
        return Err(format!(
            "a record must be an object, got {}",
            type_name(&value)
        ));
    };
    let link = match map.get("canonical_bug_link") {
        None | Some(Value::Null) => return Err("missing canonical_bug_link".into()),
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(format!(
                "canonical_bug_link: expected a string, got {}",
                type_name(other)
            ))
        }
    };
    if link.trim().is_empty() {
        return Err("canonical_bug_link is empty".into());
    }
    if link.trim() != link || link.contains(char::is_control) {
        return Err(format!(
            "canonical_bug_link {link:?} has surrounding spaces or control characters"
        ));
    }
    if link.chars().count() > LINK_MAX_CHARS {
        return Err(format!(
            "canonical_bug_link is longer than {LINK_MAX_CHARS} characters"
        ));
    }
    // Only absolute http(s) links without userinfo are stored: no `javascript:`/`data:`
    // links for the host's pages, no password in a link.
    if let Err(e) = bugimporters_core::check_http_url(&link) {
        return Err(format!("canonical_bug_link: {}", config_message(&e)));
    }
    let mut record = Record {
        link,
        tracker: name("_tracker_name", map.get("_tracker_name"))?,
        project: name("_project_name", map.get("_project_name"))?,
        last_polled: time("last_polled", map.get("last_polled"))?,
        deleted: flag("_deleted", map.get("_deleted"))?,
        no_update: flag("_no_update", map.get("_no_update"))?,
        fields: Vec::new(),
        ignored: Vec::new(),
        hash: 0,
    };
    for (i, (key, kind)) in COLUMNS.iter().enumerate() {
        let Some(v) = map.get(*key) else { continue };
        let field = match kind {
            Kind::Text => Field::Text(opt_string(key, Some(v))?),
            Kind::Time => Field::Time(time(key, Some(v))?),
            Kind::Bool => match v {
                Value::Bool(b) => Field::Bool(*b),
                other => {
                    return Err(format!(
                        "{key}: expected true or false, got {}",
                        type_name(other)
                    ))
                }
            },
            Kind::OptBool => match v {
                Value::Null => Field::OptBool(None),
                Value::Bool(b) => Field::OptBool(Some(*b)),
                other => {
                    return Err(format!(
                        "{key}: expected true, false or null, got {}",
                        type_name(other)
                    ))
                }
            },
            Kind::Int => match v {
                Value::Null => Field::Int(None),
                Value::Number(n) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
                    Some(n) => Field::Int(Some(i64::from(n))),
                    None => {
                        return Err(format!(
                            "{key}: expected a count (a whole number from 0), got {n}"
                        ))
                    }
                },
                other => {
                    return Err(format!(
                        "{key}: expected a whole number, got {}",
                        type_name(other)
                    ))
                }
            },
            Kind::Json => match v {
                Value::Null => Field::Json(None),
                other => Field::Json(Some(other.to_string())),
            },
        };
        record.fields.push((i, field));
    }
    const BOOKKEEPING: &[&str] = &[
        "canonical_bug_link",
        "_tracker_name",
        "_project_name",
        "last_polled",
        "_deleted",
        "_no_update",
    ];
    record.ignored = map
        .keys()
        .filter(|k| !BOOKKEEPING.contains(&k.as_str()) && !COLUMNS.iter().any(|(c, _)| c == k))
        .cloned()
        .collect();
    if !record.no_update {
        // docs/reference-behaviour.md §1.1 step 3, deletions included.
        let mut missing = Vec::new();
        if record.tracker.is_none() {
            missing.push("_tracker_name");
        }
        if record.project.is_none() {
            missing.push("_project_name");
        }
        if record.last_polled.is_none() {
            missing.push("last_polled");
        }
        if !missing.is_empty() {
            return Err(format!("missing {}", missing.join(", ")));
        }
        record.hash = record.content_hash();
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"canonical_bug_link": "http://t/1", "_tracker_name": "T", "_project_name": "P",
               "last_polled": "2012-07-03T14:05:09.899000"})
    }

    #[test]
    fn types_are_checked_and_named() {
        let mut v = base();
        v["title"] = json!(5);
        assert_eq!(
            check(v).unwrap_err(),
            "title: expected a string, got a number"
        );
        let mut v = base();
        v["people_involved"] = json!(-1);
        assert!(check(v).unwrap_err().starts_with("people_involved"));
        let mut v = base();
        v["looks_closed"] = json!("yes");
        assert!(check(v).unwrap_err().starts_with("looks_closed"));
        let mut v = base();
        v["date_reported"] = json!("yesterday");
        assert!(check(v).unwrap_err().contains("not a date"));
        let mut v = base();
        v["last_polled"] = json!("");
        assert_eq!(check(v).unwrap_err(), "missing last_polled");
        let mut v = base();
        v["last_polled"] = json!("2010-02-22T19:46:30-0500");
        let r = check(v).unwrap();
        assert_eq!(
            r.last_polled,
            parse_datetime("2010-02-23T00:46:30"),
            "offsets still convert"
        );
    }

    #[test]
    fn hand_written_texts_match_chrono_and_to_string() {
        let fmt = "%Y-%m-%dT%H:%M:%S%.6f";
        for text in [
            "2012-07-03T14:05:09.899000",
            "0001-01-01T00:00:00",
            "9999-12-31T23:59:59.999999",
            "2014-01-01T00:00:00.123456",
        ] {
            let t = parse_datetime(text).unwrap();
            let mut buf = [0u8; TIME_TEXT];
            assert_eq!(
                time_text(t, &mut buf),
                Some(t.format(fmt).to_string().as_str())
            );
        }
        let nano =
            NaiveDateTime::parse_from_str("2014-01-01T00:00:00.123456789", "%Y-%m-%dT%H:%M:%S%.f")
                .unwrap();
        let mut buf = [0u8; TIME_TEXT];
        assert_eq!(
            time_text(nano, &mut buf),
            Some("2014-01-01T00:00:00.123456")
        );
        for n in [0i64, 7, -7, 42, i64::MAX, i64::MIN, 4_294_967_295] {
            let mut buf = [0u8; 20];
            assert_eq!(int_text(n, &mut buf), n.to_string());
        }
    }

    /// FNV-1a of the bytes below, as every version since the first stored it.
    const HASH_OF_BASE_WITH_COUNT_AND_DATE: i64 = -6_740_353_765_316_771_884;

    #[test]
    fn hash_is_stable_across_versions() {
        // The value stored by earlier versions for this record: a changed hash function
        // would make every held bug look changed once (an update and an event each).
        let mut v = base();
        v["people_involved"] = json!(3);
        v["date_reported"] = json!("2012-07-03T14:05:09");
        assert_eq!(
            check(v).unwrap().content_hash(),
            HASH_OF_BASE_WITH_COUNT_AND_DATE
        );
    }

    #[test]
    fn assigned_is_an_optional_flag() {
        let r = check(base()).unwrap();
        assert!(r.fields.is_empty(), "absent: the column is left alone");
        for (value, want) in [
            (json!(true), Some(true)),
            (json!(false), Some(false)),
            (json!(null), None),
        ] {
            let mut v = base();
            v["assigned"] = value;
            let r = check(v).unwrap();
            assert_eq!(r.fields, vec![(14, Field::OptBool(want))]);
            assert!(r.ignored.is_empty());
        }
        let mut v = base();
        v["assigned"] = json!("yes");
        assert_eq!(
            check(v).unwrap_err(),
            "assigned: expected true, false or null, got a string"
        );
        let mut a = base();
        a["assigned"] = json!(true);
        let mut b = base();
        b["assigned"] = json!(false);
        assert_ne!(
            check(a).unwrap().content_hash(),
            check(b).unwrap().content_hash()
        );
    }

    #[test]
    fn no_update_needs_only_the_link() {
        let r = check(json!({"canonical_bug_link": "http://t/1", "_no_update": true})).unwrap();
        assert!(r.no_update && r.tracker.is_none());
        assert!(check(json!({"canonical_bug_link": "http://t/1", "_deleted": true})).is_err());
    }

    #[test]
    fn hash_tracks_content_and_ignores_unknown_keys() {
        let a = check(base()).unwrap();
        let mut v = base();
        v["whatever"] = json!(1);
        let b = check(v).unwrap();
        assert_eq!(a.content_hash(), b.content_hash());
        assert_eq!(b.ignored, vec!["whatever".to_owned()]);
        let mut v = base();
        v["title"] = json!("x");
        assert_ne!(check(v).unwrap().content_hash(), a.content_hash());
        let mut v = base();
        v["title"] = json!("nul\u{0}byte");
        let r = check(v).unwrap();
        assert_eq!(r.fields[0].1, Field::Text(Some("nul\u{FFFD}byte".into())));
    }
}
