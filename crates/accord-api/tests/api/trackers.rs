//! §8.2 Trackers, §5.7 site trackers, §8.3 scan schedule, history and scans, and the cookie
//! table of §7.9: CRUD, batch creates in input order, matching, the `(type, name, domain)`
//! key, bad input storing nothing, list filters and sorts, roles and scope; site reports
//! behind `realTimeScan`; the schedule, scans started by hand and by the job (exactly once
//! with two servers on one database), expired leases, the last 100 entries.
use crate::both;
use crate::common::*;
use accord_api::respond::Page;
use accord_api::{ApiConfig, AppState};
use accord_core::auth::Role;
use accord_core::scans::{ScanEngine, ScanEntry, ScanTarget, TrackerScanHistory};
use accord_core::schema::published;
use accord_core::store::{bootstrap, Bootstrapped};
use accord_core::trackers::{Detection, SiteReportAnswer, TrackerView};
use reqwest::Method;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

both!(
    trackers_crud_and_fields,
    trackers_batch_create_and_matching,
    trackers_bad_input_stores_nothing,
    trackers_list_filters_and_sort,
    trackers_roles_and_scope,
    policies_list_the_associated_trackers,
    site_reports_follow_real_time_scan,
    site_report_rules,
    scan_schedule_and_history,
    manual_scans_run_through_the_engine,
    scheduled_scans_run_once_with_two_servers,
    scans_whose_lease_ended_fail,
    scan_history_keeps_the_last_100,
    deleting_the_organization_deletes_its_trackers_and_scans,
);

fn trackers_path(s: &Server) -> String {
    s.project_path("/trackers")
}

async fn create(s: &Server, body: Value) -> Vec<Value> {
    let (status, list) = s.post(&trackers_path(s), body).await;
    assert_eq!(status, 201, "{list}");
    check_schema(&published::<Vec<TrackerView>>(), &list, "trackers").unwrap();
    list.as_array().unwrap().clone()
}

async fn tracker_total(s: &Server) -> i64 {
    let (status, page) = s.get(&format!("{}?limit=1", trackers_path(s))).await;
    assert_eq!(status, 200, "{page}");
    page["total"].as_i64().unwrap()
}

async fn other_org(s: &Server) -> Bootstrapped {
    bootstrap(s.store.as_ref(), "Other", "Other site", vec![], "other")
        .await
        .unwrap()
}

async fn exec(s: &Server, sql: &str) {
    sqlx::query(sql).execute(&s.store.db.write).await.unwrap();
}

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

/// Create one object (answered as an array) with its defaults, get, PATCH (`""` clears),
/// delete answering the deleted tracker; `detectedName` is never answered.
async fn trackers_crud_and_fields(b: accord_store::Backend) {
    let s = start(b).await;
    let before = accord_core::time::now_ms();
    let list = create(
        &s,
        json!({"name": "_ga", "type": "cookie", "domain": "Google.COM", "company": "Google",
               "description": "Distinguishes users", "expiration": 63072000, "detectedName": "_ga_XYZ",
               "pattern": "_ga*"}),
    )
    .await;
    assert_eq!(list.len(), 1);
    let t = &list[0];
    assert_eq!(t["name"], "_ga");
    assert_eq!(t["type"], "cookie");
    assert_eq!(t["category"], "unclassified");
    assert_eq!(t["origin"], "manual");
    assert_eq!(t["domain"], "google.com");
    assert_eq!(t["company"], "Google");
    assert_eq!(t["pattern"], "_ga*");
    assert_eq!(t["expiration"], 63072000);
    assert_eq!(t["organization"], json!(s.org));
    assert_eq!(t["project"], json!(s.project));
    assert!(t.get("detectedName").is_none(), "{t}");
    assert!(t.get("dateDetected").is_none());
    assert!(t["dateCreated"].as_i64().unwrap() >= before);
    assert_eq!(t["dateCreated"], t["dateUpdated"]);
    let one = format!("{}/{}", trackers_path(&s), t["id"].as_str().unwrap());
    let (status, got) = s.get(&one).await;
    assert_eq!(status, 200);
    assert_eq!(&got, t);

    let (status, patched) = s
        .patch(
            &one,
            json!({"category": "analytics", "company": "", "description": "", "domain": "",
                   "pattern": "", "name": "_ga2", "type": "local_storage", "expiration": 0}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    check_schema(&published::<TrackerView>(), &patched, "tracker").unwrap();
    assert_eq!(patched["category"], "analytics");
    assert_eq!(patched["name"], "_ga2");
    assert_eq!(patched["type"], "local_storage");
    assert_eq!(patched["expiration"], 0);
    assert_eq!(patched["origin"], "manual");
    for gone in [
        "company",
        "description",
        "domain",
        "pattern",
        "detectedName",
    ] {
        assert!(patched.get(gone).is_none(), "{gone}: {patched}");
    }
    assert!(patched["dateUpdated"].as_i64() >= t["dateUpdated"].as_i64());
    assert_eq!(patched["dateCreated"], t["dateCreated"]);
    let (_, got) = s.get(&one).await;
    assert_eq!(got, patched);
    // `detectedName` is stored all the same.
    let stored = s
        .store
        .get_tracker(s.project, t["id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.detected_name.as_deref(), Some("_ga_XYZ"));

    let (status, deleted) = s.delete(&one).await;
    assert_eq!(status, 200);
    assert_eq!(deleted, patched);
    assert_error(&s.get(&one).await, 404, "Not Found");
    assert_error(&s.delete(&one).await, 404, "Not Found");
    assert_error(&s.patch(&one, json!({"name": "x"})).await, 404, "Not Found");
    assert_eq!(tracker_total(&s).await, 0);
}

/// `{items}` answers the trackers in input order; `matchType: "project"` updates the named
/// tracker (its `overrideFields`, or every provided field); `global` creates; the key
/// `(type, name, domain)` is unique, and a refused call stores nothing.
async fn trackers_batch_create_and_matching(b: accord_store::Backend) {
    let s = start(b).await;
    let first = create(
        &s,
        json!({"items": [
            {"name": "_ga", "type": "cookie", "domain": "google.com"},
            {"name": "_ga", "type": "cookie"},
            {"name": "_ga", "type": "script", "domain": "google.com"},
            {"name": "pixel", "type": "image", "category": "marketing", "origin": "autoscan"},
        ]}),
    )
    .await;
    assert_eq!(first.len(), 4);
    assert_eq!(first[0]["domain"], "google.com");
    assert!(first[1].get("domain").is_none());
    assert_eq!(first[2]["type"], "script");
    assert_eq!(first[3]["origin"], "autoscan");
    assert_eq!(tracker_total(&s).await, 4);
    let ga = first[0]["id"].clone();
    let pixel = first[3]["id"].clone();

    let second = create(
        &s,
        json!({"items": [
            {"name": "ignored-name", "type": "cookie", "matchType": "project", "matchedTrackerId": ga,
             "category": "analytics", "company": "Google", "overrideFields": ["category"]},
            {"name": "fb", "type": "script", "matchType": "global", "matchedTrackerId": ga},
            {"name": "pixel2", "type": "image", "matchType": "project", "matchedTrackerId": pixel,
             "company": "Meta", "expiration": 60},
        ]}),
    )
    .await;
    assert_eq!(second[0]["id"], ga);
    assert_eq!(second[0]["name"], "_ga");
    assert_eq!(second[0]["category"], "analytics");
    assert!(second[0].get("company").is_none(), "{}", second[0]);
    assert_ne!(second[1]["id"], ga);
    assert_eq!(second[1]["name"], "fb");
    assert_eq!(second[2]["id"], pixel);
    assert_eq!(second[2]["name"], "pixel2");
    assert_eq!(second[2]["company"], "Meta");
    assert_eq!(second[2]["expiration"], 60);
    assert_eq!(second[2]["category"], "marketing");
    assert_eq!(tracker_total(&s).await, 5);
    let (_, got) = s
        .get(&format!("{}/{}", trackers_path(&s), ga.as_str().unwrap()))
        .await;
    assert_eq!(got, second[0]);

    // Refusals store nothing of the call, however far into the batch they are.
    let refused: Vec<(Value, &str)> = vec![
        (
            json!({"name": "_ga", "type": "cookie", "domain": "google.com"}),
            "tracker already exists",
        ),
        (
            json!({"name": "_ga", "type": "cookie", "domain": "GOOGLE.com", "matchType": "new"}),
            "tracker already exists",
        ),
        (
            json!({"items": [{"name": "new1", "type": "cookie"}, {"name": "_ga", "type": "cookie"}]}),
            "tracker already exists",
        ),
        (
            json!({"items": [{"name": "twice", "type": "iframe"}, {"name": "twice", "type": "iframe"}]}),
            "tracker already exists",
        ),
        (
            json!({"items": [{"name": "new2", "type": "cookie"}, {"name": "fb", "type": "script", "matchType": "project", "matchedTrackerId": pixel}]}),
            "tracker already exists",
        ),
        (
            json!({"items": [{"name": "new3", "type": "cookie"}, {"name": "x", "type": "cookie", "matchType": "project", "matchedTrackerId": Uuid::now_v7()}]}),
            "items/1/matchedTrackerId not found in this project",
        ),
        (
            json!({"name": "x", "type": "cookie", "matchType": "project"}),
            "matchedTrackerId is required with matchType project",
        ),
    ];
    for (body, message) in refused {
        assert_error(&s.post(&trackers_path(&s), body).await, 422, message);
    }
    // `_GA` differs from `_ga`: names are case-sensitive.
    let upper = create(
        &s,
        json!({"name": "_GA", "type": "cookie", "domain": "google.com"}),
    )
    .await;
    assert_eq!(upper[0]["name"], "_GA");
    assert_eq!(tracker_total(&s).await, 6);
    // A tracker of another project is not a match.
    let (status, other) = s
        .post(
            &format!("/privacy-v1/organizations/{}/projects", s.org),
            json!({"name": "Shop"}),
        )
        .await;
    assert_eq!(status, 201, "{other}");
    let other_path = format!(
        "/privacy-v1/organizations/{}/projects/{}/trackers",
        s.org,
        other["id"].as_str().unwrap()
    );
    assert_error(
        &s.post(
            &other_path,
            json!({"name": "y", "type": "cookie", "matchType": "project", "matchedTrackerId": ga}),
        )
        .await,
        422,
        "matchedTrackerId not found in this project",
    );
    // PATCH onto another tracker's key is refused and changes nothing.
    let one = format!("{}/{}", trackers_path(&s), pixel.as_str().unwrap());
    assert_error(
        &s.patch(&one, json!({"name": "fb", "type": "script"})).await,
        422,
        "tracker already exists",
    );
    let (_, after) = s.get(&one).await;
    assert_eq!(after, second[2]);
}

/// Bad bodies answer the contract's status and message, and store nothing.
async fn trackers_bad_input_stores_nothing(b: accord_store::Backend) {
    let s = start(b).await;
    let path = trackers_path(&s);
    let base = || json!({"name": "_ga", "type": "cookie"});
    let with = |k: &str, v: Value| {
        let mut bd = base();
        bd[k] = v;
        bd
    };
    let item_ok = json!({"name": "ok", "type": "cookie"});
    let cases: Vec<(Value, &str)> = vec![
        (json!({"type": "cookie"}), "body must have required property 'name'"),
        (json!({"name": "x"}), "body must have required property 'type'"),
        (with("type", json!("pixel")), "body/type must be equal to one of the allowed values: cookie, script, iframe, image, link, local_storage, session_storage"),
        (with("category", json!("ads")), "body/category must be equal to one of the allowed values: analytics, functional, marketing, strictly_necessary, unclassified, ignored, malicious"),
        (with("origin", json!("import")), "body/origin must be equal to one of the allowed values: manual, autoscan"),
        (with("name", json!("")), "body/name must NOT have fewer than 1 characters"),
        (with("name", json!("n".repeat(257))), "body/name must NOT have more than 256 characters"),
        (with("name", json!(null)), "body/name must be string"),
        (with("company", json!("c".repeat(257))), "body/company must NOT have more than 256 characters"),
        (with("description", json!("d".repeat(2049))), "body/description must NOT have more than 2048 characters"),
        (with("domain", json!("https://example.com/")), "body/domain must match format \"hostname\""),
        (with("pattern", json!("p".repeat(257))), "body/pattern must NOT have more than 256 characters"),
        (with("expiration", json!(-1)), "body/expiration must be >= 0"),
        (with("expiration", json!(1.5)), "body/expiration must be integer"),
        (with("detectedName", json!("d".repeat(257))), "body/detectedName must NOT have more than 256 characters"),
        (with("matchType", json!("fuzzy")), "body/matchType must be equal to one of the allowed values: new, project, global"),
        (with("matchedTrackerId", json!("nope")), "body/matchedTrackerId must match format \"uuid\""),
        (with("overrideFields", json!("name")), "body/overrideFields must be array"),
        (with("overrideFields", json!(["id"])), "body/overrideFields/0 must be equal to one of the allowed values: name, type, category, origin, company, description, domain, pattern, expiration, detectedName"),
        (with("dateDetected", json!(1)), "body must NOT have additional properties: 'dateDetected'"),
        (with("id", json!(Uuid::now_v7())), "body must NOT have additional properties: 'id'"),
        (json!({"items": []}), "body/items must NOT have fewer than 1 items"),
        (json!({"items": {}}), "body/items must be array"),
        (json!({"items": [item_ok.clone()], "name": "x"}), "body must NOT have additional properties: 'name'"),
        (json!({"items": [item_ok.clone(), {"name": "x", "type": "cookie", "expiration": "1"}]}), "body/items/1/expiration must be integer"),
        (json!({"items": [item_ok.clone(), {"name": "x"}]}), "body/items/1 must have required property 'type'"),
        (json!({"items": vec![item_ok.clone(); 1001]}), "body/items must NOT have more than 1000 items"),
        (json!([item_ok.clone()]), "body must be object"),
    ];
    for (bd, message) in cases {
        assert_error(&s.post(&path, bd).await, 400, message);
    }
    let (status, _) = send(
        s.req(Method::POST, &path)
            .body("{")
            .header("content-type", "application/json"),
    )
    .await;
    assert_eq!(status, 400);
    assert_error(
        &send(
            s.req(Method::POST, &path)
                .body("{}")
                .header("content-type", "text/plain"),
        )
        .await,
        415,
        "Content-Type must be application/json",
    );
    assert_eq!(tracker_total(&s).await, 0);
    // 1000 items is the most one call takes.
    let many: Vec<Value> = (0..1000)
        .map(|i| json!({"name": format!("t{i}"), "type": "cookie"}))
        .collect();
    let created = create(&s, json!({ "items": many })).await;
    assert_eq!(created.len(), 1000);
    assert_eq!(created[999]["name"], "t999");
    assert_eq!(tracker_total(&s).await, 1000);

    // PATCH: the same rules, none required, at least one property, no create-only fields.
    let one = format!("{path}/{}", created[0]["id"].as_str().unwrap());
    for (bd, message) in [
        (json!({}), "body must NOT have fewer than 1 properties"),
        (json!({"type": ""}), "body/type must be equal to one of the allowed values: cookie, script, iframe, image, link, local_storage, session_storage"),
        (json!({"name": ""}), "body/name must NOT have fewer than 1 characters"),
        (json!({"origin": "manual"}), "body must NOT have additional properties: 'origin'"),
        (json!({"detectedName": "x"}), "body must NOT have additional properties: 'detectedName'"),
        (json!({"expiration": null}), "body/expiration must be integer"),
    ] {
        assert_error(&s.patch(&one, bd).await, 400, message);
    }
    let missing = format!("{path}/{}", Uuid::now_v7());
    assert_error(
        &s.patch(&missing, json!({"name": 1})).await,
        400,
        "body/name must be string",
    );
    assert_error(
        &s.patch(&missing, json!({"name": "x"})).await,
        404,
        "Not Found",
    );
    assert_error(
        &s.get(&format!("{path}/nope")).await,
        400,
        "params/trackerId must match format \"uuid\"",
    );
    let (_, after) = s.get(&one).await;
    assert_eq!(after, created[0]);
    // An unknown project of the organization is 404 once the body is valid.
    let unknown = format!(
        "/privacy-v1/organizations/{}/projects/{}/trackers",
        s.org,
        Uuid::now_v7()
    );
    assert_error(
        &s.post(&unknown, json!({"type": "cookie"})).await,
        400,
        "body must have required property 'name'",
    );
    assert_error(&s.post(&unknown, base()).await, 404, "Not Found");
    assert_error(&s.get(&unknown).await, 404, "Not Found");
}

async fn trackers_list_filters_and_sort(b: accord_store::Backend) {
    let s = start(b).await;
    let pause = || tokio::time::sleep(Duration::from_millis(3));
    let a = create(&s, json!({"name": "Beta", "type": "cookie", "company": "Google LLC", "domain": "google.com", "category": "analytics"})).await;
    pause().await;
    let bb = create(&s, json!({"name": "alpha", "type": "script", "company": "Meta", "domain": "facebook.net", "category": "marketing", "origin": "autoscan"})).await;
    pause().await;
    let c = create(
        &s,
        json!({"name": "Gamma", "type": "iframe", "domain": "www.google.com"}),
    )
    .await;
    pause().await;
    let path = trackers_path(&s);
    let (_, page) = s.get(&path).await;
    check_schema(&published::<Page<TrackerView>>(), &page, "page").unwrap();
    assert_eq!(names(&page), ["Gamma", "alpha", "Beta"]);
    let (_, page) = s.get(&format!("{path}?sort=name&order=asc")).await;
    assert_eq!(names(&page), ["Beta", "Gamma", "alpha"]);
    let (_, page) = s.get(&format!("{path}?sort=type&order=asc")).await;
    assert_eq!(names(&page), ["Beta", "Gamma", "alpha"]);
    let (_, page) = s.get(&format!("{path}?sort=category&order=asc")).await;
    assert_eq!(names(&page), ["Beta", "alpha", "Gamma"]);
    let (_, page) = s
        .get(&format!(
            "{path}?name=A&limit=1&offset=1&sort=name&order=asc"
        ))
        .await;
    assert_eq!(
        (
            page["total"].clone(),
            page["count"].clone(),
            page["offset"].clone()
        ),
        (json!(3), json!(1), json!(1))
    );
    assert_eq!(names(&page), ["Gamma"]);
    let (_, page) = s.get(&format!("{path}?company=google")).await;
    assert_eq!(names(&page), ["Beta"]);
    let (_, page) = s.get(&format!("{path}?domain=GOOGLE.COM")).await;
    assert_eq!(names(&page), ["Beta"]);
    let (_, page) = s
        .get(&format!(
            "{path}?category=analytics&category[]=unclassified&order=asc"
        ))
        .await;
    assert_eq!(names(&page), ["Beta", "Gamma"]);
    let (_, page) = s.get(&format!("{path}?type=script")).await;
    assert_eq!(names(&page), ["alpha"]);
    let (_, page) = s.get(&format!("{path}?origin=manual&order=asc")).await;
    assert_eq!(names(&page), ["Beta", "Gamma"]);
    let (_, page) = s.get(&format!("{path}?name=%25")).await;
    assert_eq!(page["total"], 0);
    // dateUpdated follows a PATCH; dateDetected puts undetected trackers last either way.
    let id = |t: &[Value]| t[0]["id"].as_str().unwrap().to_string();
    s.patch(
        &format!("{path}/{}", id(&a)),
        json!({"category": "functional"}),
    )
    .await;
    let (_, page) = s.get(&format!("{path}?sort=dateUpdated")).await;
    assert_eq!(names(&page)[0], "Beta");
    exec(
        &s,
        &format!(
            "UPDATE trackers SET date_detected = 5 WHERE id = '{}'",
            id(&c)
        ),
    )
    .await;
    exec(
        &s,
        &format!(
            "UPDATE trackers SET date_detected = 9 WHERE id = '{}'",
            id(&bb)
        ),
    )
    .await;
    let (_, page) = s.get(&format!("{path}?sort=dateDetected")).await;
    assert_eq!(names(&page), ["alpha", "Gamma", "Beta"]);
    let (_, page) = s.get(&format!("{path}?sort=dateDetected&order=asc")).await;
    assert_eq!(names(&page), ["Gamma", "alpha", "Beta"]);
    assert_eq!(page["items"][0]["dateDetected"], 5);
    for (q, message) in [
        ("sort=company", "querystring/sort must be equal to one of the allowed values: dateCreated, dateUpdated, dateDetected, name, category, type"),
        ("category=ads", "querystring/category must be equal to one of the allowed values: analytics, functional, marketing, strictly_necessary, unclassified, ignored, malicious"),
        ("type=pixel", "querystring/type must be equal to one of the allowed values: cookie, script, iframe, image, link, local_storage, session_storage"),
        ("origin=import", "querystring/origin must be equal to one of the allowed values: manual, autoscan"),
        ("limit=1001", "querystring/limit must be <= 1000"),
        ("order=up", "querystring/order must be equal to one of the allowed values: asc, desc"),
    ] {
        assert_error(&s.get(&format!("{path}?{q}")).await, 400, message);
    }
    assert_error(
        &s.get(&format!("{path}?name={}", "n".repeat(257))).await,
        400,
        "querystring/name must NOT have more than 256 characters",
    );
}

/// Viewers read, admins and owners write; limited and viewer keys get 403 on writes; a key
/// with a role on another project only, and another organization's key, get 403 with no
/// data on every operation.
async fn trackers_roles_and_scope(b: accord_store::Backend) {
    let s = start(b).await;
    let t = create(&s, json!({"name": "_ga", "type": "cookie"})).await;
    let path = trackers_path(&s);
    let one = format!("{path}/{}", t[0]["id"].as_str().unwrap());
    let history = s.project_path("/tracker-scan-history");
    let scans = s.project_path("/tracker-scans");
    let (status, second) = s
        .post(
            &format!("/privacy-v1/organizations/{}/projects", s.org),
            json!({"name": "Shop"}),
        )
        .await;
    assert_eq!(status, 201);
    let second_id: Uuid = second["id"].as_str().unwrap().parse().unwrap();
    let admin = s.key_with(Role::Admin, vec![]).await;
    let limited = s.key_with(Role::Limited, vec![]).await;
    let viewer = s.key_with(Role::Viewer, vec![]).await;
    let project_viewer = s
        .key_with(Role::None, vec![(s.org, Some(s.project), Role::Viewer)])
        .await;
    let project_admin = s
        .key_with(Role::Viewer, vec![(s.org, Some(s.project), Role::Admin)])
        .await;
    let elsewhere = s
        .key_with(Role::None, vec![(s.org, Some(second_id), Role::Admin)])
        .await;
    let other = other_org(&s).await;
    for key in [&viewer, &limited, &admin, &project_viewer] {
        assert_eq!(call(&s, key, Method::GET, &path, None).await.0, 200);
        assert_eq!(call(&s, key, Method::GET, &one, None).await.0, 200);
        assert_eq!(call(&s, key, Method::GET, &history, None).await.0, 200);
    }
    let forbidden = |got: (u16, Value)| assert_error(&got, 403, "Forbidden");
    for key in [
        &viewer,
        &limited,
        &project_viewer,
        &elsewhere,
        &other.secret,
    ] {
        forbidden(
            call(
                &s,
                key,
                Method::POST,
                &path,
                Some(json!({"name": "x", "type": "cookie"})),
            )
            .await,
        );
        forbidden(call(&s, key, Method::PATCH, &one, Some(json!({"name": "x"}))).await);
        forbidden(call(&s, key, Method::DELETE, &one, None).await);
        forbidden(
            call(
                &s,
                key,
                Method::PATCH,
                &history,
                Some(json!({"scheduledScanEnabled": true})),
            )
            .await,
        );
        forbidden(call(&s, key, Method::POST, &scans, None).await);
    }
    for key in [&elsewhere, &other.secret] {
        forbidden(call(&s, key, Method::GET, &path, None).await);
        forbidden(call(&s, key, Method::GET, &one, None).await);
        forbidden(call(&s, key, Method::GET, &history, None).await);
    }
    // Another organization's project path with its own key shows nothing of ours.
    let theirs = format!(
        "/privacy-v1/organizations/{}/projects/{}/trackers",
        other.organization.id, other.project.id
    );
    let (status, page) = call(&s, &other.secret, Method::GET, &theirs, None).await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 0);
    let (status, _) = call(
        &s,
        &other.secret,
        Method::GET,
        &format!("{theirs}/{}", t[0]["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, 404);
    // Our key on their organization is 403.
    forbidden(s.get(&theirs).await);
    for (i, key) in [&admin, &project_admin].into_iter().enumerate() {
        let (status, made) = call(
            &s,
            key,
            Method::POST,
            &path,
            Some(json!({"name": format!("made{i}"), "type": "script"})),
        )
        .await;
        assert_eq!(status, 201, "{made}");
        let made_one = format!("{path}/{}", made[0]["id"].as_str().unwrap());
        assert_eq!(
            call(
                &s,
                key,
                Method::PATCH,
                &made_one,
                Some(json!({"category": "functional"}))
            )
            .await
            .0,
            200
        );
        assert_eq!(call(&s, key, Method::DELETE, &made_one, None).await.0, 200);
        assert_eq!(
            call(
                &s,
                key,
                Method::PATCH,
                &history,
                Some(json!({"scanPeriod": "weekly"}))
            )
            .await
            .0,
            200
        );
    }
    assert_eq!(tracker_total(&s).await, 1);
}

/// With `includeCookies`, a policy's html lists the associated projects' trackers grouped by
/// category, escaped, without the ignored ones; the table is what the trackers were at the
/// policy's last write.
async fn policies_list_the_associated_trackers(b: accord_store::Backend) {
    let s = start(b).await;
    create(
        &s,
        json!({"items": [
            {"name": "<script>alert(1)</script>", "type": "cookie", "category": "analytics", "company": "Evil & Co", "domain": "evil.example", "expiration": 86400},
            {"name": "_ga", "type": "cookie", "category": "analytics", "company": "Google", "expiration": 63072000},
            {"name": "session", "type": "cookie", "category": "strictly_necessary", "expiration": 0},
            {"name": "noise", "type": "script", "category": "ignored"},
        ]}),
    )
    .await;
    let policies = format!("/privacy-v1/organizations/{}/policies", s.org);
    let body = json!({"type": "cookiePolicy", "name": "Cookies", "status": "active", "organizationId": s.org,
                      "answers": [], "associatedProjects": [s.project], "includeCookies": true});
    let (status, p) = s.post(&policies, body.clone()).await;
    assert_eq!(status, 201, "{p}");
    let html = p["html"].as_str().unwrap();
    assert_eq!(
        html,
        "<article><h1>Cookies</h1><section data-cookies=\"true\">\
         <h2>analytics</h2><table><thead><tr><th>Name</th><th>Company</th><th>Domain</th><th>Type</th><th>Expiration</th></tr></thead><tbody>\
         <tr><td>&lt;script&gt;alert(1)&lt;/script&gt;</td><td>Evil &amp; Co</td><td>evil.example</td><td>cookie</td><td>1 day</td></tr>\
         <tr><td>_ga</td><td>Google</td><td></td><td>cookie</td><td>2 years</td></tr></tbody></table>\
         <h2>strictly_necessary</h2><table><thead><tr><th>Name</th><th>Company</th><th>Domain</th><th>Type</th><th>Expiration</th></tr></thead><tbody>\
         <tr><td>session</td><td></td><td></td><td>cookie</td><td>session</td></tr></tbody></table></section></article>"
    );
    assert!(!html.contains("noise"));
    // Without includeCookies, or without associated projects, there is no table.
    let mut plain = body.clone();
    plain["includeCookies"] = json!(false);
    let (_, p2) = s.post(&policies, plain).await;
    assert_eq!(p2["html"], "<article><h1>Cookies</h1></article>");
    let mut none = body.clone();
    none["associatedProjects"] = json!([]);
    let (_, p3) = s.post(&policies, none).await;
    assert_eq!(p3["html"], "<article><h1>Cookies</h1></article>");
    // A tracker added later shows at the policy's next write.
    create(
        &s,
        json!({"name": "late", "type": "cookie", "category": "functional"}),
    )
    .await;
    let one = format!("{policies}/{}", p["id"].as_str().unwrap());
    let (_, got) = s.get(&one).await;
    assert!(!got["html"].as_str().unwrap().contains("late"));
    let (_, patched) = s.patch(&one, json!({"status": "active"})).await;
    assert!(patched["html"]
        .as_str()
        .unwrap()
        .contains("<h2>functional</h2>"));
    assert!(patched["html"].as_str().unwrap().contains("<td>late</td>"));
}

fn site(s: &Server, rest: &str) -> String {
    format!("/site-v1/{}{}", s.project, rest)
}

async fn mint(s: &Server) -> String {
    let (status, body) = send(s.client.post(s.url(&site(s, "/session")))).await;
    assert_eq!(status, 201, "{body}");
    body["session"].as_str().unwrap().to_string()
}

async fn report(s: &Server, token: &str, body: Value) -> (u16, Value) {
    send(
        s.client
            .post(s.url(&site(s, "/trackers")))
            .header("x-session", token)
            .json(&body),
    )
    .await
}

async fn set_real_time_scan(s: &Server, on: bool) {
    let (status, p) = s
        .patch(
            &s.project_path(""),
            json!({"settings": {"trackers": {"realTimeScan": on}}}),
        )
        .await;
    assert_eq!(status, 200, "{p}");
}

/// Reports store nothing while `realTimeScan` is off; once on, matches get `dateDetected`,
/// the rest become `autoscan`, `unclassified` trackers, and `lastRealTimeScan` is set.
async fn site_reports_follow_real_time_scan(b: accord_store::Backend) {
    let s = start(b).await;
    let known = create(&s, json!({"name": "Google Analytics", "type": "cookie", "pattern": "_ga*", "domain": "example.com", "category": "analytics"})).await;
    let token = mint(&s).await;
    let items = json!({"url": "https://example.com/page", "items": [
        {"name": "_ga_123", "type": "cookie", "domain": "example.com"},
        {"name": "cdn.example.net/tag.js", "type": "script", "domain": "CDN.example.net"},
        {"name": "cdn.example.net/tag.js", "type": "script", "domain": "cdn.example.net"},
        {"name": "theme", "type": "local_storage", "pattern": "", "domain": ""},
    ]});
    let (status, answer) = report(&s, &token, items.clone()).await;
    assert_eq!(status, 200, "{answer}");
    check_schema(&published::<SiteReportAnswer>(), &answer, "answer").unwrap();
    assert_eq!(answer, json!({"success": true, "count": 0}));
    assert_eq!(tracker_total(&s).await, 1);
    let (_, project) = s.get(&s.project_path("")).await;
    assert!(project["settings"]["trackers"]
        .get("lastRealTimeScan")
        .is_none());

    set_real_time_scan(&s, true).await;
    let before = accord_core::time::now_ms();
    let (status, answer) = report(&s, &token, items.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"success": true, "count": 4}));
    let (_, page) = s
        .get(&format!("{}?sort=name&order=asc", trackers_path(&s)))
        .await;
    assert_eq!(
        names(&page),
        ["Google Analytics", "cdn.example.net/tag.js", "theme"]
    );
    let ga = &page["items"][0];
    assert_eq!(ga["id"], known[0]["id"]);
    let detected = ga["dateDetected"].as_i64().unwrap();
    assert!(detected >= before);
    let script = &page["items"][1];
    assert_eq!(script["origin"], "autoscan");
    assert_eq!(script["category"], "unclassified");
    assert_eq!(script["domain"], "cdn.example.net");
    assert_eq!(script["dateDetected"].as_i64().unwrap(), detected);
    assert!(page["items"][2].get("domain").is_none());
    let (_, project) = s.get(&s.project_path("")).await;
    let last = project["settings"]["trackers"]["lastRealTimeScan"]
        .as_i64()
        .unwrap();
    assert!(last >= before);
    assert_eq!(project["settings"]["trackers"]["realTimeScan"], true);
    // A second report matches what the first created.
    tokio::time::sleep(Duration::from_millis(3)).await;
    let (_, answer) = report(&s, &token, items).await;
    assert_eq!(answer["count"], 4);
    assert_eq!(tracker_total(&s).await, 3);
    let (_, page) = s.get(&format!("{}?type=script", trackers_path(&s))).await;
    assert!(page["items"][0]["dateDetected"].as_i64().unwrap() > detected);
    // Off again: nothing more is stored.
    set_real_time_scan(&s, false).await;
    let (_, answer) = report(
        &s,
        &token,
        json!({"items": [{"name": "new", "type": "cookie"}]}),
    )
    .await;
    assert_eq!(answer["count"], 0);
    assert_eq!(tracker_total(&s).await, 3);
}

/// Bad bodies, sessions and origins of the site report, and its rate limit.
async fn site_report_rules(b: accord_store::Backend) {
    let s = start(b).await;
    set_real_time_scan(&s, true).await;
    let token = mint(&s).await;
    let ok_item = json!({"name": "a", "type": "cookie"});
    for (body, message) in [
        (json!({}), "body must have required property 'items'"),
        (json!({"items": []}), "body/items must NOT have fewer than 1 items"),
        (json!({"items": vec![ok_item.clone(); 101]}), "body/items must NOT have more than 100 items"),
        (json!({"items": [{"type": "cookie"}]}), "body/items/0 must have required property 'name'"),
        (json!({"items": [{"name": "a", "type": "pixel"}]}), "body/items/0/type must be equal to one of the allowed values: cookie, script, iframe, image, link, local_storage, session_storage"),
        (json!({"items": [{"name": "a", "type": "cookie", "domain": "a b"}]}), "body/items/0/domain must match format \"hostname\""),
        (json!({"items": [{"name": "a", "type": "cookie", "category": "analytics"}]}), "body/items/0 must NOT have additional properties: 'category'"),
        (json!({"items": [{"name": "a".repeat(257), "type": "cookie"}]}), "body/items/0/name must NOT have more than 256 characters"),
        (json!({"items": [ok_item.clone()], "url": "u".repeat(2049)}), "body/url must NOT have more than 2048 characters"),
        (json!([ok_item.clone()]), "body must be object"),
    ] {
        assert_error(&report(&s, &token, body).await, 400, message);
    }
    assert_eq!(tracker_total(&s).await, 0);
    let path = s.url(&site(&s, "/trackers"));
    let body = json!({"items": [ok_item.clone()]});
    assert_error(
        &send(s.client.post(&path).json(&body)).await,
        401,
        "Missing x-session header",
    );
    assert_error(
        &send(s.client.post(&path).header("x-session", "nope").json(&body)).await,
        401,
        "Invalid or expired session",
    );
    assert_error(
        &send(
            s.client
                .post(&path)
                .header("x-session", &token)
                .header("origin", "https://evil.example")
                .json(&body),
        )
        .await,
        403,
        "origin not allowed for this project",
    );
    // A token of another project is 403 here.
    let other = other_org(&s).await;
    let (status, theirs) = send(
        s.client
            .post(s.url(&format!("/site-v1/{}/session", other.project.id))),
    )
    .await;
    assert_eq!(status, 201);
    assert_error(
        &send(
            s.client
                .post(&path)
                .header("x-session", theirs["session"].as_str().unwrap())
                .json(&body),
        )
        .await,
        403,
        "Forbidden",
    );
    assert_error(
        &send(
            s.client
                .post(s.url(&format!("/site-v1/{}/trackers", Uuid::now_v7())))
                .header("x-session", &token)
                .json(&body),
        )
        .await,
        404,
        "Not Found",
    );
    assert_eq!(tracker_total(&s).await, 0);
    // Rate limited like the rest of the Site API.
    let limited = start_with(
        s.backend,
        ApiConfig {
            rate_limit_privacy: 0,
            rate_limit_site: 2,
            ..Default::default()
        },
    )
    .await;
    let token = mint(&limited).await;
    let (status, _) = report(&limited, &token, body.clone()).await;
    assert_eq!(status, 200);
    let got = report(&limited, &token, body).await;
    assert_eq!(got.0, 429, "{}", got.1);
}

/// The schedule's defaults, PATCH and its rules.
async fn scan_schedule_and_history(b: accord_store::Backend) {
    let s = start(b).await;
    let path = s.project_path("/tracker-scan-history");
    let (status, h) = s.get(&path).await;
    assert_eq!(status, 200, "{h}");
    check_schema(&published::<TrackerScanHistory>(), &h, "history").unwrap();
    assert_eq!(
        h,
        json!({"scheduledScanEnabled": false, "organizationId": s.org, "projectId": s.project,
               "scanPeriod": "monthly", "scheduledHour": 3, "scheduledDayOfWeek": 1,
               "scheduledDayOfMonth": 1, "scanHistory": []})
    );
    let (status, h) = s
        .patch(&path, json!({"scheduledScanEnabled": true, "scanPeriod": "weekly", "scheduledHour": 23, "scheduledDayOfWeek": 0}))
        .await;
    assert_eq!(status, 200, "{h}");
    check_schema(&published::<TrackerScanHistory>(), &h, "history").unwrap();
    assert_eq!(h["scheduledScanEnabled"], true);
    assert_eq!(h["scanPeriod"], "weekly");
    assert_eq!(h["scheduledHour"], 23);
    assert_eq!(h["scheduledDayOfWeek"], 0);
    assert_eq!(h["scheduledDayOfMonth"], 1);
    let (_, got) = s.get(&path).await;
    assert_eq!(got, h);
    // The next run is the next Sunday 23:00 UTC.
    let schedule = s.store.scan_schedule(s.project).await.unwrap().unwrap();
    let next = schedule.next_run.unwrap();
    let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(next).unwrap();
    assert_eq!(at.format("%a %H:%M").to_string(), "Sun 23:00");
    assert!(next > accord_core::time::now_ms());
    for (body, message) in [
        (json!({}), "body must NOT have fewer than 1 properties"),
        (json!({"scheduledScanEnabled": "yes"}), "body/scheduledScanEnabled must be boolean"),
        (json!({"scanPeriod": "yearly"}), "body/scanPeriod must be equal to one of the allowed values: quarterly, monthly, weekly, daily"),
        (json!({"scheduledHour": 24}), "body/scheduledHour must be <= 23"),
        (json!({"scheduledHour": -1}), "body/scheduledHour must be >= 0"),
        (json!({"scheduledDayOfWeek": 7}), "body/scheduledDayOfWeek must be <= 6"),
        (json!({"scheduledDayOfMonth": 0}), "body/scheduledDayOfMonth must be >= 1"),
        (json!({"scheduledDayOfMonth": 32}), "body/scheduledDayOfMonth must be <= 31"),
        (json!({"scanHistory": []}), "body must NOT have additional properties: 'scanHistory'"),
    ] {
        assert_error(&s.patch(&path, body).await, 400, message);
    }
    let (_, after) = s.get(&path).await;
    assert_eq!(after, h);
    let (_, off) = s.patch(&path, json!({"scheduledScanEnabled": false})).await;
    assert_eq!(off["scheduledScanEnabled"], false);
    assert_eq!(
        s.store
            .scan_schedule(s.project)
            .await
            .unwrap()
            .unwrap()
            .next_run,
        None
    );
    let unknown = format!(
        "/privacy-v1/organizations/{}/projects/{}/tracker-scan-history",
        s.org,
        Uuid::now_v7()
    );
    assert_error(&s.get(&unknown).await, 404, "Not Found");
    assert_error(
        &s.patch(&unknown, json!({"scheduledHour": 1})).await,
        404,
        "Not Found",
    );
}

/// A test engine: counts its scans, waits `delay`, and reports `detections`.
#[derive(Debug, Default)]
struct TestEngine {
    calls: AtomicUsize,
    delay: Duration,
    detections: Vec<Detection>,
    fail: bool,
}

#[async_trait::async_trait]
impl ScanEngine for TestEngine {
    async fn scan(&self, _target: &ScanTarget) -> accord_core::Result<Vec<Detection>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        if self.fail {
            return Err(accord_core::Error::internal("unreachable"));
        }
        Ok(self.detections.clone())
    }
}

fn detection(name: &str, ty: &str, domain: Option<&str>) -> Detection {
    Detection {
        name: name.into(),
        tracker_type: ty.into(),
        domain: domain.map(str::to_string),
        pattern: None,
    }
}

fn engine_config(engine: Arc<TestEngine>) -> ApiConfig {
    ApiConfig {
        rate_limit_privacy: 0,
        rate_limit_site: 0,
        scan_engine: engine,
        scan_lease_ms: 1_500,
        ..Default::default()
    }
}

async fn history_of(s: &Server) -> Value {
    let (status, h) = s.get(&s.project_path("/tracker-scan-history")).await;
    assert_eq!(status, 200, "{h}");
    check_schema(&published::<TrackerScanHistory>(), &h, "history").unwrap();
    h
}

/// Waits until the newest scan is no longer running.
async fn settled(s: &Server) -> Value {
    for _ in 0..200 {
        let h = history_of(s).await;
        if h["scanHistory"][0]["status"] != "running" {
            return h;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the scan did not end");
}

/// A manual scan answers 202 with its running entry, runs through the engine (its lease
/// renewed while it works), and records what was detected; a second one while it runs, or
/// one of a project without domains, is 422.
async fn manual_scans_run_through_the_engine(b: accord_store::Backend) {
    let engine = Arc::new(TestEngine {
        delay: Duration::from_millis(3_000),
        detections: vec![
            detection("_ga", "cookie", Some("localhost")),
            detection("cdn.example.net/a.js", "script", Some("cdn.example.net")),
            detection("_ga", "cookie", Some("localhost")),
        ],
        ..Default::default()
    });
    let s = start_with(b, engine_config(engine.clone())).await;
    create(
        &s,
        json!({"name": "_ga", "type": "cookie", "domain": "localhost", "category": "analytics"}),
    )
    .await;
    let path = s.project_path("/tracker-scans");
    let before = accord_core::time::now_ms();
    let (status, entry) = send(s.req(Method::POST, &path)).await;
    assert_eq!(status, 202, "{entry}");
    check_schema(&published::<ScanEntry>(), &entry, "entry").unwrap();
    assert_eq!(entry["status"], "running");
    assert_eq!(entry["scanType"], "manual");
    assert_eq!(entry["domainsCount"], 1);
    assert!(entry["date"].as_i64().unwrap() >= before);
    assert_error(
        &s.post(&path, json!({})).await,
        422,
        "a scan is already running",
    );
    let h = history_of(&s).await;
    assert_eq!(h["scanHistory"].as_array().unwrap().len(), 1);
    assert_eq!(h["scanHistory"][0], entry);
    // Past its 1.5 s lease it is still running, because its server renews the lease: the
    // job of another server does not fail it.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let other = AppState::new(
        s.store.clone(),
        Arc::new(object_store::memory::InMemory::new()),
        engine_config(engine.clone()),
    );
    accord_api::jobs::start_due_scans(&other).await.unwrap();
    assert_eq!(history_of(&s).await["scanHistory"][0]["status"], "running");
    let h = settled(&s).await;
    let done = &h["scanHistory"][0];
    assert_eq!(done["status"], "completed", "{h}");
    assert_eq!(done["taskArn"], entry["taskArn"]);
    assert_eq!(
        done["results"],
        json!({"total": 2, "new": 1, "project": 1, "global": 0, "categories": {
            "analytics": 1, "do_not_sell": 0, "functional": 0, "global_privacy_control": 0,
            "ignored": 0, "limit_pii_use": 0, "marketing": 0, "strictly_necessary": 0, "unclassified": 1}})
    );
    assert_eq!(engine.calls.load(Ordering::SeqCst), 1);
    let (_, page) = s
        .get(&format!("{}?origin=autoscan", trackers_path(&s)))
        .await;
    assert_eq!(names(&page), ["cdn.example.net/a.js"]);
    // Bodies: none, or `{}`; anything else is refused.
    assert_error(
        &s.post(&path, json!({"deep": true})).await,
        400,
        "body must NOT have additional properties: 'deep'",
    );
    // A project without domains.
    let (status, bare) = s
        .post(
            &format!("/privacy-v1/organizations/{}/projects", s.org),
            json!({"name": "Bare"}),
        )
        .await;
    assert_eq!(status, 201);
    let bare_path = format!(
        "/privacy-v1/organizations/{}/projects/{}/tracker-scans",
        s.org,
        bare["id"].as_str().unwrap()
    );
    assert_error(
        &send(s.req(Method::POST, &bare_path)).await,
        422,
        "project has no domains",
    );
    // A failing engine ends the scan `failed`, with nothing recorded.
    let failing = Arc::new(TestEngine {
        fail: true,
        ..Default::default()
    });
    let f = start_with(b, engine_config(failing)).await;
    let (status, _) = send(f.req(Method::POST, &f.project_path("/tracker-scans"))).await;
    assert_eq!(status, 202);
    let h = settled(&f).await;
    assert_eq!(h["scanHistory"][0]["status"], "failed");
    assert_eq!(h["scanHistory"][0]["results"]["total"], 0);
}

/// Two servers on one database look for due scans at once: the scheduled scan runs once,
/// and the schedule moves to its next time.
async fn scheduled_scans_run_once_with_two_servers(b: accord_store::Backend) {
    let engine = Arc::new(TestEngine {
        delay: Duration::from_millis(50),
        detections: vec![detection("_fbp", "cookie", Some("localhost"))],
        ..Default::default()
    });
    let s = start_with(b, engine_config(engine.clone())).await;
    let (status, _) = s
        .patch(
            &s.project_path("/tracker-scan-history"),
            json!({"scheduledScanEnabled": true, "scanPeriod": "daily"}),
        )
        .await;
    assert_eq!(status, 200);
    let mut states = Vec::new();
    for _ in 0..2 {
        let store = Arc::new(accord_store::SqlStore::connect(&s.url).await.unwrap());
        let files = Arc::new(object_store::memory::InMemory::new());
        states.push(AppState::new(store, files, engine_config(engine.clone())));
    }
    // One claim of a due run wins, whichever server makes it.
    exec(&s, "UPDATE tracker_scan_schedules SET next_run = 1000").await;
    let stores: Vec<_> = states.iter().map(|st| st.store.clone()).collect();
    let (x, y) = tokio::join!(
        stores[0].claim_schedule(s.project, 1000, 2000),
        stores[1].claim_schedule(s.project, 1000, 2000)
    );
    assert!(x.unwrap() ^ y.unwrap());
    assert!(!stores[0]
        .claim_schedule(s.project, 1000, 3000)
        .await
        .unwrap());
    // Due now.
    exec(&s, "UPDATE tracker_scan_schedules SET next_run = 1000").await;
    for _ in 0..3 {
        let (a, b2) = tokio::join!(
            accord_api::jobs::start_due_scans(&states[0]),
            accord_api::jobs::start_due_scans(&states[1])
        );
        let started = a.unwrap() + b2.unwrap();
        assert!(started <= 1);
    }
    let h = settled(&s).await;
    let entries = h["scanHistory"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{h}");
    assert_eq!(entries[0]["scanType"], "scheduled");
    assert_eq!(entries[0]["status"], "completed");
    assert_eq!(entries[0]["results"]["new"], 1);
    assert_eq!(engine.calls.load(Ordering::SeqCst), 1);
    let next = s
        .store
        .scan_schedule(s.project)
        .await
        .unwrap()
        .unwrap()
        .next_run
        .unwrap();
    assert!(next > accord_core::time::now_ms());
    // Not due again: nothing starts.
    assert_eq!(
        accord_api::jobs::start_due_scans(&states[0]).await.unwrap(),
        0
    );
    // A disabled schedule is never due.
    exec(
        &s,
        "UPDATE tracker_scan_schedules SET next_run = 1000, enabled = 0",
    )
    .await;
    assert_eq!(
        accord_api::jobs::start_due_scans(&states[1]).await.unwrap(),
        0
    );
    assert_eq!(engine.calls.load(Ordering::SeqCst), 1);
}

/// A running scan whose lease ended (its server is gone) is marked failed by the job, and
/// a new scan of the project may start.
async fn scans_whose_lease_ended_fail(b: accord_store::Backend) {
    let engine = Arc::new(TestEngine::default());
    let s = start_with(b, engine_config(engine.clone())).await;
    let project = s
        .store
        .get_project(s.org, s.project)
        .await
        .unwrap()
        .unwrap();
    let (scan, _) = accord_core::usecases::tracker_scans::start(
        s.store.as_ref(),
        &project,
        "scheduled",
        600_000,
    )
    .await
    .unwrap();
    assert_error(
        &send(s.req(Method::POST, &s.project_path("/tracker-scans"))).await,
        422,
        "a scan is already running",
    );
    let state = AppState::new(
        s.store.clone(),
        Arc::new(object_store::memory::InMemory::new()),
        engine_config(engine.clone()),
    );
    accord_api::jobs::start_due_scans(&state).await.unwrap();
    assert_eq!(history_of(&s).await["scanHistory"][0]["status"], "running");
    exec(
        &s,
        &format!(
            "UPDATE tracker_scans SET lease_until = 1 WHERE id = '{}'",
            scan.id
        ),
    )
    .await;
    accord_api::jobs::start_due_scans(&state).await.unwrap();
    let h = history_of(&s).await;
    assert_eq!(h["scanHistory"][0]["status"], "failed");
    assert_eq!(h["scanHistory"][0]["taskArn"], json!(scan.id));
    // Its late finish does not overwrite the failure.
    let mut late = scan.clone();
    late.status = "completed".into();
    assert!(!s.store.finish_scan(&late).await.unwrap());
    let (status, _) = send(s.req(Method::POST, &s.project_path("/tracker-scans"))).await;
    assert_eq!(status, 202);
}

/// `scanHistory` holds the newest 100 scans, newest first.
async fn scan_history_keeps_the_last_100(b: accord_store::Backend) {
    let s = start(b).await;
    let mut ids = Vec::new();
    for i in 0..105i64 {
        let scan = accord_core::scans::Scan {
            id: Uuid::now_v7(),
            organization_id: s.org,
            project_id: s.project,
            date: 1_000 + i,
            status: "running".into(),
            scan_type: "manual".into(),
            domains_count: 1,
            results: Default::default(),
        };
        s.store.start_scan(&scan, i64::MAX).await.unwrap();
        let mut done = scan.clone();
        done.status = "completed".into();
        assert!(s.store.finish_scan(&done).await.unwrap());
        ids.push(scan.id);
    }
    let h = history_of(&s).await;
    let entries = h["scanHistory"].as_array().unwrap();
    assert_eq!(entries.len(), 100);
    assert_eq!(entries[0]["taskArn"], json!(ids[104]));
    assert_eq!(entries[0]["date"], 1_104);
    assert_eq!(entries[99]["taskArn"], json!(ids[5]));
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tracker_scans")
        .fetch_one(&s.store.db.read)
        .await
        .unwrap();
    assert_eq!(n, 100);
}

/// Deleting an organization deletes its trackers, schedules and scans, and nothing of
/// another organization.
async fn deleting_the_organization_deletes_its_trackers_and_scans(b: accord_store::Backend) {
    let s = start(b).await;
    create(&s, json!({"name": "ours", "type": "cookie"})).await;
    let other = other_org(&s).await;
    let theirs = format!(
        "/privacy-v1/organizations/{}/projects/{}",
        other.organization.id, other.project.id
    );
    let as_other = |m: Method, path: String, body: Option<Value>| {
        let key = other.secret.clone();
        let s = &s;
        async move { call(s, &key, m, &path, body).await }
    };
    let (status, _) = as_other(
        Method::POST,
        format!("{theirs}/trackers"),
        Some(json!({"items": [{"name": "a", "type": "cookie"}, {"name": "b", "type": "script"}]})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = as_other(
        Method::PATCH,
        format!("{theirs}/tracker-scan-history"),
        Some(json!({"scheduledScanEnabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    let scan = accord_core::scans::Scan {
        id: Uuid::now_v7(),
        organization_id: other.organization.id,
        project_id: other.project.id,
        date: 1,
        status: "completed".into(),
        scan_type: "manual".into(),
        domains_count: 0,
        results: Default::default(),
    };
    s.store.start_scan(&scan, i64::MAX).await.unwrap();
    let count = |table: &'static str| {
        let s = &s;
        async move {
            let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&s.store.db.read)
                .await
                .unwrap();
            n
        }
    };
    assert_eq!(count("trackers").await, 3);
    assert_eq!(count("tracker_scan_schedules").await, 1);
    assert_eq!(count("tracker_scans").await, 1);
    let (status, _) = as_other(
        Method::DELETE,
        format!("/privacy-v1/organizations/{}", other.organization.id),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(count("trackers").await, 1);
    assert_eq!(count("tracker_scan_schedules").await, 0);
    assert_eq!(count("tracker_scans").await, 0);
    assert_eq!(tracker_total(&s).await, 1);
}
