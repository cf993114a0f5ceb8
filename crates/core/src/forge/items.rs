//! What the issue-list trackers share in their configuration and their parsers: the common
//! keys ([`ForgeOptions`]), the parse settings ([`ParseSettings`]), one element of an issues
//! response ([`IssueItem`]) and one page of a listing ([`IssuePage`], built by
//! [`issue_page`]).

use chrono::NaiveDateTime;
use serde::Deserialize;

use super::{blank_as_none, check_token_env, label_rules, project_name_of, text};
use crate::{Error, ParsedBug, TrackerConfig};

/// The keys every issue-list tracker reads besides its own: the label (or tag) rules and the
/// variable holding its token. Each tracker lists them in its `CONFIG_KEYS` with its own words
/// (labels or tags, the header the token goes in).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ForgeOptions {
    /// Bite-size label names, comma-separated.
    #[serde(deserialize_with = "text")]
    pub bitesized_tag: String,
    /// Documentation label names, comma-separated.
    #[serde(deserialize_with = "text")]
    pub documentation_tag: String,
    /// Token variable; `None` = the tracker's default.
    #[serde(deserialize_with = "blank_as_none")]
    pub token_env: Option<String>,
}

impl ForgeOptions {
    /// Reads the common keys of `config` (unknown keys are the registry's business).
    pub fn from_config(config: &TrackerConfig) -> Result<Self, Error> {
        config.options()
    }

    /// Checks the keys for a crawl: `token_env` must name a variable, and no query URL of
    /// `config` may carry a credential (the error points at `token_env`).
    pub fn check(&self, config: &TrackerConfig) -> Result<(), Error> {
        check_token_env(self.token_env.as_deref())?;
        crate::redact::refuse_credential_queries(config, "token_env")
    }

    /// The token variable: `token_env`, else `default`.
    pub fn token_env<'a>(&'a self, default: &'a str) -> &'a str {
        self.token_env.as_deref().unwrap_or(default)
    }

    /// The parse settings of `config`: names and label rules (see [`label_rules`]). Fails on a
    /// malformed `bug_project_name_format`.
    pub fn parse_settings(&self, config: &TrackerConfig) -> Result<ParseSettings, Error> {
        let (bitesized, documentation) =
            label_rules(config, &self.bitesized_tag, &self.documentation_tag);
        Ok(ParseSettings::new(
            config.tracker_name.clone(),
            project_name_of(config)?,
            bitesized,
            documentation,
        ))
    }
}

/// What an issue parser needs from the tracker's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseSettings {
    /// `tracker_name`, written as `_tracker_name`.
    pub tracker_name: String,
    /// `_project_name` of every bug.
    pub project_name: String,
    /// Comma-separated bite-size label names.
    pub bitesized: String,
    /// Comma-separated documentation label names.
    pub documentation: String,
    /// Import confidential (private) issues too.
    pub include_confidential: bool,
    /// The project's web page, for links the API leaves out (Pagure before 5); empty when
    /// unknown.
    pub web_root: String,
}

impl ParseSettings {
    /// Settings naming the tracker and project, with two label rules; confidential issues
    /// are skipped.
    pub fn new(
        tracker_name: impl Into<String>,
        project_name: impl Into<String>,
        bitesized: impl Into<String>,
        documentation: impl Into<String>,
    ) -> Self {
        ParseSettings {
            tracker_name: tracker_name.into(),
            project_name: project_name.into(),
            bitesized: bitesized.into(),
            documentation: documentation.into(),
            include_confidential: false,
            web_root: String::new(),
        }
    }

    /// The same settings, importing confidential issues when `yes`.
    pub fn with_confidential(mut self, yes: bool) -> Self {
        self.include_confidential = yes;
        self
    }

    /// The same settings with the project's web page (see [`ParseSettings::web_root`]).
    pub fn with_web_root(mut self, web_root: impl Into<String>) -> Self {
        self.web_root = web_root.into();
        self
    }

    /// Fills in the names and the label flags of a parsed `bug` from its `labels` (pieces of
    /// the rules trimmed; see [`super::set_label_flags`]).
    pub fn finish(&self, bug: &mut ParsedBug, labels: &[&str]) {
        super::set_label_flags(bug, &self.bitesized, &self.documentation, labels, true);
        bug.project_name = Some(self.project_name.clone());
        bug.tracker_name = Some(self.tracker_name.clone());
    }
}

/// What a forge parser read from one issue, to be written as a [`ParsedBug`] by
/// [`ForgeIssue::into_bug`] (or [`ParseSettings::issue_item`], which adds the names and the
/// label flags). Each tracker fills it from its own JSON; the fields are the record's.
#[derive(Debug, Clone, PartialEq)]
pub struct ForgeIssue {
    /// The canonical link (the issue's web page).
    pub link: String,
    /// The title.
    pub title: String,
    /// The body (empty when the issue has none).
    pub description: Option<String>,
    /// The state as the forge words it (`open`, `closed`, `Open`).
    pub status: String,
    /// Whether that state is a closed one.
    pub looks_closed: bool,
    /// The importance the labels give, if any.
    pub importance: Option<String>,
    /// The submitter and the assignees, each counted once.
    pub people_involved: u32,
    /// Whether someone is assigned (`None`: the forge does not say).
    pub assigned: Option<bool>,
    /// When the issue was opened.
    pub date_reported: NaiveDateTime,
    /// When it last changed.
    pub last_touched: NaiveDateTime,
    /// The submitter's login.
    pub submitter_username: String,
    /// The submitter's full name (empty when unknown).
    pub submitter_realname: String,
}

impl ForgeIssue {
    /// The record of this issue, read at `now` (without names or label flags).
    pub fn into_bug(self, now: NaiveDateTime) -> ParsedBug {
        let mut bug = ParsedBug::new(self.link);
        bug.title = Some(self.title);
        bug.description = Some(self.description.unwrap_or_default());
        bug.looks_closed = Some(self.looks_closed);
        bug.status = Some(self.status);
        bug.importance = self.importance;
        bug.people_involved = Some(self.people_involved);
        bug.assigned = self.assigned;
        bug.date_reported = Some(self.date_reported);
        bug.last_touched = Some(self.last_touched);
        bug.last_polled = Some(now);
        bug.submitter_username = Some(self.submitter_username);
        bug.submitter_realname = Some(Some(self.submitter_realname));
        bug
    }
}

impl ParseSettings {
    /// The [`IssueItem`] of `issue` read at `now`: [`ForgeIssue::into_bug`], then
    /// [`ParseSettings::finish`] with its `labels`.
    pub fn issue_item(&self, issue: ForgeIssue, labels: &[&str], now: NaiveDateTime) -> IssueItem {
        let mut bug = issue.into_bug(now);
        self.finish(&mut bug, labels);
        IssueItem::Issue(Box::new(bug))
    }
}

/// One element of an issues response.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum IssueItem {
    /// An issue, parsed.
    Issue(Box<ParsedBug>),
    /// A pull request (not a bug; the issues API of some forges lists them).
    PullRequest {
        /// Its page, when the element has one.
        link: Option<String>,
    },
    /// An issue that is not imported: confidential or private.
    Skipped {
        /// Its page, when known.
        link: Option<String>,
    },
}

/// One page of an issue list.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct IssuePage {
    /// Elements in the page, skipped and malformed ones included (0 = past the end).
    pub items: usize,
    /// The issues, in document order.
    pub bugs: Vec<ParsedBug>,
    /// Pull requests skipped.
    pub pull_requests: usize,
    /// Links of the confidential (private) issues skipped.
    pub skipped: Vec<String>,
    /// One error per malformed element (the others are still parsed).
    pub errors: Vec<Error>,
    /// The next page's URL when the body names it (Pagure's `pagination.next`), as sent.
    pub next: Option<String>,
}

/// The page of the elements `items` of a listing fetched from `url`: each object is given to
/// `parse`; an element that is no object, or that `parse` refuses, is an entry of
/// [`IssuePage::errors`] and the others are still parsed.
pub fn issue_page(
    items: Vec<serde_json::Value>,
    url: &str,
    mut parse: impl FnMut(serde_json::Value) -> Result<IssueItem, Error>,
) -> IssuePage {
    let mut page = IssuePage {
        items: items.len(),
        ..IssuePage::default()
    };
    for (i, item) in items.into_iter().enumerate() {
        if !item.is_object() {
            page.errors.push(Error::parse(
                url,
                format!("element {i} is not an issue object"),
            ));
            continue;
        }
        match parse(item) {
            Ok(IssueItem::Issue(bug)) => page.bugs.push(*bug),
            Ok(IssueItem::PullRequest { .. }) => page.pull_requests += 1,
            Ok(IssueItem::Skipped { link }) => page.skipped.extend(link),
            Err(e) => page.errors.push(e),
        }
    }
    page
}

/// A label of an issue as the forges send it: a name, or an object with a `name`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Label {
    /// A bare name.
    Name(String),
    /// An object with a `name` member.
    Object {
        /// The label's name.
        #[serde(default)]
        name: Option<String>,
    },
}

impl Label {
    /// The label's name, when it has one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Label::Name(n) => Some(n),
            Label::Object { name } => name.as_deref(),
        }
    }
}

/// The names of `labels` (absent: none).
pub fn label_names(labels: Option<&[Label]>) -> Vec<&str> {
    labels
        .unwrap_or_default()
        .iter()
        .filter_map(Label::name)
        .collect()
}

/// Decodes an issue object into the tracker's raw issue type `T`; an error names `url`.
pub fn raw_issue<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    url: &str,
) -> Result<T, Error> {
    serde_json::from_value(value)
        .map_err(|e| Error::parse(url, format!("issue: {}", crate::excerpt(&e.to_string()))))
}

/// `issue #N` (or `issue` without a number): how errors name an issue.
pub fn issue_name(number: Option<u64>) -> String {
    match number {
        Some(n) => format!("issue #{n}"),
        None => "issue".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_sort_their_elements() {
        let items = vec![
            serde_json::json!({"n": 1}),
            serde_json::json!(3),
            serde_json::json!({"n": 2}),
            serde_json::json!({"n": 3}),
            serde_json::json!({"n": 4}),
        ];
        let page = issue_page(items, "u", |v| match v["n"].as_u64() {
            Some(1) => Ok(IssueItem::Issue(Box::new(ParsedBug::new("http://x/1")))),
            Some(2) => Ok(IssueItem::PullRequest { link: None }),
            Some(3) => Ok(IssueItem::Skipped {
                link: Some("http://x/3".into()),
            }),
            _ => Err(Error::parse("u", "bad")),
        });
        assert_eq!(
            (
                page.items,
                page.bugs.len(),
                page.pull_requests,
                page.skipped.len(),
                page.errors.len()
            ),
            (5, 1, 1, 1, 2)
        );
        assert_eq!(issue_name(Some(4)), "issue #4");
        assert!(raw_issue::<u32>(serde_json::json!("x"), "http://h/i")
            .unwrap_err()
            .to_string()
            .contains("http://h/i"));
    }

    #[test]
    fn common_options() {
        let mut c = TrackerConfig::new("t", "gitea");
        c.extra.insert("bitesized_tag".into(), "easy".into());
        c.extra.insert("token_env".into(), " ".into());
        let o = ForgeOptions::from_config(&c).unwrap();
        assert_eq!(o.token_env("GITEA_TOKEN"), "GITEA_TOKEN");
        let s = o.parse_settings(&c).unwrap();
        assert_eq!(
            (s.bitesized.as_str(), s.project_name.as_str()),
            ("easy", "t")
        );
        assert!(o.check(&c).is_ok());
        c.extra.insert("token_env".into(), "X Y".into());
        assert!(ForgeOptions::from_config(&c).unwrap().check(&c).is_err());
    }
}
