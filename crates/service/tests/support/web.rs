//! A small browser for the web pages' handler tests: requests go straight to
//! [`Service::router`] (no socket), with a client address, and the session cookie is kept
//! between requests as a browser would (`#[path]`-included by the web tests).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Request};
use bugimporters_service::Service;
use tower::ServiceExt;

/// One answer: status, headers, body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// The `Location` header (redirects).
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map_or("", |v| v.to_str().unwrap())
    }

    /// The `Set-Cookie` headers.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The value of the first hidden `csrf` field of the page.
    pub fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let at = self.body.find(marker).expect("a form with a csrf field") + marker.len();
        self.body[at..].split('"').next().unwrap().to_owned()
    }
}

/// A browser: a session cookie, a client address, extra headers.
#[derive(Debug, Clone)]
pub struct Browser {
    service: Service,
    pub cookie: Option<String>,
    pub addr: SocketAddr,
    pub headers: Vec<(String, String)>,
}

impl Browser {
    pub fn new(service: &Service) -> Browser {
        Browser {
            service: service.clone(),
            cookie: None,
            addr: SocketAddr::from(([192, 0, 2, 1], 40000)),
            headers: Vec::new(),
        }
    }

    async fn send(&mut self, req: axum::http::request::Builder, body: String) -> Answer {
        let mut req = req.header(header::HOST, "127.0.0.1:8080");
        if let Some(c) = &self.cookie {
            req = req.header(header::COOKIE, format!("bugimporters_session={c}"));
        }
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let mut req = req.body(Body::from(body)).unwrap();
        req.extensions_mut().insert(ConnectInfo(self.addr));
        let res = self.service.router().oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        let answer = Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        for c in answer.set_cookies() {
            let value = c
                .strip_prefix("bugimporters_session=")
                .and_then(|v| v.split(';').next())
                .unwrap_or_default();
            if c.starts_with("bugimporters_session=") {
                self.cookie = Some(value.to_owned()).filter(|v| !v.is_empty());
            }
        }
        answer
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        self.send(Request::get(path), String::new()).await
    }

    /// A form `POST` (`application/x-www-form-urlencoded`).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let req =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        self.send(req, body).await
    }

    /// Logs in through the form.
    pub async fn login(&mut self, name: &str, password: &str) -> Answer {
        self.post(
            "/login",
            &[("name", name), ("password", password), ("next", "")],
        )
        .await
    }

    /// A form `POST` from a page of this session: its CSRF token added.
    pub async fn submit(&mut self, page: &str, path: &str, fields: &[(&str, &str)]) -> Answer {
        let csrf = self.get(page).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(path, &all).await
    }
}
