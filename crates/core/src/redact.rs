//! Central redaction of secrets: one process-wide redactor that every sink (the log writer,
//! the run report, `--record` recordings, errors printed by the binaries) passes its text
//! through.
//!
//! Two kinds of text are scrubbed and replaced by [`REDACTED`]:
//!
//! * every secret value read for the run: [`crate::ImportContext::secret`] registers the
//!   value it returns (see [`register`]), in the forms it may be printed in (as is,
//!   percent-encoded, JSON- or `Debug`-escaped);
//! * the value of every URL query parameter whose name carries a secret (`token`,
//!   `access_token`, `private_token`, `api_key`, `key`, `password`, `sig`, ... — see
//!   [`is_secret_param`]), whether or not the value is a registered secret.
//!
//! A hostile server that echoes a token (in a redirect's `Location`, in a body quoted by a
//! parse error or by the excerpt of an [`crate::Error::Status`]) therefore
//! cannot get it into a log line, the report or a recording. Body excerpts are also cut to
//! [`crate::BODY_EXCERPT_MAX`] bytes and have the request's own secrets removed before any
//! sink sees them ([`crate::body_excerpt`]). The sinks
//! scrub in one place each: [`crate::log`]'s writer, the report serialisation in
//! `bugimporters-crawl`, and the fetch layer's recorder.
//!
//! ```
//! use bugimporters_core::redact;
//! redact::register("s3cr3t-t0ken-value");
//! assert_eq!(
//!     redact::scrub("GET http://x/a?page=2&access_token=abc then s3cr3t-t0ken-value"),
//!     "GET http://x/a?page=2&access_token=[REDACTED] then [REDACTED]"
//! );
//! ```

use std::borrow::Cow;
use std::sync::RwLock;

use crate::Error;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Secrets shorter than this are not registered: they would blank every log line that holds
/// the same few letters, and a secret that short is no secret.
pub const MIN_SECRET_LEN: usize = 4;

/// The registered secrets, each in every printed form, longest first.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Query parameter names that always carry a secret (compared case-insensitively).
const SECRET_PARAMS: &[&str] = &[
    "key",
    "apikey",
    "api_key",
    "access_token",
    "private_token",
    "token",
    "auth",
    "password",
    "passwd",
    "pwd",
    "pass",
    "secret",
    "client_secret",
    "sig",
    "signature",
    "x-amz-signature",
    "x-goog-signature",
    "session",
    "sessionid",
    "jwt",
];

/// Name fragments that make a query parameter secret wherever they appear in its name
/// (`bugzilla_token`, `Bugzilla_password`, `oauth_signature`...).
const SECRET_FRAGMENTS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "secret",
    "api_key",
    "apikey",
    "signature",
];

/// Registers `secret` for the rest of the process: from now on every sink replaces it by
/// [`REDACTED`]. Values shorter than [`MIN_SECRET_LEN`] are ignored.
pub fn register(secret: &str) {
    let secret = secret.trim();
    if secret.chars().count() < MIN_SECRET_LEN {
        return;
    }
    let mut forms = vec![secret.to_owned()];
    let percent: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    forms.push(percent.replace('+', "%20"));
    forms.push(percent);
    let json = serde_json::to_string(secret).expect("a string serialises");
    forms.push(json[1..json.len() - 1].to_owned());
    let debug = format!("{secret:?}");
    forms.push(debug[1..debug.len() - 1].to_owned());
    let mut all = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for f in forms {
        if !all.contains(&f) {
            all.push(f);
        }
    }
    all.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// The length in bytes of the longest registered form (0 when none is registered).
pub fn longest_secret() -> usize {
    SECRETS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .first()
        .map_or(0, String::len)
}

/// Whether a query parameter named `name` carries a secret: one of the well-known names
/// (`key`, `token`, `access_token`, `private_token`, `api_key`, `apikey`, `password`,
/// `passwd`, `secret`, `sig`, `signature`, ...) or a name containing `token`, `password`,
/// `passwd`, `secret`, `api_key`, `apikey` or `signature`; case-insensitive.
pub fn is_secret_param(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    SECRET_PARAMS.contains(&n.as_str()) || SECRET_FRAGMENTS.iter().any(|f| n.contains(f))
}

/// `text` with every registered secret and every secret query parameter value replaced by
/// [`REDACTED`]. Borrows when there is nothing to replace.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    {
        let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
        for s in secrets.iter() {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), REDACTED));
            }
        }
    }
    match scrub_params(&out) {
        Some(scrubbed) => Cow::Owned(scrubbed),
        None => out,
    }
}

/// [`scrub`] for bytes that may not be UTF-8 (recorded bodies): text is scrubbed as text,
/// other bytes are searched for the registered secrets byte by byte.
pub fn scrub_bytes(bytes: &[u8]) -> Cow<'_, [u8]> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return match scrub(text) {
            Cow::Borrowed(_) => Cow::Borrowed(bytes),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        };
    }
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut out = Cow::Borrowed(bytes);
    for s in secrets.iter() {
        let needle = s.as_bytes();
        if out.windows(needle.len()).any(|w| w == needle) {
            out = Cow::Owned(replace_bytes(&out, needle, REDACTED.as_bytes()));
        }
    }
    out
}

fn replace_bytes(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Prints `error: MESSAGE` to standard error, scrubbed: how the binaries report the error
/// that ends them (`format_args!("{e:#}")` for an `anyhow` chain).
pub fn eprint_error(message: impl std::fmt::Display) {
    eprintln!("error: {}", scrub(&message.to_string()));
}

/// Replaces the values of secret query parameters (`?token=V`, `&api_key=V`, `;key=V`) in
/// free text; `None` when there is none. A value ends at `&`, `#`, `;`, white space, a quote,
/// `<`, `>`, `\` or the end of the text.
fn scrub_params(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while let Some(off) = text[i..].find('=') {
        let eq = i + off;
        let start = text[..eq]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
            .map_or(0, |p| p + 1);
        let delimited = start > 0 && matches!(bytes[start - 1], b'?' | b'&' | b';');
        let end = text[eq + 1..]
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '&' | '#' | ';' | '"' | '\'' | '<' | '>' | '\\')
            })
            .map_or(text.len(), |p| eq + 1 + p);
        if delimited && end > eq + 1 && is_secret_param(&text[start..eq]) {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..=eq]);
            o.push_str(REDACTED);
            copied = end;
            i = end;
        } else {
            i = eq + 1;
        }
    }
    out.map(|mut o| {
        o.push_str(&text[copied..]);
        o
    })
}

/// Refuses a configured URL (`what` names the key, e.g. `queries`) that carries a credential
/// in its query string (a parameter for which [`is_secret_param`] holds): secrets come from
/// the environment, through the variable named by `env_key`. The value is not shown.
pub fn refuse_credential_params(what: &str, url: &url::Url, env_key: &str) -> Result<(), Error> {
    match url.query_pairs().find(|(k, _)| is_secret_param(k)) {
        Some((k, _)) => Err(Error::config(format!(
            "{what}: a URL carries a credential ({k}=…); remove it and name the environment \
             variable holding the secret with {env_key}"
        ))),
        None => Ok(()),
    }
}

/// [`refuse_credential_params`] for every query URL of `config` and its
/// `get_older_bug_data`: the check of the trackers whose APIs accept a token in the query
/// string (GitHub's `access_token=`, GitLab's `private_token=`, Gitea's `token=`...).
/// URLs that do not parse are left to the tracker's own checks.
pub fn refuse_credential_queries(
    config: &crate::TrackerConfig,
    env_key: &str,
) -> Result<(), Error> {
    let older = config
        .get_older_bug_data
        .iter()
        .map(|u| ("get_older_bug_data", u));
    let queries = config.queries.iter().map(|q| ("queries", &q.url));
    for (what, text) in queries.chain(older) {
        if let Ok(url) = url::Url::parse(text.trim()) {
            refuse_credential_params(what, &url, env_key)?;
        }
    }
    Ok(())
}

/// Checks the value of a configuration key (`key`: `token_env`, `api_key_env`, ...) that must
/// name an environment variable: letters, digits and `_`, not starting with a digit, and not
/// looking like a secret itself (a known token prefix such as `ghp_` or `glpat-`, or a long
/// run of random-looking letters and digits). The error never shows the value, which may be a
/// token pasted in the wrong place; it gives its length.
pub fn check_env_name(key: &str, value: &str) -> Result<(), Error> {
    let valid = !value.is_empty()
        && !value.starts_with(|c: char| c.is_ascii_digit())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(Error::config(format!(
            "{key} must name an environment variable (letters, digits and _, not starting with \
             a digit); the value given ({} characters) is not shown",
            value.chars().count()
        )));
    }
    if looks_like_secret(value) {
        return Err(Error::config(format!(
            "{key} must name the environment variable holding the secret, not the secret itself; \
             the value given ({} characters) looks like a token and is not shown",
            value.len()
        )));
    }
    Ok(())
}

/// Token prefixes of well-known services (lower-case).
const TOKEN_PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat",
    "gldt",
    "xoxb",
    "xoxp",
    "atatt",
];

/// Whether a syntactically valid variable name looks like a token: a known prefix, a long
/// hex string, or 20+ characters without `_` mixing digits and letters.
fn looks_like_secret(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    if TOKEN_PREFIXES.iter().any(|p| lower.starts_with(p)) {
        return true;
    }
    let hex = value.len() >= 16 && value.bytes().all(|b| b.is_ascii_hexdigit());
    let digits = value.bytes().filter(u8::is_ascii_digit).count();
    let random = value.len() >= 20 && !value.contains('_') && digits >= 2;
    hex || random
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_are_scrubbed_in_every_form() {
        register("tok/en+value 42");
        let text = "a tok/en+value 42 b tok%2Fen%2Bvalue+42 c tok%2Fen%2Bvalue%2042";
        assert_eq!(
            scrub(text),
            "a [REDACTED] b [REDACTED] c [REDACTED]",
            "raw, form- and percent-encoded"
        );
        register("ab");
        assert_eq!(scrub("ab cab"), "ab cab", "too short to register");
    }

    #[test]
    fn secret_query_parameters_are_scrubbed_by_name() {
        for (text, want) in [
            (
                "http://x/a?Access_Token=abc&page=2",
                "http://x/a?Access_Token=[REDACTED]&page=2",
            ),
            (
                "url=\"http://x/?key=K1;sig=S\" next",
                "url=\"http://x/?key=[REDACTED];sig=[REDACTED]\" next",
            ),
            (
                "http://b/buglist.cgi?Bugzilla_api_key=Z#f",
                "http://b/buglist.cgi?Bugzilla_api_key=[REDACTED]#f",
            ),
            (
                "http://t/query?keywords=easy&status=new",
                "http://t/query?keywords=easy&status=new",
            ),
            ("token=x with no query", "token=x with no query"),
            ("url=http://x/?token=abc", "url=http://x/?token=[REDACTED]"),
            ("http://x/?token=", "http://x/?token="),
        ] {
            assert_eq!(scrub(text), want, "{text}");
        }
    }

    #[test]
    fn bytes_are_scrubbed_even_when_not_utf8() {
        register("binary-secret-1");
        let mut body = b"\xff\xfe binary-secret-1 end".to_vec();
        body.push(0x80);
        let out = scrub_bytes(&body);
        assert!(!out.windows(15).any(|w| w == b"binary-secret-1"));
        assert!(out.windows(10).any(|w| w == b"[REDACTED]"));
    }

    #[test]
    fn env_names_are_checked_without_echoing_the_value() {
        assert!(check_env_name("token_env", "GITHUB_TOKEN").is_ok());
        assert!(check_env_name("api_key_env", "KDE_BZ_KEY_2").is_ok());
        for bad in [
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "glpat-AbCdEf123456",
            "3f5a9c0d1e2b4a6f8e7d9c0b1a2f3e4d5c6b7a8f",
            "Xy7Kq2Lm9Np4Rs6Tv8Wz1Ab3",
            "abc def",
            "1ABC",
        ] {
            let e = check_env_name("token_env", bad).unwrap_err().to_string();
            assert!(e.contains("token_env"), "{e}");
            assert!(!e.contains(bad), "echoed: {e}");
        }
    }

    #[test]
    fn credential_params_in_configured_urls_are_refused() {
        let url =
            url::Url::parse("https://api.github.com/repos/o/r/issues?access_token=ghp_x").unwrap();
        let e = refuse_credential_params("queries", &url, "token_env")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("access_token=…") && e.contains("token_env"),
            "{e}"
        );
        assert!(!e.contains("ghp_x"), "{e}");
        let ok = url::Url::parse("https://t/query?keywords=easy&status=new").unwrap();
        assert!(refuse_credential_params("queries", &ok, "token_env").is_ok());
    }
}
