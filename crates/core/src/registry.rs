//! The [`Registry`] of tracker types, aliases, custom parsers and `parse` formats.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::config::COMMON_KEYS;
use crate::{Error, ImportOptions, Importer, LinkScope, ParsedBug, TrackerConfig};

/// One tracker-specific configuration key, for `bugimporters trackers`, `customs` and the docs.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    /// The key as written in the config file.
    pub name: &'static str,
    /// What it means and which values it takes.
    pub description: &'static str,
    /// Whether the type cannot work without it.
    pub required: bool,
}

/// A way a tracker type can authenticate its requests (credentials always come from the
/// environment or the secret source, never from the configuration file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthKind {
    /// No credentials: public data only.
    Anonymous,
    /// A token in the `Authorization` header (`Bearer …` or `token …`) or the API's own token
    /// header (GitLab's `PRIVATE-TOKEN`).
    Token,
    /// HTTP Basic: a user and a password or token.
    Basic,
    /// An API key in the API's own header (`X-Redmine-API-Key`, Bugzilla's `X-BUGZILLA-API-KEY`).
    ApiKey,
}

/// What a tracker type can do, typed, so that `bugimporters trackers` (and its `--json`),
/// `customs` and the docs say the same thing, and tests can hold each type to it.
///
/// Built with the `const` setters from [`Capabilities::NONE`]:
///
/// ```
/// use bugimporters_core::{AuthKind, Capabilities};
/// const CAPS: Capabilities = Capabilities::NONE
///     .incremental()
///     .deletion_detection()
///     .auth(&[AuthKind::Anonymous, AuthKind::Token]);
/// assert!(CAPS.incremental && !CAPS.conditional_requests);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// A query run after the first asks only for bugs changed since the query's `last_polled`
    /// (in at least one of the type's modes; the type's docs say which).
    pub incremental: bool,
    /// Pages and bugs are asked for with the validators of the last answer (`If-None-Match`,
    /// `If-Modified-Since`), so an unchanged one costs a `304` and yields `_no_update`.
    pub conditional_requests: bool,
    /// A held bug the tracker says is gone (404/410 or the API's own not-found) is emitted as
    /// `_deleted`; a refused or failed answer never is.
    pub deletion_detection: bool,
    /// How requests can be authenticated.
    pub auth: &'static [AuthKind],
    /// Custom parsers can be registered for the type (`custom_parser` in the configuration).
    pub custom_parsers: bool,
    /// `bugimporters serve` takes the forge's signed webhooks for trackers of this type
    /// (`POST /hooks/<type>`).
    pub webhooks: bool,
}

impl Capabilities {
    /// Nothing beyond a full, anonymous crawl.
    pub const NONE: Capabilities = Capabilities {
        incremental: false,
        conditional_requests: false,
        deletion_detection: false,
        auth: &[AuthKind::Anonymous],
        custom_parsers: false,
        webhooks: false,
    };

    /// With [`Capabilities::incremental`] set.
    pub const fn incremental(mut self) -> Self {
        self.incremental = true;
        self
    }

    /// With [`Capabilities::conditional_requests`] set.
    pub const fn conditional_requests(mut self) -> Self {
        self.conditional_requests = true;
        self
    }

    /// With [`Capabilities::deletion_detection`] set.
    pub const fn deletion_detection(mut self) -> Self {
        self.deletion_detection = true;
        self
    }

    /// With [`Capabilities::auth`] set to `kinds`.
    pub const fn auth(mut self, kinds: &'static [AuthKind]) -> Self {
        self.auth = kinds;
        self
    }

    /// With [`Capabilities::custom_parsers`] set.
    pub const fn custom_parsers(mut self) -> Self {
        self.custom_parsers = true;
        self
    }

    /// With [`Capabilities::webhooks`] set.
    pub const fn webhooks(mut self) -> Self {
        self.webhooks = true;
        self
    }

    /// The capabilities that are set, by name (`incremental`, `conditional_requests`, …), for
    /// one line of `bugimporters trackers`.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.incremental, "incremental"),
            (self.conditional_requests, "conditional_requests"),
            (self.deletion_detection, "deletion_detection"),
            (self.custom_parsers, "custom_parsers"),
            (self.webhooks, "webhooks"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

/// What a tracker type says of itself, as one table: the answers of the identity methods of
/// its [`ImporterFactory`], which [`crate::factory_identity!`] writes from it.
///
/// ```
/// use bugimporters_core::{AuthKind, Capabilities, TypeInfo};
/// const INFO: TypeInfo = TypeInfo {
///     kind: "echo",
///     aliases: &["echo.EchoBugImporter"],
///     description: "echoes its queries",
///     capabilities: Capabilities::NONE.auth(&[AuthKind::Anonymous]),
///     example_config: "- tracker_name: E\n  bugimporter: echo\n",
///     config_keys: &[],
/// };
/// assert_eq!(INFO.kind, "echo");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TypeInfo {
    /// [`ImporterFactory::kind`].
    pub kind: &'static str,
    /// [`ImporterFactory::aliases`].
    pub aliases: &'static [&'static str],
    /// [`ImporterFactory::description`].
    pub description: &'static str,
    /// [`ImporterFactory::capabilities`]: claim only what the type's tests prove.
    pub capabilities: Capabilities,
    /// [`ImporterFactory::example_config`]: the type's `example.yaml`, the first example of
    /// its docs (a test keeps them equal).
    pub example_config: &'static str,
    /// [`ImporterFactory::config_keys`].
    pub config_keys: &'static [ConfigKey],
}

/// Writes the identity methods of an [`ImporterFactory`] impl (`kind`, `aliases`,
/// `description`, `capabilities`, `example_config`, `config_keys`) from a [`TypeInfo`].
///
/// ```
/// use std::sync::Arc;
/// use bugimporters_core::{BuildContext, Capabilities, Error, Importer, ImporterFactory, TypeInfo};
///
/// const INFO: TypeInfo = TypeInfo {
///     kind: "nothing",
///     aliases: &[],
///     description: "builds nothing",
///     capabilities: Capabilities::NONE,
///     example_config: "",
///     config_keys: &[],
/// };
///
/// #[derive(Debug)]
/// struct NothingFactory;
///
/// impl ImporterFactory for NothingFactory {
///     bugimporters_core::factory_identity!(INFO);
///
///     fn build(&self, _cx: &BuildContext<'_>) -> Result<Arc<dyn Importer>, Error> {
///         Err(Error::config("nothing to build"))
///     }
/// }
/// assert_eq!(NothingFactory.kind(), "nothing");
/// ```
#[macro_export]
macro_rules! factory_identity {
    ($info:expr) => {
        fn kind(&self) -> &'static str {
            $info.kind
        }

        fn aliases(&self) -> &'static [&'static str] {
            $info.aliases
        }

        fn description(&self) -> &'static str {
            $info.description
        }

        fn capabilities(&self) -> $crate::Capabilities {
            $info.capabilities
        }

        fn example_config(&self) -> Option<&'static str> {
            Some($info.example_config)
        }

        fn config_keys(&self) -> &'static [$crate::ConfigKey] {
            $info.config_keys
        }
    };
}

/// Writes the factory of a (non-forge) tracker type from what differs between types: the
/// unit struct (`Debug`, `Clone`, `Copy`, `Default`), its [`ImporterFactory`] impl, and the
/// crate's `register` function.
///
/// * `register:` the doc and name of the registering function, optionally followed by
///   `then PATH`, a `fn(&mut Registry)` that registers more (custom parsers);
/// * `info:` the `aliases`, `description` and `capabilities` of the type's [`TypeInfo`]
///   (see [`crate::factory_identity!`]); the rest follows the crates' conventions: the kind
///   is the crate's `KIND`, the example its `example.yaml` (the first example of
///   `docs/trackers/<kind>.md`, a test keeps them equal), the keys `config::CONFIG_KEYS`;
/// * `formats:` a `[ParseFormat; N]` (its [`ImporterFactory::parse_formats`]);
/// * `build: |cx| EXPR` returns `Result<impl Importer, Error>` from the [`BuildContext`] `cx`;
/// * `parse:` a `fn(&BuildContext, format: &str, &ParseInput) -> Result<ParseOutput, Error>`
///   (its [`ImporterFactory::parse`]; [`ParseFormat::unknown`] words the error of a format
///   it lacks);
/// * everything after is pasted into the [`ImporterFactory`] impl (`link_scope`,
///   `default_parser`, ...).
///
/// Forge types use [`crate::forge::ForgeFactory`] instead.
///
/// ```
/// # mod config { pub const CONFIG_KEYS: &[bugimporters_core::ConfigKey] = &[]; }
/// # macro_rules! include_str { ($p:expr) => { "" }; }
/// use bugimporters_core::{
///     BuildContext, Capabilities, Error, ImporterFactory, ParseFormat, ParseInput,
///     ParseOutput, Registry,
/// };
/// # use bugimporters_core::{ImportContext, Importer};
/// # #[derive(Debug)]
/// # struct Never;
/// # #[async_trait::async_trait]
/// # impl Importer for Never {
/// #     async fn process_queries(&self, _: &ImportContext) -> Result<(), Error> { Ok(()) }
/// #     async fn process_existing_bugs(&self, _: &ImportContext, _: &[String])
/// #         -> Result<(), Error> { Ok(()) }
/// # }
///
/// const KIND: &str = "nothing";
/// const FORMATS: [ParseFormat; 1] = [ParseFormat::bugs("nothing-json", "one JSON", "none")];
///
/// fn parse(_: &BuildContext<'_>, format: &str, _: &ParseInput) -> Result<ParseOutput, Error> {
///     Err(ParseFormat::unknown(KIND, format, &FORMATS))
/// }
///
/// bugimporters_core::tracker_factory! {
///     /// Factory of the `nothing` type.
///     pub struct NothingFactory;
///     register: /// Registers the `nothing` type.
///         fn register;
///     info: {
///         aliases: &["nothing.NothingBugImporter"],
///         description: "builds nothing",
///         capabilities: Capabilities::NONE,
///     },
///     formats: FORMATS,
///     build: |_cx| Err::<Never, _>(Error::config("nothing to build")),
///     parse: parse,
///
///     fn default_parser(&self) -> Option<&'static str> {
///         Some("nothing.Parser")
///     }
/// }
///
/// let mut registry = Registry::new();
/// register(&mut registry);
/// assert_eq!(NothingFactory.default_parser(), Some("nothing.Parser"));
/// assert_eq!(NothingFactory.parse_formats()[0].name, "nothing-json");
/// assert_eq!(registry.canonical_kind("nothing.NothingBugImporter").unwrap(), "nothing");
/// ```
#[macro_export]
macro_rules! tracker_factory {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident;
        register: $(#[$rmeta:meta])* fn $register:ident $(then $extra:path)?;
        info: {
            aliases: $aliases:expr,
            description: $description:expr,
            capabilities: $capabilities:expr $(,)?
        },
        formats: $formats:expr,
        build: |$cx:ident| $build:expr,
        parse: $parse:path,
        $($body:tt)*
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;

        $(#[$rmeta])*
        $vis fn $register(registry: &mut $crate::Registry) {
            registry.register(::std::sync::Arc::new($name));
            $($extra(registry);)?
        }

        impl $name {
            const INFO: $crate::TypeInfo = $crate::TypeInfo {
                kind: KIND,
                aliases: $aliases,
                description: $description,
                capabilities: $capabilities,
                example_config: include_str!("../example.yaml"),
                config_keys: config::CONFIG_KEYS,
            };
        }

        impl $crate::ImporterFactory for $name {
            $crate::factory_identity!(Self::INFO);

            fn build(
                &self,
                $cx: &$crate::BuildContext<'_>,
            ) -> ::std::result::Result<::std::sync::Arc<dyn $crate::Importer>, $crate::Error> {
                Ok(::std::sync::Arc::new($build?))
            }

            fn parse_formats(&self) -> ::std::vec::Vec<$crate::ParseFormat> {
                $formats.to_vec()
            }

            fn parse(
                &self,
                cx: &$crate::BuildContext<'_>,
                format: &str,
                input: &$crate::ParseInput,
            ) -> ::std::result::Result<$crate::ParseOutput, $crate::Error> {
                $parse(cx, format, input)
            }

            $($body)*
        }
    };
}

/// Whether a `parse` format yields bugs or bug URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseFormatKind {
    /// One or more [`ParsedBug`]s (printed as JSON lines).
    Bugs,
    /// Bug URLs a query response names (printed one per line).
    BugUrls,
}

/// A saved-response format that `bugimporters parse` can read without a network.
#[derive(Debug, Clone, Copy)]
pub struct ParseFormat {
    /// Name given to `--format` (`trac-ticket`).
    pub name: &'static str,
    /// What it yields.
    pub kind: ParseFormatKind,
    /// The FILE arguments it expects, in order (`ticket CSV, then ticket HTML`).
    pub files: &'static str,
    /// One line of description.
    pub description: &'static str,
}

impl ParseFormat {
    /// A format of `files` that yields bugs.
    pub const fn bugs(name: &'static str, files: &'static str, description: &'static str) -> Self {
        ParseFormat {
            name,
            kind: ParseFormatKind::Bugs,
            files,
            description,
        }
    }

    /// A format of `files` that yields bug URLs.
    pub const fn bug_urls(
        name: &'static str,
        files: &'static str,
        description: &'static str,
    ) -> Self {
        ParseFormat {
            name,
            kind: ParseFormatKind::BugUrls,
            files,
            description,
        }
    }

    /// The error of a `parse` run given a `format` that tracker type `kind` lacks; `known`
    /// are the type's formats, named in the message.
    ///
    /// ```
    /// use bugimporters_core::ParseFormat;
    /// let known = [ParseFormat::bugs("a-json", "one JSON", "a")];
    /// let e = ParseFormat::unknown("a", "b-json", &known);
    /// assert!(e.to_string().contains("no parse format \"b-json\" (known: a-json)"));
    /// ```
    pub fn unknown(kind: &str, format: &str, known: &[ParseFormat]) -> Error {
        let names: Vec<&str> = known.iter().map(|f| f.name).collect();
        Error::config(format!(
            "tracker type {kind} has no parse format {format:?} (known: {})",
            names.join(", ")
        ))
    }
}

/// Input of a `parse` run: the files' contents and what the crawl would have known.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ParseInput {
    /// `(path, content)` of each FILE, in order.
    pub files: Vec<(String, Bytes)>,
    /// The URL the response was fetched from (`--url`), if given.
    pub url: Option<String>,
    /// Clock and flags.
    pub options: ImportOptions,
}

impl ParseInput {
    /// Input of `files` with options `options`.
    pub fn new(files: Vec<(String, Bytes)>, url: Option<String>, options: ImportOptions) -> Self {
        ParseInput {
            files,
            url,
            options,
        }
    }

    /// The `i`th file, or an error naming the format's expected files.
    pub fn file(&self, i: usize, expected: &str) -> Result<&(String, Bytes), Error> {
        self.files.get(i).ok_or_else(|| {
            Error::config(format!(
                "missing FILE argument {} (this format reads: {expected})",
                i + 1
            ))
        })
    }

    /// The URL, or the path of the first file when none was given (for error messages and
    /// canonical links).
    pub fn url_or_path(&self) -> String {
        self.url
            .clone()
            .or_else(|| self.files.first().map(|f| f.0.clone()))
            .unwrap_or_default()
    }
}

/// Output of a `parse` run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ParseOutput {
    /// Bugs, in document order.
    Bugs(Vec<ParsedBug>),
    /// Bug URLs, in document order.
    BugUrls(Vec<String>),
}

/// What a factory sees when it builds an importer or parses a saved response.
#[derive(Debug)]
#[non_exhaustive]
pub struct BuildContext<'a> {
    /// The tracker's configuration.
    pub config: &'a TrackerConfig,
    /// The registry (for custom parsers).
    pub registry: &'a Registry,
    /// The resolved custom parser name, when the configuration names one.
    pub custom_parser: Option<String>,
}

impl BuildContext<'_> {
    /// The custom parser of type `P` that the configuration selects, if any. Tracker crates
    /// register parsers as `Arc<dyn TheirParserTrait>` and ask for that type here.
    pub fn custom_parser<P: Any + Send + Sync + Clone>(&self) -> Result<Option<P>, Error> {
        let Some(name) = &self.custom_parser else {
            return Ok(None);
        };
        let kind = self.registry.canonical_kind(&self.config.bugimporter)?;
        let registered = self
            .registry
            .parsers
            .get(&(kind.to_owned(), name.clone()))
            .ok_or_else(|| Error::UnknownParser {
                kind: kind.to_owned(),
                name: name.clone(),
                known: self.registry.parser_names(kind).join(", "),
            })?;
        // Registered, but as another type than the tracker reads (usually `Arc<MyParser>`
        // where the tracker wants `Arc<dyn CustomParser>`): say so, not "unknown".
        let parser = registered.downcast_ref::<P>().ok_or_else(|| {
            Error::config(format!(
                "custom parser {name:?} of type {kind} is registered as another type than \
                 the {kind} tracker reads ({}); register it as that type, e.g. \
                 `Arc::new(MyParser) as Arc<dyn CustomParser>`",
                std::any::type_name::<P>()
            ))
        })?;
        Ok(Some(parser.clone()))
    }
}

/// A tracker type: builds importers from configuration records and parses saved responses.
///
/// Tracker crates implement this once and expose `register(&mut Registry)`.
pub trait ImporterFactory: std::fmt::Debug + Send + Sync + 'static {
    /// The type name (`trac`).
    fn kind(&self) -> &'static str;

    /// Other names accepted in `bugimporter` (the original's `trac.TracBugImporter`).
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    /// One line describing the tracker type.
    fn description(&self) -> &'static str {
        ""
    }

    /// The type-specific keys this type reads, besides the common ones.
    fn config_keys(&self) -> &'static [ConfigKey] {
        &[]
    }

    /// What the type can do ([`Capabilities`]); the default claims nothing beyond a full,
    /// anonymous crawl. Claim only what the type's tests prove.
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }

    /// An example configuration: a YAML list of one or more records of this type, every one
    /// loadable and buildable without a network. The type's docs show the same text; fuzzing
    /// builds its configurations from it, and tests load, build and round-trip it through the
    /// host database. `None` (the default) leaves the type out of all of that.
    fn example_config(&self) -> Option<&'static str> {
        None
    }

    /// Name of the parser used when `custom_parser` is empty (`bugzilla.BugzillaBugParser`).
    fn default_parser(&self) -> Option<&'static str> {
        None
    }

    /// Builds an importer for `cx.config`. Check everything that can be checked without a
    /// network here, so that `bugimporters check` catches it.
    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Importer>, Error>;

    /// The links a tracker of this type with `config` owns: the only `canonical_bug_link`s its
    /// records may carry ([`crate::ImportContext::emit`] drops the others, and the host
    /// database refuses them on import). The default owns everything under `base_url`; types
    /// whose links live elsewhere (GitHub's web host, Jira's `/browse/`, ...) override it.
    /// Keep it as tight as the type's canonical-link builder allows: a wider scope lets a
    /// hostile server of this tracker claim links of other trackers.
    fn link_scope(&self, config: &TrackerConfig) -> Result<LinkScope, Error> {
        LinkScope::under(config.base_url_with_slash()?.as_str())
    }

    /// The `parse` formats this type offers.
    fn parse_formats(&self) -> Vec<ParseFormat> {
        Vec::new()
    }

    /// Parses saved responses in `format` (one of [`ImporterFactory::parse_formats`]).
    fn parse(
        &self,
        cx: &BuildContext<'_>,
        format: &str,
        input: &ParseInput,
    ) -> Result<ParseOutput, Error> {
        let _ = (cx, input);
        Err(Error::config(format!(
            "tracker type {} has no parse format {format:?}",
            self.kind()
        )))
    }
}

/// An importer built from a configuration record, with the names `check` reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BuiltImporter {
    /// The importer.
    pub importer: Arc<dyn Importer>,
    /// The canonical type name.
    pub kind: &'static str,
    /// The parser in use (custom or the type's default), if the type names parsers.
    pub parser: Option<String>,
    /// Keys of the record that this type does not know (probably typos).
    pub unknown_keys: Vec<String>,
}

/// Tracker types, their aliases and custom parsers. An owned value: build one, let tracker
/// crates `register` into it, and pass it to the crawl. A later registration of a name replaces
/// an earlier one, so a third party can override a built-in type or parser.
#[derive(Default)]
pub struct Registry {
    factories: BTreeMap<&'static str, Arc<dyn ImporterFactory>>,
    aliases: BTreeMap<String, &'static str>,
    parsers: BTreeMap<(String, String), Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("types", &self.factories.keys().collect::<Vec<_>>())
            .field("parsers", &self.parsers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Registers a tracker type under its kind and aliases.
    pub fn register(&mut self, factory: Arc<dyn ImporterFactory>) -> &mut Self {
        let kind = factory.kind();
        for alias in factory.aliases() {
            self.aliases.insert((*alias).to_owned(), kind);
        }
        self.aliases.insert(kind.to_owned(), kind);
        self.factories.insert(kind, factory);
        self
    }

    /// Registers a named custom parser for tracker type `kind`. `parser` is whatever the
    /// tracker crate asks for with [`BuildContext::custom_parser`] (for Bugzilla an
    /// `Arc<dyn bugimporters_bugzilla::CustomParser>`).
    pub fn register_parser<P: Any + Send + Sync>(
        &mut self,
        kind: &str,
        name: &str,
        parser: P,
    ) -> &mut Self {
        self.parsers
            .insert((kind.to_owned(), name.to_owned()), Arc::new(parser));
        self
    }

    /// The canonical type name for a kind, alias or dotted class name.
    pub fn canonical_kind(&self, name: &str) -> Result<&'static str, Error> {
        self.aliases
            .get(name.trim())
            .copied()
            .ok_or_else(|| Error::UnknownType {
                name: name.to_owned(),
                known: self.aliases.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    /// The factory for a kind, alias or dotted class name; an unknown name is an error listing
    /// the known ones.
    pub fn factory(&self, name: &str) -> Result<&Arc<dyn ImporterFactory>, Error> {
        let kind = self.canonical_kind(name)?;
        Ok(&self.factories[kind])
    }

    /// Every registered factory, by kind.
    pub fn factories(&self) -> impl Iterator<Item = &Arc<dyn ImporterFactory>> {
        self.factories.values()
    }

    /// Custom parser names registered for `kind`.
    pub fn parser_names(&self, kind: &str) -> Vec<String> {
        self.parsers
            .keys()
            .filter(|(k, _)| k == kind)
            .map(|(_, n)| n.clone())
            .collect()
    }

    /// Resolves `custom_parser` for `config`: `None` when empty, the registered name when
    /// known (also accepted without the `kind.` prefix), else an error listing the known ones.
    pub fn resolve_parser(&self, config: &TrackerConfig) -> Result<Option<String>, Error> {
        let name = config.custom_parser.trim();
        if name.is_empty() {
            return Ok(None);
        }
        let kind = self.canonical_kind(&config.bugimporter)?;
        let known = self.parser_names(kind);
        let prefixed = format!("{kind}.{name}");
        for candidate in [name, prefixed.as_str()] {
            if known.iter().any(|k| k == candidate) {
                return Ok(Some(candidate.to_owned()));
            }
        }
        Err(Error::UnknownParser {
            kind: kind.to_owned(),
            name: name.to_owned(),
            known: if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            },
        })
    }

    /// Keys of `config` that neither the common set nor its type knows.
    pub fn unknown_keys(&self, config: &TrackerConfig) -> Vec<String> {
        let Ok(factory) = self.factory(&config.bugimporter) else {
            return Vec::new();
        };
        let keys = factory.config_keys();
        config
            .extra
            .keys()
            .filter(|k| !COMMON_KEYS.contains(&k.as_str()) && !keys.iter().any(|c| c.name == *k))
            .cloned()
            .collect()
    }

    /// The build context for `config` (type and custom parser resolved).
    pub fn build_context<'a>(
        &'a self,
        config: &'a TrackerConfig,
    ) -> Result<BuildContext<'a>, Error> {
        self.canonical_kind(&config.bugimporter)?;
        Ok(BuildContext {
            config,
            registry: self,
            custom_parser: self.resolve_parser(config)?,
        })
    }

    /// Builds the importer for `config`; errors name the tracker.
    pub fn build(&self, config: &TrackerConfig) -> Result<BuiltImporter, Error> {
        let inner = || -> Result<BuiltImporter, Error> {
            config.validate()?;
            let factory = self.factory(&config.bugimporter)?;
            let cx = self.build_context(config)?;
            let importer = factory.build(&cx)?;
            Ok(BuiltImporter {
                importer,
                kind: factory.kind(),
                parser: cx
                    .custom_parser
                    .clone()
                    .or_else(|| factory.default_parser().map(str::to_owned)),
                unknown_keys: self.unknown_keys(config),
            })
        };
        inner().map_err(|e| e.in_tracker(&config.tracker_name))
    }

    /// The links the tracker of `config` owns (its type's [`ImporterFactory::link_scope`]);
    /// errors name the tracker.
    pub fn link_scope(&self, config: &TrackerConfig) -> Result<LinkScope, Error> {
        self.factory(&config.bugimporter)
            .and_then(|f| f.link_scope(config))
            .map_err(|e| e.in_tracker(&config.tracker_name))
    }

    /// The factory offering `parse` format `format`, or an error listing the known formats.
    pub fn parse_format(
        &self,
        format: &str,
    ) -> Result<(&Arc<dyn ImporterFactory>, ParseFormat), Error> {
        for f in self.factories.values() {
            if let Some(pf) = f.parse_formats().into_iter().find(|p| p.name == format) {
                return Ok((f, pf));
            }
        }
        let known: Vec<&str> = self
            .factories
            .values()
            .flat_map(|f| f.parse_formats())
            .map(|p| p.name)
            .collect();
        Err(Error::config(format!(
            "unknown parse format {format:?}; known formats: {}",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ImportContext;
    use async_trait::async_trait;

    #[derive(Debug)]
    struct Nop;

    #[async_trait]
    impl Importer for Nop {
        async fn process_queries(&self, _: &ImportContext) -> Result<(), Error> {
            Ok(())
        }
        async fn process_existing_bugs(
            &self,
            _: &ImportContext,
            _: &[String],
        ) -> Result<(), Error> {
            Ok(())
        }
    }

    #[derive(Debug)]
    struct F;

    impl ImporterFactory for F {
        fn kind(&self) -> &'static str {
            "trac"
        }
        fn aliases(&self) -> &'static [&'static str] {
            &["trac.TracBugImporter"]
        }
        fn config_keys(&self) -> &'static [ConfigKey] {
            &[ConfigKey {
                name: "old_trac",
                description: "",
                required: false,
            }]
        }
        fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Importer>, Error> {
            let _p: Option<Arc<String>> = cx.custom_parser()?;
            Ok(Arc::new(Nop))
        }
    }

    fn registry() -> Registry {
        let mut r = Registry::new();
        r.register(Arc::new(F));
        r.register_parser("trac", "trac.Special", Arc::new("special".to_owned()));
        r
    }

    #[test]
    fn aliases_and_dotted_names_resolve() {
        let r = registry();
        assert_eq!(r.canonical_kind("trac").unwrap(), "trac");
        assert_eq!(r.canonical_kind("trac.TracBugImporter").unwrap(), "trac");
        let e = r.canonical_kind("tracc").unwrap_err().to_string();
        assert!(
            e.contains("tracc") && e.contains("trac.TracBugImporter"),
            "{e}"
        );
    }

    #[test]
    fn custom_parsers_resolve_or_fail_listing_known() {
        let r = registry();
        let mut c = TrackerConfig::new("t", "trac");
        c.base_url = "http://x/".into();
        c.custom_parser = "Special".into();
        let built = r.build(&c).unwrap();
        assert_eq!(built.parser.as_deref(), Some("trac.Special"));
        c.custom_parser = "fedora-electronic-lab".into();
        let e = r.build(&c).unwrap_err().to_string();
        assert!(
            e.contains("\"t\"")
                && e.contains("fedora-electronic-lab")
                && e.contains("trac.Special"),
            "{e}"
        );
    }

    #[test]
    fn a_parser_registered_as_another_type_says_so() {
        let mut r = registry();
        r.register_parser("trac", "trac.Wrong", 5u32);
        let mut c = TrackerConfig::new("t", "trac");
        c.base_url = "http://x/".into();
        c.custom_parser = "Wrong".into();
        let cx = r.build_context(&c).unwrap();
        assert_eq!(cx.custom_parser::<u32>().unwrap(), Some(5));
        let e = cx.custom_parser::<String>().unwrap_err().to_string();
        assert!(
            e.contains("registered as another type") && e.contains("as Arc<dyn CustomParser>"),
            "{e}"
        );
        assert!(!e.contains("unknown"), "{e}");
    }

    #[test]
    fn unknown_keys_are_reported() {
        let r = registry();
        let mut c = TrackerConfig::new("t", "trac");
        c.extra.insert("old_trac".into(), true.into());
        c.extra.insert("bitesized_typo".into(), "x".into());
        assert_eq!(r.unknown_keys(&c), vec!["bitesized_typo".to_owned()]);
    }
}
