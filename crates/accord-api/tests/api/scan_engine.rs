//! §8.3 scans through the static engine, against fixture sites on loopback: cookies from
//! `Set-Cookie`, third-party elements from a second loopback address, same-host assets left
//! out, deep scans, redirect chains and loops, pages too large or too slow, a second scan
//! counting matches as `project`, and the network guard refusing private targets.
use crate::both;
use crate::common::*;
use accord_api::respond::Page;
use accord_api::ApiConfig;
use accord_core::gcm::GcmScan;
use accord_core::schema::published;
use accord_core::trackers::TrackerView;
use accord_scan::fetch::Limits;
use accord_scan::StaticEngine;
use axum::body::Body;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

both!(
    static_scans_detect_cookies_and_third_parties,
    static_scans_bound_redirects_size_and_time,
    the_network_guard_refuses_private_targets,
    gcm_scans_check_each_page,
    gcm_scan_rules,
);

const SCAN_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves `app` on `ip`, port chosen by the system.
async fn serve(ip: &str, app: Router) -> u16 {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind");
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

fn html(cookies: &[&str], body: String) -> Response {
    let mut r = ([("content-type", "text/html; charset=utf-8")], body).into_response();
    for c in cookies {
        r.headers_mut().append(SET_COOKIE, c.parse().unwrap());
    }
    r
}

fn redirect(to: &str) -> Response {
    (axum::http::StatusCode::FOUND, [(LOCATION, to.to_string())]).into_response()
}

/// Pages of the GCM fixtures, by issue (`{client}` is this project's site client URL).
fn gcm_pages(client: &str) -> Vec<(&'static str, String)> {
    let gtag = r#"<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>"#;
    vec![
        ("/gcm/clean", format!(r#"<script src="{client}"></script>{gtag}"#)),
        ("/gcm/inline", format!(
            "<script>gtag('consent', 'default', {{ad_storage: 'denied'}}); gtag(\"consent\",\"update\",{{}})</script>{gtag}"
        )),
        ("/gcm/none", "<p>no tags</p>".to_string()),
        ("/gcm/late", format!(r#"{gtag}<script src="{client}"></script>"#)),
        ("/gcm/deferred", format!(r#"<script defer src="{client}"></script>"#)),
        ("/gcm/default-only", format!("<script>gtag('consent','default',{{}})</script>{gtag}")),
        ("/gcm/tags", gtag.to_string()),
    ]
}

/// A site serving [`gcm_pages`] on 127.0.0.1; its port.
async fn gcm_site(client: &str) -> u16 {
    let mut app = Router::new();
    for (path, body) in gcm_pages(client) {
        app = app.route(
            path,
            get(move || {
                let body = body.clone();
                async move { html(&[], body) }
            }),
        );
    }
    serve("127.0.0.1", app).await
}

/// The first-party site on `localhost` (127.0.0.1), loading from a third party on
/// 127.0.0.2. Returns the site's port.
async fn fixture_sites() -> u16 {
    let third = Router::new().fallback(|| async { "ok" });
    let tp = serve("127.0.0.2", third).await;
    let t = format!("http://127.0.0.2:{tp}");
    let home = format!(
        r#"<!doctype html><html><head>
        <script src="{t}/t.js"></script><link rel="stylesheet" href="{t}/s.css">
        <script src="/app.js"></script><link rel="icon" href="/favicon.ico">
        </head><body><img src="{t}/px.gif?id=1"><iframe src="{t}/frame"></iframe>
        <img src="/logo.png"><a href="/about">About</a><a href="{t}/elsewhere">Out</a>
        <a href="/about#team">Team</a></body></html>"#
    );
    let about = format!(r#"<html><body><script src="{t}/deep.js"></script></body></html>"#);
    let app = Router::new()
        .route(
            "/",
            get(move || {
                let home = home.clone();
                async move {
                    html(
                        &[
                            "sid=1; Path=/; HttpOnly",
                            "_ga=GA1.1; Domain=.localhost; Path=/",
                        ],
                        home,
                    )
                }
            }),
        )
        .route(
            "/about",
            get(move || {
                let about = about.clone();
                async move { html(&["about_seen=1"], about) }
            }),
        )
        .route("/r1", get(|| async { redirect("/r2") }))
        .route("/r2", get(|| async { redirect("/r3") }))
        .route(
            "/r3",
            get(|| async {
                let mut r = redirect("/landing");
                r.headers_mut().append(SET_COOKIE, "hop=1".parse().unwrap());
                r
            }),
        )
        .route(
            "/landing",
            get(|| async { html(&["landed=1"], "<p>hello</p>".into()) }),
        )
        .route("/loop", get(|| async { redirect("/loop") }))
        .route(
            "/huge",
            get(|| async { html(&["big=1"], "x".repeat(5 * 1024 * 1024 + 1)) }),
        )
        .route(
            "/huge-stream",
            get(|| async {
                let chunk = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
                let chunks = futures::stream::repeat(chunk)
                    .take(100)
                    .map(Ok::<_, std::io::Error>);
                Response::builder()
                    .header("content-type", "text/html")
                    .body(Body::from_stream(chunks))
                    .unwrap()
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "never"
            }),
        )
        .route(
            "/garbage",
            get(|| async {
                html(
                    &["g=1"],
                    "<<<script src=\"http://127.0.0.2/x.js\"<img src=<iframe>\u{0}</".into(),
                )
            }),
        );
    serve("127.0.0.1", app).await
}

use futures::StreamExt;

fn config(allow_private: bool) -> ApiConfig {
    ApiConfig {
        rate_limit_privacy: 0,
        rate_limit_site: 0,
        scan_engine: Arc::new(StaticEngine::new(Limits {
            timeout: SCAN_TIMEOUT,
            allow_private,
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// Points the project's `localhost` domain at `url`.
async fn target(s: &Server, url: &str) {
    let (status, page) = s.get(&s.project_path("/domains")).await;
    assert_eq!(status, 200, "{page}");
    let id = page["items"][0]["id"].as_str().unwrap().to_string();
    let (status, d) = s
        .patch(
            &s.project_path(&format!("/domains/{id}")),
            json!({"url": url}),
        )
        .await;
    assert_eq!(status, 200, "{d}");
}

/// Starts a manual scan and waits for its end; the finished `scanHistory` entry.
async fn scan(s: &Server) -> Value {
    let path = s.project_path("/tracker-scans");
    let (status, entry) = s.post(&path, json!({})).await;
    assert_eq!(status, 202, "{entry}");
    for _ in 0..500 {
        let (status, h) = s.get(&s.project_path("/tracker-scan-history")).await;
        assert_eq!(status, 200, "{h}");
        let newest = &h["scanHistory"][0];
        assert_eq!(newest["taskArn"], entry["taskArn"]);
        if newest["status"] != "running" {
            return newest.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the scan did not end");
}

/// The project's trackers as `(type, name, domain, category, origin)`, sorted.
async fn trackers(s: &Server) -> Vec<(String, String, String, String, String)> {
    let (status, page) = s.get(&s.project_path("/trackers?limit=1000")).await;
    assert_eq!(status, 200, "{page}");
    check_schema(&published::<Page<TrackerView>>(), &page, "trackers").unwrap();
    let mut out: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let f = |k: &str| t[k].as_str().unwrap_or("").to_string();
            (
                f("type"),
                f("name"),
                f("domain"),
                f("category"),
                f("origin"),
            )
        })
        .collect();
    out.sort();
    out
}

fn counts(total: i64, new: i64, project: i64, analytics: i64, unclassified: i64) -> Value {
    json!({"total": total, "new": new, "project": project, "global": 0, "categories": {
        "analytics": analytics, "do_not_sell": 0, "functional": 0, "global_privacy_control": 0,
        "ignored": 0, "limit_pii_use": 0, "marketing": 0, "strictly_necessary": 0,
        "unclassified": unclassified}})
}

async fn static_scans_detect_cookies_and_third_parties(b: accord_store::Backend) {
    let port = fixture_sites().await;
    let s = start_with(b, config(true)).await;
    target(&s, &format!("http://localhost:{port}/")).await;
    let (status, _) = s
        .post(
            &s.project_path("/trackers"),
            json!({"name": "_ga", "type": "cookie", "domain": "localhost", "category": "analytics"}),
        )
        .await;
    assert_eq!(status, 201);

    let first = scan(&s).await;
    assert_eq!(first["status"], "completed", "{first}");
    assert_eq!(first["results"], counts(6, 5, 1, 1, 5));
    let a = |ty: &str, name: &str, domain: &str| {
        (
            ty.into(),
            name.into(),
            domain.into(),
            "unclassified".into(),
            "autoscan".into(),
        )
    };
    let mut expected: Vec<(String, String, String, String, String)> = vec![
        (
            "cookie".into(),
            "_ga".into(),
            "localhost".into(),
            "analytics".into(),
            "manual".into(),
        ),
        a("cookie", "sid", "localhost"),
        a("script", "127.0.0.2/t.js", "127.0.0.2"),
        a("link", "127.0.0.2/s.css", "127.0.0.2"),
        a("image", "127.0.0.2/px.gif", "127.0.0.2"),
        a("iframe", "127.0.0.2/frame", "127.0.0.2"),
    ];
    expected.sort();
    // Same-host assets (`/app.js`, `/logo.png`, `/favicon.ico`) are not third parties, and
    // links are not fetched without `deepScan`.
    assert_eq!(trackers(&s).await, expected);

    // A second scan finds the same trackers: every one counts as `project`.
    let second = scan(&s).await;
    assert_eq!(second["results"], counts(6, 0, 6, 1, 5));
    assert_eq!(trackers(&s).await, expected);

    // Deep: the same-host page linked (twice) is fetched too; the third-party link is not.
    let (status, p) = s
        .patch(
            &s.project_path(""),
            json!({"settings": {"trackers": {"deepScan": true}}}),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    let deep = scan(&s).await;
    assert_eq!(deep["results"], counts(8, 2, 6, 1, 7));
    expected.push(a("cookie", "about_seen", "localhost"));
    expected.push(a("script", "127.0.0.2/deep.js", "127.0.0.2"));
    expected.sort();
    assert_eq!(trackers(&s).await, expected);

    // A domain that cannot be fetched is skipped: the scan of the others completes.
    let (status, d) = s
        .post(
            &s.project_path("/domains"),
            json!({"domain": "loop.localhost", "url": format!("http://localhost:{port}/loop")}),
        )
        .await;
    assert_eq!(status, 201, "{d}");
    let partial = scan(&s).await;
    assert_eq!(partial["status"], "completed", "{partial}");
    assert_eq!(partial["domainsCount"], 2);
    assert_eq!(partial["results"], counts(8, 0, 8, 1, 7));
}

async fn static_scans_bound_redirects_size_and_time(b: accord_store::Backend) {
    let port = fixture_sites().await;
    let s = start_with(b, config(true)).await;
    let site = format!("http://localhost:{port}");

    // Three redirects are followed; cookies set on the way are detected.
    target(&s, &format!("{site}/r1")).await;
    let chain = scan(&s).await;
    assert_eq!(chain["status"], "completed", "{chain}");
    assert_eq!(chain["results"]["new"], 2);
    let names: Vec<String> = trackers(&s).await.into_iter().map(|t| t.1).collect();
    assert_eq!(names, vec!["hop", "landed"]);

    // A loop ends after 5 redirects; pages over 5 MiB (declared or streamed), and a page
    // that never answers, fail their scan without storing anything.
    for path in ["/loop", "/huge", "/huge-stream", "/slow"] {
        target(&s, &format!("{site}{path}")).await;
        let started = Instant::now();
        let failed = scan(&s).await;
        assert_eq!(failed["status"], "failed", "{path}: {failed}");
        assert_eq!(failed["results"], counts(0, 0, 0, 0, 0), "{path}");
        assert!(
            started.elapsed() < SCAN_TIMEOUT + Duration::from_secs(3),
            "{path} took {:?}",
            started.elapsed()
        );
    }
    assert_eq!(
        trackers(&s).await.len(),
        2,
        "nothing stored by failed scans"
    );

    // Malformed markup is read as far as it goes.
    target(&s, &format!("{site}/garbage")).await;
    let garbage = scan(&s).await;
    assert_eq!(garbage["status"], "completed", "{garbage}");
    let (status, health) = s.get("/privacy-v1/health").await;
    assert_eq!(status, 200, "{health}");
}

async fn the_network_guard_refuses_private_targets(b: accord_store::Backend) {
    let port = fixture_sites().await;
    let s = start_with(b, config(false)).await;
    // A loopback address, and a name resolving to loopback, are refused.
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
    ] {
        target(&s, &url).await;
        let refused = scan(&s).await;
        assert_eq!(refused["status"], "failed", "{url}: {refused}");
    }
    assert!(trackers(&s).await.is_empty());
    // Why, in the engine's words (the `error` of a GCM scan, the server's log).
    let limits = Limits {
        timeout: SCAN_TIMEOUT,
        ..Default::default()
    };
    let client = accord_scan::fetch::client(&limits);
    let why = |url: String| {
        let (client, limits) = (client.clone(), limits.clone());
        async move {
            accord_scan::fetch::fetch(&client, &limits, &url)
                .await
                .unwrap_err()
        }
    };
    assert_eq!(
        why(format!("http://127.0.0.1:{port}/")).await,
        format!(
            "http://127.0.0.1:{port}/: 127.0.0.1 is a loopback address, which scans may not reach"
        )
    );
    let by_name = why(format!("http://localhost:{port}/r1")).await;
    assert!(
        by_name.starts_with(&format!(
            "http://localhost:{port}/r1: localhost resolves to "
        )) && by_name.ends_with("a loopback address, which scans may not reach"),
        "{by_name}"
    );
    assert_eq!(
        why("ftp://example.com/".into()).await,
        "ftp://example.com/: only http and https are fetched"
    );

    // A redirect hop is checked like the first: from a site whose own address is let
    // through (127.0.0.2), redirects to loopback by address, or by a name resolving to
    // loopback, are refused.
    let hop = Router::new()
        .route("/ok", get(|| async { redirect("/landing") }))
        .route("/landing", get(|| async { "landed" }))
        .route(
            "/to-address",
            get(move || async move { redirect(&format!("http://127.0.0.1:{port}/landing")) }),
        )
        .route(
            "/to-name",
            get(move || async move { redirect(&format!("http://localhost:{port}/landing")) }),
        );
    let hop_port = serve("127.0.0.2", hop).await;
    let limits = Limits {
        timeout: SCAN_TIMEOUT,
        exempt: vec!["127.0.0.2".parse().unwrap()],
        ..Default::default()
    };
    let client = accord_scan::fetch::client(&limits);
    let hop_url = |p: &str| format!("http://127.0.0.2:{hop_port}{p}");
    let fetched = accord_scan::fetch::fetch(&client, &limits, &hop_url("/ok"))
        .await
        .unwrap();
    assert_eq!(fetched.url.path(), "/landing");
    let refused = accord_scan::fetch::fetch(&client, &limits, &hop_url("/to-address"))
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        format!("http://127.0.0.1:{port}/landing: 127.0.0.1 is a loopback address, which scans may not reach")
    );
    let refused = accord_scan::fetch::fetch(&client, &limits, &hop_url("/to-name"))
        .await
        .unwrap_err();
    assert!(
        refused.starts_with(&format!(
            "http://localhost:{port}/landing: localhost resolves to "
        )),
        "{refused}"
    );
}

/// Starts a GCM scan and waits for its end; the finished GcmScan.
async fn gcm_scan(s: &Server, body: Option<Value>) -> Value {
    let path = s.project_path("/gcm-scans");
    let (status, started) = match body {
        Some(b) => s.post(&path, b).await,
        None => send(s.req(reqwest::Method::POST, &path)).await,
    };
    assert_eq!(status, 202, "{started}");
    check_schema(&published::<GcmScan>(), &started, "gcm scan").unwrap();
    assert_eq!(started["status"], "running");
    let id = started["id"].as_str().unwrap();
    for _ in 0..500 {
        let (status, scan) = s.get(&format!("{path}/{id}")).await;
        assert_eq!(status, 200, "{scan}");
        check_schema(&published::<GcmScan>(), &scan, "gcm scan").unwrap();
        if scan["status"] != "running" {
            assert!(
                scan["dateCompleted"].as_i64().unwrap() >= scan["dateCreated"].as_i64().unwrap()
            );
            return scan;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the GCM scan did not end");
}

fn issue_codes(scan: &Value) -> Vec<String> {
    scan["results"][0]["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            assert!(!i["message"].as_str().unwrap().is_empty());
            i["code"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Each issue code of §8.4 on a page made for it, a clean page, and the Default region's
/// `gcm` setting behind `consent_tab_empty`.
async fn gcm_scans_check_each_page(b: accord_store::Backend) {
    let s = start_with(b, config(true)).await;
    let client = s.url(&format!("/site-v1/{}/site-client", s.project));
    let port = gcm_site(&client).await;
    let site = format!("http://localhost:{port}");
    let (status, regions) = s.get(&s.project_path("/regions")).await;
    assert_eq!(status, 200, "{regions}");
    let default_region = regions["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["regions"] == json!(["default"]))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let region_path = s.project_path(&format!("/regions/{default_region}"));
    let (status, r) = s
        .patch(
            &region_path,
            json!({"settings": {"consent": {"gcm": "basic"}}}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    let cases: &[(&str, &[&str])] = &[
        ("/gcm/clean", &[]),
        ("/gcm/inline", &[]),
        (
            "/gcm/none",
            &["default_consent_not_set", "consent_not_updated"],
        ),
        ("/gcm/late", &["default_consent_too_late"]),
        ("/gcm/deferred", &["default_consent_too_late"]),
        ("/gcm/default-only", &["consent_not_updated"]),
    ];
    for (path, expected) in cases {
        let url = format!("{site}{path}");
        let scan = gcm_scan(&s, Some(json!({"url": url}))).await;
        assert_eq!(scan["status"], "completed", "{scan}");
        assert_eq!(scan["scanType"], "custom");
        assert_eq!(scan["url"], url.as_str());
        assert_eq!(scan["results"].as_array().unwrap().len(), 1);
        assert_eq!(scan["results"][0]["url"], url.as_str());
        assert_eq!(scan["results"][0]["passed"], expected.is_empty(), "{path}");
        assert_eq!(issue_codes(&scan), *expected, "{path}");
        assert!(scan.get("error").is_none());
    }
    // Google tags while the Default region has GCM disabled.
    let (status, r) = s
        .patch(
            &region_path,
            json!({"settings": {"consent": {"gcm": "disabled"}}}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    let tags = gcm_scan(&s, Some(json!({"url": format!("{site}/gcm/tags")}))).await;
    assert_eq!(
        issue_codes(&tags),
        [
            "default_consent_not_set",
            "consent_not_updated",
            "consent_tab_empty"
        ]
    );
    let clean = gcm_scan(&s, Some(json!({"url": format!("{site}/gcm/clean")}))).await;
    assert_eq!(issue_codes(&clean), ["consent_tab_empty"]);

    // Without `url`, every domain is scanned.
    target(&s, &format!("{site}/gcm/none")).await;
    let domains = gcm_scan(&s, None).await;
    assert_eq!(domains["scanType"], "domains");
    assert!(domains.get("url").is_none());
    assert_eq!(domains["results"][0]["url"], format!("{site}/gcm/none"));

    // The list: newest first, filters.
    let path = s.project_path("/gcm-scans");
    let (status, page) = s.get(&path).await;
    assert_eq!(status, 200, "{page}");
    check_schema(&published::<Page<GcmScan>>(), &page, "gcm scans").unwrap();
    assert_eq!(page["total"], 9);
    assert_eq!(page["items"][0]["id"], domains["id"]);
    let (_, page) = s.get(&format!("{path}?scanType=domains")).await;
    assert_eq!(page["total"], 1);
    let (_, page) = s.get(&format!("{path}?status=failed&status=running")).await;
    assert_eq!(page["total"], 0);
    let (_, page) = s
        .get(&format!(
            "{path}?sort=dateCreated&order=asc&limit=2&offset=1"
        ))
        .await;
    assert_eq!(page["count"], 2);
    assert_eq!(page["total"], 9);
}

/// The body, the 422 without domains, 404s, the network guard's refusal as the scan's
/// `error`, and a page that cannot be fetched.
async fn gcm_scan_rules(b: accord_store::Backend) {
    let s = start_with(b, config(false)).await;
    let path = s.project_path("/gcm-scans");
    assert_error(
        &s.post(&path, json!({"url": "ftp://example.com/"})).await,
        400,
        "body/url must match format \"uri\"",
    );
    assert_error(
        &s.post(&path, json!({"url": 1})).await,
        400,
        "body/url must be string",
    );
    assert_error(
        &s.post(&path, json!({"other": 1})).await,
        400,
        "body must NOT have additional properties: 'other'",
    );
    assert_error(
        &s.get(&format!("{path}?status=done")).await,
        400,
        "querystring/status must be equal to one of the allowed values: running, completed, failed",
    );
    assert_error(
        &s.get(&format!("{path}/{}", uuid::Uuid::now_v7())).await,
        404,
        "Not Found",
    );
    let (_, page) = s.get(&path).await;
    assert_eq!(page["total"], 0, "nothing stored by refused bodies");

    // The guard: loopback refused, in the scan's `error`.
    let refused = gcm_scan(&s, Some(json!({"url": "http://127.0.0.1:9/"}))).await;
    assert_eq!(refused["status"], "failed");
    assert_eq!(refused["results"], json!([]));
    assert_eq!(
        refused["error"],
        "http://127.0.0.1:9/: 127.0.0.1 is a loopback address, which scans may not reach"
    );
    target(&s, "http://localhost:9/").await;
    let by_name = gcm_scan(&s, None).await;
    assert_eq!(by_name["status"], "failed");
    let error = by_name["error"].as_str().unwrap();
    assert!(
        error.contains("localhost resolves to") && error.contains("loopback"),
        "{error}"
    );

    // A running scan whose server stopped (its lease ended) is failed by the scan job.
    let orphan = accord_core::gcm::GcmScan {
        id: uuid::Uuid::now_v7(),
        organization_id: s.org,
        project_id: s.project,
        scan_type: "domains".into(),
        url: None,
        status: "running".into(),
        date_created: accord_core::time::now_ms() - 10_000,
        date_completed: None,
        results: vec![],
        error: None,
    };
    s.store
        .start_gcm_scan(&orphan, accord_core::time::now_ms() - 1)
        .await
        .unwrap();
    let state = accord_api::AppState::new(
        s.store.clone(),
        Arc::new(object_store::memory::InMemory::new()),
        config(false),
    );
    accord_api::jobs::start_due_scans(&state).await.unwrap();
    let (status, ended) = s.get(&format!("{path}/{}", orphan.id)).await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!(ended["status"], "failed");
    assert_eq!(ended["error"], "the server running the scan stopped");
    assert!(ended["dateCompleted"].is_i64());

    // A project without domains.
    let (_, domains) = s.get(&s.project_path("/domains")).await;
    let id = domains["items"][0]["id"].as_str().unwrap();
    let (status, _) = s.delete(&s.project_path(&format!("/domains/{id}"))).await;
    assert_eq!(status, 200);
    assert_error(
        &s.post(&path, json!({})).await,
        422,
        "project has no domains",
    );
    // A viewer reads but does not start.
    let viewer = s.key_with(accord_core::auth::Role::Viewer, vec![]).await;
    let (status, _) = send(s.req_as(&viewer, reqwest::Method::GET, &path)).await;
    assert_eq!(status, 200);
    let (status, _) = send(s.req_as(&viewer, reqwest::Method::POST, &path)).await;
    assert_eq!(status, 403);
}
