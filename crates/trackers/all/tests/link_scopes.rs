//! Every built-in tracker type owns its canonical links and nothing of another tracker
//! (issue 13, point 1): the scopes `Registry::link_scope` gives the crawl and the host
//! database.

#![cfg(all(
    feature = "bugzilla",
    feature = "github",
    feature = "gitea",
    feature = "gitlab",
    feature = "pagure",
    feature = "jira",
    feature = "launchpad",
    feature = "roundup",
    feature = "trac",
    feature = "redmine",
    feature = "phabricator"
))]

use bugimporters_core::{load_config_str, ConfigFormat, TrackerConfig};

fn config(yaml: &str) -> TrackerConfig {
    load_config_str(yaml, ConfigFormat::Yaml)
        .unwrap()
        .remove(0)
        .unwrap()
}

/// `(record, links it owns, links it does not own)`.
const CASES: &[(&str, &[&str], &[&str])] = &[
    (
        "- {tracker_name: t, bugimporter: phabricator, base_url: 'https://phab.example/'}",
        &["https://phab.example/T123"],
        &["https://phab.example.evil/T123", "http://other.example/T1"],
    ),
    (
        "- {tracker_name: t, bugimporter: trac, base_url: 'http://legit.example/trac'}",
        &["http://legit.example/trac/ticket/7", "https://legit.example/trac/ticket/7"],
        &["http://legit.example/tracker/ticket/7", "http://legit.example/ticket/7"],
    ),
    (
        "- {tracker_name: t, bugimporter: roundup, base_url: 'https://bugs.python.org/'}",
        &["https://bugs.python.org/issue123"],
        &["https://bugs.python.org.evil/issue123", "https://python.org/issue1"],
    ),
    (
        "- {tracker_name: t, bugimporter: redmine, base_url: 'https://rm.example/sub/'}",
        &["https://rm.example/sub/issues/5"],
        &["https://rm.example/issues/5", "https://rm.example/subway/issues/5"],
    ),
    (
        "- {tracker_name: t, bugimporter: bugzilla, base_url: 'https://bugs.kde.org'}",
        &["https://bugs.kde.org/show_bug.cgi?id=42"],
        &["https://bugs.kde.org/buglist.cgi?id=42", "https://bugs.kde.org/show_bug.cgi.x?id=1"],
    ),
    (
        "- {tracker_name: t, bugimporter: jira, base_url: 'https://issues.example.org/jira/'}",
        &["https://issues.example.org/browse/MKY-1"],
        &["https://issues.example.org/jira/secure/MKY-1", "https://other.example/browse/MKY-1"],
    ),
    (
        "- {tracker_name: t, bugimporter: github, github_name: OpenHatch, github_repo: oh-bugimporters}",
        &[
            "https://github.com/openhatch/oh-bugimporters/issues/1",
            "https://github.com/OpenHatch/oh-bugimporters/pull/2",
        ],
        &[
            "https://github.com/openhatch/other/issues/1",
            "https://api.github.com/repos/openhatch/oh-bugimporters/issues/1",
            "http://legit.example/trac/ticket/7",
        ],
    ),
    (
        "- {tracker_name: t, bugimporter: github, github_name: o, github_repo: r, api_url: 'https://ghe.example/api/v3'}",
        &["https://ghe.example/o/r/issues/1"],
        &["https://github.com/o/r/issues/1", "https://ghe.example/api/v3/o/r/issues/1"],
    ),
    (
        "- {tracker_name: t, bugimporter: github, github_name: o, github_repo: r, api_url: 'http://127.0.0.1:9/gh'}",
        &["http://127.0.0.1:9/gh/o/r/issues/1"],
        &["http://127.0.0.1:9/o/r/issues/1", "http://127.0.0.1:8/gh/o/r/issues/1"],
    ),
    (
        "- {tracker_name: t, bugimporter: gitlab, project: g/p}",
        &["https://gitlab.com/g/p/-/issues/4", "https://gitlab.com/g/p/issues/4"],
        &["https://gitlab.com/g/other/-/issues/4", "https://gitlab.com/g/pp/-/issues/4"],
    ),
    (
        "- {tracker_name: t, bugimporter: gitea, base_url: 'https://git.example.org', project: o/r}",
        &["https://git.example.org/o/r/issues/12", "https://git.example.org/o/r/pulls/3"],
        &["https://codeberg.org/o/r/issues/12", "https://git.example.org/o/s/issues/1"],
    ),
    (
        "- {tracker_name: t, bugimporter: pagure, project: fedora-infra/ansible}",
        &["https://pagure.io/fedora-infra/ansible/issue/4"],
        &["https://pagure.io/fedora-infra/other/issue/4", "https://pagure.io/fedora-infra/ansible/pull-request/4"],
    ),
    (
        "- {tracker_name: t, bugimporter: launchpad, launchpad_name: bzr}",
        &["https://bugs.launchpad.net/bzr/+bug/839461"],
        &["https://bugs.launchpad.net/ubuntu/+bug/839461", "https://api.launchpad.net/1.0/bzr/+bug/1"],
    ),
    (
        "- {tracker_name: t, bugimporter: launchpad, launchpad_name: bzr, api_url: 'https://api.staging.launchpad.net/devel'}",
        &["https://bugs.launchpad.net/bzr/+bug/1", "https://bugs.staging.launchpad.net/bzr/+bug/1"],
        &["https://api.staging.launchpad.net/devel/bzr/+bug/1"],
    ),
];

#[test]
fn every_type_owns_its_links_and_no_other() {
    let registry = bugimporters_all::default_registry();
    for (record, owned, foreign) in CASES {
        let config = config(record);
        let scope = registry
            .link_scope(&config)
            .unwrap_or_else(|e| panic!("{record}: {e}"));
        for link in *owned {
            assert!(
                scope.owns(link),
                "{record}: should own {link} (scope {scope})"
            );
        }
        for link in *foreign {
            assert!(
                !scope.owns(link),
                "{record}: must not own {link} (scope {scope})"
            );
        }
        for script in ["javascript:alert(1)", "data:text/html,x"] {
            assert!(!scope.owns(script), "{record}");
        }
    }
}

#[test]
fn every_type_has_a_case() {
    let registry = bugimporters_all::default_registry();
    for factory in registry.factories() {
        let kind = factory.kind();
        assert!(
            CASES
                .iter()
                .any(|(r, _, _)| r.contains(&format!("bugimporter: {kind}"))),
            "no link-scope case for {kind}"
        );
    }
}
