//! Parse throughput of each tracker's parser on responses from the synthetic server.

use std::time::{Duration, Instant};

use bugimporters_core::fetch::{FetchConfig, HttpClient, Request};
use bugimporters_core::{ImportOptions, ParseInput, ParseOutput, TrackerConfig};
use bugimporters_testkit::synthetic::{SyntheticConfig, SyntheticServer};

/// `bench parse` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seconds per format.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
}

struct Case {
    format: &'static str,
    kind: &'static str,
    urls: Vec<String>,
    url: String,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let server = SyntheticServer::start(SyntheticConfig {
        bugs: 200,
        ..SyntheticConfig::default()
    })
    .await?;
    let client = HttpClient::new(FetchConfig::for_loopback_tests())?;
    let ids: Vec<String> = (1..=50).map(|i| format!("id={i}")).collect();
    let cases = vec![
        Case {
            format: "trac-ticket",
            kind: "trac",
            urls: vec![
                format!("{}ticket/7?format=csv", server.trac_url()),
                format!("{}ticket/7", server.trac_url()),
            ],
            url: format!("{}ticket/7", server.trac_url()),
        },
        Case {
            format: "trac-query-csv",
            kind: "trac",
            urls: vec![format!(
                "{}query?format=csv&id=!0&col=id&col=summary&max=0",
                server.trac_url()
            )],
            url: format!("{}query", server.trac_url()),
        },
        Case {
            format: "bugzilla-xml",
            kind: "bugzilla",
            urls: vec![format!(
                "{}show_bug.cgi?ctype=xml&{}",
                server.bugzilla_url(),
                ids.join("&")
            )],
            url: format!("{}show_bug.cgi", server.bugzilla_url()),
        },
        Case {
            format: "github-issues-json",
            kind: "github",
            urls: vec![format!(
                "{}/repos/synthetic/repo/issues?state=all&per_page=100",
                server.github_api_url()
            )],
            url: format!("{}/repos/synthetic/repo/issues", server.github_api_url()),
        },
    ];
    let registry = bugimporters_all::default_registry();
    println!(
        "{:22} {:>10} {:>10} {:>12}",
        "format", "MB/s", "bugs/s", "bytes/input"
    );
    for case in cases {
        let Ok((factory, _)) = registry.parse_format(case.format) else {
            println!("{:22} (not registered)", case.format);
            continue;
        };
        let mut files = Vec::new();
        for u in &case.urls {
            let body = client.fetch(Request::get(u)?).await?.body;
            files.push((u.clone(), body));
        }
        let bytes: usize = files.iter().map(|f| f.1.len()).sum();
        let mut config = TrackerConfig::new("bench", case.kind);
        config.base_url = case
            .url
            .rsplit_once('/')
            .map(|(b, _)| format!("{b}/"))
            .unwrap_or_default();
        if case.kind == "trac" {
            config.base_url = server.trac_url();
        }
        config.bug_project_name_format = "{product}".to_owned();
        config
            .extra
            .insert("github_name".into(), "synthetic".into());
        config.extra.insert("github_repo".into(), "repo".into());
        let cx = registry.build_context(&config)?;
        let now = bugimporters_core::time::now_naive();
        let input = ParseInput::new(files, Some(case.url.clone()), ImportOptions::new(now));
        let (mut n, mut items) = (0u64, 0u64);
        let start = Instant::now();
        let budget = Duration::from_secs_f64(a.seconds);
        while start.elapsed() < budget {
            match factory.parse(&cx, case.format, &input) {
                Ok(ParseOutput::Bugs(b)) => items += b.len() as u64,
                Ok(ParseOutput::BugUrls(u)) => items += u.len() as u64,
                Ok(_) => {}
                Err(e) => anyhow::bail!("{}: {e}", case.format),
            }
            n += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{:22} {:>10.1} {:>10.0} {:>12}",
            case.format,
            (bytes as f64 * n as f64) / secs / 1e6,
            items as f64 / secs,
            bytes
        );
    }
    Ok(())
}
