//! A third-party tracker plugin: a new tracker type registered next to the built-in ones,
//! without touching bugimporters' code.
//!
//! The "tracker" here serves a plain-text list, one `id<TAB>title<TAB>status` per line, at each
//! query URL. Run it against a replay directory (no network needed):
//!
//! ```sh
//! cargo run -p bugimporters-crawl --example custom_tracker
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use bugimporters_core::parse::Job;
use bugimporters_core::{
    BuildContext, ConfigKey, Error, ImportContext, Importer, ImporterFactory, ParsedBug, Registry,
    TrackerConfig,
};
use bugimporters_crawl::{run_crawl, CrawlOptions, VecSink};
use serde::Deserialize;

/// Type-specific keys of our tracker, checked when the importer is built.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TsvOptions {
    /// Status values that mean closed.
    #[serde(default = "default_closed")]
    closed_statuses: Vec<String>,
}

fn default_closed() -> Vec<String> {
    vec!["closed".to_owned(), "done".to_owned()]
}

#[derive(Debug)]
struct TsvImporter {
    config: TrackerConfig,
    options: TsvOptions,
}

/// The pure parser: bytes in, bugs out, no I/O. Malformed lines are errors naming the URL.
fn parse_list(
    url: &str,
    body: &[u8],
    base: &str,
    closed: &[String],
) -> Result<Vec<ParsedBug>, Error> {
    let text = std::str::from_utf8(body).map_err(|e| Error::parse(url, e))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(n, line)| {
            let mut cols = line.split('\t');
            let (Some(id), Some(title), Some(status)) = (cols.next(), cols.next(), cols.next())
            else {
                return Err(Error::parse(
                    url,
                    format!("line {}: expected id, title, status", n + 1),
                ));
            };
            let mut bug = ParsedBug::new(format!("{base}bug/{}", id.trim()));
            bug.title = Some(title.to_owned());
            bug.status = Some(status.to_owned());
            bug.looks_closed = Some(closed.iter().any(|c| c == status));
            Ok(bug)
        })
        .collect()
}

#[async_trait]
impl Importer for TsvImporter {
    async fn process_queries(&self, ctx: &ImportContext) -> Result<(), Error> {
        let base = self.config.base_url_with_slash()?.to_string();
        for query in &self.config.queries {
            let resp = ctx.get(&query.url).await?;
            // Parsed on the bounded parse pool, never on the async runtime: the job owns what
            // it needs (a server's page may be costly to parse).
            let (base, closed) = (base.clone(), self.options.closed_statuses.clone());
            let job = Job::new(query.url.as_str(), resp.body, move |body, url| {
                parse_list(url, body, &base, &closed)
            });
            for bug in job.run().await? {
                if ctx.claim(&bug.canonical_bug_link) {
                    ctx.emit(bug).await?;
                }
            }
        }
        Ok(())
    }

    async fn process_existing_bugs(
        &self,
        _ctx: &ImportContext,
        _urls: &[String],
    ) -> Result<(), Error> {
        // Our tracker has no per-bug page; the queries refresh everything.
        Ok(())
    }
}

#[derive(Debug)]
struct TsvFactory;

impl ImporterFactory for TsvFactory {
    fn kind(&self) -> &'static str {
        "tsv"
    }

    fn description(&self) -> &'static str {
        "an example plugin: bugs as tab-separated lines"
    }

    fn config_keys(&self) -> &'static [ConfigKey] {
        &[ConfigKey {
            name: "closed_statuses",
            description: "status values that mean closed (list)",
            required: false,
        }]
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Importer>, Error> {
        cx.config.base_url_with_slash()?;
        Ok(Arc::new(TsvImporter {
            config: cx.config.clone(),
            options: cx.config.options()?,
        }))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The built-in trackers plus ours.
    let mut registry: Registry = bugimporters_all::default_registry();
    registry.register(Arc::new(TsvFactory));

    // A replay directory stands in for the server.
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("list.tsv"),
        "1\tCrash on start\topen\n2\tTypo in docs\tdone\n",
    )?;
    std::fs::write(
        dir.path().join("index.jsonl"),
        r#"{"url": "https://tsv.example.org/list", "status": 200, "file": "list.tsv"}"#,
    )?;
    let config = r#"
- tracker_name: Example TSV
  bugimporter: tsv
  base_url: https://tsv.example.org/
  closed_statuses: [done]
  queries: [https://tsv.example.org/list]
"#;
    let configs =
        bugimporters_core::load_config_str(config, bugimporters_core::ConfigFormat::Yaml)?;

    let mut options = CrawlOptions::default();
    options.fetch.replay_dir = Some(dir.path().to_owned());
    let sink = VecSink::new();
    let report = run_crawl(&registry, configs, options, sink.clone()).await?;
    for bug in sink.bugs() {
        println!("{}", bug.to_json_line());
    }
    assert_eq!(report.totals.bugs_emitted, 2);
    Ok(())
}
