//! A third-party tracker plugin: a new tracker type registered next to the built-in ones,
//! without touching bugimporters' code.
//!
//! The "tracker" here serves a plain-text list, one `id<TAB>title<TAB>status` per line, at each
//! query URL, and the same line for one bug at `{base_url}bug/<id>` (404 once it is gone). It
//! follows `docs/plugin-guide.md`: unknown keys are left to `bugimporters check` (no
//! `deny_unknown_fields`), a failed query is reported and the others go on, held bugs are
//! refreshed (a 404 is a deletion), the optional token comes from the run's secret source and
//! goes as a secret header, and parsing runs on the bounded pool. Run it against a replay
//! directory (no network needed):
//!
//! ```sh
//! cargo run -p bugimporters-crawl --example custom_tracker
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use bugimporters_core::fetch::Request;
use bugimporters_core::parse::Job;
use bugimporters_core::{
    AuthKind, BuildContext, Capabilities, ConfigKey, Error, ImportContext, Importer,
    ImporterFactory, ParsedBug, Registry, TrackerConfig,
};
use bugimporters_crawl::{run_crawl, CrawlOptions, VecSink};
use serde::Deserialize;

/// Type-specific keys of our tracker, checked when the importer is built. Unknown keys are
/// not refused here: `bugimporters check` reports them against `config_keys()`.
#[derive(Debug, Deserialize)]
struct TsvOptions {
    /// Status values that mean closed.
    #[serde(default = "default_closed")]
    closed_statuses: Vec<String>,
    /// The variable holding an optional token (a name, never the token itself).
    #[serde(default = "default_token_env")]
    token_env: String,
}

fn default_token_env() -> String {
    "TSV_TOKEN".to_owned()
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

impl TsvImporter {
    /// GETs `url` with the token, when the run's secret source has one, as a secret header
    /// (never logged or recorded; the fetch layer sends it to this host only).
    async fn get(
        &self,
        ctx: &ImportContext,
        url: &str,
    ) -> Result<bugimporters_core::fetch::Response, Error> {
        let mut req = Request::get(url)?;
        if let Some(token) = ctx.secret(&self.options.token_env) {
            req =
                req.with_secret_header(http::header::AUTHORIZATION, &format!("Bearer {token}"))?;
        }
        ctx.fetch(req).await
    }

    /// The bugs of one response, parsed on the bounded parse pool, never on the async
    /// runtime: the job owns what it needs (a server's page may be costly to parse).
    async fn parse(&self, url: &str, body: bytes::Bytes) -> Result<Vec<ParsedBug>, Error> {
        let base = self.config.base_url_with_slash()?.to_string();
        let closed = self.options.closed_statuses.clone();
        Job::new(url, body, move |body, url| {
            parse_list(url, body, &base, &closed)
        })
        .run()
        .await
    }

    /// One query: its bugs emitted once each.
    async fn run_query(&self, ctx: &ImportContext, url: &str) -> Result<(), Error> {
        let resp = self.get(ctx, url).await?;
        for bug in self.parse(url, resp.body).await? {
            if ctx.claim(&bug.canonical_bug_link) {
                ctx.emit(bug).await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Importer for TsvImporter {
    async fn process_queries(&self, ctx: &ImportContext) -> Result<(), Error> {
        // A failed query is reported and the others go on; the run is then not healthy, so
        // no deletion is written.
        let mut failed = 0;
        for query in &self.config.queries {
            if let Err(e) = self.run_query(ctx, &query.url).await {
                ctx.report_error(e);
                failed += 1;
            }
        }
        match failed {
            0 => Ok(()),
            n => Err(Error::config(format!(
                "{n} of {} queries failed",
                self.config.queries.len()
            ))),
        }
    }

    async fn process_existing_bugs(
        &self,
        ctx: &ImportContext,
        urls: &[String],
    ) -> Result<(), Error> {
        // Held bugs a query of this run already emitted are done; each other one is asked
        // for alone. A 404 or 410 is a deletion (held back by the context until the run ends
        // healthy); any other failure is reported and deletes nothing.
        for url in urls.iter().filter(|u| ctx.claim(u)) {
            match self.get(ctx, url).await {
                Ok(resp) => {
                    for bug in self.parse(url, resp.body).await? {
                        ctx.emit(bug).await?;
                    }
                }
                Err(e) if e.is_not_found() => {
                    let name = &self.config.tracker_name;
                    ctx.emit(ParsedBug::deleted(url.as_str(), name, name, ctx.now()))
                        .await?;
                }
                Err(e) => ctx.report_error(e),
            }
        }
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

    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
            .deletion_detection()
            .auth(&[AuthKind::Anonymous, AuthKind::Token])
    }

    fn example_config(&self) -> Option<&'static str> {
        Some(EXAMPLE)
    }

    fn config_keys(&self) -> &'static [ConfigKey] {
        &[
            ConfigKey {
                name: "closed_statuses",
                description: "status values that mean closed (list)",
                required: false,
            },
            ConfigKey {
                name: "token_env",
                description: "the variable holding an optional bearer token (default TSV_TOKEN)",
                required: false,
            },
        ]
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Importer>, Error> {
        cx.config.base_url_with_slash()?;
        Ok(Arc::new(TsvImporter {
            config: cx.config.clone(),
            options: cx.config.options()?,
        }))
    }
}

/// The example configuration (also what `example_config()` returns).
const EXAMPLE: &str = r#"
- tracker_name: Example TSV
  bugimporter: tsv
  base_url: https://tsv.example.org/
  closed_statuses: [done]
  queries: [https://tsv.example.org/list]
  existing_bug_urls: [https://tsv.example.org/bug/7, https://tsv.example.org/bug/8]
"#;

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
    std::fs::write(dir.path().join("bug-7.tsv"), "7\tOld crash\topen\n")?;
    std::fs::write(
        dir.path().join("index.jsonl"),
        [
            r#"{"url": "https://tsv.example.org/list", "status": 200, "file": "list.tsv"}"#,
            r#"{"url": "https://tsv.example.org/bug/7", "status": 200, "file": "bug-7.tsv"}"#,
            r#"{"url": "https://tsv.example.org/bug/8", "status": 404}"#,
        ]
        .join("\n"),
    )?;
    let configs =
        bugimporters_core::load_config_str(EXAMPLE, bugimporters_core::ConfigFormat::Yaml)?;

    let mut options = CrawlOptions::default();
    options.fetch.replay_dir = Some(dir.path().to_owned());
    let sink = VecSink::new();
    let report = run_crawl(&registry, configs, options, sink.clone()).await?;
    for bug in sink.bugs() {
        println!("{}", bug.to_json_line());
    }
    // Two listed bugs, held bug 7 refreshed, held bug 8 deleted (the run was healthy).
    let bugs = sink.bugs();
    assert_eq!(bugs.len(), 4, "{bugs:?}");
    assert!(bugs
        .iter()
        .any(|b| b.deleted && b.canonical_bug_link.ends_with("/bug/8")));
    assert_eq!(report.totals.trackers_failed, 0);
    Ok(())
}
