//! Pure parsers: Jira REST JSON → [`ParsedBug`]s. No I/O; malformed input is an
//! [`Error::parse`] naming the URL (or file), never a panic.
//!
//! Field rules (docs/reference-behaviour.md §5.5): `title` = `fields.summary`; `description` =
//! `fields.description` (Jira Cloud API v3 sends Atlassian Document Format, read here as plain
//! text; `null` becomes `""`); `status` = `fields.status.name` lower-cased; `looks_closed` =
//! the status name is exactly `Closed`; `date_reported`/`last_touched` = `created`/`updated`
//! converted to UTC (`2011-11-22T09:22:59.899+1100` → `2011-11-21T22:22:59.899000`);
//! `submitter_username` = `reporter.name` (Jira Cloud, which hides names, gives `accountId`);
//! `submitter_realname` = `reporter.displayName`; `canonical_bug_link` =
//! `urljoin(base_url, "/browse/KEY")` (host root, as the original); the bite-size rule by
//! label, priority or off (off → the key is not written); the documentation rule by label.
//! No `importance` or `people_involved`, as the original.

use bugimporters_core::classify::any_piece_equals;
use bugimporters_core::time::parse_datetime;
use bugimporters_core::{Error, ParsedBug};
use chrono::NaiveDateTime;
use serde_json::Value;
use url::Url;

/// The bite-size rule of a tracker (`bitesized_type` + `bitesized_text`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BitesizedRule {
    /// Blank type: `good_for_newcomers` is not written at all (as the original).
    Off,
    /// `label`: any comma-separated piece of the text is exactly one of the labels.
    Label(String),
    /// `priority`: the priority name equals the whole text (no list).
    Priority(String),
    /// Any other type: always `false` (as the original).
    Other(String),
}

/// What the parser needs from the tracker record.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ParseSettings {
    /// `_project_name` of every bug (the tracker name, as the original).
    pub project_name: String,
    /// `base_url` with a trailing slash; `/browse/KEY` is resolved against it.
    pub base_url: Url,
    /// The bite-size rule.
    pub bitesized: BitesizedRule,
    /// Comma-separated documentation labels (exact, untrimmed).
    pub documentation_text: String,
}

impl ParseSettings {
    /// Settings for `base_url` (an error names it when it is not an http(s) URL).
    pub fn new(
        project_name: impl Into<String>,
        base_url: &str,
        bitesized: BitesizedRule,
        documentation_text: impl Into<String>,
    ) -> Result<Self, Error> {
        let mut text = base_url.trim().to_owned();
        if !text.ends_with('/') {
            text.push('/');
        }
        let base = Url::parse(&text)
            .map_err(|e| Error::config(format!("base_url {base_url:?} is not a URL: {e}")))?;
        Ok(ParseSettings {
            project_name: project_name.into(),
            base_url: base,
            bitesized,
            documentation_text: documentation_text.into(),
        })
    }

    /// `urljoin(base_url, "/browse/KEY")`: only scheme, host and port of `base_url` survive.
    pub fn canonical_link(&self, key: &str) -> String {
        match self.base_url.join(&format!("/browse/{key}")) {
            Ok(u) => u.to_string(),
            Err(_) => format!("{}browse/{key}", self.base_url),
        }
    }
}

/// The issue key of a `/browse/KEY` link (`http://h/browse/MKY-1` → `MKY-1`), if it is one.
pub fn key_from_link(link: &str) -> Option<String> {
    let url = Url::parse(link.trim()).ok()?;
    let segs: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        [.., "browse", key] if is_issue_key(key) => Some((*key).to_owned()),
        _ => None,
    }
}

/// Whether `key` looks like a Jira issue key (`PROJ-123`): a project key, `-`, digits.
pub fn is_issue_key(key: &str) -> bool {
    let Some((project, number)) = key.rsplit_once('-') else {
        return false;
    };
    !project.is_empty()
        && project
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// One page of a search response.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct SearchPage {
    /// The issues that parsed.
    pub bugs: Vec<ParsedBug>,
    /// One error per issue that did not parse.
    pub errors: Vec<Error>,
    /// How many issues the page held (parsed or not).
    pub issue_count: usize,
    /// `startAt` (offset paging).
    pub start_at: Option<u64>,
    /// `maxResults` the server used.
    pub max_results: Option<u64>,
    /// `total` (offset paging; absent on Cloud's token-paged search).
    pub total: Option<u64>,
    /// `nextPageToken` (Cloud's `/search/jql`).
    pub next_page_token: Option<String>,
    /// `isLast` (Cloud's `/search/jql`).
    pub is_last: Option<bool>,
}

fn read_json(body: &[u8], url: &str) -> Result<Value, Error> {
    // serde_json keeps the last of repeated keys, as Python's json did.
    bugimporters_core::parse::json(url, body)
}

/// Parses a search response (`/rest/api/2/search` or `/rest/api/3/search/jql`).
pub fn parse_search(
    body: &[u8],
    url: &str,
    settings: &ParseSettings,
    now: NaiveDateTime,
) -> Result<SearchPage, Error> {
    let value = read_json(body, url)?;
    let Value::Object(map) = &value else {
        return Err(Error::parse(url, "a search response is a JSON object"));
    };
    let issues = match map.get("issues") {
        Some(Value::Array(a)) => a.as_slice(),
        Some(Value::Null) | None => &[],
        Some(_) => return Err(Error::parse(url, "`issues` is not a list")),
    };
    if !map.contains_key("issues") && !map.contains_key("total") {
        return Err(Error::parse(
            url,
            "not a Jira search response (no `issues` key)",
        ));
    }
    let mut page = SearchPage {
        issue_count: issues.len(),
        start_at: map.get("startAt").and_then(Value::as_u64),
        max_results: map.get("maxResults").and_then(Value::as_u64),
        total: map.get("total").and_then(Value::as_u64),
        next_page_token: map
            .get("nextPageToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        is_last: map.get("isLast").and_then(Value::as_bool),
        ..SearchPage::default()
    };
    for issue in issues {
        match parse_issue_value(issue, url, settings, now) {
            Ok(bug) => page.bugs.push(bug),
            Err(e) => page.errors.push(e),
        }
    }
    Ok(page)
}

/// Parses one issue document (`/rest/api/2/issue/KEY`).
pub fn parse_issue(
    body: &[u8],
    url: &str,
    settings: &ParseSettings,
    now: NaiveDateTime,
) -> Result<ParsedBug, Error> {
    parse_issue_value(&read_json(body, url)?, url, settings, now)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn date_field(
    fields: &Value,
    name: &str,
    url: &str,
    key: &str,
) -> Result<Option<NaiveDateTime>, Error> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_datetime(s).map(Some).ok_or_else(|| {
            Error::parse(
                url,
                format!(
                    "issue {key}: `{name}` {} is not a date",
                    bugimporters_core::excerpt(s)
                ),
            )
        }),
        Some(other) => Err(Error::parse(
            url,
            format!(
                "issue {key}: `{name}` is not a string: {}",
                bugimporters_core::excerpt(&other.to_string())
            ),
        )),
    }
}

/// Parses one issue object (an element of a search's `issues`).
pub fn parse_issue_value(
    issue: &Value,
    url: &str,
    settings: &ParseSettings,
    now: NaiveDateTime,
) -> Result<ParsedBug, Error> {
    let key = issue
        .get("key")
        .and_then(Value::as_str)
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| Error::parse(url, "an issue without a `key`"))?;
    let fields = match issue.get("fields") {
        Some(f @ Value::Object(_)) => f,
        _ => {
            return Err(Error::parse(
                url,
                format!("issue {key} has no `fields` object (ask for fields=*navigable)"),
            ))
        }
    };
    let mut bug = ParsedBug::new(settings.canonical_link(key));
    bug.title = Some(str_at(fields, &["summary"]).unwrap_or_default().to_owned());
    bug.description = Some(match fields.get("description") {
        Some(Value::String(s)) => s.clone(),
        Some(doc @ Value::Object(_)) => adf_to_text(doc),
        _ => String::new(),
    });
    let status = str_at(fields, &["status", "name"]).unwrap_or_default();
    bug.status = Some(status.to_lowercase());
    bug.looks_closed = Some(status == "Closed");
    bug.date_reported = date_field(fields, "created", url, key)?;
    bug.last_touched = date_field(fields, "updated", url, key)?;
    let reporter = fields.get("reporter").unwrap_or(&Value::Null);
    bug.submitter_username = Some(
        str_at(reporter, &["name"])
            .or_else(|| str_at(reporter, &["accountId"]))
            .unwrap_or_default()
            .to_owned(),
    );
    bug.submitter_realname = Some(Some(
        str_at(reporter, &["displayName"])
            .unwrap_or_default()
            .to_owned(),
    ));
    let labels: Vec<&str> = fields
        .get("labels")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    bug.good_for_newcomers = match &settings.bitesized {
        BitesizedRule::Off => None,
        BitesizedRule::Label(text) => Some(any_piece_equals(text, labels.iter().copied(), false)),
        BitesizedRule::Priority(text) => {
            Some(str_at(fields, &["priority", "name"]).is_some_and(|p| p == text))
        }
        BitesizedRule::Other(_) => Some(false),
    };
    bug.concerns_just_documentation = Some(any_piece_equals(
        &settings.documentation_text,
        labels.iter().copied(),
        false,
    ));
    // `assignee` is a navigable field: `null` when nobody has the issue; absent only when the
    // query did not ask for it.
    bug.assigned = bugimporters_core::forge::assigned_from(fields, &["assignee"]);
    bug.project_name = Some(settings.project_name.clone());
    bug.tracker_name = Some(settings.project_name.clone());
    bug.last_polled = Some(now);
    Ok(bug)
}

/// Plain text of an Atlassian Document Format node (Jira Cloud API v3 `description`):
/// the text nodes in order, block nodes (paragraphs, headings, list items, code blocks...)
/// separated by new lines, `hardBreak` as a new line, mentions and emoji by their text.
pub fn adf_to_text(doc: &Value) -> String {
    fn walk(node: &Value, out: &mut String, depth: usize) {
        if depth > 64 {
            return;
        }
        let kind = node.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "text" => {
                if let Some(t) = node.get("text").and_then(Value::as_str) {
                    out.push_str(t);
                }
                return;
            }
            "hardBreak" => {
                out.push('\n');
                return;
            }
            "mention" | "emoji" | "status" | "date" => {
                if let Some(t) = node
                    .get("attrs")
                    .and_then(|a| a.get("text").or_else(|| a.get("shortName")))
                    .and_then(Value::as_str)
                {
                    out.push_str(t);
                }
                return;
            }
            "inlineCard" | "blockCard" => {
                if let Some(t) = node
                    .get("attrs")
                    .and_then(|a| a.get("url"))
                    .and_then(Value::as_str)
                {
                    out.push_str(t);
                }
            }
            _ => {}
        }
        if let Some(children) = node.get("content").and_then(Value::as_array) {
            let block_children = matches!(
                kind,
                "doc"
                    | "bulletList"
                    | "orderedList"
                    | "listItem"
                    | "blockquote"
                    | "panel"
                    | "table"
                    | "tableRow"
                    | "tableCell"
                    | "tableHeader"
                    | "expand"
                    | "layoutSection"
                    | "layoutColumn"
            );
            for (i, child) in children.iter().enumerate() {
                if block_children && i > 0 && !out.ends_with('\n') {
                    out.push('\n');
                }
                walk(child, out, depth + 1);
            }
        }
    }
    let mut out = String::new();
    walk(doc, &mut out, 0);
    out.trim_end_matches('\n').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(rule: BitesizedRule) -> ParseSettings {
        ParseSettings::new("P", "http://jira.example.org/browse/", rule, "docs").unwrap()
    }

    fn now() -> NaiveDateTime {
        parse_datetime("2024-01-01T00:00:00").unwrap()
    }

    fn issue(status: &str, labels: &[&str], priority: &str) -> Value {
        json!({"key": "MKY-1", "self": "http://x/rest/api/2/issue/10000", "fields": {
            "summary": "S", "description": null, "status": {"name": status},
            "labels": labels, "priority": {"name": priority},
            "created": "2011-11-22T09:22:59.899+1100", "updated": "2011-11-22T09:23:02.000+1100",
            "reporter": {"name": "admin", "displayName": "Administrator"}}})
    }

    #[test]
    fn fields_and_rules() {
        let s = settings(BitesizedRule::Label("bitesize,easy".into()));
        let b = parse_issue_value(&issue("Closed", &["easy", "docs"], "Major"), "u", &s, now())
            .unwrap();
        assert_eq!(b.canonical_bug_link, "http://jira.example.org/browse/MKY-1");
        assert_eq!(b.status.as_deref(), Some("closed"));
        assert_eq!(b.looks_closed, Some(true));
        assert_eq!(b.good_for_newcomers, Some(true));
        assert_eq!(b.concerns_just_documentation, Some(true));
        assert_eq!(b.description.as_deref(), Some(""));
        assert_eq!(
            bugimporters_core::time::format_naive(&b.date_reported.unwrap()),
            "2011-11-21T22:22:59.899000"
        );
        assert_eq!(
            bugimporters_core::time::format_naive(&b.last_touched.unwrap()),
            "2011-11-21T22:23:02"
        );
        assert!(b.importance.is_none() && b.people_involved.is_none());

        let b = parse_issue_value(&issue("Resolved", &[], "Trivial"), "u", &s, now()).unwrap();
        assert_eq!(b.looks_closed, Some(false));
        assert_eq!(b.good_for_newcomers, Some(false));

        let p = settings(BitesizedRule::Priority("Trivial".into()));
        let b = parse_issue_value(&issue("Open", &[], "Trivial"), "u", &p, now()).unwrap();
        assert_eq!(b.good_for_newcomers, Some(true));
        let off = settings(BitesizedRule::Off);
        let b = parse_issue_value(&issue("Open", &["easy"], "Trivial"), "u", &off, now()).unwrap();
        assert_eq!(b.good_for_newcomers, None);
        assert!(!b.to_json_line().contains("good_for_newcomers"));
        let other = settings(BitesizedRule::Other("component".into()));
        let b =
            parse_issue_value(&issue("Open", &["easy"], "Trivial"), "u", &other, now()).unwrap();
        assert_eq!(b.good_for_newcomers, Some(false));
    }

    #[test]
    fn assigned_from_the_assignee_field() {
        let s = settings(BitesizedRule::Off);
        let mut v = issue("Open", &[], "Major");
        assert_eq!(
            parse_issue_value(&v, "u", &s, now()).unwrap().assigned,
            None
        );
        v["fields"]["assignee"] = Value::Null;
        assert_eq!(
            parse_issue_value(&v, "u", &s, now()).unwrap().assigned,
            Some(false)
        );
        v["fields"]["assignee"] = json!({"name": "bob", "displayName": "Bob"});
        assert_eq!(
            parse_issue_value(&v, "u", &s, now()).unwrap().assigned,
            Some(true)
        );
    }

    #[test]
    fn malformed_input_names_the_url() {
        let s = settings(BitesizedRule::Off);
        for body in [&b"{"[..], b"[]", b"{\"nothing\": 1}", b"{\"issues\": 3}"] {
            let e = parse_search(body, "http://j/rest/api/2/search?jql=x", &s, now())
                .unwrap_err()
                .to_string();
            assert!(e.contains("http://j/rest/api/2/search"), "{e}");
        }
        let page = parse_search(
            br#"{"startAt":0,"total":2,"issues":[{"key":"A-1"},{"fields":{}}]}"#,
            "u",
            &s,
            now(),
        )
        .unwrap();
        assert_eq!(page.issue_count, 2);
        assert_eq!(page.errors.len(), 2);
        let e = parse_issue(
            br#"{"key":"A-1","fields":{"created":"yesterday"}}"#,
            "file.json",
            &s,
            now(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("file.json") && e.contains("created"), "{e}");
    }

    #[test]
    fn repeated_keys_last_wins() {
        let s = settings(BitesizedRule::Label("easy".into()));
        let body = br#"{"key":"A-1","fields":{"labels":["easy"],"labels":["hard"],"status":{"name":"Open"}}}"#;
        let b = parse_issue(body, "u", &s, now()).unwrap();
        assert_eq!(b.good_for_newcomers, Some(false));
    }

    #[test]
    fn links_and_keys() {
        let s = ParseSettings::new(
            "P",
            "https://issues.example.org/jira",
            BitesizedRule::Off,
            "",
        )
        .unwrap();
        assert_eq!(
            s.canonical_link("AB-12"),
            "https://issues.example.org/browse/AB-12"
        );
        assert_eq!(
            key_from_link("http://jira.example.org/browse/MKY-1").as_deref(),
            Some("MKY-1")
        );
        assert_eq!(key_from_link("http://jira.example.org/browse/"), None);
        assert_eq!(key_from_link("http://jira.example.org/issues/MKY-1"), None);
        assert_eq!(key_from_link("not a url"), None);
        assert!(!is_issue_key("A-1) OR (x"));
    }

    #[test]
    fn adf_text() {
        let doc = json!({"type":"doc","version":1,"content":[
            {"type":"paragraph","content":[{"type":"text","text":"Hello "},{"type":"text","text":"world","marks":[{"type":"strong"}]}]},
            {"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"one"}]}]},
                                             {"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"two"},{"type":"hardBreak"},{"type":"mention","attrs":{"text":"@ann"}}]}]}]}]});
        assert_eq!(adf_to_text(&doc), "Hello world\none\ntwo\n@ann");
    }
}
