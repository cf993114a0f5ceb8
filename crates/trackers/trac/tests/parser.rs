//! Parser tests on the fixtures in `fixtures/trac/`: pages recorded from a real Trac 1.6
//! (`trac16-*`) and hand-written pages in the markup of older Trac releases.

use std::path::PathBuf;

use bugimporters_core::time::parse_datetime;
use bugimporters_core::{ParseInput, ParseOutput, ParsedBug, Registry, TrackerConfig};
use bugimporters_trac::parser::{parse_query_csv, parse_ticket_csv, parse_ticket_files};
use bugimporters_trac::TicketSettings;
use chrono::NaiveDateTime;
use url::Url;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../fixtures/trac")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn t(s: &str) -> NaiveDateTime {
    parse_datetime(s).unwrap()
}

fn now() -> NaiveDateTime {
    t("2026-11-22T09:00:00")
}

fn ticket(stem: &str, link: &str, settings: &TicketSettings) -> ParsedBug {
    ticket_with(
        &format!("{stem}.csv"),
        &format!("{stem}.html"),
        link,
        settings,
    )
}

fn ticket_with(csv: &str, html: &str, link: &str, settings: &TicketSettings) -> ParsedBug {
    parse_ticket_files(
        &fixture(csv),
        &format!("{link}?format=csv"),
        &fixture(html),
        link,
        settings,
        now(),
    )
    .unwrap_or_else(|e| panic!("{html}: {e}"))
}

#[test]
fn query_csv_with_bom_crlf_and_a_newline_inside_a_field() {
    let base = Url::parse("http://127.0.0.1:20080/").unwrap();
    let body = fixture("query-easy-page1.csv");
    assert!(
        body.starts_with(b"\xEF\xBB\xBF"),
        "the fixture starts with a BOM"
    );
    let page = parse_query_csv(&body, "q", &base).unwrap();
    assert_eq!(page.ids, vec![4, 5, 7, 11, 13]);
    assert_eq!(page.rows, 5);
    assert_eq!(page.urls[0], "http://127.0.0.1:20080/ticket/4");
    assert!(page.errors.is_empty() && !page.empty);

    let end = parse_query_csv(&fixture("query-past-end.csv"), "q", &base).unwrap();
    assert!(end.empty, "an empty body ends the paging");

    let html = fixture("trac16-missing-ticket-404.html");
    let e = parse_query_csv(&html, "http://x/query?format=csv", &base).unwrap_err();
    assert!(e.to_string().contains("http://x/query?format=csv"), "{e}");
    assert!(e.to_string().contains("HTML"), "{e}");
}

#[test]
fn query_csv_under_a_sub_path_base() {
    let base = Url::parse("http://t.example/trac/").unwrap();
    let page = parse_query_csv(b"id,summary\r\n12,x\r\n", "q", &base).unwrap();
    assert_eq!(page.urls, vec!["http://t.example/trac/ticket/12"]);
}

#[test]
fn trac16_closed_ticket_with_full_names() {
    let link = "http://127.0.0.1:20080/ticket/5";
    let s = TicketSettings::new("Real Trac")
        .with_bitesized("keywords", "easy")
        .with_documentation("component", "documentation");
    let bug = ticket("trac16-ticket-5", link, &s);
    assert_eq!(
        bug.title.as_deref(),
        Some("Stale search index when on Windows — Ærøskøbing Łódź Ĳssel [5]")
    );
    assert_eq!(bug.status.as_deref(), Some("closed"));
    assert_eq!(bug.looks_closed, Some(true));
    assert_eq!(bug.importance.as_deref(), Some("minor"));
    // The login comes from the page's reporter link; the CSV shows the full name.
    assert_eq!(bug.submitter_username.as_deref(), Some("jmuller"));
    assert_eq!(bug.submitter_realname, Some(Some("Jürgen Müller".into())));
    // Reporter, owner, two Cc and the one change author (the reporter again).
    assert_eq!(bug.people_involved, Some(4));
    assert_eq!(bug.date_reported, Some(t("2026-11-01T14:47:00")));
    // No "Last modified" paragraph: Trac 1.6 shows "Closed" when closing was the last change.
    assert_eq!(bug.last_touched, Some(t("2026-11-20T16:22:18")));
    assert_eq!(bug.good_for_newcomers, Some(true));
    assert_eq!(bug.concerns_just_documentation, Some(false));
    assert_eq!(bug.project_name.as_deref(), Some("Real Trac"));
    assert_eq!(bug.canonical_bug_link, link);
    assert_eq!(bug.last_polled, Some(now()));
    assert_eq!(bug.as_appears_in_distribution.as_deref(), Some(""));
    let d = bug.description.unwrap();
    assert!(d.starts_with("Reported by Jürgen Müller. Do sit"), "{d}");
    assert!(
        d.contains("\n 1. open the timeline\n"),
        "line breaks kept: {d:?}"
    );
    assert!(d.contains("type \"Ærøskøbing"), "quotes not escaped: {d:?}");
}

#[test]
fn trac16_reopened_ticket_with_comments() {
    let s = TicketSettings::new("Real Trac")
        .with_bitesized("keywords", "easy")
        .with_documentation("keywords", "documentation");
    let bug = ticket("trac16-ticket-4", "http://127.0.0.1:20080/ticket/4", &s);
    assert_eq!(bug.status.as_deref(), Some("reopened"));
    assert_eq!(bug.looks_closed, Some(false));
    assert_eq!(bug.importance.as_deref(), Some("blocker"));
    assert_eq!(bug.submitter_username.as_deref(), Some("kenji"));
    assert_eq!(bug.submitter_realname, Some(Some("田中 健二".into())));
    // 田中 健二, Carol Chen (owner), Alice Anderson, Jürgen Müller, Zoë Ångström (Cc),
    // and the change authors Zoë Ångström, Bob Brown, Erin Eriksson.
    assert_eq!(bug.people_involved, Some(7));
    assert_eq!(bug.date_reported, Some(t("2026-11-01T14:17:00")));
    assert_eq!(bug.last_touched, Some(t("2026-11-14T00:31:16")));
    assert_eq!(bug.good_for_newcomers, Some(true));
    assert_eq!(bug.concerns_just_documentation, Some(false));
}

#[test]
fn trac16_iso8601_date_format_gives_the_same_dates() {
    let s = TicketSettings::new("Real Trac");
    let bug = ticket_with(
        "trac16-ticket-4.csv",
        "trac16-iso8601-ticket-4.html",
        "http://127.0.0.1:20080/ticket/4",
        &s,
    );
    assert_eq!(bug.date_reported, Some(t("2026-11-01T14:17:00")));
    assert_eq!(bug.last_touched, Some(t("2026-11-14T00:31:16")));
}

#[test]
fn trac16_new_ticket_without_owner_cc_or_changes() {
    let s = TicketSettings::new("Real Trac").with_bitesized("keywords", "easy");
    let bug = ticket("trac16-ticket-80", "http://127.0.0.1:20080/ticket/80", &s);
    assert_eq!(bug.status.as_deref(), Some("new"));
    assert_eq!(bug.submitter_username.as_deref(), Some("dave"));
    // The reporter and the empty Cc piece (the original's rule, kept: see docs).
    assert_eq!(bug.people_involved, Some(2));
    assert_eq!(bug.date_reported, Some(t("2026-11-03T04:17:00")));
    assert_eq!(
        bug.last_touched, bug.date_reported,
        "no change: opened date"
    );
    assert_eq!(bug.good_for_newcomers, Some(false));
}

#[test]
fn trac012_timeline_titles_with_offsets_are_converted_to_utc() {
    let s = TicketSettings::new("Widgets")
        .with_bitesized("keywords", "easy")
        .with_documentation("component", "docs");
    let bug = ticket(
        "trac012-ticket-1234",
        "http://widgets.example/trac/ticket/1234",
        &s,
    );
    assert_eq!(
        bug.title.as_deref(),
        Some("Document the widget <frob> API & its options")
    );
    assert_eq!(
        bug.description.as_deref(),
        Some(
            "The frob() docs say nothing about &lt;options&gt;.\r\n\r\nPlease add a section &amp; an example."
        )
    );
    assert_eq!(bug.date_reported, Some(t("2011-03-04T14:15:00")));
    assert_eq!(bug.last_touched, Some(t("2012-04-01T22:02:33")));
    // mhansen (reporter, Cc), kpoole (owner), lvogel (Cc); "Changed … ago by X" headers are
    // not counted, as the original.
    assert_eq!(bug.people_involved, Some(3));
    assert_eq!(bug.submitter_username.as_deref(), Some("mhansen"));
    assert_eq!(bug.submitter_realname, Some(Some(String::new())));
    assert_eq!(bug.good_for_newcomers, Some(true));
    assert_eq!(bug.concerns_just_documentation, Some(true));
    assert_eq!(bug.status.as_deref(), Some("assigned"));
    assert_eq!(bug.looks_closed, Some(false));
    assert_eq!(bug.assigned, Some(true), "owner kpoole, status assigned");
}

#[test]
fn trac_owner_of_a_new_ticket_or_a_placeholder_is_no_assignment() {
    let s = TicketSettings::new("Widgets");
    let link = "http://widgets.example/trac/ticket/1234";
    let csv = String::from_utf8(fixture("trac012-ticket-1234.csv")).unwrap();
    let html = fixture("trac012-ticket-1234.html");
    for (from, to, want) in [
        (",assigned,", ",new,", Some(false)),
        (",kpoole,", ",somebody,", Some(false)),
        (",kpoole,", ",,", Some(false)),
        (",assigned,", ",accepted,", Some(true)),
    ] {
        assert!(csv.contains(from), "{from}");
        let edited = csv.replacen(from, to, 1);
        let bug = parse_ticket_files(
            edited.as_bytes(),
            &format!("{link}?format=csv"),
            &html,
            link,
            &s,
            now(),
        )
        .unwrap();
        assert_eq!(bug.assigned, want, "{from} -> {to}");
    }
}

#[test]
fn trac010_span_titles_changed_by_lines_and_a_custom_column() {
    let s = TicketSettings::new("Widgets")
        .with_bitesized("difficulty", "Easy (less than 1 hour)")
        .with_documentation("keywords", "documentation");
    let bug = ticket("trac010-ticket-77", "http://widgets.example/ticket/77", &s);
    assert_eq!(bug.date_reported, Some(t("2010-02-22T19:46:30")));
    assert_eq!(bug.last_touched, Some(t("2010-02-24T00:08:47")));
    // itamar, ortiz (change lines), ortiz (reporter), nobody (assigned), "" (empty Cc).
    assert_eq!(bug.people_involved, Some(4));
    assert_eq!(bug.good_for_newcomers, Some(true));
    assert_eq!(bug.concerns_just_documentation, Some(false));
    assert_eq!(bug.importance.as_deref(), Some("major"));
    assert_eq!(
        bug.description.as_deref(),
        Some("Start with an empty config:\r\n\r\n  $ widgets --config /dev/null\r\n\r\nIt crashes with a traceback.")
    );
}

#[test]
fn paragraph_titles_and_the_last_modified_fallback() {
    let s = TicketSettings::new("Gadgets").with_bitesized("keywords", "easy");
    let bug = ticket(
        "trac-ptitle-ticket-9",
        "http://gadgets.example/ticket/9",
        &s,
    );
    assert_eq!(bug.date_reported, Some(t("2010-06-19T08:15:37")));
    // A "Last modified" paragraph with only its own title falls back to the opened date (the
    // original's rule, asserted by its tests).
    assert_eq!(bug.last_touched, Some(t("2010-06-19T08:15:37")));
    assert_eq!(bug.people_involved, Some(4));
    assert_eq!(bug.submitter_username.as_deref(), Some("~anon~"));
    assert_eq!(
        bug.description.as_deref(),
        Some("\"teh\" should be \"the\".")
    );
    assert_eq!(bug.importance.as_deref(), Some("trivial"));
}

#[test]
fn timeline_link_in_the_properties_table() {
    let s = TicketSettings::new("Mapper");
    let bug = ticket(
        "trac-timeline-in-properties-ticket-3",
        "https://mapper.example/mapper/ticket/3",
        &s,
    );
    assert_eq!(bug.date_reported, Some(t("2011-07-08T06:55:21")));
    assert_eq!(bug.last_touched, bug.date_reported);
    assert_eq!(
        bug.submitter_username.as_deref(),
        Some("Sanna on behalf of Metsä")
    );
    assert_eq!(bug.submitter_realname, Some(Some(String::new())));
    assert_eq!(bug.people_involved, Some(4), "reporter, owner, ann, bo");
    assert_eq!(
        bug.description.as_deref(),
        Some("Save coordinates only when accuracy is high (e.g. &lt;20m)?\r\n")
    );
    assert_eq!(bug.good_for_newcomers, Some(false), "rule off");
}

#[test]
fn a_rule_naming_a_missing_column_fails_the_ticket_naming_the_url() {
    let s = TicketSettings::new("Gadgets").with_bitesized("difficulty", "easy");
    let e = parse_ticket_files(
        &fixture("trac-ptitle-ticket-9.csv"),
        "http://gadgets.example/ticket/9?format=csv",
        &fixture("trac-ptitle-ticket-9.html"),
        "http://gadgets.example/ticket/9",
        &s,
        now(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("http://gadgets.example/ticket/9") && msg.contains("difficulty"),
        "{msg}"
    );
}

#[test]
fn the_404_page_is_not_a_ticket() {
    let e = parse_ticket_csv(
        &fixture("trac16-missing-ticket-404.html"),
        "http://t/ticket/9?format=csv",
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("http://t/ticket/9?format=csv"),
        "{e}"
    );
}

#[test]
fn truncated_inputs_never_panic() {
    let s = TicketSettings::new("T").with_bitesized("keywords", "easy");
    let csv = fixture("trac16-ticket-4.csv");
    let html = fixture("trac16-ticket-4.html");
    for cut in (0..csv.len()).step_by(97) {
        let _ = parse_ticket_csv(&csv[..cut], "u");
    }
    for cut in (0..html.len()).step_by(211) {
        let _ = parse_ticket_files(&csv, "u", &html[..cut], "u", &s, now());
    }
}

fn registry_and_config(extra: &str) -> (Registry, TrackerConfig) {
    let mut r = Registry::new();
    bugimporters_trac::register(&mut r);
    let yaml = format!(
        "- tracker_name: Real Trac\n  bugimporter: trac.TracBugImporter\n  base_url: http://127.0.0.1:20080\n{extra}"
    );
    let c = bugimporters_core::load_config_str(&yaml, bugimporters_core::ConfigFormat::Yaml)
        .unwrap()
        .remove(0)
        .unwrap();
    (r, c)
}

#[test]
fn parse_formats_through_the_factory() {
    let (r, c) = registry_and_config("  bitesized_type: keywords\n  bitesized_text: easy\n");
    let cx = r.build_context(&c).unwrap();
    let f = r.factory("trac").unwrap();
    let input = ParseInput::new(
        vec![
            ("t.csv".into(), fixture("trac16-ticket-5.csv").into()),
            ("t.html".into(), fixture("trac16-ticket-5.html").into()),
        ],
        Some("http://127.0.0.1:20080/ticket/5".into()),
        bugimporters_core::ImportOptions::new(now()),
    );
    let ParseOutput::Bugs(bugs) = f.parse(&cx, "trac-ticket", &input).unwrap() else {
        panic!("bugs expected")
    };
    assert_eq!(bugs.len(), 1);
    assert_eq!(
        bugs[0].canonical_bug_link,
        "http://127.0.0.1:20080/ticket/5"
    );
    assert_eq!(bugs[0].good_for_newcomers, Some(true));
    assert_eq!(bugs[0].tracker_name.as_deref(), Some("Real Trac"));

    let input = ParseInput::new(
        vec![("q.csv".into(), fixture("query-easy-page1.csv").into())],
        None,
        bugimporters_core::ImportOptions::new(now()),
    );
    let ParseOutput::BugUrls(urls) = f.parse(&cx, "trac-query-csv", &input).unwrap() else {
        panic!("urls expected")
    };
    assert_eq!(urls.len(), 5);
    assert_eq!(urls[4], "http://127.0.0.1:20080/ticket/13");

    let one_file = ParseInput::new(
        vec![("t.csv".into(), fixture("trac16-ticket-5.csv").into())],
        None,
        bugimporters_core::ImportOptions::new(now()),
    );
    let e = f.parse(&cx, "trac-ticket", &one_file).unwrap_err();
    assert!(e.to_string().contains("ticket HTML"), "{e}");
    assert!(f.parse(&cx, "trac-nope", &one_file).is_err());
    assert!(r.build(&c).is_ok());
}

#[test]
fn building_needs_a_base_url() {
    let mut r = Registry::new();
    bugimporters_trac::register(&mut r);
    let c = TrackerConfig::new("No base", "trac");
    let e = r.build(&c).unwrap_err().to_string();
    assert!(e.contains("base_url"), "{e}");
}
