//! `github_api: graphql`: the open issues of many small repositories listed through GitHub's
//! GraphQL API, up to [`MAX_BATCH`] repositories a query.
//!
//! A tracker is one repository, so the batching is across the trackers of the process: the
//! [`batch`] module collects the repositories whose importers ask at about the same time
//! (one batcher per GraphQL endpoint and credential pool) and sends one aliased query
//! (`r0: repository(owner: "o", name: "n") { issues(states: OPEN, first: N, after: ...) }`)
//! for them, POSTed with the pool's fullest token. Each importer gets its repository's page
//! back, parses it with its own label rules, and continues with its own cursor (batched
//! again with whoever asks then).
//!
//! Each issue is turned into the REST issue shape it stands for and parsed by
//! [`crate::parser::parse_issue_value`], so both APIs give the same records.
//!
//! What GraphQL does not cover stays REST (see [`covers`]): queries with a filter other
//! than the open state (`since`, `labels`, `state=all`, ...), a listing whose REST pages
//! have stored validators (a refresh: its `304`s are free, a GraphQL answer never is), and
//! the refresh of held bugs.

mod batch;

use bugimporters_core::forge::PageOutcome;
use bugimporters_core::{Error, ImportContext};
use chrono::NaiveDateTime;
use futures::stream::{BoxStream, StreamExt};
use serde_json::{json, Value};

use crate::client::GitHubClient;
use crate::config::Repo;
use crate::parser::{parse_issue_value, IssuePage, ParseSettings};

/// Most repositories in one query.
pub const MAX_BATCH: usize = 50;

/// Issues asked for on a repository's first page. GitHub charges every connection under
/// `issues` (labels, assignees, comments) once per issue the page *may* hold, so a small
/// first page is what makes a repository of a few issues cheap; the next page asks for
/// exactly what `totalCount` says is left (at most 100).
pub const FIRST_PAGE: u64 = 5;

/// Labels read per issue (an issue with more is judged on its first 100).
const LABELS_PER_ISSUE: u64 = 100;

/// Assignees read per issue (only the first matters: `assignee` of REST).
const ASSIGNEES_PER_ISSUE: u64 = 10;

/// The nodes one issue of a query may bring (GitHub's node limit counts them): itself, its
/// assignees, its labels, and one for its `comments` count (conservatively).
pub(crate) const NODES_PER_ISSUE: u64 = 1 + ASSIGNEES_PER_ISSUE + LABELS_PER_ISSUE + 1;

/// The GraphQL endpoint of a REST API root: `https://api.github.com/graphql`; for GitHub
/// Enterprise (`https://HOST/api/v3`) `https://HOST/api/graphql`.
pub(crate) fn endpoint(api: &str) -> String {
    let api = api.trim_end_matches('/');
    match api.strip_suffix("/v3") {
        Some(base) if base.ends_with("/api") => format!("{base}/graphql"),
        _ => format!("{api}/graphql"),
    }
}

/// Whether GraphQL can list `url` for `repo`: the repository's issue list on its API root
/// with no parameter but `state=open` (or none: open is the default), `per_page`, `sort`
/// and `direction` (the set listed does not depend on them).
pub(crate) fn covers(repo: &Repo, url: &str) -> bool {
    let Some(u) = repo.parse_issue_list(url) else {
        return false;
    };
    u.query_pairs().all(|(k, v)| match &*k {
        "state" => v == "open",
        "per_page" | "sort" | "direction" => true,
        _ => false,
    })
}

/// The open issues of the importer's repository through the batcher, page by page (each
/// parsed with the tracker's label rules; the skeleton claims and emits them as the REST
/// pager's). A failed query (the repository not found, a refused request) is reported and
/// ends the listing with [`PageOutcome::Failed`].
pub(crate) fn pages<'a>(
    ctx: &'a ImportContext,
    gh: &'a GitHubClient,
) -> BoxStream<'a, PageOutcome<IssuePage>> {
    let endpoint = endpoint(&gh.repo.api);
    let batcher = batch::shared(&endpoint, gh.auth.pool_id());
    let start = Cursor {
        after: None,
        first: FIRST_PAGE,
        fetched: 0,
        pages: 0,
    };
    futures::stream::unfold(Some(start), move |state| {
        let (endpoint, batcher) = (endpoint.clone(), batcher.clone());
        async move {
            let mut cur = state?;
            if cur.pages >= bugimporters_core::forge::MAX_PAGES {
                return None;
            }
            cur.pages += 1;
            let ask = batch::Ask {
                owner: gh.repo.owner.clone(),
                name: gh.repo.name.clone(),
                after: cur.after.clone(),
                first: cur.first,
            };
            let page = match batcher.page(ctx, gh, ask).await {
                Ok(p) => p,
                Err(e) => {
                    ctx.report_error(e);
                    return Some((PageOutcome::Failed, None));
                }
            };
            cur.fetched += page.issues.len() as u64;
            let parsed = parse_page(page.issues, &endpoint, &gh.settings, ctx.now());
            let next = match page.next {
                Some(cursor) if cur.after.as_deref() != Some(cursor.as_str()) => {
                    let left = page.total.map_or(100, |t| t.saturating_sub(cur.fetched));
                    cur.first = left.clamp(1, 100);
                    cur.after = Some(cursor);
                    Some(cur)
                }
                Some(_) => {
                    ctx.report_error(Error::parse(
                        endpoint.as_str(),
                        "the GraphQL cursor of an issue list did not move; listing stopped",
                    ));
                    None
                }
                None => None,
            };
            Some((PageOutcome::Page(parsed), next))
        }
    })
    .boxed()
}

/// Where a repository's GraphQL listing stands.
struct Cursor {
    after: Option<String>,
    first: u64,
    fetched: u64,
    pages: usize,
}

/// One page of one repository's open issues, as a query answered it.
#[derive(Debug, Default)]
pub(crate) struct RepoPage {
    /// The issue nodes.
    pub(crate) issues: Vec<Value>,
    /// The cursor of the next page, when there is one.
    pub(crate) next: Option<String>,
    /// `totalCount` of the repository's open issues.
    pub(crate) total: Option<u64>,
}

/// The GraphQL string literal of `text` (JSON's escapes are GraphQL's).
fn literal(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// The query document for `asks` (aliases `r0`, `r1`, ... in order).
pub(crate) fn query_document(asks: &[batch::Ask]) -> String {
    let mut q = String::from("query {");
    for (i, a) in asks.iter().enumerate() {
        let after = a
            .after
            .as_deref()
            .map(|c| format!(", after: {}", literal(c)))
            .unwrap_or_default();
        q.push_str(&format!(
            " r{i}: repository(owner: {}, name: {}) {{ issues(states: OPEN, first: {}{after}, \
             orderBy: {{field: CREATED_AT, direction: ASC}}) {{ totalCount \
             pageInfo {{ hasNextPage endCursor }} nodes {{ number url title body state \
             createdAt updatedAt author {{ login }} assignees(first: {ASSIGNEES_PER_ISSUE}) {{ nodes {{ login }} }} \
             comments {{ totalCount }} labels(first: {LABELS_PER_ISSUE}) {{ nodes {{ name }} }} }} }} }}",
            literal(&a.owner),
            literal(&a.name),
            a.first.clamp(1, 100),
        ));
    }
    q.push_str(" }");
    q
}

/// The answer for each alias `r0..r{n-1}` of a query's response body: its page, or an error
/// naming the repository (GraphQL's `NOT_FOUND` for a repository that does not exist or
/// that the token cannot see).
pub(crate) fn split_response(
    body: &[u8],
    endpoint: &str,
    repos: &[(String, String)],
) -> Vec<Result<RepoPage, Error>> {
    let parsed: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            let message = format!("GraphQL answer is not JSON: {e}");
            return repos
                .iter()
                .map(|_| Err(Error::parse(endpoint, &message)))
                .collect();
        }
    };
    let errors = parsed
        .get("errors")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let error_for = |alias: &str| {
        errors
            .iter()
            .find(|e| e.get("path").and_then(|p| p.get(0)).and_then(Value::as_str) == Some(alias))
    };
    repos
        .iter()
        .enumerate()
        .map(|(i, (owner, name))| {
            let alias = format!("r{i}");
            let data = parsed.get("data").and_then(|d| d.get(&alias));
            match data {
                Some(repo) if repo.is_object() => repo_page(repo, endpoint, owner, name),
                _ => {
                    let why = error_for(&alias).or_else(|| errors.first());
                    let kind = why
                        .and_then(|e| e.get("type"))
                        .and_then(Value::as_str)
                        .unwrap_or("no data");
                    let message = why
                        .and_then(|e| e.get("message"))
                        .and_then(Value::as_str)
                        .unwrap_or("the answer holds nothing for it");
                    Err(Error::parse(
                        endpoint,
                        format!(
                            "repository {owner}/{name} (GraphQL): {kind}: {}",
                            bugimporters_core::excerpt(message)
                        ),
                    ))
                }
            }
        })
        .collect()
}

fn repo_page(repo: &Value, endpoint: &str, owner: &str, name: &str) -> Result<RepoPage, Error> {
    let issues = repo.get("issues").ok_or_else(|| {
        Error::parse(
            endpoint,
            format!("repository {owner}/{name} (GraphQL): no `issues` in the answer"),
        )
    })?;
    let info = issues.get("pageInfo");
    let has_next = info
        .and_then(|p| p.get("hasNextPage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let next = has_next
        .then(|| {
            info.and_then(|p| p.get("endCursor"))
                .and_then(Value::as_str)
        })
        .flatten()
        .map(str::to_owned);
    Ok(RepoPage {
        issues: issues
            .get("nodes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        next,
        total: issues.get("totalCount").and_then(Value::as_u64),
    })
}

/// The REST issue object a GraphQL issue node stands for (the fields the REST parser
/// reads): `url` → `html_url`, `OPEN` → `open`, `author` → `user` (`null`: a deleted
/// account), the first assignee → `assignee`, `comments.totalCount` → `comments`, label
/// nodes → `labels`, `createdAt`/`updatedAt` → `created_at`/`updated_at`.
pub(crate) fn rest_shape(node: &Value) -> Value {
    let logins = |key: &str, field: &str| -> Vec<Value> {
        node.get(key)
            .and_then(|c| c.get("nodes"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.get(field).cloned())
                    .filter(|v| !v.is_null())
                    .collect()
            })
            .unwrap_or_default()
    };
    let assignees: Vec<Value> = logins("assignees", "login")
        .into_iter()
        .map(|l| json!({ "login": l }))
        .collect();
    let labels: Vec<Value> = logins("labels", "name")
        .into_iter()
        .map(|n| json!({ "name": n }))
        .collect();
    let get = |k: &str| node.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "number": get("number"),
        "html_url": get("url"),
        "title": get("title"),
        "body": get("body"),
        "state": node.get("state").and_then(Value::as_str).map(str::to_ascii_lowercase),
        "user": node.get("author").filter(|a| a.is_object()).cloned(),
        "assignee": assignees.first().cloned(),
        "assignees": assignees,
        "comments": node.get("comments").and_then(|c| c.get("totalCount")).cloned(),
        "labels": labels,
        "created_at": get("createdAt"),
        "updated_at": get("updatedAt"),
    })
}

/// Parses the issue nodes of one page by the REST parser's rules.
pub(crate) fn parse_page(
    nodes: Vec<Value>,
    endpoint: &str,
    settings: &ParseSettings,
    now: NaiveDateTime,
) -> IssuePage {
    bugimporters_core::forge::issue_page(nodes, endpoint, |node| {
        parse_issue_value(rest_shape(&node), endpoint, settings, now)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GitHubOptions;

    fn repo(api: Option<&str>) -> Repo {
        GitHubOptions {
            github_name: "o".into(),
            github_repo: "r".into(),
            api_url: api.map(str::to_owned),
            ..GitHubOptions::default()
        }
        .repo()
        .unwrap()
    }

    #[test]
    fn endpoints_of_public_and_enterprise_roots() {
        assert_eq!(
            endpoint("https://api.github.com"),
            "https://api.github.com/graphql"
        );
        assert_eq!(
            endpoint("https://ghe.example/api/v3/"),
            "https://ghe.example/api/graphql"
        );
        assert_eq!(endpoint("http://h:1/x"), "http://h:1/x/graphql");
    }

    #[test]
    fn only_plain_open_listings_are_covered() {
        let r = repo(None);
        let base = "https://api.github.com/repos/o/r/issues";
        assert!(covers(&r, base));
        assert!(covers(&r, &format!("{base}?state=open&per_page=100")));
        for not in [
            format!("{base}?state=all"),
            format!("{base}?state=open&since=2024-01-01T00:00:00Z"),
            format!("{base}?labels=bug"),
            format!("{base}?page=2"),
            "https://api.github.com/repos/o/other/issues".to_owned(),
            "https://elsewhere.example/repos/o/r/issues".to_owned(),
        ] {
            assert!(!covers(&r, &not), "{not}");
        }
    }

    #[test]
    fn the_query_is_aliased_and_escaped() {
        let asks = [
            batch::Ask {
                owner: "o".into(),
                name: "r".into(),
                after: None,
                first: 5,
            },
            batch::Ask {
                owner: "o".into(),
                name: "s".into(),
                after: Some("Y3Vy\"x".into()),
                first: 250,
            },
        ];
        let q = query_document(&asks);
        assert!(q.starts_with("query { r0: repository(owner: \"o\", name: \"r\") { issues(states: OPEN, first: 5, orderBy"));
        assert!(q.contains("r1: repository(owner: \"o\", name: \"s\") { issues(states: OPEN, first: 100, after: \"Y3Vy\\\"x\""));
    }

    #[test]
    fn a_missing_repository_fails_alone() {
        let body = br#"{"data": {"r0": {"issues": {"totalCount": 3, "pageInfo": {"hasNextPage": true, "endCursor": "c1"}, "nodes": []}}, "r1": null},
            "errors": [{"type": "NOT_FOUND", "path": ["r1"], "message": "Could not resolve to a Repository with the name 'o/gone'."}]}"#;
        let repos = [
            ("o".to_owned(), "r".to_owned()),
            ("o".to_owned(), "gone".to_owned()),
        ];
        let mut out = split_response(body, "https://x/graphql", &repos).into_iter();
        let first = out.next().unwrap().unwrap();
        assert_eq!((first.next.as_deref(), first.total), (Some("c1"), Some(3)));
        let err = out.next().unwrap().unwrap_err().to_string();
        assert!(err.contains("o/gone") && err.contains("NOT_FOUND"), "{err}");
    }

    #[test]
    fn nodes_become_the_rest_shape() {
        let node = json!({"number": 4, "url": "https://github.com/o/r/issues/4", "title": "T",
            "body": "", "state": "OPEN", "createdAt": "2024-01-01T00:00:00Z",
            "updatedAt": "2024-01-02T00:00:00Z", "author": null,
            "assignees": {"nodes": [{"login": "dev"}, {"login": "two"}]},
            "comments": {"totalCount": 2}, "labels": {"nodes": [{"name": "easy"}]}});
        let rest = rest_shape(&node);
        assert_eq!(rest["state"], "open");
        assert_eq!(rest["user"], Value::Null);
        assert_eq!(rest["assignee"], json!({"login": "dev"}));
        assert_eq!(rest["comments"], 2);
        assert_eq!(rest["labels"], json!([{"name": "easy"}]));
        let settings = ParseSettings::new("t", "easy", "docs");
        let now = bugimporters_core::time::parse_datetime("2024-02-01T00:00:00").unwrap();
        let page = parse_page(vec![node], "https://x/graphql", &settings, now);
        let bug = &page.bugs[0];
        assert_eq!(bug.submitter_username.as_deref(), Some("ghost"));
        assert_eq!(bug.people_involved, Some(3));
        assert_eq!(bug.assigned, Some(true));
        assert_eq!(bug.good_for_newcomers, Some(true));
    }
}
