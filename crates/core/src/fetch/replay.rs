//! Record and replay: a directory of responses with an `index.jsonl`.
//!
//! `--record DIR` stores every response body as a file under `DIR/bodies/` and appends one line
//! `{"url", "status", "file", "headers"}` per response to `DIR/index.jsonl`. `--replay DIR`
//! answers every request from that index without touching the network. URLs are matched after
//! normalisation ([`normalize_url`]). `file` may be absolute or relative to DIR; a line without
//! `file` is a bodiless response of that status; `headers` is optional. When a URL appears on
//! several lines, the last one wins.
//!
//! Recordings hold no secret: URLs, headers and bodies are scrubbed as they are written
//! ([`crate::redact`]), and replayed URLs are matched after the same scrubbing, so a query
//! whose `key=` parameter was redacted in the recording still finds its entry.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use url::Url;

use super::transport::{keeps_body, location};
use super::{count, Body, Counters, RawAnswer, Request, Transport};
use crate::Error;

/// One line of `index.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IndexEntry {
    pub(crate) url: String,
    pub(crate) status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) file: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) headers: Vec<(String, String)>,
    /// The method of a request that sent a body (`POST`); absent for a `GET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) method: Option<String>,
    /// SHA-256 (hex) of the body's replay text: the form without its secret fields, or the
    /// JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) body_sha256: Option<String>,
}

/// The SHA-256 of a body's replay text, in hex.
pub(crate) fn body_digest(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The index key of a request: its URL as matched ([`normalize_url`] of the scrubbed URL)
/// and, for a request with a body, `" METHOD DIGEST"`.
fn index_key(url: &str, method_and_digest: Option<(&str, &str)>) -> String {
    let mut key = normalize_url(&crate::redact::scrub(url));
    if let Some((method, digest)) = method_and_digest {
        key.push(' ');
        key.push_str(method);
        key.push(' ');
        key.push_str(digest);
    }
    key
}

/// The URL as matched in a replay index: parsed (scheme and host lower-cased, default port
/// dropped, percent-encoding normalised), fragment dropped, query pairs decoded and re-encoded
/// in the order given (empty pairs dropped).
pub fn normalize_url(text: &str) -> String {
    let Ok(mut url) = Url::parse(text.trim()) else {
        return text.trim().to_owned();
    };
    url.set_fragment(None);
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if pairs.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// A loaded replay index.
#[derive(Debug)]
struct ReplayIndex {
    dir: PathBuf,
    entries: HashMap<String, IndexEntry>,
}

impl ReplayIndex {
    pub(crate) fn load(dir: &Path) -> Result<Self, Error> {
        let path = dir.join("index.jsonl");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let mut entries = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let entry: IndexEntry = serde_json::from_str(line)
                .map_err(|e| Error::config(format!("{}:{}: {e}", path.display(), n + 1)))?;
            let body = entry.method.as_deref().zip(entry.body_sha256.as_deref());
            entries.insert(index_key(&entry.url, body), entry);
        }
        Ok(ReplayIndex {
            dir: dir.to_owned(),
            entries,
        })
    }

    /// The entry for `url` (with `body`: the method and the body's replay text of a request
    /// that sends one) and its response body (empty when the line has no `file`).
    pub(crate) async fn get(
        &self,
        url: &str,
        body: Option<(&str, &str)>,
    ) -> Result<(IndexEntry, bytes::Bytes), Error> {
        let digest = body.map(|(m, text)| (m, body_digest(text)));
        let key = index_key(url, digest.as_ref().map(|(m, d)| (*m, d.as_str())));
        let entry = self.entries.get(&key).ok_or_else(|| Error::NotRecorded {
            url: match body {
                Some((m, _)) => format!("{m} {url}"),
                None => url.to_owned(),
            },
        })?;
        let body = match &entry.file {
            None => bytes::Bytes::new(),
            Some(f) => {
                let p = Path::new(f);
                let p = if p.is_absolute() {
                    p.to_owned()
                } else {
                    self.dir.join(p)
                };
                bytes::Bytes::from(tokio::fs::read(&p).await.map_err(|e| Error::io(&p, e))?)
            }
        };
        Ok((entry.clone(), body))
    }
}

/// Appends responses to a record directory.
#[derive(Debug)]
struct Recorder {
    dir: PathBuf,
    state: tokio::sync::Mutex<(tokio::fs::File, u64)>,
}

impl Recorder {
    pub(crate) fn create(dir: &Path) -> Result<Self, Error> {
        let bodies = dir.join("bodies");
        std::fs::create_dir_all(&bodies).map_err(|e| Error::io(&bodies, e))?;
        let index = dir.join("index.jsonl");
        let existing = std::fs::read_dir(&bodies)
            .map_err(|e| Error::io(&bodies, e))?
            .count() as u64;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&index)
            .map_err(|e| Error::io(&index, e))?;
        Ok(Recorder {
            dir: dir.to_owned(),
            state: tokio::sync::Mutex::new((tokio::fs::File::from_std(file), existing)),
        })
    }

    /// Appends the response to `url` (`request_body`: the method and replay text of a request
    /// that sent a body).
    pub(crate) async fn record(
        &self,
        url: &str,
        request_body: Option<(&str, &str)>,
        status: u16,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> Result<(), Error> {
        let mut state = self.state.lock().await;
        state.1 += 1;
        let name = format!("bodies/{:06}.body", state.1);
        let path = self.dir.join(&name);
        tokio::fs::write(&path, crate::redact::scrub_bytes(body))
            .await
            .map_err(|e| Error::io(&path, e))?;
        let entry = IndexEntry {
            url: url.to_owned(),
            status,
            file: Some(name),
            headers,
            method: request_body.map(|(m, _)| m.to_owned()),
            body_sha256: request_body.map(|(_, text)| body_digest(text)),
        };
        // Scrubbed as a whole line: the URL, the headers (a `Location` echoing a token) and
        // the body file are all free of secrets (see `crate::redact`).
        let line = serde_json::to_string(&entry).expect("index entries serialise");
        let mut line = crate::redact::scrub(&line).into_owned();
        line.push('\n');
        state
            .0
            .write_all(line.as_bytes())
            .await
            .map_err(|e| Error::io(self.dir.join("index.jsonl"), e))?;
        state
            .0
            .flush()
            .await
            .map_err(|e| Error::io(self.dir.join("index.jsonl"), e))
    }
}

/// The [`Transport`] of `--replay`: every answer from a loaded index, redirects followed
/// through it, no network access at all.
pub(super) struct ReplayTransport {
    index: ReplayIndex,
    max_redirects: usize,
    counters: Counters,
}

impl ReplayTransport {
    pub(super) fn load(
        dir: &Path,
        max_redirects: usize,
        counters: Counters,
    ) -> Result<Self, Error> {
        Ok(ReplayTransport {
            index: ReplayIndex::load(dir)?,
            max_redirects,
            counters,
        })
    }
}

#[async_trait]
impl Transport for ReplayTransport {
    async fn send(&self, req: &Request, _headers: &HeaderMap) -> Result<RawAnswer, Error> {
        let mut url = req.url.clone();
        let mut sent = req
            .body
            .as_ref()
            .map(|b| (req.method.as_str(), b.replay_text()));
        for _ in 0..=self.max_redirects {
            let (entry, body) = self
                .index
                .get(url.as_str(), sent.as_ref().map(|(m, t)| (*m, t.as_str())))
                .await?;
            count(&self.counters, |c| {
                c.requests += 1;
                c.bytes += body.len() as u64;
            });
            let mut headers = HeaderMap::new();
            for (k, v) in &entry.headers {
                if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v))
                {
                    headers.append(k, v);
                }
            }
            if (300..400).contains(&entry.status) && entry.status != 304 {
                if let Some(next) = location(&url, &headers) {
                    if !keeps_body(entry.status) {
                        sent = None;
                    }
                    url = next;
                    continue;
                }
            }
            return Ok(RawAnswer {
                url,
                status: entry.status,
                headers,
                body,
            });
        }
        Err(Error::TooManyRedirects {
            url: req.url.to_string(),
            limit: self.max_redirects,
        })
    }
}

/// The `--record` layer: every answer of `inner` is appended to the recording (under the
/// URL asked for, with the method and body digest of a request that sent a body).
pub(super) struct Recording {
    inner: Arc<dyn Transport>,
    recorder: Recorder,
}

impl Recording {
    pub(super) fn new(inner: Arc<dyn Transport>, dir: &Path) -> Result<Self, Error> {
        Ok(Recording {
            inner,
            recorder: Recorder::create(dir)?,
        })
    }
}

#[async_trait]
impl Transport for Recording {
    async fn send(&self, req: &Request, headers: &HeaderMap) -> Result<RawAnswer, Error> {
        let answer = self.inner.send(req, headers).await?;
        let sent = req.body.as_ref().map(Body::replay_text);
        let sent = sent.as_deref().map(|t| (req.method.as_str(), t));
        let kept = recordable_headers(&answer.headers);
        self.recorder
            .record(req.url.as_str(), sent, answer.status, kept, &answer.body)
            .await?;
        Ok(answer)
    }
}

/// Headers worth keeping in a recording (never credentials or cookies).
fn recordable_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    const KEEP: &[&str] = &[
        "content-type",
        "etag",
        "last-modified",
        "link",
        "location",
        "x-total-count",
        "x-next-page",
        "x-total",
    ];
    headers
        .iter()
        .filter(|(k, _)| KEEP.contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_matches_equivalent_urls() {
        assert_eq!(
            normalize_url("HTTP://Example.org:80/a?x=%7Eeasy&y=1#frag"),
            normalize_url("http://example.org/a?x=~easy&y=1")
        );
        assert_eq!(
            normalize_url("http://b/show_bug.cgi?ctype=xml&id=1&id=2&"),
            normalize_url("http://b/show_bug.cgi?ctype=xml&id=1&id=2")
        );
        assert_eq!(
            normalize_url("http://j/rest/api/2/search?jql=created>=2012"),
            normalize_url("http://j/rest/api/2/search?jql=created%3E%3D2012")
        );
        assert_ne!(
            normalize_url("http://x/a?b=1&c=2"),
            normalize_url("http://x/a?c=2&b=1"),
            "pair order matters"
        );
    }
}
