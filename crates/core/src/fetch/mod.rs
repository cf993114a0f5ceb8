//! The polite HTTP layer every importer uses.
//!
//! No tracker crate builds its own client (clippy's `disallowed-methods` enforces it): this
//! module owns everything that makes a crawl safe to run against other people's servers and
//! safe to point at URLs that site users typed in.
//!
//! * **Politeness**: at most [`FetchConfig::per_host_limit`] requests in flight per host, an
//!   optional delay between request starts to one host, and (in [`crate::ImportContext`]) at
//!   most `max_connections` per tracker.
//! * **Layers**: the client is a stack of [`Transport`]s, each wrapping the one below — the
//!   recorder (`--record`) over the retries over the politeness per host over the network (or,
//!   with `--replay`, the replay index alone). [`HttpClient::with_transport`] puts a test's
//!   transport under the real retries and politeness.
//! * **Retries**: what is temporary — by default 408/425/429/5xx and a rate-limited 403, or
//!   what the request's classifier says ([`Request::classify`], [`Outcome`]) — as well as
//!   timeouts and connection failures, is retried with exponential back-off and equal jitter
//!   (from [`FetchConfig::jitter`], fixed in tests); `Retry-After` (seconds or HTTP date) and
//!   the rate-limit headers of GitHub (`X-RateLimit-Remaining/Reset`) and GitLab/IETF
//!   (`RateLimit-Remaining/Reset`) are honoured, waiting (with a log line) up to
//!   [`FetchConfig::max_wait`]. A 403 that only its body calls a rate limit (GitHub's
//!   secondary limit, which asks for at least a minute) is not retried: it fails as
//!   temporary, with a one-minute `retry_after`.
//! * **Errors**: a final answer that is not a success is [`Error::Status`] with its verdict and
//!   a bounded, redacted excerpt of the body ([`crate::body_excerpt`]).
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

mod classify;
mod guard;
mod polite;
mod replay;
mod retry;
mod stall;
mod transport;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
pub use http::Method;
use serde::{Deserialize, Serialize};
use url::Url;

pub use classify::{default_outcome, Answer, Classifier, Outcome};
pub use guard::{non_public_kind, NetworkPolicy};
pub use replay::normalize_url;
pub use retry::Jitter;
pub use transport::{RawAnswer, Transport};

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
    /// Where the back-off's jitter comes from ([`Jitter::random`]; a test fixes it).
    pub jitter: Jitter,
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
            jitter: Jitter::random(),
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
    /// The tracker's reading of an answer ([`Request::classify`]); `None` reads the status
    /// alone ([`default_outcome`]).
    pub classifier: Option<Classifier>,
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
            .field("classified", &self.classifier.is_some())
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
            classifier: None,
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

    /// Adds a header holding a secret (a token): marked sensitive so that it is never sent to
    /// another host, and registered with [`crate::redact`] so that no log, error excerpt or
    /// recording shows it. An invalid value (a newline in a token) is a configuration error
    /// that does not show the value.
    pub fn with_secret_header(mut self, name: HeaderName, value: &str) -> Result<Self, Error> {
        crate::redact::register(value);
        if let Some((_scheme, token)) = value.split_once(' ') {
            crate::redact::register(token);
        }
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

    /// Reads answers with the tracker's `classifier` before the status code: a function of
    /// the status, headers and body ([`Answer`]) giving an [`Outcome`], or `None` to leave the
    /// answer to [`default_outcome`]. The retry layer retries what it calls temporary (an
    /// idempotent request), and the final [`Error::Status`] carries its verdict for
    /// [`Error::is_temporary`] and [`Error::is_not_found`]. A `200` whose JSON says
    /// `"error_code": "ERR-CONDUIT-CORE"` can so be a temporary error, a `200` saying "no such
    /// object" a deletion, a `500` a success.
    ///
    /// ```
    /// use bugimporters_core::fetch::{Outcome, Request};
    /// let req = Request::get("https://phab.example/api/maniphest.search")
    ///     .unwrap()
    ///     .classify(|a| {
    ///         let code = a.json()?.get("error_code")?.as_str()?.to_owned();
    ///         Some(match code.as_str() {
    ///             "ERR-CONDUIT-CORE" => Outcome::Temporary,
    ///             _ => Outcome::Permanent,
    ///         })
    ///     });
    /// assert!(req.classifier.is_some());
    /// ```
    pub fn classify(
        mut self,
        classifier: impl Fn(&Answer<'_>) -> Option<Outcome> + Send + Sync + 'static,
    ) -> Self {
        self.classifier = Some(Classifier::new(classifier));
        self
    }

    /// The secret values the request carries (sensitive header values, secret form fields):
    /// redacted from the excerpt of an error's body even if never registered.
    fn secret_values(&self) -> Vec<&str> {
        let headers = self
            .headers
            .values()
            .filter(|v| v.is_sensitive())
            .filter_map(|v| v.to_str().ok());
        let fields = match &self.body {
            Some(Body::Form(fields)) => fields.iter().filter(|f| f.secret).collect(),
            _ => Vec::new(),
        };
        let mut values: Vec<&str> = headers.collect();
        values.extend(fields.into_iter().map(|f| f.value.as_str()));
        // A header `Bearer <token>` also hides the bare token.
        let bare: Vec<&str> = values
            .iter()
            .filter_map(|v| v.split_once(' ').map(|(_, t)| t.trim()))
            .filter(|t| t.len() >= crate::redact::MIN_SECRET_LEN)
            .collect();
        values.extend(bare);
        values
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

/// Counters shared by the client and its layers.
type Counters = Arc<Mutex<FetchCounters>>;

fn count(counters: &Counters, f: impl FnOnce(&mut FetchCounters)) {
    f(&mut counters.lock().expect("counters lock"));
}

/// The shared HTTP client of a run. Cheap to share behind an `Arc`.
///
/// It is assembled from layers, each a [`Transport`] wrapping the one below: the recorder
/// (`--record`) over the retries ([`Jitter`], [`Outcome`]) over the politeness per host over
/// the live network — or, with `--replay`, the replay index alone. Above them it adds the
/// validators of conditional requests and turns an answer into a [`Response`] or an
/// [`Error::Status`] (with its classification and a redacted excerpt of the body).
pub struct HttpClient {
    config: FetchConfig,
    stack: Arc<dyn Transport>,
    replay: bool,
    /// Scope → normalised URL → validators.
    validators: Mutex<ValidatorMap>,
    counters: Counters,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("replay", &self.replay)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// Builds the client. With `replay_dir` set, loads the index and makes no network access.
    pub fn new(config: FetchConfig) -> Result<Self, Error> {
        let counters = Counters::default();
        if let Some(dir) = &config.replay_dir {
            let index = replay::ReplayTransport::load(dir, config.max_redirects, counters.clone())?;
            return Ok(HttpClient::assembled(
                config,
                Arc::new(index),
                true,
                counters,
            ));
        }
        let live = transport::LiveTransport::new(&config, counters.clone())?;
        HttpClient::layered(config, Arc::new(live), counters)
    }

    /// A client whose network is `transport` (a test's script), under the real retries,
    /// politeness per host and (with `record_dir`) recorder; `replay_dir` is ignored. The
    /// counters count the retries; requests and bytes are the transport's to count, and a
    /// plugged one counts none.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use bugimporters_core::fetch::{FetchConfig, HttpClient, RawAnswer, Request, Transport};
    /// struct Teapot;
    /// #[async_trait::async_trait]
    /// impl Transport for Teapot {
    ///     async fn send(
    ///         &self,
    ///         req: &Request,
    ///         _headers: &http::HeaderMap,
    ///     ) -> Result<RawAnswer, bugimporters_core::Error> {
    ///         Ok(RawAnswer::new(req.url.clone(), 418).with_body("short and stout"))
    ///     }
    /// }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let c = HttpClient::with_transport(FetchConfig::default(), Arc::new(Teapot)).unwrap();
    /// let e = c.fetch(Request::get("https://x.example/").unwrap()).await.unwrap_err();
    /// assert_eq!(e.to_string(), r#"https://x.example/: HTTP 418, body "short and stout""#);
    /// # });
    /// ```
    pub fn with_transport(
        config: FetchConfig,
        transport: Arc<dyn Transport>,
    ) -> Result<Self, Error> {
        HttpClient::layered(config, transport, Counters::default())
    }

    /// `bottom` under politeness, retries and the recorder.
    fn layered(
        config: FetchConfig,
        bottom: Arc<dyn Transport>,
        counters: Counters,
    ) -> Result<Self, Error> {
        let polite = Arc::new(polite::Polite::new(bottom, &config));
        let retry: Arc<dyn Transport> =
            Arc::new(retry::Retry::new(polite, &config, counters.clone()));
        let stack: Arc<dyn Transport> = match &config.record_dir {
            Some(dir) => Arc::new(replay::Recording::new(retry, dir)?),
            None => retry,
        };
        Ok(HttpClient::assembled(config, stack, false, counters))
    }

    fn assembled(
        config: FetchConfig,
        stack: Arc<dyn Transport>,
        replay: bool,
        counters: Counters,
    ) -> Self {
        HttpClient {
            config,
            stack,
            replay,
            validators: Mutex::new(HashMap::new()),
            counters,
        }
    }

    /// The settings this client was built with.
    pub fn config(&self) -> &FetchConfig {
        &self.config
    }

    /// Whether the client answers from a replay directory.
    pub fn is_replay(&self) -> bool {
        self.replay
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

    /// Performs `req` with every behaviour of the module docs. Returns the response for an
    /// answer classified a success (2xx by default; see [`Request::classify`]), a 304 when
    /// conditional, and an accepted status ([`Request::accept_status`]); anything else is
    /// [`Error::Status`].
    pub async fn fetch(&self, req: Request) -> Result<Response, Error> {
        // Validators are the live client's: a replay answers from its index alone.
        let conditional = !self.replay && req.conditional && req.body.is_none();
        let headers = self.outgoing_headers(&req, conditional);
        let answer = self.stack.send(&req, &headers).await?;
        let mut resp = finish(answer, &req)?;
        if resp.not_modified() {
            count(&self.counters, |c| c.not_modified += 1);
        }
        if conditional && (200..300).contains(&resp.status) {
            self.store_validators(&req.scope, req.url.as_str(), &resp.headers);
        }
        if conditional && resp.not_modified() {
            self.restore_link(&req.scope, req.url.as_str(), &mut resp.headers);
        }
        Ok(resp)
    }

    /// The request's headers, with the stored validators when it is conditional.
    fn outgoing_headers(&self, req: &Request, conditional: bool) -> HeaderMap {
        let mut headers = req.headers.clone();
        let stored = conditional
            .then(|| self.validators(&req.scope, req.url.as_str()))
            .flatten();
        if let Some(v) = stored {
            let value = |s: Option<&str>| s.and_then(|e| HeaderValue::from_str(e).ok());
            if let Some(etag) = value(v.etag.as_deref()) {
                headers.insert(header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = value(v.last_modified.as_deref()) {
                headers.insert(header::IF_MODIFIED_SINCE, lm);
            }
        }
        headers
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

/// An answer as the caller gets it: a [`Response`] for a success (by the request's
/// classifier, else [`classify::default_outcome`]), a 304 to a conditional request, or an
/// accepted status that does not ask us to wait; otherwise an [`Error::Status`] carrying the
/// verdict, the wait the server asked for and a redacted excerpt of the body.
fn finish(answer: RawAnswer, req: &Request) -> Result<Response, Error> {
    let RawAnswer {
        url,
        status,
        headers,
        body,
    } = answer;
    if status == 304 && req.conditional {
        return Ok(Response {
            url,
            status,
            headers,
            body: Bytes::new(),
        });
    }
    let answer = RawAnswer {
        url,
        status,
        headers,
        body,
    };
    let (outcome, by_classifier) = classify::outcome(req, &answer);
    let retry_after = match outcome {
        Outcome::Success => None,
        _ => classify::pause(&answer),
    };
    // An accepted status that asks us to wait (a rate limit), or that the request's own
    // classifier calls temporary, stays a (temporary) error.
    let accepted = req.accept.contains(&status)
        && retry_after.is_none()
        && !(by_classifier && outcome == Outcome::Temporary);
    if outcome == Outcome::Success || accepted {
        return Ok(Response {
            url: answer.url,
            status,
            headers: answer.headers,
            body: answer.body,
        });
    }
    Err(Error::Status {
        url: answer.url.to_string(),
        status,
        retry_after,
        excerpt: crate::error::body_excerpt(&answer.body, &req.secret_values()),
        outcome: Some(outcome),
    })
}

#[cfg(test)]
mod layer_tests;
#[cfg(test)]
mod tests;
