//! The fault suite: one crawl with a healthy tracker beside trackers whose servers misbehave in
//! every way we know. For each fault: no panic, the failure is reported with tracker, URL and
//! reason, every healthy tracker's bugs are still written, and the exit status says something
//! failed. Traffic goes to 127.0.0.1 only; refusals of other addresses happen before any
//! connection.

mod common;

use std::time::Duration;

use bugimporters_testkit::synthetic::{Faults, SyntheticConfig, SyntheticServer};
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, ResponseTemplate};

use common::crawl;

/// Issues whose pages live on the tracker's own (Enterprise) web root, `{web}/o/r/issues/N`.
fn issues_json(web: &str, n: u32) -> String {
    let items: Vec<String> = (1..=n)
        .map(|i| {
            format!(
                r#"{{"number": {i}, "title": "bug {i}", "state": "open", "html_url": "{web}/o/r/issues/{i}",
                    "user": {{"login": "u"}}, "labels": [], "comments": 0, "assignee": null,
                    "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-02T00:00:00Z", "body": "b"}}"#
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// A GitHub tracker record whose API lives under `api`.
fn tracker(name: &str, api: &str) -> String {
    format!(
        "- tracker_name: {name}\n  bugimporter: github\n  github_name: o\n  github_repo: r\n  api_url: {api}\n  queries: ['{api}/repos/o/r/issues?state=open']\n"
    )
}

async fn mount(server: &MockServer, prefix: &str, template: ResponseTemplate, times: Option<u64>) {
    let m = Mock::given(path_regex(format!("^/{prefix}/")));
    let m = m.respond_with(template);
    match times {
        Some(n) => m.up_to_n_times(n).mount(server).await,
        None => m.mount(server).await,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fault_is_reported_and_healthy_trackers_are_written() {
    let server = MockServer::start().await;
    let ok = |prefix: &str| {
        ResponseTemplate::new(200).set_body_raw(
            issues_json(&format!("{}/{prefix}", server.uri()), 3),
            "application/json",
        )
    };
    // Healthy, and recoveries the fetch layer must absorb.
    mount(&server, "healthy", ok("healthy"), None).await;
    mount(&server, "recovers-503", ResponseTemplate::new(503), Some(2)).await;
    mount(&server, "recovers-503", ok("recovers-503"), None).await;
    mount(
        &server,
        "recovers-429",
        ResponseTemplate::new(429).insert_header("Retry-After", "1"),
        Some(1),
    )
    .await;
    mount(&server, "recovers-429", ok("recovers-429"), None).await;
    // Failures.
    mount(&server, "burst-500", ResponseTemplate::new(500), None).await;
    mount(&server, "burst-502", ResponseTemplate::new(502), None).await;
    mount(
        &server,
        "no-retry-after-429",
        ResponseTemplate::new(429),
        None,
    )
    .await;
    mount(
        &server,
        "too-large",
        ResponseTemplate::new(200).set_body_raw(vec![b' '; 2 * 1024 * 1024], "application/json"),
        None,
    )
    .await;
    mount(
        &server,
        "redirect-loop",
        ResponseTemplate::new(302).insert_header(
            "Location",
            "/redirect-loop/api/v3/repos/o/r/issues?state=open",
        ),
        None,
    )
    .await;
    mount(
        &server,
        "redirect-private",
        ResponseTemplate::new(302).insert_header("Location", "http://10.20.30.40/x"),
        None,
    )
    .await;
    mount(
        &server,
        "redirect-metadata",
        ResponseTemplate::new(301)
            .insert_header("Location", "http://169.254.169.254/latest/meta-data/"),
        None,
    )
    .await;
    mount(
        &server,
        "wrong-type",
        ResponseTemplate::new(200)
            .set_body_raw("<html><body>maintenance</body></html>", "text/html"),
        None,
    )
    .await;
    mount(
        &server,
        "invalid-utf8",
        ResponseTemplate::new(200).set_body_raw(vec![0xff, 0xfe, b'[', 0xc3], "application/json"),
        None,
    )
    .await;
    mount(
        &server,
        "malformed-json",
        ResponseTemplate::new(200).set_body_raw("[{\"number\": 1,", "application/json"),
        None,
    )
    .await;
    mount(&server, "empty-200", ResponseTemplate::new(200), None).await;
    mount(
        &server,
        "timeout",
        ok("timeout").set_delay(Duration::from_secs(5)),
        None,
    )
    .await;

    // Resets, cut bodies and slow bodies come from the synthetic server's fault injection.
    let truncating = SyntheticServer::start(SyntheticConfig {
        bugs: 3,
        faults: Faults {
            truncated: 1.0,
            ..Faults::default()
        },
        ..SyntheticConfig::default()
    })
    .await
    .unwrap();
    let resetting = SyntheticServer::start(SyntheticConfig {
        bugs: 3,
        faults: Faults {
            reset: 1.0,
            ..Faults::default()
        },
        ..SyntheticConfig::default()
    })
    .await
    .unwrap();
    let slow = SyntheticServer::start(SyntheticConfig {
        bugs: 3,
        faults: Faults {
            slow: 1.0,
            ..Faults::default()
        },
        ..SyntheticConfig::default()
    })
    .await
    .unwrap();

    let healthy = ["healthy", "recovers-503", "recovers-429"];
    let failing = [
        "burst-500",
        "burst-502",
        "no-retry-after-429",
        "too-large",
        "redirect-loop",
        "redirect-private",
        "redirect-metadata",
        "wrong-type",
        "invalid-utf8",
        "malformed-json",
        "empty-200",
        "timeout",
    ];
    let mut config = String::new();
    for name in healthy.iter().chain(&failing) {
        config.push_str(&tracker(name, &format!("{}/{name}/api/v3", server.uri())));
    }
    config.push_str(&tracker("truncated", &truncating.github_api_url()));
    config.push_str(&tracker("reset", &resetting.github_api_url()));
    config.push_str(&tracker("slow-body", &slow.github_api_url()));

    let run = crawl(
        &config,
        &["--retries", "2", "--timeout", "1", "--max-body-mib", "1"],
    )
    .await;
    let stderr = &run.stderr;
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(run.code, Some(1), "{stderr}");
    let output = &run.output;
    let by_name = |n: &str| run.tracker(n).clone();
    for name in healthy.iter().chain(&["slow-body"]) {
        let t = by_name(name);
        assert_eq!(t["ok"], true, "{name}: {t}");
        assert_eq!(t["bugs_emitted"], 3, "{name}: {t}");
    }
    for name in healthy {
        for i in 1..=3 {
            assert!(
                output.contains(&format!("{}/{name}/o/r/issues/{i}\"", server.uri())),
                "{name} bug {i}"
            );
        }
    }
    for name in failing.iter().chain(&["truncated", "reset"]) {
        let t = by_name(name);
        assert_eq!(t["ok"], false, "{name} should have failed: {t}");
        let errors = t["errors"].as_array().unwrap();
        assert!(!errors.is_empty(), "{name}");
        let e = &errors[0];
        assert!(
            e["url"].as_str().is_some_and(|u| u.starts_with("http")),
            "{name}: no URL in {e}"
        );
        assert!(
            e["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{name}: no reason"
        );
    }
    let reason = |n: &str| {
        by_name(n)["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        reason("redirect-private").contains("refused"),
        "{}",
        reason("redirect-private")
    );
    assert!(
        reason("redirect-metadata").contains("link-local"),
        "{}",
        reason("redirect-metadata")
    );
    assert!(
        reason("too-large").contains("larger than"),
        "{}",
        reason("too-large")
    );
    assert!(
        reason("redirect-loop").contains("redirects"),
        "{}",
        reason("redirect-loop")
    );
    assert!(reason("burst-500").contains("500"));
    // Every line of the output is a whole JSON record.
    for line in output.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("whole records only");
    }
}
