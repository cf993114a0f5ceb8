//! Pure parsers: Redmine REST JSON (an issue list page, one issue, the status list) to
//! [`ParsedBug`]s. No I/O; malformed input is an [`Error::Parse`], never a panic.
//!
//! Field mapping (see `docs/trackers/redmine.md`):
//!
//! | ParsedBug | Redmine |
//! | --- | --- |
//! | `title` | `subject` |
//! | `description` | `description` with `\r\n` (and lone `\r`) turned into `\n`; `""` when null |
//! | `status` | `status.name` |
//! | `looks_closed` | `status.is_closed` when the issue carries it, else the status's `is_closed` from `/issue_statuses.json`, else [`fallback_closed`] |
//! | `importance` | `priority.name` |
//! | `assigned` | whether `assigned_to` holds a user or group (Redmine leaves the key out when nobody has the issue, so an absent key is `false`) |
//! | `people_involved` | distinct users among `author`, `assigned_to`, `watchers` and journal authors (the last two only when the response includes them) |
//! | `date_reported`, `last_touched` | `created_on`, `updated_on` (ISO 8601 UTC) |
//! | `submitter_username`, `submitter_realname` | `author.name` (Redmine's API shows no login) |
//! | `canonical_bug_link` | `<base_url>/issues/<id>` |
//! | `_project_name` | `bug_project_name_format` with `{tracker_name}`, `{product}` = project name, `{component}` = category name; the tracker name when blank |

use std::collections::{HashMap, HashSet};

use bugimporters_core::{classify, time::parse_datetime, Error, ParsedBug};
use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::config::{Rule, RuleField};

/// `is_closed` of each status id, from `/issue_statuses.json`.
pub type StatusMap = HashMap<u64, bool>;

/// What the parsers need besides the response: names, rules and the status list.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ParseSettings {
    /// `base_url` with a trailing `/`.
    pub base: Url,
    /// `tracker_name` of the configuration.
    pub tracker_name: String,
    /// `bug_project_name_format`; blank = the tracker name.
    pub project_format: String,
    /// The bite-size rule.
    pub bitesized: Rule,
    /// The documentation rule.
    pub documentation: Rule,
    /// Closed flags by status id (may be empty).
    pub statuses: StatusMap,
}

impl ParseSettings {
    /// Settings with no rules, no project format and no status list.
    pub fn new(base: Url, tracker_name: impl Into<String>) -> Self {
        ParseSettings {
            base,
            tracker_name: tracker_name.into(),
            project_format: String::new(),
            bitesized: Rule::default(),
            documentation: Rule::default(),
            statuses: StatusMap::new(),
        }
    }
}

/// One parsed issue: its id and `updated_on` (for the refresh rules) and the record.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RedmineIssue {
    /// Redmine issue id.
    pub id: u64,
    /// `updated_on`, naive UTC.
    pub updated_on: Option<NaiveDateTime>,
    /// `is_private`: visible only to some members (the importer skips such issues unless
    /// `include_private` is set).
    pub is_private: bool,
    /// The record.
    pub bug: ParsedBug,
}

/// One page of `/issues.json`.
#[derive(Debug)]
#[non_exhaustive]
pub struct IssuePage {
    /// `total_count` (matching issues, all pages).
    pub total_count: Option<u64>,
    /// `offset` the server applied.
    pub offset: Option<u64>,
    /// `limit` the server applied (Redmine caps it at 100).
    pub limit: Option<u64>,
    /// The issues that parsed, in page order.
    pub issues: Vec<RedmineIssue>,
    /// One error per issue that did not parse (the others are kept).
    pub errors: Vec<Error>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Named {
    id: Option<u64>,
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Status {
    id: Option<u64>,
    name: Option<String>,
    is_closed: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CustomField {
    id: Option<u64>,
    name: Option<String>,
    value: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Journal {
    user: Option<Named>,
}

#[derive(Debug, Deserialize)]
struct Issue {
    id: u64,
    #[serde(default)]
    project: Option<Named>,
    #[serde(default)]
    tracker: Option<Named>,
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    priority: Option<Named>,
    #[serde(default)]
    author: Option<Named>,
    #[serde(default)]
    assigned_to: Option<Named>,
    #[serde(default)]
    category: Option<Named>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    custom_fields: Option<Vec<CustomField>>,
    #[serde(default)]
    created_on: Option<String>,
    #[serde(default)]
    updated_on: Option<String>,
    #[serde(default)]
    closed_on: Option<String>,
    #[serde(default)]
    is_private: Option<bool>,
    #[serde(default)]
    journals: Option<Vec<Journal>>,
    #[serde(default)]
    watchers: Option<Vec<Named>>,
}

/// `<base>issues/<id>`: the issue's page, the host's key.
pub fn canonical_link(base: &Url, id: u64) -> String {
    base.join(&format!("issues/{id}"))
        .map(String::from)
        .unwrap_or_else(|_| format!("{base}issues/{id}"))
}

/// The issue id a link names when it is an issue page of the tracker at `base` (same host and
/// port, path `<base path>issues/<id>`, optionally with `.json` or a fragment); `None`
/// otherwise.
pub fn issue_id_from_link(base: &Url, link: &str) -> Option<u64> {
    let url = Url::parse(link.trim()).ok()?;
    // Scheme may differ (a host may hold `http://` links of an `https://` tracker).
    if url.host_str() != base.host_str() || url.port() != base.port() {
        return None;
    }
    let rest = url.path().strip_prefix(base.path())?;
    let rest = rest.strip_prefix("issues/")?;
    let rest = rest.strip_suffix(".json").unwrap_or(rest);
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

/// A Redmine description with `\r\n` and lone `\r` line ends turned into `\n`.
pub fn normalize_newlines(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

fn json(body: &[u8], url: &str) -> Result<Value, Error> {
    bugimporters_core::parse::check_json(url, body)?;
    serde_json::from_slice(body).map_err(|e| Error::parse(url, format!("not JSON: {e}")))
}

fn date(
    field: &str,
    value: Option<&str>,
    id: u64,
    url: &str,
) -> Result<Option<NaiveDateTime>, Error> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => parse_datetime(v).map(Some).ok_or_else(|| {
            Error::parse(
                url,
                format!(
                    "issue {id}: {field} {} is not a date",
                    bugimporters_core::excerpt(v)
                ),
            )
        }),
    }
}

fn custom_values(field: &CustomField) -> Vec<&str> {
    match &field.value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn rule_matches(rule: &Rule, issue: &Issue) -> bool {
    let name = |n: &Option<Named>| n.as_ref().and_then(|n| n.name.clone());
    match &rule.field {
        RuleField::Off => false,
        RuleField::Tracker => rule.matches_any(name(&issue.tracker).as_deref()),
        RuleField::Category => rule.matches_any(name(&issue.category).as_deref()),
        RuleField::Priority => rule.matches_any(name(&issue.priority).as_deref()),
        RuleField::Subject => rule.in_text(issue.subject.as_deref().unwrap_or("")),
        RuleField::CustomFieldId(id) => issue
            .custom_fields
            .iter()
            .flatten()
            .filter(|f| f.id == Some(*id))
            .any(|f| rule.matches_any(custom_values(f))),
        RuleField::CustomFieldName(wanted) => issue
            .custom_fields
            .iter()
            .flatten()
            .filter(|f| {
                f.name
                    .as_deref()
                    .map(|n| n.trim().to_lowercase())
                    .as_deref()
                    == Some(wanted)
            })
            .any(|f| rule.matches_any(custom_values(f))),
    }
}

fn person_key(n: &Named) -> Option<String> {
    match (n.id, n.name.as_deref().map(str::trim)) {
        (Some(id), _) => Some(format!("id:{id}")),
        (None, Some(name)) if !name.is_empty() => Some(format!("name:{name}")),
        _ => None,
    }
}

fn issue_to_bug(
    issue: Issue,
    url: &str,
    settings: &ParseSettings,
    now: NaiveDateTime,
) -> Result<RedmineIssue, Error> {
    let id = issue.id;
    let date_reported = date("created_on", issue.created_on.as_deref(), id, url)?;
    let updated_on = date("updated_on", issue.updated_on.as_deref(), id, url)?;
    let closed_on = date("closed_on", issue.closed_on.as_deref(), id, url)?;

    let mut people: HashSet<String> = HashSet::new();
    let everyone = issue
        .author
        .iter()
        .chain(issue.assigned_to.iter())
        .chain(issue.watchers.iter().flatten())
        .chain(
            issue
                .journals
                .iter()
                .flatten()
                .filter_map(|j| j.user.as_ref()),
        );
    for person in everyone {
        if let Some(k) = person_key(person) {
            people.insert(k);
        }
    }

    let assigned = issue
        .assigned_to
        .as_ref()
        .is_some_and(|a| a.id.is_some() || a.name.as_deref().is_some_and(|n| !n.is_empty()));
    let status = issue.status.as_ref();
    let looks_closed = status
        .and_then(|s| s.is_closed)
        .or_else(|| {
            status
                .and_then(|s| s.id)
                .and_then(|sid| settings.statuses.get(&sid).copied())
        })
        .unwrap_or_else(|| {
            fallback_closed(
                status.and_then(|s| s.name.as_deref()),
                closed_on,
                updated_on,
            )
        });

    let project_name = if settings.project_format.trim().is_empty() {
        settings.tracker_name.clone()
    } else {
        classify::project_name(
            &settings.project_format,
            &settings.tracker_name,
            issue.category.as_ref().and_then(|c| c.name.as_deref()),
            issue.project.as_ref().and_then(|p| p.name.as_deref()),
        )?
    };

    let author = issue
        .author
        .as_ref()
        .and_then(|a| a.name.clone())
        .unwrap_or_default();
    let mut bug = ParsedBug::new(canonical_link(&settings.base, id));
    bug.good_for_newcomers = Some(rule_matches(&settings.bitesized, &issue));
    bug.concerns_just_documentation = Some(rule_matches(&settings.documentation, &issue));
    bug.title = Some(issue.subject.unwrap_or_default());
    bug.description = Some(normalize_newlines(
        issue.description.as_deref().unwrap_or(""),
    ));
    bug.status = Some(status.and_then(|s| s.name.clone()).unwrap_or_default());
    bug.importance = Some(issue.priority.and_then(|p| p.name).unwrap_or_default());
    bug.people_involved = Some(u32::try_from(people.len()).unwrap_or(u32::MAX));
    bug.date_reported = date_reported;
    bug.last_touched = updated_on;
    bug.last_polled = Some(now);
    bug.submitter_username = Some(author.clone());
    bug.submitter_realname = Some(Some(author));
    bug.looks_closed = Some(looks_closed);
    bug.assigned = Some(assigned);
    bug.project_name = Some(project_name);
    bug.tracker_name = Some(settings.tracker_name.clone());
    Ok(RedmineIssue {
        id,
        updated_on,
        is_private: issue.is_private.unwrap_or(false),
        bug,
    })
}

fn issue_from_value(
    value: Value,
    url: &str,
    settings: &ParseSettings,
    now: NaiveDateTime,
) -> Result<RedmineIssue, Error> {
    let hint = value
        .get("id")
        .map(|v| format!("issue {}", bugimporters_core::excerpt(&v.to_string())))
        .unwrap_or_else(|| "an issue without an id".to_owned());
    let issue: Issue = serde_json::from_value(value).map_err(|e| {
        Error::parse(
            url,
            format!("{hint}: {}", bugimporters_core::excerpt(&e.to_string())),
        )
    })?;
    issue_to_bug(issue, url, settings, now)
}

fn count(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

/// Parses one page of `/issues.json` (`{"issues": [...], "total_count", "offset", "limit"}`).
/// An issue that does not parse becomes an entry of [`IssuePage::errors`]; a body that is
/// not such a page is an error.
pub fn parse_issue_list(
    body: &[u8],
    url: &str,
    settings: &ParseSettings,
    now: NaiveDateTime,
) -> Result<IssuePage, Error> {
    let mut v = json(body, url)?;
    let Some(Value::Array(items)) = v.get_mut("issues").map(Value::take) else {
        return Err(Error::parse(
            url,
            "not a Redmine issue list (no \"issues\" array)",
        ));
    };
    let mut page = IssuePage {
        total_count: count(&v, "total_count"),
        offset: count(&v, "offset"),
        limit: count(&v, "limit"),
        issues: Vec::with_capacity(items.len()),
        errors: Vec::new(),
    };
    for item in items {
        match issue_from_value(item, url, settings, now) {
            Ok(i) => page.issues.push(i),
            Err(e) => page.errors.push(e),
        }
    }
    Ok(page)
}

/// Parses one issue (`/issues/N.json`, `{"issue": {...}}`; a bare issue object is accepted).
pub fn parse_issue(
    body: &[u8],
    url: &str,
    settings: &ParseSettings,
    now: NaiveDateTime,
) -> Result<RedmineIssue, Error> {
    let mut v = json(body, url)?;
    let item = match v.get_mut("issue").map(Value::take) {
        Some(item @ Value::Object(_)) => item,
        Some(_) => return Err(Error::parse(url, "\"issue\" is not an object")),
        None if v.get("id").is_some() => v,
        None => {
            return Err(Error::parse(
                url,
                "not a Redmine issue (no \"issue\" object)",
            ))
        }
    };
    issue_from_value(item, url, settings, now)
}

/// Whether an issue is closed when neither the issue nor a status list says which statuses
/// are closed. Redmine keeps `closed_on` when an issue is reopened, so `closed_on` alone is
/// wrong for reopened issues; instead:
///
/// * one of Redmine's default status names decides: `Closed` and `Rejected` are closed,
///   `New`, `In Progress`, `Resolved` and `Feedback` open (case-insensitively);
/// * else the issue is closed when `closed_on` is set and no change came after it
///   (`closed_on >= updated_on`: Redmine sets `closed_on` to the `updated_on` of the
///   closing change, and reopening is a later change).
///
/// A closed issue with a custom status that was edited after closing reads as open.
///
/// ```
/// use bugimporters_redmine::parser::fallback_closed;
/// use bugimporters_core::time::parse_datetime;
/// let t = |s| parse_datetime(s);
/// assert!(fallback_closed(Some("Closed"), None, None));
/// assert!(!fallback_closed(Some("New"), t("2026-01-01T00:00:00"), t("2026-01-02T00:00:00")));
/// let (closed, later) = (t("2026-01-01T00:00:00"), t("2026-01-05T00:00:00"));
/// assert!(fallback_closed(Some("Done"), closed, closed));
/// assert!(!fallback_closed(Some("Reopened"), closed, later));
/// ```
pub fn fallback_closed(
    status_name: Option<&str>,
    closed_on: Option<NaiveDateTime>,
    updated_on: Option<NaiveDateTime>,
) -> bool {
    let name = status_name
        .map(|n| n.trim().to_lowercase())
        .unwrap_or_default();
    match name.as_str() {
        "closed" | "rejected" => true,
        "new" | "in progress" | "resolved" | "feedback" => false,
        _ => closed_on.is_some_and(|c| updated_on.is_none_or(|u| c >= u)),
    }
}

/// Parses `/issue_statuses.json` into closed flags by status id.
pub fn parse_statuses(body: &[u8], url: &str) -> Result<StatusMap, Error> {
    #[derive(Deserialize)]
    struct S {
        id: u64,
        #[serde(default)]
        is_closed: bool,
    }
    #[derive(Deserialize)]
    struct L {
        issue_statuses: Vec<S>,
    }
    bugimporters_core::parse::check_json(url, body)?;
    let list: L = serde_json::from_slice(body).map_err(|e| {
        Error::parse(
            url,
            format!(
                "not a Redmine status list: {}",
                bugimporters_core::excerpt(&e.to_string())
            ),
        )
    })?;
    Ok(list
        .issue_statuses
        .into_iter()
        .map(|s| (s.id, s.is_closed))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ParseSettings {
        ParseSettings::new(Url::parse("https://rm.example/sub/").unwrap(), "RM")
    }

    fn now() -> NaiveDateTime {
        parse_datetime("2026-01-01T00:00:00").unwrap()
    }

    #[test]
    fn links() {
        let base = Url::parse("https://rm.example/sub/").unwrap();
        assert_eq!(canonical_link(&base, 7), "https://rm.example/sub/issues/7");
        assert_eq!(
            issue_id_from_link(&base, "https://rm.example/sub/issues/7"),
            Some(7)
        );
        assert_eq!(
            issue_id_from_link(&base, "https://rm.example/sub/issues/7.json"),
            Some(7)
        );
        assert_eq!(
            issue_id_from_link(&base, "http://rm.example/sub/issues/7"),
            Some(7),
            "scheme may differ (the host may hold http links)"
        );
        assert_eq!(
            issue_id_from_link(&base, "https://rm.example/issues/7"),
            None
        );
        assert_eq!(
            issue_id_from_link(&base, "https://other/sub/issues/7"),
            None
        );
        assert_eq!(
            issue_id_from_link(&base, "https://rm.example/sub/issues/x"),
            None
        );
        assert_eq!(issue_id_from_link(&base, "nonsense"), None);
    }

    #[test]
    fn minimal_and_hostile_issues() {
        let s = settings();
        let bug = parse_issue(br#"{"issue": {"id": 3}}"#, "u", &s, now()).unwrap();
        assert_eq!(bug.id, 3);
        assert_eq!(bug.bug.title.as_deref(), Some(""));
        assert_eq!(bug.bug.looks_closed, Some(false));
        assert_eq!(bug.bug.people_involved, Some(0));
        for body in [
            &b"[]"[..],
            b"{",
            br#"{"issue": 5}"#,
            br#"{"issue": {"id": "x"}}"#,
            br#"{"issue": {"id": 1, "created_on": "yesterday-ish"}}"#,
            br#"{"issue": {"id": 1, "author": "bob"}}"#,
        ] {
            assert!(parse_issue(body, "u", &s, now()).is_err());
        }
        assert!(parse_issue_list(br#"{"issues": 3}"#, "u", &s, now()).is_err());
        let page = parse_issue_list(
            br#"{"issues": [{"id": 1}, {"nope": 1}, {"id": 2, "status": "open"}], "total_count": 3}"#,
            "u",
            &s,
            now(),
        )
        .unwrap();
        assert_eq!(page.issues.len(), 1);
        assert_eq!(page.errors.len(), 2);
        assert_eq!(page.total_count, Some(3));
    }

    #[test]
    fn assigned_from_assigned_to() {
        let s = settings();
        let bug = parse_issue(br#"{"issue": {"id": 3}}"#, "u", &s, now()).unwrap();
        assert_eq!(
            bug.bug.assigned,
            Some(false),
            "Redmine omits an empty assigned_to"
        );
        let body = br#"{"issue": {"id": 3, "assigned_to": {"id": 5, "name": "Alice"}}}"#;
        let bug = parse_issue(body, "u", &s, now()).unwrap();
        assert_eq!(bug.bug.assigned, Some(true));
        let body = br#"{"issue": {"id": 3, "assigned_to": null}}"#;
        let bug = parse_issue(body, "u", &s, now()).unwrap();
        assert_eq!(bug.bug.assigned, Some(false));
    }

    #[test]
    fn closed_rule_order() {
        let mut s = settings();
        let body = br#"{"issue": {"id": 1, "status": {"id": 3, "name": "Done"}, "closed_on": "2026-01-01T00:00:00Z", "updated_on": "2026-01-01T00:00:00Z"}}"#;
        // No is_closed anywhere: the fallback decides (closed, and nothing changed since).
        assert_eq!(
            parse_issue(body, "u", &s, now()).unwrap().bug.looks_closed,
            Some(true)
        );
        // The status list says Done is open: it wins over closed_on.
        s.statuses.insert(3, false);
        assert_eq!(
            parse_issue(body, "u", &s, now()).unwrap().bug.looks_closed,
            Some(false)
        );
        // The issue's own flag wins over the list.
        let own =
            br#"{"issue": {"id": 1, "status": {"id": 3, "name": "Resolved", "is_closed": true}}}"#;
        assert_eq!(
            parse_issue(own, "u", &s, now()).unwrap().bug.looks_closed,
            Some(true)
        );
        assert_eq!(
            parse_statuses(br#"{"issue_statuses": [{"id": 5, "name": "Closed", "is_closed": true}, {"id": 1, "name": "New"}]}"#, "u").unwrap(),
            StatusMap::from([(5, true), (1, false)])
        );
        assert!(parse_statuses(b"{}", "u").is_err());
    }

    /// Without a status list, a reopened issue (Redmine keeps its `closed_on`) is open.
    #[test]
    fn reopened_issues_are_open_without_a_status_list() {
        let s = settings();
        let closed = |name: &str, updated: &str| {
            let body = format!(
                r#"{{"issue": {{"id": 1, "status": {{"id": 9, "name": "{name}"}}, "closed_on": "2026-01-01T00:00:00Z", "updated_on": "{updated}"}}}}"#
            );
            parse_issue(body.as_bytes(), "u", &s, now())
                .unwrap()
                .bug
                .looks_closed
        };
        assert_eq!(closed("New", "2026-02-01T00:00:00Z"), Some(false));
        assert_eq!(closed("Reopened", "2026-02-01T00:00:00Z"), Some(false));
        assert_eq!(closed("Erledigt", "2026-01-01T00:00:00Z"), Some(true));
        assert_eq!(closed("Closed", "2026-02-01T00:00:00Z"), Some(true));
        assert_eq!(closed("Rejected", "2026-02-01T00:00:00Z"), Some(true));
    }

    #[test]
    fn newlines() {
        assert_eq!(normalize_newlines("a\r\nb\rc\n"), "a\nb\nc\n");
    }
}
