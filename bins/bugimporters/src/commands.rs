//! Each subcommand: turn arguments into library calls.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{bail, Context};
use bugimporters_core::{time, ParseInput, ParseOutput};
use bugimporters_crawl::{CrawlOptions, JsonLinesWriter};

use crate::cli::{Command, CrawlArgs, ParseArgs};

const EXIT_FAILURES: u8 = 1;
const EXIT_UNUSABLE: u8 = 2;

pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    let registry = bugimporters_all::default_registry();
    match command {
        Command::Crawl(args) => crawl(&registry, args).await,
        Command::Check { input, json } => {
            let configs = match bugimporters_crawl::load_config_file(&input) {
                Ok(c) => c,
                Err(e) => return unusable(e),
            };
            let entries = bugimporters_crawl::check(&registry, &configs);
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &entries)?;
                writeln!(out)?;
            } else {
                for e in &entries {
                    match &e.error {
                        None => writeln!(
                            out,
                            "ok    {}  ({}{})",
                            e.tracker_name,
                            e.importer.as_deref().unwrap_or(""),
                            e.parser
                                .as_deref()
                                .map(|p| format!(", {p}"))
                                .unwrap_or_default()
                        )?,
                        Some(err) => writeln!(
                            out,
                            "FAIL  {}  {}",
                            e.tracker_name,
                            bugimporters_core::redact::scrub(&err.to_string())
                        )?,
                    }
                    if !e.unknown_keys.is_empty() {
                        writeln!(out, "      unknown keys: {}", e.unknown_keys.join(", "))?;
                    }
                }
            }
            Ok(if entries.iter().all(|e| e.ok) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILURES)
            })
        }
        Command::Parse(args) => parse(&registry, args),
        Command::Demo(args) => crate::demo::run(&registry, args).await,
        Command::Serve(args) => crate::serve::run(registry, args).await,
        Command::Trackers { json } => {
            let list = bugimporters_crawl::tracker_list(&registry);
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &list)?;
                writeln!(out)?;
            } else {
                for t in &list {
                    writeln!(out, "{}  {}", t.kind, t.description)?;
                    if !t.aliases.is_empty() {
                        writeln!(out, "  aliases: {}", t.aliases.join(", "))?;
                    }
                    if let Some(p) = &t.default_parser {
                        writeln!(out, "  default parser: {p}")?;
                    }
                    if !t.custom_parsers.is_empty() {
                        writeln!(out, "  custom parsers: {}", t.custom_parsers.join(", "))?;
                    }
                    if !t.parse_formats.is_empty() {
                        writeln!(out, "  parse formats: {}", t.parse_formats.join(", "))?;
                    }
                    let caps = &t.capabilities;
                    let auth: Vec<String> = caps
                        .auth
                        .iter()
                        .map(|a| format!("{a:?}").to_lowercase())
                        .collect();
                    writeln!(
                        out,
                        "  capabilities: {}; auth: {}",
                        caps.names().join(", "),
                        auth.join(", ")
                    )?;
                    for (name, required, desc) in &t.config_keys {
                        let req = if *required { " (required)" } else { "" };
                        writeln!(out, "  {name}{req}: {desc}")?;
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn unusable(e: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    bugimporters_core::redact::eprint_error(&e);
    Ok(ExitCode::from(EXIT_UNUSABLE))
}

fn parse_now(text: Option<&str>) -> anyhow::Result<Option<chrono::NaiveDateTime>> {
    text.map(|t| time::parse_datetime(t).with_context(|| format!("--now {t:?} is not a date")))
        .transpose()
}

async fn crawl(
    registry: &bugimporters_core::Registry,
    args: CrawlArgs,
) -> anyhow::Result<ExitCode> {
    let configs = match bugimporters_crawl::load_config_file(&args.input) {
        Ok(c) => c,
        Err(e) => return unusable(e),
    };
    let now = match parse_now(args.now.as_deref()) {
        Ok(n) => n,
        Err(e) => return unusable(e),
    };
    let mut fetch = match args.fetch.fetch_config() {
        Ok(f) => f,
        Err(e) => return unusable(e),
    };
    fetch.record_dir = args.record.clone();
    fetch.replay_dir = args.replay.clone();
    let secrets = match args.fetch.secrets() {
        Ok(s) => s,
        Err(e) => return unusable(e),
    };
    let mut options = CrawlOptions::default();
    options.secrets = secrets;
    options.concurrency = args.concurrency.max(1);
    options.fetch = fetch;
    options.now = now;
    options.extended_scrape = args.extended_scrape;
    options.only = args.trackers.clone();
    options.shard = args.shard.unwrap_or_default();
    options.progress = !args.no_progress && std::io::stderr().is_terminal();
    options.validators_file = args.state.clone();
    options.tracker_timeout = args.fetch.tracker_timeout();

    if let Some(name) = args.trackers.iter().find(|n| {
        !configs
            .iter()
            .any(|c| c.as_ref().is_ok_and(|c| &c.tracker_name == *n))
    }) {
        return unusable(format!(
            "--tracker {name:?}: no such tracker in {}",
            args.input.display()
        ));
    }
    let opened = if args.resume {
        JsonLinesWriter::resume(&args.output)
    } else {
        JsonLinesWriter::create(&args.output).map(|w| (w, Default::default()))
    };
    let writer = match opened {
        Ok((w, resume)) => {
            if w.lines() > 0 {
                tracing::info!(
                    finished = resume.finished.len(),
                    half_done = resume.written.len(),
                    kept = w.lines(),
                    "resuming: finished trackers are not crawled again, written bugs not fetched again"
                );
            }
            options.skip = resume.finished;
            options.resume_written = resume.written;
            if args.extended_fields {
                w
            } else {
                w.original_fields_only()
            }
        }
        Err(e) => return unusable(e),
    };
    let report = match bugimporters_crawl::run_crawl(registry, configs, options, writer).await {
        Ok(r) => r,
        Err(e) => return unusable(e),
    };
    if let Some(path) = &args.report {
        std::fs::write(path, report.to_json_pretty())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!(
        "{} trackers ({} failed), {} bugs written, {} errors, {} requests, {:.1} s",
        report.totals.trackers,
        report.totals.trackers_failed,
        report.totals.bugs_emitted,
        report.totals.errors,
        report.http_requests,
        report.duration_s
    );
    Ok(if report.has_failures() {
        ExitCode::from(EXIT_FAILURES)
    } else {
        ExitCode::SUCCESS
    })
}

fn parse(registry: &bugimporters_core::Registry, args: ParseArgs) -> anyhow::Result<ExitCode> {
    if args.list_formats {
        let mut out = std::io::stdout().lock();
        for f in registry.factories() {
            for pf in f.parse_formats() {
                writeln!(
                    out,
                    "{:28} {:10} FILES: {}  — {}",
                    pf.name,
                    f.kind(),
                    pf.files,
                    pf.description
                )?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(config_path), Some(format)) = (args.config.as_ref(), args.format.as_ref()) else {
        bail!("--config and --format are required");
    };
    let configs = match bugimporters_crawl::load_config_file(config_path) {
        Ok(c) => c,
        Err(e) => return unusable(e),
    };
    let config = match configs.into_iter().next() {
        Some(Ok(c)) => c,
        Some(Err(e)) => return unusable(e),
        None => return unusable(format!("{}: no tracker record", config_path.display())),
    };
    let now = match parse_now(args.now.as_deref()) {
        Ok(n) => n.unwrap_or_else(time::now_naive),
        Err(e) => return unusable(e),
    };
    if args.files.is_empty() {
        return unusable("no FILE given");
    }
    let mut files = Vec::new();
    for path in &args.files {
        let body = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        files.push((path.display().to_string(), bytes::Bytes::from(body)));
    }
    let input = ParseInput::new(
        files,
        args.url.clone(),
        bugimporters_crawl::parse_options(now, args.extended_scrape),
    );
    let output = match bugimporters_crawl::parse_files(
        registry,
        config,
        format,
        args.custom_parser.as_deref(),
        input,
    ) {
        Ok(o) => o,
        Err(e) => {
            bugimporters_core::redact::eprint_error(&e);
            return Ok(ExitCode::from(EXIT_FAILURES));
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match output {
        ParseOutput::Bugs(bugs) => {
            for b in bugs {
                writeln!(out, "{}", b.to_json_line())?;
            }
        }
        ParseOutput::BugUrls(urls) => {
            for u in urls {
                writeln!(out, "{u}")?;
            }
        }
        _ => bail!("unexpected parse output"),
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
