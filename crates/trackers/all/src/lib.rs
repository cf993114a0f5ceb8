//! # bugimporters-all
//!
//! The built-in registry: [`default_registry`] registers every tracker crate compiled in, one
//! cargo feature per tracker (all on by default). Embedders that want only some trackers turn
//! default features off and pick theirs; third-party trackers are registered on the returned
//! [`Registry`] the same way.
//!
//! ```
//! let registry = bugimporters_all::default_registry();
//! for factory in registry.factories() {
//!     println!("{}", factory.kind());
//! }
//! ```

#![deny(missing_docs)]

use bugimporters_core::Registry;

/// A registry with every tracker type compiled into this build.
pub fn default_registry() -> Registry {
    #[allow(unused_mut)]
    let mut registry = Registry::new();
    #[cfg(feature = "bugzilla")]
    bugimporters_bugzilla::register(&mut registry);
    #[cfg(feature = "github")]
    bugimporters_github::register(&mut registry);
    #[cfg(feature = "gitea")]
    bugimporters_gitea::register(&mut registry);
    #[cfg(feature = "gitlab")]
    bugimporters_gitlab::register(&mut registry);
    #[cfg(feature = "pagure")]
    bugimporters_pagure::register(&mut registry);
    #[cfg(feature = "jira")]
    bugimporters_jira::register(&mut registry);
    #[cfg(feature = "launchpad")]
    bugimporters_launchpad::register(&mut registry);
    #[cfg(feature = "roundup")]
    bugimporters_roundup::register(&mut registry);
    #[cfg(feature = "trac")]
    bugimporters_trac::register(&mut registry);
    #[cfg(feature = "redmine")]
    bugimporters_redmine::register(&mut registry);
    #[cfg(feature = "phabricator")]
    bugimporters_phabricator::register(&mut registry);
    registry
}
