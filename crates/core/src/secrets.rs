//! Where importers read credentials: a [`SecretSource`] handed to them through
//! [`crate::ImportOptions::secrets`] and read with [`crate::ImportContext::secret`].
//!
//! * [`EnvSecrets`] (the default): the process environment, as the original importers did.
//! * [`FileSecrets`]: a file of `NAME=value` lines (`--secrets-file`), so credentials need not
//!   be in the environment of the whole process (nor of its children, nor in `/proc/PID/environ`).
//! * [`FixedSecrets`]: an in-memory map, for tests and for programs embedding the crawler —
//!   no test needs `std::env::set_var` (racy between the threads of a test binary).
//! * [`Layered`]: the first source that has the name wins (`--secrets-file`, then the environment).
//!
//! Secrets come only from a source, never from the configuration file; a configuration names
//! the variable (`token_env: MY_TOKEN`). Every value an importer reads through the context is
//! registered with [`crate::redact`], so no log line, error, report or recording shows it.
//!
//! ```
//! use std::sync::Arc;
//! use bugimporters_core::secrets::{FixedSecrets, Layered, SecretSource};
//!
//! let file = FixedSecrets::new().with("GITHUB_TOKEN", "from-the-file");
//! let env = FixedSecrets::new().with("GITHUB_TOKEN", "from-env").with("GITLAB_TOKEN", "gl");
//! let both = Layered::new(vec![Arc::new(file), Arc::new(env)]);
//! assert_eq!(both.get("GITHUB_TOKEN").as_deref(), Some("from-the-file"));
//! assert_eq!(both.get("GITLAB_TOKEN").as_deref(), Some("gl"));
//! assert_eq!(both.get("JIRA_TOKEN"), None);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::Error;

/// A source of named secrets. Empty values count as unset.
pub trait SecretSource: fmt::Debug + Send + Sync {
    /// The value of `name`; `None` when unset or empty.
    fn get(&self, name: &str) -> Option<String>;
}

/// Secrets from the process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvSecrets;

impl SecretSource for EnvSecrets {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

/// Secrets from a fixed map of names to values; its `Debug` shows the names only.
#[derive(Clone, Default)]
pub struct FixedSecrets(BTreeMap<String, String>);

impl FixedSecrets {
    /// No secrets.
    pub fn new() -> FixedSecrets {
        FixedSecrets::default()
    }

    /// These secrets plus `name` = `value`.
    pub fn with(mut self, name: &str, value: &str) -> FixedSecrets {
        self.0.insert(name.to_owned(), value.to_owned());
        self
    }

    /// The names held, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

impl<const N: usize> From<[(&str, &str); N]> for FixedSecrets {
    /// `FixedSecrets::from([("GITHUB_TOKEN", "t")])`.
    fn from(pairs: [(&str, &str); N]) -> FixedSecrets {
        pairs
            .into_iter()
            .fold(FixedSecrets::new(), |s, (name, value)| s.with(name, value))
    }
}

impl fmt::Debug for FixedSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FixedSecrets")
            .field(&self.0.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SecretSource for FixedSecrets {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|v| !v.is_empty()).cloned()
    }
}

/// Secrets read once from a file of `NAME=value` lines (`--secrets-file`).
///
/// Blank lines and lines starting with `#` are skipped; `export NAME=value` is accepted (so a
/// shell file can serve); a value in matching single or double quotes loses them (no escapes
/// are interpreted); the rest of the line after `=` is the value, spaces included. A line
/// without `=`, or with a name that is not `[A-Za-z_][A-Za-z0-9_]*`, is an error naming the
/// file and the line — never showing the line, which may hold a secret.
#[derive(Clone)]
pub struct FileSecrets {
    path: String,
    values: FixedSecrets,
}

impl FileSecrets {
    /// Reads `path`. On Unix a file that its group or others may read is accepted with a
    /// warning in the log (container secrets are often mounted so).
    pub fn load(path: &Path) -> Result<FileSecrets, Error> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::config(format!("secrets file {shown}: {e}")))?;
        warn_if_readable_by_others(path);
        let values = parse_lines(&text)
            .map_err(|line| Error::config(format!("secrets file {shown}, line {line}: expected NAME=value (NAME of letters, digits and _)")))?;
        Ok(FileSecrets {
            path: shown,
            values,
        })
    }
}

impl fmt::Debug for FileSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSecrets")
            .field("path", &self.path)
            .field("names", &self.values.names().collect::<Vec<_>>())
            .finish()
    }
}

impl SecretSource for FileSecrets {
    fn get(&self, name: &str) -> Option<String> {
        self.values.get(name)
    }
}

/// The `NAME=value` lines of `text`; `Err(line number)` at the first bad line.
fn parse_lines(text: &str) -> Result<FixedSecrets, usize> {
    let mut out = FixedSecrets::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (name, value) = line.split_once('=').ok_or(i + 1)?;
        let name = name.trim();
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(i + 1);
        }
        let value = value.trim_end_matches(['\r', '\n']);
        out = out.with(name, unquote(value));
    }
    Ok(out)
}

/// `value` without one pair of matching surrounding quotes.
fn unquote(value: &str) -> &str {
    for q in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(q) && value.ends_with(q) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                "the secrets file may be read by other users (chmod 600 it)"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}

/// Several sources: the first that has a name gives its value.
#[derive(Debug, Clone)]
pub struct Layered(Vec<Arc<dyn SecretSource>>);

impl Layered {
    /// `sources`, asked in order.
    pub fn new(sources: Vec<Arc<dyn SecretSource>>) -> Layered {
        Layered(sources)
    }
}

impl SecretSource for Layered {
    fn get(&self, name: &str) -> Option<String> {
        self.0.iter().find_map(|s| s.get(name))
    }
}

/// `--secrets-file PATH` then the environment, or the environment alone.
pub fn from_file_then_env(path: Option<&Path>) -> Result<Arc<dyn SecretSource>, Error> {
    Ok(match path {
        Some(p) => Arc::new(Layered::new(vec![
            Arc::new(FileSecrets::load(p)?),
            Arc::new(EnvSecrets),
        ])),
        None => Arc::new(EnvSecrets),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_quotes_comments_and_export() {
        let s = parse_lines(
            "# comment\n\nGITHUB_TOKEN=ghp abc\nexport JIRA_TOKEN='q=1'\r\n  GL=\"x\"\nEMPTY=\n",
        )
        .unwrap();
        assert_eq!(s.get("GITHUB_TOKEN").as_deref(), Some("ghp abc"));
        assert_eq!(s.get("JIRA_TOKEN").as_deref(), Some("q=1"));
        assert_eq!(s.get("GL").as_deref(), Some("x"));
        assert_eq!(s.get("EMPTY"), None, "empty counts as unset");
    }

    #[test]
    fn a_bad_line_is_named_by_number_only() {
        assert_eq!(parse_lines("A=1\nthis-is-the-s3cret\n").unwrap_err(), 2);
        assert_eq!(parse_lines("1A=x").unwrap_err(), 1);
        assert_eq!(parse_lines("A B=x").unwrap_err(), 1);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.env");
        std::fs::write(&path, "OK=1\nhunter2-token\n").unwrap();
        let e = FileSecrets::load(&path).unwrap_err().to_string();
        assert!(e.contains("secrets.env, line 2"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn debug_shows_names_never_values() {
        let s = FixedSecrets::new().with("TOKEN", "s3cr3t-value");
        let shown = format!("{s:?}");
        assert!(
            shown.contains("TOKEN") && !shown.contains("s3cr3t"),
            "{shown}"
        );
    }
}
