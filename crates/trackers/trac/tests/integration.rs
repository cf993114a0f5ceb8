//! Integration test against a REAL Trac (the one of `../shared/servers/trac`):
//!
//! ```sh
//! ../shared/servers/trac/start && ../shared/servers/trac/populate 1000
//! BUGIMPORTERS_TRAC_URL=http://127.0.0.1:20080/ cargo test -p bugimporters-trac --test integration
//! ```
//!
//! It crawls a query for all tickets (paged by `max`) and one for `keywords=~easy`, then
//! compares every emitted field with what Trac itself reports through its own query CSV
//! export and per-ticket RSS feeds, read here with a small independent reader (never through
//! the crate's parser). A second crawl with a cut-off must give `_no_update` for every ticket
//! without downloading any ticket. Without `BUGIMPORTERS_TRAC_URL` the test is skipped (and
//! fails under `CI`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bugimporters_core::fetch::{FetchConfig, HttpClient};
use bugimporters_core::time::now_naive;
use bugimporters_core::{
    ImportContext, ImportOptions, Importer, ParsedBug, Query, TrackerConfig, TrackerStats,
};
use bugimporters_trac::TracImporter;
use chrono::NaiveDateTime;
use futures::StreamExt;
use tokio::sync::mpsc;

const ENV: &str = "BUGIMPORTERS_TRAC_URL";

fn base_url() -> Option<String> {
    match std::env::var(ENV).ok().filter(|v| !v.trim().is_empty()) {
        Some(mut u) => {
            if !u.ends_with('/') {
                u.push('/');
            }
            Some(u)
        }
        None if std::env::var_os("CI").is_some() => {
            panic!("{ENV} is not set; CI must start the real Trac (see docs/trackers/trac.md)")
        }
        None => {
            println!("skipped: set {ENV} (see docs/trackers/trac.md)");
            None
        }
    }
}

fn client() -> Arc<HttpClient> {
    Arc::new(HttpClient::new(FetchConfig::for_loopback_tests()).expect("client"))
}

async fn get_text(client: &HttpClient, url: &str) -> String {
    let req = bugimporters_core::fetch::Request::get(url).expect("url");
    let resp = client.fetch(req).await.unwrap_or_else(|e| panic!("{e}"));
    let body = resp
        .body
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(&resp.body);
    String::from_utf8(body.to_vec()).expect("utf-8")
}

/// Trac's query CSV as a list of `column label -> value` maps (labels lower-cased).
async fn trac_csv(client: &HttpClient, url: &str) -> Vec<HashMap<String, String>> {
    let text = get_text(client, url).await;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .expect("header row")
        .iter()
        .map(|h| h.to_lowercase())
        .collect();
    reader
        .records()
        .map(|r| {
            let r = r.expect("CSV row");
            headers
                .iter()
                .cloned()
                .zip(r.iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// Trac's dates: its locale format (`11/01/26 12:47:00`, server time zone UTC) or ISO 8601.
fn trac_date(s: &str) -> NaiveDateTime {
    let s = s.trim();
    NaiveDateTime::parse_from_str(s, "%m/%d/%y %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ"))
        .unwrap_or_else(|e| panic!("Trac date {s:?}: {e}"))
}

/// Authors of a ticket's changes, from its RSS feed (`dc:creator` of each item).
fn rss_creators(xml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<dc:creator>") {
        let after = &rest[start + "<dc:creator>".len()..];
        let end = after.find("</dc:creator>").expect("closed dc:creator");
        out.push(
            after[..end]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&"),
        );
        rest = &after[end..];
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn config(base: &str) -> TrackerConfig {
    let mut c = TrackerConfig::new("Real Trac", "trac");
    c.base_url = base.to_owned();
    c.bitesized_type = "keywords".into();
    c.bitesized_text = "easy".into();
    c.documentation_type = "component".into();
    c.documentation_text = "documentation".into();
    c.queries = vec![
        Query::new(format!(
            "{base}query?format=csv&id=!0&col=id&order=id&max=100"
        )),
        Query::new(format!(
            "{base}query?format=csv&keywords=~easy&col=id&col=summary&order=id&max=50"
        )),
    ];
    c
}

async fn crawl(
    config: &TrackerConfig,
    now: NaiveDateTime,
) -> (BTreeMap<String, ParsedBug>, TrackerStats) {
    let (tx, mut rx) = mpsc::channel(8192);
    let ctx = ImportContext::new(
        &config.tracker_name,
        client(),
        8,
        tx,
        ImportOptions::new(now),
        &config.existing_bug_urls,
    );
    let importer = TracImporter::new(config).expect("importer");
    let collect = tokio::spawn(async move {
        let mut bugs = Vec::new();
        while let Some(b) = rx.recv().await {
            bugs.push(b);
        }
        bugs
    });
    let mut ok = importer.process_queries(&ctx).await.is_ok();
    if !config.existing_bug_urls.is_empty() {
        ok &= importer
            .process_existing_bugs(&ctx, &config.existing_bug_urls)
            .await
            .is_ok();
    }
    let stats = ctx.finish(ok).await;
    drop(ctx);
    let bugs = collect.await.expect("collector");
    let n = bugs.len();
    let map: BTreeMap<String, ParsedBug> = bugs
        .into_iter()
        .map(|b| (b.canonical_bug_link.clone(), b))
        .collect();
    assert_eq!(map.len(), n, "every ticket is emitted once");
    (map, stats)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawl_of_a_real_trac_matches_what_trac_reports() {
    let Some(base) = base_url() else { return };
    let http = client();

    // What Trac itself says, through its own CSV export.
    let rows = trac_csv(
        &http,
        &format!(
            "{base}query?format=csv&id=!0&col=id&col=summary&col=status&col=priority\
             &col=component&col=keywords&col=reporter&col=owner&col=cc&col=time\
             &col=changetime&col=description&order=id&max=0"
        ),
    )
    .await;
    assert!(
        rows.len() >= 300,
        "populate the server with a few hundred tickets (has {})",
        rows.len()
    );
    let easy: BTreeSet<u64> = trac_csv(
        &http,
        &format!("{base}query?format=csv&keywords=~easy&col=id&order=id&max=0"),
    )
    .await
    .iter()
    .map(|r| r["id"].parse().expect("id"))
    .collect();
    assert!(!easy.is_empty());

    let started = now_naive();
    let config = config(&base);
    let clock = std::time::Instant::now();
    let (bugs, stats) = crawl(&config, started).await;
    println!(
        "first crawl: {} tickets in {:.1}s ({} requests)",
        bugs.len(),
        clock.elapsed().as_secs_f64(),
        stats.requests
    );
    assert!(
        stats.errors.is_empty(),
        "{:?}",
        &stats.errors[..stats.errors.len().min(5)]
    );
    assert_eq!(bugs.len(), rows.len(), "one record per ticket");
    // Two requests per ticket (named by both queries, fetched once) plus the query pages: a
    // full page asks for the next one, a short or empty page ends the query.
    let pages = rows.len() / 100 + 1 + easy.len() / 50 + 1;
    assert_eq!(stats.requests as usize, 2 * rows.len() + pages);

    // Change authors from every ticket's RSS feed.
    let authors: HashMap<u64, Vec<String>> = futures::stream::iter(rows.iter())
        .map(|r| {
            let http = http.clone();
            let id: u64 = r["id"].parse().expect("id");
            let url = format!("{base}ticket/{id}?format=rss");
            async move { (id, rss_creators(&get_text(&http, &url).await)) }
        })
        .buffer_unordered(8)
        .collect()
        .await;

    let mut realnames: BTreeMap<String, String> = BTreeMap::new();
    for row in &rows {
        let id: u64 = row["id"].parse().expect("id");
        let link = format!("{base}ticket/{id}");
        let bug = bugs
            .get(&link)
            .unwrap_or_else(|| panic!("no record for {link}"));
        let ctx = |field: &str| format!("ticket {id}: {field}");
        assert_eq!(
            bug.title.as_deref(),
            Some(row["summary"].as_str()),
            "{}",
            ctx("title")
        );
        assert_eq!(
            bug.status.as_deref(),
            Some(row["status"].as_str()),
            "{}",
            ctx("status")
        );
        assert_eq!(
            bug.looks_closed,
            Some(row["status"] == "closed"),
            "{}",
            ctx("looks_closed")
        );
        assert_eq!(
            bug.importance.as_deref(),
            Some(row["priority"].as_str()),
            "{}",
            ctx("importance")
        );
        assert_eq!(
            bug.description.as_deref(),
            Some(escape(&row["description"]).as_str()),
            "{}",
            ctx("description")
        );
        assert_eq!(
            bug.date_reported,
            Some(trac_date(&row["created"])),
            "{}",
            ctx("date_reported")
        );
        assert_eq!(
            bug.last_touched,
            Some(trac_date(&row["modified"])),
            "{}",
            ctx("last_touched")
        );
        assert_eq!(
            bug.good_for_newcomers,
            Some(easy.contains(&id)),
            "{}",
            ctx("good_for_newcomers")
        );
        assert_eq!(
            bug.good_for_newcomers,
            Some(row["keywords"].contains("easy")),
            "{}",
            ctx("keywords")
        );
        assert_eq!(
            bug.concerns_just_documentation,
            Some(row["component"].contains("documentation")),
            "{}",
            ctx("concerns_just_documentation")
        );
        // People: reporter, owner when set, each Cc piece (an empty Cc counts as one empty
        // piece, the original's rule) and every change author.
        let mut people: BTreeSet<String> = BTreeSet::new();
        people.insert(row["reporter"].trim().to_owned());
        if !row["owner"].trim().is_empty() {
            people.insert(row["owner"].trim().to_owned());
        }
        for piece in row["cc"].split(',') {
            people.insert(piece.trim().to_owned());
        }
        people.extend(authors[&id].iter().map(|a| a.trim().to_owned()));
        assert_eq!(
            bug.people_involved,
            Some(people.len() as u32),
            "{}: {people:?}",
            ctx("people_involved")
        );
        assert_eq!(bug.project_name.as_deref(), Some("Real Trac"));
        assert_eq!(bug.tracker_name.as_deref(), Some("Real Trac"));
        assert_eq!(bug.last_polled, Some(started));
        assert_eq!(bug.as_appears_in_distribution.as_deref(), Some(""));
        assert!(!bug.deleted && !bug.no_update);
        // The real name is what Trac shows (full names), unless it equals the login.
        let login = bug.submitter_username.clone().expect("submitter_username");
        let shown = row["reporter"].trim().to_owned();
        let expected_real = if shown == login {
            String::new()
        } else {
            shown.clone()
        };
        assert_eq!(
            bug.submitter_realname,
            Some(Some(expected_real)),
            "{}",
            ctx("submitter_realname")
        );
        if let Some(prev) = realnames.insert(login.clone(), shown.clone()) {
            assert_eq!(prev, shown, "one login, one shown name");
        }
    }

    // Logins: Trac's own reporter filter must name exactly the tickets we credit to each login.
    for login in realnames.keys() {
        let url = format!(
            "{base}query?format=csv&reporter={}&col=id&order=id&max=0",
            url::form_urlencoded::byte_serialize(login.as_bytes()).collect::<String>()
        );
        let by_trac: BTreeSet<u64> = trac_csv(&http, &url)
            .await
            .iter()
            .map(|r| r["id"].parse().expect("id"))
            .collect();
        let ours: BTreeSet<u64> = bugs
            .values()
            .filter(|b| b.submitter_username.as_deref() == Some(login.as_str()))
            .filter_map(|b| b.canonical_bug_link.rsplit('/').next()?.parse().ok())
            .collect();
        assert_eq!(by_trac, ours, "tickets reported by {login}");
    }

    // Second crawl: the host holds every ticket and polled them all at `started`; nothing
    // changed since, so every ticket is _no_update and no ticket is downloaded.
    let mut second = config.clone();
    second.existing_bug_urls = bugs.keys().cloned().collect();
    second.extra.insert(
        "bugs_last_polled".into(),
        bugimporters_core::time::format_naive(&started).into(),
    );
    let client2 = client();
    let (tx, mut rx) = mpsc::channel(8192);
    let ctx = ImportContext::new(
        "Real Trac",
        client2.clone(),
        8,
        tx,
        ImportOptions::new(now_naive()),
        &second.existing_bug_urls,
    );
    let importer = TracImporter::new(&second).expect("importer");
    let collect = tokio::spawn(async move {
        let mut n = 0usize;
        let mut no_update = 0usize;
        while let Some(b) = rx.recv().await {
            n += 1;
            no_update += usize::from(b.no_update);
        }
        (n, no_update)
    });
    let clock = std::time::Instant::now();
    importer.process_queries(&ctx).await.expect("queries");
    importer
        .process_existing_bugs(&ctx, &second.existing_bug_urls)
        .await
        .expect("existing");
    let stats2 = ctx.finish(true).await;
    drop(ctx);
    let (n, no_update) = collect.await.expect("collector");
    println!(
        "second crawl: {n} records in {:.1}s ({} requests)",
        clock.elapsed().as_secs_f64(),
        stats2.requests
    );
    assert!(stats2.errors.is_empty(), "{:?}", stats2.errors);
    assert_eq!(n, rows.len());
    assert_eq!(no_update, rows.len(), "every ticket unchanged");
    let query_pages = stats.requests as usize - 2 * rows.len();
    assert_eq!(
        stats2.requests as usize,
        query_pages + 2,
        "only the query pages, the changed-since query and one id query: no ticket download"
    );

    // Third crawl: a cut-off in the middle of the changes. Exactly the tickets Trac says were
    // modified at or after it are downloaded; the others are _no_update.
    let mut modified: Vec<NaiveDateTime> = rows.iter().map(|r| trac_date(&r["modified"])).collect();
    modified.sort();
    let cut = modified[modified.len().saturating_sub(20)];
    let expected_changed: BTreeSet<String> = rows
        .iter()
        .filter(|r| trac_date(&r["modified"]) >= cut)
        .map(|r| format!("{base}ticket/{}", r["id"]))
        .collect();
    let mut third = config.clone();
    third.queries.clear();
    third.existing_bug_urls = bugs.keys().cloned().collect();
    third.extra.insert(
        "bugs_last_polled".into(),
        bugimporters_core::time::format_naive(&cut).into(),
    );
    let (records, stats3) = crawl(&third, now_naive()).await;
    assert!(stats3.errors.is_empty(), "{:?}", stats3.errors);
    let fetched: BTreeSet<String> = records
        .values()
        .filter(|b| !b.no_update)
        .map(|b| b.canonical_bug_link.clone())
        .collect();
    assert_eq!(fetched, expected_changed, "changed since {cut}");
    assert_eq!(records.len(), rows.len());
    assert_eq!(stats3.requests as usize, 2 + 2 * expected_changed.len());
    for link in &fetched {
        assert_eq!(records[link].title, bugs[link].title, "{link}");
        assert_eq!(
            records[link].last_touched, bugs[link].last_touched,
            "{link}"
        );
    }
}
