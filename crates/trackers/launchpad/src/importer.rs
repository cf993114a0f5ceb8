//! The [`LaunchpadImporter`]: `searchTasks` queries paged by `next_collection_link`, each
//! task completed from its bug, subscriptions and owner documents (each URL fetched once per
//! run), and the refresh of the bugs a host already holds.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bugimporters_core::parse::Job;
use bugimporters_core::{Error, ImportContext, Importer, ParsedBug, TrackerConfig};
use chrono::NaiveDateTime;
use futures::StreamExt;
use serde_json::Value;

use crate::client::{get, incremental_url, Cache};
use crate::config::{bug_link_parts, LaunchpadOptions};
use crate::parser::{
    assemble, parse_bug, parse_collection, parse_collection_size, parse_person, parse_task_value,
    parse_total_size, person_name_from_link, Bug, CollectionSize, ParseSettings, Person, Task,
};

/// Tasks completed at the same time (the context still bounds requests in flight by
/// `max_connections`).
const PARALLEL_TASKS: usize = 16;

/// Most collection pages read from one query (a loop guard).
pub const MAX_PAGES: usize = 10_000;

/// The documents of one run, shared by every bug that needs them.
#[derive(Debug, Default)]
struct RunCache {
    bugs: Cache<Arc<Bug>>,
    sizes: Cache<u64>,
    people: Cache<Arc<Person>>,
}

/// Which run a cache belongs to: the context's address and clock.
type RunKey = (usize, NaiveDateTime);

/// Imports the bugs of one Launchpad project. See the crate docs and
/// `docs/trackers/launchpad.md`.
#[derive(Debug)]
pub struct LaunchpadImporter {
    config: TrackerConfig,
    settings: ParseSettings,
    api_root: String,
    /// The cache of the current run, keyed by the run's context (address and clock), so that
    /// an importer reused for another run starts afresh.
    cache: Mutex<Option<(RunKey, Arc<RunCache>)>>,
}

impl LaunchpadImporter {
    /// An importer for `config`; fails (naming the key) on malformed Launchpad keys.
    pub fn new(config: &TrackerConfig) -> Result<Self, Error> {
        let options = LaunchpadOptions::from_config(config)?;
        Ok(LaunchpadImporter {
            settings: options.parse_settings(&config.tracker_name),
            api_root: options.api_root(),
            config: config.clone(),
            cache: Mutex::new(None),
        })
    }

    /// The web-service root this importer reads.
    pub fn api_root(&self) -> &str {
        &self.api_root
    }

    fn run_cache(&self, ctx: &ImportContext) -> Arc<RunCache> {
        let key: RunKey = (std::ptr::from_ref(ctx) as usize, ctx.now());
        let Ok(mut slot) = self.cache.lock() else {
            return Arc::new(RunCache::default());
        };
        match &*slot {
            Some((k, c)) if *k == key => c.clone(),
            _ => {
                let c = Arc::new(RunCache::default());
                *slot = Some((key, c.clone()));
                c
            }
        }
    }

    /// The first URL of each query: as configured, with `modified_since` from the query's
    /// `last_polled` when it has one (see [`incremental_url`]).
    pub fn query_urls(&self) -> Vec<String> {
        self.config
            .queries
            .iter()
            .map(|q| {
                let url = q.url.trim().to_owned();
                match q.last_polled {
                    Some(t) => incremental_url(&url, t),
                    None => url,
                }
            })
            .collect()
    }

    async fn run_query(
        &self,
        ctx: &ImportContext,
        cache: &RunCache,
        url: String,
    ) -> Result<(), Error> {
        let mut next = Some(url);
        let mut seen = HashSet::new();
        let mut pages = 0;
        while let Some(page_url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES || !seen.insert(page_url.clone()) {
                break;
            }
            let resp = match get(ctx, &page_url, false).await {
                Ok(r) => r,
                Err(e) => {
                    ctx.report_error(e);
                    break;
                }
            };
            let page = match Job::new(page_url.as_str(), resp.body, parse_task_page)
                .run()
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    ctx.report_error(e);
                    break;
                }
            };
            next = page.next;
            let mut tasks = Vec::new();
            for task in page.tasks {
                match task {
                    Ok(Some(t)) if ctx.claim(&t.web_link) => tasks.push(t),
                    Ok(_) => {}
                    Err(e) => ctx.report_error(e),
                }
            }
            let results: Vec<Result<(), Error>> = futures::stream::iter(tasks)
                .map(|task| async move {
                    match self.complete(ctx, cache, &task).await {
                        Ok(bug) => ctx.emit(bug).await,
                        Err(e) => {
                            ctx.report_error(e);
                            Ok(())
                        }
                    }
                })
                .buffer_unordered(PARALLEL_TASKS)
                .collect()
                .await;
            results.into_iter().collect::<Result<(), Error>>()?;
        }
        Ok(())
    }

    /// The bug document at `url`, once per run.
    async fn bug(
        &self,
        ctx: &ImportContext,
        cache: &RunCache,
        url: &str,
    ) -> Result<Arc<Bug>, Error> {
        cache
            .bugs
            .get_or_load(url, || async {
                let resp = get(ctx, url, false).await?;
                Job::new(url, resp.body, parse_bug)
                    .run()
                    .await
                    .map(Arc::new)
            })
            .await
    }

    /// The size of the collection at `url` (following `total_size_link`), once per run.
    async fn size(&self, ctx: &ImportContext, cache: &RunCache, url: &str) -> Result<u64, Error> {
        cache
            .sizes
            .get_or_load(url, || async {
                let resp = get(ctx, url, false).await?;
                match Job::new(url, resp.body, parse_collection_size)
                    .run()
                    .await?
                {
                    CollectionSize::Known(n) => Ok(n),
                    CollectionSize::Link(link) => {
                        let resp = get(ctx, &link, false).await?;
                        Job::new(link, resp.body, parse_total_size).run().await
                    }
                }
            })
            .await
    }

    /// The person at `url`, once per run. A person Launchpad no longer serves (404/410) is
    /// named after its link, with an empty display name, rather than losing the bug.
    async fn person(
        &self,
        ctx: &ImportContext,
        cache: &RunCache,
        url: &str,
    ) -> Result<Arc<Person>, Error> {
        let result = cache
            .people
            .get_or_load(url, || async {
                let resp = get(ctx, url, false).await?;
                Job::new(url, resp.body, parse_person)
                    .run()
                    .await
                    .map(Arc::new)
            })
            .await;
        match result {
            Err(e) if e.is_not_found() => match person_name_from_link(url) {
                Some(name) => Ok(Arc::new(Person {
                    name,
                    display_name: String::new(),
                })),
                None => Err(e),
            },
            other => other,
        }
    }

    /// One bug from its task: bug document, subscriptions count, owner.
    async fn complete(
        &self,
        ctx: &ImportContext,
        cache: &RunCache,
        task: &Task,
    ) -> Result<ParsedBug, Error> {
        let bug = self.bug(ctx, cache, &task.bug_link).await?;
        let owner_link = bug.owner_link.as_ref().or(task.owner_link.as_ref());
        let people = match &bug.subscriptions_link {
            // The subscriptions only feed `people_involved`: when they cannot be read, the
            // bug is kept with the people known (its owner), and the failure is reported.
            Some(l) => match self.size(ctx, cache, l).await {
                Ok(n) => Some(n),
                Err(e) => {
                    tracing::warn!(tracker = %ctx.tracker_name(), url = %task.web_link, "subscriptions unreadable; people_involved counts the owner only");
                    ctx.report_error(e);
                    owner_link.map(|_| 1)
                }
            },
            None => None,
        };
        let owner = match owner_link {
            Some(l) => Some(self.person(ctx, cache, l).await?),
            None => None,
        };
        Ok(assemble(
            task,
            Some(&bug),
            people,
            owner.as_deref(),
            &self.settings,
            ctx.now(),
        ))
    }

    /// Refreshes one held bug through `.../<target>/+bug/<n>/bug_tasks`.
    async fn refresh_one(
        &self,
        ctx: &ImportContext,
        cache: &RunCache,
        link: &str,
    ) -> Result<(), Error> {
        let name = ctx.tracker_name();
        let gone = || ParsedBug::deleted(link, name, name, ctx.now());
        let Some((target, number)) = bug_link_parts(link) else {
            ctx.report_error(Error::parse(
                link,
                "not a Launchpad bug link (…/<project>/+bug/<n>); cannot refresh it",
            ));
            return Ok(());
        };
        let tasks_url = format!("{}/{target}/+bug/{number}/bug_tasks", self.api_root);
        let bug_url = format!("{}/bugs/{number}", self.api_root);

        // Both conditional: when neither changed, the bug has not.
        let tasks_resp = match get(ctx, &tasks_url, true).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return ctx.emit(gone()).await,
            Err(e) => {
                ctx.report_error(e);
                return Ok(());
            }
        };
        let bug_resp = match get(ctx, &bug_url, true).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return ctx.emit(gone()).await,
            Err(e) => {
                ctx.report_error(e);
                return Ok(());
            }
        };
        if tasks_resp.not_modified() && bug_resp.not_modified() {
            return ctx
                .emit(ParsedBug::no_update(link, name, name, ctx.now()))
                .await;
        }
        let fetch_again = |url: String, resp: bugimporters_core::fetch::Response| async move {
            if resp.not_modified() {
                get(ctx, &url, false).await
            } else {
                Ok(resp)
            }
        };
        let tasks_resp = match fetch_again(tasks_url.clone(), tasks_resp).await {
            Ok(r) => r,
            Err(e) => {
                ctx.report_error(e);
                return Ok(());
            }
        };
        let bug_doc = match fetch_again(bug_url.clone(), bug_resp).await {
            Ok(r) => match Job::new(bug_url.as_str(), r.body, parse_bug).run().await {
                Ok(b) => Arc::new(b),
                Err(e) => {
                    ctx.report_error(e);
                    return Ok(());
                }
            },
            Err(e) => {
                ctx.report_error(e);
                return Ok(());
            }
        };
        let find = {
            let target = target.to_owned();
            move |body: &[u8], url: &str| find_task(body, url, &target, number)
        };
        let task = match Job::new(tasks_url.as_str(), tasks_resp.body, find)
            .run()
            .await
        {
            Ok(Some(t)) => t,
            Ok(None) => {
                tracing::info!(tracker = %name, url = %link, "the bug has no task on this target any more");
                return ctx.emit(gone()).await;
            }
            Err(e) => {
                ctx.report_error(e);
                return Ok(());
            }
        };
        cache.bugs.put(&bug_url, bug_doc.clone());
        cache.bugs.put(&task.bug_link, bug_doc);
        match self.complete(ctx, cache, &task).await {
            Ok(mut bug) => {
                // The host's key is the link it holds (it may differ in spelling only).
                bug.canonical_bug_link = link.to_owned();
                ctx.emit(bug).await
            }
            Err(e) => {
                ctx.report_error(e);
                Ok(())
            }
        }
    }
}

/// The task of `target` in a `bug_tasks` answer: a collection (the live API) or a single
/// task (the original's test data). `Ok(None)` when the bug has no task on `target`.
fn find_task(body: &[u8], url: &str, target: &str, number: u64) -> Result<Option<Task>, Error> {
    let doc: Value = bugimporters_core::parse::json(url, body)?;
    let candidates: Vec<Value> = if doc.get("entries").is_some() {
        parse_collection(body, url)?.entries
    } else {
        vec![doc]
    };
    let mut tasks = Vec::new();
    for c in &candidates {
        if let Some(t) = parse_task_value(c, url)? {
            tasks.push(t);
        }
    }
    let matches = |t: &Task| {
        bug_link_parts(&t.web_link)
            .is_some_and(|(tg, n)| n == number && tg.eq_ignore_ascii_case(target))
    };
    Ok(tasks.into_iter().find(matches))
}

/// One page of a `searchTasks` collection: the next page, and each entry read as a task
/// (`Ok(None)` for an entry that is no task).
struct TaskPage {
    next: Option<String>,
    tasks: Vec<Result<Option<Task>, Error>>,
}

/// Reads a `searchTasks` page from `url` (for the bounded parse pool).
fn parse_task_page(body: &[u8], url: &str) -> Result<TaskPage, Error> {
    let collection = parse_collection(body, url)?;
    let tasks = collection
        .entries
        .iter()
        .map(|entry| parse_task_value(entry, url))
        .collect();
    Ok(TaskPage {
        next: collection.next_collection_link,
        tasks,
    })
}

#[async_trait]
impl Importer for LaunchpadImporter {
    async fn process_queries(&self, ctx: &ImportContext) -> Result<(), Error> {
        let cache = self.run_cache(ctx);
        let runs = self
            .query_urls()
            .into_iter()
            .map(|url| self.run_query(ctx, &cache, url));
        let results = futures::future::join_all(runs).await;
        tracing::debug!(tracker = %ctx.tracker_name(), bugs = cache.bugs.len(), people = cache.people.len(), "queries done");
        results.into_iter().collect()
    }

    async fn process_existing_bugs(
        &self,
        ctx: &ImportContext,
        urls: &[String],
    ) -> Result<(), Error> {
        let cache = self.run_cache(ctx);
        let links: Vec<String> = urls.iter().filter(|u| ctx.claim(u)).cloned().collect();
        let cache = &*cache;
        let results: Vec<Result<(), Error>> = futures::stream::iter(links)
            .map(|link| async move { self.refresh_one(ctx, cache, &link).await })
            .buffer_unordered(PARALLEL_TASKS)
            .collect()
            .await;
        results.into_iter().collect()
    }
}
