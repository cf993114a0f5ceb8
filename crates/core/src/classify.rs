//! Bite-sized, documentation and closed-status rules, and project naming.
//!
//! Rule texts (`bitesized_text`, `documentation_text`, `closed_status`) are comma-separated
//! lists, split on `,` exactly as the original did; each tracker chooses whether pieces are
//! trimmed and whether a piece must *equal* a value or be a *substring* of a field (reference
//! §9.4). These helpers name those choices so every tracker crate states its rule in one line.
//!
//! ```
//! use bugimporters_core::classify::{any_piece_equals, any_piece_in, project_name};
//! assert!(any_piece_in("easy,trivial", "difficulty: easy"));
//! assert!(any_piece_equals("easy, bitesize", ["bitesize"], true));
//! assert!(!any_piece_equals("", [""], false), "an empty rule never matches");
//! assert_eq!(
//!     project_name("{tracker_name} {component}", "KDE", Some("kmail"), None).unwrap(),
//!     "KDE kmail"
//! );
//! ```

use crate::Error;

/// The comma-separated pieces of a rule text, as the original split them (no trimming).
pub fn pieces(text: &str) -> impl Iterator<Item = &str> {
    text.split(',')
}

/// Whether some piece of `rule` is a substring of `field` (Trac, Roundup). An empty rule text
/// never matches: the original's `[""]` piece would match everything, which no configuration
/// meant (a rule is off when its type is blank, and callers check that first).
pub fn any_piece_in(rule: &str, field: &str) -> bool {
    !rule.is_empty() && pieces(rule).any(|p| !p.is_empty() && field.contains(p))
}

/// Whether some piece of `rule` (trimmed when `trim`) equals one of `values` exactly
/// (Bugzilla keywords, GitHub/Jira labels). Empty pieces never match.
pub fn any_piece_equals<'a, I>(rule: &str, values: I, trim: bool) -> bool
where
    I: IntoIterator<Item = &'a str>,
    I::IntoIter: Clone,
{
    let values = values.into_iter();
    pieces(rule)
        .map(|p| if trim { p.trim() } else { p })
        .filter(|p| !p.is_empty())
        .any(|p| values.clone().any(|v| v == p))
}

/// Whether `status` is in the comma-separated `closed_list`, compared trimmed and
/// case-insensitively (Roundup's rule, and the default for configurable lists).
pub fn status_in_list(status: &str, closed_list: &str) -> bool {
    let status = status.trim().to_lowercase();
    pieces(closed_list)
        .map(|p| p.trim().to_lowercase())
        .any(|p| !p.is_empty() && p == status)
}

/// Formats `bug_project_name_format` like Python's `str.format` with the placeholders
/// `{tracker_name}`, `{component}` and `{product}` (`{{` and `}}` escape braces). An unknown
/// placeholder or an unbalanced brace is a configuration error naming the format. A missing
/// component or product formats as the empty string.
pub fn project_name(
    format: &str,
    tracker_name: &str,
    component: Option<&str>,
    product: Option<&str>,
) -> Result<String, Error> {
    let bad = |why: &str| Error::config(format!("bug_project_name_format {format:?}: {why}"));
    let mut out = String::with_capacity(format.len() + tracker_name.len());
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(ch) => name.push(ch),
                        None => return Err(bad("unclosed '{'")),
                    }
                }
                match name.as_str() {
                    "tracker_name" => out.push_str(tracker_name),
                    "component" => out.push_str(component.unwrap_or("")),
                    "product" => out.push_str(product.unwrap_or("")),
                    other => {
                        return Err(bad(&format!(
                            "unknown placeholder {{{other}}}; known: {{tracker_name}}, {{component}}, {{product}}"
                        )))
                    }
                }
            }
            '}' => return Err(bad("single '}'")),
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Checks a project-name format without formatting a bug (used when an importer is built,
/// so that a typo fails `bugimporters check` rather than every bug of the crawl).
pub fn validate_project_name_format(format: &str) -> Result<(), Error> {
    project_name(format, "t", Some("c"), Some("p")).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_rule() {
        assert!(any_piece_in(
            "Easy (less than 1 hour)",
            "Easy (less than 1 hour)"
        ));
        assert!(any_piece_in("easy", "easy documentation"));
        assert!(!any_piece_in("", "anything"));
        assert!(!any_piece_in("hard", "easy"));
        assert!(any_piece_in("x,,easy", "easy"));
    }

    #[test]
    fn equality_rule_with_and_without_trim() {
        assert!(any_piece_equals("a, b", ["b"], true));
        assert!(!any_piece_equals("a, b", ["b"], false));
        assert!(any_piece_equals("a, b", [" b"], false));
        assert!(!any_piece_equals("", ["x"], true));
    }

    #[test]
    fn closed_list() {
        assert!(status_in_list("Resolved", "wontfix, resolved"));
        assert!(!status_in_list("open", "wontfix,resolved"));
        assert!(!status_in_list("", ""));
    }

    #[test]
    fn project_names() {
        assert_eq!(
            project_name("{tracker_name}", "T", None, None).unwrap(),
            "T"
        );
        assert_eq!(
            project_name("{product}/{component} {{x}}", "T", Some("c"), Some("p")).unwrap(),
            "p/c {x}"
        );
        let e = project_name("{nope}", "T", None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("{nope}") && e.contains("tracker_name"), "{e}");
        assert!(project_name("{tracker_name", "T", None, None).is_err());
        assert!(project_name("a}b", "T", None, None).is_err());
    }
}
