//! The Bugzilla parsers on `fixtures/bugzilla/`, and whole crawls against wiremock: queries,
//! batching with the original's exact URLs, error and missing bugs, 5xx retries, the REST
//! mode with its API key header and incremental filter, and the request budget of a large
//! crawl.
//!
//! Every REST test names its own API key variable (`api_key_env`), so that tests running in
//! parallel never see each other's environment.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bugimporters_bugzilla::parser::{parse_bug_xml, parse_buglist_html, parse_tracking_xml};
use bugimporters_bugzilla::{GenericParser, ParseSettings, FORMAT_REST_JSON};
use bugimporters_core::fetch::{FetchConfig, HttpClient, NetworkPolicy};
use bugimporters_core::secrets::FixedSecrets;
use bugimporters_core::time::{format_naive, parse_datetime};
use bugimporters_core::{
    ImportContext, ImportOptions, ParseInput, ParseOutput, ParsedBug, Query, Registry,
    TrackerConfig, TrackerStats,
};
use bytes::Bytes;
use chrono::NaiveDateTime;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn fixture(name: &str) -> Vec<u8> {
    let p = format!(
        "{}/../../../fixtures/bugzilla/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn now() -> NaiveDateTime {
    parse_datetime("2024-05-01T12:00:00").unwrap()
}

fn ts(t: Option<NaiveDateTime>) -> String {
    format_naive(&t.expect("a date"))
}

fn registry() -> Registry {
    let mut r = Registry::new();
    bugimporters_bugzilla::register(&mut r);
    r
}

fn config(base: &str) -> TrackerConfig {
    let mut c = TrackerConfig::new("Example", "bugzilla");
    c.base_url = base.to_owned();
    c.bug_project_name_format = "{tracker_name}: {product}".into();
    c.bitesized_type = "key".into();
    c.bitesized_text = "easy".into();
    c.documentation_type = "comp".into();
    c.documentation_text = "Documentation".into();
    c
}

fn settings() -> ParseSettings {
    ParseSettings::from_config(&config("https://bugzilla.example.org")).unwrap()
}

fn parse(
    cfg: &TrackerConfig,
    format: &str,
    files: &[&str],
    custom_parser: Option<&str>,
) -> Result<ParseOutput, bugimporters_core::Error> {
    let mut cfg = cfg.clone();
    if let Some(p) = custom_parser {
        cfg.custom_parser = p.to_owned();
    }
    let r = registry();
    let cx = r.build_context(&cfg)?;
    let (factory, _) = r.parse_format(format)?;
    let files = files
        .iter()
        .map(|f| (f.to_string(), Bytes::from(fixture(f))))
        .collect();
    factory.parse(
        &cx,
        format,
        &ParseInput::new(files, None, ImportOptions::new(now())),
    )
}

fn bugs(out: ParseOutput) -> Vec<ParsedBug> {
    match out {
        ParseOutput::Bugs(b) => b,
        other => panic!("expected bugs, got {other:?}"),
    }
}

fn urls(out: ParseOutput) -> Vec<String> {
    match out {
        ParseOutput::BugUrls(u) => u,
        other => panic!("expected URLs, got {other:?}"),
    }
}

// ------------------------------------------------------------------------------- parsers

#[test]
fn batch_fixture_every_field() {
    let page = parse_bug_xml(
        &fixture("show_bug-batch.xml"),
        "batch",
        &settings(),
        &GenericParser,
        now(),
    )
    .unwrap();
    assert_eq!(page.ids, vec![1201, 1202, 1203, 1204, 1205]);
    let skipped: Vec<(&str, &str)> = page
        .skipped
        .iter()
        .map(|s| (s.id.as_str(), s.error.as_str()))
        .collect();
    assert_eq!(
        skipped,
        vec![("1202", "NotFound"), ("1204", "NotPermitted")]
    );
    assert!(page.failed.is_empty(), "{:?}", page.failed);
    assert_eq!(page.bugs.len(), 3);

    let b = &page.bugs[0];
    assert_eq!(
        b.canonical_bug_link,
        "https://bugzilla.example.org/show_bug.cgi?id=1201"
    );
    assert_eq!(
        b.title.as_deref(),
        Some("Crash when opening a file with \"&\" in its name")
    );
    assert_eq!(b.status.as_deref(), Some("NEW"));
    assert_eq!(
        b.importance.as_deref(),
        Some("critical"),
        "severity, not priority"
    );
    assert!(b
        .description
        .as_deref()
        .unwrap()
        .starts_with("Steps to reproduce:\n1. Create a file named 'a&b.txt'"));
    assert_eq!(
        b.people_involved,
        Some(2),
        "ana twice, ben once; cc and assignee do not count"
    );
    assert_eq!(ts(b.date_reported), "2019-03-04T08:15:00", "+0100 → UTC");
    assert_eq!(
        ts(b.last_touched),
        "2019-06-30T21:45:12",
        "the bug's own delta_ts (+0200 → UTC), not the attachment's"
    );
    assert_eq!(b.submitter_username.as_deref(), Some("ana@example.org"));
    assert_eq!(b.submitter_realname, Some(Some("Ana Lima".into())));
    assert_eq!(b.looks_closed, Some(false));
    assert_eq!(
        b.good_for_newcomers,
        Some(true),
        "keyword `easy` after trimming"
    );
    assert_eq!(b.concerns_just_documentation, Some(false));
    assert_eq!(b.project_name.as_deref(), Some("Example: Editor"));
    assert_eq!(b.tracker_name.as_deref(), Some("Example"));
    assert_eq!(b.last_polled, Some(now()));
    assert_eq!(b.as_appears_in_distribution, None);

    let b = &page.bugs[1];
    assert_eq!(b.description.as_deref(), Some("(Empty description)"));
    assert_eq!(
        ts(b.date_reported),
        "2020-12-01T01:00:00",
        "-0800 crosses midnight"
    );
    assert_eq!(
        b.looks_closed,
        Some(true),
        "ASSIGNED counts as closed, as the original"
    );
    assert_eq!(b.concerns_just_documentation, Some(true));
    assert_eq!(b.good_for_newcomers, Some(false));
    assert_eq!(b.submitter_realname, Some(Some(String::new())));
    assert_eq!(b.people_involved, Some(1));

    let b = &page.bugs[2];
    assert_eq!(
        ts(b.date_reported),
        "2008-07-01T10:00:00",
        "no zone: wall clock kept"
    );
    assert_eq!(ts(b.last_touched), "2009-01-02T03:04:05");
    assert_eq!(
        b.looks_closed,
        Some(false),
        "VERIFIED is not in the closed list"
    );
    assert_eq!(b.people_involved, Some(0));
    assert_eq!(b.description.as_deref(), Some("(Empty description)"));
    assert_eq!(b.good_for_newcomers, Some(true));
}

#[test]
fn whiteboard_rule_is_a_substring_test() {
    let mut c = config("https://bugzilla.example.org/");
    c.bitesized_type = "wboard".into();
    c.bitesized_text = "[mentor,mentor=".into();
    let got = bugs(parse(&c, "bugzilla-xml", &["show_bug-batch.xml"], None).unwrap());
    let flags: Vec<Option<bool>> = got.iter().map(|b| b.good_for_newcomers).collect();
    assert_eq!(flags, vec![Some(false), Some(false), Some(true)]);
}

#[test]
fn kde_parser_through_the_registry() {
    let c = config("https://bugs.kde.example");
    let got = bugs(
        parse(
            &c,
            "bugzilla-xml",
            &["kde-junior-jobs.xml"],
            Some("bugzilla.KDEBugzilla"),
        )
        .unwrap(),
    );
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].title.as_deref(),
        Some("Add a tooltip to the zoom slider")
    );
    assert_eq!(got[0].project_name.as_deref(), Some("boomski"));
    assert_eq!(got[0].good_for_newcomers, Some(true));
    assert_eq!(got[0].concerns_just_documentation, Some(false));
    assert_eq!(got[1].project_name.as_deref(), Some("KDE documentation"));
    assert_eq!(got[1].concerns_just_documentation, Some(true));
    assert_eq!(
        got[1].good_for_newcomers,
        Some(false),
        "no junior-jobs keyword"
    );
    // The generic parser on the same file keeps the title and uses the format.
    let generic = bugs(parse(&c, "bugzilla-xml", &["kde-junior-jobs.xml"], None).unwrap());
    assert_eq!(
        generic[0].title.as_deref(),
        Some("JJ:   Add a tooltip to the zoom slider  ")
    );
    assert_eq!(
        generic[0].project_name.as_deref(),
        Some("Example: konqueror")
    );
}

#[test]
fn query_formats_print_bug_urls() {
    let c = config("https://bugzilla.example.org/");
    let link = |n: u32| format!("https://bugzilla.example.org/show_bug.cgi?id={n}");
    assert_eq!(
        urls(parse(&c, "bugzilla-buglist-html", &["buglist.html"], None).unwrap()),
        vec![link(1205), link(1201), link(1203)]
    );
    assert_eq!(
        urls(parse(&c, "bugzilla-tracker-xml", &["tracking-bug.xml"], None).unwrap()),
        vec![link(1203), link(1201), link(1205)]
    );
    assert!(
        urls(parse(&c, "bugzilla-buglist-html", &["buglist-empty.html"], None).unwrap()).is_empty()
    );
    // A tracking bug is not a buglist page.
    assert!(parse_buglist_html(&fixture("show_bug-batch.xml"), "x").is_err());
}

#[test]
fn entity_bomb_and_external_entity_are_errors() {
    for name in ["entity-bomb.xml", "external-entity.xml"] {
        let body = fixture(name);
        let started = std::time::Instant::now();
        let e = parse_bug_xml(&body, name, &settings(), &GenericParser, now())
            .unwrap_err()
            .to_string();
        assert!(e.contains("entities"), "{name}: {e}");
        assert!(
            !e.contains("root:"),
            "{name}: no file content in the error: {e}"
        );
        assert!(parse_tracking_xml(&body, name).is_err(), "{name}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{name}: not expanded"
        );
    }
}

#[test]
fn rest_json_format_with_comments() {
    let c = config("https://bugzilla.example.org");
    let got = bugs(
        parse(
            &c,
            FORMAT_REST_JSON,
            &["rest-bugs.json", "rest-comments.json"],
            Some("bugzilla.MozillaBugParser"),
        )
        .unwrap(),
    );
    assert_eq!(got.len(), 2);
    let b = &got[0];
    assert_eq!(
        b.canonical_bug_link,
        "https://bugzilla.example.org/show_bug.cgi?id=35"
    );
    assert_eq!(
        b.title.as_deref(),
        Some("Button label is cut off in German")
    );
    assert_eq!(
        b.description.as_deref(),
        Some("The label \"Einstellungen\" does not fit.")
    );
    assert_eq!(b.people_involved, Some(2));
    assert_eq!(b.importance.as_deref(), Some("minor"));
    assert_eq!(ts(b.date_reported), "2023-02-14T08:30:00");
    assert_eq!(ts(b.last_touched), "2023-03-01T16:45:10");
    assert_eq!(b.submitter_username.as_deref(), Some("gerd@example.org"));
    assert_eq!(b.submitter_realname, Some(Some("Gerd Weber".into())));
    assert_eq!(b.project_name.as_deref(), Some("Firefox"));
    assert_eq!(b.looks_closed, Some(false));
    assert_eq!(b.concerns_just_documentation, Some(false));
    let b = &got[1];
    assert_eq!(
        b.project_name.as_deref(),
        Some("Mozilla Developer Documentation")
    );
    assert_eq!(b.description.as_deref(), Some("(Empty description)"));
    assert_eq!(b.looks_closed, Some(true));
    assert_eq!(b.submitter_realname, Some(Some(String::new())));
}

// ------------------------------------------------------------------------------- crawls

struct Run {
    bugs: Vec<ParsedBug>,
    stats: TrackerStats,
}

impl Run {
    /// The sorted links of the records `pick` chooses.
    fn links(&self, pick: impl Fn(&ParsedBug) -> bool) -> Vec<String> {
        let mut v: Vec<String> = self
            .bugs
            .iter()
            .filter(|b| pick(b))
            .map(|b| b.canonical_bug_link.clone())
            .collect();
        v.sort();
        v
    }

    /// The sorted links of the full records.
    fn full(&self) -> Vec<String> {
        self.links(|b| !b.deleted && !b.no_update)
    }
}

fn client() -> Arc<HttpClient> {
    let mut cfg = FetchConfig::default();
    cfg.network = NetworkPolicy::allowing(["127.0.0.0/8".parse().unwrap()]);
    cfg.backoff_base = Duration::from_millis(10);
    cfg.backoff_max = Duration::from_millis(50);
    Arc::new(HttpClient::new(cfg).unwrap())
}

async fn crawl(cfg: &TrackerConfig) -> Run {
    crawl_with_secrets(cfg, FixedSecrets::new()).await
}

async fn crawl_with_secrets(cfg: &TrackerConfig, secrets: FixedSecrets) -> Run {
    let built = registry().build(cfg).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let collector = tokio::spawn(async move {
        let mut out = Vec::new();
        while let Some(b) = rx.recv().await {
            out.push(b);
        }
        out
    });
    let ctx = ImportContext::new(
        &cfg.tracker_name,
        client(),
        4,
        tx,
        ImportOptions::new(now()).with_secrets(Arc::new(secrets)),
        &cfg.existing_bug_urls,
    );
    let mut ok = built.importer.process_queries(&ctx).await.is_ok();
    if !cfg.existing_bug_urls.is_empty() {
        ok &= built
            .importer
            .process_existing_bugs(&ctx, &cfg.existing_bug_urls)
            .await
            .is_ok();
    }
    let stats = ctx.finish(ok).await;
    drop(ctx);
    Run {
        bugs: collector.await.unwrap(),
        stats,
    }
}

fn xml_response(body: impl Into<Vec<u8>>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into(), "text/xml; charset=UTF-8")
}

fn raw_urls(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .map(|r| match r.url.query() {
            Some(q) => format!("{}?{q}", r.url.path()),
            None => r.url.path().to_owned(),
        })
        .collect()
}

/// A synthetic bug in show_bug.cgi XML.
fn synthetic_bug(id: u64) -> String {
    format!(
        "<bug><bug_id>{id}</bug_id><creation_ts>2020-01-01 10:00:00 -0500</creation_ts>\
         <short_desc>Bug {id}</short_desc><delta_ts>2020-02-01 10:00:00 -0500</delta_ts>\
         <product>P</product><component>C</component><bug_status>NEW</bug_status>\
         <keywords>{kw}</keywords><bug_severity>normal</bug_severity>\
         <reporter name=\"R\">r@example.org</reporter>\
         <long_desc><who name=\"R\">r@example.org</who><thetext>Text of {id}</thetext></long_desc></bug>",
        kw = if id % 7 == 0 { "easy" } else { "" }
    )
}

/// Answers `show_bug.cgi?ctype=xml&id=…` with a document holding the requested bugs.
fn show_bug_responder(req: &Request) -> ResponseTemplate {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\" ?>\n<bugzilla version=\"5.0.4\">\n",
    );
    for (k, v) in req.url.query_pairs() {
        if k == "id" {
            if let Ok(id) = v.parse::<u64>() {
                xml.push_str(&synthetic_bug(id));
            }
        }
    }
    xml.push_str("</bugzilla>\n");
    xml_response(xml)
}

fn buglist_html(ids: impl IntoIterator<Item = u64>) -> String {
    let mut html = String::from(
        "<!DOCTYPE html><html><body><table><tr><td>\n<form method=\"post\" action=\"show_bug.cgi\">\n<input type=\"hidden\" name=\"ctype\" value=\"xml\">\n",
    );
    for id in ids {
        html.push_str(&format!(
            "<input type=\"hidden\" name=\"id\" value=\"{id}\">\n"
        ));
    }
    html.push_str(
        "<input type=\"submit\" value=\"XML\" id=\"xml\"></form></td></tr></table></body></html>",
    );
    html
}

#[tokio::test]
async fn queries_are_merged_sorted_and_batched_with_the_exact_url() {
    let server = MockServer::start().await;
    let base = format!("{}/bz/", server.uri());
    Mock::given(method("GET"))
        .and(path("/bz/buglist.cgi"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(fixture("buglist.html"), "text/html"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/bz/show_bug.cgi"))
        .and(query_param("id", "5000"))
        .respond_with(xml_response(fixture("tracking-bug.xml")))
        .mount(&server)
        .await;
    // The bug batch: 1201, 1203, 1205 asked for; the document also holds 1202/1204 errors.
    Mock::given(method("GET"))
        .and(path("/bz/show_bug.cgi"))
        .and(query_param("excludefield", "attachmentdata"))
        .and(query_param("id", "1201"))
        .respond_with(xml_response(fixture("show_bug-batch.xml")))
        .mount(&server)
        .await;
    // Existing bugs: 1202 answers NotFound, 1206 is missing from the answer.
    Mock::given(method("GET"))
        .and(path("/bz/show_bug.cgi"))
        .and(query_param("id", "1202"))
        .respond_with(xml_response(
            "<?xml version=\"1.0\"?><bugzilla><bug error=\"NotFound\"><bug_id>1202</bug_id></bug></bugzilla>",
        ))
        .mount(&server)
        .await;

    let mut cfg = config(&base);
    cfg.queries = vec![
        Query::new(format!("{base}buglist.cgi?keywords=easy&bug_status=NEW")),
        Query::new(format!("{base}show_bug.cgi?ctype=xml&id=5000")),
    ];
    cfg.existing_bug_urls = vec![
        format!("{base}show_bug.cgi?id=1206"),
        format!("{base}show_bug.cgi?id=1201"),
        format!("{base}show_bug.cgi?id=1202"),
    ];
    let run = crawl(&cfg).await;

    let requests = server.received_requests().await.unwrap();
    let got = raw_urls(&requests);
    assert_eq!(got.len(), 4, "{got:#?}");
    assert!(got.contains(&"/bz/buglist.cgi?keywords=easy&bug_status=NEW".to_owned()));
    assert!(got.contains(&"/bz/show_bug.cgi?ctype=xml&id=5000".to_owned()));
    assert!(
        got.contains(
            &"/bz/show_bug.cgi?ctype=xml&excludefield=attachmentdata&id=1201&id=1203&id=1205&"
                .to_owned()
        ),
        "one batch for both queries, ids sorted, an & after each: {got:#?}"
    );
    assert!(
        got.contains(
            &"/bz/show_bug.cgi?ctype=xml&excludefield=attachmentdata&id=1202&id=1206&".to_owned()
        ),
        "1201, already fetched for a query, is not fetched again: {got:#?}"
    );

    let mut links: Vec<&str> = run
        .bugs
        .iter()
        .filter(|b| !b.deleted)
        .map(|b| b.canonical_bug_link.as_str())
        .collect();
    links.sort_unstable();
    assert_eq!(
        links,
        vec![
            format!("{base}show_bug.cgi?id=1201"),
            format!("{base}show_bug.cgi?id=1203"),
            format!("{base}show_bug.cgi?id=1205"),
        ]
    );
    assert!(run.bugs.iter().all(|b| !b.no_update));
    // Issue 13: NotFound on a held bug asked for is Bugzilla saying it does not exist: the
    // host must stop showing it. The error bugs a batch holds unasked are reported only.
    assert_eq!(
        run.links(|b| b.deleted),
        vec![format!("{base}show_bug.cgi?id=1202")]
    );
    assert_eq!(
        run.stats.deleted, 1,
        "only the held bug asked for is deleted"
    );
    let reasons: Vec<String> = run
        .stats
        .errors
        .iter()
        .map(|e| format!("{} {}", e.url.as_deref().unwrap_or(""), e.reason))
        .collect();
    let has = |url_part: &str, reason_part: &str| {
        reasons
            .iter()
            .any(|r| r.contains(url_part) && r.contains(reason_part))
    };
    assert!(has("id=1202", "NotFound"), "{reasons:#?}");
    assert!(has("id=1204", "NotPermitted"), "{reasons:#?}");
    assert!(
        has("id=1206", "missing from the batch response"),
        "{reasons:#?}"
    );
    assert!(run.stats.errors.iter().all(|e| !e.temporary));
}

#[tokio::test]
async fn five_thousand_bugs_take_one_request_per_fifty() {
    let server = MockServer::start().await;
    let base = format!("{}/", server.uri());
    // Listed in a scrambled order, with duplicates.
    let ids: Vec<u64> = (0..5000u64).map(|i| (i * 7919) % 5000 + 1).collect();
    let mut html_ids = ids.clone();
    html_ids.extend(1..=10);
    Mock::given(method("GET"))
        .and(path("/buglist.cgi"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(buglist_html(html_ids), "text/html"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/show_bug.cgi"))
        .respond_with(show_bug_responder)
        .mount(&server)
        .await;
    let mut cfg = config(&base);
    cfg.queries = vec![Query::new(format!("{base}buglist.cgi?keywords=easy"))];
    let run = crawl(&cfg).await;

    assert!(run.stats.errors.is_empty(), "{:?}", run.stats.errors);
    assert_eq!(run.bugs.len(), 5000);
    let distinct: HashSet<&str> = run
        .bugs
        .iter()
        .map(|b| b.canonical_bug_link.as_str())
        .collect();
    assert_eq!(distinct.len(), 5000);
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests.len() <= 5000 / 50 + 1,
        "{} requests for 5000 bugs and one query",
        requests.len()
    );
    let mut previous_max = 0;
    let mut batches: Vec<Vec<u64>> = requests
        .iter()
        .filter(|r| r.url.path() == "/show_bug.cgi")
        .map(|r| {
            r.url
                .query_pairs()
                .filter(|(k, _)| k == "id")
                .map(|(_, v)| v.parse().unwrap())
                .collect()
        })
        .collect();
    batches.sort_by_key(|b| b[0]);
    for b in &batches {
        assert_eq!(b.len(), 50);
        assert!(b.windows(2).all(|w| w[0] < w[1]), "sorted within the batch");
        assert!(b[0] > previous_max, "batches cover consecutive ranges");
        previous_max = *b.last().unwrap();
    }
    let sample = run
        .bugs
        .iter()
        .find(|b| b.canonical_bug_link.ends_with("?id=14"))
        .unwrap();
    assert_eq!(sample.title.as_deref(), Some("Bug 14"));
    assert_eq!(ts(sample.date_reported), "2020-01-01T15:00:00");
    assert_eq!(sample.good_for_newcomers, Some(true));
    assert_eq!(sample.project_name.as_deref(), Some("Example: P"));
}

#[tokio::test]
async fn server_errors_are_retried_and_a_dead_query_does_not_stop_the_others() {
    let server = MockServer::start().await;
    let base = format!("{}/", server.uri());
    Mock::given(method("GET"))
        .and(path("/buglist.cgi"))
        .and(query_param("product", "Good"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(buglist_html([3, 1, 2]), "text/html"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/buglist.cgi"))
        .and(query_param("product", "Broken"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    // The batch fails twice with 503, then works.
    let failures = Arc::new(AtomicUsize::new(0));
    let f = failures.clone();
    Mock::given(method("GET"))
        .and(path("/show_bug.cgi"))
        .respond_with(move |req: &Request| {
            if f.fetch_add(1, Ordering::SeqCst) < 2 {
                ResponseTemplate::new(503)
            } else {
                show_bug_responder(req)
            }
        })
        .mount(&server)
        .await;
    let mut cfg = config(&base);
    cfg.queries = vec![
        Query::new(format!("{base}buglist.cgi?product=Broken")),
        Query::new(format!("{base}buglist.cgi?product=Good")),
    ];
    let run = crawl(&cfg).await;
    assert_eq!(run.bugs.len(), 3);
    assert_eq!(
        failures.load(Ordering::SeqCst),
        3,
        "two 503s, then the answer"
    );
    let batch_urls: Vec<String> = raw_urls(&server.received_requests().await.unwrap())
        .into_iter()
        .filter(|u| u.starts_with("/show_bug.cgi"))
        .collect();
    assert!(batch_urls
        .iter()
        .all(|u| u == "/show_bug.cgi?ctype=xml&excludefield=attachmentdata&id=1&id=2&id=3&"));
    assert_eq!(run.stats.errors.len(), 1, "{:?}", run.stats.errors);
    let e = &run.stats.errors[0];
    assert!(e.url.as_deref().unwrap().contains("product=Broken"));
    assert!(e.reason.contains("500") && e.temporary);
}

#[tokio::test]
async fn a_hostile_batch_answer_is_an_error_not_a_crash() {
    let server = MockServer::start().await;
    let base = format!("{}/", server.uri());
    Mock::given(method("GET"))
        .and(path("/show_bug.cgi"))
        .respond_with(xml_response(fixture("entity-bomb.xml")))
        .mount(&server)
        .await;
    let mut cfg = config(&base);
    cfg.existing_bug_urls = vec![format!("{base}show_bug.cgi?id=1"), "not a bug url".into()];
    let run = crawl(&cfg).await;
    assert!(run.bugs.is_empty());
    let reasons: Vec<&str> = run.stats.errors.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("entities")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("no id=")), "{reasons:?}");
}

/// A REST bug as the Bugzilla 5 API answers it.
fn rest_bug(id: u64) -> serde_json::Value {
    serde_json::json!({
        "id": id, "summary": format!("REST bug {id}"), "status": if id % 2 == 0 { "RESOLVED" } else { "NEW" },
        "resolution": "", "severity": "normal", "priority": "P3", "product": "Mock",
        "component": if id == 2 { "Documentation" } else { "Core" },
        "keywords": if id == 1 { vec!["easy"] } else { vec![] }, "whiteboard": "",
        "creator": format!("user{id}@example.org"),
        "creation_time": "2020-01-01T00:00:00Z", "last_change_time": "2020-01-31T00:00:00Z"
    })
}

fn rest_comments_responder(req: &Request) -> ResponseTemplate {
    let mut bugs = serde_json::Map::new();
    for (k, v) in req.url.query_pairs() {
        if k == "ids" {
            let id: u64 = v.parse().unwrap();
            bugs.insert(
                v.into_owned(),
                serde_json::json!({"comments": [
                    {"count": 0, "creator": format!("user{id}@example.org"), "text": format!("Description {id}")},
                    {"count": 1, "creator": "helper@example.org", "text": "me too"}
                ]}),
            );
        }
    }
    ResponseTemplate::new(200).set_body_json(serde_json::json!({"bugs": bugs, "comments": {}}))
}

#[tokio::test]
async fn rest_mode_pages_filters_by_last_change_and_sends_the_key_in_a_header() {
    const KEY: &str = "s3cr3t-bz-key-for-tests";
    let secrets = FixedSecrets::from([("BZ_TEST_KEY_REST_MODE", KEY)]);
    let server = MockServer::start().await;
    let base = format!("{}/", server.uri());
    let page = |ids: &[u64]| {
        ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"bugs": ids.iter().map(|i| rest_bug(*i)).collect::<Vec<_>>()}),
        )
    };
    for (offset, ids) in [("0", vec![1, 2]), ("2", vec![3])] {
        Mock::given(method("GET"))
            .and(path("/rest/bug"))
            .and(query_param("keywords", "easy"))
            .and(query_param("offset", offset))
            .and(header("x-bugzilla-api-key", KEY))
            .respond_with(page(&ids))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/rest/bug"))
        .and(query_param("id", "4"))
        .and(header("x-bugzilla-api-key", KEY))
        .respond_with(page(&[4]))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(wiremock::matchers::path_regex(r"^/rest/bug/\d+/comment$"))
        .and(header("x-bugzilla-api-key", KEY))
        .respond_with(rest_comments_responder)
        .mount(&server)
        .await;

    let mut cfg = config(&base);
    cfg.extra.insert("bugzilla_api".into(), "rest".into());
    cfg.extra
        .insert("api_key_env".into(), "BZ_TEST_KEY_REST_MODE".into());
    cfg.extra.insert("rest_page_size".into(), 2.into());
    let mut q = Query::new(format!(
        "{base}buglist.cgi?keywords=easy&ctype=html&list_id=77"
    ));
    q.last_polled = parse_datetime("2024-01-02T03:04:05");
    cfg.queries = vec![q];
    cfg.existing_bug_urls = vec![
        format!("{base}show_bug.cgi?id=3"),
        format!("{base}show_bug.cgi?id=4"),
    ];
    let run = crawl_with_secrets(&cfg, secrets).await;
    assert!(run.stats.errors.is_empty(), "{:?}", run.stats.errors);

    let requests = server.received_requests().await.unwrap();
    for r in &requests {
        assert_eq!(
            r.headers
                .get("x-bugzilla-api-key")
                .map(|v| v.to_str().unwrap()),
            Some(KEY),
            "{}",
            r.url
        );
        assert!(
            !r.url.as_str().contains(KEY),
            "the key never travels in a URL"
        );
    }
    let searches: Vec<&Request> = requests
        .iter()
        .filter(|r| {
            r.url.path() == "/rest/bug" && r.url.query_pairs().any(|(k, _)| k == "keywords")
        })
        .collect();
    assert_eq!(searches.len(), 2, "a short second page ends the search");
    for s in &searches {
        let q: Vec<(String, String)> = s.url.query_pairs().into_owned().collect();
        let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("last_change_time"), Some("2024-01-02T03:04:05Z"));
        assert_eq!(get("limit"), Some("2"));
        assert!(get("include_fields").unwrap().contains("last_change_time"));
        assert_eq!(
            get("ctype"),
            None,
            "page-only buglist parameters are dropped"
        );
        assert_eq!(get("list_id"), None);
    }
    let by_id: Vec<String> = requests
        .iter()
        .filter(|r| r.url.path() == "/rest/bug" && r.url.query_pairs().any(|(k, _)| k == "id"))
        .map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "id")
                .unwrap()
                .1
                .into_owned()
        })
        .collect();
    assert_eq!(
        by_id,
        vec!["4".to_owned()],
        "3 came from the search; only 4 is refreshed by id"
    );
    // Search pages 1 and 2, one comment request per page, the id batch and its comments.
    assert_eq!(requests.len(), 6, "{:#?}", raw_urls(&requests));

    assert_eq!(run.bugs.len(), 4);
    let out: String = run.bugs.iter().map(ParsedBug::to_json_line).collect();
    assert!(!out.contains(KEY));
    let b1 = run
        .bugs
        .iter()
        .find(|b| b.canonical_bug_link.ends_with("?id=1"))
        .unwrap();
    assert_eq!(b1.description.as_deref(), Some("Description 1"));
    assert_eq!(b1.people_involved, Some(2));
    assert_eq!(b1.good_for_newcomers, Some(true));
    assert_eq!(b1.submitter_username.as_deref(), Some("user1@example.org"));
    assert_eq!(ts(b1.last_touched), "2020-01-31T00:00:00");
    let b2 = run
        .bugs
        .iter()
        .find(|b| b.canonical_bug_link.ends_with("?id=2"))
        .unwrap();
    assert_eq!(b2.looks_closed, Some(true));
    assert_eq!(b2.concerns_just_documentation, Some(true));
}

#[tokio::test]
async fn rest_search_url_is_detected_and_the_key_stays_home() {
    let server = MockServer::start().await;
    let other = MockServer::start().await;
    let secrets = FixedSecrets::from([("BZ_TEST_KEY_DETECT", "detect-key")]);
    let base = format!("{}/", server.uri());
    Mock::given(method("GET"))
        .and(path("/rest/bug"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"bugs": [rest_bug(9)]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(wiremock::matchers::path_regex(r"^/rest/bug/\d+/comment$"))
        .respond_with(rest_comments_responder)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/buglist.cgi"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(buglist_html([9]), "text/html"))
        .mount(&other)
        .await;
    let mut cfg = config(&base);
    cfg.extra
        .insert("api_key_env".into(), "BZ_TEST_KEY_DETECT".into());
    cfg.queries = vec![
        Query::new(format!("{base}rest/bug?product=Mock&bug_status=NEW")),
        // A query on another host: no key goes there.
        Query::new(format!("{}/buglist.cgi?x=1", other.uri())),
    ];
    let run = crawl_with_secrets(&cfg, secrets).await;
    assert!(run.stats.errors.is_empty(), "{:?}", run.stats.errors);
    assert_eq!(run.bugs.len(), 1, "bug 9, named by both queries, once");
    let search = &server.received_requests().await.unwrap()[0];
    let q: Vec<(String, String)> = search.url.query_pairs().into_owned().collect();
    assert!(q.contains(&("product".into(), "Mock".into())));
    assert!(q.contains(&("offset".into(), "0".into())));
    assert!(
        !q.iter().any(|(k, _)| k == "last_change_time"),
        "no last_polled, no filter"
    );
    assert_eq!(
        search
            .headers
            .get("x-bugzilla-api-key")
            .unwrap()
            .to_str()
            .unwrap(),
        "detect-key"
    );
    for r in other.received_requests().await.unwrap() {
        assert!(r.headers.get("x-bugzilla-api-key").is_none());
    }
}

#[test]
fn configuration_errors_are_caught_at_build_time() {
    let r = registry();
    let mut c = config("https://bugzilla.example.org/");
    c.extra.insert("bugzilla_api".into(), "xml".into());
    c.queries = vec![Query::new(
        "https://bugzilla.example.org/rest/bug?product=X",
    )];
    let e = r.build(&c).unwrap_err().to_string();
    assert!(e.contains("REST") && e.contains("Example"), "{e}");

    let mut c = config("https://bugzilla.example.org/");
    c.queries = vec![Query::new(
        "https://bugzilla.example.org/buglist.cgi?product=X&Bugzilla_api_key=abc123",
    )];
    let e = r.build(&c).unwrap_err().to_string();
    assert!(e.contains("credential") && !e.contains("abc123"), "{e}");

    let mut c = config("https://bugzilla.example.org/");
    c.custom_parser = "bugzilla.FedoraBugzilla".into();
    let e = r.build(&c).unwrap_err().to_string();
    assert!(
        e.contains("bugzilla.KDEBugzilla"),
        "lists the known parsers: {e}"
    );

    let mut c = config("https://bugzilla.example.org/");
    c.custom_parser = "bugzilla.GnomeBugzilla".into();
    let built = r.build(&c).unwrap();
    assert_eq!(built.kind, "bugzilla");
    assert_eq!(built.parser.as_deref(), Some("bugzilla.GnomeBugzilla"));
    c.custom_parser = String::new();
    assert_eq!(
        r.build(&c).unwrap().parser.as_deref(),
        Some("bugzilla.BugzillaBugParser")
    );
    assert!(r.build(&config("")).is_err(), "base_url is required");
}

#[test]
fn parsers_never_panic_on_truncated_or_mangled_input() {
    let s = settings();
    let files = [
        "show_bug-batch.xml",
        "kde-junior-jobs.xml",
        "tracking-bug.xml",
        "buglist.html",
        "entity-bomb.xml",
        "rest-bugs.json",
        "rest-comments.json",
    ];
    for name in files {
        let body = fixture(name);
        let mut inputs: Vec<Vec<u8>> = (0..body.len())
            .step_by(37)
            .map(|n| body[..n].to_vec())
            .collect();
        // Flip bytes that matter to the syntax.
        for (i, b) in body
            .iter()
            .enumerate()
            .filter(|(_, b)| b"<>&\"{}[]=;".contains(b))
            .step_by(11)
        {
            let mut m = body.clone();
            m[i] = if *b == b'<' { b'&' } else { b'<' };
            inputs.push(m);
        }
        inputs.push(body.iter().map(|b| b ^ 0x80).collect());
        for input in &inputs {
            let _ = parse_bug_xml(input, name, &s, &GenericParser, now());
            let _ = parse_tracking_xml(input, name);
            let _ = parse_buglist_html(input, name);
            let _ = bugimporters_bugzilla::rest::parse_bugs(input, name);
            let _ = bugimporters_bugzilla::rest::parse_comments(input, name);
        }
    }
}

/// `<bug error="NotFound">` and `NotPermitted` on held bugs are deletions (Bugzilla says the
/// bug does not exist, or became private); `InvalidBugId` is a bad link, rejected with an
/// error naming it, never a deletion; an unknown error is reported.
#[tokio::test]
async fn xml_not_found_and_not_permitted_delete_held_bugs_and_invalid_ids_are_rejected() {
    let server = MockServer::start().await;
    let base = format!("{}/", server.uri());
    let xml = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>
<bugzilla version="5.0.4" urlbase="http://bugzilla.example.org/">
  <bug error="NotFound"><bug_id>5</bug_id></bug>
  <bug error="NotPermitted"><bug_id>6</bug_id></bug>
  <bug error="InvalidBugId"><bug_id>7</bug_id></bug>
  <bug error="Weird"><bug_id>8</bug_id></bug>
</bugzilla>"#;
    Mock::given(method("GET"))
        .and(path("/show_bug.cgi"))
        .respond_with(xml_response(xml))
        .mount(&server)
        .await;
    let mut cfg = config(&base);
    cfg.existing_bug_urls = (5..=8)
        .map(|i| format!("{base}show_bug.cgi?id={i}"))
        .collect();
    let run = crawl(&cfg).await;
    assert_eq!(
        run.links(|b| b.deleted),
        vec![
            format!("{base}show_bug.cgi?id=5"),
            format!("{base}show_bug.cgi?id=6")
        ]
    );
    assert_eq!(run.bugs.len(), 2, "{:?}", run.bugs);
    let errors: Vec<(String, String)> = run
        .stats
        .errors
        .iter()
        .map(|e| (e.url.clone().unwrap_or_default(), e.reason.clone()))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors
            .iter()
            .any(|(u, r)| u.ends_with("id=7") && r.contains("InvalidBugId")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|(u, r)| u.ends_with("id=8") && r.contains("Weird")),
        "{errors:?}"
    );
}

/// The REST equivalent: `rest/bug?id=…&permissive=1` lists missing (101) and private (102)
/// bugs in `faults`; they are deletions of held bugs, 100 (an invalid id) is rejected.
#[tokio::test]
async fn rest_faults_101_and_102_delete_held_bugs() {
    let server = MockServer::start().await;
    let base = format!("{}/", server.uri());
    Mock::given(method("GET"))
        .and(path("/rest/bug"))
        .and(query_param("permissive", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "bugs": [rest_bug(4)],
            "faults": [
                {"id": 5, "faultCode": 101, "faultString": "Bug #5 does not exist."},
                {"id": 6, "faultCode": 102, "faultString": "You are not authorized to access bug #6."},
                {"id": 7, "faultCode": 100, "faultString": "'7' is not a valid bug number."}
            ]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(wiremock::matchers::path_regex(r"^/rest/bug/\d+/comment$"))
        .respond_with(rest_comments_responder)
        .mount(&server)
        .await;
    let mut cfg = config(&base);
    cfg.extra.insert("bugzilla_api".into(), "rest".into());
    cfg.existing_bug_urls = (4..=7)
        .map(|i| format!("{base}show_bug.cgi?id={i}"))
        .collect();
    let run = crawl(&cfg).await;
    assert_eq!(run.full(), vec![format!("{base}show_bug.cgi?id=4")]);
    assert_eq!(
        run.links(|b| b.deleted),
        vec![
            format!("{base}show_bug.cgi?id=5"),
            format!("{base}show_bug.cgi?id=6")
        ]
    );
    assert_eq!(run.stats.errors.len(), 1, "{:?}", run.stats.errors);
    assert!(run.stats.errors[0].reason.contains("InvalidBugId"));
}
