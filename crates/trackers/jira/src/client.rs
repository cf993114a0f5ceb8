//! Requests to the Jira REST API: credentials, and the URLs of search pages (JQL editing,
//! offset and token paging).
//!
//! Everything goes through [`ImportContext::fetch`], so the core fetch layer's retries,
//! `Retry-After` waits (Jira Cloud answers `429` with one), conditional requests and redirect
//! handling apply. Credentials are sent only to `base_url`'s origin and `api_url`'s.

use std::sync::Arc;

use base64::Engine;
use bugimporters_core::fetch::{Request, Response};
use bugimporters_core::paging::{query_param, with_query_param};
use bugimporters_core::parse::Job;
use bugimporters_core::{Error, ImportContext};
use chrono::NaiveDateTime;
use http::header::{HeaderValue, ACCEPT, AUTHORIZATION};
use url::Url;

use crate::config::JiraOptions;
use crate::parser::{parse_search, ParseSettings, SearchPage};

/// Issue keys per `key in (...)` search when refreshing held bugs.
pub const KEYS_PER_SEARCH: usize = 50;

/// Most pages read from one search (a loop guard).
pub const MAX_PAGES: usize = 20_000;

/// The credentials of a run, read from the environment. `Debug` never shows them.
pub(crate) struct Auth {
    kind: &'static str,
    value: Option<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("kind", &self.kind).finish()
    }
}

impl Auth {
    /// E-mail + API token (Basic) when both are set, else a personal access token (Bearer),
    /// else anonymous.
    pub(crate) fn from_env(options: &JiraOptions, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let (email_env, api_token_env, token_env) = options.env_names();
        if let (Some(email), Some(token)) = (lookup(email_env), lookup(api_token_env)) {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{email}:{token}"));
            return Auth {
                kind: "basic",
                value: Some(format!("Basic {encoded}")),
            };
        }
        if let Some(pat) = lookup(token_env) {
            return Auth {
                kind: "bearer",
                value: Some(format!("Bearer {}", pat.trim())),
            };
        }
        Auth {
            kind: "none",
            value: None,
        }
    }

    /// `"basic"`, `"bearer"` or `"none"`.
    pub(crate) fn kind(&self) -> &'static str {
        self.kind
    }
}

/// What a run needs to talk to one Jira.
#[derive(Debug)]
pub(crate) struct JiraClient {
    /// REST root without a trailing slash (`https://host[/context]`).
    pub(crate) api_root: String,
    /// Where credentials may go ([`crate::JiraOptions::credential_origins`]).
    pub(crate) credential_origins: Vec<url::Origin>,
    /// Shared with the parse jobs (see [`JiraClient::search`]).
    pub(crate) settings: Arc<ParseSettings>,
    pub(crate) auth: Auth,
}

impl JiraClient {
    /// Whether `url` is on an origin credentials may go to (`base_url`'s, `api_url`'s).
    fn same_origin(&self, url: &Url) -> bool {
        self.credential_origins.contains(&url.origin())
    }

    /// GETs `url` with `Accept: application/json` and the credentials.
    pub(crate) async fn get(
        &self,
        ctx: &ImportContext,
        url: &str,
        conditional: bool,
    ) -> Result<Response, Error> {
        let mut req = Request::get(url)
            .map_err(|e| e.in_tracker(ctx.tracker_name()))?
            .with_header(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(v) = &self.auth.value {
            if self.same_origin(&req.url) {
                req = req.with_secret_header(AUTHORIZATION, v)?;
            }
        }
        if conditional {
            req = req.conditional();
        }
        ctx.fetch(req).await
    }

    /// Parses a search response from `url` on the bounded parse pool.
    pub(crate) async fn search(
        &self,
        resp: Response,
        url: &str,
        now: NaiveDateTime,
    ) -> Result<SearchPage, Error> {
        let settings = Arc::clone(&self.settings);
        Job::new(url, resp.body, move |body, url| {
            parse_search(body, url, &settings, now)
        })
        .run()
        .await
    }

    /// `{api_root}/rest/api/2/issue/KEY`.
    pub(crate) fn issue_url(&self, key: &str) -> String {
        format!("{}/rest/api/2/issue/{key}", self.api_root)
    }

    /// A `key in (...)` search on the REST root (v2 offset search; `validateQuery=false` so
    /// that a deleted key is left out instead of failing the whole search).
    pub(crate) fn keys_search_url(&self, keys: &[String]) -> Option<String> {
        let jql = format!("key in ({})", keys.join(","));
        let mut url = Url::parse(&format!("{}/rest/api/2/search", self.api_root)).ok()?;
        url.query_pairs_mut()
            .append_pair("jql", &jql)
            .append_pair("maxResults", &keys.len().to_string())
            .append_pair("validateQuery", "false");
        Some(url.to_string())
    }
}

/// Whether `url` is Jira Cloud's token-paged search (`.../rest/api/N/search/jql`).
pub fn is_token_paged(url: &str) -> bool {
    Url::parse(url).is_ok_and(|u| u.path().trim_end_matches('/').ends_with("/search/jql"))
}

/// The first URL of a token-paged search: `fields=*navigable` added when the URL names no
/// fields (that endpoint returns only issue ids by default).
pub fn token_first_url(url: &str) -> String {
    if query_param(url, "fields").is_some() {
        return url.to_owned();
    }
    with_query_param(url, "fields", "*navigable").unwrap_or_else(|| url.to_owned())
}

/// The token-paged equivalent of an offset search URL, for a Jira Cloud site that answers
/// `410 Gone` to `/rest/api/N/search`: `/rest/api/N/search/jql` with the same `jql`,
/// `maxResults`, `fields` (default `*navigable`), `expand` and `validateQuery`-free
/// parameters (`startAt` has no meaning there). `None` when `url` is not such a search.
pub fn cloud_search_url(url: &str) -> Option<String> {
    let u = Url::parse(url).ok()?;
    let path = u.path().trim_end_matches('/');
    if !path.ends_with("/search") || !path.contains("/rest/api/") {
        return None;
    }
    let mut out = u.clone();
    out.set_path(&format!("{path}/jql"));
    let keep: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| {
            matches!(
                &**k,
                "jql" | "maxResults" | "fields" | "expand" | "properties"
            )
        })
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    out.set_query(None);
    if !keep.is_empty() {
        out.query_pairs_mut().extend_pairs(keep);
    }
    Some(token_first_url(out.as_str()))
}

/// The URL of the offset page starting at `start_at` (other parameters kept).
pub fn offset_page_url(url: &str, start_at: u64) -> Option<String> {
    with_query_param(url, "startAt", &start_at.to_string())
}

/// The URL of the token page after `token`.
pub fn token_page_url(url: &str, token: &str) -> Option<String> {
    with_query_param(url, "nextPageToken", token)
}

/// The JQL clause of an incremental crawl: issues updated at or after `since` (naive UTC),
/// written as epoch milliseconds so that it does not depend on the Jira user's time zone
/// (`updated > T-1ms`, i.e. `updated >= T` at Jira's millisecond precision).
pub fn updated_since_clause(since: NaiveDateTime) -> String {
    let ms = since.and_utc().timestamp_millis();
    format!("updated > {}", ms.saturating_sub(1))
}

/// Where `ORDER BY` starts in `jql` (case-insensitive, outside quotes), if anywhere.
fn order_by_at(jql: &str) -> Option<usize> {
    let bytes = jql.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes.get(i).copied().unwrap_or(0);
        match quote {
            Some(q) => {
                if b == b'\\' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None => {
                if b == b'"' || b == b'\'' {
                    quote = Some(b);
                } else if (i == 0 || bytes.get(i - 1).is_some_and(u8::is_ascii_whitespace))
                    && jql
                        .get(i..i + 5)
                        .is_some_and(|w| w.eq_ignore_ascii_case("order"))
                {
                    let rest = jql.get(i + 5..).unwrap_or("");
                    let trimmed = rest.trim_start();
                    if trimmed.len() < rest.len()
                        && trimmed
                            .get(..2)
                            .is_some_and(|w| w.eq_ignore_ascii_case("by"))
                        && trimmed
                            .as_bytes()
                            .get(2)
                            .is_none_or(|c| c.is_ascii_whitespace())
                    {
                        return Some(i);
                    }
                }
            }
        }
        i += 1;
    }
    None
}

/// `jql` restricted by `clause`: `(jql) AND clause`, keeping an `ORDER BY` at the end.
pub fn and_clause(jql: &str, clause: &str) -> String {
    let (filter, order) = match order_by_at(jql) {
        Some(i) => (
            jql.get(..i).unwrap_or(jql).trim(),
            jql.get(i..).unwrap_or("").trim(),
        ),
        None => (jql.trim(), ""),
    };
    let mut out = if filter.is_empty() {
        clause.to_owned()
    } else {
        format!("({filter}) AND {clause}")
    };
    if !order.is_empty() {
        out.push(' ');
        out.push_str(order);
    }
    out
}

/// `url` with its `jql` parameter restricted to issues updated since `since`.
pub fn with_updated_since(url: &str, since: NaiveDateTime) -> Option<String> {
    let jql = query_param(url, "jql").unwrap_or_default();
    with_query_param(url, "jql", &and_clause(&jql, &updated_since_clause(since)))
}

/// The original host's refresh URL asks for `created>=<oldest last_polled>`, which can never
/// name the bugs it should refresh (they were created before they were polled), and its
/// `2012-09-15T00:00:00` is not a JQL date. When the JQL is exactly that shape, it becomes
/// `updated` since that time; any other JQL is left as configured.
pub fn fix_host_refresh_url(url: &str) -> String {
    let Some(jql) = query_param(url, "jql") else {
        return url.to_owned();
    };
    let compact: String = jql.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(date) = compact.strip_prefix("created>=") else {
        return url.to_owned();
    };
    let date = date.trim_matches('"');
    match bugimporters_core::time::parse_datetime(date) {
        Some(t) if date.contains('T') => {
            with_query_param(url, "jql", &updated_since_clause(t)).unwrap_or_else(|| url.to_owned())
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bugimporters_core::time::parse_datetime;

    #[test]
    fn jql_editing() {
        assert_eq!(and_clause("", "x"), "x");
        assert_eq!(and_clause("status=open", "x"), "(status=open) AND x");
        assert_eq!(
            and_clause("project = A or project = B ORDER BY key ASC", "x"),
            "(project = A or project = B) AND x ORDER BY key ASC"
        );
        assert_eq!(
            and_clause("summary ~ \"order by\" order  by created", "x"),
            "(summary ~ \"order by\") AND x order  by created"
        );
        assert_eq!(and_clause("reorder = 1", "x"), "(reorder = 1) AND x");
        let t = parse_datetime("2020-01-31T00:00:00").unwrap();
        assert_eq!(updated_since_clause(t), "updated > 1580428799999");
        let u = with_updated_since(
            "http://j/rest/api/2/search?jql=status%3Dopen&maxResults=5",
            t,
        )
        .unwrap();
        assert_eq!(
            query_param(&u, "jql").as_deref(),
            Some("(status=open) AND updated > 1580428799999")
        );
        assert_eq!(query_param(&u, "maxResults").as_deref(), Some("5"));
    }

    #[test]
    fn host_refresh_url_is_fixed_only_in_its_own_shape() {
        let host =
            "http://jira.example.org/rest/api/2/search?maxResults=1000&jql=created>=2012-09-15T00:00:00";
        let fixed = fix_host_refresh_url(host);
        assert_eq!(
            query_param(&fixed, "jql").as_deref(),
            Some("updated > 1347667199999")
        );
        assert_eq!(query_param(&fixed, "maxResults").as_deref(), Some("1000"));
        for other in [
            "http://j/rest/api/2/search?jql=created>2011-12-08",
            "http://j/rest/api/2/search?jql=created>=2011-12-08 AND project=X",
            "http://j/rest/api/2/search?maxResults=5",
        ] {
            assert_eq!(fix_host_refresh_url(other), other);
        }
    }

    #[test]
    fn cloud_fallback_url() {
        assert_eq!(
            cloud_search_url("https://x.atlassian.net/rest/api/2/search?maxResults=1000&jql=status=open&startAt=0")
                .as_deref(),
            Some("https://x.atlassian.net/rest/api/2/search/jql?maxResults=1000&jql=status%3Dopen&fields=*navigable")
        );
        assert_eq!(cloud_search_url("https://x/rest/api/2/issue/A-1"), None);
        assert_eq!(cloud_search_url("https://x/search"), None);
    }

    #[test]
    fn paging_urls() {
        assert!(is_token_paged(
            "https://x.atlassian.net/rest/api/3/search/jql?jql=a"
        ));
        assert!(!is_token_paged("https://x/rest/api/2/search?jql=a"));
        let first = token_first_url("https://x/rest/api/3/search/jql?jql=a");
        assert_eq!(query_param(&first, "fields").as_deref(), Some("*navigable"));
        let same = "https://x/rest/api/3/search/jql?jql=a&fields=summary";
        assert_eq!(token_first_url(same), same);
        assert_eq!(
            offset_page_url("http://j/s?jql=a&startAt=0&maxResults=5", 10).as_deref(),
            Some("http://j/s?jql=a&startAt=10&maxResults=5")
        );
    }

    #[test]
    fn auth_choice() {
        let o = JiraOptions::default();
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let a = Auth::from_env(&o, env(&[("JIRA_EMAIL", "a@b"), ("JIRA_API_TOKEN", "t")]));
        assert_eq!(a.kind(), "basic");
        assert_eq!(a.value.as_deref(), Some("Basic YUBiOnQ="));
        assert!(!format!("{a:?}").contains("YUBiOnQ"));
        let a = Auth::from_env(&o, env(&[("JIRA_EMAIL", "a@b"), ("JIRA_TOKEN", "pat")]));
        assert_eq!(a.kind(), "bearer");
        assert_eq!(Auth::from_env(&o, env(&[])).kind(), "none");
    }
}
