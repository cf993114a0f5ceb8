//! The process-wide batcher: repositories asked for at about the same time by the importers
//! of one GraphQL endpoint and credential pool go out in one query.
//!
//! Each importer queues its [`Ask`] and then either waits for its answer or, when fewer
//! than [`MAX_IN_FLIGHT`] queries of this batcher are out, becomes the sender: it waits
//! [`WINDOW`] for more asks (unless [`MAX_BATCH`] already wait), takes up to `MAX_BATCH`
//! of them (its own or not, oldest first), POSTs the query through its own context and
//! hands every importer its repository's answer. While queries are out, new asks pile up, so
//! a busy crawl sends full batches. An ask whose sender went away unanswered (its tracker
//! was abandoned) is queued again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use bugimporters_core::{Error, ImportContext};
use futures::channel::oneshot;
use serde_json::json;
use tokio::sync::Notify;

use super::{query_document, split_response, RepoPage, MAX_BATCH, NODES_PER_ISSUE};
use crate::client::GitHubClient;

/// Queries of one batcher out at once.
pub const MAX_IN_FLIGHT: usize = 4;

/// Most issues asked for in one query: GitHub refuses a query that may return more than
/// 500 000 nodes, and each issue may bring [`NODES_PER_ISSUE`].
pub const MAX_ISSUES: u64 = 500_000 / NODES_PER_ISSUE;

// A full batch of continuations stays under the node limit, with ~40 full pages a query.
const _: () = assert!(MAX_ISSUES * NODES_PER_ISSUE <= 500_000 && MAX_ISSUES >= 40 * 100);

/// How long a sender waits for more repositories before sending a batch that is not full.
pub const WINDOW: Duration = Duration::from_millis(20);

/// One page of one repository, as an importer asks for it.
#[derive(Debug, Clone)]
pub(crate) struct Ask {
    /// Repository owner.
    pub(crate) owner: String,
    /// Repository name.
    pub(crate) name: String,
    /// The cursor after which to list (`None`: the first page).
    pub(crate) after: Option<String>,
    /// Issues asked for (clamped to 1..=100 in the query).
    pub(crate) first: u64,
}

struct Waiting {
    ask: Ask,
    reply: oneshot::Sender<Result<RepoPage, Error>>,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Waiting>,
    in_flight: usize,
}

/// The batcher of one GraphQL endpoint and credential pool.
pub(crate) struct Batcher {
    endpoint: String,
    queue: Mutex<Queue>,
    /// Woken when a query's answer has been handed out (a sending slot is free).
    freed: Notify,
}

type Key = (String, usize);

static BATCHERS: LazyLock<Mutex<HashMap<Key, Arc<Batcher>>>> = LazyLock::new(Default::default);

/// The batcher of `endpoint` for the credential pool `pool` (one per process).
pub(crate) fn shared(endpoint: &str, pool: usize) -> Arc<Batcher> {
    let mut all = BATCHERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    all.entry((endpoint.to_owned(), pool))
        .or_insert_with(|| {
            Arc::new(Batcher {
                endpoint: endpoint.to_owned(),
                queue: Mutex::new(Queue::default()),
                freed: Notify::new(),
            })
        })
        .clone()
}

/// A claimed sending slot, freed (and the waiters woken) when dropped.
struct Slot<'a>(&'a Batcher);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.lock().in_flight -= 1;
        self.0.freed.notify_waiters();
    }
}

impl Batcher {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn enqueue(&self, ask: Ask) -> oneshot::Receiver<Result<RepoPage, Error>> {
        let (reply, rx) = oneshot::channel();
        self.lock().waiting.push_back(Waiting { ask, reply });
        rx
    }

    /// A sending slot, when one is free and someone waits.
    fn claim(&self) -> Option<Slot<'_>> {
        let mut q = self.lock();
        if q.in_flight >= MAX_IN_FLIGHT || q.waiting.is_empty() {
            return None;
        }
        q.in_flight += 1;
        Some(Slot(self))
    }

    /// `ask`'s page, in a batch with whoever asks at about the same time; requests go out
    /// through `ctx` and `gh` when this caller is the sender.
    pub(crate) async fn page(
        &self,
        ctx: &ImportContext,
        gh: &GitHubClient,
        ask: Ask,
    ) -> Result<RepoPage, Error> {
        let mut rx = self.enqueue(ask.clone());
        loop {
            match rx.try_recv() {
                Ok(Some(answer)) => return answer,
                Ok(None) => {}
                // The sender went away without answering: ask again.
                Err(oneshot::Canceled) => rx = self.enqueue(ask.clone()),
            }
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(slot) = self.claim() {
                self.send_one_batch(ctx, gh).await;
                drop(slot);
                continue;
            }
            tokio::select! {
                answer = &mut rx => match answer {
                    Ok(answer) => return answer,
                    Err(oneshot::Canceled) => rx = self.enqueue(ask.clone()),
                },
                () = &mut freed => {}
            }
        }
    }

    /// Waits for the batch to fill (at most [`WINDOW`]), then sends up to [`MAX_BATCH`]
    /// waiting asks and answers each.
    async fn send_one_batch(&self, ctx: &ImportContext, gh: &GitHubClient) {
        if self.lock().waiting.len() < MAX_BATCH {
            tokio::time::sleep(WINDOW).await;
        }
        let batch: Vec<Waiting> = {
            let mut q = self.lock();
            let (mut n, mut issues) = (0, 0);
            for w in q.waiting.iter().take(MAX_BATCH) {
                issues += w.ask.first.clamp(1, 100);
                if n > 0 && issues > MAX_ISSUES {
                    break;
                }
                n += 1;
            }
            q.waiting.drain(..n).collect()
        };
        if batch.is_empty() {
            return;
        }
        let asks: Vec<Ask> = batch.iter().map(|w| w.ask.clone()).collect();
        let repos: Vec<(String, String)> = asks
            .iter()
            .map(|a| (a.owner.clone(), a.name.clone()))
            .collect();
        let body = json!({ "query": query_document(&asks) });
        tracing::debug!(tracker = %ctx.tracker_name(), repositories = asks.len(), "GraphQL batch");
        match gh.post_graphql(ctx, &self.endpoint, body).await {
            Ok(resp) => {
                let answers = split_response(&resp.body, &self.endpoint, &repos);
                for (w, answer) in batch.into_iter().zip(answers) {
                    let _ = w.reply.send(answer);
                }
            }
            Err(e) => {
                for w in batch {
                    let _ = w.reply.send(Err(shared_error(&e, &w.ask)));
                }
            }
        }
    }
}

/// The error of a failed batch as each of its repositories reports it: temporary when the
/// query's failure was (so that no tracker withholds less than it should), naming the
/// repository.
fn shared_error(e: &Error, ask: &Ask) -> Error {
    let repo = format!("{}/{}", ask.owner, ask.name);
    match e.inner() {
        Error::Status {
            url,
            status,
            retry_after,
            excerpt,
            outcome,
        } => Error::Status {
            url: format!("{url} (GraphQL batch with {repo})"),
            status: *status,
            retry_after: *retry_after,
            excerpt: excerpt.clone(),
            outcome: *outcome,
        },
        Error::Network {
            url,
            message,
            timeout,
            ..
        } => Error::Network {
            url: url.clone(),
            message: format!("{message} (GraphQL batch with {repo})"),
            timeout: *timeout,
            // The source stays with the batch's own error (reported once by its sender).
            source: None,
        },
        other => Error::parse(
            e.url().unwrap_or("graphql"),
            format!("GraphQL batch with {repo} failed: {other}"),
        ),
    }
}
