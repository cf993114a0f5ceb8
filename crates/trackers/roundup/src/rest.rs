//! Pure parsers of Roundup 2.x REST responses (`/rest/data/...`) to [`ParsedBug`]s.
//!
//! An issue's record is assembled from up to three responses, as the importer fetches them
//! for a page of up to 100 issues:
//!
//! 1. the issues: `GET rest/data/issue?id=1&id=2...&@verbose=2&@fields=title,status,...`
//!    (a collection) or `GET rest/data/issue/N?@verbose=2` (one item);
//! 2. their messages: `GET rest/data/msg?id=...&@verbose=2&@fields=author,date` for the
//!    authors (people involved), and `@verbose=3&@fields=author,date,content` for the first
//!    message of each issue (the description);
//! 3. the reporters: `GET rest/data/user?id=...&@verbose=2&@fields=username,realname`.
//!
//! The fields are those of the page parser ([`crate::parser`]): status and priority by name,
//! the reporter's username and real name (`null` when Roundup has none), the number of distinct
//! message authors, the first message (lowest id) trimmed as description, `creation` and
//! `activity` as written (Roundup's REST dates are UTC), the same closed/bite-size/documentation
//! rules (a multilink's names joined with `, ` as the page shows them).

use std::collections::{HashMap, HashSet};

use bugimporters_core::{Error, ParsedBug};
use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use crate::config::label_for_property;
use crate::parser::{finish, parse_roundup_date, IssueCore, ParseSettings};

/// The issue properties the importer asks for (besides those of the rules).
pub const ISSUE_FIELDS: &[&str] = &[
    "title", "status", "priority", "creator", "creation", "activity", "actor", "messages",
];

/// One issue of a REST response: its id and attributes.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RestIssue {
    /// The issue number.
    pub id: u64,
    /// The attributes as Roundup sent them.
    pub attributes: Map<String, Value>,
}

/// A message: its author and date, and its text when it was asked for.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct RestMessage {
    /// Author's user id.
    pub author_id: Option<String>,
    /// Author's username (with `@verbose=2`).
    pub author: Option<String>,
    /// `date` as written.
    pub date: Option<NaiveDateTime>,
    /// `content` (with `@verbose=3`).
    pub content: Option<String>,
}

/// A user: username and real name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestUser {
    /// Login.
    pub username: String,
    /// Real name (`None` when empty or not visible).
    pub realname: Option<String>,
}

/// Which issue properties hold the rules' fields (REST mode).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RuleProperties {
    /// Property behind `bitesized_field`.
    pub bitesized: Option<String>,
    /// Property behind `documentation_field`.
    pub documentation: Option<String>,
}

fn json(body: &[u8], url: &str) -> Result<Value, Error> {
    bugimporters_core::parse::check_json(url, body)?;
    let v: Value =
        serde_json::from_slice(body).map_err(|e| Error::parse(url, format!("not JSON: {e}")))?;
    if let Some(err) = v.get("error") {
        return Err(Error::parse(
            url,
            format!(
                "Roundup REST error: {}",
                bugimporters_core::excerpt(&err.to_string())
            ),
        ));
    }
    Ok(v)
}

fn id_of(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// The objects of `data.collection`, or the one item of `data` (with `attributes`).
/// Objects of a response, by id.
type Objects = Vec<(u64, Map<String, Value>)>;

fn objects(v: &Value, url: &str) -> Result<Objects, Error> {
    let data = v
        .get("data")
        .ok_or_else(|| Error::parse(url, "no \"data\" in the REST response"))?;
    if let Some(coll) = data.get("collection") {
        let items = coll
            .as_array()
            .ok_or_else(|| Error::parse(url, "\"collection\" is not a list"))?;
        return items
            .iter()
            .map(|item| {
                let obj = item
                    .as_object()
                    .ok_or_else(|| Error::parse(url, "a collection entry is not an object"))?;
                let id = obj
                    .get("id")
                    .and_then(id_of)
                    .ok_or_else(|| Error::parse(url, "a collection entry has no numeric id"))?;
                Ok((id, obj.clone()))
            })
            .collect();
    }
    let id = data
        .get("id")
        .and_then(id_of)
        .ok_or_else(|| Error::parse(url, "the REST item has no numeric id"))?;
    let attrs = data
        .get("attributes")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| Error::parse(url, "the REST item has no attributes"))?;
    Ok(vec![(id, attrs)])
}

/// Issues of a collection or item response.
pub fn parse_issues(body: &[u8], url: &str) -> Result<Vec<RestIssue>, Error> {
    Ok(objects(&json(body, url)?, url)?
        .into_iter()
        .map(|(id, mut attributes)| {
            attributes.remove("id");
            attributes.remove("link");
            RestIssue { id, attributes }
        })
        .collect())
}

/// `@total_size` of a collection response, when present.
pub fn total_size(body: &[u8]) -> Option<u64> {
    if bugimporters_core::parse::json_values(body) > bugimporters_core::parse::JSON_MAX_VALUES {
        return None;
    }
    serde_json::from_slice::<Value>(body)
        .ok()?
        .get("data")?
        .get("@total_size")?
        .as_u64()
}

/// Messages of a collection or item response, by id.
pub fn parse_messages(body: &[u8], url: &str) -> Result<HashMap<u64, RestMessage>, Error> {
    Ok(objects(&json(body, url)?, url)?
        .into_iter()
        .map(|(id, o)| {
            let author = o.get("author");
            let msg = RestMessage {
                author_id: author.and_then(|a| a.get("id")).and_then(|i| match i {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }),
                author: author
                    .and_then(|a| a.get("username"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                date: o
                    .get("date")
                    .and_then(Value::as_str)
                    .and_then(parse_roundup_date),
                content: o.get("content").and_then(Value::as_str).map(str::to_owned),
            };
            (id, msg)
        })
        .collect())
}

/// Users of a collection or item response, by id (as text).
pub fn parse_users(body: &[u8], url: &str) -> Result<HashMap<String, RestUser>, Error> {
    Ok(objects(&json(body, url)?, url)?
        .into_iter()
        .map(|(id, o)| {
            let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
            (
                id.to_string(),
                RestUser {
                    username: text("username").unwrap_or_default(),
                    realname: text("realname").filter(|r| !r.is_empty()),
                },
            )
        })
        .collect())
}

/// How a property value reads on the issue page: a link's name (or username, or id), a
/// multilink's joined with `, `, a string as is, nothing as `""`.
pub fn display(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "Yes" } else { "No" }.to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items.iter().map(display).collect::<Vec<_>>().join(", "),
        Value::Object(o) => ["name", "username", "id"]
            .iter()
            .find_map(|k| o.get(*k))
            .map(display)
            .unwrap_or_default(),
    }
}

/// The message ids of an issue, ascending.
pub fn message_ids(issue: &RestIssue) -> Vec<u64> {
    let mut ids: Vec<u64> = issue
        .attributes
        .get("messages")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| match m {
                    Value::Object(o) => o.get("id").and_then(id_of),
                    other => id_of(other),
                })
                .collect()
        })
        .unwrap_or_default();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The creator's user id.
pub fn creator_id(issue: &RestIssue) -> Option<String> {
    match issue.attributes.get("creator")? {
        Value::Object(o) => o.get("id").map(|i| match i {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// Builds the record of `issue` at `link` from the issue and what was fetched about its
/// messages and users. A missing `title` or `status` is an error.
pub fn issue_to_bug(
    issue: &RestIssue,
    link: &str,
    settings: &ParseSettings,
    rules: &RuleProperties,
    messages: &HashMap<u64, RestMessage>,
    users: &HashMap<String, RestUser>,
    now: NaiveDateTime,
) -> Result<ParsedBug, Error> {
    let a = &issue.attributes;
    let required = |k: &str| {
        a.get(k).map(display).ok_or_else(|| {
            Error::parse(
                link,
                format!("the REST issue has no {k:?} (ask for it in @fields)"),
            )
        })
    };
    let title = required("title")?;
    let status = required("status")?;
    let importance = a.get("priority").map(display).unwrap_or_default();
    let creator = creator_id(issue);
    let creator_user = creator.as_ref().and_then(|id| users.get(id));
    let submitter_username = a
        .get("creator")
        .and_then(|c| c.get("username"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| creator_user.map(|u| u.username.clone()))
        .unwrap_or_default();
    let ids = message_ids(issue);
    let mut people: HashSet<String> = HashSet::new();
    for id in &ids {
        if let Some(m) = messages.get(id) {
            if let Some(who) = m.author.clone().or_else(|| m.author_id.clone()) {
                people.insert(who);
            }
        }
    }
    let description = ids
        .first()
        .and_then(|id| messages.get(id))
        .and_then(|m| m.content.as_deref())
        .map(|c| c.trim().to_owned())
        .unwrap_or_default();
    let date = |k: &str| {
        a.get(k)
            .and_then(Value::as_str)
            .and_then(parse_roundup_date)
    };
    let mut fields: std::collections::BTreeMap<String, String> = a
        .iter()
        .map(|(k, v)| (label_for_property(k), display(v)))
        .collect();
    for (label, prop) in [
        (&settings.bitesized_field, &rules.bitesized),
        (&settings.documentation_field, &rules.documentation),
    ] {
        // Only a property the issue has: a missing one is a field no issue has.
        if let (Some(prop), false) = (prop, label.is_empty()) {
            if let Some(v) = a.get(prop) {
                fields.insert(label.clone(), display(v));
            }
        }
    }
    let raw = if settings.extended_scrape {
        Value::Object(a.clone())
    } else {
        Value::Object(Map::new())
    };
    let core = IssueCore {
        title,
        status,
        importance,
        description,
        submitter_username,
        submitter_realname: creator_user.and_then(|u| u.realname.clone()),
        people_involved: u32::try_from(people.len()).unwrap_or(u32::MAX),
        date_reported: date("creation"),
        last_touched: date("activity"),
        fields,
    };
    Ok(finish(core, link, settings, now, raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn display_values() {
        assert_eq!(display(&json!(null)), "");
        assert_eq!(display(&json!({"id": "1", "name": "easy"})), "easy");
        assert_eq!(display(&json!({"id": "7", "username": "bob"})), "bob");
        assert_eq!(display(&json!({"id": "7"})), "7");
        assert_eq!(
            display(&json!([{"id": "1", "name": "easy"}, {"id": "2", "name": "docs"}])),
            "easy, docs"
        );
    }

    #[test]
    fn errors_are_parse_errors() {
        assert!(parse_issues(b"nope", "u").is_err());
        let e = parse_issues(br#"{"error": {"status": 403, "msg": "Forbidden."}}"#, "u")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Forbidden"), "{e}");
        assert!(parse_issues(br#"{"data": {"collection": [{"id": "x"}]}}"#, "u").is_err());
    }
}
