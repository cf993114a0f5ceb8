//! # bugimporters-phabricator
//!
//! The `phabricator` tracker type (alias `phorge`): the Maniphest tasks of a Phabricator or
//! Phorge instance (Wikimedia's, say), read through Conduit — every call a `POST` of form
//! fields to `{base_url}/api/METHOD` ([`bugimporters_core::fetch::Request::post_form`]).
//!
//! * **Configuration**: `base_url` (the instance root, required), `projects` (tags every
//!   listed task must carry), rules `bitesized_tag` / `documentation_tag` (project tags, e.g.
//!   Wikimedia's `Good first task`), `token_env` (default `PHABRICATOR_TOKEN`; without a token
//!   the reads are anonymous, which instances allow or refuse).
//! * **Queries** are Maniphest query URLs `{base_url}/maniphest/query/KEY/` (a built-in query —
//!   `open`, `all` — or a saved one); none means `open`. Each is one `maniphest.search` with
//!   `queryKey`, the `projects` as PHIDs (resolved with `project.search`; an unknown tag is an
//!   error, never a wider search), paged by `after` cursor, 100 tasks a page, with the
//!   `projects` and `subscribers` attachments.
//! * **Incremental**: `constraints[modifiedStart]` from a query's `last_polled`.
//! * **Records**: `T<id>` links under the instance; title, description (remarkup as written),
//!   status and priority names, `dateCreated`/`dateModified` epochs; closed from the instance's
//!   status map (`maniphest.status.search`); author and owner PHIDs resolved with
//!   `user.search`, 100 a call; bite-size and documentation from the task's project PHIDs.
//! * **Held tasks** are refreshed by one search per 100 ids (`constraints[ids]`); a task the
//!   answering search does not return is gone or hidden from us, and is `_deleted`.
//! * **Credentials**: the token goes as the form field `api.token`, registered with the
//!   redactor and never part of a recording's key, only to the instance (every call's URL is
//!   built from `base_url`).
//!
//! User documentation: `docs/trackers/phabricator.md`.

#![deny(missing_docs)]

pub mod config;
mod importer;
pub mod parser;

use bugimporters_core::{
    AuthKind, BuildContext, Capabilities, Error, LinkScope, ParseFormat, ParseInput, ParseOutput,
    TrackerConfig,
};

pub use config::PhabricatorOptions;
pub use importer::{query_key, PhabricatorImporter, MAX_PAGES, PAGE_SIZE};

/// The type name.
pub const KIND: &str = "phabricator";

/// `parse` format: one `maniphest.search` answer.
pub const FORMAT_SEARCH: &str = "phabricator-search-json";

const FORMATS: [ParseFormat; 1] = [ParseFormat::bugs(
    FORMAT_SEARCH,
    "one maniphest.search answer (JSON)",
    "the tasks of one Conduit maniphest.search page (users shown by PHID, no rule tags resolved)",
)];

bugimporters_core::tracker_factory! {
    /// Factory of the `phabricator` type.
    pub struct PhabricatorFactory;
    register: /// Registers the `phabricator` type.
        fn register;
    info: {
        // The type's identity; each capability claimed is held by this crate's tests.
        aliases: &["phorge"],
        description: "Phabricator / Phorge Maniphest tasks (Conduit maniphest.search)",
        capabilities: Capabilities::NONE
            .incremental()
            .deletion_detection()
            .auth(&[AuthKind::Anonymous, AuthKind::Token]),
    },
    formats: FORMATS,
    build: |cx| PhabricatorImporter::new(cx.config),
    parse: parse,

    /// The instance's pages (the importer names only `{base_url}/T<id>`, built from ids).
    fn link_scope(&self, config: &TrackerConfig) -> Result<LinkScope, Error> {
        config::link_scope(config)
    }
}

/// The `parse` command: reads `input` as `format` ([`FORMAT_SEARCH`]).
fn parse(cx: &BuildContext<'_>, format: &str, input: &ParseInput) -> Result<ParseOutput, Error> {
    if format != FORMAT_SEARCH {
        return Err(Error::config(format!(
            "tracker type {KIND} has no parse format {format:?}"
        )));
    }
    let (path, body) = input.file(0, "maniphest.search JSON")?;
    let page = parser::parse_search(body, path)?;
    let lookups = parser::Lookups {
        instance: config::instance(cx.config)?,
        tracker_name: cx.config.tracker_name.clone(),
        project_name: bugimporters_core::forge::project_name_of(cx.config)?,
        ..parser::Lookups::default()
    };
    Ok(ParseOutput::Bugs(
        page.tasks
            .iter()
            .map(|t| parser::task_bug(t, &lookups, input.options.now))
            .collect(),
    ))
}
