//! GitHub's `issues` events (`X-GitHub-Event: issues`), and which trackers a repository is.

use bugimporters_core::TrackerConfig;

use super::payload::{github_style_issue, same_name, Hint, IssueHint, Unreadable};

/// The `issues` actions that may change an imported record.
pub(crate) const ACTIONS: &[&str] = &[
    "opened",
    "edited",
    "labeled",
    "unlabeled",
    "assigned",
    "unassigned",
    "closed",
    "reopened",
    "deleted",
    "transferred",
];

/// Reads a delivery of the event `event` (the `X-GitHub-Event` header).
pub(crate) fn parse(event: &str, body: &[u8]) -> Result<Hint, Unreadable> {
    github_style_issue(event, body, ACTIONS)
}

/// Whether the GitHub tracker `config` reads the repository `hint` names
/// (`github_name/github_repo`, compared case-insensitively as GitHub does).
pub(crate) fn is_repository(config: &TrackerConfig, hint: &IssueHint) -> bool {
    let key = |k: &str| {
        config
            .extra
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
    };
    same_name(
        &format!(
            "{}/{}",
            key("github_name").trim(),
            key("github_repo").trim()
        ),
        &hint.repository,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_events() {
        let body = br#"{"action": "edited", "issue": {"number": 7, "title": "x"},
            "repository": {"full_name": "Owner/Repo", "html_url": "https://github.com/Owner/Repo"}}"#;
        let Hint::Issue(h) = parse("issues", body).unwrap() else {
            panic!()
        };
        assert_eq!(h.link, "https://github.com/Owner/Repo/issues/7");
        assert_eq!(h.event, "issues/edited");
        let mut c = TrackerConfig::new("t", "github");
        c.extra.insert("github_name".into(), "owner".into());
        c.extra.insert("github_repo".into(), "repo".into());
        assert!(is_repository(&c, &h));
        c.extra.insert("github_repo".into(), "other".into());
        assert!(!is_repository(&c, &h));
    }

    #[test]
    fn others_are_ignored() {
        let pr = br#"{"action": "opened", "issue": {"number": 7, "pull_request": {"url": "u"}},
            "repository": {"full_name": "o/r", "html_url": "https://github.com/o/r"}}"#;
        assert!(matches!(parse("issues", pr).unwrap(), Hint::Ignored(_)));
        assert!(matches!(
            parse("pull_request", pr).unwrap(),
            Hint::Ignored(_)
        ));
        assert!(matches!(
            parse("ping", b"{\"zen\": \"x\"}").unwrap(),
            Hint::Ignored(_)
        ));
        let pinned = br#"{"action": "pinned", "issue": {"number": 1}, "repository": {}}"#;
        assert!(matches!(parse("issues", pinned).unwrap(), Hint::Ignored(_)));
    }

    #[test]
    fn unreadable() {
        assert!(parse("issues", b"[1]").is_err());
        assert!(parse("issues", b"{not json").is_err());
        let no_repo = br#"{"action": "edited", "issue": {"number": 7}}"#;
        assert!(parse("issues", no_repo)
            .unwrap_err()
            .contains("repository.full_name"));
        let bad_url = br#"{"action": "edited", "issue": {"number": 7},
            "repository": {"full_name": "o/r", "html_url": "javascript:alert(1)"}}"#;
        assert!(parse("issues", bad_url).is_err());
    }
}
