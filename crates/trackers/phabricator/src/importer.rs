//! `PhabricatorImporter`: queries as `maniphest.search` calls paged by cursor, and the refresh
//! of held tasks by id — all through Conduit, a `POST` of form fields to `{instance}/api/METHOD`.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use bugimporters_core::fetch::Request;
use bugimporters_core::parse::Job;
use bugimporters_core::{forge, Error, ImportContext, Importer, ParsedBug, Query, TrackerConfig};
use url::Url;

use crate::config::{instance, slugs, PhabricatorOptions};
use crate::parser::{
    parse_projects, parse_search, parse_statuses, parse_users, task_bug, user_phids, Lookups,
    SearchPage, Task,
};

/// Tasks per `maniphest.search` page (Conduit's maximum).
pub const PAGE_SIZE: usize = 100;
/// Pages one query may take before it is cut short as an error (a hostile cursor never ends).
pub const MAX_PAGES: usize = 2_000;

/// A form field of a Conduit call.
type Field = (String, String);

/// The importer of one Phabricator / Phorge tracker.
#[derive(Debug)]
pub struct PhabricatorImporter {
    instance: String,
    options: PhabricatorOptions,
    queries: Vec<Query>,
    tracker_name: String,
    project_name: String,
}

impl PhabricatorImporter {
    /// Checks `config` (base URL, keys, query URLs) without a network.
    pub fn new(config: &TrackerConfig) -> Result<Self, Error> {
        let instance = instance(config)?;
        let options = PhabricatorOptions::from_config(config)?;
        for q in &config.queries {
            query_key(&instance, &q.url)?;
        }
        Ok(PhabricatorImporter {
            instance,
            options,
            queries: config.queries.clone(),
            tracker_name: config.tracker_name.clone(),
            project_name: forge::project_name_of(config)?,
        })
    }

    /// One Conduit call: `params` posted to `{instance}/api/{method}` with the token as a
    /// secret field when there is one; the answer parsed on the pool by `parse`.
    async fn call<T: Send + 'static>(
        &self,
        ctx: &ImportContext,
        method: &str,
        params: Vec<Field>,
        parse: fn(&[u8], &str) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let url = format!("{}/api/{method}", self.instance);
        let fields: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // Searches change nothing on the server: safe to retry.
        let mut req = Request::post_form(&url, &fields)?.idempotent();
        if let Some(token) = ctx.secret(self.options.token_env()) {
            req = req.with_secret_field("api.token", &token);
        }
        let resp = ctx.fetch(req).await?;
        Job::of(&resp, parse).run().await
    }

    /// The PHIDs of the projects with `tags` (slugs), and the slugs no project answered to.
    async fn project_phids(
        &self,
        ctx: &ImportContext,
        tags: &str,
    ) -> Result<(HashSet<String>, Vec<String>), Error> {
        let wanted = slugs(tags);
        if wanted.is_empty() {
            return Ok((HashSet::new(), Vec::new()));
        }
        let params = indexed("constraints[slugs]", &wanted);
        let found = self
            .call(ctx, "project.search", params, parse_projects)
            .await?;
        let seen: HashSet<&str> = found.iter().map(|(_, s)| s.as_str()).collect();
        let missing = wanted
            .iter()
            .filter(|w| !seen.contains(w.as_str()))
            .cloned()
            .collect();
        Ok((found.into_iter().map(|(p, _)| p).collect(), missing))
    }

    /// What every task's record needs: the status map and the rules' project PHIDs. A rule
    /// tag no project answers to is a warning (the rule matches nothing).
    async fn lookups(&self, ctx: &ImportContext) -> Result<Lookups, Error> {
        let statuses = self
            .call(ctx, "maniphest.status.search", Vec::new(), parse_statuses)
            .await?;
        let mut lookups = Lookups {
            instance: self.instance.clone(),
            tracker_name: self.tracker_name.clone(),
            project_name: self.project_name.clone(),
            statuses,
            ..Lookups::default()
        };
        for (key, tags) in [
            ("bitesized_tag", &self.options.bitesized_tag),
            ("documentation_tag", &self.options.documentation_tag),
        ] {
            let (phids, missing) = self.project_phids(ctx, tags).await?;
            if !missing.is_empty() {
                ctx.report_warning(format!(
                    "{key}: no project has the tag(s) {} (or they are not its primary hashtag)",
                    missing.join(", ")
                ));
            }
            if key == "bitesized_tag" {
                lookups.bitesized = phids;
            } else {
                lookups.documentation = phids;
            }
        }
        Ok(lookups)
    }

    /// The `constraints[projects]` of every query: the PHIDs of `projects`. A tag no project
    /// answers to is an error: the search must never widen to every task.
    async fn project_constraint(&self, ctx: &ImportContext) -> Result<Vec<Field>, Error> {
        let (phids, missing) = self.project_phids(ctx, &self.options.projects).await?;
        if !missing.is_empty() {
            return Err(Error::config(format!(
                "projects: no project has the tag(s) {}",
                missing.join(", ")
            )));
        }
        let mut phids: Vec<String> = phids.into_iter().collect();
        phids.sort();
        Ok(indexed("constraints[projects]", &phids))
    }

    /// Adds the users `tasks` name and `lookups` lacks, with one `user.search` per 100.
    async fn resolve_users(
        &self,
        ctx: &ImportContext,
        tasks: &[Task],
        lookups: &mut Lookups,
    ) -> Result<(), Error> {
        let unknown: Vec<String> = user_phids(tasks)
            .into_iter()
            .filter(|p| !lookups.users.contains_key(p))
            .collect();
        for chunk in unknown.chunks(PAGE_SIZE) {
            let params = indexed("constraints[phids]", chunk);
            let users = self.call(ctx, "user.search", params, parse_users).await?;
            lookups.users.extend(users);
        }
        Ok(())
    }

    /// Every page of one search (`params` besides paging): each task's record emitted once.
    /// Returns the ids seen.
    async fn search(
        &self,
        ctx: &ImportContext,
        params: &[Field],
        lookups: &mut Lookups,
    ) -> Result<HashSet<u64>, Error> {
        let mut seen = HashSet::new();
        let mut after: Option<String> = None;
        let mut cursors = HashSet::new();
        for _ in 0..MAX_PAGES {
            let mut page_params = params.to_vec();
            page_params.push(("limit".into(), PAGE_SIZE.to_string()));
            page_params.push(("attachments[projects]".into(), "1".into()));
            page_params.push(("attachments[subscribers]".into(), "1".into()));
            if let Some(a) = &after {
                page_params.push(("after".into(), a.clone()));
            }
            let page: SearchPage = self
                .call(ctx, "maniphest.search", page_params, parse_search)
                .await?;
            self.resolve_users(ctx, &page.tasks, lookups).await?;
            for task in &page.tasks {
                seen.insert(task.id);
                let bug = task_bug(task, lookups, ctx.now());
                if ctx.claim(&bug.canonical_bug_link) {
                    ctx.emit(bug).await?;
                }
            }
            match page.after {
                Some(next) if cursors.insert(next.clone()) => after = Some(next),
                Some(next) => {
                    return Err(Error::parse(
                        format!("{}/api/maniphest.search", self.instance),
                        format!("the cursor {next:?} came back twice"),
                    ))
                }
                None => return Ok(seen),
            }
        }
        Err(Error::parse(
            format!("{}/api/maniphest.search", self.instance),
            format!("more than {MAX_PAGES} pages of {PAGE_SIZE}"),
        ))
    }
}

/// `name[0]=a`, `name[1]=b`, … as Conduit reads lists from form fields.
fn indexed(name: &str, values: &[String]) -> Vec<Field> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("{name}[{i}]"), v.clone()))
        .collect()
}

/// The `queryKey` of a query URL: `{instance}/maniphest/query/KEY/` (a saved or built-in
/// query: `open`, `all`, …). Any other URL is a configuration error naming it.
pub fn query_key(instance: &str, url: &str) -> Result<String, Error> {
    let bad = || {
        Error::config(format!(
            "query {url}: a phabricator query is a Maniphest query URL {instance}/maniphest/query/KEY/"
        ))
    };
    let parsed = Url::parse(url).map_err(|_| bad())?;
    let rest = parsed
        .as_str()
        .strip_prefix(&format!("{instance}/maniphest/query/"))
        .ok_or_else(bad)?;
    let key = rest.trim_end_matches('/');
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(bad());
    }
    Ok(key.to_owned())
}

/// The id of a held task's link `{instance}/T<id>`.
fn task_id(instance: &str, link: &str) -> Option<u64> {
    link.strip_prefix(&format!("{instance}/T"))?.parse().ok()
}

#[async_trait]
impl Importer for PhabricatorImporter {
    async fn process_queries(&self, ctx: &ImportContext) -> Result<(), Error> {
        let mut lookups = self.lookups(ctx).await?;
        let projects = self.project_constraint(ctx).await?;
        let default = [Query::new(format!(
            "{}/maniphest/query/open/",
            self.instance
        ))];
        let queries = if self.queries.is_empty() {
            &default[..]
        } else {
            &self.queries[..]
        };
        let mut first_failure = None;
        for q in queries {
            let mut params = vec![("queryKey".to_owned(), query_key(&self.instance, &q.url)?)];
            params.extend(projects.iter().cloned());
            if let Some(t) = q.last_polled {
                let since = t.and_utc().timestamp();
                params.push(("constraints[modifiedStart]".into(), since.to_string()));
            }
            // A failed query does not stop the others; the first failure is the entry point's
            // error (reported by the crawl), the later ones are reported here.
            if let Err(e) = self.search(ctx, &params, &mut lookups).await {
                match first_failure {
                    None => first_failure = Some(e),
                    Some(_) => ctx.report_error(e),
                }
            }
        }
        first_failure.map_or(Ok(()), Err)
    }

    async fn process_existing_bugs(
        &self,
        ctx: &ImportContext,
        urls: &[String],
    ) -> Result<(), Error> {
        let ids: Vec<u64> = urls
            .iter()
            .filter_map(|u| task_id(&self.instance, u))
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let mut lookups = self.lookups(ctx).await?;
        let mut by_id: HashMap<u64, String> = HashMap::new();
        for chunk in ids.chunks(PAGE_SIZE) {
            let strings: Vec<String> = chunk.iter().map(u64::to_string).collect();
            let mut params = vec![("queryKey".to_owned(), "all".to_owned())];
            params.extend(indexed("constraints[ids]", &strings));
            let seen = self.search(ctx, &params, &mut lookups).await?;
            for id in chunk.iter().filter(|id| !seen.contains(id)) {
                by_id.insert(*id, lookups.link(*id));
            }
        }
        // Not returned by a search that answered: gone, or no longer visible to us.
        for link in by_id.into_values() {
            if ctx.claim(&link) {
                let gone =
                    ParsedBug::deleted(link, &self.tracker_name, &self.project_name, ctx.now());
                ctx.emit(gone).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_urls_name_a_query_key() {
        let i = "https://phab.example.org";
        assert_eq!(
            query_key(i, "https://phab.example.org/maniphest/query/open/").unwrap(),
            "open"
        );
        assert_eq!(
            query_key(i, "https://phab.example.org/maniphest/query/Ab3_x").unwrap(),
            "Ab3_x"
        );
        for bad in [
            "https://phab.example.org/maniphest/",
            "https://other.example.org/maniphest/query/open/",
            "https://phab.example.org/maniphest/query/a b/",
            "not a url",
        ] {
            let e = query_key(i, bad).unwrap_err().to_string();
            assert!(e.contains("/maniphest/query/KEY/"), "{bad}: {e}");
        }
    }

    #[test]
    fn held_links_give_task_ids() {
        let i = "https://phab.example.org";
        assert_eq!(task_id(i, "https://phab.example.org/T42"), Some(42));
        assert_eq!(task_id(i, "https://phab.example.org/T42x"), None);
        assert_eq!(task_id(i, "https://other.example.org/T42"), None);
    }
}
