//! End to end, through the real binaries: `customs` → `export-config` → `bugimporters crawl`
//! → `import-results`, twice, against the synthetic tracker (which then changes some bugs,
//! closes some and deletes some) and against the real Trac of `../shared/servers/trac`, on
//! SQLite and — with `BUGIMPORTERS_TEST_POSTGRES_URL` — on PostgreSQL.
//!
//! The binaries of the other packages are found beside this package's `bugimporters`: run
//! `cargo test --workspace` (which builds them all) rather than `-p bugimporters`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use bugimporters_hostdb::{HostDb, StoredBug};
use bugimporters_testkit::synthetic::{SyntheticConfig, SyntheticServer};
use chrono::{NaiveDateTime, TimeDelta};

const POSTGRES_ENV: &str = "BUGIMPORTERS_TEST_POSTGRES_URL";
const TRAC_ENV: &str = "BUGIMPORTERS_TRAC_URL";

fn exe(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_bugimporters")).with_file_name(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo test --workspace` (it builds every binary)",
        path.display()
    );
    path
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.env("RUST_LOG", "warn").output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}:\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A host database for one test: a SQLite file, or a new database on a server.
struct Db {
    url: String,
    drop_from: Option<(String, String)>,
}

impl Db {
    fn sqlite(dir: &Path) -> Db {
        Db {
            url: format!("sqlite://{}", dir.join("host.db").display()),
            drop_from: None,
        }
    }

    async fn postgres() -> Option<Db> {
        let Ok(admin_url) = std::env::var(POSTGRES_ENV) else {
            if std::env::var_os("CI").is_some() {
                panic!("{POSTGRES_ENV} is not set, and CI is: the end-to-end test must run on PostgreSQL");
            }
            println!("skipped: set {POSTGRES_ENV} (see docs/host-database.md)");
            return None;
        };
        let name = format!("bi_e2e_{:016x}", fastrand::u64(..));
        let admin = HostDb::connect_unmigrated(&admin_url).await.unwrap();
        admin
            .execute_raw(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        admin.close().await;
        let (head, _) = admin_url
            .rsplit_once('/')
            .expect("the URL ends with /DATABASE");
        Some(Db {
            url: format!("{head}/{name}"),
            drop_from: Some((admin_url, name)),
        })
    }

    async fn cleanup(self) {
        if let Some((admin_url, name)) = self.drop_from {
            let admin = HostDb::connect_unmigrated(&admin_url).await.unwrap();
            admin
                .execute_raw(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .unwrap();
            admin.close().await;
        }
    }
}

/// One cycle: export-config, crawl (fixed `now`), import-results. Returns the crawl report.
fn cycle(db: &str, dir: &Path, round: u32, now: NaiveDateTime) -> serde_json::Value {
    let config = dir.join(format!("config-{round}.yaml"));
    run(Command::new(exe("export-config"))
        .args(["--db", db, "-o"])
        .arg(&config));
    let out = dir.join(format!("bugs-{round}.jsonl"));
    let report = dir.join(format!("report-{round}.json"));
    run(Command::new(exe("bugimporters"))
        .args(["crawl", "--no-progress", "--allow-network", "127.0.0.0/8"])
        .args(["--now", &bugimporters_core::time::format_naive(&now)])
        .arg("-i")
        .arg(&config)
        .arg("-o")
        .arg(&out)
        .arg("--report")
        .arg(&report));
    run(Command::new(exe("import-results"))
        .args(["--db", db])
        .arg(&out));
    serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap()
}

fn tracker_report<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["trackers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tracker_name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

async fn stored(db: &str, tracker: &str) -> BTreeMap<String, StoredBug> {
    let host = HostDb::connect(db).await.unwrap();
    let bugs = host.bugs(Some(tracker)).await.unwrap();
    host.close().await;
    bugs.into_iter()
        .map(|b| (b.bug.canonical_bug_link.clone(), b))
        .collect()
}

/// The whole pipeline against the synthetic Trac, two cycles with changes in between.
async fn synthetic_pipeline(db: &str, dir: &Path) {
    let server = SyntheticServer::start(SyntheticConfig {
        bugs: 120,
        latency: Duration::from_millis(1),
        ..SyntheticConfig::default()
    })
    .await
    .unwrap();
    let t = server.trac_url();
    let name = "Synthetic Trac";
    run(Command::new(exe("customs"))
        .args(["--db", db, "add-tracker", "trac", name, "--base-url", &t])
        .args(["-o", "bitesized_type=keywords", "-o", "bitesized_text=easy"])
        .args([
            "-q",
            &format!("{t}query?format=csv&status=!closed&col=id&order=id&max=50&page=1"),
        ]));

    // Round 1: the host learns every open ticket.
    // The first poll comes after every ticket's last change, as it would on a live tracker.
    let last_change = server.bugs().iter().map(|b| b.modified).max().unwrap();
    let now1 = last_change + TimeDelta::hours(1);
    let report1 = cycle(db, dir, 1, now1);
    assert_eq!(tracker_report(&report1, name)["ok"], true, "{report1}");
    let open1: BTreeSet<String> = server
        .bugs()
        .iter()
        .filter(|b| !b.is_closed())
        .map(|b| format!("{t}ticket/{}", b.id))
        .collect();
    let held = stored(db, name).await;
    assert_eq!(
        held.keys().cloned().collect::<BTreeSet<_>>(),
        open1,
        "the host holds exactly the open tickets"
    );
    check_fields(&server, &held, &t, now1);

    // The tracker moves on: 4 tickets edited, 3 closed, 2 deleted (all after round 1).
    let at = now1 + TimeDelta::hours(1);
    let touched = server.touch(4, 3, at);
    let closed = server.close(3, 5, at);
    let deleted = server.delete(2, 7);
    let now2 = at + TimeDelta::hours(1);
    let report2 = cycle(db, dir, 2, now2);
    let r2 = tracker_report(&report2, name);
    assert_eq!(r2["ok"], true, "{report2}");

    let link = |id: &u64| format!("{t}ticket/{id}");
    let gone: BTreeSet<String> = deleted.iter().map(link).collect();
    let held2 = stored(db, name).await;
    let want: BTreeSet<String> = open1.difference(&gone).cloned().collect();
    assert_eq!(
        held2.keys().cloned().collect::<BTreeSet<_>>(),
        want,
        "deleted tickets are removed, closed ones kept (and marked closed)"
    );
    assert_eq!(
        r2["deleted"].as_u64().unwrap(),
        open1.intersection(&gone).count() as u64
    );
    check_fields(&server, &held2, &t, now2);
    for id in &closed {
        if let Some(b) = held2.get(&link(id)) {
            assert_eq!(b.bug.looks_closed, Some(true), "ticket {id} was closed");
        }
    }
    for id in &touched {
        if let Some(b) = held2.get(&link(id)) {
            assert!(
                b.bug.title.as_deref().unwrap().ends_with("(edited)"),
                "{id}"
            );
        }
    }
    // Every held ticket that did not change is a `_no_update`: not downloaded again.
    let changed: BTreeSet<String> = touched.iter().chain(&closed).map(link).collect();
    let unchanged = want.difference(&changed).count() as u64;
    assert_eq!(r2["no_update"].as_u64().unwrap(), unchanged, "{r2}");
    let stable = held2
        .iter()
        .find(|(l, _)| !changed.contains(*l))
        .map(|(l, b)| (l.clone(), b.clone()))
        .unwrap();
    assert_eq!(
        stable.1.modified_at, held[&stable.0].modified_at,
        "a _no_update leaves the row's data alone"
    );

    // The same file imported again changes nothing.
    let before = dump(db).await;
    run(Command::new(exe("import-results"))
        .args(["--db", db])
        .arg(dir.join("bugs-2.jsonl")));
    assert_eq!(dump(db).await, before, "importing a file twice is a no-op");
}

/// Every stored ticket against the server's ground truth.
fn check_fields(
    server: &SyntheticServer,
    held: &BTreeMap<String, StoredBug>,
    trac: &str,
    now: NaiveDateTime,
) {
    let truth: BTreeMap<String, _> = server
        .bugs()
        .into_iter()
        .map(|b| (format!("{trac}ticket/{}", b.id), b))
        .collect();
    for (link, stored) in held {
        let b = &stored.bug;
        let want = &truth[link];
        assert_eq!(b.title.as_deref(), Some(want.title.as_str()), "{link}");
        assert_eq!(b.status.as_deref(), Some(want.status.as_str()), "{link}");
        assert_eq!(b.looks_closed, Some(want.is_closed()), "{link}");
        assert_eq!(
            b.good_for_newcomers,
            Some(want.keywords.iter().any(|k| k.contains("easy"))),
            "{link}"
        );
        assert_eq!(b.date_reported, Some(want.created), "{link}");
        assert_eq!(b.last_touched, Some(want.modified), "{link}");
        assert_eq!(b.last_polled, Some(now), "{link}: polled this round");
        assert_eq!(b.project_name.as_deref(), Some("Synthetic Trac"));
    }
}

/// Every row of the bugs table, for before/after comparisons.
async fn dump(db: &str) -> Vec<StoredBug> {
    let host = HostDb::connect(db).await.unwrap();
    let mut bugs = host.bugs(None).await.unwrap();
    host.close().await;
    bugs.sort_by(|a, b| a.bug.canonical_bug_link.cmp(&b.bug.canonical_bug_link));
    bugs
}

#[tokio::test(flavor = "multi_thread")]
async fn pipeline_on_sqlite_follows_the_synthetic_tracker() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::sqlite(dir.path());
    synthetic_pipeline(&db.url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pipeline_on_postgres_follows_the_synthetic_tracker() {
    let Some(db) = Db::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    synthetic_pipeline(&db.url, dir.path()).await;
    db.cleanup().await;
}

/// Against the real Trac: the host ends up with exactly the tickets Trac's own query lists,
/// and a second cycle with nothing changed downloads no ticket again.
#[tokio::test(flavor = "multi_thread")]
async fn pipeline_against_the_real_trac() {
    let base = match std::env::var(TRAC_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        Some(u) if u.ends_with('/') => u,
        Some(u) => format!("{u}/"),
        None if std::env::var_os("CI").is_some() => {
            panic!("{TRAC_ENV} is not set; CI must start the real Trac (see docs/trackers/trac.md)")
        }
        None => {
            println!("skipped: set {TRAC_ENV} (see docs/trackers/trac.md)");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let db = Db::sqlite(dir.path());
    let name = "Real Trac";
    let query = format!("{base}query?format=csv&status=!closed&id=1-150&col=id&order=id&max=40");
    run(Command::new(exe("customs"))
        .args([
            "--db",
            &db.url,
            "add-tracker",
            "trac",
            name,
            "--base-url",
            &base,
        ])
        .args(["-o", "bitesized_type=keywords", "-o", "bitesized_text=easy"])
        .args(["-q", &format!("{query}&page=1")]));

    // What Trac itself lists, read with a plain CSV reader.
    let client = bugimporters_core::fetch::HttpClient::new(
        bugimporters_core::fetch::FetchConfig::for_loopback_tests(),
    )
    .unwrap();
    let csv = client
        .fetch(bugimporters_core::fetch::Request::get(&query.replace("&max=40", "&max=0")).unwrap())
        .await
        .unwrap();
    let mut reader =
        csv::Reader::from_reader(csv.body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&csv.body));
    let listed: BTreeSet<String> = reader
        .records()
        .map(|r| format!("{base}ticket/{}", &r.unwrap()[0]))
        .collect();
    assert!(listed.len() > 10, "{} open tickets listed", listed.len());

    let now = bugimporters_core::time::now_naive();
    let report1 = cycle(&db.url, dir.path(), 1, now);
    assert_eq!(tracker_report(&report1, name)["ok"], true, "{report1}");
    let held = stored(&db.url, name).await;
    assert_eq!(held.keys().cloned().collect::<BTreeSet<_>>(), listed);
    assert!(held.values().all(|b| b.bug.title.is_some()
        && b.bug.last_touched.is_some()
        && b.bug.looks_closed == Some(false)));

    let report2 = cycle(&db.url, dir.path(), 2, now + TimeDelta::seconds(5));
    let r2 = tracker_report(&report2, name);
    assert_eq!(r2["ok"], true, "{report2}");
    assert_eq!(
        r2["no_update"].as_u64().unwrap(),
        listed.len() as u64,
        "nothing changed on the tracker: every held ticket is a _no_update ({r2})"
    );
    let held2 = stored(&db.url, name).await;
    assert_eq!(held2.len(), held.len());
    db.cleanup().await;
}
