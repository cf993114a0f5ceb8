//! `GET /events`: every change to the host database's bugs as Server-Sent Events
//! (`docs/events.md`).
//!
//! ```text
//!  import (any process, any path) ──same transaction──▶ bug_events ──▶ one reader task per process
//!        │ PostgreSQL: one NOTIFY per transaction                      │ tokio broadcast
//!        └────────────────────────────────────────────▶ wakes ─────────┘──▶ every /events client
//! ```
//!
//! * One reader task per process reads new rows of `bug_events` (in id order) and broadcasts
//!   them in memory. It wakes on this process's own imports ([`Service::events_changed`]), on
//!   PostgreSQL on `NOTIFY` (every process sees every change at once), and on a poll
//!   ([`EventsConfig::poll`]: 5 s on PostgreSQL as a safety net, 1 s on SQLite so that an
//!   `import-results` run by hand is seen, 500 ms on MySQL/MariaDB, which has no
//!   notifications).
//! * Ids are contiguous (see `bugimporters_hostdb::EventBounds`), so a client that sees a
//!   hole between the last id it handled and the next broadcast one fills it from the
//!   database: nothing is missed between a client's history catch-up and the live stream.
//! * `Last-Event-ID` (or `?last_event_id=`) resumes from the history; an id older than the
//!   history (or newer than any id given) gets a `reset` event.
//! * Each client may lag at most [`EventsConfig::buffer`] events behind the broadcast; a
//!   client further behind gets a `dropped` event and its stream ends (its `EventSource`
//!   reconnects with `Last-Event-ID` and catches up from the history). Memory per client is
//!   bounded by that one shared ring buffer: nothing is queued per client.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bugimporters_hostdb::{Backend, BugEvent, EventListener, HostDb};
use serde::Deserialize;
use tokio::sync::{broadcast, Notify};

use crate::Service;

/// Events read from the database per query (history catch-up and the reader task).
const PAGE: usize = 500;

/// How `GET /events` behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EventsConfig {
    /// How many events a client may be behind the live stream before it is dropped (the
    /// capacity of the process's one broadcast ring; default 1024).
    pub buffer: usize,
    /// How often the reader task looks at `bug_events` without being woken (default by
    /// backend: PostgreSQL 5 s, SQLite 1 s, MySQL/MariaDB 500 ms).
    pub poll: Option<Duration>,
    /// A comment line (`: heartbeat`) after this long without an event (default 15 s), so
    /// that proxies keep the connection and clients notice a dead one.
    pub heartbeat: Duration,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            buffer: 1024,
            poll: None,
            heartbeat: Duration::from_secs(15),
        }
    }
}

impl EventsConfig {
    /// The reader task's poll interval on `backend`.
    pub fn poll_for(&self, backend: Backend) -> Duration {
        self.poll.unwrap_or(match backend {
            Backend::Postgres => Duration::from_secs(5),
            Backend::Sqlite => Duration::from_secs(1),
            _ => Duration::from_millis(500),
        })
    }
}

/// An event as the reader task broadcasts it: the stored event and its SSE form, rendered
/// once for every client.
#[derive(Debug)]
struct Live {
    event: BugEvent,
    sse: Event,
}

/// The process's broadcast of new events and its one reader task.
#[derive(Debug)]
pub(crate) struct EventHub {
    tx: broadcast::Sender<Arc<Live>>,
    wake: Notify,
    started: AtomicBool,
    /// The broadcast's capacity ([`EventsConfig::buffer`]).
    capacity: usize,
}

impl EventHub {
    pub(crate) fn new(buffer: usize) -> EventHub {
        let (tx, _) = broadcast::channel(buffer.max(1));
        EventHub {
            tx,
            wake: Notify::new(),
            started: AtomicBool::new(false),
            capacity: buffer.max(1),
        }
    }

    /// Starts the reader task unless it runs already.
    fn ensure_reader(self: &Arc<Self>, db: &HostDb, poll: Duration) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let hub = self.clone();
        let db = db.clone();
        tokio::spawn(async move { hub.read_loop(db, poll).await });
    }

    /// The reader task: new rows of `bug_events`, in id order, to the broadcast.
    async fn read_loop(self: Arc<Self>, db: HostDb, poll: Duration) {
        let mut last = loop {
            match db.event_bounds().await {
                Ok(b) => break b.last,
                Err(e) => {
                    tracing::warn!(error = %e, "events: cannot read bug_events; retrying");
                    tokio::time::sleep(poll).await;
                }
            }
        };
        let mut listener = listen(&db).await;
        loop {
            // First read, then wait: whatever committed before the LISTEN is read too.
            last = self.drain(&db, last).await;
            // Without its LISTEN (it failed: server down, too many connections) PostgreSQL
            // is polled every second until the LISTEN works again.
            let pg = db.backend() == Backend::Postgres;
            let sleep = if pg && listener.is_none() {
                poll.min(Duration::from_secs(1))
            } else {
                poll
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                lost = wait(&mut listener) => {
                    if lost {
                        // Notifications sent while the connection was down are lost: the
                        // next read catches up, and the listener reconnects.
                        tracing::debug!("events: the LISTEN connection was lost; reconnecting");
                    }
                }
            }
            if pg && listener.is_none() {
                listener = listen(&db).await;
            }
        }
    }

    /// Broadcasts the events after `last` (a page at a time, letting clients run between
    /// pages); returns the last id broadcast.
    async fn drain(&self, db: &HostDb, mut last: i64) -> i64 {
        let page = PAGE.min(self.capacity);
        loop {
            match db.events_after(last, page).await {
                Ok(events) => {
                    let full = events.len() == page;
                    for event in events {
                        last = event.id;
                        let sse = render(&event);
                        // No receiver: nobody listens now; that is fine.
                        let _ = self.tx.send(Arc::new(Live { event, sse }));
                    }
                    if !full {
                        return last;
                    }
                    tokio::task::yield_now().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "events: cannot read bug_events; retrying");
                    return last;
                }
            }
        }
    }
}

async fn listen(db: &HostDb) -> Option<EventListener> {
    match db.event_listener().await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "events: cannot LISTEN; polling until it works");
            None
        }
    }
}

/// Waits for a notification of `listener` (forever when there is none). True when the
/// connection was lost (the listener is then dropped, to be made anew).
async fn wait(listener: &mut Option<EventListener>) -> bool {
    match listener {
        Some(l) => match l.wait().await {
            Ok(true) => false,
            Ok(false) => true,
            Err(e) => {
                tracing::warn!(error = %e, "events: LISTEN failed");
                *listener = None;
                true
            }
        },
        None => std::future::pending().await,
    }
}

/// The SSE form of a stored event: `event:` its kind, `id:` its id, `data:` its JSON.
fn render(e: &BugEvent) -> Event {
    let data = serde_json::to_string(e).unwrap_or_else(|_| "{}".into());
    Event::default()
        .event(e.kind.as_str())
        .id(e.id.to_string())
        .data(data)
}

impl Service {
    /// Tells this process's `/events` reader that the database has new events (the service
    /// calls it after each of its imports; anything else that imports in this process may
    /// too). Without it they are seen at the next poll or `NOTIFY`.
    pub fn events_changed(&self) {
        self.inner.events.wake.notify_one();
    }
}

/// The query of `GET /events`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct EventsQuery {
    project: Option<String>,
    tracker: Option<String>,
    last_event_id: Option<String>,
}

/// `GET /events`.
pub(crate) async fn events(
    State(service): State<Service>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Response {
    let config = &service.config().events;
    let db = service.db();
    let hub = &service.inner.events;
    hub.ensure_reader(db, config.poll_for(db.backend()));
    // Subscribe before reading where the history ends: whatever commits from now on is
    // either in the catch-up or on the broadcast (a hole between them is filled).
    let rx = hub.tx.subscribe();
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(query.last_event_id);
    let resume = match resume.map(|s| s.trim().parse::<i64>().map_err(|_| s)) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(s)) => {
            let msg = format!("Last-Event-ID must be an event id (a number), not {s:?}\n");
            return (StatusCode::BAD_REQUEST, msg).into_response();
        }
    };
    let bounds = match db.event_bounds().await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "events: cannot read bug_events");
            return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response();
        }
    };
    let mut client = Client {
        db: db.clone(),
        rx,
        cursor: bounds.last,
        until: bounds.last,
        project: query.project,
        tracker: query.tracker,
        held: None,
        outbox: VecDeque::new(),
        done: false,
    };
    match resume {
        Some(id) if id > bounds.last || id < 0 => {
            client.reset(id, bounds.oldest, "the id is not one this database gave");
        }
        Some(id) => client.cursor = id,
        None => {}
    }
    let stream = futures::stream::unfold(client, |mut c| async move {
        c.next()
            .await
            .map(|e| (Ok::<Event, std::convert::Infallible>(e), c))
    });
    let mut response = Sse::new(stream)
        .keep_alive(
            KeepAlive::new()
                .interval(config.heartbeat)
                .text("heartbeat"),
        )
        .into_response();
    // Tell reverse proxies (nginx) not to buffer the stream.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// One `/events` connection.
struct Client {
    db: HostDb,
    rx: broadcast::Receiver<Arc<Live>>,
    /// The last id handled (sent or filtered out).
    cursor: i64,
    /// Catch up from the history up to this id before the live stream.
    until: i64,
    project: Option<String>,
    tracker: Option<String>,
    /// A live event that waits for the history before it.
    held: Option<Arc<Live>>,
    outbox: VecDeque<Event>,
    done: bool,
}

impl Client {
    fn wants(&self, e: &BugEvent) -> bool {
        self.project.as_ref().is_none_or(|p| *p == e.project)
            && self.tracker.as_ref().is_none_or(|t| *t == e.tracker)
    }

    /// The next event to send; `None` ends the stream.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.outbox.pop_front() {
                return Some(e);
            }
            if self.done {
                return None;
            }
            if self.cursor < self.until {
                let to = self.until;
                self.fill(to).await;
                if self.cursor >= self.until && !self.rx.is_empty() {
                    // Whatever the broadcast kept meanwhile is in the history too: start the
                    // live stream afresh (a hole before its first event is filled), so that
                    // a long catch-up does not count as reading too slowly.
                    self.rx = self.rx.resubscribe();
                }
                continue;
            }
            let live = match self.held.take() {
                Some(live) => live,
                None => match self.rx.recv().await {
                    Ok(live) => live,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        self.dropped(n);
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        self.done = true;
                        continue;
                    }
                },
            };
            let id = live.event.id;
            if id <= self.cursor {
                continue;
            }
            if id > self.cursor + 1 {
                // Committed before this client subscribed, or while it caught up: from the
                // history first.
                self.until = id - 1;
                self.held = Some(live);
                continue;
            }
            self.cursor = id;
            if self.wants(&live.event) {
                self.outbox.push_back(live.sse.clone());
            }
        }
    }

    /// Queues the `dropped` event and ends the stream: the client fell more than the
    /// broadcast's capacity behind.
    fn dropped(&mut self, behind: u64) {
        let data = serde_json::json!({
            "reason": format!("the client read too slowly: {behind} events behind the live stream; reconnect with Last-Event-ID to catch up from the history"),
            "last_event_id": self.cursor,
        });
        self.outbox.push_back(
            Event::default()
                .event("dropped")
                .id(self.cursor.to_string())
                .data(data.to_string()),
        );
        self.done = true;
    }

    /// Sends the history after the cursor up to `to` (a page at a time); a `reset` when
    /// part of it is no longer kept. A database error ends the stream (the client reconnects
    /// with its `Last-Event-ID`).
    async fn fill(&mut self, to: i64) {
        let want = usize::try_from(to - self.cursor).unwrap_or(PAGE).min(PAGE);
        let events = match self.db.events_after(self.cursor, want).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "events: cannot read the history; ending a stream");
                self.done = true;
                return;
            }
        };
        if events.first().map(|e| e.id) != Some(self.cursor + 1) {
            let oldest = events.first().map(|e| e.id);
            let from = self.cursor;
            self.cursor = to;
            self.reset(from, oldest, "the events after this id are no longer kept");
            return;
        }
        for e in events {
            if e.id > to {
                break;
            }
            self.cursor = e.id;
            if self.wants(&e) {
                self.outbox.push_back(render(&e));
            }
        }
    }

    /// Queues a `reset`: the client must reload what it shows (e.g. from `/api/bugs`); the
    /// stream goes on from the cursor.
    fn reset(&mut self, from: i64, oldest: Option<i64>, reason: &str) {
        let data = serde_json::json!({
            "reason": reason,
            "last_event_id": from,
            "oldest_kept": oldest,
            "resume_from": self.cursor,
        });
        self.outbox.push_back(
            Event::default()
                .event("reset")
                .id(self.cursor.to_string())
                .data(data.to_string()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(id: i64, tracker: &str) -> Arc<Live> {
        let event: BugEvent = serde_json::from_value(serde_json::json!({
            "id": id, "type": "updated", "tracker": tracker, "project": tracker,
            "link": format!("https://example.org/ticket/{id}"),
            "at": "2030-01-01T00:00:00", "bug": null,
        }))
        .unwrap();
        let sse = render(&event);
        Arc::new(Live { event, sse })
    }

    async fn client(hub: &EventHub, cursor: i64, tracker: Option<&str>) -> Client {
        Client {
            db: HostDb::connect("sqlite::memory:").await.unwrap(),
            rx: hub.tx.subscribe(),
            cursor,
            until: cursor,
            project: None,
            tracker: tracker.map(str::to_owned),
            held: None,
            outbox: VecDeque::new(),
            done: false,
        }
    }

    /// Renders an event as it goes on the wire.
    async fn wire(e: Event) -> String {
        let stream = futures::stream::iter([Ok::<_, std::convert::Infallible>(e)]);
        let body = Sse::new(stream).into_response().into_body();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_client_that_falls_behind_the_buffer_is_dropped() {
        let hub = EventHub::new(4);
        let mut slow = client(&hub, 0, None).await;
        let mut ok = client(&hub, 0, None).await;
        // `ok` reads as the events come; `slow` reads nothing while 10 are broadcast.
        for id in 1..=10 {
            hub.tx.send(live(id, "T")).unwrap();
            let got = wire(ok.next().await.unwrap()).await;
            assert!(got.contains(&format!("id: {id}\n")), "{got}");
        }
        let dropped = wire(slow.next().await.unwrap()).await;
        assert!(dropped.starts_with("event: dropped\nid: 0\n"), "{dropped}");
        assert!(dropped.contains("6 events behind"), "{dropped}");
        assert!(slow.next().await.is_none(), "the stream ends");
        assert!(!ok.done);
    }

    #[tokio::test]
    async fn filters_and_ids() {
        let hub = EventHub::new(16);
        let mut c = client(&hub, 0, Some("B")).await;
        hub.tx.send(live(1, "A")).unwrap();
        hub.tx.send(live(2, "B")).unwrap();
        hub.tx.send(live(3, "A")).unwrap();
        hub.tx.send(live(4, "B")).unwrap();
        let first = wire(c.next().await.unwrap()).await;
        assert!(
            first.starts_with("event: updated\nid: 2\ndata: {"),
            "{first}"
        );
        assert!(first.contains("\"tracker\":\"B\""), "{first}");
        assert!(wire(c.next().await.unwrap()).await.contains("id: 4\n"));
        assert_eq!(c.cursor, 4, "filtered events count as handled");
    }
}
