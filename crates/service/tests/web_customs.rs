//! `/customs/`: the type drop-down and forms from the registry, adding, editing, renaming and
//! deleting trackers and queries through the host database's checks (errors beside the
//! field, 422), roles (a maintainer changing another's tracker: 403), the audit log, escaping
//! of hostile names, CSRF refusal, the accounts page and "Test this tracker".

mod common;
#[path = "support/web.rs"]
mod web;

use bugimporters_hostdb::schedule::ManualClock;
use bugimporters_hostdb::{HostDb, Role};
use bugimporters_service::Service;
use common::{add_trackers, servers, service, sqlite};
use web::Browser;

const TRAC: &str = "http://127.0.0.1:9/trac/";

fn start() -> chrono::NaiveDateTime {
    bugimporters_core::time::parse_datetime("2030-01-01T00:00:00").unwrap()
}

async fn setup(dir: &tempfile::TempDir) -> (Service, HostDb) {
    let (_, db) = sqlite(dir.path(), "web.db").await;
    for (name, role) in [
        ("root", Role::Admin),
        ("mia", Role::Maintainer),
        ("max", Role::Maintainer),
    ] {
        db.add_user(name, role, &format!("{name}'s long password"))
            .await
            .unwrap();
    }
    let svc = service(&db, dir.path(), &ManualClock::new(start()), 1);
    (svc, db)
}

async fn browser(svc: &Service, name: &str) -> Browser {
    let mut b = Browser::new(svc);
    let a = b.login(name, &format!("{name}'s long password")).await;
    assert_eq!(a.status, 303, "{}", a.body);
    b
}

/// Adds a Trac tracker through the form.
async fn add_trac(b: &mut Browser, name: &str) -> web::Answer {
    b.submit(
        "/customs/?type=trac",
        "/customs/add",
        &[
            ("type", "trac"),
            ("name", name),
            ("k.base_url", TRAC),
            ("k.bitesized_type", "keywords"),
            ("k.bitesized_text", "easy"),
            ("queries", &format!("{TRAC}query?format=csv&status=new\n")),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_and_forms_come_from_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, _db) = setup(&dir).await;
    let mut b = browser(&svc, "mia").await;
    let index = b.get("/customs/").await;
    assert_eq!(index.status, 200);
    let registry = bugimporters_all::default_registry();
    for f in registry.factories() {
        let option = format!(r#"<option value="{}">"#, f.kind());
        assert!(index.body.contains(&option), "{option}");
    }
    assert!(index.body.contains("data-autosubmit"));
    // The original's dotted class name finds the type too.
    let trac = b.get("/customs/?type=trac.TracBugImporter").await;
    assert!(
        trac.body.contains(r#"<option value="trac" selected>"#),
        "{}",
        trac.body
    );
    // The type's own keys, with descriptions and required flags.
    let github = b.get("/customs/?type=github").await;
    let factory = registry.factory("github").unwrap();
    for k in factory.config_keys() {
        assert!(
            github.body.contains(&format!(r#"name="k.{}""#, k.name)),
            "{}",
            k.name
        );
    }
    let required = factory.config_keys().iter().find(|k| k.required).unwrap();
    let label = format!(
        r#"<label for="k-{0}">{0} <span class="req">(required)</span>"#,
        required.name
    );
    assert!(github.body.contains(&label), "{label}");
    // Anonymous visitors get the login page; so do the accounts page's.
    let mut anon = Browser::new(&svc);
    for path in ["/customs/", "/customs/users", "/customs/tracker?name=x"] {
        let a = anon.get(path).await;
        assert_eq!(a.status, 303, "{path}");
        assert!(a.location().starts_with("/login?next="), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_edit_rename_delete_with_errors_beside_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, db) = setup(&dir).await;
    let mut b = browser(&svc, "mia").await;
    let a = add_trac(&mut b, "Twisted").await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.location(), "/customs/tracker?name=Twisted");
    let r = db.tracker("Twisted").await.unwrap().unwrap();
    assert_eq!(r.config.bitesized_text, "easy");
    assert_eq!(r.config.queries.len(), 1);
    let mia = db.user("mia").await.unwrap().unwrap();
    assert_eq!(db.tracker_owner(r.id).await.unwrap(), Some(mia.id));
    // The same name again: beside the name.
    let again = add_trac(&mut b, "Twisted").await;
    assert_eq!(again.status, 422);
    assert!(
        again.body.contains(r#"<span class="error" id="e-name">"#),
        "{}",
        again.body
    );
    // A Trac tracker without base_url: the registry's check, beside base_url.
    let missing = b
        .submit(
            "/customs/?type=trac",
            "/customs/add",
            &[("type", "trac"), ("name", "NoBase")],
        )
        .await;
    assert_eq!(missing.status, 422);
    assert!(
        missing.body.contains(r#"id="e-base_url""#),
        "{}",
        missing.body
    );
    assert!(db.tracker("NoBase").await.unwrap().is_none());
    // Not a number: beside max_connections; the other values stay in the form.
    let bad = b
        .submit(
            "/customs/tracker?name=Twisted",
            "/customs/tracker/edit",
            &[
                ("tracker", "Twisted"),
                ("k.max_connections", "two"),
                ("k.bitesized_text", "tiny"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(
        bad.body.contains(r#"id="e-max_connections""#),
        "{}",
        bad.body
    );
    assert!(bad.body.contains(r#"value="tiny""#));
    assert_eq!(
        db.tracker("Twisted")
            .await
            .unwrap()
            .unwrap()
            .config
            .bitesized_text,
        "easy"
    );
    // Edit and rename at once.
    let ok = b
        .submit(
            "/customs/tracker?name=Twisted",
            "/customs/tracker/edit",
            &[
                ("tracker", "Twisted"),
                ("name", "Twisted Matrix"),
                ("k.bitesized_text", "tiny"),
            ],
        )
        .await;
    assert_eq!(
        (ok.status, ok.location()),
        (303, "/customs/tracker?name=Twisted+Matrix")
    );
    let r2 = db.tracker("Twisted Matrix").await.unwrap().unwrap();
    assert_eq!((r2.id, r2.config.bitesized_text.as_str()), (r.id, "tiny"));
    // The audit log: who, what, old → new.
    let page = b.get(ok.location()).await;
    assert!(
        page.body.contains("<td>mia</td><td>rename</td>"),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains("<code>bitesized_text</code>: easy → tiny"));
    assert!(page
        .body
        .contains("<code>tracker_name</code>: Twisted → Twisted Matrix"));
    assert!(page.body.contains("<td>mia</td><td>add</td>"));
    // Delete.
    let gone = b
        .submit(
            ok.location(),
            "/customs/tracker/delete",
            &[("tracker", "Twisted Matrix")],
        )
        .await;
    assert_eq!((gone.status, gone.location()), (303, "/customs/?type=trac"));
    assert!(db.tracker("Twisted Matrix").await.unwrap().is_none());
    assert_eq!(
        b.get("/customs/tracker?name=Twisted+Matrix").await.status,
        404
    );
    // The log of every tracker keeps the deleted one's history.
    let log = b.get("/customs/log").await;
    assert_eq!(log.status, 200);
    let deleted = "Twisted%20Matrix\">Twisted Matrix</a></td><td>delete</td>";
    assert!(log.body.contains(deleted), "{}", log.body);
    assert!(log.body.contains("</a></td><td>add</td>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_are_added_edited_and_deleted_through_the_checks() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, db) = setup(&dir).await;
    let mut b = browser(&svc, "mia").await;
    add_trac(&mut b, "T").await;
    let page = "/customs/tracker?name=T";
    let second = format!("{TRAC}query?format=csv&status=reopened");
    let a = b
        .submit(
            page,
            "/customs/query/add",
            &[
                ("tracker", "T"),
                ("url", &second),
                ("description", "reopened"),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    // Not http(s): refused by the same URL rules as `customs add-query`, shown, 422.
    let bad = b
        .submit(
            page,
            "/customs/query/add",
            &[("tracker", "T"), ("url", "ftp://127.0.0.1/x")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains(r#"id="query-error""#), "{}", bad.body);
    let edited = format!("{TRAC}query?format=csv&status=assigned");
    let e = b
        .submit(
            page,
            "/customs/query/edit",
            &[
                ("tracker", "T"),
                ("old_url", &second),
                ("url", &edited),
                ("description", "assigned"),
            ],
        )
        .await;
    assert_eq!(e.status, 303, "{}", e.body);
    let urls: Vec<String> = db
        .tracker("T")
        .await
        .unwrap()
        .unwrap()
        .config
        .queries
        .iter()
        .map(|q| q.url.clone())
        .collect();
    assert_eq!(
        urls,
        [format!("{TRAC}query?format=csv&status=new"), edited.clone()]
    );
    let d = b
        .submit(
            page,
            "/customs/query/delete",
            &[("tracker", "T"), ("url", &edited)],
        )
        .await;
    assert_eq!(d.status, 303);
    assert_eq!(
        db.tracker("T").await.unwrap().unwrap().config.queries.len(),
        1
    );
    let log = b.get(page).await.body;
    for action in ["add-query", "edit-query", "delete-query"] {
        assert!(log.contains(&format!("<td>{action}</td>")), "{action}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintainers_change_only_their_own_trackers() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, db) = setup(&dir).await;
    let mut mia = browser(&svc, "mia").await;
    add_trac(&mut mia, "Mine").await;
    let mut max = browser(&svc, "max").await;
    let page = "/customs/tracker?name=Mine";
    // max sees it, without the save and delete buttons, and may not change it.
    let view = max.get(page).await;
    assert_eq!(view.status, 200);
    assert!(!view.body.contains(">Save</button>") && !view.body.contains("Delete this tracker"));
    for (path, fields) in [
        (
            "/customs/tracker/edit",
            vec![("tracker", "Mine"), ("k.bitesized_text", "x")],
        ),
        ("/customs/tracker/delete", vec![("tracker", "Mine")]),
        (
            "/customs/query/add",
            vec![("tracker", "Mine"), ("url", "http://127.0.0.1:9/trac/q")],
        ),
    ] {
        let a = max.submit(page, path, &fields).await;
        assert_eq!(a.status, 403, "{path}");
    }
    let r = db.tracker("Mine").await.unwrap().unwrap();
    assert_eq!(
        (r.config.bitesized_text.as_str(), r.config.queries.len()),
        ("easy", 1)
    );
    // A tracker from the command line has no owner: maintainers may not change it...
    let servers = servers(1, 3).await;
    add_trackers(&db, &servers, &[]).await;
    let cli = "/customs/tracker?name=Synthetic+00";
    let a = mia
        .submit(
            cli,
            "/customs/tracker/delete",
            &[("tracker", "Synthetic 00")],
        )
        .await;
    assert_eq!(a.status, 403);
    // ...an admin may change anything.
    let mut root = browser(&svc, "root").await;
    let a = root
        .submit(
            page,
            "/customs/tracker/edit",
            &[("tracker", "Mine"), ("k.bitesized_text", "x")],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let a = root
        .submit(
            cli,
            "/customs/tracker/delete",
            &[("tracker", "Synthetic 00")],
        )
        .await;
    assert_eq!(a.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_are_text_and_forms_need_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, db) = setup(&dir).await;
    let mut b = browser(&svc, "mia").await;
    let hostile = r#"<script>alert("x")</script>&"'"#;
    let a = add_trac(&mut b, hostile).await;
    assert_eq!(a.status, 303, "{}", a.body);
    for path in ["/customs/?type=trac".to_owned(), a.location().to_owned()] {
        let page = b.get(&path).await;
        assert_eq!(page.status, 200);
        assert!(
            !page.body.contains("<script>alert"),
            "{path}: {}",
            page.body
        );
        assert!(
            page.body.contains("&#60;script&#62;alert("),
            "{path}: {}",
            page.body
        );
    }
    // The name round-trips through the link to its page.
    assert!(db.tracker(hostile).await.unwrap().is_some());
    // No token: 403, nothing added.
    let refused = b
        .post(
            "/customs/add",
            &[("type", "trac"), ("name", "NoToken"), ("k.base_url", TRAC)],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(db.tracker("NoToken").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, db) = setup(&dir).await;
    let mut mia = browser(&svc, "mia").await;
    assert_eq!(mia.get("/customs/users").await.status, 403);
    let a = mia
        .submit(
            "/customs/",
            "/customs/users/add",
            &[
                ("name", "eve"),
                ("role", "admin"),
                ("password", "eve's long password"),
            ],
        )
        .await;
    assert_eq!(a.status, 403);
    assert!(db.user("eve").await.unwrap().is_none());
    let mut root = browser(&svc, "root").await;
    let list = root.get("/customs/users").await;
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains("<td>mia</td><td>maintainer</td>"),
        "{}",
        list.body
    );
    let short = root
        .submit(
            "/customs/users",
            "/customs/users/add",
            &[
                ("name", "eve"),
                ("role", "maintainer"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(short.status, 422);
    assert!(short.body.contains("too short"));
    let ok = root
        .submit(
            "/customs/users",
            "/customs/users/add",
            &[
                ("name", "eve"),
                ("role", "maintainer"),
                ("password", "eve's long password"),
            ],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(
        db.user("eve").await.unwrap().unwrap().role,
        Role::Maintainer
    );
    let rm = root
        .submit(
            "/customs/users",
            "/customs/users/remove",
            &[("name", "eve")],
        )
        .await;
    assert_eq!(rm.status, 303);
    assert!(db.user("eve").await.unwrap().is_none());
    let me = root
        .submit(
            "/customs/users",
            "/customs/users/remove",
            &[("name", "root")],
        )
        .await;
    assert_eq!(me.status, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn testing_a_tracker_shows_parsed_bugs_and_saves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, db) = setup(&dir).await;
    let servers = servers(1, 8).await;
    add_trackers(&db, &servers, &[]).await;
    let mut root = browser(&svc, "root").await;
    let page = "/customs/tracker?name=Synthetic+00";
    // Unsaved rules are what the run uses: bite-sized on a keyword no bug has.
    let a = root
        .submit(
            page,
            "/customs/tracker/test",
            &[
                ("tracker", "Synthetic 00"),
                ("k.bitesized_text", "no-such-keyword"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("records parsed"), "{}", a.body);
    let rows = a.body.matches("<tr><td><a href=\"http").count();
    assert!(rows > 0, "{}", a.body);
    assert!(
        !a.body.contains("<td>yes</td><td>no</td><td>no</td>"),
        "nothing bite-sized"
    );
    let b = root
        .submit(
            page,
            "/customs/tracker/test",
            &[("tracker", "Synthetic 00")],
        )
        .await;
    assert!(
        b.body.contains("<td>yes</td>"),
        "the saved rule finds bite-sized bugs: {}",
        b.body
    );
    // Nothing written: no bugs, the rule unchanged.
    let r = db.tracker("Synthetic 00").await.unwrap().unwrap();
    assert_eq!((r.bug_count, r.config.bitesized_text.as_str()), (0, "easy"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn testing_a_new_tracker_before_adding_it_saves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, db) = setup(&dir).await;
    let servers = servers(1, 6).await;
    let t = servers[0].trac_url();
    let query = format!("{t}query?format=csv&status=!closed&col=id&order=id&max=50&page=1");
    let mut mia = browser(&svc, "mia").await;
    let fields = [
        ("type", "trac"),
        ("name", "Not yet"),
        ("k.base_url", t.as_str()),
        ("k.bitesized_type", "keywords"),
        ("k.bitesized_text", "easy"),
        ("queries", query.as_str()),
    ];
    let a = mia
        .submit("/customs/?type=trac", "/customs/test", &fields)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body.contains("records parsed") && a.body.contains("<td>yes</td>"),
        "{}",
        a.body
    );
    // The form keeps what was typed, ready to add.
    assert!(
        a.body.contains(r#"name="name" value="Not yet""#),
        "{}",
        a.body
    );
    assert!(db.tracker("Not yet").await.unwrap().is_none());
    // Without a query there is nothing to test: said beside the queries.
    let none = mia
        .submit("/customs/?type=trac", "/customs/test", &fields[..5])
        .await;
    assert_eq!(none.status, 422);
    assert!(
        none.body.contains("Give a query URL to test."),
        "{}",
        none.body
    );
}
