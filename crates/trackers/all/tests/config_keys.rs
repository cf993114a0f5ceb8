//! Each tracker type's documented keys are the keys its options struct reads (issue 17,
//! point 4): `bugimporters trackers`, `customs` and the web forms list `config_keys()`, and
//! serde reads the options struct, so a key added to one and not the other fails here. A type
//! may also list a common key it gives a meaning of its own (Roundup's `bitesized_text`).

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

use std::collections::BTreeSet;

use bugimporters_core::forge::ForgeOptions;
use bugimporters_testkit::serde_fields::struct_fields;

/// `(type, the fields its options structs read)`: the forge types (GitHub, Gitea, GitLab,
/// Pagure) read the common forge keys with [`ForgeOptions`] besides their own struct.
fn option_fields() -> Vec<(&'static str, Vec<&'static str>)> {
    let read =
        |fields: Option<&'static [&'static str]>| fields.expect("an options struct").to_vec();
    let forge = |fields: Option<&'static [&'static str]>| {
        let mut all = read(fields);
        all.extend(read(struct_fields::<ForgeOptions>()));
        all
    };
    vec![
        (
            "bugzilla",
            read(struct_fields::<bugimporters_bugzilla::BugzillaOptions>()),
        ),
        (
            "github",
            forge(struct_fields::<bugimporters_github::GitHubOptions>()),
        ),
        (
            "gitea",
            forge(struct_fields::<bugimporters_gitea::GiteaOptions>()),
        ),
        (
            "gitlab",
            forge(struct_fields::<bugimporters_gitlab::config::GitLabOptions>()),
        ),
        (
            "pagure",
            forge(struct_fields::<bugimporters_pagure::config::PagureOptions>()),
        ),
        (
            "jira",
            read(struct_fields::<bugimporters_jira::config::JiraOptions>()),
        ),
        (
            "launchpad",
            read(struct_fields::<
                bugimporters_launchpad::config::LaunchpadOptions,
            >()),
        ),
        (
            "roundup",
            read(struct_fields::<bugimporters_roundup::config::RoundupOptions>()),
        ),
        (
            "trac",
            read(struct_fields::<bugimporters_trac::config::TracOptions>()),
        ),
        (
            "redmine",
            read(struct_fields::<bugimporters_redmine::config::RedmineOptions>()),
        ),
        (
            "phabricator",
            read(struct_fields::<bugimporters_phabricator::PhabricatorOptions>()),
        ),
    ]
}

#[test]
fn every_types_config_keys_are_its_options_fields() {
    let registry = bugimporters_all::default_registry();
    let table = option_fields();
    assert_eq!(
        table.len(),
        registry.factories().count(),
        "a registered type has no row here"
    );
    let mut mismatches = Vec::new();
    for (kind, fields) in table {
        let listed: BTreeSet<&str> = registry
            .factory(kind)
            .unwrap()
            .config_keys()
            .iter()
            .map(|k| k.name)
            .collect();
        let read: BTreeSet<&str> = fields.iter().copied().collect();
        let undocumented: Vec<_> = read.difference(&listed).collect();
        let unread: Vec<_> = listed
            .difference(&read)
            .filter(|k| !bugimporters_core::COMMON_KEYS.contains(k))
            .collect();
        if !undocumented.is_empty() || !unread.is_empty() {
            mismatches.push(format!(
                "{kind}: read but not in config_keys: {undocumented:?}; \
                 in config_keys but not read: {unread:?}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
