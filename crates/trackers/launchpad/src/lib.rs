//! # bugimporters-launchpad
//!
//! The `launchpad` tracker type (alias `launchpad.LaunchpadBugImporter`, the original's class
//! name): the bugs of one Launchpad project, read anonymously through the Launchpad web
//! service (`https://api.launchpad.net/1.0`, JSON).
//!
//! * **Queries** are `searchTasks` URLs as the original host exported them
//!   (`https://api.launchpad.net/1.0/<project>?ws.op=searchTasks&created_since=…`). The first
//!   request is the URL as configured; following pages come from `next_collection_link`.
//! * Each **bug task** is completed from three more documents: its **bug** (description, tags,
//!   last change, reporter), the bug's **subscriptions** (people involved) and the bug's
//!   **owner** (login and name). Each URL is fetched **once per run**, and bugs that share a
//!   document (the same owner, say) share its answer — the original's duplicate filter dropped
//!   such bugs.
//! * **Incremental**: `modified_since` from a query's `last_polled`.
//! * **Existing bugs** (`https://bugs.launchpad.net/<project>/+bug/<n>`) are refreshed through
//!   `…/<project>/+bug/<n>/bug_tasks`, read as the collection the live API returns (the
//!   original read it as one task and lost the bug), with conditional requests: unchanged →
//!   `_no_update`, `404`/`410` or no task on the project any more → `_deleted`.
//!
//! The parsers ([`parser`]) are pure and serve the `parse` formats `launchpad-task-json` and
//! `launchpad-collection-json`. The user documentation is `docs/trackers/launchpad.md`.
//!
//! ## Example
//!
//! ```
//! use bugimporters_core::{time::parse_datetime, Registry};
//! use bugimporters_launchpad::parser::{assemble, parse_bug, parse_person, parse_task, ParseSettings};
//!
//! let mut registry = Registry::new();
//! bugimporters_launchpad::register(&mut registry);
//! assert_eq!(registry.canonical_kind("launchpad.LaunchpadBugImporter").unwrap(), "launchpad");
//!
//! let task = parse_task(br#"{"resource_type_link": "https://api.launchpad.net/1.0/#bug_task",
//!   "web_link": "https://bugs.launchpad.net/hello/+bug/7", "title": "Bug #7 in Hello: \"Crash\"",
//!   "bug_link": "https://api.launchpad.net/1.0/bugs/7", "status": "Triaged",
//!   "importance": "Low", "date_created": "2024-01-02T03:04:05.5+00:00", "date_closed": null}"#,
//!   "task.json").unwrap().unwrap();
//! let bug = parse_bug(br#"{"description": "It crashes.", "tags": ["easy"],
//!   "date_last_updated": "2024-01-03T00:00:00+00:00"}"#, "bug.json").unwrap();
//! let owner = parse_person(br#"{"name": "ann", "display_name": "Ann"}"#, "ann.json").unwrap();
//! let settings = ParseSettings::new("Hello", "easy", "doc");
//! let now = parse_datetime("2024-02-01T00:00:00").unwrap();
//! let record = assemble(&task, Some(&bug), Some(2), Some(&owner), &settings, now);
//! assert_eq!(record.canonical_bug_link, "https://bugs.launchpad.net/hello/+bug/7");
//! assert_eq!(record.good_for_newcomers, Some(true));
//! assert_eq!(record.looks_closed, Some(false));
//! assert_eq!(record.people_involved, Some(2));
//! assert_eq!(record.submitter_username.as_deref(), Some("ann"));
//! ```

#![deny(missing_docs)]

pub mod client;
pub mod config;
mod importer;
pub mod parser;

use bugimporters_core::{
    BuildContext, Error, LinkScope, ParseFormat, ParseInput, ParseOutput, TrackerConfig,
};

pub use config::LaunchpadOptions;
pub use importer::{LaunchpadImporter, MAX_PAGES};
pub use parser::ParseSettings;

/// The type name.
pub const KIND: &str = "launchpad";

/// `parse` format: one bug task, optionally completed by its bug, subscriptions and owner.
pub const FORMAT_TASK: &str = "launchpad-task-json";
/// `parse` format: one collection page (`searchTasks`, `bug_tasks`) → the bug links it names.
pub const FORMAT_COLLECTION: &str = "launchpad-collection-json";

const FORMATS: [ParseFormat; 2] = [
    ParseFormat::bugs(
        FORMAT_TASK,
        "TASK.json [BUG.json [SUBSCRIPTIONS.json [OWNER.json]]]",
        "one Launchpad bug task; with the bug, its subscriptions and its owner person, the full record",
    ),
    ParseFormat::bug_urls(
        FORMAT_COLLECTION,
        "one collection JSON (searchTasks or bug_tasks page)",
        "the bug links (task web_link) a Launchpad collection page names",
    ),
];

bugimporters_core::tracker_factory! {
    /// Factory of the `launchpad` type.
    pub struct LaunchpadFactory;
    register: /// Registers the `launchpad` type.
        fn register;
    info: {
        // Launchpad is read anonymously.
        aliases: &["launchpad.LaunchpadBugImporter"],
        description: "Launchpad bugs of one project (web service 1.0, searchTasks)",
        capabilities: bugimporters_core::Capabilities::NONE
            .incremental()
            .conditional_requests()
            .deletion_detection(),
    },
    formats: FORMATS,
    build: |cx| LaunchpadImporter::new(cx.config),
    parse: parse,

    fn link_scope(&self, config: &TrackerConfig) -> Result<LinkScope, Error> {
        LaunchpadOptions::from_config(config)?.link_scope()
    }
}

/// The `parse` command: reads `input` as `format` (one of `FORMATS`).
fn parse(cx: &BuildContext<'_>, format: &str, input: &ParseInput) -> Result<ParseOutput, Error> {
    let options = LaunchpadOptions::from_config(cx.config)?;
    let settings = options.parse_settings(&cx.config.tracker_name);
    let now = input.options.now;
    let name = input.url_or_path();
    match format {
        FORMAT_TASK => {
            let (_, body) = input.file(0, "TASK.json")?;
            let task = parser::parse_task(body, &name)?.ok_or_else(|| {
                Error::parse(name.as_str(), "not a bug task (resource_type_link)")
            })?;
            let bug = match input.files.get(1) {
                Some((path, b)) => Some(parser::parse_bug(b, path)?),
                None => None,
            };
            let people = match input.files.get(2) {
                Some((path, b)) => match parser::parse_collection_size(b, path)? {
                    parser::CollectionSize::Known(n) => Some(n),
                    parser::CollectionSize::Link(_) => None,
                },
                None => None,
            };
            let owner = match input.files.get(3) {
                Some((path, b)) => Some(parser::parse_person(b, path)?),
                None => None,
            };
            Ok(ParseOutput::Bugs(vec![parser::assemble(
                &task,
                bug.as_ref(),
                people,
                owner.as_ref(),
                &settings,
                now,
            )]))
        }
        FORMAT_COLLECTION => {
            let (_, body) = input.file(0, "one collection JSON")?;
            let coll = parser::parse_collection(body, &name)?;
            let mut urls = Vec::new();
            for e in &coll.entries {
                if let Some(t) = parser::parse_task_value(e, &name)? {
                    urls.push(t.web_link);
                }
            }
            Ok(ParseOutput::BugUrls(urls))
        }
        other => Err(ParseFormat::unknown(KIND, other, &FORMATS)),
    }
}
