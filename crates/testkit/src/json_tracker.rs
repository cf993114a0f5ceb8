//! The `testkit` tracker type: bugs served as JSON, for tests of the crawl machinery.
//!
//! * A query URL answers `{"bugs": [...], "next": "URL"}`; each element is a
//!   [`ParsedBug`] object (at least `canonical_bug_link`); `next`, when present, is the next
//!   page.
//! * An existing bug URL answers one [`ParsedBug`] object; 404/410 makes it a deletion.

use std::sync::Arc;

use async_trait::async_trait;
use bugimporters_core::parse::Job;
use bugimporters_core::{
    BuildContext, Error, ImportContext, Importer, ImporterFactory, LinkScope, ParseFormat,
    ParseFormatKind, ParseInput, ParseOutput, ParsedBug, Registry, TrackerConfig,
};
use futures::StreamExt;
use serde::Deserialize;

/// The type name.
pub const KIND: &str = "testkit";

/// Registers the `testkit` type.
pub fn register(registry: &mut Registry) {
    registry.register(Arc::new(JsonTrackerFactory));
}

/// Factory of the `testkit` type.
#[derive(Debug)]
pub struct JsonTrackerFactory;

impl ImporterFactory for JsonTrackerFactory {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["testkit.JsonTrackerImporter"]
    }

    fn description(&self) -> &'static str {
        "test-only tracker: bugs served as JSON"
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Importer>, Error> {
        Ok(Arc::new(JsonTrackerImporter {
            config: cx.config.clone(),
        }))
    }

    /// Everything under `base_url` when set, and on the hosts of the queries (a test
    /// tracker's bugs live beside its query pages).
    fn link_scope(&self, config: &TrackerConfig) -> Result<LinkScope, Error> {
        let mut scope = LinkScope::none();
        if !config.base_url.trim().is_empty() {
            scope = scope.with(config.base_url_with_slash()?.as_str())?;
        }
        for q in &config.queries {
            let url = bugimporters_core::check_http_url(&q.url)?;
            let root = url.join("/").map_err(|e| Error::config(e.to_string()))?;
            scope = scope.with(root.as_str())?;
        }
        Ok(scope)
    }

    fn parse_formats(&self) -> Vec<ParseFormat> {
        vec![ParseFormat {
            name: "testkit-page-json",
            kind: ParseFormatKind::Bugs,
            files: "one query page",
            description: "a testkit query page",
        }]
    }

    fn parse(
        &self,
        _cx: &BuildContext<'_>,
        _format: &str,
        input: &ParseInput,
    ) -> Result<ParseOutput, Error> {
        let (path, body) = input.file(0, "one query page")?;
        Ok(ParseOutput::Bugs(parse_page(path, body)?.bugs))
    }
}

/// One query page.
#[derive(Debug, Deserialize)]
pub struct Page {
    /// The bugs of the page.
    #[serde(default)]
    pub bugs: Vec<ParsedBug>,
    /// The next page, if any.
    #[serde(default)]
    pub next: Option<String>,
}

/// Parses a query page.
pub fn parse_page(url: &str, body: &[u8]) -> Result<Page, Error> {
    serde_json::from_slice(body).map_err(|e| Error::parse(url, e))
}

/// Importer of the `testkit` type.
#[derive(Debug)]
pub struct JsonTrackerImporter {
    config: TrackerConfig,
}

#[async_trait]
impl Importer for JsonTrackerImporter {
    async fn process_queries(&self, ctx: &ImportContext) -> Result<(), Error> {
        let mut failed = None;
        for query in &self.config.queries {
            let mut next = Some(query.url.clone());
            while let Some(url) = next.take() {
                let page = match ctx.get(&url).await {
                    Ok(r) => {
                        let parse = |body: &[u8], url: &str| parse_page(url, body);
                        Job::new(url.as_str(), r.body, parse).run().await
                    }
                    Err(e) => Err(e),
                };
                let page = match page {
                    Ok(p) => p,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                };
                for bug in page.bugs {
                    if ctx.claim(&bug.canonical_bug_link) {
                        ctx.emit(bug).await?;
                    }
                }
                next = page.next;
            }
        }
        failed.map_or(Ok(()), Err)
    }

    async fn process_existing_bugs(
        &self,
        ctx: &ImportContext,
        urls: &[String],
    ) -> Result<(), Error> {
        let urls: Vec<String> = urls.iter().filter(|u| ctx.claim(u)).cloned().collect();
        let results: Vec<Result<(), Error>> = futures::stream::iter(urls)
            .map(|url| refresh(ctx, url))
            .buffer_unordered(8)
            .collect()
            .await;
        results.into_iter().collect()
    }
}

async fn refresh(ctx: &ImportContext, url: String) -> Result<(), Error> {
    match ctx.get(&url).await {
        Ok(resp) => {
            let parse = |body: &[u8], url: &str| {
                serde_json::from_slice::<ParsedBug>(body).map_err(|e| Error::parse(url, e))
            };
            match Job::new(url.as_str(), resp.body, parse).run().await {
                Ok(bug) => ctx.emit(bug).await,
                Err(e) => {
                    ctx.report_error(e);
                    Ok(())
                }
            }
        }
        Err(e) if e.is_not_found() => {
            let name = ctx.tracker_name();
            ctx.emit(ParsedBug::deleted(url.as_str(), name, name, ctx.now()))
                .await
        }
        Err(e) => {
            ctx.report_error(e);
            Ok(())
        }
    }
}
