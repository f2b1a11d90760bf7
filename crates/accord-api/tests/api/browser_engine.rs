//! Scans through the browser engine (`ACCORD_SCAN_ENGINE=browser`), in real headless
//! Chromium against fixture sites on loopback: what scripts set and request, the network
//! guard on every request a page makes, the page bounds, the consent replay, and GCM scans
//! that watch the page run. With `CI=true` a missing Chromium fails these tests.
use crate::both;
use crate::common::*;
use accord_api::ApiConfig;
use accord_core::gcm::GcmContext;
use accord_core::scans::{ScanEngine, TrackerScanHistory};
use accord_core::schema::published;
use accord_scan::browser::BrowserEngine;
use accord_scan::fetch::Limits;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

both!(
    browser_scans_record_what_scripts_do,
    browser_scans_bound_redirects_size_and_time,
    browser_scans_keep_every_request_behind_the_guard,
    consent_replay_names_trackers_that_ignore_a_decline,
);

const SCAN_TIMEOUT: Duration = Duration::from_secs(4);

/// The Chromium of the tests: `/usr/bin/chromium` (or `ACCORD_SCAN_BROWSER`); without it
/// the test is skipped, or fails under `CI=true`.
pub fn chromium() -> Option<PathBuf> {
    let path = PathBuf::from(
        std::env::var("ACCORD_SCAN_BROWSER").unwrap_or_else(|_| "/usr/bin/chromium".into()),
    );
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{} is missing: CI requires Chromium", path.display());
    }
    eprintln!("skipped: {} is missing", path.display());
    None
}

fn engine(limits: Limits) -> Option<BrowserEngine> {
    Some(BrowserEngine::new(limits, chromium()?))
}

fn limits(allow_private: bool) -> Limits {
    Limits {
        timeout: SCAN_TIMEOUT,
        allow_private,
        ..Default::default()
    }
}

fn config(engine: BrowserEngine) -> ApiConfig {
    ApiConfig {
        rate_limit_privacy: 0,
        rate_limit_site: 0,
        scan_engine: Arc::new(engine),
        ..Default::default()
    }
}

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

fn js(body: String) -> Response {
    ([("content-type", "text/javascript")], body).into_response()
}

fn redirect(to: String) -> Response {
    (axum::http::StatusCode::FOUND, [(LOCATION, to)]).into_response()
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

/// Starts a manual scan and waits for its end; the finished `scanHistory` entry, checked
/// against the published schema.
async fn scan(s: &Server) -> Value {
    let (status, entry) = s.post(&s.project_path("/tracker-scans"), json!({})).await;
    assert_eq!(status, 202, "{entry}");
    for _ in 0..1500 {
        let (status, h) = s.get(&s.project_path("/tracker-scan-history")).await;
        assert_eq!(status, 200, "{h}");
        let newest = &h["scanHistory"][0];
        assert_eq!(newest["taskArn"], entry["taskArn"]);
        if newest["status"] != "running" {
            check_schema(&published::<TrackerScanHistory>(), &h, "history").unwrap();
            return newest.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the scan did not end");
}

/// The project's trackers as `(type, name, domain)`, sorted.
async fn trackers(s: &Server) -> Vec<(String, String, String)> {
    let (status, page) = s.get(&s.project_path("/trackers?limit=1000")).await;
    assert_eq!(status, 200, "{page}");
    let mut out: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let f = |k: &str| t[k].as_str().unwrap_or("").to_string();
            (f("type"), f("name"), f("domain"))
        })
        .collect();
    out.sort();
    out
}

fn t3(ty: &str, name: &str, domain: &str) -> (String, String, String) {
    (ty.into(), name.into(), domain.into())
}

/// A third party on 127.0.0.2 whose tag, loaded by script, sends a beacon, a `fetch` and an
/// image, and a first-party page on `localhost` that sets a cookie by header and one by
/// script, writes both storages and injects the tag and a frame. Returns the site's port.
async fn script_sites() -> u16 {
    let third = Router::new()
        .route(
            "/tag.js",
            get(|| async {
                js(r#"(() => {
                    const t = document.currentScript.src.replace(/\/tag\.js.*$/, '');
                    navigator.sendBeacon(t + '/beacon', 'x');
                    fetch(t + '/api/collect?x=1', { mode: 'no-cors' });
                    new Image().src = t + '/px.gif?id=1';
                })();"#
                    .into())
            }),
        )
        .fallback(|| async { "ok" });
    let tp = serve("127.0.0.2", third).await;
    let t = format!("http://127.0.0.2:{tp}");
    let home = format!(
        r#"<!doctype html><html><head><script src="/app.js"></script></head><body>
        <script>
          document.cookie = '_fbp=fb.1.2; path=/';
          localStorage.setItem('ls_visits', '1');
          sessionStorage.setItem('ss_step', '1');
          const s = document.createElement('script'); s.src = '{t}/tag.js';
          document.head.appendChild(s);
          const f = document.createElement('iframe'); f.src = '{t}/frame';
          document.body.appendChild(f);
        </script><p>hello</p></body></html>"#
    );
    let app = Router::new()
        .route(
            "/",
            get(move || {
                let home = home.clone();
                async move { html(&["sid=1; Path=/; HttpOnly"], home) }
            }),
        )
        .route("/app.js", get(|| async { js("window.app = 1;".into()) }));
    serve("127.0.0.1", app).await
}

async fn browser_scans_record_what_scripts_do(b: accord_store::Backend) {
    let Some(engine) = engine(limits(true)) else {
        return;
    };
    let port = script_sites().await;
    let s = start_with(b, config(engine)).await;
    target(&s, &format!("http://localhost:{port}/")).await;

    let first = scan(&s).await;
    assert_eq!(first["status"], "completed", "{first}");
    let mut expected = vec![
        t3("cookie", "sid", "localhost"),
        t3("cookie", "_fbp", "localhost"),
        t3("local_storage", "ls_visits", "localhost"),
        t3("session_storage", "ss_step", "localhost"),
        t3("script", "127.0.0.2/tag.js", "127.0.0.2"),
        t3("iframe", "127.0.0.2/frame", "127.0.0.2"),
        t3("image", "127.0.0.2/beacon", "127.0.0.2"),
        t3("image", "127.0.0.2/api/collect", "127.0.0.2"),
        t3("image", "127.0.0.2/px.gif", "127.0.0.2"),
    ];
    expected.sort();
    // The same-host script (`/app.js`) and the page itself are not third parties.
    assert_eq!(trackers(&s).await, expected);
    assert_eq!(first["results"]["total"], 9, "{first}");
    assert_eq!(first["results"]["new"], 9, "{first}");
    // No site client on the page: the replay gave no consent at all, and with every tracker
    // unclassified nothing is named.
    assert_eq!(
        first["results"]["consentReplay"],
        json!({"mode": "no_consent", "passed": true, "issues": []})
    );

    // A second scan finds the same trackers: every one counts as `project`.
    let second = scan(&s).await;
    assert_eq!(second["results"]["total"], 9, "{second}");
    assert_eq!(second["results"]["project"], 9, "{second}");
    assert_eq!(second["results"]["new"], 0, "{second}");
    assert_eq!(trackers(&s).await, expected);
}

/// A site on 127.0.0.1 with a redirect chain, a loop, a page over 5 MiB and one that
/// never answers.
async fn bound_sites() -> u16 {
    let app = Router::new()
        .route("/r1", get(|| async { redirect("/r2".into()) }))
        .route("/r2", get(|| async { redirect("/r3".into()) }))
        .route("/r3", get(|| async { redirect("/landing".into()) }))
        .route(
            "/landing",
            get(|| async {
                html(
                    &["landed=1"],
                    "<script>document.cookie='late=1'</script>".into(),
                )
            }),
        )
        .route("/loop", get(|| async { redirect("/loop".into()) }))
        .route(
            "/huge",
            get(|| async { html(&["big=1"], "x".repeat(5 * 1024 * 1024 + 1)) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "never"
            }),
        );
    serve("127.0.0.1", app).await
}

async fn browser_scans_bound_redirects_size_and_time(b: accord_store::Backend) {
    let Some(engine) = engine(limits(true)) else {
        return;
    };
    let port = bound_sites().await;
    let s = start_with(b, config(engine)).await;
    let site = format!("http://localhost:{port}");

    target(&s, &format!("{site}/r1")).await;
    let chain = scan(&s).await;
    assert_eq!(chain["status"], "completed", "{chain}");
    assert_eq!(
        trackers(&s).await,
        vec![
            t3("cookie", "landed", "localhost"),
            t3("cookie", "late", "localhost")
        ]
    );

    for path in ["/loop", "/huge", "/slow"] {
        target(&s, &format!("{site}{path}")).await;
        let started = Instant::now();
        let failed = scan(&s).await;
        assert_eq!(failed["status"], "failed", "{path}: {failed}");
        assert_eq!(failed["results"]["total"], 0, "{path}");
        assert!(
            started.elapsed() < 2 * SCAN_TIMEOUT + Duration::from_secs(4),
            "{path} took {:?}",
            started.elapsed()
        );
    }
    assert_eq!(
        trackers(&s).await.len(),
        2,
        "nothing stored by failed scans"
    );
    let (status, health) = s.get("/privacy-v1/health").await;
    assert_eq!(status, 200, "{health}");
}

async fn browser_scans_keep_every_request_behind_the_guard(b: accord_store::Backend) {
    // 127.0.0.2 is let through (as a public site would be); loopback 127.0.0.1 is not.
    let Some(engine) = engine(Limits {
        timeout: SCAN_TIMEOUT,
        exempt: vec!["127.0.0.2".parse().unwrap()],
        ..Default::default()
    }) else {
        return;
    };
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let inside = Router::new().fallback(move || {
        let h = h.clone();
        async move {
            h.fetch_add(1, Ordering::SeqCst);
            html(&["internal=1"], "<p>internal</p>".into())
        }
    });
    let ip = serve("127.0.0.1", inside).await;
    let page = format!(
        r#"<html><body><img src="http://127.0.0.1:{ip}/by-address.gif">
        <script>
          fetch('http://localhost:{ip}/by-name', {{ mode: 'no-cors' }}).catch(() => {{}});
          navigator.sendBeacon('http://[::ffff:127.0.0.1]:{ip}/mapped');
          const s = document.createElement('script'); s.src = 'http://127.0.0.1:{ip}/x.js';
          document.head.appendChild(s);
        </script></body></html>"#
    );
    let outside = Router::new()
        .route(
            "/",
            get(move || {
                let page = page.clone();
                async move { html(&[], page) }
            }),
        )
        .route(
            "/to-address",
            get(move || async move { redirect(format!("http://127.0.0.1:{ip}/landing")) }),
        )
        .route(
            "/to-name",
            get(move || async move { redirect(format!("http://localhost:{ip}/landing")) }),
        );
    let op = serve("127.0.0.2", outside).await;
    let s = start_with(b, config(engine)).await;

    // The page is scanned; none of its requests to loopback leaves the guard. What the page
    // asked for is detected all the same, as the static engine detects it from the markup.
    target(&s, &format!("http://127.0.0.2:{op}/")).await;
    let done = scan(&s).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a request reached loopback");
    let found = trackers(&s).await;
    assert!(
        found.contains(&t3("image", "127.0.0.1/by-address.gif", "127.0.0.1"))
            && found.contains(&t3("script", "127.0.0.1/x.js", "127.0.0.1")),
        "{found:?}"
    );

    // A target on loopback, by address or by name, and redirects to it, fail.
    for url in [
        format!("http://127.0.0.1:{ip}/"),
        format!("http://localhost:{ip}/"),
        format!("http://127.0.0.2:{op}/to-address"),
        format!("http://127.0.0.2:{op}/to-name"),
    ] {
        target(&s, &url).await;
        let refused = scan(&s).await;
        assert_eq!(refused["status"], "failed", "{url}: {refused}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a request reached loopback");

    // Why, in the engine's words (the `error` of a GCM scan).
    let engine = engine_for_errors();
    let ctx = GcmContext {
        project_id: uuid::Uuid::nil(),
        gcm_disabled: false,
    };
    let why = engine
        .gcm(&format!("http://127.0.0.2:{op}/to-address"), &ctx)
        .await
        .unwrap_err();
    assert_eq!(
        why,
        format!(
            "http://127.0.0.1:{ip}/landing: 127.0.0.1 is a loopback address, which scans may not reach"
        )
    );
    let why = engine
        .gcm(&format!("http://localhost:{ip}/"), &ctx)
        .await
        .unwrap_err();
    assert!(
        why.contains("localhost resolves to") && why.ends_with("which scans may not reach"),
        "{why}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a request reached loopback");
}

/// The pid of the Chromium whose profile is `dir` (its main process, not a helper).
fn chromium_main_process(dir: &std::path::Path) -> Option<u32> {
    let needle = format!("--user-data-dir={}", dir.display());
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        (args.contains(&needle) && !args.iter().any(|a| a.starts_with("--type="))).then_some(pid)
    })
}

fn engine_for_errors() -> BrowserEngine {
    BrowserEngine::new(
        Limits {
            timeout: SCAN_TIMEOUT,
            exempt: vec!["127.0.0.2".parse().unwrap()],
            ..Default::default()
        },
        chromium().expect("checked before"),
    )
}

/// A stand-in for the Accord site client: `window.concord` with `addConsentEvent`, the
/// project's consent types, and the declines it received.
const SITE_CLIENT: &str = r#"
window.concord = {
  config: { consentTypes: [
    { category: 'privacy_setting', subcategory: ['advertising'], label: 'ads' },
    { category: 'privacy_setting', subcategory: ['analytics'], label: 'stats' },
    { category: 'privacy_setting', subcategory: ['strictly_necessary'], label: 'needed' },
  ] },
  declined: [],
  consent: {
    addConsentEvent(ev) {
      if (ev.consentState === 'declined' && ev.consentAction === 'user_click')
        window.concord.declined.push(ev.subcategory[0]);
      fetch('/events', { method: 'POST', body: JSON.stringify(ev) });
      return Promise.resolve({ count: 1, items: [ev] });
    },
  },
};"#;

/// Consent-replay fixtures: a page with the site client, a Google tag that follows the
/// consent state, a pixel that waits for consent and respects a decline, and one that
/// fires regardless; and a page without site client whose Google tag is granted by default.
async fn replay_sites(declines: Arc<std::sync::Mutex<Vec<Value>>>) -> u16 {
    let third = Router::new()
        .route(
            "/gtag/js",
            get(|| async {
                js(r#"(() => {
                    const t = document.currentScript.src.replace(/\/gtag\/js.*$/, '');
                    let ad = 'granted', an = 'granted';
                    for (const c of window.dataLayer || []) {
                      if (c[0] === 'consent') { ad = c[2].ad_storage || ad; an = c[2].analytics_storage || an; }
                    }
                    const gcs = 'G1' + (ad === 'granted' ? '1' : '0') + (an === 'granted' ? '1' : '0');
                    setTimeout(() => fetch(t + '/g/collect?v=2&gcs=' + gcs, { mode: 'no-cors' }), 100);
                })();"#
                    .into())
            }),
        )
        .route(
            "/good.js",
            get(|| async {
                js(r#"(() => {
                    const t = document.currentScript.src.replace(/\/good\.js.*$/, '');
                    setTimeout(() => {
                      if ((window.concord && window.concord.declined || []).includes('advertising')) return;
                      document.cookie = '_good=1; path=/';
                      new Image().src = t + '/good-px?ev=PageView';
                    }, 150);
                })();"#
                    .into())
            }),
        )
        .route(
            "/bad.js",
            get(|| async {
                js(r#"(() => {
                    const t = document.currentScript.src.replace(/\/bad\.js.*$/, '');
                    setTimeout(() => {
                      document.cookie = '_bad=1; path=/';
                      new Image().src = t + '/bad-px?ev=PageView';
                    }, 150);
                })();"#
                    .into())
            }),
        )
        .fallback(|| async { "ok" });
    let tp = serve("127.0.0.2", third).await;
    let t = format!("http://127.0.0.2:{tp}");
    let gtag = |default: &str| {
        format!(
            r#"<script>window.dataLayer = window.dataLayer || []; function gtag(){{dataLayer.push(arguments)}}
            gtag('consent', 'default', {default});</script>
            <script async src="{t}/gtag/js?id=G-1"></script>"#
        )
    };
    let careful = format!(
        r#"<html><head><script src="/site-client.js"></script>{}
        <script src="{t}/good.js"></script><script src="{t}/bad.js"></script></head>
        <body><p>shop</p></body></html>"#,
        gtag("{ad_storage: 'denied', analytics_storage: 'denied'}")
    );
    let careless = format!(
        "<html><head>{}</head><body></body></html>",
        gtag("{ad_storage: 'granted', analytics_storage: 'granted'}")
    );
    let app = Router::new()
        .route(
            "/",
            get(move || {
                let careful = careful.clone();
                async move { html(&[], careful) }
            }),
        )
        .route(
            "/careless",
            get(move || {
                let careless = careless.clone();
                async move { html(&[], careless) }
            }),
        )
        .route("/site-client.js", get(|| async { js(SITE_CLIENT.into()) }))
        .route(
            "/events",
            post(move |body: String| {
                let declines = declines.clone();
                async move {
                    if let Ok(v) = serde_json::from_str(&body) {
                        declines.lock().unwrap().push(v);
                    }
                    "ok"
                }
            }),
        );
    serve("127.0.0.1", app).await
}

async fn consent_replay_names_trackers_that_ignore_a_decline(b: accord_store::Backend) {
    let Some(engine) = engine(limits(true)) else {
        return;
    };
    let declines = Arc::default();
    let port = replay_sites(Arc::clone(&declines)).await;
    let s = start_with(b, config(engine)).await;
    target(&s, &format!("http://localhost:{port}/")).await;
    // The privacy team has classified the pixels and their cookies.
    let (status, made) = s
        .post(
            &s.project_path("/trackers"),
            json!({"items": [
                {"name": "127.0.0.2/good-px", "type": "image", "domain": "127.0.0.2", "category": "marketing"},
                {"name": "127.0.0.2/bad-px", "type": "image", "domain": "127.0.0.2", "category": "marketing"},
                {"name": "_good", "type": "cookie", "domain": "localhost", "category": "marketing"},
                {"name": "_bad", "type": "cookie", "domain": "localhost", "category": "analytics"},
                {"name": "127.0.0.2/bad.js", "type": "script", "domain": "127.0.0.2", "category": "functional"},
            ]}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let id = |name: &str| {
        made.as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["id"]
            .clone()
    };

    let done = scan(&s).await;
    assert_eq!(done["status"], "completed", "{done}");
    // The first visit (no decline) saw both pixels.
    let names: Vec<String> = trackers(&s).await.into_iter().map(|t| t.1).collect();
    assert!(
        names.contains(&"127.0.0.2/good-px".to_string()),
        "{names:?}"
    );
    assert_eq!(done["results"]["categories"]["marketing"], 3, "{done}");
    // The replay declined through the site client, every non-essential type by a click.
    let got: Vec<Value> = declines.lock().unwrap().clone();
    let mut subs: Vec<String> = got
        .iter()
        .map(|e| {
            assert_eq!(e["consentState"], "declined");
            assert_eq!(e["consentAction"], "user_click");
            e["subcategory"][0].as_str().unwrap().to_string()
        })
        .collect();
    subs.sort();
    assert_eq!(subs, vec!["advertising", "analytics"]);
    // The pixel that fires regardless is named with its request and cookie; the one that
    // respects the decline, the functional script and the Google tag (gcs=G100) are not.
    let replay = &done["results"]["consentReplay"];
    assert_eq!(replay["mode"], "site_client", "{replay}");
    assert_eq!(replay["passed"], false, "{replay}");
    let issues = replay["issues"].as_array().unwrap();
    assert_eq!(issues.len(), 2, "{replay}");
    let px = issues
        .iter()
        .find(|i| i["trackerId"] == id("127.0.0.2/bad-px"))
        .expect("the pixel");
    assert_eq!(px["code"], "tracker_fired_after_decline");
    assert_eq!(px["category"], "marketing");
    assert_eq!(px["trackerName"], "127.0.0.2/bad-px");
    let urls = px["requests"].as_array().unwrap();
    assert_eq!(urls.len(), 1, "{px}");
    assert!(
        urls[0].as_str().unwrap().ends_with("/bad-px?ev=PageView"),
        "{px}"
    );
    assert_eq!(px["cookies"], json!([]));
    let cookie = issues
        .iter()
        .find(|i| i["trackerId"] == id("_bad"))
        .expect("the cookie");
    assert_eq!(cookie["category"], "analytics");
    assert_eq!(cookie["cookies"], json!(["_bad"]));
    assert_eq!(cookie["requests"], json!([]));
    assert!(
        cookie["message"]
            .as_str()
            .unwrap()
            .contains("analytics tracker '_bad'"),
        "{cookie}"
    );

    // Without site client and with consent granted by default, the Google requests of the
    // replay carry no denied state.
    target(&s, &format!("http://localhost:{port}/careless")).await;
    let careless = scan(&s).await;
    let replay = &careless["results"]["consentReplay"];
    assert_eq!(replay["mode"], "no_consent", "{replay}");
    let issues = replay["issues"].as_array().unwrap();
    assert_eq!(issues.len(), 1, "{replay}");
    assert_eq!(issues[0]["code"], "google_consent_not_denied");
    let url = issues[0]["requests"][0].as_str().unwrap();
    assert!(url.contains("/g/collect?v=2&gcs=G111"), "{url}");
    assert!(issues[0].get("trackerId").is_none(), "{replay}");
}

/// GCM pages whose tags are injected by script, so that only a browser sees them.
async fn gcm_sites() -> u16 {
    let third = Router::new().fallback(|| async { js("/* tag */".into()) });
    let tp = serve("127.0.0.2", third).await;
    let t = format!("http://127.0.0.2:{tp}");
    let inject = format!(
        "const s = document.createElement('script'); s.src = '{t}/gtag/js?id=G-1'; document.head.appendChild(s);"
    );
    let stub =
        "window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments)}";
    let pages = vec![
        (
            "/clean",
            format!(
                "<script>{stub} gtag('consent','default',{{ad_storage:'denied'}}); {inject} setTimeout(() => gtag('consent','update',{{ad_storage:'granted'}}), 50);</script>"
            ),
        ),
        (
            "/late",
            format!(
                "<script>{stub} {inject} setTimeout(() => gtag('consent','default',{{}}), 200); gtag('consent','update',{{}});</script>"
            ),
        ),
        ("/none", format!("<script>{inject}</script>")),
        (
            "/no-update",
            format!("<script>{stub} gtag('consent','default',{{}}); {inject}</script>"),
        ),
    ];
    let mut app = Router::new();
    for (path, body) in pages {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcm_scans_watch_the_page_run() {
    let Some(engine) = engine(limits(true)) else {
        return;
    };
    let port = gcm_sites().await;
    let ctx = |disabled| GcmContext {
        project_id: uuid::Uuid::nil(),
        gcm_disabled: disabled,
    };
    let codes = |path: &'static str, disabled: bool| {
        let engine = &engine;
        async move {
            let url = format!("http://localhost:{port}{path}");
            engine
                .gcm(&url, &ctx(disabled))
                .await
                .unwrap_or_else(|e| panic!("{path}: {e}"))
                .into_iter()
                .map(|i| i.code)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(codes("/clean", false).await, Vec::<String>::new());
    assert_eq!(
        codes("/late", false).await,
        vec!["default_consent_too_late"]
    );
    assert_eq!(
        codes("/none", true).await,
        vec![
            "default_consent_not_set",
            "consent_not_updated",
            "consent_tab_empty"
        ]
    );
    assert_eq!(
        codes("/no-update", false).await,
        vec!["consent_not_updated"]
    );
    // A browser that dies is launched again by the next scan.
    let dir = engine.profile_dir().await.expect("a running browser");
    let main = chromium_main_process(&dir).expect("the browser's process");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &main.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(codes("/clean", false).await, Vec::<String>::new());
    let again = engine.profile_dir().await.expect("a new browser");
    assert_ne!(again, dir);

    // The static engine sees no Google tag in these pages at all.
    let static_engine = accord_scan::StaticEngine::new(limits(true));
    let seen = static_engine
        .gcm(&format!("http://localhost:{port}/none"), &ctx(true))
        .await
        .unwrap();
    assert!(
        !seen.iter().any(|i| i.code == "consent_tab_empty"),
        "{seen:?}"
    );
}
