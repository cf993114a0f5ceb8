//! `check`, `parse` and `trackers`: the commands that need no crawl.

use bugimporters_core::{
    Error, ImportOptions, ParseFormatKind, ParseInput, ParseOutput, Registry, TrackerConfig,
};
use serde::Serialize;

/// One line of `bugimporters check --json`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckEntry {
    /// `tracker_name`, or `record N` for a record without one.
    pub tracker_name: String,
    /// Whether an importer could be built.
    pub ok: bool,
    /// The canonical tracker type, when built.
    pub importer: Option<String>,
    /// The parser in use (custom or default), when the type names parsers.
    pub parser: Option<String>,
    /// Why not, when not.
    pub error: Option<String>,
    /// Keys the type does not know (probable typos); a warning, not an error.
    pub unknown_keys: Vec<String>,
}

/// Builds every importer without fetching anything.
pub fn check(registry: &Registry, configs: &[Result<TrackerConfig, Error>]) -> Vec<CheckEntry> {
    configs
        .iter()
        .enumerate()
        .map(|(i, c)| match c {
            Err(e) => CheckEntry {
                tracker_name: format!("record {}", i + 1),
                ok: false,
                importer: None,
                parser: None,
                error: Some(e.to_string()),
                unknown_keys: Vec::new(),
            },
            Ok(config) => match registry.build(config) {
                Ok(built) => CheckEntry {
                    tracker_name: config.tracker_name.clone(),
                    ok: true,
                    importer: Some(built.kind.to_owned()),
                    parser: built.parser,
                    error: None,
                    unknown_keys: built.unknown_keys,
                },
                Err(e) => CheckEntry {
                    tracker_name: config.tracker_name.clone(),
                    ok: false,
                    importer: None,
                    parser: None,
                    error: Some(e.to_string()),
                    unknown_keys: Vec::new(),
                },
            },
        })
        .collect()
}

/// Runs saved responses through a tracker's parser: the `parse` command.
///
/// `config` is the tracker record (its type must offer `format`); `custom_parser` overrides
/// the record's. Files are read by the caller.
pub fn parse_files(
    registry: &Registry,
    mut config: TrackerConfig,
    format: &str,
    custom_parser: Option<&str>,
    input: ParseInput,
) -> Result<ParseOutput, Error> {
    if let Some(p) = custom_parser {
        config.custom_parser = p.to_owned();
    }
    let (factory, pf) = registry.parse_format(format)?;
    let kind = registry.canonical_kind(&config.bugimporter)?;
    if kind != factory.kind() {
        return Err(Error::config(format!(
            "format {format:?} belongs to tracker type {}, but the config's type is {kind}",
            factory.kind()
        )));
    }
    let cx = registry
        .build_context(&config)
        .map_err(|e| e.in_tracker(&config.tracker_name))?;
    let out = factory
        .parse(&cx, format, &input)
        .map_err(|e| e.in_tracker(&config.tracker_name))?;
    let expected = pf.kind;
    match (&out, expected) {
        (ParseOutput::Bugs(_), ParseFormatKind::Bugs)
        | (ParseOutput::BugUrls(_), ParseFormatKind::BugUrls) => Ok(out),
        _ => Err(Error::config(format!(
            "format {format:?} returned the wrong kind of output"
        ))),
    }
}

/// A registered type, for `bugimporters trackers`.
#[derive(Debug, Clone, Serialize)]
pub struct TrackerInfo {
    /// Type name.
    pub kind: String,
    /// Aliases accepted in `bugimporter`.
    pub aliases: Vec<String>,
    /// One line of description.
    pub description: String,
    /// Default parser name.
    pub default_parser: Option<String>,
    /// Registered custom parsers.
    pub custom_parsers: Vec<String>,
    /// Type-specific keys: `(name, required, description)`.
    pub config_keys: Vec<(String, bool, String)>,
    /// `parse` formats.
    pub parse_formats: Vec<String>,
    /// What the type can do.
    pub capabilities: bugimporters_core::Capabilities,
}

/// Every registered type.
pub fn tracker_list(registry: &Registry) -> Vec<TrackerInfo> {
    registry
        .factories()
        .map(|f| TrackerInfo {
            kind: f.kind().to_owned(),
            aliases: f.aliases().iter().map(|a| (*a).to_owned()).collect(),
            description: f.description().to_owned(),
            default_parser: f.default_parser().map(str::to_owned),
            custom_parsers: registry.parser_names(f.kind()),
            config_keys: f
                .config_keys()
                .iter()
                .map(|k| (k.name.to_owned(), k.required, k.description.to_owned()))
                .collect(),
            parse_formats: f
                .parse_formats()
                .iter()
                .map(|p| p.name.to_owned())
                .collect(),
            capabilities: f.capabilities(),
        })
        .collect()
}

/// Options for a `parse` run.
pub fn parse_options(now: chrono::NaiveDateTime, extended_scrape: bool) -> ImportOptions {
    let mut o = ImportOptions::new(now);
    o.extended_scrape = extended_scrape;
    o
}
