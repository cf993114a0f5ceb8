//! `bugimporters demo`: the whole pipeline on the embedded default, with nothing to install.
//!
//! A synthetic tracker (Trac, Bugzilla and GitHub protocols) starts on 127.0.0.1; its trackers
//! go into a SQLite host database (what `customs load` does), the crawl configuration comes
//! out of it (`export-config`), the crawler runs, and the results go back in
//! (`import-results`). A second cycle after the tracker changed some bugs, closed some and
//! deleted some shows the incremental path. Every file is kept in `--dir` for a look.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bugimporters_core::fetch::{FetchConfig, NetworkPolicy};
use bugimporters_core::{ConfigFormat, ParsedBug, Registry};
use bugimporters_crawl::{CrawlOptions, JsonLinesWriter};
use bugimporters_hostdb::{ExportFormat, HostDb, ImportOptions, ImportSource};
use bugimporters_testkit::synthetic::{SyntheticConfig, SyntheticServer};

/// `demo` arguments.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The host database (created if missing).
    #[arg(long, default_value = "sqlite://bugimporters-demo.db")]
    pub db: String,
    /// Where the config, output and report files go.
    #[arg(long, default_value = "bugimporters-demo")]
    pub dir: PathBuf,
    /// Bugs on the synthetic tracker.
    #[arg(long, default_value_t = 300)]
    pub bugs: usize,
    /// Port of the synthetic tracker. A fixed port keeps the database's bug links valid from
    /// one demo run to the next.
    #[arg(long, default_value_t = 28479)]
    pub port: u16,
}

fn trackers(server: &SyntheticServer, registry: &Registry) -> String {
    let mut yaml = String::new();
    if registry.factory("trac").is_ok() {
        yaml.push_str(&format!(
            "- tracker_name: Synthetic Trac\n  bugimporter: trac\n  base_url: {t}\n  bitesized_type: keywords\n  bitesized_text: easy\n  documentation_type: component\n  documentation_text: documentation\n  queries: ['{t}query?format=csv&status=!closed&col=id&col=summary&order=id&max=100&page=1']\n",
            t = server.trac_url()
        ));
    }
    if registry.factory("bugzilla").is_ok() {
        yaml.push_str(&format!(
            "- tracker_name: Synthetic Bugzilla\n  bugimporter: bugzilla\n  base_url: {b}\n  bug_project_name_format: 'Synthetic {{component}}'\n  bitesized_type: key\n  bitesized_text: easy\n  documentation_type: comp\n  documentation_text: documentation\n  queries: ['{b}buglist.cgi?keywords=easy']\n",
            b = server.bugzilla_url()
        ));
    }
    if registry.factory("github").is_ok() {
        yaml.push_str(&format!(
            "- tracker_name: Synthetic GitHub\n  bugimporter: github\n  github_name: synthetic\n  github_repo: repo\n  api_url: {g}\n  bitesized_tag: easy\n  documentation_tag: documentation\n  queries: ['{g}/repos/synthetic/repo/issues?state=all&per_page=100']\n",
            g = server.github_api_url()
        ));
    }
    yaml
}

async fn cycle(
    registry: &Registry,
    db: &HostDb,
    dir: &std::path::Path,
    round: u32,
) -> anyhow::Result<(
    bugimporters_crawl::RunReport,
    bugimporters_hostdb::ImportSummary,
)> {
    // export-config
    let exported = db.export_configs(None).await?;
    let yaml = bugimporters_hostdb::render_export(&exported, ExportFormat::Yaml)?;
    let config_path = dir.join(format!("config-{round}.yaml"));
    std::fs::write(&config_path, &yaml)?;
    let configs = bugimporters_core::load_config_str(&yaml, ConfigFormat::Yaml)?;

    // crawl (the synthetic tracker lives on loopback: allow just that range)
    let mut options = CrawlOptions::default();
    let mut fetch = FetchConfig::default();
    fetch.network = NetworkPolicy::allowing(["127.0.0.0/8".parse()?]);
    options.fetch = fetch;
    let out_path = dir.join(format!("bugs-{round}.jsonl"));
    let report = bugimporters_crawl::run_crawl(
        registry,
        configs,
        options,
        JsonLinesWriter::create(&out_path)?,
    )
    .await?;
    std::fs::write(
        dir.join(format!("report-{round}.json")),
        serde_json::to_string_pretty(&report)?,
    )?;

    // import-results
    let summary = db
        .import(
            vec![ImportSource::path(&out_path)],
            &ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry())),
        )
        .await?;
    println!(
        "  round {round}: {} bugs crawled with {} requests in {:.2} s; imported {} new, {} updated, {} unchanged, {} deleted, {} rejected",
        report.totals.bugs_emitted,
        report.http_requests,
        report.duration_s,
        summary.inserted,
        summary.updated,
        summary.unchanged,
        summary.deleted,
        summary.rejected
    );
    println!(
        "           files: {}, {}, report-{round}.json",
        config_path.display(),
        out_path.display()
    );
    Ok((report, summary))
}

pub async fn run(registry: &Registry, a: DemoArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&a.dir).with_context(|| format!("creating {}", a.dir.display()))?;
    let server = SyntheticServer::start_on(
        SyntheticConfig {
            bugs: a.bugs,
            ..SyntheticConfig::default()
        },
        a.port,
    )
    .await
    .with_context(|| {
        format!(
            "starting the synthetic tracker on 127.0.0.1:{} (choose another with --port)",
            a.port
        )
    })?;
    println!(
        "A synthetic tracker with {} bugs is serving on {}",
        a.bugs,
        server.base_url()
    );

    let db = HostDb::connect(&a.db).await?;
    // customs load: the trackers into the host database.
    let configs =
        bugimporters_core::load_config_str(&trackers(&server, registry), ConfigFormat::Yaml)?;
    for config in configs.into_iter().flatten() {
        db.load_config(registry, &config).await?;
        println!(
            "  tracker {:?} ({}) loaded into {}",
            config.tracker_name,
            config.bugimporter,
            bugimporters_hostdb::redact_url(&a.db)
        );
    }

    let (report, summary1) = cycle(registry, &db, &a.dir, 1).await?;
    let rejected1 = summary1.rejected;

    // The tracker moves on: some bugs edited, some closed, some deleted.
    // Changes happen now, after the first crawl, as on a live tracker (the generated history
    // ends in the past): incremental refreshes must see them.
    let last_change = server
        .bugs()
        .iter()
        .map(|b| b.modified)
        .max()
        .unwrap_or_default();
    let later =
        bugimporters_core::time::now_naive().max(last_change) + chrono::TimeDelta::seconds(1);
    let touched = server.touch(5, 3, later);
    let closed = server.close(3, 5, later);
    let deleted = server.delete(2, 7);
    println!(
        "The tracker changed: bugs {touched:?} edited, {closed:?} closed, {deleted:?} deleted"
    );
    let (report2, summary2) = cycle(registry, &db, &a.dir, 2).await?;
    let rejected2 = summary2.rejected;

    println!("\nThe second crawl, per tracker:");
    for t in &report2.trackers {
        println!(
            "  {:20} {:4} records ({} unchanged, {} deleted), {} requests",
            t.tracker_name, t.bugs_emitted, t.no_update, t.deleted, t.requests
        );
        for e in &t.errors {
            println!("      reported: {}", e.reason);
        }
    }
    let text = std::fs::read_to_string(a.dir.join("bugs-1.jsonl"))?;
    let bugs: Vec<ParsedBug> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let mut per_project: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for b in &bugs {
        let e = per_project
            .entry(b.project_name.clone().unwrap_or_default())
            .or_default();
        e.0 += 1;
        e.1 += u64::from(b.good_for_newcomers == Some(true));
    }
    println!("\nWhat landed in the host database, per project (bugs, of which bite-sized):");
    for (project, (n, easy)) in &per_project {
        println!("  {project:30} {n:5} {easy:5}");
    }
    println!("\nA few bite-sized bugs:");
    for b in bugs
        .iter()
        .filter(|b| b.good_for_newcomers == Some(true) && b.looks_closed == Some(false))
        .take(5)
    {
        println!(
            "  {}  {}",
            b.canonical_bug_link,
            b.title.as_deref().unwrap_or("")
        );
    }
    println!(
        "\nThe host database is {}; run again to crawl again.",
        bugimporters_hostdb::redact_url(&a.db)
    );
    // The pipeline worked if every tracker delivered and every record went in. Errors the
    // trackers reported are shown above (a Bugzilla NotFound on a held bug is a deletion now,
    // on a bug the host does not hold it writes nothing).
    let delivered = report.trackers.iter().all(|t| t.bugs_emitted > 0)
        && report2.trackers.iter().all(|t| t.bugs_emitted > 0);
    let imported = rejected1 == 0 && rejected2 == 0;
    Ok(if delivered && imported {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
