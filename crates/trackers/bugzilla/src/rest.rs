//! The Bugzilla 5 REST API: request URLs and pure JSON parsers.
//!
//! * bugs: `GET /rest/bug?id=1,2,3&include_fields=…` and searches
//!   `GET /rest/bug?<criteria>&include_fields=…&limit=L&offset=O[&last_change_time=T]`, both
//!   answering `{"bugs": [ … ]}`;
//! * comments (the description and the people involved):
//!   `GET /rest/bug/<first id>/comment?ids=<first id>&ids=<id>…`, answering
//!   `{"bugs": {"<id>": {"comments": [ … ]}}}`.
//!
//! An error answer (`{"error": true, "message": …}`) is an [`Error::Parse`] carrying the
//! message.

use std::collections::{BTreeSet, HashMap};

use bugimporters_core::Error;
use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::custom::BugFacts;
use crate::parser::{split_keywords, SkippedBug};

/// The fields asked for with `include_fields` (everything the rules and custom parsers read).
pub const INCLUDE_FIELDS: &str = "id,summary,status,resolution,severity,priority,product,component,keywords,whiteboard,creator,creation_time,last_change_time,assigned_to";

/// Most ids per comment request (`ids=N&` each; keeps the URL under ~4 KB).
pub const COMMENT_CHUNK: usize = 200;

/// Whether `url` is a REST bug search or fetch (`…/rest/bug`, `…/rest.cgi/bug`, with or
/// without a query string).
pub fn is_rest_bug_url(url: &Url) -> bool {
    rest_root_of(url).is_some()
}

/// The REST root (`…/rest/` or `…/rest.cgi/`) of a REST bug URL.
pub fn rest_root_of(url: &Url) -> Option<Url> {
    let path = url.path();
    for marker in ["/rest/bug", "/rest.cgi/bug"] {
        if let Some(pos) = path.find(marker) {
            let rest_end = pos + marker.len() - "bug".len();
            let tail = &path[pos + marker.len()..];
            if tail.is_empty() || tail == "/" {
                let mut root = url.clone();
                root.set_path(&path[..rest_end]);
                root.set_query(None);
                root.set_fragment(None);
                return Some(root);
            }
        }
    }
    None
}

/// The REST search URL for a `buglist.cgi` query: the same criteria sent to `rest/bug`
/// (Bugzilla 5 accepts buglist parameters there), without the page-only parameters.
pub fn search_url_for_buglist(buglist: &Url, rest_root: &Url) -> Result<Url, Error> {
    let mut url = rest_root
        .join("bug")
        .map_err(|e| Error::config(format!("REST root {rest_root}: {e}")))?;
    let kept: Vec<(String, String)> = buglist
        .query_pairs()
        .filter(|(k, _)| {
            !matches!(
                k.as_ref(),
                "ctype"
                    | "list_id"
                    | "columnlist"
                    | "query_based_on"
                    | "format"
                    | "limit"
                    | "offset"
            )
        })
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if !kept.is_empty() {
        url.query_pairs_mut().extend_pairs(kept);
    }
    Ok(url)
}

/// One page of a search: `search` plus `include_fields`, `limit`, `offset`, `order=bug_id`
/// (unless the search orders itself) and `last_change_time` when `since` is given (unless the
/// search sets it).
pub fn search_page_url(
    search: &Url,
    limit: usize,
    offset: usize,
    since: Option<NaiveDateTime>,
) -> Url {
    let mut url = search.clone();
    let has = |k: &str| search.query_pairs().any(|(key, _)| key == k);
    let (has_fields, has_order, has_since) =
        (has("include_fields"), has("order"), has("last_change_time"));
    let kept: Vec<(String, String)> = search
        .query_pairs()
        .filter(|(k, _)| k != "limit" && k != "offset")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = url.query_pairs_mut();
        q.clear();
        q.extend_pairs(kept);
        if !has_fields {
            q.append_pair("include_fields", INCLUDE_FIELDS);
        }
        if !has_order {
            q.append_pair("order", "bug_id");
        }
        if let (Some(t), false) = (since, has_since) {
            q.append_pair(
                "last_change_time",
                &t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            );
        }
        q.append_pair("limit", &limit.to_string());
        q.append_pair("offset", &offset.to_string());
    }
    url
}

/// `rest/bug?id=1,2,3&include_fields=…`.
pub fn bugs_by_id_url(rest_root: &Url, ids: &[u64]) -> Result<Url, Error> {
    let mut url = rest_root
        .join("bug")
        .map_err(|e| Error::config(format!("REST root {rest_root}: {e}")))?;
    let list: Vec<String> = ids.iter().map(u64::to_string).collect();
    url.query_pairs_mut()
        .append_pair("id", &list.join(","))
        .append_pair("include_fields", INCLUDE_FIELDS)
        // A missing or private bug becomes a `faults` entry instead of failing the batch.
        .append_pair("permissive", "1");
    Ok(url)
}

/// `rest/bug/<first>/comment?ids=<id>&…` with every id of `ids` (the first included: servers
/// that merge the path id and those that take only `ids` both answer for all) for the
/// comments of at most [`COMMENT_CHUNK`] bugs; `None` when `ids` is empty.
pub fn comments_url(rest_root: &Url, ids: &[u64]) -> Option<Url> {
    let first = ids.first()?;
    let mut url = rest_root.join(&format!("bug/{first}/comment")).ok()?;
    {
        let mut q = url.query_pairs_mut();
        for id in ids {
            q.append_pair("ids", &id.to_string());
        }
    }
    Some(url)
}

fn check_error(v: &Value, url: &str) -> Result<(), Error> {
    if v.get("error").and_then(Value::as_bool) == Some(true) {
        let msg = v
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("error without a message");
        let code = v.get("code").map(Value::to_string).unwrap_or_default();
        return Err(Error::parse(
            url,
            format!(
                "Bugzilla REST error {}: {}",
                bugimporters_core::excerpt(&code),
                bugimporters_core::excerpt(msg)
            ),
        ));
    }
    Ok(())
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// The bugs of a `{"bugs": [...]}` answer, as [`BugFacts`] without comments. A bug without a
/// numeric `id` is an error in the second list; an error answer or non-JSON fails whole.
pub fn parse_bugs(body: &[u8], url: &str) -> Result<(Vec<BugFacts>, Vec<Error>), Error> {
    bugimporters_core::parse::check_json(url, body)?;
    let v: Value =
        serde_json::from_slice(body).map_err(|e| Error::parse(url, format!("not JSON: {e}")))?;
    check_error(&v, url)?;
    let Some(list) = v.get("bugs").and_then(Value::as_array) else {
        return Err(Error::parse(
            url,
            "no \"bugs\" list: not a Bugzilla REST bug answer",
        ));
    };
    let mut facts = Vec::with_capacity(list.len());
    let mut errors = Vec::new();
    for b in list {
        let Some(id) = b.get("id").and_then(Value::as_u64) else {
            errors.push(Error::parse(url, "a bug without a numeric id"));
            continue;
        };
        let mut f = BugFacts::new(id);
        f.title = text(b, "summary");
        f.status = text(b, "status");
        f.resolution = text(b, "resolution");
        f.severity = text(b, "severity");
        f.priority = text(b, "priority");
        f.product = text(b, "product");
        f.component = text(b, "component");
        f.keywords = match b.get("keywords") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect(),
            Some(Value::String(s)) => split_keywords(s),
            _ => Vec::new(),
        };
        f.whiteboard = text(b, "whiteboard");
        f.created = text(b, "creation_time");
        f.changed = text(b, "last_change_time");
        f.reporter = text(b, "creator");
        f.assigned_to = b
            .get("assigned_to")
            .and_then(Value::as_str)
            .map(str::to_owned);
        f.reporter_name = b
            .get("creator_detail")
            .and_then(|d| d.get("real_name"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(Value::Array(comments)) = b.get("comments") {
            let c = comments_of(comments);
            f.first_comment = c.first_comment;
            f.commenters = c.commenters;
        }
        facts.push(f);
    }
    Ok((facts, errors))
}

/// The `faults` of a permissive `rest/bug?id=…` answer (`{"id": 9, "faultCode": 101, …}`),
/// named as the XML interface names them: 101 `NotFound`, 102 `NotPermitted`, 100
/// `InvalidBugId`, other codes `code N`. A body without faults (or not JSON) has none.
pub fn parse_bug_faults(body: &[u8]) -> Vec<SkippedBug> {
    if bugimporters_core::parse::json_values(body) > bugimporters_core::parse::JSON_MAX_VALUES {
        return Vec::new();
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let Some(faults) = v.get("faults").and_then(Value::as_array) else {
        return Vec::new();
    };
    faults
        .iter()
        .map(|f| {
            let error = match f.get("faultCode").and_then(Value::as_i64) {
                Some(101) => "NotFound".to_owned(),
                Some(102) => "NotPermitted".to_owned(),
                Some(100) => "InvalidBugId".to_owned(),
                Some(n) => format!("code {n}"),
                None => "a fault without a code".to_owned(),
            };
            SkippedBug::new(text(f, "id"), error)
        })
        .collect()
}

/// The description and commenters of one bug, from its comments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommentFacts {
    /// Text of comment 0 (or of the first comment listed).
    pub first_comment: Option<String>,
    /// Distinct comment `creator`s.
    pub commenters: BTreeSet<String>,
}

impl CommentFacts {
    /// Copies the comment facts into `facts`.
    pub fn apply(self, facts: &mut BugFacts) {
        facts.first_comment = self.first_comment;
        facts.commenters = self.commenters;
    }
}

#[derive(Deserialize)]
struct RestComment {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    creator: Option<String>,
    #[serde(default)]
    count: Option<u64>,
}

fn comments_of(list: &[Value]) -> CommentFacts {
    let comments: Vec<RestComment> = list
        .iter()
        .filter_map(|c| RestComment::deserialize(c).ok())
        .collect();
    let first = comments
        .iter()
        .find(|c| c.count == Some(0))
        .or_else(|| comments.first())
        .and_then(|c| c.text.clone());
    CommentFacts {
        first_comment: first,
        commenters: comments.into_iter().filter_map(|c| c.creator).collect(),
    }
}

/// The comments answer `{"bugs": {"<id>": {"comments": [...]}}}`, by bug id.
pub fn parse_comments(body: &[u8], url: &str) -> Result<HashMap<u64, CommentFacts>, Error> {
    bugimporters_core::parse::check_json(url, body)?;
    let v: Value =
        serde_json::from_slice(body).map_err(|e| Error::parse(url, format!("not JSON: {e}")))?;
    check_error(&v, url)?;
    let Some(bugs) = v.get("bugs").and_then(Value::as_object) else {
        return Err(Error::parse(
            url,
            "no \"bugs\" object: not a Bugzilla REST comment answer",
        ));
    };
    Ok(bugs
        .iter()
        .filter_map(|(id, b)| {
            let id = id.trim().parse::<u64>().ok()?;
            let list = b.get("comments").and_then(Value::as_array)?;
            Some((id, comments_of(list)))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let q = Url::parse("https://bz.example/rest/bug?product=Foo&limit=3").unwrap();
        let root = rest_root_of(&q).unwrap();
        assert_eq!(root.as_str(), "https://bz.example/rest/");
        let q2 = Url::parse("https://bz.example/bugzilla/rest.cgi/bug").unwrap();
        assert_eq!(
            rest_root_of(&q2).unwrap().as_str(),
            "https://bz.example/bugzilla/rest.cgi/"
        );
        assert!(rest_root_of(&Url::parse("https://bz.example/rest/bug/5").unwrap()).is_none());
        assert!(!is_rest_bug_url(
            &Url::parse("https://bz.example/buglist.cgi?x=1").unwrap()
        ));

        let since = bugimporters_core::time::parse_datetime("2024-01-02T03:04:05").unwrap();
        let page = search_page_url(&q, 500, 1000, Some(since));
        assert_eq!(
            page.as_str(),
            "https://bz.example/rest/bug?product=Foo&include_fields=id%2Csummary%2Cstatus%2Cresolution%2Cseverity%2Cpriority%2Cproduct%2Ccomponent%2Ckeywords%2Cwhiteboard%2Ccreator%2Ccreation_time%2Clast_change_time%2Cassigned_to&order=bug_id&last_change_time=2024-01-02T03%3A04%3A05Z&limit=500&offset=1000"
        );
        let bl = Url::parse(
            "https://bz.example/buglist.cgi?keywords=easy&ctype=atom&bug_status=NEW&list_id=9",
        )
        .unwrap();
        assert_eq!(
            search_url_for_buglist(&bl, &root).unwrap().as_str(),
            "https://bz.example/rest/bug?keywords=easy&bug_status=NEW"
        );
        assert_eq!(
            bugs_by_id_url(&root, &[1, 2]).unwrap().as_str(),
            format!(
                "https://bz.example/rest/bug?id=1%2C2&include_fields={}&permissive=1",
                INCLUDE_FIELDS.replace(',', "%2C")
            )
        );
        assert_eq!(
            comments_url(&root, &[4, 5, 6]).unwrap().as_str(),
            "https://bz.example/rest/bug/4/comment?ids=4&ids=5&ids=6"
        );
        assert!(comments_url(&root, &[]).is_none());
    }

    #[test]
    fn bugs_and_comments() {
        let body = br#"{"bugs": [{"id": 7, "summary": "S", "status": "NEW", "severity": "minor",
            "product": "P", "component": "C", "keywords": [" easy ", ""], "whiteboard": "[gfb]",
            "creator": "a@x", "creator_detail": {"real_name": "A"},
            "creation_time": "2020-01-01T00:07:00Z", "last_change_time": "2020-01-31T00:07:00Z"},
            {"summary": "no id"}]}"#;
        let (facts, errors) = parse_bugs(body, "u").unwrap();
        assert_eq!(errors.len(), 1);
        let f = &facts[0];
        assert_eq!(
            (f.id, f.title.as_str(), f.severity.as_str()),
            (7, "S", "minor")
        );
        assert_eq!(f.keywords, vec!["easy".to_owned()]);
        assert_eq!(f.reporter_name.as_deref(), Some("A"));
        assert_eq!(f.assigned_to, None, "no assigned_to key");
        let (facts, _) =
            parse_bugs(br#"{"bugs": [{"id": 8, "assigned_to": "dev@x"}]}"#, "u").unwrap();
        assert_eq!(facts[0].assigned_to.as_deref(), Some("dev@x"));
        let e = parse_bugs(
            br#"{"error": true, "code": 101, "message": "Bug #9 does not exist."}"#,
            "u",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("does not exist"), "{e}");
        assert!(parse_bugs(b"<html>", "u").is_err());

        let c = br#"{"bugs": {"7": {"comments": [
            {"text": "second", "creator": "b@x", "count": 1},
            {"text": "desc", "creator": "a@x", "count": 0},
            {"text": "third", "creator": "b@x", "count": 2}]}, "x": {}}, "comments": {}}"#;
        let map = parse_comments(c, "u").unwrap();
        let cf = &map[&7];
        assert_eq!(cf.first_comment.as_deref(), Some("desc"));
        assert_eq!(cf.commenters.len(), 2);
    }
}
