//! [`ParsedBug`], the record a crawl writes, one JSON object per line.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

/// One bug, normalised, as the crawl writes it and `import-results` reads it.
///
/// Field names are those of the original OpenHatch importers, so that a host built for the
/// original imports our output unchanged. As in the original, a field that an importer does not
/// set is left out of the JSON line (`None` is not written as `null`), except
/// [`ParsedBug::submitter_realname`], whose `Some(None)` is written as `null`.
///
/// Timestamps are naive UTC, written as ISO-8601 without offset (`2012-07-03T14:05:09`),
/// with six fractional digits only when the sub-second part is not zero.
///
/// The full schema, with the host's rules for each field, is `docs/output-schema.md`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ParsedBug {
    /// Summary line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Body or first comment, plain text (Trac: HTML-escaped, as the original).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Status as the tracker shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Severity or priority as the tracker names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance: Option<String>,
    /// Number of distinct people involved (rule differs per tracker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub people_involved: Option<u32>,
    /// When the bug was reported (naive UTC).
    #[serde(
        default,
        with = "crate::time::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub date_reported: Option<NaiveDateTime>,
    /// When the bug last changed (naive UTC).
    #[serde(
        default,
        with = "crate::time::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_touched: Option<NaiveDateTime>,
    /// When the importer parsed the bug (naive UTC). Filled in by [`crate::ImportContext::emit`]
    /// when the importer leaves it empty.
    #[serde(
        default,
        with = "crate::time::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_polled: Option<NaiveDateTime>,
    /// Reporter's login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitter_username: Option<String>,
    /// Reporter's display name: `Some(Some(""))` when the tracker shows none, `Some(None)`
    /// (`null`) where the original wrote null (Roundup, name not on the page).
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub submitter_realname: Option<Option<String>>,
    /// The bug's stable human URL; the host's unique key.
    pub canonical_bug_link: String,
    /// Whether the tracker's closed-status rule says the bug is closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub looks_closed: Option<bool>,
    /// The "bite-sized" flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub good_for_newcomers: Option<bool>,
    /// The documentation-only flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concerns_just_documentation: Option<bool>,
    /// Whether somebody has taken the bug, as the tracker says it (an assignee, a Trac owner, a
    /// Bugzilla `assigned_to` other than the default one). `None`: the tracker does not say,
    /// and the key is left out of the JSON line. Not a field of the original; see
    /// `docs/output-schema.md` for what that means for a host built for the original.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned: Option<bool>,
    /// Distribution name the bug concerns (Trac, Roundup); `""` in a crawl, as the original.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_appears_in_distribution: Option<String>,
    /// Extra tracker data (Roundup with `--extended-scrape`). Never holds secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_data: Option<serde_json::Value>,
    /// Host project the bug belongs to (created on import when new).
    #[serde(
        rename = "_project_name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub project_name: Option<String>,
    /// `tracker_name` of the configuration record; the host finds the tracker by it.
    #[serde(
        rename = "_tracker_name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tracker_name: Option<String>,
    /// The bug is gone from the tracker; the host deletes it.
    #[serde(rename = "_deleted", default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// Nothing changed; the host only bumps `last_polled`.
    #[serde(rename = "_no_update", default, skip_serializing_if = "is_false")]
    pub no_update: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn double_option<'de, D>(d: D) -> Result<Option<Option<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<String>::deserialize(d).map(Some)
}

impl ParsedBug {
    /// An empty record for `canonical_bug_link`; set the other fields directly.
    pub fn new(canonical_bug_link: impl Into<String>) -> Self {
        ParsedBug {
            canonical_bug_link: canonical_bug_link.into(),
            ..ParsedBug::default()
        }
    }

    /// A deletion record carrying what a host needs to act on it: the link, `_tracker_name`,
    /// `_project_name` and `last_polled` (the original omitted the last three, so its hosts
    /// rejected every deletion).
    pub fn deleted(
        canonical_bug_link: impl Into<String>,
        tracker_name: &str,
        project_name: &str,
        now: NaiveDateTime,
    ) -> Self {
        ParsedBug {
            canonical_bug_link: canonical_bug_link.into(),
            tracker_name: Some(tracker_name.to_owned()),
            project_name: Some(project_name.to_owned()),
            last_polled: Some(now),
            deleted: true,
            ..ParsedBug::default()
        }
    }

    /// A "nothing changed" record: the host only bumps `last_polled` of the bug it holds.
    pub fn no_update(
        canonical_bug_link: impl Into<String>,
        tracker_name: &str,
        project_name: &str,
        now: NaiveDateTime,
    ) -> Self {
        ParsedBug {
            canonical_bug_link: canonical_bug_link.into(),
            tracker_name: Some(tracker_name.to_owned()),
            project_name: Some(project_name.to_owned()),
            last_polled: Some(now),
            no_update: true,
            ..ParsedBug::default()
        }
    }

    /// The record as one JSON line, without the trailing newline. Serialising a `ParsedBug`
    /// cannot fail (all keys are strings, no maps with non-string keys).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("ParsedBug always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn ts(h: u32, m: u32, s: u32, micro: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2012, 7, 3)
            .unwrap()
            .and_hms_micro_opt(h, m, s, micro)
            .unwrap()
    }

    #[test]
    fn serialises_with_original_names_and_skips_unset() {
        let mut bug = ParsedBug::new("http://t/ticket/1");
        bug.title = Some("T".into());
        bug.date_reported = Some(ts(14, 5, 9, 0));
        bug.last_polled = Some(ts(14, 5, 9, 899_000));
        bug.submitter_realname = Some(Some(String::new()));
        bug.project_name = Some("P".into());
        bug.tracker_name = Some("Tr".into());
        let line = bug.to_json_line();
        assert_eq!(
            line,
            r#"{"title":"T","date_reported":"2012-07-03T14:05:09","last_polled":"2012-07-03T14:05:09.899000","submitter_realname":"","canonical_bug_link":"http://t/ticket/1","_project_name":"P","_tracker_name":"Tr"}"#
        );
        let back: ParsedBug = serde_json::from_str(&line).unwrap();
        assert_eq!(back, bug);
    }

    #[test]
    fn assigned_is_written_only_when_known() {
        let mut bug = ParsedBug::new("http://t/1");
        assert!(!bug.to_json_line().contains("assigned"));
        bug.assigned = Some(false);
        let line = bug.to_json_line();
        assert!(line.contains(r#""assigned":false"#), "{line}");
        assert_eq!(serde_json::from_str::<ParsedBug>(&line).unwrap(), bug);
        bug.assigned = Some(true);
        let back: ParsedBug = serde_json::from_str(&bug.to_json_line()).unwrap();
        assert_eq!(back.assigned, Some(true));
    }

    #[test]
    fn null_realname_round_trips() {
        let mut bug = ParsedBug::new("x");
        bug.submitter_realname = Some(None);
        let line = bug.to_json_line();
        assert!(line.contains(r#""submitter_realname":null"#));
        let back: ParsedBug = serde_json::from_str(&line).unwrap();
        assert_eq!(back.submitter_realname, Some(None));
    }

    #[test]
    fn deletion_record_has_host_required_fields() {
        let d = ParsedBug::deleted("http://t/1", "Tr", "P", ts(0, 0, 0, 0));
        let v: serde_json::Value = serde_json::from_str(&d.to_json_line()).unwrap();
        for key in [
            "canonical_bug_link",
            "_tracker_name",
            "_project_name",
            "last_polled",
        ] {
            assert!(v.get(key).is_some(), "{key} missing");
        }
        assert_eq!(v["_deleted"], true);
        assert!(v.get("_no_update").is_none());
    }
}
