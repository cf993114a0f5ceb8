//! Requests to the Launchpad web service, and the per-run cache of shared documents.
//!
//! Every request goes through [`ImportContext::fetch`] with `Accept: application/json` (as the
//! original), so the core fetch layer's retries, `Retry-After` waits, conditional requests and
//! redirect handling apply. Launchpad is read anonymously.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use bugimporters_core::fetch::{Request, Response};
use bugimporters_core::paging::with_query_param;
use bugimporters_core::time::parse_datetime;
use bugimporters_core::{Error, ImportContext};
use chrono::NaiveDateTime;
use http::header::{HeaderValue, ACCEPT};
use tokio::sync::OnceCell;
use url::Url;

/// GETs `url` with `Accept: application/json`.
pub(crate) async fn get(
    ctx: &ImportContext,
    url: &str,
    conditional: bool,
) -> Result<Response, Error> {
    let mut req = Request::get(url)
        .map_err(|e| e.in_tracker(ctx.tracker_name()))?
        .with_header(ACCEPT, HeaderValue::from_static("application/json"));
    if conditional {
        req = req.conditional();
    }
    ctx.fetch(req).await
}

/// An error kept in the cache, so that a failed shared document is not asked for again by
/// every bug that needs it (each such bug still reports the failure).
#[derive(Debug, Clone)]
enum CachedError {
    Status {
        url: String,
        status: u16,
    },
    Network {
        url: String,
        message: String,
        timeout: bool,
    },
    Refused {
        url: String,
        reason: String,
    },
    NotRecorded {
        url: String,
    },
    Parse {
        url: String,
        message: String,
    },
}

impl CachedError {
    fn from_error(e: &Error, url: &str) -> Self {
        let url_of = |u: Option<&str>| u.unwrap_or(url).to_owned();
        match e.inner() {
            Error::Status { url, status, .. } => CachedError::Status {
                url: url.clone(),
                status: *status,
            },
            Error::Network {
                url,
                message,
                timeout,
                ..
            } => CachedError::Network {
                url: url.clone(),
                message: message.clone(),
                timeout: *timeout,
            },
            Error::Refused { url, reason } => CachedError::Refused {
                url: url.clone(),
                reason: reason.clone(),
            },
            Error::NotRecorded { url } => CachedError::NotRecorded { url: url.clone() },
            // An open circuit breaker is temporary: cached as a network failure, never as a
            // parse error (which would let deletions through).
            e @ Error::HostUnavailable { url, .. } => CachedError::Network {
                url: url.clone(),
                message: e.to_string(),
                timeout: false,
            },
            Error::Parse { url, message } => CachedError::Parse {
                url: url.clone(),
                message: message.clone(),
            },
            other => CachedError::Parse {
                url: url_of(other.url()),
                message: other.to_string(),
            },
        }
    }

    fn to_error(&self) -> Error {
        match self.clone() {
            CachedError::Status { url, status } => Error::status_error(url, status),
            CachedError::Network {
                url,
                message,
                timeout,
            } => Error::Network {
                url,
                message,
                timeout,
                source: None,
            },
            CachedError::Refused { url, reason } => Error::Refused { url, reason },
            CachedError::NotRecorded { url } => Error::NotRecorded { url },
            CachedError::Parse { url, message } => Error::parse(url, message),
        }
    }
}

type Cell<T> = Arc<OnceCell<Result<T, CachedError>>>;

/// Documents by URL, each loaded once per run even when many bugs ask for it at the same
/// time (the others wait for the first load). The original's duplicate filter dropped the
/// second request for a shared URL and, with it, that bug; here the answer is shared.
#[derive(Debug)]
pub(crate) struct Cache<T> {
    cells: Mutex<HashMap<String, Cell<T>>>,
}

impl<T> Default for Cache<T> {
    fn default() -> Self {
        Cache {
            cells: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> Cache<T> {
    fn cell(&self, url: &str) -> Cell<T> {
        match self.cells.lock() {
            Ok(mut cells) => cells.entry(url.to_owned()).or_default().clone(),
            Err(_) => Arc::new(OnceCell::new()),
        }
    }

    /// The document at `url`: loaded by `load` the first time, shared after.
    pub(crate) async fn get_or_load<F, Fut>(&self, url: &str, load: F) -> Result<T, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let cell = self.cell(url);
        let result = cell
            .get_or_init(|| async { load().await.map_err(|e| CachedError::from_error(&e, url)) })
            .await;
        result.clone().map_err(|e| e.to_error())
    }

    /// Stores a document loaded elsewhere (kept if one is already there).
    pub(crate) fn put(&self, url: &str, value: T) {
        let _ = self.cell(url).set(Ok(value));
    }

    /// How many URLs the cache holds.
    pub(crate) fn len(&self) -> usize {
        self.cells.lock().map(|c| c.len()).unwrap_or(0)
    }
}

/// `url` without query parameter `key`. `None` when `url` is not a URL.
pub fn without_query_param(url: &str, key: &str) -> Option<String> {
    let mut u = Url::parse(url).ok()?;
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| k != key)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if pairs.is_empty() {
        u.set_query(None);
    } else {
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    Some(u.to_string())
}

/// The query URL of an incremental crawl: `modified_since=<last_polled>` (UTC) set. The
/// original host writes `created_since=<the query's last_polled>`, which would hide every
/// older bug that changed: a `created_since` equal to `last_polled` is dropped.
pub fn incremental_url(url: &str, last_polled: NaiveDateTime) -> String {
    let mut out = url.to_owned();
    let created = bugimporters_core::paging::query_param(url, "created_since");
    if created.as_deref().and_then(parse_datetime) == Some(last_polled) {
        out = without_query_param(&out, "created_since").unwrap_or(out);
    }
    let since = last_polled.format("%Y-%m-%dT%H:%M:%S%.f+00:00").to_string();
    with_query_param(&out, "modified_since", &since).unwrap_or(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_urls() {
        let t = parse_datetime("2024-04-30T00:00:00").unwrap();
        let host = "https://api.launchpad.net/1.0/bzr?ws.op=searchTasks&created_since=2024-04-30T00%3A00%3A00";
        assert_eq!(
            incremental_url(host, t),
            "https://api.launchpad.net/1.0/bzr?ws.op=searchTasks&modified_since=2024-04-30T00%3A00%3A00%2B00%3A00"
        );
        let old = "https://api.launchpad.net/1.0/bzr?ws.op=searchTasks&created_since=1970-01-01T00%3A00%3A00";
        let u = incremental_url(old, t);
        assert!(
            u.contains("created_since=1970") && u.contains("modified_since=2024-04-30"),
            "{u}"
        );
    }

    #[tokio::test]
    async fn cache_loads_once_and_keeps_failures() {
        let cache: Cache<u32> = Cache::default();
        let calls = std::sync::atomic::AtomicU32::new(0);
        let load = || async {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<u32, Error>(7)
        };
        let (a, b) = tokio::join!(cache.get_or_load("u", load), cache.get_or_load("u", load));
        assert_eq!((a.unwrap(), b.unwrap()), (7, 7));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        let fail = || async { Err::<u32, Error>(Error::status_error("http://x/~p", 404)) };
        assert!(cache
            .get_or_load("f", fail)
            .await
            .unwrap_err()
            .is_not_found());
        let again = cache.get_or_load("f", load).await.unwrap_err();
        assert!(again.is_not_found() && again.to_string().contains("http://x/~p"));
        cache.put("p", 1);
        assert_eq!(cache.get_or_load("p", load).await.unwrap(), 1);
        assert_eq!(cache.len(), 3);
    }
}
