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

/// The numbers of query parameter `name` of `request`: every occurrence, each split at
/// commas (`id=1,2` and `id=1&id=2` alike); `None` when the parameter is absent.
pub fn numbers(request: &Request, name: &str) -> Option<Vec<u64>> {
    let mut found = false;
    let mut out = Vec::new();
    for (k, v) in request.url.query_pairs() {
        if k == name {
            found = true;
            out.extend(v.split(',').filter_map(|x| x.trim().parse::<u64>().ok()));
        }
    }
    found.then_some(out)
}

/// One page of an offset-paged listing of `ids`: the request's `offset` parameter (absent =
/// 0) and its `limit` parameter (absent = `cap`), the limit capped at `cap` as a server's
/// setting caps it. Returns the offset, the limit and the ids of the page.
pub fn window(
    request: &Request,
    ids: &[u64],
    (offset, limit): (&str, &str),
    cap: usize,
) -> (usize, usize, Vec<u64>) {
    let number = |name: &str| query_value(request, name).and_then(|v| v.parse::<usize>().ok());
    let start = number(offset).unwrap_or(0);
    let size = number(limit).unwrap_or(cap).min(cap);
    let page = ids.iter().skip(start).take(size).copied().collect();
    (start, size, page)
}

/// Mounts `answer` for the GETs of `at` that `when` accepts, in front of the other answers at
/// that path (priority 4): a refresh's search beside the query's listing, say.
pub async fn mount_in_front<M, R>(server: &MockServer, at: &str, when: M, answer: R)
where
    M: Fn(&Request) -> bool + Send + Sync + 'static,
    R: wiremock::Respond + 'static,
{
    Mock::given(method("GET"))
        .and(path(at))
        .and(when)
        .respond_with(answer)
        .with_priority(4)
        .mount(server)
        .await;
}
