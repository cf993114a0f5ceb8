//! A whole site for the web tests (handler tests and the browser tests): synthetic Trac
//! trackers, a SQLite host database, a service on a manual clock serving its router on a
//! loopback port.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use bugimporters_hostdb::schedule::ManualClock;
use bugimporters_hostdb::{HostDb, ImportOptions, ImportSource};
use bugimporters_service::Service;
use bugimporters_testkit::synthetic::SyntheticServer;

use crate::common::{add_trackers, name, servers, service, sqlite};

/// A title that would run script if it were ever inserted as markup: both payloads set
/// `window.__pwned`, which the page's own script never sets.
pub const HOSTILE_TITLE: &str =
    "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\"> & \"quotes\"";

/// The running site. Dropping it stops nothing explicitly: its tasks end with the test's
/// runtime, its files with `dir`.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub db: HostDb,
    pub trackers: Vec<SyntheticServer>,
    pub clock: ManualClock,
    pub service: Service,
    pub addr: SocketAddr,
}

impl Site {
    /// `n` synthetic Trac trackers of `bugs` bugs each (none crawled yet), served.
    pub async fn start(n: usize, bugs: usize) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let (_, db) = sqlite(dir.path(), "site.db").await;
        let trackers = servers(n, bugs).await;
        add_trackers(&db, &trackers, &[]).await;
        let clock = ManualClock::new(
            bugimporters_core::time::parse_datetime("2026-12-05T12:00:00").unwrap(),
        );
        let service = service(&db, &dir.path().join("spool"), &clock, 2);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = service.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Site {
            dir,
            db,
            trackers,
            clock,
            service,
            addr,
        }
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// One service pass: every due tracker crawled and imported; returns how many ran ok.
    pub async fn run(&self) -> u64 {
        self.service.run_once().await.unwrap().ok
    }

    /// Imports one open, bite-sized bug of tracker `i` titled `title` (as `import-results`
    /// would), newer than every synthetic bug; returns its link.
    pub async fn import_bug(&self, i: usize, number: u32, title: &str) -> String {
        let link = format!("{}ticket/{number}", self.trackers[i].trac_url());
        let line = serde_json::json!({
            "canonical_bug_link": link,
            "title": title,
            "status": "new",
            "last_touched": "2030-01-01T00:00:00",
            "last_polled": "2030-01-01T00:00:00",
            "looks_closed": false,
            "good_for_newcomers": true,
            "concerns_just_documentation": false,
            "_tracker_name": name(i),
            "_project_name": name(i),
        });
        let options = ImportOptions::new(Arc::new(bugimporters_all::default_registry()));
        let summary = self
            .db
            .import(
                vec![ImportSource::text("hostile.jsonl", line.to_string())],
                &options,
            )
            .await
            .unwrap();
        assert_eq!(summary.exit_code(), 0, "{summary:?}");
        link
    }
}
