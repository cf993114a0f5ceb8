//! GitLab's issue events (`X-Gitlab-Event: Issue Hook`, `Confidential Issue Hook`), and which
//! trackers a project is.

use bugimporters_core::TrackerConfig;

use super::payload::{issue_link, number, object, same_name, text, Hint, IssueHint, Unreadable};

/// The issue actions that may change an imported record (GitLab sends no deletion).
pub(crate) const ACTIONS: &[&str] = &["open", "update", "close", "reopen"];

/// Reads a delivery of the event `event` (the `X-Gitlab-Event` header).
pub(crate) fn parse(event: &str, body: &[u8]) -> Result<Hint, Unreadable> {
    let v = object(body)?;
    let kind = text(&v, &["object_kind"]).unwrap_or_default();
    if !matches!(event, "Issue Hook" | "Confidential Issue Hook") || kind != "issue" {
        return Ok(Hint::Ignored(format!("{event} ({kind})")));
    }
    let action = text(&v, &["object_attributes", "action"]).unwrap_or_default();
    let event = format!("issue/{action}");
    if !ACTIONS.contains(&action) {
        return Ok(Hint::Ignored(event));
    }
    let repository = text(&v, &["project", "path_with_namespace"])
        .ok_or("no project.path_with_namespace")?
        .to_owned();
    let iid = number(&v, &["object_attributes", "iid"]).ok_or("no object_attributes.iid")?;
    let link = issue_link(
        text(&v, &["project", "web_url"]),
        "project.web_url",
        "-/issues/",
        iid,
    )?;
    Ok(Hint::Issue(IssueHint {
        event,
        repository,
        project_id: number(&v, &["project", "id"]),
        link,
    }))
}

/// Whether the GitLab tracker `config` reads the project `hint` names: its `project` key is
/// the path (case-insensitively) or the numeric id.
pub(crate) fn is_repository(config: &TrackerConfig, hint: &IssueHint) -> bool {
    let project = config
        .extra
        .get("project")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .trim()
        .trim_matches('/');
    if !project.is_empty() && project.bytes().all(|b| b.is_ascii_digit()) {
        return hint.project_id.is_some_and(|id| project.parse() == Ok(id));
    }
    !project.is_empty() && same_name(project, &hint.repository)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"object_kind": "issue", "event_type": "issue",
        "project": {"id": 15, "path_with_namespace": "group/sub/proj",
                    "web_url": "https://gitlab.example/group/sub/proj"},
        "object_attributes": {"iid": 23, "action": "update", "title": "t"}}"#;

    #[test]
    fn issue_events() {
        let Hint::Issue(h) = parse("Issue Hook", BODY).unwrap() else {
            panic!()
        };
        assert_eq!(h.link, "https://gitlab.example/group/sub/proj/-/issues/23");
        assert_eq!(h.project_id, Some(15));
        let mut c = TrackerConfig::new("t", "gitlab");
        c.extra.insert("project".into(), "Group/Sub/Proj".into());
        assert!(is_repository(&c, &h));
        c.extra.insert("project".into(), "15".into());
        assert!(is_repository(&c, &h));
        c.extra.insert("project".into(), "16".into());
        assert!(!is_repository(&c, &h));
        c.extra.insert("project".into(), "group/sub".into());
        assert!(!is_repository(&c, &h));
    }

    #[test]
    fn others_are_ignored() {
        assert!(matches!(
            parse("Merge Request Hook", BODY).unwrap(),
            Hint::Ignored(_)
        ));
        let mr = br#"{"object_kind": "merge_request", "object_attributes": {"iid": 1}}"#;
        assert!(matches!(parse("Issue Hook", mr).unwrap(), Hint::Ignored(_)));
        assert!(parse("Issue Hook", b"nope").is_err());
    }
}
