//! Every built-in type's example configuration (`ImporterFactory::example_config`) survives the
//! host database: `customs load` stores it, `export-config` writes it back, and the exported
//! record loads as the same configuration (type, URLs, rules, per-type options, queries).
//! On SQLite always, on PostgreSQL / MariaDB when their variables are set.

mod common;

use bugimporters_core::{load_config_str, ConfigFormat, TrackerConfig};
use common::{TestDb, MYSQL_ENV, POSTGRES_ENV};

/// What must survive, as comparable text (the type by its canonical name: the host stores that).
/// `bugs_last_polled` is not stored: the host computes it from its bugs on export.
fn essence(registry: &bugimporters_core::Registry, c: &TrackerConfig) -> String {
    let mut options = c.extra.clone();
    options.remove("bugs_last_polled");
    let queries: Vec<String> = c
        .queries
        .iter()
        .map(|q| format!("{} @ {:?}", q.url, q.last_polled))
        .collect();
    format!(
        "name={} kind={} base_url={} project_format={} bitesized={}:{} documentation={}:{} \
         distribution={} parser={} queries={queries:?} options={:?}",
        c.tracker_name,
        registry.canonical_kind(&c.bugimporter).unwrap(),
        c.base_url,
        c.bug_project_name_format,
        c.bitesized_type,
        c.bitesized_text,
        c.documentation_type,
        c.documentation_text,
        c.as_appears_in_distribution,
        c.custom_parser,
        options,
    )
}

async fn round_trip(db: TestDb) {
    let host = db.connect().await;
    let registry = bugimporters_all::default_registry();
    let mut checked = 0;
    for factory in registry.factories() {
        let example = factory
            .example_config()
            .expect("every built-in type has one");
        for record in load_config_str(example, ConfigFormat::Yaml).unwrap() {
            let config = record.unwrap();
            host.load_config(&registry, &config).await.unwrap();
            let exported = host
                .export_configs(Some(&config.tracker_name))
                .await
                .unwrap();
            assert_eq!(exported.len(), 1, "{}", config.tracker_name);
            let text = serde_json::to_string(&exported).unwrap();
            let back = load_config_str(&text, ConfigFormat::Json)
                .unwrap()
                .remove(0);
            let back = back.unwrap_or_else(|e| panic!("{}: {e}\n{text}", config.tracker_name));
            assert_eq!(
                essence(&registry, &back),
                essence(&registry, &config),
                "{} ({})",
                config.tracker_name,
                factory.kind()
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked} records");
    host.close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn examples_round_trip_through_sqlite() {
    round_trip(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn examples_round_trip_through_postgres() {
    if let Some(db) = TestDb::server(POSTGRES_ENV).await {
        round_trip(db).await;
    }
}

#[tokio::test]
async fn examples_round_trip_through_mariadb() {
    if let Some(db) = TestDb::server(MYSQL_ENV).await {
        round_trip(db).await;
    }
}
