//! Size caps of an output record, so that a hostile tracker cannot amplify its pages into huge
//! output lines (a Trac description of 50 MB of `&` is 250 MB once HTML-escaped).
//!
//! Enforced twice: by [`crate::ImportContext::emit`] on every record an importer emits
//! ([`ParsedBug::enforce_limits`]), and by the JSON-lines writer on every line it writes
//! ([`ParsedBug::to_json_line_capped`]), so no output line is ever longer than
//! [`MAX_LINE_BYTES`]. The caps are documented in `docs/output-schema.md` and
//! `docs/parsed-bug.schema.json`.

use crate::{Error, ParsedBug};

/// Largest `title`, in bytes (marker included).
pub const MAX_TITLE_BYTES: usize = 4 * 1024;
/// Largest `description`, in bytes (marker included).
pub const MAX_DESCRIPTION_BYTES: usize = 1024 * 1024;
/// Largest `status`, `importance`, `submitter_username`, `submitter_realname`,
/// `as_appears_in_distribution` and `_project_name`, in bytes (marker included).
pub const MAX_SHORT_FIELD_BYTES: usize = 1024;
/// Longest `canonical_bug_link`: a longer one is never cut (it is the host's key), the record
/// is refused.
pub const MAX_LINK_BYTES: usize = 2048;
/// Largest `raw_data`, serialised as compact JSON: a larger one is replaced by
/// `{"_truncated": true, "bytes": N}`.
pub const MAX_RAW_DATA_BYTES: usize = 256 * 1024;
/// Longest output line, in bytes, without its newline. The field caps keep every record well
/// under it even when JSON escaping multiplies a field by six.
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;
/// Appended to a text field that was cut (after the last whole character that fits).
pub const TRUNCATION_MARKER: &str = "…[truncated]";

/// Cuts `text` to at most `max` bytes on a character boundary, marker included; `true` when
/// it was cut.
pub fn truncate_text(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut keep = max.saturating_sub(TRUNCATION_MARKER.len());
    while keep > 0 && !text.is_char_boundary(keep) {
        keep -= 1;
    }
    text.truncate(keep);
    text.push_str(TRUNCATION_MARKER);
    true
}

impl ParsedBug {
    /// Applies the field caps of this module; returns the names of the fields that were cut.
    /// A `canonical_bug_link` over [`MAX_LINK_BYTES`] is an error (the record must be
    /// dropped: a cut link could name another bug).
    pub fn enforce_limits(&mut self) -> Result<Vec<&'static str>, Error> {
        if self.canonical_bug_link.len() > MAX_LINK_BYTES {
            let mut shown = self.canonical_bug_link.clone();
            truncate_text(&mut shown, 200);
            return Err(Error::parse(
                shown,
                format!(
                    "canonical_bug_link of {} bytes is over the {MAX_LINK_BYTES}-byte limit; record dropped",
                    self.canonical_bug_link.len()
                ),
            ));
        }
        let mut cut = Vec::new();
        let mut cap = |name: &'static str, field: Option<&mut String>, max: usize| {
            if field.is_some_and(|f| truncate_text(f, max)) {
                cut.push(name);
            }
        };
        cap("title", self.title.as_mut(), MAX_TITLE_BYTES);
        cap(
            "description",
            self.description.as_mut(),
            MAX_DESCRIPTION_BYTES,
        );
        cap("status", self.status.as_mut(), MAX_SHORT_FIELD_BYTES);
        cap(
            "importance",
            self.importance.as_mut(),
            MAX_SHORT_FIELD_BYTES,
        );
        let short = MAX_SHORT_FIELD_BYTES;
        cap(
            "submitter_username",
            self.submitter_username.as_mut(),
            short,
        );
        let realname = self.submitter_realname.as_mut().and_then(Option::as_mut);
        cap("submitter_realname", realname, short);
        let distro = self.as_appears_in_distribution.as_mut();
        cap("as_appears_in_distribution", distro, short);
        cap("_project_name", self.project_name.as_mut(), short);
        if let Some(raw) = &self.raw_data {
            let bytes = serde_json::to_string(raw).map_or(usize::MAX, |s| s.len());
            if bytes > MAX_RAW_DATA_BYTES {
                self.raw_data = Some(serde_json::json!({"_truncated": true, "bytes": bytes}));
                cut.push("raw_data");
            }
        }
        Ok(cut)
    }

    /// The record as one JSON line of at most [`MAX_LINE_BYTES`]: the caps are applied when the
    /// line is too long, then the description is cut further if escaping still makes it too
    /// long. An error when even that cannot make it fit (an oversize link or tracker name).
    pub fn to_json_line_capped(&self) -> Result<String, Error> {
        let line = self.to_json_line();
        if line.len() <= MAX_LINE_BYTES {
            return Ok(line);
        }
        let mut bug = self.clone();
        bug.enforce_limits()?;
        let mut line = bug.to_json_line();
        while line.len() > MAX_LINE_BYTES {
            let Some(desc) = bug.description.as_mut().filter(|d| !d.is_empty()) else {
                break;
            };
            // Escaping only grows text: removing `excess` source bytes removes at least
            // `excess` output bytes.
            let excess = line.len() - MAX_LINE_BYTES + TRUNCATION_MARKER.len();
            let target = desc.len().saturating_sub(excess);
            if !truncate_text(desc, target.max(TRUNCATION_MARKER.len())) {
                break;
            }
            line = bug.to_json_line();
        }
        if line.len() > MAX_LINE_BYTES {
            let mut shown = self.canonical_bug_link.clone();
            truncate_text(&mut shown, 200);
            return Err(Error::parse(
                shown,
                format!("record of {} bytes is over the {MAX_LINE_BYTES}-byte line limit even with every field cap applied; not written", line.len()),
            ));
        }
        Ok(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_on_a_char_boundary_with_the_marker() {
        let mut s = "é".repeat(100);
        assert!(truncate_text(&mut s, 51));
        assert!(s.len() <= 51, "{}", s.len());
        assert!(s.ends_with(TRUNCATION_MARKER));
        assert!(s.starts_with("éé"));
        let mut short = "abc".to_owned();
        assert!(!truncate_text(&mut short, 3));
        assert_eq!(short, "abc");
    }

    #[test]
    fn every_field_is_capped_and_named() {
        let mut bug = ParsedBug::new("http://t/1");
        bug.title = Some("t".repeat(MAX_TITLE_BYTES * 2));
        bug.description = Some("&".repeat(MAX_DESCRIPTION_BYTES * 3));
        bug.submitter_realname = Some(Some("n".repeat(5000)));
        bug.raw_data = Some(serde_json::json!({"x": "y".repeat(MAX_RAW_DATA_BYTES)}));
        let cut = bug.enforce_limits().unwrap();
        assert_eq!(
            cut,
            ["title", "description", "submitter_realname", "raw_data"]
        );
        assert_eq!(
            bug.description.as_ref().unwrap().len(),
            MAX_DESCRIPTION_BYTES
        );
        assert!(bug.to_json_line().len() <= MAX_LINE_BYTES);
        assert_eq!(bug.raw_data.as_ref().unwrap()["_truncated"], true);
    }

    #[test]
    fn an_oversize_link_refuses_the_record_with_a_short_message() {
        let mut bug = ParsedBug::new(format!("http://t/{}", "x".repeat(10 * MAX_LINK_BYTES)));
        let e = bug.enforce_limits().unwrap_err();
        assert!(e.to_string().len() < 400, "{e}");
        assert!(e.to_string().contains("record dropped"), "{e}");
    }

    #[test]
    fn capped_lines_never_exceed_the_maximum_even_after_escaping() {
        let mut bug = ParsedBug::new("http://t/1");
        // Control characters are escaped to six bytes each.
        bug.description = Some("\u{1}".repeat(MAX_LINE_BYTES));
        let line = bug.to_json_line_capped().unwrap();
        assert!(line.len() <= MAX_LINE_BYTES, "{}", line.len());
        let back: ParsedBug = serde_json::from_str(&line).unwrap();
        assert!(back.description.unwrap().ends_with(TRUNCATION_MARKER));
        let small = ParsedBug::new("http://t/2");
        assert_eq!(small.to_json_line_capped().unwrap(), small.to_json_line());
    }
}
