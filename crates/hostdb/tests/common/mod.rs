//! Shared test helpers: a fresh database per test on SQLite, PostgreSQL or MariaDB, and a
//! tracker registry.
#![allow(dead_code)]

use std::sync::Arc;

use async_trait::async_trait;
use bugimporters_core::{
    BuildContext, ConfigKey, Error, ImportContext, Importer, ImporterFactory, Registry,
};
use bugimporters_hostdb::HostDb;

/// A fresh, empty database that is dropped by [`TestDb::cleanup`].
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    admin: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

pub const POSTGRES_ENV: &str = "BUGIMPORTERS_TEST_POSTGRES_URL";
pub const MYSQL_ENV: &str = "BUGIMPORTERS_TEST_MYSQL_URL";

fn random_name() -> String {
    format!("bi_test_{:016x}", fastrand::u64(..))
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("host.db").display());
        TestDb {
            url,
            admin: None,
            _dir: Some(dir),
        }
    }

    /// A new database on the server of `env`; `None` (after printing why) when the variable
    /// is unset outside CI. Under CI an unset variable fails the test.
    pub async fn server(env: &str) -> Option<TestDb> {
        let Ok(admin_url) = std::env::var(env) else {
            if std::env::var_os("CI").is_some() {
                panic!("{env} is not set, and CI is: the host-DB tests must run on this server (see docs/host-database.md)");
            }
            println!("skipped: set {env} (see docs/host-database.md)");
            return None;
        };
        let name = random_name();
        let admin = HostDb::connect_unmigrated(&admin_url).await.unwrap();
        admin
            .execute_raw(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        admin.close().await;
        let url = match admin_url.rsplit_once('/') {
            Some((head, _)) => format!("{head}/{name}"),
            None => panic!("{env} must end with /DATABASE"),
        };
        Some(TestDb {
            url,
            admin: Some((admin_url, name)),
            _dir: None,
        })
    }

    pub async fn connect(&self) -> HostDb {
        HostDb::connect(&self.url).await.unwrap()
    }

    pub async fn cleanup(self) {
        if let Some((admin_url, name)) = &self.admin {
            let admin = HostDb::connect_unmigrated(admin_url).await.unwrap();
            let force = if admin_url.starts_with("postgres") {
                " WITH (FORCE)"
            } else {
                ""
            };
            admin
                .execute_raw(&format!("DROP DATABASE IF EXISTS {name}{force}"))
                .await
                .unwrap();
            admin.close().await;
        }
    }
}

/// Runs `$case(db).await` on SQLite, PostgreSQL and MariaDB, as three tests.
#[macro_export]
macro_rules! on_all_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = $crate::common::TestDb::sqlite().await;
                    super::$case(&db).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = $crate::common::TestDb::server($crate::common::POSTGRES_ENV).await else { return };
                    super::$case(&db).await;
                    db.cleanup().await;
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = $crate::common::TestDb::server($crate::common::MYSQL_ENV).await else { return };
                    super::$case(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

#[derive(Debug)]
struct Nop;

#[async_trait]
impl Importer for Nop {
    async fn process_queries(&self, _: &ImportContext) -> Result<(), Error> {
        Ok(())
    }
    async fn process_existing_bugs(&self, _: &ImportContext, _: &[String]) -> Result<(), Error> {
        Ok(())
    }
}

/// A stand-in Trac type (used when the real one is not compiled in): `old_trac` is its one
/// own key, and it needs a `base_url`.
#[derive(Debug)]
struct FakeTrac;

impl ImporterFactory for FakeTrac {
    fn kind(&self) -> &'static str {
        "trac"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["trac.TracBugImporter"]
    }
    fn config_keys(&self) -> &'static [ConfigKey] {
        &[ConfigKey {
            name: "old_trac",
            description: "",
            required: false,
        }]
    }
    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Importer>, Error> {
        cx.config.base_url_with_slash()?;
        Ok(Arc::new(Nop))
    }
}

/// The built-in registry (GitHub and whatever else is compiled in), with a stand-in Trac
/// when the real one is not registered.
pub fn registry() -> Registry {
    let mut r = bugimporters_all::default_registry();
    if r.factory("trac").is_err() {
        r.register(Arc::new(FakeTrac));
    }
    r
}

pub const TRAC_QUERY: &str =
    "https://twistedmatrix.com/trac/query?status=new&format=csv&keywords=%7Eeasy&order=priority";

/// A configuration in the original's format: a Trac tracker with two queries and a GitHub
/// tracker.
pub const CONFIG: &str = r#"
- tracker_name: !!python/unicode 'Twisted'
  bugimporter: trac.TracBugImporter
  base_url: !!python/unicode 'https://twistedmatrix.com/trac/'
  bug_project_name_format: '{tracker_name}'
  bitesized_type: keywords
  bitesized_text: easy
  documentation_type: keywords
  documentation_text: documentation
  as_appears_in_distribution: ''
  custom_parser: ''
  queries:
  - https://twistedmatrix.com/trac/query?status=new&format=csv&keywords=%7Eeasy&order=priority
  - https://twistedmatrix.com/trac/query?status=reopened&format=csv&keywords=%7Edocumentation
  existing_bug_urls: []
  get_older_bug_data: null
- tracker_name: openhatch
  bugimporter: github
  github_name: openhatch
  github_repo: oh-bugimporters
  bitesized_tag: bitesize
  documentation_tag: documentation
  custom_parser: ''
  queries:
  - https://api.github.com/repos/openhatch/oh-bugimporters/issues?state=open
  existing_bug_urls: []
  get_older_bug_data: ''
"#;

/// One result line.
pub fn bug_line(link: &str, tracker: &str, title: &str, last_polled: &str) -> String {
    serde_json::json!({
        "title": title,
        "description": format!("about {title}"),
        "status": "new",
        "importance": "minor",
        "people_involved": 2,
        "date_reported": "2012-07-03T14:05:09",
        "last_touched": "2012-07-04T10:00:00",
        "last_polled": last_polled,
        "submitter_username": "alice",
        "submitter_realname": "",
        "canonical_bug_link": link,
        "looks_closed": false,
        "good_for_newcomers": true,
        "concerns_just_documentation": false,
        "_project_name": tracker,
        "_tracker_name": tracker,
    })
    .to_string()
}
