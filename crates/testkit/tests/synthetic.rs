//! The synthetic server speaks what it claims, through the real fetch layer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bugimporters_core::fetch::{FetchConfig, HttpClient, Request};
use bugimporters_testkit::synthetic::{Faults, SyntheticConfig, SyntheticServer};

fn client(retries: u32) -> HttpClient {
    let mut cfg = FetchConfig::for_loopback_tests();
    cfg.retries = retries;
    HttpClient::new(cfg).unwrap()
}

async fn text(c: &HttpClient, url: &str) -> String {
    let r = c.fetch(Request::get(url).unwrap()).await.unwrap();
    String::from_utf8(r.body.to_vec()).unwrap()
}

#[tokio::test]
async fn trac_pages_to_an_empty_page_and_ticket_404_after_delete() {
    let server = SyntheticServer::start(SyntheticConfig {
        bugs: 25,
        ..Default::default()
    })
    .await
    .unwrap();
    let c = client(0);
    let base = server.trac_url();
    let p1 = text(
        &c,
        &format!("{base}query?format=csv&id=!0&col=id&col=summary&order=id&max=10&page=1"),
    )
    .await;
    assert!(p1.starts_with("\u{feff}id,Summary\r\n"), "{p1:.80}");
    assert_eq!(p1.lines().count(), 11);
    let p3 = text(
        &c,
        &format!("{base}query?format=csv&id=!0&col=id&order=id&max=10&page=3"),
    )
    .await;
    assert_eq!(p3.lines().count(), 6);
    let p4 = text(
        &c,
        &format!("{base}query?format=csv&id=!0&col=id&order=id&max=10&page=4"),
    )
    .await;
    assert!(p4.is_empty(), "past the end: 200 with an empty body");

    let easy = text(
        &c,
        &format!("{base}query?format=csv&keywords=~easy&col=id&max=0"),
    )
    .await;
    let want = server
        .bugs()
        .iter()
        .filter(|b| b.keywords.iter().any(|k| k.contains("easy")))
        .count();
    assert_eq!(easy.lines().count() - 1, want);

    let ticket = text(&c, &format!("{base}ticket/7?format=csv")).await;
    assert!(ticket.contains(&server.bugs()[6].title.replace('"', "\"\"")));
    let html = text(&c, &format!("{base}ticket/7")).await;
    assert!(html.contains("class=\"properties\"") && html.contains("See timeline at"));

    assert_eq!(server.delete(1, 7), vec![7]);
    let e = c
        .fetch(Request::get(&format!("{base}ticket/7?format=csv")).unwrap())
        .await
        .unwrap_err();
    assert!(e.is_not_found());
}

#[tokio::test]
async fn github_link_paging_and_bugzilla_not_found() {
    let server = SyntheticServer::start(SyntheticConfig {
        bugs: 12,
        ..Default::default()
    })
    .await
    .unwrap();
    let c = client(0);
    let mut url = Some(format!(
        "{}/repos/synthetic/repo/issues?state=all&per_page=5",
        server.github_api_url()
    ));
    let mut seen = 0;
    let mut pages = 0;
    while let Some(u) = url.take() {
        let r = c.fetch(Request::get(&u).unwrap()).await.unwrap();
        let items: Vec<serde_json::Value> = serde_json::from_slice(&r.body).unwrap();
        seen += items.len();
        pages += 1;
        url = r.header("link").and_then(|l| {
            l.split(',').find(|p| p.contains("rel=\"next\"")).map(|p| {
                p.trim()
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_owned()
            })
        });
    }
    assert_eq!((seen, pages), (12, 3));

    server.delete(1, 3);
    let xml = text(
        &c,
        &format!("{}show_bug.cgi?ctype=xml&id=1&id=3&", server.bugzilla_url()),
    )
    .await;
    assert!(xml.contains("<bug_id>1</bug_id>"));
    assert!(xml.contains("<bug error=\"NotFound\">\n    <bug_id>3</bug_id>"));
    let list = text(
        &c,
        &format!("{}buglist.cgi?keywords=easy", server.bugzilla_url()),
    )
    .await;
    assert!(list.contains("action=\"show_bug.cgi\"") && list.contains("value=\"xml\""));
}

#[tokio::test]
async fn faults_and_concurrency_limit() {
    let server = SyntheticServer::start(SyntheticConfig {
        bugs: 5,
        faults: Faults {
            error_500: 1.0,
            ..Faults::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let e = client(1)
        .fetch(Request::get(&format!("{}ticket/1?format=csv", server.trac_url())).unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(500));
    assert_eq!(server.requests(), 2, "one retry");

    let slow = SyntheticServer::start(SyntheticConfig {
        bugs: 5,
        latency: Duration::from_millis(100),
        concurrency: Some(1),
        ..Default::default()
    })
    .await
    .unwrap();
    let c = Arc::new(client(0));
    let start = Instant::now();
    let tasks: Vec<_> = (1..=4)
        .map(|i| {
            let c = c.clone();
            let url = format!("{}ticket/{i}?format=csv", slow.trac_url());
            tokio::spawn(async move { c.fetch(Request::get(&url).unwrap()).await.map(|_| ()) })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert!(
        start.elapsed() >= Duration::from_millis(390),
        "one at a time: {:?}",
        start.elapsed()
    );

    let truncating = SyntheticServer::start(SyntheticConfig {
        bugs: 5,
        faults: Faults {
            truncated: 1.0,
            ..Faults::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let e = client(0)
        .fetch(Request::get(&format!("{}ticket/1", truncating.trac_url())).unwrap())
        .await
        .unwrap_err();
    assert!(
        e.is_temporary(),
        "a cut body is a temporary network error: {e}"
    );
}
