//! §7.8: Regions and languages — templates and presets, location codes and aliases, one
//! Region per code, the Default region's rules, deep-merge, the banner policy, the
//! languages endpoint, list filters, roles and scope, and migration 10.
use crate::both;
use crate::common::*;
use accord_core::auth::Role;
use accord_core::regions::RegionView;
use accord_core::schema::published;
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

both!(
    regions_default_region_of_new_projects,
    regions_templates_and_presets,
    regions_codes_aliases_and_uniqueness,
    regions_default_region_rules,
    regions_patch_deep_merges,
    regions_banner_policy,
    regions_languages_endpoint,
    regions_list_filters_and_sort,
    regions_bad_input_stores_nothing,
    regions_roles_and_scope,
    regions_project_create_plans_regions,
    regions_migration_gives_each_project_a_default_region,
);

async fn regions_of(s: &Server) -> Vec<Value> {
    let (status, page) = s.get(&s.project_path("/regions?order=asc")).await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

async fn create(s: &Server, body: Value) -> Value {
    let (status, r) = s.post(&s.project_path("/regions"), body).await;
    assert_eq!(status, 201, "{r}");
    check_schema(&published::<RegionView>(), &r, "region").unwrap();
    r
}

async fn privacy_policy_id(s: &Server, project: Uuid) -> String {
    let (_, types) = s
        .get(&format!(
            "/privacy-v1/organizations/{}/projects/{project}/consent-types?label=privacy_policy",
            s.org
        ))
        .await;
    types["items"][0]["id"].as_str().unwrap().to_string()
}

/// The bootstrapped project has exactly one Region: the Default region, with every default.
async fn regions_default_region_of_new_projects(b: accord_store::Backend) {
    let s = start(b).await;
    let all = regions_of(&s).await;
    assert_eq!(all.len(), 1);
    let d = &all[0];
    check_schema(&published::<RegionView>(), d, "region").unwrap();
    assert_eq!(d["name"], "Default");
    assert_eq!(d["regions"], json!(["default"]));
    assert_eq!(d["projectId"], json!(s.project));
    assert!(d.get("customScript").is_none());
    let st = &d["settings"];
    assert_eq!(st["branding"]["buttonRadius"], "6px");
    assert_eq!(st["branding"]["primaryColor"], "#111827");
    assert_eq!(st["consent"]["blockingMode"], "disabled");
    assert_eq!(st["consent"]["consentMode"], "express");
    assert_eq!(st["consent"]["consentDuration"], 12);
    assert_eq!(st["consent"]["gpc"], true);
    assert_eq!(
        st["consent"]["gcmPolicy"],
        "https://business.safety.google/privacy"
    );
    assert_eq!(
        st["consent"]["tcfConfig"],
        json!({"enabled": false, "mode": "disabled", "selectedVendors": []})
    );
    assert_eq!(st["floatingButton"]["tabOffsetY"], "256px");
    assert_eq!(st["privacyCenter"]["theme"], "classic");
    assert_eq!(
        st["placeholders"],
        json!({"enabled": false, "theme": "light"})
    );
    let banner = &st["consent"]["consentBanner"];
    assert_eq!(banner["layout"], "box");
    assert_eq!(banner["position"], "left-bottom");
    assert_eq!(banner["denyButton"], true);
    assert_eq!(banner["closeButton"], false);
    assert_eq!(banner["policy"]["label"], "privacy_policy");
    assert_eq!(
        banner["policy"]["id"],
        privacy_policy_id(&s, s.project).await
    );
    assert_eq!(
        d["language"],
        json!({"enabled": false, "defaultLanguage": "en", "languages": [], "translations": {}})
    );
    // Every organization's Default project gets one too.
    let (status, org) = s
        .post("/privacy-v1/organizations", json!({"name": "Second"}))
        .await;
    assert_eq!(status, 201, "{org}");
    let path = format!(
        "/privacy-v1/organizations/{}/projects/{}/regions",
        org["id"].as_str().unwrap(),
        org["defaultProjectId"].as_str().unwrap()
    );
    let (status, page) = s.get(&path).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["regions"], json!(["default"]));
}

/// The consent settings a template presets: consentMode, blockingMode, the banner's deny
/// button, doNotSell, limitPii and gcm.
fn preset(region: &Value) -> [Value; 6] {
    let c = &region["settings"]["consent"];
    [
        c["consentMode"].clone(),
        c["blockingMode"].clone(),
        c["consentBanner"]["denyButton"].clone(),
        c["doNotSell"].clone(),
        c["limitPii"].clone(),
        c["gcm"].clone(),
    ]
}

async fn regions_templates_and_presets(b: accord_store::Backend) {
    let s = start(b).await;
    let gdpr = create(&s, json!({"template": "gdpr", "name": "Europe"})).await;
    assert_eq!(gdpr["regions"], json!(["EEA", "GB"]));
    assert_eq!(
        preset(&gdpr),
        [
            json!("express"),
            json!("strict"),
            json!(true),
            json!(false),
            json!(false),
            json!("advanced")
        ]
    );
    let us = create(&s, json!({"template": "united_states", "name": "US"})).await;
    assert_eq!(us["regions"], json!(["US"]));
    assert_eq!(
        preset(&us),
        [
            json!("implied"),
            json!("disabled"),
            json!(false),
            json!(false),
            json!(false),
            json!("basic")
        ]
    );
    let ca = create(&s, json!({"template": "california", "name": "California"})).await;
    assert_eq!(ca["regions"], json!(["US-CA"]));
    assert_eq!(
        preset(&ca),
        [
            json!("implied"),
            json!("disabled"),
            json!(false),
            json!(true),
            json!(true),
            json!("basic")
        ]
    );
    // custom (the default template) takes the defaults and needs codes.
    let jp = create(&s, json!({"name": "Japan", "regions": ["jp"]})).await;
    assert_eq!(jp["regions"], json!(["JP"]));
    assert_eq!(jp["settings"]["consent"]["gcm"], "disabled");
    assert_eq!(
        jp["settings"]["consent"]["consentBanner"]["denyButton"],
        true
    );
    assert_error(
        &s.post(
            &s.project_path("/regions"),
            json!({"template": "custom", "name": "X"}),
        )
        .await,
        400,
        "body must have required property 'regions'",
    );
    // Given settings are deep-merged over the preset; given codes replace the template's.
    let mixed = create(
        &s,
        json!({"template": "gdpr", "name": "Nordics", "regions": ["se", "FI"],
               "customScript": "console.log(1)",
               "settings": {"consent": {"gcm": "basic", "consentBanner": {"theme": "dark"}}}}),
    )
    .await;
    assert_eq!(mixed["regions"], json!(["SE", "FI"]));
    assert_eq!(mixed["customScript"], "console.log(1)");
    let c = &mixed["settings"]["consent"];
    assert_eq!(c["gcm"], "basic");
    assert_eq!(c["blockingMode"], "strict");
    assert_eq!(c["consentBanner"]["theme"], "dark");
    assert_eq!(c["consentBanner"]["layout"], "box");
    let (status, got) = s
        .get(&s.project_path(&format!("/regions/{}", mixed["id"].as_str().unwrap())))
        .await;
    assert_eq!(status, 200);
    assert_eq!(got, mixed);
}

async fn regions_codes_aliases_and_uniqueness(b: accord_store::Backend) {
    let s = start(b).await;
    let eu = create(&s, json!({"name": "EU", "regions": ["eu"]})).await;
    assert_eq!(eu["regions"], json!(["EU"]));
    // An alias and the countries it stands for may sit in different Regions: the most
    // specific code wins at resolution.
    let fr = create(&s, json!({"name": "France", "regions": ["Fr", "us-ca"]})).await;
    assert_eq!(fr["regions"], json!(["FR", "US-CA"]));
    let eea = create(&s, json!({"name": "EEA", "regions": ["EEA"]})).await;
    assert_eq!(eea["regions"], json!(["EEA"]));
    let before = regions_of(&s).await;
    for (body, message) in [
        (
            json!({"name": "Again", "regions": ["de", "FR"]}),
            "location code FR is already held by another region of this project",
        ),
        (
            json!({"name": "Again", "regions": ["EU"]}),
            "location code EU is already held by another region of this project",
        ),
        (
            json!({"name": "Again", "regions": ["US-CA"]}),
            "location code US-CA is already held by another region of this project",
        ),
        (
            json!({"name": "Again", "regions": ["default"]}),
            "only the Default region may hold \"default\"",
        ),
    ] {
        assert_error(
            &s.post(&s.project_path("/regions"), body).await,
            422,
            message,
        );
    }
    // PATCH onto another Region's code is refused too, and changes nothing.
    let path = s.project_path(&format!("/regions/{}", eea["id"].as_str().unwrap()));
    assert_error(
        &s.patch(&path, json!({"name": "Renamed", "regions": ["EEA", "fr"]}))
            .await,
        422,
        "location code FR is already held by another region of this project",
    );
    assert_eq!(regions_of(&s).await, before);
    // Its own codes may be written again, and a freed code can be taken.
    let (status, r) = s.patch(&path, json!({"regions": ["eea", "GB"]})).await;
    assert_eq!((status, r["regions"].clone()), (200, json!(["EEA", "GB"])));
    let fr_path = s.project_path(&format!("/regions/{}", fr["id"].as_str().unwrap()));
    let (status, _) = s.delete(&fr_path).await;
    assert_eq!(status, 200);
    create(&s, json!({"name": "France again", "regions": ["FR"]})).await;
    // A code is one per project, not per server.
    let (status, other) = s
        .post(
            &format!("/privacy-v1/organizations/{}/projects", s.org),
            json!({"name": "Other", "additionalRegions": [{"name": "EU", "regions": ["EU"]}]}),
        )
        .await;
    assert_eq!(status, 201, "{other}");
}

async fn regions_default_region_rules(b: accord_store::Backend) {
    let s = start(b).await;
    let d = regions_of(&s).await.remove(0);
    let path = s.project_path(&format!("/regions/{}", d["id"].as_str().unwrap()));
    assert_error(
        &s.delete(&path).await,
        422,
        "the Default region cannot be deleted",
    );
    assert_error(
        &s.patch(&path, json!({"regions": ["FR"]})).await,
        422,
        "the Default region's regions cannot be changed",
    );
    assert_error(
        &s.patch(&path, json!({"regions": ["default", "FR"]})).await,
        422,
        "the Default region's regions cannot be changed",
    );
    assert_eq!(regions_of(&s).await, vec![d.clone()]);
    // Writing its one code back, and everything else, is allowed.
    let (status, r) = s
        .patch(
            &path,
            json!({"regions": ["DEFAULT"], "name": "World", "customScript": "x()"}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["regions"], json!(["default"]));
    assert_eq!(r["name"], "World");
    assert_eq!(r["customScript"], "x()");
    assert!(r["dateUpdated"].as_i64() >= d["dateUpdated"].as_i64());
    let (status, r) = s.patch(&path, json!({"customScript": ""})).await;
    assert_eq!(status, 200);
    assert!(r.get("customScript").is_none(), "{r}");
}

async fn regions_patch_deep_merges(b: accord_store::Backend) {
    let s = start(b).await;
    let r = create(&s, json!({"template": "gdpr", "name": "Europe"})).await;
    let path = s.project_path(&format!("/regions/{}", r["id"].as_str().unwrap()));
    let (status, got) = s
        .patch(
            &path,
            json!({"settings": {
                "branding": {"primaryColor": "#AA0000", "logoUrl": "https://cdn.example.com/logo.png"},
                "consent": {"consentBanner": {"layout": "bar"},
                            "tcfConfig": {"selectedVendors": [{"vendorId": 755, "name": "Google", "purposes": [1, 3]}]}},
                "crossDeviceConsent": true,
                "privacyCenter": {"position": "left"}
            }}),
        )
        .await;
    assert_eq!(status, 200, "{got}");
    let st = &got["settings"];
    assert_eq!(st["branding"]["primaryColor"], "#AA0000");
    assert_eq!(st["branding"]["secondaryColor"], "#ffffff");
    assert_eq!(
        st["branding"]["logoUrl"],
        "https://cdn.example.com/logo.png"
    );
    assert_eq!(st["consent"]["consentBanner"]["layout"], "bar");
    assert_eq!(st["consent"]["consentBanner"]["position"], "left-bottom");
    assert_eq!(st["consent"]["blockingMode"], "strict");
    assert_eq!(st["consent"]["tcfConfig"]["enabled"], false);
    assert_eq!(
        st["consent"]["tcfConfig"]["selectedVendors"][0]["vendorId"],
        755
    );
    assert_eq!(st["crossDeviceConsent"], true);
    assert_eq!(st["privacyCenter"]["position"], "left");
    assert_eq!(st["privacyCenter"]["theme"], "classic");
    // Arrays replace; "" clears a setting without a default.
    let (_, got) = s
        .patch(
            &path,
            json!({"settings": {"branding": {"logoUrl": ""}, "consent": {"tcfConfig": {"selectedVendors": []}}}}),
        )
        .await;
    assert!(
        got["settings"]["branding"].get("logoUrl").is_none(),
        "{got}"
    );
    assert_eq!(
        got["settings"]["consent"]["tcfConfig"]["selectedVendors"],
        json!([])
    );
    assert_eq!(got["settings"]["branding"]["primaryColor"], "#AA0000");
    let (_, again) = s.get(&path).await;
    assert_eq!(again, got);
}

async fn regions_banner_policy(b: accord_store::Backend) {
    let s = start(b).await;
    let (status, t) = s
        .post(
            &s.project_path("/consent-types"),
            json!({"category": "disclosure", "label": "cookie_policy", "name": "Cookie Policy"}),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    let r = create(
        &s,
        json!({"name": "EU", "regions": ["EU"],
               "settings": {"consent": {"consentBanner": {"policy": t["id"]}}}}),
    )
    .await;
    assert_eq!(r["settings"]["consent"]["consentBanner"]["policy"], t);
    let path = s.project_path(&format!("/regions/{}", r["id"].as_str().unwrap()));
    // An id that is not a consent type of the project is refused.
    let stranger = Uuid::now_v7();
    assert_error(
        &s.patch(
            &path,
            json!({"settings": {"consent": {"consentBanner": {"policy": stranger}}}}),
        )
        .await,
        422,
        "settings/consent/consentBanner/policy not found in this project",
    );
    assert_error(
        &s.post(
            &s.project_path("/regions"),
            json!({"name": "X", "regions": ["JP"], "settings": {"consent": {"consentBanner": {"policy": stranger}}}}),
        )
        .await,
        422,
        "settings/consent/consentBanner/policy not found in this project",
    );
    let (_, got) = s.get(&path).await;
    assert_eq!(got["settings"]["consent"]["consentBanner"]["policy"], t);
    // Once the type is gone, the policy is omitted.
    let (status, _) = s
        .delete(&s.project_path(&format!("/consent-types/{}", t["id"].as_str().unwrap())))
        .await;
    assert_eq!(status, 200);
    let (_, got) = s.get(&path).await;
    let banner = &got["settings"]["consent"]["consentBanner"];
    assert!(banner.get("policy").is_none(), "{banner}");
    assert_eq!(banner["layout"], "box");
}

async fn regions_languages_endpoint(b: accord_store::Backend) {
    let s = start(b).await;
    let r = create(&s, json!({"name": "France", "regions": ["FR"]})).await;
    let path = s.project_path(&format!("/regions/{}/languages", r["id"].as_str().unwrap()));
    let (status, got) = s
        .post(
            &path,
            json!({"enabled": true, "defaultLanguage": "fr", "languages": ["fr", "en-GB"],
                   "translations": {"fr": {"banner.title": "Vos choix"}}}),
        )
        .await;
    assert_eq!(status, 200, "{got}");
    check_schema(&published::<RegionView>(), &got, "region").unwrap();
    assert_eq!(
        got["language"],
        json!({"enabled": true, "defaultLanguage": "fr", "languages": ["fr", "en-GB"],
               "translations": {"fr": {"banner.title": "Vos choix"}}})
    );
    // Only `enabled` given: the rest is kept.
    let (status, got) = s.post(&path, json!({"enabled": false})).await;
    assert_eq!(status, 200);
    assert_eq!(got["language"]["enabled"], false);
    assert_eq!(got["language"]["defaultLanguage"], "fr");
    let (_, read) = s
        .get(&s.project_path(&format!("/regions/{}", r["id"].as_str().unwrap())))
        .await;
    assert_eq!(read["language"], got["language"]);
    for (body, message) in [
        (json!({}), "body must have required property 'enabled'"),
        (json!({"enabled": "yes"}), "body/enabled must be boolean"),
        (
            json!({"enabled": true, "defaultLanguage": "not a tag"}),
            "body/defaultLanguage must match pattern \"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$\"",
        ),
        (
            json!({"enabled": true, "translations": {"fr": {"k": 1}}}),
            "body/translations/fr/k must be string",
        ),
        (
            json!({"enabled": true, "languages": vec!["en"; 51]}),
            "body/languages must NOT have more than 50 items",
        ),
        (
            json!({"enabled": true, "extra": 1}),
            "body must NOT have additional properties: 'extra'",
        ),
    ] {
        assert_error(&s.post(&path, body).await, 400, message);
    }
    assert_eq!(read["language"], regions_of(&s).await[1]["language"]);
    let missing = s.project_path(&format!("/regions/{}/languages", Uuid::now_v7()));
    assert_error(
        &s.post(&missing, json!({"enabled": true})).await,
        404,
        "Not Found",
    );
}

async fn regions_list_filters_and_sort(b: accord_store::Backend) {
    let s = start(b).await;
    create(&s, json!({"template": "gdpr", "name": "Europe"})).await;
    create(&s, json!({"template": "united_states", "name": "America"})).await;
    create(&s, json!({"template": "california", "name": "California"})).await;
    create(
        &s,
        json!({"name": "Bavaria", "regions": ["DE-BY"], "settings": {"consent": {"gpc": false}}}),
    )
    .await;
    let names = |q: &'static str| {
        let s = &s;
        async move {
            let (status, page) = s.get(&s.project_path(&format!("/regions?{q}"))).await;
            assert_eq!(status, 200, "{q}: {page}");
            assert_eq!(page["count"], page["items"].as_array().unwrap().len());
            let names: Vec<String> = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap().to_string())
                .collect();
            (page["total"].as_i64().unwrap(), names)
        }
    };
    assert_eq!(
        names("sort=name&order=asc").await.1,
        ["America", "Bavaria", "California", "Default", "Europe"]
    );
    assert_eq!(
        names("order=asc").await.1,
        ["Default", "Europe", "America", "California", "Bavaria"]
    );
    assert_eq!(
        names("name=RI&sort=name&order=asc").await.1,
        ["America", "Bavaria"]
    );
    assert_eq!(
        names("regionCountry=us&sort=name&order=asc").await.1,
        ["America", "California"]
    );
    // A country of the EEA is held through the alias.
    assert_eq!(
        names("regionCountry=DE&sort=name&order=asc").await.1,
        ["Bavaria", "Europe"]
    );
    assert_eq!(names("regionSubDivision=us-ca").await.1, ["California"]);
    assert_eq!(names("regionSubDivision=DE").await.1, Vec::<String>::new());
    assert_eq!(names("regionSubDivision=de-by").await.1, ["Bavaria"]);
    assert_eq!(
        names("consentMode=implied&sort=name&order=asc").await.1,
        ["America", "California"]
    );
    assert_eq!(names("blockingMode=strict").await.1, ["Europe"]);
    assert_eq!(
        names("blockingMode=strict&blockingMode=disabled").await.0,
        5
    );
    assert_eq!(names("enableDoNotSell=true").await.1, ["California"]);
    assert_eq!(names("enableGpc=false").await.1, ["Bavaria"]);
    let (total, page) = names("sort=name&order=desc&offset=1&limit=2").await;
    assert_eq!(
        (total, page),
        (5, vec!["Default".to_string(), "California".to_string()])
    );
    for (q, message) in [
        ("sort=regions", "querystring/sort must be equal to one of the allowed values: dateCreated, name"),
        ("regionCountry=USA", "querystring/regionCountry must NOT have more than 2 characters"),
        ("regionSubDivision=US-CA-X", "querystring/regionSubDivision must NOT have more than 6 characters"),
        ("blockingMode=off", "querystring/blockingMode must be equal to one of the allowed values: disabled, discovery, permissive, strict"),
        ("enableGpc=yes", "querystring/enableGpc must be boolean"),
    ] {
        assert_error(&s.get(&s.project_path(&format!("/regions?{q}"))).await, 400, message);
    }
}

async fn regions_bad_input_stores_nothing(b: accord_store::Backend) {
    let s = start(b).await;
    let before = regions_of(&s).await;
    for (body, message) in [
        (json!({"regions": ["FR"]}), "body must have required property 'name'"),
        (json!({"name": "", "regions": ["FR"]}), "body/name must NOT have fewer than 1 characters"),
        (json!({"name": "X", "regions": ["XX"]}), "body/regions/0 must match format \"location-code\""),
        (json!({"name": "X", "regions": ["FR", "US-ZZ"]}), "body/regions/1 must match format \"location-code\""),
        (json!({"name": "X", "regions": []}), "body/regions must NOT have fewer than 1 items"),
        (json!({"name": "X", "regions": ["fr", "FR"]}), "body/regions must NOT have duplicate items"),
        (json!({"name": "X", "regions": "FR"}), "body/regions must be array"),
        (json!({"name": "X", "template": "eu"}), "body/template must be equal to one of the allowed values: gdpr, united_states, california, custom"),
        (json!({"name": "X", "regions": ["FR"], "settings": {"consent": {"gcm": "on"}}}), "body/settings/consent/gcm must be equal to one of the allowed values: disabled, basic, advanced"),
        (json!({"name": "X", "regions": ["FR"], "settings": {"consent": {"consentDuration": 61}}}), "body/settings/consent/consentDuration must be <= 60"),
        (json!({"name": "X", "regions": ["FR"], "settings": {"branding": {"primaryColor": "red"}}}), "body/settings/branding/primaryColor must match pattern \"^#[0-9A-Fa-f]{6}$\""),
        (json!({"name": "X", "regions": ["FR"], "settings": {"branding": {"logoUrl": "ftp://x.example"}}}), "body/settings/branding/logoUrl must match format \"uri\""),
        (json!({"name": "X", "regions": ["FR"], "settings": {"colour": 1}}), "body/settings must NOT have additional properties: 'colour'"),
        (json!({"name": "X", "regions": ["FR"], "settings": {"consent": {"consentBanner": {"policy": "nope"}}}}), "body/settings/consent/consentBanner/policy must match format \"uuid\""),
        (json!({"name": "X", "regions": ["FR"], "settings": {"consent": {"consentBanner": {"enabled": null}}}}), "body/settings/consent/consentBanner/enabled must be boolean"),
        (json!({"name": "X", "regions": ["FR"], "customScript": "x".repeat(100_001)}), "body/customScript must NOT have more than 100000 characters"),
        (json!({"name": "X", "regions": ["FR"], "language": {"enabled": 1}}), "body/language/enabled must be boolean"),
    ] {
        assert_error(&s.post(&s.project_path("/regions"), body).await, 400, message);
    }
    let d = &before[0];
    let path = s.project_path(&format!("/regions/{}", d["id"].as_str().unwrap()));
    for (body, message) in [
        (json!({}), "body must NOT have fewer than 1 properties"),
        (
            json!({"regions": ["default", "DEFAULT"]}),
            "body/regions must NOT have duplicate items",
        ),
        (
            json!({"id": "x"}),
            "body must NOT have additional properties: 'id'",
        ),
    ] {
        assert_error(&s.patch(&path, body).await, 400, message);
    }
    assert_eq!(regions_of(&s).await, before);
    // Path and existence.
    assert_error(
        &s.get(&s.project_path("/regions/not-a-uuid")).await,
        400,
        "params/regionId must match format \"uuid\"",
    );
    let missing = s.project_path(&format!("/regions/{}", Uuid::now_v7()));
    assert_error(&s.get(&missing).await, 404, "Not Found");
    assert_error(
        &s.patch(&missing, json!({"name": "Y"})).await,
        404,
        "Not Found",
    );
    assert_error(&s.delete(&missing).await, 404, "Not Found");
    // 400 before 404 on an unknown project.
    let unknown = format!(
        "/privacy-v1/organizations/{}/projects/{}/regions",
        s.org,
        Uuid::now_v7()
    );
    assert_error(
        &s.post(&unknown, json!({"name": "X", "regions": ["XX"]}))
            .await,
        400,
        "body/regions/0 must match format \"location-code\"",
    );
    assert_error(
        &s.post(&unknown, json!({"name": "X", "regions": ["FR"]}))
            .await,
        404,
        "Not Found",
    );
}

async fn regions_roles_and_scope(b: accord_store::Backend) {
    let s = start(b).await;
    let r = create(&s, json!({"name": "France", "regions": ["FR"]})).await;
    let one = s.project_path(&format!("/regions/{}", r["id"].as_str().unwrap()));
    let languages = format!("{one}/languages");
    let collection = s.project_path("/regions");
    let viewer = s.key_with(Role::Viewer, vec![]).await;
    let limited = s.key_with(Role::Limited, vec![]).await;
    let admin = s.key_with(Role::Admin, vec![]).await;
    let none = s.key_with(Role::None, vec![]).await;
    for key in [&viewer, &limited] {
        let (status, _) = send(s.req_as(key, Method::GET, &collection)).await;
        assert_eq!(status, 200);
        let (status, _) = send(s.req_as(key, Method::GET, &one)).await;
        assert_eq!(status, 200);
        for (method, path, body) in [
            (
                Method::POST,
                &collection,
                json!({"name": "X", "regions": ["JP"]}),
            ),
            (Method::PATCH, &one, json!({"name": "X"})),
            (Method::POST, &languages, json!({"enabled": true})),
        ] {
            assert_error(
                &send(s.req_as(key, method, path).json(&body)).await,
                403,
                "Forbidden",
            );
        }
        assert_error(
            &send(s.req_as(key, Method::DELETE, &one)).await,
            403,
            "Forbidden",
        );
    }
    for path in [&collection, &one] {
        assert_error(
            &send(s.req_as(&none, Method::GET, path)).await,
            403,
            "Forbidden",
        );
    }
    let (status, _) = send(
        s.req_as(&admin, Method::PATCH, &one)
            .json(&json!({"name": "FR"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(
        s.req_as(&admin, Method::POST, &languages)
            .json(&json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    // A project-level viewer permission overrides an admin organization role.
    let overridden = s
        .key_with(Role::Admin, vec![(s.org, Some(s.project), Role::Viewer)])
        .await;
    assert_error(
        &send(
            s.req_as(&overridden, Method::PATCH, &one)
                .json(&json!({"name": "X"})),
        )
        .await,
        403,
        "Forbidden",
    );
    // Another organization's key gets 403 and no data, even for ids that exist.
    let other = accord_core::store::bootstrap(s.store.as_ref(), "Other", "Site", vec![], "k")
        .await
        .unwrap();
    for (method, path) in [
        (Method::GET, &collection),
        (Method::GET, &one),
        (Method::DELETE, &one),
    ] {
        assert_error(
            &send(s.req_as(&other.secret, method, path)).await,
            403,
            "Forbidden",
        );
    }
    assert_error(
        &send(
            s.req_as(&other.secret, Method::POST, &languages)
                .json(&json!({"enabled": false})),
        )
        .await,
        403,
        "Forbidden",
    );
    // A Region of another project is not found through this project.
    let theirs = format!(
        "/privacy-v1/organizations/{}/projects/{}/regions",
        other.organization.id, other.project.id
    );
    let (status, page) = send(s.req_as(&other.secret, Method::GET, &theirs)).await;
    assert_eq!(status, 200);
    let their_region = page["items"][0]["id"].as_str().unwrap().to_string();
    assert_error(
        &s.get(&s.project_path(&format!("/regions/{their_region}")))
            .await,
        404,
        "Not Found",
    );
    let (status, _) = s.delete(&one).await;
    assert_eq!(status, 200);
    assert_eq!(regions_of(&s).await.len(), 1);
}

async fn regions_project_create_plans_regions(b: accord_store::Backend) {
    let s = start(b).await;
    let projects = format!("/privacy-v1/organizations/{}/projects", s.org);
    let (status, p) = s
        .post(
            &projects,
            json!({"name": "Shop",
                   "regionTemplate": {"template": "gdpr", "name": "World", "settings": {"branding": {"font": "Inter"}}},
                   "additionalRegions": [
                       {"template": "california", "name": "California"},
                       {"name": "Nordics", "regions": ["NO", "is"]}
                   ]}),
        )
        .await;
    assert_eq!(status, 201, "{p}");
    let path = format!("{projects}/{}/regions?order=asc", p["id"].as_str().unwrap());
    let (_, page) = s.get(&path).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["name"], "World");
    assert_eq!(items[0]["regions"], json!(["default"]));
    assert_eq!(items[0]["settings"]["consent"]["gcm"], "advanced");
    assert_eq!(items[0]["settings"]["branding"]["font"], "Inter");
    assert_eq!(items[1]["regions"], json!(["US-CA"]));
    assert_eq!(items[2]["regions"], json!(["NO", "IS"]));
    for item in items {
        assert_eq!(
            item["settings"]["consent"]["consentBanner"]["policy"]["label"],
            "privacy_policy"
        );
    }
    let (_, before) = s.get(&projects).await;
    for (body, status, message) in [
        (
            json!({"name": "Bad", "regionTemplate": {"regions": ["FR"]}}),
            422,
            "the Default region holds only \"default\"",
        ),
        (
            json!({"name": "Bad", "additionalRegions": [{"name": "A", "regions": ["FR"]}, {"name": "B", "regions": ["fr"]}]}),
            422,
            "location code FR is already held by another region of this project",
        ),
        (
            json!({"name": "Bad", "additionalRegions": [{"name": "A", "regions": ["default"]}]}),
            422,
            "only the Default region may hold \"default\"",
        ),
        (
            json!({"name": "Bad", "additionalRegions": [{"regions": ["FR"]}]}),
            400,
            "body/additionalRegions/0 must have required property 'name'",
        ),
        (
            json!({"name": "Bad", "additionalRegions": [{"name": "A"}]}),
            400,
            "body/additionalRegions/0 must have required property 'regions'",
        ),
        (
            json!({"name": "Bad", "additionalRegions": [{"name": "A", "regions": ["ZZ"]}]}),
            400,
            "body/additionalRegions/0/regions/0 must match format \"location-code\"",
        ),
        (
            json!({"name": "Bad", "regionTemplate": {"settings": {"consent": {"consentBanner": {"policy": Uuid::now_v7()}}}}}),
            422,
            "settings/consent/consentBanner/policy not found in this project",
        ),
    ] {
        assert_error(&s.post(&projects, body).await, status, message);
    }
    let (_, after) = s.get(&projects).await;
    assert_eq!(after["total"], before["total"], "nothing stored");
    // An organization's Default project takes `regionTemplate`.
    let (status, org) = s
        .post(
            "/privacy-v1/organizations",
            json!({"name": "Third", "regionTemplate": {"template": "united_states", "name": "Everywhere"}}),
        )
        .await;
    assert_eq!(status, 201, "{org}");
    let (_, page) = s
        .get(&format!(
            "/privacy-v1/organizations/{}/projects/{}/regions",
            org["id"].as_str().unwrap(),
            org["defaultProjectId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["name"], "Everywhere");
    assert_eq!(page["items"][0]["regions"], json!(["default"]));
    assert_eq!(
        page["items"][0]["settings"]["consent"]["consentMode"],
        "implied"
    );
}

/// A database at migration 9 with projects and no Regions, migrated: exactly one Default
/// region per project, whose banner points at the project's `privacy_policy` type.
async fn regions_migration_gives_each_project_a_default_region(b: accord_store::Backend) {
    use accord_store::SqlStore;
    use sqlx::Executor;
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(b, dir.path()).await;
    let store = SqlStore::connect(&url).await.unwrap();
    store.db.migrate_up_to(9).await.unwrap();
    let org = Uuid::now_v7();
    let projects = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
    let policy = Uuid::now_v7();
    let mut conn = store.db.write.acquire().await.unwrap();
    conn.execute(
        format!(
            "INSERT INTO organizations (id, name, slug, date_created, date_updated) VALUES ('{org}', 'Old', 'old', 1, 1)"
        )
        .as_str(),
    )
    .await
    .unwrap();
    for (i, p) in projects.iter().enumerate() {
        conn.execute(
            format!(
                "INSERT INTO projects (id, organization_id, name, slug, status, contact_emails, send_from_email_id, settings, date_created, date_updated) \
                 VALUES ('{p}', '{org}', 'P{i}', 'p{i}', 'active', '[]', 'default', '{{}}', 1, 1)"
            )
            .as_str(),
        )
        .await
        .unwrap();
    }
    conn.execute(
        format!(
            "INSERT INTO consent_types (id, organization_id, project_id, category, subcategory, label, name, read_only, valid_states, status, consent_duration, required, version, date_created, date_updated) \
             VALUES ('{policy}', '{org}', '{}', 'disclosure', '[\"privacy_policy\"]', 'privacy_policy', 'Privacy Policy', 0, '[]', 'active', 'P1Y', 0, 1, 1, 1)",
            projects[0]
        )
        .as_str(),
    )
    .await
    .unwrap();
    drop(conn);
    assert_eq!(store.db.migrate_up_to(10).await.unwrap(), 1);
    for p in projects {
        let regions = store.list_regions(p).await.unwrap();
        assert_eq!(regions.len(), 1, "{p}");
        let r = &regions[0];
        assert!(r.draft.is_default);
        assert_eq!(r.draft.regions, ["default"]);
        assert_eq!(r.draft.name, "Default");
        assert_eq!(r.organization_id, org);
        assert_eq!(r.draft.settings["consent"]["consentMode"], "express");
        let expected = (p == projects[0]).then_some(policy);
        assert_eq!(r.draft.policy(), expected);
    }
    // Running the migrations again changes nothing.
    assert_eq!(store.db.migrate_up_to(10).await.unwrap(), 0);
    assert_eq!(store.list_regions(projects[1]).await.unwrap().len(), 1);
    if b == accord_store::Backend::Postgres {
        store.db.close().await;
        let admin = postgres_admin_url();
        let name = url.rsplit_once('/').unwrap().1.to_string();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
            .await
            .unwrap();
        let _ = conn
            .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
            .await;
    }
}
