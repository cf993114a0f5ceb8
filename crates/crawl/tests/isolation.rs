//! One tracker's CPU-bound work (a large page being parsed) must not hold the other trackers
//! of the crawl: each tracker runs as a task of its own on the multi-threaded runtime.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bugimporters_core::{
    load_config_str, BuildContext, ConfigFormat, Error, ImportContext, Importer, ImporterFactory,
    ParsedBug, Registry,
};
use bugimporters_crawl::{run_crawl, CrawlOptions, VecSink};

/// Tracker `Busy` blocks its thread (as a long synchronous parse does) until tracker `Quick`
/// has run; `Quick` tells it so through a plain channel.
#[derive(Debug)]
struct Pair {
    name: String,
    tx: Sender<()>,
    rx: Arc<Mutex<Option<Receiver<()>>>>,
}

#[async_trait]
impl Importer for Pair {
    async fn process_queries(&self, ctx: &ImportContext) -> Result<(), Error> {
        if self.name == "Busy" {
            let rx = self.rx.lock().unwrap().take().expect("one Busy run");
            // Synchronous, like a parser: no await while it waits.
            rx.recv_timeout(Duration::from_secs(10))
                .map_err(|_| Error::config("Quick never ran while Busy held its thread"))?;
        } else {
            // Busy may have given up already (the failure this test is about).
            let _ = self.tx.send(());
        }
        let link = format!("http://t.test/{}/1", self.name);
        ctx.emit(ParsedBug::new(link)).await
    }

    async fn process_existing_bugs(&self, _: &ImportContext, _: &[String]) -> Result<(), Error> {
        Ok(())
    }
}

#[derive(Debug)]
struct PairFactory {
    tx: Sender<()>,
    rx: Arc<Mutex<Option<Receiver<()>>>>,
}

impl ImporterFactory for PairFactory {
    fn kind(&self) -> &'static str {
        "pair"
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Importer>, Error> {
        Ok(Arc::new(Pair {
            name: cx.config.tracker_name.clone(),
            tx: self.tx.clone(),
            rx: self.rx.clone(),
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracker_holding_its_thread_does_not_hold_the_others() {
    let (tx, rx) = channel();
    let mut registry = Registry::new();
    registry.register(Arc::new(PairFactory {
        tx,
        rx: Arc::new(Mutex::new(Some(rx))),
    }));
    // Busy comes first, so that a crawl driving every tracker from one task would poll it
    // first and block there.
    let config = "- {tracker_name: Busy, bugimporter: pair, base_url: 'http://t.test/Busy/'}\n\
                  - {tracker_name: Quick, bugimporter: pair, base_url: 'http://t.test/Quick/'}\n";
    let configs = load_config_str(config, ConfigFormat::Yaml).unwrap();
    let sink = VecSink::new();
    let report = run_crawl(&registry, configs, CrawlOptions::default(), sink.clone())
        .await
        .unwrap();
    for t in &report.trackers {
        assert!(t.ok, "{}: {:?}", t.tracker_name, t.errors);
        assert_eq!(t.bugs_emitted, 1, "{}", t.tracker_name);
    }
    assert_eq!(sink.bugs().len(), 2);
}

/// GitHub issues `first..=last` of repository `o/r` whose pages live on the web root `web`.
fn issues_json(web: &str, first: u32, last: u32) -> String {
    let items: Vec<String> = (first..=last)
        .map(|i| {
            format!(
                r#"{{"number": {i}, "title": "bug {i}", "state": "open", "html_url": "{web}/o/r/issues/{i}",
                    "user": {{"login": "u"}}, "labels": [{{"name": "easy"}}], "comments": 0, "assignee": null,
                    "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-02T00:00:00Z", "body": "b"}}"#
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// Issues in the costly page: tens of megabytes of JSON, within the 64 MiB body limit, that
/// take seconds of CPU to parse (more than the test's tracker deadline on a debug build).
const COSTLY_ISSUES: u32 = 120_000;

/// Issue 13, point 6: a JSON tracker whose server sends a page that is costly to parse must
/// not cost a healthy tracker of the same crawl its records, even on a runtime of **one
/// thread**, where a parse on the runtime would hold every other task. Every parse runs on
/// the bounded parse pool (`bugimporters_core::parse::Job`), so the healthy tracker reads
/// both of its (slow) pages and writes all its records well within its deadline, while the
/// costly one is abandoned at it. With the parse on the runtime, the healthy tracker sat
/// behind the costly parse past the deadline and was abandoned with one page of two.
#[tokio::test(flavor = "current_thread")]
async fn a_costly_json_page_does_not_hold_a_healthy_tracker_on_a_one_thread_runtime() {
    use bugimporters_core::fetch::FetchConfig;
    use wiremock::matchers::{path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    // wiremock serves from threads of its own: the test's one thread only runs the crawl.
    let costly = MockServer::start().await;
    let web = format!("{}/costly", costly.uri());
    let body = issues_json(&web, 1, COSTLY_ISSUES);
    assert!(
        body.len() < 64 << 20,
        "within the body limit: {}",
        body.len()
    );
    Mock::given(path("/costly/api/v3/repos/o/r/issues"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(&costly)
        .await;

    let healthy = MockServer::start().await;
    let api = format!("{}/healthy/api/v3", healthy.uri());
    let web = format!("{}/healthy", healthy.uri());
    let listing = format!("{api}/repos/o/r/issues?state=open&per_page=3");
    // Both pages come slowly, so that the healthy tracker is still reading when the costly
    // page arrives: page 1 names page 2.
    let slow = std::time::Duration::from_millis(300);
    Mock::given(path("/healthy/api/v3/repos/o/r/issues"))
        .and(query_param("page", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(issues_json(&web, 4, 6), "application/json")
                .set_delay(slow),
        )
        .mount(&healthy)
        .await;
    Mock::given(path("/healthy/api/v3/repos/o/r/issues"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(issues_json(&web, 1, 3), "application/json")
                .insert_header("Link", format!("<{listing}&page=2>; rel=\"next\"").as_str())
                .set_delay(slow),
        )
        .mount(&healthy)
        .await;

    let record = |name: &str, api: &str, query: &str| {
        format!(
            "- tracker_name: {name}\n  bugimporter: github\n  github_name: o\n  github_repo: r\n  api_url: {api}\n  queries: ['{query}']\n"
        )
    };
    let costly_api = format!("{}/costly/api/v3", costly.uri());
    let config = record(
        "Costly",
        &costly_api,
        &format!("{costly_api}/repos/o/r/issues?state=open&per_page=100"),
    ) + &record("Healthy", &api, &listing);
    let configs = load_config_str(&config, ConfigFormat::Yaml).unwrap();
    let mut options = CrawlOptions::default();
    options.fetch = FetchConfig::for_loopback_tests();
    options.tracker_timeout = std::time::Duration::from_secs(3);
    let sink = VecSink::new();
    let report = run_crawl(
        &bugimporters_all::default_registry(),
        configs,
        options,
        sink.clone(),
    )
    .await
    .unwrap();

    let h = report
        .trackers
        .iter()
        .find(|t| t.tracker_name == "Healthy")
        .unwrap();
    assert!(h.ok, "Healthy: abandoned {:?}, {:?}", h.abandoned, h.errors);
    assert_eq!(h.bugs_emitted, 6, "Healthy: {:?}", h.errors);
    let links: Vec<String> = sink
        .bugs()
        .iter()
        .map(|b| b.canonical_bug_link.clone())
        .filter(|l| l.starts_with(&web))
        .collect();
    for i in 1..=6 {
        assert!(
            links.contains(&format!("{web}/o/r/issues/{i}")),
            "healthy bug {i} missing: {links:?}"
        );
    }
}
