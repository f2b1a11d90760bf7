//! §4: consent types, consent events, consent state and identities on the Privacy API.
use crate::both;
use crate::common::*;
use accord_core::auth::Role;
use accord_core::compliance::SessionInfo;
use accord_core::consent::{
    ConsentEvent, ConsentEventView, ConsentStateView, ConsentType, Counted, Erasure, Identity,
    SUBCATEGORY_PATTERN,
};
use accord_core::schema::published;
use accord_core::store::NewProject;
use accord_core::time::{now_ms, to_rfc3339, DAY_MS};
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

both!(
    reference_body_creates_events,
    default_types_in_every_new_project,
    consent_type_crud_and_versioning,
    consent_type_validation,
    consent_type_rules,
    consent_type_list_filters,
    consent_event_rules,
    consent_event_validation,
    consent_events_are_all_or_nothing,
    stored_events_equal_their_answers,
    consent_event_lists_and_get,
    consent_state_folds_events,
    identities_lookup,
    identity_erasure,
    cross_organization_access_is_forbidden,
    roles_and_precedence,
    published_document_lists_the_ledger,
    published_body_rules_are_the_enforced_ones,
);

const LABEL_RULE: &str = "^[a-z0-9_*]{1,128}$";

fn types_path(s: &Server) -> String {
    s.project_path("/consent-types")
}

fn events_path(s: &Server) -> String {
    s.project_path("/consent-events")
}

async fn post_events(s: &Server, items: Value) -> (u16, Value) {
    s.post(&events_path(s), json!({ "items": items })).await
}

async fn create_events(s: &Server, items: Value) -> Vec<Value> {
    let (status, body) = post_events(s, items).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["count"], body["items"].as_array().unwrap().len());
    for item in body["items"].as_array().unwrap() {
        check_schema(&published::<ConsentEventView>(), item, "event").unwrap();
    }
    body["items"].as_array().unwrap().clone()
}

/// Creates one `custom` event per (email, concordId) item, in one request, and answers the
/// identity (`concordId`) each event was stored under.
async fn event_owners(s: &Server, items: &[(&str, Option<&str>)]) -> Vec<String> {
    let items: Vec<Value> = items
        .iter()
        .map(|(email, concord)| {
            let mut item = json!({"email": email, "category": "custom", "consentState": "accepted", "consentAction": "import"});
            if let Some(c) = concord {
                item["concordId"] = json!(c);
            }
            item
        })
        .collect();
    create_events(s, Value::Array(items))
        .await
        .iter()
        .map(|e| e["concordId"].as_str().unwrap().to_string())
        .collect()
}

async fn create_type(s: &Server, body: Value) -> Value {
    let (status, t) = s.post(&types_path(s), body).await;
    assert_eq!(status, 201, "{t}");
    check_schema(&published::<ConsentType>(), &t, "type").unwrap();
    t
}

/// The id of the project's consent type with `label`.
async fn type_id(s: &Server, label: &str) -> String {
    let (status, list) = s
        .get(&format!("{}?label={label}&limit=1000", types_path(s)))
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 1, "{list}");
    list["items"][0]["id"].as_str().unwrap().to_string()
}

async fn bootstrap_key_id(s: &Server) -> String {
    let keys = s.store.list_api_keys(s.org).await.unwrap();
    keys.iter()
        .find(|k| k.name == "bootstrap")
        .unwrap()
        .id
        .to_string()
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

fn labels(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap_or("-").to_string())
        .collect()
}

async fn reference_body_creates_events(b: accord_store::Backend) {
    let s = start(b).await;
    // The request body of the reference page (003) as printed: its placeholders break the
    // documented patterns, and the first violation is reported.
    let reference = json!({"items": [{
        "projectUserId": "<string>", "userId": "<string>", "email": "jsmith@example.com",
        "phoneNumber": "<string>", "concordId": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
        "consentType": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "category": "disclosure",
        "subcategory": ["<any>"], "label": "<string>", "consentState": "implied",
        "consentAction": "implied", "consentDate": "2023-11-07T05:31:56Z",
        "expirationDate": "2023-11-07T05:31:56Z"}]});
    assert_error(
        &s.post(&events_path(&s), reference).await,
        400,
        &format!("body/items/0/subcategory/0 must match pattern \"{SUBCATEGORY_PATTERN}\""),
    );

    // The same thirteen fields with real values.
    let first = create_events(&s, json!([{"email": "jsmith@example.com", "consentState": "implied", "consentAction": "implied", "category": "disclosure", "subcategory": ["privacy_policy"], "label": "privacy_policy"}])).await;
    let concord = first[0]["concordId"].as_str().unwrap().to_string();
    let privacy = type_id(&s, "privacy_policy").await;
    let item = json!({
        "projectUserId": "pu-1", "userId": "u-1", "email": "jsmith@example.com",
        "phoneNumber": "+1 555 0100", "concordId": concord, "consentType": privacy,
        "category": "disclosure", "subcategory": ["privacy_policy"], "label": "privacy_policy",
        "consentState": "implied", "consentAction": "implied",
        "consentDate": "2023-11-07T05:31:56Z", "expirationDate": "2024-11-07T05:31:56+00:00"});
    let (status, body) = s.post(&events_path(&s), json!({"items": [item]})).await;
    assert_eq!(status, 201, "{body}");
    check_schema(&published::<Counted<ConsentEventView>>(), &body, "response").unwrap();
    assert_eq!(body["count"], 1);
    let e = &body["items"][0];
    assert_eq!(e["concordId"], concord);
    assert_eq!(e["consentType"], privacy);
    assert_eq!(e["organization"], s.org.to_string());
    assert_eq!(e["project"], s.project.to_string());
    assert_eq!(e["category"], "disclosure");
    assert_eq!(e["subcategory"], json!(["privacy_policy"]));
    assert_eq!(e["label"], "privacy_policy");
    assert_eq!(e["consentState"], "implied");
    assert_eq!(e["consentAction"], "implied");
    assert_eq!(e["consentDate"], "2023-11-07T05:31:56.000Z");
    assert_eq!(e["expirationDate"], "2024-11-07T05:31:56.000Z");
    assert_eq!(e["version"], 1);
    assert_eq!(e["submitter"], bootstrap_key_id(&s).await);
    assert_eq!(e["dateCreated"], e["dateUpdated"]);
    assert!(e["dateCreated"].as_str().unwrap().ends_with('Z'));
    assert!(e.get("session").is_none());
    assert!(e.get("createdAt").is_none() && e.get("updatedAt").is_none());
    // The identifiers given were added to the identity the concordId named.
    let (_, identity) = s
        .get(&s.project_path(&format!("/identities/{concord}")))
        .await;
    assert_eq!(identity["userId"], "u-1");
    assert_eq!(identity["projectUserId"], "pu-1");
    assert_eq!(identity["phoneNumber"], "+1 555 0100");
}

async fn default_types_in_every_new_project(b: accord_store::Backend) {
    let s = start(b).await;
    let (status, list) = s
        .get(&format!("{}?sort=label&order=asc", types_path(&s)))
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 5);
    assert_eq!(
        labels(&list),
        [
            "advertising",
            "analytics",
            "personalization",
            "privacy_policy",
            "strictly_necessary"
        ]
    );
    for t in list["items"].as_array().unwrap() {
        check_schema(&published::<ConsentType>(), t, "type").unwrap();
        assert_eq!(t["subcategory"], json!([t["label"]]));
        assert_eq!(t["version"], 1);
        assert_eq!(t["status"], "active");
        assert_eq!(t["consentDuration"], "P12M");
        assert_eq!(t["readOnly"], false);
        assert!(t.get("url").is_none());
    }
    let by = |label: &str| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["label"] == label)
            .unwrap()
            .clone()
    };
    assert_eq!(by("privacy_policy")["category"], "disclosure");
    assert_eq!(by("privacy_policy")["name"], "Privacy Policy");
    assert_eq!(
        by("privacy_policy")["validStates"],
        json!(["implied", "viewed", "accepted"])
    );
    assert_eq!(by("strictly_necessary")["required"], true);
    assert_eq!(
        by("strictly_necessary")["validStates"],
        json!(["implied", "accepted"])
    );
    assert_eq!(by("analytics")["category"], "privacy_setting");
    assert_eq!(
        by("advertising")["validStates"],
        json!(["implied", "accepted", "declined"])
    );
    assert_eq!(by("personalization")["name"], "Personalization");
    assert_eq!(by("analytics")["required"], false);

    // With policy URLs, the disclosures carry them and the terms of service exist.
    let p = s
        .store
        .create_project(
            s.org,
            NewProject {
                name: "Shop".into(),
                privacy_policy_url: Some("https://shop.example.com/privacy".into()),
                terms_of_service_url: Some("https://shop.example.com/terms".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let path = format!(
        "/privacy-v1/organizations/{}/projects/{}/consent-types?category=disclosure&sort=label&order=asc",
        s.org, p.id
    );
    let (_, list) = s.get(&path).await;
    assert_eq!(labels(&list), ["privacy_policy", "terms_of_service"]);
    assert_eq!(list["items"][0]["url"], "https://shop.example.com/privacy");
    assert_eq!(list["items"][1]["url"], "https://shop.example.com/terms");
    assert_eq!(list["items"][1]["name"], "Terms of Service");
    assert_eq!(list["items"][1]["project"], p.id.to_string());
}

async fn consent_type_crud_and_versioning(b: accord_store::Backend) {
    let s = start(b).await;
    let t = create_type(
        &s,
        json!({"category": "communication", "subcategory": "Email", "label": "newsletter", "name": "Newsletter"}),
    )
    .await;
    assert_eq!(t["subcategory"], json!(["email"]));
    assert_eq!(t["validStates"], json!([]));
    assert_eq!(t["status"], "active");
    assert_eq!(t["consentDuration"], "P12M");
    assert_eq!(t["required"], false);
    assert_eq!(t["readOnly"], false);
    assert_eq!(t["version"], 1);
    assert_eq!(t["dateCreated"], t["dateUpdated"]);
    assert!(t.get("requireReacceptVersion").is_none());
    assert!(t.get("description").is_none());
    let id = t["id"].as_str().unwrap();
    let one = s.project_path(&format!("/consent-types/{id}"));
    assert_eq!(s.get(&one).await, (200, t.clone()));

    let full = create_type(
        &s,
        json!({"category": "custom", "subcategory": ["b", "a", "B"], "label": "terms_v*", "name": "Terms",
            "description": "d", "document": "text", "url": "https://example.com/t", "readOnly": false,
            "validStates": ["accepted", "declined"], "status": "test", "consentDuration": "P1Y6M",
            "required": true, "requireReacceptVersion": 1}),
    )
    .await;
    assert_eq!(full["subcategory"], json!(["a", "b"]));
    assert_eq!(full["validStates"], json!(["accepted", "declined"]));
    assert_eq!(full["consentDuration"], "P1Y6M");
    assert_eq!(full["requireReacceptVersion"], 1);
    assert_eq!(full["status"], "test");

    // Plain edits keep the version; document and url changes bump it.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let (status, t2) = s
        .patch(&one, json!({"name": "Weekly newsletter", "description": "Once a week", "validStates": ["accepted"]}))
        .await;
    assert_eq!(status, 200, "{t2}");
    assert_eq!(
        (t2["name"].clone(), t2["version"].clone()),
        (json!("Weekly newsletter"), json!(1))
    );
    assert_ne!(t2["dateUpdated"], t["dateUpdated"]);
    assert_eq!(t2["dateCreated"], t["dateCreated"]);
    let (_, t3) = s.patch(&one, json!({"document": "v2 text"})).await;
    assert_eq!(t3["version"], 2);
    let (_, t4) = s.patch(&one, json!({"url": "https://example.com/n"})).await;
    assert_eq!(t4["version"], 3);
    let (_, same) = s.patch(&one, json!({"url": "https://example.com/n"})).await;
    assert_eq!(same["version"], 3, "an unchanged url is no new version");
    let (_, t5) = s.patch(&one, json!({"document": "v9", "version": 9})).await;
    assert_eq!(t5["version"], 9, "explicit version replaces the increment");
    let (_, t6) = s
        .patch(&one, json!({"requireReacceptVersion": 9, "status": "archived", "consentDuration": "P30D", "required": true}))
        .await;
    assert_eq!(t6["requireReacceptVersion"], 9);
    assert_eq!(t6["status"], "archived");
    assert_eq!(t6["consentDuration"], "P30D");
    // An empty string clears optional text.
    let (_, t7) = s.patch(&one, json!({"description": "", "url": ""})).await;
    assert!(t7.get("description").is_none());
    assert!(t7.get("url").is_none());
    assert_eq!(t7["version"], 10, "removing the url is a new version");
    // At the largest version there is no next one: a new document is refused, not wrapped.
    let (_, top) = s
        .patch(&full_path(&s, &full), json!({"version": i64::MAX}))
        .await;
    assert_eq!(top["version"], i64::MAX);
    assert_error(
        &s.patch(&full_path(&s, &full), json!({"document": "next"}))
            .await,
        422,
        "version is at its maximum (9223372036854775807) and cannot be incremented",
    );
    let (_, kept) = s.get(&full_path(&s, &full)).await;
    assert_eq!(
        (kept["document"].clone(), kept["version"].clone()),
        (json!("text"), json!(i64::MAX))
    );

    let (status, deleted) = s.delete(&one).await;
    assert_eq!(status, 200);
    assert_eq!(deleted["id"], id);
    assert_eq!(deleted["version"], 10);
    assert_error(&s.get(&one).await, 404, "Not Found");
    assert_error(&s.delete(&one).await, 404, "Not Found");
    assert_error(&s.patch(&one, json!({"name": "x"})).await, 404, "Not Found");
}

fn full_path(s: &Server, t: &Value) -> String {
    s.project_path(&format!("/consent-types/{}", t["id"].as_str().unwrap()))
}

async fn consent_type_validation(b: accord_store::Backend) {
    let s = start(b).await;
    let path = types_path(&s);
    let ok = json!({"category": "custom", "label": "x", "name": "X"});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let cases: Vec<(Value, String)> = vec![
        (json!({"label": "x", "name": "X"}), "body must have required property 'category'".into()),
        (json!({"category": "custom", "name": "X"}), "body must have required property 'label'".into()),
        (json!({"category": "custom", "label": "x"}), "body must have required property 'name'".into()),
        (with("foo", json!(1)), "body must NOT have additional properties: 'foo'".into()),
        (with("version", json!(2)), "body must NOT have additional properties: 'version'".into()),
        (with("category", json!("other")), "body/category must be equal to one of the allowed values: disclosure, communication, privacy_setting, custom".into()),
        (with("label", json!("Bad Label")), format!("body/label must match pattern \"{LABEL_RULE}\"")),
        (with("label", json!("")), format!("body/label must match pattern \"{LABEL_RULE}\"")),
        (with("label", json!("a".repeat(129))), "body/label must NOT have more than 128 characters".into()),
        (with("subcategory", json!(["a b"])), format!("body/subcategory/0 must match pattern \"{SUBCATEGORY_PATTERN}\"")),
        (with("subcategory", json!(["ok", ""])), format!("body/subcategory/1 must match pattern \"{SUBCATEGORY_PATTERN}\"")),
        (with("subcategory", json!((0..11).map(|i| format!("s{i}")).collect::<Vec<_>>())), "body/subcategory must NOT have more than 10 items".into()),
        (with("subcategory", json!(3)), "body/subcategory must be array".into()),
        (with("name", json!("")), "body/name must NOT have fewer than 1 characters".into()),
        (with("name", json!("n".repeat(101))), "body/name must NOT have more than 100 characters".into()),
        (with("name", Value::Null), "body/name must be string".into()),
        (with("description", json!("d".repeat(2001))), "body/description must NOT have more than 2000 characters".into()),
        (with("url", json!("not a url")), "body/url must match format \"uri\"".into()),
        (with("readOnly", json!("yes")), "body/readOnly must be boolean".into()),
        (with("validStates", json!(["accepted", "accepted"])), "body/validStates must NOT have duplicate items".into()),
        (with("validStates", json!(["maybe"])), "body/validStates/0 must be equal to one of the allowed values: implied, viewed, accepted, declined".into()),
        (with("status", json!("deleted")), "body/status must be equal to one of the allowed values: active, archived, obsolete, test".into()),
        (with("consentDuration", json!("12 months")), format!("body/consentDuration must match pattern \"{}\"", accord_core::consent::DURATION_PATTERN)),
        (with("consentDuration", json!("P")), format!("body/consentDuration must match pattern \"{}\"", accord_core::consent::DURATION_PATTERN)),
        (with("required", json!(1)), "body/required must be boolean".into()),
        (with("requireReacceptVersion", json!(0)), "body/requireReacceptVersion must be >= 1".into()),
        (with("requireReacceptVersion", json!(1.5)), "body/requireReacceptVersion must be integer".into()),
        (json!([ok.clone()]), "body must be object".into()),
    ];
    for (body, message) in cases {
        assert_error(&s.post(&path, body.clone()).await, 400, &message);
    }
    // Malformed JSON, wrong media type.
    assert_error(
        &send(
            s.req(Method::POST, &path)
                .header("content-type", "application/json")
                .body("{"),
        )
        .await,
        400,
        "body must be valid JSON",
    );
    assert_error(
        &send(
            s.req(Method::POST, &path)
                .header("content-type", "text/plain")
                .body("{}"),
        )
        .await,
        415,
        "Content-Type must be application/json",
    );
    // PATCH: immutable fields are unknown properties, an empty body is refused.
    let id = type_id(&s, "analytics").await;
    let one = s.project_path(&format!("/consent-types/{id}"));
    for field in ["category", "subcategory", "label", "readOnly"] {
        assert_error(
            &s.patch(&one, json!({ field: "x" })).await,
            400,
            &format!("body must NOT have additional properties: '{field}'"),
        );
    }
    assert_error(
        &s.patch(&one, json!({})).await,
        400,
        "body must NOT have fewer than 1 properties",
    );
    assert_error(
        &s.patch(&one, json!({"version": 0})).await,
        400,
        "body/version must be >= 1",
    );
    assert_error(
        &s.patch(&one, json!({"name": ""})).await,
        400,
        "body/name must NOT have fewer than 1 characters",
    );
    // Path parameters first.
    assert_error(
        &s.get(&s.project_path("/consent-types/not-a-uuid")).await,
        400,
        "params/consentTypeId must match format \"uuid\"",
    );
    assert_error(
        &s.patch(&s.project_path("/consent-types/not-a-uuid"), json!({}))
            .await,
        400,
        "params/consentTypeId must match format \"uuid\"",
    );
    // Nothing was stored.
    let (_, list) = s.get(&path).await;
    assert_eq!(list["total"], 5);
}

async fn consent_type_rules(b: accord_store::Backend) {
    let s = start(b).await;
    let path = types_path(&s);
    create_type(
        &s,
        json!({"category": "custom", "subcategory": ["b", "a"], "label": "dup", "name": "One"}),
    )
    .await;
    // Subcategories compare after normalisation.
    assert_error(
        &s.post(&path, json!({"category": "custom", "subcategory": ["A", "b", "a"], "label": "dup", "name": "Two"})).await,
        422,
        "consent type already exists",
    );
    assert_error(
        &s.post(&path, json!({"category": "privacy_setting", "subcategory": "analytics", "label": "analytics", "name": "Again"})).await,
        422,
        "consent type already exists",
    );
    // Another category, subcategory or label is another type.
    create_type(
        &s,
        json!({"category": "custom", "subcategory": ["a"], "label": "dup", "name": "Three"}),
    )
    .await;
    create_type(&s, json!({"category": "communication", "subcategory": ["a", "b"], "label": "dup", "name": "Four"})).await;
    // requireReacceptVersion cannot exceed the version.
    assert_error(
        &s.post(
            &path,
            json!({"category": "custom", "label": "r", "name": "R", "requireReacceptVersion": 2}),
        )
        .await,
        422,
        "requireReacceptVersion must not be greater than version",
    );
    let t = create_type(
        &s,
        json!({"category": "custom", "label": "v", "name": "V", "document": "one"}),
    )
    .await;
    let one = s.project_path(&format!("/consent-types/{}", t["id"].as_str().unwrap()));
    assert_error(
        &s.patch(&one, json!({"requireReacceptVersion": 2})).await,
        422,
        "requireReacceptVersion must not be greater than version",
    );
    let (_, bumped) = s
        .patch(
            &one,
            json!({"document": "two", "requireReacceptVersion": 2}),
        )
        .await;
    assert_eq!(
        (
            bumped["version"].clone(),
            bumped["requireReacceptVersion"].clone()
        ),
        (json!(2), json!(2))
    );
    for v in [1, 2] {
        assert_error(
            &s.patch(&one, json!({ "version": v })).await,
            422,
            "version must be greater than the current version",
        );
    }
    // 400 wins over 404, 404 over 422.
    let missing = s.project_path(&format!("/consent-types/{}", Uuid::new_v4()));
    assert_error(
        &s.patch(&missing, json!({"version": 1})).await,
        404,
        "Not Found",
    );
    assert_error(
        &s.patch(&missing, json!({"label": "x"})).await,
        400,
        "body must NOT have additional properties: 'label'",
    );

    // Read-only types can be neither patched nor deleted.
    let ro = create_type(
        &s,
        json!({"category": "custom", "label": "locked", "name": "Locked", "readOnly": true}),
    )
    .await;
    assert_eq!(ro["readOnly"], true);
    let ro_path = s.project_path(&format!("/consent-types/{}", ro["id"].as_str().unwrap()));
    assert_error(
        &s.patch(&ro_path, json!({"name": "x"})).await,
        422,
        "read-only consent type cannot be modified",
    );
    assert_error(
        &s.delete(&ro_path).await,
        422,
        "read-only consent type cannot be modified",
    );
    assert_eq!(s.get(&ro_path).await.1["name"], "Locked");

    // A type with events is archived, not deleted.
    let analytics = type_id(&s, "analytics").await;
    create_events(&s, json!([{"userId": "u1", "consentType": analytics, "consentState": "accepted", "consentAction": "user_click"}])).await;
    let a_path = s.project_path(&format!("/consent-types/{analytics}"));
    assert_error(
        &s.delete(&a_path).await,
        422,
        "consent type has consent events; archive it instead",
    );
    let (status, archived) = s.patch(&a_path, json!({"status": "archived"})).await;
    assert_eq!(
        (status, archived["status"].clone()),
        (200, json!("archived"))
    );
    // Archived types still take Privacy API events (imports).
    create_events(&s, json!([{"userId": "u1", "consentType": analytics, "consentState": "declined", "consentAction": "import"}])).await;
    // A type without events goes.
    let ads = type_id(&s, "advertising").await;
    assert_eq!(
        s.delete(&s.project_path(&format!("/consent-types/{ads}")))
            .await
            .0,
        200
    );
}

async fn consent_type_list_filters(b: accord_store::Backend) {
    let s = start(b).await;
    let path = types_path(&s);
    create_type(&s, json!({"category": "communication", "subcategory": ["email", "custom"], "label": "news", "name": "Monthly News", "url": "https://Example.com/News"})).await;
    create_type(&s, json!({"category": "communication", "subcategory": "phone", "label": "calls", "name": "Calls", "status": "obsolete"})).await;
    let sr = &s;
    let get = |q: &str| {
        let url = format!("{path}?{q}");
        async move { sr.get(&url).await }
    };
    let (status, list) = get("category=communication&sort=name&order=asc").await;
    assert_eq!(status, 200);
    assert_eq!(labels(&list), ["calls", "news"]);
    assert_eq!(labels(&get("subcategory=email").await.1), ["news"]);
    assert_eq!(
        labels(&get("subcategory=EMAIL").await.1),
        ["news"],
        "subcategories are lowercase"
    );
    assert_eq!(
        labels(
            &get("subcategory[]=phone&subcategory[]=email&sort=label&order=asc")
                .await
                .1
        ),
        ["calls", "news"]
    );
    assert_eq!(
        labels(&get("subcategory=strictly_necessary").await.1),
        ["strictly_necessary"]
    );
    assert_eq!(
        labels(&get("subcategory=cus").await.1),
        Vec::<String>::new(),
        "items match whole"
    );
    assert_eq!(labels(&get("label=calls").await.1), ["calls"]);
    assert_eq!(
        labels(&get("name=month").await.1),
        ["news"],
        "name is a substring"
    );
    assert_eq!(
        labels(&get("name=%25").await.1),
        Vec::<String>::new(),
        "wildcards are literal"
    );
    assert_eq!(labels(&get("url=example.com/news").await.1), ["news"]);
    assert_eq!(labels(&get("status=obsolete").await.1), ["calls"]);
    assert_eq!(get("version=1").await.1["total"], 7);
    assert_eq!(get("version=2").await.1["total"], 0);
    let (_, page) = get("sort=label&order=asc&offset=2&limit=2").await;
    assert_eq!(page["offset"], 2);
    assert_eq!(page["count"], 2);
    assert_eq!(page["total"], 7);
    assert_eq!(labels(&page), ["calls", "news"]);
    let (_, desc) = get("sort=label").await;
    assert_eq!(labels(&desc)[0], "strictly_necessary");
    let (_, by_category) = get("sort=category&order=asc&limit=1").await;
    assert_eq!(by_category["items"][0]["category"], "communication");
    // Default order: newest first.
    assert_eq!(labels(&get("limit=1").await.1), ["calls"]);
    assert_error(
        &get("sort=url").await,
        400,
        "querystring/sort must be equal to one of the allowed values: dateCreated, dateUpdated, name, category, label, version, status",
    );
    assert_error(
        &get("category=x").await,
        400,
        "querystring/category must be equal to one of the allowed values: disclosure, communication, privacy_setting, custom",
    );
    assert_error(
        &get("subcategory=a%20b").await,
        400,
        &format!("querystring/subcategory must match pattern \"{SUBCATEGORY_PATTERN}\""),
    );
    assert_error(
        &get("version=x").await,
        400,
        "querystring/version must be integer",
    );
    assert_error(
        &get(&format!("name={}", "n".repeat(101))).await,
        400,
        "querystring/name must NOT have more than 100 characters",
    );
    assert_error(&get("limit=0").await, 400, "querystring/limit must be >= 1");
}

async fn consent_event_rules(b: accord_store::Backend) {
    let s = start(b).await;
    let analytics = type_id(&s, "analytics").await;
    let necessary = type_id(&s, "strictly_necessary").await;
    // Rule 1: category, subcategory and label come from the type.
    let e = create_events(&s, json!([{"email": "A@Example.com", "consentType": analytics.to_uppercase(), "consentState": "accepted", "consentAction": "user_click"}])).await;
    assert_eq!(e[0]["consentType"], analytics);
    assert_eq!(e[0]["category"], "privacy_setting");
    assert_eq!(e[0]["subcategory"], json!(["analytics"]));
    assert_eq!(e[0]["label"], "analytics");
    assert_eq!(e[0]["version"], 1);
    // Defaults: consentDate now, expiration 12 calendar months later.
    let consent = accord_core::time::parse_rfc3339(e[0]["consentDate"].as_str().unwrap()).unwrap();
    assert!((now_ms() - consent).abs() < 60_000);
    let expiry =
        accord_core::time::parse_rfc3339(e[0]["expirationDate"].as_str().unwrap()).unwrap();
    assert!((365 * DAY_MS..=366 * DAY_MS).contains(&(expiry - consent)));
    // Matching fields may be repeated; differing ones are refused.
    create_events(&s, json!([{"email": "a@example.com", "consentType": analytics, "category": "privacy_setting", "subcategory": "Analytics", "label": "analytics", "consentState": "declined", "consentAction": "user_click"}])).await;
    for (k, v) in [
        ("category", json!("custom")),
        ("subcategory", json!(["ads"])),
        ("label", json!("ads")),
    ] {
        let mut item = json!({"email": "a@example.com", "consentType": analytics, "consentState": "accepted", "consentAction": "user_click"});
        item[k] = v;
        assert_error(
            &post_events(&s, json!([item])).await,
            422,
            "consentType does not match category/subcategory/label",
        );
    }
    assert_error(
        &post_events(&s, json!([{"email": "a@example.com", "consentType": Uuid::new_v4(), "consentState": "accepted", "consentAction": "user_click"}])).await,
        422,
        "consentType not found in this project",
    );
    // Rule 2: looked up by (category, subcategory, label).
    let e = create_events(&s, json!([{"userId": "u-2", "category": "privacy_setting", "subcategory": "strictly_necessary", "label": "strictly_necessary", "consentState": "implied", "consentAction": "implied"}])).await;
    assert_eq!(e[0]["consentType"], necessary);
    // No match: stored without a type and version, expiring after 12 months.
    let e = create_events(&s, json!([{"userId": "u-2", "category": "custom", "subcategory": ["b", "A", "b"], "label": "x*", "consentState": "declined", "consentAction": "import", "consentDate": "2024-01-31T12:00:00Z"}])).await;
    assert!(e[0].get("consentType").is_none());
    assert!(e[0].get("version").is_none());
    assert_eq!(e[0]["subcategory"], json!(["a", "b"]));
    assert_eq!(e[0]["label"], "x*");
    assert_eq!(e[0]["expirationDate"], "2025-01-31T12:00:00.000Z");
    let e = create_events(&s, json!([{"userId": "u-2", "category": "custom", "consentState": "viewed", "consentAction": "import"}])).await;
    assert_eq!(e[0]["subcategory"], json!([]));
    assert!(e[0].get("label").is_none());
    // The type's duration sets the expiration, with calendar months.
    let t = create_type(
        &s,
        json!({"category": "custom", "label": "short", "name": "Short", "consentDuration": "P1M"}),
    )
    .await;
    let e = create_events(&s, json!([{"userId": "u-2", "consentType": t["id"], "consentState": "accepted", "consentAction": "import", "consentDate": "2024-01-31T10:00:00.123+01:00"}])).await;
    assert_eq!(e[0]["consentDate"], "2024-01-31T09:00:00.123Z");
    assert_eq!(e[0]["expirationDate"], "2024-02-29T09:00:00.123Z");
    // Rule 3: the type's valid states.
    assert_error(
        &post_events(&s, json!([{"userId": "u-2", "consentType": necessary, "consentState": "declined", "consentAction": "user_click"}])).await,
        422,
        "consentState 'declined' is not valid for this consent type",
    );
    // Rule 4: the type's current version.
    let (_, v2) = s
        .patch(
            &s.project_path(&format!("/consent-types/{necessary}")),
            json!({"document": "v2"}),
        )
        .await;
    assert_eq!(v2["version"], 2);
    let e = create_events(&s, json!([{"userId": "u-2", "consentType": necessary, "consentState": "accepted", "consentAction": "user_click"}])).await;
    assert_eq!(e[0]["version"], 2);
    // Dates.
    let soon = to_rfc3339(now_ms() + 4 * 60_000);
    create_events(&s, json!([{"userId": "u-2", "consentType": analytics, "consentState": "accepted", "consentAction": "import", "consentDate": soon}])).await;
    let later = to_rfc3339(now_ms() + 6 * 60_000);
    assert_error(
        &post_events(&s, json!([{"userId": "u-2", "consentType": analytics, "consentState": "accepted", "consentAction": "import", "consentDate": later}])).await,
        422,
        "consentDate must not be more than 5 minutes in the future",
    );
    for expiration in ["2024-01-01T00:00:00Z", "2023-12-31T23:59:59Z"] {
        assert_error(
            &post_events(&s, json!([{"userId": "u-2", "consentType": analytics, "consentState": "accepted", "consentAction": "import", "consentDate": "2024-01-01T00:00:00Z", "expirationDate": expiration}])).await,
            422,
            "expirationDate must be after consentDate",
        );
    }
    assert_error(
        &post_events(&s, json!([{"userId": "u-2", "consentType": analytics, "consentState": "accepted", "consentAction": "import", "expirationDate": "2020-01-01T00:00:00Z"}])).await,
        422,
        "expirationDate must be after consentDate",
    );
    let e = create_events(&s, json!([{"userId": "u-2", "consentType": analytics, "consentState": "accepted", "consentAction": "import", "consentDate": "2024-01-01T00:00:00Z", "expirationDate": "2024-01-01T00:00:00.001Z"}])).await;
    assert_eq!(e[0]["expirationDate"], "2024-01-01T00:00:00.001Z");
    // Identities: an unknown concordId is refused; identifiers resolve to one identity.
    assert_error(
        &post_events(&s, json!([{"concordId": Uuid::new_v4(), "consentType": analytics, "consentState": "accepted", "consentAction": "import"}])).await,
        422,
        "concordId not found in this project",
    );
    let e = create_events(&s, json!([
        {"email": "b@example.com", "consentType": analytics, "consentState": "accepted", "consentAction": "import"},
        {"email": "B@EXAMPLE.COM", "phoneNumber": "+1 (555) 0100", "consentType": analytics, "consentState": "declined", "consentAction": "import"},
        {"phoneNumber": "+15550100", "consentType": analytics, "consentState": "accepted", "consentAction": "import"},
    ])).await;
    assert_eq!(e[0]["concordId"], e[1]["concordId"]);
    assert_eq!(e[1]["concordId"], e[2]["concordId"]);
    let concord = e[0]["concordId"].as_str().unwrap();
    let e = create_events(&s, json!([{"concordId": concord.to_uppercase(), "consentType": analytics, "consentState": "accepted", "consentAction": "import"}])).await;
    assert_eq!(e[0]["concordId"], concord);
    // Compliance requests and consent events share identities.
    let cr = s
        .create_request(json!({"request": "view", "userEmail": "b@example.com"}))
        .await;
    assert_eq!(cr["concordId"], concord);
}

async fn consent_event_validation(b: accord_store::Backend) {
    let s = start(b).await;
    let path = events_path(&s);
    let ok = json!({"userId": "u", "category": "custom", "consentState": "accepted", "consentAction": "import"});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = ok.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let items = |item: Value| json!({"items": [ok.clone(), item]});
    let cases: Vec<(Value, String)> = vec![
        (json!({}), "body must have required property 'items'".into()),
        (json!({"items": [], "extra": 1}), "body must NOT have additional properties: 'extra'".into()),
        (json!({"items": []}), "body/items must NOT have fewer than 1 items".into()),
        (json!({"items": {}}), "body/items must be array".into()),
        (json!([ok.clone()]), "body must be object".into()),
        (json!({"items": vec![ok.clone(); 1001]}), "body/items must NOT have more than 1000 items".into()),
        (items(json!("x")), "body/items/1 must be object".into()),
        (items(without("consentState")), "body/items/1 must have required property 'consentState'".into()),
        (items(without("consentAction")), "body/items/1 must have required property 'consentAction'".into()),
        (items(with("consentState", json!("maybe"))), "body/items/1/consentState must be equal to one of the allowed values: implied, viewed, accepted, declined".into()),
        (items(with("consentAction", json!("click"))), "body/items/1/consentAction must be equal to one of the allowed values: implied, user_click, import".into()),
        (items(with("category", json!("ads"))), "body/items/1/category must be equal to one of the allowed values: disclosure, communication, privacy_setting, custom".into()),
        (items(with("foo", json!(1))), "body/items/1 must NOT have additional properties: 'foo'".into()),
        (items(with("session", json!({}))), "body/items/1 must NOT have additional properties: 'session'".into()),
        (items(without("userId")), "body/items/1 must have at least one of the properties: concordId, email, phoneNumber, userId, projectUserId".into()),
        (items(with("userId", json!(""))), "body/items/1 must have at least one of the properties: concordId, email, phoneNumber, userId, projectUserId".into()),
        (items(without("category")), "body/items/1 must have at least one of the properties: consentType, category".into()),
        (items(with("email", json!("not-an-email"))), "body/items/1/email must match format \"email\"".into()),
        (items(with("concordId", json!("{3c90c3cc-0d44-4b50-8888-8dd25736052a}"))), "body/items/1/concordId must match format \"uuid\"".into()),
        (items(with("consentType", json!("x"))), "body/items/1/consentType must match format \"uuid\"".into()),
        (items(with("phoneNumber", json!("1".repeat(129)))), "body/items/1/phoneNumber must NOT have more than 128 characters".into()),
        (items(with("userId", json!("u".repeat(257)))), "body/items/1/userId must NOT have more than 256 characters".into()),
        (items(with("projectUserId", json!(7))), "body/items/1/projectUserId must be string".into()),
        (items(with("label", json!("Label"))), format!("body/items/1/label must match pattern \"{LABEL_RULE}\"")),
        (items(with("subcategory", json!(["a", "b c"]))), format!("body/items/1/subcategory/1 must match pattern \"{SUBCATEGORY_PATTERN}\"")),
        (items(with("subcategory", json!({}))), "body/items/1/subcategory must be array".into()),
        (items(with("consentDate", json!("2024-05-20"))), "body/items/1/consentDate must match format \"date-time\"".into()),
        (items(with("consentDate", json!("2024-05-20T10:00:00"))), "body/items/1/consentDate must match format \"date-time\"".into()),
        (items(with("expirationDate", json!(1716200000000i64))), "body/items/1/expirationDate must be string".into()),
        (items(with("consentState", Value::Null)), "body/items/1/consentState must be string".into()),
    ];
    for (body, message) in cases {
        assert_error(&s.post(&path, body).await, 400, &message);
    }
    assert_error(
        &send(
            s.req(Method::POST, &path)
                .header("content-type", "application/json")
                .body("{\"items\": ["),
        )
        .await,
        400,
        "body must be valid JSON",
    );
    assert_error(
        &send(s.req(Method::POST, &path).body("{}")).await,
        415,
        "Content-Type must be application/json",
    );
    let (_, list) = s.get(&path).await;
    assert_eq!(list["total"], 0, "nothing stored");
    // An empty subcategory string item is refused; a bare string is one item.
    let e = create_events(&s, json!([with("subcategory", json!("Custom"))])).await;
    assert_eq!(e[0]["subcategory"], json!(["custom"]));
}

async fn consent_events_are_all_or_nothing(b: accord_store::Backend) {
    let s = start(b).await;
    let analytics = type_id(&s, "analytics").await;
    // The last item breaks a rule: nothing is stored and no identity is created.
    let mut items: Vec<Value> = (0..5)
        .map(|i| json!({"email": format!("p{i}@example.com"), "consentType": analytics, "consentState": "accepted", "consentAction": "import"}))
        .collect();
    items.push(json!({"email": "last@example.com", "consentType": analytics, "consentState": "viewed", "consentAction": "import"}));
    assert_error(
        &post_events(&s, json!(items)).await,
        422,
        "consentState 'viewed' is not valid for this consent type",
    );
    items.pop();
    items.push(json!({"concordId": Uuid::new_v4(), "consentType": analytics, "consentState": "accepted", "consentAction": "import"}));
    assert_error(
        &post_events(&s, json!(items)).await,
        422,
        "concordId not found in this project",
    );
    let (_, list) = s.get(&events_path(&s)).await;
    assert_eq!(list["total"], 0);
    let (_, people) = s.get(&s.project_path("/identities")).await;
    assert_eq!(people["total"], 0);

    // 1000 items in one call, in input order, over a few identities.
    let items: Vec<Value> = (0..1000)
        .map(|i| json!({"userId": format!("user-{}", i % 7), "consentType": analytics, "consentState": if i % 2 == 0 { "accepted" } else { "declined" }, "consentAction": "import", "consentDate": to_rfc3339(1_700_000_000_000 + i * 1000)}))
        .collect();
    let created = create_events(&s, json!(items)).await;
    assert_eq!(created.len(), 1000);
    for (i, e) in created.iter().enumerate() {
        assert_eq!(
            e["consentDate"],
            to_rfc3339(1_700_000_000_000 + i as i64 * 1000)
        );
    }
    let (_, list) = s.get(&format!("{}?limit=1", events_path(&s))).await;
    assert_eq!(list["total"], 1000);
    let (_, people) = s.get(&s.project_path("/identities")).await;
    assert_eq!(people["total"], 7);
}

/// The writer binds each event's values to multi-row inserts of 64, 32, …, 1 rows: every
/// stored event, read back, equals the event its create answered, whatever the size of
/// its request and of the batch it was written in.
async fn stored_events_equal_their_answers(b: accord_store::Backend) {
    let s = start(b).await;
    let analytics = type_id(&s, "analytics").await;
    let item = |n: usize, i: usize| {
        let state = ["accepted", "declined", "viewed"][i % 3];
        let action = ["import", "user_click"][i % 2];
        let mut item = json!({
            "email": format!("p{}@example.com", (n + i) % 5),
            "consentState": state,
            "consentAction": action,
            "consentDate": to_rfc3339(1_700_000_000_000 + (n * 1000 + i) as i64 * 1000),
            "subcategory": (0..i % 3).map(|k| format!("sub_{n}_{k}")).collect::<Vec<_>>(),
        });
        if i.is_multiple_of(4) {
            item["consentType"] = json!(analytics);
            let typed_state = ["accepted", "declined"][i / 4 % 2];
            item["consentState"] = json!(typed_state);
            item.as_object_mut().unwrap().remove("subcategory");
        } else {
            item["category"] = json!("custom");
        }
        if i % 2 == 1 {
            item["label"] = json!(format!("label_{n}_{i}"));
        }
        item
    };
    // Every statement size is used: 31 = 16 + 8 + 4 + 2 + 1, 100 = 64 + 32 + 4.
    let sizes = [1, 3, 7, 24, 31, 64, 65, 100, 129];
    let mut answered: Vec<Value> = Vec::new();
    for n in sizes {
        let items: Vec<Value> = (0..n).map(|i| item(n, i)).collect();
        answered.extend(create_events(&s, json!(items)).await);
    }
    // Requests of 1 to 12 events at once share writer batches of uneven sizes.
    let concurrent = (1..=12usize).map(|n| {
        let s = &s;
        let items: Vec<Value> = (0..n).map(|i| item(1000 + n, i)).collect();
        async move { create_events(s, json!(items)).await }
    });
    for events in futures::future::join_all(concurrent).await {
        answered.extend(events);
    }
    assert_eq!(answered.len(), sizes.iter().sum::<usize>() + 78);
    // Site events, with their session columns, seven in one insert (4 + 2 + 1 rows).
    let concord = answered[0]["concordId"].as_str().unwrap().to_string();
    let now = now_ms();
    let site: Vec<ConsentEvent> = (0..7)
        .map(|i| ConsentEvent {
            id: accord_core::ids::new_id(),
            concord_id: Uuid::parse_str(&concord).unwrap(),
            organization_id: s.org,
            project_id: s.project,
            consent_type: None,
            category: "custom".into(),
            subcategory: vec![format!("site_{i}")],
            label: (i % 2 == 0).then(|| format!("site_label_{i}")),
            consent_state: "accepted".into(),
            consent_action: "user_click".into(),
            consent_date: now + i,
            expiration_date: now + 365 * DAY_MS,
            version: None,
            session: Some(SessionInfo {
                id: Some(Uuid::new_v4().to_string().to_uppercase()),
                ip_address: Some(format!("203.0.113.{i}")),
                domain: Some(format!("Shop{i}.Example.com")),
                geography: Some(format!("us-c{i}")),
                user_agent: Some(format!("Agent/{i}")),
            }),
            submitter: None,
            date_created: now,
        })
        .collect();
    s.store.insert_consent_events(&site).await.unwrap();
    let mut stored = std::collections::HashMap::new();
    let mut offset = 0;
    loop {
        let (status, page) = s
            .get(&format!("{}?limit=100&offset={offset}", events_path(&s)))
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total"], answered.len() + site.len());
        let items = page["items"].as_array().unwrap();
        for e in items {
            stored.insert(e["id"].as_str().unwrap().to_string(), e.clone());
        }
        offset += 100;
        if items.len() < 100 {
            break;
        }
    }
    assert_eq!(stored.len(), answered.len() + site.len());
    for e in &answered {
        assert_eq!(stored[e["id"].as_str().unwrap()], *e);
    }
    for (i, e) in site.iter().enumerate() {
        let got = &stored[&e.id.to_string()];
        let session = e.session.as_ref().unwrap();
        assert_eq!(
            got["session"],
            json!({
                "id": session.id.as_ref().unwrap().to_lowercase(),
                "ipAddress": format!("203.0.113.{i}"),
                "domain": format!("shop{i}.example.com"),
                "geography": format!("US-C{i}"),
                "userAgent": format!("Agent/{i}"),
            }),
            "{got}"
        );
        assert_eq!(got["subcategory"], json!([format!("site_{i}")]));
        assert_eq!(got["label"], json!(e.label));
        assert_eq!(got["consentDate"], to_rfc3339(e.consent_date), "{got}");
        // The filters compare with the stored case: ids and domains lowercase, geographies
        // uppercase.
        let sid = session.id.as_ref().unwrap();
        for filter in [
            format!("sessionId={sid}"),
            format!("domain=SHOP{i}.example.com"),
            format!("geography=us-c{i}"),
        ] {
            let (_, found) = s.get(&format!("{}?{filter}", events_path(&s))).await;
            assert_eq!(ids(&found), [e.id.to_string()], "{filter}");
        }
    }
}

/// Stores a Site-API-like event with a session directly, as the site ingestion will.
async fn session_event(
    s: &Server,
    concord: &str,
    type_id: Option<&str>,
    label: &str,
) -> ConsentEvent {
    let now = now_ms();
    let e = ConsentEvent {
        id: accord_core::ids::new_id(),
        concord_id: Uuid::parse_str(concord).unwrap(),
        organization_id: s.org,
        project_id: s.project,
        consent_type: type_id.map(|t| Uuid::parse_str(t).unwrap()),
        category: "privacy_setting".into(),
        subcategory: vec![label.into()],
        label: Some(label.into()),
        consent_state: "accepted".into(),
        consent_action: "user_click".into(),
        consent_date: now,
        expiration_date: now + 365 * DAY_MS,
        version: type_id.map(|_| 1),
        session: Some(SessionInfo {
            id: Some(Uuid::new_v4().to_string()),
            ip_address: Some("::ffff:203.0.113.9".into()),
            domain: Some("Shop.Example.com".into()),
            geography: Some("us-ca".into()),
            user_agent: Some("Mozilla/5.0".into()),
        }),
        submitter: None,
        date_created: now,
    };
    s.store
        .insert_consent_events(std::slice::from_ref(&e))
        .await
        .unwrap();
    e
}

async fn consent_event_lists_and_get(b: accord_store::Backend) {
    let s = start(b).await;
    let analytics = type_id(&s, "analytics").await;
    let policy = type_id(&s, "privacy_policy").await;
    let a = create_events(&s, json!([
        {"userId": "a", "consentType": analytics, "consentState": "accepted", "consentAction": "user_click", "consentDate": "2024-01-01T00:00:00Z"},
        {"userId": "a", "consentType": policy, "consentState": "viewed", "consentAction": "implied", "consentDate": "2024-02-01T00:00:00Z"},
    ])).await;
    let concord_a = a[0]["concordId"].as_str().unwrap().to_string();
    let b_events = create_events(&s, json!([
        {"userId": "b", "category": "custom", "subcategory": ["x", "y"], "consentState": "declined", "consentAction": "import", "consentDate": "2024-03-01T00:00:00Z"},
    ])).await;
    let site = session_event(&s, &concord_a, Some(&analytics), "analytics").await;
    let path = events_path(&s);
    let sr = &s;
    let get = |q: String| {
        let url = format!("{path}?{q}");
        async move { sr.get(&url).await }
    };
    let q = |q: &str| get(q.to_string());

    let (status, all) = q("").await;
    assert_eq!(status, 200);
    assert_eq!(all["total"], 4);
    assert_eq!(ids(&all)[0], site.id.to_string(), "newest first");
    for item in all["items"].as_array().unwrap() {
        check_schema(&published::<ConsentEventView>(), item, "event").unwrap();
    }
    let shown = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == site.id.to_string())
        .unwrap();
    assert_eq!(
        shown["session"]["ipAddress"], "203.0.113.9",
        "IPv4-mapped addresses in dotted form"
    );
    assert_eq!(shown["session"]["domain"], "shop.example.com");
    assert_eq!(shown["session"]["geography"], "US-CA");
    assert!(shown.get("submitter").is_none());

    let (_, by_date) = q("sort=consentDate&order=asc").await;
    assert_eq!(ids(&by_date)[0], a[0]["id"].as_str().unwrap());
    let (_, window) = q("startDate=2024-02-01T00:00:00Z&endDate=2024-03-01T00:00:00Z").await;
    assert_eq!(ids(&window), [a[1]["id"].as_str().unwrap()]);
    let (_, window) = q("startDate=2024-01-01T01:00:00%2B01:00").await;
    assert_eq!(window["total"], 4, "startDate is inclusive");
    assert_eq!(q("category=custom").await.1["total"], 1);
    assert_eq!(q("category=custom&category=disclosure").await.1["total"], 2);
    assert_eq!(q("subcategory=y").await.1["total"], 1);
    assert_eq!(q("subcategory=analytics").await.1["total"], 2);
    assert_eq!(q("label=privacy_policy").await.1["total"], 1);
    assert_eq!(q("consentState=accepted").await.1["total"], 2);
    assert_eq!(
        q("consentAction[]=implied&consentAction[]=import").await.1["total"],
        2
    );
    assert_eq!(get(format!("consentType={analytics}")).await.1["total"], 2);
    assert_eq!(
        get(format!("concordId={}", concord_a.to_uppercase()))
            .await
            .1["total"],
        3
    );
    let key = bootstrap_key_id(&s).await;
    assert_eq!(get(format!("submitter={key}")).await.1["total"], 3);
    let sid = site.session.as_ref().unwrap().id.clone().unwrap();
    assert_eq!(
        ids(&get(format!("sessionId={sid}")).await.1),
        [site.id.to_string()]
    );
    assert_eq!(q("domain=SHOP.example.com").await.1["total"], 1);
    assert_eq!(q("geography=US-CA").await.1["total"], 1);
    assert_eq!(q("geography=US").await.1["total"], 0);
    // Label sort: events without a label come last in both directions.
    for order in ["asc", "desc"] {
        let (_, sorted) = get(format!("sort=label&order={order}")).await;
        assert_eq!(labels(&sorted).last().unwrap(), "-", "{order}");
    }
    let (_, by_state) = q("sort=consentState&order=asc").await;
    assert_eq!(by_state["items"][0]["consentState"], "accepted");
    let (_, page) = q("limit=2&offset=1&sort=consentDate&order=asc").await;
    assert_eq!(
        (
            page["offset"].clone(),
            page["count"].clone(),
            page["total"].clone()
        ),
        (json!(1), json!(2), json!(4))
    );
    assert_eq!(
        ids(&page),
        [
            a[1]["id"].as_str().unwrap(),
            b_events[0]["id"].as_str().unwrap()
        ]
    );

    for (query, message) in [
        ("sort=version", "querystring/sort must be equal to one of the allowed values: dateCreated, consentDate, expirationDate, consentState, consentAction, category, label"),
        ("consentState=maybe", "querystring/consentState must be equal to one of the allowed values: implied, viewed, accepted, declined"),
        ("consentType=x", "querystring/consentType must match format \"uuid\""),
        ("startDate=2024-01-01", "querystring/startDate must match format \"date-time\""),
        ("startDate=2024-02-01T00:00:00Z&endDate=2024-01-01T00:00:00Z", "querystring/startDate must be before querystring/endDate"),
    ] {
        assert_error(&q(query).await, 400, message);
    }
    assert_error(
        &get(format!("concordId={}", "c".repeat(65))).await,
        400,
        "querystring/concordId must NOT have more than 64 characters",
    );
    assert_error(
        &get(format!("label={}", "l".repeat(129))).await,
        400,
        "querystring/label must NOT have more than 128 characters",
    );

    // Get one.
    let id = a[1]["id"].as_str().unwrap();
    let (status, one) = s
        .get(&s.project_path(&format!("/consent-events/{id}")))
        .await;
    assert_eq!(status, 200);
    assert_eq!(&one, &a[1]);
    assert_error(
        &s.get(&s.project_path(&format!("/consent-events/{}", Uuid::new_v4())))
            .await,
        404,
        "Not Found",
    );
    assert_error(
        &s.get(&s.project_path("/consent-events/nope")).await,
        400,
        "params/consentEventId must match format \"uuid\"",
    );
    // Events are append-only: no route updates or deletes them.
    let one_path = s.project_path(&format!("/consent-events/{id}"));
    assert_eq!(
        s.patch(&one_path, json!({"consentState": "declined"}))
            .await
            .0,
        404
    );
    assert_eq!(s.delete(&one_path).await.0, 404);
    // Another project of the organization sees none of them.
    let other = s
        .store
        .create_project(
            s.org,
            NewProject {
                name: "Other".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let other_path = format!(
        "/privacy-v1/organizations/{}/projects/{}/consent-events",
        s.org, other.id
    );
    assert_eq!(s.get(&other_path).await.1["total"], 0);
    assert_error(
        &s.get(&format!("{other_path}/{id}")).await,
        404,
        "Not Found",
    );
}

async fn consent_state_folds_events(b: accord_store::Backend) {
    let s = start(b).await;
    let analytics = type_id(&s, "analytics").await;
    let ads = type_id(&s, "advertising").await;
    let policy = type_id(&s, "privacy_policy").await;
    s.patch(
        &s.project_path(&format!("/consent-types/{policy}")),
        json!({"url": "https://example.com/privacy"}),
    )
    .await;
    let now = now_ms();
    let at = |days_ago: i64| to_rfc3339(now - days_ago * DAY_MS);
    let e = create_events(&s, json!([
        {"email": "jane@example.com", "phoneNumber": "+44 20 7946 0000", "userId": "jane", "projectUserId": "p-jane", "consentType": analytics, "consentState": "accepted", "consentAction": "user_click", "consentDate": at(10)},
        {"email": "jane@example.com", "consentType": analytics, "consentState": "declined", "consentAction": "user_click", "consentDate": at(5)},
        // An earlier consentDate recorded later does not win.
        {"email": "jane@example.com", "consentType": analytics, "consentState": "accepted", "consentAction": "import", "consentDate": at(7)},
        // Expired.
        {"email": "jane@example.com", "consentType": ads, "consentState": "accepted", "consentAction": "user_click", "consentDate": at(40), "expirationDate": at(1)},
        // Without a type.
        {"email": "jane@example.com", "category": "custom", "consentState": "accepted", "consentAction": "import", "consentDate": at(1)},
        {"email": "jane@example.com", "consentType": policy, "consentState": "viewed", "consentAction": "implied", "consentDate": at(3)},
    ])).await;
    let concord = e[0]["concordId"].as_str().unwrap().to_string();
    let state_path = s.project_path("/consent-state");
    let (status, state) = s.get(&format!("{state_path}?email=JANE@example.com")).await;
    assert_eq!(status, 200, "{state}");
    check_schema(&published::<Counted<ConsentStateView>>(), &state, "state").unwrap();
    assert_eq!(state.as_object().unwrap().len(), 2, "{{count, items}} only");
    assert_eq!(state["count"], 2);
    assert_eq!(
        state["items"][0]["id"], e[5]["id"],
        "sorted by consentDate desc"
    );
    assert_eq!(state["items"][0]["url"], "https://example.com/privacy");
    assert_eq!(state["items"][1]["id"], e[1]["id"]);
    assert_eq!(state["items"][1]["consentState"], "declined");
    assert_eq!(state["items"][1]["consentType"], analytics);
    assert_eq!(state["items"][1]["subcategory"], json!(["analytics"]));
    assert_eq!(state["items"][1]["label"], "analytics");
    assert_eq!(state["items"][1]["version"], 1);
    assert_eq!(state["items"][1]["concordId"], concord);
    assert!(state["items"][1].get("url").is_none());
    // Every identifier finds the same identity.
    for q in [
        format!("concordId={concord}"),
        "phoneNumber=%2B442079460000".into(),
        "userId=jane".into(),
        "projectUserId=p-jane".into(),
    ] {
        assert_eq!(s.get(&format!("{state_path}?{q}")).await.1, state, "{q}");
    }
    // Types of every status count on the Privacy API.
    s.patch(
        &s.project_path(&format!("/consent-types/{analytics}")),
        json!({"status": "archived"}),
    )
    .await;
    assert_eq!(
        s.get(&format!("{state_path}?userId=jane")).await.1["count"],
        2
    );
    // A required re-acceptance hides events of older versions until a new one arrives.
    s.patch(
        &s.project_path(&format!("/consent-types/{analytics}")),
        json!({"document": "v2", "requireReacceptVersion": 2}),
    )
    .await;
    let (_, state) = s.get(&format!("{state_path}?userId=jane")).await;
    assert_eq!(state["count"], 1);
    let v2 = create_events(&s, json!([{"userId": "jane", "consentType": analytics, "consentState": "accepted", "consentAction": "user_click", "consentDate": at(20)}])).await;
    let (_, state) = s.get(&format!("{state_path}?userId=jane")).await;
    assert_eq!(state["count"], 2);
    assert_eq!(state["items"][1]["id"], v2[0]["id"]);
    assert_eq!(state["items"][1]["version"], 2);
    // Ties on consentDate: the later record wins.
    let tie = at(2);
    let ties = create_events(&s, json!([
        {"userId": "tie", "consentType": ads, "consentState": "accepted", "consentAction": "import", "consentDate": tie},
    ])).await;
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let ties2 = create_events(&s, json!([
        {"userId": "tie", "consentType": ads, "consentState": "declined", "consentAction": "import", "consentDate": tie},
    ])).await;
    let (_, state) = s.get(&format!("{state_path}?userId=tie")).await;
    assert_eq!(
        state["items"][0]["id"], ties2[0]["id"],
        "{} lost",
        ties[0]["id"]
    );
    // An identity without state has an empty one.
    create_events(&s, json!([{"userId": "nobody", "category": "custom", "consentState": "accepted", "consentAction": "import"}])).await;
    assert_eq!(
        s.get(&format!("{state_path}?userId=nobody")).await.1,
        json!({"count": 0, "items": []})
    );

    // The events of a merged identity count as the survivor's.
    let other = create_events(&s, json!([{"email": "old@example.com", "consentType": policy, "consentState": "accepted", "consentAction": "user_click", "consentDate": at(0)}])).await;
    let old = other[0]["concordId"].as_str().unwrap();
    sqlx::query(&format!(
        "UPDATE identities SET merged_into = '{concord}' WHERE id = '{old}'"
    ))
    .execute(&s.store.db.write)
    .await
    .unwrap();
    let (_, state) = s.get(&format!("{state_path}?concordId={concord}")).await;
    assert_eq!(state["items"][0]["id"], other[0]["id"]);
    assert_eq!(state["items"][0]["concordId"], concord);
    let (_, via_old) = s.get(&format!("{state_path}?email=old@example.com")).await;
    assert_eq!(via_old, state, "a merged identity resolves to its survivor");
    // New events naming an email alone: the merged identity's go to its survivor, and a
    // known email in any case or padding to its identity, all in one request.
    let fresh = create_events(&s, json!([{"email": "fresh@example.com", "category": "custom", "consentState": "accepted", "consentAction": "import"}])).await;
    let fresh_id = fresh[0]["concordId"].as_str().unwrap();
    let concord = concord.as_str();
    assert_ne!(fresh_id, concord);
    let owners = event_owners(
        &s,
        &[
            ("old@example.com", None),
            ("  FRESH@Example.COM ", None),
            ("fresh@example.com", None),
            ("OLD@example.com", None),
        ],
    )
    .await;
    assert_eq!(owners, [concord, fresh_id, fresh_id, concord]);
    // An email beside another identifier resolves by that identifier, and a batch that
    // also names a new email (which creates an identity) keeps the known ones.
    let owners = event_owners(
        &s,
        &[
            ("fresh@example.com", Some(concord)),
            ("fresh@example.com", None),
            ("brand-new@example.com", None),
            ("old@example.com", None),
        ],
    )
    .await;
    assert_eq!(owners[..2], [concord, fresh_id]);
    assert!(
        ![concord, fresh_id].contains(&owners[2].as_str()),
        "{owners:?}"
    );
    assert_eq!(owners[3], concord);

    // Exactly one identifier; unknown identities are 404.
    let exactly = "querystring must have exactly one of the properties: concordId, email, phoneNumber, userId, projectUserId";
    assert_error(&s.get(&state_path).await, 400, exactly);
    assert_error(
        &s.get(&format!("{state_path}?userId=jane&email=jane@example.com"))
            .await,
        400,
        exactly,
    );
    assert_error(
        &s.get(&format!("{state_path}?userId=a&userId=b")).await,
        400,
        "querystring/userId must be string",
    );
    assert_error(
        &s.get(&format!("{state_path}?userId=ghost")).await,
        404,
        "Not Found",
    );
    assert_error(
        &s.get(&format!("{state_path}?concordId={}", Uuid::new_v4()))
            .await,
        404,
        "Not Found",
    );
    assert_error(
        &s.get(&format!("{state_path}?concordId=not-a-uuid")).await,
        404,
        "Not Found",
    );
}

async fn identities_lookup(b: accord_store::Backend) {
    let s = start(b).await;
    let e = create_events(&s, json!([
        {"email": "Mixed.Case@Example.com", "phoneNumber": "+1 (555) 010-9999", "userId": "u-1", "projectUserId": "pu-1", "category": "custom", "consentState": "accepted", "consentAction": "import"},
        {"userId": "u-2", "category": "custom", "consentState": "accepted", "consentAction": "import"},
    ])).await;
    let first = e[0]["concordId"].as_str().unwrap();
    let path = s.project_path("/identities");
    let (status, list) = s.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 2);
    assert_eq!(list["items"][1]["id"], first, "newest first");
    for item in list["items"].as_array().unwrap() {
        check_schema(&published::<Identity>(), item, "identity").unwrap();
    }
    let one = &list["items"][1];
    assert_eq!(one["email"], "Mixed.Case@Example.com");
    assert_eq!(one["phoneNumber"], "+1 (555) 010-9999");
    assert_eq!(one["organization"], s.org.to_string());
    assert_eq!(one["project"], s.project.to_string());
    assert!(one["dateCreated"].is_i64());
    assert!(one.get("erasedDate").is_none() && one.get("mergedInto").is_none());
    for q in [
        "email=mixed.case@example.COM".to_string(),
        "phoneNumber=%2B15550109999".into(),
        "userId=u-1".into(),
        "projectUserId=pu-1".into(),
        format!("concordId={first}"),
    ] {
        let (_, found) = s.get(&format!("{path}?{q}")).await;
        assert_eq!(ids(&found), [first], "{q}");
    }
    assert_eq!(
        s.get(&format!("{path}?email=mixed")).await.1["total"],
        0,
        "exact, not substring"
    );
    assert_eq!(
        ids(&s
            .get(&format!("{path}?sort=dateUpdated&order=asc&limit=1"))
            .await
            .1)
        .len(),
        1
    );
    assert_error(
        &s.get(&format!("{path}?sort=email")).await,
        400,
        "querystring/sort must be equal to one of the allowed values: dateCreated, dateUpdated",
    );
    let (status, got) = s
        .get(&s.project_path(&format!("/identities/{first}")))
        .await;
    assert_eq!(status, 200);
    assert_eq!(&got, one);
    assert_error(
        &s.get(&s.project_path(&format!("/identities/{}", Uuid::new_v4())))
            .await,
        404,
        "Not Found",
    );
    assert_error(
        &s.get(&s.project_path("/identities/x")).await,
        400,
        "params/concordId must match format \"uuid\"",
    );
}

async fn identity_erasure(b: accord_store::Backend) {
    let s = start(b).await;
    let analytics = type_id(&s, "analytics").await;
    let e = create_events(&s, json!([
        {"email": "erase@example.com", "phoneNumber": "+1 555 0000", "userId": "erase-me", "consentType": analytics, "consentState": "accepted", "consentAction": "user_click"},
    ])).await;
    let concord = e[0]["concordId"].as_str().unwrap().to_string();
    let site = session_event(&s, &concord, Some(&analytics), "analytics").await;
    let cr = s.create_request(json!({"request": "delete", "userEmail": "erase@example.com", "userFirstName": "Era", "requestDetails": {"why": "gone"}, "preverified": true, "notes": "internal"})).await;
    assert_eq!(cr["concordId"], concord);
    let cr_id = cr["id"].as_str().unwrap().to_string();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"data".to_vec())
            .file_name("report.txt")
            .mime_str("text/plain")
            .unwrap(),
    );
    let (status, _) = send(
        s.req(
            Method::POST,
            &s.project_path(&format!("/compliance-requests/{cr_id}/files")),
        )
        .multipart(form),
    )
    .await;
    assert_eq!(status, 201);
    let other = s
        .create_request(json!({"request": "view", "userEmail": "keep@example.com"}))
        .await;
    // A site session bound to the identity, minted by a server-side caller.
    let (status, minted) = send(
        s.client
            .post(s.url(&format!("/site-v1/{}/session", s.project)))
            .header("user-agent", "Agent/1.0")
            .json(&json!({ "concordId": concord })),
    )
    .await;
    assert_eq!((status, minted["concordId"].clone()), (201, json!(concord)));
    let sessions_of = format!("{}?concordId={concord}", s.project_path("/sessions"));
    let (_, before) = s.get(&sessions_of).await;
    assert_eq!(before["total"], 1);
    assert_eq!(before["items"][0]["userAgent"], "Agent/1.0");
    let one = s.project_path(&format!("/identities/{concord}"));

    // Viewers and limited keys may not erase.
    for role in [Role::Viewer, Role::Limited] {
        let key = s.key_with(role, vec![]).await;
        assert_error(
            &send(s.req_as(&key, Method::DELETE, &one)).await,
            403,
            "Forbidden",
        );
    }
    assert_error(
        &s.delete(&format!("{one}?includeComplianceRequests=yes"))
            .await,
        400,
        "querystring/includeComplianceRequests must be boolean",
    );
    assert_error(
        &s.delete(&s.project_path(&format!("/identities/{}", Uuid::new_v4())))
            .await,
        404,
        "Not Found",
    );

    // A hashed userId attached by identify is an identifier too.
    {
        use sqlx::Executor;
        let sql = format!("UPDATE identities SET user_id_sha256 = 'abc' WHERE id = '{concord}'");
        s.store.db.write.execute(sql.as_str()).await.unwrap();
    }
    // Without includeComplianceRequests the requests stay as they are.
    let (status, erased) = s.delete(&one).await;
    assert_eq!(status, 200, "{erased}");
    check_schema(&published::<Erasure>(), &erased, "erasure").unwrap();
    assert_eq!(
        erased,
        json!({"concordId": concord, "consentEventsRedacted": 2, "sessionsRedacted": 1, "complianceRequestsRedacted": 0})
    );
    let (_, identity) = s.get(&one).await;
    for k in [
        "email",
        "phoneNumber",
        "userId",
        "projectUserId",
        "firstName",
        "lastName",
        "address",
    ] {
        assert!(identity.get(k).is_none(), "{k}: {identity}");
    }
    assert!(identity["erasedDate"].is_i64());
    {
        let sql = format!("SELECT user_id_sha256 FROM identities WHERE id = '{concord}'");
        let hash: Option<String> = sqlx::query_scalar(&sql)
            .fetch_one(&s.store.db.read)
            .await
            .unwrap();
        assert_eq!(hash, None, "the userId hash is erased");
    }
    let (_, after) = s.get(&sessions_of).await;
    assert!(after["items"][0].get("userAgent").is_none(), "{after}");
    assert!(after["items"][0].get("ipAddress").is_none(), "{after}");
    assert_eq!(after["items"][0]["id"], before["items"][0]["id"]);
    let (_, untouched) = s
        .get(&s.project_path(&format!("/compliance-requests/{cr_id}")))
        .await;
    assert_eq!(untouched["user"]["email"], "erase@example.com");

    // Consent events keep their pseudonymous record, without IP address or user agent.
    let (_, ev) = s
        .get(&s.project_path(&format!("/consent-events/{}", site.id)))
        .await;
    assert_eq!(ev["consentState"], "accepted");
    assert_eq!(ev["consentType"], analytics);
    assert_eq!(
        ev["session"],
        json!({"id": site.session.unwrap().id.unwrap(), "domain": "shop.example.com", "geography": "US-CA"})
    );
    let (_, state) = s
        .get(&format!(
            "{}?concordId={concord}",
            s.project_path("/consent-state")
        ))
        .await;
    assert_eq!(state["count"], 1, "state survives erasure");
    // The identifiers are free again: a new submission makes a new identity.
    let again = create_events(&s, json!([{"email": "erase@example.com", "category": "custom", "consentState": "accepted", "consentAction": "import"}])).await;
    assert_ne!(again[0]["concordId"], concord);

    // With includeComplianceRequests the requests are redacted and their files deleted.
    let (status, erased) = s
        .delete(&format!("{one}?includeComplianceRequests=true"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(erased["complianceRequestsRedacted"], 1);
    let (_, redacted) = s
        .get(&s.project_path(&format!("/compliance-requests/{cr_id}")))
        .await;
    assert_eq!(redacted["user"], json!({}));
    assert!(redacted.get("requestDetails").is_none());
    assert_eq!(redacted["files"], json!([]));
    assert_eq!(redacted["notes"], "internal");
    assert_eq!(redacted["status"], "submitted");
    let download = send(s.req(
        Method::GET,
        &s.project_path(&format!("/compliance-requests/{cr_id}/files/report.txt")),
    ))
    .await;
    assert_eq!(download.0, 404);
    let (_, events) = s
        .get(&s.project_path(&format!(
            "/compliance-requests-events?complianceRequestId={cr_id}&event=identity_erased"
        )))
        .await;
    assert_eq!(
        events["total"], 1,
        "written by the erasure that redacted it"
    );
    assert_eq!(events["items"][0]["details"], json!({}));
    assert_eq!(events["items"][0]["accountId"], bootstrap_key_id(&s).await);
    let (_, kept) = s
        .get(&s.project_path(&format!(
            "/compliance-requests/{}",
            other["id"].as_str().unwrap()
        )))
        .await;
    assert_eq!(kept["user"]["email"], "keep@example.com");
    let (_, text) = s
        .get(&s.project_path("/compliance-requests?text=gone"))
        .await;
    assert_eq!(text["total"], 0, "erased details are no longer searchable");
}

async fn bootstrap_other(s: &Server) -> String {
    accord_core::store::bootstrap(s.store.as_ref(), "Other", "Other site", vec![], "other")
        .await
        .unwrap()
        .secret
}

async fn cross_organization_access_is_forbidden(b: accord_store::Backend) {
    let s = start(b).await;
    let e = create_events(&s, json!([{"userId": "u", "category": "custom", "consentState": "accepted", "consentAction": "import"}])).await;
    let concord = e[0]["concordId"].as_str().unwrap();
    let event = e[0]["id"].as_str().unwrap();
    let ty = type_id(&s, "analytics").await;
    let other = bootstrap_other(&s).await;
    let body = json!({"items": [{"userId": "x", "category": "custom", "consentState": "accepted", "consentAction": "import"}]});
    for (method, path) in [
        (Method::GET, types_path(&s)),
        (Method::POST, types_path(&s)),
        (Method::GET, s.project_path(&format!("/consent-types/{ty}"))),
        (
            Method::PATCH,
            s.project_path(&format!("/consent-types/{ty}")),
        ),
        (
            Method::DELETE,
            s.project_path(&format!("/consent-types/{ty}")),
        ),
        (Method::GET, events_path(&s)),
        (Method::POST, events_path(&s)),
        (
            Method::GET,
            s.project_path(&format!("/consent-events/{event}")),
        ),
        (
            Method::GET,
            s.project_path(&format!("/consent-state?concordId={concord}")),
        ),
        (Method::GET, s.project_path("/identities")),
        (
            Method::GET,
            s.project_path(&format!("/identities/{concord}")),
        ),
        (
            Method::DELETE,
            s.project_path(&format!("/identities/{concord}")),
        ),
        (
            Method::GET,
            format!(
                "/privacy-v1/organizations/{}/projects/{}/consent-types",
                Uuid::new_v4(),
                s.project
            ),
        ),
    ] {
        let got = send(s.req_as(&other, method.clone(), &path).json(&body)).await;
        assert_error(&got, 403, "Forbidden");
    }
    let (_, list) = s.get(&events_path(&s)).await;
    assert_eq!(list["total"], 1);
    assert_eq!(
        s.get(&s.project_path(&format!("/consent-types/{ty}")))
            .await
            .0,
        200
    );
}

async fn roles_and_precedence(b: accord_store::Backend) {
    let s = start(b).await;
    let viewer = s.key_with(Role::Viewer, vec![]).await;
    let limited = s.key_with(Role::Limited, vec![]).await;
    let ty = type_id(&s, "analytics").await;
    let one = s.project_path(&format!("/consent-types/{ty}"));
    let event = json!({"items": [{"userId": "u", "consentType": ty, "consentState": "accepted", "consentAction": "user_click"}]});
    let new_type = json!({"category": "custom", "label": "new", "name": "New"});
    // Viewers read everything and write nothing.
    for path in [
        types_path(&s),
        one.clone(),
        events_path(&s),
        s.project_path("/identities"),
    ] {
        assert_eq!(
            send(s.req_as(&viewer, Method::GET, &path)).await.0,
            200,
            "{path}"
        );
    }
    for (method, path, body) in [
        (Method::POST, types_path(&s), new_type.clone()),
        (Method::PATCH, one.clone(), json!({"name": "x"})),
        (Method::DELETE, one.clone(), json!({})),
        (Method::POST, events_path(&s), event.clone()),
        // 403 comes before body validation.
        (Method::POST, events_path(&s), json!({"bogus": 1})),
    ] {
        assert_error(
            &send(s.req_as(&viewer, method, &path).json(&body)).await,
            403,
            "Forbidden",
        );
    }
    // Limited keys record consent events but do not manage types.
    assert_eq!(
        send(
            s.req_as(&limited, Method::POST, &events_path(&s))
                .json(&event)
        )
        .await
        .0,
        201
    );
    assert_error(
        &send(
            s.req_as(&limited, Method::POST, &types_path(&s))
                .json(&new_type),
        )
        .await,
        403,
        "Forbidden",
    );
    assert_error(
        &send(
            s.req_as(&limited, Method::PATCH, &one)
                .json(&json!({"name": "x"})),
        )
        .await,
        403,
        "Forbidden",
    );
    assert_error(
        &send(s.req_as(&limited, Method::DELETE, &one)).await,
        403,
        "Forbidden",
    );
    // A project permission overrides the organization role.
    let promoted = s
        .key_with(Role::Viewer, vec![(s.org, Some(s.project), Role::Admin)])
        .await;
    assert_eq!(
        send(
            s.req_as(&promoted, Method::POST, &types_path(&s))
                .json(&new_type)
        )
        .await
        .0,
        201
    );
    let demoted = s
        .key_with(Role::Admin, vec![(s.org, Some(s.project), Role::Viewer)])
        .await;
    assert_error(
        &send(
            s.req_as(&demoted, Method::POST, &events_path(&s))
                .json(&event),
        )
        .await,
        403,
        "Forbidden",
    );
    // Unknown project of a readable organization: body errors first, then 404.
    let missing = format!(
        "/privacy-v1/organizations/{}/projects/{}",
        s.org,
        Uuid::new_v4()
    );
    assert_error(
        &s.post(&format!("{missing}/consent-events"), json!({}))
            .await,
        400,
        "body must have required property 'items'",
    );
    assert_error(
        &s.post(&format!("{missing}/consent-events"), event.clone())
            .await,
        404,
        "Not Found",
    );
    assert_error(
        &s.get(&format!("{missing}/consent-types")).await,
        404,
        "Not Found",
    );
    assert_error(&s.get(&format!("{missing}/consent-state")).await, 400, "querystring must have exactly one of the properties: concordId, email, phoneNumber, userId, projectUserId");
    assert_error(
        &s.get(&format!("{missing}/consent-state?userId=u")).await,
        404,
        "Not Found",
    );
    assert_error(
        &s.get(&format!("{missing}/identities")).await,
        404,
        "Not Found",
    );
    // A key with access to one project only gets 403 on unknown ones.
    let scoped = s
        .key_with(Role::None, vec![(s.org, Some(s.project), Role::Admin)])
        .await;
    assert_error(
        &send(s.req_as(&scoped, Method::GET, &format!("{missing}/consent-types"))).await,
        403,
        "Forbidden",
    );
    assert_eq!(
        send(s.req_as(&scoped, Method::GET, &types_path(&s)))
            .await
            .0,
        200
    );
    // Path parameters before roles.
    assert_error(
        &send(s.req_as(&viewer, Method::DELETE, &s.project_path("/identities/nope"))).await,
        400,
        "params/concordId must match format \"uuid\"",
    );
    // Credentials first of all.
    assert_error(
        &send(s.client.get(s.url(&types_path(&s)))).await,
        401,
        "Missing x-api-key header",
    );
}

async fn published_document_lists_the_ledger(b: accord_store::Backend) {
    let s = start(b).await;
    let (status, doc) = send(s.client.get(s.url("/privacy-v1/docs/json"))).await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        (
            "/organizations/{organizationId}/projects/{projectId}/consent-types",
            &["get", "post"][..],
        ),
        (
            "/organizations/{organizationId}/projects/{projectId}/consent-types/{consentTypeId}",
            &["get", "patch", "delete"][..],
        ),
        (
            "/organizations/{organizationId}/projects/{projectId}/consent-events",
            &["get", "post"][..],
        ),
        (
            "/organizations/{organizationId}/projects/{projectId}/consent-events/{consentEventId}",
            &["get"][..],
        ),
        (
            "/organizations/{organizationId}/projects/{projectId}/consent-state",
            &["get"][..],
        ),
        (
            "/organizations/{organizationId}/projects/{projectId}/identities",
            &["get"][..],
        ),
        (
            "/organizations/{organizationId}/projects/{projectId}/identities/{concordId}",
            &["get", "delete"][..],
        ),
    ] {
        for m in methods {
            assert!(paths[path].get(*m).is_some(), "{m} {path}");
        }
    }
    let post =
        &paths["/organizations/{organizationId}/projects/{projectId}/consent-events"]["post"];
    let item = &post["requestBody"]["content"]["application/json"]["schema"]["properties"]["items"];
    assert_eq!(item["maxItems"], 1000);
    assert_eq!(item["items"]["additionalProperties"], false);
    assert!(item["items"]["properties"]["subcategory"]["anyOf"].is_array());
    // Responses match the published schemas.
    let ty = create_type(
        &s,
        json!({"category": "custom", "label": "doc", "name": "Doc"}),
    )
    .await;
    let type_schema = &paths
        ["/organizations/{organizationId}/projects/{projectId}/consent-types/{consentTypeId}"]
        ["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    check_schema(type_schema, &ty, "type").unwrap();
    let (_, events) = post_events(&s, json!([{"userId": "u", "consentType": ty["id"], "consentState": "accepted", "consentAction": "user_click"}])).await;
    check_schema(
        &post["responses"]["201"]["content"]["application/json"]["schema"],
        &events,
        "events",
    )
    .unwrap();
    let (_, list) = s.get(&events_path(&s)).await;
    let list_schema = &paths["/organizations/{organizationId}/projects/{projectId}/consent-events"]
        ["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    check_schema(list_schema, &list, "list").unwrap();
}

/// The rules checked after the schema (on event items an identity and a type or category,
/// neither empty; no empty subcategory, label or name) are in the published request
/// schemas: the server answers 400 exactly for the bodies those schemas refuse.
async fn published_body_rules_are_the_enforced_ones(b: accord_store::Backend) {
    let s = start(b).await;
    let (status, doc) = send(s.client.get(s.url("/privacy-v1/docs/json"))).await;
    assert_eq!(status, 200);
    let schema = &doc["paths"]
        ["/organizations/{organizationId}/projects/{projectId}/consent-events"]["post"]
        ["requestBody"]["content"]["application/json"]["schema"];
    let item = |extra: Value| {
        let mut i = json!({"consentState": "accepted", "consentAction": "import"});
        i.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({ "items": [i] })
    };
    for (body, status) in [
        (item(json!({"category": "custom"})), 400),
        (item(json!({"userId": "", "category": "custom"})), 400),
        (item(json!({"userId": "u"})), 400),
        (item(json!({"userId": "u", "category": ""})), 400),
        (
            item(json!({"userId": "u", "category": "custom", "subcategory": [""]})),
            400,
        ),
        (
            item(json!({"userId": "u", "category": "custom", "subcategory": ""})),
            400,
        ),
        (
            item(
                json!({"email": "jane@example.com", "category": "custom", "subcategory": "Mixed_Case"}),
            ),
            201,
        ),
        (
            item(json!({"userId": "u", "consentType": Uuid::nil()})),
            422,
        ),
    ] {
        let (got, answer) = s.post(&events_path(&s), body.clone()).await;
        assert_eq!(got, status, "{body} {answer}");
        assert_eq!(
            check_schema(schema, &body, "body").is_ok(),
            status != 400,
            "{body}"
        );
    }
    let schema = &doc["paths"]
        ["/organizations/{organizationId}/projects/{projectId}/consent-types"]["post"]
        ["requestBody"]["content"]["application/json"]["schema"];
    for (body, status) in [
        (json!({"category": "custom", "label": "", "name": "X"}), 400),
        (json!({"category": "custom", "label": "x", "name": ""}), 400),
        (
            json!({"category": "custom", "label": "x", "name": "X", "subcategory": ["ok", ""]}),
            400,
        ),
        (
            json!({"category": "custom", "label": "x", "name": "X", "subcategory": "Up_Case"}),
            201,
        ),
        (
            json!({"category": "custom", "label": "y", "name": "Y", "requireReacceptVersion": 2}),
            422,
        ),
    ] {
        let (got, answer) = s.post(&types_path(&s), body.clone()).await;
        assert_eq!(got, status, "{body} {answer}");
        assert_eq!(
            check_schema(schema, &body, "body").is_ok(),
            status != 400,
            "{body}"
        );
    }
}
