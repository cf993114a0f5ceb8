//! The conformance suite (`bugimporters_testkit::suite`) on the Gitea/Forgejo importer.

use bugimporters_core::{Query, TrackerConfig};
use bugimporters_testkit::suite::link_paged::LinkPaged;
use bugimporters_testkit::suite::SuiteBug;
use serde_json::{json, Value};

const ISSUES: &str = "/api/v1/repos/tinyorg/notes-app/issues";

fn issue(b: &SuiteBug) -> Value {
    json!({
        "number": b.id, "html_url": b.link, "title": format!("Item {}", b.id), "body": "",
        "user": {"login": "anon42", "full_name": ""}, "labels": [], "assignees": null,
        "state": "open", "comments": 0, "pull_request": null,
        "created_at": "2024-03-09T09:00:00+01:00", "updated_at": "2024-04-09T18:30:00+02:00"
    })
}

fn config(base: &str) -> TrackerConfig {
    let mut c = TrackerConfig::new("suite-gitea", "forgejo");
    c.base_url = base.to_owned();
    c.extra.insert("project".into(), json!("tinyorg/notes-app"));
    c.extra
        .insert("token_env".into(), json!("SUITE_GITEA_TOKEN"));
    c.queries = vec![Query::new(format!("{base}{ISSUES}?state=open"))];
    c
}

const GITEA: LinkPaged = LinkPaged {
    kind: "gitea",
    register: bugimporters_gitea::register,
    config,
    secrets: &["SUITE_GITEA_TOKEN"],
    issues: ISSUES,
    item: issue,
    link: |base, id| format!("{base}/tinyorg/notes-app/issues/{id}"),
    since_param: "since",
    held_listing_param: None,
    since_stand_in: &[],
};

bugimporters_testkit::conformance_suite!(GITEA);
