//! Pure parsers: GitHub REST API v3 issue JSON in, [`ParsedBug`](bugimporters_core::ParsedBug)s out. No I/O.
//!
//! The field rules are the original importer's (docs/reference-behaviour.md §5.3), with two
//! corrections that are documented in `docs/trackers/github.md`:
//!
//! * a missing or `null` `body` becomes `""` (the host's `description` column is NOT NULL, so
//!   the original's `null` made the host drop the bug);
//! * pull requests, which the issues API lists too, are recognised and skipped (the original
//!   imported them as bugs). An item is a pull request when its `pull_request` member is an
//!   object with at least one non-null value, or when its `html_url` is a `/pull/N` page. The
//!   API of 2012 put `"pull_request": {"html_url": null, ...}` on *every* issue, so the mere
//!   presence of the key does not make an item a pull request.

use bugimporters_core::forge::{self, Label};
pub use bugimporters_core::paging::link_rel;
use bugimporters_core::Error;
use chrono::NaiveDateTime;
use serde::Deserialize;

/// What the parser needs from the tracker's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseSettings {
    /// `tracker_name`: written as `_tracker_name` and `_project_name` of every bug.
    pub tracker_name: String,
    /// `bitesized_tag`: comma-separated label names; a bug with one of them exactly is
    /// `good_for_newcomers`. Pieces are not trimmed (as the original).
    pub bitesized_tag: String,
    /// `documentation_tag`: comma-separated label names for `concerns_just_documentation`.
    pub documentation_tag: String,
}

impl ParseSettings {
    /// Settings for `tracker_name` with the two label rules.
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

pub use bugimporters_core::forge::{IssueItem, IssuePage};

#[derive(Debug, Deserialize)]
struct RawUser {
    #[serde(default)]
    login: Option<String>,
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
    assignee: Option<RawUser>,
    #[serde(default)]
    comments: Option<u64>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    labels: Option<Vec<Label>>,
}

/// Whether an issues-API element is a pull request (see the module docs for the rule).
pub fn is_pull_request(item: &serde_json::Value) -> bool {
    let marked = match item.get("pull_request") {
        Some(serde_json::Value::Object(m)) => m.values().any(|v| !v.is_null()),
        Some(serde_json::Value::Null) | None => false,
        Some(_) => true,
    };
    marked
        || item
            .get("html_url")
            .and_then(|u| u.as_str())
            .is_some_and(is_pull_link)
}

fn is_pull_link(url: &str) -> bool {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let segs: Vec<&str> = path.trim_end_matches('/').rsplit('/').take(2).collect();
    matches!(segs.as_slice(), [n, "pull"] if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Parses one issue object (`GET /repos/{owner}/{repo}/issues/{number}`, or one element of a
/// list). `url` names the response in errors; `now` becomes `last_polled`.
pub fn parse_issue(
    body: &[u8],
    url: &str,
    settings: &ParseSettings,
    now: NaiveDateTime,
) -> Result<IssueItem, Error> {
    parse_issue_value(forge::json_object(body, url)?, url, settings, now)
}

/// Parses one issue from an already decoded JSON value (see [`parse_issue`]).
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
    let assigned = forge::assigned_from(&value, &["assignee", "assignees"]);
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

    // A deleted account shows as GitHub's "ghost" user.
    let submitter = raw
        .user
        .and_then(|u| u.login)
        .unwrap_or_else(|| "ghost".to_owned());
    let mut people = 1u32;
    if let Some(assignee) = raw.assignee.and_then(|a| a.login) {
        if assignee != submitter {
            people += 1;
        }
    }
    if raw.comments.unwrap_or(0) > 0 {
        people += 1;
    }
    let labels = forge::label_names(raw.labels.as_deref());

    let issue = forge::ForgeIssue {
        link,
        title,
        description: raw.body,
        looks_closed: state == "closed",
        status: state,
        importance: None,
        people_involved: people,
        assigned,
        date_reported,
        last_touched,
        submitter_username: submitter,
        submitter_realname: String::new(),
    };
    let mut bug = issue.into_bug(now);
    forge::set_label_flags(
        &mut bug,
        &settings.bitesized_tag,
        &settings.documentation_tag,
        &labels,
        false,
    );
    bug.project_name = Some(settings.tracker_name.clone());
    bug.tracker_name = Some(settings.tracker_name.clone());
    Ok(IssueItem::Issue(Box::new(bug)))
}

/// Parses one page of an issue list (a JSON array of issue objects). Pull requests are
/// counted and skipped; a malformed element becomes an entry of [`IssuePage::errors`] and the
/// others are still parsed. A body that is not a JSON array is an error naming `url`.
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

/// The `rel="next"` target of a `Link` header (RFC 8288), as written (possibly relative).
/// A thin name for [`bugimporters_core::paging::link_rel`]`(header, "next")`.
///
/// ```
/// use bugimporters_github::parser::link_next;
/// let h = r#"<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last""#;
/// assert_eq!(link_next(h).as_deref(), Some("https://api.github.com/repositories/1/issues?page=2"));
/// assert_eq!(link_next(r#"<https://x/?page=1>; rel="prev""#), None);
/// ```
pub fn link_next(header: &str) -> Option<String> {
    link_rel(header, "next")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bugimporters_core::time::parse_datetime;
    use bugimporters_core::ParsedBug;
    use bugimporters_testkit::forge::{the_bug, with_members};

    fn now() -> NaiveDateTime {
        parse_datetime("2024-05-01T12:00:00").unwrap()
    }

    fn settings() -> ParseSettings {
        ParseSettings::new("tr", "good first issue,easy", "docs")
    }

    fn issue(extra: serde_json::Value) -> serde_json::Value {
        with_members(
            serde_json::json!({
                "number": 7,
                "html_url": "https://github.com/o/r/issues/7",
                "title": "T",
                "body": "B",
                "state": "open",
                "user": {"login": "alice"},
                "assignee": null,
                "comments": 0,
                "labels": [],
                "created_at": "2020-01-02T03:04:05Z",
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
    fn huge_created_at_error_is_bounded() {
        let created = "9".repeat(20_000_000);
        let e = parse_issue_value(
            issue(serde_json::json!({ "created_at": created })),
            "http://api/repos/o/r/issues",
            &settings(),
            now(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.len() < 1024, "{} bytes: {}", e.len(), &e[..200]);
        assert!(e.contains("created_at"), "{e}");
    }

    #[test]
    fn people_rule() {
        assert_eq!(parse(issue(serde_json::json!({}))).people_involved, Some(1));
        let same = serde_json::json!({"assignee": {"login": "alice"}, "comments": 3});
        assert_eq!(parse(issue(same)).people_involved, Some(2));
        let other = serde_json::json!({"assignee": {"login": "bob"}, "comments": 1});
        assert_eq!(parse(issue(other)).people_involved, Some(3));
    }

    #[test]
    fn assigned_from_assignee_or_assignees() {
        assert_eq!(parse(issue(serde_json::json!({}))).assigned, Some(false));
        let one = serde_json::json!({"assignee": {"login": "bob"}});
        assert_eq!(parse(issue(one)).assigned, Some(true));
        let many = serde_json::json!({"assignees": [{"login": "bob"}]});
        assert_eq!(parse(issue(many)).assigned, Some(true));
        let mut silent = issue(serde_json::json!({}));
        silent.as_object_mut().unwrap().remove("assignee");
        assert_eq!(
            parse(silent).assigned,
            None,
            "no key: the tracker does not say"
        );
    }

    #[test]
    fn dates_to_utc_and_null_body() {
        let b = parse(issue(serde_json::json!({"body": null})));
        assert_eq!(b.description.as_deref(), Some(""));
        assert_eq!(
            b.date_reported,
            parse_datetime("2020-01-02T03:04:05").map(Some).unwrap()
        );
        assert_eq!(
            b.last_touched,
            parse_datetime("2020-01-03T01:04:05").map(Some).unwrap()
        );
    }

    #[test]
    fn labels_exact_untrimmed() {
        let b = parse(issue(
            serde_json::json!({"labels": [{"name": "easy"}, "docs"]}),
        ));
        assert_eq!(b.good_for_newcomers, Some(true));
        assert_eq!(b.concerns_just_documentation, Some(true));
        let b = parse(issue(
            serde_json::json!({"labels": [{"name": "Easy"}, {"name": " docs"}]}),
        ));
        assert_eq!(b.good_for_newcomers, Some(false));
        assert_eq!(b.concerns_just_documentation, Some(false));
        // " easy" in the rule (after the comma) would need a label with a leading space.
        let s = ParseSettings::new("tr", "x, easy", "");
        let v = issue(serde_json::json!({"labels": [{"name": "easy"}]}));
        match parse_issue(v.to_string().as_bytes(), "u", &s, now()).unwrap() {
            IssueItem::Issue(b) => assert_eq!(b.good_for_newcomers, Some(false)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pull_requests_recognised_but_not_old_null_marker() {
        let old = issue(serde_json::json!({"pull_request": {"html_url": null, "diff_url": null}}));
        assert!(!is_pull_request(&old));
        let pr = issue(
            serde_json::json!({"pull_request": {"url": "https://api.github.com/repos/o/r/pulls/7"}}),
        );
        assert!(is_pull_request(&pr));
        let by_link = issue(serde_json::json!({"html_url": "https://github.com/o/r/pull/7"}));
        assert!(is_pull_request(&by_link));
        assert!(!is_pull_link("https://github.com/o/pull/issues/7"));
    }

    #[test]
    fn malformed_inputs_are_errors_not_panics() {
        for body in [
            &b"{"[..],
            b"[]",
            b"null",
            b"{\"title\": 1}",
            b"{\"html_url\": \"x\", \"title\": \"t\", \"state\": \"open\", \"created_at\": \"yesterday\", \"updated_at\": \"x\"}",
        ] {
            let e = parse_issue(body, "http://h/x", &settings(), now()).unwrap_err();
            assert!(e.to_string().contains("http://h/x"), "{e}");
        }
        let e = parse_issue_list(
            br#"{"message": "Not Found"}"#,
            "http://h/l",
            &settings(),
            now(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("Not Found") && e.contains("http://h/l"), "{e}");
    }

    #[test]
    fn list_keeps_good_items_when_one_is_bad() {
        let list = serde_json::json!([
            issue(serde_json::json!({})),
            {"number": 8, "title": "no link"},
            3,
            issue(serde_json::json!({"number": 9, "html_url": "https://github.com/o/r/pull/9", "pull_request": {"url": "x"}})),
        ]);
        let page = parse_issue_list(list.to_string().as_bytes(), "u", &settings(), now()).unwrap();
        assert_eq!(page.items, 4);
        assert_eq!(page.bugs.len(), 1);
        assert_eq!(page.pull_requests, 1);
        assert_eq!(page.errors.len(), 2);
        assert!(page.errors[0].to_string().contains("#8"));
    }

    #[test]
    fn link_header_forms() {
        assert_eq!(
            link_next(r#"<a?page=3>; rel="prev", <a?page=5>;rel=next"#).as_deref(),
            Some("a?page=5")
        );
        assert_eq!(
            link_next(r#"<a?page=2>; rel="next", <a?page=9>; rel="last""#).as_deref(),
            Some("a?page=2")
        );
        assert_eq!(
            link_next(r#"<a?x=1,2>; title="a, b"; rel="last", <b>; rel="next""#).as_deref(),
            Some("b")
        );
        assert_eq!(link_next("garbage"), None);
        assert_eq!(
            link_rel(r#"<a?page=2>; rel="next", <a?page=9>; rel="last""#, "last").as_deref(),
            Some("a?page=9")
        );
        assert_eq!(link_next("<unterminated"), None);
    }
}
