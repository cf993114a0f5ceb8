//! Requests: the original's batch URL shape, and REST requests carrying the API key.

use bugimporters_core::fetch::{Request, Response};
use bugimporters_core::{Error, ImportContext};
use http::header::{HeaderName, HeaderValue, ACCEPT};
use url::Url;

/// The header Bugzilla 5 reads the REST API key from.
pub const API_KEY_HEADER: &str = "x-bugzilla-api-key";

/// The original's batch URL, byte for byte (docs/reference-behaviour.md §5.1 and §9.7):
/// `urljoin(base_url, "show_bug.cgi?ctype=xml&excludefield=attachmentdata")` + `&` +
/// `id=N&` for each id — with an `&` after every id, the last included.
///
/// ```
/// let base = url::Url::parse("http://bugzilla.example.org/").unwrap();
/// assert_eq!(
///     bugimporters_bugzilla::batch_url(&base, &[2138, 2283]),
///     "http://bugzilla.example.org/show_bug.cgi?ctype=xml&excludefield=attachmentdata&id=2138&id=2283&"
/// );
/// ```
pub fn batch_url(base_url: &Url, ids: &[u64]) -> String {
    let mut url = base_url
        .join("show_bug.cgi?ctype=xml&excludefield=attachmentdata")
        .map(String::from)
        .unwrap_or_else(|_| {
            format!("{base_url}show_bug.cgi?ctype=xml&excludefield=attachmentdata")
        });
    url.push('&');
    for id in ids {
        url.push_str("id=");
        url.push_str(&id.to_string());
        url.push('&');
    }
    url
}

/// Fetches through the context; REST requests to the tracker's REST origin carry the API key
/// from the environment (never in the URL, never logged).
#[derive(Debug)]
pub(crate) struct Client<'a> {
    pub(crate) ctx: &'a ImportContext,
    api_key_env: &'a str,
    rest_root: &'a Url,
}

impl<'a> Client<'a> {
    pub(crate) fn new(ctx: &'a ImportContext, api_key_env: &'a str, rest_root: &'a Url) -> Self {
        Client {
            ctx,
            api_key_env,
            rest_root,
        }
    }

    /// A plain GET (XML and HTML), URL as given.
    pub(crate) async fn get(&self, url: &str) -> Result<Response, Error> {
        self.ctx.get(url).await
    }

    /// A REST GET: `Accept: application/json`, and the API key header when the environment
    /// holds a key and `url` is on the REST root's origin.
    pub(crate) async fn get_rest(&self, url: &Url) -> Result<Response, Error> {
        let mut req = Request::get(url.as_str())
            .map_err(|e| e.in_tracker(self.ctx.tracker_name()))?
            .with_header(ACCEPT, HeaderValue::from_static("application/json"));
        if url.origin() == self.rest_root.origin() {
            if let Some(key) = self.ctx.secret(self.api_key_env) {
                req = req.with_secret_header(HeaderName::from_static(API_KEY_HEADER), &key)?;
            }
        }
        self.ctx.fetch(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_url_shape() {
        let base = Url::parse("http://bugzilla.pculture.org/").unwrap();
        assert_eq!(
            batch_url(&base, &[2374, 4763, 9415]),
            "http://bugzilla.pculture.org/show_bug.cgi?ctype=xml&excludefield=attachmentdata&id=2374&id=4763&id=9415&"
        );
        let sub = Url::parse("https://bugzilla.example.org/bz/").unwrap();
        assert!(batch_url(&sub, &[1]).starts_with("https://bugzilla.example.org/bz/show_bug.cgi?"));
    }
}
