//! `bugimporters serve` as real processes sharing one PostgreSQL or MariaDB (set
//! `BUGIMPORTERS_TEST_POSTGRES_URL` / `BUGIMPORTERS_TEST_MYSQL_URL`; skipped otherwise outside
//! CI): three `serve --once` processes share 50 due trackers; `kill -9` of a process in the
//! middle of a run, whose lease another process takes over; SIGTERM during runs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bugimporters_hostdb::{tracker_from_args, HostDb};
use bugimporters_testkit::synthetic::{SyntheticConfig, SyntheticServer};

const POSTGRES_ENV: &str = "BUGIMPORTERS_TEST_POSTGRES_URL";
const MYSQL_ENV: &str = "BUGIMPORTERS_TEST_MYSQL_URL";

/// A new database on the server of `env`, with its admin URL and name for dropping it.
async fn server_db(env: &str) -> Option<(String, String, String)> {
    let Ok(admin) = std::env::var(env) else {
        if std::env::var_os("CI").is_some() {
            panic!("{env} is not set, and CI is: the serve tests must run on this server");
        }
        println!("skipped: set {env} (see docs/host-database.md)");
        return None;
    };
    let name = format!("bi_serve_{:016x}", fastrand::u64(..));
    let a = HostDb::connect_unmigrated(&admin).await.unwrap();
    a.execute_raw(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    a.close().await;
    let (head, _) = admin.rsplit_once('/').expect("URL ends with /DATABASE");
    Some((format!("{head}/{name}"), admin, name))
}

async fn drop_db(admin: &str, name: &str) {
    let a = HostDb::connect_unmigrated(admin).await.unwrap();
    let force = if admin.starts_with("postgres") {
        " WITH (FORCE)"
    } else {
        ""
    };
    a.execute_raw(&format!("DROP DATABASE IF EXISTS {name}{force}"))
        .await
        .unwrap();
    a.close().await;
}

/// `n` synthetic Trac servers and their trackers in `db`.
async fn trackers(db: &HostDb, n: usize, bugs: usize, latency_ms: u64) -> Vec<SyntheticServer> {
    let registry = bugimporters_all::default_registry();
    let mut servers = Vec::new();
    for i in 0..n {
        let s = SyntheticServer::start(SyntheticConfig {
            bugs,
            seed: 100 + i as u64,
            latency: Duration::from_millis(latency_ms),
            ..SyntheticConfig::default()
        })
        .await
        .unwrap();
        let t = s.trac_url();
        let q = format!("{t}query?format=csv&status=!closed&col=id&order=id&max=50&page=1");
        let c = tracker_from_args("trac", &format!("T{i:02}"), Some(&t), &[], &[q]).unwrap();
        db.add_tracker(&registry, &c, None).await.unwrap();
        servers.push(s);
    }
    servers
}

fn serve(db: &str, spool: &Path, worker: &str, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_bugimporters"))
        .args(["serve", "--db", db, "--allow-network", "127.0.0.0/8"])
        .args([
            "--worker-id",
            worker,
            "--host-budget",
            "100",
            "--retries",
            "1",
        ])
        .arg("--spool")
        .arg(spool)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn spooled(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".jsonl"))
                .collect()
        })
        .unwrap_or_default()
}

/// The links of the open bugs of every server: what the host must hold.
fn expected_links(servers: &[SyntheticServer]) -> BTreeSet<String> {
    servers
        .iter()
        .flat_map(|s| {
            let t = s.trac_url();
            s.bugs()
                .into_iter()
                .filter(|b| !b.is_closed())
                .map(move |b| format!("{t}ticket/{}", b.id))
        })
        .collect()
}

async fn held_links(db: &HostDb) -> Vec<String> {
    db.bugs(None)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.bug.canonical_bug_link)
        .collect()
}

async fn three_processes_share_fifty_trackers(url: &str) {
    let db = HostDb::connect(url).await.unwrap();
    let servers = trackers(&db, 50, 4, 20).await;
    let dir = tempfile::tempdir().unwrap();
    let mut children: Vec<Child> = (0..3)
        .map(|p| {
            let spool = dir.path().join(format!("spool{p}"));
            serve(url, &spool, &format!("p{p}"), &["--once", "--workers", "4"])
        })
        .collect();
    for c in &mut children {
        assert!(c.wait().unwrap().success());
    }
    // Each tracker ran exactly once: one spool file for it over all processes.
    let mut per_tracker: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_process = Vec::new();
    for p in 0..3 {
        let files = spooled(&dir.path().join(format!("spool{p}")));
        per_process.push(files.len());
        for f in files {
            *per_tracker.entry(f[..3].to_owned()).or_default() += 1;
        }
    }
    assert_eq!(per_tracker.len(), 50, "{per_tracker:?}");
    assert!(per_tracker.values().all(|n| *n == 1), "{per_tracker:?}");
    assert!(
        per_process.iter().filter(|n| **n > 0).count() >= 2,
        "the work is spread: {per_process:?}"
    );
    let status = db
        .schedule_status(bugimporters_core::time::now_naive())
        .await
        .unwrap();
    assert!(
        status.iter().all(|e| e.outcome.as_deref() == Some("ok")),
        "{status:?}"
    );
    assert!(status.iter().all(|e| e.running_on.is_none()));
    // No duplicate rows: exactly the open bugs, each once.
    let links = held_links(&db).await;
    let unique: BTreeSet<String> = links.iter().cloned().collect();
    assert_eq!(links.len(), unique.len());
    assert_eq!(unique, expected_links(&servers));
    db.close().await;
}

/// Waits until `check` holds, polling; panics after `limit`.
async fn wait_until<F: AsyncFnMut() -> bool>(limit: Duration, what: &str, mut check: F) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn running_on(db: &HostDb) -> Vec<String> {
    db.schedule_status(bugimporters_core::time::now_naive())
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| e.running_on)
        .collect()
}

async fn a_killed_process_is_taken_over(url: &str) {
    let db = HostDb::connect(url).await.unwrap();
    // Slow trackers: every request waits 400 ms, so runs are under way when A dies.
    let servers = trackers(&db, 3, 6, 400).await;
    let dir = tempfile::tempdir().unwrap();
    let lease = ["--lease", "3s", "--poll", "0.2", "--listen", "127.0.0.1:0"];
    let mut a = serve(url, &dir.path().join("a"), "A", &lease);
    wait_until(Duration::from_secs(30), "A running", async || {
        running_on(&db).await.iter().any(|w| w == "A")
    })
    .await;
    a.kill().unwrap(); // SIGKILL
    a.wait().unwrap();
    let killed_at = Instant::now();
    let mut b = serve(url, &dir.path().join("b"), "B", &lease);
    wait_until(
        Duration::from_secs(60),
        "B finishing every tracker",
        async || {
            let s = db
                .schedule_status(bugimporters_core::time::now_naive())
                .await
                .unwrap();
            s.iter()
                .all(|e| e.outcome.as_deref() == Some("ok") && e.running_on.is_none())
        },
    )
    .await;
    assert!(
        killed_at.elapsed() >= Duration::from_secs(2),
        "taken over only after expiry"
    );
    let status = db
        .schedule_status(bugimporters_core::time::now_naive())
        .await
        .unwrap();
    assert!(status.iter().any(|e| e.last_worker.as_deref() == Some("B")));
    let links = held_links(&db).await;
    let unique: BTreeSet<String> = links.iter().cloned().collect();
    assert_eq!(links.len(), unique.len());
    assert_eq!(unique, expected_links(&servers), "as an uninterrupted run");
    terminate(&mut b, Duration::from_secs(10));
    db.close().await;
}

/// SIGTERM, then the process must exit within `limit`.
fn terminate(child: &mut Child, limit: Duration) {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.code().is_some(), "exited by itself: {status:?}");
            return;
        }
        assert!(
            start.elapsed() < limit,
            "did not exit within {limit:?} of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn sigterm_during_runs_releases_leases(url: &str) {
    let db = HostDb::connect(url).await.unwrap();
    let servers = trackers(&db, 4, 20, 500).await;
    let dir = tempfile::tempdir().unwrap();
    let args = ["--grace", "1", "--poll", "0.2", "--listen", "127.0.0.1:0"];
    let mut p = serve(url, &dir.path().join("s"), "S", &args);
    wait_until(Duration::from_secs(30), "runs under way", async || {
        running_on(&db).await.len() == 4
    })
    .await;
    terminate(&mut p, Duration::from_secs(6));
    // Leases released; a tracker is either fully imported or not at all.
    assert!(running_on(&db).await.is_empty());
    let held: BTreeSet<String> = held_links(&db).await.into_iter().collect();
    for s in &servers {
        let t = s.trac_url();
        let mine: BTreeSet<&String> = held.iter().filter(|l| l.starts_with(&t)).collect();
        let open = s.bugs().iter().filter(|b| !b.is_closed()).count();
        assert!(
            mine.is_empty() || mine.len() == open,
            "{t}: {} of {open}",
            mine.len()
        );
    }
    db.close().await;
}

macro_rules! on_servers {
    ($($case:ident),*) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some((url, admin, name)) = super::server_db(super::POSTGRES_ENV).await else { return };
                    super::$case(&url).await;
                    super::drop_db(&admin, &name).await;
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some((url, admin, name)) = super::server_db(super::MYSQL_ENV).await else { return };
                    super::$case(&url).await;
                    super::drop_db(&admin, &name).await;
                }
            )*
        }
    };
}

on_servers!(
    three_processes_share_fifty_trackers,
    a_killed_process_is_taken_over,
    sigterm_during_runs_releases_leases
);
