//! # bugimporters-testkit
//!
//! Tools for testing bugimporters and its plugins without the internet:
//!
//! * [`json_tracker`] — a tiny test-only tracker type (`testkit`) whose "API" is JSON files:
//!   a query answers `{"bugs": [ParsedBug...], "next": URL?}`, a bug URL answers one ParsedBug.
//!   It exercises the whole crawl (paging, de-duplication, deletion, errors) from a hand-made
//!   replay directory or a wiremock server.
//! * [`forge`] — helpers shared by the importer tests of the JSON API trackers (GitHub,
//!   GitLab, Gitea/Forgejo, Pagure, Jira, Launchpad, Redmine): a loopback client and one
//!   collected run.
//! * [`synthetic`] — a synthetic tracker server on 127.0.0.1 (N generated bugs, Trac,
//!   Bugzilla and GitHub protocols, latency, concurrency limit, fault injection, change
//!   simulation) for end-to-end tests, the demo and the benchmarks.
//! * [`github_cost`] — a GitHub REST server that charges like GitHub (points per token,
//!   free `304`s, rate-limit headers, a secondary limit), for the cost benchmark.
//! * [`suite`] — the conformance suite every tracker crate runs (`tests/suite.rs`): paging,
//!   `since`, 429s, refusals that never delete, not-found that deletes, credentials only to
//!   the tracker's origin, empty answers, de-duplication, hostile links.
//! * [`hostile`] — hostile servers (always 500, garbage, redirect loop, huge, trickling,
//!   truncated, XML bomb) and hostile HTML pages, for the hostile-crawl test and benchmarks.
//!
//! ```
//! let mut registry = bugimporters_core::Registry::new();
//! bugimporters_testkit::register(&mut registry);
//! assert!(registry.factory("testkit").is_ok());
//! ```

#![deny(missing_docs)]

pub mod forge;
pub mod fuzzing;
pub mod github_cost;
pub mod hostile;
pub mod json_tracker;
pub mod serde_fields;
pub mod suite;
pub mod synthetic;

pub use json_tracker::register;
