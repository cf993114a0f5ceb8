//! Pure parsers: Pagure API 0 issue JSON in, [`ParsedBug`](bugimporters_core::ParsedBug)s out. No I/O.
//!
//! Field rules (the user documentation is `docs/trackers/pagure.md`):
//!
//! * `title`, `description` = `content`, `status` = `status` (`Open` or `Closed`, as Pagure
//!   shows them), `looks_closed` = status is not `Open`;
//! * `importance` = the value of a tag `priority::VALUE`, else `severity::VALUE`; absent when
//!   neither (Pagure's numeric `priority` field has names only in the project's settings);
//! * `people_involved` = distinct user names among the author, the assignee and the authors of
//!   the comments (the API sends the comments with each issue);
//! * `date_reported` = `date_created`, `last_touched` = `last_updated` (else `date_created`),
//!   both Unix timestamps, hence UTC;
//! * `submitter_username` = `user.name`, `submitter_realname` = `user.fullname`;
//! * `canonical_bug_link` = `full_url`, else `{web root of the project}/issue/{id}`;
//! * tags: exact names, rule pieces trimmed;
//! * private issues are skipped ([`IssueItem::Skipped`]) unless the settings include them.

use bugimporters_core::forge;
use bugimporters_core::time::parse_datetime;
use bugimporters_core::Error;
use chrono::NaiveDateTime;
use serde::Deserialize;

pub use bugimporters_core::forge::{IssueItem, IssuePage, ParseSettings};

#[derive(Debug, Deserialize)]
struct RawUser {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    fullname: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawComment {
    #[serde(default)]
    user: Option<RawUser>,
}

/// A Unix timestamp, as a string (Pagure) or a number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawTime {
    Text(String),
    Number(i64),
}

impl RawTime {
    fn to_naive(&self) -> Option<NaiveDateTime> {
        let secs = match self {
            RawTime::Number(n) => *n,
            RawTime::Text(t) => match t.trim().parse::<i64>() {
                Ok(n) => n,
                // Not a timestamp: a date text some instance may send.
                Err(_) => return parse_datetime(t),
            },
        };
        bugimporters_core::time::from_epoch_secs(secs)
    }
}

#[derive(Debug, Deserialize)]
struct RawIssue {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    full_url: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    user: Option<RawUser>,
    #[serde(default)]
    assignee: Option<RawUser>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    comments: Option<Vec<RawComment>>,
    #[serde(default)]
    date_created: Option<RawTime>,
    #[serde(default)]
    last_updated: Option<RawTime>,
    #[serde(default)]
    private: Option<bool>,
}

/// The value of the first tag `priority::VALUE`, else `severity::VALUE` (scope compared
/// case-insensitively; everything before the last `::` is the scope).
pub fn importance_from_tags<'a>(tags: impl IntoIterator<Item = &'a str> + Clone) -> Option<String> {
    forge::scoped_importance(tags, |tag| tag.rsplit_once("::"))
}

/// Parses one issue object (`GET /api/0/<repo>/issue/<id>`). `url` names the response in
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
    let assigned = forge::assigned_from(&value, &["assignee"]);
    let raw: RawIssue = forge::raw_issue(value, url)?;
    let what = forge::issue_name(raw.id);
    let missing = |key: &str| Error::parse(url, format!("{what}: no `{key}`"));
    let link = match (raw.full_url.filter(|u| !u.is_empty()), raw.id) {
        (Some(u), _) => u,
        (None, Some(id)) if !settings.web_root.is_empty() => {
            format!("{}/issue/{id}", settings.web_root.trim_end_matches('/'))
        }
        _ => return Err(missing("full_url")),
    };
    if raw.private == Some(true) && !settings.include_confidential {
        return Ok(IssueItem::Skipped { link: Some(link) });
    }
    let title = raw.title.ok_or_else(|| missing("title"))?;
    let status = raw.status.ok_or_else(|| missing("status"))?;
    let created = raw.date_created.ok_or_else(|| missing("date_created"))?;
    let date_reported = created
        .to_naive()
        .ok_or_else(|| Error::parse(url, format!("{what}: `date_created` is not a timestamp")))?;
    let last_touched = match raw.last_updated {
        Some(t) => t.to_naive().ok_or_else(|| {
            Error::parse(url, format!("{what}: `last_updated` is not a timestamp"))
        })?,
        None => date_reported,
    };

    let (submitter, realname) = match raw.user {
        Some(u) => (u.name.unwrap_or_default(), u.fullname.unwrap_or_default()),
        None => (String::new(), String::new()),
    };
    if submitter.is_empty() {
        return Err(missing("user.name"));
    }
    let others = raw.assignee.into_iter().chain(
        raw.comments
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| c.user),
    );
    let people = forge::people_involved(
        &submitter,
        others.filter_map(|u| u.name).filter(|n| !n.is_empty()),
    );
    let tags: Vec<&str> = raw
        .tags
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();

    let issue = forge::ForgeIssue {
        link,
        title,
        description: raw.content,
        looks_closed: !status.eq_ignore_ascii_case("open"),
        status,
        importance: importance_from_tags(tags.iter().copied()),
        people_involved: people,
        assigned,
        date_reported,
        last_touched,
        submitter_username: submitter,
        submitter_realname: realname,
    };
    Ok(settings.issue_item(issue, &tags, now))
}

/// Parses one page of an issue list: an object with `issues` (and, since Pagure 5,
/// `pagination`). A malformed element becomes an entry of [`IssuePage::errors`]; the others
/// are still parsed. A body without an `issues` list is an error naming `url` (and Pagure's
/// `error` when it sent one).
pub fn parse_issue_list(
    body: &[u8],
    url: &str,
    settings: &ParseSettings,
    now: NaiveDateTime,
) -> Result<IssuePage, Error> {
    let mut value: serde_json::Value = bugimporters_core::parse::json(url, body)?;
    let next = value
        .get("pagination")
        .and_then(|p| p.get("next"))
        .and_then(|n| n.as_str())
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let Some(serde_json::Value::Array(items)) = value.get_mut("issues").map(std::mem::take) else {
        let hint = value
            .get("error")
            .and_then(|m| m.as_str())
            .map(|m| format!(" (the server says: {m})"))
            .unwrap_or_default();
        return Err(Error::parse(
            url,
            format!("expected an object with an `issues` list{hint}"),
        ));
    };
    let mut page = forge::issue_page(items, url, |item| {
        parse_issue_value(item, url, settings, now)
    });
    page.next = next;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bugimporters_core::ParsedBug;
    use bugimporters_testkit::forge::{the_bug, with_members};
    use serde_json::json;

    fn now() -> NaiveDateTime {
        parse_datetime("2024-05-01T12:00:00").unwrap()
    }

    fn settings() -> ParseSettings {
        ParseSettings::new("tr", "proj", "easyfix, good first issue", "docs")
            .with_web_root("https://pagure.example/ns/repo")
    }

    fn issue(extra: serde_json::Value) -> serde_json::Value {
        with_members(
            json!({
                "id": 7,
                "title": "T",
                "content": "B",
                "status": "Open",
                "close_status": null,
                "user": {"name": "alice", "fullname": "Alice A"},
                "assignee": null,
                "tags": [],
                "comments": [],
                "private": false,
                "date_created": "1431414800",
                "last_updated": "1431500000"
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
            parse(issue(json!({"assignee": {"name": "bob"}}))).assigned,
            Some(true)
        );
        let mut silent = issue(json!({}));
        silent.as_object_mut().unwrap().remove("assignee");
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
            "https://pagure.example/ns/repo/issue/7"
        );
        assert_eq!(b.date_reported, parse_datetime("2015-05-12T07:13:20"));
        assert_eq!(b.last_touched, parse_datetime("2015-05-13T06:53:20"));
        assert_eq!(b.looks_closed, Some(false));
        assert_eq!(b.people_involved, Some(1));
        let b = parse(issue(
            json!({"status": "Closed", "content": null, "last_updated": null,
            "full_url": "https://pagure.example/x/issue/7",
            "assignee": {"name": "bob"},
            "comments": [{"user": {"name": "carol"}}, {"user": {"name": "bob"}}, {"user": {"name": "alice"}}],
            "tags": ["easyfix", "Priority::High", "docs"]}),
        ));
        assert_eq!(b.canonical_bug_link, "https://pagure.example/x/issue/7");
        assert_eq!(b.looks_closed, Some(true));
        assert_eq!(b.description.as_deref(), Some(""));
        assert_eq!(b.last_touched, b.date_reported);
        assert_eq!(b.people_involved, Some(3));
        assert_eq!(b.importance.as_deref(), Some("High"));
        assert_eq!(b.good_for_newcomers, Some(true));
        assert_eq!(b.concerns_just_documentation, Some(true));
    }

    #[test]
    fn private_skipped_unless_included() {
        let v = issue(json!({"private": true}));
        let out = parse_issue(v.to_string().as_bytes(), "u", &settings(), now()).unwrap();
        assert!(matches!(out, IssueItem::Skipped { link: Some(_) }));
        let s = settings().with_confidential(true);
        let out = parse_issue(v.to_string().as_bytes(), "u", &s, now()).unwrap();
        assert!(matches!(out, IssueItem::Issue(_)));
    }

    #[test]
    fn malformed_inputs_are_errors_not_panics() {
        let bare = ParseSettings::new("t", "t", "", "");
        for body in [&b"{"[..], b"[]", b"null", b"{\"title\": 1}"] {
            let e = parse_issue(body, "http://h/x", &settings(), now()).unwrap_err();
            assert!(e.to_string().contains("http://h/x"), "{e}");
        }
        let no_link = issue(json!({}));
        assert!(parse_issue(no_link.to_string().as_bytes(), "u", &bare, now()).is_err());
        let bad_date = issue(json!({"date_created": "yesterday"}));
        assert!(parse_issue(bad_date.to_string().as_bytes(), "u", &settings(), now()).is_err());
        let huge = issue(json!({"date_created": i64::MAX}));
        assert!(parse_issue(huge.to_string().as_bytes(), "u", &settings(), now()).is_err());
        let e = parse_issue_list(
            br#"{"error": "Project not found", "error_code": "ENOPROJECT"}"#,
            "http://h/l",
            &settings(),
            now(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("Project not found"), "{e}");
        let list = json!({"issues": [issue(json!({})), {"id": 8}, 3, issue(json!({"id": 9, "private": true}))],
                          "pagination": {"next": "https://pagure.example/api/0/ns/repo/issues?page=2", "page": 1}});
        let page = parse_issue_list(list.to_string().as_bytes(), "u", &settings(), now()).unwrap();
        assert_eq!(
            (
                page.items,
                page.bugs.len(),
                page.skipped.len(),
                page.errors.len()
            ),
            (4, 1, 1, 2)
        );
        assert_eq!(
            page.next.as_deref(),
            Some("https://pagure.example/api/0/ns/repo/issues?page=2")
        );
    }
}
