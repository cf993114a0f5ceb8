//! `bench hostile`: the hostile crawl's wall time with default settings; `bench html-cost`:
//! time and peak RSS of hostile HTML pages up to the HTML size cap through the Trac ticket
//! parser (each case in its own process, so that each peak RSS is its own); `bench json-cost`:
//! the same for JSON bodies up to the fetch layer's body limit through the GitHub issue-list
//! parser.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use bugimporters_core::fetch::FetchConfig;
use bugimporters_core::parse::{json_values, HTML_MAX_BYTES, JSON_MAX_VALUES};
use bugimporters_core::{ImportOptions, ParseInput, ParseOutput, TrackerConfig};
use bugimporters_testkit::hostile::{pages, HostileCrawl};

/// `bench hostile` arguments.
#[derive(Debug, clap::Args)]
pub struct CrawlArgs {
    /// The crawler binary.
    #[arg(long, default_value = "target/release/bugimporters")]
    crawler: PathBuf,
}

/// Runs the hostile crawl of `bins/bugimporters/tests/hostile.rs` and prints its wall time.
pub async fn crawl(a: CrawlArgs) -> anyhow::Result<()> {
    let setup = HostileCrawl::start().await?;
    let dir = std::env::temp_dir().join(format!("bench-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("config.yaml"), &setup.config)?;
    let started = Instant::now();
    let status = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            Command::new(&a.crawler)
                .args([
                    "crawl",
                    "--no-progress",
                    "--allow-network",
                    "127.0.0.0/8",
                    "-i",
                ])
                .arg(dir.join("config.yaml"))
                .arg("-o")
                .arg(dir.join("out.jsonl"))
                .env("RUST_LOG", "error")
                .status()
        }
    })
    .await??;
    println!(
        "hostile crawl ({} hostile trackers + 1 healthy, default settings): {:.1} s, exit {:?}",
        setup.hostile.len(),
        started.elapsed().as_secs_f64(),
        status.code()
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// `bench html-cost` arguments.
#[derive(Debug, clap::Args)]
pub struct HtmlArgs {
    /// Run only this case, in this process (used by the parent run).
    #[arg(long)]
    case: Option<String>,
}

const CASES: &[&str] = &[
    "nested-div-1MB",
    "nested-div-cap",
    "paragraphs-cap",
    "anchors-cap",
    "br-499k",
    "div-depth-128-450k",
];

/// `bench json-cost` cases: bodies up to the fetch layer's default body limit through the
/// GitHub issue-list parser (what every JSON tracker does first: one `serde_json` parse of
/// the whole body).
const JSON_CASES: &[&str] = &[
    "json-issues-cap",
    "json-numbers-cap",
    "json-escapes-cap",
    "json-numbers-limit",
    "json-objects-limit",
    "json-issues-limit",
];

/// A JSON array of `item(i)` for i = 1, 2, … while the body stays within `max_bytes` and
/// [`JSON_MAX_VALUES`] values.
fn json_array(max_bytes: usize, item: impl Fn(u64) -> String) -> String {
    let mut body = String::from("[");
    let mut values = json_values(b"[");
    let mut i = 0u64;
    loop {
        i += 1;
        let it = item(i);
        let more = json_values(it.as_bytes()) - 1 + usize::from(i > 1);
        if body.len() + it.len() + 2 > max_bytes || values + more > JSON_MAX_VALUES {
            break;
        }
        if i > 1 {
            body.push(',');
        }
        body.push_str(&it);
        values += more;
    }
    body.push(']');
    body
}

fn issue(i: u64) -> String {
    format!(
        r#"{{"number":{i},"title":"bug {i}","state":"open","html_url":"https://github.com/o/r/issues/{i}","user":{{"login":"u"}},"labels":[{{"name":"easy"}}],"comments":0,"assignee":null,"created_at":"2020-01-01T00:00:00Z","updated_at":"2020-01-02T00:00:00Z","body":"b"}}"#
    )
}

/// The body limit of `FetchConfig::default()` (`--max-body-mib 64`).
fn json_cap() -> usize {
    usize::try_from(FetchConfig::default().max_body_bytes).unwrap_or(usize::MAX)
}

fn json_body(case: &str) -> String {
    let cap = json_cap() - 64;
    match case {
        // As many well-formed issues as fit: the most records a page can make (refused by
        // the value limit).
        "json-issues-cap" => {
            let mut body = String::from("[");
            let mut i = 0u64;
            loop {
                i += 1;
                let item = issue(i);
                if body.len() + item.len() + 2 > cap {
                    break;
                }
                if i > 1 {
                    body.push(',');
                }
                body.push_str(&item);
            }
            body.push(']');
            body
        }
        // The most values the limit admits, as numbers, as small objects and as issues.
        "json-numbers-limit" => json_array(cap, |_| "0".to_owned()),
        "json-objects-limit" => json_array(cap, |_| r#"{"a":0}"#.to_owned()),
        "json-issues-limit" => json_array(cap, issue),
        // The most JSON values per byte: the largest tree a body can make.
        "json-numbers-cap" => format!("[{}0]", "0,".repeat(cap / 2 - 1)),
        // One string of `\u00e9` escapes: the most decoding work per byte.
        _ => format!("[\"{}\"]", "\\u00e9".repeat(cap / 6 - 1)),
    }
}

fn page(case: &str) -> String {
    match case {
        "nested-div-1MB" => pages::nested_divs(1024 * 1024),
        "nested-div-cap" => pages::nested_divs(HTML_MAX_BYTES),
        "paragraphs-cap" => pages::paragraphs(HTML_MAX_BYTES),
        "anchors-cap" => pages::anchors(HTML_MAX_BYTES),
        "br-499k" => pages::line_breaks(499_000 * 4),
        // The costliest page the bounds admit: blocks of 128 nested, closed <div>, 450 000
        // elements in all.
        _ => format!("{}{}", "<div>".repeat(128), "</div>".repeat(128)).repeat(3515),
    }
}

/// Prints, per case, the page size, the outcome, the time and the peak RSS of the process.
pub fn html(a: HtmlArgs) -> anyhow::Result<()> {
    if let Some(case) = a.case {
        return run_case(&case);
    }
    println!(
        "{:20} {:>9} {:>9} {:>10}  outcome",
        "page", "bytes", "seconds", "peak RSS"
    );
    let me = std::env::current_exe()?;
    for case in CASES {
        let out = Command::new(&me)
            .args(["html-cost", "--case", case])
            .output()?;
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    Ok(())
}

/// Prints, per JSON case, the body size, the outcome, the time and the peak RSS of the
/// process (each case in its own process).
pub fn json(a: HtmlArgs) -> anyhow::Result<()> {
    if let Some(case) = a.case {
        return run_json_case(&case);
    }
    println!(
        "{:20} {:>9} {:>9} {:>10}  outcome",
        "body", "bytes", "seconds", "peak RSS"
    );
    let me = std::env::current_exe()?;
    for case in JSON_CASES {
        let out = Command::new(&me)
            .args(["json-cost", "--case", case])
            .output()?;
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    Ok(())
}

fn run_json_case(case: &str) -> anyhow::Result<()> {
    let body = json_body(case);
    let registry = bugimporters_all::default_registry();
    let (factory, _) = registry.parse_format("github-issues-json")?;
    let mut config = TrackerConfig::new("bench", "github");
    config.extra.insert("github_name".into(), "o".into());
    config.extra.insert("github_repo".into(), "r".into());
    let cx = registry.build_context(&config)?;
    let len = body.len();
    let files = vec![("page.json".to_owned(), bytes::Bytes::from(body))];
    let now = bugimporters_core::time::now_naive();
    let url = "https://api.github.com/repos/o/r/issues".to_owned();
    let input = ParseInput::new(files, Some(url), ImportOptions::new(now));
    let started = Instant::now();
    let outcome = match factory.parse(&cx, "github-issues-json", &input) {
        Ok(ParseOutput::Bugs(b)) => format!("parsed: {} bugs", b.len()),
        Ok(_) => "parsed".to_owned(),
        Err(e) => format!("refused: {}", e.inner()),
    };
    let secs = started.elapsed().as_secs_f64();
    let outcome: String = outcome.chars().take(90).collect();
    println!(
        "{case:20} {len:>9} {secs:>9.3} {:>7} MiB  {outcome}",
        peak_rss_kib() / 1024
    );
    Ok(())
}

fn run_case(case: &str) -> anyhow::Result<()> {
    let html = page(case);
    let registry = bugimporters_all::default_registry();
    let (factory, _) = registry.parse_format("trac-ticket")?;
    let mut config = TrackerConfig::new("bench", "trac");
    config.base_url = "http://trac.invalid/".to_owned();
    let cx = registry.build_context(&config)?;
    let csv = "id,summary,reporter,description,status\r\n1,s,me,d,new\r\n";
    let files = vec![
        ("ticket.csv".to_owned(), bytes::Bytes::from(csv)),
        ("ticket.html".to_owned(), bytes::Bytes::from(html.clone())),
    ];
    let now = bugimporters_core::time::now_naive();
    let url = "http://trac.invalid/ticket/1".to_owned();
    let input = ParseInput::new(files, Some(url), ImportOptions::new(now));
    let started = Instant::now();
    let outcome = match factory.parse(&cx, "trac-ticket", &input) {
        Ok(_) => "parsed".to_owned(),
        Err(e) => format!("refused: {}", e.inner()),
    };
    let secs = started.elapsed().as_secs_f64();
    let outcome: String = outcome.chars().take(90).collect();
    println!(
        "{case:20} {:>9} {secs:>9.3} {:>7} MiB  {outcome}",
        html.len(),
        peak_rss_kib() / 1024
    );
    Ok(())
}

/// Peak resident set of this process (`VmHWM`), in KiB; 0 where /proc is not available.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
