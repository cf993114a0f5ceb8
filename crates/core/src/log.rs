//! The one log setup of every bugimporters binary: `tracing` to standard error, through a
//! writer that scrubs secrets (see [`crate::redact`]).
//!
//! * Text logs escape control characters in every field and message (a tracker name holding
//!   `\n`, `\r` or an ESC sequence cannot forge a line or paint the terminal): see
//!   [`escape_controls`].
//! * ANSI colours only when standard error is a terminal and `NO_COLOR` is unset or empty
//!   (<https://no-color.org>): see [`colour_wanted`].
//! * JSON logs (`--log-format json`) are escaped by the JSON encoder and scrubbed the same way.
//!
//! ```no_run
//! bugimporters_core::log::LogSetup::new("info").init();
//! tracing::info!(tracker = "Twisted\nforged line", "crawl finished");
//! ```

use std::io::{IsTerminal, Write};

use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::MakeWriter;

/// How a binary logs. Build with [`LogSetup::new`], then [`LogSetup::init`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LogSetup {
    /// JSON lines instead of text.
    pub json: bool,
    /// The filter when `RUST_LOG` is unset or invalid (`info`, `warn`, ...).
    pub default_filter: String,
    /// Show the module path of each event.
    pub show_target: bool,
}

impl LogSetup {
    /// Text logs at `default_filter` (overridden by `RUST_LOG`), with targets.
    pub fn new(default_filter: &str) -> Self {
        LogSetup {
            json: false,
            default_filter: default_filter.to_owned(),
            show_target: true,
        }
    }

    /// JSON lines when `json` is set.
    pub fn json(mut self, json: bool) -> Self {
        self.json = json;
        self
    }

    /// Whether events show their module path.
    pub fn show_target(mut self, show: bool) -> Self {
        self.show_target = show;
        self
    }

    /// Installs the global subscriber (a no-op when one is already installed).
    pub fn init(self) {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&self.default_filter));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(self.show_target)
            .with_writer(RedactingStderr);
        let _ = if self.json {
            builder.json().try_init()
        } else {
            let fields = tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
                let raw = format!("{value:?}");
                let text = escape_controls(&raw);
                if field.name() == "message" {
                    w.write_str(&text)
                } else {
                    write!(w, "{field}={text}")
                }
            })
            .delimited(" ");
            builder
                .with_ansi(colour_wanted(
                    std::io::stderr().is_terminal(),
                    std::env::var_os("NO_COLOR").as_deref(),
                ))
                .fmt_fields(fields)
                .try_init()
        };
    }
}

/// Whether text logs are coloured: only on a terminal, and never when `no_color` (the value
/// of `NO_COLOR`) is set to a non-empty value, as <https://no-color.org> asks.
pub fn colour_wanted(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// `text` with control characters (`\n`, `\r`, ESC, ...), the Unicode line and paragraph
/// separators and the bidirectional overrides escaped as Rust escapes (`\n`, `\u{1b}`), so
/// that one event stays one line and cannot send terminal sequences.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.contains(bad) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if bad(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The log writer: each event is buffered, scrubbed of secrets and written to standard error
/// in one piece.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactingStderr;

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = ScrubbedEvent;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbedEvent(Vec::with_capacity(256))
    }
}

/// One event being written by [`RedactingStderr`]; it reaches standard error, scrubbed, when
/// it is dropped.
#[derive(Debug)]
pub struct ScrubbedEvent(Vec<u8>);

impl Write for ScrubbedEvent {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ScrubbedEvent {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let scrubbed = crate::redact::scrub_bytes(&self.0);
        let _ = std::io::stderr().lock().write_all(&scrubbed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped() {
        assert_eq!(
            escape_controls("T\nfake\r\u{1b}[31m\u{202e}"),
            "T\\nfake\\r\\u{1b}[31m\\u{202e}"
        );
        assert!(matches!(
            escape_controls("plain é"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(colour_wanted(true, None));
        assert!(
            colour_wanted(true, Some(OsStr::new(""))),
            "empty counts as unset"
        );
        assert!(!colour_wanted(true, Some(OsStr::new("1"))));
        assert!(!colour_wanted(false, None));
    }
}
