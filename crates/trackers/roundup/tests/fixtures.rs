//! Parser tests on the fixtures of `fixtures/roundup/`: pages recorded from a real Roundup
//! 2.6 (classic template, generated data), its REST answers for the same issues, and
//! hand-written pages in the older mercurial/python tracker markup.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use bugimporters_core::time::parse_datetime;
use bugimporters_core::ParsedBug;
use bugimporters_roundup::parser::{
    parse_issue_html, parse_query_csv, CustomParser, ParseSettings,
};
use bugimporters_roundup::rest::{self, RuleProperties};
use bugimporters_roundup::PythonRoundupBugParser;
use chrono::NaiveDateTime;
use url::Url;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../fixtures/roundup")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn now() -> NaiveDateTime {
    parse_datetime("2026-11-22T10:00:00.123456").unwrap()
}

fn ts(s: &str) -> Option<NaiveDateTime> {
    Some(parse_datetime(s).unwrap())
}

fn classic_settings() -> ParseSettings {
    let mut s = ParseSettings::new("Local", "resolved");
    s.bitesized_field = "Keywords".into();
    s.bitesized_text = "easy".into();
    s.documentation_field = "Keywords".into();
    s.documentation_text = "documentation".into();
    s
}

const BASE: &str = "http://127.0.0.1:20081/tracker/";

fn page(name: &str, settings: &ParseSettings) -> (ParsedBug, bool) {
    let link = format!(
        "{BASE}{}",
        name.trim_start_matches("roundup26-")
            .split('-')
            .next()
            .unwrap()
            .trim_end_matches(".html")
    );
    let p = parse_issue_html(&fixture(name), &link, settings, now()).unwrap();
    (p.bug, p.retired)
}

#[test]
fn roundup26_page_newest_first_messages_and_no_activity_date() {
    let (b, retired) = page("roundup26-issue5.html", &classic_settings());
    assert!(!retired);
    assert_eq!(b.canonical_bug_link, format!("{BASE}issue5"));
    assert_eq!(
        b.title.as_deref(),
        Some("Stale search index when on Windows — Ærøskøbing Łódź Ĳssel [5]")
    );
    assert_eq!(b.status.as_deref(), Some("resolved"));
    assert_eq!(b.looks_closed, Some(true));
    assert_eq!(b.importance.as_deref(), Some("feature"));
    assert_eq!(b.submitter_username.as_deref(), Some("jmuller"));
    // anonymous pages show "Author: jmuller": no real name on the page
    assert_eq!(b.submitter_realname, Some(None));
    assert_eq!(b.people_involved, Some(1));
    assert_eq!(b.date_reported, ts("2026-11-18T06:48:00"));
    // the classic template prints no last-change date: the history's latest entry
    assert_eq!(b.last_touched, ts("2026-11-22T00:50:10"));
    // messages are listed newest first; the description is msg12, the first one
    let d = b.description.unwrap();
    assert!(d.starts_with("Reported by Jürgen Müller."), "{d}");
    assert!(d.ends_with("dolor sed adipiscing dolor sed sit."), "{d}");
    assert_eq!(b.good_for_newcomers, Some(true));
    assert_eq!(b.concerns_just_documentation, Some(false));
    assert_eq!(b.assigned, Some(true), "Assigned To: kenji");
    assert_eq!(b.raw_data, Some(serde_json::json!({})));
    assert_eq!(b.project_name.as_deref(), Some("Local"));
    assert_eq!(b.tracker_name.as_deref(), Some("Local"));
    assert_eq!(b.last_polled, Some(now()));
}

#[test]
fn roundup26_retired_page_is_flagged() {
    let (b, retired) = page("roundup26-issue201-retired.html", &classic_settings());
    assert!(retired);
    assert_eq!(b.title.as_deref(), Some("probe issue"));
    assert_eq!(b.description.as_deref(), Some(""));
    assert_eq!(b.people_involved, Some(0));
}

/// The page and the REST answers of the same Roundup agree on every field.
#[test]
fn roundup26_pages_and_rest_agree() {
    let settings = classic_settings();
    let rules = RuleProperties::default();
    let mut rules = rules;
    rules.bitesized = Some("keyword".into());
    rules.documentation = Some("keyword".into());
    let issues = rest::parse_issues(&fixture("rest-issues-1-5-7.json"), "issues").unwrap();
    assert_eq!(
        issues.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![1, 5, 7]
    );
    let mut messages = rest::parse_messages(&fixture("rest-msgs-authors.json"), "m").unwrap();
    for (id, m) in rest::parse_messages(&fixture("rest-msgs-content.json"), "c").unwrap() {
        messages.insert(id, m);
    }
    let users = rest::parse_users(&fixture("rest-users.json"), "u").unwrap();
    for issue in &issues {
        let link = format!("{BASE}issue{}", issue.id);
        let from_rest =
            rest::issue_to_bug(issue, &link, &settings, &rules, &messages, &users, now()).unwrap();
        let from_page = parse_issue_html(
            &fixture(&format!("roundup26-issue{}.html", issue.id)),
            &link,
            &settings,
            now(),
        )
        .unwrap()
        .bug;
        for (field, a, b) in [
            ("title", &from_rest.title, &from_page.title),
            ("status", &from_rest.status, &from_page.status),
            ("importance", &from_rest.importance, &from_page.importance),
            (
                "description",
                &from_rest.description,
                &from_page.description,
            ),
            (
                "submitter_username",
                &from_rest.submitter_username,
                &from_page.submitter_username,
            ),
        ] {
            assert_eq!(a, b, "issue {} {field}", issue.id);
        }
        assert_eq!(
            from_rest.date_reported, from_page.date_reported,
            "issue {}",
            issue.id
        );
        assert_eq!(
            from_rest.last_touched, from_page.last_touched,
            "issue {}",
            issue.id
        );
        assert_eq!(
            from_rest.people_involved, from_page.people_involved,
            "issue {}",
            issue.id
        );
        assert_eq!(from_rest.looks_closed, from_page.looks_closed);
        assert_eq!(from_rest.good_for_newcomers, from_page.good_for_newcomers);
        assert_eq!(
            from_rest.concerns_just_documentation,
            from_page.concerns_just_documentation
        );
        // REST knows every real name; the anonymous page shows none
        let realname = from_rest.submitter_realname.clone().flatten();
        assert!(
            realname.is_some_and(|r| !r.is_empty()),
            "issue {}",
            issue.id
        );
    }
}

#[test]
fn rest_item_and_names() {
    let issues = rest::parse_issues(&fixture("rest-issue5-item.json"), "item").unwrap();
    assert_eq!(issues.len(), 1);
    let users: HashMap<String, rest::RestUser> = HashMap::new();
    let bug = rest::issue_to_bug(
        &issues[0],
        "http://x/issue5",
        &classic_settings(),
        &RuleProperties::default(),
        &HashMap::new(),
        &users,
        now(),
    )
    .unwrap();
    assert_eq!(bug.status.as_deref(), Some("resolved"));
    assert_eq!(bug.importance.as_deref(), Some("feature"));
    assert_eq!(bug.submitter_username.as_deref(), Some("jmuller"));
    assert_eq!(bug.submitter_realname, Some(None));
    assert_eq!(bug.date_reported, ts("2026-11-18T06:48:00"));
    assert_eq!(bug.last_touched, ts("2026-11-22T00:50:10"));
    // the rule's field is found by its page label (Keywords -> keyword)
    assert_eq!(bug.good_for_newcomers, Some(true));
}

#[test]
fn roundup26_query_csv() {
    let body = fixture("roundup26-query-easy-open.csv");
    let base = Url::parse(BASE).unwrap();
    let urls = parse_query_csv(&body, "q", &base).unwrap();
    assert_eq!(urls.len(), 32);
    assert_eq!(urls[0], format!("{BASE}issue4"));
    assert_eq!(urls[1], format!("{BASE}issue13"));
    assert!(urls.iter().all(|u| u.starts_with(BASE)));
}

#[test]
fn mercurial_markup() {
    let mut s = ParseSettings::new("Mercurial", "resolved, wontfix");
    s.bitesized_field = "Topics".into();
    s.bitesized_text = "bitesized".into();
    s.documentation_field = "Topics".into();
    s.documentation_text = "docs".into();
    s.extended_scrape = true;
    let link = "https://bz.example.org/bts/issue3012";
    let p = parse_issue_html(&fixture("mercurial-style-issue3012.html"), link, &s, now()).unwrap();
    let b = p.bug;
    assert!(!p.retired);
    assert_eq!(
        b.title.as_deref(),
        Some("hg serve crashes on non-ASCII branch names (Müller's repo)")
    );
    // five <strong>s, the last being the status: the first four count
    assert_eq!(b.status.as_deref(), Some("chatting"));
    assert_eq!(b.looks_closed, Some(false));
    assert_eq!(b.importance.as_deref(), Some("bug"));
    assert_eq!(b.date_reported, ts("2011-09-14T08:02:11"));
    assert_eq!(b.last_touched, ts("2011-10-02T17:45:30"));
    assert_eq!(b.submitter_username.as_deref(), Some("jmuller"));
    assert_eq!(b.submitter_realname, Some(Some("Jürgen Müller".into())));
    assert_eq!(b.people_involved, Some(2));
    assert_eq!(b.good_for_newcomers, Some(true));
    assert_eq!(b.concerns_just_documentation, Some(false));
    assert_eq!(
        b.description.as_deref(),
        Some("Running \"hg serve\" on a repository whose branch is called \"größe\"\nends with:\n\nUnicodeDecodeError: 'ascii' codec can't decode byte 0xc3 <here>\n\nTraceback attached.")
    );
    let raw = b.raw_data.unwrap();
    assert_eq!(raw["Topics"], "bitesized, hgweb");
    assert_eq!(raw["Nosy List"], "mpm, tonfa, jmuller\n     (3)");
    assert_eq!(raw["Assigned To"], "tonfa");
    assert_eq!(
        raw["files"],
        serde_json::json!([{"url": "file1410/traceback.txt", "author": "jmuller"}])
    );
    let messages = raw["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["author"], "Jürgen Müller (jmuller)");
    assert_eq!(
        messages[1]["message"],
        "<pre>Good first bug: look at hgweb/webutil.py, the branch name is not decoded.</pre>\n  \n"
    );
    // non-ASCII as character references, as the original's serialiser wrote them
    assert!(messages[0]["message"]
        .as_str()
        .unwrap()
        .contains("gr&#246;&#223;e"));
}

#[test]
fn python_markup_and_custom_parser() {
    let mut s = ParseSettings::new("Python", "closed,resolved");
    s.bitesized_field = "Keywords".into();
    s.bitesized_text = "easy".into();
    s.documentation_field = "Components".into();
    s.documentation_text = "Documentation".into();
    let link = "https://bugs.example.org/issue9120";
    let plain = parse_issue_html(&fixture("python-style-issue9120.html"), link, &s, now())
        .unwrap()
        .bug;
    assert_eq!(plain.status.as_deref(), Some("open"));
    assert_eq!(plain.assigned, None, "this template shows no Assigned To");
    s.custom_parser = Some(Arc::new(PythonRoundupBugParser) as Arc<dyn CustomParser>);
    let b = parse_issue_html(&fixture("python-style-issue9120.html"), link, &s, now())
        .unwrap()
        .bug;
    assert_eq!(b.status.as_deref(), Some("patch review"));
    assert_eq!(b.looks_closed, Some(false));
    assert_eq!(b.importance.as_deref(), Some("low"));
    assert_eq!(b.good_for_newcomers, Some(true));
    assert_eq!(b.concerns_just_documentation, Some(true));
    assert_eq!(b.submitter_username.as_deref(), Some("newcomer42"));
    assert_eq!(b.submitter_realname, Some(Some("newcomer42".into())));
    assert_eq!(b.people_involved, Some(2));
    assert_eq!(b.date_reported, ts("2010-07-01T09:30:00"));
    assert_eq!(b.last_touched, ts("2014-02-11T22:05:00"));
    // carriage returns survive the HTML parser, as they did in the original
    assert_eq!(
        b.description.as_deref(),
        Some("The docs of os.walk(followlinks=True) should warn that a link to a parent\r\ndirectory makes the walk loop forever.")
    );
}

#[test]
fn page_without_messages_and_restored_issue() {
    let s = classic_settings();
    let p = parse_issue_html(
        &fixture("classic-no-messages-issue44.html"),
        "http://t/issue44",
        &s,
        now(),
    )
    .unwrap();
    assert!(!p.retired, "restored after being retired");
    let b = p.bug;
    assert_eq!(b.description.as_deref(), Some(""));
    assert_eq!(b.submitter_realname, Some(None));
    assert_eq!(b.people_involved, Some(0));
    assert_eq!(b.good_for_newcomers, Some(false));
    assert_eq!(b.status.as_deref(), Some("unread"));
    assert_eq!(b.last_touched, ts("2026-03-05T06:07:08"));
    assert_eq!(b.assigned, Some(false), "an empty Assigned To");
}

#[test]
fn garbage_never_panics() {
    let s = classic_settings();
    for body in [
        &b""[..],
        b"\xff\xfe\x00",
        b"<th>Title</th>",
        b"<table class=messages><tr><td class=content>",
        b"<form name=itemSynopsis></form><p><b>x</b></p>",
    ] {
        assert!(parse_issue_html(body, "u", &s, now()).is_err());
    }
    // every prefix of a real page either parses or fails cleanly
    let full = fixture("mercurial-style-issue3012.html");
    for cut in (0..full.len()).step_by(97) {
        let _ = parse_issue_html(&full[..cut], "u", &s, now());
    }
}

#[test]
fn parse_formats_through_the_registry() {
    use bugimporters_core::{ImportOptions, ParseInput, ParseOutput, Registry, TrackerConfig};
    let mut registry = Registry::new();
    bugimporters_roundup::register(&mut registry);
    let mut config = TrackerConfig::new("Local", "roundup");
    config.base_url = BASE.trim_end_matches('/').into();
    config.custom_parser = "PythonRoundupBugParser".into();
    config.bitesized_text = "easy".into();
    config
        .extra
        .insert("closed_status".into(), "resolved".into());
    config
        .extra
        .insert("bitesized_field".into(), "Keywords".into());
    let cx = registry.build_context(&config).unwrap();
    let mut options = ImportOptions::new(now());
    options.extended_scrape = true;
    let files = |names: &[&str]| {
        names
            .iter()
            .map(|n| (n.to_string(), bytes::Bytes::from(fixture(n))))
            .collect::<Vec<_>>()
    };

    let (factory, _) = registry.parse_format("roundup-issue-html").unwrap();
    let input = ParseInput::new(
        files(&["python-style-issue9120.html"]),
        Some("https://bugs.example.org/issue9120".into()),
        options.clone(),
    );
    let ParseOutput::Bugs(bugs) = factory.parse(&cx, "roundup-issue-html", &input).unwrap() else {
        panic!("bugs expected")
    };
    assert_eq!(
        bugs[0].status.as_deref(),
        Some("patch review"),
        "custom parser applied"
    );
    assert_eq!(bugs[0].raw_data.as_ref().unwrap()["Stage"], "patch review");

    let input = ParseInput::new(
        files(&[
            "rest-issues-1-5-7.json",
            "rest-msgs-content.json",
            "rest-users.json",
        ]),
        None,
        options.clone(),
    );
    let ParseOutput::Bugs(bugs) = factory.parse(&cx, "roundup-issue-json", &input).unwrap() else {
        panic!("bugs expected")
    };
    assert_eq!(bugs.len(), 3);
    assert_eq!(bugs[1].canonical_bug_link, format!("{BASE}issue5"));
    assert_eq!(bugs[1].good_for_newcomers, Some(true));
    assert_eq!(
        bugs[1].submitter_realname,
        Some(Some("Jürgen Müller".into()))
    );
    assert!(bugs[1]
        .description
        .as_deref()
        .unwrap()
        .starts_with("Reported by"));
    assert_eq!(
        bugs[1].raw_data.as_ref().unwrap()["title"],
        bugs[1].title.clone().unwrap()
    );

    let input = ParseInput::new(files(&["roundup26-query-easy-open.csv"]), None, options);
    let ParseOutput::BugUrls(urls) = factory.parse(&cx, "roundup-query-csv", &input).unwrap()
    else {
        panic!("urls expected")
    };
    assert_eq!(urls.len(), 32);
    assert!(factory.parse(&cx, "roundup-nope", &input).is_err());
}
