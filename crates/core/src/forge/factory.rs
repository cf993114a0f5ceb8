//! [`ForgeFactory`]: the [`ImporterFactory`] of a [`ForgeType`], so that a forge tracker
//! crate says what its type is (names, keys, capabilities, parse formats) and nothing more.

use std::marker::PhantomData;
use std::sync::Arc;

use super::{ForgeImporter, IssueApi, IssueItem};
use crate::{
    BuildContext, Error, Importer, ImporterFactory, LinkScope, ParseFormat, ParseInput,
    ParseOutput, Registry, TrackerConfig, TypeInfo,
};

/// A forge tracker type: an [`IssueApi`] with its names, documentation and parsers.
pub trait ForgeType: IssueApi {
    /// The type's names, description, capabilities, example and keys (the common forge keys
    /// included).
    const INFO: TypeInfo;
    /// The `parse` formats: one issue object, then one page of a listing.
    const FORMATS: [ParseFormat; 2];

    /// The parse settings of `config` for the `parse` command (the configuration may lack
    /// the keys only a crawl needs).
    fn parse_settings(config: &TrackerConfig) -> Result<Self::Settings, Error>;

    /// The links a tracker of this type owns (see [`ImporterFactory::link_scope`]).
    fn link_scope(config: &TrackerConfig) -> Result<LinkScope, Error>;
}

/// The [`ImporterFactory`] of the forge type `A`: builds [`ForgeImporter`]s.
pub struct ForgeFactory<A>(PhantomData<fn() -> A>);

impl<A> ForgeFactory<A> {
    /// The factory.
    pub const fn new() -> Self {
        ForgeFactory(PhantomData)
    }
}

impl<A> Default for ForgeFactory<A> {
    fn default() -> Self {
        ForgeFactory::new()
    }
}

impl<A: ForgeType> std::fmt::Debug for ForgeFactory<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ForgeFactory").field(&A::INFO.kind).finish()
    }
}

/// Registers the forge type `A`.
pub fn register<A: ForgeType>(registry: &mut Registry) {
    registry.register(Arc::new(ForgeFactory::<A>::new()));
}

impl<A: ForgeType> ImporterFactory for ForgeFactory<A> {
    crate::factory_identity!(A::INFO);

    fn build(&self, cx: &BuildContext<'_>) -> Result<Arc<dyn Importer>, Error> {
        Ok(Arc::new(ForgeImporter::<A>::new(cx.config)?))
    }

    fn link_scope(&self, config: &TrackerConfig) -> Result<LinkScope, Error> {
        A::link_scope(config)
    }

    fn parse_formats(&self) -> Vec<ParseFormat> {
        A::FORMATS.to_vec()
    }

    fn parse(
        &self,
        cx: &BuildContext<'_>,
        format: &str,
        input: &ParseInput,
    ) -> Result<ParseOutput, Error> {
        let settings = A::parse_settings(cx.config)?;
        let now = input.options.now;
        let name = input.url_or_path();
        let [one, list] = &A::FORMATS;
        if format == one.name {
            let (_, body) = input.file(0, one.files)?;
            let skipped = |what: &str, link: Option<String>| {
                let link = link.unwrap_or_else(|| "no link".to_owned());
                Err(Error::parse(name.as_str(), format!("{what} ({link})")))
            };
            return match (A::PARSE_ISSUE)(body, &name, &settings, now)? {
                IssueItem::Issue(bug) => Ok(ParseOutput::Bugs(vec![*bug])),
                IssueItem::PullRequest { link } => skipped("a pull request, not an issue", link),
                IssueItem::Skipped { link } => skipped(
                    "a confidential (private) issue: set include_confidential: true to parse it",
                    link,
                ),
            };
        }
        if format == list.name {
            let (_, body) = input.file(0, list.files)?;
            let page = (A::PARSE_ISSUE_LIST)(body, &name, &settings, now)?;
            if let Some(e) = page.errors.into_iter().next() {
                return Err(e);
            }
            return Ok(ParseOutput::Bugs(page.bugs));
        }
        Err(Error::config(format!(
            "tracker type {} has no parse format {format:?} (known: {}, {})",
            A::INFO.kind,
            one.name,
            list.name
        )))
    }
}
