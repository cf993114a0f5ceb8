//! The web pages in a real browser: Debian's `chromium`, headless, driven over WebDriver
//! (`chromedriver`, started here on a free port) by `fantoccini`. One browser serves every
//! scenario of this file; each scenario starts its own site ([`site::Site`]: synthetic Trac
//! trackers, a SQLite host database, the service on a loopback port).
//!
//! * the bug finder lists the bugs of a service run, and its form's filters work;
//! * a hostile title (a `<script>` and an `onerror` image) shows as text, and no script of it
//!   runs (`window.__pwned` stays unset);
//! * a dashboard row redraws itself, without a reload, when a run finishes and its import
//!   lands, and again when an import run by hand lands (`/events` → `/api/trackers`);
//! * an admin made as `customs user add` makes one logs in (sent to `/login` and back), adds a
//!   Trac tracker through the `/customs/` form against a synthetic server — first without
//!   its `base_url`, an error shown beside that field — runs "Test this tracker", saves it, sees its
//!   bugs on the dashboard and in the finder after a run, and logs out.
//!
//! Skipped with a printed reason when chromium or chromedriver is missing, unless `CI` is
//! set (then the test fails: `.ci/run` installs them). With `BUGIMPORTERS_SCREENSHOTS=DIR`
//! (relative to the workspace root, e.g. `docs/images`) it saves `finder.png` and
//! `dashboard.png` there. A new scenario is one more `async fn(&Browser)` called from
//! [`in_a_real_browser`].

mod common;
mod site;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use site::{Site, HOSTILE_TITLE};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver, killed when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A headless chromium session.
struct Browser {
    client: Client,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `None` (after saying why) when the browser is not installed and `CI` is not set.
fn installed() -> Option<(PathBuf, PathBuf)> {
    let chromium = std::env::var_os("BUGIMPORTERS_CHROMIUM").map_or(CHROMIUM.into(), PathBuf::from);
    let driver =
        std::env::var_os("BUGIMPORTERS_CHROMEDRIVER").map_or(CHROMEDRIVER.into(), PathBuf::from);
    let missing: Vec<String> = [&chromium, &driver]
        .iter()
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        return Some((chromium, driver));
    }
    let why = format!(
        "{} missing: apt-get install -y chromium chromium-driver (docs/web.md, \"Browser tests\")",
        missing.join(" and ")
    );
    if std::env::var_os("CI").is_some() {
        panic!("the browser tests must run under CI: {why}");
    }
    println!("skipped: {why}");
    None
}

impl Browser {
    async fn start() -> Option<Browser> {
        let (chromium, driver_path) = installed()?;
        let port = free_port();
        let driver = Driver(
            Command::new(&driver_path)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_path.display())),
        );
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1600,900",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium, "args": args }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("chromedriver on {url} gave no session in 20 s: {e}"),
            }
        };
        Some(Browser {
            client,
            _driver: driver,
            _profile: profile,
        })
    }

    /// Runs `script` (a function body) and returns its value.
    async fn js(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// The texts of every element matching `css`.
    async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self.client.find_all(Locator::Css(css)).await.unwrap() {
            out.push(e.text().await.unwrap());
        }
        out
    }

    /// Waits (10 s at most) until `script` returns `true`.
    async fn wait_for(&self, what: &str, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.js(script).await != serde_json::Value::Bool(true) {
            if Instant::now() >= deadline {
                let page = self
                    .js("return location.href + '\\n' + document.body.innerText;")
                    .await;
                panic!(
                    "waited 10 s for {what}; the page:\n{}",
                    page.as_str().unwrap_or("")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a screenshot as `name` under `$BUGIMPORTERS_SCREENSHOTS`, if set.
    async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("BUGIMPORTERS_SCREENSHOTS") else {
            return;
        };
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dir = root.join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_real_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    // Asserting inside is what it is for: the panic is carried over after the session ends.
    let outcome = std::panic::AssertUnwindSafe(async {
        the_finder_lists_a_run_and_filters(&browser).await;
        a_hostile_title_is_text_and_runs_nothing(&browser).await;
        a_dashboard_row_updates_live(&browser).await;
        an_admin_adds_a_tracker_and_finds_its_bugs(&browser).await;
    })
    .catch_unwind()
    .await;
    // End the session (chromedriver closes chromium) before any failure is reported.
    let _ = browser.client.clone().close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The finder lists the bugs of a service run, as `/api/bugs` does; choosing a project and
/// "bite-sized" in the form (no JavaScript needed) lists only those.
async fn the_finder_lists_a_run_and_filters(b: &Browser) {
    let site = Site::start(3, 8).await;
    assert_eq!(site.run().await, 3);
    let all = site.db.bug_views(&Default::default()).await.unwrap().bugs;
    b.client.goto(&site.url("/")).await.unwrap();
    assert_eq!(
        b.texts("#bugs .bug-link").await,
        all.iter().map(|v| v.title.clone()).collect::<Vec<_>>()
    );
    b.screenshot("finder.png").await;

    // The form: a project, bite-sized only, submitted with the keyboard (Enter in the
    // title field).
    let select = b.client.find(Locator::Css("#f-project")).await.unwrap();
    select.select_by_value("Synthetic 01").await.unwrap();
    b.client
        .find(Locator::Css("#f-bitesized"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.client
        .find(Locator::Css("#f-q"))
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
    b.wait_for(
        "the filtered page",
        "return location.search.includes('bitesized=true');",
    )
    .await;
    let want: Vec<String> = all
        .iter()
        .filter(|v| v.project == "Synthetic 01" && v.good_for_newcomers)
        .map(|v| v.title.clone())
        .collect();
    assert!(
        !want.is_empty(),
        "the synthetic trackers have bite-sized bugs"
    );
    assert_eq!(b.texts("#bugs .bug-link").await, want);
    assert!(b
        .texts("#bugs .project")
        .await
        .iter()
        .all(|p| p == "Synthetic 01"));
    assert_eq!(b.texts("#bugs .tag.easy").await.len(), want.len());
    // The choices stay chosen.
    assert_eq!(
        b.js("return document.getElementById('f-project').value;")
            .await,
        "Synthetic 01"
    );
    assert_eq!(
        b.js("return document.getElementById('f-bitesized').checked;")
            .await,
        true
    );
}

/// A title with a `<script>` and an `onerror` image is shown as its text, and neither runs.
async fn a_hostile_title_is_text_and_runs_nothing(b: &Browser) {
    let site = Site::start(1, 2).await;
    site.run().await;
    let link = site.import_bug(0, 900, HOSTILE_TITLE).await;
    b.client.goto(&site.url("/")).await.unwrap();
    assert_eq!(b.text("#bugs .bug-link").await, HOSTILE_TITLE);
    let first = b
        .client
        .find(Locator::Css("#bugs .bug-link"))
        .await
        .unwrap();
    assert_eq!(
        first.attr("href").await.unwrap().as_deref(),
        Some(link.as_str())
    );
    // Give an image's error handler time to fire, were there one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        b.js("return [typeof window.__pwned, document.querySelectorAll('#bugs img, #bugs script').length];")
            .await,
        serde_json::json!(["undefined", 0])
    );
}

/// The dashboard's row of a tracker redraws itself when a run finishes and its import lands:
/// the page is not reloaded (a marker set in the page survives).
async fn a_dashboard_row_updates_live(b: &Browser) {
    let site = Site::start(2, 6).await;
    b.client.goto(&site.url("/dashboard")).await.unwrap();
    b.wait_for(
        "the event stream",
        "return document.getElementById('trackers').dataset.live === 'open';",
    )
    .await;
    let row = |field: &str| format!("tr[data-tracker='Synthetic 01'] td[data-field='{field}']");
    assert_eq!(b.text(&row("outcome")).await, "—");
    assert_eq!(b.text(&row("bugs")).await, "0");
    assert_eq!(b.text(&row("running")).await, "no");
    b.js("window.__marker = 'same page'; return true;").await;

    assert_eq!(site.run().await, 2);
    b.wait_for(
        "the row of Synthetic 01 to show the run",
        "return document.querySelector(\"tr[data-tracker='Synthetic 01'] td[data-field='outcome']\").textContent === 'ok';",
    )
    .await;
    let held = site.db.bugs(Some("Synthetic 01")).await.unwrap().len();
    assert!(held > 0);
    b.wait_for(
        "the bug count",
        &format!(
            "return document.querySelector(\"tr[data-tracker='Synthetic 01'] td[data-field='bugs']\").textContent === '{held}';"
        ),
    )
    .await;
    assert_ne!(b.text(&row("last_success")).await, "—");
    assert_eq!(b.text(&row("running")).await, "no");
    // An import run by hand (`import-results`, not the service) lands: one more bug.
    site.import_bug(1, 901, "imported by hand").await;
    b.wait_for(
        "the bug count after the import",
        &format!(
            "return document.querySelector(\"tr[data-tracker='Synthetic 01'] td[data-field='bugs']\").textContent === '{}';",
            held + 1
        ),
    )
    .await;
    // The totals per project follow: a row for the project, appeared without a reload.
    b.wait_for(
        "the totals of Synthetic 01",
        &format!(
            "const r = document.querySelector(\"#projects tr[data-project='Synthetic 01'] td[data-field='bugs']\"); return r !== null && r.textContent === '{}';",
            held + 1
        ),
    )
    .await;
    assert_eq!(b.js("return window.__marker;").await, "same page");
    // The documentation's picture: the page as loaded now, with its totals per project.
    b.client.refresh().await.unwrap();
    b.screenshot("dashboard.png").await;
}

/// Fills the field `css` with `text` (clearing it first).
async fn fill(b: &Browser, css: &str, text: &str) {
    let field = b.client.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Clicks the element `css`.
async fn click(b: &Browser, css: &str) {
    b.client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The whole way of a new tracker, as a maintainer of the host would go: log in, add a
/// tracker through the form (a validation error first, then "Test this tracker"), see its
/// bugs after a run on the dashboard and in the finder, log out.
async fn an_admin_adds_a_tracker_and_finds_its_bugs(b: &Browser) {
    let site = Site::start(0, 0).await;
    let trac = common::servers(1, 6).await.remove(0);
    let base = trac.trac_url();
    site.db
        .add_user(
            "ada",
            bugimporters_hostdb::Role::Admin,
            "correct horse battery",
        )
        .await
        .unwrap();

    // Anonymous: /customs/ sends to the login page, which comes back after logging in.
    b.client
        .goto(&site.url("/customs/?type=trac"))
        .await
        .unwrap();
    b.wait_for("the login page", "return location.pathname === '/login';")
        .await;
    fill(b, "#name", "ada").await;
    fill(b, "#password", "correct horse battery").await;
    click(b, "form button[type=submit]").await;
    b.wait_for(
        "/customs/ again",
        "return location.pathname === '/customs/';",
    )
    .await;
    assert!(b.text("header .user").await.contains("ada"));

    // No base_url: the form comes back with the registry's error beside that field.
    fill(b, "#f-name", "Browser Trac").await;
    click(b, "form.tracker button:not([formaction])").await;
    b.wait_for(
        "the field's error",
        "return !!document.querySelector('#e-base_url');",
    )
    .await;
    assert_eq!(
        b.js("return document.querySelector('#k-base_url').getAttribute('aria-invalid');")
            .await,
        "true"
    );

    // Fixed, then tried: the first query's bugs are listed and nothing is saved.
    fill(b, "#k-base_url", &base).await;
    fill(b, "#k-bitesized_type", "keywords").await;
    fill(b, "#k-bitesized_text", "easy").await;
    let query = format!("{base}query?format=csv&status=!closed&col=id&order=id&max=50&page=1");
    fill(b, "#f-queries", &query).await;
    click(b, "form.tracker button[formaction='/customs/test']").await;
    b.wait_for(
        "the test run",
        "return !!document.querySelector('#trial-h');",
    )
    .await;
    let tried = b.texts(".trial tbody tr").await;
    assert!(!tried.is_empty(), "the test run lists bugs");
    assert!(
        site.db.tracker("Browser Trac").await.unwrap().is_none(),
        "nothing saved"
    );

    // Saved: the tracker's page, then a run, then its bugs on the dashboard and in the finder.
    click(b, "form.tracker button:not([formaction])").await;
    b.wait_for(
        "the tracker's page",
        "return location.pathname === '/customs/tracker';",
    )
    .await;
    assert!(site.db.tracker("Browser Trac").await.unwrap().is_some());
    assert_eq!(site.run().await, 1);
    b.client.goto(&site.url("/dashboard")).await.unwrap();
    let row = b.text("#trackers tbody tr").await;
    assert!(row.contains("Browser Trac"), "{row}");
    let titles = site.db.bug_views(&Default::default()).await.unwrap().bugs;
    assert!(!titles.is_empty());
    b.client.goto(&site.url("/")).await.unwrap();
    assert_eq!(
        b.texts("#bugs .bug-link").await,
        titles.iter().map(|v| v.title.clone()).collect::<Vec<_>>()
    );

    // Logged out: the login link is back and /customs/ asks to log in again.
    click(b, "header form[action='/logout'] button").await;
    b.wait_for(
        "the login link",
        "return !!document.querySelector('header a[href=\"/login\"]');",
    )
    .await;
    b.client.goto(&site.url("/customs/")).await.unwrap();
    b.wait_for("the login page", "return location.pathname === '/login';")
        .await;
}
