//! The URLs the importer requests and the REST credentials.

use base64::Engine as _;
use bugimporters_core::fetch::Request;
use bugimporters_core::{Error, ImportContext};
use chrono::{Duration, NaiveDateTime};
use http::header::AUTHORIZATION;
use url::Url;

/// Issues per REST or CSV request (Roundup's REST lists accept any page size; 100 keeps URLs
/// short and responses small).
pub const CHUNK: usize = 100;

/// How far before a query's `last_polled` the `activity` filter starts, to absorb clock skew
/// between the crawler and the tracker.
pub const SINCE_OVERLAP_MINUTES: i64 = 60;

/// The `activity` filter value for changes since `t` (minus the overlap).
pub fn since_value(t: NaiveDateTime) -> String {
    let start = t - Duration::minutes(SINCE_OVERLAP_MINUTES);
    format!("{}%3B", start.format("%Y-%m-%d.%H:%M:%S"))
}

fn join_ids(ids: &[u64], sep: &str) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(sep)
}

/// URLs of one tracker.
#[derive(Debug, Clone)]
pub struct Endpoints {
    base: Url,
}

impl Endpoints {
    /// URLs under `base` (with its trailing slash).
    pub fn new(base: Url) -> Self {
        Endpoints { base }
    }

    /// The tracker root.
    pub fn base(&self) -> &Url {
        &self.base
    }

    fn under(&self, rest: &str) -> String {
        format!("{}{rest}", self.base)
    }

    /// CSV export of the ids among `ids` that exist (not retired), or that changed since
    /// `since` when given.
    pub fn csv_ids(&self, ids: &[u64], since: Option<NaiveDateTime>) -> String {
        match since {
            Some(t) => self.under(&format!(
                "issue?@action=export_csv&@columns=id&@filter=id,activity&id={}&activity={}&@sort=id",
                join_ids(ids, ","),
                since_value(t)
            )),
            None => self.under(&format!(
                "issue?@action=export_csv&@columns=id&@filter=id&id={}&@sort=id",
                join_ids(ids, ",")
            )),
        }
    }

    /// REST list of the issues among `ids` (those changed since `since` when given), with
    /// `fields` and names of linked items (`@verbose=2`). Without fields: ids only.
    pub fn rest_issues(
        &self,
        ids: &[u64],
        fields: &[String],
        since: Option<NaiveDateTime>,
    ) -> String {
        let mut url = self.under(&format!(
            "rest/data/issue?id={}&@page_size={}&@sort=id",
            join_ids(ids, "&id="),
            ids.len().max(1)
        ));
        if !fields.is_empty() {
            url.push_str("&@verbose=2&@fields=");
            url.push_str(&fields.join(","));
        }
        if let Some(t) = since {
            url.push_str("&activity=");
            url.push_str(&since_value(t));
        }
        url
    }

    /// REST list of messages `ids`: authors and dates, and their text with `content`.
    pub fn rest_messages(&self, ids: &[u64], content: bool) -> String {
        self.under(&format!(
            "rest/data/msg?id={}&@page_size={}&@verbose={}&@fields=author,date{}",
            join_ids(ids, "&id="),
            ids.len().max(1),
            if content { 3 } else { 2 },
            if content { ",content" } else { "" }
        ))
    }

    /// REST list of users `ids` (username, real name).
    pub fn rest_users(&self, ids: &[String]) -> String {
        self.under(&format!(
            "rest/data/user?id={}&@page_size={}&@verbose=2&@fields=username,realname",
            ids.join("&id="),
            ids.len().max(1)
        ))
    }

    /// REST item of issue `id`.
    pub fn rest_issue(&self, id: u64) -> String {
        self.under(&format!("rest/data/issue/{id}"))
    }
}

/// `url` (a CSV export query) restricted to issues changed since `since`: `activity` is added
/// to `@filter` and `activity=<since>;` to the parameters. A query that already filters on
/// activity is left as it is.
pub fn query_with_since(url: &str, since: NaiveDateTime) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, q),
        None => (url, ""),
    };
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let mut pieces: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let is_filter = |p: &str| p.starts_with("@filter=") || p.starts_with("%40filter=");
    let filters_activity = pieces.iter().any(|p| {
        is_filter(p)
            && p.split_once('=').is_some_and(|(_, v)| {
                v.split([',', ' ']).any(|f| f == "activity")
                    || v.contains("%2Cactivity")
                    || v.starts_with("activity%2C")
            })
    }) || pieces.iter().any(|p| p.starts_with("activity="));
    if filters_activity {
        return url.to_owned();
    }
    match pieces.iter_mut().find(|p| is_filter(p)) {
        Some(p) => {
            if p.ends_with('=') {
                p.push_str("activity");
            } else {
                p.push_str(",activity");
            }
        }
        None => pieces.push("@filter=activity".to_owned()),
    }
    pieces.push(format!("activity={}", since_value(since)));
    let mut out = format!("{head}?{}", pieces.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// Basic-auth credentials for the REST API, from the environment. `Debug` hides them.
#[derive(Clone)]
pub struct Credentials {
    header: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

impl Credentials {
    /// Both variables set and non-empty, else `None`.
    pub fn from_env(ctx: &ImportContext, user_env: &str, password_env: &str) -> Option<Self> {
        let user = ctx.secret(user_env)?;
        let password = ctx.secret(password_env)?;
        Some(Credentials::new(&user, &password))
    }

    /// Credentials of `user` and `password`.
    pub fn new(user: &str, password: &str) -> Self {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Credentials {
            header: format!("Basic {token}"),
        }
    }

    /// A GET of `url` carrying the credentials (as a sensitive header).
    pub fn request(&self, url: &str) -> Result<Request, Error> {
        Request::get(url)?.with_secret_header(AUTHORIZATION, &self.header)
    }
}

/// A GET of `url`, with the credentials when there are some.
pub fn rest_request(creds: Option<&Credentials>, url: &str) -> Result<Request, Error> {
    match creds {
        Some(c) => c.request(url),
        None => Request::get(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        bugimporters_core::time::parse_datetime(s).unwrap()
    }

    #[test]
    fn urls() {
        let e = Endpoints::new(Url::parse("http://h/tracker/").unwrap());
        assert_eq!(
            e.csv_ids(&[1, 2], None),
            "http://h/tracker/issue?@action=export_csv&@columns=id&@filter=id&id=1,2&@sort=id"
        );
        assert_eq!(
            e.csv_ids(&[3], Some(t("2026-11-20T12:00:00"))),
            "http://h/tracker/issue?@action=export_csv&@columns=id&@filter=id,activity&id=3&activity=2026-11-20.11:00:00%3B&@sort=id"
        );
        assert_eq!(
            e.rest_issues(&[1, 2], &["title".into(), "status".into()], None),
            "http://h/tracker/rest/data/issue?id=1&id=2&@page_size=2&@sort=id&@verbose=2&@fields=title,status"
        );
        assert_eq!(
            e.rest_messages(&[4], true),
            "http://h/tracker/rest/data/msg?id=4&@page_size=1&@verbose=3&@fields=author,date,content"
        );
        assert_eq!(e.rest_issue(9), "http://h/tracker/rest/data/issue/9");
    }

    #[test]
    fn since_is_added_to_queries() {
        let since = t("2026-11-20T12:00:00");
        assert_eq!(
            query_with_since("http://h/issue?@action=export_csv&@columns=id&@filter=status&status=1,2", since),
            "http://h/issue?@action=export_csv&@columns=id&@filter=status,activity&status=1,2&activity=2026-11-20.11:00:00%3B"
        );
        assert_eq!(
            query_with_since("http://h/issue?@action=export_csv&@columns=id", since),
            "http://h/issue?@action=export_csv&@columns=id&@filter=activity&activity=2026-11-20.11:00:00%3B"
        );
        let already = "http://h/issue?@action=export_csv&@filter=status,activity&activity=-1d%3B";
        assert_eq!(query_with_since(already, since), already);
    }

    #[test]
    fn credentials_are_basic_and_hidden() {
        let c = Credentials::new("admin", "admin");
        assert_eq!(format!("{c:?}"), "Credentials(<redacted>)");
        let r = c.request("http://h/rest/data/issue/1").unwrap();
        let v = r.headers.get(AUTHORIZATION).unwrap();
        assert!(v.is_sensitive());
        assert_eq!(v.to_str().unwrap(), "Basic YWRtaW46YWRtaW4=");
    }
}
