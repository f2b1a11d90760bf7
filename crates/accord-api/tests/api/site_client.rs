//! The site client and widget (§5.8): their delivery (configuration embedded, caching,
//! ETag, CORS, API base), the size budget, and what the client does in a real headless
//! Chromium on a fixture site served on loopback.
use crate::both;
use crate::browser::*;
use crate::common::*;
use serde_json::Value;
use std::time::Duration;

both!(
    harness_opens_a_fixture_page_with_the_site_client,
    site_client_is_served_with_the_project_configuration,
    site_client_of_an_unknown_project_is_not_found,
    site_client_etag_follows_the_configuration,
    site_client_api_base_from_public_url_or_trusted_proxies,
    site_client_stays_within_its_size_budget,
    site_client_sets_consent_defaults_before_the_next_tag,
    site_client_first_visit_in_implied_and_express_regions,
    site_client_honours_gpc_where_the_region_says_so,
    site_client_choices_are_stored_and_published,
    site_client_blocks_trackers_until_consent,
    site_client_recognises_a_returning_visitor,
    site_client_replaces_a_tampered_or_expired_token,
    site_client_leaves_the_page_working_when_accord_is_down,
    site_client_is_a_good_guest_under_a_strict_policy,
    site_client_reports_unknown_trackers_in_real_time,
);

async fn harness_opens_a_fixture_page_with_the_site_client(b: accord_store::Backend) {
    let s = start_site_server(b).await;
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let site = Fixture::start(&s).await;
    site.page(
        "/",
        &format!(
            "<!doctype html><title>Fixture</title>{}<h1>Hello</h1>",
            site.site_client_tag(s.project)
        ),
    );
    let tab = browser.open(&site.url("/")).await;
    let ready = tab
        .wait_for(
            "window.concord && concord.state && concord.session && concord.session.concordId",
            Duration::from_secs(20),
            "the site client's session and state",
        )
        .await;
    assert!(ready.is_string(), "{ready}");
    tab.screenshot("site-client-harness").await;
    browser.close().await;
}

// ---------------------------------------------------------------------------------------
// Helpers

/// The site client's path for the server's project.
fn client_path(s: &Server) -> String {
    format!("/site-v1/{}/site-client", s.project)
}

async fn fetch(s: &Server, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut rb = s.client.get(s.url(path));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.send().await.unwrap()
}

/// The configuration embedded in a served site client.
fn embedded(script: &str) -> Value {
    let start = script
        .rfind("})(window, document, ")
        .expect("the configuration call");
    let json = script[start + "})(window, document, ".len()..]
        .trim_end()
        .strip_suffix(");")
        .expect("the closing call");
    serde_json::from_str(json).expect("the embedded configuration is JSON")
}

async fn served(s: &Server) -> (String, Value) {
    let res = fetch(s, &client_path(s), &[]).await;
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let body = res.text().await.unwrap();
    (etag, embedded(&body))
}

async fn create_region(s: &Server, body: Value) -> Value {
    let (status, r) = s.post(&s.project_path("/regions"), body).await;
    assert_eq!(status, 201, "{r}");
    r
}

async fn default_region(s: &Server) -> Value {
    let (status, page) = s.get(&s.project_path("/regions?order=asc")).await;
    assert_eq!(status, 200, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["regions"] == json!(["default"]))
        .unwrap()
        .clone()
}

async fn patch_default(s: &Server, settings: Value) {
    let d = default_region(s).await;
    let (status, r) = s
        .patch(
            &s.project_path(&format!("/regions/{}", d["id"].as_str().unwrap())),
            json!({ "settings": settings }),
        )
        .await;
    assert_eq!(status, 200, "{r}");
}

async fn create_trackers(s: &Server, items: Value) -> Value {
    let (status, t) = s
        .post(&s.project_path("/trackers"), json!({ "items": items }))
        .await;
    assert_eq!(status, 201, "{t}");
    t
}

// ---------------------------------------------------------------------------------------
// Delivery

/// The script is public JavaScript with the project's configuration embedded: API base,
/// project, domains, every region, the active consent types without `document`, and the
/// trackers that are not `ignored`.
async fn site_client_is_served_with_the_project_configuration(b: accord_store::Backend) {
    let s = start(b).await;
    let (status, doc_type) = s
        .post(
            &s.project_path("/consent-types"),
            json!({"category": "disclosure", "subcategory": "cookie_policy", "label": "cookie_policy", "name": "Cookie policy", "document": "The whole text", "url": "https://example.com/cookies"}),
        )
        .await;
    assert_eq!(status, 201, "{doc_type}");
    let (status, archived) = s
        .post(
            &s.project_path("/consent-types"),
            json!({"category": "custom", "label": "old", "name": "Old", "status": "archived"}),
        )
        .await;
    assert_eq!(status, 201, "{archived}");
    let gdpr = create_region(
        &s,
        json!({"template": "gdpr", "name": "Europe", "customScript": "window.europe = 1;"}),
    )
    .await;
    create_trackers(
        &s,
        json!([
            {"name": "cdn.example.com/tag.js", "type": "script", "domain": "cdn.example.com", "category": "marketing"},
            {"name": "_ga", "type": "cookie", "category": "analytics", "pattern": "_ga*"},
            {"name": "fonts.example.com/css", "type": "link", "category": "ignored"}
        ]),
    )
    .await;

    let res = fetch(
        &s,
        &client_path(&s),
        &[("origin", "https://anywhere.example")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    assert_eq!(h["content-type"], "application/javascript; charset=utf-8");
    assert_eq!(h["cache-control"], "public, max-age=300");
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let etag = h["etag"].to_str().unwrap();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34,
        "{etag}"
    );
    let script = res.text().await.unwrap();
    assert!(
        !script.contains("__ACCORD_CONFIG__"),
        "the mark is replaced"
    );
    let c = embedded(&script);
    assert_eq!(
        c["apiBase"], s.base,
        "no public URL, no proxy: the request's own"
    );
    assert_eq!(c["projectId"], s.project.to_string());
    assert_eq!(c["domains"], json!(["localhost"]));
    assert_eq!(c["realTimeScan"], false);
    assert_eq!(c["aliases"]["EU"].as_array().unwrap().len(), 27);
    assert_eq!(c["aliases"]["EEA"].as_array().unwrap().len(), 30);

    let regions = c["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 2);
    assert_eq!(
        regions[0]["regions"],
        json!(["default"]),
        "the Default region first"
    );
    let eu = &regions[1];
    assert_eq!(eu["id"], gdpr["id"]);
    assert_eq!(eu["regions"], json!(["EEA", "GB"]));
    assert_eq!(eu["customScript"], "window.europe = 1;");
    assert_eq!(eu["settings"]["consent"]["blockingMode"], "strict");
    assert_eq!(eu["language"]["defaultLanguage"], "en");
    let policy = &eu["settings"]["consent"]["consentBanner"]["policy"];
    assert_eq!(policy["label"], "privacy_policy", "{policy}");
    assert!(policy.get("document").is_none());

    let types = c["consentTypes"].as_array().unwrap();
    let labels: Vec<&str> = types.iter().map(|t| t["label"].as_str().unwrap()).collect();
    assert!(
        labels.contains(&"analytics") && labels.contains(&"cookie_policy"),
        "{labels:?}"
    );
    assert!(!labels.contains(&"old"), "archived types are not embedded");
    for t in types {
        assert!(t.get("document").is_none(), "{t}");
        assert!(t["validStates"].is_array() && t["id"].is_string(), "{t}");
    }
    let cookie_policy = types
        .iter()
        .find(|t| t["label"] == "cookie_policy")
        .unwrap();
    assert_eq!(cookie_policy["url"], "https://example.com/cookies");

    let trackers = c["trackers"].as_array().unwrap();
    assert_eq!(
        trackers.len(),
        2,
        "ignored trackers are left out: {trackers:?}"
    );
    let tag = trackers.iter().find(|t| t["type"] == "script").unwrap();
    assert_eq!(
        tag.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["id", "name", "type", "category", "domain"]
    );
    assert_eq!(tag["category"], "marketing");
    let cookie = trackers.iter().find(|t| t["type"] == "cookie").unwrap();
    assert_eq!(cookie["pattern"], "_ga*");

    // The widget: served as it is, with the same caching.
    let res = fetch(&s, &format!("/site-v1/{}/widget", s.project), &[]).await;
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    assert_eq!(h["content-type"], "application/javascript; charset=utf-8");
    assert_eq!(h["cache-control"], "public, max-age=300");
    assert_eq!(h["access-control-allow-origin"], "*");
    let wtag = h["etag"].to_str().unwrap().to_string();
    assert_eq!(
        res.text().await.unwrap(),
        include_str!("../../assets/site/widget.js")
    );
    let again = fetch(
        &s,
        &format!("/site-v1/{}/widget", s.project),
        &[("if-none-match", &wtag)],
    )
    .await;
    assert_eq!(again.status(), 304);

    // Public: no origin rule, a preflight from anywhere is answered for any origin.
    let pre = s
        .client
        .request(reqwest::Method::OPTIONS, s.url(&client_path(&s)))
        .header("origin", "https://elsewhere.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(pre.headers()["access-control-allow-origin"], "*");
}

/// A malformed project id is 400, an unknown or archived project 404, for both scripts.
async fn site_client_of_an_unknown_project_is_not_found(b: accord_store::Backend) {
    let s = start(b).await;
    for script in ["site-client", "widget"] {
        let got = send(
            s.client
                .get(s.url(&format!("/site-v1/not-a-uuid/{script}"))),
        )
        .await;
        assert_error(&got, 400, "params/projectId must match format \"uuid\"");
        let got = send(
            s.client
                .get(s.url(&format!("/site-v1/{}/{script}", uuid::Uuid::new_v4()))),
        )
        .await;
        assert_error(&got, 404, "Not Found");
    }
}

/// `If-None-Match` with the current ETag answers 304 without a body; any write to what the
/// client embeds (regions, consent types, trackers, domains) gives a new ETag at once.
async fn site_client_etag_follows_the_configuration(b: accord_store::Backend) {
    let s = start(b).await;
    let (first, _) = served(&s).await;
    let res = fetch(&s, &client_path(&s), &[("if-none-match", &first)]).await;
    assert_eq!(res.status(), 304);
    assert_eq!(res.headers()["etag"].to_str().unwrap(), first);
    assert_eq!(res.headers()["cache-control"], "public, max-age=300");
    assert!(res.text().await.unwrap().is_empty());
    let weak = format!("W/{first}");
    let listed = format!("\"other\", {weak}");
    assert_eq!(
        fetch(&s, &client_path(&s), &[("if-none-match", &listed)])
            .await
            .status(),
        304
    );
    assert_eq!(
        fetch(&s, &client_path(&s), &[("if-none-match", "\"other\"")])
            .await
            .status(),
        200
    );
    let (same, _) = served(&s).await;
    assert_eq!(same, first, "nothing changed: the same bytes");

    let mut seen = vec![first];
    fn expect_new(seen: &mut Vec<String>, etag: String, what: &str) {
        assert!(!seen.contains(&etag), "{what} gives a new ETag");
        seen.push(etag);
    }
    patch_default(&s, json!({"consent": {"consentMode": "implied"}})).await;
    let (etag, c) = served(&s).await;
    assert_eq!(
        c["regions"][0]["settings"]["consent"]["consentMode"],
        "implied"
    );
    expect_new(&mut seen, etag, "a region's settings");

    create_region(&s, json!({"template": "california", "name": "California"})).await;
    let (etag, c) = served(&s).await;
    assert_eq!(c["regions"].as_array().unwrap().len(), 2);
    expect_new(&mut seen, etag, "a new region");

    let t = create_trackers(
        &s,
        json!([{"name": "x.example/a.js", "type": "script", "category": "analytics"}]),
    )
    .await;
    let (etag, c) = served(&s).await;
    assert_eq!(c["trackers"].as_array().unwrap().len(), 1);
    expect_new(&mut seen, etag, "a new tracker");
    let tracker = s.project_path(&format!("/trackers/{}", t[0]["id"].as_str().unwrap()));
    let (status, _) = s.patch(&tracker, json!({"category": "marketing"})).await;
    assert_eq!(status, 200);
    let (etag, c) = served(&s).await;
    assert_eq!(c["trackers"][0]["category"], "marketing");
    expect_new(&mut seen, etag, "a tracker classified again");
    // Ignored, it leaves the configuration: the bytes, and so the ETag, are those served
    // before it existed.
    let (status, _) = s.patch(&tracker, json!({"category": "ignored"})).await;
    assert_eq!(status, 200);
    let (etag, c) = served(&s).await;
    assert_eq!(c["trackers"], json!([]));
    assert_eq!(
        etag,
        seen[seen.len() - 3],
        "the same configuration, the same ETag"
    );

    let (status, _) = s
        .post(
            &s.project_path("/consent-types"),
            json!({"category": "custom", "label": "newsletter", "name": "Newsletter"}),
        )
        .await;
    assert_eq!(status, 201);
    let (etag, _) = served(&s).await;
    expect_new(&mut seen, etag, "a new consent type");

    let (status, _) = s
        .post(
            &s.project_path("/domains"),
            json!({"domain": "shop.example.com"}),
        )
        .await;
    assert_eq!(status, 201);
    let (etag, c) = served(&s).await;
    assert!(c["domains"]
        .as_array()
        .unwrap()
        .contains(&json!("shop.example.com")));
    expect_new(&mut seen, etag, "a new domain");
}

/// The API base is `ACCORD_PUBLIC_URL` when set; otherwise the request's scheme and host,
/// where `X-Forwarded-Proto` and `X-Forwarded-Host` count only from a trusted proxy.
async fn site_client_api_base_from_public_url_or_trusted_proxies(b: accord_store::Backend) {
    let forwarded = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "privacy.shop.example"),
    ];
    // Untrusted peer: forwarded headers are ignored, the Host header counts.
    let s = start(b).await;
    let res = fetch(&s, &client_path(&s), &forwarded).await;
    assert_eq!(embedded(&res.text().await.unwrap())["apiBase"], s.base);
    let res = fetch(&s, &client_path(&s), &[("host", "accord.internal:8080")]).await;
    assert_eq!(
        embedded(&res.text().await.unwrap())["apiBase"],
        "http://accord.internal:8080"
    );
    let got = send(
        s.client
            .get(s.url(&client_path(&s)))
            .header("host", "bad host\""),
    )
    .await;
    assert_eq!(got.0, 400, "{}", got.1);
    drop(s);

    // Trusted peer (the test client is 127.0.0.1).
    let s = start_with(
        b,
        accord_api::ApiConfig {
            rate_limit_site: 0,
            trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
            ..Default::default()
        },
    )
    .await;
    let res = fetch(&s, &client_path(&s), &forwarded).await;
    assert_eq!(
        embedded(&res.text().await.unwrap())["apiBase"],
        "https://privacy.shop.example"
    );
    let res = fetch(&s, &client_path(&s), &[("x-forwarded-proto", "https")]).await;
    assert_eq!(
        embedded(&res.text().await.unwrap())["apiBase"],
        s.base.replace("http://", "https://")
    );
    drop(s);

    // A public URL wins over everything.
    let s = start_with(
        b,
        accord_api::ApiConfig {
            rate_limit_site: 0,
            trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
            public_url: Some("https://privacy.example.com/".into()),
            ..Default::default()
        },
    )
    .await;
    let res = fetch(&s, &client_path(&s), &forwarded).await;
    assert_eq!(
        embedded(&res.text().await.unwrap())["apiBase"],
        "https://privacy.example.com"
    );
}

/// The site client of a typical project (three regions, the default consent types, twenty
/// trackers) is at most 12 KB gzipped, as served.
async fn site_client_stays_within_its_size_budget(b: accord_store::Backend) {
    const BUDGET: usize = 12 * 1024;
    let s = start(b).await;
    create_region(&s, json!({"template": "gdpr", "name": "Europe"})).await;
    create_region(&s, json!({"template": "california", "name": "California"})).await;
    let trackers: Vec<Value> = (0..20)
        .map(|i| {
            let category = ["analytics", "marketing", "functional"][i % 3];
            json!({"name": format!("cdn{i}.vendor{i}.com/tag.js"), "type": "script", "domain": format!("cdn{i}.vendor{i}.com"), "category": category})
        })
        .collect();
    create_trackers(&s, json!(trackers)).await;
    let res = fetch(&s, &client_path(&s), &[("accept-encoding", "gzip")]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-encoding"], "gzip");
    let gzipped = res.bytes().await.unwrap().len();
    let plain = fetch(&s, &client_path(&s), &[])
        .await
        .bytes()
        .await
        .unwrap()
        .len();
    println!("{{\"siteClientBytes\": {plain}, \"siteClientGzipBytes\": {gzipped}, \"budget\": {BUDGET}}}");
    assert!(
        gzipped <= BUDGET,
        "the site client is {gzipped} bytes gzipped, over {BUDGET}"
    );
}

// ---------------------------------------------------------------------------------------
// In the browser

/// Run in every page before its own scripts: records the client's events and any
/// Content-Security-Policy violation.
const RECORDER: &str = r#"
window.__events = [];
window.__violations = [];
addEventListener('concord-ready', function (e) { window.__ready = e.detail; __events.push(['ready', performance.now()]); });
addEventListener('concord-change', function (e) { __events.push(['change', performance.now(), e.detail.consentState.count]); });
addEventListener('securitypolicyviolation', function (e) { __violations.push(e.violatedDirective + ' ' + e.blockedURI); });
"#;

/// `dataLayer` as JSON: `gtag` calls (arguments objects) as arrays, pushed objects as they are.
const DATA_LAYER: &str = "(window.dataLayer || []).map(function (e) { return Object.prototype.toString.call(e) === '[object Arguments]' ? Array.prototype.slice.call(e) : e; })";

const WAIT: Duration = Duration::from_secs(20);

/// The regions of the browser tests: the Default region (express, Consent Mode basic), a
/// GDPR region (EEA and GB: express, strict blocking, Consent Mode advanced) and a United
/// States one (implied, no blocking, Consent Mode basic).
async fn three_regions(s: &Server) -> (Value, Value) {
    patch_default(s, json!({"consent": {"gcm": "basic"}})).await;
    let eu = create_region(s, json!({"template": "gdpr", "name": "Europe"})).await;
    let us = create_region(
        s,
        json!({"template": "united_states", "name": "United States"}),
    )
    .await;
    (eu, us)
}

async fn patch_region(s: &Server, region: &Value, body: Value) {
    let (status, r) = s
        .patch(
            &s.project_path(&format!("/regions/{}", region["id"].as_str().unwrap())),
            body,
        )
        .await;
    assert_eq!(status, 200, "{r}");
}

/// A page of the fixture site: `head` before the site client's tag, `body` after it.
fn page_with_client(site: &Fixture, s: &Server, path: &str, head: &str, body: &str) {
    site.page(
        path,
        &format!(
            "<!doctype html><html><head><meta charset=utf-8><title>Shop</title>{head}{}</head><body>{body}<h1>A shop</h1></body></html>",
            site.site_client_tag(s.project)
        ),
    );
}

async fn tab_on(browser: &Browser, url: &str) -> Tab {
    let tab = browser.tab().await;
    tab.before_pages(RECORDER).await;
    tab.goto(url).await;
    tab
}

async fn wait_ready(tab: &Tab) -> Value {
    tab.wait_for("window.__ready", WAIT, "concord-ready").await
}

async fn events_of(s: &Server, concord_id: &str) -> Vec<Value> {
    let (status, page) = s
        .get(&s.project_path(&format!(
            "/consent-events?concordId={concord_id}&limit=1000&order=asc&sort=consentDate"
        )))
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

fn labels_with(events: &[Value], state: &str) -> Vec<String> {
    let mut v: Vec<String> = events
        .iter()
        .filter(|e| e["consentState"] == state)
        .map(|e| e["label"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// The `gtag` calls of the page of one kind (`default` or `update`), as recorded in
/// `dataLayer`.
async fn consent_calls(tab: &Tab, kind: &str) -> Vec<Value> {
    tab.eval(DATA_LAYER)
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e[0] == "consent" && e[1] == kind)
        .map(|e| e[2].clone())
        .collect()
}

async fn last_consent_updated(tab: &Tab) -> Value {
    tab.eval(DATA_LAYER)
        .await
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["event"] == "consent_updated")
        .map(|e| e["consent_state"].clone())
        .unwrap_or(Value::Null)
}

/// Waits until the page's state has `n` items (after `concord-change`).
async fn wait_count(tab: &Tab, n: usize) {
    tab.wait_for(
        &format!("window.concord.state && concord.state.count === {n}"),
        WAIT,
        &format!("a consent state of {n} items"),
    )
    .await;
}

async fn add_events(tab: &Tab, events: Value) -> Value {
    tab.eval(&format!(
        "(async function () {{ var out = []; for (var e of {events}) out.push(await concord.consent.addConsentEvent(e)); return out; }})()"
    ))
    .await
}

fn choice(sub: &str, state: &str) -> Value {
    json!({"category": "privacy_setting", "subcategory": [sub], "label": sub, "consentState": state, "consentAction": "user_click"})
}

/// Consent Mode defaults are set synchronously by the site client, before the next tag of
/// the page runs: a Google tag stub after it finds them, one per region with Consent Mode,
/// with the region's codes (aliases expanded) and denied or granted by consent mode.
async fn site_client_sets_consent_defaults_before_the_next_tag(b: accord_store::Backend) {
    let s = start_site_server(b).await;
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let (eu, _) = three_regions(&s).await;
    patch_region(
        &s,
        &eu,
        json!({"settings": {"consent": {"microsoftUET": "enabled"}}}),
    )
    .await;
    let site = Fixture::start(&s).await;
    site.file(
        "/gtag/js",
        "application/javascript",
        format!("window.__tagSaw = {DATA_LAYER};").as_bytes(),
    );
    let tag = site.third_party("www.googletagmanager.test", "/gtag/js");
    page_with_client(
        &site,
        &s,
        "/",
        "",
        &format!("<script src=\"{tag}\"></script>"),
    );
    site.set_geography(Some("DE"));
    let tab = tab_on(&browser, &site.url("/")).await;
    let saw = tab.eval("window.__tagSaw").await;
    let saw = saw.as_array().expect("the tag ran and saw dataLayer");
    let defaults: Vec<&Value> = saw
        .iter()
        .filter(|e| e[0] == "consent" && e[1] == "default")
        .collect();
    assert_eq!(
        defaults.len(),
        3,
        "one per region with Consent Mode: {saw:?}"
    );
    assert_eq!(
        saw.len(),
        3,
        "nothing but the defaults before the tag: {saw:?}"
    );
    let all = [
        "ad_storage",
        "ad_user_data",
        "ad_personalization",
        "analytics_storage",
        "functionality_storage",
        "personalization_storage",
    ];
    let default = defaults[0][2].clone();
    assert!(
        default.get("region").is_none(),
        "the Default region names none: {default}"
    );
    for k in all {
        assert_eq!(default[k], "denied", "{k}");
    }
    assert_eq!(default["security_storage"], "granted");
    assert_eq!(default["wait_for_update"], 500);
    let eu = defaults[1][2].clone();
    let codes: Vec<&str> = eu["region"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 31, "EEA expanded (30) and GB: {codes:?}");
    for c in ["FR", "DE", "GR", "IS", "LI", "NO", "GB"] {
        assert!(codes.contains(&c), "{c} in {codes:?}");
    }
    assert!(!codes.contains(&"EEA") && !codes.contains(&"CH"));
    assert_eq!(eu["analytics_storage"], "denied");
    let uet = tab.eval("window.uetq").await;
    assert_eq!(
        uet,
        json!(["consent", "default", {"ad_storage": "denied", "region": eu["region"]}]),
        "Microsoft UET where the region enables it"
    );
    let us = defaults[2][2].clone();
    assert_eq!(us["region"], json!(["US"]));
    for k in all {
        assert_eq!(us[k], "granted", "implied consent mode: {k}");
    }
    wait_ready(&tab).await;
    tab.screenshot("site-client-consent-defaults").await;
    browser.close().await;
}

/// First visit: after `impliedConsentDelay`, `implied` events for every active type that
/// accepts them; in an express region only the non-privacy-setting types and
/// `strictly_necessary`. The page then receives the Consent Mode update and the
/// `consent_updated` push.
async fn site_client_first_visit_in_implied_and_express_regions(b: accord_store::Backend) {
    let s = start_site_server(b).await;
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let (_, us) = three_regions(&s).await;
    patch_region(
        &s,
        &us,
        json!({"settings": {"consent": {"impliedConsentDelay": 1}}}),
    )
    .await;
    let site = Fixture::start(&s).await;
    page_with_client(&site, &s, "/", "", "");

    // Implied (United States), after a one-second delay.
    site.set_geography(Some("US-NY"));
    let tab = tab_on(&browser, &site.url("/")).await;
    let ready = wait_ready(&tab).await;
    assert_eq!(
        ready["consentState"],
        json!({"count": 0, "items": []}),
        "ready before the delay"
    );
    assert_eq!(tab.eval("concord.region.name").await, "United States");
    assert_eq!(tab.eval("concord.session.geography").await, "US-NY");
    let cid = ready["concordId"].as_str().unwrap().to_string();
    wait_count(&tab, 5).await;
    let waited = tab
        .eval("__events.find(e => e[0] === 'change')[1] - __events.find(e => e[0] === 'ready')[1]")
        .await;
    assert!(
        waited.as_f64().unwrap() >= 900.0,
        "implied events wait for the delay: {waited}"
    );
    let events = events_of(&s, &cid).await;
    assert_eq!(
        labels_with(&events, "implied"),
        [
            "advertising",
            "analytics",
            "personalization",
            "privacy_policy",
            "strictly_necessary"
        ]
    );
    for e in &events {
        assert_eq!(e["consentAction"], "implied");
        assert_eq!(e["session"]["domain"], "localhost");
        assert_eq!(e["session"]["geography"], "US-NY");
    }
    let update = consent_calls(&tab, "update").await;
    let last = update.last().expect("a Consent Mode update").clone();
    for k in [
        "ad_storage",
        "analytics_storage",
        "personalization_storage",
        "security_storage",
    ] {
        assert_eq!(last[k], "granted", "{k}: {last}");
    }
    assert_eq!(
        last_consent_updated(&tab).await,
        json!({"advertising": "granted", "analytics": "granted", "personalization": "granted", "strictly_necessary": "granted"})
    );
    browser.close().await;

    // Express (France, in the EEA alias), no delay.
    let browser = Browser::launch().await.unwrap();
    site.set_geography(Some("FR"));
    let tab = tab_on(&browser, &site.url("/")).await;
    let ready = wait_ready(&tab).await;
    assert_eq!(tab.eval("concord.region.name").await, "Europe");
    assert_eq!(
        tab.eval("concord.language").await,
        "en",
        "the region's default language"
    );
    assert_eq!(
        ready["consentState"]["count"], 2,
        "recorded before ready: {ready}"
    );
    let cid = ready["concordId"].as_str().unwrap();
    assert_ne!(cid, "");
    let events = events_of(&s, cid).await;
    assert_eq!(
        labels_with(&events, "implied"),
        ["privacy_policy", "strictly_necessary"]
    );
    assert_eq!(events.len(), 2);
    let update = consent_calls(&tab, "update").await;
    assert_eq!(update, [json!({"security_storage": "granted"})]);
    assert_eq!(
        last_consent_updated(&tab).await,
        json!({"strictly_necessary": "granted"})
    );
    tab.screenshot("site-client-first-visit-express").await;
    browser.close().await;
}

/// GPC: where the region honours it, `advertising` is declined (implied) and never implied;
/// where it does not, the visit is as any other.
async fn site_client_honours_gpc_where_the_region_says_so(b: accord_store::Backend) {
    let s = start_site_server(b).await;
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let (_, us) = three_regions(&s).await;
    let site = Fixture::start(&s).await;
    page_with_client(&site, &s, "/", "", "");
    site.set_geography(Some("US"));
    site.set_gpc(true);
    let tab = tab_on(&browser, &site.url("/")).await;
    let ready = wait_ready(&tab).await;
    assert_eq!(tab.eval("concord.session.gpc").await, true);
    assert_eq!(tab.eval("concord.gpcHonoured").await, true);
    let events = events_of(&s, ready["concordId"].as_str().unwrap()).await;
    assert_eq!(labels_with(&events, "declined"), ["advertising"]);
    assert_eq!(
        labels_with(&events, "implied"),
        [
            "analytics",
            "personalization",
            "privacy_policy",
            "strictly_necessary"
        ]
    );
    assert!(events.iter().all(|e| e["consentAction"] == "implied"));
    let last = consent_calls(&tab, "update").await.last().unwrap().clone();
    assert_eq!(last["ad_storage"], "denied");
    assert_eq!(last["analytics_storage"], "granted");
    // A second page of the same visitor sends nothing more: advertising is declined already.
    tab.goto(&site.url("/")).await;
    wait_ready(&tab).await;
    assert_eq!(
        events_of(&s, ready["concordId"].as_str().unwrap())
            .await
            .len(),
        events.len()
    );
    browser.close().await;

    patch_region(&s, &us, json!({"settings": {"consent": {"gpc": false}}})).await;
    let browser = Browser::launch().await.unwrap();
    let tab = tab_on(&browser, &site.url("/")).await;
    let ready = wait_ready(&tab).await;
    assert_eq!(tab.eval("concord.session.gpc").await, true);
    assert_eq!(tab.eval("concord.gpcHonoured").await, false);
    let events = events_of(&s, ready["concordId"].as_str().unwrap()).await;
    assert!(labels_with(&events, "declined").is_empty());
    assert!(labels_with(&events, "implied").contains(&"advertising".to_string()));
    browser.close().await;
}

/// A visitor in France (three regions configured) on a fixture page with the site client:
/// the server, the browser, the site and the tab, the page still loading. `None` without
/// Chromium outside CI.
async fn french_visit(b: accord_store::Backend) -> Option<(Server, Browser, Fixture, Tab)> {
    let s = start_site_server(b).await;
    let browser = Browser::launch().await?;
    three_regions(&s).await;
    let site = Fixture::start(&s).await;
    page_with_client(&site, &s, "/", "", "");
    site.set_geography(Some("FR"));
    let tab = tab_on(&browser, &site.url("/")).await;
    Some((s, browser, site, tab))
}

/// Accept all, deny all and a custom choice through `window.concord.consent.addConsentEvent`:
/// each is stored (read back through the Privacy API), and the page receives the Consent
/// Mode update and the full state in `dataLayer`.
async fn site_client_choices_are_stored_and_published(b: accord_store::Backend) {
    let Some((s, browser, _site, tab)) = french_visit(b).await else {
        return;
    };
    let ready = wait_ready(&tab).await;
    let cid = ready["concordId"].as_str().unwrap().to_string();
    let subs = ["advertising", "analytics", "personalization"];
    let all = |state: &str| json!(subs.iter().map(|s| choice(s, state)).collect::<Vec<_>>());

    let answers = add_events(&tab, all("accepted")).await;
    assert_eq!(
        answers[0]["count"], 1,
        "the answer of the create: {answers}"
    );
    assert_eq!(answers[0]["items"][0]["consentState"], "accepted");
    wait_count(&tab, 5).await;
    let events = events_of(&s, &cid).await;
    assert_eq!(labels_with(&events, "accepted"), subs);
    assert!(events
        .iter()
        .filter(|e| e["consentState"] == "accepted")
        .all(|e| e["consentAction"] == "user_click" && e["session"]["domain"] == "localhost"));
    let last = consent_calls(&tab, "update").await.last().unwrap().clone();
    for k in [
        "ad_storage",
        "ad_user_data",
        "ad_personalization",
        "analytics_storage",
        "personalization_storage",
        "functionality_storage",
        "security_storage",
    ] {
        assert_eq!(last[k], "granted", "accept all: {k}");
    }
    assert_eq!(
        last_consent_updated(&tab).await,
        json!({"advertising": "granted", "analytics": "granted", "personalization": "granted", "strictly_necessary": "granted"})
    );

    add_events(&tab, all("declined")).await;
    tab.wait_for(
        "concord.state.items.filter(i => i.consentState === 'declined').length === 3",
        WAIT,
        "deny all in the state",
    )
    .await;
    assert_eq!(labels_with(&events_of(&s, &cid).await, "declined"), subs);
    let last = consent_calls(&tab, "update").await.last().unwrap().clone();
    for k in ["ad_storage", "analytics_storage", "personalization_storage"] {
        assert_eq!(last[k], "denied", "deny all: {k}");
    }
    assert_eq!(last["security_storage"], "granted");
    assert_eq!(
        last_consent_updated(&tab).await,
        json!({"advertising": "denied", "analytics": "denied", "personalization": "denied", "strictly_necessary": "granted"})
    );

    add_events(&tab, json!([choice("analytics", "accepted")])).await;
    tab.wait_for(
        "concord.state.items.some(i => i.label === 'analytics' && i.consentState === 'accepted')",
        WAIT,
        "the custom choice in the state",
    )
    .await;
    let last = consent_calls(&tab, "update").await.last().unwrap().clone();
    assert_eq!(last["analytics_storage"], "granted");
    assert_eq!(last["ad_storage"], "denied");
    assert_eq!(
        last_consent_updated(&tab).await,
        json!({"advertising": "denied", "analytics": "granted", "personalization": "denied", "strictly_necessary": "granted"})
    );
    let state = tab.eval("concord.consent.getConsentState()").await;
    assert_eq!(state["count"], 5, "{state}");
    let changes = tab
        .eval("__events.filter(e => e[0] === 'change').length")
        .await;
    assert_eq!(changes, 7, "one concord-change per recorded choice");
    // A refused event rejects the promise with the server's message.
    let refused = tab
        .eval("concord.consent.addConsentEvent({category: 'privacy_setting', label: 'nope', consentState: 'accepted', consentAction: 'user_click'}).then(() => 'stored', e => e.status + ' ' + e.message)")
        .await;
    assert_eq!(refused, "422 consent type not found");
    browser.close().await;
}

/// The trackers and tags of the blocking tests, all on third-party hosts of the fixture.
async fn blocking_site(s: &Server) -> Fixture {
    create_trackers(
        s,
        json!([
            {"name": "cdn.tracker.test/analytics.js", "type": "script", "domain": "cdn.tracker.test", "category": "analytics"},
            {"name": "ads.tracker.test/ads.js", "type": "script", "domain": "ads.tracker.test", "category": "marketing"},
            {"name": "misc.tracker.test/misc.js", "type": "script", "domain": "misc.tracker.test", "category": "unclassified"},
            {"name": "Video player", "type": "iframe", "domain": "video.tracker.test", "category": "functional"},
            {"name": "_tracker_id", "type": "cookie", "category": "analytics"}
        ]),
    )
    .await;
    let site = Fixture::start(s).await;
    for name in ["analytics", "ads", "misc"] {
        site.file(
            &format!("/{name}.js"),
            "application/javascript",
            format!("(window.ran = window.ran || []).push('{name}');").as_bytes(),
        );
    }
    site.page(
        "/embed",
        "<!doctype html><body style=\"background:#fde68a\">A video</body>",
    );
    let t = |host: &str, path: &str| site.third_party(host, path);
    let body = format!(
        r#"<script src="{}"></script>
<script src="{}"></script>
<script type="text/plain" data-concord-category="marketing">(window.ran = window.ran || []).push('marked');</script>
<iframe id="video" src="{}" width="320" height="180"></iframe>
<script>var s = document.createElement('script'); s.src = '{}'; document.head.appendChild(s);</script>
<script>(window.ran = window.ran || []).push('page');</script>"#,
        t("cdn.tracker.test", "/analytics.js"),
        t("misc.tracker.test", "/misc.js"),
        t("video.tracker.test", "/embed"),
        t("ads.tracker.test", "/ads.js"),
    );
    page_with_client(
        &site,
        s,
        "/",
        "<script>document.cookie = '_tracker_id=42; path=/'; document.cookie = 'session_pref=1; path=/';</script>",
        &body,
    );
    site
}

fn fetched(site: &Fixture, host: &str) -> bool {
    site.requests().iter().any(|r| r.contains(host))
}

/// Strict blocking (GDPR region): tracker scripts, a script inserted by another script and
/// an iframe are held back until their category is accepted, unclassified ones always; a
/// tag the page marked itself runs on consent; a declined category's cookie is removed.
/// Permissive blocking lets unclassified trackers run before consent.
async fn site_client_blocks_trackers_until_consent(b: accord_store::Backend) {
    let s = start_site_server(b).await;
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let (eu, _) = three_regions(&s).await;
    let site = blocking_site(&s).await;
    site.set_geography(Some("FR"));
    let tab = tab_on(&browser, &site.url("/")).await;
    wait_ready(&tab).await;
    assert_eq!(
        tab.eval("window.ran").await,
        json!(["page"]),
        "nothing ran before consent"
    );
    // A script inserted by another script is never even fetched. (Tags in the markup may be
    // fetched ahead by the browser's preload scanner, and an iframe in the markup starts
    // loading before any script can see it; neither runs nor stays.)
    assert!(!fetched(&site, "ads.tracker.test"), "{:?}", site.requests());
    let held = tab
        .eval("Array.from(document.querySelectorAll('[data-concord-blocked]'), e => e.nodeName + ':' + e.getAttribute('data-concord-blocked') + ':' + (e.getAttribute('type') || ''))")
        .await;
    let held: Vec<String> = serde_json::from_value(held).unwrap();
    for h in [
        "SCRIPT:analytics:text/plain",
        "SCRIPT:unclassified:text/plain",
        "SCRIPT:marketing:text/plain",
        "IFRAME:functional:",
    ] {
        assert!(held.contains(&h.to_string()), "{h} in {held:?}");
    }
    assert_eq!(
        tab.eval("document.getElementById('video').getAttribute('data-concord-src')")
            .await,
        site.third_party("video.tracker.test", "/embed")
    );
    assert_eq!(
        tab.eval("document.getElementById('video').hasAttribute('src')")
            .await,
        false
    );
    assert_eq!(
        tab.eval("document.cookie").await,
        "session_pref=1",
        "the analytics cookie is removed"
    );
    tab.screenshot("site-client-blocked-strict").await;

    add_events(&tab, json!([choice("analytics", "accepted")])).await;
    tab.wait_for(
        "window.ran.includes('analytics')",
        WAIT,
        "the analytics script released",
    )
    .await;
    assert_eq!(tab.eval("window.ran").await, json!(["page", "analytics"]));
    add_events(&tab, json!([choice("advertising", "accepted")])).await;
    tab.wait_for(
        "window.ran.includes('ads') && window.ran.includes('marked')",
        WAIT,
        "the marketing tags released",
    )
    .await;
    add_events(&tab, json!([choice("personalization", "accepted")])).await;
    tab.wait_for(
        "document.getElementById('video') && document.getElementById('video').getAttribute('src')",
        WAIT,
        "the iframe released",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !tab.eval("window.ran")
            .await
            .as_array()
            .unwrap()
            .contains(&json!("misc")),
        "strict never releases unclassified"
    );
    tab.screenshot("site-client-released-strict").await;
    browser.close().await;

    // Permissive: unclassified runs at once, the rest waits for consent.
    patch_region(
        &s,
        &eu,
        json!({"settings": {"consent": {"blockingMode": "permissive"}}}),
    )
    .await;
    let browser = Browser::launch().await.unwrap();
    let tab = tab_on(&browser, &site.url("/")).await;
    wait_ready(&tab).await;
    tab.wait_for(
        "window.ran.includes('misc')",
        WAIT,
        "the unclassified script",
    )
    .await;
    let ran = tab.eval("window.ran").await;
    assert!(
        !ran.as_array().unwrap().contains(&json!("analytics")),
        "{ran}"
    );
    assert!(!ran.as_array().unwrap().contains(&json!("ads")), "{ran}");
    add_events(&tab, json!([choice("analytics", "accepted")])).await;
    tab.wait_for(
        "window.ran.includes('analytics')",
        WAIT,
        "the analytics script released",
    )
    .await;
    browser.close().await;
}

/// A returning visitor keeps their identity and choices: no new first-visit events, the
/// stored state published at load.
async fn site_client_recognises_a_returning_visitor(b: accord_store::Backend) {
    let Some((s, browser, site, tab)) = french_visit(b).await else {
        return;
    };
    let first = wait_ready(&tab).await;
    let cid = first["concordId"].as_str().unwrap().to_string();
    assert_eq!(
        tab.eval("localStorage.getItem('concord.concordId')").await,
        cid.as_str()
    );
    add_events(&tab, json!([choice("analytics", "accepted")])).await;
    wait_count(&tab, 3).await;
    let before = events_of(&s, &cid).await.len();
    assert_eq!(before, 3);
    tab.goto(&site.url("/")).await;
    let again = wait_ready(&tab).await;
    assert_eq!(again["concordId"], cid.as_str());
    assert_eq!(again["consentState"]["count"], 3);
    assert_eq!(
        events_of(&s, &cid).await.len(),
        before,
        "no first-visit events again"
    );
    let update = consent_calls(&tab, "update").await;
    assert_eq!(update.len(), 1, "the stored state at load: {update:?}");
    assert_eq!(update[0]["analytics_storage"], "granted");
    assert_eq!(
        tab.eval("document.cookie").await,
        "",
        "no cookies of its own"
    );
    browser.close().await;
}

/// A stored token that was tampered with, or has expired, is replaced by a new session for
/// the same identity, at load and during the visit.
async fn site_client_replaces_a_tampered_or_expired_token(b: accord_store::Backend) {
    let Some((s, browser, site, tab)) = french_visit(b).await else {
        return;
    };
    let cid = wait_ready(&tab).await["concordId"]
        .as_str()
        .unwrap()
        .to_string();
    let token = tab.eval("localStorage.getItem('concord.session')").await;
    let token = token.as_str().unwrap().to_string();

    // Tampered: a changed signature.
    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    tab.eval(&format!(
        "localStorage.setItem('concord.session', '{tampered}')"
    ))
    .await;
    tab.goto(&site.url("/")).await;
    let ready = wait_ready(&tab).await;
    assert_eq!(ready["concordId"], cid.as_str());
    let fresh = tab.eval("localStorage.getItem('concord.session')").await;
    assert_ne!(fresh, tampered.as_str());

    // Expired, signed with the server's own secret, put in place during the visit.
    let stored = s
        .store
        .server_setting_init("site_session_secret", "unused")
        .await
        .unwrap();
    let secret = accord_core::site::decode_session_secret(&stored).unwrap();
    let two_days_ago = accord_core::time::now_ms() / 1000 - 2 * 86_400;
    let claims = accord_core::site::SessionClaims::new(
        s.project,
        uuid::Uuid::new_v4(),
        cid.parse().unwrap(),
        false,
        Some("FR".into()),
        two_days_ago,
    );
    let expired = claims.sign(&secret);
    tab.eval(&format!(
        "localStorage.setItem('concord.session', '{expired}')"
    ))
    .await;
    site.clear_requests();
    let state = tab.eval("concord.consent.getConsentState()").await;
    assert_eq!(state["count"], 2, "{state}");
    let calls = site.requests();
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.contains("/consent-state"))
            .count(),
        2,
        "refused, then retried with a new session: {calls:?}"
    );
    assert_eq!(
        calls.iter().filter(|c| c.contains("/session")).count(),
        1,
        "{calls:?}"
    );
    let now = tab.eval("localStorage.getItem('concord.session')").await;
    assert_ne!(now, expired.as_str());
    assert_eq!(
        tab.eval("localStorage.getItem('concord.concordId')").await,
        cid.as_str()
    );
    browser.close().await;
}

/// With Accord's server unreachable the page loads and runs its own scripts, with the
/// Consent Mode defaults denied; `window.concord` exists and its calls reject.
async fn site_client_leaves_the_page_working_when_accord_is_down(b: accord_store::Backend) {
    let s = start_site_server(b).await;
    let Some(browser) = Browser::launch().await else {
        return;
    };
    three_regions(&s).await;
    let site = Fixture::start(&s).await;
    // The script as a CDN would have cached it, naming an API base where nothing listens.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_host = dead.local_addr().unwrap().to_string();
    drop(dead);
    let script = fetch(&s, &client_path(&s), &[("host", &dead_host)])
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(embedded(&script)["apiBase"], format!("http://{dead_host}"));
    site.file("/accord.js", "application/javascript", script.as_bytes());
    site.page(
        "/",
        "<!doctype html><title>Shop</title><script src=\"/accord.js\"></script><script>window.after = true;</script><h1>Still a shop</h1>",
    );
    let tab = tab_on(&browser, &site.url("/")).await;
    assert_eq!(tab.eval("window.after").await, true);
    assert_eq!(
        tab.eval("typeof window.concord.consent.addConsentEvent")
            .await,
        "function"
    );
    let defaults = consent_calls(&tab, "default").await;
    assert_eq!(defaults[0]["ad_storage"], "denied");
    assert_eq!(defaults[0]["analytics_storage"], "denied");
    let rejected = tab
        .eval("concord.consent.getConsentState().then(() => 'resolved', e => 'rejected: ' + e.message)")
        .await;
    assert_eq!(rejected, "rejected: Accord is unreachable");
    assert_eq!(tab.eval("window.__ready === undefined").await, true);
    assert_eq!(consent_calls(&tab, "update").await, Vec::<Value>::new());
    assert_eq!(
        tab.eval("document.querySelector('h1').textContent").await,
        "Still a shop"
    );
    browser.close().await;
}

/// On a customer's page the client adds no global but `concord`, `dataLayer` and `gtag`,
/// sets no cookie, calls no host but Accord's, and works under a Content-Security-Policy
/// without `'unsafe-eval'` or `'unsafe-inline'`: the nonce of its tag lets the widget and
/// the region's custom script run.
async fn site_client_is_a_good_guest_under_a_strict_policy(b: accord_store::Backend) {
    let s = start_site_server(b).await;
    let Some(browser) = Browser::launch().await else {
        return;
    };
    patch_default(&s, json!({"consent": {"gcm": "basic"}})).await;
    let d = default_region(&s).await;
    patch_region(
        &s,
        &d,
        json!({"customScript": "window.customRan = (window.concord.region || {}).name;"}),
    )
    .await;
    let site = Fixture::start(&s).await;
    let csp = format!(
        "default-src 'none'; script-src 'nonce-r4nd0m' {api}; connect-src {api}; style-src 'unsafe-inline'; img-src 'self'",
        api = site.api
    );
    let tag = site
        .site_client_tag(s.project)
        .replace("<script ", "<script nonce=\"r4nd0m\" ");
    site.file_with(
        "/",
        "text/html; charset=utf-8",
        &[("content-security-policy", &csp)],
        format!(
            "<!doctype html><title>Shop</title><script nonce=\"r4nd0m\">window.__before = Object.keys(window);</script>{tag}<h1>A shop</h1>"
        )
        .as_bytes(),
    );
    let tab = tab_on(&browser, &site.url("/")).await;
    wait_ready(&tab).await;
    tab.wait_for("window.customRan", WAIT, "the region's custom script")
        .await;
    assert_eq!(tab.eval("window.customRan").await, "Default");
    tab.wait_for("window.concord.widget", WAIT, "the widget registered")
        .await;
    assert_eq!(tab.eval("window.__violations").await, json!([]));
    let added = tab
        .eval("Object.keys(window).filter(k => !__before.includes(k) && k !== 'customRan' && !k.startsWith('__'))")
        .await;
    let mut added: Vec<String> = serde_json::from_value(added).unwrap();
    added.sort();
    assert_eq!(added, ["concord", "dataLayer", "gtag"]);
    assert_eq!(tab.eval("document.cookie").await, "");
    let hosts = tab
        .eval("Array.from(new Set(performance.getEntriesByType('resource').map(e => new URL(e.name).host).filter(h => h !== location.host)))")
        .await;
    let names = tab
        .eval("performance.getEntriesByType('resource').map(e => e.name)")
        .await;
    let api_host = site.api.trim_start_matches("http://").to_string();
    assert_eq!(
        hosts,
        json!([api_host]),
        "no host but the page's own and Accord's: {names}"
    );
    tab.screenshot("site-client-strict-policy").await;
    browser.close().await;
}

/// With `realTimeScan` on, what the page loads from other hosts and the project does not
/// know is reported (§5.7) and becomes an `autoscan` tracker; known trackers are not sent.
async fn site_client_reports_unknown_trackers_in_real_time(b: accord_store::Backend) {
    let s = start_site_server(b).await;
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let (status, p) = s
        .patch(
            &s.project_path(""),
            json!({"settings": {"trackers": {"realTimeScan": true}}}),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    create_trackers(
        &s,
        json!([{"name": "known.tracker.test/known.js", "type": "script", "domain": "known.tracker.test", "category": "analytics"}]),
    )
    .await;
    let site = Fixture::start(&s).await;
    site.file("/x.js", "application/javascript", b"window.x = 1;");
    site.file("/known.js", "application/javascript", b"window.known = 1;");
    let body = format!(
        "<script src=\"{}\"></script><script src=\"{}\"></script>",
        site.third_party("cdn.unknown.test", "/x.js"),
        site.third_party("known.tracker.test", "/known.js"),
    );
    page_with_client(&site, &s, "/", "", &body);
    let tab = tab_on(&browser, &site.url("/")).await;
    wait_ready(&tab).await;
    let start = std::time::Instant::now();
    let found = loop {
        let (status, list) = s.get(&s.project_path("/trackers?origin=autoscan")).await;
        assert_eq!(status, 200, "{list}");
        if list["total"].as_i64().unwrap_or(0) > 0 {
            break list;
        }
        assert!(start.elapsed() < WAIT, "no tracker was reported");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let items = found["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only the unknown script: {items:?}");
    assert_eq!(items[0]["name"], "cdn.unknown.test/x.js");
    assert_eq!(items[0]["type"], "script");
    assert_eq!(items[0]["domain"], "cdn.unknown.test");
    assert_eq!(items[0]["category"], "unclassified");
    let reports = site
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST") && r.ends_with("/trackers"))
        .count();
    assert_eq!(reports, 1, "{:?}", site.requests());
    browser.close().await;
}
