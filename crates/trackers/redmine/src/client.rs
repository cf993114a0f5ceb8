//! Requests: the URLs the importer builds and the API key header.

use bugimporters_core::fetch::{Request, Response};
use bugimporters_core::{Error, ImportContext};
use chrono::NaiveDateTime;
use http::HeaderName;
use url::Url;

/// Issues per page: Redmine's cap (`limit` above 100 is silently cut to 100).
pub const PAGE_SIZE: u64 = 100;

/// Ids per `issue_id=` refresh listing (one page each).
pub const REFRESH_CHUNK: usize = 100;

/// The header carrying the API key.
pub const API_KEY_HEADER: &str = "x-redmine-api-key";

/// Query parameters the importer sets itself (paging) and drops from configured URLs.
const PAGING_PARAMS: &[&str] = &["offset", "limit", "page", "per_page"];

/// `since` as Redmine's `updated_on` filter value: `>=2026-11-21T12:00:00Z` (ISO 8601 with a
/// time is compared as UTC by Redmine).
pub fn updated_since(since: NaiveDateTime) -> String {
    format!(">={}", since.format("%Y-%m-%dT%H:%M:%SZ"))
}

/// The `T` of an `updated_on=>=T` parameter of `url`, if it has one that reads as a date.
pub fn since_of(url: &str) -> Option<NaiveDateTime> {
    let u = Url::parse(url.trim()).ok()?;
    let value = u
        .query_pairs()
        .find(|(k, _)| k == "updated_on")
        .map(|(_, v)| v.into_owned())?;
    let t = value.trim().strip_prefix(">=")?;
    bugimporters_core::time::parse_datetime(t.trim())
}

fn param(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Turns a configured query URL into the first page of its JSON listing:
///
/// * the path becomes `.json` (`/issues` and `/projects/P/issues` web URLs, `.xml` too);
/// * `limit=100`, `offset=0` (paging parameters of the URL are dropped), `sort=id` (a stable
///   order for offset paging; Redmine breaks ties by id anyway);
/// * without `query_id`: `status_id=*` when the URL has no `status_id` (Redmine lists only
///   open issues otherwise), and `updated_on=>=<since>` when `since` is given and the URL has
///   no `updated_on`. A saved query (`query_id`) applies its own filters; Redmine ignores
///   those parameters then.
///
/// A URL carrying an API key (`key=`) is refused: keys come from the environment.
pub fn listing_url(query: &str, since: Option<NaiveDateTime>) -> Result<String, Error> {
    let mut url = Url::parse(query.trim())
        .map_err(|e| Error::config(format!("query {query:?} is not a URL: {e}")))?;
    if url.query_pairs().any(|(k, _)| k == "key") {
        return Err(Error::config(format!(
            "query {} carries an API key (key=); keys come from the environment (api_key_env)",
            strip_query(&url)
        )));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    let json_path = if let Some(stem) = path.strip_suffix(".xml") {
        format!("{stem}.json")
    } else if path.ends_with("/issues.json") {
        path
    } else if path.ends_with("/issues") {
        format!("{path}.json")
    } else {
        return Err(Error::config(format!(
            "query {} is not a Redmine issue list URL (…/issues.json or …/projects/P/issues.json)",
            strip_query(&url)
        )));
    };
    if !json_path.ends_with("/issues.json") {
        return Err(Error::config(format!(
            "query {} is not a Redmine issue list URL (…/issues.json)",
            strip_query(&url)
        )));
    }
    url.set_path(&json_path);
    let saved = param(&url, "query_id").is_some_and(|q| !q.is_empty());
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !PAGING_PARAMS.contains(&k.as_ref()) && k != "sort")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if !saved {
        if !pairs.iter().any(|(k, _)| k == "status_id") {
            pairs.push(("status_id".into(), "*".into()));
        }
        if let Some(t) = since {
            if !pairs.iter().any(|(k, _)| k == "updated_on") {
                pairs.push(("updated_on".into(), updated_since(t)));
            }
        }
    }
    pairs.push(("sort".into(), "id".into()));
    pairs.push(("limit".into(), PAGE_SIZE.to_string()));
    pairs.push(("offset".into(), "0".into()));
    url.query_pairs_mut().clear().extend_pairs(pairs);
    Ok(url.into())
}

fn strip_query(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.into()
}

/// The query run when the record has none: every issue of `project` (or of every project),
/// or the saved query `query_id`, as a first-page URL (see [`listing_url`]).
pub fn default_listing(
    base: &Url,
    project: Option<&str>,
    query_id: Option<&str>,
    since: Option<NaiveDateTime>,
) -> Result<String, Error> {
    let mut url = base
        .join("issues.json")
        .map_err(|e| Error::config(format!("base_url: {e}")))?;
    {
        let mut q = url.query_pairs_mut();
        if let Some(p) = project {
            q.append_pair("project_id", p);
        }
        if let Some(id) = query_id {
            q.append_pair("query_id", id);
        }
    }
    listing_url(url.as_str(), since)
}

/// `first` with `offset` set.
pub fn page_url(first: &str, offset: u64) -> String {
    bugimporters_core::paging::with_query_param(first, "offset", &offset.to_string())
        .unwrap_or_else(|| first.to_owned())
}

/// One page listing exactly `ids`, whatever their status and project.
pub fn ids_listing(base: &Url, ids: &[u64]) -> String {
    let list = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let mut url = base.join("issues.json").unwrap_or_else(|_| base.clone());
    url.query_pairs_mut()
        .append_pair("issue_id", &list)
        .append_pair("status_id", "*")
        .append_pair("sort", "id")
        .append_pair("limit", &PAGE_SIZE.to_string());
    url.into()
}

/// [`ids_listing`] restricted to issues updated since `since`: the held issues that changed.
pub fn ids_listing_since(base: &Url, ids: &[u64], since: NaiveDateTime) -> String {
    bugimporters_core::paging::with_query_param(
        &ids_listing(base, ids),
        "updated_on",
        &updated_since(since),
    )
    .unwrap_or_else(|| ids_listing(base, ids))
}

/// [`ids_listing`] with `limit=1`: its `total_count` says how many of `ids` still exist
/// (and are visible), for one issue's worth of bytes.
pub fn ids_count(base: &Url, ids: &[u64]) -> String {
    bugimporters_core::paging::with_query_param(&ids_listing(base, ids), "limit", "1")
        .unwrap_or_else(|| ids_listing(base, ids))
}

/// `/issues/N.json`, with journals and watchers when `with_people`.
pub fn issue_url(base: &Url, id: u64, with_people: bool) -> String {
    let suffix = if with_people {
        "?include=journals,watchers"
    } else {
        ""
    };
    base.join(&format!("issues/{id}.json{suffix}"))
        .map(String::from)
        .unwrap_or_else(|_| format!("{base}issues/{id}.json{suffix}"))
}

/// `/issue_statuses.json`.
pub fn statuses_url(base: &Url) -> String {
    base.join("issue_statuses.json")
        .map(String::from)
        .unwrap_or_else(|_| format!("{base}issue_statuses.json"))
}

/// Sends requests through the context, with the API key on requests to the tracker's origin.
pub(crate) struct RedmineClient {
    base: Url,
    key: Option<String>,
}

impl std::fmt::Debug for RedmineClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedmineClient")
            .field("base", &self.base.as_str())
            .field("api_key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl RedmineClient {
    pub(crate) fn new(base: Url, key: Option<String>) -> Self {
        RedmineClient { base, key }
    }

    pub(crate) fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// GETs `url`; the key goes only to the origin of `base_url`.
    pub(crate) async fn get(&self, ctx: &ImportContext, url: &str) -> Result<Response, Error> {
        let mut req = Request::get(url).map_err(|e| e.in_tracker(ctx.tracker_name()))?;
        if let Some(key) = &self.key {
            if req.url.origin() == self.base.origin() {
                req = req.with_secret_header(HeaderName::from_static(API_KEY_HEADER), key)?;
            }
        }
        ctx.fetch(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bugimporters_core::time::parse_datetime;

    fn pairs(url: &str) -> Vec<(String, String)> {
        Url::parse(url)
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn listing_urls() {
        let t = parse_datetime("2026-11-21T12:00:00").unwrap();
        let u = listing_url(
            "https://rm.example/projects/p/issues?tracker_id=1&sort=updated_on:desc&limit=25&offset=50",
            Some(t),
        )
        .unwrap();
        assert!(
            u.starts_with("https://rm.example/projects/p/issues.json?"),
            "{u}"
        );
        let p = pairs(&u);
        for (k, v) in [
            ("tracker_id", "1"),
            ("status_id", "*"),
            ("updated_on", ">=2026-11-21T12:00:00Z"),
            ("sort", "id"),
            ("limit", "100"),
            ("offset", "0"),
        ] {
            assert!(p.contains(&(k.into(), v.into())), "{k} in {u}");
        }
        assert_eq!(p.iter().filter(|(k, _)| k == "sort").count(), 1);
        let open = listing_url("https://rm.example/issues.json?status_id=open", Some(t)).unwrap();
        assert!(pairs(&open).contains(&("status_id".into(), "open".into())));
        let saved = listing_url("https://rm.example/issues.json?query_id=4", Some(t)).unwrap();
        assert!(
            !saved.contains("status_id") && !saved.contains("updated_on"),
            "{saved}"
        );
        assert!(saved.contains("sort=id"));
        assert!(
            listing_url("https://rm.example/issues.json?key=s3cret", None)
                .unwrap_err()
                .to_string()
                .find("s3cret")
                .is_none()
        );
        assert!(listing_url("https://rm.example/projects.json", None).is_err());
        assert!(listing_url("https://rm.example/issues.xml", None)
            .unwrap()
            .contains("/issues.json?"));
    }

    #[test]
    fn other_urls() {
        let base = Url::parse("http://127.0.0.1:1/rm/").unwrap();
        let d = default_listing(&base, Some("realtrackers"), None, None).unwrap();
        assert_eq!(
            d,
            "http://127.0.0.1:1/rm/issues.json?project_id=realtrackers&status_id=*&sort=id&limit=100&offset=0"
        );
        assert_eq!(page_url(&d, 200), d.replace("offset=0", "offset=200"));
        assert_eq!(
            ids_listing(&base, &[1, 2, 30]),
            "http://127.0.0.1:1/rm/issues.json?issue_id=1%2C2%2C30&status_id=*&sort=id&limit=100"
        );
        let t = parse_datetime("2026-11-21T12:00:00").unwrap();
        assert_eq!(
            ids_listing_since(&base, &[4, 5], t),
            "http://127.0.0.1:1/rm/issues.json?issue_id=4%2C5&status_id=*&sort=id&limit=100&updated_on=%3E%3D2026-11-21T12%3A00%3A00Z"
        );
        assert!(ids_count(&base, &[4, 5]).ends_with("&limit=1"));
        assert_eq!(
            issue_url(&base, 5, true),
            "http://127.0.0.1:1/rm/issues/5.json?include=journals,watchers"
        );
        assert_eq!(
            since_of("http://x/issues.json?updated_on=%3E%3D2026-11-21T12%3A00%3A00Z"),
            parse_datetime("2026-11-21T12:00:00")
        );
        assert_eq!(since_of("http://x/issues.json"), None);
    }
}
