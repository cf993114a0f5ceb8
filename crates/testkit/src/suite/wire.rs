//! Small answers harnesses share: JSON pages chained by a `Link` header (GitHub, GitLab,
//! Gitea), a JSON document at a path, and the query-string tests of `asks_since`.

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The value of query parameter `name` of `request`, if any.
pub fn query_value(request: &Request, name: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The page a request asks for: its `param` (`page`), 1 when absent.
pub fn page_of(request: &Request, param: &str) -> u64 {
    query_value(request, param)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// A `200` with `body` as `application/json`.
pub fn json(body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_string(), "application/json")
}

/// Mounts `body` for GETs of `at` (any query).
pub async fn mount_json(server: &MockServer, at: &str, body: Value) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(json(&body))
        .mount(server)
        .await;
}

/// Mounts `pages` (each a JSON array) at `at`, chosen by the `page` parameter (absent = 1);
/// each page but the last names the next one in a `Link` header
/// (`<{server}{at}?page=N>; rel="next"`).
pub async fn mount_link_pages(server: &MockServer, at: &str, pages: Vec<Value>) {
    let n = pages.len() as u64;
    for (i, body) in pages.into_iter().enumerate() {
        let page = i as u64 + 1;
        let next = (page < n).then(|| format!("{}{at}?page={}", server.uri(), page + 1));
        mount_link_page(server, at, page, body, next.as_deref()).await;
    }
}

/// Mounts page `page` of a `Link`-chained listing at `at`, naming `next` (any URL) as the
/// next page.
pub async fn mount_link_page(
    server: &MockServer,
    at: &str,
    page: u64,
    body: Value,
    next: Option<&str>,
) {
    let mut answer = json(&body);
    if let Some(next) = next {
        answer = answer.insert_header("link", format!("<{next}>; rel=\"next\"").as_str());
    }
    Mock::given(method("GET"))
        .and(path(at))
        .and(move |r: &Request| page_of(r, "page") == page)
        .respond_with(answer)
        .mount(server)
        .await;
}
