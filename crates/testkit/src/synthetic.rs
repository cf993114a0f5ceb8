//! A synthetic tracker server on 127.0.0.1: N generated bugs, deterministic from a seed,
//! served through the Trac, Bugzilla (XML) and GitHub protocols our importers use.
//!
//! Knobs ([`SyntheticConfig`]): per-request latency, a concurrency limit (requests beyond it
//! wait, as a real server's worker pool), fault injection (a share of 500s, 429s with
//! `Retry-After`, truncated bodies, slow bodies, connection resets) and change simulation
//! between crawls ([`SyntheticServer::touch`], [`SyntheticServer::close`],
//! [`SyntheticServer::delete`]). [`SyntheticServer::bugs`] is the ground truth tests compare
//! against.
//!
//! | protocol | endpoints (under [`SyntheticServer::base_url`]) |
//! | --- | --- |
//! | Trac 1.6 | `trac/query?format=csv&…&max=M&page=P` (BOM, CRLF, locale dates, empty body past the end), `trac/ticket/N?format=csv`, `trac/ticket/N` (HTML) |
//! | Bugzilla 5 | `bugzilla/buglist.cgi?…` (HTML with the XML form), `bugzilla/show_bug.cgi?ctype=xml&id=N&id=M…` |
//! | GitHub v3 | `github/repos/synthetic/repo/issues?state=all&per_page=P&page=N` (with `Link`), `github/repos/synthetic/repo/issues/N` |

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{NaiveDateTime, TimeDelta};
use tokio::sync::Semaphore;

/// Users of the generated bugs: `(login, real name)`.
pub const USERS: &[(&str, &str)] = &[
    ("alice", "Alice Anderson"),
    ("bob", "Bob Brown"),
    ("carol", "Carol Chen"),
    ("dave", "Dave Davis"),
    ("erin", "Erin Eriksson"),
    ("jmuller", "Jürgen Müller"),
    ("zoe", "Zoë Ångström"),
    ("kenji", "田中 健二"),
];

const COMPONENTS: &[&str] = &["core", "ui", "documentation", "build", "network"];
const PRIORITIES: &[&str] = &["blocker", "critical", "major", "minor", "trivial"];
const TYPES: &[&str] = &["defect", "enhancement", "task"];
const WORDS: &[&str] = &[
    "crash",
    "parser",
    "timeline",
    "unicode",
    "search",
    "index",
    "upgrade",
    "writer",
    "feed",
    "cache",
    "login",
    "export",
    "naïve café",
    "Ærøskøbing",
    "quote \"x\"",
    "comma, here",
];

/// The pause before each of the 8 pieces of a slow body, in milliseconds.
pub const SLOW_PIECE_MS: u64 = 50;

/// Fault injection: each share is the probability (0.0–1.0) that a request gets that fault.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Answer 500.
    pub error_500: f64,
    /// Answer 429 with `Retry-After: 1`.
    pub rate_limit_429: f64,
    /// Send half the body, then abort the connection.
    pub truncated: f64,
    /// Send the body in 8 pieces with pauses ([`SLOW_PIECE_MS`] each: 0.4 s in all, well
    /// inside a 1 s timeout even on a loaded machine).
    pub slow: f64,
    /// Abort the connection before any body byte.
    pub reset: f64,
}

/// How the synthetic server behaves.
#[derive(Debug, Clone)]
pub struct SyntheticConfig {
    /// Number of bugs (ids 1..=bugs).
    pub bugs: usize,
    /// Seed of the generator: the same seed gives the same bugs.
    pub seed: u64,
    /// Added to every request before it is answered.
    pub latency: Duration,
    /// Requests answered at once; the others wait (`None` = unlimited).
    pub concurrency: Option<usize>,
    /// Fault injection.
    pub faults: Faults,
    /// The creation time of the newest bug; older bugs are an hour apart.
    pub epoch: NaiveDateTime,
    /// Hostile content served instead of the generated one.
    pub overrides: Overrides,
}

/// Hostile content a synthetic server serves instead of the generated one (the hostile-crawl
/// test; protocol-level misbehaviour is [`crate::hostile`]).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Every Trac ticket page (HTML) is this body (a nested-`<div>` bomb, say).
    pub trac_ticket_page: Option<Arc<str>>,
    /// Every bug's description is this text. The Trac ticket page then shows a short one (a
    /// page could not hold it once escaped); the ticket CSV carries it whole.
    pub description: Option<Arc<str>>,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            bugs: 100,
            seed: 1,
            latency: Duration::ZERO,
            concurrency: None,
            faults: Faults::default(),
            epoch: chrono::NaiveDate::from_ymd_opt(2026, 11, 1)
                .and_then(|d| d.and_hms_opt(12, 0, 0))
                .unwrap_or_default(),
            overrides: Overrides::default(),
        }
    }
}

/// One generated bug: the ground truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticBug {
    /// Ticket/bug/issue number.
    pub id: u64,
    /// Summary.
    pub title: String,
    /// Body (multi-line, non-ASCII).
    pub description: String,
    /// `new`, `assigned`, `accepted`, `reopened` or `closed`.
    pub status: String,
    /// Resolution of a closed bug.
    pub resolution: String,
    /// Trac priority name.
    pub priority: String,
    /// Component.
    pub component: String,
    /// Ticket type.
    pub kind: String,
    /// Keywords (`easy` on every 7th bug, `documentation` on documentation ones).
    pub keywords: Vec<String>,
    /// Reporter index into [`USERS`].
    pub reporter: usize,
    /// Owner index into [`USERS`], if any.
    pub owner: Option<usize>,
    /// CC indexes into [`USERS`].
    pub cc: Vec<usize>,
    /// Commenters (index into [`USERS`]) with their times.
    pub comments: Vec<(usize, NaiveDateTime)>,
    /// Creation time (UTC).
    pub created: NaiveDateTime,
    /// Last change (UTC).
    pub modified: NaiveDateTime,
}

impl SyntheticBug {
    /// Whether the bug is closed.
    pub fn is_closed(&self) -> bool {
        self.status == "closed"
    }

    /// Distinct people: reporter, owner, CC and commenters.
    pub fn people(&self) -> usize {
        let mut p: Vec<usize> = vec![self.reporter];
        p.extend(self.owner);
        p.extend(&self.cc);
        p.extend(self.comments.iter().map(|c| c.0));
        p.sort_unstable();
        p.dedup();
        p.len()
    }
}

fn mix(seed: u64, i: u64) -> u64 {
    // SplitMix64: good enough spread for test data, stable forever.
    let mut z = seed
        .wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Generates bug `id` of a server with `cfg` (deterministic).
pub fn generate_bug(cfg: &SyntheticConfig, id: u64) -> SyntheticBug {
    let r = |k: u64| mix(cfg.seed, id * 64 + k);
    let pick = |k: u64, n: usize| (r(k) % n as u64) as usize;
    let created = cfg.epoch - TimeDelta::hours((cfg.bugs as i64) - id as i64);
    let component = COMPONENTS[pick(1, COMPONENTS.len())].to_owned();
    let mut keywords = Vec::new();
    if id % 7 == 0 || r(2) % 5 == 0 {
        keywords.push("easy".to_owned());
    }
    if component == "documentation" {
        keywords.push("documentation".to_owned());
    }
    if r(3) % 4 == 0 {
        keywords.push("regression".to_owned());
    }
    let status = match r(4) % 10 {
        0..=2 => "new",
        3 => "assigned",
        4 => "accepted",
        5 => "reopened",
        _ => "closed",
    };
    let reporter = pick(5, USERS.len());
    let owner = (status != "new").then(|| pick(6, USERS.len()));
    let cc: Vec<usize> = (0..(r(7) % 3)).map(|k| pick(8 + k, USERS.len())).collect();
    let comments: Vec<(usize, NaiveDateTime)> = (0..(r(11) % 4))
        .map(|k| {
            (
                pick(12 + k, USERS.len()),
                created + TimeDelta::minutes(7 + 11 * k as i64),
            )
        })
        .collect();
    let modified = comments
        .last()
        .map_or(created + TimeDelta::minutes(1), |c| c.1);
    let w = |k: u64| WORDS[pick(20 + k, WORDS.len())];
    SyntheticBug {
        id,
        title: format!("Synthetic {} in the {} when {} [{id}]", w(1), w(2), w(3)),
        description: match &cfg.overrides.description {
            Some(d) => d.to_string(),
            None => format!(
                "Reported by {}.\nSteps:\n 1. open the {}\n 2. type \"{}\" & <b>\n\nΕλληνικά, кириллица, 漢字, emoji 🐛.",
                USERS[reporter].1,
                w(4),
                w(5)
            ),
        },
        status: status.to_owned(),
        resolution: if status == "closed" { "fixed".to_owned() } else { String::new() },
        priority: PRIORITIES[pick(9, PRIORITIES.len())].to_owned(),
        component,
        kind: TYPES[pick(10, TYPES.len())].to_owned(),
        keywords,
        reporter,
        owner,
        cc,
        comments,
        created,
        modified,
    }
}

struct Shared {
    cfg: SyntheticConfig,
    bugs: RwLock<Vec<Option<SyntheticBug>>>,
    requests: AtomicU64,
    by_path: RwLock<HashMap<String, u64>>,
    limit: Option<Semaphore>,
    addr: SocketAddr,
}

/// A running synthetic server; stops when dropped.
pub struct SyntheticServer {
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for SyntheticServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyntheticServer")
            .field("addr", &self.shared.addr)
            .field("bugs", &self.shared.cfg.bugs)
            .finish_non_exhaustive()
    }
}

impl SyntheticServer {
    /// Starts a server on 127.0.0.1 with an ephemeral port.
    pub async fn start(cfg: SyntheticConfig) -> std::io::Result<Self> {
        Self::start_on(cfg, 0).await
    }

    /// Starts a server on 127.0.0.1:`port` (0 = ephemeral).
    pub async fn start_on(cfg: SyntheticConfig, port: u16) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let shared = Shared::new(cfg, addr);
        let app = routes(shared.clone());
        Ok(SyntheticServer {
            shared,
            shutdown: Some(serve(listener, app)),
        })
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.shared.addr)
    }

    /// The Trac root: `http://127.0.0.1:PORT/trac/`.
    pub fn trac_url(&self) -> String {
        format!("{}trac/", self.base_url())
    }

    /// The Bugzilla root: `http://127.0.0.1:PORT/bugzilla/`.
    pub fn bugzilla_url(&self) -> String {
        format!("{}bugzilla/", self.base_url())
    }

    /// The GitHub API root (an `api_url`): `http://127.0.0.1:PORT/github`.
    pub fn github_api_url(&self) -> String {
        format!("{}github", self.base_url())
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.shared.addr.port()
    }

    /// Requests answered so far (all paths).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Requests per endpoint kind (`trac/query`, `trac/ticket.csv`, `trac/ticket.html`,
    /// `bugzilla/buglist`, `bugzilla/show_bug`, `github/list`, `github/issue`).
    pub fn requests_by_kind(&self) -> HashMap<String, u64> {
        self.shared
            .by_path
            .read()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// The live bugs (ground truth), in id order.
    pub fn bugs(&self) -> Vec<SyntheticBug> {
        self.shared
            .bugs
            .read()
            .map(|b| b.iter().flatten().cloned().collect())
            .unwrap_or_default()
    }

    /// Changes the first `k` live bugs with an id divisible by `step`: a new title suffix and
    /// a later modification time. Returns their ids.
    pub fn touch(&self, k: usize, step: u64, at: NaiveDateTime) -> Vec<u64> {
        self.change(k, step, |b| {
            b.title.push_str(" (edited)");
            b.modified = at;
        })
    }

    /// Gives the live bug `id` the title `title`, modified at `at`. `false`: no such bug.
    pub fn set_title(&self, id: u64, title: &str, at: NaiveDateTime) -> bool {
        let Ok(mut bugs) = self.shared.bugs.write() else {
            return false;
        };
        match bugs.iter_mut().flatten().find(|b| b.id == id) {
            Some(b) => {
                b.title = title.to_owned();
                b.modified = at;
                true
            }
            None => false,
        }
    }

    /// Closes the first `k` open bugs with an id divisible by `step`. Returns their ids.
    pub fn close(&self, k: usize, step: u64, at: NaiveDateTime) -> Vec<u64> {
        let mut done = Vec::new();
        if let Ok(mut bugs) = self.shared.bugs.write() {
            for b in bugs.iter_mut().flatten() {
                if done.len() >= k {
                    break;
                }
                if b.id % step == 0 && !b.is_closed() {
                    b.status = "closed".to_owned();
                    b.resolution = "fixed".to_owned();
                    b.modified = at;
                    done.push(b.id);
                }
            }
        }
        done
    }

    /// Deletes the first `k` live bugs with an id divisible by `step`. Returns their ids.
    pub fn delete(&self, k: usize, step: u64) -> Vec<u64> {
        let mut done = Vec::new();
        if let Ok(mut bugs) = self.shared.bugs.write() {
            for slot in bugs.iter_mut() {
                if done.len() >= k {
                    break;
                }
                if let Some(b) = slot {
                    if b.id % step == 0 {
                        done.push(b.id);
                        *slot = None;
                    }
                }
            }
        }
        done
    }

    fn change(&self, k: usize, step: u64, f: impl Fn(&mut SyntheticBug)) -> Vec<u64> {
        let mut done = Vec::new();
        if let Ok(mut bugs) = self.shared.bugs.write() {
            for b in bugs.iter_mut().flatten() {
                if done.len() >= k {
                    break;
                }
                if b.id % step == 0 {
                    f(b);
                    done.push(b.id);
                }
            }
        }
        done
    }
}

impl Drop for SyntheticServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Shared {
    fn new(cfg: SyntheticConfig, addr: SocketAddr) -> Arc<Shared> {
        let bugs = (1..=cfg.bugs as u64)
            .map(|i| Some(generate_bug(&cfg, i)))
            .collect();
        Arc::new(Shared {
            limit: cfg.concurrency.map(|n| Semaphore::new(n.max(1))),
            cfg,
            bugs: RwLock::new(bugs),
            requests: AtomicU64::new(0),
            by_path: RwLock::new(HashMap::new()),
            addr,
        })
    }
}

/// One synthetic server's routes (Trac, Bugzilla, GitHub) on `shared`.
fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/trac/query", get(trac_query))
        .route("/trac/ticket/{id}", get(trac_ticket))
        .route("/bugzilla/buglist.cgi", get(bugzilla_buglist))
        .route("/bugzilla/show_bug.cgi", get(bugzilla_show_bug))
        .route("/github/repos/{owner}/{repo}/issues", get(github_list))
        .route(
            "/github/repos/{owner}/{repo}/issues/{id}",
            get(github_issue),
        )
        .with_state(shared)
}

/// Serves `app` on `listener` until the returned sender is used or dropped.
fn serve(listener: tokio::net::TcpListener, app: Router) -> tokio::sync::oneshot::Sender<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    tx
}

/// Many synthetic Trac trackers behind one listener: tracker `i` answers under `/t{i}/`, so
/// its Trac root is `http://127.0.0.1:PORT/t{i}/trac/` (the service benchmark's thousands of
/// small trackers, without a port and a kept-alive connection each). One set of routes takes
/// the tracker from the path (a router nested per tracker cost 226 MB and 0.3 s a request at
/// 10 000). Only the Trac protocol is served. Stops when dropped.
pub struct SyntheticFleet {
    shared: Vec<Arc<Shared>>,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for SyntheticFleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyntheticFleet")
            .field("addr", &self.addr)
            .field("trackers", &self.shared.len())
            .finish_non_exhaustive()
    }
}

impl SyntheticFleet {
    /// Starts one tracker per configuration on 127.0.0.1:`port` (0 = ephemeral).
    pub async fn start(configs: Vec<SyntheticConfig>, port: u16) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let shared: Vec<Arc<Shared>> = configs
            .into_iter()
            .map(|cfg| Shared::new(cfg, addr))
            .collect();
        let app = Router::new()
            .route("/{t}/trac/query", get(fleet_trac_query))
            .route("/{t}/trac/ticket/{id}", get(fleet_trac_ticket))
            .with_state(Arc::new(shared.clone()));
        Ok(SyntheticFleet {
            shared,
            addr,
            shutdown: Some(serve(listener, app)),
        })
    }

    /// The number of trackers.
    pub fn len(&self) -> usize {
        self.shared.len()
    }

    /// Whether there is no tracker.
    pub fn is_empty(&self) -> bool {
        self.shared.is_empty()
    }

    /// Tracker `i`'s Trac root: `http://127.0.0.1:PORT/t{i}/trac/`.
    pub fn trac_url(&self, i: usize) -> String {
        format!("http://{}/t{i}/trac/", self.addr)
    }

    /// Requests answered so far by all the trackers.
    pub fn requests(&self) -> u64 {
        self.shared
            .iter()
            .map(|s| s.requests.load(Ordering::Relaxed))
            .sum()
    }
}

/// Tracker `t{i}` of a fleet.
fn fleet_member(fleet: &[Arc<Shared>], t: &str) -> Option<Arc<Shared>> {
    let i: usize = t.strip_prefix('t')?.parse().ok()?;
    fleet.get(i).cloned()
}

async fn fleet_trac_query(
    State(fleet): State<Arc<Vec<Arc<Shared>>>>,
    Path(t): Path<String>,
    q: RawQuery,
) -> Response {
    match fleet_member(&fleet, &t) {
        Some(s) => trac_query(State(s), q).await,
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn fleet_trac_ticket(
    State(fleet): State<Arc<Vec<Arc<Shared>>>>,
    Path((t, id)): Path<(String, String)>,
    q: RawQuery,
) -> Response {
    match fleet_member(&fleet, &t) {
        Some(s) => trac_ticket(State(s), Path(id), q).await,
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

impl Drop for SyntheticFleet {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Request plumbing: counting, concurrency limit, latency, faults.

enum Fault {
    None,
    Error500,
    RateLimit,
    Truncated,
    Slow,
    Reset,
}

async fn admit<'a>(s: &'a Shared, kind: &str) -> (Option<tokio::sync::SemaphorePermit<'a>>, Fault) {
    let n = s.requests.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut m) = s.by_path.write() {
        *m.entry(kind.to_owned()).or_default() += 1;
    }
    let permit = match &s.limit {
        Some(sem) => sem.acquire().await.ok(),
        None => None,
    };
    if !s.cfg.latency.is_zero() {
        tokio::time::sleep(s.cfg.latency).await;
    }
    let f = s.cfg.faults;
    let roll = (mix(s.cfg.seed ^ 0xfa17, n) % 1_000_000) as f64 / 1_000_000.0;
    let mut edge = 0.0;
    let fault = [
        (f.error_500, 1),
        (f.rate_limit_429, 2),
        (f.truncated, 3),
        (f.slow, 4),
        (f.reset, 5),
    ]
    .into_iter()
    .find_map(|(share, code)| {
        edge += share;
        (roll < edge).then_some(code)
    });
    let fault = match fault {
        Some(1) => Fault::Error500,
        Some(2) => Fault::RateLimit,
        Some(3) => Fault::Truncated,
        Some(4) => Fault::Slow,
        Some(5) => Fault::Reset,
        _ => Fault::None,
    };
    (permit, fault)
}

fn respond(
    fault: Fault,
    status: StatusCode,
    content_type: &str,
    body: Vec<u8>,
    extra: Vec<(header::HeaderName, String)>,
) -> Response {
    let body = match fault {
        Fault::Error500 => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "injected failure").into_response()
        }
        Fault::RateLimit => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "1")],
                "slow down",
            )
                .into_response()
        }
        Fault::Truncated => {
            let half = body.len() / 2;
            let first = bytes::Bytes::copy_from_slice(&body[..half]);
            let stream = futures::stream::iter(vec![
                Ok::<_, std::io::Error>(first),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "injected truncation",
                )),
            ]);
            Body::from_stream(stream)
        }
        Fault::Reset => {
            let stream = futures::stream::iter(vec![Err::<bytes::Bytes, _>(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected reset",
            ))]);
            Body::from_stream(stream)
        }
        Fault::Slow => {
            let pieces: Vec<bytes::Bytes> = body
                .chunks(body.len().div_ceil(8).max(1))
                .map(bytes::Bytes::copy_from_slice)
                .collect();
            let stream = futures::stream::unfold(pieces.into_iter(), |mut it| async move {
                let next = it.next()?;
                tokio::time::sleep(Duration::from_millis(SLOW_PIECE_MS)).await;
                Some((Ok::<_, std::io::Error>(next), it))
            });
            Body::from_stream(stream)
        }
        Fault::None => Body::from(body),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    for (k, v) in extra {
        if let Ok(v) = HeaderValue::from_str(&v) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

fn pairs(query: &Option<String>) -> Vec<(String, String)> {
    query
        .as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

fn bug(s: &Shared, id: u64) -> Option<SyntheticBug> {
    let bugs = s.bugs.read().ok()?;
    bugs.get(usize::try_from(id).ok()?.checked_sub(1)?)?.clone()
}

fn trac_date(t: &NaiveDateTime) -> String {
    t.format("%m/%d/%y %H:%M:%S").to_string()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

// ---------------------------------------------------------------------------------------------
// Trac

const TRAC_COLS: &[(&str, &str)] = &[
    ("id", "id"),
    ("summary", "Summary"),
    ("status", "Status"),
    ("type", "Type"),
    ("priority", "Priority"),
    ("component", "Component"),
    ("keywords", "Keywords"),
    ("reporter", "Reporter"),
    ("owner", "Owner"),
    ("cc", "Cc"),
    ("time", "Created"),
    ("changetime", "Modified"),
];

fn trac_field(b: &SyntheticBug, col: &str) -> String {
    match col {
        "id" => b.id.to_string(),
        "summary" => b.title.clone(),
        "status" => b.status.clone(),
        "type" => b.kind.clone(),
        "priority" => b.priority.clone(),
        "component" => b.component.clone(),
        "keywords" => b.keywords.join(" "),
        "reporter" => USERS[b.reporter].1.to_owned(),
        "owner" => b.owner.map(|o| USERS[o].1.to_owned()).unwrap_or_default(),
        "cc" => {
            b.cc.iter()
                .map(|c| USERS[*c].1)
                .collect::<Vec<_>>()
                .join(", ")
        }
        "time" => trac_date(&b.created),
        "changetime" => trac_date(&b.modified),
        "description" => b.description.clone(),
        "resolution" => b.resolution.clone(),
        "milestone" | "version" => String::new(),
        _ => String::new(),
    }
}

fn trac_matches(b: &SyntheticBug, q: &[(String, String)]) -> bool {
    let mut statuses: Vec<&str> = Vec::new();
    for (k, v) in q {
        match k.as_str() {
            "status" => statuses.push(v),
            "keywords" => {
                let ok = match v.strip_prefix('~') {
                    Some(word) => b.keywords.iter().any(|kw| kw.contains(word)),
                    None => b.keywords.join(" ") == *v,
                };
                if !ok {
                    return false;
                }
            }
            "component" if b.component != *v => return false,
            "changetime" => {
                if let Some((from, _)) = v.split_once("..") {
                    if let Some(t) = bugimporters_core::time::parse_datetime(from) {
                        if b.modified < t {
                            return false;
                        }
                    }
                }
            }
            "id" if v != "!0" => {
                // Trac's id lists: `1,3,5-10`.
                let listed = v.split(',').any(|item| {
                    let item = item.trim();
                    match item.split_once('-') {
                        Some((lo, hi)) => {
                            match (lo.trim().parse::<u64>(), hi.trim().parse::<u64>()) {
                                (Ok(lo), Ok(hi)) => (lo..=hi).contains(&b.id),
                                _ => false,
                            }
                        }
                        None => item.parse::<u64>() == Ok(b.id),
                    }
                });
                if !listed {
                    return false;
                }
            }
            _ => {}
        }
    }
    if statuses.is_empty() {
        return true;
    }
    statuses.iter().any(|s| match s.strip_prefix('!') {
        Some(not) => b.status != not,
        None => b.status == *s,
    })
}

fn csv_bytes(header: &[&str], rows: Vec<Vec<String>>) -> Vec<u8> {
    let mut out = "\u{feff}".as_bytes().to_vec();
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let _ = w.write_record(header);
    for r in rows {
        let _ = w.write_record(&r);
    }
    out.extend(w.into_inner().unwrap_or_default());
    out
}

async fn trac_query(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let (_permit, fault) = admit(&s, "trac/query").await;
    let q = pairs(&q);
    let get = |k: &str| q.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.as_str());
    let max: usize = get("max").and_then(|m| m.parse().ok()).unwrap_or(100);
    let page: usize = get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let mut cols: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "col")
        .map(|(_, v)| v.as_str())
        .collect();
    if cols.is_empty() {
        cols = vec![
            "id",
            "summary",
            "status",
            "type",
            "priority",
            "component",
            "changetime",
        ];
    }
    cols.retain(|c| TRAC_COLS.iter().any(|(k, _)| k == c));
    if !cols.contains(&"id") {
        cols.insert(0, "id");
    }
    // Only this page's bugs are cloned (see the GitHub list).
    let page_bugs: Vec<SyntheticBug> = s
        .bugs
        .read()
        .map(|b| {
            let matching = b.iter().flatten().filter(|b| trac_matches(b, &q));
            if max == 0 {
                matching.cloned().collect()
            } else {
                matching.skip((page - 1) * max).take(max).cloned().collect()
            }
        })
        .unwrap_or_default();
    let rows: Vec<&SyntheticBug> = page_bugs.iter().collect();
    if rows.is_empty() && page > 1 {
        // Trac raises inside the streamed response: 200 with an empty body.
        return respond(
            fault,
            StatusCode::OK,
            "text/csv;charset=utf-8",
            Vec::new(),
            vec![],
        );
    }
    let header: Vec<&str> = cols
        .iter()
        .map(|c| {
            TRAC_COLS
                .iter()
                .find(|(k, _)| k == c)
                .map_or(*c, |(_, l)| *l)
        })
        .collect();
    let body = csv_bytes(
        &header,
        rows.into_iter()
            .map(|b| cols.iter().map(|c| trac_field(b, c)).collect())
            .collect(),
    );
    respond(
        fault,
        StatusCode::OK,
        "text/csv;charset=utf-8",
        body,
        vec![],
    )
}

const TICKET_CSV_COLS: &[&str] = &[
    "id",
    "summary",
    "reporter",
    "owner",
    "description",
    "type",
    "status",
    "priority",
    "milestone",
    "component",
    "version",
    "resolution",
    "keywords",
    "cc",
];

async fn trac_ticket(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let csv = pairs(&q).iter().any(|(k, v)| k == "format" && v == "csv");
    let (_permit, fault) = admit(
        &s,
        if csv {
            "trac/ticket.csv"
        } else {
            "trac/ticket.html"
        },
    )
    .await;
    let Some(b) = id.parse::<u64>().ok().and_then(|id| bug(&s, id)) else {
        let page = "<!DOCTYPE html><html><head><title>Error: Invalid ticket number</title></head><body><h1>Error: Invalid ticket number</h1></body></html>";
        return respond(
            fault,
            StatusCode::NOT_FOUND,
            "text/html;charset=utf-8",
            page.as_bytes().to_vec(),
            vec![],
        );
    };
    if csv {
        let row = TICKET_CSV_COLS.iter().map(|c| trac_field(&b, c)).collect();
        return respond(
            fault,
            StatusCode::OK,
            "text/csv;charset=utf-8",
            csv_bytes(TICKET_CSV_COLS, vec![row]),
            vec![],
        );
    }
    let page = match (
        &s.cfg.overrides.trac_ticket_page,
        &s.cfg.overrides.description,
    ) {
        (Some(page), _) => page.as_bytes().to_vec(),
        (None, Some(_)) => trac_html(&SyntheticBug {
            description: "(too long to show; see the CSV export)".to_owned(),
            ..b
        })
        .into_bytes(),
        (None, None) => trac_html(&b).into_bytes(),
    };
    respond(
        fault,
        StatusCode::OK,
        "text/html;charset=utf-8",
        page,
        vec![],
    )
}

fn trac_author(u: usize) -> String {
    format!(
        "<a class=\"trac-author\" href=\"/query?reporter={}\">{}</a>",
        USERS[u].0,
        html_escape(USERS[u].1)
    )
}

fn trac_html(b: &SyntheticBug) -> String {
    let timeline = |t: &NaiveDateTime| {
        format!(
            "<a class=\"timeline\" href=\"/timeline?from={}Z&amp;precision=second\" title=\"See timeline at {}\">some time ago</a>",
            t.format("%Y-%m-%dT%H%%3A%M%%3A%S"),
            trac_date(t)
        )
    };
    let mut changes = String::new();
    for (n, (who, when)) in b.comments.iter().enumerate() {
        changes.push_str(&format!(
            "<div class=\"change\" id=\"trac-change-{n1}-{us}\">\n<h3 class=\"change\" id=\"comment:{n1}\">\n  <span class=\"threading\"></span>\n  <span class=\"cnum\"><a href=\"#comment:{n1}\">comment:{n1}</a></span>\n  by <span class=\"trac-author\">{who}</span>, {tl}\n</h3>\n<div class=\"comment searchable\"><p>Comment {n1} on #{id}.</p></div>\n</div>\n",
            n1 = n + 1,
            us = when.and_utc().timestamp_micros(),
            who = html_escape(USERS[*who].1),
            tl = timeline(when),
            id = b.id
        ));
    }
    let owner = b.owner.map(trac_author).unwrap_or_default();
    let cc =
        b.cc.iter()
            .map(|c| trac_author(*c))
            .collect::<Vec<_>>()
            .join(", ");
    let last = if b.modified != b.created {
        format!("      <p>Last modified {}</p>\n", timeline(&b.modified))
    } else {
        String::new()
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><title>#{id} ({title}) – Synthetic Trac</title></head><body>\n<div id=\"ticket\">\n  <div id=\"ticketbox\" class=\"trac-content\">\n    <div class=\"date\">\n      <p>Opened {opened}</p>\n{last}    </div>\n    <h2><a href=\"/ticket/{id}\" class=\"trac-id\">#{id}</a> <span class=\"trac-status\"><a href=\"/query?status={status}\">{status}</a></span></h2>\n    <h1 id=\"trac-ticket-title\" class=\"searchable\"><span class=\"summary\">{title}</span></h1>\n    <table class=\"properties\">\n      <tr>\n        <th id=\"h_reporter\">Reported by:</th>\n        <td class=\"searchable\" headers=\"h_reporter\">{reporter}</td>\n        <th id=\"h_owner\">Owned by:</th>\n        <td headers=\"h_owner\">{owner}</td>\n      </tr>\n      <tr>\n        <th id=\"h_priority\">Priority:</th>\n        <td headers=\"h_priority\"><a href=\"/query?priority={prio}\">{prio}</a></td>\n        <th id=\"h_component\">Component:</th>\n        <td headers=\"h_component\"><a href=\"/query?component={comp}\">{comp}</a></td>\n      </tr>\n      <tr>\n        <th id=\"h_keywords\">Keywords:</th>\n        <td class=\"searchable\" headers=\"h_keywords\">{kw}</td>\n        <th id=\"h_cc\">Cc:</th>\n        <td class=\"searchable\" headers=\"h_cc\">{cc}</td>\n      </tr>\n    </table>\n    <div class=\"description\"><h2 id=\"comment:description\">Description</h2><div class=\"searchable\"><p>{desc}</p></div></div>\n  </div>\n  <div id=\"changelog\">\n{changes}  </div>\n</div>\n</body></html>\n",
        id = b.id,
        title = html_escape(&b.title),
        opened = timeline(&b.created),
        status = b.status,
        reporter = trac_author(b.reporter),
        prio = b.priority,
        comp = b.component,
        kw = html_escape(&b.keywords.join(" ")),
        desc = html_escape(&b.description).replace('\n', "<br />\n"),
    )
}

// ---------------------------------------------------------------------------------------------
// Bugzilla

fn bz_status(b: &SyntheticBug) -> &'static str {
    match b.status.as_str() {
        "new" => "NEW",
        "assigned" | "accepted" => "ASSIGNED",
        "reopened" => "REOPENED",
        _ => "RESOLVED",
    }
}

fn bz_date(t: &NaiveDateTime) -> String {
    // Bugzilla writes the server's zone; ours is UTC-4 to exercise conversion.
    (*t - TimeDelta::hours(4))
        .format("%Y-%m-%d %H:%M:%S -0400")
        .to_string()
}

async fn bugzilla_buglist(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let (_permit, fault) = admit(&s, "bugzilla/buglist").await;
    let q = pairs(&q);
    let keyword = q
        .iter()
        .find(|(k, _)| k == "keywords")
        .map(|(_, v)| v.clone());
    let ids: Vec<u64> = s
        .bugs
        .read()
        .map(|bugs| {
            bugs.iter()
                .flatten()
                .filter(|b| keyword.as_ref().is_none_or(|k| b.keywords.contains(k)))
                .map(|b| b.id)
                .collect()
        })
        .unwrap_or_default();
    let mut html = String::from("<!DOCTYPE html><html><head><title>Bug List</title></head><body>\n<table class=\"bz_buglist\">\n");
    for id in &ids {
        html.push_str(&format!(
            "<tr><td><a href=\"show_bug.cgi?id={id}\">{id}</a></td></tr>\n"
        ));
    }
    html.push_str("</table>\n<form method=\"post\" action=\"show_bug.cgi\">\n");
    for id in &ids {
        html.push_str(&format!(
            "<input type=\"hidden\" name=\"id\" value=\"{id}\">\n"
        ));
    }
    html.push_str("<input type=\"hidden\" name=\"ctype\" value=\"xml\">\n<input type=\"hidden\" name=\"excludefield\" value=\"attachmentdata\">\n<input type=\"submit\" value=\"XML\" id=\"xml\">\n</form>\n</body></html>\n");
    respond(
        fault,
        StatusCode::OK,
        "text/html; charset=UTF-8",
        html.into_bytes(),
        vec![],
    )
}

async fn bugzilla_show_bug(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let (_permit, fault) = admit(&s, "bugzilla/show_bug").await;
    let ids: Vec<u64> = pairs(&q)
        .into_iter()
        .filter(|(k, _)| k == "id")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    let base = format!("http://{}/bugzilla/", s.addr);
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\" ?>\n<!DOCTYPE bugzilla SYSTEM \"{base}page.cgi?id=bugzilla.dtd\">\n<bugzilla version=\"5.0.4\" urlbase=\"{base}\" maintainer=\"admin@example.org\">\n"
    );
    for id in ids {
        let Some(b) = bug(&s, id) else {
            xml.push_str(&format!(
                "  <bug error=\"NotFound\">\n    <bug_id>{id}</bug_id>\n  </bug>\n"
            ));
            continue;
        };
        let user = |u: usize| {
            format!(
                "<{{tag}} name=\"{}\">{}@example.org</{{tag}}>",
                html_escape(USERS[u].1),
                USERS[u].0
            )
        };
        let tagged = |u: usize, tag: &str| user(u).replace("{tag}", tag);
        xml.push_str(&format!(
            "  <bug>\n    <bug_id>{id}</bug_id>\n    <creation_ts>{created}</creation_ts>\n    <short_desc>{title}</short_desc>\n    <delta_ts>{modified}</delta_ts>\n    <product>Synthetic</product>\n    <component>{comp}</component>\n    <bug_status>{status}</bug_status>\n    <resolution>{res}</resolution>\n    <keywords>{kw}</keywords>\n    <priority>P3</priority>\n    <bug_severity>{prio}</bug_severity>\n    <status_whiteboard></status_whiteboard>\n    {reporter}\n    {assignee}\n",
            created = bz_date(&b.created),
            title = html_escape(&b.title),
            modified = bz_date(&b.modified),
            comp = b.component,
            status = bz_status(&b),
            res = if b.is_closed() { "FIXED" } else { "" },
            kw = b.keywords.join(", "),
            prio = b.priority,
            reporter = tagged(b.reporter, "reporter"),
            assignee = tagged(b.owner.unwrap_or(0), "assigned_to"),
        ));
        for c in &b.cc {
            xml.push_str(&format!("    <cc>{}@example.org</cc>\n", USERS[*c].0));
        }
        xml.push_str(&format!(
            "    <long_desc isprivate=\"0\">\n      <commentid>{}</commentid>\n      {}\n      <bug_when>{}</bug_when>\n      <thetext>{}</thetext>\n    </long_desc>\n",
            id * 100,
            tagged(b.reporter, "who"),
            bz_date(&b.created),
            html_escape(&b.description)
        ));
        for (n, (who, when)) in b.comments.iter().enumerate() {
            xml.push_str(&format!(
                "    <long_desc isprivate=\"0\">\n      <commentid>{}</commentid>\n      {}\n      <bug_when>{}</bug_when>\n      <thetext>Comment {} on bug {id}.</thetext>\n    </long_desc>\n",
                id * 100 + n as u64 + 1,
                tagged(*who, "who"),
                bz_date(when),
                n + 1
            ));
        }
        xml.push_str("  </bug>\n");
    }
    xml.push_str("</bugzilla>\n");
    respond(
        fault,
        StatusCode::OK,
        "text/xml; charset=UTF-8",
        xml.into_bytes(),
        vec![],
    )
}

// ---------------------------------------------------------------------------------------------
// GitHub

fn github_json(s: &Shared, owner: &str, repo: &str, b: &SyntheticBug) -> serde_json::Value {
    let user = |u: usize| serde_json::json!({"login": USERS[u].0, "id": u + 1, "type": "User"});
    let labels: Vec<serde_json::Value> = b
        .keywords
        .iter()
        .map(|k| serde_json::json!({"name": k}))
        .collect();
    let api = format!(
        "http://{}/github/repos/{owner}/{repo}/issues/{}",
        s.addr, b.id
    );
    serde_json::json!({
        "url": api,
        "html_url": format!("http://{}/github/{owner}/{repo}/issues/{}", s.addr, b.id),
        "id": 1_000_000 + b.id,
        "number": b.id,
        "title": b.title,
        "user": user(b.reporter),
        "labels": labels,
        "state": if b.is_closed() { "closed" } else { "open" },
        "assignee": b.owner.map(user),
        "assignees": b.owner.map(user).into_iter().collect::<Vec<_>>(),
        "comments": b.comments.len(),
        "created_at": format!("{}Z", b.created.format("%Y-%m-%dT%H:%M:%S")),
        "updated_at": format!("{}Z", b.modified.format("%Y-%m-%dT%H:%M:%S")),
        "closed_at": if b.is_closed() { serde_json::Value::from(format!("{}Z", b.modified.format("%Y-%m-%dT%H:%M:%S"))) } else { serde_json::Value::Null },
        "body": b.description,
    })
}

async fn github_list(
    State(s): State<Arc<Shared>>,
    Path((owner, repo)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let (_permit, fault) = admit(&s, "github/list").await;
    let q = pairs(&q);
    let get = |k: &str| q.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.clone());
    let per_page: usize = get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page: usize = get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let state = get("state").unwrap_or_else(|| "open".to_owned());
    let since = get("since").and_then(|t| bugimporters_core::time::parse_datetime(&t));
    // Count every match but clone only this page's: a page costs O(N) comparisons, not O(N)
    // clones, so that 100 000-bug benchmarks measure the crawler rather than this server.
    let (total, page_bugs): (usize, Vec<SyntheticBug>) = s
        .bugs
        .read()
        .map(|b| {
            let matching = || {
                b.iter()
                    .flatten()
                    .filter(|b| match state.as_str() {
                        "all" => true,
                        "closed" => b.is_closed(),
                        _ => !b.is_closed(),
                    })
                    .filter(|b| since.is_none_or(|t| b.modified >= t))
            };
            let page_bugs = matching()
                .skip((page - 1) * per_page)
                .take(per_page)
                .cloned()
                .collect();
            (matching().count(), page_bugs)
        })
        .unwrap_or_default();
    let pages = total.div_ceil(per_page).max(1);
    let items: Vec<serde_json::Value> = page_bugs
        .iter()
        .map(|b| github_json(&s, &owner, &repo, b))
        .collect();
    let mut links = Vec::new();
    let link = |p: usize, rel: &str| {
        let mut pairs: Vec<(String, String)> =
            q.iter().filter(|(k, _)| k != "page").cloned().collect();
        pairs.push(("page".to_owned(), p.to_string()));
        let qs = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!(
            "<http://{}/github/repos/{owner}/{repo}/issues?{qs}>; rel=\"{rel}\"",
            s.addr
        )
    };
    if page < pages {
        links.push(link(page + 1, "next"));
        links.push(link(pages, "last"));
    }
    if page > 1 {
        links.push(link(1, "first"));
        links.push(link(page - 1, "prev"));
    }
    let mut extra = vec![(
        header::HeaderName::from_static("x-ratelimit-remaining"),
        "4999".to_owned(),
    )];
    if !links.is_empty() {
        extra.push((header::LINK, links.join(", ")));
    }
    let body = serde_json::to_vec(&items).unwrap_or_default();
    respond(
        fault,
        StatusCode::OK,
        "application/json; charset=utf-8",
        body,
        extra,
    )
}

async fn github_issue(
    State(s): State<Arc<Shared>>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Response {
    let (_permit, fault) = admit(&s, "github/issue").await;
    match id.parse::<u64>().ok().and_then(|id| bug(&s, id)) {
        Some(b) => {
            let body = serde_json::to_vec(&github_json(&s, &owner, &repo, &b)).unwrap_or_default();
            respond(
                fault,
                StatusCode::OK,
                "application/json; charset=utf-8",
                body,
                vec![],
            )
        }
        None => respond(
            fault,
            StatusCode::NOT_FOUND,
            "application/json; charset=utf-8",
            br#"{"message":"Not Found"}"#.to_vec(),
            vec![],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_varied() {
        let cfg = SyntheticConfig::default();
        assert_eq!(generate_bug(&cfg, 5), generate_bug(&cfg, 5));
        let other = SyntheticConfig {
            seed: 2,
            ..SyntheticConfig::default()
        };
        assert_ne!(generate_bug(&cfg, 5), generate_bug(&other, 5));
        let bugs: Vec<SyntheticBug> = (1..=100).map(|i| generate_bug(&cfg, i)).collect();
        assert!(bugs.iter().any(|b| b.is_closed()) && bugs.iter().any(|b| !b.is_closed()));
        assert!(
            bugs.iter()
                .filter(|b| b.keywords.contains(&"easy".to_owned()))
                .count()
                >= 14
        );
        assert!(bugs.windows(2).all(|w| w[0].created < w[1].created));
    }
}
