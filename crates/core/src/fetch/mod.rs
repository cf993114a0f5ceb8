//! The polite HTTP layer every importer uses.
//!
//! No tracker crate builds its own client (clippy's `disallowed-methods` enforces it): this
//! module owns everything that makes a crawl safe to run against other people's servers and
//! safe to point at URLs that site users typed in.
//!
//! * **Politeness**: at most [`FetchConfig::per_host_limit`] requests in flight per host, an
//!   optional delay between request starts to one host, and (in [`crate::ImportContext`]) at
//!   most `max_connections` per tracker.
//! * **Retries**: 408/425/429/5xx, timeouts and connection failures are retried with exponential
//!   back-off and equal jitter; `Retry-After` (seconds or HTTP date) and the rate-limit headers of
//!   GitHub (`X-RateLimit-Remaining/Reset`) and GitLab/IETF (`RateLimit-Remaining/Reset`) are
//!   honoured, waiting (with a log line) up to [`FetchConfig::max_wait`].
//! * **Limits**: connect and total timeouts, a maximum body size, at most
//!   [`FetchConfig::max_redirects`] redirects, http/https only.
//! * **Stalls**: a low-speed limit ([`FetchConfig::speed_limit`] bytes/s over
//!   [`FetchConfig::speed_time`], like curl's `--speed-limit/--speed-time`) aborts a trickling
//!   attempt as a temporary failure, and a per-host circuit breaker
//!   ([`FetchConfig::breaker_threshold`]) makes the remaining requests of a host that failed
//!   that many consecutive attempts fail at once ([`Error::HostUnavailable`]).
//! * **Private-address guard**: loopback, private, link-local and multicast targets are refused
//!   on the resolved address of every connection, redirects included, unless allowed by
//!   [`NetworkPolicy`].
//! * **Conditional requests**: with [`Request::conditional`], stored `ETag`/`Last-Modified`
//!   validators are sent and a `304` comes back as [`Response::not_modified`]. Validators are
//!   kept per scope ([`Request::scope`], the tracker's name when the request goes through
//!   [`crate::ImportContext::fetch`]) and URL, so that one tracker's validators never make
//!   another tracker's request answer `304`. They outlive a run in a state file
//!   ([`HttpClient::save_validators`]) or, for the service, in the host database
//!   ([`HttpClient::set_scope_validators`], [`HttpClient::take_scope_validators`]).
//! * **Request bodies**: [`Request::post_form`] and [`Request::post_json`] (an API such as
//!   Phabricator's Conduit or GraphQL). A `POST` is retried only when marked
//!   [`Request::idempotent`] (a read-only search), is never conditional, and its body is sent
//!   again only through a 307/308 to the same host (other redirects are followed by a `GET`;
//!   a 307/308 to another host is refused). Secret form fields
//!   ([`Request::with_secret_field`]) are registered with [`crate::redact`].
//! * **Record and replay**: see [`normalize_url`] and `docs/operations.md`; a request with a
//!   body is recorded with its method and the SHA-256 of its body without the secret fields,
//!   so a replay matches it whatever the secrets.

mod guard;
mod replay;
mod stall;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
pub use http::Method;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use url::Url;

pub use guard::{non_public_kind, NetworkPolicy};
pub use replay::normalize_url;

use crate::error::is_temporary_status;
use crate::Error;

/// Settings of the fetch layer. `Default` gives the production values.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FetchConfig {
    /// `User-Agent` header.
    pub user_agent: String,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Timeout of one attempt, body included.
    pub timeout: Duration,
    /// Largest body accepted (after decompression).
    pub max_body_bytes: u64,
    /// Most redirects followed per request.
    pub max_redirects: usize,
    /// Retries after the first attempt for temporary failures.
    pub retries: u32,
    /// First back-off step; doubles per retry, with equal jitter (a uniform wait in
    /// `[step/2, step]`).
    pub backoff_base: Duration,
    /// Largest single back-off step.
    pub backoff_max: Duration,
    /// Longest wait honoured for `Retry-After` or a rate-limit reset; a longer one fails the
    /// request (reported as temporary) rather than stalling the crawl.
    pub max_wait: Duration,
    /// Requests in flight per host.
    pub per_host_limit: usize,
    /// Pause between the starts of two requests to the same host.
    pub delay: Duration,
    /// Which addresses may be reached.
    pub network: NetworkPolicy,
    /// Low-speed limit in bytes per second (0 = off): an attempt whose body brings less than
    /// this on average over a [`FetchConfig::speed_time`] window is aborted (temporary).
    pub speed_limit: u64,
    /// Window of the low-speed limit. The response head must arrive within twice this time
    /// (a server may compute before it answers); then every window must bring
    /// `speed_limit × speed_time` bytes.
    pub speed_time: Duration,
    /// Consecutive failed attempts (network errors, timeouts, the low-speed limit, 5xx,
    /// oversize bodies) after which a host's requests fail fast; 0 = off.
    pub breaker_threshold: u32,
    /// How long a host's requests fail fast once its breaker opened; then it is tried again
    /// (half-open: one more failure opens it again). Default 5 minutes: longer than a batch
    /// crawl's dead host needs to be skipped, short enough for a long-running `serve`.
    pub breaker_cool_down: Duration,
    /// Store every response here (`--record`).
    pub record_dir: Option<PathBuf>,
    /// Answer every request from here (`--replay`); no network access at all.
    pub replay_dir: Option<PathBuf>,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            user_agent: crate::USER_AGENT.to_owned(),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(120),
            max_body_bytes: 64 * 1024 * 1024,
            max_redirects: 5,
            retries: 4,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_wait: Duration::from_secs(300),
            per_host_limit: 4,
            delay: Duration::ZERO,
            network: NetworkPolicy::public_only(),
            speed_limit: 1024,
            speed_time: Duration::from_secs(15),
            breaker_threshold: 16,
            breaker_cool_down: Duration::from_secs(300),
            record_dir: None,
            replay_dir: None,
        }
    }
}

impl FetchConfig {
    /// Settings for tests against servers on this machine: `127.0.0.0/8` allowed (and
    /// nothing else private), back-offs of a few milliseconds, waits bounded to 5 s.
    pub fn for_loopback_tests() -> Self {
        FetchConfig {
            network: NetworkPolicy::allowing(["127.0.0.0/8"
                .parse()
                .expect("a valid CIDR literal")]),
            backoff_base: Duration::from_millis(5),
            backoff_max: Duration::from_millis(20),
            max_wait: Duration::from_secs(5),
            ..FetchConfig::default()
        }
    }
}

/// One request. Build with [`Request::get`] and the `with_*` methods.
#[derive(Clone)]
#[non_exhaustive]
pub struct Request {
    /// Target URL (http or https).
    pub url: Url,
    /// Extra headers. Values marked sensitive (see [`Request::with_secret_header`]) never
    /// appear in logs, errors or recordings.
    pub headers: HeaderMap,
    /// Send stored validators and accept `304 Not Modified`.
    pub conditional: bool,
    /// Whose validators a conditional request uses and updates (the tracker's name; `""`
    /// when unset). Validators of one scope are never sent for another.
    pub scope: String,
    /// Final error statuses returned as a [`Response`] (body included) instead of
    /// [`Error::Status`], for an API whose refusal body says why (see
    /// [`Request::accept_status`]).
    pub accept: Vec<u16>,
    /// The method: `GET`, or `POST` with a [`Request::body`] ([`Request::post_form`],
    /// [`Request::post_json`]).
    pub method: Method,
    /// What a `POST` sends.
    pub body: Option<Body>,
    /// Whether sending the request twice does no harm (a search, a GraphQL query): only then
    /// is it retried after a temporary failure. Every `GET` is; a `POST` is when marked
    /// with [`Request::idempotent`].
    pub idempotent: bool,
}

/// The body a request sends. Form fields given with [`Request::with_secret_field`] are
/// registered with [`crate::redact`] and left out of the replay key.
#[derive(Clone)]
#[non_exhaustive]
pub enum Body {
    /// `application/x-www-form-urlencoded` fields, in order.
    Form(Vec<FormField>),
    /// `application/json`.
    Json(serde_json::Value),
}

/// One field of a form body.
#[derive(Clone)]
pub struct FormField {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: String,
    /// Whether the value is a secret (never printed, not part of the replay key).
    pub secret: bool,
}

impl std::fmt::Debug for FormField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = if self.secret {
            "<secret>"
        } else {
            self.value.as_str()
        };
        f.debug_tuple("FormField")
            .field(&self.name)
            .field(&value)
            .finish()
    }
}

impl Body {
    /// The `Content-Type` and bytes sent.
    fn encode(&self) -> (&'static str, Vec<u8>) {
        match self {
            Body::Form(fields) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                for f in fields {
                    form.append_pair(&f.name, &f.value);
                }
                (
                    "application/x-www-form-urlencoded",
                    form.finish().into_bytes(),
                )
            }
            Body::Json(v) => (
                "application/json",
                serde_json::to_vec(v).unwrap_or_default(),
            ),
        }
    }

    /// What identifies the body in a recording: the form without its secret fields, or the
    /// JSON text — the same whatever the secrets' values.
    fn replay_text(&self) -> String {
        match self {
            Body::Form(fields) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                for f in fields.iter().filter(|f| !f.secret) {
                    form.append_pair(&f.name, &f.value);
                }
                form.finish()
            }
            Body::Json(v) => v.to_string(),
        }
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Form(fields) => f
                .debug_list()
                .entries(fields.iter().map(|x| {
                    if x.secret {
                        "<secret>"
                    } else {
                        x.name.as_str()
                    }
                }))
                .finish(),
            Body::Json(_) => f.write_str("Json(..)"),
        }
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("url", &self.url.as_str())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("conditional", &self.conditional)
            .field("method", &self.method)
            .field("body", &self.body)
            .finish()
    }
}

impl Request {
    /// A GET of `url`. An unparsable URL is refused with an error naming it.
    pub fn get(url: &str) -> Result<Self, Error> {
        let parsed = Url::parse(url).map_err(|e| Error::Refused {
            url: url.to_owned(),
            reason: format!("not a valid URL: {e}"),
        })?;
        Ok(Request {
            url: parsed,
            headers: HeaderMap::new(),
            conditional: false,
            scope: String::new(),
            accept: Vec::new(),
            method: Method::GET,
            body: None,
            idempotent: true,
        })
    }

    /// A `POST` of form `fields` to `url` (Phabricator's Conduit, say). Not retried unless
    /// marked [`Request::idempotent`]; never conditional.
    pub fn post_form(url: &str, fields: &[(&str, &str)]) -> Result<Self, Error> {
        let mut req = Request::get(url)?;
        req.method = Method::POST;
        req.idempotent = false;
        req.body = Some(Body::Form(
            fields
                .iter()
                .map(|(n, v)| FormField {
                    name: (*n).to_owned(),
                    value: (*v).to_owned(),
                    secret: false,
                })
                .collect(),
        ));
        Ok(req)
    }

    /// A `POST` of the JSON `value` to `url` (a GraphQL query, say). Not retried unless
    /// marked [`Request::idempotent`]; never conditional.
    pub fn post_json(url: &str, value: serde_json::Value) -> Result<Self, Error> {
        let mut req = Request::get(url)?;
        req.method = Method::POST;
        req.idempotent = false;
        req.body = Some(Body::Json(value));
        Ok(req)
    }

    /// Adds a form field holding a secret (Conduit's `api.token`): its value is registered
    /// with [`crate::redact`], so no log, error or recording shows it, and it is left out of
    /// the replay key. A request without a form body gets one.
    pub fn with_secret_field(mut self, name: &str, value: &str) -> Self {
        crate::redact::register(value);
        let field = FormField {
            name: name.to_owned(),
            value: value.to_owned(),
            secret: true,
        };
        match &mut self.body {
            Some(Body::Form(fields)) => fields.push(field),
            _ => self.body = Some(Body::Form(vec![field])),
        }
        self
    }

    /// Marks the request safe to send twice, so that it is retried like a `GET`.
    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Adds a header holding a secret (a token): marked sensitive so that it is never logged
    /// or recorded. An invalid value (a newline in a token) is a configuration error that does
    /// not show the value.
    pub fn with_secret_header(mut self, name: HeaderName, value: &str) -> Result<Self, Error> {
        let mut v = HeaderValue::from_str(value).map_err(|_| {
            Error::config(format!(
                "the secret for header {name} is not a valid header value"
            ))
        })?;
        v.set_sensitive(true);
        self.headers.insert(name, v);
        Ok(self)
    }

    /// Makes the request conditional (see the module docs).
    pub fn conditional(mut self) -> Self {
        self.conditional = true;
        self
    }

    /// Sets the validator scope ([`Request::scope`]).
    pub fn in_scope(mut self, scope: &str) -> Self {
        scope.clone_into(&mut self.scope);
        self
    }

    /// Returns a final answer with `status` (after the usual retries) as a [`Response`] with
    /// its body, so that the caller can read the API's own error (Pagure's
    /// `EISSUENOTALLOWED` 403, say) instead of a bare [`Error::Status`]. An answer that asks
    /// us to wait (a rate limit) is still a (temporary) [`Error::Status`].
    pub fn accept_status(mut self, status: u16) -> Self {
        self.accept.push(status);
        self
    }
}

/// A successful response (2xx, or 304 for a conditional request).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Response {
    /// The URL that answered (after redirects).
    pub url: Url,
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body (empty for 304).
    pub body: Bytes,
}

impl Response {
    /// Whether a conditional request was answered `304 Not Modified`.
    pub fn not_modified(&self) -> bool {
        self.status == 304
    }

    /// A header as text, if present and valid.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Validators by scope (tracker name), then by normalised URL.
pub type ValidatorMap = HashMap<String, HashMap<String, Validators>>;

/// The `--state` file: validators by scope, then URL.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    /// Format version ([`STATE_VERSION`]).
    version: u32,
    /// Scope (tracker name) → URL → validators.
    validators: ValidatorMap,
}

/// Version of the state file's format. Version 1 (a flat map URL → validators, without the
/// tracker) is read as "no validators", with a warning: its entries cannot be given to a
/// tracker safely.
const STATE_VERSION: u32 = 2;

/// Stored validators of one URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    /// `ETag` the server sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// `Last-Modified` the server sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// The `Link` header of that answer (paging). A `304` means "the same answer", but
    /// servers (GitHub among them) send it without its `Link`: the stored one is put back, so
    /// that a pager walks an unchanged listing's pages without paying for a page past the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// Counters of one client, for the run report.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FetchCounters {
    /// HTTP exchanges made (retries and redirect hops included).
    pub requests: u64,
    /// Body bytes received.
    pub bytes: u64,
    /// Retries made.
    pub retries: u64,
    /// Answers `304 Not Modified`.
    pub not_modified: u64,
}

#[derive(Debug, Default)]
struct HostState {
    next_start: Option<Instant>,
    blocked_until: Option<Instant>,
}

/// Per-host state: the in-flight limit, the pacing/rate-limit clock and the circuit breaker.
#[derive(Clone)]
struct HostSlot {
    key: String,
    permits: Arc<Semaphore>,
    state: Arc<tokio::sync::Mutex<HostState>>,
    breaker: Arc<stall::Breaker>,
}

enum Backend {
    Live {
        client: reqwest::Client,
        recorder: Option<replay::Recorder>,
    },
    Replay(replay::ReplayIndex),
}

/// The shared HTTP client of a run. Cheap to share behind an `Arc`.
pub struct HttpClient {
    config: FetchConfig,
    policy: Arc<NetworkPolicy>,
    backend: Backend,
    hosts: Mutex<HashMap<String, HostSlot>>,
    /// Scope → normalised URL → validators.
    validators: Mutex<ValidatorMap>,
    counters: Mutex<FetchCounters>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("replay", &matches!(self.backend, Backend::Replay(_)))
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// Builds the client. With `replay_dir` set, loads the index and makes no network access.
    pub fn new(config: FetchConfig) -> Result<Self, Error> {
        let policy = Arc::new(config.network.clone());
        let backend = match &config.replay_dir {
            Some(dir) => Backend::Replay(replay::ReplayIndex::load(dir)?),
            None => {
                // The one place a reqwest client is built: everything else goes through here.
                #[allow(clippy::disallowed_methods)]
                let client = reqwest::Client::builder()
                    .user_agent(config.user_agent.clone())
                    .connect_timeout(config.connect_timeout)
                    .timeout(config.timeout)
                    .redirect(reqwest::redirect::Policy::none())
                    .dns_resolver(Arc::new(guard::GuardedResolver {
                        policy: policy.clone(),
                    }))
                    .no_proxy()
                    .build()
                    .map_err(|e| Error::config(format!("cannot build the HTTP client: {e}")))?;
                let recorder = match &config.record_dir {
                    Some(dir) => Some(replay::Recorder::create(dir)?),
                    None => None,
                };
                Backend::Live { client, recorder }
            }
        };
        Ok(HttpClient {
            config,
            policy,
            backend,
            hosts: Mutex::new(HashMap::new()),
            validators: Mutex::new(HashMap::new()),
            counters: Mutex::new(FetchCounters::default()),
        })
    }

    /// The settings this client was built with.
    pub fn config(&self) -> &FetchConfig {
        &self.config
    }

    /// Whether the client answers from a replay directory.
    pub fn is_replay(&self) -> bool {
        matches!(self.backend, Backend::Replay(_))
    }

    /// Counters so far.
    pub fn counters(&self) -> FetchCounters {
        *self.counters.lock().expect("counters lock")
    }

    /// Loads validators saved by [`HttpClient::save_validators`]; a missing file is no error.
    /// A file that is not a state file (corrupt, cut, another format) is an error naming it:
    /// the run stops before making a request, rather than paying full price silently. A
    /// state file of the first format (validators without their tracker) is ignored with a
    /// warning.
    pub fn load_validators(&self, path: &Path) -> Result<(), Error> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(path, e)),
        };
        let bad = |e: &dyn std::fmt::Display| {
            Error::config(format!(
                "{}: not a --state file ({e}); fix or delete it",
                path.display()
            ))
        };
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(&e))?;
        if value.get("version").is_none()
            && serde_json::from_value::<HashMap<String, Validators>>(value.clone()).is_ok()
        {
            tracing::warn!(path = %path.display(), "a state file of the first format (validators without their tracker): ignored; this run sends no validators and rewrites it");
            return Ok(());
        }
        let state: StateFile = serde_json::from_value(value).map_err(|e| bad(&e))?;
        if state.version != STATE_VERSION {
            return Err(bad(&format!(
                "version {}, this build reads {STATE_VERSION}",
                state.version
            )));
        }
        let mut map = self.validators.lock().expect("validators lock");
        for (scope, urls) in state.validators {
            map.entry(scope).or_default().extend(urls);
        }
        Ok(())
    }

    /// Saves the validators atomically (temporary file, `fsync`, then rename), so that a
    /// killed run leaves the previous file whole.
    pub fn save_validators(&self, path: &Path) -> Result<(), Error> {
        let state = StateFile {
            version: STATE_VERSION,
            validators: self.validators.lock().expect("validators lock").clone(),
        };
        let text = serde_json::to_string(&state).expect("validators serialise");
        let tmp = path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()
        };
        write().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }

    /// Stored validators of `url` in `scope` (a tracker's name), if any.
    pub fn validators(&self, scope: &str, url: &str) -> Option<Validators> {
        self.validators
            .lock()
            .expect("validators lock")
            .get(scope)?
            .get(&normalize_url(url))
            .cloned()
    }

    /// Removes and returns every validator of `scope`, by normalised URL (what the service
    /// stores after a run).
    pub fn take_scope_validators(&self, scope: &str) -> HashMap<String, Validators> {
        self.validators
            .lock()
            .expect("validators lock")
            .remove(scope)
            .unwrap_or_default()
    }

    /// Replaces the validators of `scope` by `urls` (what the service loads before a run:
    /// those of the last run whose records were stored, never those of a run whose import
    /// failed).
    pub fn set_scope_validators(&self, scope: &str, urls: HashMap<String, Validators>) {
        let urls = urls
            .into_iter()
            .map(|(u, v)| (normalize_url(&u), v))
            .collect();
        self.validators
            .lock()
            .expect("validators lock")
            .insert(scope.to_owned(), urls);
    }

    /// Performs `req` with every behaviour of the module docs. Returns the response for 2xx
    /// (and 304 when conditional); any other final status is [`Error::Status`].
    pub async fn fetch(&self, req: Request) -> Result<Response, Error> {
        match &self.backend {
            Backend::Replay(index) => self.fetch_replay(index, req).await,
            Backend::Live { client, recorder } => {
                self.fetch_live(client, recorder.as_ref(), req).await
            }
        }
    }

    async fn fetch_replay(
        &self,
        index: &replay::ReplayIndex,
        req: Request,
    ) -> Result<Response, Error> {
        let mut url = req.url.clone();
        let mut sent = req
            .body
            .as_ref()
            .map(|b| (req.method.as_str(), b.replay_text()));
        for _ in 0..=self.config.max_redirects {
            let (entry, body) = index
                .get(url.as_str(), sent.as_ref().map(|(m, t)| (*m, t.as_str())))
                .await?;
            self.count(|c| {
                c.requests += 1;
                c.bytes += body.len() as u64;
            });
            let mut headers = HeaderMap::new();
            for (k, v) in &entry.headers {
                if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v))
                {
                    headers.append(k, v);
                }
            }
            if (300..400).contains(&entry.status) && entry.status != 304 {
                if let Some(next) = location(&url, &headers) {
                    if !keeps_body(entry.status) {
                        sent = None;
                    }
                    url = next;
                    continue;
                }
            }
            return finish_status(url, entry.status, headers, body, &req);
        }
        Err(Error::TooManyRedirects {
            url: req.url.to_string(),
            limit: self.config.max_redirects,
        })
    }

    fn host_slot(&self, url: &Url) -> HostSlot {
        let key = format!(
            "{}:{}",
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        );
        let mut hosts = self.hosts.lock().expect("hosts lock");
        hosts
            .entry(key.clone())
            .or_insert_with(|| HostSlot {
                key,
                permits: Arc::new(Semaphore::new(self.config.per_host_limit.max(1))),
                state: Arc::new(tokio::sync::Mutex::new(HostState::default())),
                breaker: Arc::new(stall::Breaker::default()),
            })
            .clone()
    }

    fn count(&self, f: impl FnOnce(&mut FetchCounters)) {
        f(&mut self.counters.lock().expect("counters lock"));
    }

    async fn fetch_live(
        &self,
        client: &reqwest::Client,
        recorder: Option<&replay::Recorder>,
        req: Request,
    ) -> Result<Response, Error> {
        let original = req.url.to_string();
        check_url(&self.policy, &req.url)?;
        let slot = self.host_slot(&req.url);
        let state = slot.state.clone();
        let _permit = slot
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Closed)?;

        let mut headers = req.headers.clone();
        let conditional = req.conditional && req.body.is_none();
        if conditional {
            if let Some(v) = self.validators(&req.scope, &original) {
                if let Some(etag) = v
                    .etag
                    .as_deref()
                    .and_then(|e| HeaderValue::from_str(e).ok())
                {
                    headers.insert(header::IF_NONE_MATCH, etag);
                }
                if let Some(lm) = v
                    .last_modified
                    .as_deref()
                    .and_then(|e| HeaderValue::from_str(e).ok())
                {
                    headers.insert(header::IF_MODIFIED_SINCE, lm);
                }
            }
        }

        let mut attempt: u32 = 0;
        loop {
            if slot.breaker.is_open(self.config.breaker_cool_down) {
                return Err(Error::HostUnavailable {
                    url: original,
                    host: slot.key.clone(),
                    failures: self.config.breaker_threshold,
                });
            }
            self.wait_for_host(&state).await;
            let outcome = self.attempt(client, &req, &headers).await;
            self.note_breaker(&slot, outcome.as_ref().map(|o| o.1));
            let wait = match outcome {
                Ok((url, status, resp_headers, body)) => {
                    self.note_rate_limit(&state, &resp_headers).await;
                    let retry = req.idempotent
                        && (is_temporary_status(status)
                            || (status == 403 && rate_limited(&resp_headers)));
                    if retry && attempt < self.config.retries {
                        let hinted = server_wait(&resp_headers);
                        match hinted {
                            Some(w) if w > self.config.max_wait => {
                                tracing::warn!(url = %original, status, wait_s = w.as_secs(), "server asks to wait longer than --max-wait; giving up");
                                return Err(Error::Status {
                                    url: original,
                                    status,
                                    retry_after: Some(w),
                                });
                            }
                            Some(w) => {
                                tracing::warn!(url = %original, status, wait_s = w.as_secs_f64(), "rate limited; waiting as the server asks");
                                w
                            }
                            None => self.backoff(attempt),
                        }
                    } else {
                        if let Some(rec) = recorder {
                            let sent = req.body.as_ref().map(Body::replay_text);
                            let sent = sent.as_deref().map(|t| (req.method.as_str(), t));
                            let headers = recordable_headers(&resp_headers);
                            rec.record(&original, sent, status, headers, &body).await?;
                        }
                        let mut resp_headers = resp_headers;
                        if (200..300).contains(&status) && conditional {
                            self.store_validators(&req.scope, &original, &resp_headers);
                        }
                        if status == 304 && conditional {
                            self.restore_link(&req.scope, &original, &mut resp_headers);
                        }
                        return finish_status(url, status, resp_headers, body, &req);
                    }
                }
                Err(e) if e.is_temporary() && req.idempotent && attempt < self.config.retries => {
                    tracing::debug!(url = %original, error = %e, attempt, "temporary failure; retrying");
                    self.backoff(attempt)
                }
                Err(e) => return Err(e),
            };
            attempt += 1;
            self.count(|c| c.retries += 1);
            tokio::time::sleep(wait).await;
        }
    }

    /// Feeds one attempt's outcome to the host's circuit breaker; logs once when it opens.
    fn note_breaker(&self, slot: &HostSlot, outcome: Result<u16, &Error>) {
        match stall::breaker_verdict(&outcome) {
            None => {}
            Some(false) => slot.breaker.success(),
            Some(true) if !slot.breaker.failure(self.config.breaker_threshold) => {}
            Some(true) => {
                tracing::warn!(
                    host = %slot.key,
                    failures = self.config.breaker_threshold,
                    "host failed too many consecutive attempts; its remaining requests in this run fail fast"
                );
            }
        }
    }

    /// One attempt, following redirects by hand so that every hop is checked. A body is sent
    /// again only through a 307/308 to the same host; other redirects are followed by a `GET`.
    async fn attempt(
        &self,
        client: &reqwest::Client,
        req: &Request,
        headers: &HeaderMap,
    ) -> Result<(Url, u16, HeaderMap, Bytes), Error> {
        let start = &req.url;
        let mut url = start.clone();
        let mut seen = vec![url.to_string()];
        let mut body = req.body.as_ref().map(Body::encode);
        for _hop in 0..=self.config.max_redirects {
            check_url(&self.policy, &url)?;
            self.count(|c| c.requests += 1);
            // Credentials go only to the host they were meant for.
            let same_host = url.host_str() == start.host_str() && url.port() == start.port();
            let mut builder = match &body {
                Some((content_type, bytes)) if same_host => client
                    .request(req.method.clone(), url.clone())
                    .header(header::CONTENT_TYPE, *content_type)
                    .body(bytes.clone()),
                Some(_) => {
                    return Err(Error::Refused {
                        url: url.to_string(),
                        reason: format!(
                            "a redirect would send the body of a {} to another host",
                            req.method
                        ),
                    })
                }
                None => client.get(url.clone()),
            };
            for (k, v) in headers {
                if same_host || !(v.is_sensitive() || k == header::AUTHORIZATION) {
                    builder = builder.header(k, v);
                }
            }
            let resp = self.send_head(builder, &url).await?;
            let status = resp.status().as_u16();
            let resp_headers = resp.headers().clone();
            if (300..400).contains(&status) && status != 304 {
                if let Some(next) = location(&url, &resp_headers) {
                    if seen.contains(&next.to_string()) {
                        return Err(Error::TooManyRedirects {
                            url: start.to_string(),
                            limit: self.config.max_redirects,
                        });
                    }
                    seen.push(next.to_string());
                    if !keeps_body(status) {
                        body = None;
                    }
                    url = next;
                    continue;
                }
            }
            let body = self.read_body(&url, resp).await?;
            return Ok((url, status, resp_headers, body));
        }
        Err(Error::TooManyRedirects {
            url: start.to_string(),
            limit: self.config.max_redirects,
        })
    }

    /// Sends the request and waits for the response head, within twice the low-speed window.
    async fn send_head(
        &self,
        builder: reqwest::RequestBuilder,
        url: &Url,
    ) -> Result<reqwest::Response, Error> {
        let guard = stall::SpeedGuard::start(self.config.speed_limit, self.config.speed_time);
        if !guard.enabled() {
            return builder.send().await.map_err(|e| map_reqwest(url, e));
        }
        let head_time = self.config.speed_time.saturating_mul(2);
        match tokio::time::timeout(head_time, builder.send()).await {
            Ok(r) => r.map_err(|e| map_reqwest(url, e)),
            Err(_) => Err(Error::Network {
                url: url.to_string(),
                message: format!(
                    "low-speed limit: no response head within {} s; attempt aborted",
                    head_time.as_secs()
                ),
                timeout: true,
            }),
        }
    }

    async fn read_body(&self, url: &Url, resp: reqwest::Response) -> Result<Bytes, Error> {
        let limit = self.config.max_body_bytes;
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(Error::BodyTooLarge {
                url: url.to_string(),
                limit,
            });
        }
        let mut body = BytesMut::new();
        let mut stream = resp.bytes_stream();
        let mut speed = stall::SpeedGuard::start(self.config.speed_limit, self.config.speed_time);
        loop {
            let next = match tokio::time::timeout_at(speed.deadline(), stream.next()).await {
                Ok(next) => next,
                Err(_) => {
                    speed.check(url)?;
                    continue;
                }
            };
            let Some(chunk) = next else { break };
            let chunk = chunk.map_err(|e| map_reqwest(url, e))?;
            speed.received(chunk.len(), url)?;
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(Error::BodyTooLarge {
                    url: url.to_string(),
                    limit,
                });
            }
            body.extend_from_slice(&chunk);
        }
        self.count(|c| c.bytes += body.len() as u64);
        Ok(body.freeze())
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .config
            .backoff_base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.config.backoff_max);
        // Equal jitter: a uniform wait in [exp/2, exp], so that clients that failed together do
        // not retry together, while each still waits at least half the step.
        let half = exp / 2;
        half + exp.mul_f64(fastrand::f64() * 0.5)
    }

    async fn wait_for_host(&self, state: &tokio::sync::Mutex<HostState>) {
        let sleep_until = {
            let mut s = state.lock().await;
            let now = Instant::now();
            let mut at = now;
            if let Some(b) = s.blocked_until {
                if b > at {
                    at = b;
                }
            }
            if let Some(n) = s.next_start {
                if n > at {
                    at = n;
                }
            }
            if !self.config.delay.is_zero() {
                s.next_start = Some(at + self.config.delay);
            }
            at
        };
        let now = Instant::now();
        if sleep_until > now {
            tokio::time::sleep(sleep_until - now).await;
        }
    }

    async fn note_rate_limit(&self, state: &tokio::sync::Mutex<HostState>, headers: &HeaderMap) {
        let remaining = header_u64(headers, "x-ratelimit-remaining")
            .or_else(|| header_u64(headers, "ratelimit-remaining"));
        if remaining != Some(0) {
            return;
        }
        let Some(wait) = rate_limit_reset(headers) else {
            return;
        };
        let wait = wait.min(self.config.max_wait);
        tracing::warn!(
            wait_s = wait.as_secs(),
            "rate limit exhausted; pausing this host until it resets"
        );
        let mut s = state.lock().await;
        let until = Instant::now() + wait;
        if s.blocked_until.is_none_or(|b| b < until) {
            s.blocked_until = Some(until);
        }
    }

    /// A `304` without a `Link` header gets the one stored with the validators.
    fn restore_link(&self, scope: &str, url: &str, headers: &mut HeaderMap) {
        if headers.contains_key(header::LINK) {
            return;
        }
        let stored = self.validators(scope, url).and_then(|v| v.link);
        if let Some(value) = stored.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LINK, value);
        }
    }

    fn store_validators(&self, scope: &str, url: &str, headers: &HeaderMap) {
        let get = |n: HeaderName| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let links: Vec<&str> = headers
            .get_all(header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let v = Validators {
            etag: get(header::ETAG),
            last_modified: get(header::LAST_MODIFIED),
            link: (!links.is_empty()).then(|| links.join(", ")),
        };
        if v.etag.is_some() || v.last_modified.is_some() {
            self.validators
                .lock()
                .expect("validators lock")
                .entry(scope.to_owned())
                .or_default()
                .insert(normalize_url(url), v);
        }
    }
}

fn finish_status(
    url: Url,
    status: u16,
    headers: HeaderMap,
    body: Bytes,
    req: &Request,
) -> Result<Response, Error> {
    let retry_after = if (200..300).contains(&status) {
        None
    } else {
        server_wait(&headers).or_else(|| {
            (status == 403 && (rate_limited(&headers) || says_rate_limit(&body)))
                .then_some(RATE_LIMIT_PAUSE)
        })
    };
    // An accepted status that asks us to wait (a rate limit) stays a (temporary) error.
    let accepted = req.accept.contains(&status) && retry_after.is_none();
    if (200..300).contains(&status) || (status == 304 && req.conditional) || accepted {
        let body = if status == 304 { Bytes::new() } else { body };
        return Ok(Response {
            url,
            status,
            headers,
            body,
        });
    }
    Err(Error::Status {
        url: url.to_string(),
        status,
        retry_after,
    })
}

/// The wait a 403 rate limit without a reset time asks for (GitHub: "wait at least one
/// minute" after a secondary rate limit). It marks the 403 temporary ([`Error::is_temporary`]).
const RATE_LIMIT_PAUSE: Duration = Duration::from_secs(60);

/// Whether an error body says it is a rate limit (GitHub's primary "API rate limit exceeded"
/// and "secondary rate limit" messages): the first 4 KiB, case-insensitively.
fn says_rate_limit(body: &[u8]) -> bool {
    let head = &body[..body.len().min(4096)];
    String::from_utf8_lossy(head)
        .to_ascii_lowercase()
        .contains("rate limit")
}

/// Refuses non-http(s) URLs and IP-literal hosts the policy forbids (names are checked by the
/// Whether a redirect with `status` repeats the method and body (307, 308); the others are
/// followed with a `GET`, as browsers do.
fn keeps_body(status: u16) -> bool {
    matches!(status, 307 | 308)
}

/// resolver, on the addresses they resolve to).
fn check_url(policy: &NetworkPolicy, url: &Url) -> Result<(), Error> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Refused {
            url: url.to_string(),
            reason: format!("scheme {:?} is not http or https", url.scheme()),
        });
    }
    match url.host() {
        None => Err(Error::Refused {
            url: url.to_string(),
            reason: "no host".to_owned(),
        }),
        Some(url::Host::Ipv4(ip)) => policy.check(ip.into()).map_err(|reason| Error::Refused {
            url: url.to_string(),
            reason,
        }),
        Some(url::Host::Ipv6(ip)) => policy.check(ip.into()).map_err(|reason| Error::Refused {
            url: url.to_string(),
            reason,
        }),
        Some(url::Host::Domain(_)) => Ok(()),
    }
}

fn map_reqwest(url: &Url, e: reqwest::Error) -> Error {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<guard::RefusedAddress>() {
            return Error::Refused {
                url: url.to_string(),
                reason: refused.0.clone(),
            };
        }
        source = s.source();
    }
    let mut message = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        message.push_str(": ");
        message.push_str(&s.to_string());
        src = s.source();
    }
    // reqwest's messages may embed the URL; ours is in the variant already.
    Error::Network {
        url: url.to_string(),
        message,
        timeout: e.is_timeout(),
    }
}

fn location(base: &Url, headers: &HeaderMap) -> Option<Url> {
    let loc = headers.get(header::LOCATION)?.to_str().ok()?;
    base.join(loc).ok()
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn rate_limited(headers: &HeaderMap) -> bool {
    header_u64(headers, "x-ratelimit-remaining") == Some(0)
        || header_u64(headers, "ratelimit-remaining") == Some(0)
        || headers.contains_key(header::RETRY_AFTER)
}

/// How long the server asks us to wait: `Retry-After` first, then a rate-limit reset.
fn server_wait(headers: &HeaderMap) -> Option<Duration> {
    if let Some(v) = headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if let Ok(secs) = v.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        if let Ok(t) = chrono::DateTime::parse_from_rfc2822(v) {
            let at = SystemTime::from(t);
            return Some(at.duration_since(SystemTime::now()).unwrap_or_default());
        }
    }
    let remaining = header_u64(headers, "x-ratelimit-remaining")
        .or_else(|| header_u64(headers, "ratelimit-remaining"));
    if remaining == Some(0) {
        return rate_limit_reset(headers);
    }
    None
}

/// `X-RateLimit-Reset` (epoch seconds, GitHub) or `RateLimit-Reset` (epoch seconds on GitLab,
/// delta seconds in the IETF draft: values below 10^9 are read as a delta).
fn rate_limit_reset(headers: &HeaderMap) -> Option<Duration> {
    let v = header_u64(headers, "x-ratelimit-reset")
        .or_else(|| header_u64(headers, "ratelimit-reset"))?;
    if v < 1_000_000_000 {
        return Some(Duration::from_secs(v));
    }
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    Some(Duration::from_secs(v.saturating_sub(now) + 1))
}

/// Headers worth keeping in a recording (never credentials or cookies).
fn recordable_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    const KEEP: &[&str] = &[
        "content-type",
        "etag",
        "last-modified",
        "link",
        "location",
        "x-total-count",
        "x-next-page",
        "x-total",
    ];
    headers
        .iter()
        .filter(|(k, _)| KEEP.contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

#[cfg(test)]
mod tests;
