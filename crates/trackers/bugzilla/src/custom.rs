//! Custom parsers: what the original's `custom_parser` subclasses did, as a public trait.
//!
//! A [`CustomParser`] sees the [`BugFacts`] of each bug (what the XML or REST response said)
//! and may name the bug's project and adjust the record after the generic rules. The built-in
//! ones carry the original's names (`bugzilla.KDEBugzilla`, `bugzilla.GnomeBugzilla`,
//! `bugzilla.MozillaBugParser`, `bugzilla.MediaWikiBugParser`, and the generic
//! `bugzilla.BugzillaBugParser`); a third party registers its own the same way, with
//! [`register_custom_parser`] (see the crate docs for an example).

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;

use bugimporters_core::{classify, Error, ParsedBug, Registry};

use crate::config::ParseSettings;
use crate::KIND;

/// What one bug's response said, before the classification rules: the input of
/// [`CustomParser`]s and of [`crate::parser::build_bug`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BugFacts {
    /// `bug_id`.
    pub id: u64,
    /// `short_desc` (REST `summary`).
    pub title: String,
    /// `bug_status`.
    pub status: String,
    /// `resolution` (empty when open).
    pub resolution: String,
    /// `bug_severity`.
    pub severity: String,
    /// `priority`.
    pub priority: String,
    /// `product`.
    pub product: String,
    /// `component`.
    pub component: String,
    /// `keywords`, split on `,` and trimmed (empty pieces dropped).
    pub keywords: Vec<String>,
    /// `status_whiteboard` (REST `whiteboard`).
    pub whiteboard: String,
    /// `creation_ts` as written (REST `creation_time`).
    pub created: String,
    /// `delta_ts` as written (REST `last_change_time`).
    pub changed: String,
    /// The reporter's login (first `reporter` element; REST `creator`).
    pub reporter: String,
    /// The reporter's real name (`name` attribute; REST `creator_detail.real_name`).
    pub reporter_name: Option<String>,
    /// Text of the first comment (the description), if any.
    pub first_comment: Option<String>,
    /// Distinct comment authors (`who` elements; REST comment `creator`s).
    pub commenters: BTreeSet<String>,
    /// `assigned_to` (a login, usually an e-mail address); `None` when the response has none.
    pub assigned_to: Option<String>,
}

impl BugFacts {
    /// Facts of bug `id`, everything else empty.
    pub fn new(id: u64) -> Self {
        BugFacts {
            id,
            ..BugFacts::default()
        }
    }

    /// Whether `keyword` is one of the bug's keywords (exact).
    pub fn has_keyword(&self, keyword: &str) -> bool {
        self.keywords.iter().any(|k| k == keyword)
    }
}

/// A Bugzilla parser variant, selected by a tracker's `custom_parser`.
///
/// The generic rules (docs/reference-behaviour.md §5.1) run first; then
/// [`CustomParser::project_name`] names the project and [`CustomParser::adjust`] may change any
/// field of the record. Both have defaults that keep the generic behaviour, so a variant overrides
/// only what differs. Implementations must be pure (no I/O) and must not panic on any input.
pub trait CustomParser: Send + Sync + Debug + 'static {
    /// `_project_name` of the bug. Default: `bug_project_name_format` with
    /// `{tracker_name}`, `{product}` and `{component}`.
    fn project_name(&self, facts: &BugFacts, settings: &ParseSettings) -> Result<String, Error> {
        format_project_name(facts, settings)
    }

    /// Adjusts the record after the generic rules. Default: nothing.
    fn adjust(&self, bug: &mut ParsedBug, facts: &BugFacts) {
        let _ = (bug, facts);
    }
}

/// The generic project name: `bug_project_name_format` with `{tracker_name}`, `{product}`,
/// `{component}`.
pub fn format_project_name(facts: &BugFacts, settings: &ParseSettings) -> Result<String, Error> {
    classify::project_name(
        &settings.project_name_format,
        &settings.tracker_name,
        Some(&facts.component),
        Some(&facts.product),
    )
}

/// Registers `parser` under `name` for the `bugzilla` type, in the shape the importer asks
/// for (`Arc<dyn CustomParser>`). Equivalent to
/// `registry.register_parser("bugzilla", name, Arc::new(parser) as Arc<dyn CustomParser>)`.
pub fn register_custom_parser<'r>(
    registry: &'r mut Registry,
    name: &str,
    parser: impl CustomParser,
) -> &'r mut Registry {
    let parser: Arc<dyn CustomParser> = Arc::new(parser);
    registry.register_parser(KIND, name, parser)
}

/// The name of the generic parser (the default when `custom_parser` is blank).
pub const DEFAULT_PARSER: &str = "bugzilla.BugzillaBugParser";

/// Registers the generic parser and the KDE, GNOME, Mozilla and MediaWiki variants under the
/// original's names.
pub fn register_builtin_parsers(registry: &mut Registry) {
    register_custom_parser(registry, DEFAULT_PARSER, GenericParser);
    register_custom_parser(registry, "bugzilla.KDEBugzilla", KdeBugzilla);
    register_custom_parser(registry, "bugzilla.GnomeBugzilla", GnomeBugzilla);
    register_custom_parser(registry, "bugzilla.MozillaBugParser", MozillaBugParser);
    register_custom_parser(registry, "bugzilla.MediaWikiBugParser", MediaWikiBugParser);
}

/// `bugzilla.BugzillaBugParser`: the generic rules only.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenericParser;

impl CustomParser for GenericParser {}

/// `bugzilla.KDEBugzilla` (bugs.kde.org).
///
/// * `good_for_newcomers` = the keywords contain `junior-jobs` (replaces the configured rule);
/// * a title starting with `JJ:` loses that prefix and the spaces around the rest;
/// * `concerns_just_documentation` = the product is `docs`;
/// * project = the product, renamed for `konqueror` (→ `boomski`, sic, as the original),
///   `digikamimageplugins`, `Network Management`, `telepathy` and `docs`; the format is
///   ignored.
#[derive(Debug, Clone, Copy, Default)]
pub struct KdeBugzilla;

impl CustomParser for KdeBugzilla {
    fn project_name(&self, facts: &BugFacts, _: &ParseSettings) -> Result<String, Error> {
        Ok(match facts.product.as_str() {
            "konqueror" => "boomski",
            "digikamimageplugins" => "digikam image plugins",
            "Network Management" => "KDE Network Management",
            "telepathy" => "telepathy for KDE",
            "docs" => "KDE documentation",
            other => other,
        }
        .to_owned())
    }

    fn adjust(&self, bug: &mut ParsedBug, facts: &BugFacts) {
        bug.good_for_newcomers = Some(facts.has_keyword("junior-jobs"));
        if let Some(rest) = bug.title.as_deref().and_then(|t| t.strip_prefix("JJ:")) {
            bug.title = Some(rest.trim().to_owned());
        }
        bug.concerns_just_documentation = Some(facts.product == "docs");
    }
}

/// `bugzilla.GnomeBugzilla` (bugzilla.gnome.org): project = the product, except `general` →
/// `GNOME (general)` and `website` → `GNOME (website)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GnomeBugzilla;

impl CustomParser for GnomeBugzilla {
    fn project_name(&self, facts: &BugFacts, _: &ParseSettings) -> Result<String, Error> {
        Ok(match facts.product.as_str() {
            "general" => "GNOME (general)".to_owned(),
            "website" => "GNOME (website)".to_owned(),
            other => other.to_owned(),
        })
    }
}

/// `bugzilla.MozillaBugParser` (bugzilla.mozilla.org): project from the original's table;
/// `Other Applications` → `Mozilla <component>`; any other product is prefixed with
/// `Mozilla ` unless it already contains `mozilla` (any case).
#[derive(Debug, Clone, Copy, Default)]
pub struct MozillaBugParser;

impl CustomParser for MozillaBugParser {
    fn project_name(&self, facts: &BugFacts, _: &ParseSettings) -> Result<String, Error> {
        let product = facts.product.as_str();
        let mapped = match product {
            "Core" => Some("Mozilla Core"),
            "MailNews Core" => Some("Mozilla Messaging"),
            "Testing" => Some("Mozilla automated testing"),
            "Directory" => Some("Mozilla LDAP"),
            "Toolkit" => Some("Mozilla Toolkit"),
            "Calendar" => Some("Mozilla Calendar"),
            "Webtools" => Some("Mozilla Webtools"),
            "Input" => Some("Mozilla Input"),
            "Firefox"
            | "addons.mozilla.org"
            | "Thunderbird"
            | "mozilla.org"
            | "SeaMonkey"
            | "support.mozilla.com"
            | "Camino"
            | "Mozilla Localizations"
            | "Mozilla QA"
            | "Mozilla Services"
            | "Fennec" => Some(product),
            _ => None,
        };
        Ok(match mapped {
            Some(name) => name.to_owned(),
            None if product == "Other Applications" => format!("Mozilla {}", facts.component),
            None if product.to_lowercase().contains("mozilla") => product.to_owned(),
            None => format!("Mozilla {product}"),
        })
    }
}

/// `bugzilla.MediaWikiBugParser` (the old bugzilla.wikimedia.org): product
/// `MediaWiki extensions` → the component (with ` for MediaWiki` appended for `FCKeditor` and
/// `Gadgets`); otherwise the product.
#[derive(Debug, Clone, Copy, Default)]
pub struct MediaWikiBugParser;

impl CustomParser for MediaWikiBugParser {
    fn project_name(&self, facts: &BugFacts, _: &ParseSettings) -> Result<String, Error> {
        if facts.product != "MediaWiki extensions" {
            return Ok(facts.product.clone());
        }
        Ok(match facts.component.as_str() {
            c @ ("FCKeditor" | "Gadgets") => format!("{c} for MediaWiki"),
            c => c.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(product: &str, component: &str) -> BugFacts {
        let mut f = BugFacts::new(1);
        f.product = product.into();
        f.component = component.into();
        f
    }

    fn settings() -> ParseSettings {
        let mut s = ParseSettings::new("T", "http://b.example/").unwrap();
        s.project_name_format = "{product}/{component}".into();
        s
    }

    #[test]
    fn generic_uses_the_format() {
        assert_eq!(
            GenericParser
                .project_name(&facts("P", "C"), &settings())
                .unwrap(),
            "P/C"
        );
    }

    #[test]
    fn kde_names_and_adjustments() {
        let s = settings();
        for (p, want) in [
            ("konqueror", "boomski"),
            ("digikamimageplugins", "digikam image plugins"),
            ("Network Management", "KDE Network Management"),
            ("telepathy", "telepathy for KDE"),
            ("docs", "KDE documentation"),
            ("kmail", "kmail"),
        ] {
            assert_eq!(KdeBugzilla.project_name(&facts(p, "x"), &s).unwrap(), want);
        }
        let mut f = facts("docs", "x");
        f.keywords = vec!["junior-jobs".into()];
        let mut bug = ParsedBug::new("l");
        bug.title = Some("JJ:  Fix the thing ".into());
        bug.good_for_newcomers = Some(false);
        KdeBugzilla.adjust(&mut bug, &f);
        assert_eq!(bug.title.as_deref(), Some("Fix the thing"));
        assert_eq!(bug.good_for_newcomers, Some(true));
        assert_eq!(bug.concerns_just_documentation, Some(true));
        let mut bug = ParsedBug::new("l");
        bug.title = Some("Not JJ: here".into());
        KdeBugzilla.adjust(&mut bug, &facts("kmail", ""));
        assert_eq!(bug.title.as_deref(), Some("Not JJ: here"));
        assert_eq!(bug.good_for_newcomers, Some(false));
        assert_eq!(bug.concerns_just_documentation, Some(false));
    }

    #[test]
    fn gnome_mozilla_mediawiki() {
        let s = settings();
        let name = |p: &dyn CustomParser, prod: &str, comp: &str| {
            p.project_name(&facts(prod, comp), &s).unwrap()
        };
        assert_eq!(name(&GnomeBugzilla, "general", ""), "GNOME (general)");
        assert_eq!(name(&GnomeBugzilla, "website", ""), "GNOME (website)");
        assert_eq!(name(&GnomeBugzilla, "gedit", ""), "gedit");
        assert_eq!(name(&MozillaBugParser, "Core", ""), "Mozilla Core");
        assert_eq!(
            name(&MozillaBugParser, "MailNews Core", ""),
            "Mozilla Messaging"
        );
        assert_eq!(name(&MozillaBugParser, "Firefox", ""), "Firefox");
        assert_eq!(name(&MozillaBugParser, "Fennec", ""), "Fennec");
        assert_eq!(
            name(&MozillaBugParser, "Other Applications", "ChatZilla"),
            "Mozilla ChatZilla"
        );
        assert_eq!(name(&MozillaBugParser, "Bugzilla", ""), "Mozilla Bugzilla");
        assert_eq!(
            name(&MozillaBugParser, "Mozilla Developer Network", ""),
            "Mozilla Developer Network"
        );
        assert_eq!(name(&MozillaBugParser, "bmo MOZILLA", ""), "bmo MOZILLA");
        assert_eq!(
            name(&MediaWikiBugParser, "MediaWiki extensions", "Gadgets"),
            "Gadgets for MediaWiki"
        );
        assert_eq!(
            name(&MediaWikiBugParser, "MediaWiki extensions", "FCKeditor"),
            "FCKeditor for MediaWiki"
        );
        assert_eq!(
            name(&MediaWikiBugParser, "MediaWiki extensions", "CategoryTree"),
            "CategoryTree"
        );
        assert_eq!(
            name(&MediaWikiBugParser, "MediaWiki", "Parser"),
            "MediaWiki"
        );
    }

    #[test]
    fn builtins_are_registered_in_the_shape_the_importer_asks_for() {
        let mut r = Registry::new();
        crate::register(&mut r);
        let names = r.parser_names(KIND);
        for n in [
            DEFAULT_PARSER,
            "bugzilla.KDEBugzilla",
            "bugzilla.GnomeBugzilla",
            "bugzilla.MozillaBugParser",
            "bugzilla.MediaWikiBugParser",
        ] {
            assert!(names.iter().any(|k| k == n), "{n} not in {names:?}");
        }
        let mut c = bugimporters_core::TrackerConfig::new("KDE", "bugzilla.BugzillaBugImporter");
        c.base_url = "https://bugs.kde.org/".into();
        c.custom_parser = "KDEBugzilla".into();
        let cx = r.build_context(&c).unwrap();
        let p: Option<Arc<dyn CustomParser>> = cx.custom_parser().unwrap();
        let p = p.unwrap();
        assert_eq!(
            p.project_name(&facts("konqueror", ""), &settings())
                .unwrap(),
            "boomski"
        );
    }
}
