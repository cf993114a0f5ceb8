//! Helpers shared by the issue-list API trackers (GitHub, GitLab, Gitea/Forgejo, Pagure).
//!
//! These trackers work alike: a JSON issue list walked page by page, one JSON object per
//! issue, labels (or tags) that mark bite-sized and documentation bugs, and a refresh of the
//! bugs a host already holds that asks for each issue with a conditional request. What is
//! the same in all of them lives here; what differs (the URLs, the token header, the JSON
//! fields) stays in each tracker crate.
//!
//! * configuration: [`text`], [`blank_as_none`], [`flag`] (`deserialize_with` helpers),
//!   [`label_rule`], [`label_rules`], [`project_name_of`], [`check_token_env`] and
//!   [`instance_base`];
//! * parsing: [`json_object`], [`json_issue_array`], [`message_hint`], [`required_date`],
//!   [`scoped_importance`], [`people_involved`] and
//!   [`set_label_flags`];
//! * requests and paging: [`get_json`], [`get_json_accepting`], [`next_page_number`], the
//!   [`IssuePages`] trait and its [`Pager`];
//! * parsing off the runtime: each trait hands out its parse as an owned [`Job`] (the body,
//!   its URL and an `Arc` of the settings), which the [`Pager`] and [`refresh_one`] run on
//!   the bounded pool of [`crate::parse`];
//! * refresh: the [`IssueRefresh`] trait, [`refresh_each`], [`refresh_one`] and
//!   [`emit_refreshed`], [`emit_gone`];
//! * the skeleton ([`skeleton`]): an [`IssueApi`] becomes an importer by [`ForgeImporter`],
//!   with the common keys ([`ForgeOptions`]), parse settings and page types of [`items`].
//!
//! ```
//! use bugimporters_core::forge::{label_rule, people_involved, scoped_importance};
//! assert_eq!(label_rule("", "labels", "easy"), "easy");
//! assert_eq!(label_rule("gfi", "labels", "easy"), "gfi");
//! assert_eq!(label_rule("", "keywords", "easy"), "");
//! let labels = ["kind::bug", "Priority::high"];
//! assert_eq!(
//!     scoped_importance(labels, |l| l.rsplit_once("::")).as_deref(),
//!     Some("high")
//! );
//! assert_eq!(people_involved("ann", ["bob".to_owned(), "ann".to_owned()]), 2);
//! ```

use std::collections::HashSet;

pub mod factory;
pub mod items;
pub mod skeleton;

pub use factory::{register, ForgeFactory, ForgeType};

pub use items::{
    issue_name, issue_page, label_names, raw_issue, ForgeIssue, ForgeOptions, IssueItem, IssuePage,
    Label, ParseSettings,
};
pub use skeleton::{
    link_next, lists_every_issue, refresh_from_listing, refreshed, ForgeClient, ForgeImporter,
    ForgeRefresher, ForgeRun, IssueApi, Parse, TokenClient, MAX_PAGES,
};

use async_trait::async_trait;
use chrono::NaiveDateTime;
use futures::StreamExt;
use http::header::{HeaderName, HeaderValue, ACCEPT};
use serde::{Deserialize, Deserializer};
use url::Url;

use crate::classify::{any_piece_equals, project_name, validate_project_name_format};
use crate::fetch::{Request, Response};
use crate::paging::{query_param, with_query_param};
use crate::parse::Job;
use crate::time::parse_datetime;
use crate::{Error, ImportContext, ParsedBug, TrackerConfig};

/// Held bugs refreshed at the same time by [`refresh_each`] (the context still bounds
/// requests in flight by `max_connections`).
pub const PARALLEL_REFRESH: usize = 16;

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

/// `deserialize_with` for a text key: absent or null is empty, a string is itself, any other
/// value (a number, say) is its JSON text.
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s,
        Some(other) => other.to_string(),
    })
}

/// `deserialize_with` for an optional text key: trimmed, and `None` when absent or blank.
pub fn blank_as_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty()))
}

/// `deserialize_with` for a switch: absent or null is `false`.
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

/// The label rule of one flag: the `*_tag` key when set, else the common `*_text` key when
/// the common `*_type` key says `label` (or `labels`, `tag`, `tags`), else no rule.
pub fn label_rule(tag: &str, common_type: &str, common_text: &str) -> String {
    if !tag.trim().is_empty() {
        return tag.to_owned();
    }
    let t = common_type.trim().to_ascii_lowercase();
    if matches!(t.as_str(), "label" | "labels" | "tag" | "tags") {
        common_text.to_owned()
    } else {
        String::new()
    }
}

/// The bite-size and documentation label rules of `config` (see [`label_rule`]), from the
/// tracker's own `bitesized_tag` and `documentation_tag` keys and the common keys.
pub fn label_rules(
    config: &TrackerConfig,
    bitesized_tag: &str,
    documentation_tag: &str,
) -> (String, String) {
    (
        label_rule(
            bitesized_tag,
            &config.bitesized_type,
            &config.bitesized_text,
        ),
        label_rule(
            documentation_tag,
            &config.documentation_type,
            &config.documentation_text,
        ),
    )
}

/// The project name of every bug of `config`: the tracker name when
/// `bug_project_name_format` is blank, else that format (which must be well formed) filled in
/// with the tracker name.
pub fn project_name_of(config: &TrackerConfig) -> Result<String, Error> {
    if config.bug_project_name_format.trim().is_empty() {
        return Ok(config.tracker_name.clone());
    }
    validate_project_name_format(&config.bug_project_name_format)?;
    project_name(
        &config.bug_project_name_format,
        &config.tracker_name,
        None,
        None,
    )
}

/// Checks a `token_env` key: it must name an environment variable, not hold a token (see
/// [`crate::redact::check_env_name`]; the error does not show the value).
pub fn check_token_env(token_env: Option<&str>) -> Result<(), Error> {
    match token_env {
        Some(v) => crate::redact::check_env_name("token_env", v),
        None => Ok(()),
    }
}

/// The path segments of `link` below the instance root `base` (its path prefix removed when
/// the link has it), empty segments left out. Any origin: a host's links of a tracker may
/// predate a move of the instance (another name, http → https); the path names the issue.
/// `None` when either is not a URL.
pub fn path_segments_under(base: &str, link: &str) -> Option<Vec<String>> {
    let url = Url::parse(link).ok()?;
    let base_path = Url::parse(base)
        .ok()?
        .path()
        .trim_end_matches('/')
        .to_owned();
    let path = url.path();
    let rest = match path.strip_prefix(base_path.as_str()) {
        Some(r) if r.is_empty() || r.starts_with('/') => r,
        _ => path,
    };
    Some(
        rest.split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// The `bitesized_tag` key of a tracker whose labels are matched exactly, rule pieces trimmed.
pub const BITESIZED_LABELS_KEY: crate::ConfigKey = crate::ConfigKey {
    name: "bitesized_tag",
    description: "comma-separated label names (exact; pieces trimmed) that make a bug good_for_newcomers; else bitesized_text when bitesized_type is `label`",
    required: false,
};

/// The `documentation_tag` key of a tracker whose labels are matched exactly, rule pieces
/// trimmed.
pub const DOCUMENTATION_LABELS_KEY: crate::ConfigKey = crate::ConfigKey {
    name: "documentation_tag",
    description: "comma-separated label names (exact; pieces trimmed) that make a bug concerns_just_documentation; else documentation_text when documentation_type is `label`",
    required: false,
};

/// The instance root of `config`, without a trailing slash: its `base_url`, or
/// `default_base` when that is blank. A base URL with a query or fragment is an error.
pub fn instance_base(config: &TrackerConfig, default_base: &str) -> Result<String, Error> {
    let base = if config.base_url.trim().is_empty() {
        Url::parse(default_base).map_err(|e| Error::config(e.to_string()))?
    } else {
        config.base_url_with_slash()?
    };
    if base.query().is_some() || base.fragment().is_some() {
        return Err(Error::config(format!(
            "base_url {:?} must not have a query or fragment",
            config.base_url
        )));
    }
    Ok(base.as_str().trim_end_matches('/').to_owned())
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

/// Decodes a body that must be one JSON object (one issue); errors name `url`.
pub fn json_object(body: &[u8], url: &str) -> Result<serde_json::Value, Error> {
    let value: serde_json::Value = crate::parse::json(url, body)?;
    if !value.is_object() {
        return Err(Error::parse(url, "expected one issue object"));
    }
    Ok(value)
}

/// Decodes a body that must be a JSON array of issues; errors name `url`, and for a body that
/// is valid JSON but no array, end with `hint(&value)` (what the server says, see
/// [`message_hint`]).
pub fn json_issue_array(
    body: &[u8],
    url: &str,
    hint: impl FnOnce(&serde_json::Value) -> String,
) -> Result<Vec<serde_json::Value>, Error> {
    let value: serde_json::Value = crate::parse::json(url, body)?;
    match value {
        serde_json::Value::Array(items) => Ok(items),
        other => Err(Error::parse(
            url,
            format!("expected a JSON array of issues{}", hint(&other)),
        )),
    }
}

/// ` (the server says: MESSAGE)` when `value` has a string `message` member, else empty: the
/// usual hint for [`json_issue_array`].
pub fn message_hint(value: &serde_json::Value) -> String {
    value
        .get("message")
        .and_then(|m| m.as_str())
        .map(|m| format!(" (the server says: {})", crate::excerpt_plain(m)))
        .unwrap_or_default()
}

/// The date of the required member `key` of an issue: `{what}: no `key`` when absent,
/// `{what}: `key` "text" is not a date` when unreadable (see [`parse_datetime`]). `what`
/// names the issue (`issue #12`), `url` the response.
pub fn required_date(
    url: &str,
    what: &str,
    key: &str,
    text: Option<String>,
) -> Result<NaiveDateTime, Error> {
    let text = text.ok_or_else(|| Error::parse(url, format!("{what}: no `{key}`")))?;
    parse_datetime(&text).ok_or_else(|| {
        Error::parse(
            url,
            format!("{what}: `{key}` {} is not a date", crate::excerpt(&text)),
        )
    })
}

/// The value of the first scoped label whose scope is `priority`, else `severity` (scopes
/// compared case-insensitively, values trimmed, empty values ignored). `split` cuts a label
/// into scope and value (`None` for an unscoped label).
pub fn scoped_importance<'a>(
    labels: impl IntoIterator<Item = &'a str> + Clone,
    split: impl Fn(&'a str) -> Option<(&'a str, &'a str)>,
) -> Option<String> {
    ["priority", "severity"].iter().find_map(|scope| {
        labels.clone().into_iter().find_map(|label| {
            let (s, v) = split(label)?;
            (s.trim().eq_ignore_ascii_case(scope) && !v.trim().is_empty())
                .then(|| v.trim().to_owned())
        })
    })
}

/// The number of different people among the submitter and `others` (assignees...).
pub fn people_involved(submitter: &str, others: impl IntoIterator<Item = String>) -> u32 {
    let mut people: Vec<String> = vec![submitter.to_owned()];
    for login in others {
        if !people.contains(&login) {
            people.push(login);
        }
    }
    u32::try_from(people.len()).unwrap_or(u32::MAX)
}

/// `ParsedBug::assigned` from an issue object's assignee keys (`assignee`, `assignees`...):
/// `Some(true)` when one of them holds somebody (an object, or a non-empty list or string),
/// `Some(false)` when a key is there but empty (`null`, `[]`, `""`), `None` when the object
/// has none of them (the tracker does not say).
pub fn assigned_from(issue: &serde_json::Value, keys: &[&str]) -> Option<bool> {
    use serde_json::Value;
    let mut said = false;
    for key in keys {
        let Some(v) = issue.get(*key) else { continue };
        said = true;
        let someone = match v {
            Value::Null | Value::Bool(false) => false,
            Value::Array(a) => a.iter().any(|x| !x.is_null()),
            Value::Object(o) => !o.is_empty(),
            Value::String(s) => !s.trim().is_empty(),
            Value::Bool(true) | Value::Number(_) => true,
        };
        if someone {
            return Some(true);
        }
    }
    said.then_some(false)
}

/// Sets `good_for_newcomers` and `concerns_just_documentation` of `bug`: whether one of
/// `labels` equals a piece of the `bitesized`, resp. `documentation`, rule (comma-separated;
/// see [`any_piece_equals`] for `trim`).
pub fn set_label_flags(
    bug: &mut ParsedBug,
    bitesized: &str,
    documentation: &str,
    labels: &[&str],
    trim: bool,
) {
    bug.good_for_newcomers = Some(any_piece_equals(bitesized, labels.iter().copied(), trim));
    bug.concerns_just_documentation = Some(any_piece_equals(
        documentation,
        labels.iter().copied(),
        trim,
    ));
}

// ---------------------------------------------------------------------------------------
// Requests and paging
// ---------------------------------------------------------------------------------------

/// GETs `url` asking for JSON, conditionally when `conditional`, with the token header
/// `token` (name and value, sent as a secret) only when `trusted` says the request URL is on
/// the instance's origin (never elsewhere: query URLs come from a database users edit).
pub async fn get_json(
    ctx: &ImportContext,
    url: &str,
    conditional: bool,
    token: Option<(HeaderName, String)>,
    trusted: impl FnOnce(&Url) -> bool,
) -> Result<Response, Error> {
    get_json_accepting(ctx, url, conditional, token, trusted, &[]).await
}

/// [`get_json`] that returns a final answer with one of the `accept` statuses as a
/// [`Response`] with its body (see [`Request::accept_status`]), so that the tracker can tell
/// the API's own "private" error from a bot wall.
pub async fn get_json_accepting(
    ctx: &ImportContext,
    url: &str,
    conditional: bool,
    token: Option<(HeaderName, String)>,
    trusted: impl FnOnce(&Url) -> bool,
    accept: &[u16],
) -> Result<Response, Error> {
    let mut req =
        Request::get(url)?.with_header(ACCEPT, HeaderValue::from_static("application/json"));
    if conditional {
        req = req.conditional();
    }
    for status in accept {
        req = req.accept_status(*status);
    }
    if let Some((name, value)) = token {
        if trusted(&req.url) {
            req = req.with_secret_header(name, &value)?;
        }
    }
    ctx.fetch(req).await
}

/// `url` with its `page` parameter incremented (`page=2` when absent); `None` when the
/// parameter is not a number or `url` not a URL.
pub fn next_page_number(url: &str) -> Option<String> {
    let page: u64 = match query_param(url, "page") {
        Some(p) => p.parse().ok()?,
        None => 1,
    };
    with_query_param(url, "page", &(page + 1).to_string())
}

/// What one step of a [`Pager`] gave.
#[derive(Debug)]
pub enum PageOutcome<P> {
    /// A page of issues.
    Page(P),
    /// `304 Not Modified`: the page is as it was when last fetched; its issues are unknown.
    NotModified,
    /// The page could not be fetched or parsed; the error was reported and the listing ends.
    Failed,
}

/// How a tracker's issue list is fetched, read and followed, for a [`Pager`].
#[async_trait]
pub trait IssuePages: Sync {
    /// One parsed page.
    type Page: Send + 'static;

    /// GETs one page, conditionally when `conditional`.
    async fn get(
        &self,
        ctx: &ImportContext,
        url: &str,
        conditional: bool,
    ) -> Result<Response, Error>;

    /// The parse of one page, owned and `'static` (see [`crate::parse::Job`]): the pager runs
    /// it on the bounded parse pool, never on the async runtime. `now` becomes `last_polled`.
    fn page_parser(&self, resp: &Response, now: NaiveDateTime) -> Job<Self::Page>;

    /// How many elements the page listed (issues or not): none ends the listing.
    fn items(page: &Self::Page) -> usize;

    /// The page after `url`, read from its response and parsed page.
    fn next_page(&self, url: &str, resp: &Response, page: &Self::Page) -> Option<String>;

    /// The page after `url` when it answered 304 (its body is unknown): by default the next
    /// page number (a page past the end lists nothing, which ends the listing).
    fn next_after_not_modified(&self, url: &str, _resp: &Response) -> Option<String> {
        next_page_number(url)
    }
}

/// Walks an issue list page by page from a first URL, following [`IssuePages::next_page`];
/// stops on an empty page, a failure, a URL seen before or after `max_pages` pages.
#[derive(Debug)]
pub struct Pager {
    next: Option<String>,
    conditional: bool,
    seen: HashSet<String>,
    pages: usize,
    max_pages: usize,
}

impl Pager {
    /// A pager from `first`; every page is a conditional request when `conditional`.
    pub fn new(first: String, conditional: bool, max_pages: usize) -> Self {
        Pager {
            next: Some(first),
            conditional,
            seen: HashSet::new(),
            pages: 0,
            max_pages,
        }
    }

    /// The next page, or `None` at the end. Errors are reported to `ctx`.
    pub async fn next<S: IssuePages + ?Sized>(
        &mut self,
        src: &S,
        ctx: &ImportContext,
    ) -> Option<PageOutcome<S::Page>> {
        let url = self.next.take()?;
        if !self.seen.insert(url.clone()) || self.pages >= self.max_pages {
            ctx.report_error(Error::parse(
                url.as_str(),
                "the pagination loops or exceeds the page limit; listing stopped",
            ));
            return Some(PageOutcome::Failed);
        }
        self.pages += 1;
        let resp = match src.get(ctx, &url, self.conditional).await {
            Ok(r) => r,
            Err(e) => {
                ctx.report_error(e);
                return Some(PageOutcome::Failed);
            }
        };
        if resp.not_modified() {
            self.next = src.next_after_not_modified(&url, &resp);
            return Some(PageOutcome::NotModified);
        }
        let page = match src.page_parser(&resp, ctx.now()).run().await {
            Ok(p) => p,
            Err(e) => {
                ctx.report_error(e);
                return Some(PageOutcome::Failed);
            }
        };
        if S::items(&page) > 0 {
            self.next = src.next_page(&url, &resp, &page);
        }
        Some(PageOutcome::Page(page))
    }
}

// ---------------------------------------------------------------------------------------
// Refresh of held bugs
// ---------------------------------------------------------------------------------------

/// What one issue request of a refresh gave.
#[derive(Debug)]
pub enum Refreshed {
    /// The issue, parsed.
    Issue(Box<ParsedBug>),
    /// Not a bug to keep (a pull request, confidential or private now): deleted, with this
    /// reason logged.
    Gone(&'static str),
    /// The issue has not changed since the host last polled it (the tracker knows from its
    /// body): `_no_update`, as for a 304.
    Unchanged,
}

/// What a tracker tells [`refresh_one`] about its issues: where each held link is asked for,
/// how, and how the answer reads.
#[async_trait]
pub trait IssueRefresh: Sync {
    /// The project name of deletion and no-update records.
    fn project_name(&self) -> &str;

    /// The API URL of the issue behind the held `link`; `None` when `link` is not an issue
    /// link of this tracker.
    fn issue_api_url(&self, link: &str) -> Option<String>;

    /// The error reported for a held link that is not an issue link (it names the form of
    /// one).
    fn not_an_issue_link(&self) -> &'static str;

    /// A conditional GET of `url` (an [`IssueRefresh::issue_api_url`]).
    async fn get(&self, ctx: &ImportContext, url: &str) -> Result<Response, Error>;

    /// The parse of one issue response, owned and `'static` (see [`crate::parse::Job`]):
    /// [`refresh_one`] runs it on the bounded parse pool. `now` becomes `last_polled`. Only a
    /// positive answer may be [`Refreshed::Gone`] (the API's own "private" error in a
    /// well-formed body, read from a status the tracker accepted with
    /// [`get_json_accepting`]): a refusal, a challenge page or an unreadable body is an error,
    /// never a deletion.
    fn issue_parser(&self, resp: &Response, now: NaiveDateTime) -> Job<Refreshed>;

    /// Completes a refreshed bug before it is emitted (more requests, say). As it is by
    /// default.
    async fn complete(&self, _ctx: &ImportContext, bug: ParsedBug) -> ParsedBug {
        bug
    }
}

/// Emits a refreshed bug for the held link `held` (after [`IssueRefresh::complete`]): as it
/// is, or, when the tracker now names it by another link (renamed, moved, transferred),
/// under its new link (unless this run emitted it already) with a deletion of the old one.
pub async fn emit_refreshed<R: IssueRefresh + ?Sized>(
    ctx: &ImportContext,
    src: &R,
    held: String,
    bug: ParsedBug,
) -> Result<(), Error> {
    let bug = src.complete(ctx, bug).await;
    if bug.canonical_bug_link == held {
        return ctx.emit(bug).await;
    }
    let name = ctx.tracker_name();
    tracing::info!(tracker = %name, from = %held, to = %bug.canonical_bug_link, "issue link changed");
    if ctx.claim(&bug.canonical_bug_link) {
        ctx.emit(bug).await?;
    }
    ctx.emit(ParsedBug::deleted(
        held,
        name,
        src.project_name(),
        ctx.now(),
    ))
    .await
}

/// Emits the deletion of the held `link`, logging `reason` (a pull request, confidential or
/// private now...).
pub async fn emit_gone<R: IssueRefresh + ?Sized>(
    ctx: &ImportContext,
    src: &R,
    link: String,
    reason: &str,
) -> Result<(), Error> {
    let name = ctx.tracker_name();
    tracing::info!(tracker = %name, url = %link, "{reason}");
    ctx.emit(ParsedBug::deleted(
        link,
        name,
        src.project_name(),
        ctx.now(),
    ))
    .await
}

/// Refreshes each of `links` with [`refresh_one`], [`PARALLEL_REFRESH`] at a time. The
/// first error that stops the run (an emit failure) is returned after all are done.
pub async fn refresh_each<R: IssueRefresh + ?Sized>(
    ctx: &ImportContext,
    src: &R,
    links: Vec<String>,
) -> Result<(), Error> {
    let results: Vec<Result<(), Error>> = futures::stream::iter(links)
        .map(|link| refresh_one(ctx, src, link))
        .buffer_unordered(PARALLEL_REFRESH)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Refreshes one held link with its own conditional request: `_no_update` on 304, the bug
/// (see [`emit_refreshed`]) when fetched, `_deleted` on 404/410 or when the issue is
/// [`Refreshed::Gone`]; a link that is not an issue link, a failed request (401, 403, 429,
/// 5xx, a timeout...) or a malformed answer is reported, never deleted, and the next one
/// goes on.
pub async fn refresh_one<R: IssueRefresh + ?Sized>(
    ctx: &ImportContext,
    src: &R,
    link: String,
) -> Result<(), Error> {
    let name = ctx.tracker_name();
    let Some(api) = src.issue_api_url(&link) else {
        ctx.report_error(Error::parse(link.as_str(), src.not_an_issue_link()));
        return Ok(());
    };
    // A 304 and an answer the parser calls unchanged are the same `_no_update`.
    let refreshed = match src.get(ctx, &api).await {
        Ok(resp) if resp.not_modified() => Refreshed::Unchanged,
        Ok(resp) => match src.issue_parser(&resp, ctx.now()).run().await {
            Ok(refreshed) => refreshed,
            Err(e) => {
                ctx.report_error(e);
                return Ok(());
            }
        },
        Err(e) if e.is_not_found() => {
            let gone = ParsedBug::deleted(link, name, src.project_name(), ctx.now());
            return ctx.emit(gone).await;
        }
        Err(e) => {
            ctx.report_error(e);
            return Ok(());
        }
    };
    match refreshed {
        Refreshed::Issue(bug) => emit_refreshed(ctx, src, link, *bug).await,
        Refreshed::Gone(reason) => emit_gone(ctx, src, link, reason).await,
        Refreshed::Unchanged => {
            let same = ParsedBug::no_update(link, name, src.project_name(), ctx.now());
            ctx.emit(same).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_numbers() {
        assert_eq!(
            next_page_number("https://h/i?state=all").as_deref(),
            Some("https://h/i?state=all&page=2")
        );
        assert_eq!(
            next_page_number("https://h/i?page=4&per_page=100").as_deref(),
            Some("https://h/i?page=5&per_page=100")
        );
        assert_eq!(next_page_number("https://h/i?page=x"), None);
    }

    #[test]
    fn assigned_from_keys() {
        use serde_json::json;
        let keys = ["assignee", "assignees"];
        assert_eq!(assigned_from(&json!({}), &keys), None);
        assert_eq!(
            assigned_from(&json!({"assignee": null}), &keys),
            Some(false)
        );
        assert_eq!(
            assigned_from(&json!({"assignee": null, "assignees": []}), &keys),
            Some(false)
        );
        assert_eq!(
            assigned_from(
                &json!({"assignee": null, "assignees": [{"login": "b"}]}),
                &keys
            ),
            Some(true)
        );
        assert_eq!(
            assigned_from(&json!({"assignee": {"login": "b"}}), &keys),
            Some(true)
        );
        assert_eq!(assigned_from(&json!({"assignee": ""}), &keys), Some(false));
    }

    #[test]
    fn parse_helpers() {
        assert!(json_object(b"[]", "u").is_err());
        assert!(json_object(b"{}", "u").is_ok());
        let e = json_issue_array(br#"{"message":"Not Found"}"#, "u", message_hint).unwrap_err();
        assert!(
            e.to_string().contains("(the server says: Not Found)"),
            "{e}"
        );
        assert_eq!(
            json_issue_array(b"[1]", "u", message_hint).unwrap().len(),
            1
        );
        let e = required_date("u", "issue #3", "created_at", None).unwrap_err();
        assert!(e.to_string().contains("issue #3: no `created_at`"), "{e}");
        let e = required_date("u", "issue #3", "created_at", Some("x".into())).unwrap_err();
        assert!(e.to_string().contains("is not a date"), "{e}");
        let labels = ["priority/low", "severity::high"];
        assert_eq!(
            scoped_importance(labels, |l| l.rsplit_once("::")).as_deref(),
            Some("high")
        );
        assert_eq!(
            scoped_importance(labels, |l| l
                .rsplit_once("::")
                .or_else(|| l.rsplit_once('/')))
            .as_deref(),
            Some("low")
        );
        let mut bug = ParsedBug::new("x");
        set_label_flags(&mut bug, "easy", "docs", &["docs"], true);
        assert_eq!(bug.good_for_newcomers, Some(false));
        assert_eq!(bug.concerns_just_documentation, Some(true));
    }
}
