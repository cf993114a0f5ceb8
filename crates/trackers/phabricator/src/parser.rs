//! Pure parsers of Conduit answers: the envelope, `maniphest.search` pages, the status map,
//! users and projects; and the record of one task ([`task_bug`]).
//!
//! Every Conduit answer is `{"result": …, "error_code": null|"ERR-…", "error_info": …}` with
//! HTTP 200 even for errors; an error code is an error naming the URL and the code.

use std::collections::{HashMap, HashSet};

use bugimporters_core::time::from_epoch_secs;
use bugimporters_core::{parse, Error, ParsedBug};
use chrono::NaiveDateTime;
use serde::de::DeserializeOwned;
use serde::Deserialize;

#[derive(Deserialize)]
struct Envelope<T> {
    result: Option<T>,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    error_info: Option<String>,
}

/// The `result` of a Conduit answer; an `error_code` (bad token, unknown constraint, …) is an
/// error naming `url`, the code and a bounded excerpt of the message.
pub fn conduit_result<T: DeserializeOwned>(body: &[u8], url: &str) -> Result<T, Error> {
    let envelope: Envelope<T> = parse::json(url, body)?;
    if let Some(code) = envelope.error_code {
        let info = envelope.error_info.unwrap_or_default();
        return Err(Error::parse(
            url,
            format!(
                "Conduit error {}: {}",
                bugimporters_core::excerpt_plain(&code),
                bugimporters_core::excerpt_plain(&info)
            ),
        ));
    }
    envelope
        .result
        .ok_or_else(|| Error::parse(url, "Conduit answered without a result"))
}

#[derive(Deserialize)]
struct SearchResult<T> {
    data: Vec<T>,
    #[serde(default)]
    cursor: Cursor,
}

#[derive(Deserialize, Default)]
struct Cursor {
    #[serde(default)]
    after: Option<serde_json::Value>,
}

impl Cursor {
    /// The `after` to send for the next page (Conduit gives a string or a number).
    fn after(&self) -> Option<String> {
        match &self.after {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// One page of `maniphest.search`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SearchPage {
    /// The tasks of the page.
    pub tasks: Vec<Task>,
    /// The cursor of the next page; `None` on the last.
    pub after: Option<String>,
}

/// A Maniphest task as `maniphest.search` gives it (with the `projects` and `subscribers`
/// attachments).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct Task {
    /// `T<id>`.
    pub id: u64,
    /// The task's fields.
    pub fields: TaskFields,
    /// The attachments asked for.
    #[serde(default)]
    pub attachments: Attachments,
}

/// The `fields` of a task.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TaskFields {
    /// The title.
    pub name: String,
    /// The description, as written (remarkup).
    #[serde(default)]
    pub description: Option<Description>,
    /// Who wrote it.
    #[serde(rename = "authorPHID")]
    pub author_phid: String,
    /// Who it is assigned to.
    #[serde(rename = "ownerPHID", default)]
    pub owner_phid: Option<String>,
    /// Its status.
    pub status: Named,
    /// Its priority.
    #[serde(default)]
    pub priority: Option<Named>,
    /// Created, Unix seconds.
    pub date_created: i64,
    /// Last modified, Unix seconds.
    pub date_modified: i64,
    /// Closed, Unix seconds (newer instances).
    #[serde(default)]
    pub date_closed: Option<i64>,
}

/// A description object.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct Description {
    /// The remarkup text.
    #[serde(default)]
    pub raw: String,
}

/// A status or priority: its value and its display name.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct Named {
    /// `open`, `resolved`, or a priority number.
    #[serde(default)]
    pub value: serde_json::Value,
    /// What the instance shows.
    #[serde(default)]
    pub name: String,
}

/// The attachments of a task.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct Attachments {
    /// `attachments[projects]`.
    #[serde(default)]
    pub projects: Option<ProjectsAttachment>,
    /// `attachments[subscribers]`.
    #[serde(default)]
    pub subscribers: Option<SubscribersAttachment>,
}

/// The projects a task is tagged with.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct ProjectsAttachment {
    /// Their PHIDs.
    #[serde(rename = "projectPHIDs", default)]
    pub project_phids: Vec<String>,
}

/// Who follows a task.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct SubscribersAttachment {
    /// Their PHIDs (the first few).
    #[serde(rename = "subscriberPHIDs", default)]
    pub subscriber_phids: Vec<String>,
}

/// Parses a `maniphest.search` answer.
pub fn parse_search(body: &[u8], url: &str) -> Result<SearchPage, Error> {
    let result: SearchResult<Task> = conduit_result(body, url)?;
    let after = result.cursor.after();
    Ok(SearchPage {
        tasks: result.data,
        after,
    })
}

#[derive(Deserialize)]
struct StatusRow {
    value: String,
    #[serde(default)]
    closed: bool,
}

/// Parses `maniphest.status.search`: status value → whether it is a closed status.
pub fn parse_statuses(body: &[u8], url: &str) -> Result<HashMap<String, bool>, Error> {
    let result: SearchResult<StatusRow> = conduit_result(body, url)?;
    Ok(result
        .data
        .into_iter()
        .map(|s| (s.value, s.closed))
        .collect())
}

/// A user: login and real name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct User {
    /// `username`.
    pub username: String,
    /// `realName`; `None` when blank.
    pub real_name: Option<String>,
}

#[derive(Deserialize)]
struct PhidRow<F> {
    phid: String,
    fields: F,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserFields {
    username: String,
    #[serde(default)]
    real_name: Option<String>,
}

/// Parses `user.search`: PHID → user.
pub fn parse_users(body: &[u8], url: &str) -> Result<HashMap<String, User>, Error> {
    let result: SearchResult<PhidRow<UserFields>> = conduit_result(body, url)?;
    Ok(result
        .data
        .into_iter()
        .map(|r| {
            let real_name = r.fields.real_name.filter(|n| !n.trim().is_empty());
            (
                r.phid,
                User {
                    username: r.fields.username,
                    real_name,
                },
            )
        })
        .collect())
}

#[derive(Deserialize)]
struct ProjectFields {
    #[serde(default)]
    slug: Option<String>,
}

/// Parses `project.search`: the PHIDs of the projects, with their slugs.
pub fn parse_projects(body: &[u8], url: &str) -> Result<Vec<(String, String)>, Error> {
    let result: SearchResult<PhidRow<ProjectFields>> = conduit_result(body, url)?;
    Ok(result
        .data
        .into_iter()
        .map(|r| (r.phid, r.fields.slug.unwrap_or_default()))
        .collect())
}

/// What a task's record needs besides the task: the instance, names, the rules' project
/// PHIDs, the status map and the users met so far.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Lookups {
    /// The instance root, `https://phabricator.example.org`.
    pub instance: String,
    /// `_tracker_name`.
    pub tracker_name: String,
    /// `_project_name`.
    pub project_name: String,
    /// PHIDs of the bite-size tags.
    pub bitesized: HashSet<String>,
    /// PHIDs of the documentation tags.
    pub documentation: HashSet<String>,
    /// Status value → closed.
    pub statuses: HashMap<String, bool>,
    /// User PHID → user.
    pub users: HashMap<String, User>,
}

impl Lookups {
    /// The canonical link of task `id`.
    pub fn link(&self, id: u64) -> String {
        format!("{}/T{id}", self.instance)
    }
}

/// The record of `task`. A status missing from the instance's status map is closed when the
/// task has a `dateClosed`, open otherwise.
pub fn task_bug(task: &Task, lookups: &Lookups, now: NaiveDateTime) -> ParsedBug {
    let f = &task.fields;
    let mut bug = ParsedBug::new(lookups.link(task.id));
    bug.title = Some(f.name.clone());
    bug.description = Some(
        f.description
            .as_ref()
            .map(|d| d.raw.clone())
            .unwrap_or_default(),
    );
    bug.status = Some(f.status.name.clone());
    bug.importance = f.priority.as_ref().map(|p| p.name.clone());
    bug.date_reported = from_epoch_secs(f.date_created);
    bug.last_touched = from_epoch_secs(f.date_modified);
    bug.last_polled = Some(now);
    let status = f.status.value.as_str().unwrap_or_default();
    bug.looks_closed = Some(
        lookups
            .statuses
            .get(status)
            .copied()
            .unwrap_or(f.date_closed.is_some()),
    );
    let author = lookups.users.get(&f.author_phid);
    bug.submitter_username = Some(author.map_or(f.author_phid.clone(), |u| u.username.clone()));
    bug.submitter_realname = Some(author.and_then(|u| u.real_name.clone()));
    let mut people: HashSet<&str> = HashSet::from([f.author_phid.as_str()]);
    people.extend(f.owner_phid.as_deref());
    if let Some(s) = &task.attachments.subscribers {
        people.extend(s.subscriber_phids.iter().map(String::as_str));
    }
    bug.people_involved = Some(u32::try_from(people.len()).unwrap_or(u32::MAX));
    bug.assigned = Some(f.owner_phid.is_some());
    let tags: &[String] = task
        .attachments
        .projects
        .as_ref()
        .map_or(&[], |p| &p.project_phids);
    bug.good_for_newcomers = Some(tags.iter().any(|t| lookups.bitesized.contains(t)));
    bug.concerns_just_documentation = Some(tags.iter().any(|t| lookups.documentation.contains(t)));
    bug.as_appears_in_distribution = Some(String::new());
    bug.tracker_name = Some(lookups.tracker_name.clone());
    bug.project_name = Some(lookups.project_name.clone());
    bug
}

/// The user PHIDs a page names (authors and owners), for one `user.search`.
pub fn user_phids(tasks: &[Task]) -> Vec<String> {
    let mut phids: Vec<String> = tasks
        .iter()
        .flat_map(|t| [Some(&t.fields.author_phid), t.fields.owner_phid.as_ref()])
        .flatten()
        .filter(|p| p.starts_with("PHID-USER-"))
        .cloned()
        .collect();
    phids.sort();
    phids.dedup();
    phids
}
