//! Command-line arguments.

use std::path::PathBuf;
use std::time::Duration;

use bugimporters_core::fetch::{FetchConfig, NetworkPolicy};

use clap::{Args, Parser, Subcommand};

/// Pull bugs out of public bug trackers and write them, normalised, as JSON lines.
#[derive(Debug, Parser)]
#[command(name = "bugimporters", version, about)]
pub struct Cli {
    /// Log format on standard error (`RUST_LOG` sets the level; default `info`).
    #[arg(long, global = true, value_parser = ["text", "json"], default_value = "text")]
    pub log_format: String,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Crawl every tracker of a configuration and write one ParsedBug JSON object per line.
    Crawl(CrawlArgs),
    /// Build every importer of a configuration without fetching anything.
    Check {
        /// The configuration (YAML or JSON; `-` for standard input).
        #[arg(short = 'i', long = "input")]
        input: PathBuf,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run saved responses through a tracker's parser, without a network.
    Parse(ParseArgs),
    /// Run the whole pipeline on a synthetic tracker and a SQLite host database.
    Demo(crate::demo::DemoArgs),
    /// Run the service: every tracker of the host database on its own refresh_interval,
    /// crawled and imported here, with /healthz and /metrics on --listen.
    Serve(crate::serve::ServeArgs),
    /// List the registered tracker types, aliases, custom parsers, config keys and formats.
    Trackers {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `crawl` arguments.
#[derive(Debug, Args)]
pub struct CrawlArgs {
    /// The configuration: a list of trackers or `{objects: [...]}` (YAML or JSON; `-` = stdin).
    #[arg(short = 'i', long = "input")]
    pub input: PathBuf,
    /// Output file (JSON lines; `-` = stdout). Written to OUT.partial and renamed when done.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Only this tracker (repeatable).
    #[arg(long = "tracker", value_name = "NAME")]
    pub trackers: Vec<String>,
    /// Handle only shard K of N (K from 0), split deterministically by tracker name.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<bugimporters_crawl::Shard>,
    /// Trackers crawled at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Politeness, limits, network policy and the per-tracker deadline.
    #[command(flatten)]
    pub fetch: FetchArgs,
    /// Store every response in DIR (index.jsonl + bodies/).
    #[arg(long, value_name = "DIR", conflicts_with = "replay")]
    pub record: Option<PathBuf>,
    /// Answer every request from DIR/index.jsonl; no network access.
    #[arg(long, value_name = "DIR")]
    pub replay: Option<PathBuf>,
    /// Use this time as `last_polled` (UTC), for reproducible output.
    #[arg(long, value_name = "TIMESTAMP")]
    pub now: Option<String>,
    /// Write the run report (JSON) here.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Fill raw_data where the tracker supports it (Roundup).
    #[arg(long)]
    pub extended_scrape: bool,
    /// Also write the fields a host built for the original lacks (`assigned`: somebody has
    /// taken the bug). Off by default, so that every line imports into such a host;
    /// `import-results` and `serve` read them.
    #[arg(long)]
    pub extended_fields: bool,
    /// Keep ETag/Last-Modified validators in FILE between runs (conditional requests).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Continue an interrupted crawl into the same OUT: trackers it finished (OUT.checkpoint)
    /// keep their records and are not fetched again; the others are crawled.
    #[arg(long)]
    pub resume: bool,
    /// Never draw a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// `parse` arguments.
#[derive(Debug, Args)]
pub struct ParseArgs {
    /// The tracker's configuration record (one mapping, or a list whose first record is used).
    #[arg(long, required_unless_present = "list_formats")]
    pub config: Option<PathBuf>,
    /// The response format (see --list-formats).
    #[arg(long, required_unless_present = "list_formats")]
    pub format: Option<String>,
    /// The URL the response was fetched from.
    #[arg(long)]
    pub url: Option<String>,
    /// Use this time as `last_polled` (UTC).
    #[arg(long, value_name = "TIMESTAMP")]
    pub now: Option<String>,
    /// Override the record's custom_parser.
    #[arg(long)]
    pub custom_parser: Option<String>,
    /// Fill raw_data where the tracker supports it.
    #[arg(long)]
    pub extended_scrape: bool,
    /// List the formats the registered trackers offer.
    #[arg(long)]
    pub list_formats: bool,
    /// The saved responses, in the order the format expects.
    pub files: Vec<PathBuf>,
}

/// The fetch layer's flags, the same for `crawl` and `serve`: politeness, retries, limits,
/// which networks may be reached, and how long one tracker's run may take.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Per-tracker deadline in seconds: a tracker still running is abandoned (its records so
    /// far kept, no deletions written, the reason in the report; `serve` records it as the
    /// run's failure and backs the tracker off).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub tracker_timeout: u64,
    /// Requests in flight per host.
    #[arg(long, default_value_t = 4)]
    pub per_host: usize,
    /// Seconds between the starts of two requests to one host.
    #[arg(long, default_value_t = 0.0)]
    pub delay: f64,
    /// Retries of a temporary failure (5xx, 429, timeouts, resets).
    #[arg(long, default_value_t = 4)]
    pub retries: u32,
    /// Longest wait honoured for Retry-After or a rate-limit reset, in seconds.
    #[arg(long, default_value_t = 300)]
    pub max_wait: u64,
    /// Timeout of one request attempt, body included, in seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Largest response body accepted, in MiB.
    #[arg(long, default_value_t = 64)]
    pub max_body_mib: u64,
    /// Low-speed limit in bytes/s (0 = off): an attempt bringing less than this over
    /// --speed-time seconds is aborted and retried as a temporary failure.
    #[arg(long, value_name = "BYTES_PER_S", default_value_t = 1024)]
    pub speed_limit: u64,
    /// Window of --speed-limit, in seconds (the response head must come within twice this).
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub speed_time: u64,
    /// Consecutive failed attempts to one host after which its remaining requests of the run
    /// fail fast (circuit breaker; 0 = off).
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub max_host_failures: u32,
    /// Allow requests to loopback, private and link-local addresses.
    #[arg(long)]
    pub allow_private_networks: bool,
    /// Allow one address range even if private, e.g. 127.0.0.0/8 (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub allow_network: Vec<ipnet::IpNet>,
    /// Read credentials (GITHUB_TOKEN, and the variables that token_env and its kin name) from
    /// this file of NAME=value lines first, then from the environment.
    #[arg(long, value_name = "FILE", env = "BUGIMPORTERS_SECRETS_FILE")]
    pub secrets_file: Option<std::path::PathBuf>,
}

impl FetchArgs {
    /// The secret source: `--secrets-file` then the environment, or the environment alone.
    pub fn secrets(
        &self,
    ) -> Result<std::sync::Arc<dyn bugimporters_core::secrets::SecretSource>, String> {
        bugimporters_core::secrets::from_file_then_env(self.secrets_file.as_deref())
            .map_err(|e| e.to_string())
    }

    /// `--tracker-timeout` (at least one second).
    pub fn tracker_timeout(&self) -> Duration {
        Duration::from_secs(self.tracker_timeout.max(1))
    }

    /// The fetch settings these flags give (record/replay are `crawl`'s own).
    pub fn fetch_config(&self) -> Result<FetchConfig, String> {
        if !(self.delay.is_finite() && self.delay >= 0.0) {
            return Err("--delay must be a non-negative number of seconds".to_owned());
        }
        let mut fetch = FetchConfig::default();
        fetch.per_host_limit = self.per_host.max(1);
        fetch.delay = Duration::from_secs_f64(self.delay);
        fetch.retries = self.retries;
        fetch.max_wait = Duration::from_secs(self.max_wait);
        fetch.timeout = Duration::from_secs(self.timeout.max(1));
        fetch.max_body_bytes = self.max_body_mib.saturating_mul(1024 * 1024);
        fetch.speed_limit = self.speed_limit;
        fetch.speed_time = Duration::from_secs(self.speed_time);
        fetch.breaker_threshold = self.max_host_failures;
        fetch.network = NetworkPolicy {
            allow_private: self.allow_private_networks,
            allowed: self.allow_network.clone(),
        };
        Ok(fetch)
    }
}
