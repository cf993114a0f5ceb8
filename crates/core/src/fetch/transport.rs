//! The bottom layer: [`Transport`], what sends one request and brings back its answer, and
//! the live one built on reqwest — the one place a reqwest client is built.
//!
//! The layers above ([`super::polite`], [`super::retry`], the recorder) wrap any transport, so
//! that a test can plug a scripted one under the real politeness and retries
//! ([`super::HttpClient::with_transport`]) and assert them without a socket.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use url::Url;

use super::{count, guard, stall, Body, Counters, FetchConfig, NetworkPolicy, Request};
use crate::Error;

/// An answer as the server (a replay index, a test's script) gave it, before it is
/// classified into a [`super::Response`] or an [`Error::Status`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RawAnswer {
    /// The URL that answered (after redirects).
    pub url: Url,
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl RawAnswer {
    /// A bodiless answer of `status` from `url`.
    pub fn new(url: Url, status: u16) -> Self {
        RawAnswer {
            url,
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    /// With a header (a test's `Retry-After`, say); an invalid name or value is ignored.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            self.headers.append(n, v);
        }
        self
    }

    /// With a body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }
}

/// Sends one request and brings back its answer, whatever its status: the live network, a
/// replay index, a test's script, or a layer wrapping one of them. `headers` are the
/// request's own plus those the client adds (validators of a conditional request).
#[async_trait]
pub trait Transport: Send + Sync {
    /// One exchange (redirects followed as the transport does).
    async fn send(&self, req: &Request, headers: &HeaderMap) -> Result<RawAnswer, Error>;
}

/// The network, through reqwest: every hop checked against the [`NetworkPolicy`], redirects
/// followed by hand, the body read under the size and low-speed limits.
pub(super) struct LiveTransport {
    client: reqwest::Client,
    policy: Arc<NetworkPolicy>,
    config: FetchConfig,
    counters: Counters,
}

impl LiveTransport {
    pub(super) fn new(config: &FetchConfig, counters: Counters) -> Result<Self, Error> {
        let policy = Arc::new(config.network.clone());
        // The one place a reqwest client is built: everything else goes through here.
        #[allow(clippy::disallowed_methods)]
        let client = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(guard::GuardedResolver {
                policy: policy.clone(),
            }))
            .no_proxy()
            .build()
            .map_err(|e| Error::config(format!("cannot build the HTTP client: {e}")))?;
        Ok(LiveTransport {
            client,
            policy,
            config: config.clone(),
            counters,
        })
    }

    /// The builder of one hop, or a refusal to send a body to another host.
    fn hop(
        &self,
        req: &Request,
        url: &Url,
        body: Option<&(&'static str, Vec<u8>)>,
        headers: &HeaderMap,
    ) -> Result<reqwest::RequestBuilder, Error> {
        // Credentials go only to the host they were meant for.
        let start = &req.url;
        let same_host = url.host_str() == start.host_str() && url.port() == start.port();
        let mut builder = match body {
            Some((content_type, bytes)) if same_host => self
                .client
                .request(req.method.clone(), url.clone())
                .header(header::CONTENT_TYPE, *content_type)
                .body(bytes.clone()),
            Some(_) => {
                return Err(Error::Refused {
                    url: url.to_string(),
                    reason: format!(
                        "a redirect would send the body of a {} to another host",
                        req.method
                    ),
                })
            }
            None => self.client.get(url.clone()),
        };
        for (k, v) in headers {
            if same_host || !(v.is_sensitive() || k == header::AUTHORIZATION) {
                builder = builder.header(k, v);
            }
        }
        Ok(builder)
    }

    /// Sends the request and waits for the response head, within twice the low-speed window.
    async fn send_head(
        &self,
        builder: reqwest::RequestBuilder,
        url: &Url,
    ) -> Result<reqwest::Response, Error> {
        let guard = stall::SpeedGuard::start(self.config.speed_limit, self.config.speed_time);
        if !guard.enabled() {
            return builder.send().await.map_err(|e| map_reqwest(url, e));
        }
        let head_time = self.config.speed_time.saturating_mul(2);
        match tokio::time::timeout(head_time, builder.send()).await {
            Ok(r) => r.map_err(|e| map_reqwest(url, e)),
            Err(_) => Err(Error::Network {
                url: url.to_string(),
                message: format!(
                    "low-speed limit: no response head within {} s; attempt aborted",
                    head_time.as_secs()
                ),
                timeout: true,
                source: None,
            }),
        }
    }

    async fn read_body(&self, url: &Url, resp: reqwest::Response) -> Result<Bytes, Error> {
        let limit = self.config.max_body_bytes;
        let too_large = || Error::BodyTooLarge {
            url: url.to_string(),
            limit,
        };
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut body = BytesMut::new();
        let mut stream = resp.bytes_stream();
        let mut speed = stall::SpeedGuard::start(self.config.speed_limit, self.config.speed_time);
        loop {
            let next = match tokio::time::timeout_at(speed.deadline(), stream.next()).await {
                Ok(next) => next,
                Err(_) => {
                    speed.check(url)?;
                    continue;
                }
            };
            let Some(chunk) = next else { break };
            let chunk = chunk.map_err(|e| map_reqwest(url, e))?;
            speed.received(chunk.len(), url)?;
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        count(&self.counters, |c| c.bytes += body.len() as u64);
        Ok(body.freeze())
    }
}

#[async_trait]
impl Transport for LiveTransport {
    /// One attempt, following redirects by hand so that every hop is checked. A body is sent
    /// again only through a 307/308 to the same host; other redirects are followed by a `GET`.
    async fn send(&self, req: &Request, headers: &HeaderMap) -> Result<RawAnswer, Error> {
        let start = &req.url;
        let mut url = start.clone();
        let mut seen = vec![url.to_string()];
        let mut body = req.body.as_ref().map(Body::encode);
        let too_many = || Error::TooManyRedirects {
            url: start.to_string(),
            limit: self.config.max_redirects,
        };
        for _hop in 0..=self.config.max_redirects {
            check_url(&self.policy, &url)?;
            count(&self.counters, |c| c.requests += 1);
            let builder = self.hop(req, &url, body.as_ref(), headers)?;
            let resp = self.send_head(builder, &url).await?;
            let status = resp.status().as_u16();
            let resp_headers = resp.headers().clone();
            if (300..400).contains(&status) && status != 304 {
                if let Some(next) = location(&url, &resp_headers) {
                    if seen.contains(&next.to_string()) {
                        return Err(too_many());
                    }
                    seen.push(next.to_string());
                    if !keeps_body(status) {
                        body = None;
                    }
                    url = next;
                    continue;
                }
            }
            let body = self.read_body(&url, resp).await?;
            return Ok(RawAnswer {
                url,
                status,
                headers: resp_headers,
                body,
            });
        }
        Err(too_many())
    }
}

/// Whether a redirect with `status` repeats the method and body (307, 308); the others are
/// followed with a `GET`, as browsers do.
pub(super) fn keeps_body(status: u16) -> bool {
    matches!(status, 307 | 308)
}

/// Refuses non-http(s) URLs and IP-literal hosts the policy forbids (names are checked by the
/// resolver, on the addresses they resolve to).
fn check_url(policy: &NetworkPolicy, url: &Url) -> Result<(), Error> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Refused {
            url: url.to_string(),
            reason: format!("scheme {:?} is not http or https", url.scheme()),
        });
    }
    let refused = |reason| Error::Refused {
        url: url.to_string(),
        reason,
    };
    match url.host() {
        None => Err(refused("no host".to_owned())),
        Some(url::Host::Ipv4(ip)) => policy.check(ip.into()).map_err(refused),
        Some(url::Host::Ipv6(ip)) => policy.check(ip.into()).map_err(refused),
        Some(url::Host::Domain(_)) => Ok(()),
    }
}

/// A reqwest error as ours: a refusal by the address guard stays a refusal; anything else is
/// a network error whose message names the whole chain and whose source is the error itself.
fn map_reqwest(url: &Url, e: reqwest::Error) -> Error {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<guard::RefusedAddress>() {
            return Error::Refused {
                url: url.to_string(),
                reason: refused.0.clone(),
            };
        }
        source = s.source();
    }
    let mut message = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        message.push_str(": ");
        message.push_str(&s.to_string());
        src = s.source();
    }
    // reqwest's messages may embed the URL; ours is in the variant already.
    Error::Network {
        url: url.to_string(),
        message,
        timeout: e.is_timeout(),
        source: Some(e.without_url()),
    }
}

pub(super) fn location(base: &Url, headers: &HeaderMap) -> Option<Url> {
    let loc = headers.get(header::LOCATION)?.to_str().ok()?;
    base.join(loc).ok()
}
