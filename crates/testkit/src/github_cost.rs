//! A GitHub REST server that charges like GitHub, for the cost benchmark and the tests of
//! conditional requests and token pools (issue 18).
//!
//! * `GET /api/v3/repos/{owner}/{repo}/issues?state=&per_page=&page=&since=` lists the
//!   repository's issues (default 30 a page, at most 100, `Link` to the next and last page),
//!   `GET /api/v3/repos/{owner}/{repo}/issues/{n}` one issue. Repositories are
//!   `org/r00000`, `org/r00001`, ...; issue pages live at `http://ADDR/{owner}/{repo}/issues/N`
//!   (the web root of the API root `http://ADDR/api/v3`).
//! * Every listing page and issue carries an `ETag` (the repository's version and the query);
//!   a request whose `If-None-Match` matches answers `304` and **costs nothing**, as GitHub
//!   does for authorised conditional requests.
//! * Every other answer costs its token (the `Authorization` header's; none is a token of its
//!   own) one point out of [`CostConfig::points_per_token`], with `X-RateLimit-Limit`,
//!   `-Remaining`, `-Used` and `-Reset` (epoch seconds) on every answer. A token with no point
//!   left gets `403` with `X-RateLimit-Remaining: 0` until its window resets.
//! * A secondary limit: more than [`CostConfig::secondary_limit`] requests in flight at once
//!   get `403` with `Retry-After: 1` (and cost nothing).
//! * `POST /api/graphql` (and `/graphql`): the aliased `repository { issues(states: OPEN) }`
//!   queries of the importer's `github_api: graphql`, charged by GitHub's published GraphQL
//!   formula (see the `graphql` submodule) out of the same points per token, with the same
//!   headers; a repository that does not exist answers `null` and a `NOT_FOUND` error for
//!   its alias only.
//! * [`GitHubCostServer::touch`] changes a repository (its first issue is edited), so that a
//!   refresh finds exactly the repositories that changed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

/// What a [`GitHubCostServer`] serves and how it charges.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CostConfig {
    /// Repositories (`org/r00000` ...).
    pub repos: usize,
    /// Fewest issues of a repository.
    pub min_issues: u64,
    /// Most issues of a repository.
    pub max_issues: u64,
    /// Points of each token per window (GitHub: 5 000 an hour).
    pub points_per_token: u64,
    /// The rate-limit window.
    pub window: Duration,
    /// Requests in flight at once before the secondary limit answers 403 (GitHub: 100).
    pub secondary_limit: usize,
}

impl Default for CostConfig {
    fn default() -> Self {
        CostConfig {
            repos: 10,
            min_issues: 3,
            max_issues: 20,
            points_per_token: 5000,
            window: Duration::from_secs(3600),
            secondary_limit: 100,
        }
    }
}

/// What one token spent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUse {
    /// Points spent in the current window.
    pub used: u64,
    /// Points spent since the server started.
    pub total: u64,
    /// When the current window ends (epoch seconds).
    pub reset: u64,
    /// Requests refused with 403 for want of points.
    pub refused: u64,
}

/// Counters of the whole server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CostStats {
    /// Requests answered (any status).
    pub requests: u64,
    /// `304` answers (free).
    pub not_modified: u64,
    /// Points spent, all tokens.
    pub points: u64,
    /// Answers refused by the secondary limit.
    pub secondary_refusals: u64,
    /// GraphQL queries answered (they are among `requests`).
    pub graphql_queries: u64,
}

mod graphql;

struct Shared {
    cfg: CostConfig,
    addr: SocketAddr,
    /// Version of each repository (bumped by `touch`).
    versions: Vec<AtomicU64>,
    tokens: Mutex<HashMap<String, TokenUse>>,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    not_modified: AtomicU64,
    secondary: AtomicU64,
    graphql: AtomicU64,
}

/// The server (stops when dropped).
pub struct GitHubCostServer {
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for GitHubCostServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubCostServer")
            .field("addr", &self.shared.addr)
            .field("repos", &self.shared.cfg.repos)
            .finish_non_exhaustive()
    }
}

impl Drop for GitHubCostServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl GitHubCostServer {
    /// Starts a server on 127.0.0.1 with an ephemeral port.
    pub async fn start(cfg: CostConfig) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            versions: (0..cfg.repos).map(|_| AtomicU64::new(0)).collect(),
            cfg,
            addr,
            tokens: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            not_modified: AtomicU64::new(0),
            secondary: AtomicU64::new(0),
            graphql: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/api/v3/repos/{owner}/{repo}/issues", get(list))
            .route("/api/v3/repos/{owner}/{repo}/issues/{n}", get(issue))
            .route("/api/graphql", post(graphql_query))
            .route("/graphql", post(graphql_query))
            .with_state(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(GitHubCostServer {
            shared,
            shutdown: Some(tx),
        })
    }

    /// The API root (`api_url` of a tracker): `http://127.0.0.1:PORT/api/v3`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/v3", self.shared.addr)
    }

    /// The owner of every repository.
    pub fn owner(&self) -> &'static str {
        "org"
    }

    /// The name of repository `i`.
    pub fn repo(&self, i: usize) -> String {
        format!("r{i:05}")
    }

    /// Crawl configuration (JSON) of repositories `0..repos`: one `github` tracker each
    /// (`repo I`), reading its tokens from `token_env`, with one open-issues query.
    pub fn tracker_configs(&self, repos: usize, token_env: &str) -> String {
        self.tracker_configs_api(repos, token_env, "rest")
    }

    /// [`GitHubCostServer::tracker_configs`] with `github_api: api` (`rest` or `graphql`).
    pub fn tracker_configs_api(&self, repos: usize, token_env: &str, api: &str) -> String {
        let records: Vec<serde_json::Value> = (0..repos)
            .map(|i| {
                let repo = self.repo(i);
                serde_json::json!({
                    "tracker_name": format!("repo {i}"),
                    "bugimporter": "github",
                    "github_name": self.owner(),
                    "github_repo": repo,
                    "api_url": self.api_url(),
                    "token_env": token_env,
                    "github_api": api,
                    "bitesized_tag": "good first issue",
                    "documentation_tag": "documentation",
                    "queries": [format!("{}/repos/{}/{repo}/issues?state=open", self.api_url(), self.owner())],
                })
            })
            .collect();
        serde_json::Value::Array(records).to_string()
    }

    /// How many issues repository `i` has (from `min_issues` to `max_issues`).
    pub fn issues_of(&self, i: usize) -> u64 {
        self.shared.issues(i)
    }

    /// Changes repository `i`: its first issue is edited (new title, later `updated_at`).
    pub fn touch(&self, i: usize) {
        self.shared.versions[i].fetch_add(1, Ordering::SeqCst);
    }

    /// What `token` spent (`""`: requests without a token).
    pub fn token_use(&self, token: &str) -> TokenUse {
        self.shared
            .tokens
            .lock()
            .expect("tokens lock")
            .get(token)
            .copied()
            .unwrap_or_default()
    }

    /// The server's counters.
    pub fn stats(&self) -> CostStats {
        let s = &self.shared;
        let points = s
            .tokens
            .lock()
            .expect("tokens lock")
            .values()
            .map(|t| t.total)
            .sum();
        CostStats {
            requests: s.requests.load(Ordering::SeqCst),
            not_modified: s.not_modified.load(Ordering::SeqCst),
            points,
            secondary_refusals: s.secondary.load(Ordering::SeqCst),
            graphql_queries: s.graphql.load(Ordering::SeqCst),
        }
    }
}

impl Shared {
    fn issues(&self, i: usize) -> u64 {
        let span = self.cfg.max_issues.saturating_sub(self.cfg.min_issues) + 1;
        // A fixed spread, the same on every run (no randomness in a benchmark's input).
        let mix = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        self.cfg.min_issues + mix % span
    }

    fn repo_index(&self, owner: &str, repo: &str) -> Option<usize> {
        let i: usize = repo.strip_prefix('r')?.parse().ok()?;
        (owner == "org" && i < self.cfg.repos).then_some(i)
    }

    fn issue_json(&self, owner: &str, repo: &str, i: usize, n: u64) -> serde_json::Value {
        let version = self.versions[i].load(Ordering::SeqCst);
        let edited = n == 1 && version > 0;
        let title = if edited {
            format!("Issue {n} of {repo}, edit {version}")
        } else {
            format!("Issue {n} of {repo}")
        };
        let mut labels = Vec::new();
        if n % 4 == 0 {
            labels.push(serde_json::json!({"name": "good first issue"}));
        }
        if n % 6 == 0 {
            labels.push(serde_json::json!({"name": "documentation"}));
        }
        let updated = if edited {
            format!("2026-02-{:02}T00:00:00Z", (version % 27) + 1)
        } else {
            "2026-01-01T00:00:00Z".to_owned()
        };
        serde_json::json!({
            "number": n,
            "html_url": format!("http://{}/{owner}/{repo}/issues/{n}", self.addr),
            "title": title,
            "body": format!("Body of issue {n}."),
            "state": "open",
            "user": {"login": format!("user{}", n % 7)},
            "assignee": if n % 5 == 0 { serde_json::json!({"login": "dev"}) } else { serde_json::Value::Null },
            "assignees": if n % 5 == 0 { serde_json::json!([{"login": "dev"}]) } else { serde_json::json!([]) },
            "comments": n % 3,
            "labels": labels,
            "created_at": "2025-12-01T00:00:00Z",
            "updated_at": updated,
        })
    }

    /// Charges one point to the request's token. `Err`: the token has none left (403).
    fn charge(&self, token: &str) -> Result<TokenUse, TokenUse> {
        self.charge_points(token, 1)
    }

    /// Charges `points` to the request's token. `Err`: the token has not that many left
    /// (403); the refusal shows it exhausted, as GitHub refuses a query costlier than what
    /// is left.
    fn charge_points(&self, token: &str, points: u64) -> Result<TokenUse, TokenUse> {
        let now = epoch();
        let mut tokens = self.tokens.lock().expect("tokens lock");
        let t = tokens.entry(token.to_owned()).or_default();
        if t.reset <= now {
            t.used = 0;
            t.reset = now + self.cfg.window.as_secs().max(1);
        }
        if t.used + points > self.cfg.points_per_token {
            t.refused += 1;
            return Err(TokenUse {
                used: self.cfg.points_per_token,
                ..*t
            });
        }
        t.used += points;
        t.total += points;
        Ok(*t)
    }

    fn peek(&self, token: &str) -> TokenUse {
        let mut tokens = self.tokens.lock().expect("tokens lock");
        let t = tokens.entry(token.to_owned()).or_default();
        if t.reset <= epoch() {
            t.used = 0;
            t.reset = epoch() + self.cfg.window.as_secs().max(1);
        }
        *t
    }
}

fn token_of(headers: &HeaderMap) -> String {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("token "))
                .unwrap_or(v)
                .to_owned()
        })
        .unwrap_or_default()
}

fn rate_headers(resp: &mut Response, cfg: &CostConfig, t: &TokenUse) {
    let h = resp.headers_mut();
    let mut put = |name: &'static str, v: u64| {
        h.insert(name, HeaderValue::from(v));
    };
    put("x-ratelimit-limit", cfg.points_per_token);
    put(
        "x-ratelimit-remaining",
        cfg.points_per_token.saturating_sub(t.used),
    );
    put("x-ratelimit-used", t.used);
    put("x-ratelimit-reset", t.reset);
}

/// Admission, conditional answer and charging common to both routes: `body` makes the JSON
/// and its ETag.
fn answer(
    s: &Shared,
    headers: &HeaderMap,
    etag: String,
    body: impl FnOnce() -> (serde_json::Value, Option<String>),
) -> Response {
    let token = token_of(headers);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim() == etag));
    if matches {
        s.not_modified.fetch_add(1, Ordering::SeqCst);
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        resp.headers_mut()
            .insert(header::ETAG, HeaderValue::from_str(&etag).expect("an etag"));
        rate_headers(&mut resp, &s.cfg, &s.peek(&token));
        return resp;
    }
    match s.charge(&token) {
        Err(t) => rate_limited(&s.cfg, &t),
        Ok(t) => {
            let (json, link) = body();
            let mut resp = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                json.to_string(),
            )
                .into_response();
            let h = resp.headers_mut();
            h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("an etag"));
            if let Some(l) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
                h.insert(header::LINK, l);
            }
            rate_headers(&mut resp, &s.cfg, &t);
            resp
        }
    }
}

/// Counts the request in flight; `None` when over the secondary limit.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(s: &'a Shared) -> Option<Self> {
        s.requests.fetch_add(1, Ordering::SeqCst);
        let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let guard = InFlight(s);
        (now <= s.cfg.secondary_limit).then_some(guard)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn secondary_refusal(s: &Shared) -> Response {
    s.secondary.fetch_add(1, Ordering::SeqCst);
    (
        StatusCode::FORBIDDEN,
        [(header::RETRY_AFTER, "1")],
        r#"{"message":"You have exceeded a secondary rate limit."}"#,
    )
        .into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#).into_response()
}

async fn list(
    State(s): State<Arc<Shared>>,
    Path((owner, repo)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(_in) = InFlight::enter(&s) else {
        return secondary_refusal(&s);
    };
    let Some(i) = s.repo_index(&owner, &repo) else {
        return not_found();
    };
    let q = q.unwrap_or_default();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| pairs.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.clone());
    let per_page: u64 = get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page: u64 = get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let state = get("state").unwrap_or_else(|| "open".to_owned());
    let since = get("since");
    let version = s.versions[i].load(Ordering::SeqCst);
    let etag = format!("W/\"{repo}-{version}-{}\"", fnv(&q));
    let total = s.issues(i);
    let body = || {
        let items: Vec<serde_json::Value> = if state == "closed" {
            Vec::new()
        } else {
            (1..=total)
                .map(|n| s.issue_json(&owner, &repo, i, n))
                .filter(|v| {
                    since
                        .as_deref()
                        .is_none_or(|t| v["updated_at"].as_str().is_some_and(|u| u >= t))
                })
                .collect()
        };
        let pages = (items.len() as u64).div_ceil(per_page).max(1);
        let link = (page < pages).then(|| {
            let base = format!("http://{}/api/v3/repos/{owner}/{repo}/issues", s.addr);
            let with_page = |p: u64| {
                let mut others: Vec<(String, String)> =
                    pairs.iter().filter(|(k, _)| k != "page").cloned().collect();
                others.push(("page".into(), p.to_string()));
                let qs = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(others)
                    .finish();
                format!("{base}?{qs}")
            };
            format!(
                "<{}>; rel=\"next\", <{}>; rel=\"last\"",
                with_page(page + 1),
                with_page(pages)
            )
        });
        let start = ((page - 1) * per_page) as usize;
        let slice: Vec<serde_json::Value> = items
            .into_iter()
            .skip(start)
            .take(per_page as usize)
            .collect();
        (serde_json::Value::Array(slice), link)
    };
    answer(&s, &headers, etag, body)
}

async fn issue(
    State(s): State<Arc<Shared>>,
    Path((owner, repo, n)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(_in) = InFlight::enter(&s) else {
        return secondary_refusal(&s);
    };
    let (Some(i), Ok(n)) = (s.repo_index(&owner, &repo), n.parse::<u64>()) else {
        return not_found();
    };
    if n == 0 || n > s.issues(i) {
        return not_found();
    }
    let version = s.versions[i].load(Ordering::SeqCst);
    let etag = format!("W/\"{repo}-{n}-{}\"", if n == 1 { version } else { 0 });
    answer(&s, &headers, etag, || {
        (s.issue_json(&owner, &repo, i, n), None)
    })
}

fn rate_limited(cfg: &CostConfig, t: &TokenUse) -> Response {
    let mut resp = (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"message":"API rate limit exceeded"}"#,
    )
        .into_response();
    rate_headers(&mut resp, cfg, t);
    resp
}

fn graphql_error(message: &str) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({"errors": [{"message": message}]}).to_string(),
    )
        .into_response()
}

/// `POST /graphql`: see the module docs.
async fn graphql_query(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(_in) = InFlight::enter(&s) else {
        return secondary_refusal(&s);
    };
    s.graphql.fetch_add(1, Ordering::SeqCst);
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            r#"{"message":"Problems parsing JSON"}"#,
        )
            .into_response();
    };
    let vars = request
        .get("variables")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let fields = match graphql::parse(request["query"].as_str().unwrap_or_default()) {
        Ok(f) => f,
        Err(e) => return graphql_error(&format!("Parse error: {e}")),
    };
    let asks = match graphql::repo_asks(&fields, &vars) {
        Ok(a) => a,
        Err(e) => return graphql_error(&e),
    };
    let nodes = graphql::nodes(&fields, 1, &vars);
    if nodes > graphql::NODE_LIMIT {
        return graphql_error(&format!(
            "MAX_NODE_LIMIT_EXCEEDED: this query requests up to {nodes} nodes, over the limit of {}",
            graphql::NODE_LIMIT
        ));
    }
    let token = token_of(&headers);
    let t = match s.charge_points(&token, graphql::cost(&fields, &vars)) {
        Ok(t) => t,
        Err(t) => return rate_limited(&s.cfg, &t),
    };
    let mut data = serde_json::Map::new();
    let mut errors = Vec::new();
    for ask in &asks {
        match s.repo_index(&ask.owner, &ask.name) {
            Some(i) => {
                let items: Vec<serde_json::Value> = (1..=s.issues(i))
                    .map(|n| s.issue_json(&ask.owner, &ask.name, i, n))
                    .collect();
                data.insert(ask.key.clone(), graphql::repo_answer(ask, &items));
            }
            None => {
                data.insert(ask.key.clone(), serde_json::Value::Null);
                errors.push(graphql::not_found_error(ask));
            }
        }
    }
    let mut answer = serde_json::json!({ "data": data });
    if !errors.is_empty() {
        answer["errors"] = serde_json::Value::Array(errors);
    }
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        answer.to_string(),
    )
        .into_response();
    rate_headers(&mut resp, &s.cfg, &t);
    resp.headers_mut()
        .insert("x-ratelimit-resource", HeaderValue::from_static("graphql"));
    resp
}

/// FNV-1a of a query string (the ETag's query part).
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
