//! Hostile tracker servers on 127.0.0.1, and hostile pages, for the hostile-crawl test
//! (`bins/bugimporters/tests/hostile.rs`) and the benchmarks (`bench parse`, `bench hostile`).
//!
//! A [`HostileServer`] answers every request, whatever its path, with one kind of
//! misbehaviour ([`Hostile`]) at the HTTP level, on its own port (so each is its own host for
//! the fetch layer's per-host limits and circuit breaker). Content-level hostility on a real
//! protocol (a nested-`<div>` Trac page, a huge description) is
//! [`crate::synthetic::Overrides`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::synthetic::{Overrides, SyntheticConfig, SyntheticServer};

/// One kind of misbehaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    /// `500` to everything.
    Always500,
    /// `200` with bytes of no format at all.
    Garbage,
    /// `302` to the same URL with one more `x` in the query, forever.
    RedirectLoop,
    /// `200` with a body of this many bytes, without `Content-Length`, as fast as possible.
    Huge(u64),
    /// `200` head at once (announcing 1 MB), then one body byte per second.
    Trickle,
    /// `Content-Length: 100000`, 100 bytes, then the connection is closed.
    Truncated,
    /// `200` with a "billion laughs" XML document.
    XmlBomb,
}

/// A running hostile server; stops accepting when dropped.
#[derive(Debug)]
pub struct HostileServer {
    port: u16,
    requests: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl HostileServer {
    /// Starts a server on 127.0.0.1 with an ephemeral port.
    pub async fn start(kind: Hostile) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let requests = Arc::new(AtomicU64::new(0));
        let counter = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(sock, kind));
            }
        });
        Ok(HostileServer {
            port,
            requests,
            task,
        })
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Connections accepted so far (one request each: every answer closes the connection).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut sock: TcpStream, kind: Hostile) {
    let Some(target) = read_head(&mut sock).await else {
        return;
    };
    let head = |status: &str, extra: &str| {
        format!("HTTP/1.1 {status}\r\nconnection: close\r\n{extra}\r\n").into_bytes()
    };
    let _ = match kind {
        Hostile::Always500 => {
            write(
                &mut sock,
                &head("500 Internal Server Error", "content-length: 0\r\n"),
            )
            .await
        }
        Hostile::Garbage => {
            let mut body: Vec<u8> = (0..65_536u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect();
            body.splice(0..0, *b"\xff\xfe<garbage");
            let mut out = head(
                "200 OK",
                &format!(
                    "content-type: text/html\r\ncontent-length: {}\r\n",
                    body.len()
                ),
            );
            out.extend(body);
            write(&mut sock, &out).await
        }
        Hostile::RedirectLoop => {
            let sep = if target.contains('?') { "&" } else { "?" };
            let extra = format!("location: {target}{sep}x\r\ncontent-length: 0\r\n");
            write(&mut sock, &head("302 Found", &extra)).await
        }
        Hostile::Huge(bytes) => {
            huge(
                &mut sock,
                &head("200 OK", "content-type: text/csv\r\n"),
                bytes,
            )
            .await
        }
        Hostile::Trickle => {
            let out = head(
                "200 OK",
                "content-type: text/csv\r\ncontent-length: 1000000\r\n",
            );
            if write(&mut sock, &out).await.is_ok() {
                while write(&mut sock, b"i").await.is_ok() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            Ok(())
        }
        Hostile::Truncated => {
            let mut out = head(
                "200 OK",
                "content-type: text/csv\r\ncontent-length: 100000\r\n",
            );
            out.extend_from_slice(&[b'x'; 100]);
            write(&mut sock, &out).await
        }
        Hostile::XmlBomb => {
            let body = xml_bomb();
            let mut out = head(
                "200 OK",
                &format!(
                    "content-type: application/xml\r\ncontent-length: {}\r\n",
                    body.len()
                ),
            );
            out.extend(body.into_bytes());
            write(&mut sock, &out).await
        }
    };
}

async fn huge(sock: &mut TcpStream, head: &[u8], bytes: u64) -> std::io::Result<()> {
    write(sock, head).await?;
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0u64;
    while sent < bytes {
        let n = chunk.len().min((bytes - sent) as usize);
        write(sock, &chunk[..n]).await?;
        sent += n as u64;
    }
    Ok(())
}

async fn write(sock: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    sock.write_all(bytes).await?;
    sock.flush().await
}

/// Reads the request head; returns the request target (path and query).
async fn read_head(sock: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    line.split_whitespace().nth(1).map(str::to_owned)
}

/// The trackers of the hostile crawl (`bins/bugimporters/tests/hostile.rs`, `bench hostile`):
/// one healthy synthetic Trac beside one tracker of every hostile kind, each on its own port.
#[derive(Debug)]
pub struct HostileCrawl {
    /// The crawl configuration (YAML).
    pub config: String,
    /// The healthy tracker (`healthy`), whose open tickets must all be written.
    pub healthy: SyntheticServer,
    /// The hostile trackers' names, each with a piece of the reason the report must give.
    pub hostile: Vec<(&'static str, &'static str)>,
    _servers: Vec<HostileServer>,
    _nested: SyntheticServer,
}

/// Held bugs of the always-500 tracker (its circuit breaker must open).
pub const DEAD_HOST_HELD_BUGS: u64 = 200;

impl HostileCrawl {
    /// Starts every server and writes the configuration.
    pub async fn start() -> std::io::Result<Self> {
        let healthy = SyntheticServer::start(SyntheticConfig {
            bugs: 40,
            ..SyntheticConfig::default()
        })
        .await?;
        let nested = SyntheticServer::start(SyntheticConfig {
            bugs: 3,
            overrides: Overrides {
                trac_ticket_page: Some(Arc::from(pages::nested_divs(1024 * 1024))),
                ..Overrides::default()
            },
            ..SyntheticConfig::default()
        })
        .await?;
        let mut servers = Vec::new();
        let mut config = trac("healthy", &healthy.trac_url(), 0);
        config.push_str(&trac("nested-div", &nested.trac_url(), 0));
        for (name, kind, held) in [
            ("always-500", Hostile::Always500, DEAD_HOST_HELD_BUGS),
            ("garbage", Hostile::Garbage, 3),
            ("redirect-loop", Hostile::RedirectLoop, 3),
            ("huge", Hostile::Huge(65 * 1024 * 1024), 3),
            ("trickle", Hostile::Trickle, 0),
            ("truncated", Hostile::Truncated, 3),
        ] {
            let server = HostileServer::start(kind).await?;
            config.push_str(&trac(name, &format!("{}trac/", server.url()), held));
            servers.push(server);
        }
        let bomb = HostileServer::start(Hostile::XmlBomb).await?;
        config.push_str(&format!(
            "- tracker_name: xml-bomb\n  bugimporter: bugzilla\n  bugzilla_api: xml\n  base_url: {u}\n  queries: []\n  existing_bug_urls: ['{u}show_bug.cgi?id=1', '{u}show_bug.cgi?id=2']\n",
            u = bomb.url()
        ));
        servers.push(bomb);
        Ok(HostileCrawl {
            config,
            healthy,
            hostile: vec![
                ("always-500", "HTTP 500"),
                ("garbage", "cannot parse"),
                ("redirect-loop", "redirects"),
                ("huge", "larger than"),
                ("trickle", "low-speed limit"),
                ("truncated", "circuit breaker"),
                ("xml-bomb", "declares entities"),
                ("nested-div", "deeper than 128"),
            ],
            _servers: servers,
            _nested: nested,
        })
    }
}

/// A Trac tracker record with its ticket links `1..=held` held by the host.
fn trac(name: &str, base: &str, held: u64) -> String {
    let existing: Vec<String> = (1..=held).map(|i| format!("'{base}ticket/{i}'")).collect();
    format!(
        "- tracker_name: {name}\n  bugimporter: trac\n  base_url: {base}\n  queries: ['{base}query?format=csv&status=!closed&col=id&order=id']\n  existing_bug_urls: [{}]\n",
        existing.join(", ")
    )
}

/// A "billion laughs" document: ten levels of entities, each ten of the one below.
pub fn xml_bomb() -> String {
    let mut doc =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE bugzilla [\n<!ENTITY lol \"lol\">\n");
    let mut prev = "lol".to_owned();
    for level in 1..=9 {
        let name = format!("lol{level}");
        doc.push_str(&format!(
            "<!ENTITY {name} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
        prev = name;
    }
    doc.push_str(&format!("]>\n<bugzilla version=\"5.0\"><bug><bug_id>1</bug_id><short_desc>&{prev};</short_desc></bug></bugzilla>\n"));
    doc
}

/// Hostile HTML pages of about `bytes` bytes, for the parse benchmark and tests.
pub mod pages {
    /// `<div>` nested `bytes / 5` deep (never closed).
    pub fn nested_divs(bytes: usize) -> String {
        "<div>".repeat(bytes / 5)
    }

    /// A page of `<p>` (each closes the previous one).
    pub fn paragraphs(bytes: usize) -> String {
        "<p>".repeat(bytes / 3)
    }

    /// A page of `<a x="1">` (never closed).
    pub fn anchors(bytes: usize) -> String {
        "<a x=\"1\">".repeat(bytes / 9)
    }

    /// A plausible page just under the element limit: `<br>` only (flat, void).
    pub fn line_breaks(bytes: usize) -> String {
        "<br>".repeat(bytes / 4)
    }
}
