//! Host-database tests, run on SQLite always and on PostgreSQL / MariaDB when
//! `BUGIMPORTERS_TEST_POSTGRES_URL` / `BUGIMPORTERS_TEST_MYSQL_URL` are set (each test gets a
//! database of its own, dropped afterwards).

mod common;

use bugimporters_core::time::{format_naive, parse_datetime};
use bugimporters_core::{load_config_str, ConfigFormat, Query, TrackerConfig};
use bugimporters_hostdb::{
    render_export, ExportFormat, HostDb, ImportOptions, ImportSource, ImportSummary, StoredBug,
    TrackerEdit,
};
use common::{bug_line, registry, TestDb, CONFIG, TRAC_QUERY};

const GOLDEN_KEYS: [&str; 13] = [
    "tracker_name",
    "base_url",
    "bug_project_name_format",
    "bitesized_type",
    "bitesized_text",
    "documentation_type",
    "documentation_text",
    "as_appears_in_distribution",
    "custom_parser",
    "bugimporter",
    "queries",
    "existing_bug_urls",
    "get_older_bug_data",
];

fn configs(text: &str) -> Vec<TrackerConfig> {
    load_config_str(text, ConfigFormat::Yaml)
        .unwrap()
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

async fn load(db: &HostDb, text: &str) {
    let reg = registry();
    for c in configs(text) {
        db.load_config(&reg, &c).await.unwrap();
    }
}

async fn import_text(db: &HostDb, name: &str, text: &str) -> ImportSummary {
    db.import(
        vec![ImportSource::text(name, text)],
        &ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry())),
    )
    .await
    .unwrap()
}

async fn export_yaml(db: &HostDb) -> String {
    render_export(&db.export_configs(None).await.unwrap(), ExportFormat::Yaml).unwrap()
}

/// Everything but `import_runs`, for comparing two states of a database.
async fn dump(db: &HostDb) -> (Vec<StoredBug>, String, String) {
    let bugs = db.bugs(None).await.unwrap();
    let projects = format!("{:?}", db.projects().await.unwrap());
    let trackers = format!("{:?}", db.trackers().await.unwrap());
    (bugs, projects, trackers)
}

fn t(text: &str) -> chrono::NaiveDateTime {
    parse_datetime(text).unwrap()
}

async fn migrations_from_empty(tdb: &TestDb) {
    let db = tdb.connect().await;
    let versions = db.migrate().await.unwrap();
    assert!(!versions.is_empty());
    // A second run (and a second process) finds nothing to do.
    let again = HostDb::connect(&tdb.url).await.unwrap();
    assert_eq!(again.migrate().await.unwrap(), versions);
    assert!(db.trackers().await.unwrap().is_empty());
    assert_eq!(db.bug_count().await.unwrap(), 0);
    assert!(db.projects().await.unwrap().is_empty());
    assert!(db.import_runs().await.unwrap().is_empty());
    again.close().await;
    db.close().await;
}

async fn golden_keys_and_round_trip(tdb: &TestDb) {
    let db = tdb.connect().await;
    load(&db, CONFIG).await;
    let exported = db.export_configs(None).await.unwrap();
    let trac = exported
        .iter()
        .find(|m| m["tracker_name"] == "Twisted")
        .unwrap();
    let keys: Vec<&str> = trac.keys().map(String::as_str).collect();
    assert_eq!(keys, GOLDEN_KEYS, "the original's exported keys, in order");
    assert_eq!(trac["bugimporter"], "trac");
    assert_eq!(trac["get_older_bug_data"], serde_json::Value::Null);
    assert_eq!(trac["existing_bug_urls"], serde_json::json!([]));
    assert_eq!(trac["custom_parser"], "");
    assert_eq!(trac["as_appears_in_distribution"], "");
    let gh = exported
        .iter()
        .find(|m| m["tracker_name"] == "openhatch")
        .unwrap();
    assert_eq!(gh["github_name"], "openhatch");
    assert_eq!(
        gh["get_older_bug_data"], "",
        "GitHub without bugs: empty string"
    );
    assert!(gh.get("base_url").is_none());

    // The export loads back into what was loaded (types canonical, nothing lost).
    let yaml = render_export(&exported, ExportFormat::Yaml).unwrap();
    let json = render_export(&exported, ExportFormat::Json).unwrap();
    let mut original = configs(CONFIG);
    for c in &mut original {
        c.bugimporter = registry()
            .canonical_kind(&c.bugimporter)
            .unwrap()
            .to_owned();
        c.get_older_bug_data = if c.bugimporter == "github" {
            Some(String::new())
        } else {
            None
        };
    }
    original.sort_by(|a, b| a.tracker_name.cmp(&b.tracker_name));
    assert_eq!(configs(&yaml), original);
    let from_json: Vec<TrackerConfig> = load_config_str(&json, ConfigFormat::Json)
        .unwrap()
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(from_json, original);

    // export -> crawl results -> import -> export.
    let results = [
        bug_line(
            "https://twistedmatrix.com/trac/ticket/2",
            "Twisted",
            "two",
            "2012-09-15T00:00:00",
        ),
        bug_line(
            "https://twistedmatrix.com/trac/ticket/1",
            "Twisted",
            "one",
            "2012-09-16T10:00:00.5",
        ),
        bug_line(
            "https://github.com/openhatch/oh-bugimporters/issues/7",
            "openhatch",
            "gh",
            "2012-09-15T00:00:00",
        ),
    ]
    .join("\n");
    let s = import_text(&db, "bugs.jsonl", &results).await;
    assert_eq!(
        (s.inserted, s.rejected, s.exit_code()),
        (3, 0, 0),
        "{:?}",
        s.rejections
    );
    let second = db.export_configs(None).await.unwrap();
    let trac = second
        .iter()
        .find(|m| m["tracker_name"] == "Twisted")
        .unwrap();
    assert_eq!(
        trac["existing_bug_urls"],
        serde_json::json!([
            "https://twistedmatrix.com/trac/ticket/1",
            "https://twistedmatrix.com/trac/ticket/2"
        ])
    );
    // Queries carry the oldest last_polled of the tracker's records.
    assert_eq!(
        trac["queries"][0],
        serde_json::json!({"url": TRAC_QUERY, "last_polled": "2012-09-15T00:00:00"})
    );
    let gh = second
        .iter()
        .find(|m| m["tracker_name"] == "openhatch")
        .unwrap();
    assert_eq!(
        gh["get_older_bug_data"],
        "https://api.github.com/repos/openhatch/oh-bugimporters/issues?since=2012-09-15T00%3A00%3A00"
    );
    let yaml2 = render_export(&second, ExportFormat::Yaml).unwrap();
    let loaded = configs(&yaml2);
    assert_eq!(loaded.len(), 2);
    let trac = loaded.iter().find(|c| c.tracker_name == "Twisted").unwrap();
    assert_eq!(trac.existing_bug_urls.len(), 2);
    assert_eq!(trac.queries[0].last_polled, Some(t("2012-09-15T00:00:00")));

    // Loading the export again changes nothing: the same export comes out.
    load(&db, &yaml2).await;
    assert_eq!(export_yaml(&db).await, yaml2);
    // ... and into an empty database it brings the same trackers and queries.
    db.close().await;
}

async fn admin_checks_against_registry(tdb: &TestDb) {
    let db = tdb.connect().await;
    let reg = registry();
    let mut c = TrackerConfig::new("gh", "github");
    c.extra.insert("github_name".into(), "openhatch".into());
    c.extra.insert("github_repo".into(), "oh-mainline".into());
    let r = db.add_tracker(&reg, &c, Some("OpenHatch")).await.unwrap();
    assert_eq!(r.created_for_project.as_deref(), Some("OpenHatch"));
    assert!(matches!(
        db.add_tracker(&reg, &c, None).await,
        Err(bugimporters_hostdb::Error::TrackerExists(_))
    ));
    let mut typo = TrackerConfig::new("typo", "githubb");
    typo.extra.insert("github_name".into(), "x".into());
    let e = db
        .add_tracker(&reg, &typo, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("githubb") && e.contains("github"), "{e}");
    let mut badkey = c.clone();
    badkey.tracker_name = "badkey".into();
    badkey.extra.insert("github_nmae".into(), "x".into());
    let e = db
        .add_tracker(&reg, &badkey, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("github_nmae") && e.contains("github_repo"),
        "{e}"
    );
    let mut missing = TrackerConfig::new("missing", "github");
    missing.extra.insert("github_name".into(), "x".into());
    assert!(db.add_tracker(&reg, &missing, None).await.is_err());

    db.add_query(
        &reg,
        "gh",
        &Query::new("https://api.github.com/repos/openhatch/oh-mainline/issues?state=open"),
    )
    .await
    .unwrap();
    assert!(db
        .add_query(
            &reg,
            "gh",
            &Query::new("https://api.github.com/repos/openhatch/oh-mainline/issues?state=open")
        )
        .await
        .is_err());
    assert!(db
        .add_query(&reg, "gh", &Query::new("ftp://nope/"))
        .await
        .is_err());

    let mut edit = TrackerEdit::default();
    edit.rename = Some("oh-mainline".into());
    edit.set.push(("bitesized_tag".into(), "easy".into()));
    edit.set.push(("max_connections".into(), 2.into()));
    let r = db.edit_tracker(&reg, "gh", &edit).await.unwrap();
    assert_eq!(r.config.tracker_name, "oh-mainline");
    assert_eq!(r.config.extra["bitesized_tag"], "easy");
    assert_eq!(r.config.max_connections, Some(2));
    assert_eq!(r.config.queries.len(), 1, "queries kept");
    let mut unset = TrackerEdit::default();
    unset.unset = vec!["bitesized_tag".into(), "max_connections".into()];
    let r = db.edit_tracker(&reg, "oh-mainline", &unset).await.unwrap();
    assert!(!r.config.extra.contains_key("bitesized_tag"));
    assert_eq!(r.config.max_connections, None);
    let mut again = TrackerEdit::default();
    again.set.push(("max_connections".into(), 2.into()));
    db.edit_tracker(&reg, "oh-mainline", &again).await.unwrap();
    let mut bad = TrackerEdit::default();
    bad.set.push(("bogus_key".into(), "x".into()));
    assert!(db.edit_tracker(&reg, "oh-mainline", &bad).await.is_err());
    let exported = db.export_configs(Some("oh-mainline")).await.unwrap();
    assert_eq!(exported[0]["max_connections"], 2);

    let line = bug_line(
        "https://github.com/openhatch/oh-mainline/issues/1",
        "oh-mainline",
        "x",
        "2012-01-01T00:00:00",
    );
    assert_eq!(import_text(&db, "b.jsonl", &line).await.inserted, 1);
    assert!(db
        .remove_query("oh-mainline", "https://nope/")
        .await
        .is_ok_and(|had| !had));
    assert_eq!(db.remove_tracker("oh-mainline").await.unwrap(), (1, 1));
    assert!(db.tracker("oh-mainline").await.unwrap().is_none());
    assert_eq!(db.bug_count().await.unwrap(), 0);
    assert!(db.export_configs(Some("oh-mainline")).await.is_err());
    db.close().await;
}

async fn idempotent(tdb: &TestDb) {
    let db = tdb.connect().await;
    load(&db, CONFIG).await;
    let lines: Vec<String> = (0..50)
        .map(|i| {
            bug_line(
                &format!("https://twistedmatrix.com/trac/ticket/{i}"),
                "Twisted",
                &format!("bug {i}"),
                "2013-01-01T00:00:00.123456",
            )
        })
        .collect();
    let text = lines.join("\n");
    let first = import_text(&db, "r.jsonl", &text).await;
    assert_eq!((first.inserted, first.updated, first.unchanged), (50, 0, 0));
    let before = dump(&db).await;
    let second = import_text(&db, "r.jsonl", &text).await;
    assert_eq!(
        (second.inserted, second.updated, second.unchanged),
        (0, 0, 50)
    );
    assert_eq!(
        dump(&db).await,
        before,
        "the same file twice gives the same database"
    );
    let runs = db.import_runs().await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].2, [50, 0, 0, 0, 0]);
    assert_eq!(runs[1].2, [0, 0, 50, 0, 0]);
    assert_eq!(runs[1].1, "ok");

    // A changed title is an update; an older record changes nothing.
    let newer = bug_line(
        "https://twistedmatrix.com/trac/ticket/3",
        "Twisted",
        "renamed",
        "2013-02-01T00:00:00",
    );
    let older = bug_line(
        "https://twistedmatrix.com/trac/ticket/3",
        "Twisted",
        "stale",
        "2012-02-01T00:00:00",
    );
    let s = import_text(&db, "n.jsonl", &format!("{newer}\n{older}")).await;
    assert_eq!((s.updated, s.unchanged), (1, 1));
    let bug = db
        .bug("https://twistedmatrix.com/trac/ticket/3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bug.bug.title.as_deref(), Some("renamed"));
    assert_eq!(bug.bug.last_polled, Some(t("2013-02-01T00:00:00")));
    assert_eq!(bug.bug.people_involved, Some(2));
    assert_eq!(bug.bug.date_reported, Some(t("2012-07-03T14:05:09")));
    assert_eq!(bug.bug.submitter_realname, Some(Some(String::new())));
    assert_eq!(bug.bug.good_for_newcomers, Some(true));
    db.close().await;
}

async fn no_update_and_deleted(tdb: &TestDb) {
    let db = tdb.connect().await;
    load(&db, CONFIG).await;
    let link = "https://twistedmatrix.com/trac/ticket/9";
    let other = "https://twistedmatrix.com/trac/ticket/10";
    let text = [
        bug_line(link, "Twisted", "nine", "2013-01-01T00:00:00"),
        bug_line(other, "Twisted", "ten", "2013-01-01T00:00:00"),
    ]
    .join("\n");
    import_text(&db, "a.jsonl", &text).await;
    let before = db.bug(link).await.unwrap().unwrap();

    // _no_update touches only last_polled, whatever else the record says.
    let nu = serde_json::json!({"canonical_bug_link": link, "_no_update": true, "title": "ignored",
        "_tracker_name": "Twisted", "_project_name": "Twisted", "last_polled": "2013-03-01T00:00:00"});
    let unknown = serde_json::json!({"canonical_bug_link": "https://twistedmatrix.com/trac/ticket/404", "_no_update": true});
    let s = import_text(&db, "nu.jsonl", &format!("{nu}\n{unknown}")).await;
    assert_eq!((s.unchanged, s.rejected), (1, 1));
    assert_eq!(s.rejections[0].line, 2);
    assert!(s.rejections[0].reason.contains("_no_update"));
    let after = db.bug(link).await.unwrap().unwrap();
    assert_eq!(after.bug.last_polled, Some(t("2013-03-01T00:00:00")));
    assert_eq!(after.bug.title, before.bug.title);
    assert_eq!(after.modified_at, before.modified_at);
    assert_eq!(
        db.bug("https://twistedmatrix.com/trac/ticket/404")
            .await
            .unwrap(),
        None
    );

    // A deletion older than what is held does not delete; a newer one does.
    let old_del = serde_json::json!({"canonical_bug_link": other, "_deleted": true,
        "_tracker_name": "Twisted", "_project_name": "Twisted", "last_polled": "2012-01-01T00:00:00"});
    let del = serde_json::json!({"canonical_bug_link": other, "_deleted": true,
        "_tracker_name": "Twisted", "_project_name": "Twisted", "last_polled": "2013-04-01T00:00:00"});
    let bare_del = serde_json::json!({"canonical_bug_link": link, "_deleted": true});
    let s = import_text(
        &db,
        "d.json",
        &serde_json::json!([old_del, del, bare_del]).to_string(),
    )
    .await;
    assert_eq!(
        (s.deleted, s.unchanged, s.rejected),
        (1, 1, 1),
        "{:?}",
        s.rejections
    );
    assert!(s.rejections[0].reason.contains("missing _tracker_name"));
    assert_eq!(db.bug(other).await.unwrap(), None);
    assert!(db.bug(link).await.unwrap().is_some());
    db.close().await;
}

async fn bad_lines_are_reported_and_skipped(tdb: &TestDb) {
    let db = tdb.connect().await;
    load(&db, CONFIG).await;
    let good = |n: u32| {
        bug_line(
            &format!("https://twistedmatrix.com/trac/ticket/{n}"),
            "Twisted",
            "ok",
            "2013-01-01T00:00:00",
        )
    };
    let mut wrong_type: serde_json::Value = serde_json::from_str(&good(90)).unwrap();
    wrong_type["people_involved"] = "many".into();
    let mut missing: serde_json::Value = serde_json::from_str(&good(91)).unwrap();
    missing.as_object_mut().unwrap().remove("_project_name");
    let unknown_tracker = bug_line("https://elsewhere/1", "Nobody", "x", "2013-01-01T00:00:00");
    let text = [
        good(1),
        "{not json".to_owned(),
        good(2),
        wrong_type.to_string(),
        String::new(),
        missing.to_string(),
        unknown_tracker,
        "[1, 2]".to_owned(),
        good(3),
    ]
    .join("\n");
    let s = import_text(&db, "results.jsonl", &text).await;
    assert_eq!((s.records, s.inserted, s.rejected), (8, 3, 5));
    let where_: Vec<String> = s
        .rejections
        .iter()
        .map(|r| format!("{}:{}", r.file, r.line))
        .collect();
    assert_eq!(
        where_,
        [
            "results.jsonl:2",
            "results.jsonl:4",
            "results.jsonl:6",
            "results.jsonl:7",
            "results.jsonl:8"
        ]
    );
    assert!(s.rejections[0].reason.contains("invalid JSON"));
    assert!(s.rejections[1].reason.starts_with("people_involved"));
    assert!(s.rejections[2].reason.contains("_project_name"));
    assert!(s.rejections[3]
        .reason
        .contains("unknown tracker \"Nobody\""));
    assert!(s.rejections[3].to_string().starts_with("results.jsonl:7: "));
    assert_eq!(s.exit_code(), 1);
    let runs = db.import_runs().await.unwrap();
    assert_eq!(runs.last().unwrap().1, "rejections");
    assert!(runs.last().unwrap().3.contains("results.jsonl:4"));

    // Limits are the same on every backend: a link of 768 characters (4-byte ones: the whole
    // MySQL index) goes in, 769 do not; names with surrounding spaces are refused.
    // (Under the tracker's base_url: a tracker only writes links it owns.)
    let long = |n: usize| {
        let owned = "https://twistedmatrix.com/trac/ticket/";
        format!("{owned}{}", "🐛".repeat(n - owned.len()))
    };
    let text = [
        bug_line(&long(768), "Twisted", "longest", "2013-01-01T00:00:00"),
        bug_line(&long(769), "Twisted", "too long", "2013-01-01T00:00:00"),
        bug_line("https://t/spaces", " Twisted", "x", "2013-01-01T00:00:00"),
    ]
    .join("\n");
    let s = import_text(&db, "limits.jsonl", &text).await;
    assert_eq!((s.inserted, s.rejected), (1, 2), "{:?}", s.rejections);
    assert!(s.rejections[0].reason.contains("longer than 768"));
    assert!(s.rejections[1].reason.contains("spaces"));
    assert!(db.bug(&long(768)).await.unwrap().is_some());

    // YAML and JSON arrays name lines too; a broken file is unusable (exit 2), the others go in.
    let yaml = "- canonical_bug_link: https://twistedmatrix.com/trac/ticket/50\n  _tracker_name: Twisted\n  _project_name: Twisted\n  last_polled: '2013-01-01T00:00:00'\n- canonical_bug_link: https://twistedmatrix.com/trac/ticket/51\n  title: [not, a, string]\n".to_owned();
    let s = db
        .import(
            vec![
                ImportSource::text("r.yaml", yaml),
                ImportSource::text("broken.json", "[{\"canonical_bug_link\": "),
                ImportSource::text("ok.json", format!("[\n{}\n]", good(60))),
            ],
            &ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry())),
        )
        .await
        .unwrap();
    assert_eq!((s.inserted, s.rejected), (2, 1));
    assert_eq!(
        s.rejections[0].to_string().split(": ").next(),
        Some("r.yaml:5")
    );
    assert_eq!(s.unusable.len(), 1);
    assert!(s.unusable[0].starts_with("broken.json: "));
    assert_eq!(s.exit_code(), 2);
    db.close().await;
}

async fn odd_strings_are_stored_intact(tdb: &TestDb) {
    let db = tdb.connect().await;
    load(&db, CONFIG).await;
    let nasty = [
        "'; DROP TABLE bugs; --",
        "Robert'); DELETE FROM projects WHERE ('1'='1",
        "\" OR 1=1 -- ? $1 %s {}",
        "emoji 🐛🚀 and 中文 and \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}",
        "back\\slash and\ttab\nnewline",
    ];
    let big = "é".repeat(512 * 1024); // 1 MiB of UTF-8
    let mut lines = Vec::new();
    for (i, s) in nasty.iter().enumerate() {
        let mut v: serde_json::Value = serde_json::from_str(&bug_line(
            &format!("https://twistedmatrix.com/trac/ticket/{i}?q='x'&y=\"z\""),
            "Twisted",
            s,
            "2013-01-01T00:00:00",
        ))
        .unwrap();
        v["_project_name"] =
            serde_json::Value::String(format!("Project {s}").replace(['\n', '\t'], " "));
        v["raw_data"] = serde_json::json!({"k": s, "n": [1, 2.5, null]});
        lines.push(v.to_string());
    }
    lines.push(bug_line(
        "https://twistedmatrix.com/trac/ticket/big",
        "Twisted",
        &big,
        "2013-01-01T00:00:00",
    ));
    let s = import_text(&db, "nasty.jsonl", &lines.join("\n")).await;
    assert_eq!(
        (s.inserted, s.rejected),
        (nasty.len() as u64 + 1, 0),
        "{:?}",
        s.rejections
    );
    for (i, s) in nasty.iter().enumerate() {
        let b = db
            .bug(&format!(
                "https://twistedmatrix.com/trac/ticket/{i}?q='x'&y=\"z\""
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b.bug.title.as_deref(), Some(*s));
        assert_eq!(
            b.bug.raw_data,
            Some(serde_json::json!({"k": s, "n": [1, 2.5, null]}))
        );
        assert!(b.bug.project_name.unwrap().starts_with("Project "));
    }
    let b = db
        .bug("https://twistedmatrix.com/trac/ticket/big")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.bug.title.map(|t| t.len()), Some(big.len()));
    assert_eq!(db.trackers().await.unwrap().len(), 2, "no table was harmed");
    db.close().await;
}

async fn concurrent_imports_lose_no_update(tdb: &TestDb) {
    let a = tdb.connect().await;
    load(&a, CONFIG).await;
    let b = HostDb::connect(&tdb.url).await.unwrap();
    // Both files name links 0..1500 (B in reverse order, so that the two imports lock rows in
    // opposite orders); file B is newer for every link. Each also has links of its own.
    let file = |tag: &str, polled: &str, own: std::ops::Range<u32>, reverse: bool| -> String {
        let mut shared: Vec<u32> = (0..1500).collect();
        if reverse {
            shared.reverse();
        }
        shared
            .into_iter()
            .chain(own)
            .map(|i| {
                bug_line(
                    &format!("https://twistedmatrix.com/trac/ticket/{i}"),
                    "Twisted",
                    &format!("{tag} {i}"),
                    polled,
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let fa = file("old", "2013-01-01T00:00:00", 2000..2100, false);
    let fb = file("new", "2013-01-02T00:00:00", 3000..3100, true);
    let mut opts = ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry()));
    opts.batch_size = 50;
    let (ra, rb) = tokio::join!(
        a.import(vec![ImportSource::text("a.jsonl", fa)], &opts),
        b.import(vec![ImportSource::text("b.jsonl", fb)], &opts),
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(
        ra.rejected + rb.rejected,
        0,
        "{:?} {:?}",
        ra.rejections,
        rb.rejections
    );
    assert_eq!((ra.records, rb.records), (1600, 1600));
    assert_eq!(ra.inserted + ra.updated + ra.unchanged, 1600);
    assert_eq!(a.bug_count().await.unwrap(), 1700);
    for bug in a.bugs(None).await.unwrap() {
        let n: u32 = bug
            .bug
            .canonical_bug_link
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let want = if !(1500..3000).contains(&n) {
            format!("new {n}")
        } else {
            format!("old {n}")
        };
        assert_eq!(bug.bug.title.as_deref(), Some(want.as_str()));
    }
    assert_eq!(a.projects().await.unwrap().len(), 1);
    b.close().await;
    a.close().await;
}

async fn hundred_thousand_records(tdb: &TestDb) {
    let db = tdb.connect().await;
    load(&db, CONFIG).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.jsonl");
    let mut text = String::with_capacity(100_000 * 420);
    for i in 0..100_000 {
        text.push_str(&bug_line(
            &format!("https://twistedmatrix.com/trac/ticket/{i}"),
            "Twisted",
            &format!("bug number {i}"),
            "2013-01-01T00:00:00",
        ));
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    let start = std::time::Instant::now();
    let s = db
        .import(
            vec![ImportSource::path(&path)],
            &ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry())),
        )
        .await
        .unwrap();
    println!("100000 records in {:?}", start.elapsed());
    assert_eq!((s.records, s.inserted, s.rejected), (100_000, 100_000, 0));
    assert_eq!(db.bug_count().await.unwrap(), 100_000);
    let b = db
        .bug("https://twistedmatrix.com/trac/ticket/99999")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.bug.title.as_deref(), Some("bug number 99999"));
    let exported = db.export_configs(Some("Twisted")).await.unwrap();
    assert_eq!(
        exported[0]["existing_bug_urls"].as_array().unwrap().len(),
        100_000
    );
    assert_eq!(
        format_naive(&db.oldest_poll("Twisted").await.unwrap().unwrap()),
        "2013-01-01T00:00:00"
    );
    db.close().await;
}

/// Issue 13 point 11: one record over MariaDB's `max_allowed_packet` (16 MiB by default)
/// used to fail its batch, then kill the connection in the one-by-one fallback (exit 2, most
/// of the other records lost). It is now rejected alone, with its file and line, on every
/// backend (the record limit is the same everywhere), and the 2 999 others go in.
async fn oversize_record_is_rejected_alone(tdb: &TestDb) {
    let db = tdb.connect().await;
    load(&db, CONFIG).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oversize.jsonl");
    let mut text = String::with_capacity(3_000 * 420 + 21_000_000);
    for i in 1..=3_000 {
        let mut line = bug_line(
            &format!("https://twistedmatrix.com/trac/ticket/{i}"),
            "Twisted",
            &format!("bug number {i}"),
            "2013-01-01T00:00:00",
        );
        if i == 1_500 {
            let mut v: serde_json::Value = serde_json::from_str(&line).unwrap();
            v["description"] = "x".repeat(20_000_000).into();
            line = v.to_string();
        }
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    let start = std::time::Instant::now();
    let s = db
        .import(
            vec![ImportSource::path(&path)],
            &ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry())),
        )
        .await
        .unwrap();
    let took = start.elapsed();
    println!(
        "{}: 3000 records with one of 20 MB in {took:?} ({:.0} records/s)",
        db.backend().name(),
        3_000.0 / took.as_secs_f64()
    );
    assert_eq!(
        (s.records, s.inserted, s.rejected),
        (3_000, 2_999, 1),
        "{:?}",
        s.rejections
    );
    assert_eq!(s.exit_code(), 1);
    let r = &s.rejections[0];
    assert_eq!((r.file.as_str(), r.line), (path.to_str().unwrap(), 1_500));
    assert!(r.reason.contains("bytes"), "{r}");
    assert!(
        r.to_string()
            .starts_with(&format!("{}:1500: ", path.display())),
        "{r}"
    );
    assert_eq!(db.bug_count().await.unwrap(), 2_999);
    assert!(db
        .bug("https://twistedmatrix.com/trac/ticket/1500")
        .await
        .unwrap()
        .is_none());
    // The connection pool is still good for the next import.
    let again = import_text(
        &db,
        "after.jsonl",
        &bug_line(
            "https://twistedmatrix.com/trac/ticket/1500",
            "Twisted",
            "small now",
            "2013-01-02T00:00:00",
        ),
    )
    .await;
    assert_eq!((again.inserted, again.rejected), (1, 0));
    db.close().await;
}

/// Strings that a YAML 1.1 reader (PyYAML, the original crawler's) takes for something else
/// when they are written plain, or refuses, or folds (issue 13 point 12).
const YAML_1_1_TRAPS: &[&str] = &[
    "<<",
    "=",
    "yes",
    "Yes",
    "YES",
    "no",
    "No",
    "on",
    "On",
    "ON",
    "off",
    "Off",
    "y",
    "Y",
    "n",
    "N",
    "true",
    "False",
    "TRUE",
    "~",
    "null",
    "Null",
    "NULL",
    "",
    "2001-01-01",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10 -5",
    "12:30:00",
    "190:20:30",
    "-12:30",
    "1_000",
    "0x1F",
    "0o17",
    "0b101",
    "017",
    "08",
    "0",
    "-0",
    "+12",
    ".inf",
    "-.Inf",
    "+.INF",
    ".NaN",
    ".nan",
    "1.5",
    ".5",
    "1.",
    "6.8523015e+5",
    "685.230_15e+03",
    "1e3",
    "!",
    "&",
    "*",
    "&a",
    "*a",
    "!tag",
    "-",
    "- x",
    "?",
    "? x",
    ":",
    ": x",
    "a: b",
    "a #b",
    "#x",
    "'q'",
    "\"dq\"",
    " lead",
    "trail ",
    "line\nbreak",
    "cr\rlf",
    "tab\there",
    "\u{85}nel",
    "\u{2028}ls",
    "\u{2029}ps",
    "\u{FEFF}bom",
    "nul\0",
    "bell\u{7}",
    "del\u{7F}",
    "🐛 emoji",
    "%TAG",
    "@at",
    "`tick",
    "[a, b]",
    "{a: b}",
    "|",
    ">",
    "|-\n x",
    "it's",
    "back\\slash",
    "yes please",
    "null pointer",
];

/// A Trac tracker whose every free-text field holds `v`.
fn trap_tracker(i: usize, v: &str) -> TrackerConfig {
    let plain_name = !v.is_empty() && v.trim() == v && !v.chars().any(char::is_control);
    let name = if plain_name {
        v.to_owned()
    } else {
        format!("trap {i}")
    };
    let mut c = TrackerConfig::new(name, "trac");
    c.base_url = format!("https://t{i}.example/trac/");
    c.bug_project_name_format = v.into();
    c.bitesized_type = "keywords".into();
    c.bitesized_text = v.into();
    c.documentation_type = "keywords".into();
    c.documentation_text = v.into();
    c.as_appears_in_distribution = v.into();
    let mut q = Query::new(format!("{}query?status=new&format=csv", c.base_url));
    q.description = Some(v.into());
    c.queries = vec![q];
    c
}

/// PyYAML's `safe_load` of `yaml`, as JSON (a value JSON cannot hold, such as a date, becomes
/// `{"not JSON": repr}`), or `None` (after printing why) when PyYAML is missing outside CI.
fn pyyaml_reads(yaml: &str) -> Option<serde_json::Value> {
    let have = std::process::Command::new("python3")
        .args(["-c", "import yaml"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        if std::env::var_os("CI").is_some() {
            panic!("PyYAML is missing and CI is set: `pip install pyyaml` (.ci/run does)");
        }
        println!("skipped: python3 with PyYAML is not installed (pip install pyyaml)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.yaml");
    std::fs::write(&path, yaml).unwrap();
    let script = "import json, sys, yaml\n\
        doc = yaml.safe_load(open(sys.argv[1], encoding='utf-8'))\n\
        print(json.dumps(doc, default=lambda o: {'not JSON': repr(o)}))";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "PyYAML cannot read the export: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// The YAML export reads back in PyYAML (YAML 1.1) exactly as the JSON export, value by
/// value, whatever the strings hold (issue 13 point 12: `<<` or `=` made PyYAML fail on the
/// whole file, `yes`/`2001-01-01`/`12:30:00`/`1_000` changed type).
#[tokio::test]
async fn yaml_export_reads_back_in_pyyaml() {
    let tdb = TestDb::sqlite().await;
    let db = tdb.connect().await;
    let reg = registry();
    for (i, v) in YAML_1_1_TRAPS.iter().enumerate() {
        let c = trap_tracker(i, v);
        db.load_config(&reg, &c)
            .await
            .unwrap_or_else(|e| panic!("{v:?}: {e}"));
    }
    let records = db.export_configs(None).await.unwrap();
    assert_eq!(records.len(), YAML_1_1_TRAPS.len());
    let json: serde_json::Value =
        serde_json::from_str(&render_export(&records, ExportFormat::Json).unwrap()).unwrap();
    let yaml = render_export(&records, ExportFormat::Yaml).unwrap();
    // Our own reader agrees too.
    let ours = configs(&yaml);
    assert_eq!(ours.len(), records.len());
    let Some(read) = pyyaml_reads(&yaml) else {
        return;
    };
    let (read, json) = (read.as_array().unwrap(), json.as_array().unwrap());
    assert_eq!(read.len(), json.len());
    for (r, j) in read.iter().zip(json) {
        let (r, j) = (r.as_object().unwrap(), j.as_object().unwrap());
        assert_eq!(r.len(), j.len(), "{r:?}\n{j:?}");
        for (k, want) in j {
            assert_eq!(r.get(k), Some(want), "key {k:?} of {:?}", j["tracker_name"]);
        }
    }
    db.close().await;
}

/// Issue 13 point 13: a UTF-8 byte order mark at the start of an import file used to cost its
/// first record (JSON lines, JSON) or make a file without extension read as YAML.
#[tokio::test]
async fn byte_order_marks_cost_no_record() {
    let tdb = TestDb::sqlite().await;
    let db = tdb.connect().await;
    load(&db, CONFIG).await;
    let line = |n: u32| {
        bug_line(
            &format!("https://twistedmatrix.com/trac/ticket/{n}"),
            "Twisted",
            "bom",
            "2013-01-01T00:00:00",
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let yaml = |n: u32| {
        format!(
            "- canonical_bug_link: https://twistedmatrix.com/trac/ticket/{n}\n  _tracker_name: Twisted\n  _project_name: Twisted\n  last_polled: '2013-01-01T00:00:00'\n"
        )
    };
    let files = [
        ("a.jsonl", format!("{}\n{}\n", line(1), line(2))),
        ("b.json", format!("[{},\n{}]", line(3), line(4))),
        ("c.yaml", format!("{}{}", yaml(5), yaml(6))),
        ("no-extension", format!("{}\n{}\n", line(7), line(8))),
    ];
    let mut sources = Vec::new();
    for (name, text) in &files {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("\u{FEFF}{text}")).unwrap();
        sources.push(ImportSource::path(path));
    }
    let s = db
        .import(
            sources,
            &ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry())),
        )
        .await
        .unwrap();
    assert_eq!(
        (s.records, s.inserted, s.rejected, s.exit_code()),
        (8, 8, 0, 0),
        "{:?} {:?}",
        s.rejections,
        s.unusable
    );
    db.close().await;
}

#[tokio::test]
async fn connect_errors_hide_the_password() {
    for url in [
        "postgres://bi:s3cr3t@127.0.0.1:notaport/host",
        "mysql://bi:s3cr3t@127.0.0.1:notaport/host",
    ] {
        let e = HostDb::connect(url).await.unwrap_err().to_string();
        assert!(
            e.contains("bi:***@127.0.0.1") && !e.contains("s3cr3t"),
            "{e}"
        );
    }
}

on_all_backends!(
    migrations_from_empty,
    golden_keys_and_round_trip,
    admin_checks_against_registry,
    idempotent,
    no_update_and_deleted,
    bad_lines_are_reported_and_skipped,
    odd_strings_are_stored_intact,
    concurrent_imports_lose_no_update,
    hundred_thousand_records,
    oversize_record_is_rejected_alone,
);
