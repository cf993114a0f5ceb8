//! Pure parsers: GitLab REST API v4 issue JSON in, [`ParsedBug`](bugimporters_core::ParsedBug)s out. No I/O.
//!
//! Field rules (the user documentation is `docs/trackers/gitlab.md`):
//!
//! * `title`, `description` (`""` when the issue has none), `status` = `state` (`opened` or
//!   `closed`, as GitLab names them), `looks_closed` = `state == "closed"`;
//! * `importance` = the value of a `priority::VALUE` scoped label, else of a `severity::VALUE`
//!   one (scope compared case-insensitively, the value as written); absent when neither;
//! * `people_involved` = distinct logins among the author and the assignees (participants
//!   need a request per issue: see [`parse_participants`] and the `fetch_participants` key);
//! * `date_reported` = `created_at`, `last_touched` = `updated_at`, both converted to UTC;
//! * `submitter_username` = `author.username`, `submitter_realname` = `author.name`;
//! * `canonical_bug_link` = `web_url`;
//! * `good_for_newcomers` / `concerns_just_documentation`: a label equal to one of the
//!   comma-separated rule pieces (pieces trimmed, names compared exactly);
//! * confidential issues are skipped ([`IssueItem::Skipped`]) unless the settings include
//!   them.

use bugimporters_core::forge::{self, Label};
use bugimporters_core::Error;
use chrono::NaiveDateTime;
use serde::Deserialize;

pub use bugimporters_core::forge::{IssueItem, IssuePage, ParseSettings};

#[derive(Debug, Deserialize)]
struct RawUser {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawIssue {
    #[serde(default)]
    iid: Option<u64>,
    #[serde(default)]
    web_url: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    author: Option<RawUser>,
    #[serde(default)]
    assignees: Option<Vec<RawUser>>,
    #[serde(default)]
    assignee: Option<RawUser>,
    #[serde(default)]
    labels: Option<Vec<Label>>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    confidential: Option<bool>,
}

/// The value of the first scoped label `SCOPE::VALUE` whose scope is `priority`, else
/// `severity` (scopes compared case-insensitively; GitLab's scope is everything before the
/// last `::`).
pub fn importance_from_labels<'a>(
    labels: impl IntoIterator<Item = &'a str> + Clone,
) -> Option<String> {
    forge::scoped_importance(labels, |label| label.rsplit_once("::"))
}

/// Parses one issue object (`GET /projects/:id/issues/:iid`). `url` names the response in
/// errors; `now` becomes `last_polled`.
pub fn parse_issue(
    body: &[u8],
    url: &str,
    settings: &ParseSettings,
    now: NaiveDateTime,
) -> Result<IssueItem, Error> {
    parse_issue_value(forge::json_object(body, url)?, url, settings, now)
}

/// Parses one issue from a decoded JSON value (see [`parse_issue`]).
pub fn parse_issue_value(
    value: serde_json::Value,
    url: &str,
    settings: &ParseSettings,
    now: NaiveDateTime,
) -> Result<IssueItem, Error> {
    let assigned = forge::assigned_from(&value, &["assignees", "assignee"]);
    let raw: RawIssue = forge::raw_issue(value, url)?;
    let what = forge::issue_name(raw.iid);
    let missing = |key: &str| Error::parse(url, format!("{what}: no `{key}`"));
    let link = raw
        .web_url
        .filter(|u| !u.is_empty())
        .ok_or_else(|| missing("web_url"))?;
    if raw.confidential == Some(true) && !settings.include_confidential {
        return Ok(IssueItem::Skipped { link: Some(link) });
    }
    let title = raw.title.ok_or_else(|| missing("title"))?;
    let state = raw.state.ok_or_else(|| missing("state"))?;
    let date_reported = forge::required_date(url, &what, "created_at", raw.created_at)?;
    let last_touched = forge::required_date(url, &what, "updated_at", raw.updated_at)?;

    // A deleted account shows as GitLab's "Ghost User" (`ghost`).
    let (submitter, realname) = match raw.author {
        Some(a) => (
            a.username.unwrap_or_else(|| "ghost".to_owned()),
            a.name.unwrap_or_default(),
        ),
        None => ("ghost".to_owned(), String::new()),
    };
    let assignees = raw
        .assignees
        .filter(|a| !a.is_empty())
        .or_else(|| raw.assignee.map(|a| vec![a]))
        .unwrap_or_default();
    let people =
        forge::people_involved(&submitter, assignees.into_iter().filter_map(|a| a.username));
    let labels = forge::label_names(raw.labels.as_deref());

    let issue = forge::ForgeIssue {
        link,
        title,
        description: raw.description,
        looks_closed: state == "closed",
        status: state,
        importance: importance_from_labels(labels.iter().copied()),
        people_involved: people,
        assigned,
        date_reported,
        last_touched,
        submitter_username: submitter,
        submitter_realname: realname,
    };
    Ok(settings.issue_item(issue, &labels, now))
}

/// Parses one page of an issue list (a JSON array of issue objects). A malformed element
/// becomes an entry of [`IssuePage::errors`]; the others are still parsed. A body that is not
/// an array is an error naming `url` (and GitLab's `message` when it sent one).
pub fn parse_issue_list(
    body: &[u8],
    url: &str,
    settings: &ParseSettings,
    now: NaiveDateTime,
) -> Result<IssuePage, Error> {
    let value: serde_json::Value = bugimporters_core::parse::json(url, body)?;
    let serde_json::Value::Array(items) = value else {
        let hint = value
            .get("message")
            .or_else(|| value.get("error"))
            .map(|m| match m.as_str() {
                Some(s) => format!(" (the server says: {s})"),
                None => format!(" (the server says: {m})"),
            })
            .unwrap_or_default();
        return Err(Error::parse(
            url,
            format!("expected a JSON array of issues{hint}"),
        ));
    };
    Ok(forge::issue_page(items, url, |item| {
        parse_issue_value(item, url, settings, now)
    }))
}

/// The number of distinct users in a participants response
/// (`GET /projects/:id/issues/:iid/participants`, a JSON array of users).
pub fn parse_participants(body: &[u8], url: &str) -> Result<usize, Error> {
    bugimporters_core::parse::check_json(url, body)?;
    let users: Vec<RawUser> = serde_json::from_slice(body).map_err(|e| {
        Error::parse(
            url,
            format!(
                "expected a JSON array of users: {}",
                bugimporters_core::excerpt(&e.to_string())
            ),
        )
    })?;
    let mut names: Vec<String> = users.into_iter().filter_map(|u| u.username).collect();
    names.sort_unstable();
    names.dedup();
    Ok(names.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bugimporters_core::time::parse_datetime;
    use bugimporters_core::ParsedBug;
    use bugimporters_testkit::forge::{the_bug, with_members};
    use serde_json::json;

    fn now() -> NaiveDateTime {
        parse_datetime("2024-05-01T12:00:00").unwrap()
    }

    fn settings() -> ParseSettings {
        ParseSettings::new("tr", "proj", "good first issue, quick win", "documentation")
    }

    fn issue(extra: serde_json::Value) -> serde_json::Value {
        with_members(
            json!({
                "iid": 7,
                "web_url": "https://gitlab.example/g/p/-/issues/7",
                "title": "T",
                "description": "B",
                "state": "opened",
                "author": {"username": "alice", "name": "Alice A"},
                "assignees": [],
                "labels": [],
                "confidential": false,
                "created_at": "2020-01-02T03:04:05.123Z",
                "updated_at": "2020-01-03T03:04:05+02:00"
            }),
            extra,
        )
    }

    fn parse(v: serde_json::Value) -> ParsedBug {
        the_bug(parse_issue(
            v.to_string().as_bytes(),
            "u",
            &settings(),
            now(),
        ))
    }

    #[test]
    fn assigned_from_the_assignee_keys() {
        assert_eq!(parse(issue(json!({}))).assigned, Some(false));
        assert_eq!(
            parse(issue(json!({"assignees": [{"username": "bob"}]}))).assigned,
            Some(true)
        );
        let mut silent = issue(json!({}));
        for key in ["assignees", "assignee"] {
            silent.as_object_mut().unwrap().remove(key);
        }
        assert_eq!(
            parse(silent).assigned,
            None,
            "no key: the tracker does not say"
        );
    }

    #[test]
    fn fields() {
        let b = parse(issue(json!({})));
        assert_eq!(
            b.canonical_bug_link,
            "https://gitlab.example/g/p/-/issues/7"
        );
        assert_eq!(b.status.as_deref(), Some("opened"));
        assert_eq!(b.looks_closed, Some(false));
        assert_eq!(b.submitter_username.as_deref(), Some("alice"));
        assert_eq!(b.submitter_realname, Some(Some("Alice A".to_owned())));
        assert_eq!(b.people_involved, Some(1));
        assert_eq!(b.importance, None);
        assert_eq!(b.project_name.as_deref(), Some("proj"));
        assert_eq!(b.tracker_name.as_deref(), Some("tr"));
        assert_eq!(
            b.date_reported,
            Some(parse_datetime("2020-01-02T03:04:05.123").unwrap())
        );
        assert_eq!(
            b.last_touched,
            Some(parse_datetime("2020-01-03T01:04:05").unwrap())
        );
        let closed = parse(issue(json!({"state": "closed", "description": null})));
        assert_eq!(closed.looks_closed, Some(true));
        assert_eq!(closed.description.as_deref(), Some(""));
    }

    #[test]
    fn people_are_author_and_distinct_assignees() {
        let b = parse(issue(json!({"assignees": [
            {"username": "alice"}, {"username": "bob"}, {"username": "carol"}
        ]})));
        assert_eq!(b.people_involved, Some(3));
        let old = parse(issue(
            json!({"assignees": null, "assignee": {"username": "bob"}}),
        ));
        assert_eq!(old.people_involved, Some(2));
    }

    #[test]
    fn labels_flags_and_importance() {
        let b = parse(issue(json!({"labels": [
            "quick win", "severity::major", "Priority::P2", "documentation"
        ]})));
        assert_eq!(b.good_for_newcomers, Some(true));
        assert_eq!(b.concerns_just_documentation, Some(true));
        assert_eq!(b.importance.as_deref(), Some("P2"));
        let b = parse(issue(
            json!({"labels": [{"name": "Quick Win"}, {"name": "severity::S3"}]}),
        ));
        assert_eq!(b.good_for_newcomers, Some(false), "names are exact");
        assert_eq!(b.importance.as_deref(), Some("S3"));
        assert_eq!(
            importance_from_labels(["team::priority::high", "workflow::doing"]),
            None
        );
    }

    #[test]
    fn participants() {
        let body = br#"[{"username": "a"}, {"username": "b", "name": "B"}, {"username": "a"}]"#;
        assert_eq!(parse_participants(body, "u").unwrap(), 2);
        assert!(parse_participants(b"{}", "u").is_err());
    }

    #[test]
    fn confidential_skipped_unless_included() {
        let v = issue(json!({"confidential": true}));
        let out = parse_issue(v.to_string().as_bytes(), "u", &settings(), now()).unwrap();
        assert!(matches!(out, IssueItem::Skipped { link: Some(ref l) } if l.ends_with("/7")));
        let s = settings().with_confidential(true);
        let out = parse_issue(v.to_string().as_bytes(), "u", &s, now()).unwrap();
        assert!(matches!(out, IssueItem::Issue(_)));
    }

    #[test]
    fn malformed_inputs_are_errors_not_panics() {
        for body in [
            &b"{"[..],
            b"[]",
            b"null",
            b"{\"title\": 1}",
            b"{\"web_url\": \"x\", \"title\": \"t\", \"state\": \"opened\", \"created_at\": \"yesterday\", \"updated_at\": \"x\"}",
        ] {
            let e = parse_issue(body, "http://h/x", &settings(), now()).unwrap_err();
            assert!(e.to_string().contains("http://h/x"), "{e}");
        }
        let e = parse_issue_list(
            br#"{"message": "404 Project Not Found"}"#,
            "http://h/l",
            &settings(),
            now(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("404 Project Not Found"), "{e}");
        let list = json!([issue(json!({})), {"iid": 8, "title": "no link"}, 3, issue(json!({"iid": 9, "confidential": true}))]);
        let page = parse_issue_list(list.to_string().as_bytes(), "u", &settings(), now()).unwrap();
        assert_eq!(page.items, 4);
        assert_eq!(page.bugs.len(), 1);
        assert_eq!(page.skipped.len(), 1);
        assert_eq!(page.errors.len(), 2);
        assert!(page.errors[0].to_string().contains("#8"));
    }
}
