//! Gitea's and Forgejo's issue events (`X-Gitea-Event` / `X-Forgejo-Event: issues`), and
//! which trackers a repository is.

use bugimporters_core::TrackerConfig;

use super::payload::{github_style_issue, same_name, Hint, IssueHint, Unreadable};

/// The issue actions that may change an imported record.
pub(crate) const ACTIONS: &[&str] = &[
    "opened",
    "edited",
    "closed",
    "reopened",
    "assigned",
    "unassigned",
    "label_updated",
    "label_cleared",
    "deleted",
];

/// Reads a delivery of the event `event` (the `X-Forgejo-Event` or `X-Gitea-Event` header).
pub(crate) fn parse(event: &str, body: &[u8]) -> Result<Hint, Unreadable> {
    github_style_issue(event, body, ACTIONS)
}

/// Whether the Gitea tracker `config` reads the repository `hint` names (its `project` key,
/// `owner/repo`, compared case-insensitively).
pub(crate) fn is_repository(config: &TrackerConfig, hint: &IssueHint) -> bool {
    let project = config
        .extra
        .get("project")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    !project.trim().is_empty() && same_name(project, &hint.repository)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_events() {
        let body = br#"{"action": "label_updated", "number": 4, "issue": {"number": 4, "pull_request": null},
            "repository": {"full_name": "forgejo/forgejo", "html_url": "https://codeberg.org/forgejo/forgejo"}}"#;
        let Hint::Issue(h) = parse("issues", body).unwrap() else {
            panic!()
        };
        assert_eq!(h.link, "https://codeberg.org/forgejo/forgejo/issues/4");
        let mut c = TrackerConfig::new("t", "gitea");
        c.extra.insert("project".into(), "Forgejo/Forgejo".into());
        assert!(is_repository(&c, &h));
        c.extra.insert("project".into(), "forgejo/other".into());
        assert!(!is_repository(&c, &h));
    }

    #[test]
    fn others_are_ignored() {
        let pr =
            br#"{"action": "opened", "issue": {"number": 4, "pull_request": {"merged": false}},
            "repository": {"full_name": "o/r", "html_url": "https://codeberg.org/o/r"}}"#;
        assert!(matches!(parse("issues", pr).unwrap(), Hint::Ignored(_)));
        assert!(matches!(
            parse("pull_request", pr).unwrap(),
            Hint::Ignored(_)
        ));
        assert!(matches!(parse("push", b"{}").unwrap(), Hint::Ignored(_)));
    }
}
