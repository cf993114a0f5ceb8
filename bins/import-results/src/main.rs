//! `import-results`: import crawl results (JSON lines, a JSON array or YAML; `-` for standard
//! input) into the host database. Exit status: 0 clean, 1 some records rejected (each is
//! reported as FILE:LINE: reason), 2 an input or the database is unusable.
//! See `docs/host-database.md`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bugimporters_hostdb::{HostDb, ImportOptions, ImportSource, InputFormat, DEFAULT_DATABASE_URL};
use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Auto,
    Jsonl,
    Json,
    Yaml,
}

/// Import crawl results into the host database (upsert by canonical_bug_link).
#[derive(Debug, Parser)]
#[command(name = "import-results", version, about)]
struct Cli {
    /// Database URL: sqlite://FILE (created when missing), postgres://..., mysql://...
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    db: String,
    /// Input syntax (default: from the file name, else from the first character).
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    /// Records per transaction.
    #[arg(long, default_value_t = 5000)]
    batch_size: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Result files (`-` for standard input).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    bugimporters_core::log::LogSetup::new("warn")
        .show_target(false)
        .init();
    match tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")
        .and_then(|rt| rt.block_on(run(cli)))
    {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            bugimporters_core::redact::eprint_error(format_args!("{e:#}"));
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    let db = HostDb::connect(&cli.db).await?;
    // The tracker types tell which links each tracker owns: records for other links are
    // rejected (files are imported from anywhere).
    let mut options = ImportOptions::new(std::sync::Arc::new(bugimporters_all::default_registry()));
    options.batch_size = cli.batch_size;
    options.format = match cli.format {
        Format::Auto => InputFormat::Auto,
        Format::Jsonl => InputFormat::JsonLines,
        Format::Json => InputFormat::JsonArray,
        Format::Yaml => InputFormat::Yaml,
    };
    let sources = cli.files.into_iter().map(ImportSource::path).collect();
    let summary = db.import(sources, &options).await;
    db.close().await;
    let summary = summary?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&summary.to_json())?);
    } else {
        println!("{}", summary.line());
    }
    Ok(summary.exit_code())
}
