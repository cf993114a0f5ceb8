//! # bugimporters-gitlab
//!
//! The `gitlab` tracker type: the issues of one project on gitlab.com or a self-hosted GitLab,
//! read through the REST API v4.
//!
//! * **Configuration**: `base_url` (the instance, default `https://gitlab.com`), `project`
//!   (`group/subgroup/project` or the numeric id), label rules `bitesized_tag` /
//!   `documentation_tag` (or the common `bitesized_text` with `bitesized_type: label`),
//!   `token_env`, `include_confidential`, `fetch_participants` (opt-in: one request per issue).
//! * **Queries** are issue-list API URLs (`{base}/api/v4/projects/{id}/issues?...`); without
//!   one, every issue of the project (`state=all&per_page=100`). Pages are followed to the
//!   end by `Link: rel="next"` (else `X-Next-Page`). The list API carries every field the
//!   record needs: there is no request per issue.
//! * **Incremental**: `updated_after=` from a query's `last_polled`; the pages of a listing
//!   without a time filter are conditional requests (ETag).
//! * **Existing bugs** are refreshed by listing them by iid (`iids[]=`, 100 a request,
//!   conditional: `304` → `_no_update`); a bug such a listing does not name is asked for alone
//!   (`404` → `_deleted`). After a complete listing of every issue, the held bugs it did not
//!   name are asked for alone directly.
//! * **Confidential** issues are skipped unless `include_confidential: true` (a held bug that
//!   became confidential is deleted). GitLab lists no merge requests in its issues API.
//! * **Credentials**: a token from `GITLAB_TOKEN` (or the variable `token_env` names), sent as
//!   `PRIVATE-TOKEN` to the instance's origin only, never logged. Rate-limit waits
//!   (`RateLimit-*`, `Retry-After`) are the core fetch layer's.
//!
//! The parsers ([`parser`]) are pure and serve the `parse` formats `gitlab-issue-json` and
//! `gitlab-issues-json`. The user documentation is `docs/trackers/gitlab.md`.
//!
//! ## Example
//!
//! ```
//! use bugimporters_core::{time::parse_datetime, Registry};
//! use bugimporters_gitlab::parser::{parse_issue, IssueItem, ParseSettings};
//!
//! let mut registry = Registry::new();
//! bugimporters_gitlab::register(&mut registry);
//! assert_eq!(registry.canonical_kind("gitlab").unwrap(), "gitlab");
//!
//! let body = br#"{"iid": 4, "web_url": "https://gitlab.com/g/p/-/issues/4",
//!   "title": "Crash", "description": null, "state": "opened",
//!   "author": {"username": "ann", "name": "Ann"}, "assignees": [{"username": "bob"}],
//!   "labels": ["easy", "priority::high"], "confidential": false,
//!   "created_at": "2024-01-02T03:04:05.000Z", "updated_at": "2024-01-03T00:00:00.000Z"}"#;
//! let settings = ParseSettings::new("My project", "My project", "easy", "docs");
//! let now = parse_datetime("2024-02-01T00:00:00").unwrap();
//! let IssueItem::Issue(bug) = parse_issue(body, "issue.json", &settings, now).unwrap() else {
//!     panic!("not confidential")
//! };
//! assert_eq!(bug.good_for_newcomers, Some(true));
//! assert_eq!(bug.importance.as_deref(), Some("high"));
//! assert_eq!(bug.people_involved, Some(2));
//! ```

#![deny(missing_docs)]

mod client;
pub mod config;
mod importer;
pub mod parser;

use std::sync::Arc;

use bugimporters_core::{
    BuildContext, ConfigKey, Error, Importer, ImporterFactory, LinkScope, ParseFormat,
    ParseFormatKind, ParseInput, ParseOutput, Registry, TrackerConfig,
};

pub use client::{MAX_PAGES, PER_PAGE, TOKEN_HEADER};
pub use config::{GitLabOptions, GitLabProject};
pub use importer::GitLabImporter;
pub use parser::{parse_issue, parse_issue_list, IssueItem, IssuePage, ParseSettings};

/// The type name.
pub const KIND: &str = "gitlab";

/// `parse` format: one issue object.
pub const FORMAT_ISSUE: &str = "gitlab-issue-json";
/// `parse` format: one page of an issue list.
pub const FORMAT_ISSUES: &str = "gitlab-issues-json";

/// Registers the `gitlab` type.
pub fn register(registry: &mut Registry) {
    registry.register(Arc::new(GitLabFactory));
}

/// Factory of the `gitlab` type.
#[derive(Debug, Clone, Copy, Default)]
pub struct GitLabFactory;

impl ImporterFactory for GitLabFactory {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["gitlab.GitLabBugImporter"]
    }

    fn description(&self) -> &'static str {
        "GitLab issues, gitlab.com or self-hosted (REST API v4)"
    }

    /// Each claim is held by this crate's tests.
    fn capabilities(&self) -> bugimporters_core::Capabilities {
        bugimporters_core::Capabilities::NONE
            .incremental()
            .conditional_requests()
            .deletion_detection()
            .webhooks()
            .auth(&[
                bugimporters_core::AuthKind::Anonymous,
                bugimporters_core::AuthKind::Token,
            ])
    }

    /// `example.yaml`, the first example of `docs/trackers/gitlab.md` (a test keeps them equal).
    fn example_config(&self) -> Option<&'static str> {
        Some(include_str!("../example.yaml"))
    }

    fn config_keys(&self) -> &'static [ConfigKey] {
        config::CONFIG_KEYS
    }

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Importer>, Error> {
        Ok(Arc::new(GitLabImporter::new(cx.config)?))
    }

    /// The project's pages, `{base}/{project}/` (`-/issues/N`, `issues/N`, `-/work_items/N`);
    /// the whole instance when `project` is a numeric id (its path is not known offline).
    fn link_scope(&self, config: &TrackerConfig) -> Result<LinkScope, Error> {
        let p = GitLabOptions::from_config(config)?.project(config)?;
        if p.path.bytes().all(|b| b.is_ascii_digit()) {
            return LinkScope::under(&format!("{}/", p.base));
        }
        LinkScope::under(&format!("{}/{}/", p.base, p.path))
    }

    fn parse_formats(&self) -> Vec<ParseFormat> {
        vec![
            ParseFormat {
                name: FORMAT_ISSUE,
                kind: ParseFormatKind::Bugs,
                files: "one issue JSON (GET /projects/:id/issues/:iid)",
                description: "one GitLab issue object",
            },
            ParseFormat {
                name: FORMAT_ISSUES,
                kind: ParseFormatKind::Bugs,
                files: "one issue-list page JSON (GET /projects/:id/issues)",
                description: "a page of a GitLab issue list; confidential issues are skipped unless include_confidential",
            },
        ]
    }

    fn parse(
        &self,
        cx: &BuildContext<'_>,
        format: &str,
        input: &ParseInput,
    ) -> Result<ParseOutput, Error> {
        // Only names and label rules are needed: no project key is required to parse.
        let settings = GitLabOptions::from_config(cx.config)?.parse_settings(cx.config)?;
        let now = input.options.now;
        let name = input.url_or_path();
        match format {
            FORMAT_ISSUE => {
                let (_, body) = input.file(0, "one issue JSON")?;
                match parse_issue(body, &name, &settings, now)? {
                    IssueItem::Issue(bug) => Ok(ParseOutput::Bugs(vec![*bug])),
                    IssueItem::Skipped { link } => Err(Error::parse(
                        name,
                        format!(
                            "a confidential issue ({}); set include_confidential: true to parse it",
                            link.as_deref().unwrap_or("no web_url")
                        ),
                    )),
                }
            }
            FORMAT_ISSUES => {
                let (_, body) = input.file(0, "one issue-list page JSON")?;
                let page = parse_issue_list(body, &name, &settings, now)?;
                if let Some(e) = page.errors.into_iter().next() {
                    return Err(e);
                }
                Ok(ParseOutput::Bugs(page.bugs))
            }
            other => Err(Error::config(format!(
                "tracker type {KIND} has no parse format {other:?} (known: {FORMAT_ISSUE}, {FORMAT_ISSUES})"
            ))),
        }
    }
}
