//! The [`Importer`] trait and the [`ImportContext`] it works through.

use std::any::{Any, TypeId};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::NaiveDateTime;
use serde::Serialize;
use tokio::sync::{mpsc, Semaphore};

use crate::fetch::{HttpClient, Request, Response};
use crate::secrets::SecretSource;
use crate::{Error, LinkScope, ParsedBug};

fn strip_config(e: &Error) -> String {
    match e {
        Error::Config { message } => message.clone(),
        other => other.to_string(),
    }
}

/// What a tracker type does: run its queries, and refresh the bugs the host already holds.
///
/// An importer is built from one [`crate::TrackerConfig`] by its [`crate::ImporterFactory`]
/// and keeps that configuration. Both entry points emit bugs through
/// [`ImportContext::emit`] as soon as they are parsed, so memory does not grow with the
/// number of bugs. A bug that fails (a parse error, a 500 after retries) is reported through
/// [`ImportContext::report_error`] and the importer goes on; returning `Err` means the whole
/// entry point failed (the query list could not be fetched at all, say).
///
/// The trait is object-safe: the crawl holds `Arc<dyn Importer>`.
#[async_trait]
pub trait Importer: std::fmt::Debug + Send + Sync + 'static {
    /// Runs every query of the configuration and emits the bugs they name.
    async fn process_queries(&self, ctx: &ImportContext) -> Result<(), Error>;

    /// Refreshes `urls`, the canonical links of bugs the host already holds: emits an updated
    /// record, a `_no_update` record when the tracker says nothing changed, or a `_deleted`
    /// record when the tracker says the bug is gone (404/410).
    async fn process_existing_bugs(
        &self,
        ctx: &ImportContext,
        urls: &[String],
    ) -> Result<(), Error>;
}

/// Options of one run that importers may read.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ImportOptions {
    /// The time written as `last_polled` (fixed with `--now` for reproducible output).
    pub now: NaiveDateTime,
    /// `--extended-scrape`: fill `raw_data` where the tracker supports it.
    pub extended_scrape: bool,
    /// Where [`ImportContext::secret`] reads credentials (the environment by default).
    pub secrets: Arc<dyn SecretSource>,
    /// Whose conditional-request validators the run uses and updates (see
    /// [`crate::fetch::Request::scope`]); `None`: the tracker's name. `bugimporters serve`
    /// gives each run of a tracker a scope of its own, loaded from and saved to the host
    /// database, so that a run whose records were not stored never leaves validators behind.
    pub validator_scope: Option<String>,
}

impl ImportOptions {
    /// Options with `now`, no extended scrape, and secrets from the environment.
    pub fn new(now: NaiveDateTime) -> Self {
        ImportOptions {
            now,
            extended_scrape: false,
            secrets: Arc::new(crate::secrets::EnvSecrets),
            validator_scope: None,
        }
    }

    /// These options with secrets read from `secrets`.
    pub fn with_secrets(mut self, secrets: Arc<dyn SecretSource>) -> Self {
        self.secrets = secrets;
        self
    }
}

/// One error reported during a tracker's run.
#[derive(Debug, Clone, Serialize)]
pub struct ReportedError {
    /// The URL concerned, when there is one.
    pub url: Option<String>,
    /// What went wrong.
    pub reason: String,
    /// Whether a later run may succeed.
    pub temporary: bool,
}

impl ReportedError {
    /// The report entry of `error`: its URL and its reason (without the tracker wrapper),
    /// scrubbed of secrets (see [`crate::redact`]).
    pub fn new(error: &Error) -> Self {
        ReportedError::with_reason(
            error.url(),
            &error.inner().to_string(),
            error.is_temporary(),
        )
    }

    /// A report entry for `url` saying `reason`: the one way every entry is made, so that
    /// each is scrubbed of secrets and of URL userinfo (see [`crate::redact`]) alike.
    pub fn with_reason(url: Option<&str>, reason: &str, temporary: bool) -> Self {
        // A server may send URLs with userinfo (redirects, links): never print a password.
        let clean =
            |text: &str| crate::redact::scrub(&crate::link::redact_userinfo(text)).into_owned();
        ReportedError {
            url: url.map(clean),
            reason: clean(reason),
            temporary,
        }
    }
}

/// Counters of one tracker's run, for the run report.
#[derive(Debug, Default, Clone, Serialize)]
pub struct TrackerStats {
    /// Records written (every kind).
    pub bugs_emitted: u64,
    /// `_no_update` records among them.
    pub no_update: u64,
    /// `_deleted` records among them.
    pub deleted: u64,
    /// Deletion records withheld because the tracker's crawl failed or the bug was not one the
    /// host holds.
    pub deletions_withheld: u64,
    /// Requests made through the context.
    pub requests: u64,
    /// Successful responses (2xx/304).
    pub ok_responses: u64,
    /// Body bytes received.
    pub bytes: u64,
    /// Errors, each with URL and reason.
    pub errors: Vec<ReportedError>,
    /// Records an interrupted run had already written, kept instead of fetched again
    /// (`--resume`).
    pub resumed: u64,
    /// Errors not listed again in `errors`: further fast failures of a host whose circuit
    /// breaker is open (the first one is listed, once per host).
    pub suppressed_errors: u64,
    /// Records with at least one field cut to its size cap (see [`crate::limits`]).
    pub truncated: u64,
    /// Warnings: nothing failed, but the operator should know (a configuration rule that
    /// matches nothing, a fallback used). Each once, in order.
    pub warnings: Vec<String>,
    /// Per credential of a pool (GitHub tokens): the requests this tracker sent with it and
    /// what the last answer said it had left. Named by a non-secret label, never the secret.
    pub credentials: Vec<CredentialUse>,
}

/// What one credential of a rate-limited pool was used for (see
/// [`ImportContext::record_credential_use`]).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialUse {
    /// A label that names the credential without revealing it (`#1 9f3a61c2`: its position in
    /// the configured list and a 32-bit hash of the whole value).
    pub credential: String,
    /// Requests sent with it.
    pub requests: u64,
    /// Requests (GitHub: points) it had left by the last answer that said so.
    pub remaining: Option<u64>,
    /// When its window resets (epoch seconds), by the same answer.
    pub reset_epoch: Option<u64>,
}

impl CredentialUse {
    /// Folds `other` (the same credential, seen by another tracker or later) into `self`:
    /// requests add up; the remaining count of the latest window, and within one window the
    /// lowest (answers arrive out of order, and the count only falls within a window), wins.
    pub fn merge(&mut self, other: &CredentialUse) {
        self.requests += other.requests;
        let newer = match (self.reset_epoch, other.reset_epoch) {
            (Some(a), Some(b)) => b > a,
            (None, Some(_)) => true,
            _ => false,
        };
        if newer || self.remaining.is_none() {
            self.remaining = other.remaining;
            self.reset_epoch = other.reset_epoch;
        } else if self.reset_epoch == other.reset_epoch {
            self.remaining = match (self.remaining, other.remaining) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
}

/// Merges per-credential uses by label, in order of first appearance.
pub fn merge_credential_uses<'a>(
    uses: impl IntoIterator<Item = &'a CredentialUse>,
) -> Vec<CredentialUse> {
    let mut out: Vec<CredentialUse> = Vec::new();
    for u in uses {
        match out.iter_mut().find(|o| o.credential == u.credential) {
            Some(o) => o.merge(u),
            None => out.push(u.clone()),
        }
    }
    out
}

/// Totals of a run (see the crawl report).
#[derive(Debug, Default, Clone, Serialize)]
pub struct RunStats {
    /// Trackers attempted.
    pub trackers: u64,
    /// Trackers with at least one error.
    pub trackers_failed: u64,
    /// Records written.
    pub bugs_emitted: u64,
    /// Errors.
    pub errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    emitted: AtomicU64,
    no_update: AtomicU64,
    deleted: AtomicU64,
    withheld: AtomicU64,
    requests: AtomicU64,
    ok: AtomicU64,
    bytes: AtomicU64,
    resumed: AtomicU64,
    suppressed: AtomicU64,
    truncated: AtomicU64,
}

/// What an importer uses to fetch and to emit: the shared HTTP client with this tracker's
/// connection limit, the output channel, the clock and the error report.
///
/// `_deleted` records are held back until the tracker's run ends and written only if the run
/// worked (no entry point failed and no temporary failure — timeout, reset, 5xx, 429 — was
/// reported) and only for bugs the host holds, so that an outage or a flaky proxy can never
/// empty a host's database.
#[derive(Debug)]
pub struct ImportContext {
    tracker_name: String,
    project_name: String,
    client: Arc<HttpClient>,
    limit: Arc<Semaphore>,
    output: mpsc::Sender<ParsedBug>,
    options: ImportOptions,
    existing: HashSet<String>,
    written: HashSet<String>,
    seen: Mutex<HashSet<u128>>,
    /// The two keyed hashers of [`ImportContext::link_key`].
    seen_keys: (RandomState, RandomState),
    pending_deletions: Mutex<Vec<ParsedBug>>,
    errors: Mutex<Vec<ReportedError>>,
    /// Hosts whose open circuit breaker is already in `errors`.
    breaker_hosts: Mutex<HashSet<String>>,
    warnings: Mutex<Vec<String>>,
    credentials: Mutex<Vec<CredentialUse>>,
    counters: Counters,
    scope: Option<LinkScope>,
    /// What importers keep for the length of this run (see [`ImportContext::run_value`]).
    run_values: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl ImportContext {
    /// A context for one tracker. `max_connections` bounds this tracker's requests in flight;
    /// `existing_bug_urls` are the links a deletion may name.
    pub fn new(
        tracker_name: &str,
        client: Arc<HttpClient>,
        max_connections: usize,
        output: mpsc::Sender<ParsedBug>,
        options: ImportOptions,
        existing_bug_urls: &[String],
    ) -> Self {
        ImportContext {
            tracker_name: tracker_name.to_owned(),
            project_name: tracker_name.to_owned(),
            client,
            limit: Arc::new(Semaphore::new(max_connections.max(1))),
            output,
            options,
            existing: existing_bug_urls.iter().cloned().collect(),
            written: HashSet::new(),
            seen: Mutex::new(HashSet::new()),
            seen_keys: (RandomState::new(), RandomState::new()),
            pending_deletions: Mutex::new(Vec::new()),
            errors: Mutex::new(Vec::new()),
            breaker_hosts: Mutex::new(HashSet::new()),
            warnings: Mutex::new(Vec::new()),
            credentials: Mutex::new(Vec::new()),
            counters: Counters::default(),
            scope: None,
            run_values: Mutex::new(HashMap::new()),
        }
    }

    /// Continues a tracker whose run was interrupted (`crawl --resume`): `written` are the
    /// canonical links whose records the interrupted run already wrote. They are claimed in
    /// advance, so importers that fetch bug by bug do not fetch them again, and a record for
    /// one of them (from a list page fetched again) is not written twice.
    pub fn resuming(mut self, written: HashSet<String>) -> Self {
        {
            let keys: Vec<u128> = written.iter().map(|l| self.link_key(l)).collect();
            self.seen.get_mut().expect("seen lock").extend(keys);
        }
        *self.counters.resumed.get_mut() = written.len() as u64;
        self.written = written;
        self
    }

    /// Sets the links this tracker owns ([`crate::Registry::link_scope`]; the crawl always
    /// sets it): [`ImportContext::emit`] then drops every record whose `canonical_bug_link` is
    /// not in `scope`. Without a scope only the URL rules are checked (absolute http(s), no
    /// userinfo).
    pub fn with_link_scope(mut self, scope: LinkScope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// The value of type `T` this run keeps: made by `init` on the first call, the same value
    /// on every later call with this context. An importer keeps its per-run state here (a
    /// client with this run's credentials, what its queries learnt for the refresh of held
    /// bugs), never in its own fields: the importer outlives the run, the context does not.
    pub fn run_value<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Arc<T> {
        let mut values = self.run_values.lock().expect("run values lock");
        let value = values
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(init()))
            .clone();
        drop(values);
        value.downcast::<T>().expect("keyed by its type")
    }

    /// `tracker_name` of the configuration.
    pub fn tracker_name(&self) -> &str {
        &self.tracker_name
    }

    /// The time to write as `last_polled`.
    pub fn now(&self) -> NaiveDateTime {
        self.options.now
    }

    /// The run's options.
    pub fn options(&self) -> &ImportOptions {
        &self.options
    }

    /// The scope of this run's conditional-request validators: [`ImportOptions::validator_scope`],
    /// else the tracker's name.
    pub fn validator_scope(&self) -> &str {
        self.options
            .validator_scope
            .as_deref()
            .unwrap_or(&self.tracker_name)
    }

    /// The shared HTTP client (for its settings; fetch through [`ImportContext::fetch`]).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// A secret (`GITHUB_TOKEN`, ...) from the run's [`ImportOptions::secrets`]: the
    /// environment unless the run was given another source (`--secrets-file`, an in-memory
    /// map in tests). Empty values count as unset. Secrets never come from the config file.
    /// The value is registered with [`crate::redact`], so no log line, error, report or
    /// recording of this process shows it.
    pub fn secret(&self, name: &str) -> Option<String> {
        let value = self.options.secrets.get(name)?;
        crate::redact::register(&value);
        Some(value)
    }

    /// GETs `url` through the fetch layer, within this tracker's connection limit. Errors name
    /// the tracker and the URL.
    pub async fn get(&self, url: &str) -> Result<Response, Error> {
        let req = Request::get(url).map_err(|e| e.in_tracker(&self.tracker_name))?;
        self.fetch(req).await
    }

    /// Performs `req` through the fetch layer, within this tracker's connection limit. A
    /// request without a validator scope gets this tracker's name as its scope.
    pub async fn fetch(&self, mut req: Request) -> Result<Response, Error> {
        if req.scope.is_empty() {
            self.validator_scope().clone_into(&mut req.scope);
        }
        let _permit = self.limit.acquire().await.map_err(|_| Error::Closed)?;
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let result = self.client.fetch(req).await;
        if let Ok(resp) = &result {
            self.counters.ok.fetch_add(1, Ordering::Relaxed);
            self.counters
                .bytes
                .fetch_add(resp.body.len() as u64, Ordering::Relaxed);
        }
        result.map_err(|e| e.in_tracker(&self.tracker_name))
    }

    /// Claims `canonical_link` for this run: `true` the first time, `false` after, so that a
    /// bug named by two queries (or by a query and the existing list) is fetched once.
    pub fn claim(&self, canonical_link: &str) -> bool {
        self.seen
            .lock()
            .expect("seen lock")
            .insert(self.link_key(canonical_link))
    }

    /// The key `claim` remembers for a link: 128 bits from two independently, randomly keyed
    /// SipHash hashers (16 bytes a link instead of the link itself). Two links of one run share
    /// a key with a probability near n²/2¹²⁹ (about 10⁻²⁷ for a million links), and a tracker
    /// cannot craft a collision to have one of its bugs dropped, as it could with one
    /// fixed-key 64-bit hash.
    fn link_key(&self, canonical_link: &str) -> u128 {
        let (a, b) = &self.seen_keys;
        (u128::from(a.hash_one(canonical_link)) << 64) | u128::from(b.hash_one(canonical_link))
    }

    /// Whether the host holds `canonical_link` (it is in `existing_bug_urls`).
    pub fn is_existing(&self, canonical_link: &str) -> bool {
        self.existing.contains(canonical_link)
    }

    /// Emits a record. `_tracker_name`, `_project_name` (the tracker name) and `last_polled`
    /// are filled in when the importer left them empty. Waits when the writer is behind
    /// (back-pressure keeps memory flat). Deletions are held back (see the type docs).
    pub async fn emit(&self, mut bug: ParsedBug) -> Result<(), Error> {
        if !self.written.is_empty() && self.written.contains(&bug.canonical_bug_link) {
            return Ok(());
        }
        if !self.check_owned(&bug) {
            return Ok(());
        }
        if bug.tracker_name.is_none() {
            bug.tracker_name = Some(self.tracker_name.clone());
        }
        if bug.project_name.is_none() {
            bug.project_name = Some(self.project_name.clone());
        }
        if bug.last_polled.is_none() {
            bug.last_polled = Some(self.options.now);
        }
        if !self.apply_limits(&mut bug) {
            return Ok(());
        }
        if bug.deleted {
            if self.is_existing(&bug.canonical_bug_link) {
                self.pending_deletions
                    .lock()
                    .expect("deletions lock")
                    .push(bug);
            } else {
                tracing::info!(tracker = %self.tracker_name, url = %bug.canonical_bug_link, "gone, but not a bug the host holds; no deletion record");
                self.counters.withheld.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(());
        }
        self.send(bug).await
    }

    /// Whether `bug`'s link is an http(s) URL without userinfo that this tracker owns (in its
    /// scope, or one of the host's held links of this tracker, which may predate a move of
    /// the instance); when
    /// not, reports the dropped record once (tracker and a bounded, redacted link) and says
    /// `false`.
    fn check_owned(&self, bug: &ParsedBug) -> bool {
        let link = &bug.canonical_bug_link;
        let reason = match (crate::link::check_http_url(link), &self.scope) {
            (Err(e), _) => format!("record dropped: its canonical_bug_link is unusable: {}", strip_config(&e)),
            (Ok(_), Some(scope)) if !scope.owns(link) && !self.is_existing(link) => format!(
                "record dropped: canonical_bug_link {} is not a link this tracker owns (it owns {scope})",
                crate::link::quote_url(link)
            ),
            _ => return true,
        };
        tracing::warn!(tracker = %self.tracker_name, url = %crate::link::bounded_url(link), "{reason}");
        self.errors
            .lock()
            .expect("errors lock")
            .push(ReportedError::with_reason(
                Some(&crate::link::bounded_url(link)),
                &reason,
                false,
            ));
        false
    }

    /// Applies the size caps of [`crate::limits`]; `false` when the record must be dropped
    /// (reported as an error).
    fn apply_limits(&self, bug: &mut ParsedBug) -> bool {
        match bug.enforce_limits() {
            Ok(cut) if cut.is_empty() => true,
            Ok(cut) => {
                tracing::info!(tracker = %self.tracker_name, url = %bug.canonical_bug_link, fields = ?cut, "fields cut to their size cap");
                self.counters.truncated.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                self.report_error(e);
                false
            }
        }
    }

    async fn send(&self, bug: ParsedBug) -> Result<(), Error> {
        if bug.no_update {
            self.counters.no_update.fetch_add(1, Ordering::Relaxed);
        }
        if bug.deleted {
            self.counters.deleted.fetch_add(1, Ordering::Relaxed);
        }
        self.output.send(bug).await.map_err(|_| Error::Closed)?;
        self.counters.emitted.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Records a per-bug or per-page failure (logged with tracker, URL and reason, counted in
    /// the report); the importer goes on.
    pub fn report_error(&self, error: Error) {
        let error = error.in_tracker(&self.tracker_name);
        if let Error::HostUnavailable { host, .. } = error.inner() {
            if !self
                .breaker_hosts
                .lock()
                .expect("breaker lock")
                .insert(host.clone())
            {
                self.counters.suppressed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let reported = ReportedError::new(&error);
        tracing::warn!(tracker = %self.tracker_name, url = reported.url.as_deref().unwrap_or(""), error = %reported.reason, "failed");
        self.errors.lock().expect("errors lock").push(reported);
    }

    /// Records a warning for the run report (logged once; the same text again is ignored).
    /// A warning is no failure: it neither fails the tracker nor withholds deletions.
    pub fn report_warning(&self, message: impl Into<String>) {
        let message = message.into();
        let mut w = self.warnings.lock().expect("warnings lock");
        if !w.contains(&message) {
            tracing::warn!(tracker = %self.tracker_name, "{message}");
            w.push(message);
        }
    }

    /// Counts one request sent with the pooled credential `label` (a non-secret name, see
    /// [`CredentialUse::credential`]) and what its answer said of the credential's budget
    /// (`None` when it said nothing), for the run report.
    pub fn record_credential_use(
        &self,
        label: &str,
        remaining: Option<u64>,
        reset_epoch: Option<u64>,
    ) {
        let seen = CredentialUse {
            credential: label.to_owned(),
            requests: 1,
            remaining,
            reset_epoch,
        };
        let mut uses = self.credentials.lock().expect("credentials lock");
        match uses.iter_mut().find(|u| u.credential == label) {
            Some(u) => u.merge(&seen),
            None => uses.push(seen),
        }
    }

    /// Ends the tracker's run: writes the held-back deletions if the run worked (`run_ok` and
    /// no temporary failure reported), and returns the tracker's counters.
    pub async fn finish(&self, run_ok: bool) -> TrackerStats {
        let deletions =
            std::mem::take(&mut *self.pending_deletions.lock().expect("deletions lock"));
        let flaky = self
            .errors
            .lock()
            .expect("errors lock")
            .iter()
            .any(|e| e.temporary);
        let healthy = run_ok && !flaky;
        if healthy {
            for d in deletions {
                if self.send(d).await.is_err() {
                    break;
                }
            }
        } else if !deletions.is_empty() {
            tracing::warn!(tracker = %self.tracker_name, withheld = deletions.len(), "the crawl of this tracker failed; no deletion records written");
            self.counters
                .withheld
                .fetch_add(deletions.len() as u64, Ordering::Relaxed);
        }
        let c = &self.counters;
        TrackerStats {
            bugs_emitted: c.emitted.load(Ordering::Relaxed),
            no_update: c.no_update.load(Ordering::Relaxed),
            deleted: c.deleted.load(Ordering::Relaxed),
            deletions_withheld: c.withheld.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            ok_responses: c.ok.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            errors: self.errors.lock().expect("errors lock").clone(),
            resumed: c.resumed.load(Ordering::Relaxed),
            suppressed_errors: c.suppressed.load(Ordering::Relaxed),
            truncated: c.truncated.load(Ordering::Relaxed),
            warnings: self.warnings.lock().expect("warnings lock").clone(),
            credentials: self.credentials.lock().expect("credentials lock").clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::FetchConfig;

    fn ctx(existing: &[String]) -> (ImportContext, mpsc::Receiver<ParsedBug>) {
        let client = Arc::new(HttpClient::new(FetchConfig::default()).unwrap());
        let (tx, rx) = mpsc::channel(16);
        let now = crate::time::parse_datetime("2020-01-01T00:00:00").unwrap();
        (
            ImportContext::new("T", client, 2, tx, ImportOptions::new(now), existing),
            rx,
        )
    }

    #[test]
    fn credential_uses_merge_by_label_latest_window_lowest_count() {
        let used = |label: &str, requests, remaining, reset| CredentialUse {
            credential: label.to_owned(),
            requests,
            remaining,
            reset_epoch: reset,
        };
        let merged = merge_credential_uses(&[
            used("#1 a", 3, Some(10), Some(100)),
            used("#2 b", 1, None, None),
            used("#1 a", 2, Some(12), Some(100)),
            used("#2 b", 4, Some(40), Some(200)),
            used("#1 a", 1, Some(4_999), Some(3_700)),
            used("#1 a", 1, Some(5_000), Some(100)),
        ]);
        assert_eq!(
            merged,
            vec![
                used("#1 a", 7, Some(4_999), Some(3_700)),
                used("#2 b", 5, Some(40), Some(200)),
            ]
        );
        let (ctx, _rx) = ctx(&[]);
        ctx.record_credential_use("#1 a", Some(9), Some(50));
        ctx.record_credential_use("#1 a", None, None);
        assert_eq!(
            ctx.credentials.lock().unwrap().clone(),
            vec![used("#1 a", 2, Some(9), Some(50))]
        );
    }

    #[tokio::test]
    async fn emit_fills_bookkeeping() {
        let (ctx, mut rx) = ctx(&[]);
        ctx.emit(ParsedBug::new("http://x/1")).await.unwrap();
        let bug = rx.recv().await.unwrap();
        assert_eq!(bug.tracker_name.as_deref(), Some("T"));
        assert_eq!(bug.project_name.as_deref(), Some("T"));
        assert!(bug.last_polled.is_some());
    }

    #[tokio::test]
    async fn emit_drops_links_the_tracker_does_not_own() {
        // Another tracker's bug: not in this tracker's held links.
        let held = "http://legit.example/trac/ticket/7".to_owned();
        let (ctx, mut rx) = ctx(&["https://old-name.example/o/r/issues/3".to_owned()]);
        let ctx = ctx.with_link_scope(LinkScope::under("https://github.com/o/r/issues/").unwrap());
        let now = ctx.now();
        ctx.emit(ParsedBug::new("https://github.com/o/r/issues/1"))
            .await
            .unwrap();
        ctx.emit(ParsedBug::new(held.clone())).await.unwrap();
        ctx.emit(ParsedBug::deleted(&held, "T", "T", now))
            .await
            .unwrap();
        ctx.emit(ParsedBug::new("javascript:alert(document.cookie)"))
            .await
            .unwrap();
        ctx.emit(ParsedBug::new("https://bob:S3cret@github.com/o/r/issues/2"))
            .await
            .unwrap();
        let long = format!("https://evil.example/{}", "a".repeat(100_000));
        ctx.emit(ParsedBug::new(long)).await.unwrap();
        // A held link of this tracker from before a move of the instance may be refreshed.
        let mut moved = ParsedBug::new("https://old-name.example/o/r/issues/3");
        moved.no_update = true;
        ctx.emit(moved).await.unwrap();
        let stats = ctx.finish(true).await;
        assert_eq!((stats.bugs_emitted, stats.deleted), (2, 0));
        assert_eq!(stats.errors.len(), 5, "one error per dropped record");
        let reasons: Vec<String> = stats
            .errors
            .iter()
            .map(|e| format!("{} {}", e.url.as_deref().unwrap_or(""), e.reason))
            .collect();
        assert!(
            reasons[0].contains("legit.example/trac/ticket/7"),
            "{reasons:?}"
        );
        assert!(reasons[0].contains("github.com/o/r/issues/"), "{reasons:?}");
        assert!(
            reasons
                .iter()
                .all(|r| !r.contains("S3cret") && r.len() < 1000),
            "{reasons:?}"
        );
        assert_eq!(
            rx.recv().await.unwrap().canonical_bug_link,
            "https://github.com/o/r/issues/1"
        );
        assert!(rx.recv().await.unwrap().no_update);
        drop(ctx);
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn reported_errors_never_show_url_passwords() {
        let (ctx, _rx) = ctx(&[]);
        ctx.report_error(Error::status_error(
            "http://bob:S3cret@x.example/redirected",
            500,
        ));
        let stats = ctx.finish(true).await;
        let shown = format!("{:?}", stats.errors);
        assert!(
            !shown.contains("S3cret") && shown.contains("x.example"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn emit_without_a_scope_still_refuses_script_links() {
        let (ctx, mut rx) = ctx(&[]);
        ctx.emit(ParsedBug::new("data:text/html,<script>x</script>"))
            .await
            .unwrap();
        ctx.emit(ParsedBug::new("http://x/1")).await.unwrap();
        let stats = ctx.finish(true).await;
        assert_eq!((stats.bugs_emitted, stats.errors.len()), (1, 1));
        assert_eq!(rx.recv().await.unwrap().canonical_bug_link, "http://x/1");
    }

    #[tokio::test]
    async fn deletions_need_a_healthy_run_and_a_held_bug() {
        let (ctx, mut rx) = ctx(&["http://x/1".to_owned()]);
        let now = ctx.now();
        ctx.emit(ParsedBug::deleted("http://x/1", "T", "T", now))
            .await
            .unwrap();
        ctx.emit(ParsedBug::deleted("http://x/2", "T", "T", now))
            .await
            .unwrap();
        // A timeout elsewhere in this tracker's run: nothing is deleted.
        ctx.report_error(Error::Network {
            url: "http://x/3".into(),
            message: "timed out".into(),
            timeout: true,
            source: None,
        });
        let stats = ctx.finish(true).await;
        assert_eq!(stats.deleted, 0);
        assert_eq!(stats.deletions_withheld, 2);
        drop(ctx);
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn deletions_of_held_bugs_are_written_after_a_healthy_run() {
        let (ctx, mut rx) = ctx(&["http://x/1".to_owned()]);
        let now = ctx.now();
        ctx.emit(ParsedBug::deleted("http://x/1", "T", "T", now))
            .await
            .unwrap();
        assert!(rx.try_recv().is_err(), "held back until the run ends");
        let stats = ctx.finish(true).await;
        assert_eq!(stats.deleted, 1);
        assert!(rx.recv().await.unwrap().deleted);
        let (ctx2, _rx2) = super::tests::ctx(&["http://x/1".to_owned()]);
        ctx2.emit(ParsedBug::deleted("http://x/1", "T", "T", now))
            .await
            .unwrap();
        assert_eq!(
            ctx2.finish(false).await.deleted,
            0,
            "a failed run deletes nothing"
        );
    }

    #[tokio::test]
    async fn resuming_skips_what_the_interrupted_run_wrote() {
        let (ctx, mut rx) = ctx(&[]);
        let ctx = ctx.resuming(HashSet::from(["http://x/1".to_owned()]));
        assert!(
            !ctx.claim("http://x/1"),
            "already written: not fetched again"
        );
        assert!(ctx.claim("http://x/2"));
        ctx.emit(ParsedBug::new("http://x/1")).await.unwrap();
        ctx.emit(ParsedBug::new("http://x/2")).await.unwrap();
        let stats = ctx.finish(true).await;
        assert_eq!((stats.bugs_emitted, stats.resumed), (1, 1));
        assert_eq!(rx.recv().await.unwrap().canonical_bug_link, "http://x/2");
    }

    #[test]
    fn run_values_live_as_long_as_the_context() {
        let (ctx, _rx) = ctx(&[]);
        let first = ctx.run_value(|| std::sync::atomic::AtomicU64::new(7));
        first.store(8, Ordering::Relaxed);
        let again = ctx.run_value(|| std::sync::atomic::AtomicU64::new(0));
        assert_eq!(again.load(Ordering::Relaxed), 8, "made once per context");
        let (other, _rx2) = super::tests::ctx(&[]);
        let fresh = other.run_value(|| std::sync::atomic::AtomicU64::new(0));
        assert_eq!(
            fresh.load(Ordering::Relaxed),
            0,
            "another run starts afresh"
        );
    }

    #[test]
    fn claim_is_once_per_link() {
        let (ctx, _rx) = ctx(&[]);
        assert!(ctx.claim("http://x/1"));
        assert!(!ctx.claim("http://x/1"));
        assert!(ctx.claim("http://x/2"));
    }

    #[tokio::test]
    async fn an_open_circuit_breaker_is_reported_once_per_host() {
        let (ctx, _rx) = ctx(&[]);
        for i in 0..1000 {
            ctx.report_error(Error::HostUnavailable {
                url: format!("http://dead/{i}"),
                host: "dead:80".into(),
                failures: 16,
            });
        }
        ctx.report_error(Error::HostUnavailable {
            url: "http://other/1".into(),
            host: "other:80".into(),
            failures: 16,
        });
        let stats = ctx.finish(true).await;
        assert_eq!(stats.errors.len(), 2, "{:?}", stats.errors);
        assert_eq!(stats.suppressed_errors, 999);
        assert!(stats.errors.iter().all(|e| e.temporary));
    }

    #[tokio::test]
    async fn emit_caps_oversize_fields_and_drops_oversize_links() {
        let (ctx, mut rx) = ctx(&[]);
        let mut bug = ParsedBug::new("http://x/1");
        bug.description = Some("&amp;".repeat(1_000_000));
        ctx.emit(bug).await.unwrap();
        let huge_link = format!("http://x/{}", "9".repeat(100_000));
        ctx.emit(ParsedBug::new(huge_link)).await.unwrap();
        let stats = ctx.finish(true).await;
        assert_eq!((stats.bugs_emitted, stats.truncated), (1, 1));
        assert_eq!(stats.errors.len(), 1);
        let got = rx.recv().await.unwrap();
        let desc = got.description.unwrap();
        assert!(desc.len() <= crate::limits::MAX_DESCRIPTION_BYTES);
        assert!(desc.ends_with(crate::limits::TRUNCATION_MARKER));
    }
}
