//! The conformance suite (`bugimporters_testkit::suite`) on the GitHub importer.

use bugimporters_core::{Query, TrackerConfig};
use bugimporters_testkit::suite::link_paged::LinkPaged;
use bugimporters_testkit::suite::SuiteBug;
use serde_json::{json, Value};

const ISSUES: &str = "/repos/octo-org/hello-world/issues";

fn issue(b: &SuiteBug) -> Value {
    json!({
        "number": b.id, "html_url": b.link, "title": format!("issue {}", b.id), "body": "b",
        "state": "open", "user": {"login": "mona"}, "assignee": null, "comments": 0,
        "labels": [], "created_at": "2023-01-01T00:00:00Z", "updated_at": "2023-02-01T00:00:00Z"
    })
}

/// A configuration whose credentials are read from `credentials` (key, secret name).
fn config_with(base: &str, credentials: &[(&str, &str)]) -> TrackerConfig {
    let mut c = TrackerConfig::new("suite-github", "github");
    for (k, v) in [
        ("github_name", "octo-org"),
        ("github_repo", "hello-world"),
        ("api_url", base),
    ]
    .iter()
    .chain(credentials)
    {
        c.extra.insert((*k).to_owned(), json!(v));
    }
    c.queries = vec![Query::new(format!("{base}{ISSUES}?state=open"))];
    c
}

fn config(base: &str) -> TrackerConfig {
    config_with(base, &[("token_env", "SUITE_GITHUB_TOKEN")])
}

fn link(base: &str, id: u64) -> String {
    format!("{base}/octo-org/hello-world/issues/{id}")
}

/// An `api_url` that is not api.github.com is a GitHub Enterprise root: its web links are on
/// the same origin.
const GITHUB: LinkPaged = LinkPaged {
    kind: "github",
    register: bugimporters_github::register,
    config,
    secrets: &["SUITE_GITHUB_TOKEN"],
    issues: ISSUES,
    item: issue,
    link,
    since_param: "since",
    held_listing_param: None,
    since_stand_in: &[("sort", "updated"), ("direction", "desc")],
};

bugimporters_testkit::conformance_suite!(GITHUB);

/// The same with the original's basic authentication (a user name and a personal access
/// token) instead of a bearer token.
mod basic_auth {
    use bugimporters_core::TrackerConfig;
    use bugimporters_testkit::suite::link_paged::LinkPaged;

    fn config(base: &str) -> TrackerConfig {
        super::config_with(
            base,
            &[
                ("username_env", "SUITE_GITHUB_USER"),
                ("personal_access_token_env", "SUITE_GITHUB_PAT"),
            ],
        )
    }

    const GITHUB_BASIC: LinkPaged = LinkPaged {
        config,
        secrets: &["SUITE_GITHUB_USER", "SUITE_GITHUB_PAT"],
        ..super::GITHUB
    };

    bugimporters_testkit::conformance_suite!(GITHUB_BASIC);
}
