//! The web console's site pages, in a real server (and headless Chromium where they run in one).
use crate::both;
use crate::common::*;
use crate::console::{
    fill_and_send, look, member, narrow, no_serious_violations, notice_of, owner, owner_tab,
    refused, submit_and_wait,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

both!(
    domains_are_added_and_removed,
    a_region_is_edited_through_the_region_rules,
    trackers_are_classified_and_filtered,
    scans_show_the_schedule_and_replay_findings,
    a_scan_is_run_from_the_console,
    viewers_read_site_setup_but_cannot_change_it,
    the_site_setup_works_in_a_browser,
    each_card_shows_its_first_hundred_domains
);

fn site(s: &Server) -> String {
    format!("/console/o/{}/site", s.org)
}

async fn default_region(s: &Server) -> Value {
    let (status, list) = s.get(&s.project_path("/regions")).await;
    assert_eq!(status, 200, "{list}");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["regions"] == json!(["default"]))
        .cloned()
        .unwrap()
}

fn region_page(s: &Server, id: &str) -> String {
    format!("/console/o/{}/p/{}/regions/{id}", s.org, s.project)
}

/// Every field of the Region form as a browser sends it, with `changes` over the defaults.
fn region_form<'a>(changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut f: Vec<(&str, &str)> = vec![
        ("name", "Default"),
        ("settings/consent/consentBanner/enabled", "true"),
        ("settings/consent/consentBanner/layout", "box"),
        ("settings/consent/consentBanner/position", "left-bottom"),
        ("settings/consent/consentBanner/theme", "light"),
        ("settings/consent/consentBanner/title", "true"),
        ("settings/consent/consentBanner/denyButton", "true"),
        ("settings/consent/consentBanner/customizeButton", "true"),
        ("text/banner.title", ""),
        ("text/banner.description", ""),
        ("text/banner.accept", ""),
        ("text/banner.deny", ""),
        ("text/banner.customize", ""),
        ("settings/branding/primaryColor", "#111827"),
        ("settings/branding/secondaryColor", "#ffffff"),
        ("settings/branding/font", "Arial"),
        ("settings/branding/buttonRadius", "6px"),
        ("settings/branding/cardRadius", "6px"),
        ("settings/consent/consentMode", "express"),
        ("settings/consent/blockingMode", "disabled"),
        ("settings/consent/gcm", "disabled"),
        ("settings/consent/gpc", "true"),
        ("settings/consent/consentDuration", "12"),
    ];
    for (k, v) in changes {
        match f.iter_mut().find(|(n, _)| n == k) {
            Some(slot) => slot.1 = v,
            None => f.push((k, v)),
        }
    }
    f
}

async fn domains_are_added_and_removed(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let add = format!("/console/o/{}/p/{}/domains", s.org, s.project);
    let a = owner.get(&site(&s)).await;
    assert_eq!(a.status, StatusCode::OK);
    // The snippet names this server and the project.
    assert!(
        a.body.contains(&format!(
            "&lt;script src=&quot;{}/site-v1/{}/site-client&quot;&gt;&lt;/script&gt;",
            s.base, s.project
        )) || a.body.contains(&format!(
            "&#60;script src=&#34;{}/site-v1/{}/site-client&#34;&#62;&#60;/script&#62;",
            s.base, s.project
        )),
        "{}",
        a.body
    );
    let csrf = crate::console::csrf_of(&a.body);
    let a = owner
        .post(&add, &[("csrf", &csrf), ("domain", "Shop.Example.com")])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let (_, list) = s.get(&s.project_path("/domains")).await;
    let shop = |list: &Value| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["domain"] == "shop.example.com")
            .count()
    };
    assert_eq!(shop(&list), 1, "{list}");
    let before = list["total"].clone();
    assert!(owner.get(&site(&s)).await.body.contains("shop.example.com"));
    // A bad host: the contract's message next to the field, what was typed kept, nothing stored.
    let a = owner
        .post(
            &add,
            &[("csrf", &csrf), ("domain", "not a host!"), ("url", "")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    let err_id = format!("id=\"domain-{}-error\"", s.project);
    let at = a
        .body
        .find(&err_id)
        .expect("the message next to the domain field");
    assert!(
        a.body[at..].contains("domain must match format"),
        "{}",
        a.body
    );
    assert!(a.body.contains("value=\"not a host!\""), "{}", a.body);
    // The same host twice is refused by the store's rule, stated on the form.
    let a = owner
        .post(&add, &[("csrf", &csrf), ("domain", "shop.example.com")])
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    let (_, list) = s.get(&s.project_path("/domains")).await;
    assert_eq!(list["total"], before, "{list}");
    assert_eq!(shop(&list), 1, "{list}");
    // Removed.
    let id = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "shop.example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap();
    let a = owner
        .post(&format!("{add}/{id}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let (_, list) = s.get(&s.project_path("/domains")).await;
    assert_eq!(shop(&list), 0, "{list}");
    // A new project, through the Privacy API's create.
    let projects = format!("/console/o/{}/projects", s.org);
    let a = owner
        .post(&projects, &[("csrf", &csrf), ("name", ""), ("domains", "")])
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    let at = a
        .body
        .find("id=\"project-name-error\"")
        .expect("the message next to the name");
    assert!(a.body[at..].contains("body/name must"), "{}", a.body);
    let a = owner
        .post(
            &projects,
            &[
                ("csrf", &csrf),
                ("name", "Shop"),
                ("domains", "shop.example.org, Blog.Example.org"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let (_, list) = s
        .get(&format!("/privacy-v1/organizations/{}/projects", s.org))
        .await;
    let shop = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Shop")
        .unwrap_or_else(|| panic!("{list}"))
        .clone();
    let shop_id = shop["id"].as_str().unwrap();
    let (_, d) = s
        .get(&format!(
            "/privacy-v1/organizations/{}/projects/{shop_id}/domains",
            s.org
        ))
        .await;
    let mut names: Vec<&str> = d["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["domain"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["blog.example.org", "shop.example.org"], "{d}");
    assert!(owner
        .get(&site(&s))
        .await
        .body
        .contains(&format!("id=\"project-{shop_id}\"")));
    // A form without the session's token is refused.
    let a = owner
        .post(&add, &[("csrf", "forged"), ("domain", "x.example.com")])
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

async fn a_region_is_edited_through_the_region_rules(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let region = default_region(&s).await;
    let id = region["id"].as_str().unwrap();
    let path = region_page(&s, id);
    let a = owner.get(&path).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("frame-src") || a.body.contains("<iframe"));
    assert!(a.body.contains(&format!("{path}/preview?v=")), "{}", a.body);
    let a = owner
        .submit(
            &path,
            &region_form(&[
                ("settings/consent/consentBanner/position", "right-top"),
                ("settings/consent/consentBanner/theme", "dark"),
                ("text/banner.title", "Cookies at Acme"),
            ]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("Saved."), "{}", a.body);
    let (_, r) = s.get(&s.project_path(&format!("/regions/{id}"))).await;
    let banner = &r["settings"]["consent"]["consentBanner"];
    assert_eq!(banner["position"], "right-top", "{r}");
    assert_eq!(banner["theme"], "dark");
    assert_eq!(banner["closeButton"], false);
    assert_eq!(
        r["language"]["translations"]["en"]["banner.title"],
        "Cookies at Acme"
    );
    // Settings the form does not show are kept (deep merge).
    assert_eq!(r["settings"]["floatingButton"]["enabled"], true);
    // A bad colour: the §1.5 message next to its field, what was typed kept, nothing stored.
    let a = owner
        .submit(
            &path,
            &region_form(&[
                ("name", "Renamed"),
                ("settings/branding/primaryColor", "red"),
            ]),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    let at = a
        .body
        .find("id=\"settings-branding-primaryColor-error\"")
        .expect("the message next to the colour field");
    assert!(
        a.body[at..].contains("body/settings/branding/primaryColor must match pattern"),
        "{}",
        a.body
    );
    assert!(a.body.contains("value=\"red\""));
    assert!(a.body.contains("value=\"Renamed\""));
    let (_, after) = s.get(&s.project_path(&format!("/regions/{id}"))).await;
    assert_eq!(after["name"], "Default");
    assert_eq!(after["settings"]["branding"]["primaryColor"], "#111827");
    // A Region with codes: a code another Region holds is refused by the same rule.
    let (status, eu) = s
        .post(
            &s.project_path("/regions"),
            json!({"name": "Europe", "regions": ["EU"]}),
        )
        .await;
    assert_eq!(status, 201, "{eu}");
    let (status, _) = s
        .post(
            &s.project_path("/regions"),
            json!({"name": "UK", "regions": ["GB"]}),
        )
        .await;
    assert_eq!(status, 201);
    let eu_path = region_page(&s, eu["id"].as_str().unwrap());
    let a = owner
        .submit(
            &eu_path,
            &region_form(&[("name", "Europe"), ("regions", "EU, GB")]),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    let at = a
        .body
        .find("id=\"regions-error\"")
        .expect("next to the codes");
    assert!(a.body[at..].contains("already held"), "{}", a.body);
    let a = owner
        .submit(
            &eu_path,
            &region_form(&[("name", "Europe"), ("regions", "EU CH")]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let (_, r) = s
        .get(&s.project_path(&format!("/regions/{}", eu["id"].as_str().unwrap())))
        .await;
    assert_eq!(r["regions"], json!(["EU", "CH"]), "{r}");
    // Languages through `POST …/languages`.
    let csrf = crate::console::csrf_of(&owner.get(&path).await.body);
    let a = owner
        .post(
            &format!("{path}/languages"),
            &[
                ("csrf", &csrf),
                ("enabled", "true"),
                ("defaultLanguage", "not a tag!"),
                ("languages", "en fr"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(
        a.body.contains("id=\"defaultLanguage-error\""),
        "{}",
        a.body
    );
    let a = owner
        .post(
            &format!("{path}/languages"),
            &[
                ("csrf", &csrf),
                ("enabled", "true"),
                ("defaultLanguage", "fr"),
                ("languages", "en, fr"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let (_, r) = s.get(&s.project_path(&format!("/regions/{id}"))).await;
    assert_eq!(r["language"]["enabled"], true, "{r}");
    assert_eq!(r["language"]["defaultLanguage"], "fr");
    assert_eq!(r["language"]["languages"], json!(["en", "fr"]));
    // The preview page: framed by the console only, scripts from this server only.
    let a = owner.get(&format!("{path}/preview")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.body.contains(&format!("data-concord-preview=\"{id}\"")),
        "{}",
        a.body
    );
}

async fn trackers_are_classified_and_filtered(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let (status, made) = s
        .post(
            &s.project_path("/trackers"),
            json!({"items": [
                {"name": "_ga", "type": "cookie", "domain": "google.com"},
                {"name": "pixel.example.net/p.js", "type": "script", "domain": "example.net", "category": "marketing"}
            ]}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let ga = made[0]["id"].as_str().unwrap();
    let list = format!("/console/o/{}/p/{}/trackers", s.org, s.project);
    let a = owner.get(&list).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("_ga") && a.body.contains("pixel.example.net/p.js"));
    let one = format!("{list}/{ga}");
    let csrf = crate::console::csrf_of(&owner.get(&list).await.body);
    let a = owner
        .post(
            &one,
            &[("csrf", &csrf), ("category", "analytics"), ("filter", "")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let (_, t) = s.get(&s.project_path(&format!("/trackers/{ga}"))).await;
    assert_eq!(t["category"], "analytics", "{t}");
    // Filters by classification.
    let a = owner.get(&format!("{list}?category=analytics")).await;
    assert!(a.body.contains("_ga") && !a.body.contains("pixel.example.net/p.js"));
    let a = owner.get(&format!("{list}?category=marketing")).await;
    assert!(!a.body.contains("_ga") && a.body.contains("pixel.example.net/p.js"));
    // A category the contract does not know: its message at the tracker, nothing stored.
    let a = owner
        .post(
            &one,
            &[("csrf", &csrf), ("category", "tasty"), ("filter", "")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    let at = a
        .body
        .find(&format!("id=\"category-{ga}-error\""))
        .expect("the message at the tracker");
    assert!(
        a.body[at..].contains("body/category must be equal to one of"),
        "{}",
        a.body
    );
    let (_, t) = s.get(&s.project_path(&format!("/trackers/{ga}"))).await;
    assert_eq!(t["category"], "analytics");
    // A tracker of another project is not reachable through this one.
    let a = owner
        .post(
            &format!("{list}/{}", Uuid::now_v7()),
            &[("csrf", &csrf), ("category", "analytics")],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

/// Stores a completed scan whose consent replay found a marketing tracker firing.
async fn seed_replay_scan(s: &Server) {
    use accord_core::scans::{ConsentReplay, ReplayIssue, Scan, ScanResults};
    let mut results = ScanResults {
        total: 2,
        new: 1,
        project: 1,
        ..Default::default()
    };
    results.categories.marketing = 1;
    results.categories.unclassified = 1;
    results.consent_replay = Some(ConsentReplay {
        mode: "site_client".into(),
        passed: false,
        issues: vec![ReplayIssue {
            code: "tracker_fired_after_decline".into(),
            message: "pixel.example.net/p.js sent a request after the visitor declined marketing"
                .into(),
            tracker_id: Some(Uuid::now_v7()),
            tracker_name: Some("pixel.example.net/p.js".into()),
            category: Some("marketing".into()),
            requests: vec!["https://pixel.example.net/p.js?id=42".into()],
            cookies: vec!["_px".into()],
        }],
    });
    let mut scan = Scan {
        id: Uuid::now_v7(),
        organization_id: s.org,
        project_id: s.project,
        date: accord_core::time::now_ms() - 60_000,
        status: "running".into(),
        scan_type: "manual".into(),
        domains_count: 1,
        results: Default::default(),
    };
    s.store.start_scan(&scan, i64::MAX).await.unwrap();
    scan.status = "completed".into();
    scan.results = results;
    assert!(s.store.finish_scan(&scan).await.unwrap());
}

/// Stores a completed GCM scan of two pages, one with an issue.
async fn seed_gcm_scan(s: &Server) {
    use accord_core::gcm::{GcmIssue, GcmPageResult, GcmScan};
    let mut scan = GcmScan {
        id: Uuid::now_v7(),
        organization_id: s.org,
        project_id: s.project,
        scan_type: "domains".into(),
        url: None,
        status: "running".into(),
        date_created: accord_core::time::now_ms() - 30_000,
        date_completed: None,
        results: vec![],
        error: None,
    };
    s.store.start_gcm_scan(&scan, i64::MAX).await.unwrap();
    scan.status = "completed".into();
    scan.date_completed = Some(accord_core::time::now_ms());
    scan.results = vec![
        GcmPageResult::new("https://www.acme.example/", vec![]),
        GcmPageResult::new(
            "https://www.acme.example/pricing",
            vec![GcmIssue::new(
                "default_consent_not_set",
                "no consent default was set before Google tags ran",
            )],
        ),
    ];
    assert!(s.store.finish_gcm_scan(&scan).await.unwrap());
}

async fn scans_show_the_schedule_and_replay_findings(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    seed_replay_scan(&s).await;
    seed_gcm_scan(&s).await;
    let path = format!("/console/o/{}/p/{}/scans", s.org, s.project);
    let a = owner.get(&path).await;
    assert_eq!(a.status, StatusCode::OK);
    let at = a.body.find("Consent replay").expect("the replay");
    let replay = &a.body[at..];
    assert!(replay.contains("1 issue"), "{replay}");
    assert!(replay.contains("pixel.example.net/p.js"), "{replay}");
    assert!(replay.contains("tracker fired after decline"), "{replay}");
    assert!(replay.contains("https://pixel.example.net/p.js?id=42"));
    assert!(replay.contains("_px"));
    // GCM scans, page by page.
    let at = a.body.find("Google Consent Mode scans").unwrap();
    let gcm = &a.body[at..];
    assert!(gcm.contains("https://www.acme.example/pricing"), "{gcm}");
    assert!(gcm.contains("default consent not set"), "{gcm}");
    assert!(
        gcm.contains("https://www.acme.example/: <span class=\"good\">passed"),
        "{gcm}"
    );
    // The schedule: a bad hour is refused next to its field, nothing stored.
    let fields = |hour: &'static str| {
        vec![
            ("scheduledScanEnabled", "true"),
            ("scanPeriod", "weekly"),
            ("scheduledHour", hour),
            ("scheduledDayOfWeek", "2"),
            ("scheduledDayOfMonth", "1"),
        ]
    };
    let csrf = crate::console::csrf_of(&owner.get(&path).await.body);
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend(fields("25"));
    let a = owner.post(&format!("{path}/schedule"), &form).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    let at = a
        .body
        .find("id=\"scheduledHour-error\"")
        .expect("the message next to the hour");
    assert!(a.body[at..].contains("scheduledHour must be"), "{}", a.body);
    assert!(a.body.contains("value=\"25\""));
    let (_, h) = s.get(&s.project_path("/tracker-scan-history")).await;
    assert_eq!(h["scheduledScanEnabled"], false, "{h}");
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend(fields("7"));
    let a = owner.post(&format!("{path}/schedule"), &form).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let (_, h) = s.get(&s.project_path("/tracker-scan-history")).await;
    assert_eq!(h["scheduledScanEnabled"], true, "{h}");
    assert_eq!(h["scheduledHour"], 7);
    assert_eq!(h["scanPeriod"], "weekly");
    // Run now without domains: the API's refusal, stated.
    let (_, domains) = s.get(&s.project_path("/domains")).await;
    for d in domains["items"].as_array().unwrap() {
        let id = d["id"].as_str().unwrap();
        assert_eq!(
            s.delete(&s.project_path(&format!("/domains/{id}"))).await.0,
            200
        );
    }
    let a = owner.post(&format!("{path}/run"), &[("csrf", &csrf)]).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("project has no domains"), "{}", a.body);
}

async fn viewers_read_site_setup_but_cannot_change_it(b: accord_store::Backend) {
    let s = start(b).await;
    let _owner = owner(&s).await;
    let (_, made) = s
        .post(
            &s.project_path("/trackers"),
            json!({"name": "_ga", "type": "cookie", "domain": "google.com"}),
        )
        .await;
    let ga = made[0]["id"].as_str().unwrap().to_string();
    let region = default_region(&s).await;
    let rid = region["id"].as_str().unwrap();
    let mut viewer = member(&s, "vera@example.com", "viewer").await;
    let a = viewer.get(&site(&s)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(!a.body.contains("Add domain"), "{}", a.body);
    let csrf = crate::console::csrf_of(&a.body);
    let p = format!("/console/o/{}/p/{}", s.org, s.project);
    let region_path = region_page(&s, rid);
    let a = viewer.get(&region_path).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(!a.body.contains("Save Region"));
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend(region_form(&[(
        "settings/consent/consentBanner/position",
        "center",
    )]));
    refused(
        &mut viewer,
        &csrf,
        [
            (
                format!("/console/o/{}/projects", s.org),
                vec![("name", "Mine")],
            ),
            (format!("{p}/domains"), vec![("domain", "x.example.com")]),
            (region_path.clone(), form.clone()),
            (
                format!("{region_path}/languages"),
                vec![("enabled", "true")],
            ),
            (
                format!("{p}/trackers/{ga}"),
                vec![("category", "marketing")],
            ),
            (format!("{p}/scans/schedule"), vec![("scheduledHour", "4")]),
            (format!("{p}/scans/run"), vec![]),
        ],
    )
    .await;
    let (_, r) = s.get(&s.project_path(&format!("/regions/{rid}"))).await;
    assert_eq!(
        r["settings"]["consent"]["consentBanner"]["position"],
        "left-bottom"
    );
    let (_, t) = s.get(&s.project_path(&format!("/trackers/{ga}"))).await;
    assert_eq!(t["category"], "unclassified");
    let (_, d) = s.get(&s.project_path("/domains")).await;
    assert!(!d.to_string().contains("x.example.com"), "{d}");
    // Another organization's pages: 403, whatever exists there.
    let other = Uuid::now_v7();
    for path in [
        format!("/console/o/{other}/site"),
        format!("/console/o/{other}/p/{}/trackers", s.project),
        format!("/console/o/{other}/p/{}/regions/{rid}/preview", s.project),
    ] {
        assert_eq!(
            viewer.get(&path).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    // A project the viewer has no access to: the same.
    let a = viewer
        .get(&format!("/console/o/{}/p/{other}/scans", s.org))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

/// The banner the preview frame shows: `[class, title]`, or null while it loads.
const PREVIEW_BANNER: &str = "(() => { const f = document.getElementById('preview'); const d = f && f.contentDocument; const h = d && d.querySelector('[data-concord=widget]'); const b = h && h.shadowRoot && h.shadowRoot.querySelector('[data-cc=banner]'); if (!b) return null; const t = b.querySelector('h2'); return [b.className, t ? t.textContent : '']; })()";

async fn the_site_setup_works_in_a_browser(b: accord_store::Backend) {
    let Some(browser) = crate::browser::Browser::launch().await else {
        return;
    };
    let axe_js = crate::browser::axe_source();
    let s = start(b).await;
    let (status, _) = s
        .post(
            &s.project_path("/domains"),
            json!({"domain": "www.acme.example", "url": "https://www.acme.example/"}),
        )
        .await;
    assert_eq!(status, 201);
    s.post(
        &s.project_path("/trackers"),
        json!({"items": [
            {"name": "_ga", "type": "cookie", "domain": "google.com", "category": "analytics"},
            {"name": "pixel.example.net/p.js", "type": "script", "domain": "example.net", "category": "marketing"},
            {"name": "session", "type": "cookie", "category": "strictly_necessary"},
            {"name": "_hjid", "type": "cookie", "domain": "hotjar.com"}
        ]}),
    )
    .await;
    seed_replay_scan(&s).await;
    let tab = owner_tab(&browser, &s).await;
    // The section's page.
    tab.goto(&s.url(&site(&s))).await;
    let text = tab.eval("document.body.innerText").await;
    assert!(
        text.as_str().unwrap().contains("www.acme.example"),
        "{text}"
    );
    look(&tab, &axe_js, "site", "console-site").await;
    // The Default region: its preview draws the real widget's banner.
    let region = default_region(&s).await;
    let path = region_page(&s, region["id"].as_str().unwrap());
    tab.goto(&s.url(&path)).await;
    let shown = tab
        .wait_for(
            PREVIEW_BANNER,
            Duration::from_secs(20),
            "the preview's banner",
        )
        .await;
    assert!(
        shown[0].as_str().unwrap().contains("left-bottom"),
        "{shown}"
    );
    assert_eq!(shown[1], "We value your privacy");
    // Change the position, theme and title; after saving, the preview shows them.
    submit_and_wait(
        &tab,
        &fill_and_send(
            &[
                ("settings-consent-consentBanner-position", "right-top"),
                ("settings-consent-consentBanner-theme", "dark"),
                ("text-banner-title", "Cookies at Acme"),
            ],
            "#region-form",
        ),
        &path,
    )
    .await;
    let notice = notice_of(&tab).await;
    assert!(notice.as_str().unwrap().starts_with("Saved."), "{notice}");
    let shown = tab
        .wait_for(
            &format!("(() => {{ const b = {PREVIEW_BANNER}; return b && b[0].includes('right-top') && b; }})()"),
            Duration::from_secs(20),
            "the changed banner in the preview",
        )
        .await;
    assert_eq!(shown[1], "Cookies at Acme", "{shown}");
    // The dark theme's background, read from the banner's computed style.
    let bg = tab
        .eval("(() => { const h = document.getElementById('preview').contentDocument.querySelector('[data-concord=widget]'); return getComputedStyle(h.shadowRoot.querySelector('[data-cc=banner]')).backgroundColor; })()")
        .await;
    assert_eq!(bg, "rgb(31, 41, 55)");
    // The preview frame holds the widget, checked by the widget's own tests: axe runs on
    // the console page around it.
    let found = tab
        .eval(&format!(
            "(() => {{ if (!window.axe) {{ {axe_js} }} return axe.run({{exclude: [['#preview']]}}, {{resultTypes: ['violations'], iframes: false}}).then(r => r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))); }})()"
        ))
        .await;
    assert_eq!(found, json!([]), "region page");
    tab.screenshot("console-region").await;
    // A bad value in the browser: the message next to its field.
    submit_and_wait(
        &tab,
        &fill_and_send(
            &[("settings-branding-primaryColor", "blue")],
            "#region-form",
        ),
        &path,
    )
    .await;
    let err = tab
        .eval("document.getElementById('settings-branding-primaryColor-error').innerText")
        .await;
    assert!(
        err.as_str().unwrap().contains("must match pattern"),
        "{err}"
    );
    // Trackers: classify one with its form.
    let trackers = format!("/console/o/{}/p/{}/trackers", s.org, s.project);
    tab.goto(&s.url(&trackers)).await;
    look(&tab, &axe_js, "trackers", "console-trackers").await;
    let (_, list) = s.get(&s.project_path("/trackers?name=_hjid")).await;
    let hj = list["items"][0]["id"].as_str().unwrap().to_string();
    submit_and_wait(
        &tab,
        &format!(
            "document.getElementById('category-{hj}').value = 'analytics'; document.getElementById('category-{hj}').form.requestSubmit();"
        ),
        &trackers,
    )
    .await;
    let (_, t) = s.get(&s.project_path(&format!("/trackers/{hj}"))).await;
    assert_eq!(t["category"], "analytics");
    // Scans: the schedule and the replay's findings.
    tab.goto(&s.url(&format!("/console/o/{}/p/{}/scans", s.org, s.project)))
        .await;
    let text = tab.eval("document.body.innerText").await;
    assert!(
        text.as_str()
            .unwrap()
            .contains("tracker fired after decline"),
        "{text}"
    );
    no_serious_violations(&tab, &axe_js, "scans").await;
    tab.eval("document.querySelector('.site-replay').scrollIntoView(); true")
        .await;
    tab.screenshot("console-scans").await;
    // Narrow screens: the Region page in one column, nothing wider than the viewport.
    narrow(&tab).await;
    tab.goto(&s.url(&path)).await;
    let wide = tab
        .eval("document.documentElement.scrollWidth <= window.innerWidth")
        .await;
    assert_eq!(wide, true);
    tab.screenshot("console-region-narrow").await;
    browser.close().await;
}

/// A scan engine that takes a second and finds one script.
#[derive(Debug)]
struct OneScript;

#[async_trait::async_trait]
impl accord_core::scans::ScanEngine for OneScript {
    async fn scan(
        &self,
        _target: &accord_core::scans::ScanTarget,
    ) -> accord_core::Result<Vec<accord_core::trackers::Detection>> {
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        Ok(vec![accord_core::trackers::Detection {
            name: "cdn.example.net/a.js".into(),
            tracker_type: "script".into(),
            domain: Some("cdn.example.net".into()),
            pattern: None,
        }])
    }
}

async fn a_scan_is_run_from_the_console(b: accord_store::Backend) {
    let s = start_with(
        b,
        accord_api::ApiConfig {
            rate_limit_privacy: 0,
            rate_limit_site: 0,
            scan_engine: std::sync::Arc::new(OneScript),
            ..Default::default()
        },
    )
    .await;
    let mut owner = owner(&s).await;
    let path = format!("/console/o/{}/p/{}/scans", s.org, s.project);
    let csrf = crate::console::csrf_of(&owner.get(&path).await.body);
    let a = owner.post(&format!("{path}/run"), &[("csrf", &csrf)]).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(
        a.location.as_deref(),
        Some(format!("{path}?started=1").as_str())
    );
    // One scan at a time: the API's refusal, on the page.
    let a = owner.post(&format!("{path}/run"), &[("csrf", &csrf)]).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("a scan is already running"), "{}", a.body);
    let mut done = String::new();
    for _ in 0..100 {
        done = owner.get(&path).await.body;
        if done.contains("Completed") || done.contains(">completed<") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(done.contains("1 tracker found: 1 new, 0 known."), "{done}");
    let a = owner
        .get(&format!(
            "/console/o/{}/p/{}/trackers?category=unclassified",
            s.org, s.project
        ))
        .await;
    assert!(a.body.contains("cdn.example.net/a.js"), "{}", a.body);
}

/// The Site page reads the domains of every project at once: each project's card shows its
/// own first 100 by domain, and counts the others.
async fn each_card_shows_its_first_hundred_domains(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let (status, shop) = s
        .post(
            &format!("/privacy-v1/organizations/{}/projects", s.org),
            json!({"name": "Shop", "domains": ["shop.example.org"]}),
        )
        .await;
    assert_eq!(status, 201, "{shop}");
    let shop_id = shop["id"].as_str().unwrap().to_string();
    // Added in reverse, so the page's order is the domain's, not the insertion's.
    for i in (0..102).rev() {
        let (status, d) = s
            .post(
                &s.project_path("/domains"),
                json!({ "domain": format!("d{i:03}.example.com") }),
            )
            .await;
        assert_eq!(status, 201, "{d}");
    }
    let (_, list) = s.get(&s.project_path("/domains")).await;
    let total = list["total"].as_i64().unwrap();
    assert!(total >= 102, "{list}");
    let a = owner.get(&site(&s)).await;
    assert_eq!(a.status, StatusCode::OK);
    let card = |id: &str| {
        let at = a
            .body
            .find(&format!(
                "<section class=\"card site-project\" id=\"project-{id}\""
            ))
            .unwrap_or_else(|| panic!("the card of {id}: {}", a.body));
        let rest = &a.body[at + 1..];
        rest[..rest.find("<section").unwrap_or(rest.len())].to_string()
    };
    let shown = |card: &str| -> Vec<String> {
        card.split("<span class=\"site-domain\">")
            .skip(1)
            .map(|x| x[..x.find('<').unwrap()].to_string())
            .collect()
    };
    let main = card(&s.project.to_string());
    let expected: Vec<String> = (0..100).map(|i| format!("d{i:03}.example.com")).collect();
    assert_eq!(shown(&main), expected);
    assert!(
        main.contains(&format!("and {} more", total - 100)),
        "{main}"
    );
    let shop = card(&shop_id);
    assert_eq!(shown(&shop), ["shop.example.org"]);
    assert!(!shop.contains(" more (see the Privacy API)"), "{shop}");
}
