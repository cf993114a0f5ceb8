//! The bug finder (`GET /`), the dashboard (`GET /dashboard`) and `GET /api/trackers` over a
//! loopback socket, without a browser: status codes, filters, pagination, the one query
//! shape shared with `/api/bugs`, escaping of hostile titles and tracker names, and the
//! dashboard's JSON being the rows it draws. (The browser tests are `tests/browser.rs`.)

mod common;
mod site;

use site::{Site, HOSTILE_TITLE};

#[allow(
    clippy::disallowed_methods,
    reason = "the service's own loopback server, not a tracker"
)]
fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn get(site: &Site, path: &str) -> (u16, String) {
    let r = client().get(site.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

async fn get_json(url: String) -> serde_json::Value {
    let body = client()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

/// The links of the bugs a finder page lists, in order.
fn listed(html: &str) -> Vec<String> {
    html.split("class=\"bug-link\" href=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().replace("&#38;", "&"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_finder_lists_filters_and_pages_open_bugs() {
    let site = Site::start(2, 12).await;
    let (status, html) = get(&site, "/").await;
    assert_eq!(status, 200);
    assert!(html.contains("No open bug matches"), "{html}");
    assert_eq!(site.run().await, 2);

    // The page lists what /api/bugs lists, in the same order (one query shape).
    let api: serde_json::Value = get_json(site.url("/api/bugs?limit=200")).await;
    let api_links: Vec<String> = api["bugs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["link"].as_str().unwrap().to_owned())
        .collect();
    assert!(api_links.len() > 4, "{api}");
    let (_, html) = get(&site, "/?limit=200").await;
    assert_eq!(listed(&html), api_links);

    // Filters: the same answers as the API's for the same parameters.
    for q in [
        "bitesized=true",
        "project=Synthetic+01",
        "tracker_type=trac&documentation=true",
        "tracker_type=github",
        "assigned=true",
        "assigned=true&bitesized=true",
        "q=a",
        "project=&tracker_type=&q=",
    ] {
        let (status, html) = get(&site, &format!("/?limit=200&{q}")).await;
        assert_eq!(status, 200, "{q}");
        let api: serde_json::Value = get_json(site.url(&format!("/api/bugs?limit=200&{q}"))).await;
        let want: Vec<&str> = api["bugs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["link"].as_str().unwrap())
            .collect();
        assert_eq!(listed(&html), want, "{q}");
    }
    let (_, html) = get(&site, "/?bitesized=true&project=Synthetic+01").await;
    assert!(
        html.contains(r#"<option value="Synthetic 01" selected>"#),
        "{html}"
    );
    assert!(html.contains(r#"name="bitesized" value="true" checked"#));

    // Pages: three bugs a page, each next link carrying the filters and the cursor, the
    // whole walk equal to one big page.
    let mut walked = Vec::new();
    let mut path = "/?limit=3".to_owned();
    loop {
        let (status, html) = get(&site, &path).await;
        assert_eq!(status, 200);
        walked.extend(listed(&html));
        match html
            .split("id=\"next-page\"")
            .next()
            .and_then(|h| h.rsplit("href=\"").next())
        {
            Some(href) if html.contains("id=\"next-page\"") => {
                path = href.split('"').next().unwrap().replace("&#38;", "&");
                assert!(
                    path.contains("limit=3") && path.contains("cursor="),
                    "{path}"
                );
                assert!(html.contains("id=\"first-page\"") || walked.len() == 3);
            }
            _ => break,
        }
    }
    assert_eq!(walked, api_links);

    // Bad input: a 400 page naming the problem.
    let (status, html) = get(&site, "/?cursor=nope").await;
    assert_eq!(status, 400);
    assert!(html.contains("bad cursor"), "{html}");
    let (status, html) = get(&site, "/?bitesized=yes").await;
    assert_eq!(status, 400);
    assert!(html.contains("bitesized"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_titles_and_names_are_text() {
    let site = Site::start(1, 3).await;
    site.run().await;
    let link = site.import_bug(0, 900, HOSTILE_TITLE).await;
    let (status, html) = get(&site, "/").await;
    assert_eq!(status, 200);
    assert!(!html.contains("<script>window"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(
        html.contains("&#60;script&#62;window.__pwned=1&#60;/script&#62;&#60;img src=x onerror=&#34;window.__pwned=2&#34;&#62; &#38; &#34;quotes&#34;"),
        "{html}"
    );
    assert_eq!(listed(&html)[0], link);

    // A tracker named with markup: escaped in the dashboard's rows, choices and totals.
    let registry = bugimporters_all::default_registry();
    let base = site.trackers[0]
        .trac_url()
        .replace("127.0.0.1", "localhost");
    let c = bugimporters_hostdb::tracker_from_args(
        "trac",
        "<b onmouseover=alert(1)>x</b>",
        Some(&base),
        &[],
        &[],
    )
    .unwrap();
    site.db
        .add_tracker(&registry, &c, Some("<i>p</i>"))
        .await
        .unwrap();
    let (status, html) = get(&site, "/dashboard").await;
    assert_eq!(status, 200);
    assert!(!html.contains("<b onmouseover"), "{html}");
    assert!(!html.contains("<i>p</i>"), "{html}");
    assert!(html.contains("&#60;i&#62;p&#60;/i&#62;"), "{html}");
    assert!(
        html.contains("&#60;b onmouseover=alert(1)&#62;x&#60;/b&#62;"),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_draws_the_rows_of_api_trackers() {
    let site = Site::start(2, 5).await;
    let (status, html) = get(&site, "/dashboard").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"<tr data-tracker="Synthetic 00">"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<td data-field="outcome" data-value="">—</td>"#),
        "{html}"
    );
    site.run().await;

    let api: serde_json::Value = get_json(site.url("/api/trackers?tracker=Synthetic+01")).await;
    let rows = api["trackers"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{api}");
    let row = &rows[0];
    assert_eq!(row["name"], "Synthetic 01");
    assert_eq!(row["outcome"], "ok");
    assert_eq!(row["tracker_type"], "trac");
    assert!(row["bugs"].as_i64().unwrap() > 0);
    // Every cell of the page is the API's value of its field, by the documented rule.
    let (_, html) = get(&site, "/dashboard").await;
    let tr = html
        .split(r#"<tr data-tracker="Synthetic 01">"#)
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap();
    let mut cells = 0;
    for td in tr.split("<td data-field=\"").skip(1) {
        let field = td.split('"').next().unwrap();
        let text = td.split('>').nth(1).unwrap().split('<').next().unwrap();
        let want = match &row[field] {
            serde_json::Value::Null => "—".to_owned(),
            serde_json::Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
            serde_json::Value::String(s) if s.len() >= 19 && s.as_bytes()[10] == b'T' => {
                s[..19].replace('T', " ")
            }
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(text, want, "{field}");
        cells += 1;
    }
    assert_eq!(cells, 17);

    // Filters and orders, on the page and in the API.
    let (_, html) = get(&site, "/dashboard?sort=name&dir=desc").await;
    let a = html.find("data-tracker=\"Synthetic 01\"").unwrap();
    let b = html.find("data-tracker=\"Synthetic 00\"").unwrap();
    assert!(a < b);
    assert!(
        html.contains(r#"aria-sort="descending" data-field="name""#),
        "{html}"
    );
    let (_, html) = get(&site, "/dashboard?q=01").await;
    assert!(!html.contains("data-tracker=\"Synthetic 00\""));
    assert!(
        html.contains(r#"<th scope="row" data-field="project">Synthetic 00</th>"#),
        "totals: {html}"
    );
    // The totals per project, as JSON (what the script redraws them from).
    let totals = get_json(site.url("/api/projects")).await;
    let names: Vec<&str> = totals["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["project"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Synthetic 00", "Synthetic 01"]);
    let one = get_json(site.url("/api/projects?project=Synthetic+01")).await;
    assert_eq!(one["projects"][0]["bugs"], row["bugs"]);
    assert_eq!(one["projects"].as_array().unwrap().len(), 1);
    let (status, html) = get(&site, "/dashboard?sort=colour").await;
    assert_eq!(status, 400);
    assert!(html.contains("unknown sort &#34;colour&#34;"), "{html}");
    let (status, body) = get(&site, "/api/trackers?dir=sideways").await;
    assert_eq!(status, 400);
    assert!(body.contains("\"sideways\""), "{body}");
    let (_, body) = get(&site, "/api/trackers?sort=bugs&dir=desc&tracker_type=trac").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["trackers"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_pages_show_who_is_logged_in() {
    use bugimporters_hostdb::accounts::Role;
    use bugimporters_hostdb::schedule::Clock;
    let site = Site::start(1, 2).await;
    let user = site
        .db
        .add_user("ann", Role::Maintainer, "correct horse battery staple")
        .await
        .unwrap();
    let session = site
        .db
        .create_session(user.id, site.clock.now())
        .await
        .unwrap();
    for path in ["/", "/dashboard"] {
        let (status, anonymous) = get(&site, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            anonymous.contains(r#"href="/login""#),
            "{path}: {anonymous}"
        );
        let r = client()
            .get(site.url(path))
            .header("Cookie", format!("bugimporters_session={}", session.token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains(r#"<span class="user">ann</span>"#),
            "{path}: {html}"
        );
        assert!(
            html.contains(&session.csrf),
            "{path}: the logout form carries the token"
        );
    }
}
