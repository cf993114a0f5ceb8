//! Pure parsers: Launchpad web-service JSON → the pieces of a [`ParsedBug`]. No I/O;
//! malformed input is an [`Error::parse`] naming the URL (or file), never a panic.
//!
//! One bug is assembled from four documents (docs/reference-behaviour.md §5.7): the **bug task**
//! (an entry of a `searchTasks` collection), its **bug**, the bug's **subscriptions** collection
//! and the bug's **owner** (a person). [`assemble`] puts them together; every document has its own
//! parser so that the importer can fetch (and cache) each one once.
//!
//! JSON objects that repeat a key keep the last value (Launchpad's test data repeats `tags`).

use bugimporters_core::time::parse_datetime;
use bugimporters_core::{Error, ParsedBug};
use chrono::NaiveDateTime;
use serde_json::{Map, Value};

/// What the parser needs from the tracker record.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ParseSettings {
    /// `_project_name` and `_tracker_name` of every bug (the tracker name, as the original).
    pub tracker_name: String,
    /// The bite-size tag (one tag, exact).
    pub bitesized_tag: String,
    /// The documentation tag (one tag, exact).
    pub documentation_tag: String,
}

impl ParseSettings {
    /// Settings from the tracker name and the two tags.
    pub fn new(
        tracker_name: impl Into<String>,
        bitesized_tag: impl Into<String>,
        documentation_tag: impl Into<String>,
    ) -> Self {
        ParseSettings {
            tracker_name: tracker_name.into(),
            bitesized_tag: bitesized_tag.into(),
            documentation_tag: documentation_tag.into(),
        }
    }
}

/// One bug task: what the bug record takes from it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Task {
    /// `web_link`: the bug's canonical link (`https://bugs.launchpad.net/<target>/+bug/<n>`).
    pub web_link: String,
    /// `title` (`Bug #N in Target: "summary"`).
    pub title: String,
    /// `status`.
    pub status: String,
    /// `importance`.
    pub importance: String,
    /// `date_created`, in UTC.
    pub date_created: Option<NaiveDateTime>,
    /// Whether `date_closed` is set.
    pub closed: bool,
    /// `bug_link`: the bug document.
    pub bug_link: String,
    /// `owner_link` of the task (used when the bug has none).
    pub owner_link: Option<String>,
    /// Whether `assignee_link` names somebody (`None`: the task has no such key).
    pub assigned: Option<bool>,
}

/// The bug document: what the bug record takes from it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Bug {
    /// `date_last_updated`, in UTC.
    pub date_last_updated: Option<NaiveDateTime>,
    /// `description`.
    pub description: String,
    /// `tags`.
    pub tags: Vec<String>,
    /// `owner_link`: the reporter.
    pub owner_link: Option<String>,
    /// `subscriptions_collection_link`.
    pub subscriptions_link: Option<String>,
}

/// A person document: login and display name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Person {
    /// `name` (the login).
    pub name: String,
    /// `display_name`.
    pub display_name: String,
}

/// The size of a collection: given, or behind a `total_size_link` (large collections).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CollectionSize {
    /// `total_size`.
    Known(u64),
    /// `total_size_link`: GET it for a bare number.
    Link(String),
}

/// One page of a collection.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Collection {
    /// `entries`.
    pub entries: Vec<Value>,
    /// `next_collection_link`.
    pub next_collection_link: Option<String>,
    /// `total_size`.
    pub total_size: Option<u64>,
}

fn read_object(body: &[u8], url: &str) -> Result<Map<String, Value>, Error> {
    bugimporters_core::parse::check_json(url, body)?;
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::parse(url, "expected a JSON object")),
        Err(e) => Err(Error::parse(url, format!("invalid JSON: {e}"))),
    }
}

fn text<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str)
}

fn link(m: &Map<String, Value>, key: &str) -> Option<String> {
    text(m, key)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn date(m: &Map<String, Value>, key: &str, url: &str) -> Result<Option<NaiveDateTime>, Error> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => parse_datetime(s).map(Some).ok_or_else(|| {
            Error::parse(
                url,
                format!("`{key}` {} is not a date", bugimporters_core::excerpt(s)),
            )
        }),
        Some(other) => Err(Error::parse(
            url,
            format!(
                "`{key}` is not a string: {}",
                bugimporters_core::excerpt(&other.to_string())
            ),
        )),
    }
}

/// Parses a collection page (`searchTasks`, `bug_tasks`, `subscriptions`...).
pub fn parse_collection(body: &[u8], url: &str) -> Result<Collection, Error> {
    let m = read_object(body, url)?;
    let entries = match m.get("entries") {
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(Error::parse(url, "`entries` is not a list")),
        None => return Err(Error::parse(url, "not a collection (no `entries`)")),
    };
    Ok(Collection {
        entries,
        next_collection_link: link(&m, "next_collection_link"),
        total_size: m.get("total_size").and_then(Value::as_u64),
    })
}

/// Whether a document is a bug task (`resource_type_link` ends in `#bug_task`; the original
/// required exactly `https://api.launchpad.net/1.0/#bug_task`, which refuses the `devel` and
/// `beta` API versions).
pub fn is_task(doc: &Value) -> bool {
    doc.get("resource_type_link")
        .and_then(Value::as_str)
        .is_some_and(|r| r.ends_with("#bug_task"))
}

/// Parses one bug task (a collection entry or a task document). `Ok(None)` when the document
/// is not a bug task (ignored, as the original).
pub fn parse_task_value(doc: &Value, url: &str) -> Result<Option<Task>, Error> {
    if !is_task(doc) {
        return Ok(None);
    }
    let Value::Object(m) = doc else {
        return Ok(None);
    };
    let web_link =
        link(m, "web_link").ok_or_else(|| Error::parse(url, "a bug task without `web_link`"))?;
    let bug_link = link(m, "bug_link").ok_or_else(|| {
        Error::parse(
            url,
            format!(
                "bug task {} has no `bug_link`",
                bugimporters_core::excerpt(&web_link)
            ),
        )
    })?;
    let closed = match m.get("date_closed") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    };
    Ok(Some(Task {
        title: text(m, "title").unwrap_or_default().to_owned(),
        status: text(m, "status").unwrap_or_default().to_owned(),
        importance: text(m, "importance").unwrap_or_default().to_owned(),
        date_created: date(m, "date_created", url).map_err(|e| {
            Error::parse(
                url,
                format!(
                    "bug task {}: {}",
                    bugimporters_core::excerpt(&web_link),
                    e.inner()
                ),
            )
        })?,
        closed,
        owner_link: link(m, "owner_link"),
        assigned: m
            .contains_key("assignee_link")
            .then(|| link(m, "assignee_link").is_some()),
        web_link,
        bug_link,
    }))
}

/// Parses a task document (`GET <target>/+bug/<n>`).
pub fn parse_task(body: &[u8], url: &str) -> Result<Option<Task>, Error> {
    let m = read_object(body, url)?;
    parse_task_value(&Value::Object(m), url)
}

/// Parses a bug document (`GET /bugs/<n>`).
pub fn parse_bug(body: &[u8], url: &str) -> Result<Bug, Error> {
    let m = read_object(body, url)?;
    let tags = match m.get("tags") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(_) => return Err(Error::parse(url, "`tags` is not a list")),
    };
    Ok(Bug {
        date_last_updated: date(&m, "date_last_updated", url)?,
        description: text(&m, "description").unwrap_or_default().to_owned(),
        tags,
        owner_link: link(&m, "owner_link"),
        subscriptions_link: link(&m, "subscriptions_collection_link"),
    })
}

/// The size of a collection (the subscriptions of a bug): `total_size`, or the
/// `total_size_link` Launchpad gives instead for large collections, or the number of entries.
pub fn parse_collection_size(body: &[u8], url: &str) -> Result<CollectionSize, Error> {
    let m = read_object(body, url)?;
    if let Some(n) = m.get("total_size").and_then(Value::as_u64) {
        return Ok(CollectionSize::Known(n));
    }
    if let Some(l) = link(&m, "total_size_link") {
        return Ok(CollectionSize::Link(l));
    }
    match m.get("entries") {
        Some(Value::Array(a)) if !m.contains_key("next_collection_link") => {
            Ok(CollectionSize::Known(a.len() as u64))
        }
        _ => Err(Error::parse(url, "a collection without `total_size`")),
    }
}

/// Parses the bare number a `total_size_link` answers.
pub fn parse_total_size(body: &[u8], url: &str) -> Result<u64, Error> {
    bugimporters_core::parse::check_json(url, body)?;
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => v.as_u64().ok_or_else(|| {
            Error::parse(
                url,
                format!(
                    "expected a number, got {}",
                    bugimporters_core::excerpt(&v.to_string())
                ),
            )
        }),
        Err(e) => Err(Error::parse(url, format!("invalid JSON: {e}"))),
    }
}

/// Parses a person document (`GET /~name`).
pub fn parse_person(body: &[u8], url: &str) -> Result<Person, Error> {
    let m = read_object(body, url)?;
    let name = text(&m, "name")
        .ok_or_else(|| Error::parse(url, "a person without `name`"))?
        .to_owned();
    Ok(Person {
        display_name: text(&m, "display_name").unwrap_or_default().to_owned(),
        name,
    })
}

/// The login a person link names (`https://api.launchpad.net/1.0/~vila` → `vila`).
pub fn person_name_from_link(link: &str) -> Option<String> {
    let last = link.trim_end_matches('/').rsplit('/').next()?;
    last.strip_prefix('~')
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
}

/// One bug record from its task and, when known, its bug document, subscriber count and
/// owner.
pub fn assemble(
    task: &Task,
    bug: Option<&Bug>,
    people_involved: Option<u64>,
    owner: Option<&Person>,
    settings: &ParseSettings,
    now: NaiveDateTime,
) -> ParsedBug {
    let mut out = ParsedBug::new(task.web_link.clone());
    out.title = Some(task.title.clone());
    out.status = Some(task.status.clone());
    out.importance = Some(task.importance.clone());
    out.date_reported = task.date_created;
    out.looks_closed = Some(task.closed);
    out.assigned = task.assigned;
    if let Some(bug) = bug {
        out.last_touched = bug.date_last_updated;
        out.description = Some(bug.description.clone());
        let has = |tag: &str| !tag.is_empty() && bug.tags.iter().any(|t| t == tag);
        out.good_for_newcomers = Some(has(&settings.bitesized_tag));
        out.concerns_just_documentation = Some(has(&settings.documentation_tag));
    }
    out.people_involved = people_involved.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    if let Some(p) = owner {
        out.submitter_username = Some(p.name.clone());
        out.submitter_realname = Some(Some(p.display_name.clone()));
    }
    out.project_name = Some(settings.tracker_name.clone());
    out.tracker_name = Some(settings.tracker_name.clone());
    out.last_polled = Some(now);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bugimporters_core::time::format_naive;
    use serde_json::json;

    fn task_json(closed: Option<&str>) -> Value {
        json!({"resource_type_link": "https://api.launchpad.net/devel/#bug_task",
            "web_link": "https://bugs.launchpad.net/p/+bug/7", "bug_link": "https://api.launchpad.net/devel/bugs/7",
            "title": "Bug #7 in P: \"x\"", "status": "New", "importance": "Low",
            "date_created": "2020-01-02T03:04:05.123456+00:00", "date_closed": closed,
            "owner_link": "https://api.launchpad.net/devel/~ann"})
    }

    #[test]
    fn tasks() {
        let t = parse_task_value(&task_json(None), "u").unwrap().unwrap();
        assert!(!t.closed);
        assert_eq!(
            format_naive(&t.date_created.unwrap()),
            "2020-01-02T03:04:05.123456"
        );
        let t = parse_task_value(&task_json(Some("2021-01-01T00:00:00+00:00")), "u")
            .unwrap()
            .unwrap();
        assert!(t.closed);
        let mut other = task_json(None);
        other["resource_type_link"] = json!("https://api.launchpad.net/1.0/#bug");
        assert_eq!(parse_task_value(&other, "u").unwrap(), None);
        let mut broken = task_json(None);
        broken["date_created"] = json!("soon");
        let e = parse_task_value(&broken, "http://lp/x")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("http://lp/x") && e.contains("date_created"),
            "{e}"
        );
    }

    #[test]
    fn assigned_from_the_task_assignee() {
        let s = ParseSettings::new("P", "easy", "doc");
        let assigned = |v: &Value| {
            let t = parse_task_value(v, "u").unwrap().unwrap();
            assemble(&t, None, None, None, &s, NaiveDateTime::default()).assigned
        };
        let mut v = task_json(None);
        assert_eq!(assigned(&v), None, "no assignee_link key");
        v["assignee_link"] = Value::Null;
        assert_eq!(assigned(&v), Some(false));
        v["assignee_link"] = json!("https://api.launchpad.net/devel/~bob");
        assert_eq!(assigned(&v), Some(true));
    }

    #[test]
    fn bug_tags_last_key_wins_and_exact_match() {
        let body = br#"{"tags": ["doc"], "tags": ["easy", "docs"], "description": "d",
            "date_last_updated": "2012-08-30T14:16:26.102504+00:00", "owner_link": "o",
            "subscriptions_collection_link": "s"}"#;
        let bug = parse_bug(body, "u").unwrap();
        assert_eq!(bug.tags, ["easy", "docs"]);
        let t = parse_task_value(&task_json(None), "u").unwrap().unwrap();
        let s = ParseSettings::new("P", "easy", "doc");
        let b = assemble(&t, Some(&bug), Some(3), None, &s, NaiveDateTime::default());
        assert_eq!(b.good_for_newcomers, Some(true));
        assert_eq!(
            b.concerns_just_documentation,
            Some(false),
            "exact tag, not a prefix"
        );
        assert_eq!(b.people_involved, Some(3));
        let none = ParseSettings::new("P", "", "");
        let b = assemble(&t, Some(&bug), None, None, &none, NaiveDateTime::default());
        assert_eq!(b.good_for_newcomers, Some(false));
    }

    #[test]
    fn sizes_people_and_errors() {
        assert_eq!(
            parse_collection_size(br#"{"total_size": 4, "entries": []}"#, "u").unwrap(),
            CollectionSize::Known(4)
        );
        assert_eq!(
            parse_collection_size(br#"{"total_size_link": "http://x/t", "entries": []}"#, "u")
                .unwrap(),
            CollectionSize::Link("http://x/t".into())
        );
        assert_eq!(parse_total_size(b"17", "u").unwrap(), 17);
        assert!(parse_total_size(b"\"x\"", "u").is_err());
        assert_eq!(
            person_name_from_link("https://api.launchpad.net/1.0/~vila").as_deref(),
            Some("vila")
        );
        for (body, url) in [(&b"{"[..], "http://lp/a"), (b"[]", "http://lp/b")] {
            let e = parse_bug(body, url).unwrap_err().to_string();
            assert!(e.contains(url), "{e}");
            let e = parse_collection(body, url).unwrap_err().to_string();
            assert!(e.contains(url), "{e}");
        }
        assert!(parse_person(b"{}", "u").is_err());
    }
}
