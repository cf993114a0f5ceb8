//! The conformance suite (`bugimporters_testkit::suite`) on the GitLab importer.

use bugimporters_core::{Query, TrackerConfig};
use bugimporters_testkit::suite::link_paged::LinkPaged;
use bugimporters_testkit::suite::SuiteBug;
use serde_json::{json, Value};

const ISSUES: &str = "/api/v4/projects/acme%2Fweb%2Ffrontend/issues";

fn issue(b: &SuiteBug) -> Value {
    json!({
        "iid": b.id, "web_url": b.link, "title": format!("Item {}", b.id), "description": "",
        "state": "opened", "labels": [], "assignees": [], "confidential": false,
        "author": {"username": "lvilla", "name": "Lucía Villa"}, "user_notes_count": 0,
        "created_at": "2023-11-20T09:15:02.417Z", "updated_at": "2024-03-01T17:40:11.000+01:00"
    })
}

fn config(base: &str) -> TrackerConfig {
    let mut c = TrackerConfig::new("suite-gitlab", "gitlab");
    c.base_url = base.to_owned();
    c.extra.insert("project".into(), json!("acme/web/frontend"));
    c.extra
        .insert("token_env".into(), json!("SUITE_GITLAB_TOKEN"));
    c.queries = vec![Query::new(format!("{base}{ISSUES}?state=open"))];
    c
}

/// Held issues are looked up in one listing by iid (`iids[]=`), then the unlisted ones alone.
const GITLAB: LinkPaged = LinkPaged {
    kind: "gitlab",
    register: bugimporters_gitlab::register,
    config,
    secrets: &["SUITE_GITLAB_TOKEN"],
    issues: ISSUES,
    item: issue,
    link: |base, id| format!("{base}/acme/web/frontend/-/issues/{id}"),
    since_param: "updated_after",
    held_listing_param: Some("iids[]"),
    since_stand_in: &[],
};

bugimporters_testkit::conformance_suite!(GITLAB);
