//! Pure parsers: Gitea / Forgejo API v1 issue JSON in, [`ParsedBug`](bugimporters_core::ParsedBug)s out. No I/O.
//!
//! Field rules (the user documentation is `docs/trackers/gitea.md`):
//!
//! * `title`, `description` = `body` (`""` when none), `status` = `state` (`open` or
//!   `closed`), `looks_closed` = `state == "closed"`;
//! * `importance` = the value of a scoped label `priority/VALUE` (Gitea's scope separator;
//!   `priority::VALUE` too), else of `severity/VALUE`; scope compared case-insensitively, the
//!   value as written; absent when neither;
//! * `people_involved` = distinct logins among the author and the assignees (commenters are
//!   not fetched; the list carries only their count);
//! * `date_reported` = `created_at`, `last_touched` = `updated_at`, converted to UTC;
//! * `submitter_username` = `user.login`, `submitter_realname` = `user.full_name` (`""` when
//!   none);
//! * `canonical_bug_link` = `html_url`;
//! * labels: exact names, rule pieces trimmed;
//! * pull requests (the issues API lists them unless `type=issues`) are recognised by a
//!   non-null `pull_request` member or a `/pulls/N` link and skipped.

use bugimporters_core::forge::{self, Label};
use bugimporters_core::Error;
use chrono::NaiveDateTime;
use serde::Deserialize;

pub use bugimporters_core::forge::{IssueItem, IssuePage, ParseSettings};

#[derive(Debug, Deserialize)]
struct RawUser {
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    full_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawIssue {
    #[serde(default)]
    number: Option<u64>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    user: Option<RawUser>,
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
}

/// The value of the first scoped label `SCOPE/VALUE` (or `SCOPE::VALUE`) whose scope is
/// `priority`, else `severity` (compared case-insensitively; the scope is everything before
/// the last separator).
pub fn importance_from_labels<'a>(
    labels: impl IntoIterator<Item = &'a str> + Clone,
) -> Option<String> {
    forge::scoped_importance(labels, |label| {
        label.rsplit_once("::").or_else(|| label.rsplit_once('/'))
    })
}

/// Whether an issues-API element is a pull request: a non-null `pull_request` member, or an
/// `html_url` that is a `/pulls/N` page.
pub fn is_pull_request(item: &serde_json::Value) -> bool {
    let marked = !matches!(
        item.get("pull_request"),
        None | Some(serde_json::Value::Null)
    );
    marked
        || item
            .get("html_url")
            .and_then(|u| u.as_str())
            .is_some_and(|u| {
                let path = u.split(['?', '#']).next().unwrap_or("");
                let mut segs = path.trim_end_matches('/').rsplit('/');
                let n = segs.next().unwrap_or("");
                segs.next() == Some("pulls")
                    && !n.is_empty()
                    && n.bytes().all(|b| b.is_ascii_digit())
            })
}

/// Parses one issue object (`GET /repos/{owner}/{repo}/issues/{index}`). `url` names the
/// response in errors; `now` becomes `last_polled`.
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
    if is_pull_request(&value) {
        let link = value
            .get("html_url")
            .and_then(|u| u.as_str())
            .map(str::to_owned);
        return Ok(IssueItem::PullRequest { link });
    }
    let assigned = forge::assigned_from(&value, &["assignees", "assignee"]);
    let raw: RawIssue = forge::raw_issue(value, url)?;
    let what = forge::issue_name(raw.number);
    let missing = |key: &str| Error::parse(url, format!("{what}: no `{key}`"));
    let link = raw
        .html_url
        .filter(|u| !u.is_empty())
        .ok_or_else(|| missing("html_url"))?;
    let title = raw.title.ok_or_else(|| missing("title"))?;
    let state = raw.state.ok_or_else(|| missing("state"))?;
    let date_reported = forge::required_date(url, &what, "created_at", raw.created_at)?;
    let last_touched = forge::required_date(url, &what, "updated_at", raw.updated_at)?;

    // A deleted account shows as Gitea's "Ghost" user.
    let (submitter, realname) = match raw.user {
        Some(u) => (
            u.login
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| "Ghost".to_owned()),
            u.full_name.unwrap_or_default(),
        ),
        None => ("Ghost".to_owned(), String::new()),
    };
    let assignees = raw
        .assignees
        .filter(|a| !a.is_empty())
        .or_else(|| raw.assignee.map(|a| vec![a]))
        .unwrap_or_default();
    let people = forge::people_involved(&submitter, assignees.into_iter().filter_map(|a| a.login));
    let labels = forge::label_names(raw.labels.as_deref());

    let issue = forge::ForgeIssue {
        link,
        title,
        description: raw.body,
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

/// Parses one page of an issue list (a JSON array of issue objects). Pull requests are
/// counted and skipped; a malformed element becomes an entry of [`IssuePage::errors`] and the
/// others are still parsed. A body that is not an array is an error naming `url` (and the
/// server's `message` when it sent one).
pub fn parse_issue_list(
    body: &[u8],
    url: &str,
    settings: &ParseSettings,
    now: NaiveDateTime,
) -> Result<IssuePage, Error> {
    let items = forge::json_issue_array(body, url, forge::message_hint)?;
    Ok(forge::issue_page(items, url, |item| {
        parse_issue_value(item, url, settings, now)
    }))
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
        ParseSettings::new(
            "tr",
            "proj",
            "good first issue, Kind/Easy",
            "Kind/Documentation",
        )
    }

    fn issue(extra: serde_json::Value) -> serde_json::Value {
        with_members(
            json!({
                "number": 7,
                "html_url": "https://codeberg.org/o/r/issues/7",
                "title": "T",
                "body": "B",
                "state": "open",
                "user": {"login": "alice", "full_name": "Alice A"},
                "assignees": null,
                "labels": [],
                "pull_request": null,
                "created_at": "2020-01-02T03:04:05+01:00",
                "updated_at": "2020-01-03T03:04:05Z"
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
            parse(issue(json!({"assignees": [{"login": "bob"}]}))).assigned,
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
        assert_eq!(b.status.as_deref(), Some("open"));
        assert_eq!(b.looks_closed, Some(false));
        assert_eq!(b.submitter_realname, Some(Some("Alice A".to_owned())));
        assert_eq!(
            b.date_reported,
            Some(parse_datetime("2020-01-02T02:04:05").unwrap())
        );
        assert_eq!(b.people_involved, Some(1));
        let b = parse(issue(json!({"state": "closed", "body": null,
            "assignees": [{"login": "bob"}, {"login": "alice"}],
            "labels": [{"name": "Kind/Easy"}, {"name": "Priority/High"}, {"name": "Kind/Documentation"}]})));
        assert_eq!(b.looks_closed, Some(true));
        assert_eq!(b.description.as_deref(), Some(""));
        assert_eq!(b.people_involved, Some(2));
        assert_eq!(b.good_for_newcomers, Some(true));
        assert_eq!(b.concerns_just_documentation, Some(true));
        assert_eq!(b.importance.as_deref(), Some("High"));
    }

    #[test]
    fn importance_scopes() {
        assert_eq!(
            importance_from_labels(["severity::S2", "priority/P1"]).as_deref(),
            Some("P1")
        );
        assert_eq!(
            importance_from_labels(["Severity/minor"]).as_deref(),
            Some("minor")
        );
        assert_eq!(importance_from_labels(["area/priority", "bug"]), None);
    }

    #[test]
    fn pull_requests_are_recognised() {
        let pr = issue(json!({"pull_request": {"merged": false, "html_url": "x"}}));
        assert!(is_pull_request(&pr));
        let by_link = issue(json!({"html_url": "https://codeberg.org/o/r/pulls/7"}));
        assert!(is_pull_request(&by_link));
        assert!(!is_pull_request(&issue(json!({}))));
        let out = parse_issue(pr.to_string().as_bytes(), "u", &settings(), now()).unwrap();
        assert!(matches!(out, IssueItem::PullRequest { link: Some(_) }));
    }

    #[test]
    fn malformed_inputs_are_errors_not_panics() {
        for body in [&b"{"[..], b"[]", b"null", b"{\"title\": 1}"] {
            let e = parse_issue(body, "http://h/x", &settings(), now()).unwrap_err();
            assert!(e.to_string().contains("http://h/x"), "{e}");
        }
        let e = parse_issue_list(
            br#"{"message": "repository does not exist"}"#,
            "http://h/l",
            &settings(),
            now(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("repository does not exist"), "{e}");
        let list = json!([issue(json!({})), {"number": 8}, 3, issue(json!({"pull_request": {"merged": true}}))]);
        let page = parse_issue_list(list.to_string().as_bytes(), "u", &settings(), now()).unwrap();
        assert_eq!(
            (
                page.items,
                page.bugs.len(),
                page.pull_requests,
                page.errors.len()
            ),
            (4, 1, 1, 2)
        );
    }
}
