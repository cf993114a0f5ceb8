//! `export-config`: write the crawl configuration from the host database (YAML by default,
//! `--format json`), for every tracker or `--tracker NAME`. Exit status: 0 written, 2 error
//! (unknown tracker, unusable database). See `docs/host-database.md`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bugimporters_hostdb::{
    render_export, ExportFilter, ExportFormat, HostDb, DEFAULT_DATABASE_URL,
};
use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Yaml,
    Json,
}

/// Write the crawl configuration (the original host's format) from the host database.
#[derive(Debug, Parser)]
#[command(name = "export-config", version, about)]
struct Cli {
    /// Database URL: sqlite://FILE (created when missing), postgres://..., mysql://...
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    db: String,
    /// Output syntax.
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    format: Format,
    /// Only this tracker.
    #[arg(long, value_name = "NAME")]
    tracker: Option<String>,
    /// Only trackers of this type (`github`, `trac.TracBugImporter`, ...).
    #[arg(long = "type", value_name = "TYPE")]
    kind: Option<String>,
    /// Skip trackers whose bugs were all polled in the last N hours (the original's
    /// `just_stale=yes` is 24).
    #[arg(long, value_name = "HOURS")]
    stale_hours: Option<u32>,
    /// Write to this file instead of standard output.
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    bugimporters_core::log::LogSetup::new("warn").init();
    match tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")
        .and_then(|rt| rt.block_on(run(cli)))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            bugimporters_core::redact::eprint_error(format_args!("{e:#}"));
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let db = HostDb::connect(&cli.db).await?;
    let mut filter = ExportFilter::default();
    filter.tracker = cli.tracker;
    if let Some(kind) = cli.kind {
        let registry = bugimporters_all::default_registry();
        filter.kind = Some(registry.canonical_kind(&kind).map_or(kind, str::to_owned));
    }
    filter.skip_polled_within = cli.stale_hours.map(|h| chrono::TimeDelta::hours(h.into()));
    let records = db.export_filtered(&filter).await;
    db.close().await;
    let format = match cli.format {
        Format::Yaml => ExportFormat::Yaml,
        Format::Json => ExportFormat::Json,
    };
    let text = render_export(&records?, format)?;
    match cli.output {
        Some(path) => std::fs::write(&path, text).with_context(|| path.display().to_string())?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(())
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
