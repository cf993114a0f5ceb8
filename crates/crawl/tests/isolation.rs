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
