//! What a hook's payload says, once read: an issue to refresh, or something ignored.

use serde_json::Value;

/// What a verified delivery asks for. A hint only: the issue is read from the tracker's API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hint {
    /// An event on an issue: refresh it.
    Issue(IssueHint),
    /// Not an issue event of interest (a pull request, a push, a ping, an issue action that
    /// changes nothing imported): counted, nothing else. The text says what it was.
    Ignored(String),
}

/// An issue event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IssueHint {
    /// `event/action` (`issues/edited`), for the delivery's row and the logs.
    pub event: String,
    /// The repository as the forge names it (`owner/repo`, GitLab's `group/sub/project`).
    pub repository: String,
    /// GitLab's numeric project id (a tracker may be configured by id).
    pub project_id: Option<u64>,
    /// The issue's page: `{repository web URL}/issues/N` (GitLab `…/-/issues/N`), an
    /// absolute http(s) URL.
    pub link: String,
}

/// Why a payload cannot be read (a 400; the text names the field, never a value).
pub(crate) type Unreadable = String;

/// The JSON object of a payload.
pub(crate) fn object(body: &[u8]) -> Result<serde_json::Map<String, Value>, Unreadable> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("the payload is not a JSON object".to_owned()),
        Err(e) => Err(format!("the payload is not JSON: {e}")),
    }
}

/// The string at `path` (`["repository", "full_name"]`).
pub(crate) fn text<'a>(v: &'a serde_json::Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    let (last, head) = path.split_last()?;
    let mut m = v;
    for k in head {
        m = m.get(*k)?.as_object()?;
    }
    m.get(*last)?.as_str()
}

/// The unsigned number at `path`.
pub(crate) fn number(v: &serde_json::Map<String, Value>, path: &[&str]) -> Option<u64> {
    let (last, head) = path.split_last()?;
    let mut m = v;
    for k in head {
        m = m.get(*k)?.as_object()?;
    }
    m.get(*last)?.as_u64()
}

/// `{web}/{tail}{n}` when `web` is an absolute http(s) URL without query, fragment or
/// userinfo (the forge's page of the repository), else an error naming the field.
pub(crate) fn issue_link(
    web: Option<&str>,
    field: &str,
    tail: &str,
    n: u64,
) -> Result<String, Unreadable> {
    let web = web.ok_or_else(|| format!("no {field}"))?;
    let url = url::Url::parse(web).map_err(|_| format!("{field} is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(format!("{field} is not a plain http(s) URL"));
    }
    Ok(format!("{}/{tail}{n}", web.trim_end_matches('/')))
}

/// Whether two repository names are the same (forges compare them case-insensitively).
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    a.trim()
        .trim_matches('/')
        .eq_ignore_ascii_case(b.trim().trim_matches('/'))
}

/// Reads an `issues` delivery in the shape GitHub, Gitea and Forgejo share: `action`,
/// `issue.number` (an issue with a non-null `issue.pull_request` is a pull request: ignored),
/// `repository.full_name` and `repository.html_url`. Events other than `issues`, and actions
/// not in `actions`, are ignored.
pub(crate) fn github_style_issue(
    event: &str,
    body: &[u8],
    actions: &[&str],
) -> Result<Hint, Unreadable> {
    let v = object(body)?;
    if event != "issues" {
        return Ok(Hint::Ignored(event.to_owned()));
    }
    let action = text(&v, &["action"]).unwrap_or_default();
    let event = format!("issues/{action}");
    if !actions.contains(&action) {
        return Ok(Hint::Ignored(event));
    }
    // The issues API lists pull requests too; an `issues` event on one is not ours.
    if v.get("issue")
        .and_then(|i| i.get("pull_request"))
        .is_some_and(|p| !p.is_null())
    {
        return Ok(Hint::Ignored(format!("{event} (pull request)")));
    }
    let repository = text(&v, &["repository", "full_name"])
        .ok_or("no repository.full_name")?
        .to_owned();
    let n = number(&v, &["issue", "number"]).ok_or("no issue.number")?;
    let link = issue_link(
        text(&v, &["repository", "html_url"]),
        "repository.html_url",
        "issues/",
        n,
    )?;
    Ok(Hint::Issue(IssueHint {
        event,
        repository,
        project_id: None,
        link,
    }))
}
