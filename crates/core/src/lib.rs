//! # bugimporters-core
//!
//! The model and the contracts every part of bugimporters shares, with no knowledge of any
//! particular tracker:
//!
//! * [`ParsedBug`] — one normalised bug, serialised with the field names of the original
//!   OpenHatch importers so that hosts built for the original import our output unchanged
//!   (the schema is in `docs/output-schema.md`);
//! * [`TrackerConfig`] and [`Query`] — one tracker record of the crawl configuration, in the
//!   format the original host exported (see `docs/config-reference.md`);
//! * [`Importer`], [`ImportContext`] and [`ImporterFactory`] — what a tracker crate implements,
//!   and the context through which it fetches and emits;
//! * [`Registry`] — the owned map of tracker types, aliases, custom parsers and `parse` formats;
//! * [`fetch`] — the one polite HTTP layer every importer must use (limits, retries,
//!   `Retry-After`, rate-limit headers, conditional requests, record/replay and the
//!   private-address guard);
//! * [`forge`] — helpers shared by the issue-list API trackers (GitHub, GitLab,
//!   Gitea/Forgejo, Pagure): refresh of held issues, label rules, parsing helpers;
//! * [`redact`] and [`log`] — the process-wide redaction of secrets, bounded quotes of
//!   untrusted input in errors ([`excerpt`]) and the log setup every binary shares;
//! * [`link`] — link ownership ([`LinkScope`]) and the URL rules (http(s) only, no userinfo);
//! * [`parse`] — the bounded blocking pool and deadline for CPU-heavy parsing, and the cost
//!   bound of HTML; [`limits`] — the size caps of an output record;
//! * [`classify`] and [`time`] — the bite-size/documentation rules, project naming and the date
//!   formats trackers use.
//!
//! ## Example: a minimal tracker plugin
//!
//! ```
//! use std::sync::Arc;
//! use async_trait::async_trait;
//! use bugimporters_core::{
//!     BuildContext, Error, ImportContext, Importer, ImporterFactory, ParsedBug, Registry,
//!     TrackerConfig,
//! };
//!
//! /// Emits one bug per query URL, without any network access.
//! #[derive(Debug)]
//! struct EchoImporter {
//!     config: TrackerConfig,
//! }
//!
//! #[async_trait]
//! impl Importer for EchoImporter {
//!     async fn process_queries(&self, ctx: &ImportContext) -> Result<(), Error> {
//!         for query in &self.config.queries {
//!             let mut bug = ParsedBug::new(query.url.clone());
//!             bug.title = Some(format!("bug at {}", query.url));
//!             ctx.emit(bug).await?;
//!         }
//!         Ok(())
//!     }
//!
//!     async fn process_existing_bugs(&self, _ctx: &ImportContext, _urls: &[String]) -> Result<(), Error> {
//!         Ok(())
//!     }
//! }
//!
//! #[derive(Debug)]
//! struct EchoFactory;
//!
//! impl ImporterFactory for EchoFactory {
//!     fn kind(&self) -> &'static str { "echo" }
//!     fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Importer>, Error> {
//!         Ok(Arc::new(EchoImporter { config: cx.config.clone() }))
//!     }
//! }
//!
//! let mut registry = Registry::new();
//! registry.register(Arc::new(EchoFactory));
//! assert!(registry.factory("echo").is_ok());
//! assert!(registry.factory("nope").unwrap_err().to_string().contains("echo"));
//! ```

#![deny(missing_docs)]

pub mod classify;
mod config;
mod error;
pub mod fetch;
pub mod forge;
mod importer;
pub mod limits;
pub mod link;
pub mod log;
mod model;
pub mod paging;
pub mod parse;
pub mod redact;
mod registry;
pub mod secrets;
pub mod time;

pub use config::{load_config_str, ConfigFormat, Query, TrackerConfig, COMMON_KEYS};
pub use error::{
    body_excerpt, excerpt, excerpt_plain, Error, Result, BODY_EXCERPT_MAX, EXCERPT_MAX,
};
pub use importer::{
    merge_credential_uses, CredentialUse, ImportContext, ImportOptions, Importer, ReportedError,
    RunStats, TrackerStats,
};
pub use link::{check_http_url, redact_userinfo, LinkScope};
pub use model::ParsedBug;
pub use registry::{
    AuthKind, BuildContext, BuiltImporter, Capabilities, ConfigKey, ImporterFactory, ParseFormat,
    ParseFormatKind, ParseInput, ParseOutput, Registry, TypeInfo,
};

/// The `User-Agent` every request carries: the project name and version.
pub const USER_AGENT: &str = concat!(
    "bugimporters/",
    env!("CARGO_PKG_VERSION"),
    " (+https://example.invalid/bugimporters)"
);
