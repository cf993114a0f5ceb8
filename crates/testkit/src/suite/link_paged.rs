//! A ready harness for the issue APIs whose listing is JSON arrays chained by `Link` headers
//! and whose single issue is `{listing}/{id}` (GitHub, GitLab, Gitea/Forgejo): a tracker crate
//! fills in a [`LinkPaged`] and hands it to
//! [`conformance_suite!`](crate::conformance_suite).

use async_trait::async_trait;
use bugimporters_core::{Registry, TrackerConfig};
use chrono::NaiveDateTime;
use serde_json::Value;
use wiremock::{MockServer, Request};

use super::{wire, SuiteBug, SuiteTracker};

/// What differs between two `Link`-paged issue APIs.
#[derive(Debug, Clone, Copy)]
pub struct LinkPaged {
    /// The tracker type.
    pub kind: &'static str,
    /// Its crate's `register`.
    pub register: fn(&mut Registry),
    /// The configuration against the mock server (see [`SuiteTracker::config`]); its query
    /// lists [`LinkPaged::issues`].
    pub config: fn(&str) -> TrackerConfig,
    /// The secret names the configuration reads.
    pub secrets: &'static [&'static str],
    /// The listing's path; one issue is `{issues}/{id}`.
    pub issues: &'static str,
    /// One issue in the API's JSON, with `bug.link` as its web link.
    pub item: fn(&SuiteBug) -> Value,
    /// The canonical link of issue `id` under the mock server.
    pub link: fn(&str, u64) -> String,
    /// The query parameter of the "changed since" filter (an ISO 8601 UTC time, `…Z`).
    pub since_param: &'static str,
    /// A parameter with which the importer looks held issues up in one listing (GitLab's
    /// `iids[]`), answered with the held issue.
    pub held_listing_param: Option<&'static str>,
    /// The query parameters of a stable stand-in the importer asks instead of the `since`
    /// listing, filtering by the time itself (GitHub: `sort=updated&direction=desc`, a
    /// conditional request an unchanged repository answers 304 for free); `&[]`: none.
    pub since_stand_in: &'static [(&'static str, &'static str)],
}

#[async_trait]
impl SuiteTracker for LinkPaged {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn register(&self, registry: &mut Registry) {
        (self.register)(registry);
    }

    fn config(&self, base: &str) -> TrackerConfig {
        (self.config)(base)
    }

    fn secrets(&self) -> &'static [&'static str] {
        self.secrets
    }

    fn link(&self, base: &str, id: u64) -> String {
        (self.link)(base, id)
    }

    async fn mount_listing(&self, server: &MockServer, pages: &[Vec<SuiteBug>]) {
        let bodies = pages
            .iter()
            .map(|p| Value::Array(p.iter().map(self.item).collect()))
            .collect();
        wire::mount_link_pages(server, self.issues, bodies).await;
    }

    async fn mount_bug(&self, server: &MockServer, bug: &SuiteBug) {
        if let Some(param) = self.held_listing_param {
            let held = move |r: &Request| wire::query_value(r, param).is_some();
            let answer = wire::json(&Value::Array(vec![(self.item)(bug)]));
            wire::mount_in_front(server, self.issues, held, answer).await;
        }
        let one = format!("{}/{}", self.issues, bug.id);
        wire::mount_json(server, &one, (self.item)(bug)).await;
    }

    fn asks_since(&self, request: &Request, since: NaiveDateTime) -> bool {
        let want = since.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let stand_in = !self.since_stand_in.is_empty()
            && self
                .since_stand_in
                .iter()
                .all(|(k, v)| wire::query_value(request, k).as_deref() == Some(*v));
        stand_in || wire::query_value(request, self.since_param) == Some(want)
    }

    async fn mount_listing_with_next(&self, server: &MockServer, bugs: &[SuiteBug], next: &str) {
        let body = Value::Array(bugs.iter().map(self.item).collect());
        wire::mount_link_page(server, self.issues, 1, body, Some(next)).await;
    }
}
